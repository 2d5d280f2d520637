//! Queries over apalis' job tables that apalis itself does not offer: what is
//! runnable now (for `--drain`), records no live job will ever pick up (the
//! sweep), and rows that would stop a worker's fetch loop (quarantine).

use chrono::{DateTime, Utc};

use super::jobs::{self, LIVE_JOB, QUEUE};
use super::{Store, StoreError};

/// A ULID in Crockford base32: anything else in `id` makes apalis' fetch fail
/// for the whole batch.
const SQLITE_BAD_ID: &str = "(length(id) <> 26 OR upper(id) GLOB '*[^0-9A-HJKMNP-TV-Z]*')";

impl Store {
    /// Jobs this worker could still run now: due jobs nobody holds, failed
    /// jobs with attempts left, and jobs this worker holds.
    pub async fn runnable_jobs(&self, worker: &str) -> Result<i64, StoreError> {
        self.runnable_jobs_in(QUEUE, worker).await
    }

    /// [`Store::runnable_jobs`] in `queue`.
    pub async fn runnable_jobs_in(&self, queue: &str, worker: &str) -> Result<i64, StoreError> {
        let now = Utc::now();
        let (n,): (i64,) = match self {
            Store::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT COUNT(*) FROM Jobs WHERE job_type = $1 AND ( \
                       (status = 'Pending' AND lock_by IS NULL AND run_at <= $2) \
                       OR (status = 'Failed' AND attempts < max_attempts AND run_at <= $2) \
                       OR (status IN ('Queued', 'Running') AND lock_by = $3))",
                )
                .bind(queue)
                .bind(now.timestamp())
                .bind(worker)
                .fetch_one(p)
                .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as(
                    "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1 AND ( \
                       (status = 'Pending' AND run_at <= $2) \
                       OR (status = 'Failed' AND attempts < max_attempts AND run_at <= $2) \
                       OR (status IN ('Queued', 'Running') AND lock_by = $3))",
                )
                .bind(queue)
                .bind(now)
                .bind(worker)
                .fetch_one(p)
                .await?
            }
        };
        Ok(n)
    }

    /// Unverified records that no live job will pick up (a producer crashed
    /// between statements, a job row was deleted, a job was killed or ran out
    /// of attempts), last touched before `quiet_since`. Records flagged as
    /// having exhausted their retries are left for admins.
    pub async fn stranded_records(
        &self,
        quiet_since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT r.id FROM records r WHERE r.status = 'unverified' AND NOT r.retries_exhausted \
             AND r.updated_at < $2 AND NOT EXISTS (SELECT 1 FROM {} j WHERE {LIVE_JOB}) \
             ORDER BY r.id LIMIT $3",
            self.jobs_table()
        );
        let rows: Vec<(i64,)> = super::on_pool!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(QUEUE)
                .bind(quiet_since)
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Gives an unverified record a new job, due at `run_at`, if its owning
    /// job is still `expected_job` (so two sweepers never both enqueue).
    /// Returns the new job's id, or `None` if the record moved on.
    pub async fn requeue(
        &self,
        record_id: i64,
        expected_job: Option<&str>,
        run_at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        self.requeue_in(QUEUE, record_id, expected_job, run_at)
            .await
    }

    /// [`Store::requeue`] into `queue`: how a record moves between the
    /// lookup and OCR queues without counting an attempt.
    pub async fn requeue_in(
        &self,
        queue: &str,
        record_id: i64,
        expected_job: Option<&str>,
        run_at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let now = Utc::now();
        // `IS` compares NULLs on SQLite; PostgreSQL spells it IS NOT DISTINCT FROM.
        let same_job = match self {
            Store::Sqlite(_) => "IS",
            Store::Postgres(_) => "IS NOT DISTINCT FROM",
        };
        let claim = format!(
            "UPDATE records SET updated_at = $1 WHERE id = $2 AND status = 'unverified' AND job_id {same_job} $3"
        );
        let job_id = super::in_write_tx!(self, tx => {
            let claimed = sqlx::query(sqlx::AssertSqlSafe(claim))
                .bind(now)
                .bind(record_id)
                .bind(expected_job)
                .execute(&mut *tx)
                .await?;
            if claimed.rows_affected() == 0 {
                return Ok(None);
            }
            let job_id = jobs::insert(&mut tx, queue, record_id, run_at).await?;
            sqlx::query("UPDATE records SET job_id = $1 WHERE id = $2")
                .bind(&job_id)
                .bind(record_id)
                .execute(&mut *tx)
                .await?;
            job_id
        });
        Ok(Some(job_id))
    }

    /// Sets aside job rows whose id is not a ULID: apalis cannot parse them,
    /// and one such row makes every fetch of its batch fail.
    pub async fn quarantine_bad_jobs(&self) -> Result<u64, StoreError> {
        let note = r#"{"Err":"set aside by credverify: job id is not a ULID"}"#;
        let n = match self {
            Store::Sqlite(p) => {
                let sql = format!(
                    "UPDATE Jobs SET status = 'Killed', last_result = $1, done_at = strftime('%s','now') \
                     WHERE job_type IN ($2, 'credverify-ocr') AND status IN ('Pending', 'Failed', 'Queued') AND {SQLITE_BAD_ID}"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(note).bind(QUEUE).execute(p).await?.rows_affected()
            }
            Store::Postgres(p) => {
                sqlx::query(
                    "UPDATE apalis.jobs SET status = 'Killed', last_result = $1::jsonb, done_at = now() \
                     WHERE job_type IN ($2, 'credverify-ocr') AND status IN ('Pending', 'Failed', 'Queued') \
                     AND id !~ '^[0-9A-HJKMNP-TV-Z]{26}$'",
                )
                .bind(note)
                .bind(QUEUE)
                .execute(p)
                .await?
                .rows_affected()
            }
        };
        Ok(n)
    }
}

impl Store {
    /// apalis worker names recorded for this queue that start with `prefix`.
    pub async fn worker_names(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}%", prefix.replace('%', "\\%").replace('_', "\\_"));
        let names = match self {
            Store::Sqlite(p) => {
                sqlx::query_scalar(
                    "SELECT id FROM Workers WHERE worker_type IN ($1, 'credverify-ocr') AND id LIKE $2 ESCAPE '\\'",
                )
                .bind(QUEUE)
                .bind(&pattern)
                .fetch_all(p)
                .await?
            }
            Store::Postgres(p) => sqlx::query_scalar(
                "SELECT id FROM apalis.workers WHERE worker_type IN ($1, 'credverify-ocr') AND id LIKE $2 ESCAPE '\\'",
            )
            .bind(QUEUE)
            .bind(&pattern)
            .fetch_all(p)
            .await?,
        };
        Ok(names)
    }

    /// Hands the jobs a dead worker held back to the queue at once, instead of
    /// waiting for its heartbeat to expire. Counts as an attempt, as apalis'
    /// own orphan recovery does, so a job that keeps killing workers is
    /// noticed (see `queue::job`).
    pub async fn release_jobs_of(&self, worker: &str) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE {} SET status = 'Pending', lock_by = NULL, lock_at = NULL, attempts = attempts + 1 \
             WHERE job_type IN ($1, 'credverify-ocr') AND lock_by = $2 AND status IN ('Queued', 'Running')",
            self.jobs_table()
        );
        let n = super::on_pool!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(QUEUE)
                .bind(worker)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n)
    }
}
