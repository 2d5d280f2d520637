//! The console's pages: the queue and a record. Each is built once as data
//! (what `Accept: application/json` gets) and rendered to HTML from it.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::auth::Session;
use super::html::{esc, page};
use super::{QueueQuery, admin_error, error};
use crate::admin::{AdminService, Role, review_rejections};
use crate::domain::{Field, ReasonCode, Status};
use crate::parse::ParsedScreenshot;
use crate::store::{EventView, ListFilter, RecordView};
use crate::verdict::Agreement;

const PAGE_SIZE: i64 = 50;

pub fn login(message: Option<&str>, json: bool) -> Response {
    if json {
        return Json(serde_json::json!({
            "login": "POST /login with form fields `name` and `password`"
        }))
        .into_response();
    }
    let msg = message
        .map(|m| format!("<p class=\"error\">{}</p>", esc(m)))
        .unwrap_or_default();
    Html(page(
        "log in",
        None,
        None,
        &format!(
            "<h1>Log in</h1>{msg}<form method=\"post\" action=\"/login\" class=\"action\">\
             <p><label>name <input name=\"name\" autocomplete=\"username\" required autofocus></label></p>\
             <p><label>password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
             <p><button type=\"submit\">log in</button></p></form>"
        ),
    ))
    .into_response()
}

fn day(s: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|d| Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
            .map_err(|_| format!("`{s}` is not a date as YYYY-MM-DD")),
    }
}

/// The queue's filter from query parameters; `Err` names the bad one.
fn filter(q: &QueueQuery) -> Result<ListFilter, String> {
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| format!("unknown status `{s}`"))?),
    };
    let reason = match q.reason.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(ReasonCode::parse(s).ok_or_else(|| format!("unknown reason `{s}`"))?),
    };
    let page = q.page.unwrap_or(1).max(1);
    Ok(ListFilter {
        candidate_id: q
            .candidate
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
        status,
        reason,
        since: day(q.since.as_deref())?,
        until: day(q.until.as_deref())?,
        limit: PAGE_SIZE,
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        ..Default::default()
    })
}

/// The query string that selects the same queue (for links and `next`).
fn query_string(q: &QueueQuery) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("status", &q.status),
        ("reason", &q.reason),
        ("candidate", &q.candidate),
        ("since", &q.since),
        ("until", &q.until),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            ));
        }
    }
    parts.join("&")
}

