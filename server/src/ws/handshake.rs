//! The WebSocket opening handshake (RFC 6455, 4.2): whether a request is a well-formed upgrade
//! request of version 13, and the `Sec-WebSocket-Accept` value that answers it. Pure (headers
//! in, a value or a reason out), so it is unit-tested and fuzzed on its own (`fuzz/`).

use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, HeaderValue};

/// Why a request to `/ws` cannot be upgraded.
#[derive(Debug, PartialEq, Eq)]
pub enum BadUpgrade {
    /// Not a well-formed WebSocket handshake (a missing `Sec-WebSocket-Version` included): 400.
    Malformed(&'static str),
    /// A WebSocket version other than 13: 426, naming the version spoken (RFC 6455, 4.4).
    Version,
}

/// The `Sec-WebSocket-Accept` answering a valid WebSocket upgrade request, or why it is not one.
pub fn websocket_accept(headers: &HeaderMap) -> Result<HeaderValue, BadUpgrade> {
    use base64::Engine as _;
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value: &HeaderValue| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(CONNECTION, "upgrade") {
        return Err(BadUpgrade::Malformed("not a WebSocket request: `Connection` must include `upgrade`"));
    }
    if !has_token(UPGRADE, "websocket") {
        return Err(BadUpgrade::Malformed("not a WebSocket request: `Upgrade` must be `websocket`"));
    }
    match headers.get(SEC_WEBSOCKET_VERSION) {
        None => return Err(BadUpgrade::Malformed("not a WebSocket request: `Sec-WebSocket-Version` missing")),
        Some(version) if version != "13" => return Err(BadUpgrade::Version),
        Some(_) => {}
    }
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .filter(|key| base64::engine::general_purpose::STANDARD.decode(key.as_bytes()).is_ok_and(|k| k.len() == 16))
        .ok_or(BadUpgrade::Malformed("`Sec-WebSocket-Key` must be 16 bytes in base64"))?;
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    Ok(HeaderValue::from_str(&accept).expect("base64 is a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(version: &str, key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_str(version).unwrap());
        headers.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_str(key).unwrap());
        headers
    }

    #[test]
    fn a_valid_handshake_gets_the_rfc_accept_value() {
        // The example of RFC 6455, section 1.3.
        let accept = websocket_accept(&handshake("13", "dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn another_version_is_told_which_one_is_spoken() {
        assert_eq!(websocket_accept(&handshake("8", "dGhlIHNhbXBsZSBub25jZQ==")), Err(BadUpgrade::Version));
        let mut headers = handshake("13", "dGhlIHNhbXBsZSBub25jZQ==");
        headers.remove(SEC_WEBSOCKET_VERSION);
        assert!(matches!(websocket_accept(&headers), Err(BadUpgrade::Malformed(_))), "a missing version is malformed");
    }

    #[test]
    fn a_key_that_is_not_16_bytes_of_base64_is_refused() {
        // Empty, not base64, 5 bytes, 17 bytes.
        for key in ["", "not base64!", "c2hvcnQ=", "c2V2ZW50ZWVuIGJ5dGVzISE="] {
            let refused = websocket_accept(&handshake("13", key));
            assert!(matches!(refused, Err(BadUpgrade::Malformed(_))), "{key:?}");
        }
        let mut headers = handshake("13", "x");
        headers.remove(SEC_WEBSOCKET_KEY);
        assert!(matches!(websocket_accept(&headers), Err(BadUpgrade::Malformed(_))));
        headers = handshake("13", "dGhlIHNhbXBsZSBub25jZQ==");
        headers.insert(UPGRADE, HeaderValue::from_static("h2c"));
        assert!(matches!(websocket_accept(&headers), Err(BadUpgrade::Malformed(_))));
    }
}
