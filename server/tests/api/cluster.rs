//! Several nodes, one database: real server processes sharing one PostgreSQL database and one
//! Redis (both throwaway, from `testkit`), as `docs/deployment.md` runs them behind a load
//! balancer. A message reaches every node's clients in one gapless id order, whichever node took
//! it; Redis going away loses nothing; a node killed with `kill -9` costs its clients a
//! reconnect, never a message; a block on one node closes the user's sockets on the others.
//!
//! Delivery between nodes has two ways: the bus (Redis pub/sub, milliseconds) and the database
//! probe every [`PROBE_PERIOD`] (the fallback that covers a silent bus and a node that died
//! between its commit and its publication). Tests that claim the bus check latencies well under
//! the probe period; every "saw exactly" check listens past a probe period for strays.

use crate::common::cluster::*;
use crate::common::{Client, BUSY_MARGIN};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_message_sent_on_one_node_reaches_a_client_of_the_other() {
    let cluster = Cluster::new().await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (mut alice, _) = connected(&a, "alice").await;
    let (mut bob, _) = connected(&b, "bob").await;
    bob.send_json(&json!({"type": "message", "content": "hello from B", "client_id": "b-1"})).await;
    let ack = bob.until_type("message").await;
    assert_eq!((ack["content"].as_str(), ack["client_id"].as_str()), (Some("hello from B"), Some("b-1")));
    let seen = tokio::time::timeout(Duration::from_secs(5), alice.until_type("message")).await.expect("in time");
    assert_eq!((seen["id"].clone(), seen["username"].as_str()), (ack["id"].clone(), Some("bob")));
}

#[tokio::test]
async fn every_receiver_on_both_nodes_sees_the_same_gapless_ids() {
    const EACH: usize = 150;
    let cluster = Cluster::new().await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let mut receivers = Vec::new();
    for (i, node) in [&a, &a, &b, &b].into_iter().enumerate() {
        receivers.push(connected(node, &format!("reader{i}")).await.0);
    }
    let mut senders = Vec::new();
    for (tag, node) in [("snd0", &a), ("snd1", &a), ("snd2", &b), ("snd3", &b)] {
        let (client, _) = connected(node, tag).await;
        senders.push(send_messages(client, tag, EACH, Duration::from_millis(2)));
    }
    let acknowledged = all_acknowledged(senders, EACH).await;
    let names: Vec<String> = (0..receivers.len()).map(|i| format!("reader{i}")).collect();
    let receivers = names.iter().map(String::as_str).zip(receivers.iter_mut()).collect();
    assert_all_saw_exactly(receivers, &acknowledged).await;
}

#[tokio::test]
async fn redis_killed_and_restarted_mid_stream_loses_nothing() {
    const EACH: usize = 200;
    let mut cluster = Cluster::new().await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (mut on_a, _) = connected(&a, "reader_a").await;
    let (mut on_b, _) = connected(&b, "reader_b").await;
    let senders = [
        send_messages(connected(&a, "snd_a").await.0, "snd_a", EACH, Duration::from_millis(5)),
        send_messages(connected(&b, "snd_b").await.0, "snd_b", EACH, Duration::from_millis(5)),
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster = tokio::task::spawn_blocking(move || {
        cluster.redis.kill();
        std::thread::sleep(Duration::from_millis(700));
        cluster.redis.restart();
        cluster
    })
    .await
    .unwrap();
    let acknowledged = all_acknowledged(senders, EACH).await;
    assert_all_saw_exactly(vec![("reader_a", &mut on_a), ("reader_b", &mut on_b)], &acknowledged).await;
    drop(cluster);
}

/// Waits until a `typing` frame of `typist` (on one node) reaches `watcher` (on another): typing
/// goes over the bus alone (nothing of it is stored), so its arrival shows that the bus carries
/// events between the two nodes. Retries every 400 ms (a typist may send a burst of 3, then one
/// a second), for at most 15 s.
async fn until_the_bus_carries_typing(typist: &mut Client, watcher: &mut Client) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        typist.send_json(&json!({"type": "typing"})).await;
        let until = tokio::time::Instant::now() + Duration::from_millis(400);
        while let Some(frame) =
            watcher.next_json_within(until.saturating_duration_since(tokio::time::Instant::now())).await
        {
            if frame["type"] == "typing" {
                return;
            }
        }
    }
    panic!("no typing frame crossed the bus within 15 s");
}

