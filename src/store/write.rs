//! Intake rules that hold on both backends before and after the write
//! itself (`sql/records.rs`, and each backend's `submit_checked`).

use serde_json::Value;

use super::model::NewRecord;
use super::{RECORD_LIMIT, StoreError, SubmitError};

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

/// `new` with its identifiers trimmed and checked against every cap, and
/// a screenshot or a code to work from.
pub(super) fn checked_submission(new: &NewRecord) -> Result<NewRecord, SubmitError> {
    let new = super::intake::checked(new)?;
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
    Ok(new)
}

/// A submission's database error as the caller's mistake it stands for
/// (PostgreSQL's intake raises CV001–CV003; SQLite's trigger names the limit).
pub(super) fn submit_error(e: SubmitError, new: &NewRecord) -> SubmitError {
    match e {
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
    }
}

/// A reading as stored: its 证件号码 keeps only what a report shows (see
/// `identity::keep_tail_of_masked_number`).
pub(super) fn reading_as_stored(reading: &Value) -> Value {
    let mut reading = reading.clone();
    if let Some(m) = reading
        .pointer_mut("/fields/id_number_masked")
        .filter(|m| m.is_string())
    {
        *m = Value::String(crate::domain::identity::mask_tail(
            m.as_str().unwrap_or_default(),
        ));
    }
    reading
}
