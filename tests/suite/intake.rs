//! Intake: the five-record limit under concurrency, idempotency keys, input
//! validation, and the rules the schema itself enforces. Each runs on SQLite
//! and on PostgreSQL.

use crate::common;

use common::TestDb;
use credverify::domain::{CredentialFields, Field, IdNumber, Kind};
use credverify::store::{NewRecord, SubmitError, Submitted};

fn record(candidate: &str, key: Option<String>) -> NewRecord {
    let mut fields = CredentialFields {
        kind: Some(Kind::Diploma),
        ..Default::default()
    };
    fields.set(Field::vcode, "A7K2M9QX4TB8R5WZ");
    NewRecord {
        candidate_id: candidate.into(),
        name: "王晓雯".into(),
        id_number: Some(IdNumber::parse("110105199904180029").unwrap()),
        fields,
        idempotency_key: key,
        screenshot: None,
        screenshot_ref: None,
    }
}

async fn forty_concurrent_submits_leave_exactly_five(db: &TestDb) {
    let mut handles = Vec::new();
    for _ in 0..40 {
        let store = db.store.clone();
        handles.push(tokio::spawn(async move {
            store.submit(&record("c-race", None)).await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for h in handles {
        match h.await.unwrap() {
            Ok(s) => {
                assert!(s.created);
                ok += 1
            }
            Err(SubmitError::LimitReached {
                candidate_id,
                limit,
            }) => {
                assert_eq!((candidate_id.as_str(), limit), ("c-race", 5));
                refused += 1
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((ok, refused), (5, 35));
    assert_eq!(db.store.count_for_candidate("c-race").await.unwrap(), 5);
    assert_eq!(
        db.scalar(&format!("SELECT COUNT(*) FROM {}", db.jobs_table()))
            .await,
        5,
        "one job per record, none for refused"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM record_events").await, 5);
}
on_both_backends!(
    forty_concurrent_submits_leave_exactly_five_records,
    forty_concurrent_submits_leave_exactly_five
);

/// Submits a record of `candidate` under idempotency key `key`; a refusal
/// fails the test.
async fn submit_keyed(db: &TestDb, candidate: &str, key: &str) -> Submitted {
    db.store
        .submit(&record(candidate, Some(key.into())))
        .await
        .expect("submit")
}

async fn idempotency_key_returns_the_same_record(db: &TestDb) {
    let first = submit_keyed(db, "c-idem", "upload-1").await;
    let again = submit_keyed(db, "c-idem", "upload-1").await;
    assert_eq!(first.record_id, again.record_id);
    assert!(first.created && !again.created);
    assert_eq!(db.store.count_for_candidate("c-idem").await.unwrap(), 1);
    // Concurrent resubmissions of one key still make one record.
    let mut handles = Vec::new();
    for _ in 0..10 {
        let store = db.store.clone();
        handles.push(tokio::spawn(async move {
            store
                .submit(&record("c-idem", Some("upload-2".into())))
                .await
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap().record_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(db.store.count_for_candidate("c-idem").await.unwrap(), 2);
    // Another candidate may use the same key.
    let other = submit_keyed(db, "c-other", "upload-1").await;
    assert_ne!(other.record_id, first.record_id);
}
on_both_backends!(
    idempotency_key_returns_the_same_record_and_counts_once,
    idempotency_key_returns_the_same_record
);

async fn a_known_key_is_answered_even_at_the_limit(db: &TestDb) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(common::submit(db, &record("c-full", Some(format!("k{i}")))).await);
    }
    let again = submit_keyed(db, "c-full", "k3").await;
    assert_eq!(again.record_id, ids[3]);
    assert!(matches!(
        db.store.submit(&record("c-full", Some("k5".into()))).await,
        Err(SubmitError::LimitReached { .. })
    ));
}
on_both_backends!(
    a_known_idempotency_key_is_answered_at_the_limit,
    a_known_key_is_answered_even_at_the_limit
);

async fn schema_keeps_history_and_verified_records(db: &TestDb) {
    let s = db.store.submit(&record("c-keep", None)).await.unwrap();
    let id = s.record_id;
    assert!(
        db.try_exec(&format!(
            "UPDATE record_events SET note = 'x' WHERE record_id = {id}"
        ))
        .await
        .is_err(),
        "events are append-only"
    );
    assert!(
        db.try_exec(&format!("DELETE FROM record_events WHERE record_id = {id}"))
            .await
            .is_err(),
        "events are append-only"
    );
    db.exec(&format!(
        "UPDATE records SET status = 'verified' WHERE id = {id}"
    ))
    .await;
    let err = db
        .try_exec(&format!("DELETE FROM records WHERE id = {id}"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("verified records cannot be deleted"),
        "{err}"
    );
    // Even a writer bypassing the library cannot add a sixth record.
    for _ in 0..4 {
        db.store.submit(&record("c-keep", None)).await.unwrap();
    }
    let err = db
        .try_exec("INSERT INTO records (candidate_id, candidate_name, created_at, updated_at) VALUES ('c-keep', 'x', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("record limit reached"), "{err}");
}
on_both_backends!(
    schema_keeps_history_and_verified_records_and_the_limit,
    schema_keeps_history_and_verified_records
);

async fn id_number_is_stored_only_masked_and_hashed(db: &TestDb) {
    let s = db.store.submit(&record("c-privacy", None)).await.unwrap();
    let rec = db.store.record(s.record_id).await.unwrap().unwrap();
    assert_eq!(rec.id_number_masked.as_deref(), Some("****************29"));
    let full = "110105199904180029";
    let job = db.store.job_record(s.record_id).await.unwrap().unwrap();
    assert!(job.id_number_pending, "waits for a worker's key");
    let key = credverify::domain::IdKey::generate();
    assert!(db.store.seal_id_number(s.record_id, &key).await.unwrap());
    assert!(
        !db.store.seal_id_number(s.record_id, &key).await.unwrap(),
        "sealed once"
    );
    let dump = match &db.store {
        credverify::store::Store::Sqlite(p) => {
            sqlx::query_scalar::<_, String>("SELECT candidate_id || candidate_name || COALESCE(id_number_hash,'') || COALESCE(id_number_masked,'') || COALESCE(id_number_pending,'') || claimed FROM records")
                .fetch_one(p.pool())
                .await
                .unwrap()
        }
        credverify::store::Store::Postgres(p) => {
            sqlx::query_scalar::<_, String>("SELECT candidate_id || candidate_name || COALESCE(id_number_hash,'') || COALESCE(id_number_masked,'') || COALESCE(id_number_pending,'') || claimed::text FROM records")
                .fetch_one(p.pool())
                .await
                .unwrap()
        }
    };
    assert!(!dump.contains(full), "the full ID number is not stored");
    // Both intakes (Rust on SQLite, SQL on PostgreSQL) end with the same
    // keyed hash once sealed.
    let hash: String = match &db.store {
        credverify::store::Store::Sqlite(p) => {
            sqlx::query_scalar("SELECT id_number_hash FROM records")
                .fetch_one(p.pool())
                .await
                .unwrap()
        }
        credverify::store::Store::Postgres(p) => {
            sqlx::query_scalar("SELECT id_number_hash FROM records")
                .fetch_one(p.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(hash, IdNumber::parse(full).unwrap().keyed_hash(&key));
    let job = db.store.job_record(s.record_id).await.unwrap().unwrap();
    assert!(!job.id_number_pending);
    assert_eq!(
        job.candidate.birth_date.map(|d| d.to_string()).as_deref(),
        Some("1999-04-18")
    );
    assert_eq!(job.candidate.gender.map(|g| g.as_str()), Some("女"));
}
on_both_backends!(
    id_number_is_stored_only_masked_and_hashed,
    id_number_is_stored_only_masked_and_hashed
);
