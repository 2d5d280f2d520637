//! Hostile input, each case kept as a test: the repro is the
//! input, the outcome is a defined state with a clear reason (both backends
//! where storage is involved).

use crate::common;

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::TestDb;
use credverify::chsi::Transient;
use credverify::domain::{CredentialFields, Status, VerificationCode};
use credverify::ocr::engine::{Budget, Engine};
use credverify::ocr::{EngineError, OcrConfig, OcrPool, ScreenshotError, WALL_PER_DEADLINE};
use credverify::store::{ListFilter, NewRecord, Store, SubmitError};
use credverify::uploads::{FetchError, Uploads, UploadsConfig};
use credverify::verdict::Lookup;
use image::{GrayImage, ImageFormat, Luma};
use tokio::io::AsyncWriteExt;

/// A 6300×6300 page of 9-px "text": passes the 40 MP intake limit, and the
/// 28-px text target would enlarge it ×3 to 357 MP.
fn giant_tiny_text() -> Vec<u8> {
    glyph_noise(6300, 9)
}

/// A `side`² page of lines of random `glyph`-px strokes: text-like enough
/// for the line finder and for Tesseract, meaningless to both.
fn glyph_noise(side: u32, glyph: u32) -> Vec<u8> {
    let mut img = GrayImage::from_pixel(side, side, Luma([255]));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let stroke = (glyph / 9).max(1);
    for top in (4..side - glyph - 4).step_by(glyph as usize * 3 / 2 + 1) {
        let mut x = 4;
        while x + glyph + 2 < side {
            // One glyph: vertical and horizontal strokes in a glyph² cell.
            let bits = next();
            for i in 0..8u32 {
                let at = i * (glyph - stroke) / 7;
                for w in 0..stroke {
                    if bits >> i & 1 == 1 {
                        for y in top..top + glyph {
                            img.put_pixel(x + at + w, y, Luma([0]));
                        }
                    }
                    if bits >> (8 + i) & 1 == 1 {
                        for dx in 0..glyph {
                            img.put_pixel(x + dx, top + at + w, Luma([0]));
                        }
                    }
                }
            }
            let gap = if bits >> 30 & 3 == 0 {
                glyph * 2
            } else {
                glyph / 8 + 1
            };
            x += glyph + gap;
        }
    }
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).expect("png");
    out.into_inner()
}

// --- 1. OCR has a deadline -----------------------------------------------------

/// Reads `bytes` with a one-thread pool whose OCR deadline is `deadline`,
/// expecting the read to end unreadable (`why` says so in a failure);
/// returns the error's detail. A read still going after `within` fails the
/// test: that bound is for a read that never ends, so it is generous.
fn read_to_unreadable(bytes: Vec<u8>, deadline: Duration, within: Duration, why: &str) -> String {
    let pool = OcrPool::new(OcrConfig {
        threads: 1,
        deadline,
        ..OcrConfig::default()
    })
    .expect("Tesseract with chi_sim");
    let started = Instant::now();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(pool.read_screenshot_blocking(bytes));
    });
    let e = result
        .recv_timeout(within)
        .unwrap_or_else(|_| panic!("{why}: still reading after {within:?}"))
        .expect_err(why);
    eprintln!("{why}: ended in {:?}: {e}", started.elapsed());
    match e {
        ScreenshotError::Unreadable { detail } => detail,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_huge_page_of_tiny_text_ends_unreadable_in_bounded_time() {
    let bytes = giant_tiny_text();
    assert!(bytes.len() < 15 * 1024 * 1024, "passes the byte limit");
    // No Tesseract at all: the time is decoding and measuring 40 MP, ~26 s
    // in an unoptimised test build on a busy machine (it ran past 400 s
    // before).
    let detail = read_to_unreadable(
        bytes,
        Duration::from_secs(4),
        Duration::from_secs(180),
        "the giant page is too large to read in time",
    );
    assert!(detail.contains("too large to read in time"), "{detail}");
    assert!(detail.contains("6300×6300"), "{detail}");
}

#[test]
fn recognition_stops_at_the_deadline() {
    // Legible (28-px) glyphs, so nothing refuses it before Tesseract: a
    // dense page whose recognition takes far longer than a second.
    let detail = read_to_unreadable(
        glyph_noise(2000, 28),
        Duration::from_secs(1),
        Duration::from_secs(60),
        "the dense page is not read in time",
    );
    assert!(
        detail.contains("not read within 1 s"),
        "Tesseract's deadline ended it: {detail}"
    );
}

/// Sets its flag when dropped: spinners stop even when the test panics.
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Spinning threads enough that a thread sharing their processor gets a
/// sixteenth of it: a read then needs 16 times what it took alone, far
/// past a limit of 3 times that. Few enough that the starved read's
/// decoding and preparing, which no clock cuts, end within seconds.
const SPINNERS: usize = 15;

/// Three reads on a thread pinned to one processor, each by
/// `read(&mut setup(limit))` where `limit` is the clock limit: one with a
/// generous limit, to learn what a read takes with the processor to
/// itself; then, under a limit [`WALL_PER_DEADLINE`] times that, one
/// alone and one while [`SPINNERS`] threads spin on the same processor.
/// Gives the last two and the limit. Everything `setup` starts (an OCR
/// pool's thread) is started on the pinned thread, so shares its processor.
fn alone_then_starved<S, T: Send + 'static, E: std::fmt::Debug + Send + 'static>(
    setup: impl Fn(Duration) -> S + Send + 'static,
    read: impl Fn(&mut S) -> Result<T, E> + Send + 'static,
) -> (Result<T, E>, Result<T, E>, Duration) {
    std::thread::spawn(move || {
        // SAFETY: a zeroed cpu_set_t is empty; get/setaffinity read and
        // write one of the size given, for the calling thread only.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
            let cpu = (0..libc::CPU_SETSIZE as usize)
                .find(|&c| libc::CPU_ISSET(c, &set))
                .expect("a processor to run on");
            libc::CPU_ZERO(&mut set);
            libc::CPU_SET(cpu, &mut set);
            assert_eq!(libc::sched_setaffinity(0, size, &set), 0, "pin");
        }
        let mut generous = setup(Duration::from_secs(120));
        let started = Instant::now();
        read(&mut generous).expect("a read with the processor to itself");
        let limit = started.elapsed() * WALL_PER_DEADLINE;
        let mut limited = setup(limit);
        let alone = read(&mut limited);
        let stop = StopOnDrop(Arc::default());
        for _ in 0..SPINNERS {
            let stop = Arc::clone(&stop.0);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        (alone, read(&mut limited), limit)
    })
    .join()
    .expect("the pinned thread")
}

#[test]
fn a_screenshot_the_machine_starved_is_retried_not_rejected() {
    let bytes = common::fixture(&common::fixture_image_path("screenshots", "report-001"));
    let (alone, starved, limit) = alone_then_starved(
        |limit| {
            OcrPool::new(OcrConfig {
                threads: 1,
                deadline: Duration::from_secs(30),
                wall_deadline: limit,
                ..OcrConfig::default()
            })
            .expect("Tesseract with chi_sim")
        },
        move |pool| pool.read_screenshot_blocking(bytes.clone()),
    );
    eprintln!("starved at a {limit:?} limit: {starved:?}");
    assert!(alone.is_ok(), "unstarved within the limit: {alone:?}");
    let e = starved.expect_err("starved past the limit");
    let ScreenshotError::Engine(EngineError::Starved { cpu, wall }) = &e else {
        panic!("a starved read is ours, not an unreadable image: {e:?}");
    };
    assert!(*cpu < Duration::from_secs(30), "{e}");
    assert!(*wall >= limit, "{e}");
    assert_eq!(
        e.reason(),
        None,
        "the busy machine is ours: retried, not the candidate's"
    );
}

#[test]
fn tesseract_starved_mid_page_stops_at_the_clock_with_processor_time_unspent() {
    let gray = credverify::ocr::intake::decode(
        &common::fixture(&common::fixture_image_path("screenshots", "report-002")),
        &credverify::ocr::Limits::default(),
    )
    .expect("decode");
    let page = credverify::ocr::preprocess::prepare(gray, &Default::default()).image;
    let cpu = Duration::from_secs(30);
    let (alone, starved, limit) = alone_then_starved(
        move |wall| {
            let engine = Engine::new(None, "chi_sim").expect("Tesseract with chi_sim");
            (engine, Budget { cpu, wall })
        },
        // The watch starts with the recognition, so a stop past the limit
        // is Tesseract asking between words, not the check before it.
        move |(engine, budget)| engine.read_page(&page, *budget).map(|_| ()),
    );
    eprintln!("starved at a {limit:?} limit: {starved:?}");
    assert_eq!(alone, Ok(()), "unstarved within the limit");
    match starved {
        Err(EngineError::Starved { cpu: used, wall }) => {
            assert!(used < cpu && wall >= limit, "{used:?} in {wall:?}");
        }
        other => panic!("{other:?}"),
    }
}

// --- 3. One hostile row never stops a listing or the sweep --------------------

fn vcode_record(candidate: &str) -> NewRecord {
    let fields = CredentialFields {
        vcode: Some("A7K2M9QX4TB8R5WZ".into()),
        ..CredentialFields::default()
    };
    common::typed_record(candidate, "王晓雯", fields)
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

async fn damaged_rows_are_listed_and_swept_around(db: &TestDb) {
    let bad = common::submit(db, &vcode_record("c-bad")).await;
    let stranded = common::submit(db, &vcode_record("c-ok")).await;
    // Written behind intake's back, as a hostile producer once could.
    db.exec(&format!(
        "UPDATE records SET claimed = '{{\"school\": {}}}' WHERE id = {bad}",
        nested(200)
    ))
    .await;
    // The other record's job is gone: only the sweep can bring it back.
    db.exec(&format!("DELETE FROM {}", db.jobs_table())).await;
    db.exec("UPDATE records SET job_id = NULL").await;

    let listed = db.store.list(&ListFilter::default()).await.expect("list");
    assert_eq!(listed.len(), 2, "both records listed");
    let shown = db.store.record(bad).await.expect("show").expect("exists");
    assert!(
        shown.damaged.iter().any(|d| d.starts_with("claimed")),
        "{:?}",
        shown.damaged
    );
    assert!(
        db.store.job_record(bad).await.is_err(),
        "never verified blind"
    );

    let requeued = credverify::queue::sweep(&db.store, Duration::ZERO)
        .await
        .expect("the sweep completes");
    assert_eq!(requeued, 1, "the undamaged record is re-queued");
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM records WHERE id = {stranded} AND job_id IS NOT NULL"
        ))
        .await,
        1
    );

    for args in [
        vec!["list".to_string()],
        vec!["list".into(), "--json".into()],
        vec!["show".into(), bad.to_string()],
        vec!["sweep".into(), "--quiet-secs".into(), "0".into()],
    ] {
        eprintln!("credverify {args:?}");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::ok(&common::run_cli(db, &args));
    }
}
on_both_backends!(
    damaged_rows_never_stop_listing_or_sweeping,
    damaged_rows_are_listed_and_swept_around
);

