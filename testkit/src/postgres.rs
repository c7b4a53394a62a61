//! One PostgreSQL server per test process, started on first use, with a fresh database per test.

mod account;
mod binaries;
mod cluster;

use std::any::Any;
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use account::Account;
use binaries::PgBinaries;

use crate::watchdog::Watchdog;

/// The server, or why it could not start (so later tests fail at once instead of retrying).
static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();

/// The test process's PostgreSQL server, started on first use (about half a second; see the crate docs).
///
/// It listens on 127.0.0.1 with `trust` authentication for the `postgres` superuser, and stops (its files
/// deleted) when the test process ends. Panics if PostgreSQL is not installed or does not start; once it
/// failed, every later call panics with the same reason.
pub fn postgres() -> &'static PgServer {
    match SERVER.get_or_init(|| std::panic::catch_unwind(PgServer::start).map_err(panic_message)) {
        Ok(server) => server,
        Err(why) => panic!("testkit could not start PostgreSQL: {why}"),
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload.downcast_ref::<&str>().map_or("(no message)", |message| message).to_owned(),
    }
}

/// A running PostgreSQL server; see [`postgres()`].
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    bin: PgBinaries,
    databases_created: AtomicU64,
    _process: Child,
    _watchdog: Watchdog,
}

impl PgServer {
    fn start() -> PgServer {
        let bin = PgBinaries::find();
        let account = Account::detect();
        let dir = cluster::create_dir(account);
        // Armed before anything else is put in `dir`: from here on, the files never outlive the process.
        // SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for clients to disconnect).
        let mut watchdog = Watchdog::spawn(&dir, "INT");
        cluster::init(&bin, account, &dir);
        let (port, process) = cluster::launch(&bin, account, &dir, &mut watchdog);
        PgServer { port, bin, databases_created: AtomicU64::new(0), _process: process, _watchdog: watchdog }
    }

    /// Creates a new, empty database (a copy of `template1`) and returns its URL,
    /// `postgres://postgres@127.0.0.1:PORT/t_<pid>_<n>`. Takes about 15 ms (8 MB each, in memory when
    /// the cluster is in `/dev/shm`).
    pub fn fresh_database(&self) -> String {
        let n = self.databases_created.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name} STRATEGY FILE_COPY"));
        self.url(&name)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `postgres` database, for administration: tests should use [`Self::fresh_database`].
    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }

    /// Runs `sql` in `database` with `psql -Atc` as the superuser and returns its output (rows one a line,
    /// columns separated by `|`, without the last newline). Panics with psql's error if it fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        self.bin.psql(self.port, database, sql).unwrap_or_else(|why| panic!("{sql:?} in database {database}: {why}"))
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}
