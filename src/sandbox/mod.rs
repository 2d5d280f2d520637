//! A local stand-in for the verification service: answers
//! `GET /xlcx/bg.do?vcode=...` from a registry, in the service's format, with
//! fault injection. Used by the demo, the tests, and by backend teams for
//! their own integration tests.
//!
//! Control endpoints (JSON): `GET|PUT|DELETE /_sandbox/faults`,
//! `PUT /_sandbox/reports` (add or replace reports), `GET /_sandbox/stats`,
//! `GET /_sandbox/arrivals` (lookups seen, and the most in any one second).
//! `GET /_sandbox/front-door-cookie` (the cookie that passes the front door,
//! for testing a cookie file).

mod registry;
mod render;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

pub use registry::{Fault, FaultKind, Faults, Markup, Registry, RegistryReport, ReportState};

/// The page the sandbox serves for a report: for tests that want the
/// service's format without a server.
pub fn report_page(report: &RegistryReport, vcode: &str) -> String {
    match report.markup {
        Markup::Card => render::report(report, vcode),
        Markup::Table => render::report_table(report, vcode),
    }
}

/// An image served under `/report/img/` is at most this large.
const MAX_IMAGE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub faults_injected: u64,
    pub by_code: BTreeMap<String, u64>,
    /// Front-door pages served (counted in `faults_injected` too).
    #[serde(default)]
    pub front_door_served: u64,
    /// Requests that carried the front door's cookie and got the page.
    #[serde(default)]
    pub front_door_passed: u64,
}

/// The cookie the front door's script sets.
pub const FRONT_DOOR_COOKIE: &str = "FSSBBIl1UgzbN7N443S";

struct Inner {
    reports: HashMap<String, RegistryReport>,
    faults: Faults,
    stats: Stats,
    rng: StdRng,
    /// Where `/report/img/{file}` is looked for, in order.
    image_dirs: Vec<std::path::PathBuf>,
    /// When lookups arrived (the latest `MAX_ARRIVALS`), and which of them
    /// were answered with an injected failure other than a delay: what a
    /// test needs to check a request budget from the service's side.
    arrivals: VecDeque<Instant>,
    fault_arrivals: VecDeque<Instant>,
    /// The front door's meta token; its cookie value is derived from it.
    front_door_token: String,
}

const MAX_ARRIVALS: usize = 100_000;

fn remember(list: &mut VecDeque<Instant>, at: Instant) {
    if list.len() == MAX_ARRIVALS {
        list.pop_front();
    }
    list.push_back(at);
}

