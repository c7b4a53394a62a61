//! The admin API over real HTTP: 401/403/200 on every route, the blocked filter, paging, CSV
//! downloads parsed back with a real CSV parser, block/unblock effects on sockets and logins, and
//! a large export streamed with bounded memory.

mod common;

use common::TestApp;
use serde_json::{json, Value};

const GET_ROUTES: &[&str] = &[
    "/admin/users",
    "/admin/users?blocked=true",
    "/admin/messages",
    "/admin/moderation",
    "/admin/overview",
    "/admin/download/users",
    "/admin/download/messages",
];

async fn status(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> u16 {
    let mut request = match method {
        "POST" => app.http.post(app.url(path)),
        _ => app.http.get(app.url(path)),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_route_is_401_403_or_200() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let user = app.user("plain").await;
    let target = app.register("target").await["id"].as_i64().unwrap();
    let posts = [format!("/admin/users/{target}/block"), format!("/admin/users/{target}/unblock")];
    for path in GET_ROUTES {
        assert_eq!(status(&app, "GET", path, None).await, 401, "{path}");
        assert_eq!(status(&app, "GET", path, Some("bad.token")).await, 401, "{path}");
        assert_eq!(status(&app, "GET", path, Some(&user)).await, 403, "{path}");
        assert_eq!(status(&app, "GET", path, Some(&admin)).await, 200, "{path}");
    }
    for path in &posts {
        assert_eq!(status(&app, "POST", path, None).await, 401, "{path}");
        assert_eq!(status(&app, "POST", path, Some(&user)).await, 403, "{path}");
        assert_eq!(status(&app, "POST", path, Some(&admin)).await, 200, "{path}");
    }
    assert_eq!(status(&app, "POST", "/admin/users/99999/block", Some(&admin)).await, 404);

    // A demoted admin is refused at once, with the same token.
    app.services.store.set_admin("root", false).await.unwrap();
    assert_eq!(status(&app, "GET", "/admin/users", Some(&admin)).await, 403);
}

#[tokio::test]
async fn users_list_has_no_secrets_and_filters_blocked() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    app.register("alice").await;
    let bob = app.register("bob").await["id"].as_i64().unwrap();
    app.http.post(app.url(&format!("/admin/users/{bob}/block"))).bearer_auth(&admin).send().await.unwrap();

    let (_, all) = app.get_json("/admin/users", Some(&admin)).await;
    let names: Vec<&str> = all.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["root", "alice", "bob"]);
    assert!(!all.to_string().contains("password") && !all.to_string().contains("$2"));
    for key in ["id", "username", "email", "is_admin", "is_blocked", "warning_count", "created_at"] {
        assert!(all[0].get(key).is_some(), "{key}");
    }
    let (_, blocked) = app.get_json("/admin/users?blocked=true", Some(&admin)).await;
    assert_eq!(blocked.as_array().unwrap().len(), 1);
    assert_eq!(blocked[0]["username"], "bob");
}

#[tokio::test]
async fn messages_and_moderation_are_paged_newest_first() {
    let app = TestApp::spawn_with(|c| c.flood_burst = 1000).await;
    let admin = app.user("root").await;
    let (mut client, _) = app.connect(&admin).await;
    for i in 0..25 {
        client.say(&format!("msg {i}")).await;
        client.next_json().await;
    }
    let (status, page) = app.get_json("/admin/messages?limit=10", Some(&admin)).await;
    assert_eq!(status, 200);
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(page[0]["content"], "msg 24");
    for key in ["id", "sender_id", "username", "content", "timestamp"] {
        assert!(page[0].get(key).is_some(), "{key}");
    }
    let last = page[9]["id"].as_i64().unwrap();
    let (_, next) = app.get_json(&format!("/admin/messages?limit=10&before={last}"), Some(&admin)).await;
    assert_eq!(next[0]["content"], "msg 14");
    let (_, default_page) = app.get_json("/admin/messages", Some(&admin)).await;
    assert_eq!(default_page.as_array().unwrap().len(), 25);
    assert_eq!(app.get_json("/admin/messages?limit=1001", Some(&admin)).await.0, 400);

    let user = app.user("potty").await;
    let (mut potty, _) = app.connect(&user).await;
    potty.say("oh shit").await;
    potty.until_type("warning").await;
    let (_, log) = app.get_json("/admin/moderation", Some(&admin)).await;
    assert_eq!(log[0]["username"], "potty");
    assert_eq!(log[0]["content"], "oh shit");
    assert_eq!(log[0]["warning_count"], 1);
    let (_, overview) = app.get_json("/admin/overview", Some(&admin)).await;
    assert_eq!(overview, json!({"users": 2, "blocked": 0, "messages_today": 25, "violations_today": 1}));
}

