//! Getting a screenshot into the shape Tesseract reads best: light
//! background everywhere (dark bars and surrounds inverted), text at the
//! height its model was trained on (big phone screenshots shrunk, small
//! crops enlarged). Each step was kept because it paid on the fixtures; see
//! `benches/ocr.rs` for the measurement.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{GrayImage, Luma};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    /// Height in pixels the typical line of text is scaled to; 0 disables
    /// scaling.
    pub text_height: u32,
    pub min_scale: f32,
    pub max_scale: f32,
    /// Invert regions whose background is dark (title bars, dark surrounds).
    pub invert_dark: bool,
    /// Threshold to pure black and white before OCR.
    pub binarize: bool,
    /// The most pixels the image handed to Tesseract may have: enlarging
    /// stops short of it. Intake's pixel limit holds for the upload, and
    /// without this a 40 MP upload of tiny text became 360 MP after a ×3
    /// enlargement and ran for minutes.
    pub max_pixels: u64,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            // Measured on the 80 fixtures (verdict fields / 在线验证码):
            // 20 px 96.4% / 95%, 24 px 96.8% / 92.5%, 28 px 97.7% / 92.5%,
            // 40 px 95.1% / 72.5% and one wrong code. Smaller is also faster.
            text_height: 28,
            min_scale: 0.3,
            max_scale: 3.0,
            invert_dark: true,
            binarize: false,
            // Layout analysis, which no deadline interrupts, grows with the
            // pixels: ~55 s for 40 MP of dense tiny text here. A phone
            // screenshot or an A4 scan at 300 dpi is 3–9 MP at text height.
            max_pixels: 12_000_000,
        }
    }
}

/// The image handed to Tesseract, and how it relates to the upload.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub image: GrayImage,
    /// Prepared pixels per original pixel.
    pub scale: f32,
    /// The typical text line height measured on the original, if any.
    pub text_height: Option<u32>,
    /// The pixel limit held the scale below what the text needed.
    pub capped: bool,
}

impl Prepared {
    /// The text's height in the prepared image, if it was measured.
    pub fn scaled_text_height(&self) -> Option<f32> {
        self.text_height.map(|h| h as f32 * self.scale)
    }
}

pub fn prepare(mut gray: GrayImage, cfg: &Preprocess) -> Prepared {
    if cfg.invert_dark {
        invert_dark_regions(&mut gray);
    }
    let threshold = otsu(&gray);
    let text_height = typical_line_height(&gray, threshold);
    let mut scale = match (cfg.text_height, text_height) {
        (0, _) | (_, None) => 1.0,
        (target, Some(h)) => (target as f32 / h as f32).clamp(cfg.min_scale, cfg.max_scale),
    };
    // Resampling costs time and sharpness; a small mismatch costs neither.
    if (0.87..=1.15).contains(&scale) {
        scale = 1.0;
    }
    let wanted = scale;
    scale = scale.min(max_scale_for(gray.width(), gray.height(), cfg.max_pixels));
    let mut image = if scale == 1.0 {
        gray
    } else {
        scaled(&gray, scale)
    };
    if cfg.binarize {
        image = thresholded(image);
    }
    Prepared {
        image,
        scale,
        text_height,
        capped: scale < wanted,
    }
}

/// The largest scale at which a `width`×`height` image stays within
/// `max_pixels`, after `scaled` rounds its sides.
pub fn max_scale_for(width: u32, height: u32, max_pixels: u64) -> f32 {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 || max_pixels == 0 {
        return 1.0;
    }
    let mut s = (max_pixels as f64 / pixels as f64).sqrt() as f32;
    // `scaled` rounds each side: step down until the rounded size fits.
    while s > 0.01 {
        let w = (width as f32 * s).round() as u64;
        let h = (height as f32 * s).round() as u64;
        if w * h <= max_pixels {
            break;
        }
        s *= 0.999;
    }
    s
}

/// Black and white at Otsu's threshold.
pub fn thresholded(mut img: GrayImage) -> GrayImage {
    let t = otsu(&img);
    for p in img.pixels_mut() {
        p.0[0] = if p.0[0] > t { 255 } else { 0 };
    }
    img
}

