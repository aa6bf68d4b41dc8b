//! The HTTP routes: ingest (cagent format and OTLP logs in protobuf or JSON, see
//! `otlp::body`), the report, login and logout, health. Every answer the router makes carries
//! `X-Content-Type-Options: nosniff` (hyper's own empty 400/431 for an unparsable head does not).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::header::{
    CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

mod session_routes;

use crate::auth::Access;
use crate::limits::{BODY_SLOT_WAIT, Limits};
use crate::login::Login;
use crate::otlp::body::{Compression, Encoding, Refusal};
use crate::record::{Rejection, Row, to_row};
use crate::shed::{Shed, ShedLog};
use crate::store::{Store, now_ms};
use crate::{Config, auth, html, otlp, sessions, summary};

/// Shared by every request.
pub struct AppState {
    /// The settings the server runs with.
    pub config: Config,
    /// Where records go (SQLite or PostgreSQL: the routes do not know which).
    pub store: Store,
    /// Counts and logs what the limits shed.
    pub shed: Arc<ShedLog>,
    /// One permit per ingest body being read (`--max-concurrent-bodies`).
    pub bodies: Semaphore,
    /// Admin sessions and the failed-login throttle.
    pub login: Login,
}

impl AppState {
    /// The state of a server over an open store.
    pub fn new(config: Config, store: Store, shed: Arc<ShedLog>) -> Self {
        Self {
            bodies: Semaphore::new(config.limits.max_concurrent_bodies),
            login: Login::new(config.session_ttl),
            config,
            store,
            shed,
        }
    }

    fn limits(&self) -> &Limits {
        &self.config.limits
    }
}

/// The router over a started writer.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/events/v1/track", post(track))
        .route("/v1/logs", post(logs))
        .route("/v1/traces", post(traces))
        .route("/", get(report_page))
        .route("/api/summary", get(api_summary))
        .route("/api/sessions", get(session_routes::api_list))
        .route("/api/sessions/{id}", get(session_routes::api_one))
        .route("/sessions/{id}", get(session_routes::session_page))
        .route("/login", post(login))
        .route("/logout", get(logout).post(logout))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::map_response(nosniff))
}

/// `X-Content-Type-Options: nosniff` on every answer, errors included.
async fn nosniff(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// 404, after reading what the client sent (within the limits), so its keep-alive connection
/// stays usable: hyper closes a connection whose request body was left unread.
async fn not_found(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let resp = reason(StatusCode::NOT_FOUND, "no such path");
    finish_refusal(&st, resp, req.into_body()).await
}

/// 405, the same way.
async fn method_not_allowed(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let resp = reason(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
    finish_refusal(&st, resp, req.into_body()).await
}

/// 200 with the health report when the writer runs and the database can be written (the
/// SQLite file is the one opened; PostgreSQL answers), else 503 with the same report.
async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let _ = st.store.check().await;
    let report = st.store.health().report(st.shed.counts());
    let status = if report.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}

/// The client's address (unspecified when the router runs without the server loop).
fn peer_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// A one-line plain-text answer.
pub(crate) fn reason(status: StatusCode, text: impl std::fmt::Display) -> Response {
    let line = text.to_string().replace(['\n', '\r'], " ");
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{line}\n"),
    )
        .into_response()
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Cagent,
    Otlp,
    Traces,
}

async fn track(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    ingest(&st, &headers, body, Format::Cagent).await
}

async fn logs(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    ingest(&st, &headers, body, Format::Otlp).await
}

async fn traces(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    ingest(&st, &headers, body, Format::Traces).await
}

/// 503 with `Retry-After: 1`, closing the connection (its body is left unread).
fn shed_answer(text: impl std::fmt::Display) -> Response {
    let mut resp = reason(StatusCode::SERVICE_UNAVAILABLE, text);
    let headers = resp.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Reads a body within `--body-timeout` and `limit` bytes: 408 (connection closed) when it
/// does not arrive in time.
#[allow(clippy::result_large_err)]
async fn read_body(st: &AppState, body: Body, limit: usize) -> Result<Bytes, Response> {
    let timeout = st.limits().body_timeout;
    match tokio::time::timeout(timeout, read_limited(body, limit)).await {
        Ok(read) => read,
        Err(_) => {
            st.shed.note(Shed::BodyTimeout, "");
            let mut resp = reason(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s (--body-timeout)",
                    timeout.as_secs_f64()
                ),
            );
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            Err(resp)
        }
    }
}

