//! The bad-input corpus (`fixtures/bad/`, outcomes in `expected.json`):
//! every corrupt upload and every hostile verification-service page ends in
//! a defined state with a clear reason, end to end through a real worker,
//! real OCR engines and a real HTTP server, on both backends. The worker
//! never panics, a service-side problem never rejects a record, and a huge
//! answer does not grow the worker's memory.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestDb;
use credverify::chsi::{ChsiClient, ChsiConfig};
use credverify::domain::{CredentialFields, Status};
use credverify::ocr::{Limits, OcrConfig, OcrPool};
use credverify::pipeline::{Env, ScreenshotReader};
use credverify::retry::RetryPolicy;
use credverify::sandbox::Registry;
use credverify::store::NewRecord;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One test of this module at a time, and the memory check in a process of
/// its own ([`common::rerun_alone`]): it reads the process's peak resident
/// size, which any test running beside it would move.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The cases made here rather than committed: a 50 MB service body and an
/// upload over the 15 MiB intake limit.
const FLOOD_BYTES: u64 = 50 * 1024 * 1024;
const OVERSIZED_BYTES: usize = 16 * 1024 * 1024;
const SERVICE_TIMEOUT: Duration = Duration::from_secs(2);
const RETRY_BASE: Duration = Duration::from_secs(60);

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Want {
    status: String,
    /// Decided records: the one reason code.
    #[serde(default)]
    reason: Option<String>,
    /// Decided records: what the reason's detail must say.
    #[serde(default)]
    detail: Option<String>,
    /// Decided records: the image decoded and was read (its reading kept).
    #[serde(default)]
    decoded: bool,
    /// Undecided records: the failure is transient and a retry is scheduled.
    #[serde(default)]
    transient: bool,
    /// Undecided records: the failure's kind, first in `last_error`.
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_detail: Option<String>,
    /// Undecided records: text of the page (codes, ID numbers, names) that
    /// must be found in neither `last_error` nor any event.
    #[serde(default)]
    never_kept: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    images: BTreeMap<String, Want>,
    generated_images: BTreeMap<String, Want>,
    pages: BTreeMap<String, Want>,
    generated_pages: BTreeMap<String, Want>,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(corpus().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json is valid")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n != "README.md" && n != "expected.json")
        .collect();
    names.sort();
    names
}

#[test]
fn every_corpus_file_has_an_expected_outcome() {
    let e = expected();
    assert_eq!(
        files_in(&corpus()),
        e.images.keys().cloned().collect::<Vec<_>>(),
        "fixtures/bad/ and expected.json \"images\" list the same files"
    );
    assert_eq!(
        files_in(&corpus().join("pages")),
        e.pages.keys().cloned().collect::<Vec<_>>(),
        "fixtures/bad/pages/ and expected.json \"pages\" list the same files"
    );
    for (name, want) in e.images.iter().chain(&e.generated_images) {
        assert_eq!(
            want.status, "rejected",
            "{name}: an upload is the candidate's to fix"
        );
        assert!(want.reason.is_some() && !want.transient, "{name}");
    }
    for (name, want) in e.pages.iter().chain(&e.generated_pages) {
        assert_eq!(
            want.status, "unverified",
            "{name}: a service problem is never a decision"
        );
        assert!(
            want.transient && want.error.is_some() && want.reason.is_none(),
            "{name}"
        );
    }
    let total: u64 = files_in(&corpus())
        .iter()
        .map(|n| corpus().join(n))
        .chain(
            files_in(&corpus().join("pages"))
                .iter()
                .map(|n| corpus().join("pages").join(n)),
        )
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        total < 1024 * 1024,
        "the committed corpus stays small: {total} bytes"
    );
}

/// Submits case `name`'s record and returns its id; a refusal fails the
/// test, naming the case.
async fn submit_case(db: &TestDb, name: &str, new: &NewRecord) -> i64 {
    db.store
        .submit(new)
        .await
        .unwrap_or_else(|e| panic!("{name}: submit: {e}"))
        .record_id
}

fn submission(
    candidate: String,
    fields: CredentialFields,
    screenshot: Option<Vec<u8>>,
) -> NewRecord {
    NewRecord {
        candidate_id: candidate,
        name: "测试考生".into(),
        id_number: None,
        fields,
        idempotency_key: None,
        screenshot,
        screenshot_ref: None,
    }
}

/// Jobs that died (a panic, a job error) rather than ending in a decision or
/// a scheduled retry.
async fn dead_jobs(db: &TestDb) -> i64 {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM {} WHERE status IN ('Failed', 'Killed')",
        db.jobs_table()
    ))
    .await
}

// --- uploads -------------------------------------------------------------------

