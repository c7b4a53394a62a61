//! The hub: the registry of open connections (per user, so a block or a shutdown can close
//! them; and in the fan-out, which writes the live feed to them), flood control, and the door
//! to the group-commit writer.

use super::outbox::{Fanout, Outbox};
use super::pacing::WavePacer;
use super::wire::close_code;
use super::writer::{self, Submission};
use crate::config::Config;
use crate::limits::RateLimiter;
use crate::store::{NewMessage, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct Hub {
    fanout: Arc<Fanout>,
    writer_tx: Mutex<Option<mpsc::Sender<Submission>>>,
    writer_task: Mutex<Option<JoinHandle<()>>>,
    connections: Mutex<HashMap<i64, HashMap<u64, Arc<Outbox>>>>,
    next_connection: AtomicU64,
    /// Connections answered 101 but not registered yet.
    upgrading: AtomicUsize,
    shutting_down: AtomicBool,
    /// Flood control per account (all of a user's sockets share one bucket).
    pub flood: RateLimiter<i64>,
    pub write_timeout: Duration,
    pub ping_interval: Duration,
    /// Frames a connection may fall behind by before it is closed with 1013.
    pub max_backlog: usize,
}

impl Hub {
    /// Starts the fan-out and writer tasks and returns the hub.
    pub fn start(store: Store, config: &Config) -> Arc<Self> {
        // One shard per worker thread, so that a wave is written by every core at once.
        let shards = std::thread::available_parallelism().map_or(1, usize::from);
        let fanout = Arc::new(Fanout::start(shards));
        let (writer_tx, writer_rx) = mpsc::channel(8192);
        let pacer = WavePacer::new(config.fanout_writes_per_sec);
        let writer_task = tokio::spawn(writer::run(store, writer_rx, fanout.clone(), pacer));
        Arc::new(Self {
            fanout,
            writer_tx: Mutex::new(Some(writer_tx)),
            writer_task: Mutex::new(Some(writer_task)),
            connections: Mutex::default(),
            next_connection: AtomicU64::new(1),
            upgrading: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            flood: RateLimiter::new(config.flood_burst, config.flood_per_sec),
            write_timeout: Duration::from_secs(config.write_timeout_secs),
            ping_interval: Duration::from_secs(config.ping_interval_secs),
            max_backlog: config.outbound_queue,
        })
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Registers a connection's outbox: it starts taking the live feed (kept until its history
    /// is sent). During shutdown it is told to close at once. Returns the connection's id.
    pub fn register(&self, user_id: i64, outbox: Arc<Outbox>) -> u64 {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.fanout.add(id, outbox.clone());
        self.lock_connections().entry(user_id).or_default().insert(id, outbox.clone());
        if self.is_shutting_down() {
            outbox.close(close_code::AWAY, SHUTTING_DOWN);
        }
        id
    }

    /// Takes a connection off the live feed (its outbox is ending).
    pub fn leave_feed(&self, connection_id: u64) {
        self.fanout.remove(connection_id);
    }

    /// Forgets a connection once it is closed (shutdown waits for this).
    pub fn unregister(&self, user_id: i64, connection_id: u64) {
        self.fanout.remove(connection_id);
        let mut connections = self.lock_connections();
        if let Some(mine) = connections.get_mut(&user_id) {
            mine.remove(&connection_id);
            if mine.is_empty() {
                connections.remove(&user_id);
            }
        }
    }

    /// Closes every open connection of a blocked user with 1008.
    pub fn disconnect_user(&self, user_id: i64) {
        for outbox in self.lock_connections().get(&user_id).into_iter().flat_map(|m| m.values()) {
            outbox.close(close_code::POLICY, "account blocked");
        }
    }

    /// Open connections, those being upgraded included.
    pub fn connection_count(&self) -> usize {
        let registered: usize = self.lock_connections().values().map(HashMap::len).sum();
        registered + self.upgrading.load(Ordering::SeqCst)
    }

    /// Counts a connection from its upgrade on, until the guard is dropped (once registered).
    pub fn upgrading(self: &Arc<Self>) -> UpgradeGuard {
        self.upgrading.fetch_add(1, Ordering::SeqCst);
        UpgradeGuard(self.clone())
    }

    /// Queues a validated message for the writer; an unusual outcome is sent to `reply`.
    /// Returns false once the hub is shutting down.
    pub async fn submit(&self, message: NewMessage, reply: Arc<Outbox>) -> bool {
        let writer = self.writer_tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match writer {
            Some(writer) => writer.send(Submission { message, reply }).await.is_ok(),
            None => false,
        }
    }

    /// Graceful shutdown: tells every connection to close with 1001, stops taking messages, and
    /// waits (at most `grace` in all) until the writer has committed everything in flight and
    /// every connection has sent its close frame.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        self.shutting_down.store(true, Ordering::SeqCst);
        for outbox in self.lock_connections().values().flat_map(HashMap::values) {
            outbox.close(close_code::AWAY, SHUTTING_DOWN);
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

    fn lock_connections(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HashMap<u64, Arc<Outbox>>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub const SHUTTING_DOWN: &str = "server shutting down";

/// A connection between its upgrade and its registration (see [`Hub::upgrading`]).
pub struct UpgradeGuard(Arc<Hub>);

impl Drop for UpgradeGuard {
    fn drop(&mut self) {
        self.0.upgrading.fetch_sub(1, Ordering::SeqCst);
    }
}