async fn ingest(st: &AppState, headers: &HeaderMap, body: Body, format: Format) -> Response {
    let refused = if auth::ingest_allowed(&st.config.api_keys, headers) {
        check_headers(headers, st.config.max_body, format).err()
    } else {
        Some(reason(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key (x-api-key or Authorization: Bearer)",
        ))
    };
    if let Some(resp) = refused {
        return finish_refusal(st, resp, body).await;
    }
    let Ok(Ok(_slot)) = tokio::time::timeout(BODY_SLOT_WAIT, st.bodies.acquire()).await else {
        st.shed.note(Shed::Body, "");
        return shed_answer(format!(
            "too many bodies being read (--max-concurrent-bodies {}); retry later",
            st.limits().max_concurrent_bodies
        ));
    };
    let bytes = match read_body(st, body, st.config.max_body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    // Checked before the body was read: only a supported type and encoding get here.
    let (otlp_encoding, compression) =
        otlp::body::negotiate(headers).unwrap_or((Encoding::Json, Compression::Identity));
    let records = match format {
        Format::Cagent => match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => cagent_records(value).map_err(Refusal::Malformed),
            Err(e) => Err(Refusal::Malformed(format!("malformed JSON: {e}"))),
        },
        Format::Otlp => otlp::body::decode(&bytes, otlp_encoding, compression, st.config.max_body),
        Format::Traces => {
            let max = st.config.max_body;
            let spans = otlp::body::decode_traces(&bytes, otlp_encoding, compression, max);
            return store_spans(st, spans, otlp_encoding).await;
        }
    };
    let records = match records {
        Ok(r) => r,
        Err(Refusal::TooLarge) => return too_large(st.config.max_body),
        Err(Refusal::Malformed(e)) => return reason(StatusCode::BAD_REQUEST, e),
    };
    let now = now_ms();
    let mut rows: Vec<Row> = Vec::with_capacity(records.len());
    let mut rejected: Vec<Rejection> = Vec::new();
    for rec in records {
        match rec.and_then(|v| to_row(v, now)) {
            Ok(row) => rows.push(row),
            Err(r) => rejected.push(r),
        }
    }
    let counts = if rows.is_empty() {
        Default::default()
    } else {
        match st.store.insert(rows).await {
            Ok(c) => c,
            Err(e) => return reason(StatusCode::SERVICE_UNAVAILABLE, e),
        }
    };
    let first_reason = rejected.first().map(|r| r.0.clone()).unwrap_or_default();
    let answer = match format {
        Format::Cagent if rejected.is_empty() => json!({
            "accepted": counts.accepted, "duplicates": counts.duplicates, "rejected": 0}),
        Format::Cagent => json!({"accepted": counts.accepted, "duplicates": counts.duplicates,
            "rejected": rejected.len(), "error": first_reason}),
        Format::Otlp | Format::Traces => {
            let message = format!(
                "{} log record(s) skipped; first: {first_reason}",
                rejected.len()
            );
            return otlp::body::answer(otlp_encoding, rejected.len(), &message);
        }
    };
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// Checks and stores the spans of one request; the answer is an
/// `ExportTraceServiceResponse`, with `partialSuccess` when spans were skipped.
async fn store_spans(
    st: &AppState,
    raw: Result<Vec<otlp::traces::RawSpan>, Refusal>,
    encoding: Encoding,
) -> Response {
    let raw = match raw {
        Ok(r) => r,
        Err(Refusal::TooLarge) => return too_large(st.config.max_body),
        Err(Refusal::Malformed(e)) => return reason(StatusCode::BAD_REQUEST, e),
    };
    let now = now_ms();
    let mut spans = Vec::with_capacity(raw.len());
    let mut rejected: Vec<Rejection> = Vec::new();
    for r in raw {
        match otlp::traces::to_row(r, now) {
            Ok(s) => spans.push(s),
            Err(r) => rejected.push(r),
        }
    }
    if !spans.is_empty()
        && let Err(e) = st.store.insert_spans(spans).await
    {
        return reason(StatusCode::SERVICE_UNAVAILABLE, e);
    }
    let message = rejected.first().map_or_else(String::new, |first| {
        format!("{} span(s) skipped; first: {}", rejected.len(), first.0)
    });
    otlp::body::answer_traces(encoding, rejected.len(), &message)
}

/// Reads and discards a refused body within the limit, so the connection stays usable for
/// the client's next request; past the limit (413) the connection is closed instead.
async fn finish_refusal(st: &AppState, mut resp: Response, body: Body) -> Response {
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE
        || read_body(st, body, st.config.max_body).await.is_err()
    {
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn cagent_records(value: Value) -> Result<Vec<Result<Value, Rejection>>, String> {
    match value {
        Value::Object(mut obj) => match obj.remove("records") {
            Some(Value::Array(items)) => Ok(items.into_iter().map(Ok).collect()),
            Some(_) => Err("`records` is not an array".into()),
            None => Err("body has no `records` array".into()),
        },
        _ => Err("body is not a JSON object with a `records` array".into()),
    }
}

/// 415 for a body `format` does not take (cagent: anything but uncompressed JSON; OTLP: see
/// `otlp::body::negotiate`); 413 when the declared length is over the limit.
#[allow(clippy::result_large_err)]
fn check_headers(headers: &HeaderMap, max_body: usize, format: Format) -> Result<(), Response> {
    if format != Format::Cagent {
        otlp::body::negotiate(headers)
            .map_err(|why| reason(StatusCode::UNSUPPORTED_MEDIA_TYPE, why))?;
        return check_length(headers, max_body);
    }
    let ctype = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        let got = if mime.is_empty() { "none" } else { mime };
        return Err(reason(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json (got {got})"),
        ));
    }
    if let Some(enc) = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok())
        && !enc.eq_ignore_ascii_case("identity")
    {
        return Err(reason(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {enc} is not supported; send uncompressed JSON"),
        ));
    }
    check_length(headers, max_body)
}

/// 413 when the declared length is over the limit.
#[allow(clippy::result_large_err)]
fn check_length(headers: &HeaderMap, max_body: usize) -> Result<(), Response> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(too_large(max_body));
    }
    Ok(())
}

