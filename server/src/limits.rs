//! Token-bucket rate limiting, keyed by anything hashable: flood control per account on the
//! WebSocket, login attempts per client IP and per account, registrations per client IP.
//! Buckets refill continuously, so nobody is ever locked out for good.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter<K> {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Keys kept before full buckets are forgotten (bounds memory under a flood of new keys).
const MAX_KEYS: usize = 100_000;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `burst` actions at once, refilled at `per_second`.
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self { burst: f64::from(burst.max(1)), per_second: per_second.max(0.0), buckets: Mutex::default() }
    }

    /// `burst` actions at once, refilled at `per_minute`.
    pub fn per_minute(burst: u32, per_minute: f64) -> Self {
        Self::new(burst, per_minute / 60.0)
    }

    /// Takes one token; `Err(seconds until one is available)` when over the limit.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.with_bucket(key, Instant::now(), true)
    }

    /// Whether a token is available, without taking it.
    pub fn peek(&self, key: &K) -> Result<(), u64> {
        self.with_bucket(key, Instant::now(), false)
    }

    /// Takes one token if one is left (counts a failure after the fact; never goes below zero).
    pub fn take(&self, key: &K) {
        let _ = self.with_bucket(key, Instant::now(), true);
    }

    /// Shorthand for flood control: true when allowed.
    pub fn allow(&self, key: &K) -> bool {
        self.check(key).is_ok()
    }

    fn with_bucket(&self, key: &K, now: Instant, consume: bool) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { tokens: self.burst, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            if consume {
                bucket.tokens -= 1.0;
            }
            Ok(())
        } else if self.per_second > 0.0 {
            Err(((1.0 - bucket.tokens) / self.per_second).ceil().max(1.0) as u64)
        } else {
            Err(u64::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(3, 2.0);
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.with_bucket(&1, t0, true).is_ok()));
        assert_eq!(limiter.with_bucket(&1, t0, true), Err(1));
        // Another key is unaffected.
        assert!(limiter.with_bucket(&2, t0, true).is_ok());
        // Half a second refills one token at 2/s.
        assert!(limiter.with_bucket(&1, t0 + Duration::from_millis(500), true).is_ok());
        assert!(limiter.with_bucket(&1, t0 + Duration::from_millis(500), true).is_err());
    }

    #[test]
    fn retry_after_counts_the_refill_time() {
        let limiter = RateLimiter::per_minute(1, 1.0);
        let t0 = Instant::now();
        assert!(limiter.with_bucket(&"a", t0, true).is_ok());
        assert_eq!(limiter.with_bucket(&"a", t0, true), Err(60));
        assert_eq!(limiter.with_bucket(&"a", t0 + Duration::from_secs(30), false), Err(30));
        assert!(limiter.with_bucket(&"a", t0 + Duration::from_secs(60), true).is_ok());
    }

    #[test]
    fn peek_does_not_consume() {
        let limiter = RateLimiter::new(1, 0.0);
        assert!(limiter.peek(&"k").is_ok());
        assert!(limiter.peek(&"k").is_ok());
        limiter.take(&"k");
        assert!(limiter.peek(&"k").is_err());
    }
}
