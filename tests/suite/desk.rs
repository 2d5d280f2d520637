//! The review desk's rules through the real binary and the admin service, on
//! both backends: admin decisions stay final under `rerun`, re-queues and
//! withdrawals are events, withdrawal frees a place, a verified record is
//! never withdrawn.

use crate::common;

use common::TestDb;
use common::synthetic::{record as new_record, report};
use credverify::admin::{AdminError, AdminService, Decision, Operator, Role, Withdrawer};
use credverify::domain::{ReasonCode, Status};
use credverify::sandbox::{Registry, ReportState};
use credverify::store::SubmitError;

fn transitions(events: &[credverify::store::EventView]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.from != Some(e.to))
        .map(|e| e.to.as_str().to_string())
        .collect()
}

/// A record the service verifies (report 0 is in the registry).
async fn verified_record(db: &TestDb) -> (credverify::sandbox::Sandbox, String, i64) {
    let (sandbox, url) = common::sandbox_with(Registry {
        reports: vec![report(0, ReportState::Ok)],
        ..Default::default()
    })
    .await;
    let id = common::submit(db, &new_record(0)).await;
    common::drain(&common::env(db, &url), 1).await;
    assert_eq!(common::status_of(db, id).await, Status::Verified);
    (sandbox, url, id)
}

async fn rerun_leaves_a_revocation_alone(db: &TestDb) {
    let (_sb, url, id) = verified_record(db).await;
    let rid = id.to_string();
    common::ok(&common::run_cli(
        db,
        &[
            "revoke",
            &rid,
            "--reason",
            "certificate revoked by the school",
            "--by",
            "li.na",
        ],
    ));

    let dry = common::ok(&common::run_cli(
        db,
        &["rerun", "--status", "rejected", "--dry-run"],
    ));
    assert!(dry.contains("revoked by an admin"), "{dry}");
    let dry = common::run_cli(db, &["rerun", "--status", "rejected", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&dry.stderr);
    assert!(
        stderr.contains("would skip 1"),
        "the dry run counts the skips: {stderr}"
    );

    common::ok(&common::run_cli(
        db,
        &["rerun", "--status", "rejected", "--by", "li.na"],
    ));
    common::drain(&common::env(db, &url), 1).await;
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Rejected, "a revocation stays final");
    assert_eq!(rec.reasons[0].code, ReasonCode::Revoked);
    assert_eq!(
        transitions(&db.store.events(id).await.unwrap()),
        ["unverified", "verified", "rejected"]
    );

    common::ok(&common::run_cli(
        db,
        &[
            "rerun",
            "--record",
            &rid,
            "--force",
            "--note",
            "school withdrew its letter",
            "--by",
            "li.na",
        ],
    ));
    common::drain(&common::env(db, &url), 1).await;
    let events = db.store.events(id).await.unwrap();
    assert_eq!(
        transitions(&events),
        [
            "unverified",
            "verified",
            "rejected",
            "unverified",
            "verified"
        ],
        "--force re-opens it and the service verifies it again"
    );
    let reopen = events
        .iter()
        .find(|e| e.from == Some(Status::Rejected))
        .unwrap();
    assert_eq!(reopen.actor, "admin:li.na");
    assert_eq!(reopen.note.as_deref(), Some("school withdrew its letter"));
}
on_both_backends!(
    rerun_after_revoke_leaves_the_record_rejected,
    rerun_leaves_a_revocation_alone
);