/// Sends `count` messages from `sender` and times each one until `receiver` (a client of another
/// node) has it. The pauses between them vary, so that the sends fall anywhere in the period of
/// the other node's probe.
async fn latencies(sender: &mut Client, receiver: &mut Client, tag: &str, count: usize) -> Vec<Duration> {
    let mut latencies = Vec::new();
    for i in 0..count {
        let client_id = format!("{tag}-{i}");
        let frame = json!({"type": "message", "content": format!("{tag} {i}"), "client_id": client_id});
        let sent = Instant::now();
        sender.send_json(&frame).await;
        until(receiver, |f: &Value| f["type"] == "message" && f["client_id"] == client_id.as_str()).await;
        latencies.push(sent.elapsed());
        sender.outcome_of(&client_id, Duration::from_secs(5)).await.expect("acknowledged");
        tokio::time::sleep(Duration::from_millis(11 + (i as u64 * 37) % 71)).await;
    }
    latencies.sort();
    latencies
}

#[tokio::test]
async fn after_a_redis_restart_messages_cross_nodes_over_the_bus_again() {
    let mut cluster = Cluster::new().await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (mut on_a, _) = connected(&a, "on_a").await;
    let (mut on_b, _) = connected(&b, "on_b").await;
    cluster = tokio::task::spawn_blocking(move || {
        cluster.redis.kill();
        std::thread::sleep(Duration::from_millis(300));
        cluster.redis.restart();
        cluster
    })
    .await
    .unwrap();
    // Both nodes are subscribed again once events cross in both directions...
    until_the_bus_carries_typing(&mut on_b, &mut on_a).await;
    until_the_bus_carries_typing(&mut on_a, &mut on_b).await;
    // ...and messages take the bus too: the probe alone would deliver them after half its
    // period on average (the median of sends spread over it), the bus within milliseconds.
    for direction in ["b_to_a", "a_to_b"] {
        let (sender, receiver) = if direction == "b_to_a" { (&mut on_b, &mut on_a) } else { (&mut on_a, &mut on_b) };
        let latencies = latencies(sender, receiver, direction, 21).await;
        let median = latencies[latencies.len() / 2];
        assert!(
            median < PROBE_PERIOD / 5,
            "{direction}: median latency {median:?} is not well under the probe period ({PROBE_PERIOD:?}): \
             the messages did not take the bus; all: {latencies:?}"
        );
    }
    drop(cluster);
}

/// Sends one inline command to the Redis on `port` and returns its one-line reply.
async fn redis_command(port: u16, command: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(format!("{command}\r\n").as_bytes()).await.unwrap();
    let mut reply = String::new();
    tokio::io::BufReader::new(stream).read_line(&mut reply).await.unwrap();
    reply.trim_end().to_owned()
}

