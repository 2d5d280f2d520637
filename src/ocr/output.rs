//! How `credverify ocr` shows a result: one JSON object per line for
//! scripts, a table for people.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Map, Value, json};

use super::ScreenshotError;
use crate::domain::Field;
use crate::parse::ParsedScreenshot;

/// `{"image": PATH, "kind": ..., "layout": ..., "fields": {...},
/// "confidence": {...}}`, absent fields left out; `kind` and `layout` are
/// `null` when unknown; `confidence` has the reader's confidence (0–100)
/// in each value of `fields`, under the same key.
pub fn json_line(image: &str, parsed: &ParsedScreenshot) -> String {
    let fields: Map<String, Value> = parsed
        .fields
        .iter()
        .map(|(f, v)| (f.key().to_string(), Value::String(v.to_string())))
        .collect();
    let confidence: Map<String, Value> = parsed
        .fields
        .iter()
        .filter_map(|(f, _)| Some((f.key().to_string(), json!(parsed.confidence.get(&f)?))))
        .collect();
    json!({
        "image": image,
        "kind": parsed.kind.map(|k| k.as_str()),
        "layout": parsed.layout.map(|l| l.as_str()),
        "fields": fields,
        "confidence": confidence,
    })
    .to_string()
}

/// `{"image": PATH, "error": "image_unreadable", "detail": ...}`; engine
/// failures carry `"error": "ocr_failed"`.
pub fn json_error_line(image: &str, err: &ScreenshotError) -> String {
    let (code, detail) = match err {
        ScreenshotError::Unreadable { detail } => ("image_unreadable", detail.clone()),
        other => ("ocr_failed", other.to_string()),
    };
    json!({"image": image, "error": code, "detail": detail}).to_string()
}

/// A readable table of one result: label, key, value and the reader's
/// confidence for every field, `—` for those that could not be read.
pub fn table(image: &str, parsed: &ParsedScreenshot) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec!["字段", "key", "value", "confidence"]);
    let layout = parsed
        .layout
        .map_or("— (not a CHSI result)", |l| l.as_str());
    let kind = parsed.kind.map_or("—", |k| k.as_str());
    t.add_row(vec!["版式", "layout", layout]);
    t.add_row(vec!["类型", "kind", kind]);
    for f in Field::ALL {
        let printed = match parsed.kind {
            Some(kind) => kind.fields().contains(f) || *f == Field::vcode,
            None => true,
        };
        if printed || parsed.fields.get(*f).is_some() {
            let confidence = parsed
                .confidence
                .get(f)
                .filter(|_| parsed.fields.get(*f).is_some())
                .map_or(String::new(), u8::to_string);
            t.add_row(vec![
                f.label(),
                f.key(),
                parsed.fields.get(*f).unwrap_or("—"),
                confidence.as_str(),
            ]);
        }
    }
    format!("{image}\n{t}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Kind;
    use crate::parse::Layout;

    /// A reading of a page of `layout` and `kind`, with no field yet.
    fn read_as(layout: Layout, kind: Kind) -> ParsedScreenshot {
        ParsedScreenshot {
            layout: Some(layout),
            kind: Some(kind),
            ..Default::default()
        }
    }

    #[test]
    fn json_line_has_the_agreed_shape() {
        let mut p = read_as(Layout::Degree, Kind::Degree);
        p.fields.kind = Some(Kind::Degree);
        p.fields.set(Field::degree, "理学学士学位");
        p.confidence.insert(Field::degree, 87);
        let v: Value = serde_json::from_str(&json_line("a.png", &p)).unwrap();
        assert_eq!(
            v,
            json!({"image": "a.png", "kind": "degree", "layout": "degree",
                   "fields": {"degree": "理学学士学位"},
                   "confidence": {"degree": 87}})
        );
        let none: Value =
            serde_json::from_str(&json_line("b.png", &ParsedScreenshot::default())).unwrap();
        assert_eq!(
            none,
            json!({"image": "b.png", "kind": null, "layout": null, "fields": {}, "confidence": {}})
        );
    }

    #[test]
    fn table_marks_unread_fields() {
        let mut p = read_as(Layout::Report, Kind::Diploma);
        p.fields.set(Field::school, "郑州大学");
        p.confidence.insert(Field::school, 93);
        let t = table("x.png", &p);
        assert!(t.contains("郑州大学") && t.contains("report") && t.contains('—'));
        assert!(t.contains("93"), "{t}");
        assert!(!t.contains("awarding_unit"));
    }
}
