//! The admin API over real HTTP: 401/403/200 on every route, the blocked filter, paging, CSV
//! downloads parsed back with a real CSV parser, block/unblock effects on sockets and logins, and
//! a large export streamed in bounded memory (measured in the server process).

use crate::common::process::Node;
use crate::common::TestApp;
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
    app.services.store().set_admin("root", false).await.unwrap();
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
    let response =
        app.http.post(app.url(&format!("/admin/users/{user}/block"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["is_blocked"], true);
    assert_eq!(socket.close_code().await, 1008);
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 403);
    let (login, _) = app.post_json("/login", &json!({"username": "victim", "password": "password123"})).await;
    assert_eq!(login, 403);

    let response =
        app.http.post(app.url(&format!("/admin/users/{user}/unblock"))).bearer_auth(&admin).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["is_blocked"], false);
    assert_eq!(body["warning_count"], 0);
    // The old token stays revoked; a fresh login works and can chat.
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 401);
    let fresh = app.login("victim").await;
    let (mut again, _) = app.connect(&fresh).await;
    again.say("I am back").await;
    assert_eq!(again.until_type("message").await["content"], "I am back");

    let audit: Vec<(String, i64)> =
        app.db().await.rows("SELECT action, target_user_id FROM audit_log ORDER BY id").await;
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
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "sender_id",
            "username",
            "content",
            "timestamp",
            "room",
            "room_id",
            "room_kind",
            "removed",
            "edited_at",
            "deleted",
            "attachments"
        ]
    );
    let contents: Vec<String> = reader.records().map(|r| r.unwrap()[3].to_string()).collect();
    let expected: Vec<String> = tricky
        .iter()
        .map(|t| if t.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{t}") } else { t.to_string() })
        .collect();
    assert_eq!(contents, expected);

    let users =
        app.http.get(app.url("/admin/download/users")).bearer_auth(&admin).send().await.unwrap().text().await.unwrap();
    let mut reader = csv::Reader::from_reader(users.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "username", "email", "is_admin", "is_blocked", "warning_count", "created_at"]
    );
    let names: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_string()).collect();
    assert_eq!(names, vec!["root".to_string(), "'-minus".to_string()], "a leading minus is neutralised");
    assert!(!users.contains("$2"), "no password hashes in the export");
}

