//! Shared test harness: a fresh database per test on each backend, a real
//! sandbox verification service, and the worker driven in `--drain` mode.

pub mod fixtures;
pub mod line_reader;
pub mod ocr_cli;
pub mod pg;
pub mod synthetic;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use credverify::chsi::{ChsiClient, ChsiConfig};
use credverify::ocr::OcrPool;
use credverify::pipeline::{Env, ScreenshotReader};
use credverify::queue::WorkerOptions;
use credverify::retry::RetryPolicy;
use credverify::sandbox::{Fault, FaultKind, Faults, Registry, Sandbox};
use credverify::store::Store;
use tokio_util::sync::CancellationToken;

/// A database that exists for one test: a SQLite file in a temporary
/// directory, or a PostgreSQL clone of the migrated template. Both go when
/// this value is dropped, also when the test panics.
pub struct TestDb {
    pub url: String,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<pg::PgDb>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Says, where it cannot be missed, that a test did not run its check:
/// written to the process's stderr directly, which the test harness does
/// not capture. Under `CI=true` a skip is a failure instead.
pub fn skip(why: &str) {
    if in_ci() {
        panic!("{}: CI=true and it cannot run: {why}", this_test());
    }
    say(&format!(
        "SKIPPED ({why}; set CI=true to make this a failure)"
    ));
}

fn this_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string()
}

/// One line on the process's stderr, which the harness does not capture.
fn say(what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{}: {what}", this_test());
}

/// `sub` of the material kept beside the project, not in it: the reference
/// pages and samples under `../shared/` (or `$CREDVERIFY_SHARED_DIR`) that
/// the project's own fixtures were checked against. A clone elsewhere has
/// none, and the own fixtures cover every case without it, so its absence
/// is said where it cannot be missed but fails nothing, in CI too.
pub fn beside_the_project(sub: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("CREDVERIFY_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    say(&format!(
        "SKIPPED (nothing at {}; set CREDVERIFY_SHARED_DIR to the reference material; \
         the project's own fixtures ran)",
        dir.display()
    ));
    None
}

impl TestDb {
    /// A fresh migrated database. `None` only when PostgreSQL is unreachable
    /// outside CI, said by [`skip`]; in CI (`CI=true`) that is a failure.
    pub async fn new(kind: Kind) -> Option<TestDb> {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                let store = Store::open(&url).await.expect("open sqlite");
                Some(TestDb {
                    url,
                    store,
                    _dir: Some(dir),
                    _pg: None,
                })
            }
            Kind::Postgres => {
                let db = match pg::PgDb::create().await {
                    Ok(db) => db,
                    Err(e) => {
                        skip(&format!("PostgreSQL unreachable: {e}"));
                        return None;
                    }
                };
                let url = db.url();
                // The clone is migrated; opening checks that and is quick.
                let store = Store::open(&url).await.expect("open postgres");
                Some(TestDb {
                    url,
                    store,
                    _dir: None,
                    _pg: Some(db),
                })
            }
        }
    }

    /// The PostgreSQL database's name (`None` on SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        self._pg.as_ref().map(|p| p.name.as_str())
    }

    /// Closes the pool first so the database goes without forcing
    /// connections; dropping alone also removes it.
    pub async fn cleanup(self) {
        self.store.close().await;
    }

    /// Runs a statement directly (to break things behind the worker's back).
    pub async fn exec(&self, sql: &str) -> u64 {
        match &self.store {
            Store::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p.pool())
                .await
                .expect(sql)
                .rows_affected(),
            Store::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p.pool())
                .await
                .expect(sql)
                .rows_affected(),
        }
    }

    pub async fn try_exec(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.store {
            Store::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p.pool())
                .await
                .map(|r| r.rows_affected()),
            Store::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p.pool())
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// A single integer from a query.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.store {
            Store::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(p.pool())
                .await
                .expect(sql),
            Store::Postgres(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(p.pool())
                .await
                .expect(sql),
        }
    }

    /// The apalis jobs table, spelled for this backend.
    pub fn jobs_table(&self) -> &'static str {
        match self.store {
            Store::Sqlite(_) => "Jobs",
            Store::Postgres(_) => "apalis.jobs",
        }
    }
}

