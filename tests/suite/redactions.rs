//! Values nobody can read are not invented: real Tesseract (and the second
//! line reader) on fixture screenshots with part of the name painted over
//! in black, as publishers do before sharing a screenshot, and on the
//! clean originals; and every value `ocr --json` prints has a confidence.

use std::io::Cursor;
use std::time::Duration;

use credverify::ocr::engine::{Budget, Engine};
use credverify::ocr::preprocess::{self, Preprocess};
use credverify::parse::{OcrPage, Rect};
use image::{GrayImage, Luma};

use crate::common;

/// Clean fixtures of the four layouts, each showing a name.
const FIXTURES: [&str; 4] = ["report-001", "degree-001", "web-001", "mobile-001"];

fn image_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/screenshots");
    ["png", "jpg"]
        .iter()
        .map(|e| dir.join(format!("{name}.{e}")))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no image for {name}"))
}

fn expected(name: &str) -> serde_json::Value {
    let p = image_path(name).with_extension("json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The boxes of the name's characters where the page read shows them (in
/// the page's prepared pixels): the Han characters after 姓名 on its line.
/// Matched by place, not by text: the page read may misread a character
/// the second reader puts right.
fn name_boxes(page: &OcrPage, name: &str) -> Option<Vec<Rect>> {
    let n = name.chars().count();
    for line in &page.lines {
        let chars: Vec<_> = line.words.iter().flat_map(|w| w.chars.iter()).collect();
        let Some(label_end) = chars
            .windows(2)
            .position(|w| w[0].ch == '姓' && w[1].ch == '名')
        else {
            continue;
        };
        let value: Vec<Rect> = chars[label_end + 2..]
            .iter()
            .filter(|c| c.ch >= '\u{3400}' || c.ch == '·')
            .take(n)
            .map(|c| c.rect)
            .collect();
        if value.len() == n {
            return Some(value);
        }
    }
    None
}

/// `img` with a black box over every character of its name but the first
/// `keep`, as the name is placed on the page Tesseract reads.
fn redact_after(img: &GrayImage, name: &str, keep: usize) -> GrayImage {
    let prepared = preprocess::prepare(img.clone(), &Preprocess::default());
    let mut engine = Engine::new(None, "chi_sim").expect("Tesseract with chi_sim");
    let page = engine
        .read_page(
            &prepared.image,
            Budget {
                cpu: Duration::from_secs(60),
                wall: Duration::from_secs(300),
            },
        )
        .unwrap();
    let boxes = name_boxes(&page, name)
        .unwrap_or_else(|| panic!("{name} not found on the page read:\n{}", page.text()));
    let s = prepared.scale;
    // Tesseract's character boxes are approximate; Han characters are
    // square, so the rest of the name is as many ems as it has characters.
    let em = boxes.iter().map(|r| r.height).max().unwrap();
    let first = boxes[0];
    let top = boxes.iter().map(|r| r.top).min().unwrap();
    let x0 = ((boxes[keep - 1].right() + 1) as f32 / s) as u32;
    let x1 = ((first.left + em * boxes.len() as i32 + em / 4) as f32 / s) as u32;
    let (y0, y1) = (
        ((top - 2) as f32 / s) as u32,
        ((top + em + 3) as f32 / s) as u32,
    );
    let mut out = img.clone();
    for y in y0..y1.min(out.height()) {
        for x in x0..x1.min(out.width()) {
            out.put_pixel(x, y, Luma([0]));
        }
    }
    out
}

fn png(img: &GrayImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

/// `img` as a dark-mode viewer shows it: white ground to `#1e1e1e`, black
/// text to light grey.
fn dark_mode(img: &GrayImage) -> GrayImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0[0] = 30 + ((255 - u16::from(p.0[0])) * 200 / 255) as u8;
    }
    out
}

#[tokio::test]
async fn a_partly_blacked_out_name_is_no_name_and_the_rest_is_still_read() {
    blacked_out_names_are_not_read(|img| img.clone(), "light", 1).await;
}

/// On a dark page the box is black on dark grey, and once the page is
/// inverted for Tesseract it is white on white: what is left of the name
/// reads cleanly. So two characters are kept, which would pass for a name.
#[tokio::test]
async fn on_a_dark_mode_page_too_a_partly_blacked_out_name_is_no_name() {
    blacked_out_names_are_not_read(dark_mode, "dark mode", 2).await;
}

async fn blacked_out_names_are_not_read(
    viewer: fn(&GrayImage) -> GrayImage,
    shown: &str,
    keep: usize,
) {
    let reader = common::ocr();
    let mut tried = 0;
    for fixture in FIXTURES {
        let want = expected(fixture);
        let name = want["name"].as_str().unwrap();
        if name.chars().count() <= keep {
            continue;
        }
        tried += 1;
        let original = viewer(&image::open(image_path(fixture)).unwrap().to_luma8());
        let fixture = format!("{fixture} ({shown})");

        let clean = reader.read(png(&original)).await.unwrap();
        assert_eq!(clean.fields.name.as_deref(), Some(name), "{fixture} clean");

        let redacted = redact_after(&original, name, keep);
        redacted
            .save(format!("/tmp/red-{}.png", fixture.replace(" ", "_")))
            .unwrap();
        let got = reader.read(png(&redacted)).await.unwrap();
        assert_eq!(
            got.fields.name,
            None,
            "{fixture}: a name blacked out after {} must not be read (got {:?})",
            name.chars().take(keep).collect::<String>(),
            got.fields.name
        );
        assert_eq!(got.layout, clean.layout, "{fixture}");
        // Only the name is lost: what the clean image gave elsewhere stands.
        let others = |p: &credverify::parse::ParsedScreenshot| {
            p.fields
                .iter()
                .filter(|(f, _)| f.key() != "name")
                .map(|(f, v)| (f, v.to_string()))
                .collect::<Vec<_>>()
        };
        let kept = others(&got);
        let lost: Vec<_> = others(&clean)
            .into_iter()
            .filter(|fv| !kept.contains(fv))
            .collect();
        assert!(lost.len() <= 1, "{fixture}: also lost {lost:?}");
    }
    assert!(
        tried >= 3,
        "{shown}: only {tried} fixtures with names to black out"
    );
}

#[test]
fn ocr_json_gives_a_confidence_for_every_value() {
    let images: Vec<_> = FIXTURES.iter().map(|f| image_path(f)).collect();
    let lines = common::ocr_cli::ocr_json(&images);
    for line in &lines {
        let fields = line["fields"].as_object().unwrap();
        let confidence = line["confidence"].as_object().unwrap();
        assert!(fields.len() >= 5, "{line}");
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            confidence.keys().collect::<Vec<_>>(),
            "{line}"
        );
        for (key, c) in confidence {
            let c = c.as_u64().unwrap_or_else(|| panic!("{key}: {c}"));
            assert!(c <= 100, "{key}: {c}");
        }
        // The floors in force: nothing under them is printed, codes aside.
        let floors = credverify::parse::ConfidenceFloors::MEASURED;
        for (key, c) in confidence {
            let floor = match key.as_str() {
                "vcode" | "certificate_no" | "id_number_masked" => 0,
                "name" | "principal" => floors.names,
                _ => floors.values,
            };
            assert!(
                c.as_u64().unwrap() >= u64::from(floor),
                "{key} {c} under {floor}"
            );
        }
    }
}
