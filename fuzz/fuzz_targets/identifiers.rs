#![no_main]
//! Codes, certificate and ID numbers: whatever is accepted is well-formed.
use credverify::domain::{CertificateNo, IdNumber, VerificationCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(c) = VerificationCode::parse(&s) {
        assert!(c.expose().chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()));
    }
    if let Ok(c) = CertificateNo::parse(&s) {
        assert!(c.as_str().chars().all(|ch| ch.is_ascii_digit()));
    }
    if let Ok(id) = IdNumber::parse(&s) {
        assert_eq!(id.masked().len(), 18);
    }
});
