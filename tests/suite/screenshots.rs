//! Screenshot records end to end: real Tesseract on fixture screenshots,
//! a real worker, the sandbox speaking the service's format, on both
//! backends. A screenshot only ever supplies claims and the 在线验证码; what
//! is verified and stored is the service's report.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::TestDb;
use credverify::domain::{CredentialFields, IdNumber, ReasonCode, Status};
use credverify::sandbox::Registry;
use credverify::store::NewRecord;

/// The fixture's expected fields (its JSON beside the image).
fn expected(name: &str) -> serde_json::Value {
    common::fixture_expected("screenshots", name)
}

fn image_of(name: &str) -> String {
    common::fixture_image_path("screenshots", name)
}

/// A record uploading fixture `name`'s screenshot, by the candidate the
/// screenshot shows (or by `holder` instead).
fn upload(name: &str, holder: Option<(&str, &str)>, typed: CredentialFields) -> NewRecord {
    let want = expected(name);
    let (person, id) = holder.unwrap_or((
        want["name"].as_str().unwrap(),
        want["meta"]["id_number"].as_str().unwrap(),
    ));
    NewRecord {
        candidate_id: format!("c-{name}"),
        name: person.to_string(),
        id_number: Some(IdNumber::parse(id).unwrap()),
        fields: typed,
        idempotency_key: None,
        screenshot: Some(common::fixture(&image_of(name))),
        screenshot_ref: None,
    }
}

/// The screenshot fixtures' registry, with one report changed the way an
/// edited screenshot would differ from it.
fn registry(edited: &str) -> Registry {
    let mut r = Registry::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sandbox/screenshots-registry.json"
    )))
    .unwrap();
    let vcode = expected(edited)["vcode"].as_str().unwrap().to_string();
    let report = r.reports.iter_mut().find(|x| x.vcode == vcode).unwrap();
    report.fields.school = Some("长沙医学院".into());
    r
}

fn truncated_png() -> Vec<u8> {
    let bytes = common::fixture(&image_of("report-004"));
    bytes[..bytes.len() / 3].to_vec()
}

async fn screenshot_records_decide_on_the_services_data(db: &TestDb) {
    let (_sandbox, url) = common::sandbox_with(registry("report-007")).await;
    let env = common::env_with_reader(db, &url, Some(common::ocr()));
    let typed_code = |name: &str| CredentialFields {
        vcode: Some(expected(name)["meta"]["vcode"].as_str().unwrap().into()),
        ..Default::default()
    };
    let none = CredentialFields::default;
    let cases: Vec<(&str, NewRecord, Status, Option<ReasonCode>)> = vec![
        (
            "report",
            upload("report-004", None, none()),
            Status::Verified,
            None,
        ),
        (
            "degree",
            upload("degree-004", None, none()),
            Status::Verified,
            None,
        ),
        // 武䶮浩: neither Tesseract nor PP-OCRv4 knows 䶮 (武美浩, 武龚浩); the code is still read,
        // and the service's name is the one compared with the registration.
        (
            "rare character",
            upload("degree-002", None, none()),
            Status::Verified,
            None,
        ),
        (
            "phone page with a typed code",
            upload("mobile-002", None, typed_code("mobile-002")),
            Status::Verified,
            None,
        ),
        (
            "web page without a code",
            upload("web-010", None, none()),
            Status::Rejected,
            Some(ReasonCode::VcodeUnreadable),
        ),
        // The screenshot's school is not the service's: a blurred or an
        // edited screenshot, which a human tells apart.
        (
            "edited screenshot",
            upload("report-007", None, none()),
            Status::NeedsReview,
            Some(ReasonCode::ScreenshotMismatch),
        ),
        // The same, with the school typed too: now it is the candidate's
        // claim, and a wrong claim is rejected.
        (
            "edited screenshot, school typed",
            upload(
                "report-007",
                None,
                CredentialFields {
                    school: expected("report-007")["school"].as_str().map(String::from),
                    ..Default::default()
                },
            ),
            Status::Rejected,
            Some(ReasonCode::FieldMismatch),
        ),
        (
            "someone else's report",
            upload("report-012", Some(("王晓雯", "110105199904180029")), none()),
            Status::Rejected,
            Some(ReasonCode::HolderMismatch),
        ),
        (
            "not a CHSI page",
            NewRecord {
                screenshot: Some(common::fixture("demo/photo.png")),
                ..upload("report-004", None, none())
            },
            Status::Rejected,
            Some(ReasonCode::NotAChsiResult),
        ),
        (
            "a broken upload",
            NewRecord {
                screenshot: Some(truncated_png()),
                ..upload("report-004", None, none())
            },
            Status::Rejected,
            Some(ReasonCode::ImageUnreadable),
        ),
    ];
    let mut ids = Vec::new();
    for (i, (label, mut record, status, reason)) in cases.into_iter().enumerate() {
        // One candidate each: the five-record limit is not under test here.
        record.candidate_id = format!("c-shot-{i}");
        let id = common::submit(db, &record).await;
        ids.push((label, id, status, reason));
    }
    common::drain(&env, 2).await;

    for (label, id, status, reason) in ids {
        let rec = db.store.record(id).await.unwrap().unwrap();
        let codes: Vec<ReasonCode> = rec.reasons.iter().map(|r| r.code).collect();
        assert_eq!(
            rec.status, status,
            "{label}: {codes:?} {:?}",
            rec.last_error
        );
        if let Some(reason) = reason {
            assert_eq!(codes, vec![reason], "{label}");
            assert!(
                !rec.reasons[0].message.is_empty(),
                "{label}: a message the candidate can act on"
            );
        }
        if reason != Some(ReasonCode::ImageUnreadable) {
            assert!(
                rec.screenshot_reading.is_some(),
                "{label}: the reading is kept"
            );
        }
        if status == Status::Verified {
            let report = rec
                .authoritative
                .as_ref()
                .expect("the service's report is kept");
            assert!(report.fields.certificate_no.is_some(), "{label}");
            assert_eq!(
                report.fields.name.as_deref(),
                Some(rec.candidate_name.as_str()),
                "{label}: the stored name is the service's, not the screenshot's"
            );
        }
    }
    common::assert_one_decision_each(db).await;
}
on_both_backends!(
    screenshot_records_end_to_end,
    screenshot_records_decide_on_the_services_data
);

