//! The hub: the registry of open connections (per user, with the authority each was opened
//! under, so that a block, a revoked session, a role change or a shutdown can close them; and in
//! the fan-out, which writes the live feed to them), the conversation directory, presence, the
//! socket caps (per account and in all), flood control, and the door to the group-commit writer.

use super::cpu_time::{machine_idle_time, process_cpu_time};
use super::directory::Directory;
use super::frames;
use super::outbox::{BacklogLimits, Fanout, Outbox};
use super::pacing::{Pacing, Reading, WavePacer};
use super::presence::{Departure, Named, Presence};
use super::wire::close_code;
use super::writer::{self, FeedLink, Submission, Tracking, WriterLink};
use crate::auth::SessionId;
use crate::cluster::bus::Received;
use crate::cluster::presence::{Board, Change, Report};
use crate::cluster::{Bus, Event, Incoming};
use crate::config::Config;
use crate::limits::{RateLimiter, SharedLimiter};
use crate::store::{NewMessage, Store, UserRecord};
use app::models::PublicUser;
use app::models::ServerFrame;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

/// A node's place in a cluster.
pub struct ClusterLink {
    pub bus: Bus,
    pub received: Received,
    /// The newest message id when the node started: what it does not deliver live.
    pub start_after: i64,
    /// How long this node's users stay online on the board if the node stops refreshing it.
    pub presence_ttl: Duration,
}

pub struct Hub {
    fanout: Arc<Fanout>,
    /// On a cluster, the bus to the other nodes, and this node's presence board.
    bus: Option<Bus>,
    board: Option<Board>,
    writer_tx: Mutex<Option<mpsc::Sender<Submission>>>,
    writer_task: Mutex<Option<JoinHandle<()>>>,
    /// Wakes the writer to read the room-change feed (a change was committed here).
    feed_nudge: Arc<Notify>,
    /// How far the writer has applied the room-change feed.
    feed_progress: watch::Receiver<i64>,
    /// Users for the writer to start or stop tracking in the directory.
    tracking: mpsc::UnboundedSender<Tracking>,
    registry: Arc<Registry>,
    presence: Arc<Presence>,
    presence_grace: Duration,
    next_connection: AtomicU64,
    /// Admitted connections per account, from the handshake until they are closed.
    admitted: Mutex<HashMap<i64, usize>>,
    /// Admitted connections in all (the sum of `admitted`).
    admitted_total: AtomicUsize,
    max_per_account: usize,
    max_total: usize,
    shutting_down: AtomicBool,
    /// Flood control per account (all of a user's sockets share one bucket).
    pub flood: SharedLimiter<i64>,
    /// `typing` frames per account (over the limit they are dropped without an answer).
    pub typing: RateLimiter<i64>,
    /// Reactions added or taken back per account (past it: 429), shared by the cluster's nodes.
    pub reactions: SharedLimiter<i64>,
    pub write_timeout: Duration,
    pub ping_interval: Duration,
    /// How far a connection may fall behind before it is closed with 1013.
    pub backlog_limits: BacklogLimits,
}

/// What a connection was authorised with, compared with its account's current state whenever
/// that changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authority {
    pub token_version: i64,
    pub is_admin: bool,
    /// The session of the token it was opened with (`None`: a token from before session ids):
    /// a logout of that session closes it ([`Hub::end_session`]).
    pub session: Option<SessionId>,
}

/// Why a connection's authority has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The account is blocked: the `blocked` frame, then 1008.
    Blocked,
    /// The account is gone or its tokens were revoked (a password change): 4001.
    SessionEnded,
    /// The account's role changed: 4002, reconnect.
    RoleChanged,
}

impl Authority {
    /// How a connection opened under this authority must end, given its account's current
    /// record (`None`: the account is gone); `None` while it still holds.
    pub fn revoked_by(&self, current: Option<&UserRecord>) -> Option<Revocation> {
        let Some(current) = current else { return Some(Revocation::SessionEnded) };
        if current.public.is_blocked {
            Some(Revocation::Blocked)
        } else if current.token_version != self.token_version {
            Some(Revocation::SessionEnded)
        } else if current.public.is_admin != self.is_admin {
            Some(Revocation::RoleChanged)
        } else {
            None
        }
    }
}

