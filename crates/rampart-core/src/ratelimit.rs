//! Rate limiting with a true sliding window, and graduated penalties.
//!
//! **Guarantee.** For every key and limit `{max, window}`: in any half-open interval
//! `(t - window, t]` at most `max` requests are admitted. The limiter keeps, per key, the
//! admission times inside the current window (at most `max` of them) and admits a request only
//! while fewer than `max` remain; a refused request is not recorded, so refusals never extend
//! the wait. The same algorithm runs in memory here and, for several processes, as one atomic
//! script per decision in Redis (`rampart_server::limits`), so the bound is the same everywhere.
//!
//! **Threats.** Credential stuffing and brute force (login 5 per 15 minutes), sign-up abuse,
//! scraping and resource exhaustion (OWASP API4). [`Penalties`] escalates against keys that keep
//! hitting their limits. Memory is bounded: see [`MemoryLimiter::new`].
//!
//! ```
//! use rampart_core::ratelimit::{Decision, Limit, ManualClock, MemoryLimiter};
//! use std::sync::Arc;
//!
//! let clock = Arc::new(ManualClock::new(0));
//! let limiter = MemoryLimiter::new(1000, clock.clone());
//! let login = Limit { max: 2, window_ms: 60_000 };
//! assert!(matches!(limiter.decide("login", "203.0.113.7", login), Decision::Allow { .. }));
//! assert!(matches!(limiter.decide("login", "203.0.113.7", login), Decision::Allow { .. }));
//! assert!(matches!(limiter.decide("login", "203.0.113.7", login), Decision::Deny { .. }));
//! clock.advance(60_000);
//! assert!(matches!(limiter.decide("login", "203.0.113.7", login), Decision::Allow { .. }));
//! ```

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A limit: at most `max` requests in any window of `window_ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Requests admitted per window (at least 1).
    pub max: u32,
    /// Window length in milliseconds (at least 1).
    pub window_ms: u64,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted.
    Allow {
        /// Requests still admissible in the window after this one.
        remaining: u32,
        /// Milliseconds until the oldest admission leaves the window (a slot frees up).
        reset_ms: u64,
    },
    /// Refused.
    Deny {
        /// Milliseconds until a request would be admitted.
        retry_after_ms: u64,
    },
}

/// Milliseconds on a monotonic clock. Injectable so tests control time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now_ms(&self) -> u64;
}

/// The process's monotonic clock.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self(Instant::now())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        Self(AtomicU64::new(start_ms))
    }

    /// Moves time forward.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The sliding-window decision on one key's admission log (oldest first). Shared by every
/// store so that the guarantee is the same code.
pub fn decide(log: &mut VecDeque<u64>, limit: Limit, now: u64) -> Decision {
    let window = limit.window_ms.max(1);
    let max = limit.max.max(1) as usize;
    // Admissions at or before now - window have left (t - window, t].
    while log
        .front()
        .is_some_and(|&t| t.saturating_add(window) <= now)
    {
        log.pop_front();
    }
    // Keep at most `max` entries even if the limit shrank since they were recorded.
    while log.len() > max {
        log.pop_front();
    }
    if log.len() < max {
        log.push_back(now);
        let oldest = log.front().copied().unwrap_or(now);
        Decision::Allow {
            remaining: u32::try_from(max - log.len()).unwrap_or(0),
            reset_ms: oldest.saturating_add(window).saturating_sub(now),
        }
    } else {
        let oldest = log.front().copied().unwrap_or(now);
        Decision::Deny {
            retry_after_ms: oldest.saturating_add(window).saturating_sub(now).max(1),
        }
    }
}

/// The key a client is limited under when it is not authenticated: its IP, with IPv6
/// addresses grouped by their /64 (one subscriber usually holds a whole /64, so per-address
/// keys would let one client rotate through billions of keys).
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// What a policy keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The client IP, even when authenticated (for example login and sign-up).
    Ip,
    /// The user when authenticated, else the client IP.
    UserOrIp,
}

/// What a policy does when its shared store (Redis) cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    /// Refuse the request (503 `unavailable`): fail closed. The default for policies that
    /// guard authentication, where an unlimited window is a brute-force window.
    Deny,
    /// Skip this policy for the request: fail open. The default elsewhere, so that an outage
    /// of the limiter does not take the API down with it.
    Allow,
}

impl OnStoreError {
    /// The default for a policy on these routes: [`OnStoreError::Deny`] when every route is
    /// under `/api/auth/`, [`OnStoreError::Allow`] otherwise (including "all routes").
    pub fn default_for(routes: &[String]) -> Self {
        if !routes.is_empty() && routes.iter().all(|r| r.starts_with("/api/auth/")) {
            Self::Deny
        } else {
            Self::Allow
        }
    }
}

/// One rate-limit policy: which requests it applies to, the limit, and the key.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Name, shown in logs and `RateLimit-Policy`.
    pub name: String,
    /// Methods it applies to (uppercase); empty: all.
    pub methods: Vec<String>,
    /// Route templates it applies to (`/api/auth/login`, or a prefix ending in `*`); empty:
    /// all, including requests that match no route.
    pub routes: Vec<String>,
    /// The limit.
    pub limit: Limit,
    /// The key.
    pub key: KeyKind,
    /// What to do when the shared store cannot be asked (the in-memory store always can).
    pub on_store_error: OnStoreError,
}

impl Policy {
    /// Whether the policy applies to a request with this method and route template.
    pub fn matches(&self, method: &str, route: &str) -> bool {
        // HEAD runs the GET handler, so a GET policy covers it.
        let method_ok = self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|m| m == method || (method == "HEAD" && m == "GET"));
        let route_ok = self.routes.is_empty()
            || self.routes.iter().any(|r| match r.strip_suffix('*') {
                Some(prefix) => route.starts_with(prefix),
                None => r == route,
            });
        method_ok && route_ok
    }
}

/// The built-in policies: login 5 per 15 minutes and sign-up 3 per hour per IP, refresh 30 per
/// 5 minutes per IP, reads 100 per minute, writes 30 per minute and other methods 60 per minute
/// per user (or IP when anonymous). When the shared store is down, login, sign-up and refresh
/// fail closed and the others fail open ([`OnStoreError::default_for`]).
pub fn default_policies() -> Vec<Policy> {
    const MIN: u64 = 60_000;
    let p = |name: &str, methods: &[&str], routes: &[&str], max: u32, window_ms: u64, key| {
        let routes: Vec<String> = routes.iter().map(|r| (*r).to_owned()).collect();
        Policy {
            name: name.into(),
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            on_store_error: OnStoreError::default_for(&routes),
            routes,
            limit: Limit { max, window_ms },
            key,
        }
    };
    vec![
        p(
            "login",
            &["POST"],
            &["/api/auth/login"],
            5,
            15 * MIN,
            KeyKind::Ip,
        ),
        p(
            "register",
            &["POST"],
            &["/api/auth/register"],
            3,
            60 * MIN,
            KeyKind::Ip,
        ),
        p(
            "refresh",
            &["POST"],
            &["/api/auth/refresh"],
            30,
            5 * MIN,
            KeyKind::Ip,
        ),
        p("reads", &["GET", "HEAD"], &[], 100, MIN, KeyKind::UserOrIp),
        p(
            "writes",
            &["POST", "PUT", "PATCH", "DELETE"],
            &[],
            30,
            MIN,
            KeyKind::UserOrIp,
        ),
        p("other", &["OPTIONS"], &[], 60, MIN, KeyKind::UserOrIp),
    ]
}

const SHARDS: usize = 16;

struct Entry {
    log: VecDeque<u64>,
    /// When this entry stops mattering: the newest admission plus the window.
    expires_at: u64,
}

/// In-memory limiter for one process.
///
/// **Memory bound.** At most `max_keys` (policy, key) entries are kept, each holding at most
/// `max` timestamps of 8 bytes. When a shard is full, entries whose window has passed are
/// dropped; if none has, the entry closest to expiry is evicted (it is the one whose loss
/// admits the least). A flood of a million distinct keys therefore costs at most
/// `max_keys × (64 + 8 × max)` bytes — about 10 MB for the default 100,000 keys and a
/// 5-request login limit.
pub struct MemoryLimiter {
    shards: Vec<Mutex<HashMap<(String, String), Entry>>>,
    per_shard: usize,
    clock: Arc<dyn Clock>,
}

impl MemoryLimiter {
    /// A limiter keeping at most `max_keys` entries, on `clock`.
    pub fn new(max_keys: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (max_keys / SHARDS).max(1),
            clock,
        }
    }

    fn shard(&self, policy: &str, key: &str) -> &Mutex<HashMap<(String, String), Entry>> {
        let mut h = DefaultHasher::new();
        (policy, key).hash(&mut h);
        let i = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        &self.shards[i]
    }

    /// Decides one request of `key` under `policy`'s `limit`.
    pub fn decide(&self, policy: &str, key: &str, limit: Limit) -> Decision {
        self.decide_timed(policy, key, limit).0
    }

    /// [`MemoryLimiter::decide`], also returning the time the admission (if any) was recorded
    /// at, for [`MemoryLimiter::undo`].
    pub fn decide_timed(&self, policy: &str, key: &str, limit: Limit) -> (Decision, u64) {
        let now = self.clock.now_ms();
        let mut map = self
            .shard(policy, key)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let id = (policy.to_owned(), key.to_owned());
        if !map.contains_key(&id) && map.len() >= self.per_shard {
            map.retain(|_, e| e.expires_at > now);
            if map.len() >= self.per_shard
                && let Some(victim) = map
                    .iter()
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&victim);
            }
        }
        let entry = map.entry(id).or_insert_with(|| Entry {
            log: VecDeque::new(),
            expires_at: 0,
        });
        let decision = decide(&mut entry.log, limit, now);
        if let Some(&newest) = entry.log.back() {
            entry.expires_at = newest.saturating_add(limit.window_ms);
        }
        (decision, now)
    }

    /// Takes back an admission recorded at `at` (the request was refused by another policy,
    /// so it must not use this one's budget). Removing it only ever makes room that the
    /// refused request had taken.
    pub fn undo(&self, policy: &str, key: &str, at: u64) {
        let mut map = self
            .shard(policy, key)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(&(policy.to_owned(), key.to_owned()))
            && let Some(i) = entry.log.iter().rposition(|&t| t == at)
        {
            entry.log.remove(i);
        }
    }

    /// Forgets a key's admissions under a policy (an admin unlocking an account).
    pub fn clear(&self, policy: &str, key: &str) {
        self.shard(policy, key)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(policy.to_owned(), key.to_owned()));
    }

    /// Entries currently held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Graduated penalties: a key refused `strikes` times within `strike_window_ms` is blocked on
/// every route for an escalating time (`steps_ms`, the last step repeating), and the level
/// decays after `forgive_after_ms` without a block.
#[derive(Debug, Clone)]
pub struct PenaltyPolicy {
    /// Refusals that trigger a block.
    pub strikes: u32,
    /// Window in which they must fall.
    pub strike_window_ms: u64,
    /// Block lengths, escalating.
    pub steps_ms: Vec<u64>,
    /// Quiet time after which the level resets.
    pub forgive_after_ms: u64,
}

impl Default for PenaltyPolicy {
    fn default() -> Self {
        const MIN: u64 = 60_000;
        Self {
            strikes: 3,
            strike_window_ms: 10 * MIN,
            steps_ms: vec![MIN, 5 * MIN, 15 * MIN, 30 * MIN, 60 * MIN],
            forgive_after_ms: 24 * 60 * MIN,
        }
    }
}

#[derive(Default)]
struct PenaltyEntry {
    strikes: VecDeque<u64>,
    level: usize,
    blocked_until: u64,
    last_block: u64,
}

/// The in-memory penalty box.
pub struct Penalties {
    policy: PenaltyPolicy,
    entries: Mutex<HashMap<String, PenaltyEntry>>,
    max_keys: usize,
    clock: Arc<dyn Clock>,
}

/// A block that just started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// How long it lasts.
    pub duration_ms: u64,
    /// Its rank (1 = first block).
    pub level: usize,
}

impl Penalties {
    /// A penalty box holding at most `max_keys` keys.
    pub fn new(policy: PenaltyPolicy, max_keys: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
            clock,
        }
    }

    /// Milliseconds the key remains blocked, if it is.
    pub fn blocked_for(&self, key: &str) -> Option<u64> {
        let now = self.clock.now_ms();
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|e| e.blocked_until > now)
            .map(|e| e.blocked_until - now)
    }

    /// Records a refusal; returns the block it started, if any.
    pub fn strike(&self, key: &str) -> Option<Block> {
        let now = self.clock.now_ms();
        let p = &self.policy;
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(key) && map.len() >= self.max_keys {
            let horizon = p.forgive_after_ms;
            map.retain(|_, e| {
                e.blocked_until > now || now.saturating_sub(e.last_block) < horizon && e.level > 0
            });
            if map.len() >= self.max_keys {
                return None;
            }
        }
        let e = map.entry(key.to_owned()).or_default();
        if e.level > 0 && now.saturating_sub(e.last_block) >= p.forgive_after_ms {
            e.level = 0;
        }
        while e
            .strikes
            .front()
            .is_some_and(|&t| t.saturating_add(p.strike_window_ms) <= now)
        {
            e.strikes.pop_front();
        }
        e.strikes.push_back(now);
        if e.strikes.len() < p.strikes.max(1) as usize {
            return None;
        }
        e.strikes.clear();
        let step = p
            .steps_ms
            .get(e.level)
            .or(p.steps_ms.last())
            .copied()
            .unwrap_or(60_000);
        e.level += 1;
        e.blocked_until = now.saturating_add(step);
        e.last_block = now;
        Some(Block {
            duration_ms: step,
            level: e.level,
        })
    }

    /// Clears a key (admin action).
    pub fn clear(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_keys: usize) -> (Arc<ManualClock>, MemoryLimiter) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        (clock.clone(), MemoryLimiter::new(max_keys, clock))
    }

    #[test]
    fn n_allowed_then_refused_then_allowed_after_the_window() {
        let (clock, l) = limiter(100);
        let limit = Limit {
            max: 5,
            window_ms: 900_000,
        };
        for i in 0..5 {
            match l.decide("login", "k", limit) {
                Decision::Allow { remaining, .. } => assert_eq!(remaining, 4 - i),
                d => panic!("request {i} refused: {d:?}"),
            }
            clock.advance(1000);
        }
        // Sixth inside the window: refused until the first admission is a full window old.
        match l.decide("login", "k", limit) {
            Decision::Deny { retry_after_ms } => assert_eq!(retry_after_ms, 900_000 - 5000),
            d => panic!("sixth admitted: {d:?}"),
        }
        clock.advance(900_000 - 5000 - 1);
        assert!(matches!(
            l.decide("login", "k", limit),
            Decision::Deny { retry_after_ms: 1 }
        ));
        clock.advance(1);
        assert!(matches!(
            l.decide("login", "k", limit),
            Decision::Allow { remaining: 0, .. }
        ));
    }

    /// The guarantee, checked by brute force: requests at pseudo-random times, and for every
    /// admission the count of admissions in the window ending there never exceeds max.
    #[test]
    fn never_more_than_max_in_any_window() {
        let (clock, l) = limiter(100);
        let limit = Limit {
            max: 7,
            window_ms: 10_000,
        };
        let mut admitted = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            clock.advance(x % 900);
            if matches!(l.decide("p", "k", limit), Decision::Allow { .. }) {
                admitted.push(clock.now_ms());
            }
        }
        assert!(
            admitted.len() > 100,
            "the test must actually admit requests"
        );
        for (i, &t) in admitted.iter().enumerate() {
            let in_window = admitted[..=i].iter().filter(|&&a| a + 10_000 > t).count();
            assert!(
                in_window <= 7,
                "{in_window} admissions in the window ending at {t}"
            );
        }
    }

    #[test]
    fn keys_and_policies_are_independent() {
        let (_, l) = limiter(100);
        let one = Limit {
            max: 1,
            window_ms: 60_000,
        };
        assert!(matches!(
            l.decide("read", "user:a", one),
            Decision::Allow { .. }
        ));
        assert!(matches!(
            l.decide("read", "user:b", one),
            Decision::Allow { .. }
        ));
        assert!(matches!(
            l.decide("write", "user:a", one),
            Decision::Allow { .. }
        ));
        assert!(matches!(
            l.decide("read", "user:a", one),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let (clock, l) = limiter(1600);
        let limit = Limit {
            max: 5,
            window_ms: 60_000,
        };
        for i in 0..50_000 {
            l.decide("p", &format!("ip:{i}"), limit);
            if i % 1000 == 0 {
                clock.advance(1);
            }
        }
        assert!(l.len() <= 1600, "{} entries", l.len());
    }

    #[test]
    fn auth_policies_fail_closed_and_the_others_open() {
        for p in default_policies() {
            let expected = if p.routes.iter().any(|r| r.starts_with("/api/auth/")) {
                OnStoreError::Deny
            } else {
                OnStoreError::Allow
            };
            assert_eq!(p.on_store_error, expected, "{}", p.name);
        }
        let routes = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(OnStoreError::default_for(&[]), OnStoreError::Allow);
        assert_eq!(
            OnStoreError::default_for(&routes(&["/api/auth/login", "/api/users/me"])),
            OnStoreError::Allow
        );
        assert_eq!(
            OnStoreError::default_for(&routes(&["/api/auth/*"])),
            OnStoreError::Deny
        );
    }

    #[test]
    fn ipv6_keys_group_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(ip_key(mapped), "ip:203.0.113.7");
    }

    #[test]
    fn penalties_escalate_cap_and_forgive() {
        let clock = Arc::new(ManualClock::new(0));
        let p = Penalties::new(PenaltyPolicy::default(), 100, clock.clone());
        const MIN: u64 = 60_000;
        let mut lengths = Vec::new();
        for _ in 0..7 {
            assert_eq!(p.strike("k"), None);
            assert_eq!(p.strike("k"), None);
            let block = p.strike("k").expect("third strike blocks");
            lengths.push(block.duration_ms);
            assert_eq!(p.blocked_for("k"), Some(block.duration_ms));
            clock.advance(block.duration_ms);
            assert_eq!(p.blocked_for("k"), None);
        }
        assert_eq!(
            lengths,
            [
                MIN,
                5 * MIN,
                15 * MIN,
                30 * MIN,
                60 * MIN,
                60 * MIN,
                60 * MIN
            ]
        );
        // Strikes spread wider than the strike window never block.
        let q = Penalties::new(PenaltyPolicy::default(), 100, clock.clone());
        for _ in 0..10 {
            assert_eq!(q.strike("slow"), None);
            clock.advance(5 * MIN + 1);
        }
        // A day of good behaviour resets the level.
        clock.advance(24 * 60 * MIN);
        p.strike("k");
        p.strike("k");
        assert_eq!(p.strike("k").map(|b| b.duration_ms), Some(MIN));
    }
}
