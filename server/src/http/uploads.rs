//! Files over HTTP: `POST /uploads` (multipart, field `file`, streamed), `GET /files/{id}/{name}`
//! and `GET /files/{id}/thumbnail` (streamed, with `Range`, `ETag` and the headers that keep an
//! uploaded file from ever running as a page of this site), `DELETE /uploads/{id}`, and for
//! admins `GET /admin/uploads`. Each parses, calls the uploads use case, and maps the answer.

use super::openapi::ErrorBody;
use crate::http::extract::{AdminUser, ApiPath, AuthUser};
use crate::state::AppState;
use app::error::ApiError;
use app::models::UploadsOverview;
use axum::body::Body;
use axum::extract::{Multipart, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;
use std::ops::Range;

/// What every file answer carries: the browser must never sniff a type, send a referrer, or
/// run anything it contains (Synapse's policy).
const FILE_CSP: &str = "sandbox; default-src 'none'";
/// Cached by the browser only, and checked again each time (access can end).
const FILE_CACHE: &str = "private, no-cache";

/// `POST /uploads`: 201 with the `Attachment`; for an image, `Server-Timing` says where its
/// processing's time went (`decode`, `thumbnail`, `encode`, in milliseconds).
#[utoipa::path(
    post,
    path = "/uploads",
    tag = "files",
    request_body(content = super::openapi::UploadForm, content_type = "multipart/form-data", description = "The file in the field `file`"),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 201, description = "Stored; an image's answer has `Server-Timing` (decode, thumbnail, encode)", body = app::models::Attachment),
        (status = 400, description = "No `file` field, an empty file, a body that is not multipart, an upload cut short", body = ErrorBody),
        (status = 413, description = "Over the upload size limit or my quota", body = ErrorBody),
        (status = 422, description = "A file name the word filter refuses; an image that cannot be decoded or is too large", body = ErrorBody),
        (status = 429, description = "Uploads per account", body = ErrorBody)
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = multipart.map_err(|e| ApiError::BadRequest { message: e.body_text() })?;
    loop {
        let field = multipart.next_field().await.map_err(|e| ApiError::BadRequest { message: e.body_text() })?;
        let Some(field) = field else {
            return Err(ApiError::BadRequest { message: "no file: send it in the multipart field `file`".into() });
        };
        if field.name() == Some("file") {
            let name = field.file_name().map(str::to_owned);
            let (attachment, timings) = state.services.upload(&user, name.as_deref(), field).await?;
            let mut response = (StatusCode::CREATED, Json(attachment)).into_response();
            if let Some(t) = timings {
                let timing =
                    format!("decode;dur={}, thumbnail;dur={}, encode;dur={}", t.decode_ms, t.thumbnail_ms, t.encode_ms);
                set(&mut response, header::HeaderName::from_static("server-timing"), &timing);
            }
            return Ok(response);
        }
    }
}

/// `DELETE /uploads/{id}`: 204.
#[utoipa::path(
    delete,
    path = "/uploads/{id}",
    tag = "files",
    params(("id" = String, Path, description = "The upload id (32 hex digits)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The file is posted (its uploader must delete its message)", body = ErrorBody),
        (status = 404, description = "Unknown id; someone else's upload (for non-admins)", body = ErrorBody)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_upload(&user, &id).await.map(|()| StatusCode::NO_CONTENT)
}

