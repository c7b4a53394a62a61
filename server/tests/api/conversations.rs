//! Conversations (issue 14) end to end over real HTTP and real WebSockets: public rooms, private
//! rooms and DMs, who may see and do what in them (every route tried by an outsider), live
//! `room`/`member`/`room_left`/`presence`/`typing` frames, unread counts and read markers,
//! per-room history and the `since` catch-up across conversations, ignores, and the admin's
//! room routes. Written against `notes/conversations-spec.md` and `app::models` only.

use crate::common::{Client, TestApp};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// A message the word filter refuses (the built-in list, as in `tests/moderation.rs`).
const BAD: &str = "you are a f u c k i n g idiot";
/// A room name the word filter refuses, otherwise valid.
const BAD_NAME: &str = "sh1t club";
const FILTERED: &str = "that text contains a word that is not allowed here";
const NOT_IN_IT: &str = "no such conversation, or you are not in it";
const ARCHIVED: &str = "this conversation is archived";
const IGNORED: &str = "this person is not accepting messages from you";
const TAKEN: &str = "a room with that name already exists";
/// The longest any awaited frame may take.
const WAIT: Duration = Duration::from_secs(10);

/// The app with flood control out of the way: these tests send a few dozen messages quickly.
async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.flood_burst = 10_000;
        c.flood_per_sec = 10_000.0;
    })
    .await
}

/// Registers the admin (`root`, the first account) and the three regular people of most tests.
async fn cast(app: &TestApp) -> (String, String, String, String) {
    let root = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    (root, alice, bob, carol)
}

// ---- HTTP ----------------------------------------------------------------------------------

/// Any method with a Bearer token and an optional JSON body: the status and the JSON answer
/// (`Null` when the body is empty or not JSON).
async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, "GET", path, token, None).await
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, "POST", path, token, Some(body)).await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, "PATCH", path, token, Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, "DELETE", path, token, None).await
}

fn id_of(value: &Value) -> i64 {
    value["id"].as_i64().unwrap_or_else(|| panic!("no id in {value}"))
}

/// `POST /rooms`, which must answer 201; the room.
async fn create_room(app: &TestApp, token: &str, name: &str, kind: &str) -> Value {
    let (status, room) = post(app, "/rooms", token, json!({"name": name, "kind": kind})).await;
    assert_eq!(status, 201, "create {kind} room {name:?}: {room}");
    room
}

/// `POST /dm`, which must answer 200; the room.
async fn open_dm(app: &TestApp, token: &str, username: &str) -> Value {
    let (status, room) = post(app, "/dm", token, json!({"username": username})).await;
    assert_eq!(status, 200, "DM with {username}: {room}");
    room
}

/// `POST /rooms/{id}/members`, which must answer 200; the room.
async fn invite(app: &TestApp, token: &str, room: i64, username: &str) -> Value {
    let (status, answer) = post(app, &format!("/rooms/{room}/members"), token, json!({"username": username})).await;
    assert_eq!(status, 200, "invite {username} to {room}: {answer}");
    answer
}

/// `POST /rooms/{id}/join`, which must answer 200; the room.
async fn join(app: &TestApp, token: &str, room: i64) -> Value {
    let (status, answer) = call(app, "POST", &format!("/rooms/{room}/join"), token, None).await;
    assert_eq!(status, 200, "join {room}: {answer}");
    answer
}

/// `GET /rooms`, which must answer 200.
async fn my_rooms(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, rooms) = get(app, "/rooms", token).await;
    assert_eq!(status, 200, "GET /rooms: {rooms}");
    rooms.as_array().unwrap_or_else(|| panic!("GET /rooms is not a list: {rooms}")).clone()
}

/// `GET /rooms/public`, which must answer 200.
async fn public_rooms(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, rooms) = get(app, "/rooms/public", token).await;
    assert_eq!(status, 200, "GET /rooms/public: {rooms}");
    rooms.as_array().unwrap_or_else(|| panic!("GET /rooms/public is not a list: {rooms}")).clone()
}

/// `GET /rooms/{id}`, which must answer 200.
async fn room_as(app: &TestApp, token: &str, room: i64) -> Value {
    let (status, answer) = get(app, &format!("/rooms/{room}"), token).await;
    assert_eq!(status, 200, "GET /rooms/{room}: {answer}");
    answer
}

fn find(rooms: &[Value], room: i64) -> Option<&Value> {
    rooms.iter().find(|r| r["id"] == room)
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().unwrap_or_else(|| panic!("not a list: {list}")).iter().map(id_of).collect()
}

fn contents(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_else(|| panic!("no content in {m}")).to_owned())
        .collect()
}

/// `GET /rooms/{id}/messages?QUERY` as `token`, which must answer 200: the contents.
async fn page(app: &TestApp, token: &str, room: i64, query: &str) -> Vec<String> {
    let (status, messages) = get(app, &format!("/rooms/{room}/messages{query}"), token).await;
    assert_eq!(status, 200, "GET /rooms/{room}/messages{query}: {messages}");
    contents(&messages)
}

async fn warning_count(app: &TestApp, token: &str) -> i64 {
    let (status, me) = get(app, "/me", token).await;
    assert_eq!(status, 200, "GET /me: {me}");
    me["warning_count"].as_i64().unwrap()
}

// ---- WebSocket -----------------------------------------------------------------------------

/// Connects and reads the first two frames, which must be `history` then `rooms`.
async fn ready(app: &TestApp, token: &str) -> (Client, Value, Value) {
    let (mut client, history) = app.connect(token).await;
    let rooms = client.next_frame().await;
    assert_eq!(rooms["type"], "rooms", "the frame after the first history must be `rooms`: {rooms}");
    (client, history, rooms)
}

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

fn fresh_client_id() -> String {
    format!("conv-{}", NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Sends a message to a conversation; the outcome for its `client_id` (other frames meanwhile
/// are skipped).
async fn attempt(client: &mut Client, room: i64, content: &str) -> Result<Value, Value> {
    let client_id = fresh_client_id();
    client.send_json(&json!({"type": "message", "room_id": room, "content": content, "client_id": client_id})).await;
    client.outcome_of(&client_id, WAIT).await
}

/// Sends a message that must be accepted: the sender's own copy.
async fn send(client: &mut Client, room: i64, content: &str) -> Value {
    match attempt(client, room, content).await {
        Ok(message) => {
            assert_eq!(message["room_id"], room, "{message}");
            message
        }
        Err(refusal) => panic!("{content:?} in conversation {room} was refused: {refusal}"),
    }
}

/// Sends a message that must be refused: the `error`/`warning` frame.
async fn refused(client: &mut Client, room: i64, content: &str) -> Value {
    match attempt(client, room, content).await {
        Ok(message) => panic!("{content:?} in conversation {room} was accepted: {message}"),
        Err(refusal) => refusal,
    }
}

/// The first frame `wanted` accepts (others are skipped); panics after [`WAIT`].
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

async fn wait_message(client: &mut Client, content: &str) -> Value {
    let content = content.to_owned();
    wait_for(client, &format!("message {content:?}"), move |f| f["type"] == "message" && f["content"] == *content).await
}

async fn wait_room_frame(client: &mut Client, room: i64) -> Value {
    wait_for(client, &format!("`room` frame of {room}"), |f| f["type"] == "room" && f["room"]["id"] == room).await
}

/// Every frame before the message `marker` (which must arrive within [`WAIT`]), and whatever
/// follows it within 300 ms: what a socket got around a known point of the conversation.
async fn frames_until(client: &mut Client, marker: &str) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    let mut frames = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(frame) = client.next_json_within(left).await else {
            panic!("the marker {marker:?} never arrived; before it: {frames:?}");
        };
        if frame["type"] == "message" && frame["content"] == marker {
            break;
        }
        frames.push(frame);
    }
    frames.extend(client.drain_frames(Duration::from_millis(300)).await);
    frames
}

/// Whether a frame is about conversation `room` (a message, typing, member, room or room_left).
fn touches(frame: &Value, room: i64) -> bool {
    frame["room_id"] == room || frame["room"]["id"] == room
}

fn assert_nothing_of(frames: &[Value], rooms: &[i64], whose: &str) {
    for frame in frames {
        for room in rooms {
            assert!(!touches(frame, *room), "{whose} got a frame of conversation {room}: {frame}");
        }
    }
}

// ---- 1. Outsiders --------------------------------------------------------------------------

/// alice's private room `Den` with bob in it, and the alice-bob DM, each with one message.
async fn den_and_dm(app: &TestApp, alice: &str) -> (i64, i64) {
    let den = id_of(&create_room(app, alice, "Den", "private").await);
    invite(app, alice, den, "bob").await;
    let dm = id_of(&open_dm(app, alice, "bob").await);
    let (mut socket, _, _) = ready(app, alice).await;
    send(&mut socket, den, "den secret").await;
    send(&mut socket, dm, "dm secret").await;
    (den, dm)
}

#[tokio::test]
async fn every_route_of_a_private_room_or_a_dm_is_404_to_a_non_member() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let (den, dm) = den_and_dm(&app, &alice).await;
    let (unknown_status, unknown) = get(&app, "/rooms/999999", &carol).await;
    assert_eq!(unknown_status, 404, "{unknown}");

    for room in [den, dm] {
        // The members do reach it.
        assert_eq!(room_as(&app, &bob, room).await["member_count"], 2);
        assert_eq!(page(&app, &bob, room, "").await.len(), 1);

        let attempts: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/rooms/{room}"), None),
            ("PATCH", format!("/rooms/{room}"), Some(json!({"topic": "mine now"}))),
            ("PATCH", format!("/rooms/{room}"), Some(json!({"name": "Carols Den"}))),
            ("PATCH", format!("/rooms/{room}"), Some(json!({"archived": true}))),
            ("POST", format!("/rooms/{room}/join"), None),
            ("POST", format!("/rooms/{room}/leave"), None),
            ("GET", format!("/rooms/{room}/members"), None),
            ("GET", format!("/rooms/{room}/members?after=a&limit=10"), None),
            ("POST", format!("/rooms/{room}/members"), Some(json!({"username": "carol"}))),
            ("DELETE", format!("/rooms/{room}/members/bob"), None),
            ("DELETE", format!("/rooms/{room}/members/carol"), None),
            ("GET", format!("/rooms/{room}/messages"), None),
            ("GET", format!("/rooms/{room}/messages?after=0"), None),
            ("GET", format!("/rooms/{room}/messages?before=999999&limit=5"), None),
            ("POST", format!("/rooms/{room}/read"), Some(json!({"last_read_id": 0}))),
        ];
        for (method, path, body) in attempts {
            let (status, answer) = call(&app, method, &path, &carol, body).await;
            assert_eq!(status, 404, "a non-member's {method} {path}: {answer}");
            assert!(!answer.to_string().contains("secret"), "{method} {path} leaked: {answer}");
        }
        let (_, hidden) = get(&app, &format!("/rooms/{room}"), &carol).await;
        assert_eq!(hidden, unknown, "a hidden conversation answers exactly like an unknown one");
    }

    // None of it changed anything.
    let den_now = room_as(&app, &alice, den).await;
    assert_eq!((den_now["name"].as_str(), den_now["topic"].as_str()), (Some("Den"), Some("")), "{den_now}");
    assert_eq!((den_now["member_count"].as_i64(), den_now["archived"].as_bool()), (Some(2), Some(false)));
    let (_, members) = get(&app, &format!("/rooms/{den}/members"), &alice).await;
    let names: Vec<&str> = members.as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(room_as(&app, &alice, dm).await["member_count"], 2);
    assert_eq!(page(&app, &alice, den, "").await, ["den secret"]);
    assert_eq!(page(&app, &alice, dm, "").await, ["dm secret"]);
}

