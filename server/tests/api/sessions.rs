//! Sessions and their edges (issue 22): a token is refused at its `exp` exactly, on every door;
//! logging out (the page's `POST /api/auth/logout`, the API's `POST /logout`) revokes the
//! session, whose tokens then die everywhere and whose sockets close, on every node; a server
//! draining for shutdown answers 503 instead of refusing connections; the longest legal message,
//! however its JSON is escaped, fits in a WebSocket message; typing in an archived room says so.

use crate::common::cluster::{connected, Cluster};
use crate::common::{Client, TestApp};
use app::protocol::MAX_FRAME_BYTES;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn typing_in_an_archived_room_says_it_is_archived() {
    let app = TestApp::spawn().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let (status, room) = app.post_as("/rooms", Some(&owner), &json!({"name": "Quiet Room", "kind": "public"})).await;
    assert_eq!(status, 201, "{room}");
    let room_id = room["id"].as_i64().unwrap();
    let (status, _) = app.post_as(&format!("/rooms/{room_id}/join"), Some(&member), &json!({})).await;
    assert_eq!(status, 200);
    let archived = app
        .http
        .patch(app.url(&format!("/rooms/{room_id}")))
        .bearer_auth(&owner)
        .json(&json!({"archived": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(archived.status().as_u16(), 200);
    let (mut client, _) = app.connect(&member).await;
    client.send_json(&json!({"type": "typing", "room_id": room_id})).await;
    let error = client.until_type("error").await;
    assert_eq!(error["message"], "this conversation is archived", "{error}");
    // Still a member: the room stays on the list.
    let (_, rooms) = app.get_json("/rooms", Some(&member)).await;
    assert!(rooms.as_array().unwrap().iter().any(|r: &Value| r["id"] == room_id), "{rooms}");
}

/// The longest `message` frame the protocol allows, as a JSON library that escapes every
/// non-ASCII character writes it: 4000 characters outside the BMP, each a surrogate pair
/// `\uD83D\uDE00` (12 bytes), and a 64-character `client_id` escaped the same way (of the
/// character `\uD83D\u{low}`), with `padding` bytes of JSON whitespace in front.
fn longest_escaped_frame(low: &str, padding: usize) -> String {
    let escaped = |chars: usize, low: &str| format!("\\uD83D\\u{low}").repeat(chars);
    format!(
        r#"{}{{"type":"message","content":"{}","client_id":"{}","room_id":1}}"#,
        " ".repeat(padding),
        escaped(app::domain::MAX_MESSAGE_CHARS, "DE00"),
        escaped(app::protocol::MAX_CLIENT_ID_CHARS, low)
    )
}

#[tokio::test]
async fn the_longest_message_however_escaped_fits_and_one_byte_over_the_limit_closes_1009() {
    let app = TestApp::spawn().await;
    let token = app.user("escaper").await;
    let (mut client, _) = app.connect(&token).await;
    let frame = longest_escaped_frame("DE00", 0);
    assert!(frame.len() > 16 * 1024, "over the old limit: {} bytes", frame.len());
    client.send_text(&frame).await;
    let message = client.until_type("message").await;
    assert!(frame.len() <= MAX_FRAME_BYTES, "{} bytes", frame.len());
    assert_eq!(message["content"], "\u{1F600}".repeat(app::domain::MAX_MESSAGE_CHARS));
    assert_eq!(message["client_id"], "\u{1F600}".repeat(app::protocol::MAX_CLIENT_ID_CHARS));

    // Padded with JSON whitespace to exactly the limit, it is still a message...
    let padding = MAX_FRAME_BYTES - frame.len();
    let at_limit = longest_escaped_frame("DE01", padding);
    assert_eq!(at_limit.len(), MAX_FRAME_BYTES);
    client.send_text(&at_limit).await;
    let message = client.until_type("message").await;
    assert_eq!(message["client_id"], "\u{1F601}".repeat(app::protocol::MAX_CLIENT_ID_CHARS));
    // ... and one byte more closes the socket with 1009.
    client.send_text(&longest_escaped_frame("DE02", padding + 1)).await;
    assert_eq!(client.close_code().await, 1009);
}

#[tokio::test]
async fn a_draining_server_answers_503_with_retry_after_instead_of_refusing_connections() {
    let mut app = TestApp::spawn().await;
    let token = app.user("late").await;
    let (addr, ws_url) = (app.addr, app.ws_url(&format!("token={token}")));
    // A client of its own, without idle connections: the shutdown closes the server's idle ones.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    // A request in progress (its body not all sent) keeps the server draining.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{{\"username\""
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let probe = async {
        // Until the shutdown has begun the server answers as usual; from then on, 503.
        let deadline = Instant::now() + Duration::from_secs(3);
        let response = loop {
            let response = http
                .get(format!("http://{addr}/me"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap_or_else(|error| panic!("a connection during the drain failed: {error:?}"));
            if response.status() == 503 {
                break response;
            }
            assert_eq!(response.status(), 200);
            assert!(Instant::now() < deadline, "the server never started draining");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(response.headers().contains_key("retry-after"), "{:?}", response.headers());
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
        match tokio_tungstenite::connect_async(ws_url.as_str()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                assert!(response.headers().contains_key("retry-after"));
            }
            Ok(_) => panic!("a WebSocket opened during the drain"),
            Err(other) => panic!("the /ws handshake during the drain failed: {other}"),
        }
        // The request in progress is served to its end.
        drop(slow);
    };
    tokio::join!(app.shutdown(), probe);
}

const SECRET: &str = "sessions-test-secret-sessions-test-secret";

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// A token of `user_id` (token version 0) signed with [`SECRET`], expiring at `exp`.
fn token_expiring_at(user_id: i64, exp: u64) -> String {
    let claims = json!({"sub": user_id.to_string(), "iat": exp - 60, "exp": exp, "ver": 0});
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
}

/// Sleeps until the wall clock reads `at` (seconds since the epoch, fractional).
async fn sleep_until_wall(at: Duration) {
    tokio::time::sleep(at.saturating_sub(since_epoch())).await;
}

/// A token whose `exp` has just passed: within the second that starts at `exp` (where a check in
/// whole seconds still takes it).
async fn token_at_its_exp(user_id: i64) -> String {
    let exp = since_epoch().as_secs() + 1;
    let token = token_expiring_at(user_id, exp);
    sleep_until_wall(Duration::from_secs(exp) + Duration::from_millis(20)).await;
    token
}

/// The status of a `/ws` handshake with `?token=`.
async fn ws_status(app: &TestApp, token: &str) -> u16 {
    let request = app.ws_url(&format!("token={token}")).into_client_request().unwrap();
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// `POST` to a server function with the session cookie, as the page's JavaScript does.
async fn server_fn(app: &TestApp, path: &str, token: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("accept", "application/json")
        .header("cookie", format!("chatterbox_session={token}"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn renew_status(app: &TestApp, token: &str) -> u16 {
    app.http.post(app.url("/session/renew")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

/// The close code that ends `client` within `wait` (frames before it are skipped).
async fn closed_with(client: &mut Client, wait: Duration) -> Option<u16> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Message::Close(frame) = client.next_message(left).await? {
            return frame.map(|f| u16::from(f.code));
        }
    }
}

#[tokio::test]
async fn every_door_refuses_a_token_at_its_exp_exactly() {
    let app = TestApp::spawn_with(|c| c.jwt_secret = Some(SECRET.into())).await;
    let id = app.register("edge").await["id"].as_i64().unwrap();
    // The helpers sign what the server signs: a token well before its exp works everywhere.
    let valid = token_expiring_at(id, since_epoch().as_secs() + 3600);
    assert_eq!(app.get_json("/me", Some(&valid)).await.0, 200);

    // Each door gets a token of its own, used in the second that starts at its exp.
    assert_eq!(app.get_json("/me", Some(&token_at_its_exp(id).await)).await.0, 401, "GET /me");
    assert_eq!(renew_status(&app, &token_at_its_exp(id).await).await, 401, "POST /session/renew");
    assert_eq!(ws_status(&app, &token_at_its_exp(id).await).await, 401, "the /ws handshake");
    let token = token_at_its_exp(id).await;
    let response = server_fn(&app, "/api/admin/users", &token, &[("blocked_only", "false")]).await;
    assert_eq!(response.status().as_u16(), 401, "a server function");
}

#[tokio::test]
async fn a_socket_closes_at_its_tokens_exp_not_up_to_a_second_later() {
    let app = TestApp::spawn_with(|c| c.jwt_secret = Some(SECRET.into())).await;
    let id = app.register("brief").await["id"].as_i64().unwrap();
    // Opened late in a second (0.9 s past a whole second), with a token expiring two whole
    // seconds later: a lifetime counted in whole seconds would run 0.9 s past the exp.
    let exp = since_epoch().as_secs() + 3;
    let token = token_expiring_at(id, exp);
    sleep_until_wall(Duration::from_secs(exp - 2) + Duration::from_millis(900)).await;
    let (mut socket, _) = app.connect(&token).await;
    assert_eq!(closed_with(&mut socket, Duration::from_secs(5)).await, Some(4001));
    let closed = since_epoch();
    let exp = Duration::from_secs(exp);
    assert!(closed + Duration::from_millis(20) >= exp, "closed {:?} before its exp", exp - closed);
    assert!(closed < exp + Duration::from_millis(600), "closed {:?} after its exp", closed - exp);
}

/// Connects to `/ws` with the token in an `Authorization: Bearer` header (no query string).
async fn connect_with_bearer_header(app: &TestApp, token: &str) -> (Client, Value) {
    let mut request = app.ws_url("").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
    let mut client = Client { socket };
    let history = client.next_json().await;
    assert_eq!(history["type"], "history", "{history}");
    (client, history)
}

/// `POST /logout` with a bearer token.
async fn logout(app: &crate::common::endpoint::Endpoint, token: &str) -> u16 {
    app.http.post(app.url("/logout")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn logging_out_revokes_the_session_on_every_door_and_closes_its_sockets() {
    let app = TestApp::spawn().await;
    app.user("root").await;
    let token = app.user("leaver").await;
    // A renewal keeps the session: its token dies with it.
    let (status, grant) = app.post_as("/session/renew", Some(&token), &json!({})).await;
    assert_eq!(status, 200, "{grant}");
    let renewed = grant["access_token"].as_str().unwrap().to_owned();
    // Another login is another session, which the logout leaves alone.
    let other = app.login("leaver").await;
    let (mut first, _) = app.connect(&token).await;
    let (mut second, _) = connect_with_bearer_header(&app, &renewed).await;
    let (mut elsewhere, _) = app.connect(&other).await;

    let started = Instant::now();
    assert_eq!(logout(&app, &token).await, 204);
    for socket in [&mut first, &mut second] {
        assert_eq!(closed_with(socket, Duration::from_secs(5)).await, Some(4001));
        assert!(started.elapsed() < Duration::from_secs(1), "closed {:?} after the logout", started.elapsed());
    }
    for token in [&token, &renewed] {
        assert_eq!(app.get_json("/me", Some(token)).await.0, 401, "REST");
        assert_eq!(renew_status(&app, token).await, 401, "renew");
        assert_eq!(ws_status(&app, token).await, 401, "/ws");
        let response = server_fn(&app, "/api/auth/renew", token, &[]).await;
        assert_eq!(response.status().as_u16(), 401, "a server function");
        assert_eq!(logout(&app, token).await, 401, "a second logout");
    }

    // The other session is untouched, socket included.
    assert_eq!(app.get_json("/me", Some(&other)).await.1["username"], "leaver");
    elsewhere.say("still here").await;
    assert_eq!(elsewhere.until_type("message").await["content"], "still here");
    assert_eq!(logout(&app, "not-a-token").await, 401);
}

#[tokio::test]
async fn the_pages_logout_revokes_the_cookies_token() {
    let app = TestApp::spawn().await;
    app.register("pager").await;
    let response = app
        .http
        .post(app.url("/api/auth/login"))
        .header("accept", "text/html")
        .form(&[("username", "pager"), ("password", "password123")])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = cookie.split(';').next().unwrap().strip_prefix("chatterbox_session=").unwrap().to_owned();
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 200);
    let (mut socket, _) = app.connect(&token).await;

    let response = app
        .http
        .post(app.url("/api/auth/logout"))
        .header("accept", "text/html")
        .header("cookie", format!("chatterbox_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(response.headers()["location"], "/login");
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("chatterbox_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    // A copy of the cookie's token dies with the session.
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 401);
    assert_eq!(closed_with(&mut socket, Duration::from_secs(5)).await, Some(4001));

    // Logging out without a session (or with a dead one) still just signs the browser out.
    let again = app.http.post(app.url("/api/auth/logout")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(again.status().as_u16(), 302);
}

#[tokio::test]
async fn a_cookie_session_logs_out_over_rest_too() {
    let app = TestApp::spawn().await;
    let token = app.user("cookie").await;
    let response =
        app.http.post(app.url("/logout")).header("cookie", format!("chatterbox_session={token}")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 401);
    // From another site, a cookie cannot log anyone out.
    let victim = app.login("cookie").await;
    let response = app
        .http
        .post(app.url("/logout"))
        .header("cookie", format!("chatterbox_session={victim}"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.get_json("/me", Some(&victim)).await.0, 200);
}

#[tokio::test]
async fn a_logout_on_one_node_closes_the_sessions_sockets_on_the_other() {
    let cluster = Cluster::new().await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (mut socket, _) = connected(&b, "roamer").await;
    // The socket on `b` was opened with a token of another login; log that session out on `a`.
    let token = b.login("roamer").await;
    let (mut same, _) = b.connect(&token).await;
    let started = Instant::now();
    assert_eq!(logout(&a, &token).await, 204);
    assert_eq!(closed_with(&mut same, Duration::from_secs(5)).await, Some(4001));
    assert!(started.elapsed() < Duration::from_secs(1), "closed {:?} after the logout", started.elapsed());
    assert_eq!(b.get_json("/me", Some(&token)).await.0, 401);
    // The other session's socket on `b` stays open.
    socket.say("unaffected").await;
    assert_eq!(socket.until_type("message").await["content"], "unaffected");
}

#[tokio::test]
async fn malformed_frames_get_the_error_texts_docs_protocol_md_lists() {
    let app = TestApp::spawn().await;
    let token = app.user("sloppy").await;
    let (mut client, _) = app.connect(&token).await;
    let long = "x".repeat(app::domain::MAX_MESSAGE_CHARS + 1);
    let long_id = "c".repeat(app::protocol::MAX_CLIENT_ID_CHARS + 1);
    let cases = [
        ("nope".to_owned(), "invalid JSON"),
        ("{}".to_owned(), "frame has no type"),
        ("[1, 2]".to_owned(), "frame has no type"),
        (r#"{"type": 5}"#.to_owned(), "frame has no type"),
        (r#"{"type": "shout"}"#.to_owned(), "unknown frame type: shout"),
        (r#"{"type": "message"}"#.to_owned(), "invalid message frame: missing field `content`"),
        (
            r#"{"type": "message", "content": 5}"#.to_owned(),
            "invalid message frame: invalid type: integer `5`, expected a string",
        ),
        (
            r#"{"type": "message", "content": "hi", "room_id": "1"}"#.to_owned(),
            r#"invalid message frame: invalid type: string "1", expected i64"#,
        ),
        (
            r#"{"type": "typing", "room_id": 1.5}"#.to_owned(),
            "invalid typing frame: invalid type: floating point `1.5`, expected i64",
        ),
        (r#"{"type": "history"}"#.to_owned(), "invalid history frame: missing field `room_id`"),
        (r#"{"type": "message", "content": "   "}"#.to_owned(), "message is empty"),
        (format!(r#"{{"type": "message", "content": "{long}"}}"#), "message is longer than 4000 characters"),
        (
            format!(r#"{{"type": "message", "content": "hi", "client_id": "{long_id}"}}"#),
            "client_id is longer than 64 characters",
        ),
    ];
    for (frame, text) in cases {
        client.send_text(&frame).await;
        let answer = client.next_json().await;
        assert_eq!((answer["type"].as_str(), answer["message"].as_str()), (Some("error"), Some(text)), "{frame:.80}");
    }
}
