//! The account contract over real HTTP: register, login, tokens, blocking, and the pages'
//! server-side behaviour (session cookie, redirects, no-JavaScript form posts).

use crate::common::TestApp;
use serde_json::json;

#[tokio::test]
async fn register_returns_201_with_the_user_and_no_secret() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post_json("/register", &json!({"username": "alice", "email": "alice@example.com", "password": "password123"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["message"], "User registered successfully");
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["is_blocked"], false);
    assert_eq!(body["user"]["warning_count"], 0);
    let text = body.to_string();
    assert!(!text.contains("password") && !text.contains("$2"), "no secret in {text}");
}

#[tokio::test]
async fn first_user_is_admin_and_later_ones_are_not() {
    let app = TestApp::spawn().await;
    assert_eq!(app.register("first").await["is_admin"], true);
    assert_eq!(app.register("second").await["is_admin"], false);
}

#[tokio::test]
async fn duplicates_are_409_case_insensitively() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let (s1, b1) = app
        .post_json("/register", &json!({"username": "ALICE", "email": "other@example.com", "password": "password123"}))
        .await;
    assert_eq!(s1, 409, "{b1}");
    assert!(b1["error"].as_str().unwrap().contains("username"));
    let (s2, b2) = app
        .post_json("/register", &json!({"username": "alice2", "email": "Alice@Example.COM", "password": "password123"}))
        .await;
    assert_eq!(s2, 409, "{b2}");
    assert!(b2["error"].as_str().unwrap().contains("email"));
}

#[tokio::test]
async fn invalid_input_is_422_with_an_error_message() {
    let app = TestApp::spawn().await;
    let long_password = "x".repeat(73);
    let cases = [
        json!({"username": "ab", "email": "a@b.co", "password": "password123"}),
        json!({"username": "bad name", "email": "a@b.co", "password": "password123"}),
        json!({"username": "x".repeat(33), "email": "a@b.co", "password": "password123"}),
        json!({"username": "okname", "email": "not-an-email", "password": "password123"}),
        json!({"username": "okname", "email": "a@b.co", "password": "short"}),
        json!({"username": "okname", "email": "a@b.co", "password": long_password}),
        json!({"username": "okname", "email": "a@b.co"}),
        json!({"username": 5, "email": "a@b.co", "password": "password123"}),
    ];
    for body in cases {
        let (status, answer) = app.post_json("/register", &body).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
    }
    let response = app
        .http
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn login_by_username_or_email_gives_a_bearer_token() {
    let app = TestApp::spawn().await;
    app.register("bob").await;
    for name in ["bob", "BOB", "bob@example.com"] {
        let (status, body) = app.post_json("/login", &json!({"username": name, "password": "password123"})).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["token_type"], "bearer");
        assert!(body["expires_in"].as_u64().unwrap() > 0);
        let token = body["access_token"].as_str().unwrap();
        let (me_status, me) = app.get_json("/me", Some(token)).await;
        assert_eq!(me_status, 200);
        assert_eq!(me["username"], "bob");
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_are_indistinguishable() {
    let app = TestApp::spawn().await;
    app.register("carol").await;
    let (s1, b1) = app.post_json("/login", &json!({"username": "carol", "password": "wrong-password"})).await;
    let (s2, b2) = app.post_json("/login", &json!({"username": "nobody", "password": "wrong-password"})).await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1, b2);
}

#[tokio::test]
async fn unknown_user_costs_a_bcrypt_verification_too() {
    // Timing: with a real cost both paths must take bcrypt time (the dummy hash), so the unknown
    // user is not answered instantly.
    let app = TestApp::spawn_with(|c| c.bcrypt_cost = 10).await;
    app.register("dave").await;
    let time = |name: &'static str| {
        let app = &app;
        async move {
            let start = std::time::Instant::now();
            let (status, _) = app.post_json("/login", &json!({"username": name, "password": "wrong-password"})).await;
            assert_eq!(status, 401);
            start.elapsed()
        }
    };
    let known = time("dave").await;
    let unknown = time("nobody-here").await;
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(ratio > 0.5, "unknown user answered much faster: {unknown:?} vs {known:?}");
}

