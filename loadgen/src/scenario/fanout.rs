//! `fanout`: N listeners and S senders; the senders send at an aggregate R messages/s for T s
//! (open loop, evenly spaced, sender k offset by k/R), every connection (senders too: their own
//! copy is their acknowledgement) records the end-to-end latency of every message from the send
//! time it carries. Reports deliveries/s, latency quantiles, lost deliveries, dropped connections
//! and the server's CPU time per delivery.
//!
//! Also the engine of `login` (a fanout with a login burst in the middle): `setup`, `start`,
//! optionally `stop` early, then `finish`.

use super::{close_all, open_listeners, wait_until, Common, Meter};
use crate::accounts::Accounts;
use crate::args::Args;
use crate::conn::{self, connect_retrying, send_paced, spawn_sender, Conn, Pace, Role, SendStats, Writer};
use crate::stats::{now_ns, round3, whole_or_fraction, Timeline};
use anyhow::{ensure, Result};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

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
const READ_BUFFER: usize = 16 * 1024;

/// A fanout ready to run: everyone connected, senders waiting.
pub struct Fanout {
    params: Params,
    timeline: Arc<Timeline>,
    listeners: Vec<Conn>,
    senders: Vec<Conn>,
    writers: Vec<Writer>,
    send_stats: Vec<Arc<SendStats>>,
    send_tasks: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    connect_failures: usize,
    meter: Option<Meter>,
    started: Option<Instant>,
}

impl Fanout {
    /// Connects `params.listeners` listeners and `params.senders` senders (sender k uses account
    /// k, so per-account flood control sees each sender alone).
    pub async fn setup(common: &Common, accounts: &Accounts, params: Params) -> Result<Self> {
        ensure!(accounts.tokens.len() >= params.senders, "need at least one account per sender");
        let seconds = (params.duration + params.drain).ceil() as usize + 2;
        let timeline = Arc::new(Timeline::new(now_ns(), seconds));
        let (listeners, mut connect_failures) =
            open_listeners(common, accounts, params.senders, params.listeners, READ_BUFFER, &timeline).await;
        let mut senders = Vec::new();
        let mut writers = Vec::new();
        for index in 0..params.senders {
            match connect_retrying(&common.target, index, accounts.token(index), READ_BUFFER).await {
                Ok(client) => {
                    let role = Role { sender: Some(index as u64), window: None };
                    let (writer, conn) = spawn_sender(client, timeline.clone(), role);
                    writers.push(writer);
                    senders.push(conn);
                }
                Err(error) => {
                    eprintln!("  sender {index} failed to connect: {error:#}");
                    connect_failures += 1;
                }
            }
        }
        ensure!(!senders.is_empty(), "no sender could connect");
        Ok(Self {
            params,
            timeline,
            listeners,
            senders,
            writers,
            send_stats: Vec::new(),
            send_tasks: Vec::new(),
            stop: Arc::default(),
            connect_failures,
            meter: None,
            started: None,
        })
    }

    /// Starts the senders; second 0 of the timeline is now.
    pub fn start(&mut self, common: &Common) {
        let start = Instant::now() + Duration::from_millis(5);
        self.timeline.set_start(now_ns() + 5_000_000);
        self.meter = Some(Meter::start(common.server));
        self.started = Some(start);
        let senders = self.writers.len() as f64;
        let count = (self.params.rate * self.params.duration / senders).round().max(1.0) as u64;
        let period = Duration::from_secs_f64(senders / self.params.rate);
        for (index, writer) in self.writers.drain(..).enumerate() {
            let pace = Pace {
                index: index as u64,
                start,
                offset: Duration::from_secs_f64(index as f64 / self.params.rate),
                period,
                max_count: count,
            };
            let stats = Arc::new(SendStats::default());
            self.send_stats.push(stats.clone());
            let task = send_paced(writer, pace, common.nonce.clone(), self.stop.clone(), stats);
            self.send_tasks.push(tokio::spawn(task));
        }
    }

