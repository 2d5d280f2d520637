//! Text from outside (names, report values, service pages, error details)
//! on an admin's terminal: control and bidirectional-override characters
//! are shown as escapes, so a name cannot clear the screen, retitle the
//! window, plant an OSC-8 link or reverse the text around it.

use std::fmt::Write;

/// `s` with every control character but the line break and the tab, and every
/// bidirectional control, written as `\u{…}`. The one way text from outside
/// reaches a terminal: `say!`, `warn_user!`, command errors and human logs
/// all go through it.
pub fn safe(s: &str) -> String {
    escape(s, true)
}

/// [`safe`] for one log line: line breaks and tabs are escaped too, so a value
/// cannot forge a line of its own.
pub fn safe_line(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, keep_line_breaks: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let layout = keep_line_breaks && matches!(c, '\n' | '\t');
        if !layout && crate::domain::typed::is_control(c) || is_bidi(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `println!` for human output that may carry outside text.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", $crate::cli::terminal::safe(&format!($($arg)*)))
    };
}
pub(crate) use say;

/// `eprintln!` for human output that may carry outside text.
macro_rules! say_err {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::cli::terminal::safe(&format!($($arg)*)))
    };
}
pub(crate) use say_err;

#[cfg(test)]
mod tests {
    use super::{safe, safe_line};

    #[test]
    fn escapes_cannot_reach_the_terminal() {
        let hostile =
            "王\u{1b}[2J\u{1b}]0;title\u{7}\u{1b}]8;;http://x\u{1b}\\link\u{202e}gpj.exe\r晓雯";
        let shown = safe(hostile);
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{shown}"
        );
        assert!(shown.contains("\\u{1b}[2J") && shown.contains("\\u{202e}"));
        assert_eq!(safe("表格\n第二行"), "表格\n第二行");
        assert_eq!(safe_line("a\nforged line"), "a\\u{a}forged line");
    }
}
