//! `GET /ws`: the WebSocket door (contract in `docs/protocol.md`).
//!
//! Before the upgrade: authentication (`?token=` or the session cookie, the latter only from the
//! site's own `Origin`), 401/403 as JSON. After it, two tasks per connection. The writer sends
//! the history frame first (subscribed to the live feed before reading it, de-duplicated by id),
//! then loops writing the shared pre-encoded feed frames (several per flush) and whatever comes
//! on the connection's control channel. The reader validates client frames, flood-limits and
//! moderates them, and hands them to the group-commit writer; whatever it has to say (answers,
//! pings, its end) goes through the control channel to the writer, in order.

use super::hub::{Control, Delivery, Outcome, Registration};
use crate::moderation;
use crate::services::Services;
use crate::store::NewMessage;
use crate::AppState;
use app::domain::MessageBody;
use app::error::ApiError;
use app::models::{ClientFrame, PublicUser, ServerFrame, MAX_CLIENT_ID_CHARS};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use http::HeaderMap;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, Semaphore};
use tracing::Instrument;

/// Messages in the history frame of a fresh connection.
pub const HISTORY_LATEST: i64 = 50;
/// Most messages in a `since` catch-up history frame.
pub const HISTORY_SINCE_MAX: i64 = 500;
/// Largest client frame accepted; bigger ones close the connection with 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Frames written per flush at most (coalescing).
const MAX_FRAMES_PER_FLUSH: usize = 128;

pub async fn handler(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let user = match authenticate(&state.services, &params, &headers).await {
        Ok(user) => user,
        Err(error) => return error.into_response(),
    };
    let since = match params.get("since").map(|s| s.parse::<i64>()) {
        None => None,
        Some(Ok(id)) if id >= 0 => Some(id),
        Some(_) => return ApiError::BadRequest { message: "since must be a message id".into() }.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return (rejection.status(), axum::Json(serde_json::json!({"error": rejection.body_text()}))).into_response(),
    };
    let services = state.services.clone();
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("ws", user_id = user.id);
            Connection::run(socket, services, user, since).instrument(span)
        })
}

