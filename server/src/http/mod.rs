//! HTTP doors: static files (`assets`), REST handlers (accounts and sessions in `rest`, history
//! and reports in `messages`, conversations in `rooms`, standing and appeals in `safety`, the
//! admin routes and downloads in `admin`), request extractors, the page guard and middleware
//! (cross-site refusal, JSON errors); `account` for a person's own account, `health` for
//! liveness and readiness, `metrics` for Prometheus. Each handler parses, calls a use case of `Services`, and
//! maps its answer.

pub mod account;
pub mod admin;
pub mod assets;
pub mod asyncapi;
pub mod csrf;
pub mod errors;
pub mod extract;
pub mod health;
pub mod message_actions;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod rest;
pub mod rooms;
pub mod safety;
pub mod uploads;
