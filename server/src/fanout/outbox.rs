//! A connection's way out, and the fan-out that writes the live feed into sockets directly.
//!
//! Every frame the server sends goes through the connection's [`Outbox`], under its lock, so
//! frames never interleave and keep their order. The fast path is a non-blocking write straight
//! into the socket from whoever has the frame: a [`Shard`] task of the fan-out (live messages), the
//! connection's own task (history, answers, pings) or the group-commit writer (an outcome). A
//! delivery therefore wakes no per-connection task and costs one `send` per socket per wave. Only
//! when a socket's buffer is full does the rest wait in the outbox's backlog, for the connection's
//! own task to write when the socket is writable again; a connection whose backlog grows past its
//! bounds (in frames and in bytes) is closed with 1013 (it catches up with `since` when it
//! reconnects).

use super::wire::{self, close_code};
use bytes::{Bytes, BytesMut};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

/// The reason of the 1013 close frame of a connection that fell too far behind.
const TOO_SLOW: &str = "too slow: reconnect with since";

/// A stored message, encoded once as a complete WebSocket frame; every connection shares it.
#[derive(Clone)]
pub struct Delivery {
    pub id: i64,
    /// Its conversation and sender: who may see it.
    pub room_id: i64,
    pub sender_id: i64,
    pub frame: Bytes,
}

/// Messages released together: each open connection gets them in one write.
pub struct Wave {
    first_id: i64,
    last_id: i64,
    /// Every frame of the wave, back to back: what an up-to-date connection is sent.
    bytes: Bytes,
    /// Each message's id and frame (slices of `bytes`), for a connection that has already
    /// been sent some of them (it joined while they were being stored).
    parts: Vec<Delivery>,
}

impl Wave {
    /// A wave of `deliveries`, in id order. `None` if there are none.
    pub fn new(deliveries: impl IntoIterator<Item = Delivery>) -> Option<Self> {
        let deliveries: Vec<Delivery> = deliveries.into_iter().collect();
        let (first_id, last_id) = (deliveries.first()?.id, deliveries.last()?.id);
        let mut bytes = BytesMut::with_capacity(deliveries.iter().map(|d| d.frame.len()).sum());
        let mut ranges = Vec::with_capacity(deliveries.len());
        for delivery in &deliveries {
            let start = bytes.len();
            bytes.extend_from_slice(&delivery.frame);
            ranges.push((delivery, start..bytes.len()));
        }
        let bytes = bytes.freeze();
        let parts = ranges
            .into_iter()
            .map(|(delivery, range)| Delivery { frame: bytes.slice(range), ..delivery.clone() })
            .collect();
        Some(Self { first_id, last_id, bytes, parts })
    }

    /// Several queued waves as one.
    fn merge(waves: &[Arc<Wave>]) -> Option<Self> {
        Self::new(waves.iter().flat_map(|wave| wave.parts.iter().cloned()))
    }

    /// What a connection that has been sent everything up to `last_sent` still needs. The
    /// common case borrows the shared buffer: its reference count is one cache line that every
    /// shard would otherwise bounce between cores for each socket.
    fn after(&self, last_sent: i64) -> Option<(Cow<'_, Bytes>, usize)> {
        if self.last_id <= last_sent {
            None
        } else if self.first_id > last_sent {
            Some((Cow::Borrowed(&self.bytes), self.parts.len()))
        } else {
            let rest: Vec<&Delivery> = self.parts.iter().filter(|d| d.id > last_sent).collect();
            let mut bytes = BytesMut::with_capacity(rest.iter().map(|d| d.frame.len()).sum());
            rest.iter().for_each(|d| bytes.extend_from_slice(&d.frame));
            Some((Cow::Owned(bytes.freeze()), rest.len()))
        }
    }
}

/// How a connection ends, once its end is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Send this close frame, then close the socket.
    Close(u16, &'static str),
    /// The peer is gone or broke the socket: just close it.
    Gone,
}

/// The way out of one connection.
pub struct Outbox {
    socket: TcpStream,
    state: Mutex<OutState>,
    /// Wakes the connection's task: a backlog to write, or an end.
    wake: Notify,
    /// What may wait in the backlog behind its front.
    limits: BacklogLimits,
}

/// How far behind a connection may fall before it is closed with 1013: frames and bytes waiting
/// in its backlog (behind the front, which may be half written: a single large frame or wave
/// the socket took only part of is not by itself a sign of a slow consumer).
#[derive(Debug, Clone, Copy)]
pub struct BacklogLimits {
    pub frames: usize,
    pub bytes: usize,
}

