//! Configuration: defaults < `rampart.toml` < `RAMPART_*` environment variables, validated
//! into a typed [`Settings`] before anything listens.
//!
//! Environment variables map onto the file's keys with `__` between levels:
//! `RAMPART_ENV`, `RAMPART_LISTEN`, `RAMPART_DATA_DIR`, `RAMPART_DATABASE_URL`,
//! `RAMPART_TOKENS__ALGORITHM`, `RAMPART_CORS__ALLOWED_ORIGINS='["https://app.example"]'`,
//! `RAMPART_NETWORK__TRUSTED_PROXIES='["10.0.0.0/8"]'`, ...
//! Unknown keys in the file are errors (a typo must not silently fall back to a default);
//! `RAMPART_*` variables that name no section are ignored, since other tools share the prefix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use rampart_core::collections::schema::{CollectionSpec, RawCollection, build_schema};
use rampart_core::keys::SigningAlg;
use rampart_core::net::TrustedProxies;
use rampart_core::origin::{Origin, OriginAllowlist, OriginError};
use rampart_core::passwords::HashCost;
use rampart_core::ratelimit::{KeyKind, Limit, OnStoreError, Policy, default_policies};
use rampart_core::token::TokenSettings;
use serde::{Deserialize, Serialize};

pub use crate::logging::LogFormat;

/// Raw configuration as written in `rampart.toml`. Every field is documented where declared;
/// `rampart config check` prints the effective values with secrets masked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `development` (default: generates missing keys) or `production` (never generates
    /// secrets; refuses unsafe settings).
    pub env: String,
    /// Address and port of the public listener.
    pub listen: String,
    /// Directory for the embedded database and the generated key ring.
    pub data_dir: PathBuf,
    /// `postgres://...` to run on PostgreSQL; empty for embedded SQLite in `data_dir`.
    pub database_url: String,
    /// `redis://[user:password@]host:port/db` to keep rate-limit admissions in Redis, shared
    /// by every process that names it (run several `rampart serve` on one database); empty
    /// (default) keeps them in this process's memory. Secret: masked by `config check`.
    pub redis_url: String,
    /// Cross-origin access.
    pub cors: RawCors,
    /// Access and refresh tokens.
    pub tokens: RawTokens,
    /// Request limits and timeouts.
    pub limits: RawLimits,
    /// Password hashing.
    pub passwords: RawPasswords,
    /// Session revocation caching.
    pub sessions: RawSessions,
    /// Reverse proxies in front of the server (who may say who the client is).
    pub network: RawNetwork,
    /// Rate limiting.
    pub rate_limit: RawRateLimit,
    /// The audit trail.
    pub audit: RawAudit,
    /// Logging.
    pub log: RawLog,
    /// The private metrics listener.
    pub metrics: RawMetrics,
    /// Declared collections (`[[collections]]`), served at `/api/collections/{name}/records`.
    pub collections: Vec<RawCollection>,
    /// Where the configuration came from (for error messages); not a setting.
    #[serde(skip)]
    pub source: String,
}

/// The collections served when no configuration file is given.
pub const EXAMPLE_COLLECTIONS: &str = include_str!("../config/example-collections.toml");

/// `[cors]`
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawCors {
    /// Exact origins (`https://app.example`) allowed to make credentialed cross-origin
    /// requests. Empty: no cross-origin access. `*` and `null` are refused.
    pub allowed_origins: Vec<String>,
}

/// `[tokens]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTokens {
    /// `EdDSA` (default), `ES256` or `HS256`. Verification accepts this algorithm only.
    pub algorithm: String,
    /// The `iss` claim issued and required.
    pub issuer: String,
    /// The `aud` claim issued and required.
    pub audience: String,
    /// Access-token lifetime in seconds (default 900; production refuses more than 3600).
    pub access_ttl_secs: u64,
    /// Absolute refresh (session) lifetime in seconds (default 30 days).
    pub refresh_ttl_secs: u64,
    /// A session unused for this many seconds ends (default 7 days).
    pub refresh_idle_secs: u64,
    /// Seconds during which a just-rotated refresh token may be presented again and yields the
    /// same successor (two tabs refreshing at once). 0 disables. Default 5, at most 60.
    pub refresh_grace_secs: u64,
    /// Clock leeway for `exp`/`nbf` in seconds (at most 30).
    pub leeway_secs: u64,
    /// Path of the key ring file; empty for `<data_dir>/keys.json`.
    pub key_ring: String,
}

