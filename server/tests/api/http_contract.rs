//! The HTTP contract a browser or an API client meets, over real HTTP: cross-site state-changing
//! requests are refused (login CSRF included) while same-origin forms keep working; every error
//! an API client can meet is JSON (404, 405, bad path parameters), while browsers keep the HTML
//! 404 page; no API answer may be cached (`no-store`); a request too slow to arrive gets 408 (or,
//! still in its headers, loses its connection); the per-account caps answer 403 over HTTP.

use crate::common::{raw, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

const EVIL: &str = "http://evil.example";

/// A url-encoded form post, as a browser without JavaScript sends it.
async fn form_post(app: &TestApp, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http.post(app.url(path)).header("accept", "text/html").form(fields);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn assert_refused(response: reqwest::Response, what: &str) {
    assert_eq!(response.status().as_u16(), 403, "{what}");
    assert!(response.headers().get("set-cookie").is_none(), "{what}: no session cookie");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{what}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "cross-site request refused"}), "{what}");
}

#[tokio::test]
async fn login_csrf_is_refused_and_same_origin_forms_work() {
    let app = TestApp::spawn().await;
    app.register("attacker").await;
    let login = [("username", "attacker"), ("password", "password123")];
    let host = app.addr.to_string();
    let same_origin = format!("http://{host}");

    // The attacker's page posts its own credentials to the victim's browser session.
    let response = form_post(&app, "/api/auth/login", &login, &[("origin", EVIL)]).await;
    assert_refused(response, "foreign Origin").await;
    let response = form_post(&app, "/api/auth/login", &login, &[("sec-fetch-site", "cross-site")]).await;
    assert_refused(response, "Sec-Fetch-Site: cross-site").await;
    let response =
        form_post(&app, "/api/auth/login", &login, &[("sec-fetch-site", "same-site"), ("origin", &same_origin)]).await;
    assert_refused(response, "Sec-Fetch-Site: same-site wins over Origin").await;
    let response = form_post(&app, "/api/auth/login", &login, &[("origin", "null")]).await;
    assert_refused(response, "Origin: null").await;
    let response =
        form_post(&app, "/api/auth/login", &login, &[("origin", &format!("http://{host}.evil.example"))]).await;
    assert_refused(response, "look-alike host").await;

    // The same form from this site: with Origin, with Sec-Fetch-Site, and with neither.
    for headers in [
        vec![("origin", same_origin.as_str())],
        vec![("origin", same_origin.as_str()), ("sec-fetch-site", "same-origin")],
        vec![("sec-fetch-site", "same-origin")],
        vec![("sec-fetch-site", "none")],
        vec![],
    ] {
        let response = form_post(&app, "/api/auth/login", &login, &headers).await;
        assert_eq!(response.status().as_u16(), 302, "{headers:?}");
        assert_eq!(response.headers()["location"], "/");
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("chatterbox_session=") && !cookie.starts_with("chatterbox_session=;"), "{cookie}");
    }

    // The same-origin server-function call with JavaScript (JSON answer) works too.
    let response = app
        .http
        .post(app.url("/api/auth/login"))
        .header("accept", "application/json")
        .header("origin", &same_origin)
        .header("sec-fetch-site", "same-origin")
        .form(&login)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
    assert!(response.headers().get("set-cookie").is_some());
}

#[tokio::test]
async fn register_logout_and_admin_server_functions_refuse_other_sites() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let victim = app.register("victim").await["id"].as_i64().unwrap();
    let cookie = format!("chatterbox_session={admin}");

    let fields = [("username", "sockpuppet"), ("email", "sock@example.com"), ("password", "password123")];
    assert_refused(form_post(&app, "/api/auth/register", &fields, &[("origin", EVIL)]).await, "register").await;
    assert!(app.services.store().find_login("sockpuppet").await.unwrap().is_none());

    let logout = form_post(&app, "/api/auth/logout", &[], &[("origin", EVIL), ("cookie", &cookie)]).await;
    assert_refused(logout, "logout").await;

    // An admin's browser cannot be made to block someone from another site.
    let id = victim.to_string();
    let block = [("user_id", id.as_str()), ("blocked", "true")];
    let response =
        form_post(&app, "/api/admin/set-blocked", &block, &[("sec-fetch-site", "cross-site"), ("cookie", &cookie)])
            .await;
    assert_refused(response, "admin set-blocked").await;
    assert!(!app.services.store().user_by_id(victim).await.unwrap().unwrap().public.is_blocked);

    // REST posts carrying the session cookie are covered as well.
    let response = app
        .http
        .post(app.url(&format!("/admin/users/{victim}/block")))
        .header("cookie", &cookie)
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(!app.services.store().user_by_id(victim).await.unwrap().unwrap().public.is_blocked);

    // The same admin call from this site goes through.
    let same_origin = format!("http://{}", app.addr);
    let response =
        form_post(&app, "/api/admin/set-blocked", &block, &[("origin", &same_origin), ("cookie", &cookie)]).await;
    // A plain form post is redirected back to its page once done.
    assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
    assert!(app.services.store().user_by_id(victim).await.unwrap().unwrap().public.is_blocked);
}