/// Generates one `#[tokio::test]` per backend from `async fn(TestDb)`.
macro_rules! on_both_backends {
    ($(#[$meta:meta])* $name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::common::TestDb::new($crate::common::Kind::Sqlite)
                    .await
                    .unwrap();
                $body(&db).await;
                db.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::common::TestDb::new($crate::common::Kind::Postgres).await
                else {
                    return;
                };
                $body(&db).await;
                db.cleanup().await;
            }
        }
    };
}

/// Generates one `#[tokio::test]` named `$name` on PostgreSQL alone from
/// `async fn(&TestDb)`, for what only PostgreSQL has (its functions, roles,
/// LISTEN/NOTIFY, the cluster's shared budget). An unreachable server is a
/// skip outside CI, said by [`skip`], and a failure in CI.
macro_rules! on_postgres {
    ($name:ident, $body:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(db) = $crate::common::TestDb::new($crate::common::Kind::Postgres).await else {
                return;
            };
            $body(&db).await;
            db.cleanup().await;
        }
    };
}

/// The repository's fixture registry, served by a real sandbox on a free port.
pub async fn sandbox() -> (Sandbox, String) {
    let registry = Registry::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sandbox/registry.json"
    )))
    .expect("fixture registry");
    sandbox_with(registry).await
}

pub async fn sandbox_with(registry: Registry) -> (Sandbox, String) {
    let sb = Sandbox::new(registry, 42);
    let (addr, _handle) = sb.start("127.0.0.1:0").await.expect("start sandbox");
    (sb, format!("http://{addr}"))
}

/// Faults that do `kind` to every request the sandbox answers, for as long
/// as they are set.
pub fn every_request(kind: FaultKind) -> Faults {
    Faults {
        global: vec![Fault {
            kind,
            times: None,
            probability: None,
        }],
        ..Default::default()
    }
}

pub fn chsi(base_url: &str) -> Arc<ChsiClient> {
    ChsiClient::new(ChsiConfig {
        base_url: base_url.to_string(),
        rate_per_second: 0.0,
        timeout: Duration::from_secs(5),
        back_off: Duration::from_millis(10),
        // Plain HTTP: the browser fetcher has its own tests (front_door.rs).
        fetch: credverify::chsi::FetchMode::Http,
        ..ChsiConfig::default()
    })
    .expect("client")
}

/// Retries come quickly in tests, but not so quickly that a retry falls due
/// inside the drain that scheduled it (SQLite schedules in whole seconds).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_secs(2),
        max: Duration::from_secs(4),
        max_retries: 4,
        jitter: 0.0,
    }
}

/// One OCR engine shared by the tests of a binary: loading chi_sim takes a
/// second and ~60 MiB, and the tests' images are few. It has the second
/// line reader, as a deployed worker does (`scripts/fetch-line-reader`).
pub fn ocr() -> Arc<dyn ScreenshotReader> {
    static POOL: OnceLock<Arc<OcrPool>> = OnceLock::new();
    shared_pool(&POOL, Some(line_reader::dir()))
}

/// Tesseract alone, as a worker without the second line reader reads: its
/// readers still disagree on some codes, which the candidate tests need.
pub fn ocr_tesseract_only() -> Arc<dyn ScreenshotReader> {
    static POOL: OnceLock<Arc<OcrPool>> = OnceLock::new();
    shared_pool(&POOL, None)
}

/// The one-thread engine pool kept in `cell`, made on first use with
/// `line_reader` (or Tesseract alone).
fn shared_pool(
    cell: &'static OnceLock<Arc<OcrPool>>,
    line_reader: Option<credverify::ocr::line_reader::LineReaderDir>,
) -> Arc<dyn ScreenshotReader> {
    cell.get_or_init(|| {
        Arc::new(
            OcrPool::new(credverify::ocr::OcrConfig {
                threads: 1,
                line_reader,
                ..Default::default()
            })
            .expect("Tesseract with chi_sim (scripts/setup-system installs it)"),
        )
    })
    .clone()
}

/// A fixture file's bytes, by its path under `fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

pub fn env(db: &TestDb, base_url: &str) -> Arc<Env> {
    env_with_reader(db, base_url, None)
}

