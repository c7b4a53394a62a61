//! Test harness: the real router on `127.0.0.1:0` over a fresh database (a temporary SQLite file,
//! or with `CHATTERBOX_TEST_DATABASE=postgres` a fresh PostgreSQL database), with a low bcrypt
//! cost so tests stay quick. Talks real HTTP (reqwest) and WebSocket (tokio-tungstenite).
#![allow(dead_code)]

pub mod cluster;
pub mod db;
pub mod endpoint;
pub mod process;
pub mod raw;
#[cfg(test)]
mod selftest;

use endpoint::Endpoint;
use serde_json::{json, Value};
use server::config::Config;
use server::services::Services;
use server::{app, leptos_options, AppState};
use std::sync::Arc;

pub struct TestApp {
    /// Its address and an HTTP client (`app.addr`, `app.http`, `app.register(...)`, ...).
    endpoint: Endpoint,
    pub services: Arc<Services>,
    /// The database the server uses (a file in a temporary folder).
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Which database the tests run on: `CHATTERBOX_TEST_DATABASE=postgres` gives each test a fresh
/// database on the test process's own throwaway PostgreSQL (`testkit`); otherwise an SQLite file
/// in `dir`.
pub fn test_database(dir: &std::path::Path) -> String {
    if on_postgres() {
        testkit::postgres().fresh_database()
    } else {
        format!("sqlite://{}", dir.join("chatterbox.db").display())
    }
}

/// What a wall-clock check of a documented bound ("within 1 s") allows on top of it: a busy
/// 2-core machine (a debug build, the other tests, PostgreSQL) can hold any task back that long.
pub const BUSY_MARGIN: std::time::Duration = std::time::Duration::from_millis(1500);

pub fn on_postgres() -> bool {
    std::env::var("CHATTERBOX_TEST_DATABASE").is_ok_and(|backend| backend == "postgres")
}

/// For a test of what only SQLite has (its pragmas, its file): true, after saying so, when the
/// tests run on PostgreSQL.
pub fn skipped_on_postgres(test: &str) -> bool {
    if on_postgres() {
        eprintln!("{test}: SQLite only, skipped on PostgreSQL");
    }
    on_postgres()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_full(adjust, |_| {}).await
    }

    /// With other Leptos options (site root, hash file).
    pub async fn spawn_with_options(adjust: impl FnOnce(&mut leptos::prelude::LeptosOptions)) -> Self {
        Self::spawn_full(|_| {}, adjust).await
    }

    pub async fn spawn_full(
        adjust: impl FnOnce(&mut Config),
        adjust_options: impl FnOnce(&mut leptos::prelude::LeptosOptions),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = test_database(dir.path());
        let mut config = Config {
            database_url: database_url.clone(),
            bcrypt_cost: 4,
            sqlite_synchronous: "NORMAL".into(),
            // Tests register and log in many users from 127.0.0.1: raise the per-IP and
            // per-account throttles (tests/security.rs sets them low on purpose).
            login_ip_burst: 10_000,
            login_account_burst: 10_000,
            register_ip_burst: 10_000,
            files: server::config::FilesConfig {
                files_url: Some(format!("file://{}", dir.path().join("files").display())),
                ..Default::default()
            },
            ..Config::default()
        };
        adjust(&mut config);
        let services = Services::start(config).await.expect("services start");
        let mut leptos_options = leptos_options().expect("leptos options");
        adjust_options(&mut leptos_options);
        let router = record_statuses(app(AppState { leptos_options, services: services.clone() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server::serve_until(listener, router, services.clone(), async move {
            let _ = stop_rx.await;
        }));
        Self {
            endpoint: Endpoint::new(addr),
            services,
            database_url,
            stop: Some(stop_tx),
            serving: Some(serving),
            _dir: dir,
        }
    }

    /// Triggers a graceful shutdown (what SIGTERM does) and waits for the server to finish.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), serving).await;
        }
    }

    /// A connection of its own to the server's database, for assertions below the API.
    pub async fn db(&self) -> db::Db {
        db::Db::connect(&self.database_url).await
    }
}

/// The variable naming the file that [`record_statuses`] appends to.
pub const RECORD_STATUSES: &str = "CHATTERBOX_RECORD_STATUSES";

/// With `CHATTERBOX_RECORD_STATUSES=FILE`, every answer of a route (not of the fallback) is
/// appended to FILE as `METHOD MATCHED-PATH STATUS`, over every test of every `TestApp`, so that
/// `tests/documented_statuses.rs` can tell the documented statuses that no test produced
/// (`scripts/test.sh` records the SQLite and the PostgreSQL runs into one fresh file). The layer
/// sits on the routes (it sees axum's `MatchedPath`) and outside every layer `app` adds, so it
/// records the status the client gets.
fn record_statuses(router: axum::Router) -> axum::Router {
    use std::io::Write;
    static FILE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> = std::sync::OnceLock::new();
    let file = FILE.get_or_init(|| {
        let path = std::env::var_os(RECORD_STATUSES).filter(|path| !path.is_empty())?;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("the statuses file opens");
        Some(std::sync::Mutex::new(file))
    });
    let Some(file) = file.as_ref() else { return router };
    router.layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
        let method = request.method().clone();
        let path = request.extensions().get::<axum::extract::MatchedPath>().map(|path| path.as_str().to_owned());
        async move {
            let response = next.run(request).await;
            if let Some(path) = path {
                let line = format!("{method} {path} {}\n", response.status().as_u16());
                let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                file.write_all(line.as_bytes()).expect("the statuses file takes a line");
            }
            response
        }
    }))
}

