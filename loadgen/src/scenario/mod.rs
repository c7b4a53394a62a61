//! What every scenario shares: the common options (`Common`), opening many connections, bounded
//! waiting, CPU metering of the server and of the load generator, and emitting the result as one
//! JSON line (stdout, and appended to `--json FILE`). The open-loop engine of the scenarios that
//! send on a schedule is in `paced`.

pub mod actions;
pub mod fanout;
pub mod files;
pub mod history;
pub mod idle;
pub mod ingest;
pub mod login;
pub mod paced;
pub mod rooms;
pub mod search;
pub mod storm;

use crate::accounts::Accounts;
use crate::args::Args;
use crate::conn::{connect_retrying, spawn_sender, Conn, Role, Target, Writer};
use crate::procfs::{MachineTimes, Process};
use crate::stats::{round3, Timeline};
use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options every scenario takes.
pub struct Common {
    pub addr: SocketAddr,
    pub target: Target,
    /// The server's pid, for its CPU time and RSS (figures needing it are omitted without it).
    pub server: Option<Process>,
    /// Accounts to register and log in (connections share their tokens round-robin).
    pub users: usize,
    /// Username prefix (`<prefix>u<i>`); unique per run by default.
    pub prefix: String,
    /// Unique per run: part of every `client_id`.
    pub nonce: Arc<str>,
    pub label: Option<String>,
    pub json: Option<PathBuf>,
    pub connect_concurrency: usize,
    /// Simulated client work per text frame received, in microseconds (`--frame-work-us`).
    pub frame_work_us: f64,
}

impl Common {
    /// Reads the common options; `connections` sizes the default number of source addresses.
    pub fn from_args(args: &Args, connections: usize) -> Result<Self> {
        let addr: SocketAddr = args.get("addr", "127.0.0.1:3000".parse()?)?;
        anyhow::ensure!(addr.ip().is_loopback(), "loopback addresses only (got {addr})");
        let nonce = run_nonce();
        let default_sources = connections / 4000 + 1;
        Ok(Self {
            addr,
            target: Target::new(addr, args.get("source-ips", default_sources)?),
            server: args.opt::<u32>("server-pid")?.map(Process::Pid),
            users: args.get("users", 8usize)?,
            prefix: args.get("prefix", format!("lg{nonce}"))?,
            nonce: nonce.into(),
            label: args.opt("label")?,
            json: args.opt("json")?,
            connect_concurrency: args.get("connect-concurrency", 64usize)?.max(1),
            frame_work_us: {
                let us: f64 = args.get("frame-work-us", 0.0)?;
                anyhow::ensure!((0.0..=10_000.0).contains(&us), "--frame-work-us must be in 0..=10000");
                crate::conn::FRAME_WORK_NS.store((us * 1000.0).round() as u64, std::sync::atomic::Ordering::Relaxed);
                us
            },
        })
    }

    pub async fn accounts(&self, count: usize) -> Result<Accounts> {
        self.accounts_with(count, 4).await
    }

    /// `count` accounts, registered and logged in `concurrency` at a time.
    pub async fn accounts_with(&self, count: usize, concurrency: usize) -> Result<Accounts> {
        let started = Instant::now();
        let accounts =
            Accounts::prepare_with(self.addr, &self.prefix, count, concurrency).await.context("preparing accounts")?;
        eprintln!("  {} account(s) ready in {:.1} s", accounts.tokens.len(), started.elapsed().as_secs_f64());
        Ok(accounts)
    }

    pub fn server_rss_kib(&self) -> Option<u64> {
        self.server.and_then(|p| p.rss_kib().ok())
    }

