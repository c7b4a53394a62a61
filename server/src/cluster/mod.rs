//! The cluster: several ChatterBox nodes on one PostgreSQL database, behind one address. The
//! database is the truth (messages, accounts, memberships); Redis pub/sub (`bus`) only tells the
//! other nodes, fast, what one node did, so a lost or late bus message costs latency, never a
//! message. Without `CHATTERBOX_REDIS_URL` there is no cluster and none of this runs: the single
//! node keeps its in-process path.

pub mod bus;
pub mod events;
pub mod link;
pub mod presence;
pub mod shared_bucket;

pub use bus::Bus;
pub use events::{Event, Incoming};

/// A node's name on the bus, random per process start: what it published comes back to it, and
/// is recognised and skipped.
pub fn new_node_id() -> u64 {
    rand::random::<u64>() | 1
}
