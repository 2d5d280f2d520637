//! Every write: intake, compare-and-set transitions with their events, and
//! the retry schedule. Each is one transaction.

use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use super::jobs;
use super::model::*;
use super::{RECORD_LIMIT, SQLITE_WRITE, Store, StoreError, SubmitError};
use crate::domain::Status;

fn limit_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("CV001") || db.message().contains("record limit reached")
        }
        _ => false,
    }
}

/// CV003: the key was used for another submission; the message names the
/// record.
fn key_reused(e: &sqlx::Error, key: Option<&str>) -> Option<SubmitError> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("CV003") => {
            let record_id = db
                .message()
                .rsplit_once("(record ")
                .and_then(|(_, r)| r.trim_end_matches(')').parse().ok())
                .unwrap_or_default();
            Some(SubmitError::KeyReused {
                key: key.unwrap_or_default().to_string(),
                record_id,
            })
        }
        _ => None,
    }
}

fn invalid_input(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("CV002") => {
            Some(db.message().to_string())
        }
        _ => None,
    }
}

impl Store {
    /// Inserts the record `unverified` and enqueues its job, in one
    /// transaction. Refuses a sixth record for a candidate; an idempotency key
    /// seen before with the same content returns the earlier record
    /// (`created: false`) and writes nothing, and with other content is
    /// refused ([`SubmitError::KeyReused`]).
    pub async fn submit(&self, new: &NewRecord) -> Result<Submitted, SubmitError> {
        let new = &super::intake::checked(new)?;
        if new.screenshot.is_some() && new.screenshot_ref.is_some() {
            return Err(SubmitError::Invalid(
                "pass the screenshot bytes or a reference to them, not both".into(),
            ));
        }
        if new.screenshot.is_none() && new.screenshot_ref.is_none() && new.fields.vcode.is_none() {
            return Err(SubmitError::Invalid(
                "field `vcode`: a record needs a screenshot or an 在线验证码".into(),
            ));
        }
        let result = match self {
            Store::Sqlite(pool) => submit_sqlite(pool, new).await,
            Store::Postgres(pool) => submit_postgres(pool, new).await,
        };
        result.map_err(|e| match e {
            SubmitError::Store(StoreError::Database(e)) => {
                if let Some(reused) = key_reused(&e, new.idempotency_key.as_deref()) {
                    reused
                } else if limit_error(&e) {
                    SubmitError::LimitReached {
                        candidate_id: new.candidate_id.clone(),
                        limit: RECORD_LIMIT,
                    }
                } else if let Some(msg) = invalid_input(&e) {
                    SubmitError::Invalid(msg)
                } else {
                    SubmitError::from(e)
                }
            }
            other => other,
        })
    }

