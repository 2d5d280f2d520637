//! Submit-to-decision latency of screenshot records on an idle worker, and
//! the worker's peak memory with 2 OCR engines while it works.
//!
//! The real `credverify worker` binary (release) runs against a SQLite file
//! and an in-process sandbox. Phase 1 submits phone screenshots (学信档案
//! app page plus a typed 在线验证码) one at a time, waiting for each verdict:
//! p50/p99 from the moment `submit` returns to the moment the decision is
//! visible. Phase 2 submits a batch of screenshots of every layout at once
//! and reads the worker's VmHWM (peak RSS) when they are all decided.
//!
//! `cargo bench --bench latency`; `BENCH_N=N` records in phase 1 (default
//! and most 20, one per phone fixture), `BENCH_POLL_MS` the worker's idle
//! poll (default: the worker's own, 500 ms), `BENCH_BATCH` records in phase
//! 2 (default 40).

#[path = "../tests/suite/common/fixtures.rs"]
// Shared with the tests; a bench uses only part of it.
#[allow(dead_code)]
mod fixtures;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use credverify::domain::{CredentialFields, IdNumber, Status};
use credverify::sandbox::{Registry, Sandbox};
use credverify::store::{NewRecord, Store};

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// VmHWM (peak resident set) of a process, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Upload {
    name: String,
    id_number: String,
    vcode: String,
    image: Vec<u8>,
}

fn uploads(dir: &Path, prefix: &str) -> Vec<Upload> {
    fixtures::load(dir)
        .into_iter()
        .filter(|f| f.name.starts_with(prefix))
        .map(|f| {
            let json: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(f.image.with_extension("json")).unwrap(),
            )
            .unwrap();
            Upload {
                name: json["name"].as_str().unwrap().to_string(),
                id_number: json["meta"]["id_number"].as_str().unwrap().to_string(),
                vcode: json["meta"]["vcode"].as_str().unwrap().to_string(),
                image: std::fs::read(&f.image).unwrap(),
            }
        })
        .collect()
}

fn record(i: usize, u: &Upload) -> NewRecord {
    NewRecord {
        candidate_id: format!("bench-{i}"),
        name: u.name.clone(),
        id_number: IdNumber::parse(&u.id_number).ok(),
        fields: CredentialFields {
            vcode: Some(u.vcode.clone()),
            ..Default::default()
        },
        idempotency_key: None,
        screenshot: Some(u.image.clone()),
        screenshot_ref: None,
    }
}

fn worker(db_url: &str, chsi: &str, poll_ms: Option<usize>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credverify"));
    cmd.env(
        "CREDVERIFY_ID_HMAC_KEY",
        credverify::domain::IdKey::generate_text(),
    )
    .args(["--database-url", db_url, "worker", "--chsi-url", chsi])
    .args([
        "--chsi-rate",
        "0",
        "--ocr-threads",
        "2",
        "--concurrency",
        "4",
    ])
    .env("CREDVERIFY_LOG", "warn")
    .stdout(Stdio::null());
    if let Some(ms) = poll_ms {
        cmd.args(["--poll-ms", &ms.to_string()]);
    }
    cmd.spawn().expect("worker binary")
}

async fn wait_decided(store: &Store, id: i64) -> Status {
    loop {
        let r = store.record(id).await.unwrap().unwrap();
        if r.status != Status::Unverified {
            return r.status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn run() {
    let n = env_usize("BENCH_N", 20).min(20);
    let batch = env_usize("BENCH_BATCH", 40);
    let poll_ms = std::env::var("BENCH_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let registry =
        Registry::load(&root.join("fixtures/sandbox/screenshots-registry.json")).unwrap();
    let sandbox = Sandbox::new(registry, 1);
    let (addr, _server) = sandbox.start("127.0.0.1:0").await.unwrap();
    let chsi = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::open(&url).await.unwrap();

    // Each fixture is uploaded once in all: a certificate verified for one
    // candidate is a duplicate_certificate for the next.
    let shots = root.join("fixtures/screenshots");
    let phones = uploads(&shots, "mobile-");
    let mut others = uploads(&shots, "report-");
    others.extend(uploads(&shots, "degree-"));
    others.extend(uploads(&shots, "web-"));
    let warm_up = others.pop().expect("fixtures");

    let mut child = worker(&url, &chsi, poll_ms);
    // Warm up: the engines load on the first screenshot job.
    let t = Instant::now();
    let warm = store
        .submit(&record(100_000, &warm_up))
        .await
        .unwrap()
        .record_id;
    wait_decided(&store, warm).await;
    println!(
        "first screenshot (worker start-up, engines loading) decided after {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // Phase 1: one phone screenshot at a time on an idle worker.
    let mut latencies = Vec::new();
    let mut verified = 0;
    for (i, u) in phones.iter().take(n).enumerate() {
        let id = store.submit(&record(i, u)).await.unwrap().record_id;
        let t = Instant::now();
        if wait_decided(&store, id).await == Status::Verified {
            verified += 1;
        }
        latencies.push(t.elapsed());
        // Idle between records, as a worker between uploads is.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let n = latencies.len();
    latencies.sort();
    println!(
        "\n| records | worker poll | p50 | p99 | max | verified |\n|---|---|---|---|---|---|\n| {n} phone screenshots, one at a time | {} ms | {:.0} ms | {:.0} ms | {:.0} ms | {verified}/{n} |",
        poll_ms.unwrap_or(500),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );

    // Phase 2: a batch of the other layouts at once, for the worker's peak
    // memory while both engines work.
    let batch = batch.min(others.len());
    let t = Instant::now();
    let mut ids = Vec::new();
    for (i, u) in others.iter().take(batch).enumerate() {
        ids.push(
            store
                .submit(&record(200_000 + i, u))
                .await
                .unwrap()
                .record_id,
        );
    }
    let mut verified = 0;
    for id in &ids {
        verified += usize::from(wait_decided(&store, *id).await == Status::Verified);
    }
    let took = t.elapsed().as_secs_f64();
    let peak = peak_rss_mib(child.id());
    println!(
        "\n{batch} report, degree and web screenshots at once: {:.2} records/s, {verified}/{batch} verified; worker peak RSS (VmHWM) {peak:.0} MiB with 2 OCR engines, concurrency 4",
        batch as f64 / took
    );
    let _ = child.kill();
    let _ = child.wait();
    store.close().await;
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
