//! Creating a throwaway PostgreSQL cluster (`initdb`) and launching its server on a free port.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::account::Account;
use super::binaries::PgBinaries;
use crate::ports::free_port;
use crate::process::{await_startup, create_log, kill_and_reap, log_tail, Startup};
use crate::watchdog::Watchdog;

const DATA: &str = "data";
const SOCKETS: &str = "sock";
const LOG: &str = "postgres.log";
const PORT_ATTEMPTS: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The cluster takes about 40 MB and each database about 8 MB; Docker's default 64 MB `/dev/shm` is too
/// small, and a machine with less than 4 GB of memory had better keep them on disk.
const SHM_MIN_AVAILABLE: u64 = 2 << 30;

/// Server settings: throwaway data needs no durability; tests open many connections in parallel.
const SETTINGS: [&str; 6] = [
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "full_page_writes=off",
    "synchronous_commit=on",
    "max_connections=400",
    "shared_buffers=32MB",
];

/// A new, empty directory for the cluster, kept (the watchdog deletes it), absolute and symlink-free.
/// As root it must be traversable by the `postgres` user: its parent must be, and it is made 0755.
pub(crate) fn create_dir(account: Account) -> PathBuf {
    let parent = parent_dir(account);
    let dir = tempfile::Builder::new()
        .prefix("chatterbox-pg-")
        .tempdir_in(&parent)
        .unwrap_or_else(|e| panic!("cannot create a temporary directory in {}: {e}", parent.display()))
        .keep();
    if account.is_root() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("cannot chmod 0755 {}: {e}", dir.display()));
    }
    std::fs::canonicalize(&dir).unwrap_or_else(|e| panic!("cannot canonicalize {}: {e}", dir.display()))
}

/// `/dev/shm` if it has room: files in memory cost no disk I/O, so `initdb` and `CREATE DATABASE` are
/// several times faster than on a disk that a parallel build keeps busy (about 15 ms a database against
/// 100 to 300 ms). Else `TMPDIR` (or /tmp); as root, only if every directory on its path lets others in
/// (the `postgres` user must reach its files, and directories not ours keep their permissions), else /tmp.
fn parent_dir(account: Account) -> PathBuf {
    let shm = Path::new("/dev/shm");
    if others_may_enter(shm) && available_bytes(shm).is_some_and(|bytes| bytes >= SHM_MIN_AVAILABLE) {
        return shm.to_path_buf();
    }
    let temp = std::env::temp_dir();
    if !account.is_root() || (temp.is_absolute() && temp.ancestors().all(others_may_enter)) {
        temp
    } else {
        PathBuf::from("/tmp")
    }
}

fn others_may_enter(dir: &Path) -> bool {
    dir.metadata().is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o001 != 0)
}

/// Free space for unprivileged users, from `df -Pk` (POSIX output: the fourth column, in KiB).
fn available_bytes(dir: &Path) -> Option<u64> {
    let output = Command::new("df").arg("-Pk").arg(dir).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let kib: u64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `initdb` in `dir/data`, with a socket directory next to it, both owned by `account`.
pub(crate) fn init(bin: &PgBinaries, account: Account, dir: &Path) {
    for name in [DATA, SOCKETS] {
        let path = dir.join(name);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        account.take_over(&path);
    }
    let mut initdb = Command::new(&bin.initdb);
    initdb
        .arg("-D")
        .arg(dir.join(DATA))
        .args(["--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"])
        .current_dir(dir)
        .stdin(Stdio::null());
    account.apply(&mut initdb);
    let output = initdb.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.initdb.display()));
    assert!(
        output.status.success(),
        "initdb failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts `postgres` on a free port (another port if that one is taken) and waits until it answers.
/// The server is our child, not a daemon, so the watchdog knows its pid.
pub(crate) fn launch(bin: &PgBinaries, account: Account, dir: &Path, watchdog: &mut Watchdog) -> (u16, Child) {
    let log = dir.join(LOG);
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let mut server = spawn(bin, account, dir, port);
        watchdog.watch(server.id());
        match await_startup(&mut server, &log, READY_TIMEOUT, Duration::from_millis(50), || answers(bin, port, dir)) {
            Startup::Ready => return (port, server),
            Startup::PortTaken => {}
            Startup::Failed(why) => {
                kill_and_reap(&mut server);
                watchdog.unwatch();
                panic!("PostgreSQL did not start on port {port}: {why}");
            }
        }
        kill_and_reap(&mut server);
        watchdog.unwatch();
    }
    panic!("PostgreSQL found its port taken {PORT_ATTEMPTS} times in a row; last log:\n{}", log_tail(&log));
}

fn spawn(bin: &PgBinaries, account: Account, dir: &Path, port: u16) -> Child {
    let mut postgres = Command::new(&bin.postgres);
    postgres.arg("-D").arg(dir.join(DATA)).args(["-p", &port.to_string()]).arg("-k").arg(dir.join(SOCKETS));
    for setting in SETTINGS {
        postgres.args(["-c", setting]);
    }
    postgres.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(create_log(&dir.join(LOG)));
    account.apply(&mut postgres);
    postgres.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.postgres.display()))
}

/// Whether *our* server answers on `port`: one that failed to bind must not be mistaken for the server
/// of another process that holds the port, so this checks the data directory too.
fn answers(bin: &PgBinaries, port: u16, dir: &Path) -> bool {
    bin.psql(port, "postgres", "SHOW data_directory").is_ok_and(|data| Path::new(&data) == dir.join(DATA))
}