impl Default for RawTokens {
    fn default() -> Self {
        Self {
            algorithm: "EdDSA".into(),
            issuer: "rampart".into(),
            audience: "rampart-api".into(),
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            refresh_idle_secs: 7 * 24 * 3600,
            refresh_grace_secs: 5,
            leeway_secs: 30,
            key_ring: String::new(),
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// Largest request body in bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// Deepest JSON nesting accepted (default 32).
    pub max_json_depth: usize,
    /// Whole-request timeout in seconds (default 30; answered 408).
    pub request_timeout_secs: u64,
    /// Time allowed to send the request headers, in seconds (default 10); slower connections
    /// are closed (slowloris).
    pub header_read_timeout_secs: u64,
    /// Largest total size of request headers in bytes (default 16 KiB).
    pub max_header_bytes: usize,
    /// Concurrent connections accepted; further connections wait (default 1024).
    pub max_connections: usize,
    /// Seconds in-flight requests get to finish at shutdown (default 10).
    pub shutdown_grace_secs: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_json_depth: 32,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            shutdown_grace_secs: 10,
        }
    }
}

/// `[passwords]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPasswords {
    /// Argon2id memory in KiB (default and minimum 19456).
    pub memory_kib: u32,
    /// Argon2id iterations (default and minimum 2).
    pub iterations: u32,
    /// Argon2id lanes (default and minimum 1).
    pub parallelism: u32,
    /// Hashes run at once; 0 means one per CPU core.
    pub concurrency: usize,
    /// How long a login may wait for a hashing slot before 503 `busy`, in milliseconds.
    pub max_wait_ms: u64,
}

impl Default for RawPasswords {
    fn default() -> Self {
        Self {
            memory_kib: HashCost::OWASP_MIN.memory_kib,
            iterations: HashCost::OWASP_MIN.iterations,
            parallelism: HashCost::OWASP_MIN.parallelism,
            concurrency: 0,
            max_wait_ms: 2000,
        }
    }
}

/// `[sessions]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessions {
    /// How long a process trusts its cached view of a session (live or revoked, and the
    /// user's role), in milliseconds. This bounds how late another process sharing the
    /// database notices a revocation. Default 2000, at most 60000.
    pub cache_ttl_ms: u64,
}

impl Default for RawSessions {
    fn default() -> Self {
        Self { cache_ttl_ms: 2000 }
    }
}

/// `[network]`
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawNetwork {
    /// Reverse proxies whose `X-Forwarded-For` is believed: IP addresses or CIDR networks
    /// (`["10.0.0.0/8", "fd00::/8"]`). A request from one of them is attributed to the
    /// right-most forwarded address that is not itself listed; from anyone else, to the socket
    /// peer, whatever the header says. Empty (default): the socket peer is always the client.
    /// List only the proxies you run: a listed address can claim to be any client, so per-IP
    /// limits and logs are only as good as this list. Trusting everyone (`0.0.0.0/0`, `::/0`)
    /// is refused in production.
    pub trusted_proxies: Vec<String>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            env: "development".into(),
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./rampart-data"),
            database_url: String::new(),
            redis_url: String::new(),
            cors: RawCors::default(),
            tokens: RawTokens::default(),
            limits: RawLimits::default(),
            passwords: RawPasswords::default(),
            sessions: RawSessions::default(),
            network: RawNetwork::default(),
            rate_limit: RawRateLimit::default(),
            audit: RawAudit::default(),
            log: RawLog::default(),
            metrics: RawMetrics::default(),
            collections: Vec::new(),
            source: "defaults".into(),
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    /// The trail's SQLite file when the application runs on SQLite; empty (default):
    /// `audit.sqlite3` in `data_dir`. Kept apart from the application's database.
    pub path: String,
    /// `postgres://...` for a separate PostgreSQL database holding the trail; empty (default):
    /// the application's PostgreSQL database, in its own schema `rampart_audit`. Secret:
    /// masked by `config check`.
    pub database_url: String,
    /// The Ed25519 key that signs checkpoints (never the token-signing key); empty (default):
    /// `audit-key.json` in `data_dir`. Development creates it; production requires it
    /// (`rampart audit init-key`). Keep a copy of its public part away from the database host.
    pub key_file: String,
    /// Sign the chain's head after this many entries (default 100). Entries after the last
    /// checkpoint can be cut off without detection, so smaller is safer.
    pub checkpoint_every: u32,
    /// ... and at least this often while entries arrive, in seconds (default 60); and at shutdown.
    pub checkpoint_interval_secs: u64,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            path: String::new(),
            database_url: String::new(),
            key_file: String::new(),
            checkpoint_every: 100,
            checkpoint_interval_secs: 60,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `json` or `text`; empty (default): JSON in production, text in development.
    pub format: String,
    /// Level or filter (`info`, `warn,rampart::request=info`); `RUST_LOG` overrides it.
    /// Default `info`.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: String::new(),
            level: "info".into(),
        }
    }
}

/// `[metrics]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMetrics {
    /// Address of the private listener serving Prometheus `GET /metrics` (default
    /// `127.0.0.1:9464`, loopback); empty disables it. Never the public listener: metrics
    /// reveal traffic, error rates and user counts. A non-loopback address is refused in
    /// production unless it is a private (RFC 1918 / ULA) address.
    pub listen: String,
}

