//! The embedded backend: one SQLite file, one writer at a time. What it
//! does differently from PostgreSQL is here ([`Dialect`]); the rest of every
//! method is the shared body in `store/sql/`, compiled into this module.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use super::SqliteStore;
use super::dialect::Dialect;
use super::model::*;
use super::{StoreError, SubmitError, WithdrawOutcome};
use crate::domain::Status;

/// `store/sql/` compiled for SQLite (it is PostgreSQL's too: one body,
/// checked against both dialects; docs/ARCHITECTURE.md, "The store").
type Here = SqliteStore;

#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;
use sql::{events, jobs};

impl Dialect for SqliteStore {
    type Db = sqlx::Sqlite;

    const JOBS: &'static str = "Jobs";
    const WORKERS: &'static str = "Workers";

    const RECORD_COLUMNS: &'static str = "id, candidate_id, candidate_name, birth_date, gender, id_number_masked, kind, \
         status, claimed, ocr, has_screenshot, screenshot_ref, authoritative, reasons, field_diffs, idempotency_key, attempts, \
         last_error, next_attempt_at, retries_exhausted, job_id, created_at, updated_at, decided_at, \
         (id_number_pending IS NOT NULL) AS id_pending";

    const HAS_REASON: &'static str = "EXISTS (SELECT 1 FROM json_each(records.reasons) WHERE json_extract(value, '$.code') = $4)";

    const OUTBOX_UNDELIVERED: &'static str = "delivered_at IS NULL AND failed = 0";

    const CLAIM_LOCK: &'static str = "";

    const INSERT_JOB: &'static str = "INSERT INTO Jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) \
         VALUES ($1, $2, $3, 'Pending', 0, $4, $5, 0)";

    // apalis-sqlite fetches a pending job only while nobody holds it.
    const RUNNABLE_JOBS: &'static str = "SELECT COUNT(*) FROM Jobs WHERE job_type = $1 AND ( \
           (status = 'Pending' AND lock_by IS NULL AND run_at <= $2) \
           OR (status = 'Failed' AND attempts < max_attempts AND run_at <= $2) \
           OR (status IN ('Queued', 'Running') AND lock_by = $3))";

    // A job id that is not a ULID in Crockford base32 makes apalis' fetch
    // fail for the whole batch.
    const QUARANTINE_JOBS: &'static str = "UPDATE Jobs SET status = 'Killed', last_result = $1, done_at = strftime('%s','now') \
         WHERE job_type IN ($2, 'credverify-ocr') AND status IN ('Pending', 'Failed', 'Queued') \
         AND (length(id) <> 26 OR upper(id) GLOB '*[^0-9A-HJKMNP-TV-Z]*')";

