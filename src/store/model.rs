//! What the store reads and writes, independent of the backend.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{CredentialFields, Field, IdNumber, Kind, Reason, ReasonCode, Status};
use crate::verdict::{Candidate, FieldDiff, Report};

/// A record as the registration backend hands it over.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub candidate_id: String,
    pub name: String,
    pub id_number: Option<IdNumber>,
    /// Typed fields, already validated ([`CredentialFields::from_manual_json`]).
    pub fields: CredentialFields,
    pub idempotency_key: Option<String>,
    pub screenshot: Option<Vec<u8>>,
    /// Where to fetch the screenshot from instead (see `uploads`).
    pub screenshot_ref: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Submitted {
    pub record_id: i64,
    /// False when an idempotency key matched an earlier submission.
    pub created: bool,
}

/// Everything the worker needs to verify one record.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: i64,
    pub candidate_id: String,
    pub status: Status,
    pub job_id: Option<String>,
    pub candidate: Candidate,
    pub claimed: CredentialFields,
    /// The screenshot's reading, once made (JSON of the parser's output).
    pub reading: Option<Value>,
    pub has_screenshot: bool,
    pub screenshot_ref: Option<String>,
    pub attempts: i32,
    /// The submitted ID number is not sealed yet (see `RecordStore::seal_id_number`): it must
    /// be before the record is verified.
    pub id_number_pending: bool,
}

/// A status change, applied compare-and-set on `from`.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub record_id: i64,
    pub from: Status,
    pub to: Status,
    /// Only the job that currently owns the record may decide it.
    pub job_id: Option<&'a str>,
    pub actor: &'a str,
    pub reasons: &'a [Reason],
    pub field_diffs: &'a [FieldDiff],
    /// The service's report, stored when verifying.
    pub report: Option<&'a Report>,
    pub note: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    Applied,
    /// The record was no longer in `from` (or another job owns it): nothing
    /// changed. A job delivered twice ends here the second time.
    Stale {
        current: Option<Status>,
    },
    /// Verifying would give a second candidate the same certificate.
    DuplicateCertificate,
}

/// A transient failure: keep the record unverified and try again later.
#[derive(Debug, Clone)]
pub struct Retry<'a> {
    pub record_id: i64,
    pub job_id: Option<&'a str>,
    pub error: &'a str,
    pub run_at: DateTime<Utc>,
    /// The retry budget is spent: flag the record for admins, enqueue nothing.
    pub exhausted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    Scheduled { job_id: String },
    Exhausted,
    Stale,
}

/// One record, for `show` and `list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordView {
    pub id: i64,
    pub candidate_id: String,
    pub candidate_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number_masked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    pub status: Status,
    pub status_zh: String,
    pub claimed: CredentialFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screenshot_reading: Option<Value>,
    pub has_screenshot: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authoritative: Option<Report>,
    pub reasons: Vec<Reason>,
    pub field_diffs: Vec<FieldDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub retries_exhausted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// Stored parts that could not be read back (shown empty above), each
    /// with why: the record is listed anyway, for an admin to repair.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Status>,
    pub to: Status,
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Which records: every given criterion must hold.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these records (empty: any).
    pub ids: Vec<i64>,
    pub candidate_id: Option<String>,
    pub status: Option<Status>,
    /// Carries a reason with this code.
    pub reason: Option<ReasonCode>,
    /// Last changed at or after / before.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// 0 means the default page size (100).
    pub limit: i64,
    pub offset: i64,
}

/// Typed fields as stored. Unknown keys (a producer that bypassed validation)
/// are dropped rather than failing the record.
pub fn fields_from_stored(v: &Value) -> CredentialFields {
    let mut out = CredentialFields::default();
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            let Some(s) = val.as_str() else { continue };
            if k == "kind" {
                out.kind = Kind::parse(s);
            } else if let Some(f) = Field::from_key(k) {
                out.set(f, s);
            }
        }
    }
    out
}

/// A withdrawal of an unverified record, by the candidate's side
/// ([`super::RecordStore::withdraw`]).
#[derive(Debug, Clone, Copy)]
pub struct Withdrawal<'a> {
    pub record_id: i64,
    /// The record must be this candidate's.
    pub candidate_id: &'a str,
    pub actor: &'a str,
    pub note: Option<&'a str>,
}
