//! What admins do to records: re-open for a re-run, re-queue, and the counts
//! behind `stats`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use super::jobs::{self, LIVE_JOB, QUEUE};
use super::write::insert_event;
use super::{Store, StoreError};
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

/// Counts by status, waiting, exhausted, oldest waiting, and every decided
/// record's reasons.
type Overview = (
    Vec<(String, i64)>,
    i64,
    i64,
    Option<DateTime<Utc>>,
    Vec<Json<Vec<Reason>>>,
);
/// Submission times, and (status, decision time) pairs.
type Activity = (Vec<DateTime<Utc>>, Vec<(String, DateTime<Utc>)>);

impl Store {
    /// Whether a job that will still run owns this record.
    pub async fn has_live_job(&self, record_id: i64) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM records r WHERE r.id = $2 AND EXISTS (SELECT 1 FROM {} j WHERE {LIVE_JOB})",
            self.jobs_table()
        );
        let n: i64 = super::on_pool!(self, p => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(QUEUE)
                .bind(record_id)
                .fetch_one(p)
                .await?
        });
        Ok(n > 0)
    }

    /// Puts a decided record (rejected or needs review) back to unverified
    /// with a new job, or re-queues an unverified one that has no live job.
    /// Idempotent: a record already waiting for a job is left alone, so an
    /// interrupted re-run can simply be run again.
    pub async fn reopen(
        &self,
        record_id: i64,
        actor: &str,
        note: Option<&str>,
    ) -> Result<ReopenOutcome, StoreError> {
        let Some(current) = self.job_record(record_id).await? else {
            return Err(StoreError::NotFound { record_id });
        };
        match current.status {
            Status::Verified | Status::Withdrawn => {
                return Ok(ReopenOutcome::Refused {
                    current: current.status,
                });
            }
            Status::Unverified => {
                if self.has_live_job(record_id).await? {
                    return Ok(ReopenOutcome::AlreadyQueued);
                }
                self.reset_retries(record_id).await?;
                return Ok(
                    match self
                        .requeue(record_id, current.job_id.as_deref(), jobs::due_now())
                        .await?
                    {
                        Some(job_id) => {
                            self.requeue_event(record_id, actor, note).await?;
                            ReopenOutcome::Requeued { job_id }
                        }
                        None => ReopenOutcome::AlreadyQueued,
                    },
                );
            }
            Status::Rejected | Status::NeedsReview => {}
        }
        let from = current.status;
        let now = Utc::now();
        let no_reasons: [Reason; 0] = [];
        let job_id = super::in_write_tx!(self, tx => {
            let moved = sqlx::query(
                "UPDATE records SET status = 'unverified', reasons = '[]', field_diffs = '[]', decided_at = NULL, \
                 attempts = 0, last_error = NULL, next_attempt_at = NULL, retries_exhausted = false, \
                 ocr = NULL, updated_at = $1 WHERE id = $2 AND status = $3",
            )
            .bind(now)
            .bind(record_id)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() == 0 {
                let now_status = self.job_record(record_id).await?.map(|r| r.status).unwrap_or(from);
                return Ok(ReopenOutcome::Refused { current: now_status });
            }
            let job_id = jobs::insert(&mut tx, QUEUE, record_id, jobs::due_now()).await?;
            sqlx::query("UPDATE records SET job_id = $1 WHERE id = $2")
                .bind(&job_id)
                .bind(record_id)
                .execute(&mut *tx)
                .await?;
            insert_event(&mut tx, record_id, now, actor, Some(from), Status::Unverified, &no_reasons, note).await?;
            job_id
        });
        Ok(ReopenOutcome::Reopened { job_id })
    }

    async fn reset_retries(&self, record_id: i64) -> Result<(), StoreError> {
        super::on_pool!(self, p => {
            sqlx::query(
                "UPDATE records SET attempts = 0, retries_exhausted = false, next_attempt_at = NULL \
                 WHERE id = $1 AND status = 'unverified'",
            )
            .bind(record_id)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    pub async fn stats(&self, days: u32) -> Result<Stats, StoreError> {
        let since = Utc::now() - chrono::Duration::days(i64::from(days.max(1)) - 1);
        let since_day = since.format("%Y-%m-%d").to_string();
        let mut s = Stats::default();
        let (by_status, waiting, exhausted, oldest, reasons): Overview = super::on_pool!(self, p => {
            let by_status = sqlx::query_as("SELECT status, COUNT(*) FROM records GROUP BY status").fetch_all(p).await?;
            let waiting = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE status = 'unverified'").fetch_one(p).await?;
            let exhausted = sqlx::query_scalar(
                "SELECT COUNT(*) FROM records WHERE status = 'unverified' AND retries_exhausted",
            )
            .fetch_one(p)
            .await?;
            let oldest = sqlx::query_scalar("SELECT MIN(created_at) FROM records WHERE status = 'unverified'")
                .fetch_one(p)
                .await?;
            let reasons = sqlx::query_scalar("SELECT reasons FROM records WHERE status <> 'unverified'")
                .fetch_all(p)
                .await?;
            (by_status, waiting, exhausted, oldest, reasons)
        });
        for (status, n) in by_status {
            s.total += n;
            s.by_status.insert(status, n);
        }
        for st in Status::ALL {
            s.by_status.entry(st.as_str().to_string()).or_insert(0);
        }
        for Json(list) in reasons {
            for r in list {
                *s.by_reason.entry(r.code.as_str().to_string()).or_default() += 1;
            }
        }
        s.waiting = waiting;
        s.retries_exhausted = exhausted;
        s.oldest_waiting_since = oldest;

        let (failed, pending): (i64, i64) = match self {
            Store::Sqlite(p) => sqlx::query_as(
                "SELECT COALESCE(SUM(status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)), 0), \
                 COALESCE(SUM(status IN ('Pending', 'Queued', 'Running')), 0) FROM Jobs WHERE job_type IN ($1, 'credverify-ocr')",
            )
            .bind(QUEUE)
            .fetch_one(p)
            .await?,
            Store::Postgres(p) => sqlx::query_as(
                "SELECT COUNT(*) FILTER (WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)), \
                 COUNT(*) FILTER (WHERE status IN ('Pending', 'Queued', 'Running')) FROM apalis.jobs WHERE job_type IN ($1, 'credverify-ocr')",
            )
            .bind(QUEUE)
            .fetch_one(p)
            .await?,
        };
        s.jobs_failed = failed;
        s.jobs_pending = pending;
        s.chsi_paused_until = self.chsi_paused_until().await?;

        // Days are computed here rather than in SQL: the dialects disagree on
        // date functions, and a window of days is small.
        let (submitted, decided): Activity = super::on_pool!(self, p => {
            let submitted = sqlx::query_scalar("SELECT created_at FROM records WHERE created_at >= $1")
                .bind(since_start(&since_day))
                .fetch_all(p)
                .await?;
            let decided = sqlx::query_as(
                "SELECT status, decided_at FROM records WHERE decided_at IS NOT NULL AND decided_at >= $1",
            )
            .bind(since_start(&since_day))
            .fetch_all(p)
            .await?;
            (submitted, decided)
        });
        for d in 0..i64::from(days.max(1)) {
            let day = (Utc::now() - chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string();
            s.per_day.insert(day, DayCounts::default());
        }
        for at in submitted {
            if let Some(c) = s.per_day.get_mut(&at.format("%Y-%m-%d").to_string()) {
                c.submitted += 1;
            }
        }
        for (status, at) in decided {
            if let Some(c) = s.per_day.get_mut(&at.format("%Y-%m-%d").to_string()) {
                match Status::parse(&status) {
                    Some(Status::Verified) => c.verified += 1,
                    Some(Status::Rejected) => c.rejected += 1,
                    Some(Status::NeedsReview) => c.needs_review += 1,
                    _ => {}
                }
            }
        }
        Ok(s)
    }
}

fn since_start(day: &str) -> DateTime<Utc> {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_else(Utc::now)
}