#[tokio::test]
async fn a_survivor_node_delivers_a_killed_nodes_committed_messages_to_a_listener_that_stayed() {
    let cluster = Cluster::new().await;
    let a = cluster.node().await;
    let mut b = cluster.node().await;
    let (mut listener, _) = connected(&a, "listener").await;
    let on_b = send_messages(connected(&b, "snd_b").await.0, "snd_b", 100_000, Duration::from_millis(1));
    // B commits and publishes for a while...
    let mut seen = message_ids(&mut listener, 100, Duration::from_secs(5)).await;
    // ...then Redis holds every write (PUBLISH included) while it keeps reading, and delivering to
    // subscribers: B goes on committing (and acknowledging) messages it cannot publish, while A's
    // subscription looks live. Then B dies (`kill -9`) with those publications unsent: only A's
    // probe of the newest id can find them.
    assert_eq!(redis_command(cluster.redis.port(), "CLIENT PAUSE 20000 WRITE").await, "+OK");
    // What B published before the pause has arrived once the listener has been quiet for a while.
    seen.extend(message_ids(&mut listener, usize::MAX, Duration::from_millis(300)).await);
    let published = seen.last().copied().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b.kill9();
    assert_eq!(redis_command(cluster.redis.port(), "CLIENT UNPAUSE").await, "+OK");
    let acknowledged = on_b.await.unwrap();
    let unpublished: Vec<i64> = acknowledged.iter().copied().filter(|id| *id > published).collect();
    assert!(!unpublished.is_empty(), "B acknowledged nothing while it could not publish");
    // Until the listener has been quiet past a probe period (its strays included).
    seen.extend(message_ids(&mut listener, usize::MAX, STRAY_WAIT).await);
    let committed: Vec<i64> = crate::common::db::Db::connect(&cluster.database_url)
        .await
        .rows::<(i64,)>("SELECT id FROM messages ORDER BY id")
        .await
        .into_iter()
        .map(|(id,)| id)
        .collect();
    assert_gapless(&seen, "listener on A");
    assert_eq!(seen, committed, "the listener on A got every message B committed, once, in order");
    for id in &acknowledged {
        assert!(committed.binary_search(id).is_ok(), "B acknowledged {id}, which is not in the database");
    }
    eprintln!("{} acknowledged by B, {} of them never published", acknowledged.len(), unpublished.len());
}

