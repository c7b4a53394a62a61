//! A minimal WebSocket client (RFC 6455), just what the load generator needs: the opening
//! handshake, reading server frames (unmasked; fragmented messages reassembled), and writing
//! masked client frames (text, pong, close).
//!
//! Why not tungstenite: the load generator shares two cores with the server it measures, and
//! every microsecond it spends per received frame is taken from the server. Profiles showed the
//! general-purpose client zeroing its whole read buffer on every read and doing several layers of
//! polling per frame; this reader reads into spare capacity without zeroing and hands each frame
//! to a callback straight from its buffer.

use anyhow::{bail, Context, Result};
use std::cell::Cell;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Largest server message accepted (a `since` history of 500 messages of 4000 characters fits).
const MAX_MESSAGE: usize = 16 << 20;

/// Performs the opening handshake on `stream` for `path` (with its query); returns the bytes the
/// server sent after its response (the start of the first frames).
pub async fn handshake(stream: &mut TcpStream, host: &str, path: &str) -> Result<Vec<u8>> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        base64_16(&random_bytes())
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(2048);
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            if !head.starts_with("HTTP/1.1 101") {
                let status = head.lines().next().unwrap_or("").to_string();
                let body = String::from_utf8_lossy(&buf[end + 4..]).chars().take(200).collect::<String>();
                bail!("WebSocket handshake refused: {status} {body}");
            }
            return Ok(buf[end + 4..].to_vec());
        }
        if buf.len() > 16 * 1024 {
            bail!("WebSocket handshake response too long");
        }
        buf.reserve(2048);
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("connection closed during the WebSocket handshake");
        }
    }
}

/// A frame (or reassembled message) from the server, borrowed from the reader's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A text message (not checked to be UTF-8: the server only sends valid JSON text).
    Text(&'a [u8]),
    Binary,
    Ping(&'a [u8]),
    Pong,
    /// A close frame with its status code, if it had one.
    Close(Option<u16>),
}

/// The reading side of a WebSocket connection.
pub struct Reader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
    /// Offset of the first unparsed byte of `buf`.
    start: usize,
    /// Payload of a fragmented message so far, and its opcode.
    fragments: Vec<u8>,
    fragment_opcode: u8,
    min_read: usize,
}

impl Reader {
    /// A reader over `half` that has already received `leftover`; reads at least `min_read`
    /// bytes of room at a time.
    pub fn new(half: OwnedReadHalf, leftover: Vec<u8>, min_read: usize) -> Self {
        Self { half, buf: leftover, start: 0, fragments: Vec::new(), fragment_opcode: 0, min_read: min_read.max(512) }
    }

    /// Hands every complete frame already buffered to `on_frame`, then, if none was, reads once
    /// from the socket and tries again. Returns `Ok(false)` when the peer closed the connection.
    pub async fn next_frames(&mut self, mut on_frame: impl FnMut(Frame<'_>)) -> Result<bool> {
        loop {
            if self.parse_buffered(&mut on_frame)? > 0 {
                return Ok(true);
            }
            self.compact();
            if self.buf.capacity() - self.buf.len() < self.min_read {
                self.buf.reserve(self.min_read);
            }
            if self.half.read_buf(&mut self.buf).await? == 0 {
                return Ok(false);
            }
        }
    }

    /// Parses complete frames from the buffer; returns how many were handed over.
    fn parse_buffered(&mut self, on_frame: &mut impl FnMut(Frame<'_>)) -> Result<usize> {
        let mut handed = 0;
        while let Some(header) = parse_header(&self.buf[self.start..])? {
            let needed = header.length + header.payload_len;
            if self.buf.len() - self.start < needed {
                // Make room for the whole frame before reading on.
                self.buf.reserve(needed);
                break;
            }
            let begin = self.start + header.length;
            let payload = &self.buf[begin..begin + header.payload_len];
            self.start += needed;
            handed += deliver(header, payload, &mut self.fragments, &mut self.fragment_opcode, on_frame)?;
        }
        Ok(handed)
    }

    /// Moves the unparsed bytes to the front of the buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.start = 0;
        }
    }
}

/// Hands one frame (or, at the end of a fragmented message, the whole message) to `on_frame`.
fn deliver(
    header: Header,
    payload: &[u8],
    fragments: &mut Vec<u8>,
    fragment_opcode: &mut u8,
    on_frame: &mut impl FnMut(Frame<'_>),
) -> Result<usize> {
    let opcode = header.opcode;
    if opcode == OP_CONTINUATION || (!header.fin && (opcode == OP_TEXT || opcode == OP_BINARY)) {
        if opcode != OP_CONTINUATION {
            *fragment_opcode = opcode;
            fragments.clear();
        }
        if fragments.len() + payload.len() > MAX_MESSAGE {
            bail!("server message over {MAX_MESSAGE} bytes");
        }
        fragments.extend_from_slice(payload);
        if !header.fin {
            return Ok(0);
        }
        on_frame(if *fragment_opcode == OP_TEXT { Frame::Text(fragments) } else { Frame::Binary });
        return Ok(1);
    }
    let frame = match opcode {
        OP_TEXT => Frame::Text(payload),
        OP_BINARY => Frame::Binary,
        OP_PING => Frame::Ping(payload),
        OP_PONG => Frame::Pong,
        OP_CLOSE => Frame::Close((payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))),
        other => bail!("unknown WebSocket opcode {other:#x}"),
    };
    on_frame(frame);
    Ok(1)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    /// Bytes of the header itself.
    length: usize,
    payload_len: usize,
}

