//! Solid dark boxes painted over a screenshot: how a publisher (or a
//! candidate) hides part of a name before sharing it. Tesseract reads such
//! a box as nothing or as a stray stroke, so 王 followed by a box would be
//! taken for a one-character name; the parser leaves out any value a box
//! covers or follows (see [`OcrPage::redacted`](crate::parse::OcrPage::redacted)).
//!
//! A box is a stack of dark runs with the same ends, row after row, on a
//! light ground. Text strokes make such stacks too, but only as high as a
//! stroke is thick; the parser compares each box with its line's character
//! height. On a dark page (a dark-mode viewer) the same is looked for a
//! second time, as black runs on a dark-grey ground: text there is light,
//! so only a box is that black. A box on a ground darker than about
//! `#1c1c1c` cannot be told from it (JPEG smears the two together) and is
//! not found; the value then simply looks shorter.

use image::GrayImage;

use crate::parse::Rect;

/// Darker than this is ink or box; the boxes seen are pure black, and JPEG
/// keeps them under 40.
const DARK: u8 = 60;
/// The ground around a box: white, or the light grey of a table cell.
const LIGHT: u8 = 170;
/// The smallest side worth keeping, in pixels: a character's box is never
/// smaller at any size the reader accepts.
const MIN_SIDE: u32 = 6;
/// How far a run's ends may wander from the box's (anti-aliasing, JPEG,
/// a slight rotation).
const SLACK: u32 = 3;
/// At least this share of the ring around a box must be ground.
const MIN_GROUND_RING: f32 = 0.6;

/// What a box and its ground look like on one kind of page.
#[derive(Debug, Clone, Copy)]
struct Tone {
    /// A box's pixels are darker than this.
    ink_below: u8,
    /// Its ground lies in this range.
    ground: (u8, u8),
}

/// A light page: black (or dark) boxes on white or a light table cell.
const ON_LIGHT: Tone = Tone {
    ink_below: DARK,
    ground: (LIGHT + 1, 255),
};

/// A dark-mode page: black boxes on the dark grey of its ground, whose text
/// is light. Through JPEG at quality 55–85 the inside of a black box stays
/// under 4, and 95% of the ring of a `#1e1e1e` ground at 25 or more (its
/// lowest pixel 19), so the ring test holds with room to spare.
const ON_DARK: Tone = Tone {
    ink_below: 16,
    ground: (24, 110),
};

#[derive(Debug, Clone, Copy)]
struct Open {
    left: u32,
    right: u32,
    top: u32,
    extended: bool,
}

/// The redaction boxes on `img`, in its pixels.
pub fn find(img: &GrayImage) -> Vec<Rect> {
    let mut found = find_on(img, ON_LIGHT);
    for b in find_on(img, ON_DARK) {
        if !found.contains(&b) {
            found.push(b);
        }
    }
    found
}

fn find_on(img: &GrayImage, tone: Tone) -> Vec<Rect> {
    let (w, h) = img.dimensions();
    let raw = img.as_raw();
    let mut open: Vec<Open> = Vec::new();
    let mut found: Vec<Rect> = Vec::new();
    for y in 0..h {
        let row = &raw[(y * w) as usize..((y + 1) * w) as usize];
        for o in &mut open {
            o.extended = false;
        }
        let mut started: Vec<Open> = Vec::new();
        let mut x = 0u32;
        while x < w {
            if row[x as usize] >= tone.ink_below {
                x += 1;
                continue;
            }
            let start = x;
            while x < w && row[x as usize] < tone.ink_below {
                x += 1;
            }
            if x - start < MIN_SIDE {
                continue;
            }
            match open.iter_mut().find(|o| {
                !o.extended && o.left.abs_diff(start) <= SLACK && o.right.abs_diff(x) <= SLACK
            }) {
                Some(o) => o.extended = true,
                None => started.push(Open {
                    left: start,
                    right: x,
                    top: y,
                    extended: true,
                }),
            }
        }
        open.retain(|o| {
            if !o.extended {
                close(o, y, &mut found);
            }
            o.extended
        });
        open.extend(started);
    }
    for o in &open {
        close(o, h, &mut found);
    }
    found.retain(|r| ground_ring(img, *r, tone) >= MIN_GROUND_RING);
    found
}

fn close(o: &Open, bottom: u32, found: &mut Vec<Rect>) {
    if bottom - o.top >= MIN_SIDE {
        found.push(Rect {
            left: o.left as i32,
            top: o.top as i32,
            width: (o.right - o.left) as i32,
            height: (bottom - o.top) as i32,
        });
    }
}

