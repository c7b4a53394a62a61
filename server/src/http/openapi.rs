//! The REST contract as an OpenAPI 3.1 document, generated from the handlers themselves and served
//! at `GET /openapi.json`.
//!
//! Every REST handler carries a `#[utoipa::path]` attribute (its method, path, parameters, body and
//! the statuses only it answers), and is routed **only** through [`rest_routes`] and
//! [`upload_routes`] (utoipa-axum's `routes!`): the method and path a handler is served on are
//! the ones its description names, so the two cannot drift apart. The models are
//! `app::models` with `ToSchema` (derived on the server build only: the WASM never sees utoipa).
//!
//! Statuses that come from the shared extractors and layers rather than from a handler are added
//! once, here, by [`Contract`], from what each operation declares:
//! - an operation with a `security` requirement (the `AuthUser`/`AdminUser` extractors): 401
//!   (no valid session) and 403 (a blocked account; an admin route: not an admin);
//! - a state-changing method (not GET): 403 for a cross-site browser request (`http::csrf`);
//! - a JSON request body (`ApiJson`): 400 (not JSON), 413 (over 64 KiB), 422 (wrong fields);
//! - an integer path parameter (`ApiPath`): 400 when it is not a number;
//! - every 429 carries `Retry-After`.
//!
//! Routes outside the REST contract (pages, server functions, static files, the WebSocket
//! upgrade, which `GET /asyncapi.json` describes) are listed in [`NOT_IN_OPENAPI`] with the
//! reason; the integration tests fail for a route that is in neither (`tests/api/openapi.rs`).

use crate::state::AppState;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The body of every error answer: `{"error": "..."}`, with a few extra fields on some (the
/// schema of what `ApiError` answers; documentation only, the wire format is `ApiError`'s).
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable message.
    pub error: String,
    /// A word-filter refusal (422): the warnings that count now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning_count: Option<i64>,
    /// A word-filter refusal (422): the warnings that block the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_warnings: Option<i64>,
    /// A blocked account's login (403): where its appeal stands, `none`, `open` or `rejected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appeal: Option<String>,
    /// A blocked account's login (403): the admin's reason, once the appeal was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The security requirement names of the document.
pub const BEARER: &str = "bearer";
pub const SESSION_COOKIE: &str = "session_cookie";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ChatterBox REST API",
        description = "Generated from the server's REST handlers. The prose (rules, examples, \
                       budgets) is docs/api.md; the WebSocket frames are described at \
                       /asyncapi.json (docs/protocol.md). Every error is `ErrorBody`. Besides the statuses \
                       each operation lists, any request may be answered 408 (the request took \
                       longer than `request_timeout_secs`), 500 (an internal error, never with \
                       details) or 503 with `Retry-After` (the server is shutting down), and a \
                       wrong method on a described path 405 with `Allow`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "accounts", description = "Registration, sessions and my own account"),
        (name = "safety", description = "My standing with moderation, and appeals"),
        (name = "history", description = "Messages, a page at a time, and reports"),
        (name = "message-actions", description = "Edit, delete, react, search"),
        (name = "conversations", description = "Rooms, members, DMs, invitations, read markers, ignores"),
        (name = "files", description = "Uploads and downloads"),
        (name = "admin", description = "Admins only: 403 for anyone else"),
        (name = "operations", description = "Health, readiness and these descriptions"),
    ),
)]
struct ApiDoc;

