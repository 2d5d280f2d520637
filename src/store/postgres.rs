//! The scale-out backend: many workers on many hosts sharing one PostgreSQL
//! database. What it does differently from SQLite is here ([`Dialect`]):
//! intake, decisions and withdrawal run as the SQL functions registration
//! backends call too (migrations/postgres/), and the request budget is a row
//! the whole cluster shares. The rest of every method is the shared body in
//! `store/sql/`, compiled into this module.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::PgStore;
use super::dialect::Dialect;
use super::model::*;
use super::{StoreError, SubmitError, WithdrawOutcome};
use crate::domain::Status;

/// The types `store/sql/` is compiled with in this module; `sqlite.rs`
/// compiles the same bodies for SQLite.
type Here = PgStore;

#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

impl Dialect for PgStore {
    type Db = sqlx::Postgres;

    const JOBS: &'static str = "apalis.jobs";
    const WORKERS: &'static str = "apalis.workers";

    const RECORD_COLUMNS: &'static str = "id, candidate_id, candidate_name, birth_date, gender, id_number_masked, kind, \
         status, claimed::text AS claimed, ocr::text AS ocr, has_screenshot, screenshot_ref, \
         authoritative::text AS authoritative, reasons::text AS reasons, field_diffs::text AS field_diffs, \
         idempotency_key, attempts, last_error, next_attempt_at, retries_exhausted, job_id, created_at, \
         updated_at, decided_at, (id_number_pending IS NOT NULL) AS id_pending";

    const HAS_REASON: &'static str =
        "reasons @> jsonb_build_array(jsonb_build_object('code', $4::text))";

    const OUTBOX_UNDELIVERED: &'static str = "delivered_at IS NULL AND NOT failed";

    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";

    const INSERT_JOB: &'static str = "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) \
         VALUES ($1, $2, $3, 'Pending', 0, $4, $5, 0)";

    const RUNNABLE_JOBS: &'static str = "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1 AND ( \
           (status = 'Pending' AND run_at <= $2) \
           OR (status = 'Failed' AND attempts < max_attempts AND run_at <= $2) \
           OR (status IN ('Queued', 'Running') AND lock_by = $3))";

    // A job id that is not a ULID in Crockford base32 makes apalis' fetch
    // fail for the whole batch.
    const QUARANTINE_JOBS: &'static str = "UPDATE apalis.jobs SET status = 'Killed', last_result = $1::jsonb, done_at = now() \
         WHERE job_type IN ($2, 'credverify-ocr') AND status IN ('Pending', 'Failed', 'Queued') \
         AND id !~ '^[0-9A-HJKMNP-TV-Z]{26}$'";

    type RunAt = DateTime<Utc>;
    fn run_at(at: DateTime<Utc>) -> DateTime<Utc> {
        at
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error> {
        self.pool.begin().await
    }

    /// PostgreSQL intake is the SQL function external backends call too
    /// (migrations/postgres/0006_intake_rules.sql): one implementation, which
    /// also decides `created` under the candidate's lock, so parallel
    /// submissions with one key agree on which of them created the record.
    async fn submit_checked(&self, new: &NewRecord) -> Result<Submitted, SubmitError> {
        let (record_id, created): (i64, bool) = sqlx::query_as(
            "SELECT record_id, created FROM credverify.submit($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&new.candidate_id)
        .bind(&new.name)
        .bind(Json(&new.fields))
        .bind(new.id_number.as_ref().map(|i| i.expose_digits()))
        .bind(&new.idempotency_key)
        .bind(&new.screenshot)
        .bind(&new.screenshot_ref)
        .fetch_one(&self.pool)
        .await?;
        Ok(Submitted { record_id, created })
    }

    /// The same steps as SQLite's, in one round trip
    /// (migrations/postgres/0004_decide_function.sql).
    async fn decide(
        &self,
        t: &Transition<'_>,
        report: Option<&crate::verdict::Report>,
    ) -> Result<TransitionOutcome, StoreError> {
        let now = Utc::now();
        let certificate = report.and_then(|r| r.fields.certificate_no.as_ref());
        let outcome: String = sqlx::query_scalar(
            "SELECT credverify.decide($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(t.record_id)
        .bind(t.from.as_str())
        .bind(t.to.as_str())
        .bind(t.job_id)
        .bind(t.actor)
        .bind(Json(t.reasons))
        .bind(Json(t.field_diffs))
        .bind(report.map(Json))
        .bind(certificate)
        .bind(t.note)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(match outcome.as_str() {
            "applied" => TransitionOutcome::Applied,
            "duplicate_certificate" => TransitionOutcome::DuplicateCertificate,
            other => TransitionOutcome::Stale {
                current: other.strip_prefix("stale:").and_then(Status::parse),
            },
        })
    }

    /// The function registration backends call (`credverify.withdraw_record`).
    async fn withdraw_record(&self, w: Withdrawal<'_>) -> Result<WithdrawOutcome, StoreError> {
        let (record_id, candidate_id) = (w.record_id, w.candidate_id);
        let pool = &self.pool;
        let before: Option<(String,)> = sqlx::query_as("SELECT status FROM records WHERE id = $1")
            .bind(record_id)
            .fetch_optional(pool)
            .await?;
        let result: Result<String, sqlx::Error> =
            sqlx::query_scalar("SELECT credverify.withdraw_record($1, $2, $3, $4)")
                .bind(record_id)
                .bind(candidate_id)
                .bind(w.actor)
                .bind(w.note)
                .fetch_one(pool)
                .await;
        match result {
            Ok(_) if before.as_ref().is_some_and(|(s,)| s == "withdrawn") => {
                Ok(WithdrawOutcome::AlreadyWithdrawn)
            }
            Ok(_) => Ok(WithdrawOutcome::Withdrawn),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("CV004") => {
                let now: Option<(String,)> =
                    sqlx::query_as("SELECT status FROM records WHERE id = $1")
                        .bind(record_id)
                        .fetch_optional(pool)
                        .await?;
                Ok(WithdrawOutcome::Refused {
                    current: now
                        .and_then(|(s,)| Status::parse(&s))
                        .unwrap_or(Status::Verified),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One token bucket in a row for the whole cluster
    /// (migrations/postgres/0008_cluster.sql), filled by the database's clock.
    async fn budget_take(&self, per_second: f64, burst: f64) -> Result<Duration, StoreError> {
        let wait: f64 = sqlx::query_scalar("SELECT credverify.chsi_take($1, $2)")
            .bind(per_second)
            .bind(burst)
            .fetch_one(&self.pool)
            .await?;
        Ok(Duration::try_from_secs_f64(wait.max(0.0)).unwrap_or(Duration::from_secs(3600)))
    }

    async fn budget_pause(&self, pause: Duration) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE chsi_budget SET paused_until = GREATEST(paused_until, clock_timestamp() + make_interval(secs => $1)) WHERE id = 1",
        )
        .bind(pause.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn budget_paused_until(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT paused_until FROM chsi_budget WHERE id = 1 AND paused_until > clock_timestamp()",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    // apalis-postgres writes last_seen by the database's clock.
    async fn first_live_worker(&self, live: Duration) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM apalis.workers WHERE worker_type = $1 AND last_seen >= now() - make_interval(secs => $2) ORDER BY id LIMIT 1",
        )
        .bind(super::QUEUE)
        .bind(live.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?)
    }
}
