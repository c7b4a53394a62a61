//! The single message writer: group commit. Connections hand accepted messages to this task over
//! a bounded channel; it takes everything that is waiting (up to a batch limit), stores the batch
//! in one transaction, and only then broadcasts, in id order. One fsync serves many messages, and
//! a message is on disk before anyone, its sender included, sees it.

use super::hub::{Control, Delivery, Outcome};
use crate::store::{NewMessage, Store, Stored};
use app::models::ServerFrame;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// One message waiting to be stored, with the way back to its sender's connection.
pub struct Submission {
    pub message: NewMessage,
    pub reply: mpsc::UnboundedSender<Control>,
}

/// Most messages committed in one transaction.
const MAX_BATCH: usize = 1024;

/// Runs until every sender of `rx` is gone, then returns after the last commit (graceful
/// shutdown drains in-flight messages this way).
pub async fn run(store: Store, mut rx: mpsc::Receiver<Submission>, feed: broadcast::Sender<Arc<Delivery>>) {
    let mut batch: Vec<Submission> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(&store, &mut batch, &feed).await;
    }
    tracing::info!("message writer stopped");
}

async fn commit(store: &Store, batch: &mut Vec<Submission>, feed: &broadcast::Sender<Arc<Delivery>>) {
    let (messages, replies): (Vec<NewMessage>, Vec<mpsc::UnboundedSender<Control>>) =
        batch.drain(..).map(|s| (s.message, s.reply)).unzip();
    match store.insert_batch(&messages).await {
        Ok(stored) => {
            for (result, reply) in stored.into_iter().zip(replies) {
                match result {
                    Stored::New(message) => {
                        // The sender's copy of the broadcast is its acknowledgement. No receivers
                        // is fine (nobody connected).
                        let _ = feed.send(Arc::new(Delivery::encode(message)));
                    }
                    Stored::Duplicate(message) => {
                        let delivery = Arc::new(Delivery::encode(message));
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
