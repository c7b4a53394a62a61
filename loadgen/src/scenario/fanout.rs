//! `fanout`: N listeners and S senders; the senders send at an aggregate R messages/s for T s
//! (open loop, evenly spaced, sender k offset by k/R), every connection (senders too: their own
//! copy is their acknowledgement) records the end-to-end latency of every message from the send
//! time it carries. Reports deliveries/s, latency quantiles, lost deliveries, dropped connections
//! and the server's CPU time per delivery.
//!
//! Also the engine of `login` (a fanout with a login burst in the middle): `setup`, `start`,
//! optionally `stop` early, then `finish`. The schedule and the accounting are `paced`'s, shared
//! with `rooms`.

use super::open_listeners;
use super::paced::{Engine, Schedule, Sender};
use super::Common;
use crate::accounts::Accounts;
use crate::args::Args;
use crate::conn::{connect_retrying, spawn_sender, Role};
use crate::stats::{now_ns, whole_or_fraction, Timeline};
use anyhow::{ensure, Result};
use serde_json::{json, Map, Value};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Params {
    pub listeners: usize,
    pub senders: usize,
    /// Aggregate messages per second over all senders.
    pub rate: f64,
    /// Seconds of sending (at most; `stop` may end it earlier).
    pub duration: f64,
    /// Seconds to wait for the last deliveries after the last send.
    pub drain: f64,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self {
            listeners: args.get("listeners", 100)?,
            senders: args.get("senders", 4)?,
            rate: args.get("rate", 20.0)?,
            duration: args.get("duration", 20.0)?,
            drain: args.get("drain", 10.0)?,
        };
        params.check()?;
        Ok(params)
    }

    pub fn check(&self) -> Result<()> {
        ensure!(self.senders >= 1 && self.senders <= 1000, "--senders must be 1..=1000");
        ensure!(self.listeners <= 19_000, "--listeners must be at most 19000");
        ensure!(self.rate > 0.0 && self.rate <= 100_000.0, "--rate must be in (0, 100000]");
        ensure!(self.duration > 0.0 && self.duration <= 3600.0, "--duration must be in (0, 3600]");
        ensure!((0.0..=300.0).contains(&self.drain), "--drain must be in 0..=300");
        Ok(())
    }

    pub fn label(&self) -> String {
        format!("fanout {}x{}", self.listeners, whole_or_fraction(self.rate))
    }
}

/// Read buffer of fanout connections: room for a few coalesced flushes of the server.
pub const READ_BUFFER: usize = 16 * 1024;

/// A fanout ready to run: everyone connected, senders waiting. One delivery group: every
/// connection must receive every acknowledged message.
pub struct Fanout {
    engine: Engine,
    listeners: usize,
    senders: usize,
}

impl Fanout {
    /// Connects `params.listeners` listeners and `params.senders` senders (sender k uses account
    /// k, so per-account flood control sees each sender alone).
    pub async fn setup(common: &Common, accounts: &Accounts, params: Params) -> Result<Self> {
        ensure!(accounts.tokens.len() >= params.senders, "need at least one account per sender");
        let schedule = Schedule { rate: params.rate, duration: params.duration, drain: params.drain };
        let timeline = Engine::timeline_for(&schedule, now_ns());
        let (mut conns, mut connect_failures) =
            open_listeners(common, accounts, params.senders, params.listeners, READ_BUFFER, &timeline).await;
        let listeners = conns.len();
        let mut senders = Vec::new();
        for index in 0..params.senders {
            match connect_retrying(&common.target, index, accounts.token(index), READ_BUFFER).await {
                Ok(client) => {
                    let role = Role { sender: Some(index as u64), ..Role::default() };
                    let (writer, conn) = spawn_sender(client, timeline.clone(), role);
                    senders.push(Sender { index: index as u64, room: None, writer });
                    conns.push(conn);
                }
                Err(error) => {
                    eprintln!("  sender {index} failed to connect: {error:#}");
                    connect_failures += 1;
                }
            }
        }
        ensure!(!senders.is_empty(), "no sender could connect");
        let senders_connected = senders.len();
        let everyone = vec![(0..conns.len()).collect()];
        let engine = Engine::new(schedule, timeline, conns, everyone, senders, connect_failures);
        Ok(Self { engine, listeners, senders: senders_connected })
    }

    /// Starts the senders; second 0 of the timeline is now.
    pub fn start(&mut self, common: &Common) {
        self.engine.start(common);
    }

    /// Ends sending early (the next scheduled message is not sent).
    pub fn stop(&self) {
        self.engine.stop();
    }

    pub fn started(&self) -> Option<Instant> {
        self.engine.started()
    }

    pub fn timeline(&self) -> &Timeline {
        self.engine.timeline()
    }

    /// Waits for the senders, then for every acknowledgement and delivery (bounded by `drain`),
    /// and returns the result fields.
    pub async fn finish(self) -> Result<Map<String, Value>> {
        let mut fields = self.engine.finish().await;
        fields.insert("listeners".into(), json!(self.listeners));
        fields.insert("senders".into(), json!(self.senders));
        Ok(fields)
    }
}

/// `loadgen fanout`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let accounts = common.accounts(common.users.max(params.senders)).await?;
    let mut fanout = Fanout::setup(common, &accounts, params.clone()).await?;
    eprintln!("  sending {} msgs/s for {} s", params.rate, params.duration);
    fanout.start(common);
    let mut fields = fanout.finish().await?;
    if let Some(rss) = common.server_rss_kib() {
        fields.insert("server_rss_kib".into(), json!(rss));
    }
    summarize(&fields);
    common.emit("fanout", params.label(), fields)
}

/// Prints the key figures of a fanout (or rooms) result to stderr.
pub fn summarize(fields: &Map<String, Value>) {
    let get = |k: &str| fields.get(k).cloned().unwrap_or(Value::Null);
    eprintln!(
        "  deliveries {} ({}/s), lost {}, unacked {}, refused {}, dropped {}, disorder {}",
        get("deliveries"),
        get("deliveries_per_s"),
        get("lost"),
        get("unacked"),
        get("refused"),
        get("dropped"),
        get("disorder")
    );
    eprintln!(
        "  latency ms: p50 {} p99 {} p99.9 {} max {} (worst second {}: p99 {}; send lag max {}); \
         server CPU {} s ({} us/delivery), loadgen CPU {} s, steal {}%",
        get("p50_ms"),
        get("p99_ms"),
        get("p999_ms"),
        get("max_ms"),
        get("slowest_second"),
        get("slowest_second_p99_ms"),
        get("max_send_lag_ms"),
        get("server_cpu_s"),
        get("server_cpu_us_per_delivery"),
        get("loadgen_cpu_s"),
        get("steal_pct")
    );
}
