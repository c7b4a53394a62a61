//! The HTTP contract a browser or an API client meets, over real HTTP: cross-site state-changing
//! requests are refused (login CSRF included) while same-origin forms keep working, and every
//! error an API client can meet is JSON (404, 405, bad path parameters), while browsers keep the
//! HTML 404 page.

use crate::common::TestApp;
use serde_json::{json, Value};

const EVIL: &str = "http://evil.example";

/// A url-encoded form post, as a browser without JavaScript sends it.
async fn form_post(app: &TestApp, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http.post(app.url(path)).header("accept", "text/html").form(fields);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn assert_refused(response: reqwest::Response, what: &str) {
    assert_eq!(response.status().as_u16(), 403, "{what}");
    assert!(response.headers().get("set-cookie").is_none(), "{what}: no session cookie");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{what}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "cross-site request refused"}), "{what}");
}

#[tokio::test]
async fn login_csrf_is_refused_and_same_origin_forms_work() {
    let app = TestApp::spawn().await;
    app.register("attacker").await;
    let login = [("username", "attacker"), ("password", "password123")];
    let host = app.addr.to_string();
    let same_origin = format!("http://{host}");

    // The attacker's page posts its own credentials to the victim's browser session.
    let response = form_post(&app, "/api/auth/login", &login, &[("origin", EVIL)]).await;
    assert_refused(response, "foreign Origin").await;
    let response = form_post(&app, "/api/auth/login", &login, &[("sec-fetch-site", "cross-site")]).await;
    assert_refused(response, "Sec-Fetch-Site: cross-site").await;
    let response =
        form_post(&app, "/api/auth/login", &login, &[("sec-fetch-site", "same-site"), ("origin", &same_origin)]).await;
    assert_refused(response, "Sec-Fetch-Site: same-site wins over Origin").await;
    let response = form_post(&app, "/api/auth/login", &login, &[("origin", "null")]).await;
    assert_refused(response, "Origin: null").await;
    let response =
        form_post(&app, "/api/auth/login", &login, &[("origin", &format!("http://{host}.evil.example"))]).await;
    assert_refused(response, "look-alike host").await;

    // The same form from this site: with Origin, with Sec-Fetch-Site, and with neither.
    for headers in [
        vec![("origin", same_origin.as_str())],
        vec![("origin", same_origin.as_str()), ("sec-fetch-site", "same-origin")],
        vec![("sec-fetch-site", "same-origin")],
        vec![("sec-fetch-site", "none")],
        vec![],
    ] {
        let response = form_post(&app, "/api/auth/login", &login, &headers).await;
        assert_eq!(response.status().as_u16(), 302, "{headers:?}");
        assert_eq!(response.headers()["location"], "/");
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("chatterbox_session=") && !cookie.starts_with("chatterbox_session=;"), "{cookie}");
    }

    // The same-origin server-function call with JavaScript (JSON answer) works too.
    let response = app
        .http
        .post(app.url("/api/auth/login"))
        .header("accept", "application/json")
        .header("origin", &same_origin)
        .header("sec-fetch-site", "same-origin")
        .form(&login)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
    assert!(response.headers().get("set-cookie").is_some());
}

