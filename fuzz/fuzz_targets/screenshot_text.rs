#![no_main]
//! Whatever text a hostile screenshot makes the engine read: the TSV and
//! hOCR readers and the field parser must end with an outcome, and a code
//! they hand on must have a code's shape.
use credverify::domain::VerificationCode;
use credverify::parse::{Codes, OcrPage, ParsedScreenshot, Rect, parse_page};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // The engine's own outputs, as if Tesseract had written this text.
    let _ = credverify::ocr::tsv::parse(&text, 1200, 1600);
    let _ = credverify::ocr::hocr::parse(&text, 1200, 1600);

    // The text as read words on a page, through both code policies. The
    // second reader answers from the text itself, so agreement and
    // disagreement are both reached.
    let page = OcrPage::from_text(&text);
    let single = parse_page(&page, Codes::SingleRead);
    let mut n = 0usize;
    let mut reread = |_r: Rect, _charset: &str, attempt: u8| -> Option<String> {
        n += 1;
        text.split_whitespace()
            .nth(n + attempt as usize)
            .map(str::to_string)
    };
    let confirmed = parse_page(&page, Codes::Confirmed(&mut reread));

    for parsed in [single, confirmed] {
        for c in &parsed.vcode_candidates {
            assert!(
                VerificationCode::parse(c).is_ok(),
                "candidate {c:?} is not a code"
            );
        }
        if let Some(c) = &parsed.fields.vcode {
            assert!(VerificationCode::parse(c).is_ok(), "code {c:?} kept");
        }
        if parsed.layout.is_none() {
            assert_eq!(parsed, ParsedScreenshot::default(), "values from no page");
        }
    }
});
