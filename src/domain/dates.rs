//! Dates as CHSI pages and candidates write them, to ISO `YYYY-MM-DD`.

use chrono::NaiveDate;

/// Parses `2021年06月30日`, `2021年6月30日`, `2021-06-30`, `2021/6/30` and
/// `2021.06.30` (spaces anywhere are ignored). Returns `None` for anything
/// that is not a real calendar date.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s: String = super::text::to_half_width(s)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let s = s.trim_end_matches('日');
    let parts: Vec<&str> = s
        .split(['年', '月', '-', '/', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != 3 || parts.iter().any(|p| !p.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    if parts[0].len() != 4 || parts[1].len() > 2 || parts[2].len() > 2 {
        return None;
    }
    let y = parts[0].parse().ok()?;
    let m = parts[1].parse().ok()?;
    let d = parts[2].parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Canonical ISO form, or `None` when `s` is not a date.
pub fn to_iso(s: &str) -> Option<String> {
    parse_date(s).map(|d| d.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_form_becomes_iso() {
        for s in [
            "2021年06月30日",
            "2021年6月30日",
            "2021-06-30",
            "2021/6/30",
            "2021.06.30",
            " 2021 年 06 月 30 日 ",
            "２０２１－０６－３０",
        ] {
            assert_eq!(to_iso(s).as_deref(), Some("2021-06-30"), "{s}");
        }
    }

    #[test]
    fn impossible_or_partial_dates_are_rejected() {
        for s in [
            "2021-02-30",
            "2021-13-01",
            "2021年06月",
            "21-06-30",
            "",
            "abcd-ef-gh",
        ] {
            assert_eq!(to_iso(s), None, "{s}");
        }
    }
}
