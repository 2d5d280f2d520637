//! Normalisation of the strings candidates type and OCR reads, so that
//! comparisons ignore presentation (width, spacing, bracket style) and nothing
//! else.

/// Full-width ASCII to half-width, ideographic space to space.
pub fn to_half_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// The forms a name's middle dot takes in typed input and in OCR output.
const DOT_LOOKALIKES: &[char] = &[
    '·', '.', '•', '・', '‧', '∙', '⋅', '･', '．', '˙', '●', '丶', '、',
];

/// Canonical form of a person's name: no whitespace, half-width, every
/// middle-dot look-alike between two name parts turned into `·` (U+00B7).
pub fn normalize_name(s: &str) -> String {
    let half = to_half_width(s);
    let compact: String = half.chars().filter(|c| !c.is_whitespace()).collect();
    // Dots at either end are dropped; a run of dots between two name parts
    // becomes one middle dot (judging the run, not each dot, keeps this
    // idempotent: "甲.." is "甲", not "甲·").
    let trimmed = compact.trim_matches(|c| DOT_LOOKALIKES.contains(&c));
    let mut out = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        if DOT_LOOKALIKES.contains(&c) {
            if !out.ends_with('·') {
                out.push('·');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Canonical form of free text such as a school or a major: half-width, no
/// whitespace, ASCII brackets and colon.
pub fn normalize_text(s: &str) -> String {
    to_half_width(s)
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' | '〔' | '【' => '(',
            '）' | '〕' | '】' => ')',
            '：' => ':',
            _ => c,
        })
        .collect()
}

/// Letters and digits only, upper case: certificate numbers and codes as the
/// service prints them, whatever grouping the candidate used.
pub fn alnum_upper(s: &str) -> String {
    to_half_width(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Number of positions at which two equally long strings differ, or `None`
/// when their lengths differ (an insertion is not a misread character).
pub fn substitutions(a: &str, b: &str) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() != b.len() {
        return None;
    }
    Some(a.iter().zip(&b).filter(|(x, y)| x != y).count())
}

/// Mask all but the first and last `keep` characters, for logs and display.
pub fn mask(s: &str, keep: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= keep * 2 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..keep].iter().collect();
    out.push_str(&"*".repeat(chars.len() - keep * 2));
    out.extend(&chars[chars.len() - keep..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_dot_lookalikes_become_one_dot() {
        for typed in [
            "阿依古丽·买买提",
            "阿依古丽.买买提",
            "阿依古丽・买买提",
            "阿依古丽 • 买买提",
            "阿依古丽．买买提",
        ] {
            assert_eq!(normalize_name(typed), "阿依古丽·买买提", "{typed}");
        }
    }

    #[test]
    fn names_lose_spaces_and_width() {
        assert_eq!(normalize_name(" 王　晓 雯 "), "王晓雯");
        assert_eq!(normalize_name("ＡＢＣ"), "ABC");
        assert_eq!(normalize_name("·王·"), "王");
        assert_eq!(normalize_name("!.."), "!");
        assert_eq!(normalize_name("阿依古丽..买买提"), "阿依古丽·买买提");
    }

    #[test]
    fn text_brackets_and_spaces_are_presentation() {
        assert_eq!(normalize_text("毕（结）业"), "毕(结)业");
        assert_eq!(normalize_text("南京 中医药 大学"), "南京中医药大学");
    }

    #[test]
    fn substitutions_count_only_equal_lengths() {
        assert_eq!(substitutions("南京中医药大学", "南京中医葯大学"), Some(1));
        assert_eq!(substitutions("护理学", "护理"), None);
    }

    #[test]
    fn mask_keeps_ends() {
        assert_eq!(mask("A7K2M9QX4TB8R5WZ", 2), "A7************WZ");
        assert_eq!(mask("ab", 2), "**");
    }
}
