//! A record row as the worker and the admin CLI read it (the queries are in
//! `sql/records.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::StoreError;
use super::model::*;
use crate::domain::{Gender, Kind, Reason, Status};
use crate::verdict::{Candidate, FieldDiff, Report};

/// Stored JSON text as a value, or why it cannot be one.
fn parse_stored(what: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))
}

/// A record as stored. JSON columns come back as text
/// ([`super::dialect::Dialect::RECORD_COLUMNS`]) and are parsed here,
/// leniently: a value the JSON decoder refuses (one nested 200 deep passes
/// PostgreSQL but not serde_json's recursion limit) must not fail the whole
/// query, and with it every listing and the sweep.
#[derive(sqlx::FromRow)]
pub(super) struct RecordRow {
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

    pub fn into_job_record(self) -> Result<JobRecord, StoreError> {
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

    pub fn into_view(self) -> Result<RecordView, StoreError> {
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

    /// The rows a listing can show. A row that cannot be shown at all (an
    /// unknown status) is named in the log and left out; it never hides the
    /// others.
    pub fn viewable(rows: Vec<RecordRow>) -> Vec<RecordView> {
        rows.into_iter()
            .filter_map(|row| {
                let id = row.id;
                row.into_view()
                    .inspect_err(|e| tracing::warn!(record_id = id, error = %crate::errors::Chain(e), "record left out of the listing"))
                    .ok()
            })
            .collect()
    }
}
