//! Reading the verification service's HTML. Parsed by label text, never by
//! position: the live pages vary in wrappers, classes, whitespace and bracket
//! width, and a field the parser cannot place is left out, not guessed. The
//! label registry is `labels`, the walkers over each markup `markup`; this
//! module decides what kind of answer a page is.

use scraper::{Html, Selector};

use super::labels;
use super::markup::{self, Cell};
use crate::domain::fields::normalize_value;
use crate::domain::text::normalize_text;
use crate::domain::{CredentialFields, Field, Kind};
use crate::verdict::Report;

/// A value the page shows as an image (the table markup draws 姓名 and
/// 毕(结)业): fetched and read before the report is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnField {
    pub field: Field,
    /// As written in the page, relative to it.
    pub src: String,
}

/// What a page says.
// One per lookup, never stored in bulk: boxing the report buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Report {
        report: Report,
        /// The code the page itself shows, when it shows one.
        vcode: Option<String>,
        /// Labels present whose values could not be read (e.g. a bad date).
        unreadable: Vec<Field>,
        /// Values drawn as images, still to be read.
        drawn: Vec<DrawnField>,
        /// Fields the page states more than once with different values: no
        /// value wins, the report is inconsistent.
        inconsistent: Vec<Field>,
    },
    Invalid,
    Expired,
    Closed,
    Captcha,
    /// `您访问系统过于频繁`: the service asks us to slow down.
    RateLimited,
    /// A maintenance notice: expected now and then.
    Maintenance,
    /// The service's own error page (404, 没有找到访问的页面, 出错了).
    ServiceError,
    /// A body that is only a script: the anti-bot front door, which needs a
    /// browser to pass.
    FrontDoor,
    /// Nothing we know: the site changed, or this is a login page. Transient,
    /// and worth a loud log.
    Unrecognised(String),
}

const CAPTCHA: &[&str] = &["请输入验证码以继续当前操作", "请输入图片中的验证码"];
const CAPTCHA_FORMS: &str = "form#getXueLi, img[src*='capachaimg'], input[name='cap']";
const INVALID: &[&str] = &["此在线验证码无效", "不合要求的在线验证码"];
// The report's own words ("在线验证报告已过期"), not any 已过期: a login page
// saying "Cookie已关闭" is no answer about a report, and a wrong answer here
// rejects a candidate.
const EXPIRED: &[&str] = &["报告已过期"];
const CLOSED: &[&str] = &["报告已关闭"];
const RATE_LIMITED: &[&str] = &["访问系统过于频繁", "访问过于频繁"];
const MAINTENANCE: &[&str] = &["系统维护"];
const SERVICE_ERROR: &[&str] = &["没有找到访问的页面", "您访问的页面不存在", "出错了"];

/// A report with fewer readable pairs than this is a page that merely
/// mentions a report's title (a help page, a heading over nothing).
const MIN_PAIRS: usize = 3;

