//! The service's anti-bot front door: since 2023 it may answer a client it
//! does not trust with HTTP 412 (or 202) and a small script that computes a
//! cookie and reloads. A plain HTTP client never gets past it; a real browser
//! runs the script and then sees the report.
//!
//! The same obfuscated script also sits in the head of good 200 pages, so
//! the script alone proves nothing: a 200 is a front door only when the page
//! holds nothing but scripts and meta tags (no text, no form, no image).

use scraper::node::Node;
use scraper::{Html, Selector};

/// Whether an answer is the front door rather than a page about the code.
/// Pure: the status and the decoded body decide.
pub fn is_front_door(status: u16, body: &str) -> bool {
    match status {
        202 | 412 => true,
        200 => nothing_but_scripts(body),
        _ => false,
    }
}

/// Elements whose text no reader sees.
const HIDDEN: &[&str] = &["script", "style", "noscript", "template", "title", "head"];

/// Elements that make a page something other than a bare script, even
/// without text: a form to fill in, a picture (the captcha), a frame.
const CONTENT: &str = "form, input, img, iframe, table, canvas";

/// The live front door is ~3 KB with a dozen tags. Anything much larger is
/// some other page, and is not parsed here: a hostile body (megabytes, or
/// tags nested thousands deep) must cost no more than the page parser's own
/// guarded look.
const MAX_FRONT_DOOR_BYTES: usize = 64 * 1024;
const MAX_FRONT_DOOR_TAGS: usize = 200;

fn nothing_but_scripts(body: &str) -> bool {
    if body.len() > MAX_FRONT_DOOR_BYTES
        || !body.to_ascii_lowercase().contains("<script")
        || body.bytes().filter(|&b| b == b'<').count() > MAX_FRONT_DOOR_TAGS
    {
        return false;
    }
    let doc = Html::parse_document(body);
    let script = Selector::parse("script").expect("static selector");
    // An empty or script-less page is something else (broken, or unknown):
    // the page parser names those.
    if doc.select(&script).next().is_none() {
        return false;
    }
    let content = Selector::parse(CONTENT).expect("static selector");
    if doc.select(&content).next().is_some() {
        return false;
    }
    !doc.tree
        .root()
        .descendants()
        .any(|node| match node.value() {
            Node::Text(t) if !t.trim().is_empty() => !node
                .ancestors()
                .any(|a| matches!(a.value(), Node::Element(e) if HIDDEN.contains(&e.name()))),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRONT_DOOR: &str = include_str!("../../fixtures/front_door/front_door.html");
    const REPORT_WITH_SCRIPT: &str =
        include_str!("../../fixtures/front_door/report_diploma_table.html");

    #[test]
    fn the_front_door_sample_is_a_front_door_as_412_and_as_200() {
        assert!(is_front_door(412, FRONT_DOOR));
        assert!(is_front_door(202, FRONT_DOOR));
        assert!(is_front_door(200, FRONT_DOOR));
    }

    #[test]
    fn a_good_report_with_the_anti_bot_script_in_its_head_is_not_a_front_door() {
        assert!(
            REPORT_WITH_SCRIPT.contains("<script"),
            "the sample carries the script"
        );
        assert!(!is_front_door(200, REPORT_WITH_SCRIPT));
    }

    #[test]
    fn statuses_other_than_202_412_and_200_are_left_to_the_status_checks() {
        assert!(!is_front_door(503, FRONT_DOOR));
        assert!(!is_front_door(429, FRONT_DOOR));
        assert!(!is_front_door(403, FRONT_DOOR));
    }

    #[test]
    fn pages_with_text_forms_or_images_are_not_front_doors() {
        for page in [
            "",
            "<html><body></body></html>",
            "<html><head><script>x()</script></head><body><p>系统维护中</p></body></html>",
            "<html><head><script>x()</script></head><body><form id=getXueLi></form></body></html>",
            "<html><head><script>x()</script></head><body><img src=capachaimg.jpg></body></html>",
        ] {
            assert!(!is_front_door(200, page), "{page:?}");
        }
        let only = "<html><head><meta r=m content=x><script>y()</script></head>\
                    <body><script>z()</script><style>p{}</style></body></html>";
        assert!(is_front_door(200, only));
        let padded = format!("<script>{}</script>", "x".repeat(MAX_FRONT_DOOR_BYTES));
        assert!(
            !is_front_door(200, &padded),
            "too large to be the front door"
        );
        let nested = format!(
            "<script>y()</script>{}",
            "<div>".repeat(MAX_FRONT_DOOR_TAGS)
        );
        assert!(
            !is_front_door(200, &nested),
            "too many tags to be the front door"
        );
    }

    #[test]
    fn the_project_own_pages_are_not_front_doors() {
        for page in [
            include_str!("../../fixtures/chsi/report_diploma.html"),
            include_str!("../../fixtures/chsi/captcha.html"),
            include_str!("../../fixtures/chsi/invalid.html"),
            include_str!("../../fixtures/chsi/maintenance.html"),
        ] {
            assert!(!is_front_door(200, page));
        }
    }
}
