//! The process's logs on stderr: human lines or JSON objects. Human lines
//! carry names, report values, service snippets and error texts from
//! outside, so every field and message goes through
//! [`terminal::safe_line`](super::terminal::safe_line): no escape sequence
//! reaches an operator's terminal and no value forges a line. JSON lines are
//! escaped by the JSON encoder, and the bidi controls it leaves as they are
//! by [`JsonSafe`].

use std::fmt::Write as _;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

use super::terminal::safe_line;
use super::{Cli, Command, LogFormat};
use crate::domain::typed::is_bidi;

/// Installs the global subscriber for `cli`.
pub fn init(cli: &Cli) {
    // Long-running commands narrate at info; one-shot commands keep stderr
    // for warnings so their output stays readable and scriptable.
    let default = match cli.command {
        Command::Worker(_) | Command::Sandbox(_) => "info",
        _ => "warn",
    };
    let mut filter = EnvFilter::try_from_env("CREDVERIFY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| {
            EnvFilter::new(format!("{default},sqlx=warn,apalis=warn,apalis_core=warn"))
        });
    // At debug level these echo the pages and requests they handle, which
    // carry 在线验证码 and names: capped whatever the filter asks for.
    for quiet in [
        "html5ever=warn",
        "selectors=warn",
        "reqwest=info",
        "hyper=info",
        "hyper_util=info",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    // Colour codes only for a person at a terminal, never into a log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder
            .with_writer(|| JsonSafe(std::io::stderr()))
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Human => builder.fmt_fields(escaped_fields()).init(),
    }
}

/// Writes JSON log lines with bidi controls (U+202E and the like) as
/// `\uXXXX`. The JSON encoder escapes control characters but not these, and
/// an operator tailing the log would see the line reordered around them; the
/// escape is still JSON for the same text. The subscriber writes each line
/// in one call, so no character is split between calls.
pub struct JsonSafe<W>(pub W);

impl<W: std::io::Write> std::io::Write for JsonSafe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) if text.chars().any(is_bidi) => {
                let mut out = String::with_capacity(text.len() + 16);
                for c in text.chars() {
                    if is_bidi(c) {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    } else {
                        out.push(c);
                    }
                }
                self.0.write_all(out.as_bytes())?;
            }
            _ => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Fields of a human log line (events and spans), `message key=value`, each
/// value escaped.
pub fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    debug_fn(|w: &mut Writer<'_>, field, value| {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            write!(w, "{}", safe_line(&text))
        } else {
            write!(w, "{}={}", field.name(), safe_line(&text))
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the subscriber `build` makes around a sink logs for `emit`,
    /// checked to be one line without control or bidi characters.
    fn one_clean_line<S>(build: impl FnOnce(Sink) -> S, emit: impl FnOnce()) -> String
    where
        S: tracing::Subscriber + Send + Sync + 'static,
    {
        let sink = Sink::default();
        tracing::subscriber::with_default(build(sink.clone()), emit);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let line = text.trim_end_matches('\n').to_string();
        assert!(!line.contains('\n'), "one line: {text:?}");
        assert!(
            !line.chars().any(|c| c.is_control() || super::is_bidi(c)),
            "{line:?}"
        );
        line
    }

    #[test]
    fn json_log_lines_carry_no_bidi_controls_and_keep_their_values() {
        let json = |out: Sink| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || super::JsonSafe(out.clone()))
                .json()
                .flatten_event(true)
                .finish()
        };
        let hostile = "王\u{202e}晓雯\u{2066}\u{1b}[2J\nforged";
        let line = one_clean_line(json, || {
            tracing::warn!(detail = %hostile, "page said {hostile}");
        });
        assert!(
            line.contains("\\u202e") && line.contains("\\u2066"),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("still JSON");
        assert_eq!(v["detail"], hostile, "the same value once decoded");
        assert_eq!(v["message"], format!("page said {hostile}"));
    }

    #[test]
    fn human_log_lines_carry_no_control_characters() {
        let human = |out: Sink| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .fmt_fields(super::escaped_fields())
                .with_writer(move || out.clone())
                .finish()
        };
        let hostile = "王\u{1b}[2J\u{1b}]0;owned\u{7}\nforged line\u{202e}晓雯";
        let line = one_clean_line(human, || {
            let span = tracing::info_span!("job", name = %hostile);
            let _e = span.enter();
            tracing::warn!(detail = %hostile, plain = hostile, "page said {hostile}");
        });
        assert_eq!(
            line.matches("\\u{1b}[2J").count(),
            4,
            "escaped, not dropped: {line}"
        );
        assert!(
            line.contains("detail=王") && line.contains("page said 王"),
            "{line}"
        );
    }
}
