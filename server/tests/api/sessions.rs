//! Sessions and their edges (issue 22): a token is refused at its `exp` exactly, on every door;
//! logging out (the page's `POST /api/auth/logout`, the API's `POST /logout`) revokes the
//! session, whose tokens then die everywhere and whose sockets close, on every node; a server
//! draining for shutdown answers 503 instead of refusing connections; the longest legal message,
//! however its JSON is escaped, fits in a WebSocket message; typing in an archived room says so.

use crate::common::cluster::{connected, Cluster};
use crate::common::{Client, TestApp};
use app::protocol::MAX_FRAME_BYTES;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn typing_in_an_archived_room_says_it_is_archived() {
    let app = TestApp::spawn().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let (status, room) = app.post_as("/rooms", Some(&owner), &json!({"name": "Quiet Room", "kind": "public"})).await;
    assert_eq!(status, 201, "{room}");
    let room_id = room["id"].as_i64().unwrap();
    let (status, _) = app.post_as(&format!("/rooms/{room_id}/join"), Some(&member), &json!({})).await;
    assert_eq!(status, 200);
    let archived = app
        .http
        .patch(app.url(&format!("/rooms/{room_id}")))
        .bearer_auth(&owner)
        .json(&json!({"archived": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(archived.status().as_u16(), 200);
    let (mut client, _) = app.connect(&member).await;
    client.send_json(&json!({"type": "typing", "room_id": room_id})).await;
    let error = client.until_type("error").await;
    assert_eq!(error["message"], "this conversation is archived", "{error}");
    // Still a member: the room stays on the list.
    let (_, rooms) = app.get_json("/rooms", Some(&member)).await;
    assert!(rooms.as_array().unwrap().iter().any(|r: &Value| r["id"] == room_id), "{rooms}");
}
