//! The service's anti-bot front door, against the sandbox's front-door mode
//! (HTTP 412 and a script that computes a cookie and reloads): a plain
//! client stays outside and says so, a cookie file lets it in and is read
//! again when it changes, and Chromium (`--chsi-fetch auto`) passes where a
//! stock automated browser stays stuck. End to end on both backends.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::synthetic::{code, record, report};
use common::{TestDb, eventually};
use credverify::chsi::{ChsiClient, ChsiConfig, FetchMode, Transient, find_chromium};
use credverify::domain::{Status, VerificationCode};
use credverify::pipeline::Env;
use credverify::sandbox::{Fault, FaultKind, Faults, Registry, ReportState, Sandbox};
use credverify::verdict::Lookup;

const UA: &str = "credverify-test (ops@example.invalid)";

async fn front_door_sandbox(status: Option<u16>) -> (Sandbox, String) {
    let (sb, url) = common::sandbox_with(Registry {
        reports: (0..3).map(|i| report(i, ReportState::Ok)).collect(),
        ..Default::default()
    })
    .await;
    sb.set_faults(common::every_request(FaultKind::FrontDoor { status }));
    (sb, url)
}

fn config(base: &str, fetch: FetchMode) -> ChsiConfig {
    ChsiConfig {
        base_url: base.into(),
        rate_per_second: 0.0,
        timeout: Duration::from_secs(15),
        back_off: Duration::ZERO,
        user_agent: UA.into(),
        fetch,
        ..ChsiConfig::default()
    }
}

fn vcode(i: usize) -> VerificationCode {
    VerificationCode::parse(&code(i)).unwrap()
}

/// Whether Chromium can be used; under CI its absence is a failure.
fn chromium_present() -> bool {
    if find_chromium(None).is_some() {
        return true;
    }
    common::skip("Chromium not found on PATH; scripts/setup-system installs it");
    false
}

fn found(result: Result<credverify::chsi::Answer, Transient>) -> String {
    match result {
        Ok(a) => match a.lookup {
            Lookup::Found(r) => r.fields.name.unwrap_or_default(),
            other => panic!("expected a report, got {other:?}"),
        },
        Err(t) => panic!("expected a report, got {t}"),
    }
}

fn front_door_error(result: Result<credverify::chsi::Answer, Transient>) -> String {
    match result {
        Err(t @ Transient::FrontDoor(_)) => {
            assert_eq!(t.kind(), "front_door");
            t.to_string()
        }
        Err(t) => panic!("expected the front door, got {t}"),
        Ok(a) => panic!("expected the front door, got {:?}", a.lookup),
    }
}

#[tokio::test]
async fn a_plain_client_stays_at_the_front_door_and_names_it() {
    for status in [None, Some(202), Some(200)] {
        let (sb, url) = front_door_sandbox(status).await;
        let client = ChsiClient::new(config(&url, FetchMode::Http)).unwrap();
        let message = front_door_error(client.lookup(&vcode(0)).await);
        assert!(message.contains("front door"), "{message}");
        // Plain clients stay stuck: the second try meets it again.
        front_door_error(client.lookup(&vcode(0)).await);
        let stats = sb.stats();
        assert_eq!(stats.front_door_served, 2, "{status:?}");
        assert_eq!(stats.front_door_passed, 0);
    }
}

#[tokio::test]
async fn without_chromium_auto_works_as_http_and_browser_is_refused() {
    let (_sb, url) = front_door_sandbox(None).await;
    let missing = || Some(Path::new("/nonexistent/chromium").to_path_buf());
    let client = ChsiClient::new(ChsiConfig {
        browser_executable: missing(),
        ..config(&url, FetchMode::Auto)
    })
    .unwrap();
    front_door_error(client.lookup(&vcode(0)).await);
    let refused = ChsiClient::new(ChsiConfig {
        browser_executable: missing(),
        ..config(&url, FetchMode::Browser)
    })
    .unwrap_err();
    assert!(refused.to_string().contains("needs Chromium"), "{refused}");
}

fn netscape(host: &str, name: &str, value: &str) -> String {
    format!("# Netscape HTTP Cookie File\n{host}\tFALSE\t/\tFALSE\t0\t{name}\t{value}\n")
}

fn json_cookies(host: &str, name: &str, value: &str) -> String {
    serde_json::json!([{ "domain": host, "name": name, "value": value, "path": "/" }]).to_string()
}

