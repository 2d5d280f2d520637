//! `credverify console`: the review desk in a browser. Server-rendered HTML
//! (every page also answers `Accept: application/json`), every asset in the
//! binary. A thin face of [`crate::admin::AdminService`]: the rules are
//! there, this module only turns forms into calls and results into pages.
//! Operators are managed from the command line only (`credverify operator`):
//! the console never creates accounts, so a stolen session cannot add one.

mod assets;
mod auth;
mod html;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::admin::{AdminError, AdminService, Decision, Role, Withdrawer, operators};
use crate::domain::{Field, ReasonCode, Status};
use crate::store::Store;

pub use auth::MAX_FAILURES;
use auth::{COOKIE, Session, Sessions};

/// Form bodies larger than this are refused before they are parsed.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// A request still unanswered after this long is answered 503: a slow
/// database or a stalled client never holds a handler for ever.
const REQUEST_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Mark the session cookie `Secure` (the console is reached over TLS,
    /// e.g. behind a reverse proxy).
    pub secure_cookies: bool,
}

#[derive(Clone)]
struct Console {
    service: AdminService,
    sessions: Arc<Sessions>,
    options: Arc<ConsoleOptions>,
}

/// The console's routes, for a server or a test.
pub fn router(store: Store, options: ConsoleOptions) -> Router {
    let state = Console {
        service: AdminService::new(store),
        sessions: Arc::new(Sessions::default()),
        options: Arc::new(options),
    };
    Router::new()
        .route(
            "/",
            get(|| async { Redirect::to("/records?status=needs_review") }),
        )
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/records", get(queue))
        .route("/records/{id}", get(record))
        .route("/records/{id}/screenshot", get(screenshot))
        .route("/records/{id}/review", post(review))
        .route("/records/{id}/revoke", post(revoke))
        .route("/records/{id}/requeue", post(requeue))
        .route("/records/{id}/withdraw", post(withdraw))
        .route(
            "/assets/console.css",
            get(|| async { asset("text/css; charset=utf-8", assets::CSS) }),
        )
        .route(
            "/assets/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", assets::JS) }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(time_limit))
        .layer(axum::middleware::from_fn(same_origin))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Serves the console on `listener` until `stop` is cancelled.
pub async fn serve(
    store: Store,
    listener: tokio::net::TcpListener,
    options: ConsoleOptions,
    stop: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "console listening");
    axum::serve(
        listener,
        router(store, options).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await })
    .await
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// A POST from a page of another site is refused whatever it carries: the
/// CSRF tokens guard every form of a session, and this also guards the
/// login form, which has no session yet. Browsers send `Origin` with every
/// POST (the Referrer-Policy is `same-origin`, not `no-referrer`, which
/// would make it `null`); tools that send none (curl, scripts) are not
/// affected.
async fn same_origin(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == axum::http::Method::POST
        && let Some(origin) = req.headers().get(header::ORIGIN)
    {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let ours = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                })
            })
            .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !ours {
            return error(
                StatusCode::FORBIDDEN,
                "a form from another site is refused",
                wants_json(req.headers()),
            );
        }
    }
    next.run(req).await
}

async fn time_limit(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIME_LIMIT, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!("console: a request ran out of time");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the request took too long; try again",
                false,
            )
        }
    }
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// An error as the client asked for it: a JSON object or a small page.
fn error(status: StatusCode, message: &str, json: bool) -> Response {
    if json {
        return (status, Json(serde_json::json!({ "error": message }))).into_response();
    }
    let body = html::page(
        "error",
        None,
        None,
        &format!(
            "<p class=\"error\">{}</p><p><a href=\"/records?status=needs_review\">back to the queue</a></p>",
            html::esc(message)
        ),
    );
    (status, axum::response::Html(body)).into_response()
}

fn admin_error(e: AdminError, json: bool) -> Response {
    let status = match &e {
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
        AdminError::Refused(_) | AdminError::Stale { .. } => StatusCode::CONFLICT,
        AdminError::Forbidden { .. } => StatusCode::FORBIDDEN,
        AdminError::Store(crate::store::StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
        AdminError::Store(err) => {
            tracing::error!(error = %crate::errors::Chain(err), "console: store error");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the database failed; try again",
                json,
            );
        }
    };
    error(status, &e.to_string(), json)
}

