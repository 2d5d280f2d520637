//! Admin commands: `rerun`, `review`, `revoke`, `stats`. Built for people
//! under pressure: a dry run first, progress as it goes, every change in the
//! event log with who did it and why, safe to interrupt and run again. The
//! rules are the admin service's (`crate::admin`), the same for the console.

use super::terminal::{say, say_err};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::ServiceArgs;
use super::output::{CliError, SafeRows, print_json, table};
use super::records::{RecordFilter, parse_reason, parse_status};
use crate::admin::{self, AdminService, Decision, RerunPlan as Plan, Role};
use crate::domain::{Field, ReasonCode, Status};
use crate::pipeline::{self, Assessment, Env};
use crate::store::{ListFilter, RecordView, ReopenOutcome, Store};

/// Who is acting, for the event log.
#[derive(Debug, Clone, Args)]
pub struct Operator {
    /// Your name, recorded in the event log (default: $CREDVERIFY_OPERATOR, then $USER).
    #[arg(long = "by", env = "CREDVERIFY_OPERATOR")]
    pub by: Option<String>,
}

impl Operator {
    /// Whoever runs the CLI on the database's host acts as an admin; the
    /// name goes into the event log as `admin:NAME`.
    pub(super) fn admin(&self) -> Result<admin::Operator, CliError> {
        let name = self
            .by
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .filter(|n| !n.trim().is_empty());
        name.map(|n| admin::Operator::new(n.trim(), Role::Admin))
            .ok_or_else(|| {
                CliError::usage("who is acting? pass --by NAME (or set CREDVERIFY_OPERATOR)")
            })
    }
}

#[derive(Debug, Clone, Args)]
pub struct RerunArgs {
    /// A record to re-run (repeat for several).
    #[arg(long = "record")]
    pub records: Vec<i64>,
    /// Records with this status: rejected, needs_review or unverified.
    #[arg(long, value_parser = parse_status)]
    pub status: Option<Status>,
    #[command(flatten)]
    pub filter: RecordFilter,
    /// Show what would be re-run and why; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also re-check verified records against the service. They stay verified; a record the service
    /// no longer confirms is reported so you can `revoke` it.
    #[arg(long)]
    pub include_verified: bool,
    /// Also re-open records a person decided (reviewed or revoked): those stay final otherwise.
    #[arg(long)]
    pub force: bool,
    /// Why, for the event log.
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub operator: Operator,
    /// Follow the jobs to their verdicts (a worker must be running) and print before/after.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub wait_timeout_secs: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub service: ServiceArgs,
}

#[derive(Debug, Clone, Args)]
#[group(id = "decision", required = true, multiple = false, args = ["approve", "reject"])]
pub struct ReviewArgs {
    /// The record (needs_review, or unverified with its retries spent).
    pub record: i64,
    /// Verify the record.
    #[arg(long)]
    pub approve: bool,
    /// Reject the record with this reason code (e.g. holder_mismatch, field_mismatch).
    #[arg(long, value_parser = parse_reason, value_name = "REASON")]
    pub reject: Option<ReasonCode>,
    /// For field_mismatch: a field that differs (repeat; default: those the comparison found).
    #[arg(long = "field", value_parser = parse_field, value_name = "FIELD")]
    pub fields: Vec<Field>,
    /// What you checked and why you decided so (kept in the event log, never shown to the candidate).
    #[arg(long)]
    pub note: String,
    #[command(flatten)]
    pub operator: Operator,
}

#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// The verified record to take back.
    pub record: i64,
    /// Why (e.g. "certificate revoked by the school, letter 2026-031"); shown to the candidate.
    #[arg(long)]
    pub reason: String,
    /// Anything else, for the event log only.
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub operator: Operator,
}

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Per-day counts for this many days, today included.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    #[arg(long)]
    pub json: bool,
}

pub(super) fn progress(len: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} {msg} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