/// `submit --screenshot` keeps the image with the record: the file may be
/// gone by the time a worker (another process) reads it.
async fn a_submitted_screenshot_outlives_its_file(db: &TestDb) {
    let (_sandbox, url) = common::sandbox_with(registry("report-007")).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("upload.png");
    std::fs::write(&copy, common::fixture(&image_of("report-004"))).unwrap();
    let want = expected("report-004");
    let out = common::ok(&common::run_cli(
        db,
        &[
            "submit",
            "--candidate",
            "c-file",
            "--name",
            want["name"].as_str().unwrap(),
            "--id-number",
            want["meta"]["id_number"].as_str().unwrap(),
            "--screenshot",
            copy.to_str().unwrap(),
        ],
    ));
    let id: i64 = out.trim().parse().unwrap();
    std::fs::remove_file(&copy).unwrap();

    let status = common::bin()
        .args([
            "--database-url",
            &db.url,
            "worker",
            "--drain",
            "--chsi-url",
            &url,
        ])
        .args(["--chsi-rate", "0", "--ocr-threads", "1"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified, "{:?}", rec.reasons);
}
on_both_backends!(
    a_submitted_screenshot_outlives_its_file_on,
    a_submitted_screenshot_outlives_its_file
);

#[test]
fn ocr_command_prints_one_json_line_per_image() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let out = common::bin()
        .arg("ocr")
        .arg("--json")
        .arg("--ocr-threads")
        .arg("1")
        .arg(root.join(image_of("report-004")))
        .arg(root.join("demo/photo.png"))
        .arg(root.join("demo/records.json"))
        .output()
        .unwrap();
    // One image is not an image: exit 1, the others still printed.
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let want = expected("report-004");
    assert_eq!(lines[0]["layout"], "report");
    assert_eq!(lines[0]["kind"], "diploma");
    for key in [
        "vcode",
        "certificate_no",
        "school",
        "major",
        "graduation_date",
    ] {
        assert_eq!(lines[0]["fields"][key], want[key], "{key}");
    }
    assert_eq!(lines[1]["layout"], serde_json::Value::Null);
    assert_eq!(lines[1]["fields"], serde_json::json!({}));
    assert_eq!(lines[2]["error"], "image_unreadable");
    assert!(
        lines[2]["image"]
            .as_str()
            .unwrap()
            .ends_with("records.json")
    );
}

