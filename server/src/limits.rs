//! Token-bucket rate limiting, keyed by anything hashable: flood control per account on the
//! WebSocket, login attempts per client IP and per account, registrations per client IP.
//! Buckets refill continuously, so nobody is ever locked out for good.
//!
//! Memory is bounded, with O(1) amortised expiry: buckets live in two generations of maps
//! (`current`, `previous`) rotated every full-refill period (`burst / rate`). A look-up checks
//! `current`, then moves the bucket over from `previous`. At a rotation `previous` is dropped
//! whole: every bucket still in it has been untouched for at least one full-refill period, so it
//! is full, and forgetting it is the same as starting a fresh (full) bucket. No bucket that
//! still holds back an attacker is ever forgotten.
//!
//! New keys are admitted while `current` holds fewer than `max_keys` and both generations
//! together fewer than `2 × max_keys`; beyond that, new keys draw on shared overflow buckets (with
//! the same burst and rate), one of [`OVERFLOW_BUCKETS`] chosen by a keyed hash of the key, so a
//! flood of fresh keys can neither grow memory without bound nor buy fresh budgets (the limiter
//! never fails open), and it shares one bucket with a real client's key only by chance, not all
//! of them with every newcomer (it cannot choose which: the hash is seeded per process).

use crate::cluster::shared_bucket::SharedBucket;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The key of a client address in per-IP budgets: an IPv4 address as is (an IPv4-mapped IPv6
/// address as its IPv4 address), an IPv6 address by its /64, the smallest block one subscriber
/// is usually given (keying by full address would hand out 2^64 fresh budgets).
pub fn ip_bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// A key's name in a bucket shared through Redis.
pub trait BucketKey {
    fn bucket_key(&self) -> String;
}

impl BucketKey for i64 {
    fn bucket_key(&self) -> String {
        self.to_string()
    }
}

impl BucketKey for IpAddr {
    fn bucket_key(&self) -> String {
        self.to_string()
    }
}

/// A budget that holds across the nodes of a cluster: a bucket in Redis when there is one, this
/// node's own [`RateLimiter`] without Redis, or while Redis cannot answer (degraded to a budget
/// per node, never to none). A refund goes back to the bucket the token came from.
pub struct SharedLimiter<K> {
    /// Its name: in Redis, and in the metrics of its refusals.
    name: &'static str,
    local: RateLimiter<K>,
    shared: Option<SharedBucket>,
}

impl<K: Hash + Eq + Clone + BucketKey> SharedLimiter<K> {
    /// `burst` actions at once, refilled at `per_second`; shared through `redis` (named `name`)
    /// when given.
    pub fn new(
        name: &'static str,
        burst: u32,
        per_second: f64,
        redis: Option<&crate::cluster::link::RedisLink>,
    ) -> Self {
        let local = RateLimiter::new(burst, per_second);
        let shared = redis.map(|link| SharedBucket::new(link.clone(), name, local.burst, local.per_second));
        Self { name, local, shared }
    }

    /// Like `new`, refilled at `per_minute`.
    pub fn per_minute(
        name: &'static str,
        burst: u32,
        per_minute: f64,
        redis: Option<&crate::cluster::link::RedisLink>,
    ) -> Self {
        Self::new(name, burst, per_minute / 60.0, redis)
    }

    /// Reserves one token: where it was taken from, or `Err(seconds until one is available)`
    /// when over the limit.
    pub async fn check(&self, key: &K) -> Result<Taken, u64> {
        let answer = match &self.shared {
            Some(shared) => match shared.take(&key.bucket_key()).await {
                Some(answer) => answer.map(|()| Taken::Shared),
                None => self.local.check(key).map(|()| Taken::Local),
            },
            None => self.local.check(key).map(|()| Taken::Local),
        };
        if answer.is_err() {
            crate::metrics::throttled(self.name);
        }
        answer
    }

    /// Gives back a token reserved by `check`, to the bucket it came from: one taken here while
    /// Redis was down goes back here (not to Redis, which never lent it), one taken from Redis
    /// goes back to Redis (lost if Redis is down by then: a refund never adds budget).
    pub async fn refund(&self, key: &K, taken: Taken) {
        match (taken, &self.shared) {
            (Taken::Shared, Some(shared)) => shared.give_back(&key.bucket_key()).await,
            (Taken::Local, _) | (Taken::Shared, None) => self.local.refund(key),
        }
    }

    /// Shorthand for flood control: true when allowed (a token is taken).
    pub async fn allow(&self, key: &K) -> bool {
        self.check(key).await.is_ok()
    }
}

/// Which bucket a [`SharedLimiter`] took a token from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The bucket in Redis, shared by every node.
    Shared,
    /// This node's own bucket (no Redis, or Redis did not answer).
    Local,
}

