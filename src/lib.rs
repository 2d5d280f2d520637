//! credverify: verifies Chinese education credentials (CHSI 学信网 reports)
//! for an exam-registration platform.

pub mod domain;
pub mod ocr;
pub mod parse;
pub mod verdict;
