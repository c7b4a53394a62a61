//! Hardening over real HTTP and WebSocket: forged and malformed tokens refused on every door,
//! login and registration throttles (429 + Retry-After, per IP and per account, trusted proxies
//! only), security headers with a per-response CSP nonce, and body limits.

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
