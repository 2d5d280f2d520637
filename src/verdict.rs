//! The decision (README "Records and rules"; docs/ARCHITECTURE.md): what the
//! candidate claims, who the candidate is, and what the verification service
//! says, to a status with reasons. Pure: the worker gathers the inputs, this
//! decides.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::codes::{CertificateNo, DegreeCertificateNo, degree_level_word};
use crate::domain::fields::{FieldClass, normalize_value};
use crate::domain::reason::Severity;
use crate::domain::text::{is_cjk, normalize_name, substitutions};
use crate::domain::{CredentialFields, Field, Gender, Kind, Reason, ReasonCode, Status};

/// The candidate as registered with the exam platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    /// From the ID number, when the backend passed one.
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
}

/// The service's report: the only evidence that counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub kind: Kind,
    pub fields: CredentialFields,
}

/// A definite answer from the verification service. Transient failures never
/// reach a verdict.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Report),
    Invalid,
    Expired,
    Closed,
}

/// Facts from the store the rules need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The report's certificate is already verified for another candidate.
    pub certificate_verified_for_other: bool,
    /// Labels the report page showed but whose values could not be read.
    pub report_unreadable: Vec<Field>,
    /// Claimed fields that came from the screenshot, not typed by the
    /// candidate. A misread there is not the candidate's claim, so it sends
    /// the record to a human instead of rejecting it.
    pub read_from_screenshot: Vec<Field>,
    /// Report values read from the service's images (the table markup draws
    /// 姓名 and 毕(结)业), with the OCR engine's confidence (0–100).
    pub read_from_images: Vec<(Field, u8)>,
    /// Fields the report page stated twice with different values.
    pub report_inconsistent: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    Match,
    /// Differs by one character in a long CJK value: an OCR slip.
    Slip,
    Mismatch,
}

/// One claimed field beside the report's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub field: Field,
    pub claimed: String,
    pub authoritative: Option<String>,
    pub agreement: Agreement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    pub reasons: Vec<Reason>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_diffs: Vec<FieldDiff>,
}

impl Verdict {
    /// A rejection decided before the service was asked (unreadable image,
    /// no code, not a CHSI page).
    pub fn rejected(reason: Reason) -> Self {
        Self {
            status: Status::Rejected,
            reasons: vec![reason],
            field_diffs: Vec::new(),
        }
    }

    fn from_reasons(reasons: Vec<Reason>, field_diffs: Vec<FieldDiff>) -> Self {
        let worst = reasons.iter().map(Reason::severity).max();
        let status = match worst {
            Some(Severity::Reject) => Status::Rejected,
            Some(Severity::Review) => Status::NeedsReview,
            _ => Status::Verified,
        };
        Self {
            status,
            reasons,
            field_diffs,
        }
    }

    pub fn reason_codes(&self) -> Vec<ReasonCode> {
        self.reasons.iter().map(|r| r.code).collect()
    }
}

/// Fields a verdict compares. Name and principal are not here: read from a
/// screenshot they are not evidence (see [`decide`]).
const COMPARED: &[Field] = &[
    Field::certificate_no,
    Field::school,
    Field::major,
    Field::level,
    Field::category,
    Field::study_mode,
    Field::completion,
    Field::enrollment_date,
    Field::graduation_date,
    Field::duration,
    Field::birth_date,
    Field::gender,
    Field::degree_date,
    Field::awarding_unit,
    Field::degree,
    Field::discipline,
];