#[tokio::test]
async fn a_killed_nodes_clients_reconnect_to_another_with_since_and_miss_nothing() {
    let cluster = Cluster::new().await;
    let a = cluster.node().await;
    let mut b = cluster.node().await;
    let (mut listener, _) = connected(&b, "listener").await;
    let on_a = send_messages(connected(&a, "snd_a").await.0, "snd_a", 300, Duration::from_millis(3));
    let on_b = send_messages(connected(&b, "snd_b").await.0, "snd_b", 10_000, Duration::from_millis(3));
    let mut seen = message_ids(&mut listener, 150, Duration::from_secs(5)).await;
    b.kill9();
    let acknowledged_on_b = on_b.await.unwrap();
    assert!(acknowledged_on_b.len() >= 40, "{} acknowledged on B before the kill", acknowledged_on_b.len());
    // The listener reads what B sent before dying, then reconnects to A from its last id.
    seen.extend(message_ids(&mut listener, usize::MAX, Duration::from_millis(500)).await);
    let since = seen.last().copied().unwrap_or(0);
    let token = a.login("listener").await;
    let (mut again, history) = a.connect_query(&format!("token={token}&since={since}")).await;
    seen.extend(history["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()));
    let acknowledged_on_a = on_a.await.unwrap();
    assert_eq!(acknowledged_on_a.len(), 300);
    let newest = *acknowledged_on_a.iter().chain(&acknowledged_on_b).max().unwrap();
    while seen.last().is_none_or(|last| *last < newest) {
        let more = message_ids(&mut again, 1, Duration::from_secs(5)).await;
        assert!(!more.is_empty(), "live feed stopped at {:?} before {newest}", seen.last());
        seen.extend(more);
    }
    assert_gapless(&seen, "listener");
    for id in acknowledged_on_a.iter().chain(&acknowledged_on_b) {
        assert!(seen.binary_search(id).is_ok(), "acknowledged {id} never reached the listener");
    }
}

#[tokio::test]
async fn an_admin_block_on_one_node_closes_the_users_sockets_on_the_other() {
    let cluster = Cluster::new().await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    a.register("root").await;
    let admin = a.login("root").await;
    let (mut victim, victim_id) = connected(&b, "victim").await;
    let started = std::time::Instant::now();
    let (status, answer) = a.post_as(&format!("/admin/users/{victim_id}/block"), Some(&admin), &json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(victim.until_type("blocked").await["type"], "blocked");
    assert_eq!(victim.close_code().await, 1008);
    // Documented: within a second.
    assert!(started.elapsed() < Duration::from_secs(1) + BUSY_MARGIN, "closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn conversations_and_typing_work_across_nodes() {
    let cluster = Cluster::new().await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (mut carol, _) = connected(&a, "carol").await;
    let (mut dave, _) = connected(&b, "dave").await;
    let carol_token = a.login("carol").await;
    let dave_token = b.login("dave").await;
    let (status, room) = a.post_as("/rooms", Some(&carol_token), &json!({"name": "plaza", "kind": "public"})).await;
    assert_eq!(status, 201, "{room}");
    let room = room["id"].as_i64().unwrap();
    // Created on A, joined on B: both nodes know the room and its members.
    let (status, answer) = b.post_as(&format!("/rooms/{room}/join"), Some(&dave_token), &json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let joined = until(&mut carol, |f| f["type"] == "member" && f["username"] == "dave").await;
    assert_eq!(joined["joined"], true);
    dave.send_json(&json!({"type": "message", "room_id": room, "content": "hi plaza", "client_id": "d-1"})).await;
    let ack = until(&mut dave, |f| f["type"] == "message").await;
    assert_eq!(ack["room_id"], room, "{ack}");
    let seen = until(&mut carol, |f| f["type"] == "message").await;
    assert_eq!((seen["id"].clone(), seen["content"].as_str()), (ack["id"].clone(), Some("hi plaza")));
    carol.send_json(&json!({"type": "typing", "room_id": room})).await;
    let typing = until(&mut dave, |f| f["type"] == "typing").await;
    assert_eq!((typing["room_id"].as_i64(), typing["username"].as_str()), (Some(room), Some("carol")));
}

#[tokio::test]
async fn presence_is_cluster_wide_and_a_dead_nodes_users_go_offline() {
    let cluster = Cluster::new().await;
    let ttl = [("CHATTERBOX_PRESENCE_TTL_SECS", "2".to_string())];
    let a = cluster.node_with(&ttl).await;
    let mut b = cluster.node_with(&ttl).await;
    let (mut watcher, _) = connected(&a, "watcher").await;
    let (_bob, _) = connected(&b, "bob").await;
    let online = until(&mut watcher, |f| f["type"] == "presence" && f["username"] == "bob").await;
    assert_eq!(online["online"], true);
    b.kill9();
    let started = std::time::Instant::now();
    let offline = until(&mut watcher, |f| f["type"] == "presence" && f["username"] == "bob").await;
    assert_eq!(offline["online"], false);
    assert!(started.elapsed() < Duration::from_secs(4), "offline after {:?}", started.elapsed());
}

/// The `presence` frames about `username` (their `online`) that `watcher` reads until a frame
/// `marker` picks arrives (at most 15 s), and until none has come for 300 ms (six presence
/// windows) after it.
async fn presence_of_until(watcher: &mut Client, username: &str, marker: impl Fn(&Value) -> bool) -> Vec<bool> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let (mut seen, mut marked) = (Vec::new(), false);
    loop {
        let wait = if marked {
            Duration::from_millis(300)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        let Some(frame) = watcher.next_json_within(wait).await else {
            assert!(marked, "the marker frame never came");
            return seen;
        };
        if frame["type"] == "presence" && frame["username"] == username {
            seen.push(frame["online"].as_bool().unwrap());
        }
        marked |= marker(&frame);
    }
}

#[tokio::test]
async fn a_user_with_sockets_on_both_nodes_is_online_once_and_stays_online_while_one_is_open() {
    let cluster = Cluster::new().await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (mut watcher_a, _) = connected(&a, "watcher_a").await;
    let (mut watcher_b, _) = connected(&b, "watcher_b").await;
    // Bob opens a socket on A, then one on B; then carol, on B only, comes online: her frame
    // follows anything bob's second socket could have caused, on either node.
    let (_bob_on_a, _) = connected(&a, "bob").await;
    let bob_token = b.login("bob").await;
    let (mut bob_on_b, _) = b.connect(&bob_token).await;
    let (mut carol, _) = connected(&b, "carol").await;
    let carol_is =
        |online: bool| move |f: &Value| f["type"] == "presence" && f["username"] == "carol" && f["online"] == online;
    assert_eq!(presence_of_until(&mut watcher_a, "bob", carol_is(true)).await, [true], "A: bob came online once");
    assert_eq!(presence_of_until(&mut watcher_b, "bob", carol_is(true)).await, [true], "B: bob came online once");

    // Bob and carol close their sockets on B. After the grace period B tells the cluster they
    // left it: carol is offline everywhere, bob is not (his socket on A is open).
    for client in [&mut bob_on_b, &mut carol] {
        futures::SinkExt::close(&mut client.socket).await.unwrap();
    }
    assert_eq!(presence_of_until(&mut watcher_a, "bob", carol_is(false)).await, Vec::<bool>::new(), "A: bob stays");
    assert_eq!(presence_of_until(&mut watcher_b, "bob", carol_is(false)).await, Vec::<bool>::new(), "B: bob stays");
    // A fresh client on either node finds him online.
    let watcher_token = b.login("watcher_b").await;
    let (mut fresh, _) = b.connect(&watcher_token).await;
    let rooms = until(&mut fresh, |f| f["type"] == "rooms").await;
    assert!(rooms["online"].as_array().unwrap().iter().any(|name| name == "bob"), "{rooms}");
}

#[tokio::test]
async fn flood_control_and_login_throttles_hold_across_nodes() {
    let cluster = Cluster::new().await;
    let limits = [
        ("CHATTERBOX_FLOOD_BURST", "5".to_string()),
        ("CHATTERBOX_FLOOD_PER_SEC", "0.01".to_string()),
        ("CHATTERBOX_LOGIN_ACCOUNT_BURST", "3".to_string()),
        ("CHATTERBOX_LOGIN_ACCOUNT_PER_MIN", "0.01".to_string()),
    ];
    let (a, b) = (cluster.node_with(&limits).await, cluster.node_with(&limits).await);
    a.register("eager").await;
    let token = a.login("eager").await;
    let (mut on_a, _) = a.connect(&token).await;
    let (mut on_b, _) = b.connect(&token).await;
    let mut accepted = 0;
    for i in 0..6 {
        let client = if i < 3 { &mut on_a } else { &mut on_b };
        let client_id = format!("e-{i}");
        client.send_json(&json!({"type": "message", "content": format!("m{i}"), "client_id": client_id})).await;
        if client.outcome_of(&client_id, Duration::from_secs(5)).await.is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 5, "one burst of 5 for the account, whichever node takes the messages");

    a.register("guessed").await;
    let wrong = json!({"username": "guessed", "password": "wrong-password"});
    let statuses = [
        a.post_json("/login", &wrong).await.0,
        a.post_json("/login", &wrong).await.0,
        b.post_json("/login", &wrong).await.0,
        b.post_json("/login", &wrong).await.0,
    ];
    assert_eq!(statuses, [401, 401, 401, 429], "three attempts for the account across both nodes");
}

#[tokio::test]
async fn two_nodes_starting_at_once_on_an_empty_database_both_serve() {
    let cluster = Cluster::new().await;
    let (a, b) = tokio::join!(cluster.node(), cluster.node());
    let (mut on_a, _) = connected(&a, "first").await;
    let (mut on_b, _) = connected(&b, "second").await;
    on_a.say("both up").await;
    assert_eq!(until(&mut on_b, |f| f["type"] == "message").await["content"], "both up");
}