/// The REST routes but `POST /uploads` (which has limits of its own: [`upload_routes`]).
pub fn rest_routes() -> OpenApiRouter<AppState> {
    use super::{account, admin, health, message_actions as actions, messages, rest, rooms, safety, uploads};
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(rest::register))
        .routes(routes!(rest::login))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(super::asyncapi::asyncapi_json))
        .routes(routes!(rest::me, account::delete))
        .routes(routes!(account::change_password))
        .routes(routes!(account::export))
        .routes(routes!(safety::standing))
        .routes(routes!(safety::appeal))
        .routes(routes!(rest::renew_session))
        .routes(routes!(rest::logout))
        .routes(routes!(messages::messages))
        .routes(routes!(actions::edit, actions::delete))
        .routes(routes!(messages::report))
        .routes(routes!(actions::react, actions::unreact))
        .routes(routes!(actions::search))
        .routes(routes!(rooms::mine, rooms::create))
        .routes(routes!(rooms::public))
        .routes(routes!(rooms::one, rooms::update))
        .routes(routes!(rooms::join))
        .routes(routes!(rooms::leave))
        .routes(routes!(rooms::members, rooms::invite))
        .routes(routes!(rooms::remove))
        .routes(routes!(rooms::messages))
        .routes(routes!(rooms::read))
        .routes(routes!(rooms::dm))
        .routes(routes!(rooms::ignores, rooms::ignore))
        .routes(routes!(rooms::unignore))
        .routes(routes!(rooms::invitations))
        .routes(routes!(rooms::decline))
        .routes(routes!(admin::users))
        .routes(routes!(admin::block))
        .routes(routes!(admin::unblock))
        .routes(routes!(admin::messages))
        .routes(routes!(admin::remove_message))
        .routes(routes!(actions::versions))
        .routes(routes!(admin::review))
        .routes(routes!(admin::decide))
        .routes(routes!(admin::appeals))
        .routes(routes!(admin::decide_appeal))
        .routes(routes!(admin::moderation))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::overview))
        .routes(routes!(admin::rooms))
        .routes(routes!(admin::archive_room))
        .routes(routes!(admin::unarchive_room))
        .routes(routes!(admin::room_bans))
        .routes(routes!(admin::lift_room_ban))
        .routes(routes!(admin::remove_member))
        .routes(routes!(admin::download_users))
        .routes(routes!(admin::download_messages))
        .routes(routes!(uploads::overview))
        .routes(routes!(uploads::delete))
        .routes(routes!(uploads::file))
}

/// `POST /uploads`, routed apart: `crate::app` gives it its own body and time limits.
pub fn upload_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(super::uploads::upload))
}

/// The whole description: both route sets, with [`Contract`] applied.
pub fn openapi() -> Document {
    let (_, mut document) = rest_routes().split_for_parts();
    let (_, uploads) = upload_routes().split_for_parts();
    document.merge(uploads);
    Contract.modify(&mut document);
    document
}

/// Routes served outside the REST description, each `(method, path, why)`. A path ending in
/// `*` stands for every path under it. `tests/api/openapi.rs` fails for a served route that is
/// neither described nor listed here.
pub const NOT_IN_OPENAPI: &[(&str, &str, &str)] = &[
    ("GET", "/", "the chat page (server-rendered HTML)"),
    ("GET", "/login", "the sign-in page (HTML); POST /login is REST"),
    ("GET", "/register", "the registration page (HTML); POST /register is REST"),
    ("GET", "/admin", "the admin console page (HTML)"),
    ("GET", "/settings", "the settings page (HTML)"),
    ("*", "/api/*", "Leptos server functions: the browser page's own calls, not a client contract"),
    ("GET", "/pkg/*", "the page's hashed JS, WASM and CSS"),
    ("GET", "/ws", "the WebSocket upgrade: its frames are described at GET /asyncapi.json"),
    ("GET", "/metrics", "Prometheus text exposition for operators (docs/deployment.md), not JSON"),
];

/// `GET /openapi.json`: this description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| openapi().to_pretty_json().unwrap_or_default());
    ([(CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}

/// Adds to every operation the statuses and headers that the shared extractors and layers
/// answer (the module documentation lists them).
pub struct Contract;

impl Modify for Contract {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("`Authorization: Bearer <access_token>` from `POST /login` (API clients)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SESSION_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                app::session::SESSION_COOKIE,
                "The browser's HttpOnly session cookie; state-changing requests must come from this site",
            ))),
        );
        for (path, item) in document.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for (method, operation) in operations(item) {
                // Unique, and readable in generated clients: `get_rooms_id_members`.
                operation.operation_id = Some(operation_id(&method, path));
                add_common_statuses(path, method, operation, has_path_params);
            }
        }
    }
}

