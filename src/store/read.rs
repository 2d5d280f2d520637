//! Reads for the worker and the admin CLI.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::model::*;
use super::{Store, StoreError, on_pool};
use crate::domain::{Gender, Kind, Reason, Status};
use crate::verdict::{Candidate, FieldDiff, Report};

/// JSON columns come back as text and are parsed here, leniently: a value
/// the JSON decoder refuses (one nested 200 deep passes PostgreSQL but not
/// serde_json's recursion limit) must not fail the whole query, and with it
/// every listing and the sweep.
fn record_columns(store: &Store) -> &'static str {
    match store {
        Store::Sqlite(_) => {
            "id, candidate_id, candidate_name, birth_date, gender, id_number_masked, kind, \
             status, claimed, ocr, has_screenshot, screenshot_ref, authoritative, reasons, field_diffs, idempotency_key, attempts, \
             last_error, next_attempt_at, retries_exhausted, job_id, created_at, updated_at, decided_at, \
             (id_number_pending IS NOT NULL) AS id_pending"
        }
        Store::Postgres(_) => {
            "id, candidate_id, candidate_name, birth_date, gender, id_number_masked, kind, \
             status, claimed::text AS claimed, ocr::text AS ocr, has_screenshot, screenshot_ref, \
             authoritative::text AS authoritative, reasons::text AS reasons, field_diffs::text AS field_diffs, \
             idempotency_key, attempts, last_error, next_attempt_at, retries_exhausted, job_id, created_at, \
             updated_at, decided_at, (id_number_pending IS NOT NULL) AS id_pending"
        }
    }
}

/// Stored JSON text as a value, or why it cannot be one.
fn parse_stored(what: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: i64,
    candidate_id: String,
    candidate_name: String,
    birth_date: Option<String>,
    gender: Option<String>,
    id_number_masked: Option<String>,
    kind: Option<String>,
    status: String,
    claimed: String,
    ocr: Option<String>,
    has_screenshot: bool,
    screenshot_ref: Option<String>,
    authoritative: Option<String>,
    reasons: String,
    field_diffs: String,
    idempotency_key: Option<String>,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    retries_exhausted: bool,
    job_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    /// The full ID number still waits for a worker to seal it.
    id_pending: bool,
}

impl RecordRow {
    fn status(&self) -> Result<Status, StoreError> {
        Status::parse(&self.status).ok_or_else(|| StoreError::Corrupt {
            record_id: self.id,
            detail: format!("unknown status `{}`", self.status),
        })
    }

    /// A JSON column decoded as `T`; on failure the default and a note.
    fn lenient<T: serde::de::DeserializeOwned + Default>(
        what: &str,
        text: Option<&str>,
        damaged: &mut Vec<String>,
    ) -> T {
        let Some(text) = text else {
            return T::default();
        };
        match parse_stored(what, text)
            .and_then(|v| serde_json::from_value(v).map_err(|e| format!("{what}: {e}")))
        {
            Ok(v) => v,
            Err(e) => {
                damaged.push(e);
                T::default()
            }
        }
    }

    fn into_job_record(self) -> Result<JobRecord, StoreError> {
        let status = self.status()?;
        // The worker must not verify a claim it cannot read: ours to repair,
        // never the candidate's rejection (the job fails and is retried, then
        // flagged).
        let claimed =
            parse_stored("claimed", &self.claimed).map_err(|detail| StoreError::Corrupt {
                record_id: self.id,
                detail,
            })?;
        // An unreadable reading is read again from the screenshot.
        let reading = self
            .ocr
            .as_deref()
            .and_then(|t| parse_stored("ocr", t).ok());
        Ok(JobRecord {
            id: self.id,
            candidate_id: self.candidate_id,
            status,
            job_id: self.job_id,
            candidate: Candidate {
                name: self.candidate_name,
                birth_date: self
                    .birth_date
                    .as_deref()
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
                gender: self.gender.as_deref().and_then(Gender::parse),
            },
            claimed: fields_from_stored(&claimed),
            reading,
            has_screenshot: self.has_screenshot,
            screenshot_ref: self.screenshot_ref,
            attempts: self.attempts,
            id_number_pending: self.id_pending,
        })
    }

