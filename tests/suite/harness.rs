//! The harness itself: PostgreSQL test databases are migrated clones that
//! go away with their test, even one that panics, and leftovers of killed
//! runs are swept.

use std::time::{Duration, SystemTime};

use crate::common;
use common::{Kind, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_test_database_is_dropped_even_when_its_test_panics() {
    let Some(probe) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    drop(probe);
    let (named, name) = std::sync::mpsc::channel();
    // A test of its own, on its own runtime, that panics holding its database.
    let test = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = TestDb::new(Kind::Postgres)
                .await
                .expect("PostgreSQL was reachable");
            named.send(db.pg_name().unwrap().to_string()).unwrap();
            // Clones are migrated: the record tables are there.
            assert_eq!(common::count_status(&db, "unverified").await, 0);
            panic!("a failing test");
        })
    });
    assert!(test.join().is_err(), "the test panicked");
    let name = name.recv().unwrap();
    assert!(name.starts_with("cv_test_"), "{name}");
    assert!(
        !common::pg::exists(&name).await.unwrap(),
        "{name} outlived its panicking test"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_of_the_template_are_independent() {
    let (Some(a), Some(b)) = (
        TestDb::new(Kind::Postgres).await,
        TestDb::new(Kind::Postgres).await,
    ) else {
        return;
    };
    assert_ne!(a.pg_name(), b.pg_name());
    a.store
        .submit(&common::synthetic::record(1))
        .await
        .expect("a clone takes submissions");
    assert_eq!(common::count_status(&a, "unverified").await, 1);
    assert_eq!(common::count_status(&b, "unverified").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_killed_runs_are_swept_and_fresh_ones_kept() {
    // Make sure the server is there (and the template built) first.
    let Some(_db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let dated = |age: Duration| {
        ulid::Ulid::from_datetime(SystemTime::now() - age)
            .to_string()
            .to_lowercase()
    };
    let old = format!("cv_test_{}", dated(Duration::from_secs(3 * 3600)));
    let half_built = format!("cv_tplb_{}", dated(Duration::from_secs(3 * 3600)));
    let recent = format!("cv_test_{}", dated(Duration::from_secs(60)));
    for name in [&old, &half_built, &recent] {
        common::pg::create_empty(name).await.unwrap();
    }
    common::pg::sweep_leftovers().await.unwrap();
    assert!(!common::pg::exists(&old).await.unwrap(), "{old} swept");
    assert!(
        !common::pg::exists(&half_built).await.unwrap(),
        "{half_built} swept"
    );
    assert!(
        common::pg::exists(&recent).await.unwrap(),
        "{recent} may belong to a running test"
    );
    // Not this test's to keep.
    let _ = common::pg::drop_now(&recent).await;
}
