//! WebSocket connections: opening many (source addresses spread over 127.0.0.x, bounded
//! concurrency, retries), the read loop every connection runs (latency of each bench message,
//! ordering, refusals, how the connection ended), and the two ways a sender writes (paced at a
//! fixed rate, or windowed: as fast as acknowledgements allow).
//!
//! A bench message's content is `bench <send time ns> <sender index> <sequence>`; its `client_id`
//! is `<run nonce>-<sender>-<sequence>`, unique across runs on the same database; it names its
//! conversation with `room_id` when it is not `general`. Receivers read the three numbers (and,
//! for a connection in a room, the message's `room_id`) with a substring search, never a full
//! JSON parse, to keep the load generator cheap next to the server it measures.

use crate::stats::{now_ns, Timeline};
use crate::ws::{self, Frame, Reader};
use anyhow::{anyhow, Context, Result};
use memchr::memmem::Finder;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpSocket;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;

/// The writing side of a connection, shared by its sender loop and its reader (for pongs).
pub type Writer = Arc<Mutex<OwnedWriteHalf>>;

/// An open WebSocket connection, its history frame not read yet.
pub struct Client {
    pub reader: Reader,
    pub writer: Writer,
}

/// Where to connect, and from which local addresses.
pub struct Target {
    pub addr: SocketAddr,
    /// Local addresses connections are spread over (round-robin), each with its own port range.
    pub sources: Vec<Ipv4Addr>,
}

impl Target {
    /// `sources` addresses starting at 127.0.0.1 (at most 254).
    pub fn new(addr: SocketAddr, sources: usize) -> Self {
        let sources = (1..=sources.clamp(1, 254) as u8).map(|last| Ipv4Addr::new(127, 0, 0, last)).collect();
        Self { addr, sources }
    }

    fn source(&self, i: usize) -> Ipv4Addr {
        self.sources[i % self.sources.len()]
    }
}

