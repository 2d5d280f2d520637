//! Finding field labels in OCR lines and cutting out the value that follows
//! each, tolerant of what Tesseract does to labels: spaces between Han
//! characters (姓　　名), full-width or missing brackets and colons, 入 read as
//! 人, one misread character in a long label.

use crate::domain::Field;
use crate::domain::text::{is_cjk, to_half_width};

use super::page::{OcrLine, Rect};

/// What a label introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Field(Field),
    /// A label whose value must not be taken for a field (分院, 更新日期…). It
    /// is matched so that it ends the value before it and is then dropped.
    Distractor,
    /// A page title or heading: ends a value, carries none.
    Heading,
}

pub struct Label {
    /// The label with brackets, slashes, colons and spaces removed: what is
    /// left of it after [`skeleton_char`] filtering.
    pub skeleton: &'static str,
    pub target: Target,
    /// Whether the label is also found with one misread character.
    pub fuzzy: bool,
}

const fn field(skeleton: &'static str, f: Field) -> Label {
    Label {
        skeleton,
        target: Target::Field(f),
        fuzzy: true,
    }
}

/// A label found only as printed: one misread character would make a
/// shorter label and its value look like it (毕（结）业 结业 is one slip
/// from 毕结业结论).
const fn exact(skeleton: &'static str, f: Field) -> Label {
    Label {
        skeleton,
        target: Target::Field(f),
        fuzzy: false,
    }
}

const fn distractor(skeleton: &'static str) -> Label {
    Label {
        skeleton,
        target: Target::Distractor,
        fuzzy: true,
    }
}

/// Every label the four layouts print. Two labels of the same length differ
/// in at least two characters (a test checks it), so one misread character
/// cannot make one label look like another.
pub const LABELS: &[Label] = &[
    field("姓名", Field::name),
    field("性别", Field::gender),
    field("出生日期", Field::birth_date),
    field("入学日期", Field::enrollment_date),
    field("毕结业日期", Field::graduation_date),
    field("毕业日期", Field::graduation_date),
    field("学校名称", Field::school),
    field("专业", Field::major),
    field("学制", Field::duration),
    field("层次", Field::level),
    field("学历类别", Field::category),
    field("学习形式", Field::study_mode),
    field("毕结业", Field::completion),
    field("证书编号", Field::certificate_no),
    field("学历证书编号", Field::certificate_no),
    field("学位证书编号", Field::certificate_no),
    field("校院长姓名", Field::principal),
    field("在线验证码", Field::vcode),
    field("证件号码", Field::id_number_masked),
    field("身份证号", Field::id_number_masked),
    field("获学位日期", Field::degree_date),
    field("学位授予单位", Field::awarding_unit),
    field("所授学位", Field::degree),
    field("学科专业", Field::discipline),
    // The 2010-era 备案表 and 学信档案 pages named the same fields otherwise.
    field("入学时间", Field::enrollment_date),
    field("毕业时间", Field::graduation_date),
    field("学历层次", Field::level),
    field("毕业院校", Field::school),
    field("专业名称", Field::major),
    field("学历类型", Field::category),
    exact("毕结业结论", Field::completion),
    // 学籍 reports: the older table's short labels, the card's own rows.
    field("院校", Field::school),
    field("院系", Field::department),
    field("班级", Field::class_name),
    field("形式", Field::study_mode),
    field("类型", Field::category),
    field("学号", Field::student_no),
    field("学籍状态", Field::enrollment_status),
    field("预计毕业日期", Field::expected_graduation_date),
    // The web page's menu item, one character away from 在线验证码.
    distractor("在线验证报告"),
    distractor("分院"),
    distractor("系所"),
    distractor("更新日期"),
    distractor("有效期至"),
    distractor("民族"),
    distractor("考生号"),
    distractor("院校所在地"),
    distractor("入学方式"),
    distractor("离校日期"),
    distractor("毕业照片"),
    distractor("学位照片"),
    distractor("学历照片"),
    distractor("录取照片"),
    distractor("制表日期"),
    distractor("验证期至"),
    distractor("创建日期"),
    Label {
        skeleton: "学历信息",
        target: Target::Heading,
        fuzzy: true,
    },
    Label {
        skeleton: "学位信息",
        target: Target::Heading,
        fuzzy: true,
    },
];

