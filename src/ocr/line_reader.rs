//! The second line reader: PaddleOCR's PP-OCRv4 text-line recogniser (an
//! ONNX model, Apache-2.0) run through ONNX Runtime, loaded from a
//! directory `scripts/fetch-line-reader` fills (`rec.onnx`,
//! `libonnxruntime.so`). It reads one tight crop of one line; Tesseract
//! keeps the page (layout, labels, where each value is). Measured on the
//! value lines of the screenshots it reads names and 在线验证码 far better
//! than Tesseract's single-line mode (BENCHMARKS.md).
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), so a build
//! never downloads it and a worker without the directory runs as before.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::{GrayImage, imageops};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

/// The model's input height; its width is free (a multiple of the 8-px
/// stride reads as well as any).
const HEIGHT: u32 = 48;

/// Mid-grey padded on the right of a line, rounded up to the model's 8-px
/// stride. PaddleOCR pads every line to at least 320 px (its
/// `rec_img_shape`); a three-character name is ~130 px, so that made the
/// model read 2.5 times its pixels. Padded only this much, the fixtures'
/// names and codes read exactly the same on both sets (BENCHMARKS.md).
const PAD: u32 = 8;

/// Widest line read (40 heights): a value line is a name or a code, and a
/// crop wider than this is a layout mistake, not something to spend a
/// second on.
const MAX_WIDTH: u32 = HEIGHT * 40;

pub const MODEL_FILE: &str = "rec.onnx";
pub const RUNTIME_FILE: &str = "libonnxruntime.so";

/// One line as the model read it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRead {
    pub text: String,
    /// One per character of `text`: the model's probability for it (0–1).
    pub confidences: Vec<f32>,
}