pub fn decide(
    candidate: &Candidate,
    claimed: &CredentialFields,
    lookup: &Lookup,
    ctx: &Context,
) -> Verdict {
    let report = match lookup {
        Lookup::Found(r) => r,
        Lookup::Invalid => return Verdict::rejected(Reason::new(ReasonCode::VcodeInvalid)),
        Lookup::Expired => return Verdict::rejected(Reason::new(ReasonCode::ReportExpired)),
        Lookup::Closed => return Verdict::rejected(Reason::new(ReasonCode::ReportClosed)),
    };
    // A 学籍 report proves registration, not a diploma or degree: a definite
    // answer, whatever else it says.
    if report.kind == Kind::Enrollment && claimed.kind != Some(Kind::Enrollment) {
        return Verdict::rejected(Reason::new(ReasonCode::EnrollmentReport).with_detail(
            "the code opens a 学籍 report (教育部学籍在线验证报告), not a 学历 or 学位 report",
        ));
    }
    let auth = &report.fields;
    let mut reasons = Vec::new();

    let mut missing: Vec<Field> = report
        .kind
        .essential_fields()
        .iter()
        .copied()
        .filter(|f| auth.get(*f).is_none())
        .collect();
    for f in &ctx.report_unreadable {
        if !missing.contains(f) {
            missing.push(*f);
        }
    }
    if !missing.is_empty() {
        reasons.push(
            Reason::new(ReasonCode::ReportIncomplete)
                .with_detail(format!("report lacks or garbles {}", keys(&missing))),
        );
    }

    if let Some(kind) = claimed.kind
        && kind != report.kind
    {
        reasons.push(Reason::new(ReasonCode::KindMismatch).with_detail(format!(
            "record is {} ({}), report is {} ({})",
            kind,
            kind.zh(),
            report.kind,
            report.kind.zh()
        )));
    }

    reasons.extend(holder_reasons(candidate, auth));
    reasons.extend(structure_reasons(report));
    if !ctx.report_inconsistent.is_empty() {
        reasons.push(
            Reason::new(ReasonCode::ReportInconsistent).with_detail(format!(
                "the page states {} twice with different values",
                keys(&ctx.report_inconsistent)
            )),
        );
    }

    let field_diffs = compare_fields(claimed, auth);
    let (read, typed): (Vec<Field>, Vec<Field>) = field_diffs
        .iter()
        .filter(|d| d.agreement == Agreement::Mismatch)
        .map(|d| d.field)
        .partition(|f| ctx.read_from_screenshot.contains(f));
    if !typed.is_empty() {
        reasons.push(
            Reason::new(ReasonCode::FieldMismatch)
                .with_detail(format!("differs from the report: {}", keys(&typed)))
                .with_fields(typed),
        );
    }
    // A blurred digit and an edited screenshot look the same from here; a
    // human tells them apart with the image and the report side by side.
    if !read.is_empty() {
        reasons.push(
            Reason::new(ReasonCode::ScreenshotMismatch)
                .with_detail(format!(
                    "read from the screenshot, differs from the report: {}",
                    keys(&read)
                ))
                .with_fields(read),
        );
    }
    let slips: Vec<Field> = field_diffs
        .iter()
        .filter(|d| d.agreement == Agreement::Slip)
        .map(|d| d.field)
        .collect();
    if !slips.is_empty() {
        reasons.push(
            Reason::new(ReasonCode::OcrSlip)
                .with_detail(format!("one character differs in {}", keys(&slips)))
                .with_fields(slips),
        );
    }

    let screenshot_names: Vec<Field> = [Field::name, Field::principal]
        .into_iter()
        .filter(|f| match (claimed.get(*f), auth.get(*f)) {
            (Some(c), Some(a)) => normalize_name(c) != normalize_name(a),
            _ => false,
        })
        .collect();
    if !screenshot_names.is_empty() {
        reasons.push(
            Reason::new(ReasonCode::ScreenshotNameDiffers)
                .with_detail(format!("read differently: {}", keys(&screenshot_names))),
        );
    }

    if ctx.certificate_verified_for_other {
        reasons.push(Reason::new(ReasonCode::DuplicateCertificate));
    }

    Verdict::from_reasons(reasons, field_diffs)
}

fn keys(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| f.key())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Identity: the registered name against the report's holder, and the ID
/// number's birth date and gender against the report's.
/// Whether a report is the candidate's: it states a holder's name, and no
/// identity fact disagrees. A one-character near match is not ruled out
/// here; the verdict sends it to a person.
pub fn names_candidate(candidate: &Candidate, auth: &CredentialFields) -> bool {
    auth.name.is_some()
        && !holder_reasons(candidate, auth)
            .iter()
            .any(|r| r.code == ReasonCode::HolderMismatch)
}

