//! `fanout`: N listeners and S senders; the senders send at an aggregate R messages/s for T s
//! (open loop, evenly spaced, sender k offset by k/R), every connection (senders too: their own
//! copy is their acknowledgement) records the end-to-end latency of every message from the send
//! time it carries. Reports deliveries/s, latency quantiles, lost deliveries, dropped connections
//! and the server's CPU time per delivery.
//!
//! With `--addr2` the fanout spans two nodes of a cluster: listeners alternate between `--addr`
//! and `--addr2` (half on each), and so do senders, starting with `--addr2`, so every message
//! reaches half its listeners through the other node. Accounts are registered and logged in on
//! `--addr` (the nodes share the database and the token secret). Latency and losses are counted
//! as on one node; the server CPU figures are the sum over both nodes when both pids are given.
//!
//! Also the engine of `login` (a fanout with a login burst in the middle): `setup`, `start`,
//! optionally `stop` early, then `finish`. The schedule and the accounting are `paced`'s, shared
//! with `rooms`.

use super::open_listeners_on;
use super::paced::{Engine, Schedule, Sender};
use super::Common;
use crate::accounts::Accounts;
use crate::args::Args;
use crate::conn::{connect_retrying, spawn_sender, Role, Target};
use crate::procfs::Process;
use crate::stats::{now_ns, whole_or_fraction, Timeline};
use anyhow::{bail, ensure, Result};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
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
    /// The second node of a two-node fanout (`--addr2`); `None`: one server.
    pub second: Option<SecondNode>,
}

/// The second node of a two-node fanout: its address and, for its CPU time, its pid.
#[derive(Clone, Copy, Debug)]
pub struct SecondNode {
    pub addr: SocketAddr,
    pub server: Option<u32>,
}

