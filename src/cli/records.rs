//! `credverify show` and `credverify list`: reading records.

use super::terminal::say;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use serde::Serialize;

use super::output::{CliError, SafeRows, print_json, table};
use crate::domain::{Field, ReasonCode, Status};
use crate::parse::ParsedScreenshot;
use crate::store::{EventView, ListFilter, RecordView, Store};
use crate::verdict::Agreement;

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The record id (as printed by `submit` and `list`).
    pub record: i64,
    /// One JSON document: {"record": {...}, "events": [...]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only records with this status.
    #[arg(long, value_parser = parse_status)]
    pub status: Option<Status>,
    #[command(flatten)]
    pub filter: RecordFilter,
    /// At most this many records.
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    /// Skip this many records first (for paging).
    #[arg(long, default_value_t = 0)]
    pub offset: i64,
    /// One JSON array of records.
    #[arg(long)]
    pub json: bool,
}

/// Which records, by candidate, reason and date: the filters `list` and
/// `rerun` share (each has its own `--status`).
#[derive(Debug, Clone, Args)]
pub struct RecordFilter {
    /// Only this candidate's records.
    #[arg(long)]
    pub candidate: Option<String>,
    /// Only records carrying a reason with this code (e.g. vcode_invalid).
    #[arg(long, value_parser = parse_reason)]
    pub reason: Option<ReasonCode>,
    /// Only records last changed on or after this date (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_day)]
    pub since: Option<DateTime<Utc>>,
    /// Only records last changed before this date (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_day)]
    pub until: Option<DateTime<Utc>>,
}

impl RecordFilter {
    /// The store's filter for these records with `status`, unpaged.
    pub fn with_status(&self, status: Option<Status>) -> ListFilter {
        ListFilter {
            candidate_id: self.candidate.clone(),
            status,
            reason: self.reason,
            since: self.since,
            until: self.until,
            ..ListFilter::default()
        }
    }
}

pub(crate) fn parse_status(s: &str) -> Result<Status, String> {
    Status::parse(s).ok_or_else(|| {
        "expected one of: unverified, verified, rejected, needs_review, withdrawn".to_string()
    })
}

pub(crate) fn parse_reason(s: &str) -> Result<ReasonCode, String> {
    ReasonCode::parse(s).ok_or_else(|| {
        let all: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        format!("expected one of: {}", all.join(", "))
    })
}

pub(crate) fn parse_day(s: &str) -> Result<DateTime<Utc>, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| "expected a date as YYYY-MM-DD".to_string())
}

#[derive(Serialize)]
struct ShowDocument<'a> {
    record: &'a RecordView,
    events: &'a [EventView],
    /// Answers of the service kept because they were not recognised.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    service_pages: &'a [crate::store::KeptPage],
}

pub async fn show(url: &str, args: ShowArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    let record = store.record(args.record).await?;
    let Some(record) = record else {
        return Err(
            CliError::not_found(format!("record {} does not exist", args.record))
                .hint("find record ids with `credverify list --candidate ID`"),
        );
    };
    let events = store.events(record.id).await?;
    let pages = store.kept_pages(record.id).await?;
    store.close().await;
    if args.json {
        return print_json(&ShowDocument {
            record: &record,
            events: &events,
            service_pages: &pages,
        });
    }
    print_record(&record, &events);
    if let Some(latest) = pages.first() {
        say!(
            "\nService pages  {} unrecognised answer(s) kept, the latest from {} (HTTP {}): `credverify page {}`",
            pages.len(),
            latest.fetched_at.format("%Y-%m-%d %H:%M:%S UTC"),
            latest.http_status,
            record.id
        );
    }
    Ok(())
}

