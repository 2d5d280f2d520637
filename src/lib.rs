//! credverify: verifies Chinese education credentials (CHSI 学信网 reports)
//! for an exam-registration platform.

pub mod admin;
pub mod chsi;
pub mod cli;
pub mod console;
pub mod domain;
pub mod errors;
pub mod metrics;
pub mod notify;
pub mod ocr;
pub mod parse;
pub mod pipeline;
pub mod queue;
pub mod redact;
pub mod retry;
pub mod safe_open;
pub mod sandbox;
pub mod store;
pub mod uploads;
pub mod vcode_trials;
pub mod verdict;