/// Parses a server frame header; `None` until enough bytes are buffered.
fn parse_header(buf: &[u8]) -> Result<Option<Header>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (fin, opcode) = (buf[0] & 0x80 != 0, buf[0] & 0x0F);
    if buf[1] & 0x80 != 0 {
        bail!("server frames must not be masked");
    }
    let (length, payload_len) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (4, usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
        127 if buf.len() >= 10 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&buf[2..10]);
            (10, usize::try_from(u64::from_be_bytes(bytes)).context("frame too large")?)
        }
        126 | 127 => return Ok(None),
        short => (2, usize::from(short)),
    };
    if payload_len > MAX_MESSAGE {
        bail!("server frame over {MAX_MESSAGE} bytes");
    }
    Ok(Some(Header { fin, opcode, length, payload_len }))
}

/// Appends a masked client frame (FIN set) with `opcode` and `payload` to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        len if len < 126 => out.push(0x80 | len as u8),
        len if len <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let mask = random_bytes4();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// Appends a masked text frame.
pub fn encode_text(out: &mut Vec<u8>, text: &str) {
    encode(out, OP_TEXT, text.as_bytes());
}

/// Writes a pong answering a ping with `payload`.
pub async fn write_pong(half: &mut OwnedWriteHalf, payload: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    encode(&mut out, OP_PONG, payload);
    half.write_all(&out).await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(1);
    (nanos as u64) ^ (u64::from(std::process::id()) << 32) | 1
}

/// xorshift64*: masking keys and handshake nonces need to vary, not to be secret.
fn next_random() -> u64 {
    RNG.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

fn random_bytes4() -> [u8; 4] {
    (next_random() as u32).to_ne_bytes()
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&next_random().to_ne_bytes());
    bytes[8..].copy_from_slice(&next_random().to_ne_bytes());
    bytes
}

/// Standard base64 of 16 bytes (the `Sec-WebSocket-Key`).
fn base64_16(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(24);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            len if len < 126 => out.push(len as u8),
            len if len <= 0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Frames parsed from `bytes` fed in pieces of `step` bytes.
    fn parse_all(bytes: &[u8], step: usize) -> Vec<String> {
        let (mut buf, mut start, mut fragments, mut opcode) = (Vec::new(), 0usize, Vec::new(), 0u8);
        let mut seen = Vec::new();
        for piece in bytes.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(header) = parse_header(&buf[start..]).unwrap() {
                if buf.len() - start < header.length + header.payload_len {
                    break;
                }
                let payload = buf[start + header.length..start + header.length + header.payload_len].to_vec();
                start += header.length + header.payload_len;
                deliver(header, &payload, &mut fragments, &mut opcode, &mut |f: Frame<'_>| {
                    seen.push(match f {
                        Frame::Text(t) => format!("text:{}", String::from_utf8_lossy(t)),
                        other => format!("{other:?}"),
                    })
                })
                .unwrap();
            }
        }
        seen
    }

    #[test]
    fn parses_frames_split_anywhere() {
        let long = "x".repeat(70_000);
        let mut bytes = server_frame(OP_TEXT, true, b"hello");
        bytes.extend(server_frame(OP_PING, true, b"p"));
        bytes.extend(server_frame(OP_TEXT, false, b"frag"));
        bytes.extend(server_frame(OP_CONTINUATION, true, b"ment"));
        bytes.extend(server_frame(OP_TEXT, true, "y".repeat(300).as_bytes()));
        bytes.extend(server_frame(OP_TEXT, true, long.as_bytes()));
        bytes.extend(server_frame(OP_CLOSE, true, &1013u16.to_be_bytes()));
        for step in [1, 3, 7, 1000, bytes.len()] {
            let seen = parse_all(&bytes, step);
            assert_eq!(seen.len(), 6, "step {step}");
            assert_eq!(seen[0], "text:hello");
            assert_eq!(seen[1], "Ping([112])");
            assert_eq!(seen[2], "text:fragment");
            assert_eq!(seen[3].len(), 305);
            assert_eq!(seen[4].len(), 70_005);
            assert_eq!(seen[5], "Close(Some(1013))");
        }
    }

    #[test]
    fn masked_client_frames_unmask() {
        for len in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload = vec![b'a'; len];
            let mut out = Vec::new();
            encode(&mut out, OP_TEXT, &payload);
            assert_eq!(out[0], 0x81);
            let (header_len, mask_at) = match len {
                l if l < 126 => (6, 2),
                l if l <= 0xFFFF => (8, 4),
                _ => (14, 10),
            };
            assert_eq!(out.len(), header_len + len);
            let mask = &out[mask_at..mask_at + 4];
            let unmasked: Vec<u8> = out[header_len..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn base64_of_the_rfc_nonce() {
        assert_eq!(base64_16(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn refuses_masked_server_frames() {
        assert!(parse_header(&[0x81, 0x85, 0, 0, 0, 0]).is_err());
    }
}
