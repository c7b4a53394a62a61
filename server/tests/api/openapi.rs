//! The generated descriptions against the server that serves them: `GET /openapi.json` (the REST
//! contract, `server::http::openapi`) covers every route the router serves but those listed as
//! outside it, the statuses its extractors and layers add are the ones clients get, and the
//! frames of a real WebSocket session validate against `GET /asyncapi.json`'s schemas.
//!
//! The other half, "every documented status is produced by some test", is
//! `tests/documented_statuses.rs`, over what every test of this binary recorded.

use crate::common::TestApp;
use serde_json::{json, Value};
use server::http::openapi::NOT_IN_OPENAPI;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp, path: &str) -> Value {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json", "{path}");
    assert_eq!(headers["cache-control"], "no-store", "{path}: as every API answer");
    response.json().await.unwrap()
}

/// `(method, path)` of every operation of the served document (method in upper case).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                all.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    all
}

/// Whether `(method, path)` is listed in `NOT_IN_OPENAPI` (`*` for any method, a trailing `*`
/// for every path under it).
fn listed_outside(method: &str, path: &str) -> bool {
    NOT_IN_OPENAPI.iter().any(|(listed_method, listed_path, _)| {
        let method_matches = *listed_method == "*" || *listed_method == method;
        let path_matches = match listed_path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => *listed_path == path,
        };
        method_matches && path_matches
    })
}

/// The route paths a router serves, read from its `Debug` form (axum keeps no public list of
/// them): its path router's `paths` map, `RouteId(n): "/path"`.
fn served_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let mut paths = BTreeSet::new();
    for piece in debug.split("RouteId(").skip(1) {
        let Some((_, rest)) = piece.split_once("): \"") else { continue };
        if let Some((path, _)) = rest.split_once('"') {
            paths.insert(path.to_owned());
        }
    }
    paths
}

/// `path` with its parameters filled: integers with `number`, the others with `word`.
fn filled(path: &str, operation: &Value, number: &str, word: &str) -> String {
    let mut path = path.to_owned();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        if parameter["in"] != "path" {
            continue;
        }
        let name = parameter["name"].as_str().unwrap();
        let value = if parameter["schema"]["type"] == "integer" { number } else { word };
        path = path.replace(&format!("{{{name}}}"), value);
    }
    path
}

#[tokio::test]
async fn the_description_is_openapi_3_1_served_without_a_token() {
    let app = TestApp::spawn().await;
    let doc = document(&app, "/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["session_cookie"]["in"], "cookie", "{schemes}");
    assert_eq!(schemes["session_cookie"]["name"], "chatterbox_session", "{schemes}");
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    for (method, path, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.keys().any(|status| status.starts_with('2')), "{method} {path}: no success answer");
        if operation["security"].as_array().is_some_and(|s| !s.is_empty()) {
            assert!(responses.contains_key("401"), "{method} {path}: secured without 401");
        }
        if let Some(limited) = responses.get("429") {
            assert!(limited["headers"]["Retry-After"].is_object(), "{method} {path}: 429 without Retry-After");
        }
    }
    // The same document the library builds (what `tests/documented_statuses.rs` reads).
    let built = serde_json::to_value(server::http::openapi::openapi()).unwrap();
    assert_eq!(built, doc);
}