#[derive(Serialize)]
struct QueueRow {
    id: i64,
    candidate_id: String,
    candidate_name: String,
    kind: Option<String>,
    status: Status,
    reasons: Vec<ReasonCode>,
    has_screenshot: bool,
    retries_exhausted: bool,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct QueueDoc {
    page: i64,
    page_size: i64,
    counts_by_reason: BTreeMap<String, i64>,
    records: Vec<QueueRow>,
}

pub async fn queue(
    service: &AdminService,
    session: &Session,
    q: QueueQuery,
    json: bool,
) -> Response {
    let f = match filter(&q) {
        Ok(f) => f,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m, json),
    };
    let records = match service.store().list(&f).await {
        Ok(r) => r,
        Err(e) => return admin_error(e.into(), json),
    };
    let counts = match service.store().reason_counts(f.status).await {
        Ok(c) => c,
        Err(e) => return admin_error(e.into(), json),
    };
    let doc = QueueDoc {
        page: q.page.unwrap_or(1).max(1),
        page_size: PAGE_SIZE,
        counts_by_reason: counts,
        records: records
            .into_iter()
            .map(|r| QueueRow {
                id: r.id,
                candidate_id: r.candidate_id,
                candidate_name: r.candidate_name,
                kind: r.kind.map(|k| k.as_str().to_string()),
                status: r.status,
                reasons: r.reasons.iter().map(|x| x.code).collect(),
                has_screenshot: r.has_screenshot,
                retries_exhausted: r.retries_exhausted,
                updated_at: r.updated_at,
            })
            .collect(),
    };
    if json {
        return Json(doc).into_response();
    }
    let qs = query_string(&q);
    let mut body = String::from("<h1>Records</h1>");
    body.push_str("<form method=\"get\" action=\"/records\" class=\"filters\">");
    body.push_str("<label>status <select name=\"status\"><option value=\"\">any</option>");
    for s in Status::ALL {
        let sel = if f.status == Some(s) { " selected" } else { "" };
        body.push_str(&format!(
            "<option value=\"{}\"{sel}>{} {}</option>",
            s.as_str(),
            s.as_str(),
            s.zh()
        ));
    }
    body.push_str(
        "</select></label> <label>reason <select name=\"reason\"><option value=\"\">any</option>",
    );
    for c in ReasonCode::ALL {
        let sel = if f.reason == Some(*c) {
            " selected"
        } else {
            ""
        };
        body.push_str(&format!("<option{sel}>{}</option>", c.as_str()));
    }
    body.push_str(&format!(
        "</select></label> <label>candidate <input name=\"candidate\" value=\"{}\" size=\"12\"></label> \
         <label>changed since <input name=\"since\" value=\"{}\" placeholder=\"YYYY-MM-DD\" size=\"10\"></label> \
         <label>before <input name=\"until\" value=\"{}\" placeholder=\"YYYY-MM-DD\" size=\"10\"></label> \
         <button type=\"submit\">filter</button></form>",
        esc(q.candidate.as_deref().unwrap_or("")),
        esc(q.since.as_deref().unwrap_or("")),
        esc(q.until.as_deref().unwrap_or("")),
    ));
    if !doc.counts_by_reason.is_empty() {
        body.push_str("<table id=\"counts\"><tr><th>reason</th><th>records</th></tr>");
        for (code, n) in &doc.counts_by_reason {
            body.push_str(&format!(
                "<tr><td><a href=\"/records?{}&amp;reason={}\">{}</a></td><td>{n}</td></tr>",
                esc(&format!(
                    "status={}",
                    f.status.map(|s| s.as_str()).unwrap_or("")
                )),
                esc(code),
                esc(code)
            ));
        }
        body.push_str("</table>");
    }
    body.push_str(
        "<p class=\"hint\">oldest first · keys: <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> opens</p>\
         <table id=\"queue\"><tr><th>record</th><th>candidate</th><th>kind</th><th>status</th><th>reasons</th><th>screenshot</th><th>last change (UTC)</th></tr>",
    );
    for r in &doc.records {
        let href = format!(
            "/records/{}{}",
            r.id,
            if qs.is_empty() {
                String::new()
            } else {
                format!("?{qs}")
            }
        );
        body.push_str(&format!(
            "<tr data-href=\"{}\"><td><a href=\"{}\">{}</a></td><td>{} {}</td><td>{}</td><td>{} {}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&href),
            esc(&href),
            r.id,
            esc(&r.candidate_id),
            esc(&r.candidate_name),
            esc(r.kind.as_deref().unwrap_or("")),
            r.status.as_str(),
            r.status.zh(),
            if r.retries_exhausted { " (retries exhausted)" } else { "" },
            esc(&r.reasons.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")),
            if r.has_screenshot { "yes" } else { "" },
            r.updated_at.format("%Y-%m-%d %H:%M"),
        ));
    }
    body.push_str("</table>");
    if doc.records.is_empty() {
        body.push_str("<p>Nothing here.</p>");
    }
    let mut nav = Vec::new();
    let sep = if qs.is_empty() { "" } else { "&" };
    if doc.page > 1 {
        nav.push(format!(
            "<a href=\"/records?{}\">← newer page</a>",
            esc(&format!("{qs}{sep}page={}", doc.page - 1))
        ));
    }
    if doc.records.len() as i64 == PAGE_SIZE {
        nav.push(format!(
            "<a id=\"next-page\" href=\"/records?{}\">next page →</a>",
            esc(&format!("{qs}{sep}page={}", doc.page + 1))
        ));
    }
    body.push_str(&format!("<p>{}</p>", nav.join(" ")));
    render(session, "queue", &body)
}

fn render(session: &Session, title: &str, body: &str) -> Response {
    Html(page(
        title,
        Some((&session.operator.name, session.operator.role.as_str())),
        Some(&session.csrf),
        body,
    ))
    .into_response()
}

#[derive(Serialize)]
struct FieldRow {
    field: Field,
    label: &'static str,
    /// Read from the screenshot.
    read: Option<String>,
    /// Typed by the candidate.
    typed: Option<String>,
    /// The service's report.
    report: Option<String>,
    agreement: Option<Agreement>,
}

#[derive(Serialize)]
struct RecordDoc<'a> {
    record: &'a RecordView,
    layout: Option<String>,
    read_kind: Option<String>,
    fields: Vec<FieldRow>,
    events: &'a [EventView],
    reviewable: bool,
    next: Option<String>,
    /// The last answer of the service that could not be recognised, if one
    /// was kept: shown inert, as escaped text.
    service_page: Option<ServicePage>,
}