// --- 4. One intake, one set of rules --------------------------------------------

/// Typed fields every intake must refuse, and the field the refusal names.
fn refused_fields() -> Vec<(String, &'static str)> {
    let with_code = |extra: &str| format!(r#"{{"vcode": "A7K2M9QX4TB8R5WZ", {extra}}}"#);
    let mut cases: Vec<(String, &'static str)> = [
        (r#""graduation_date": "2021/06/30""#, "graduation_date"),
        (r#""graduation_date": "2021-13-45""#, "graduation_date"),
        (r#""birth_date": "0000-00-00""#, "birth_date"),
        (r#""graduation_date": "2026-02-30""#, "graduation_date"),
        (r#""gender": "M""#, "gender"),
        (r#""gender": "X""#, "gender"),
        (r#""certificate_no": "abc""#, "certificate_no"),
        (r#""duration": "four""#, "duration"),
        (r#""duration": "1e9""#, "duration"),
        (r#""duration": 4"#, "duration"),
        (r#""school": {"a": 1}"#, "school"),
        (r#""school": [1]"#, "school"),
        (r#""school": "a\u001b]0;owned\u0007b""#, "school"),
    ]
    .into_iter()
    .map(|(extra, field)| (with_code(extra), field))
    .collect();
    cases.push((with_code(&format!(r#""major": {}"#, nested(200))), "major"));
    cases.push((r#"{"vcode": "ſBCDEFGH12345678"}"#.into(), "vcode"));
    cases.push((r#"{"vcode": "ıBCDEFGH12345678"}"#.into(), "vcode"));
    cases
}

async fn every_intake_refuses_the_same_things(db: &TestDb) {
    for (json, field) in refused_fields() {
        let named = format!("field `{field}`");
        // The CLI's and the library's path: typed fields are parsed first.
        // JSON nested past the parser's depth is refused as a whole file,
        // before any key is read.
        match CredentialFields::from_manual_json(&json) {
            Err(e) => assert!(
                e.to_string().contains(&named)
                    || (json.contains(&nested(200)) && e.field == "(file)"),
                "{json}: {e}"
            ),
            Ok(fields) => {
                let mut new = vcode_record("c-rules");
                new.fields = fields;
                match db.store.submit(&new).await {
                    Err(SubmitError::Invalid(m)) => assert!(m.contains(&named), "{json}: {m}"),
                    other => panic!("{json}: accepted: {other:?}"),
                }
            }
        }
        if let Store::Postgres(pool) = &db.store {
            let e = sqlx::query("SELECT credverify.submit_record('c-rules', '王晓雯', $1::jsonb)")
                .bind(&json)
                .execute(pool.pool())
                .await
                .expect_err(&json);
            let db_err = e.as_database_error().expect("a database error");
            assert_eq!(db_err.code().as_deref(), Some("CV002"), "{json}: {e}");
            assert!(db_err.message().contains(&named), "{json}: {e}");
        }
    }

    // Identifiers, names and sizes, through the library on both backends.
    let mut long_id = vcode_record(&"c".repeat(7838));
    let mut long_name = vcode_record("c-rules");
    long_name.name = "名".repeat(1_000_000);
    let mut escape_name = vcode_record("c-rules");
    escape_name.name = "王\u{1b}[2J晓雯".into();
    let mut big_shot = vcode_record("c-rules");
    big_shot.screenshot = Some(vec![0u8; 21 * 1024 * 1024]);
    long_id.idempotency_key = None;
    for (new, field) in [
        (long_id, "candidate_id"),
        (long_name, "name"),
        (escape_name, "name"),
        (big_shot, "screenshot"),
    ] {
        match db.store.submit(&new).await {
            Err(SubmitError::Invalid(m)) => {
                assert!(m.contains(&format!("field `{field}`")), "{field}: {m}")
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    if let Store::Postgres(pool) = &db.store {
        for (sql, field) in [
            (
                format!("SELECT credverify.submit_record('{}', 'n', '{{\"vcode\":\"A7K2M9QX4TB8R5WZ\"}}')", "c".repeat(7838)),
                "candidate_id",
            ),
            (
                "SELECT credverify.submit_record('c-x', repeat('名', 1000000), '{\"vcode\":\"A7K2M9QX4TB8R5WZ\"}')".into(),
                "name",
            ),
            (
                "SELECT credverify.submit_record('c-x', 'n', '{\"vcode\": null}', p_screenshot_ref => 'a.png')".into(),
                "vcode",
            ),
            (
                "SELECT credverify.submit_record('c-x', 'n', p_screenshot => decode(repeat('00', 21 * 1024 * 1024), 'hex'))".into(),
                "screenshot",
            ),
        ] {
            let e = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool.pool()).await.expect_err(field);
            let db_err = e.as_database_error().expect("a database error");
            assert_eq!(db_err.code().as_deref(), Some("CV002"), "{field}: {e}");
            assert!(db_err.message().contains(&format!("field `{field}`")), "{field}: {e}");
        }
        // Spaces around a candidate id name the same candidate.
        for id in ["c-ws", "c-ws ", " c-ws"] {
            sqlx::query(
                "SELECT credverify.submit_record($1, '王晓雯', '{\"vcode\":\"A7K2M9QX4TB8R5WZ\"}')",
            )
            .bind(id)
            .execute(pool.pool())
            .await
            .expect(id);
        }
    } else {
        for id in ["c-ws", "c-ws ", " c-ws"] {
            db.store.submit(&vcode_record(id)).await.expect(id);
        }
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM candidates WHERE id LIKE '%c-ws%'")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM records WHERE candidate_id = 'c-ws'")
            .await,
        3
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM records WHERE candidate_id <> 'c-ws'")
            .await,
        0,
        "nothing refused was stored"
    );
}
on_both_backends!(
    one_set_of_intake_rules,
    every_intake_refuses_the_same_things
);

// --- 5. Idempotency tells the truth ----------------------------------------------

async fn idempotency_keys_bind_their_content(db: &TestDb) {
    let mut first = vcode_record("c-idem");
    first.idempotency_key = Some("upload-1".into());
    let a = db.store.submit(&first).await.unwrap();
    assert!(a.created);
    let again = db.store.submit(&first).await.unwrap();
    assert_eq!((again.record_id, again.created), (a.record_id, false));

    let mut other = first.clone();
    other.name = "李四".into();
    match db.store.submit(&other).await {
        Err(SubmitError::KeyReused { key, record_id }) => {
            assert_eq!((key.as_str(), record_id), ("upload-1", a.record_id));
        }
        r => panic!("reused key with other content: {r:?}"),
    }
    if let Store::Postgres(pool) = &db.store {
        let e = sqlx::query(
            "SELECT credverify.submit_record('c-idem', '李四', '{\"vcode\":\"A7K2M9QX4TB8R5WZ\"}', p_idempotency_key => 'upload-1')",
        )
        .execute(pool.pool())
        .await
        .expect_err("refused");
        assert_eq!(
            e.as_database_error().and_then(|d| d.code()).as_deref(),
            Some("CV003")
        );
    }
    // The CLI says so with exit 3.
    let out = common::bin()
        .args([
            "--database-url",
            &db.url,
            "submit",
            "--candidate",
            "c-idem",
            "--name",
            "李四",
        ])
        .args([
            "--vcode",
            "A7K2M9QX4TB8R5WZ",
            "--idempotency-key",
            "upload-1",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Ten at once with one key: one of them created the record.
    let mut parallel = vcode_record("c-par");
    parallel.idempotency_key = Some("upload-2".into());
    let answers = futures::future::join_all((0..10).map(|_| {
        let store = db.store.clone();
        let new = parallel.clone();
        tokio::spawn(async move { store.submit(&new).await })
    }))
    .await;
    let answers: Vec<_> = answers.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(
        answers.iter().filter(|s| s.created).count(),
        1,
        "{answers:?}"
    );
    assert!(answers.iter().all(|s| s.record_id == answers[0].record_id));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM records WHERE candidate_id = 'c-par'")
            .await,
        1
    );
}
on_both_backends!(idempotency_is_honest, idempotency_keys_bind_their_content);

// --- 6. The verification client: redirects and the report's own code ----------

/// A one-route-per-call HTTP server: `answer(path)` gives the status line's
/// code, extra headers and body. Counts the requests it got.
async fn tiny_server<F>(answer: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(&str) -> (u16, String, Vec<u8>) + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answer = Arc::clone(&answer);
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let Some(text) = common::read_request_head(&mut sock).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, headers, body) = answer(&path);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_follows_no_redirect_off_its_origin() {
    let code = VerificationCode::parse("A7K2M9QX4TB8R5WZ").unwrap();
    let (elsewhere, elsewhere_hits) =
        tiny_server(|_| (200, String::new(), b"<html>report</html>".to_vec())).await;
    for target in [
        format!("{elsewhere}/xlcx/bg.do"),
        "http://127.0.0.1:5432/".to_string(),
    ] {
        let location = target.clone();
        let (service, _) =
            tiny_server(move |_| (302, format!("Location: {location}\r\n"), Vec::new())).await;
        let e = common::chsi(&service)
            .lookup(&code)
            .await
            .expect_err(&target);
        assert_eq!(e, Transient::UnexpectedStatus(302), "{target}");
    }
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the code never left"
    );

    // Within the origin a redirect is still followed (a front door may use one).
    let (sandbox, sandbox_url) = common::sandbox().await;
    let page = reqwest::get(format!(
        "{sandbox_url}/xlcx/bg.do?vcode={}&srcid=bgcx",
        code.expose()
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap()
    .to_vec();
    drop(sandbox);
    let served = page.clone();
    let (service, hits) = tiny_server(move |path| {
        if path.starts_with("/xlcx/bg.do") {
            (302, "Location: /report\r\n".into(), Vec::new())
        } else {
            (
                200,
                "Content-Type: text/html; charset=utf-8\r\n".into(),
                served.clone(),
            )
        }
    })
    .await;
    let answer = common::chsi(&service)
        .lookup(&code)
        .await
        .expect("followed");
    assert!(
        matches!(answer.lookup, Lookup::Found(_)),
        "{:?}",
        answer.lookup
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // The same report asked for with another code: not the candidate's.
    let other = VerificationCode::parse("B8R5WZA7K2M9QX4T").unwrap();
    let (service, _) = tiny_server(move |_| {
        (
            200,
            "Content-Type: text/html; charset=utf-8\r\n".into(),
            page.clone(),
        )
    })
    .await;
    let e = common::chsi(&service)
        .lookup(&other)
        .await
        .expect_err("mismatch");
    assert_eq!(e, Transient::CodeMismatch);
}

// --- 7. Uploads: what a reference may open ---------------------------------------

fn uploads_in(root: &std::path::Path) -> Uploads {
    Uploads::new(UploadsConfig {
        root: Some(root.into()),
        url_prefixes: vec![],
        max_bytes: 1024 * 1024,
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_open_only_regular_files_beneath_the_root() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("uploads");
    let outside = base.path().join("secret");
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("a.png"), b"SECRET").unwrap();
    std::fs::write(root.join("d/a.png"), b"INSIDE").unwrap();
    let u = uploads_in(&root);
    assert_eq!(u.fetch("d/a.png").await.unwrap(), b"INSIDE");

    // A FIFO: refused at once, never waited on.
    let fifo = root.join("pipe.png");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Waiting on it would end in the fetch's own 5 s timeout, not in this
    // refusal; the bound here is for a hang.
    let e = tokio::time::timeout(Duration::from_secs(60), u.fetch("pipe.png"))
        .await
        .expect("the FIFO is not waited on")
        .expect_err("fifo");
    assert!(
        matches!(e, FetchError::Refused(ref m) if m.contains("not a regular file")),
        "{e:?}"
    );

    // Symlinks out, dangling or not, and hard links: refused, not retried.
    std::os::unix::fs::symlink(outside.join("a.png"), root.join("out.png")).unwrap();
    std::os::unix::fs::symlink(outside.join("gone.png"), root.join("dangling.png")).unwrap();
    std::fs::hard_link(outside.join("a.png"), root.join("hard.png")).unwrap();
    for name in ["out.png", "dangling.png", "hard.png"] {
        let e = u.fetch(name).await.expect_err(name);
        assert!(matches!(e, FetchError::Refused(_)), "{name}: {e:?}");
    }

    // A directory swapped for a symlink out while references are read:
    // never a byte from outside.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (root, outside, stop) = (root.clone(), outside.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::rename(root.join("d"), root.join("d.real"));
                let _ = std::os::unix::fs::symlink(&outside, root.join("d"));
                let _ = std::fs::remove_file(root.join("d"));
                let _ = std::fs::rename(root.join("d.real"), root.join("d"));
            }
        })
    };
    let mut inside = 0;
    for _ in 0..300 {
        if let Ok(bytes) = u.fetch("d/a.png").await {
            assert_eq!(bytes, b"INSIDE", "read from outside the root");
            inside += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    eprintln!("{inside} of 300 reads during the swaps found the file inside");
}

/// Runs `cmd` to its end and returns its output; a command still running
/// after `within` is killed and fails the test (`what` names it).
fn output_within(
    mut cmd: std::process::Command,
    within: Duration,
    what: &str,
) -> std::process::Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match output.recv_timeout(within) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on the process this function started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{what}: still running after {within:?}");
        }
    }
}

#[test]
fn the_cli_reads_only_regular_files_and_at_most_the_limit() {
    for path in ["/dev/zero", "/proc/self/environ", "/dev/stdin"] {
        let mut cli = common::bin();
        cli.args([
            "--database-url",
            "sqlite::memory:",
            "submit",
            "--candidate",
            "c-1",
        ])
        .args(["--name", "王晓雯", "--screenshot", path])
        .stdin(std::process::Stdio::null());
        // Reading /dev/zero to its end would never end: a hang is the
        // failure to catch, so the bound is generous.
        let out = output_within(cli, Duration::from_secs(60), path);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 200 * 1024]).unwrap();
    let out = common::bin()
        .args([
            "--database-url",
            "sqlite::memory:",
            "submit",
            "--candidate",
            "c-1",
        ])
        .args(["--name", "王晓雯", "--fields"])
        .arg(&big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limit"));
}

// --- 13, 14. Our configuration and our data are never the candidate's fault ----

async fn our_faults_never_reject(db: &TestDb) {
    let (_sandbox, url) = common::sandbox().await;
    let mut by_ref = vcode_record("c-ref");
    by_ref.fields.vcode = None;
    by_ref.screenshot_ref = Some("shots/a.png".into());
    let by_ref = common::submit(db, &by_ref).await;
    let mut lost = vcode_record("c-lost");
    lost.fields.vcode = None;
    lost.screenshot = Some(common::fixture("bad/blank.png"));
    let lost = common::submit(db, &lost).await;
    db.exec(&format!("DELETE FROM screenshots WHERE record_id = {lost}"))
        .await;

    // A worker with no uploads root, and a screenshot row gone.
    let env = common::env_with_reader(db, &url, Some(common::ocr()));
    let before = our_faults(db).await;
    common::drain(&env, 2).await;
    let after = our_faults(db).await;
    // An alert, not only a log line (other tests of this process may add
    // to the process-wide counters, never take away).
    for kind in ["configuration", "data"] {
        assert!(
            after.get(kind) > before.get(kind),
            "credverify_our_faults_total{{kind=\"{kind}\"}}: {before:?} -> {after:?}"
        );
    }
    for (id, why) in [(by_ref, "configuration"), (lost, "data fault")] {
        let rec = db.store.record(id).await.unwrap().unwrap();
        assert_eq!(rec.status, Status::Unverified, "{why}: {:?}", rec.reasons);
        assert!(rec.reasons.is_empty(), "{why}");
        let err = rec.last_error.unwrap_or_default();
        assert!(err.contains(why), "{why}: {err}");
    }
}
on_both_backends!(
    configuration_and_data_faults_are_ours,
    our_faults_never_reject
);

/// `credverify_our_faults_total` by kind, as `/metrics` says it.
async fn our_faults(db: &TestDb) -> std::collections::BTreeMap<String, u64> {
    let text = credverify::metrics::render(&db.store).await.unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("credverify_our_faults_total{kind=\""))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(kind, n)| (kind.to_string(), n.trim().parse().unwrap()))
        .collect()
}

// --- 11, 15. What operators and their tools read ---------------------------------

async fn serve_router(store: Store) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            credverify::metrics::router(std::sync::Arc::new(store)),
        )
        .await;
    });
    format!("http://{addr}")
}

/// Runs `script` with the tests' Python (pinned packages installed by
/// `scripts/setup-system --postgres` into `.venv-tools/`; or
/// `CREDVERIFY_TEST_PYTHON`), `stdin` on its standard input. `None` (said
/// loudly) when that Python or its packages are missing, outside CI; in CI
/// that fails.
fn run_python(what: &str, script: &str, stdin: &str) -> Option<std::process::Output> {
    use std::io::Write;
    let python = std::env::var("CREDVERIFY_TEST_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/.venv-tools/bin/python").to_string()
    });
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let missing = |why: String| {
        assert!(
            !in_ci,
            "CI=true and {what} cannot run: {why} (scripts/setup-system --postgres installs it)"
        );
        common::skip(&format!(
            "{what}: {why} (run scripts/setup-system --postgres)"
        ));
        None
    };
    let child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return missing(format!("{python}: {e}")),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ModuleNotFoundError") {
        return missing(format!("{python}: {stderr}"));
    }
    Some(out)
}

/// Python's `prometheus_client` parses `body` with its OpenMetrics parser:
/// `{family: type}`.
fn openmetrics_types(body: &str) -> Option<serde_json::Value> {
    let script = "import sys, json\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        print(json.dumps({f.name: f.type for f in text_string_to_metric_families(sys.stdin.read())}))";
    let out = run_python("the OpenMetrics parser check", script, body)?;
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the body: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// jobs/README.md's Python hint for the five-record limit, run with psycopg
/// 3 against a real database: the sixth submission's error carries
/// `sqlstate == "CV001"`, and `psycopg.errors.lookup("CV001")` (the hint it
/// replaced) raises `KeyError`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_hint_for_the_limit_is_what_psycopg_does() {
    let Some(db) = TestDb::new(common::Kind::Postgres).await else {
        return;
    };
    let script = r#"
import json, sys
import psycopg, psycopg.errors
out = {}
with psycopg.connect(sys.stdin.read().strip(), autocommit=True) as conn:
    for i in range(6):
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT credverify.submit_record(%s, %s, %s::jsonb, %s, %s, %s)",
                    ("c-py", "王晓雯", json.dumps({"kind": "degree", "vcode": "A7K2M9QX4TB8R5WZ"}), None, f"upload-{i}", None),
                ).fetchone()
        except psycopg.Error as e:
            out["failed_at"] = i
            out["sqlstate"] = e.sqlstate
try:
    psycopg.errors.lookup("CV001")
    out["lookup"] = "found"
except KeyError:
    out["lookup"] = "KeyError"
print(json.dumps(out))
"#;
    let Some(out) = run_python("the psycopg hint check", script, &db.url) else {
        db.cleanup().await;
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        serde_json::json!({"failed_at": 5, "sqlstate": "CV001", "lookup": "KeyError"})
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/README.md")).unwrap();
    assert!(readme.contains(r#"if e.sqlstate == "CV001""#));
    assert!(!readme.contains("errors.lookup"));
    db.cleanup().await;
}

async fn metrics_and_health_say_what_they_are(db: &TestDb) {
    let url = serve_router(db.store.clone()).await;
    let resp = reqwest::get(format!("{url}/metrics")).await.unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    let body = resp.text().await.unwrap();
    assert!(
        ct.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ct}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "an OpenMetrics body");
    assert!(body.contains("# TYPE "), "types kept");
    // A real OpenMetrics parser reads it, counter types and all.
    if let Some(types) = openmetrics_types(&body) {
        // Every family as the body declares it (families without samples
        // yet are not written), and the ones always there.
        let declared: Vec<(&str, &str)> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .collect();
        assert!(declared.len() >= 4, "{body}");
        for (family, kind) in declared.into_iter().chain([
            ("credverify_chsi_pauses", "counter"),
            ("credverify_chsi_request_seconds", "histogram"),
            ("credverify_cluster_reporter", "gauge"),
        ]) {
            assert_eq!(types[family], kind, "{family} in {types}");
        }
    }

    // A database that went away: a generic message out, details in logs.
    db.store.close().await;
    let resp = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let health: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(health["database"], "unreachable", "{health}");
}
on_both_backends!(
    metrics_and_health_endpoints,
    metrics_and_health_say_what_they_are
);

/// A decision's log line names its reasons as the API spells them
/// (`holder_mismatch`), not as Rust's Debug does (`[HolderMismatch]`).
async fn decisions_log_reason_codes(db: &TestDb) {
    let (_sandbox, url) = common::sandbox().await;
    let mut rec = vcode_record("c-other-holder");
    rec.name = "张伟".into();
    let id = common::submit(db, &rec).await;
    let out = common::bin()
        .args([
            "--database-url",
            &db.url,
            "worker",
            "--drain",
            "--ocr-threads",
            "0",
        ])
        .args([
            "--chsi-url",
            &url,
            "--chsi-rate",
            "0",
            "--chsi-fetch",
            "http",
        ])
        .env("CREDVERIFY_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let r = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(r.status, Status::Rejected, "{:?}", r.reasons);
    let codes: Vec<&str> = r.reasons.iter().map(|x| x.code.as_str()).collect();
    assert!(codes.contains(&"holder_mismatch"), "{codes:?}");
    let line = log
        .lines()
        .find(|l| l.contains("record decided"))
        .unwrap_or_else(|| panic!("no decision line in {log}"));
    assert!(
        line.contains(&format!("reasons={}", codes.join(","))),
        "{line}"
    );
    assert!(
        !line.contains("HolderMismatch") && !line.contains('['),
        "{line}"
    );
}
on_both_backends!(
    decisions_are_logged_with_reason_codes,
    decisions_log_reason_codes
);

/// Collects a test's log lines (the human format, as operators read it).
#[derive(Clone, Default)]
struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A notification that fails (nobody listening, then HTTP 500) and is
/// delivered at the third attempt: every attempt's log names the record
/// and the cause, and every attempt carries the same signed `event_id`,
/// which receivers de-duplicate on (jobs/README.md).
async fn webhook_attempts_name_their_record_and_cause_and_sign_the_dedup_key(db: &TestDb) {
    use credverify::notify::{WebhookConfig, deliver_due, verify_signature};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let id = common::submit(db, &vcode_record("c-hook")).await;
    let event_id = db.store.events(id).await.unwrap()[0].id;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = |url: String| WebhookConfig {
        url,
        secret: Some("whsec".into()),
        timeout: Duration::from_secs(5),
        poll: Duration::from_millis(10),
        // Due again as soon as it fails: each call below is one attempt.
        retry: credverify::retry::RetryPolicy {
            base: Duration::ZERO,
            max: Duration::ZERO,
            max_retries: 5,
            jitter: 0.0,
        },
    };
    let http = reqwest::Client::new();
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .fmt_fields(credverify::cli::logging::escaped_fields())
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut delivered = 0;
    for url in [
        format!("http://127.0.0.1:{dead}/hook"),
        format!("{}/hook", receiver.uri()),
        format!("{}/hook", receiver.uri()),
    ] {
        delivered += deliver_due(&db.store, &http, &config(url)).await.unwrap();
    }
    assert_eq!(delivered, 1, "delivered at the third attempt");
    let log = sink.text();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("webhook delivery failed"))
        .collect();
    assert_eq!(failures.len(), 2, "{log}");
    for line in &failures {
        assert!(
            line.contains(&format!("record_id={id}")),
            "names the record: {line}"
        );
        assert!(line.contains(&format!("event_id={event_id}")), "{line}");
    }
    assert!(
        failures[0].to_lowercase().contains("connection refused"),
        "names the cause: {}",
        failures[0]
    );
    assert!(
        failures[1].contains("HTTP 500"),
        "names the cause: {}",
        failures[1]
    );

    let got = receiver.received_requests().await.unwrap();
    assert_eq!(got.len(), 2);
    for req in &got {
        let sig = req
            .headers
            .get("x-credverify-signature")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(verify_signature("whsec", sig, &req.body));
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["event_id"], event_id, "the same key in every attempt");
        assert_eq!(body["record_id"], id);
        // A replay under another key is caught by the signature.
        let forged = String::from_utf8(req.body.clone()).unwrap().replace(
            &format!("\"event_id\":{event_id}"),
            &format!("\"event_id\":{}", event_id + 1000),
        );
        assert_ne!(
            forged.as_bytes(),
            &req.body[..],
            "the body names its event_id"
        );
        assert!(!verify_signature("whsec", sig, forged.as_bytes()));
    }
}
on_both_backends!(
    webhook_failures_name_record_and_cause_and_the_dedup_key_is_signed,
    webhook_attempts_name_their_record_and_cause_and_sign_the_dedup_key
);

/// Secrets a URL may carry, in every place a URL is given.
const URL_SECRETS: [&str; 5] = [
    "s3cr3t-pw",
    "qu3ry-tok",
    "us3r-tok",
    "h00k-tok",
    "pr3fix-sig",
];

#[test]
fn help_config_and_start_up_logs_mask_urls() {
    let dir = tempfile::tempdir().unwrap();
    // (SQLite takes no secrets in its query; that it is masked shows the rule.)
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("cv.db").display());
    let hook = "http://us3r-tok@127.0.0.1:9/hook?token=h00k-tok";
    let with_env = |c: &mut std::process::Command| {
        c.env("CREDVERIFY_DATABASE_URL", &db)
            .env("CREDVERIFY_WEBHOOK_URL", hook)
            .env("CREDVERIFY_CHSI_URL", "http://127.0.0.1:9/?k=qu3ry-tok")
            .env(
                "CREDVERIFY_SCREENSHOT_URL_PREFIXES",
                "https://store.example/u?sig=pr3fix-sig,https://b.example/",
            )
            .env("CREDVERIFY_WEBHOOK_SECRET", "s3cr3t-pw");
    };
    let check = |what: &str, out: &std::process::Output| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in URL_SECRETS {
            assert!(!text.contains(secret), "{what}: `{secret}` shown:\n{text}");
        }
        text
    };
    for args in [
        vec!["--help"],
        vec!["worker", "--help"],
        vec!["config", "--help"],
    ] {
        let mut c = common::bin();
        with_env(&mut c);
        let text = check(&format!("{args:?}"), &c.args(&args).output().unwrap());
        assert!(text.contains("CREDVERIFY_"), "{args:?}: {text}");
    }
    // `config`: from the environment, and a database URL that does not parse.
    let mut c = common::bin();
    with_env(&mut c);
    let out = c.args(["config", "--json"]).output().unwrap();
    check("config", &out);
    let settings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        settings["webhook-url"]["value"],
        "http://***@127.0.0.1:9/hook?***"
    );
    assert_eq!(settings["webhook-url"]["source"], "environment");
    let mut c = common::bin();
    with_env(&mut c);
    let out = c
        .args(["--database-url", "postgres://cv:s3cr3t-pw@[db", "config"])
        .output()
        .unwrap();
    let text = check("config with an unparseable URL", &out);
    assert!(text.contains("<unparseable URL>"), "{text}");

    // A worker's start-up lines: the database and the webhook.
    let mut c = common::bin();
    with_env(&mut c);
    let out = c.args(["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = common::bin();
    with_env(&mut c);
    let out = c
        .args(["worker", "--drain", "--ocr-threads", "0"])
        .env("CREDVERIFY_LOG", "info")
        .output()
        .unwrap();
    let text = check("worker start-up", &out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("delivering status notifications"), "{text}");
    assert!(text.contains("http://***@127.0.0.1:9/hook?***"), "{text}");
    assert!(
        text.contains("cv.db?***") && !text.contains("mode=rwc"),
        "the database named, masked: {text}"
    );
}

#[test]
fn one_shot_commands_name_their_database_and_end_quietly_on_a_closed_pipe() {
    let home = tempfile::tempdir().unwrap();
    // Forgetting --database-url creates nothing: only `migrate` (and the
    // demo's own temporary database) creates a database implicitly.
    let default_db = home.path().join(".local/share/credverify/credverify.db");
    let out = common::bin()
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .args([
            "submit",
            "--candidate",
            "c-1",
            "--name",
            "王晓雯",
            "--vcode",
            "A7K2M9QX4TB8R5WZ",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no \"created\": {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("no database at sqlite://")
            && stderr.contains(&default_db.display().to_string()),
        "{stderr}"
    );
    assert!(!default_db.exists(), "no database created");
    let out = common::bin()
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .args(["migrate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no --database-url given; using sqlite://")
            && stderr.contains(&home.path().display().to_string()),
        "{stderr}"
    );

    let db = home.path().join("x.db");
    let url = format!("sqlite://{}", db.display());
    let run = |args: &[&str]| {
        common::bin()
            .args(["--database-url", &url])
            .args(args)
            .output()
            .unwrap()
    };
    let migrated = run(&["migrate"]);
    assert!(migrated.status.success());
    // Given one, a command still names it; in JSON logs as a JSON line.
    let stderr = String::from_utf8_lossy(&migrated.stderr);
    assert!(
        stderr.contains(&format!("credverify: database {url}")),
        "{stderr}"
    );
    let listed = run(&["--log-format", "json", "list"]);
    let line: serde_json::Value = serde_json::from_slice(&listed.stderr).unwrap();
    assert_eq!(line["database"], url.as_str());
    for i in 0..5 {
        let c = format!("c-{i}");
        let o = run(&[
            "submit",
            "--candidate",
            &c,
            "--name",
            "王晓雯",
            "--vcode",
            "A7K2M9QX4TB8R5WZ",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // `credverify … | head -0`: the reader is gone before the first line.
    for args in [
        vec!["list", "--json"],
        vec!["list"],
        vec!["show", "1"],
        vec!["show", "1", "--json"],
        vec!["stats"],
        vec!["config"],
        vec!["operator", "list"],
        vec!["rerun", "--status", "unverified", "--dry-run"],
        vec!["--help"],
    ] {
        let mut child = common::bin()
            .args(["--database-url", &url])
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        // Ended as `cat` would: done, or stopped by SIGPIPE; never a panic's 101.
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
    // A long-running command whose reader is gone goes on, quietly.
    let addr = common::free_addr();
    let mut sandbox = common::bin()
        .args(["sandbox", "--addr", &addr])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(sandbox.stdout.take());
    // It prints its address once it listens: from then on, a start-up on a
    // busy machine no longer counts against the wait below.
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() && sandbox.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sandbox never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A death from the closed pipe has no event to wait on; it would show
    // well within this.
    std::thread::sleep(Duration::from_millis(500));
    let still_running = sandbox.try_wait().unwrap().is_none();
    let _ = sandbox.kill();
    let out = sandbox.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        still_running && !stderr.contains("panicked"),
        "sandbox: {stderr}"
    );
    // And through a shell pipe into `head`, the way it is typed.
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "\"$0\" --database-url \"$1\" list | head -n 1 >/dev/null",
        ])
        .arg(env!("CARGO_BIN_EXE_credverify"))
        .arg(&url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
}

// --- 8. Terminals ----------------------------------------------------------------

async fn hostile_text_reaches_no_terminal_raw(db: &TestDb) {
    let id = common::submit(db, &vcode_record("c-term")).await;
    // Stored before intake refused such names, or by a report value.
    db.exec(&format!(
        "UPDATE records SET candidate_name = '王' || {esc} || '[2J' || {esc} || ']0;owned' || {bel} || '晓雯' || {rlo}, \
         last_error = 'page: ' || {esc} || ']8;;http://x' || {esc} || '\\' WHERE id = {id}",
        esc = "char(27)".replace("char", if matches!(db.store, Store::Postgres(_)) { "chr" } else { "char" }),
        bel = if matches!(db.store, Store::Postgres(_)) { "chr(7)" } else { "char(7)" },
        rlo = if matches!(db.store, Store::Postgres(_)) { "chr(8238)" } else { "char(8238)" },
    ))
    .await;
    for args in [
        vec!["show".to_string(), id.to_string()],
        vec!["list".into()],
    ] {
        let out = common::bin()
            .args(["--database-url", &db.url])
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text
                .chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{args:?}: {text:?}"
        );
        assert!(
            text.contains("\\u{1b}"),
            "{args:?}: escaped, not dropped: {text}"
        );
    }
}
on_both_backends!(
    admin_output_escapes_control_characters,
    hostile_text_reaches_no_terminal_raw
);

// --- 9. Privacy of ID numbers ------------------------------------------------------

/// A valid synthetic number for an area code, birth date and two sequence
/// digits, whose sex digit and check character are the first that give
/// check character `X`: an upper-case X appears in no hex digest, so a
/// stored "digits 15–18" is told from chance.
fn synthetic_id(area: &str, birth: &str, seq2: &str) -> String {
    for sex in 0..10 {
        let body = format!("{area}{birth}{seq2}{sex}");
        let check = credverify::domain::identity::check_char(&body).unwrap();
        if check == 'X' {
            return format!("{body}{check}");
        }
    }
    panic!("no sex digit gives X for {area}{birth}{seq2}");
}

fn id_record(candidate: &str, id: &str) -> NewRecord {
    NewRecord {
        id_number: Some(credverify::domain::IdNumber::parse(id).unwrap()),
        ..vcode_record(candidate)
    }
}

/// Every value of every column of every table, as text (blobs as their
/// bytes read as text), one entry per value.
async fn dump_everything(db: &TestDb) -> Vec<String> {
    let mut out = Vec::new();
    match &db.store {
        Store::Sqlite(p) => {
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'table'")
                    .fetch_all(p.pool())
                    .await
                    .unwrap();
            for t in tables {
                let cols: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{t}')"
                )))
                .fetch_all(p.pool())
                .await
                .unwrap();
                for c in cols {
                    let vals: Vec<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(
                        format!("SELECT CAST(\"{c}\" AS BLOB) FROM \"{t}\""),
                    ))
                    .fetch_all(p.pool())
                    .await
                    .unwrap();
                    out.extend(
                        vals.into_iter()
                            .flatten()
                            .map(|b| String::from_utf8_lossy(&b).into_owned()),
                    );
                }
            }
        }
        Store::Postgres(p) => {
            let cols: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT table_schema::text, table_name::text, column_name::text, data_type::text \
                 FROM information_schema.columns c \
                 JOIN information_schema.tables t USING (table_schema, table_name) \
                 WHERE t.table_type = 'BASE TABLE' \
                   AND table_schema NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_all(p.pool())
            .await
            .unwrap();
            assert!(
                cols.iter().any(|c| c.1 == "records"),
                "the dump sees records"
            );
            for (s, t, c, ty) in cols {
                let expr = if ty == "bytea" {
                    format!("encode(\"{c}\", 'escape')")
                } else {
                    format!("\"{c}\"::text")
                };
                let vals: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT {expr} FROM \"{s}\".\"{t}\""
                )))
                .fetch_all(p.pool())
                .await
                .unwrap();
                out.extend(vals.into_iter().flatten());
            }
        }
    }
    out
}

/// The attack of the issue, run on a dump: an old-style mask (digits 1–4
/// and 15–18), a birth date (7–14) and a salted SHA-256 with the salt from
/// the same database leave 100 guesses for digits 5–6, each confirmed or
/// refuted by one hash. Returns the numbers it recovers.
fn issue_repro_attack(dump: &[String]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let masks: Vec<&String> = dump
        .iter()
        .filter(|v| {
            let b = v.as_bytes();
            b.len() == 18
                && b[..4].iter().all(u8::is_ascii_digit)
                && b[4..14].iter().all(|&c| c == b'*')
                && b[14..17].iter().all(u8::is_ascii_digit)
        })
        .collect();
    let births: Vec<String> = dump
        .iter()
        .filter(|v| v.len() == 10 && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok())
        .map(|v| v.replace('-', ""))
        .collect();
    let hashes: std::collections::HashSet<&str> = dump
        .iter()
        .filter(|v| v.len() == 64 && v.bytes().all(|c| c.is_ascii_hexdigit()))
        .map(String::as_str)
        .collect();
    // Any value could be the salt: the attacker tries them all.
    let salts: Vec<&String> = dump.iter().filter(|v| v.len() <= 64).collect();
    let mut found = Vec::new();
    for m in &masks {
        for b in &births {
            for d56 in 0..100 {
                let n = format!("{}{d56:02}{b}{}", &m[..4], &m[14..]);
                for salt in salts.iter().map(|s| s.as_str()).chain([""]) {
                    let h = hex::encode(Sha256::digest(format!("{salt}:{n}").as_bytes()));
                    if hashes.contains(h.as_str()) {
                        found.push(n.clone());
                    }
                }
            }
        }
    }
    found
}

/// The numbers the stored values leave possible for one record, even for an
/// attacker who knows the area code (digits 1–6): every choice of the digits
/// the database does not hold (15–16) that fits the stored birth date,
/// gender and mask and passes the check.
fn consistent_numbers(area: &str, birth: &str, gender: &str, mask: &str) -> Vec<String> {
    let tail = &mask[16..];
    (0..100)
        .map(|d| format!("{area}{}{d:02}{}", birth.replace('-', ""), &tail[..1]))
        .filter(|body| {
            let sex = body.as_bytes()[16] - b'0';
            (sex % 2 == 1) == (gender == "男")
                && credverify::domain::identity::check_char(body) == tail[1..].chars().next()
        })
        .map(|body| format!("{body}{}", &tail[1..]))
        .collect()
}

async fn a_stolen_database_gives_no_id_number_back(db: &TestDb) {
    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};
    let ids = [
        synthetic_id("370281", "19990418", "18"),
        synthetic_id("440305", "20010923", "47"),
        synthetic_id("510107", "19971130", "05"),
    ];
    for (i, id) in ids.iter().enumerate() {
        let mut new = id_record(&format!("c-stolen-{i}"), id);
        if i == 0 {
            // The candidate also typed the 证件号码 the way the report prints
            // it (digits 1–4 and 15–18), and the birth date.
            new.fields.id_number_masked = Some(format!("{}**********{}", &id[..4], &id[14..]));
            new.fields.birth_date = Some("1999-04-18".into());
        }
        db.store.submit(&new).await.unwrap();
    }
    // On PostgreSQL a backend calls the intake itself, with the full number.
    let backend_id = synthetic_id("350203", "19980702", "63");
    let mut all = ids.to_vec();
    if let Store::Postgres(p) = &db.store {
        sqlx::query(
            "SELECT credverify.submit_record('c-stolen-backend', '王晓雯', \
             '{\"vcode\":\"A7K2M9QX4TB8R5WZ\"}'::jsonb, $1)",
        )
        .bind(&backend_id)
        .execute(p.pool())
        .await
        .unwrap();
        all.push(backend_id.clone());
    }
    // Until a worker seals them the numbers wait, in one column only.
    let before = dump_everything(db).await;
    for id in &all {
        assert_eq!(
            before.iter().filter(|v| v.contains(id.as_str())).count(),
            1,
            "{id}: pending in id_number_pending alone"
        );
    }
    let key = credverify::domain::IdKey::generate();
    assert_eq!(
        db.store.seal_pending_id_numbers(&key).await.unwrap(),
        all.len() as u64
    );

    let dump = dump_everything(db).await;
    assert!(
        dump.len() > 50,
        "the dump reads the tables ({} values)",
        dump.len()
    );
    // The repro of the issue finds nothing; on the old schema it found
    // every number.
    assert_eq!(issue_repro_attack(&dump), Vec::<String>::new());
    for id in &all {
        // Neither the number nor the digits a verdict does not need.
        let area = &id[..6];
        let d15_18 = &id[14..];
        for v in &dump {
            assert!(!v.contains(id.as_str()), "full number stored: {v}");
            assert!(!v.contains(area), "digits 1–6 of {id} stored: {v}");
            assert!(!v.contains(d15_18), "digits 15–18 of {id} stored: {v}");
        }
        // Even knowing the area code, the stored values leave several numbers
        // open, and nothing stored tells them apart without the key.
        let listed = db
            .store
            .list(&ListFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        let birth = format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]);
        let mut found = None;
        for r in &listed {
            let job = db.store.job_record(r.id).await.unwrap().unwrap();
            if job.candidate.birth_date.map(|d| d.to_string()).as_deref() == Some(birth.as_str()) {
                found = Some((r.clone(), job));
            }
        }
        let (rec, job) = found.expect("the record keeps its birth date");
        assert!(!job.id_number_pending);
        let mask = rec.id_number_masked.clone().unwrap();
        assert_eq!(mask, format!("{}{}", "*".repeat(16), &id[16..]));
        let gender = job.candidate.gender.unwrap().as_str();
        let open = consistent_numbers(area, &birth, gender, &mask);
        assert!(open.contains(id), "the true number is among them");
        assert!(
            open.len() >= 5,
            "{} numbers stay open: {open:?}",
            open.len()
        );
        for guess in &open {
            // No unkeyed digest of a guess, salted with any stored value or
            // keyed with one, is in the database.
            for s in dump
                .iter()
                .filter(|v| v.len() <= 64)
                .map(String::as_str)
                .chain([""])
            {
                let salted = hex::encode(Sha256::digest(format!("{s}:{guess}").as_bytes()));
                let plain = hex::encode(Sha256::digest(format!("{s}{guess}").as_bytes()));
                let mut mac = hmac::Hmac::<Sha256>::new_from_slice(s.as_bytes()).unwrap();
                mac.update(guess.as_bytes());
                let keyed = hex::encode(mac.finalize().into_bytes());
                for h in [salted, plain, keyed] {
                    assert!(!dump.contains(&h), "{guess} confirmed by a stored digest");
                }
            }
        }
        // With the worker's key, and only with it, the number is matched.
        let n = credverify::domain::IdNumber::parse(id).unwrap();
        assert!(dump.contains(&n.keyed_hash(&key)), "{id}: sealed");
        assert!(!dump.contains(&n.keyed_hash(&credverify::domain::IdKey::generate())));
    }
}
on_both_backends!(
    a_stolen_database_gives_no_id_number_back,
    a_stolen_database_gives_no_id_number_back
);

/// A 证件号码 as the service prints it (digits 1–4 and 15–18), in a
/// screenshot's reading or in the report a decision stores, keeps only its
/// last two characters.
async fn a_printed_id_number_is_stored_as_its_last_two_characters(db: &TestDb) {
    let id = common::submit(db, &vcode_record("c-printed")).await;
    let printed = "3702**********518X";
    db.store
        .save_reading(
            id,
            &serde_json::json!({"layout": "report", "fields": {"id_number_masked": printed, "birth_date": "1999-04-18"}}),
        )
        .await
        .unwrap();
    let mut fields = CredentialFields {
        name: Some("王晓雯".into()),
        birth_date: Some("1999-04-18".into()),
        ..CredentialFields::default()
    };
    fields.id_number_masked = Some(printed.into());
    let report = credverify::verdict::Report {
        kind: credverify::domain::Kind::Diploma,
        fields,
    };
    let applied = db
        .store
        .transition(&credverify::store::Transition {
            record_id: id,
            from: Status::Unverified,
            to: Status::NeedsReview,
            job_id: None,
            actor: "worker",
            reasons: &[],
            field_diffs: &[],
            report: Some(&report),
            note: None,
        })
        .await
        .unwrap();
    assert_eq!(applied, credverify::store::TransitionOutcome::Applied);
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(
        rec.authoritative
            .unwrap()
            .fields
            .id_number_masked
            .as_deref(),
        Some("****************8X")
    );
    assert_eq!(
        rec.screenshot_reading.unwrap()["fields"]["id_number_masked"],
        "****************8X"
    );
    for v in dump_everything(db).await {
        assert!(!v.contains("3702**"), "digits 1–4 stored: {v}");
        assert!(!v.contains("518X"), "digits 15–18 stored: {v}");
    }
}
on_both_backends!(
    a_printed_id_number_is_stored_as_its_last_two_characters,
    a_printed_id_number_is_stored_as_its_last_two_characters
);

/// A record submitted the way a backend does: on PostgreSQL through
/// `credverify.submit_record`, on SQLite through the store; its ID number
/// waits unsealed.
async fn submit_as_a_backend(db: &TestDb, candidate: &str, id: &str) -> i64 {
    match &db.store {
        Store::Postgres(p) => sqlx::query_scalar::<_, i64>(
            "SELECT credverify.submit_record($1, '王晓雯', \
             '{\"vcode\":\"A7K2M9QX4TB8R5WZ\"}'::jsonb, $2)",
        )
        .bind(candidate)
        .bind(id)
        .fetch_one(p.pool())
        .await
        .unwrap(),
        Store::Sqlite(_) => common::submit(db, &id_record(candidate, id)).await,
    }
}

/// 1 when the record's number is sealed under `key` and no longer pending.
async fn sealed_under(
    db: &TestDb,
    record_id: i64,
    id: &str,
    key: &credverify::domain::IdKey,
) -> i64 {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM records WHERE id = {record_id} AND id_number_pending IS NULL \
         AND id_number_hash = '{}'",
        credverify::domain::IdNumber::parse(id)
            .unwrap()
            .keyed_hash(key)
    ))
    .await
}

/// The number a backend hands over waits unsealed only until a worker with
/// the key takes the record, and no record is decided before: a worker
/// without the key leaves it unverified and retried (our misconfiguration,
/// never a rejection), one with the key seals it, then verifies.
async fn a_backend_submitted_number_is_sealed_by_the_worker(db: &TestDb) {
    let id = "110105199904180029";
    let record_id = submit_as_a_backend(db, "c-seal", id).await;
    let pending = format!(
        "SELECT COUNT(*) FROM records WHERE id = {record_id} AND id_number_pending = '{id}' \
         AND id_number_hash IS NULL"
    );
    assert_eq!(db.scalar(&pending).await, 1, "held until sealed");
    let (_sandbox, url) = common::sandbox().await;

    let keyless = Arc::new(credverify::pipeline::Env {
        id_key: None,
        ..Arc::into_inner(common::env(db, &url)).unwrap()
    });
    common::drain(&keyless, 1).await;
    let rec = db.store.record(record_id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Unverified, "never decided unsealed");
    assert!(
        rec.last_error
            .as_deref()
            .is_some_and(|e| e.contains("--id-hmac-key-file")),
        "{:?}",
        rec.last_error
    );
    assert_eq!(db.scalar(&pending).await, 1, "still waiting for a key");

    let env = common::env(db, &url);
    common::drain_until_settled(&env, 1).await;
    let rec = db.store.record(record_id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified, "{:?}", rec.reasons);
    let key = env.id_key.clone().unwrap();
    let sealed = sealed_under(db, record_id, id, &key).await;
    assert_eq!(sealed, 1, "sealed with the worker's key, pending cleared");
    let job = db.store.job_record(record_id).await.unwrap().unwrap();
    assert!(!job.id_number_pending);
    assert_eq!(
        job.candidate.birth_date.map(|d| d.to_string()).as_deref(),
        Some("1999-04-18"),
        "what the verdict compares stays"
    );
    assert_eq!(rec.id_number_masked.as_deref(), Some("****************29"));
}
on_both_backends!(
    a_backend_submitted_number_is_sealed_by_the_worker,
    a_backend_submitted_number_is_sealed_by_the_worker
);

/// `credverify sweep` seals pending ID numbers with the workers' key, as a
/// running worker's sweep does; without a key it leaves them and says so.
async fn the_one_shot_sweep_seals_pending_numbers_with_the_key(db: &TestDb) {
    let id = "110105199904180029";
    let record_id = submit_as_a_backend(db, "c-sweep", id).await;
    let pending = format!(
        "SELECT COUNT(*) FROM records WHERE id = {record_id} AND id_number_pending IS NOT NULL \
         AND id_number_hash IS NULL"
    );
    let sweep_json = |out: std::process::Output| -> serde_json::Value {
        serde_json::from_str(&common::ok(&out)).expect("sweep --json prints JSON")
    };

    let keyless = common::bin()
        .env_remove("CREDVERIFY_ID_HMAC_KEY")
        .args(["--database-url", &db.url, "sweep"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&keyless.stderr);
    assert!(
        said.contains("--id-hmac-key-file"),
        "says what is missing: {said}"
    );
    assert_eq!(db.scalar(&pending).await, 1, "left pending without a key");
    let v = sweep_json(
        common::bin()
            .env_remove("CREDVERIFY_ID_HMAC_KEY")
            .args(["--database-url", &db.url, "sweep", "--json"])
            .output()
            .unwrap(),
    );
    assert!(v["sealed_id_numbers"].is_null(), "{v}");

    // `bin()` hands every process the run's key, as workers have it.
    let v = sweep_json(common::run_cli(db, &["sweep", "--json"]));
    assert_eq!(v["sealed_id_numbers"], 1, "{v}");
    assert_eq!(db.scalar(&pending).await, 0, "sealed");
    let key = credverify::domain::IdKey::from_text(common::id_key_text()).unwrap();
    let sealed = sealed_under(db, record_id, id, &key).await;
    assert_eq!(sealed, 1, "sealed with the workers' key");
    let v = sweep_json(common::run_cli(db, &["sweep", "--json"]));
    assert_eq!(
        v["sealed_id_numbers"], 0,
        "nothing left the second time: {v}"
    );
}
on_both_backends!(
    the_one_shot_sweep_seals_pending_numbers_with_the_key,
    the_one_shot_sweep_seals_pending_numbers_with_the_key
);

/// `credverify worker` without the key says what is missing and how to make
/// one, before it touches the database; a short key is refused too, and a
/// key file lets it run.
#[test]
fn a_worker_without_the_id_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let worker = |extra: &[&str]| {
        common::bin()
            .env_remove("CREDVERIFY_ID_HMAC_KEY")
            .args(["--database-url", &url, "worker", "--drain"])
            .args(["--chsi-url", "http://127.0.0.1:9", "--chsi-fetch", "http"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = worker(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no ID-number HMAC key"), "{err}");
    assert!(err.contains("--id-hmac-key-file"), "{err}");
    assert!(err.contains("openssl rand -hex 32"), "the hint: {err}");
    assert!(
        !dir.path().join("t.db").exists(),
        "refused before opening the database"
    );

    let short = dir.path().join("short.key");
    std::fs::write(&short, "0123456789\n").unwrap();
    let out = worker(&["--id-hmac-key-file", short.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("at least 16"), "{err}");

    let good = dir.path().join("id.key");
    std::fs::write(
        &good,
        format!("{}\n", credverify::domain::IdKey::generate_text()),
    )
    .unwrap();
    let out = worker(&["--id-hmac-key-file", good.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Text a person reads: no control character but the line break and the
/// tab, no bidirectional override.
fn assert_inert(what: &str, text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| (c.is_control() && !matches!(c, '\n' | '\t')) || c == '\u{202e}')
        .collect();
    assert!(raw.is_empty(), "{what}: raw {raw:?} in {text:?}");
}

/// The service answers with `fixtures/bad/pages/hostile-text.html`: escape
/// sequences, the candidate's and another person's name, a full ID number
/// and a grouped 在线验证码. A real worker's human log, `last_error`, the
/// events and every admin output carry none of it raw or unredacted.
async fn a_hostile_service_page_reaches_no_log_record_or_terminal_raw(db: &TestDb) {
    use credverify::sandbox::{Fault, FaultKind, Faults};
    let page = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/bad/pages/hostile-text.html"
    );
    let never: [&str; 6] = [
        "测试考生",
        "李雷",
        "11010519990418002X",
        "K3N8",
        "X5M9",
        "T4RB",
    ];
    let (sandbox, url) = common::sandbox().await;
    let mut faults = Faults::default();
    faults.per_code.insert(
        "A7K2M9QX4TB8R5WZ".into(),
        vec![Fault {
            kind: FaultKind::Page {
                file: page.into(),
                status: None,
            },
            times: None,
            probability: None,
        }],
    );
    sandbox.set_faults(faults);
    let mut rec = vcode_record("c-hostile");
    rec.name = "测试考生".into();
    let id = common::submit(db, &rec).await;

    let out = common::bin()
        .args([
            "--database-url",
            &db.url,
            "--log-format",
            "human",
            "worker",
            "--drain",
        ])
        .args([
            "--chsi-url",
            &url,
            "--chsi-rate",
            "0",
            "--chsi-fetch",
            "http",
        ])
        .args(["--retry-base-secs", "600", "--ocr-threads", "0"])
        .env("CREDVERIFY_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("unrecognised_page"),
        "the failure is logged: {log}"
    );
    assert!(log.contains("\\u{1b}"), "escaped, not dropped: {log}");
    // Not a terminal: no colour codes either (any ESC would fail this).
    assert_inert("human log", &log);
    for secret in never {
        assert!(!log.contains(secret), "`{secret}` in the log: {log}");
    }

    let r = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(r.status, Status::Unverified, "never the candidate's fault");
    let events = db.store.events(id).await.unwrap();
    let kept = format!(
        "{}\n{}",
        r.last_error.clone().unwrap_or_default(),
        serde_json::to_string(&events).unwrap()
    );
    assert!(kept.contains("unrecognised_page"), "{kept}");
    for secret in never {
        assert!(!kept.contains(secret), "`{secret}` kept: {kept}");
    }
    // The raw page stays in the page store, for `credverify page`.
    let pages = db.store.kept_pages(id).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert!(String::from_utf8_lossy(&pages[0].body).contains("11010519990418002X"));

    let id_s = id.to_string();
    for args in [
        vec!["show", id_s.as_str()],
        vec!["list"],
        vec!["page", id_s.as_str()],
        vec!["rerun", "--record", id_s.as_str(), "--dry-run"],
    ] {
        let out = common::bin()
            .args(["--database-url", &db.url])
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_inert(
            &format!("{args:?} stdout"),
            &String::from_utf8_lossy(&out.stdout),
        );
        assert_inert(
            &format!("{args:?} stderr"),
            &String::from_utf8_lossy(&out.stderr),
        );
    }
    // An error that quotes its input (here a candidate id) quotes it inert.
    let out = common::bin()
        .args(["--database-url", &db.url, "withdraw", &id_s])
        .args(["--candidate", "c-\u{1b}]0;owned\u{7}\u{202e}"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("\\u{1b}]0;owned"), "{stderr}");
    assert_inert("error message", &stderr);
}
on_both_backends!(
    hostile_service_page_reaches_no_log_record_or_terminal_raw,
    a_hostile_service_page_reaches_no_log_record_or_terminal_raw
);

// --- 10. Least privilege on PostgreSQL ---------------------------------------------

/// A real least-privilege role, as jobs/README.md "Database roles" sets it
/// up (USAGE on the schema, nothing else): it submits, withdraws and reads
/// statuses, and can do nothing that forges a decision or a notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_role_can_submit_and_nothing_more() {
    use sqlx::Connection;
    let Some(db) = TestDb::new(common::Kind::Postgres).await else {
        return;
    };
    let role = format!(
        "cv_backend_{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let submitted = common::submit(&db, &vcode_record("c-other")).await;
    db.exec(&format!("CREATE ROLE {role} LOGIN")).await;
    db.exec(&format!("GRANT USAGE ON SCHEMA credverify TO {role}"))
        .await;
    let url = db.url.replacen("postgres@", &format!("{role}@"), 1);
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect as the backend role");
    let id: i64 = sqlx::query_scalar(
        "SELECT credverify.submit_record('c-role', '王晓雯', '{\"vcode\":\"A7K2M9QX4TB8R5WZ\"}', '110105199904180029')",
    )
    .fetch_one(&mut conn)
    .await
    .expect("intake with no table rights");
    assert!(id > 0);
    let (status, reasons): (String, serde_json::Value) =
        sqlx::query_as("SELECT status, reasons FROM credverify.record_status($1, 'c-role')")
            .bind(id)
            .fetch_one(&mut conn)
            .await
            .expect("status read with no table rights");
    assert_eq!(
        (status.as_str(), reasons),
        ("unverified", serde_json::json!([]))
    );
    let others: Option<String> =
        sqlx::query_scalar("SELECT status FROM credverify.record_status($1, 'c-role')")
            .bind(submitted)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
    assert_eq!(others, None, "another candidate's record is not this one's");
    let listed: Vec<i64> =
        sqlx::query_scalar("SELECT record_id FROM credverify.candidate_records('c-role')")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(listed, vec![id]);
    let w: String = sqlx::query_scalar("SELECT credverify.withdraw_record($1, 'c-role')")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .expect("withdrawal with no table rights");
    assert_eq!(w, "withdrawn");
    let status: String = sqlx::query_scalar("SELECT status FROM credverify.record_status($1)")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(status, "withdrawn");
    for forged in [
        format!(
            "INSERT INTO credverify.record_events (record_id, actor, from_status, to_status) VALUES ({submitted}, 'worker', 'unverified', 'verified')"
        ),
        format!(
            "INSERT INTO credverify.outbox (record_id, event_id, payload) VALUES ({submitted}, 999999, '{{\"status\":\"verified\"}}')"
        ),
        format!("UPDATE credverify.records SET status = 'verified' WHERE id = {submitted}"),
        format!("SELECT status, id_number_hash FROM credverify.records WHERE id = {submitted}"),
        "TRUNCATE credverify.records CASCADE".to_string(),
        "TRUNCATE credverify.record_events".to_string(),
        "TRUNCATE credverify.outbox".to_string(),
        format!(
            "SELECT credverify.decide({submitted}, 'unverified', 'verified', NULL, 'worker', '[]', '[]', NULL, NULL, NULL, now())"
        ),
        "SELECT credverify.chsi_take(1000, 1000)".to_string(),
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) VALUES ('x', 'credverify', '\\x7b7d', 'Pending', 0, 3, now(), 0)".to_string(),
    ] {
        let e = sqlx::query(sqlx::AssertSqlSafe(forged.clone()))
            .execute(&mut conn)
            .await
            .expect_err(&forged);
        assert_eq!(
            e.as_database_error().and_then(|d| d.code()).as_deref(),
            Some("42501"),
            "{forged}: {e}"
        );
    }
    let _ = conn.close().await;
    // Not even the owner moves a record to another candidate, makes an
    // illegal status change, or empties the event log.
    for owner_refused in [
        format!("UPDATE records SET candidate_id = 'c-role' WHERE id = {submitted}"),
        format!(
            "UPDATE records SET status = 'withdrawn' WHERE id = {submitted}; UPDATE records SET status = 'verified' WHERE id = {submitted}"
        ),
        "TRUNCATE record_events CASCADE".to_string(),
        "TRUNCATE records CASCADE".to_string(),
    ] {
        assert!(
            db.try_exec(&owner_refused).await.is_err(),
            "{owner_refused}"
        );
    }
    db.cleanup().await;
    let mut admin = sqlx::PgConnection::connect(&common::pg::admin_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// The database's table of legal status changes is the Rust state machine's
/// (Status::can_become over every actor), and a writer that bypasses the
/// library cannot make any other change.
async fn the_database_allows_the_status_changes_the_state_machine_allows(db: &TestDb) {
    use credverify::domain::status::Actor;
    let mut rust: Vec<(String, String)> = Vec::new();
    for from in Status::ALL {
        for to in Status::ALL {
            if [Actor::Worker, Actor::Admin, Actor::Candidate]
                .into_iter()
                .any(|a| from.can_become(to, a))
            {
                rust.push((from.as_str().into(), to.as_str().into()));
            }
        }
    }
    rust.sort();
    let mut table: Vec<(String, String)> = match &db.store {
        Store::Sqlite(p) => sqlx::query_as("SELECT from_status, to_status FROM status_transitions")
            .fetch_all(p.pool())
            .await
            .unwrap(),
        Store::Postgres(p) => {
            sqlx::query_as("SELECT from_status, to_status FROM status_transitions")
                .fetch_all(p.pool())
                .await
                .unwrap()
        }
    };
    table.sort();
    assert_eq!(table, rust);
    // Every pair, tried on a record in `from` by a writer with table rights.
    let id = common::submit(db, &vcode_record("c-machine")).await;
    // Unverified last: its move to withdrawn ends the walk.
    let froms = [
        Status::Verified,
        Status::Rejected,
        Status::NeedsReview,
        Status::Unverified,
    ];
    for from in froms {
        for to in Status::ALL {
            if from == to {
                continue;
            }
            // Put the record in `from` the way the rules allow.
            let path: &[&str] = match from {
                Status::Unverified => &[],
                Status::Rejected => &["rejected"],
                Status::NeedsReview => &["needs_review"],
                Status::Verified => &["verified"],
                Status::Withdrawn => unreachable!(),
            };
            db.exec(&format!("UPDATE records SET status = 'unverified' WHERE id = {id} AND status <> 'unverified'"))
                .await;
            for step in path {
                db.exec(&format!(
                    "UPDATE records SET status = '{step}' WHERE id = {id}"
                ))
                .await;
            }
            let r = db
                .try_exec(&format!(
                    "UPDATE records SET status = '{}' WHERE id = {id}",
                    to.as_str()
                ))
                .await;
            let legal = rust.contains(&(from.as_str().into(), to.as_str().into()));
            assert_eq!(r.is_ok(), legal, "{from} -> {to}: {r:?}");
            if to == Status::Withdrawn && legal {
                // Withdrawn is final: a fresh record for the next pairs.
                let err = db
                    .try_exec(&format!(
                        "UPDATE records SET status = 'unverified' WHERE id = {id}"
                    ))
                    .await;
                assert!(err.is_err(), "withdrawn -> unverified");
                return;
            }
        }
    }
    panic!("unverified -> withdrawn is legal and comes last");
}
on_both_backends!(
    status_changes_follow_the_state_machine,
    the_database_allows_the_status_changes_the_state_machine_allows
);

/// A connection left inside a transaction by whatever dropped it is rolled
/// back before the pool hands it out again: its locks would otherwise hold
/// every later submission for the candidate for ever.
#[tokio::test]
async fn a_pooled_connection_left_in_a_transaction_is_not_handed_out_in_it() {
    let Some(db) = TestDb::new(common::Kind::Postgres).await else {
        return;
    };
    let Store::Postgres(pg) = &db.store else {
        unreachable!()
    };
    let pool = pg.pool();
    // Leave every connection of the pool inside an open transaction that
    // holds a lock, the way a cancelled operation could.
    let mut held = Vec::new();
    for _ in 0..pool.size().max(1) {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock(424242)")
            .execute(&mut *conn)
            .await
            .unwrap();
        held.push(conn);
        if held.len() > 1 {
            break;
        }
    }
    drop(held);
    // The lock went with the transaction: taking it elsewhere does not wait.
    for _ in 0..4 {
        // The simple protocol: with the extended one `now()` and the
        // statement's start differ even outside a transaction.
        let row = sqlx::raw_sql("SELECT now() <> statement_timestamp()")
            .fetch_one(pool)
            .await
            .unwrap();
        let in_tx: bool = sqlx::Row::get(&row, 0);
        assert!(!in_tx, "a connection was handed out inside a transaction");
    }
    let got: bool = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::query_scalar("SELECT pg_try_advisory_lock(424242)").fetch_one(pool),
    )
    .await
    .expect("no wait")
    .unwrap();
    assert!(got, "the stray transaction's lock was released");
}
