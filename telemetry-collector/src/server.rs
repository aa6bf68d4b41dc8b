//! The HTTP routes: ingest (cagent format and OTLP/JSON), the report, login, health.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header::{
    CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::record::{Rejection, Row, to_row};
use crate::store::{Writer, now_ms};
use crate::{Config, auth, html, otlp, summary};

/// Shared by every request.
pub struct AppState {
    /// The settings the server runs with.
    pub config: Config,
    /// The single writer.
    pub writer: Writer,
}

/// The router over a started writer.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/events/v1/track", post(track))
        .route("/v1/logs", post(logs))
        .route("/", get(report_page))
        .route("/api/summary", get(api_summary))
        .route("/login", post(login))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state)
}

/// A one-line plain-text answer.
fn reason(status: StatusCode, text: impl std::fmt::Display) -> Response {
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
}

async fn track(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    ingest(&st, &headers, body, Format::Cagent).await
}

async fn logs(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    ingest(&st, &headers, body, Format::Otlp).await
}

async fn ingest(st: &AppState, headers: &HeaderMap, body: Body, format: Format) -> Response {
    let refused = if auth::ingest_allowed(&st.config.api_keys, headers) {
        check_headers(headers, st.config.max_body).err()
    } else {
        Some(reason(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key (x-api-key or Authorization: Bearer)",
        ))
    };
    if let Some(resp) = refused {
        return finish_refusal(resp, body, st.config.max_body).await;
    }
    let bytes = match read_limited(body, st.config.max_body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return reason(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
    };
    let records = match format {
        Format::Cagent => cagent_records(value),
        Format::Otlp => otlp::records(&value),
    };
    let records = match records {
        Ok(r) => r,
        Err(e) => return reason(StatusCode::BAD_REQUEST, e),
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
        match st.writer.insert(rows).await {
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
        Format::Otlp if rejected.is_empty() => json!({}),
        Format::Otlp => json!({"partialSuccess": {
            "rejectedLogRecords": rejected.len().to_string(),
            "errorMessage": format!("{} log record(s) skipped; first: {first_reason}", rejected.len())}}),
    };
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// Reads and discards a refused body within the limit, so the connection stays usable for
/// the client's next request; past the limit (413) the connection is closed instead.
async fn finish_refusal(mut resp: Response, body: Body, max_body: usize) -> Response {
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE || read_limited(body, max_body).await.is_err()
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

/// 415 for anything but uncompressed JSON; 413 when the declared length is over the limit.
#[allow(clippy::result_large_err)]
fn check_headers(headers: &HeaderMap, max_body: usize) -> Result<(), Response> {
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
}

/// The report window: 30 days unless asked, between 1 and 3650.
fn window(w: &Window) -> u32 {
    w.days.unwrap_or(30).clamp(1, 3650)
}

async fn load_summary(st: &AppState, days: u32) -> Result<summary::Summary, Response> {
    let path = st.writer.path().to_owned();
    let result = tokio::task::spawn_blocking(move || summary::summarize_file(&path, days)).await;
    match result {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(reason(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(e) => Err(reason(StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

async fn api_summary(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(w): Query<Window>,
) -> Response {
    if !auth::admin_allowed(st.config.admin_token.as_deref(), &headers) {
        return reason(
            StatusCode::UNAUTHORIZED,
            "the report needs the admin token (Authorization: Bearer)",
        );
    }
    match load_summary(&st, window(&w)).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(resp) => resp,
    }
}

async fn report_page(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(w): Query<Window>,
) -> Response {
    if !auth::admin_allowed(st.config.admin_token.as_deref(), &headers) {
        return page(StatusCode::UNAUTHORIZED, html::login_page(false));
    }
    match load_summary(&st, window(&w)).await {
        Ok(s) => page(StatusCode::OK, html::report_page(&s)),
        Err(resp) => resp,
    }
}

/// An HTML answer that may load nothing from anywhere (all CSS and SVG are inline).
fn page(status: StatusCode, body: String) -> Response {
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            axum::http::header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
        ),
        (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (axum::http::header::REFERRER_POLICY, "no-referrer"),
        (axum::http::header::CACHE_CONTROL, "no-store"),
    ];
    (status, headers, body).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(st): State<Arc<AppState>>, form: axum::Form<LoginForm>) -> Response {
    let Some(admin) = st.config.admin_token.as_deref() else {
        return (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    };
    if !auth::is_admin_token(admin, &form.token) {
        return page(StatusCode::UNAUTHORIZED, html::login_page(true));
    }
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000",
        auth::COOKIE_NAME,
        auth::session_value(admin)
    );
    let mut resp = (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}
