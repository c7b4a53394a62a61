//! Running clusters (issue 22, items 3, 6 and 7), with real server processes, PostgreSQL and
//! Redis: two deployments on one Redis never reach or affect each other (every key and the bus
//! channel carry the database's cluster id), and a node given another id than its database's
//! refuses to start; slow reads filling the pool of requests hold up neither a commit nor a block
//! (the writer and the feeds have connections of their own); a node frozen inside a commit holds
//! the others' messages up only until PostgreSQL ends its idle transaction, and when it wakes up
//! its clients retry what it had not stored, losing and duplicating nothing.

use crate::common::cluster::*;
use crate::common::db::Db;
use crate::common::process::Node;
use crate::common::{Client, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The answer to the message sent with `client_id` within `wait`: its broadcast (`Ok`), or the
/// frame refusing it (`Err`); `None` when none came.
async fn answer_within(client: &mut Client, client_id: &str, wait: Duration) -> Option<Result<Value, Value>> {
    let deadline = Instant::now() + wait;
    loop {
        let frame = client.next_json_within(deadline.saturating_duration_since(Instant::now())).await?;
        if frame["client_id"] != client_id {
            continue;
        }
        match frame["type"].as_str() {
            Some("message") => return Some(Ok(frame)),
            Some("error" | "warning" | "blocked") => return Some(Err(frame)),
            _ => continue,
        }
    }
}

async fn send(client: &mut Client, content: &str, client_id: &str) {
    client.send_json(&json!({"type": "message", "content": content, "client_id": client_id})).await;
}

/// Reads `client`'s frames until one satisfies `wanted`, for at most 10 s; `what` never came,
/// says the panic, otherwise.
async fn heard(client: &mut Client, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.next_json_within(deadline.saturating_duration_since(Instant::now())).await {
            Some(frame) if wanted(&frame) => return frame,
            Some(_) => continue,
            None => panic!("{what} never came"),
        }
    }
}

/// Every frame `client` gets until none has come for 2 s: longer than the bus takes, and than
/// every fallback that could bring another cluster's news (the probe of the newest id: 0.5 s).
async fn everything_heard(client: &mut Client) -> Vec<Value> {
    client.drain_frames(Duration::from_secs(2)).await
}

