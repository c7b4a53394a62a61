//! Hardening over real HTTP and WebSocket: forged and malformed tokens refused on every door,
//! login and registration throttles (429 + Retry-After, per IP and per account, trusted proxies
//! only), security headers with a per-response CSP nonce, body limits, and no secret in the
//! server's log. And what the test run's fuzzing rests on: every fuzz target documented, the
//! nightly toolchain installed.

use crate::common::process::Node;
use crate::common::TestApp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn sign(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens that must be refused, each with a label.
fn bad_tokens(user_id: i64) -> Vec<(&'static str, String)> {
    let claims = json!({"sub": user_id.to_string(), "iat": now(), "exp": now() + 3600, "ver": 0, "is_admin": true, "role": "admin"});
    let expired = json!({"sub": user_id.to_string(), "iat": now() - 7200, "exp": now() - 3600, "ver": 0});
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
    vec![
        ("another key", sign(Algorithm::HS256, &claims, b"not-the-server-secret-not-the-server-secret")),
        ("alg none", none),
        ("expired (even with the right key, see below)", sign(Algorithm::HS256, &expired, b"x")),
        ("malformed", "abc.def.ghi".into()),
        ("garbage", "%%%".into()),
    ]
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused_everywhere() {
    let secret = "integration-test-secret-integration-test-secret";
    let app = TestApp::spawn_with(|c| c.jwt_secret = Some(secret.into())).await;
    let admin = app.register("root").await["id"].as_i64().unwrap();
    let plain = app.register("plain").await["id"].as_i64().unwrap();
    let mut tokens = bad_tokens(admin);
    // Right key, expired; right key, HS512 instead of HS256; right key, but a forged admin claim
    // on a normal user: the role comes from the database, not the token.
    let expired = json!({"sub": admin.to_string(), "iat": now() - 7200, "exp": now() - 3600, "ver": 0});
    tokens.push(("expired", sign(Algorithm::HS256, &expired, secret.as_bytes())));
    let hs512 = json!({"sub": admin.to_string(), "iat": now(), "exp": now() + 3600, "ver": 0});
    tokens.push(("HS512", sign(Algorithm::HS512, &hs512, secret.as_bytes())));
    let no_exp = json!({"sub": admin.to_string(), "iat": now(), "ver": 0});
    tokens.push(("no exp", sign(Algorithm::HS256, &no_exp, secret.as_bytes())));

    for (label, token) in &tokens {
        assert_eq!(app.get_json("/me", Some(token)).await.0, 401, "REST /me: {label}");
        assert_eq!(app.get_json("/admin/users", Some(token)).await.0, 401, "REST admin: {label}");
        let server_fn = app
            .http
            .post(app.url("/api/admin/users"))
            .header("accept", "application/json")
            .header("cookie", format!("chatterbox_session={token}"))
            .form(&[("blocked_only", "false")])
            .send()
            .await
            .unwrap();
        assert_eq!(server_fn.status().as_u16(), 401, "server fn: {label}");
        let request = app.ws_url(&format!("token={}", urlencode(token))).into_client_request().unwrap();
        assert_eq!(app.ws_refusal(request).await, 401, "/ws: {label}");
    }

    let forged = json!({"sub": plain.to_string(), "iat": now(), "exp": now() + 3600, "ver": 0, "is_admin": true});
    let forged = sign(Algorithm::HS256, &forged, secret.as_bytes());
    assert_eq!(app.get_json("/me", Some(&forged)).await.1["is_admin"], false);
    assert_eq!(app.get_json("/admin/users", Some(&forged)).await.0, 403);
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn login_status(app: &TestApp, name: &str, password: &str, forwarded: Option<&str>) -> (u16, Option<String>) {
    let mut request = app.http.post(app.url("/login")).json(&json!({"username": name, "password": password}));
    if let Some(ip) = forwarded {
        request = request.header("x-forwarded-for", ip);
    }
    let response = request.send().await.unwrap();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry)
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_without_locking_out_others() {
    let app = TestApp::spawn_with(|c| {
        c.login_account_burst = 5;
        c.login_account_per_min = 1.0;
    })
    .await;
    app.register("target").await;
    app.register("bystander").await;
    for _ in 0..5 {
        assert_eq!(login_status(&app, "target", "wrong-password", None).await.0, 401);
    }
    let (status, retry) = login_status(&app, "TARGET", "wrong-password", None).await;
    assert_eq!(status, 429);
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Even the right password waits (no oracle), but only until the bucket refills.
    assert_eq!(login_status(&app, "target", "password123", None).await.0, 429);
    // Another account is unaffected.
    assert_eq!(login_status(&app, "bystander", "password123", None).await.0, 200);
}

#[tokio::test]
async fn logins_and_registrations_are_throttled_per_ip_and_proxies_must_be_trusted() {
    let app = TestApp::spawn_with(|c| {
        c.login_ip_burst = 3;
        c.register_ip_burst = 2;
    })
    .await;
    app.register("one").await;
    app.register("two").await;
    let (status, body) =
        app.post_json("/register", &json!({"username": "three", "email": "t@x.io", "password": "password123"})).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"].as_str().unwrap().contains("too many"));
    for _ in 0..3 {
        assert_eq!(login_status(&app, "one", "password123", None).await.0, 200);
    }
    // X-Forwarded-For from an untrusted peer is ignored: still the same (exhausted) IP.
    assert_eq!(login_status(&app, "one", "password123", Some("203.0.113.9")).await.0, 429);

    let proxied = TestApp::spawn_with(|c| {
        c.login_ip_burst = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    proxied.register("user").await;
    assert_eq!(login_status(&proxied, "user", "password123", Some("203.0.113.1")).await.0, 200);
    assert_eq!(login_status(&proxied, "user", "password123", Some("203.0.113.1")).await.0, 429);
    // Behind the trusted proxy, another client IP has its own bucket.
    assert_eq!(login_status(&proxied, "user", "password123", Some("198.51.100.7, 203.0.113.2")).await.0, 200);
}

#[tokio::test]
async fn pages_carry_security_headers_and_a_nonce_csp() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/login")).send().await.unwrap();
    let headers = response.headers().clone();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let csp = headers["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("nonce").to_owned();
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the nonce");
    // A fresh nonce per response.
    let again = app.http.get(app.url("/login")).send().await.unwrap();
    assert!(!again.headers()["content-security-policy"].to_str().unwrap().contains(&nonce));
    // API responses are covered too.
    let api = app.http.get(app.url("/me")).send().await.unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let huge = json!({"username": "x".repeat(100_000), "email": "a@b.co", "password": "password123"});
    let response = app.http.post(app.url("/register")).json(&huge).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "request body too large");
}

/// The server's log at `RUST_LOG=debug` (every crate) while a client does what carries secrets:
/// registering and logging in (passwords, right and wrong), tokens in `Authorization`, in
/// `?token=` and in the session cookie, renewals, refused tokens, a WebSocket session, errors.
/// None of those secrets, nor the JWT secret (given, or generated and kept in the database),
/// nor the database's password, may appear in it.
#[tokio::test]
async fn no_secret_ever_reaches_the_log() {
    const JWT_SECRET: &str = "jwt-secret-that-must-never-be-logged-0123456789";
    const PASSWORD: &str = "Correct-Horse-Battery-Staple-77";
    const WRONG: &str = "Wrong-Guess-Of-The-Password-88";
    const NEW_PASSWORD: &str = "Another-Form-Password-99";
    const DB_PASSWORD: &str = "database-password-never-logged";
    let dir = tempfile::tempdir().unwrap();
    let mut database_url = crate::common::test_database(dir.path());
    if crate::common::on_postgres() {
        // testkit's PostgreSQL trusts local connections: the password is only there to be hidden.
        database_url = database_url.replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1);
    }
    let debug = [("RUST_LOG", "debug".to_string()), ("DATABASE_URL", database_url.clone())];
    let server = Node::start(&[debug[0].clone(), debug[1].clone(), ("JWT_SECRET", JWT_SECRET.to_string())]).await;
    let mut secrets: Vec<String> = vec![JWT_SECRET.into(), PASSWORD.into(), WRONG.into(), NEW_PASSWORD.into()];

    let register = json!({"username": "logged", "email": "logged@example.com", "password": PASSWORD});
    assert_eq!(server.post_json("/register", &register).await.0, 201);
    let (status, _) = server.post_json("/login", &json!({"username": "logged", "password": WRONG})).await;
    assert_eq!(status, 401);
    let (status, grant) = server.post_json("/login", &json!({"username": "logged", "password": PASSWORD})).await;
    assert_eq!(status, 200);
    let token = grant["access_token"].as_str().unwrap().to_owned();
    assert_eq!(server.get_json("/me", Some(&token)).await.0, 200);
    assert_eq!(server.get_json("/me", Some(&format!("{token}x"))).await.0, 401);
    let response = server.http.post(server.url("/session/renew")).bearer_auth(&token).send().await.unwrap();
    let renewed = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    // The WebSocket with `?token=`: a session, a message, a refused token, a bad `since`.
    let (mut client, _) = server.connect_query(&format!("token={renewed}&since=0")).await;
    client.say("hello log").await;
    assert_eq!(client.until_type("message").await["content"], "hello log");
    futures::SinkExt::close(&mut client.socket).await.unwrap();
    for query in [format!("token={token}x"), format!("token={token}&since=-1")] {
        let request = server.ws_url(&query).into_client_request().unwrap();
        assert!(tokio_tungstenite::connect_async(request).await.is_err(), "{query}");
    }
    // The browser's way: form posts with passwords, the session cookie, server functions.
    let form = [("username", "former"), ("email", "former@example.com"), ("password", NEW_PASSWORD)];
    let response =
        server.http.post(server.url("/api/auth/register")).header("accept", "text/html").form(&form).send().await;
    assert!(response.unwrap().status().is_redirection());
    let form = [("username", "former"), ("password", NEW_PASSWORD)];
    let response =
        server.http.post(server.url("/api/auth/login")).header("accept", "text/html").form(&form).send().await.unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let cookie_token = cookie.trim_start_matches("chatterbox_session=").to_owned();
    let response = server.http.get(server.url("/")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = server
        .http
        .post(server.url("/api/auth/renew"))
        .header("accept", "application/json")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut request = server.ws_url("").into_client_request().unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    request.headers_mut().insert("origin", format!("http://{}", server.addr).parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    futures::SinkExt::close(&mut socket).await.unwrap();
    // Errors: an oversized body full of the password, a wrong method, an unknown path.
    // On a connection of its own: the server answers 413 before reading the body and closes
    // the connection, which a pooled request sent next could otherwise be written to.
    let body = json!({"username": "logged", "password": PASSWORD.repeat(3000)});
    let oversized = server.http.post(server.url("/login")).header("connection", "close").json(&body);
    assert_eq!(oversized.send().await.unwrap().status().as_u16(), 413);
    assert_eq!(server.http.put(server.url("/me")).bearer_auth(&token).send().await.unwrap().status().as_u16(), 405);
    assert_eq!(server.get_json(&format!("/nowhere?token={token}"), None).await.0, 404);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // A server that generates its JWT secret keeps it in its database: never in its log either.
    let dir2 = tempfile::tempdir().unwrap();
    let generated_url = crate::common::test_database(dir2.path());
    let generating = Node::start(&[debug[0].clone(), ("DATABASE_URL", generated_url.clone())]).await;
    let generated_token = generating.user("generated").await;
    assert_eq!(generating.get_json("/me", Some(&generated_token)).await.0, 200);
    let generated = crate::common::db::Db::connect(&generated_url).await.strings("SELECT value FROM settings").await;
    assert!(!generated.is_empty(), "the generated secret is in the settings table");

    let log = server.log_text() + &generating.log_text();
    // The log is really at debug level and covers these requests (so silence proves something).
    for expected in ["DEBUG", "/login", "/ws", "/session/renew", "/api/auth/login"] {
        assert!(log.contains(expected), "the debug log should mention {expected:?}");
    }
    secrets.extend([token, renewed, cookie_token, generated_token]);
    secrets.extend(generated);
    if crate::common::on_postgres() {
        secrets.push(DB_PASSWORD.into());
    }
    for secret in &secrets {
        // A token's signature alone is as good as a token to someone holding the rest.
        let parts: Vec<&str> = secret.split('.').filter(|part| part.len() >= 16).collect();
        for part in std::iter::once(secret.as_str()).chain(parts) {
            assert!(!log.contains(part), "the log holds a secret ({part:?})");
        }
    }
    assert!(!log.contains("token="), "the log holds a query string with a token");
}

/// `docs/security.md` names every fuzz target of `fuzz/fuzz_targets/`, so what the test run
/// fuzzes (`scripts/fuzz.sh`: every target cargo-fuzz lists) is what the documentation says.
#[test]
fn the_security_docs_name_every_fuzz_target() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let docs = std::fs::read_to_string(repo.join("docs/security.md")).unwrap();
    let manifest = std::fs::read_to_string(repo.join("fuzz/Cargo.toml")).unwrap();
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(repo.join("fuzz/fuzz_targets")).unwrap() {
        let path = entry.unwrap().path();
        let target = path.file_stem().unwrap().to_string_lossy().to_string();
        assert!(manifest.contains(&format!("name = \"{target}\"")), "fuzz/Cargo.toml declares {target}");
        targets.push(target);
    }
    assert!(targets.len() >= 4, "{targets:?}");
    for target in &targets {
        assert!(docs.contains(&format!("`{target}`")), "docs/security.md does not name the fuzz target {target}");
    }
}

/// `scripts/install-tools.sh --test` installs the nightly toolchain that `scripts/fuzz.sh` (the
/// test run's last step) needs, when it is missing, and leaves one that is there alone. Run with
/// every tool it calls replaced by a stub that logs its arguments (no network, nothing installed).
#[test]
fn install_tools_installs_nightly_for_fuzzing_only_when_missing() {
    use std::os::unix::fs::PermissionsExt;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for nightly_present in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (bin, calls) = (dir.path().join("bin"), dir.path().join("calls.log"));
        std::fs::create_dir(&bin).unwrap();
        let toolchains = if nightly_present {
            "stable-x86_64-unknown-linux-gnu (default)\nnightly-x86_64-unknown-linux-gnu"
        } else {
            "stable-x86_64-unknown-linux-gnu (default)"
        };
        let stub = |name: &str, body: &str| {
            let path = bin.join(name);
            let script = format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n", calls.display());
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        stub(
            "rustup",
            &format!(
                "case \"$1 $2\" in\n  'target list') echo wasm32-unknown-unknown ;;\n  'toolchain list') printf '%s\\n' '{toolchains}' ;;\nesac"
            ),
        );
        stub("cargo-leptos", "echo 'cargo-leptos 0.3.8'");
        let bindgen = std::fs::read_to_string(repo.join("scripts/install-tools.sh"))
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("WASM_BINDGEN_VERSION="))
            .unwrap()
            .to_owned();
        stub("wasm-bindgen", &format!("echo 'wasm-bindgen {bindgen}'"));
        for name in ["wasm-opt", "chromium", "redis-server", "cargo", "npm", "apt-get", "sudo", "id"] {
            stub(name, if name == "id" { "echo 0" } else { "" });
        }
        let output = std::process::Command::new("bash")
            .arg(repo.join("scripts/install-tools.sh"))
            .arg("--test")
            .env_clear()
            .env("HOME", dir.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "install-tools.sh --test (nightly present: {nightly_present}): {said}");
        let log = std::fs::read_to_string(&calls).unwrap_or_default();
        let installs_nightly = log.lines().any(|line| line.starts_with("rustup toolchain install nightly"));
        assert_eq!(installs_nightly, !nightly_present, "nightly present: {nightly_present}; calls:\n{log}");
    }
}
