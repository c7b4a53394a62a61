//! `GET /metrics`, the Prometheus text format of `crate::metrics`: on the site's address for a
//! request bearing `CHATTERBOX_METRICS_TOKEN`, and without a token on a listen address of its own
//! (`CHATTERBOX_METRICS_ADDR`, [`router`]). With neither set, `/metrics` is a 404 like any unknown
//! path: nothing tells a visitor that metrics exist.

use crate::services::Services;
use crate::state::AppState;
use app::error::ApiError;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use std::sync::Arc;

/// `GET /metrics` on the site's address: 200 with the token, 401 without it (or a wrong one),
/// 404 when no token is configured.
pub async fn with_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state.services.config().operations.metrics_token.as_deref() else {
        return ApiError::NotFound.into_response();
    };
    match app::session::bearer_token(&headers) {
        Some(given) if same(given.as_bytes(), expected.as_bytes()) => text(&state.services),
        _ => ApiError::Unauthenticated.into_response(),
    }
}

/// The router of the metrics' own address: `GET /metrics`, and nothing else.
pub fn router(services: Arc<Services>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(move || async move { text(&services) }))
        .fallback(|| async { ApiError::NotFound.into_response() })
}

fn text(services: &Services) -> Response {
    ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], crate::metrics::render(services.hub().connection_count()))
        .into_response()
}

/// Equal, in a time that does not depend on where they differ.
fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abd", b"abc"));
        assert!(!super::same(b"ab", b"abc"));
    }
}
