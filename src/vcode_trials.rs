//! Trying the codes a screenshot might show until the service names the
//! candidate. A guess at a code is not the candidate's claim: a guess the
//! service does not know, or one that leads to someone else's report, says
//! nothing about the candidate, so running out of guesses sends the record
//! to a person (`vcode_uncertain`), never to a rejection.
//!
//! Even a code two readers agreed on is not the candidate's word: on the
//! held-out screenshots two readers once agreed on V for W. Its answer is
//! taken when the service has a report for it (the verdict then checks the
//! holder, so someone else's report is still rejected), but "no such code"
//! only moves on to the guesses, and then to a person. Only a typed code
//! ends in `vcode_invalid`; that lookup stays in the pipeline.

use crate::chsi::{Answer, ChsiClient, Transient};
use crate::domain::{Reason, ReasonCode, Status, VerificationCode};
use crate::parse::{Layout, ParsedScreenshot};
use crate::verdict::{self, Candidate, Lookup, Verdict};

/// Lookups one record may spend on guesses per attempt: each is a request
/// to a shared service under the cluster's rate limit.
pub const MAX_LOOKUPS: usize = 3;

/// What a screenshot offers for the code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeReads {
    /// A code two readers agreed on.
    pub confirmed: Option<String>,
    /// Guesses when they did not, best first.
    pub candidates: Vec<String>,
    /// The page prints an 在线验证码 (the reports do; the 学信档案 and
    /// app pages do not).
    pub shows_code: bool,
    /// The confirmed code was already asked, and the service does not know
    /// it: one lookup of the round is spent.
    pub confirmed_unknown: bool,
}

impl CodeReads {
    pub fn of(reading: &ParsedScreenshot) -> CodeReads {
        CodeReads {
            confirmed: reading.fields.vcode.clone(),
            candidates: reading.vcode_candidates.clone(),
            shows_code: matches!(
                reading.layout,
                Some(Layout::Report | Layout::Degree | Layout::Enrollment)
            ) || reading.fields.vcode.is_some()
                || !reading.vcode_candidates.is_empty(),
            confirmed_unknown: false,
        }
    }
}

/// How a record without a typed code goes on.
// One per record, moved once: boxing the answer buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Settled {
    /// The service's answer to be decided on: the confirmed code's (unless
    /// it is unknown), or a guess's whose report names the candidate.
    Found {
        code: VerificationCode,
        answer: Answer,
    },
    /// Decided without a report: no code on the image (rejected), or none
    /// found (review).
    Decided(Verdict),
}

/// What one guess got from the service, for the admin's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    Unknown,
    SomeoneElse,
    NoName,
    Expired,
    Closed,
}

/// Tries the screenshot's guesses in order, at most [`MAX_LOOKUPS`], through
/// the client (so under its rate limit). A transient failure ends the round:
/// the record is retried as a whole.
pub async fn settle(
    chsi: &ChsiClient,
    candidate: &Candidate,
    reads: &CodeReads,
) -> Result<Settled, Transient> {
    if !reads.shows_code && !reads.confirmed_unknown {
        return Ok(Settled::Decided(Verdict::rejected(Reason::new(
            ReasonCode::VcodeUnreadable,
        ))));
    }
    let mut misses: Vec<Miss> = Vec::new();
    if reads.confirmed_unknown {
        misses.push(Miss::Unknown);
    }
    if let Some(code) = reads
        .confirmed
        .as_deref()
        .and_then(|c| VerificationCode::parse(c).ok())
    {
        let answer = chsi.lookup(&code).await?;
        if answer.lookup != Lookup::Invalid {
            return Ok(Settled::Found { code, answer });
        }
        tracing::info!(vcode = %code, "the code read from the screenshot is unknown to the service; trying the other reads");
        misses.push(Miss::Unknown);
    }
    let guesses: Vec<VerificationCode> = reads
        .candidates
        .iter()
        .filter(|c| reads.confirmed.as_ref() != Some(*c))
        .filter_map(|c| VerificationCode::parse(c).ok())
        .collect();
    for code in guesses.iter().take(MAX_LOOKUPS - misses.len()) {
        let answer = chsi.lookup(code).await?;
        let miss = match &answer.lookup {
            // The holder check decides: someone else's report never
            // verifies anyone.
            Lookup::Found(report) if verdict::names_candidate(candidate, &report.fields) => {
                tracing::info!(
                    vcode = %code,
                    tried = misses.len() + 1,
                    "a code guessed from the screenshot led to the candidate's report"
                );
                return Ok(Settled::Found {
                    code: code.clone(),
                    answer,
                });
            }
            Lookup::Found(report) if report.fields.name.is_some() => Miss::SomeoneElse,
            Lookup::Found(_) => Miss::NoName,
            Lookup::Invalid => Miss::Unknown,
            Lookup::Expired => Miss::Expired,
            Lookup::Closed => Miss::Closed,
        };
        misses.push(miss);
    }
    tracing::info!(
        guesses = guesses.len(),
        tried = misses.len(),
        "no code guessed from the screenshot led to the candidate's report"
    );
    let read = guesses.len() + usize::from(reads.confirmed.is_some() || reads.confirmed_unknown);
    Ok(Settled::Decided(Verdict {
        status: Status::NeedsReview,
        reasons: vec![uncertain(read, &misses)],
        field_diffs: Vec::new(),
    }))
}

/// The review reason, saying what was tried but not the codes: a guess may
/// be another person's valid code, and the detail reaches the candidate.
/// The guesses themselves stay in the screenshot's reading, for admins.
fn uncertain(guesses: usize, misses: &[Miss]) -> Reason {
    let reason = Reason::new(ReasonCode::VcodeUncertain);
    if guesses == 0 {
        return reason.with_detail("the image shows an 在线验证码 that could not be read");
    }
    let parts: Vec<String> = [
        (Miss::Unknown, "unknown to the service"),
        (Miss::SomeoneElse, "another person's report"),
        (Miss::NoName, "a report whose holder could not be read"),
        (Miss::Expired, "an expired report"),
        (Miss::Closed, "a closed report"),
    ]
    .iter()
    .filter_map(|(m, what)| {
        let n = misses.iter().filter(|x| *x == m).count();
        (n > 0).then(|| format!("{n} {what}"))
    })
    .collect();
    reason.with_detail(format!(
        "the 在线验证码 read from the screenshot is uncertain: tried {} of {guesses} candidate codes ({}), none led to the candidate's report",
        misses.len(),
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_outcomes_without_naming_codes() {
        let r = uncertain(5, &[Miss::Unknown, Miss::SomeoneElse, Miss::Unknown]);
        assert_eq!(r.code, ReasonCode::VcodeUncertain);
        let d = r.detail.unwrap();
        assert!(d.contains("tried 3 of 5"), "{d}");
        assert!(d.contains("2 unknown to the service"), "{d}");
        assert!(d.contains("1 another person's report"), "{d}");
        assert!(!d.chars().any(|c| c.is_ascii_uppercase()), "{d}");
    }

    #[test]
    fn only_pages_that_print_a_code_are_worth_guessing() {
        let mut reading = ParsedScreenshot {
            layout: Some(Layout::Web),
            ..Default::default()
        };
        assert!(!CodeReads::of(&reading).shows_code);
        reading.layout = Some(Layout::Report);
        assert!(CodeReads::of(&reading).shows_code);
    }
}