#[derive(Default)]
struct OutState {
    /// Bytes not yet written, oldest first, each with the number of frames it holds.
    backlog: VecDeque<(Bytes, usize)>,
    backlog_frames: usize,
    backlog_bytes: usize,
    /// History not sent yet: the live waves that arrived meanwhile, kept until it is.
    joining: Option<Vec<Arc<Wave>>>,
    /// Frames and bytes of the waves in `joining`, bounded like the backlog.
    joining_frames: usize,
    joining_bytes: usize,
    /// Highest message id this connection has been sent.
    last_sent: i64,
    /// Once set, nothing more is written but the close frame.
    end: Option<End>,
}

impl Outbox {
    /// The outbox of a connection that has yet to be sent its history.
    pub fn new(socket: TcpStream, limits: BacklogLimits) -> Self {
        let state = OutState { joining: Some(Vec::new()), ..OutState::default() };
        Self { socket, state: Mutex::new(state), wake: Notify::new(), limits }
    }

    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    fn lock(&self) -> MutexGuard<'_, OutState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Acknowledges a message that was stored before (a retried `client_id`) with the original.
    /// If this connection has not been sent that message yet, the live feed is about to bring
    /// it (in order, after those before it), and that copy is the acknowledgement.
    pub fn acknowledge_duplicate(&self, original: &Delivery) {
        let mut state = self.lock();
        if state.end.is_none() && state.joining.is_none() && original.id <= state.last_sent {
            self.write_or_queue(&mut state, &original.frame, 1);
        }
    }

    /// Sends one frame (an answer, a ping, an outcome) in order with everything else.
    pub fn send(&self, frame: Bytes) {
        let mut state = self.lock();
        if state.end.is_none() {
            self.write_or_queue(&mut state, &frame, 1);
        }
    }

    /// Sends an ephemeral frame (typing) if the connection is live: not before its history.
    pub fn send_live(&self, frame: Bytes) {
        let mut state = self.lock();
        if state.end.is_none() && state.joining.is_none() {
            self.write_or_queue(&mut state, &frame, 1);
        }
    }

    /// Sends the history frame, whose newest message is `last_id`, then the frame `then` makes
    /// (made now: a snapshot taken after this connection stopped skipping live frames), then
    /// `changes` (the messages it holds that changed), then the
    /// live messages that came while the history was being read (those it does not already
    /// hold), and goes live.
    pub fn go_live(&self, history: Bytes, last_id: i64, changes: Option<Bytes>, then: impl FnOnce() -> Bytes) {
        let mut state = self.lock();
        if state.end.is_some() {
            return;
        }
        self.write_or_queue(&mut state, &history, 1);
        self.write_or_queue(&mut state, &then(), 1);
        if let Some(changes) = changes {
            self.write_or_queue(&mut state, &changes, 1);
        }
        state.last_sent = last_id;
        for wave in state.joining.take().unwrap_or_default() {
            self.deliver_locked(&mut state, &wave);
        }
    }

    /// Sends the live wave (what of it this connection has not been sent yet); while the
    /// history is being read, keeps it for later.
    fn deliver(&self, wave: &Arc<Wave>) {
        let mut state = self.lock();
        if state.end.is_some() {
            return;
        }
        let Some(joining) = state.joining.as_mut() else {
            self.deliver_locked(&mut state, wave);
            return;
        };
        joining.push(wave.clone());
        state.joining_frames += wave.parts.len();
        state.joining_bytes += wave.bytes.len();
        // Kept for a connection whose history is still being read, within the same bounds as a
        // backlog: past them it could only fall further behind, so it catches up with `since`.
        if state.joining_frames > self.limits.frames || state.joining_bytes > self.limits.bytes {
            state.joining = Some(Vec::new());
            state.joining_frames = 0;
            state.joining_bytes = 0;
            state.end = Some(End::Close(close_code::AGAIN, TOO_SLOW));
            self.wake.notify_one();
        }
    }

    fn deliver_locked(&self, state: &mut OutState, wave: &Wave) {
        // Once the end is decided (an overflow, a close) nothing more goes out: a later wave
        // must not follow a gap.
        if state.end.is_some() {
            return;
        }
        if let Some((bytes, frames)) = wave.after(state.last_sent) {
            state.last_sent = wave.last_id;
            self.write_or_queue(state, &bytes, frames);
        }
    }

