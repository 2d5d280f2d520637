//! What the review desk is told when it withdraws a record.

use crate::domain::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithdrawOutcome {
    Withdrawn,
    /// Withdrawn before: nothing written again.
    AlreadyWithdrawn,
    /// Decided meanwhile: a decided record cannot be withdrawn.
    Refused {
        current: Status,
    },
}