#[tokio::test]
async fn block_closes_sockets_and_unblock_restores_login_and_chat() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let user = app.register("victim").await["id"].as_i64().unwrap();
    let token = app.login("victim").await;
    let (mut socket, _) = app.connect(&token).await;
    // Two warnings first, so the unblock's reset shows.
    for _ in 0..2 {
        socket.say("shit").await;
        socket.until_type("warning").await;
    }
    let response = app.http.post(app.url(&format!("/admin/users/{user}/block"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["is_blocked"], true);
    assert_eq!(socket.close_code().await, 1008);
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 403);
    let (login, _) = app.post_json("/login", &json!({"username": "victim", "password": "password123"})).await;
    assert_eq!(login, 403);

    let response = app.http.post(app.url(&format!("/admin/users/{user}/unblock"))).bearer_auth(&admin).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["is_blocked"], false);
    assert_eq!(body["warning_count"], 0);
    // The old token stays revoked; a fresh login works and can chat.
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 401);
    let fresh = app.login("victim").await;
    let (mut again, _) = app.connect(&fresh).await;
    again.say("I am back").await;
    assert_eq!(again.until_type("message").await["content"], "I am back");

    let audit: Vec<(String, i64)> = sqlx::query_as("SELECT action, target_user_id FROM audit_log ORDER BY id")
        .fetch_all(app.services.store.reader())
        .await
        .unwrap();
    assert_eq!(audit, vec![("block".into(), user), ("unblock".into(), user)]);
}

#[tokio::test]
async fn csv_downloads_parse_back_and_neutralise_formulas() {
    let app = TestApp::spawn_with(|c| c.flood_burst = 1000).await;
    let admin = app.user("root").await;
    app.register("-minus").await;
    let (mut client, _) = app.connect(&admin).await;
    let tricky = [
        "=HYPERLINK(\"http://evil\")",
        "+1+1",
        "-2",
        "@SUM(A1)",
        "\tindented",
        "comma, separated",
        "a \"quoted\" word",
        "two\nlines",
        "naïve café 日本語 🎉",
        "plain",
    ];
    for text in tricky {
        client.say(text).await;
        client.next_json().await;
    }
    let response = app.http.get(app.url("/admin/download/messages")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename="), "{disposition}");
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["id", "sender_id", "username", "content", "timestamp", "room"]);
    let contents: Vec<String> = reader.records().map(|r| r.unwrap()[3].to_string()).collect();
    let expected: Vec<String> = tricky
        .iter()
        .map(|t| if t.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{t}") } else { t.to_string() })
        .collect();
    assert_eq!(contents, expected);

    let users = app.http.get(app.url("/admin/download/users")).bearer_auth(&admin).send().await.unwrap().text().await.unwrap();
    let mut reader = csv::Reader::from_reader(users.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["id", "username", "email", "is_admin", "is_blocked", "warning_count", "created_at"]);
    let names: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_string()).collect();
    assert_eq!(names, vec!["root".to_string(), "'-minus".to_string()], "a leading minus is neutralised");
    assert!(!users.contains("$2"), "no password hashes in the export");
}

#[tokio::test]
async fn a_100k_message_export_streams() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let record = app.services.store.find_login("root").await.unwrap().unwrap();
    for chunk in 0..100 {
        let batch: Vec<_> = (0..1000)
            .map(|i| server::store::NewMessage {
                sender_id: record.public.id,
                username: "root".into(),
                content: format!("bulk message {chunk}-{i} with some padding to make rows longer"),
                client_id: None,
            })
            .collect();
        app.services.store.insert_batch(&batch).await.unwrap();
    }
    let mut response = app.http.get(app.url("/admin/download/messages")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // Read it chunk by chunk: the body arrives in many pieces (streamed), not one buffer.
    let (mut bytes, mut chunks, mut biggest) = (0usize, 0usize, 0usize);
    let mut tail = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        chunks += 1;
        biggest = biggest.max(chunk.len());
        tail = chunk.to_vec();
    }
    let lines_estimate = bytes / 80;
    assert!(lines_estimate > 50_000, "{bytes} bytes");
    assert!(chunks > 100, "streamed in {chunks} chunks");
    assert!(biggest < 1024 * 1024, "no chunk near the whole export: {biggest}");
    assert!(String::from_utf8_lossy(&tail).contains("bulk message 99-999"));
}

#[tokio::test]
async fn admin_server_functions_check_the_role_too() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let user = app.user("plain").await;
    let call = |token: Option<String>| {
        let mut request = app
            .http
            .post(app.url("/api/admin/users"))
            .header("accept", "application/json")
            .form(&[("blocked_only", "false")]);
        if let Some(token) = token {
            request = request.header("cookie", format!("chatterbox_session={token}"));
        }
        request.send()
    };
    assert_eq!(call(None).await.unwrap().status().as_u16(), 401);
    assert_eq!(call(Some(user)).await.unwrap().status().as_u16(), 403);
    let ok = call(Some(admin)).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let users: Value = ok.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
}
