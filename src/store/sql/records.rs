//! A record's life ([`RecordStore`]), written once and compiled into each
//! backend's module (`super` is `sqlite` or `postgres`). Intake, decisions
//! and withdrawal differ by backend and are the [`Dialect`]'s; the rest is
//! here.

use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use super::Here;
use super::events::{Event, insert_event};
use super::jobs::attach_new_job;
use crate::domain::identity::IdKey;
use crate::domain::{IdNumber, Status};
use crate::store::dialect::Dialect;
use crate::store::jobs::QUEUE;
use crate::store::model::*;
use crate::store::pages::{self, KeptPage, PAGES_KEPT, UnrecognisedAnswer};
use crate::store::read::RecordRow;
use crate::store::{RecordStore, StoreError, SubmitError, WithdrawOutcome, write};

/// Records sealed per round trip when sealing everything pending.
const SEAL_BATCH: i64 = 200;

impl Here {
    async fn record_row(&self, id: i64) -> Result<Option<RecordRow>, StoreError> {
        let sql = format!("SELECT {} FROM records WHERE id = $1", Here::RECORD_COLUMNS);
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Sealing a record's ID number. The database never holds the HMAC key
    /// (README "Records and rules"), so an intake that runs in the database
    /// (`credverify.submit_record`) cannot compute the number's keyed hash:
    /// it keeps the full number in `id_number_pending`, and a worker that
    /// holds the key seals the record — writes the HMAC and clears the
    /// column — before it does anything else with it. Both backends take
    /// this one path.
    ///
    /// Compare-and-set on the pending value, so two workers sealing at once
    /// write one hash. A pending value no intake would have accepted is
    /// cleared all the same (an unsealable full number must not stay) and
    /// logged; the birth date and gender the intake stored remain.
    async fn seal_one(&self, id: i64, digits: &str, key: &IdKey) -> Result<(), StoreError> {
        let hash = match IdNumber::parse(digits) {
            Ok(n) => Some(n.keyed_hash(key)),
            Err(e) => {
                tracing::error!(record_id = id, error = %e, "pending ID number is not one; cleared without a hash");
                None
            }
        };
        sqlx::query(
            "UPDATE records SET id_number_hash = $1, id_number_pending = NULL \
             WHERE id = $2 AND id_number_pending = $3",
        )
        .bind(&hash)
        .bind(id)
        .bind(digits)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl RecordStore for Here {
    async fn submit(&self, new: &NewRecord) -> Result<Submitted, SubmitError> {
        let new = &write::checked_submission(new)?;
        self.submit_checked(new)
            .await
            .map_err(|e| write::submit_error(e, new))
    }

    async fn transition(&self, t: &Transition<'_>) -> Result<TransitionOutcome, StoreError> {
        let report = t.report.map(|r| {
            let mut r = r.clone();
            crate::domain::identity::keep_tail_of_masked_number(&mut r.fields);
            r
        });
        self.decide(t, report.as_ref()).await
    }

    async fn schedule_retry(&self, r: &Retry<'_>) -> Result<RetryOutcome, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
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
        let outcome = if r.exhausted {
            sqlx::query("UPDATE records SET job_id = NULL WHERE id = $1")
                .bind(r.record_id)
                .execute(&mut *tx)
                .await?;
            let note = format!("retries exhausted; last error: {}", r.error);
            insert_event(
                &mut tx,
                Event::without_reasons(
                    r.record_id,
                    now,
                    "worker",
                    (Status::Unverified, Status::Unverified),
                    Some(&note),
                ),
            )
            .await?;
            RetryOutcome::Exhausted
        } else {
            let job_id = attach_new_job(&mut tx, QUEUE, r.record_id, r.run_at).await?;
            RetryOutcome::Scheduled { job_id }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn withdraw(&self, w: Withdrawal<'_>) -> Result<WithdrawOutcome, StoreError> {
        self.withdraw_record(w).await
    }

    async fn attach_screenshot(&self, record_id: i64, bytes: &[u8]) -> Result<(), StoreError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let mut tx = self.pool.begin().await?;
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
        Ok(())
    }

    async fn save_reading(&self, record_id: i64, reading: &Value) -> Result<(), StoreError> {
        sqlx::query("UPDATE records SET ocr = $1 WHERE id = $2")
            .bind(Json(write::reading_as_stored(reading)))
            .bind(record_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn job_record(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        self.record_row(id)
            .await?
            .map(RecordRow::into_job_record)
            .transpose()
    }

    async fn record(&self, id: i64) -> Result<Option<RecordView>, StoreError> {
        self.record_row(id)
            .await?
            .map(RecordRow::into_view)
            .transpose()
    }

    async fn screenshot(&self, record_id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT bytes FROM screenshots WHERE record_id = $1")
                .bind(record_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn list(&self, f: &ListFilter) -> Result<Vec<RecordView>, StoreError> {
        let limit = if f.limit <= 0 { 100 } else { f.limit };
        let id_test = if f.ids.is_empty() {
            "TRUE".to_string()
        } else {
            let ids: Vec<String> = f.ids.iter().map(i64::to_string).collect();
            format!("id IN ({})", ids.join(","))
        };
        let sql = format!(
            "SELECT {columns} FROM records \
             WHERE {id_test} AND ($1 IS NULL OR candidate_id = $1) AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR {reason_test}) \
             AND ($5 IS NULL OR updated_at >= $5) AND ($6 IS NULL OR updated_at < $6) \
             ORDER BY id LIMIT $7 OFFSET $8",
            columns = Here::RECORD_COLUMNS,
            reason_test = Here::HAS_REASON,
        );
        let rows: Vec<RecordRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(f.candidate_id.as_deref())
            .bind(f.status.map(|s| s.as_str()))
            .bind(f.reason.map(|r| r.as_str()))
            .bind(f.reason.map(|r| r.as_str()))
            .bind(f.since)
            .bind(f.until)
            .bind(limit)
            .bind(f.offset)
            .fetch_all(&self.pool)
            .await?;
        Ok(RecordRow::viewable(rows))
    }

    async fn count_for_candidate(&self, candidate_id: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE candidate_id = $1")
                .bind(candidate_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn seal_id_number(&self, record_id: i64, key: &IdKey) -> Result<bool, StoreError> {
        let pending: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, id_number_pending FROM records WHERE id = $1 AND id_number_pending IS NOT NULL",
        )
        .bind(record_id)
        .fetch_optional(&self.pool)
        .await?;
        match pending {
            Some((id, digits)) => {
                self.seal_one(id, &digits, key).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn seal_pending_id_numbers(&self, key: &IdKey) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let batch: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, id_number_pending FROM records WHERE id_number_pending IS NOT NULL \
                 ORDER BY id LIMIT $1",
            )
            .bind(SEAL_BATCH)
            .fetch_all(&self.pool)
            .await?;
            if batch.is_empty() {
                return Ok(total);
            }
            for (id, digits) in &batch {
                self.seal_one(*id, digits, key).await?;
                total += 1;
            }
        }
    }

    async fn keep_unrecognised_page(
        &self,
        record_id: i64,
        answer: UnrecognisedAnswer<'_>,
    ) -> Result<i64, StoreError> {
        let (gz, truncated) = pages::compress_capped(answer.body);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO service_pages (record_id, fetched_at, http_status, detail, size, truncated, body_gz) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(record_id)
        .bind(Utc::now())
        .bind(i32::from(answer.http_status))
        .bind(answer.detail)
        .bind(answer.body.len() as i64)
        .bind(truncated)
        .bind(&gz)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM service_pages WHERE record_id = $1 AND id NOT IN \
             (SELECT id FROM service_pages WHERE record_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind(record_id)
        .bind(PAGES_KEPT)
        .execute(&mut *tx)
        .await?;
        let count: i32 = sqlx::query_scalar(
            "UPDATE records SET unrecognised_answers = unrecognised_answers + 1 \
             WHERE id = $1 RETURNING unrecognised_answers",
        )
        .bind(record_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(i64::from(count))
    }

    async fn clear_unrecognised_count(&self, record_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE records SET unrecognised_answers = 0 WHERE id = $1")
            .bind(record_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn kept_pages(&self, record_id: i64) -> Result<Vec<KeptPage>, StoreError> {
        let rows: Vec<pages::Row> = sqlx::query_as(
            "SELECT id, fetched_at, http_status, detail, size, truncated, body_gz \
             FROM service_pages WHERE record_id = $1 ORDER BY id DESC",
        )
        .bind(record_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(pages::from_row).collect())
    }
}
