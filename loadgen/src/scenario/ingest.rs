//! `ingest`: S senders (one account each) send as fast as acknowledgements allow. Each keeps at
//! most W messages in flight: a slot frees when the sender's own copy of the broadcast (sent by
//! the server only after the commit) or a refusal comes back. Reports persisted (acknowledged)
//! messages per second, acknowledgement latency and server CPU per message.

use super::{close_all, wait_until, Common, Meter};
use crate::args::Args;
use crate::conn::{self, connect_retrying, send_windowed, spawn_sender, Role, SendStats};
use crate::stats::{now_ns, Timeline};
use anyhow::{ensure, Result};
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct Params {
    pub senders: usize,
    /// Messages in flight per sender.
    pub window: usize,
    pub duration: f64,
    pub drain: f64,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self {
            senders: args.get("senders", 4)?,
            window: args.get("window", 256)?,
            duration: args.get("duration", 10.0)?,
            drain: args.get("drain", 10.0)?,
        };
        ensure!((1..=256).contains(&params.senders), "--senders must be 1..=256");
        ensure!((1..=8192).contains(&params.window), "--window must be 1..=8192");
        ensure!(params.duration > 0.0 && params.duration <= 600.0, "--duration must be in (0, 600]");
        ensure!((0.0..=300.0).contains(&params.drain), "--drain must be in 0..=300");
        Ok(params)
    }
}

/// `loadgen ingest`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let accounts = common.accounts(common.users.max(params.senders)).await?;
    let timeline = Arc::new(Timeline::new(now_ns(), params.duration.ceil() as usize + params.drain as usize + 2));
    let mut senders = Vec::new();
    let mut writers = Vec::new();
    for index in 0..params.senders {
        let client = connect_retrying(&common.target, index, accounts.token(index), 64 * 1024).await?;
        let window = Arc::new(Semaphore::new(params.window));
        let role = Role { sender: Some(index as u64), window: Some(window.clone()), room: None };
        let (writer, conn) = spawn_sender(client, timeline.clone(), role);
        senders.push(conn);
        writers.push((writer, window));
    }
    wait_until(Duration::from_secs(10), || senders.iter().all(|c| c.state.got_history.load(Relaxed))).await;
    eprintln!("  {} senders, window {}, for {} s", params.senders, params.window, params.duration);

    timeline.set_start(now_ns());
    let meter = Meter::start(common.server);
    let deadline = Instant::now() + Duration::from_secs_f64(params.duration);
    let mut stats = Vec::new();
    let mut tasks = Vec::new();
    for (index, (writer, window)) in writers.into_iter().enumerate() {
        let sender_stats = Arc::new(SendStats::default());
        stats.push(sender_stats.clone());
        let task = send_windowed(writer, index as u64, window, deadline, common.nonce.clone(), sender_stats);
        tasks.push(tokio::spawn(task));
    }
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs_f64(params.duration + 10.0), task).await;
    }
    let sent: u64 = stats.iter().map(|s| s.sent.load(Relaxed)).sum();
    let answered = || conn::total(&senders, |s| &s.acked) + conn::total(&senders, |s| &s.refused) >= sent;
    wait_until(Duration::from_secs_f64(params.drain), answered).await;
    let elapsed = meter.elapsed().as_secs_f64();
    let acked = conn::total(&senders, |s| &s.acked);
    let refused = conn::total(&senders, |s| &s.refused);

    let mut fields = serde_json::Map::new();
    fields.insert("senders".into(), json!(params.senders));
    fields.insert("window".into(), json!(params.window));
    fields.insert("sent".into(), json!(sent));
    fields.insert("acked".into(), json!(acked));
    fields.insert("refused".into(), json!(refused));
    fields.insert("unacked".into(), json!(sent.saturating_sub(acked + refused)));
    fields.insert("dropped".into(), json!(conn::ended(&senders).len()));
    fields.insert("persisted_per_s".into(), json!((acked as f64 / elapsed).round() as u64));
    // Every connection is a sender: the latencies are those of acknowledgements and of each
    // sender receiving the others' messages (the same commit-then-broadcast path).
    let own = timeline.all();
    fields.extend(own.to_json("ack_"));
    fields.extend(meter.fields(acked, "message"));
    eprintln!(
        "  persisted {} msgs/s ({} acked, {} refused, {} unacked); delivery latency {}",
        fields["persisted_per_s"],
        acked,
        refused,
        fields["unacked"],
        own.describe()
    );
    close_all(&senders);
    common.emit("ingest", format!("ingest {} senders", params.senders), fields)
}
