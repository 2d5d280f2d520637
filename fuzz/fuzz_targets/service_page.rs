#![no_main]
//! Any bytes the verification service might answer: the parser must return
//! an outcome, never panic or hang.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let _ = credverify::chsi::parse_page(&html);
});
