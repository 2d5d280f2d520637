//! What the sandbox knows: reports by code, and the faults it should inject.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::{CredentialFields, Field, Kind};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    #[default]
    Ok,
    Expired,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryReport {
    pub vcode: String,
    #[serde(default)]
    pub state: ReportState,
    pub kind: Kind,
    /// The report's fields, canonical keys (no vcode).
    pub fields: CredentialFields,
    /// 更新日期, ISO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Which fixture screenshot shows this report, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    /// Free text for people reading the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Which markup generation the report is served in.
    #[serde(default, skip_serializing_if = "is_default")]
    pub markup: Markup,
    /// Fields the table markup draws as images instead of text: the image's
    /// file name, served under `/report/img/` from the sandbox's image
    /// directories.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drawn: BTreeMap<Field, String>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The service's markup generations (see the reference pages' README).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Markup {
    /// `div.report-info-item > div.label + div.value` (2023 on).
    #[default]
    Card,
    /// `th` → `td`, names drawn as images (the answer captured in 2022).
    Table,
}

/// One injected failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Fire at most this many times, then stop (e.g. "503 twice, then
    /// answer"). Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Chance of firing on each request (0..=1). Absent: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait before answering (combine with others; a long delay is a timeout).
    Delay { ms: u64 },
    /// Wait a uniformly random time in `min_ms..=max_ms` before answering:
    /// a service whose answers take varying time.
    DelayBetween { min_ms: u64, max_ms: u64 },
    /// Answer with this HTTP status (429, 500, 503...).
    Status { status: u16 },
    /// The anti-bot interstitial.
    Captcha,
    /// Random bytes served as HTML.
    Garbage,
    /// A maintenance notice (transient: the client backs off).
    Maintenance,
    /// A body of this many bytes.
    Huge { bytes: usize },
    /// 200 with an empty body.
    Empty,
    /// The bytes of this file, as the answer (with this HTTP status, 200 if
    /// absent): any page the live service was seen to give.
    Page {
        file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
    },
    /// The anti-bot front door: HTTP 412 (or `status`, e.g. 202 or 200) and
    /// a script that computes a cookie and reloads. Requests carrying that
    /// cookie pass (and do not use up `times`); a browser announcing
    /// automation or headlessness gets no cookie and stays at the door.
    FrontDoor {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Applied to every request, after any per-code faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global: Vec<Fault>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_code: BTreeMap<String, Vec<Fault>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    #[serde(default)]
    pub reports: Vec<RegistryReport>,
    #[serde(default)]
    pub faults: Faults,
}

impl Registry {
    pub fn load(path: &Path) -> anyhow::Result<Registry> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read registry {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("registry {} is not valid: {e}", path.display()))
    }

    /// Several registry files as one; later files win for a code.
    pub fn load_all(paths: &[impl AsRef<Path>]) -> anyhow::Result<Registry> {
        let mut out = Registry::default();
        for p in paths {
            let r = Registry::load(p.as_ref())?;
            out.reports.extend(r.reports);
            out.faults.global.extend(r.faults.global);
            out.faults.per_code.extend(r.faults.per_code);
        }
        Ok(out)
    }
}
