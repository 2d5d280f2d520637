//! The job as apalis delivers it. Payloads are decoded inside the handler, not
//! by apalis' codec: a row whose payload does not decode must become one
//! failed job, not an error that stops the worker's fetch loop.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{AbortError, Attempt, BoxDynError, Codec, Data, TaskId};
use futures::FutureExt;
use serde::Deserialize;
use tracing::Instrument;

use crate::pipeline::{self, Env, PipelineError};

/// The payload bytes, untouched.
#[derive(Debug, Clone)]
pub struct RawJob(pub Vec<u8>);

/// Passes bytes through; decoding is the handler's business.
#[derive(Debug, Clone, Default)]
pub struct RawCodec;

impl Codec<RawJob> for RawCodec {
    type Error = Infallible;
    type Compact = Vec<u8>;

    fn encode(&self, job: &RawJob) -> Result<Vec<u8>, Infallible> {
        Ok(job.0.clone())
    }

    fn decode(&self, bytes: &Vec<u8>) -> Result<RawJob, Infallible> {
        Ok(RawJob(bytes.clone()))
    }
}

/// `{"record_id": 42}`; the id may also arrive as a string from producers
/// that quote every value.
#[derive(Debug, Deserialize)]
pub struct JobPayload {
    #[serde(deserialize_with = "int_or_string")]
    pub record_id: i64,
}

fn int_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrString {
        Int(i64),
        Str(String),
    }
    match IntOrString::deserialize(d)? {
        IntOrString::Int(i) => Ok(i),
        IntOrString::Str(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

impl JobPayload {
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| {
            let shown: String = String::from_utf8_lossy(bytes).chars().take(80).collect();
            format!("job payload `{shown}` is not {{\"record_id\": N}}: {e}")
        })
    }
}

/// Runs of one job beyond which it is set aside: each worker death while
/// holding it counts one, each handler error one (apalis stops re-running a
/// failed job at its own `max_attempts`).
const CRASH_LIMIT: usize = crate::store::JOB_MAX_ATTEMPTS as usize + 2;

/// How long a failing handler waits before giving its job back, so that
/// apalis' immediate re-fetch of failed jobs is not a tight loop.
const FAILURE_PAUSE: Duration = Duration::from_secs(2);

/// What a job does with its record: each queue has its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Ask the service and decide (`pipeline::verify`).
    Lookup,
    /// Read the screenshot and hand the record back (`pipeline::read_stage`).
    Read,
}

impl Stage {
    /// The stage of the jobs in `queue`.
    pub fn of_queue(queue: &str) -> Stage {
        if queue == crate::store::OCR_QUEUE {
            Stage::Read
        } else {
            Stage::Lookup
        }
    }
}

/// The apalis handler, for either queue's [`Stage`]: decode, verify or read,
/// and map the outcome to the job's fate. `Ok` completes the job (decided,
/// handed over, rescheduled or nothing to do); an `AbortError` kills it for
/// good (a bad job); any other error lets apalis retry it up to the job's
/// `max_attempts`.
pub async fn handle(
    job: RawJob,
    task_id: TaskId,
    attempt: Attempt,
    env: Data<Arc<Env>>,
    stage: Data<Stage>,
) -> Result<(), BoxDynError> {
    let payload = match JobPayload::decode(&job.0) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(job_id = %task_id, error = %e, "poison job set aside");
            crate::metrics::job_outcome("poison");
            return Err(AbortError::new(e).into());
        }
    };
    let span = tracing::info_span!("job", record_id = payload.record_id, job_id = %task_id);
    let job_id = task_id.to_string();
    if attempt.current() > CRASH_LIMIT {
        // Workers keep dying on this job (their deaths re-queue it, which
        // apalis counts as attempts): stop, and hand the record to an admin.
        let error = format!(
            "the worker stopped {} times while verifying this record",
            attempt.current() - 1
        );
        tracing::error!(parent: &span, %error, "giving up on the job; record flagged for admins");
        let r = crate::store::Retry {
            record_id: payload.record_id,
            job_id: Some(&job_id),
            error: &error,
            run_at: chrono::Utc::now(),
            exhausted: true,
        };
        env.store
            .schedule_retry(&r)
            .await
            .map_err(|e| -> BoxDynError { e.into() })?;
        return Err(AbortError::new(error).into());
    }
    let work = async {
        match *stage {
            Stage::Lookup => pipeline::verify(&env, payload.record_id, &job_id).await,
            Stage::Read => pipeline::read_stage(&env, payload.record_id, &job_id).await,
        }
    };
    let run = AssertUnwindSafe(work).catch_unwind();
    let result = match run.instrument(span.clone()).await {
        Ok(result) => result,
        Err(panic) => {
            // A bug, not the candidate's fault and not the service's: keep
            // the record unverified and let the retry budget bring it to an
            // admin if it keeps happening.
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(parent: &span, panic = %msg, "job panicked");
            pipeline::internal_failure(
                &env,
                payload.record_id,
                &job_id,
                format!("internal error: {msg}"),
            )
            .instrument(span.clone())
            .await
        }
    };
    let _entered = span.enter();
    match result {
        Ok(outcome) => {
            crate::metrics::job_outcome(&outcome.metric_label());
            Ok(())
        }
        Err(PipelineError::MissingRecord(id)) => {
            tracing::error!(
                record_id = id,
                "job names a record that does not exist; set aside"
            );
            Err(AbortError::new(format!("record {id} does not exist")).into())
        }
        Err(e) => {
            tracing::error!(error = %crate::errors::Chain(&e), "job failed; it will be retried");
            crate::metrics::job_outcome("error");
            tokio::time::sleep(FAILURE_PAUSE).await;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_accepts_numbers_and_quoted_numbers() {
        assert_eq!(
            JobPayload::decode(br#"{"record_id": 42}"#)
                .unwrap()
                .record_id,
            42
        );
        assert_eq!(
            JobPayload::decode(br#"{"record_id": "42"}"#)
                .unwrap()
                .record_id,
            42
        );
    }

    #[test]
    fn bad_payloads_are_errors_not_panics() {
        for bad in [
            &b"not json"[..],
            b"",
            b"{}",
            br#"{"record_id": "x"}"#,
            b"\xff\xfe",
            b"[1,2]",
        ] {
            assert!(JobPayload::decode(bad).is_err());
        }
    }
}
