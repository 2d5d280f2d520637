//! Structure of certificate numbers (jobs/README.md, the field formats),
//! checked against the other fields on the page: a number whose embedded year or level disagrees with
//! the page was misread, and a misread number must not be emitted.

use crate::domain::codes::{CertificateNo, DegreeCertificateNo, degree_level_word};
use crate::domain::{CredentialFields, Kind};

/// Why a certificate number cannot be right for this page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Length,
    Year,
    Level,
}

fn year_of(date: Option<&str>) -> Option<i32> {
    date.and_then(|d| d.get(..4)).and_then(|y| y.parse().ok())
}

fn plausible_year(y: i32) -> bool {
    (1980..=2100).contains(&y)
}

/// Check `no` against the kind of page and the fields read so far.
pub fn certificate(
    no: &str,
    kind: Option<Kind>,
    fields: &CredentialFields,
) -> Result<(), Mismatch> {
    let kind = kind.or(match no.len() {
        16 => Some(Kind::Degree),
        17 | 18 => Some(Kind::Diploma),
        _ => None,
    });
    match kind {
        Some(Kind::Diploma) => diploma(no, fields),
        Some(Kind::Degree) => degree(no, fields),
        // A 学籍 report has no certificate number to check.
        Some(Kind::Enrollment) | None => Err(Mismatch::Length),
    }
}

fn diploma(no: &str, fields: &CredentialFields) -> Result<(), Mismatch> {
    let c = CertificateNo::parse(no).map_err(|_| Mismatch::Length)?;
    let graduation = year_of(fields.graduation_date.as_deref());
    if no.len() == 17 {
        // The short form was issued in 2001 only.
        return match graduation {
            Some(2001) => Ok(()),
            _ => Err(Mismatch::Length),
        };
    }
    let year = c.year().ok_or(Mismatch::Year)?;
    if !plausible_year(year) || graduation.is_some_and(|g| g != year) {
        return Err(Mismatch::Year);
    }
    let level = c.level().ok_or(Mismatch::Level)?;
    if fields.level.as_deref().is_some_and(|l| l != level) {
        return Err(Mismatch::Level);
    }
    Ok(())
}

fn degree(no: &str, fields: &CredentialFields) -> Result<(), Mismatch> {
    let c = DegreeCertificateNo::parse(no).map_err(|_| Mismatch::Length)?;
    if !no.chars().all(|c| c.is_ascii_digit()) {
        return Err(Mismatch::Length);
    }
    let year = c.year().ok_or(Mismatch::Year)?;
    if !plausible_year(year) || year_of(fields.degree_date.as_deref()).is_some_and(|d| d != year) {
        return Err(Mismatch::Year);
    }
    let word = c
        .level_digit()
        .and_then(degree_level_word)
        .ok_or(Mismatch::Level)?;
    if fields.degree.as_deref().is_some_and(|d| !d.contains(word)) {
        return Err(Mismatch::Level);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Field;

    fn fields(pairs: &[(Field, &str)]) -> CredentialFields {
        let mut f = CredentialFields::default();
        for (k, v) in pairs {
            f.set(*k, *v);
        }
        f
    }

    #[test]
    fn certificate_structure_must_agree_with_the_page() {
        let diploma = fields(&[
            (Field::graduation_date, "2010-07-25"),
            (Field::level, "专科"),
        ]);
        let degree = fields(&[
            (Field::degree_date, "2016-07-20"),
            (Field::degree, "理学学士学位"),
        ]);
        let d = Some(Kind::Diploma);
        let g = Some(Kind::Degree);
        type Case<'a> = (
            &'a str,
            Option<Kind>,
            &'a CredentialFields,
            Result<(), Mismatch>,
        );
        let cases: &[Case] = &[
            ("140191201006326546", d, &diploma, Ok(())),
            // Year 2016 inside, graduation 2010.
            ("140191201606326546", d, &diploma, Err(Mismatch::Year)),
            // Level 05 本科 inside, page says 专科.
            ("140191201005326546", d, &diploma, Err(Mismatch::Level)),
            // Level code 03 does not exist.
            ("140191201003326546", d, &diploma, Err(Mismatch::Level)),
            ("1401912010063265", d, &diploma, Err(Mismatch::Length)),
            ("1045942016926995", g, &degree, Ok(())),
            // Level digit 3 硕士 on a 学士 degree.
            ("1045932016926995", g, &degree, Err(Mismatch::Level)),
            ("1045942015926995", g, &degree, Err(Mismatch::Year)),
            ("1045992016926995", g, &degree, Err(Mismatch::Level)),
            ("140191201006326546", g, &degree, Err(Mismatch::Length)),
            // Kind unknown: the length decides.
            ("1045942016926995", None, &degree, Ok(())),
            ("140191201006326546", None, &diploma, Ok(())),
        ];
        for (no, kind, f, want) in cases {
            assert_eq!(certificate(no, *kind, f), *want, "{no}");
        }
    }
}
