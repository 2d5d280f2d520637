//! HTML building by hand: every outside value goes through [`esc`], so a
//! name, a report value or a note can never become markup.

use std::fmt::Write;

/// Escapes text for an element body or a quoted attribute. Control and
/// bidi characters (other than newline and tab) are shown as `\u{..}`
/// escapes rather than passed to the browser, where an override would make
/// a name or a value read as something else.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if crate::domain::typed::is_control(c) || crate::domain::typed::is_bidi(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A whole page: the console's stylesheet and script are served from the
/// binary itself, so the page loads nothing from anywhere else.
pub fn page(title: &str, operator: Option<(&str, &str)>, csrf: Option<&str>, body: &str) -> String {
    let nav = match (operator, csrf) {
        (Some((name, role)), Some(token)) => format!(
            "<nav><a href=\"/records?status=needs_review\">待人工复核 queue</a> \
             <a href=\"/records\">all records</a> \
             <span class=\"who\">{} ({})</span> \
             <form method=\"post\" action=\"/logout\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">log out</button></form></nav>",
            esc(name),
            esc(role),
            esc(token)
        ),
        _ => String::new(),
    };
    format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · credverify</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\">\
         <script src=\"/assets/console.js\" defer></script></head>\
         <body><header><strong>credverify</strong> review desk {nav}</header><main>{body}</main></body></html>",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_controls_are_escaped() {
        assert_eq!(
            esc("<img src=x onerror='a'>&\"\u{1b}[31m"),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;\\u{1b}[31m"
        );
        assert_eq!(esc("张晓燕\n"), "张晓燕\n");
        // An override would show 王晓雯 as 王雯晓 in the review desk.
        assert_eq!(esc("王\u{202e}晓雯\u{2066}"), "王\\u{202e}晓雯\\u{2066}");
    }
}
