//! Long-running commands: `migrate`, `worker`, `sandbox`.

use super::terminal::{say, say_err};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::output::CliError;
use super::{ServiceArgs, WorkerArgs};
use crate::chsi::ChsiClient;
use crate::pipeline::Env;
use crate::sandbox::{Registry, Sandbox};
use crate::store::Store;

/// The registry bundled into the binary, so `sandbox` and `demo` work from
/// any directory.
pub const BUNDLED_REGISTRY: &str = include_str!("../../fixtures/sandbox/registry.json");

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Registry files (JSON: reports by 在线验证码, faults); the bundled one when none is given.
    #[arg(long)]
    pub registry: Vec<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub addr: String,
    /// Seed for probabilistic faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directories whose images table-markup reports draw their values in (served as /report/img/FILE).
    #[arg(long)]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Only records untouched for this many seconds (a record submitted a moment ago may still be
    /// getting its job from a slow producer).
    #[arg(long, default_value_t = 120)]
    pub quiet_secs: u64,
    /// File holding the ID-number HMAC key (or the key itself in CREDVERIFY_ID_HMAC_KEY), as the
    /// workers have it: ID numbers submitted for records no job reaches are sealed, as a running
    /// worker's sweep does. Without it they are left for a worker.
    #[arg(long, env = "CREDVERIFY_ID_HMAC_KEY_FILE")]
    pub id_hmac_key_file: Option<PathBuf>,
    /// Print {"requeued": N, "quarantined_jobs": N, "sealed_id_numbers": N or null}.
    #[arg(long)]
    pub json: bool,
}

pub async fn sweep(url: &str, args: SweepArgs) -> Result<(), CliError> {
    // Before the database: a bad key file is a usage error, not a half-done sweep.
    let key = super::id_key_from(args.id_hmac_key_file.as_deref())?;
    let store = Store::open(url).await?;
    let sealed = match &key {
        Some(key) => Some(store.seal_pending_id_numbers(key).await?),
        None => None,
    };
    let quarantined = store.quarantine_bad_jobs().await?;
    let n = crate::queue::sweep(&store, std::time::Duration::from_secs(args.quiet_secs)).await?;
    store.close().await;
    if args.json {
        say!(
            "{}",
            serde_json::json!({
                "requeued": n,
                "quarantined_jobs": quarantined,
                "sealed_id_numbers": sealed,
            })
        );
    } else {
        say!("re-queued {n} stranded record(s); set aside {quarantined} unreadable job row(s)");
        match sealed {
            Some(s) => say!("sealed {s} pending ID number(s)"),
            None => say_err!(
                "pending ID numbers left for a worker to seal: no key \
                 (--id-hmac-key-file or CREDVERIFY_ID_HMAC_KEY)"
            ),
        }
    }
    Ok(())
}

pub async fn migrate(url: &str) -> Result<(), CliError> {
    let store = Store::open(url).await?;
    store.close().await;
    say_err!("database is up to date");
    Ok(())
}

/// Cancelled on SIGINT or SIGTERM.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        t.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("stop requested; finishing jobs in flight");
        t.cancel();
    });
    token
}

/// The service client of a process on `store`: the cluster's request budget
/// on PostgreSQL, the process's own on SQLite.
pub fn chsi_client(store: &Store, service: &ServiceArgs) -> Result<Arc<ChsiClient>, CliError> {
    let config = service.chsi_config();
    let budget = crate::chsi::budget::for_store(store, config.rate_per_second, config.burst);
    ChsiClient::with_budget(config, budget).map_err(|e| {
        CliError::usage(format!("{e:#}"))
            .hint("set --chsi-url or CREDVERIFY_CHSI_URL to an http(s) URL")
    })
}

pub fn build_env(store: Store, args: &WorkerArgs) -> Result<Arc<Env>, CliError> {
    let id_key = args.id_key()?;
    let chsi = chsi_client(&store, &args.service)?;
    let uploads = args
        .uploads
        .uploads()
        .map_err(|e| CliError::usage(format!("{e:#}")))?;
    Ok(Arc::new(Env {
        store,
        chsi,
        retry: args.retry.policy(),
        reader: args.ocr.reader(),
        uploads,
        id_key: Some(id_key),
    }))
}

