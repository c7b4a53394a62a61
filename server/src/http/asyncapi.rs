//! The WebSocket protocol (`GET /ws`) as an AsyncAPI 3.0 document, served at
//! `GET /asyncapi.json`: one channel, the client's frames (`app::models::ClientFrame`) and the
//! server's (`app::models::ServerFrame`), each a message whose payload is the JSON Schema
//! generated from the Rust type (utoipa's `ToSchema`, the same generator as `/openapi.json`;
//! JSON Schema 2020-12, as OpenAPI 3.1 uses). The prose (order of frames, limits, close codes)
//! is docs/protocol.md. `tests/api/openapi.rs` validates the frames of real sessions against it.

use app::models::{ClientFrame, ServerFrame};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// The frame schemas and every schema they refer to (`#/components/schemas/NAME`), by name.
pub fn frame_schemas() -> Map<String, Value> {
    let mut schemas: Vec<(String, RefOr<Schema>)> = vec![
        (ClientFrame::name().into_owned(), ClientFrame::schema()),
        (ServerFrame::name().into_owned(), ServerFrame::schema()),
    ];
    ClientFrame::schemas(&mut schemas);
    ServerFrame::schemas(&mut schemas);
    schemas.into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null))).collect()
}

/// The AsyncAPI 3.0 document.
pub fn asyncapi() -> Value {
    let token = "The `access_token` of `POST /login` (or `Authorization: Bearer`, or the session cookie)";
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "ChatterBox WebSocket protocol",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Text frames of JSON on `GET /ws`. The prose (the order of frames on a fresh \
                connection, catching up, limits, close codes) is docs/protocol.md; the REST API is \
                described at /openapi.json. The schemas are generated from the server's Rust types.",
            "license": {"name": "MIT"},
        },
        "defaultContentType": "application/json",
        "channels": {
            "ws": {
                "address": "/ws",
                "title": "The chat socket",
                "messages": {
                    "clientFrame": {"$ref": "#/components/messages/clientFrame"},
                    "serverFrame": {"$ref": "#/components/messages/serverFrame"},
                },
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {"type": "string", "description": token},
                                "since": {"type": "integer", "minimum": 0, "description": "Catch up on every message after this id"},
                                "changes": {"type": "integer", "minimum": 0, "description": "With `since`: catch up on message changes after this change number"},
                            },
                        },
                    },
                },
            },
        },
        "operations": {
            "receiveClientFrames": {
                "action": "receive",
                "title": "Frames a client sends",
                "channel": {"$ref": "#/channels/ws"},
                "messages": [{"$ref": "#/channels/ws/messages/clientFrame"}],
            },
            "sendServerFrames": {
                "action": "send",
                "title": "Frames the server sends",
                "channel": {"$ref": "#/channels/ws"},
                "messages": [{"$ref": "#/channels/ws/messages/serverFrame"}],
            },
        },
        "components": {
            "messages": {
                "clientFrame": {
                    "name": "ClientFrame",
                    "title": "A client frame",
                    "payload": {"$ref": "#/components/schemas/ClientFrame"},
                },
                "serverFrame": {
                    "name": "ServerFrame",
                    "title": "A server frame",
                    "payload": {"$ref": "#/components/schemas/ServerFrame"},
                },
            },
            "schemas": frame_schemas(),
        },
    })
}

/// `GET /asyncapi.json`: the WebSocket frames' description.
#[utoipa::path(
    get,
    path = "/asyncapi.json",
    tag = "operations",
    responses((status = 200, description = "The WebSocket protocol (AsyncAPI 3.0)", content_type = "application/json"))
)]
pub async fn asyncapi_json() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| serde_json::to_string_pretty(&asyncapi()).unwrap_or_default());
    ([(CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}
