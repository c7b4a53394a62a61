//! A Redis server per test: pub/sub ignores database numbers, so tests cannot share one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::ports::free_port;
use crate::process::{await_startup, create_log, find_on_path, kill_and_reap, Startup};
use crate::watchdog::Watchdog;

const PORT_ATTEMPTS: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const LOG: &str = "redis.log";

/// A running (or deliberately killed) `redis-server` on 127.0.0.1, without persistence.
///
/// Dropping it kills the server; if the test process dies first, a watchdog does.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    binary: PathBuf,
    /// Holds the log and Redis's working directory; the watchdog deletes it.
    dir: PathBuf,
    process: Option<Child>,
    watchdog: Watchdog,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers (milliseconds). Panics if
    /// `redis-server` is missing (`CHATTERBOX_REDIS_SERVER`, else `PATH`) or does not start.
    pub fn start() -> RedisServer {
        let binary = redis_binary();
        let dir = tempfile::Builder::new()
            .prefix("chatterbox-redis-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
            .keep();
        let watchdog = Watchdog::spawn(&dir, "TERM");
        let mut server = RedisServer { port: 0, binary, dir, process: None, watchdog };
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.launch(READY_TIMEOUT) {
                Startup::Ready => return server,
                Startup::PortTaken => {}
                Startup::Failed(why) => panic!("redis-server did not start on port {}: {why}", server.port),
            }
        }
        panic!("redis-server found its port taken {PORT_ATTEMPTS} times in a row")
    }

    /// `redis://127.0.0.1:PORT`; the same after [`Self::restart`].
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TCP port on 127.0.0.1; the same after [`Self::restart`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with `SIGKILL`, as a crash would, and waits until it is gone: connections are
    /// reset and new ones refused. Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            kill_and_reap(&mut process);
            self.watchdog.unwatch();
        }
    }

    /// Starts the server again, empty, on the same port (killing it first if it runs), and waits until
    /// it answers. Retries for up to 10 s while the port is taken; panics after that.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.launch(deadline.saturating_duration_since(Instant::now())) {
                Startup::Ready => return,
                Startup::PortTaken if Instant::now() < deadline => sleep(Duration::from_millis(100)),
                Startup::PortTaken => panic!("cannot restart redis-server: port {} stayed taken", self.port),
                Startup::Failed(why) => panic!("redis-server did not restart on port {}: {why}", self.port),
            }
        }
    }

    /// Whether the server process is alive (started or restarted, not killed, not crashed).
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|process| matches!(process.try_wait(), Ok(None)))
    }

    /// Spawns the server on `self.port` and waits up to `timeout` for it; keeps it only if it is ready.
    fn launch(&mut self, timeout: Duration) -> Startup {
        let mut process = self.spawn();
        let (pid, port) = (process.id(), self.port);
        self.watchdog.watch(pid);
        let log = self.dir.join(LOG);
        let startup =
            await_startup(&mut process, &log, timeout, Duration::from_millis(20), || server_pid(port) == Some(pid));
        if let Startup::Ready = startup {
            self.process = Some(process);
        } else {
            kill_and_reap(&mut process);
            self.watchdog.unwatch();
        }
        startup
    }

    fn spawn(&self) -> Child {
        let log = create_log(&self.dir.join(LOG));
        let stdout = log.try_clone().unwrap_or_else(|e| panic!("cannot duplicate a file handle: {e}"));
        Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (redis-server not found: run scripts/install-tools.sh --test)",
                    self.binary.display()
                )
            })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `CHATTERBOX_REDIS_SERVER`, else `redis-server` on `PATH`.
fn redis_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CHATTERBOX_REDIS_SERVER") {
        return PathBuf::from(path);
    }
    find_on_path("redis-server").unwrap_or_else(|| {
        panic!("redis-server not found: run scripts/install-tools.sh --test (or set CHATTERBOX_REDIS_SERVER)")
    })
}

/// The pid of the server answering on `port`, if one answers: a server that failed to bind must not be
/// mistaken for another process's server on that port.
fn server_pid(port: u16) -> Option<u32> {
    let info = bulk_reply(port, "INFO server")?;
    info.lines().find_map(|line| line.strip_prefix("process_id:"))?.trim().parse().ok()
}

/// Sends an inline command and reads a bulk-string reply (`$LEN\r\nBODY\r\n`).
fn bulk_reply(port: u16, command: &str) -> Option<String> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).ok()?;
    let len: usize = header.strip_prefix('$')?.trim_end().parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}