fn selector(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

fn kind_from_title(title: &str) -> Option<Kind> {
    let t = normalize_text(title);
    if t.contains("学历证书电子注册备案表") {
        Some(Kind::Diploma)
    } else if t.contains("学位在线验证报告") {
        Some(Kind::Degree)
    } else if t.contains("学籍在线验证报告") {
        Some(Kind::Enrollment)
    } else {
        None
    }
}

/// A report page has a few hundred tags, nested a few dozen deep. The HTML5
/// tree builder does work proportional to nesting depth for every tag, so a
/// page of thousands of nested tags would hold a worker for seconds or
/// minutes: such pages are refused unparsed.
const MAX_TAGS: usize = 10_000;
const MAX_DEPTH: usize = 256;
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Number of tags and the deepest nesting, by a cheap scan that needs no
/// parse (approximate: enough to tell a page from an attack).
fn tag_shape(html: &str) -> (usize, usize) {
    let b = html.as_bytes();
    let (mut tags, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        tags += 1;
        let closing = b.get(i + 1) == Some(&b'/');
        let start = i + 1 + usize::from(closing);
        let mut end = start;
        while end < b.len() && b[end].is_ascii_alphanumeric() {
            end += 1;
        }
        let name = html.get(start..end).unwrap_or("").to_ascii_lowercase();
        // A `<` before the `>` means this one was not a tag: go on from there,
        // so a flood of `<` (which the parser turns into as many errors) counts.
        let stop = b[end..]
            .iter()
            .position(|c| matches!(c, b'>' | b'<'))
            .map(|p| end + p);
        let gt = stop.filter(|&s| b[s] == b'>');
        let self_closing = gt.is_some_and(|g| g > 0 && b[g - 1] == b'/');
        if closing {
            depth = depth.saturating_sub(1);
        } else if !name.is_empty() && !self_closing && !VOID.contains(&name.as_str()) {
            depth += 1;
            deepest = deepest.max(depth);
        }
        i = match stop {
            Some(s) if b[s] == b'<' => s,
            Some(s) => s + 1,
            None => b.len(),
        };
    }
    (tags, deepest)
}

pub fn parse_page(html: &str) -> Page {
    let (tags, depth) = tag_shape(html);
    if tags > MAX_TAGS || depth > MAX_DEPTH {
        return Page::Unrecognised(format!(
            "{tags} tags nested {depth} deep; a report page stays under {MAX_TAGS} and {MAX_DEPTH}"
        ));
    }
    let doc = Html::parse_document(html);
    // Words a reader sees: the front door's and the report's head carry
    // scripts whose strings (已过期, 已关闭) are no answer.
    let visible = normalize_text(&markup::visible_text(&doc));

    if CAPTCHA.iter().any(|p| visible.contains(p))
        || doc.select(&selector(CAPTCHA_FORMS)).next().is_some()
    {
        return Page::Captcha;
    }

    let kind = markup::titles(&doc).iter().find_map(|t| kind_from_title(t));
    if let Some(kind) = kind {
        let pairs = markup::pairs(&doc);
        let known = pairs
            .iter()
            .filter(|p| labels::field_for(p.label, kind).is_some())
            .count();
        if known >= MIN_PAIRS {
            return read_report(&doc, &pairs, kind);
        }
    }

    let any = |phrases: &[&str]| phrases.iter().any(|p| visible.contains(p));
    if any(RATE_LIMITED) {
        return Page::RateLimited;
    }
    if any(INVALID) {
        return Page::Invalid;
    }
    if any(EXPIRED) {
        return Page::Expired;
    }
    if any(CLOSED) {
        return Page::Closed;
    }
    if any(MAINTENANCE) {
        return Page::Maintenance;
    }
    let title = doc
        .select(&selector("title"))
        .next()
        .map(|t| normalize_text(&markup::text_under(*t)))
        .unwrap_or_default();
    if any(SERVICE_ERROR) || title.contains("404") {
        return Page::ServiceError;
    }
    // Nothing to read, yet a script to run: the front door. An empty body
    // without one is a broken answer, not a door.
    if visible.is_empty() && doc.select(&selector("script")).next().is_some() {
        return Page::FrontDoor;
    }
    let snippet: String = visible.chars().take(80).collect();
    match kind {
        Some(kind) => Page::Unrecognised(format!(
            "{} report title but too few report fields; text `{snippet}`",
            kind.zh()
        )),
        None => Page::Unrecognised(format!("title `{title}`, text `{snippet}`")),
    }
}

fn read_report(doc: &Html, pairs: &[markup::Pair], kind: Kind) -> Page {
    let mut fields = CredentialFields {
        kind: Some(kind),
        ..Default::default()
    };
    let mut unreadable = Vec::new();
    let mut drawn: Vec<DrawnField> = Vec::new();
    let mut seen: Vec<Field> = Vec::new();
    // Every text value stated for a field, to find a field stated twice with
    // different values (姓名 twice): "last one wins" would let a page choose.
    let mut stated: Vec<(&'static str, String)> = Vec::new();
    for pair in pairs {
        let Some(field) = labels::field_for(pair.label, kind) else {
            continue;
        };
        if let Cell::Text(text) = &pair.value
            && let Some(v) = normalize_value(field, text)
        {
            stated.push((field.key(), v));
        }
        // The first pair of a label is the report's; a later one is a
        // caption or a repeat (and checked above for a contradiction).
        if seen.contains(&field) {
            continue;
        }
        seen.push(field);
        match &pair.value {
            Cell::Image(src) if src.is_empty() => unreadable.push(field),
            Cell::Image(src) => drawn.push(DrawnField {
                field,
                src: src.clone(),
            }),
            // An empty row (a 学籍 report's 院系 or 班级) is a field the
            // report does not state.
            Cell::Text(text) if normalize_text(text).is_empty() => {}
            Cell::Text(text) => match normalize_value(field, text) {
                Some(v) => fields.set(field, v),
                None => unreadable.push(field),
            },
        }
    }
    // `注册学籍（预计毕业日期：2025年01月01日）`: the status carries the date
    // when the report has no row of its own for it.
    if fields.expected_graduation_date.is_none()
        && let Some(status) = fields.enrollment_status.as_deref()
        && let Some(at) = status.find("预计毕业日期:")
    {
        let rest = &status[at + "预计毕业日期:".len()..];
        let date: String = rest.chars().take_while(|c| *c != ')').collect();
        if let Some(iso) = normalize_value(Field::expected_graduation_date, &date) {
            fields.expected_graduation_date = Some(iso);
        }
    }
    let vcode = fields
        .vcode
        .take()
        .or_else(|| markup::printed_code(doc).and_then(|t| normalize_value(Field::vcode, &t)));
    let inconsistent =
        super::duplicate_labels::conflicting_labels(stated.iter().map(|(k, v)| (*k, v.as_str())))
            .into_iter()
            .filter_map(|c| Field::from_key(&c.label))
            .collect();
    Page::Report {
        report: Report { kind, fields },
        vcode,
        unreadable,
        drawn,
        inconsistent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIPLOMA: &str = r#"<html><head><title>学信网-教育部学历证书电子注册备案表</title></head><body>
<div id="resultTable"><h4>教育部学历证书电子注册备案表</h4>
<div class="update-time">更新日期：2025年03月02日</div>
<div class="report-info">
<div class="report-info-item"><div class="label">姓名</div><div class="value">王晓雯</div></div>
<div class="report-info-item"><div class="label">毕（结）业日期</div><div class="value">2021年06月30日</div></div>
<div class="report-info-item"><div class="label">学制</div><div class="value">4 年</div></div>
<div class="report-info-item"><div class="label">证书编号</div><div class="value">103151202105001234</div></div>
</div><div class="report-yzm">在线验证码：<span class="yzm">A7K2M9QX4TB8R5WZ</span></div>
<div class="report-tips">本报告有效期至 2025年09月02日。</div></div></body></html>"#;

    #[test]
    fn a_field_stated_twice_with_different_values_is_inconsistent() {
        let twice = DIPLOMA.replace(
            "<div class=\"report-info\">",
            "<div class=\"report-info\"><div class=\"report-info-item\"><div class=\"label\">姓 名：</div><div class=\"value\">李四</div></div>",
        );
        let Page::Report { inconsistent, .. } = parse_page(&twice) else {
            panic!("{:?}", parse_page(&twice))
        };
        assert_eq!(inconsistent, vec![Field::name]);
        // The same value twice (a caption repeating it) is no contradiction.
        let repeated = DIPLOMA.replace("李四", "王晓雯").replace(
            "<div class=\"report-info\">",
            "<div class=\"report-info\"><div class=\"report-info-item\"><div class=\"label\">姓名</div><div class=\"value\">王 晓雯</div></div>",
        );
        let Page::Report { inconsistent, .. } = parse_page(&repeated) else {
            panic!("{:?}", parse_page(&repeated))
        };
        assert!(inconsistent.is_empty(), "{inconsistent:?}");
        let Page::Report { inconsistent, .. } = parse_page(DIPLOMA) else {
            panic!()
        };
        assert!(inconsistent.is_empty());
    }

    #[test]
    fn reads_a_report_by_labels() {
        let Page::Report {
            report,
            vcode,
            unreadable,
            ..
        } = parse_page(DIPLOMA)
        else {
            panic!()
        };
        assert_eq!(report.kind, Kind::Diploma);
        assert_eq!(report.fields.name.as_deref(), Some("王晓雯"));
        assert_eq!(report.fields.graduation_date.as_deref(), Some("2021-06-30"));
        assert_eq!(report.fields.duration.as_deref(), Some("4"));
        assert_eq!(
            report.fields.certificate_no.as_deref(),
            Some("103151202105001234")
        );
        assert_eq!(vcode.as_deref(), Some("A7K2M9QX4TB8R5WZ"));
        assert!(unreadable.is_empty());
    }

    #[test]
    fn a_bad_value_is_left_out_and_reported() {
        let html = DIPLOMA.replace("2021年06月30日", "2021年13月30日");
        let Page::Report {
            report, unreadable, ..
        } = parse_page(&html)
        else {
            panic!()
        };
        assert_eq!(report.fields.graduation_date, None);
        assert_eq!(unreadable, vec![Field::graduation_date]);
    }

    #[test]
    fn tag_shape_counts_nesting_not_void_elements() {
        assert_eq!(tag_shape("<div><p>a<br>b<img src=x/></p></div>"), (6, 2));
        assert_eq!(tag_shape(&"<div>".repeat(300)).1, 300);
        assert_eq!(tag_shape(&"<".repeat(20_000)).0, 20_000);
        assert_eq!(tag_shape(&("< ".repeat(20_000) + ">")).0, 20_000);
        assert_eq!(
            tag_shape("<html><body><div></div><div></div></body></html>").1,
            3
        );
    }

    #[test]
    fn unknown_pages_are_transient_not_errors() {
        for html in [
            "",
            "\u{0}\u{1}garbage<<<>>>",
            "<html><body>您的浏览器Cookie已关闭，请开启后重试</body></html>",
            "<html><body>会话已过期，请重新登录</body></html>",
        ] {
            assert!(
                matches!(parse_page(html), Page::Unrecognised(_)),
                "{html:?}"
            );
        }
    }

    #[test]
    fn script_strings_are_never_an_answer() {
        // A body that is only a script is the front door, whatever its
        // strings say.
        for html in [
            "<script>alert(1)</script>",
            "<script>document.write('报告已过期')</script><style>.x:after{content:'已关闭'}</style>",
            "<html><head><script>var m='此在线验证码无效'</script></head><body><noscript>请开启JavaScript</noscript></body></html>",
        ] {
            assert_eq!(parse_page(html), Page::FrontDoor, "{html:?}");
        }
    }

    #[test]
    fn answers_that_are_not_reports_are_named() {
        let cases = [
            (
                "<div class=\"alertTXT\"><span id=\"msgDiv\">您访问系统过于频繁，请稍后再试！</span></div>",
                Page::RateLimited,
            ),
            (
                "<html><body><h2>系统维护中</h2></body></html>",
                Page::Maintenance,
            ),
            (
                "<html><head><title>404</title></head><body>页面不见了</body></html>",
                Page::ServiceError,
            ),
            (
                "<h2>出错了</h2><p>没有找到访问的页面</p>",
                Page::ServiceError,
            ),
            (
                "<form id=\"getXueLi\"><img src=\"/capachaimg.jpg\"><input name=\"cap\"></form>",
                Page::Captcha,
            ),
        ];
        for (html, expected) in cases {
            assert_eq!(parse_page(html), expected, "{html}");
        }
    }

    #[test]
    fn the_table_markup_reads_by_label_and_names_its_drawn_values() {
        let html = r#"<html><head><title>教育部学历证书电子注册备案表_学信网</title>
<script>var a='报告已过期';</script></head><body>
<div class="tableTitle">教育部学历证书电子注册备案表<span class="zbrq-title">更新日期：2026年10月18日</span></div>
<table><tr><th>姓名</th><td colspan="3"><img class="by_img" src="/report/img/n1.jpg"></td><td rowspan="2"><img src="/p.jpg"></td></tr>
<tr><th><div>学 制</div></th><td><span>2.5 年</span></td><th>证书编号</th><td><span>1392 1120 2205 0031 77</span></td></tr>
<tr><th>毕(结)业日期</th><td><span>2022年06月30日</span></td><th>毕（结）业</th><td><img class="by_img" src="/report/img/b1.jpg"></td></tr>
<tr><th>在<br>线<br>验<br>证</th><td><span class="vcode-detail">A7QK2M9XC4TB8R5W</span><br><span class="vcode-title">在线验证码</span></td></tr>
</table></body></html>"#;
        let Page::Report {
            report,
            vcode,
            unreadable,
            drawn,
            ..
        } = parse_page(html)
        else {
            panic!("{:?}", parse_page(html))
        };
        assert_eq!(report.kind, Kind::Diploma);
        assert_eq!(report.fields.duration.as_deref(), Some("2.5"));
        assert_eq!(
            report.fields.certificate_no.as_deref(),
            Some("139211202205003177")
        );
        assert_eq!(report.fields.graduation_date.as_deref(), Some("2022-06-30"));
        assert_eq!(report.fields.name, None);
        assert_eq!(vcode.as_deref(), Some("A7QK2M9XC4TB8R5W"));
        assert!(unreadable.is_empty());
        assert_eq!(
            drawn,
            vec![
                DrawnField {
                    field: Field::name,
                    src: "/report/img/n1.jpg".into()
                },
                DrawnField {
                    field: Field::completion,
                    src: "/report/img/b1.jpg".into()
                },
            ]
        );
    }

    #[test]
    fn an_enrollment_report_reads_its_status_and_skips_empty_rows() {
        let html = r#"<html><body><div id="resultTable"><h4>教育部学籍在线验证报告</h4>
<div class="report-info-item"><div class="label">姓名</div><div class="value">许嘉怡</div></div>
<div class="report-info-item"><div class="label">院校</div><div class="value long">江西护理职业技术学院</div></div>
<div class="report-info-item"><div class="label">院系</div><div class="value"></div></div>
<div class="report-info-item"><div class="label">班级</div><div class="value"> </div></div>
<div class="report-info-item"><div class="label">学制</div><div class="value">2.5 年</div></div>
<div class="report-info-item"><div class="label">学籍状态</div><div class="value important">注册学籍（预计毕业日期：2025年01月01日）</div></div>
</div></body></html>"#;
        let Page::Report {
            report, unreadable, ..
        } = parse_page(html)
        else {
            panic!("{:?}", parse_page(html))
        };
        assert_eq!(report.kind, Kind::Enrollment);
        assert!(unreadable.is_empty(), "{unreadable:?}");
        let f = &report.fields;
        assert_eq!(f.school.as_deref(), Some("江西护理职业技术学院"));
        assert_eq!(
            (f.department.as_deref(), f.class_name.as_deref()),
            (None, None)
        );
        assert_eq!(f.duration.as_deref(), Some("2.5"));
        assert_eq!(
            f.enrollment_status.as_deref(),
            Some("注册学籍(预计毕业日期:2025年01月01日)")
        );
        assert_eq!(f.expected_graduation_date.as_deref(), Some("2025-01-01"));
    }
}
