//! The review desk: what people do to records (review, revoke, re-run,
//! re-queue, withdraw) and who may do it. One service for every face — the
//! CLI and the console call the same methods — so a rule written here holds
//! everywhere. Every status change goes through the domain state machine
//! ([`Status::can_become`]) and is written as an event with who and why.

pub mod operators;
mod rerun;

use serde::{Deserialize, Serialize};

use crate::domain::reason::Severity;
use crate::domain::status::Actor;
use crate::domain::{Field, Reason, ReasonCode, Status};
use crate::store::{
    RecordView, ReopenOutcome, Store, StoreError, Transition, TransitionOutcome, WithdrawOutcome,
    Withdrawal,
};
use crate::verdict::Agreement;

pub use rerun::RerunPlan;

/// What a person on the desk may do. Reviewers decide records sent to a
/// person; admins also take decisions back, re-queue, withdraw on a
/// candidate's behalf and manage operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reviewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Reviewer, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    pub fn may(self, action: Action) -> bool {
        match self {
            Role::Admin => true,
            Role::Reviewer => action == Action::Review,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Review,
    Revoke,
    Rerun,
    Withdraw,
    ManageOperators,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Review => "review records",
            Action::Revoke => "revoke records",
            Action::Rerun => "re-run or re-queue records",
            Action::Withdraw => "withdraw records",
            Action::ManageOperators => "manage operators",
        }
    }
}

/// A person acting on the desk: their name goes into the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub role: Role,
}

impl Operator {
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Operator {
            name: name.into(),
            role,
        }
    }

    /// The event log's `actor`: `admin:NAME` or `reviewer:NAME`.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.name)
    }

    fn require(&self, action: Action) -> Result<(), AdminError> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(AdminError::Forbidden {
                name: self.name.clone(),
                role: self.role,
                action: action.verb(),
            })
        }
    }
}

/// Whether an event was written by a person (an admin decision) rather than
/// the worker, the sweep or intake.
pub fn by_person(actor: &str) -> bool {
    actor.starts_with("admin:") || actor.starts_with("reviewer:")
}

