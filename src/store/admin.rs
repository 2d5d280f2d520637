//! What admins are told: the outcome of a re-run, and the counts behind
//! `stats` (read by `sql/admin.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use serde_json::Value;

use crate::domain::{Reason, Status};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReopenOutcome {
    /// Back to unverified with a fresh job.
    Reopened { job_id: String },
    /// Already unverified with a job that will run: nothing enqueued.
    AlreadyQueued,
    /// Unverified without a live job (e.g. retries exhausted): re-queued.
    Requeued { job_id: String },
    /// Not in a status this re-run may touch.
    Refused { current: Status },
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DayCounts {
    pub submitted: i64,
    pub verified: i64,
    pub rejected: i64,
    pub needs_review: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_reason: BTreeMap<String, i64>,
    /// Unverified records (waiting for a job or a retry).
    pub waiting: i64,
    /// Unverified records whose retry budget is spent: admins must act.
    pub retries_exhausted: i64,
    pub oldest_waiting_since: Option<DateTime<Utc>>,
    /// Jobs apalis gave up on (failed with no attempts left, or killed).
    pub jobs_failed: i64,
    /// Jobs queued or running now.
    pub jobs_pending: i64,
    /// Per UTC day, newest first: submissions, and decisions by outcome.
    pub per_day: BTreeMap<String, DayCounts>,
    /// Until when every worker of the cluster holds its requests back after
    /// the service pushed back (PostgreSQL; on SQLite the pause lives in the
    /// worker process and shows in its metrics).
    pub chsi_paused_until: Option<DateTime<Utc>>,
}

/// The days `stats` counts: today and the `days - 1` before it, in UTC.
pub(super) struct Window {
    days: u32,
    /// The start of the first day.
    pub start: DateTime<Utc>,
}

impl Window {
    pub fn of_days(days: u32) -> Window {
        let days = days.max(1);
        let first = Utc::now() - chrono::Duration::days(i64::from(days) - 1);
        let start = first
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(first, |d| d.and_utc());
        Window { days, start }
    }
}

/// What `stats` reads from the database, before it is counted up.
pub(super) struct Overview {
    pub by_status: Vec<(String, i64)>,
    pub waiting: i64,
    pub exhausted: i64,
    pub oldest: Option<DateTime<Utc>>,
    /// Every decided record's reasons.
    pub reasons: Vec<Json<Vec<Reason>>>,
    pub jobs_failed: i64,
    pub jobs_pending: i64,
    pub chsi_paused_until: Option<DateTime<Utc>>,
    /// Submission times within the window.
    pub submitted: Vec<DateTime<Utc>>,
    /// (status, decision time) within the window.
    pub decided: Vec<(String, DateTime<Utc>)>,
}

impl Overview {
    pub fn into_stats(self, window: &Window) -> Stats {
        let mut s = Stats::default();
        for (status, n) in self.by_status {
            s.total += n;
            s.by_status.insert(status, n);
        }
        for st in Status::ALL {
            s.by_status.entry(st.as_str().to_string()).or_insert(0);
        }
        for Json(list) in self.reasons {
            for r in list {
                *s.by_reason.entry(r.code.as_str().to_string()).or_default() += 1;
            }
        }
        s.waiting = self.waiting;
        s.retries_exhausted = self.exhausted;
        s.oldest_waiting_since = self.oldest;
        s.jobs_failed = self.jobs_failed;
        s.jobs_pending = self.jobs_pending;
        s.chsi_paused_until = self.chsi_paused_until;
        let day = |at: DateTime<Utc>| at.format("%Y-%m-%d").to_string();
        for d in 0..i64::from(window.days) {
            s.per_day.insert(
                day(Utc::now() - chrono::Duration::days(d)),
                DayCounts::default(),
            );
        }
        for at in self.submitted {
            if let Some(c) = s.per_day.get_mut(&day(at)) {
                c.submitted += 1;
            }
        }
        for (status, at) in self.decided {
            if let Some(c) = s.per_day.get_mut(&day(at)) {
                match Status::parse(&status) {
                    Some(Status::Verified) => c.verified += 1,
                    Some(Status::Rejected) => c.rejected += 1,
                    Some(Status::NeedsReview) => c.needs_review += 1,
                    _ => {}
                }
            }
        }
        s
    }
}

/// Records by reason code, from each record's list of reasons.
pub(super) fn count_reason_codes(lists: impl Iterator<Item = Value>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for list in lists {
        for code in list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("code").and_then(Value::as_str))
        {
            *out.entry(code.to_string()).or_default() += 1;
        }
    }
    out
}
