//! Submit → queue → worker → sandbox → decision, on both backends.

use crate::common;

use common::TestDb;
use credverify::cli::demo::DemoRecord;
use credverify::domain::{CredentialFields, IdNumber, ReasonCode, Status};
use credverify::pipeline::{self, Outcome};
use credverify::sandbox::{FaultKind, Faults};
use credverify::store::NewRecord;

fn demo_records() -> Vec<DemoRecord> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/demo/records.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn new_record(r: &DemoRecord) -> NewRecord {
    NewRecord {
        candidate_id: r.candidate.clone(),
        name: r.name.clone(),
        id_number: r.id_number.as_deref().map(|s| IdNumber::parse(s).unwrap()),
        fields: CredentialFields::from_manual_json(&r.fields.to_string()).unwrap(),
        idempotency_key: None,
        screenshot: r.screenshot.as_deref().map(common::fixture),
        screenshot_ref: None,
    }
}

async fn every_verdict_path(db: &TestDb) {
    let (sandbox, url) = common::sandbox().await;
    let env = common::env_with_reader(db, &url, Some(common::ocr()));
    let mut ids = Vec::new();
    for r in demo_records() {
        ids.push((common::submit(db, &new_record(&r)).await, r));
    }
    // One at a time: the namesake's certificate is a duplicate only once the
    // first holder is verified.
    common::drain_until_settled(&env, 1).await;
    for (id, r) in &ids {
        let rec = db.store.record(*id).await.unwrap().unwrap();
        let codes: Vec<&str> = rec.reasons.iter().map(|x| x.code.as_str()).collect();
        assert!(
            r.expect.starts_with(rec.status.as_str()),
            "{}: expected {}, got {} {codes:?}",
            r.candidate,
            r.expect,
            rec.status
        );
        for c in &codes {
            assert!(
                r.expect.contains(c),
                "{}: unexpected reason {c} (expected {})",
                r.candidate,
                r.expect
            );
        }
        if rec.status == Status::Verified {
            let auth = rec
                .authoritative
                .as_ref()
                .expect("verified records keep the service's report");
            assert!(auth.fields.certificate_no.is_some());
        }
        let events = db.store.events(*id).await.unwrap();
        assert_eq!(
            events.len(),
            2,
            "{}: submit + one decision: {events:?}",
            r.candidate
        );
        assert_eq!(events.last().unwrap().to, rec.status);
    }
    assert!(
        sandbox.stats().faults_injected >= 2,
        "the transient record met its faults"
    );
}
on_both_backends!(each_verdict_path_end_to_end, every_verdict_path);

async fn transient_faults_are_not_rejections(db: &TestDb) {
    let (sandbox, env) = common::sandbox_and_env(db).await;
    let r = &demo_records()[0];
    let id = common::submit(db, &new_record(r)).await;

    for (fault, label) in [
        (FaultKind::Captcha, "captcha"),
        (FaultKind::Status { status: 503 }, "503"),
    ] {
        sandbox.set_faults(common::every_request(fault));
        common::drain(&env, 2).await;
        let rec = db.store.record(id).await.unwrap().unwrap();
        assert_eq!(
            rec.status,
            Status::Unverified,
            "{label} leaves the record unverified"
        );
        assert!(
            rec.last_error
                .as_deref()
                .unwrap_or_default()
                .contains(label),
            "{label}: {:?}",
            rec.last_error
        );
        let next = rec.next_attempt_at.expect("a retry is scheduled");
        assert!(
            next > chrono::Utc::now(),
            "the retry is in the future, not an immediate re-poll"
        );
        assert_eq!(
            common::retries_due_now(&db.store).await,
            1,
            "{label}: the retry waits in the queue"
        );
    }
    sandbox.set_faults(Faults::default());
    common::drain(&env, 2).await;
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(
        rec.status,
        Status::Verified,
        "verified once the fault is cleared"
    );
    assert_eq!(rec.attempts, 2);
    let events = db.store.events(id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.to).collect::<Vec<_>>(),
        vec![Status::Unverified, Status::Verified]
    );
}
on_both_backends!(
    captcha_and_503_leave_the_record_unverified_then_verified_when_cleared,
    transient_faults_are_not_rejections
);

async fn delivered_twice_decides_once(db: &TestDb) {
    let (_sandbox, env) = common::sandbox_and_env(db).await;
    let id = common::submit(db, &new_record(&demo_records()[0])).await;
    let job_id = db
        .store
        .job_record(id)
        .await
        .unwrap()
        .unwrap()
        .job_id
        .unwrap();
    // Two deliveries of the same job racing each other.
    let (a, b) = tokio::join!(
        pipeline::verify(&env, id, &job_id),
        pipeline::verify(&env, id, &job_id)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let decided = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Decided(..)))
        .count();
    assert_eq!(decided, 1, "{outcomes:?}");
    // apalis hands the finished job out again (e.g. after a lost ack).
    common::drain(&env, 2).await;
    db.exec(&format!(
        "UPDATE {} SET status = 'Pending', lock_by = NULL, done_at = NULL",
        db.jobs_table()
    ))
    .await;
    common::drain(&env, 2).await;
    assert_eq!(common::status_of(db, id).await, Status::Verified);
    assert_eq!(
        db.store.events(id).await.unwrap().len(),
        2,
        "submit + exactly one decision"
    );
}
on_both_backends!(
    a_job_delivered_twice_makes_one_transition_and_one_event,
    delivered_twice_decides_once
);

async fn superseded_jobs_do_nothing(db: &TestDb) {
    let (_sandbox, env) = common::sandbox_and_env(db).await;
    let id = common::submit(db, &new_record(&demo_records()[0])).await;
    let out = pipeline::verify(&env, id, "01JOLDJOBTHATNOLONGEROWNS0")
        .await
        .unwrap();
    assert_eq!(out, Outcome::Superseded);
    assert_eq!(common::status_of(db, id).await, Status::Unverified);
    let missing = pipeline::verify(&env, 424242, "x").await;
    assert!(matches!(
        missing,
        Err(pipeline::PipelineError::MissingRecord(424242))
    ));
}
on_both_backends!(
    a_stale_job_leaves_the_record_to_its_owner,
    superseded_jobs_do_nothing
);

async fn duplicate_certificate_across_candidates(db: &TestDb) {
    let (_sandbox, env) = common::sandbox_and_env(db).await;
    let records = demo_records();
    let first = common::submit(db, &new_record(&records[0])).await;
    let namesake = common::submit(db, &new_record(&records[8])).await;
    // Both at once: exactly one may hold the certificate.
    common::drain(&env, 2).await;
    let a = db.store.record(first).await.unwrap().unwrap();
    let b = db.store.record(namesake).await.unwrap().unwrap();
    let statuses = [a.status, b.status];
    assert!(statuses.contains(&Status::Verified), "{statuses:?}");
    let loser = if a.status == Status::Verified { &b } else { &a };
    assert_eq!(loser.status, Status::Rejected);
    assert_eq!(
        loser.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![ReasonCode::DuplicateCertificate]
    );
}
on_both_backends!(
    a_certificate_is_verified_for_one_candidate_only,
    duplicate_certificate_across_candidates
);