/// Who withdraws a record: the candidate (through the registration backend)
/// or an admin on their behalf.
#[derive(Debug, Clone)]
pub enum Withdrawer<'a> {
    Candidate,
    Operator(&'a Operator),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    /// Reject with a reason valid for a review; `fields` name what differs
    /// for `field_mismatch` (taken from the comparison when empty).
    Reject {
        code: ReasonCode,
        fields: Vec<Field>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("record {0} does not exist")]
    NotFound(i64),
    /// Bad input from the person acting (the CLI's usage error).
    #[error("{0}")]
    Invalid(String),
    /// A rule says no; the message says which.
    #[error("{0}")]
    Refused(String),
    #[error("{name} is a {} and may not {action}", role.as_str())]
    Forbidden {
        name: String,
        role: Role,
        action: &'static str,
    },
    #[error("record {record} changed meanwhile (now {current}); nothing was changed")]
    Stale { record: i64, current: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reasons an admin may reject a reviewed record with: the rejections a
/// verdict can reach. `revoked` is for verified records only (`revoke`).
pub fn review_rejections() -> Vec<ReasonCode> {
    ReasonCode::ALL
        .iter()
        .copied()
        .filter(|c| c.severity() == Severity::Reject && *c != ReasonCode::Revoked)
        .collect()
}

#[derive(Clone, Debug)]
pub struct AdminService {
    store: Store,
}

impl AdminService {
    pub fn new(store: Store) -> Self {
        AdminService { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn load(&self, record_id: i64) -> Result<RecordView, AdminError> {
        self.store
            .record(record_id)
            .await?
            .ok_or(AdminError::NotFound(record_id))
    }

    /// Whether a record waits for a person: sent to review, or unverified
    /// with its retries spent and no job that will run.
    pub async fn reviewable(&self, r: &RecordView) -> Result<bool, AdminError> {
        Ok(match r.status {
            Status::NeedsReview => true,
            Status::Unverified => r.retries_exhausted && !self.store.has_live_job(r.id).await?,
            _ => false,
        })
    }

    /// Decides a record sent to a person (or stuck unverified). The note is
    /// the reviewer's, kept in the event log; the candidate sees the reason's
    /// message and the fields concerned, never the note.
    pub async fn review(
        &self,
        who: &Operator,
        record_id: i64,
        decision: &Decision,
        note: &str,
    ) -> Result<Status, AdminError> {
        who.require(Action::Review)?;
        let note = required(note, "a note must say what you checked")?;
        let record = self.load(record_id).await?;
        if !self.reviewable(&record).await? {
            return Err(AdminError::Refused(match record.status {
                Status::Unverified => format!(
                    "record {record_id} is unverified and still being verified; it can be reviewed once its retries are spent"
                ),
                s => format!(
                    "record {record_id} is {s} ({}); only records waiting for a person are reviewed",
                    s.zh()
                ),
            }));
        }
        let (to, reasons) = match decision {
            // A record is verified on the service's data only (docs/ARCHITECTURE.md, "The state machine"):
            // one stuck before any answer is re-queued or rejected, not
            // approved blind.
            Decision::Approve if record.authoritative.is_none() => {
                return Err(AdminError::Refused(format!(
                    "record {record_id} has no report from the service to verify it on; re-queue it (`credverify rerun --record {record_id}`) or reject it"
                )));
            }
            Decision::Approve => (Status::Verified, Vec::new()),
            Decision::Reject { code, fields } => {
                if !review_rejections().contains(code) {
                    return Err(AdminError::Invalid(format!(
                        "`{code}` is not a reason a review can reject with; use one of: {}",
                        codes(&review_rejections())
                    )));
                }
                (
                    Status::Rejected,
                    vec![self.rejection(&record, *code, fields)?],
                )
            }
        };
        self.apply(&record, to, &who.actor(), &reasons, Some(note))
            .await?;
        Ok(to)
    }

    fn rejection(
        &self,
        record: &RecordView,
        code: ReasonCode,
        fields: &[Field],
    ) -> Result<Reason, AdminError> {
        let reason = Reason::new(code);
        if code != ReasonCode::FieldMismatch {
            return Ok(reason);
        }
        let fields: Vec<Field> = if fields.is_empty() {
            record
                .field_diffs
                .iter()
                .filter(|d| d.agreement == Agreement::Mismatch)
                .map(|d| d.field)
                .collect()
        } else {
            fields.to_vec()
        };
        if fields.is_empty() {
            // "请核对以下项目" followed by nothing helps no one.
            return Err(AdminError::Invalid(
                "field_mismatch needs the fields that differ: none differ in the comparison, so name them".into(),
            ));
        }
        Ok(reason.with_fields(fields))
    }

    /// Takes a verified record back. `reason` is shown to the candidate (e.g.
    /// the school's letter); `note` stays internal.
    pub async fn revoke(
        &self,
        who: &Operator,
        record_id: i64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<(), AdminError> {
        who.require(Action::Revoke)?;
        let reason = required(reason, "a revocation needs a reason the candidate can read")?;
        let record = self.load(record_id).await?;
        if record.status != Status::Verified {
            return Err(AdminError::Refused(format!(
                "record {record_id} is {} ({}); only verified records are revoked",
                record.status, record.status_zh
            )));
        }
        let reasons = vec![Reason::new(ReasonCode::Revoked).with_detail(reason)];
        let note = note
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(reason);
        self.apply(
            &record,
            Status::Rejected,
            &who.actor(),
            &reasons,
            Some(note),
        )
        .await
    }

    async fn apply(
        &self,
        record: &RecordView,
        to: Status,
        actor: &str,
        reasons: &[Reason],
        note: Option<&str>,
    ) -> Result<(), AdminError> {
        if !record.status.can_become(to, Actor::Admin) {
            return Err(AdminError::Refused(format!(
                "record {} cannot go from {} to {to}",
                record.id, record.status
            )));
        }
        let outcome = self
            .store
            .transition(&Transition {
                record_id: record.id,
                from: record.status,
                to,
                job_id: None,
                actor,
                reasons,
                field_diffs: &record.field_diffs,
                report: None,
                note,
            })
            .await?;
        match outcome {
            TransitionOutcome::Applied => Ok(()),
            TransitionOutcome::Stale { current } => Err(AdminError::Stale {
                record: record.id,
                current: current.map(|s| s.as_str()).unwrap_or("gone").into(),
            }),
            TransitionOutcome::DuplicateCertificate => Err(AdminError::Refused(format!(
                "record {}'s certificate is already verified for another candidate; reject it with duplicate_certificate, or revoke the other record first",
                record.id
            ))),
        }
    }

    /// Puts a record back in the queue, or re-queues a stuck unverified one,
    /// if the re-run rule allows (see [`RerunPlan`]); an event either way.
    pub async fn rerun(
        &self,
        who: &Operator,
        record_id: i64,
        force: bool,
        note: Option<&str>,
    ) -> Result<(RerunPlan, Option<ReopenOutcome>), AdminError> {
        who.require(Action::Rerun)?;
        let record = self.load(record_id).await?;
        let plan = self.plan(&record, false, force).await?;
        if !plan.reopens() {
            return Ok((plan, None));
        }
        if record.status != Status::Unverified
            && !record.status.can_become(Status::Unverified, Actor::Admin)
        {
            return Err(AdminError::Refused(format!(
                "record {record_id} cannot go from {} back to unverified",
                record.status
            )));
        }
        let outcome = self.store.reopen(record_id, &who.actor(), note).await?;
        Ok((plan, Some(outcome)))
    }

    /// Withdraws an unverified record: it stays, as `withdrawn`, and no longer
    /// counts toward the candidate's five places. `candidate_id`, when given,
    /// must be the record's (the backend names whose record it withdraws).
    pub async fn withdraw(
        &self,
        by: Withdrawer<'_>,
        record_id: i64,
        candidate_id: Option<&str>,
        note: Option<&str>,
    ) -> Result<WithdrawOutcome, AdminError> {
        let (actor_kind, actor) = match &by {
            Withdrawer::Operator(op) => {
                op.require(Action::Withdraw)?;
                (Actor::Admin, op.actor())
            }
            Withdrawer::Candidate => {
                let Some(c) = candidate_id else {
                    return Err(AdminError::Invalid(
                        "a candidate's withdrawal names the candidate".into(),
                    ));
                };
                (Actor::Candidate, format!("candidate:{c}"))
            }
        };
        let record = self.load(record_id).await?;
        if let Some(c) = candidate_id
            && c != record.candidate_id
        {
            return Err(AdminError::NotFound(record_id));
        }
        if record.status == Status::Withdrawn {
            return Ok(WithdrawOutcome::AlreadyWithdrawn);
        }
        if !record.status.can_become(Status::Withdrawn, actor_kind) {
            return Err(AdminError::Refused(format!(
                "record {record_id} is {} ({}); only unverified records can be withdrawn",
                record.status, record.status_zh
            )));
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        match self
            .store
            .withdraw(Withdrawal {
                record_id,
                candidate_id: &record.candidate_id,
                actor: &actor,
                note,
            })
            .await?
        {
            WithdrawOutcome::Refused { current } => Err(AdminError::Refused(format!(
                "record {record_id} is {current} ({}); only unverified records can be withdrawn",
                current.zh()
            ))),
            o => Ok(o),
        }
    }
}

fn codes(c: &[ReasonCode]) -> String {
    c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
}

/// `text` without its surrounding white space, or [`AdminError::Invalid`]
/// with `missing` when nothing is left.
fn required<'a>(text: &'a str, missing: &str) -> Result<&'a str, AdminError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AdminError::Invalid(missing.into()));
    }
    Ok(text)
}
