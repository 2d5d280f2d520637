//! Turning a value as Tesseract read it into a canonical value, repairing
//! what the field's format makes certain and refusing what it cannot.

use crate::domain::fields::normalize_value;
use crate::domain::text::{is_cjk, normalize_name, to_half_width};
use crate::domain::{Field, dates};

/// The 在线验证码 alphabet: upper-case letters and digits without I and O.
pub const VCODE_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// What a second read of an 在线验证码 may return: the alphabet plus O and I.
/// Left out of the whitelist, a 0 drawn round like an O was dropped rather
/// than read as 0; allowed, it is read as O and mapped to 0.
pub const VCODE_READ_CHARSET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const DIGITS: &str = "0123456789";
/// A masked ID number as printed: digits, the check character X, the mask.
pub const ID_CHARSET: &str = "0123456789X*";

/// What one read of a field became after repair.
pub fn repair(field: Field, raw: &str) -> Option<String> {
    match field {
        Field::name | Field::principal => name(raw),
        Field::gender => gender(raw),
        Field::birth_date
        | Field::enrollment_date
        | Field::graduation_date
        | Field::degree_date
        | Field::expected_graduation_date => date(raw),
        Field::duration => duration(raw),
        Field::level => vocabulary(raw, LEVELS, false),
        Field::completion => vocabulary(raw, &["毕业", "结业"], false),
        Field::category => vocabulary(raw, CATEGORIES, true),
        Field::study_mode => vocabulary(raw, STUDY_MODES, true),
        Field::certificate_no => certificate_no(raw),
        Field::vcode => vcode(raw),
        Field::id_number_masked => id_number_masked(raw),
        Field::degree => degree(raw),
        Field::school
        | Field::major
        | Field::awarding_unit
        | Field::discipline
        | Field::department => text(raw),
        Field::class_name => class_name(raw),
        Field::enrollment_status => enrollment_status(raw),
        Field::student_no => Some(crate::domain::text::alnum_upper(raw)).filter(|s| !s.is_empty()),
    }
}