#[tokio::test]
async fn a_cookie_file_lets_the_plain_client_in_and_is_reloaded_when_it_changes() {
    let (sb, url) = front_door_sandbox(None).await;
    let (name, value) = sb.front_door_cookie();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cookies.txt");
    std::fs::write(&file, netscape("127.0.0.1", &name, "stale-value")).unwrap();
    let client = ChsiClient::new(ChsiConfig {
        cookie_file: Some(file.clone()),
        ..config(&url, FetchMode::Http)
    })
    .unwrap();
    front_door_error(client.lookup(&vcode(0)).await);

    // The operator exports fresh cookies: picked up without a restart.
    std::fs::write(&file, json_cookies("127.0.0.1", &name, &value)).unwrap();
    assert_eq!(found(client.lookup(&vcode(0)).await), "考生0");
    assert_eq!(found(client.lookup(&vcode(1)).await), "考生1");
    assert_eq!(sb.stats().front_door_passed, 2);

    // The cookies expire on the service's side: the front door is back.
    std::fs::write(&file, netscape("127.0.0.1", &name, "expired-now")).unwrap();
    front_door_error(client.lookup(&vcode(2)).await);
    // A cookie file that cannot be read keeps what was loaded, and says so.
    std::fs::write(&file, "not a cookie file").unwrap();
    front_door_error(client.lookup(&vcode(2)).await);
}

#[tokio::test]
async fn auto_passes_the_front_door_in_chromium_then_reuses_its_cookies() {
    if !chromium_present() {
        return;
    }
    let (sb, url) = front_door_sandbox(None).await;
    let client = ChsiClient::new(config(&url, FetchMode::Auto)).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(found(client.lookup(&vcode(0)).await), "考生0");
    let through_browser = started.elapsed();
    let after_browser = sb.stats();
    assert_eq!(
        after_browser.front_door_served, 2,
        "the plain request and the browser's first load met the front door"
    );
    assert_eq!(
        after_browser.front_door_passed, 1,
        "the browser's reload passed"
    );

    // The browser's cookies now let plain requests through.
    let started = std::time::Instant::now();
    assert_eq!(found(client.lookup(&vcode(1)).await), "考生1");
    eprintln!(
        "first lookup (browser start + front door): {through_browser:?}; next, plain with its cookies: {:?}",
        started.elapsed()
    );
    let after_plain = sb.stats();
    assert_eq!(after_plain.front_door_served, 2, "no new front door");
    assert_eq!(after_plain.front_door_passed, 2);
    assert_eq!(client.browser_launches(), 1);
    client.shutdown().await;
}

#[tokio::test]
async fn the_browser_does_not_announce_automation() {
    if !chromium_present() {
        return;
    }
    let (_sb, url) = common::sandbox_with(Registry {
        reports: vec![report(0, ReportState::Ok)],
        ..Default::default()
    })
    .await;
    let client = ChsiClient::new(config(&url, FetchMode::Browser)).unwrap();
    let page = format!("{url}/xlcx/bg.do?vcode={}", code(0));
    let seen = client.browser_fingerprint(&page).await.unwrap();
    assert_eq!(seen["webdriver"], false, "{seen}");
    assert_eq!(
        seen["userAgent"], UA,
        "the plain client's User-Agent: {seen}"
    );
    assert_eq!(seen["languages"][0], "zh-CN", "{seen}");
    assert!(seen["width"].as_i64().unwrap_or(0) >= 1024, "{seen}");
    client.shutdown().await;
}

