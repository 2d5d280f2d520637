//! The review desk in a browser: the console's rules over real HTTP on both
//! backends, and one flow through a real headless Chromium (Debian's
//! `chromium`) on a screenshot record read by real Tesseract.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::TestDb;
use credverify::admin::{Operator, Role, operators};
use credverify::domain::{CredentialFields, Status};
use credverify::store::{NewRecord, UnrecognisedAnswer};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "correct horse battery";

struct Desk {
    base: String,
    stop: CancellationToken,
}

impl Drop for Desk {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Asks the console for `url` as JSON (the API's form of a page) and reads
/// the answer.
async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    c.get(url)
        .header("accept", "application/json")
        .send()
        .await
        .expect("ask the console")
        .json()
        .await
        .expect("the console answers JSON")
}

/// Asks the console for `url` as a browser does and reads the answer's text.
async fn get_text(c: &reqwest::Client, url: String) -> String {
    c.get(url)
        .send()
        .await
        .expect("ask the console")
        .text()
        .await
        .expect("the console answers text")
}

/// The console on a free port, with a reviewer `wang.fang` and an admin
/// `li.na`. It has its own connections, as the console process has in
/// production, apart from the pool the test's worker drained on.
async fn desk(db: &TestDb) -> Desk {
    let store = credverify::store::Store::connect(&db.url).await.unwrap();
    let root = Operator::new("setup", Role::Admin);
    operators::add(&store, &root, "wang.fang", Role::Reviewer, PASSWORD)
        .await
        .unwrap();
    operators::add(&store, &root, "li.na", Role::Admin, PASSWORD)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        credverify::console::serve(
            store,
            listener,
            credverify::console::ConsoleOptions {
                secure_cookies: false,
            },
            token,
        )
        .await
        .unwrap();
    });
    Desk {
        base: format!("http://{addr}"),
        stop,
    }
}