/// Streams 100k messages (about 45 MB of CSV) from the real server binary and measures the
/// server's own memory while it does: its peak resident size may grow by a fraction of the
/// export only, so the export is streamed and never held whole (the client's view, how many
/// chunks arrive, says nothing about what the server buffered).
#[tokio::test]
async fn a_100k_message_export_streams_in_bounded_server_memory() {
    const ROWS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::common::test_database(dir.path());
    let server = Node::start(&[("DATABASE_URL", database_url.clone())]).await;
    let root = server.register("root").await["id"].as_i64().unwrap();
    let admin = server.login("root").await;
    // The rows go in through the store's own batch insert, from this process, beside the server.
    let store =
        server::store::Store::open(&database_url, &server::store::StoreOptions::new(1, "NORMAL")).await.unwrap();
    let padding = "p".repeat(400);
    for chunk in 0..ROWS / 1000 {
        let batch: Vec<_> = (0..1000)
            .map(|i| server::store::NewMessage {
                sender_id: root,
                username: "root".into(),
                room_id: app::protocol::GENERAL_ROOM_ID,
                room: "general".into(),
                content: format!("bulk message {chunk}-{i} {padding}"),
                client_id: None,
                ..Default::default()
            })
            .collect();
        store.insert_batch(&batch).await.unwrap();
    }
    drop(store);

    // Warm up (the first download allocates what every download reuses), then measure.
    let warm = server.http.get(server.url("/admin/download/users")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(warm.status().as_u16(), 200);
    warm.bytes().await.unwrap();
    let (before, _) = server.memory();
    server.reset_peak_memory();
    let mut response =
        server.http.get(server.url("/admin/download/messages")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (mut bytes, mut lines, mut tail) = (0usize, 0usize, Vec::new());
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
        tail = chunk.to_vec();
    }
    let (_, peak) = server.memory();
    let growth = peak.saturating_sub(before);
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    eprintln!(
        "export of {ROWS} rows, {:.1} MiB: server resident {:.1} MiB before, peak {:.1} MiB during (+{:.1} MiB)",
        mib(bytes as u64),
        mib(before),
        mib(peak),
        mib(growth)
    );
    assert_eq!(lines, ROWS + 1, "a header and every row");
    assert!(String::from_utf8_lossy(&tail).contains(&format!("bulk message {}-999 ", ROWS / 1000 - 1)));
    assert!(bytes > 40 * 1024 * 1024, "{bytes} bytes");
    assert!(
        growth < bytes as u64 / 2,
        "the server's peak memory grew by {:.1} MiB during a {:.1} MiB export",
        mib(growth),
        mib(bytes as u64)
    );
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

#[tokio::test]
async fn users_are_paged_by_an_id_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let store = &app.services.store();
    let mut ids = vec![store.find_login("root").await.unwrap().unwrap().public.id];
    let mut blocked_ids = Vec::new();
    for i in 0..249 {
        let user = store.create_user(&format!("user{i:03}"), &format!("user{i:03}@example.com"), "h").await.unwrap();
        if i % 10 == 3 {
            store.block_user(user.id).await.unwrap();
            blocked_ids.push(user.id);
        }
        ids.push(user.id);
    }
    let page_ids =
        |page: &Value| page.as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect::<Vec<_>>();

    let (status, first) = app.get_json("/admin/users", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(page_ids(&first), ids[..100], "default page: the first 100 by id");
    let (_, everything) = app.get_json("/admin/users?limit=1000", Some(&admin)).await;
    assert_eq!(page_ids(&everything), ids);

    // Follow the cursor: each page starts after the last id of the previous one.
    let (mut seen, mut sizes, mut after) = (Vec::new(), Vec::new(), None::<i64>);
    loop {
        let path = match after {
            Some(id) => format!("/admin/users?limit=70&after={id}"),
            None => "/admin/users?limit=70".to_string(),
        };
        let (status, page) = app.get_json(&path, Some(&admin)).await;
        assert_eq!(status, 200, "{path}: {page}");
        let page = page_ids(&page);
        sizes.push(page.len());
        let Some(last) = page.last().copied() else { break };
        seen.extend(page);
        after = Some(last);
    }
    assert_eq!(sizes, vec![70, 70, 70, 40, 0]);
    assert_eq!(seen, ids, "every user once, in id order");

    // The blocked filter pages the same way.
    let (_, blocked_first) = app.get_json("/admin/users?blocked=true&limit=10", Some(&admin)).await;
    assert_eq!(page_ids(&blocked_first), blocked_ids[..10]);
    let path = format!("/admin/users?blocked=true&limit=100&after={}", blocked_ids[9]);
    let (_, blocked_rest) = app.get_json(&path, Some(&admin)).await;
    assert_eq!(page_ids(&blocked_rest), blocked_ids[10..]);

    for bad in ["limit=0", "limit=1001", "limit=-5", "limit=abc", "after=-1", "after=x", "blocked=maybe"] {
        let response = app.http.get(app.url(&format!("/admin/users?{bad}"))).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().is_some(), "{bad}: {body}");
    }

    // The admin page's server function pages by the same rule.
    let call = |fields: Vec<(&'static str, String)>| {
        app.http
            .post(app.url("/api/admin/users"))
            .header("accept", "application/json")
            .header("cookie", format!("chatterbox_session={admin}"))
            .form(&fields)
            .send()
    };
    let response = call(vec![("blocked_only", "false".into()), ("limit", "70".into())]).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(page_ids(&response.json::<Value>().await.unwrap()), ids[..70]);
    let fields = vec![("blocked_only", "false".into()), ("after", ids[69].to_string()), ("limit", "70".into())];
    let response = call(fields).await.unwrap();
    assert_eq!(page_ids(&response.json::<Value>().await.unwrap()), ids[70..140]);
    let response = call(vec![("blocked_only", "false".into())]).await.unwrap();
    assert_eq!(page_ids(&response.json::<Value>().await.unwrap()), ids[..100], "default 100");
    for limit in ["0", "1001"] {
        let response = call(vec![("blocked_only", "false".into()), ("limit", limit.into())]).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "server function limit={limit}");
    }
}

