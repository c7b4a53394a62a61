//! Message actions over real HTTP and WebSocket (issue 24): edit, delete, reply, react, mention
//! and search, each rule tried as the wrong person too (a non-member, another member, someone
//! ignored), the live frames, the reconnect that catches up on changes, and one node's change
//! reaching a socket on another. Every test runs on SQLite, and again on PostgreSQL
//! (`CHATTERBOX_TEST_DATABASE=postgres`): the search query set gives the same answers on both.
//!
//! Negative checks are ordered, not timed: a change's REST answer comes once this node has told
//! its members, and a node delivers a message only after every change committed before it, so
//! a message sent after a change returned arrives after any frame that change could cause.

use crate::common::cluster::{connected, until, Cluster};
use crate::common::{Client, TestApp};
use serde_json::{json, Value};

/// Sends `content` (in `room`, answering `reply_to`) and returns its acknowledgement.
async fn post(client: &mut Client, room: i64, content: &str, client_id: &str, reply_to: Option<i64>) -> Value {
    let mut frame = json!({"type": "message", "content": content, "client_id": client_id, "room_id": room});
    if let Some(id) = reply_to {
        frame["reply_to"] = id.into();
    }
    client.send_json(&frame).await;
    until(client, |f| f["client_id"] == client_id && (f["type"] == "message" || f["type"] == "error")).await
}

/// Sends `content` in `general`; its id.
async fn say(client: &mut Client, content: &str, client_id: &str) -> i64 {
    let ack = post(client, 1, content, client_id, None).await;
    assert_eq!(ack["type"], "message", "{ack}");
    ack["id"].as_i64().unwrap()
}

/// Frames read until the message `client_id` arrives (it excluded).
async fn frames_before(client: &mut Client, client_id: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = until(client, |_| true).await;
        if frame["type"] == "message" && frame["client_id"] == client_id {
            return seen;
        }
        seen.push(frame);
    }
}

/// The message `id` as `token` finds it in its conversation's history.
async fn in_history(app: &TestApp, token: &str, room: i64, id: i64) -> Value {
    let (status, page) = app.get_json(&format!("/rooms/{room}/messages"), Some(token)).await;
    assert_eq!(status, 200, "{page}");
    page.as_array().unwrap().iter().find(|m| m["id"] == id).cloned().unwrap_or(Value::Null)
}

/// `GET /search` as `token`: the status and the results.
async fn search(app: &TestApp, token: &str, query: &str) -> (u16, Vec<Value>) {
    let url = reqwest::Url::parse_with_params(&app.url("/search"), &[("q", query)]).unwrap();
    let response = app.http.get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["results"].as_array().cloned().unwrap_or_default())
}

