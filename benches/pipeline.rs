//! End-to-end throughput of manual-entry records — submit, queue, worker,
//! verification service (the sandbox, on loopback), decision — on SQLite and
//! PostgreSQL, beside a no-op apalis worker on the same backend (the floor:
//! how much of the queue's own speed the pipeline keeps).
//!
//!   cargo bench --bench pipeline                 # both backends
//!   BENCH_N=5000 BENCH_RUNS=5 cargo bench --bench pipeline
//!   BENCH_BACKENDS=postgres cargo bench --bench pipeline
//!
//! PostgreSQL is reached at CREDVERIFY_TEST_PG_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres); each run uses a fresh
//! database that is dropped afterwards.

#[path = "../tests/suite/common/synthetic.rs"]
// Shared with the tests; a bench uses only part of it.
#[allow(dead_code)]
mod synthetic;

use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::layers::WorkerBuilderExt;
use apalis::prelude::*;
use credverify::chsi::{ChsiClient, ChsiConfig};
use credverify::domain::Field;
use credverify::pipeline::Env;
use credverify::queue::WorkerOptions;
use credverify::queue::job::{RawCodec, RawJob};
use credverify::retry::RetryPolicy;
use credverify::sandbox::{Registry, ReportState, Sandbox};
use credverify::store::{NewRecord, Store};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

const NOOP_QUEUE: &str = "credverify-noop";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Record `i` with its school typed, so the verdict compares a field.
fn record(i: usize) -> NewRecord {
    let mut r = synthetic::record(i);
    r.fields.set(Field::school, "四川大学");
    r
}

