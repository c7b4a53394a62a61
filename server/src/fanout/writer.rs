//! The single message writer: group commit. Connections hand accepted messages to this task over
//! a bounded channel; it takes everything that is waiting (up to a batch limit), stores the batch
//! in one atomic commit, and only then broadcasts, in id order. One fsync serves many messages, and
//! a message is on disk before anyone, its sender included, sees it. While the CPU is busy the
//! [`WavePacer`] may hold stored messages back briefly so that more of them share one wave of
//! socket writes; a quiet server sends each commit at once.
//!
//! On a node of a cluster the writer also publishes each commit on the bus, and takes the other
//! nodes' commits from it; a [`Sequencer`] puts both in one gapless id order, and the writer reads
//! from the database whatever the bus lost (a probe of the newest id covers a silent bus).
//!
//! The writer also follows the room-change feed ([`Follower`]) and keeps the directory: who is
//! tracked (connected here) and what their conversations are. Before it delivers messages it has
//! applied every change committed before them, so a message committed after a leave, a removal
//! or an ignore never reaches the person it no longer concerns.

use super::cpu_time::{machine_idle_time, process_cpu_time};
use super::feed::{self, Follower};
use super::frames;
use super::hub::Registry;
use super::outbox::{Delivery, Fanout, Outbox, Special, Wave};
use super::pacing::{Reading, WavePacer};
use super::sequencer::Sequencer;
use crate::cluster::{events, Bus, Event, Incoming};
use crate::store::{NewMessage, Review, Store, StoreError, Stored, StoredBatch, View};
use app::models::{ChatMessage, ServerFrame};
use app::protocol::GENERAL_ROOM_ID;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;

/// One message waiting to be stored, with the way back to its sender's connection (`None` for
/// a message no connection is waiting for: a held message an admin approved).
pub struct Submission {
    pub message: NewMessage,
    pub reply: Option<Arc<Outbox>>,
    /// When it reached the writer's queue (the start of its delivery latency).
    pub queued_at: std::time::Instant,
}

/// Most messages stored in one commit.
const MAX_BATCH: usize = 1024;
/// Commits started, one after the other, while the previous one's messages are released,
/// before the writer looks at its other wake-ups again.
const PIPELINED_COMMITS: usize = 16;

/// How long a gap in the id order may wait for the bus before it is read from the database.
const GAP_GRACE: Duration = Duration::from_millis(5);
/// Messages per read of a gap.
const GAP_PAGE: i64 = 512;
/// How often the newest id is read while the bus is live, and while it is down.
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_EVERY_BUS_DOWN: Duration = Duration::from_millis(100);

/// How often the room-change feed is read when nothing said there is something new: on a cluster
/// (a lost bus hint costs at most this), and on a single node (where every change is made by
/// this process, which says so).
const FEED_POLL: Duration = Duration::from_millis(250);
const FEED_POLL_SINGLE: Duration = Duration::from_secs(2);
/// After a failed read of the feed, how long held messages wait before the next try.
const FEED_RETRY: Duration = Duration::from_millis(100);

/// The writer's side of the room-change feed and of the directory.
pub struct FeedLink {
    /// Woken when this process committed a change.
    pub nudge: Arc<Notify>,
    /// How far the feed has been applied (the use cases wait for their change).
    pub progress: watch::Sender<i64>,
    /// The newest entry when the node started.
    pub start: i64,
    /// Users to start or stop tracking (their first connection opening, their last closing).
    pub tracking: mpsc::UnboundedReceiver<Tracking>,
    /// The store on the feeds' connections: the feed and tracked users' conversations are read
    /// there, never on the writer's.
    pub store: Store,
}

/// A change of who is connected to this node.
pub enum Tracking {
    /// Load the user's conversations (if not tracked yet); `done` says whether that worked.
    Start {
        user: i64,
        done: oneshot::Sender<bool>,
    },
    Stop {
        user: i64,
    },
}