pub async fn worker(url: &str, args: WorkerArgs) -> Result<(), CliError> {
    if args.jobs == super::Jobs::Ocr && args.ocr.ocr_threads == 0 {
        return Err(
            CliError::usage("--jobs ocr needs OCR engines, but --ocr-threads is 0")
                .hint("give it --ocr-threads 1 or more, or run it with --jobs lookup"),
        );
    }
    // Refused before the database is touched: a worker without the key
    // would leave every submitted ID number unsealed.
    args.id_key()?;
    let store = Store::open(url).await?;
    let env = build_env(store.clone(), &args)?;
    let stop = shutdown_token();
    let metrics = match &args.ops.metrics_addr {
        Some(addr) => {
            let (local, server) = crate::metrics::serve(std::sync::Arc::new(store.clone()), addr)
                .await
                .map_err(|e| {
                    CliError::other(format!("cannot serve metrics on {addr}: {e}"))
                        .hint("pick another --metrics-addr")
                })?;
            tracing::info!(%local, "serving /healthz and /metrics");
            Some(server)
        }
        None => None,
    };
    let webhook = args
        .ops
        .webhook()
        .map(|config| tokio::spawn(crate::notify::run(store.clone(), config, stop.clone())));
    let result = run_queues(env.clone(), &args, stop.clone()).await;
    stop.cancel();
    // No Chromium may outlive the worker.
    env.chsi.shutdown().await;
    if let Some(w) = webhook {
        let _ = w.await;
    }
    if let Some(m) = metrics {
        m.abort();
    }
    store.close().await;
    result.map_err(CliError::from)
}

/// Runs the lookup worker, the OCR worker, or both, as `--jobs` and
/// `--ocr-threads` say.
async fn run_queues(
    env: Arc<Env>,
    args: &WorkerArgs,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    use super::Jobs;
    let reads = env.reader.is_some();
    let lookup = args.jobs != Jobs::Ocr;
    let ocr = args.jobs != Jobs::Lookup && reads;
    let lookup_env = if args.jobs == Jobs::Lookup && reads {
        // Engines for the OCR queue only: a lookup-only worker hands
        // screenshots over instead of reading them.
        Arc::new(Env {
            store: env.store.clone(),
            chsi: env.chsi.clone(),
            retry: env.retry.clone(),
            reader: None,
            uploads: env.uploads.clone(),
            id_key: env.id_key.clone(),
        })
    } else {
        env.clone()
    };
    let lookup_run = async {
        if lookup {
            crate::queue::run(lookup_env, args.options(), stop.child_token()).await
        } else {
            Ok(())
        }
    };
    let ocr_run = async {
        if ocr {
            let opts = crate::queue::WorkerOptions {
                queue: crate::store::OCR_QUEUE,
                ..args.options()
            };
            crate::queue::run(env.clone(), opts, stop.child_token()).await
        } else {
            Ok(())
        }
    };
    let (a, b) = tokio::join!(lookup_run, ocr_run);
    a.and(b)
}

pub async fn sandbox(args: SandboxArgs) -> Result<(), CliError> {
    let registry = if args.registry.is_empty() {
        serde_json::from_str(BUNDLED_REGISTRY)
            .map_err(|e| CliError::other(format!("bundled registry: {e}")))?
    } else {
        Registry::load_all(&args.registry).map_err(|e| CliError::usage(format!("{e:#}")))?
    };
    let count = registry.reports.len();
    let sb = Sandbox::new(registry, args.seed);
    for dir in &args.images {
        sb.serve_images_from(dir);
    }
    let (addr, server) = sb.start(&args.addr).await.map_err(|e| {
        CliError::other(format!("cannot listen on {}: {e}", args.addr))
            .hint("pick another --addr, or port 0 for any free port")
    })?;
    say!("sandbox serving {count} reports on http://{addr} (Ctrl-C to stop)");
    shutdown_token().cancelled().await;
    server.abort();
    Ok(())
}
