//! The audit trail's writer: the store, the key that signs checkpoints, when to sign, and the
//! group commit every request's entries go through. Knows nothing about HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rampart_core::audit::{AuditKey, Event};
use rampart_store::{AuditStore, CheckpointEvery, StoreError};

use rampart_core::domain::now_ms;

/// The trail, the key that signs its checkpoints, and when to sign.
///
/// Appends go through one writer task that commits whatever requests are waiting as one
/// transaction (group commit): each request still waits for its own entries to be durable, but
/// a burst of audited requests costs one commit, not one each. So a flood of refused requests
/// cannot queue every legitimate write behind one fsync per refusal.
pub struct Auditor {
    store: AuditStore,
    key: Arc<AuditKey>,
    throttle: Throttle,
    queue: tokio::sync::mpsc::Sender<Batch>,
}

/// One request's events and who waits for them.
struct Batch {
    events: Vec<Event>,
    done: tokio::sync::oneshot::Sender<Result<usize, String>>,
}

/// Most events one commit takes.
const MAX_GROUP: usize = 1024;
/// Requests that may wait for the writer before more wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

/// Why events could not be appended (the store's error as text, for the log only).
#[derive(Debug, thiserror::Error)]
#[error("the audit trail could not be written: {0}")]
pub struct AuditUnavailable(String);

impl From<tokio::task::JoinError> for AuditUnavailable {
    fn from(e: tokio::task::JoinError) -> Self {
        Self(format!("the append task failed: {e}"))
    }
}

impl Auditor {
    /// An auditor over `store`, signing with `key` every `every_entries` entries. Starts the
    /// writer task (needs a Tokio runtime); it ends when the auditor is dropped.
    pub fn new(store: AuditStore, key: AuditKey, every_entries: i64) -> Self {
        let key = Arc::new(key);
        let (queue, waiting) = tokio::sync::mpsc::channel(QUEUE);
        tokio::spawn(write_groups(
            store.clone(),
            Arc::clone(&key),
            CheckpointEvery {
                entries: every_entries.max(1),
            },
            waiting,
        ));
        Self {
            store,
            key,
            throttle: Throttle::default(),
            queue,
        }
    }

    /// Whether the writer task still takes appends (it ends only if it panicked).
    pub fn writer_alive(&self) -> bool {
        !self.queue.is_closed()
    }

    /// The trail's store.
    pub fn store(&self) -> &AuditStore {
        &self.store
    }

    /// The audit key.
    pub fn key(&self) -> &AuditKey {
        &self.key
    }

    /// Appends `events`, in order and contiguous in the chain; returns once they are committed.
    pub async fn append(&self, events: Vec<Event>) -> Result<usize, AuditUnavailable> {
        let (done, committed) = tokio::sync::oneshot::channel();
        self.queue
            .send(Batch { events, done })
            .await
            .map_err(|_| AuditUnavailable("the writer has stopped".into()))?;
        committed
            .await
            .map_err(|_| AuditUnavailable("the writer has stopped".into()))?
            .map_err(AuditUnavailable)
    }

    /// Whether a refusal by `key` (client and policy) is recorded now, and how many refusals
    /// the entry stands for; `None`: only counted (see [`THROTTLE_WINDOW_MS`]).
    pub fn admit_refusal(&self, key: String, now: i64) -> Option<u64> {
        self.throttle.admit(key, now)
    }

    /// Signs the head if it moved since the last checkpoint.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Some(c) = self.store.checkpoint(&self.key, now_ms()).await? {
            tracing::info!(seq = c.seq, "audit checkpoint signed");
        }
        Ok(())
    }
}

/// The writer: takes every batch waiting (up to [`MAX_GROUP`] events), commits them in one
/// transaction, and answers each waiter.
async fn write_groups(
    store: AuditStore,
    key: Arc<AuditKey>,
    every: CheckpointEvery,
    mut waiting: tokio::sync::mpsc::Receiver<Batch>,
) {
    while let Some(first) = waiting.recv().await {
        let mut group = vec![first];
        let mut size = group[0].events.len();
        while size < MAX_GROUP {
            match waiting.try_recv() {
                Ok(batch) => {
                    size += batch.events.len();
                    group.push(batch);
                }
                Err(_) => break,
            }
        }
        let mut events = Vec::with_capacity(size);
        let mut answers = Vec::with_capacity(group.len());
        for batch in group {
            answers.push((batch.events.len(), batch.done));
            events.extend(batch.events);
        }
        let result = store.append(&events, now_ms(), &key, every).await;
        for (n, done) in answers {
            // A waiter that gave up (its request was cancelled) needs no answer.
            let _ = done.send(match &result {
                Ok(_) => Ok(n),
                Err(e) => Err(e.to_string()),
            });
        }
    }
}

/// Rate-limit refusals are recorded at most once per client and policy per this window, with
/// the number of refusals it stands for: a flood of refused requests must not become a flood
/// of durable writes (the metrics still count every one).
const THROTTLE_WINDOW_MS: i64 = 10_000;
/// Most clients the throttle remembers; beyond that it starts over (recording more, not less).
const THROTTLE_MAX_KEYS: usize = 100_000;

#[derive(Default)]
struct Throttle(Mutex<HashMap<String, (i64, u64)>>);

impl Throttle {
    /// `Some(n)`: record now, standing for `n` refusals; `None`: only counted.
    fn admit(&self, key: String, now: i64) -> Option<u64> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= THROTTLE_MAX_KEYS {
            map.clear();
        }
        let slot = map.entry(key).or_insert((i64::MIN, 0));
        slot.1 += 1;
        if now.saturating_sub(slot.0) >= THROTTLE_WINDOW_MS {
            let n = slot.1;
            *slot = (now, 0);
            Some(n)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_records_one_refusal_per_window_with_its_count() {
        let t = Throttle::default();
        assert_eq!(t.admit("a".into(), 0), Some(1));
        assert_eq!(t.admit("a".into(), 1), None);
        assert_eq!(t.admit("a".into(), 2), None);
        assert_eq!(t.admit("b".into(), 2), Some(1));
        assert_eq!(t.admit("a".into(), THROTTLE_WINDOW_MS), Some(3));
        assert_eq!(t.admit("a".into(), THROTTLE_WINDOW_MS + 1), None);
    }
}