impl Revocation {
    /// Tells the connection and asks it to close.
    pub fn apply(self, outbox: &Outbox) {
        match self {
            Revocation::Blocked => {
                outbox.send(frames::blocked());
                outbox.close(close_code::POLICY, "account blocked");
            }
            Revocation::SessionEnded => outbox.close(close_code::SESSION_ENDED, "session ended: sign in again"),
            Revocation::RoleChanged => outbox.close(close_code::ROLE_CHANGED, "role changed: reconnect"),
        }
    }
}

struct Registered {
    outbox: Arc<Outbox>,
    authority: Authority,
}

/// Who is connected and who is in which conversation: what the writer needs to know whom a
/// release of messages goes to.
pub struct Registry {
    connections: Mutex<HashMap<i64, HashMap<u64, Registered>>>,
    pub directory: Directory,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HashMap<u64, Registered>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `user` has a registered connection on this node.
    pub fn is_connected(&self, user: i64) -> bool {
        self.lock().contains_key(&user)
    }

    /// The users with a registered connection.
    pub fn users(&self) -> Vec<i64> {
        self.lock().keys().copied().collect()
    }

    /// The open connections of `user`.
    pub fn connections_of(&self, user: i64) -> Vec<(u64, Arc<Outbox>)> {
        let connections = self.lock();
        connections.get(&user).into_iter().flatten().map(|(id, r)| (*id, r.outbox.clone())).collect()
    }

    /// Sends a frame to the live connections of `users` (everyone's with `None`), but not
    /// those of `except`, on this node.
    pub fn send_live(&self, users: Option<&[i64]>, except: &[i64], frame: &Bytes) {
        // Copied out first: the registry is not locked while the sockets are written.
        for outbox in self.outboxes(users, except) {
            outbox.send_live(frame.clone());
        }
    }

