//! Several nodes of one cluster as a test runs them: real server processes (`process::Node`)
//! sharing one throwaway PostgreSQL database and one throwaway Redis (`testkit`), and the helpers
//! the cluster tests share (connected clients, senders, "every receiver saw exactly these ids").

use super::process::Node;
use super::Client;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// One PostgreSQL database, one Redis and one JWT secret, shared by every node started from it.
pub struct Cluster {
    pub redis: testkit::RedisServer,
    pub database_url: String,
    /// The files of every node: one directory they all see (as a shared mount would be).
    pub files: tempfile::TempDir,
}

impl Cluster {
    pub async fn new() -> Self {
        tokio::task::spawn_blocking(|| Self {
            redis: testkit::RedisServer::start(),
            database_url: testkit::postgres().fresh_database(),
            files: tempfile::tempdir().unwrap(),
        })
        .await
        .unwrap()
    }

    pub async fn node(&self) -> Node {
        self.node_with(&[]).await
    }

    pub async fn node_with(&self, extra: &[(&str, String)]) -> Node {
        Node::start(&self.env(extra)).await
    }

    /// A node on `port` (a restart on the address its clients know); `None` if the port is taken.
    pub async fn node_on(&self, port: u16, extra: &[(&str, String)]) -> Option<Node> {
        Node::start_on(port, &self.env(extra)).await
    }

    /// The environment of a node of this cluster, with `extra`.
    fn env<'a>(&self, extra: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
        let mut env = vec![
            ("DATABASE_URL", self.database_url.clone()),
            ("CHATTERBOX_REDIS_URL", self.redis.url()),
            ("JWT_SECRET", "cluster-test-secret-cluster-test-secret".to_string()),
            // What cargo-leptos would bake in (the crash tests check the binary starts without).
            ("LEPTOS_OUTPUT_NAME", "chatterbox".to_string()),
            ("CHATTERBOX_FILES_URL", format!("file://{}", self.files.path().display())),
            ("CHATTERBOX_FILES_SHARED", "true".to_string()),
        ];
        env.extend(extra.iter().cloned());
        env
    }
}

/// Registers `name` on `node` and connects; the client (history read) and the user's id.
pub async fn connected(node: &Node, name: &str) -> (Client, i64) {
    let user = node.register(name).await;
    let token = node.login(name).await;
    let (client, _history) = node.connect(&token).await;
    (client, user["id"].as_i64().unwrap())
}

/// Message frames read by `client` until it has `count` of them or none came for `quiet`: ids.
pub async fn message_ids(client: &mut Client, count: usize, quiet: Duration) -> Vec<i64> {
    let mut ids = Vec::new();
    while ids.len() < count {
        match client.next_json_within(quiet).await {
            Some(frame) if frame["type"] == "message" => ids.push(frame["id"].as_i64().unwrap()),
            Some(_) => {}
            None => break,
        }
    }
    ids
}

/// Sends `count` messages (`client_id` `{tag}-{i}`), one every `pace`, while reading the
/// socket; returns the ids acknowledged to it (its own messages coming back), until all are or
/// the socket ends.
pub fn send_messages(
    client: Client,
    tag: &'static str,
    count: usize,
    pace: Duration,
) -> tokio::task::JoinHandle<Vec<i64>> {
    tokio::spawn(async move {
        let (mut sink, mut stream) = client.socket.split();
        let sending = tokio::spawn(async move {
            for i in 0..count {
                let frame =
                    json!({"type": "message", "content": format!("{tag} {i}"), "client_id": format!("{tag}-{i}")});
                if sink.send(Message::text(frame.to_string())).await.is_err() {
                    return;
                }
                tokio::time::sleep(pace).await;
            }
            // Held open until every acknowledgement is in.
            std::future::pending::<()>().await;
        });
        let mut acknowledged = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while acknowledged.len() < count {
            let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, stream.next()).await else {
                break;
            };
            let Message::Text(text) = message else { continue };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            let own = frame["client_id"].as_str().is_some_and(|id| id.starts_with(&format!("{tag}-")));
            if frame["type"] == "message" && own {
                acknowledged.push(frame["id"].as_i64().unwrap());
            }
        }
        sending.abort();
        acknowledged
    })
}

