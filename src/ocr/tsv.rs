//! Tesseract's TSV output (one row per page, block, paragraph, line and
//! word, with boxes and confidences) to an [`OcrPage`].

use crate::parse::{OcrLine, OcrPage, OcrWord, Rect};

/// The level column's value for a word row.
const WORD: &str = "5";

/// Parse TSV as `GetTsvText` and `tesseract … tsv` produce it, with or
/// without the header row. Rows that do not parse are skipped.
pub fn parse(tsv: &str, width: i32, height: i32) -> OcrPage {
    let mut lines: Vec<OcrLine> = Vec::new();
    let mut current: Option<(i32, i32, i32)> = None;
    for row in tsv.lines() {
        let cols: Vec<&str> = row.split('\t').collect();
        if cols.len() < 12 || cols[0] != WORD {
            continue;
        }
        let num = |i: usize| cols[i].trim().parse::<i32>().ok();
        let (Some(block), Some(par), Some(line)) = (num(2), num(3), num(4)) else {
            continue;
        };
        let (Some(left), Some(top), Some(w), Some(h)) = (num(6), num(7), num(8), num(9)) else {
            continue;
        };
        let conf = cols[10].trim().parse::<f32>().unwrap_or(0.0);
        let text = cols[11..].join("\t");
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let key = (block, par, line);
        if current != Some(key) {
            lines.push(OcrLine::default());
            current = Some(key);
        }
        if let Some(l) = lines.last_mut() {
            l.words.push(OcrWord {
                text: text.to_string(),
                conf,
                rect: Rect {
                    left,
                    top,
                    width: w,
                    height: h,
                },
                chars: Vec::new(),
            });
        }
    }
    OcrPage {
        width,
        height,
        lines,
        redactions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_grouped_by_line() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext
1\t1\t0\t0\t0\t0\t0\t0\t800\t600\t-1\t
4\t1\t1\t1\t1\t0\t10\t10\t300\t30\t-1\t
5\t1\t1\t1\t1\t1\t10\t10\t60\t30\t96.5\t姓名
5\t1\t1\t1\t1\t2\t200\t10\t90\t30\t91.0\t尹梓晗
5\t1\t1\t1\t2\t1\t10\t60\t60\t30\t95\t性别
5\t1\t1\t1\t2\t2\t200\t60\t30\t30\tx\t女
5\t1\t1\t1\t2\t3\t200\t60\t30\t30\t90\t 
garbage";
        let page = parse(tsv, 800, 600);
        assert_eq!(page.text(), "姓名 尹梓晗\n性别 女");
        assert_eq!(page.lines[0].words[1].rect.left, 200);
        assert_eq!(page.lines[0].words[0].conf, 96.5);
        assert_eq!(page.lines[1].words[1].conf, 0.0);
    }
}