/// Bytes over the intake limit: a real PNG with 16 MiB of trailing zeros.
fn oversized() -> Vec<u8> {
    assert!(OVERSIZED_BYTES > Limits::default().max_bytes);
    let mut bytes = std::fs::read(corpus().join("blank.png")).unwrap();
    bytes.resize(OVERSIZED_BYTES, 0);
    bytes
}

async fn bad_uploads(db: &TestDb) {
    let _one_at_a_time = SERIAL.lock().await;
    let expected = expected();
    let mut uploads: Vec<(String, Vec<u8>, Want)> = expected
        .images
        .iter()
        .map(|(name, want)| {
            let bytes =
                std::fs::read(corpus().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name.clone(), bytes, want.clone())
        })
        .collect();
    uploads.push((
        "oversized.png".into(),
        oversized(),
        expected.generated_images["oversized.png"].clone(),
    ));

    // An empty registry: a code that reached the service would be answered
    // "invalid", and counted.
    let (sandbox, url) = common::sandbox_with(Registry::default()).await;
    let pool = OcrPool::new(OcrConfig {
        threads: 1,
        ..Default::default()
    })
    .expect("Tesseract with chi_sim");
    let reader: Arc<dyn ScreenshotReader> = Arc::new(pool);
    let env = common::env_with_reader(db, &url, Some(reader));

    let mut ids = Vec::new();
    for (i, (name, bytes, _)) in uploads.iter().enumerate() {
        let new = submission(
            format!("bad-upload-{i}"),
            CredentialFields::default(),
            Some(bytes.clone()),
        );
        ids.push(submit_case(db, name, &new).await);
    }
    common::drain(&env, 2).await;

    for ((name, _, want), id) in uploads.iter().zip(&ids) {
        let rec = db.store.record(*id).await.unwrap().unwrap();
        let codes: Vec<&str> = rec.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(
            rec.status.as_str(),
            want.status,
            "{name}: reasons {codes:?}, last error {:?}",
            rec.last_error
        );
        assert_eq!(codes, [want.reason.as_deref().unwrap()], "{name}");
        let reason = &rec.reasons[0];
        assert!(
            !reason.message.trim().is_empty(),
            "{name}: a message the candidate can act on"
        );
        if let Some(detail) = &want.detail {
            let got = reason.detail.as_deref().unwrap_or_default();
            assert!(
                got.contains(detail.as_str()),
                "{name}: detail {got:?}, wanted {detail:?}"
            );
        }
        assert_eq!(
            rec.screenshot_reading.is_some(),
            want.decoded,
            "{name}: read by OCR exactly when it decoded: {:?}",
            rec.screenshot_reading
        );
        let events = db.store.events(*id).await.unwrap();
        let decisions: Vec<_> = events
            .iter()
            .filter(|e| e.from == Some(Status::Unverified) && e.to != Status::Unverified)
            .collect();
        assert_eq!(decisions.len(), 1, "{name}: one decision: {events:?}");
        assert_eq!(decisions[0].to, rec.status, "{name}");
        assert_eq!(
            decisions[0]
                .reasons
                .iter()
                .map(|r| r.code.as_str())
                .collect::<Vec<_>>(),
            codes,
            "{name}: the event carries the reasons"
        );
    }
    common::assert_one_decision_each(db).await;
    assert_eq!(dead_jobs(db).await, 0, "no job died");
    assert_eq!(
        sandbox.stats().requests,
        0,
        "no bad upload reached the verification service"
    );
}
on_both_backends!(every_bad_upload_ends_in_a_defined_state, bad_uploads);

// --- verification-service pages ------------------------------------------------

/// How the hostile service answers one code.
#[derive(Clone)]
enum Answer {
    /// A page from the corpus.
    Page { body: Arc<Vec<u8>>, gzip: bool },
    /// 50 MB as fast as the client reads, with or without declaring it.
    Flood { declared: bool },
    /// Headers, then a few bytes every 100 ms, never finishing.
    Trickle,
    /// Reads the request and never answers.
    Silent,
}

/// A real HTTP/1.1 server that answers by the request's `vcode`, streaming
/// its floods from one small buffer so the only 50 MB body in this process
/// would be one the client kept.
struct HostileService {
    url: String,
    hits: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl HostileService {
    async fn start(routes: BTreeMap<String, Answer>) -> HostileService {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes = Arc::new(routes);
        let hits = Arc::new(Mutex::new(BTreeMap::new()));
        let counted = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, Arc::clone(&routes), Arc::clone(&counted)));
            }
        });
        HostileService { url, hits }
    }

    fn hits(&self, code: &str) -> u32 {
        self.hits.lock().unwrap().get(code).copied().unwrap_or(0)
    }
}

