//! Which CHSI page a screenshot shows, from the titles and headings each
//! prints, falling back to its shape when a title was cropped away.

use serde::{Deserialize, Serialize};

use crate::domain::Kind;
use crate::domain::text::is_cjk;

use super::page::{OcrLine, OcrPage, OcrWord, Rect};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// 教育部学历证书电子注册备案表
    Report,
    /// 中国高等教育学位在线验证报告
    Degree,
    /// 教育部学籍在线验证报告: a registration, not a diploma or degree
    Enrollment,
    /// 学信档案 desktop page
    Web,
    /// The phone app's 学历信息 / 学位信息
    Mobile,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Report => "report",
            Layout::Degree => "degree",
            Layout::Enrollment => "enrollment",
            Layout::Web => "web",
            Layout::Mobile => "mobile",
        }
    }

    pub fn parse(s: &str) -> Option<Layout> {
        [
            Layout::Report,
            Layout::Degree,
            Layout::Enrollment,
            Layout::Web,
            Layout::Mobile,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the page's text says about it, before the fields are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Markers {
    pub layout: Option<Layout>,
    /// The kind a title states (学历信息 / 学位信息, or the report titles).
    pub kind: Option<Kind>,
}

/// Distinctive text of each page: titles, and footers for when the title
/// was cropped away. Report and degree markers are long and checked with one
/// misread character allowed; the web page's are checked exactly, because
/// the app's footer (以上信息来源于学信网) is one character away from the web
/// page's notice (以下信息来源于高校…).
const REPORT: &[&str] = &["学历证书电子注册备案表", "电子注册备案表"];
const DEGREE: &[&str] = &[
    "高等教育学位在线验证报告",
    "学位在线验证报告",
    "中国高等教育学位信息数据库",
];
const WEB: &[&str] = &[
    "学信档案",
    "高等教育信息",
    "出国教育背景信息服务",
    "以下信息来源于高校",
    "考研信息",
];
/// The 学籍 report's title, checked exactly: it is one character from the
/// degree report's 学位在线验证报告.
const ENROLLMENT: &str = "学籍在线验证报告";
/// A report's title stands on a line with little else; a longer line that
/// contains one is a note citing the report, not the report.
const TITLE_SLACK: usize = 8;
const MOBILE_DIPLOMA: &str = "学历信息";
const MOBILE_DEGREE: &str = "学位信息";
const MOBILE: &[&str] = &["以上信息来源于学信网"];

fn skeleton(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| is_cjk(c) || c.is_ascii_alphanumeric())
        .collect()
}

/// Whether some line carries `needle` as a title: with little else on the
/// line, and naming one kind of record (a header like
/// 学籍/学历/学位在线验证报告查询 names three, and is no report).
fn titled(lines: &[Vec<char>], needle: &str, exact: bool) -> bool {
    let n = needle.chars().count();
    lines.iter().any(|l| {
        let found = if exact {
            contains_exact(l, needle)
        } else {
            contains(l, needle)
        };
        let kinds = ["学籍", "学历", "学位"]
            .iter()
            .filter(|k| contains_exact(l, k))
            .count();
        found && l.len() <= n + TITLE_SLACK && kinds <= 1
    })
}

/// How many different reports a page names as titles: a page naming more
/// than one (the 学信档案 index of report kinds) is a list, not a report.
pub fn report_titles(page: &OcrPage) -> usize {
    let lines: Vec<Vec<char>> = page.lines.iter().map(|l| skeleton(&l.text())).collect();
    [
        titled(&lines, "学历证书电子注册备案表", false),
        titled(&lines, "学位在线验证报告", true),
        titled(&lines, ENROLLMENT, true),
    ]
    .iter()
    .filter(|t| **t)
    .count()
}

pub fn markers(page: &OcrPage) -> Markers {
    let skel = skeleton(&page.text());
    let lines: Vec<Vec<char>> = page.lines.iter().map(|l| skeleton(&l.text())).collect();
    let has = |needles: &[&str]| needles.iter().any(|n| contains(&skel, n));
    let title = |needles: &[&str]| needles.iter().any(|n| titled(&lines, n, false));
    if titled(&lines, ENROLLMENT, true) {
        return Markers {
            layout: Some(Layout::Enrollment),
            kind: Some(Kind::Enrollment),
        };
    }
    if title(REPORT) {
        return Markers {
            layout: Some(Layout::Report),
            kind: Some(Kind::Diploma),
        };
    }
    // The degree report's footer note names its database, and is kept as a
    // marker for when the title was cropped away; its title must be one.
    if title(&DEGREE[..2]) || has(&DEGREE[2..]) {
        return Markers {
            layout: Some(Layout::Degree),
            kind: Some(Kind::Degree),
        };
    }
    if WEB.iter().any(|n| contains_exact(&skel, n)) {
        return Markers {
            layout: Some(Layout::Web),
            kind: None,
        };
    }
    // The app's title bar. Both strings also occur on the web page's tabs,
    // which were ruled out above, and in a desktop page's menu (the 2010
    // 学信档案 page, its header unread): a landscape page is no phone's.
    let diploma = contains_exact(&skel, MOBILE_DIPLOMA);
    let degree = contains_exact(&skel, MOBILE_DEGREE);
    let phone = if page.width > page.height {
        Layout::Web
    } else {
        Layout::Mobile
    };
    match (diploma, degree) {
        (true, false) => Markers {
            layout: Some(phone),
            kind: Some(Kind::Diploma),
        },
        (false, true) => Markers {
            layout: Some(phone),
            kind: Some(Kind::Degree),
        },
        _ if has(MOBILE) => Markers {
            layout: Some(phone),
            kind: None,
        },
        _ => Markers::default(),
    }
}

