//! `credverify submit`: intake from the command line.

use std::path::PathBuf;

use clap::Args;

use super::output::{CliError, print_json};
use crate::domain::{CredentialFields, Field, IdNumber};
use crate::store::{NewRecord, Store, SubmitError};

/// Uploads larger than this are refused at intake; the reader has its own,
/// smaller limit for what it will decode.
const MAX_UPLOAD_BYTES: usize = crate::store::intake::MAX_SCREENSHOT_BYTES;
/// The fields file: typed fields are a few hundred bytes.
const MAX_FIELDS_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Args)]
pub struct SubmitArgs {
    /// The registration backend's id for the candidate (any string).
    #[arg(long)]
    pub candidate: String,
    /// The candidate's registered name (identity is checked against it).
    #[arg(long)]
    pub name: String,
    /// The candidate's ID number; its birth date and gender are checked against the report. Kept until a worker seals it with its key, then only as those two, the last two characters and an HMAC.
    #[arg(long)]
    pub id_number: Option<String>,
    /// A screenshot of the CHSI query result (PNG, JPEG or WebP); kept with the record.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Instead of --screenshot: where the worker fetches it (a path under its --uploads-root, or a URL
    /// under one of its --screenshot-url-prefix).
    #[arg(long, conflicts_with = "screenshot")]
    pub screenshot_ref: Option<String>,
    /// Typed fields as JSON with canonical keys (see jobs/README.md); `-` reads standard input.
    #[arg(long)]
    pub fields: Option<PathBuf>,
    /// The 在线验证码 (16 letters/digits); wins over one in --fields or the screenshot.
    #[arg(long)]
    pub vcode: Option<String>,
    /// Resubmitting with the same key returns the same record and does not count twice.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Print {"record_id": N, "created": bool} instead of the bare id.
    #[arg(long)]
    pub json: bool,
}

impl SubmitArgs {
    /// Validates everything the caller typed; errors name the field.
    pub fn to_new_record(&self) -> Result<NewRecord, CliError> {
        if self.candidate.trim().is_empty() {
            return Err(CliError::usage("--candidate must not be empty"));
        }
        if self.name.trim().is_empty() {
            return Err(CliError::usage("field `name`: must not be empty")
                .hint("pass the candidate's registered name with --name"));
        }
        let mut fields = match &self.fields {
            None => CredentialFields::default(),
            Some(path) => {
                let bytes = super::read_input(path, MAX_FIELDS_BYTES).map_err(|e| {
                    CliError::usage(format!("cannot read --fields {}: {e}", path.display()))
                })?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    CliError::usage(format!("--fields {} is not UTF-8 text", path.display()))
                })?;
                CredentialFields::from_manual_json(&text).map_err(|e| {
                    CliError::usage(e.to_string())
                        .hint("keys and formats are listed in jobs/README.md")
                })?
            }
        };
        if let Some(code) = &self.vcode {
            let v = fields
                .validated(Field::vcode, code)
                .map_err(|e| CliError::usage(e.to_string()))?;
            fields.set(Field::vcode, v);
        }
        let id_number = match &self.id_number {
            None => None,
            Some(s) => {
                Some(IdNumber::parse(s).map_err(|e| CliError::usage(format!("id_number: {e}")))?)
            }
        };
        let screenshot = match &self.screenshot {
            None => None,
            Some(path) => {
                let bytes = super::read_input(path, MAX_UPLOAD_BYTES as u64).map_err(|e| {
                    CliError::usage(format!("cannot read --screenshot {}: {e}", path.display()))
                })?;
                if bytes.len() > MAX_UPLOAD_BYTES {
                    return Err(CliError::usage(format!(
                        "--screenshot {} is {} bytes; the limit is {MAX_UPLOAD_BYTES}",
                        path.display(),
                        bytes.len()
                    )));
                }
                Some(bytes)
            }
        };
        if screenshot.is_none() && self.screenshot_ref.is_none() && fields.vcode.is_none() {
            return Err(CliError::usage(
                "field `vcode`: a record needs a screenshot or an 在线验证码",
            )
            .hint("pass --screenshot PATH, or --vcode CODE, or a \"vcode\" key in --fields"));
        }
        Ok(NewRecord {
            candidate_id: self.candidate.trim().to_string(),
            name: self.name.trim().to_string(),
            id_number,
            fields,
            idempotency_key: self.idempotency_key.clone(),
            screenshot,
            screenshot_ref: self.screenshot_ref.clone(),
        })
    }
}

pub async fn submit(url: &str, args: SubmitArgs) -> Result<(), CliError> {
    let new = args.to_new_record()?;
    let store = Store::open(url).await?;
    let result = store.submit(&new).await;
    store.close().await;
    match result {
        Ok(s) => {
            if args.json {
                print_json(&s)?;
            } else {
                println!("{}", s.record_id);
            }
            Ok(())
        }
        Err(SubmitError::LimitReached { candidate_id, limit }) => Err(CliError::refused(format!(
            "candidate {candidate_id} already holds {limit} records, the most allowed; nothing was added"
        ))
        .hint(format!("see them with `credverify list --candidate {candidate_id}`"))),
        Err(SubmitError::Invalid(msg)) => Err(CliError::usage(msg)),
        Err(e @ SubmitError::KeyReused { .. }) => Err(CliError::refused(e.to_string())
            .hint("use a new idempotency key for a new submission")),
        Err(SubmitError::Store(e)) => Err(e.into()),
    }
}