/// A node's place in a cluster, as the writer sees it.
pub struct WriterLink {
    pub bus: Bus,
    pub incoming: mpsc::Receiver<Incoming>,
    /// The newest message id when the node started: what it does not deliver live.
    pub start_after: i64,
}

/// What the cluster side of the writer holds between wake-ups.
struct Cluster {
    link: WriterLink,
    sequencer: Sequencer,
    next_probe: Instant,
}

/// What woke the writer.
enum Wake {
    Release,
    Batch(usize),
    Incoming(Option<Incoming>),
    /// A gap's grace or the probe's interval is over (see [`Cluster::catch_up`]).
    Timer,
    /// A change was committed here, or the feed's poll is due.
    Feed,
    Tracking(Option<Tracking>),
}

/// Runs until every sender of `rx` is gone, then returns after the last commit (graceful
/// shutdown drains in-flight messages this way). Stored messages are broadcast at once unless
/// the pacer asks for a pause; then they are held (later commits join them) and released as one
/// wave when the pause is over, while commits go on.
pub async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Submission>,
    fanout: Arc<Fanout>,
    registry: Arc<Registry>,
    mut pacer: WavePacer,
    cluster: Option<WriterLink>,
    feed: FeedLink,
) {
    let out = Out { fanout, registry };
    let poll = if cluster.is_some() { FEED_POLL } else { FEED_POLL_SINGLE };
    let mut cluster = cluster.map(|link| Cluster {
        sequencer: Sequencer::new(link.start_after),
        link,
        next_probe: Instant::now() + PROBE_EVERY,
    });
    let FeedLink { nudge, progress, start, mut tracking, store: feeds } = feed;
    let mut follower = Follower::new(feeds, start, progress);
    let mut next_poll = Instant::now() + poll;
    let mut batch: Vec<Submission> = Vec::with_capacity(MAX_BATCH);
    let mut held = Held::default();
    let mut release_at: Option<Instant> = None;
    loop {
        let release_due = tokio::time::sleep_until(release_at.unwrap_or_else(Instant::now));
        let gap_at = cluster.as_ref().and_then(|c| c.sequencer.gap_deadline(GAP_GRACE).map(Instant::from_std));
        let probe_at = cluster.as_ref().map(|c| c.next_probe);
        let wake = tokio::select! {
            biased;
            _ = release_due, if release_at.is_some() => Wake::Release,
            request = tracking.recv() => Wake::Tracking(request),
            _ = nudge.notified() => Wake::Feed,
            received = rx.recv_many(&mut batch, MAX_BATCH) => Wake::Batch(received),
            incoming = next_incoming(&mut cluster) => Wake::Incoming(incoming),
            _ = tokio::time::sleep_until(gap_at.unwrap_or_else(Instant::now)), if gap_at.is_some() => Wake::Timer,
            _ = tokio::time::sleep_until(probe_at.unwrap_or_else(Instant::now)), if probe_at.is_some() => Wake::Timer,
            _ = tokio::time::sleep_until(next_poll) => Wake::Feed,
        };
        match wake {
            Wake::Release => {
                release_at = None;
                if out.feed_ready(&mut held, &mut follower).await {
                    out.release(&mut held, &mut pacer);
                } else {
                    release_at = Some(Instant::now() + FEED_RETRY);
                }
                continue;
            }
            Wake::Batch(0) => break,
            Wake::Batch(_) => {
                let mut stored = commit(&store, &out.registry, &mut batch).await;
                // While more messages wait, the next commit goes to the database at once (in a
                // task of its own) and this one's messages are handed on and released meanwhile:
                // the database never waits for the fan-out. Releases keep commit order, and
                // happen only after their own commit. Bounded, so that the other wake-ups get
                // their turn.
                for _ in 0..PIPELINED_COMMITS {
                    if rx.is_empty() {
                        break;
                    }
                    rx.recv_many(&mut batch, MAX_BATCH).await;
                    let (messages, replies, queued) = split(&mut batch);
                    let next = tokio::spawn(store_batch(store.clone(), messages));
                    deliver_own(stored, cluster.as_mut(), &mut held);
                    release_at = if out.feed_ready(&mut held, &mut follower).await {
                        out.release_or_hold_at(release_at, &mut held, &mut pacer)
                    } else {
                        Some(Instant::now() + FEED_RETRY)
                    };
                    let (messages, result) = match next.await {
                        Ok(done) => done,
                        Err(error) => std::panic::resume_unwind(error.into_panic()),
                    };
                    stored = (answer(&store, &out.registry, messages, replies, result), queued);
                }
                deliver_own(stored, cluster.as_mut(), &mut held);
            }
            Wake::Incoming(incoming) => {
                if let Some(cluster) = cluster.as_mut() {
                    cluster.take(incoming, &out.registry, &mut held, &mut follower).await;
                }
            }
            Wake::Timer => {}
            Wake::Feed => {
                next_poll = Instant::now() + poll;
                out.catch_up(&mut follower).await;
            }
            Wake::Tracking(Some(request)) => out.track(request, &mut tracking, &mut follower).await,
            // The hub is gone; messages still drain.
            Wake::Tracking(None) => {}
        }
        if let Some(cluster) = cluster.as_mut() {
            cluster.catch_up(&store, &out.registry, &mut held, &mut follower).await;
        }
        if release_at.is_none() {
            release_at = if out.feed_ready(&mut held, &mut follower).await {
                out.release_or_hold(&mut held, &mut pacer)
            } else {
                Some(Instant::now() + FEED_RETRY)
            };
        }
    }
    out.feed_ready(&mut held, &mut follower).await;
    out.release(&mut held, &mut pacer);
    tracing::info!("message writer stopped");
}