/// The layout of a page without a readable title. Only the reports print
/// an 在线验证码; of the others, a phone screenshot is tall and the web page
/// wide (a landscape page is never a phone's).
pub fn without_title(page: &OcrPage, kind: Option<Kind>, has_vcode_label: bool) -> Layout {
    if has_vcode_label {
        return match kind {
            Some(Kind::Degree) => Layout::Degree,
            _ => Layout::Report,
        };
    }
    if page.height > page.width * 3 / 2 {
        Layout::Mobile
    } else {
        Layout::Web
    }
}

/// The words printed just above a caption (the 2010 备案表 prints its
/// 在线验证码 over the words 在线验证码), as a line of their own: from the
/// nearest line above that has any, the words centred over the caption or
/// beside it by at most its width. Words further left on that line (the
/// sheet's 制表日期 at the other edge) are not part of it.
pub fn words_above(page: &OcrPage, caption: Rect) -> Option<OcrLine> {
    let (from, to) = (
        caption.left - caption.width,
        caption.right() + caption.width,
    );
    let reach = caption.height * 3;
    page.lines
        .iter()
        .filter_map(|line| {
            let words: Vec<OcrWord> = line
                .words
                .iter()
                .filter(|w| {
                    let centre = w.rect.left + w.rect.width / 2;
                    (from..=to).contains(&centre)
                        && w.rect.bottom() <= caption.top + caption.height / 4
                        && w.rect.bottom() >= caption.top - reach
                })
                .cloned()
                .collect();
            (!words.is_empty()).then_some(OcrLine { words })
        })
        .max_by_key(|l| l.rect().map_or(i32::MIN, |r| r.bottom()))
}

fn contains_exact(hay: &[char], needle: &str) -> bool {
    let n: Vec<char> = needle.chars().collect();
    hay.windows(n.len()).any(|w| w == n.as_slice())
}

fn contains(hay: &[char], needle: &str) -> bool {
    let n: Vec<char> = needle.chars().collect();
    let allowed = if n.len() >= 5 { 1 } else { 0 };
    hay.windows(n.len())
        .any(|w| w.iter().zip(&n).filter(|(a, b)| a != b).count() <= allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The markers of `text` on a page shaped like a phone's screenshot.
    fn detect(text: &str) -> Markers {
        let mut page = OcrPage::from_text(text);
        page.height = page.width * 2;
        markers(&page)
    }

    #[test]
    fn a_landscape_page_is_no_phones() {
        // The 2010 学信档案 page's menu says 学历信息; its header went unread.
        let page = OcrPage::from_text("个人信息 高等教育学历信息\n学历信息 姓名 宋佳怡");
        assert_eq!(
            markers(&page),
            Markers {
                layout: Some(Layout::Web),
                kind: Some(Kind::Diploma),
            }
        );
    }

    #[test]
    fn titles_name_the_layout_and_kind() {
        let cases: &[(&str, Option<Layout>, Option<Kind>)] = &[
            (
                "教育部学历证书电子注册备案表",
                Some(Layout::Report),
                Some(Kind::Diploma),
            ),
            // One misread character in the title.
            (
                "教育部学历证书电子注册备桉表",
                Some(Layout::Report),
                Some(Kind::Diploma),
            ),
            (
                "中国高等教育学位在线验证报告",
                Some(Layout::Degree),
                Some(Kind::Degree),
            ),
            (
                "学信档案 chsi.com.cn\n首页 高等教育信息 在线验证报告\n学籍 学历 学位 考研信息",
                Some(Layout::Web),
                None,
            ),
            (
                "20:58\n< 学位信息 ...",
                Some(Layout::Mobile),
                Some(Kind::Degree),
            ),
            ("学历信息", Some(Layout::Mobile), Some(Kind::Diploma)),
            (
                "以上信息来源于学信网，如有疑问请与学校联系",
                Some(Layout::Mobile),
                None,
            ),
            (
                "注：1.本报告依据中国高等教育学位信息数据库出具。",
                Some(Layout::Degree),
                Some(Kind::Degree),
            ),
            ("发票 增值税专用发票 购买方", None, None),
        ];
        for (text, layout, kind) in cases {
            let m = detect(text);
            assert_eq!((m.layout, m.kind), (*layout, *kind), "{text}");
        }
    }
}
