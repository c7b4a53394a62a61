//! Bounds that keep a large server cheap (issue 22): what a connection keeps for itself while its
//! first history is read is bounded like its backlog (frames and bytes, close 1013), and presence
//! is summarised above `presence_list_max` users online (no frame per arrival to people who only
//! share `general`; everyone gets the number online).

use crate::common::{Client, TestApp};
use serde_json::{json, Value};
use server::fanout::hub::Authority;
use server::fanout::outbox::{End, Outbox};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The longest any frame awaited here may take, with room for a busy 2-core machine.
const WAIT: Duration = Duration::from_secs(15);

/// Sends a message in `general` and waits for its acknowledgement (the sender's own copy).
async fn say_acknowledged(client: &mut Client, content: &str) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let client_id = format!("bound-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    client.send_json(&json!({"type": "message", "content": content, "client_id": client_id})).await;
    wait_for(client, "the acknowledgement", |f| f["type"] == "message" && f["client_id"] == client_id.as_str()).await;
}

async fn wait_for(client: &mut Client, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_json_within(left).await {
            Some(frame) if wanted(&frame) => return frame,
            Some(_) => continue,
            None => panic!("no {what} within {WAIT:?}"),
        }
    }
}

/// A connection registered with the hub whose first history is never sent: what the connection
/// task does between registering and going live, held open.
async fn joining_forever(app: &TestApp, username: &str) -> (Arc<Outbox>, tokio::net::TcpStream) {
    let user = app.services.store().user_by_username(username).await.expect("read").expect("registered").public;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (socket, _) = listener.accept().await.unwrap();
    let hub = app.services.hub();
    let outbox = Arc::new(Outbox::new(socket, hub.backlog_limits));
    hub.register(&user, Authority { token_version: 0, is_admin: false, session: None }, outbox.clone());
    (outbox, peer)
}

#[tokio::test]
async fn live_messages_kept_for_a_connection_still_reading_its_history_are_bounded_in_frames() {
    let app = TestApp::spawn_with(|c| c.outbound_queue = 3).await;
    let alice = app.user("alice").await;
    app.register("bob").await;
    let (outbox, _peer) = joining_forever(&app, "bob").await;
    let (mut sender, _) = app.connect(&alice).await;
    for n in 1..=3 {
        say_acknowledged(&mut sender, &format!("kept {n}")).await;
    }
    assert_eq!(outbox.end(), None, "three messages are within the bound of three frames");
    say_acknowledged(&mut sender, "one too many").await;
    // The writer hands the wave to the fan-out's shards, which deliver it right after the
    // sender's own copy went out: wait for that, with a deadline.
    let deadline = Instant::now() + WAIT;
    while outbox.end().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(outbox.end(), Some(End::Close(1013, "too slow: reconnect with since")));
}

#[tokio::test]
async fn live_messages_kept_for_a_connection_still_reading_its_history_are_bounded_in_bytes() {
    // About 1.1 KB per message frame: two fit in 3000 bytes, three do not.
    let app = TestApp::spawn_with(|c| c.outbound_queue_bytes = 3000).await;
    let alice = app.user("alice").await;
    app.register("bob").await;
    let (outbox, _peer) = joining_forever(&app, "bob").await;
    let (mut sender, _) = app.connect(&alice).await;
    let long = |n: usize| format!("{n}{}", "x".repeat(1000));
    say_acknowledged(&mut sender, &long(1)).await;
    say_acknowledged(&mut sender, &long(2)).await;
    assert_eq!(outbox.end(), None, "two messages are within 3000 bytes");
    say_acknowledged(&mut sender, &long(3)).await;
    let deadline = Instant::now() + WAIT;
    while outbox.end().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(outbox.end(), Some(End::Close(1013, "too slow: reconnect with since")));
}

/// Connects and returns the client with its `rooms` frame (the second one).
async fn ready(app: &TestApp, token: &str) -> (Client, Value) {
    let (mut client, _history) = app.connect(token).await;
    let rooms = client.next_frame().await;
    assert_eq!(rooms["type"], "rooms", "{rooms}");
    (client, rooms)
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn above_the_list_max_presence_is_summarised_and_goes_only_to_people_sharing_a_room() {
    let app = TestApp::spawn_with(|c| c.presence_list_max = 2).await;
    let [alice, bob, carol, dan] =
        [app.user("alice").await, app.user("bob").await, app.user("carol").await, app.user("dan").await];
    // alice and bob share a room; carol and dan share only `general` with them.
    let (status, room) = app.post_as("/rooms", Some(&alice), &json!({"name": "Pair", "kind": "public"})).await;
    assert_eq!(status, 201, "{room}");
    let (status, joined) = app.post_as(&format!("/rooms/{}/join", room["id"]), Some(&bob), &json!({})).await;
    assert_eq!(status, 200, "{joined}");

    // Two online: everyone is told of everyone, as on any small server.
    let (mut a, rooms) = ready(&app, &alice).await;
    assert_eq!((names(&rooms["online"]), rooms.get("online_count")), (vec!["alice".to_string()], None));
    let (_b, _) = ready(&app, &bob).await;
    wait_for(&mut a, "bob's presence", |f| f == &json!({"type": "presence", "username": "bob", "online": true})).await;

    // The third: presence is summarised from now on. alice is told whom she hears of.
    let (_c, rooms) = ready(&app, &carol).await;
    assert_eq!(names(&rooms["online"]), ["carol"], "only carol herself: she shares no room: {rooms}");
    assert_eq!(rooms["online_count"], 3, "{rooms}");
    let summary = wait_for(&mut a, "the switch to summaries", |f| f["type"] == "presence_summary").await;
    assert_eq!((names(&summary["online"]), &summary["online_count"]), (vec!["alice".into(), "bob".into()], &json!(3)));

    // dan's arrival is not told to alice: only the number online, at the next summary.
    let (mut d, _) = ready(&app, &dan).await;
    // Every frame until a count of four (a count of three may come first, if its period ended
    // before dan arrived): more than a summary period, past every presence window.
    let mut frames = Vec::new();
    loop {
        let frame = wait_for(&mut a, "the number online", |_| true).await;
        if frame["type"] == "presence_summary" && frame["online_count"] == 4 {
            assert_eq!(frame, json!({"type": "presence_summary", "online_count": 4}), "a count without a list");
            break;
        }
        frames.push(frame);
    }
    assert!(!frames.iter().any(|f| f["type"] == "presence"), "alice was told of dan: {frames:?}");

    // bob, who shares a room with alice, is still told to her when he leaves (after the grace).
    drop(_b);
    let offline = json!({"type": "presence", "username": "bob", "online": false});
    wait_for(&mut a, "bob going offline", |f| f == &offline).await;

    // Down to one online (below 90 % of the list max): everyone is told of everyone again.
    drop(_c);
    d.socket.close(None).await.expect("close");
    drop(d);
    let listed =
        wait_for(&mut a, "the switch back", |f| f["type"] == "presence_summary" && f.get("online").is_some()).await;
    assert_eq!(listed, json!({"type": "presence_summary", "online_count": 1, "online": ["alice"]}));
}
