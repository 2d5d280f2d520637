//! Asking the verification service about a record's code: the lookup, the
//! values the report draws as images (read by the OCR engines), and what
//! becomes of answers the client cannot recognise (kept, counted, and after
//! a few, handed to a person).

use super::{Env, ReadError};
use crate::chsi::{Answer, DrawnImage, LookupFailure, Transient};
use crate::domain::fields::{FieldClass, normalize_value};
use crate::domain::text::{is_cjk, normalize_name, substitutions};
use crate::domain::{Field, Reason, ReasonCode, Status, VerificationCode};
use crate::store::{JobRecord, UnrecognisedAnswer};
use crate::verdict::{Context, Lookup, Verdict};

/// Below this mean confidence (Tesseract's, 0–100) a drawn value is not
/// taken as read: a person looks at it. A name misread with confidence
/// would reject a candidate for our failure.
pub const MIN_DRAWN_CONFIDENCE: u8 = 70;

/// What asking came to.
// One per job, moved once: boxing the answer buys nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Asked {
    Answer(Answer),
    /// Try again later.
    Transient(String),
    /// Decided without a report (the answers keep coming back unrecognised).
    Decided(Verdict),
}

pub(super) async fn ask(
    env: &Env,
    rec: &JobRecord,
    code: &VerificationCode,
) -> Result<Asked, crate::store::StoreError> {
    match env.chsi.lookup_keeping_page(code).await {
        Ok(answer) => Ok(Asked::Answer(answer)),
        Err(LookupFailure {
            error: error @ Transient::UnrecognisedPage(_),
            page: Some(page),
        }) => {
            let count = env
                .store
                .keep_unrecognised_page(
                    rec.id,
                    UnrecognisedAnswer {
                        http_status: page.status,
                        detail: &error.to_string(),
                        body: &page.body,
                    },
                )
                .await?;
            let limit = i64::from(env.chsi.config().unrecognised_limit.max(1));
            if count < limit {
                return Ok(Asked::Transient(redacted(rec, &error)));
            }
            tracing::error!(
                answers = count,
                "the service's answers for this record keep coming back unrecognised; handed to a person"
            );
            env.store.clear_unrecognised_count(rec.id).await?;
            Ok(Asked::Decided(Verdict {
                status: Status::NeedsReview,
                reasons: vec![Reason::new(ReasonCode::PageUnrecognised).with_detail(format!(
                    "{count} answers of the verification service were not recognised; the last is kept (credverify page {})",
                    rec.id
                ))],
                field_diffs: Vec::new(),
            }))
        }
        Err(f) => Ok(Asked::Transient(redacted(rec, &f.error))),
    }
}

/// The error as kept on the record: page snippets can carry a code, an ID
/// number or a name, which stay out of `last_error` and the events (the raw
/// page is in the page store).
fn redacted(rec: &JobRecord, error: &Transient) -> String {
    crate::redact::snippet(&super::describe(error), &[rec.candidate.name.as_str()])
}

/// Reads the values the report drew as images into it, and notes in `ctx`
/// which came from an image and how sure the reading was. `Err`: nothing can
/// be decided now (no OCR engines here, or they failed).
pub(super) async fn read_drawn(
    env: &Env,
    registered_name: &str,
    answer: &mut Answer,
    ctx: &mut Context,
) -> Result<(), String> {
    if answer.drawn.is_empty() {
        return Ok(());
    }
    let Lookup::Found(report) = &mut answer.lookup else {
        return Ok(());
    };
    let Some(reader) = env.reader.as_ref() else {
        // Deciding without the name would verify a record unchecked: leave
        // it to a worker that has the engines.
        return Err("no OCR engines in this worker to read the report's values drawn as images; left for a worker with them".into());
    };
    for DrawnImage { field, image } in std::mem::take(&mut answer.drawn) {
        let bytes = match image {
            Ok(b) => b,
            Err(why) => {
                tracing::warn!(%field, %why, "a drawn report value is no usable image");
                ctx.report_unreadable.push(field);
                continue;
            }
        };
        match reader.read_line(bytes).await {
            Ok(line) => {
                let confidence = crate::parse::percent(line.confidence);
                match normalize_value(field, &line.text) {
                    Some(v)
                        if confidence >= MIN_DRAWN_CONFIDENCE
                            && plausible(field, &v)
                            && !(field == Field::name && misread_nearby(registered_name, &v)) =>
                    {
                        report.fields.set(field, v);
                        ctx.read_from_images.push((field, confidence));
                    }
                    _ => {
                        tracing::warn!(%field, confidence, "a drawn report value could not be read with confidence");
                        ctx.report_unreadable.push(field);
                    }
                }
            }
            Err(ReadError::Unreadable(why)) => {
                tracing::warn!(%field, %why, "a drawn report value is no readable image");
                ctx.report_unreadable.push(field);
            }
            Err(e @ ReadError::Engine(_)) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Whether a value read from an image can be what the service drew: a
/// name is Chinese characters (a minority name joined by `·`), 毕(结)业 one
/// of its three words. Strokes read as Latin letters are no name, however
/// sure the engine is, and rejecting a candidate for them would be our
/// failure.
fn plausible(field: Field, value: &str) -> bool {
    match field.class() {
        FieldClass::Name => {
            let n = value.chars().count();
            (2..=30).contains(&n) && value.chars().all(|c| is_cjk(c) || c == '·')
        }
        _ if field == Field::completion => matches!(value, "毕业" | "结业" | "肄业"),
        _ if field == Field::gender => matches!(value, "男" | "女"),
        _ => true,
    }
}

/// A name read from an image that is near the registered one without being
/// one character off (the rule's `name_near_match`): a glyph split in two
/// (雯 → 和堆) or two slips. That is the engine's doubt, not another person:
/// a person compares. A name far from the registered one (three or more
/// edits) is another holder.
fn misread_nearby(registered: &str, read: &str) -> bool {
    let (a, b) = (normalize_name(registered), normalize_name(read));
    a != b && substitutions(&a, &b) != Some(1) && edit_distance(&a, &b) <= 2
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// For the decision's event: which report values came from images.
pub(super) fn drawn_note(ctx: &Context) -> Option<String> {
    if ctx.read_from_images.is_empty() {
        return None;
    }
    let parts: Vec<String> = ctx
        .read_from_images
        .iter()
        .map(|(f, c): &(Field, u8)| format!("{} (confidence {c})", f.key()))
        .collect();
    Some(format!(
        "read from the service's images: {}",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_service_could_have_drawn_is_taken_as_read() {
        assert!(plausible(Field::name, "林书瑶"));
        assert!(plausible(Field::name, "阿依古丽·买买提"));
        assert!(!plausible(Field::name, "AAA"));
        assert!(!plausible(Field::name, "林"));
        assert!(plausible(Field::completion, "毕业"));
        assert!(!plausible(Field::completion, "毕"));
    }

    #[test]
    fn a_name_read_near_the_registered_one_is_doubt_not_another_person() {
        assert!(misread_nearby("王晓雯", "王晓和堆"), "a glyph split in two");
        assert!(misread_nearby("王晓雯", "王晓"), "a glyph lost");
        assert!(
            !misread_nearby("王晓雯", "王晓委"),
            "one off: name_near_match decides"
        );
        assert!(!misread_nearby("王晓雯", "王晓雯"));
        assert!(!misread_nearby("陈国华", "李文博"), "another person");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
