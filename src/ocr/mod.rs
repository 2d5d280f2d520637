//! Reading screenshots: intake checks on the raw bytes, preprocessing,
//! Tesseract (`chi_sim`) on a pool of dedicated threads, and the parser.
//!
//! Deployment note: Debian's Tesseract uses OpenMP, which made OCR ~5×
//! slower on a busy 2-core host. The pool switches it off on its own threads
//! (see [`omp`]); setting `OMP_THREAD_LIMIT=1` in the service's environment
//! does the same for the whole process and is recommended as well.

pub mod engine;
pub mod hocr;
pub mod intake;
pub mod line;
pub mod line_reader;
pub mod omp;
pub mod output;
pub mod pool;
pub mod preprocess;
mod reader;
pub mod redaction_boxes;
pub mod second_reading;
mod tess;
pub use reader::LazyOcr;
pub mod tsv;

pub use engine::EngineError;
pub use intake::{IntakeError, Limits};
pub use line::LineReading;
pub use pool::{OcrConfig, OcrPool, StageTimes, WALL_PER_DEADLINE};
pub use preprocess::Preprocess;

use crate::domain::ReasonCode;

/// Why a screenshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScreenshotError {
    /// The upload is not an image we can read: the candidate's to fix
    /// (reason `image_unreadable`).
    #[error("image unreadable: {detail}")]
    Unreadable { detail: String },
    /// The OCR engine failed: ours to fix, retry later.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl ScreenshotError {
    /// The reason to record against the candidate, if the fault is theirs.
    pub fn reason(&self) -> Option<ReasonCode> {
        match self {
            ScreenshotError::Unreadable { .. } => Some(ReasonCode::ImageUnreadable),
            ScreenshotError::Engine(_) => None,
        }
    }
}

impl From<IntakeError> for ScreenshotError {
    fn from(e: IntakeError) -> Self {
        ScreenshotError::Unreadable {
            detail: e.to_string(),
        }
    }
}
