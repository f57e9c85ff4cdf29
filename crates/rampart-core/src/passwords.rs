//! Password hashing (Argon2id) off the async workers, behind a concurrency cap.
//!
//! Threat: a login flood. Each Argon2id hash costs ~19 MiB and ~20 ms of one core, so
//! unbounded hashing starves every other route and can exhaust memory (512 blocking
//! threads × 19 MiB). [`PasswordHasher`] admits at most `concurrency` hashes at a time, queues
//! the rest for at most `max_wait`, and then refuses with [`HashError::Busy`] so the caller
//! can answer 503 with `Retry-After` instead of queueing forever.
//!
//! Threat: a login flood starving everything else of CPU. Hashes run on threads of their own
//! (`rampart-hash-N`, one per slot) at a lower scheduling priority than the threads that
//! answer requests (nice +10 on Linux): when the machine is busy, the scheduler gives most of
//! the CPU to the API and the logins wait (and are shed after `max_wait`); when it is idle,
//! logins get all of it. Measured in `bench/` (the login-flood scenario).
//!
//! Threat: account enumeration by timing. [`PasswordHasher::verify`] with no stored hash
//! verifies against a dummy hash made with the same parameters, so unknown and known emails
//! cost the same work.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::domain::{LoginPassword, NewPassword};

/// Argon2id cost parameters. The defaults are OWASP's minimum; configuration may only raise
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashCost {
    /// OWASP's recommended minimum: m = 19 MiB, t = 2, p = 1.
    pub const OWASP_MIN: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// Checks the cost is at least OWASP's minimum and within what Argon2 supports.
    pub fn validate(self) -> Result<Params, &'static str> {
        if self.memory_kib < Self::OWASP_MIN.memory_kib
            || self.iterations < Self::OWASP_MIN.iterations
            || self.parallelism < Self::OWASP_MIN.parallelism
        {
            return Err("must be at least m=19456 KiB, t=2, p=1 (OWASP's minimum)");
        }
        if self.memory_kib > 4 * 1024 * 1024 || self.parallelism > 16 || self.iterations > 64 {
            return Err("is beyond what a server can afford per login");
        }
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|_| "is not a valid Argon2 parameter set")
    }
}

impl Default for HashCost {
    fn default() -> Self {
        Self::OWASP_MIN
    }
}

/// Why hashing did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot stayed taken for the whole wait: shed load.
    #[error("password hashing is saturated")]
    Busy,
    /// The hash could not be computed (or a stored hash is unreadable).
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// A PHC-format Argon2id hash, as stored.
#[derive(Clone)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored hash string.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The PHC string, for the store only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

/// How much lower than the request threads the hashing threads are scheduled: nice +10 has
/// about a tenth of the CPU weight of nice 0 under Linux's scheduler.
const HASH_THREAD_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads. They stop when the hasher (and so the sender) is dropped.
struct HashThreads {
    jobs: SyncSender<Job>,
}

impl HashThreads {
    fn start(count: usize) -> Result<Self, HashError> {
        // Room for one job per thread: the permits never let more than `count` be in flight.
        let (jobs, queue) = sync_channel::<Job>(count);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("rampart-hash-{i}"))
                .spawn(move || {
                    lower_own_priority();
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = next else { return };
                        // A panicking job drops its result channel (the caller sees an
                        // internal error); the thread stays.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| HashError::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }
}

/// Lowers the calling thread's scheduling priority (Linux: `setpriority` on its thread id,
/// which affects that thread only). Lowering one's own priority needs no privilege; if the
/// system refuses anyway, hashing still works, only without the protection.
fn lower_own_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASH_THREAD_NICE)
    {
        tracing::warn!(error = %e, "could not lower the priority of a password-hashing thread");
    }
}

/// Hashes and verifies passwords on threads of their own with a concurrency cap.
pub struct PasswordHasher {
    params: Params,
    threads: HashThreads,
    permits: Arc<Semaphore>,
    max_wait: Duration,
    dummy: PasswordHash,
    waiting: AtomicUsize,
    shed: AtomicUsize,
}

