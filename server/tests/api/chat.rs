//! The chat contract with real WebSocket clients (tokio-tungstenite) against the app on
//! 127.0.0.1:0: authentication, history, catch-up, idempotency, ordering, bad frames, slow
//! consumers, flood control and graceful shutdown.

use crate::common::{raw, Client, TestApp};
use futures::SinkExt;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn refusals_before_upgrade() {
    let app = TestApp::spawn().await;
    app.register("admin").await;
    let token = app.user("ann").await;

    // No token, bad token: 401.
    let request = app.ws_url("").into_client_request().unwrap();
    assert_eq!(app.ws_refusal(request).await, 401);
    let request = app.ws_url("token=not.a.token").into_client_request().unwrap();
    assert_eq!(app.ws_refusal(request).await, 401);

    // Session cookie from another site: 403; from our own origin: accepted.
    let mut request = app.ws_url("").into_client_request().unwrap();
    request.headers_mut().insert("cookie", format!("chatterbox_session={token}").parse().unwrap());
    request.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    assert_eq!(app.ws_refusal(request).await, 403);
    let mut request = app.ws_url("").into_client_request().unwrap();
    request.headers_mut().insert("cookie", format!("chatterbox_session={token}").parse().unwrap());
    assert_eq!(app.ws_refusal(request).await, 403, "cookie without Origin is refused too");
    let mut request = app.ws_url("").into_client_request().unwrap();
    request.headers_mut().insert("cookie", format!("chatterbox_session={token}").parse().unwrap());
    request.headers_mut().insert("origin", format!("http://{}", app.addr).parse().unwrap());
    let (_socket, _) = tokio_tungstenite::connect_async(request).await.expect("own origin accepted");

    // Blocked user: 403.
    let user = app.services.store().find_login("ann").await.unwrap().unwrap();
    app.services.store().block_user(user.public.id).await.unwrap();
    let fresh_blocked = app.services.tokens().issue(user.public.id, user.token_version + 1);
    let request = app.ws_url(&format!("token={fresh_blocked}")).into_client_request().unwrap();
    assert_eq!(app.ws_refusal(request).await, 403);
}

#[tokio::test]
async fn message_is_broadcast_to_everyone_with_the_contract_fields() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let alice_id = app.get_json("/me", Some(&a)).await.1["id"].clone();
    let (mut alice, history) = app.connect(&a).await;
    assert_eq!(history["messages"], json!([]));
    assert_eq!(history["more"], false);
    let (mut bob, _) = app.connect(&b).await;

    alice.send_json(&json!({"type": "message", "content": "hello <b>world</b>", "client_id": "c-1"})).await;
    let mine = alice.next_json().await;
    let theirs = bob.next_json().await;
    for frame in [&mine, &theirs] {
        assert_eq!(frame["type"], "message");
        assert_eq!(frame["username"], "alice");
        assert_eq!(frame["content"], "hello <b>world</b>");
        assert_eq!(frame["room"], "general");
        assert_eq!(frame["room_id"], 1, "general is room 1");
        assert_eq!(frame["sender_id"], alice_id, "the sender's user id");
        assert!(frame["id"].as_i64().unwrap() > 0);
        let ts = frame["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z'), "{ts}");
    }
    assert_eq!(mine["client_id"], "c-1");
    assert_eq!(mine["id"], theirs["id"]);
}

