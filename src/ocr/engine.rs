//! One Tesseract instance (`chi_sim`) and the two kinds of read the pipeline
//! makes with it: the whole page as word boxes (TSV), and a single line cut
//! out of the page with a character whitelist, for codes.
//!
//! An engine is `Send` but not `Sync` and costs ~55 MiB: the pool gives each
//! OCR thread exactly one and reuses it for every image.

use std::ffi::CString;
use std::time::Duration;

use image::imageops;
use image::{GrayImage, Luma};

use super::hocr;
pub use super::tess::{Budget, thread_cpu_time};
use super::tess::{RecognizeError, Tess};
use crate::parse::{OcrPage, Rect, Reread};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(
        "Tesseract could not load language `{lang}` (is tesseract-ocr-chi-sim installed, or TESSDATA_PREFIX right?)"
    )]
    Init { lang: String },
    #[error("Tesseract rejected setting {name}={value}")]
    Variable { name: String, value: String },
    #[error("Tesseract failed to recognise the image")]
    Recognize,
    /// The image used up its processor time: too large or too dense to
    /// read in time.
    #[error("reading took more than {0:?} of processor time")]
    Deadline(Duration),
    /// The clock ran out before the image's processor time did: the
    /// machine was too busy to give the read its share. Ours, not the
    /// image's: read it again later. `cpu` of processor time in `wall`.
    #[error(
        "the machine was too busy: {:.1} s of reading in {:.0} s",
        cpu.as_secs_f32(),
        wall.as_secs_f32()
    )]
    Starved { cpu: Duration, wall: Duration },
    #[error("the OCR engine panicked; it was replaced")]
    Panicked,
    #[error("the OCR pool has shut down")]
    ShutDown,
}

/// Page segmentation: one uniform block of text. Lines run across the whole
/// width, so a label and its value in another cell stay on one line. The
/// CLI's default (3, automatic) split the two-column page into columns and
/// dropped lines.
const PSM_BLOCK: &str = "6";
/// A single line: the region reads of codes.
const PSM_LINE: &str = "7";

/// How long a region read (one line) may take; lines take milliseconds.
const LINE_BUDGET: Budget = Budget {
    cpu: Duration::from_secs(5),
    wall: Duration::from_secs(20),
};

pub struct Engine {
    api: Tess,
    whitelist: String,
    psm: &'static str,
}

impl Engine {
    pub fn new(datapath: Option<&str>, lang: &str) -> Result<Engine, EngineError> {
        let api = Tess::new(datapath, lang).ok_or_else(|| EngineError::Init {
            lang: lang.to_string(),
        })?;
        let mut e = Engine {
            api,
            whitelist: String::new(),
            psm: "",
        };
        // The image has no resolution (raw pixels), and Tesseract warns on
        // stderr for each one; its messages go nowhere useful in a worker.
        e.set("debug_file", "/dev/null")?;
        // Inverted (light on dark) text is inverted before OCR, so
        // Tesseract's own second try of each doubtful line is wasted time.
        e.set("tessedit_do_invert", "0")?;
        // A box and a confidence per character in the hOCR (see `hocr`).
        e.set("hocr_char_boxes", "1")?;
        // Every line is proportional text. Otherwise the layout pass tests
        // each line for a fixed pitch (Han text looks monospaced), a search
        // over pitches that was ~1.5% of reading a screenshot (callgrind)
        // and serves the legacy classifier's chopping, which the LSTM never
        // uses: the 120 fixtures of both sets read the same values with
        // it off (one name's confidence 100 became 99).
        e.set("textord_all_prop", "1")?;
        e.set_psm(PSM_BLOCK)?;
        Ok(e)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), EngineError> {
        let err = || EngineError::Variable {
            name: name.to_string(),
            value: value.to_string(),
        };
        let n = CString::new(name).map_err(|_| err())?;
        let v = CString::new(value).map_err(|_| err())?;
        self.api.set_variable(&n, &v).then_some(()).ok_or_else(err)
    }

    fn set_psm(&mut self, psm: &'static str) -> Result<(), EngineError> {
        if self.psm != psm {
            self.set("tessedit_pageseg_mode", psm)?;
            self.psm = psm;
        }
        Ok(())
    }