    /// Ends sending early (the next scheduled message is not sent).
    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }

    pub fn started(&self) -> Option<Instant> {
        self.started
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Waits for the senders, then for every acknowledgement and delivery (bounded by `drain`),
    /// and returns the result fields.
    pub async fn finish(mut self) -> Result<Map<String, Value>> {
        let limit = Duration::from_secs_f64(self.params.duration + 10.0);
        for task in self.send_tasks.drain(..) {
            let _ = tokio::time::timeout(limit, task).await;
        }
        let send_seconds = self.started.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
        let sent: u64 = self.send_stats.iter().map(|s| s.sent.load(Relaxed)).sum();
        let drain = Duration::from_secs_f64(self.params.drain);
        let senders = &self.senders;
        let answered = || conn::total(senders, |s| &s.acked) + conn::total(senders, |s| &s.refused) >= sent;
        wait_until(drain, answered).await;
        let broadcast = conn::total(&self.senders, |s| &s.acked);
        let everyone: Vec<&Conn> = self.listeners.iter().chain(self.senders.iter()).collect();
        let delivered = || everyone.iter().all(|c| c.state.received.load(Relaxed) >= broadcast);
        wait_until(drain, delivered).await;
        let meter = self.meter.take().expect("finish after start");
        let result = self.result(sent, broadcast, send_seconds, &meter);
        close_all(&self.listeners);
        close_all(&self.senders);
        Ok(result)
    }

    fn result(&self, sent: u64, broadcast: u64, send_seconds: f64, meter: &Meter) -> Map<String, Value> {
        let all: Vec<&Conn> = self.listeners.iter().chain(self.senders.iter()).collect();
        let received: u64 = all.iter().map(|c| c.state.received.load(Relaxed)).sum();
        let lost: u64 = all.iter().map(|c| broadcast.saturating_sub(c.state.received.load(Relaxed))).sum();
        let refused = conn::total(&self.senders, |s| &s.refused);
        let disorder: u64 = all.iter().map(|c| c.state.disorder.load(Relaxed)).sum();
        let mut ended = conn::ended(&self.listeners);
        ended.extend(conn::ended(&self.senders));
        let max_lag = self.send_stats.iter().map(|s| s.max_lag_ns.load(Relaxed)).max().unwrap_or(0);
        let mut map = Map::new();
        map.insert("listeners".into(), json!(self.listeners.len()));
        map.insert("senders".into(), json!(self.senders.len()));
        map.insert("rate".into(), whole_or_fraction(self.params.rate));
        map.insert("duration_s".into(), json!(round3(send_seconds)));
        map.insert("sent".into(), json!(sent));
        map.insert("acked".into(), json!(broadcast));
        map.insert("refused".into(), json!(refused));
        map.insert("unacked".into(), json!(sent.saturating_sub(broadcast + refused)));
        map.insert("deliveries".into(), json!(received));
        map.insert("expected_deliveries".into(), json!(broadcast * all.len() as u64));
        map.insert("lost".into(), json!(lost));
        map.insert("disorder".into(), json!(disorder));
        map.insert("connect_failures".into(), json!(self.connect_failures));
        map.insert("dropped".into(), json!(ended.len()));
        map.insert("drop_codes".into(), json!(ended.iter().take(10).collect::<Vec<_>>()));
        map.insert("deliveries_per_s".into(), json!((received as f64 / send_seconds.max(1e-9)).round() as u64));
        map.insert("max_send_lag_ms".into(), json!(round3(max_lag as f64 / 1e6)));
        // Where a stall shows: the second of send time with the worst p99.
        if let Some((second, p99)) = self.timeline.slowest_second() {
            map.insert("slowest_second".into(), json!(second));
            map.insert("slowest_second_p99_ms".into(), json!(round3(p99 as f64 / 1e6)));
        }
        map.extend(self.timeline.all().to_json(""));
        map.extend(meter.fields(received, "delivery"));
        map
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

/// Prints the key figures of a fanout result to stderr.
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
