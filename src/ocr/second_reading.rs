//! Which values the second line reader reads again, and how it sees them.
//!
//! Tesseract reads the page: layout, labels, and where each value sits.
//! The values a verdict turns on and Tesseract reads worst — the name and
//! the 在线验证码 (and the certificate number and masked ID number, which
//! go through the same code confirmation) — are cut out of the page again,
//! trimmed to their ink, and read by PP-OCR. Crops must be tight: a margin
//! with a watermark stroke or a corner of a QR code becomes characters.
//!
//! How the reads combine is the parser's business (`parse::Reread`): for
//! codes the PP-OCR read is one more reader that must agree with another;
//! for names it replaces the page read when the model is sure of every
//! character.

use image::{GrayImage, Luma, imageops};

use super::line_reader::{LineRead, LineReader};
use super::preprocess;
use crate::parse::Rect;

/// Least probability of every character for a name read by PP-OCR to be
/// taken over the page read. Measured on the own fixtures (the tuning
/// set): 74 of 80 names read at 0.9 or more, all right but the two whose
/// rare character the model lacks (see [`plausible_width`]); of the six
/// below 0.9, five were right where Tesseract's read was wrong (0.69–0.89)
/// and the one wrong (0.67) was wrong in Tesseract's read too; below 0.6
/// only one, right but doubtful (0.39).
pub const NAME_MIN_CONFIDENCE: f32 = 0.6;

/// A read of a value's crop, with the crop's width over its height.
pub struct CropRead {
    pub read: LineRead,
    pub aspect: f32,
}

/// The value at `region` read by the second reader; `None` when the crop
/// holds no ink or the model failed (the page read stands).
pub fn read(reader: &mut LineReader, page: &GrayImage, region: Rect) -> Option<CropRead> {
    let crop = tight_crop(page, region)?;
    let aspect = crop.width() as f32 / crop.height().max(1) as f32;
    match reader.read(&crop) {
        Ok(read) => Some(CropRead { read, aspect }),
        Err(e) => {
            tracing::warn!(error = %e, "second line reader failed; the page read stands");
            None
        }
    }
}