#[test]
fn ocr_command_without_json_prints_a_table() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let out = common::bin()
        .args(["ocr", "--ocr-threads", "1"])
        .arg(root.join(image_of("degree-004")))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let want = expected("degree-004");
    assert!(text.contains("在线验证码"), "{text}");
    assert!(
        text.contains(want["certificate_no"].as_str().unwrap()),
        "{text}"
    );
}

/// SIGKILL while the worker is inside OCR (engine loaded lazily, image being
/// read): the restarted worker reclaims the job and decides the record once.
async fn killed_during_ocr(db: &TestDb) {
    let (sandbox, url) = common::sandbox_with(registry("report-007")).await;
    let id = common::submit(db, &upload("report-004", None, CredentialFields::default())).await;
    let jobs = db.jobs_table();
    let running = format!("SELECT COUNT(*) FROM {jobs} WHERE status = 'Running'");
    let mut first = common::spawn_worker(db, &url, &["--ocr-threads", "1"]);
    common::eventually(
        Duration::from_secs(30),
        "the worker took the job",
        || async { db.scalar(&running).await == 1 },
    )
    .await;
    common::sigkill(&mut first);
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Unverified);
    assert!(
        rec.screenshot_reading.is_none() && sandbox.stats().requests == 0,
        "killed before the reading was saved and before the service was asked"
    );

    let took = common::worker_decides(db, &url, &["--ocr-threads", "1"], id).await;
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified, "{:?}", rec.reasons);
    common::assert_one_decision_each(db).await;
    eprintln!("decided {took:?} after the restart");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
on_both_backends!(
    job_of_a_worker_killed_during_ocr_is_rerun_by_its_successor,
    killed_during_ocr
);

async fn health_and_gauge(addr: &str) -> (serde_json::Value, String) {
    let http = reqwest::Client::new();
    common::wait_until_healthy(&http, addr).await;
    let (health, metrics) = common::health_and_metrics(&http, addr).await;
    let gauge = metrics
        .lines()
        .find(|l| l.starts_with("credverify_line_reader "))
        .unwrap_or_else(|| panic!("no credverify_line_reader in\n{metrics}"))
        .to_string();
    (health, gauge)
}

/// A worker without the second line reader (no `.line-reader` where it
/// runs, no `--line-reader-dir`) reads screenshots with Tesseract alone,
/// as before, and says so; one given the directory says it has it.
async fn worker_without_the_line_reader(db: &TestDb) {
    let (_sandbox, url) = common::sandbox_with(registry("report-007")).await;
    let id = common::submit(db, &upload("report-004", None, CredentialFields::default())).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let addr = common::free_addr();
    let mut worker = common::bin()
        .current_dir(elsewhere.path())
        .env_remove("CREDVERIFY_LINE_READER_DIR")
        .args(["--database-url", &db.url, "worker", "--chsi-url", &url])
        .args(["--chsi-rate", "0", "--poll-ms", "100", "--ocr-threads", "1"])
        .args(["--metrics-addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::until_decided(db, id, Duration::from_secs(60), "the record is decided").await;
    let (health, gauge) = health_and_gauge(&addr).await;
    common::sigkill(&mut worker);
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified, "{:?}", rec.reasons);
    assert_eq!(health["line_reader"], false, "{health}");
    assert_eq!(gauge, "credverify_line_reader 0");

    let dir = common::line_reader::dir();
    let addr = common::free_addr();
    let mut worker = common::bin()
        .current_dir(elsewhere.path())
        .args(["--database-url", &db.url, "worker", "--chsi-url", &url])
        .args(["--ocr-threads", "1", "--metrics-addr", &addr])
        .arg("--line-reader-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (health, gauge) = health_and_gauge(&addr).await;
    common::sigkill(&mut worker);
    assert_eq!(health["line_reader"], true, "{health}");
    assert_eq!(gauge, "credverify_line_reader 1");
}
on_both_backends!(
    a_worker_without_the_line_reader_reads_as_before_and_says_so,
    worker_without_the_line_reader
);
