//! The hub: one live feed of stored messages (a broadcast ring of pre-encoded frames shared by
//! every connection), the registry of open connections per user (so a block or a shutdown can
//! close them), flood control, and the door to the group-commit writer.

use crate::limits::RateLimiter;
use super::pacing::WavePacer;
use super::writer::{self, Submission};
use crate::config::Config;
use crate::store::{NewMessage, Store};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit};
use tokio::task::JoinHandle;

/// A stored message, encoded once as a `message` frame. Cloning it clones a reference to the
/// shared bytes (one atomic increment: the feed hands each connection its own clone).
#[derive(Clone)]
pub struct Delivery {
    pub id: i64,
    pub frame: Utf8Bytes,
}

/// What became of a submitted message when it was not simply stored and broadcast (then the
/// sender's copy of the broadcast is its acknowledgement and nothing more is said).
pub enum Outcome {
    /// Stored before under the same `client_id`: acknowledge with the original, no broadcast.
    Duplicate(Delivery),
    /// The store failed: nothing was saved.
    Failed,
}

/// What a connection's writer is told apart from the live feed, in order, on one unbounded
/// channel: from the hub, closes (a block: 1008; shutdown: 1001) and the outcome of one of its
/// own messages; from the connection's own reader, frames to send, pings and its end. Unbounded
/// so a close is never lost to a full queue; the reader's share is bounded by a semaphore.
pub enum Control {
    Outcome(Outcome),
    Close(u16),
    /// A frame from the reader (an error, warning or `blocked` frame); the permit is released
    /// once it is written.
    Reply(Utf8Bytes, OwnedSemaphorePermit),
    /// The client has been silent for a ping interval.
    Ping,
    /// The reader has stopped: close with this code and reason, or just drop the socket (None).
    ReaderDone(Option<(u16, &'static str)>),
}

/// The registry entry of an open connection.
pub struct ConnectionHandle {
    pub control: mpsc::UnboundedSender<Control>,
}

/// What a new connection gets from [`Hub::register`].
pub struct Registration {
    pub id: u64,
    pub control_tx: mpsc::UnboundedSender<Control>,
    pub control_rx: mpsc::UnboundedReceiver<Control>,
}

pub struct Hub {
    feed: broadcast::Sender<Delivery>,
    writer_tx: Mutex<Option<mpsc::Sender<Submission>>>,
    writer_task: Mutex<Option<JoinHandle<()>>>,
    connections: Mutex<HashMap<i64, HashMap<u64, ConnectionHandle>>>,
    next_connection: AtomicU64,
    shutting_down: AtomicBool,
    /// Flood control per account (all of a user's sockets share one bucket).
    pub flood: RateLimiter<i64>,
    pub write_timeout: Duration,
    pub ping_interval: Duration,
}

impl Hub {
    /// Starts the writer task and returns the hub.
    pub fn start(store: Store, config: &Config) -> Arc<Self> {
        let (feed, _) = broadcast::channel(config.outbound_queue);
        let (writer_tx, writer_rx) = mpsc::channel(8192);
        let writer_task = tokio::spawn(writer::run(store, writer_rx, feed.clone(), WavePacer::new(config.fanout_writes_per_sec)));
        Arc::new(Self {
            feed,
            writer_tx: Mutex::new(Some(writer_tx)),
            writer_task: Mutex::new(Some(writer_task)),
            connections: Mutex::default(),
            next_connection: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            flood: RateLimiter::new(config.flood_burst, config.flood_per_sec),
            write_timeout: Duration::from_secs(config.write_timeout_secs),
            ping_interval: Duration::from_secs(config.ping_interval_secs),
        })
    }

    /// Subscribes to the live feed. Subscribe before reading history, then skip ids already seen.
    pub fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.feed.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Registers a connection. During shutdown it is told to close at once.
    pub fn register(&self, user_id: i64) -> Registration {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let handle = ConnectionHandle { control: control_tx.clone() };
        self.lock_connections().entry(user_id).or_default().insert(id, handle);
        if self.is_shutting_down() {
            let _ = control_tx.send(Control::Close(1001));
        }
        Registration { id, control_tx, control_rx }
    }

    pub fn unregister(&self, user_id: i64, connection_id: u64) {
        let mut connections = self.lock_connections();
        if let Some(mine) = connections.get_mut(&user_id) {
            mine.remove(&connection_id);
            if mine.is_empty() {
                connections.remove(&user_id);
            }
        }
    }

    /// Closes every open connection of a user with `code` (e.g. 1008 on a block).
    pub fn disconnect_user(&self, user_id: i64, code: u16) {
        for handle in self.lock_connections().get(&user_id).into_iter().flat_map(|m| m.values()) {
            let _ = handle.control.send(Control::Close(code));
        }
    }

    pub fn connection_count(&self) -> usize {
        self.lock_connections().values().map(HashMap::len).sum()
    }

    /// Queues a validated message for the writer; an unusual outcome comes back on `control`.
    /// Returns false once the hub is shutting down.
    pub async fn submit(&self, message: NewMessage, control: mpsc::UnboundedSender<Control>) -> bool {
        let writer = self.writer_tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match writer {
            Some(writer) => writer.send(Submission { message, reply: control }).await.is_ok(),
            None => false,
        }
    }

    /// Graceful shutdown: tells every connection to close with 1001, stops taking messages, and
    /// waits (at most `grace` in all) until the writer has committed everything in flight and
    /// every connection has sent its close frame.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        self.shutting_down.store(true, Ordering::SeqCst);
        for handle in self.lock_connections().values().flat_map(HashMap::values) {
            let _ = handle.control.send(Control::Close(1001));
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

    fn lock_connections(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HashMap<u64, ConnectionHandle>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}
