//! The few REST calls the load generator needs (`POST /register`, `POST /login`, and with a
//! bearer token `POST /rooms`, `POST /rooms/{id}/join`, `GET /search`), hand-rolled over a
//! `TcpStream`: one request per connection (`Connection: close`), JSON in and out.

use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Status code and body of a response.
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| format!("response is not JSON: {}", self.body))
    }
}

/// POSTs `body` (JSON) to `path`; gives up after `timeout`.
pub async fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value, timeout: Duration) -> Result<Response> {
    post(addr, path, Some(body), None, timeout).await
}

/// POSTs `body` (JSON, or nothing) to `path`, with `Authorization: Bearer <token>` when given;
/// gives up after `timeout`.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    body: Option<&serde_json::Value>,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Response> {
    send("POST", addr, path, body, token, timeout).await
}

/// Sends a `method` request (`POST`, `PATCH`, `PUT`, `DELETE`) with `body` (JSON, or nothing) to
/// `path`, with `Authorization: Bearer <token>` when given; gives up after `timeout`.
pub async fn send(
    method: &str,
    addr: SocketAddr,
    path: &str,
    body: Option<&serde_json::Value>,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Response> {
    let request = request_text(method, &addr.to_string(), path, body.map(|b| b.to_string()).as_deref(), token);
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse_response(&raw)
    };
    tokio::time::timeout(timeout, exchange).await.with_context(|| format!("{method} {path} timed out"))?
}

/// GETs `path` (its query already percent-encoded) with `Authorization: Bearer <token>`; gives up
/// after `timeout`.
pub async fn get(addr: SocketAddr, path: &str, token: &str, timeout: Duration) -> Result<Response> {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse_response(&raw)
    };
    tokio::time::timeout(timeout, exchange).await.with_context(|| format!("GET {path} timed out"))?
}

/// `text` percent-encoded for a query string (every byte but unreserved ASCII).
pub fn encode_query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The text of a `method` request (a JSON body, or an empty one).
fn request_text(method: &str, host: &str, path: &str, body: Option<&str>, token: Option<&str>) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    let body = body.unwrap_or("");
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len())
}

fn parse_response(raw: &[u8]) -> Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("incomplete HTTP response");
    };
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status line")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_string() };
    Ok(Response { status, body })
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut rest: &str) -> Result<String> {
    let mut body = String::new();
    // Bounded: every iteration consumes at least the size line.
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let size_text = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).context("bad chunk size")?;
        if size == 0 {
            return Ok(body);
        }
        let chunk = after.get(..size).context("truncated chunk")?;
        body.push_str(chunk);
        rest = after.get(size + 2..).unwrap_or("");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let plain = parse_response(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((plain.status, plain.body.as_str()), (201, "{}"));
        let chunked = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.body, "{\"a\":1}");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("a b:\"c\"é"), "a%20b%3A%22c%22%C3%A9");
    }

    #[test]
    fn requests_with_and_without_body_and_token() {
        let plain = request_text("POST", "h:1", "/login", Some("{}"), None);
        assert_eq!(
            plain,
            "POST /login HTTP/1.1\r\nHost: h:1\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\n\r\n{}"
        );
        let join = request_text("POST", "h:1", "/rooms/7/join", None, Some("t0k"));
        assert!(join.contains("\r\nAuthorization: Bearer t0k\r\n"), "{join}");
        assert!(join.ends_with("Content-Length: 0\r\n\r\n") && !join.contains("Content-Type"), "{join}");
    }
}
