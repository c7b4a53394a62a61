//! One WebSocket connection's task, after the upgrade.
//!
//! It registers the connection's [`Outbox`] with the authority it was opened under (from then on
//! the live feed is kept for it, and a change to the account closes it), checks the account once
//! more, sends the first history frame (bounded in count and bytes), and goes live: missed live
//! messages follow the history with no gap and no duplicate. Then it reads client frames, hands
//! each message to the chat use case ([`Services::post`]) and answers what it says, pings a
//! silent client, writes the outbox's backlog when the socket had been full, and ends the
//! connection with a close frame when the account is blocked, its session ends (expiry,
//! revocation, a role change), the server shuts down or the client breaks the protocol. Live
//! messages do not wake it: the fan-out writes them.

use crate::auth::TokenSession;
use crate::fanout::frames;
use crate::fanout::hub::{Admission, Authority, SHUTTING_DOWN};
use crate::fanout::outbox::{End, Outbox};
use crate::fanout::wire::{self, close_code, Decoder, Incoming};
use crate::services::chat::{Post, Posted};
use crate::services::Services;
use app::models::{ClientFrame, PublicUser, ServerFrame};
use app::protocol::MAX_FRAME_BYTES;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 4 * 1024;
/// How long a closing connection waits for the client's close frame before it lets go.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// What the handshake granted a connection.
pub struct Granted {
    pub user: PublicUser,
    pub session: TokenSession,
    pub since: Option<i64>,
    /// With `since`: the newest message change the client saw (it is sent what changed after).
    pub changes: Option<i64>,
    pub admission: Admission,
}

/// One connection's task: its reading side, and the writer of its backlog.
pub struct Connection {
    services: Arc<Services>,
    user: PublicUser,
    outbox: Arc<Outbox>,
    /// When the session's token expires: the connection closes with 4001 then.
    expires_at: Instant,
    /// Bytes read and not yet decoded (empty, and unallocated, between messages).
    read: BytesMut,
    decoder: Decoder,
    /// When the client was last heard from, and whether it has been pinged since.
    last_heard: Instant,
    pinged: bool,
    /// Since when the backlog has been waiting for a full socket, if it is.
    stalled_since: Option<Instant>,
}

impl Connection {
    pub async fn run(socket: TcpStream, read: Bytes, services: Arc<Services>, granted: Granted) {
        let Granted { user, session, since, changes, admission } = granted;
        let hub = services.hub().clone();
        let outbox = Arc::new(Outbox::new(socket, hub.backlog_limits));
        let authority =
            Authority { token_version: session.token_version, is_admin: user.is_admin, session: session.session_id };
        // What the client sent after its handshake, copied: `read` may be a slice of the HTTP
        // connection's whole read buffer, which must not live as long as the socket.
        let pending = BytesMut::from(&read[..]);
        drop(read);
        // The user's conversations are in the directory before the connection takes the live
        // feed, so no message of theirs is planned without them.
        let tracked = hub.track(user.id).await;
        if !tracked {
            outbox.close(close_code::ERROR, "rooms unavailable");
        }
        // Registered before the history is read: nothing committed in between can be missed.
        let connection_id = hub.register(&user, authority, outbox.clone());
        let mut connection = Connection {
            services,
            user,
            outbox,
            // To the sub-second: the token is refused from the instant its `exp` begins.
            expires_at: Instant::now() + session.remaining(),
            read: pending,
            decoder: Decoder::new(MAX_FRAME_BYTES),
            last_heard: Instant::now(),
            pinged: false,
            stalled_since: None,
        };
        // Boxed, like every large and short-lived future of this task: inline, the store's
        // futures would be part of the task's state for the connection's whole life.
        let started = Box::pin(connection.start(authority, since, changes)).await;
        let end = match started {
            Ok(()) => connection.serve().await,
            Err(end) => end,
        };
        let end = connection.outbox.finish(end);
        hub.leave_feed(connection_id);
        let closed_cleanly = match end {
            End::Close(code, reason) => connection.send_close(code, reason).await,
            End::Gone => false,
        };
        // Once the close frame has gone the connection no longer counts: a shutdown waits for
        // this, and a client reconnecting at its account's cap is admitted at once. A blocked
        // account goes offline at once; anyone else after the presence grace period.
        let blocked = end == End::Close(close_code::POLICY, "account blocked");
        hub.unregister(connection.user.id, connection_id, blocked);
        if tracked {
            hub.untrack(connection.user.id);
        }
        drop(admission);
        if closed_cleanly {
            connection.linger().await;
        }
        tracing::debug!("connection closed");
    }

