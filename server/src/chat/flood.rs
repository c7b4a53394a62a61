//! Flood control per user account (not per IP): a token bucket shared by all of a user's
//! connections. `burst` messages at once, refilled at `per_second`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct FloodControl {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl FloodControl {
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self { burst: f64::from(burst.max(1)), per_second: per_second.max(0.0), buckets: Mutex::default() }
    }

    /// Takes one token for `user_id`; false when the user is over the limit.
    pub fn allow(&self, user_id: i64) -> bool {
        self.allow_at(user_id, Instant::now())
    }

    fn allow_at(&self, user_id: i64, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            // Forget full buckets so the map cannot grow without bound.
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(user_id).or_insert(Bucket { tokens: self.burst, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let flood = FloodControl::new(3, 2.0);
        let t0 = Instant::now();
        assert!((0..3).all(|_| flood.allow_at(1, t0)));
        assert!(!flood.allow_at(1, t0));
        // Another user is unaffected.
        assert!(flood.allow_at(2, t0));
        // Half a second refills one token at 2/s.
        assert!(flood.allow_at(1, t0 + Duration::from_millis(500)));
        assert!(!flood.allow_at(1, t0 + Duration::from_millis(500)));
    }
}