    /// Writes at once if nothing is waiting and the socket takes it; else queues what is left
    /// (and wakes the connection's task to write it later).
    fn write_or_queue(&self, state: &mut OutState, bytes: &Bytes, frames: usize) {
        let bytes = if state.backlog.is_empty() {
            match self.socket.try_write(bytes) {
                Ok(written) if written == bytes.len() => return,
                Ok(written) => bytes.slice(written..),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => bytes.clone(),
                Err(_) => {
                    state.end.get_or_insert(End::Gone);
                    self.wake.notify_one();
                    return;
                }
            }
        } else {
            bytes.clone()
        };
        state.backlog_bytes += bytes.len();
        state.backlog.push_back((bytes, frames));
        state.backlog_frames += frames;
        // What waits behind the (maybe half-written) front.
        let (front_bytes, front_frames) =
            state.backlog.front().map_or((0, 0), |(bytes, frames)| (bytes.len(), *frames));
        let behind_frames = state.backlog_frames - front_frames;
        let behind_bytes = state.backlog_bytes - front_bytes;
        if (behind_frames > self.limits.frames || behind_bytes > self.limits.bytes) && state.end.is_none() {
            self.overflow(state);
        }
        self.wake.notify_one();
    }

    /// Too far behind: keep only what may be half written, and close with 1013.
    fn overflow(&self, state: &mut OutState) {
        state.backlog.truncate(1);
        state.backlog_frames = state.backlog.front().map_or(0, |(_, frames)| *frames);
        state.backlog_bytes = state.backlog.front().map_or(0, |(bytes, _)| bytes.len());
        state.end = Some(End::Close(close_code::AGAIN, TOO_SLOW));
    }

    /// Asks the connection to end (a block, a shutdown): nothing more is sent but the close frame.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut state = self.lock();
        if state.end.is_none() {
            state.end = Some(End::Close(code, reason));
            self.wake.notify_one();
        }
    }

    /// Marks the connection ended from its own side (nothing more is sent by anyone).
    pub fn finish(&self, end: End) -> End {
        *self.lock().end.get_or_insert(end)
    }

    /// The end decided for this connection, if any.
    pub fn end(&self) -> Option<End> {
        self.lock().end
    }

    /// Waits until there is a backlog to write or an end to act on.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Queues the close frame behind whatever is waiting (once the end is decided).
    pub fn queue_close(&self, code: u16, reason: &str) {
        let mut state = self.lock();
        self.write_or_queue(&mut state, &wire::close(code, reason), 1);
    }

    /// Writes as much of the backlog as the socket takes now. `Ok(true)`: all of it; `Ok(false)`:
    /// the socket is full (wait until it is writable); `Err`: the socket is broken.
    pub fn write_backlog(&self) -> io::Result<bool> {
        let mut state = self.lock();
        while !state.backlog.is_empty() {
            let slices: Vec<IoSlice<'_>> =
                state.backlog.iter().take(64).map(|(bytes, _)| IoSlice::new(bytes)).collect();
            let written = match self.socket.try_write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => written,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) => return Err(error),
            };
            drop(slices);
            consume(&mut state, written);
        }
        Ok(true)
    }
}

/// Drops `written` bytes from the front of the backlog.
fn consume(state: &mut OutState, mut written: usize) {
    while written > 0 {
        let Some((front, frames)) = state.backlog.front_mut() else { return };
        if written < front.len() {
            *front = front.slice(written..);
            state.backlog_bytes -= written;
            return;
        }
        written -= front.len();
        state.backlog_bytes -= front.len();
        state.backlog_frames -= *frames;
        state.backlog.pop_front();
    }
}

/// The fan-out: connections spread over one shard per worker thread, each shard a task that
/// writes every job's waves to its connections. Jobs reach the shards in order, and a connection
/// belongs to one shard, so each connection gets its messages in order.
pub struct Fanout {
    shards: Vec<Arc<Shard>>,
    /// Open connections (kept apart from the shards' locks, which a wave holds while it writes).
    count: AtomicUsize,
    /// Nanoseconds the shards have spent writing waves, in all (the pacer's cost of a write).
    writing: Arc<AtomicU64>,
}

/// Connections a shard writes to before it lets other tasks run.
const YIELD_EVERY: usize = 64;

/// What one release of stored messages means for one shard: the `general` wave for every
/// connection, except those listed in `special` (members of the other conversations in it,
/// people ignoring one of its senders), which get their own wave (or nothing).
pub struct Job {
    broadcast: Option<Arc<Wave>>,
    special: HashMap<u64, (Arc<Outbox>, Option<Arc<Wave>>)>,
}

/// A connection that gets its own wave of a release.
pub struct Special {
    pub connection: u64,
    pub outbox: Arc<Outbox>,
    pub wave: Option<Arc<Wave>>,
}

