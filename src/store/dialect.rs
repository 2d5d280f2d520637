//! Where the backends differ, and nothing else: SQL the two dialects spell
//! differently, apalis' two table layouts, and the few operations PostgreSQL
//! runs as a function in the database (`credverify.submit`, `decide`,
//! `withdraw_record`, `chsi_take`) while SQLite runs the same steps here.
//! Each backend module (`sqlite.rs`, `postgres.rs`) implements it; the
//! method bodies in `store/sql/` use it and their SQL text is otherwise
//! shared.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::model::{NewRecord, Submitted, Transition, TransitionOutcome, Withdrawal};
use super::{StoreError, SubmitError, WithdrawOutcome};

pub(super) trait Dialect {
    type Db: sqlx::Database;

    /// apalis' job table, and its worker table.
    const JOBS: &'static str;
    const WORKERS: &'static str;

    /// The columns of a record row (`read::RecordRow`), JSON columns as
    /// text, so a value the JSON decoder refuses cannot fail a whole query.
    const RECORD_COLUMNS: &'static str;

    /// "The record's reasons hold the code `$4`": JSON containment.
    const HAS_REASON: &'static str;

    /// Notifications still to deliver, spelled as the backend's partial
    /// index `outbox_due` is, so that the index serves the query.
    const OUTBOX_UNDELIVERED: &'static str;

    /// Ends the subquery that picks outbox rows to claim: on PostgreSQL
    /// other dispatchers pass over rows being claimed; SQLite has one
    /// writer at a time.
    const CLAIM_LOCK: &'static str;

    /// Inserts a pending job: `$1` id, `$2` queue, `$3` payload, `$4` most
    /// attempts, `$5` when it is due ([`Dialect::run_at`]).
    const INSERT_JOB: &'static str;

    /// Counts the jobs of queue `$1` a worker `$3` could run at `$2`
    /// ([`Dialect::run_at`]).
    const RUNNABLE_JOBS: &'static str;

    /// Sets aside our job rows whose id is not a ULID: `$1` the note, `$2`
    /// the lookup queue.
    const QUARANTINE_JOBS: &'static str;

    /// When a job is due, as apalis' table keeps it.
    type RunAt: Send;
    fn run_at(at: DateTime<Utc>) -> Self::RunAt;

    /// A transaction that will write. SQLite runs one writer at a time;
    /// taking the write lock up front means a transaction that reads then
    /// writes never fails to upgrade its lock.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;

    /// Inserts a record whose input has passed `intake::checked`.
    fn submit_checked(
        &self,
        new: &NewRecord,
    ) -> impl Future<Output = Result<Submitted, SubmitError>> + Send;

    /// A compare-and-set transition with its event (see
    /// [`super::RecordStore::transition`]); `report` is the service's report
    /// as it is stored.
    fn decide(
        &self,
        t: &Transition<'_>,
        report: Option<&crate::verdict::Report>,
    ) -> impl Future<Output = Result<TransitionOutcome, StoreError>> + Send;

    fn withdraw_record(
        &self,
        w: Withdrawal<'_>,
    ) -> impl Future<Output = Result<WithdrawOutcome, StoreError>> + Send;

    /// The cluster's request budget (see [`super::ClusterStore`]).
    fn budget_take(
        &self,
        per_second: f64,
        burst: f64,
    ) -> impl Future<Output = Result<Duration, StoreError>> + Send;
    fn budget_pause(&self, pause: Duration) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn budget_paused_until(
        &self,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// The first live worker by name, seen within `live` by the clock
    /// apalis writes `last_seen` with.
    fn first_live_worker(
        &self,
        live: Duration,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}
