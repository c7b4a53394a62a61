//! `GET /ws`: the WebSocket door (contract in `docs/protocol.md`).
//!
//! Before the upgrade: authentication (`?token=` or the session cookie, the latter only from the
//! site's own `Origin`), the handshake itself (`handshake`), then admission within the socket
//! caps; refusals (401, 403, 400, 426, 429, 503) as JSON. The upgrade is done here, on the raw
//! TCP socket (framing in `wire`), so that the fan-out can write pre-encoded frames straight
//! into it.
//!
//! After it, one task per connection. It registers the connection's [`Outbox`] with the
//! authority it was opened under (from then on the live feed is kept for it, and a change to the
//! account closes it), checks the account once more, reads and sends the history frame (bounded
//! in count and bytes), and goes live: missed live messages follow the history with no gap and
//! no duplicate. Then it reads client frames (validated, flood-limited, moderated, handed to the
//! group-commit writer), pings a silent client, writes the outbox's backlog when the socket had
//! been full, and ends the connection with a close frame when the connection is blocked, its
//! session ends (expiry, revocation, a role change), the server shuts down or the client breaks
//! the protocol. Live messages do not wake it: the fan-out writes them.

use super::frames;
use super::handshake::{websocket_accept, BadUpgrade};
use super::hub::{Admission, Authority, Full};
use super::outbox::{End, Outbox};
use super::wire::{self, close_code, Decoder, Incoming};
use crate::moderation;
use crate::services::Services;
use crate::store::NewMessage;
use crate::AppState;
use app::domain::MessageBody;
use app::error::ApiError;
use crate::auth::{unix_now, TokenSession};
use app::models::{ClientFrame, PublicUser, ServerFrame, HISTORY_MAX_BYTES, MAX_CLIENT_ID_CHARS};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::Instrument;

/// Messages in the history frame of a fresh connection.
pub const HISTORY_LATEST: i64 = 50;
/// Most messages in a `since` catch-up history frame.
pub const HISTORY_SINCE_MAX: i64 = 500;
/// Largest client message accepted; bigger ones close the connection with 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 4 * 1024;
/// How long a closing connection waits for the client's close frame before it lets go.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

pub async fn handler(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let (user, session) = match authenticate(&state.services, &params, headers).await {
        Ok(granted) => granted,
        Err(error) => return error.into_response(),
    };
    let since = match params.get("since").map(|s| s.parse::<i64>()) {
        None => None,
        Some(Ok(id)) if id >= 0 => Some(id),
        Some(_) => return ApiError::BadRequest { message: "since must be a message id".into() }.into_response(),
    };
    let accept = match websocket_accept(request.headers()) {
        Ok(accept) => accept,
        Err(bad) => return bad.into_response(),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return upgrade_required("this connection cannot be upgraded");
    };
    let services = state.services.clone();
    // Counted from here until it is closed, so the caps hold and a shutdown waits for it too.
    let admission = match services.hub.admit(user.id) {
        Ok(admission) => admission,
        Err(full) => return refuse_full(full),
    };
    let span = tracing::info_span!("ws", user_id = user.id);
    tokio::spawn(
        async move {
            let Some((socket, read)) = raw_socket(on_upgrade).await else { return };
            Box::pin(Connection::run(socket, read, services, Granted { user, session, since, admission })).await;
        }
        .instrument(span),
    );
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .expect("a valid response")
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Seconds a client refused by a socket cap is asked to wait before it tries again.
const FULL_RETRY_AFTER_SECS: u32 = 5;

/// 429 (this account has as many sockets as it may) or 503 (the server is full), with
/// `Retry-After`.
fn refuse_full(full: Full) -> Response {
    let mut response = match full {
        Full::Account => refuse(StatusCode::TOO_MANY_REQUESTS, "too many open connections for this account"),
        Full::Server => refuse(StatusCode::SERVICE_UNAVAILABLE, "the server has as many connections as it can take"),
    };
    response.headers_mut().insert(http::header::RETRY_AFTER, FULL_RETRY_AFTER_SECS.into());
    response
}

/// 426, naming the protocol to upgrade to (RFC 9110, 15.5.22).
fn upgrade_required(message: &str) -> Response {
    let mut response = refuse(StatusCode::UPGRADE_REQUIRED, message);
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    response
}

impl IntoResponse for BadUpgrade {
    fn into_response(self) -> Response {
        match self {
            BadUpgrade::Malformed(message) => refuse(StatusCode::BAD_REQUEST, message),
            BadUpgrade::Version => {
                let mut response =
                    upgrade_required("unsupported WebSocket version: `Sec-WebSocket-Version` must be 13");
                response.headers_mut().insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
                response
            }
        }
    }
}

/// The TCP socket under an upgraded HTTP connection, with what was already read from it.
async fn raw_socket(on_upgrade: hyper::upgrade::OnUpgrade) -> Option<(TcpStream, Bytes)> {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::debug!(%error, "upgrade failed");
            return None;
        }
    };
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => Some((parts.io.into_inner(), parts.read_buf)),
        Err(_) => {
            tracing::error!("upgraded connection is not a TCP socket");
            None
        }
    }
}

