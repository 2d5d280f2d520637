//! A record's status and the transitions between them (DESIGN §3).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Unverified,
    Verified,
    Rejected,
    NeedsReview,
}

/// Who asks for a transition: the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Worker,
    Admin,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Unverified,
        Status::Verified,
        Status::Rejected,
        Status::NeedsReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unverified => "unverified",
            Status::Verified => "verified",
            Status::Rejected => "rejected",
            Status::NeedsReview => "needs_review",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Status::Unverified => "未核验",
            Status::Verified => "已核验",
            Status::Rejected => "核验未通过",
            Status::NeedsReview => "待人工复核",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether `actor` may move a record from `self` to `to`. `verified` is
    /// final except by an admin's explicit revocation.
    pub fn can_become(self, to: Status, actor: Actor) -> bool {
        use Status::*;
        matches!(
            (self, to, actor),
            (Unverified, Verified | Rejected | NeedsReview, _)
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
