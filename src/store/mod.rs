//! The records database: one interface, two backends chosen by the URL scheme
//! (SQLite for a laptop, PostgreSQL for many workers on many hosts). Most SQL
//! is shared text (`$N` placeholders work on both; on PostgreSQL the pool's
//! search path puts schema `credverify` first); where the dialects differ the
//! code says so.

mod admin;
mod cluster;
mod connect;
mod desk;
pub mod intake;
mod jobs;
pub mod model;
mod operators;
mod outbox;
mod pages;
mod queue;
mod read;
mod seal;
mod write;

use sqlx::{PgPool, SqlitePool};

pub use admin::{DayCounts, ReopenOutcome, Stats};
pub use cluster::ClusterGauges;
pub use connect::{Backend, default_database_url};
pub use desk::WithdrawOutcome;
pub use jobs::{JOB_MAX_ATTEMPTS, OCR_QUEUE, QUEUE, due_now};
pub use model::*;
pub use operators::OperatorRow;
pub use outbox::OutboxItem;
pub use pages::{KeptPage, PAGES_KEPT};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    // The cause is the source, printed once by `errors::Chain`.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// No such record: the caller's mistake or a race, not damaged data.
    #[error("record {record_id} does not exist")]
    NotFound { record_id: i64 },
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt for record {record_id}: {detail}")]
    Corrupt { record_id: i64, detail: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(
        "candidate {candidate_id} already holds {limit} records, the most allowed; nothing was added"
    )]
    LimitReached { candidate_id: String, limit: u32 },
    #[error("{0}")]
    Invalid(String),
    /// The idempotency key was used before for different content (SQLSTATE
    /// CV003 on PostgreSQL).
    #[error(
        "idempotency key `{key}` was used for a different submission (record {record_id}); nothing was added"
    )]
    KeyReused { key: String, record_id: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SubmitError {
    fn from(e: sqlx::Error) -> Self {
        SubmitError::Store(StoreError::Database(e))
    }
}

pub const RECORD_LIMIT: u32 = 5;

/// A handle on the records database (and the apalis queue tables beside it).
/// Cheap to clone.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code against whichever pool the store holds. The body is
/// compiled once per backend, so it may only use SQL both dialects accept.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// SQLite runs one writer at a time; taking the write lock up front means a
/// transaction that reads then writes never fails to upgrade its lock.
const SQLITE_WRITE: &str = "BEGIN IMMEDIATE";

/// Runs `$body` in a write transaction on whichever pool the store holds
/// (begun with [`SQLITE_WRITE`] on SQLite), and commits it; a `return` from
/// the body rolls it back. The body is compiled once per backend.
macro_rules! in_write_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(pool) => {
                let mut $tx = pool.begin_with($crate::store::SQLITE_WRITE).await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Store::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use in_write_tx;

impl Store {
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// Cheap liveness probe, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }
}
