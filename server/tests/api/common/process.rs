//! The real server binary as a deployment runs it: a child process on a free port of 127.0.0.1,
//! configured by environment variables only, with its log in a file shown when a test fails.
//! For the tests that kill servers (`kill -9`) and run several nodes of a cluster.

use super::endpoint::Endpoint;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Node {
    child: Child,
    /// Its address and an HTTP client (`node.addr`, `node.register(...)`, ...).
    endpoint: Endpoint,
    log: tempfile::NamedTempFile,
    /// Its files, unless the test names a place (a cluster's shared directory, S3).
    _files: tempfile::TempDir,
}

/// How many ports a start tries before giving up: each one was free a moment before the server
/// tried to bind it, so another process taking it meanwhile is rare, and twice in a row rarer.
const PORT_ATTEMPTS: usize = 5;

impl Node {
    /// Starts the server with `env` (on top of quick test settings) and waits until it listens.
    /// The port is one that was free a moment ago; if another process takes it before the server
    /// binds it (the server then exits with "Address already in use"), the start is retried on
    /// another port. The node is ready once the listening socket on its port is the child's own,
    /// so another process's server on that port is never taken for it.
    pub async fn start(env: &[(&str, String)]) -> Self {
        for _ in 0..PORT_ATTEMPTS {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if let Some(node) = Self::start_on(port, env).await {
                return node;
            }
        }
        panic!("the server found its port taken {PORT_ATTEMPTS} times in a row");
    }

    /// Starts the server on `port`: `None` if it exits because the port is taken (whoever holds
    /// it, and even while that holder answers connections on it).
    pub async fn start_on(port: u16, env: &[(&str, String)]) -> Option<Self> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let log = tempfile::NamedTempFile::new().unwrap();
        let files = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("CHATTERBOX_BCRYPT_COST", "4")
            .env("CHATTERBOX_FLOOD_BURST", "100000")
            .env("CHATTERBOX_FLOOD_PER_SEC", "100000")
            .env("CHATTERBOX_LOGIN_IP_BURST", "10000")
            .env("CHATTERBOX_REGISTER_IP_BURST", "10000")
            .env("CHATTERBOX_LOGIN_ACCOUNT_BURST", "10000")
            .env("CHATTERBOX_CONFIG", "/dev/null")
            .env("RUST_LOG", "warn")
            .env("CHATTERBOX_FILES_URL", format!("file://{}", files.path().display()))
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("server binary starts");
        let mut node = Self { child, endpoint: Endpoint::new(addr), log, _files: files };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            // The exit first: a server that failed to bind must not be taken for another
            // process's server on the same port.
            if let Ok(Some(status)) = node.child.try_wait() {
                let log = node.log_text();
                if log.contains("Address already in use") {
                    return None;
                }
                panic!("server exited with {status} before listening:\n{log}");
            }
            if listens(node.pid(), port) {
                return Some(node);
            }
            if std::time::Instant::now() > deadline {
                panic!("server did not start listening:\n{}", node.log_text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `KILL`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn kill9(&mut self) {
        self.signal("9");
        let _ = self.child.wait();
    }

    /// The exit status, once the process has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// The process's resident memory now and its peak so far (`VmRSS`, `VmHWM`), in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc/PID/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kib| kib * 1024)
                .unwrap_or_else(|| panic!("{name} in /proc/PID/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Resets the peak of [`Self::memory`] to the current resident size (`clear_refs` 5).
    pub fn reset_peak_memory(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").expect("/proc/PID/clear_refs");
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        let _ = self.log.reopen().and_then(|mut file| file.read_to_string(&mut text));
        text
    }
}

/// Whether process `pid` holds the socket listening on 127.0.0.1:`port` (Linux: the listening
/// sockets of `/proc/net/tcp` by inode, against the process's open files).
pub fn listens(pid: u32, port: u16) -> bool {
    let mut listening = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            let local_port = local.rsplit(':').next().and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if *state == "0A" && local_port == Some(port) {
                listening.insert(format!("socket:[{inode}]"));
            }
        }
    }
    if listening.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| listening.contains(target.to_string_lossy().as_ref()))
}

impl std::ops::Deref for Node {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- log of the server on {} ---\n{}", self.addr, self.log_text());
        }
    }
}