/// Every id acknowledged to `senders` (each must have had all its `each` messages acknowledged),
/// ascending.
pub async fn all_acknowledged(
    senders: impl IntoIterator<Item = tokio::task::JoinHandle<Vec<i64>>>,
    each: usize,
) -> Vec<i64> {
    let mut acknowledged = Vec::new();
    for sender in senders {
        let acks = sender.await.unwrap();
        assert_eq!(acks.len(), each, "every message acknowledged");
        acknowledged.extend(acks);
    }
    acknowledged.sort_unstable();
    acknowledged
}

/// How often a node reads the newest message id while the bus is live (`PROBE_EVERY` in
/// `server/src/fanout/writer.rs`): the slowest way a message reaches another node's clients.
pub const PROBE_PERIOD: Duration = Duration::from_millis(500);

/// How long a check for strays listens after the expected messages: past one probe period, so
/// that a duplicate or stray the probe would deliver has arrived, with a busy machine's margin.
pub const STRAY_WAIT: Duration = Duration::from_millis(PROBE_PERIOD.as_millis() as u64 + 500);

/// Asserts that `receiver` gets exactly the `acknowledged` messages, in order, without a gap,
/// and nothing more for [`STRAY_WAIT`] after them (a duplicate or a stray delivered by the next
/// probe would otherwise go unseen).
pub async fn assert_saw_exactly(receiver: &mut Client, acknowledged: &[i64], who: &str) {
    let ids = message_ids(receiver, acknowledged.len(), Duration::from_secs(5)).await;
    assert_gapless(&ids, who);
    assert_eq!(ids, acknowledged, "{who} saw exactly the acknowledged messages");
    let strays = message_ids(receiver, usize::MAX, STRAY_WAIT).await;
    assert!(strays.is_empty(), "{who} got messages after the acknowledged ones: {strays:?}");
}

/// [`assert_saw_exactly`] for several receivers at once (their stray checks overlap in time).
pub async fn assert_all_saw_exactly(receivers: Vec<(&str, &mut Client)>, acknowledged: &[i64]) {
    futures::future::join_all(
        receivers
            .into_iter()
            .map(|(who, receiver)| async move { assert_saw_exactly(receiver, acknowledged, who).await }),
    )
    .await;
}

/// Asserts that `ids` run without a gap or a repeat: each one more than the one before.
pub fn assert_gapless(ids: &[i64], who: &str) {
    for pair in ids.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{who}: {} then {} in {ids:?}", pair[0], pair[1]);
    }
}

/// Reads frames of any type until one satisfies `wanted` (at most 10 s).
pub async fn until(client: &mut Client, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = client.next_json_within(left).await.expect("the frame in time");
        if wanted(&frame) {
            return frame;
        }
    }
}

impl Cluster {
    /// Starts a node of this cluster with `extra` settings that must refuse to start: waits for
    /// it to exit (at most 60 s), asserts that it failed, and returns what it logged.
    pub async fn refused_node(&self, extra: &[(&str, String)]) -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &self.database_url)
            .env("CHATTERBOX_REDIS_URL", self.redis.url())
            .env("JWT_SECRET", "cluster-test-secret-cluster-test-secret")
            .env("LEPTOS_OUTPUT_NAME", "chatterbox")
            .env("CHATTERBOX_FILES_URL", format!("file://{}", self.files.path().display()))
            .env("CHATTERBOX_FILES_SHARED", "true")
            .env("CHATTERBOX_CONFIG", "/dev/null")
            .env("CHATTERBOX_BCRYPT_COST", "4")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("server binary starts");
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("the node exits instead of serving")
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "the node should have refused to start:\n{log}");
        log
    }
}