    /// Prints the result line and appends it to `--json`.
    pub fn emit(&self, scenario: &str, default_label: String, mut fields: Map<String, Value>) -> Result<Value> {
        fields.insert("scenario".into(), scenario.into());
        if self.frame_work_us > 0.0 {
            fields.insert("frame_work_us".into(), self.frame_work_us.into());
        }
        fields.insert("label".into(), self.label.clone().unwrap_or(default_label).into());
        let line = Value::Object(fields);
        println!("{line}");
        if let Some(path) = &self.json {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            writeln!(file, "{line}")?;
        }
        Ok(line)
    }
}

/// Short, unique enough per run: base-36 milliseconds of the wall clock (mod 36^6) + pid.
fn run_nonce() -> String {
    let millis =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let mut n = (millis % 2_176_782_336) ^ u64::from(std::process::id());
    let mut text = String::new();
    for _ in 0..6 {
        text.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
    }
    text
}

/// Opens `count` listeners (connection indices `first..first + count`), `concurrency` handshakes
/// at a time; each starts reading at once. Returns the connections and the number that failed.
pub async fn open_listeners(
    common: &Common,
    accounts: &Accounts,
    first: usize,
    count: usize,
    read_buffer: usize,
    timeline: &Arc<Timeline>,
) -> (Vec<Conn>, usize) {
    open_listeners_on(common, &[&common.target], accounts, first, count, read_buffer, timeline).await
}

/// `open_listeners` over several servers: listener `k` (counted from 0) connects to
/// `targets[k % targets.len()]`, so each server gets its share, alternating.
pub async fn open_listeners_on(
    common: &Common,
    targets: &[&Target],
    accounts: &Accounts,
    first: usize,
    count: usize,
    read_buffer: usize,
    timeline: &Arc<Timeline>,
) -> (Vec<Conn>, usize) {
    let plans = (first..first + count).map(|index| Plan {
        index,
        target: targets[(index - first) % targets.len()],
        token: accounts.token(index),
        role: Role::default(),
    });
    let (opened, failed) = open_conns(common, plans.collect(), read_buffer, timeline).await;
    (opened.into_iter().map(|o| o.conn).collect(), failed)
}

/// A connection to open: its number (which source address; a sender's number), the server it
/// connects to, the token it authenticates with, and what it does.
pub struct Plan<'a> {
    pub index: usize,
    pub target: &'a Target,
    pub token: &'a str,
    pub role: Role,
}

/// A connection opened from a `Plan`, reading, with its writer.
pub struct Opened {
    pub index: usize,
    pub writer: Writer,
    pub conn: Conn,
}

/// Opens every planned connection, `--connect-concurrency` handshakes at a time; each starts
/// reading at once. Returns the connections that opened, ordered by `index`, and the number that
/// failed; waits (at most 30 s) until each has its `history` frame or has ended.
pub async fn open_conns(
    common: &Common,
    plans: Vec<Plan<'_>>,
    read_buffer: usize,
    timeline: &Arc<Timeline>,
) -> (Vec<Opened>, usize) {
    let started = Instant::now();
    let results: Vec<Result<Opened>> = futures::stream::iter(plans)
        .map(|plan| async move {
            let ws = connect_retrying(plan.target, plan.index, plan.token, read_buffer).await?;
            let (writer, conn) = spawn_sender(ws, timeline.clone(), plan.role);
            Ok(Opened { index: plan.index, writer, conn })
        })
        .buffer_unordered(common.connect_concurrency)
        .collect()
        .await;
    let mut opened = Vec::with_capacity(results.len());
    let mut failed = 0;
    for result in results {
        match result {
            Ok(o) => opened.push(o),
            Err(error) => {
                if failed < 3 {
                    eprintln!("  connect failed: {error:#}");
                }
                failed += 1;
            }
        }
    }
    opened.sort_by_key(|o| o.index);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("  {} connection(s) open in {seconds:.1} s, {failed} failed", opened.len());
    wait_until(Duration::from_secs(30), || {
        opened.iter().all(|o| o.conn.state.got_history.load(Relaxed) || !o.conn.state.is_open())
    })
    .await;
    (opened, failed)
}

