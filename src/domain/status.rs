//! A record's status and the transitions between them (docs/ARCHITECTURE.md, "The state machine").

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Unverified,
    Verified,
    Rejected,
    NeedsReview,
    /// Taken back by the candidate before any decision; frees its place.
    Withdrawn,
}

/// Who asks for a transition: the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Worker,
    Admin,
    /// The candidate, through the registration backend.
    Candidate,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Unverified,
        Status::Verified,
        Status::Rejected,
        Status::NeedsReview,
        Status::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unverified => "unverified",
            Status::Verified => "verified",
            Status::Rejected => "rejected",
            Status::NeedsReview => "needs_review",
            Status::Withdrawn => "withdrawn",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Status::Unverified => "未核验",
            Status::Verified => "已核验",
            Status::Rejected => "核验未通过",
            Status::NeedsReview => "待人工复核",
            Status::Withdrawn => "已撤回",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether `actor` may move a record from `self` to `to`. `verified` is
    /// final except by an admin's explicit revocation; `withdrawn` is final.
    /// Only the worker and admins decide; only the candidate (or an admin on
    /// their behalf) withdraws, and only before a decision.
    pub fn can_become(self, to: Status, actor: Actor) -> bool {
        use Status::*;
        matches!(
            (self, to, actor),
            (
                Unverified,
                Verified | Rejected | NeedsReview,
                Actor::Worker | Actor::Admin
            ) | (Unverified, Withdrawn, Actor::Candidate | Actor::Admin)
                | (NeedsReview, Verified | Rejected, Actor::Admin)
                | (Rejected | NeedsReview, Unverified, Actor::Admin)
                | (Verified, Rejected | Unverified, Actor::Admin)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn worker_decides_only_unverified_records() {
        for to in [Verified, Rejected, NeedsReview] {
            assert!(Unverified.can_become(to, Actor::Worker));
        }
        for from in [Verified, Rejected, NeedsReview] {
            for to in Status::ALL {
                assert!(!from.can_become(to, Actor::Worker), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn only_admins_revoke_review_or_rerun() {
        assert!(NeedsReview.can_become(Verified, Actor::Admin));
        assert!(NeedsReview.can_become(Rejected, Actor::Admin));
        assert!(Rejected.can_become(Unverified, Actor::Admin));
        assert!(Verified.can_become(Rejected, Actor::Admin));
        assert!(!Rejected.can_become(Verified, Actor::Admin));
        assert!(!Verified.can_become(Verified, Actor::Admin));
    }

    #[test]
    fn only_unverified_records_are_withdrawn_and_never_come_back() {
        assert!(Unverified.can_become(Withdrawn, Actor::Candidate));
        assert!(Unverified.can_become(Withdrawn, Actor::Admin));
        assert!(!Unverified.can_become(Withdrawn, Actor::Worker));
        for from in [Verified, Rejected, NeedsReview] {
            assert!(!from.can_become(Withdrawn, Actor::Candidate), "{from}");
            assert!(!from.can_become(Withdrawn, Actor::Admin), "{from}");
        }
        for to in Status::ALL {
            for actor in [Actor::Worker, Actor::Admin, Actor::Candidate] {
                assert!(!Withdrawn.can_become(to, actor), "withdrawn -> {to}");
            }
        }
        assert!(!Unverified.can_become(Verified, Actor::Candidate));
    }

    #[test]
    fn status_strings_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
