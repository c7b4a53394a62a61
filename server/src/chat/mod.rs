//! Real-time chat: the hub (connection registry, flood control), the group-commit writer and its
//! fan-out pacing, the outboxes and fan-out that write to sockets, WebSocket framing, the `/ws`
//! WebSocket door and the `/messages` history door.

pub mod authority;
pub mod frames;
pub mod handshake;
pub mod hub;
pub mod outbox;
pub mod pacing;
pub mod rest;
pub mod wire;
pub mod writer;
pub mod ws;

pub use hub::Hub;