#[tokio::test]
async fn a_stock_automated_browser_stays_stuck_at_the_front_door() {
    use chromiumoxide::{Browser, BrowserConfig};
    use futures::StreamExt;
    if !chromium_present() {
        return;
    }
    let (sb, url) = front_door_sandbox(None).await;
    let profile = tempfile::tempdir().unwrap();
    let (mut browser, mut handler) = Browser::launch(
        BrowserConfig::builder()
            .chrome_executable(find_chromium(None).unwrap())
            .no_sandbox()
            .user_data_dir(profile.path())
            .args([
                "disable-gpu",
                "disable-quic",
                "disable-background-networking",
            ])
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let page = browser.new_page("about:blank").await.unwrap();
    // `goto` returns once the page has loaded, so the front door's inline
    // script has run: had it let the browser through, it would have set its
    // cookie before reloading.
    page.goto(format!("{url}/xlcx/bg.do?vcode={}", code(0)))
        .await
        .unwrap();
    let html = page.content().await.unwrap();
    let stuck = credverify::chsi::is_front_door(200, &html);
    let cookies = page.get_cookies().await.unwrap();
    let _ = browser.close().await;
    let _ = browser.wait().await;
    events.abort();
    assert!(stuck, "a stock automated browser must not get past: {html}");
    assert!(cookies.is_empty(), "and gets no cookie");
    assert_eq!(sb.stats().front_door_passed, 0);
}

/// Whether child `pid` of this process has ended: its exit can be
/// collected (or already was). Asked with `WNOWAIT`, so the status stays
/// for the code that owns the child. A SIGKILLed multi-threaded process
/// shows as a zombie in `/proc` before the last of its threads is gone;
/// only this says that its parent's `try_wait` would see the exit.
fn has_ended(pid: u32) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid(2) writes only into `info`, which outlives the call.
    let asked = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if asked != 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD);
    }
    // SAFETY: waitid succeeded, so `info` is filled in; with WNOHANG its
    // pid is zero while the child runs.
    let ended = unsafe { info.si_pid() };
    ended != 0
}

#[tokio::test]
async fn a_dead_browser_is_started_again_on_next_need() {
    if !chromium_present() {
        return;
    }
    let (_sb, url) = front_door_sandbox(None).await;
    let client = ChsiClient::new(config(&url, FetchMode::Browser)).unwrap();
    assert_eq!(found(client.lookup(&vcode(0)).await), "考生0");
    let memory = client.browser_memory_bytes().await.expect("a browser runs");
    eprintln!(
        "browser memory (PSS) after one page: {} MiB",
        memory / (1024 * 1024)
    );
    assert!(memory > 10 * 1024 * 1024, "a running Chromium uses memory");
    let pid = client.browser_pid().await.expect("a browser runs");
    // SAFETY: kill(2) on a process this test's client started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    // A signal is delivered asynchronously: the next lookup is the one that
    // must find the browser dead.
    eventually(
        Duration::from_secs(30),
        "the killed browser dies",
        || async { has_ended(pid) },
    )
    .await;
    assert_eq!(found(client.lookup(&vcode(1)).await), "考生1");
    assert_eq!(client.browser_launches(), 2);
    assert_ne!(client.browser_pid().await, Some(pid));
    client.shutdown().await;
}

#[tokio::test]
async fn the_browser_keeps_the_size_cap_and_the_timeout() {
    if !chromium_present() {
        return;
    }
    let (sb, url) = front_door_sandbox(None).await;
    let small = ChsiClient::new(ChsiConfig {
        max_body_bytes: 600,
        ..config(&url, FetchMode::Browser)
    })
    .unwrap();
    match small.lookup(&vcode(0)).await {
        Err(Transient::BodyTooLarge(600)) => {}
        other => panic!("expected the size cap, got {:?}", other.map(|a| a.lookup)),
    }
    small.shutdown().await;

    sb.set_faults(Faults {
        global: vec![
            Fault {
                kind: FaultKind::Delay { ms: 4_000 },
                times: None,
                probability: None,
            },
            Fault {
                kind: FaultKind::FrontDoor { status: None },
                times: None,
                probability: None,
            },
        ],
        ..Default::default()
    });
    let slow = ChsiClient::new(ChsiConfig {
        timeout: Duration::from_secs(2),
        ..config(&url, FetchMode::Browser)
    })
    .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), slow.lookup(&vcode(0)))
        .await
        .expect("the lookup ends by its own timeout, it does not hang");
    // Which step runs out of time depends on the host's load (opening the
    // tab, the navigation, or the wait past the door): each is transient.
    assert!(
        matches!(
            result,
            Err(Transient::Timeout | Transient::FrontDoor(_) | Transient::Browser(_))
        ),
        "{:?}",
        result.map(|a| a.lookup)
    );
    slow.shutdown().await;
}

/// A worker process against a front-door sandbox, until it has nothing to do.
async fn drain_worker(db: &TestDb, url: &str, extra: &[&str]) {
    let mut args = vec!["--drain", ""];
    args.extend_from_slice(extra);
    let mut child = common::spawn_worker(db, url, &args);
    let exited = eventually(Duration::from_secs(120), "the worker drains", || {
        let done = child.try_wait().unwrap().is_some();
        async move { done }
    })
    .await;
    eprintln!("worker drained in {exited:?}");
    assert!(child.wait().unwrap().success(), "the worker exits cleanly");
}

