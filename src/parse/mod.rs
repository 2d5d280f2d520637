//! OCR output to credential fields: which page it is, which label each value
//! belongs to, and what each value must be. Pure: the only thing it asks of
//! the outside is a second read of a region, through [`Reread`].

pub mod checks;
pub mod code_candidates;
pub mod labels;
pub mod layout;
pub mod page;
pub mod values;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::fields::FieldClass;
use crate::domain::{CredentialFields, Field, Kind};

pub use layout::Layout;
pub use page::{OcrChar, OcrLine, OcrPage, OcrWord, Rect};

/// What a screenshot says, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedScreenshot {
    /// `None`: not a CHSI result page at all.
    pub layout: Option<Layout>,
    pub kind: Option<Kind>,
    /// The fields read with confidence; a field that could not be is absent.
    pub fields: CredentialFields,
    /// When the 在线验证码's reads did not agree (so `fields.vcode` is
    /// absent): the codes they might be, best first, for the service to
    /// decide between.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vcode_candidates: Vec<String>,
    /// How sure the reader was of each value in `fields` (0–100): the
    /// lowest confidence among its characters, from Tesseract or, where it
    /// read the value again, the second line reader.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub confidence: BTreeMap<Field, u8>,
}

/// The confidences (0–100) below which a value is not taken as read, set
/// with `scripts/confidence-floor` on `fixtures/screenshots/` (the set the
/// reader is tuned on) and checked on `fixtures/screenshots-holdout/`
/// (BENCHMARKS.md, "Value confidences").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfidenceFloors {
    /// Names (姓名, 校(院)长姓名). Wrong names cluster low: at 80, 7 of 17
    /// wrong ones are left out for 2 of 98 right ones (held out: 3 of 9
    /// for 1 of 49); higher floors lose right names faster than wrong ones.
    pub names: u8,
    /// Every other value. The few wrong ones are read as surely as the
    /// right ones (89–96), so no floor pays; this one only leaves out reads
    /// less sure than any right value seen in either set.
    pub values: u8,
}

impl ConfidenceFloors {
    pub const MEASURED: ConfidenceFloors = ConfidenceFloors {
        names: 80,
        values: 30,
    };

    /// No floor: every value read is kept (for measuring).
    pub const NONE: ConfidenceFloors = ConfidenceFloors {
        names: 0,
        values: 0,
    };

    fn of(&self, field: Field) -> u8 {
        match field.class() {
            FieldClass::Name => self.names,
            _ => self.values,
        }
    }
}

impl Default for ConfidenceFloors {
    fn default() -> Self {
        Self::MEASURED
    }
}

impl ParsedScreenshot {
    /// Leaves out every value read with less confidence than its floor, and
    /// returns the fields left out. Codes are exempt: they are accepted only
    /// when two reads agree, which says more than one read's confidence.
    pub fn drop_doubtful(&mut self, floors: ConfidenceFloors) -> Vec<Field> {
        let doubtful: Vec<Field> = self
            .confidence
            .iter()
            .filter(|(f, c)| **c < floors.of(**f) && f.class() != FieldClass::Code)
            .map(|(f, _)| *f)
            .collect();
        for f in &doubtful {
            *self.fields.slot(*f) = None;
            self.confidence.remove(f);
        }
        doubtful
    }
}

/// An engine's confidence (0–100, possibly unknown) as a whole percentage.
pub fn percent(conf: f32) -> u8 {
    if conf.is_finite() {
        conf.round().clamp(0.0, 100.0) as u8
    } else {
        0
    }
}

/// A second look at part of the page, restricted to `charset`. The engine
/// reads the region anew; `attempt` 0 reads it as it is, 1 enlarged, so the
/// reads are not copies of each other.
pub trait Reread {
    fn reread(&mut self, region: Rect, charset: &str, attempt: u8) -> Option<String>;

    /// Which reader makes `attempt`: reads by one reader (one model) share
    /// its blind spots, so agreement must come from two. The page read is
    /// reader 0. By default every attempt is its own reader.
    fn reader(&self, attempt: u8) -> u8 {
        attempt.saturating_add(1)
    }