/// Keys admitted per generation before new keys share the overflow buckets.
pub const MAX_KEYS: usize = 100_000;
/// Overflow buckets shared by the keys that found no room.
pub const OVERFLOW_BUCKETS: usize = 1024;

pub struct RateLimiter<K> {
    burst: f64,
    per_second: f64,
    /// Time for an empty bucket to refill completely; `None` when the rate is zero.
    full_refill: Option<Duration>,
    max_keys: usize,
    /// Seeds the choice of overflow bucket.
    hasher: std::collections::hash_map::RandomState,
    state: Mutex<State<K>>,
}

struct State<K> {
    current: HashMap<K, Bucket>,
    previous: HashMap<K, Bucket>,
    /// When `current` was started.
    rotated: Instant,
    /// Shared by the keys that found no room (one chosen per key by hash).
    overflow: Vec<Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, burst: f64, per_second: f64) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(burst);
        self.updated = self.updated.max(now);
    }
}

/// Where a key's bucket lives.
enum Slot {
    Current,
    Overflow,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `burst` actions at once, refilled at `per_second`.
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self::with_max_keys(burst, per_second, MAX_KEYS)
    }

    /// `burst` actions at once, refilled at `per_minute`.
    pub fn per_minute(burst: u32, per_minute: f64) -> Self {
        Self::new(burst, per_minute / 60.0)
    }

    /// Like `new`, with another cap on keys per generation.
    pub fn with_max_keys(burst: u32, per_second: f64, max_keys: usize) -> Self {
        Self::with_caps(burst, per_second, max_keys, OVERFLOW_BUCKETS)
    }

    /// Like `new`, with other caps on keys per generation and on overflow buckets.
    fn with_caps(burst: u32, per_second: f64, max_keys: usize, overflow_buckets: usize) -> Self {
        let burst = f64::from(burst.max(1));
        let per_second = if per_second.is_finite() { per_second.max(0.0) } else { 0.0 };
        let full_refill = (per_second > 0.0).then(|| Duration::try_from_secs_f64(burst / per_second).ok()).flatten();
        let now = Instant::now();
        Self {
            burst,
            per_second,
            full_refill,
            max_keys: max_keys.max(1),
            hasher: std::collections::hash_map::RandomState::new(),
            state: Mutex::new(State {
                current: HashMap::new(),
                previous: HashMap::new(),
                rotated: now,
                overflow: vec![Bucket { tokens: burst, updated: now }; overflow_buckets.max(1)],
            }),
        }
    }

    /// Reserves one token; `Err(seconds until one is available)` when over the limit.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    /// Gives back a token reserved by `check` (the attempt turned out not to count); never
    /// above the burst.
    pub fn refund(&self, key: &K) {
        self.refund_at(key, Instant::now())
    }

    /// Shorthand for flood control: true when allowed (a token is taken).
    pub fn allow(&self, key: &K) -> bool {
        self.check(key).is_ok()
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        let (result, _forgotten) = self.with_bucket(key, now, true, |bucket, limiter| {
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                Ok(())
            } else if limiter.per_second > 0.0 {
                Err(((1.0 - bucket.tokens) / limiter.per_second).ceil().max(1.0) as u64)
            } else {
                Err(u64::MAX)
            }
        });
        result
    }

    fn refund_at(&self, key: &K, now: Instant) {
        // A key with no bucket drew on the overflow bucket (or was idle long enough to be full).
        let (_, _forgotten) = self.with_bucket(key, now, false, |bucket, limiter| {
            bucket.tokens = (bucket.tokens + 1.0).min(limiter.burst);
        });
    }

    /// Runs `f` on the key's bucket (refilled up to `now`). `admit`: a key with no bucket gets
    /// one if there is room (else it uses the overflow bucket). Returns what the rotation let go,
    /// to be dropped after the lock is released.
    fn with_bucket<T>(
        &self,
        key: &K,
        now: Instant,
        admit: bool,
        f: impl FnOnce(&mut Bucket, &Self) -> T,
    ) -> (T, Option<HashMap<K, Bucket>>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let forgotten = self.rotate(&mut state, now);
        let state = &mut *state;
        let slot = if state.current.contains_key(key) {
            Slot::Current
        } else if let Some(bucket) = state.previous.remove(key) {
            // Moving keeps the total unchanged, so it needs no room.
            state.current.insert(key.clone(), bucket);
            Slot::Current
        } else if admit
            && state.current.len() < self.max_keys
            && state.current.len() + state.previous.len() < 2 * self.max_keys
        {
            state.current.insert(key.clone(), Bucket { tokens: self.burst, updated: now });
            Slot::Current
        } else {
            Slot::Overflow
        };
        let bucket = match slot {
            Slot::Current => state.current.get_mut(key).expect("just ensured"),
            Slot::Overflow => {
                use std::hash::BuildHasher;
                let at = (self.hasher.hash_one(key) % state.overflow.len() as u64) as usize;
                &mut state.overflow[at]
            }
        };
        bucket.refill(now, self.burst, self.per_second);
        (f(bucket, self), forgotten)
    }

    /// Starts a new generation once a full-refill period has passed since the last one.
    fn rotate(&self, state: &mut State<K>, now: Instant) -> Option<HashMap<K, Bucket>> {
        let period = self.full_refill?;
        let since = now.saturating_duration_since(state.rotated);
        if since < period {
            return None;
        }
        state.rotated = now;
        if since >= period * 2 {
            // Everything, `current` included, has been untouched for a full period.
            let mut gone = std::mem::take(&mut state.previous);
            gone.extend(state.current.drain());
            return Some(gone);
        }
        let current = std::mem::take(&mut state.current);
        Some(std::mem::replace(&mut state.previous, current))
    }

    #[cfg(test)]
    fn generation_sizes(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (state.current.len(), state.previous.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(3, 2.0);
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.check_at(&1, t0).is_ok()));
        assert_eq!(limiter.check_at(&1, t0), Err(1));
        // Another key is unaffected.
        assert!(limiter.check_at(&2, t0).is_ok());
        // Half a second refills one token at 2/s.
        assert!(limiter.check_at(&1, t0 + ms(500)).is_ok());
        assert!(limiter.check_at(&1, t0 + ms(500)).is_err());
    }

    #[test]
    fn retry_after_counts_the_refill_time() {
        let limiter = RateLimiter::per_minute(1, 1.0);
        let t0 = Instant::now();
        assert!(limiter.check_at(&"a", t0).is_ok());
        assert_eq!(limiter.check_at(&"a", t0), Err(60));
        assert_eq!(limiter.check_at(&"a", t0 + Duration::from_secs(30)), Err(30));
        assert!(limiter.check_at(&"a", t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn refund_gives_a_token_back_but_never_above_the_burst() {
        let limiter = RateLimiter::new(2, 0.0);
        let t0 = Instant::now();
        assert!(limiter.check_at(&"k", t0).is_ok());
        assert!(limiter.check_at(&"k", t0).is_ok());
        assert_eq!(limiter.check_at(&"k", t0), Err(u64::MAX));
        limiter.refund_at(&"k", t0);
        assert!(limiter.check_at(&"k", t0).is_ok());
        assert!(limiter.check_at(&"k", t0).is_err());
        // Refunds on a full bucket are lost: still only two at once.
        let fresh = RateLimiter::new(2, 0.0);
        for _ in 0..5 {
            fresh.refund_at(&"k", t0);
        }
        assert!(fresh.check_at(&"k", t0).is_ok());
        assert!(fresh.check_at(&"k", t0).is_ok());
        assert!(fresh.check_at(&"k", t0).is_err());
    }

    #[test]
    fn rotation_forgets_only_full_buckets() {
        // burst 4 at 2/s: a full refill takes 2 s.
        let limiter = RateLimiter::new(4, 2.0);
        let t0 = limiter.state.lock().unwrap().rotated;
        let drain = |key: &'static str, t: Instant| (0..).take_while(|_| limiter.check_at(&key, t).is_ok()).count();
        assert_eq!(drain("idle", t0), 4);
        assert!(limiter.check_at(&"busy", t0).is_ok());
        assert_eq!(limiter.generation_sizes(), (2, 0));
        // One period later both move to `previous`; "busy" is touched, so it moves back.
        assert_eq!(drain("busy", t0 + ms(2000)), 4);
        assert_eq!(limiter.generation_sizes(), (1, 1));
        assert_eq!(drain("busy", t0 + ms(3500)), 3, "1.5 s at 2/s");
        // A second period: "idle" (untouched for 4 s, so full) is forgotten; "busy" (emptied
        // 0.5 s ago) is kept and has refilled one token, not a fresh burst.
        assert!(limiter.check_at(&"other", t0 + ms(4000)).is_ok());
        assert_eq!(limiter.generation_sizes(), (1, 1));
        assert_eq!(drain("busy", t0 + ms(4000)), 1);
        assert_eq!(limiter.generation_sizes(), (2, 0));
        // "idle" comes back with a full bucket: exactly what it would have had.
        assert_eq!(drain("idle", t0 + ms(4000)), 4);
    }

    #[test]
    fn a_long_silence_forgets_both_generations() {
        let limiter = RateLimiter::new(1, 1.0);
        let t0 = limiter.state.lock().unwrap().rotated;
        assert!(limiter.check_at(&1, t0).is_ok());
        assert!(limiter.check_at(&2, t0 + ms(500)).is_ok());
        assert!(limiter.check_at(&3, t0 + ms(5000)).is_ok());
        assert_eq!(limiter.generation_sizes(), (1, 0));
    }

    #[test]
    fn past_the_cap_new_keys_share_one_overflow_bucket() {
        let limiter = RateLimiter::with_caps(2, 0.0, 3, 1);
        let t0 = Instant::now();
        for key in 0..3 {
            assert!(limiter.check_at(&key, t0).is_ok());
        }
        assert_eq!(limiter.generation_sizes(), (3, 0));
        // Keys 3, 4, 5... have no room: together they get one burst, not one each.
        assert!(limiter.check_at(&3, t0).is_ok());
        assert!(limiter.check_at(&4, t0).is_ok());
        assert!(limiter.check_at(&5, t0).is_err());
        assert!(limiter.check_at(&3, t0).is_err());
        assert_eq!(limiter.generation_sizes(), (3, 0), "memory stays bounded");
        // Admitted keys keep their own budgets.
        assert!(limiter.check_at(&0, t0).is_ok());
        assert!(limiter.check_at(&0, t0).is_err());
        // A refund for an overflowing key goes back to the overflow bucket.
        limiter.refund_at(&4, t0);
        assert!(limiter.check_at(&9, t0).is_ok());
        assert!(limiter.check_at(&9, t0).is_err());
    }

    #[test]
    fn overflowing_keys_are_spread_over_many_buckets() {
        let limiter = RateLimiter::with_max_keys(1, 0.0, 1);
        let t0 = Instant::now();
        assert!(limiter.check_at(&0u64, t0).is_ok());
        // 100 fresh keys past the cap: most find a bucket of their own among 1024.
        let served = (1..=100u64).filter(|key| limiter.check_at(key, t0).is_ok()).count();
        assert!(served >= 90, "{served} of 100");
        assert_eq!(limiter.generation_sizes(), (1, 0), "memory stays bounded");
        // And a key that overflowed keeps drawing on the same one.
        let spent = (1..=100u64).filter(|key| limiter.check_at(key, t0).is_ok()).count();
        assert!(spent <= 10, "{spent}");
    }

    #[test]
    fn both_generations_together_stay_under_twice_the_cap() {
        let limiter = RateLimiter::with_max_keys(1, 1.0, 10);
        let t0 = limiter.state.lock().unwrap().rotated;
        for round in 0..10u64 {
            let t = t0 + ms(round * 1000);
            for key in 0..50u64 {
                let _ = limiter.check_at(&(round * 1000 + key), t);
            }
            let (current, previous) = limiter.generation_sizes();
            assert!(current <= 10 && current + previous <= 20, "{current} + {previous}");
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(ip_bucket(ip("2001:db8:1:2::1")), ip("2001:db8:1:2::"));
        assert_eq!(ip_bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), ip("2001:db8:1:2::"));
        assert_ne!(ip_bucket(ip("2001:db8:1:3::1")), ip_bucket(ip("2001:db8:1:2::1")));
        assert_eq!(ip_bucket(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(ip_bucket(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }

    #[tokio::test]
    async fn a_refund_goes_back_where_the_token_came_from() {
        let redis = tokio::task::spawn_blocking(testkit::RedisServer::start).await.unwrap();
        let link = crate::cluster::link::RedisLink::new(redis::Client::open(redis.url()).unwrap(), "test");
        // A burst of 1, refilled once a minute: no refill during the test.
        let limiter = SharedLimiter::<i64>::per_minute("refund", 1, 1.0, Some(&link));
        let redis = tokio::task::spawn_blocking(move || {
            let mut redis = redis;
            redis.kill();
            redis
        })
        .await
        .unwrap();
        // Redis is down: the token comes from this node's own bucket, and so goes back there.
        assert!(limiter.allow(&7).await);
        assert!(!limiter.allow(&7).await, "the node's own budget holds");
        let taken = limiter.check(&8).await;
        assert_eq!(taken, Ok(Taken::Local));
        limiter.refund(&8, Taken::Local).await;
        assert_eq!(limiter.check(&8).await, Ok(Taken::Local), "the refund went back to the node's own bucket");
        // A token taken from Redis is never refunded to this node's bucket, Redis down or not.
        limiter.refund(&8, Taken::Shared).await;
        assert!(!limiter.allow(&8).await, "a refund never adds budget where none was taken");
        drop(redis);
    }

    #[test]
    fn allow_is_check() {
        let limiter = RateLimiter::new(1, 0.0);
        assert!(limiter.allow(&7i64));
        assert!(!limiter.allow(&7i64));
    }
}
