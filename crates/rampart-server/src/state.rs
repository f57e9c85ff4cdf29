//! Shared state handed to every handler.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_core::lockout::Lockout;
use rampart_core::passwords::PasswordHasher;
use rampart_core::ratelimit::{MemoryLimiter, Penalties};
use rampart_core::token::TokenService;
use rampart_store::Store;

use crate::config::Settings;
use crate::sessions::SessionCache;

/// Everything a request may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    /// Validated settings.
    pub settings: Settings,
    /// The database.
    pub store: Store,
    /// Token issuing and verification with the live key ring.
    pub tokens: TokenService,
    /// Argon2id behind the concurrency cap.
    pub hasher: PasswordHasher,
    /// Session liveness and roles.
    pub sessions: SessionCache,
    /// Rate-limit state.
    pub limits: Limits,
    /// Failed-login counters and locks.
    pub lockout: Lockout,
}

/// Rate-limit state: admissions per (policy, key), and the penalty box.
pub struct Limits {
    /// Sliding-window admissions.
    pub store: MemoryLimiter,
    /// Graduated blocks.
    pub penalties: Penalties,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, in unix seconds.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
