//! Authentication primitives: password hashing off the async runtime with bounded concurrency,
//! and HS256 JWTs with a pinned algorithm and required `exp`, checked against the sub-second
//! clock (a token is refused from the instant its `exp` begins), each naming its session (`sid`,
//! kept across renewals, so that a logout can revoke the session).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The claims of a ChatterBox token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id, as a string (JWT `sub`).
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    /// The user's `token_version` when issued; a block bumps it, revoking the token.
    pub ver: i64,
    /// When the session began (the login; renewals keep it), for the absolute session age.
    /// Tokens issued before this claim existed count from their `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// The session's id (32 hex digits), the same for every renewal of one login. Tokens issued
    /// before this claim existed have none: they stay valid, but no logout can revoke them alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The id of a session: one login and its renewals. Random, so that nobody can name another's.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u128);

impl SessionId {
    /// A new random id.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// Parses the 32 lowercase hex digits of [`SessionId`]'s `Display`.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = |byte: &u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte);
        if text.len() != 32 || !text.as_bytes().iter().all(hex) {
            return None;
        }
        u128::from_str_radix(text, 16).ok().map(Self)
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Not the id itself: with it, a token's session could be named in logs.
impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// What a verified token grants: whose session it is, under which token version, until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSession {
    pub user_id: i64,
    pub token_version: i64,
    /// Unix seconds after which the token is refused (its `exp`).
    pub expires_at: u64,
    /// Unix seconds of the login that started the session.
    pub auth_time: u64,
    /// The session the token belongs to; `None` for a token from before session ids.
    pub session_id: Option<SessionId>,
}

impl TokenSession {
    /// How long the token has left, by the sub-second clock (zero once its `exp` has begun).
    pub fn remaining(&self) -> Duration {
        Duration::from_secs(self.expires_at).saturating_sub(since_epoch())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("invalid token")]
    Invalid,
}

/// Signs and verifies tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        // `exp` is required, but checked by `verify_session_at` against the sub-second clock:
        // jsonwebtoken compares whole seconds, and would take a token for up to a second past
        // its `exp`. No leeway: an open socket closes at `exp` exactly, and so does every door.
        validation.validate_exp = false;
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// A token for a new session (a login), with a new session id.
    pub fn issue(&self, user_id: i64, token_version: i64) -> String {
        let now = unix_now();
        let session = TokenSession {
            user_id,
            token_version,
            expires_at: now + self.ttl_secs,
            auth_time: now,
            session_id: Some(SessionId::random()),
        };
        self.sign(&session, now)
    }

    /// A fresh token for the same session (its id and login time kept), valid for another TTL
    /// but never past `max_age` seconds from the session's login; `None` once that age is
    /// reached. Returns the token and its lifetime in seconds.
    pub fn renew(&self, session: &TokenSession, max_age: u64) -> Option<(String, u64)> {
        let now = unix_now();
        let end_of_session = session.auth_time.saturating_add(max_age);
        if now >= end_of_session {
            return None;
        }
        let exp = (now + self.ttl_secs).min(end_of_session);
        let renewed = TokenSession { expires_at: exp, ..*session };
        Some((self.sign(&renewed, now), exp - now))
    }

    fn sign(&self, session: &TokenSession, iat: u64) -> String {
        let claims = Claims {
            sub: session.user_id.to_string(),
            iat,
            exp: session.expires_at,
            ver: session.token_version,
            auth_time: Some(session.auth_time),
            sid: session.session_id.map(|id| id.to_string()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    /// Verifies signature, algorithm and expiry (by the sub-second clock); returns what the
    /// token grants.
    pub fn verify_session(&self, token: &str) -> Result<TokenSession, TokenError> {
        self.verify_session_at(token, since_epoch())
    }

    /// [`TokenKeys::verify_session`] at the time `now` (since the Unix epoch): the token is
    /// refused from the instant its `exp` second begins.
    fn verify_session_at(&self, token: &str, now: Duration) -> Result<TokenSession, TokenError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if now >= Duration::from_secs(claims.exp) {
            return Err(TokenError::Invalid);
        }
        let user_id = claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        let session_id = match claims.sid {
            Some(sid) => Some(SessionId::parse(&sid).ok_or(TokenError::Invalid)?),
            None => None,
        };
        Ok(TokenSession {
            user_id,
            token_version: claims.ver,
            expires_at: claims.exp,
            auth_time: claims.auth_time.unwrap_or(claims.iat),
            session_id,
        })
    }
}

/// The time since the Unix epoch, to the nanosecond.
fn since_epoch() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

/// Whole seconds since the Unix epoch (rounded down).
pub fn unix_now() -> u64 {
    since_epoch().as_secs()
}

/// bcrypt on the blocking pool, at most `permits` at once. Each permit is owned by the blocking
/// job itself and released when the hash has finished, so a request that is cancelled (its client
/// gone) cannot free a permit while its hash still runs.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the user does not exist, so an unknown
    /// user costs the same time as a wrong password.
    dummy_hash: Arc<str>,
    gauge: Arc<HashGauge>,
}