    fn set_whitelist(&mut self, chars: &str) -> Result<(), EngineError> {
        if self.whitelist != chars {
            self.set("tessedit_char_whitelist", chars)?;
            self.whitelist = chars.to_string();
        }
        Ok(())
    }

    fn load(&mut self, img: &GrayImage) -> Result<(), EngineError> {
        self.api
            .set_gray_image(img.as_raw(), img.width(), img.height())
            .then_some(())
            .ok_or(EngineError::Recognize)
    }

    fn recognize(&mut self, budget: Budget) -> Result<(), EngineError> {
        self.api.recognize(budget).map_err(|e| match e {
            RecognizeError::OverBudget => EngineError::Deadline(budget.cpu),
            RecognizeError::Starved { cpu, wall } => EngineError::Starved { cpu, wall },
            RecognizeError::Failed => EngineError::Recognize,
        })
    }

    /// The whole page as words with boxes, in `img`'s pixels; gives up
    /// once `budget` is spent.
    pub fn read_page(&mut self, img: &GrayImage, budget: Budget) -> Result<OcrPage, EngineError> {
        self.set_psm(PSM_BLOCK)?;
        self.set_whitelist("")?;
        self.load(img)?;
        self.recognize(budget)?;
        // hOCR rather than TSV: it carries a box and a confidence per
        // character (see `hocr`).
        let text = self.api.hocr().ok_or(EngineError::Recognize)?;
        Ok(hocr::parse(&text, img.width() as i32, img.height() as i32))
    }

    /// One line of text, only characters from `charset`.
    pub fn read_line(&mut self, img: &GrayImage, charset: &str) -> Result<String, EngineError> {
        self.set_psm(PSM_LINE)?;
        self.set_whitelist(charset)?;
        self.load(img)?;
        self.recognize(LINE_BUDGET)?;
        let text = self.api.utf8().ok_or(EngineError::Recognize)?;
        Ok(text.trim().to_string())
    }
}

impl Engine {
    /// One line of any text, with Tesseract's mean confidence in it (0–100).
    pub fn read_line_with_confidence(
        &mut self,
        img: &GrayImage,
    ) -> Result<(String, i32), EngineError> {
        let text = self.read_line(img, "")?;
        Ok((text, self.api.mean_text_conf()))
    }
}

/// Second reads of regions of a page already read, for the parser.
pub struct RegionReader<'a> {
    /// The page's engine (chi_sim).
    pub engine: &'a mut Engine,
    /// An engine for Latin codes (eng), if one was loaded. Its model tells
    /// Z from 2 and O from 0 where chi_sim's, trained on Han text, does not,
    /// and a different model makes its reads independent of the page read.
    pub codes: Option<&'a mut Engine>,
    pub page: &'a GrayImage,
    /// The second line reader (PP-OCR), if one was loaded: it reads a
    /// code first, and names (see `second_reading`).
    pub line: Option<&'a mut super::line_reader::LineReader>,
    /// Reads made and the time they took, for profiling.
    pub reads: usize,
    pub time: std::time::Duration,
    /// Of those, the second line reader's.
    pub line_reads: usize,
    pub line_time: std::time::Duration,
}

impl<'a> RegionReader<'a> {
    pub fn new(
        engine: &'a mut Engine,
        codes: Option<&'a mut Engine>,
        page: &'a GrayImage,
        line: Option<&'a mut super::line_reader::LineReader>,
    ) -> Self {
        RegionReader {
            engine,
            codes,
            page,
            line,
            reads: 0,
            time: std::time::Duration::ZERO,
            line_reads: 0,
            line_time: std::time::Duration::ZERO,
        }
    }
}

/// The second line reader's reader number: a model of its own.
const LINE_READER: u8 = 10;

