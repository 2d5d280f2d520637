//! What admins and the review desk ask ([`AdminStore`]), written once and
//! compiled into each backend's module (`super` is `sqlite` or `postgres`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::Here;
use super::events::{Event, insert_event};
use super::jobs::attach_new_job;
use crate::domain::{Reason, Status};
use crate::store::admin::{self, Stats};
use crate::store::dialect::Dialect;
use crate::store::jobs::{QUEUE, due_now};
use crate::store::operators::{self, OperatorRow};
use crate::store::{AdminStore, ClusterStore, JobStore, RecordStore, ReopenOutcome, StoreError};

impl Here {
    async fn reset_retries(&self, record_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE records SET attempts = 0, retries_exhausted = false, next_attempt_at = NULL \
             WHERE id = $1 AND status = 'unverified'",
        )
        .bind(record_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes the event of a re-queue: the status stays `unverified`, but who
    /// re-queued it and why belong in the log like any other action.
    async fn requeue_event(
        &self,
        record_id: i64,
        actor: &str,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_event(
            &mut tx,
            Event::without_reasons(
                record_id,
                Utc::now(),
                actor,
                (Status::Unverified, Status::Unverified),
                note,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl AdminStore for Here {
    async fn reopen(
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
                let requeued = self
                    .requeue(record_id, current.job_id.as_deref(), due_now())
                    .await?;
                return Ok(match requeued {
                    Some(job_id) => {
                        self.requeue_event(record_id, actor, note).await?;
                        ReopenOutcome::Requeued { job_id }
                    }
                    None => ReopenOutcome::AlreadyQueued,
                });
            }
            Status::Rejected | Status::NeedsReview => {}
        }
        let from = current.status;
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
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
            let now_status: Option<String> =
                sqlx::query_scalar("SELECT status FROM records WHERE id = $1")
                    .bind(record_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let current = now_status
                .as_deref()
                .and_then(Status::parse)
                .unwrap_or(from);
            return Ok(ReopenOutcome::Refused { current });
        }
        let job_id = attach_new_job(&mut tx, QUEUE, record_id, due_now()).await?;
        insert_event(
            &mut tx,
            Event::without_reasons(record_id, now, actor, (from, Status::Unverified), note),
        )
        .await?;
        tx.commit().await?;
        Ok(ReopenOutcome::Reopened { job_id })
    }

    async fn stats(&self, days: u32) -> Result<Stats, StoreError> {
        let p = &self.pool;
        let window = admin::Window::of_days(days);
        let by_status: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM records GROUP BY status")
                .fetch_all(p)
                .await?;
        let (waiting, exhausted, oldest): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE retries_exhausted), MIN(created_at) \
             FROM records WHERE status = 'unverified'",
        )
        .fetch_one(p)
        .await?;
        let reasons: Vec<Json<Vec<Reason>>> =
            sqlx::query_scalar("SELECT reasons FROM records WHERE status <> 'unverified'")
                .fetch_all(p)
                .await?;
        let jobs = format!(
            "SELECT COUNT(*) FILTER (WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)), \
             COUNT(*) FILTER (WHERE status IN ('Pending', 'Queued', 'Running')) \
             FROM {} WHERE job_type IN ($1, 'credverify-ocr')",
            Here::JOBS
        );
        let (jobs_failed, jobs_pending): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(jobs))
            .bind(QUEUE)
            .fetch_one(p)
            .await?;
        // Days are counted here rather than in SQL: the dialects disagree on
        // date functions, and a window of days is small.
        let submitted: Vec<DateTime<Utc>> =
            sqlx::query_scalar("SELECT created_at FROM records WHERE created_at >= $1")
                .bind(window.start)
                .fetch_all(p)
                .await?;
        let decided: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT status, decided_at FROM records WHERE decided_at IS NOT NULL AND decided_at >= $1",
        )
        .bind(window.start)
        .fetch_all(p)
        .await?;
        Ok(admin::Overview {
            by_status,
            waiting,
            exhausted,
            oldest,
            reasons,
            jobs_failed,
            jobs_pending,
            chsi_paused_until: self.chsi_paused_until().await?,
            submitted,
            decided,
        }
        .into_stats(&window))
    }

    async fn reason_counts(
        &self,
        status: Option<Status>,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let lists: Vec<Json<Value>> =
            sqlx::query_scalar("SELECT reasons FROM records WHERE ($1 IS NULL OR status = $1)")
                .bind(status.map(|s| s.as_str()))
                .fetch_all(&self.pool)
                .await?;
        Ok(admin::count_reason_codes(
            lists.into_iter().map(|Json(v)| v),
        ))
    }

    async fn add_operator(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO operators (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn operator(&self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        let row: Option<operators::Row> = sqlx::query_as(
            "SELECT name, role, password_hash, created_at, disabled_at FROM operators WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(operators::from_row))
    }

    async fn operators(&self) -> Result<Vec<OperatorRow>, StoreError> {
        let rows: Vec<operators::Row> = sqlx::query_as(
            "SELECT name, role, password_hash, created_at, disabled_at FROM operators ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(operators::from_row).collect())
    }

    async fn disable_operator(&self, name: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE operators SET disabled_at = COALESCE(disabled_at, $1) WHERE name = $2",
        )
        .bind(Utc::now())
        .bind(name)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