/// The signed-in operator, or the response that sends them to log in. The
/// operator is read again from the database on every request, so disabling
/// an operator (`credverify operator disable`) takes effect at once.
async fn signed_in(state: &Console, headers: &HeaderMap) -> Result<(String, Session), Response> {
    let json = wants_json(headers);
    let unauthenticated = || {
        if json {
            error(StatusCode::UNAUTHORIZED, "log in first: POST /login", true)
        } else {
            Redirect::to("/login").into_response()
        }
    };
    let Some(id) = auth::cookie_value(headers) else {
        return Err(unauthenticated());
    };
    let Some(mut session) = state.sessions.get(&id) else {
        return Err(unauthenticated());
    };
    match state.service.store().operator(&session.operator.name).await {
        Ok(Some(row)) if row.disabled_at.is_none() => {
            if let Some(role) = Role::parse(&row.role) {
                session.operator.role = role;
            }
            Ok((id, session))
        }
        Ok(_) => {
            state.sessions.end_for(&session.operator.name);
            Err(unauthenticated())
        }
        Err(e) => Err(admin_error(e.into(), json)),
    }
}

/// A signed-in operator reading a page, and whether the answer should be
/// JSON; extracting it answers anyone else as [`signed_in`] does.
struct Reader {
    session: Session,
    json: bool,
}

impl axum::extract::FromRequestParts<Console> for Reader {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Console,
    ) -> Result<Self, Response> {
        let (_, session) = signed_in(state, &parts.headers).await?;
        let json = wants_json(&parts.headers);
        Ok(Reader { session, json })
    }
}

/// An action on a record, posted by a signed-in operator with the session's
/// CSRF token, as every action must be: the service to act through, who
/// acts, the form, and whether the answer should be JSON.
struct Acting {
    service: AdminService,
    session: Session,
    form: ActionForm,
    json: bool,
}

impl axum::extract::FromRequest<Console> for Acting {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &Console) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let Form(form) = Form::<ActionForm>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let json = wants_json(&headers);
        let (_, session) = signed_in(state, &headers).await?;
        let csrf = form.csrf.as_deref();
        if !csrf.is_some_and(|t| auth::same(t, &session.csrf)) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or stale: reload the page and try again",
                json,
            ));
        }
        Ok(Acting {
            service: state.service.clone(),
            session,
            form,
            json,
        })
    }
}

impl Acting {
    /// After the action: the record's new status, or why it was refused.
    fn done(&self, id: i64, result: Result<Status, AdminError>) -> Response {
        match result {
            Ok(status) => done(id, status, self.form.next.as_deref(), self.json),
            Err(e) => admin_error(e, self.json),
        }
    }
}

