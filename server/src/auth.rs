//! Authentication primitives: password hashing off the async runtime with bounded concurrency,
//! and HS256 JWTs with a pinned algorithm and required `exp`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
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
        validation.validate_exp = true;
        validation.leeway = 5;
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

    pub fn issue(&self, user_id: i64, token_version: i64) -> String {
        let iat = unix_now();
        let claims = Claims { sub: user_id.to_string(), iat, exp: iat + self.ttl_secs, ver: token_version };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    /// Verifies signature, algorithm and expiry; returns the user id and token version.
    pub fn verify(&self, token: &str) -> Result<(i64, i64), TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let id = data.claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        Ok((id, data.claims.ver))
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// bcrypt on the blocking pool, at most `permits` at once.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the user does not exist, so an unknown
    /// user costs the same time as a wrong password.
    dummy_hash: Arc<str>,
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
        let random: [u8; 16] = rand::random();
        let secret = random.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let dummy_hash = tokio::task::spawn_blocking(move || bcrypt::hash(secret, cost)).await??;
        Ok(Self { cost, permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy_hash: dummy_hash.into() })
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Closed)?;
        let password = password.to_owned();
        let cost = self.cost;
        Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??)
    }

    /// Verifies `password` against `hash`, or against the dummy hash when `hash` is `None`
    /// (always false then, after the same work).
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Closed)?;
        let known = hash.is_some();
        let hash = hash.map(str::to_owned).unwrap_or_else(|| self.dummy_hash.to_string());
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash)).await??;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn encode_segment(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
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
        let token = format!(
            "{}.{}.",
            encode_segment(br#"{"alg":"none","typ":"JWT"}"#),
            encode_segment(payload.as_bytes())
        );
        assert_eq!(keys().verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn other_algorithm_is_refused() {
        let k = EncodingKey::from_secret(b"test-secret-test-secret-test-secret");
        let now = unix_now();
        let claims = Claims { sub: "1".into(), iat: now, exp: now + 60, ver: 0 };
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
