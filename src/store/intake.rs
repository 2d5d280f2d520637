//! The caps every submission meets, whichever way it arrives (CLI, library,
//! `credverify.submit_record`); jobs/README.md lists them. Field values have
//! their own rules (`domain::typed`).

use sha2::{Digest, Sha256};

use super::SubmitError;
use super::model::NewRecord;
use crate::domain::typed::is_control;

pub const MAX_CANDIDATE_ID_CHARS: usize = 128;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;
pub const MAX_SCREENSHOT_REF_CHARS: usize = 1024;
/// Larger uploads are refused at intake; the reader refuses over 15 MiB with
/// a reason the candidate sees.
pub const MAX_SCREENSHOT_BYTES: usize = 20 * 1024 * 1024;

/// What intake trims: the same characters as `btrim(x, E' \t\r\n')`.
pub fn trimmed(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

fn invalid(field: &str, message: impl std::fmt::Display) -> SubmitError {
    SubmitError::Invalid(format!("field `{field}`: {message}"))
}

/// `new` with its identifiers trimmed, or the first cap it breaks.
pub fn checked(new: &NewRecord) -> Result<NewRecord, SubmitError> {
    let mut out = new.clone();
    out.candidate_id = trimmed(&new.candidate_id).to_string();
    out.name = trimmed(&new.name).to_string();
    if out.candidate_id.is_empty() {
        return Err(invalid("candidate_id", "must not be empty"));
    }
    if out.candidate_id.chars().count() > MAX_CANDIDATE_ID_CHARS
        || out.candidate_id.chars().any(char::is_control)
    {
        return Err(invalid(
            "candidate_id",
            format_args!("at most {MAX_CANDIDATE_ID_CHARS} characters, no control characters"),
        ));
    }
    if out.name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    if out.name.chars().count() > MAX_NAME_CHARS || out.name.chars().any(is_control) {
        return Err(invalid(
            "name",
            format_args!("at most {MAX_NAME_CHARS} characters, no control characters"),
        ));
    }
    optional_text(
        "idempotency_key",
        new.idempotency_key.as_deref(),
        MAX_IDEMPOTENCY_KEY_CHARS,
    )?;
    optional_text(
        "screenshot_ref",
        new.screenshot_ref.as_deref(),
        MAX_SCREENSHOT_REF_CHARS,
    )?;
    if let Some(b) = &new.screenshot
        && b.len() > MAX_SCREENSHOT_BYTES
    {
        return Err(invalid(
            "screenshot",
            format_args!(
                "{} bytes; the limit is {MAX_SCREENSHOT_BYTES} (20 MiB)",
                b.len()
            ),
        ));
    }
    for (field, value) in new.fields.iter() {
        if let Some(why) = crate::domain::typed::shape_error(field, value) {
            return Err(invalid(field.key(), why));
        }
    }
    Ok(out)
}

/// An optional text that, when given, is 1 to `max` characters with no
/// control character among them.
fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<(), SubmitError> {
    match value {
        Some(v) if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(invalid(
                field,
                format_args!("1 to {max} characters, no control characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// What an idempotency key is stored with: the same submission gives the
/// same digest, any other content another. Of the ID number it takes only
/// what is stored in clear anyway (birth date, gender, mask): anything more
/// would let a copy of the database confirm guesses of the number.
pub fn digest(new: &NewRecord) -> String {
    let shot = new
        .screenshot
        .as_ref()
        .map(|b| hex::encode(Sha256::digest(b)));
    let id_number = new.id_number.as_ref().map(|i| {
        serde_json::json!({
            "birth_date": i.birth_date().format("%Y-%m-%d").to_string(),
            "gender": i.gender().as_str(),
            "masked": i.masked(),
        })
    });
    let doc = serde_json::json!({
        "candidate_id": new.candidate_id,
        "name": new.name,
        "id_number": id_number,
        "fields": serde_json::to_value(&new.fields).unwrap_or_default(),
        "screenshot": shot,
        "screenshot_ref": new.screenshot_ref,
    });
    hex::encode(Sha256::digest(doc.to_string().as_bytes()))
}
