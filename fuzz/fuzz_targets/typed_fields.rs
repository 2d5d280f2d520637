#![no_main]
//! Typed fields as a candidate or a backend might send them.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(fields) = credverify::domain::CredentialFields::from_manual_json(text) {
            // What was accepted survives a round trip through storage.
            let stored = serde_json::to_value(&fields).unwrap();
            assert_eq!(credverify::store::fields_from_stored(&stored), fields);
        }
    }
});
