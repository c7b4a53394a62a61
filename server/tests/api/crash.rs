//! Crash safety: messages acknowledged by the real server binary survive `kill -9`, and the
//! database is consistent afterwards (SQLite: `PRAGMA integrity_check`; PostgreSQL: the message
//! counter and the ids agree, without a gap); SIGTERM shuts down cleanly. Both run on the
//! database the suite runs on (`CHATTERBOX_TEST_DATABASE`). The binary is started as a deployment
//! would start it (built by plain cargo, so no output name baked in): it must honour
//! `LEPTOS_SITE_ADDR` on its own.

use crate::common::db::Db;
use crate::common::process::Node;
use crate::common::{on_postgres, test_database};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// `GET /messages?QUERY` with a bearer token.
async fn messages(server: &Node, token: &str, query: &str) -> Vec<Value> {
    let (status, page) = server.get_json(&format!("/messages?{query}"), Some(token)).await;
    assert_eq!(status, 200, "{page}");
    page.as_array().expect("a page of messages").clone()
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = test_database(dir.path());
    let mut server = Node::start(&[("DATABASE_URL", database_url.clone())]).await;
    server.register("crash").await;
    let token = server.login("crash").await;

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", server.addr)).await.unwrap();
    socket.next().await.unwrap().unwrap(); // history
    socket.next().await.unwrap().unwrap(); // rooms
                                           // Send continuously from a task while collecting acknowledgements; kill mid-stream.
    let (mut sink, mut stream) = socket.split();
    let sender = tokio::spawn(async move {
        for i in 0..100_000 {
            let frame = json!({"type": "message", "content": format!("m{i}"), "client_id": format!("c{i}")});
            if sink.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
            if i % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 300 {
        let Some(Ok(Message::Text(text))) = stream.next().await else { break };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        if frame["type"] == "message" {
            acknowledged.push(frame["id"].as_i64().unwrap());
        }
    }
    server.kill9();
    sender.abort();
    assert!(acknowledged.len() >= 300, "got {} acks before the kill", acknowledged.len());

    let restarted = Node::start(&[("DATABASE_URL", database_url.clone())]).await;
    let token = restarted.login("crash").await;
    let mut stored = std::collections::HashSet::new();
    let mut before = String::new();
    loop {
        let page = messages(&restarted, &token, &format!("limit=200{before}")).await;
        let Some(last) = page.last() else { break };
        before = format!("&before={}", last["id"]);
        stored.extend(page.iter().map(|m| m["id"].as_i64().unwrap()));
    }
    let lost: Vec<_> = acknowledged.iter().filter(|id| !stored.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    drop(restarted);

    if on_postgres() {
        // What a crash could break on PostgreSQL is ChatterBox's own invariant: ids come from
        // the counter row, gapless, each committed with the counter's move.
        let mut db = Db::connect(&database_url).await;
        let (count, newest) = (
            db.number("SELECT COUNT(*) FROM messages").await,
            db.number("SELECT COALESCE(MAX(id), 0) FROM messages").await,
        );
        let counter = db.number("SELECT value FROM counters WHERE name = 'messages'").await;
        assert_eq!((count, newest), (counter, counter), "ids 1..={counter}, no gap, after the crash");
    } else {
        let pool = sqlx::SqlitePool::connect(&database_url).await.unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&pool).await.unwrap();
        assert_eq!(check, "ok");
    }
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1001_and_exits_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = test_database(dir.path());
    let mut server = Node::start(&[("DATABASE_URL", database_url.clone())]).await;
    server.register("term").await;
    let token = server.login("term").await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", server.addr)).await.unwrap();
    socket.next().await.unwrap().unwrap(); // history
    socket.next().await.unwrap().unwrap(); // rooms
    socket.send(Message::text(json!({"type": "message", "content": "last words"}).to_string())).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("last words"));

    let started = std::time::Instant::now();
    server.signal("TERM");
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("close in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    let status = loop {
        if let Some(status) = server.try_wait() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(8), "server did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");

    // Everything acknowledged is there after a restart.
    let restarted = Node::start(&[("DATABASE_URL", database_url)]).await;
    let token = restarted.login("term").await;
    assert_eq!(messages(&restarted, &token, "").await[0]["content"], "last words");
}
