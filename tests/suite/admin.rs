//! Admin commands through the real binary, on both backends, with a real
//! sandbox and a real worker.

use crate::common;

use std::time::Duration;

use common::TestDb;
use common::synthetic::{record as new_record, report};
use credverify::domain::{CredentialFields, Status};
use credverify::sandbox::{Registry, ReportState};
use credverify::store::NewRecord;
use tokio_util::sync::CancellationToken;

/// `n` records the service wrongly called invalid (its registry was empty),
/// with the sandbox that now knows them.
async fn wrongly_rejected(db: &TestDb, n: usize) -> (credverify::sandbox::Sandbox, String) {
    let (sandbox, url) = common::sandbox_with(Registry::default()).await;
    for i in 0..n {
        db.store.submit(&new_record(i)).await.unwrap();
    }
    common::drain(&common::env(db, &url), 4).await;
    let rejected = common::records_with(db, Some(Status::Rejected)).await;
    assert_eq!(rejected.len(), n);
    sandbox.upsert((0..n).map(|i| report(i, ReportState::Ok)).collect());
    (sandbox, url)
}

async fn snapshot(db: &TestDb) -> (String, i64, i64) {
    let records = common::records_with(db, None).await;
    let summary = records
        .iter()
        .map(|r| format!("{}:{}:{}", r.id, r.status, r.updated_at))
        .collect::<Vec<_>>()
        .join(",");
    (
        summary,
        db.scalar("SELECT COUNT(*) FROM record_events").await,
        db.scalar(&format!("SELECT COUNT(*) FROM {}", db.jobs_table()))
            .await,
    )
}

async fn dry_run(db: &TestDb) {
    let _sb = wrongly_rejected(db, 5).await;
    let before = snapshot(db).await;
    let out = common::ok(&common::run_cli(
        db,
        &[
            "rerun",
            "--status",
            "rejected",
            "--dry-run",
            "--by",
            "tester",
        ],
    ));
    assert!(out.contains("back to unverified"), "{out}");
    assert_eq!(out.matches("vcode_invalid").count(), 5, "{out}");
    assert_eq!(snapshot(db).await, before, "a dry run changes nothing");
    let o = common::run_cli(db, &["rerun", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "no selector is a usage error");
}
on_both_backends!(dry_run_changes_nothing, dry_run);

async fn rerun_after_fault(db: &TestDb) {
    let (_sb, url) = wrongly_rejected(db, 200).await;
    let stop = CancellationToken::new();
    let worker = tokio::spawn(credverify::queue::run(
        common::env(db, &url),
        credverify::queue::WorkerOptions {
            concurrency: 8,
            poll_interval: Duration::from_millis(50),
            ..common::drain_options(8)
        }
        .with_drain(false),
        stop.clone(),
    ));
    let db_url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        common::bin()
            .args([
                "--database-url",
                &db_url,
                "rerun",
                "--status",
                "rejected",
                "--reason",
                "vcode_invalid",
            ])
            .args([
                "--note",
                "service answered invalid for every code on 11-27",
                "--by",
                "tester",
                "--wait",
                "--json",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    stop.cancel();
    worker.await.unwrap().unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&common::ok(&out)).unwrap();
    assert_eq!(rows.len(), 200);
    assert!(
        rows.iter()
            .all(|r| r["before"] == "rejected" && r["after"] == "verified"),
        "{rows:?}"
    );
    let verified = common::records_with(db, Some(Status::Verified)).await;
    assert_eq!(verified.len(), 200);
    let events = db.store.events(verified[0].id).await.unwrap();
    let path: Vec<Status> = events.iter().map(|e| e.to).collect();
    assert_eq!(
        path,
        vec![
            Status::Unverified,
            Status::Rejected,
            Status::Unverified,
            Status::Verified
        ]
    );
    assert_eq!(events[2].actor, "admin:tester");
    assert_eq!(
        events[2].note.as_deref(),
        Some("service answered invalid for every code on 11-27")
    );
}
on_both_backends!(
    a_rerun_of_200_rejected_records_after_a_fault_ends_verified,
    rerun_after_fault
);

async fn interrupted_rerun(db: &TestDb) {
    let n = 300;
    let _sb = wrongly_rejected(db, n).await;
    let mut child = common::bin()
        .args([
            "--database-url",
            &db.url,
            "rerun",
            "--status",
            "rejected",
            "--by",
            "tester",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it part way.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reopened = db
            .scalar("SELECT COUNT(*) FROM records WHERE status = 'unverified'")
            .await;
        if reopened >= 10 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = db
        .scalar("SELECT COUNT(*) FROM records WHERE status = 'unverified'")
        .await;
    // Resume, twice for good measure.
    common::ok(&common::run_cli(
        db,
        &["rerun", "--status", "rejected", "--by", "tester"],
    ));
    common::ok(&common::run_cli(
        db,
        &["rerun", "--status", "unverified", "--by", "tester"],
    ));
    let unverified = db
        .scalar("SELECT COUNT(*) FROM records WHERE status = 'unverified'")
        .await;
    assert_eq!(
        unverified, n as i64,
        "every record re-opened (the kill came after {after_kill})"
    );
    let pending_jobs = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE status = 'Pending'",
            db.jobs_table()
        ))
        .await;
    assert_eq!(pending_jobs, n as i64, "exactly one queued job per record");
    let owned = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM records r JOIN {} j ON j.id = r.job_id WHERE j.status = 'Pending'",
            db.jobs_table()
        ))
        .await;
    assert_eq!(
        owned, n as i64,
        "each queued job is the one its record points to"
    );
    let reopen_events = db
        .scalar("SELECT COUNT(*) FROM record_events WHERE actor = 'admin:tester'")
        .await;
    assert_eq!(reopen_events, n as i64, "one re-open event per record");
}
on_both_backends!(
    an_interrupted_rerun_resumed_leaves_no_duplicate_jobs,
    interrupted_rerun
);