/// The share of ground pixels in a two-pixel ring just outside `r`; pixels
/// beyond the image are not ground (a box at the edge is a bar, not a
/// redaction).
fn ground_ring(img: &GrayImage, r: Rect, tone: Tone) -> f32 {
    const RING: i32 = 2;
    let (w, h) = (img.width() as i32, img.height() as i32);
    let (lo, hi) = tone.ground;
    let (mut ground, mut all) = (0u32, 0u32);
    for y in r.top - RING..r.bottom() + RING {
        for x in r.left - RING..r.right() + RING {
            let inside = x >= r.left && x < r.right() && y >= r.top && y < r.bottom();
            if inside {
                continue;
            }
            all += 1;
            if x >= 0
                && y >= 0
                && x < w
                && y < h
                && (lo..=hi).contains(&img.get_pixel(x as u32, y as u32).0[0])
            {
                ground += 1;
            }
        }
    }
    ground as f32 / all.max(1) as f32
}

/// `r` in an image scaled by `scale`.
pub fn scaled(r: Rect, scale: f32) -> Rect {
    let s = |v: i32| (v as f32 * scale).round() as i32;
    Rect {
        left: s(r.left),
        top: s(r.top),
        width: s(r.width),
        height: s(r.height),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn fill(img: &mut GrayImage, r: Rect, v: u8) {
        for y in r.top..r.bottom() {
            for x in r.left..r.right() {
                img.put_pixel(x as u32, y as u32, Luma([v]));
            }
        }
    }

    fn rect(left: i32, top: i32, width: i32, height: i32) -> Rect {
        Rect {
            left,
            top,
            width,
            height,
        }
    }

    #[test]
    fn a_black_box_on_a_white_page_is_found_where_it_is() {
        let mut img = GrayImage::from_pixel(400, 200, Luma([255]));
        let redaction = rect(120, 50, 60, 24);
        fill(&mut img, redaction, 0);
        // Strokes of text: a thin upright, and a bar too low to be a box.
        fill(&mut img, rect(20, 52, 2, 20), 0);
        fill(&mut img, rect(30, 60, 40, 3), 0);
        let found = find(&img);
        assert_eq!(found, vec![redaction]);
    }

    #[test]
    fn ragged_jpeg_edges_still_make_one_box() {
        let mut img = GrayImage::from_pixel(300, 120, Luma([250]));
        for y in 30..60 {
            let wobble = y % 3 - 1;
            fill(&mut img, rect(100 + wobble, y, 50 - wobble, 1), 20);
        }
        let found = find(&img);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].top, found[0].height), (30, 30));
    }

    #[test]
    fn dark_bars_at_the_edge_and_dark_pages_hold_no_box() {
        // A status bar across the top, touching the image's edge.
        let mut img = GrayImage::from_pixel(300, 200, Luma([255]));
        fill(&mut img, rect(0, 0, 300, 30), 10);
        assert!(find(&img).is_empty());
        // A dark-mode page: the gap between two light words is dark, but
        // so is the ground around it.
        let mut dark = GrayImage::from_pixel(300, 200, Luma([25]));
        fill(&mut dark, rect(20, 50, 40, 20), 230);
        fill(&mut dark, rect(90, 50, 40, 20), 230);
        assert!(find(&dark).is_empty());
    }

    #[test]
    fn a_black_box_on_a_dark_mode_page_is_found_even_through_jpeg() {
        // Light text on a `#1e1e1e` ground, a black box after the first
        // word, and a black status bar at the top edge (not a box).
        let mut page = GrayImage::from_pixel(400, 200, Luma([30]));
        fill(&mut page, rect(0, 0, 400, 20), 0);
        fill(&mut page, rect(40, 80, 24, 24), 230);
        fill(&mut page, rect(70, 86, 30, 3), 230);
        let redaction = rect(110, 78, 70, 28);
        fill(&mut page, redaction, 0);
        assert_eq!(find(&page), vec![redaction]);

        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 55)
            .encode_image(&page)
            .unwrap();
        let smeared = image::load_from_memory(&jpeg).unwrap().to_luma8();
        let found = find(&smeared);
        assert_eq!(found.len(), 1, "{found:?}");
        let b = found[0];
        assert!(
            b.left.abs_diff(redaction.left) <= 3
                && b.top.abs_diff(redaction.top) <= 3
                && b.width.abs_diff(redaction.width) <= 6
                && b.height.abs_diff(redaction.height) <= 6,
            "{b:?}"
        );
    }

    #[test]
    fn boxes_scale_with_the_page() {
        assert_eq!(scaled(rect(10, 20, 30, 40), 1.5), rect(15, 30, 45, 60));
    }
}
