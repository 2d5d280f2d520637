//! The documented shape of a typed value (jobs/schema/fields.schema.json),
//! checked before normalisation. Normalisation is forgiving because it also
//! serves OCR output; what a person or a backend types must have the shape
//! the schema documents, and `credverify.submit_record` applies the same
//! rules on PostgreSQL, so every intake refuses the same things.

use super::fields::Field;

/// Longest typed value, in characters.
pub const MAX_VALUE_CHARS: usize = 200;

/// Why `raw` does not have the documented shape of `field`, if it does not.
pub fn shape_error(field: Field, raw: &str) -> Option<&'static str> {
    let v = raw.trim_matches([' ', '\t', '\r', '\n']);
    if v.chars().count() > MAX_VALUE_CHARS {
        return Some("longer than 200 characters");
    }
    if v.chars().any(is_control) {
        return Some("contains control characters");
    }
    let ok = match field.key() {
        "birth_date"
        | "enrollment_date"
        | "graduation_date"
        | "degree_date"
        | "expected_graduation_date" => is_date_shape(v),
        "duration" => is_duration_shape(v),
        "certificate_no" => {
            (16..=22).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        }
        "vcode" => is_vcode_shape(v),
        "id_number_masked" => is_masked_id_shape(v),
        _ => true,
    };
    if ok {
        None
    } else {
        Some(match field.key() {
            "duration" => "学制 must be a number of years between 0 and 12, e.g. \"4\"",
            "certificate_no" => "must be 18 digits (学历) or 16 characters (学位)",
            "vcode" => "must be 16 letters/digits (or 12 digits)",
            "id_number_masked" => "must be 4 digits, 10 *, 4 digits",
            _ => "not a date; use YYYY-MM-DD or 2021年06月30日",
        })
    }
}

/// `1101**********123X`: the shape `credverify.typed_value` requires too
/// (the conformance tests hold the two to it).
fn is_masked_id_shape(v: &str) -> bool {
    let c: Vec<char> = v.chars().collect();
    c.len() == 18
        && c[..4].iter().all(char::is_ascii_digit)
        && c[4..14].iter().all(|&x| x == '*')
        && c[14..17].iter().all(char::is_ascii_digit)
        && (c[17].is_ascii_digit() || c[17] == 'X' || c[17] == 'x')
}

/// Control and bidirectional-override characters: never part of a name or
/// a value, and able to rewrite an admin's terminal. Intake refuses them,
/// as its PL/pgSQL twin does with the same set (`migrations/postgres/0006`).
pub fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Characters that reorder the text around them (marks, embeddings,
/// overrides, isolates): on a terminal or a web page they make a value
/// read as something else.
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `2021-06-30` or `2021年06月30日` (one- or two-digit month and day).
fn is_date_shape(v: &str) -> bool {
    let Some((year, rest)) = v.split_at_checked(4) else {
        return false;
    };
    if !year.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let short_num = |s: &str| (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(md) = rest.strip_prefix('-') {
        return md
            .split_once('-')
            .is_some_and(|(m, d)| short_num(m) && short_num(d));
    }
    if let Some(md) = rest.strip_prefix('年').and_then(|s| s.strip_suffix('日')) {
        return md
            .split_once('月')
            .is_some_and(|(m, d)| short_num(m) && short_num(d));
    }
    false
}

/// `4`, `2.5`, `4年`, `4 年`: at most two digits each side, 0 < years ≤ 12.
fn is_duration_shape(v: &str) -> bool {
    let n = v.strip_suffix('年').unwrap_or(v).trim_end_matches(' ');
    let (int, frac) = n.split_once('.').unwrap_or((n, ""));
    let digits =
        |s: &str, min: usize| (min..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int, 1) || (n.contains('.') && !digits(frac, 1)) {
        return false;
    }
    n.parse::<f64>().is_ok_and(|y| y > 0.0 && y <= 12.0)
}

/// Sixteen ASCII letters/digits, optionally grouped by single spaces or
/// dashes, or twelve digits. ASCII only: upper-casing `ſ` or `ı` must never
/// turn them into a code's letters.
fn is_vcode_shape(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() == 12 && b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    let mut n = 0;
    let mut prev_sep = true;
    for &c in b {
        if c.is_ascii_alphanumeric() {
            n += 1;
            prev_sep = false;
        } else if (c == b' ' || c == b'-') && !prev_sep {
            prev_sep = true;
        } else {
            return false;
        }
    }
    n == 16 && !prev_sep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shapes_pass() {
        for (f, v) in [
            (Field::graduation_date, "2021-06-30"),
            (Field::graduation_date, "2021年6月30日"),
            (Field::duration, "4"),
            (Field::duration, "2.5"),
            (Field::duration, "4年"),
            (Field::certificate_no, "102461202105001234"),
            (Field::vcode, "ABCD-EFGH-1234-5678"),
            (Field::vcode, "abcd efgh 1234 5678"),
            (Field::vcode, "123456789012"),
            (Field::name, "阿依古丽·买买提"),
        ] {
            assert_eq!(shape_error(f, v), None, "{v}");
        }
    }

    #[test]
    fn what_the_schema_refuses_is_refused() {
        for (f, v) in [
            (Field::graduation_date, "2021/06/30"),
            (Field::graduation_date, "2021.06.30"),
            (Field::graduation_date, "21-06-30"),
            (Field::duration, "four"),
            (Field::duration, "1e9"),
            (Field::duration, "0"),
            (Field::duration, "99"),
            (Field::certificate_no, "abc"),
            (Field::vcode, "ſBCDEFGH12345678"),
            (Field::vcode, "ıBCDEFGH12345678"),
            (Field::vcode, "ABCD--EFGH12345678"),
            (Field::name, "a\u{1b}[2Jb"),
            (Field::name, "evil\u{202e}txt"),
        ] {
            assert!(shape_error(f, v).is_some(), "{v:?}");
        }
        assert!(shape_error(Field::school, &"校".repeat(201)).is_some());
    }
}