/// Counts of bcrypt jobs, updated inside the blocking jobs themselves (so they see what really
/// runs, cancelled requests included).
#[derive(Default)]
struct HashGauge {
    started: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("hasher closed")]
    Closed,
}

impl PasswordHasher {
    pub async fn new(cost: u32, concurrency: usize) -> Result<Self, HashError> {
        let secret = random_hex(16);
        let dummy_hash = tokio::task::spawn_blocking(move || bcrypt::hash(secret, cost)).await??;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
            gauge: Arc::default(),
        })
    }

    /// bcrypt jobs (hashes and verifications) started so far.
    pub fn hashes_started(&self) -> u64 {
        self.gauge.started.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// bcrypt jobs running right now.
    pub fn running(&self) -> usize {
        self.gauge.running.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most bcrypt jobs that have ever run at once (never above the concurrency limit).
    pub fn peak_running(&self) -> usize {
        self.gauge.peak.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let (password, cost) = (password.to_owned(), self.cost);
        self.on_blocking_pool(move || bcrypt::hash(password, cost)).await
    }

    /// Verifies `password` against `hash`, or against the dummy hash when `hash` is `None`
    /// (always false then, after the same work).
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.map(str::to_owned).unwrap_or_else(|| self.dummy_hash.to_string());
        let password = password.to_owned();
        let matches = self.on_blocking_pool(move || bcrypt::verify(password, &hash)).await?;
        Ok(known && matches)
    }

    /// Runs bcrypt work on the blocking pool, at most `concurrency` at once.
    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> bcrypt::BcryptResult<T> + Send + 'static,
    ) -> Result<T, HashError> {
        use std::sync::atomic::Ordering::SeqCst;
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| HashError::Closed)?;
        let gauge = self.gauge.clone();
        let job = move || {
            // Moved in: released only when the hash is done, even if the caller is gone.
            let _permit = permit;
            gauge.started.fetch_add(1, SeqCst);
            let now = gauge.running.fetch_add(1, SeqCst) + 1;
            gauge.peak.fetch_max(now, SeqCst);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            gauge.running.fetch_sub(1, SeqCst);
            result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        Ok(tokio::task::spawn_blocking(job).await??)
    }
}

