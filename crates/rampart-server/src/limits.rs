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
//!
//! **Lockout and penalties.** With Redis, the account lockout ([`LockoutStore`]) and the
//! penalty box ([`PenaltyStore`]) are shared too, on the same connection, each operation one
//! atomic script on Redis's clock with the in-memory thresholds, windows, steps and
//! forgiveness. An account's counters are one hash `rampart:lock:{account}` (the shared counter
//! and every device counter, so an unlock is one `DEL`); a key's penalty state is the hash
//! `rampart:pen:{key}`; both `PEXPIRE` so idle keys vanish. On a store failure lockout checks
//! fail closed (login answers 503), penalty checks fail open, and failures to record are
//! logged and counted ([`crate::state::Limits::store_error`]).

use std::time::Duration;

use rampart_core::domain::Email;
use rampart_core::lockout::{AttemptKey, Failure, Lockout, LockoutPolicy};
use rampart_core::ratelimit::{Block, Decision, Limit, MemoryLimiter, Penalties, PenaltyPolicy};
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

/// Runs a script invocation within [`REDIS_TIMEOUT`].
async fn invoke<T: redis::FromRedisValue>(
    conn: &ConnectionManager,
    invocation: &redis::ScriptInvocation<'_>,
) -> Result<T, StoreUnavailable> {
    let mut conn = conn.clone();
    tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async::<T>(&mut conn))
        .await
        .map_err(|_| StoreUnavailable("no answer within the timeout".into()))?
        .map_err(|e| StoreUnavailable(e.to_string()))
}

/// Runs one command within [`REDIS_TIMEOUT`].
async fn command(conn: &ConnectionManager, cmd: &redis::Cmd) -> Result<(), StoreUnavailable> {
    let mut conn = conn.clone();
    tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<redis::Value>(&mut conn))
        .await
        .map_err(|_| StoreUnavailable("no answer within the timeout".into()))?
        .map(|_| ())
        .map_err(|e| StoreUnavailable(e.to_string()))
}

fn now_arg(now_ms: Option<u64>) -> String {
    now_ms.map(|n| n.to_string()).unwrap_or_default()
}

fn non_negative(ms: i64) -> Result<u64, StoreUnavailable> {
    u64::try_from(ms).map_err(|_| StoreUnavailable("negative duration".into()))
}

/// Redis's clock in milliseconds, as every script below computes it. ARGV[1] is empty, or (in
/// tests that compare a script with the in-memory store step by step) a fixed now.
const NOW: &str = r"
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
";

// ---------------------------------------------------------------------------------------------
// Account lockout
// ---------------------------------------------------------------------------------------------

/// Milliseconds a counter stays locked (0: not locked). KEYS[1]: the account's hash;
/// ARGV: now (see [`NOW`]), the counter's field prefix.
const LOCKED_FOR: &str = r"
local ends = tonumber(redis.call('HGET', KEYS[1], ARGV[2] .. ':u') or '0')
if ends > now then
  return ends - now
end
return 0
";