#[tokio::test]
async fn bearer_requests_and_reads_are_not_refused() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let target = app.register("target").await["id"].as_i64().unwrap();

    // An API client with a Bearer token is not a browser being abused: a foreign Origin is fine.
    let response = app
        .http
        .post(app.url(&format!("/admin/users/{target}/block")))
        .bearer_auth(&admin)
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // JSON REST login without browser headers (curl, scripts) keeps working.
    let (status, _) = app.post_json("/login", &json!({"username": "root", "password": "password123"})).await;
    assert_eq!(status, 200);

    // Reads are never refused, whatever the origin.
    let response = app.http.get(app.url("/me")).bearer_auth(&admin).header("origin", EVIL).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let page = app.http.get(app.url("/login")).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
}

async fn json_error(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert!(
        content_type.as_deref().is_some_and(|t| t.starts_with("application/json")),
        "{status}: content-type {content_type:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    (status, body)
}

#[tokio::test]
async fn api_errors_are_json_and_browsers_keep_the_html_404() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;

    // Unknown paths: JSON for API clients, the HTML page for browsers.
    for accept in [None, Some("application/json"), Some("*/*")] {
        let mut request = app.http.get(app.url("/no/such/thing"));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let (status, body) = json_error(request.send().await.unwrap()).await;
        assert_eq!((status, body), (404, json!({"error": "not found"})), "{accept:?}");
    }
    let page = app
        .http
        .get(app.url("/no/such/thing"))
        .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 404);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));

    // Wrong methods on API routes: 405, JSON, with the Allow header kept.
    for (method, path) in
        [("DELETE", "/login"), ("PUT", "/me"), ("POST", "/admin/users"), ("GET", "/admin/users/1/block")]
    {
        let request = app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(&admin);
        let response = request.send().await.unwrap();
        assert!(response.headers().contains_key("allow"), "{method} {path}");
        let (status, body) = json_error(response).await;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(body, json!({"error": "method not allowed"}));
    }

    // Bad path parameters: a JSON 400.
    for path in ["/admin/users/abc/block", "/admin/users/1.5/unblock", "/admin/users/99999999999999999999/block"] {
        let response = app.http.post(app.url(path)).bearer_auth(&admin).send().await.unwrap();
        let (status, body) = json_error(response).await;
        assert_eq!(status, 400, "{path}: {body}");
    }

    // Existing JSON errors are left as they are.
    let (status, body) = json_error(app.http.get(app.url("/me")).send().await.unwrap()).await;
    assert_eq!((status, body), (401, json!({"error": "authentication required"})));
    let (status, _) =
        json_error(app.http.post(app.url("/admin/users/99999/block")).bearer_auth(&admin).send().await.unwrap()).await;
    assert_eq!(status, 404);
}

/// One request of [`every_api_answer_is_no_store`]: method, path, bearer token, JSON body.
struct Call<'a>(&'a str, String, Option<&'a str>, Option<Value>);