struct Db {
    url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

async fn fresh(backend: &str) -> Db {
    if backend == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        Db {
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    } else {
        let admin = std::env::var("CREDVERIFY_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "cv_bench_{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        let mut c = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL for the benchmark");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap().to_string();
        Db {
            url: format!("{base}/{name}"),
            pg_name: Some(name),
            _dir: None,
        }
    }
}

async fn drop_db(db: Db) {
    if let Some(name) = db.pg_name {
        let admin = std::env::var("CREDVERIFY_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut c)
            .await;
        }
    }
}

async fn submit_all(store: &Store, n: usize, tasks: usize) -> Duration {
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for i in (t..n).step_by(tasks) {
                store.submit(&record(i)).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    start.elapsed()
}

struct PipelineRun {
    submit: Duration,
    process: Duration,
    end_to_end: Duration,
    requests: u64,
}

async fn pipeline_run(backend: &str, n: usize, concurrency: usize) -> PipelineRun {
    let sandbox = Sandbox::new(
        Registry {
            reports: (0..n)
                .map(|i| synthetic::report(i, ReportState::Ok))
                .collect(),
            ..Default::default()
        },
        1,
    );
    let (addr, server) = sandbox.start("127.0.0.1:0").await.unwrap();
    let chsi = ChsiClient::new(ChsiConfig {
        base_url: format!("http://{addr}"),
        rate_per_second: 0.0,
        ..ChsiConfig::default()
    })
    .unwrap();

    // Phase 1: submit everything, then let a worker drain it.
    let db = fresh(backend).await;
    let store = Store::open(&db.url).await.unwrap();
    let submit = submit_all(&store, n, 8).await;
    let env = Arc::new(Env {
        store: store.clone(),
        chsi: chsi.clone(),
        retry: RetryPolicy::default(),
        reader: None,
        uploads: credverify::uploads::Uploads::new(Default::default()).unwrap(),
        id_key: Some(credverify::domain::IdKey::generate()),
    });
    let opts = WorkerOptions {
        concurrency,
        drain: true,
        poll_interval: Duration::from_millis(20),
        sweep_quiet: Duration::from_secs(3600),
        ..WorkerOptions::default()
    };
    let start = Instant::now();
    credverify::queue::run(env.clone(), opts.clone(), CancellationToken::new())
        .await
        .unwrap();
    let process = start.elapsed();
    let decided: i64 = match &store {
        Store::Sqlite(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE status = 'verified'")
                .fetch_one(p.pool())
                .await
                .unwrap()
        }
        Store::Postgres(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE status = 'verified'")
                .fetch_one(p.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(decided as usize, n, "every record verified");
    store.close().await;
    drop_db(db).await;

    // Phase 2: submit and process at once, as in production.
    let db = fresh(backend).await;
    let store = Store::open(&db.url).await.unwrap();
    let env = Arc::new(Env {
        store: store.clone(),
        chsi: chsi.clone(),
        retry: RetryPolicy::default(),
        reader: None,
        uploads: credverify::uploads::Uploads::new(Default::default()).unwrap(),
        id_key: Some(credverify::domain::IdKey::generate()),
    });
    let stop = CancellationToken::new();
    let worker = {
        let env = env.clone();
        let stop = stop.clone();
        let opts = WorkerOptions {
            drain: false,
            ..opts.clone()
        };
        tokio::spawn(async move { credverify::queue::run(env, opts, stop).await })
    };
    let start = Instant::now();
    submit_all(&store, n, 8).await;
    loop {
        let left: i64 = match &store {
            Store::Sqlite(p) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE status = 'unverified'")
                    .fetch_one(p.pool())
                    .await
                    .unwrap()
            }
            Store::Postgres(p) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE status = 'unverified'")
                    .fetch_one(p.pool())
                    .await
                    .unwrap()
            }
        };
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let end_to_end = start.elapsed();
    stop.cancel();
    let _ = worker.await;
    store.close().await;
    drop_db(db).await;
    server.abort();
    PipelineRun {
        submit,
        process,
        end_to_end,
        requests: sandbox.stats().requests,
    }
}

/// The floor: the same number of job rows, inserted the way credverify
/// inserts them, drained by an apalis worker whose handler does nothing.
async fn noop_run(backend: &str, n: usize, concurrency: usize) -> Duration {
    let db = fresh(backend).await;
    let store = Store::open(&db.url).await.unwrap();
    let payload = br#"{"record_id": 1}"#.to_vec();
    match &store {
        Store::Sqlite(p) => {
            let mut tx = p.pool().begin().await.unwrap();
            for _ in 0..n {
                sqlx::query("INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority) VALUES ($1, $2, $3, 'Pending', 0, 3, 0, 0)")
                    .bind(&payload).bind(ulid::Ulid::generate().to_string()).bind(NOOP_QUEUE).execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        }
        Store::Postgres(p) => {
            let mut tx = p.pool().begin().await.unwrap();
            for _ in 0..n {
                sqlx::query("INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) VALUES ($1, $2, $3, 'Pending', 0, 3, now() - interval '1 second', 0)")
                    .bind(ulid::Ulid::generate().to_string()).bind(NOOP_QUEUE).bind(&payload).execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        }
    }
    async fn noop(
        _job: RawJob,
        worker: WorkerContext,
        left: Data<Arc<std::sync::atomic::AtomicUsize>>,
    ) -> Result<(), BoxDynError> {
        if left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            let _ = worker.stop();
        }
        Ok(())
    }
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(n));
    let start = Instant::now();
    let name = format!("noop-{}", ulid::Ulid::generate());
    match &store {
        Store::Sqlite(pool) => {
            let cfg = apalis_sqlite::Config::default()
                .queue(NOOP_QUEUE)
                .batch_size(concurrency);
            let backend = apalis_sqlite::SqliteStorage::<RawJob>::new(pool.pool())
                .with_config(cfg)
                .with_codec(RawCodec)
                .poll_with_interval(Duration::from_millis(20));
            WorkerBuilder::new(name.as_str())
                .backend(backend)
                .concurrency(concurrency)
                .data(left)
                .build(noop)
                .run()
                .await
                .unwrap();
        }
        Store::Postgres(pool) => {
            let cfg = apalis_postgres::Config::default()
                .queue(NOOP_QUEUE)
                .batch_size(concurrency);
            let backend = apalis_postgres::PostgresStorage::<RawJob>::new(pool.pool())
                .with_config(cfg)
                .with_codec(RawCodec)
                .poll_with_interval(Duration::from_millis(20));
            WorkerBuilder::new(name.as_str())
                .backend(backend)
                .concurrency(concurrency)
                .data(left)
                .build(noop)
                .run()
                .await
                .unwrap();
        }
    }
    let took = start.elapsed();
    store.close().await;
    drop_db(db).await;
    took
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let n = env_usize("BENCH_N", 2000);
    let runs = env_usize("BENCH_RUNS", 3);
    let concurrency = env_usize("BENCH_CONCURRENCY", 16);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "pipeline benchmark: {n} manual-entry records, {runs} runs, worker concurrency {concurrency}, sandbox on loopback (no rate limit)"
    );
    println!();
    println!(
        "| backend | no-op apalis jobs/s | pipeline records/s (drain) | ratio | end-to-end records/s (submit + process) | submit records/s |"
    );
    println!("|---|---|---|---|---|---|");
    for backend in backends.split(',') {
        let (mut noop, mut process, mut e2e, mut submit) = (vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            let t = rt.block_on(noop_run(backend, n, concurrency));
            noop.push(n as f64 / t.as_secs_f64());
            let r = rt.block_on(pipeline_run(backend, n, concurrency));
            assert!(
                r.requests as usize >= 2 * n,
                "each record asked the service (twice: two phases)"
            );
            process.push(n as f64 / r.process.as_secs_f64());
            e2e.push(n as f64 / r.end_to_end.as_secs_f64());
            submit.push(n as f64 / r.submit.as_secs_f64());
        }
        let (noop, process, e2e, submit) =
            (median(noop), median(process), median(e2e), median(submit));
        println!(
            "| {backend} | {noop:.0} | {process:.0} | {:.0}% | {e2e:.0} | {submit:.0} |",
            100.0 * process / noop
        );
    }
}
