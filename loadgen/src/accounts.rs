//! Accounts for a run. bcrypt is slow by design, so most runs register and log in only a few users
//! and many connections share each token; `rooms` (room membership is per account) registers one
//! per connection, more at a time.

use crate::http::post_json;
use anyhow::{bail, Context, Result};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The password of every load-generator account.
pub const PASSWORD: &str = "loadgen-password";
/// Registration and login can queue behind other bcrypt work (cost 12 is ~0.25 s a hash).
const HTTP_TIMEOUT: Duration = Duration::from_secs(120);

/// The signed-in users of a run: `names[i]` holds `tokens[i]`.
pub struct Accounts {
    pub names: Vec<String>,
    pub tokens: Vec<String>,
}

impl Accounts {
    /// Registers (if new) and logs in `count` users named `<prefix>u<i>`, four at a time.
    pub async fn prepare(addr: SocketAddr, prefix: &str, count: usize) -> Result<Self> {
        Self::prepare_with(addr, prefix, count, 4).await
    }

    /// `prepare`, `concurrency` users at a time (each registers, then logs in); stops at the
    /// first failure.
    pub async fn prepare_with(addr: SocketAddr, prefix: &str, count: usize, concurrency: usize) -> Result<Self> {
        let names: Vec<String> = (0..count.max(1)).map(|i| format!("{prefix}u{i}")).collect();
        let tokens: Vec<String> = futures::stream::iter(names.clone())
            .map(|name| async move {
                register(addr, &name).await?;
                login(addr, &name).await.map(|(token, _)| token)
            })
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
        Ok(Self { names, tokens })
    }

    /// The token for connection number `i` (round-robin over the users).
    pub fn token(&self, i: usize) -> &str {
        &self.tokens[i % self.tokens.len()]
    }
}

/// Registers `name`; an existing account (409) is fine.
pub async fn register(addr: SocketAddr, name: &str) -> Result<()> {
    let body = json!({"username": name, "email": format!("{name}@loadgen.example.com"), "password": PASSWORD});
    let response = post_json(addr, "/register", &body, HTTP_TIMEOUT).await?;
    match response.status {
        201 | 409 => Ok(()),
        429 => bail!("POST /register {name}: 429 {} (raise CHATTERBOX_REGISTER_IP_BURST)", response.body),
        status => bail!("POST /register {name}: {status} {}", response.body),
    }
}

/// Logs `name` in; returns the access token and how long the call took.
pub async fn login(addr: SocketAddr, name: &str) -> Result<(String, Duration)> {
    let started = Instant::now();
    let body = json!({"username": name, "password": PASSWORD});
    let response = post_json(addr, "/login", &body, HTTP_TIMEOUT).await?;
    let took = started.elapsed();
    match response.status {
        200 => {}
        429 => bail!("POST /login {name}: 429 {} (raise CHATTERBOX_LOGIN_IP_BURST)", response.body),
        status => bail!("POST /login {name}: {status} {}", response.body),
    }
    let token = response.json()?["access_token"].as_str().context("no access_token in login response")?.to_string();
    Ok((token, took))
}
