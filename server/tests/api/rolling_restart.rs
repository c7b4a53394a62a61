//! Restarts that lose nobody (docs/deployment.md, "Restarts that lose nobody"): two nodes of a
//! cluster under load, each stopped with SIGTERM and started again on its address in turn (a
//! rolling restart). Clients written as docs/protocol.md says a client should be: on a close they
//! reconnect by themselves, to the other node or the same one, with `since` (and a sender sends
//! again what was not acknowledged, under the same `client_id`). Every acknowledged message must
//! reach every listener exactly once, and every node must exit cleanly within its grace period.

use crate::common::cluster::{Cluster, STRAY_WAIT};
use crate::common::process::Node;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// What one client saw: the ids it received (in order, duplicates kept), its reconnections.
#[derive(Default)]
struct Seen {
    ids: Vec<i64>,
    /// Acknowledged to a sender: `client_id` → id.
    acknowledged: BTreeMap<String, i64>,
    reconnections: usize,
    /// Connected at least once.
    connected: bool,
    /// Messages a sender sent (`tag-0` to `tag-(sent-1)`).
    sent: usize,
    /// A catch-up said `more: true` (the test keeps the load below that).
    more: bool,
}

impl Seen {
    /// A message received: its id, and for its sender the acknowledgement of its `client_id`.
    fn take(&mut self, name: &str, message: &Value) {
        let id = message["id"].as_i64().unwrap();
        self.ids.push(id);
        if let Some(client_id) = message["client_id"].as_str() {
            if client_id.starts_with(&format!("{name}-")) {
                self.acknowledged.insert(client_id.to_owned(), id);
            }
        }
    }
}

/// Logs in as `name` on any of `nodes`, and stays connected until `stop` says so: on every close
/// it reconnects (the next node first, then around) with `since` = the last id it saw. A sender
/// (`send_every`) sends `NAME-N` messages once `go` says so and, after a reconnection, sends again every
/// one not acknowledged yet.
fn client(
    nodes: Vec<SocketAddr>,
    name: &'static str,
    send_every: Option<Duration>,
    go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> (Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let task = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut token = None;
            let mut next_node = if name.ends_with('b') { 1 } else { 0 };
            let mut sent = 0usize;
            let mut first = true;
            while !*stop.borrow() {
                let addr = nodes[next_node % nodes.len()];
                next_node += 1;
                if token.is_none() {
                    let login = http
                        .post(format!("http://{addr}/login"))
                        .json(&json!({"username": name, "password": "password123"}))
                        .send()
                        .await;
                    match login {
                        Ok(response) if response.status() == 200 => {
                            let body: Value = response.json().await.unwrap();
                            token = Some(body["access_token"].as_str().unwrap().to_owned());
                        }
                        _ => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                }
                let since = seen.lock().unwrap().ids.last().copied();
                let query = match since {
                    Some(since) => format!("token={}&since={since}", token.as_deref().unwrap()),
                    None => format!("token={}", token.as_deref().unwrap()),
                };
                let Ok((socket, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?{query}")).await else {
                    // Draining (503) or down: another node, after a moment.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                if !first {
                    seen.lock().unwrap().reconnections += 1;
                }
                first = false;
                let (mut sink, mut stream) = socket.split();
                // The history frame first: with `since`, what was stored meanwhile, a sender's own
                // messages (by `client_id`) included.
                let Some(Ok(Message::Text(text))) = stream.next().await else { continue };
                let history: Value = serde_json::from_str(text.as_str()).unwrap();
                assert_eq!(history["type"], "history", "{history}");
                {
                    // Without `since` (the first connection): `general`'s newest, which is all
                    // there is, since nothing is sent before every client is connected.
                    let mut seen = seen.lock().unwrap();
                    for message in history["messages"].as_array().unwrap() {
                        seen.take(name, message);
                    }
                    seen.more |= history["more"] == true;
                    seen.connected = true;
                }
                // Then again what is still not acknowledged (a stored one would be acknowledged
                // with its original).
                if send_every.is_some() {
                    let pending: Vec<usize> = {
                        let seen = seen.lock().unwrap();
                        (0..sent).filter(|i| !seen.acknowledged.contains_key(&format!("{name}-{i}"))).collect()
                    };
                    for i in pending {
                        let frame = json!({"type": "message", "content": format!("{name} {i}"), "client_id": format!("{name}-{i}")});
                        if sink.send(Message::text(frame.to_string())).await.is_err() {
                            break;
                        }
                    }
                }
                let mut tick = tokio::time::interval(send_every.unwrap_or(Duration::from_secs(3600)));
                let mut stop = stop.clone();
                loop {
                    tokio::select! {
                        _ = tick.tick(), if send_every.is_some() && *go.borrow() && !*stop.borrow() => {
                            let frame = json!({"type": "message", "content": format!("{name} {sent}"), "client_id": format!("{name}-{sent}")});
                            sent += 1;
                            seen.lock().unwrap().sent = sent;
                            if sink.send(Message::text(frame.to_string())).await.is_err() {
                                break;
                            }
                        }
                        _ = stop.changed() => {
                            if send_every.is_none() {
                                // A listener stays until told the end twice (after the senders).
                                continue;
                            }
                        }
                        frame = stream.next() => {
                            let Some(Ok(Message::Text(text))) = frame else {
                                if matches!(frame, Some(Ok(_))) { continue; }
                                break;
                            };
                            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                            if frame["type"] == "message" {
                                seen.lock().unwrap().take(name, &frame);
                            }
                        }
                    }
                }
            }
        })
    };
    (seen, task)
}