/// Makes record `id`'s scheduled retry due now, as if its backoff had
/// passed.
async fn retry_due_now(db: &TestDb, id: i64) {
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert!(rec.next_attempt_at.is_some(), "a retry is scheduled");
    assert_eq!(
        common::retries_due_now(&db.store).await,
        1,
        "the retry waits in the queue"
    );
}

async fn http_then_cookie_file(db: &TestDb) {
    let (sb, url) = front_door_sandbox(None).await;
    let id = common::submit(db, &record(0)).await;
    drain_worker(db, &url, &["--chsi-fetch", "http"]).await;
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Unverified, "never a rejection");
    let error = rec.last_error.unwrap_or_default();
    assert!(error.contains("front door"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cookies.txt");
    let (name, value) = sb.front_door_cookie();
    std::fs::write(&file, netscape("127.0.0.1", &name, &value)).unwrap();
    retry_due_now(db, id).await;
    drain_worker(
        db,
        &url,
        &[
            "--chsi-fetch",
            "http",
            "--chsi-cookies",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified, "{:?}", rec.last_error);
}
on_both_backends!(
    front_door_with_http_fetch_is_transient_and_named_then_passed_with_a_cookie_file,
    http_then_cookie_file
);

async fn auto_through_chromium(db: &TestDb) {
    if !chromium_present() {
        return;
    }
    let (sb, url) = front_door_sandbox(None).await;
    let ids = [
        common::submit(db, &record(0)).await,
        common::submit(db, &record(1)).await,
    ];
    drain_worker(db, &url, &["--chsi-fetch", "auto", "--concurrency", "1"]).await;
    for id in ids {
        let rec = db.store.record(id).await.unwrap().unwrap();
        assert_eq!(rec.status, Status::Verified, "{:?}", rec.last_error);
    }
    let stats = sb.stats();
    assert!(stats.front_door_passed >= 2, "{stats:?}");
    assert_eq!(
        stats.front_door_served, 2,
        "one browser visit; the second record passed on its cookies: {stats:?}"
    );
}
on_both_backends!(
    front_door_with_auto_fetch_is_verified_through_chromium,
    auto_through_chromium
);

/// In process, so the process's metrics can be read: a cookie file that
/// stops passing is counted.
async fn metric_when_cookies_stop_passing(db: &TestDb) {
    let (sb, url) = front_door_sandbox(None).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cookies.json");
    let (name, value) = sb.front_door_cookie();
    std::fs::write(&file, json_cookies("127.0.0.1", &name, &value)).unwrap();
    let chsi = ChsiClient::new(ChsiConfig {
        cookie_file: Some(file.clone()),
        ..config(&url, FetchMode::Http)
    })
    .unwrap();
    let env = Arc::new(Env {
        store: db.store.clone(),
        chsi,
        retry: common::fast_retry(),
        reader: None,
        uploads: credverify::uploads::Uploads::new(Default::default()).unwrap(),
        id_key: Some(credverify::domain::IdKey::generate()),
    });
    let a = common::submit(db, &record(0)).await;
    common::drain(&env, 1).await;
    assert_eq!(common::status_of(db, a).await, Status::Verified);
    std::fs::write(&file, json_cookies("127.0.0.1", &name, "revoked")).unwrap();
    let b = common::submit(db, &record(1)).await;
    common::drain(&env, 1).await;
    let rec = db.store.record(b).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Unverified);
    let text = credverify::metrics::render(&db.store).await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("credverify_chsi_front_door_total{cookies=\"cookie_file\"}"))
        .unwrap_or_else(|| panic!("no front-door metric for the cookie file:\n{text}"));
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1.0, "{line}");
}
on_both_backends!(
    a_cookie_file_that_stops_passing_is_counted,
    metric_when_cookies_stop_passing
);