#[tokio::test]
async fn private_rooms_and_dms_never_show_in_a_non_members_lists() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let (den, dm) = den_and_dm(&app, &alice).await;

    for token in [&alice, &bob] {
        let mine = my_rooms(&app, token).await;
        assert!(find(&mine, den).is_some() && find(&mine, dm).is_some(), "a member lists both: {mine:?}");
    }
    let carols = my_rooms(&app, &carol).await;
    assert_eq!(carols.iter().map(id_of).collect::<Vec<_>>(), [1], "carol is in general only: {carols:?}");
    for viewer in [&alice, &bob, &carol] {
        let public = public_rooms(&app, viewer).await;
        assert!(find(&public, den).is_none() && find(&public, dm).is_none(), "never public: {public:?}");
        assert!(public.iter().all(|r| r["kind"] == "public"), "{public:?}");
    }
    let (_c, _, rooms) = ready(&app, &carol).await;
    assert_nothing_of(std::slice::from_ref(&rooms), &[den, dm], "carol's rooms frame");
    assert!(rooms["rooms"].as_array().unwrap().iter().all(|r| r["id"] != den && r["id"] != dm), "{rooms}");
}

#[tokio::test]
async fn a_non_member_cannot_post_fetch_history_or_type_in_a_private_room_or_dm_over_ws() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let (den, dm) = den_and_dm(&app, &alice).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut c, _, _) = ready(&app, &carol).await;

    for room in [den, dm] {
        let refusal = refused(&mut c, room, "let me in").await;
        assert_eq!(refusal["type"], "error", "{refusal}");
        assert_eq!(refusal["message"], NOT_IN_IT, "{refusal}");

        c.send_json(&json!({"type": "history", "room_id": room})).await;
        let answer =
            wait_for(&mut c, "an answer to the history frame", |f| f["type"] == "error" || f["type"] == "history")
                .await;
        assert_eq!(answer["type"], "error", "a non-member's history request: {answer}");
        assert_eq!(answer["message"], NOT_IN_IT, "{answer}");
        assert!(!answer.to_string().contains("secret"), "{answer}");

        c.send_json(&json!({"type": "typing", "room_id": room})).await;
    }
    // Then a message in general: everything before it was handled first.
    send(&mut c, 1, "carol's marker").await;
    for (socket, who) in [(&mut a, "alice"), (&mut b, "bob")] {
        let frames = frames_until(socket, "carol's marker").await;
        assert_nothing_of(&frames, &[den, dm], who);
        assert!(frames.iter().all(|f| f["type"] != "typing"), "{who} saw the outsider typing: {frames:?}");
    }
    assert_eq!(page(&app, &alice, den, "").await, ["den secret"], "nothing of carol's was stored");
    assert_eq!(page(&app, &alice, dm, "").await, ["dm secret"]);
}

#[tokio::test]
async fn members_messages_and_typing_in_a_private_room_or_dm_never_reach_a_non_member() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let (den, dm) = den_and_dm(&app, &alice).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut c, _, _) = ready(&app, &carol).await;

    send(&mut a, den, "den talk").await;
    send(&mut a, dm, "dm talk").await;
    assert_eq!(wait_message(&mut b, "den talk").await["room_id"], den);
    assert_eq!(wait_message(&mut b, "dm talk").await["room_id"], dm);
    send(&mut b, den, "den reply").await;
    b.send_json(&json!({"type": "typing", "room_id": den})).await;
    b.send_json(&json!({"type": "typing", "room_id": dm})).await;
    assert_eq!(wait_message(&mut a, "den reply").await["room_id"], den);
    send(&mut a, 1, "alice's marker").await;
    send(&mut b, 1, "bob's marker").await;

    let frames = frames_until(&mut c, "bob's marker").await;
    assert_nothing_of(&frames, &[den, dm], "carol");
    for frame in &frames {
        let text = frame.to_string();
        assert!(!text.contains("talk") && !text.contains("den reply"), "carol got {frame}");
        assert!(frame["type"] != "typing", "carol saw typing elsewhere: {frame}");
    }
    // Nor over REST: her catch-up holds general only.
    let (status, caught_up) = get(&app, "/messages?after=0", &carol).await;
    assert_eq!(status, 200);
    assert_eq!(contents(&caught_up), ["alice's marker", "bob's marker"]);
}

// ---- 2. Creating rooms ---------------------------------------------------------------------

#[tokio::test]
async fn creating_a_room_answers_201_with_the_creator_as_owner_and_only_member() {
    let app = spawn().await;
    app.register("root").await;
    let alice = app.user("alice").await;
    let (mut a, _, _) = ready(&app, &alice).await;

    let (status, club) =
        post(&app, "/rooms", &alice, json!({"name": "  Book Club ", "kind": "public", "topic": " novels "})).await;
    assert_eq!(status, 201, "{club}");
    let club_id = id_of(&club);
    assert!(club_id > 1, "{club}");
    assert_eq!(club["kind"], "public");
    assert_eq!(club["name"], "Book Club", "trimmed");
    assert_eq!(club["topic"], "novels", "trimmed");
    assert_eq!(club["owner"], "alice");
    assert_eq!(club["member_count"], 1);
    assert_eq!(club["joined"], true);
    assert_eq!(club["unread"], 0);
    assert_eq!(club["archived"], false);
    assert_eq!(club["last_message_id"], Value::Null);
    assert_eq!(club["last_read_id"], 0);
    assert_eq!(wait_room_frame(&mut a, club_id).await["room"]["name"], "Book Club", "the creator's sockets hear of it");
    assert_eq!(room_as(&app, &alice, club_id).await, club, "GET answers what POST did");

    let den = create_room(&app, &alice, "Den", "private").await;
    assert_eq!((den["kind"].as_str(), den["topic"].as_str()), (Some("private"), Some("")), "{den}");
    assert_eq!((den["owner"].as_str(), den["member_count"].as_i64()), (Some("alice"), Some(1)), "{den}");

    let mine = my_rooms(&app, &alice).await;
    assert_eq!(mine[0]["id"], 1, "general first: {mine:?}");
    assert_eq!(mine[0]["name"], "general");
    assert!(find(&mine, club_id).is_some() && find(&mine, id_of(&den)).is_some(), "{mine:?}");
    assert_eq!(mine.len(), 3);
}

#[tokio::test]
async fn public_room_names_are_unique_case_insensitively_general_included() {
    let app = spawn().await;
    app.register("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    create_room(&app, &alice, "Book Club", "public").await;
    let taken = ["book club", "BOOK CLUB", "  Book Club  ", "general", "GENERAL", "General"];
    for name in taken {
        for token in [&alice, &bob] {
            let (status, answer) = post(&app, "/rooms", token, json!({"name": name, "kind": "public"})).await;
            assert_eq!(status, 409, "{name:?}: {answer}");
            assert_eq!(answer["error"], TAKEN, "{answer}");
            let (status, answer) = patch(&app, "/rooms/2", &alice, json!({"name": name})).await;
            assert!(status == 409 || name.trim().eq_ignore_ascii_case("book club"), "{name:?}: {status} {answer}");
        }
    }
    let names: Vec<String> =
        public_rooms(&app, &bob).await.iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names.iter().filter(|n| n.eq_ignore_ascii_case("book club")).count(), 1, "{names:?}");
}