impl Default for RawMetrics {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

/// `[rate_limit]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimit {
    /// Off only behind a gateway that limits for you (production warns).
    pub enabled: bool,
    /// Most (policy, key) entries held in memory; bounds memory under a flood of distinct
    /// keys (see `rampart_core::ratelimit::MemoryLimiter`). Default 100000.
    pub max_keys: usize,
    /// Logins per target account (shared by every client without that account's device
    /// cookie): default 5 per 900 s.
    pub login_per_account: RawLimit,
    /// Policies; empty: the built-in ones (login 5/15 min and register 3/h per IP, refresh
    /// 30/5 min per IP, reads 100/min, writes 30/min, other methods 60/min per user or IP).
    pub policies: Vec<RawPolicy>,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        Self {
            enabled: true,
            max_keys: 100_000,
            login_per_account: RawLimit {
                max: 5,
                window_secs: 900,
            },
            policies: Vec::new(),
        }
    }
}

/// A limit: `max` requests per `window_secs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    /// Requests admitted per window.
    pub max: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

/// `[[rate_limit.policies]]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Name (logs, `RateLimit-Policy`).
    pub name: String,
    /// Methods (`GET`, `POST`, ...); empty: all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Route templates (`/api/auth/login`, `/api/collections/*`); empty: all.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Requests admitted per window.
    pub max: u32,
    /// Window length in seconds.
    pub window_secs: u64,
    /// `ip`, or `user_or_ip` (default).
    #[serde(default = "default_policy_key")]
    pub key: String,
    /// When Redis (`redis_url`) cannot be asked: `deny` (503 `unavailable`, fail closed) or
    /// `allow` (skip this policy, fail open). Default: `deny` when every route is under
    /// `/api/auth/`, `allow` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_store_error: Option<String>,
}

fn default_policy_key() -> String {
    "user_or_ip".into()
}

fn limit_of(setting: &str, raw: &RawLimit) -> Result<Limit, ConfigError> {
    if raw.max == 0 || raw.window_secs == 0 || raw.window_secs > 7 * 24 * 3600 {
        return Err(bad(
            setting,
            "max must be at least 1 and window_secs from 1 to 604800",
        ));
    }
    Ok(Limit {
        max: raw.max,
        window_ms: raw.window_secs * 1000,
    })
}

fn policies_of(raw: &RawRateLimit) -> Result<Vec<Policy>, ConfigError> {
    if raw.policies.is_empty() {
        return Ok(default_policies());
    }
    let mut names = std::collections::HashSet::new();
    raw.policies
        .iter()
        .map(|p| {
            let setting = format!("rate_limit.policies.{}", p.name);
            if p.name.is_empty() || !names.insert(p.name.clone()) {
                return Err(bad(&setting, "names must be non-empty and unique"));
            }
            let methods = p
                .methods
                .iter()
                .map(|m| {
                    let upper = m.to_ascii_uppercase();
                    const KNOWN: &[&str] =
                        &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
                    if KNOWN.contains(&upper.as_str()) {
                        Ok(upper)
                    } else {
                        Err(bad(
                            &setting,
                            format!("{m:?} is not an HTTP method Rampart serves"),
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(r) = p.routes.iter().find(|r| !r.starts_with('/')) {
                return Err(bad(&setting, format!("route {r:?} must start with /")));
            }
            let key = match p.key.as_str() {
                "ip" => KeyKind::Ip,
                "user_or_ip" => KeyKind::UserOrIp,
                other => {
                    return Err(bad(
                        &setting,
                        format!("key {other:?} is not ip or user_or_ip"),
                    ));
                }
            };
            let on_store_error = match p.on_store_error.as_deref() {
                None => OnStoreError::default_for(&p.routes),
                Some("deny") => OnStoreError::Deny,
                Some("allow") => OnStoreError::Allow,
                Some(other) => {
                    return Err(bad(
                        &setting,
                        format!("on_store_error {other:?} is not deny or allow"),
                    ));
                }
            };
            Ok(Policy {
                name: p.name.clone(),
                on_store_error,
                methods,
                routes: p.routes.clone(),
                limit: limit_of(
                    &setting,
                    &RawLimit {
                        max: p.max,
                        window_secs: p.window_secs,
                    },
                )?,
                key,
            })
        })
        .collect()
}

/// The sections `RAMPART_*` variables may set.
const ENV_KEYS: &[&str] = &[
    "env",
    "listen",
    "data_dir",
    "database_url",
    "redis_url",
    "cors",
    "tokens",
    "limits",
    "passwords",
    "sessions",
    "network",
    "rate_limit",
    "audit",
    "log",
    "metrics",
];

/// A configuration problem: which setting, and why. Start-up prints it and exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    /// The setting's dotted name.
    pub setting: String,
    /// What is wrong.
    pub reason: String,
}

fn bad(setting: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        reason: reason.into(),
    }
}

impl RawConfig {
    /// Loads defaults, then `file` (if given, it must exist; otherwise `rampart.toml` in the
    /// working directory if present), then `RAMPART_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        let source = match file {
            Some(path) => {
                if !path.exists() {
                    return Err(bad(
                        "--config",
                        format!("{} does not exist", path.display()),
                    ));
                }
                figment = figment.merge(Toml::file_exact(path));
                path.display().to_string()
            }
            None if Path::new("rampart.toml").exists() => {
                figment = figment.merge(Toml::file_exact("rampart.toml"));
                "rampart.toml".to_owned()
            }
            None => {
                // No configuration file: serve the bundled example collections.
                figment = figment.merge(Toml::string(EXAMPLE_COLLECTIONS));
                "the bundled example collections".to_owned()
            }
        };
        figment = figment.merge(
            Env::prefixed("RAMPART_")
                .split("__")
                .filter(|key| {
                    let top = key.as_str().split('.').next().unwrap_or_default();
                    ENV_KEYS.iter().any(|k| top.eq_ignore_ascii_case(k))
                })
                .lowercase(true),
        );
        let mut raw: RawConfig = figment.extract().map_err(|e| {
            let setting = e.path.join(".");
            let setting = if setting.is_empty() {
                "config".into()
            } else {
                setting
            };
            bad(&setting, format!("{} (in {source})", e.kind))
        })?;
        raw.source = source;
        Ok(raw)
    }
}

/// Which mode the server runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Generates what is missing, readable logs.
    Development,
    /// Refuses unsafe settings, never generates secrets, JSON logs.
    Production,
}

