//! Start-up: from validated settings to a bound, running server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use http::StatusCode;
use rampart_core::audit::{AuditKey, AuditKeyError};
use rampart_core::error::ErrorCode;
use rampart_core::keys::{KeyRingError, KeyRingFile};
use rampart_core::lockout::{Lockout, LockoutPolicy};
use rampart_core::passwords::PasswordHasher;
use rampart_core::ratelimit::{Clock, MemoryLimiter, Penalties, PenaltyPolicy, SystemClock};
use rampart_core::token::TokenService;
use rampart_store::{AuditStore, Store};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::audit;
use crate::auditor::Auditor;
use crate::config::{AuditDatabase, ConfigError, Database, Mode, Settings};
use crate::error::AppError;
use crate::limits::{
    LimiterStore, LockoutStore, PenaltyStore, RedisLimiter, RedisLockout, RedisPenalties,
};
use crate::metrics::Metrics;
use crate::middleware::{
    authenticate, cors, envelope, methods, ratelimit, request_id, security_headers,
};
use crate::routes::routes;
use crate::sessions::SessionCache;
use crate::state::{AppState, Inner, Limits};

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is missing, invalid or unsafe: the operator must fix configuration
    /// (exit code 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Anything else (database unreachable, port taken, ...).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The whole pipeline around the routes. Read bottom-up as the order a request passes
/// through: request id, access log (and the request's audit context), security headers, CORS,
/// error envelope, audit recording, method allowlist, body cap, timeout, authentication, rate
/// limiting, then the route's own extractors (validation, authorization) and handler.
pub fn router(state: AppState) -> Router {
    let allowlist = Arc::new(state.settings.cors.clone());
    let timeout = state.settings.request_timeout;
    let max_body = state.settings.max_body_bytes;
    routes()
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), ratelimit::enforce))
        .layer(from_fn_with_state(
            state.clone(),
            authenticate::authenticate,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(from_fn(methods::allowlist))
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn(envelope::render))
        .layer(cors::layer(Arc::clone(&allowlist)))
        .layer(from_fn_with_state(allowlist, cors::strip_for_disallowed))
        .layer(from_fn(security_headers::apply))
        .layer(from_fn_with_state(state.clone(), audit::access_log))
        .layer(from_fn(request_id::assign))
        .with_state(state)
}

async fn not_found() -> AppError {
    ErrorCode::NotFound.into()
}

/// Loads the key ring. Development generates one on first start (and a key of the configured
/// algorithm when the ring holds another); production only ever reads what the operator put
/// there, and refuses a ring that is missing, unreadable, exposed or weak.
pub fn load_key_ring(settings: &Settings) -> Result<KeyRingFile, ConfigError> {
    let path = &settings.key_ring;
    let as_config = |e: KeyRingError| ConfigError {
        setting: "tokens.key_ring".into(),
        reason: e.to_string(),
    };
    let now = i64::try_from(crate::state::now_secs()).unwrap_or(i64::MAX);
    let mut ring = match (KeyRingFile::load(path), settings.mode) {
        (Ok(ring), _) => ring,
        (Err(KeyRingError::Missing(_)), Mode::Development) => {
            let ring = KeyRingFile::generate(settings.alg, now);
            ring.save(path).map_err(as_config)?;
            tracing::info!(
                path = %path.display(),
                alg = settings.alg.as_str(),
                "generated a development signing key ring (mode 0600); production never generates keys"
            );
            ring
        }
        (Err(e), _) => return Err(as_config(e)),
    };
    let active_alg = ring.active_key().map(|k| k.alg);
    if active_alg != Some(settings.alg) {
        if settings.mode == Mode::Production {
            return Err(ConfigError {
                setting: "tokens.algorithm".into(),
                reason: format!(
                    "the key ring's active key is not {}; run `rampart keys rotate`",
                    settings.alg.as_str()
                ),
            });
        }
        let kid = ring.rotate(settings.alg, now);
        ring.save(path).map_err(as_config)?;
        tracing::info!(%kid, alg = settings.alg.as_str(), "added a development key for the configured algorithm");
    }
    Ok(ring)
}