/// Runs `credverify review ID DECISION… --note NOTE --by li.na`.
fn review_by_li_na(db: &TestDb, id: i64, decision: &[&str], note: &str) -> std::process::Output {
    let id = id.to_string();
    let mut args = vec!["review", id.as_str()];
    args.extend_from_slice(decision);
    args.extend(["--note", note, "--by", "li.na"]);
    common::run_cli(db, &args)
}

/// Asserts that record `id` is rejected with `reason` first among its
/// reasons, and returns the record.
async fn rejected_for(db: &TestDb, id: i64, reason: &str) -> credverify::store::RecordView {
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Rejected);
    assert_eq!(rec.reasons[0].code.as_str(), reason);
    rec
}

async fn review_and_revoke(db: &TestDb) {
    let (_sb, env) = common::sandbox_and_env(db).await;
    let near = |candidate: &str| common::near_miss(candidate);
    let a = common::submit(db, &near("c-a")).await;
    let b = common::submit(db, &near("c-b")).await;
    common::drain(&env, 1).await;
    let queue = common::cli_json(db, &["list", "--status", "needs_review", "--json"]);
    assert_eq!(queue.as_array().map(Vec::len), Some(2), "the admin's queue");

    common::ok(&review_by_li_na(
        db,
        a,
        &["--approve"],
        "ID card says 张晓艳; typo at registration",
    ));
    let rec = db.store.record(a).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified);
    let last = db.store.events(a).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.from, last.to, last.actor.as_str()),
        (Some(Status::NeedsReview), Status::Verified, "admin:li.na")
    );
    assert_eq!(
        last.note.as_deref(),
        Some("ID card says 张晓艳; typo at registration")
    );

    // Same certificate for the other candidate: approval is refused.
    let o = review_by_li_na(db, b, &["--approve"], "looks fine");
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    common::ok(&review_by_li_na(
        db,
        b,
        &["--reject", "holder_mismatch"],
        "not the same person",
    ));
    let rec = rejected_for(db, b, "holder_mismatch").await;
    assert_eq!(
        rec.reasons[0].detail, None,
        "the reviewer's note stays in the event log, not in what the candidate sees"
    );
    let last = db.store.events(b).await.unwrap().pop().unwrap();
    assert_eq!(last.note.as_deref(), Some("not the same person"));

    let o = review_by_li_na(db, b, &["--approve"], "again");
    assert_eq!(
        o.status.code(),
        Some(3),
        "only needs_review records are reviewed"
    );
    let o = common::run_cli(
        db,
        &[
            "review",
            &a.to_string(),
            "--approve",
            "--reject",
            "holder_mismatch",
            "--note",
            "x",
            "--by",
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "approve and reject are exclusive");

    common::ok(&common::run_cli(
        db,
        &[
            "revoke",
            &a.to_string(),
            "--reason",
            "certificate revoked by the school",
            "--by",
            "li.na",
        ],
    ));
    rejected_for(db, a, "revoked").await;
    let o = common::run_cli(
        db,
        &[
            "revoke",
            &a.to_string(),
            "--reason",
            "again",
            "--by",
            "li.na",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
}
on_both_backends!(review_and_revoke_write_the_right_events, review_and_revoke);

async fn verified_only_rechecked(db: &TestDb) {
    let (_sb, url) = common::sandbox().await;
    let env = common::env(db, &url);
    let rec = NewRecord {
        candidate_id: "c-v".into(),
        name: "王晓雯".into(),
        id_number: None,
        fields: CredentialFields::from_manual_json(
            r#"{"kind":"diploma","vcode":"A7K2M9QX4TB8R5WZ"}"#,
        )
        .unwrap(),
        idempotency_key: None,
        screenshot: None,
        screenshot_ref: None,
    };
    let id = common::submit(db, &rec).await;
    common::drain(&env, 1).await;
    let events_before = db.store.events(id).await.unwrap().len();
    let out = common::ok(&common::run_cli(
        db,
        &["rerun", "--candidate", "c-v", "--by", "t"],
    ));
    assert!(out.contains("skipped"), "{out}");
    let out = common::ok(&common::run_cli(
        db,
        &[
            "rerun",
            "--candidate",
            "c-v",
            "--include-verified",
            "--by",
            "t",
            "--chsi-url",
            &url,
            "--chsi-rate",
            "0",
        ],
    ));
    assert!(out.contains("still confirmed"), "{out}");
    assert_eq!(common::status_of(db, id).await, Status::Verified);
    assert_eq!(
        db.store.events(id).await.unwrap().len(),
        events_before,
        "a confirmed re-check writes no transition"
    );
}
on_both_backends!(verified_records_are_only_rechecked, verified_only_rechecked);

async fn stats_match(db: &TestDb) {
    let (_sb, env) = common::sandbox_and_env(db).await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/demo/records.json"
    ))
    .unwrap();
    let demo: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    // The typed records; the screenshot ones are the OCR tests' business.
    for r in demo.iter().filter(|r| r.get("screenshot").is_none()) {
        let fields = CredentialFields::from_manual_json(&r["fields"].to_string()).unwrap();
        let new = NewRecord {
            candidate_id: r["candidate"].as_str().unwrap().into(),
            name: r["name"].as_str().unwrap().into(),
            id_number: r["id_number"]
                .as_str()
                .map(|s| credverify::domain::IdNumber::parse(s).unwrap()),
            fields,
            idempotency_key: None,
            screenshot: None,
            screenshot_ref: None,
        };
        db.store.submit(&new).await.unwrap();
    }
    common::drain(&env, 1).await;
    let stats: serde_json::Value = common::cli_json(db, &["stats", "--json", "--days", "3"]);
    let all = common::records_with(db, None).await;
    assert_eq!(stats["total"], all.len() as i64);
    for st in Status::ALL {
        let n = all.iter().filter(|r| r.status == st).count() as i64;
        assert_eq!(stats["by_status"][st.as_str()], n, "{st}");
    }
    let invalid = all
        .iter()
        .filter(|r| r.reasons.iter().any(|x| x.code.as_str() == "vcode_invalid"))
        .count() as i64;
    assert_eq!(stats["by_reason"]["vcode_invalid"], invalid);
    let waiting = all
        .iter()
        .filter(|r| r.status == Status::Unverified)
        .count() as i64;
    assert_eq!(stats["waiting"], waiting);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(stats["per_day"][&today]["submitted"], all.len() as i64);
    let decided_today = all.iter().filter(|r| r.status == Status::Verified).count() as i64;
    assert_eq!(stats["per_day"][&today]["verified"], decided_today);
    assert!(common::ok(&common::run_cli(db, &["stats"])).contains("needs_review"));
}
on_both_backends!(stats_counts_match_the_records, stats_match);
