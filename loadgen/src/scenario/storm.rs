//! `storm`: a catch-up storm. The server is first seeded, through the public protocol and within
//! the flood limit, with many large messages; then many accounts open many sockets each with
//! `/ws?token=..&since=0` and never read a byte (a small receive buffer on each, so the kernel on
//! the load generator's side holds little). An unbounded server would keep the whole catch-up
//! (up to 500 messages, megabytes) waiting for every socket; a bounded one holds a bounded
//! history frame and backlog per socket, and refuses sockets over its caps at the handshake
//! (429 per account, 503 for the server).
//!
//! Reports the handshakes accepted and refused (by status), and the server's RSS before the storm,
//! at its peak (sampled every 50 ms while the sockets are opened and held), at the end of the
//! hold, and after every socket is closed.

use super::{Common, Meter};
use crate::accounts::Accounts;
use crate::args::Args;
use crate::conn::{connect, spawn_reader, ConnState, Role};
use crate::procfs::Process;
use crate::stats::{now_ns, round3, Timeline};
use crate::ws;
use anyhow::{bail, ensure, Context, Result};
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Debug)]
pub struct Params {
    /// Accounts opening storm sockets.
    pub accounts: usize,
    /// Sockets each storm account opens (the server's per-account cap defaults to 20).
    pub sockets_per_account: usize,
    /// Messages seeded before the storm.
    pub seed: usize,
    /// Characters per seeded message (at most 4000; about 1.9 bytes each in UTF-8).
    pub message_chars: usize,
    /// Accounts seeding, each within the flood limit.
    pub seeders: usize,
    /// Messages per second each seeder sends after its first burst.
    pub seed_rate: f64,
    /// Messages each seeder sends at once first.
    pub seed_burst: usize,
    /// Seconds every storm socket is held open, never read, after the last handshake.
    pub hold: f64,
    /// Seconds between closing the storm sockets and the last RSS reading.
    pub settle: f64,
}

impl Params {
    pub fn from_args(args: &Args) -> Result<Self> {
        let params = Self {
            accounts: args.get("accounts", 50)?,
            sockets_per_account: args.get("sockets-per-account", 20)?,
            seed: args.get("seed", 2000)?,
            message_chars: args.get("message-chars", 4000)?,
            seeders: args.get("seeders", 20)?,
            // The server's defaults are a burst of 10 and 5 per second per account: stay below.
            seed_rate: args.get("seed-rate", 4.5)?,
            seed_burst: args.get("seed-burst", 9)?,
            hold: args.get("hold", 10.0)?,
            settle: args.get("settle", 5.0)?,
        };
        ensure!((1..=1000).contains(&params.accounts), "--accounts must be 1..=1000");
        ensure!((1..=1000).contains(&params.sockets_per_account), "--sockets-per-account must be 1..=1000");
        ensure!(params.sockets() <= 19_000, "--accounts x --sockets-per-account must be at most 19000");
        ensure!(params.seed <= 100_000, "--seed must be at most 100000");
        ensure!((40..=4000).contains(&params.message_chars), "--message-chars must be 40..=4000");
        ensure!((1..=200).contains(&params.seeders), "--seeders must be 1..=200");
        ensure!(params.seed_rate > 0.0 && params.seed_rate <= 1000.0, "--seed-rate must be in (0, 1000]");
        ensure!(params.seed_burst <= 1000, "--seed-burst must be at most 1000");
        ensure!((0.0..=600.0).contains(&params.hold), "--hold must be in 0..=600");
        ensure!((0.0..=600.0).contains(&params.settle), "--settle must be in 0..=600");
        Ok(params)
    }

    pub fn sockets(&self) -> usize {
        self.accounts * self.sockets_per_account
    }

    /// Connections open at once at most: the storm's, and the seeders' before it.
    pub fn connections(&self) -> usize {
        self.sockets().max(self.seeders)
    }
}