#[derive(Serialize)]
struct ServicePage {
    fetched_at: chrono::DateTime<chrono::Utc>,
    http_status: i32,
    detail: String,
    truncated: bool,
    /// The page as text (lossy UTF-8), at most `SERVICE_PAGE_CHARS`.
    text: String,
}

/// Enough of a page to see what the service answered; `credverify page`
/// gives the whole of it.
const SERVICE_PAGE_CHARS: usize = 64 * 1024;

fn mark(a: Option<Agreement>) -> &'static str {
    match a {
        Some(Agreement::Match) => "<span class=\"ok\">✓ 一致</span>",
        Some(Agreement::Slip) => "<span class=\"slip\">~ 识别误差</span>",
        Some(Agreement::Mismatch) => "<span class=\"bad\">✗ 不一致</span>",
        None => "",
    }
}

pub async fn record(
    service: &AdminService,
    session: &Session,
    id: i64,
    q: QueueQuery,
    json: bool,
) -> Response {
    let store = service.store();
    let record = match store.record(id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                &format!("record {id} does not exist"),
                json,
            );
        }
        Err(e) => return admin_error(e.into(), json),
    };
    let events = match store.events(id).await {
        Ok(e) => e,
        Err(e) => return admin_error(e.into(), json),
    };
    let reviewable = match service.reviewable(&record).await {
        Ok(r) => r,
        Err(e) => return admin_error(e, json),
    };
    // The next record of the queue this one was opened from.
    let mut queue_q = q;
    if queue_q.status.is_none() {
        queue_q.status = Some(Status::NeedsReview.as_str().into());
    }
    let qs = query_string(&queue_q);
    let next = match filter(&queue_q) {
        Ok(mut f) => {
            f.limit = 1000;
            f.offset = 0;
            store
                .list(&f)
                .await
                .ok()
                .and_then(|rs| rs.into_iter().find(|r| r.id > id))
                .map(|r| format!("/records/{}?{qs}", r.id))
        }
        Err(_) => None,
    };
    let reading: Option<ParsedScreenshot> = record
        .screenshot_reading
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let report = record.authoritative.as_ref();
    let fields: Vec<FieldRow> = Field::ALL
        .iter()
        .filter_map(|&f| {
            let read = reading
                .as_ref()
                .and_then(|r| r.fields.get(f))
                .map(String::from);
            let typed = record.claimed.get(f).map(String::from);
            let rep = report.and_then(|r| r.fields.get(f)).map(String::from);
            if read.is_none() && typed.is_none() && rep.is_none() {
                return None;
            }
            Some(FieldRow {
                field: f,
                label: f.label(),
                read,
                typed,
                report: rep,
                agreement: record
                    .field_diffs
                    .iter()
                    .find(|d| d.field == f)
                    .map(|d| d.agreement),
            })
        })
        .collect();
    let doc = RecordDoc {
        record: &record,
        layout: reading
            .as_ref()
            .and_then(|r| r.layout)
            .map(|l| l.as_str().to_string()),
        read_kind: reading
            .as_ref()
            .and_then(|r| r.kind)
            .map(|k| k.as_str().to_string()),
        fields,
        events: &events,
        reviewable,
        next,
        service_page: store
            .kept_pages(id)
            .await
            .ok()
            .and_then(|pages| pages.into_iter().next())
            .map(|p| ServicePage {
                fetched_at: p.fetched_at,
                http_status: p.http_status,
                detail: p.detail,
                truncated: p.truncated,
                text: String::from_utf8_lossy(&p.body)
                    .chars()
                    .take(SERVICE_PAGE_CHARS)
                    .collect(),
            }),
    };
    if json {
        return Json(doc).into_response();
    }
    render(
        session,
        &format!("record {id}"),
        &record_html(session, &doc, &qs),
    )
}

