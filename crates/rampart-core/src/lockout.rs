//! Account lockout after failed logins, with OWASP's device-cookie exemption.
//!
//! Threat: online password guessing against one account (checklist row 17). After
//! `max_failures` failed logins within `window_ms`, further logins for that account are refused
//! for `lock_ms`, whatever the password. Failures are counted by the *presented email*, known
//! or not, so a locked unknown email answers exactly like a locked known one (no enumeration).
//!
//! Lockout must not become a way to lock a victim out, so a browser that has logged in to the
//! account before carries a signed device cookie (`DeviceCookie`), and its attempts are counted
//! under that cookie instead of the account: an attacker without the cookie locks only the
//! anonymous path; the owner's own device keeps working (and has its own, separate counter, so a
//! stolen cookie cannot be used to guess freely). Trade-off: a user on a new device during an
//! attack is locked out for the lock period; an attacker who steals a device cookie gets one
//! more counter of `max_failures` attempts per `lock_ms`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::Email;
use crate::ratelimit::Clock;

/// Lockout thresholds.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures that lock.
    pub max_failures: u32,
    /// Window in which they count.
    pub window_ms: u64,
    /// Lock duration.
    pub lock_ms: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_ms: 15 * 60_000,
            lock_ms: 15 * 60_000,
        }
    }
}

/// Which counter an attempt belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttemptKey {
    /// No valid device cookie: the account's shared counter.
    Account(String),
    /// A valid device cookie for this account: that device's own counter.
    Device {
        /// The account (lowercased email).
        account: String,
        /// The cookie's random id.
        device: String,
    },
}

impl AttemptKey {
    fn account(&self) -> &str {
        match self {
            Self::Account(a) | Self::Device { account: a, .. } => a,
        }
    }
}

#[derive(Default)]
struct Counter {
    failures: VecDeque<u64>,
    locked_until: u64,
}

/// The in-memory lockout state.
pub struct Lockout {
    policy: LockoutPolicy,
    counters: Mutex<HashMap<AttemptKey, Counter>>,
    max_keys: usize,
    clock: Arc<dyn Clock>,
}

/// The result of recording a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted; not locked yet.
    Counted,
    /// This failure locked the key for this many milliseconds.
    Locked(u64),
}

impl Lockout {
    /// A lockout holding at most `max_keys` counters.
    pub fn new(policy: LockoutPolicy, max_keys: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            policy,
            counters: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AttemptKey, Counter>> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Milliseconds the key stays locked, if it is.
    pub fn locked_for(&self, key: &AttemptKey) -> Option<u64> {
        let now = self.clock.now_ms();
        self.lock()
            .get(key)
            .filter(|c| c.locked_until > now)
            .map(|c| c.locked_until - now)
    }

    /// Records a failed login.
    pub fn fail(&self, key: &AttemptKey) -> Failure {
        let now = self.clock.now_ms();
        let p = self.policy;
        let mut map = self.lock();
        if !map.contains_key(key) && map.len() >= self.max_keys {
            map.retain(|_, c| {
                c.locked_until > now || c.failures.back().is_some_and(|&t| t + p.window_ms > now)
            });
            if map.len() >= self.max_keys {
                // Full of live counters: refuse to forget any of them. This attempt is still
                // refused by the caller (it failed); it just is not counted.
                return Failure::Counted;
            }
        }
        let c = map.entry(key.clone()).or_default();
        while c
            .failures
            .front()
            .is_some_and(|&t| t.saturating_add(p.window_ms) <= now)
        {
            c.failures.pop_front();
        }
        c.failures.push_back(now);
        if c.failures.len() >= p.max_failures.max(1) as usize {
            c.failures.clear();
            c.locked_until = now.saturating_add(p.lock_ms);
            return Failure::Locked(p.lock_ms);
        }
        Failure::Counted
    }

    /// A successful login resets the key's count (not a lock: a locked key never gets here).
    pub fn succeed(&self, key: &AttemptKey) {
        self.lock().remove(key);
    }

    /// Clears every counter of an account, device counters included (admin unlock).
    pub fn unlock(&self, account: &Email) {
        self.lock().retain(|k, _| k.account() != account.as_str());
    }
}

/// A signed cookie naming an account and a random device id:
/// `base64url(email) "." device "." base64url(HMAC-SHA256(key, email "|" device))`.
pub struct DeviceCookie;

impl DeviceCookie {
    /// The cookie's name.
    pub const NAME: &'static str = "rampart_device";

    /// A new cookie value for an account.
    pub fn issue(key: &[u8], account: &Email) -> String {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let device = B64.encode(id);
        let mac = Self::mac(key, account.as_str(), &device);
        format!("{}.{device}.{mac}", B64.encode(account.as_str()))
    }