pub fn env_with_reader(
    db: &TestDb,
    base_url: &str,
    reader: Option<Arc<dyn ScreenshotReader>>,
) -> Arc<Env> {
    Arc::new(Env {
        store: db.store.clone(),
        chsi: chsi(base_url),
        retry: fast_retry(),
        reader,
        uploads: credverify::uploads::Uploads::new(Default::default()).unwrap(),
        id_key: Some(credverify::domain::IdKey::generate()),
    })
}

pub fn drain_options(concurrency: usize) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        drain: true,
        poll_interval: Duration::from_millis(50),
        sweep_quiet: Duration::from_secs(3600),
        ..WorkerOptions::default()
    }
}

/// Runs a worker until nothing can run now.
pub async fn drain(env: &Arc<Env>, concurrency: usize) {
    tokio::time::timeout(
        Duration::from_secs(120),
        credverify::queue::run(
            env.clone(),
            drain_options(concurrency),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("drain finished in time")
    .expect("worker ran");
}

/// Drains, and while records wait for a retry, makes those retries due
/// ([`retries_due_now`]) and drains again. Each round spends a retry of
/// every waiting record, so the retry budget bounds the rounds; a record
/// still waiting after them is left for the test's assertions to show.
pub async fn drain_until_settled(env: &Arc<Env>, concurrency: usize) {
    for _ in 0..=env.retry.max_retries + 1 {
        drain(env, concurrency).await;
        let waiting = env
            .store
            .list(&credverify::store::ListFilter {
                status: Some(credverify::domain::Status::Unverified),
                limit: 100_000,
                ..Default::default()
            })
            .await
            .unwrap();
        if !waiting
            .iter()
            .any(|r| !r.retries_exhausted && r.next_attempt_at.is_some())
        {
            return;
        }
        retries_due_now(&env.store).await;
    }
}

/// Makes every retry waiting in the queue due now, as if its backoff had
/// passed; returns how many jobs it moved. The queue's own clock cannot be
/// advanced from a test: apalis-sqlite fetches by the process's
/// `SystemTime` and apalis-postgres by the database's `now()`, so the due
/// times move instead.
pub async fn retries_due_now(store: &Store) -> u64 {
    let moved = match store {
        Store::Sqlite(p) => {
            sqlx::query("UPDATE Jobs SET run_at = $1 WHERE status = 'Pending' AND run_at > $1")
                // apalis-sqlite compares whole unix seconds, rounded down.
                .bind(chrono::Utc::now().timestamp())
                .execute(p.pool())
                .await
                .map(|r| r.rows_affected())
        }
        Store::Postgres(p) => sqlx::query(
            "UPDATE apalis.jobs SET run_at = now() WHERE status = 'Pending' AND run_at > now()",
        )
        .execute(p.pool())
        .await
        .map(|r| r.rows_affected()),
    };
    moved.expect("move the retries' due times")
}

/// Path of the built binary, for CLI tests.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_credverify"));
    c.env_remove("CREDVERIFY_DATABASE_URL")
        .env_remove("CREDVERIFY_ID_HMAC_KEY_FILE")
        .env("CREDVERIFY_ID_HMAC_KEY", id_key_text())
        .env("CREDVERIFY_LOG", "warn");
    c
}

/// The ID-number HMAC key every worker process of this test binary shares
/// (generated once per run, as the demo does).
pub fn id_key_text() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(credverify::domain::IdKey::generate_text)
}

