//! Bytes on the wire, for what a well-behaved client library never sends: HTTP requests written
//! by hand (a WebSocket handshake with a header missing or wrong, a body that never arrives) and
//! RFC 6455 frames built by hand (unmasked, reserved bits, unknown opcodes, broken fragments,
//! text that is not UTF-8), written straight into a live socket.

use super::Client;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;

/// A response read off the wire: status, header lines (names lowercased), body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Sends `head` (the request line and headers, without the blank line) with `Connection: close`
/// added unless it names a `Connection` of its own, and reads the whole response (10 s at most).
pub async fn request(addr: SocketAddr, head: &str) -> RawResponse {
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    let mut text = head.trim_end().replace('\n', "\r\n").replace("\r\r\n", "\r\n");
    if !head.to_ascii_lowercase().contains("\nconnection:") {
        text.push_str("\r\nConnection: close");
    }
    text.push_str("\r\n\r\n");
    socket.write_all(text.as_bytes()).await.unwrap();
    read_response(&mut socket, Duration::from_secs(10)).await.expect("a response in time")
}

/// Reads one response from `socket`: the head, then a `Content-Length` body (or everything up to
/// the end of the stream). `None` if the connection ends, or `wait` passes, before a whole head.
pub async fn read_response(socket: &mut TcpStream, wait: Duration) -> Option<RawResponse> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = bytes[head_end + 4..].to_vec();
    // A 101 ends the HTTP part: what follows belongs to the protocol switched to.
    let length = if status == 101 { Some(0) } else { length };
    while length.is_none_or(|length| body.len() < length) {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    Some(RawResponse { status, headers, body: String::from_utf8_lossy(&body).to_string() })
}

/// A well-formed WebSocket handshake for `GET /ws?{query}` on `addr`, as header lines, with
/// the header named `without` left out and `extra` lines added (they replace a header of the
/// same name).
pub fn ws_handshake(addr: SocketAddr, query: &str, without: Option<&str>, extra: &[&str]) -> String {
    let standard = [
        format!("Host: {addr}"),
        "Connection: Upgrade".to_owned(),
        "Upgrade: websocket".to_owned(),
        "Sec-WebSocket-Version: 13".to_owned(),
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".to_owned(),
    ];
    let name_of = |line: &str| line.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
    let replaced: Vec<String> = extra.iter().map(|line| name_of(line)).collect();
    let mut lines = vec![format!("GET /ws?{query} HTTP/1.1")];
    for line in standard {
        let name = name_of(&line);
        if without.is_some_and(|w| w.eq_ignore_ascii_case(&name)) || replaced.contains(&name) {
            continue;
        }
        lines.push(line);
    }
    lines.extend(extra.iter().map(|line| line.to_string()));
    lines.join("\r\n")
}

/// The mask every hand-built client frame uses.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame: `first` is the first byte (FIN, RSV1-3, opcode), the payload masked when `masked`.
pub fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mut bytes = vec![first, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    if masked {
        bytes.extend_from_slice(&MASK);
        bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        bytes.extend_from_slice(payload);
    }
    bytes
}

/// A masked frame with FIN set and opcode `opcode`.
pub fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(0x80 | opcode, payload, true)
}

impl Client {
    /// Writes `bytes` into the connection's TCP socket as they are, past the WebSocket library.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        match self.socket.get_mut() {
            MaybeTlsStream::Plain(tcp) => tcp.write_all(bytes).await.expect("raw write"),
            _ => unreachable!("tests speak plain TCP"),
        }
    }
}
