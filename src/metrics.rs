//! Prometheus metrics and the health check a worker serves on
//! `--metrics-addr`. Counters and histograms are process-wide (every job of
//! the process adds to them, so they sum over workers). Gauges that describe
//! the database (queue depth, records by status) are read from it at scrape
//! time through indexes and trigger-kept counts, never by counting decided
//! records, and only one live worker of the cluster reports them
//! (`credverify_cluster_reporter 1`), so summing them over every worker
//! counts the database once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CookiesLabel {
    cookies: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

struct Metrics {
    registry: Registry,
    /// The database's figures: encoded only by the cluster's reporter.
    cluster: Registry,
    reporter: Gauge,
    chsi_pauses: Counter,
    chsi_paused_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    jobs: Family<OutcomeLabel, Counter>,
    ocr_seconds: Histogram,
    chsi_seconds: Histogram,
    chsi_errors: Family<KindLabel, Counter>,
    chsi_front_door: Family<CookiesLabel, Counter>,
    webhook: Family<OutcomeLabel, Counter>,
    our_faults: Family<KindLabel, Counter>,
    queue_depth: Gauge,
    records: Family<StatusLabel, Gauge>,
    retries_exhausted: Gauge,
    outbox_pending: Gauge,
    last_job: Gauge,
}

static LAST_JOB_UNIX: AtomicI64 = AtomicI64::new(0);
/// When this process's own pause ends (unix ms): the pause of a SQLite
/// deployment, whose budget is per process.
static PAUSED_UNTIL_MS: AtomicI64 = AtomicI64::new(0);
/// This process's current worker name, and how recent a heartbeat must be
/// for a worker to count as live.
static WORKER: Mutex<Option<(String, Duration)>> = Mutex::new(None);

/// 1 when screenshots' names and codes are read again by the second line
/// reader (PP-OCR), 0 when Tesseract reads them alone.
static LINE_READER: LazyLock<Gauge> = LazyLock::new(Gauge::default);

/// Whether this process has the second line reader, for `/healthz` and
/// `/metrics`.
pub fn set_line_reader(present: bool) {
    LINE_READER.set(i64::from(present));
}

pub fn line_reader() -> bool {
    LINE_READER.get() == 1
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("credverify");
    let jobs = Family::<OutcomeLabel, Counter>::default();
    registry.register("jobs", "Jobs finished, by outcome", jobs.clone());
    let ocr_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 10));
    registry.register(
        "ocr_seconds",
        "Time to read one screenshot",
        ocr_seconds.clone(),
    );
    let chsi_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 12));
    registry.register(
        "chsi_request_seconds",
        "Verification-service request latency",
        chsi_seconds.clone(),
    );
    let chsi_errors = Family::<KindLabel, Counter>::default();
    registry.register(
        "chsi_errors",
        "Transient verification-service failures, by kind",
        chsi_errors.clone(),
    );
    let chsi_front_door = Family::<CookiesLabel, Counter>::default();
    registry.register(
        "chsi_front_door",
        "Plain requests that met the service's anti-bot front door, by the cookies they carried (none, browser, cookie_file)",
        chsi_front_door.clone(),
    );
    let webhook = Family::<OutcomeLabel, Counter>::default();
    registry.register(
        "webhook_deliveries",
        "Webhook notification attempts, by outcome",
        webhook.clone(),
    );
    let our_faults = Family::<KindLabel, Counter>::default();
    registry.register(
        "our_faults",
        "Jobs held back by a fault on our side, never the candidate's (configuration, data, ocr_engine): alert on any",
        our_faults.clone(),
    );
    let reporter = Gauge::default();
    registry.register(
        "cluster_reporter",
        "1 if this worker reports the database's gauges for the whole cluster",
        reporter.clone(),
    );
    let chsi_pauses = Counter::default();
    registry.register(
        "chsi_pauses",
        "Pauses of every request this worker started after the service pushed back",
        chsi_pauses.clone(),
    );
    let mut cluster = Registry::with_prefix("credverify");
    let chsi_paused_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    cluster.register(
        "chsi_paused_seconds",
        "Seconds left of the pause on every request after the service pushed back (0: none)",
        chsi_paused_seconds.clone(),
    );
    let queue_depth = Gauge::default();
    cluster.register("queue_depth", "Jobs queued or running", queue_depth.clone());
    let records = Family::<StatusLabel, Gauge>::default();
    cluster.register("records", "Records by status", records.clone());
    let retries_exhausted = Gauge::default();
    cluster.register(
        "records_retries_exhausted",
        "Unverified records waiting for an admin",
        retries_exhausted.clone(),
    );
    let outbox_pending = Gauge::default();
    cluster.register(
        "outbox_pending",
        "Status notifications not yet delivered",
        outbox_pending.clone(),
    );
    registry.register(
        "line_reader",
        "1 if a second line reader (PP-OCR) re-reads names and codes",
        LINE_READER.clone(),
    );
    let last_job = Gauge::default();
    registry.register(
        "last_job_timestamp_seconds",
        "When this process last finished a job",
        last_job.clone(),
    );
    Metrics {
        registry,
        cluster,
        reporter,
        chsi_pauses,
        chsi_paused_seconds,
        jobs,
        ocr_seconds,
        chsi_seconds,
        chsi_errors,
        chsi_front_door,
        webhook,
        our_faults,
        queue_depth,
        records,
        retries_exhausted,
        outbox_pending,
        last_job,
    }
});

