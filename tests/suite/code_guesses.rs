//! 在线验证码 the reads did not agree on, end to end on both backends with
//! real Tesseract: the candidates are tried against the sandbox (which
//! counts the lookups), the one whose report names the candidate wins, and
//! when none does the record goes to a person with the candidates shown.
//! Screenshots of the held-out rendering family are never rejected.

use crate::common;

use std::collections::BTreeSet;

use common::TestDb;
use credverify::domain::{CredentialFields, IdNumber, ReasonCode, Status};
use credverify::parse::ParsedScreenshot;
use credverify::sandbox::{Registry, Sandbox};
use credverify::store::NewRecord;
use credverify::vcode_trials::MAX_LOOKUPS;

const HOLDOUT: &str = "screenshots-holdout";

fn expected(name: &str) -> serde_json::Value {
    common::fixture_expected(HOLDOUT, name)
}

fn image_of(name: &str) -> Vec<u8> {
    common::fixture(&common::fixture_image_path(HOLDOUT, name))
}

fn registry() -> Registry {
    Registry::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sandbox/screenshots-holdout-registry.json"
    )))
    .unwrap()
}

/// The candidate the screenshot shows uploads it; `typed_code` for pages
/// that print none.
fn upload(name: &str, typed_code: bool) -> NewRecord {
    let want = expected(name);
    NewRecord {
        candidate_id: format!("c-{name}"),
        name: want["name"].as_str().unwrap().to_string(),
        id_number: Some(IdNumber::parse(want["meta"]["id_number"].as_str().unwrap()).unwrap()),
        fields: CredentialFields {
            vcode: typed_code.then(|| want["meta"]["vcode"].as_str().unwrap().to_string()),
            ..Default::default()
        },
        idempotency_key: None,
        screenshot: Some(image_of(name)),
        screenshot_ref: None,
    }
}

fn reading_of(rec: &credverify::store::RecordView) -> ParsedScreenshot {
    serde_json::from_value(rec.screenshot_reading.clone().expect("the reading is kept")).unwrap()
}

/// Lookups the sandbox answered for the codes a record's reading offers.
fn lookups_for(sandbox: &Sandbox, reading: &ParsedScreenshot) -> u64 {
    let stats = sandbox.stats();
    let codes: BTreeSet<&String> = reading
        .vcode_candidates
        .iter()
        .chain(reading.fields.vcode.iter())
        .collect();
    codes
        .iter()
        .map(|c| stats.by_code.get(*c).copied().unwrap_or(0))
        .sum()
}

/// Submits `records`, drains a worker with real Tesseract against a sandbox
/// serving `registry`, and returns each record as decided.
async fn run(
    db: &TestDb,
    registry: Registry,
    records: Vec<NewRecord>,
) -> (Sandbox, Vec<credverify::store::RecordView>) {
    run_with(db, registry, records, common::ocr()).await
}

/// [`run`] with a given reader.
async fn run_with(
    db: &TestDb,
    registry: Registry,
    records: Vec<NewRecord>,
    reader: std::sync::Arc<dyn credverify::pipeline::ScreenshotReader>,
) -> (Sandbox, Vec<credverify::store::RecordView>) {
    let (sandbox, url) = common::sandbox_with(registry).await;
    let env = common::env_with_reader(db, &url, Some(reader));
    let mut ids = Vec::new();
    for r in &records {
        ids.push(common::submit(db, r).await);
    }
    common::drain_until_settled(&env, 2).await;
    let mut out = Vec::new();
    for id in ids {
        out.push(db.store.record(id).await.unwrap().unwrap());
    }
    (sandbox, out)
}

fn codes(rec: &credverify::store::RecordView) -> Vec<ReasonCode> {
    rec.reasons.iter().map(|r| r.code).collect()
}

/// The held-out screenshots that print a code, degraded ones and the two
/// whose codes the reader found hard (one read differently by its readers,
/// one read the same wrong way by two), uploaded without a typed code:
/// none is rejected, and no record spends more than the lookups allowed.
async fn held_out_screenshots_are_never_rejected(db: &TestDb) {
    let names = [
        "report-001",
        "report-007",
        "report-008",
        "report-010",
        "degree-002",
        "degree-003",
        "degree-008",
        "degree-010",
    ];
    let records = names.iter().map(|n| upload(n, false)).collect();
    let (sandbox, recs) = run(db, registry(), records).await;
    let mut verified = 0;
    for (name, rec) in names.iter().zip(&recs) {
        assert_ne!(
            rec.status,
            Status::Rejected,
            "{name}: rejected {:?}",
            codes(rec)
        );
        assert_ne!(rec.status, Status::Unverified, "{name}: undecided");
        let reading = reading_of(rec);
        let lookups = lookups_for(&sandbox, &reading);
        assert!(lookups <= MAX_LOOKUPS as u64, "{name}: {lookups} lookups");
        if rec.status == Status::Verified {
            verified += 1;
            let want = expected(name);
            assert_eq!(
                rec.authoritative.as_ref().unwrap().fields.name.as_deref(),
                want["name"].as_str(),
                "{name}"
            );
        } else {
            assert!(
                codes(rec)
                    .iter()
                    .all(|c| c.severity() != credverify::domain::reason::Severity::Reject),
                "{name}: {:?}",
                codes(rec)
            );
        }
    }
    // Measured: all but two go through. report-008's code is read the same
    // wrong way by two readers (unknown to the service, so a person looks);
    // degree-003's code is read (with the second line reader; found by
    // trying without it), but its 获学位日期 is misread, which a person
    // compares with the report.
    eprintln!("{verified} of {} verified", names.len());
    assert!(verified >= names.len() - 2, "only {verified} verified");
    common::assert_one_decision_each(db).await;
}
on_both_backends!(
    held_out_screenshots_end_to_end,
    held_out_screenshots_are_never_rejected
);