fn too_large(max_body: usize) -> Response {
    let mut resp = reason(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("body over the limit of {max_body} bytes"),
    );
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Reads at most `max_body` bytes; stops reading (413) as soon as the body goes over.
#[allow(clippy::result_large_err)]
async fn read_limited(body: Body, max_body: usize) -> Result<Bytes, Response> {
    match axum::body::to_bytes(body, max_body).await {
        Ok(b) => Ok(b),
        Err(e) => {
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>()
                || inner
                    .source()
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            {
                Err(too_large(max_body))
            } else {
                Err(reason(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {inner}"),
                ))
            }
        }
    }
}

#[derive(Deserialize)]
struct Window {
    days: Option<u32>,
    top: Option<usize>,
    /// Recent sessions: `failed=1`, `limit`, `cursor` (as `/api/sessions`).
    failed: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The report window (30 days unless asked, between 1 and 3650) and list length
/// ([`summary::DEFAULT_TOP`] unless asked, at most [`summary::MAX_TOP`]).
fn window(w: &Window) -> (u32, usize) {
    (
        w.days.unwrap_or(30).clamp(1, 3650),
        w.top
            .unwrap_or(summary::DEFAULT_TOP)
            .clamp(1, summary::MAX_TOP),
    )
}

async fn load_summary(
    st: &AppState,
    (days, top): (u32, usize),
) -> Result<summary::Summary, Response> {
    st.store
        .summary(days, top)
        .await
        .map_err(|e| reason(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub(crate) fn throttled(wait: Duration, resp: Response) -> Response {
    let mut resp = resp;
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        resp.headers_mut().insert(RETRY_AFTER, v);
    }
    resp
}

pub(crate) fn access(st: &AppState, req: &Request) -> Access {
    let access = auth::admin_access(
        st.config.admin_token.as_deref(),
        &st.login,
        req.headers(),
        peer_ip(req),
    );
    if let Access::Throttled(_) = access {
        st.shed.note(Shed::Login, &peer_ip(req).to_string());
    }
    access
}

async fn api_summary(
    State(st): State<Arc<AppState>>,
    Query(w): Query<Window>,
    req: Request,
) -> Response {
    let denied = || {
        reason(
            StatusCode::UNAUTHORIZED,
            "the report needs the admin token (Authorization: Bearer)",
        )
    };
    match access(&st, &req) {
        Access::Open => {}
        Access::Denied => return denied(),
        Access::Throttled(wait) => return throttled(wait, denied()),
    }
    match load_summary(&st, window(&w)).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(resp) => resp,
    }
}

async fn report_page(
    State(st): State<Arc<AppState>>,
    Query(w): Query<Window>,
    req: Request,
) -> Response {
    match access(&st, &req) {
        Access::Open => {}
        Access::Denied => return page(StatusCode::UNAUTHORIZED, html::login_page(None)),
        Access::Throttled(wait) => {
            return throttled(wait, page(StatusCode::OK, html::login_page(Some(wait))));
        }
    }
    let (days, top) = window(&w);
    let summary = match load_summary(&st, (days, top)).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    // A limit or cursor that is not one shows the first page.
    let (failed, limit) = (w.failed.as_deref(), w.limit.as_deref());
    let q = sessions::ListQuery::from_params(failed, limit, w.cursor.as_deref())
        .or_else(|_| sessions::ListQuery::from_params(failed, None, None))
        .unwrap_or_default();
    let list = match session_routes::load_page(&st, q.clone()).await {
        Ok(p) => p,
        Err(e) => return reason(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let own = format!("days={days}&top={top}");
    let section = crate::waterfall::recent::section(&list, &q, &own);
    page(
        StatusCode::OK,
        html::report_page_with(&summary, st.config.admin_token.is_some(), &section),
    )
}

/// An HTML answer that may load nothing from anywhere (all CSS and SVG are inline).
pub(crate) fn page(status: StatusCode, body: String) -> Response {
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            axum::http::header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
        ),
        (axum::http::header::REFERRER_POLICY, "no-referrer"),
        (axum::http::header::CACHE_CONTROL, "no-store"),
    ];
    (status, headers, body).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

/// The login form's body: a few hundred bytes at most.
const LOGIN_BODY_LIMIT: usize = 4096;

async fn login(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let Some(admin) = st.config.admin_token.clone() else {
        return (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    };
    let ip = peer_ip(&req);
    let https = auth::forwarded_https(req.headers());
    let body = match read_body(&st, req.into_body(), LOGIN_BODY_LIMIT).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    if let Some(wait) = st.login.blocked(ip) {
        st.shed.note(Shed::Login, &ip.to_string());
        return throttled(wait, page(StatusCode::OK, html::login_page(Some(wait))));
    }
    let token = serde_urlencoded::from_bytes::<LoginForm>(&body)
        .map(|f| f.token)
        .unwrap_or_default();
    if !auth::is_admin_token(&admin, &token) {
        st.login.failed(ip);
        return page(StatusCode::UNAUTHORIZED, html::login_page(None));
    }
    st.login.succeeded(ip);
    let id = match st.login.open() {
        Ok(id) => id,
        Err(e) => return reason(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let secure = st.config.secure_cookies || https;
    let cookie = auth::set_cookie(&id, st.login.ttl(), secure);
    let mut resp = (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    resp.headers_mut()
        .insert(axum::http::header::SET_COOKIE, cookie);
    resp
}

/// Closes the sessions the request's cookies name and clears the cookie.
async fn logout(State(st): State<Arc<AppState>>, req: Request) -> Response {
    for id in auth::session_ids(req.headers()) {
        st.login.close(id);
    }
    let secure = st.config.secure_cookies || auth::forwarded_https(req.headers());
    let mut resp = (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    resp.headers_mut()
        .insert(axum::http::header::SET_COOKIE, auth::clear_cookie(secure));
    resp
}
