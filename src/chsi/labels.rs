//! Every way the service has printed a field's label, to the canonical
//! field. One table for every markup: a walker finds label/value pairs, this
//! says what each label means. A new spelling is one more row.

use crate::domain::text::normalize_text;
use crate::domain::{Field, Kind};

/// Which reports a spelling belongs to: `专业` is a diploma's (or a 学籍
/// report's) major but a degree's discipline.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Any,
    Degree,
    NotDegree,
}

/// Spellings after [`canonical`]: no spaces, ASCII brackets, no trailing
/// colon.
const REGISTRY: &[(&str, Field, Scope)] = &[
    ("姓名", Field::name, Scope::Any),
    ("性别", Field::gender, Scope::Any),
    ("出生日期", Field::birth_date, Scope::Any),
    ("证件号码", Field::id_number_masked, Scope::Any),
    ("身份证号", Field::id_number_masked, Scope::Any),
    ("入学日期", Field::enrollment_date, Scope::Any),
    ("毕(结)业日期", Field::graduation_date, Scope::Any),
    ("毕业日期", Field::graduation_date, Scope::Any),
    ("学校名称", Field::school, Scope::Any),
    ("院校名称", Field::school, Scope::Any),
    ("院校", Field::school, Scope::Any),
    ("专业", Field::major, Scope::NotDegree),
    ("专业名称", Field::major, Scope::NotDegree),
    ("学制", Field::duration, Scope::Any),
    ("层次", Field::level, Scope::Any),
    ("学历类别", Field::category, Scope::Any),
    ("学习形式", Field::study_mode, Scope::Any),
    ("毕(结)业", Field::completion, Scope::Any),
    ("毕结业结论", Field::completion, Scope::Any),
    ("证书编号", Field::certificate_no, Scope::Any),
    ("学历证书编号", Field::certificate_no, Scope::Any),
    ("学位证书编号", Field::certificate_no, Scope::Any),
    ("校(院)长姓名", Field::principal, Scope::Any),
    ("获学位日期", Field::degree_date, Scope::Any),
    ("授予学位日期", Field::degree_date, Scope::Any),
    ("学位授予日期", Field::degree_date, Scope::Any),
    ("学位授予单位", Field::awarding_unit, Scope::Any),
    ("所授学位", Field::degree, Scope::Any),
    ("学位名称", Field::degree, Scope::Any),
    ("学科/专业", Field::discipline, Scope::Any),
    ("学科专业", Field::discipline, Scope::Any),
    ("专业", Field::discipline, Scope::Degree),
    ("在线验证码", Field::vcode, Scope::Any),
    ("院系", Field::department, Scope::Any),
    ("分院", Field::department, Scope::Any),
    ("班级", Field::class_name, Scope::Any),
    ("学号", Field::student_no, Scope::Any),
    ("学籍状态", Field::enrollment_status, Scope::Any),
    ("预计毕业日期", Field::expected_graduation_date, Scope::Any),
];

/// A label as printed, in the form the registry holds: spaces (even between
/// the characters) gone, full-width brackets and colons made ASCII, trailing
/// colons dropped.
pub fn canonical(raw: &str) -> String {
    normalize_text(raw).trim_end_matches(':').to_string()
}

/// The field a canonical label names on a report of `kind`.
pub fn field_for(label: &str, kind: Kind) -> Option<Field> {
    REGISTRY
        .iter()
        .find(|(spelling, _, scope)| {
            *spelling == label
                && match scope {
                    Scope::Any => true,
                    Scope::Degree => kind == Kind::Degree,
                    Scope::NotDegree => kind != Kind::Degree,
                }
        })
        .map(|(_, field, _)| *field)
}

/// The registry's spelling of a canonical label, if the service prints it
/// on any report.
pub fn registered(label: &str) -> Option<&'static str> {
    REGISTRY
        .iter()
        .find(|(spelling, _, _)| *spelling == label)
        .map(|(spelling, _, _)| *spelling)
}

/// The longest registered label `text` (canonical, colons kept) starts with,
/// followed by a colon: `姓名:王晓雯` → (`姓名`, `王晓雯`).
pub fn split_inline(text: &str) -> Option<(&'static str, &str)> {
    REGISTRY
        .iter()
        .filter_map(|(spelling, _, _)| {
            let rest = text.strip_prefix(spelling)?.strip_prefix(':')?;
            Some((*spelling, rest))
        })
        .max_by_key(|(spelling, _)| spelling.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_label_meet() {
        for raw in [
            "毕（结）业日期：",
            "毕(结)业日期:",
            " 毕 ( 结 ) 业 日 期 ",
            "毕（结）业日期",
        ] {
            assert_eq!(
                field_for(&canonical(raw), Kind::Diploma),
                Some(Field::graduation_date),
                "{raw:?}"
            );
        }
        assert_eq!(canonical("姓\u{3000}名："), "姓名");
    }

    #[test]
    fn a_label_can_mean_different_fields_by_report() {
        assert_eq!(field_for("专业", Kind::Diploma), Some(Field::major));
        assert_eq!(field_for("专业", Kind::Enrollment), Some(Field::major));
        assert_eq!(field_for("专业", Kind::Degree), Some(Field::discipline));
        assert_eq!(
            field_for("学籍状态", Kind::Enrollment),
            Some(Field::enrollment_status)
        );
        assert_eq!(field_for("民族", Kind::Enrollment), None);
    }

    #[test]
    fn inline_pairs_split_at_the_longest_label() {
        assert_eq!(
            split_inline("学位证书编号:1076"),
            Some(("学位证书编号", "1076"))
        );
        assert_eq!(split_inline("姓名:"), Some(("姓名", "")));
        assert_eq!(split_inline("注册学籍(预计毕业日期:2025年01月01日)"), None);
        assert_eq!(split_inline("姓名王晓雯"), None);
    }
}
