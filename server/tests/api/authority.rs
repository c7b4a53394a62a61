//! Authority after the handshake (issue 13, holes 1 and 2): open sockets follow their account
//! (block, password change, role change, expiry) within a second, with documented close codes;
//! no ordering of handshake and block lets a socket post after the block; sessions renew up to
//! their maximum age; sockets are capped per account and in all; history frames are bounded in
//! bytes and continue with `GET /messages?after=`. Real HTTP, real WebSockets, and the real
//! `server admin` binary writing to the same database from another process.

use crate::common::{Client, TestApp, BUSY_MARGIN};
use futures::StreamExt;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

/// Runs `server admin ARGS` against the test's database, as an operator would from a shell.
fn admin_command(app: &TestApp, args: &[&str], stdin: &str) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("admin")
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("CHATTERBOX_CONFIG", "/dev/null")
        .env("CHATTERBOX_BCRYPT_COST", "4")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("server admin runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "server admin {args:?}");
}

/// The close code that ends `client` within `wait` (text frames before it are skipped).
async fn closed_with(client: &mut Client, wait: Duration) -> Option<u16> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_message(left).await? {
            Message::Close(frame) => return frame.map(|f| u16::from(f.code)),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn a_password_reset_from_another_process_ends_every_open_socket_within_a_second() {
    let app = TestApp::spawn().await;
    app.user("root").await;
    let token = app.user("victim").await;
    let (mut first, _) = app.connect(&token).await;
    let (mut second, _) = app.connect(&token).await;
    admin_command(&app, &["set-password", "victim"], "a-brand-new-password\n");
    let changed = Instant::now();
    for socket in [&mut first, &mut second] {
        let code = closed_with(socket, Duration::from_secs(5)).await;
        assert_eq!(code, Some(4001), "the stolen token's socket is closed as a session that ended");
        // Documented: within a second.
        let bound = Duration::from_secs(1) + BUSY_MARGIN;
        assert!(changed.elapsed() <= bound, "closed {:?} after the reset", changed.elapsed());
    }
    // The old token opens nothing any more.
    let refused = app
        .ws_refusal(
            tungstenite::client::IntoClientRequest::into_client_request(app.ws_url(&format!("token={token}"))).unwrap(),
        )
        .await;
    assert_eq!(refused, 401);
}

#[tokio::test]
async fn a_role_change_from_another_process_closes_the_socket_to_reconnect() {
    let app = TestApp::spawn().await;
    let root = app.user("root").await;
    let (mut socket, _) = app.connect(&root).await;
    admin_command(&app, &["demote", "root"], "");
    let changed = Instant::now();
    assert_eq!(closed_with(&mut socket, Duration::from_secs(5)).await, Some(4002));
    let bound = Duration::from_secs(1) + BUSY_MARGIN;
    assert!(changed.elapsed() <= bound, "closed {:?} after the demotion", changed.elapsed());
    // The session itself still holds: the client reconnects as a member.
    let (_again, history) = app.connect(&root).await;
    assert_eq!(history["type"], "history");
    let (status, me) = app.get_json("/me", Some(&root)).await;
    assert_eq!((status, me["is_admin"].as_bool()), (200, Some(false)));
}

#[tokio::test]
async fn an_expired_token_closes_a_socket_kept_alive_by_pings() {
    let app = TestApp::spawn_with(|c| {
        c.token_ttl_secs = 2;
        c.ping_interval_secs = 1;
    })
    .await;
    let token = app.user("brief").await;
    let opened = Instant::now();
    let (mut socket, _) = app.connect(&token).await;
    // Pings keep it alive (the client answers them) until the token expires.
    let code = closed_with(&mut socket, Duration::from_secs(6)).await;
    assert_eq!(code, Some(4001));
    let lived = opened.elapsed();
    assert!(lived >= Duration::from_millis(900) && lived <= Duration::from_secs(3), "closed after {lived:?}");
}

#[tokio::test]
async fn a_block_racing_handshakes_leaves_no_socket_that_can_post() {
    let app = TestApp::spawn_with(|c| {
        c.max_sockets_per_account = 10_000;
        c.flood_burst = 100_000;
        c.flood_per_sec = 100_000.0;
    })
    .await;
    let admin = app.user("root").await;
    let watcher = app.user("watcher").await;
    let token = app.user("mallory").await;
    let mallory_id = app.get_json("/me", Some(&token)).await.1["id"].as_i64().unwrap();
    let (mut observer, _) = app.connect(&watcher).await;

    // Eight threads open sockets in a loop until the handshake is refused; meanwhile, the block.
    let opened: Arc<Mutex<Vec<crate::common::Socket>>> = Arc::default();
    let mut openers = Vec::new();
    for _ in 0..8 {
        let (url, opened) = (app.ws_url(&format!("token={token}")), opened.clone());
        openers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                match tokio_tungstenite::connect_async(url.as_str()).await {
                    Ok((socket, _)) => opened.lock().unwrap().push(socket),
                    Err(tungstenite::Error::Http(response)) => {
                        assert_eq!(response.status().as_u16(), 403, "refused as blocked");
                        return;
                    }
                    Err(other) => panic!("unexpected handshake error: {other}"),
                }
            }
            panic!("handshakes never refused after the block");
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response =
        app.http.post(app.url(&format!("/admin/users/{mallory_id}/block"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), 200);
    for opener in openers {
        opener.await.unwrap();
    }

    // Every socket that was opened tries to post; each must end with 1008 and none may post.
    let sockets = std::mem::take(&mut *opened.lock().unwrap());
    assert!(!sockets.is_empty(), "some sockets opened before the block");
    let mut checks = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        checks.push(tokio::spawn(async move {
            let mut client = Client { socket };
            let frame =
                json!({"type": "message", "content": format!("after the block {i}"), "client_id": format!("late-{i}")});
            let _ = futures::SinkExt::send(&mut client.socket, Message::text(frame.to_string())).await;
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match client.next_message(left).await {
                    Some(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                    Some(Message::Text(text)) => {
                        let value: Value = serde_json::from_str(text.as_str()).unwrap();
                        assert_ne!(
                            value["type"], "message",
                            "a blocked socket received a broadcast of its own post: {value}"
                        );
                    }
                    Some(_) => {}
                    None => return None,
                }
            }
        }));
    }
    for check in checks {
        assert_eq!(check.await.unwrap(), Some(1008), "every surviving socket is closed as blocked");
    }
    for frame in observer.drain_json(Duration::from_millis(500)).await {
        assert_ne!(frame["username"], "mallory", "a blocked account's post was broadcast: {frame}");
    }
    let count = app.db().await.number(&format!("SELECT COUNT(*) FROM messages WHERE sender_id = {mallory_id}")).await;
    assert_eq!(count, 0, "no message of the blocked account was stored");
}

#[tokio::test]
async fn sessions_renew_until_their_maximum_age() {
    let app = TestApp::spawn_with(|c| c.session_max_age_secs = 3).await;
    let token = app.user("keeper").await;
    let renew = |bearer: Option<String>, cookie: Option<String>| {
        let mut request = app.http.post(app.url("/session/renew"));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(token) = cookie {
            request = request.header("cookie", format!("chatterbox_session={token}"));
        }
        request.send()
    };
    let response = renew(Some(token.clone()), None).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none(), "an API client gets no cookie");
    let grant: Value = response.json().await.unwrap();
    assert!(grant["expires_in"].as_u64().unwrap() <= 3, "never past the session's maximum age: {grant}");
    let renewed = grant["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_json("/me", Some(&renewed)).await.1["username"], "keeper");

    // A browser session renews its cookie.
    let response = renew(None, Some(renewed.clone())).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("chatterbox_session=") && cookie.contains("HttpOnly"), "{cookie}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["expires_in"].as_u64().is_some() && body.get("access_token").is_none(),
        "no token for scripts: {body}"
    );

    // Past the maximum age, the session ends for good.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let response = renew(Some(token), None).await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string());
    assert_eq!(renew(None, None).await.unwrap().status(), 401);
}