/// Stops `node` with SIGTERM and waits for it to exit: within the grace period and a margin, 0.
async fn stop(node: &mut Node, grace: Duration) {
    let started = std::time::Instant::now();
    node.signal("TERM");
    loop {
        if let Some(status) = node.try_wait() {
            assert!(status.success(), "exit {status:?} after SIGTERM:\n{}", node.log_text());
            break;
        }
        assert!(started.elapsed() < grace + Duration::from_secs(5), "no exit within the grace period");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_rolling_restart_under_load_loses_nothing_and_delivers_everything_once() {
    let cluster = Cluster::new().await;
    let grace = Duration::from_secs(5);
    let env = [("CHATTERBOX_SHUTDOWN_GRACE_SECS", grace.as_secs().to_string())];
    let mut a = cluster.node_with(&env).await;
    let mut b = cluster.node_with(&env).await;
    let nodes = vec![a.addr, b.addr];
    let names = ["listen_a", "listen_b", "listen_c", "listen_d", "send_a", "send_b"];
    for name in names {
        a.register(name).await;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (listen_stop_tx, listen_stop_rx) = watch::channel(false);
    let (go_tx, go_rx) = watch::channel(false);
    let mut listeners = Vec::new();
    for name in &names[..4] {
        listeners.push((name, client(nodes.clone(), name, None, go_rx.clone(), listen_stop_rx.clone())));
    }
    let mut senders = Vec::new();
    for name in &names[4..] {
        let sender = client(nodes.clone(), name, Some(Duration::from_millis(10)), go_rx.clone(), stop_rx.clone());
        senders.push((name, sender));
    }
    // Everyone is connected before anything is sent.
    for (_, (seen, _)) in listeners.iter().chain(&senders) {
        while !seen.lock().unwrap().connected {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    go_tx.send(true).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A, then B: stopped, then started again on the same address.
    stop(&mut a, grace).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a = cluster.node_on(nodes[0].port(), &env).await.expect("A back on its port");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop(&mut b, grace).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b = cluster.node_on(nodes[1].port(), &env).await.expect("B back on its port");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The senders stop sending, then wait until everything they sent is acknowledged.
    stop_tx.send(true).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for (name, (seen, _)) in &senders {
        loop {
            let done = {
                let seen = seen.lock().unwrap();
                seen.sent > 0 && (0..seen.sent).all(|i| seen.acknowledged.contains_key(&format!("{name}-{i}")))
            };
            if done {
                break;
            }
            if std::time::Instant::now() > deadline {
                let seen = seen.lock().unwrap();
                let unacknowledged: Vec<usize> =
                    (0..seen.sent).filter(|i| !seen.acknowledged.contains_key(&format!("{name}-{i}"))).collect();
                panic!("{name}: of {} sent, {unacknowledged:?} never acknowledged", seen.sent);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let acknowledged: BTreeSet<i64> = senders
        .iter()
        .flat_map(|(_, (seen, _))| seen.lock().unwrap().acknowledged.values().copied().collect::<Vec<_>>())
        .collect();
    let newest = *acknowledged.last().unwrap();
    // Listeners: until they have the newest, then past any stray.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for (name, (seen, _)) in &listeners {
        while !seen.lock().unwrap().ids.contains(&newest) {
            assert!(std::time::Instant::now() < deadline, "{name} never got {newest}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(STRAY_WAIT).await;
    listen_stop_tx.send(true).unwrap();

    for (name, (seen, _)) in listeners.iter().chain(&senders) {
        let seen = seen.lock().unwrap();
        assert!(!seen.more, "{name}: a catch-up was cut short (the load is too high for this test)");
        assert!(seen.reconnections >= 1, "{name} never reconnected");
        let mut unique = BTreeSet::new();
        let duplicates: Vec<i64> = seen.ids.iter().copied().filter(|id| !unique.insert(*id)).collect();
        // A sender may be answered twice for one message: a retry of a `client_id` committed by
        // the draining node after the catch-up was read is acknowledged with the original, which
        // also arrives live (a client merges by id). A listener never sees an id twice.
        if name.starts_with("listen") {
            assert!(duplicates.is_empty(), "{name} got {duplicates:?} twice");
        }
        let missing: Vec<&i64> = acknowledged.iter().filter(|id| !unique.contains(id)).collect();
        assert!(missing.is_empty(), "{name} never got acknowledged {missing:?}");
        eprintln!("{name}: {} messages, {} reconnections", seen.ids.len(), seen.reconnections);
    }
    let stored =
        crate::common::db::Db::connect(&cluster.database_url).await.number("SELECT COUNT(*) FROM messages").await;
    assert_eq!(stored as usize, acknowledged.len(), "every stored message was acknowledged to its sender");
    eprintln!("{} messages acknowledged across a rolling restart", acknowledged.len());
    drop((a, b));
}
