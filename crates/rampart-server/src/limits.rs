//! Where rate-limit admissions are kept: in this process's memory
//! ([`rampart_core::ratelimit::MemoryLimiter`]), or in Redis, shared by every `rampart serve`
//! process that names the same `redis_url`, so that together they admit at most `max`.
//!
//! **Same guarantee in both.** The Redis store runs the core's sliding window
//! ([`rampart_core::ratelimit::decide`]) as one Lua script per decision, atomic on the Redis
//! server: per (policy, key) a sorted set `rampart:rl:{policy}:{key}` holds the admission times
//! (scores, in milliseconds; members are random so equal times do not collapse). The script
//! removes scores `<= now - window`, trims to `max` (a limit that shrank), admits only while
//! fewer than `max` remain (`ZADD` + `PEXPIRE window`, so idle keys vanish), and answers
//! allowed, remaining and the milliseconds until the oldest admission leaves the window —
//! exactly the core's [`Decision`]. Time is Redis's own (`TIME`), so every process shares one
//! clock and skewed hosts cannot widen the window.
//!
//! **Failure.** One round trip (`EVALSHA`, `EVAL` only when the script is not cached yet), on a
//! [`ConnectionManager`] that reconnects by itself, bounded by [`REDIS_TIMEOUT`]: a dead or
//! slow Redis makes a decision fail fast with [`StoreUnavailable`] instead of stalling the
//! request. What a failure means is the policy's choice
//! ([`rampart_core::ratelimit::OnStoreError`]), made in `middleware::ratelimit`.

use std::time::Duration;

use rampart_core::ratelimit::{Decision, Limit, MemoryLimiter};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The longest a decision (or readiness ping) waits for Redis, reconnection included.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The shared store could not be asked (down, unreachable, too slow, or it answered nonsense).
/// The text is for logs only; it never reaches a client.
#[derive(Debug, thiserror::Error)]
#[error("rate-limit store unavailable: {0}")]
pub struct StoreUnavailable(String);

/// The store a process keeps its rate-limit admissions in.
pub enum LimiterStore {
    /// This process only (one `rampart serve`, or tests).
    Memory(MemoryLimiter),
    /// Redis, shared by every process using it.
    Redis(RedisLimiter),
}

/// An admission that can be taken back (see [`LimiterStore::undo`]).
#[derive(Debug, Clone)]
pub struct Admission {
    policy: String,
    key: String,
    token: AdmissionToken,
}

#[derive(Debug, Clone)]
enum AdmissionToken {
    /// In memory: the time it was recorded at.
    At(u64),
    /// In Redis: the sorted-set member.
    Member(String),
}

impl LimiterStore {
    /// Decides one request of `key` under `policy`'s `limit`. The in-memory store never fails.
    pub async fn decide(
        &self,
        policy: &str,
        key: &str,
        limit: Limit,
    ) -> Result<Decision, StoreUnavailable> {
        self.admit(policy, key, limit).await.map(|(d, _)| d)
    }

    /// [`LimiterStore::decide`], with a handle to take the admission back if the request ends
    /// up refused by another policy.
    pub async fn admit(
        &self,
        policy: &str,
        key: &str,
        limit: Limit,
    ) -> Result<(Decision, Option<Admission>), StoreUnavailable> {
        let (decision, token) = match self {
            Self::Memory(m) => {
                let (d, at) = m.decide_timed(policy, key, limit);
                (d, AdmissionToken::At(at))
            }
            Self::Redis(r) => {
                let (d, member) = r.run(policy, key, limit, None).await?;
                (d, AdmissionToken::Member(member))
            }
        };
        let admission = matches!(decision, Decision::Allow { .. }).then(|| Admission {
            policy: policy.to_owned(),
            key: key.to_owned(),
            token,
        });
        Ok((decision, admission))
    }

    /// Takes back an admission. Best effort: if Redis does not answer, the admission stays
    /// (stricter, never looser).
    pub async fn undo(&self, admission: Admission) {
        match (self, admission.token) {
            (Self::Memory(m), AdmissionToken::At(at)) => {
                m.undo(&admission.policy, &admission.key, at)
            }
            (Self::Redis(r), AdmissionToken::Member(member)) => {
                r.undo(&admission.policy, &admission.key, &member).await;
            }
            _ => {}
        }
    }

    /// Forgets a key's admissions under a policy (an admin unlocking an account).
    pub async fn clear(&self, policy: &str, key: &str) -> Result<(), StoreUnavailable> {
        match self {
            Self::Memory(m) => {
                m.clear(policy, key);
                Ok(())
            }
            Self::Redis(r) => r.clear(policy, key).await,
        }
    }

    /// Whether the store answers (always, in memory).
    pub async fn ping(&self) -> Result<(), StoreUnavailable> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Redis(r) => r.ping().await,
        }
    }

    /// Whether this is a store shared between processes.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Redis(_))
    }
}