    /// The outboxes of `users`' connections (all users with `None`), but those of `except`.
    fn outboxes(&self, users: Option<&[i64]>, except: &[i64]) -> Vec<Arc<Outbox>> {
        let connections = self.lock();
        let of = |mine: &HashMap<u64, Registered>| mine.values().map(|r| r.outbox.clone()).collect::<Vec<_>>();
        match users {
            Some(users) => users
                .iter()
                .filter(|user| !except.contains(user))
                .filter_map(|user| connections.get(user))
                .flat_map(of)
                .collect(),
            None => connections.iter().filter(|(user, _)| !except.contains(user)).flat_map(|(_, m)| of(m)).collect(),
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The account has as many sockets open as it may (429).
    Account,
    /// The server has as many sockets open as it may, or is shutting down (503).
    Server,
}

impl Hub {
    /// Starts the fan-out and writer tasks and returns the hub; with `cluster`, the writer
    /// shares commits with the other nodes. `store` is the writer's handle (its commits, gap
    /// reads and probes), `feeds` the handle the room-change feed and the tracked users'
    /// conversations are read through. `feed_start` is the newest room change now: the
    /// directory tracks nobody yet, and follows the feed from there.
    pub fn start(
        store: Store,
        feeds: Store,
        config: &Config,
        feed_start: i64,
        cluster: Option<ClusterLink>,
    ) -> Arc<Self> {
        // One shard per worker thread, so that a wave is written by every core at once.
        let shards = std::thread::available_parallelism().map_or(1, usize::from);
        let fanout = Arc::new(Fanout::start(shards));
        let registry = Arc::new(Registry { connections: Mutex::default(), directory: Directory::default() });
        let feed_nudge = Arc::new(Notify::new());
        let (progress, feed_progress) = watch::channel(feed_start);
        let (tracking, tracking_rx) = mpsc::unbounded_channel();
        let feed =
            FeedLink { nudge: feed_nudge.clone(), progress, start: feed_start, tracking: tracking_rx, store: feeds };
        let (writer_tx, writer_rx) = mpsc::channel(8192);
        let pacing = Pacing {
            writes_per_sec: config.fanout_writes_per_sec,
            busy_share: f64::from(config.fanout_pacing_cpu_percent) / 100.0,
            cores: shards,
        };
        let reading =
            Reading { process_cpu: process_cpu_time(), writing: fanout.time_writing(), idle: machine_idle_time() };
        let pacer = WavePacer::new(pacing, std::time::Instant::now(), reading);
        let bus = cluster.as_ref().map(|link| link.bus.clone());
        let flood = SharedLimiter::new("flood", config.flood_burst, config.flood_per_sec, bus.as_ref().map(Bus::link));
        let reactions = SharedLimiter::new(
            "reactions",
            app::protocol::REACTIONS_BURST,
            app::protocol::REACTIONS_PER_SEC,
            bus.as_ref().map(Bus::link),
        );
        let (reports_tx, reports) = mpsc::channel(64);
        let board = cluster
            .as_ref()
            .map(|link| Board::start(link.bus.link().clone(), link.bus.node(), link.presence_ttl, reports_tx));
        let (writer_link, presence_news) = match cluster {
            Some(link) => {
                let writer_link =
                    WriterLink { bus: link.bus, incoming: link.received.incoming, start_after: link.start_after };
                (Some(writer_link), Some(link.received.presence))
            }
            None => (None, None),
        };
        let writer_task =
            tokio::spawn(writer::run(store, writer_rx, fanout.clone(), registry.clone(), pacer, writer_link, feed));
        let hub = Arc::new(Self {
            fanout,
            bus,
            board,
            writer_tx: Mutex::new(Some(writer_tx)),
            writer_task: Mutex::new(Some(writer_task)),
            feed_nudge,
            feed_progress,
            tracking,
            presence: Presence::start(config.presence_list_max, registry.clone()),
            registry,
            presence_grace: Duration::from_millis(app::protocol::PRESENCE_GRACE_MS),
            next_connection: AtomicU64::new(1),
            admitted: Mutex::default(),
            admitted_total: AtomicUsize::new(0),
            max_per_account: config.max_sockets_per_account,
            max_total: config.effective_max_sockets(),
            shutting_down: AtomicBool::new(false),
            flood,
            typing: RateLimiter::new(app::protocol::TYPING_BURST, app::protocol::TYPING_PER_SEC),
            reactions,
            write_timeout: Duration::from_secs(config.write_timeout_secs),
            ping_interval: Duration::from_secs(config.ping_interval_secs),
            backlog_limits: BacklogLimits { frames: config.outbound_queue, bytes: config.outbound_queue_bytes },
        });
        if let Some(news) = presence_news {
            tokio::spawn(Self::follow_presence(Arc::downgrade(&hub), news, reports));
        }
        hub
    }

    /// On a cluster, whether the bus to the other nodes is connected (`None`: a single node).
    pub fn bus_up(&self) -> Option<bool> {
        self.bus.as_ref().map(Bus::is_up)
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Admits one more connection of `user_id` (at the handshake), within the caps; it counts
    /// until the returned guard is dropped, once the connection is closed.
    pub fn admit(self: &Arc<Self>, user_id: i64) -> Result<Admission, Full> {
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_shutting_down() || self.admitted_total.load(Ordering::SeqCst) >= self.max_total {
            return Err(Full::Server);
        }
        let mine = admitted.entry(user_id).or_default();
        if *mine >= self.max_per_account {
            return Err(Full::Account);
        }
        *mine += 1;
        self.admitted_total.fetch_add(1, Ordering::SeqCst);
        Ok(Admission { hub: self.clone(), user_id })
    }

    /// The conversation directory (who is in which conversation, who ignores whom).
    pub fn directory(&self) -> &Directory {
        &self.registry.directory
    }

    /// Registers a connection's outbox under the authority it was opened with: it starts taking
    /// the live feed (kept until its history is sent), and its user is online. During shutdown
    /// it is told to close at once. Returns the connection's id. The caller checks the account
    /// again after this, so that a change committed before the registration is not missed
    /// either.
    pub fn register(self: &Arc<Self>, user: &PublicUser, authority: Authority, outbox: Arc<Outbox>) -> u64 {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.fanout.add(id, outbox.clone());
        let registered = Registered { outbox: outbox.clone(), authority };
        let arrival = {
            let mut connections = self.lock_connections();
            let mine = connections.entry(user.id).or_default();
            mine.insert(id, registered);
            (mine.len() == 1).then(|| self.presence.arrive(user.id, &user.username))
        };
        if let Some(arrival) = arrival {
            if arrival.here {
                self.tell_nodes_presence(user.id, &user.username, true);
            }
            if arrival.everywhere {
                self.presence.announce(user.id, &user.username, true);
            }
        }
        if self.is_shutting_down() {
            outbox.close(close_code::AWAY, SHUTTING_DOWN);
        }
        id
    }

    /// Takes a connection off the live feed (its outbox is ending).
    pub fn leave_feed(&self, connection_id: u64) {
        self.fanout.remove(connection_id);
    }

    /// Forgets a connection once it is closed (shutdown waits for this). The user's last
    /// connection takes them offline: after the grace period, or at once (`at_once`: blocked).
    pub fn unregister(self: &Arc<Self>, user_id: i64, connection_id: u64, at_once: bool) {
        self.fanout.remove(connection_id);
        let mut connections = self.lock_connections();
        let Some(mine) = connections.get_mut(&user_id) else { return };
        mine.remove(&connection_id);
        if !mine.is_empty() {
            return;
        }
        connections.remove(&user_id);
        if at_once {
            let gone = self.presence.leave_now(user_id);
            drop(connections);
            if let Some(gone) = gone {
                self.departed(user_id, gone);
            }
            return;
        }
        let generation = self.presence.leave(user_id);
        drop(connections);
        let hub = Arc::downgrade(self);
        let grace = self.presence_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let Some(hub) = hub.upgrade() else { return };
            let gone = {
                let _connections = hub.lock_connections();
                hub.presence.confirm_leave(user_id, generation)
            };
            if let Some(gone) = gone {
                hub.departed(user_id, gone);
            }
        });
    }

    /// A user went offline on this node: the other nodes are told; their conversations too,
    /// when no other node has them.
    fn departed(self: &Arc<Self>, user_id: i64, gone: Departure) {
        self.tell_nodes_presence(user_id, &gone.username, false);
        if gone.everywhere {
            self.presence.announce(user_id, &gone.username, false);
        }
    }

    /// On a cluster, tells the other nodes (and the presence board) that a user of this node
    /// came online or went offline here.
    fn tell_nodes_presence(&self, user: i64, username: &str, online: bool) {
        let Some(bus) = &self.bus else { return };
        if let Some(board) = &self.board {
            board.change(match online {
                true => Change::Online { user, username: username.to_owned() },
                false => Change::Offline { user },
            });
        }
        bus.publish(Event::Presence { origin: bus.node(), user, username: username.to_owned(), online });
    }

    /// Follows the other nodes' presence (their news on the bus, the board's reports) for as
    /// long as the hub lives, telling this node's sockets of every cluster-wide change.
    async fn follow_presence(
        hub: std::sync::Weak<Self>,
        mut news: mpsc::Receiver<Incoming>,
        mut reports: mpsc::Receiver<Report>,
    ) {
        loop {
            let (hub, changes) = tokio::select! {
                event = news.recv() => {
                    let (Some(event), Some(hub)) = (event, hub.upgrade()) else { return };
                    let changes = hub.remote_presence(event);
                    (hub, changes)
                }
                report = reports.recv() => {
                    let (Some(report), Some(hub)) = (report, hub.upgrade()) else { return };
                    let changes = hub.board_report(report);
                    (hub, changes)
                }
            };
            for ((user, username), online) in changes {
                hub.presence.announce(user, &username, online);
            }
        }
    }

    /// Another node's presence news: the cluster-wide changes it makes, `((user, username), online)`.
    fn remote_presence(&self, news: Incoming) -> Vec<(Named, bool)> {
        match news {
            Incoming::Event(Event::Presence { origin, user, username, online: true }) => self
                .presence
                .remote_online(origin, user, &username)
                .map(|name| ((user, name), true))
                .into_iter()
                .collect(),
            Incoming::Event(Event::Presence { origin, user, online: false, .. }) => {
                self.presence.remote_offline(origin, user).map(|name| ((user, name), false)).into_iter().collect()
            }
            // Presence news published while the bus was down are lost: the board reads them back.
            Incoming::Resubscribed => {
                if let Some(board) = &self.board {
                    board.change(Change::Resync);
                }
                Vec::new()
            }
            Incoming::Event(_) => Vec::new(),
        }
    }

    /// What the presence board found: the cluster-wide changes it makes, `((user, username), online)`.
    fn board_report(&self, report: Report) -> Vec<(Named, bool)> {
        match report {
            Report::Alive(alive) => self.presence.nodes_alive(&alive).into_iter().map(|named| (named, false)).collect(),
            Report::Snapshot(nodes) => {
                let (came, went) = self.presence.remote_snapshot(nodes);
                came.into_iter()
                    .map(|named| (named, true))
                    .chain(went.into_iter().map(|named| (named, false)))
                    .collect()
            }
        }
    }

    /// Who is online now, on any node.
    pub fn online_names(&self) -> Vec<String> {
        self.presence.online_names()
    }

    /// What the `rooms` frame of a connection of `user` going live says of presence: who is
    /// online, and while presence is summarised (a large server), only `user` and the people
    /// sharing a conversation other than `general` with them, with the number online.
    pub fn online_for(&self, user: i64) -> (Vec<String>, Option<usize>) {
        self.presence.snapshot_for(user, || self.registry.directory.peers(user))
    }

    /// Sends a frame to the live connections of `users` (everyone's with `None`), but not
    /// those of `except`. Connections still waiting for their history skip it.
    pub fn send_live(&self, users: Option<&[i64]>, except: &[i64], frame: &Bytes) {
        self.registry.send_live(users, except, frame);
    }

    /// Sends `frame` to the live connections of `users` (everyone's with `None`) but those of
    /// `except`, on every node of the cluster.
    pub fn tell(&self, users: Option<&[i64]>, except: &[i64], frame: &ServerFrame) {
        let json = frames::encode(frame);
        self.send_live(users, except, &super::wire::text(&json));
        self.publish(|| Event::Frame { users: users.map(<[i64]>::to_vec), except: except.to_vec(), frame: json });
    }

    /// A change to a conversation, its members or an ignore was committed as room-change entry
    /// `seq`: the other nodes are told to read the feed, and this node's writer reads it now.
    /// Returns once this node has applied it (its directory and its users' frames), or after
    /// [`FEED_WAIT`] if the writer is stuck: every node applies it anyway when it reads the feed.
    pub async fn changed(&self, seq: i64) {
        self.publish(|| Event::Changes { seq });
        self.feed_nudge.notify_one();
        let mut progress = self.feed_progress.clone();
        let applied = tokio::time::timeout(FEED_WAIT, progress.wait_for(|applied| *applied >= seq)).await;
        if !matches!(applied, Ok(Ok(_))) {
            tracing::warn!(seq, "room change not applied in time");
        }
    }

    /// Starts tracking `user` in the directory (their connection is about to register):
    /// their conversations are loaded unless another connection of theirs has them (then it
    /// is counted at once, without the writer). False when they could not be read.
    pub async fn track(&self, user: i64) -> bool {
        if self.registry.directory.track_if_loaded(user) {
            return true;
        }
        let (done, answer) = oneshot::channel();
        if self.tracking.send(Tracking::Start { user, done }).is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// Stops tracking `user` for one connection (once it is unregistered).
    pub fn untrack(&self, user: i64) {
        let _ = self.tracking.send(Tracking::Stop { user });
    }

    /// Tells the other nodes, on a cluster.
    fn publish(&self, event: impl FnOnce() -> Event) {
        if let Some(bus) = &self.bus {
            bus.publish(event());
        }
    }

    /// Closes every open connection of a blocked user: the `blocked` frame, then 1008.
    pub fn disconnect_user(&self, user_id: i64) {
        for registered in self.lock_connections().get(&user_id).into_iter().flat_map(|m| m.values()) {
            Revocation::Blocked.apply(&registered.outbox);
        }
    }

    /// Holds every open connection of `user_id` to the account's current record (`None`: the
    /// account is gone): those whose authority it revokes are told and closed.
    pub fn enforce(&self, user_id: i64, current: Option<&UserRecord>) {
        for registered in self.lock_connections().get(&user_id).into_iter().flat_map(|m| m.values()) {
            if let Some(revocation) = registered.authority.revoked_by(current) {
                revocation.apply(&registered.outbox);
            }
        }
    }

    /// The sessions the open connections of `user_id` were opened under, each once.
    pub fn sessions_of(&self, user_id: i64) -> Vec<SessionId> {
        let connections = self.lock_connections();
        let mut sessions: Vec<SessionId> = connections
            .get(&user_id)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|r| r.authority.session)
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// Closes the open connections of `user_id` opened under `session`, which was logged out:
    /// 4001, as for any session that ended.
    pub fn end_session(&self, user_id: i64, session: SessionId) {
        for registered in self.lock_connections().get(&user_id).into_iter().flat_map(|m| m.values()) {
            if registered.authority.session == Some(session) {
                Revocation::SessionEnded.apply(&registered.outbox);
            }
        }
    }

    /// Whether `user_id` has a registered connection.
    pub fn is_connected(&self, user_id: i64) -> bool {
        self.lock_connections().contains_key(&user_id)
    }

    /// Open connections, from their admission at the handshake until they are closed.
    pub fn connection_count(&self) -> usize {
        self.admitted_total.load(Ordering::SeqCst)
    }

    /// Queues a validated message for the writer; an unusual outcome is sent to `reply`.
    /// Returns false once the hub is shutting down.
    pub async fn submit(&self, message: NewMessage, reply: Arc<Outbox>) -> bool {
        self.submit_to_writer(Submission { message, reply: Some(reply), queued_at: std::time::Instant::now() }).await
    }

    /// Queues a message no connection waits for (a held message an admin approved): its
    /// members' sockets, its sender's included, get it like any other.
    pub async fn submit_detached(&self, message: NewMessage) -> bool {
        self.submit_to_writer(Submission { message, reply: None, queued_at: std::time::Instant::now() }).await
    }

    async fn submit_to_writer(&self, submission: Submission) -> bool {
        let writer = self.writer_tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match writer {
            Some(writer) => writer.send(submission).await.is_ok(),
            None => false,
        }
    }

    /// Graceful shutdown: tells every connection to close with 1001, stops taking messages, and
    /// waits (at most `grace` in all) until the writer has committed everything in flight and
    /// every connection has sent its close frame.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        self.shutting_down.store(true, Ordering::SeqCst);
        for registered in self.lock_connections().values().flat_map(HashMap::values) {
            registered.outbox.close(close_code::AWAY, SHUTTING_DOWN);
        }
        self.writer_tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let task = self.writer_task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!("message writer did not finish within the grace period");
            }
        }
        while self.connection_count() > 0 {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(open = self.connection_count(), "connections still open after the grace period");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn lock_connections(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HashMap<u64, Registered>>> {
        self.registry.lock()
    }
}

pub const SHUTTING_DOWN: &str = "server shutting down";

/// Longest wait of a use case for its own room change to be applied here.
const FEED_WAIT: Duration = Duration::from_secs(5);

/// One admitted connection (see [`Hub::admit`]), counted until dropped.
pub struct Admission {
    hub: Arc<Hub>,
    user_id: i64,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut admitted = self.hub.admitted.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mine) = admitted.get_mut(&self.user_id) {
            *mine -= 1;
            if *mine == 0 {
                admitted.remove(&self.user_id);
            }
        }
        self.hub.admitted_total.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(token_version: i64, is_admin: bool, is_blocked: bool) -> UserRecord {
        let public = PublicUser {
            id: 1,
            username: "u".into(),
            email: "u@x.io".into(),
            is_admin,
            is_blocked,
            warning_count: 0,
            created_at: String::new(),
        };
        UserRecord { public, password_hash: String::new(), token_version }
    }

    #[test]
    fn an_authority_holds_only_while_the_account_is_as_it_was() {
        let authority = Authority { token_version: 3, is_admin: true, session: None };
        assert_eq!(authority.revoked_by(Some(&record(3, true, false))), None);
        assert_eq!(authority.revoked_by(Some(&record(4, true, true))), Some(Revocation::Blocked), "a block wins");
        assert_eq!(authority.revoked_by(Some(&record(4, true, false))), Some(Revocation::SessionEnded));
        assert_eq!(authority.revoked_by(Some(&record(3, false, false))), Some(Revocation::RoleChanged));
        assert_eq!(authority.revoked_by(None), Some(Revocation::SessionEnded), "a deleted account");
    }
}
