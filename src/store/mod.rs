//! The records database: a trait per concern (`api`: records, jobs,
//! events and outbox, admin queries, cluster rows), implemented by two
//! backends chosen by the URL scheme: [`SqliteStore`] for a laptop,
//! [`PgStore`] for many workers on many hosts.
//!
//! Each method body is written once, in `sql/`, and compiled into both
//! backend modules, so it is type-checked against each dialect. Its SQL is
//! shared text (`$N` placeholders work on both; on PostgreSQL the pool's
//! search path puts schema `credverify` first); what the dialects spell
//! differently, and what PostgreSQL runs as a function in the database, is
//! the backend's `Dialect` (`dialect.rs`) and nothing more. docs/ARCHITECTURE.md, "The
//! store", says why the bodies are not generic over sqlx's `Database`.

mod admin;
mod api;
mod cluster;
mod connect;
mod desk;
mod dialect;
pub mod intake;
mod jobs;
pub mod model;
mod operators;
mod outbox;
mod pages;
mod postgres;
mod read;
mod sql_store;
mod sqlite;
mod write;

use std::ops::Deref;

pub use admin::{DayCounts, ReopenOutcome, Stats};
pub use api::{AdminStore, ClusterStore, EventStore, FullStore, JobStore, RecordStore};
pub use cluster::ClusterGauges;
pub use connect::{Backend, default_database_url};
pub use desk::WithdrawOutcome;
pub use jobs::{JOB_MAX_ATTEMPTS, OCR_QUEUE, QUEUE, due_now};
pub use model::*;
pub use operators::OperatorRow;
pub use outbox::OutboxItem;
pub use pages::{KeptPage, PAGES_KEPT, UnrecognisedAnswer};
pub use sql_store::{PgStore, SqlStore, SqliteStore};

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

/// A handle on the records database (and the apalis queue tables beside
/// it), whichever backend the URL chose. It derefs to [`FullStore`]: import
/// the concern's trait ([`RecordStore`], [`JobStore`], …) to call its
/// methods. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Deref for Store {
    type Target = dyn FullStore;

    fn deref(&self) -> &(dyn FullStore + 'static) {
        match self {
            Store::Sqlite(s) => s,
            Store::Postgres(s) => s,
        }
    }
}

impl Store {
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.pool().close().await,
            Store::Postgres(s) => s.pool().close().await,
        }
    }

    /// Cheap liveness probe, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => sqlx::query("SELECT 1").execute(s.pool()).await.map(drop)?,
            Store::Postgres(s) => sqlx::query("SELECT 1").execute(s.pool()).await.map(drop)?,
        }
        Ok(())
    }
}
