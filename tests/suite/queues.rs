//! Screenshot reading and service lookups are separate queues: a worker
//! without OCR engines never reads a screenshot and spends no retry on one;
//! it hands the record to the OCR queue, an OCR worker reads it and hands it
//! back, and the record is decided once. Real worker processes, real
//! Tesseract, both backends.

use crate::common;

use std::time::Duration;

use common::{TestDb, assert_one_decision_each, count_status, eventually};
use credverify::domain::{CredentialFields, IdNumber};
use credverify::sandbox::Registry;
use credverify::store::NewRecord;

fn expected(name: &str) -> serde_json::Value {
    common::fixture_expected("screenshots", name)
}

/// A record uploading fixture `name`'s screenshot, by the candidate it shows.
fn upload(name: &str) -> NewRecord {
    let want = expected(name);
    let image = common::fixture_image_path("screenshots", name);
    NewRecord {
        candidate_id: format!("c-{name}"),
        name: want["name"].as_str().unwrap().to_string(),
        id_number: Some(IdNumber::parse(want["meta"]["id_number"].as_str().unwrap()).unwrap()),
        fields: CredentialFields::default(),
        idempotency_key: None,
        screenshot: Some(common::fixture(&image)),
        screenshot_ref: None,
    }
}

/// Worker processes, killed on drop.
struct Workers(Vec<std::process::Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            common::sigkill(c);
        }
    }
}

async fn split_queues(db: &TestDb) {
    let registry = Registry::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sandbox/screenshots-registry.json"
    )))
    .unwrap();
    let (_sandbox, url) = common::sandbox_with(registry).await;
    let names = ["report-004", "degree-004"];
    for name in names {
        db.store.submit(&upload(name)).await.unwrap();
    }
    let mut workers = Workers(vec![common::spawn_worker(
        db,
        &url,
        &["--ocr-threads", "0"],
    )]);
    let lookup_pid = workers.0[0].id();
    let in_ocr_queue = format!(
        "SELECT COUNT(*) FROM {} WHERE job_type = 'credverify-ocr' AND status = 'Pending'",
        db.jobs_table()
    );
    eventually(
        Duration::from_secs(30),
        "the lookup-only worker hands both screenshots to the OCR queue",
        || async { db.scalar(&in_ocr_queue).await == 2 },
    )
    .await;
    assert_eq!(
        count_status(db, "unverified").await,
        2,
        "nothing decided yet"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM records WHERE attempts > 0")
            .await,
        0,
        "no retry spent on a screenshot it cannot read"
    );

    workers.0.push(common::spawn_worker(
        db,
        &url,
        &["--jobs", "ocr", "--ocr-threads", "1"],
    ));
    let ocr_pid = workers.0[1].id();
    eventually(
        Duration::from_secs(120),
        "both records read, handed back and decided",
        || async { count_status(db, "verified").await == names.len() as i64 },
    )
    .await;
    drop(workers);
    assert_one_decision_each(db).await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM records WHERE attempts > 0")
            .await,
        0
    );
    let ocr_jobs_by = |pid: u32| {
        format!(
            "SELECT COUNT(*) FROM {} WHERE job_type = 'credverify-ocr' AND lock_by LIKE '%-{pid}-%'",
            db.jobs_table()
        )
    };
    assert_eq!(
        db.scalar(&ocr_jobs_by(lookup_pid)).await,
        0,
        "the worker without OCR engines took no screenshot job"
    );
    assert_eq!(
        db.scalar(&ocr_jobs_by(ocr_pid)).await,
        2,
        "the OCR worker read both"
    );
    let lookups_by_ocr_worker = format!(
        "SELECT COUNT(*) FROM {} WHERE job_type = 'credverify' AND lock_by LIKE '%-{ocr_pid}-%'",
        db.jobs_table()
    );
    assert_eq!(
        db.scalar(&lookups_by_ocr_worker).await,
        0,
        "the OCR-only worker took no lookup"
    );
}
on_both_backends!(
    a_worker_without_ocr_engines_never_takes_a_screenshot_job,
    split_queues
);