/// The sliding window of `rampart_core::ratelimit::decide`, in Redis.
/// KEYS[1]: the sorted set. ARGV: max, window_ms, a unique member, and (tests only) a fixed
/// "now" in milliseconds; without it, now is Redis's `TIME`.
/// Returns {allowed (1/0), remaining, milliseconds until the oldest admission leaves}.
const SCRIPT: &str = r"
local key = KEYS[1]
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local member = ARGV[3]
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Admissions at or before now - window have left (t - window, t].
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now - window))
local count = redis.call('ZCARD', key)
-- Keep at most max entries even if the limit shrank since they were recorded.
if count > max then
  redis.call('ZREMRANGEBYRANK', key, 0, count - max - 1)
  count = max
end
if count < max then
  redis.call('ZADD', key, string.format('%d', now), member)
  redis.call('PEXPIRE', key, window)
  local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  return {1, max - count - 1, oldest + window - now}
end
local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
local wait = oldest + window - now
if wait < 1 then
  wait = 1
end
return {0, 0, wait}
";

/// Rate-limit admissions in Redis. Cheap to clone (one multiplexed connection, shared).
#[derive(Clone)]
pub struct RedisLimiter {
    conn: ConnectionManager,
    script: redis::Script,
}

impl RedisLimiter {
    /// Connects to `url` (`redis://[user:password@]host:port/db`) and checks that Redis
    /// answers. Later outages are survived: the connection is re-established in the background.
    pub async fn connect(url: &str) -> Result<Self, StoreUnavailable> {
        let client = redis::Client::open(url).map_err(|e| StoreUnavailable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            // Reconnect quickly and give up quickly: a request never waits on a backoff; the
            // next request starts a new attempt.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreUnavailable(e.to_string()))?;
        let limiter = Self {
            conn,
            script: redis::Script::new(SCRIPT),
        };
        limiter.ping().await?;
        Ok(limiter)
    }

    /// Decides one request of `key` under `policy`'s `limit`, on Redis's clock.
    pub async fn decide(
        &self,
        policy: &str,
        key: &str,
        limit: Limit,
    ) -> Result<Decision, StoreUnavailable> {
        self.run(policy, key, limit, None).await.map(|(d, _)| d)
    }

    /// Removes one admission (by its member).
    async fn undo(&self, policy: &str, key: &str, member: &str) {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(format!("rampart:rl:{policy}:{key}")).arg(member);
        let zrem = cmd.query_async::<i64>(&mut conn);
        if !matches!(tokio::time::timeout(REDIS_TIMEOUT, zrem).await, Ok(Ok(_))) {
            tracing::warn!(policy, "ratelimit: could not take back an admission");
        }
    }

    /// Forgets a key's admissions under a policy.
    pub async fn clear(&self, policy: &str, key: &str) -> Result<(), StoreUnavailable> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("rampart:rl:{policy}:{key}"));
        let del = cmd.query_async::<i64>(&mut conn);
        match tokio::time::timeout(std::time::Duration::from_millis(250), del).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StoreUnavailable(e.to_string())),
            Err(_) => Err(StoreUnavailable("timed out".into())),
        }
    }

    /// [`RedisLimiter::decide`] at a given time instead of Redis's clock. For tests that
    /// compare the script with the in-memory store step by step; the server never calls it.
    #[doc(hidden)]
    pub async fn decide_at(
        &self,
        policy: &str,
        key: &str,
        limit: Limit,
        now_ms: u64,
    ) -> Result<Decision, StoreUnavailable> {
        self.run(policy, key, limit, Some(now_ms))
            .await
            .map(|(d, _)| d)
    }

    pub(crate) async fn run(
        &self,
        policy: &str,
        key: &str,
        limit: Limit,
        now_ms: Option<u64>,
    ) -> Result<(Decision, String), StoreUnavailable> {
        let mut conn = self.conn.clone();
        let member = uuid::Uuid::new_v4().simple().to_string();
        let mut invocation = self.script.key(format!("rampart:rl:{policy}:{key}"));
        invocation
            .arg(limit.max.max(1))
            .arg(limit.window_ms.max(1))
            .arg(&member);
        if let Some(now) = now_ms {
            invocation.arg(now);
        }
        let answer = tokio::time::timeout(
            REDIS_TIMEOUT,
            invocation.invoke_async::<(i64, i64, i64)>(&mut conn),
        )
        .await
        .map_err(|_| StoreUnavailable("no answer within the timeout".into()))?
        .map_err(|e| StoreUnavailable(e.to_string()))?;
        let (allowed, remaining, ms) = answer;
        let ms = u64::try_from(ms).map_err(|_| StoreUnavailable("negative reset".into()))?;
        let decision = if allowed == 1 {
            Decision::Allow {
                remaining: u32::try_from(remaining).unwrap_or(0),
                reset_ms: ms,
            }
        } else {
            Decision::Deny {
                retry_after_ms: ms.max(1),
            }
        };
        Ok((decision, member))
    }

    /// `PING`, within [`REDIS_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), StoreUnavailable> {
        let mut conn = self.conn.clone();
        let pong = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await
        .map_err(|_| StoreUnavailable("no answer to PING within the timeout".into()))?
        .map_err(|e| StoreUnavailable(e.to_string()))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreUnavailable(format!(
                "unexpected answer to PING: {pong}"
            )))
        }
    }
}
