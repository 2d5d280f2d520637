//! The candidate's identity as the registration backend knows it.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::text::to_half_width;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gender {
    #[serde(rename = "男")]
    Male,
    #[serde(rename = "女")]
    Female,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "男" => Some(Gender::Male),
            "女" => Some(Gender::Female),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("ID number must be 18 characters (digits, last may be X), got {0}")]
    Length(usize),
    #[error("ID number may contain only digits and a final X")]
    Chars,
    #[error("ID number holds no valid birth date")]
    BirthDate,
    #[error("ID number check digit is wrong")]
    Checksum,
}

/// A resident ID number (GB 11643-1999). The full number never leaves this
/// type except through [`IdNumber::salted_hash`]; `Debug`/`Display` mask it.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber {
    digits: String,
    birth_date: NaiveDate,
    gender: Gender,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character GB 11643 assigns to the first 17 digits.
pub fn check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    Some(CHECK[(sum % 11) as usize])
}

impl IdNumber {
    pub fn parse(s: &str) -> Result<Self, IdNumberError> {
        let v: String = to_half_width(s)
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if v.chars().count() != 18 {
            return Err(IdNumberError::Length(v.chars().count()));
        }
        let (body, last) = v.split_at(17);
        if !body.chars().all(|c| c.is_ascii_digit())
            || !(last == "X" || last.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(IdNumberError::Chars);
        }
        let birth_date = NaiveDate::parse_from_str(&body[6..14], "%Y%m%d")
            .map_err(|_| IdNumberError::BirthDate)?;
        if check_char(body) != last.chars().next() {
            return Err(IdNumberError::Checksum);
        }
        let sex_digit = body.as_bytes()[16] - b'0';
        let gender = if sex_digit % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        };
        Ok(Self {
            digits: v,
            birth_date,
            gender,
        })
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    pub fn gender(&self) -> Gender {
        self.gender
    }

    /// `4101**********459X`: the form CHSI pages show.
    pub fn masked(&self) -> String {
        format!(
            "{}{}{}",
            &self.digits[..4],
            "*".repeat(10),
            &self.digits[14..]
        )
    }

    /// The full number, only for handing to the PostgreSQL intake function,
    /// which hashes it with the database's salt and keeps only the hash.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }

    /// Lets two submissions be matched without storing the number.
    pub fn salted_hash(&self, salt: &str) -> String {
        let mut h = Sha256::new();
        h.update(salt.as_bytes());
        h.update(b":");
        h.update(self.digits.as_bytes());
        hex::encode(h.finalize())
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Whether a masked number (`4101**********459X`) could be `id`'s.
pub fn masked_matches(masked: &str, id: &IdNumber) -> bool {
    let m: Vec<char> = to_half_width(masked)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    m.len() == 18
        && m.iter()
            .zip(id.digits.chars())
            .all(|(a, b)| *a == '*' || a.to_ascii_uppercase() == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid synthetic number for a birth date and sex digit.
    pub(crate) fn synthetic(area: &str, birth: &str, seq3: &str) -> String {
        let body = format!("{area}{birth}{seq3}");
        format!("{body}{}", check_char(&body).unwrap())
    }

    #[test]
    fn valid_number_yields_birth_date_and_gender() {
        let s = synthetic("110105", "19990418", "002");
        let id = IdNumber::parse(&s).unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1999, 4, 18).unwrap()
        );
        assert_eq!(id.gender(), Gender::Female);
        let m = IdNumber::parse(&synthetic("110105", "19990418", "013")).unwrap();
        assert_eq!(m.gender(), Gender::Male);
    }

    #[test]
    fn wrong_check_digit_is_rejected() {
        let s = synthetic("110105", "19990418", "002");
        let last = s.chars().last().unwrap();
        let wrong = if last == '1' { '2' } else { '1' };
        let bad = format!("{}{}", &s[..17], wrong);
        assert_eq!(IdNumber::parse(&bad), Err(IdNumberError::Checksum));
    }

    #[test]
    fn impossible_birth_date_is_rejected() {
        let body = "11010519990231002";
        let s = format!("{body}{}", check_char(body).unwrap());
        assert_eq!(IdNumber::parse(&s), Err(IdNumberError::BirthDate));
    }

    #[test]
    fn short_and_lettered_numbers_are_rejected() {
        assert_eq!(
            IdNumber::parse("1101051999"),
            Err(IdNumberError::Length(10))
        );
        assert_eq!(
            IdNumber::parse("11010519990418A02X"),
            Err(IdNumberError::Chars)
        );
    }

    #[test]
    fn formatting_never_shows_the_full_number() {
        let s = synthetic("110105", "19990418", "002");
        let id = IdNumber::parse(&s).unwrap();
        let shown = format!("{id} {id:?}");
        assert!(!shown.contains(&s));
        assert!(masked_matches(&id.masked(), &id));
    }

    #[test]
    fn hash_depends_on_salt() {
        let id = IdNumber::parse(&synthetic("110105", "19990418", "002")).unwrap();
        assert_ne!(id.salted_hash("a"), id.salted_hash("b"));
        assert_eq!(id.salted_hash("a"), id.salted_hash("a"));
    }
}