    fn mac(key: &[u8], account: &str, device: &str) -> String {
        #[allow(clippy::expect_used)]
        let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(b"rampart device cookie v1\0");
        m.update(account.as_bytes());
        m.update(b"|");
        m.update(device.as_bytes());
        B64.encode(m.finalize().into_bytes())
    }

    /// The counter for an attempt on `account` carrying `cookie` (if any): the device's own
    /// counter when the cookie is genuine and names this account, else the account's.
    pub fn attempt_key(key: &[u8], account: &Email, cookie: Option<&str>) -> AttemptKey {
        let shared = AttemptKey::Account(account.as_str().to_owned());
        let Some(cookie) = cookie.filter(|c| c.len() <= 512) else {
            return shared;
        };
        let mut parts = cookie.split('.');
        let (Some(acct), Some(device), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return shared;
        };
        let Ok(acct) = B64.decode(acct).map(String::from_utf8) else {
            return shared;
        };
        let Ok(acct) = acct else { return shared };
        let expected = Self::mac(key, &acct, device);
        let genuine: bool = expected.as_bytes().ct_eq(mac.as_bytes()).into();
        if genuine && acct == account.as_str() {
            AttemptKey::Device {
                account: acct,
                device: device.to_owned(),
            }
        } else {
            shared
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::ManualClock;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes_and_success_resets() {
        let clock = Arc::new(ManualClock::new(0));
        let l = Lockout::new(LockoutPolicy::default(), 100, clock.clone());
        let k = AttemptKey::Account("a@example.com".into());
        for _ in 0..4 {
            assert_eq!(l.fail(&k), Failure::Counted);
        }
        l.succeed(&k);
        for _ in 0..4 {
            assert_eq!(l.fail(&k), Failure::Counted, "success reset the count");
        }
        assert_eq!(l.fail(&k), Failure::Locked(15 * 60_000));
        assert_eq!(l.locked_for(&k), Some(15 * 60_000));
        clock.advance(15 * 60_000);
        assert_eq!(l.locked_for(&k), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let clock = Arc::new(ManualClock::new(0));
        let l = Lockout::new(LockoutPolicy::default(), 100, clock.clone());
        let k = AttemptKey::Account("a@example.com".into());
        for _ in 0..20 {
            assert_eq!(l.fail(&k), Failure::Counted);
            clock.advance(4 * 60_000);
        }
    }

    #[test]
    fn device_cookies_are_signed_and_bound_to_the_account() {
        let key = [7u8; 32];
        let a = email("a@example.com");
        let b = email("b@example.com");
        let cookie = DeviceCookie::issue(&key, &a);
        assert!(matches!(
            DeviceCookie::attempt_key(&key, &a, Some(&cookie)),
            AttemptKey::Device { .. }
        ));
        // Another account, another key, tampering, junk: the shared counter.
        let shared = AttemptKey::Account("b@example.com".into());
        assert_eq!(DeviceCookie::attempt_key(&key, &b, Some(&cookie)), shared);
        let shared_a = AttemptKey::Account("a@example.com".into());
        assert_eq!(
            DeviceCookie::attempt_key(&[8u8; 32], &a, Some(&cookie)),
            shared_a
        );
        let mut tampered = cookie.clone();
        tampered.push('x');
        assert_eq!(
            DeviceCookie::attempt_key(&key, &a, Some(&tampered)),
            shared_a
        );
        for junk in ["", "a.b", "a.b.c.d", &"x".repeat(600)] {
            assert_eq!(DeviceCookie::attempt_key(&key, &a, Some(junk)), shared_a);
        }
    }

    #[test]
    fn a_device_keeps_working_while_the_account_is_locked_and_unlock_clears_all() {
        let clock = Arc::new(ManualClock::new(0));
        let l = Lockout::new(LockoutPolicy::default(), 100, clock);
        let key = [7u8; 32];
        let a = email("a@example.com");
        let shared = DeviceCookie::attempt_key(&key, &a, None);
        for _ in 0..5 {
            l.fail(&shared);
        }
        assert!(l.locked_for(&shared).is_some());
        let device = DeviceCookie::attempt_key(&key, &a, Some(&DeviceCookie::issue(&key, &a)));
        assert_eq!(l.locked_for(&device), None);
        for _ in 0..5 {
            l.fail(&device);
        }
        assert!(
            l.locked_for(&device).is_some(),
            "a device has its own limit"
        );
        l.unlock(&a);
        assert_eq!(l.locked_for(&shared), None);
        assert_eq!(l.locked_for(&device), None);
    }
}
