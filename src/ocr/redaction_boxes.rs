//! Solid dark boxes painted over a screenshot: how a publisher (or a
//! candidate) hides part of a name before sharing it. Tesseract reads such
//! a box as nothing or as a stray stroke, so 王 followed by a box would be
//! taken for a one-character name; the parser leaves out any value a box
//! covers or follows (see [`OcrPage::redacted`](crate::parse::OcrPage::redacted)).
//!
//! A box is a stack of dark runs with the same ends, row after row, on a
//! light ground. Text strokes make such stacks too, but only as high as a
//! stroke is thick; the parser compares each box with its line's character
//! height. On a dark page (a dark-mode viewer) a black box cannot be told
//! from the ground and none is found.

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
/// At least this share of the ring around a box must be light ground.
const MIN_LIGHT_RING: f32 = 0.6;

#[derive(Debug, Clone, Copy)]
struct Open {
    left: u32,
    right: u32,
    top: u32,
    extended: bool,
}

/// The redaction boxes on `img`, in its pixels.
pub fn find(img: &GrayImage) -> Vec<Rect> {
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
            if row[x as usize] >= DARK {
                x += 1;
                continue;
            }
            let start = x;
            while x < w && row[x as usize] < DARK {
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
    found.retain(|r| light_ring(img, *r) >= MIN_LIGHT_RING);
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

/// The share of light pixels in a two-pixel ring just outside `r`; pixels
/// beyond the image count as dark (a box at the edge is a bar, not a
/// redaction).
fn light_ring(img: &GrayImage, r: Rect) -> f32 {
    const RING: i32 = 2;
    let (w, h) = (img.width() as i32, img.height() as i32);
    let (mut light, mut all) = (0u32, 0u32);
    for y in r.top - RING..r.bottom() + RING {
        for x in r.left - RING..r.right() + RING {
            let inside = x >= r.left && x < r.right() && y >= r.top && y < r.bottom();
            if inside {
                continue;
            }
            all += 1;
            if x >= 0 && y >= 0 && x < w && y < h && img.get_pixel(x as u32, y as u32).0[0] > LIGHT
            {
                light += 1;
            }
        }
    }
    light as f32 / all.max(1) as f32
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
    fn boxes_scale_with_the_page() {
        assert_eq!(scaled(rect(10, 20, 30, 40), 1.5), rect(15, 30, 45, 60));
    }
}
