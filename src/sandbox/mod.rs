//! A local stand-in for the verification service: answers
//! `GET /xlcx/bg.do?vcode=...` from a registry, in the service's format, with
//! fault injection. Used by the demo, the tests, and by backend teams for
//! their own integration tests.
//!
//! Control endpoints (JSON): `GET|PUT|DELETE /_sandbox/faults`,
//! `PUT /_sandbox/reports` (add or replace reports), `GET /_sandbox/stats`,
//! `GET /_sandbox/front-door-cookie` (the cookie that passes the front door,
//! for testing a cookie file).

mod registry;
mod render;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

pub use registry::{Fault, FaultKind, Faults, Registry, RegistryReport, ReportState};

/// The page the sandbox serves for a report: for tests that want the
/// service's format without a server.
pub fn report_page(report: &RegistryReport, vcode: &str) -> String {
    render::report(report, vcode)
}

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
    /// The front door's meta token; its cookie value is derived from it.
    front_door_token: String,
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
            .route(
                "/_sandbox/faults",
                get(get_faults).put(put_faults).delete(clear_faults),
            )
            .route("/_sandbox/reports", axum::routing::put(put_reports))
            .route("/_sandbox/stats", get(get_stats))
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
                other => {
                    chosen = Some(other.clone());
                    break;
                }
            }
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
            Some(FaultKind::FrontDoor { status }) => {
                inner.stats.front_door_served += 1;
                Reply::Html(
                    status
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .unwrap_or(StatusCode::PRECONDITION_FAILED),
                    render::front_door(&inner.front_door_token, FRONT_DOOR_COOKIE),
                )
            }
            Some(FaultKind::Delay { .. }) | None => {
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
            ReportState::Ok => render::report(r, code),
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

async fn get_front_door_cookie(State(sb): State<Sandbox>) -> Json<serde_json::Value> {
    let (name, value) = sb.front_door_cookie();
    Json(serde_json::json!({ "name": name, "value": value }))
}