async fn person_decisions_stay_final(db: &TestDb) {
    let id = common::record_in_review(db).await;
    common::ok(&common::run_cli(
        db,
        &[
            "review",
            &id.to_string(),
            "--reject",
            "holder_mismatch",
            "--note",
            "different person on the ID card",
            "--by",
            "li.na",
        ],
    ));
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(
        rec.reasons[0].detail, None,
        "the reviewer's note stays internal"
    );
    assert!(
        rec.reasons[0].message.contains("持有人"),
        "{}",
        rec.reasons[0].message
    );

    let dry = common::run_cli(db, &["rerun", "--record", &id.to_string(), "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("decided by a person"));
    common::ok(&common::run_cli(
        db,
        &["rerun", "--record", &id.to_string(), "--by", "li.na"],
    ));
    assert_eq!(common::status_of(db, id).await, Status::Rejected);
}
on_both_backends!(
    a_reviewers_rejection_is_not_reopened_by_rerun,
    person_decisions_stay_final
);

async fn field_mismatch_names_the_fields(db: &TestDb) {
    let id = common::record_in_review(db).await;
    let o = common::run_cli(
        db,
        &[
            "review",
            &id.to_string(),
            "--reject",
            "field_mismatch",
            "--note",
            "x",
            "--by",
            "li.na",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "no field differs and none is named: refused"
    );
    common::ok(&common::run_cli(
        db,
        &[
            "review",
            &id.to_string(),
            "--reject",
            "field_mismatch",
            "--field",
            "major",
            "--note",
            "major differs on the diploma",
            "--by",
            "li.na",
        ],
    ));
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert!(
        rec.reasons[0].message.contains("专业"),
        "{}",
        rec.reasons[0].message
    );
    assert_eq!(rec.reasons[0].fields, [credverify::domain::Field::major]);
}
on_both_backends!(
    a_field_mismatch_rejection_lists_the_fields,
    field_mismatch_names_the_fields
);

async fn stuck_record_is_reviewed_or_requeued(db: &TestDb) {
    // A service that never answers sensibly: retries run out.
    let (_sb, url) = common::sandbox_with(Registry {
        reports: vec![report(0, ReportState::Ok), report(1, ReportState::Ok)],
        ..Default::default()
    })
    .await;
    let a = common::submit(db, &new_record(0)).await;
    let b = common::submit(db, &new_record(1)).await;
    // Exhaust both by hand: what the worker does when the budget is spent.
    db.exec("UPDATE records SET retries_exhausted = true, job_id = NULL, attempts = 5")
        .await;
    db.exec(&format!("DELETE FROM {}", db.jobs_table())).await;

    let service = AdminService::new(db.store.clone());
    let reviewer = Operator::new("wang.fang", Role::Reviewer);
    let rec = db.store.record(a).await.unwrap().unwrap();
    assert!(service.reviewable(&rec).await.unwrap());
    service
        .review(
            &reviewer,
            a,
            &Decision::Reject {
                code: ReasonCode::VcodeInvalid,
                fields: vec![],
            },
            "code on the paper copy differs",
        )
        .await
        .unwrap();
    assert_eq!(common::status_of(db, a).await, Status::Rejected);

    let err = service
        .review(&reviewer, b, &Decision::Approve, "looks fine")
        .await
        .unwrap_err();
    assert!(
        matches!(err, AdminError::Refused(_)),
        "no report, no approval: {err}"
    );
    let err = service.rerun(&reviewer, b, false, None).await.unwrap_err();
    assert!(matches!(err, AdminError::Forbidden { .. }), "{err}");
    common::ok(&common::run_cli(
        db,
        &[
            "rerun",
            "--record",
            &b.to_string(),
            "--note",
            "service back up",
            "--by",
            "li.na",
        ],
    ));
    let last = db.store.events(b).await.unwrap().pop().unwrap();
    assert_eq!(
        (
            last.from,
            last.to,
            last.actor.as_str(),
            last.note.as_deref()
        ),
        (
            Some(Status::Unverified),
            Status::Unverified,
            "admin:li.na",
            Some("service back up")
        ),
        "a re-queue is an event with who and why"
    );
    common::drain(&common::env(db, &url), 1).await;
    assert_eq!(common::status_of(db, b).await, Status::Verified);
}
on_both_backends!(
    a_stuck_record_can_be_reviewed_or_requeued_with_an_event,
    stuck_record_is_reviewed_or_requeued
);

async fn withdrawal_frees_a_place(db: &TestDb) {
    let (_sb, url, verified) = verified_record(db).await;
    let mut ids = vec![verified];
    for i in 1..5 {
        let mut r = new_record(i);
        r.candidate_id = "c-0".into();
        ids.push(common::submit(db, &r).await);
    }
    let mut sixth = new_record(6);
    sixth.candidate_id = "c-0".into();
    assert!(matches!(
        db.store.submit(&sixth).await,
        Err(SubmitError::LimitReached { .. })
    ));

    let o = common::run_cli(
        db,
        &["withdraw", &verified.to_string(), "--candidate", "c-0"],
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "a verified record is never withdrawn"
    );
    assert_eq!(common::status_of(db, verified).await, Status::Verified);
    let o = common::run_cli(
        db,
        &[
            "withdraw",
            &ids[1].to_string(),
            "--candidate",
            "c-someone-else",
        ],
    );
    // Another candidate's record is, for them, one that does not exist.
    assert_eq!(
        o.status.code(),
        Some(4),
        "only the record's own candidate withdraws it"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not exist for candidate"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    common::ok(&common::run_cli(
        db,
        &[
            "withdraw",
            &ids[1].to_string(),
            "--candidate",
            "c-0",
            "--note",
            "ticket 8812",
        ],
    ));
    let rec = db.store.record(ids[1]).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Withdrawn);
    let last = db.store.events(ids[1]).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.note.as_deref()),
        ("candidate:c-0", Some("ticket 8812"))
    );
    common::ok(&common::run_cli(
        db,
        &["withdraw", &ids[1].to_string(), "--candidate", "c-0"],
    ));
    assert_eq!(
        db.store.events(ids[1]).await.unwrap().len(),
        2,
        "withdrawing twice writes once"
    );

    let sixth_id = db
        .store
        .submit(&sixth)
        .await
        .expect("the withdrawn record's place is free")
        .record_id;

    // The worker leaves it alone, and no re-run re-opens it, forced or not.
    common::drain(&common::env(db, &url), 1).await;
    common::ok(&common::run_cli(
        db,
        &["rerun", "--candidate", "c-0", "--force", "--by", "li.na"],
    ));
    assert_eq!(common::status_of(db, ids[1]).await, Status::Withdrawn);
    let direct = db
        .try_exec(&format!(
            "UPDATE records SET status = 'unverified' WHERE id = {}",
            ids[1]
        ))
        .await;
    assert!(
        direct.is_err(),
        "the database keeps a withdrawn record withdrawn"
    );
    assert!(db.store.record(sixth_id).await.unwrap().is_some());

    // The SQL function registration backends call on PostgreSQL (jobs/README.md).
    if let credverify::store::Store::Postgres(pool) = &db.store {
        let call = |record: i64, candidate: &'static str| {
            sqlx::query_scalar::<_, String>("SELECT credverify.withdraw_record($1, $2)")
                .bind(record)
                .bind(candidate)
                .fetch_one(pool.pool())
        };
        let code = |e: sqlx::Error| {
            e.as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.to_string())
        };
        assert_eq!(
            code(call(verified, "c-0").await.unwrap_err()).as_deref(),
            Some("CV004")
        );
        assert_eq!(
            code(call(ids[2], "c-1").await.unwrap_err()).as_deref(),
            Some("CV003")
        );
    }

    // An admin withdraws for a candidate through the service: same rule.
    let admin = Operator::new("li.na", Role::Admin);
    let service = AdminService::new(db.store.clone());
    let err = service
        .withdraw(
            Withdrawer::Operator(&admin),
            verified,
            None,
            Some("asked by phone"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AdminError::Refused(_)), "{err}");
}
on_both_backends!(
    withdrawal_frees_a_place_and_never_touches_a_verified_record,
    withdrawal_frees_a_place
);