#[derive(Debug, Serialize)]
struct RerunRow {
    record: i64,
    candidate: String,
    before: Status,
    before_reasons: Vec<ReasonCode>,
    action: Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    after_reasons: Vec<ReasonCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

async fn select(store: &Store, args: &RerunArgs) -> Result<Vec<RecordView>, CliError> {
    if args.records.is_empty()
        && args.filter.candidate.is_none()
        && args.status.is_none()
        && args.filter.reason.is_none()
    {
        return Err(CliError::usage("choose records with --record, --candidate, --status or --reason")
            .hint("e.g. `credverify rerun --status rejected --reason vcode_invalid --since 2026-11-27 --dry-run`"));
    }
    if args.status == Some(Status::Verified) && !args.include_verified {
        return Err(CliError::usage(
            "verified records are only re-checked: add --include-verified",
        ));
    }
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list(&ListFilter {
                ids: args.records.clone(),
                limit: 1000,
                offset,
                ..args.filter.with_status(args.status)
            })
            .await?;
        let n = page.len();
        out.extend(page);
        if n < 1000 {
            break;
        }
        offset += 1000;
    }
    for id in &args.records {
        if !out.iter().any(|r| r.id == *id) && store.record(*id).await?.is_none() {
            return Err(CliError::not_found(format!("record {id} does not exist"))
                .hint("check the id with `credverify list`"));
        }
    }
    Ok(out)
}

fn parse_field(s: &str) -> Result<Field, String> {
    Field::from_key(s).ok_or_else(|| {
        let all: Vec<&str> = Field::ALL.iter().map(|f| f.key()).collect();
        format!("expected one of: {}", all.join(", "))
    })
}