/// Characters that take part in label matching: Han characters, letters and
/// digits. Everything else (brackets, colons, slashes, quotes) is skipped, so
/// 毕（结）业, 毕(结)业, 毕 〈结) 业 and 毕结业 all read the same.
fn skeleton_char(c: char) -> bool {
    is_cjk(c) || c.is_ascii_alphanumeric()
}

/// Label characters Tesseract confuses with another character; folded before
/// comparing so the slip costs nothing.
fn fold(c: char) -> char {
    match c {
        '人' => '入',
        '曰' => '日',
        _ => c,
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, ':' | ';' | '：' | '；')
}

/// A gap of this many character heights before a label says it starts a new
/// cell; a gap this wide after value text ends the value.
const CELL_GAP: f32 = 1.5;
const VALUE_END_GAP: f32 = 2.5;

#[derive(Debug, Clone, Copy)]
struct Unit {
    ch: char,
    word: usize,
    /// Offset of the character within its word, in characters.
    offset: usize,
    /// Gap before this character in character heights (0 inside a word).
    gap_before: f32,
}

/// A value found after a label on one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub field: Field,
    /// The value as read, separators before it removed, inner spaces kept.
    pub raw: String,
    /// Where the value sits in the image (estimated inside a word shared
    /// with its label).
    pub rect: Option<Rect>,
    /// The lowest confidence among the value's characters (or words, when
    /// the engine gave no character boxes).
    pub conf: f32,
    /// Whether the label was matched exactly (not with one misread character).
    pub exact_label: bool,
}

/// The labels found on a line, with their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineLabels {
    pub hits: Vec<Hit>,
    /// Number of labels of any kind found (fields, distractors, headings).
    pub labels: usize,
    /// Field labels with nothing after them on the line, and where each
    /// stands: a caption whose value is printed above or below it.
    pub bare: Vec<(Field, Rect)>,
}

struct Found {
    target: Target,
    /// Unit range of the label.
    start: usize,
    end: usize,
    exact: bool,
}

pub fn scan_line(line: &OcrLine) -> LineLabels {
    let units = units(line);
    let skel: Vec<usize> = (0..units.len())
        .filter(|&i| skeleton_char(units[i].ch))
        .collect();
    let mut found: Vec<Found> = Vec::new();
    let mut s = 0;
    while s < skel.len() {
        match best_label_at(&units, &skel, s) {
            Some((label, len, exact)) => {
                found.push(Found {
                    target: label.target,
                    start: skel[s],
                    end: skel[s + len - 1] + 1,
                    exact,
                });
                s += len;
            }
            None => s += 1,
        }
    }
    let mut out = LineLabels {
        hits: Vec::new(),
        labels: found.len(),
        bare: Vec::new(),
    };
    for (i, f) in found.iter().enumerate() {
        let Target::Field(field) = f.target else {
            continue;
        };
        let stop = found.get(i + 1).map_or(units.len(), |n| n.start);
        match value_after(line, &units, f.end, stop, field, f.exact) {
            Some(hit) => out.hits.push(hit),
            None => {
                let words = &line.words[units[f.start].word..=units[f.end - 1].word];
                let rect = words[1..]
                    .iter()
                    .fold(words[0].rect, |r, w| r.union(&w.rect));
                out.bare.push((field, rect));
            }
        }
    }
    out
}

/// The whole of `line` as the value of `field`, for a value printed apart
/// from its label (the 2010 备案表's code, captioned below).
pub fn unlabelled_value(line: &OcrLine, field: Field) -> Option<Hit> {
    let units = units(line);
    value_after(line, &units, 0, units.len(), field, true)
}

fn units(line: &OcrLine) -> Vec<Unit> {
    let h = line.char_height() as f32;
    let mut out = Vec::new();
    let mut prev_right: Option<i32> = None;
    for (wi, w) in line.words.iter().enumerate() {
        let gap = prev_right.map_or(0.0, |r| (w.rect.left - r).max(0) as f32 / h);
        prev_right = Some(w.rect.right());
        for (ci, ch) in to_half_width(&w.text).chars().enumerate() {
            out.push(Unit {
                ch,
                word: wi,
                offset: ci,
                gap_before: if ci == 0 { gap.max(0.01) } else { 0.0 },
            });
        }
    }
    out
}