fn record_html(session: &Session, doc: &RecordDoc<'_>, qs: &str) -> String {
    let r = doc.record;
    let mut b = String::new();
    b.push_str(&format!(
        "<h1>Record {} · {} {}</h1><p>status <strong id=\"status\">{} {}</strong>{}</p>\
         <p>kind {} · screenshot layout {} (read as {}) · ID {}</p>",
        r.id,
        esc(&r.candidate_id),
        esc(&r.candidate_name),
        r.status.as_str(),
        r.status.zh(),
        if r.retries_exhausted {
            " · retries exhausted: waiting for a person"
        } else {
            ""
        },
        esc(r.kind.map(|k| k.zh()).unwrap_or("—")),
        esc(doc.layout.as_deref().unwrap_or("—")),
        esc(doc.read_kind.as_deref().unwrap_or("—")),
        esc(r.id_number_masked.as_deref().unwrap_or("—")),
    ));
    if let Some(next) = &doc.next {
        b.push_str(&format!(
            "<p><a id=\"next\" href=\"{}\">next in queue →</a> <span class=\"hint\">keys: <kbd>a</kbd> approve, <kbd>r</kbd> reject, <kbd>n</kbd> next</span></p>",
            esc(next)
        ));
    }
    b.push_str("<div class=\"cols\"><section>");
    if r.has_screenshot {
        b.push_str(&format!(
            "<h2>Screenshot</h2><p class=\"hint\">click to zoom</p><div class=\"shot\"><img id=\"screenshot\" alt=\"screenshot of record {}\" src=\"/records/{}/screenshot\"></div>",
            r.id, r.id
        ));
    } else {
        b.push_str("<p>No screenshot: typed entry.</p>");
    }
    b.push_str("</section><section><h2>Fields</h2>");
    b.push_str("<table id=\"fields\"><tr><th>field</th><th>read from the screenshot</th><th>typed</th><th>report (学信网)</th><th></th></tr>");
    for f in &doc.fields {
        b.push_str(&format!(
            "<tr data-field=\"{}\"><th>{}</th><td class=\"read\">{}</td><td class=\"typed\">{}</td><td class=\"report\">{}</td><td>{}</td></tr>",
            f.field.key(),
            esc(f.label),
            esc(f.read.as_deref().unwrap_or("")),
            esc(f.typed.as_deref().unwrap_or("")),
            esc(f.report.as_deref().unwrap_or("")),
            mark(f.agreement),
        ));
    }
    b.push_str("</table>");
    if !r.reasons.is_empty() {
        b.push_str("<h2>Reasons (what the candidate sees)</h2><table id=\"reasons\"><tr><th>code</th><th>message</th><th>detail</th></tr>");
        for x in &r.reasons {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                x.code.as_str(),
                esc(&x.message),
                esc(x.detail.as_deref().unwrap_or(""))
            ));
        }
        b.push_str("</table>");
    }
    b.push_str(&format!(
        "<h2>Attempts</h2><p>{} transient failure(s){}{}</p>",
        r.attempts,
        r.last_error
            .as_deref()
            .map(|e| format!("; last: {}", esc(e)))
            .unwrap_or_default(),
        r.next_attempt_at
            .map(|t| format!("; next try {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default(),
    ));
    // Shown inert: escaped text in a <pre>, never markup the browser runs.
    if let Some(p) = &doc.service_page {
        b.push_str(&format!(
            "<h2>Last unrecognised answer of the service</h2><p>{} UTC, HTTP {}: {}{}</p><pre id=\"service-page\">{}</pre>",
            p.fetched_at.format("%Y-%m-%d %H:%M:%S"),
            p.http_status,
            esc(&p.detail),
            if p.truncated { " (only the start was kept)" } else { "" },
            esc(&p.text),
        ));
    }
    b.push_str(&actions(session, doc, qs));
    b.push_str("</section></div><h2>Events</h2><table id=\"events\"><tr><th>at (UTC)</th><th>who</th><th>from → to</th><th>reasons</th><th>note (internal)</th></tr>");
    for e in doc.events {
        b.push_str(&format!(
            "<tr><td>{}</td><td class=\"actor\">{}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            esc(&e.actor),
            e.from.map(|s| s.as_str()).unwrap_or("—"),
            e.to.as_str(),
            esc(&e
                .reasons
                .iter()
                .map(|x| x.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")),
            esc(e.note.as_deref().unwrap_or("")),
        ));
    }
    b.push_str("</table>");
    b
}

fn actions(session: &Session, doc: &RecordDoc<'_>, qs: &str) -> String {
    let r = doc.record;
    let csrf = esc(&session.csrf);
    let back = format!("/records?{qs}");
    let next = esc(doc.next.as_deref().unwrap_or(&back));
    let admin = session.operator.role == Role::Admin;
    let mut b = String::from("<h2>Actions</h2>");
    let id = r.id;
    let form = |name: &str, action: &str, inputs: &str, button: &str| {
        action_form(id, name, action, &csrf, inputs, button)
    };
    // A review says its decision and goes on to the next record.
    let review = |decision: &str, inputs: &str, button: &str| {
        let inputs = format!(
            "<input type=\"hidden\" name=\"decision\" value=\"{decision}\">\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">{inputs}"
        );
        form(decision, "review", &inputs, button)
    };
    if doc.reviewable {
        b.push_str(&review(
            "approve",
            "<label>note (internal: what you checked)<textarea name=\"note\" required></textarea></label>",
            "approve 通过",
        ));
        let mut options = String::new();
        for c in review_rejections() {
            options.push_str(&format!(
                "<option value=\"{}\">{} — {}</option>",
                c.as_str(),
                c.as_str(),
                esc(c.message_zh())
            ));
        }
        b.push_str(&review(
            "reject",
            &format!(
                "<label>reason (the candidate sees its message) <select name=\"reason\">{options}</select></label>\
                 <label>fields for field_mismatch (keys, comma-separated; default: those that differ) <input name=\"fields\"></label>\
                 <label>note (internal)<textarea name=\"note\" required></textarea></label>"
            ),
            "reject 不通过",
        ));
    }
    if admin && r.status == Status::Verified {
        b.push_str(&form(
            "revoke",
            "revoke",
            "<label>reason (shown to the candidate)<input name=\"reason\" required></label>\
             <label>note (internal)<textarea name=\"note\"></textarea></label>",
            "revoke 撤销",
        ));
    }
    if admin
        && matches!(
            r.status,
            Status::Rejected | Status::NeedsReview | Status::Unverified
        )
    {
        b.push_str(&form(
            "requeue",
            "requeue",
            "<label>note (internal)<textarea name=\"note\"></textarea></label>",
            "re-queue 重新核验",
        ));
    }
    if admin && r.status == Status::Unverified {
        b.push_str(&form(
            "withdraw",
            "withdraw",
            "<label>note (internal: the candidate's request)<textarea name=\"note\" required></textarea></label>",
            "withdraw for the candidate 撤回",
        ));
    }
    b
}

/// One action's form: posts the session's CSRF token and `inputs` to
/// `/records/{id}/{action}`.
fn action_form(
    id: i64,
    name: &str,
    action: &str,
    csrf: &str,
    inputs: &str,
    button: &str,
) -> String {
    format!(
        "<form id=\"{name}\" class=\"action\" method=\"post\" action=\"/records/{id}/{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{inputs}<button type=\"submit\">{button}</button></form>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> QueueQuery {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        QueueQuery {
            status: get("status"),
            reason: get("reason"),
            candidate: get("candidate"),
            since: get("since"),
            until: get("until"),
            page: get("page").and_then(|p| p.parse().ok()),
        }
    }

    #[test]
    fn queue_filters_page_and_refuse_bad_values() {
        let f = filter(&q(&[
            ("status", "needs_review"),
            ("reason", "screenshot_mismatch"),
            ("candidate", " c-42 "),
            ("since", "2026-11-01"),
            ("page", "3"),
        ]))
        .unwrap();
        assert_eq!(f.status, Some(Status::NeedsReview));
        assert_eq!(f.reason, Some(ReasonCode::ScreenshotMismatch));
        assert_eq!(f.candidate_id.as_deref(), Some("c-42"));
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!((f.limit, f.offset), (PAGE_SIZE, 2 * PAGE_SIZE));
        assert_eq!(filter(&q(&[("page", "-4")])).unwrap().offset, 0);
        assert!(filter(&q(&[("status", "done")])).is_err());
        assert!(filter(&q(&[("reason", "x")])).is_err());
        assert!(filter(&q(&[("until", "30/11/2026")])).is_err());
    }

    #[test]
    fn queue_links_keep_the_filters_encoded() {
        let s = query_string(&q(&[("status", "needs_review"), ("candidate", "c 1&x=2")]));
        assert_eq!(s, "status=needs_review&candidate=c+1%26x%3D2");
    }
}
