//! Turns the plain-text refusals of tower layers (413 body too large, 408 request timeout) and
//! of axum itself (405 with an empty body, text/plain rejections, the HTML 404 page for a client
//! that did not ask for HTML) into the API's JSON `{"error": "..."}` shape, so every HTTP error
//! an API client meets is JSON. Browsers (`Accept` naming `text/html`) keep the HTML 404 page.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

/// Largest plain-text error body read to become a JSON message.
const MAX_TEXT_ERROR: usize = 4096;

/// Middleware: looks at the request's `Accept` and rewrites non-JSON error responses.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let wants_html = accepts_html(request.headers());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    // Server-function errors carry their own (typed) encoding: leave them alone.
    if response.headers().contains_key("serverfnerror") {
        return response;
    }
    let content_type =
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let message = if status == StatusCode::NOT_FOUND {
        if wants_html && !content_type.starts_with("text/plain") && !content_type.is_empty() {
            return response;
        }
        "not found".to_owned()
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        "method not allowed".to_owned()
    } else if content_type.is_empty() || content_type.starts_with("text/plain") {
        let (parts, body) = response.into_parts();
        let text = axum::body::to_bytes(body, MAX_TEXT_ERROR).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&text).trim().to_owned();
        let message = if text.is_empty() { default_message(status) } else { text };
        return json_with_headers(Response::from_parts(parts, axum::body::Body::empty()), &message);
    } else {
        return response;
    };
    json_with_headers(response, &message)
}

/// Whether the client asked for HTML (a browser navigating), from its `Accept` header.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.to_ascii_lowercase().contains("text/html"))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

fn default_message(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("error").to_ascii_lowercase()
}

/// `{"error": message}` with the status and headers of `original` (`Allow`, `Retry-After` ...).
fn json_with_headers(original: Response, message: &str) -> Response {
    let (mut parts, _) = original.into_parts();
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    let json = (parts.status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    let (json_parts, body) = json.into_parts();
    for (name, value) in &json_parts.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, body)
}

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