/// degree-003's code is read differently by Tesseract's readers: no code
/// is confirmed, and trying the candidates finds the candidate's report.
/// With the second line reader the reads agree on it (as on every held-out
/// code but one), so these tests read with Tesseract alone, as a worker
/// without `.line-reader` does.
const DISAGREEING: &str = "degree-003";

/// The 在线验证码 that [`DISAGREEING`] truly shows.
fn disagreeing_code() -> String {
    expected(DISAGREEING)["meta"]["vcode"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn run_disagreeing(
    db: &TestDb,
    registry: Registry,
) -> (Sandbox, Vec<credverify::store::RecordView>) {
    run_with(
        db,
        registry,
        vec![upload(DISAGREEING, false)],
        common::ocr_tesseract_only(),
    )
    .await
}

async fn a_code_the_reads_disagree_on_is_found_by_trying(db: &TestDb) {
    let (sandbox, recs) = run_disagreeing(db, registry()).await;
    let rec = &recs[0];
    let reading = reading_of(rec);
    assert_eq!(
        reading.fields.vcode, None,
        "the readers agree now: pick another fixture"
    );
    assert!(!reading.vcode_candidates.is_empty());
    let want = disagreeing_code();
    assert_eq!(
        sandbox.stats().by_code.get(&want),
        Some(&1),
        "the right code was one of the lookups"
    );
    // The service's report for the found code is the candidate's, and it is
    // what the verdict compared: no code reason is left. (A misread date on
    // this image still sends it to a person, as any misread does.)
    let report = rec.authoritative.as_ref().expect("the report was found");
    assert_eq!(
        report.fields.name.as_deref(),
        Some(rec.candidate_name.as_str())
    );
    assert_ne!(rec.status, Status::Rejected);
    assert!(
        codes(rec).iter().all(|c| *c != ReasonCode::VcodeUncertain),
        "{:?}",
        rec.reasons
    );
    let stats = sandbox.stats();
    assert!(
        stats.requests >= 1 && stats.requests <= MAX_LOOKUPS as u64,
        "{stats:?}"
    );
}
on_both_backends!(
    disagreeing_reads_end_to_end,
    a_code_the_reads_disagree_on_is_found_by_trying
);

/// No candidate is known to the service: a person looks, with the
/// candidates shown by `credverify show`; at most three lookups were spent.
async fn when_no_candidate_works_a_person_decides(db: &TestDb) {
    let want = disagreeing_code();
    let mut reg = registry();
    reg.reports.retain(|r| r.vcode != want);
    let (sandbox, recs) = run_disagreeing(db, reg).await;
    let rec = &recs[0];
    assert_eq!(rec.status, Status::NeedsReview, "{:?}", rec.reasons);
    assert_eq!(codes(rec), vec![ReasonCode::VcodeUncertain]);
    let reading = reading_of(rec);
    let tried = reading.vcode_candidates.len().min(MAX_LOOKUPS) as u64;
    assert_eq!(sandbox.stats().requests, tried);
    let detail = rec.reasons[0].detail.clone().unwrap_or_default();
    assert!(detail.contains(&format!("tried {tried} of")), "{detail}");
    assert!(
        !detail.contains(&reading.vcode_candidates[0]),
        "codes stay out of the candidate's message"
    );

    let out = common::bin()
        .args(["--database-url", &db.url, "show", &rec.id.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("vcode_uncertain"), "{text}");
    for c in &reading.vcode_candidates {
        assert!(text.contains(c.as_str()), "show lists {c}: {text}");
    }
}
on_both_backends!(
    no_candidate_works_end_to_end,
    when_no_candidate_works_a_person_decides
);

/// The right code leads to a report of someone else (as a wrong guess
/// could): it verifies nobody, and is no rejection either.
async fn someone_elses_report_verifies_nobody(db: &TestDb) {
    let want = disagreeing_code();
    let mut reg = registry();
    for r in reg.reports.iter_mut().filter(|r| r.vcode == want) {
        r.fields.name = Some("司马未名".into());
    }
    let (_sandbox, recs) = run_disagreeing(db, reg).await;
    let rec = &recs[0];
    assert_eq!(rec.status, Status::NeedsReview, "{:?}", rec.reasons);
    assert_eq!(codes(rec), vec![ReasonCode::VcodeUncertain]);
    let detail = rec.reasons[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("another person's report"), "{detail}");
    assert!(!detail.contains("司马未名"), "{detail}");
}
on_both_backends!(
    someone_elses_report_end_to_end,
    someone_elses_report_verifies_nobody
);