impl PasswordHasher {
    /// Builds a hasher that runs at most `concurrency` hashes at once and lets a request wait
    /// at most `max_wait` for a slot. Computes the dummy hash once (blocking, ~20 ms).
    pub fn new(cost: HashCost, concurrency: usize, max_wait: Duration) -> Result<Self, HashError> {
        let params = cost.validate().map_err(|e| HashError::Internal(e.into()))?;
        let dummy = hash_blocking(&params, "rampart dummy password for equal work")?;
        let concurrency = concurrency.max(1);
        Ok(Self {
            params,
            threads: HashThreads::start(concurrency)?,
            permits: Arc::new(Semaphore::new(concurrency)),
            max_wait,
            dummy,
            waiting: AtomicUsize::new(0),
            shed: AtomicUsize::new(0),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, HashError> {
        let secret = SecretString::from(password.expose().to_owned());
        let params = self.params.clone();
        self.run(move || hash_blocking(&params, secret.expose_secret()))
            .await
    }

    /// Verifies a presented password against a stored hash, or against the dummy hash when
    /// there is none (unknown account), so both cases cost the same. Returns whether it matched;
    /// with no stored hash the answer is always `false`.
    pub async fn verify(
        &self,
        password: &LoginPassword,
        stored: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        let secret = SecretString::from(password.expose().to_owned());
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy).clone();
        let matched = self
            .run(move || {
                let parsed = argon2::PasswordHash::new(hash.as_str())
                    .map_err(|_| HashError::Internal("stored hash is unreadable".into()))?;
                Ok(Argon2::default()
                    .verify_password(secret.expose_secret().as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(known && matched)
    }

    /// Requests currently waiting for a hashing slot.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Requests refused because no slot freed up in time, since start.
    pub fn shed_count(&self) -> usize {
        self.shed.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit =
            tokio::time::timeout(self.max_wait, Arc::clone(&self.permits).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let permit = match permit {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => {
                self.shed.fetch_add(1, Ordering::Relaxed);
                return Err(HashError::Busy);
            }
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = done.send(work());
        });
        self.threads.jobs.try_send(job).map_err(|e| {
            HashError::Internal(match e {
                TrySendError::Full(_) => "hashing queue full".into(),
                TrySendError::Disconnected(_) => "hashing threads stopped".into(),
            })
        })?;
        result
            .await
            .map_err(|_| HashError::Internal("hashing task failed".into()))?
    }
}

fn hash_blocking(params: &Params, password: &str) -> Result<PasswordHash, HashError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password(password.as_bytes())
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| HashError::Internal(format!("hashing failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_below_owasp_is_refused() {
        assert!(HashCost::OWASP_MIN.validate().is_ok());
        let weak = HashCost {
            memory_kib: 4096,
            ..HashCost::OWASP_MIN
        };
        assert!(weak.validate().is_err());
    }

    #[tokio::test]
    async fn hash_and_verify_round_trip() {
        let hasher = PasswordHasher::new(HashCost::default(), 2, Duration::from_secs(5)).unwrap();
        let pw = NewPassword::parse("correct horse battery staple", None).unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let good = LoginPassword::parse("correct horse battery staple").unwrap();
        let bad = LoginPassword::parse("correct horse battery stapler").unwrap();
        assert!(hasher.verify(&good, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&bad, Some(&hash)).await.unwrap());
        // No stored hash: the dummy is verified, and the answer is still "no".
        assert!(!hasher.verify(&good, None).await.unwrap());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_on_their_own_lower_priority_threads() {
        use rustix::process::getpriority_process;
        use rustix::thread::gettid;
        let hasher = PasswordHasher::new(HashCost::OWASP_MIN, 2, Duration::from_secs(5)).unwrap();
        let (nice, name) = hasher
            .run(|| {
                let nice = getpriority_process(Some(gettid())).unwrap_or(i32::MIN);
                Ok((nice, std::thread::current().name().map(str::to_owned)))
            })
            .await
            .unwrap();
        let ours = getpriority_process(Some(gettid())).unwrap();
        assert!(
            nice > ours || ours == 19,
            "hash thread nice {nice}, request thread {ours}"
        );
        assert!(name.is_some_and(|n| n.starts_with("rampart-hash-")));
    }

    #[tokio::test]
    async fn a_panicking_hash_is_an_error_and_the_threads_go_on() {
        let hasher = PasswordHasher::new(HashCost::OWASP_MIN, 1, Duration::from_secs(5)).unwrap();
        let failed = hasher
            .run(|| -> Result<(), HashError> { panic!("boom") })
            .await;
        assert!(matches!(failed, Err(HashError::Internal(_))));
        let password = NewPassword::parse("a long enough passphrase 42", None).unwrap();
        assert!(
            hasher.hash(&password).await.is_ok(),
            "the slot was given back"
        );
    }

    #[tokio::test]
    async fn saturated_hasher_sheds_instead_of_queueing_forever() {
        let hasher = Arc::new(
            PasswordHasher::new(HashCost::default(), 1, Duration::from_millis(0)).unwrap(),
        );
        // Hold the only slot, then ask for another: the wait bound is zero.
        let held = Arc::clone(&hasher.permits).acquire_owned().await.unwrap();
        let pw = LoginPassword::parse("whatever it is here").unwrap();
        assert!(matches!(
            hasher.verify(&pw, None).await,
            Err(HashError::Busy)
        ));
        assert_eq!(hasher.shed_count(), 1);
        drop(held);
        assert!(hasher.verify(&pw, None).await.is_ok());
    }
}
