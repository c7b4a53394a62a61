//! Membership across nodes follows the database (issue 22): a removal and an ignore made through
//! one node hold on the other within a second: with the bus working, with the first node's
//! publications all dropped (a Redis user that may not PUBLISH), and across a Redis restart. A
//! removed member connected to the other node gets `room_left` and then none of the room's
//! messages or typing; someone who ignores a sender gets none of their messages.
//!
//! Every negative check is ordered, not timed: after the message that must not arrive, a message
//! that must arrive is sent, and ids (and a node's frames) go out in order, so receiving the
//! second while never having received the first proves the first was left out, not delayed.

use crate::common::cluster::*;
use crate::common::process::Node;
use crate::common::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How the bus misbehaves while the changes are made.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bus {
    Working,
    /// Node A's publications are all refused by Redis (its user may not PUBLISH).
    ADropsPublications,
    /// Redis is killed before the changes and restarted after them.
    Restarted,
}

/// Redis refuses every PUBLISH of the user this makes.
async fn user_who_cannot_publish(redis_url: &str) -> String {
    let client = redis::Client::open(redis_url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "nopub", "on", ">nopub-password", "~*", "&*", "+@all", "-publish"][..])
        .query_async(&mut connection)
        .await
        .unwrap();
    // With a password: a username alone is not sent (the default user would publish).
    let url = redis_url.replacen("redis://", "redis://nopub:nopub-password@", 1);
    let refused = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let answer: redis::RedisResult<i64> =
        redis::cmd("PUBLISH").arg("any").arg("thing").query_async(&mut refused.clone()).await;
    assert!(answer.is_err(), "the user must not be able to publish: {answer:?}");
    url
}

async fn token(node: &Node, name: &str) -> String {
    node.login(name).await
}

/// Reads frames until one satisfies `wanted`; panics on one that satisfies `forbidden` first.
async fn until_not(
    client: &mut Client,
    who: &str,
    wanted: impl Fn(&Value) -> bool,
    forbidden: impl Fn(&Value) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = client.next_json_within(left).await.unwrap_or_else(|| panic!("{who}: nothing in time"));
        assert!(!forbidden(&frame), "{who} got what it must not: {frame}");
        if wanted(&frame) {
            return;
        }
    }
}

async fn removal_and_ignore_hold_across_nodes(bus: Bus) {
    let mut cluster = Cluster::new().await;
    let a_env = match bus {
        Bus::ADropsPublications => vec![("CHATTERBOX_REDIS_URL", user_who_cannot_publish(&cluster.redis.url()).await)],
        _ => Vec::new(),
    };
    let a = cluster.node_with(&a_env).await;
    let b = cluster.node().await;
    let (mut olga, _) = connected(&a, "olga").await;
    let (mut yann, _) = connected(&a, "yann").await;
    let (mut mallory, _) = connected(&b, "mallory").await;
    let (mut walt, _) = connected(&b, "walt").await;
    let (mut ivy, _) = connected(&b, "ivy").await;
    let olga_token = token(&a, "olga").await;
    let ivy_token = token(&a, "ivy").await;

    // A private room made on A, with two members on B.
    let (status, room) = a.post_as("/rooms", Some(&olga_token), &json!({"name": "cabal", "kind": "private"})).await;
    assert_eq!(status, 201, "{room}");
    let room = room["id"].as_i64().unwrap();
    for member in ["mallory", "walt"] {
        let (status, body) =
            a.post_as(&format!("/rooms/{room}/members"), Some(&olga_token), &json!({"username": member})).await;
        assert_eq!(status, 200, "{body}");
    }
    // Membership works on B before anything: walt's message reaches mallory, yann's reaches ivy.
    walt.send_json(&json!({"type": "message", "room_id": room, "content": "before", "client_id": "w0"})).await;
    until(&mut mallory, |f| f["type"] == "message" && f["content"] == "before").await;
    yann.send_json(&json!({"type": "message", "content": "hello ivy", "client_id": "y0"})).await;
    until(&mut ivy, |f| f["type"] == "message" && f["content"] == "hello ivy").await;

    if bus == Bus::Restarted {
        cluster.redis = tokio::task::spawn_blocking(move || {
            cluster.redis.kill();
            cluster.redis
        })
        .await
        .unwrap();
    }
    let changed = Instant::now();
    let (status, body) = a.delete_as(&format!("/rooms/{room}/members/mallory"), Some(&olga_token)).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = a.post_as("/ignores", Some(&ivy_token), &json!({"username": "yann"})).await;
    assert_eq!(status, 204, "{body}");
    if bus == Bus::Restarted {
        cluster.redis = tokio::task::spawn_blocking(move || {
            cluster.redis.restart();
            cluster.redis
        })
        .await
        .unwrap();
    }

    // Mallory (on B) is told within a second...
    let left = until(&mut mallory, |f| f["type"] == "room_left").await;
    assert_eq!((left["room_id"].as_i64(), left["reason"].as_str()), (Some(room), Some("removed")));
    let told = changed.elapsed();
    assert!(told < Duration::from_secs(1), "{bus:?}: room_left after {told:?}");
    // ... and from then on gets nothing of the room: walt's typing and messages (on B, where
    // the directory must have changed) and olga's (on A). Each forbidden frame is followed by
    // an allowed one sent after it.
    let wait = Duration::from_secs(1).saturating_sub(changed.elapsed());
    tokio::time::sleep(wait).await;
    walt.send_json(&json!({"type": "typing", "room_id": room})).await;
    walt.send_json(&json!({"type": "typing", "room_id": 1})).await;
    let in_room = move |f: &Value| f["room_id"] == room;
    until_not(&mut mallory, "mallory", |f| f["type"] == "typing" && f["room_id"] == 1, in_room).await;
    walt.send_json(&json!({"type": "message", "room_id": room, "content": "secret 1", "client_id": "w1"})).await;
    until(&mut walt, |f| f["client_id"] == "w1").await;
    olga.send_json(&json!({"type": "message", "room_id": room, "content": "secret 2", "client_id": "o1"})).await;
    until(&mut olga, |f| f["client_id"] == "o1").await;
    // Ivy ignores yann: his message in general is left out, walt's after it arrives.
    yann.send_json(&json!({"type": "message", "content": "ignored", "client_id": "y1"})).await;
    until(&mut yann, |f| f["client_id"] == "y1").await;
    walt.send_json(&json!({"type": "message", "content": "after all that", "client_id": "w2"})).await;
    let last = |f: &Value| f["type"] == "message" && f["content"] == "after all that";
    until_not(&mut mallory, "mallory", last, in_room).await;
    until_not(&mut ivy, "ivy", last, |f| f["type"] == "message" && f["username"] == "yann").await;
}

#[tokio::test]
async fn a_removal_and_an_ignore_through_one_node_hold_on_the_other_within_a_second() {
    removal_and_ignore_hold_across_nodes(Bus::Working).await;
}

#[tokio::test]
async fn they_hold_when_redis_drops_every_publication_of_the_node_that_made_them() {
    removal_and_ignore_hold_across_nodes(Bus::ADropsPublications).await;
}

#[tokio::test]
async fn they_hold_when_redis_restarts_around_them() {
    removal_and_ignore_hold_across_nodes(Bus::Restarted).await;
}