/// Polls `done` every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CPU seconds of the server (summed over its nodes when it runs as several processes) and of
/// the load generator over a measured interval.
pub struct Meter {
    /// Each server process with its CPU seconds at the start (`None`: unreadable).
    servers: Vec<(Process, Option<f64>)>,
    /// The run-queue delay of the (first) server at the start.
    server_delay: Option<f64>,
    own_cpu: f64,
    machine: Option<MachineTimes>,
    wall: Instant,
}

impl Meter {
    /// Meters `servers` (none, the one server, or every node of a cluster).
    pub fn start(servers: impl IntoIterator<Item = Process>) -> Self {
        let servers: Vec<(Process, Option<f64>)> = servers.into_iter().map(|p| (p, p.cpu_seconds().ok())).collect();
        Self {
            server_delay: servers.first().and_then(|(p, _)| p.run_delay_seconds().ok()),
            servers,
            own_cpu: Process::Myself.cpu_seconds().unwrap_or(0.0),
            machine: MachineTimes::now().ok(),
            wall: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.wall.elapsed()
    }

    /// `wall_s`, `server_cpu_s`, `server_cpu_pct` (100 = one core), `loadgen_cpu_s`,
    /// `loadgen_cpu_pct`, `server_cpu_us_per_<unit>` for `units` of work, the machine's
    /// `idle_pct` and `steal_pct` (of all CPUs: time the hypervisor gave to other guests), and
    /// `server_run_delay_pct` (time the server's threads waited for a CPU while runnable, 100 =
    /// one thread waiting all the time; the first server's, with several). With
    /// several server processes the server figures are their sum (each process's CPU seconds in
    /// `server_nodes_cpu_s`), and are omitted unless every one could be read.
    pub fn fields(&self, units: u64, unit: &str) -> Map<String, Value> {
        let wall = self.wall.elapsed().as_secs_f64();
        let own = Process::Myself.cpu_seconds().unwrap_or(0.0) - self.own_cpu;
        let mut map = Map::new();
        map.insert("wall_s".into(), json!(round3(wall)));
        map.insert("loadgen_cpu_s".into(), json!(round3(own)));
        map.insert("loadgen_cpu_pct".into(), json!((own / wall * 100.0).round()));
        if let (Some(start), Ok(end)) = (self.machine, MachineTimes::now()) {
            let total = end.total.saturating_sub(start.total).max(1) as f64;
            map.insert("idle_pct".into(), json!((end.idle.saturating_sub(start.idle) as f64 / total * 100.0).round()));
            map.insert(
                "steal_pct".into(),
                json!((end.steal.saturating_sub(start.steal) as f64 / total * 100.0).round()),
            );
        }
        if let (Some((server, _)), Some(start)) = (self.servers.first(), self.server_delay) {
            if let Ok(end) = server.run_delay_seconds() {
                map.insert("server_run_delay_pct".into(), json!(((end - start) / wall * 100.0).round()));
            }
        }
        let each: Option<Vec<f64>> =
            self.servers.iter().map(|&(p, start)| Some(p.cpu_seconds().ok()? - start?)).collect();
        if let Some(each) = each.filter(|each| !each.is_empty()) {
            let cpu: f64 = each.iter().sum();
            map.insert("server_cpu_s".into(), json!(round3(cpu)));
            map.insert("server_cpu_pct".into(), json!((cpu / wall * 100.0).round()));
            if units > 0 {
                map.insert(format!("server_cpu_us_per_{unit}"), json!(round3(cpu * 1e6 / units as f64)));
            }
            if each.len() > 1 {
                map.insert("server_nodes_cpu_s".into(), json!(each.iter().map(|&s| round3(s)).collect::<Vec<_>>()));
            }
        }
        map
    }
}

/// Aborts every read task (closing their sockets when the streams drop).
pub fn close_all(conns: &[Conn]) {
    for conn in conns {
        conn.task.abort();
    }
}