impl LineRead {
    /// The least sure character's probability (0 for an empty read).
    pub fn min_confidence(&self) -> f32 {
        self.confidences
            .iter()
            .copied()
            .reduce(f32::min)
            .unwrap_or(0.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line reader in {dir}: {detail}")]
pub struct LoadError {
    pub dir: String,
    pub detail: String,
}

/// ONNX Runtime allows one environment per process, and the library is
/// loaded once: every reader after the first shares them.
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn environment(runtime: &Path) -> Result<(), String> {
    ENVIRONMENT
        .get_or_init(|| {
            ort::init_from(runtime)
                .map_err(|e| format!("loading {}: {e}", runtime.display()))?
                .with_name("credverify-line-reader")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// Where a line reader lives, checked but not loaded: what the pool's
/// threads each load their own reader from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineReaderDir(PathBuf);

impl LineReaderDir {
    /// The directory, if it holds both files.
    pub fn open(dir: impl Into<PathBuf>) -> Result<LineReaderDir, LoadError> {
        let dir = dir.into();
        for f in [MODEL_FILE, RUNTIME_FILE] {
            if !dir.join(f).is_file() {
                return Err(LoadError {
                    dir: dir.display().to_string(),
                    detail: format!("{f} missing (run scripts/fetch-line-reader)"),
                });
            }
        }
        Ok(LineReaderDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// A loaded model: one per OCR thread (a session runs one line at a time,
/// and a thread reads its own page's lines).
pub struct LineReader {
    session: Session,
    input: String,
    /// Index 0 is CTC's blank; the model's list follows, then a space.
    chars: Vec<String>,
}

impl LineReader {
    pub fn load(dir: &LineReaderDir) -> Result<LineReader, LoadError> {
        let err = |detail: String| LoadError {
            dir: dir.0.display().to_string(),
            detail,
        };
        environment(&dir.0.join(RUNTIME_FILE)).map_err(err)?;
        let env = ENVIRONMENT
            .get()
            .and_then(|e| e.as_ref().ok())
            .ok_or_else(|| err("no ONNX Runtime environment".into()))?;
        let e = |e: ort::Error<_>| err(e.to_string());
        // One thread: the pool already runs one OCR thread per core, and
        // a line is too small to split.
        let session = Session::builder(env)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(1)
            .map_err(e)?
            .with_inter_threads(1)
            .map_err(e)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(e)?
            // Every line has its own width: a memory pattern planned for
            // one is wasted on the next.
            .with_memory_pattern(false)
            .map_err(e)?
            .commit_from_file(dir.0.join(MODEL_FILE))
            .map_err(|e| err(e.to_string()))?;
        let list = session
            .metadata()
            .map_err(|e| err(e.to_string()))?
            .custom("character")
            .ok_or_else(|| err("the model has no `character` list in its metadata".into()))?;
        let mut chars = vec![String::new()];
        chars.extend(list.lines().map(str::to_string));
        chars.push(" ".to_string());
        let input = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| err("the model has no input".into()))?;
        Ok(LineReader {
            session,
            input,
            chars,
        })
    }

    /// Read one line from a crop of it (dark text on light, trimmed to the
    /// ink with a little margin).
    pub fn read(&mut self, crop: &GrayImage) -> Result<LineRead, String> {
        let (width, data) = tensor_data(crop).ok_or("empty crop")?;
        let input = Tensor::from_array(([1usize, 3, HEIGHT as usize, width], data))
            .map_err(|e| e.to_string())?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => input])
            .map_err(|e| e.to_string())?;
        let (shape, probs) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| e.to_string())?;
        // [1, steps, classes]
        let classes = shape.get(2).copied().unwrap_or(0) as usize;
        if classes != self.chars.len() {
            return Err(format!(
                "the model gives {classes} classes, its character list {}",
                self.chars.len()
            ));
        }
        Ok(ctc_greedy(probs, classes, &self.chars))
    }
}

/// The crop as the model's input: scaled to 48 px high keeping its aspect,
/// pixels to [-1, 1] in three equal channels, padded on the right with 0
/// (mid-grey, as PaddleOCR pads) by [`PAD`] and to the 8-px stride. Returns
/// the padded width and the data.
fn tensor_data(crop: &GrayImage) -> Option<(usize, Vec<f32>)> {
    let (w, h) = crop.dimensions();
    if w == 0 || h == 0 {
        return None;
    }
    let scaled_w = ((w as f32 * HEIGHT as f32 / h as f32).ceil() as u32).clamp(1, MAX_WIDTH);
    let scaled = imageops::resize(crop, scaled_w, HEIGHT, imageops::FilterType::Triangle);
    let width = ((scaled_w + PAD).div_ceil(8) * 8) as usize;
    let plane = width * HEIGHT as usize;
    let mut data = vec![0.0f32; 3 * plane];
    for (x, y, p) in scaled.enumerate_pixels() {
        let v = p.0[0] as f32 / 127.5 - 1.0;
        let i = y as usize * width + x as usize;
        data[i] = v;
        data[plane + i] = v;
        data[2 * plane + i] = v;
    }
    Some((width, data))
}

/// CTC greedy decoding: the likeliest class at each step, repeats merged,
/// blanks dropped. A character's confidence is its highest probability over
/// the steps it spans.
fn ctc_greedy(probs: &[f32], classes: usize, chars: &[String]) -> LineRead {
    let mut text = String::new();
    let mut confidences = Vec::new();
    let mut prev = 0usize;
    for step in probs.chunks_exact(classes) {
        let (best, p) = step
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, p)| if p > a.1 { (i, p) } else { a });
        if best != 0 {
            if best == prev {
                if let Some(c) = confidences.last_mut() {
                    *c = f32::max(*c, p);
                }
            } else {
                text.push_str(&chars[best]);
                confidences.extend(std::iter::repeat_n(p, chars[best].chars().count()));
            }
        }
        prev = best;
    }
    LineRead { text, confidences }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars() -> Vec<String> {
        ["", "a", "b", " "].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        // a a _ a b b  → "aab"
        let steps: [[f32; 4]; 6] = [
            [0.1, 0.8, 0.1, 0.0],
            [0.1, 0.9, 0.0, 0.0],
            [0.9, 0.1, 0.0, 0.0],
            [0.3, 0.6, 0.1, 0.0],
            [0.2, 0.0, 0.7, 0.1],
            [0.1, 0.0, 0.5, 0.4],
        ];
        let flat: Vec<f32> = steps.iter().flatten().copied().collect();
        let r = ctc_greedy(&flat, 4, &chars());
        assert_eq!(r.text, "aab");
        assert_eq!(r.confidences, vec![0.9, 0.6, 0.7]);
        assert!((r.min_confidence() - 0.6).abs() < 1e-6);
    }

    #[test]
    fn input_is_48_high_padded_and_normalised() {
        let img = GrayImage::from_pixel(100, 24, image::Luma([255]));
        let (w, data) = tensor_data(&img).unwrap();
        // 200 px at 48 high, 8 of padding, up to the stride.
        assert_eq!(w, 208);
        assert_eq!(data.len(), 3 * 48 * 208);
        // White is 1.0 where the image is, padding 0.0 beyond its 200 px.
        assert!((data[0] - 1.0).abs() < 1e-6);
        assert_eq!(data[199], 1.0);
        assert_eq!(data[203], 0.0);
        let (w, _) = tensor_data(&GrayImage::from_pixel(21, 48, image::Luma([255]))).unwrap();
        assert_eq!(w, 32);
        assert!(tensor_data(&GrayImage::new(0, 10)).is_none());
    }
}