impl std::ops::Deref for TestApp {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A real WebSocket client of `/ws`.
pub struct Client {
    pub socket: Socket,
}

impl TestApp {
    /// Status of a refused WebSocket handshake.
    pub async fn ws_refusal(&self, request: tungstenite::handshake::client::Request) -> u16 {
        match tokio_tungstenite::connect_async(request).await {
            Ok(_) => panic!("handshake unexpectedly succeeded"),
            Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
}

/// Frame types a client written for the one-room protocol does not know.
pub const CONVERSATION_FRAMES: [&str; 5] = ["rooms", "presence", "room", "room_left", "member"];

fn is_conversation_frame(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .is_ok_and(|frame| CONVERSATION_FRAMES.contains(&frame["type"].as_str().unwrap_or("")))
}

impl Client {
    pub async fn send_json(&mut self, value: &Value) {
        self.socket.send(Message::text(value.to_string())).await.expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text.to_owned())).await.expect("send");
    }

    pub async fn say(&mut self, content: &str) {
        self.send_json(&json!({"type": "message", "content": content})).await;
    }

    /// The next text frame as JSON (pings are skipped), as a client of the one-room protocol
    /// sees it: the frames conversations added (`rooms`, `presence`, `room`, `room_left`,
    /// `member`) are skipped, as such a client ignores frame types it does not know. Panics
    /// after 10 s.
    pub async fn next_json(&mut self) -> Value {
        loop {
            let frame = match self.next_message(Duration::from_secs(10)).await {
                Some(Message::Text(text)) => serde_json::from_str::<Value>(text.as_str()).expect("json frame"),
                other => panic!("expected a text frame, got {other:?}"),
            };
            if !CONVERSATION_FRAMES.contains(&frame["type"].as_str().unwrap_or("")) {
                return frame;
            }
        }
    }

    /// The next non-ping frame, or `None` on timeout or end of stream.
    pub async fn next_message(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()??;
            match next {
                Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
                Ok(message) => return Some(message),
                Err(_) => return None,
            }
        }
    }

    /// Waits for the close frame and returns its code (panics if another frame comes first).
    pub async fn close_code(&mut self) -> u16 {
        loop {
            match self.next_message(Duration::from_secs(10)).await {
                Some(Message::Close(Some(frame))) => return u16::from(frame.code),
                Some(Message::Text(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Reads frames until one of `type`; returns it.
    pub async fn until_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Asserts that nothing a one-room client knows arrives for `wait` (the frames
    /// conversations added are skipped, as in [`Client::next_json`]). Silence means an open
    /// socket with nothing to read: a close frame, the end of the stream or a reset connection
    /// within `wait` fails too (a dead socket receives nothing, which proves nothing).
    pub async fn assert_silent(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(next) = tokio::time::timeout_at(deadline, self.socket.next()).await else {
                return;
            };
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Text(text))) if is_conversation_frame(text.as_str()) => continue,
                Some(Ok(message)) => panic!("expected silence, got {message:?}"),
                Some(Err(error)) => panic!("expected silence on an open socket, but it failed: {error}"),
                None => panic!("expected silence on an open socket, but the stream ended"),
            }
        }
    }

    /// The next text frame as JSON, whatever its type (pings are skipped); panics after 10 s.
    pub async fn next_frame(&mut self) -> Value {
        match self.next_message(Duration::from_secs(10)).await {
            Some(Message::Text(text)) => serde_json::from_str(text.as_str()).expect("json frame"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

impl Client {
    /// The next text frame as JSON within `wait`; `None` on timeout, a close or the end of the
    /// stream (pings are skipped).
    pub async fn next_json_within(&mut self, wait: Duration) -> Option<Value> {
        match self.next_message(wait).await {
            Some(Message::Text(text)) => Some(serde_json::from_str(text.as_str()).expect("json frame")),
            _ => None,
        }
    }

    /// Every JSON frame that arrives until none has for `quiet` (at most 30 s in all), but the
    /// frames conversations added (as [`Client::next_json`]).
    pub async fn drain_json(&mut self, quiet: Duration) -> Vec<Value> {
        let mut frames = self.drain_frames(quiet).await;
        frames.retain(|frame| !CONVERSATION_FRAMES.contains(&frame["type"].as_str().unwrap_or("")));
        frames
    }

    /// Every JSON frame that arrives until none has for `quiet` (at most 30 s in all).
    pub async fn drain_frames(&mut self, quiet: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut frames = Vec::new();
        while tokio::time::Instant::now() < deadline {
            match self.next_json_within(quiet).await {
                Some(frame) => frames.push(frame),
                None => break,
            }
        }
        frames
    }

    /// Reads frames until the one answering the message sent with `client_id`: its broadcast
    /// (`Ok`) or the `error`/`warning` refusing it (`Err`). Panics after `wait`.
    pub async fn outcome_of(&mut self, client_id: &str, wait: Duration) -> Result<Value, Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(frame) = self.next_json_within(left).await else {
                panic!("no broadcast or refusal of {client_id:?} within {wait:?}");
            };
            if frame["client_id"] != client_id {
                continue;
            }
            match frame["type"].as_str() {
                Some("message") => return Ok(frame),
                Some("error" | "warning" | "blocked") => return Err(frame),
                _ => continue,
            }
        }
    }
}