    fn into_view(self) -> Result<RecordView, StoreError> {
        let status = self.status()?;
        let mut damaged = Vec::new();
        let authoritative: Option<Report> =
            Self::lenient("authoritative", self.authoritative.as_deref(), &mut damaged);
        let reasons: Vec<Reason> = Self::lenient("reasons", Some(&self.reasons), &mut damaged);
        let field_diffs: Vec<FieldDiff> =
            Self::lenient("field_diffs", Some(&self.field_diffs), &mut damaged);
        let claimed: Value = Self::lenient("claimed", Some(&self.claimed), &mut damaged);
        let reading: Option<Value> = Self::lenient("ocr", self.ocr.as_deref(), &mut damaged);
        Ok(RecordView {
            id: self.id,
            candidate_id: self.candidate_id,
            candidate_name: self.candidate_name,
            id_number_masked: self.id_number_masked,
            kind: self.kind.as_deref().and_then(Kind::parse),
            status,
            status_zh: status.zh().to_string(),
            claimed: fields_from_stored(&claimed),
            screenshot_reading: reading,
            has_screenshot: self.has_screenshot,
            screenshot_ref: self.screenshot_ref,
            authoritative,
            reasons,
            field_diffs,
            idempotency_key: self.idempotency_key,
            attempts: self.attempts,
            last_error: self.last_error,
            next_attempt_at: self.next_attempt_at,
            retries_exhausted: self.retries_exhausted,
            created_at: self.created_at,
            updated_at: self.updated_at,
            decided_at: self.decided_at,
            damaged,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    from_status: Option<String>,
    to_status: String,
    reasons: Json<Value>,
    note: Option<String>,
}

impl Store {
    async fn record_row(&self, id: i64) -> Result<Option<RecordRow>, StoreError> {
        let sql = format!("SELECT {} FROM records WHERE id = $1", record_columns(self));
        let row = on_pool!(self, p => {
            sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?
        });
        Ok(row)
    }

    pub async fn job_record(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        self.record_row(id)
            .await?
            .map(RecordRow::into_job_record)
            .transpose()
    }

    pub async fn record(&self, id: i64) -> Result<Option<RecordView>, StoreError> {
        self.record_row(id)
            .await?
            .map(RecordRow::into_view)
            .transpose()
    }

    pub async fn screenshot(&self, record_id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = on_pool!(self, p => {
            sqlx::query_as("SELECT bytes FROM screenshots WHERE record_id = $1")
                .bind(record_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(b,)| b))
    }

    pub async fn events(&self, record_id: i64) -> Result<Vec<EventView>, StoreError> {
        let rows: Vec<EventRow> = on_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, at, actor, from_status, to_status, reasons, note FROM record_events \
                 WHERE record_id = $1 ORDER BY id",
            )
            .bind(record_id)
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(EventView {
                    id: r.id,
                    at: r.at,
                    actor: r.actor,
                    from: r.from_status.as_deref().and_then(Status::parse),
                    to: Status::parse(&r.to_status).ok_or_else(|| StoreError::Corrupt {
                        record_id,
                        detail: format!("event {} has unknown status `{}`", r.id, r.to_status),
                    })?,
                    reasons: serde_json::from_value(r.reasons.0).unwrap_or_default(),
                    note: r.note,
                })
            })
            .collect()
    }

    pub async fn list(&self, f: &ListFilter) -> Result<Vec<RecordView>, StoreError> {
        let limit = if f.limit <= 0 { 100 } else { f.limit };
        // JSON containment is spelled differently by the two dialects.
        let reason_test = match self {
            Store::Sqlite(_) => {
                "EXISTS (SELECT 1 FROM json_each(records.reasons) WHERE json_extract(value, '$.code') = $4)"
            }
            Store::Postgres(_) => {
                "reasons @> jsonb_build_array(jsonb_build_object('code', $4::text))"
            }
        };
        let ids = f
            .ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let id_test = if f.ids.is_empty() {
            "TRUE".to_string()
        } else {
            format!("id IN ({ids})")
        };
        let columns = record_columns(self);
        let sql = format!(
            "SELECT {columns} FROM records \
             WHERE {id_test} AND ($1 IS NULL OR candidate_id = $1) AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR {reason_test}) \
             AND ($5 IS NULL OR updated_at >= $5) AND ($6 IS NULL OR updated_at < $6) \
             ORDER BY id LIMIT $7 OFFSET $8"
        );
        let rows: Vec<RecordRow> = on_pool!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(f.candidate_id.as_deref())
                .bind(f.status.map(|s| s.as_str()))
                .bind(f.reason.map(|r| r.as_str()))
                .bind(f.reason.map(|r| r.as_str()))
                .bind(f.since)
                .bind(f.until)
                .bind(limit)
                .bind(f.offset)
                .fetch_all(p)
                .await?
        });
        // A row that cannot be shown at all (an unknown status) is named in
        // the log and left out; it never hides the others.
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let id = row.id;
                row.into_view()
                    .inspect_err(|e| tracing::warn!(record_id = id, error = %crate::errors::Chain(e), "record left out of the listing"))
                    .ok()
            })
            .collect())
    }

    /// Records of one candidate, any status (the five-record limit counts these).
    pub async fn count_for_candidate(&self, candidate_id: &str) -> Result<i64, StoreError> {
        let (n,): (i64,) = on_pool!(self, p => {
            sqlx::query_as("SELECT COUNT(*) FROM records WHERE candidate_id = $1")
                .bind(candidate_id)
                .fetch_one(p)
                .await?
        });
        Ok(n)
    }
}
