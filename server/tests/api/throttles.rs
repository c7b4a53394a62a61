//! Login and registration throttles under concurrency, over real HTTP: the per-account attempt
//! is reserved before the password check (refunded on success), one budget per account whichever
//! name is typed, over-long identifiers refused without hashing, IPv6 clients keyed by /64, the
//! right-most untrusted `X-Forwarded-For` address across every header line, and bcrypt permits
//! that a cancelled request cannot free while its hash still runs.

use crate::common::TestApp;
use futures::future::join_all;
use serde_json::{json, Value};
use std::time::Duration;

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

/// `POST /login` with `X-Forwarded-For` sent as one header line per entry of `forwarded`.
async fn login(app: &TestApp, name: &str, password: &str, forwarded: &[&str]) -> Answer {
    let mut request = app.http.post(app.url("/login")).json(&json!({"username": name, "password": password}));
    for line in forwarded {
        request = request.header("x-forwarded-for", *line);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, retry_after, body }
}

async fn status(app: &TestApp, name: &str, password: &str, forwarded: &[&str]) -> u16 {
    login(app, name, password, forwarded).await.status
}

#[tokio::test]
async fn concurrent_wrong_passwords_get_at_most_the_burst_of_401s() {
    let app = TestApp::spawn_with(|c| {
        c.login_account_burst = 5;
        c.login_account_per_min = 1.0;
        // Slow enough that all 20 are in flight before the first check is over (the old
        // check-then-count-after-bcrypt let every one of them through).
        c.bcrypt_cost = 8;
    })
    .await;
    app.register("target").await;
    let answers = join_all((0..20).map(|_| login(&app, "target", "wrong-password", &[]))).await;
    let unauthorized = answers.iter().filter(|a| a.status == 401).count();
    let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!((unauthorized, limited.len()), (5, 15), "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    for answer in &limited {
        let retry = answer.retry_after.expect("429 carries Retry-After");
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(answer.body["error"].as_str().map(|e| e.contains("too many")), Some(true), "{}", answer.body);
    }
    // The budget is spent: even the right password waits (a 200 now would be an oracle for the
    // guesses above), with a Retry-After, until the bucket refills (1 per minute here).
    let right = login(&app, "target", "password123", &[]).await;
    assert_eq!(right.status, 429);
    assert!(right.retry_after.is_some());
    // Other accounts are unaffected.
    app.register("bystander").await;
    assert_eq!(status(&app, "bystander", "password123", &[]).await, 200);
}

#[tokio::test]
async fn a_right_password_refunds_its_reservation_and_the_budget_refills() {
    let app = TestApp::spawn_with(|c| {
        c.login_account_burst = 3;
        c.login_account_per_min = 1.0;
    })
    .await;
    app.register("owner").await;
    assert_eq!(status(&app, "owner", "wrong-password", &[]).await, 401);
    assert_eq!(status(&app, "owner", "wrong-password", &[]).await, 401);
    // Successes never spend the budget...
    for _ in 0..5 {
        assert_eq!(status(&app, "owner", "password123", &[]).await, 200);
    }
    // ...nor reset it: one failure is left.
    assert_eq!(status(&app, "owner", "wrong-password", &[]).await, 401);
    assert_eq!(status(&app, "owner", "wrong-password", &[]).await, 429);
    assert_eq!(status(&app, "owner", "password123", &[]).await, 429);

    // With a quick refill (2 per second) the real user gets in again after Retry-After.
    let quick = TestApp::spawn_with(|c| {
        c.login_account_burst = 1;
        c.login_account_per_min = 120.0;
    })
    .await;
    quick.register("owner").await;
    assert_eq!(status(&quick, "owner", "wrong-password", &[]).await, 401);
    let waiting = login(&quick, "owner", "password123", &[]).await;
    assert_eq!((waiting.status, waiting.retry_after), (429, Some(1)));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(status(&quick, "owner", "password123", &[]).await, 200);
}

#[tokio::test]
async fn username_and_email_draw_on_one_budget() {
    let app = TestApp::spawn_with(|c| {
        c.login_account_burst = 4;
        c.login_account_per_min = 1.0;
    })
    .await;
    app.register("target").await;
    for name in ["target", "target@example.com", "TARGET@Example.com", " Target "] {
        assert_eq!(status(&app, name, "wrong-password", &[]).await, 401, "{name}");
    }
    for name in ["target", "target@example.com"] {
        let answer = login(&app, name, "wrong-password", &[]).await;
        assert_eq!(answer.status, 429, "{name}");
        assert!(answer.retry_after.is_some());
    }
    // An unknown name has its own budget (keyed by the lowercased name), shared by its spellings.
    for name in ["Ghost", "ghost", "GHOST", "ghost "] {
        assert_eq!(status(&app, name, "wrong-password", &[]).await, 401, "{name}");
    }
    assert_eq!(status(&app, "gHoSt", "wrong-password", &[]).await, 429);
}