#[tokio::test]
async fn history_is_the_newest_50_oldest_first_and_since_catches_up_exactly() {
    let app = TestApp::spawn_with(|c| c.flood_burst = 1000).await;
    let token = app.user("hist").await;
    let (mut writer, _) = app.connect(&token).await;
    let mut ids = Vec::new();
    for i in 0..65 {
        writer.say(&format!("m{i}")).await;
        ids.push(writer.next_json().await["id"].as_i64().unwrap());
    }
    let (_reader, history) = app.connect(&token).await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 50);
    assert_eq!(messages[0]["content"], "m15");
    assert_eq!(messages[49]["content"], "m64");
    assert!(messages.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()));
    assert_eq!(history["more"], false);

    let (_c, since) = app.connect_query(&format!("token={token}&since={}", ids[59])).await;
    let got: Vec<i64> = since["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids[60..].to_vec());
    assert_eq!(since["more"], false);

    let (_c, all) = app.connect_query(&format!("token={token}&since=0")).await;
    assert_eq!(all["messages"].as_array().unwrap().len(), 65);

    // Paging older history over REST: newest first.
    let (status, page) = app.get_json(&format!("/messages?before={}&limit=10", ids[20]), Some(&token)).await;
    assert_eq!(status, 200);
    let page: Vec<i64> = page.as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(page, ids[10..20].iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(app.get_json("/messages?limit=201", Some(&token)).await.0, 400);
    assert_eq!(app.get_json("/messages", None).await.0, 401);
}

#[tokio::test]
async fn a_since_beyond_the_newest_message_does_not_mute_the_live_feed() {
    let app = TestApp::spawn().await;
    let token = app.user("stale").await;
    let (mut talker, _) = app.connect(&token).await;
    talker.say("first").await;
    let first = talker.next_json().await["id"].as_i64().unwrap();
    // An id from another database (or a future one): nothing after it, but the feed goes on.
    let (mut stale, history) = app.connect_query(&format!("token={token}&since={}", first + 1000)).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 0);
    talker.say("second").await;
    let got = stale.until_type("message").await;
    assert_eq!(got["content"], "second");
}

#[tokio::test]
async fn since_is_capped_at_500_with_more() {
    let app = TestApp::spawn().await;
    let token = app.user("bulk").await;
    let user = app.services.store().find_login("bulk").await.unwrap().unwrap();
    let batch: Vec<_> = (0..520)
        .map(|i| server::store::NewMessage {
            sender_id: user.public.id,
            username: "bulk".into(),
            room_id: app::protocol::GENERAL_ROOM_ID,
            room: "general".into(),
            content: format!("b{i}"),
            client_id: None,
            ..Default::default()
        })
        .collect();
    app.services.store().insert_batch(&batch).await.unwrap();
    let (_c, history) = app.connect_query(&format!("token={token}&since=0")).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 500);
    assert_eq!(history["more"], true);
    assert_eq!(history["messages"][0]["content"], "b0");
}

#[tokio::test]
async fn a_retried_client_id_is_stored_once() {
    let app = TestApp::spawn().await;
    let token = app.user("retry").await;
    let other = app.user("watcher").await;
    let (mut sender, _) = app.connect(&token).await;
    let (mut watcher, _) = app.connect(&other).await;
    let frame = json!({"type": "message", "content": "once", "client_id": "abc-123"});
    sender.send_json(&frame).await;
    let first = sender.next_json().await;
    sender.send_json(&frame).await;
    let ack = sender.next_json().await;
    assert_eq!(ack["id"], first["id"], "the retry is acknowledged with the original");
    assert_eq!(watcher.next_json().await["id"], first["id"]);
    watcher.assert_silent(Duration::from_millis(300)).await;
    let (_c, history) = app.connect(&token).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 1);

    let long_id = "x".repeat(65);
    sender.send_json(&json!({"type": "message", "content": "hi", "client_id": long_id})).await;
    assert_eq!(sender.next_json().await["type"], "error");
}