/// Where the audit trail lives.
#[derive(Debug, Clone)]
pub enum AuditDatabase {
    /// Its own SQLite file.
    Sqlite(PathBuf),
    /// PostgreSQL (schema `rampart_audit`) at this URL.
    Postgres(secrecy::SecretString),
}

/// Where data lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// Embedded SQLite at this path.
    Sqlite(PathBuf),
    /// PostgreSQL at this URL (secret: may hold a password).
    Postgres(secrecy::SecretString),
}

/// Validated settings. Constructed only by [`Settings::from_raw`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mode.
    pub mode: Mode,
    /// Public listener.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database.
    pub database: Database,
    /// Redis for shared rate limits (secret: may hold a password); `None`: in memory.
    pub redis_url: Option<secrecy::SecretString>,
    /// CORS allowlist.
    pub cors: OriginAllowlist,
    /// Token algorithm.
    pub alg: SigningAlg,
    /// Issuer.
    pub issuer: String,
    /// Audience.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Absolute session lifetime.
    pub refresh_ttl: Duration,
    /// Session idle timeout.
    pub refresh_idle: Duration,
    /// Refresh grace window.
    pub refresh_grace: Duration,
    /// Clock leeway.
    pub leeway: Duration,
    /// Key ring path.
    pub key_ring: PathBuf,
    /// Largest body.
    pub max_body_bytes: usize,
    /// Deepest JSON.
    pub max_json_depth: usize,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Header read timeout.
    pub header_read_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Connection cap.
    pub max_connections: usize,
    /// Shutdown grace.
    pub shutdown_grace: Duration,
    /// Argon2id cost.
    pub hash_cost: HashCost,
    /// Concurrent hashes.
    pub hash_concurrency: usize,
    /// Wait for a hashing slot.
    pub hash_max_wait: Duration,
    /// Session cache lifetime.
    pub session_cache_ttl: Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Rate-limit policies (empty when rate limiting is disabled).
    pub rate_limits: Vec<Policy>,
    /// Per-account login limit (`None` when rate limiting is disabled).
    pub login_account_limit: Option<Limit>,
    /// Most rate-limit, penalty and lockout entries held in memory.
    pub rate_limit_max_keys: usize,
    /// Where the audit trail is stored.
    pub audit_database: AuditDatabase,
    /// The audit key file.
    pub audit_key: PathBuf,
    /// Checkpoint after this many entries.
    pub audit_checkpoint_every: i64,
    /// Checkpoint at least this often while entries arrive.
    pub audit_checkpoint_interval: Duration,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log level or filter (`RUST_LOG` overrides it).
    pub log_level: String,
    /// The private metrics listener (`None`: disabled).
    pub metrics_listen: Option<SocketAddr>,
    /// Validated collection declarations.
    pub collections: Vec<CollectionSpec>,
    /// Settings that are unsafe but tolerated in development; logged at start.
    pub warnings: Vec<String>,
}

impl Settings {
    /// How access tokens are issued and verified: the `[tokens]` settings as
    /// [`TokenSettings`] (for the server and for tools that verify its tokens).
    pub fn token_settings(&self) -> TokenSettings {
        TokenSettings {
            alg: self.alg,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            access_ttl_secs: self.access_ttl.as_secs(),
            leeway_secs: self.leeway.as_secs(),
        }
    }