#[tokio::test]
async fn protected_api_needs_a_valid_token() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/me", None).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string());
    let (status, _) = app.get_json("/me", Some("garbage.token.here")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn blocked_user_gets_403_only_after_the_right_password_and_tokens_die() {
    let app = TestApp::spawn().await;
    app.register("admin").await;
    let user = app.register("eve").await;
    let token = app.login("eve").await;
    app.services.store().block_user(user["id"].as_i64().unwrap()).await.unwrap();

    let (wrong, _) = app.post_json("/login", &json!({"username": "eve", "password": "wrong-password"})).await;
    assert_eq!(wrong, 401);
    let (right, body) = app.post_json("/login", &json!({"username": "eve", "password": "password123"})).await;
    assert_eq!(right, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("blocked"));
    let (me, _) = app.get_json("/me", Some(&token)).await;
    assert_eq!(me, 403);

    // Unblocking does not resurrect tokens issued before the block.
    app.db().await.execute("UPDATE users SET is_blocked = FALSE WHERE username = 'eve'").await;
    let (old, _) = app.get_json("/me", Some(&token)).await;
    assert_eq!(old, 401);
    let fresh = app.login("eve").await;
    assert_eq!(app.get_json("/me", Some(&fresh)).await.0, 200);
}

#[tokio::test]
async fn tokens_survive_a_restart_with_a_generated_secret() {
    let app = TestApp::spawn().await;
    let token = app.user("frank").await;
    let url = app.database_url.clone();
    let again = server::services::Services::start(server::config::Config {
        database_url: url,
        bcrypt_cost: 4,
        ..Default::default()
    })
    .await
    .unwrap();
    let user = again.user_for_token(&token).await.expect("token still valid");
    assert_eq!(user.username, "frank");
}

#[tokio::test]
async fn pages_redirect_strangers_and_render_for_users() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/login");

    let login_page = app.http.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login_page.status().as_u16(), 200);
    let html = login_page.text().await.unwrap();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""), "{html}");

    let token = app.user("grace").await;
    let chat = app.http.get(app.url("/")).header("cookie", format!("chatterbox_session={token}")).send().await.unwrap();
    assert_eq!(chat.status().as_u16(), 200);
    assert!(chat.text().await.unwrap().contains("grace"));
}

/// A plain HTML form post (what a browser without JavaScript sends) to a server function.
async fn form_post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_javascript_login_form_sets_an_httponly_cookie_and_redirects() {
    let app = TestApp::spawn().await;
    app.register("heidi").await;
    let response = form_post(&app, "/api/auth/login", &[("username", "heidi"), ("password", "password123")]).await;
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(response.headers()["location"], "/");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("chatterbox_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");

    let bad = form_post(&app, "/api/auth/login", &[("username", "heidi"), ("password", "wrong-password")]).await;
    assert_eq!(bad.status().as_u16(), 302);
    assert_eq!(bad.headers()["location"], "/login?error=bad_credentials");
    assert!(bad.headers().get("set-cookie").is_none());

    let page = app.http.get(app.url("/login?error=bad_credentials")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("invalid username or password"));
}

#[tokio::test]
async fn no_javascript_register_form_reports_taken_names() {
    let app = TestApp::spawn().await;
    app.register("ivan").await;
    let fields = [("username", "ivan"), ("email", "new@example.com"), ("password", "password123")];
    let response = form_post(&app, "/api/auth/register", &fields).await;
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(response.headers()["location"], "/register?error=username_taken");
}

#[tokio::test]
async fn server_function_login_with_javascript_gets_typed_errors() {
    let app = TestApp::spawn().await;
    app.register("judy").await;
    let response = app
        .http
        .post(app.url("/api/auth/login"))
        .header("accept", "application/json")
        .form(&[("username", "judy"), ("password", "nope-nope-nope")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_server_error() || response.status().is_client_error());
    let body = response.text().await.unwrap();
    assert!(body.contains("bad_credentials"), "{body}");
}