/// `rampart_core::lockout::Lockout::fail` for one counter. KEYS[1]: the account's hash;
/// ARGV: now (see [`NOW`]), field prefix, max_failures, window_ms, lock_ms. The failure times (at most
/// max_failures) are a comma-separated field `{prefix}:f`, the lock's end `{prefix}:u`.
/// Returns the lock's length if this failure locked, else 0.
const FAIL: &str = r"
local key = KEYS[1]
local prefix = ARGV[2]
local max = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local lock = tonumber(ARGV[5])
local kept = {}
for t in string.gmatch(redis.call('HGET', key, prefix .. ':f') or '', '%d+') do
  if tonumber(t) + window > now then
    kept[#kept + 1] = t
  end
end
kept[#kept + 1] = string.format('%d', now)
-- The hash holds every counter of the account; each update keeps all of it alive long
-- enough for the longest-lived state (a window of failures or a lock) written now.
local ttl = math.max(window, lock, redis.call('PTTL', key))
local locked = 0
if #kept >= max then
  redis.call('HDEL', key, prefix .. ':f')
  redis.call('HSET', key, prefix .. ':u', string.format('%d', now + lock))
  locked = lock
else
  redis.call('HSET', key, prefix .. ':f', table.concat(kept, ','))
end
redis.call('PEXPIRE', key, ttl)
return locked
";

/// The failed-login counters of every account, in Redis: one hash per account
/// (`rampart:lock:{account}`) with the shared counter under the prefix `acct` and each
/// device's under `dev:{device}`, so an unlock is one `DEL`. Same thresholds, window and lock
/// as the in-memory [`Lockout`], on Redis's clock.
#[derive(Clone)]
pub struct RedisLockout {
    conn: ConnectionManager,
    policy: LockoutPolicy,
    locked_for: redis::Script,
    fail: redis::Script,
}

fn lock_key(account: &str) -> String {
    format!("rampart:lock:{account}")
}

fn lock_field(key: &AttemptKey) -> (String, String) {
    match key {
        AttemptKey::Account(account) => (lock_key(account), "acct".to_owned()),
        AttemptKey::Device { account, device } => (lock_key(account), format!("dev:{device}")),
    }
}

impl RedisLockout {
    /// Lockout counters on `limiter`'s connection.
    pub fn new(limiter: &RedisLimiter, policy: LockoutPolicy) -> Self {
        Self {
            conn: limiter.conn.clone(),
            policy,
            locked_for: redis::Script::new(&format!("{NOW}{LOCKED_FOR}")),
            fail: redis::Script::new(&format!("{NOW}{FAIL}")),
        }
    }

    /// Milliseconds the key stays locked, if it is; at `now_ms` (tests) or on Redis's clock.
    #[doc(hidden)]
    pub async fn locked_for(
        &self,
        key: &AttemptKey,
        now_ms: Option<u64>,
    ) -> Result<Option<u64>, StoreUnavailable> {
        let (hash, prefix) = lock_field(key);
        let mut invocation = self.locked_for.key(hash);
        invocation.arg(now_arg(now_ms)).arg(prefix);
        let ms = non_negative(invoke::<i64>(&self.conn, &invocation).await?)?;
        Ok((ms > 0).then_some(ms))
    }

    /// Records a failed login; at `now_ms` (tests) or on Redis's clock.
    #[doc(hidden)]
    pub async fn fail(
        &self,
        key: &AttemptKey,
        now_ms: Option<u64>,
    ) -> Result<Failure, StoreUnavailable> {
        let (hash, prefix) = lock_field(key);
        let p = self.policy;
        let mut invocation = self.fail.key(hash);
        invocation
            .arg(now_arg(now_ms))
            .arg(prefix)
            .arg(p.max_failures.max(1))
            .arg(p.window_ms.max(1))
            .arg(p.lock_ms.max(1));
        let ms = non_negative(invoke::<i64>(&self.conn, &invocation).await?)?;
        Ok(if ms > 0 {
            Failure::Locked(ms)
        } else {
            Failure::Counted
        })
    }

    /// Resets a key's count.
    #[doc(hidden)]
    pub async fn succeed(&self, key: &AttemptKey) -> Result<(), StoreUnavailable> {
        let (hash, prefix) = lock_field(key);
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(hash)
            .arg(format!("{prefix}:f"))
            .arg(format!("{prefix}:u"));
        command(&self.conn, &cmd).await
    }

    /// Clears every counter of an account.
    #[doc(hidden)]
    pub async fn unlock(&self, account: &Email) -> Result<(), StoreUnavailable> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(lock_key(account.as_str()));
        command(&self.conn, &cmd).await
    }
}

/// Where failed-login counters are kept.
pub enum LockoutStore {
    /// This process only.
    Memory(Lockout),
    /// Redis, shared by every process using it.
    Redis(RedisLockout),
}

impl LockoutStore {
    /// Milliseconds the key stays locked, if it is. Callers fail closed on an error.
    pub async fn locked_for(&self, key: &AttemptKey) -> Result<Option<u64>, StoreUnavailable> {
        match self {
            Self::Memory(l) => Ok(l.locked_for(key)),
            Self::Redis(r) => r.locked_for(key, None).await,
        }
    }

    /// Records a failed login.
    pub async fn fail(&self, key: &AttemptKey) -> Result<Failure, StoreUnavailable> {
        match self {
            Self::Memory(l) => Ok(l.fail(key)),
            Self::Redis(r) => r.fail(key, None).await,
        }
    }

    /// A successful login resets the key's count.
    pub async fn succeed(&self, key: &AttemptKey) -> Result<(), StoreUnavailable> {
        match self {
            Self::Memory(l) => {
                l.succeed(key);
                Ok(())
            }
            Self::Redis(r) => r.succeed(key).await,
        }
    }

    /// Clears every counter of an account, device counters included (admin unlock).
    pub async fn unlock(&self, account: &Email) -> Result<(), StoreUnavailable> {
        match self {
            Self::Memory(l) => {
                l.unlock(account);
                Ok(())
            }
            Self::Redis(r) => r.unlock(account).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Penalty box
// ---------------------------------------------------------------------------------------------

/// Milliseconds the key remains blocked (0: not blocked). KEYS[1]: `rampart:pen:{key}`;
/// ARGV[1]: now (see [`NOW`]).
const BLOCKED_FOR: &str = r"
local ends = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if ends > now then
  return ends - now
end
return 0
";

/// `rampart_core::ratelimit::Penalties::strike`. KEYS[1]: `rampart:pen:{key}`, a hash of
/// `s` (comma-separated strike times), `level`, `until`, `last`. ARGV: now (see [`NOW`]),
/// strikes, strike_window_ms, forgive_after_ms, then the steps. Returns {block ms (0: none), level}.
const STRIKE: &str = r"
local key = KEYS[1]
local strikes = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local forgive = tonumber(ARGV[4])
local f = redis.call('HMGET', key, 's', 'level', 'until', 'last')
local level = tonumber(f[2] or '0')
local ends = tonumber(f[3] or '0')
local last = tonumber(f[4] or '0')
if level > 0 and now - last >= forgive then
  level = 0
end
local kept = {}
for t in string.gmatch(f[1] or '', '%d+') do
  if tonumber(t) + window > now then
    kept[#kept + 1] = t
  end
end
kept[#kept + 1] = string.format('%d', now)
local step = 0
local s = ''
if #kept >= strikes then
  step = tonumber(ARGV[5 + level] or ARGV[#ARGV])
  level = level + 1
  ends = now + step
  last = now
else
  s = table.concat(kept, ',')
end
redis.call('HSET', key, 's', s, 'level', string.format('%d', level),
  'until', string.format('%d', ends), 'last', string.format('%d', last))
-- Alive while any of it matters: the strikes' window, the block, the level until forgiven.
local ttl = window
if ends - now > ttl then
  ttl = ends - now
end
if level > 0 and last + forgive - now > ttl then
  ttl = last + forgive - now
end
redis.call('PEXPIRE', key, ttl)
return {step, level}
";

/// The penalty box in Redis, with the same strikes, window, steps and forgiveness as the
/// in-memory [`Penalties`], on Redis's clock.
#[derive(Clone)]
pub struct RedisPenalties {
    conn: ConnectionManager,
    policy: PenaltyPolicy,
    blocked_for: redis::Script,
    strike: redis::Script,
}

fn penalty_key(key: &str) -> String {
    format!("rampart:pen:{key}")
}

impl RedisPenalties {
    /// The penalty box on `limiter`'s connection.
    pub fn new(limiter: &RedisLimiter, policy: PenaltyPolicy) -> Self {
        Self {
            conn: limiter.conn.clone(),
            policy,
            blocked_for: redis::Script::new(&format!("{NOW}{BLOCKED_FOR}")),
            strike: redis::Script::new(&format!("{NOW}{STRIKE}")),
        }
    }

    /// Milliseconds the key remains blocked, if it is; at `now_ms` (tests) or on Redis's clock.
    #[doc(hidden)]
    pub async fn blocked_for(
        &self,
        key: &str,
        now_ms: Option<u64>,
    ) -> Result<Option<u64>, StoreUnavailable> {
        let mut invocation = self.blocked_for.key(penalty_key(key));
        invocation.arg(now_arg(now_ms));
        let ms = non_negative(invoke::<i64>(&self.conn, &invocation).await?)?;
        Ok((ms > 0).then_some(ms))
    }

    /// Records a refusal; at `now_ms` (tests) or on Redis's clock.
    #[doc(hidden)]
    pub async fn strike(
        &self,
        key: &str,
        now_ms: Option<u64>,
    ) -> Result<Option<Block>, StoreUnavailable> {
        let p = &self.policy;
        let mut invocation = self.strike.key(penalty_key(key));
        invocation
            .arg(now_arg(now_ms))
            .arg(p.strikes.max(1))
            .arg(p.strike_window_ms.max(1))
            .arg(p.forgive_after_ms);
        if p.steps_ms.is_empty() {
            invocation.arg(60_000u64);
        }
        for step in &p.steps_ms {
            invocation.arg(*step);
        }
        let (ms, level) = invoke::<(i64, i64)>(&self.conn, &invocation).await?;
        let ms = non_negative(ms)?;
        Ok((ms > 0).then(|| Block {
            duration_ms: ms,
            level: usize::try_from(level).unwrap_or(0),
        }))
    }
}

/// Where the penalty box is kept.
pub enum PenaltyStore {
    /// This process only.
    Memory(Penalties),
    /// Redis, shared by every process using it.
    Redis(RedisPenalties),
}

impl PenaltyStore {
    /// Milliseconds the key remains blocked, if it is.
    pub async fn blocked_for(&self, key: &str) -> Result<Option<u64>, StoreUnavailable> {
        match self {
            Self::Memory(p) => Ok(p.blocked_for(key)),
            Self::Redis(r) => r.blocked_for(key, None).await,
        }
    }

    /// Records a refusal; returns the block it started, if any.
    pub async fn strike(&self, key: &str) -> Result<Option<Block>, StoreUnavailable> {
        match self {
            Self::Memory(p) => Ok(p.strike(key)),
            Self::Redis(r) => r.strike(key, None).await,
        }
    }
}
