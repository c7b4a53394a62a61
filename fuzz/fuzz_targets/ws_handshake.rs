//! The WebSocket opening handshake (`server/src/ws/handshake.rs`, `websocket_accept`) must be
//! total: any header names and values give `Ok` or `Err`, never a panic; an `Ok` answers a
//! request that names `upgrade`/`websocket`, version 13 and a key of 16 bytes in base64, with the
//! RFC 6455 accept value of that key.
//!
//! Input: header lines (`name: value`, separated by `\n`), as in an HTTP request; lines that are
//! not a valid header name or value are skipped (hyper refuses them before the handler).
#![no_main]

#[allow(dead_code)]
#[path = "../../server/src/ws/handshake.rs"]
mod handshake;

use base64::Engine as _;
use http::header::{HeaderName, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) else { continue };
        headers.append(name, value);
    }
    let Ok(accept) = handshake::websocket_accept(&headers) else { return };
    let key = headers.get(SEC_WEBSOCKET_KEY).expect("an accepted handshake has a key");
    let decoded = base64::engine::general_purpose::STANDARD.decode(key.as_bytes()).expect("an accepted key is base64");
    assert_eq!(decoded.len(), 16, "an accepted key is 16 bytes");
    assert_eq!(headers.get(SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes), Some(&b"13"[..]));
    // The accept value: base64 of a SHA-1 digest (20 bytes), derived from the key.
    let digest = base64::engine::general_purpose::STANDARD.decode(accept.as_bytes()).expect("accept is base64");
    assert_eq!(digest.len(), 20);
    assert_eq!(accept.to_str().ok(), Some(tungstenite::handshake::derive_accept_key(key.as_bytes()).as_str()));
});