impl RegionReader<'_> {
    fn line_read(&mut self, region: Rect) -> Option<super::second_reading::CropRead> {
        let start = std::time::Instant::now();
        let read = super::second_reading::read(self.line.as_deref_mut()?, self.page, region);
        self.reads += 1;
        self.line_reads += 1;
        self.time += start.elapsed();
        self.line_time += start.elapsed();
        read
    }

    /// Tesseract's attempt for `attempt`: with a second line reader, its
    /// read comes second, after the code model's. A PP-OCR line costs about
    /// three Tesseract line reads (BENCHMARKS.md), and the page read and
    /// the code model agree on most codes; PP-OCR is asked when they do
    /// not.
    fn tesseract_attempt(&self, attempt: u8) -> Option<u8> {
        match (self.line.is_some(), attempt) {
            (false, a) | (true, a @ 0) => Some(a),
            (true, 1) => None,
            (true, a) => Some(a - 1),
        }
    }
}

/// How each attempt looks at the region, so two reads are not the same
/// computation twice: 0 the code engine on the region as it is, 1 the code
/// engine on it enlarged, 2 the page engine on it as it is, 3 the page
/// engine on it enlarged.
const ENLARGED: f32 = 1.5;

/// Height in pixels of a code's characters for its second reads. Measured
/// on the fixtures: codes read best small (the eng and chi_sim models both
/// confused fewer characters at 18 px than at 25–30 px).
const CODE_HEIGHT: i32 = 18;

impl Reread for RegionReader<'_> {
    fn reread(&mut self, region: Rect, charset: &str, attempt: u8) -> Option<String> {
        let Some(attempt) = self.tesseract_attempt(attempt) else {
            let read = self.line_read(region)?;
            return Some(super::second_reading::code_text(&read.read, charset));
        };
        let start = std::time::Instant::now();
        let crop = crop_line(self.page, region)?;
        // Codes are read at the height the models read Latin best,
        // whatever the page's scale.
        let fit = CODE_HEIGHT as f32 / region.height.max(1) as f32;
        let crop = if (0.87..=1.15).contains(&fit) {
            crop
        } else {
            super::preprocess::scaled(&crop, fit.clamp(0.3, 4.0))
        };
        let (crop, engine) = match (attempt, self.codes.as_deref_mut()) {
            (0, Some(codes)) => (crop, codes),
            (1, Some(codes)) => (super::preprocess::scaled(&crop, ENLARGED), codes),
            (1, None) => (
                super::preprocess::scaled(&crop, ENLARGED),
                &mut *self.engine,
            ),
            _ => (crop, &mut *self.engine),
        };
        let text = engine.read_line(&crop, charset).ok();
        self.reads += 1;
        self.time += start.elapsed();
        text
    }

    fn reader(&self, attempt: u8) -> u8 {
        let Some(attempt) = self.tesseract_attempt(attempt) else {
            return LINE_READER;
        };
        // The page read is reader 0. The code model's two reads are one
        // reader; the page model reading the cut-out line (other pixels,
        // other segmentation, a whitelist) counts as another.
        match (attempt, self.codes.is_some()) {
            (0 | 1, true) => 1,
            _ => 2 + attempt,
        }
    }

    fn attempts(&self) -> u8 {
        crate::parse::MAX_REREADS + u8::from(self.line.is_some())
    }

    fn sure_name(&mut self, region: Rect) -> Option<(String, f32)> {
        let read = self.line_read(region)?;
        super::second_reading::sure_name(&read)
    }
}

/// The region with some of the page around it and a white margin: Tesseract
/// reads a line best with space about it. The LSTM's character boxes are
/// approximate, and a first character cut in half is read as something
/// else, so the sides get a generous half line height.
fn crop_line(page: &GrayImage, r: Rect) -> Option<GrayImage> {
    let pad_y = r.height / 4;
    let pad_x = r.height * 2 / 3;
    let left = (r.left - pad_x).max(0) as u32;
    let top = (r.top - pad_y).max(0) as u32;
    let right = (r.right() + pad_x).clamp(0, page.width() as i32) as u32;
    let bottom = (r.bottom() + pad_y).clamp(0, page.height() as i32) as u32;
    if right <= left + 2 || bottom <= top + 2 {
        return None;
    }
    let (w, h) = (right - left, bottom - top);
    let margin = (r.height.max(8) / 2) as u32;
    let mut out = GrayImage::from_pixel(w + 2 * margin, h + 2 * margin, Luma([255]));
    let view = imageops::crop_imm(page, left, top, w, h).to_image();
    imageops::replace(&mut out, &view, i64::from(margin), i64::from(margin));
    Some(out)
}