/// A raw HTTP/1.1 download request that reads the status line and then never reads again.
async fn stalled_download(app: &TestApp, token: &str) -> (u16, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request =
        format!("GET /admin/download/messages HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n", app.addr);
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut status_line = [0u8; 12];
    tokio::time::timeout(std::time::Duration::from_secs(10), socket.read_exact(&mut status_line))
        .await
        .expect("status line in time")
        .unwrap();
    let text = String::from_utf8_lossy(&status_line).to_string();
    (text[9..12].parse().unwrap(), socket)
}

#[tokio::test]
async fn stalled_downloads_cannot_starve_the_site() {
    use std::time::{Duration, Instant};
    let app = TestApp::spawn_with(|c| {
        c.write_timeout_secs = 2;
        c.max_exports = 2;
        // No more readers than stalled exports: an export holding a reader while it waits for
        // its client would leave none for logins, `/me` and history.
        c.read_pool_size = 2;
    })
    .await;
    let admin = app.user("root").await;
    let reader = app.user("reader").await;
    let sender = app.services.store().find_login("root").await.unwrap().unwrap().public.id;
    // About 36 MB of messages: far more than the socket buffers of a client that never reads.
    const ROWS: usize = 3000;
    let content = "日".repeat(4000);
    for chunk in 0..ROWS / 500 {
        let batch: Vec<_> = (0..500)
            .map(|i| server::store::NewMessage {
                sender_id: sender,
                username: "root".into(),
                room_id: app::protocol::GENERAL_ROOM_ID,
                room: "general".into(),
                content: format!("{chunk}-{i} {content}"),
                client_id: None,
                ..Default::default()
            })
            .collect();
        app.services.store().insert_batch(&batch).await.unwrap();
    }

    // Four downloads that never read: two stream (and stall), the others are refused at once.
    let mut stalled = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, socket) = stalled_download(&app, &admin).await;
        statuses.push(status);
        if status == 200 {
            stalled.push(socket);
        }
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 429, 429], "max_exports = 2");
    let refused = app.http.get(app.url("/admin/download/users")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.json::<Value>().await.unwrap()["error"].is_string());

    // Meanwhile the site answers: login, /me and history, several times over.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for round in 0..5 {
        let started = Instant::now();
        let login = tokio::time::timeout(
            Duration::from_secs(3),
            app.http.post(app.url("/login")).json(&json!({"username": "reader", "password": "password123"})).send(),
        )
        .await
        .expect("login answers while exports stall")
        .unwrap();
        assert_eq!(login.status().as_u16(), 200);
        let me = tokio::time::timeout(Duration::from_secs(3), app.http.get(app.url("/me")).bearer_auth(&reader).send())
            .await
            .expect("/me answers while exports stall")
            .unwrap();
        assert_eq!(me.status().as_u16(), 200);
        let history = tokio::time::timeout(
            Duration::from_secs(3),
            app.http.get(app.url("/messages?limit=5")).bearer_auth(&reader).send(),
        )
        .await
        .expect("history answers while exports stall")
        .unwrap();
        assert_eq!(history.status().as_u16(), 200);
        assert!(started.elapsed() < Duration::from_secs(5), "round {round}: {:?}", started.elapsed());
    }

    // The stalled producers give up after the write timeout; then a new download streams whole.
    let deadline = Instant::now() + Duration::from_secs(30);
    let response = loop {
        let response = app.http.get(app.url("/admin/download/messages")).bearer_auth(&admin).send().await.unwrap();
        if response.status().as_u16() == 200 {
            break response;
        }
        assert_eq!(response.status().as_u16(), 429);
        assert!(Instant::now() < deadline, "the stalled exports never released their permits");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let body = response.bytes().await.unwrap();
    let mut csv = csv::Reader::from_reader(body.as_ref());
    let records: Vec<_> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), ROWS);
    assert!(records[ROWS - 1][3].starts_with(&format!("{}-499 ", ROWS / 500 - 1)));

    // A stalled download never looks complete: its body ends without the final chunk.
    for mut socket in stalled {
        use tokio::io::AsyncReadExt;
        let mut received = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        let read_all = async {
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read_all).await.expect("the aborted download ends");
        assert!(!received.ends_with(b"\r\n0\r\n\r\n"), "an abandoned export must not end like a complete one");
        assert!(received.len() < body.len(), "{} of {} bytes", received.len(), body.len());
    }
}
