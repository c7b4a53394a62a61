//! The single message writer: group commit. Connections hand accepted messages to this task over
//! a bounded channel; it takes everything that is waiting (up to a batch limit), stores the batch
//! in one transaction, and only then broadcasts, in id order. One fsync serves many messages, and
//! a message is on disk before anyone, its sender included, sees it. Under heavy fan-out the
//! [`WavePacer`] may hold stored messages back briefly so that more of them share one wave of
//! socket writes.

use super::hub::{Control, Delivery, Outcome};
use super::pacing::WavePacer;
use crate::store::{NewMessage, Store, Stored};
use app::models::ServerFrame;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// One message waiting to be stored, with the way back to its sender's connection.
pub struct Submission {
    pub message: NewMessage,
    pub reply: mpsc::UnboundedSender<Control>,
}

/// Most messages committed in one transaction.
const MAX_BATCH: usize = 1024;

/// Runs until every sender of `rx` is gone, then returns after the last commit (graceful
/// shutdown drains in-flight messages this way). Stored messages are broadcast at once unless
/// the pacer asks for a pause; then they are held (later commits join them) and released as one
/// wave when the pause is over, while commits go on.
pub async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Submission>,
    feed: broadcast::Sender<Delivery>,
    mut pacer: WavePacer,
) {
    let mut batch: Vec<Submission> = Vec::with_capacity(MAX_BATCH);
    let mut held: Vec<Delivery> = Vec::new();
    let mut release_at: Option<Instant> = None;
    loop {
        let release_due = tokio::time::sleep_until(release_at.unwrap_or_else(Instant::now));
        let received = tokio::select! {
            biased;
            _ = release_due, if release_at.is_some() => {
                release_at = None;
                release(&feed, &mut held, &mut pacer);
                continue;
            }
            received = rx.recv_many(&mut batch, MAX_BATCH) => received,
        };
        if received == 0 {
            break;
        }
        commit(&store, &mut batch, &mut held).await;
        if release_at.is_none() {
            let wait = pacer.delay(Instant::now().into_std());
            if wait.is_zero() {
                release(&feed, &mut held, &mut pacer);
            } else {
                release_at = Some(Instant::now() + wait);
            }
        }
    }
    release(&feed, &mut held, &mut pacer);
    tracing::info!("message writer stopped");
}

/// Broadcasts the held messages, in id order, as one wave.
fn release(feed: &broadcast::Sender<Delivery>, held: &mut Vec<Delivery>, pacer: &mut WavePacer) {
    if held.is_empty() {
        return;
    }
    for delivery in held.drain(..) {
        // The sender's copy of the broadcast is its acknowledgement. No receivers is fine
        // (nobody connected).
        let _ = feed.send(delivery);
    }
    pacer.charge(feed.receiver_count(), std::time::Instant::now());
}

/// Stores a batch in one transaction; new messages go to `held` for the broadcast, a duplicate
/// is acknowledged to its sender alone, a failure is reported to every sender in the batch.
async fn commit(store: &Store, batch: &mut Vec<Submission>, held: &mut Vec<Delivery>) {
    let (messages, replies): (Vec<NewMessage>, Vec<mpsc::UnboundedSender<Control>>) =
        batch.drain(..).map(|s| (s.message, s.reply)).unzip();
    match store.insert_batch(&messages).await {
        Ok(stored) => {
            for (result, reply) in stored.into_iter().zip(replies) {
                match result {
                    Stored::New(message) => held.push(Delivery::encode(message)),
                    Stored::Duplicate(message) => {
                        let delivery = Delivery::encode(message);
                        let _ = reply.send(Control::Outcome(Outcome::Duplicate(delivery)));
                    }
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, count = replies.len(), "storing a message batch failed");
            for reply in replies {
                let _ = reply.send(Control::Outcome(Outcome::Failed));
            }
        }
    }
}

impl Delivery {
    /// Encodes a stored message once; every connection shares the bytes.
    pub fn encode(message: app::models::ChatMessage) -> Self {
        let id = message.id;
        let text = serde_json::to_string(&ServerFrame::Message(message)).expect("frames serialise");
        Delivery { id, frame: text.into() }
    }
}
