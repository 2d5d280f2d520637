//! The outbox of status notifications (filled by a trigger on the event log,
//! in the transaction that changed the record) and its delivery bookkeeping.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub payload: Value,
    pub attempts: i32,
}

impl Store {
    /// Notifications still to deliver: spelled as each backend's partial
    /// index `outbox_due` is, so that the index serves the query.
    pub(super) fn outbox_undelivered(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "delivered_at IS NULL AND failed = 0",
            Store::Postgres(_) => "delivered_at IS NULL AND NOT failed",
        }
    }

    /// Takes up to `limit` due notifications for delivery, hiding them from
    /// other dispatchers until `lease_until` (after a crash they come back).
    pub async fn claim_outbox(
        &self,
        limit: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        // On PostgreSQL other dispatchers pass over the rows being claimed;
        // SQLite has one writer at a time.
        let skip_locked = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id IN (SELECT id FROM outbox \
             WHERE {} AND next_attempt_at <= $2 ORDER BY id LIMIT $3{skip_locked}) \
             RETURNING id, payload, attempts",
            self.outbox_undelivered()
        );
        let rows: Vec<(i64, Json<Value>, i32)> = super::on_pool!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(lease_until)
                .bind(Utc::now())
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        let mut items: Vec<OutboxItem> = rows
            .into_iter()
            .map(|(id, Json(payload), attempts)| OutboxItem {
                id,
                payload,
                attempts,
            })
            .collect();
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub async fn outbox_delivered(&self, id: i64) -> Result<(), StoreError> {
        super::on_pool!(self, p => {
            sqlx::query("UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
                .bind(Utc::now())
                .bind(id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// A failed delivery: try again at `retry_at`, or give up (`None`).
    pub async fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        super::on_pool!(self, p => {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $1, \
                 next_attempt_at = COALESCE($2, next_attempt_at), failed = $3 WHERE id = $4",
            )
            .bind(error)
            .bind(retry_at)
            .bind(retry_at.is_none())
            .bind(id)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Notifications not yet delivered, and those given up on.
    pub async fn outbox_backlog(&self) -> Result<(i64, i64), StoreError> {
        let row: (i64, i64) = super::on_pool!(self, p => {
            sqlx::query_as(
                "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND NOT failed), COUNT(*) FILTER (WHERE failed) FROM outbox",
            )
            .fetch_one(p)
            .await?
        });
        Ok(row)
    }

    /// Drops delivered notifications older than `before`, and undelivered
    /// ones too when no webhook is configured to ever deliver them.
    pub async fn prune_outbox(
        &self,
        before: DateTime<Utc>,
        undelivered_too: bool,
    ) -> Result<u64, StoreError> {
        let n = super::on_pool!(self, p => {
            sqlx::query(
                "DELETE FROM outbox WHERE created_at < $1 AND (delivered_at IS NOT NULL OR failed OR $2)",
            )
            .bind(before)
            .bind(undelivered_too)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n)
    }
}