/// Opens the configured database.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    use anyhow::Context;
    match &settings.database {
        Database::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                create_private_dir(dir)
                    .with_context(|| format!("cannot create data directory {}", dir.display()))?;
            }
            Store::open_sqlite(path)
                .await
                .with_context(|| format!("cannot open SQLite database {}", path.display()))
        }
        Database::Postgres(url) => Store::open_postgres(url.expose_secret())
            .await
            .context("cannot connect to PostgreSQL (RAMPART_DATABASE_URL)"),
    }
}

/// Loads the audit key. Development creates it on first start; production only reads it.
pub fn load_audit_key(settings: &Settings) -> Result<AuditKey, ConfigError> {
    let path = &settings.audit_key;
    let as_config = |e: AuditKeyError| ConfigError {
        setting: "audit.key_file".into(),
        reason: e.to_string(),
    };
    match (AuditKey::load(path), settings.mode) {
        (Ok(key), _) => Ok(key),
        (Err(AuditKeyError::Missing(_)), Mode::Development) => {
            let key = AuditKey::create(path).map_err(as_config)?;
            tracing::info!(path = %path.display(), kid = key.kid(), "generated a development audit key (mode 0600)");
            Ok(key)
        }
        (Err(e), _) => Err(as_config(e)),
    }
}

/// Opens the audit trail's store (`create`: create and migrate it if needed; without it, a
/// missing trail is an error).
pub async fn open_audit_store(settings: &Settings, create: bool) -> anyhow::Result<AuditStore> {
    use anyhow::Context;
    match &settings.audit_database {
        AuditDatabase::Sqlite(path) => {
            if create && let Some(dir) = path.parent() {
                create_private_dir(dir).with_context(|| {
                    format!("cannot create the audit directory {}", dir.display())
                })?;
            }
            AuditStore::open_sqlite(path, create)
                .await
                .with_context(|| format!("cannot open the audit trail {}", path.display()))
        }
        AuditDatabase::Postgres(url) => AuditStore::open_postgres(url.expose_secret(), create)
            .await
            .context("cannot open the audit trail on PostgreSQL"),
    }
}

/// Creates a directory readable only by its owner (it will hold the database and keys).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Builds the shared state: store, key ring, token service, hasher, session cache, limits.
pub async fn build_state(settings: Settings) -> Result<AppState, StartupError> {
    build_state_with_clock(settings, Arc::new(SystemClock::new())).await
}