#[tokio::test]
async fn register_logout_and_admin_server_functions_refuse_other_sites() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let victim = app.register("victim").await["id"].as_i64().unwrap();
    let cookie = format!("chatterbox_session={admin}");

    let fields = [("username", "sockpuppet"), ("email", "sock@example.com"), ("password", "password123")];
    assert_refused(form_post(&app, "/api/auth/register", &fields, &[("origin", EVIL)]).await, "register").await;
    assert!(app.services.store().find_login("sockpuppet").await.unwrap().is_none());

    let logout = form_post(&app, "/api/auth/logout", &[], &[("origin", EVIL), ("cookie", &cookie)]).await;
    assert_refused(logout, "logout").await;

    // An admin's browser cannot be made to block someone from another site.
    let id = victim.to_string();
    let block = [("user_id", id.as_str()), ("blocked", "true")];
    let response =
        form_post(&app, "/api/admin/set-blocked", &block, &[("sec-fetch-site", "cross-site"), ("cookie", &cookie)])
            .await;
    assert_refused(response, "admin set-blocked").await;
    assert!(!app.services.store().user_by_id(victim).await.unwrap().unwrap().public.is_blocked);

    // REST posts carrying the session cookie are covered as well.
    let response = app
        .http
        .post(app.url(&format!("/admin/users/{victim}/block")))
        .header("cookie", &cookie)
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(!app.services.store().user_by_id(victim).await.unwrap().unwrap().public.is_blocked);

    // The same admin call from this site goes through.
    let same_origin = format!("http://{}", app.addr);
    let response =
        form_post(&app, "/api/admin/set-blocked", &block, &[("origin", &same_origin), ("cookie", &cookie)]).await;
    // A plain form post is redirected back to its page once done.
    assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
    assert!(app.services.store().user_by_id(victim).await.unwrap().unwrap().public.is_blocked);
}

#[tokio::test]
async fn bearer_requests_and_reads_are_not_refused() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;
    let target = app.register("target").await["id"].as_i64().unwrap();

    // An API client with a Bearer token is not a browser being abused: a foreign Origin is fine.
    let response = app
        .http
        .post(app.url(&format!("/admin/users/{target}/block")))
        .bearer_auth(&admin)
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // JSON REST login without browser headers (curl, scripts) keeps working.
    let (status, _) = app.post_json("/login", &json!({"username": "root", "password": "password123"})).await;
    assert_eq!(status, 200);

    // Reads are never refused, whatever the origin.
    let response = app.http.get(app.url("/me")).bearer_auth(&admin).header("origin", EVIL).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let page = app.http.get(app.url("/login")).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
}

async fn json_error(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert!(
        content_type.as_deref().is_some_and(|t| t.starts_with("application/json")),
        "{status}: content-type {content_type:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    (status, body)
}

#[tokio::test]
async fn api_errors_are_json_and_browsers_keep_the_html_404() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").await;

    // Unknown paths: JSON for API clients, the HTML page for browsers.
    for accept in [None, Some("application/json"), Some("*/*")] {
        let mut request = app.http.get(app.url("/no/such/thing"));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let (status, body) = json_error(request.send().await.unwrap()).await;
        assert_eq!((status, body), (404, json!({"error": "not found"})), "{accept:?}");
    }
    let page = app
        .http
        .get(app.url("/no/such/thing"))
        .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 404);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));

    // Wrong methods on API routes: 405, JSON, with the Allow header kept.
    for (method, path) in
        [("DELETE", "/login"), ("PUT", "/me"), ("POST", "/admin/users"), ("GET", "/admin/users/1/block")]
    {
        let request = app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(&admin);
        let response = request.send().await.unwrap();
        assert!(response.headers().contains_key("allow"), "{method} {path}");
        let (status, body) = json_error(response).await;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(body, json!({"error": "method not allowed"}));
    }

    // Bad path parameters: a JSON 400.
    for path in ["/admin/users/abc/block", "/admin/users/1.5/unblock", "/admin/users/99999999999999999999/block"] {
        let response = app.http.post(app.url(path)).bearer_auth(&admin).send().await.unwrap();
        let (status, body) = json_error(response).await;
        assert_eq!(status, 400, "{path}: {body}");
    }

    // Existing JSON errors are left as they are.
    let (status, body) = json_error(app.http.get(app.url("/me")).send().await.unwrap()).await;
    assert_eq!((status, body), (401, json!({"error": "authentication required"})));
    let (status, _) =
        json_error(app.http.post(app.url("/admin/users/99999/block")).bearer_auth(&admin).send().await.unwrap()).await;
    assert_eq!(status, 404);
}