/// A form body (reqwest's own form support is a feature this crate does
/// not build).
trait FormBody {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Logs in; returns the session's CSRF token.
async fn login(c: &reqwest::Client, desk: &Desk, name: &str, password: &str) -> reqwest::Response {
    c.post(format!("{}/login", desk.base))
        .header("accept", "application/json")
        .form_body(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn csrf_of(c: &reqwest::Client, desk: &Desk, name: &str) -> String {
    let res = login(c, desk, name, PASSWORD).await;
    if res.status() != 200 {
        panic!(
            "login as {name}: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    body["csrf"].as_str().unwrap().to_string()
}

async fn console_rules(db: &TestDb) {
    let id = common::record_in_review(db).await;
    let desk = desk(db).await;
    let reviewer = client();

    // Not logged in: JSON clients get 401, browsers the login page.
    let res = reviewer
        .get(format!("{}/records?status=needs_review", desk.base))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = reviewer
        .get(format!("{}/records/{id}", desk.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    let csrf = csrf_of(&reviewer, &desk, "wang.fang").await;
    let queue = get_json(
        &reviewer,
        format!("{}/records?status=needs_review", desk.base),
    )
    .await;
    assert_eq!(queue["records"][0]["id"], id);
    assert_eq!(queue["counts_by_reason"]["name_near_match"], 1);

    // The last unrecognised answer of the service is shown, inert.
    db.store
        .keep_unrecognised_page(
            id,
            UnrecognisedAnswer {
                http_status: 200,
                detail: "unrecognised page",
                body: "<html><script>alert('pwned')</script><p>系统升级</p></html>".as_bytes(),
            },
        )
        .await
        .unwrap();
    let html = get_text(&reviewer, format!("{}/records/{id}", desk.base)).await;
    assert!(html.contains("id=\"service-page\""), "{html}");
    assert!(html.contains("&lt;script&gt;alert("), "{html}");
    assert!(
        !html.contains("<script>alert("),
        "the page is shown as text"
    );
    let page = get_json(&reviewer, format!("{}/records/{id}", desk.base)).await;
    assert_eq!(page["service_page"]["http_status"], 200);
    assert!(
        page["service_page"]["text"]
            .as_str()
            .unwrap()
            .contains("系统升级")
    );

    // A form without the session's CSRF token changes nothing.
    let review = |token: Option<&str>| {
        let mut form = vec![("decision", "approve"), ("note", "ID card checked")];
        if let Some(t) = token {
            form.push(("csrf", t));
        }
        reviewer
            .post(format!("{}/records/{id}/review", desk.base))
            .form_body(&form)
            .send()
    };
    assert_eq!(review(None).await.unwrap().status(), 403);
    assert_eq!(review(Some("0000")).await.unwrap().status(), 403);
    assert_eq!(common::status_of(db, id).await, Status::NeedsReview);
    assert_eq!(review(Some(&csrf)).await.unwrap().status(), 303);
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Verified);
    let last = db.store.events(id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.note.as_deref()),
        ("reviewer:wang.fang", Some("ID card checked"))
    );

    // Reviewers review; only admins revoke.
    let res = reviewer
        .post(format!("{}/records/{id}/revoke", desk.base))
        .header("accept", "application/json")
        .form_body(&[("reason", "school letter"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(common::status_of(db, id).await, Status::Verified);
    let admin = client();
    let admin_csrf = csrf_of(&admin, &desk, "li.na").await;
    let res = admin
        .post(format!("{}/records/{id}/revoke", desk.base))
        .header("accept", "application/json")
        .form_body(&[
            ("reason", "certificate revoked by the school"),
            ("note", "letter 2026-031"),
            ("csrf", &admin_csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Rejected);
    assert_eq!(
        rec.reasons[0].detail.as_deref(),
        Some("certificate revoked by the school")
    );

    // The screenshot route needs a session too, and says when there is none.
    let res = admin
        .get(format!("{}/records/{id}/screenshot", desk.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Re-queue and withdraw: admins only, each an event with the operator's name.
    let post = |c: &reqwest::Client, path: String, form: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.post(format!("{}{path}", desk.base))
            .header("accept", "application/json")
            .form_body(&pairs)
            .send()
    };
    let res = post(
        &reviewer,
        format!("/records/{id}/requeue"),
        vec![("csrf", csrf.clone())],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 403, "reviewers do not re-queue");
    let res = post(
        &admin,
        format!("/records/{id}/requeue"),
        vec![
            ("note", "school withdrew its letter".into()),
            ("csrf", admin_csrf.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(common::status_of(db, id).await, Status::Unverified);
    let res = post(
        &admin,
        format!("/records/{id}/withdraw"),
        vec![
            ("note", "candidate asked by phone".into()),
            ("csrf", admin_csrf.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(common::status_of(db, id).await, Status::Withdrawn);
    let last = db.store.events(id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.note.as_deref()),
        ("admin:li.na", Some("candidate asked by phone"))
    );

    // A rejection takes a reason a review may give; the note stays internal
    // and is shown escaped.
    let id2 = common::record_in_review(db).await;
    for bad in ["name_near_match", "revoked", "nonsense"] {
        let res = post(
            &reviewer,
            format!("/records/{id2}/review"),
            vec![
                ("decision", "reject".into()),
                ("reason", bad.into()),
                ("note", "x".into()),
                ("csrf", csrf.clone()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    let note = "<img src=x onerror=alert(1)> not the same person";
    let res = post(
        &reviewer,
        format!("/records/{id2}/review"),
        vec![
            ("decision", "reject".into()),
            ("reason", "holder_mismatch".into()),
            ("note", note.into()),
            ("csrf", csrf.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let rec = db.store.record(id2).await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.reasons[0].detail.as_deref()),
        (Status::Rejected, None)
    );
    let page = get_text(&reviewer, format!("{}/records/{id2}", desk.base)).await;
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt; not the same person"),
        "escaped note"
    );
    assert!(!page.contains("<img src=x"), "never markup");
    let doc = get_json(&reviewer, format!("{}/records/{id2}", desk.base)).await;
    assert_eq!(doc["record"]["status"], "rejected");
    assert_eq!(
        doc["events"].as_array().unwrap().last().unwrap()["note"],
        note
    );
    assert_eq!(
        doc["fields"][0]["field"], "name",
        "the fields beside the report"
    );

    // A disabled operator cannot log in, and their open session ends.
    // From another process's connections, as `credverify operator disable` would.
    let cli = credverify::store::Store::connect(&db.url).await.unwrap();
    operators::disable(&cli, &Operator::new("setup", Role::Admin), "wang.fang")
        .await
        .unwrap();
    let res = login(&client(), &desk, "wang.fang", PASSWORD).await;
    let status = res.status();
    assert_eq!(status, 401, "{}", res.text().await.unwrap_or_default());
    let res = reviewer
        .get(format!("{}/records", desk.base))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // A login posted from another site's page is refused.
    let res = client()
        .post(format!("{}/login", desk.base))
        .header("origin", "http://evil.example")
        .form_body(&[("name", "li.na"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("set-cookie").is_none());

    // An oversized form is refused before it is read.
    let big = "x".repeat(100 * 1024);
    let res = login(&client(), &desk, "li.na", &big).await;
    assert_eq!(res.status(), 413);

    // Wrong passwords are rate-limited: after the limit even the right one waits.
    let guesser = client();
    for _ in 0..credverify::console::MAX_FAILURES {
        assert_eq!(
            login(&guesser, &desk, "li.na", "wrong password")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        login(&guesser, &desk, "li.na", PASSWORD).await.status(),
        429
    );
}
on_both_backends!(
    console_enforces_csrf_roles_disabling_and_login_limits,
    console_rules
);

// ---------------------------------------------------------------------------
// The browser flow.

fn chromium() -> Option<std::path::PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        common::skip(
            "the browser flow: no chromium (`apt-get install -y chromium`, scripts/setup-system)",
        );
    }
    found
}

/// A screenshot whose school is not the service's (fixture report-007 with
/// its registry entry changed): the worker, reading it with Tesseract,
/// sends it to a person with `screenshot_mismatch`.
async fn screenshot_record(db: &TestDb) -> (i64, serde_json::Value) {
    let name = "report-007";
    let want = common::fixture_expected("screenshots", name);
    let mut registry = credverify::sandbox::Registry::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sandbox/screenshots-registry.json"
    )))
    .unwrap();
    let vcode = want["vcode"].as_str().unwrap();
    registry
        .reports
        .iter_mut()
        .find(|r| r.vcode == vcode)
        .unwrap()
        .fields
        .school = Some("长沙医学院".into());
    let (_sb, url) = common::sandbox_with(registry).await;
    let image = common::fixture_image_path("screenshots", name);
    let typed = CredentialFields {
        major: want["major"].as_str().map(String::from),
        ..Default::default()
    };
    let id = common::submit(
        db,
        &NewRecord {
            candidate_id: "c-shot".into(),
            name: want["name"].as_str().unwrap().into(),
            id_number: Some(
                credverify::domain::IdNumber::parse(want["meta"]["id_number"].as_str().unwrap())
                    .unwrap(),
            ),
            fields: typed,
            idempotency_key: None,
            screenshot: Some(common::fixture(&image)),
            screenshot_ref: None,
        },
    )
    .await;
    common::drain(&common::env_with_reader(db, &url, Some(common::ocr())), 1).await;
    let rec = db.store.record(id).await.unwrap().unwrap();
    assert_eq!(rec.status, Status::NeedsReview, "{:?}", rec.reasons);
    (id, want)
}

async fn browser_flow(db: &TestDb) {
    let Some(exe) = chromium() else { return };
    let (id, want) = screenshot_record(db).await;
    let desk = desk(db).await;

    use chromiumoxide::browser::{Browser, BrowserConfig};
    use futures::StreamExt;
    let profile = tempfile::tempdir().unwrap();
    let config = BrowserConfig::builder()
        .chrome_executable(exe)
        .new_headless_mode()
        .no_sandbox()
        .user_data_dir(profile.path())
        .window_size(1280, 900)
        .viewport(None)
        .args([
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .launch_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (mut browser, mut handler) = Browser::launch(config).await.expect("launch chromium");
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });

    let flow = async {
        let page = browser
            .new_page(format!("{}/login", desk.base))
            .await
            .unwrap();
        page.find_element("input[name=name]")
            .await
            .unwrap()
            .click()
            .await
            .unwrap()
            .type_str("wang.fang")
            .await
            .unwrap();
        page.find_element("input[name=password]")
            .await
            .unwrap()
            .click()
            .await
            .unwrap()
            .type_str(PASSWORD)
            .await
            .unwrap();
        page.find_element("button[type=submit]")
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let url = left(&page, &format!("{}/login", desk.base)).await;
        assert!(
            url.contains("/records?status=needs_review"),
            "after login: {url}"
        );
        let queue = page.content().await.unwrap();
        assert!(
            queue.contains(&format!("/records/{id}")),
            "the queue lists the record"
        );
        assert!(queue.contains("screenshot_mismatch"));
        save_screenshot(&page, "console-queue.png").await;

        let queue_url = page.url().await.unwrap().unwrap_or_default();
        // Through the queue by keyboard: Enter opens the current row.
        page.find_element("body")
            .await
            .unwrap()
            .press_key("Enter")
            .await
            .unwrap();
        left(&page, &queue_url).await;
        // The image loaded: `decode()` settles once it is decoded (or cannot
        // be), and only then is its natural width known.
        let width: i64 = page
            .evaluate(
                "document.getElementById('screenshot').decode().then(\
                 () => document.getElementById('screenshot').naturalWidth, () => 0)",
            )
            .await
            .unwrap()
            .into_value()
            .unwrap();
        assert!(width > 0, "the screenshot did not load in the page");
        let cell = |field: &'static str, col: &'static str| {
            let page = &page;
            async move {
                page.find_element(format!("tr[data-field={field}] td.{col}"))
                    .await
                    .unwrap()
                    .inner_text()
                    .await
                    .unwrap()
                    .unwrap_or_default()
            }
        };
        assert_eq!(
            cell("school", "read").await,
            want["school"].as_str().unwrap(),
            "read from the screenshot"
        );
        assert_eq!(
            cell("school", "report").await,
            "长沙医学院",
            "the service's report"
        );
        assert_eq!(
            cell("major", "typed").await,
            want["major"].as_str().unwrap(),
            "typed by the candidate"
        );
        let html = page.content().await.unwrap();
        assert!(
            html.contains(credverify::domain::ReasonCode::ScreenshotMismatch.message_zh()),
            "the candidate's message"
        );
        save_screenshot(&page, "console-record.png").await;

        page.find_element("#approve textarea")
            .await
            .unwrap()
            .click()
            .await
            .unwrap()
            .type_str("school checked on the paper diploma: screenshot edited by a photo app")
            .await
            .unwrap();
        let record_url = page.url().await.unwrap().unwrap_or_default();
        // `a` approves once a note is written (typing in the note does not).
        page.evaluate("document.activeElement.blur()")
            .await
            .unwrap();
        page.find_element("body")
            .await
            .unwrap()
            .press_key("a")
            .await
            .unwrap();
        left(&page, &record_url).await;
        page.goto(format!("{}/records/{id}", desk.base))
            .await
            .unwrap();
        let status = page
            .find_element("#status")
            .await
            .unwrap()
            .inner_text()
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(status.starts_with("verified"), "{status}");
        let actors: Vec<String> = futures::future::join_all(
            page.find_elements("#events td.actor")
                .await
                .unwrap()
                .iter()
                .map(|e| async { e.inner_text().await.ok().flatten().unwrap_or_default() }),
        )
        .await;
        assert_eq!(
            actors.last().map(String::as_str),
            Some("reviewer:wang.fang"),
            "the event names the operator"
        );
    };
    tokio::time::timeout(Duration::from_secs(120), flow)
        .await
        .expect("browser flow finished in time");
    browser.close().await.ok();
    browser.wait().await.ok();
    events.abort();
    assert_eq!(common::status_of(db, id).await, Status::Verified);
}

/// Waits until the page has left `from` and finished loading the next one,
/// asking the page until it has; a minute without is a hang.
async fn left(page: &chromiumoxide::Page, from: &str) -> String {
    let next = async {
        loop {
            let url = page.url().await.unwrap().unwrap_or_default();
            let ready: String = page
                .evaluate("document.readyState")
                .await
                .ok()
                .and_then(|v| v.into_value().ok())
                .unwrap_or_default();
            if url != from && ready == "complete" {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    match tokio::time::timeout(Duration::from_secs(60), next).await {
        Ok(url) => url,
        Err(_) => panic!(
            "the page stayed on {from}:\n{}",
            page.content().await.unwrap_or_default()
        ),
    }
}

/// The README's pictures of the console, taken by this test: into `docs/`
/// with `CREDVERIFY_UPDATE_DOCS=1`, else beside the build (so a test run
/// leaves the repository as it was).
async fn save_screenshot(page: &chromiumoxide::Page, name: &str) {
    use chromiumoxide::page::ScreenshotParams;
    let png = page
        .screenshot(ScreenshotParams::builder().full_page(true).build())
        .await
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let dir = if std::env::var("CREDVERIFY_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
    } else {
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs")
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_approves_a_screenshot_record_in_chromium() {
    let db = TestDb::new(common::Kind::Sqlite).await.unwrap();
    browser_flow(&db).await;
    db.cleanup().await;
}
