//! Real-time chat: the hub (live feed, connection registry, flood control), the group-commit
//! writer and its fan-out pacing, the `/ws` WebSocket door and the `/messages` history door.

pub mod hub;
pub mod pacing;
pub mod rest;
pub mod writer;
pub mod ws;

pub use hub::Hub;
