#![no_main]
//! Text from outside on its way to people and to the service: terminal
//! escaping, URL and snippet masking, and the operator's cookie file. Each
//! must end, and what it promises must hold for any input.
use credverify::chsi::cookie_file;
use credverify::cli::terminal;
use credverify::redact;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // Nothing that steers a terminal survives escaping.
    let shown = terminal::safe(&text);
    assert!(
        shown
            .chars()
            .all(|c| matches!(c, '\n' | '\t') || !(c.is_control() || is_bidi(c))),
        "control or bidi character left in {shown:?}"
    );

    // A log line stays one line.
    let line = terminal::safe_line(&text);
    assert!(
        !line.chars().any(|c| c.is_control() || is_bidi(c)),
        "control or bidi character left in log line {line:?}"
    );

    // A masked URL shows no password and no query.
    let masked = redact::url(&text);
    if let Ok(u) = url::Url::parse(&masked) {
        assert!(matches!(u.password(), None | Some("***")), "{masked:?}");
        assert!(matches!(u.query(), None | Some("***")), "{masked:?}");
    }

    // A snippet kept on a record holds no code-shaped run.
    let snippet = redact::snippet(&text, &["张三"]);
    for run in snippet.split(|c: char| !c.is_ascii_alphanumeric()) {
        assert!(
            run.len() < 12 || !run.chars().any(|c| c.is_ascii_digit()),
            "code-shaped run {run:?} left in a snippet"
        );
    }

    // Cookies taken from the file cannot smuggle header syntax.
    if let Ok(cookies) = cookie_file::parse(&text, "www.chsi.com.cn", 1_700_000_000) {
        for c in cookies {
            let line = c.set_cookie_line();
            assert!(!line.chars().any(|c| c.is_control()), "{c:?}");
        }
    }
});

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
