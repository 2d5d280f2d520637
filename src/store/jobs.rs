//! Rows in apalis' job tables, written by us inside our own transactions so a
//! record and its job are committed together. The queue name is fixed and
//! documented (jobs/README.md) because external producers must know it.

use chrono::{DateTime, Utc};

/// The apalis queue (`job_type`) credverify's jobs live in.
pub const QUEUE: &str = "credverify";

/// The queue of records waiting for their screenshot to be read: served only
/// by workers with OCR engines (`worker --jobs ocr|all`). A lookup job that
/// finds a screenshot it has no engine for hands the record over here; the
/// OCR job hands it back with the reading stored.
pub const OCR_QUEUE: &str = "credverify-ocr";

/// apalis re-runs a job whose handler failed or whose worker died up to this
/// many times. Transient service failures do not count against it: those are
/// rescheduled as new jobs with backoff.
pub const JOB_MAX_ATTEMPTS: i32 = 3;

/// SQL in this module's siblings spells the OCR queue out (it sits beside
/// a bound `QUEUE` in `IN (...)`): keep them in step.
#[cfg(test)]
#[test]
fn the_ocr_queue_is_spelled_as_the_sql_spells_it() {
    assert_eq!(OCR_QUEUE, "credverify-ocr");
}

/// A job of ours (`j`) that will still run for its record (`r`): waiting,
/// running, or failed with attempts left. `$1` is [`QUEUE`].
pub(super) const LIVE_JOB: &str = "j.id = r.job_id AND j.job_type IN ($1, 'credverify-ocr') AND (j.status IN ('Pending', 'Queued', 'Running') \
     OR (j.status = 'Failed' AND j.attempts < j.max_attempts))";

impl super::Store {
    /// apalis' job table: each backend of apalis names its own.
    pub(super) fn jobs_table(&self) -> &'static str {
        match self {
            super::Store::Sqlite(_) => "Jobs",
            super::Store::Postgres(_) => "apalis.jobs",
        }
    }
}

/// The job payload: the record to verify, nothing else (the record holds the
/// rest, so a job is never stale data).
pub fn payload(record_id: i64) -> Vec<u8> {
    serde_json::json!({ "record_id": record_id })
        .to_string()
        .into_bytes()
}

/// "Run now", in the whole seconds apalis-sqlite schedules by (a fractional
/// now would be rounded up to the next second).
pub fn due_now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(0)
}

pub fn new_job_id() -> String {
    ulid::Ulid::generate().to_string()
}

/// apalis' job table as each backend keeps it.
pub trait JobTable: sqlx::Database {
    /// Inserts a pending job: `$1` id, `$2` queue, `$3` payload, `$4` most
    /// attempts, `$5` when it is due.
    const INSERT: &'static str;
    /// When a job is due, as the table keeps it.
    type RunAt;
    fn run_at(at: DateTime<Utc>) -> Self::RunAt;
}

impl JobTable for sqlx::Sqlite {
    const INSERT: &'static str = "INSERT INTO Jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) \
         VALUES ($1, $2, $3, 'Pending', 0, $4, $5, 0)";
    type RunAt = i64;
    // apalis-sqlite keeps run_at in whole unix seconds; rounding up means a
    // retry never runs before its backoff is over.
    fn run_at(at: DateTime<Utc>) -> i64 {
        at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0)
    }
}

impl JobTable for sqlx::Postgres {
    const INSERT: &'static str = "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) \
         VALUES ($1, $2, $3, 'Pending', 0, $4, $5, 0)";
    type RunAt = DateTime<Utc>;
    fn run_at(at: DateTime<Utc>) -> DateTime<Utc> {
        at
    }
}

/// Inserts `record_id`'s job into `queue`, due at `run_at`, in the caller's
/// transaction. Returns the job's id.
pub async fn insert<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    queue: &str,
    record_id: i64,
    run_at: DateTime<Utc>,
) -> Result<String, sqlx::Error>
where
    DB: JobTable,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DB::RunAt: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let id = new_job_id();
    sqlx::query(DB::INSERT)
        .bind(id.as_str())
        .bind(queue)
        .bind(payload(record_id))
        .bind(JOB_MAX_ATTEMPTS)
        .bind(DB::run_at(run_at))
        .execute(&mut **tx)
        .await?;
    Ok(id)
}
