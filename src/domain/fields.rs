//! The canonical field set (jobs/schema/fields.schema.json), shared by OCR output, manual entry,
//! the report parser and `show --json`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::codes::{CertificateNo, DegreeCertificateNo, VerificationCode};
use super::{dates, text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 学历
    Diploma,
    /// 学位
    Degree,
    /// 学籍: a student's registration, not a diploma or degree.
    Enrollment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Diploma => "diploma",
            Kind::Degree => "degree",
            Kind::Enrollment => "enrollment",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Kind::Diploma => "学历",
            Kind::Degree => "学位",
            Kind::Enrollment => "学籍",
        }
    }

    /// The report title the verification service prints for this kind.
    pub fn report_title(self) -> &'static str {
        match self {
            Kind::Diploma => "教育部学历证书电子注册备案表",
            Kind::Degree => "中国高等教育学位在线验证报告",
            Kind::Enrollment => "教育部学籍在线验证报告",
        }
    }

    /// The fields a report of this kind carries, in the order it prints them.
    /// The one list of each kind's fields: the sandbox renders by it, the
    /// verdict and the output walk it.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Kind::Diploma => &[
                Field::name,
                Field::gender,
                Field::birth_date,
                Field::enrollment_date,
                Field::graduation_date,
                Field::school,
                Field::major,
                Field::duration,
                Field::level,
                Field::category,
                Field::study_mode,
                Field::completion,
                Field::certificate_no,
                Field::principal,
            ],
            Kind::Degree => &[
                Field::name,
                Field::gender,
                Field::birth_date,
                Field::degree_date,
                Field::awarding_unit,
                Field::degree,
                Field::discipline,
                Field::certificate_no,
            ],
            Kind::Enrollment => &[
                Field::name,
                Field::gender,
                Field::birth_date,
                Field::id_number_masked,
                Field::school,
                Field::level,
                Field::department,
                Field::class_name,
                Field::major,
                Field::student_no,
                Field::duration,
                Field::category,
                Field::study_mode,
                Field::enrollment_date,
                Field::enrollment_status,
                Field::expected_graduation_date,
            ],
        }
    }

    /// Fields without which a report of this kind cannot support a decision.
    pub fn essential_fields(self) -> &'static [Field] {
        match self {
            Kind::Diploma => &[
                Field::name,
                Field::certificate_no,
                Field::school,
                Field::level,
                Field::graduation_date,
            ],
            Kind::Degree => &[
                Field::name,
                Field::certificate_no,
                Field::awarding_unit,
                Field::degree,
            ],
            Kind::Enrollment => &[Field::name, Field::school, Field::enrollment_status],
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "diploma" | "学历" => Some(Kind::Diploma),
            "degree" | "学位" => Some(Kind::Degree),
            "enrollment" | "学籍" => Some(Kind::Enrollment),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a field's value is normalised and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldClass {
    /// A person's name: middle dot and width normalised.
    Name,
    /// An ISO date.
    Date,
    /// Letters and digits compared exactly.
    Code,
    /// Free CJK text: a one-character difference in a long value is an OCR slip.
    Text,
    /// A short closed vocabulary (层次, 毕业/结业, 男/女): exact after normalising.
    Term,
    /// 学制: digits (and a decimal point).
    Duration,
}

macro_rules! fields {
    ($( $variant:ident => $key:literal, $label:literal, $class:ident; )*) => {
        /// A canonical field key. Variants are spelled as the keys so the
        /// contract and the code read the same.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Field { $( $variant, )* }

        impl Field {
            pub const ALL: &'static [Field] = &[ $( Field::$variant, )* ];

            pub fn key(self) -> &'static str {
                match self { $( Field::$variant => $key, )* }
            }

            /// The label CHSI prints for it.
            pub fn label(self) -> &'static str {
                match self { $( Field::$variant => $label, )* }
            }

            pub fn class(self) -> FieldClass {
                match self { $( Field::$variant => FieldClass::$class, )* }
            }

            pub fn from_key(key: &str) -> Option<Field> {
                match key { $( $key => Some(Field::$variant), )* _ => None }
            }
        }

        /// A set of credential fields, each either read/typed or absent. Absent
        /// means "not read", never "empty".
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct CredentialFields {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub kind: Option<Kind>,
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                #[allow(non_snake_case)]
                pub $variant: Option<String>,
            )*
        }

        impl CredentialFields {
            pub fn get(&self, field: Field) -> Option<&str> {
                match field { $( Field::$variant => self.$variant.as_deref(), )* }
            }

            pub fn slot(&mut self, field: Field) -> &mut Option<String> {
                match field { $( Field::$variant => &mut self.$variant, )* }
            }
        }
    };
}

