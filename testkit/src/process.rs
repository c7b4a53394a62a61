//! Helpers shared by the servers: finding binaries, log files, and waiting for a server to be ready.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How a freshly spawned server's start-up ended.
pub(crate) enum Startup {
    Ready,
    /// It exited because another process holds its port: retry on another port (or later).
    PortTaken,
    /// It exited for another reason, or never became ready: the message says why, with its log's tail.
    Failed(String),
}

/// Polls `ready` every `poll` until it returns true, the child exits, or `timeout` passes. The child's
/// exit is checked first, so a server that failed to bind is never taken for another one on its port.
pub(crate) fn await_startup(
    child: &mut Child,
    log: &Path,
    timeout: Duration,
    poll: Duration,
    mut ready: impl FnMut() -> bool,
) -> Startup {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("cannot check on a child: {e}")) {
            return exited(status, log);
        }
        if ready() {
            return Startup::Ready;
        }
        if Instant::now() >= deadline {
            return Startup::Failed(format!("not ready after {timeout:?}; end of its log:\n{}", log_tail(log)));
        }
        sleep(poll);
    }
}

fn exited(status: std::process::ExitStatus, log: &Path) -> Startup {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    if text.contains("Address already in use") || text.contains("could not bind") {
        return Startup::PortTaken;
    }
    Startup::Failed(format!("exited with {status}; end of its log:\n{}", log_tail(log)))
}

/// The last 40 lines of a log file, for panic messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| format!("(cannot read the log: {e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Creates (or truncates) a log file for one launch of a server.
pub(crate) fn create_log(path: &Path) -> File {
    File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
}

/// The first executable file called `name` in a directory of `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Stops a child with `SIGKILL` and reaps it.
pub(crate) fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