/// `bytes` random bytes as lowercase hex (secrets generated by the server).
pub fn random_hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn encode_segment(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    impl TokenKeys {
        /// The user id and token version a token grants (what the refusal tests compare).
        fn verify(&self, token: &str) -> Result<(i64, i64), TokenError> {
            self.verify_session(token).map(|session| (session.user_id, session.token_version))
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(b"test-secret-test-secret-test-secret", 3600)
    }

    /// A token with a hand-written payload, HS256-signed with the test secret.
    fn signed(payload: &str) -> String {
        let h = encode_segment(br#"{"alg":"HS256","typ":"JWT"}"#);
        let p = encode_segment(payload.as_bytes());
        let key = EncodingKey::from_secret(b"test-secret-test-secret-test-secret");
        let sig = jsonwebtoken::crypto::sign(format!("{h}.{p}").as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{h}.{p}.{sig}")
    }

    #[test]
    fn round_trip() {
        let k = keys();
        assert_eq!(k.verify(&k.issue(42, 3)), Ok((42, 3)));
    }

    #[test]
    fn a_renewal_keeps_the_session_and_stops_at_its_maximum_age() {
        let k = keys();
        let session = k.verify_session(&k.issue(9, 4)).unwrap();
        let (token, ttl) = k.renew(&session, 86_400).unwrap();
        let renewed = k.verify_session(&token).unwrap();
        assert_eq!((renewed.user_id, renewed.token_version, renewed.auth_time), (9, 4, session.auth_time));
        assert_eq!(ttl, 3600);
        // Near the maximum age, the renewal ends with the session; past it, there is none.
        let old = TokenSession { auth_time: unix_now() - 86_400 + 10, ..session };
        let (_, ttl) = k.renew(&old, 86_400).unwrap();
        assert!(ttl <= 10, "{ttl}");
        assert_eq!(k.renew(&TokenSession { auth_time: unix_now() - 86_400, ..session }, 86_400), None);
    }

    #[test]
    fn a_token_without_auth_time_or_session_counts_from_its_issue() {
        let now = unix_now();
        let payload = format!(r#"{{"sub":"7","iat":{now},"exp":{},"ver":2}}"#, now + 60);
        let session = keys().verify_session(&signed(&payload)).unwrap();
        assert_eq!((session.auth_time, session.expires_at), (now, now + 60));
        assert_eq!(session.session_id, None, "a token from before session ids names none, and stays valid");
    }

    #[test]
    fn expiry_is_checked_to_the_nanosecond() {
        let k = keys();
        let exp = unix_now() + 100;
        let token = signed(&format!(r#"{{"sub":"1","iat":{},"exp":{exp},"ver":0}}"#, exp - 200));
        let at = |offset_ms: i64| Duration::from_millis((exp * 1000).checked_add_signed(offset_ms).unwrap());
        assert!(k.verify_session_at(&token, at(-1)).is_ok(), "a millisecond before its exp");
        assert_eq!(k.verify_session_at(&token, at(0)), Err(TokenError::Invalid), "at its exp exactly");
        assert_eq!(k.verify_session_at(&token, at(999)), Err(TokenError::Invalid), "within the second of its exp");
    }

    #[test]
    fn a_login_starts_a_session_that_renewals_keep() {
        let k = keys();
        let first = k.verify_session(&k.issue(9, 4)).unwrap();
        let second = k.verify_session(&k.issue(9, 4)).unwrap();
        let id = first.session_id.expect("a new token names its session");
        assert_ne!(second.session_id, Some(id), "each login is a session of its own");
        let (renewed, _) = k.renew(&first, 86_400).unwrap();
        assert_eq!(k.verify_session(&renewed).unwrap().session_id, Some(id));
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert_eq!(format!("{id:?}"), "SessionId(..)", "never in a log");
    }

    #[test]
    fn a_malformed_session_id_is_refused() {
        let now = unix_now();
        for sid in ["", "abc", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "0123456789ABCDEF0123456789abcdef", "1"] {
            let payload = format!(r#"{{"sub":"1","iat":{now},"exp":{},"ver":0,"sid":"{sid}"}}"#, now + 60);
            assert_eq!(keys().verify(&signed(&payload)), Err(TokenError::Invalid), "{sid:?}");
        }
        let payload = format!(r#"{{"sub":"1","iat":{now},"exp":{},"ver":0,"sid":7}}"#, now + 60);
        assert_eq!(keys().verify(&signed(&payload)), Err(TokenError::Invalid), "a number");
    }

    #[test]
    fn a_token_is_refused_from_its_exp_on() {
        // `exp` is the current whole second: that second has begun, so the token has expired
        // (a check in whole seconds would take it for up to one more second).
        let now = unix_now();
        let payload = format!(r#"{{"sub":"1","iat":{},"exp":{now},"ver":0}}"#, now - 60);
        assert_eq!(keys().verify(&signed(&payload)), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_key_is_refused() {
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 3600);
        assert_eq!(keys().verify(&other.issue(1, 0)), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_is_refused() {
        let now = unix_now();
        let payload = format!(r#"{{"sub":"1","iat":{},"exp":{},"ver":0}}"#, now - 7200, now - 3600);
        assert_eq!(keys().verify(&signed(&payload)), Err(TokenError::Invalid));
    }

    #[test]
    fn a_correctly_signed_hand_made_token_is_accepted() {
        // Guards the helpers above: the refusals below are about the claims, not the signing.
        let now = unix_now();
        let payload = format!(r#"{{"sub":"7","iat":{now},"exp":{},"ver":2}}"#, now + 60);
        assert_eq!(keys().verify(&signed(&payload)), Ok((7, 2)));
    }

    #[test]
    fn missing_exp_is_refused() {
        let payload = format!(r#"{{"sub":"1","iat":{},"ver":0}}"#, unix_now());
        assert_eq!(keys().verify(&signed(&payload)), Err(TokenError::Invalid));
    }

    #[test]
    fn exp_as_string_is_refused() {
        let now = unix_now();
        let payload = format!(r#"{{"sub":"1","iat":{now},"exp":"{}","ver":0}}"#, now + 3600);
        assert_eq!(keys().verify(&signed(&payload)), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_is_refused() {
        let now = unix_now();
        let payload = format!(r#"{{"sub":"1","iat":{now},"exp":{},"ver":0}}"#, now + 3600);
        let token =
            format!("{}.{}.", encode_segment(br#"{"alg":"none","typ":"JWT"}"#), encode_segment(payload.as_bytes()));
        assert_eq!(keys().verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn other_algorithm_is_refused() {
        let k = EncodingKey::from_secret(b"test-secret-test-secret-test-secret");
        let now = unix_now();
        let claims = Claims { sub: "1".into(), iat: now, exp: now + 60, ver: 0, auth_time: None, sid: None };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &k).unwrap();
        assert_eq!(keys().verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn garbage_is_refused() {
        for t in ["", "a.b.c", "not a token", "...."] {
            assert_eq!(keys().verify(t), Err(TokenError::Invalid));
        }
    }

    #[tokio::test]
    async fn hasher_verifies_and_the_dummy_never_matches() {
        let hasher = PasswordHasher::new(4, 1).await.unwrap();
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse", None).await.unwrap());
    }
}
