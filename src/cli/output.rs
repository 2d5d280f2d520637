//! How commands report: exit codes (README "Using it"), errors with a hint, tables.
//!
//! One exit code per situation, whatever the command:
//! 0 done; 1 our side failed (database unreachable, a file unwritable, a
//! bug); 2 the command line or its input is wrong; 3 a rule or the
//! current state refused it (the record limit, a reused idempotency key
//! `CV003`, a record changed meanwhile); 4 what it names does not exist.

use std::fmt;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

/// A command's failure: what went wrong, what to do, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    /// Bad input from the caller: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
            hint: None,
        }
    }

    /// Refused by a rule (the five-record limit, a verified record): exit 3.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            code: 3,
            message: message.into(),
            hint: None,
        }
    }

    /// What the command names does not exist (a record, its screenshot):
    /// exit 4.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: 4,
            message: message.into(),
            hint: None,
        }
    }

    /// Anything else: exit 1.
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        if let crate::store::StoreError::NotFound { .. } = e {
            return CliError::not_found(e.to_string())
                .hint("find record ids with `credverify list --candidate ID`");
        }
        CliError::other(crate::errors::chain(&e)).hint(
            "check --database-url (or CREDVERIFY_DATABASE_URL) and that the database is reachable",
        )
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::other(format!("{e:#}"))
    }
}

/// Rows of outside text: each cell made `terminal::safe` before the table
/// measures it, so an escaped cell keeps its column's borders in line.
pub trait SafeRows {
    fn add_safe_row(&mut self, cells: Vec<String>) -> &mut Self;
}

impl SafeRows for Table {
    fn add_safe_row(&mut self, cells: Vec<String>) -> &mut Self {
        self.add_row(
            cells
                .iter()
                .map(|c| super::terminal::safe(c))
                .collect::<Vec<_>>(),
        )
    }
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(value).map_err(|e| CliError::other(e.to_string()))?;
    println!("{s}");
    Ok(())
}