/// A worker process on `db` against the service at `chsi_url`, quick to
/// retry and never throttled (a local sandbox). `extra` flags replace the
/// defaults of the same name.
pub fn spawn_worker(db: &TestDb, chsi_url: &str, extra: &[&str]) -> std::process::Child {
    let mut flags: Vec<(String, String)> = [
        ("--chsi-url", chsi_url),
        ("--chsi-rate", "0"),
        ("--chsi-back-off-secs", "0.05"),
        ("--retry-base-secs", "2"),
        ("--retry-max-delay-secs", "4"),
        ("--poll-ms", "100"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for pair in extra.chunks(2) {
        let (k, v) = (
            pair[0].to_string(),
            pair.get(1).map(|s| s.to_string()).unwrap_or_default(),
        );
        match flags.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => flags.push((k, v)),
        }
    }
    let mut cmd = bin();
    cmd.args(["--database-url", &db.url, "worker"]);
    for (k, v) in &flags {
        cmd.arg(k);
        if !v.is_empty() {
            cmd.arg(v);
        }
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn worker")
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for `child` to exit and returns its status; a child still running
/// after `within` fails the test with `what`. The bound is for a hang, not a
/// speed: make it generous.
pub async fn exited(
    child: &mut std::process::Child,
    within: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let mut status = None;
    eventually(within, what, || {
        status = child.try_wait().expect("ask whether the child exited");
        let done = status.is_some();
        async move { done }
    })
    .await;
    status.expect("exited")
}

/// Set in a test process started by [`rerun_alone`].
const ALONE_ENV: &str = "CREDVERIFY_TEST_ALONE";

/// For a test that measures the whole process (its peak resident size): the
/// suite is one binary whose other tests would move the figure, so the test
/// runs again by itself in a child process of this binary. Returns `true`
/// in the parent once the child has passed (the caller then returns), and
/// `false` in the child, which runs the test.
pub fn rerun_alone() -> bool {
    if std::env::var_os(ALONE_ENV).is_some() {
        return false;
    }
    // libtest runs each test on a thread named after it.
    let name = std::thread::current()
        .name()
        .expect("the test's thread is named after the test")
        .to_string();
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE_ENV, "1")
        .output()
        .expect("run the test alone");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name}, run alone, failed:\n{stdout}\n{stderr}"
    );
    true
}

pub fn sigterm(child: &std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

pub fn sigkill(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Records a test submitted, by status.
pub async fn count_status(db: &TestDb, status: &str) -> i64 {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM records WHERE status = '{status}'"
    ))
    .await
}

/// Every record has exactly one decision event and its last event matches
/// its status: nothing decided twice, the log consistent with the records.
pub async fn assert_one_decision_each(db: &TestDb) {
    let doubles = db
        .scalar(
            "SELECT COUNT(*) FROM (SELECT record_id FROM record_events WHERE from_status = 'unverified' \
             AND to_status <> 'unverified' GROUP BY record_id HAVING COUNT(*) > 1) d",
        )
        .await;
    assert_eq!(doubles, 0, "records decided more than once");
    let inconsistent = db
        .scalar(
            "SELECT COUNT(*) FROM records r WHERE r.status <> (SELECT e.to_status FROM record_events e \
             WHERE e.record_id = r.id ORDER BY e.id DESC LIMIT 1)",
        )
        .await;
    assert_eq!(
        inconsistent, 0,
        "a record's last event disagrees with its status"
    );
}

/// Submits `new` through the store and returns the new record's id; a
/// refusal fails the test.
pub async fn submit(db: &TestDb, new: &credverify::store::NewRecord) -> i64 {
    db.store.submit(new).await.expect("submit").record_id
}

/// Record `id`'s status now; a missing record fails the test.
pub async fn status_of(db: &TestDb, id: i64) -> credverify::domain::Status {
    db.store
        .record(id)
        .await
        .expect("read the record")
        .unwrap_or_else(|| panic!("no record {id}"))
        .status
}

/// Every record with `status` (every record at all with `None`), up to
/// 10,000: more than any test submits.
pub async fn records_with(
    db: &TestDb,
    status: Option<credverify::domain::Status>,
) -> Vec<credverify::store::RecordView> {
    db.store
        .list(&credverify::store::ListFilter {
            status,
            limit: 10_000,
            ..Default::default()
        })
        .await
        .expect("list records")
}

/// A typed record: candidate `candidate` named `name` with `fields`, and no
/// ID number, screenshot or idempotency key.
pub fn typed_record(
    candidate: &str,
    name: &str,
    fields: credverify::domain::CredentialFields,
) -> credverify::store::NewRecord {
    credverify::store::NewRecord {
        candidate_id: candidate.into(),
        name: name.into(),
        id_number: None,
        fields,
        idempotency_key: None,
        screenshot: None,
        screenshot_ref: None,
    }
}

/// A record a person must decide: the fixture registry's diploma
/// `3WCH6ZJ2QK8MXD5N`, claimed under a name one character off the report's.
pub fn near_miss(candidate: &str) -> credverify::store::NewRecord {
    typed_record(
        candidate,
        "张晓燕",
        credverify::domain::CredentialFields::from_manual_json(
            r#"{"kind":"diploma","vcode":"3WCH6ZJ2QK8MXD5N"}"#,
        )
        .unwrap(),
    )
}

