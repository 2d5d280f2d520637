//! `credverify ocr --json` as a script runs it: real Tesseract and the
//! second line reader, one JSON object per image.

use std::path::PathBuf;

/// What `credverify ocr --json IMAGES…` printed, one value per image in
/// order; the command must succeed.
pub fn ocr_json(images: &[PathBuf]) -> Vec<serde_json::Value> {
    let out = super::bin()
        .env(
            "CREDVERIFY_LINE_READER_DIR",
            super::line_reader::dir().path(),
        )
        .env("OMP_THREAD_LIMIT", "1")
        .args(["ocr", "--json"])
        .args(images)
        .output()
        .expect("run credverify ocr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), images.len());
    lines
}