    /// Checks the account once more now that the connection is registered (a change committed
    /// during the handshake is seen here, a later one reaches it through the hub), then sends
    /// the first history.
    async fn start(&mut self, authority: Authority, since: Option<i64>, changes: Option<i64>) -> Result<(), End> {
        // The account and session checked again once registered: a change committed during the
        // handshake is seen here, a later one reaches this connection through the hub.
        match self.services.revocation_of(self.user.id, &authority).await {
            Ok(revocation) => {
                if let Some(revocation) = revocation {
                    revocation.apply(&self.outbox);
                }
            }
            Err(error) => {
                tracing::error!(%error, "account check failed");
                self.outbox.close(close_code::ERROR, "account unavailable");
            }
        }
        self.send_history(since, changes).await
    }

    /// Sends the first history frame, then the `rooms` frame (my conversations, who is online,
    /// and the newest message change), then the messages I hold that changed meanwhile (a
    /// `changes` frame), and goes live.
    async fn send_history(&mut self, since: Option<i64>, changes: Option<i64>) -> Result<(), End> {
        let unavailable = |error: crate::store::StoreError| {
            tracing::error!(%error, "history query failed");
            End::Close(close_code::ERROR, "history unavailable")
        };
        // The (small) room list first: a history (up to 256 KiB) is encoded and sent as soon
        // as it is read, never held while waiting for another query.
        let rooms =
            self.services.my_rooms(&self.user).await.map_err(|_| End::Close(close_code::ERROR, "rooms unavailable"))?;
        // Closed meanwhile (a revocation, too many live messages kept): no history to read.
        if let Some(end) = self.outbox.end() {
            return Err(end);
        }
        // Read before the history: every message change after it is in the history, in the
        // `changes` frame, or live.
        let head = self.services.store().latest_room_change().await.map_err(unavailable)?;
        let history = self.services.first_history(&self.user, since).await.map_err(unavailable)?;
        let frame = frames::text(&ServerFrame::History {
            room_id: history.room_id,
            messages: history.messages,
            more: history.more,
        });
        // What changed among the messages the client holds: after its cursor when it gave one
        // (the messages up to `since`), and for everyone what changed while the history was read.
        let (after, upto) = match (since, changes) {
            (Some(since), Some(changes)) => (changes, since.min(history.last_id)),
            _ => (head, history.last_id),
        };
        let changed = self.services.changed_messages(&self.user, after, upto).await.map_err(unavailable)?;
        let changed = (changes.is_some() || !changed.messages.is_empty()).then(|| frames::text(&changed.frame(head)));
        let hub = self.services.hub().clone();
        let user = self.user.id;
        self.outbox.go_live(frame, history.last_id, changed, move || {
            let (online, online_count) = hub.online_for(user);
            frames::text(&ServerFrame::Rooms { rooms, online, online_count, changes: head })
        });
        Ok(())
    }

    /// Serves the connection until its end is decided.
    async fn serve(&mut self) -> End {
        loop {
            if let Err(end) = self.step().await {
                return end;
            }
        }
    }

    /// Handles the messages already read, then waits for the next thing to do.
    async fn step(&mut self) -> Result<(), End> {
        while let Some(incoming) = self.decoder.next(&mut self.read).map_err(|v| End::Close(v.code, v.reason))? {
            // Once blocked or shut down, nothing more the client sent is taken.
            if let Some(end) = self.outbox.end() {
                return Err(end);
            }
            self.on_incoming(incoming).await?;
        }
        if self.read.is_empty() && self.read.capacity() > 0 {
            self.read = BytesMut::new();
        }
        if let Some(end) = self.outbox.end() {
            return Err(end);
        }
        let backlog = self.write_backlog()?;
        let outbox = self.outbox.clone();
        let socket = outbox.socket();
        tokio::select! {
            _ = outbox.woken() => Ok(()),
            ready = socket.readable() => {
                ready.map_err(|_| End::Gone)?;
                self.read_some()
            }
            ready = socket.writable(), if backlog => ready.map_err(|_| End::Gone),
            _ = tokio::time::sleep_until(self.deadline()) => self.on_deadline(),
        }
    }

    /// Writes what the socket takes of the backlog; true if some is still waiting.
    fn write_backlog(&mut self) -> Result<bool, End> {
        match self.outbox.write_backlog() {
            Ok(true) => {
                self.stalled_since = None;
                Ok(false)
            }
            Ok(false) => {
                self.stalled_since.get_or_insert_with(Instant::now);
                Ok(true)
            }
            Err(_) => Err(End::Gone),
        }
    }