/// The field a word is a term of, when it is a term of exactly one closed
/// vocabulary (网络教育 is both a 学历类别 and a 学习形式: none).
pub fn vocabulary_term(word: &str) -> Option<(Field, &'static str)> {
    let t = crate::domain::text::normalize_text(word);
    let vocabularies: [(Field, &[&'static str]); 4] = [
        (Field::level, LEVELS),
        (Field::completion, &["毕业", "结业"]),
        (Field::category, CATEGORIES),
        (Field::study_mode, STUDY_MODES),
    ];
    let mut found = vocabularies.iter().filter_map(|(f, terms)| {
        terms
            .iter()
            .find(|term| **term == t)
            .map(|term| (*f, *term))
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

pub const LEVELS: &[&str] = &["专科", "本科", "第二学士学位", "硕士研究生", "博士研究生"];
const CATEGORIES: &[&str] = &[
    "普通高等教育",
    "成人高等教育",
    "高等教育自学考试",
    "网络教育",
    "开放教育",
    "研究生教育",
];
const STUDY_MODES: &[&str] = &[
    "普通全日制",
    "全日制",
    "非全日制",
    "函授",
    "业余",
    "脱产",
    "网络教育",
    "开放教育",
    "自学考试",
];

/// Only the Han characters of a value (and the brackets some names carry),
/// or `None` when anything else is in it: a value with Latin letters or
/// digits inside CJK text is a misread, not a school.
fn cjk_only(raw: &str) -> Option<String> {
    let t = crate::domain::text::normalize_text(raw);
    let t = t.trim_matches(|c: char| !is_cjk(c) && !c.is_ascii_alphanumeric() && c != ')');
    if t.is_empty() || !t.chars().all(|c| is_cjk(c) || c == '(' || c == ')') {
        return None;
    }
    Some(t.to_string())
}

/// A 学籍状态 as the service prints it, brackets and colons in their ASCII
/// form: `在籍(注册学籍)`, `注册学籍(预计毕业日期:2025年01月01日)`.
fn enrollment_status(raw: &str) -> Option<String> {
    let t = crate::domain::text::normalize_text(raw);
    let t = t.trim_matches(|c: char| !is_cjk(c) && !c.is_ascii_alphanumeric() && c != ')');
    let first = t.chars().next()?;
    let ok = is_cjk(first)
        && t.chars()
            .all(|c| is_cjk(c) || c.is_ascii_digit() || matches!(c, '(' | ')' | ':'));
    let cjk = t.chars().filter(|&c| is_cjk(c)).count();
    (ok && cjk >= 2 && t.matches('(').count() == t.matches(')').count()).then(|| t.to_string())
}

/// The 预计毕业日期 a 学籍状态 carries in brackets, ISO.
pub fn date_in_status(status: &str) -> Option<String> {
    let at = status.find("预计毕业日期:")?;
    let rest = &status[at + "预计毕业日期:".len()..];
    date(rest.split(')').next()?)
}

/// A 班级: Han text that may carry a year or number (护理2019级3班).
fn class_name(raw: &str) -> Option<String> {
    let t = crate::domain::text::normalize_text(raw);
    let ok = t.chars().all(|c| is_cjk(c) || c.is_ascii_alphanumeric());
    let cjk = t.chars().filter(|&c| is_cjk(c)).count();
    (ok && cjk >= 1 && t.chars().count() >= 2).then_some(t)
}

fn text(raw: &str) -> Option<String> {
    let t = cjk_only(raw)?;
    (t.chars().filter(|&c| is_cjk(c)).count() >= 2).then_some(t)
}

/// 所授学位 names end in 学士学位, 硕士学位, 博士学位 (or 硕士专业学位…);
/// Tesseract reads the 士 as 十 or 土, which the format corrects.
fn degree(raw: &str) -> Option<String> {
    let mut t = text(raw)?;
    for rank in ["学", "硕", "博"] {
        for slip in ["十", "土"] {
            t = t.replace(&format!("{rank}{slip}"), &format!("{rank}士"));
        }
    }
    t.ends_with("学位").then_some(t)
}

/// A closed vocabulary: the value must be one of the terms. A value one
/// character away from exactly one term, and further from all others, is
/// that term misread (加授 can only be 函授; 木科 could be 本科 or 专科 and is
/// refused). With `open`, a value far from every term is kept when it is
/// plain Han text of a plausible length (the list is not known to be
/// complete).
fn vocabulary(raw: &str, terms: &[&str], open: bool) -> Option<String> {
    let t = cjk_only(raw)?;
    if terms.contains(&t.as_str()) {
        return Some(t);
    }
    let near: Vec<&&str> = terms
        .iter()
        .filter(|term| crate::domain::text::substitutions(term, &t) == Some(1))
        .collect();
    match near.as_slice() {
        [one] => Some(one.to_string()),
        [] => (open && (2..=8).contains(&t.chars().count())).then_some(t),
        _ => None,
    }
}

fn gender(raw: &str) -> Option<String> {
    let t = cjk_only(raw)?;
    matches!(t.as_str(), "男" | "女").then_some(t)
}

/// Marks Tesseract reads the middle dot of a name as.
fn is_dot_lookalike(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | ':' | ';' | '，' | '：' | '。' | '、' | '·' | '・' | '•'
    )
}

fn name(raw: &str) -> Option<String> {
    let chars: Vec<char> = to_half_width(raw)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if is_cjk(c) {
            out.push(c);
        } else if is_dot_lookalike(c) {
            let inner =
                i > 0 && i + 1 < chars.len() && is_cjk(chars[i - 1]) && is_cjk(chars[i + 1]);
            if inner {
                out.push('·');
            }
        } else {
            return None;
        }
    }
    let n = normalize_name(&out);
    let cjk = n.chars().filter(|&c| is_cjk(c)).count();
    (cjk >= 2 && n.chars().count() <= 20).then_some(n)
}

/// Letters Tesseract returns for a digit, by shape.
pub fn digit_lookalike(c: char) -> Option<char> {
    Some(match c {
        '0'..='9' => c,
        'O' | 'o' | 'D' | 'Q' | '〇' => '0',
        'I' | 'l' | 'i' | '|' | '!' => '1',
        'Z' | 'z' => '2',
        'S' | 's' => '5',
        'G' | 'b' => '6',
        'T' => '7',
        'B' => '8',
        'g' | 'q' => '9',
        _ => return None,
    })
}

fn date(raw: &str) -> Option<String> {
    // Letters inside a date are digits misread; a date is a prefix of the
    // value, and anything after it (a stray mark) goes.
    let t: String = to_half_width(raw)
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '年' | '月' | '日' | '-' | '/' | '.' => Some(c),
            _ => digit_lookalike(c),
        })
        .take_while(Option::is_some)
        .flatten()
        .collect();
    let end = t.find('日').map_or(t.len(), |i| i + '日'.len_utf8());
    let iso = dates::to_iso(&t[..end])?;
    let year: i32 = iso[..4].parse().ok()?;
    (1900..=2100).contains(&year).then_some(iso)
}

fn duration(raw: &str) -> Option<String> {
    let t = to_half_width(raw);
    let t = t.trim().trim_end_matches('年').trim();
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c.is_whitespace())
    {
        return None;
    }
    let v = normalize_value(Field::duration, t)?;
    let years: f32 = v.parse().ok()?;
    (1.0..=8.0).contains(&years).then_some(v)
}

