//! The upgrade of `GET /ws`: authentication (`?token=` or the session cookie, the latter only
//! from the site's own `Origin`), the handshake's checks (`handshake`), admission within the
//! socket caps; refusals (401, 403, 400, 426, 429, 503) as JSON. The upgrade is done here, on
//! the raw TCP socket, so that the fan-out can write pre-encoded frames straight into it; the
//! connection itself is then served by [`super::connection`].

use super::connection::{Connection, Granted};
use super::handshake::{websocket_accept, BadUpgrade};
use crate::auth::TokenSession;
use crate::fanout::hub::Full;
use crate::services::Services;
use crate::state::AppState;
use app::error::ApiError;
use app::models::PublicUser;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use tokio::net::TcpStream;
use tracing::Instrument;

pub async fn handler(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let (user, session) = match authenticate(&state.services, &params, headers).await {
        Ok(granted) => granted,
        Err(error) => return error.into_response(),
    };
    let since = match params.get("since").map(|s| s.parse::<i64>()) {
        None => None,
        Some(Ok(id)) if id >= 0 => Some(id),
        Some(_) => return ApiError::BadRequest { message: "since must be a message id".into() }.into_response(),
    };
    let changes = match params.get("changes").map(|s| s.parse::<i64>()) {
        None => None,
        Some(Ok(seq)) if seq >= 0 => Some(seq),
        Some(_) => {
            return ApiError::BadRequest {
                message: "changes must be a change number (the rooms frame's changes)".into(),
            }
            .into_response()
        }
    };
    let accept = match websocket_accept(request.headers()) {
        Ok(accept) => accept,
        Err(bad) => return bad.into_response(),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return upgrade_required("this connection cannot be upgraded");
    };
    let services = state.services.clone();
    // Counted from here until it is closed, so the caps hold and a shutdown waits for it too.
    let admission = match services.hub().admit(user.id) {
        Ok(admission) => admission,
        Err(full) => return refuse_full(full, services.hub().is_shutting_down()),
    };
    let span = tracing::info_span!("ws", user_id = user.id);
    tokio::spawn(
        async move {
            let Some((socket, read)) = raw_socket(on_upgrade).await else { return };
            Box::pin(Connection::run(socket, read, services, Granted { user, session, since, changes, admission }))
                .await;
        }
        .instrument(span),
    );
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .expect("a valid response")
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Seconds a client refused by a socket cap is asked to wait before it tries again.
const FULL_RETRY_AFTER_SECS: u32 = 5;

/// 429 (this account has as many sockets as it may) or 503 (the server is full, or shutting
/// down), with `Retry-After`.
fn refuse_full(full: Full, shutting_down: bool) -> Response {
    let mut response = match full {
        Full::Account => refuse(StatusCode::TOO_MANY_REQUESTS, "too many open connections for this account"),
        Full::Server if shutting_down => {
            refuse(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down: try again shortly")
        }
        Full::Server => refuse(StatusCode::SERVICE_UNAVAILABLE, "the server has as many connections as it can take"),
    };
    response.headers_mut().insert(http::header::RETRY_AFTER, FULL_RETRY_AFTER_SECS.into());
    response
}

/// 426, naming the protocol to upgrade to (RFC 9110, 15.5.22).
fn upgrade_required(message: &str) -> Response {
    let mut response = refuse(StatusCode::UPGRADE_REQUIRED, message);
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    response
}

impl IntoResponse for BadUpgrade {
    fn into_response(self) -> Response {
        match self {
            BadUpgrade::Malformed(message) => refuse(StatusCode::BAD_REQUEST, message),
            BadUpgrade::Version => {
                let mut response =
                    upgrade_required("unsupported WebSocket version: `Sec-WebSocket-Version` must be 13");
                response.headers_mut().insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
                response
            }
        }
    }
}

/// The TCP socket under an upgraded HTTP connection, with what was already read from it.
async fn raw_socket(on_upgrade: hyper::upgrade::OnUpgrade) -> Option<(TcpStream, Bytes)> {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::debug!(%error, "upgrade failed");
            return None;
        }
    };
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => Some((parts.io.into_inner(), parts.read_buf)),
        Err(_) => {
            tracing::error!("upgraded connection is not a TCP socket");
            None
        }
    }
}

/// `?token=` (API clients) or the session cookie (browsers, own origin only).
async fn authenticate(
    services: &Services,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(PublicUser, TokenSession), ApiError> {
    let token = match params.get("token").filter(|t| !t.is_empty()) {
        Some(token) => token.clone(),
        None => {
            let token = app::session::token_from_headers(headers).ok_or(ApiError::Unauthenticated)?;
            if app::session::bearer_token(headers).is_none() && !same_origin(headers) {
                return Err(cross_site());
            }
            token
        }
    };
    services.session_for_token(&token).await
}

fn cross_site() -> ApiError {
    ApiError::Forbidden { message: "cross-site WebSocket refused".into() }
}

/// The `Origin` header names this very site (scheme and the `Host` the request was sent to).
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
    let (Some(origin), Some(host)) = (header(http::header::ORIGIN), header(http::header::HOST)) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_version_is_426_naming_the_protocol_and_version() {
        let response = BadUpgrade::Version.into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(response.headers()[UPGRADE], "websocket");
        assert_eq!(response.headers()[CONNECTION], "upgrade");
    }
}
