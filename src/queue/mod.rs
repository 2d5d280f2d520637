//! The worker process: apalis on whichever backend the store uses, plus what
//! apalis does not do for us (measured, see README "Guarantees"): a unique
//! name per process, supervision that restarts the fetch loop after a backend
//! error, a sweep for records no job will pick up, quarantine of rows apalis
//! cannot parse, `--drain`, and a bounded graceful shutdown.

mod gauges;
pub mod job;

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::pipeline::Env;
use crate::store::{QUEUE, Store};
use job::{RawCodec, RawJob};

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The queue this worker serves: lookups (`QUEUE`) or screenshot
    /// reading (`OCR_QUEUE`).
    pub queue: &'static str,
    /// Jobs in flight at once in this process.
    pub concurrency: usize,
    /// Exit once nothing can run now (retries due later stay queued).
    pub drain: bool,
    /// How often an idle worker looks for due jobs (PostgreSQL also wakes on
    /// NOTIFY for new jobs).
    pub poll_interval: Duration,
    /// Heartbeat period; a worker silent for `heartbeat * missed_heartbeats`
    /// is dead and its jobs go back to the queue.
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
    /// How long a stopping worker waits for jobs in flight.
    pub shutdown_grace: Duration,
    /// How often to look for stranded records, and how long a record must
    /// have been untouched to count as stranded.
    pub sweep_interval: Duration,
    pub sweep_quiet: Duration,
    /// Delivered notifications are pruned after this long; undelivered ones
    /// too when nothing delivers them.
    pub notification_retention: Duration,
    pub deliver_webhooks: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            queue: QUEUE,
            concurrency: 4,
            drain: false,
            poll_interval: Duration::from_millis(500),
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            shutdown_grace: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(60),
            sweep_quiet: Duration::from_secs(120),
            notification_retention: Duration::from_secs(7 * 86_400),
            deliver_webhooks: false,
        }
    }
}

impl WorkerOptions {
    pub fn with_drain(mut self, drain: bool) -> Self {
        self.drain = drain;
        self
    }
}

fn host_prefix() -> String {
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "host".into());
    let host: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("credverify-{host}-")
}

/// Unique per process start: apalis treats a worker that re-registers under
/// a live name's heartbeat as alive, so a restarted process must never reuse
/// its predecessor's name. The pid in the name lets a successor on the same
/// host tell that its predecessor is gone.
pub fn worker_name() -> String {
    let nonce = &ulid::Ulid::generate().to_string()[20..];
    format!("{}{}-{nonce}", host_prefix(), std::process::id())
}

/// Releases jobs still locked by workers of this host whose process is gone
/// (e.g. killed with SIGKILL), so a restarted worker picks them up at once
/// rather than after the dead one's heartbeat expires.
async fn reclaim_dead_predecessors(store: &Store) {
    let prefix = host_prefix();
    let names = match store.worker_names(&prefix).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %crate::errors::Chain(&e), "could not list earlier workers");
            return;
        }
    };
    for name in names {
        let pid = name[prefix.len()..]
            .split('-')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        match store.release_jobs_of(&name).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(worker = %name, jobs = n, "released jobs of a dead predecessor")
            }
            Err(e) => {
                tracing::warn!(worker = %name, error = %crate::errors::Chain(&e), "could not release a dead predecessor's jobs")
            }
        }
    }
}