    /// How many attempts [`reread`](Self::reread) makes of one code before
    /// giving up on it.
    fn attempts(&self) -> u8 {
        MAX_REREADS
    }

    /// The name at `region` as a second reader (another model) read it,
    /// when that reader is sure of every character; `None` without such a
    /// reader or when it is unsure, and the page read stands.
    /// Returns the name with the reader's confidence in its least sure
    /// character (0–100).
    fn sure_name(&mut self, _region: Rect) -> Option<(String, f32)> {
        None
    }
}

impl<F: FnMut(Rect, &str, u8) -> Option<String>> Reread for F {
    fn reread(&mut self, region: Rect, charset: &str, attempt: u8) -> Option<String> {
        self(region, charset, attempt)
    }
}

/// How codes (在线验证码, certificate numbers) are accepted.
pub enum Codes<'a> {
    /// Only a value two reads agree on: the page read and a whitelisted
    /// read of the value's region, or failing that two of three reads. S/5,
    /// B/8 and Z/2 are all valid in a code, so no rule can tell them apart;
    /// a second read can.
    Confirmed(&'a mut dyn Reread),
    /// Take the page read as it is (format and structure still checked).
    /// For text with no image behind it, e.g. another engine's output.
    SingleRead,
}

/// Below this many field labels, a page without a CHSI title is not taken
/// for a result page.
const MIN_LABELS_WITHOUT_TITLE: usize = 4;

/// Below this many field labels, a page with a report's title is not taken
/// for the report.
const MIN_LABELS_WITH_TITLE: usize = 3;

fn is_report(layout: Option<Layout>) -> bool {
    matches!(
        layout,
        Some(Layout::Report | Layout::Degree | Layout::Enrollment)
    )
}