    /// Validates raw configuration. In production every unsafe value is an error; in
    /// development some become warnings.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let mode = match raw.env.as_str() {
            "development" | "dev" => Mode::Development,
            "production" | "prod" => Mode::Production,
            other => {
                return Err(bad(
                    "env",
                    format!("{other:?} is not development or production"),
                ));
            }
        };
        let production = mode == Mode::Production;
        let mut warnings = Vec::new();

        let listen: SocketAddr = raw.listen.parse().map_err(|_| {
            bad(
                "listen",
                format!("{:?} is not an ip:port address", raw.listen),
            )
        })?;

        let database = if raw.database_url.trim().is_empty() {
            Database::Sqlite(raw.data_dir.join("rampart.sqlite3"))
        } else if raw.database_url.starts_with("postgres://")
            || raw.database_url.starts_with("postgresql://")
        {
            Database::Postgres(raw.database_url.clone().into())
        } else {
            return Err(bad(
                "database_url",
                "must be a postgres:// URL, or empty for embedded SQLite",
            ));
        };

        let redis_url = redis_url_of(&raw.redis_url)?;

        let mut origins = Vec::new();
        for entry in &raw.cors.allowed_origins {
            match Origin::parse(entry) {
                Ok(origin) => origins.push(origin),
                Err(e @ (OriginError::Wildcard | OriginError::Null)) if !production => {
                    warnings.push(format!("cors.allowed_origins: ignoring {entry:?}: {e}"));
                }
                Err(e) => return Err(bad("cors.allowed_origins", e.to_string())),
            }
        }

        let alg = SigningAlg::parse(&raw.tokens.algorithm).ok_or_else(|| {
            bad(
                "tokens.algorithm",
                format!("{:?} is not EdDSA, ES256 or HS256", raw.tokens.algorithm),
            )
        })?;
        let t = &raw.tokens;
        if t.issuer.trim().is_empty() {
            return Err(bad("tokens.issuer", "must not be empty"));
        }
        if t.audience.trim().is_empty() {
            return Err(bad("tokens.audience", "must not be empty"));
        }
        if t.access_ttl_secs == 0 {
            return Err(bad("tokens.access_ttl_secs", "must be at least 1"));
        }
        if t.access_ttl_secs > 3600 {
            let msg = format!(
                "{} seconds exceeds 60 minutes; access tokens must be short-lived",
                t.access_ttl_secs
            );
            if production {
                return Err(bad("tokens.access_ttl_secs", msg));
            }
            warnings.push(format!("tokens.access_ttl_secs: {msg}"));
        }
        if t.refresh_ttl_secs == 0 || t.refresh_idle_secs == 0 {
            return Err(bad(
                "tokens.refresh_ttl_secs",
                "refresh lifetimes must be positive",
            ));
        }
        if t.refresh_grace_secs > 60 {
            return Err(bad("tokens.refresh_grace_secs", "must be at most 60"));
        }
        if t.leeway_secs > rampart_core::token::MAX_LEEWAY_SECS {
            return Err(bad("tokens.leeway_secs", "must be at most 30"));
        }
        let key_ring = if t.key_ring.trim().is_empty() {
            raw.data_dir.join("keys.json")
        } else {
            PathBuf::from(&t.key_ring)
        };

        let l = &raw.limits;
        if l.max_body_bytes == 0 || l.max_body_bytes > 64 * 1024 * 1024 {
            return Err(bad(
                "limits.max_body_bytes",
                "must be between 1 byte and 64 MiB",
            ));
        }
        if !(1..=128).contains(&l.max_json_depth) {
            return Err(bad("limits.max_json_depth", "must be between 1 and 128"));
        }
        if !(1..=600).contains(&l.request_timeout_secs) {
            return Err(bad(
                "limits.request_timeout_secs",
                "must be between 1 and 600",
            ));
        }
        if !(1..=120).contains(&l.header_read_timeout_secs) {
            return Err(bad(
                "limits.header_read_timeout_secs",
                "must be between 1 and 120",
            ));
        }
        if !(8192..=1024 * 1024).contains(&l.max_header_bytes) {
            return Err(bad(
                "limits.max_header_bytes",
                "must be between 8192 and 1048576",
            ));
        }
        if l.max_connections == 0 {
            return Err(bad("limits.max_connections", "must be at least 1"));
        }

        let p = &raw.passwords;
        let hash_cost = HashCost {
            memory_kib: p.memory_kib,
            iterations: p.iterations,
            parallelism: p.parallelism,
        };
        hash_cost
            .validate()
            .map_err(|e| bad("passwords", e.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hash_concurrency = if p.concurrency == 0 {
            cores
        } else {
            p.concurrency
        };

        if raw.sessions.cache_ttl_ms > 60_000 {
            return Err(bad("sessions.cache_ttl_ms", "must be at most 60000"));
        }
        let rl = &raw.rate_limit;
        if !(1000..=10_000_000).contains(&rl.max_keys) {
            return Err(bad("rate_limit.max_keys", "must be from 1000 to 10000000"));
        }
        let (rate_limits, login_account_limit) = if rl.enabled {
            (
                policies_of(rl)?,
                Some(limit_of(
                    "rate_limit.login_per_account",
                    &rl.login_per_account,
                )?),
            )
        } else {
            warnings.push("rate_limit.enabled = false: no request is rate limited".into());
            (Vec::new(), None)
        };
        let trusted_proxies = TrustedProxies::parse(&raw.network.trusted_proxies)
            .map_err(|e| bad("network.trusted_proxies", e))?;
        if trusted_proxies.trusts_everyone() {
            let msg = "trusts every address, so any client can choose its IP (and walk around \
                       per-IP limits) with X-Forwarded-For; list only your proxies";
            if production {
                return Err(bad("network.trusted_proxies", msg));
            }
            warnings.push(format!("network.trusted_proxies: {msg}"));
        }

        let collections = build_schema(&raw.collections)
            .map_err(|e| bad("collections", format!("{e} (in {})", raw.source)))?;

        let a = &raw.audit;
        let audit_database = if !a.database_url.trim().is_empty() {
            if !(a.database_url.starts_with("postgres://")
                || a.database_url.starts_with("postgresql://"))
            {
                return Err(bad(
                    "audit.database_url",
                    "must be a postgres:// URL, or empty",
                ));
            }
            AuditDatabase::Postgres(a.database_url.clone().into())
        } else {
            match &database {
                Database::Postgres(url) => AuditDatabase::Postgres(url.clone()),
                Database::Sqlite(_) if a.path.trim().is_empty() => {
                    AuditDatabase::Sqlite(raw.data_dir.join("audit.sqlite3"))
                }
                Database::Sqlite(_) => AuditDatabase::Sqlite(PathBuf::from(&a.path)),
            }
        };
        if let (AuditDatabase::Sqlite(trail), Database::Sqlite(app)) = (&audit_database, &database)
            && trail == app
        {
            return Err(bad(
                "audit.path",
                "must not be the application's database file",
            ));
        }
        let audit_key = if a.key_file.trim().is_empty() {
            raw.data_dir.join("audit-key.json")
        } else {
            PathBuf::from(&a.key_file)
        };
        if audit_key == key_ring {
            return Err(bad(
                "audit.key_file",
                "must not be the token key ring: the audit key signs nothing else",
            ));
        }
        if !(1..=1_000_000).contains(&a.checkpoint_every) {
            return Err(bad("audit.checkpoint_every", "must be from 1 to 1000000"));
        }
        if production && (a.checkpoint_every > 1000 || a.checkpoint_interval_secs > 3600) {
            warnings.push(
                "audit: entries after the last checkpoint can be cut off undetected; signing \
                 less often than every 1000 entries or every hour widens that window"
                    .into(),
            );
        }
        if !(1..=86_400).contains(&a.checkpoint_interval_secs) {
            return Err(bad(
                "audit.checkpoint_interval_secs",
                "must be from 1 to 86400",
            ));
        }

        let log_format = match (raw.log.format.as_str(), mode) {
            ("json", _) | ("", Mode::Production) => LogFormat::Json,
            ("text", _) | ("", Mode::Development) => LogFormat::Text,
            (other, _) => {
                return Err(bad("log.format", format!("{other:?} is not json or text")));
            }
        };
        if raw.log.level.trim().is_empty() {
            return Err(bad("log.level", "must not be empty (for example info)"));
        }

        let metrics_listen = if raw.metrics.listen.trim().is_empty() {
            None
        } else {
            let addr: SocketAddr = raw.metrics.listen.parse().map_err(|_| {
                bad(
                    "metrics.listen",
                    format!("{:?} is not an ip:port address", raw.metrics.listen),
                )
            })?;
            if addr.port() != 0 && addr.port() == listen.port() {
                return Err(bad(
                    "metrics.listen",
                    "must not be the public listener's port: metrics stay private",
                ));
            }
            let private = match addr.ip() {
                std::net::IpAddr::V4(ip) => ip.is_loopback() || ip.is_private(),
                std::net::IpAddr::V6(ip) => {
                    ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00
                }
            };
            if !private {
                let msg = format!(
                    "{addr} is reachable from outside; serve metrics on loopback or a private \
                     network"
                );
                if production {
                    return Err(bad("metrics.listen", msg));
                }
                warnings.push(format!("metrics.listen: {msg}"));
            }
            Some(addr)
        };

        Ok(Self {
            mode,
            listen,
            data_dir: raw.data_dir.clone(),
            database,
            redis_url,
            cors: OriginAllowlist::new(origins),
            alg,
            issuer: t.issuer.clone(),
            audience: t.audience.clone(),
            access_ttl: Duration::from_secs(t.access_ttl_secs),
            refresh_ttl: Duration::from_secs(t.refresh_ttl_secs),
            refresh_idle: Duration::from_secs(t.refresh_idle_secs),
            refresh_grace: Duration::from_secs(t.refresh_grace_secs),
            leeway: Duration::from_secs(t.leeway_secs),
            key_ring,
            max_body_bytes: l.max_body_bytes,
            max_json_depth: l.max_json_depth,
            request_timeout: Duration::from_secs(l.request_timeout_secs),
            header_read_timeout: Duration::from_secs(l.header_read_timeout_secs),
            max_header_bytes: l.max_header_bytes,
            max_connections: l.max_connections,
            shutdown_grace: Duration::from_secs(l.shutdown_grace_secs),
            hash_cost,
            hash_concurrency,
            hash_max_wait: Duration::from_millis(p.max_wait_ms),
            session_cache_ttl: Duration::from_millis(raw.sessions.cache_ttl_ms),
            trusted_proxies,
            rate_limits,
            login_account_limit,
            rate_limit_max_keys: rl.max_keys,
            audit_database,
            audit_key,
            audit_checkpoint_every: i64::from(a.checkpoint_every),
            audit_checkpoint_interval: Duration::from_secs(a.checkpoint_interval_secs),
            log_format,
            log_level: raw.log.level.clone(),
            metrics_listen,
            collections,
            warnings,
        })
    }
}