/// Issue 22: a 409 for a private room's name told anyone that the room existed. Private rooms
/// share no namespace: their names are their members' business.
#[tokio::test]
async fn a_private_rooms_name_is_nobody_elses_business() {
    let app = spawn().await;
    app.register("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    create_room(&app, &alice, "Den", "private").await;
    for (name, kind) in [("den", "private"), ("DEN", "public"), ("Den", "private")] {
        let (status, answer) = post(&app, "/rooms", &bob, json!({"name": name, "kind": kind})).await;
        assert_eq!(status, 201, "{name:?} ({kind}) must not reveal alice's room: {answer}");
    }
    // A private room may even be called like a public one.
    let (status, answer) = post(&app, "/rooms", &bob, json!({"name": "general", "kind": "private"})).await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test]
async fn bad_room_names_topics_and_kinds_are_422_and_create_nothing() {
    let app = spawn().await;
    app.register("root").await;
    let alice = app.user("alice").await;
    let long = "x".repeat(41);
    for name in ["", "   ", long.as_str(), "a  b", "<script>", "a/b", "new\nline", "tab\tname", "emoji 🎉"] {
        let (status, answer) = post(&app, "/rooms", &alice, json!({"name": name, "kind": "public"})).await;
        assert_eq!(status, 422, "name {name:?}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.starts_with("room name must be")), "{answer}");
    }
    for kind in ["dm", "secret", "PUBLIC", ""] {
        let (status, answer) = post(&app, "/rooms", &alice, json!({"name": "Kinds", "kind": kind})).await;
        assert_eq!(status, 422, "kind {kind:?}: {answer}");
    }
    let too_long = "é".repeat(251);
    for topic in [too_long.as_str(), "bell\u{7}here", "nul\u{0}here"] {
        let (status, answer) =
            post(&app, "/rooms", &alice, json!({"name": "Topics", "kind": "public", "topic": topic})).await;
        assert_eq!(status, 422, "topic {topic:?}: {answer}");
    }
    assert_eq!(my_rooms(&app, &alice).await.len(), 1, "nothing was created");

    // The limits themselves are fine.
    create_room(&app, &alice, &"x".repeat(40), "public").await;
    create_room(&app, &alice, "c++ (help) & q.a #1 don't!?", "private").await;
    let (status, answer) =
        post(&app, "/rooms", &alice, json!({"name": "Topics", "kind": "public", "topic": "é".repeat(250)})).await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test]
async fn a_filtered_word_in_a_room_name_or_topic_is_422_without_a_strike() {
    let app = spawn().await;
    app.register("root").await;
    let alice = app.user("alice").await;
    let attempts = [
        json!({"name": BAD_NAME, "kind": "public"}),
        json!({"name": BAD_NAME, "kind": "private"}),
        json!({"name": "Fine Name", "kind": "public", "topic": BAD}),
    ];
    for body in attempts {
        let (status, answer) = post(&app, "/rooms", &alice, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["error"], FILTERED, "{answer}");
    }
    let clean = id_of(&create_room(&app, &alice, "Clean", "public").await);
    for body in [json!({"topic": BAD}), json!({"name": BAD_NAME})] {
        let (status, answer) = patch(&app, &format!("/rooms/{clean}"), &alice, body.clone()).await;
        assert_eq!(status, 422, "PATCH {body}: {answer}");
        assert_eq!(answer["error"], FILTERED, "{answer}");
    }
    // Five refusals, no strike: not warned, not blocked (three strikes would have blocked her).
    assert_eq!(warning_count(&app, &alice).await, 0);
    let (status, me) = get(&app, "/me", &alice).await;
    assert_eq!((status, me["is_blocked"].as_bool()), (200, Some(false)), "{me}");
    let room = room_as(&app, &alice, clean).await;
    assert_eq!((room["name"].as_str(), room["topic"].as_str()), (Some("Clean"), Some("")));
    let (mut a, _, _) = ready(&app, &alice).await;
    send(&mut a, clean, "still welcome").await;
}

// ---- 3. Public rooms -----------------------------------------------------------------------

#[tokio::test]
async fn a_public_room_is_found_joined_talked_in_and_left_live() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut c, _, _) = ready(&app, &carol).await;
    let (status, lounge) =
        post(&app, "/rooms", &alice, json!({"name": "Lounge", "kind": "public", "topic": "chill"})).await;
    assert_eq!(status, 201, "{lounge}");
    let lounge = id_of(&lounge);

    // Listed for bob, not joined; readable before joining.
    let public = public_rooms(&app, &bob).await;
    let listed = find(&public, lounge).unwrap_or_else(|| panic!("Lounge is not listed: {public:?}"));
    assert_eq!(listed["joined"], false, "{listed}");
    assert_eq!(listed["member_count"], 1, "{listed}");
    assert_eq!(listed["unread"], 0, "{listed}");
    assert_eq!(listed["topic"], "chill");
    let names: Vec<&str> = public.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted, "by name");
    assert_eq!(room_as(&app, &bob, lounge).await["joined"], false);
    let (status, members) = get(&app, &format!("/rooms/{lounge}/members"), &bob).await;
    assert_eq!(status, 200, "{members}");
    assert_eq!(members, json!([{"username": "alice", "is_owner": true, "online": true}]));
    assert!(find(&my_rooms(&app, &bob).await, lounge).is_none(), "not in bob's list before joining");

    // Joining: 200, idempotent, and both hear of it.
    let joined = join(&app, &bob, lounge).await;
    assert_eq!((joined["joined"].as_bool(), joined["member_count"].as_i64()), (Some(true), Some(2)), "{joined}");
    let again = join(&app, &bob, lounge).await;
    assert_eq!(again["member_count"], 2, "joining twice changes nothing: {again}");
    let frame = wait_for(&mut b, "the joined room", |f| f["type"] == "room" && f["room"]["id"] == lounge).await;
    assert_eq!(frame["room"]["joined"], true, "{frame}");
    assert_eq!(frame["room"]["member_count"], 2, "{frame}");
    let member = wait_for(&mut a, "member frame", |f| f["type"] == "member").await;
    assert_eq!(
        member,
        json!({"type": "member", "room_id": lounge, "username": "bob", "joined": true, "member_count": 2})
    );
    assert!(find(&my_rooms(&app, &bob).await, lounge).is_some());

    // Talking: every message carries the room; carol, not in it, gets none.
    let mine = send(&mut a, lounge, "hi lounge").await;
    assert_eq!((mine["room_id"].as_i64(), mine["room"].as_str()), (Some(lounge), Some("Lounge")), "{mine}");
    let theirs = wait_message(&mut b, "hi lounge").await;
    assert_eq!((theirs["room_id"].as_i64(), theirs["room"].as_str()), (Some(lounge), Some("Lounge")));
    assert_eq!(theirs["id"], mine["id"]);
    send(&mut b, lounge, "hello alice").await;
    assert_eq!(wait_message(&mut a, "hello alice").await["room_id"], lounge);
    send(&mut a, 1, "marker in general").await;
    let frames = frames_until(&mut c, "marker in general").await;
    let talk: Vec<&Value> = frames.iter().filter(|f| f["type"] == "message" || f["type"] == "typing").collect();
    assert!(talk.iter().all(|f| f["room_id"] != lounge), "carol, not in the room, got {talk:?}");

    // Leaving: 204, the leaver is told, the others see the member go.
    let (status, _) = call(&app, "POST", &format!("/rooms/{lounge}/leave"), &bob, None).await;
    assert_eq!(status, 204);
    let left = wait_for(&mut b, "room_left", |f| f["type"] == "room_left").await;
    assert_eq!(left, json!({"type": "room_left", "room_id": lounge, "reason": "left"}));
    let member = wait_for(&mut a, "member frame", |f| f["type"] == "member" && f["joined"] == false).await;
    assert_eq!(
        member,
        json!({"type": "member", "room_id": lounge, "username": "bob", "joined": false, "member_count": 1})
    );
    assert!(find(&my_rooms(&app, &bob).await, lounge).is_none());
    let refusal = refused(&mut b, lounge, "still here?").await;
    assert_eq!(refusal["message"], NOT_IN_IT, "{refusal}");
    let (status, answer) = call(&app, "POST", &format!("/rooms/{lounge}/leave"), &bob, None).await;
    assert_eq!(status, 400, "leaving a public room one is not in: {answer}");
    let (status, answer) = call(&app, "POST", "/rooms/1/leave", &bob, None).await;
    assert_eq!(status, 400, "general cannot be left: {answer}");
    assert_eq!(find(&my_rooms(&app, &bob).await, 1).map(|r| r["joined"].clone()), Some(json!(true)));
}

// ---- 4. Private rooms ----------------------------------------------------------------------

#[tokio::test]
async fn a_private_room_grows_by_invitation_and_shrinks_by_removal() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut c, _, _) = ready(&app, &carol).await;
    let den = id_of(&create_room(&app, &alice, "Den", "private").await);

    let added = invite(&app, &alice, den, "bob").await;
    assert_eq!((added["id"].as_i64(), added["member_count"].as_i64()), (Some(den), Some(2)), "{added}");
    let frame = wait_room_frame(&mut b, den).await;
    assert_eq!((frame["room"]["name"].as_str(), frame["room"]["kind"].as_str()), (Some("Den"), Some("private")));
    assert_eq!(find(&my_rooms(&app, &bob).await, den).map(|r| r["joined"].clone()), Some(json!(true)));
    let member = wait_for(&mut a, "member frame", |f| f["type"] == "member").await;
    assert_eq!(member, json!({"type": "member", "room_id": den, "username": "bob", "joined": true, "member_count": 2}));

    let (status, answer) = post(&app, &format!("/rooms/{den}/members"), &alice, json!({"username": "nobody"})).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("no such user")), "{answer}");
    assert_eq!(invite(&app, &alice, den, "bob").await["member_count"], 2, "inviting a member again changes nothing");

    // The invitee posts; any member may invite.
    send(&mut b, den, "thanks for the invite").await;
    assert_eq!(wait_message(&mut a, "thanks for the invite").await["room_id"], den);
    assert_eq!(invite(&app, &bob, den, "carol").await["member_count"], 3);
    wait_room_frame(&mut c, den).await;
    let (_, members) = get(&app, &format!("/rooms/{den}/members"), &alice).await;
    assert_eq!(
        members,
        json!([
            {"username": "alice", "is_owner": true, "online": true},
            {"username": "bob", "is_owner": false, "online": true},
            {"username": "carol", "is_owner": false, "online": true},
        ])
    );
    let (_, second_page) = get(&app, &format!("/rooms/{den}/members?after=alice&limit=1"), &alice).await;
    assert_eq!(second_page, json!([{"username": "bob", "is_owner": false, "online": true}]));

    // Removal: not by a plain member, yes by the owner, and by oneself.
    let (status, answer) = delete(&app, &format!("/rooms/{den}/members/carol"), &bob).await;
    assert_eq!(status, 403, "a member removing another: {answer}");
    let (status, answer) = delete(&app, &format!("/rooms/{den}/members/carol"), &alice).await;
    assert_eq!(status, 204, "{answer}");
    let left = wait_for(&mut c, "room_left", |f| f["type"] == "room_left").await;
    assert_eq!(left, json!({"type": "room_left", "room_id": den, "reason": "removed"}));
    assert_eq!(get(&app, &format!("/rooms/{den}"), &carol).await.0, 404, "a removed member is an outsider again");
    assert_eq!(refused(&mut c, den, "wait").await["message"], NOT_IN_IT);
    let (status, answer) = delete(&app, &format!("/rooms/{den}/members/carol"), &alice).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("no such user")), "not a member any more: {answer}");

    let (status, answer) = delete(&app, &format!("/rooms/{den}/members/bob"), &bob).await;
    assert_eq!(status, 204, "a member removing themself: {answer}");
    let left = wait_for(&mut b, "room_left", |f| f["type"] == "room_left").await;
    assert_eq!(left["room_id"], den, "{left}");
    assert!(find(&my_rooms(&app, &bob).await, den).is_none());
    let (_, members) = get(&app, &format!("/rooms/{den}/members"), &alice).await;
    assert_eq!(members, json!([{"username": "alice", "is_owner": true, "online": true}]));
}