fn holder_reasons(candidate: &Candidate, auth: &CredentialFields) -> Vec<Reason> {
    let mut out = Vec::new();
    let mut differs = Vec::new();
    if let Some(holder) = auth.name.as_deref() {
        let (registered, holder) = (normalize_name(&candidate.name), normalize_name(holder));
        if registered != holder {
            if substitutions(&registered, &holder) == Some(1) && registered.chars().count() >= 2 {
                out.push(
                    Reason::new(ReasonCode::NameNearMatch)
                        .with_detail("registered name and report holder differ by one character"),
                );
            } else {
                differs.push("姓名");
            }
        }
    }
    if let (Some(born), Some(report_born)) = (candidate.birth_date, auth.birth_date.as_deref())
        && born.format("%Y-%m-%d").to_string() != report_born
    {
        differs.push("出生日期");
    }
    if let (Some(gender), Some(report_gender)) = (candidate.gender, auth.gender.as_deref())
        && gender.as_str() != report_gender
    {
        differs.push("性别");
    }
    if !differs.is_empty() {
        out.push(Reason::new(ReasonCode::HolderMismatch).with_detail(format!(
            "differs from the candidate: {}",
            differs.join("、")
        )));
    }
    out
}

/// The certificate number encodes the year and level; a report whose number
/// disagrees with its own fields is odd enough for a human to look at.
fn structure_reasons(report: &Report) -> Vec<Reason> {
    let auth = &report.fields;
    let Some(no) = auth.certificate_no.as_deref() else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    match report.kind {
        Kind::Diploma => match CertificateNo::parse(no) {
            Err(e) => problems.push(e.to_string()),
            Ok(c) => {
                let grad_year: Option<i32> = auth
                    .graduation_date
                    .as_deref()
                    .and_then(|d| d.get(..4))
                    .and_then(|y| y.parse().ok());
                if let (Some(y), Some(g)) = (c.year(), grad_year)
                    && y != g
                {
                    problems.push(format!("certificate year {y} but graduation year {g}"));
                }
                if let (Some(l), Some(level)) = (c.level(), auth.level.as_deref())
                    && l != level
                {
                    problems.push(format!("certificate level {l} but report level {level}"));
                }
            }
        },
        Kind::Degree => match DegreeCertificateNo::parse(no) {
            Err(e) => problems.push(e.to_string()),
            Ok(c) => {
                let year: Option<i32> = auth
                    .degree_date
                    .as_deref()
                    .and_then(|d| d.get(..4))
                    .and_then(|y| y.parse().ok());
                if let (Some(y), Some(d)) = (c.year(), year)
                    && y != d
                {
                    problems.push(format!("certificate year {y} but degree year {d}"));
                }
                if let (Some(word), Some(degree)) = (
                    c.level_digit().and_then(degree_level_word),
                    auth.degree.as_deref(),
                ) && !degree.contains(word)
                {
                    problems.push(format!("certificate level {word} but degree {degree}"));
                }
            }
        },
        // A 学籍 report carries no certificate to cross-check.
        Kind::Enrollment => {}
    }
    if problems.is_empty() {
        Vec::new()
    } else {
        vec![Reason::new(ReasonCode::ReportInconsistent).with_detail(problems.join("; "))]
    }
}

fn compare_fields(claimed: &CredentialFields, auth: &CredentialFields) -> Vec<FieldDiff> {
    COMPARED
        .iter()
        .filter_map(|&field| {
            let raw = claimed.get(field)?;
            let claimed_v = normalize_value(field, raw).unwrap_or_else(|| raw.to_string());
            let auth_v = auth
                .get(field)
                .map(|a| normalize_value(field, a).unwrap_or_else(|| a.to_string()));
            let agreement = match &auth_v {
                None => Agreement::Mismatch,
                Some(a) => agreement(field, &claimed_v, a),
            };
            Some(FieldDiff {
                field,
                claimed: claimed_v,
                authoritative: auth_v,
                agreement,
            })
        })
        .collect()
}

