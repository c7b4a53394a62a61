//! Running it for real: liveness and readiness, and online backups of the SQLite database
//! (`server admin backup|restore`) taken while the server serves and writes.

use crate::common::process::Node;
use crate::common::TestApp;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn healthz_answers_without_a_token_and_says_nothing_more() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/healthz", None).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn readyz_names_the_failed_check_and_turns_ready_when_the_site_is_there() {
    let site = tempfile::tempdir().unwrap();
    let root = site.path().to_str().unwrap().to_owned();
    let app = TestApp::spawn_with_options(move |options| {
        options.site_root = root.into();
        options.hash_files = false;
    })
    .await;
    let (status, body) = app.get_json("/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "not ready: site");
    assert_eq!(body["checks"], json!({"database": "ok", "migrations": "ok", "site": "failed", "serving": "ok"}));

    std::fs::create_dir(site.path().join("pkg")).unwrap();
    for ext in ["js", "wasm", "css"] {
        std::fs::write(site.path().join(format!("pkg/chatterbox.{ext}")), "x").unwrap();
    }
    let (status, body) = app.get_json("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["checks", "status"], "no versions, no settings");
}

#[tokio::test]
async fn readyz_fails_when_a_migration_is_missing() {
    let app = TestApp::spawn().await;
    let mut db = app.db().await;
    let newest = db.number("SELECT MAX(version) FROM _sqlx_migrations").await;
    db.execute(&format!("DELETE FROM _sqlx_migrations WHERE version = {newest}")).await;
    let (status, body) = app.get_json("/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["migrations"], "failed");
    assert_eq!(body["checks"]["database"], "ok");
}

/// Runs `server ARGS` against the database `url`: exit code, stdout, stderr.
async fn admin(url: &str, args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("CHATTERBOX_CONFIG", "/dev/null")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// The ids of the messages in the SQLite file `path`, after `PRAGMA integrity_check` passed.
async fn checked_ids(path: &std::path::Path) -> Vec<i64> {
    use sqlx::{ConnectOptions, Connection};
    let mut connection =
        sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true).connect().await.unwrap();
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut connection).await.unwrap();
    assert_eq!(verdict, "ok");
    let ids = sqlx::query_scalar("SELECT id FROM messages ORDER BY id").fetch_all(&mut connection).await.unwrap();
    connection.close().await.unwrap();
    ids
}

#[tokio::test]
async fn a_backup_under_write_load_holds_every_acknowledged_message_and_restore_waits_for_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("live.db").display());
    let mut server =
        Node::start(&[("DATABASE_URL", url.clone()), ("CHATTERBOX_SHUTDOWN_GRACE_SECS", "5".into())]).await;
    let token = server.user("writer").await;

    // A client writing as fast as it is acknowledged, recording every acknowledged id.
    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let (mut socket, _) = server.connect(&token).await;
    let writer = {
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0.. {
                if stopped.try_recv().is_ok() {
                    break;
                }
                socket
                    .send_json(&json!({"type": "message", "content": format!("m{i}"), "client_id": format!("c{i}")}))
                    .await;
                let ack = socket.until_type("message").await;
                acked.lock().unwrap().push(ack["id"].as_i64().unwrap());
            }
        })
    };
    while acked.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before: Vec<i64> = acked.lock().unwrap().clone();
    let copy = dir.path().join("copy.db");
    let (code, out, err) = admin(&url, &["admin", "backup", copy.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("integrity_check ok"), "{out}");
    let during = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).unwrap();
    writer.await.unwrap();
    let after: Vec<i64> = acked.lock().unwrap().clone();
    assert!(after.len() > during, "the server kept writing after the backup");

    let copied = checked_ids(&copy).await;
    assert!(before.iter().all(|id| copied.contains(id)), "every message acknowledged before the backup is in it");
    assert!(copied.len() < after.len() + 1, "{} copied, {} acknowledged in all", copied.len(), after.len());
    let (code, _, err) = admin(&url, &["admin", "backup", copy.to_str().unwrap()]).await;
    assert_eq!(code, 1, "an existing file is never overwritten");
    assert!(err.contains("exists already"), "{err}");

    // Restoring is refused while the server holds the database, and so is a second server.
    let (code, _, err) = admin(&url, &["admin", "restore", copy.to_str().unwrap()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("a server is running on this database"), "{err}");
    let (code, _, err) =
        tokio::time::timeout(Duration::from_secs(60), admin(&url, &[])).await.expect("a second server gives up");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a server is running on this database"), "{err}");
    server.signal("TERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while server.try_wait().is_none() {
        assert!(std::time::Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, out, err) = admin(&url, &["admin", "restore", copy.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(dir.path().join("live.db.before-restore").is_file());

    let restarted = Node::start(&[("DATABASE_URL", url.clone())]).await;
    let token = restarted.login("writer").await;
    let (status, page) =
        restarted.get_json(&format!("/messages?after={}&limit=2", before[before.len() - 2]), Some(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page[0]["id"].as_i64(), before.last().copied());
    let (_, newest) = restarted.get_json("/messages?limit=1", Some(&token)).await;
    assert_eq!(newest[0]["id"].as_i64(), copied.last().copied(), "the restored database is the copy");
}

#[tokio::test]
async fn backups_on_postgres_point_to_its_own_tools() {
    let (code, _, err) = admin("postgres://nobody@127.0.0.1:1/none", &["admin", "backup", "/tmp/never.db"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("pg_dump"), "{err}");
}

/// The value of the sample `name` (with its labels, as written) in a Prometheus text page.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_page(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = app.http.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

const METRICS_TOKEN: &str = "a-metrics-token-of-some-length";

#[tokio::test]
async fn metrics_need_the_token_and_count_what_happens() {
    let app = TestApp::spawn_with(|config| config.operations.metrics_token = Some(METRICS_TOKEN.into())).await;
    assert_eq!(metrics_page(&app, None).await.0, 401);
    assert_eq!(metrics_page(&app, Some("a-metrics-token-of-some-lengtH")).await.0, 401);
    let token = app.user("counted").await;
    assert_eq!(metrics_page(&app, Some(&token)).await.0, 401, "a user's token is not the metrics token");
    let (status, before) = metrics_page(&app, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200);

    let (mut socket, _) = app.connect(&token).await;
    socket.say("counted once").await;
    socket.until_type("message").await;
    socket.say("   ").await;
    assert_eq!(socket.until_type("error").await["type"], "error");
    let (_, after) = metrics_page(&app, Some(METRICS_TOKEN)).await;
    // The registry is the process's, shared by the tests running beside this one: at least.
    assert!(sample(&after, "chatterbox_open_sockets") >= 1.0, "{after}");
    for name in [
        "chatterbox_messages_accepted_total",
        "chatterbox_store_commit_seconds_count",
        "chatterbox_commit_batch_messages_count",
        "chatterbox_delivery_latency_seconds_count",
        "chatterbox_messages_refused_total{reason=\"invalid\"}",
        "chatterbox_moderation_outcomes_total{outcome=\"passed\"}",
    ] {
        assert!(sample(&after, name) > sample(&before, name), "{name} did not grow:\n{after}");
    }
    for absent in ["password", "jwt", "secret", "counted once"] {
        assert!(!after.to_lowercase().contains(absent), "{absent} in the metrics");
    }
}

#[tokio::test]
async fn without_a_token_or_an_address_there_are_no_metrics() {
    let app = TestApp::spawn().await;
    let (status, body) = metrics_page(&app, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn the_metrics_address_serves_them_without_a_token_and_the_site_does_not() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let server = Node::start(&[("DATABASE_URL", url), ("CHATTERBOX_METRICS_ADDR", format!("127.0.0.1:{port}"))]).await;
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    assert!(response.text().await.unwrap().contains("# TYPE chatterbox_open_sockets gauge"));
    assert_eq!(reqwest::get(format!("http://127.0.0.1:{port}/me")).await.unwrap().status().as_u16(), 404);
    assert_eq!(server.get_json("/metrics", None).await.0, 404);
}