async fn show_and_export_a_screenshot_record(db: &TestDb) {
    let image = common::fixture("screenshots/report-004.png");
    let mut r = new_record(0);
    r.fields.vcode = None;
    r.fields.major = Some("药学".into());
    r.screenshot = Some(image.clone());
    let id = common::submit(db, &r).await;
    // What the reader stores for a screenshot (kept apart from typed fields).
    let reading = serde_json::json!({
        "layout": "report",
        "kind": "diploma",
        "fields": {"school": "南京中医药大学", "major": "药学"}
    });
    db.store.save_reading(id, &reading).await.unwrap();

    let out = common::ok(&common::run_cli(db, &["show", &id.to_string()]));
    assert!(out.contains("layout report, reads as diploma"), "{out}");
    let school = out
        .lines()
        .find(|l| l.contains("school"))
        .unwrap_or_default();
    assert!(
        school.contains("南京中医药大学"),
        "the screenshot's reading: {out}"
    );
    let major = out
        .lines()
        .find(|l| l.contains("major"))
        .unwrap_or_default();
    assert_eq!(
        major.matches("药学").count(),
        2,
        "read and typed side by side: {major}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shot.png");
    common::ok(&common::run_cli(
        db,
        &["screenshot", &id.to_string(), "-o", file.to_str().unwrap()],
    ));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        image,
        "byte for byte as uploaded"
    );

    let typed = common::submit(db, &new_record(1)).await;
    let o = common::run_cli(
        db,
        &[
            "screenshot",
            &typed.to_string(),
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(4), "nothing to export: not found");
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no screenshot"));
}
on_both_backends!(
    show_prints_the_reading_and_screenshot_exports_the_image,
    show_and_export_a_screenshot_record
);

/// Whether operator `who` can sign in to the console with `password` now.
async fn signs_in(db: &TestDb, who: &str, password: &str) -> bool {
    credverify::admin::operators::authenticate(&db.store, who, password)
        .await
        .unwrap()
        .is_some()
}

async fn operators_from_the_cli(db: &TestDb) {
    use std::io::Write;
    let add = |name: &str, role: &str, password: &str| {
        let mut child = common::bin()
            .args([
                "--database-url",
                &db.url,
                "operator",
                "add",
                name,
                "--role",
                role,
                "--by",
                "li.na",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    common::ok(&add("wang.fang", "reviewer", "a long enough password"));
    assert_eq!(
        add("short", "admin", "2short").status.code(),
        Some(2),
        "weak password refused"
    );
    assert_eq!(
        add("wang.fang", "admin", "another long password")
            .status
            .code(),
        Some(3),
        "name taken"
    );
    assert_eq!(
        add("bad name", "admin", "another long password")
            .status
            .code(),
        Some(2)
    );

    let list: serde_json::Value = common::cli_json(db, &["operator", "list", "--json"]);
    assert_eq!(list[0]["name"], "wang.fang");
    assert_eq!(list[0]["role"], "reviewer");
    assert!(list[0].get("password_hash").is_none(), "never printed");
    let stored = db
        .scalar("SELECT COUNT(*) FROM operators WHERE password_hash LIKE '$argon2id$%'")
        .await;
    assert_eq!(stored, 1, "stored as an argon2id hash");
    assert!(signs_in(db, "wang.fang", "a long enough password").await);

    common::ok(&common::run_cli(
        db,
        &["operator", "disable", "wang.fang", "--by", "li.na"],
    ));
    assert!(!signs_in(db, "wang.fang", "a long enough password").await);
}
on_both_backends!(
    operators_are_added_listed_and_disabled_from_the_cli,
    operators_from_the_cli
);