/// The contents of the results of `query`, newest first.
async fn found(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let (status, results) = search(app, token, query).await;
    assert_eq!(status, 200, "{query}");
    results.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_edit_reaches_members_keeps_its_versions_and_is_only_its_senders() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = app.private_room(&alice, "den", &["bob"]).await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let id = post(&mut alice_ws, room, "helo wrold", "a1", None).await["id"].as_i64().unwrap();
    until(&mut bob_ws, |f| f["type"] == "message" && f["id"] == id).await;
    let path = format!("/messages/{id}");

    assert_eq!(app.send_as("PATCH", &path, None, &json!({"content": "x"})).await.0, 401);
    let (status, body) = app.send_as("PATCH", &path, Some(&bob), &json!({"content": "mine now"})).await;
    assert_eq!(status, 403, "another member: {body}");
    assert_eq!(app.send_as("PATCH", &path, Some(&carol), &json!({"content": "x"})).await.0, 404, "a non-member");
    assert_eq!(app.send_as("PATCH", "/messages/999999", Some(&alice), &json!({"content": "x"})).await.0, 404);
    assert_eq!(app.send_as("PATCH", &path, Some(&alice), &json!({"content": "  "})).await.0, 422, "empty");
    assert_eq!(app.send_as("PATCH", &path, Some(&alice), &json!({})).await.0, 422, "no content");

    let (status, edited) = app.send_as("PATCH", &path, Some(&alice), &json!({"content": "hello world"})).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!((edited["id"].as_i64(), edited["content"].as_str()), (Some(id), Some("hello world")));
    let edited_at = edited["edited_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(edited_at).is_ok() && edited_at.ends_with('Z'), "{edited_at}");
    for socket in [&mut bob_ws, &mut alice_ws] {
        let frame = until(socket, |f| f["type"] == "edited").await;
        assert_eq!(frame["message"]["content"], "hello world");
        assert_eq!(frame["message"]["edited_at"], edited_at);
        assert!(frame["change"].as_i64().unwrap() > 0, "{frame}");
    }
    let seen = in_history(&app, &bob, room, id).await;
    assert_eq!((seen["content"].as_str(), seen["edited_at"].as_str()), (Some("hello world"), Some(edited_at)));

    // The word filter: refused as a new message would be, at the cost of a warning; the old
    // text stays.
    let (status, body) = app.send_as("PATCH", &path, Some(&alice), &json!({"content": "you are a shit"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!((body["warning_count"].as_i64(), body["max_warnings"].as_i64()), (Some(1), Some(3)), "{body}");
    assert_eq!(in_history(&app, &bob, room, id).await["content"], "hello world");

    // Admins see every version, with who and when; others may not.
    let versions_path = format!("/admin/messages/{id}/versions");
    assert_eq!(app.get_json(&versions_path, Some(&alice)).await.0, 403);
    let (status, versions) = app.get_json(&versions_path, Some(&admin)).await;
    assert_eq!(status, 200, "{versions}");
    let kinds: Vec<(&str, &str, &str)> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["kind"].as_str().unwrap(), v["content"].as_str().unwrap(), v["username"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("original", "helo wrold", "alice"), ("edit", "hello world", "alice")]);
    assert_eq!(app.get_json("/admin/messages/999999/versions", Some(&admin)).await.0, 404);
    let (_, monitor) = app.get_json("/admin/messages", Some(&admin)).await;
    let row = monitor.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap().clone();
    assert_eq!((row["edited_at"].as_str(), row["deleted"].as_bool()), (Some(edited_at), Some(false)));

    // An archived room's messages stay as they are.
    let (status, body) =
        app.send_as("PATCH", &format!("/rooms/{room}"), Some(&alice), &json!({"archived": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.send_as("PATCH", &path, Some(&alice), &json!({"content": "later"})).await.0, 403);
}

#[tokio::test]
async fn an_edit_window_closes_editing_and_edits_count_toward_flood_control() {
    let app = TestApp::spawn_with(|config| {
        config.messages.edit_window_secs = 60;
        config.flood_burst = 3;
        config.flood_per_sec = 0.001;
    })
    .await;
    let alice = app.user("alice").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let old = say(&mut alice_ws, "an old one", "a1").await;
    let fresh = say(&mut alice_ws, "a fresh one", "a2").await;
    let mut db = app.db().await;
    db.execute(&format!("UPDATE messages SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = {old}")).await;
    let (status, body) =
        app.send_as("PATCH", &format!("/messages/{old}"), Some(&alice), &json!({"content": "x"})).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("the time to edit this message is over")));
    // Two messages and one edit attempt used the burst of three: the next edit is throttled.
    let (status, _) = app.send_as("PATCH", &format!("/messages/{fresh}"), Some(&alice), &json!({"content": "y"})).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_deletion_empties_the_message_everywhere_and_never_sends_its_text() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = app.private_room(&alice, "den", &["bob"]).await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let secret = "my phone number is 555 0100";
    let id = post(&mut alice_ws, room, secret, "a1", None).await["id"].as_i64().unwrap();
    until(&mut bob_ws, |f| f["type"] == "message" && f["id"] == id).await;
    let path = format!("/messages/{id}");

    assert_eq!(app.send_as("DELETE", &path, None, &Value::Null).await.0, 401);
    assert_eq!(app.send_as("DELETE", &path, Some(&bob), &Value::Null).await.0, 403, "another member");
    assert_eq!(app.send_as("DELETE", &path, Some(&carol), &Value::Null).await.0, 404, "a non-member");
    assert_eq!(app.send_as("DELETE", &path, Some(&alice), &Value::Null).await.0, 204);
    for socket in [&mut bob_ws, &mut alice_ws] {
        let frame = until(socket, |f| f["type"] == "deleted").await;
        let change = frame["change"].as_i64().unwrap();
        assert_eq!(frame, json!({"type": "deleted", "id": id, "room_id": room, "change": change}));
    }
    assert_eq!(app.send_as("DELETE", &path, Some(&alice), &Value::Null).await.0, 204, "idempotent");
    // Nothing more about it: the next message comes first, with no second `deleted`.
    post(&mut alice_ws, room, "after", "a2", None).await;
    let between = frames_before(&mut bob_ws, "a2").await;
    assert!(between.iter().all(|f| f["type"] != "deleted"), "{between:?}");

    let seen = in_history(&app, &bob, room, id).await;
    assert_eq!((seen["content"].as_str(), seen["deleted"].as_bool()), (Some(""), Some(true)), "{seen}");
    let (_, fresh) = app.connect(&bob).await;
    assert!(!fresh.to_string().contains("555 0100"));
    assert_eq!(app.send_as("PATCH", &path, Some(&alice), &json!({"content": "back"})).await.0, 404);
    assert!(found(&app, &alice, "phone").await.is_empty(), "deleted text is not searchable");

    // The text is gone for members and kept for admins; an admin deletes anyone's message.
    let (_, versions) = app.get_json(&format!("/admin/messages/{id}/versions"), Some(&admin)).await;
    let last = versions["versions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["kind"].as_str(), last["content"].as_str()), (Some("delete"), Some(secret)));
    let other = say(&mut bob_ws, "bob's words", "b1").await;
    assert_eq!(app.send_as("DELETE", &format!("/messages/{other}"), Some(&admin), &Value::Null).await.0, 204);
    let (_, monitor) = app.get_json("/admin/messages", Some(&admin)).await;
    let row = monitor.as_array().unwrap().iter().find(|m| m["id"] == other).unwrap().clone();
    assert_eq!((row["content"].as_str(), row["deleted"].as_bool()), (Some(""), Some(true)));
}

#[tokio::test]
async fn reactions_are_one_emoji_idempotent_bounded_and_counted_for_each_viewer() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = app.private_room(&alice, "den", &["bob"]).await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let id = post(&mut alice_ws, room, "lunch?", "a1", None).await["id"].as_i64().unwrap();
    let thumbs = format!("/messages/{id}/reactions/%F0%9F%91%8D");

    assert_eq!(app.send_as("PUT", &thumbs, Some(&carol), &Value::Null).await.0, 404, "a non-member");
    for bad in ["ab", "%F0%9F%91%8D%F0%9F%91%8D", "1", "%3Cscript%3E"] {
        let (status, body) =
            app.send_as("PUT", &format!("/messages/{id}/reactions/{bad}"), Some(&bob), &Value::Null).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(app.send_as("PUT", &thumbs, Some(&bob), &Value::Null).await.0, 204);
    let frame = until(&mut alice_ws, |f| f["type"] == "reaction").await;
    let change = frame["change"].as_i64().unwrap();
    assert_eq!(
        frame,
        json!({"type": "reaction", "id": id, "room_id": room, "emoji": "👍", "username": "bob", "added": true,
               "count": 1, "change": change})
    );
    assert_eq!(app.send_as("PUT", &thumbs, Some(&bob), &Value::Null).await.0, 204, "idempotent");
    assert_eq!(app.send_as("PUT", &thumbs, Some(&alice), &Value::Null).await.0, 204);
    let frame = until(&mut bob_ws, |f| f["type"] == "reaction" && f["username"] == "alice").await;
    assert_eq!(frame["count"], 2);
    // Each viewer sees whether they are among them.
    let heart = format!("/messages/{id}/reactions/%E2%9D%A4%EF%B8%8F");
    assert_eq!(app.send_as("PUT", &heart, Some(&alice), &Value::Null).await.0, 204);
    let mine = in_history(&app, &alice, room, id).await["reactions"].clone();
    assert_eq!(mine, json!([{"emoji": "👍", "count": 2, "me": true}, {"emoji": "❤️", "count": 1, "me": true}]));
    let theirs = in_history(&app, &bob, room, id).await["reactions"].clone();
    assert_eq!(theirs, json!([{"emoji": "👍", "count": 2, "me": true}, {"emoji": "❤️", "count": 1, "me": false}]));

    assert_eq!(app.send_as("DELETE", &thumbs, Some(&bob), &Value::Null).await.0, 204);
    let frame = until(&mut alice_ws, |f| f["type"] == "reaction" && f["added"] == false).await;
    assert_eq!((frame["username"].as_str(), frame["count"].as_i64()), (Some("bob"), Some(1)));
    assert_eq!(app.send_as("DELETE", &thumbs, Some(&bob), &Value::Null).await.0, 204, "idempotent");

    // At most 20 distinct emoji: the 21st new one is refused, more of a used one is not.
    let emoji: Vec<char> = ('\u{1F600}'..='\u{1F612}').collect();
    for e in &emoji {
        let path = format!("/messages/{id}/reactions/{}", urlencoding(*e));
        let (status, body) = app.send_as("PUT", &path, Some(&alice), &Value::Null).await;
        let distinct_before = 2 + emoji.iter().position(|x| x == e).unwrap();
        assert_eq!(status, if distinct_before < 20 { 204 } else { 409 }, "{e}: {body}");
    }
    assert_eq!(app.send_as("PUT", &thumbs, Some(&bob), &Value::Null).await.0, 204, "a used emoji still counts");
}

/// `c` percent-encoded as UTF-8.
fn urlencoding(c: char) -> String {
    c.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn a_reply_quotes_a_readable_message_of_its_conversation_and_follows_its_edits() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.private_room(&alice, "den", &["bob"]).await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let original = post(&mut alice_ws, room, "who brings the cake?", "a1", None).await["id"].as_i64().unwrap();
    let elsewhere = say(&mut alice_ws, "in general", "a2").await;

    let reply = post(&mut bob_ws, room, "I do", "b1", Some(original)).await;
    assert_eq!(reply["type"], "message", "{reply}");
    assert_eq!(reply["reply_to"], json!({"id": original, "username": "alice", "excerpt": "who brings the cake?"}));
    let seen = until(&mut alice_ws, |f| f["type"] == "message" && f["client_id"] == "b1").await;
    assert_eq!(seen["reply_to"]["id"], original);

    for (target, why) in [(elsewhere, "another conversation"), (999_999, "no such message")] {
        let refused = post(&mut bob_ws, room, "hm", &format!("bad-{target}"), Some(target)).await;
        assert_eq!(refused["type"], "error", "{why}: {refused}");
        assert!(refused["message"].as_str().unwrap().contains("reply_to"), "{refused}");
    }
    let plain = post(&mut bob_ws, room, "plain", "b2", None).await;
    assert_eq!(plain["reply_to"], Value::Null);

    // The quote follows the original: edited, then deleted.
    let path = format!("/messages/{original}");
    assert_eq!(app.send_as("PATCH", &path, Some(&alice), &json!({"content": "who brings the pie?"})).await.0, 200);
    let id = reply["id"].as_i64().unwrap();
    assert_eq!(in_history(&app, &bob, room, id).await["reply_to"]["excerpt"], "who brings the pie?");
    let (status, found_reply) = search(&app, &bob, "has:reply").await;
    assert_eq!((status, found_reply.len()), (200, 1));
    assert_eq!(app.send_as("DELETE", &path, Some(&alice), &Value::Null).await.0, 204);
    let quoted = in_history(&app, &bob, room, id).await["reply_to"].clone();
    assert_eq!(quoted, json!({"id": original, "username": "alice", "excerpt": "", "gone": true}));
    let refused = post(&mut bob_ws, room, "too late", "b3", Some(original)).await;
    assert_eq!(refused["type"], "error", "a deleted message takes no replies: {refused}");
}

#[tokio::test]
async fn mentions_mark_members_only_and_count_until_read_or_deleted() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = app.private_room(&alice, "den", &["bob"]).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let ack = post(&mut bob_ws, room, "@Alice and @carol, see @nobody", "b1", None).await;
    assert_eq!(ack["mentions"], json!(["alice"]), "carol is not a member: {ack}");
    let mention_count = |rooms: &Value, id: i64| {
        rooms.as_array().unwrap().iter().find(|r| r["id"] == id).map(|r| r["mentions"].as_i64().unwrap())
    };
    let (_, rooms) = app.get_json("/rooms", Some(&alice)).await;
    assert_eq!(mention_count(&rooms, room), Some(1));
    let (_, rooms) = app.get_json("/rooms", Some(&carol)).await;
    assert_eq!(mention_count(&rooms, 1), Some(0));
    let second = post(&mut bob_ws, room, "again @alice", "b2", None).await["id"].as_i64().unwrap();
    let (_, rooms) = app.get_json("/rooms", Some(&alice)).await;
    assert_eq!(mention_count(&rooms, room), Some(2));
    assert_eq!(app.send_as("DELETE", &format!("/messages/{second}"), Some(&bob), &Value::Null).await.0, 204);
    let (_, rooms) = app.get_json("/rooms", Some(&alice)).await;
    assert_eq!(mention_count(&rooms, room), Some(1), "a deletion clears its mention");
    let first = ack["id"].as_i64().unwrap();
    let (status, _) = app.post_as(&format!("/rooms/{room}/read"), Some(&alice), &json!({"last_read_id": first})).await;
    assert_eq!(status, 204);
    let (_, rooms) = app.get_json("/rooms", Some(&alice)).await;
    assert_eq!(mention_count(&rooms, room), Some(0), "read");
    // An edit adds (or takes away) mentions.
    let (_, edited) =
        app.send_as("PATCH", &format!("/messages/{first}"), Some(&bob), &json!({"content": "no one"})).await;
    assert_eq!(edited["mentions"], json!([]));
}

#[tokio::test]
async fn search_finds_words_parts_phrases_and_cjk_with_operators_within_read_access_only() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let eve = app.user("eve").await;
    let den = app.private_room(&bob, "den", &["alice"]).await;
    let secret = app.private_room(&bob, "secret", &[]).await;
    let (status, public) = app.post_as("/rooms", Some(&bob), &json!({"name": "lounge", "kind": "public"})).await;
    assert_eq!(status, 201);
    let lounge = public["id"].as_i64().unwrap();
    let (mut bob_ws, _) = app.connect(&bob).await;
    let (mut eve_ws, _) = app.connect(&eve).await;
    say(&mut bob_ws, "The Café opens at nine", "g1").await;
    say(&mut bob_ws, "deployment finished <b>ok</b>", "g2").await;
    let tokyo = post(&mut bob_ws, den, "東京都に行きます", "d1", None).await["id"].as_i64().unwrap();
    post(&mut bob_ws, den, "go team", "d2", None).await;
    let reply = post(&mut bob_ws, den, "a good plan", "d3", Some(tokyo)).await;
    assert_eq!(reply["type"], "message", "{reply}");
    post(&mut bob_ws, secret, "deployment keys are in the vault", "s1", None).await;
    post(&mut bob_ws, lounge, "lounge deployment party", "l1", None).await;
    say(&mut eve_ws, "eve says deployment too", "e1").await;

    // Words, parts of words, case and accents, phrases, CJK, short whole words.
    assert_eq!(found(&app, &alice, "deployment").await, ["eve says deployment too", "deployment finished <b>ok</b>"]);
    assert_eq!(found(&app, &alice, "DEPLOY").await.len(), 2, "a part of a word, any case");
    assert_eq!(found(&app, &alice, "cafe").await, ["The Café opens at nine"]);
    assert_eq!(found(&app, &alice, "CAFÉ OPENS").await, ["The Café opens at nine"]);
    assert_eq!(found(&app, &alice, "\"opens at nine\"").await, ["The Café opens at nine"]);
    assert!(found(&app, &alice, "\"nine at opens\"").await.is_empty());
    assert_eq!(found(&app, &alice, "東京").await, ["東京都に行きます"]);
    assert_eq!(found(&app, &alice, "行き").await, ["東京都に行きます"]);
    assert_eq!(found(&app, &alice, "go").await, ["go team"], "a short word is a whole word, not good");
    assert_eq!(found(&app, &alice, "goo").await, ["a good plan"]);
    // Operators.
    assert_eq!(found(&app, &alice, "deployment from:eve").await, ["eve says deployment too"]);
    assert_eq!(found(&app, &alice, "in:den go").await, ["go team"]);
    assert_eq!(found(&app, &alice, "has:reply").await, ["a good plan"]);
    assert_eq!(found(&app, &alice, "from:bob in:den").await.len(), 3);
    assert!(found(&app, &alice, "deployment before:2000-01-01").await.is_empty());
    assert_eq!(found(&app, &alice, "deployment after:2000-01-01").await.len(), 2);
    for bad in ["", "   ", "before:yesterday", "has:everything", "from:"] {
        assert_eq!(search(&app, &alice, bad).await.0, 400, "{bad:?}");
    }
    assert_eq!(search(&app, &alice, &"x".repeat(257)).await.0, 400);
    // Read access: never a room they are not in (unless they ask for public ones), never
    // someone they ignore.
    assert!(!found(&app, &alice, "vault").await.iter().any(|c| c.contains("vault")));
    assert!(found(&app, &alice, "party").await.is_empty(), "a public room alice is not in");
    let url = reqwest::Url::parse_with_params(&app.url("/search"), &[("q", "party"), ("scope", "public")]).unwrap();
    let body: Value = app.http.get(url).bearer_auth(&alice).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["results"][0]["content"], "lounge deployment party");
    assert!(found(&app, &eve, "東京").await.is_empty(), "eve is not in den");
    let (status, _) = app.post_as("/ignores", Some(&alice), &json!({"username": "eve"})).await;
    assert_eq!(status, 204);
    assert_eq!(found(&app, &alice, "deployment").await, ["deployment finished <b>ok</b>"]);
    // Leaving a room takes its messages out of one's results.
    assert_eq!(app.post_as(&format!("/rooms/{den}/leave"), Some(&alice), &json!({})).await.0, 204);
    assert!(found(&app, &alice, "go").await.is_empty());

    // The highlight marks the match and escapes everything else.
    let (_, results) = search(&app, &bob, "finished").await;
    assert_eq!(results[0]["highlight"], "deployment <mark>finished</mark> &lt;b&gt;ok&lt;/b&gt;");
    let (_, results) = search(&app, &bob, "cafe").await;
    assert_eq!(results[0]["highlight"], "The <mark>Café</mark> opens at nine");
    // Paging: newest first, `before` the last one seen, `limit`.
    let url = reqwest::Url::parse_with_params(&app.url("/search"), &[("q", "deployment"), ("limit", "1")]).unwrap();
    let body: Value = app.http.get(url).bearer_auth(&bob).send().await.unwrap().json().await.unwrap();
    let newest = body["results"][0]["id"].as_i64().unwrap();
    let before = newest.to_string();
    let url = reqwest::Url::parse_with_params(&app.url("/search"), &[("q", "deployment"), ("before", before.as_str())])
        .unwrap();
    let body: Value = app.http.get(url).bearer_auth(&bob).send().await.unwrap().json().await.unwrap();
    assert!(body["results"].as_array().unwrap().iter().all(|m| m["id"].as_i64().unwrap() < newest));
}

#[tokio::test]
async fn a_reconnect_with_changes_learns_every_edit_deletion_and_reaction_it_missed() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (socket, _) = tokio_tungstenite::connect_async(app.ws_url(&format!("token={bob}"))).await.unwrap();
    let mut bob_ws = Client { socket };
    let first = bob_ws.next_frame().await;
    assert_eq!(first["type"], "history");
    let rooms = bob_ws.next_frame().await;
    assert_eq!(rooms["type"], "rooms");
    let cursor = rooms["changes"].as_i64().unwrap();
    let edited = say(&mut alice_ws, "typo", "a1").await;
    let deleted = say(&mut alice_ws, "oops", "a2").await;
    let reacted = say(&mut alice_ws, "news", "a3").await;
    let untouched = say(&mut alice_ws, "calm", "a4").await;
    until(&mut bob_ws, |f| f["id"] == untouched).await;
    drop(bob_ws);

    assert_eq!(
        app.send_as("PATCH", &format!("/messages/{edited}"), Some(&alice), &json!({"content": "fixed"})).await.0,
        200
    );
    assert_eq!(app.send_as("DELETE", &format!("/messages/{deleted}"), Some(&alice), &Value::Null).await.0, 204);
    let path = format!("/messages/{reacted}/reactions/%F0%9F%8E%89");
    assert_eq!(app.send_as("PUT", &path, Some(&alice), &Value::Null).await.0, 204);
    let newer = say(&mut alice_ws, "while away", "a5").await;

    let query = format!("token={bob}&since={untouched}&changes={cursor}");
    let (mut back, history) = app.connect_query(&query).await;
    assert_eq!(
        history["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [newer]
    );
    let changes = until(&mut back, |f| f["type"] == "changes").await;
    let by_id = |id: i64| changes["messages"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned().unwrap();
    assert_eq!(by_id(edited)["content"], "fixed");
    assert_eq!((by_id(deleted)["content"].as_str(), by_id(deleted)["deleted"].as_bool()), (Some(""), Some(true)));
    assert_eq!(by_id(reacted)["reactions"], json!([{"emoji": "🎉", "count": 1, "me": false}]));
    assert_eq!(changes["messages"].as_array().unwrap().len(), 3, "only what changed: {changes}");
    assert_eq!(changes["more"], false);
    let next = changes["change"].as_i64().unwrap();
    assert!(next > cursor);
    // Reconnecting with the new cursor: nothing changed since.
    let (mut again, _) = app.connect_query(&format!("token={bob}&since={newer}&changes={next}")).await;
    let changes = until(&mut again, |f| f["type"] == "changes").await;
    assert_eq!(changes["messages"], json!([]));
    assert_eq!(app.connect_query_status(&format!("token={bob}&since=1&changes=x")).await, 400);
}

#[tokio::test]
async fn changes_made_through_one_node_reach_a_socket_on_the_other() {
    let cluster = Cluster::new().await;
    let a = cluster.node().await;
    let b = cluster.node().await;
    let (mut alice_ws, _) = connected(&a, "alice").await;
    let (mut bob_ws, _) = connected(&b, "bob").await;
    let alice = a.login("alice").await;
    let bob = b.login("bob").await;
    let id = say(&mut alice_ws, "hello from a", "a1").await;
    until(&mut bob_ws, |f| f["type"] == "message" && f["id"] == id).await;

    let (status, _) =
        a.send_as("PATCH", &format!("/messages/{id}"), Some(&alice), &json!({"content": "edited on a"})).await;
    assert_eq!(status, 200);
    let frame = until(&mut bob_ws, |f| f["type"] == "edited").await;
    assert_eq!(frame["message"]["content"], "edited on a");
    assert_eq!(
        b.send_as("PUT", &format!("/messages/{id}/reactions/%F0%9F%91%8D"), Some(&bob), &Value::Null).await.0,
        204
    );
    let frame = until(&mut alice_ws, |f| f["type"] == "reaction").await;
    assert_eq!((frame["username"].as_str(), frame["count"].as_i64()), (Some("bob"), Some(1)));
    let reply = post(&mut bob_ws, 1, "replying across nodes", "b1", Some(id)).await;
    assert_eq!(reply["reply_to"]["excerpt"], "edited on a");
    assert_eq!(a.send_as("DELETE", &format!("/messages/{id}"), Some(&alice), &Value::Null).await.0, 204);
    let frame = until(&mut bob_ws, |f| f["type"] == "deleted").await;
    assert_eq!(frame["id"], id);
    let (_, results) = b.get_json("/search?q=nodes", Some(&bob)).await;
    assert_eq!(results["results"][0]["reply_to"]["gone"], true);
}

#[tokio::test]
async fn someone_ignored_is_not_quoted_edited_or_found_for_the_one_ignoring() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let said = say(&mut bob_ws, "bob's unwanted opinion", "b1").await;
    until(&mut alice_ws, |f| f["type"] == "message" && f["id"] == said).await;
    assert_eq!(app.post_as("/ignores", Some(&alice), &json!({"username": "bob"})).await.0, 204);

    // Alice can no longer answer or react to what she no longer sees...
    let refused = post(&mut alice_ws, 1, "answering", "a1", Some(said)).await;
    assert_eq!(refused["type"], "error", "{refused}");
    // ...bob's edit reaches everyone but her, and search leaves him out for her.
    let (status, _) =
        app.send_as("PATCH", &format!("/messages/{said}"), Some(&bob), &json!({"content": "edited opinion"})).await;
    assert_eq!(status, 200);
    until(&mut bob_ws, |f| f["type"] == "edited").await;
    say(&mut bob_ws, "a marker after the edit", "b2").await;
    alice_ws.send_json(&json!({"type": "message", "content": "alice's marker", "client_id": "a2"})).await;
    let seen = frames_before(&mut alice_ws, "a2").await;
    assert!(seen.iter().all(|f| f["type"] != "edited"), "{seen:?}");
    assert!(found(&app, &alice, "opinion").await.is_empty());
    assert_eq!(found(&app, &bob, "opinion").await, ["edited opinion"]);
}
