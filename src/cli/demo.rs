//! `credverify demo`: the whole flow on a laptop. A sandbox in this process,
//! a SQLite file in a temporary directory, the bundled records submitted and
//! verified by a real worker, and the verdicts side by side with what each
//! record was meant to show.

use super::terminal::say;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::output::{CliError, SafeRows, table};
use super::run::BUNDLED_REGISTRY;
use crate::chsi::{ChsiClient, ChsiConfig};
use crate::domain::{CredentialFields, IdNumber, Status};
use crate::pipeline::Env;
use crate::queue::WorkerOptions;
use crate::retry::RetryPolicy;
use crate::sandbox::Sandbox;
use crate::store::{NewRecord, Store};

const BUNDLED_RECORDS: &str = include_str!("../../fixtures/demo/records.json");

/// The screenshots the bundled records upload, by their path under
/// `fixtures/`, bundled so the demo runs from any directory.
const BUNDLED_SCREENSHOTS: &[(&str, &[u8])] = &[
    (
        "screenshots/report-004.png",
        include_bytes!("../../fixtures/screenshots/report-004.png"),
    ),
    (
        "screenshots/degree-004.png",
        include_bytes!("../../fixtures/screenshots/degree-004.png"),
    ),
    (
        "screenshots/mobile-002.png",
        include_bytes!("../../fixtures/screenshots/mobile-002.png"),
    ),
    (
        "screenshots/report-007.png",
        include_bytes!("../../fixtures/screenshots/report-007.png"),
    ),
    (
        "screenshots/web-010.jpg",
        include_bytes!("../../fixtures/screenshots/web-010.jpg"),
    ),
    (
        "demo/photo.png",
        include_bytes!("../../fixtures/demo/photo.png"),
    ),
];

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Keep the demo database in this directory instead of a temporary one (then inspect it with
    /// `credverify --database-url sqlite://DIR/demo.db list`).
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// One record of `fixtures/demo/records.json`: who submits it, what they
/// type or upload, and the status the demo expects it to reach. The
/// pipeline tests read the same file through this type.
#[derive(Debug, Deserialize)]
pub struct DemoRecord {
    pub candidate: String,
    pub name: String,
    #[serde(default)]
    pub id_number: Option<String>,
    pub fields: serde_json::Value,
    /// A screenshot the candidate uploads, by its path under `fixtures/`.
    #[serde(default)]
    pub screenshot: Option<String>,
    pub expect: String,
}

pub async fn demo(args: DemoArgs) -> Result<(), CliError> {
    let tmp = tempfile::tempdir()
        .map_err(|e| CliError::other(format!("cannot create a temporary directory: {e}")))?;
    let dir = args
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::other(format!("cannot create {}: {e}", dir.display())))?;
    let url = format!("sqlite://{}", dir.join("demo.db").display());

    let registry = serde_json::from_str(BUNDLED_REGISTRY)
        .map_err(|e| CliError::other(format!("bundled registry: {e}")))?;
    let sandbox = Sandbox::new(registry, 7);
    let (addr, server) = sandbox
        .start("127.0.0.1:0")
        .await
        .map_err(|e| CliError::other(format!("cannot start the sandbox: {e}")))?;
    say!("sandbox verification service on http://{addr}");
    say!("records database {url}\n");

    let store = Store::open(&url).await?;
    let records: Vec<DemoRecord> = serde_json::from_str(BUNDLED_RECORDS)
        .map_err(|e| CliError::other(format!("bundled records: {e}")))?;
    let mut submitted = Vec::new();
    for r in &records {
        let fields = CredentialFields::from_manual_json(&r.fields.to_string())
            .map_err(|e| CliError::other(format!("demo record for {}: {e}", r.candidate)))?;
        let id_number = r
            .id_number
            .as_deref()
            .map(IdNumber::parse)
            .transpose()
            .map_err(|e| CliError::other(format!("demo record for {}: {e}", r.candidate)))?;
        let new = NewRecord {
            candidate_id: r.candidate.clone(),
            name: r.name.clone(),
            id_number,
            fields,
            idempotency_key: None,
            screenshot: r
                .screenshot
                .as_deref()
                .map(|path| {
                    BUNDLED_SCREENSHOTS
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, bytes)| bytes.to_vec())
                        .ok_or_else(|| {
                            CliError::other(format!("demo screenshot {path} is not bundled"))
                        })
                })
                .transpose()?,
            screenshot_ref: None,
        };
        let s = store
            .submit(&new)
            .await
            .map_err(|e| CliError::other(crate::errors::chain(&e)))?;
        submitted.push((s.record_id, r));
    }
    say!("submitted {} records; verifying...\n", submitted.len());

    let chsi = ChsiClient::new(ChsiConfig {
        base_url: format!("http://{addr}"),
        rate_per_second: 0.0,
        back_off: Duration::from_millis(200),
        ..ChsiConfig::default()
    })?;
    let retry = RetryPolicy {
        base: Duration::from_secs(1),
        max: Duration::from_secs(4),
        max_retries: 5,
        jitter: 0.2,
    };
    let env = Arc::new(Env {
        store: store.clone(),
        chsi,
        retry,
        reader: Some(Arc::new(crate::ocr::LazyOcr::new(
            crate::ocr::OcrConfig::default(),
        ))),
        uploads: crate::uploads::Uploads::new(Default::default())?,
        // The demo's database is thrown away with its key.
        id_key: Some(crate::domain::IdKey::generate()),
    });
    // One job at a time keeps the story in order: the namesake's duplicate
    // certificate is only a duplicate once the first holder is verified.
    let opts = WorkerOptions {
        concurrency: 1,
        drain: true,
        poll_interval: Duration::from_millis(50),
        sweep_quiet: Duration::from_secs(3600),
        ..WorkerOptions::default()
    };
    for _round in 0..6 {
        crate::queue::run(env.clone(), opts.clone(), CancellationToken::new()).await?;
        let waiting = store
            .list(&crate::store::ListFilter {
                status: Some(Status::Unverified),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        let Some(next) = waiting
            .iter()
            .filter(|r| !r.retries_exhausted)
            .filter_map(|r| r.next_attempt_at)
            .min()
        else {
            break;
        };
        let wait =
            (next - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(1100);
        say!(
            "{} record(s) hit a transient fault; retrying in {:.1}s",
            waiting.len(),
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
    }

    let mut t = table(&[
        "record",
        "candidate",
        "name",
        "input",
        "meant to show",
        "verdict",
        "reasons",
    ]);
    let mut surprises = 0;
    for (id, demo) in &submitted {
        let Some(r) = store.record(*id).await? else {
            continue;
        };
        let mut verdict = format!("{} {}", r.status, r.status_zh);
        if r.attempts > 0 || r.last_error.is_some() {
            verdict.push_str(&format!(" (after {} transient)", r.attempts));
        }
        let codes: Vec<&str> = r.reasons.iter().map(|x| x.code.as_str()).collect();
        let expected_ok = demo.expect.starts_with(r.status.as_str())
            && codes
                .iter()
                .all(|c| demo.expect.contains(c) || r.status == Status::Verified);
        if !expected_ok {
            surprises += 1;
        }
        let messages: Vec<String> = r
            .reasons
            .iter()
            .map(|x| format!("{}: {}", x.code, x.message))
            .collect();
        t.add_safe_row(vec![
            id.to_string(),
            demo.candidate.clone(),
            demo.name.clone(),
            match (&demo.screenshot, demo.fields.get("vcode")) {
                (Some(path), Some(_)) => format!("{path}\n+ typed 在线验证码"),
                (Some(path), None) => path.clone(),
                (None, _) => "typed fields".to_string(),
            },
            demo.expect.clone(),
            if expected_ok {
                verdict
            } else {
                format!("{verdict}  ← unexpected")
            },
            messages.join("\n"),
        ]);
    }
    say!("{t}");
    let stats = sandbox.stats();
    say!(
        "\n{} records, {} requests to the sandbox ({} faults injected).",
        submitted.len(),
        stats.requests,
        stats.faults_injected
    );
    say!(
        "Inspect one with: credverify --database-url {url} show {}",
        submitted.first().map(|s| s.0).unwrap_or(1)
    );
    if args.keep.is_none() {
        say!(
            "(the database is in a temporary directory and is removed now; pass --keep DIR to keep it)"
        );
    }
    store.close().await;
    server.abort();
    if surprises > 0 {
        return Err(CliError::other(format!(
            "{surprises} record(s) did not end as the demo expects"
        )));
    }
    Ok(())
}