/// Runs until `stop` is cancelled (or, with `drain`, until nothing can run
/// now). Backend errors restart the fetch loop under a new name.
pub async fn run(
    env: Arc<Env>,
    opts: WorkerOptions,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    reclaim_dead_predecessors(&env.store).await;
    // The lookup worker sweeps; an OCR-only host leaves that to the lookup
    // workers of its cluster.
    let sweeper = (opts.queue == QUEUE).then(|| {
        tokio::spawn(sweep_loop(
            env.store.clone(),
            env.id_key.clone(),
            opts.clone(),
            stop.child_token(),
        ))
    });
    let mut failures = 0u32;
    let result = loop {
        match env.store.quarantine_bad_jobs().await {
            Ok(0) => {}
            Ok(n) => tracing::error!(count = n, "set aside job rows with ids apalis cannot parse"),
            Err(e) => {
                tracing::warn!(error = %crate::errors::Chain(&e), "could not check for bad job rows")
            }
        }
        let name = worker_name();
        tracing::info!(worker = %name, queue = opts.queue, concurrency = opts.concurrency, drain = opts.drain, "worker starting");
        // Alive as long as its peers would not yet declare it dead.
        let live = opts.heartbeat * (opts.missed_heartbeats as u32 + 1);
        // The election counts lookup workers: an OCR-only process is named
        // too, so that it never reports the cluster's gauges.
        if opts.queue == QUEUE {
            crate::metrics::set_worker(&name, live);
        } else {
            crate::metrics::set_worker_if_unset(&name, live);
        }
        let ctx = WorkerContext::new(&name);
        let watcher = tokio::spawn(watch(
            env.store.clone(),
            ctx.clone(),
            opts.clone(),
            stop.clone(),
        ));
        let outcome = run_once(&env, &opts, &ctx).await;
        watcher.abort();
        match outcome {
            Ok(()) => break Ok(()),
            Err(_) if stop.is_cancelled() => break Ok(()),
            Err(e) => {
                failures += 1;
                // This incarnation's futures are gone with it: its jobs can
                // run again now.
                match env.store.release_jobs_of(&name).await {
                    Ok(n) if n > 0 => {
                        tracing::warn!(worker = %name, jobs = n, "released the failed worker's jobs")
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(worker = %name, error = %crate::errors::Chain(&e), "could not release the failed worker's jobs")
                    }
                }
                let pause = Duration::from_secs(2u64.saturating_pow(failures.min(5)));
                tracing::error!(worker = %name, error = %format_args!("{e:#}"), retry_in_s = pause.as_secs(), "worker stopped on a backend error; restarting");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.cancelled() => break Ok(()),
                }
            }
        }
    };
    stop.cancel();
    if let Some(sweeper) = sweeper {
        let _ = sweeper.await;
    }
    result
}

/// One apalis worker lifetime. Returns when it stops: after a clean stop, a
/// backend error, or when in-flight jobs overrun the grace period.
async fn run_once(env: &Arc<Env>, opts: &WorkerOptions, ctx: &WorkerContext) -> anyhow::Result<()> {
    let grace = opts.shutdown_grace;
    let stopped = {
        let ctx = ctx.clone();
        async move {
            while !ctx.is_shutting_down() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(grace).await;
        }
    };
    macro_rules! drive {
        ($backend:expr) => {{
            let worker = WorkerBuilder::new(ctx)
                .backend($backend)
                .concurrency(opts.concurrency.max(1))
                .data(env.clone())
                .data(job::Stage::of_queue(opts.queue))
                .build(job::handle);
            tokio::select! {
                r = worker.run() => r.map_err(|e| anyhow::anyhow!("{e}")),
                _ = stopped => {
                    tracing::warn!(grace_s = grace.as_secs(), "jobs still running after the grace period; leaving them to be re-queued");
                    Ok(())
                }
            }
        }};
    }
    // Each backend has its own `Config` type, with the same settings.
    macro_rules! config {
        ($config:ty) => {
            <$config>::default()
                .queue(opts.queue)
                .batch_size(opts.concurrency.max(1))
                .heartbeat_interval(opts.heartbeat)
                .missed_heartbeats(opts.missed_heartbeats)
        };
    }
    match &env.store {
        Store::Sqlite(store) => {
            let backend = apalis_sqlite::SqliteStorage::<RawJob>::new(store.pool())
                .with_config(config!(apalis_sqlite::Config))
                .with_codec(RawCodec)
                .poll_with_interval(opts.poll_interval);
            drive!(backend)
        }
        Store::Postgres(store) => {
            let pool = store.pool();
            let strategy = Strategy::new()
                .apply(IntervalStrategy::new(opts.poll_interval))
                .apply(StreamStrategy::new(apalis_postgres::Pubsub::new(
                    pool.clone(),
                    opts.queue.to_string(),
                )));
            let backend = apalis_postgres::PostgresStorage::<RawJob>::new(pool)
                .with_config(config!(apalis_postgres::Config))
                .with_codec(RawCodec)
                .poll_with_strategy(strategy);
            drive!(backend)
        }
    }
}