pub async fn rerun(url: &str, args: RerunArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    let service = AdminService::new(store.clone());
    let selected = select(&store, &args).await?;
    let mut rows = Vec::with_capacity(selected.len());
    for r in &selected {
        rows.push(RerunRow {
            record: r.id,
            candidate: r.candidate_id.clone(),
            before: r.status,
            before_reasons: r.reasons.iter().map(|x| x.code).collect(),
            action: service.plan(r, args.include_verified, args.force).await?,
            after: None,
            after_reasons: Vec::new(),
            note: None,
        });
    }
    if args.dry_run {
        print_rows(&rows, &args, "would")?;
        if !args.json {
            say_err!("{}", skip_summary(&rows));
        }
        return Ok(());
    }
    let who = args.operator.admin()?;
    let rechecker = if args.include_verified {
        let chsi = super::run::chsi_client(&store, &args.service)?;
        Some(Env {
            store: store.clone(),
            chsi,
            retry: Default::default(),
            reader: None,
            uploads: crate::uploads::Uploads::new(Default::default())?,
            // Re-checks only verified records, which were sealed before they
            // were decided.
            id_key: None,
        })
    } else {
        None
    };

    let bar = progress(rows.len() as u64, args.json);
    bar.set_message("records");
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for row in &mut rows {
        match row.action {
            Plan::SkipVerified => *counts.entry("skipped (verified)").or_default() += 1,
            Plan::SkipRevoked => *counts.entry("skipped (revoked)").or_default() += 1,
            Plan::SkipPersonDecided => {
                *counts.entry("skipped (decided by a person)").or_default() += 1
            }
            Plan::SkipWithdrawn => *counts.entry("skipped (withdrawn)").or_default() += 1,
            Plan::Recheck => {
                let env = rechecker.as_ref().expect("built for --include-verified");
                row.note = Some(recheck(env, row.record).await?);
                *counts.entry("re-checked").or_default() += 1;
            }
            _ => {
                let (plan, outcome) = service
                    .rerun(&who, row.record, args.force, args.note.as_deref())
                    .await
                    .map_err(|e| {
                        CliError::from(e).hint(format!(
                            "record {}: run the same command again to resume",
                            row.record
                        ))
                    })?;
                // The record may have changed since it was listed.
                row.action = plan;
                let label = match outcome {
                    Some(ReopenOutcome::Reopened { .. }) => "re-opened",
                    Some(ReopenOutcome::Requeued { .. }) => "re-queued",
                    Some(ReopenOutcome::AlreadyQueued) => "already queued",
                    Some(ReopenOutcome::Refused { .. }) => "changed meanwhile, left alone",
                    None if plan.skipped() => "skipped (changed meanwhile)",
                    None => "already queued",
                };
                if let Some(ReopenOutcome::Refused { current }) = outcome {
                    row.note = Some(format!("now {current}; left alone"));
                }
                *counts.entry(label).or_default() += 1;
            }
        }
        bar.inc(1);
        bar.set_message(
            counts
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    bar.finish_and_clear();

    if args.wait {
        wait_for_verdicts(
            &store,
            &mut rows,
            Duration::from_secs(args.wait_timeout_secs),
            args.json,
        )
        .await?;
    }
    store.close().await;
    if !args.json {
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        say_err!(
            "{}",
            if summary.is_empty() {
                "no records matched".to_string()
            } else {
                summary.join(", ")
            }
        );
    }
    print_rows(&rows, &args, if args.wait { "after" } else { "done" })
}

/// Asks the service about a verified record again, changing nothing.
async fn recheck(env: &Env, record_id: i64) -> Result<String, CliError> {
    let Some(rec) = env.store.job_record(record_id).await? else {
        return Ok("record vanished".into());
    };
    match pipeline::assess(env, &rec)
        .await
        .map_err(|e| CliError::other(crate::errors::chain(&e)))?
    {
        Assessment::Decided { verdict, .. } if verdict.status == Status::Verified => {
            Ok("still confirmed by the service".into())
        }
        Assessment::Decided { verdict, .. } => {
            let codes: Vec<&str> = verdict.reasons.iter().map(|r| r.code.as_str()).collect();
            Ok(format!(
                "NO LONGER CONFIRMED: would be {} ({}); left verified — `credverify revoke {record_id} --reason ...` to take it back",
                verdict.status,
                codes.join(", ")
            ))
        }
        Assessment::Transient(e) => Ok(format!("could not ask the service ({e}); try again later")),
        Assessment::NeedsReading => {
            Ok("its screenshot has not been read yet; try again later".into())
        }
    }
}

async fn wait_for_verdicts(
    store: &Store,
    rows: &mut [RerunRow],
    timeout: Duration,
    quiet: bool,
) -> Result<(), CliError> {
    let watched: Vec<usize> = (0..rows.len())
        .filter(|i| {
            matches!(
                rows[*i].action,
                Plan::Reopen | Plan::Requeue | Plan::AlreadyQueued
            )
        })
        .collect();
    let bar = progress(watched.len() as u64, quiet);
    bar.set_message("decided");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut done = 0;
        for &i in &watched {
            let Some(r) = store.record(rows[i].record).await? else {
                continue;
            };
            if r.status != Status::Unverified || r.retries_exhausted {
                rows[i].after = Some(r.status);
                rows[i].after_reasons = r.reasons.iter().map(|x| x.code).collect();
                if r.retries_exhausted {
                    rows[i].note = Some("retries exhausted".into());
                }
                done += 1;
            }
        }
        bar.set_position(done as u64);
        if done == watched.len() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            bar.finish_and_clear();
            return Err(CliError::other(format!(
                "{} of {} records still undecided after {}s",
                watched.len() - done,
                watched.len(),
                timeout.as_secs()
            ))
            .hint("is a worker running against this database? `credverify worker`; then `credverify list --status unverified`"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bar.finish_and_clear();
    Ok(())
}

fn print_rows(rows: &[RerunRow], args: &RerunArgs, phase: &str) -> Result<(), CliError> {
    if args.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        say!("no records match");
        return Ok(());
    }
    let mut t = if phase == "after" {
        table(&["record", "candidate", "before", "after", "note"])
    } else {
        table(&[
            "record",
            "candidate",
            "status",
            "reasons",
            if phase == "would" { "would" } else { "did" },
        ])
    };
    let codes = |c: &[ReasonCode]| c.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ");
    for r in rows {
        if phase == "after" {
            let before = format!("{} {}", r.before, codes(&r.before_reasons));
            let after = match r.after {
                Some(s) => format!("{s} {}", codes(&r.after_reasons)),
                None => "—".into(),
            };
            t.add_safe_row(vec![
                r.record.to_string(),
                r.candidate.clone(),
                before,
                after,
                r.note.clone().unwrap_or_default(),
            ]);
        } else {
            let what = r
                .note
                .clone()
                .unwrap_or_else(|| r.action.describe().to_string());
            t.add_safe_row(vec![
                r.record.to_string(),
                r.candidate.clone(),
                r.before.to_string(),
                codes(&r.before_reasons),
                what,
            ]);
        }
    }
    say!("{t}");
    Ok(())
}

pub async fn review(url: &str, args: ReviewArgs) -> Result<(), CliError> {
    let who = args.operator.admin()?;
    let decision = match args.reject {
        Some(code) => Decision::Reject {
            code,
            fields: args.fields.clone(),
        },
        None => Decision::Approve,
    };
    let store = Store::connect(url).await?;
    let service = AdminService::new(store.clone());
    let result = service
        .review(&who, args.record, &decision, &args.note)
        .await;
    store.close().await;
    let to = result.map_err(|e| {
        let hint = match &e {
            admin::AdminError::Refused(_) => {
                "the review queue: `credverify list --status needs_review`; a verified record is taken back with `credverify revoke`"
            }
            _ => "",
        };
        let err = CliError::from(e);
        if hint.is_empty() { err } else { err.hint(hint) }
    })?;
    say!("record {} is now {} {}", args.record, to, to.zh());
    Ok(())
}

pub async fn revoke(url: &str, args: RevokeArgs) -> Result<(), CliError> {
    let who = args.operator.admin()?;
    let store = Store::connect(url).await?;
    let service = AdminService::new(store.clone());
    let result = service
        .revoke(&who, args.record, &args.reason, args.note.as_deref())
        .await;
    store.close().await;
    result?;
    say!("record {} revoked: now rejected (revoked)", args.record);
    Ok(())
}

/// What a dry run leaves alone, and why.
fn skip_summary(rows: &[RerunRow]) -> String {
    let mut skipped: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.action.skipped()) {
        *skipped.entry(r.action.describe()).or_default() += 1;
    }
    let n: usize = skipped.values().sum();
    if n == 0 {
        return "would skip none".into();
    }
    let why: Vec<String> = skipped.iter().map(|(k, v)| format!("{v} {k}")).collect();
    format!("would skip {n}: {}", why.join("; "))
}

pub async fn stats(url: &str, args: StatsArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    let s = store.stats(args.days).await?;
    store.close().await;
    if args.json {
        return print_json(&s);
    }
    let mut t = table(&["status", "records"]);
    for st in Status::ALL {
        t.add_safe_row(vec![
            format!("{} {}", st, st.zh()),
            s.by_status
                .get(st.as_str())
                .copied()
                .unwrap_or(0)
                .to_string(),
        ]);
    }
    t.add_safe_row(vec!["total".to_string(), s.total.to_string()]);
    say!("{t}");
    say!(
        "waiting: {} (retries exhausted: {}){}",
        s.waiting,
        s.retries_exhausted,
        s.oldest_waiting_since
            .map(|d| format!(", oldest since {}", d.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default()
    );
    say!(
        "jobs: {} queued or running, {} failed for good",
        s.jobs_pending,
        s.jobs_failed
    );
    if let Some(until) = s.chsi_paused_until {
        say!(
            "requests to the verification service paused until {} (it pushed back)",
            until.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    if !s.by_reason.is_empty() {
        let mut t = table(&["reason", "records"]);
        for (code, n) in &s.by_reason {
            t.add_safe_row(vec![code.clone(), n.to_string()]);
        }
        say!("{t}");
    }
    let mut t = table(&[
        "day (UTC)",
        "submitted",
        "verified",
        "rejected",
        "needs_review",
    ]);
    for (day, c) in s.per_day.iter().rev() {
        t.add_safe_row(vec![
            day.clone(),
            c.submitted.to_string(),
            c.verified.to_string(),
            c.rejected.to_string(),
            c.needs_review.to_string(),
        ]);
    }
    say!("{t}");
    Ok(())
}