/// The path under `fixtures/` of the image of fixture `name` in `dir`: its
/// `.png`, else its `.jpg`; a fixture with neither fails the test.
pub fn fixture_image_path(dir: &str, name: &str) -> String {
    ["png", "jpg"]
        .iter()
        .map(|ext| format!("{dir}/{name}.{ext}"))
        .find(|p| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(p)
                .exists()
        })
        .unwrap_or_else(|| panic!("no image for fixture {dir}/{name}"))
}

/// Fixture `name`'s expected reading in `dir`: the JSON beside its image.
pub fn fixture_expected(dir: &str, name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(&format!("{dir}/{name}.json")))
        .unwrap_or_else(|e| panic!("{dir}/{name}.json: {e}"))
}

/// Runs `credverify --database-url <db's url> ARGS` to the end.
pub fn run_cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    bin()
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .output()
        .expect("run credverify")
}

/// Asserts that a command exited 0, showing both its streams if not, and
/// returns its stdout.
pub fn ok(o: &std::process::Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits up to 30 s for the worker's health endpoint at `addr` to answer
/// with success.
pub async fn wait_until_healthy(http: &reqwest::Client, addr: &str) {
    eventually(
        Duration::from_secs(30),
        "the health check answers",
        || async {
            http.get(format!("http://{addr}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;
}

/// Submits [`near_miss`] as candidate `c-near`, has a worker decide it
/// against the fixture sandbox, asserts that it waits for a person, and
/// returns its id.
pub async fn record_in_review(db: &TestDb) -> i64 {
    let (_sb, url) = sandbox().await;
    let id = submit(db, &near_miss("c-near")).await;
    drain(&env(db, &url), 1).await;
    assert_eq!(
        status_of(db, id).await,
        credverify::domain::Status::NeedsReview
    );
    id
}

/// Waits until record `id` has left `unverified` (`what` names the wait in
/// the failure), for at most `within`; returns how long it took.
pub async fn until_decided(db: &TestDb, id: i64, within: Duration, what: &str) -> Duration {
    eventually(within, what, || async {
        status_of(db, id).await != credverify::domain::Status::Unverified
    })
    .await
}

/// Reads an HTTP request's head (up to its blank line) from `sock`, for the
/// tests' hand-written servers. `None` when the peer closes or fails first,
/// or sends more than 64 KiB without ending the head.
pub async fn read_request_head(sock: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// An address on 127.0.0.1 with a port free a moment ago, for a process
/// to listen on.
pub fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// A worker's health answer (`/healthz`, as JSON) and its metrics
/// (`/metrics`, as text), served at `addr`.
pub async fn health_and_metrics(http: &reqwest::Client, addr: &str) -> (serde_json::Value, String) {
    let ask = |path: &str| http.get(format!("http://{addr}{path}")).send();
    let health = ask("/healthz").await.expect("ask /healthz");
    let metrics = ask("/metrics").await.expect("ask /metrics");
    (
        health.json().await.expect("/healthz answers JSON"),
        metrics.text().await.expect("/metrics answers text"),
    )
}

/// Starts a worker process ([`spawn_worker`] with `extra`), waits up to
/// 60 s for it to decide record `id`, and kills it; returns how long the
/// decision took.
pub async fn worker_decides(db: &TestDb, chsi_url: &str, extra: &[&str], id: i64) -> Duration {
    let mut worker = spawn_worker(db, chsi_url, extra);
    let took = until_decided(
        db,
        id,
        Duration::from_secs(60),
        "the new worker decides the record",
    )
    .await;
    sigkill(&mut worker);
    took
}

/// The fixture registry's sandbox ([`sandbox`]) and an in-process worker's
/// environment on `db` that asks it ([`env`]).
pub async fn sandbox_and_env(db: &TestDb) -> (Sandbox, Arc<Env>) {
    let (sb, url) = sandbox().await;
    let env = env(db, &url);
    (sb, env)
}

/// Runs `credverify --database-url <db's url> ARGS`, asserts that it
/// succeeded ([`ok`]) and parses its output as one JSON value.
pub fn cli_json(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let out = ok(&run_cli(db, args));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}