fields! {
    name => "name", "姓名", Name;
    gender => "gender", "性别", Term;
    birth_date => "birth_date", "出生日期", Date;
    enrollment_date => "enrollment_date", "入学日期", Date;
    graduation_date => "graduation_date", "毕（结）业日期", Date;
    school => "school", "学校名称", Text;
    major => "major", "专业", Text;
    duration => "duration", "学制", Duration;
    level => "level", "层次", Term;
    category => "category", "学历类别", Text;
    study_mode => "study_mode", "学习形式", Text;
    completion => "completion", "毕（结）业", Term;
    certificate_no => "certificate_no", "证书编号", Code;
    principal => "principal", "校（院）长姓名", Name;
    vcode => "vcode", "在线验证码", Code;
    id_number_masked => "id_number_masked", "证件号码", Code;
    degree_date => "degree_date", "获学位日期", Date;
    awarding_unit => "awarding_unit", "学位授予单位", Text;
    degree => "degree", "所授学位", Text;
    discipline => "discipline", "学科/专业", Text;
    // 学籍 reports (kind `enrollment`).
    department => "department", "院系", Text;
    class_name => "class_name", "班级", Text;
    student_no => "student_no", "学号", Code;
    enrollment_status => "enrollment_status", "学籍状态", Text;
    expected_graduation_date => "expected_graduation_date", "预计毕业日期", Date;
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A typed value that does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The canonical form of a value of `field`, or `None` if it cannot be one.
pub fn normalize_value(field: Field, raw: &str) -> Option<String> {
    let v = match field.class() {
        FieldClass::Name => text::normalize_name(raw),
        FieldClass::Date => dates::to_iso(raw)?,
        FieldClass::Code if field == Field::id_number_masked => text::to_half_width(raw)
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        FieldClass::Code => text::alnum_upper(raw),
        FieldClass::Text | FieldClass::Term => text::normalize_text(raw),
        FieldClass::Duration => {
            let t = text::to_half_width(raw);
            let d: String = t
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let d = d.trim_matches('.').to_string();
            if d.is_empty() || d.parse::<f32>().is_err() {
                return None;
            }
            d
        }
    };
    (!v.is_empty()).then_some(v)
}

impl CredentialFields {
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        Field::ALL
            .iter()
            .filter_map(|f| self.get(*f).map(|v| (*f, v)))
    }

    pub fn set(&mut self, field: Field, value: impl Into<String>) {
        *self.slot(field) = Some(value.into());
    }

    pub fn is_empty(&self) -> bool {
        self.kind.is_none() && self.iter().next().is_none()
    }

    /// `other`'s values win where both have one (typed over OCR).
    pub fn merged_with(&self, other: &CredentialFields) -> CredentialFields {
        let mut out = self.clone();
        if other.kind.is_some() {
            out.kind = other.kind;
        }
        for (f, v) in other.iter() {
            out.set(f, v);
        }
        out
    }

    /// Parse fields a person typed: JSON with canonical keys only, each value
    /// normalised and checked against its format. The first bad key wins the
    /// error, naming it.
    pub fn from_manual_json(json: &str) -> Result<Self, FieldError> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).map_err(|e| {
            FieldError::new(
                "(file)",
                format!("not a JSON object of canonical keys: {e}"),
            )
        })?;
        let mut fields = CredentialFields::default();
        for (key, value) in map {
            if key == "kind" {
                // A record claims a 学历 or a 学位; a 学籍 report is an answer
                // the service may give, never a record's kind.
                let s = value.as_str().unwrap_or_default();
                fields.kind = Some(
                    Kind::parse(s)
                        .filter(|k| *k != Kind::Enrollment)
                        .ok_or_else(|| {
                            FieldError::new(
                                "kind",
                                format!("must be \"diploma\" or \"degree\", got {value}"),
                            )
                        })?,
                );
                continue;
            }
            let field = Field::from_key(&key).ok_or_else(|| {
                FieldError::new(
                    key.clone(),
                    "unknown key; see jobs/README.md for the canonical keys",
                )
            })?;
            // Strings only, as jobs/schema says and credverify.submit_record
            // enforces: one set of rules for every intake.
            let raw = match &value {
                serde_json::Value::String(s) => s.clone(),
                other => {
                    let what = match other {
                        serde_json::Value::Null => "null",
                        serde_json::Value::Bool(_) => "a boolean",
                        serde_json::Value::Number(_) => "a number",
                        serde_json::Value::Array(_) => "an array",
                        _ => "an object",
                    };
                    return Err(FieldError::new(
                        key,
                        format!("must be a string, got {what}"),
                    ));
                }
            };
            if let Some(why) = super::typed::shape_error(field, &raw) {
                return Err(FieldError::new(key, why));
            }
            let v = fields.validated(field, &raw)?;
            fields.set(field, v);
        }
        Ok(fields)
    }

    /// Normalise and check one typed value.
    pub fn validated(&self, field: Field, raw: &str) -> Result<String, FieldError> {
        let bad = |m: &str| FieldError::new(field.key(), m.to_string());
        let v = normalize_value(field, raw).ok_or_else(|| match field.class() {
            FieldClass::Date => bad("not a date; use YYYY-MM-DD or 2021年06月30日"),
            FieldClass::Duration => bad("学制 must be a number of years, e.g. \"4\""),
            _ => bad("must not be empty"),
        })?;
        match field {
            Field::vcode => {
                VerificationCode::parse(&v).map_err(|e| bad(&e.to_string()))?;
            }
            Field::gender if v != "男" && v != "女" => return Err(bad("must be 男 or 女")),
            Field::completion if v != "毕业" && v != "结业" => {
                return Err(bad("must be 毕业 or 结业"));
            }
            Field::certificate_no => {
                let kind = self.kind;
                let ok = match kind {
                    Some(Kind::Diploma) => CertificateNo::parse(&v)
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Some(Kind::Degree) => DegreeCertificateNo::parse(&v)
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Some(Kind::Enrollment) => {
                        Err("a 学籍 record has no certificate number".to_string())
                    }
                    None => (CertificateNo::parse(&v).is_ok()
                        || DegreeCertificateNo::parse(&v).is_ok())
                    .then_some(())
                    .ok_or_else(|| "must be 18 digits (学历) or 16 characters (学位)".to_string()),
                };
                ok.map_err(|m| bad(&m))?;
            }
            _ => {}
        }
        Ok(v)
    }

    pub fn verification_code(&self) -> Option<VerificationCode> {
        self.vcode
            .as_deref()
            .and_then(|v| VerificationCode::parse(v).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_json_is_normalised() {
        let f = CredentialFields::from_manual_json(
            r#"{"kind":"diploma","name":"王 晓雯","graduation_date":"2021年06月30日",
               "vcode":"a7k2 m9qx 4tb8 r5wz","duration":"4 年","certificate_no":"103151 2021 05001234"}"#,
        )
        .unwrap();
        assert_eq!(f.kind, Some(Kind::Diploma));
        assert_eq!(f.name.as_deref(), Some("王晓雯"));
        assert_eq!(f.graduation_date.as_deref(), Some("2021-06-30"));
        assert_eq!(f.vcode.as_deref(), Some("A7K2M9QX4TB8R5WZ"));
        assert_eq!(f.duration.as_deref(), Some("4"));
        assert_eq!(f.certificate_no.as_deref(), Some("103151202105001234"));
    }

    #[test]
    fn manual_json_errors_name_the_field() {
        let cases = [
            (r#"{"colour":"red"}"#, "colour"),
            (r#"{"vcode":"ABC"}"#, "vcode"),
            (r#"{"graduation_date":"2021-02-30"}"#, "graduation_date"),
            (r#"{"name":"  "}"#, "name"),
            (r#"{"kind":"diplom"}"#, "kind"),
            (r#"{"kind":"enrollment"}"#, "kind"),
            (r#"{"gender":"M"}"#, "gender"),
            (
                r#"{"kind":"diploma","certificate_no":"12345"}"#,
                "certificate_no",
            ),
            (r#"{"school":["a"]}"#, "school"),
        ];
        for (json, field) in cases {
            let err = CredentialFields::from_manual_json(json).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
        }
    }

    #[test]
    fn typed_values_win_a_merge() {
        let mut ocr = CredentialFields::default();
        ocr.set(Field::vcode, "T0UV3NJREPVXMNR3");
        ocr.set(Field::school, "北京卫生职业学院");
        let mut typed = CredentialFields::default();
        typed.set(Field::vcode, "TOUV3NJREPVXMNR3");
        let m = ocr.merged_with(&typed);
        assert_eq!(m.vcode.as_deref(), Some("TOUV3NJREPVXMNR3"));
        assert_eq!(m.school.as_deref(), Some("北京卫生职业学院"));
    }

    #[test]
    fn json_round_trip_omits_absent_keys() {
        let mut f = CredentialFields {
            kind: Some(Kind::Degree),
            ..Default::default()
        };
        f.set(Field::degree, "理学学士学位");
        let s = serde_json::to_string(&f).unwrap();
        assert_eq!(s, r#"{"kind":"degree","degree":"理学学士学位"}"#);
        assert_eq!(serde_json::from_str::<CredentialFields>(&s).unwrap(), f);
    }
}
