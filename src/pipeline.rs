//! Verifying one record, start to finish: load it, read its screenshot, ask
//! the service, decide, and write the outcome. Independent of the queue, so
//! it can be driven by a job, a test or an admin command alike.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::RngExt;

use crate::chsi::{ChsiClient, Transient};
use crate::domain::{CredentialFields, Field, IdKey, Reason, ReasonCode, Status, VerificationCode};
use crate::retry::RetryPolicy;
use crate::store::{
    JobRecord, Retry, RetryOutcome, Store, StoreError, Transition, TransitionOutcome,
};
use crate::uploads::{FetchError, Uploads};
use crate::vcode_trials::{self, CodeReads, Settled};
use crate::verdict::{self, Context, Lookup, Verdict};

mod ask;

/// What a screenshot said, as kept on the record (`layout: None`: not a CHSI
/// result at all).
pub type ScreenshotReading = crate::parse::ParsedScreenshot;

/// Why a screenshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The upload itself is bad: the candidate must upload again.
    #[error("{0}")]
    Unreadable(String),
    /// Our reader failed: not the candidate's fault, retry.
    #[error("screenshot reader failed: {0}")]
    Engine(String),
}

/// Reads screenshots. The OCR engine pool implements it; a deployment without
/// OCR has none and screenshot records wait for one.
#[async_trait::async_trait]
pub trait ScreenshotReader: Send + Sync {
    async fn read(&self, image: Vec<u8>) -> Result<ScreenshotReading, ReadError>;

    /// One line of text from an image (a value the verification service
    /// draws as one), with the engine's confidence.
    async fn read_line(&self, _image: Vec<u8>) -> Result<crate::ocr::LineReading, ReadError> {
        Err(ReadError::Engine(
            "this reader cannot read single lines".into(),
        ))
    }
}

/// What a job needs, built once per process.
pub struct Env {
    pub store: Store,
    pub chsi: Arc<ChsiClient>,
    pub retry: RetryPolicy,
    pub reader: Option<Arc<dyn ScreenshotReader>>,
    /// Where screenshots handed over by reference may come from.
    pub uploads: Uploads,
    /// The ID-number HMAC key (README "Records and rules"). A record whose
    /// number is still pending is sealed with it first; without it such a
    /// record waits (retried, never decided) for a worker that has it.
    pub id_key: Option<IdKey>,
}

/// How one run of the pipeline ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Decided(Status, Vec<ReasonCode>),
    /// Transient failure; next attempt scheduled.
    Retrying {
        error: String,
        after: Duration,
    },
    /// Transient failure with the retry budget spent: flagged for admins.
    RetriesExhausted {
        error: String,
    },
    /// Already decided (e.g. a job delivered twice): nothing to do.
    AlreadyDecided(Status),
    /// A newer job owns the record.
    Superseded,
    /// Moved to another queue without counting an attempt: to the OCR queue
    /// when this worker cannot read the screenshot, back to the lookup queue
    /// once the reading is stored.
    HandedOver {
        queue: &'static str,
    },
}

