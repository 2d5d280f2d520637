//! Fixture screenshots and their expected fields, and the scoring shared by
//! the accuracy test and the benchmark.
//!
//! A fixture is `NAME.png|jpg|jpeg|webp` beside `NAME.json`: flat canonical
//! keys, plus `layout` and a `meta` object that is not a field.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use credverify::domain::Field;
use credverify::parse::ParsedScreenshot;

pub struct Fixture {
    pub name: String,
    pub image: PathBuf,
    /// Expected values by key, `kind` and `layout` included.
    pub expected: BTreeMap<String, String>,
    /// Undegraded: rendered and saved losslessly, nothing done to it after.
    pub clean: bool,
}

impl Fixture {
    pub fn layout(&self) -> &str {
        self.expected.get("layout").map_or("none", String::as_str)
    }
}

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// Every fixture in `dir`, sorted by name. A missing directory is empty.
pub fn load(dir: &Path) -> Vec<Fixture> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Fixture> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .filter_map(|image| {
            let json = std::fs::read_to_string(image.with_extension("json")).ok()?;
            let value: serde_json::Value = serde_json::from_str(&json).ok()?;
            let obj = value.as_object()?;
            let mut expected = BTreeMap::new();
            for (k, v) in obj {
                if k == "meta" {
                    continue;
                }
                if let Some(s) = v.as_str() {
                    expected.insert(k.clone(), s.to_string());
                }
            }
            let name = image.file_stem()?.to_string_lossy().into_owned();
            let clean = is_clean(&name, obj.get("meta"));
            Some(Fixture {
                name,
                image,
                expected,
                clean,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Whether a fixture is undegraded: its `meta` says so (`"clean": true`,
/// or no degradations listed), or, without meta, its name does.
fn is_clean(name: &str, meta: Option<&serde_json::Value>) -> bool {
    if let Some(meta) = meta.and_then(|m| m.as_object()) {
        if let Some(c) = meta.get("clean").and_then(|c| c.as_bool()) {
            return c;
        }
        if let Some(d) = meta.get("degradations").and_then(|d| d.as_array()) {
            return d.is_empty();
        }
        if let Some(d) = meta.get("degraded").and_then(|d| d.as_bool()) {
            return !d;
        }
    }
    name.contains("clean")
}

/// A result as flat keys, like the fixtures' JSON.
pub fn flat(p: &ParsedScreenshot) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = p
        .fields
        .iter()
        .map(|(f, v)| (f.key().to_string(), v.to_string()))
        .collect();
    if let Some(l) = p.layout {
        m.insert("layout".into(), l.as_str().into());
    }
    if let Some(k) = p.kind {
        m.insert("kind".into(), k.as_str().into());
    }
    m
}

/// The fields a verdict compares against the authoritative report.
pub const VERDICT_FIELDS: [&str; 14] = [
    "vcode",
    "certificate_no",
    "school",
    "major",
    "level",
    "category",
    "study_mode",
    "completion",
    "enrollment_date",
    "graduation_date",
    "degree_date",
    "awarding_unit",
    "degree",
    "discipline",
];

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    pub right: usize,
    /// A value emitted that is not the expected one, or one emitted where
    /// none was expected.
    pub wrong: usize,
    pub omitted: usize,
}

impl Score {
    /// Right over expected; an omitted field counts against it.
    pub fn accuracy(&self) -> f64 {
        let n = self.right + self.wrong + self.omitted;
        if n == 0 {
            1.0
        } else {
            self.right as f64 / n as f64
        }
    }

    fn add(&mut self, o: &Score) {
        self.right += o.right;
        self.wrong += o.wrong;
        self.omitted += o.omitted;
    }
}

/// Scores by key, overall and per layout (and for clean images).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub by_key: BTreeMap<String, Score>,
    pub by_layout: BTreeMap<String, BTreeMap<String, Score>>,
    pub clean: BTreeMap<String, Score>,
    /// `(fixture, key, expected, got)` for every miss.
    pub misses: Vec<(String, String, Option<String>, Option<String>)>,
    pub images: usize,
}

fn keys() -> impl Iterator<Item = &'static str> {
    ["layout", "kind"]
        .into_iter()
        .chain(Field::ALL.iter().map(|f| f.key()))
}

impl Tally {
    pub fn add(&mut self, fx: &Fixture, got: &BTreeMap<String, String>) {
        self.images += 1;
        for key in keys() {
            let want = fx.expected.get(key);
            let have = got.get(key);
            let s = match (want, have) {
                (None, None) => continue,
                (Some(w), Some(h)) if w == h => Score {
                    right: 1,
                    ..Score::default()
                },
                (Some(_), None) => Score {
                    omitted: 1,
                    ..Score::default()
                },
                _ => Score {
                    wrong: 1,
                    ..Score::default()
                },
            };
            if s.right == 0 {
                self.misses.push((
                    fx.name.clone(),
                    key.to_string(),
                    want.cloned(),
                    have.cloned(),
                ));
            }
            self.by_key.entry(key.to_string()).or_default().add(&s);
            self.by_layout
                .entry(fx.layout().to_string())
                .or_default()
                .entry(key.to_string())
                .or_default()
                .add(&s);
            if fx.clean {
                self.clean.entry(key.to_string()).or_default().add(&s);
            }
        }
    }

    pub fn key(&self, key: &str) -> Score {
        self.by_key.get(key).copied().unwrap_or_default()
    }

    pub fn clean_key(&self, key: &str) -> Score {
        self.clean.get(key).copied().unwrap_or_default()
    }

    /// Summed over `keys` (all keys when `None`).
    pub fn total(&self, keys: Option<&[&str]>) -> Score {
        let mut t = Score::default();
        for (k, s) in &self.by_key {
            if keys.is_none_or(|ks| ks.contains(&k.as_str())) {
                t.add(s);
            }
        }
        t
    }

    /// A markdown table: accuracy and wrong values per key, per layout.
    pub fn render(&self) -> String {
        let layouts: Vec<&String> = self.by_layout.keys().collect();
        let mut out = String::new();
        let _ = write!(out, "| field | accuracy | wrong | omitted |");
        for l in &layouts {
            let _ = write!(out, " {l} |");
        }
        out.push('\n');
        out.push_str("|---|---|---|---|");
        for _ in &layouts {
            out.push_str("---|");
        }
        out.push('\n');
        for key in keys() {
            let Some(s) = self.by_key.get(key) else {
                continue;
            };
            let _ = write!(
                out,
                "| {key} | {:.1}% ({}/{}) | {} | {} |",
                s.accuracy() * 100.0,
                s.right,
                s.right + s.wrong + s.omitted,
                s.wrong,
                s.omitted
            );
            for l in &layouts {
                match self.by_layout[*l].get(key) {
                    Some(s) => {
                        let _ = write!(out, " {:.0}% |", s.accuracy() * 100.0);
                    }
                    None => out.push_str(" – |"),
                }
            }
            out.push('\n');
        }
        let all = self.total(None);
        let verdict = self.total(Some(&VERDICT_FIELDS));
        let _ = writeln!(
            out,
            "\noverall {:.2}% ({} wrong, {} omitted of {}); verdict fields {:.2}% ({} wrong, {} omitted); {} images",
            all.accuracy() * 100.0,
            all.wrong,
            all.omitted,
            all.right + all.wrong + all.omitted,
            verdict.accuracy() * 100.0,
            verdict.wrong,
            verdict.omitted,
            self.images
        );
        out
    }

    /// Misses, one per line, with codes and ID numbers masked.
    pub fn render_misses(&self) -> String {
        let mut out = String::new();
        for (name, key, want, got) in &self.misses {
            let show = |v: &Option<String>| match v {
                None => "—".to_string(),
                Some(v) if key == "vcode" => credverify::domain::text::mask(v, 2),
                Some(v) => v.clone(),
            };
            let _ = writeln!(
                out,
                "  {name}: {key}: want {} got {}",
                show(want),
                show(got)
            );
        }
        out
    }
}

/// How far the reader got with each image's 在线验证码: read and confirmed
/// (right or wrong), or left to the service among the candidates it may try
/// (within the lookups a record may spend, or further down the list), or
/// not found at all. Only images that show a code count.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CodeReach {
    pub shown: usize,
    pub confirmed: usize,
    pub confirmed_wrong: usize,
    /// Unconfirmed, and the right code is among the first `tried` guesses.
    pub found_by_trying: usize,
    /// Unconfirmed, the right code is on the list but further down.
    pub listed_later: usize,
    /// Neither: the record goes to a person (`vcode_uncertain`).
    pub to_review: usize,
}

impl CodeReach {
    /// Confirmed right, or found within the lookups a record may spend.
    pub fn reached(&self) -> usize {
        self.confirmed + self.found_by_trying
    }

    pub fn add(&mut self, fx: &Fixture, p: &ParsedScreenshot, tried: usize) {
        let Some(want) = fx.expected.get("vcode") else {
            return;
        };
        self.shown += 1;
        match p.fields.vcode.as_deref() {
            Some(v) if v == want => self.confirmed += 1,
            Some(_) => self.confirmed_wrong += 1,
            None => match p.vcode_candidates.iter().position(|c| c == want) {
                Some(i) if i < tried => self.found_by_trying += 1,
                Some(_) => self.listed_later += 1,
                None => self.to_review += 1,
            },
        }
    }

    pub fn render(&self) -> String {
        format!(
            "在线验证码 on {} images: {} read and confirmed ({} wrong), {} found by trying candidates, {} listed beyond the lookups tried, {} sent to review; reached {:.1}%",
            self.shown,
            self.confirmed,
            self.confirmed_wrong,
            self.found_by_trying,
            self.listed_later,
            self.to_review,
            if self.shown == 0 {
                100.0
            } else {
                self.reached() as f64 * 100.0 / self.shown as f64
            }
        )
    }
}