#[tokio::test]
async fn sockets_are_capped_per_account_and_in_all() {
    let app = TestApp::spawn_with(|c| {
        c.max_sockets_per_account = 2;
        c.max_sockets = 3;
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let refusal = |token: &str| {
        let url = app.ws_url(&format!("token={token}"));
        async move {
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok(_) => panic!("handshake unexpectedly succeeded"),
                Err(tungstenite::Error::Http(response)) => {
                    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
                    (response.status().as_u16(), retry_after, body)
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
    };
    let (a1, _) = app.connect(&alice).await;
    let (_a2, _) = app.connect(&alice).await;
    let (status, retry_after, body) = refusal(&alice).await;
    assert_eq!((status, retry_after.is_some()), (429, true), "{body}");
    assert!(body["error"].is_string());
    let (_b1, _) = app.connect(&bob).await;
    let (status, retry_after, body) = refusal(&bob).await;
    assert_eq!((status, retry_after.is_some()), (503, true), "{body}");
    // A closed socket frees its place.
    let mut a1 = a1;
    a1.socket.close(None).await.unwrap();
    while a1.socket.next().await.is_some() {}
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.services.hub().connection_count() > 2 {
        assert!(Instant::now() < deadline, "the closed socket is still counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_b2, history) = app.connect(&bob).await;
    assert_eq!(history["type"], "history");
}

#[tokio::test]
async fn catch_up_is_bounded_in_bytes_and_continues_with_get_messages_after() {
    let app = TestApp::spawn().await;
    let token = app.user("reader").await;
    let sender_id = app.get_json("/me", Some(&token)).await.1["id"].as_i64().unwrap();
    let batch: Vec<server::store::NewMessage> = (0..100)
        .map(|i| server::store::NewMessage {
            sender_id,
            username: "reader".into(),
            room_id: app::protocol::GENERAL_ROOM_ID,
            room: "general".into(),
            content: format!("{i:03} {}", "y".repeat(16_000)),
            client_id: None,
            ..Default::default()
        })
        .collect();
    app.services.store().insert_batch(&batch).await.unwrap();

    let (mut client, history) = app.connect_query(&format!("token={token}&since=0")).await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(history["more"], true, "1.6 MB of history does not fit one frame");
    assert!(!messages.is_empty() && messages.len() < 100);
    let frame_bytes = history.to_string().len();
    assert!(frame_bytes <= app::protocol::HISTORY_MAX_BYTES + 1024, "history frame of {frame_bytes} bytes");
    // A fresh connection's newest page is bounded the same way.
    let (_fresh, latest) = app.connect(&token).await;
    assert!(latest.to_string().len() <= app::protocol::HISTORY_MAX_BYTES + 1024);
    assert!(latest["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().starts_with("099"));

    // The rest, oldest first, a page at a time.
    let mut seen: Vec<i64> = messages.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    loop {
        let after = *seen.last().unwrap();
        let (status, page) = app.get_json(&format!("/messages?after={after}&limit=30"), Some(&token)).await;
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|m| m["id"].as_i64().unwrap()));
    }
    assert_eq!(seen.len(), 100);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "oldest first, no gap, no duplicate");
    let (status, body) = app.get_json("/messages?after=1&before=5", Some(&token)).await;
    assert_eq!(status, 400, "{body}");
    // The live feed goes on after a capped catch-up.
    client.say("live").await;
    assert_eq!(client.until_type("message").await["content"], "live");
}

#[tokio::test]
async fn every_error_frame_echoes_the_refused_frames_client_id() {
    let app = TestApp::spawn().await;
    let token = app.user("sloppy").await;
    let (mut client, _) = app.connect(&token).await;
    let frames = [
        json!({"type": "message", "client_id": "no-content"}),
        json!({"type": "message", "content": 42, "client_id": "number-content"}),
        json!({"content": "no type", "client_id": "no-type"}),
        json!({"type": "shout", "content": "x", "client_id": "unknown-type"}),
        json!({"type": "message", "content": "   ", "client_id": "blank"}),
        json!({"type": "message", "content": "x", "client_id": "c".repeat(65)}),
    ];
    for frame in frames {
        client.send_json(&frame).await;
        let answer = client.until_type("error").await;
        assert_eq!(answer["client_id"], frame["client_id"], "{frame} -> {answer}");
        assert!(answer["message"].is_string());
    }
    // Still open and working.
    client.send_json(&json!({"type": "message", "content": "fine", "client_id": "ok"})).await;
    assert_eq!(client.outcome_of("ok", Duration::from_secs(5)).await.unwrap()["content"], "fine");
}
