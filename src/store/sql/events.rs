//! The event log and the outbox a trigger fills from it ([`EventStore`]),
//! written once and compiled into each backend's module (`super` is
//! `sqlite` or `postgres`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Here};
use crate::domain::{Reason, Status};
use crate::store::dialect::Dialect;
use crate::store::{EventStore, EventView, OutboxItem, StoreError};

/// One line of a record's event log.
pub(in crate::store) struct Event<'a> {
    pub record_id: i64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub from: Option<Status>,
    pub to: Status,
    pub reasons: &'a [Reason],
    pub note: Option<&'a str>,
}

impl<'a> Event<'a> {
    /// An event with no reasons: a status change by a person, or a record
    /// that stays `unverified` (`from == to`).
    pub fn without_reasons(
        record_id: i64,
        at: DateTime<Utc>,
        actor: &'a str,
        (from, to): (Status, Status),
        note: Option<&'a str>,
    ) -> Event<'a> {
        Event {
            record_id,
            at,
            actor,
            from: Some(from),
            to,
            reasons: &[],
            note,
        }
    }
}

/// Appends `e`; callers hold the transaction that changed the record.
pub(in crate::store) async fn insert_event(
    tx: &mut sqlx::Transaction<'_, Db>,
    e: Event<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO record_events (record_id, at, actor, from_status, to_status, reasons, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.record_id)
    .bind(e.at)
    .bind(e.actor)
    .bind(e.from.map(|s| s.as_str()))
    .bind(e.to.as_str())
    .bind(Json(e.reasons))
    .bind(e.note)
    .execute(&mut **tx)
    .await?;
    Ok(())
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

#[async_trait::async_trait]
impl EventStore for Here {
    async fn events(&self, record_id: i64) -> Result<Vec<EventView>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, at, actor, from_status, to_status, reasons, note FROM record_events \
             WHERE record_id = $1 ORDER BY id",
        )
        .bind(record_id)
        .fetch_all(&self.pool)
        .await?;
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

    async fn claim_outbox(
        &self,
        limit: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id IN (SELECT id FROM outbox \
             WHERE {} AND next_attempt_at <= $2 ORDER BY id LIMIT $3{}) \
             RETURNING id, payload, attempts",
            Here::OUTBOX_UNDELIVERED,
            Here::CLAIM_LOCK,
        );
        let rows: Vec<(i64, Json<Value>, i32)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(Utc::now())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
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

    async fn outbox_delivered(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
        )
        .bind(Utc::now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = COALESCE($2, next_attempt_at), failed = $3 WHERE id = $4",
        )
        .bind(error)
        .bind(retry_at)
        .bind(retry_at.is_none())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND NOT failed), COUNT(*) FILTER (WHERE failed) FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn prune_outbox(
        &self,
        before: DateTime<Utc>,
        undelivered_too: bool,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM outbox WHERE created_at < $1 AND (delivered_at IS NOT NULL OR failed OR $2)",
        )
        .bind(before)
        .bind(undelivered_too)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
