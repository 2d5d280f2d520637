//! Real Tesseract on real screenshots: every fixture in
//! `fixtures/screenshots/`, the held-out family in
//! `fixtures/screenshots-holdout/` and the shared samples, compared field by
//! field with its JSON. Prints per-field and per-layout accuracy and how
//! each 在线验证码 was reached; fails when a wrong 在线验证码 or certificate
//! number is emitted at all, when a clean image's code is not read, or when
//! the fields a verdict compares fall below 98%. The held-out family is
//! never tuned on: its floors are set below what it measured, so a change
//! that only fits the tuning set shows up there.
//!
//! Run optimised: `cargo test --release --test suite ocr_accuracy:: -- --nocapture`.

use std::path::Path;
use std::time::Instant;

use crate::common;
use crate::common::fixtures::{self, CodeReach, Fixture, Tally, VERDICT_FIELDS};
use credverify::ocr::{OcrConfig, OcrPool};
use credverify::vcode_trials::MAX_LOOKUPS;

const CODES: [&str; 2] = ["vcode", "certificate_no"];

/// The reader as a worker with `.line-reader/` runs it: Tesseract for the
/// page, PP-OCR reading names and codes again.
fn config() -> OcrConfig {
    OcrConfig {
        line_reader: Some(crate::common::line_reader::dir()),
        ..OcrConfig::default()
    }
}

fn read_all(pool: &OcrPool, fixtures: &[Fixture]) -> (Tally, CodeReach) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let results = rt.block_on(futures::future::join_all(fixtures.iter().map(|f| {
        let bytes = std::fs::read(&f.image).expect("fixture image readable");
        pool.read_screenshot(bytes)
    })));
    let mut tally = Tally::default();
    let mut codes = CodeReach::default();
    for (f, r) in fixtures.iter().zip(results) {
        match r {
            Ok(parsed) => {
                tally.add(f, &fixtures::flat(&parsed));
                codes.add(f, &parsed, MAX_LOOKUPS);
            }
            Err(e) => panic!("{}: {e}", f.name),
        }
    }
    (tally, codes)
}

fn report(title: &str, tally: &Tally, codes: &CodeReach, elapsed: f64) {
    println!("\n## {title}: {} images in {elapsed:.1} s\n", tally.images);
    println!("{}", tally.render());
    println!("{}\n", codes.render());
    println!("misses:\n{}", tally.render_misses());
}

/// No wrong code is ever emitted, and every clean image's codes are read.
fn assert_codes(title: &str, tally: &Tally) {
    for key in CODES {
        let all = tally.key(key);
        assert_eq!(all.wrong, 0, "{title}: a wrong {key} was emitted");
        let clean = tally.clean_key(key);
        assert_eq!(
            clean.right,
            clean.right + clean.omitted + clean.wrong,
            "{title}: {key} on clean images {:.1}%, must be 100%",
            clean.accuracy() * 100.0
        );
    }
}

#[test]
fn fixtures_are_read_accurately() {
    let pool = OcrPool::new(config()).expect("Tesseract with chi_sim");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/screenshots");
    let all = fixtures::load(&dir);
    assert!(
        !all.is_empty(),
        "no fixtures in {}: it should hold NAME.png|jpg + NAME.json",
        dir.display()
    );
    let start = Instant::now();
    let (tally, codes) = read_all(&pool, &all);
    report("fixtures", &tally, &codes, start.elapsed().as_secs_f64());
    assert_codes("fixtures", &tally);
    let verdict = tally.total(Some(&VERDICT_FIELDS));
    assert!(
        verdict.accuracy() >= 0.98,
        "verdict fields {:.2}% < 98%",
        verdict.accuracy() * 100.0
    );
    // Names: Tesseract alone read 51%; with the second line reader 91%
    // was measured (BENCHMARKS.md), the misses rare characters the model
    // lacks (䶮, 赟) or doubts (垚). The confidence floor then leaves out
    // doubtful names (88.8%, 1 wrong, 8 omitted): a name not read is
    // better than a name invented.
    let name = tally.key("name");
    assert!(
        name.accuracy() >= 0.85,
        "names {:.1}% < 85%",
        name.accuracy() * 100.0
    );
    let names_shown = tally.key("name").wrong + tally.key("principal").wrong;
    assert!(
        names_shown <= 12,
        "{names_shown} wrong names (姓名, 校(院)长姓名) shown; 10 measured with the floor, 17 without"
    );
}

#[test]
fn shared_samples_are_read_accurately() {
    // Realistic samples kept beside the project; the fixtures test above
    // covers every layout on its own.
    let Some(dir) = common::beside_the_project("samples") else {
        return;
    };
    let samples = fixtures::load(&dir);
    assert!(!samples.is_empty(), "no samples in {}", dir.display());
    let pool = OcrPool::new(config()).expect("Tesseract with chi_sim");
    let start = Instant::now();
    let (tally, codes) = read_all(&pool, &samples);
    report(
        "shared samples",
        &tally,
        &codes,
        start.elapsed().as_secs_f64(),
    );
    assert_codes("samples", &tally);
}

#[test]
fn held_out_family_is_read_accurately() {
    let pool = OcrPool::new(config()).expect("Tesseract with chi_sim");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/screenshots-holdout");
    let all = fixtures::load(&dir);
    assert!(
        all.len() >= 40,
        "{} holds {} fixtures: regenerate with scripts/gen-fixtures/run --holdout",
        dir.display(),
        all.len()
    );
    let start = Instant::now();
    let (tally, codes) = read_all(&pool, &all);
    report(
        "held-out family",
        &tally,
        &codes,
        start.elapsed().as_secs_f64(),
    );
    // Floors below what was measured (BENCHMARKS.md), not fitted to it: a
    // wrong certificate number is never emitted; the 在线验证码 is reached
    // (confirmed, or found within the lookups a record may spend) on at
    // least 90% of the images that print one (measured 95%: one code was
    // read the same wrong way by two readers, which the service's "unknown
    // code" turns into a review, not a rejection); the fields a verdict
    // compares at least 94% (measured 95.8%); names at least 90% (measured
    // 95% with the second line reader, 50% with Tesseract alone).
    assert_eq!(
        tally.key("certificate_no").wrong,
        0,
        "held out: a wrong certificate_no was emitted"
    );
    assert!(
        codes.reached() * 100 >= codes.shown * 90,
        "held out: {}",
        codes.render()
    );
    let verdict = tally.total(Some(&VERDICT_FIELDS));
    assert!(
        verdict.accuracy() >= 0.94,
        "held out: verdict fields {:.2}% < 94%",
        verdict.accuracy() * 100.0
    );
    let name = tally.key("name");
    assert!(
        name.accuracy() >= 0.90,
        "held out: names {:.1}% < 90%",
        name.accuracy() * 100.0
    );
    let names_shown = tally.key("name").wrong + tally.key("principal").wrong;
    assert!(
        names_shown <= 8,
        "held out: {names_shown} wrong names shown; 6 measured with the floor, 9 without"
    );
}
