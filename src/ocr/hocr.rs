//! Tesseract's hOCR with character boxes (`hocr_char_boxes=1`) to an
//! [`OcrPage`]. Preferred over TSV because it carries a box and a
//! confidence per character: a value Tesseract ran together with its label
//! (`码:JBBR`) can be cut out exactly for a second read, and one doubtful
//! character in a name is visible as such.
//!
//! Only the spans Tesseract writes are understood; this is not an HTML
//! parser.

use crate::parse::{OcrChar, OcrLine, OcrPage, OcrWord, Rect};

/// Line-level classes Tesseract uses (plain lines, headers, captions, text
/// floating beside a picture).
const LINE_CLASSES: [&str; 4] = ["ocr_line", "ocr_header", "ocr_caption", "ocr_textfloat"];

pub fn parse(hocr: &str, width: i32, height: i32) -> OcrPage {
    let mut lines: Vec<OcrLine> = Vec::new();
    let mut word: Option<OcrWord> = None;
    let mut rest = hocr;
    while let Some(open) = rest.find("<span") {
        rest = &rest[open..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let class = attr(tag, "class").unwrap_or("");
        let title = attr(tag, "title").unwrap_or("");
        rest = &rest[tag_end + 1..];
        if LINE_CLASSES.contains(&class) {
            flush(&mut word, &mut lines);
            lines.push(OcrLine::default());
        } else if class == "ocrx_word" {
            flush(&mut word, &mut lines);
            word = Some(OcrWord {
                text: String::new(),
                conf: number_after(title, "x_wconf").unwrap_or(0.0),
                rect: bbox(title, "bbox").unwrap_or_default(),
                chars: Vec::new(),
            });
        } else if class == "ocrx_cinfo" {
            let end = rest.find("</span>").unwrap_or(rest.len());
            let text = unescape(&rest[..end]);
            let rect = bbox(title, "x_bboxes").unwrap_or_default();
            let conf = number_after(title, "x_conf").unwrap_or(0.0);
            if let Some(w) = word.as_mut() {
                for ch in text.chars() {
                    w.text.push(ch);
                    w.chars.push(OcrChar { ch, rect, conf });
                }
            }
            rest = &rest[end..];
        }
    }
    flush(&mut word, &mut lines);
    lines.retain(|l| !l.words.is_empty());
    OcrPage {
        width,
        height,
        lines,
        redactions: Vec::new(),
    }
}

fn flush(word: &mut Option<OcrWord>, lines: &mut Vec<OcrLine>) {
    if let Some(w) = word.take() {
        if w.text.trim().is_empty() {
            return;
        }
        if lines.is_empty() {
            lines.push(OcrLine::default());
        }
        if let Some(l) = lines.last_mut() {
            l.words.push(w);
        }
    }
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!("{name}="))? + name.len() + 1;
    let quote = tag[at..].chars().next()?;
    let value = &tag[at + quote.len_utf8()..];
    let end = value.find(quote)?;
    Some(&value[..end])
}

/// `key a b c d` in a title, as a box from left-top-right-bottom.
fn bbox(title: &str, key: &str) -> Option<Rect> {
    let nums: Vec<i32> = title
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(key))?
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [l, t, r, b] = nums[..] else { return None };
    Some(Rect {
        left: l,
        top: t,
        width: (r - l).max(0),
        height: (b - t).max(0),
    })
}

fn number_after(title: &str, key: &str) -> Option<f32> {
    title
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(key))?
        .trim()
        .parse()
        .ok()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_words_and_character_boxes_are_read() {
        let hocr =
            "<div class='ocr_page' id='page_1' title='image \"\"; bbox 0 0 700 80; ppageno 0'>
  <span class='ocr_line' id='line_1_1' title=\"bbox 26 19 613 65; baseline 0 -8; x_size 46\">
   <span class='ocrx_word' id='word_1_1' title='bbox 26 19 215 65; x_wconf 93'>
    <span class='ocrx_cinfo' title='x_bboxes 26 23 75 57; x_conf 99.02'>在</span>
    <span class='ocrx_cinfo' title='x_bboxes 76 19 112 65; x_conf 98.5'>线</span>
   </span>
   <span class='ocrx_word' id='word_1_2' title='bbox 226 27 613 52; x_wconf 91'>
    <span class='ocrx_cinfo' title='x_bboxes 226 34 227 52; x_conf 98.9'>:</span>
    <span class='ocrx_cinfo' title='x_bboxes 240 27 280 52; x_conf 60.5'>&amp;</span>
   </span>
  </span>
  <span class='ocr_caption' id='line_1_2' title=\"bbox 26 100 200 130\">
   <span class='ocrx_word' id='word_1_3' title='bbox 26 100 200 130; x_wconf 40'>
    <span class='ocrx_cinfo' title='x_bboxes 26 100 60 130; x_conf 40'>注</span>
   </span>
  </span>
</div>";
        let page = parse(hocr, 700, 160);
        assert_eq!(page.text(), "在线 :&\n注");
        let w = &page.lines[0].words[1];
        assert_eq!(w.conf, 91.0);
        assert_eq!(
            w.chars[1].rect,
            Rect {
                left: 240,
                top: 27,
                width: 40,
                height: 25
            }
        );
        assert_eq!(w.chars[1].conf, 60.5);
        assert_eq!(page.lines[1].words[0].rect.top, 100);
    }
}
