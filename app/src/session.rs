//! The browser session: a JWT in an HttpOnly, SameSite=Strict cookie (Secure over https), and how
//! any door (REST, server functions, WebSocket) finds the token of a request. Server-only. The
//! cookie is only where the browser keeps its token: a logout revokes the token's session on the
//! server (`Backend::logout`) before the cookie is cleared, so a copy of the token dies too.

use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;

pub const SESSION_COOKIE: &str = "chatterbox_session";

/// The token of a request: `Authorization: Bearer` first (API clients), then the session cookie.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    bearer_token(headers).or_else(|| cookie_token(headers))
}

pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_owned())
}

pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// Whether the request reached us over https (directly or via a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` value that stores `token` for `max_age` seconds.
pub fn session_cookie(token: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// `Set-Cookie` value that removes the session's cookie (the session itself is revoked by
/// `Backend::logout`).
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// The Content-Security-Policy of a page: only this origin's scripts, styles, images and
/// connections; inline scripts only with this response's nonce (the client's bootstrap module);
/// WebAssembly compilation allowed; no framing, no plugins, forms post only here.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the page's CSP header, with the nonce the server generated for this response.
pub fn set_content_security_policy() {
    use leptos::prelude::use_context;
    if let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) {
        if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(&nonce)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn bearer_wins_over_cookie() {
        let h = headers(&[("authorization", "Bearer abc"), ("cookie", "chatterbox_session=xyz")]);
        assert_eq!(token_from_headers(&h).as_deref(), Some("abc"));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; chatterbox_session=tok; b=2")]);
        assert_eq!(token_from_headers(&h).as_deref(), Some("tok"));
        assert_eq!(token_from_headers(&headers(&[("cookie", "chatterbox_session=")])), None);
        assert_eq!(token_from_headers(&headers(&[("authorization", "Basic abc")])), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = session_cookie("t", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!session_cookie("t", 60, false).contains("Secure"));
        assert!(clear_session_cookie(false).contains("Max-Age=0"));
    }
}
