//! WebSocket framing (RFC 6455), the server's side of it: encoding the frames the server sends
//! (unmasked, never fragmented) and decoding what clients send (masked, possibly fragmented).
//!
//! The server writes to its sockets directly (see `outbox`), so it encodes frames itself: a
//! stored message is encoded once, header included, and the same bytes go to every socket.
//! No extension (compression) is negotiated, so any RSV bit set is a protocol error.

use bytes::{Buf, BufMut, Bytes, BytesMut};

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Close codes used by the server.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const INVALID: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const SIZE: u16 = 1009;
    pub const ERROR: u16 = 1011;
    pub const AGAIN: u16 = 1013;
    pub const SESSION_ENDED: u16 = app::protocol::close_codes::SESSION_ENDED;
    pub const ROLE_CHANGED: u16 = app::protocol::close_codes::ROLE_CHANGED;
}

/// One unmasked, final frame with `opcode` and `payload`, header included.
fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    out.put_u8(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => out.put_u8(len as u8),
        len @ 126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        len => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
    out.put_slice(payload);
    out.freeze()
}

/// A text frame carrying `text`.
pub fn text(text: &str) -> Bytes {
    frame(OP_TEXT, text.as_bytes())
}

/// A close frame with `code` and `reason` (cut to fit a control frame's 125 bytes).
pub fn close(code: u16, reason: &str) -> Bytes {
    let cut = (0..=reason.len().min(123)).rev().find(|&i| reason.is_char_boundary(i)).unwrap_or(0);
    let payload = [&code.to_be_bytes()[..], &reason.as_bytes()[..cut]].concat();
    frame(OP_CLOSE, &payload)
}

pub fn ping() -> Bytes {
    frame(OP_PING, &[])
}

pub fn pong(payload: &[u8]) -> Bytes {
    frame(OP_PONG, payload)
}

/// A complete message from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Ping(Bytes),
    Pong,
    /// The client's close frame: the code it gave, if any.
    Close(Option<u16>),
}

/// Why a client's frames cannot be read any further: the close frame to answer with.
#[derive(Debug, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

impl Violation {
    const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

/// Reassembles client messages from the bytes read off a socket.
#[derive(Debug)]
pub struct Decoder {
    /// Largest message accepted (after reassembly).
    max_message: usize,
    /// The text message being reassembled from fragments, if any.
    fragments: Option<Vec<u8>>,
}

impl Decoder {
    pub fn new(max_message: usize) -> Self {
        Self { max_message, fragments: None }
    }

    /// Takes the next complete message out of `buf`, `Ok(None)` if more bytes are needed.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, Violation> {
        loop {
            let Some((header, payload)) = self.next_frame(buf)? else { return Ok(None) };
            if let Some(message) = self.on_frame(header, payload)? {
                return Ok(Some(message));
            }
        }
    }

    /// Takes one whole frame (header byte 0, unmasked payload) out of `buf`.
    fn next_frame(&self, buf: &mut BytesMut) -> Result<Option<(u8, Vec<u8>)>, Violation> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (first, second) = (buf[0], buf[1]);
        if first & 0x70 != 0 {
            return Err(Violation::new(close_code::PROTOCOL, "reserved bits set"));
        }
        if second & 0x80 == 0 {
            return Err(Violation::new(close_code::PROTOCOL, "client frames must be masked"));
        }
        let (len, len_bytes) = match second & 0x7F {
            126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 2),
            127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("eight bytes")), 8),
            126 | 127 => return Ok(None),
            len => (u64::from(len), 0),
        };
        let opcode = first & 0x0F;
        if !matches!(opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG) {
            return Err(Violation::new(close_code::PROTOCOL, "unknown opcode"));
        }
        if opcode >= 0x8 && (len > 125 || first & 0x80 == 0) {
            return Err(Violation::new(close_code::PROTOCOL, "invalid control frame"));
        }
        // Control frames may come between fragments; only data counts toward the message.
        let so_far = if opcode < 0x8 { self.fragments.as_ref().map_or(0, Vec::len) as u64 } else { 0 };
        if len.saturating_add(so_far) > self.max_message as u64 {
            return Err(Violation::new(close_code::SIZE, "frame too large"));
        }
        let header_len = 2 + len_bytes + 4;
        let total = header_len + len as usize;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let mask: [u8; 4] = buf[header_len - 4..header_len].try_into().expect("four bytes");
        buf.advance(header_len);
        let mut payload = buf.split_to(len as usize).to_vec();
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
        Ok(Some((first, payload)))
    }

    fn on_frame(&mut self, first: u8, payload: Vec<u8>) -> Result<Option<Incoming>, Violation> {
        let fin = first & 0x80 != 0;
        match first & 0x0F {
            OP_TEXT if self.fragments.is_some() => {
                Err(Violation::new(close_code::PROTOCOL, "expected a continuation frame"))
            }
            OP_TEXT if fin => text_message(payload).map(Some),
            OP_TEXT => {
                self.fragments = Some(payload);
                Ok(None)
            }
            OP_CONTINUATION => {
                let Some(fragments) = self.fragments.as_mut() else {
                    return Err(Violation::new(close_code::PROTOCOL, "unexpected continuation frame"));
                };
                fragments.extend_from_slice(&payload);
                if fin {
                    let whole = self.fragments.take().unwrap_or_default();
                    return text_message(whole).map(Some);
                }
                Ok(None)
            }
            OP_BINARY => Err(Violation::new(close_code::UNSUPPORTED, "binary frames are not supported")),
            OP_CLOSE => close_message(&payload).map(Some),
            OP_PING => Ok(Some(Incoming::Ping(Bytes::from(payload)))),
            OP_PONG => Ok(Some(Incoming::Pong)),
            _ => Err(Violation::new(close_code::PROTOCOL, "unknown opcode")),
        }
    }
}

