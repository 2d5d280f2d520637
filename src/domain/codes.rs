//! The numbers on a CHSI report: 在线验证码, 学历证书编号, 学位证书编号.
//! Holding one of these types means the value has the right shape; nothing
//! downstream re-checks it.

use std::fmt;

use super::text::{alnum_upper, mask};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error(
        "在线验证码 must be 16 letters/digits (or 12 digits for old reports), got {0} characters"
    )]
    VerificationCodeLength(usize),
    #[error("在线验证码 may contain only letters and digits")]
    VerificationCodeChars,
    #[error("学历证书编号 must be 18 digits (17 for 2001), got {0} characters")]
    CertificateLength(usize),
    #[error("学历证书编号 must be digits only")]
    CertificateChars,
    #[error("学位证书编号 must be 16 letters/digits, got {0} characters")]
    DegreeCertificateLength(usize),
}

/// 在线验证码: 16 upper-case letters/digits, or 12 digits on old reports.
/// Validated before it is ever put into a URL; `Display` masks it for logs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VerificationCode(String);

impl VerificationCode {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let raw: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if !raw.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(CodeError::VerificationCodeChars);
        }
        let code = alnum_upper(&raw);
        let ok = code.len() == 16 || (code.len() == 12 && code.chars().all(|c| c.is_ascii_digit()));
        if !ok {
            return Err(CodeError::VerificationCodeLength(code.len()));
        }
        Ok(Self(code))
    }

    /// The full code, for the request to the service and for storage only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask(&self.0, 2)
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerificationCode({})", self.masked())
    }
}

impl fmt::Display for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// 学历证书编号: school code (5), school type (1), graduation year (4), level
/// code (2), sequence (6). Certificates of 2001 have 17 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateNo(String);

impl CertificateNo {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let v = alnum_upper(s);
        if !v.chars().all(|c| c.is_ascii_digit()) {
            return Err(CodeError::CertificateChars);
        }
        match v.len() {
            18 | 17 => Ok(Self(v)),
            n => Err(CodeError::CertificateLength(n)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The graduation year it encodes (18-digit form only).
    pub fn year(&self) -> Option<i32> {
        (self.0.len() == 18)
            .then(|| self.0[6..10].parse().ok())
            .flatten()
    }

    /// The level (层次) it encodes, in the service's words.
    pub fn level(&self) -> Option<&'static str> {
        if self.0.len() != 18 {
            return None;
        }
        match &self.0[10..12] {
            "01" => Some("博士研究生"),
            "02" => Some("硕士研究生"),
            "04" => Some("第二学士学位"),
            "05" => Some("本科"),
            "06" => Some("专科"),
            _ => None,
        }
    }
}

/// 学位证书编号: awarding unit (5), level (1), year (4), sequence (6); some
/// carry a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DegreeCertificateNo(String);

impl DegreeCertificateNo {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let v = alnum_upper(s);
        if v.len() != 16 {
            return Err(CodeError::DegreeCertificateLength(v.len()));
        }
        Ok(Self(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn year(&self) -> Option<i32> {
        self.0[6..10].parse().ok()
    }

    /// 2 博士, 3 硕士, 4 学士.
    pub fn level_digit(&self) -> Option<char> {
        self.0.chars().nth(5)
    }
}

/// Which word of a degree name (所授学位) a level digit stands for.
pub fn degree_level_word(digit: char) -> Option<&'static str> {
    match digit {
        '2' => Some("博士"),
        '3' => Some("硕士"),
        '4' => Some("学士"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_code_accepts_current_and_old_forms() {
        let c = VerificationCode::parse("a7k2 m9qx 4tb8 r5wz").unwrap();
        assert_eq!(c.expose(), "A7K2M9QX4TB8R5WZ");
        assert!(VerificationCode::parse("123456789012").is_ok());
        assert!(VerificationCode::parse("A7K2-M9QX-4TB8-R5WZ").is_ok());
    }

    #[test]
    fn verification_code_rejects_what_could_reach_a_url() {
        for bad in [
            "",
            "A7K2M9QX4TB8R5W",
            "A7K2M9QX4TB8R5WZX",
            "A7K2M9QX4TB8R5W&",
            "../../etc/passwd",
            "12345678901A",
        ] {
            assert!(VerificationCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verification_code_never_displays_in_full() {
        let c = VerificationCode::parse("A7K2M9QX4TB8R5WZ").unwrap();
        assert!(!format!("{c} {c:?}").contains("A7K2M9QX4TB8R5WZ"));
    }

    #[test]
    fn certificate_number_exposes_year_and_level() {
        let c = CertificateNo::parse("103151202105001234").unwrap();
        assert_eq!(c.year(), Some(2021));
        assert_eq!(c.level(), Some("本科"));
        assert!(CertificateNo::parse("10315120210500123").is_ok());
        assert!(CertificateNo::parse("1031512021050012").is_err());
        assert!(CertificateNo::parse("10315120210500123X").is_err());
    }

    #[test]
    fn degree_certificate_exposes_year_and_level() {
        let c = DegreeCertificateNo::parse("1076042021000387").unwrap();
        assert_eq!(c.year(), Some(2021));
        assert_eq!(c.level_digit().and_then(degree_level_word), Some("学士"));
        assert!(DegreeCertificateNo::parse("107604202100038").is_err());
    }
}
