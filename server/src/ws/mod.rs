//! The WebSocket door, `GET /ws` (contract in `docs/protocol.md`): the upgrade (authentication,
//! the handshake's checks, admission within the socket caps, taking the raw socket) and the
//! connection task that reads client frames, calls the chat use cases and maps their answers to
//! frames.

pub mod connection;
pub mod handshake;
pub mod upgrade;
