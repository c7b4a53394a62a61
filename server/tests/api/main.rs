//! The server's integration tests: one binary (so the server and its dependencies are linked
//! once), one module per concern. Each test starts its own server over a fresh database through
//! `common` (`TestApp` in process, or `process::Node` as a child process), and talks to it as a
//! client does: real HTTP, real WebSocket.

mod common;

mod accounts;
mod admin;
mod assets;
mod authority;
mod chat;
mod cluster;
mod cluster_membership;
mod cluster_ops;
mod conversations;
mod crash;
mod faults;
mod http_contract;
mod message_actions;
mod moderation;
mod openapi;
mod operations;
mod own_account;
mod perf_bounds;
mod rolling_restart;
mod safety;
mod security;
mod sessions;
mod throttles;
mod uploads;
