//! The candidate's identity as the registration backend knows it.

use std::fmt;

use chrono::NaiveDate;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

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

/// A resident ID number (GB 11643-1999). The full number leaves this type
/// only through [`IdNumber::keyed_hash`] and [`IdNumber::expose_digits`] (for
/// the intake, which holds it until a worker seals it); `Debug`/`Display`
/// mask it.
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
        // Byte offsets below are character offsets only for ASCII: 18
        // characters with one multi-byte among them panicked the split
        // (found by the `identifiers` fuzz target).
        if !v.is_ascii() {
            return Err(IdNumberError::Chars);
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

    /// `****************9X`: only the last two characters, so a person can
    /// tell two numbers apart at a glance. Digits 1–4 and 15–18 (the form the
    /// service prints) together with the stored birth date (7–14) would leave
    /// only digits 5–6 to guess.
    pub fn masked(&self) -> String {
        mask_tail(&self.digits)
    }

    /// The full number, only for the intake, which keeps it in the record's
    /// pending column until a worker with the key seals the record.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }

    /// HMAC-SHA256 under a key kept outside the database: lets two
    /// submissions of one number be matched, and nobody holding only the
    /// database can test a guess against it.
    pub fn keyed_hash(&self, key: &IdKey) -> String {
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length");
        mac.update(self.digits.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The stored mask of a number, or of a masked number as a report or a
/// candidate gives it (`3702**********518X`): 16 `*` and the last two
/// characters.
pub fn mask_tail(digits: &str) -> String {
    let chars: Vec<char> = digits.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(2)..].iter().collect();
    format!("{}{tail}", "*".repeat(16))
}

/// `fields` as they may be stored: a 证件号码 in the service's mask (digits
/// 1–4 and 15–18) beside a birth date would leave only digits 5–6 to
/// guess, and no verdict compares it, so only its last two characters stay.
pub fn keep_tail_of_masked_number(fields: &mut crate::domain::CredentialFields) {
    if let Some(m) = fields.id_number_masked.as_mut() {
        *m = mask_tail(m);
    }
}

/// The key of the ID-number HMAC (`--id-hmac-key-file`,
/// `CREDVERIFY_ID_HMAC_KEY`). It lives with the workers, never in the
/// database, so a copy of the database alone cannot confirm any guess of a
/// number. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct IdKey(Vec<u8>);

/// A key shorter than this is refused: it could be guessed.
pub const ID_KEY_MIN_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdKeyError {
    #[error("the ID-number key is {0} bytes; it needs at least 16")]
    TooShort(usize),
}

impl IdKey {
    /// A key from its text form: surrounding whitespace (a file's final
    /// newline) is not part of it.
    pub fn from_text(text: &str) -> Result<Self, IdKeyError> {
        let k = text.trim().as_bytes().to_vec();
        if k.len() < ID_KEY_MIN_BYTES {
            return Err(IdKeyError::TooShort(k.len()));
        }
        Ok(Self(k))
    }

    /// A fresh random key in its text form (64 hex characters), for the demo,
    /// tests and `credverify id-key new`.
    pub fn generate_text() -> String {
        let mut k = [0u8; 32];
        rand::fill(&mut k[..]);
        hex::encode(k)
    }

    pub fn generate() -> Self {
        Self::from_text(&Self::generate_text()).expect("64 characters is long enough")
    }
}

impl fmt::Debug for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdKey(***)")
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
        // 18 characters, one of them multi-byte: refused, not a panic.
        assert_eq!(
            IdNumber::parse("103'\u{fffd}11\u{fffd}\u{fffd}\u{fffd}11\u{fffd}1\u{fffd}\u{fffd}21"),
            Err(IdNumberError::Chars)
        );
        assert_eq!(
            IdNumber::parse("11010519990418002é"),
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
    fn hash_depends_on_the_key_and_the_mask_keeps_two_characters() {
        let s = synthetic("110105", "19990418", "002");
        let id = IdNumber::parse(&s).unwrap();
        let (a, b) = (IdKey::generate(), IdKey::generate());
        assert_ne!(id.keyed_hash(&a), id.keyed_hash(&b));
        assert_eq!(id.keyed_hash(&a), id.keyed_hash(&a));
        assert_eq!(id.masked(), format!("{}{}", "*".repeat(16), &s[16..]));
        assert!(format!("{a:?}").contains("***"));
        assert_eq!(IdKey::from_text("short\n"), Err(IdKeyError::TooShort(5)));
    }
}