fn session_cookie(state: &Console, id: &str, max_age: i64) -> HeaderValue {
    let secure = if state.options.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

async fn login_page(headers: HeaderMap) -> Response {
    pages::login(None, wants_json(&headers))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

async fn login(
    State(state): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let json = wants_json(&headers);
    let name = form.name.trim().to_string();
    let keys = vec![format!("name:{name}"), format!("addr:{}", peer.ip())];
    if state.sessions.limited(&keys) {
        tracing::warn!(operator = %name.escape_debug(), "console: login rate-limited");
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins: wait 15 minutes",
            json,
        );
    }
    match operators::authenticate(state.service.store(), &name, &form.password).await {
        Ok(Some(op)) => {
            state.sessions.succeeded(&keys[0]);
            let (id, session) = state.sessions.start(op);
            let cookie = session_cookie(&state, &id, 8 * 3600);
            let mut res = if json {
                Json(serde_json::json!({
                    "operator": session.operator.name,
                    "role": session.operator.role.as_str(),
                    "csrf": session.csrf,
                }))
                .into_response()
            } else {
                Redirect::to("/records?status=needs_review").into_response()
            };
            res.headers_mut().insert(header::SET_COOKIE, cookie);
            res
        }
        Ok(None) => {
            state.sessions.failed(&keys);
            if json {
                error(StatusCode::UNAUTHORIZED, "wrong name or password", true)
            } else {
                let mut res = pages::login(Some("wrong name or password"), false);
                *res.status_mut() = StatusCode::UNAUTHORIZED;
                res
            }
        }
        Err(e) => admin_error(e, json),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    State(state): State<Console>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (id, session) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !form
        .csrf
        .as_deref()
        .is_some_and(|t| auth::same(t, &session.csrf))
    {
        return error(
            StatusCode::FORBIDDEN,
            "CSRF token missing",
            wants_json(&headers),
        );
    }
    state.sessions.end(&id);
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    res
}

/// Queue filters, as query parameters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueQuery {
    pub status: Option<String>,
    pub reason: Option<String>,
    pub candidate: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub page: Option<i64>,
}

async fn queue(
    State(state): State<Console>,
    Query(q): Query<QueueQuery>,
    reader: Reader,
) -> Response {
    pages::queue(&state.service, &reader.session, q, reader.json).await
}

async fn record(
    State(state): State<Console>,
    Path(id): Path<i64>,
    Query(q): Query<QueueQuery>,
    reader: Reader,
) -> Response {
    pages::record(&state.service, &reader.session, id, q, reader.json).await
}

/// The image exactly as uploaded, with a type from its first bytes (never
/// from the upload's claim) and no chance to run as a page.
async fn screenshot(State(state): State<Console>, Path(id): Path<i64>, reader: Reader) -> Response {
    match state.service.store().screenshot(id).await {
        Ok(Some(bytes)) => {
            let kind = match bytes.as_slice() {
                [0x89, b'P', b'N', b'G', ..] => "image/png",
                [0xff, 0xd8, 0xff, ..] => "image/jpeg",
                [
                    b'R',
                    b'I',
                    b'F',
                    b'F',
                    _,
                    _,
                    _,
                    _,
                    b'W',
                    b'E',
                    b'B',
                    b'P',
                    ..,
                ] => "image/webp",
                [b'G', b'I', b'F', b'8', ..] => "image/gif",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CONTENT_DISPOSITION, "inline"),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            &format!("record {id} has no screenshot"),
            reader.json,
        ),
        Err(e) => admin_error(e.into(), reader.json),
    }
}

/// The form of every action on a record; each action reads what it needs.
#[derive(Deserialize)]
struct ActionForm {
    /// `approve` or `reject`, for a review.
    decision: Option<String>,
    /// A rejection's reason code, or a revocation's reason.
    reason: Option<String>,
    /// Comma-separated field keys, for `field_mismatch`.
    fields: Option<String>,
    note: Option<String>,
    csrf: Option<String>,
    /// Where to go afterwards (the next record of the queue).
    next: Option<String>,
}

async fn review(Path(id): Path<i64>, act: Acting) -> Response {
    let form = &act.form;
    let decision = match form.decision.as_deref() {
        Some("approve") => Decision::Approve,
        Some("reject") => {
            let Some(code) = form.reason.as_deref().and_then(ReasonCode::parse) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "a rejection needs a reason code",
                    act.json,
                );
            };
            let mut fields = Vec::new();
            for key in form
                .fields
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
            {
                match Field::from_key(key) {
                    Some(f) => fields.push(f),
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            &format!("unknown field `{key}`"),
                            act.json,
                        );
                    }
                }
            }
            Decision::Reject { code, fields }
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "decision must be approve or reject",
                act.json,
            );
        }
    };
    let note = form.note.as_deref().unwrap_or_default();
    let reviewed = act
        .service
        .review(&act.session.operator, id, &decision, note)
        .await;
    act.done(id, reviewed)
}

async fn revoke(Path(id): Path<i64>, act: Acting) -> Response {
    let reason = act.form.reason.as_deref().unwrap_or_default();
    let revoked = act
        .service
        .revoke(&act.session.operator, id, reason, act.form.note.as_deref())
        .await;
    act.done(id, revoked.map(|()| Status::Rejected))
}

async fn requeue(Path(id): Path<i64>, act: Acting) -> Response {
    // The console re-queues one record a person chose: their decision to
    // do so is the force.
    match act
        .service
        .rerun(&act.session.operator, id, true, act.form.note.as_deref())
        .await
    {
        Ok((plan, _)) if plan.skipped() => error(StatusCode::CONFLICT, plan.describe(), act.json),
        rerun => act.done(id, rerun.map(|_| Status::Unverified)),
    }
}

async fn withdraw(Path(id): Path<i64>, act: Acting) -> Response {
    let by = Withdrawer::Operator(&act.session.operator);
    let withdrawn = act
        .service
        .withdraw(by, id, None, act.form.note.as_deref())
        .await;
    act.done(id, withdrawn.map(|_| Status::Withdrawn))
}

/// After an action: JSON says the new status; a browser goes on to the next
/// record of its queue, or back to this one.
fn done(id: i64, status: Status, next: Option<&str>, json: bool) -> Response {
    if json {
        return Json(serde_json::json!({ "record": id, "status": status })).into_response();
    }
    // Only a path of this console: never an open redirect.
    let to = next
        .filter(|n| n.starts_with("/records") && !n.contains("//") && !n.contains('\\'))
        .map(str::to_string)
        .unwrap_or_else(|| format!("/records/{id}"));
    Redirect::to(&to).into_response()
}
