//! A watchdog process that stops a server and deletes its directory once the test process is gone.
//!
//! Statics never run `Drop`, and a test process may also die by `panic = "abort"` or `kill -9`. So each
//! server gets a `sh` child reading process ids, one a line, from a pipe whose write end only the test
//! process holds (Rust opens pipes close-on-exec, so no other child inherits it). When the test process
//! ends, however it ends, the kernel closes that end, `read` sees end-of-file, and the shell signals the
//! last process id it read, waits up to 3 s, sends `SIGKILL`, and deletes the directory. A line `-` means
//! "nothing to stop" (the server was stopped by the test; its pid may be reused by another process).
//!
//! Not `PR_SET_PDEATHSIG`: it fires when the *thread* that spawned the child exits, which under tokio or
//! libtest is any worker thread, long before the process ends.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

/// `$1`: the directory to delete; `$2`: the signal that asks the server to stop.
const SCRIPT: &str = r#"trap '' HUP INT
pid=-
while read -r line; do pid=$line; done
if [ "$pid" != - ]; then
  kill -"$2" "$pid" 2>/dev/null
  i=0
  while [ "$i" -lt 30 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$1"
"#;

/// Stops the watched process and deletes the directory when the test process ends, or when dropped.
#[derive(Debug)]
pub(crate) struct Watchdog {
    pipe: Option<ChildStdin>,
    shell: Child,
}

impl Watchdog {
    /// Starts a watchdog that will delete `dir` and stop the watched process with `signal` (a name such
    /// as `TERM`), then `KILL`. Its own process group keeps a terminal's Ctrl-C from killing it first.
    pub(crate) fn spawn(dir: &Path, signal: &str) -> Watchdog {
        let mut shell = Command::new("sh")
            .args(["-c", SCRIPT, "testkit-watchdog"])
            .arg(dir)
            .arg(signal)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the watchdog shell `sh`: {e}"));
        let pipe = shell.stdin.take();
        Watchdog { pipe, shell }
    }

    /// Stops `pid` when the test process ends (replacing any process watched before).
    pub(crate) fn watch(&mut self, pid: u32) {
        self.send(&pid.to_string()).unwrap_or_else(|e| panic!("the watchdog shell is gone: {e}"));
    }

    /// Forgets the watched process, which the caller has stopped and reaped.
    pub(crate) fn unwatch(&mut self) {
        // Best effort: this runs in `Drop`, and a dead watchdog has nothing left to do anyway.
        let _ = self.send("-");
    }

    fn send(&mut self, line: &str) -> std::io::Result<()> {
        let pipe = self.pipe.as_mut().expect("the pipe is open until drop");
        writeln!(pipe, "{line}")
    }
}

impl Drop for Watchdog {
    /// Closes the pipe, as the test process's end would, and waits for the shell to finish its cleanup.
    fn drop(&mut self) {
        drop(self.pipe.take());
        let _ = self.shell.wait();
    }
}