#[tokio::test]
async fn owners_rename_and_archive_members_set_the_topic_and_every_member_hears_of_it() {
    let app = spawn().await;
    let (root, alice, bob, carol) = cast(&app).await;
    let lounge = id_of(&create_room(&app, &alice, "Lounge", "public").await);
    join(&app, &bob, lounge).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let path = format!("/rooms/{lounge}");

    for body in [json!({"name": "Bobs Lounge"}), json!({"archived": true})] {
        let (status, answer) = patch(&app, &path, &bob, body.clone()).await;
        assert_eq!(status, 403, "a plain member's PATCH {body}: {answer}");
    }
    let (status, answer) = patch(&app, &path, &carol, json!({"topic": "outsider"})).await;
    assert_eq!(status, 403, "a non-member's topic in a public room: {answer}");

    let (status, answer) = patch(&app, &path, &bob, json!({"topic": "board games"})).await;
    assert_eq!((status, answer["topic"].as_str()), (200, Some("board games")), "{answer}");
    let topic = wait_for(&mut a, "the new topic", |f| f["type"] == "room" && f["room"]["topic"] == "board games").await;
    assert_eq!(topic["room"]["id"], lounge);

    let (status, answer) = patch(&app, &path, &alice, json!({"name": "Living Room"})).await;
    assert_eq!((status, answer["name"].as_str()), (200, Some("Living Room")), "{answer}");
    let renamed = wait_for(&mut b, "the rename", |f| f["type"] == "room" && f["room"]["name"] == "Living Room").await;
    assert_eq!(renamed["room"]["id"], lounge);

    create_room(&app, &carol, "Den", "public").await;
    create_room(&app, &carol, "Hideout", "private").await;
    for (name, expected) in [("GENERAL", 409), ("den", 409), ("a  b", 422), ("", 422)] {
        let (status, answer) = patch(&app, &path, &alice, json!({"name": name})).await;
        assert_eq!(status, expected, "rename to {name:?}: {answer}");
    }
    for body in [json!({"name": "Town Square"}), json!({"archived": true})] {
        let (status, answer) = patch(&app, "/rooms/1", &root, body.clone()).await;
        assert_eq!(status, 400, "general PATCH {body}: {answer}");
    }

    let (status, answer) = patch(&app, &path, &alice, json!({"archived": true})).await;
    assert_eq!((status, answer["archived"].as_bool()), (200, Some(true)), "{answer}");
    let archived = wait_for(&mut b, "the archiving", |f| f["type"] == "room" && f["room"]["archived"] == true).await;
    assert_eq!(archived["room"]["id"], lounge);
    assert_eq!(refused(&mut b, lounge, "anyone?").await["message"], ARCHIVED);
    assert!(find(&public_rooms(&app, &carol).await, lounge).is_none(), "an archived room is not listed");
    let (status, answer) = call(&app, "POST", &format!("{path}/join"), &carol, None).await;
    assert_eq!(status, 400, "joining an archived room: {answer}");
    assert_eq!(page(&app, &alice, lounge, "").await.len(), 0);
}

// ---- 5. DMs --------------------------------------------------------------------------------

#[tokio::test]
async fn a_dm_is_one_room_per_pair_whoever_opens_it_and_only_the_two_can_use_it() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut c, _, _) = ready(&app, &carol).await;

    let opened = open_dm(&app, &alice, "bob").await;
    let dm = id_of(&opened);
    assert_eq!(opened["kind"], "dm");
    assert_eq!((opened["name"].as_str(), opened["peer"].as_str()), (Some("bob"), Some("bob")), "{opened}");
    assert_eq!((opened["owner"].clone(), opened["topic"].as_str()), (Value::Null, Some("")), "{opened}");
    assert_eq!((opened["member_count"].as_i64(), opened["joined"].as_bool()), (Some(2), Some(true)));
    let frame = wait_room_frame(&mut b, dm).await;
    assert_eq!((frame["room"]["name"].as_str(), frame["room"]["peer"].as_str()), (Some("alice"), Some("alice")));

    let back = open_dm(&app, &bob, "alice").await;
    assert_eq!(id_of(&back), dm, "the other direction is the same room");
    assert_eq!(
        (back["name"].as_str(), back["peer"].as_str(), back["kind"].as_str()),
        (Some("alice"), Some("alice"), Some("dm"))
    );
    assert_eq!(id_of(&open_dm(&app, &alice, "bob").await), dm, "and again");
    assert_eq!(find(&my_rooms(&app, &alice).await, dm).map(|r| r["peer"].clone()), Some(json!("bob")));
    assert_eq!(find(&my_rooms(&app, &bob).await, dm).map(|r| r["name"].clone()), Some(json!("alice")));

    send(&mut a, dm, "hi bob").await;
    assert_eq!(wait_message(&mut b, "hi bob").await["room_id"], dm);
    send(&mut b, dm, "hi alice").await;
    assert_eq!(wait_message(&mut a, "hi alice").await["room_id"], dm);
    assert_eq!(refused(&mut c, dm, "me too").await["message"], NOT_IN_IT);
    send(&mut a, 1, "general marker").await;
    assert_nothing_of(&frames_until(&mut c, "general marker").await, &[dm], "carol");
    assert_eq!(page(&app, &bob, dm, "").await, ["hi alice", "hi bob"], "newest first");

    // A DM stays two people with no name of its own.
    let path = format!("/rooms/{dm}");
    for (method, route, body) in [
        ("POST", format!("{path}/leave"), None),
        ("PATCH", path.clone(), Some(json!({"name": "Our Place"}))),
        ("PATCH", path.clone(), Some(json!({"topic": "us"}))),
        ("POST", format!("{path}/members"), Some(json!({"username": "carol"}))),
        ("DELETE", format!("{path}/members/bob"), None),
    ] {
        let (status, answer) = call(&app, method, &route, &alice, body).await;
        assert_eq!(status, 400, "{method} {route} on a DM: {answer}");
    }
    assert_eq!(room_as(&app, &alice, dm).await["member_count"], 2);

    // With oneself, with nobody; with someone else, another room.
    let (status, answer) = post(&app, "/dm", &alice, json!({"username": "alice"})).await;
    assert_eq!(status, 400, "a DM with yourself: {answer}");
    let (status, answer) = post(&app, "/dm", &alice, json!({"username": "nobody"})).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("no such user")), "{answer}");
    let other = open_dm(&app, &carol, "alice").await;
    assert_ne!(id_of(&other), dm);
    assert_eq!(other["name"], "alice");
}

// ---- 6. Unread -----------------------------------------------------------------------------

#[tokio::test]
async fn unread_counts_others_messages_after_my_marker_which_never_moves_back() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let lounge = id_of(&create_room(&app, &alice, "Lounge", "public").await);
    join(&app, &bob, lounge).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let mut bobs = Vec::new();
    for n in 1..=3 {
        bobs.push(id_of(&send(&mut b, lounge, &format!("from bob {n}")).await));
    }
    let newest = id_of(&send(&mut a, lounge, "from alice").await);

    let mine = room_as(&app, &alice, lounge).await;
    assert_eq!(mine["unread"], 3, "bob's three, not her own: {mine}");
    assert_eq!((mine["last_message_id"].as_i64(), mine["last_read_id"].as_i64()), (Some(newest), Some(0)));
    assert_eq!(find(&my_rooms(&app, &alice).await, lounge).map(|r| r["unread"].clone()), Some(json!(3)));
    assert_eq!(room_as(&app, &bob, lounge).await["unread"], 1, "alice's one, not his own");

    let read = format!("/rooms/{lounge}/read");
    assert_eq!(mark_read(&app, &alice, lounge, bobs[1]).await["unread"], 1, "only bob's third is after the marker");
    let all_read = mark_read(&app, &alice, lounge, newest).await;
    assert_eq!((all_read["unread"].as_i64(), all_read["last_read_id"].as_i64()), (Some(0), Some(newest)));
    let back = mark_read(&app, &alice, lounge, bobs[0]).await;
    assert_eq!((back["unread"].as_i64(), back["last_read_id"].as_i64()), (Some(0), Some(newest)), "never back");
    let beyond = mark_read(&app, &alice, lounge, 1_000_000_000).await;
    assert_eq!(beyond["last_read_id"], newest, "clamped to the room's newest message");
    send(&mut b, lounge, "from bob 4").await;
    assert_eq!(room_as(&app, &alice, lounge).await["unread"], 1, "a later message is unread again");
    let (_a2, _, rooms) = ready(&app, &alice).await;
    let listed = rooms["rooms"].as_array().unwrap().iter().find(|r| r["id"] == lounge).cloned();
    assert_eq!(listed.map(|r| r["unread"].clone()), Some(json!(1)), "the rooms frame agrees: {rooms}");

    let (status, answer) = post(&app, &read, &alice, json!({"last_read_id": -1})).await;
    assert_eq!(status, 422, "a negative marker: {answer}");
    let (status, answer) = post(&app, &read, &carol, json!({"last_read_id": newest})).await;
    assert_eq!(status, 400, "a public room one has not joined: {answer}");
    assert_eq!(find(&public_rooms(&app, &carol).await, lounge).map(|r| r["unread"].clone()), Some(json!(0)));
}

