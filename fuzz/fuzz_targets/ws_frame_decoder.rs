//! The hand-written RFC 6455 decoder of client frames (`server/src/fanout/wire.rs`) must be total:
//! any bytes, fed in any split, give `Ok` or `Err`, never a panic; it never loops without taking
//! bytes, never buffers more than one frame within the limit, and where the input is cut does not
//! change what it decodes.
//!
//! Input: one byte choosing the message limit (below 128: that many bytes, so that small limits
//! meet small frames; else a multiple of 512 bytes up to 64 KiB), one byte seeding the split
//! points, then the bytes a client sends.
#![no_main]

#[allow(dead_code)]
#[path = "../../server/src/fanout/wire.rs"]
mod wire;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wire::{Decoder, Incoming, Violation};

/// The largest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;

/// Every message `bytes` decodes to, fed `chunks` at a time, and the violation that ended it.
fn decode(max: usize, bytes: &[u8], mut chunk_len: impl FnMut() -> usize) -> (Vec<Incoming>, Option<Violation>) {
    let mut decoder = Decoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    loop {
        let take = chunk_len().clamp(1, rest.len().max(1)).min(rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        loop {
            let before = buf.len();
            match decoder.next(&mut buf) {
                Ok(Some(message)) => {
                    assert!(buf.len() < before, "a message was decoded without taking any bytes");
                    match &message {
                        Incoming::Text(text) => {
                            assert!(text.len() <= max, "{} bytes over the limit of {max}", text.len())
                        }
                        Incoming::Ping(payload) => {
                            assert!(payload.len() <= 125, "control frame of {} bytes", payload.len())
                        }
                        Incoming::Pong | Incoming::Close(_) => {}
                    }
                    out.push(message);
                }
                Ok(None) => {
                    // What waits is at most one incomplete frame, and that frame is within the limit.
                    assert!(buf.len() < MAX_HEADER + max, "{} bytes buffered with a limit of {max}", buf.len());
                    break;
                }
                Err(violation) => {
                    assert!(
                        matches!(violation.code, 1002 | 1003 | 1007 | 1009),
                        "unexpected close code {}",
                        violation.code
                    );
                    return (out, Some(violation));
                }
            }
        }
        if rest.is_empty() {
            return (out, None);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let max = match usize::from(data[0]) {
        small @ 0..128 => small,
        large => (large - 127) * 512,
    };
    let mut seed = u32::from(data[1]) | 0x100;
    let stream = &data[2..];
    // All at once, then in pieces of 1..=64 bytes from a small generator.
    let whole = decode(max, stream, || usize::MAX);
    let split = decode(max, stream, || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 64) as usize + 1
    });
    assert_eq!(whole, split, "the result depends on how the input was cut");
    let bytewise = decode(max, stream, || 1);
    assert_eq!(whole, bytewise, "the result depends on how the input was cut");
});