/// The most arrivals within any span shorter than `window` (`times` in
/// order).
pub fn max_within(times: &[Instant], window: Duration) -> usize {
    let mut best = 0;
    let mut first = 0;
    for (last, t) in times.iter().enumerate() {
        while *t - times[first] >= window {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}

/// Shared state of a running sandbox; clone freely.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
}

fn canonical(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

fn well_formed(code: &str) -> bool {
    (code.len() == 16
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        || (code.len() == 12 && code.chars().all(|c| c.is_ascii_digit()))
}

/// What to answer, decided under the lock and served outside it.
enum Reply {
    Html(StatusCode, String),
    Bytes(Vec<u8>),
    Raw(StatusCode, Vec<u8>),
}

impl Sandbox {
    /// `seed` fixes the sequence of probabilistic faults.
    pub fn new(registry: Registry, seed: u64) -> Self {
        let reports = registry
            .reports
            .into_iter()
            .map(|r| (canonical(&r.vcode), r))
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        const ALPHANUMERIC: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let front_door_token = (0..32)
            .map(|_| ALPHANUMERIC[rng.random_range(0..ALPHANUMERIC.len())] as char)
            .collect();
        Self {
            inner: Arc::new(Mutex::new(Inner {
                reports,
                faults: registry.faults,
                stats: Stats::default(),
                rng,
                front_door_token,
                image_dirs: Vec::new(),
                arrivals: VecDeque::new(),
                fault_arrivals: VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    pub fn upsert(&self, reports: Vec<RegistryReport>) {
        let mut inner = self.lock();
        for r in reports {
            inner.reports.insert(canonical(&r.vcode), r);
        }
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Serve the files of `dir` as the images table-markup reports draw
    /// their values in (`/report/img/{file}`).
    pub fn serve_images_from(&self, dir: impl Into<std::path::PathBuf>) {
        self.lock().image_dirs.push(dir.into());
    }

    fn image(&self, file: &str) -> Option<(Vec<u8>, &'static str)> {
        // A bare file name: nothing outside the directories is reachable.
        if file.is_empty()
            || file.starts_with('.')
            || !file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return None;
        }
        let dirs = self.lock().image_dirs.clone();
        let path = dirs.iter().map(|d| d.join(file)).find(|p| p.is_file())?;
        if std::fs::metadata(&path).ok()?.len() > MAX_IMAGE_BYTES {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        let mime = match path.extension().and_then(|e| e.to_str()) {
            Some("png") => "image/png",
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("webp") => "image/webp",
            _ => "application/octet-stream",
        };
        Some((bytes, mime))
    }

    /// When each lookup arrived, oldest first (the latest 100,000).
    pub fn arrivals(&self) -> Vec<Instant> {
        self.lock().arrivals.iter().copied().collect()
    }

    /// When each lookup answered with an injected failure (captcha, status,
    /// garbage...) arrived.
    pub fn fault_arrivals(&self) -> Vec<Instant> {
        self.lock().fault_arrivals.iter().copied().collect()
    }

    /// The most lookups that arrived within any span shorter than `window`:
    /// with `--chsi-rate R` (burst 1), at most R + 1 in a second.
    pub fn max_requests_within(&self, window: Duration) -> usize {
        max_within(&self.arrivals(), window)
    }

    /// The name and value of the cookie that passes the front door: what
    /// the front door's script computes, and what an operator's browser
    /// would export.
    pub fn front_door_cookie(&self) -> (String, String) {
        let inner = self.lock();
        (
            FRONT_DOOR_COOKIE.to_string(),
            inner.front_door_token[..16].chars().rev().collect(),
        )
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/xlcx/bg.do", get(lookup))
            .route("/report/img/{file}", get(report_image))
            .route(
                "/_sandbox/faults",
                get(get_faults).put(put_faults).delete(clear_faults),
            )
            .route("/_sandbox/reports", axum::routing::put(put_reports))
            .route("/_sandbox/stats", get(get_stats))
            .route("/_sandbox/arrivals", get(get_arrivals))
            .route("/_sandbox/front-door-cookie", get(get_front_door_cookie))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(self.clone())
    }

    /// Serves on `listener` until the returned handle is aborted.
    pub fn spawn(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let app = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        })
    }

    /// Binds `addr` (port 0 for any free port) and serves in the background.
    pub async fn start(
        &self,
        addr: &str,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        Ok((local, self.spawn(listener)))
    }

    fn answer(&self, code: &str, cookies: &str) -> (Duration, Reply) {
        let (name, value) = self.front_door_cookie();
        let passes = cookies
            .split(';')
            .any(|c| c.trim().split_once('=') == Some((name.as_str(), value.as_str())));
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.stats.requests += 1;
        let now = Instant::now();
        remember(&mut inner.arrivals, now);
        *inner.stats.by_code.entry(code.to_string()).or_default() += 1;

        let mut delay = Duration::ZERO;
        let mut chosen: Option<FaultKind> = None;
        let per_code = inner
            .faults
            .per_code
            .get_mut(code)
            .map(|v| v.as_mut_slice())
            .unwrap_or_default();
        for fault in per_code.iter_mut().chain(inner.faults.global.iter_mut()) {
            if fault.times == Some(0) {
                continue;
            }
            if matches!(fault.kind, FaultKind::FrontDoor { .. }) && passes {
                inner.stats.front_door_passed += 1;
                continue;
            }
            let p = fault.probability.unwrap_or(1.0);
            if p < 1.0 && inner.rng.random::<f64>() >= p {
                continue;
            }
            if let Some(t) = fault.times.as_mut() {
                *t -= 1;
            }
            inner.stats.faults_injected += 1;
            match &fault.kind {
                FaultKind::Delay { ms } => delay += Duration::from_millis(*ms),
                FaultKind::DelayBetween { min_ms, max_ms } => {
                    let ms = inner.rng.random_range(*min_ms..=(*max_ms).max(*min_ms));
                    delay += Duration::from_millis(ms);
                }
                other => {
                    chosen = Some(other.clone());
                    break;
                }
            }
        }
        if chosen.is_some() {
            remember(&mut inner.fault_arrivals, now);
        }
        let reply = match chosen {
            Some(FaultKind::Status { status }) => Reply::Html(
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                render::maintenance(),
            ),
            Some(FaultKind::Captcha) => Reply::Html(StatusCode::OK, render::captcha()),
            Some(FaultKind::Maintenance) => Reply::Html(StatusCode::OK, render::maintenance()),
            Some(FaultKind::Empty) => Reply::Html(StatusCode::OK, String::new()),
            Some(FaultKind::Garbage) => {
                let bytes: Vec<u8> = (0..4096).map(|_| inner.rng.random::<u8>()).collect();
                Reply::Bytes(bytes)
            }
            Some(FaultKind::Huge { bytes }) => Reply::Bytes(vec![b'<'; bytes]),
            Some(FaultKind::Page { file, status }) => {
                let status = status
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::OK);
                match std::fs::read(&file) {
                    Ok(bytes) => Reply::Raw(status, bytes),
                    Err(e) => Reply::Html(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("sandbox: cannot read page {file}: {e}"),
                    ),
                }
            }
            Some(FaultKind::FrontDoor { status }) => {
                inner.stats.front_door_served += 1;
                Reply::Html(
                    status
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .unwrap_or(StatusCode::PRECONDITION_FAILED),
                    render::front_door(&inner.front_door_token, FRONT_DOOR_COOKIE),
                )
            }
            Some(FaultKind::Delay { .. } | FaultKind::DelayBetween { .. }) | None => {
                Reply::Html(StatusCode::OK, page_for(&inner.reports, code))
            }
        };
        (delay, reply)
    }
}

fn page_for(reports: &HashMap<String, RegistryReport>, code: &str) -> String {
    if !well_formed(code) {
        return render::illegal();
    }
    match reports.get(code) {
        None => render::invalid(),
        Some(r) => match r.state {
            ReportState::Ok => report_page(r, code),
            ReportState::Expired => render::expired(),
            ReportState::Closed => render::closed(),
        },
    }
}

#[derive(Deserialize)]
struct LookupQuery {
    #[serde(default)]
    vcode: String,
}

async fn lookup(
    State(sb): State<Sandbox>,
    Query(q): Query<LookupQuery>,
    headers: HeaderMap,
) -> Response {
    let code = canonical(&q.vcode);
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    let (delay, reply) = sb.answer(&code, &cookies);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let html = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
    match reply {
        Reply::Html(status, body) => (status, html, body).into_response(),
        Reply::Bytes(body) => (StatusCode::OK, html, body).into_response(),
        Reply::Raw(status, body) => (status, html, body).into_response(),
    }
}

async fn report_image(
    State(sb): State<Sandbox>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    match sb.image(&file) {
        Some((bytes, mime)) => ([(header::CONTENT_TYPE, mime)], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn get_faults(State(sb): State<Sandbox>) -> Json<Faults> {
    Json(sb.faults())
}

async fn put_faults(State(sb): State<Sandbox>, Json(f): Json<Faults>) -> StatusCode {
    sb.set_faults(f);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(sb): State<Sandbox>) -> StatusCode {
    sb.set_faults(Faults::default());
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Box<RegistryReport>),
    Many(Vec<RegistryReport>),
}

async fn put_reports(State(sb): State<Sandbox>, Json(r): Json<OneOrMany>) -> StatusCode {
    sb.upsert(match r {
        OneOrMany::One(r) => vec![*r],
        OneOrMany::Many(v) => v,
    });
    StatusCode::NO_CONTENT
}

async fn get_stats(State(sb): State<Sandbox>) -> Json<Stats> {
    Json(sb.stats())
}

/// For checks from outside the process: how many lookups arrived and the
/// most within any one second.
async fn get_arrivals(State(sb): State<Sandbox>) -> Json<serde_json::Value> {
    let arrivals = sb.arrivals();
    Json(serde_json::json!({
        "count": arrivals.len(),
        "max_in_any_second": max_within(&arrivals, Duration::from_secs(1)),
    }))
}

async fn get_front_door_cookie(State(sb): State<Sandbox>) -> Json<serde_json::Value> {
    let (name, value) = sb.front_door_cookie();
    Json(serde_json::json!({ "name": name, "value": value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_window_is_counted_over_every_span() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let times = [
            at(0),
            at(300),
            at(900),
            at(999),
            at(1000),
            at(1200),
            at(2500),
        ];
        assert_eq!(max_within(&times, Duration::from_secs(1)), 5);
        assert_eq!(max_within(&times[..1], Duration::from_secs(1)), 1);
        assert_eq!(max_within(&[], Duration::from_secs(1)), 0);
    }
}