/// `POST /rooms/{id}/read`, which must answer 204; the room as the reader then sees it.
async fn mark_read(app: &TestApp, token: &str, room: i64, last_read_id: i64) -> Value {
    let (status, answer) =
        post(app, &format!("/rooms/{room}/read"), token, json!({"last_read_id": last_read_id})).await;
    assert_eq!(status, 204, "read up to {last_read_id}: {answer}");
    room_as(app, token, room).await
}

// ---- 7. History ----------------------------------------------------------------------------

#[tokio::test]
async fn ws_history_of_a_room_is_oldest_first_and_rest_pages_it_newest_first() {
    let app = spawn().await;
    let (_root, alice, _bob, carol) = cast(&app).await;
    let lounge = id_of(&create_room(&app, &alice, "Lounge", "public").await);
    let (mut a, _, _) = ready(&app, &alice).await;
    let mut ids = Vec::new();
    for n in 0..55 {
        ids.push(id_of(&send(&mut a, lounge, &format!("r{n}")).await));
        if n == 10 {
            send(&mut a, 1, "in general").await;
        }
    }
    let expected = |range: std::ops::Range<usize>| range.map(|n| format!("r{n}")).collect::<Vec<_>>();

    a.send_json(&json!({"type": "history", "room_id": lounge})).await;
    let history = wait_for(&mut a, "history answer", |f| f["type"] == "history").await;
    assert_eq!(history["room_id"], lounge, "{history}");
    assert_eq!(contents(&history["messages"]), expected(5..55), "the newest 50, oldest first");
    assert_eq!(history["more"], true);
    assert!(history["messages"].as_array().unwrap().iter().all(|m| m["room_id"] == lounge));

    a.send_json(&json!({"type": "history", "room_id": lounge, "before": ids[5]})).await;
    let older = wait_for(&mut a, "older history", |f| f["type"] == "history").await;
    assert_eq!((older["room_id"].as_i64(), older["more"].as_bool()), (Some(lounge), Some(false)), "{older}");
    assert_eq!(contents(&older["messages"]), expected(0..5));

    // A public room's history is open to anyone signed in, over WS and REST.
    let (mut c, general, _) = ready(&app, &carol).await;
    assert_eq!(general["room_id"], 1, "{general}");
    assert_eq!(contents(&general["messages"]), ["in general"], "a fresh connection's history is general's only");
    c.send_json(&json!({"type": "history", "room_id": lounge, "before": ids[3]})).await;
    let outside = wait_for(&mut c, "history answer", |f| f["type"] == "history" || f["type"] == "error").await;
    assert_eq!(contents(&outside["messages"]), expected(0..3), "{outside}");

    let newest_first = |range: std::ops::Range<usize>| expected(range).into_iter().rev().collect::<Vec<_>>();
    assert_eq!(page(&app, &alice, lounge, "").await, newest_first(5..55), "50 by default");
    assert_eq!(page(&app, &carol, lounge, "?limit=3").await, newest_first(52..55));
    assert_eq!(page(&app, &alice, lounge, &format!("?before={}&limit=3", ids[10])).await, newest_first(7..10));
    assert_eq!(page(&app, &alice, lounge, &format!("?after={}", ids[50])).await, expected(51..55), "oldest first");
    assert_eq!(page(&app, &alice, lounge, &format!("?after={}&limit=2", ids[0])).await, expected(1..3));
    for bad in ["?limit=201", "?limit=abc", "?before=x", "?limit=-1"] {
        let (status, answer) = get(&app, &format!("/rooms/{lounge}/messages{bad}"), &alice).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
}

#[tokio::test]
async fn a_since_catch_up_covers_every_conversation_i_am_in_and_no_other() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let club = id_of(&create_room(&app, &alice, "Club", "public").await);
    let den = id_of(&create_room(&app, &alice, "Den", "private").await);
    invite(&app, &alice, den, "bob").await;
    let dm_ab = id_of(&open_dm(&app, &alice, "bob").await);
    let carols = id_of(&create_room(&app, &carol, "Carols", "public").await);
    join(&app, &bob, carols).await;
    let hideout = id_of(&create_room(&app, &bob, "Hideout", "private").await);
    invite(&app, &bob, hideout, "carol").await;
    let dm_bc = id_of(&open_dm(&app, &bob, "carol").await);

    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut c, _, _) = ready(&app, &carol).await;
    let base = id_of(&send(&mut a, 1, "before").await);
    send(&mut a, club, "club by alice").await;
    a.socket.close(None).await.expect("close");
    send(&mut b, 1, "general by bob").await;
    send(&mut b, den, "den by bob").await;
    send(&mut b, dm_ab, "dm by bob").await;
    send(&mut c, carols, "carols by carol").await;
    send(&mut b, hideout, "hideout by bob").await;
    send(&mut c, dm_bc, "dm by carol").await;

    let expectations = [
        (&alice, vec![("club by alice", club), ("general by bob", 1), ("den by bob", den), ("dm by bob", dm_ab)]),
        (
            &bob,
            vec![
                ("general by bob", 1),
                ("den by bob", den),
                ("dm by bob", dm_ab),
                ("carols by carol", carols),
                ("hideout by bob", hideout),
                ("dm by carol", dm_bc),
            ],
        ),
        (
            &carol,
            vec![
                ("general by bob", 1),
                ("carols by carol", carols),
                ("hideout by bob", hideout),
                ("dm by carol", dm_bc),
            ],
        ),
    ];
    for (token, expected) in expectations {
        // Reconnecting with `since`: one catch-up over every conversation, no room_id.
        let (_socket, history) = app.connect_query(&format!("token={token}&since={base}")).await;
        assert!(history.get("room_id").is_none_or(Value::is_null), "a catch-up has no room_id: {history}");
        assert_eq!(history["more"], false);
        let messages = history["messages"].as_array().unwrap();
        let got: Vec<(&str, i64)> =
            messages.iter().map(|m| (m["content"].as_str().unwrap(), m["room_id"].as_i64().unwrap())).collect();
        assert_eq!(got, expected, "the catch-up, oldest first");
        assert!(messages.windows(2).all(|w| id_of(&w[0]) < id_of(&w[1])));
        // GET /messages?after= continues it the same way.
        let (status, after) = get(&app, &format!("/messages?after={base}"), token).await;
        assert_eq!(status, 200, "{after}");
        let rest: Vec<(&str, i64)> = after
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["content"].as_str().unwrap(), m["room_id"].as_i64().unwrap()))
            .collect();
        assert_eq!(rest, expected, "GET /messages?after=");
    }
    // Without `after`, GET /messages is still general's alone.
    let (_, general) = get(&app, "/messages", &alice).await;
    assert_eq!(contents(&general), ["general by bob", "before"]);
}

// ---- 8. Ignores ----------------------------------------------------------------------------

#[tokio::test]
async fn ignoring_someone_hides_their_messages_and_closes_dms_with_me_until_undone() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let dm = id_of(&open_dm(&app, &bob, "alice").await);
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut c, _, _) = ready(&app, &carol).await;

    for _ in 0..2 {
        let (status, answer) = post(&app, "/ignores", &alice, json!({"username": "bob"})).await;
        assert_eq!(status, 204, "ignoring (idempotent): {answer}");
    }
    assert_eq!(get(&app, "/ignores", &alice).await, (200, json!(["bob"])));
    assert_eq!(get(&app, "/ignores", &bob).await, (200, json!([])), "one-way");
    let (status, answer) = post(&app, "/ignores", &alice, json!({"username": "alice"})).await;
    assert_eq!(status, 400, "ignoring yourself: {answer}");
    let (status, answer) = post(&app, "/ignores", &alice, json!({"username": "nobody"})).await;
    assert_eq!(status, 404, "{answer}");

    // Live: bob's message and typing never reach alice; carol's do. Carol still sees bob.
    send(&mut b, 1, "bob in general").await;
    b.send_json(&json!({"type": "typing", "room_id": 1})).await;
    wait_message(&mut c, "bob in general").await;
    send(&mut c, 1, "carol in general").await;
    let frames = frames_until(&mut a, "carol in general").await;
    for frame in &frames {
        let from_bob = frame["username"] == "bob" && (frame["type"] == "message" || frame["type"] == "typing");
        assert!(!from_bob, "alice got an ignored person's frame: {frame}");
    }

    // Nor in history, pages or unread.
    let (_again, history, _) = ready(&app, &alice).await;
    assert_eq!(contents(&history["messages"]), ["carol in general"]);
    assert_eq!(page(&app, &alice, 1, "").await, ["carol in general"]);
    assert_eq!(find(&my_rooms(&app, &alice).await, 1).map(|r| r["unread"].clone()), Some(json!(1)), "carol's only");

    // Bob cannot open or write to a DM with her.
    let (status, answer) = post(&app, "/dm", &bob, json!({"username": "alice"})).await;
    assert_eq!(status, 403, "opening a DM with someone who ignores you: {answer}");
    let refusal = refused(&mut b, dm, "psst").await;
    assert_eq!((refusal["type"].as_str(), refusal["message"].as_str()), (Some("error"), Some(IGNORED)), "{refusal}");
    assert!(page(&app, &alice, dm, "").await.is_empty());

    // Undone: everything flows again.
    for _ in 0..2 {
        let (status, answer) = delete(&app, "/ignores/bob", &alice).await;
        assert_eq!(status, 204, "un-ignoring (idempotent): {answer}");
    }
    assert_eq!(get(&app, "/ignores", &alice).await, (200, json!([])));
    assert_eq!(delete(&app, "/ignores/nobody", &alice).await.0, 404);
    send(&mut b, 1, "bob again").await;
    wait_message(&mut a, "bob again").await;
    assert_eq!(id_of(&open_dm(&app, &bob, "alice").await), dm);
    send(&mut b, dm, "psst, again").await;
    assert_eq!(wait_message(&mut a, "psst, again").await["room_id"], dm);
}