#[tokio::test]
async fn every_api_answer_is_no_store() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let bob = app.user("bob").await;
    let carol = app.register("carol").await["id"].as_i64().unwrap();
    let (status, room) = app.post_as("/rooms", Some(&bob), &json!({"name": "den", "kind": "public"})).await;
    assert_eq!(status, 201, "{room}");
    let room = room["id"].as_i64().unwrap();
    let (admin, bob) = (admin.as_str(), bob.as_str());
    let register = json!({"username": "dave", "email": "dave@example.com", "password": "password123"});
    let calls = [
        // Answers with data...
        Call("POST", "/register".into(), None, Some(register.clone())),
        Call("POST", "/login".into(), None, Some(json!({"username": "bob", "password": "password123"}))),
        Call("GET", "/me".into(), Some(bob), None),
        Call("POST", "/session/renew".into(), Some(bob), None),
        Call("GET", "/messages".into(), Some(bob), None),
        Call("GET", "/messages?after=0".into(), Some(bob), None),
        Call("GET", "/rooms".into(), Some(bob), None),
        Call("GET", "/rooms/public".into(), Some(bob), None),
        Call("POST", "/rooms".into(), Some(bob), Some(json!({"name": "attic", "kind": "private"}))),
        Call("GET", format!("/rooms/{room}"), Some(bob), None),
        Call("PATCH", format!("/rooms/{room}"), Some(bob), Some(json!({"topic": "quiet"}))),
        Call("GET", format!("/rooms/{room}/members"), Some(bob), None),
        Call("GET", format!("/rooms/{room}/messages"), Some(bob), None),
        Call("POST", format!("/rooms/{room}/join"), Some(admin), None),
        Call("POST", format!("/rooms/{room}/read"), Some(bob), Some(json!({"last_read_id": 0}))),
        Call("POST", format!("/rooms/{room}/leave"), Some(admin), None),
        Call("POST", "/dm".into(), Some(bob), Some(json!({"username": "carol"}))),
        Call("GET", "/ignores".into(), Some(bob), None),
        Call("POST", "/ignores".into(), Some(bob), Some(json!({"username": "carol"}))),
        Call("DELETE", "/ignores/carol".into(), Some(bob), None),
        Call("GET", "/admin/users".into(), Some(admin), None),
        Call("GET", "/admin/messages".into(), Some(admin), None),
        Call("GET", "/admin/moderation".into(), Some(admin), None),
        Call("GET", "/admin/overview".into(), Some(admin), None),
        Call("GET", "/admin/rooms".into(), Some(admin), None),
        Call("POST", format!("/admin/users/{carol}/block"), Some(admin), None),
        Call("POST", format!("/admin/users/{carol}/unblock"), Some(admin), None),
        Call("GET", "/admin/download/users".into(), Some(admin), None),
        Call("GET", "/admin/download/messages".into(), Some(admin), None),
        // ...and every kind of refusal.
        Call("GET", "/me".into(), None, None),
        Call("GET", "/admin/users".into(), Some(bob), None),
        Call("GET", "/rooms/99999".into(), Some(bob), None),
        Call("POST", "/register".into(), None, Some(register)),
        Call("POST", "/login".into(), None, Some(json!({"username": "bob", "password": "wrong-password"}))),
        Call("POST", "/rooms".into(), Some(bob), Some(json!({"name": ""}))),
        Call("GET", "/messages?limit=100000".into(), Some(bob), None),
        Call("PUT", "/me".into(), Some(bob), None),
        Call("GET", "/no/such/route".into(), None, None),
        Call("GET", "/ws".into(), None, None),
        Call("POST", "/login".into(), None, Some(json!({"username": "x".repeat(70_000), "password": "p"}))),
    ];
    for Call(method, path, token, body) in calls {
        let mut request = app.http.request(method.parse().unwrap(), app.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            response.headers().get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{method} {path}: {status}"
        );
    }
    // The server functions' answers too.
    for endpoint in ["/api/auth/me", "/api/auth/renew", "/api/admin/stats"] {
        let response = app
            .http
            .post(app.url(endpoint))
            .header("accept", "application/json")
            .header("cookie", format!("chatterbox_session={admin}"))
            .form(&[("x", "")])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            response.headers().get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{endpoint}: {status}"
        );
    }
}

