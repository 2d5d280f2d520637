//! The second line reader (PP-OCR through ONNX Runtime) on real crops: a
//! name cut out of a fixture screenshot where Tesseract's page read put it,
//! and the names the verification service draws as images.

use crate::common;

use std::path::Path;

use credverify::domain::Field;
use credverify::ocr::engine::{Budget, Engine};
use credverify::ocr::line_reader::{LineReader, LineReaderDir};
use credverify::ocr::{intake, preprocess, second_reading};
use credverify::parse::{Rect, labels};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn gray(path: &str) -> image::GrayImage {
    let bytes = std::fs::read(root().join(path)).expect("fixture readable");
    intake::decode(&bytes, &intake::Limits::default()).expect("fixture decodes")
}

fn expected(json: &str, key: &str) -> String {
    let text = std::fs::read_to_string(root().join(json)).expect("fixture json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v[key].as_str().expect("key present").to_string()
}

#[test]
fn reads_a_name_cut_out_of_a_screenshot() {
    let mut reader = LineReader::load(&common::line_reader::dir()).expect("model loads");
    let mut engine = Engine::new(None, "chi_sim").expect("Tesseract with chi_sim");
    let mut read = 0;
    for name in ["degree-001", "report-001", "web-001", "mobile-001"] {
        let img = [".png", ".jpg"]
            .iter()
            .map(|ext| format!("fixtures/screenshots/{name}{ext}"))
            .find(|p| root().join(p).exists())
            .expect("fixture image");
        let prepared = preprocess::prepare(gray(&img), &preprocess::Preprocess::default());
        let page = engine
            .read_page(
                &prepared.image,
                Budget {
                    cpu: std::time::Duration::from_secs(30),
                    wall: std::time::Duration::from_secs(300),
                },
            )
            .expect("page read");
        let region = page
            .lines
            .iter()
            .flat_map(|l| labels::scan_line(l).hits)
            .find(|h| h.field == Field::name)
            .and_then(|h| h.rect)
            .unwrap_or_else(|| panic!("{name}: Tesseract found the name's place"));
        let crop = second_reading::tight_crop(&prepared.image, region).expect("ink in the crop");
        // Trimmed to the ink: about one line high, not the page.
        assert!(
            (crop.height() as i32) < region.height * 2,
            "{name}: crop not tight"
        );
        let line = reader.read(&crop).expect("the model runs");
        let (text, confidence) = second_reading::name_text(&line);
        let want = expected(&format!("fixtures/screenshots/{name}.json"), "name");
        println!("{name}: read {text:?} ({confidence:.2}), printed {want:?}");
        assert_eq!(line.text.chars().count(), line.confidences.len());
        if text == want {
            read += 1;
        }
    }
    // PP-OCR reads clean crops of names near perfectly (BENCHMARKS.md);
    // one miss of four is allowed for a crop Tesseract placed badly.
    assert!(read >= 3, "{read} of 4 names read");
}

#[test]
fn reads_the_names_the_service_draws() {
    let mut reader = LineReader::load(&common::line_reader::dir()).expect("model loads");
    for (file, want) in [
        ("name-chen-guohua.png", "陈国华"),
        ("name-zhou-jianping.png", "周建平"),
        ("name-li-wenbo.png", "李文博"),
        ("name-lin-shuyao.png", "林书瑶"),
    ] {
        let img = gray(&format!("fixtures/chsi/img/{file}"));
        let whole = Rect {
            left: 0,
            top: 0,
            width: img.width() as i32,
            height: img.height() as i32,
        };
        let crop = second_reading::tight_crop(&img, whole).expect("ink");
        let line = reader.read(&crop).expect("the model runs");
        let (text, confidence) = second_reading::name_text(&line);
        assert_eq!(text, want, "{file}");
        assert!(confidence > 0.5, "{file}: {confidence}");
    }
}

#[test]
fn a_directory_without_the_model_is_refused() {
    let empty = tempfile::tempdir().expect("tempdir");
    let err = LineReaderDir::open(empty.path()).expect_err("no model there");
    assert!(
        err.to_string().contains("scripts/fetch-line-reader"),
        "{err}"
    );
    // A blank crop has nothing to read rather than something invented.
    let blank = image::GrayImage::from_pixel(200, 40, image::Luma([255]));
    let r = Rect {
        left: 0,
        top: 0,
        width: 200,
        height: 40,
    };
    assert!(second_reading::tight_crop(&blank, r).is_none());
}
