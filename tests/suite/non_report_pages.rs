//! `credverify ocr --json` with real Tesseract on rendered CHSI pages that
//! name reports without being one (the index of report kinds, a query
//! page's header, an 图像采集码 card, the app's index of several records),
//! and on pages of other layouts: 学籍 reports in both their forms, the
//! 2010-era 备案表 and 学信档案 page, today's 学信档案 学籍 page. Only reports
//! are read as reports, and each page's fields are read. Each page's JSON in
//! `fixtures/pages/` says what it must become.

use std::path::Path;

#[test]
fn only_reports_are_read_as_reports() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pages");
    let mut images: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    images.sort();
    assert!(images.len() >= 5, "pages in {}", dir.display());
    // The second line reader confirms codes as it does in a worker; without
    // it the 学籍 card's framed code has one reader only.
    let lines = crate::common::ocr_cli::ocr_json(&images);
    for (image, got) in images.iter().zip(&lines) {
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(image.with_extension("json")).unwrap())
                .unwrap();
        let name = image.file_stem().unwrap().to_string_lossy();
        assert_eq!(got["layout"], want["layout"], "{name}: {got}");
        assert_eq!(got["kind"], want["kind"], "{name}: {got}");
        if want["layout"].is_null() {
            assert_eq!(got["fields"], serde_json::json!({}), "{name}: {got}");
        }
        let Some(fields) = want["fields"].as_object() else {
            continue;
        };
        for (key, value) in fields {
            assert_eq!(&got["fields"][key], value, "{name}: field {key}: {got}");
            assert!(
                got["confidence"][key].as_u64().is_some_and(|c| c <= 100),
                "{name}: field {key} has no confidence: {got}"
            );
        }
    }
}