fn text_message(payload: Vec<u8>) -> Result<Incoming, Violation> {
    String::from_utf8(payload)
        .map(Incoming::Text)
        .map_err(|_| Violation::new(close_code::INVALID, "text is not valid UTF-8"))
}

fn close_message(payload: &[u8]) -> Result<Incoming, Violation> {
    match payload {
        [] => Ok(Incoming::Close(None)),
        [_] => Err(Violation::new(close_code::PROTOCOL, "invalid close frame")),
        [high, low, reason @ ..] => {
            if std::str::from_utf8(reason).is_err() {
                return Err(Violation::new(close_code::INVALID, "close reason is not valid UTF-8"));
            }
            Ok(Incoming::Close(Some(u16::from_be_bytes([*high, *low]))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn decode_all(bytes: &[u8]) -> Vec<Result<Incoming, Violation>> {
        let mut decoder = Decoder::new(16 * 1024);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match decoder.next(&mut buf) {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => return out,
                Err(violation) => {
                    out.push(Err(violation));
                    return out;
                }
            }
        }
    }

    #[test]
    fn server_frames_have_the_right_headers() {
        assert_eq!(&text("hi")[..], b"\x81\x02hi");
        let long = "x".repeat(300);
        let frame = text(&long);
        assert_eq!(&frame[..4], &[0x81, 126, 0x01, 0x2C]);
        assert_eq!(frame.len(), 304);
        let huge = "y".repeat(70_000);
        let frame = text(&huge);
        assert_eq!(&frame[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(frame[2..10].try_into().unwrap()), 70_000);
        assert_eq!(&close(1008, "account blocked")[..4], &[0x88, 17, 0x03, 0xF0]);
        assert_eq!(&ping()[..], &[0x89, 0]);
        assert_eq!(&pong(b"ab")[..], b"\x8A\x02ab");
    }

    #[test]
    fn close_reasons_are_cut_to_fit_on_a_character_boundary() {
        let frame = close(1000, &"é".repeat(100));
        assert!(frame.len() <= 127);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }

    #[test]
    fn masked_text_frames_of_every_length_class_decode() {
        for len in [0, 5, 125, 126, 4000, 0xFFFF, 0x10000] {
            let content = "a".repeat(len);
            let mut decoder = Decoder::new(0x20000);
            let mut buf = BytesMut::from(&client_frame(0x81, content.as_bytes())[..]);
            assert_eq!(decoder.next(&mut buf), Ok(Some(Incoming::Text(content))), "length {len}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn partial_input_waits_for_more_and_keeps_its_place() {
        let frame = client_frame(0x81, b"hello there");
        let mut decoder = Decoder::new(1024);
        let mut buf = BytesMut::new();
        for (i, byte) in frame.iter().enumerate() {
            buf.put_u8(*byte);
            let result = decoder.next(&mut buf);
            if i + 1 < frame.len() {
                assert_eq!(result, Ok(None), "after {} bytes", i + 1);
            } else {
                assert_eq!(result, Ok(Some(Incoming::Text("hello there".into()))));
            }
        }
    }

    #[test]
    fn fragments_are_reassembled_with_control_frames_between_them() {
        let mut bytes = client_frame(0x01, b"hel");
        bytes.extend(client_frame(0x89, b"p"));
        bytes.extend(client_frame(0x80, b"lo"));
        let got = decode_all(&bytes);
        assert_eq!(got, vec![Ok(Incoming::Ping(Bytes::from_static(b"p"))), Ok(Incoming::Text("hello".into()))]);
    }

    #[test]
    fn protocol_violations_name_their_close_code() {
        let code = |bytes: Vec<u8>| match decode_all(&bytes).pop() {
            Some(Err(violation)) => violation.code,
            other => panic!("expected a violation, got {other:?}"),
        };
        assert_eq!(code(b"\x81\x02hi".to_vec()), 1002, "unmasked");
        assert_eq!(code(client_frame(0xC1, b"hi")), 1002, "RSV1 set");
        assert_eq!(code(client_frame(0x82, b"hi")), 1003, "binary");
        assert_eq!(code(client_frame(0x81, &[0xFF, 0xFE])), 1007, "not UTF-8");
        assert_eq!(code(client_frame(0x81, &vec![b'a'; 16 * 1024 + 1])), 1009, "too large");
        assert_eq!(code(client_frame(0x80, b"x")), 1002, "continuation without a start");
        assert_eq!(code(client_frame(0x83, b"x")), 1002, "unknown opcode");
        assert_eq!(code(client_frame(0x09, b"x")), 1002, "fragmented ping");
        assert_eq!(code(client_frame(0x88, b"x")), 1002, "one-byte close");
        let mut two_starts = client_frame(0x01, b"a");
        two_starts.extend(client_frame(0x01, b"b"));
        assert_eq!(code(two_starts), 1002, "text frame inside a fragmented message");
    }

    #[test]
    fn a_message_too_large_in_fragments_is_refused() {
        // A text frame, then continuations: 21,000 bytes against a 16 KiB limit.
        let mut decoder = Decoder::new(16 * 1024);
        let mut buf = BytesMut::from(&client_frame(0x01, &[b'a'; 1000])[..]);
        for _ in 0..20 {
            buf.extend_from_slice(&client_frame(0x00, &[b'a'; 1000]));
        }
        let mut result = Ok(None);
        for _ in 0..30 {
            result = decoder.next(&mut buf);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(Violation::new(close_code::SIZE, "frame too large")));
    }

    #[test]
    fn a_ping_between_fragments_near_the_limit_is_fine() {
        let mut bytes = client_frame(0x01, &[b'a'; 16 * 1024 - 10]);
        bytes.extend(client_frame(0x89, &[b'p'; 100]));
        bytes.extend(client_frame(0x80, b"b"));
        let got = decode_all(&bytes);
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[1], Ok(Incoming::Text(text)) if text.len() == 16 * 1024 - 9));
    }

    #[test]
    fn the_length_is_checked_before_the_payload_arrives() {
        // A header announcing 1 GiB is refused at once, without waiting for (or buffering) it.
        let mut header = vec![0x81, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 30).to_be_bytes());
        header.extend_from_slice(&[0, 0, 0, 0]);
        let mut buf = BytesMut::from(&header[..]);
        assert_eq!(Decoder::new(16 * 1024).next(&mut buf).unwrap_err().code, 1009);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder() {
        // A small xorshift generator: reproducible, no dependency.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5_000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Often a plausible header, so that decoding gets past the first checks.
            if next() % 2 == 0 && len >= 2 {
                bytes[0] = [0x81, 0x01, 0x80, 0x88, 0x89, 0x8A][(next() % 6) as usize];
                bytes[1] |= 0x80;
            }
            let mut decoder = Decoder::new(64);
            let mut buf = BytesMut::from(&bytes[..]);
            for _ in 0..70 {
                match decoder.next(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn close_frames_carry_their_code() {
        assert_eq!(decode_all(&client_frame(0x88, &[])), vec![Ok(Incoming::Close(None))]);
        assert_eq!(decode_all(&client_frame(0x88, b"\x03\xe8bye")), vec![Ok(Incoming::Close(Some(1000)))]);
        assert_eq!(decode_all(&client_frame(0x8A, b"")), vec![Ok(Incoming::Pong)]);
    }
}
