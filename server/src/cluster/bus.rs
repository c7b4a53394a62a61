//! The cluster bus on Redis pub/sub: one channel per cluster (`chatterbox:{cluster}:bus`) every
//! node of the cluster publishes to and subscribes to. Envelopes name their cluster, and a node
//! skips any other cluster's (pub/sub ignores Redis's database number: the channel's name is
//! what keeps clusters sharing a Redis apart, the envelope's cluster a second guard).
//! Publishing goes through a queue to one task (so a node's publications keep their order and a
//! slow Redis never holds up a commit); a full queue or a Redis that is down drops publications,
//! which the other nodes make up for from the database. The subscriber reconnects with backoff
//! for as long as the node runs and says when it is back, since whatever was published meanwhile
//! is lost.

use super::events::{Envelope, Event, Incoming};
use super::link::RedisLink;
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The bus's channel, in its cluster's names (`RedisLink::key`).
const CHANNEL: &str = "bus";

/// Publications waiting for Redis; beyond this they are dropped.
const PUBLISH_QUEUE: usize = 4096;
/// Received events waiting for the node; beyond this they are dropped (and read back later).
const INBOX: usize = 1024;
/// Largest publication taken from the bus: twice what a node publishes at most (a range of
/// [`super::events::MAX_PUBLICATION_BYTES`] plus one whole message); anything larger is no
/// node's and is skipped, so the inbox holds at most `INBOX` times this.
const MAX_RECEIVED_BYTES: usize = 2 * super::events::MAX_PUBLICATION_BYTES;
/// Longest wait between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// This node's end of the bus.
#[derive(Clone)]
pub struct Bus {
    /// Who this node is: its cluster's id, and its own.
    me: Arc<Me>,
    link: RedisLink,
    outgoing: mpsc::Sender<Vec<u8>>,
    up: Arc<AtomicBool>,
}

/// What the bus receives: presence news apart, for the hub's presence; the rest, in order, for
/// the writer.
pub struct Received {
    pub incoming: mpsc::Receiver<Incoming>,
    pub presence: mpsc::Receiver<Incoming>,
}

/// Where received events go.
struct Inboxes {
    events: mpsc::Sender<Incoming>,
    presence: mpsc::Sender<Incoming>,
}

/// A node, as envelopes name it.
struct Me {
    cluster: String,
    node: u64,
}

impl Inboxes {
    fn for_event(&self, event: &Event) -> &mpsc::Sender<Incoming> {
        match event {
            Event::Presence { .. } => &self.presence,
            _ => &self.events,
        }
    }