// ---- 9. Presence ---------------------------------------------------------------------------

fn online_of(rooms_frame: &Value) -> Vec<String> {
    let mut names: Vec<String> = rooms_frame["online"]
        .as_array()
        .unwrap_or_else(|| panic!("no online list: {rooms_frame}"))
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Every frame within `span` (not stopping at a quiet moment).
async fn frames_for(client: &mut Client, span: Duration) -> Vec<Value> {
    let deadline = Instant::now() + span;
    let mut frames = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return frames;
        }
        if let Some(frame) = client.next_json_within(left).await {
            frames.push(frame);
        }
    }
}

#[tokio::test]
async fn the_rooms_frame_follows_the_first_history_and_names_who_is_online() {
    let app = spawn().await;
    let (_root, alice, bob, _carol) = cast(&app).await;
    let lounge = id_of(&create_room(&app, &alice, "Lounge", "public").await);

    let (_a, history, rooms) = ready(&app, &alice).await;
    assert_eq!(history["room_id"], 1, "the first history is general's: {history}");
    assert_eq!(online_of(&rooms), ["alice"], "me included: {rooms}");
    let listed = rooms["rooms"].as_array().unwrap();
    assert_eq!(listed[0]["id"], 1, "general first: {rooms}");
    assert!(listed.iter().any(|r| r["id"] == lounge && r["owner"] == "alice"), "{rooms}");

    let (_b, _, rooms) = ready(&app, &bob).await;
    assert_eq!(online_of(&rooms), ["alice", "bob"], "{rooms}");
    assert_eq!(rooms["rooms"].as_array().unwrap().iter().map(id_of).collect::<Vec<_>>(), [1]);
}

#[tokio::test]
async fn presence_is_online_at_the_first_socket_and_offline_after_the_last_and_a_grace() {
    let app = spawn().await;
    let (_root, alice, bob, _carol) = cast(&app).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let is_bobs = |f: &Value| f["type"] == "presence" && f["username"] == "bob";

    let (mut first_tab, _, _) = ready(&app, &bob).await;
    let online = wait_for(&mut a, "bob's presence", is_bobs).await;
    assert_eq!(online, json!({"type": "presence", "username": "bob", "online": true}));
    let (mut second_tab, _, _) = ready(&app, &bob).await;

    // One tab closes: bob is still online, nothing is said (not even after the grace).
    first_tab.socket.close(None).await.expect("close");
    drop(first_tab);
    let frames = frames_for(&mut a, Duration::from_millis(6_500)).await;
    assert!(!frames.iter().any(is_bobs), "bob's presence changed while one of his two tabs stayed open: {frames:?}");

    // The last one closes: offline, after the grace.
    second_tab.socket.close(None).await.expect("close");
    drop(second_tab);
    let closed = Instant::now();
    let offline = wait_for(&mut a, "bob going offline", is_bobs).await;
    let after = closed.elapsed();
    assert_eq!(offline, json!({"type": "presence", "username": "bob", "online": false}));
    assert!(after >= Duration::from_millis(4_000), "offline after {after:?}: no grace");
    assert!(after <= Duration::from_secs(8), "offline only after {after:?}");
    let (_, members) = get(&app, "/rooms/1/members", &alice).await;
    let bob_listed = members.as_array().unwrap().iter().find(|m| m["username"] == "bob").cloned();
    assert_eq!(bob_listed.map(|m| m["online"].clone()), Some(json!(false)), "{members}");
}

#[tokio::test]
async fn a_blocked_account_goes_offline_at_once() {
    let app = spawn().await;
    let (root, alice, bob, _carol) = cast(&app).await;
    let bob_id = id_of(&get(&app, "/me", &bob).await.1);
    let (mut a, _, _) = ready(&app, &alice).await;
    let is_bobs = |f: &Value| f["type"] == "presence" && f["username"] == "bob";
    let (_b, _, _) = ready(&app, &bob).await;
    assert_eq!(wait_for(&mut a, "bob online", is_bobs).await["online"], true);
    let (status, answer) = call(&app, "POST", &format!("/admin/users/{bob_id}/block"), &root, None).await;
    assert_eq!(status, 200, "{answer}");
    let blocked = Instant::now();
    assert_eq!(wait_for(&mut a, "bob offline", is_bobs).await["online"], false);
    assert!(blocked.elapsed() < Duration::from_secs(3), "offline {:?} after the block", blocked.elapsed());
}

// ---- 10. Typing ----------------------------------------------------------------------------

#[tokio::test]
async fn typing_in_a_room_reaches_its_other_members_only() {
    let app = spawn().await;
    let (_root, alice, bob, carol) = cast(&app).await;
    let lounge = id_of(&create_room(&app, &alice, "Lounge", "public").await);
    join(&app, &bob, lounge).await;
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut c, _, _) = ready(&app, &carol).await;

    a.send_json(&json!({"type": "typing", "room_id": lounge})).await;
    let seen = wait_for(&mut b, "alice typing", |f| f["type"] == "typing").await;
    assert_eq!(seen, json!({"type": "typing", "room_id": lounge, "username": "alice"}));
    // Markers in general (a sender's own copy is read by `send`, so each socket waits for the
    // other's).
    send(&mut a, 1, "alice's marker").await;
    send(&mut b, 1, "bob's marker").await;
    for (socket, who) in [(&mut c, "carol, not a member"), (&mut a, "alice herself")] {
        let frames = frames_until(socket, "bob's marker").await;
        assert!(frames.iter().all(|f| f["type"] != "typing"), "{who} got typing: {frames:?}");
    }

    // A non-member typing "in" a public room reaches none of its members.
    c.send_json(&json!({"type": "typing", "room_id": lounge})).await;
    send(&mut c, 1, "carol's marker").await;
    for (socket, who) in [(&mut a, "alice"), (&mut b, "bob")] {
        let frames = frames_until(socket, "carol's marker").await;
        assert!(!frames.iter().any(|f| f["type"] == "typing" && f["username"] == "carol"), "{who}: {frames:?}");
    }
}

// ---- 11. Admin -----------------------------------------------------------------------------

#[tokio::test]
async fn room_admin_routes_are_for_admins_only() {
    let app = spawn().await;
    let (_root, alice, bob, _carol) = cast(&app).await;
    let den = id_of(&create_room(&app, &alice, "Den", "private").await);
    invite(&app, &alice, den, "bob").await;
    let routes = [
        ("GET", "/admin/rooms".to_owned()),
        ("POST", format!("/admin/rooms/{den}/archive")),
        ("DELETE", format!("/admin/rooms/{den}/members/bob")),
    ];
    for (method, path) in &routes {
        let request = app.http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), app.url(path));
        assert_eq!(request.send().await.unwrap().status().as_u16(), 401, "{method} {path} without a token");
        for token in [&alice, &bob] {
            let (status, answer) = call(&app, method, path, token, None).await;
            assert_eq!(status, 403, "{method} {path} by a non-admin (the room's owner included): {answer}");
        }
    }
    let room = room_as(&app, &alice, den).await;
    assert_eq!((room["archived"].as_bool(), room["member_count"].as_i64()), (Some(false), Some(2)), "{room}");
}

