//! Moderation end to end over real sockets: warnings, the third strike blocks at once (every
//! socket closed, tokens refused everywhere), nothing of a violation is stored or broadcast, and
//! parallel violations are counted exactly.

use crate::common::TestApp;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BAD: &str = "you are a f u c k i n g idiot";

#[tokio::test]
async fn two_warnings_then_a_block_that_closes_every_socket() {
    let app = TestApp::spawn().await;
    app.register("admin").await;
    let token = app.user("mallory").await;
    let other = app.user("observer").await;
    let (mut first, _) = app.connect(&token).await;
    let (mut second, _) = app.connect(&token).await;
    let (mut observer, _) = app.connect(&other).await;

    for n in 1..=2 {
        first.say(BAD).await;
        let warning = first.until_type("warning").await;
        assert_eq!(warning["warning_count"], n);
        assert_eq!(warning["max_warnings"], 3);
        assert!(warning["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A clean message still goes through between warnings.
    first.say("sorry, friends").await;
    assert_eq!(observer.until_type("message").await["content"], "sorry, friends");

    first.say("sh1t").await;
    let blocked = first.until_type("blocked").await;
    assert!(blocked["message"].as_str().unwrap().contains("blocked"));
    assert_eq!(first.close_code().await, 1008);
    assert_eq!(second.close_code().await, 1008);

    // Old token refused on REST and on /ws; login answers 403 after the right password.
    assert_eq!(app.get_json("/me", Some(&token)).await.0, 403);
    let request = app.ws_url(&format!("token={token}")).into_client_request().unwrap();
    assert_eq!(app.ws_refusal(request).await, 403);
    let (status, _) = app.post_json("/login", &json!({"username": "mallory", "password": "password123"})).await;
    assert_eq!(status, 403);

    // Nothing of the violations reached anyone or the store.
    observer.assert_silent(Duration::from_millis(300)).await;
    let (_c, history) = app.connect(&other).await;
    let contents: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, vec!["sorry, friends"]);

    let log: Vec<(String, i64)> =
        app.db().await.rows("SELECT content, warning_count FROM moderation_log ORDER BY id").await;
    assert_eq!(log, vec![(BAD.to_string(), 1), (BAD.to_string(), 2), ("sh1t".to_string(), 3)]);
}

#[tokio::test]
async fn innocent_words_containing_listed_ones_pass() {
    let app = TestApp::spawn().await;
    let token = app.user("classy").await;
    let (mut client, _) = app.connect(&token).await;
    for text in ["the assassin took a class on passports", "grass and bass", "Scunthorpe"] {
        client.say(text).await;
        let frame = client.next_json().await;
        assert_eq!(frame["type"], "message", "{text}: {frame}");
    }
}

#[tokio::test]
async fn parallel_violations_are_counted_exactly() {
    let app = TestApp::spawn_with(|c| c.flood_burst = 100).await;
    // The first account is the admin, whom the three-strike rule never blocks: racer comes second.
    app.register("admin").await;
    let user = app.register("racer").await;
    let token = app.login("racer").await;
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (mut client, _) = app.connect(&token).await;
        tasks.push(tokio::spawn(async move {
            client.say(BAD).await;
            client.next_json().await
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap()["warning_count"].as_i64().unwrap());
    }
    counts.sort();
    assert_eq!(counts, vec![1, 2]);
    let record = app.services.store().user_by_id(user["id"].as_i64().unwrap()).await.unwrap().unwrap();
    assert_eq!(record.public.warning_count, 2);
    assert!(!record.public.is_blocked);

    // Many at once past the limit: blocked exactly once (tokens revoked once, count exact).
    let version_before = record.token_version;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(app.connect(&token).await.0);
    }
    let mut tasks = Vec::new();
    for mut client in clients {
        tasks.push(tokio::spawn(async move {
            // The block may close this socket before it sends: ignore send failures.
            let frame = json!({"type": "message", "content": BAD}).to_string();
            let _ =
                futures::SinkExt::send(&mut client.socket, tokio_tungstenite::tungstenite::Message::text(frame)).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let record = app.services.store().user_by_id(user["id"].as_i64().unwrap()).await.unwrap().unwrap();
    let logged = app.db().await.number("SELECT COUNT(*) FROM moderation_log").await;
    assert!(record.public.is_blocked);
    assert_eq!(record.public.warning_count, logged);
    assert_eq!(record.token_version, version_before + 1, "blocked once");
}

#[tokio::test]
async fn admins_are_warned_and_logged_but_never_auto_blocked() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let other = app.user("observer").await;
    let (mut client, _) = app.connect(&admin).await;
    let (mut observer, _) = app.connect(&other).await;
    for n in 1..=4 {
        client.say(BAD).await;
        let warning = client.until_type("warning").await;
        assert_eq!(warning["warning_count"], n, "{warning}");
    }
    // Still connected, still allowed: a clean message goes through, the token still works.
    client.say("all good now").await;
    assert_eq!(observer.until_type("message").await["content"], "all good now");
    assert_eq!(app.get_json("/me", Some(&admin)).await.0, 200);
    let record = app.services.store().find_login("root").await.unwrap().unwrap();
    assert!(!record.public.is_blocked);
    assert_eq!(record.public.warning_count, 4);

    // Each violation was refused (never broadcast or stored) and logged, none as a block.
    let log: Vec<(String, i64, bool)> =
        app.db().await.rows("SELECT content, warning_count, blocked FROM moderation_log ORDER BY id").await;
    assert_eq!(log, (1..=4).map(|n| (BAD.to_string(), n, false)).collect::<Vec<_>>());
    let (_c, history) = app.connect(&other).await;
    let contents: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, vec!["all good now"]);

    // A plain user is still blocked at the third strike.
    let user = app.user("plain").await;
    let (mut plain, _) = app.connect(&user).await;
    for _ in 0..2 {
        plain.say(BAD).await;
        plain.until_type("warning").await;
    }
    plain.say(BAD).await;
    plain.until_type("blocked").await;
    assert_eq!(plain.close_code().await, 1008);
}
