//! Label/value pairs out of any markup the service has used. A label cell is
//! any element (or bare text) whose whole text is a registered label; its
//! value is the next thing beside it: `th → td` (table markup),
//! `td.title1 → td > div.cnt1` (older pages), `div.label → div.value` (card
//! markup), `dt → dd`, `span → text`. Text written `label：value` in one
//! node counts too. Nothing here knows a class name, so a new markup that
//! keeps labels beside their values needs no change; one that does not is
//! a new walker beside these.

use ego_tree::NodeRef;
use scraper::{ElementRef, Html, Node, Selector};

use super::labels;
use crate::domain::text::normalize_text;

/// What a value cell holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    /// The value is drawn: the image's `src`, as written (relative to the
    /// page).
    Image(String),
}

/// One label (canonical) and the value beside it, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub label: &'static str,
    pub value: Cell,
}

/// A label cell holds a few characters; anything longer is not one (and
/// is not worth collecting the text of).
const MAX_LABEL_CHARS: usize = 24;
const MAX_LABEL_NODES: usize = 16;

fn selector(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

/// Inside `<script>`, `<style>` and the like: code, never words on the
/// page.
fn is_code(node: NodeRef<'_, Node>) -> bool {
    node.ancestors().chain(std::iter::once(node)).any(|a| {
        a.value().as_element().is_some_and(|e| {
            matches!(
                e.name(),
                "script" | "style" | "noscript" | "template" | "textarea"
            )
        })
    })
}

/// The text a reader sees under `node` (no script or style).
pub fn text_under(node: NodeRef<'_, Node>) -> String {
    let mut out = String::new();
    for n in node.descendants() {
        if let Some(t) = n.value().as_text()
            && !is_code(n)
        {
            out.push_str(t);
        }
    }
    out
}

/// The page's visible text.
pub fn visible_text(doc: &Html) -> String {
    text_under(*doc.root_element())
}

/// The text of a small element, or `None` if it holds more than a label
/// could.
fn short_text(node: NodeRef<'_, Node>) -> Option<String> {
    let mut out = String::new();
    for (seen, n) in node.descendants().enumerate() {
        if seen > MAX_LABEL_NODES {
            return None;
        }
        if let Some(t) = n.value().as_text() {
            out.push_str(t);
            if out.chars().count() > MAX_LABEL_CHARS * 2 {
                return None;
            }
        }
    }
    Some(out)
}

/// The first sibling after `node` that holds something: an element, or
/// text that is not blank.
fn next_filled(node: NodeRef<'_, Node>) -> Option<NodeRef<'_, Node>> {
    let mut n = node.next_sibling();
    while let Some(s) = n {
        match s.value() {
            Node::Element(_) => return Some(s),
            Node::Text(t) if !t.trim().is_empty() => return Some(s),
            _ => n = s.next_sibling(),
        }
    }
    None
}

/// Whether an element inside `node` carries the same label with a value
/// beside it: then that one is the label cell. (A row whose only text is
/// its label, its value being an image or blank, is not the label cell: its
/// next sibling is the next row.)
fn inner_holder(node: NodeRef<'_, Node>, label: &str) -> bool {
    node.children().filter(|c| c.value().is_element()).any(|c| {
        short_text(c).is_some_and(|t| labels::canonical(&t) == label)
            && (next_filled(c).is_some() || inner_holder(c, label))
    })
}

/// What a value cell holds: its text, or the image it shows when it shows
/// one and no text.
fn cell(node: NodeRef<'_, Node>) -> Cell {
    let text = text_under(node);
    if normalize_text(&text).is_empty()
        && let Some(el) = ElementRef::wrap(node)
    {
        let img = if el.value().name() == "img" {
            Some(el)
        } else {
            el.select(&selector("img")).next()
        };
        if let Some(img) = img {
            return Cell::Image(
                img.value()
                    .attr("src")
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            );
        }
    }
    Cell::Text(text)
}

/// Every label/value pair on the page, in document order.
pub fn pairs(doc: &Html) -> Vec<Pair> {
    let mut out = Vec::new();
    for node in doc.root_element().descendants() {
        match node.value() {
            Node::Element(_) => {
                let Some(text) = short_text(node) else {
                    continue;
                };
                let Some(label) = labels::registered(&labels::canonical(&text)) else {
                    continue;
                };
                if is_code(node) || inner_holder(node, label) {
                    continue;
                }
                let Some(value) = next_filled(node) else {
                    continue;
                };
                // A caption after its value (在线验证码 under the code) is
                // no label for what follows it.
                let value = cell(value);
                if let Cell::Text(t) = &value
                    && labels::registered(&labels::canonical(t)).is_some()
                {
                    continue;
                }
                out.push(Pair { label, value });
            }
            Node::Text(t) => {
                let text = normalize_text(t);
                let Some((label, rest)) = labels::split_inline(&text) else {
                    continue;
                };
                if is_code(node) {
                    continue;
                }
                if !rest.is_empty() {
                    out.push(Pair {
                        label,
                        value: Cell::Text(rest.to_string()),
                    });
                } else if let Some(value) = next_filled(node) {
                    // `姓名：<b>王晓雯</b>`. (In `<span>姓名：</span>王晓雯`
                    // the text has no sibling; the span's case took it.)
                    out.push(Pair {
                        label,
                        value: cell(value),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Where each generation puts the report's title, most specific first.
const TITLE_SELECTORS: &[&str] = &[
    "div.tableTitle",
    "#resultTable h4",
    "#resultTable h3",
    "#resultTable h2",
    ".report-title",
    "h1",
    "title",
];

/// The texts that may name the report, most specific first.
pub fn titles(doc: &Html) -> Vec<String> {
    TITLE_SELECTORS
        .iter()
        .filter_map(|s| doc.select(&selector(s)).next().map(|e| text_under(*e)))
        .collect()
}

/// The code as the page prints it outside a label/value pair.
pub fn printed_code(doc: &Html) -> Option<String> {
    doc.select(&selector(".vcode-detail, .yzm"))
        .next()
        .map(|e| text_under(*e))
}