pub struct Shard {
    connections: Mutex<HashMap<u64, Arc<Outbox>>>,
    jobs: mpsc::UnboundedSender<Job>,
    writing: Arc<AtomicU64>,
}

impl Fanout {
    /// Starts `shards` shard tasks.
    pub fn start(shards: usize) -> Self {
        let writing = Arc::new(AtomicU64::new(0));
        let shards = (0..shards.max(1))
            .map(|_| {
                let (jobs, rx) = mpsc::unbounded_channel();
                let shard = Arc::new(Shard { connections: Mutex::default(), jobs, writing: writing.clone() });
                tokio::spawn(shard.clone().run(rx));
                shard
            })
            .collect();
        Self { shards, count: AtomicUsize::new(0), writing }
    }

    fn shard_index(&self, connection: u64) -> usize {
        connection as usize % self.shards.len()
    }

    pub fn add(&self, connection: u64, outbox: Arc<Outbox>) {
        if self.shards[self.shard_index(connection)].lock().insert(connection, outbox).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn remove(&self, connection: u64) {
        if self.shards[self.shard_index(connection)].lock().remove(&connection).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn connection_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Time the shards have spent writing waves into sockets, in all (yields excluded).
    pub fn time_writing(&self) -> Duration {
        Duration::from_nanos(self.writing.load(Ordering::Relaxed))
    }

    /// Hands a release to the shards: `broadcast` to every connection but the `special` ones,
    /// which get their own. Returns how many connections it goes to: a release without
    /// `general` messages touches only the special connections.
    pub fn publish(&self, broadcast: Option<Wave>, special: Vec<Special>) -> usize {
        let broadcast = broadcast.map(Arc::new);
        let touched = if broadcast.is_some() { self.connection_count() } else { special.len() };
        let mut jobs: Vec<Job> =
            self.shards.iter().map(|_| Job { broadcast: broadcast.clone(), special: HashMap::new() }).collect();
        for entry in special {
            jobs[self.shard_index(entry.connection)].special.insert(entry.connection, (entry.outbox, entry.wave));
        }
        for (shard, job) in self.shards.iter().zip(jobs) {
            if job.broadcast.is_some() || !job.special.is_empty() {
                let _ = shard.jobs.send(job);
            }
        }
        touched
    }
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Outbox>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes each job to the shard's connections, [`YIELD_EVERY`] at a time (between them,
    /// other tasks on this worker get their turn: a wave to 500 sockets takes milliseconds).
    /// Broadcast-only jobs that queued up while the last one was being written go out together,
    /// as one wave.
    async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut jobs = Vec::new();
        let mut outboxes: Vec<Arc<Outbox>> = Vec::new();
        while rx.recv_many(&mut jobs, 64).await > 0 {
            let mut queued = jobs.drain(..).peekable();
            while let Some(job) = queued.next() {
                if !job.special.is_empty() {
                    self.write(job, &mut outboxes).await;
                    continue;
                }
                let mut waves: Vec<Arc<Wave>> = job.broadcast.into_iter().collect();
                while let Some(next) = queued.next_if(|next| next.special.is_empty()) {
                    waves.extend(next.broadcast);
                }
                let broadcast = match waves.len() {
                    1 => waves.pop(),
                    _ => Wave::merge(&waves).map(Arc::new),
                };
                self.write(Job { broadcast, special: HashMap::new() }, &mut outboxes).await;
            }
        }
    }

    /// Writes one job: the broadcast to every connection of the shard (the special ones their
    /// own), or without a broadcast, only the special connections. The time spent writing
    /// (between yields) is added to the fan-out's total.
    async fn write(&self, job: Job, outboxes: &mut Vec<Arc<Outbox>>) {
        let mut writing = Duration::ZERO;
        match &job.broadcast {
            Some(broadcast) => {
                let mine: Vec<(u64, Arc<Outbox>)> =
                    self.lock().iter().map(|(id, outbox)| (*id, outbox.clone())).collect();
                for chunk in mine.chunks(YIELD_EVERY) {
                    let started = Instant::now();
                    for (id, outbox) in chunk {
                        match job.special.get(id) {
                            Some((_, Some(own))) => outbox.deliver(own),
                            Some((_, None)) => {}
                            None => outbox.deliver(broadcast),
                        }
                    }
                    writing += started.elapsed();
                    tokio::task::yield_now().await;
                }
            }
            None => {
                outboxes.extend(job.special.values().map(|(outbox, _)| outbox.clone()));
                let waves: Vec<&Option<Arc<Wave>>> = job.special.values().map(|(_, wave)| wave).collect();
                for (chunk, waves) in outboxes.chunks(YIELD_EVERY).zip(waves.chunks(YIELD_EVERY)) {
                    let started = Instant::now();
                    for (outbox, wave) in chunk.iter().zip(waves) {
                        if let Some(wave) = wave {
                            outbox.deliver(wave);
                        }
                    }
                    writing += started.elapsed();
                    tokio::task::yield_now().await;
                }
                outboxes.clear();
            }
        }
        let nanos = u64::try_from(writing.as_nanos()).unwrap_or(u64::MAX);
        self.writing.fetch_add(nanos, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: i64) -> Delivery {
        Delivery { id, room_id: 1, sender_id: 1, frame: wire::text(&format!("m{id}")) }
    }

    #[test]
    fn a_wave_gives_each_connection_what_it_has_not_been_sent() {
        let wave = Wave::new([4, 5, 6].map(delivery)).unwrap();
        let all: Vec<u8> = [4, 5, 6].iter().flat_map(|id| delivery(*id).frame.to_vec()).collect();
        assert_eq!(wave.after(3).map(|(b, n)| (b.to_vec(), n)), Some((all, 3)));
        let tail: Vec<u8> = delivery(6).frame.to_vec();
        assert_eq!(wave.after(5).map(|(b, n)| (b.to_vec(), n)), Some((tail, 1)));
        assert!(wave.after(6).is_none());
        assert!(Wave::new(Vec::new()).is_none());
    }

    #[test]
    fn merged_waves_keep_every_message_in_order() {
        let waves =
            vec![Arc::new(Wave::new([1, 2].map(delivery)).unwrap()), Arc::new(Wave::new([3].map(delivery)).unwrap())];
        let merged = Wave::merge(&waves).unwrap();
        assert_eq!((merged.first_id, merged.last_id), (1, 3));
        assert_eq!(merged.parts.iter().map(|d| d.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(merged.parts[2].frame, delivery(3).frame);
    }

    /// An outbox on a real loopback socket (and its peer, kept open), bounded by `limits`.
    async fn outbox(limits: BacklogLimits) -> (Outbox, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        (Outbox::new(socket, limits), peer)
    }

    #[tokio::test]
    async fn waves_kept_while_the_history_is_read_are_bounded_in_frames() {
        let (outbox, _peer) = outbox(BacklogLimits { frames: 4, bytes: 1 << 20 }).await;
        for id in 1..=4 {
            outbox.deliver(&Arc::new(Wave::new([delivery(id)]).unwrap()));
        }
        assert_eq!(outbox.end(), None, "four frames are within the bound");
        outbox.deliver(&Arc::new(Wave::new([delivery(5)]).unwrap()));
        assert_eq!(outbox.end(), Some(End::Close(close_code::AGAIN, TOO_SLOW)));
        let state = outbox.lock();
        assert!(state.joining.as_ref().is_some_and(Vec::is_empty), "the waves kept are let go");
    }

    #[tokio::test]
    async fn waves_kept_while_the_history_is_read_are_bounded_in_bytes() {
        let (outbox, _peer) = outbox(BacklogLimits { frames: 1000, bytes: 100 }).await;
        let big = |id| Delivery { id, room_id: 1, sender_id: 1, frame: wire::text(&"x".repeat(60)) };
        outbox.deliver(&Arc::new(Wave::new([big(1)]).unwrap()));
        assert_eq!(outbox.end(), None);
        outbox.deliver(&Arc::new(Wave::new([big(2)]).unwrap()));
        assert_eq!(outbox.end(), Some(End::Close(close_code::AGAIN, TOO_SLOW)));
        // Going live after that writes nothing: the client reconnects with `since`.
        outbox.go_live(Bytes::from_static(b"history"), 0, None, || Bytes::from_static(b"rooms"));
        assert!(outbox.lock().backlog.is_empty());
    }

    #[test]
    fn consuming_the_backlog_keeps_partial_frames() {
        let mut state = OutState::default();
        state.backlog.push_back((Bytes::from_static(b"abc"), 1));
        state.backlog.push_back((Bytes::from_static(b"defg"), 2));
        state.backlog_frames = 3;
        state.backlog_bytes = 7;
        consume(&mut state, 4);
        assert_eq!(state.backlog.len(), 1);
        assert_eq!(&state.backlog[0].0[..], b"efg");
        assert_eq!((state.backlog_frames, state.backlog_bytes), (2, 3));
        consume(&mut state, 3);
        assert!(state.backlog.is_empty());
        assert_eq!((state.backlog_frames, state.backlog_bytes), (0, 0));
    }
}