    fn read_some(&mut self) -> Result<(), End> {
        self.read.reserve(READ_CHUNK);
        match self.outbox.socket().try_read_buf(&mut self.read) {
            Ok(0) => Err(End::Gone),
            Ok(_) => {
                self.last_heard = Instant::now();
                self.pinged = false;
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(_) => Err(End::Gone),
        }
    }

    /// The next time something is due: a ping, dropping a silent client, giving up on a
    /// socket that takes nothing, or the session's expiry.
    fn deadline(&self) -> Instant {
        let interval = self.services.hub().ping_interval;
        let silence = self.last_heard + if self.pinged { interval * 2 } else { interval };
        let due = silence.min(self.expires_at);
        match self.stalled_since {
            Some(since) => due.min(since + self.services.hub().write_timeout),
            None => due,
        }
    }

    /// The session's token has expired: 4001, the client signs in again (or renews first).
    fn check_expiry(&self, now: Instant) -> Result<(), End> {
        if now >= self.expires_at {
            Err(End::Close(close_code::SESSION_ENDED, "session expired: sign in again"))
        } else {
            Ok(())
        }
    }

    /// A client silent for a ping interval is pinged (a live one answers); silent for two, or
    /// not taking what it is sent for the write timeout, it is dropped.
    fn on_deadline(&mut self) -> Result<(), End> {
        let now = Instant::now();
        self.check_expiry(now)?;
        if self.stalled_since.is_some_and(|since| now >= since + self.services.hub().write_timeout) {
            return Err(End::Gone);
        }
        let interval = self.services.hub().ping_interval;
        if now >= self.last_heard + interval * 2 {
            return Err(End::Gone);
        }
        if now >= self.last_heard + interval && !self.pinged {
            self.pinged = true;
            self.outbox.send(wire::ping());
        }
        Ok(())
    }

    async fn on_incoming(&mut self, incoming: Incoming) -> Result<(), End> {
        match incoming {
            // Boxed: the moderation and store futures are large and rarely live; inline, every
            // connection's task would carry their state for its whole life (idle RSS).
            Incoming::Text(text) => Box::pin(self.on_text(text)).await,
            Incoming::Ping(payload) => {
                self.outbox.send(wire::pong(&payload));
                Ok(())
            }
            Incoming::Pong => Ok(()),
            Incoming::Close(code) => Err(End::Close(code.map_or(close_code::NORMAL, echo_code), "")),
        }
    }

    async fn on_text(&self, text: String) -> Result<(), End> {
        self.check_expiry(Instant::now())?;
        let post = match ClientFrame::parse(&text) {
            Ok(ClientFrame::Message { content, client_id, room_id, reply_to, attachments }) => {
                Post { room_id, content, client_id, reply_to, attachments }
            }
            Ok(ClientFrame::Typing { room_id }) => {
                if let Err(reason) = self.services.typing(&self.user, room_id) {
                    self.reply(frames::error(reason, None));
                }
                return Ok(());
            }
            Ok(ClientFrame::History { room_id, before }) => {
                let frame = match self.services.room_history(&self.user, room_id, before).await {
                    Ok(page) => frames::text(&ServerFrame::History {
                        room_id: Some(page.room_id),
                        messages: page.messages,
                        more: page.more,
                    }),
                    Err(reason) => frames::error(reason, None),
                };
                self.reply(frame);
                return Ok(());
            }
            Err(reason) => {
                self.reply(frames::error(reason, ClientFrame::client_id_of(&text)));
                return Ok(());
            }
        };
        match self.services.post(&self.user, post, self.outbox.clone()).await {
            Posted::Queued => Ok(()),
            Posted::Refused { reason, client_id } => {
                self.reply(frames::error(reason, client_id));
                Ok(())
            }
            Posted::Warned { strike, client_id } => {
                self.reply(frames::warning(strike, client_id));
                Ok(())
            }
            Posted::Held { client_id, room_id } => {
                self.reply(frames::text(&ServerFrame::Held { client_id, room_id }));
                Ok(())
            }
            Posted::Blocked => Err(End::Close(close_code::POLICY, "account blocked")),
            Posted::ShuttingDown => Err(End::Close(close_code::AWAY, SHUTTING_DOWN)),
        }
    }

    /// Sends an answer frame (in order with the live feed).
    fn reply(&self, frame: Bytes) {
        self.outbox.send(frame);
    }

    /// Sends the close frame after whatever is waiting (within the write timeout) and stops
    /// writing; true when it went out.
    async fn send_close(&self, code: u16, reason: &str) -> bool {
        self.outbox.queue_close(code, reason);
        let socket = self.outbox.socket();
        let flushed = tokio::time::timeout(self.services.hub().write_timeout, async {
            while !self.outbox.write_backlog().unwrap_or(true) {
                if socket.writable().await.is_err() {
                    return;
                }
            }
        });
        if flushed.await.is_err() {
            return false;
        }
        let _ = socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Write);
        true
    }

    /// Waits briefly for the client's own close (or the end of its stream), so the TCP
    /// connection ends cleanly.
    async fn linger(&self) {
        let socket = self.outbox.socket();
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            let mut discard = [0u8; 512];
            loop {
                if socket.readable().await.is_err() {
                    return;
                }
                match socket.try_read(&mut discard) {
                    Ok(0) => return,
                    Err(error) if error.kind() != std::io::ErrorKind::WouldBlock => return,
                    _ => {}
                }
            }
        })
        .await;
    }
}

/// The code to echo to a client's close frame (RFC 6455 §5.5.1): its own, unless it is one
/// that must not be sent.
fn echo_code(code: u16) -> u16 {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => code,
        _ => close_code::PROTOCOL,
    }
}