    /// Moves a record from `t.from` to `t.to` if it is still in `t.from` (and,
    /// for a worker, still owned by `t.job_id`), writing the event in the same
    /// transaction.
    pub async fn transition(&self, t: &Transition<'_>) -> Result<TransitionOutcome, StoreError> {
        let now = Utc::now();
        let report = t.report.map(|r| {
            let mut r = r.clone();
            crate::domain::identity::keep_tail_of_masked_number(&mut r.fields);
            r
        });
        let authoritative = report.as_ref().map(Json);
        let certificate = t.report.and_then(|r| r.fields.certificate_no.clone());
        let decided = t.to != Status::Unverified;
        match self {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin_with(SQLITE_WRITE).await?;
                let outcome = transition_sqlite(
                    &mut tx,
                    t,
                    now,
                    authoritative.as_ref(),
                    certificate.as_ref(),
                    decided,
                )
                .await?;
                // Nothing was written unless it applied.
                if matches!(outcome, TransitionOutcome::Applied) {
                    tx.commit().await?;
                }
                Ok(outcome)
            }
            Store::Postgres(pool) => {
                // The same steps as `transition_sqlite`, in one round trip
                // (migrations/postgres/0004_decide_function.sql).
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
                .bind(authoritative)
                .bind(&certificate)
                .bind(t.note)
                .bind(now)
                .fetch_one(pool)
                .await?;
                Ok(match outcome.as_str() {
                    "applied" => TransitionOutcome::Applied,
                    "duplicate_certificate" => TransitionOutcome::DuplicateCertificate,
                    other => TransitionOutcome::Stale {
                        current: other.strip_prefix("stale:").and_then(Status::parse),
                    },
                })
            }
        }
    }

    /// Records a transient failure and schedules the next attempt as a new
    /// job (or flags the record when the budget is spent). The record stays
    /// `unverified` either way.
    pub async fn schedule_retry(&self, r: &Retry<'_>) -> Result<RetryOutcome, StoreError> {
        let now = Utc::now();
        let outcome = super::in_write_tx!(self, tx => {
            let owned = sqlx::query(
                "UPDATE records SET attempts = attempts + 1, last_error = $1, updated_at = $2, \
                 next_attempt_at = CASE WHEN $3 THEN NULL ELSE $4 END, retries_exhausted = $3 \
                 WHERE id = $5 AND status = 'unverified' AND ($6 IS NULL OR job_id IS NULL OR job_id = $6)",
            )
            .bind(r.error)
            .bind(now)
            .bind(r.exhausted)
            .bind(r.run_at)
            .bind(r.record_id)
            .bind(r.job_id)
            .execute(&mut *tx)
            .await?;
            if owned.rows_affected() == 0 {
                return Ok(RetryOutcome::Stale);
            }
            if r.exhausted {
                sqlx::query("UPDATE records SET job_id = NULL WHERE id = $1")
                    .bind(r.record_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO record_events (record_id, at, actor, from_status, to_status, reasons, note) \
                     VALUES ($1, $2, 'worker', 'unverified', 'unverified', '[]', $3)",
                )
                .bind(r.record_id)
                .bind(now)
                .bind(format!("retries exhausted; last error: {}", r.error))
                .execute(&mut *tx)
                .await?;
                RetryOutcome::Exhausted
            } else {
                let job_id = jobs::insert(&mut tx, jobs::QUEUE, r.record_id, r.run_at).await?;
                sqlx::query("UPDATE records SET job_id = $1 WHERE id = $2")
                    .bind(&job_id)
                    .bind(r.record_id)
                    .execute(&mut *tx)
                    .await?;
                RetryOutcome::Scheduled { job_id }
            }
        });
        Ok(outcome)
    }

    /// Keeps a screenshot fetched by reference with the record, so re-runs
    /// never depend on the reference again.
    pub async fn attach_screenshot(&self, record_id: i64, bytes: &[u8]) -> Result<(), StoreError> {
        let digest = hex::encode(Sha256::digest(bytes));
        super::on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO screenshots (record_id, bytes, sha256, size) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (record_id) DO NOTHING",
            )
            .bind(record_id)
            .bind(bytes)
            .bind(&digest)
            .bind(bytes.len() as i64)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE records SET has_screenshot = true WHERE id = $1")
                .bind(record_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Keeps what the screenshot reader produced, so re-runs and `show` need
    /// not read the image again.
    pub async fn save_reading(&self, record_id: i64, reading: &Value) -> Result<(), StoreError> {
        // The reading's 证件号码 is stored like a report's (see
        // identity::keep_tail_of_masked_number).
        let mut reading = reading.clone();
        if let Some(m) = reading
            .pointer_mut("/fields/id_number_masked")
            .filter(|m| m.is_string())
        {
            *m = Value::String(crate::domain::identity::mask_tail(
                m.as_str().unwrap_or_default(),
            ));
        }
        let reading = &reading;
        super::on_pool!(self, pool => {
            sqlx::query("UPDATE records SET ocr = $1 WHERE id = $2")
                .bind(Json(reading))
                .bind(record_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

/// A transition on SQLite, in `tx`. SQLite's write transaction runs alone,
/// so verifications of one certificate need no lock of their own.
/// PostgreSQL does the same steps in one call to `credverify.decide`.
async fn transition_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    t: &Transition<'_>,
    now: chrono::DateTime<Utc>,
    authoritative: Option<&Json<&crate::verdict::Report>>,
    certificate: Option<&String>,
    decided: bool,
) -> Result<TransitionOutcome, StoreError> {
    if t.to == Status::Verified {
        let cert: Option<String> = match certificate {
            Some(c) => Some(c.clone()),
            // An admin approving: the certificate stored with the report.
            None => sqlx::query_scalar("SELECT certificate_no FROM records WHERE id = $1")
                .bind(t.record_id)
                .fetch_optional(&mut **tx)
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
            .fetch_optional(&mut **tx)
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
    .bind(authoritative)
    .bind(certificate)
    .bind(decided)
    .bind(now)
    .bind(t.record_id)
    .bind(t.from.as_str())
    .bind(t.job_id)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        let current: Option<(String,)> = sqlx::query_as("SELECT status FROM records WHERE id = $1")
            .bind(t.record_id)
            .fetch_optional(&mut **tx)
            .await?;
        return Ok(TransitionOutcome::Stale {
            current: current.and_then(|(s,)| Status::parse(&s)),
        });
    }
    insert_event(
        tx,
        t.record_id,
        now,
        t.actor,
        Some(t.from),
        t.to,
        t.reasons,
        t.note,
    )
    .await?;
    Ok(TransitionOutcome::Applied)
}

/// Appends one event; callers hold the transaction that changed the record.
#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_event<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    record_id: i64,
    at: chrono::DateTime<Utc>,
    actor: &str,
    from: Option<Status>,
    to: Status,
    reasons: &[crate::domain::Reason],
    note: Option<&str>,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> chrono::DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Json<&'q [crate::domain::Reason]>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    sqlx::query(
        "INSERT INTO record_events (record_id, at, actor, from_status, to_status, reasons, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(record_id)
    .bind(at)
    .bind(actor)
    .bind(from.map(|s| s.as_str()))
    .bind(to.as_str())
    .bind(Json(reasons))
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn submit_sqlite(pool: &sqlx::SqlitePool, new: &NewRecord) -> Result<Submitted, SubmitError> {
    // Stored, and digested, as the PostgreSQL intake does it.
    let mut new = new.clone();
    crate::domain::identity::keep_tail_of_masked_number(&mut new.fields);
    let new = &new;
    let now = Utc::now();
    let mut tx = pool.begin_with(SQLITE_WRITE).await?;
    sqlx::query("INSERT INTO candidates (id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
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
    // Held only until a worker seals the record (Store::seal_id_number),
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
    let job_id = jobs::insert(&mut tx, jobs::QUEUE, record_id, jobs::due_now()).await?;
    sqlx::query("UPDATE records SET job_id = $1 WHERE id = $2")
        .bind(&job_id)
        .bind(record_id)
        .execute(&mut *tx)
        .await?;
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

/// PostgreSQL intake is the SQL function external backends call too
/// (migrations/postgres/0006_intake_rules.sql): one implementation, which
/// also decides `created` under the candidate's lock, so parallel
/// submissions with one key agree on which of them created the record.
async fn submit_postgres(pool: &sqlx::PgPool, new: &NewRecord) -> Result<Submitted, SubmitError> {
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
    .fetch_one(pool)
    .await?;
    Ok(Submitted { record_id, created })
}