fn redis_url_of(url: &str) -> Result<Option<secrecy::SecretString>, ConfigError> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    if !(url.starts_with("redis://")
        || url.starts_with("redis+unix://")
        || url.starts_with("unix://"))
    {
        // Never echo the URL: it may hold a password.
        return Err(bad(
            "redis_url",
            "must be a redis:// (or unix://) URL, or empty to keep rate limits in memory; \
             rediss:// (TLS) is not supported by this build",
        ));
    }
    if redis::Client::open(url).is_err() {
        return Err(bad("redis_url", "is not a valid Redis URL"));
    }
    Ok(Some(url.to_owned().into()))
}

/// The effective configuration as TOML with secrets masked (for `rampart config check`).
pub fn masked(raw: &RawConfig) -> String {
    let mut shown = raw.clone();
    if !shown.database_url.is_empty() {
        shown.database_url = mask_url_password(&shown.database_url);
    }
    if !shown.redis_url.is_empty() {
        shown.redis_url = mask_url_password(&shown.redis_url);
    }
    if !shown.audit.database_url.is_empty() {
        shown.audit.database_url = mask_url_password(&shown.audit.database_url);
    }
    toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

/// Replaces the password in `scheme://user:password@host/...` with `****`, and the query
/// string (which may carry `password=`) too. The user part ends at the *last* `@`, so a
/// password with an unencoded `/`, `?` or `@` is still masked whole; anything unparsable is
/// masked entirely.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "****".into();
    };
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((userinfo, after)) => (Some(userinfo), after),
        None => (None, rest),
    };
    let after = match after.split_once('?') {
        Some((before_query, _)) => format!("{before_query}?****"),
        None => after.to_owned(),
    };
    match userinfo {
        Some(userinfo) => {
            let user = userinfo.split([':', '/', '?']).next().unwrap_or_default();
            format!("{scheme}://{user}:****@{after}")
        }
        None => format!("{scheme}://{after}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_safe() {
        let s = Settings::from_raw(&RawConfig::default()).unwrap();
        assert_eq!(s.mode, Mode::Development);
        assert_eq!(s.access_ttl, Duration::from_secs(900));
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        assert!(s.cors.is_empty());
    }

    #[test]
    fn production_refuses_unsafe_values() {
        let mut raw = RawConfig {
            env: "production".into(),
            ..RawConfig::default()
        };
        raw.cors.allowed_origins = vec!["*".into()];
        assert_eq!(
            Settings::from_raw(&raw).unwrap_err().setting,
            "cors.allowed_origins"
        );
        raw.cors.allowed_origins = vec!["null".into()];
        assert_eq!(
            Settings::from_raw(&raw).unwrap_err().setting,
            "cors.allowed_origins"
        );
        raw.cors.allowed_origins = vec![];
        raw.tokens.access_ttl_secs = 3601;
        assert_eq!(
            Settings::from_raw(&raw).unwrap_err().setting,
            "tokens.access_ttl_secs"
        );
    }

    #[test]
    fn trusted_proxies_are_validated() {
        use std::net::IpAddr;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();

        let s = Settings::from_raw(&RawConfig::default()).unwrap();
        assert!(s.trusted_proxies.is_empty());

        let mut raw = RawConfig::default();
        raw.network.trusted_proxies = vec!["10.0.0.0/8".into(), "fd00::1".into()];
        let s = Settings::from_raw(&raw).unwrap();
        assert!(s.trusted_proxies.contains(ip("10.1.2.3")));
        assert!(s.trusted_proxies.contains(ip("fd00::1")));
        assert!(!s.trusted_proxies.contains(ip("203.0.113.7")));
        assert!(s.warnings.is_empty());

        raw.network.trusted_proxies = vec!["10.0.0.0/8".into(), "10.0.0.0/33".into()];
        let err = Settings::from_raw(&raw).unwrap_err();
        assert_eq!(err.setting, "network.trusted_proxies");
        assert!(err.reason.contains("10.0.0.0/33"), "{err}");

        for everyone in ["0.0.0.0/0", "::/0"] {
            raw.network.trusted_proxies = vec!["10.0.0.0/8".into(), everyone.into()];
            raw.env = "development".into();
            let s = Settings::from_raw(&raw).unwrap();
            assert!(
                s.warnings
                    .iter()
                    .any(|w| w.starts_with("network.trusted_proxies")),
                "{:?}",
                s.warnings
            );
            raw.env = "production".into();
            assert_eq!(
                Settings::from_raw(&raw).unwrap_err().setting,
                "network.trusted_proxies"
            );
        }

        // The section is strict like every other.
        let unknown: Result<RawConfig, _> =
            toml::from_str("[network]\ntrusted_proxy = [\"10.0.0.0/8\"]\n");
        assert!(unknown.is_err());
        let parsed: RawConfig =
            toml::from_str("[network]\ntrusted_proxies = [\"10.0.0.0/8\"]\n").unwrap();
        assert_eq!(parsed.network.trusted_proxies, vec!["10.0.0.0/8"]);
    }

    #[test]
    fn weak_hashing_is_refused() {
        let mut raw = RawConfig::default();
        raw.passwords.memory_kib = 1024;
        assert_eq!(Settings::from_raw(&raw).unwrap_err().setting, "passwords");
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url_password("postgres://app:hunter2@db.internal:5432/rampart?sslmode=require"),
            "postgres://app:****@db.internal:5432/rampart?****"
        );
        assert_eq!(
            mask_url_password("postgres://db.internal/rampart"),
            "postgres://db.internal/rampart"
        );
        for url in [
            "postgres://app:hunter2/abc@127.0.0.1:1/db",
            "postgres://app:hun@ter2@127.0.0.1:1/db",
            "postgres://app:hunter2?x@127.0.0.1:1/db",
            "postgres://app@127.0.0.1:1/db?password=hunter2",
        ] {
            assert!(!mask_url_password(url).contains("hunter2"), "{url}");
            assert!(!mask_url_password(url).contains("ter2"), "{url}");
        }
    }

    #[test]
    fn redis_url_is_validated_and_masked() {
        let mut raw = RawConfig::default();
        assert!(Settings::from_raw(&raw).unwrap().redis_url.is_none());
        raw.redis_url = "redis://:hunter2@cache.internal:6379/0".into();
        assert!(Settings::from_raw(&raw).unwrap().redis_url.is_some());
        let shown = masked(&raw);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("redis://:****@cache.internal:6379/0"),
            "{shown}"
        );
        for bad_url in [
            "http://cache:6379",
            "rediss://:hunter2@cache:6379",
            "cache:6379",
        ] {
            raw.redis_url = bad_url.into();
            let err = Settings::from_raw(&raw).unwrap_err();
            assert_eq!(err.setting, "redis_url");
            assert!(!err.reason.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn on_store_error_defaults_to_deny_on_auth_routes_only() {
        let policy = |name: &str, routes: &[&str], on: Option<&str>| RawPolicy {
            name: name.into(),
            methods: Vec::new(),
            routes: routes.iter().map(|r| (*r).to_owned()).collect(),
            max: 1,
            window_secs: 1,
            key: "ip".into(),
            on_store_error: on.map(str::to_owned),
        };
        let mut raw = RawConfig::default();
        raw.rate_limit.policies = vec![
            policy("auth", &["/api/auth/login", "/api/auth/register"], None),
            policy("mixed", &["/api/auth/login", "/api/users/me"], None),
            policy("all", &[], None),
            policy("open-auth", &["/api/auth/refresh"], Some("allow")),
            policy("closed-reads", &["/api/users/me"], Some("deny")),
        ];
        let on: Vec<_> = Settings::from_raw(&raw)
            .unwrap()
            .rate_limits
            .iter()
            .map(|p| p.on_store_error)
            .collect();
        use OnStoreError::{Allow, Deny};
        assert_eq!(on, [Deny, Allow, Allow, Allow, Deny]);
        raw.rate_limit.policies = vec![policy("x", &[], Some("maybe"))];
        assert_eq!(
            Settings::from_raw(&raw).unwrap_err().setting,
            "rate_limit.policies.x"
        );
    }
}
