//! `idle`: opens N connections and holds them (answering the server's keep-alive pings) for a
//! while; reports how many stayed open and the server's resident memory per connection:
//! (RSS after the hold - RSS before connecting) / connections held.

use super::{close_all, open_listeners, Common, Meter};
use crate::args::Args;
use crate::procfs::Process;
use crate::stats::{now_ns, round3, Timeline};
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Params {
    pub connections: usize,
    /// Seconds to hold every connection open after the last one is up.
    pub hold: f64,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self { connections: args.get("connections", 1000)?, hold: args.get("hold", 25.0)? };
        ensure!((1..=19_000).contains(&params.connections), "--connections must be 1..=19000");
        ensure!((0.0..=600.0).contains(&params.hold), "--hold must be in 0..=600");
        Ok(params)
    }
}

/// Idle connections read little: a small buffer keeps the load generator's own memory low.
const READ_BUFFER: usize = 4 * 1024;

/// `loadgen idle`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let server = common.server.context("idle needs --server-pid (it measures the server's RSS)")?;
    let accounts = common.accounts(common.users).await?;
    let rss_before = server.rss_kib()?;
    let timeline = Arc::new(Timeline::new(now_ns(), 1));
    let started = Instant::now();
    let meter = Meter::start(common.server);
    let (conns, failed) = open_listeners(common, &accounts, 0, params.connections, READ_BUFFER, &timeline).await;
    let connect_seconds = started.elapsed().as_secs_f64();
    eprintln!("  holding for {} s", params.hold);
    tokio::time::sleep(Duration::from_secs_f64(params.hold)).await;
    let rss_after = server.rss_kib()?;
    let held = conns.iter().filter(|c| c.state.is_open()).count();
    let per_connection = (rss_after.saturating_sub(rss_before)) as f64 / held.max(1) as f64;
    let mut fields = serde_json::Map::new();
    fields.insert("connections".into(), json!(params.connections));
    fields.insert("held".into(), json!(held));
    fields.insert("connect_failures".into(), json!(failed));
    fields.insert("dropped".into(), json!(conns.len() - held));
    fields.insert("connect_s".into(), json!(round3(connect_seconds)));
    fields.insert("hold_s".into(), json!(params.hold));
    fields.insert("server_rss_before_kib".into(), json!(rss_before));
    fields.insert("server_rss_after_kib".into(), json!(rss_after));
    fields.insert("server_rss_per_conn_kib".into(), json!(round3(per_connection)));
    fields.insert("loadgen_rss_kib".into(), json!(Process::Myself.rss_kib().unwrap_or(0)));
    fields.extend(meter.fields(0, "connection"));
    eprintln!(
        "  held {held}/{} ({failed} failed to connect); server RSS {rss_before} -> {rss_after} KiB: {per_connection:.2} KiB/connection",
        params.connections
    );
    close_all(&conns);
    common.emit("idle", format!("idle {}", params.connections), fields)
}
