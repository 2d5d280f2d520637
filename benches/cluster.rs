//! Capacity of a cluster of worker processes sharing one PostgreSQL: records
//! per second against a sandbox that answers in 150–300 ms with one request
//! budget (`--chsi-rate`) for the whole cluster, for 1, 2, 4 and 8 worker
//! processes; then the same without the budget (rate 0, instant answers):
//! the database's and the workers' own ceiling.
//!
//!   cargo bench --bench cluster
//!   BENCH_RATE=5 BENCH_RECORDS=100 BENCH_PROCS=1,2,4,8 cargo bench --bench cluster
//!   BENCH_CEILING_RECORDS=1000 BENCH_CEILING_PROCS=1,2,4 cargo bench --bench cluster
//!
//! The workers are the real `credverify` binary of the profile the bench is
//! built with; the sandbox runs in the bench process. PostgreSQL is reached at
//! CREDVERIFY_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres);
//! each run uses a fresh database that is dropped afterwards.

#[path = "../tests/suite/common/synthetic.rs"]
// Shared with the tests; a bench uses only part of it.
#[allow(dead_code)]
mod synthetic;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use credverify::sandbox::{Fault, FaultKind, Faults, Registry, ReportState, Sandbox};
use credverify::store::Store;
use sqlx::Connection;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn admin_url() -> String {
    std::env::var("CREDVERIFY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

struct Db {
    url: String,
    name: String,
}

async fn fresh() -> Db {
    let admin = admin_url();
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
        name,
    }
}

async fn drop_db(db: Db) {
    if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url()).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            db.name
        )))
        .execute(&mut c)
        .await;
    }
}

/// Worker processes, killed on drop.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Run {
    records: usize,
    /// From the first request at the sandbox to the last record decided.
    took: Duration,
    busiest_second: usize,
}

async fn run(procs: usize, records: usize, rate: f64, answer: Option<(u64, u64)>) -> Run {
    let sandbox = Sandbox::new(
        Registry {
            reports: (0..records)
                .map(|i| synthetic::report(i, ReportState::Ok))
                .collect(),
            ..Default::default()
        },
        1,
    );
    if let Some((min_ms, max_ms)) = answer {
        sandbox.set_faults(Faults {
            global: vec![Fault {
                kind: FaultKind::DelayBetween { min_ms, max_ms },
                times: None,
                probability: None,
            }],
            ..Default::default()
        });
    }
    let (addr, server) = sandbox.start("127.0.0.1:0").await.unwrap();
    let db = fresh().await;
    let store = Store::open(&db.url).await.unwrap();
    for i in 0..records {
        store.submit(&synthetic::record(i)).await.unwrap();
    }
    // One key for the cluster, as in production.
    let id_key = credverify::domain::IdKey::generate_text();
    let workers = Workers(
        (0..procs)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_credverify"))
                    .env("CREDVERIFY_ID_HMAC_KEY", &id_key)
                    .args(["--database-url", &db.url, "worker"])
                    .args(["--chsi-url", &format!("http://{addr}")])
                    .args(["--chsi-rate", &rate.to_string()])
                    .args(["--concurrency", "4", "--poll-ms", "100"])
                    .env("CREDVERIFY_LOG", "error")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start a worker")
            })
            .collect(),
    );
    let Store::Postgres(pool) = &store else {
        unreachable!()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let waiting: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE status = 'unverified'")
                .fetch_one(pool.pool())
                .await
                .unwrap();
        if waiting == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = Instant::now();
    drop(workers);
    server.abort();
    store.close().await;
    drop_db(db).await;
    let arrivals = sandbox.arrivals();
    Run {
        records,
        took: done - arrivals.first().copied().unwrap_or(done),
        busiest_second: sandbox.max_requests_within(Duration::from_secs(1)),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rate = env_usize("BENCH_RATE", 5) as f64;
    let records = env_usize("BENCH_RECORDS", 100);
    println!(
        "## With the budget: --chsi-rate {rate}, answers in 150–300 ms, {records} records, concurrency 4 per process\n"
    );
    println!("| worker processes | records/s | busiest second (requests) | took |");
    println!("|---|---|---|---|");
    for procs in env_list("BENCH_PROCS", "1,2,4,8") {
        let r = run(procs, records, rate, Some((150, 300))).await;
        println!(
            "| {procs} | {:.2} | {} | {:.1} s |",
            r.records as f64 / r.took.as_secs_f64(),
            r.busiest_second,
            r.took.as_secs_f64()
        );
    }
    let ceiling = env_usize("BENCH_CEILING_RECORDS", 1000);
    println!("\n## Without the budget: --chsi-rate 0, instant answers, {ceiling} records\n");
    println!("| worker processes | records/s | took |");
    println!("|---|---|---|");
    for procs in env_list("BENCH_CEILING_PROCS", "1,2,4") {
        let r = run(procs, ceiling, 0.0, None).await;
        println!(
            "| {procs} | {:.0} | {:.1} s |",
            r.records as f64 / r.took.as_secs_f64(),
            r.took.as_secs_f64()
        );
    }
}
