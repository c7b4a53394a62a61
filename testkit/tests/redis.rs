//! Redis servers start, answer, die when killed, and come back on the same port.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use testkit::RedisServer;

#[test]
fn start_kill_restart() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
    assert!(redis.is_running());
    assert_eq!(ping(port).unwrap(), "+PONG\r\n");

    redis.kill();
    assert!(!redis.is_running());
    assert_eq!(ping(port).unwrap_err().kind(), ErrorKind::ConnectionRefused);

    redis.restart();
    assert_eq!(redis.port(), port);
    assert!(redis.is_running());
    assert_eq!(ping(port).unwrap(), "+PONG\r\n");
}

#[test]
fn restart_while_running_replaces_the_server() {
    let mut redis = RedisServer::start();
    redis.restart();
    assert_eq!(ping(redis.port()).unwrap(), "+PONG\r\n");
}

#[test]
fn servers_are_separate_and_drop_stops_them() {
    let first = RedisServer::start();
    let second = RedisServer::start();
    assert_ne!(first.port(), second.port());
    let port = first.port();
    drop(first);
    assert_eq!(ping(port).unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert_eq!(ping(second.port()).unwrap(), "+PONG\r\n");
}

#[test]
fn restart_waits_while_another_process_holds_the_port() {
    let mut redis = RedisServer::start();
    redis.kill();
    let squatter = TcpListener::bind(("127.0.0.1", redis.port())).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        drop(squatter);
    });
    let started = Instant::now();
    redis.restart();
    assert!(started.elapsed() >= Duration::from_millis(900), "restarted while the port was taken");
    assert_eq!(ping(redis.port()).unwrap(), "+PONG\r\n");
    release.join().unwrap();
}

fn ping(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0; 7];
    stream.read_exact(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}
