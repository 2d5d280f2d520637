//! Sealing a record's ID number. The database never holds the HMAC key
//! (README "Records and rules"), so an intake that runs in the database
//! (`credverify.submit_record`) cannot compute the number's keyed hash: it
//! keeps the full number in `id_number_pending`, and a worker that holds the
//! key seals the record — writes the HMAC and clears the column — before it
//! does anything else with it. Both backends take this one path.

use super::{Store, StoreError, on_pool};
use crate::domain::IdNumber;
use crate::domain::identity::IdKey;

/// Records sealed per round trip when sealing everything pending.
const BATCH: i64 = 200;

impl Store {
    /// Seals record `record_id` if its number is still pending. Returns
    /// whether it had one.
    pub async fn seal_id_number(&self, record_id: i64, key: &IdKey) -> Result<bool, StoreError> {
        let pending: Option<(i64, String)> = on_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, id_number_pending FROM records WHERE id = $1 AND id_number_pending IS NOT NULL",
            )
            .bind(record_id)
            .fetch_optional(p)
            .await?
        });
        match pending {
            Some((id, digits)) => {
                self.seal_one(id, &digits, key).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Seals every record whose number is still pending (a worker does this
    /// on start and with every sweep, so a number submitted for a record no
    /// job reaches, e.g. one withdrawn at once, is not kept either). Returns
    /// how many it sealed.
    pub async fn seal_pending_id_numbers(&self, key: &IdKey) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let batch: Vec<(i64, String)> = on_pool!(self, p => {
                sqlx::query_as(
                    "SELECT id, id_number_pending FROM records WHERE id_number_pending IS NOT NULL \
                     ORDER BY id LIMIT $1",
                )
                .bind(BATCH)
                .fetch_all(p)
                .await?
            });
            if batch.is_empty() {
                return Ok(total);
            }
            for (id, digits) in &batch {
                self.seal_one(*id, digits, key).await?;
                total += 1;
            }
        }
    }

    /// Compare-and-set on the pending value, so two workers sealing at once
    /// write one hash. A pending value no intake would have accepted is
    /// cleared all the same (an unsealable full number must not stay) and
    /// logged; the birth date and gender the intake stored remain.
    async fn seal_one(&self, id: i64, digits: &str, key: &IdKey) -> Result<(), StoreError> {
        let hash = match IdNumber::parse(digits) {
            Ok(n) => Some(n.keyed_hash(key)),
            Err(e) => {
                tracing::error!(record_id = id, error = %e, "pending ID number is not one; cleared without a hash");
                None
            }
        };
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE records SET id_number_hash = $1, id_number_pending = NULL \
                 WHERE id = $2 AND id_number_pending = $3",
            )
            .bind(&hash)
            .bind(id)
            .bind(digits)
            .execute(p)
            .await?;
        });
        Ok(())
    }
}