async fn serve(
    mut sock: TcpStream,
    routes: Arc<BTreeMap<String, Answer>>,
    hits: Arc<Mutex<BTreeMap<String, u32>>>,
) {
    let Some(head) = common::read_request_head(&mut sock).await else {
        return;
    };
    let line = head.lines().next().unwrap_or_default();
    let code = line
        .split_once("vcode=")
        .map(|(_, rest)| rest.split(['&', ' ']).next().unwrap_or_default())
        .unwrap_or_default()
        .to_string();
    let Some(answer) = routes.get(&code) else {
        let _ = sock
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    };
    *hits.lock().unwrap().entry(code).or_default() += 1;
    // Write errors mean the client hung up, which is what it should do.
    let _ = answer_with(&mut sock, answer).await;
}

async fn answer_with(sock: &mut TcpStream, answer: &Answer) -> std::io::Result<()> {
    const HTML: &str = "Content-Type: text/html; charset=utf-8\r\nConnection: close\r\n";
    match answer {
        Answer::Page { body, gzip } => {
            let encoding = if *gzip {
                "Content-Encoding: gzip\r\n"
            } else {
                ""
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\n{HTML}{encoding}Content-Length: {}\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await?;
            sock.write_all(body).await?;
        }
        Answer::Flood { declared } => {
            let block = vec![b'<'; 64 * 1024];
            if *declared {
                let head =
                    format!("HTTP/1.1 200 OK\r\n{HTML}Content-Length: {FLOOD_BYTES}\r\n\r\n");
                sock.write_all(head.as_bytes()).await?;
                let mut sent = 0;
                while sent < FLOOD_BYTES {
                    sock.write_all(&block).await?;
                    sent += block.len() as u64;
                }
            } else {
                let head = format!("HTTP/1.1 200 OK\r\n{HTML}Transfer-Encoding: chunked\r\n\r\n");
                sock.write_all(head.as_bytes()).await?;
                let mut sent = 0;
                while sent < FLOOD_BYTES {
                    sock.write_all(format!("{:x}\r\n", block.len()).as_bytes())
                        .await?;
                    sock.write_all(&block).await?;
                    sock.write_all(b"\r\n").await?;
                    sent += block.len() as u64;
                }
                sock.write_all(b"0\r\n\r\n").await?;
            }
        }
        Answer::Trickle => {
            let head = format!("HTTP/1.1 200 OK\r\n{HTML}Transfer-Encoding: chunked\r\n\r\n");
            sock.write_all(head.as_bytes()).await?;
            // Bounded only so a broken client cannot keep this test alive;
            // the pause is the trickle's pace, not a wait for anything.
            for _ in 0..600 {
                sock.write_all(b"5\r\n<div>\r\n").await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Answer::Silent => {
            // Until the client gives up and closes.
            let mut buf = [0u8; 256];
            let _ = tokio::time::timeout(Duration::from_secs(60), sock.read(&mut buf)).await;
        }
    }
    Ok(())
}

/// The process's resident size (`VmRSS`) or its peak (`VmHWM`), in KiB.
fn memory_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resets the peak to the current size (Linux ≥ 4.0); the size, if it could.
fn reset_peak_memory() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    memory_kib("VmRSS")
}

fn answer_for(name: &str) -> Answer {
    match name {
        "50mb-chunked" => Answer::Flood { declared: false },
        "50mb-declared-length" => Answer::Flood { declared: true },
        "never-ending" => Answer::Trickle,
        "no-answer" => Answer::Silent,
        // Just under the body cap, so it is read and must be refused unparsed.
        "lt-flood" => Answer::Page {
            body: Arc::new(vec![b'<'; ChsiConfig::default().max_body_bytes - 1]),
            gzip: false,
        },
        file => Answer::Page {
            body: Arc::new(
                std::fs::read(corpus().join("pages").join(file))
                    .unwrap_or_else(|e| panic!("{file}: {e} (no server behaviour for it?)")),
            ),
            gzip: file.ends_with(".gz"),
        },
    }
}

async fn hostile_pages(db: &TestDb) {
    if common::rerun_alone() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let expected = expected();
    let cases: Vec<(String, String, Want)> = expected
        .pages
        .iter()
        .chain(&expected.generated_pages)
        .enumerate()
        .map(|(i, (name, want))| (name.clone(), format!("BADPAGE{i:09}"), want.clone()))
        .collect();
    let routes = cases
        .iter()
        .map(|(name, code, _)| (code.clone(), answer_for(name)))
        .collect();
    let service = HostileService::start(routes).await;
    let chsi = ChsiClient::new(ChsiConfig {
        base_url: service.url.clone(),
        rate_per_second: 0.0,
        timeout: SERVICE_TIMEOUT,
        back_off: Duration::from_millis(10),
        // What the plain client makes of each page, asked once; the browser
        // behind `auto` has its own tests (tests/suite/front_door.rs).
        fetch: credverify::chsi::FetchMode::Http,
        ..ChsiConfig::default()
    })
    .unwrap();
    let max_body = chsi.config().max_body_bytes as u64;
    assert!(
        FLOOD_BYTES > 20 * max_body,
        "the flood is far over the body cap"
    );
    // Retries far enough out that each page is asked for exactly once here.
    let env = Arc::new(Env {
        store: db.store.clone(),
        chsi,
        retry: RetryPolicy {
            base: RETRY_BASE,
            max: RETRY_BASE * 2,
            max_retries: 4,
            jitter: 0.0,
        },
        reader: None,
        uploads: credverify::uploads::Uploads::new(Default::default()).unwrap(),
        id_key: Some(credverify::domain::IdKey::generate()),
    });

    let mut ids = Vec::new();
    for (i, (name, code, _)) in cases.iter().enumerate() {
        let fields = CredentialFields::from_manual_json(
            &serde_json::json!({"kind": "diploma", "vcode": code}).to_string(),
        )
        .unwrap();
        let new = submission(format!("bad-page-{i}"), fields, None);
        ids.push(submit_case(db, name, &new).await);
    }

    let before = reset_peak_memory();
    common::drain(&env, cases.len()).await;
    let peak = memory_kib("VmHWM");

    for ((name, code, want), id) in cases.iter().zip(&ids) {
        assert_eq!(service.hits(code), 1, "{name}: asked for exactly once");
        let rec = db.store.record(*id).await.unwrap().unwrap();
        let error = rec.last_error.clone().unwrap_or_default();
        assert_eq!(
            rec.status.as_str(),
            want.status,
            "{name}: {:?}, last error {error:?}",
            rec.reasons
        );
        assert_eq!(rec.status, Status::Unverified, "{name}");
        assert!(
            rec.reasons.is_empty(),
            "{name}: no reasons: {:?}",
            rec.reasons
        );
        let kind = want.error.as_deref().unwrap();
        assert!(
            error.starts_with(&format!("{kind}: ")),
            "{name}: last error {error:?}, wanted kind {kind}"
        );
        if let Some(detail) = &want.error_detail {
            assert!(error.contains(detail.as_str()), "{name}: {error:?}");
        }
        assert!(
            !error.contains(code.as_str()),
            "{name}: the error carries the whole code"
        );
        assert_eq!(rec.attempts, 1, "{name}");
        assert!(!rec.retries_exhausted, "{name}");
        let next = rec
            .next_attempt_at
            .unwrap_or_else(|| panic!("{name}: a retry is scheduled"));
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        assert!(
            wait > RETRY_BASE / 2,
            "{name}: the retry backs off ({wait:?}), not an immediate re-poll"
        );
        let events = db.store.events(*id).await.unwrap();
        assert!(
            events.iter().all(|e| e.to == Status::Unverified),
            "{name}: no decision: {events:?}"
        );
        let kept = format!("{error}\n{}", serde_json::to_string(&events).unwrap());
        for secret in &want.never_kept {
            assert!(
                !kept.contains(secret.as_str()),
                "{name}: `{secret}` kept in {kept}"
            );
        }
    }
    common::assert_one_decision_each(db).await;
    assert_eq!(dead_jobs(db).await, 0, "no job died");
    // Pages that never end are cut off by the client's timeout: their cases
    // above ended in a `timeout` error, which a trickle outliving it would
    // not (it would end as a broken body, a minute later). How long the
    // whole drain took on a busy machine is not the property; a hang fails
    // the drain's own bound.

    // Three 50 MB answers were cut at the body cap and a body of `<` just
    // under it was refused unparsed: had a body been kept, the peak would
    // have grown by 50 MB or more; had the `<` been parsed, by ~160 MiB.
    match (before, peak) {
        (Some(before), Some(peak)) => {
            let grown_mib = peak.saturating_sub(before) / 1024;
            eprintln!("peak resident size grew by {grown_mib} MiB while serving the hostile pages");
            assert!(
                grown_mib < 24,
                "the worker's memory grew by {grown_mib} MiB serving 50 MB bodies"
            );
        }
        _ => eprintln!(
            "cannot reset or read the peak resident size here; the body cap is shown by the errors alone"
        ),
    }
}
on_both_backends!(
    hostile_service_pages_leave_records_unverified,
    hostile_pages
);