/// Receive buffer asked for on each storm socket (the kernel doubles it, and keeps a minimum).
const STORM_RCVBUF: u32 = 4096;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the seeding may take.
const SEED_LIMIT: Duration = Duration::from_secs(900);

/// `loadgen storm`.
pub async fn run(common: &Common, params: Params) -> Result<Value> {
    let server = common.server.context("storm needs --server-pid (it measures the server's RSS)")?;
    let seeders = Accounts::prepare(common.addr, &format!("{}s", common.prefix), params.seeders)
        .await
        .context("preparing the seeding accounts")?;
    let storm_accounts = Accounts::prepare(common.addr, &format!("{}t", common.prefix), params.accounts)
        .await
        .context("preparing the storm accounts")?;
    eprintln!("  {} seeding and {} storm account(s) ready", params.seeders, params.accounts);

    let rss_start = server.rss_kib()?;
    let seeded = seed(common, &params, &seeders).await?;
    // Let the seeders' sockets close and the server settle before the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = server.rss_kib()?;
    eprintln!("  server RSS {rss_start} KiB at start, {rss_before} KiB after seeding");

    // The storm: every socket asks for everything since 0 and never reads.
    let peak = Arc::new(AtomicU64::new(rss_before));
    let tcp_before = kernel_tcp_kib();
    let tcp_peak = Arc::new(AtomicU64::new(tcp_before.unwrap_or(0)));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_peak(server, peak.clone(), tcp_peak.clone(), sampling.clone()));
    let meter = Meter::start(common.server);
    let started = Instant::now();
    let sockets = params.sockets();
    let outcomes: Vec<Outcome> = futures::stream::iter(0..sockets)
        .map(|i| {
            let token = storm_accounts.token(i / params.sockets_per_account).to_owned();
            async move { open_storm_socket(common, i, &token).await }
        })
        .buffer_unordered(common.connect_concurrency)
        .collect()
        .await;
    let connect_seconds = started.elapsed().as_secs_f64();
    let mut held = Vec::new();
    let mut refused: BTreeMap<u16, usize> = BTreeMap::new();
    let mut retry_after = None;
    let mut failed = 0;
    for outcome in outcomes {
        match outcome {
            Outcome::Accepted(stream) => held.push(stream),
            Outcome::Refused { status, retry_after: after } => {
                *refused.entry(status).or_default() += 1;
                retry_after = retry_after.or(after);
            }
            Outcome::Failed(error) => {
                if failed < 3 {
                    eprintln!("  storm socket failed: {error:#}");
                }
                failed += 1;
            }
        }
    }
    let refused_total: usize = refused.values().sum();
    eprintln!(
        "  {} of {sockets} handshakes accepted, {refused_total} refused {refused:?}, {failed} failed, in {connect_seconds:.1} s; \
         holding for {} s",
        held.len(),
        params.hold
    );
    tokio::time::sleep(Duration::from_secs_f64(params.hold)).await;
    let rss_held = server.rss_kib()?;
    sampling.store(false, Relaxed);
    let _ = sampler.await;
    let rss_peak = peak.load(Relaxed).max(rss_held);
    let wall = meter.fields(0, "socket");

    let accepted = held.len();
    drop(held);
    tokio::time::sleep(Duration::from_secs_f64(params.settle)).await;
    let rss_after = server.rss_kib()?;
    eprintln!(
        "  server RSS: {rss_before} KiB before, peak {rss_peak} KiB (+{} KiB, {:.1} KiB per accepted socket), \
         {rss_held} KiB at the end of the hold, {rss_after} KiB {} s after closing; kernel TCP buffers {} -> peak {} KiB",
        rss_peak.saturating_sub(rss_before),
        rss_peak.saturating_sub(rss_before) as f64 / accepted.max(1) as f64,
        params.settle,
        tcp_before.unwrap_or(0),
        tcp_peak.load(Relaxed)
    );

    let mut fields = serde_json::Map::new();
    fields.insert("accounts".into(), json!(params.accounts));
    fields.insert("sockets_per_account".into(), json!(params.sockets_per_account));
    fields.insert("sockets".into(), json!(sockets));
    fields.insert("accepted".into(), json!(accepted));
    fields.insert("refused".into(), json!(refused_total));
    fields.insert("refused_429".into(), json!(refused.get(&429).copied().unwrap_or(0)));
    fields.insert("refused_503".into(), json!(refused.get(&503).copied().unwrap_or(0)));
    fields.insert(
        "refused_by_status".into(),
        json!(refused.iter().map(|(status, n)| (status.to_string(), json!(n))).collect::<serde_json::Map<_, _>>()),
    );
    if let Some(after) = retry_after {
        fields.insert("retry_after".into(), json!(after));
    }
    fields.insert("connect_failures".into(), json!(failed));
    fields.insert("connect_s".into(), json!(round3(connect_seconds)));
    fields.insert("hold_s".into(), json!(params.hold));
    fields.insert("settle_s".into(), json!(params.settle));
    fields.insert("seeded".into(), json!(seeded.acked));
    fields.insert("seed_refused".into(), json!(seeded.refused));
    fields.insert("seed_message_bytes".into(), json!(seeded.message_bytes));
    fields.insert("seed_s".into(), json!(round3(seeded.seconds)));
    fields.insert("server_rss_start_kib".into(), json!(rss_start));
    fields.insert("server_rss_before_kib".into(), json!(rss_before));
    fields.insert("server_rss_peak_kib".into(), json!(rss_peak));
    fields.insert("server_rss_held_kib".into(), json!(rss_held));
    fields.insert("server_rss_after_kib".into(), json!(rss_after));
    fields.insert("server_rss_peak_growth_kib".into(), json!(rss_peak.saturating_sub(rss_before)));
    fields.insert(
        "server_rss_per_socket_kib".into(),
        json!(round3(rss_peak.saturating_sub(rss_before) as f64 / accepted.max(1) as f64)),
    );
    // What an unbounded server would hold per socket: the 500 newest messages' content.
    let unbounded = seeded.message_bytes * params.seed.min(500);
    fields.insert("unbounded_catch_up_kib_per_socket".into(), json!(unbounded / 1024));
    if let Some(before) = tcp_before {
        fields.insert("kernel_tcp_before_kib".into(), json!(before));
        fields.insert("kernel_tcp_peak_kib".into(), json!(tcp_peak.load(Relaxed)));
    }
    fields.insert("loadgen_rss_kib".into(), json!(Process::Myself.rss_kib().unwrap_or(0)));
    fields.extend(wall);
    common.emit("storm", format!("storm {}x{}", params.accounts, params.sockets_per_account), fields)
}