/// A route the router serves is described in `/openapi.json`, or listed with its reason in
/// `NOT_IN_OPENAPI`; on a described path, every method is described, listed, or answered 405.
#[tokio::test]
async fn every_served_route_is_described_or_listed_as_outside_the_contract() {
    let app = TestApp::spawn().await;
    let doc = document(&app, "/openapi.json").await;
    let router = server::app(server::AppState {
        leptos_options: server::leptos_options().unwrap(),
        services: app.services.clone(),
    });
    let served = served_paths(&router);
    assert!(
        served.contains("/openapi.json") && served.contains("/ws") && served.contains("/login"),
        "the router's Debug form changed: no paths read from it ({} found)",
        served.len()
    );
    // axum's own catch-all for the fallback (`http::assets::file_or_page`: the site's static
    // files and the 404 page) is no route of ours.
    let served: BTreeSet<String> =
        served.into_iter().filter(|path| !path.contains("__private__axum_fallback")).collect();
    let described: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let undescribed: Vec<&String> = served
        .iter()
        .filter(|path| !described.contains(*path) && !METHODS.iter().any(|m| listed_outside(&m.to_uppercase(), path)))
        .collect();
    assert!(
        undescribed.is_empty(),
        "routes served but neither described in /openapi.json (a #[utoipa::path] on the handler, routed by \
         http::openapi::rest_routes) nor listed in http::openapi::NOT_IN_OPENAPI: {undescribed:?}"
    );
    // Methods: a described path answers 405 to every method that is neither described nor listed.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let any_operation = METHODS.iter().find_map(|m| item.get(*m)).unwrap();
        let url = filled(path, any_operation, "1", "x");
        for method in METHODS {
            let upper = method.to_uppercase();
            let response = app
                .http
                .request(reqwest::Method::from_bytes(upper.as_bytes()).unwrap(), app.url(&url))
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            if item.get(method).is_some() || listed_outside(&upper, path) {
                assert_ne!(status, 405, "{upper} {path} is described but not routed");
            } else {
                assert_eq!(status, 405, "{upper} {path} is served but not described (nor listed in NOT_IN_OPENAPI)");
            }
        }
    }
}

/// Every status the description adds from the shared extractors and layers (401, 403, 400,
/// 413, 422: `http::openapi::Contract`) is what a client gets, on every operation.
/// A request as a client sends it; its status, after checking that the body is an `ErrorBody`.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> u16 {
    let mut request = app
        .http
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), app.url(path))
        .header("accept", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(body["error"].is_string(), "{method} {path}: {status} without an ErrorBody: {body}");
    status
}

#[tokio::test]
async fn every_operation_answers_the_statuses_its_extractors_and_layers_add() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let member = app.user("member").await;
    let blocked_id = app.register("blockee").await["id"].as_i64().unwrap();
    let blocked = app.login("blockee").await;
    let (status, _) = app.post_as(&format!("/admin/users/{blocked_id}/block"), Some(&admin), &json!({})).await;
    assert_eq!(status, 200);
    let doc = document(&app, "/openapi.json").await;

    let mut checked = 0;
    for (method, path, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
        let url = filled(&path, &operation, "1", "x");
        let allowed = if path.starts_with("/admin/") { &admin } else { &member };
        let token = secured.then_some(allowed.as_str());
        if secured {
            assert!(responses.contains_key("401") && responses.contains_key("403"), "{method} {path}");
            assert_eq!(send(&app, &method, &url, None, None, &[]).await, 401, "{method} {path} without a token");
            assert_eq!(send(&app, &method, &url, Some(&blocked), None, &[]).await, 403, "{method} {path} blocked");
            if path.starts_with("/admin/") {
                assert_eq!(
                    send(&app, &method, &url, Some(&member), None, &[]).await,
                    403,
                    "{method} {path} not an admin"
                );
            }
        }
        if method != "GET" {
            assert!(responses.contains_key("403"), "{method} {path}");
            let cross_site = [("sec-fetch-site", "cross-site")];
            assert_eq!(send(&app, &method, &url, None, None, &cross_site).await, 403, "{method} {path} cross-site");
        }
        if operation["requestBody"]["content"]["application/json"].is_object() {
            for status in ["400", "413", "422"] {
                assert!(responses.contains_key(status), "{method} {path}: a JSON body without {status}");
            }
            let not_json = Some("{not json".to_owned());
            assert_eq!(send(&app, &method, &url, token, not_json, &[]).await, 400, "{method} {path} not JSON");
            assert_eq!(
                send(&app, &method, &url, token, Some("5".into()), &[]).await,
                422,
                "{method} {path} wrong type"
            );
            let huge = Some(format!("\"{}\"", "x".repeat(server::MAX_BODY_BYTES)));
            assert_eq!(send(&app, &method, &url, token, huge, &[]).await, 413, "{method} {path} too large");
        }
        let integer_param = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|parameter| parameter["in"] == "path" && parameter["schema"]["type"] == "integer");
        if integer_param {
            assert!(responses.contains_key("400"), "{method} {path}");
            let url = filled(&path, &operation, "abc", "x");
            assert_eq!(send(&app, &method, &url, token, None, &[]).await, 400, "{method} {path} with a non-numeric id");
        }
        checked += 1;
    }
    assert!(checked > 50, "{checked} operations");
}

