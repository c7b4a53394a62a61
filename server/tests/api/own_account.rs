//! Accounts people control (docs/api.md, "Your account"): changing the password, exporting
//! one's data, deleting the account (anonymised or erased), and the audit log that shows it.

use crate::common::TestApp;
use serde_json::{json, Value};
use server::config::AccountDeletion;

/// `method path` with `token` and a JSON body: status, headers and body text.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = app.http.request(method, app.url(path)).bearer_auth(token).json(body).send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session_and_gives_the_asker_a_fresh_one() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    let other_session = app.login("alice").await;
    let (mut socket, _) = app.connect(&other_session).await;

    let wrong =
        call(&app, "POST", "/me/password", &token, &json!({"current": "nope-nope", "new": "brand-new-pass"})).await;
    assert_eq!(wrong.0, 401, "{}", wrong.2);
    assert!(serde_json::from_str::<Value>(&wrong.2).unwrap()["error"].is_string());
    let weak = call(&app, "POST", "/me/password", &token, &json!({"current": "password123", "new": "short"})).await;
    assert_eq!(weak.0, 422, "{}", weak.2);
    let missing = call(&app, "POST", "/me/password", &token, &json!({"current": "password123"})).await;
    assert_eq!(missing.0, 422, "{}", missing.2);
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 200, "refusals change nothing");

    let (status, headers, body) =
        call(&app, "POST", "/me/password", &token, &json!({"current": "password123", "new": "brand-new-pass"})).await;
    assert_eq!(status, 204, "{body}");
    let fresh = headers["x-access-token"].to_str().unwrap().to_owned();
    assert!(headers["x-expires-in"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(socket.close_code().await, 4001, "the other session's socket ends");
    for old in [&token, &other_session] {
        assert_eq!(app.get_json("/me", Some(old)).await.0, 401);
    }
    assert_eq!(app.get_json("/me", Some(&fresh)).await.1["username"], "alice");
    let (status, _) = app.post_json("/login", &json!({"username": "alice", "password": "password123"})).await;
    assert_eq!(status, 401);
    let (status, _) = app.post_json("/login", &json!({"username": "alice", "password": "brand-new-pass"})).await;
    assert_eq!(status, 200);
    assert_eq!(app.post_json("/me/password", &json!({"current": "a", "new": "b"})).await.0, 401, "needs a session");
}

#[tokio::test]
async fn a_cookie_session_gets_its_fresh_session_as_a_cookie() {
    let app = TestApp::spawn().await;
    let token = app.user("carol").await;
    let response = app
        .http
        .post(app.url("/me/password"))
        .header("cookie", format!("chatterbox_session={token}"))
        .header("origin", format!("http://{}", app.addr))
        .json(&json!({"current": "password123", "new": "another-pass-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert!(response.headers().get("x-access-token").is_none(), "a page's script never sees the token");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("chatterbox_session=") && cookie.contains("HttpOnly"), "{cookie}");
    let fresh = cookie.trim_start_matches("chatterbox_session=").split(';').next().unwrap();
    assert_eq!(app.get_json("/me", Some(fresh)).await.0, 200);
}

#[tokio::test]
async fn the_export_holds_the_account_its_messages_rooms_and_ignores_and_is_throttled() {
    let app = TestApp::spawn_with(|config| config.operations.exports_per_day = 2).await;
    let token = app.user("dora").await;
    app.user("eve").await;
    let room = app.private_room(&token, "plans", &["eve"]).await;
    assert_eq!(app.post_as("/ignores", Some(&token), &json!({"username": "eve"})).await.0, 204);
    let (mut socket, _) = app.connect(&token).await;
    socket.say("in general").await;
    socket.until_type("message").await;
    socket.send_json(&json!({"type": "message", "content": "in the room", "room_id": room})).await;
    socket.until_type("message").await;

    let response = app.http.get(app.url("/me/export")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let text = response.text().await.unwrap();
    assert!(!text.contains("$2") && !text.contains("password"), "no hash in the export");
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["user"]["username"], "dora");
    assert_eq!(export["ignores"], json!(["eve"]));
    assert_eq!(export["uploads"], json!([]));
    let rooms: Vec<&str> = export["rooms"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(rooms.contains(&"general") && rooms.contains(&"plans"), "{rooms:?}");
    let messages: Vec<(&str, &str)> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["content"].as_str().unwrap(), m["room"].as_str().unwrap()))
        .collect();
    assert_eq!(messages, [("in general", "general"), ("in the room", "plans")]);

    assert_eq!(app.http.get(app.url("/me/export")).bearer_auth(&token).send().await.unwrap().status(), 200);
    let third = app.http.get(app.url("/me/export")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(third.status().as_u16(), 429);
    assert!(third.headers().contains_key("retry-after"));
    assert_eq!(app.get_json("/me/export", None).await.0, 401);
}

#[tokio::test]
async fn deleting_the_account_ends_it_everywhere_and_anonymises_its_messages() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let token = app.user("frank").await;
    let reader = app.user("gina").await;
    let room = app.private_room(&token, "frankroom", &["gina"]).await;
    let (mut socket, _) = app.connect(&token).await;
    socket.say("remember me").await;
    let sent = socket.until_type("message").await;

    assert_eq!(call(&app, "DELETE", "/me", &token, &json!({"password": "wrong-one"})).await.0, 401);
    assert_eq!(call(&app, "DELETE", "/me", &token, &json!({})).await.0, 422);
    let only_admin = call(&app, "DELETE", "/me", &admin, &json!({"password": "password123"})).await;
    assert_eq!(only_admin.0, 409, "{}", only_admin.2);
    assert!(only_admin.2.contains("only admin"), "{}", only_admin.2);

    let (status, _, body) = call(&app, "DELETE", "/me", &token, &json!({"password": "password123"})).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(socket.close_code().await, 4001);
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 401);
    let (status, _) = app.post_json("/login", &json!({"username": "frank", "password": "password123"})).await;
    assert_eq!(status, 401);

    // The message stays, from "deleted user N"; the room lost its member.
    let (status, history) = app.get_json("/messages", Some(&reader)).await;
    assert_eq!(status, 200);
    let kept = history.as_array().unwrap().iter().find(|m| m["id"] == sent["id"]).expect("kept").clone();
    assert_eq!(kept["content"], "remember me");
    assert_eq!(kept["username"], format!("deleted user {}", kept["sender_id"]));
    let (_, members) = app.get_json(&format!("/rooms/{room}/members"), Some(&reader)).await;
    assert!(!members.to_string().contains("frank") && !members.to_string().contains("deleted user"), "{members}");

    // The username stays taken for the hold period; the email is free at once.
    let (status, body) = app
        .post_json("/register", &json!({"username": "Frank", "email": "new@example.com", "password": "password123"}))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = app
        .post_json("/register", &json!({"username": "franky", "email": "frank@example.com", "password": "password123"}))
        .await;
    assert_eq!(status, 201, "{body}");

    // Admins see it in the audit log; others may not read it.
    let (status, audit) = app.get_json("/admin/audit", Some(&admin)).await;
    assert_eq!(status, 200, "{audit}");
    let entry = audit.as_array().unwrap().iter().find(|e| e["action"] == "delete_account").expect("audited").clone();
    assert_eq!(entry["reason"], "frank (anonymise)");
    assert_eq!(entry["actor_id"], kept["sender_id"]);
    assert_eq!(app.get_json("/admin/audit", Some(&reader)).await.0, 403);
    assert_eq!(call(&app, "DELETE", "/me", &token, &json!({"password": "password123"})).await.0, 401, "once");
}

#[tokio::test]
async fn with_no_hold_the_username_is_free_at_once_and_an_admin_with_another_admin_may_leave() {
    let app = TestApp::spawn_with(|config| config.operations.deleted_username_hold_days = 0).await;
    let root = app.user("root").await;
    app.register("second").await;
    // Promotion has no door (it is `server admin promote`): the database, as that command does.
    app.db().await.execute("UPDATE users SET is_admin = TRUE WHERE username = 'second'").await;
    let (status, _, body) = call(&app, "DELETE", "/me", &root, &json!({"password": "password123"})).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(app.register("root").await["username"], "root");
}

#[tokio::test]
async fn erasing_deletes_the_messages_for_every_reader() {
    let app = TestApp::spawn_with(|config| config.operations.account_deletion = AccountDeletion::Erase).await;
    app.user("root").await;
    let token = app.user("hana").await;
    let reader = app.user("ivan").await;
    let (mut socket, _) = app.connect(&token).await;
    socket.say("erase me").await;
    let sent = socket.until_type("message").await;
    socket.say("and me").await;
    socket.until_type("message").await;
    let (mut watcher, _) = app.connect(&reader).await;

    let (status, _, body) = call(&app, "DELETE", "/me", &token, &json!({"password": "password123"})).await;
    assert_eq!(status, 204, "{body}");
    let deleted = watcher.until_type("deleted").await;
    assert_eq!(deleted["id"], sent["id"]);
    let (_, history) = app.get_json("/messages", Some(&reader)).await;
    let mine: Vec<&Value> =
        history.as_array().unwrap().iter().filter(|m| m["sender_id"] == sent["sender_id"]).collect();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|m| m["deleted"] == true && m["content"] == ""), "{mine:?}");
    let versions = app
        .db()
        .await
        .number(&format!("SELECT COUNT(*) FROM message_versions WHERE message_id = {}", sent["id"]))
        .await;
    assert_eq!(versions, 0, "no earlier text kept");
}