/// `?token=` (API clients) or the session cookie (browsers, own origin only).
async fn authenticate(
    services: &Services,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<PublicUser, ApiError> {
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
    services.user_for_token(&token).await
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

/// The writing half of a connection: the loop that owns the socket's sink.
struct Connection {
    services: Arc<Services>,
    user: PublicUser,
    registration: Registration,
    sink: SplitSink<WebSocket, Message>,
    /// Frames waiting for the next flush (kept between flushes to avoid an allocation each time).
    pending: Vec<Message>,
    /// Highest message id this client has been sent.
    last_sent: i64,
}

/// The reading half of a connection, in its own task so that a delivery wakes only the writer
/// (polling the socket's read side on every delivery cost ~15 % of the server's CPU).
struct Reader {
    services: Arc<Services>,
    user: PublicUser,
    /// The connection's control channel: the writer sends what the reader has to say, in order,
    /// and the outcome of a submitted message comes back on it too.
    control: mpsc::UnboundedSender<Control>,
    /// Bounds the reader's frames waiting for the writer: a client that sends faster than it
    /// reads waits here instead of growing a queue.
    reply_permits: Arc<Semaphore>,
}

/// Reader frames that may wait for the writer before the reader waits.
const REPLY_QUEUE: usize = 16;

/// Why the loop ended, and the close frame to send if any.
enum End {
    Close(u16, &'static str),
    Gone,
}

impl Connection {
    async fn run(socket: WebSocket, services: Arc<Services>, user: PublicUser, since: Option<i64>) {
        let hub = services.hub.clone();
        let registration = hub.register(user.id);
        let connection_id = registration.id;
        // Subscribe before reading history: nothing committed in between can be missed.
        let feed = hub.subscribe();
        let (sink, stream) = socket.split();
        let reader = Reader {
            services: services.clone(),
            user: user.clone(),
            control: registration.control_tx.clone(),
            reply_permits: Arc::new(Semaphore::new(REPLY_QUEUE)),
        };
        let reader = tokio::spawn(reader.run(stream).in_current_span());
        let mut connection = Connection { services, user, registration, sink, pending: Vec::new(), last_sent: 0 };
        let end = match Box::pin(connection.send_history(since)).await {
            Ok(()) => connection.serve(feed).await,
            Err(end) => end,
        };
        reader.abort();
        if let End::Close(code, reason) = end {
            let frame = CloseFrame { code, reason: reason.into() };
            let _ = tokio::time::timeout(hub.write_timeout, connection.sink.send(Message::Close(Some(frame)))).await;
        }
        hub.unregister(connection.user.id, connection_id);
        tracing::debug!("connection closed");
    }

    async fn send_history(&mut self, since: Option<i64>) -> Result<(), End> {
        let store = &self.services.store;
        let result = match since {
            Some(since) => store.messages_since(since, HISTORY_SINCE_MAX).await,
            None => store.latest_messages(HISTORY_LATEST).await.map(|m| (m, false)),
        };
        let (messages, more) = result.map_err(|error| {
            tracing::error!(%error, "history query failed");
            End::Close(close_code::ERROR, "history unavailable")
        })?;
        self.last_sent = messages.last().map(|m| m.id).or(since).unwrap_or(0);
        let frame = encode(&ServerFrame::History { messages, more });
        self.send_now(Message::Text(frame)).await
    }

    async fn serve(&mut self, mut feed: broadcast::Receiver<Delivery>) -> End {
        loop {
            // Biased: the control channel first (closes, the reader's frames, pings: rare and
            // urgent), then the feed. A delivery wakes this task alone and costs one channel check.
            let step = tokio::select! {
                biased;
                control = self.registration.control_rx.recv() => match control {
                    Some(control) => self.on_control(control).await,
                    None => Err(End::Gone),
                },
                delivery = feed.recv() => self.on_feed(delivery, &mut feed).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Writes the delivery and whatever else is already waiting in the feed, in one flush.
    async fn on_feed(
        &mut self,
        delivery: Result<Delivery, RecvError>,
        feed: &mut broadcast::Receiver<Delivery>,
    ) -> Result<(), End> {
        let first = match delivery {
            Ok(delivery) => delivery,
            Err(RecvError::Lagged(_)) => return Err(End::Close(close_code::AGAIN, "too slow: reconnect with since")),
            Err(RecvError::Closed) => return Err(End::Close(close_code::AWAY, "server shutting down")),
        };
        self.push_delivery(first);
        while self.pending.len() < MAX_FRAMES_PER_FLUSH {
            match feed.try_recv() {
                Ok(delivery) => self.push_delivery(delivery),
                Err(TryRecvError::Lagged(_)) => return Err(End::Close(close_code::AGAIN, "too slow: reconnect with since")),
                Err(_) => break,
            }
        }
        self.flush().await
    }

    fn push_delivery(&mut self, delivery: Delivery) {
        // Skip what the history frame already carried.
        if delivery.id > self.last_sent {
            self.last_sent = delivery.id;
            self.pending.push(Message::Text(delivery.frame));
        }
    }

    async fn on_control(&mut self, control: Control) -> Result<(), End> {
        let frame = match control {
            Control::Close(close_code::AWAY) => return Err(End::Close(close_code::AWAY, "server shutting down")),
            Control::Close(code) => return Err(End::Close(code, "account blocked")),
            Control::Outcome(Outcome::Duplicate(delivery)) => Message::Text(delivery.frame),
            Control::Outcome(Outcome::Failed) => Message::Text(error_frame("message could not be saved; send it again")),
            // The permit goes back once the frame is written.
            Control::Reply(frame, _permit) => return self.send_now(Message::Text(frame)).await,
            Control::Ping => Message::Ping(Default::default()),
            Control::ReaderDone(Some((code, reason))) => return Err(End::Close(code, reason)),
            Control::ReaderDone(None) => return Err(End::Gone),
        };
        self.send_now(frame).await
    }

    /// Queues one frame and flushes.
    async fn send_now(&mut self, frame: Message) -> Result<(), End> {
        self.pending.push(frame);
        self.flush().await
    }

    /// Feeds the pending frames and flushes once (one write for all of them); a peer that cannot
    /// take them in time is dropped.
    async fn flush(&mut self) -> Result<(), End> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (sink, pending) = (&mut self.sink, &mut self.pending);
        let write = async move {
            for frame in pending.drain(..) {
                sink.feed(frame).await?;
            }
            sink.flush().await
        };
        let result = tokio::time::timeout(self.services.hub.write_timeout, write).await;
        // Keep a small buffer for the next flush, not a burst's worth.
        self.pending.clear();
        self.pending.shrink_to(8);
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(End::Gone),
        }
    }
}

impl Reader {
    /// Reads client frames until the client goes or breaks the protocol. A client silent for a
    /// ping interval is pinged (a live one answers); silent for two, it is dropped. Then tells
    /// the writer how to end.
    async fn run(self, mut stream: SplitStream<WebSocket>) {
        let interval = self.services.hub.ping_interval;
        let mut silent_intervals = 0;
        let end = loop {
            let incoming = match tokio::time::timeout(interval, stream.next()).await {
                Ok(incoming) => incoming,
                Err(_) => {
                    silent_intervals += 1;
                    if silent_intervals >= 2 || self.control.send(Control::Ping).is_err() {
                        break End::Gone;
                    }
                    continue;
                }
            };
            silent_intervals = 0;
            if let Err(end) = self.on_incoming(incoming).await {
                break end;
            }
        };
        let end = match end {
            End::Close(code, reason) => Some((code, reason)),
            End::Gone => None,
        };
        let _ = self.control.send(Control::ReaderDone(end));
    }

    async fn on_incoming(&self, incoming: Option<Result<Message, axum::Error>>) -> Result<(), End> {
        let message = match incoming {
            None => return Err(End::Gone),
            Some(Ok(message)) => message,
            Some(Err(error)) => return Err(read_error_end(error)),
        };
        match message {
            // Boxed: the moderation and store futures are large and rarely live; inline, every
            // reader task would carry their state for its whole life (idle RSS per connection).
            Message::Text(text) => Box::pin(self.on_text(text)).await,
            Message::Binary(_) => Err(End::Close(close_code::UNSUPPORTED, "binary frames are not supported")),
            Message::Close(_) => Err(End::Gone),
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        }
    }

    async fn on_text(&self, text: Utf8Bytes) -> Result<(), End> {
        let message = match self.accept(text.as_str()) {
            Ok(message) => message,
            Err(refusal) => return self.reply(refusal.frame()).await,
        };
        match self.services.moderate(self.user.id, &message.content).await {
            Ok(None) => {}
            Ok(Some(strike)) if strike.blocked => {
                let frame = encode(&ServerFrame::Blocked { message: moderation::BLOCKED_TEXT.into() });
                // Even if this socket's writer is gone, the account's other sockets must close.
                let _ = self.reply(frame).await;
                self.services.hub.disconnect_user(self.user.id, close_code::POLICY);
                return Err(End::Close(close_code::POLICY, "account blocked"));
            }
            Ok(Some(strike)) => {
                let frame = encode(&ServerFrame::Warning {
                    warning_count: strike.warning_count,
                    max_warnings: moderation::MAX_WARNINGS,
                    message: moderation::warning_text(strike),
                    client_id: message.client_id,
                });
                return self.reply(frame).await;
            }
            Err(_) => {
                let refusal = Refusal::new("message could not be checked; send it again", message.client_id);
                return self.reply(refusal.frame()).await;
            }
        }
        if self.services.hub.submit(message, self.control.clone()).await {
            Ok(())
        } else {
            Err(End::Close(close_code::AWAY, "server shutting down"))
        }
    }

    /// Hands a frame to the writer (waiting while too many are queued).
    async fn reply(&self, frame: Utf8Bytes) -> Result<(), End> {
        let permit = self.reply_permits.clone().acquire_owned().await.map_err(|_| End::Gone)?;
        self.control.send(Control::Reply(frame, permit)).map_err(|_| End::Gone)
    }

    /// Validates a client frame into a message ready to store, or says why not.
    fn accept(&self, text: &str) -> Result<NewMessage, Refusal> {
        let frame = ClientFrame::parse(text).map_err(|reason| Refusal::new(reason, None))?;
        let ClientFrame::Message { content, client_id } = frame;
        if client_id.as_ref().is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS) {
            let reason = format!("client_id is longer than {MAX_CLIENT_ID_CHARS} characters");
            return Err(Refusal::new(reason, None));
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

    fn frame(&self) -> Utf8Bytes {
        encode(&ServerFrame::Error { message: self.reason.clone(), client_id: self.client_id.clone() })
    }
}

fn read_error_end(error: axum::Error) -> End {
    let too_big = error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_big {
        End::Close(close_code::SIZE, "frame too large")
    } else {
        End::Gone
    }
}

pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
    serde_json::to_string(frame).expect("frames serialise").into()
}

pub fn error_frame(message: &str) -> Utf8Bytes {
    encode(&ServerFrame::Error { message: message.to_owned(), client_id: None })
}
