//! What the parser reads: recognised words with their boxes, grouped in
//! lines. The OCR engine fills it from Tesseract's TSV; tests build it from
//! plain text.

/// An axis-aligned box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub left: i32,
    pub top: i32,
    pub width: i32,
    pub height: i32,
}

impl Rect {
    pub fn right(&self) -> i32 {
        self.left + self.width
    }

    pub fn bottom(&self) -> i32 {
        self.top + self.height
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        let left = self.left.min(other.left);
        let top = self.top.min(other.top);
        Rect {
            left,
            top,
            width: self.right().max(other.right()) - left,
            height: self.bottom().max(other.bottom()) - top,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OcrWord {
    pub text: String,
    /// Tesseract's confidence, 0–100.
    pub conf: f32,
    pub rect: Rect,
    /// One per character of `text` when the engine gave character boxes;
    /// empty otherwise.
    pub chars: Vec<OcrChar>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OcrChar {
    pub ch: char,
    pub rect: Rect,
    pub conf: f32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OcrLine {
    pub words: Vec<OcrWord>,
}

impl OcrLine {
    pub fn rect(&self) -> Option<Rect> {
        let mut it = self.words.iter().map(|w| w.rect);
        let first = it.next()?;
        Some(it.fold(first, |a, b| a.union(&b)))
    }

    /// Typical character height on the line, the unit gaps are measured in.
    pub fn char_height(&self) -> i32 {
        median_height(self.words.iter().map(|w| w.rect.height)).unwrap_or(1)
    }

    /// The median height of the line's characters where the engine gave
    /// their boxes, else [`char_height`](Self::char_height). A word's box can
    /// be far taller than its letters (a ruling line or a redaction box
    /// taken in), and on a line of two words the word median is the taller.
    pub fn glyph_height(&self) -> i32 {
        let chars = self.words.iter().flat_map(|w| w.chars.iter());
        median_height(chars.map(|c| c.rect.height)).unwrap_or_else(|| self.char_height())
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for w in &self.words {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&w.text);
        }
        out
    }
}

/// The median of `heights` (the upper one of an even count), at least 1;
/// `None` when there are none.
fn median_height(heights: impl Iterator<Item = i32>) -> Option<i32> {
    let mut h: Vec<i32> = heights.collect();
    h.sort_unstable();
    h.get(h.len() / 2).map(|&m| m.max(1))
}

/// One recognised page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OcrPage {
    pub width: i32,
    pub height: i32,
    pub lines: Vec<OcrLine>,
    /// Solid dark boxes painted over the page (a publisher's redactions),
    /// in the page's pixels. Tesseract reads such a box as nothing or as a
    /// stray character, so a value partly covered by one looks whole.
    pub redactions: Vec<Rect>,
}

impl OcrPage {
    /// A page from plain text, one line per text line, as if set in a
    /// monospaced font: every character a 20 px square, so a run of spaces
    /// is a gap as wide as that many characters. Words are split at spaces.
    pub fn from_text(text: &str) -> OcrPage {
        const CELL: i32 = 20;
        let mut lines = Vec::new();
        for (row, line) in text.lines().enumerate() {
            let top = row as i32 * CELL * 2;
            let mut words = Vec::new();
            let mut col = 0i32;
            let mut current = String::new();
            let mut start = 0i32;
            for c in line.chars() {
                if c.is_whitespace() {
                    if !current.is_empty() {
                        words.push(word(&current, start, col, top, CELL));
                        current.clear();
                    }
                } else {
                    if current.is_empty() {
                        start = col;
                    }
                    current.push(c);
                }
                col += 1;
            }
            if !current.is_empty() {
                words.push(word(&current, start, col, top, CELL));
            }
            if !words.is_empty() {
                lines.push(OcrLine { words });
            }
        }
        let width = 1000 * CELL;
        let height = (lines.len() as i32 + 1) * CELL * 2;
        return OcrPage {
            width,
            height,
            lines,
            redactions: Vec::new(),
        };

        fn word(text: &str, start: i32, end: i32, top: i32, cell: i32) -> OcrWord {
            OcrWord {
                text: text.to_string(),
                conf: 95.0,
                rect: Rect {
                    left: start * cell,
                    top,
                    width: (end - start) * cell,
                    height: cell,
                },
                chars: Vec::new(),
            }
        }
    }

    /// Whether a redaction box covers part of the value at `value` on a
    /// line whose characters are `char_height` high, or stands right after
    /// it (王 followed by a box is not a one-character name). Only boxes of
    /// about a character's height count: a thick stroke of a big title is
    /// thinner, a dark banner or photo taller.
    pub fn redacted(&self, value: Rect, char_height: i32) -> bool {
        let h = char_height.max(1);
        self.redactions.iter().any(|b| {
            // Half as wide as high (or as a character) is enough: a box may
            // cover only the last strokes of a character.
            let sized =
                b.height * 10 >= h * 6 && b.height <= h * 2 && b.width * 2 >= h.min(b.height);
            let overlap_y = b.bottom().min(value.bottom()) - b.top.max(value.top);
            let beside = b.left < value.right() + h && b.right() > value.left - h;
            sized && overlap_y * 2 >= b.height.min(value.height) && beside
        })
    }

    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