    type RunAt = i64;
    // apalis-sqlite keeps run_at in whole unix seconds; rounding up means a
    // retry never runs before its backoff is over.
    fn run_at(at: DateTime<Utc>) -> i64 {
        at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0)
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn submit_checked(&self, new: &NewRecord) -> Result<Submitted, SubmitError> {
        // Stored, and digested, as the PostgreSQL intake does it.
        let mut new = new.clone();
        crate::domain::identity::keep_tail_of_masked_number(&mut new.fields);
        let new = &new;
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO candidates (id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&new.candidate_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id = new.id_number.as_ref();
        let digest = super::intake::digest(new);
        if let Some(key) = &new.idempotency_key {
            let existing: Option<(i64, Option<String>)> = sqlx::query_as(
                "SELECT id, submission_digest FROM records WHERE candidate_id = $1 AND idempotency_key = $2",
            )
            .bind(&new.candidate_id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((record_id, stored)) = existing {
                tx.commit().await?;
                if stored.is_some_and(|d| d != digest) {
                    return Err(SubmitError::KeyReused {
                        key: key.clone(),
                        record_id,
                    });
                }
                return Ok(Submitted {
                    record_id,
                    created: false,
                });
            }
        }
        let (record_id,): (i64,) = sqlx::query_as(
            "INSERT INTO records (candidate_id, candidate_name, birth_date, gender, id_number_pending, \
             id_number_masked, kind, claimed, has_screenshot, screenshot_ref, idempotency_key, created_at, updated_at, \
             submission_digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) RETURNING id",
        )
        .bind(&new.candidate_id)
        .bind(new.name.trim())
        .bind(id.map(|i| i.birth_date().format("%Y-%m-%d").to_string()))
        .bind(id.map(|i| i.gender().as_str()))
        // Held only until a worker seals the record (seal_id_number),
        // exactly as the PostgreSQL intake does: one path on both backends.
        .bind(id.map(|i| i.expose_digits()))
        .bind(id.map(|i| i.masked()))
        .bind(new.fields.kind.map(|k| k.as_str()))
        .bind(Json(&new.fields))
        .bind(new.screenshot.is_some())
        .bind(&new.screenshot_ref)
        .bind(&new.idempotency_key)
        .bind(now)
        .bind(&digest)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(bytes) = &new.screenshot {
            sqlx::query(
                "INSERT INTO screenshots (record_id, bytes, sha256, size) VALUES ($1, $2, $3, $4)",
            )
            .bind(record_id)
            .bind(bytes)
            .bind(hex::encode(Sha256::digest(bytes)))
            .bind(bytes.len() as i64)
            .execute(&mut *tx)
            .await?;
        }
        jobs::attach_new_job(&mut tx, super::QUEUE, record_id, super::jobs::due_now()).await?;
        sqlx::query(
            "INSERT INTO record_events (record_id, at, actor, from_status, to_status) \
             VALUES ($1, $2, 'submit', NULL, 'unverified')",
        )
        .bind(record_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Submitted {
            record_id,
            created: true,
        })
    }

    /// SQLite's write transaction runs alone, so verifications of one
    /// certificate need no lock of their own. PostgreSQL does the same steps
    /// in one call to `credverify.decide`. Nothing is committed unless the
    /// transition applied.
    async fn decide(
        &self,
        t: &Transition<'_>,
        report: Option<&crate::verdict::Report>,
    ) -> Result<TransitionOutcome, StoreError> {
        let now = Utc::now();
        let certificate = report.and_then(|r| r.fields.certificate_no.as_ref());
        let decided = t.to != Status::Unverified;
        let mut tx = self.begin_write().await?;
        if t.to == Status::Verified {
            let cert: Option<String> = match certificate {
                Some(c) => Some(c.clone()),
                // An admin approving: the certificate stored with the report.
                None => sqlx::query_scalar("SELECT certificate_no FROM records WHERE id = $1")
                    .bind(t.record_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .flatten(),
            };
            if let Some(cert) = cert {
                let other: Option<(i64,)> = sqlx::query_as(
                    "SELECT r.id FROM records r JOIN records me ON me.id = $2 \
                     WHERE r.status = 'verified' AND r.certificate_no = $1 \
                     AND r.candidate_id <> me.candidate_id LIMIT 1",
                )
                .bind(&cert)
                .bind(t.record_id)
                .fetch_optional(&mut *tx)
                .await?;
                if other.is_some() {
                    return Ok(TransitionOutcome::DuplicateCertificate);
                }
            }
        }
        let updated = sqlx::query(
            "UPDATE records SET status = $1, reasons = $2, field_diffs = $3, \
             authoritative = COALESCE($4, authoritative), certificate_no = COALESCE($5, certificate_no), \
             decided_at = CASE WHEN $6 THEN $7 ELSE NULL END, updated_at = $7, \
             attempts = CASE WHEN $6 THEN attempts ELSE 0 END, \
             last_error = CASE WHEN $6 THEN last_error ELSE NULL END, \
             next_attempt_at = NULL, retries_exhausted = false \
             WHERE id = $8 AND status = $9 AND ($10 IS NULL OR job_id IS NULL OR job_id = $10)",
        )
        .bind(t.to.as_str())
        .bind(Json(t.reasons))
        .bind(Json(t.field_diffs))
        .bind(report.map(Json))
        .bind(certificate)
        .bind(decided)
        .bind(now)
        .bind(t.record_id)
        .bind(t.from.as_str())
        .bind(t.job_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let current: Option<(String,)> =
                sqlx::query_as("SELECT status FROM records WHERE id = $1")
                    .bind(t.record_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(TransitionOutcome::Stale {
                current: current.and_then(|(s,)| Status::parse(&s)),
            });
        }
        events::insert_event(
            &mut tx,
            events::Event {
                record_id: t.record_id,
                at: now,
                actor: t.actor,
                from: Some(t.from),
                to: t.to,
                reasons: t.reasons,
                note: t.note,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(TransitionOutcome::Applied)
    }

    async fn withdraw_record(&self, w: Withdrawal<'_>) -> Result<WithdrawOutcome, StoreError> {
        let (record_id, candidate_id) = (w.record_id, w.candidate_id);
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE records SET status = 'withdrawn', job_id = NULL, next_attempt_at = NULL, \
             retries_exhausted = false, updated_at = $1 \
             WHERE id = $2 AND candidate_id = $3 AND status = 'unverified'",
        )
        .bind(now)
        .bind(record_id)
        .bind(candidate_id)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            let current: Option<(String,)> =
                sqlx::query_as("SELECT status FROM records WHERE id = $1 AND candidate_id = $2")
                    .bind(record_id)
                    .bind(candidate_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((current,)) = current else {
                return Err(StoreError::NotFound { record_id });
            };
            return match Status::parse(&current) {
                Some(Status::Withdrawn) => Ok(WithdrawOutcome::AlreadyWithdrawn),
                Some(current) => Ok(WithdrawOutcome::Refused { current }),
                None => Err(StoreError::Corrupt {
                    record_id,
                    detail: format!("unknown status {current:?}"),
                }),
            };
        }
        events::insert_event(
            &mut tx,
            events::Event::without_reasons(
                record_id,
                now,
                w.actor,
                (Status::Unverified, Status::Withdrawn),
                w.note,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(WithdrawOutcome::Withdrawn)
    }

    /// SQLite has no cluster: every request is granted here, and the
    /// worker's own limiter paces it.
    async fn budget_take(&self, _per_second: f64, _burst: f64) -> Result<Duration, StoreError> {
        Ok(Duration::ZERO)
    }

    /// A SQLite deployment's pause lives in its worker process.
    async fn budget_pause(&self, _pause: Duration) -> Result<(), StoreError> {
        Ok(())
    }

    async fn budget_paused_until(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(None)
    }

    // apalis-sqlite writes last_seen in unix seconds, by the process's clock.
    async fn first_live_worker(&self, live: Duration) -> Result<Option<String>, StoreError> {
        let since = Utc::now() - chrono::Duration::from_std(live).unwrap_or_default();
        Ok(sqlx::query_scalar(
            "SELECT id FROM Workers WHERE worker_type = $1 AND last_seen >= $2 ORDER BY id LIMIT 1",
        )
        .bind(super::QUEUE)
        .bind(since.timestamp())
        .fetch_optional(&self.pool)
        .await?)
    }
}