/// `img` resized by `scale`: a SIMD convolution, ten times faster than
/// `image`'s resize on a phone screenshot (~40 ms against ~500 ms here).
/// Shrinking uses a Hamming filter (sharp, no ringing), enlarging Catmull-Rom.
pub fn scaled(img: &GrayImage, scale: f32) -> GrayImage {
    let w = ((img.width() as f32 * scale).round() as u32).max(1);
    let h = ((img.height() as f32 * scale).round() as u32).max(1);
    let filter = if scale < 1.0 {
        FilterType::Hamming
    } else {
        FilterType::CatmullRom
    };
    // Both sizes are non-zero and the buffers are the image's own, so the
    // resizer has nothing to fail on; keep the original rather than panic.
    resized(img, w, h, filter).unwrap_or_else(|| img.clone())
}

/// `img` at `w`×`h`, pixel for pixel what one `fast_image_resize` call
/// makes of it, in a third of the instructions. Its convolution of
/// one-byte pixels runs the vertical pass (32 pixels at a time) and then the
/// horizontal one, whose few taps per pixel it sums one pixel at a time:
/// that pass alone was ~3% of a screenshot's instructions, more than
/// decoding it (callgrind). The horizontal pass here is the same
/// resizer's vertical pass over the transposed image: the same
/// coefficients (they depend only on the sizes and the filter), the same
/// integer sums, rounding and clamping, so the same bytes; the tests
/// compare the two.
fn resized(img: &GrayImage, w: u32, h: u32, filter: FilterType) -> Option<GrayImage> {
    let (sw, sh) = img.dimensions();
    // Vertical first, as the resizer does for one-byte pixels.
    let tall = if h == sh {
        img.as_raw().clone()
    } else {
        resized_vertically(img.as_raw(), sw, sh, h, filter)?
    };
    if w == sw {
        return GrayImage::from_raw(w, h, tall);
    }
    let across = resized_vertically(&transposed(&tall, sw, h), h, sw, w, filter)?;
    GrayImage::from_raw(w, h, transposed(&across, h, w))
}

/// `height` rows of `width` pixels resized to `new_height` rows: the
/// resizer's vertical pass alone, as it runs it when the width stays.
fn resized_vertically(
    pixels: &[u8],
    width: u32,
    height: u32,
    new_height: u32,
    filter: FilterType,
) -> Option<Vec<u8>> {
    let src = ImageRef::new(width, height, pixels, PixelType::U8).ok()?;
    let mut dst = Image::new(width, new_height, PixelType::U8);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    Resizer::new().resize(&src, &mut dst, &options).ok()?;
    Some(dst.into_vec())
}

/// `height` rows of `width` pixels as `width` rows of `height`: blocks of
/// 8×8 bytes are turned in eight 64-bit words (three rounds of swapping
/// halves, quarters and eighths), the ragged edges one byte at a time. A
/// byte-by-byte transpose cost more than the horizontal pass it replaces.
fn transposed(pixels: &[u8], width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut out = vec![0u8; w * h];
    let (w8, h8) = (w - w % 8, h - h % 8);
    for y in (0..h8).step_by(8) {
        for x in (0..w8).step_by(8) {
            let mut rows = [0u64; 8];
            for (i, row) in rows.iter_mut().enumerate() {
                let at = (y + i) * w + x;
                *row = u64::from_le_bytes(pixels[at..at + 8].try_into().unwrap_or_default());
            }
            transpose_8x8(&mut rows);
            for (i, row) in rows.iter().enumerate() {
                let at = (x + i) * h + y;
                out[at..at + 8].copy_from_slice(&row.to_le_bytes());
            }
        }
    }
    for y in 0..h {
        let from = if y < h8 { w8 } else { 0 };
        for x in from..w {
            out[x * h + y] = pixels[y * w + x];
        }
    }
    out
}