/// The frames of a real session (history, rooms, presence, a message and its acknowledgement,
/// typing, an error, a warning, a room, an edit, a reaction, a deletion, a page of history)
/// validate against the served frame schemas, and so do the client frames sent; a frame that
/// breaks the schema does not.
#[tokio::test]
async fn real_websocket_frames_validate_against_the_asyncapi_schemas() {
    let app = TestApp::spawn().await;
    let asyncapi = document(&app, "/asyncapi.json").await;
    assert_eq!(asyncapi["asyncapi"], "3.0.0");
    assert_eq!(asyncapi["channels"]["ws"]["address"], "/ws");
    let validator = |name: &str| {
        let payload = &asyncapi["components"]["messages"][name]["payload"];
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": payload["$ref"],
            "components": {"schemas": asyncapi["components"]["schemas"]},
        });
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let (client_frames, server_frames) = (validator("clientFrame"), validator("serverFrame"));
    let check = |validator: &jsonschema::Validator, frame: &Value| {
        let errors: Vec<String> =
            validator.iter_errors(frame).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{frame} does not validate: {errors:?}");
    };

    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (mut a, history) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let mut seen = vec![history];
    let sent = [
        json!({"type": "message", "content": "hello @bob", "client_id": "c-1"}),
        json!({"type": "typing", "room_id": 1}),
        json!({"type": "history", "room_id": 1}),
        json!({"type": "message", "content": "shit", "client_id": "c-2"}),
        json!({"type": "message", "content": "no such room", "room_id": 999_999, "client_id": "c-3"}),
    ];
    for frame in &sent {
        check(&client_frames, frame);
        a.send_json(frame).await;
    }
    let room = app.private_room(&alice, "frames", &["bob"]).await;
    // The acknowledgement and the error, in either order (a message is acknowledged once
    // committed; the error needs no write).
    let first = loop {
        seen.push(a.next_frame().await);
        let ack = seen.iter().find(|f| f["type"] == "message" && f["client_id"] == "c-1");
        if let (Some(ack), true) = (ack, seen.iter().any(|f| f["type"] == "error")) {
            break ack.clone();
        }
    };
    let id = first["id"].as_i64().unwrap();
    let (status, _) =
        app.send_as("PATCH", &format!("/messages/{id}"), Some(&alice), &json!({"content": "edited"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        app.send_as("PUT", &format!("/messages/{id}/reactions/%F0%9F%91%8D"), Some(&bob), &Value::Null).await.0,
        204
    );
    assert_eq!(app.delete_as(&format!("/messages/{id}"), Some(&alice)).await.0, 204);
    let (status, _) = app.post_as(&format!("/rooms/{room}/leave"), Some(&bob), &json!({})).await;
    assert_eq!(status, 204);
    loop {
        let frame = b.next_frame().await;
        let done = frame["type"] == "room_left";
        seen.push(frame);
        if done {
            break;
        }
    }
    loop {
        let frame = a.next_frame().await;
        let done = frame["type"] == "member";
        seen.push(frame);
        if done {
            break;
        }
    }
    for frame in &seen {
        check(&server_frames, frame);
    }
    let kinds: BTreeSet<&str> = seen.iter().filter_map(|f| f["type"].as_str()).collect();
    // (`presence` is validated when it comes; under load it may come after the frames awaited.)
    for kind in [
        "history",
        "rooms",
        "message",
        "typing",
        "error",
        "warning",
        "room",
        "edited",
        "reaction",
        "deleted",
        "room_left",
        "member",
    ] {
        assert!(kinds.contains(kind), "no {kind} frame was seen: {kinds:?}");
    }
    // The schemas do refuse: a message without its text, a history without its room, an
    // unknown type, a server message frame without its id.
    for wrong in [json!({"type": "message"}), json!({"type": "history"}), json!({"type": "nope"})] {
        assert!(!client_frames.is_valid(&wrong), "{wrong} validates");
    }
    let mut broken = first.clone();
    broken.as_object_mut().unwrap().remove("id");
    assert!(!server_frames.is_valid(&broken), "{broken} validates");
}

/// The documented refusals that no test of their feature makes: an unknown id on the admin
/// routes, a bad cursor of the admin lists, an unknown message's reaction, and the 429s of the
/// budgets on the routes their own tests do not exhaust (`tests/documented_statuses.rs`).
#[tokio::test]
async fn documented_refusals_that_no_feature_test_makes() {
    let app = TestApp::spawn_with(|c| {
        c.room_actions_burst = 2;
        c.room_actions_per_min = 0.001;
        c.login_account_burst = 2;
        c.login_account_per_min = 0.001;
    })
    .await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let unknown = 999_999;
    for (method, path) in [
        ("DELETE", format!("/admin/rooms/{unknown}/members/alice")),
        ("GET", format!("/admin/rooms/{unknown}/bans")),
        ("POST", format!("/admin/rooms/{unknown}/archive")),
        ("POST", format!("/admin/rooms/{unknown}/unarchive")),
        ("POST", format!("/admin/users/{unknown}/unblock")),
        ("DELETE", format!("/messages/{unknown}/reactions/%F0%9F%91%8D")),
    ] {
        assert_eq!(send(&app, method, &path, Some(&admin), None, &[]).await, 404, "{method} {path}");
    }
    for path in
        ["/admin/audit?limit=0", "/admin/moderation?limit=0", "/admin/rooms?after=-1", "/admin/uploads?user=abc"]
    {
        assert_eq!(send(&app, "GET", path, Some(&admin), None, &[]).await, 400, "{path}");
    }

    // The room-action budget (2 here): spent, then every route that draws on it answers 429.
    for _ in 0..2 {
        app.delete_as("/ignores/root", Some(&alice)).await;
    }
    for (method, path) in [
        ("DELETE", "/ignores/root"),
        ("DELETE", "/invitations/1"),
        ("DELETE", "/rooms/1/members/alice"),
        ("POST", "/rooms/1/join"),
    ] {
        assert_eq!(send(&app, method, path, Some(&alice), None, &[]).await, 429, "{method} {path}");
    }

    // The reaction budget (30 at once, then 2 a second), adding and taking back.
    let (mut socket, _) = app.connect(&alice).await;
    socket.send_json(&json!({"type": "message", "content": "react to me", "client_id": "r"})).await;
    let id = socket.until_type("message").await["id"].as_i64().unwrap();
    let reaction = format!("/messages/{id}/reactions/%F0%9F%91%8D");
    for method in ["PUT", "DELETE"] {
        let mut limited = false;
        for _ in 0..200 {
            let (status, _) = app.send_as(method, &reaction, Some(&alice), &Value::Null).await;
            if status == 429 {
                limited = true;
                break;
            }
            assert_eq!(status, 204, "{method} {reaction}");
        }
        assert!(limited, "{method} {reaction}: never limited");
    }

    // Password checks are throttled per account as failed logins are (2 here).
    let wrong = |body: Value| Some(body.to_string());
    for _ in 0..2 {
        send(
            &app,
            "POST",
            "/me/password",
            Some(&alice),
            wrong(json!({"current": "nope-nope", "new": "password456"})),
            &[],
        )
        .await;
    }
    let change = wrong(json!({"current": "nope-nope", "new": "password456"}));
    assert_eq!(send(&app, "POST", "/me/password", Some(&alice), change, &[]).await, 429);
    let delete = wrong(json!({"password": "nope-nope"}));
    assert_eq!(send(&app, "DELETE", "/me", Some(&alice), delete, &[]).await, 429);
    let appeal = wrong(json!({"username": "alice", "password": "nope-nope", "text": "let me back"}));
    assert_eq!(send(&app, "POST", "/appeals", None, appeal, &[]).await, 429);
}