/// Letters and digits of a code value, spaces and stray punctuation dropped.
fn code_chars(raw: &str) -> Vec<char> {
    to_half_width(raw)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// 学历证书编号 (17 or 18 digits) or 学位证书编号 (16): all digits, so every
/// letter is the digit it looks like.
fn certificate_no(raw: &str) -> Option<String> {
    let t: Option<String> = to_half_width(raw)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, ',' | '，' | '.' | '。' | '-'))
        .map(digit_lookalike)
        .collect();
    let t = t?;
    matches!(t.len(), 16..=18).then_some(t)
}

/// 在线验证码: 16 characters of [`VCODE_ALPHABET`] (O and I are never in it,
/// so they are 0 and 1), or 12 digits on old reports.
fn vcode(raw: &str) -> Option<String> {
    let t: String = code_chars(raw)
        .into_iter()
        .map(|c| match c {
            'O' => '0',
            'I' => '1',
            _ => c,
        })
        .collect();
    let ok = (t.len() == 16 && t.chars().all(|c| VCODE_ALPHABET.contains(c)))
        || (t.len() == 12 && t.chars().all(|c| c.is_ascii_digit()));
    ok.then_some(t)
}

/// A masked ID number, `4101**********459X`. Tesseract turns the stars into
/// noise of about the right length, so the value is rebuilt from its first
/// and last four when the shape allows; an unmasked number is masked here.
fn id_number_masked(raw: &str) -> Option<String> {
    let chars: Vec<char> = to_half_width(raw)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !(14..=24).contains(&chars.len()) {
        return None;
    }
    let head: Option<String> = chars[..4].iter().map(|&c| digit_lookalike(c)).collect();
    let tail_chars = &chars[chars.len() - 4..];
    let mut tail = String::new();
    for (i, &c) in tail_chars.iter().enumerate() {
        let last = i == 3;
        match c {
            'X' | 'x' | '×' | 'K' if last => tail.push('X'),
            _ => tail.push(digit_lookalike(c)?),
        }
    }
    let head = head?;
    let middle = &chars[4..chars.len() - 4];
    // The middle must look like the mask (stars, or noise in place of them),
    // or be the 10 digits of an unmasked number. A middle of plain digits of
    // the wrong length is a different number, not a masked ID.
    let all_digits = middle.iter().all(|c| c.is_ascii_digit());
    if all_digits && middle.len() != 10 {
        return None;
    }
    Some(format!("{head}{}{tail}", "*".repeat(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_by_format() {
        let cases: &[(Field, &str, Option<&str>)] = &[
            // Dates to ISO from both written forms, letters read as digits.
            (Field::birth_date, "1990年04月09日", Some("1990-04-09")),
            (Field::birth_date, "1995-04-06", Some("1995-04-06")),
            (Field::birth_date, "2O21年O6月3O日", Some("2021-06-30")),
            (Field::birth_date, "2021年06月30日 ,", Some("2021-06-30")),
            (Field::birth_date, "2021年02月30日", None),
            (Field::birth_date, "2021年06月", None),
            // 在线验证码: grouped in fours, joined; O and I are not in the alphabet.
            (
                Field::vcode,
                "FSKU VT72 NN8N EK0J",
                Some("FSKUVT72NN8NEK0J"),
            ),
            (Field::vcode, "TOUV3NJREPVXMNR3", Some("T0UV3NJREPVXMNR3")),
            (
                Field::vcode,
                "A8BL BQS5 ZRZ9 DRYI",
                Some("A8BLBQS5ZRZ9DRY1"),
            ),
            (Field::vcode, "123456789012", Some("123456789012")),
            // Old 12-digit codes, grouped in fours. A letter other than O or
            // I is no digit of one (S5B8Z2QD01K7 is a 16-character code cut
            // short, not 558200…).
            (Field::vcode, "4364 2230 5570", Some("436422305570")),
            (Field::vcode, "4364 223O 5570", Some("436422305570")),
            (Field::vcode, "4364 2230 5S70", None),
            (Field::vcode, "4364 2230 557", None),
            (Field::vcode, "4364 2230 55X0", None),
            (Field::vcode, "FSKU VT72 NN8N EK0", None),
            (Field::vcode, "进行查询验证", None),
            // Certificate numbers: digits only, look-alike letters mapped.
            (Field::certificate_no, "14019120100632654б", None),
            (
                Field::certificate_no,
                "1401912O1OO6326546",
                Some("140191201006326546"),
            ),
            (
                Field::certificate_no,
                "140191201006326546，",
                Some("140191201006326546"),
            ),
            (
                Field::certificate_no,
                "1045942016926995",
                Some("1045942016926995"),
            ),
            (Field::certificate_no, "10459420169269", None),
            (Field::certificate_no, "104594201692699K", None),
            // Masked ID numbers rebuilt from both ends.
            (
                Field::id_number_masked,
                "3702+9exxxtwwx5189",
                Some("3702**********5189"),
            ),
            (
                Field::id_number_masked,
                "4101**********459X",
                Some("4101**********459X"),
            ),
            (
                Field::id_number_masked,
                "4101**********459x",
                Some("4101**********459X"),
            ),
            (
                Field::id_number_masked,
                "1101 ********** 4782",
                Some("1101**********4782"),
            ),
            (
                Field::id_number_masked,
                "110105199904180025",
                Some("1101**********0025"),
            ),
            (Field::id_number_masked, "1101051999041800", None),
            (Field::id_number_masked, "13345", None),
            // Names: the middle dot in its OCR forms.
            (Field::name, "阿依古丽.买买提", Some("阿依古丽·买买提")),
            (Field::name, "阿依古丽,买买提", Some("阿依古丽·买买提")),
            (Field::name, "阿依古丽:买买提", Some("阿依古丽·买买提")),
            (Field::name, "阿依古丽 · 买买提", Some("阿依古丽·买买提")),
            (Field::name, "王五", Some("王五")),
            (Field::name, "王5", None),
            (Field::name, "王", None),
            // Closed vocabularies.
            (Field::gender, "女", Some("女")),
            (Field::gender, "文", None),
            (Field::level, "本科", Some("本科")),
            (Field::level, "木科", None),
            (Field::level, "硕士研宄生", Some("硕士研究生")),
            (Field::completion, "结业", Some("结业")),
            (Field::category, "成人高等教肓", Some("成人高等教育")),
            (Field::category, "普通高等教育", Some("普通高等教育")),
            (Field::study_mode, "函授", Some("函授")),
            (Field::study_mode, "普通全日制", Some("普通全日制")),
            (Field::study_mode, "加授", Some("函授")),
            (Field::completion, "华业", None),
            (Field::degree, "医学学十学位", Some("医学学士学位")),
            (Field::degree, "护理硕土专业学位", Some("护理硕士专业学位")),
            // 学籍 rows.
            (
                Field::enrollment_status,
                "在籍 (注册学籍)",
                Some("在籍(注册学籍)"),
            ),
            (
                Field::enrollment_status,
                "注册学籍（预计毕业日期：2025年01月01日）",
                Some("注册学籍(预计毕业日期:2025年01月01日)"),
            ),
            (Field::enrollment_status, "在籍 (注册学籍", None),
            (Field::enrollment_status, "2025年01月01日", None),
            (Field::class_name, "护理2019级3班", Some("护理2019级3班")),
            (Field::class_name, "机械硕士班", Some("机械硕士班")),
            (Field::class_name, "3", None),
            (Field::department, "护理学院", Some("护理学院")),
            // Durations.
            (Field::duration, "3 年", Some("3")),
            (Field::duration, "2.5年", Some("2.5")),
            (Field::duration, "30年", None),
            // Free text.
            (Field::school, "北京卫生职业学院", Some("北京卫生职业学院")),
            (
                Field::school,
                "中国石油大学（华东）",
                Some("中国石油大学(华东)"),
            ),
            (Field::school, "北京卫生职业学院 3", None),
            (Field::degree, "理学学士学位", Some("理学学士学位")),
            (Field::degree, "理学学士", None),
        ];
        for (field, raw, want) in cases {
            assert_eq!(repair(*field, raw).as_deref(), *want, "{field} {raw}");
        }
    }

    #[test]
    fn a_status_carries_its_expected_graduation_date() {
        assert_eq!(
            date_in_status("注册学籍(预计毕业日期:2025年01月01日)").as_deref(),
            Some("2025-01-01")
        );
        assert_eq!(date_in_status("在籍(注册学籍)"), None);
    }
}
