//! Invented reports and the records that claim them, numbered: record `i`
//! is candidate `c-{i}`, named 考生{i}, claiming report `i`.

use credverify::domain::{CredentialFields, Field, Kind};
use credverify::sandbox::{RegistryReport, ReportState};
use credverify::store::NewRecord;

/// A 16-character 在线验证码 from a number, in the service's alphabet.
pub fn code(i: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut n = i * 7919 + 104_729;
    (0..16)
        .map(|k| {
            let c = ALPHABET[(n + k * 13) % ALPHABET.len()] as char;
            n /= 5;
            c
        })
        .collect()
}

pub fn report(i: usize, state: ReportState) -> RegistryReport {
    let mut fields = CredentialFields::default();
    fields.set(Field::name, format!("考生{i}"));
    fields.set(Field::gender, "女");
    fields.set(Field::graduation_date, "2022-06-30");
    fields.set(Field::school, "四川大学");
    fields.set(Field::level, "本科");
    fields.set(Field::certificate_no, format!("10610120220500{i:04}"));
    RegistryReport {
        vcode: code(i),
        state,
        kind: Kind::Diploma,
        fields,
        updated: None,
        fixture: None,
        note: None,
        markup: Default::default(),
        drawn: Default::default(),
    }
}

/// A typed record for report `i`: its code and kind, nothing else.
pub fn record(i: usize) -> NewRecord {
    let mut fields = CredentialFields {
        kind: Some(Kind::Diploma),
        ..Default::default()
    };
    fields.set(Field::vcode, code(i));
    NewRecord {
        candidate_id: format!("c-{i}"),
        name: format!("考生{i}"),
        id_number: None,
        fields,
        idempotency_key: None,
        screenshot: None,
        screenshot_ref: None,
    }
}
