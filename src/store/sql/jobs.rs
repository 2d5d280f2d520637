//! Our rows in apalis' job tables ([`JobStore`]), written once and compiled
//! into each backend's module (`super` is `sqlite` or `postgres`).

use chrono::{DateTime, Utc};

use super::{Db, Here};
use crate::store::dialect::Dialect;
use crate::store::jobs::{JOB_MAX_ATTEMPTS, LIVE_JOB, QUEUE, new_job_id, payload};
use crate::store::{JobStore, StoreError};

/// Inserts a job for `record_id` into `queue`, due at `run_at`, and makes it
/// the record's job, in the caller's transaction, so a record and its job
/// are committed together. Returns the job's id.
pub(in crate::store) async fn attach_new_job(
    tx: &mut sqlx::Transaction<'_, Db>,
    queue: &str,
    record_id: i64,
    run_at: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let id = new_job_id();
    sqlx::query(Here::INSERT_JOB)
        .bind(id.as_str())
        .bind(queue)
        .bind(payload(record_id))
        .bind(JOB_MAX_ATTEMPTS)
        .bind(Here::run_at(run_at))
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE records SET job_id = $1 WHERE id = $2")
        .bind(&id)
        .bind(record_id)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

#[async_trait::async_trait]
impl JobStore for Here {
    async fn has_live_job(&self, record_id: i64) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM records r WHERE r.id = $2 AND EXISTS (SELECT 1 FROM {} j WHERE {LIVE_JOB})",
            Here::JOBS
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(QUEUE)
            .bind(record_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn runnable_jobs_in(&self, queue: &str, worker: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(Here::RUNNABLE_JOBS)
            .bind(queue)
            .bind(Here::run_at(Utc::now()))
            .bind(worker)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn stranded_records(
        &self,
        quiet_since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT r.id FROM records r WHERE r.status = 'unverified' AND NOT r.retries_exhausted \
             AND r.updated_at < $2 AND NOT EXISTS (SELECT 1 FROM {} j WHERE {LIVE_JOB}) \
             ORDER BY r.id LIMIT $3",
            Here::JOBS
        );
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(QUEUE)
            .bind(quiet_since)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn requeue_in(
        &self,
        queue: &str,
        record_id: i64,
        expected_job: Option<&str>,
        run_at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE records SET updated_at = $1 WHERE id = $2 AND status = 'unverified' \
             AND job_id IS NOT DISTINCT FROM $3",
        )
        .bind(Utc::now())
        .bind(record_id)
        .bind(expected_job)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(None);
        }
        let job_id = attach_new_job(&mut tx, queue, record_id, run_at).await?;
        tx.commit().await?;
        Ok(Some(job_id))
    }

    async fn quarantine_bad_jobs(&self) -> Result<u64, StoreError> {
        let note = r#"{"Err":"set aside by credverify: job id is not a ULID"}"#;
        Ok(sqlx::query(Here::QUARANTINE_JOBS)
            .bind(note)
            .bind(QUEUE)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn worker_names(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}%", prefix.replace('%', "\\%").replace('_', "\\_"));
        let sql = format!(
            "SELECT id FROM {} WHERE worker_type IN ($1, 'credverify-ocr') AND id LIKE $2 ESCAPE '\\'",
            Here::WORKERS
        );
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(QUEUE)
            .bind(&pattern)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn release_jobs_of(&self, worker: &str) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE {} SET status = 'Pending', lock_by = NULL, lock_at = NULL, attempts = attempts + 1 \
             WHERE job_type IN ($1, 'credverify-ocr') AND lock_by = $2 AND status IN ('Queued', 'Running')",
            Here::JOBS
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(QUEUE)
            .bind(worker)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
