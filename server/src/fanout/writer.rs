//! The single message writer: group commit. Connections hand accepted messages to this task over
//! a bounded channel; it takes everything that is waiting (up to a batch limit), stores the batch
//! in one atomic commit, and only then broadcasts, in id order. One fsync serves many messages, and
//! a message is on disk before anyone, its sender included, sees it. Under heavy fan-out the
//! [`WavePacer`] may hold stored messages back briefly so that more of them share one wave of
//! socket writes.

use super::frames;
use super::outbox::{Delivery, Fanout, Outbox, Wave};
use super::pacing::WavePacer;
use crate::store::{NewMessage, Store, Stored};
use app::models::ServerFrame;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One message waiting to be stored, with the way back to its sender's connection.
pub struct Submission {
    pub message: NewMessage,
    pub reply: Arc<Outbox>,
}

/// Most messages stored in one commit.
const MAX_BATCH: usize = 1024;

/// Runs until every sender of `rx` is gone, then returns after the last commit (graceful
/// shutdown drains in-flight messages this way). Stored messages are broadcast at once unless
/// the pacer asks for a pause; then they are held (later commits join them) and released as one
/// wave when the pause is over, while commits go on.
pub async fn run(store: Store, mut rx: mpsc::Receiver<Submission>, fanout: Arc<Fanout>, mut pacer: WavePacer) {
    let mut batch: Vec<Submission> = Vec::with_capacity(MAX_BATCH);
    let mut held: Vec<Delivery> = Vec::new();
    let mut release_at: Option<Instant> = None;
    loop {
        let release_due = tokio::time::sleep_until(release_at.unwrap_or_else(Instant::now));
        let received = tokio::select! {
            biased;
            _ = release_due, if release_at.is_some() => {
                release_at = None;
                release(&fanout, &mut held, &mut pacer);
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
                release(&fanout, &mut held, &mut pacer);
            } else {
                release_at = Some(Instant::now() + wait);
            }
        }
    }
    release(&fanout, &mut held, &mut pacer);
    tracing::info!("message writer stopped");
}

/// Broadcasts the held messages, in id order, as one wave (the sender's copy of the broadcast
/// is its acknowledgement).
fn release(fanout: &Fanout, held: &mut Vec<Delivery>, pacer: &mut WavePacer) {
    if let Some(wave) = Wave::new(held.drain(..)) {
        let connections = fanout.publish(wave);
        pacer.charge(connections, std::time::Instant::now());
    }
}

/// Stores a batch in one commit; new messages go to `held` for the broadcast, a duplicate is
/// acknowledged to its sender alone, a refusal or a failure is reported to its sender (with the
/// message's `client_id`).
async fn commit(store: &Store, batch: &mut Vec<Submission>, held: &mut Vec<Delivery>) {
    let (messages, replies): (Vec<NewMessage>, Vec<Arc<Outbox>>) =
        batch.drain(..).map(|s| (s.message, s.reply)).unzip();
    match store.insert_batch(&messages).await {
        Ok(stored) => {
            for ((result, reply), message) in stored.into_iter().zip(replies).zip(&messages) {
                match result {
                    Stored::New(message) => held.push(Delivery::encode(message)),
                    // Stored before under the same `client_id`: acknowledged with the original,
                    // to its sender alone.
                    Stored::Duplicate(message) => reply.acknowledge_duplicate(&Delivery::encode(message)),
                    // A retry whose original could not be read back: sending it again is harmless.
                    Stored::DuplicateUnread => reply.send(frames::send_again(message.client_id.clone())),
                    // The sender was blocked before this commit: its sockets are being closed.
                    Stored::Refused => reply.send(frames::error("account blocked", message.client_id.clone())),
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, count = replies.len(), "storing a message batch failed");
            for (reply, message) in replies.iter().zip(&messages) {
                reply.send(frames::send_again(message.client_id.clone()));
            }
        }
    }
}

impl Delivery {
    /// Encodes a stored message once, as a whole WebSocket frame; every connection shares it.
    pub fn encode(message: app::models::ChatMessage) -> Self {
        let id = message.id;
        Delivery { id, frame: frames::text(&ServerFrame::Message(message)) }
    }
}