/// `GET /admin/uploads[?user=ID]`.
#[utoipa::path(
    get,
    path = "/admin/uploads",
    tag = "admin",
    params(("user" = Option<i64>, Query, description = "One account's files")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The accounts storing files, and with `user` that account's files", body = UploadsOverview),
        (status = 400, description = "`user` is not a number", body = ErrorBody)
    )
)]
pub async fn overview(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<UploadsOverview>, ApiError> {
    let user = match params.get("user").filter(|v| !v.is_empty()) {
        Some(value) => {
            Some(value.parse().map_err(|_| ApiError::BadRequest { message: "user must be a number".into() })?)
        }
        None => None,
    };
    state.services.uploads_overview(user).await.map(Json)
}

/// `GET /files/{id}/{name}`: the file; `GET /files/{id}/thumbnail`: an image's thumbnail.
#[utoipa::path(
    get,
    path = "/files/{id}/{name}",
    tag = "files",
    params(("id" = String, Path, description = "The upload id"), ("name" = String, Path, description = "Its name (cosmetic), or `thumbnail`")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The file (or with `{name}` = `thumbnail`, an image's thumbnail): images inline with their type, anything else `application/octet-stream` as an attachment", content_type = "application/octet-stream"),
        (status = 206, description = "One range of the file (`Range`), with `Content-Range`", content_type = "application/octet-stream"),
        (status = 304, description = "`If-None-Match` names its `ETag`"),
        (status = 404, description = "Unknown id; a file I may not read (the same answer)", body = ErrorBody),
        (status = 416, description = "A range past the end: `Content-Range: bytes */SIZE`")
    )
)]
pub async fn file(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath((id, name)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let thumbnail = name == "thumbnail";
    let record = state.services.readable_file(&user, &id, thumbnail).await?;
    let (content_type, etag, disposition) = if thumbnail {
        let content_type = record.thumbnail_type.clone().unwrap_or_default();
        let name = if content_type == "image/png" { "thumbnail.png" } else { "thumbnail.jpg" };
        (content_type, format!("\"{}-t\"", record.id), content_disposition("inline", name))
    } else {
        let kind = if record.content_type.starts_with("image/") { "inline" } else { "attachment" };
        (record.content_type.clone(), format!("\"{}\"", record.id), content_disposition(kind, &record.name))
    };
    let mut response = if if_none_match(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        // A thumbnail's size is not recorded: ranges apply to files.
        let range = match (thumbnail, headers.get(header::RANGE)) {
            (false, Some(value)) => match parse_range(value.to_str().unwrap_or(""), record.size as u64) {
                RangeAsked::One(range) => Some(range),
                RangeAsked::Whole => None,
                RangeAsked::Unsatisfiable => {
                    let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    set(&mut response, header::CONTENT_RANGE, &format!("bytes */{}", record.size));
                    return Ok(with_file_headers(response, &etag));
                }
            },
            _ => None,
        };
        let partial = range.is_some();
        let download = state.services.file_bytes(&record, thumbnail, range).await?;
        let mut response = Response::new(Body::from_stream(download.body));
        set(&mut response, header::CONTENT_LENGTH, &(download.range.end - download.range.start).to_string());
        if partial {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let (start, end) = (download.range.start, download.range.end.saturating_sub(1));
            set(&mut response, header::CONTENT_RANGE, &format!("bytes {start}-{end}/{}", download.size));
        }
        response
    };
    set(&mut response, header::CONTENT_TYPE, &content_type);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(with_file_headers(response, &etag))
}

fn set(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn with_file_headers(mut response: Response, etag: &str) -> Response {
    set(&mut response, header::ETAG, etag);
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(FILE_CACHE));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FILE_CSP));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    response
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

/// `Content-Disposition` per RFC 6266: an ASCII `filename` for old clients and the exact name
/// as `filename*` (RFC 8187, UTF-8, percent-encoded).
pub fn content_disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' { c } else { '_' })
        .collect();
    const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let encoded = percent_encoding::utf8_percent_encode(name, ATTR_CHAR);
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsked {
    /// One satisfiable range (end exclusive).
    One(Range<u64>),
    /// The whole file: no usable range (several ranges, another unit, or a malformed header
    /// are answered with the whole file, as RFC 9110 allows).
    Whole,
    Unsatisfiable,
}

fn parse_range(value: &str, size: u64) -> RangeAsked {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return RangeAsked::Whole };
    if spec.contains(',') {
        return RangeAsked::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return RangeAsked::Whole };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => start..end.saturating_add(1).min(size),
        (Ok(_), Ok(_)) => return RangeAsked::Whole,
        (Ok(start), Err(_)) if end.is_empty() => start..size,
        (Err(_), Ok(suffix)) if start.is_empty() => size.saturating_sub(suffix)..size,
        _ => return RangeAsked::Whole,
    };
    if range.start >= size || range.is_empty() {
        RangeAsked::Unsatisfiable
    } else {
        RangeAsked::One(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsked::One(0..10));
        assert_eq!(parse_range("bytes=90-", 100), RangeAsked::One(90..100));
        assert_eq!(parse_range("bytes=-10", 100), RangeAsked::One(90..100));
        assert_eq!(parse_range("bytes=50-500", 100), RangeAsked::One(50..100));
        assert_eq!(parse_range("bytes=100-", 100), RangeAsked::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAsked::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsked::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeAsked::Whole);
        assert_eq!(parse_range("bytes=9-2", 100), RangeAsked::Whole);
    }

    #[test]
    fn names_go_out_as_rfc_6266_says() {
        assert_eq!(
            content_disposition("attachment", "résumé \"final\".pdf"),
            "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
        assert_eq!(content_disposition("inline", "a.png"), "inline; filename=\"a.png\"; filename*=UTF-8''a.png");
    }
}