/// Eight rows of eight bytes (byte `j` of word `i` is row `i`, column
/// `j`) transposed in place.
fn transpose_8x8(rows: &mut [u64; 8]) {
    for (shift, mask) in [
        (8, 0x00FF_00FF_00FF_00FF_u64),
        (16, 0x0000_FFFF_0000_FFFF),
        (32, 0x0000_0000_FFFF_FFFF),
    ] {
        let step = shift / 8;
        for i in 0..8 {
            if i & step == 0 {
                let t = ((rows[i] >> shift) ^ rows[i + step]) & mask;
                rows[i + step] ^= t;
                rows[i] ^= t << shift;
            }
        }
    }
}

/// A pixel darker than this may belong to a ruling line (table borders are
/// often grey: #8a8a8a on the 2010 备案表).
const RULE_INK: u8 = 215;
/// The thickest stroke taken for a ruling line, in pixels.
const RULE_MAX_THICKNESS: u32 = 6;

/// `img` with its ruling lines (table borders, a frame around a line of
/// text) painted white, or `None` when it has none. A ruling line is a run
/// of ink at least `min_len` pixels long and at most a few pixels thick: no
/// character's stroke is that long, and a filled area (a photo, a coloured
/// bar) is thicker. Tesseract takes a grid of bordered cells for a picture
/// and reads nothing in it; without the borders it reads the text.
pub fn without_rules(img: &GrayImage, min_len: u32) -> Option<GrayImage> {
    let (w, h) = img.dimensions();
    let ink = |x: u32, y: u32| img.get_pixel(x, y).0[0] < RULE_INK;
    // Pixels on long runs, along rows (horizontal rules) and columns.
    let mut along_rows = vec![false; (w * h) as usize];
    let mut along_cols = vec![false; (w * h) as usize];
    for y in 0..h {
        mark_runs(
            w,
            |x| ink(x, y),
            min_len,
            |x| along_rows[(y * w + x) as usize] = true,
        );
    }
    for x in 0..w {
        mark_runs(
            h,
            |y| ink(x, y),
            min_len,
            |y| along_cols[(y * w + x) as usize] = true,
        );
    }
    let mut out = img.clone();
    let mut erased = false;
    let mut erase = |x: u32, y: u32| {
        out.put_pixel(x, y, Luma([255]));
        erased = true;
    };
    // A horizontal rule is thin across it, that is, along each column.
    for x in 0..w {
        thin_runs(h, |y| along_rows[(y * w + x) as usize], |y| erase(x, y));
    }
    for y in 0..h {
        thin_runs(w, |x| along_cols[(y * w + x) as usize], |x| erase(x, y));
    }
    erased.then_some(out)
}

/// Calls `mark` for every position of a run of `on` at least `min_len` long.
fn mark_runs(n: u32, on: impl Fn(u32) -> bool, min_len: u32, mut mark: impl FnMut(u32)) {
    let mut start = None;
    for i in 0..=n {
        match (i < n && on(i), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= min_len {
                    (s..i).for_each(&mut mark);
                }
                start = None;
            }
            _ => {}
        }
    }
}

/// Calls `mark` for every position of a run of `on` at most
/// [`RULE_MAX_THICKNESS`] long.
fn thin_runs(n: u32, on: impl Fn(u32) -> bool, mut mark: impl FnMut(u32)) {
    let mut start = None;
    for i in 0..=n {
        match (i < n && on(i), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s <= RULE_MAX_THICKNESS {
                    (s..i).for_each(&mut mark);
                }
                start = None;
            }
            _ => {}
        }
    }
}

/// Side of the square blocks the background is judged in.
const BLOCK: u32 = 24;
/// A block whose median is darker than this has a dark background.
const DARK_BACKGROUND: u8 = 110;

