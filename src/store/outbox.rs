//! One notification of the outbox (filled by a trigger on the event log, in
//! the transaction that changed the record; delivered by `notify`).

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub payload: Value,
    pub attempts: i32,
}