#[tokio::test]
async fn ten_concurrent_senders_everyone_sees_one_increasing_order() {
    let app = TestApp::spawn_with(|c| c.flood_burst = 1000).await;
    let listener_token = app.user("listener").await;
    let (mut listener, _) = app.connect(&listener_token).await;
    let mut tasks = Vec::new();
    for s in 0..10 {
        let token = app.user(&format!("sender{s}")).await;
        let (mut client, _) = app.connect(&token).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                client.say(&format!("s{s}-{i}")).await;
            }
            // Keep the socket open until our own 20 copies came back.
            let mut mine = 0;
            while mine < 20 {
                if client.next_json().await["username"] == format!("sender{s}") {
                    mine += 1;
                }
            }
        }));
    }
    let mut seen = Vec::new();
    while seen.len() < 200 {
        let frame = listener.next_json().await;
        seen.push((frame["id"].as_i64().unwrap(), frame["content"].as_str().unwrap().to_owned()));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "ids strictly increase");
    for s in 0..10 {
        let order: Vec<_> =
            seen.iter().filter(|(_, c)| c.starts_with(&format!("s{s}-"))).map(|(_, c)| c.clone()).collect();
        let expected: Vec<_> = (0..20).map(|i| format!("s{s}-{i}")).collect();
        assert_eq!(order, expected, "each sender's messages keep their order");
    }
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_stays_open() {
    let app = TestApp::spawn().await;
    let token = app.user("fuzzy").await;
    let other = app.user("bystander").await;
    let (mut client, _) = app.connect(&token).await;
    let (mut bystander, _) = app.connect(&other).await;
    let long = "a".repeat(4001);
    let bad = [
        "not json".to_string(),
        "{}".to_string(),
        json!({"type": "dance"}).to_string(),
        json!({"type": "message"}).to_string(),
        json!({"type": "message", "content": ""}).to_string(),
        json!({"type": "message", "content": " \n\t "}).to_string(),
        json!({"type": "message", "content": 42}).to_string(),
        json!({"type": "message", "content": long}).to_string(),
        "[1,2,3]".to_string(),
        "\"just a string\"".to_string(),
    ];
    for text in &bad {
        client.send_text(text).await;
        let reply = client.next_json().await;
        assert_eq!(reply["type"], "error", "{text} -> {reply}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Exactly 4000 characters is fine, and the connection still works.
    client.say(&"é".repeat(4000)).await;
    assert_eq!(client.next_json().await["type"], "message");
    assert_eq!(bystander.next_json().await["type"], "message");
    bystander.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn oversized_frames_close_1009_and_binary_frames_close_1003() {
    let app = TestApp::spawn().await;
    let token = app.user("big").await;
    let other = app.user("calm").await;
    let (mut calm, _) = app.connect(&other).await;

    let (mut client, _) = app.connect(&token).await;
    client
        .send_text(&format!(r#"{{"type":"message","content":"{}"}}"#, "a".repeat(app::protocol::MAX_FRAME_BYTES)))
        .await;
    assert_eq!(client.close_code().await, 1009);

    let (mut client, _) = app.connect(&token).await;
    client.socket.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(client.close_code().await, 1003);

    // The other user's connection is undisturbed.
    let (mut again, _) = app.connect(&token).await;
    again.say("still here").await;
    assert_eq!(calm.next_json().await["content"], "still here");
}

#[tokio::test]
async fn flood_limit_is_per_account() {
    let app = TestApp::spawn_with(|c| {
        c.flood_burst = 5;
        c.flood_per_sec = 0.5;
    })
    .await;
    let spam = app.user("spammer").await;
    let calm = app.user("calmuser").await;
    let watching = app.user("watcher").await;
    let (mut watcher, _) = app.connect(&watching).await;
    let (mut first, _) = app.connect(&spam).await;
    let (mut second, _) = app.connect(&spam).await;
    let (mut other, _) = app.connect(&calm).await;
    let wait = Duration::from_secs(10);

    // The spammer floods until refused: the refusal names the refused frame's client_id.
    let sent = 20;
    for i in 0..sent {
        let frame =
            json!({"type": "message", "content": format!("flood number {i}"), "client_id": format!("spam-{i}")});
        first.send_json(&frame).await;
    }
    let mut accepted = HashSet::new();
    let mut refused = HashSet::new();
    loop {
        let frame = first.next_json().await;
        match frame["type"].as_str() {
            Some("message") => assert!(accepted.insert(frame["client_id"].as_str().unwrap().to_owned()), "{frame}"),
            Some("error") => {
                assert!(frame["message"].as_str().unwrap().contains("too many"), "{frame}");
                let id = frame["client_id"].as_str().unwrap_or_else(|| panic!("refusal without client_id: {frame}"));
                refused.insert(id.to_owned());
                break;
            }
            _ => {}
        }
    }

    // Right away (the bucket is empty and refills one message per 2 s), from the same IP
    // (every test client is 127.0.0.1): another account is served, the same account on another
    // socket is not. Per-IP limiting would refuse the first; per-socket would serve the second.
    other.send_json(&json!({"type": "message", "content": "calm words", "client_id": "calm-1"})).await;
    second.send_json(&json!({"type": "message", "content": "too much", "client_id": "spam-second"})).await;
    let calm_message =
        other.outcome_of("calm-1", wait).await.unwrap_or_else(|e| panic!("another account was refused: {e}"));
    assert_eq!(calm_message["content"], "calm words");
    let refusal = second.outcome_of("spam-second", wait).await.expect_err("the same account's other socket is limited");
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert!(refusal["message"].as_str().unwrap().contains("too many"), "{refusal}");

    // The rest of the flood: each message broadcast or refused, every refusal naming it.
    while accepted.len() + refused.len() < sent {
        let frame = first.next_json().await;
        match frame["type"].as_str() {
            Some("message") if frame["client_id"].as_str().is_some_and(|id| id.starts_with("spam-")) => {
                assert!(accepted.insert(frame["client_id"].as_str().unwrap().to_owned()), "{frame}");
            }
            Some("error") => {
                let id = frame["client_id"].as_str().unwrap_or_else(|| panic!("refusal without client_id: {frame}"));
                assert!(refused.insert(id.to_owned()), "{frame}");
            }
            _ => {}
        }
    }
    assert!(accepted.is_disjoint(&refused), "{accepted:?} {refused:?}");
    for i in 0..5 {
        assert!(accepted.contains(&format!("spam-{i}")), "the burst of 5 is served: {accepted:?}");
    }
    assert!(accepted.len() < 10, "most of the flood is refused: {accepted:?}");
    refused.insert("spam-second".to_owned());

    // What everyone saw: exactly the accepted messages and the other account's, never a refused one.
    let seen = watcher.drain_json(Duration::from_secs(1)).await;
    let seen_ids: HashSet<String> = seen
        .iter()
        .filter(|frame| frame["type"] == "message")
        .map(|frame| frame["client_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut expected = accepted.clone();
    expected.insert("calm-1".to_owned());
    assert_eq!(seen_ids, expected, "the broadcast holds the accepted messages only");
    for frame in &seen {
        let content = frame["content"].as_str().unwrap_or_default();
        assert_ne!(content, "too much", "a refused message was broadcast: {frame}");
        for id in &refused {
            if let Some(i) = id.strip_prefix("spam-") {
                assert_ne!(content, format!("flood number {i}"), "a refused message was broadcast: {frame}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_dropped_while_others_keep_receiving() {
    let app = TestApp::spawn_with(|c| {
        c.flood_burst = 100_000;
        c.flood_per_sec = 100_000.0;
        // A small backlog, in frames and in bytes, so that the kernel buffers of the socket nobody
        // reads, not the backlog, hold most of what waits.
        c.outbound_queue = 64;
        c.outbound_queue_bytes = 64 * 1024;
        // Long enough that only the backlog bound can end the slow socket (not a stalled write
        // or a missed ping): then its close frame waits behind what the kernel still holds.
        c.write_timeout_secs = 120;
        c.ping_interval_secs = 120;
    })
    .await;
    let slow_token = app.user("slowpoke").await;
    let fast_token = app.user("speedy").await;
    let sender_token = app.user("talker").await;
    let (mut slow, _) = app.connect(&slow_token).await;
    let (mut fast, _) = app.connect(&fast_token).await;
    let (sender, _) = app.connect(&sender_token).await;
    let payload = "x".repeat(3900);
    // 2000 x 4 KB = 8 MB: more than the kernel buffers of a socket nobody reads.
    let total = 2000;
    let reader = tokio::spawn(async move {
        let mut got = 0;
        let mut last_id = 0;
        while got < total {
            // A close or a 10 s silence panics here: the reading client must never be dropped.
            let frame = fast.next_json().await;
            if frame["type"] == "message" {
                let id = frame["id"].as_i64().unwrap();
                assert!(id > last_id, "in order, once each: {id} after {last_id}");
                last_id = id;
                got += 1;
            }
        }
        got
    });
    // The sender reads its own copies, so it is not a slow consumer itself.
    let (mut sink, mut stream) = futures::StreamExt::split(sender.socket);
    tokio::spawn(async move { while futures::StreamExt::next(&mut stream).await.is_some() {} });
    let frame = json!({"type": "message", "content": payload}).to_string();
    for i in 0..total {
        sink.send(Message::text(frame.clone())).await.unwrap();
        if i % 50 == 49 {
            // Pace the burst a little so the reading client stays within the queue.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(reader.await.unwrap(), total, "the fast reader got everything");
    // The slow one (never read) was closed with 1013: reading what the kernel still holds ends
    // in that close frame. A silence, an end without a close frame, or another code fails.
    assert_eq!(slow.close_code().await, 1013, "the slow consumer is told to try again later");
}

#[tokio::test]
async fn graceful_shutdown_closes_sockets_with_1001_and_keeps_acknowledged_messages() {
    let mut app = TestApp::spawn_with(|c| c.flood_burst = 1000).await;
    let token = app.user("stayer").await;
    let (mut client, _) = app.connect(&token).await;
    for i in 0..20 {
        client.say(&format!("before shutdown {i}")).await;
    }
    let mut acked = 0;
    while acked < 20 {
        if client.next_json().await["type"] == "message" {
            acked += 1;
        }
    }
    app.shutdown().await;
    assert_eq!(client.close_code().await, 1001);
    let count: i64 = app.db().await.number("SELECT COUNT(*) FROM messages").await;
    assert_eq!(count, 20);
}

#[tokio::test]
async fn dead_peers_that_never_answer_pings_are_reaped() {
    let app = TestApp::spawn_with(|c| c.ping_interval_secs = 1).await;
    let token = app.user("ghost").await;
    let (mut live, _) = app.connect(&token).await;
    // A peer that stops reading never answers the server's pings (tungstenite answers them only
    // while reading): after two silent intervals the server drops it.
    let (_ghost, _) = app.connect(&token).await;
    assert_eq!(app.services.hub().connection_count(), 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    loop {
        // Keep the live one talking (reading answers its pings).
        let _ = live.next_message(Duration::from_millis(300)).await;
        if app.services.hub().connection_count() == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the silent peer was not reaped");
    }
}

#[tokio::test]
async fn over_the_write_budget_waves_are_spaced_and_nothing_is_lost() {
    // 20 socket writes/s, and the CPU always counts as busy (the budget applies at once): with
    // two connections every wave is charged 100 ms (the cap), so once the 250 ms allowance is
    // used up, waves go 100 ms apart and messages wait to share them.
    let app = TestApp::spawn_with(|c| {
        c.flood_burst = 1000;
        c.fanout_writes_per_sec = 20;
        c.fanout_pacing_cpu_percent = 0;
    })
    .await;
    let (mut alice, _) = app.connect(&app.user("alice").await).await;
    let (mut bob, _) = app.connect(&app.user("bob").await).await;

    // One message per wave (the next is sent once the last is acknowledged): the first three
    // go at once, the fourth waits ~50 ms, and each later one 100 ms after the one before. So
    // from the fifth on, every gap is a wave interval: spaced waves, not one pause and a lump.
    let mut acknowledged = Vec::new();
    for n in 0..8 {
        alice.say(&format!("paced {n}")).await;
        assert_eq!(alice.until_type("message").await["content"], format!("paced {n}"));
        acknowledged.push(std::time::Instant::now());
    }
    let gaps: Vec<Duration> = acknowledged.windows(2).map(|pair| pair[1] - pair[0]).collect();
    // A gap is measured from the client's reading of the previous wave: a client reading late
    // shortens the next gap by as much, so half the interval is asserted.
    for (n, gap) in gaps.iter().enumerate().skip(3) {
        assert!(*gap >= Duration::from_millis(50), "wave {} came {gap:?} after the one before: {gaps:?}", n + 1);
    }

    // A burst shares the waves: every message arrives, once, in order.
    for n in 0..50 {
        alice.say(&format!("burst {n}")).await;
    }
    let mut last_id = 0;
    let expected = (0..8).map(|n| format!("paced {n}")).chain((0..50).map(|n| format!("burst {n}")));
    for content in expected {
        let frame = bob.until_type("message").await;
        assert_eq!(frame["content"], content);
        let id = frame["id"].as_i64().unwrap();
        assert!(id > last_id, "ids must increase");
        last_id = id;
    }
}

#[tokio::test]
async fn typing_reaches_the_others_only_a_few_times_a_second_and_is_never_stored() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let (mut alice, _) = app.connect(&a).await;
    let (mut alice_tab, _) = app.connect(&a).await;
    let (mut bob, _) = app.connect(&b).await;
    // Typing goes only to connections past their `rooms` frame (live): read every socket up to
    // it before anything is sent, or the typist's sockets would be silent for that reason alone.
    for client in [&mut alice, &mut alice_tab, &mut bob] {
        until_frame(client, "rooms").await;
    }

    alice.send_json(&json!({"type": "typing"})).await;
    let seen = bob.next_json().await;
    assert_eq!(seen, json!({"type": "typing", "room_id": 1, "username": "alice"}));
    // Not echoed to the typist's own sockets (bob has it: theirs were written at the same time)...
    alice.assert_silent(Duration::from_millis(300)).await;
    alice_tab.assert_silent(Duration::from_millis(100)).await;
    // ...which do get other people's typing.
    bob.send_json(&json!({"type": "typing"})).await;
    for client in [&mut alice, &mut alice_tab] {
        assert_eq!(client.next_json().await, json!({"type": "typing", "room_id": 1, "username": "bob"}));
    }

    // A flood of typing frames is thinned out silently: no error, a few frames at most.
    for _ in 0..30 {
        alice.send_json(&json!({"type": "typing", "room_id": 1})).await;
    }
    let frames = bob.drain_json(Duration::from_millis(400)).await;
    assert!(frames.iter().all(|f| f["type"] == "typing"), "{frames:?}");
    assert!(frames.len() <= app::protocol::TYPING_BURST as usize, "{} typing frames passed", frames.len());
    alice.assert_silent(Duration::from_millis(100)).await;

    // Nothing of it is stored.
    let (_, page) = app.get_json("/messages", Some(&b)).await;
    assert_eq!(page, json!([]));
    let (_, history) = app.connect(&b).await;
    assert_eq!(history["messages"], json!([]));
}

#[tokio::test]
async fn frames_for_a_conversation_one_is_not_in_are_refused() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let (mut alice, _) = app.connect(&a).await;
    alice.send_json(&json!({"type": "message", "room_id": 2, "content": "elsewhere", "client_id": "x-1"})).await;
    let refused = alice.next_json().await;
    assert_eq!((refused["type"].as_str(), refused["client_id"].as_str()), (Some("error"), Some("x-1")), "{refused}");
    alice.send_json(&json!({"type": "typing", "room_id": 2})).await;
    assert_eq!(alice.next_json().await["type"], "error");
    // `general` by its id, or by default.
    alice.send_json(&json!({"type": "message", "room_id": 1, "content": "here", "client_id": "g-1"})).await;
    assert_eq!(alice.outcome_of("g-1", Duration::from_secs(5)).await.unwrap()["room_id"], 1);
}

/// Reads frames of any type until one of type `kind` (at most 10 s each).
async fn until_frame(client: &mut Client, kind: &str) -> Value {
    loop {
        let frame = client.next_frame().await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

#[tokio::test]
async fn every_documented_handshake_refusal_over_the_wire() {
    let app = TestApp::spawn().await;
    let token = app.user("shaker").await;
    let with_token = format!("token={token}");
    let handshake =
        |query: &str, without: Option<&str>, extra: &[&str]| raw::ws_handshake(app.addr, query, without, extra);
    let cases = [
        ("no token", handshake("", None, &[]), 401),
        ("a token that is not one", handshake("token=abc.def.ghi", None, &[]), 401),
        (
            "authentication first: a bad token and a bad version",
            handshake("token=x", None, &["Sec-WebSocket-Version: 8"]),
            401,
        ),
        ("since not a number", handshake(&format!("{with_token}&since=abc"), None, &[]), 400),
        ("since negative", handshake(&format!("{with_token}&since=-1"), None, &[]), 400),
        ("no Connection: upgrade", handshake(&with_token, Some("connection"), &[]), 400),
        ("Connection without upgrade", handshake(&with_token, None, &["Connection: keep-alive"]), 400),
        ("no Upgrade", handshake(&with_token, Some("upgrade"), &[]), 400),
        ("Upgrade not websocket", handshake(&with_token, None, &["Upgrade: h2c"]), 400),
        ("no Sec-WebSocket-Version", handshake(&with_token, Some("sec-websocket-version"), &[]), 400),
        ("no Sec-WebSocket-Key", handshake(&with_token, Some("sec-websocket-key"), &[]), 400),
        ("a key of 5 bytes", handshake(&with_token, None, &["Sec-WebSocket-Key: c2hvcnQ="]), 400),
        ("a key that is not base64", handshake(&with_token, None, &["Sec-WebSocket-Key: not base64!"]), 400),
        ("version 8", handshake(&with_token, None, &["Sec-WebSocket-Version: 8"]), 426),
    ];
    for (what, request, status) in cases {
        let answer = raw::request(app.addr, &request).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        assert!(answer.header("content-type").is_some_and(|t| t.starts_with("application/json")), "{what}: {answer:?}");
        assert!(answer.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {answer:?}");
        if status == 426 {
            assert_eq!(answer.header("sec-websocket-version"), Some("13"), "{what}: {answer:?}");
            assert!(answer.header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")), "{answer:?}");
            assert!(answer.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("upgrade")), "{answer:?}");
        }
    }
    // A subprotocol asked for is ignored: the upgrade goes through and names none.
    let answer =
        raw::request(app.addr, &handshake(&with_token, None, &["Sec-WebSocket-Protocol: chat, superchat"])).await;
    assert_eq!(answer.status, 101, "{answer:?}");
    assert_eq!(answer.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "RFC 6455's example key");
    assert_eq!(answer.header("sec-websocket-protocol"), None, "{answer:?}");
}

#[tokio::test]
async fn protocol_violations_on_a_live_socket_close_with_their_documented_codes() {
    let app = TestApp::spawn().await;
    let token = app.user("violator").await;
    let (mut bystander, _) = app.connect(&app.user("bystander").await).await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("an unmasked frame", raw::frame(0x81, b"{}", false), 1002),
        ("a reserved bit", raw::frame(0x80 | 0x40 | 0x1, b"{}", true), 1002),
        ("an unknown data opcode", raw::masked(0x3, b"x"), 1002),
        ("an unknown control opcode", raw::masked(0xB, b""), 1002),
        ("a continuation without a start", raw::frame(0x80, b"x", true), 1002),
        (
            "a new message inside a fragmented one",
            [raw::frame(0x01, b"{", true), raw::masked(0x1, b"}")].concat(),
            1002,
        ),
        ("a fragmented control frame", raw::frame(0x09, b"", true), 1002),
        ("a close frame with a code nobody may send", raw::masked(0x8, &1005u16.to_be_bytes()), 1002),
        ("text that is not UTF-8", raw::masked(0x1, &[b'{', 0xff, 0xfe, b'}']), 1007),
        (
            "fragments that end inside a character",
            [raw::frame(0x01, &[b'"', 0xc3], true), raw::frame(0x80, b"\"", true)].concat(),
            1007,
        ),
        ("a binary frame", raw::masked(0x2, b"x"), 1003),
        // A client's own close: echoed with its code.
        ("a close frame with 4000", raw::masked(0x8, &4000u16.to_be_bytes()), 4000),
        ("a close frame without a code", raw::masked(0x8, b""), 1000),
    ];
    for (what, bytes, code) in cases {
        let (mut client, _) = app.connect(&token).await;
        client.write_raw(&bytes).await;
        assert_eq!(client.close_code().await, code, "{what}");
        // Then the server ends the TCP connection.
        assert!(client.next_message(Duration::from_secs(5)).await.is_none(), "{what}: the connection ends");
    }
    // Nobody else was disturbed.
    let (mut again, _) = app.connect(&token).await;
    again.say("still fine").await;
    assert_eq!(bystander.until_type("message").await["content"], "still fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_takes_nothing_is_dropped_after_the_write_timeout() {
    let app = TestApp::spawn_with(|c| {
        c.flood_burst = 100_000;
        c.flood_per_sec = 100_000.0;
        c.write_timeout_secs = 1;
        // Nothing else may end the stalled socket: no backlog bound within reach, no ping.
        c.outbound_queue = 1 << 20;
        c.outbound_queue_bytes = 1 << 30;
        c.ping_interval_secs = 120;
    })
    .await;
    let stalled_token = app.user("stalled").await;
    let sender_token = app.user("talker").await;
    // A client that reads its history and then nothing, with a small receive buffer so that the
    // server's writes stall after a few hundred kilobytes.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let tcp = tcp.connect(app.addr).await.unwrap();
    let url = app.ws_url(&format!("token={stalled_token}"));
    let (socket, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await.unwrap();
    let mut stalled = Client { socket };
    assert_eq!(stalled.next_json().await["type"], "history");

    let (sender, _) = app.connect(&sender_token).await;
    assert_eq!(app.services.hub().connection_count(), 2);
    let (mut sink, mut stream) = futures::StreamExt::split(sender.socket);
    tokio::spawn(async move { while futures::StreamExt::next(&mut stream).await.is_some() {} });
    // Messages until the kernel's buffers (up to 4 MiB on the server's side) are full and the
    // server's writes stall: in batches of 12 KB messages, stopping once the socket is gone (at
    // most 48 MB).
    let frame = json!({"type": "message", "content": "日".repeat(3990)}).to_string();
    let mut sent = 0;
    for _ in 0..40 {
        for _ in 0..100 {
            sink.send(Message::text(frame.clone())).await.unwrap();
        }
        sent += 100;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if app.services.hub().connection_count() == 1 {
            break;
        }
    }
    // Within the write timeout of the stall, plus a busy machine's margin: only the stalled
    // socket is gone.
    let stopped = tokio::time::Instant::now();
    while app.services.hub().connection_count() > 1 {
        assert!(stopped.elapsed() < Duration::from_secs(15), "the stalled socket was never dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("the stalled socket was dropped after {sent} messages of 12 KB");
    // The sender's socket is the one left, and it works.
    let (mut reader, _) = app.connect(&stalled_token).await;
    let after = json!({"type": "message", "content": "after", "client_id": "after"});
    sink.send(Message::text(after.to_string())).await.unwrap();
    assert_eq!(reader.outcome_of("after", Duration::from_secs(30)).await.unwrap()["content"], "after");
    // What the dropped client finds when it reads again: what the kernel held, then the end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Some(message) =
        stalled.next_message(deadline.saturating_duration_since(tokio::time::Instant::now())).await
    {
        assert!(matches!(message, Message::Text(_)), "{message:?}");
    }
    assert!(tokio::time::Instant::now() < deadline, "the dropped socket ended");
}
