//! Prometheus metrics and the health check a worker serves on
//! `--metrics-addr`. Counters and histograms are process-wide (every job of
//! the process adds to them); gauges that describe the database (queue depth,
//! records by status) are read from it at scrape time, so every worker
//! reports the same, current figures.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, Ordering};
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

use crate::domain::Status;
use crate::pipeline::Outcome;
use crate::store::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

struct Metrics {
    registry: Registry,
    jobs: Family<OutcomeLabel, Counter>,
    ocr_seconds: Histogram,
    chsi_seconds: Histogram,
    chsi_errors: Family<KindLabel, Counter>,
    webhook: Family<OutcomeLabel, Counter>,
    queue_depth: Gauge,
    records: Family<StatusLabel, Gauge>,
    retries_exhausted: Gauge,
    outbox_pending: Gauge,
    last_job: Gauge,
}

static LAST_JOB_UNIX: AtomicI64 = AtomicI64::new(0);

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
    let webhook = Family::<OutcomeLabel, Counter>::default();
    registry.register(
        "webhook_deliveries",
        "Webhook notification attempts, by outcome",
        webhook.clone(),
    );
    let queue_depth = Gauge::default();
    registry.register("queue_depth", "Jobs queued or running", queue_depth.clone());
    let records = Family::<StatusLabel, Gauge>::default();
    registry.register("records", "Records by status", records.clone());
    let retries_exhausted = Gauge::default();
    registry.register(
        "records_retries_exhausted",
        "Unverified records waiting for an admin",
        retries_exhausted.clone(),
    );
    let outbox_pending = Gauge::default();
    registry.register(
        "outbox_pending",
        "Status notifications not yet delivered",
        outbox_pending.clone(),
    );
    let last_job = Gauge::default();
    registry.register(
        "last_job_timestamp_seconds",
        "When this process last finished a job",
        last_job.clone(),
    );
    Metrics {
        registry,
        jobs,
        ocr_seconds,
        chsi_seconds,
        chsi_errors,
        webhook,
        queue_depth,
        records,
        retries_exhausted,
        outbox_pending,
        last_job,
    }
});

pub fn job_finished(outcome: &Outcome) {
    let label = match outcome {
        Outcome::Decided(status, _) => format!("decided_{status}"),
        Outcome::Retrying { .. } => "retrying".into(),
        Outcome::RetriesExhausted { .. } => "retries_exhausted".into(),
        Outcome::AlreadyDecided(_) => "already_decided".into(),
        Outcome::Superseded => "superseded".into(),
    };
    job_outcome(&label);
}

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

pub fn webhook(outcome: &str) {
    METRICS
        .webhook
        .get_or_create(&OutcomeLabel {
            outcome: outcome.to_string(),
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

/// The Prometheus text exposition, with database gauges refreshed.
pub async fn render(store: &Store) -> Result<String, crate::store::StoreError> {
    let stats = store.stats(1).await?;
    let m = &*METRICS;
    m.queue_depth.set(stats.jobs_pending);
    for st in Status::ALL {
        let n = stats.by_status.get(st.as_str()).copied().unwrap_or(0);
        m.records
            .get_or_create(&StatusLabel {
                status: st.as_str().to_string(),
            })
            .set(n);
    }
    m.retries_exhausted.set(stats.retries_exhausted);
    m.outbox_pending.set(store.outbox_backlog().await?.0);
    m.last_job.set(LAST_JOB_UNIX.load(Ordering::Relaxed));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &m.registry).map_err(|e| {
        crate::store::StoreError::Corrupt {
            record_id: 0,
            detail: format!("metrics encoding: {e}"),
        }
    })?;
    Ok(out)
}

/// `/healthz` and `/metrics`.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(store)
}

async fn healthz(State(store): State<Store>) -> impl IntoResponse {
    let db = store.ping().await;
    // The error text can name hosts, users and schema: logs only.
    if let Err(e) = &db {
        tracing::warn!(error = %e, "health check: database unreachable");
    }
    let body = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "last_job_at": last_job_at(),
    });
    let code = if db.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body))
}

async fn metrics(State(store): State<Store>) -> impl IntoResponse {
    match render(&store).await {
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
            tracing::warn!(error = %e, "metrics: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Serves the router on `addr` until the task is aborted.
pub async fn serve(
    store: Store,
    addr: &str,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(store);
    Ok((
        local,
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics server stopped");
            }
        }),
    ))
}