pub fn job_outcome(label: &str) {
    METRICS
        .jobs
        .get_or_create(&OutcomeLabel {
            outcome: label.to_string(),
        })
        .inc();
    LAST_JOB_UNIX.store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
}

pub fn ocr_took(d: Duration) {
    METRICS.ocr_seconds.observe(d.as_secs_f64());
}

pub fn chsi_request(d: Duration, transient_kind: Option<&str>) {
    METRICS.chsi_seconds.observe(d.as_secs_f64());
    if let Some(kind) = transient_kind {
        METRICS
            .chsi_errors
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }
}

/// This process paused the service's requests for `pause`.
pub fn chsi_paused(pause: Duration) {
    METRICS.chsi_pauses.inc();
    let until = chrono::Utc::now().timestamp_millis() + pause.as_millis() as i64;
    PAUSED_UNTIL_MS.fetch_max(until, Ordering::Relaxed);
}

/// Names the worker this process runs now (it changes when the fetch loop
/// restarts); `live` is how recent a heartbeat must be.
pub fn set_worker(name: &str, live: Duration) {
    *WORKER.lock().unwrap_or_else(|p| p.into_inner()) = Some((name.to_string(), live));
}

/// Names the worker unless another (the lookup worker) is named already.
pub fn set_worker_if_unset(name: &str, live: Duration) {
    let mut w = WORKER.lock().unwrap_or_else(|p| p.into_inner());
    if w.is_none() {
        *w = Some((name.to_string(), live));
    }
}

/// What `/metrics` and `/healthz` read from the database at scrape time.
/// Named here, by what this module needs, so that it depends on nothing of
/// ours; the worker's store answers it (`queue::gauges`).
#[async_trait::async_trait]
pub trait GaugeSource: Send + Sync + 'static {
    /// Whether the database answers at all.
    async fn ping(&self) -> Result<(), SourceError>;
    /// The live worker (heartbeat within `live`) elected to report the
    /// cluster's gauges, if any.
    async fn reporter(&self, live: Duration) -> Result<Option<String>, SourceError>;
    async fn gauges(&self) -> Result<DatabaseGauges, SourceError>;
}

/// The database's failure, as the source reports it (logged, never shown).
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// The database's figures, read at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseGauges {
    /// Records by status name; every status the source knows, zeros
    /// included, so a status that empties shows 0 rather than vanishing.
    pub records: BTreeMap<String, i64>,
    /// Unverified records whose retries ran out (waiting for a person).
    pub retries_exhausted: i64,
    pub jobs_pending: i64,
    pub outbox_pending: i64,
    pub chsi_pause: Pause,
}

/// Where the verification service's pause is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Pause {
    /// In the database, shared by every worker: paused until then, if at all.
    Shared(Option<chrono::DateTime<chrono::Utc>>),
    /// In this process (an embedded database has one worker).
    #[default]
    ThisProcess,
}

