//! What nodes tell each other on the bus: one JSON envelope per publication, naming the cluster
//! and the node it came from. Every event is a hint that the database can confirm; none is the
//! only record of anything.

use app::models::ChatMessage;
use serde::{Deserialize, Serialize};

/// One publication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing node's cluster: a node takes only its own cluster's envelopes.
    pub cluster: String,
    /// The publishing node.
    pub node: u64,
    /// When it was published (Unix milliseconds, the publisher's clock), for the bus-lag metric;
    /// absent from older nodes' envelopes.
    #[serde(default, rename = "t", skip_serializing_if = "Option::is_none")]
    pub sent_at_ms: Option<u64>,
    #[serde(flatten)]
    pub event: Event,
}

/// Now, in Unix milliseconds.
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Event {
    /// Messages committed by one node: every id of `lo..=hi` (gapless), ascending, and `f`, the
    /// newest room change committed before them (a node applies the room-change feed up to it
    /// before it delivers them).
    Messages {
        lo: i64,
        hi: i64,
        m: Vec<ChatMessage>,
        #[serde(default)]
        f: i64,
    },
    /// The room-change feed has entries up to `seq`: read it (a hint; every node also reads the
    /// feed on its own, so a lost one costs latency, never privacy).
    Changes { seq: i64 },
    /// A frame for the live sockets of `users` (everyone's with `None`) but those of `except`:
    /// typing. `frame` is its JSON text.
    Frame { users: Option<Vec<i64>>, except: Vec<i64>, frame: String },
    /// `user` came online on node `origin` (their first socket there) or went offline there.
    /// (Not `node`: the envelope's field has that name, and the two share one JSON object.)
    Presence { origin: u64, user: i64, username: String, online: bool },
}

/// What the bus hands the node (its writer; presence news go to the hub's presence instead).
#[derive(Debug)]
pub enum Incoming {
    /// Another node's event.
    Event(Event),
    /// The subscription was (re)established: whatever was published while it was down is lost,
    /// so the node reads the database for what it missed.
    Resubscribed,
}

/// Largest publication: a batch of messages beyond it is published as several contiguous ranges
/// (Redis cuts off a subscriber that falls 32 MB behind; every range stays far below that).
pub const MAX_PUBLICATION_BYTES: usize = 256 * 1024;

/// `messages` (ascending, gapless ids) as one or more `Messages` events of at most about
/// [`MAX_PUBLICATION_BYTES`] each (one message alone may exceed it).
pub fn message_ranges(messages: Vec<ChatMessage>, feed: i64) -> Vec<Event> {
    let mut events = Vec::new();
    let mut chunk: Vec<ChatMessage> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = serde_json::to_string(&message).map_or(0, |json| json.len());
        if !chunk.is_empty() && bytes + size > MAX_PUBLICATION_BYTES {
            events.push(range_of(std::mem::take(&mut chunk), feed));
            bytes = 0;
        }
        bytes += size;
        chunk.push(message);
    }
    if !chunk.is_empty() {
        events.push(range_of(chunk, feed));
    }
    events
}

fn range_of(messages: Vec<ChatMessage>, feed: i64) -> Event {
    let lo = messages.first().map_or(0, |m| m.id);
    let hi = messages.last().map_or(0, |m| m.id);
    Event::Messages { lo, hi, m: messages, f: feed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, content: &str) -> ChatMessage {
        ChatMessage {
            id,
            sender_id: 1,
            username: "u".into(),
            content: content.into(),
            timestamp: "2026-11-29T00:00:00.000Z".into(),
            room: "general".into(),
            room_id: 1,
            client_id: None,
            ..Default::default()
        }
    }

    #[test]
    fn an_envelope_round_trips_as_json() {
        let envelope = Envelope {
            cluster: "blue".into(),
            node: 7,
            sent_at_ms: Some(1_765_000_000_000),
            event: Event::Messages { lo: 1, hi: 1, m: vec![message(1, "hi")], f: 4 },
        };
        let json = serde_json::to_string(&envelope).unwrap();
        assert!(json.contains(r#""k":"messages""#) && json.contains(r#""cluster":"blue""#), "{json}");
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), envelope);
    }

    #[test]
    fn every_event_round_trips_inside_an_envelope() {
        let events = [
            Event::Changes { seq: 3 },
            Event::Frame { users: None, except: vec![4], frame: "{}".into() },
            Event::Presence { origin: 9, user: 4, username: "dan".into(), online: true },
        ];
        for event in events {
            let envelope = Envelope { cluster: "blue".into(), node: 7, sent_at_ms: None, event };
            let json = serde_json::to_string(&envelope).unwrap();
            assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), envelope, "{json}");
        }
    }

    #[test]
    fn a_large_batch_goes_as_contiguous_ranges_of_bounded_size() {
        let big = "x".repeat(4000);
        let events = message_ranges((1..=200).map(|id| message(id, &big)).collect(), 9);
        assert!(events.len() >= 3, "{} ranges", events.len());
        let mut next = 1;
        for event in &events {
            let Event::Messages { lo, hi, m, f } = event else { panic!("not a range: {event:?}") };
            assert_eq!(*f, 9, "every range names the feed entry the batch followed");
            assert_eq!((*lo, m.first().unwrap().id, m.last().unwrap().id), (next, *lo, *hi));
            assert!(serde_json::to_string(event).unwrap().len() <= MAX_PUBLICATION_BYTES + 8192);
            next = hi + 1;
        }
        assert_eq!(next, 201);
        assert!(message_ranges(Vec::new(), 0).is_empty());
    }
}