/// Samples the server's RSS and the kernel's TCP buffer memory every 50 ms into the peaks while
/// `running`.
async fn sample_peak(server: Process, peak: Arc<AtomicU64>, tcp_peak: Arc<AtomicU64>, running: Arc<AtomicBool>) {
    while running.load(Relaxed) {
        if let Ok(kib) = server.rss_kib() {
            peak.fetch_max(kib, Relaxed);
        }
        if let Some(kib) = kernel_tcp_kib() {
            tcp_peak.fetch_max(kib, Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Memory the kernel holds in TCP buffers, machine-wide, in KiB (`mem` of the `TCP:` line of
/// `/proc/net/sockstat`, in pages): what the server's sockets hold outside its RSS (and the load
/// generator's, kept small here).
fn kernel_tcp_kib() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    parse_sockstat_tcp_pages(&stat).map(|pages| pages * page_size_kib())
}

fn parse_sockstat_tcp_pages(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "mem")?;
    words.next()?.parse().ok()
}

fn page_size_kib() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if bytes > 0 {
        bytes as u64 / 1024
    } else {
        4
    }
}

/// What the seeding did.
struct Seeded {
    acked: u64,
    refused: u64,
    message_bytes: usize,
    seconds: f64,
}

/// Sends `params.seed` large messages, spread over the seeding accounts (one socket each), each
/// account within the flood limit: a burst, then a steady rate; one message in flight per
/// account. Every seeder reads what is broadcast (so none is a slow consumer). A refused message
/// is sent again later (same `client_id`: stored once).
async fn seed(common: &Common, params: &Params, seeders: &Accounts) -> Result<Seeded> {
    let started = Instant::now();
    let timeline = Arc::new(Timeline::new(now_ns(), 1));
    let per_seeder = params.seed.div_ceil(params.seeders);
    let results: Vec<Result<(u64, u64)>> = futures::stream::iter(0..params.seeders)
        .map(|s| {
            let timeline = timeline.clone();
            let quota = per_seeder.min(params.seed.saturating_sub(s * per_seeder)) as u64;
            async move {
                let client = connect(&common.target, s, seeders.token(s), 64 * 1024).await?;
                let writer = client.writer.clone();
                let conn = spawn_reader(client, timeline, Role { sender: Some(s as u64), window: None, room: None });
                let result = seed_one(common, params, s as u64, quota, &writer, &conn.state).await;
                conn.task.abort();
                result
            }
        })
        .buffer_unordered(params.seeders)
        .collect()
        .await;
    let (mut acked, mut refused) = (0, 0);
    for result in results {
        let (a, r) = result?;
        acked += a;
        refused += r;
    }
    let seconds = started.elapsed().as_secs_f64();
    let message_bytes = seed_content(0, 0, 0, params.message_chars).len();
    eprintln!(
        "  seeded {acked} messages of {message_bytes} bytes ({refused} refused and sent again) in {seconds:.1} s"
    );
    ensure!(acked as usize >= params.seed, "only {acked} of {} messages seeded", params.seed);
    Ok(Seeded { acked, refused, message_bytes, seconds })
}

/// One seeder: sends until `quota` of its messages came back as broadcasts.
async fn seed_one(
    common: &Common,
    params: &Params,
    sender: u64,
    quota: u64,
    writer: &crate::conn::Writer,
    state: &ConnState,
) -> Result<(u64, u64)> {
    let deadline = Instant::now() + SEED_LIMIT;
    let period = Duration::from_secs_f64(1.0 / params.seed_rate);
    let start = Instant::now();
    let mut next_due = start;
    let mut seq = 0u64;
    let mut sent_burst = 0usize;
    let mut out = Vec::with_capacity(params.message_chars * 2 + 256);
    while state.acked.load(Relaxed) < quota {
        ensure!(Instant::now() < deadline, "seeder {sender}: not done within {} s", SEED_LIMIT.as_secs());
        ensure!(state.is_open(), "seeder {sender}: the server closed its socket ({})", state.ended.load(Relaxed));
        if sent_burst >= params.seed_burst {
            tokio::time::sleep_until(next_due.into()).await;
            next_due = next_due.max(Instant::now() - period) + period;
        } else {
            sent_burst += 1;
            next_due = Instant::now() + period;
        }
        // One in flight: wait for this message's broadcast or refusal.
        let (acked_before, refused_before) = (state.acked.load(Relaxed), state.refused.load(Relaxed));
        let content = seed_content(now_ns(), sender, seq, params.message_chars);
        let client_id = format!("{}-{sender}-{seq}", common.nonce);
        let frame = json!({"type": "message", "content": content, "client_id": client_id}).to_string();
        out.clear();
        ws::encode_text(&mut out, &frame);
        if writer.lock().await.write_all(&out).await.is_err() {
            bail!("seeder {sender}: the connection was lost");
        }
        let answered = super::wait_until(Duration::from_secs(30), || {
            state.acked.load(Relaxed) > acked_before || state.refused.load(Relaxed) > refused_before || !state.is_open()
        })
        .await;
        ensure!(answered, "seeder {sender}: no answer to message {seq} within 30 s");
        if state.refused.load(Relaxed) > refused_before {
            // Refused (over the flood limit after all): back off for one period.
            tokio::time::sleep(period).await;
        }
        seq += 1;
    }
    Ok((state.acked.load(Relaxed).min(quota), state.refused.load(Relaxed)))
}

/// A seeded message: the bench prefix (so the seeder recognises its own broadcasts), then words
/// of two-byte characters up to `chars` characters.
fn seed_content(sent_ns: u64, sender: u64, seq: u64, chars: usize) -> String {
    let mut content = format!("bench {sent_ns} {sender} {seq} ");
    const WORD: &str = "ééééééé ";
    while content.chars().count() + WORD.chars().count() <= chars {
        content.push_str(WORD);
    }
    content.truncate(content.trim_end().len());
    content
}

/// How one storm handshake ended.
enum Outcome {
    /// Upgraded: the socket, held open and never read.
    Accepted(TcpStream),
    Refused {
        status: u16,
        retry_after: Option<String>,
    },
    Failed(anyhow::Error),
}

/// Opens storm socket `i`: a small receive buffer, the handshake for `since=0`, and nothing read
/// past the response head.
async fn open_storm_socket(common: &Common, i: usize, token: &str) -> Outcome {
    let attempt = async {
        let source = common.target.sources[i % common.target.sources.len()];
        let socket = crate::conn::socket_from(source)?;
        socket.set_recv_buffer_size(STORM_RCVBUF)?;
        let mut tcp = socket.connect(common.addr).await?;
        let request = format!(
            "GET /ws?token={token}&since=0 HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            common.addr
        );
        tcp.write_all(request.as_bytes()).await?;
        let head = read_head(&mut tcp).await?;
        Ok::<_, anyhow::Error>((tcp, head))
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, attempt).await {
        Err(_) => Outcome::Failed(anyhow::anyhow!("storm socket {i}: handshake timed out")),
        Ok(Err(error)) => Outcome::Failed(error.context(format!("storm socket {i}"))),
        Ok(Ok((tcp, head))) => match parse_head(&head) {
            Some((101, _)) => Outcome::Accepted(tcp),
            Some((status, retry_after)) => Outcome::Refused { status, retry_after },
            None => Outcome::Failed(anyhow::anyhow!("storm socket {i}: no HTTP status line in {head:?}")),
        },
    }
}

/// Reads the response head one byte at a time (so not a byte of the frames after it is read).
async fn read_head(tcp: &mut TcpStream) -> Result<String> {
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        ensure!(head.len() < 16 * 1024, "response head too long");
        let byte = tcp.read_u8().await.context("connection closed during the handshake")?;
        head.push(byte);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The status code and `Retry-After` of a response head.
fn parse_head(head: &str) -> Option<(u16, Option<String>)> {
    let status = head.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
    let retry_after = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("retry-after").then(|| value.trim().to_owned())
    });
    Some((status, retry_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_content_is_a_bench_message_within_the_limit() {
        let content = seed_content(123, 4, 5, 4000);
        assert!(content.chars().count() <= 4000);
        assert!(content.len() > 7000, "{} bytes", content.len());
        let frame = format!(r#"{{"type":"message","id":9,"content":{}}}"#, json!(content));
        let crate::conn::Parsed::Message { bench: Some(bench), .. } = crate::conn::classify(&frame) else { panic!() };
        assert_eq!((bench.sent_ns, bench.sender, bench.seq), (123, 4, 5));
    }

    #[test]
    fn reads_kernel_tcp_memory() {
        let stat = "sockets: used 180\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 123\nUDP: inuse 1 mem 4\n";
        assert_eq!(parse_sockstat_tcp_pages(stat), Some(123));
        assert_eq!(parse_sockstat_tcp_pages("UDP: inuse 1 mem 4\n"), None);
    }

    #[test]
    fn reads_status_and_retry_after() {
        let head = "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nRetry-After: 5\r\n\r\n";
        assert_eq!(parse_head(head), Some((429, Some("5".into()))));
        assert_eq!(parse_head("HTTP/1.1 101 Switching Protocols\r\n\r\n"), Some((101, None)));
        assert_eq!(parse_head("garbage"), None);
    }
}
