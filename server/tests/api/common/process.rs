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
}

impl Node {
    /// Starts the server with `env` (on top of quick test settings) and waits until it listens.
    pub async fn start(env: &[(&str, String)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let log = tempfile::NamedTempFile::new().unwrap();
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
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("server binary starts");
        let mut node = Self { child, endpoint: Endpoint::new(addr), log };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(&node.addr).await.is_ok() {
                return node;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("server exited with {status} before listening:\n{}", node.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not start listening:\n{}", node.log_text());
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

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        let _ = self.log.reopen().and_then(|mut file| file.read_to_string(&mut text));
        text
    }
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
