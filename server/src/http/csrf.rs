//! Cross-site request refusal. A state-changing request (any method but GET, HEAD and OPTIONS)
//! that is not authenticated by `Authorization: Bearer` must come from this site, so no other
//! site can make a signed-in browser post (or sign it into the attacker's account: login CSRF):
//!
//! - if `Sec-Fetch-Site` is present it must be `same-origin` (or `none`: typed by the user);
//! - else if `Origin` is present, its host (and port) must be the request's `Host`, with scheme
//!   http or https (`Origin: null` is cross-site);
//! - a request with neither header passes: it does not come from a browser that would attach
//!   the victim's cookie on another site's behalf.
//!
//! Otherwise the answer is 403 `{"error": "cross-site request refused"}` and the handler never
//! runs. A browser cannot add `Authorization` to a cross-site request without a CORS preflight
//! (which this server never grants), so Bearer requests are left alone.

use app::error::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{HOST, ORIGIN};
use http::{HeaderMap, Method, Uri};

pub const REFUSAL: &str = "cross-site request refused";

pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if is_allowed(request.method(), request.uri(), request.headers()) {
        next.run(request).await
    } else {
        tracing::info!(method = %request.method(), path = %request.uri().path(), "cross-site request refused");
        ApiError::Forbidden { message: REFUSAL.into() }.into_response()
    }
}

/// Whether a request may proceed (see the module documentation).
pub fn is_allowed(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if app::session::bearer_token(headers).is_some() {
        return true;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("").trim();
        return site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none");
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(origin_authority) else {
        return false;
    };
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()));
    host.is_some_and(|host| same_authority(&origin, &host))
}

/// `scheme://host[:port]` of an `Origin` header as `host[:port]` (default port removed), for
/// http and https only; `None` for `null` and anything else.
fn origin_authority(origin: &str) -> Option<String> {
    let origin = origin.trim();
    let (scheme, rest) = origin.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let authority = rest.to_ascii_lowercase();
    Some(authority.strip_suffix(default_port).map(str::to_owned).unwrap_or(authority))
}

fn same_authority(origin: &str, host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    if origin == host {
        return true;
    }
    // `Host` names the port only when it is not the default one; accept either form.
    [":80", ":443"].iter().any(|port| host.strip_suffix(port) == Some(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(method: Method, headers: &[(&str, &str)]) -> bool {
        let mut map = HeaderMap::new();
        map.insert(HOST, "chat.example:3000".parse().unwrap());
        for (name, value) in headers {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        is_allowed(&method, &Uri::from_static("/api/auth/login"), &map)
    }

    #[test]
    fn safe_methods_always_pass() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(allowed(method, &[("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")]));
        }
    }

    #[test]
    fn sec_fetch_site_decides_when_present() {
        assert!(allowed(Method::POST, &[("sec-fetch-site", "same-origin")]));
        assert!(allowed(Method::POST, &[("sec-fetch-site", "none")]));
        assert!(!allowed(Method::POST, &[("sec-fetch-site", "cross-site")]));
        assert!(!allowed(Method::POST, &[("sec-fetch-site", "same-site")]));
        // Sec-Fetch-Site wins over a matching Origin.
        assert!(!allowed(Method::POST, &[("sec-fetch-site", "cross-site"), ("origin", "http://chat.example:3000")]));
    }

    #[test]
    fn origin_must_be_this_host() {
        assert!(allowed(Method::POST, &[("origin", "http://chat.example:3000")]));
        assert!(allowed(Method::POST, &[("origin", "https://CHAT.example:3000")]));
        assert!(!allowed(Method::POST, &[("origin", "http://evil.example")]));
        assert!(!allowed(Method::POST, &[("origin", "http://chat.example:3001")]));
        assert!(!allowed(Method::POST, &[("origin", "http://chat.example")]));
        assert!(!allowed(Method::POST, &[("origin", "null")]));
        assert!(!allowed(Method::POST, &[("origin", "ftp://chat.example:3000")]));
        assert!(!allowed(Method::POST, &[("origin", "http://chat.example:3000.evil.example")]));
        assert!(!allowed(Method::DELETE, &[("origin", "http://evil.example")]));
    }

    #[test]
    fn default_ports_match_either_way() {
        let mut map = HeaderMap::new();
        map.insert(HOST, "chat.example".parse().unwrap());
        map.insert(ORIGIN, "https://chat.example:443".parse().unwrap());
        assert!(is_allowed(&Method::POST, &Uri::from_static("/x"), &map));
        map.insert(HOST, "chat.example:443".parse().unwrap());
        map.insert(ORIGIN, "https://chat.example".parse().unwrap());
        assert!(is_allowed(&Method::POST, &Uri::from_static("/x"), &map));
    }

    #[test]
    fn no_browser_headers_or_bearer_pass() {
        assert!(allowed(Method::POST, &[]));
        assert!(allowed(Method::POST, &[("authorization", "Bearer abc"), ("origin", "http://evil.example")]));
        assert!(!allowed(Method::POST, &[("authorization", "Basic abc"), ("origin", "http://evil.example")]));
    }
}