impl Outcome {
    /// The `outcome` label of `credverify_jobs_total`: `metrics` takes
    /// labels, so it needs nothing from the pipeline.
    pub fn metric_label(&self) -> String {
        match self {
            Outcome::Decided(status, _) => format!("decided_{status}"),
            Outcome::Retrying { .. } => "retrying".into(),
            Outcome::RetriesExhausted { .. } => "retries_exhausted".into(),
            Outcome::AlreadyDecided(_) => "already_decided".into(),
            Outcome::Superseded => "superseded".into(),
            Outcome::HandedOver { queue } => format!("handed_to_{queue}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The job names a record that does not exist: a bad job, not a retry.
    #[error("record {0} does not exist")]
    MissingRecord(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the evidence says about a record, before anything is written.
// One per job, moved once: boxing the verdict buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Assessment {
    Decided {
        claimed: CredentialFields,
        verdict: Verdict,
        lookup: Option<Lookup>,
        ctx: Context,
    },
    /// Nothing can be concluded now; try again later.
    Transient(String),
    /// The screenshot must be read first, and this worker has no engine.
    NeedsReading,
}

/// Verifies record `record_id` on behalf of job `job_id`.
pub async fn verify(env: &Env, record_id: i64, job_id: &str) -> Result<Outcome, PipelineError> {
    let rec = match claim(env, record_id, job_id).await? {
        ControlFlow::Continue(rec) => rec,
        ControlFlow::Break(outcome) => return Ok(outcome),
    };
    match assess(env, &rec).await? {
        Assessment::Decided {
            claimed,
            verdict,
            lookup,
            ctx,
        } => finish(env, &rec, job_id, &claimed, verdict, lookup.as_ref(), ctx).await,
        Assessment::Transient(error) => retry(env, &rec, job_id, error).await,
        Assessment::NeedsReading => hand_over(env, &rec, job_id, crate::store::OCR_QUEUE).await,
    }
}

/// The OCR queue's job: reads record `record_id`'s screenshot and stores the
/// reading, then hands the record back to the lookup queue. An unreadable
/// image is decided here (rejected, `image_unreadable`), as the lookup job
/// would decide it.
pub async fn read_stage(env: &Env, record_id: i64, job_id: &str) -> Result<Outcome, PipelineError> {
    let rec = match claim(env, record_id, job_id).await? {
        ControlFlow::Continue(rec) => rec,
        ControlFlow::Break(outcome) => return Ok(outcome),
    };
    match claimed_fields(env, &rec).await? {
        Ok(_) => hand_over(env, &rec, job_id, crate::store::QUEUE).await,
        Err(Step::Decide(verdict)) => {
            finish(
                env,
                &rec,
                job_id,
                &rec.claimed,
                verdict,
                None,
                Context::default(),
            )
            .await
        }
        Err(Step::Retry(error)) => retry(env, &rec, job_id, error).await,
        Err(Step::HandOff) => {
            retry(
                env,
                &rec,
                job_id,
                "no screenshot reader in this worker".into(),
            )
            .await
        }
    }
}

/// The record job `job_id` is to work on, its ID number sealed; or the
/// job's outcome when there is nothing for it to do: the record is decided
/// already, a newer job owns it, or it must wait to be sealed.
async fn claim(
    env: &Env,
    record_id: i64,
    job_id: &str,
) -> Result<ControlFlow<Outcome, JobRecord>, PipelineError> {
    let rec = load(env, record_id).await?;
    if rec.status != Status::Unverified {
        tracing::info!(status = %rec.status, "record already decided; nothing to do");
        return Ok(ControlFlow::Break(Outcome::AlreadyDecided(rec.status)));
    }
    if rec.job_id.as_deref().is_some_and(|owner| owner != job_id) {
        tracing::info!("a newer job owns this record; dropping this one");
        return Ok(ControlFlow::Break(Outcome::Superseded));
    }
    Ok(match seal(env, &rec, job_id).await? {
        Some(waiting) => ControlFlow::Break(waiting),
        None => ControlFlow::Continue(rec),
    })
}

/// Record `record_id` as its job sees it: a record gone is an error.
async fn load(env: &Env, record_id: i64) -> Result<JobRecord, PipelineError> {
    env.store
        .job_record(record_id)
        .await?
        .ok_or(PipelineError::MissingRecord(record_id))
}

/// Seals the record's ID number if it is still pending (`RecordStore::seal_id_number`), so
/// no record is decided while the database holds its full number. `None`:
/// go on; otherwise the record waits for a worker with the key (our
/// misconfiguration, never the candidate's rejection).
async fn seal(env: &Env, rec: &JobRecord, job_id: &str) -> Result<Option<Outcome>, PipelineError> {
    if !rec.id_number_pending {
        return Ok(None);
    }
    match &env.id_key {
        Some(key) => {
            env.store.seal_id_number(rec.id, key).await?;
            Ok(None)
        }
        None => {
            tracing::error!(
                "the record's ID number is not sealed and this worker has no ID-number key"
            );
            retry(
                env,
                rec,
                job_id,
                "ID number not sealed: this worker has no --id-hmac-key-file".into(),
            )
            .await
            .map(Some)
        }
    }
}

async fn hand_over(
    env: &Env,
    rec: &JobRecord,
    job_id: &str,
    queue: &'static str,
) -> Result<Outcome, PipelineError> {
    match env
        .store
        .requeue_in(queue, rec.id, Some(job_id), crate::store::due_now())
        .await?
    {
        Some(_) => {
            tracing::info!(queue, "record handed over");
            Ok(Outcome::HandedOver { queue })
        }
        None => Ok(Outcome::Superseded),
    }
}

/// Reads the claim (screenshot and typed fields), asks the service and
/// decides, writing nothing but the screenshot's reading. Used by the worker
/// and by admins re-checking verified records.
pub async fn assess(env: &Env, rec: &JobRecord) -> Result<Assessment, PipelineError> {
    let decided = |claimed: CredentialFields, verdict| Assessment::Decided {
        claimed,
        verdict,
        lookup: None,
        ctx: Context::default(),
    };
    let (mut claimed, read_from_screenshot, code_reads) = match claimed_fields(env, rec).await? {
        Ok(fields) => fields,
        Err(Step::Decide(verdict)) => return Ok(decided(rec.claimed.clone(), verdict)),
        Err(Step::Retry(error)) => return Ok(Assessment::Transient(error)),
        Err(Step::HandOff) => return Ok(Assessment::NeedsReading),
    };
    // A typed code is the candidate's word; a code two of the screenshot's
    // readers agree on is asked the same way (its unrecognised answers are
    // kept and counted), but "no such code" only moves on to the guesses.
    let mut reads = code_reads;
    let typed = rec.claimed.verification_code();
    let confirmed = reads
        .confirmed
        .as_deref()
        .and_then(|c| VerificationCode::parse(c).ok());
    let mut found = None;
    if let Some(code) = typed.clone().or(confirmed) {
        match ask::ask(env, rec, &code).await? {
            ask::Asked::Answer(a) if typed.is_some() || a.lookup != Lookup::Invalid => {
                claimed.vcode = Some(code.expose().to_string());
                found = Some(a);
            }
            ask::Asked::Answer(_) => {
                tracing::info!(vcode = %code, "the code read from the screenshot is unknown to the service; trying the other reads");
                reads.confirmed = None;
                reads.confirmed_unknown = true;
            }
            ask::Asked::Transient(error) => return Ok(Assessment::Transient(error)),
            ask::Asked::Decided(verdict) => return Ok(decided(claimed, verdict)),
        }
    }
    let mut answer = match found {
        Some(a) => a,
        // No code confirmed: what the screenshot's reads offer is tried.
        None => match vcode_trials::settle(&env.chsi, &rec.candidate, &reads).await {
            Ok(Settled::Found { code, answer }) => {
                claimed.vcode = Some(code.expose().to_string());
                answer
            }
            Ok(Settled::Decided(verdict)) => return Ok(decided(claimed, verdict)),
            Err(t) => return Ok(Assessment::Transient(describe(&t))),
        },
    };
    let mut ctx = Context {
        report_unreadable: answer.unreadable.clone(),
        report_inconsistent: answer.inconsistent.clone(),
        read_from_screenshot,
        ..Context::default()
    };
    if let Err(error) = ask::read_drawn(env, &rec.candidate.name, &mut answer, &mut ctx).await {
        return Ok(Assessment::Transient(error));
    }
    let verdict = verdict::decide(&rec.candidate, &claimed, &answer.lookup, &ctx);
    Ok(Assessment::Decided {
        claimed,
        verdict,
        lookup: Some(answer.lookup),
        ctx,
    })
}

/// Something in our own code failed while verifying: treated like a transient
/// failure, so the record is retried with backoff and, if it keeps failing,
/// flagged for admins instead of looping or being lost.
pub async fn internal_failure(
    env: &Env,
    record_id: i64,
    job_id: &str,
    error: String,
) -> Result<Outcome, PipelineError> {
    let rec = load(env, record_id).await?;
    if rec.status != Status::Unverified {
        return Ok(Outcome::AlreadyDecided(rec.status));
    }
    retry(env, &rec, job_id, error).await
}

fn describe(t: &Transient) -> String {
    format!("{}: {t}", t.kind())
}

enum Step {
    Decide(Verdict),
    Retry(String),
    HandOff,
}

/// The fields the candidate claims: the screenshot's reading merged with
/// typed fields (typed values win), which of them only the screenshot
/// supplied, and what it offers for a code it could not confirm.
async fn claimed_fields(
    env: &Env,
    rec: &JobRecord,
) -> Result<Result<(CredentialFields, Vec<Field>, CodeReads), Step>, PipelineError> {
    if !rec.has_screenshot {
        let Some(reference) = rec.screenshot_ref.as_deref() else {
            return Ok(Ok((rec.claimed.clone(), Vec::new(), CodeReads::default())));
        };
        match env.uploads.fetch(reference).await {
            Ok(bytes) => env.store.attach_screenshot(rec.id, &bytes).await?,
            Err(FetchError::Refused(detail)) => {
                tracing::warn!(%detail, "screenshot reference refused");
                let reason = Reason::new(ReasonCode::ImageUnreadable).with_detail(detail);
                return Ok(Err(Step::Decide(Verdict::rejected(reason))));
            }
            Err(FetchError::Transient(detail)) => return Ok(Err(Step::Retry(detail))),
            // Our configuration, not the candidate's upload: the record waits
            // (retried, then flagged) for a worker that can fetch it.
            Err(FetchError::Misconfigured(detail)) => {
                tracing::error!(%detail, "this worker cannot fetch screenshot references: fix its configuration");
                crate::metrics::our_fault("configuration");
                return Ok(Err(Step::Retry(format!("configuration: {detail}"))));
            }
        }
    }
    let reading = match rec
        .reading
        .as_ref()
        .and_then(|v| serde_json::from_value::<ScreenshotReading>(v.clone()).ok())
    {
        Some(r) => r,
        None => {
            let Some(reader) = env.reader.as_ref() else {
                return Ok(Err(Step::HandOff));
            };
            // A record that says it has a screenshot but has no row is our
            // data fault: retried, then flagged for an admin, never rejected.
            let Some(image) = env.store.screenshot(rec.id).await? else {
                tracing::error!("the record's screenshot is missing from the database");
                crate::metrics::our_fault("data");
                return Ok(Err(Step::Retry(
                    "data fault: the record's screenshot is missing from the database".into(),
                )));
            };
            match reader.read(image).await {
                Ok(r) => {
                    let json = serde_json::to_value(&r).unwrap_or_default();
                    env.store.save_reading(rec.id, &json).await?;
                    r
                }
                Err(ReadError::Unreadable(detail)) => {
                    let reason = Reason::new(ReasonCode::ImageUnreadable).with_detail(detail);
                    return Ok(Err(Step::Decide(Verdict::rejected(reason))));
                }
                Err(e @ ReadError::Engine(_)) => {
                    crate::metrics::our_fault("ocr_engine");
                    return Ok(Err(Step::Retry(e.to_string())));
                }
            }
        }
    };
    // A typed code makes the screenshot's page type irrelevant: the code is
    // what gets verified.
    if reading.layout.is_none() && rec.claimed.vcode.is_none() {
        return Ok(Err(Step::Decide(Verdict::rejected(Reason::new(
            ReasonCode::NotAChsiResult,
        )))));
    }
    let mut read = reading.fields.clone();
    read.kind = read.kind.or(reading.kind);
    let only_read: Vec<Field> = Field::ALL
        .iter()
        .copied()
        .filter(|f| read.get(*f).is_some() && rec.claimed.get(*f).is_none())
        .collect();
    Ok(Ok((
        read.merged_with(&rec.claimed),
        only_read,
        CodeReads::of(&reading),
    )))
}

async fn finish(
    env: &Env,
    rec: &JobRecord,
    job_id: &str,
    claimed: &CredentialFields,
    mut verdict: Verdict,
    lookup: Option<&Lookup>,
    mut ctx: Context,
) -> Result<Outcome, PipelineError> {
    let report = match lookup {
        Some(Lookup::Found(r)) => Some(r),
        _ => None,
    };
    let note = ask::drawn_note(&ctx);
    loop {
        let t = Transition {
            record_id: rec.id,
            from: Status::Unverified,
            to: verdict.status,
            job_id: Some(job_id),
            actor: "worker",
            reasons: &verdict.reasons,
            field_diffs: &verdict.field_diffs,
            report,
            note: note.as_deref(),
        };
        match env.store.transition(&t).await? {
            TransitionOutcome::Applied => {
                // Codes as the API and `list --reason` spell them.
                let codes: Vec<&str> = verdict.reasons.iter().map(|r| r.code.as_str()).collect();
                tracing::info!(status = %verdict.status, reasons = %codes.join(","), "record decided");
                return Ok(Outcome::Decided(verdict.status, verdict.reason_codes()));
            }
            TransitionOutcome::Stale { current } => {
                tracing::info!(
                    current = current.map(|s| s.as_str()).unwrap_or("gone"),
                    "record changed under us; leaving it"
                );
                return Ok(match current {
                    Some(s) if s != Status::Unverified => Outcome::AlreadyDecided(s),
                    _ => Outcome::Superseded,
                });
            }
            TransitionOutcome::DuplicateCertificate => match lookup {
                // The second verdict cannot verify, so this loops at most once.
                Some(lookup) if !ctx.certificate_verified_for_other => {
                    ctx.certificate_verified_for_other = true;
                    verdict = verdict::decide(&rec.candidate, claimed, lookup, &ctx);
                }
                _ => {
                    return Err(PipelineError::Store(StoreError::Corrupt {
                        record_id: rec.id,
                        detail: "duplicate-certificate check without a report".into(),
                    }));
                }
            },
        }
    }
}

async fn retry(
    env: &Env,
    rec: &JobRecord,
    job_id: &str,
    error: String,
) -> Result<Outcome, PipelineError> {
    let failures = u32::try_from(rec.attempts).unwrap_or(0) + 1;
    let delay = env.retry.delay(failures, rand::rng().random::<f64>());
    let run_at = Utc::now() + delay.unwrap_or_default();
    let r = Retry {
        record_id: rec.id,
        job_id: Some(job_id),
        error: &error,
        run_at,
        exhausted: delay.is_none(),
    };
    match env.store.schedule_retry(&r).await? {
        RetryOutcome::Scheduled { .. } => {
            let after = delay.unwrap_or_default();
            tracing::warn!(%error, attempt = failures, retry_in_s = after.as_secs(), "transient failure; will retry");
            Ok(Outcome::Retrying { error, after })
        }
        RetryOutcome::Exhausted => {
            tracing::error!(%error, attempts = failures, "transient failures exhausted the retry budget; flagged for admins");
            Ok(Outcome::RetriesExhausted { error })
        }
        RetryOutcome::Stale => Ok(Outcome::Superseded),
    }
}
