//! Turns the plain-text refusals of tower layers (413 body too large, 408 request timeout) into
//! the API's JSON `{"error": "..."}` shape, so every HTTP error a client sees is JSON.

use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::StatusCode;

pub async fn json_layer_errors(response: Response) -> Response {
    let message = match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        StatusCode::REQUEST_TIMEOUT => "request timed out",
        _ => return response,
    };
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    (response.status(), axum::Json(serde_json::json!({ "error": message }))).into_response()
}