fn print_record(r: &RecordView, events: &[EventView]) {
    say!(
        "Record {}  candidate {} {}",
        r.id,
        r.candidate_id,
        r.candidate_name
    );
    if let Some(m) = &r.id_number_masked {
        say!("ID number   {m}");
    }
    if let Some(k) = r.kind {
        say!("Kind        {} ({})", k.zh(), k);
    }
    say!("Status      {} {}", r.status, r.status_zh);
    if let Some(at) = r.decided_at {
        say!("Decided     {}", at.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    if r.status == Status::Unverified {
        say!("Attempts    {} transient failure(s)", r.attempts);
        if let Some(e) = &r.last_error {
            say!("Last error  {e}");
        }
        if let Some(at) = r.next_attempt_at {
            say!("Next try    {}", at.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        if r.retries_exhausted {
            say!(
                "            retries exhausted: waiting for an admin (`credverify rerun --record {}`)",
                r.id
            );
        }
    }
    if !r.reasons.is_empty() {
        say!("\nReasons");
        for reason in &r.reasons {
            say!("  {}  {}", reason.code, reason.message);
            if let Some(d) = &reason.detail {
                say!("  {:width$}  ({d})", "", width = reason.code.as_str().len());
            }
        }
    }
    // The screenshot's reading is kept apart from what was typed: a
    // reviewer needs both beside the report.
    let reading: Option<ParsedScreenshot> = r
        .screenshot_reading
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    if r.has_screenshot {
        say!(
            "Screenshot  layout {}, reads as {}  (export: credverify screenshot {} -o FILE)",
            reading
                .as_ref()
                .and_then(|x| x.layout)
                .map(|l| l.as_str())
                .unwrap_or("— (not read yet, or not a CHSI page)"),
            reading
                .as_ref()
                .and_then(|x| x.kind)
                .map(|k| k.as_str())
                .unwrap_or("—"),
            r.id
        );
    }
    let guesses = code_guesses(r);
    if !guesses.is_empty() {
        say!(
            "\nCode reads  {} (the screenshot's 在线验证码 as read, best first; unconfirmed)",
            guesses.join("  ")
        );
    }
    let mut t = table(&["field", "screenshot", "typed", "authoritative", ""]);
    let mut any = false;
    for &f in Field::ALL {
        let read = reading.as_ref().and_then(|x| x.fields.get(f));
        let claimed = r.claimed.get(f);
        let auth = r.authoritative.as_ref().and_then(|a| a.fields.get(f));
        if read.is_none() && claimed.is_none() && auth.is_none() {
            continue;
        }
        any = true;
        let mark = match r
            .field_diffs
            .iter()
            .find(|d| d.field == f)
            .map(|d| d.agreement)
        {
            Some(Agreement::Mismatch) => "✗ differs",
            Some(Agreement::Slip) => "~ OCR slip",
            Some(Agreement::Match) => "✓",
            None => "",
        };
        t.add_safe_row(vec![
            format!("{} {}", f.key(), f.label()),
            read.unwrap_or("").into(),
            claimed.unwrap_or("").into(),
            auth.unwrap_or("").into(),
            mark.into(),
        ]);
    }
    if any {
        say!("\nFields\n{t}");
    }
    let mut t = table(&["at (UTC)", "actor", "from → to", "reasons / note"]);
    for e in events {
        let codes: Vec<&str> = e.reasons.iter().map(|r| r.code.as_str()).collect();
        let mut what = codes.join(", ");
        if let Some(n) = &e.note {
            if !what.is_empty() {
                what.push_str("; ");
            }
            what.push_str(n);
        }
        let from = e.from.map(|s| s.as_str()).unwrap_or("—");
        t.add_safe_row(vec![
            e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.actor.clone(),
            format!("{from} → {}", e.to),
            what,
        ]);
    }
    say!("\nEvents\n{t}");
}

/// The codes the screenshot's reads could be, when they did not agree: an
/// admin reviewing `vcode_uncertain` compares them with the image. Only
/// well-formed codes are shown (the reading is stored data, not trusted
/// for the terminal).
fn code_guesses(r: &RecordView) -> Vec<String> {
    r.screenshot_reading
        .as_ref()
        .and_then(|v| v.get("vcode_candidates"))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str())
                .filter_map(|c| crate::domain::VerificationCode::parse(c).ok())
                .map(|c| c.expose().to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub async fn list(url: &str, args: ListArgs) -> Result<(), CliError> {
    let store = Store::connect(url).await?;
    let filter = ListFilter {
        limit: args.limit,
        offset: args.offset,
        ..args.filter.with_status(args.status)
    };
    let records = store.list(&filter).await?;
    store.close().await;
    if args.json {
        return print_json(&records);
    }
    if records.is_empty() {
        say!("no records match");
        return Ok(());
    }
    let mut t = table(&[
        "id",
        "candidate",
        "name",
        "kind",
        "status",
        "reasons",
        "updated (UTC)",
    ]);
    for r in &records {
        let mut reasons: Vec<&str> = r.reasons.iter().map(|x| x.code.as_str()).collect();
        if r.retries_exhausted {
            reasons.push("retries exhausted");
        } else if r.status == Status::Unverified && r.attempts > 0 {
            reasons.push("retrying");
        }
        t.add_safe_row(vec![
            r.id.to_string(),
            r.candidate_id.clone(),
            r.candidate_name.clone(),
            r.kind.map(|k| k.zh()).unwrap_or("").to_string(),
            format!("{} {}", r.status, r.status_zh),
            reasons.join(", "),
            r.updated_at.format("%Y-%m-%d %H:%M").to_string(),
        ]);
    }
    say!("{t}");
    if records.len() as i64 == filter.limit {
        say!(
            "(showing {} records from offset {}; use --offset {} for more)",
            records.len(),
            filter.offset,
            filter.offset + filter.limit
        );
    }
    Ok(())
}