#[tokio::test]
async fn identifiers_longer_than_any_account_name_are_refused_without_hashing() {
    let app = TestApp::spawn_with(|c| c.login_ip_burst = 4).await;
    let normal = login(&app, "nobody", "wrong-password", &[]).await;
    assert_eq!(normal.status, 401);
    let started = app.services.hasher().hashes_started();
    assert_eq!(started, 1, "an unknown user costs one (dummy) verification");

    // The longest possible identifier (a 254-byte email) is still checked the normal way...
    let longest = format!("{}@{}.example", "a".repeat(64), "b".repeat(254 - 64 - 1 - ".example".len()));
    assert_eq!(longest.len(), 254);
    assert_eq!(status(&app, &longest, "wrong-password", &[]).await, 401);
    assert_eq!(app.services.hasher().hashes_started(), started + 1);

    // ...one byte more, or a request-sized one, gets the same answer without any bcrypt work.
    for name in [format!("x{longest}"), "y".repeat(60 * 1024)] {
        let answer = login(&app, &name, "wrong-password", &[]).await;
        assert_eq!(answer.status, 401, "{} bytes", name.len());
        assert_eq!(answer.body, normal.body);
    }
    assert_eq!(app.services.hasher().hashes_started(), started + 1, "no bcrypt work for over-long names");
    // They still count against the client's per-IP budget (4 here).
    let answer = login(&app, &"z".repeat(60 * 1024), "wrong-password", &[]).await;
    assert_eq!(answer.status, 429);
    assert!(answer.retry_after.is_some());
}

#[tokio::test]
async fn ipv6_clients_in_one_slash_64_share_a_budget() {
    let app = TestApp::spawn_with(|c| {
        c.login_ip_burst = 2;
        c.register_ip_burst = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    assert_eq!(status(&app, "nobody", "x-password", &["2001:db8:1:2::1"]).await, 401);
    assert_eq!(status(&app, "nobody", "x-password", &["2001:db8:1:2:ffff:ffff:ffff:9"]).await, 401);
    assert_eq!(status(&app, "nobody", "x-password", &["2001:db8:1:2::abcd"]).await, 429);
    // The next /64 is another client.
    assert_eq!(status(&app, "nobody", "x-password", &["2001:db8:1:3::1"]).await, 401);
    // An IPv4-mapped IPv6 address is its IPv4 address.
    assert_eq!(status(&app, "nobody", "x-password", &["::ffff:203.0.113.5"]).await, 401);
    assert_eq!(status(&app, "nobody", "x-password", &["203.0.113.5"]).await, 401);
    assert_eq!(status(&app, "nobody", "x-password", &["::ffff:203.0.113.5"]).await, 429);

    // Registrations too.
    let register = |name: &'static str, ip: &'static str| {
        let request = app
            .http
            .post(app.url("/register"))
            .header("x-forwarded-for", ip)
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": "password123"}));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(register("first", "2001:db8:9:9::1").await, 201);
    assert_eq!(register("second", "2001:db8:9:9:1234::2").await, 429);
    assert_eq!(register("third", "2001:db8:9:a::1").await, 201);
}

#[tokio::test]
async fn the_right_most_untrusted_address_across_all_forwarded_lines_wins() {
    let app = TestApp::spawn_with(|c| {
        c.login_ip_burst = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
    })
    .await;
    // The client forges a first line; the proxy appends the real address as a second line.
    assert_eq!(status(&app, "nobody", "x-password", &["203.0.113.50", "198.51.100.1"]).await, 401);
    // A fresh forged line does not buy a fresh budget: the real client is still 198.51.100.1.
    assert_eq!(status(&app, "nobody", "x-password", &["203.0.113.51", "198.51.100.1"]).await, 429);
    assert_eq!(status(&app, "nobody", "x-password", &["198.51.100.1"]).await, 429);
    assert_eq!(status(&app, "nobody", "x-password", &["198.51.100.2"]).await, 401);
    // Trusted hops at the right are skipped, whether in one line or several.
    assert_eq!(status(&app, "nobody", "x-password", &["203.0.113.52, 198.51.100.3", "10.0.0.2"]).await, 401);
    assert_eq!(status(&app, "nobody", "x-password", &["198.51.100.3, 10.0.0.2"]).await, 429);
    // An unparsable entry stops the walk at the last trusted hop: no budget is taken from the
    // address the garbage stands in front of, and garbage never buys fresh budgets.
    assert_eq!(status(&app, "nobody", "x-password", &["198.51.100.4", "garbage"]).await, 401);
    assert_eq!(status(&app, "nobody", "x-password", &["198.51.100.5, not-an-ip"]).await, 429);
    assert_eq!(status(&app, "nobody", "x-password", &["198.51.100.4"]).await, 401);
}

#[tokio::test]
async fn cancelled_logins_never_run_more_hashes_than_the_concurrency_limit() {
    let app = TestApp::spawn_with(|c| {
        c.bcrypt_concurrency = 1;
        // One verification takes far longer than the clients wait.
        c.bcrypt_cost = 10;
    })
    .await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(20)).build().unwrap();
    // Staggered, so that a request is always waiting for the permit when the one holding it is
    // cancelled by its client's timeout (the old permit, owned by the request, was freed then and
    // the next hash started beside the one still running).
    let clients = (0..20u64).map(|i| {
        let (http, url) = (impatient.clone(), app.url("/login"));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 15)).await;
            http.post(url).json(&json!({"username": "nobody", "password": "wrong-password"})).send().await
        })
    });
    for outcome in join_all(clients).await {
        assert!(outcome.unwrap().is_err(), "every client gives up before its hash is done");
    }
    let hasher = &app.services.hasher();
    assert!(hasher.hashes_started() >= 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while hasher.running() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hasher.running(), 0);
    let started = hasher.hashes_started();
    assert_eq!(hasher.peak_running(), 1, "{started} hashes started");
    // The server did see the cancellations (requests still waiting for the permit were dropped
    // and never hashed), so the scenario above really happened.
    assert!(started < 20, "{started} hashes started");
}