/// A front door whose script reloads for ever (the service rejecting the
/// cookie it set) must not make the browser hammer the service.
#[tokio::test]
async fn a_page_that_keeps_reloading_is_given_up_after_a_few_loads() {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    if !chromium_present() {
        return;
    }
    let server = MockServer::start().await;
    Mock::given(path("/xlcx/bg.do"))
        .respond_with(
            ResponseTemplate::new(412).set_body_raw(
                "<html><head><script>setTimeout(function(){location.reload()},50)</script></head><body></body></html>",
                "text/html; charset=utf-8",
            ),
        )
        .mount(&server)
        .await;
    let client = ChsiClient::new(config(&server.uri(), FetchMode::Auto)).unwrap();
    let message = front_door_error(
        tokio::time::timeout(Duration::from_secs(60), client.lookup(&vcode(0)))
            .await
            .expect("the browser gives up on the reloading page, it does not hang"),
    );
    assert!(message.contains("kept reloading"), "{message}");
    // Page loads only: the browser also asks for /favicon.ico, once.
    let requests = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/xlcx/bg.do")
        .count();
    // The plain request, the browser's first load and at most three reloads
    // (`MAX_RELOADS`): the browser holds every page load until it is let
    // out, so this holds however busy the machine (a busy one let nine requests
    // through before).
    assert!(
        requests <= 5,
        "one plain request and at most four browser loads, not {requests}"
    );
    client.shutdown().await;
}

#[test]
fn a_headed_browser_without_a_display_is_refused_at_start() {
    if !chromium_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = common::bin()
        .env_remove("DISPLAY")
        .args([
            "--database-url",
            &format!("sqlite://{}", dir.path().join("t.db").display()),
            "worker",
            "--chsi-url",
            "http://127.0.0.1:9",
            "--chsi-fetch",
            "browser",
            "--chsi-browser-headed",
            "--drain",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("needs a display"), "{stderr}");
}

/// Whether `xvfb-run` is there for the headed browser; under CI its
/// absence is a failure (scripts/setup-system installs it).
fn xvfb_present() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("xvfb-run").is_file()));
    if !found {
        common::skip("xvfb-run not found; scripts/setup-system installs it (package xvfb)");
    }
    found
}

async fn headed_under_xvfb(db: &TestDb) {
    if !chromium_present() || !xvfb_present() {
        return;
    }
    let (sb, url) = front_door_sandbox(None).await;
    let id = common::submit(db, &record(0)).await;
    let mut child = std::process::Command::new("xvfb-run")
        .args(["-a", env!("CARGO_BIN_EXE_credverify")])
        .env_remove("CREDVERIFY_DATABASE_URL")
        .env("CREDVERIFY_LOG", "warn")
        .env("CREDVERIFY_ID_HMAC_KEY", common::id_key_text())
        .args(["--database-url", &db.url, "worker", "--chsi-url", &url])
        .args(["--chsi-rate", "0", "--poll-ms", "100", "--drain"])
        .args(["--chsi-fetch", "browser", "--chsi-browser-headed"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(120), "the headed worker drains", || {
        let done = child.try_wait().unwrap().is_some();
        async move { done }
    })
    .await;
    assert!(child.wait().unwrap().success());
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified, "{:?}", rec.last_error);
    assert!(sb.stats().front_door_passed >= 1);
}
on_both_backends!(
    a_headed_browser_under_xvfb_passes_the_front_door,
    headed_under_xvfb
);

/// The front door's reload is a request to the service like any other: it
/// takes a slot of the process's rate.
#[tokio::test]
async fn the_browser_s_reload_takes_a_rate_limit_slot() {
    if !chromium_present() {
        return;
    }
    let (sb, url) = common::sandbox_with(Registry {
        reports: (0..2).map(|i| report(i, ReportState::Ok)).collect(),
        ..Default::default()
    })
    .await;
    let client = ChsiClient::new(ChsiConfig {
        rate_per_second: 0.5,
        ..config(&url, FetchMode::Browser)
    })
    .unwrap();
    // Start the browser on an open page, so its start-up does not hide the wait.
    assert_eq!(found(client.lookup(&vcode(0)).await), "考生0");
    // Past the next slot, so the lookup itself does not wait. Only time
    // frees a slot of the limiter; nothing happens that could be waited on.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    sb.set_faults(common::every_request(FaultKind::FrontDoor { status: None }));
    let started = std::time::Instant::now();
    assert_eq!(found(client.lookup(&vcode(1)).await), "考生1");
    let took = started.elapsed();
    let stats = sb.stats();
    assert_eq!((stats.front_door_served, stats.front_door_passed), (1, 1));
    // The page itself loads in well under a second; the reload's slot is
    // two seconds after the lookup's.
    assert!(
        took >= Duration::from_millis(1800),
        "the reload waited for its slot at one request per 2 s: {took:?}"
    );
    client.shutdown().await;
}
