//! What our rows in apalis' job tables hold (written by `sql/jobs.rs`
//! inside our own transactions, so a record and its job are committed
//! together). The queue name is fixed and
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
