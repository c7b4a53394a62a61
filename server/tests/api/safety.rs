//! Trust and safety over real HTTP and WebSocket (issue 23): an admin removes a message, and its
//! text is gone for everyone: members' open sockets get `removed` (never the text), history over
//! WebSocket and REST, `/admin/messages` and the CSV carry it with `"content": ""` and
//! `"removed": true`, and the original is kept for admins (audited). A removal made through one
//! node reaches a socket on another.
//!
//! Negative checks are ordered, not timed: a node delivers a batch only after it applied every
//! room change committed before it, so a message sent after a removal returned arrives after any
//! `removed` frame that removal could cause.

use crate::common::cluster::{connected, until, Cluster};
use crate::common::{Client, TestApp};
use serde_json::{json, Value};

/// Sends `content` in `general` and returns its id (from the sender's acknowledgement).
async fn say(client: &mut Client, content: &str, client_id: &str) -> i64 {
    client.send_json(&json!({"type": "message", "content": content, "client_id": client_id})).await;
    until(client, |f| f["type"] == "message" && f["client_id"] == client_id).await["id"].as_i64().unwrap()
}

/// Frames read until the message `client_id` arrives (it included).
async fn frames_until_message(client: &mut Client, client_id: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = until(client, |_| true).await;
        let done = frame["type"] == "message" && frame["client_id"] == client_id;
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_removal_reaches_open_sockets_history_the_admin_monitor_and_the_csv() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let id = say(&mut alice_ws, "buy cheap pills at example dot com", "a1").await;
    until(&mut bob_ws, |f| f["type"] == "message" && f["id"] == id).await;

    let path = format!("/admin/messages/{id}/remove");
    assert_eq!(app.post_as(&path, None, &json!({"reason": "spam"})).await.0, 401);
    assert_eq!(app.post_as(&path, Some(&bob), &json!({"reason": "spam"})).await.0, 403);
    let (status, body) = app.post_as(&path, Some(&admin), &json!({})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad request: reason is required")));
    let (status, body) = app.post_as(&path, Some(&admin), &json!({"reason": "x".repeat(501)})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(app.post_as("/admin/messages/999999/remove", Some(&admin), &json!({"reason": "spam"})).await.0, 404);

    let (status, body) = app.post_as(&path, Some(&admin), &json!({"reason": "spam"})).await;
    assert_eq!(status, 204, "{body}");
    for (who, socket) in [("bob", &mut bob_ws), ("alice", &mut alice_ws)] {
        let frame = until(socket, |f| f["type"] == "removed").await;
        assert_eq!(frame, json!({"type": "removed", "id": id, "room_id": 1}), "{who}");
    }

    // Removing it again changes nothing and tells nobody: bob's next frames are the message
    // alice sends afterwards, and no second `removed`.
    assert_eq!(app.post_as(&path, Some(&admin), &json!({"reason": "again"})).await.0, 204);
    say(&mut alice_ws, "after", "a2").await;
    let frames = frames_until_message(&mut bob_ws, "a2").await;
    assert!(frames.iter().all(|f| f["type"] != "removed"), "{frames:?}");

    // History: a new connection's first frame, REST pages, the admin monitor and the CSV.
    let (_, history) = app.connect(&bob).await;
    let removed = history["messages"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned().unwrap();
    assert_eq!((removed["content"].as_str(), removed["removed"].as_bool()), (Some(""), Some(true)), "{removed}");
    let (_, page) = app.get_json("/messages", Some(&bob)).await;
    let listed = page.as_array().unwrap();
    let in_page = listed.iter().find(|m| m["id"] == id).unwrap();
    assert_eq!((in_page["content"].as_str(), in_page["removed"].as_bool()), (Some(""), Some(true)));
    let kept = listed.iter().find(|m| m["client_id"] == "a2").unwrap();
    assert!(kept.get("removed").is_none(), "only removed messages carry the field: {kept}");
    let (_, monitor) = app.get_json("/admin/messages", Some(&admin)).await;
    let row = monitor.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap();
    assert_eq!((row["content"].as_str(), row["removed"].as_bool()), (Some(""), Some(true)));
    let csv = app.http.get(app.url("/admin/download/messages")).bearer_auth(&admin).send().await.unwrap();
    let csv = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.headers().unwrap().get(8), Some("removed"));
    let record = reader.records().map(Result::unwrap).find(|r| r[0] == id.to_string()).unwrap();
    assert_eq!((&record[3], &record[8]), ("", "true"));
    assert!(!csv.contains("cheap pills"), "the text is gone from the export");

    // The original is kept for admins, and the removal is audited with its reason.
    let mut db = app.db().await;
    let kept = db.strings(&format!("SELECT content FROM message_removals WHERE message_id = {id}")).await;
    assert_eq!(kept, ["buy cheap pills at example dot com"]);
    let audited =
        db.strings(&format!("SELECT action || ':' || reason FROM audit_log WHERE message_id = {id} ORDER BY id")).await;
    assert_eq!(audited, ["remove_message:spam"]);
}

#[tokio::test]
async fn a_removal_in_a_private_room_reaches_its_members_only() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let olga = app.user("olga").await;
    let walt = app.user("walt").await;
    let eve = app.user("eve").await;
    let (status, room) = app.post_as("/rooms", Some(&olga), &json!({"name": "den", "kind": "private"})).await;
    assert_eq!(status, 201, "{room}");
    let room = room["id"].as_i64().unwrap();
    assert_eq!(app.post_as(&format!("/rooms/{room}/members"), Some(&olga), &json!({"username": "walt"})).await.0, 200);
    let (mut olga_ws, _) = app.connect(&olga).await;
    let (mut walt_ws, _) = app.connect(&walt).await;
    let (mut eve_ws, _) = app.connect(&eve).await;

    olga_ws.send_json(&json!({"type": "message", "room_id": room, "content": "secret", "client_id": "o1"})).await;
    let id = until(&mut olga_ws, |f| f["client_id"] == "o1").await["id"].as_i64().unwrap();
    let (status, body) =
        app.post_as(&format!("/admin/messages/{id}/remove"), Some(&admin), &json!({"reason": "off topic"})).await;
    assert_eq!(status, 204, "{body}");
    let frame = until(&mut walt_ws, |f| f["type"] == "removed").await;
    assert_eq!((frame["id"].as_i64(), frame["room_id"].as_i64()), (Some(id), Some(room)));
    // Eve is not in the room: the next thing she gets is olga's later message in general.
    say(&mut olga_ws, "public", "o2").await;
    let frames = frames_until_message(&mut eve_ws, "o2").await;
    assert!(frames.iter().all(|f| f["type"] != "removed" && f["room_id"] != room), "{frames:?}");
}

#[tokio::test]
async fn a_removal_made_through_one_node_reaches_a_socket_on_the_other() {
    let cluster = Cluster::new().await;
    let a = cluster.node().await;
    let b = cluster.node().await;
    let (_root_ws, _) = connected(&a, "root").await;
    let admin = a.login("root").await;
    let (mut alice_ws, _) = connected(&a, "alice").await;
    let (mut bob_ws, _) = connected(&b, "bob").await;
    let id = say(&mut alice_ws, "something to remove", "a1").await;
    until(&mut bob_ws, |f| f["type"] == "message" && f["id"] == id).await;

    let (status, body) =
        a.post_as(&format!("/admin/messages/{id}/remove"), Some(&admin), &json!({"reason": "abuse"})).await;
    assert_eq!(status, 204, "{body}");
    let frame = until(&mut bob_ws, |f| f["type"] == "removed").await;
    assert_eq!(frame, json!({"type": "removed", "id": id, "room_id": 1}));
    let bob = b.login("bob").await;
    let (_, history) = b.connect(&bob).await;
    let removed = history["messages"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned().unwrap();
    assert_eq!((removed["content"].as_str(), removed["removed"].as_bool()), (Some(""), Some(true)));
}

// ---------------------------------------------------------------------------------------------
// Reports and the review queue

/// The open review items.
async fn queue(app: &TestApp, admin: &str) -> Vec<Value> {
    let (status, items) = app.get_json("/admin/review", Some(admin)).await;
    assert_eq!(status, 200, "{items}");
    items.as_array().unwrap().to_vec()
}

/// The open items, once `wanted` holds of them (items the writer queues after a commit take a
/// moment), or panics after 10 s.
async fn queue_until(app: &TestApp, admin: &str, wanted: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let items = queue(app, admin).await;
        if wanted(&items) {
            return items;
        }
        assert!(std::time::Instant::now() < deadline, "the queue never got there: {items:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_report_counts_once_and_never_reveals_a_conversation_it_cannot_read() {
    let app = TestApp::spawn_with(|c| c.safety.trusted_account_age_hours = 0).await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = app.private_room(&alice, "den", &["bob"]).await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    for i in 0..3 {
        let frame = json!({"type": "message", "room_id": room, "content": format!("context {i}"), "client_id": format!("c{i}")});
        alice_ws.send_json(&frame).await;
        until(&mut alice_ws, |f| f["client_id"] == format!("c{i}")).await;
    }
    alice_ws
        .send_json(&json!({"type": "message", "room_id": room, "content": "you lot are useless", "client_id": "r"}))
        .await;
    let id = until(&mut alice_ws, |f| f["client_id"] == "r").await["id"].as_i64().unwrap();
    let path = format!("/messages/{id}/report");

    assert_eq!(app.post_as(&path, None, &json!({})).await.0, 401);
    // Carol is not in the room: the same 404 as for a message that does not exist.
    let (status, stranger) = app.post_as(&path, Some(&carol), &json!({"reason": "x"})).await;
    let (unknown_status, unknown) = app.post_as("/messages/999999/report", Some(&carol), &json!({})).await;
    assert_eq!((status, unknown_status), (404, 404));
    assert_eq!(stranger, unknown);
    let (status, own) = app.post_as(&path, Some(&alice), &json!({})).await;
    assert_eq!(status, 400, "{own}");
    assert_eq!(app.post_as(&path, Some(&bob), &json!({"reason": "y".repeat(501)})).await.0, 400);
    assert!(queue(&app, &admin).await.is_empty(), "refused reports queue nothing");

    assert_eq!(app.post_as(&path, Some(&bob), &json!({"reason": "rude"})).await.0, 204);
    assert_eq!(app.post_as(&path, Some(&bob), &json!({"reason": "again"})).await.0, 204);
    let items = queue(&app, &admin).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(item["sources"], json!(["report"]));
    assert_eq!((item["held"].as_bool(), item["score"].is_null()), (Some(false), true));
    assert_eq!(item["message"]["id"].as_i64(), Some(id));
    assert_eq!(item["message"]["content"], "you lot are useless");
    let reports = item["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "once per reporter: {reports:?}");
    assert_eq!((reports[0]["username"].as_str(), reports[0]["reason"].as_str()), (Some("bob"), Some("rude")));
    assert!(reports[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    let context: Vec<&str> =
        item["context"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(context, ["context 0", "context 1", "context 2"]);
    assert_eq!(app.get_json("/admin/review", Some(&bob)).await.0, 403);
    assert_eq!(app.get_json("/admin/review?limit=1001", Some(&admin)).await.0, 400);
}

#[tokio::test]
async fn reports_draw_on_a_budget_per_account() {
    let app = TestApp::spawn_with(|c| {
        c.safety.reports_burst = 2;
        c.safety.reports_per_min = 1.0;
    })
    .await;
    app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(say(&mut alice_ws, &format!("message {i}"), &format!("m{i}")).await);
    }
    for id in &ids[..2] {
        assert_eq!(app.post_as(&format!("/messages/{id}/report"), Some(&bob), &json!({})).await.0, 204);
    }
    let refused = app
        .http
        .post(app.url(&format!("/messages/{}/report", ids[2])))
        .bearer_auth(&bob)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
}

#[tokio::test]
async fn three_reports_in_good_standing_put_a_message_in_front_of_the_queue() {
    let app = TestApp::spawn_with(|c| c.safety.trusted_account_age_hours = 0).await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let mut reporters = Vec::new();
    for name in ["rep1", "rep2", "rep3"] {
        reporters.push(app.user(name).await);
    }
    let (mut alice_ws, _) = app.connect(&alice).await;
    let older = say(&mut alice_ws, "older", "o").await;
    let newer = say(&mut alice_ws, "newer", "n").await;
    let report = |id: i64, who: &String| {
        let (app, who) = (&app, who.clone());
        async move { assert_eq!(app.post_as(&format!("/messages/{id}/report"), Some(&who), &json!({})).await.0, 204) }
    };
    report(older, &reporters[0]).await;
    report(newer, &reporters[0]).await;
    let order = |items: Vec<Value>| items.iter().map(|i| i["message"]["id"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(order(queue(&app, &admin).await), [newer, older], "newest first");
    report(older, &reporters[1]).await;
    assert_eq!(order(queue(&app, &admin).await), [newer, older], "two reports are not enough");
    report(older, &reporters[2]).await;
    assert_eq!(order(queue(&app, &admin).await), [older, newer], "the third trusted report moves it to the front");
    // Paging follows the queue's order.
    let first = queue(&app, &admin).await[0]["id"].as_i64().unwrap();
    let (_, rest) = app.get_json(&format!("/admin/review?before={first}&limit=10"), Some(&admin)).await;
    assert_eq!(order(rest.as_array().unwrap().to_vec()), [newer]);
}

#[tokio::test]
async fn admins_approve_remove_or_strike_and_each_item_is_decided_once() {
    let app = TestApp::spawn_with(|c| c.safety.trusted_account_age_hours = 0).await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let mut items = Vec::new();
    for (i, text) in ["fine really", "spam spam", "nasty remark"].iter().enumerate() {
        let id = say(&mut alice_ws, text, &format!("d{i}")).await;
        assert_eq!(app.post_as(&format!("/messages/{id}/report"), Some(&bob), &json!({})).await.0, 204);
        let queued = queue(&app, &admin).await;
        items.push((id, queued.iter().find(|i| i["message"]["id"] == id).unwrap()["id"].as_i64().unwrap()));
    }
    let decide = |item: i64, body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move { app.post_as(&format!("/admin/review/{item}"), Some(&admin), &body).await }
    };
    assert_eq!(decide(items[0].1, json!({"action": "ban"})).await.0, 400);
    assert_eq!(decide(999_999, json!({"action": "approve"})).await.0, 404);
    assert_eq!(
        app.post_as(&format!("/admin/review/{}", items[0].1), Some(&bob), &json!({"action": "approve"})).await.0,
        403
    );

    let (status, approved) = decide(items[0].1, json!({"action": "approve", "reason": "banter"})).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!((approved["state"].as_str(), approved["resolved_by"].as_str()), (Some("approved"), Some("root")));
    assert_eq!(approved["reason"], "banter");
    assert_eq!(approved["message"]["content"], "fine really");
    let (status, again) = decide(items[0].1, json!({"action": "remove"})).await;
    assert_eq!(status, 409, "{again}");

    let (status, removed) = decide(items[1].1, json!({"action": "remove", "reason": "spam"})).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["state"], "removed");
    assert_eq!(
        (removed["message"]["content"].as_str(), removed["message"]["removed"].as_bool()),
        (Some(""), Some(true))
    );
    assert_eq!(removed["content"], "spam spam", "the original stays with the item, for admins");
    let frame = until(&mut bob_ws, |f| f["type"] == "removed").await;
    assert_eq!(frame["id"].as_i64(), Some(items[1].0));

    let (status, struck) = decide(items[2].1, json!({"action": "strike", "reason": "insult"})).await;
    assert_eq!(status, 200, "{struck}");
    assert_eq!(struck["state"], "struck");
    let warning = until(&mut alice_ws, |f| f["type"] == "warning").await;
    assert_eq!((warning["warning_count"].as_i64(), warning["max_warnings"].as_i64()), (Some(1), Some(3)));
    let (_, users) = app.get_json("/admin/users", Some(&admin)).await;
    let alice_row = users.as_array().unwrap().iter().find(|u| u["username"] == "alice").unwrap();
    assert_eq!(alice_row["warning_count"], 1, "a strike counts as the word filter's do");
    assert!(queue(&app, &admin).await.is_empty());
    let mut db = app.db().await;
    let audited = db.strings("SELECT action FROM audit_log WHERE action LIKE 'review_%' ORDER BY id").await;
    assert_eq!(audited, ["review_approved", "review_removed", "review_struck"]);
}

// ---------------------------------------------------------------------------------------------
// The classifier's policies

/// Scores far above the default threshold, and passes the word filter (no listed word).
const ABUSIVE: &str = "you are a pathetic idiot";

#[tokio::test]
async fn flag_delivers_and_queues_what_the_classifier_scores_high() {
    let app = TestApp::spawn().await; // `flag` is the default
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;
    let clean = say(&mut alice_ws, "see you at the meeting", "c").await;
    let flagged = say(&mut alice_ws, ABUSIVE, "f").await;
    until(&mut bob_ws, |f| f["type"] == "message" && f["id"] == flagged).await;
    let items = queue_until(&app, &admin, |items| !items.is_empty()).await;
    assert_eq!(items.len(), 1, "only the abusive one: {items:?}");
    assert_eq!(items[0]["message"]["id"].as_i64(), Some(flagged));
    assert_eq!(items[0]["sources"], json!(["classifier"]));
    assert!(items[0]["score"].as_f64().unwrap() >= 0.7, "{}", items[0]);
    assert!(items[0]["context"].as_array().unwrap().iter().any(|m| m["id"] == clean));
}

#[tokio::test]
async fn off_delivers_everything_and_queues_nothing() {
    let app = TestApp::spawn_with(|c| c.safety.classifier = server::config::ClassifierPolicy::Off).await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    say(&mut alice_ws, ABUSIVE, "f").await;
    let id = say(&mut alice_ws, "second", "s").await;
    let bob = app.user("bob").await;
    assert_eq!(app.post_as(&format!("/messages/{id}/report"), Some(&bob), &json!({})).await.0, 204);
    // A flagged message is queued within milliseconds of its commit (the `flag` test waits for
    // it); half a second later only the report is there.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let items = queue(&app, &admin).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["sources"], json!(["report"]));
}

#[tokio::test]
async fn hold_keeps_a_message_back_until_an_admin_approves_it() {
    let app = TestApp::spawn_with(|c| c.safety.classifier = server::config::ClassifierPolicy::Hold).await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (mut alice_ws, _) = app.connect(&alice).await;
    let (mut bob_ws, _) = app.connect(&bob).await;

    alice_ws.send_json(&json!({"type": "message", "content": ABUSIVE, "client_id": "h1"})).await;
    let held = until(&mut alice_ws, |f| f["client_id"] == "h1").await;
    assert_eq!(held, json!({"type": "held", "client_id": "h1", "room_id": 1}));
    // A retry of the same client id is the same held item.
    alice_ws.send_json(&json!({"type": "message", "content": ABUSIVE, "client_id": "h1"})).await;
    assert_eq!(until(&mut alice_ws, |f| f["client_id"] == "h1").await["type"], "held");
    // Bob never gets it: the next message he gets is the one alice sent after it.
    let after = say(&mut alice_ws, "a clean message", "c1").await;
    let frames = frames_until_message(&mut bob_ws, "c1").await;
    assert!(frames.iter().all(|f| f["client_id"] != "h1"), "{frames:?}");

    let items = queue(&app, &admin).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!((item["held"].as_bool(), item["message"]["id"].as_i64()), (Some(true), Some(0)));
    assert_eq!(item["message"]["content"], ABUSIVE);
    assert_eq!(item["sources"], json!(["classifier"]));
    let (mut late_ws, _) = app.connect_query(&format!("token={bob}&since={after}")).await;

    let (status, approved) =
        app.post_as(&format!("/admin/review/{}", item["id"]), Some(&admin), &json!({"action": "approve"})).await;
    assert_eq!(status, 200, "{approved}");
    // Delivered now, as a new message after everything before it: to bob, to alice as the
    // acknowledgement of h1, and to a client that caught up from `since` before the approval.
    let delivered = until(&mut bob_ws, |f| f["type"] == "message" && f["client_id"] == "h1").await;
    let id = delivered["id"].as_i64().unwrap();
    assert!(id > after, "approved messages take the next id: {id} after {after}");
    assert_eq!(delivered["content"], ABUSIVE);
    assert_eq!(
        until(&mut alice_ws, |f| f["type"] == "message" && f["client_id"] == "h1").await["id"].as_i64(),
        Some(id)
    );
    assert_eq!(
        until(&mut late_ws, |f| f["type"] == "message" && f["client_id"] == "h1").await["id"].as_i64(),
        Some(id)
    );
    // A reconnect from `after` finds it once, and nothing it had seen.
    let (_, catch_up) = app.connect_query(&format!("token={bob}&since={after}")).await;
    let ids: Vec<i64> = catch_up["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [id]);
    // The item now names the message it became (linked just after the commit).
    assert!(queue(&app, &admin).await.is_empty());
    let mut db = app.db().await;
    let sql = format!("SELECT COALESCE(message_id, 0) FROM review_items WHERE id = {}", item["id"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.number(&sql).await != id {
        assert!(std::time::Instant::now() < deadline, "the item was never linked to message {id}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Standing and appeals

#[tokio::test]
async fn my_standing_lists_each_violation_and_whether_it_counts() {
    let app = TestApp::spawn().await;
    app.user("root").await;
    let alice = app.user("alice").await;
    let (status, standing) = app.get_json("/me/standing", Some(&alice)).await;
    assert_eq!(status, 200);
    assert_eq!(standing, json!({"warnings": 0, "max_warnings": 3, "blocked": false, "history": []}));
    let (mut ws, _) = app.connect(&alice).await;
    ws.send_json(&json!({"type": "message", "content": "fuck this", "client_id": "v1"})).await;
    assert_eq!(until(&mut ws, |f| f["client_id"] == "v1").await["type"], "warning");
    let (_, standing) = app.get_json("/me/standing", Some(&alice)).await;
    assert_eq!((standing["warnings"].as_i64(), standing["blocked"].as_bool()), (Some(1), Some(false)));
    let history = standing["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0]["rule"].as_str(), history[0]["room_id"].as_i64()), (Some("fuck"), Some(1)));
    assert_eq!(history[0]["counted"], true);
    assert!(history[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(history[0].get("content").is_none(), "the refused text is for admins");
    assert_eq!(app.get_json("/me/standing", None).await.0, 401);
}

/// Blocks `name` (three violations, as the word filter counts them).
async fn block(app: &TestApp, name: &str) {
    let store = app.services.store();
    let id = store.user_by_username(name).await.unwrap().unwrap().public.id;
    for _ in 0..3 {
        store.record_violation(id, "word", "bad", Some(1), 3, None).await.unwrap();
    }
}

async fn login_as(app: &TestApp, name: &str) -> (u16, Value) {
    app.post_json("/login", &json!({"username": name, "password": "password123"})).await
}

#[tokio::test]
async fn a_blocked_person_appeals_and_an_admin_accepts_or_rejects() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    app.user("alice").await;
    app.user("carol").await;
    let bob = app.user("bob").await;
    block(&app, "alice").await;
    block(&app, "carol").await;

    let (status, body) = login_as(&app, "alice").await;
    assert_eq!((status, body), (403, json!({"error": "account is blocked", "appeal": "none"})));
    let appeal = |name: &str, password: &str, text: &str| {
        let body = json!({"username": name, "password": password, "text": text});
        let app = &app;
        async move { app.post_json("/appeals", &body).await }
    };
    let (wrong, wrong_body) = appeal("alice", "not-the-password", "please").await;
    let (unknown, unknown_body) = appeal("nobody", "password123", "please").await;
    let (not_blocked, not_blocked_body) = appeal("bob", "password123", "please").await;
    assert_eq!((wrong, unknown, not_blocked), (401, 401, 401), "the same 401 as a login");
    assert_eq!(wrong_body, unknown_body);
    assert_eq!(wrong_body, not_blocked_body);
    assert_eq!(appeal("alice", "password123", "   ").await.0, 400);
    assert_eq!(appeal("alice", "password123", &"x".repeat(1001)).await.0, 400);
    assert_eq!(appeal("alice", "password123", "fuck your rules").await.0, 422);
    let (status, created) = appeal("alice", "password123", "I was quoting someone; sorry.").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "open");
    let alice_appeal = created["id"].as_i64().unwrap();
    assert_eq!(appeal("alice", "password123", "again").await.0, 409, "one appeal per block");
    assert_eq!(login_as(&app, "alice").await.1["appeal"], "open");

    // Carol's is rejected: she reads why at her next login, and cannot appeal this block again.
    let (_, carol_created) = appeal("carol", "password123", "let me back").await;
    let carol_appeal = carol_created["id"].as_i64().unwrap();

    assert_eq!(app.get_json("/admin/appeals", Some(&bob)).await.0, 403);
    assert_eq!(app.get_json("/admin/appeals?state=maybe", Some(&admin)).await.0, 400);
    let (status, open) = app.get_json("/admin/appeals?state=open", Some(&admin)).await;
    assert_eq!(status, 200);
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open[0]["id"].as_i64(), Some(carol_appeal), "newest first");
    assert_eq!(
        (open[1]["user"]["username"].as_str(), open[1]["text"].as_str()),
        (Some("alice"), Some("I was quoting someone; sorry."))
    );
    assert!(!open[1]["user"].to_string().contains("password"));

    let decide = |id: i64, body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move { app.post_as(&format!("/admin/appeals/{id}"), Some(&admin), &body).await }
    };
    assert_eq!(decide(alice_appeal, json!({"decision": "maybe"})).await.0, 400);
    assert_eq!(decide(999_999, json!({"decision": "accept"})).await.0, 404);
    let (status, accepted) = decide(alice_appeal, json!({"decision": "accept", "reason": "fair enough"})).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!((accepted["state"].as_str(), accepted["decided_by"].as_str()), (Some("accepted"), Some("root")));
    assert_eq!(decide(alice_appeal, json!({"decision": "reject"})).await.0, 409);
    let (status, grant) = login_as(&app, "alice").await;
    assert_eq!(status, 200, "accepted: unblocked");
    let token = grant["access_token"].as_str().unwrap();
    let (_, standing) = app.get_json("/me/standing", Some(token)).await;
    assert_eq!(standing["warnings"], 0, "warnings reset, as an unblock does");
    let history = standing["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|h| h["counted"] == false), "{history:?}");

    let (status, rejected) = decide(carol_appeal, json!({"decision": "reject", "reason": "repeated abuse"})).await;
    assert_eq!((status, rejected["state"].as_str()), (200, Some("rejected")));
    let (status, body) = login_as(&app, "carol").await;
    assert_eq!(
        (status, body),
        (403, json!({"error": "account is blocked", "appeal": "rejected", "reason": "repeated abuse"}))
    );
    assert_eq!(appeal("carol", "password123", "please reconsider").await.0, 409);

    // A new block of alice's is a new block: it may be appealed.
    block(&app, "alice").await;
    assert_eq!(login_as(&app, "alice").await.1["appeal"], "none");
    assert_eq!(appeal("alice", "password123", "again, sorry").await.0, 201);
    let mut db = app.db().await;
    let audited = db.strings("SELECT action FROM audit_log WHERE action LIKE 'appeal_%' ORDER BY id").await;
    assert_eq!(audited, ["appeal_accepted", "appeal_rejected"]);
}