impl SecondNode {
    /// `--addr2` and `--server-pid2`: both nodes' pids or neither (CPU figures are summed over
    /// the nodes, and half of them would be a wrong figure).
    fn from_args(args: &Args) -> Result<Option<Self>> {
        let addr: Option<SocketAddr> = args.opt("addr2")?;
        let server: Option<u32> = args.opt("server-pid2")?;
        let first_server: Option<u32> = args.opt("server-pid")?;
        let Some(addr) = addr else {
            if server.is_some() {
                bail!("--server-pid2 needs --addr2");
            }
            return Ok(None);
        };
        ensure!(addr.ip().is_loopback(), "loopback addresses only (got --addr2 {addr})");
        ensure!(
            server.is_some() == first_server.is_some(),
            "with --addr2, give both --server-pid and --server-pid2 (the CPU figures are their sum), or neither"
        );
        Ok(Some(Self { addr, server }))
    }
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self {
            listeners: args.get("listeners", 100)?,
            senders: args.get("senders", 4)?,
            rate: args.get("rate", 20.0)?,
            duration: args.get("duration", 20.0)?,
            drain: args.get("drain", 10.0)?,
            second: SecondNode::from_args(args)?,
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
        let nodes = if self.second.is_some() { " on 2 nodes" } else { "" };
        format!("fanout {}x{}{nodes}", self.listeners, whole_or_fraction(self.rate))
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
    /// k, so per-account flood control sees each sender alone). With a second node, listener k
    /// connects to node k % 2 and sender k to node (k + 1) % 2 (node 0 is `--addr`).
    pub async fn setup(common: &Common, accounts: &Accounts, params: Params) -> Result<Self> {
        ensure!(accounts.tokens.len() >= params.senders, "need at least one account per sender");
        let schedule = Schedule { rate: params.rate, duration: params.duration, drain: params.drain };
        let timeline = Engine::timeline_for(&schedule, now_ns());
        let second = params.second.map(|node| Target::new(node.addr, common.target.sources.len()));
        let targets: Vec<&Target> = std::iter::once(&common.target).chain(second.as_ref()).collect();
        let (mut conns, mut connect_failures) =
            open_listeners_on(common, &targets, accounts, params.senders, params.listeners, READ_BUFFER, &timeline)
                .await;
        let listeners = conns.len();
        let mut senders = Vec::new();
        for index in 0..params.senders {
            let target = targets[sender_node(index, targets.len())];
            match connect_retrying(target, index, accounts.token(index), READ_BUFFER).await {
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
        let mut engine = Engine::new(schedule, timeline, conns, everyone, senders, connect_failures);
        engine.meter_also(params.second.and_then(|node| node.server).map(Process::Pid));
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
    if let Some(second) = params.second {
        ensure!(second.addr != common.addr, "--addr2 must be another server than --addr");
        eprintln!("  and against {}: listeners and senders alternate between the two nodes", second.addr);
    }
    let accounts = common.accounts(common.users.max(params.senders)).await?;
    let mut fanout = Fanout::setup(common, &accounts, params.clone()).await?;
    eprintln!("  sending {} msgs/s for {} s", params.rate, params.duration);
    fanout.start(common);
    let mut fields = fanout.finish().await?;
    match params.second {
        None => {
            if let Some(rss) = common.server_rss_kib() {
                fields.insert("server_rss_kib".into(), json!(rss));
            }
        }
        Some(second) => {
            fields.insert("nodes".into(), json!(2));
            let node2 = second.server.and_then(|pid| Process::Pid(pid).rss_kib().ok());
            if let (Some(first), Some(node2)) = (common.server_rss_kib(), node2) {
                fields.insert("server_rss_kib".into(), json!(first + node2));
                fields.insert("server_nodes_rss_kib".into(), json!([first, node2]));
            }
        }
    }
    summarize(&fields);
    common.emit("fanout", params.label(), fields)
}

/// The node sender `index` connects to, of `nodes` (listener k connects to node k % nodes): with
/// two nodes the first sender is on the second node, so the senders alternate against the
/// listeners and every sender's messages reach both nodes' listeners.
fn sender_node(index: usize, nodes: usize) -> usize {
    (index + 1) % nodes
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
    if let Some(each) = fields.get("server_nodes_cpu_s") {
        eprintln!("  server CPU by node: {each} s");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> Result<Params> {
        let args = Args::parse(std::iter::once("fanout").chain(options.iter().copied()).map(String::from))?;
        let params = Params::from_args(&args)?;
        args.opt::<SocketAddr>("addr")?;
        args.finish()?;
        Ok(params)
    }

    #[test]
    fn one_node_by_default() {
        let params = parse(&["--listeners", "1000", "--rate", "100", "--server-pid", "7"]).unwrap();
        assert!(params.second.is_none());
        assert_eq!(params.label(), "fanout 1000x100");
        assert!(parse(&["--server-pid2", "8"]).is_err(), "--server-pid2 without --addr2");
    }

    #[test]
    fn two_nodes() {
        let params = parse(&["--addr2", "127.0.0.1:3001", "--listeners", "1000", "--rate", "100"]).unwrap();
        let second = params.second.unwrap();
        assert_eq!((second.addr.port(), second.server), (3001, None));
        assert_eq!(params.label(), "fanout 1000x100 on 2 nodes");
        let both = parse(&["--addr2", "127.0.0.1:3001", "--server-pid", "7", "--server-pid2", "8"]).unwrap();
        assert_eq!(both.second.unwrap().server, Some(8));
        // One pid of two would make the summed CPU figure half of one.
        assert!(parse(&["--addr2", "127.0.0.1:3001", "--server-pid", "7"]).is_err());
        assert!(parse(&["--addr2", "127.0.0.1:3001", "--server-pid2", "8"]).is_err());
        assert!(parse(&["--addr2", "10.0.0.1:3001"]).is_err(), "loopback only");
    }

    #[test]
    fn senders_alternate_starting_on_the_second_node() {
        let nodes: Vec<usize> = (0..4).map(|k| sender_node(k, 2)).collect();
        assert_eq!(nodes, [1, 0, 1, 0]);
        assert!((0..4).all(|k| sender_node(k, 1) == 0));
    }
}