/// The longest label starting at skeleton position `s` that the context
/// allows: at the start of the line, after a cell-wide gap, or followed by
/// a colon. Returns the label, its length and whether it matched exactly.
fn best_label_at(
    units: &[Unit],
    skel: &[usize],
    s: usize,
) -> Option<(&'static Label, usize, bool)> {
    let starts_cell = s == 0 || units[skel[s]].gap_before >= CELL_GAP;
    // Inside brackets a label word is part of a value: the 学籍状态
    // `注册学籍（预计毕业日期：2025年01月01日）` carries a date, not a row.
    if in_brackets(&units[..skel[s]]) {
        return None;
    }
    let mut best: Option<(&'static Label, usize, bool)> = None;
    let mut fuzzy_tie = false;
    for label in LABELS {
        let n = label.skeleton.chars().count();
        if s + n > skel.len() {
            continue;
        }
        let subs = label
            .skeleton
            .chars()
            .zip(&skel[s..s + n])
            .filter(|&(l, &u)| fold(l) != fold(units[u].ch))
            .count();
        let exact = subs == 0;
        // One slip is tolerated in long labels only; the first character
        // must be right so a value's tail is not mistaken for a label.
        let fuzzy = label.fuzzy
            && subs == 1
            && n >= 4
            && fold(units[skel[s]].ch) == fold(first(label.skeleton));
        if !exact && !fuzzy {
            continue;
        }
        let end = skel[s + n - 1];
        // A colon ends a label: none stands inside one (毕（结）业：结业 is
        // 毕结业 and its value, not 毕结业结论 misread).
        if units[skel[s]..end].iter().any(|u| is_separator(u.ch)) {
            continue;
        }
        let colon_after = units[end + 1..]
            .iter()
            .find(|u| !u.ch.is_whitespace())
            .is_some_and(|u| is_separator(u.ch));
        // A label starts a line or a cell, or is followed by a colon; one
        // with a misread character must start the line, have the colon, or
        // stand alone in the line's last cell (a caption, 在线验证本 under
        // its code).
        let caption = starts_cell && s + n == skel.len();
        let context = if exact {
            starts_cell || colon_after
        } else {
            s == 0 || colon_after || caption
        };
        if !context {
            continue;
        }
        match best {
            Some((b, bn, bexact)) => {
                let better = n > bn || (n == bn && exact && !bexact);
                if better {
                    best = Some((label, n, exact));
                    fuzzy_tie = false;
                } else if n == bn && exact == bexact && b.target != label.target {
                    fuzzy_tie = true;
                }
            }
            None => best = Some((label, n, exact)),
        }
    }
    if fuzzy_tie && best.is_some_and(|b| !b.2) {
        return None;
    }
    best
}

/// Whether `before` ends inside a bracket opened right after Han text (a
/// value's own bracket, not a stray mark read from a cell border).
fn in_brackets(before: &[Unit]) -> bool {
    let mut open: Vec<usize> = Vec::new();
    for (i, u) in before.iter().enumerate() {
        match u.ch {
            '(' => open.push(i),
            ')' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.last()
        .is_some_and(|&i| i > 0 && is_cjk(before[i - 1].ch) && before[i].gap_before < CELL_GAP)
}

fn first(s: &str) -> char {
    s.chars().next().unwrap_or(' ')
}

/// Characters Tesseract puts between a label and its value, or reads from
/// the cell border: dropped from both ends of a value.
fn is_edge_junk(c: char) -> bool {
    !(is_cjk(c) || c.is_ascii_alphanumeric() || c == '*' || c == '(' || c == ')')
}

/// Width of a character relative to the line height, for finding where in
/// a word a value starts when Tesseract ran it together with its label
/// (`编号：1045…` as one word): Han characters and full-width marks fill a
/// square cell, Latin letters and digits about half of one.
fn char_width(c: char) -> f32 {
    if c.is_ascii_alphanumeric() {
        0.55
    } else if c.is_ascii() {
        0.35
    } else {
        1.0
    }
}

/// The box of characters `from..to` of a word.
fn part_of_word(word: Rect, chars: &[char], from: usize, to: usize) -> Rect {
    if from == 0 && to >= chars.len() {
        return word;
    }
    let widths: Vec<f32> = chars.iter().map(|&c| char_width(c)).collect();
    let total: f32 = widths.iter().sum::<f32>().max(f32::EPSILON);
    let before: f32 = widths[..from.min(widths.len())].iter().sum();
    let inside: f32 = widths[from.min(widths.len())..to.min(widths.len())]
        .iter()
        .sum();
    let px = |share: f32| (word.width as f32 * share / total).round() as i32;
    Rect {
        left: word.left + px(before),
        top: word.top,
        width: px(inside).max(1),
        height: word.height,
    }
}

fn value_after(
    line: &OcrLine,
    units: &[Unit],
    from: usize,
    stop: usize,
    field: Field,
    exact_label: bool,
) -> Option<Hit> {
    let mut start = from;
    while start < stop && is_edge_junk(units[start].ch) {
        start += 1;
    }
    let mut end = start;
    while end < stop {
        if end > start && units[end].gap_before >= VALUE_END_GAP {
            break;
        }
        end += 1;
    }
    while end > start && is_edge_junk(units[end - 1].ch) {
        end -= 1;
    }
    if start >= end {
        return None;
    }
    let mut raw = String::new();
    for u in &units[start..end] {
        if u.gap_before > 0.0 && !raw.is_empty() {
            raw.push(' ');
        }
        raw.push(u.ch);
    }
    let mut rect: Option<Rect> = None;
    let mut conf = f32::INFINITY;
    for wi in units[start].word..=units[end - 1].word {
        let w = &line.words[wi];
        let chars: Vec<char> = to_half_width(&w.text).chars().collect();
        let from = if wi == units[start].word {
            units[start].offset
        } else {
            0
        };
        let to = if wi == units[end - 1].word {
            units[end - 1].offset + 1
        } else {
            chars.len()
        };
        let (part, part_conf) = if w.chars.len() == chars.len() && from < to {
            // Character boxes from the engine: exact.
            let cs = &w.chars[from..to];
            let r = cs[1..].iter().fold(cs[0].rect, |r, c| r.union(&c.rect));
            let c = cs.iter().map(|c| c.conf).fold(f32::INFINITY, f32::min);
            (r, c)
        } else {
            (part_of_word(w.rect, &chars, from, to), w.conf)
        };
        rect = Some(rect.map_or(part, |r| r.union(&part)));
        conf = conf.min(part_conf);
    }
    Some(Hit {
        field,
        raw,
        rect,
        conf,
        exact_label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::page::OcrPage;

    fn scan(text: &str) -> Vec<(Field, String)> {
        let page = OcrPage::from_text(text);
        page.lines
            .iter()
            .flat_map(|l| scan_line(l).hits)
            .map(|h| (h.field, h.raw))
            .collect()
    }

    #[test]
    fn equal_length_labels_differ_in_two_characters() {
        for a in LABELS {
            for b in LABELS {
                let (na, nb) = (a.skeleton.chars().count(), b.skeleton.chars().count());
                if a.target == b.target || na != nb || na < 4 {
                    continue;
                }
                let d = a
                    .skeleton
                    .chars()
                    .zip(b.skeleton.chars())
                    .filter(|(x, y)| fold(*x) != fold(*y))
                    .count();
                assert!(d >= 2, "{} / {}", a.skeleton, b.skeleton);
            }
        }
    }

    #[test]
    fn label_forms_tesseract_produces_are_found() {
        let cases: &[(&str, Field, &str)] = &[
            ("姓名 尹梓晗", Field::name, "尹梓晗"),
            ("姓          名 : 皇甫飞辉", Field::name, "皇甫飞辉"),
            ("姓　　名：王五", Field::name, "王五"),
            (
                "人学日期  2007年09月08日",
                Field::enrollment_date,
                "2007年09月08日",
            ),
            (
                "毕 〈结) 业日期: 。 2015年01月20日",
                Field::graduation_date,
                "2015年01月20日",
            ),
            ("毕（结）业：结业", Field::completion, "结业"),
            ("毕结业 毕业", Field::completion, "毕业"),
            // One slip from 毕结业结论, which is found only as printed.
            ("毕(结)业 结业", Field::completion, "结业"),
            ("校(院)长姓名”欧阳瘤凯", Field::principal, "欧阳瘤凯"),
            ("学科/专业 : 护理", Field::discipline, "护理"),
            (
                "学位证书编号   1045942016926995",
                Field::certificate_no,
                "1045942016926995",
            ),
            (
                "在线验证码 : FSKU VT72 NN8N EK0J",
                Field::vcode,
                "FSKU VT72 NN8N EK0J",
            ),
            // One misread character in a long label.
            ("学历类剔: 普通高等教育", Field::category, "普通高等教育"),
        ];
        for (text, field, value) in cases {
            assert_eq!(scan(text), vec![(*field, value.to_string())], "{text}");
        }
    }

    #[test]
    fn two_pairs_on_a_line_are_split_at_the_second_label() {
        assert_eq!(
            scan("姓名: ” 钱晨可                 性别: 女"),
            vec![(Field::name, "钱晨可".into()), (Field::gender, "女".into())]
        );
        assert_eq!(
            scan("学校名称: 西安交通大学          分院: 继续教育学院"),
            vec![(Field::school, "西安交通大学".into())]
        );
    }

    #[test]
    fn a_wide_gap_ends_a_value_when_the_next_label_is_unreadable() {
        assert_eq!(
            scan("学校名称: 西安交通大学          分阮: 继续教育学院"),
            vec![(Field::school, "西安交通大学".into())]
        );
    }

    #[test]
    fn label_words_inside_values_are_not_labels() {
        // 专业 inside the value, with no gap before it and no colon after it.
        assert_eq!(
            scan("所授学位 : 护理硕士专业学位"),
            vec![(Field::degree, "护理硕士专业学位".into())]
        );
        // The footer sentence names the code without being its label.
        assert_eq!(scan("3.可登录学信网输入在线验证码进行查询验证。"), vec![]);
    }

    #[test]
    fn label_words_in_a_values_brackets_are_not_labels() {
        assert_eq!(
            scan("学籍状态 注册学籍 (预计毕业日期: 2025年01月01日 )"),
            vec![(
                Field::enrollment_status,
                "注册学籍 (预计毕业日期: 2025年01月01日 )".into()
            )]
        );
    }

    #[test]
    fn older_and_enrollment_labels_are_found() {
        let cases: &[(&str, Field, &str)] = &[
            ("学历类型 普通高等教育", Field::category, "普通高等教育"),
            ("毕 结业 结论 毕业", Field::completion, "毕业"),
            (
                "学 习 形 式 普通 全 日 制",
                Field::study_mode,
                "普通 全 日 制",
            ),
            ("院 校 郑州 大 学", Field::school, "郑州 大 学"),
            ("院 系 护理 学 院", Field::department, "护理 学 院"),
            (
                "班级 护理 学 本 科 三 班",
                Field::class_name,
                "护理 学 本 科 三 班",
            ),
            ("形式 普通全日制", Field::study_mode, "普通全日制"),
            ("类 型 普通高等教育", Field::category, "普通高等教育"),
            ("学 号 202207140233", Field::student_no, "202207140233"),
            (
                "预计 毕业 日 期 : 2024年06月30日",
                Field::expected_graduation_date,
                "2024年06月30日",
            ),
        ];
        for (text, field, value) in cases {
            assert_eq!(scan(text), vec![(*field, value.to_string())], "{text}");
        }
        // 院校所在地 is the longer label: no school.
        assert_eq!(scan("院校所在地 河南省郑州市"), vec![]);
    }

    #[test]
    fn a_caption_alone_on_its_line_is_bare() {
        // Also with a misread character: it stands alone in its cell.
        for text in [
            "验证期至：2011年02月20日          在线验证码",
            "验证期至：2011年02月20日          在 线 验证 本",
        ] {
            let page = OcrPage::from_text(text);
            let l = scan_line(&page.lines[0]);
            assert!(l.hits.is_empty(), "{text}");
            assert_eq!(l.bare.len(), 1, "{text}");
            assert_eq!(l.bare[0].0, Field::vcode, "{text}");
        }
    }

    #[test]
    fn distractors_end_values_and_are_dropped() {
        for text in [
            "更新日期 : 2014年08月16日",
            "分院: 继续教育学院",
            "系所: 无",
            "有效期至 2014年10月15日",
        ] {
            assert_eq!(scan(text), vec![], "{text}");
        }
    }
}