/// The next event from the bus; never, without a cluster (or once the bus has stopped).
async fn next_incoming(cluster: &mut Option<Cluster>) -> Option<Incoming> {
    match cluster {
        Some(cluster) if !cluster.link.incoming.is_closed() || !cluster.link.incoming.is_empty() => {
            cluster.link.incoming.recv().await
        }
        _ => std::future::pending().await,
    }
}

/// Hands this node's new messages on: straight to `held` on a single node; on a cluster, to the
/// other nodes over the bus first, then through the sequencer.
fn deliver_own(
    ((stored, feed), queued): ((Vec<ChatMessage>, i64), Option<std::time::Instant>),
    cluster: Option<&mut Cluster>,
    held: &mut Held,
) {
    if stored.is_empty() {
        return;
    }
    held.needs_feed(feed);
    held.queued_since(queued);
    let Some(cluster) = cluster else {
        held.add(stored.into_iter().map(Delivery::encode).collect());
        return;
    };
    let (lo, hi) = (stored[0].id, stored[stored.len() - 1].id);
    for event in events::message_ranges(stored.clone(), feed) {
        cluster.link.bus.publish(event);
    }
    let ready = cluster.sequencer.offer(lo, hi, stored.into_iter().map(Delivery::encode).collect(), now());
    held.add(ready);
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

impl Cluster {
    /// Takes an event of another node: messages go through the sequencer (with the feed entry
    /// they followed), a hint of room changes has the feed read, a frame goes to this node's
    /// sockets.
    async fn take(
        &mut self,
        incoming: Option<Incoming>,
        registry: &Registry,
        held: &mut Held,
        follower: &mut Follower,
    ) {
        match incoming {
            Some(Incoming::Event(Event::Messages { lo, hi, m, f })) => {
                held.needs_feed(f);
                let ready = self.sequencer.offer(lo, hi, m.into_iter().map(Delivery::encode).collect(), now());
                held.add(ready);
            }
            Some(Incoming::Event(Event::Changes { seq })) => {
                if seq > follower.applied() {
                    if let Err(error) = follower.catch_up(registry).await {
                        tracing::error!(%error, "reading the room-change feed failed");
                    }
                }
            }
            Some(Incoming::Event(Event::Frame { users, except, frame })) => {
                registry.send_live(users.as_deref(), &except, &super::wire::text(&frame));
            }
            // Whatever was published while the bus was down is read back now: messages by the
            // next probe, room changes at once.
            Some(Incoming::Resubscribed) => {
                self.next_probe = Instant::now();
                if let Err(error) = follower.catch_up(registry).await {
                    tracing::error!(%error, "reading the room-change feed failed");
                }
            }
            // The bus routes presence to the hub; none comes here.
            Some(Incoming::Event(Event::Presence { .. })) | None => {}
        }
    }

    /// Whatever the cluster has ready, after every wake-up: the events received meanwhile, a gap
    /// whose grace is over, a due probe (their timers only wake the writer). The wake-up order
    /// favours commits; without this, a node busy committing its own messages would never get to
    /// the others'.
    async fn catch_up(&mut self, store: &Store, registry: &Registry, held: &mut Held, follower: &mut Follower) {
        for _ in 0..MAX_BATCH {
            match self.link.incoming.try_recv() {
                Ok(incoming) => self.take(Some(incoming), registry, held, follower).await,
                Err(_) => break,
            }
        }
        self.read_gap(store, held).await;
        if Instant::now() >= self.next_probe {
            self.probe(store).await;
        }
    }

    /// Reads the messages the bus did not bring, up to the next range that waits or the newest
    /// id seen, once a gap has waited its grace.
    async fn read_gap(&mut self, store: &Store, held: &mut Held) {
        let Some((after, target)) = self.sequencer.gap_due(now(), GAP_GRACE) else { return };
        match store.messages_since(View::default(), after, GAP_PAGE).await {
            Ok((messages, more)) => {
                let last = messages.last().map_or(after, |m| m.id);
                // Ids are gapless and visible in commit order: without more, every id up to the
                // target (committed, since it was seen) has been read.
                let up_to = if more { last } else { last.max(target) };
                let read: Vec<Delivery> = messages.into_iter().map(Delivery::encode).collect();
                crate::metrics::gap_read(read.len());
                if !read.is_empty() {
                    // Read from the database: which feed entry they followed is not known, so the
                    // feed is read to its end before they go.
                    held.fresh_feed = true;
                }
                held.add(self.sequencer.filled(up_to, read, now()));
            }
            Err(error) => {
                tracing::error!(%error, "reading missed messages failed; retrying");
                tokio::time::sleep(PROBE_EVERY_BUS_DOWN).await;
            }
        }
    }

    /// Reads the newest id, so that messages no bus event announced are read too.
    async fn probe(&mut self, store: &Store) {
        let every = if self.link.bus.is_up() { PROBE_EVERY } else { PROBE_EVERY_BUS_DOWN };
        self.next_probe = Instant::now() + every;
        match store.newest_message_id().await {
            Ok(newest) => self.sequencer.saw_newest(newest, now()),
            Err(error) => tracing::error!(%error, "reading the newest message id failed"),
        }
    }
}

/// Stored messages not broadcast yet, how many commits they came in, and how far the room-change
/// feed must have been applied before they go.
#[derive(Default)]
struct Held {
    deliveries: Vec<Delivery>,
    commits: usize,
    /// The newest feed entry committed before one of them.
    feed_needed: i64,
    /// Some were read from the database: the feed is read to its end first.
    fresh_feed: bool,
    /// When the oldest of this node's own messages among them reached the writer.
    oldest_queued: Option<std::time::Instant>,
}

impl Held {
    fn needs_feed(&mut self, seq: i64) {
        self.feed_needed = self.feed_needed.max(seq);
    }

    /// This node's messages about to be added reached the writer at `queued` (the oldest).
    fn queued_since(&mut self, queued: Option<std::time::Instant>) {
        self.oldest_queued = match (self.oldest_queued, queued) {
            (Some(held), Some(new)) => Some(held.min(new)),
            (held, new) => held.or(new),
        };
    }

    /// Adds the messages of one commit (or of several, read back or from the bus).
    fn add(&mut self, deliveries: Vec<Delivery>) {
        if !deliveries.is_empty() {
            self.deliveries.extend(deliveries);
            self.commits += 1;
        }
    }
}

/// Where released messages go.
struct Out {
    fanout: Arc<Fanout>,
    registry: Arc<Registry>,
}

impl Out {
    /// Reads and applies the room-change feed; a failure is logged (the next poll tries again).
    async fn catch_up(&self, follower: &mut Follower) {
        if let Err(error) = follower.catch_up(&self.registry).await {
            tracing::error!(%error, "reading the room-change feed failed");
        }
    }

    /// Whether the held messages may go: the feed has been applied up to every change committed
    /// before them (read now if it has not). False when it could not be read.
    async fn feed_ready(&self, held: &mut Held, follower: &mut Follower) -> bool {
        if held.deliveries.is_empty() || (held.feed_needed <= follower.applied() && !held.fresh_feed) {
            return true;
        }
        match follower.catch_up(&self.registry).await {
            Ok(()) => {
                held.fresh_feed = false;
                if held.feed_needed > follower.applied() {
                    // Never the case on a gapless feed; held forever would be worse.
                    tracing::warn!(needed = held.feed_needed, applied = follower.applied(), "feed entry not found");
                }
                true
            }
            Err(error) => {
                tracing::error!(%error, "reading the room-change feed failed; messages wait");
                false
            }
        }
    }

    /// Starts or stops tracking users. Every request waiting is taken; the users tracked for the
    /// first time are read from the store at once (concurrently), then the feed is read once for
    /// all of them (nothing to read when nobody new was loaded).
    async fn track(&self, first: Tracking, requests: &mut mpsc::UnboundedReceiver<Tracking>, follower: &mut Follower) {
        let directory = &self.registry.directory;
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Tracking::Start { user, done } => {
                    let new = directory.track(user);
                    waiting.push((user, new, done));
                }
                Tracking::Stop { user } => directory.untrack(user),
            }
            if waiting.len() < MAX_BATCH {
                next = requests.try_recv().ok();
            }
        }
        let store = follower.store().clone();
        let loads = waiting.iter().filter(|(_, new, _)| *new).map(|(user, _, _)| feed::load(&store, *user));
        let mut loaded = futures::future::join_all(loads).await.into_iter();
        let mut any = false;
        let mut answers = Vec::with_capacity(waiting.len());
        for (user, new, done) in waiting {
            let ok = if new {
                match loaded.next() {
                    Some(Ok(data)) => {
                        directory.insert_loaded(data);
                        any = true;
                        true
                    }
                    Some(Err(error)) => {
                        tracing::error!(%error, "reading a user's conversations failed");
                        directory.untrack(user);
                        false
                    }
                    None => false,
                }
            } else {
                true
            };
            answers.push((done, ok));
        }
        // What was loaded may be newer than the feed applied so far: the entries in between are
        // applied over it (idempotent), and everything after it too.
        if any {
            self.catch_up(follower).await;
        }
        for (done, ok) in answers {
            let _ = done.send(ok);
        }
    }

    /// What the pacer's gauge reads: the process's CPU time and the fan-out's writing time.
    /// What the pacer's gauge reads: the process's CPU time, the fan-out's writing time and the
    /// machine's idle time.
    fn reading(&self) -> Reading {
        Reading { process_cpu: process_cpu_time(), writing: self.fanout.time_writing(), idle: machine_idle_time() }
    }

    /// As [`Out::release_or_hold`], given when a pause already set ends (`release_at`): then
    /// the held messages go at its end, now if it is over.
    fn release_or_hold_at(
        &self,
        release_at: Option<Instant>,
        held: &mut Held,
        pacer: &mut WavePacer,
    ) -> Option<Instant> {
        match release_at {
            Some(at) if Instant::now() < at => Some(at),
            _ => self.release_or_hold(held, pacer),
        }
    }

    /// Releases the held messages now, or says when: the pacer decides.
    fn release_or_hold(&self, held: &mut Held, pacer: &mut WavePacer) -> Option<Instant> {
        let now = Instant::now().into_std();
        if pacer.wants_reading(now) {
            pacer.observe(now, self.reading());
        }
        let wait = pacer.delay(now);
        if wait.is_zero() {
            self.release(held, pacer);
            None
        } else {
            Some(Instant::now() + wait)
        }
    }

    /// Delivers the held messages, in id order (the sender's copy is its acknowledgement):
    /// the `general` ones as one wave to every connection, except the connections of members
    /// of the other conversations in the release and of people ignoring one of its senders,
    /// which get a wave of their own with what they may see. A release with no `general`
    /// message touches only those: O(members), never every connection.
    fn release(&self, held: &mut Held, pacer: &mut WavePacer) {
        if held.deliveries.is_empty() {
            return;
        }
        let deliveries: Vec<Delivery> = std::mem::take(&mut held.deliveries);
        let commits = std::mem::take(&mut held.commits);
        let waited = held.oldest_queued.take().map(|queued| queued.elapsed());
        let who: Vec<(i64, i64)> = deliveries.iter().map(|d| (d.room_id, d.sender_id)).collect();
        let plan = self.registry.directory.plan(&who);
        let broadcast = Wave::new(deliveries.iter().filter(|d| d.room_id == GENERAL_ROOM_ID).cloned());
        let mut own_waves: HashMap<Vec<usize>, Option<Arc<Wave>>> = HashMap::new();
        let mut special = Vec::new();
        for (user, visible) in plan {
            let connections = self.registry.connections_of(user);
            if connections.is_empty() {
                continue;
            }
            let wave = own_waves
                .entry(visible)
                .or_insert_with_key(|visible| Wave::new(visible.iter().map(|&i| deliveries[i].clone())).map(Arc::new))
                .clone();
            special.extend(connections.into_iter().map(|(connection, outbox)| Special {
                connection,
                outbox,
                wave: wave.clone(),
            }));
        }
        let connections = self.fanout.publish(broadcast, special);
        crate::metrics::delivered(waited, deliveries.len());
        pacer.charge(connections, commits, std::time::Instant::now());
    }
}

