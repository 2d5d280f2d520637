//! Reading a value the verification service draws as an image (the table
//! markup's 姓名 and 毕(结)业): one line of text on a plain background,
//! read in Tesseract's single-line mode by an engine of the pool.

use image::{GrayImage, Luma, imageops};

use super::ScreenshotError;
use super::engine::Engine;
use super::intake::{self, Limits};
use super::preprocess;

/// One line read from an image, with Tesseract's mean confidence (0–100).
#[derive(Debug, Clone, PartialEq)]
pub struct LineReading {
    pub text: String,
    pub confidence: f32,
}

/// Height the line is brought to before reading: the service draws names
/// about 20 px high, where chi_sim confuses more strokes than at twice that
/// (measured on the shared sample and the fixtures' name images).
const TARGET_HEIGHT: u32 = 64;

/// White border around the line: Tesseract reads a line best with space
/// about it.
const MARGIN: u32 = 16;

/// The image, gray, scaled to a readable height and framed in white.
pub fn prepare(gray: GrayImage) -> GrayImage {
    let scale = TARGET_HEIGHT as f32 / gray.height().max(1) as f32;
    let img = if (0.9..=1.1).contains(&scale) {
        gray
    } else {
        preprocess::scaled(&gray, scale.clamp(0.25, 4.0))
    };
    let mut out = GrayImage::from_pixel(
        img.width() + 2 * MARGIN,
        img.height() + 2 * MARGIN,
        Luma([255]),
    );
    imageops::replace(&mut out, &img, i64::from(MARGIN), i64::from(MARGIN));
    out
}

pub fn read(
    engine: &mut Engine,
    bytes: &[u8],
    limits: &Limits,
) -> Result<LineReading, ScreenshotError> {
    let gray = intake::decode(bytes, limits)?;
    let (text, confidence) = engine.read_line_with_confidence(&prepare(gray))?;
    Ok(LineReading {
        text,
        confidence: confidence.clamp(0, 100) as f32,
    })
}