    fn is_closed(&self) -> bool {
        self.events.is_closed()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid CHATTERBOX_REDIS_URL: {0}")]
pub struct BadUrl(redis::RedisError);

impl Bus {
    /// Starts publishing and subscribing as `node` of `cluster` (a valid cluster id) on the
    /// Redis at `url` (reached in the background: a Redis that is down now delays the bus, not
    /// the node). Returns the bus and what it receives from the other nodes.
    pub fn start(url: &str, cluster: &str, node: u64) -> Result<(Self, Received), BadUrl> {
        let client = redis::Client::open(url).map_err(BadUrl)?;
        let link = RedisLink::new(client.clone(), cluster);
        let me = Arc::new(Me { cluster: cluster.to_owned(), node });
        let channel = link.key(CHANNEL);
        let (outgoing, queue) = mpsc::channel(PUBLISH_QUEUE);
        let (events, incoming) = mpsc::channel(INBOX);
        let (presence, presence_news) = mpsc::channel(INBOX);
        let up = Arc::new(AtomicBool::new(false));
        tokio::spawn(publish(link.clone(), channel.clone(), queue));
        tokio::spawn(subscribe(client, channel, me.clone(), Inboxes { events, presence }, up.clone()));
        Ok((Self { me, link, outgoing, up }, Received { incoming, presence: presence_news }))
    }

    /// This node's name on the bus.
    pub fn node(&self) -> u64 {
        self.me.node
    }

    /// The node's command connection to the same Redis.
    pub fn link(&self) -> &RedisLink {
        &self.link
    }

    /// Whether the subscription is live (when it is not, the node polls the database more often).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Publishes `event` to the other nodes, best effort.
    pub fn publish(&self, event: Event) {
        let envelope = Envelope {
            cluster: self.me.cluster.clone(),
            node: self.me.node,
            sent_at_ms: Some(super::events::unix_millis()),
            event,
        };
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

/// Sends queued publications to `channel` in order; while Redis cannot be reached they are
/// dropped.
async fn publish(link: RedisLink, channel: String, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(payload) = queue.recv().await {
        let sent: Option<()> = link.run(redis::cmd("PUBLISH").arg(&channel).arg(payload)).await;
        if sent.is_none() {
            tracing::debug!("cluster bus publication dropped (Redis unreachable)");
        }
    }
}

/// Keeps a subscription to the bus's `channel` for as long as the node runs.
async fn subscribe(client: redis::Client, channel: String, me: Arc<Me>, inbox: Inboxes, up: Arc<AtomicBool>) {
    let mut backoff = Backoff::default();
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    up.store(true, Ordering::Relaxed);
                    tracing::info!("cluster bus subscribed");
                    backoff = Backoff::default();
                    let _ = inbox.presence.send(Incoming::Resubscribed).await;
                    if inbox.events.send(Incoming::Resubscribed).await.is_err() {
                        return;
                    }
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        if !hand_over(&inbox, &me, message.get_payload_bytes()) {
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

/// Passes another node's event on (if it is of this node's cluster); false once the node has
/// stopped listening.
fn hand_over(inbox: &Inboxes, me: &Me, payload: &[u8]) -> bool {
    if payload.len() > MAX_RECEIVED_BYTES {
        tracing::warn!(bytes = payload.len(), "cluster bus: oversized publication skipped");
        return true;
    }
    match serde_json::from_slice::<Envelope>(payload) {
        Ok(envelope) if envelope.cluster != me.cluster => {
            tracing::debug!(cluster = %envelope.cluster.escape_debug(), "cluster bus: another cluster's publication skipped");
            true
        }
        Ok(envelope) if envelope.node == me.node => true,
        Ok(envelope) => {
            if let Some(sent) = envelope.sent_at_ms {
                let lag = super::events::unix_millis().saturating_sub(sent);
                crate::metrics::bus_lag(std::time::Duration::from_millis(lag));
            }
            match inbox.for_event(&envelope.event).try_send(Incoming::Event(envelope.event)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!("cluster bus event dropped (node busy); it will be read back");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn inboxes() -> (Inboxes, mpsc::Receiver<Incoming>, mpsc::Receiver<Incoming>) {
        let (events, incoming) = mpsc::channel(8);
        let (presence, presence_news) = mpsc::channel(8);
        (Inboxes { events, presence }, incoming, presence_news)
    }

    fn payload(cluster: &str, node: u64, event: Event) -> Vec<u8> {
        serde_json::to_vec(&Envelope { cluster: cluster.into(), node, sent_at_ms: None, event }).unwrap()
    }

    #[test]
    fn only_the_other_nodes_of_this_cluster_are_heard() {
        let me = Me { cluster: "blue".into(), node: 7 };
        let (inbox, mut incoming, mut presence) = inboxes();
        let room = |seq| Event::Changes { seq };
        let online = Event::Presence { origin: 9, user: 4, username: "dan".into(), online: true };
        assert!(hand_over(&inbox, &me, &payload("red", 9, room(1))), "another cluster's: skipped");
        assert!(hand_over(&inbox, &me, &payload("red", 9, online.clone())));
        assert!(hand_over(&inbox, &me, &payload("blue", 7, room(2))), "this node's own: skipped");
        assert!(hand_over(&inbox, &me, &payload("blue", 9, room(3))));
        assert!(hand_over(&inbox, &me, &payload("blue", 9, online.clone())));
        assert!(hand_over(&inbox, &me, br#"{"node": 9, "k": "room", "id": 4}"#), "no cluster: unreadable, skipped");
        assert!(matches!(incoming.try_recv(), Ok(Incoming::Event(Event::Changes { seq: 3 }))));
        assert!(incoming.try_recv().is_err(), "nothing else reached the writer");
        assert!(matches!(presence.try_recv(), Ok(Incoming::Event(event)) if event == online));
        assert!(presence.try_recv().is_err(), "nor the presence");
    }
}
