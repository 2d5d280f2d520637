//! The re-run rule: which records `rerun` may put back in the queue. Machine
//! decisions are re-run freely (the point of a re-run is to undo a wrong
//! answer from the service); a person's decision and a revocation stay final
//! unless forced, and a withdrawn record is never re-opened.

use serde::Serialize;

use super::{AdminError, AdminService, by_person};
use crate::domain::{ReasonCode, Status};
use crate::store::RecordView;

/// What re-running one record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RerunPlan {
    /// Back to unverified with a new job.
    Reopen,
    /// Unverified with no job that will run: queue it.
    Requeue,
    AlreadyQueued,
    /// Verified: ask the service again, change nothing.
    Recheck,
    SkipVerified,
    /// Revoked by an admin: final unless forced.
    SkipRevoked,
    /// Decided by a person: final unless forced.
    SkipPersonDecided,
    SkipWithdrawn,
}

impl RerunPlan {
    pub fn reopens(self) -> bool {
        matches!(self, RerunPlan::Reopen | RerunPlan::Requeue)
    }

    pub fn skipped(self) -> bool {
        matches!(
            self,
            RerunPlan::SkipVerified
                | RerunPlan::SkipRevoked
                | RerunPlan::SkipPersonDecided
                | RerunPlan::SkipWithdrawn
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            RerunPlan::Reopen => "back to unverified, verify again",
            RerunPlan::Requeue => "unverified with no job: queue it",
            RerunPlan::AlreadyQueued => "already queued: nothing to do",
            RerunPlan::Recheck => "re-check against the service; stays verified",
            RerunPlan::SkipVerified => "verified: skipped (use --include-verified to re-check)",
            RerunPlan::SkipRevoked => "revoked by an admin: skipped (use --force to re-open)",
            RerunPlan::SkipPersonDecided => "decided by a person: skipped (use --force to re-open)",
            RerunPlan::SkipWithdrawn => "withdrawn by the candidate: never re-opened",
        }
    }
}

impl AdminService {
    /// What `rerun` would do to this record. The dry run and the real run
    /// both ask here, so what the dry run says is what happens.
    pub async fn plan(
        &self,
        r: &RecordView,
        include_verified: bool,
        force: bool,
    ) -> Result<RerunPlan, AdminError> {
        Ok(match r.status {
            Status::Withdrawn => RerunPlan::SkipWithdrawn,
            Status::Verified if include_verified => RerunPlan::Recheck,
            Status::Verified => RerunPlan::SkipVerified,
            Status::Rejected
                if !force && r.reasons.iter().any(|x| x.code == ReasonCode::Revoked) =>
            {
                RerunPlan::SkipRevoked
            }
            Status::Rejected | Status::NeedsReview
                if !force && self.decided_by_person(r.id).await? =>
            {
                RerunPlan::SkipPersonDecided
            }
            Status::Rejected | Status::NeedsReview => RerunPlan::Reopen,
            Status::Unverified if self.store.has_live_job(r.id).await? => RerunPlan::AlreadyQueued,
            Status::Unverified => RerunPlan::Requeue,
        })
    }

    /// Whether the event that put the record in its current status was a
    /// person's.
    async fn decided_by_person(&self, record_id: i64) -> Result<bool, AdminError> {
        let events = self.store.events(record_id).await?;
        Ok(events
            .iter()
            .rev()
            .find(|e| e.from != Some(e.to))
            .is_some_and(|e| by_person(&e.actor)))
    }
}