#[tokio::test]
async fn a_body_that_arrives_too_slowly_gets_408_and_slow_headers_lose_the_connection() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(|c| c.request_timeout_secs = 1).await;
    app.register("patient").await;

    // Headers complete, body promised (100 bytes) but only partly sent: 408 once the request
    // has taken `request_timeout_secs`, a JSON error, not cached.
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"username\"",
        app.addr
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let answer = raw::read_response(&mut socket, Duration::from_secs(10)).await.expect("an answer");
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(started.elapsed() >= Duration::from_millis(900), "answered after {:?}", started.elapsed());
    assert!(answer.json()["error"].is_string(), "{answer:?}");
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    // Headers that never end: after the same time the connection is closed (nothing to answer:
    // there is no request yet).
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(format!("GET /me HTTP/1.1\r\nHost: {}\r\nX-Slow: ", app.addr).as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let answer = raw::read_response(&mut socket, Duration::from_secs(10)).await;
    let closed_after = started.elapsed();
    assert!(answer.as_ref().is_none_or(|answer| answer.status == 408), "{answer:?}");
    assert!(closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(9), "{closed_after:?}");

    // The server is fine meanwhile and afterwards.
    let (status, _) = app.post_json("/login", &json!({"username": "patient", "password": "password123"})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn conversation_and_ignore_caps_hold_over_http() {
    use futures::StreamExt;
    // The per-account budget of room actions and the cap on rooms created would stop this
    // account first (they have tests of their own, in conversations.rs): out of the way here.
    let app = TestApp::spawn_with(|c| {
        c.room_actions_burst = 100_000;
        c.invitations_burst = 100_000;
        c.max_rooms_per_account = 1_000;
    })
    .await;
    let token = app.user("collector").await;
    let other = app.user("host").await;
    // `general` and 499 rooms: 500 conversations.
    let created: Vec<u16> = futures::stream::iter(0..app::protocol::MAX_CONVERSATIONS_PER_USER - 1)
        .map(|n| {
            let token = token.clone();
            let app = &app;
            async move {
                app.post_as("/rooms", Some(&token), &json!({"name": format!("room {n}"), "kind": "public"})).await.0
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(created.iter().all(|&status| status == 201), "{created:?}");
    let (status, body) = app.post_as("/rooms", Some(&token), &json!({"name": "one more", "kind": "public"})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("500")), "{body}");
    let (_, room) = app.post_as("/rooms", Some(&other), &json!({"name": "elsewhere", "kind": "public"})).await;
    let room = room["id"].as_i64().unwrap();
    let (status, body) = app.post_as(&format!("/rooms/{room}/join"), Some(&token), &json!({})).await;
    assert_eq!(status, 403, "joining past the cap: {body}");
    let (status, body) =
        app.post_as(&format!("/rooms/{room}/members"), Some(&other), &json!({"username": "collector"})).await;
    assert_eq!(status, 403, "being added past the cap: {body}");
    // Leaving one makes room for another.
    let (status, _) = app.post_as("/rooms/2/leave", Some(&token), &json!({})).await;
    assert_eq!(status, 204);
    let (status, body) = app.post_as(&format!("/rooms/{room}/join"), Some(&token), &json!({})).await;
    assert_eq!(status, 200, "{body}");

    // 1000 ignores, then 403.
    let store = app.services.store();
    for n in 0..conversations_max_ignores() {
        store.create_user(&format!("pest{n}"), &format!("pest{n}@example.com"), "h").await.unwrap();
    }
    let ignored: Vec<u16> = futures::stream::iter(0..conversations_max_ignores())
        .map(|n| {
            let token = token.clone();
            let app = &app;
            async move {
                let request = app
                    .http
                    .post(app.url("/ignores"))
                    .bearer_auth(&token)
                    .json(&json!({"username": format!("pest{n}")}));
                request.send().await.unwrap().status().as_u16()
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(
        ignored.iter().all(|&status| status == 204),
        "{:?}",
        ignored.iter().filter(|&&s| s != 204).collect::<Vec<_>>()
    );
    let (status, body) = app.post_as("/ignores", Some(&token), &json!({"username": "host"})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("1000")), "{body}");
    // Ignoring someone already ignored is still fine (idempotent), and so is unignoring.
    let response = app
        .http
        .post(app.url("/ignores"))
        .bearer_auth(&token)
        .json(&json!({"username": "pest0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let response = app.http.delete(app.url("/ignores/pest0")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, body) = app.post_as("/ignores", Some(&token), &json!({"username": "host"})).await;
    assert_eq!(status, 204, "{body}");
}

/// The ignore cap (`app::protocol::MAX_IGNORES`).
fn conversations_max_ignores() -> i64 {
    app::protocol::MAX_IGNORES
}
