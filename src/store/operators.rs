//! People who work the review desk. Only the password's argon2id hash is
//! stored; hashing and checking live in `admin::operators`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError};

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

type Row = (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

fn from_row((name, role, password_hash, created_at, disabled_at): Row) -> OperatorRow {
    OperatorRow {
        name,
        role,
        password_hash,
        created_at,
        disabled_at,
    }
}

impl Store {
    /// Adds an operator; `false` if the name is taken.
    pub async fn add_operator(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let n = super::on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO operators (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(role)
            .bind(password_hash)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    pub async fn operator(&self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        let row: Option<Row> = super::on_pool!(self, p => {
            sqlx::query_as(
                "SELECT name, role, password_hash, created_at, disabled_at FROM operators WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(from_row))
    }

    pub async fn operators(&self) -> Result<Vec<OperatorRow>, StoreError> {
        let rows: Vec<Row> = super::on_pool!(self, p => {
            sqlx::query_as(
                "SELECT name, role, password_hash, created_at, disabled_at FROM operators ORDER BY name",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Disables an operator; `false` if there is no such operator.
    pub async fn disable_operator(&self, name: &str) -> Result<bool, StoreError> {
        let now = Utc::now();
        let n = super::on_pool!(self, p => {
            sqlx::query("UPDATE operators SET disabled_at = COALESCE(disabled_at, $1) WHERE name = $2")
                .bind(now)
                .bind(name)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }
}
