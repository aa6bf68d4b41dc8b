//! The session routes, behind the admin token like the report: `GET /api/sessions`
//! (`?failed=1&limit=N&cursor=C`), `GET /api/sessions/{id}` and the page `GET /sessions/{id}`.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AppState, access, page, reason, throttled};
use crate::auth::Access;
use crate::sessions::{Detail, ListQuery, Page};
use crate::{html, waterfall};

/// The query of a page of sessions, as sent.
#[derive(Deserialize, Default)]
pub struct Params {
    failed: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl Params {
    /// The page asked for, or a one-line reason.
    pub fn query(&self) -> Result<ListQuery, String> {
        ListQuery::from_params(
            self.failed.as_deref(),
            self.limit.as_deref(),
            self.cursor.as_deref(),
        )
    }
}

/// `None` when the request may read; else the answer (401, or 429 while throttled).
fn denied(st: &AppState, req: &Request, html_page: bool) -> Option<Response> {
    let no = || {
        if html_page {
            page(StatusCode::UNAUTHORIZED, html::login_page(None))
        } else {
            reason(
                StatusCode::UNAUTHORIZED,
                "the report needs the admin token (Authorization: Bearer)",
            )
        }
    };
    match access(st, req) {
        Access::Open => None,
        Access::Denied => Some(no()),
        Access::Throttled(wait) => Some(throttled(wait, no())),
    }
}

/// `GET /api/sessions`.
pub async fn api_list(
    State(st): State<Arc<AppState>>,
    Query(p): Query<Params>,
    req: Request,
) -> Response {
    if let Some(resp) = denied(&st, &req, false) {
        return resp;
    }
    let q = match p.query() {
        Ok(q) => q,
        Err(e) => return reason(StatusCode::BAD_REQUEST, e),
    };
    match load_page(&st, q).await {
        Ok(p) => axum::Json(p).into_response(),
        Err(e) => reason(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /api/sessions/{id}`.
pub async fn api_one(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    if let Some(resp) = denied(&st, &req, false) {
        return resp;
    }
    match load_session(&st, id).await {
        Ok(Some(d)) => axum::Json(d).into_response(),
        Ok(None) => reason(StatusCode::NOT_FOUND, "no session with this id"),
        Err(e) => reason(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /sessions/{id}`: the waterfall page.
pub async fn session_page(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    if let Some(resp) = denied(&st, &req, true) {
        return resp;
    }
    let sign_out = st.config.admin_token.is_some();
    match load_session(&st, id).await {
        Ok(Some(d)) => page(StatusCode::OK, waterfall::page::session_page(&d, sign_out)),
        Ok(None) => page(StatusCode::NOT_FOUND, waterfall::page::not_found()),
        Err(e) => reason(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// A page of Recent sessions from the store.
pub async fn load_page(st: &AppState, q: ListQuery) -> Result<Page, String> {
    st.store.sessions(q).await
}

/// One session from the store.
pub async fn load_session(st: &AppState, id: String) -> Result<Option<Detail>, String> {
    st.store.session(id).await
}
