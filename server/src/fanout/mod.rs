//! The fan-out engine: the hub (connections per account, with the authority each was opened
//! under; socket caps; flood control; presence), the conversation directory (who is in which
//! conversation and who ignores whom: a message goes to its conversation's members only), the
//! group-commit writer and its wave pacing (engaged only while the CPU is busy, read by
//! `cpu_time`), the outboxes and shards that write the live feed straight into sockets, the account-change feed
//! that keeps open sockets honest, every server frame (`frames`) and the RFC 6455 framing
//! (`wire`). Doors reach it only through `Services` and the hub's public methods.

pub mod authority;
pub mod cpu_time;
pub mod directory;
pub mod feed;
pub mod frames;
pub mod hub;
pub mod outbox;
pub mod pacing;
pub mod presence;
pub mod sequencer;
pub mod wire;
pub mod writer;

pub use hub::Hub;
