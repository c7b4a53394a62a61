//! The cluster bus on Redis pub/sub: one channel every node publishes to and subscribes to.
//! Publishing goes through a queue to one task (so a node's publications keep their order and a
//! slow Redis never holds up a commit); a full queue or a Redis that is down drops publications,
//! which the other nodes make up for from the database. The subscriber reconnects with backoff
//! for as long as the node runs and says when it is back, since whatever was published meanwhile
//! is lost.

use super::events::{Envelope, Event, Incoming};
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The one channel of the bus.
pub const CHANNEL: &str = "chatterbox:bus";

/// Publications waiting for Redis; beyond this they are dropped.
const PUBLISH_QUEUE: usize = 4096;
/// Received events waiting for the node; beyond this they are dropped (and read back later).
const INBOX: usize = 4096;
/// Longest wait between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait for one command.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// This node's end of the bus.
#[derive(Clone)]
pub struct Bus {
    node: u64,
    outgoing: mpsc::Sender<Vec<u8>>,
    up: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid CHATTERBOX_REDIS_URL: {0}")]
pub struct BadUrl(redis::RedisError);

impl Bus {
    /// Starts publishing and subscribing as `node` on the Redis at `url` (reached in the
    /// background: a Redis that is down now delays the bus, not the node). Returns the bus and
    /// what it receives from the other nodes.
    pub fn start(url: &str, node: u64) -> Result<(Self, mpsc::Receiver<Incoming>), BadUrl> {
        let client = redis::Client::open(url).map_err(BadUrl)?;
        let (outgoing, queue) = mpsc::channel(PUBLISH_QUEUE);
        let (inbox, incoming) = mpsc::channel(INBOX);
        let up = Arc::new(AtomicBool::new(false));
        tokio::spawn(publish(client.clone(), queue));
        tokio::spawn(subscribe(client, node, inbox, up.clone()));
        Ok((Self { node, outgoing, up }, incoming))
    }

    /// Whether the subscription is live (when it is not, the node polls the database more often).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Publishes `event` to the other nodes, best effort.
    pub fn publish(&self, event: Event) {
        let envelope = Envelope { node: self.node, event };
        match serde_json::to_vec(&envelope) {
            Ok(payload) => {
                if self.outgoing.try_send(payload).is_err() {
                    tracing::warn!("cluster bus publication dropped (queue full)");
                }
            }
            Err(error) => tracing::error!(%error, "cluster bus event not encodable"),
        }
    }
}

/// Sends queued publications in order, reconnecting when Redis comes back.
async fn publish(client: redis::Client, mut queue: mpsc::Receiver<Vec<u8>>) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(MAX_BACKOFF);
    let mut backoff = Backoff::default();
    let mut connection: Option<ConnectionManager> = None;
    while let Some(payload) = queue.recv().await {
        if connection.is_none() {
            match client.get_connection_manager_with_config(config.clone()).await {
                Ok(manager) => {
                    backoff = Backoff::default();
                    connection = Some(manager);
                }
                Err(error) => {
                    tracing::debug!(%error, "cluster bus: Redis unreachable, publication dropped");
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            }
        }
        if let Some(manager) = connection.as_mut() {
            let sent: redis::RedisResult<()> =
                redis::cmd("PUBLISH").arg(CHANNEL).arg(payload).query_async(manager).await;
            if let Err(error) = sent {
                tracing::debug!(%error, "cluster bus publication failed");
            }
        }
    }
}

/// Keeps a subscription to the bus for as long as the node runs.
async fn subscribe(client: redis::Client, node: u64, inbox: mpsc::Sender<Incoming>, up: Arc<AtomicBool>) {
    let mut backoff = Backoff::default();
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                Ok(()) => {
                    up.store(true, Ordering::Relaxed);
                    tracing::info!("cluster bus subscribed");
                    backoff = Backoff::default();
                    if inbox.send(Incoming::Resubscribed).await.is_err() {
                        return;
                    }
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        if !hand_over(&inbox, node, message.get_payload_bytes()) {
                            return;
                        }
                    }
                    up.store(false, Ordering::Relaxed);
                    tracing::warn!("cluster bus subscription lost; reconnecting");
                }
                Err(error) => tracing::debug!(%error, "cluster bus subscribe failed"),
            },
            Err(error) => tracing::debug!(%error, "cluster bus: Redis unreachable"),
        }
        if inbox.is_closed() {
            return;
        }
        tokio::time::sleep(backoff.next()).await;
    }
}

/// Passes another node's event on; false once the node has stopped listening.
fn hand_over(inbox: &mpsc::Sender<Incoming>, node: u64, payload: &[u8]) -> bool {
    match serde_json::from_slice::<Envelope>(payload) {
        Ok(envelope) if envelope.node == node => true,
        Ok(envelope) => match inbox.try_send(Incoming::Event(envelope.event)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("cluster bus event dropped (node busy); it will be read back");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        },
        Err(error) => {
            tracing::warn!(%error, "cluster bus: unreadable publication skipped");
            true
        }
    }
}

/// Waits between attempts to reach Redis: 50 ms, doubling up to [`MAX_BACKOFF`].
#[derive(Default)]
struct Backoff {
    last: Option<Duration>,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let next = self.last.map_or(Duration::from_millis(50), |last| (last * 2).min(MAX_BACKOFF));
        self.last = Some(next);
        next
    }
}