/// Invert every region whose background is dark, so all text is dark on
/// light. Judged per block by the median (the background is most of a
/// block); a dark block is inverted only when most of its neighbours are dark
/// too, so the strokes of big bold characters stay as they are.
pub fn invert_dark_regions(img: &mut GrayImage) {
    let (w, h) = img.dimensions();
    let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
    let mut dark = vec![false; (bw * bh) as usize];
    let mut any = false;
    for by in 0..bh {
        for bx in 0..bw {
            let mut hist = [0u32; 256];
            let mut n = 0;
            for y in by * BLOCK..((by + 1) * BLOCK).min(h) {
                for x in bx * BLOCK..((bx + 1) * BLOCK).min(w) {
                    hist[img.get_pixel(x, y).0[0] as usize] += 1;
                    n += 1;
                }
            }
            let is_dark = median(&hist, n) < DARK_BACKGROUND;
            dark[(by * bw + bx) as usize] = is_dark;
            any |= is_dark;
        }
    }
    if !any {
        return;
    }
    // A dark-mode page, dark almost everywhere: its corners are dark too.
    let mostly_dark = dark.iter().filter(|&&d| d).count() * 2 > dark.len();
    let in_image =
        |bx: i64, by: i64| bx >= 0 && by >= 0 && bx < i64::from(bw) && by < i64::from(bh);
    let at = |bx: i64, by: i64| in_image(bx, by) && dark[(by as u32 * bw + bx as u32) as usize];
    for by in 0..bh {
        for bx in 0..bw {
            if !dark[(by * bw + bx) as usize] {
                continue;
            }
            let (cx, cy) = (i64::from(bx), i64::from(by));
            let around = || (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (cx + dx, cy + dy)));
            let inside = around().filter(|&(x, y)| in_image(x, y)).count();
            let neighbours = around().filter(|&(x, y)| at(x, y)).count();
            // 5 of the 9. On a mostly dark page, most of the neighbours the
            // image has (4 of 6 at an edge, 3 of 4 in a corner): its corners
            // were left dark, and Tesseract then lost lines near them. A
            // light page keeps the rule its reads were measured with (a dark
            // bar's corner blocks stay as they are).
            let enough = if mostly_dark {
                neighbours * 9 >= inside * 5
            } else {
                neighbours >= 5
            };
            if !enough {
                continue;
            }
            for y in by * BLOCK..((by + 1) * BLOCK).min(h) {
                for x in bx * BLOCK..((bx + 1) * BLOCK).min(w) {
                    let p = img.get_pixel_mut(x, y);
                    *p = Luma([255 - p.0[0]]);
                }
            }
        }
    }
}

fn median(hist: &[u32; 256], n: u32) -> u8 {
    let mut seen = 0;
    for (v, c) in hist.iter().enumerate() {
        seen += c;
        if seen * 2 >= n {
            return v as u8;
        }
    }
    255
}

/// Otsu's threshold of the image's histogram.
pub fn otsu(img: &GrayImage) -> u8 {
    let mut hist = [0u64; 256];
    for p in img.pixels() {
        hist[p.0[0] as usize] += 1;
    }
    let total: u64 = hist.iter().sum();
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(v, c)| v as f64 * *c as f64)
        .sum();
    let (mut w_bg, mut sum_bg) = (0u64, 0f64);
    let (mut best, mut best_var) = (128u8, -1f64);
    for (t, &c) in hist.iter().enumerate() {
        w_bg += c;
        if w_bg == 0 {
            continue;
        }
        let w_fg = total - w_bg;
        if w_fg == 0 {
            break;
        }
        sum_bg += t as f64 * c as f64;
        let m_bg = sum_bg / w_bg as f64;
        let m_fg = (sum_all - sum_bg) / w_fg as f64;
        let var = w_bg as f64 * w_fg as f64 * (m_bg - m_fg).powi(2);
        if var > best_var {
            best_var = var;
            best = t as u8;
        }
    }
    best
}