/// Stops the worker when asked to, or (with `--drain`) when nothing it could
/// run is left.
async fn watch(store: Store, ctx: WorkerContext, opts: WorkerOptions, stop: CancellationToken) {
    // apalis refuses to stop a worker that has not started yet.
    while !ctx.is_running() && !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut idle_checks = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if !opts.drain {
            continue;
        }
        let busy = ctx.task_count() > 0;
        match store.runnable_jobs_in(opts.queue, ctx.name()).await {
            Ok(0) if !busy => idle_checks += 1,
            Ok(_) => idle_checks = 0,
            Err(e) => tracing::warn!(error = %crate::errors::Chain(&e), "drain check failed"),
        }
        // Twice in a row: the fetch that just emptied the table may still be
        // handing jobs over.
        if idle_checks >= 2 {
            tracing::info!("drained: nothing left that can run now");
            break;
        }
    }
    let _ = ctx.stop();
}

/// Finds records no live job will pick up and gives them one.
async fn sweep_loop(
    store: Store,
    id_key: Option<crate::domain::IdKey>,
    opts: WorkerOptions,
    stop: CancellationToken,
) {
    loop {
        // Numbers submitted for records no job reaches (withdrawn at once,
        // say) are sealed here, so none stays in the database for long.
        if let Some(key) = &id_key {
            match store.seal_pending_id_numbers(key).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "sealed pending ID numbers"),
                Err(e) => tracing::warn!(error = %e, "sealing pending ID numbers failed"),
            }
        }
        match sweep(&store, opts.sweep_quiet).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(count = n, "re-enqueued stranded records"),
            Err(e) => tracing::warn!(error = %crate::errors::Chain(&e), "sweep failed"),
        }
        let horizon = chrono::Utc::now()
            - chrono::Duration::from_std(opts.notification_retention).unwrap_or_default();
        if let Err(e) = store.prune_outbox(horizon, !opts.deliver_webhooks).await {
            tracing::warn!(error = %crate::errors::Chain(&e), "pruning old notifications failed");
        }
        if opts.drain {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(opts.sweep_interval) => {}
        }
    }
}

/// One sweep: every stranded record quiet for `quiet` gets a new job due now.
pub async fn sweep(store: &Store, quiet: Duration) -> Result<usize, crate::store::StoreError> {
    let since = chrono::Utc::now() - chrono::Duration::from_std(quiet).unwrap_or_default();
    let mut total = 0;
    loop {
        let ids = store.stranded_records(since, 500).await?;
        if ids.is_empty() {
            return Ok(total);
        }
        for id in &ids {
            // One record that cannot be read or re-queued is logged and
            // passed over: it must not keep every other stranded record
            // waiting.
            let owner = match store.job_record(*id).await {
                Ok(Some(rec)) => rec.job_id,
                Ok(None) => continue,
                // Damaged stored data (a claim that cannot be decoded): a job
                // would fail the same way, so it waits for an admin.
                Err(e) => {
                    tracing::warn!(record_id = id, error = %crate::errors::Chain(&e), "sweep skipped a record");
                    continue;
                }
            };
            match store
                .requeue(*id, owner.as_deref(), crate::store::due_now())
                .await
            {
                Ok(Some(_)) => {
                    tracing::info!(record_id = id, "stranded record re-enqueued");
                    total += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(record_id = id, error = %crate::errors::Chain(&e), "sweep skipped a record")
                }
            }
        }
        if ids.len() < 500 {
            return Ok(total);
        }
    }
}