/// Fields whose values are codes settled by [`settle_code`]: what a second
/// read of each may contain, and whether the page read alone is ever enough.
/// The masked ID number is not compared by the verdict (identity comes from
/// the registered ID), and its stars defeat second reads; it is taken from
/// the page read when that rebuilds cleanly and confirmed only otherwise.
const CODE_FIELDS: [(Field, &str, Confirm); 3] = [
    (Field::vcode, values::VCODE_READ_CHARSET, Confirm::Always),
    (Field::certificate_no, values::DIGITS, Confirm::Always),
    (
        Field::id_number_masked,
        values::ID_CHARSET,
        Confirm::IfPageReadFails,
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Confirm {
    Always,
    IfPageReadFails,
}

/// Second reads tried per code before giving up on it.
pub const MAX_REREADS: u8 = 4;

pub fn parse_page(page: &OcrPage, mut codes: Codes<'_>) -> ParsedScreenshot {
    let markers = layout::markers(page);
    let scanned: Vec<labels::LineLabels> = page.lines.iter().map(labels::scan_line).collect();
    // A code printed over its caption: the caption stands alone on its line.
    let mut over_captions: Vec<labels::Hit> = Vec::new();
    for (field, caption) in scanned.iter().flat_map(|l| &l.bare) {
        if *field == Field::vcode
            && let Some(hit) = layout::words_above(page, *caption)
                .and_then(|line| labels::unlabelled_value(&line, Field::vcode))
        {
            over_captions.push(hit);
        }
    }
    let all_hits: Vec<&labels::Hit> = scanned
        .iter()
        .flat_map(|l| &l.hits)
        .chain(&over_captions)
        .collect();
    let distinct_fields = {
        let mut f: Vec<Field> = all_hits.iter().map(|h| h.field).collect();
        f.sort();
        f.dedup();
        f.len()
    };
    if markers.layout.is_none() && distinct_fields < MIN_LABELS_WITHOUT_TITLE {
        return ParsedScreenshot::default();
    }
    // A report is its title and its fields: a page that lists several
    // reports, or shows a report's title over hardly any field labels (an
    // index page, a query form, an 图像采集码 card), is not one.
    if layout::report_titles(page) > 1
        || (is_report(markers.layout) && distinct_fields < MIN_LABELS_WITH_TITLE)
    {
        return ParsedScreenshot::default();
    }

    // A value a redaction box covers in part is not the value: what is
    // left of it would be read as a whole (王 for a blacked-out 王某某).
    let hits: Vec<labels::Hit> = page
        .lines
        .iter()
        .zip(&scanned)
        .flat_map(|(line, scan)| {
            let h = line.glyph_height();
            scan.hits
                .iter()
                .filter(move |hit| !hit.rect.is_some_and(|r| page.redacted(r, h)))
                .cloned()
        })
        .chain(
            over_captions
                .into_iter()
                .filter(|hit| !hit.rect.is_some_and(|r| page.redacted(r, r.height))),
        )
        .collect();

    let mut fields = CredentialFields::default();
    let mut confidence: BTreeMap<Field, u8> = BTreeMap::new();
    for hit in &hits {
        if CODE_FIELDS.iter().any(|(f, ..)| *f == hit.field) || fields.get(hit.field).is_some() {
            continue;
        }
        if let Some(v) = values::repair(hit.field, &hit.raw) {
            fields.set(hit.field, v);
            confidence.insert(hit.field, percent(hit.conf));
        }
    }
    // Lines whose label was unreadable: a closed-vocabulary value standing
    // at the end of the line names its own field (专科 is a 层次, 函授 a
    // 学习形式).
    for (line, scan) in page.lines.iter().zip(&scanned) {
        if scan.labels > 0 {
            continue;
        }
        let Some(word) = line.words.last() else {
            continue;
        };
        if let Some((field, term)) = values::vocabulary_term(&word.text)
            && fields.get(field).is_none()
            && !page.redacted(word.rect, line.glyph_height())
        {
            fields.set(field, term);
            confidence.insert(field, percent(word.conf));
        }
    }
    // The name, read again by a second reader that is surer of Han
    // characters than the page read (a verdict compares it letter by
    // letter with the registration).
    if let Codes::Confirmed(r) = &mut codes
        && let Some(region) = hits
            .iter()
            .find(|h| h.field == Field::name)
            .and_then(|h| h.rect)
        && let Some((name, conf)) = r
            .sure_name(region)
            .and_then(|(t, conf)| Some((values::repair(Field::name, &t)?, conf)))
    {
        fields.set(Field::name, name);
        confidence.insert(Field::name, percent(conf));
    }
    // `注册学籍（预计毕业日期：…）`: the status carries the date when no row
    // of its own does.
    if fields.expected_graduation_date.is_none()
        && let Some(date) = fields
            .enrollment_status
            .as_deref()
            .and_then(values::date_in_status)
    {
        fields.expected_graduation_date = Some(date);
        if let Some(c) = confidence.get(&Field::enrollment_status).copied() {
            confidence.insert(Field::expected_graduation_date, c);
        }
    }
    let kind = markers.kind.or_else(|| kind_from_fields(&fields));
    fields.kind = kind;
    // A degree page's 学科/专业 read without its 学科 is still the discipline.
    if kind == Some(Kind::Degree) && fields.discipline.is_none() {
        fields.discipline = fields.major.take();
        if let Some(c) = confidence.remove(&Field::major) {
            confidence.insert(Field::discipline, c);
        }
    }

    let mut code_votes: Vec<code_candidates::Vote> = Vec::new();
    for (field, charset, confirm) in CODE_FIELDS {
        let candidates: Vec<&labels::Hit> = hits.iter().filter(|h| h.field == field).collect();
        for hit in candidates {
            let (settled, reads) = settle_code(hit, charset, confirm, kind, &fields, &mut codes);
            if let Some(v) = settled {
                fields.set(field, v);
                confidence.insert(field, percent(hit.conf));
                break;
            }
            if field == Field::vcode {
                code_votes.extend(votes(&reads));
            }
        }
    }
    let vcode_candidates = if fields.vcode.is_none() {
        code_candidates::rank(&code_votes)
    } else {
        Vec::new()
    };
    // A certificate number's length tells the kind when nothing else did.
    if fields.kind.is_none() {
        fields.kind = match fields.certificate_no.as_deref().map(str::len) {
            Some(16) => Some(Kind::Degree),
            Some(17 | 18) => Some(Kind::Diploma),
            _ => None,
        };
    }
    let layout = markers.layout.unwrap_or_else(|| {
        let has_vcode_label = hits.iter().any(|h| h.field == Field::vcode);
        layout::without_title(page, fields.kind, has_vcode_label)
    });
    ParsedScreenshot {
        layout: Some(layout),
        kind: fields.kind,
        fields,
        vcode_candidates,
        confidence,
    }
}

/// What one code line's reads say, as votes for the candidates: a valid read
/// counts fully; the values a read one stray character too long might be
/// share half a vote.
fn votes(reads: &[Read]) -> Vec<code_candidates::Vote> {
    let mut out = Vec::new();
    for r in reads {
        if let Some(v) = &r.value {
            out.push(code_candidates::Vote {
                reader: r.reader,
                code: v.clone(),
                weight: 1.0,
            });
        }
        for n in &r.near {
            out.push(code_candidates::Vote {
                reader: r.reader,
                code: n.clone(),
                weight: 0.5 / r.near.len() as f64,
            });
        }
    }
    out
}

fn kind_from_fields(fields: &CredentialFields) -> Option<Kind> {
    // Only a 学籍 record states a 学籍状态 (a 学信档案 学籍 page has no title
    // saying so).
    if fields.enrollment_status.is_some() {
        return Some(Kind::Enrollment);
    }
    const DEGREE: [Field; 4] = [
        Field::degree_date,
        Field::awarding_unit,
        Field::degree,
        Field::discipline,
    ];
    const DIPLOMA: [Field; 6] = [
        Field::school,
        Field::level,
        Field::category,
        Field::study_mode,
        Field::enrollment_date,
        Field::graduation_date,
    ];
    let degree = DEGREE.iter().filter(|f| fields.get(**f).is_some()).count();
    let diploma = DIPLOMA.iter().filter(|f| fields.get(**f).is_some()).count();
    match degree.cmp(&diploma) {
        std::cmp::Ordering::Greater => Some(Kind::Degree),
        std::cmp::Ordering::Less => Some(Kind::Diploma),
        std::cmp::Ordering::Equal => None,
    }
}

/// A code value that passes its format and structure, read the same way
/// twice (or once, with [`Codes::SingleRead`]); and the reads made, from
/// which candidates are ranked when they did not agree.
fn settle_code(
    hit: &labels::Hit,
    charset: &str,
    confirm: Confirm,
    kind: Option<Kind>,
    fields: &CredentialFields,
    codes: &mut Codes<'_>,
) -> (Option<String>, Vec<Read>) {
    let field = hit.field;
    let valid = |raw: &str| -> Option<String> {
        let v = values::repair(field, raw)?;
        match field {
            Field::certificate_no => checks::certificate(&v, kind, fields).ok().map(|_| v),
            _ => Some(v),
        }
    };
    // A value with hardly any letters or digits is not a code at all (the
    // footer's 在线验证码进行查询验证): no second reads spent on it.
    let alnum = hit
        .raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '*')
        .count();
    if alnum < 8 || alnum * 2 < hit.raw.chars().count() {
        return (None, Vec::new());
    }
    let first = Read::of(0, &hit.raw, &valid);
    let reread = match codes {
        Codes::SingleRead => return (first.value, Vec::new()),
        Codes::Confirmed(_) if confirm == Confirm::IfPageReadFails && first.value.is_some() => {
            return (first.value, Vec::new());
        }
        Codes::Confirmed(r) => r,
    };
    let mut reads = vec![first];
    let Some(region) = hit.rect else {
        return (None, reads);
    };
    for attempt in 0..reread.attempts() {
        let read = match reread.reread(region, charset, attempt) {
            Some(raw) => Read::of(reread.reader(attempt), &raw, &valid),
            None => Read::none(reread.reader(attempt)),
        };
        reads.push(read);
        if let Some(v) = decided(&reads) {
            return (Some(v), Vec::new());
        }
    }
    (decided_with_near(&reads), reads)
}

/// One read of a code: by which reader, the valid value it gave, and the
/// valid values one stray character away from it.
struct Read {
    reader: u8,
    value: Option<String>,
    near: Vec<String>,
}

/// Longest read (letters and digits) whose one-character deletions are
/// tried: a code plus a stray character or two, not a line of text.
const MAX_NEAR_LEN: usize = 24;

impl Read {
    fn none(reader: u8) -> Read {
        Read {
            reader,
            value: None,
            near: Vec::new(),
        }
    }

    fn of(reader: u8, raw: &str, valid: &impl Fn(&str) -> Option<String>) -> Read {
        let value = valid(raw);
        let near = if value.is_some() {
            Vec::new()
        } else {
            near(raw, valid)
        };
        Read {
            reader,
            value,
            near,
        }
    }
}

/// Valid values one letter or digit shorter than `raw`. Tesseract reads a
/// code's character twice now and then (`1Z` as `12Z`, `0` as `0O`); such a
/// read is wrong as a whole but still says what the other characters are.
fn near(raw: &str, valid: &impl Fn(&str) -> Option<String>) -> Vec<String> {
    let chars: Vec<char> = raw.chars().collect();
    let alnum: Vec<usize> = (0..chars.len())
        .filter(|i| chars[*i].is_ascii_alphanumeric())
        .collect();
    if alnum.len() > MAX_NEAR_LEN {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for skip in alnum {
        let shorter: String = chars
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, c)| *c)
            .collect();
        if let Some(v) = valid(&shorter)
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
    out
}

/// The value the reads settle on: one that two different readers produced,
/// and more reads produced than any other valid value. So the page read and
/// a region read agreeing is enough, and so is 2 against 1; two reads by one
/// model (which shares its confusions, S for 5) are not, nor is a tie.
fn decided(reads: &[Read]) -> Option<String> {
    let exact: Vec<(u8, &String)> = reads
        .iter()
        .filter_map(|r| r.value.as_ref().map(|v| (r.reader, v)))
        .collect();
    plurality(&exact).cloned()
}

/// The last resort once every read is in: reads one stray character too
/// long also back the values some read gave exactly and they become with a
/// character less. Only a value read exactly can win (a long read becomes a
/// dozen strings, most of them noise), and it must still have two readers
/// and more backing than any other such value. Never tried before the last
/// read: a doubled character is weaker evidence than a clean read, and the
/// clean reads still to come may outvote a confusion two models share (Z
/// read as 2 by both).
fn decided_with_near(reads: &[Read]) -> Option<String> {
    let mut candidates: Vec<&String> = reads.iter().filter_map(|r| r.value.as_ref()).collect();
    candidates.sort();
    candidates.dedup();
    let votes: Vec<(u8, &String)> = reads
        .iter()
        .flat_map(|r| {
            r.value
                .iter()
                .chain(r.near.iter())
                .filter(|v| candidates.contains(v))
                .map(move |v| (r.reader, v))
        })
        .collect();
    plurality(&votes).cloned()
}

/// The value with the most votes, if it has strictly more than any other
/// and its votes come from at least two readers.
fn plurality<'a>(votes: &[(u8, &'a String)]) -> Option<&'a String> {
    let mut tally: Vec<(&String, usize, Vec<u8>)> = Vec::new();
    for (reader, v) in votes {
        match tally.iter_mut().find(|(t, ..)| t == v) {
            Some((_, n, readers)) => {
                *n += 1;
                readers.push(*reader);
            }
            None => tally.push((v, 1, vec![*reader])),
        }
    }
    tally.sort_by_key(|t| std::cmp::Reverse(t.1));
    let (best, n, readers) = tally.first()?;
    let runner_up = tally.get(1).map_or(0, |t| t.1);
    let two_readers = readers.iter().any(|r| *r != readers[0]);
    (two_readers && *n > runner_up).then_some(*best)
}

#[cfg(test)]
mod tests;