/// `?token=` (API clients) or the session cookie (browsers, own origin only).
async fn authenticate(
    services: &Services,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(PublicUser, TokenSession), ApiError> {
    let token = match params.get("token").filter(|t| !t.is_empty()) {
        Some(token) => token.clone(),
        None => {
            let token = app::session::token_from_headers(headers).ok_or(ApiError::Unauthenticated)?;
            if app::session::bearer_token(headers).is_none() && !same_origin(headers) {
                return Err(cross_site());
            }
            token
        }
    };
    services.session_for_token(&token).await
}

fn cross_site() -> ApiError {
    ApiError::Forbidden { message: "cross-site WebSocket refused".into() }
}

/// The `Origin` header names this very site (scheme and the `Host` the request was sent to).
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
    let (Some(origin), Some(host)) = (header(http::header::ORIGIN), header(http::header::HOST)) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
}

/// What the handshake granted a connection.
struct Granted {
    user: PublicUser,
    session: TokenSession,
    since: Option<i64>,
    admission: Admission,
}

/// One connection's task: its reading side, and the writer of its backlog.
struct Connection {
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
    async fn run(socket: TcpStream, read: Bytes, services: Arc<Services>, granted: Granted) {
        let Granted { user, session, since, admission } = granted;
        let hub = services.hub.clone();
        let outbox = Arc::new(Outbox::new(socket, hub.backlog_limits));
        let authority = Authority { token_version: session.token_version, is_admin: user.is_admin };
        // Registered before the history is read: nothing committed in between can be missed.
        let connection_id = hub.register(user.id, authority, outbox.clone());
        // And the account checked again once registered: a change committed during the
        // handshake is seen here, a later one reaches this connection through the hub.
        match services.store.user_by_id(user.id).await {
            Ok(current) => {
                if let Some(revocation) = authority.revoked_by(current.as_ref()) {
                    revocation.apply(&outbox);
                }
            }
            Err(error) => {
                tracing::error!(%error, "account check failed");
                outbox.close(close_code::ERROR, "account unavailable");
            }
        }
        let lifetime = Duration::from_secs(session.expires_at.saturating_sub(unix_now()));
        let mut connection = Connection {
            services,
            user,
            outbox,
            expires_at: Instant::now() + lifetime,
            read: BytesMut::from(&read[..]),
            decoder: Decoder::new(MAX_FRAME_BYTES),
            last_heard: Instant::now(),
            pinged: false,
            stalled_since: None,
        };
        let end = match connection.send_history(since).await {
            Ok(()) => connection.serve().await,
            Err(end) => end,
        };
        let end = connection.outbox.finish(end);
        hub.leave_feed(connection_id);
        if let End::Close(code, reason) = end {
            connection.close(code, reason).await;
        }
        // Only now: a shutdown waits until every close frame has gone.
        hub.unregister(connection.user.id, connection_id);
        drop(admission);
        tracing::debug!("connection closed");
    }

