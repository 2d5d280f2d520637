//! Properties of the parsers and validators, over generated input: they
//! never panic, what they accept is well-formed, and what the service's
//! format carries comes back out unchanged.

use credverify::chsi::{Page, parse_page};
use credverify::domain::identity::check_char;
use credverify::domain::text::normalize_name;
use credverify::domain::{
    CertificateNo, CredentialFields, Field, IdNumber, Kind, VerificationCode,
};
use credverify::sandbox::{Markup, RegistryReport, report_page};
use proptest::prelude::*;

const CODE_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Han characters, less 丶 (U+4E36): it is read as a name's middle dot, on
/// purpose, so a name made of it does not come back as it went in.
fn cjk(range: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(0x4e00u32..0x9fa5, range).prop_map(|v| {
        v.into_iter()
            .filter_map(char::from_u32)
            .map(|c| if c == '丶' { '一' } else { c })
            .collect()
    })
}

fn iso_date() -> impl Strategy<Value = String> {
    (1960i32..2030, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

prop_compose! {
    fn diploma()(name in cjk(2..=4), school in cjk(4..=10), major in cjk(2..=6), born in iso_date(),
                 grad in iso_date(), cert in "[0-9]{18}", duration in 2u8..=5,
                 level in prop::sample::select(vec!["本科", "专科", "硕士研究生"])) -> CredentialFields {
        let mut f = CredentialFields::default();
        for (k, v) in [(Field::name, name), (Field::school, school), (Field::major, major), (Field::birth_date, born),
                       (Field::graduation_date, grad), (Field::certificate_no, cert), (Field::duration, duration.to_string()),
                       (Field::level, level.to_string()), (Field::gender, "女".to_string())] {
            f.set(k, v);
        }
        f
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_page_parser_never_panics(html in ".{0,2000}") {
        let _ = parse_page(&html);
    }

    #[test]
    fn the_page_parser_never_panics_on_tag_soup(parts in proptest::collection::vec(
        prop::sample::select(vec!["<div>", "</div>", "<span class=\"label\">", "</span>", "<div class=\"report-info-item\">",
            "<h4>", "</h4>", "教育部学历证书电子注册备案表", "<div id=\"resultTable\">", "姓名", "<div class=\"value\">", "<", ">", "&amp;", "此在线验证码无效"]),
        0..300)) {
        let _ = parse_page(&parts.concat());
    }

    #[test]
    fn a_report_in_the_service_format_reads_back_unchanged(fields in diploma(), code in "[0-9A-HJ-NP-Z]{16}") {
        let report = RegistryReport { vcode: code.clone(), state: Default::default(), kind: Kind::Diploma, fields: fields.clone(),
                                      updated: None, fixture: None, note: None,
                                      markup: Default::default(), drawn: Default::default() };
        let Page::Report { report: read, vcode, unreadable, .. } = parse_page(&report_page(&report, &code)) else {
            return Err(TestCaseError::fail("not read as a report"));
        };
        prop_assert!(unreadable.is_empty());
        prop_assert_eq!(vcode.as_deref(), Some(code.as_str()));
        for (f, v) in fields.iter() {
            prop_assert_eq!(read.fields.get(f), Some(v), "{}", f);
        }
    }

    #[test]
    fn a_report_in_the_table_markup_reads_back_unchanged(fields in diploma(), code in "[0-9A-HJ-NP-Z]{16}") {
        let report = RegistryReport { vcode: code.clone(), state: Default::default(), kind: Kind::Diploma, fields: fields.clone(),
                                      updated: None, fixture: None, note: None,
                                      markup: Markup::Table, drawn: Default::default() };
        let Page::Report { report: read, vcode, unreadable, drawn, .. } = parse_page(&report_page(&report, &code)) else {
            return Err(TestCaseError::fail("not read as a report"));
        };
        prop_assert!(unreadable.is_empty() && drawn.is_empty());
        prop_assert_eq!(vcode.as_deref(), Some(code.as_str()));
        for (f, v) in fields.iter() {
            prop_assert_eq!(read.fields.get(f), Some(v), "{}", f);
        }
    }

    #[test]
    fn the_page_parser_never_panics_on_table_soup(parts in proptest::collection::vec(
        prop::sample::select(vec!["<table>", "<tr>", "</tr>", "<th>", "</th>", "<td>", "</td>", "<img src=\"/report/img/x.jpg\">",
            "<div class=\"tableTitle\">教育部学籍在线验证报告</div>", "姓名", "学制", "：", "<dt>", "<dd>", "<script>", "</script>", "2.5 年"]),
        0..300)) {
        let _ = parse_page(&parts.concat());
    }

    #[test]
    fn an_accepted_code_is_url_safe_and_canonical(s in ".{0,40}") {
        if let Ok(c) = VerificationCode::parse(&s) {
            let v = c.expose();
            prop_assert!(v.len() == 16 || v.len() == 12);
            prop_assert!(v.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()));
            let again = VerificationCode::parse(v).unwrap();
            prop_assert_eq!(again.expose(), v);
        }
    }

    #[test]
    fn grouped_or_lower_case_codes_are_the_same_code(chars in proptest::collection::vec(prop::sample::select(CODE_ALPHABET.chars().collect::<Vec<_>>()), 16)) {
        let code: String = chars.iter().collect();
        let grouped = code.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).to_lowercase()).collect::<Vec<_>>().join(" ");
        let parsed = VerificationCode::parse(&grouped).unwrap();
        prop_assert_eq!(parsed.expose(), code.as_str());
    }

    #[test]
    fn an_accepted_certificate_number_is_digits(s in "[0-9 A-Z]{0,24}") {
        if let Ok(c) = CertificateNo::parse(&s) {
            prop_assert!(matches!(c.as_str().len(), 17 | 18));
            prop_assert!(c.as_str().chars().all(|ch| ch.is_ascii_digit()));
        }
    }

    #[test]
    fn id_numbers_carry_their_birth_date_and_catch_any_single_digit_slip(
        area in "[1-6][0-9]{5}", y in 1950i32..2010, m in 1u32..=12, d in 1u32..=28, seq in "[0-9]{3}", pos in 0usize..17, bump in 1u8..10
    ) {
        let body = format!("{area}{y:04}{m:02}{d:02}{seq}");
        let id = format!("{body}{}", check_char(&body).unwrap());
        let parsed = IdNumber::parse(&id).unwrap();
        prop_assert_eq!(parsed.birth_date().to_string(), format!("{y:04}-{m:02}-{d:02}"));
        prop_assert_eq!(parsed.gender().as_str(), if seq.as_bytes()[2] % 2 == 1 { "男" } else { "女" });
        let mut slipped = id.clone().into_bytes();
        slipped[pos] = b'0' + (slipped[pos] - b'0' + bump) % 10;
        prop_assert!(IdNumber::parse(&String::from_utf8(slipped).unwrap()).is_err(), "a one-digit slip is caught");
    }

    #[test]
    fn manual_json_never_panics(s in ".{0,300}") {
        let _ = CredentialFields::from_manual_json(&s);
    }

    #[test]
    fn name_normalisation_is_idempotent(s in ".{0,20}") {
        let once = normalize_name(&s);
        prop_assert_eq!(normalize_name(&once), once.clone());
    }
}
