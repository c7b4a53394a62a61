//! S3 servers start with their bucket, take signed requests only, serve ranges, and stop when dropped.
//!
//! Requests go through `curl --aws-sigv4`, which signs them as AWS SDKs and the `object_store` crate do.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::S3Server;

#[test]
fn signed_put_get_and_range_get_round_trip() {
    let started = Instant::now();
    let s3 = S3Server::start();
    let elapsed = started.elapsed();
    eprintln!("S3Server::start took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?} to start");
    assert!(s3.endpoint().starts_with("http://127.0.0.1:"), "{}", s3.endpoint());
    assert_eq!(s3.region(), "us-east-1");

    let url = format!("{}/{}/attachments/a%20b.txt", s3.endpoint(), s3.bucket());
    let body = "0123456789abcdefghij";
    assert_eq!(put(&s3, &url, body), 200, "PUT");
    assert_eq!(curl(&s3, &[&url]), (200, body.to_owned()));
    assert_eq!(curl(&s3, &["-H", "Range: bytes=5-9", &url]), (206, "56789".to_owned()));
    assert_eq!(curl(&s3, &["-H", "Range: bytes=15-", &url]), (206, "fghij".to_owned()));

    let (status, listing) = curl(&s3, &[&format!("{}/{}?list-type=2", s3.endpoint(), s3.bucket())]);
    assert_eq!(status, 200, "{listing}");
    assert!(listing.contains("<Key>attachments/a b.txt</Key>"), "{listing}");

    let (status, missing) = curl(&s3, &[&format!("{}/{}/nothing-here", s3.endpoint(), s3.bucket())]);
    assert_eq!(status, 404, "{missing}");
    assert!(missing.contains("NoSuchKey"), "{missing}");
}

#[test]
fn unsigned_and_wrongly_signed_requests_are_refused() {
    let s3 = S3Server::start();
    let url = format!("{}/{}/secret.txt", s3.endpoint(), s3.bucket());
    assert_eq!(put(&s3, &url, "x"), 200);

    let status = |args: &[&str], stdin: &str| {
        let output = run_curl(&[&["-s", "-o", "/dev/null", "-w", "%{http_code}"], args].concat(), stdin);
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(status(&[&url], ""), "403", "anonymous GET");
    assert_eq!(status(&["-T", "-", &url], "y"), "403", "anonymous PUT");
    let wrong_secret = format!("{}:not-the-secret", s3.access_key());
    let sigv4 = format!("aws:amz:{}:s3", s3.region());
    assert_eq!(status(&["--aws-sigv4", &sigv4, "--user", &wrong_secret, &url], ""), "403", "wrongly signed GET");
    assert_eq!(curl(&s3, &[&url]), (200, "x".to_owned()), "a refused PUT changed the object");
}

#[test]
fn servers_are_separate_and_drop_stops_them() {
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(S3Server::start);
        let second = scope.spawn(S3Server::start);
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_ne!(first.endpoint(), second.endpoint());
    let url = |s3: &S3Server| format!("{}/{}/only-here", s3.endpoint(), s3.bucket());
    assert_eq!(put(&first, &url(&first), "first"), 200);
    assert_eq!(curl(&second, &[&url(&second)]).0, 404, "the second server sees the first's object");

    let port: u16 = first.endpoint().rsplit(':').next().unwrap().parse().unwrap();
    drop(first);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the dropped server still listens");
    assert_eq!(put(&second, &url(&second), "second"), 200);
}

/// A signed upload of `body` (curl signs `-T` uploads right, not `--data` ones); returns the status.
fn put(s3: &S3Server, url: &str, body: &str) -> u16 {
    signed_curl(s3, &["-T", "-", "-H", "Content-Type: text/plain", url], body).0
}

/// A signed request without a body; returns the status and the response body.
fn curl(s3: &S3Server, args: &[&str]) -> (u16, String) {
    signed_curl(s3, args, "")
}

fn signed_curl(s3: &S3Server, args: &[&str], stdin: &str) -> (u16, String) {
    let user = format!("{}:{}", s3.access_key(), s3.secret_key());
    let sigv4 = format!("aws:amz:{}:s3", s3.region());
    let signing = ["-s", "-w", "\n%{http_code}", "--aws-sigv4", &sigv4, "--user", &user];
    let output = run_curl(&[&signing, args].concat(), stdin);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_owned())
}

fn run_curl(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("curl")
        .args(["--max-time", "10"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run curl: {e} (run scripts/install-tools.sh --test)"));
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "curl {args:?} failed: {output:?}");
    output
}