/// The region, grown a little (Tesseract's boxes are approximate and may
/// cut a character's edge), trimmed to the rows and columns that hold ink,
/// framed in a thin white margin.
pub fn tight_crop(page: &GrayImage, r: Rect) -> Option<GrayImage> {
    let h = r.height.max(1);
    let pad_x = h / 3;
    let pad_y = h / 6;
    let left = (r.left - pad_x).clamp(0, page.width() as i32) as u32;
    let top = (r.top - pad_y).clamp(0, page.height() as i32) as u32;
    let right = (r.right() + pad_x).clamp(0, page.width() as i32) as u32;
    let bottom = (r.bottom() + pad_y).clamp(0, page.height() as i32) as u32;
    if right <= left + 2 || bottom <= top + 2 {
        return None;
    }
    let view = imageops::crop_imm(page, left, top, right - left, bottom - top).to_image();
    let (x0, y0, x1, y1) = ink_bounds(&view)?;
    let mut ink = imageops::crop_imm(&view, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    stretch_to_white(&mut ink);
    let margin = ((y1 - y0 + 1) / 6).max(2);
    let mut out = GrayImage::from_pixel(
        ink.width() + 2 * margin,
        ink.height() + 2 * margin,
        Luma([255]),
    );
    imageops::replace(&mut out, &ink, i64::from(margin), i64::from(margin));
    Some(out)
}

/// Levels stretched so the crop's ground is white and its darkest ink
/// black: on a grey ground (a grey viewer, an inverted dark page) the white
/// margin around the crop would otherwise frame it in an edge the model can
/// take for a stroke.
fn stretch_to_white(img: &mut GrayImage) {
    let threshold = preprocess::otsu(img);
    let mut ground: Vec<u8> = img
        .pixels()
        .map(|p| p.0[0])
        .filter(|&v| v > threshold)
        .collect();
    let lo = img.pixels().map(|p| p.0[0]).min().unwrap_or(0);
    if ground.is_empty() {
        return;
    }
    let mid = ground.len() / 2;
    let hi = *ground.select_nth_unstable(mid).1;
    if hi >= 250 || hi <= lo {
        return;
    }
    let span = f32::from(hi - lo);
    for p in img.pixels_mut() {
        let v = (f32::from(p.0[0].saturating_sub(lo)) * 255.0 / span).min(255.0);
        p.0[0] = v.round() as u8;
    }
}

/// The box of the pixels at or below the crop's Otsu threshold, if the
/// crop has real contrast (a blank cell has none).
fn ink_bounds(img: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let (mut lo, mut hi) = (255u8, 0u8);
    for p in img.pixels() {
        lo = lo.min(p.0[0]);
        hi = hi.max(p.0[0]);
    }
    if hi.saturating_sub(lo) < 48 {
        return None;
    }
    let threshold = preprocess::otsu(img);
    let (w, h) = img.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[0] <= threshold {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    (x1 >= x0 && y1 >= y0).then_some((x0, y0, x1, y1))
}

/// A PP-OCR read of a code reduced to what a code may hold: letters
/// upper-cased, full-width forms folded, everything outside `charset`
/// dropped (a stray colon or frame stroke at the ends).
pub fn code_text(read: &LineRead, charset: &str) -> String {
    read.text
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| charset.contains(*c))
        .collect()
}

/// The name a crop read gives, if the model was sure enough of it and read
/// as many characters as the crop is wide, with its confidence in the least
/// sure character (0–100).
pub fn sure_name(r: &CropRead) -> Option<(String, f32)> {
    let (text, confidence) = name_text(&r.read);
    let n = text.chars().count();
    (confidence >= NAME_MIN_CONFIDENCE && plausible_width(r.aspect, n))
        .then_some((text, confidence * 100.0))
}

/// Whether a crop `aspect` times as wide as high holds no more than `n`
/// characters. A character the model does not know (赟, 䶮 in PP-OCRv4's
/// list) is dropped without lowering the others' confidence: 林平赟 read
/// as 林平, sure of both. Han characters are square, so with the crop's
/// margins a name of n characters measured 0.87n–0.93n + 0.1 wide on the
/// fixtures (a middle dot is narrow); one missing shows as 0.95n + 0.2 or
/// more.
pub fn plausible_width(aspect: f32, n: usize) -> bool {
    n > 0 && aspect <= 0.95 * n as f32 + 0.2
}

/// A PP-OCR read of a name without what stands at its ends and is no part
/// of a name (the label's colon, a frame stroke read as `|`).
pub fn name_text(read: &LineRead) -> (String, f32) {
    let chars: Vec<(char, f32)> = read
        .text
        .chars()
        .zip(read.confidences.iter().copied())
        .collect();
    let is_han = |c: char| ('\u{3400}'..='\u{9FFF}').contains(&c) || c > '\u{20000}';
    let start = chars
        .iter()
        .position(|(c, _)| is_han(*c))
        .unwrap_or(chars.len());
    let end = chars
        .iter()
        .rposition(|(c, _)| is_han(*c))
        .map_or(start, |i| i + 1);
    let kept = &chars[start..end.max(start)];
    let text = kept.iter().map(|(c, _)| *c).collect();
    let conf = kept.iter().map(|(_, p)| *p).reduce(f32::min).unwrap_or(0.0);
    (text, conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bar of `ink` 10..40 × 20..30 on a page of `ground`, and a region
    /// generously around it.
    fn bar_on(ground: u8, ink: u8) -> (GrayImage, Rect) {
        let mut page = GrayImage::from_pixel(100, 60, Luma([ground]));
        let bar = GrayImage::from_pixel(30, 10, Luma([ink]));
        image::imageops::replace(&mut page, &bar, 10, 20);
        let region = Rect {
            left: 5,
            top: 15,
            width: 50,
            height: 20,
        };
        (page, region)
    }

    #[test]
    fn crop_is_trimmed_to_ink() {
        let (page, r) = bar_on(255, 20);
        let c = tight_crop(&page, r).unwrap();
        // 30×10 of ink plus a 2-px margin each side.
        assert_eq!(c.dimensions(), (34, 14));
        assert_eq!(c.get_pixel(2, 2).0[0], 20);
        assert_eq!(c.get_pixel(1, 1).0[0], 255);
        // A blank region has nothing to read.
        let blank = GrayImage::from_pixel(100, 60, Luma([250]));
        assert!(tight_crop(&blank, r).is_none());
    }

    #[test]
    fn a_grey_ground_is_stretched_to_white_and_ink_to_black() {
        // Mid-grey ink on the light grey of a card, with a gap of ground
        // in the bar, inside a white margin.
        let (mut page, r) = bar_on(218, 60);
        image::imageops::replace(&mut page, &GrayImage::from_pixel(4, 2, Luma([218])), 20, 24);
        let c = tight_crop(&page, r).unwrap();
        assert_eq!(c.get_pixel(2, 2).0[0], 0, "ink to black");
        assert_eq!(c.get_pixel(12, 6).0[0], 255, "ground to white");
        assert_eq!(c.get_pixel(1, 1).0[0], 255, "margin");
    }

    #[test]
    fn code_and_name_reads_are_cleaned() {
        let r = LineRead {
            text: "：Ｍ8d2-4".into(),
            confidences: vec![0.5; 6],
        };
        assert_eq!(
            code_text(&r, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            "M8D24"
        );
        let n = LineRead {
            text: ":尹然伟|".into(),
            confidences: vec![0.3, 0.99, 0.95, 0.97, 0.2],
        };
        assert_eq!(name_text(&n), ("尹然伟".to_string(), 0.95));
        // As wide as three characters, read as three: taken; read as two
        // (one the model lacks, dropped): not.
        let sure = |text: &str, conf: f32, aspect: f32| {
            sure_name(&CropRead {
                read: LineRead {
                    text: text.into(),
                    confidences: vec![conf; text.chars().count()],
                },
                aspect,
            })
        };
        let (name, conf) = sure("林平赟", 0.99, 2.71).unwrap();
        assert_eq!(name, "林平赟");
        assert!((conf - 99.0).abs() < 1e-3, "{conf}");
        assert_eq!(sure("林平", 0.99, 2.71), None);
        assert_eq!(sure("黄垚", 0.39, 1.89), None);
    }
}