/// The height of a typical line of text: rows crossing text change between
/// ink and paper many times (table borders and rules only a few), and runs
/// of such rows are lines. The median run height is the text height.
pub fn typical_line_height(img: &GrayImage, threshold: u8) -> Option<u32> {
    let (w, h) = img.dimensions();
    // At least this many ink runs on a row before it counts as text; a table
    // row crossed by its borders has a handful.
    let min_transitions = 16;
    let mut runs = Vec::new();
    let mut run = 0u32;
    let raw = img.as_raw();
    for y in 0..h {
        let row = &raw[(y * w) as usize..((y + 1) * w) as usize];
        let mut transitions = 0;
        let mut prev = false;
        for &p in row {
            let ink = p <= threshold;
            if ink != prev {
                transitions += 1;
                prev = ink;
            }
        }
        if transitions >= min_transitions {
            run += 1;
        } else {
            if run > 0 {
                runs.push(run);
            }
            run = 0;
        }
    }
    if run > 0 {
        runs.push(run);
    }
    // Too short to be text: dashed rules, noise. Too tall: photos, QR codes.
    runs.retain(|r| (6..=h / 6).contains(r));
    if runs.is_empty() {
        return None;
    }
    runs.sort_unstable();
    Some(runs[runs.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_bars_are_inverted_and_light_pages_left_alone() {
        // A dark bar across the top third of a light page.
        let mut img = GrayImage::from_pixel(240, 240, Luma([250]));
        image::imageops::replace(&mut img, &GrayImage::from_pixel(240, 72, Luma([30])), 0, 0);
        let before = img.clone();
        invert_dark_regions(&mut img);
        assert!(img.get_pixel(120, 24).0[0] > 200, "bar inverted");
        assert_eq!(img.get_pixel(120, 200), before.get_pixel(120, 200));

        let mut light = GrayImage::from_pixel(100, 100, Luma([240]));
        let copy = light.clone();
        invert_dark_regions(&mut light);
        assert_eq!(light, copy);
    }

    #[test]
    fn a_dark_mode_page_is_inverted_into_its_corners() {
        let mut page = GrayImage::from_pixel(240, 240, Luma([30]));
        invert_dark_regions(&mut page);
        assert!(page.pixels().all(|p| p.0[0] == 225), "a corner left dark");
        // On a light page a dark bar's corner blocks stay as measured.
        let mut img = GrayImage::from_pixel(240, 240, Luma([250]));
        image::imageops::replace(&mut img, &GrayImage::from_pixel(240, 72, Luma([30])), 0, 0);
        invert_dark_regions(&mut img);
        assert_eq!(img.get_pixel(0, 0).0[0], 30);
        assert_eq!(img.get_pixel(120, 0).0[0], 225);
    }

    #[test]
    fn enlarging_never_passes_the_pixel_limit() {
        // Rows of 9-px "text" on a page: the target height asks for ×3.
        let mut img = GrayImage::from_pixel(900, 900, Luma([255]));
        for top in (10..880).step_by(20) {
            for y in top..top + 9 {
                for x in (0..900).step_by(5) {
                    img.put_pixel(x, y, Luma([0]));
                    img.put_pixel(x + 1, y, Luma([0]));
                }
            }
        }
        let free = prepare(img.clone(), &Preprocess::default());
        assert!(free.scale > 2.9, "the uncapped scale: {}", free.scale);
        let cfg = Preprocess {
            max_pixels: 2_000_000,
            ..Preprocess::default()
        };
        let capped = prepare(img, &cfg);
        let pixels = u64::from(capped.image.width()) * u64::from(capped.image.height());
        assert!(pixels <= 2_000_000, "{pixels} pixels after scaling");
        assert!(capped.scale < free.scale && capped.capped && !free.capped);
        for (w, h, max) in [(6300, 6300, 40_000_000), (1, 1, 5), (333, 777, 1_000_003)] {
            let s = max_scale_for(w, h, max);
            let (sw, sh) = ((w as f32 * s).round() as u64, (h as f32 * s).round() as u64);
            assert!(sw * sh <= max, "{w}×{h} at {s}");
        }
    }

    /// `fast_image_resize` on the whole image, as `scaled` used to call it.
    fn scaled_whole(img: &GrayImage, w: u32, h: u32, filter: FilterType) -> GrayImage {
        let src = ImageRef::new(img.width(), img.height(), img.as_raw(), PixelType::U8).unwrap();
        let mut dst = Image::new(w, h, PixelType::U8);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
        Resizer::new().resize(&src, &mut dst, &options).unwrap();
        GrayImage::from_raw(w, h, dst.into_vec()).unwrap()
    }

    #[test]
    fn transposing_moves_every_pixel_across_the_diagonal() {
        for (w, h) in [(1, 1), (8, 8), (9, 17), (16, 3), (67, 41), (24, 32)] {
            let pixels: Vec<u8> = (0..w * h).map(|i| (i * 7 + i / 13) as u8).collect();
            let t = transposed(&pixels, w as u32, h as u32);
            for y in 0..h {
                for x in 0..w {
                    assert_eq!(t[x * h + y], pixels[y * w + x], "{w}×{h} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn resizing_in_two_vertical_passes_gives_the_resizers_bytes() {
        // Noise and sharp edges (text-like strokes), odd sizes, every scale
        // the preprocessing and the code rereads use, both filters.
        let mut seed = 0x9E37_79B9u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for (sw, sh) in [(1, 1), (3, 7), (97, 41), (333, 129), (1025, 67)] {
            let img = GrayImage::from_fn(sw, sh, |x, y| {
                let r = next();
                let stroke = (x / 3 + y / 5) % 4 == 0;
                Luma([if r % 7 == 0 {
                    (r >> 8) as u8
                } else if stroke {
                    20
                } else {
                    245
                }])
            });
            for scale in [0.3, 0.5, 0.61, 0.87, 1.0, 1.16, 1.5, 1.56, 2.15, 3.0, 4.0] {
                let w = ((sw as f32 * scale).round() as u32).max(1);
                let h = ((sh as f32 * scale).round() as u32).max(1);
                for filter in [FilterType::Hamming, FilterType::CatmullRom] {
                    let ours = resized(&img, w, h, filter).unwrap();
                    let whole = scaled_whole(&img, w, h, filter);
                    assert!(ours == whole, "{sw}×{sh} → {w}×{h} with {filter:?}");
                }
            }
        }
        // One side kept: only the other pass runs.
        let img = GrayImage::from_fn(50, 30, |x, y| Luma([(x * 5 + y * 3) as u8]));
        for (w, h) in [(50, 45), (75, 30), (50, 30)] {
            let ours = resized(&img, w, h, FilterType::CatmullRom).unwrap();
            assert!(ours == scaled_whole(&img, w, h, FilterType::CatmullRom));
        }
    }

    #[test]
    fn ruling_lines_are_erased_and_text_and_filled_areas_kept() {
        let mut img = GrayImage::from_pixel(200, 100, Luma([255]));
        // A grey border row, a thick dark bar, a short stroke.
        for x in 0..200 {
            img.put_pixel(x, 10, Luma([138]));
            for y in 60..80 {
                img.put_pixel(x, y, Luma([40]));
            }
        }
        for x in 20..40 {
            img.put_pixel(x, 30, Luma([0]));
        }
        let out = without_rules(&img, 100).expect("a rule to erase");
        assert_eq!(out.get_pixel(50, 10).0[0], 255);
        assert_eq!(out.get_pixel(25, 30).0[0], 0);
        assert_eq!(out.get_pixel(50, 70).0[0], 40);
        let plain = GrayImage::from_pixel(200, 100, Luma([255]));
        assert!(without_rules(&plain, 100).is_none());
    }

    #[test]
    fn line_height_is_found_from_striped_rows() {
        // Three "lines" 20 px tall of alternating ink columns.
        let mut img = GrayImage::from_pixel(400, 200, Luma([255]));
        for top in [20, 80, 140] {
            for y in top..top + 20 {
                for x in (0..400).step_by(6) {
                    img.put_pixel(x, y, Luma([0]));
                    img.put_pixel(x + 1, y, Luma([0]));
                }
            }
        }
        assert_eq!(typical_line_height(&img, otsu(&img)), Some(20));
        let blank = GrayImage::from_pixel(100, 100, Luma([255]));
        assert_eq!(typical_line_height(&blank, 128), None);
    }
}
