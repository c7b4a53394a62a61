//! Fault tests: a full database (on either backend) and an unwritable one give clear errors and
//! no crash, and 20 concurrent writers for 30 s never meet "database is locked". (SIGKILL under
//! load is in crash.rs.)

use crate::common::db::Db;
use crate::common::{on_postgres, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A disk filling up under the test server's database, on either backend.
///
/// - SQLite: `max_page_count` on the writer's connection (the pool has exactly one), just above
///   the file's current size and then at it, as a full disk would stop the file's growth.
/// - PostgreSQL: the server's own error for a full disk (SQLSTATE 53100 `disk_full`, "could not
///   extend file") raised by a trigger on every insert into the tables that fill, as PostgreSQL
///   raises it when a table's file cannot grow. The test cannot fill a real disk under a shared
///   throwaway server.
struct Disk<'a> {
    app: &'a TestApp,
    db: Db,
}

impl<'a> Disk<'a> {
    async fn of(app: &'a TestApp) -> Disk<'a> {
        let mut db = app.db().await;
        if on_postgres() {
            db.execute(
                "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$",
            )
            .await;
        }
        Disk { app, db }
    }

    async fn sqlite_pages(&self, set: Option<i64>) -> i64 {
        let writer = self.app.services.store().as_sqlite().expect("pragmas are SQLite's").writer();
        if let Some(pages) = set {
            sqlx::query(&format!("PRAGMA max_page_count = {pages}")).execute(writer).await.unwrap();
        }
        sqlx::query_scalar("PRAGMA page_count").fetch_one(writer).await.unwrap()
    }

    /// Room for a few more messages at most.
    async fn nearly_full(&mut self) {
        if on_postgres() {
            self.db.execute("CREATE TRIGGER disk_full BEFORE INSERT ON messages EXECUTE FUNCTION disk_full()").await;
        } else {
            let pages = self.sqlite_pages(None).await;
            self.sqlite_pages(Some(pages + 4)).await;
        }
    }

    /// No room for anything.
    async fn full(&mut self) {
        if on_postgres() {
            self.db.execute("CREATE TRIGGER disk_full BEFORE INSERT ON users EXECUTE FUNCTION disk_full()").await;
        } else {
            let pages = self.sqlite_pages(None).await;
            self.sqlite_pages(Some(pages)).await;
        }
    }

    async fn freed(&mut self) {
        if on_postgres() {
            self.db.execute("DROP TRIGGER disk_full ON messages").await;
            self.db.execute("DROP TRIGGER disk_full ON users").await;
        } else {
            self.sqlite_pages(Some(1_073_741_823)).await;
        }
    }
}

#[tokio::test]
async fn a_full_database_refuses_messages_cleanly_and_recovers() {
    let app = TestApp::spawn_with(|c| c.flood_burst = 100_000).await;
    let token = app.user("filler").await;
    let other = app.user("reader").await;
    let (mut client, _) = app.connect(&token).await;
    let (mut reader, _) = app.connect(&other).await;
    let mut disk = Disk::of(&app).await;
    disk.nearly_full().await;
    let text = "x".repeat(3000);
    let mut refused = None;
    for _ in 0..200 {
        client.say(&text).await;
        let frame = client.next_json().await;
        if frame["type"] == "error" {
            refused = Some(frame);
            break;
        }
    }
    let refused = refused.expect("the full database refused a message");
    assert_eq!(refused["message"], "message could not be saved; send it again");
    // The server is alive: reads work, other connections are fine, and other writes answer JSON
    // errors once no page is left (small rows may still fit in a partly used page at first).
    disk.full().await;
    let mut refused_registration = None;
    for n in 0..200 {
        let body = json!({"username": format!("late{n}"), "email": format!("late{n}@x.io"), "password": "password123"});
        let (status, answer) = app.post_json("/register", &body).await;
        if status != 201 {
            refused_registration = Some((status, answer));
            break;
        }
    }
    assert_eq!(refused_registration, Some((500, json!({"error": "internal server error"}))));
    assert_eq!(app.get_json("/messages?limit=5", Some(&other)).await.0, 200);
    while let Some(Message::Text(_)) = reader.next_message(Duration::from_millis(200)).await {}

    // Space comes back: the same socket works again.
    disk.freed().await;
    client.say("after the disk was freed").await;
    assert_eq!(client.until_type("message").await["content"], "after the disk was freed");
    assert_eq!(reader.until_type("message").await["content"], "after the disk was freed");
}

#[test]
fn an_unwritable_database_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    // A path under a regular file can never be created, whoever runs the test (root included).
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, "x").unwrap();
    let cases = [
        format!("sqlite://{}/chat.db", blocker.display()),
        format!("sqlite://{}?mode=ro", dir.path().join("missing.db").display()),
    ];
    for url in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_server"))
            .env("DATABASE_URL", &url)
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("CHATTERBOX_CONFIG", "/dev/null")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{url}: {stderr}");
        assert!(!stderr.contains("panicked"), "{url}: {stderr}");
        assert!(stderr.contains("cannot start") && stderr.contains("unable to open database file"), "{url}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_writers_for_30s_never_see_a_locked_database() {
    let app = TestApp::spawn_with(|c| {
        c.flood_burst = 1_000_000;
        c.flood_per_sec = 1_000_000.0;
        // The default synchronous=FULL, as in production.
        c.sqlite_synchronous = "FULL".into();
        // Every writer also receives everybody's messages; in a debug build on 2 cores the test
        // clients may fall behind, which is not what this test is about.
        c.outbound_queue = 1 << 20;
    })
    .await;
    let token = app.user("writer").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tasks = Vec::new();
    // 18 chat writers, windowed on their acknowledgements...
    for w in 0..18 {
        let (client, _) = app.connect(&token).await;
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = client.socket.split();
            let (mut sent, mut acked, mut errors) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                for _ in 0..8 {
                    let frame = json!({"type": "message", "content": format!("w{w} n{sent}"), "client_id": format!("w{w}-{sent}")});
                    sink.send(Message::text(frame.to_string())).await.unwrap();
                    sent += 1;
                }
                while acked + (errors.len() as u64) < sent {
                    let text = match stream.next().await {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        other => panic!("socket ended: {other:?}"),
                    };
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                    match frame["type"].as_str() {
                        Some("message") if frame["content"].as_str().unwrap().starts_with(&format!("w{w} ")) => acked += 1,
                        Some("error") => errors.push(frame.to_string()),
                        _ => {}
                    }
                }
            }
            (acked, errors)
        }));
    }
    // ...and 2 account writers registering users meanwhile.
    let mut registrations = Vec::new();
    for r in 0..2 {
        let http = app.http.clone();
        let url = app.url("/register");
        registrations.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                let body = json!({"username": format!("reg{r}x{n}"), "email": format!("r{r}x{n}@x.io"), "password": "password123"});
                let response = http.post(&url).json(&body).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap());
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for task in tasks {
        let (acked, errors) = task.await.unwrap();
        assert!(errors.is_empty(), "writers saw errors: {errors:?}");
        total += acked;
    }
    let mut registered = 0;
    for task in registrations {
        registered += task.await.unwrap();
    }
    let stored = app.db().await.number("SELECT COUNT(*) FROM messages").await;
    assert_eq!(stored as u64, total);
    assert!(total > 1000 && registered > 10, "{total} messages, {registered} registrations");
    eprintln!("30 s: {total} messages from 18 sockets and {registered} registrations, no lock errors");
}