/// Whether this process reports the cluster's gauges: a process running no
/// worker (an embedding, a test) always does; a worker does when it is the
/// cluster's elected reporter.
async fn reports_cluster(source: &dyn GaugeSource) -> Result<bool, SourceError> {
    let current = WORKER.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let Some((name, live)) = current else {
        return Ok(true);
    };
    Ok(source.reporter(live).await?.as_deref() == Some(name.as_str()))
}

/// A plain request met the front door; `cookies` says which cookies it
/// carried (`none`, `browser`, `cookie_file`): anything but `none` means
/// cookies that used to pass no longer do.
pub fn chsi_front_door(cookies: &str) {
    METRICS
        .chsi_front_door
        .get_or_create(&CookiesLabel {
            cookies: cookies.to_string(),
        })
        .inc();
}

pub fn webhook(outcome: &str) {
    METRICS
        .webhook
        .get_or_create(&OutcomeLabel {
            outcome: outcome.to_string(),
        })
        .inc();
}

/// A job could not go on for a fault of ours (`configuration`: this worker
/// cannot fetch the record's screenshot; `data`: a row the record needs is
/// missing; `ocr_engine`: the engines failed). The record waits, unjudged;
/// someone must act, so this is an alert.
pub fn our_fault(kind: &str) {
    METRICS
        .our_faults
        .get_or_create(&KindLabel {
            kind: kind.to_string(),
        })
        .inc();
}

/// The last time this process finished a job, if it has.
pub fn last_job_at() -> Option<chrono::DateTime<chrono::Utc>> {
    match LAST_JOB_UNIX.load(Ordering::Relaxed) {
        0 => None,
        t => chrono::DateTime::from_timestamp(t, 0),
    }
}

/// The Prometheus text exposition, with database gauges refreshed when this
/// process reports them.
/// Why `/metrics` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("reading the gauges")]
    Source(#[source] SourceError),
    /// Our own bug, not the database's: the text encoder refused a value.
    #[error("encoding the metrics")]
    Encoding(#[from] std::fmt::Error),
}

pub async fn render(source: &dyn GaugeSource) -> Result<String, RenderError> {
    let m = &*METRICS;
    let reporter = reports_cluster(source).await.map_err(RenderError::Source)?;
    m.reporter.set(i64::from(reporter));
    m.last_job.set(LAST_JOB_UNIX.load(Ordering::Relaxed));
    if reporter {
        let g = source.gauges().await.map_err(RenderError::Source)?;
        m.queue_depth.set(g.jobs_pending);
        for (status, n) in &g.records {
            m.records
                .get_or_create(&StatusLabel {
                    status: status.clone(),
                })
                .set(*n);
        }
        m.retries_exhausted.set(g.retries_exhausted);
        m.outbox_pending.set(g.outbox_pending);
        let now = chrono::Utc::now();
        let until = match g.chsi_pause {
            Pause::Shared(until) => until,
            Pause::ThisProcess => {
                chrono::DateTime::from_timestamp_millis(PAUSED_UNTIL_MS.load(Ordering::Relaxed))
            }
        };
        let left = until
            .map(|u| (u - now).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        m.chsi_paused_seconds.set(left);
    }
    let mut out = String::new();
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    encode_registry(&mut out, &m.registry)?;
    if reporter {
        encode_registry(&mut out, &m.cluster)?;
    }
    encode_eof(&mut out)?;
    Ok(out)
}

type Source = Arc<dyn GaugeSource>;

/// `/healthz` and `/metrics`.
pub fn router(source: Source) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(source)
}

async fn healthz(State(source): State<Source>) -> impl IntoResponse {
    let db = source.ping().await;
    // The error text can name hosts, users and schema: logs only.
    if let Err(e) = &db {
        tracing::warn!(error = %e, "health check: database unreachable");
    }
    let body = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "last_job_at": last_job_at(),
        "line_reader": line_reader(),
    });
    let code = if db.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body))
}

async fn metrics(State(source): State<Source>) -> impl IntoResponse {
    match render(source.as_ref()).await {
        Ok(text) => (
            StatusCode::OK,
            // The body is OpenMetrics text (counter types, `# EOF`): a
            // Prometheus 0.0.4 content type made parsers drop the types.
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %crate::errors::Chain(&e), "metrics unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Serves the router on `addr` until the task is aborted.
pub async fn serve(
    source: Source,
    addr: &str,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(source);
    Ok((
        local,
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics server stopped");
            }
        }),
    ))
}