/// [`build_state`] with the clock rate limits run on (tests move time by hand). With
/// `redis_url` set, admissions, penalties and lockouts are kept in Redis on Redis's clock
/// instead (shared by every process using it).
pub async fn build_state_with_clock(
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> Result<AppState, StartupError> {
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    create_private_dir(&settings.data_dir).map_err(|e| {
        StartupError::Other(anyhow::anyhow!(
            "cannot create data directory {}: {e}",
            settings.data_dir.display()
        ))
    })?;
    let ring = load_key_ring(&settings)?;
    let tokens = TokenService::new(settings.token_settings(), &ring).map_err(|e| ConfigError {
        setting: "tokens.key_ring".into(),
        reason: e.to_string(),
    })?;
    let audit_key = load_audit_key(&settings)?;
    let store = open_store(&settings).await?;
    let audit = Auditor::new(
        open_audit_store(&settings, true).await?,
        audit_key,
        settings.audit_checkpoint_every,
    );
    for spec in &settings.collections {
        store.ensure_collection(spec).await.map_err(|e| {
            StartupError::Other(anyhow::anyhow!(
                "cannot prepare storage for collection {}: {e}",
                spec.name.as_str()
            ))
        })?;
    }
    let hasher = PasswordHasher::new(
        settings.hash_cost,
        settings.hash_concurrency,
        settings.hash_max_wait,
    )
    .map_err(|e| ConfigError {
        setting: "passwords".into(),
        reason: e.to_string(),
    })?;
    let sessions = SessionCache::new(settings.session_cache_ttl);
    let (limiter, penalties, lockout) = match &settings.redis_url {
        None => (
            LimiterStore::Memory(MemoryLimiter::new(
                settings.rate_limit_max_keys,
                Arc::clone(&clock),
            )),
            PenaltyStore::Memory(Penalties::new(
                PenaltyPolicy::default(),
                settings.rate_limit_max_keys,
                Arc::clone(&clock),
            )),
            LockoutStore::Memory(Lockout::new(
                LockoutPolicy::default(),
                settings.rate_limit_max_keys,
                clock,
            )),
        ),
        Some(url) => {
            let redis = RedisLimiter::connect(url.expose_secret())
                .await
                .map_err(|e| {
                    StartupError::Other(anyhow::anyhow!(
                        "cannot connect to Redis (redis_url / RAMPART_REDIS_URL): {e}"
                    ))
                })?;
            (
                LimiterStore::Redis(redis.clone()),
                PenaltyStore::Redis(RedisPenalties::new(&redis, PenaltyPolicy::default())),
                LockoutStore::Redis(RedisLockout::new(&redis, LockoutPolicy::default())),
            )
        }
    };
    let limits = Limits::new(limiter, penalties);
    Ok(AppState(Arc::new(Inner {
        settings,
        store,
        tokens,
        hasher,
        sessions,
        limits,
        lockout,
        metrics: Metrics::new(),
        audit,
    })))
}

/// Watches the key ring file and installs a changed ring (after `rampart keys rotate` or
/// `retire`) within `every`. A ring that fails its checks is logged and not installed.
pub fn spawn_key_ring_watcher(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    let path = state.settings.key_ring.clone();
    let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // Taken now, not when the task first runs: a change made in between must not be missed.
    let mut seen = stamp(&path);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let now = stamp(&path);
            if now == seen {
                continue;
            }
            seen = now;
            match KeyRingFile::load(&path)
                .map_err(|e| e.to_string())
                .and_then(|ring| {
                    state.tokens.install(&ring).map_err(|e| e.to_string())?;
                    Ok(ring)
                }) {
                Ok(ring) => {
                    tracing::info!(active_kid = %ring.active, keys = ring.keys.len(), "key ring reloaded")
                }
                Err(e) => tracing::error!(error = %e, "key ring changed but was not installed"),
            }
        }
    })
}

/// A server bound to its address, ready to run.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Builds the state and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let listen = settings.listen;
        let state = build_state(settings).await?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let metrics_listener = match state.settings.metrics_listen {
            None => None,
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen on {addr} for metrics (metrics.listen): {e}")
            })?),
        };
        Ok(Self {
            listener,
            metrics_listener,
            state,
        })
    }

    /// The private metrics listener's address, when enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (tests use it to reach the store).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests within the grace
    /// period and closes the database.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, mode = ?self.state.settings.mode, "rampart listening on http://{addr}");
        let watcher = spawn_key_ring_watcher(self.state.clone(), Duration::from_secs(2));
        let checkpointer = audit::spawn_checkpointer(
            self.state.clone(),
            self.state.settings.audit_checkpoint_interval,
        );
        let (stop_metrics, metrics_stopped) = tokio::sync::watch::channel(());
        let metrics = self.metrics_listener.map(|listener| {
            let addr = listener.local_addr().ok();
            tracing::info!(addr = ?addr, "metrics listening (private)");
            let app = crate::routes::metrics::router(self.state.clone());
            let settings = self.state.settings.clone();
            let mut stopped = metrics_stopped;
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.changed().await;
                };
                if let Err(e) = crate::serve::serve(listener, app, &settings, shutdown).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            })
        });
        let app = router(self.state.clone());
        crate::serve::serve(self.listener, app, &self.state.settings, shutdown).await?;
        watcher.abort();
        checkpointer.abort();
        drop(stop_metrics);
        if let Some(task) = metrics {
            let _ = task.await;
        }
        // The shutdown checkpoint: everything answered so far is covered by a signature.
        if let Err(e) = self.state.audit.checkpoint().await {
            tracing::error!(error = %e, "audit checkpoint at shutdown failed");
        }
        self.state.audit.store().close().await;
        self.state.store.close().await;
        tracing::info!("rampart stopped");
        Ok(())
    }
}
