//! `GET /healthz` (liveness) and `GET /readyz` (readiness), for load balancers and
//! orchestrators. Neither needs a token, and neither says more than which check failed: no
//! versions, no settings.

use super::openapi::ErrorBody;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

/// `GET /healthz`: 200 `{"status": "ok"}` while the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The process serves: `{\"status\": \"ok\"}`", content_type = "application/json")
    )
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 `{"status": "ready", "checks": {...}}` when every check passes, else 503
/// with `"error"` naming the failed checks. Checks: `database` (answers), `migrations` (all of
/// this build's applied), `site` (the files pages name are present), `bus` (on a cluster only:
/// connected to Redis), `serving` (not shutting down).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Every check passes: `{\"status\": \"ready\", \"checks\": {...}}`", content_type = "application/json"),
        (status = 503, description = "A check failed: `error` names it", body = ErrorBody)
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut checks = state.services.readiness().await;
    checks.insert(2, ("site", super::assets::check_site_files(&state.leptos_options)));
    let failed: Vec<&str> = checks.iter().filter(|(_, ok)| !ok).map(|(name, _)| *name).collect();
    let checks: Map<String, Value> =
        checks.iter().map(|(name, ok)| ((*name).to_owned(), json!(if *ok { "ok" } else { "failed" }))).collect();
    if failed.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready", "checks": checks })))
    } else {
        let error = format!("not ready: {}", failed.join(", "));
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not ready", "error": error, "checks": checks })))
    }
}
