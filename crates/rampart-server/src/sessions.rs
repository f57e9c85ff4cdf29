//! What each process knows about sessions: live or revoked, whose, and the owner's current
//! role — cached so that an authenticated request costs at most one store lookup per session
//! per cache lifetime, and usually none.
//!
//! A revocation made by this process is effective at once (the cache entry is overwritten
//! with "revoked"). A revocation made by another process sharing the database is noticed when
//! this process's entry expires: within `sessions.cache_ttl_ms` (default 2 s).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rampart_core::domain::{SessionId, UserId};
use rampart_store::{SessionState, Store, StoreError};

/// Entries kept before expired ones are swept; a flood of distinct sessions cannot grow the
/// map past twice this.
const SWEEP_AT: usize = 100_000;

struct Entry {
    state: Option<SessionState>,
    at: Instant,
}

/// The per-process session cache.
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<SessionId, Entry>>,
}

impl SessionCache {
    /// A cache whose entries live for `ttl` (zero: always ask the store).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session's state, from the cache if fresh, else from the store. `None`: no such
    /// session (never existed, or its user was deleted).
    pub async fn state(
        &self,
        store: &Store,
        id: SessionId,
        now_ms: i64,
    ) -> Result<Option<SessionState>, StoreError> {
        if let Some(entry) = self.lock().get(&id)
            && entry.at.elapsed() < self.ttl
        {
            return Ok(entry.state);
        }
        let state = store.session_state(id, now_ms).await?;
        let mut entries = self.lock();
        if entries.len() >= SWEEP_AT {
            let ttl = self.ttl;
            entries.retain(|_, e| e.at.elapsed() < ttl);
            if entries.len() >= 2 * SWEEP_AT {
                entries.clear();
            }
        }
        entries.insert(
            id,
            Entry {
                state,
                at: Instant::now(),
            },
        );
        Ok(state)
    }

    /// Records that this process revoked a session: effective for the next request.
    pub fn revoked(&self, id: SessionId) {
        if let Some(entry) = self.lock().get_mut(&id) {
            if let Some(state) = entry.state.as_mut() {
                state.live = false;
            }
            entry.at = Instant::now();
        }
    }

    /// Drops everything cached about a user's sessions (role change, deletion, revoke-all),
    /// so the next request reads the store.
    pub fn forget_user(&self, user: UserId) {
        self.lock()
            .retain(|_, e| e.state.is_none_or(|s| s.user_id != user));
    }
}
