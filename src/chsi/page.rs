//! Reading the verification service's HTML. Parsed by label text, never by
//! position: the live pages vary in wrappers, classes, whitespace and bracket
//! width, and a field the parser cannot place is left out, not guessed.

use scraper::{ElementRef, Html, Selector};

use crate::domain::fields::normalize_value;
use crate::domain::text::normalize_text;
use crate::domain::{CredentialFields, Field, Kind};
use crate::verdict::Report;

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
    },
    Invalid,
    Expired,
    Closed,
    Captcha,
    /// Nothing we know: the site changed, or this is a maintenance or login
    /// page. Transient, and worth a loud log.
    Unrecognised(String),
}

const CAPTCHA: &[&str] = &["请输入验证码以继续当前操作"];
const INVALID: &[&str] = &["此在线验证码无效", "不合要求的在线验证码"];
// The report's own words ("在线验证报告已过期"), not any 已过期: a login page
// saying "Cookie已关闭" is no answer about a report, and a wrong answer here
// rejects a candidate.
const EXPIRED: &[&str] = &["报告已过期"];
const CLOSED: &[&str] = &["报告已关闭"];

fn selector(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

/// The label as printed, to a canonical field. Labels are normalised first
/// (no spaces, ASCII brackets, no trailing colon).
fn field_for_label(label: &str, kind: Kind) -> Option<Field> {
    Some(match label {
        "姓名" => Field::name,
        "性别" => Field::gender,
        "出生日期" => Field::birth_date,
        "入学日期" => Field::enrollment_date,
        "毕(结)业日期" | "毕业日期" => Field::graduation_date,
        "学校名称" | "院校名称" | "院校" => Field::school,
        "专业" | "专业名称" if kind == Kind::Diploma => Field::major,
        "学制" => Field::duration,
        "层次" => Field::level,
        "学历类别" => Field::category,
        "学习形式" => Field::study_mode,
        "毕(结)业" | "毕结业结论" => Field::completion,
        "证书编号" | "学历证书编号" | "学位证书编号" => Field::certificate_no,
        "校(院)长姓名" => Field::principal,
        "获学位日期" | "授予学位日期" | "学位授予日期" => Field::degree_date,
        "学位授予单位" => Field::awarding_unit,
        "所授学位" | "学位名称" => Field::degree,
        "学科/专业" | "学科专业" | "专业" if kind == Kind::Degree => Field::discipline,
        "在线验证码" => Field::vcode,
        _ => return None,
    })
}

fn text_of(el: ElementRef<'_>) -> String {
    el.text().collect::<Vec<_>>().join("")
}

/// The page's text without what `<script>` and `<style>` hold (code, not
/// words a reader sees).
fn visible_text(doc: &Html) -> String {
    let mut out = String::new();
    for node in doc.root_element().descendants() {
        let Some(text) = node.value().as_text() else {
            continue;
        };
        let in_code = node.ancestors().any(|a| {
            a.value()
                .as_element()
                .is_some_and(|e| matches!(e.name(), "script" | "style"))
        });
        if !in_code {
            out.push_str(text);
        }
    }
    out
}

fn clean_label(raw: &str) -> String {
    normalize_text(raw).trim_end_matches(':').to_string()
}

fn kind_from_title(title: &str) -> Option<Kind> {
    let t = normalize_text(title);
    if t.contains("学历证书电子注册备案表") {
        Some(Kind::Diploma)
    } else if t.contains("学位在线验证报告") {
        Some(Kind::Degree)
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
    let body_text = normalize_text(&text_of(doc.root_element()));

    if CAPTCHA.iter().any(|p| body_text.contains(p)) {
        return Page::Captcha;
    }

    let items: Vec<ElementRef<'_>> = doc.select(&selector(".report-info-item")).collect();
    let heading = doc
        .select(&selector(
            "#resultTable h4, #resultTable h3, #resultTable h2, #resultTable .report-title",
        ))
        .next()
        .map(text_of);
    let title = doc.select(&selector("title")).next().map(text_of);
    let kind = heading.as_deref().and_then(kind_from_title).or_else(|| {
        // Only trust the <title> when the page also carries report items.
        (!items.is_empty())
            .then(|| title.as_deref().and_then(kind_from_title))
            .flatten()
    });

    if let Some(kind) = kind {
        if items.is_empty() {
            return Page::Unrecognised(format!("{} report heading but no report items", kind.zh()));
        }
        return read_report(&doc, &items, kind);
    }

    // A definite answer rejects the record: it must be in words on the page,
    // not in a script's strings (a JS challenge writing 已过期 is no answer).
    let visible = normalize_text(&visible_text(&doc));
    if INVALID.iter().any(|p| visible.contains(p)) {
        return Page::Invalid;
    }
    if EXPIRED.iter().any(|p| visible.contains(p)) {
        return Page::Expired;
    }
    if CLOSED.iter().any(|p| visible.contains(p)) {
        return Page::Closed;
    }
    let title = title.map(|t| normalize_text(&t)).unwrap_or_default();
    let snippet: String = body_text.chars().take(80).collect();
    Page::Unrecognised(format!("title `{title}`, text `{snippet}`"))
}

fn read_report(doc: &Html, items: &[ElementRef<'_>], kind: Kind) -> Page {
    let label_sel = selector(".label");
    let value_sel = selector(".value");
    let mut fields = CredentialFields {
        kind: Some(kind),
        ..Default::default()
    };
    let mut unreadable = Vec::new();
    for item in items {
        let (Some(label), Some(value)) = (
            item.select(&label_sel).next(),
            item.select(&value_sel).next(),
        ) else {
            continue;
        };
        let Some(field) = field_for_label(&clean_label(&text_of(label)), kind) else {
            continue;
        };
        match normalize_value(field, &text_of(value)) {
            Some(v) => fields.set(field, v),
            None => unreadable.push(field),
        }
    }
    let vcode = fields.vcode.take().or_else(|| {
        doc.select(&selector(".yzm"))
            .next()
            .and_then(|e| normalize_value(Field::vcode, &text_of(e)))
    });
    Page::Report {
        report: Report { kind, fields },
        vcode,
        unreadable,
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
    fn reads_a_report_by_labels() {
        let Page::Report {
            report,
            vcode,
            unreadable,
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
    fn unknown_pages_are_unrecognised_not_errors() {
        for html in [
            "",
            "<html><body>系统维护中，请稍后再试</body></html>",
            "\u{0}\u{1}garbage<<<>>>",
            "<script>alert(1)</script>",
            "<script>document.write('报告已过期')</script><style>.x:after{content:'已关闭'}</style>",
            "<html><body>您的浏览器Cookie已关闭，请开启后重试</body></html>",
            "<html><body>会话已过期，请重新登录</body></html>",
        ] {
            assert!(
                matches!(parse_page(html), Page::Unrecognised(_)),
                "{html:?}"
            );
        }
    }
}
