//! A token bucket in Redis, shared by every node: the same refill model as `limits::RateLimiter`
//! (a burst, refilled continuously), run as one Lua script so that taking a token is atomic
//! whichever node takes it, on Redis's clock. Buckets expire once full again. Each cluster has
//! its own (`chatterbox:{cluster}:rl:...`): clusters sharing a Redis share no budget.

use super::link::RedisLink;
use std::sync::OnceLock;

/// KEYS[1] the bucket; ARGV: burst, tokens per millisecond, cost (1 takes a token, -1 gives one
/// back). Returns {1, 0} when taken, {0, seconds to wait} when not ({0, -1}: never).
const TAKE: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local burst, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local ok, wait = 1, 0
if cost < 0 then
  tokens = math.min(burst, tokens - cost)
elseif tokens >= cost then
  tokens = tokens - cost
elseif rate > 0 then
  ok = 0
  wait = math.max(1, math.ceil((cost - tokens) / rate / 1000))
else
  ok = 0
  wait = -1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
if rate > 0 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
else
  redis.call('PEXPIRE', KEYS[1], 86400000)
end
return {ok, wait}
";

fn script() -> &'static redis::Script {
    static SCRIPT: OnceLock<redis::Script> = OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(TAKE))
}

/// One kind of budget (flood, logins per IP, ...) in Redis.
#[derive(Clone)]
pub struct SharedBucket {
    link: RedisLink,
    /// The kind's part of every key: `chatterbox:{cluster}:rl:{name}:{key}`.
    name: &'static str,
    burst: f64,
    per_second: f64,
}

impl SharedBucket {
    pub fn new(link: RedisLink, name: &'static str, burst: f64, per_second: f64) -> Self {
        Self { link, name, burst, per_second }
    }

    /// Takes a token of `key`'s bucket: `Some(Ok)` when taken, `Some(Err(seconds to wait))`
    /// when not; `None` when Redis cannot answer (the caller decides locally).
    pub async fn take(&self, key: &str) -> Option<Result<(), u64>> {
        let (ok, wait) = self.invoke(key, 1).await?;
        Some(if ok == 1 { Ok(()) } else { Err(u64::try_from(wait).unwrap_or(u64::MAX)) })
    }

    /// Gives back a token taken by `take`, never above the burst.
    pub async fn give_back(&self, key: &str) {
        self.invoke(key, -1).await;
    }

    async fn invoke(&self, key: &str, cost: i64) -> Option<(i64, i64)> {
        let mut connection = self.link.connection().await?;
        let mut invocation = script().key(self.link.key(&format!("rl:{}:{key}", self.name)));
        invocation.arg(self.burst).arg(self.per_second / 1000.0).arg(cost);
        let answer = tokio::time::timeout(super::link::COMMAND_TIMEOUT, invocation.invoke_async(&mut connection)).await;
        match answer {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(error)) => {
                tracing::debug!(%error, "shared rate limit unanswered; deciding locally");
                None
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cluster::link::RedisLink;
    use crate::limits::SharedLimiter;

    fn link(redis: &testkit::RedisServer, cluster: &str) -> RedisLink {
        RedisLink::new(redis::Client::open(redis.url()).unwrap(), cluster)
    }

    #[tokio::test]
    async fn nodes_draw_on_one_budget_and_fall_back_to_their_own_without_redis() {
        let mut redis = tokio::task::spawn_blocking(testkit::RedisServer::start).await.unwrap();
        // Two nodes' limiters: a burst of 3, refilled once a minute.
        let a = SharedLimiter::<i64>::per_minute("test", 3, 1.0, Some(&link(&redis, "blue")));
        let b = SharedLimiter::<i64>::per_minute("test", 3, 1.0, Some(&link(&redis, "blue")));
        assert!(a.allow(&7).await && b.allow(&7).await && a.allow(&7).await);
        assert_eq!(b.check(&7).await, Err(60), "the fourth is refused, whichever node takes it");
        assert!(a.allow(&8).await, "another key has its own budget");
        b.refund(&7, crate::limits::Taken::Shared).await;
        assert!(a.allow(&7).await, "a refund on one node frees a token for the other");
        // A node of another cluster on the same Redis has budgets of its own.
        let other = SharedLimiter::<i64>::per_minute("test", 3, 1.0, Some(&link(&redis, "red")));
        assert!(other.allow(&7).await && other.allow(&7).await && other.allow(&7).await);
        assert_eq!(other.check(&7).await, Err(60));

        redis = tokio::task::spawn_blocking(move || {
            redis.kill();
            redis
        })
        .await
        .unwrap();
        // Degraded to each node's own bucket: limited, never unlimited.
        assert!(a.allow(&7).await && a.allow(&7).await && a.allow(&7).await);
        assert!(!a.allow(&7).await, "without Redis the node's own budget still holds");
        drop(redis);
    }
}
