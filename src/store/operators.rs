//! People who work the review desk. Only the password's argon2id hash is
//! stored; hashing and checking live in `admin::operators`, the queries in
//! `sql/admin.rs`.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OperatorRow {
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
}

pub(super) type Row = (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

pub(super) fn from_row((name, role, password_hash, created_at, disabled_at): Row) -> OperatorRow {
    OperatorRow {
        name,
        role,
        password_hash,
        created_at,
        disabled_at,
    }
}