fn operation_id(method: &HttpMethod, path: &str) -> String {
    let method = match method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Patch => "patch",
        HttpMethod::Delete => "delete",
        _ => "other",
    };
    let words: Vec<String> =
        path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_owned).collect();
    format!("{method}_{}", words.join("_"))
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
    .collect()
}

fn add_common_statuses(path: &str, method: HttpMethod, operation: &mut Operation, has_path_params: bool) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let admin = path.starts_with("/admin/");
    if secured {
        add(operation, 401, "No valid session: no token or cookie, or an invalid, expired or revoked one");
        add(operation, 403, "The account is blocked");
        if admin {
            add(operation, 403, "Not an admin (`admin access required`)");
        }
    }
    if method != HttpMethod::Get {
        add(operation, 403, "A cookie-authenticated request from another site (`cross-site request refused`)");
    }
    let json_body = operation.request_body.as_ref().is_some_and(
        |body| matches!(body, RefOr::T(body) if body.content.keys().any(|kind| kind == "application/json")),
    );
    if json_body {
        add(operation, 400, "The body is not JSON");
        add(operation, 413, "The body is over 64 KiB");
        add(operation, 422, "The body does not have the expected fields or types");
    }
    let integer_param = has_path_params && operation.parameters.iter().flatten().any(|parameter| {
        matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == utoipa::openapi::path::ParameterIn::Path
                && parameter.schema.as_ref().is_some_and(is_integer))
    });
    if integer_param {
        add(operation, 400, "A path parameter is not a number");
    }
    if let Some(RefOr::T(response)) = operation.responses.responses.get_mut("429") {
        response.headers.entry("Retry-After".into()).or_insert_with(|| {
            RefOr::T(
                utoipa::openapi::HeaderBuilder::new()
                    .schema(Some(utoipa::openapi::schema::Object::with_type(utoipa::openapi::Type::Integer)))
                    .description(Some("Seconds to wait before trying again"))
                    .build(),
            )
        });
    }
}

fn is_integer(schema: &RefOr<utoipa::openapi::schema::Schema>) -> bool {
    let Ok(value) = serde_json::to_value(schema) else { return false };
    value.get("type").and_then(|t| t.as_str()) == Some("integer")
}

/// Adds `status` with `description` and the error body, or appends the description to the
/// status the handler documents already.
fn add(operation: &mut Operation, status: u16, description: &str) {
    let responses = &mut operation.responses.responses;
    match responses.get_mut(&status.to_string()) {
        Some(RefOr::T(response)) => {
            if !response.description.contains(description) {
                response.description = format!("{}; or: {description}", response.description);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let response = utoipa::openapi::ResponseBuilder::new()
                .description(description)
                .content("application/json", utoipa::openapi::ContentBuilder::new().schema(Some(error_ref())).build())
                .build();
            responses.insert(status.to_string(), RefOr::T(response));
        }
    }
}

fn error_ref() -> Ref {
    Ref::from_schema_name("ErrorBody")
}

/// `POST /uploads`'s body (documentation only: the handler reads the multipart stream).
#[derive(ToSchema)]
pub struct UploadForm {
    /// The file; other fields are ignored.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    pub file: Vec<u8>,
}

/// `POST /session/renew`'s answer: the grant for a Bearer client, the lifetime alone for a
/// cookie session (documentation only: the handler builds the same JSON).
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum Renewed {
    Bearer(app::models::LoginResponse),
    Cookie {
        /// Seconds until the new cookie's token expires.
        expires_in: u64,
    },
}
