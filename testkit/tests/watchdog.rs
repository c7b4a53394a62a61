//! Servers stop, and their files go, when the test process is killed with SIGKILL.
//!
//! `servers_outlive_no_test_process` runs this test binary again, restricted to `killed_child`, which
//! starts the servers, prints their ports and directories, and SIGKILLs itself (no `Drop` runs).

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use testkit::{postgres, RedisServer, S3Server};

const CHILD: &str = "TESTKIT_KILLED_CHILD";

#[test]
fn servers_outlive_no_test_process() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["killed_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout.lines().find_map(|line| line.split_once("servers: ").map(|(_, report)| report));
    let report = report.unwrap_or_else(|| panic!("no report from the child: {output:?}"));
    let [pg_port, pg_data, redis_port, s3_endpoint] = report.split(' ').collect::<Vec<_>>().try_into().unwrap();
    let s3_port = s3_endpoint.rsplit(':').next().unwrap();

    for port in [pg_port, redis_port, s3_port] {
        let port: u16 = port.parse().unwrap();
        eventually(|| TcpStream::connect(("127.0.0.1", port)).is_err(), "a server still listens");
    }
    let pg_dir = Path::new(pg_data).parent().unwrap();
    eventually(|| !pg_dir.exists(), "PostgreSQL's directory is still there");
}

#[test]
fn killed_child() {
    if std::env::var_os(CHILD).is_none() {
        return; // Only meaningful when run by `servers_outlive_no_test_process`.
    }
    let pg = postgres();
    let redis = RedisServer::start();
    let s3 = S3Server::start();
    let data = pg.psql("postgres", "SHOW data_directory");
    println!("servers: {} {data} {} {}", pg.port(), redis.port(), s3.endpoint());
    Command::new("kill").args(["-KILL", &std::process::id().to_string()]).status().unwrap();
    sleep(Duration::from_secs(60));
    unreachable!("SIGKILL did not kill the child");
}

fn eventually(condition: impl Fn() -> bool, failure: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "{failure} 10 s after the test process died");
        sleep(Duration::from_millis(50));
    }
}
