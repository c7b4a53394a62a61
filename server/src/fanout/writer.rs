//! The single message writer: group commit. Connections hand accepted messages to this task over
//! a bounded channel; it takes everything that is waiting (up to a batch limit), stores the batch
//! in one atomic commit, and only then broadcasts, in id order. One fsync serves many messages, and
//! a message is on disk before anyone, its sender included, sees it. While the CPU is busy the
//! [`WavePacer`] may hold stored messages back briefly so that more of them share one wave of
//! socket writes; a quiet server sends each commit at once.

use super::cpu_time::process_cpu_time;
use super::frames;
use super::hub::Registry;
use super::outbox::{Delivery, Fanout, Outbox, Special, Wave};
use super::pacing::{Reading, WavePacer};
use crate::store::{NewMessage, Store, Stored};
use app::models::ServerFrame;
use app::protocol::GENERAL_ROOM_ID;
use std::collections::HashMap;
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
pub async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Submission>,
    fanout: Arc<Fanout>,
    registry: Arc<Registry>,
    mut pacer: WavePacer,
) {
    let out = Out { fanout, registry };
    let mut batch: Vec<Submission> = Vec::with_capacity(MAX_BATCH);
    let mut held = Held::default();
    let mut release_at: Option<Instant> = None;
    loop {
        let release_due = tokio::time::sleep_until(release_at.unwrap_or_else(Instant::now));
        let received = tokio::select! {
            biased;
            _ = release_due, if release_at.is_some() => {
                release_at = None;
                out.release(&mut held, &mut pacer);
                continue;
            }
            received = rx.recv_many(&mut batch, MAX_BATCH) => received,
        };
        if received == 0 {
            break;
        }
        commit(&store, &out.registry, &mut batch, &mut held).await;
        if release_at.is_none() {
            let now = Instant::now().into_std();
            if pacer.wants_reading(now) {
                pacer.observe(now, out.reading());
            }
            let wait = pacer.delay(now);
            if wait.is_zero() {
                out.release(&mut held, &mut pacer);
            } else {
                release_at = Some(Instant::now() + wait);
            }
        }
    }
    out.release(&mut held, &mut pacer);
    tracing::info!("message writer stopped");
}

/// Stored messages not broadcast yet, and how many commits they came in.
#[derive(Default)]
struct Held {
    deliveries: Vec<Delivery>,
    commits: usize,
}

/// Where released messages go.
struct Out {
    fanout: Arc<Fanout>,
    registry: Arc<Registry>,
}

impl Out {
    /// What the pacer's gauge reads: the process's CPU time and the fan-out's writing time.
    fn reading(&self) -> Reading {
        Reading { process_cpu: process_cpu_time(), writing: self.fanout.time_writing() }
    }

    /// Delivers the held messages, in id order (the sender's copy is its acknowledgement):
    /// the `general` ones as one wave to every connection, except the connections of members
    /// of the other conversations in the release and of people ignoring one of its senders,
    /// which get a wave of their own with what they may see. A release with no `general`
    /// message touches only those: O(members), never every connection.
    fn release(&self, held: &mut Held, pacer: &mut WavePacer) {
        if held.deliveries.is_empty() {
            return;
        }
        let deliveries: Vec<Delivery> = std::mem::take(&mut held.deliveries);
        let commits = std::mem::take(&mut held.commits);
        let who: Vec<(i64, i64)> = deliveries.iter().map(|d| (d.room_id, d.sender_id)).collect();
        let plan = self.registry.directory.plan(&who);
        let broadcast = Wave::new(deliveries.iter().filter(|d| d.room_id == GENERAL_ROOM_ID).cloned());
        let mut own_waves: HashMap<Vec<usize>, Option<Arc<Wave>>> = HashMap::new();
        let mut special = Vec::new();
        for (user, visible) in plan {
            let connections = self.registry.connections_of(user);
            if connections.is_empty() {
                continue;
            }
            let wave = own_waves
                .entry(visible)
                .or_insert_with_key(|visible| Wave::new(visible.iter().map(|&i| deliveries[i].clone())).map(Arc::new))
                .clone();
            special.extend(connections.into_iter().map(|(connection, outbox)| Special {
                connection,
                outbox,
                wave: wave.clone(),
            }));
        }
        let connections = self.fanout.publish(broadcast, special);
        pacer.charge(connections, commits, std::time::Instant::now());
    }
}

/// Stores a batch in one commit; new messages go to `held` for the broadcast, a duplicate is
/// acknowledged to its sender alone, a refusal or a failure is reported to its sender (with the
/// message's `client_id`).
async fn commit(store: &Store, registry: &Registry, batch: &mut Vec<Submission>, held: &mut Held) {
    let (messages, replies): (Vec<NewMessage>, Vec<Arc<Outbox>>) =
        batch.drain(..).map(|s| (s.message, s.reply)).unzip();
    match store.insert_batch(&messages).await {
        Ok(stored) => {
            let before = held.deliveries.len();
            for ((result, reply), message) in stored.into_iter().zip(replies).zip(&messages) {
                match result {
                    Stored::New(message) => held.deliveries.push(Delivery::encode(message)),
                    // Stored before under the same `client_id`: acknowledged with the original,
                    // to its sender alone.
                    Stored::Duplicate(message) => reply.acknowledge_duplicate(&Delivery::encode(message)),
                    // A retry whose original could not be read back: sending it again is harmless.
                    Stored::DuplicateUnread => reply.send(frames::send_again(message.client_id.clone())),
                    // The sender left the conversation (or it was archived) before this commit,
                    // or was blocked (its sockets are being closed).
                    Stored::Refused => reply.send(frames::error(
                        refusal(registry, message.room_id, message.sender_id),
                        message.client_id.clone(),
                    )),
                }
            }
            if held.deliveries.len() > before {
                held.commits += 1;
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

/// Why the store refused a message: the conversation's rule, else the sender's block.
fn refusal(registry: &Registry, room: i64, sender: i64) -> &'static str {
    match registry.directory.postable(room, sender) {
        super::directory::Postable::Yes { .. } => "account blocked",
        super::directory::Postable::Archived => frames::ARCHIVED,
        super::directory::Postable::No => frames::NOT_A_MEMBER,
    }
}

impl Delivery {
    /// Encodes a stored message once, as a whole WebSocket frame; every connection shares it.
    pub fn encode(message: app::models::ChatMessage) -> Self {
        let (id, room_id, sender_id) = (message.id, message.room_id, message.sender_id);
        Delivery { id, room_id, sender_id, frame: frames::text(&ServerFrame::Message(message)) }
    }
}