#[tokio::test]
async fn admins_list_every_room_archive_them_and_remove_members() {
    let app = spawn().await;
    let (root, alice, bob, carol) = cast(&app).await;
    let den = id_of(&create_room(&app, &alice, "Den", "private").await);
    invite(&app, &alice, den, "bob").await;
    invite(&app, &alice, den, "carol").await;
    let dm = id_of(&open_dm(&app, &alice, "bob").await);
    let plaza = id_of(&create_room(&app, &bob, "Plaza", "public").await);
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;
    let (mut c, _, _) = ready(&app, &carol).await;
    send(&mut a, den, "den one").await;
    send(&mut a, dm, "dm one").await;

    let (status, all) = get(&app, "/admin/rooms", &root).await;
    assert_eq!(status, 200, "{all}");
    let listed = ids(&all);
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "by id: {listed:?}");
    for room in [1, den, dm, plaza] {
        assert!(listed.contains(&room), "{room} missing from {all}");
    }
    let entry = |room: i64| all.as_array().unwrap().iter().find(|r| r["id"] == room).unwrap().clone();
    let den_entry = entry(den);
    assert_eq!((den_entry["kind"].as_str(), den_entry["name"].as_str()), (Some("private"), Some("Den")));
    assert_eq!(den_entry["owner"], "alice");
    assert_eq!((den_entry["member_count"].as_i64(), den_entry["message_count"].as_i64()), (Some(3), Some(1)));
    assert_eq!(den_entry["archived"], false);
    assert!(chrono::DateTime::parse_from_rfc3339(den_entry["created_at"].as_str().unwrap()).is_ok(), "{den_entry}");
    let dm_entry = entry(dm);
    assert_eq!((dm_entry["kind"].as_str(), dm_entry["name"].as_str()), (Some("dm"), Some("alice & bob")));
    assert_eq!((dm_entry["owner"].clone(), dm_entry["member_count"].as_i64()), (Value::Null, Some(2)));
    assert_eq!(dm_entry["message_count"], 1);
    assert_eq!((entry(plaza)["kind"].as_str(), entry(plaza)["owner"].as_str()), (Some("public"), Some("bob")));
    let (status, paged) = get(&app, &format!("/admin/rooms?after={}&limit=2", listed[0]), &root).await;
    assert_eq!((status, ids(&paged)), (200, listed[1..3].to_vec()), "{paged}");

    // Seeing every room does not make the admin a member.
    assert_eq!(get(&app, &format!("/rooms/{den}"), &root).await.0, 404);
    assert_eq!(get(&app, &format!("/rooms/{dm}/messages"), &root).await.0, 404);

    // Removing members: the admin route, and the user route (allowed to admins).
    let (status, answer) = delete(&app, &format!("/admin/rooms/{den}/members/bob"), &root).await;
    assert_eq!(status, 204, "{answer}");
    let left = wait_for(&mut b, "room_left", |f| f["type"] == "room_left").await;
    assert_eq!(left, json!({"type": "room_left", "room_id": den, "reason": "removed"}));
    let member = wait_for(&mut a, "member frame", |f| f["type"] == "member" && f["username"] == "bob").await;
    assert_eq!((member["joined"].as_bool(), member["member_count"].as_i64()), (Some(false), Some(2)), "{member}");
    assert_eq!(get(&app, &format!("/rooms/{den}"), &bob).await.0, 404);
    let (status, answer) = delete(&app, &format!("/rooms/{den}/members/carol"), &root).await;
    assert_eq!(status, 204, "an admin on the user route: {answer}");
    assert_eq!(wait_for(&mut c, "room_left", |f| f["type"] == "room_left").await["room_id"], den);
    for path in ["/admin/rooms/1/members/alice".to_owned(), format!("/admin/rooms/{dm}/members/bob")] {
        let (status, answer) = delete(&app, &path, &root).await;
        assert_eq!(status, 400, "{path}: {answer}");
    }
    assert_eq!(room_as(&app, &alice, dm).await["member_count"], 2);

    // Archiving: members hear of it, and can no longer post; the history stays.
    let (status, archived) = call(&app, "POST", &format!("/admin/rooms/{den}/archive"), &root, None).await;
    assert_eq!(status, 200, "{archived}");
    assert_eq!((archived["id"].as_i64(), archived["archived"].as_bool()), (Some(den), Some(true)), "{archived}");
    let frame = wait_for(&mut a, "the archiving", |f| f["type"] == "room" && f["room"]["id"] == den).await;
    assert_eq!(frame["room"]["archived"], true, "{frame}");
    assert_eq!(refused(&mut a, den, "anyone?").await["message"], ARCHIVED);
    assert_eq!(room_as(&app, &alice, den).await["archived"], true);
    assert_eq!(page(&app, &alice, den, "").await, ["den one"]);
    let (status, answer) = call(&app, "POST", "/admin/rooms/1/archive", &root, None).await;
    assert_eq!(status, 400, "general cannot be archived: {answer}");
    let (status, answer) = patch(&app, &format!("/rooms/{plaza}"), &root, json!({"archived": true})).await;
    assert_eq!((status, answer["archived"].as_bool()), (200, Some(true)), "an admin archiving on the user route");
    assert!(find(&public_rooms(&app, &carol).await, plaza).is_none());

    let actions = app
        .db()
        .await
        .strings("SELECT action FROM audit_log WHERE action IN ('archive_room', 'remove_member') ORDER BY id")
        .await;
    assert!(actions.iter().any(|a| a == "remove_member"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "archive_room"), "{actions:?}");
}

// ---- 12. Moderation ------------------------------------------------------------------------

#[tokio::test]
async fn a_filtered_word_in_a_dm_is_a_strike_like_in_general() {
    let app = spawn().await;
    app.register("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let dm = id_of(&open_dm(&app, &alice, "bob").await);
    let (mut a, _, _) = ready(&app, &alice).await;
    let (mut b, _, _) = ready(&app, &bob).await;

    let warning = refused(&mut a, dm, BAD).await;
    assert_eq!(warning["type"], "warning", "{warning}");
    assert_eq!((warning["warning_count"].as_i64(), warning["max_warnings"].as_i64()), (Some(1), Some(3)));
    send(&mut a, 1, "alice's marker").await;
    let frames = frames_until(&mut b, "alice's marker").await;
    assert_nothing_of(&frames, &[dm], "bob");
    assert!(!frames.iter().any(|f| f.to_string().contains("idiot")), "{frames:?}");
    assert_eq!(warning_count(&app, &alice).await, 1);
    assert!(page(&app, &bob, dm, "").await.is_empty(), "nothing stored");

    // Strikes in DMs and in general add up: the third blocks.
    assert_eq!(refused(&mut a, 1, BAD).await["warning_count"], 2);
    a.send_json(&json!({"type": "message", "room_id": dm, "content": BAD})).await;
    a.until_type("blocked").await;
    assert_eq!(a.close_code().await, 1008);
    let logged = app.db().await.number("SELECT COUNT(*) FROM moderation_log").await;
    assert_eq!(logged, 3);
    assert!(page(&app, &bob, dm, "").await.is_empty());
}

// ---- Issue 22: conversations under abuse ---------------------------------------------------

/// The refusal of an addition that must not say why (the person ignores you, or is full).
const CANNOT_ADD: &str = "you cannot add this person";

/// The app with flood control out of the way and `adjust` applied.
async fn spawn_with(adjust: impl FnOnce(&mut server::config::Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.flood_burst = 10_000;
        c.flood_per_sec = 10_000.0;
        adjust(c);
    })
    .await
}

#[tokio::test]
async fn a_room_change_asks_for_something_and_comes_from_a_member() {
    let app = spawn().await;
    let (root, alice, bob, _) = cast(&app).await;
    let room = id_of(&create_room(&app, &alice, "Plaza", "public").await);
    // A body that asks for nothing is refused, whoever sends it (no work, no frames).
    for token in [&alice, &bob, &root] {
        let (status, answer) = patch(&app, &format!("/rooms/{room}"), token, json!({})).await;
        assert_eq!(status, 400, "{answer}");
    }
    // Non-members change nothing, an admin included, but for an admin's archive.
    for body in [json!({"topic": "mine now"}), json!({"name": "Taken"}), json!({"archived": true})] {
        let (status, answer) = patch(&app, &format!("/rooms/{room}"), &bob, body.clone()).await;
        assert_eq!(status, 403, "{body}: {answer}");
    }
    let (status, answer) = patch(&app, &format!("/rooms/{room}"), &root, json!({"topic": "admin's topic"})).await;
    assert_eq!(status, 403, "an admin who is not a member sets no topic: {answer}");
    let (status, answer) = patch(&app, &format!("/rooms/{room}"), &root, json!({"archived": true})).await;
    assert_eq!((status, answer["archived"].as_bool()), (200, Some(true)), "{answer}");
    assert_eq!(room_as(&app, &alice, room).await["topic"], "", "nothing else changed");
}

#[tokio::test]
async fn every_room_action_draws_on_one_budget_per_account_with_retry_after() {
    let app = spawn_with(|c| {
        c.room_actions_burst = 4;
        c.room_actions_per_min = 1.0;
    })
    .await;
    let (_, alice, bob, _) = cast(&app).await;
    // Four actions of different kinds (the refused one counts too: names are checked on it).
    let room = id_of(&create_room(&app, &alice, "Plaza", "public").await);
    let (status, _) = post(&app, "/rooms", &alice, json!({"name": "sh1t club", "kind": "public"})).await;
    assert_eq!(status, 422);
    let (status, _) = patch(&app, &format!("/rooms/{room}"), &alice, json!({"topic": "t"})).await;
    assert_eq!(status, 200);
    let (status, _) = post(&app, "/ignores", &alice, json!({"username": "carol"})).await;
    assert_eq!(status, 204);
    for (method, path, body) in [
        ("POST", "/rooms".to_owned(), Some(json!({"name": "Another", "kind": "public"}))),
        ("PATCH", format!("/rooms/{room}"), Some(json!({"topic": "again"}))),
        ("POST", format!("/rooms/{room}/leave"), None),
        ("POST", "/dm".to_owned(), Some(json!({"username": "bob"}))),
        ("POST", "/ignores".to_owned(), Some(json!({"username": "bob"}))),
    ] {
        let method_ = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = app.http.request(method_, app.url(&path)).bearer_auth(&alice);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 429, "{method} {path}");
        let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().starts_with("too many requests"), "{body}");
    }
    // Another account has a budget of its own.
    join(&app, &bob, room).await;
}

#[tokio::test]
async fn someone_who_ignores_you_cannot_be_added_by_you_and_the_refusal_does_not_say_why() {
    let app = spawn().await;
    let (_, alice, bob, carol) = cast(&app).await;
    let lair = id_of(&create_room(&app, &alice, "lair", "private").await);
    let (status, _) = post(&app, "/ignores", &bob, json!({"username": "alice"})).await;
    assert_eq!(status, 204);
    let (status, ignored) = post(&app, &format!("/rooms/{lair}/members"), &alice, json!({"username": "bob"})).await;
    assert_eq!((status, ignored["error"].as_str()), (403, Some(CANNOT_ADD)), "{ignored}");
    assert!(find(&my_rooms(&app, &bob).await, lair).is_none(), "bob was not added");
    // Nor to a public room, where the name of the room could carry the insult.
    let plaza = id_of(&create_room(&app, &alice, "you are all fools", "public").await);
    let (status, answer) = post(&app, &format!("/rooms/{plaza}/members"), &alice, json!({"username": "bob"})).await;
    assert_eq!((status, answer["error"].as_str()), (403, Some(CANNOT_ADD)), "{answer}");
    // Someone else still can add bob; and bob, having stopped ignoring alice, can be added.
    invite(&app, &carol, id_of(&create_room(&app, &carol, "carols", "private").await), "bob").await;
    let (status, _) = delete(&app, "/ignores/alice", &bob).await;
    assert_eq!(status, 204);
    invite(&app, &alice, lair, "bob").await;
}

#[tokio::test]
async fn adding_people_is_throttled_per_account() {
    let app = spawn_with(|c| {
        c.invitations_burst = 2;
        c.invitations_per_min = 1.0;
    })
    .await;
    let (_, alice, _, _) = cast(&app).await;
    for name in ["dave", "erin", "frank"] {
        app.register(name).await;
    }
    let room = id_of(&create_room(&app, &alice, "crowd", "private").await);
    invite(&app, &alice, room, "dave").await;
    invite(&app, &alice, room, "erin").await;
    let (status, answer) = post(&app, &format!("/rooms/{room}/members"), &alice, json!({"username": "frank"})).await;
    assert_eq!(status, 429, "{answer}");
}

