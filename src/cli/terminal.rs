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
        if !layout && crate::domain::typed::is_control(c) || crate::domain::typed::is_bidi(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Prints `text` made [`safe`] as one line on stdout (or stderr). A reader
/// that went away (`| head`) is no error: one-shot commands end by SIGPIPE
/// before they see it, and a long-running one (the sandbox) goes on rather
/// than panic as `println!` would.
pub fn print_line(to_stderr: bool, text: &str) {
    use std::io::Write;
    let line = safe(text);
    let written = if to_stderr {
        writeln!(std::io::stderr().lock(), "{line}")
    } else {
        writeln!(std::io::stdout().lock(), "{line}")
    };
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!(
            "failed printing to {}: {e}",
            if to_stderr { "stderr" } else { "stdout" }
        ),
    }
}

/// `println!` for human output that may carry outside text.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::terminal::print_line(false, &format!($($arg)*))
    };
}
pub(crate) use say;

/// `eprintln!` for human output that may carry outside text.
macro_rules! say_err {
    ($($arg:tt)*) => {
        $crate::cli::terminal::print_line(true, &format!($($arg)*))
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