fn agreement(field: Field, claimed: &str, auth: &str) -> Agreement {
    if claimed == auth {
        return Agreement::Match;
    }
    match field.class() {
        FieldClass::Duration => {
            let same =
                matches!((claimed.parse::<f32>(), auth.parse::<f32>()), (Ok(a), Ok(b)) if a == b);
            if same {
                Agreement::Match
            } else {
                Agreement::Mismatch
            }
        }
        FieldClass::Text => {
            let long = auth.chars().count() >= 4;
            let one_cjk_slip = substitutions(claimed, auth) == Some(1)
                && claimed
                    .chars()
                    .zip(auth.chars())
                    .all(|(c, a)| c == a || (is_cjk(c) && is_cjk(a)));
            if long && one_cjk_slip {
                Agreement::Slip
            } else {
                Agreement::Mismatch
            }
        }
        _ => Agreement::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReasonCode::*;

    fn diploma_report() -> Report {
        let mut f = CredentialFields::default();
        for (k, v) in [
            (Field::name, "王晓雯"),
            (Field::gender, "女"),
            (Field::birth_date, "1999-04-18"),
            (Field::enrollment_date, "2017-09-01"),
            (Field::graduation_date, "2021-06-30"),
            (Field::school, "南京中医药大学"),
            (Field::major, "护理学"),
            (Field::duration, "4"),
            (Field::level, "本科"),
            (Field::category, "普通高等教育"),
            (Field::study_mode, "普通全日制"),
            (Field::completion, "毕业"),
            (Field::certificate_no, "103151202105001234"),
            (Field::principal, "胡刚"),
        ] {
            f.set(k, v);
        }
        Report {
            kind: Kind::Diploma,
            fields: f,
        }
    }

    fn degree_report() -> Report {
        let mut f = CredentialFields::default();
        for (k, v) in [
            (Field::name, "阿依古丽·买买提"),
            (Field::gender, "女"),
            (Field::birth_date, "1998-11-03"),
            (Field::degree_date, "2021-06-25"),
            (Field::awarding_unit, "新疆医科大学"),
            (Field::degree, "理学学士学位"),
            (Field::discipline, "护理学"),
            (Field::certificate_no, "1076042021000387"),
        ] {
            f.set(k, v);
        }
        Report {
            kind: Kind::Degree,
            fields: f,
        }
    }

    fn candidate(name: &str) -> Candidate {
        Candidate {
            name: name.into(),
            birth_date: None,
            gender: None,
        }
    }

    fn claim(kind: Option<Kind>, pairs: &[(Field, &str)]) -> CredentialFields {
        let mut f = CredentialFields {
            kind,
            ..Default::default()
        };
        for (k, v) in pairs {
            f.set(*k, *v);
        }
        f
    }

    struct Case {
        name: &'static str,
        candidate: Candidate,
        claimed: CredentialFields,
        lookup: Lookup,
        ctx: Context,
        status: Status,
        codes: &'static [ReasonCode],
    }

    fn case(
        name: &'static str,
        candidate: Candidate,
        claimed: CredentialFields,
        lookup: Lookup,
        status: Status,
        codes: &'static [ReasonCode],
    ) -> Case {
        Case {
            name,
            candidate,
            claimed,
            lookup,
            ctx: Context::default(),
            status,
            codes,
        }
    }

    fn born(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn every_rule_decides_as_designed() {
        let d = diploma_report;
        let found = |r: Report| Lookup::Found(r);
        let mut tampered_cert = d();
        tampered_cert
            .fields
            .set(Field::certificate_no, "103151201905001234");
        let mut partial = d();
        partial.fields.school = None;
        let mut deg_wrong_level = degree_report();
        deg_wrong_level.fields.set(Field::degree, "医学硕士学位");

        let mut enrollment = d();
        enrollment.kind = Kind::Enrollment;
        enrollment.fields.certificate_no = None;
        enrollment
            .fields
            .set(Field::enrollment_status, "在籍（注册学籍）");

        let cases = vec![
            Case {
                ctx: Context {
                    report_inconsistent: vec![Field::name],
                    ..Context::default()
                },
                ..case(
                    "a page stating the name twice with different values goes to a person",
                    candidate("王晓雯"),
                    claim(None, &[]),
                    found(d()),
                    Status::NeedsReview,
                    &[ReasonCode::ReportInconsistent],
                )
            },
            case(
                "a 学籍 report for a 学历 record rejects with its own reason",
                candidate("王晓雯"),
                claim(Some(Kind::Diploma), &[]),
                found(enrollment.clone()),
                Status::Rejected,
                &[ReasonCode::EnrollmentReport],
            ),
            case(
                "a 学籍 report for a record of unknown kind rejects too",
                candidate("王晓雯"),
                claim(None, &[]),
                found(enrollment),
                Status::Rejected,
                &[ReasonCode::EnrollmentReport],
            ),
            case(
                "exact claim verifies",
                candidate("王晓雯"),
                claim(
                    Some(Kind::Diploma),
                    &[
                        (Field::school, "南京中医药大学"),
                        (Field::certificate_no, "103151202105001234"),
                        (Field::graduation_date, "2021年06月30日"),
                    ],
                ),
                found(d()),
                Status::Verified,
                &[],
            ),
            case(
                "nothing claimed but the code verifies",
                candidate("王晓雯"),
                claim(None, &[]),
                found(d()),
                Status::Verified,
                &[],
            ),
            case(
                "invalid code rejects",
                candidate("王晓雯"),
                claim(None, &[]),
                Lookup::Invalid,
                Status::Rejected,
                &[VcodeInvalid],
            ),
            case(
                "expired report rejects",
                candidate("王晓雯"),
                claim(None, &[]),
                Lookup::Expired,
                Status::Rejected,
                &[ReportExpired],
            ),
            case(
                "closed report rejects",
                candidate("王晓雯"),
                claim(None, &[]),
                Lookup::Closed,
                Status::Rejected,
                &[ReportClosed],
            ),
            case(
                "kind mismatch rejects",
                candidate("王晓雯"),
                claim(Some(Kind::Degree), &[]),
                found(d()),
                Status::Rejected,
                &[KindMismatch],
            ),
            case(
                "another person's report is a holder mismatch",
                candidate("李四"),
                claim(None, &[]),
                found(d()),
                Status::Rejected,
                &[HolderMismatch],
            ),
            case(
                "one character off in the registered name goes to review",
                candidate("王晓雲"),
                claim(None, &[]),
                found(d()),
                Status::NeedsReview,
                &[NameNearMatch],
            ),
            case(
                "middle dot variants are the same name",
                candidate("阿依古丽.买买提"),
                claim(Some(Kind::Degree), &[]),
                found(degree_report()),
                Status::Verified,
                &[],
            ),
            case(
                "full-width dot is the same name",
                candidate("阿依古丽・买买提"),
                claim(None, &[]),
                found(degree_report()),
                Status::Verified,
                &[],
            ),
            case(
                "birth date from the ID number must agree",
                Candidate {
                    name: "王晓雯".into(),
                    birth_date: born(1999, 4, 19),
                    gender: Some(Gender::Female),
                },
                claim(None, &[]),
                found(d()),
                Status::Rejected,
                &[HolderMismatch],
            ),
            case(
                "gender from the ID number must agree",
                Candidate {
                    name: "王晓雯".into(),
                    birth_date: born(1999, 4, 18),
                    gender: Some(Gender::Male),
                },
                claim(None, &[]),
                found(d()),
                Status::Rejected,
                &[HolderMismatch],
            ),
            case(
                "ID number that agrees verifies",
                Candidate {
                    name: "王晓雯".into(),
                    birth_date: born(1999, 4, 18),
                    gender: Some(Gender::Female),
                },
                claim(None, &[]),
                found(d()),
                Status::Verified,
                &[],
            ),
            case(
                "claimed certificate number must match exactly",
                candidate("王晓雯"),
                claim(None, &[(Field::certificate_no, "103151202105001235")]),
                found(d()),
                Status::Rejected,
                &[FieldMismatch],
            ),
            case(
                "a changed school is a field mismatch",
                candidate("王晓雯"),
                claim(None, &[(Field::school, "北京大学")]),
                found(d()),
                Status::Rejected,
                &[FieldMismatch],
            ),
            case(
                "one CJK character off in a long value is an OCR slip",
                candidate("王晓雯"),
                claim(None, &[(Field::school, "南京中医葯大学")]),
                found(d()),
                Status::Verified,
                &[OcrSlip],
            ),
            case(
                "one character off in a short value is a mismatch",
                candidate("王晓雯"),
                claim(None, &[(Field::major, "护理字")]),
                found(d()),
                Status::Rejected,
                &[FieldMismatch],
            ),
            case(
                "level is a closed vocabulary",
                candidate("王晓雯"),
                claim(None, &[(Field::level, "专科")]),
                found(d()),
                Status::Rejected,
                &[FieldMismatch],
            ),
            case(
                "dates compare after normalising",
                candidate("王晓雯"),
                claim(
                    None,
                    &[
                        (Field::enrollment_date, "2017年9月1日"),
                        (Field::duration, "4 年"),
                    ],
                ),
                found(d()),
                Status::Verified,
                &[],
            ),
            case(
                "a wrong date is a mismatch",
                candidate("王晓雯"),
                claim(None, &[(Field::graduation_date, "2021-07-30")]),
                found(d()),
                Status::Rejected,
                &[FieldMismatch],
            ),
            case(
                "a misread name on the screenshot is only a warning",
                candidate("王晓雯"),
                claim(None, &[(Field::name, "王晓雪"), (Field::principal, "胡刖")]),
                found(d()),
                Status::Verified,
                &[ScreenshotNameDiffers],
            ),
            case(
                "certificate year disagreeing with graduation goes to review",
                candidate("王晓雯"),
                claim(None, &[]),
                found(tampered_cert),
                Status::NeedsReview,
                &[ReportInconsistent],
            ),
            case(
                "degree certificate level disagreeing with the degree goes to review",
                candidate("阿依古丽·买买提"),
                claim(None, &[]),
                found(deg_wrong_level),
                Status::NeedsReview,
                &[ReportInconsistent],
            ),
            case(
                "a partly read report goes to review",
                candidate("王晓雯"),
                claim(None, &[]),
                found(partial),
                Status::NeedsReview,
                &[ReportIncomplete],
            ),
            case(
                "degree fields compare",
                candidate("阿依古丽·买买提"),
                claim(
                    Some(Kind::Degree),
                    &[
                        (Field::awarding_unit, "新疆医科大学"),
                        (Field::degree, "理学学士学位"),
                        (Field::discipline, "药学"),
                    ],
                ),
                found(degree_report()),
                Status::Rejected,
                &[FieldMismatch],
            ),
            Case {
                ctx: Context {
                    read_from_screenshot: vec![Field::school, Field::graduation_date],
                    ..Default::default()
                },
                ..case(
                    "a value only the screenshot said, differing, goes to review",
                    candidate("王晓雯"),
                    claim(None, &[(Field::graduation_date, "2021-06-01")]),
                    found(d()),
                    Status::NeedsReview,
                    &[ScreenshotMismatch],
                )
            },
            Case {
                ctx: Context {
                    read_from_screenshot: vec![Field::school],
                    ..Default::default()
                },
                ..case(
                    "a typed value that differs is still the candidate's claim",
                    candidate("王晓雯"),
                    claim(None, &[(Field::graduation_date, "2021-06-01")]),
                    found(d()),
                    Status::Rejected,
                    &[FieldMismatch],
                )
            },
            Case {
                ctx: Context {
                    report_unreadable: vec![Field::major],
                    ..Default::default()
                },
                ..case(
                    "a report value the parser could not read goes to review",
                    candidate("王晓雯"),
                    claim(None, &[]),
                    found(d()),
                    Status::NeedsReview,
                    &[ReportIncomplete],
                )
            },
            Case {
                ctx: Context {
                    certificate_verified_for_other: true,
                    ..Default::default()
                },
                ..case(
                    "a certificate verified for someone else is rejected",
                    candidate("王晓雯"),
                    claim(None, &[]),
                    found(d()),
                    Status::Rejected,
                    &[DuplicateCertificate],
                )
            },
        ];
        for c in cases {
            let v = decide(&c.candidate, &c.claimed, &c.lookup, &c.ctx);
            assert_eq!(v.status, c.status, "{}: {:?}", c.name, v.reasons);
            assert_eq!(v.reason_codes(), c.codes, "{}", c.name);
        }
    }

    #[test]
    fn field_mismatch_lists_the_fields() {
        let v = decide(
            &candidate("王晓雯"),
            &claim(None, &[(Field::school, "北京大学"), (Field::major, "药学")]),
            &Lookup::Found(diploma_report()),
            &Context::default(),
        );
        let r = v.reasons.iter().find(|r| r.code == FieldMismatch).unwrap();
        assert_eq!(r.fields, vec![Field::school, Field::major]);
        assert!(
            v.field_diffs.iter().any(|d| d.field == Field::school
                && d.authoritative.as_deref() == Some("南京中医药大学"))
        );
    }

    #[test]
    fn rejection_outranks_review() {
        let v = decide(
            &candidate("王晓雲"),
            &claim(None, &[(Field::school, "北京大学")]),
            &Lookup::Found(diploma_report()),
            &Context::default(),
        );
        assert_eq!(v.status, Status::Rejected);
        assert_eq!(v.reason_codes(), vec![NameNearMatch, FieldMismatch]);
    }
}