    async fn send_history(&mut self, since: Option<i64>) -> Result<(), End> {
        let store = &self.services.store;
        let failed = |error| {
            tracing::error!(%error, "history query failed");
            End::Close(close_code::ERROR, "history unavailable")
        };
        let (messages, more, last_id) = match since {
            Some(since) => {
                // The newest id first: a `since` beyond it (a stale id from another database)
                // must not mute the live feed, and anything stored after this read is newer.
                let newest = store.latest_messages(1).await.map_err(failed)?.first().map_or(0, |m| m.id);
                let (messages, more) = store
                    .messages_since_within(since, HISTORY_SINCE_MAX, HISTORY_MAX_BYTES)
                    .await
                    .map_err(failed)?;
                let last_id = messages.last().map_or(since.min(newest), |m| m.id);
                (messages, more, last_id)
            }
            None => {
                let messages = store.latest_within(HISTORY_LATEST, HISTORY_MAX_BYTES).await.map_err(failed)?;
                let last_id = messages.last().map_or(0, |m| m.id);
                (messages, false, last_id)
            }
        };
        self.outbox.go_live(frames::text(&ServerFrame::History { messages, more }), last_id);
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
        let interval = self.services.hub.ping_interval;
        let silence = self.last_heard + if self.pinged { interval * 2 } else { interval };
        let due = silence.min(self.expires_at);
        match self.stalled_since {
            Some(since) => due.min(since + self.services.hub.write_timeout),
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
        if self.stalled_since.is_some_and(|since| now >= since + self.services.hub.write_timeout) {
            return Err(End::Gone);
        }
        let interval = self.services.hub.ping_interval;
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
        let message = match self.accept(&text) {
            Ok(message) => message,
            Err(refusal) => {
                self.reply(refusal.frame());
                return Ok(());
            }
        };
        let answer = match self.services.moderate(self.user.id, &message.content).await {
            Ok(None) => None,
            Ok(Some(strike)) if strike.blocked => {
                // Every socket of the account, this one included, gets the `blocked` frame and 1008.
                self.services.hub.disconnect_user(self.user.id);
                return Err(End::Close(close_code::POLICY, "account blocked"));
            }
            Ok(Some(strike)) => Some(frames::text(&ServerFrame::Warning {
                warning_count: strike.warning_count,
                max_warnings: moderation::MAX_WARNINGS,
                message: moderation::warning_text(strike),
                client_id: message.client_id.clone(),
            })),
            Err(_) => Some(Refusal::new("message could not be checked; send it again", message.client_id.clone()).frame()),
        };
        if let Some(answer) = answer {
            self.reply(answer);
            return Ok(());
        }
        if self.services.hub.submit(message, self.outbox.clone()).await {
            Ok(())
        } else {
            Err(End::Close(close_code::AWAY, super::hub::SHUTTING_DOWN))
        }
    }

    /// Sends an answer frame (in order with the live feed).
    fn reply(&self, frame: Bytes) {
        self.outbox.send(frame);
    }

    /// Validates a client frame into a message ready to store, or says why not (echoing the
    /// frame's `client_id` whenever it carried one, however wrong the rest of it is).
    fn accept(&self, text: &str) -> Result<NewMessage, Refusal> {
        let frame = ClientFrame::parse(text).map_err(|reason| Refusal::new(reason, ClientFrame::client_id_of(text)))?;
        let ClientFrame::Message { content, client_id } = frame;
        if client_id.as_ref().is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS) {
            let reason = format!("client_id is longer than {MAX_CLIENT_ID_CHARS} characters");
            return Err(Refusal::new(reason, client_id));
        }
        let body = MessageBody::parse(&content).map_err(|e| Refusal::new(e.to_string(), client_id.clone()))?;
        if !self.services.hub.flood.allow(&self.user.id) {
            return Err(Refusal::new("slow down: too many messages", client_id));
        }
        Ok(NewMessage {
            sender_id: self.user.id,
            username: self.user.username.clone(),
            content: body.into_inner(),
            client_id: client_id.filter(|id| !id.is_empty()),
        })
    }

    /// Sends the close frame after whatever is waiting (within the write timeout), stops
    /// writing, and waits briefly for the client's own close so the socket ends cleanly.
    async fn close(&self, code: u16, reason: &str) {
        self.outbox.queue_close(code, reason);
        let socket = self.outbox.socket();
        let flushed = tokio::time::timeout(self.services.hub.write_timeout, async {
            while !self.outbox.write_backlog().unwrap_or(true) {
                if socket.writable().await.is_err() {
                    return;
                }
            }
        });
        if flushed.await.is_err() {
            return;
        }
        let _ = socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Write);
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

/// Why a client frame was refused, answered with an `error` frame.
struct Refusal {
    reason: String,
    client_id: Option<String>,
}

impl Refusal {
    fn new(reason: impl Into<String>, client_id: Option<String>) -> Self {
        Self { reason: reason.into(), client_id }
    }

    fn frame(self) -> Bytes {
        frames::error(self.reason, self.client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_version_is_426_naming_the_protocol_and_version() {
        let response = BadUpgrade::Version.into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(response.headers()[UPGRADE], "websocket");
        assert_eq!(response.headers()[CONNECTION], "upgrade");
    }
}
