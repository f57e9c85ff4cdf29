//! Shared state handed to every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rampart_core::passwords::PasswordHasher;
use rampart_core::ratelimit::{Block, Decision, Limit};
use rampart_core::token::TokenService;
use rampart_store::Store;

use crate::config::Settings;
use crate::limits::{Admission, LimiterStore, LockoutStore, PenaltyStore, StoreUnavailable};
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
    /// Failed-login counters and locks: in memory, or in Redis shared by every process.
    pub lockout: LockoutStore,
    /// Prometheus counters and histograms of this server, served on the private listener.
    pub metrics: crate::metrics::Metrics,
    /// The audit trail and the key that signs its checkpoints.
    pub audit: crate::auditor::Auditor,
}

/// Rate-limit state: admissions per (policy, key), and the penalty box.
pub struct Limits {
    /// Sliding-window admissions: in memory, or in Redis shared by every process.
    pub store: LimiterStore,
    /// Graduated blocks: in memory, or in Redis shared by every process.
    pub penalties: PenaltyStore,
    store_errors: AtomicU64,
}

impl Limits {
    /// Rate-limit state over `store`.
    pub fn new(store: LimiterStore, penalties: PenaltyStore) -> Self {
        Self {
            store,
            penalties,
            store_errors: AtomicU64::new(0),
        }
    }

    /// [`LimiterStore::decide`], with every failure logged and counted (the caller decides
    /// what the failure means for the request).
    pub async fn decide(
        &self,
        policy: &str,
        key: &str,
        limit: Limit,
    ) -> Result<(Decision, Option<Admission>), StoreUnavailable> {
        let result = self.store.admit(policy, key, limit).await;
        if let Err(e) = &result {
            self.store_error(policy, e);
        }
        result
    }

    /// Logs and counts a failure of the shared store (`what`: the policy or the operation).
    pub fn store_error(&self, what: &str, e: &StoreUnavailable) {
        let total = self.store_errors.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(policy = what, error = %e, failures = total, "ratelimit.store_unavailable");
    }

    /// Milliseconds `key` remains in the penalty box. Fails open: a store that cannot be asked
    /// must not block every route (the failure is logged and counted).
    pub async fn blocked_for(&self, key: &str) -> Option<u64> {
        self.penalties.blocked_for(key).await.unwrap_or_else(|e| {
            self.store_error("penalties", &e);
            None
        })
    }

    /// Records a refusal of `key`; the block it started, if any. A strike the store cannot
    /// record is logged and counted, and starts no block.
    pub async fn strike(&self, key: &str) -> Option<Block> {
        self.penalties.strike(key).await.unwrap_or_else(|e| {
            self.store_error("penalties", &e);
            None
        })
    }

    /// Decisions the store could not make since start (Redis down or too slow).
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub use rampart_core::domain::{now_ms, now_secs};