#[tokio::test]
async fn two_clusters_on_one_redis_never_reach_or_affect_each_other() {
    // Red: a database whose nodes take the cluster id generated for it. Blue: another database,
    // on the same Redis, whose nodes name theirs. Both give each account a budget of one message,
    // which the nodes of a cluster share.
    let red = Cluster::new().await;
    let blue_database = tokio::task::spawn_blocking(|| testkit::postgres().fresh_database()).await.unwrap();
    let budget = [("CHATTERBOX_FLOOD_BURST", "1".to_string()), ("CHATTERBOX_FLOOD_PER_SEC", "0.001".to_string())];
    let mut blue_settings = budget.to_vec();
    blue_settings.extend([("DATABASE_URL", blue_database.clone()), ("CHATTERBOX_CLUSTER_ID", "blue".to_string())]);
    let (red_a, red_b) = (red.node_with(&budget).await, red.node_with(&budget).await);
    let (blue_a, blue_b) = (red.node_with(&blue_settings).await, red.node_with(&blue_settings).await);

    // Each cluster works: its nodes see each other's users come online.
    let (mut blue_one, blue_one_id) = connected(&blue_a, "blue_one").await;
    let (mut blue_two, _) = connected(&blue_b, "blue_two").await;
    let online = |name: &'static str| move |f: &Value| f["type"] == "presence" && f["username"] == name;
    heard(&mut blue_one, "blue_two online, on blue_one", online("blue_two")).await;
    let (mut red_one, red_one_id) = connected(&red_a, "red_one").await;
    let (mut red_two, _) = connected(&red_b, "red_two").await;
    // (Were presence shared, red_two would change nothing: blue's user of the same id is online.)
    heard(&mut red_one, "red_two online, on red_one", online("red_two")).await;
    assert_eq!(red_one_id, blue_one_id, "the same account id in both databases");

    // A message on red reaches red's other node, and spends red_one's budget on both red nodes.
    send(&mut red_one, "red says hi", "r-1").await;
    let red_message = red_one.outcome_of("r-1", Duration::from_secs(5)).await.expect("red's message is stored");
    let seen = until(&mut red_two, |f| f["type"] == "message").await;
    assert_eq!(seen["id"], red_message["id"]);
    let (mut red_one_on_b, _) = red_b.connect(&red_b.login("red_one").await).await;
    send(&mut red_one_on_b, "again", "r-2").await;
    let refused = red_one_on_b.outcome_of("r-2", Duration::from_secs(5)).await.expect_err("a budget of one");
    assert_eq!(refused["message"], "slow down: too many messages");

    // Blue heard nothing of it: no message, no presence.
    for (name, client) in [("blue_one", &mut blue_one), ("blue_two", &mut blue_two)] {
        let heard = everything_heard(client).await;
        assert!(heard.iter().all(|f| f["type"] != "message"), "{name} got red's message: {heard:?}");
        assert!(!format!("{heard:?}").contains("red_"), "{name} heard of red's users: {heard:?}");
    }
    // A new blue connection is told of blue's online users alone.
    let (mut blue_three, _) = connected(&blue_b, "blue_three").await;
    let rooms = until(&mut blue_three, |f| f["type"] == "rooms").await;
    let mut online: Vec<&str> = rooms["online"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    online.sort_unstable();
    assert_eq!(online, ["blue_one", "blue_three", "blue_two"], "{rooms}");

    // Blue's account of the same id has a budget of its own, and blue's ids are its own.
    send(&mut blue_one, "blue says hi", "b-1").await;
    let blue_message = blue_one.outcome_of("b-1", Duration::from_secs(5)).await.expect("blue's budget is untouched");
    assert_eq!(blue_message["id"], 1, "blue's first message");
    assert_eq!(until(&mut blue_two, |f| f["type"] == "message").await["id"], 1);
    for (name, client) in [("red_one", &mut red_one), ("red_two", &mut red_two), ("red_one_on_b", &mut red_one_on_b)] {
        let heard = everything_heard(client).await;
        assert!(!format!("{heard:?}").contains("blue"), "{name} heard of blue: {heard:?}");
    }

    // A node of blue's database with a mistyped id refuses to start, naming both ids.
    let typo = [("DATABASE_URL", blue_database), ("CHATTERBOX_CLUSTER_ID", "bleu".to_string())];
    let log = red.refused_node(&typo).await;
    assert!(log.contains(r#"CHATTERBOX_CLUSTER_ID is "bleu""#) && log.contains(r#"cluster "blue""#), "{log}");
}

/// Waits until `count` statements `sql` run in the database (seen through `db`), for at most 10 s.
async fn until_running(db: &mut Db, sql: &str, count: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let query = format!("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = '{sql}'");
    while db.number(&query).await < i64::from(count) {
        assert!(Instant::now() < deadline, "{count} times {sql:?} never ran at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The close code that ends `client` within `wait` (frames before it are skipped).
async fn closed_within(client: &mut Client, wait: Duration) -> Option<u16> {
    let deadline = Instant::now() + wait;
    loop {
        match client.next_message(deadline.saturating_duration_since(Instant::now())).await? {
            Message::Close(frame) => return frame.map(|f| u16::from(f.code)),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn slow_reads_filling_the_pool_of_requests_hold_up_neither_a_commit_nor_a_block() {
    let database_url = tokio::task::spawn_blocking(|| testkit::postgres().fresh_database()).await.unwrap();
    let url = database_url.clone();
    let app = TestApp::spawn_with(move |config| {
        config.database_url = url;
        config.read_pool_size = 2;
    })
    .await;
    app.user("root").await;
    let (mut alice, _) = app.connect(&app.user("alice").await).await;
    let (mut victim, _) = app.connect(&app.user("victim").await).await;

    // Slow reads take every connection of the pool of requests, as many large history or export
    // reads at once would.
    const SLOW: &str = "SELECT pg_sleep(20)";
    let requests = app.services.store().as_postgres().expect("a PostgreSQL store").pool().clone();
    let size = requests.options().get_max_connections();
    let slow_reads: Vec<_> = (0..size)
        .map(|_| {
            let pool = requests.clone();
            tokio::spawn(async move { sqlx::query(SLOW).execute(&pool).await })
        })
        .collect();
    let mut db = Db::connect(&database_url).await;
    until_running(&mut db, SLOW, size).await;
    assert_eq!((requests.size(), requests.num_idle()), (size, 0), "the pool of requests is full");

    // A message still commits (and is acknowledged) at once...
    let sent = Instant::now();
    send(&mut alice, "still here", "s-1").await;
    let answer = answer_within(&mut alice, "s-1", Duration::from_secs(25)).await;
    let waited = sent.elapsed();
    assert!(matches!(answer, Some(Ok(_))), "{answer:?}");
    assert!(waited < Duration::from_secs(3), "committed after {waited:?}");

    // ... and a block made elsewhere (another node, `server admin`: here, straight in the
    // database) closes the victim's socket within a second, through the account-change feed.
    db.execute("UPDATE users SET is_blocked = TRUE, token_version = token_version + 1 WHERE username = 'victim'").await;
    let blocked = Instant::now();
    let code = closed_within(&mut victim, Duration::from_secs(25)).await;
    let waited = blocked.elapsed();
    assert_eq!(code, Some(1008));
    assert!(waited <= Duration::from_secs(1), "closed {waited:?} after the block");

    assert!(slow_reads.iter().all(|read| !read.is_finished()), "the slow reads held the pool throughout");
    db.execute(&format!("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = '{SLOW}'")).await;
    for read in slow_reads {
        let _ = read.await;
    }
}

/// What became of each message a [`Load`] sent: its id, or the error refusing it.
type Outcomes = HashMap<String, Result<i64, String>>;

/// A client sending a message (`client_id` `{tag}-{i}`, content `load {i}`) every millisecond or
/// so, and recording the answer to each.
struct Load {
    stop: Arc<AtomicBool>,
    sender: tokio::task::JoinHandle<usize>,
    receiver: tokio::task::JoinHandle<Outcomes>,
    sent: Arc<AtomicUsize>,
}

impl Load {
    fn start(client: Client, tag: &'static str) -> Self {
        let (mut sink, mut stream) = client.socket.split();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let sender = tokio::spawn({
            let (stop, sent) = (stop.clone(), sent.clone());
            async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let frame =
                        json!({"type": "message", "content": format!("load {i}"), "client_id": format!("{tag}-{i}")});
                    if sink.send(Message::text(frame.to_string())).await.is_err() {
                        break;
                    }
                    i += 1;
                    sent.store(i, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                // Held open until every answer is in.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop(sink);
                });
                i
            }
        });
        let receiver = tokio::spawn({
            let (stop, sent) = (stop.clone(), sent.clone());
            async move {
                let mut outcomes = Outcomes::new();
                let mut deadline: Option<Instant> = None;
                loop {
                    if stop.load(Ordering::SeqCst) {
                        let at = *deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(30));
                        if outcomes.len() >= sent.load(Ordering::SeqCst) || Instant::now() > at {
                            return outcomes;
                        }
                    }
                    let Ok(next) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await else {
                        continue;
                    };
                    let Some(Ok(Message::Text(text))) = next else {
                        if next.is_none() {
                            return outcomes;
                        }
                        continue;
                    };
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                    let Some(client_id) = frame["client_id"].as_str().filter(|id| id.starts_with(&format!("{tag}-")))
                    else {
                        continue;
                    };
                    let outcome = match frame["type"].as_str() {
                        Some("message") => Ok(frame["id"].as_i64().unwrap()),
                        Some("error") => Err(frame["message"].as_str().unwrap_or_default().to_owned()),
                        _ => continue,
                    };
                    outcomes.insert(client_id.to_owned(), outcome);
                }
            }
        });
        Self { stop, sender, receiver, sent }
    }

    /// Stops sending and waits (at most 30 s) for the answer to every message sent: how many
    /// were sent, and what became of each.
    async fn stop(self) -> (usize, Outcomes) {
        self.stop.store(true, Ordering::SeqCst);
        let sent = self.sender.await.unwrap();
        assert_eq!(sent, self.sent.load(Ordering::SeqCst));
        (sent, self.receiver.await.unwrap())
    }
}

/// Freezes `node` (SIGSTOP) at a moment its writer is inside a commit: its transaction idle,
/// holding the `messages` counter's lock, as the test's own connection sees it in
/// `pg_stat_activity` (the backend whose transaction id is the counter row's `xmax`). A freeze
/// between commits holds nothing: then it thaws the node and tries again, for at most 60 s.
/// Returns how long the transaction has been idle.
async fn freeze_inside_a_commit(node: &Node, db: &mut Db) -> Duration {
    const LOCK_HOLDER_IDLE_MS: &str = "\
        SELECT (EXTRACT(EPOCH FROM clock_timestamp() - state_change) * 1000)::bigint FROM pg_stat_activity \
        WHERE state = 'idle in transaction' AND backend_xid = (SELECT xmax FROM counters WHERE name = 'messages')";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut attempts = 0;
    loop {
        attempts += 1;
        node.signal("STOP");
        let stopped = Instant::now();
        // A frozen holder stays idle; a live one (between two statements) is idle a moment only.
        while stopped.elapsed() < Duration::from_millis(500) {
            let idle: Vec<(i64,)> = db.rows(LOCK_HOLDER_IDLE_MS).await;
            if let Some(&(ms,)) = idle.first().filter(|(ms,)| *ms >= 200) {
                eprintln!("frozen inside a commit after {attempts} attempts");
                return Duration::from_millis(ms as u64);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node.signal("CONT");
        assert!(Instant::now() < deadline, "never caught the node inside a commit ({attempts} attempts)");
        tokio::time::sleep(Duration::from_millis(10 + attempts % 40)).await;
    }
}

#[tokio::test]
async fn a_node_frozen_inside_a_commit_holds_the_others_up_only_until_its_transaction_times_out() {
    const IDLE_SECS: u64 = 2;
    let cluster = Cluster::new().await;
    let timeouts = [
        ("CHATTERBOX_PG_IDLE_IN_TRANSACTION_TIMEOUT_SECS", IDLE_SECS.to_string()),
        ("CHATTERBOX_PG_LOCK_TIMEOUT_SECS", (3 * IDLE_SECS).to_string()),
        ("CHATTERBOX_PG_STATEMENT_TIMEOUT_SECS", "30".to_string()),
    ];
    let a = cluster.node_with(&timeouts).await;
    let b = cluster.node_with(&timeouts).await;
    let (mut on_b, _) = connected(&b, "bob").await;
    let (on_a, _) = connected(&a, "alice").await;
    let mut db = Db::connect(&cluster.database_url).await;

    // A commits under load, and is frozen inside a commit.
    let load = Load::start(on_a, "a");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = freeze_inside_a_commit(&a, &mut db).await;
    let frozen = Instant::now() - idle;

    // B's message waits for the counter's lock until PostgreSQL ends A's idle transaction, then
    // commits: acknowledged, not refused (B's lock timeout is longer than the idle timeout).
    send(&mut on_b, "from B", "b-1").await;
    let answer = answer_within(&mut on_b, "b-1", Duration::from_secs(20)).await;
    let waited = frozen.elapsed();
    a.signal("CONT");
    eprintln!("B's message answered {waited:?} after A froze");
    assert!(matches!(answer, Some(Ok(_))), "B's message while A is frozen: {answer:?}");
    let bound = Duration::from_secs(IDLE_SECS + 3);
    assert!(waited < bound, "B's message acknowledged {waited:?} after A froze (idle timeout {IDLE_SECS} s)");

    // A wakes up: the commit it was frozen in failed, and its messages were refused with the
    // retry error; every other message of A's client was stored.
    let (sent, outcomes) = load.stop().await;
    assert_eq!(outcomes.len(), sent, "every message of A's client answered");
    let mut refused: Vec<&String> = outcomes.iter().filter(|(_, outcome)| outcome.is_err()).map(|(id, _)| id).collect();
    refused.sort_unstable();
    assert!(!refused.is_empty(), "the frozen commit's messages are refused");
    for id in &refused {
        assert_eq!(outcomes[*id], Err("message could not be saved; send it again".to_owned()), "{id}");
    }

    // Sent again with the same client_id, each is stored once; a stored one sent again is
    // acknowledged with its original.
    let (mut again, _) = a.connect(&a.login("alice").await).await;
    for id in &refused {
        let i = id.strip_prefix("a-").unwrap();
        send(&mut again, &format!("load {i}"), id).await;
        let answer = answer_within(&mut again, id, Duration::from_secs(10)).await;
        assert!(matches!(answer, Some(Ok(_))), "{id} sent again: {answer:?}");
    }
    let (stored_id, stored) = outcomes.iter().find_map(|(id, outcome)| Some((id, (*outcome).clone().ok()?))).unwrap();
    send(&mut again, "a retry of a stored message", stored_id).await;
    let answer = answer_within(&mut again, stored_id, Duration::from_secs(10)).await.expect("answered");
    assert_eq!(answer.expect("acknowledged")["id"], stored);

    let rows: Vec<(String, i64, i64)> = db
        .rows("SELECT client_id, COUNT(*), MIN(id) FROM messages WHERE client_id LIKE 'a-%' GROUP BY client_id")
        .await;
    assert_eq!(rows.len(), sent, "every message of A's client stored");
    for (client_id, count, id) in rows {
        assert_eq!(count, 1, "{client_id} stored once");
        if let Ok(acknowledged) = &outcomes[&client_id] {
            assert_eq!(*acknowledged, id, "{client_id} acknowledged with its stored id");
        }
    }
}
