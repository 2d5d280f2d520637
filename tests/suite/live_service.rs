//! The verification service as it really answers: both markup generations,
//! values drawn as images (read by the real Tesseract), 学籍 reports, the
//! answers that are not reports, and answers nobody recognises — through the
//! sandbox (a real HTTP server) and the worker, on both backends.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::TestDb;
use credverify::chsi::{ChsiClient, Page, Transient, parse_page};
use credverify::domain::{CredentialFields, Field, Kind, ReasonCode, Status, VerificationCode};
use credverify::sandbox::{
    Fault, FaultKind, Faults, Markup, Registry, RegistryReport, ReportState,
};
use credverify::store::NewRecord;
use credverify::verdict::Lookup;

fn shared_pages() -> Option<PathBuf> {
    common::beside_the_project("chsi")
}

fn own_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/chsi")
}

/// The sandbox answers `code` with `file`. A report must show the code it
/// was asked for (the client refuses another code's report), so a report
/// page is served with its printed code replaced by `code`, from `scratch`.
fn serve_file(
    code: &str,
    file: &Path,
    status: Option<u16>,
    scratch: &Path,
) -> (String, Vec<Fault>) {
    let mut served = file.to_path_buf();
    if let Ok(text) = std::fs::read_to_string(file)
        && let Page::Report {
            vcode: Some(shown), ..
        } = parse_page(&text)
    {
        // Printed as one run or in groups of four.
        let grouped = |c: &str| {
            c.as_bytes()
                .chunks(4)
                .map(|g| String::from_utf8_lossy(g).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let text = text
            .replace(&shown, code)
            .replace(&grouped(&shown), &grouped(code));
        assert!(
            !text.contains(&shown) && !text.contains(&grouped(&shown)),
            "{}: the page's code is printed in a form the test does not replace",
            file.display()
        );
        served = scratch.join(format!("{code}.html"));
        std::fs::write(&served, text).unwrap();
    }
    (
        code.to_string(),
        vec![Fault {
            kind: FaultKind::Page {
                file: served.display().to_string(),
                status,
            },
            times: None,
            probability: None,
        }],
    )
}

/// What the client made of an answer, in the words of the README's table.
fn outcome(r: &Result<credverify::chsi::Answer, Transient>) -> String {
    match r {
        Ok(a) => match &a.lookup {
            Lookup::Found(report) => format!("found {}", report.kind),
            Lookup::Invalid => "vcode_invalid".into(),
            Lookup::Expired => "report_expired".into(),
            Lookup::Closed => "report_closed".into(),
        },
        Err(t) => format!("transient {}", t.kind()),
    }
}

fn client(url: &str) -> std::sync::Arc<ChsiClient> {
    common::chsi(url)
}

/// Codes for the pages, one each (16 characters, as the service's).
fn code_for(i: usize) -> String {
    format!("A{:015}", i)
}

#[tokio::test]
async fn every_reference_page_through_the_sandbox_ends_in_its_documented_outcome() {
    let Some(dir) = shared_pages() else { return };
    let cases: &[(&str, Option<u16>, &str)] = &[
        ("report_diploma.html", None, "found diploma"),
        ("report_diploma_table.html", None, "found diploma"),
        ("report_degree.html", None, "found degree"),
        ("report_enrollment.html", None, "found enrollment"),
        ("invalid.html", None, "vcode_invalid"),
        ("illegal.html", None, "vcode_invalid"),
        ("expired.html", None, "report_expired"),
        ("closed.html", None, "report_closed"),
        ("captcha.html", None, "transient captcha"),
        ("rate_limited.html", None, "transient rate_limited_page"),
        ("front_door.html", None, "transient front_door"),
        ("front_door.html", Some(412), "transient front_door"),
        ("front_door.html", Some(202), "transient front_door"),
        ("maintenance.html", None, "transient maintenance"),
    ];
    let mut faults = Faults::default();
    let scratch = tempfile::tempdir().unwrap();
    for (i, (file, status, _)) in cases.iter().enumerate() {
        let (code, f) = serve_file(&code_for(i), &dir.join(file), *status, scratch.path());
        faults.per_code.insert(code, f);
    }
    let (sb, url) = common::sandbox_with(Registry {
        faults,
        ..Default::default()
    })
    .await;
    sb.serve_images_from(dir.join("img"));
    let c = client(&url);
    for (i, (file, status, expected)) in cases.iter().enumerate() {
        let code = VerificationCode::parse(&code_for(i)).unwrap();
        let got = c.lookup(&code).await;
        assert_eq!(&outcome(&got), expected, "{file} (HTTP {status:?})");
        if *file == "report_diploma_table.html" {
            let answer = got.unwrap();
            let Lookup::Found(report) = &answer.lookup else {
                unreachable!()
            };
            assert_eq!(
                report.fields.certificate_no.as_deref(),
                Some("139211202205003177")
            );
            assert_eq!(report.fields.duration.as_deref(), Some("3"));
            assert_eq!(report.fields.graduation_date.as_deref(), Some("2022-06-30"));
            assert_eq!(report.fields.name, None, "the name is drawn, not written");
            let drawn: Vec<Field> = answer.drawn.iter().map(|d| d.field).collect();
            assert_eq!(drawn, vec![Field::name, Field::completion]);
            assert!(
                answer.drawn.iter().all(|d| d.image.is_ok()),
                "{:?}",
                answer.drawn
            );
        }
    }
}

/// A 学历 report in the table markup with its name (and 毕业) drawn as the
/// image `name_image` under fixtures/chsi/img.
fn table_report(vcode: &str, name_image: &str) -> RegistryReport {
    let mut fields = CredentialFields {
        kind: Some(Kind::Diploma),
        ..Default::default()
    };
    for (f, v) in [
        (Field::gender, "男"),
        (Field::birth_date, "1998-05-12"),
        (Field::enrollment_date, "2016-09-01"),
        (Field::graduation_date, "2020-06-30"),
        (Field::school, "南京医科大学"),
        (Field::major, "临床医学"),
        (Field::duration, "4"),
        (Field::level, "本科"),
        (Field::category, "普通高等教育"),
        (Field::study_mode, "普通全日制"),
        (Field::certificate_no, "103121202005001122"),
        (Field::principal, "沈洪兵"),
    ] {
        fields.set(f, v);
    }
    RegistryReport {
        vcode: vcode.into(),
        state: ReportState::Ok,
        kind: Kind::Diploma,
        fields,
        updated: None,
        fixture: None,
        note: None,
        markup: Markup::Table,
        drawn: BTreeMap::from([
            (Field::name, name_image.to_string()),
            (Field::completion, "completion-biye.png".to_string()),
        ]),
    }
}

fn record(candidate: &str, name: &str, vcode: &str, kind: Kind) -> NewRecord {
    NewRecord {
        candidate_id: candidate.into(),
        name: name.into(),
        id_number: None,
        fields: CredentialFields {
            kind: Some(kind),
            vcode: Some(vcode.into()),
            ..Default::default()
        },
        idempotency_key: None,
        screenshot: None,
        screenshot_ref: None,
    }
}

const READ: &str = "AT2K8M4Q9X7B5N3W";
const SOMEONE_ELSE: &str = "BT2K8M4Q9X7B5N3W";
const SMUDGED: &str = "CT2K8M4Q9X7B5N3W";
const NEAR: &str = "DT2K8M4Q9X7B5N3W";
const ENROLLMENT: &str = "ET2K8M4Q9X7B5N3W";
const NEVER_SEEN: &str = "FT2K8M4Q9X7B5N3W";

async fn sandbox_for_the_live_format() -> (credverify::sandbox::Sandbox, String) {
    let mut enrollment = table_report(ENROLLMENT, "name-chen-guohua.png");
    enrollment.kind = Kind::Enrollment;
    enrollment.markup = Markup::Card;
    enrollment.drawn.clear();
    enrollment.fields = CredentialFields {
        kind: Some(Kind::Enrollment),
        ..Default::default()
    };
    for (f, v) in [
        (Field::name, "陈国华"),
        (Field::school, "南京医科大学"),
        (Field::level, "本科"),
        (Field::major, "临床医学"),
        (Field::duration, "5"),
        (Field::enrollment_date, "2022-09-01"),
        (Field::enrollment_status, "在籍(注册学籍)"),
        (Field::expected_graduation_date, "2027-06-30"),
    ] {
        enrollment.fields.set(f, v);
    }
    let mut faults = Faults::default();
    let (code, f) = serve_file(
        NEVER_SEEN,
        &own_fixtures().join("login.html"),
        None,
        &std::env::temp_dir(),
    );
    faults.per_code.insert(code, f);
    let (sb, url) = common::sandbox_with(Registry {
        reports: vec![
            table_report(READ, "name-chen-guohua.png"),
            table_report(SOMEONE_ELSE, "name-li-wenbo.png"),
            table_report(SMUDGED, "name-smudged.png"),
            table_report(NEAR, "name-chen-guohua.png"),
            enrollment,
        ],
        faults,
    })
    .await;
    sb.serve_images_from(own_fixtures().join("img"));
    (sb, url)
}

async fn the_live_format_ends_in_the_right_decisions(db: &TestDb) {
    let (_sb, url) = sandbox_for_the_live_format().await;
    let env = common::env_with_reader(db, &url, Some(common::ocr()));
    let cases = [
        (
            "c-read",
            "陈国华",
            READ,
            Kind::Diploma,
            Status::Verified,
            None,
        ),
        (
            "c-else",
            "陈国华",
            SOMEONE_ELSE,
            Kind::Diploma,
            Status::Rejected,
            Some(ReasonCode::HolderMismatch),
        ),
        (
            "c-smudge",
            "陈国华",
            SMUDGED,
            Kind::Diploma,
            Status::NeedsReview,
            Some(ReasonCode::ReportIncomplete),
        ),
        (
            "c-near",
            "陈国桦",
            NEAR,
            Kind::Diploma,
            Status::NeedsReview,
            Some(ReasonCode::NameNearMatch),
        ),
        (
            "c-xueji",
            "陈国华",
            ENROLLMENT,
            Kind::Diploma,
            Status::Rejected,
            Some(ReasonCode::EnrollmentReport),
        ),
        (
            "c-unknown",
            "陈国华",
            NEVER_SEEN,
            Kind::Diploma,
            Status::NeedsReview,
            Some(ReasonCode::PageUnrecognised),
        ),
    ];
    let mut ids = Vec::new();
    for (cand, name, code, kind, ..) in &cases {
        ids.push(common::submit(db, &record(cand, name, code, *kind)).await);
    }
    common::drain_until_settled(&env, 2).await;
    for (id, (cand, _, _, _, status, reason)) in ids.iter().zip(&cases) {
        let rec = db.store.record(*id).await.unwrap().unwrap();
        let codes: Vec<ReasonCode> = rec.reasons.iter().map(|r| r.code).collect();
        assert_eq!(
            rec.status, *status,
            "{cand}: {codes:?} {:?}",
            rec.last_error
        );
        if let Some(reason) = reason {
            assert!(codes.contains(reason), "{cand}: {codes:?}");
        }
    }
    // The name came from the service's image, and the decision says so.
    let read = db.store.record(ids[0]).await.unwrap().unwrap();
    let auth = read.authoritative.unwrap();
    assert_eq!(auth.fields.name.as_deref(), Some("陈国华"));
    assert_eq!(auth.fields.completion.as_deref(), Some("毕业"));
    let events = db.store.events(ids[0]).await.unwrap();
    let note = events.last().unwrap().note.clone().unwrap_or_default();
    assert!(note.contains("name (confidence"), "{note}");
    // The 学籍 report's message says what to submit instead.
    let xueji = db.store.record(ids[4]).await.unwrap().unwrap();
    assert!(xueji.reasons[0].message.contains("学历证书电子注册备案表"));
    // The never-seen page: asked three times, kept, and retrievable.
    let unknown = ids[5];
    let pages = db.store.kept_pages(unknown).await.unwrap();
    assert_eq!(pages.len(), 3, "the last three answers are kept");
    let body = String::from_utf8(pages[0].body.clone()).unwrap();
    let login = std::fs::read_to_string(own_fixtures().join("login.html")).unwrap();
    assert_eq!(body, login);
    assert_eq!(pages[0].http_status, 200);
    let page = common::ok(&common::run_cli(db, &["page", &unknown.to_string()]));
    assert_eq!(page, login);
    let show = common::run_cli(db, &["show", &unknown.to_string()]);
    assert!(String::from_utf8_lossy(&show.stdout).contains(&format!("credverify page {unknown}")));
}
on_both_backends!(
    live_format_decisions,
    the_live_format_ends_in_the_right_decisions
);

async fn a_worker_without_ocr_leaves_drawn_names_to_one_with_it(db: &TestDb) {
    let (_sb, url) = sandbox_for_the_live_format().await;
    let id = common::submit(db, &record("c-read", "陈国华", READ, Kind::Diploma)).await;
    let without = common::env_with_reader(db, &url, None);
    common::drain(&without, 1).await;
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Unverified, "never verified unchecked");
    assert!(rec.last_error.unwrap_or_default().contains("OCR"));
    let with = common::env_with_reader(db, &url, Some(common::ocr()));
    common::drain_until_settled(&with, 1).await;
    assert_eq!(common::status_of(db, id).await, Status::Verified);
}
on_both_backends!(
    without_ocr,
    a_worker_without_ocr_leaves_drawn_names_to_one_with_it
);

/// Values drawn as images, read by the real Tesseract in single-line mode
/// through the engine pool: every readable image gives its exact text; the
/// smudge is not read as a name. (Confidences are printed: the figures in
/// README's section on the live service.)
#[tokio::test]
async fn drawn_values_are_read_by_the_engine_pool_in_line_mode() {
    let pool = credverify::ocr::OcrPool::new(credverify::ocr::OcrConfig {
        threads: 1,
        ..Default::default()
    })
    .expect("Tesseract with chi_sim");
    let mut cases: Vec<(PathBuf, Option<&str>)> = vec![
        (
            own_fixtures().join("img/name-lin-shuyao.png"),
            Some("林书瑶"),
        ),
        (
            own_fixtures().join("img/name-chen-guohua.png"),
            Some("陈国华"),
        ),
        (
            own_fixtures().join("img/name-zhou-jianping.png"),
            Some("周建平"),
        ),
        (own_fixtures().join("img/name-li-wenbo.png"), Some("李文博")),
        (own_fixtures().join("img/completion-biye.png"), Some("毕业")),
        (own_fixtures().join("img/name-smudged.png"), None),
    ];
    if let Some(dir) = shared_pages() {
        cases.push((dir.join("img/n7c2e4a90b1d35f6e.jpg"), Some("林书瑶")));
        cases.push((dir.join("img/b7c2e4a90b1d35f6e.jpg"), Some("毕业")));
    }
    for (path, expected) in cases {
        let started = std::time::Instant::now();
        let line = pool.read_line(std::fs::read(&path).unwrap()).await.unwrap();
        eprintln!(
            "{}: {:?} confidence {:.0} in {} ms",
            path.file_name().unwrap().to_string_lossy(),
            line.text,
            line.confidence,
            started.elapsed().as_millis()
        );
        match expected {
            Some(text) => {
                assert_eq!(line.text, text, "{}", path.display());
                assert!(line.confidence >= 70.0, "{}: {line:?}", path.display());
            }
            None => assert!(
                !line.text.chars().any(credverify::domain::text::is_cjk) || line.confidence < 70.0,
                "{}: {line:?}",
                path.display()
            ),
        }
    }
    pool.shutdown();
}

/// How a record ended, in the words of the reference pages' README.
async fn end_of(db: &TestDb, id: i64) -> String {
    let rec = db.store.record(id).await.unwrap().unwrap();
    match rec.status {
        Status::Unverified => {
            let error = rec.last_error.unwrap_or_default();
            format!("transient {}", error.split(':').next().unwrap_or_default())
        }
        status => {
            let codes: Vec<&str> = rec.reasons.iter().map(|r| r.code.as_str()).collect();
            format!("{status} {}", codes.join(","))
        }
    }
}

/// Every reference page (and this project's variants of the markups) as the
/// service's answer to a record: each record ends as documented.
async fn every_page_ends_its_record_as_documented(db: &TestDb) {
    let Some(dir) = shared_pages() else { return };
    let own = own_fixtures();
    // (page, HTTP status, candidate name, record kind, expected end)
    let cases: Vec<(PathBuf, Option<u16>, &str, Kind, &str)> = vec![
        // The sample's invented certificate number says 本科 (05) where the
        // report says 专科: the structure check sends it to a person.
        (
            dir.join("report_diploma_table.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "needs_review report_inconsistent",
        ),
        (
            dir.join("report_enrollment.html"),
            None,
            "许嘉怡",
            Kind::Diploma,
            "rejected enrollment_report",
        ),
        (
            dir.join("invalid.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "rejected vcode_invalid",
        ),
        (
            dir.join("illegal.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "rejected vcode_invalid",
        ),
        (
            dir.join("expired.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "rejected report_expired",
        ),
        (
            dir.join("closed.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "rejected report_closed",
        ),
        (
            dir.join("captcha.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "transient captcha",
        ),
        (
            dir.join("rate_limited.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "transient rate_limited_page",
        ),
        (
            dir.join("front_door.html"),
            Some(412),
            "林书瑶",
            Kind::Diploma,
            "transient front_door",
        ),
        (
            dir.join("maintenance.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "transient maintenance",
        ),
        (
            own.join("service_error.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "transient service_error_page",
        ),
        (
            own.join("login.html"),
            None,
            "林书瑶",
            Kind::Diploma,
            "transient unrecognised_page",
        ),
        (
            own.join("report_diploma_table_variant.html"),
            None,
            "王晓雯",
            Kind::Diploma,
            "verified ",
        ),
        (
            own.join("report_diploma_old.html"),
            None,
            "王晓雯",
            Kind::Diploma,
            "verified ",
        ),
        (
            own.join("report_diploma_inline.html"),
            None,
            "王晓雯",
            Kind::Diploma,
            "verified ",
        ),
    ];
    let mut faults = Faults::default();
    let scratch = tempfile::tempdir().unwrap();
    for (i, (file, status, ..)) in cases.iter().enumerate() {
        let (code, f) = serve_file(&code_for(100 + i), file, *status, scratch.path());
        faults.per_code.insert(code, f);
    }
    let (sb, url) = common::sandbox_with(Registry {
        faults,
        ..Default::default()
    })
    .await;
    sb.serve_images_from(dir.join("img"));
    let mut ids = Vec::new();
    for (i, (_, _, name, kind, _)) in cases.iter().enumerate() {
        // One candidate per person: a certificate verified for two
        // candidates would be a duplicate.
        let candidate = format!("c-{name}-{}", i / 4);
        let r = record(&candidate, name, &code_for(100 + i), *kind);
        ids.push(common::submit(db, &r).await);
    }
    // One pass: every record's first answer (retries fall due later).
    let env = common::env_with_reader(db, &url, Some(common::ocr()));
    common::drain(&env, 2).await;
    for (id, (file, status, _, _, expected)) in ids.iter().zip(&cases) {
        let end = end_of(db, *id).await;
        assert!(
            end.starts_with(expected),
            "{} (HTTP {status:?}): expected {expected}, got {end}",
            file.display()
        );
    }
    // The name the table-markup sample draws was read from its image.
    let table = db.store.record(ids[0]).await.unwrap().unwrap();
    let auth = table.authoritative.expect("the report is kept");
    assert_eq!(auth.fields.name.as_deref(), Some("林书瑶"));
    assert_eq!(auth.fields.completion.as_deref(), Some("毕业"));
}
on_both_backends!(
    every_page_ends_its_record,
    every_page_ends_its_record_as_documented
);

/// A table-markup page whose name image is `src`.
fn page_drawing_the_name_at(src: &str) -> String {
    std::fs::read_to_string(own_fixtures().join("report_diploma_table_variant.html"))
        .unwrap()
        .replace(
            "<div><span class=\"name-value\">\n          王晓雯\n      </span></div>",
            &format!("<img class=\"by_img\" src=\"{src}\">"),
        )
}

/// Drawn values that are no usable image each end in a defined state: the
/// record goes to a person (never verified unchecked, never rejected), or,
/// when the service fails to serve the image, it is retried.
async fn bad_drawn_images_end_in_defined_states(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // Over the client's cap for a drawn image, under the sandbox's.
    let mut big = std::fs::read(own_fixtures().join("img/name-chen-guohua.png")).unwrap();
    big.resize(700 * 1024, 0);
    std::fs::write(dir.path().join("big.png"), &big).unwrap();
    std::fs::write(
        dir.path().join("not-an-image.png"),
        b"<html>no image</html>",
    )
    .unwrap();
    let cases = [
        (
            "http://elsewhere.example.invalid/report/img/n.png",
            "needs_review report_incomplete",
        ),
        ("/report/img/big.png", "needs_review report_incomplete"),
        (
            "/report/img/not-an-image.png",
            "needs_review report_incomplete",
        ),
        ("", "needs_review report_incomplete"),
        ("/report/img/missing.png", "transient unexpected_status"),
    ];
    let mut faults = Faults::default();
    for (i, (src, _)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("page-{i}.html"));
        std::fs::write(&file, page_drawing_the_name_at(src)).unwrap();
        let (code, f) = serve_file(&code_for(200 + i), &file, None, dir.path());
        faults.per_code.insert(code, f);
    }
    let (sb, url) = common::sandbox_with(Registry {
        faults,
        ..Default::default()
    })
    .await;
    sb.serve_images_from(dir.path());
    let mut ids = Vec::new();
    for i in 0..cases.len() {
        let r = record("c-bad-images", "王晓雯", &code_for(200 + i), Kind::Diploma);
        ids.push(common::submit(db, &r).await);
    }
    let env = common::env_with_reader(db, &url, Some(common::ocr()));
    common::drain(&env, 2).await;
    for (id, (src, expected)) in ids.iter().zip(&cases) {
        let end = end_of(db, *id).await;
        assert!(
            end.starts_with(expected),
            "{src:?}: expected {expected}, got {end}"
        );
    }
}
on_both_backends!(bad_drawn_images, bad_drawn_images_end_in_defined_states);