/// A socket bound to `source` (a port chosen only when it connects), ready to connect.
///
/// A plain `bind` to port 0 makes the kernel choose the port at once, checking it against every
/// socket bound to that address (thousands here, and the previous run's in `TIME_WAIT`): measured,
/// that search took the load generator a whole core and made 10,000 connections take 10-20 s
/// instead of 3. With `IP_BIND_ADDRESS_NO_PORT` the port is chosen by `connect`, which needs it
/// free only for this one destination.
pub fn socket_from(source: Ipv4Addr) -> std::io::Result<TcpSocket> {
    use std::os::fd::AsRawFd;
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a pointer to a c_int of the length given.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    Ok(socket)
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_ATTEMPTS: usize = 3;

/// Opens connection number `i`: TCP from the i-th source address, then the WebSocket handshake
/// with `?token=`. `read_buffer` is the least room the reader asks the kernel to fill per read.
pub async fn connect(target: &Target, i: usize, token: &str, read_buffer: usize) -> Result<Client> {
    let attempt = async {
        let mut tcp = socket_from(target.source(i))?.connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        let leftover = ws::handshake(&mut tcp, &target.addr.to_string(), &format!("/ws?token={token}")).await?;
        let (read, write) = tcp.into_split();
        Ok::<_, anyhow::Error>(Client {
            reader: Reader::new(read, leftover, read_buffer),
            writer: Arc::new(Mutex::new(write)),
        })
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt).await.map_err(|_| anyhow!("connect timed out"))?
}

/// `connect`, retried a few times with a short back-off.
pub async fn connect_retrying(target: &Target, i: usize, token: &str, read_buffer: usize) -> Result<Client> {
    let mut last = anyhow!("no attempt");
    for attempt in 0..CONNECT_ATTEMPTS {
        match connect(target, i, token, read_buffer).await {
            Ok(ws) => return Ok(ws),
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
    Err(last).with_context(|| format!("connection {i}"))
}

/// Everything one connection observed, shared with the coordinator.
#[derive(Default)]
pub struct ConnState {
    /// Bench messages received (broadcasts of this run).
    pub received: AtomicU64,
    /// This connection's own messages received back: its acknowledgements (senders only).
    pub acked: AtomicU64,
    /// `error` / `warning` / `blocked` frames received.
    pub refused: AtomicU64,
    /// Messages whose id did not exceed the previous one (duplicates or reordering).
    pub disorder: AtomicU64,
    /// Messages of another conversation than the connection's room (connections in a room only);
    /// not counted as received.
    pub misrouted: AtomicU64,
    /// Frames of types the load generator does not use (`rooms`, `presence`, `member`, ...).
    pub other: AtomicU64,
    pub last_id: AtomicI64,
    pub got_history: AtomicBool,
    /// 0 while open; the close code when the server closed it; 1 for a drop without close frame.
    pub ended: AtomicU32,
}

/// `ConnState::ended` value for a connection lost without a close frame.
pub const ENDED_WITHOUT_CLOSE: u32 = 1;

impl ConnState {
    pub fn is_open(&self) -> bool {
        self.ended.load(Relaxed) == 0
    }
}

/// What a connection does besides receiving: nothing (listener), or it is sender `index`, whose
/// own messages coming back release slots of its send window; and the room it is in, if it is in
/// one: every message must then be of that room (others are counted as misrouted).
#[derive(Clone, Default)]
pub struct Role {
    pub sender: Option<u64>,
    pub window: Option<Arc<Semaphore>>,
    pub room: Option<u64>,
}

/// A spawned connection: its state and its read task (aborted at the end of a run, which drops
/// the socket).
pub struct Conn {
    pub state: Arc<ConnState>,
    pub task: JoinHandle<()>,
}

/// Simulated client work per text frame received, in nanoseconds (`--frame-work-us`; 0: none).
/// This load generator spends well under a microsecond on a frame; a client that parses every
/// frame as JSON (a browser, most libraries) spends several, and on a machine shared with the
/// server that CPU is no longer the server's.
pub static FRAME_WORK_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Spins for [`FRAME_WORK_NS`].
fn simulated_frame_work() {
    let nanos = FRAME_WORK_NS.load(Relaxed);
    if nanos > 0 {
        let until = std::time::Instant::now() + std::time::Duration::from_nanos(nanos);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
    }
}

/// Spawns the read loop of `client`.
pub fn spawn_reader(client: Client, timeline: Arc<Timeline>, role: Role) -> Conn {
    let state = Arc::new(ConnState::default());
    let task = tokio::spawn(read_loop(client, state.clone(), timeline, role));
    Conn { state, task }
}

/// Reads until the connection ends (or the task is aborted), recording every frame in `state`
/// and answering pings.
async fn read_loop(client: Client, state: Arc<ConnState>, timeline: Arc<Timeline>, role: Role) {
    let Client { mut reader, writer } = client;
    loop {
        let mut ping: Option<Vec<u8>> = None;
        let mut close: Option<u32> = None;
        let result = reader
            .next_frames(|frame| match frame {
                Frame::Text(bytes) => {
                    if let Ok(text) = std::str::from_utf8(bytes) {
                        on_text(text, &state, &timeline, &role);
                    }
                    simulated_frame_work();
                }
                Frame::Ping(payload) => ping = Some(payload.to_vec()),
                Frame::Close(code) => close = Some(code.map(u32::from).unwrap_or(1005)),
                Frame::Binary | Frame::Pong => {}
            })
            .await;
        if let Some(code) = close {
            state.ended.store(code, Relaxed);
            return;
        }
        if !matches!(result, Ok(true)) {
            break;
        }
        if let Some(payload) = ping {
            if ws::write_pong(&mut *writer.lock().await, &payload).await.is_err() {
                break;
            }
        }
    }
    state.ended.store(ENDED_WITHOUT_CLOSE, Relaxed);
}

fn on_text(text: &str, state: &ConnState, timeline: &Timeline, role: &Role) {
    match classify(text) {
        Parsed::Message { id, bench } => {
            if id <= state.last_id.swap(id, Relaxed) {
                state.disorder.fetch_add(1, Relaxed);
            }
            if role.room.is_some() && message_room(text) != role.room {
                state.misrouted.fetch_add(1, Relaxed);
                return;
            }
            let Some(bench) = bench else { return };
            state.received.fetch_add(1, Relaxed);
            timeline.record(bench.sent_ns, now_ns());
            if role.sender == Some(bench.sender) {
                state.acked.fetch_add(1, Relaxed);
                if let Some(window) = &role.window {
                    window.add_permits(1);
                }
            }
        }
        Parsed::History => state.got_history.store(true, Relaxed),
        Parsed::Refusal => {
            state.refused.fetch_add(1, Relaxed);
            if let Some(window) = &role.window {
                window.add_permits(1);
            }
        }
        Parsed::Other => {
            state.other.fetch_add(1, Relaxed);
        }
    }
}

/// The numbers a bench message's content carries.
#[derive(Debug, PartialEq, Eq)]
pub struct Bench {
    pub sent_ns: u64,
    pub sender: u64,
    pub seq: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Message { id: i64, bench: Option<Bench> },
    History,
    Refusal,
    Other,
}

/// Classifies a server frame by its leading `type` (serde writes the tag first).
pub fn classify(text: &str) -> Parsed {
    let Some(rest) = text.strip_prefix(r#"{"type":""#) else { return Parsed::Other };
    let kind = rest.split('"').next().unwrap_or("");
    match kind {
        "message" => match message_id(text) {
            Some(id) => Parsed::Message { id: id as i64, bench: parse_bench(text) },
            None => Parsed::Other,
        },
        "history" => Parsed::History,
        "error" | "warning" | "blocked" => Parsed::Refusal,
        _ => Parsed::Other,
    }
}

fn parse_bench(text: &str) -> Option<Bench> {
    static CONTENT: OnceLock<Finder<'static>> = OnceLock::new();
    const PREFIX: &str = r#""content":"bench "#;
    let finder = CONTENT.get_or_init(|| Finder::new(PREFIX));
    let start = finder.find(text.as_bytes())? + PREFIX.len();
    let content = text[start..].split('"').next()?;
    let mut numbers = content.split(' ').map(|n| n.parse::<u64>().ok());
    Some(Bench { sent_ns: numbers.next()??, sender: numbers.next()??, seq: numbers.next()?? })
}

/// The number following the first `"id":` (the message id).
fn message_id(text: &str) -> Option<u64> {
    static ID: OnceLock<Finder<'static>> = OnceLock::new();
    number_after(text, ID.get_or_init(|| Finder::new(r#""id":"#)), r#""id":"#.len())
}

/// The number following the first `"room_id":` of a message frame (its conversation). A quote
/// inside a string value is escaped, so only the key itself can match.
pub fn message_room(text: &str) -> Option<u64> {
    static ROOM: OnceLock<Finder<'static>> = OnceLock::new();
    number_after(text, ROOM.get_or_init(|| Finder::new(r#""room_id":"#)), r#""room_id":"#.len())
}

/// The unsigned number right after the first match of `key` (`key_len` bytes) in `text`.
fn number_after(text: &str, key: &Finder<'_>, key_len: usize) -> Option<u64> {
    let start = key.find(text.as_bytes())? + key_len;
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

/// The client frame of bench message `seq` of sender `sender`, stamped with the time now, into
/// conversation `room` (`None`: no `room_id`, i.e. `general`).
pub fn bench_frame(nonce: &str, sender: u64, seq: u64, room: Option<u64>) -> String {
    let sent = now_ns();
    let head =
        format!(r#"{{"type":"message","content":"bench {sent} {sender} {seq}","client_id":"{nonce}-{sender}-{seq}""#);
    match room {
        Some(room) => format!(r#"{head},"room_id":{room}}}"#),
        None => head + "}",
    }
}

/// Counters of one sender's writing side.
#[derive(Default)]
pub struct SendStats {
    pub sent: AtomicU64,
    /// Worst delay between a message's scheduled time and its actual send (paced senders).
    pub max_lag_ns: AtomicU64,
}

/// A paced sender's schedule: message `n` is due at `start + offset + n * period`; it sends as
/// sender `index` into `room` (`None`: `general`).
pub struct Pace {
    pub index: u64,
    pub room: Option<u64>,
    pub start: Instant,
    pub offset: Duration,
    pub period: Duration,
    pub max_count: u64,
}

/// Sends on schedule until `max_count` messages are sent or `stop` is set. A late sender catches
/// up by sending at once (open loop: the server's pace does not slow the schedule).
pub async fn send_paced(writer: Writer, pace: Pace, nonce: Arc<str>, stop: Arc<AtomicBool>, stats: Arc<SendStats>) {
    let mut out = Vec::with_capacity(256);
    for seq in 0..pace.max_count {
        let due = pace.start + pace.offset + pace.period.mul_f64(seq as f64);
        tokio::time::sleep_until(due.into()).await;
        if stop.load(Relaxed) {
            break;
        }
        let lag = Instant::now().saturating_duration_since(due).as_nanos() as u64;
        stats.max_lag_ns.fetch_max(lag, Relaxed);
        out.clear();
        ws::encode_text(&mut out, &bench_frame(&nonce, pace.index, seq, pace.room));
        if writer.lock().await.write_all(&out).await.is_err() {
            break;
        }
        stats.sent.fetch_add(1, Relaxed);
    }
}

/// Most frames written at once by a windowed sender.
const WINDOWED_BATCH: usize = 64;

/// Sends as fast as the window allows until `deadline`: one slot per message in flight, freed
/// by its acknowledgement (the sender's own copy of the broadcast) or its refusal. Messages whose
/// slots are free together are written with one system call.
pub async fn send_windowed(
    writer: Writer,
    index: u64,
    window: Arc<Semaphore>,
    deadline: Instant,
    nonce: Arc<str>,
    stats: Arc<SendStats>,
) {
    let mut seq = 0u64;
    let mut out = Vec::with_capacity(WINDOWED_BATCH * 128);
    while Instant::now() < deadline {
        let Ok(Ok(first)) = tokio::time::timeout_at(deadline.into(), window.acquire()).await else { break };
        first.forget();
        let mut batch = 1;
        while batch < WINDOWED_BATCH {
            match window.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    batch += 1;
                }
                Err(_) => break,
            }
        }
        out.clear();
        for _ in 0..batch {
            ws::encode_text(&mut out, &bench_frame(&nonce, index, seq, None));
            seq += 1;
        }
        if writer.lock().await.write_all(&out).await.is_err() {
            return;
        }
        stats.sent.fetch_add(batch as u64, Relaxed);
    }
}

/// The sum of one counter over many connections.
pub fn total(conns: &[Conn], counter: impl Fn(&ConnState) -> &AtomicU64) -> u64 {
    conns.iter().map(|c| counter(&c.state).load(Relaxed)).sum()
}

/// Connections that ended (closed by the server or dropped), with their codes.
pub fn ended(conns: &[Conn]) -> Vec<u32> {
    conns.iter().map(|c| c.state.ended.load(Relaxed)).filter(|&code| code != 0).collect()
}

/// Spawns the reader of a sender connection with `role`; returns its writer and the connection.
pub fn spawn_sender(client: Client, timeline: Arc<Timeline>, role: Role) -> (Writer, Conn) {
    let writer = client.writer.clone();
    (writer, spawn_reader(client, timeline, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_frames() {
        let message = r#"{"type":"message","id":42,"username":"a","content":"bench 123 4 5","timestamp":"t","room":"general","client_id":"x-4-5"}"#;
        assert_eq!(
            classify(message),
            Parsed::Message { id: 42, bench: Some(Bench { sent_ns: 123, sender: 4, seq: 5 }) }
        );
        let other = r#"{"type":"message","id":7,"username":"a","content":"hello","timestamp":"t","room":"general"}"#;
        assert_eq!(classify(other), Parsed::Message { id: 7, bench: None });
        assert_eq!(classify(r#"{"type":"history","messages":[],"more":false}"#), Parsed::History);
        assert_eq!(classify(r#"{"type":"error","message":"slow down"}"#), Parsed::Refusal);
        assert_eq!(classify("garbage"), Parsed::Other);
    }

    #[test]
    fn frames_round_trip() {
        let frame = bench_frame("n1", 3, 9, None);
        let value: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(value["client_id"], "n1-3-9");
        assert!(value.get("room_id").is_none());
        let echoed = format!(r#"{{"type":"message","id":1,"content":{}}}"#, value["content"]);
        let Parsed::Message { bench: Some(bench), .. } = classify(&echoed) else { panic!("{echoed}") };
        assert_eq!((bench.sender, bench.seq), (3, 9));
        let in_room: serde_json::Value = serde_json::from_str(&bench_frame("n1", 3, 10, Some(42))).unwrap();
        assert_eq!((in_room["room_id"].as_u64(), in_room["type"].as_str()), (Some(42), Some("message")));
    }

    #[test]
    fn reads_the_room_of_a_message() {
        let message = r#"{"type":"message","id":42,"sender_id":7,"username":"a","content":"say \"room_id\":9","timestamp":"t","room":"r","room_id":17,"client_id":"x"}"#;
        assert_eq!(message_room(message), Some(17));
        assert_eq!(message_room(r#"{"type":"message","id":42,"content":"c"}"#), None);
        assert_eq!(message_room(r#"{"type":"message","room_id":"x"}"#), None);
    }

    /// A connection in a room counts another room's messages as misrouted, not as received.
    #[test]
    fn counts_misrouted_messages() {
        let (state, timeline) = (ConnState::default(), Timeline::new(0, 1));
        let role = Role { sender: Some(3), room: Some(17), ..Role::default() };
        let frame = |id: u64, room: u64, sender: u64| {
            format!(r#"{{"type":"message","id":{id},"content":"bench 1 {sender} 0","room":"r","room_id":{room}}}"#)
        };
        on_text(&frame(1, 17, 3), &state, &timeline, &role);
        on_text(&frame(2, 17, 4), &state, &timeline, &role);
        on_text(&frame(3, 18, 5), &state, &timeline, &role);
        on_text(r#"{"type":"presence","username":"b","online":true}"#, &state, &timeline, &role);
        let count = |c: &AtomicU64| c.load(Relaxed);
        assert_eq!((count(&state.received), count(&state.acked)), (2, 1));
        assert_eq!((count(&state.misrouted), count(&state.other), count(&state.disorder)), (1, 1, 0));
    }
}
