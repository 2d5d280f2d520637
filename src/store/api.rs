//! What the records database offers, one trait per concern. Both backends
//! implement every trait: [`super::SqliteStore`] and [`super::PgStore`], from
//! one body per method (`store/sql/`, compiled once for each backend; see
//! docs/ARCHITECTURE.md, "The store"). Callers hold a [`super::Store`], which
//! derefs to [`FullStore`], and import the traits they use.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::jobs::QUEUE;
use super::model::*;
use super::{
    ClusterGauges, KeptPage, OperatorRow, OutboxItem, ReopenOutcome, Stats, StoreError,
    SubmitError, UnrecognisedAnswer, WithdrawOutcome,
};
use crate::domain::Status;
use crate::domain::identity::IdKey;

/// A record's life: intake, decisions, retries, what is kept with it, and
/// the reads of it.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Inserts the record `unverified` and enqueues its job, in one
    /// transaction. Refuses a sixth record for a candidate; an idempotency key
    /// seen before with the same content returns the earlier record
    /// (`created: false`) and writes nothing, and with other content is
    /// refused ([`SubmitError::KeyReused`]).
    async fn submit(&self, new: &NewRecord) -> Result<Submitted, SubmitError>;

    /// Moves a record from `t.from` to `t.to` if it is still in `t.from` (and,
    /// for a worker, still owned by `t.job_id`), writing the event in the same
    /// transaction.
    async fn transition(&self, t: &Transition<'_>) -> Result<TransitionOutcome, StoreError>;

    /// Records a transient failure and schedules the next attempt as a new
    /// job (or flags the record when the budget is spent). The record stays
    /// `unverified` either way.
    async fn schedule_retry(&self, r: &Retry<'_>) -> Result<RetryOutcome, StoreError>;

    /// Moves an unverified record of `candidate_id` to `withdrawn`, compare-
    /// and-set, with its event. On PostgreSQL this is the same SQL function
    /// registration backends call (`credverify.withdraw_record`).
    async fn withdraw(&self, w: Withdrawal<'_>) -> Result<WithdrawOutcome, StoreError>;

    /// Keeps a screenshot fetched by reference with the record, so re-runs
    /// never depend on the reference again.
    async fn attach_screenshot(&self, record_id: i64, bytes: &[u8]) -> Result<(), StoreError>;

    /// Keeps what the screenshot reader produced, so re-runs and `show` need
    /// not read the image again.
    async fn save_reading(&self, record_id: i64, reading: &Value) -> Result<(), StoreError>;

    /// The record as a worker needs it; `Corrupt` if its claim cannot be read.
    async fn job_record(&self, id: i64) -> Result<Option<JobRecord>, StoreError>;

    /// The record as admins see it; damaged JSON columns are named, not fatal.
    async fn record(&self, id: i64) -> Result<Option<RecordView>, StoreError>;

    async fn screenshot(&self, record_id: i64) -> Result<Option<Vec<u8>>, StoreError>;

    async fn list(&self, f: &ListFilter) -> Result<Vec<RecordView>, StoreError>;

    /// Records of one candidate, any status (the five-record limit counts these).
    async fn count_for_candidate(&self, candidate_id: &str) -> Result<i64, StoreError>;

    /// Seals record `record_id` if its ID number is still pending (see
    /// `store/sql/records.rs`). Returns whether it had one.
    async fn seal_id_number(&self, record_id: i64, key: &IdKey) -> Result<bool, StoreError>;

    /// Seals every record whose number is still pending (a worker does this
    /// on start and with every sweep, so a number submitted for a record no
    /// job reaches, e.g. one withdrawn at once, is not kept either). Returns
    /// how many it sealed.
    async fn seal_pending_id_numbers(&self, key: &IdKey) -> Result<u64, StoreError>;

    /// Keeps an answer the client could not recognise and counts it against
    /// the record; returns how many such answers the record has had since
    /// the count was last cleared.
    async fn keep_unrecognised_page(
        &self,
        record_id: i64,
        answer: UnrecognisedAnswer<'_>,
    ) -> Result<i64, StoreError>;

    /// Starts the record's count of unrecognised answers again (it went to a
    /// person; a re-run gets the full allowance).
    async fn clear_unrecognised_count(&self, record_id: i64) -> Result<(), StoreError>;

    /// The record's kept pages, newest first.
    async fn kept_pages(&self, record_id: i64) -> Result<Vec<KeptPage>, StoreError>;
}

/// Our rows in apalis' job tables: what is runnable, what no job will pick
/// up, moving a record to a new job, and rows apalis cannot handle.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Whether a job that will still run owns this record.
    async fn has_live_job(&self, record_id: i64) -> Result<bool, StoreError>;

    /// Jobs this worker could still run now in `queue`: due jobs nobody
    /// holds, failed jobs with attempts left, and jobs this worker holds.
    async fn runnable_jobs_in(&self, queue: &str, worker: &str) -> Result<i64, StoreError>;

    /// [`JobStore::runnable_jobs_in`] the lookup queue.
    async fn runnable_jobs(&self, worker: &str) -> Result<i64, StoreError> {
        self.runnable_jobs_in(QUEUE, worker).await
    }

    /// Unverified records that no live job will pick up (a producer crashed
    /// between statements, a job row was deleted, a job was killed or ran out
    /// of attempts), last touched before `quiet_since`. Records flagged as
    /// having exhausted their retries are left for admins.
    async fn stranded_records(
        &self,
        quiet_since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError>;

    /// Gives an unverified record a new job in `queue`, due at `run_at`, if
    /// its owning job is still `expected_job` (so two sweepers never both
    /// enqueue); also how a record moves between the lookup and OCR queues
    /// without counting an attempt. Returns the new job's id, or `None` if
    /// the record moved on.
    async fn requeue_in(
        &self,
        queue: &str,
        record_id: i64,
        expected_job: Option<&str>,
        run_at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// [`JobStore::requeue_in`] the lookup queue.
    async fn requeue(
        &self,
        record_id: i64,
        expected_job: Option<&str>,
        run_at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        self.requeue_in(QUEUE, record_id, expected_job, run_at)
            .await
    }

    /// Sets aside job rows whose id is not a ULID: apalis cannot parse them,
    /// and one such row makes every fetch of its batch fail.
    async fn quarantine_bad_jobs(&self) -> Result<u64, StoreError>;

    /// apalis worker names recorded for our queues that start with `prefix`.
    async fn worker_names(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Hands the jobs a dead worker held back to the queue at once, instead of
    /// waiting for its heartbeat to expire. Counts as an attempt, as apalis'
    /// own orphan recovery does, so a job that keeps killing workers is
    /// noticed (see `queue::job`).
    async fn release_jobs_of(&self, worker: &str) -> Result<u64, StoreError>;
}

/// The event log of each record and the outbox of notifications a trigger
/// fills from it, in the transaction that changed the record.
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn events(&self, record_id: i64) -> Result<Vec<EventView>, StoreError>;

    /// Takes up to `limit` due notifications for delivery, hiding them from
    /// other dispatchers until `lease_until` (after a crash they come back).
    async fn claim_outbox(
        &self,
        limit: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    async fn outbox_delivered(&self, id: i64) -> Result<(), StoreError>;

    /// A failed delivery: try again at `retry_at`, or give up (`None`).
    async fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Notifications not yet delivered, and those given up on.
    async fn outbox_backlog(&self) -> Result<(i64, i64), StoreError>;

    /// Drops delivered notifications older than `before`, and undelivered
    /// ones too when no webhook is configured to ever deliver them.
    async fn prune_outbox(
        &self,
        before: DateTime<Utc>,
        undelivered_too: bool,
    ) -> Result<u64, StoreError>;
}

/// What admins and the review desk ask beyond a single record: re-runs,
/// counts, the people who may work the desk.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Puts a decided record (rejected or needs review) back to unverified
    /// with a new job, or re-queues an unverified one that has no live job.
    /// Idempotent: a record already waiting for a job is left alone, so an
    /// interrupted re-run can simply be run again.
    async fn reopen(
        &self,
        record_id: i64,
        actor: &str,
        note: Option<&str>,
    ) -> Result<ReopenOutcome, StoreError>;

    async fn stats(&self, days: u32) -> Result<Stats, StoreError>;

    /// Records by reason code, among records with `status` (any when `None`).
    async fn reason_counts(
        &self,
        status: Option<Status>,
    ) -> Result<BTreeMap<String, i64>, StoreError>;

    /// Adds an operator; `false` if the name is taken.
    async fn add_operator(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError>;

    async fn operator(&self, name: &str) -> Result<Option<OperatorRow>, StoreError>;

    async fn operators(&self) -> Result<Vec<OperatorRow>, StoreError>;

    /// Disables an operator; `false` if there is no such operator.
    async fn disable_operator(&self, name: &str) -> Result<bool, StoreError>;
}

/// Rows many workers share: the service's request budget, and the gauges
/// `/metrics` shows of the whole database.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// Takes one request's token from the cluster's bucket: `ZERO` when
    /// granted, otherwise how long to wait before asking again. SQLite has
    /// no cluster: always granted.
    async fn chsi_budget_take(&self, per_second: f64, burst: f64) -> Result<Duration, StoreError>;

    /// Holds every worker of the cluster back for at least `pause` (on
    /// SQLite the pause lives in the worker process, so nothing is written).
    async fn chsi_budget_pause(&self, pause: Duration) -> Result<(), StoreError>;

    /// When the cluster's pause ends, if one is in force (PostgreSQL; a
    /// SQLite deployment's pause lives in its worker process).
    async fn chsi_paused_until(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Records by status from the trigger-kept summary: four rows, whatever
    /// the number of records.
    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, StoreError>;

    /// What `/metrics` shows of the database, each figure read through an
    /// index or the maintained summary.
    async fn cluster_gauges(&self) -> Result<ClusterGauges, StoreError>;

    /// The name of the live worker that reports the cluster's gauges (the
    /// first by name among those seen within `live`), so that summing a
    /// gauge over every worker's scrape counts the database once.
    async fn metrics_reporter(&self, live: Duration) -> Result<Option<String>, StoreError>;
}

/// Every concern at once: what a [`super::Store`] derefs to.
pub trait FullStore:
    RecordStore + JobStore + EventStore + AdminStore + ClusterStore + std::fmt::Debug
{
}

impl<T> FullStore for T where
    T: RecordStore + JobStore + EventStore + AdminStore + ClusterStore + std::fmt::Debug
{
}