/// Stores a batch in one commit and returns its new messages, in id order, for the broadcast; a
/// duplicate is acknowledged to its sender alone, a refusal or a failure is reported to its
/// sender (with the message's `client_id`).
async fn commit(
    store: &Store,
    registry: &Registry,
    batch: &mut Vec<Submission>,
) -> ((Vec<ChatMessage>, i64), Option<std::time::Instant>) {
    let (messages, replies, queued) = split(batch);
    let result = insert_timed(store, &messages).await;
    (answer(store, registry, messages, replies, result), queued)
}

/// The messages of a batch, their senders' outboxes, and when the oldest of them reached the
/// writer (the batch is left empty).
fn split(batch: &mut Vec<Submission>) -> (Vec<NewMessage>, Vec<Option<Arc<Outbox>>>, Option<std::time::Instant>) {
    let queued = batch.iter().map(|s| s.queued_at).min();
    let (messages, replies) = batch.drain(..).map(|s| (s.message, s.reply)).unzip();
    (messages, replies, queued)
}

/// Stores messages in one commit (see [`commit`]) in a task of its own; they come back with
/// the outcome, for [`answer`].
async fn store_batch(store: Store, messages: Vec<NewMessage>) -> (Vec<NewMessage>, Result<StoredBatch, StoreError>) {
    let result = insert_timed(&store, &messages).await;
    (messages, result)
}

