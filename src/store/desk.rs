//! What the review desk needs of the store beyond decisions: withdrawal of
//! an unverified record, the event a re-queue writes, the queue's counts.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::Value;
use sqlx::types::Json;

use super::write::insert_event;
use super::{Store, StoreError};
use crate::domain::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithdrawOutcome {
    Withdrawn,
    /// Withdrawn before: nothing written again.
    AlreadyWithdrawn,
    /// Decided meanwhile: a decided record cannot be withdrawn.
    Refused {
        current: Status,
    },
}

impl Store {
    /// Moves an unverified record of `candidate_id` to `withdrawn`, compare-
    /// and-set, with its event. On PostgreSQL this is the same SQL function
    /// registration backends call (`credverify.withdraw_record`).
    pub async fn withdraw(
        &self,
        record_id: i64,
        candidate_id: &str,
        actor: &str,
        note: Option<&str>,
    ) -> Result<WithdrawOutcome, StoreError> {
        match self {
            Store::Sqlite(pool) => {
                let now = Utc::now();
                let mut tx = pool.begin_with(super::SQLITE_WRITE).await?;
                let moved = sqlx::query(
                    "UPDATE records SET status = 'withdrawn', job_id = NULL, next_attempt_at = NULL, \
                     retries_exhausted = false, updated_at = $1 \
                     WHERE id = $2 AND candidate_id = $3 AND status = 'unverified'",
                )
                .bind(now)
                .bind(record_id)
                .bind(candidate_id)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 0 {
                    let current: Option<(String,)> = sqlx::query_as(
                        "SELECT status FROM records WHERE id = $1 AND candidate_id = $2",
                    )
                    .bind(record_id)
                    .bind(candidate_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    let Some((current,)) = current else {
                        return Err(StoreError::NotFound { record_id });
                    };
                    return Ok(match Status::parse(&current) {
                        Some(Status::Withdrawn) => WithdrawOutcome::AlreadyWithdrawn,
                        Some(current) => WithdrawOutcome::Refused { current },
                        None => {
                            return Err(StoreError::Corrupt {
                                record_id,
                                detail: format!("unknown status {current:?}"),
                            });
                        }
                    });
                }
                insert_event(
                    &mut tx,
                    record_id,
                    now,
                    actor,
                    Some(Status::Unverified),
                    Status::Withdrawn,
                    &[],
                    note,
                )
                .await?;
                tx.commit().await?;
                Ok(WithdrawOutcome::Withdrawn)
            }
            Store::Postgres(pool) => {
                let before: Option<(String,)> =
                    sqlx::query_as("SELECT status FROM records WHERE id = $1")
                        .bind(record_id)
                        .fetch_optional(pool)
                        .await?;
                let result: Result<String, sqlx::Error> =
                    sqlx::query_scalar("SELECT credverify.withdraw_record($1, $2, $3, $4)")
                        .bind(record_id)
                        .bind(candidate_id)
                        .bind(actor)
                        .bind(note)
                        .fetch_one(pool)
                        .await;
                match result {
                    Ok(_) if before.as_ref().is_some_and(|(s,)| s == "withdrawn") => {
                        Ok(WithdrawOutcome::AlreadyWithdrawn)
                    }
                    Ok(_) => Ok(WithdrawOutcome::Withdrawn),
                    Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("CV004") => {
                        let now: Option<(String,)> =
                            sqlx::query_as("SELECT status FROM records WHERE id = $1")
                                .bind(record_id)
                                .fetch_optional(pool)
                                .await?;
                        Ok(WithdrawOutcome::Refused {
                            current: now
                                .and_then(|(s,)| Status::parse(&s))
                                .unwrap_or(Status::Verified),
                        })
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Writes the event of a re-queue: the status stays `unverified`, but who
    /// re-queued it and why belong in the log like any other action.
    pub(super) async fn requeue_event(
        &self,
        record_id: i64,
        actor: &str,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        super::on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_event(&mut tx, record_id, now, actor, Some(Status::Unverified), Status::Unverified, &[], note).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records by reason code, among records with `status` (any when `None`).
    pub async fn reason_counts(
        &self,
        status: Option<Status>,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let lists: Vec<Json<Value>> = super::on_pool!(self, p => {
            sqlx::query_scalar("SELECT reasons FROM records WHERE ($1 IS NULL OR status = $1)")
                .bind(status.map(|s| s.as_str()))
                .fetch_all(p)
                .await?
        });
        let mut out = BTreeMap::new();
        for Json(list) in lists {
            for code in list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.get("code").and_then(Value::as_str))
            {
                *out.entry(code.to_string()).or_default() += 1;
            }
        }
        Ok(out)
    }
}