#[tokio::test]
async fn private_room_invitations_can_need_accepting() {
    let app = spawn_with(|c| c.invitations_need_accept = true).await;
    let (_, alice, bob, carol) = cast(&app).await;
    let (mut bob_ws, _, _) = ready(&app, &bob).await;
    let lair = id_of(&create_room(&app, &alice, "lair", "private").await);
    let (mut alice_ws, _, _) = ready(&app, &alice).await;
    // Inviting answers 202: nothing changes until bob answers; he is told.
    let (status, answer) = post(&app, &format!("/rooms/{lair}/members"), &alice, json!({"username": "bob"})).await;
    assert_eq!((status, answer["member_count"].as_i64()), (202, Some(1)), "{answer}");
    let invitation = wait_for(&mut bob_ws, "invitation", |f| f["type"] == "invitation").await;
    assert_eq!((invitation["room"]["id"].as_i64(), invitation["inviter"].as_str()), (Some(lair), Some("alice")));
    assert_eq!(invitation["room"]["joined"], false, "{invitation}");
    let (status, listed) = get(&app, "/invitations", &bob).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!((listed[0]["room"]["name"].as_str(), listed[0]["inviter"].as_str()), (Some("lair"), Some("alice")));
    // He may see the room, not read it or post in it; its messages do not reach him.
    assert_eq!(room_as(&app, &bob, lair).await["joined"], false);
    let (status, _) = get(&app, &format!("/rooms/{lair}/messages"), &bob).await;
    assert_eq!(status, 404);
    send(&mut alice_ws, lair, "before bob").await;
    assert_eq!(refused(&mut bob_ws, lair, "let me in").await["message"], NOT_IN_IT);
    // Joining accepts it: a member, told like any.
    let joined = join(&app, &bob, lair).await;
    assert_eq!((joined["joined"].as_bool(), joined["member_count"].as_i64()), (Some(true), Some(2)));
    wait_room_frame(&mut bob_ws, lair).await;
    send(&mut alice_ws, lair, "welcome").await;
    wait_message(&mut bob_ws, "welcome").await;
    let (_, listed) = get(&app, "/invitations", &bob).await;
    assert_eq!(listed, json!([]));
    // Declining: gone, and the room stays closed to carol.
    let (status, _) = post(&app, &format!("/rooms/{lair}/members"), &alice, json!({"username": "carol"})).await;
    assert_eq!(status, 202);
    let (status, _) = delete(&app, &format!("/invitations/{lair}"), &carol).await;
    assert_eq!(status, 204);
    let (status, _) = delete(&app, &format!("/invitations/{lair}"), &carol).await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, "POST", &format!("/rooms/{lair}/join"), &carol, None).await;
    assert_eq!(status, 404, "no invitation, no way in");
    // Public rooms are not concerned: adding is immediate.
    let plaza = id_of(&create_room(&app, &alice, "plaza", "public").await);
    invite(&app, &alice, plaza, "carol").await;
}

#[tokio::test]
async fn the_rooms_an_account_creates_are_capped_even_after_it_leaves_them() {
    let app = spawn_with(|c| c.max_rooms_per_account = 2).await;
    let (_, alice, bob, _) = cast(&app).await;
    let first = id_of(&create_room(&app, &alice, "one", "public").await);
    create_room(&app, &alice, "two", "private").await;
    let (status, answer) = post(&app, "/rooms", &alice, json!({"name": "three", "kind": "public"})).await;
    assert_eq!(status, 403, "{answer}");
    let (status, _) = call(&app, "POST", &format!("/rooms/{first}/leave"), &alice, None).await;
    assert_eq!(status, 204);
    let (status, answer) = post(&app, "/rooms", &alice, json!({"name": "three", "kind": "public"})).await;
    assert_eq!(status, 403, "leaving gives no room back: {answer}");
    create_room(&app, &bob, "three", "public").await;
}

#[tokio::test]
async fn public_rooms_are_paged_by_id() {
    let app = spawn().await;
    let (_, alice, bob, _) = cast(&app).await;
    let mut made = Vec::new();
    for name in ["zeta", "alpha", "mid", "beta"] {
        made.push(id_of(&create_room(&app, &alice, name, "public").await));
    }
    create_room(&app, &alice, "hidden", "private").await;
    let (status, first) = get(&app, "/rooms/public?limit=2", &bob).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&first), [1, made[0]], "general first, then by id");
    let (_, next) = get(&app, &format!("/rooms/public?after={}&limit=2", made[0]), &bob).await;
    assert_eq!(ids(&next), [made[1], made[2]]);
    let (_, last) = get(&app, &format!("/rooms/public?after={}", made[2]), &bob).await;
    assert_eq!(ids(&last), [made[3]], "the default limit takes the rest");
    for bad in ["limit=0", "limit=1001", "limit=x", "after=-1", "after=y"] {
        let (status, answer) = get(&app, &format!("/rooms/public?{bad}"), &bob).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let (status, _) = get(&app, "/rooms/public?limit=1000", &bob).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_replayed_client_id_shows_a_removed_member_nothing_of_the_room() {
    let app = spawn().await;
    let (_, alice, bob, _) = cast(&app).await;
    let lair = id_of(&create_room(&app, &alice, "lair", "private").await);
    invite(&app, &alice, lair, "bob").await;
    let (mut bob_ws, _, _) = ready(&app, &bob).await;
    bob_ws.send_json(&json!({"type": "message", "room_id": lair, "content": "inside", "client_id": "b-1"})).await;
    bob_ws.outcome_of("b-1", WAIT).await.expect("stored");
    let (status, _) = delete(&app, &format!("/rooms/{lair}/members/bob"), &alice).await;
    assert_eq!(status, 204);
    let (status, _) = patch(&app, &format!("/rooms/{lair}"), &alice, json!({"name": "new secret name"})).await;
    assert_eq!(status, 200);
    // The same client_id, sent to general: no acknowledgement with the room's message or name.
    bob_ws.send_json(&json!({"type": "message", "content": "replay", "client_id": "b-1"})).await;
    let answer = bob_ws.outcome_of("b-1", WAIT).await.expect_err("refused");
    assert_eq!(answer["message"], "client_id was already used for another message", "{answer}");
    assert!(!answer.to_string().contains("secret") && !answer.to_string().contains("inside"), "{answer}");
}

#[tokio::test]
async fn an_admins_archive_and_removal_stick_until_an_admin_lifts_them() {
    let app = spawn().await;
    let (root, alice, bob, _) = cast(&app).await;
    let plaza = id_of(&create_room(&app, &alice, "plaza", "public").await);
    join(&app, &bob, plaza).await;
    // An admin removes bob: he cannot come back, nor be brought back, until an admin lifts it.
    let (status, _) = delete(&app, &format!("/admin/rooms/{plaza}/members/bob"), &root).await;
    assert_eq!(status, 204);
    let (status, answer) = call(&app, "POST", &format!("/rooms/{plaza}/join"), &bob, None).await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = post(&app, &format!("/rooms/{plaza}/members"), &alice, json!({"username": "bob"})).await;
    assert_eq!(status, 403, "{answer}");
    let (status, bans) = get(&app, &format!("/admin/rooms/{plaza}/bans"), &root).await;
    assert_eq!((status, bans), (200, json!(["bob"])));
    let (status, _) = get(&app, &format!("/admin/rooms/{plaza}/bans"), &alice).await;
    assert_eq!(status, 403, "admins only");
    let (status, _) = delete(&app, &format!("/admin/rooms/{plaza}/bans/bob"), &root).await;
    assert_eq!(status, 204);
    let (status, _) = delete(&app, &format!("/admin/rooms/{plaza}/bans/bob"), &root).await;
    assert_eq!(status, 404);
    join(&app, &bob, plaza).await;
    // An owner's removal is not sticky.
    let (status, _) = delete(&app, &format!("/rooms/{plaza}/members/bob"), &alice).await;
    assert_eq!(status, 204);
    join(&app, &bob, plaza).await;
    // An admin archives: the owner cannot bring it back; an admin can.
    let (status, _) = call(&app, "POST", &format!("/admin/rooms/{plaza}/archive"), &root, None).await;
    assert_eq!(status, 200);
    let (status, answer) = patch(&app, &format!("/rooms/{plaza}"), &alice, json!({"archived": false})).await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = call(&app, "POST", &format!("/admin/rooms/{plaza}/unarchive"), &root, None).await;
    assert_eq!((status, answer["archived"].as_bool()), (200, Some(false)), "{answer}");
    // The owner's own archive stays the owner's to lift.
    let (status, _) = patch(&app, &format!("/rooms/{plaza}"), &alice, json!({"archived": true})).await;
    assert_eq!(status, 200);
    let (status, _) = patch(&app, &format!("/rooms/{plaza}"), &alice, json!({"archived": false})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_change_of_a_room_reaches_every_member_in_one_frame_that_keeps_their_counts() {
    let app = spawn().await;
    let (_, alice, bob, carol) = cast(&app).await;
    let plaza = id_of(&create_room(&app, &alice, "plaza", "public").await);
    join(&app, &bob, plaza).await;
    join(&app, &carol, plaza).await;
    let mut sockets = Vec::new();
    for token in [&alice, &bob, &carol] {
        sockets.push(ready(&app, token).await.0);
    }
    let (status, _) = patch(&app, &format!("/rooms/{plaza}"), &bob, json!({"topic": "news"})).await;
    assert_eq!(status, 200);
    let mut seen = Vec::new();
    for socket in &mut sockets {
        let frame = wait_room_frame(socket, plaza).await;
        assert_eq!((frame["room"]["topic"].as_str(), frame["room"]["joined"].as_bool()), (Some("news"), Some(true)));
        assert_eq!((frame["room"]["unread"].as_i64(), frame["room"]["last_read_id"].as_i64()), (Some(0), Some(0)));
        seen.push(frame);
    }
    assert!(seen.windows(2).all(|pair| pair[0] == pair[1]), "one frame for every member: {seen:?}");
}