/// One commit, timed for the metrics.
async fn insert_timed(store: &Store, messages: &[NewMessage]) -> Result<StoredBatch, StoreError> {
    let started = std::time::Instant::now();
    let result = store.insert_batch(messages).await;
    crate::metrics::commit(started.elapsed(), messages.len());
    result
}

/// What a commit means for each of its messages: the new ones, in id order, for the broadcast;
/// a duplicate is acknowledged to its sender alone, a refusal or a failure is reported to its
/// sender (with the message's `client_id`).
fn answer(
    store: &Store,
    registry: &Registry,
    messages: Vec<NewMessage>,
    replies: Vec<Option<Arc<Outbox>>>,
    result: Result<StoredBatch, StoreError>,
) -> (Vec<ChatMessage>, i64) {
    let mut new = Vec::new();
    let mut feed = 0;
    match result {
        Ok(stored) => {
            feed = stored.feed;
            for ((result, reply), sent) in stored.stored.into_iter().zip(replies).zip(&messages) {
                let reply = Reply(reply);
                let message = sent;
                match result {
                    Stored::New(message) => {
                        crate::metrics::message_accepted(1);
                        if let Some(review) = sent.review {
                            tokio::spawn(follow_up(store.clone(), message.id, message.room_id, review));
                        }
                        new.push(message)
                    }
                    // Stored before under the same `client_id`: acknowledged with the original,
                    // to its sender alone.
                    Stored::Duplicate(message) => reply.acknowledge_duplicate(&Delivery::encode(message)),
                    // A retry whose original could not be read back: sending it again is harmless.
                    Stored::DuplicateUnread => reply.send(frames::send_again(message.client_id.clone())),
                    // The sender left the conversation (or it was archived) before this commit,
                    // or was blocked (its sockets are being closed).
                    Stored::Refused => {
                        crate::metrics::message_refused("store_refused");
                        reply.send(frames::error(
                            refusal(registry, message.room_id, message.sender_id),
                            message.client_id.clone(),
                        ))
                    }
                    Stored::ClientIdTaken => {
                        crate::metrics::message_refused("client_id_taken");
                        reply.send(frames::error(frames::CLIENT_ID_TAKEN, message.client_id.clone()))
                    }
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, count = replies.len(), "storing a message batch failed");
            for (reply, message) in replies.into_iter().zip(&messages) {
                Reply(reply).send(frames::send_again(message.client_id.clone()));
            }
        }
    }
    (new, feed)
}

/// The way back to a message's sender, if a connection waits for it.
struct Reply(Option<Arc<Outbox>>);

impl Reply {
    fn send(&self, frame: bytes::Bytes) {
        if let Some(outbox) = &self.0 {
            outbox.send(frame);
        }
    }

    fn acknowledge_duplicate(&self, delivery: &Delivery) {
        if let Some(outbox) = &self.0 {
            outbox.acknowledge_duplicate(delivery);
        }
    }
}

/// What the review queue needs once a message is stored as `id` (of `room`): a flagged one
/// is queued; an approved held one is linked to its item. Off the writer's path: a failure is
/// logged and loses no message.
async fn follow_up(store: Store, id: i64, room: i64, review: Review) {
    let done = match review {
        Review::Flagged { score } => store.flag_message(id, room, score).await,
        Review::Approved { item } => store.link_review(item, id).await,
    };
    if let Err(error) = done {
        tracing::error!(%error, message_id = id, "recording a message for review failed");
    }
}

/// Why the store refused a message: the conversation's rule, else the sender's block.
fn refusal(registry: &Registry, room: i64, sender: i64) -> &'static str {
    match registry.directory.postable(room, sender) {
        super::directory::Postable::Yes { .. } => "account blocked",
        super::directory::Postable::Archived => frames::ARCHIVED,
        super::directory::Postable::No => frames::NOT_A_MEMBER,
    }
}

impl Delivery {
    /// Encodes a stored message once, as a whole WebSocket frame; every connection shares it.
    pub fn encode(message: app::models::ChatMessage) -> Self {
        let (id, room_id, sender_id) = (message.id, message.room_id, message.sender_id);
        Delivery { id, room_id, sender_id, frame: frames::text(&ServerFrame::Message(message)) }
    }
}
