//! Storage for accounts, sessions and refresh tokens, on embedded SQLite or on PostgreSQL.
//!
//! **Invariant:** this is the only crate that contains SQL. Every statement is a `&'static str`
//! with bound parameters (sqlx refuses anything else without an explicit opt-out), so no user
//! text can become SQL. One set of statements and one set of migrations serve both backends:
//! columns are `TEXT` and `BIGINT` only, and `$n` placeholders work on both. [`Store`] dispatches each call to the
//! pool it holds; the statement text is written once.
//!
//! **API boundary:** callers pass and receive domain types from `rampart-core` (`UserId`,
//! `Email`, `Role`, ...), never rows or raw strings they would have to re-check.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rampart_core::domain::{DisplayName, Email, PageLimit, Role, SessionId, UserId};
use rampart_core::passwords::PasswordHash;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The schema, for both backends (`migrations/`).
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (for example a duplicate email).
    #[error("conflict with an existing record")]
    Conflict,
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value no longer parses as its domain type.
    #[error("stored data is corrupt: {0}")]
    Corrupt(&'static str),
}

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: std::sync::Arc<Backend>,
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds. The body is written
/// once and compiled for each backend.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &*$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

/// Starting a write transaction differs per backend: SQLite must take its write lock up front
/// (`BEGIN IMMEDIATE`), or a read-then-write transaction fails instead of waiting when another
/// connection wrote in between.
trait WritePool {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl WritePool for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl WritePool for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

fn map_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(e),
    }
}

mod audit;
mod records;
pub use audit::{AUDIT_SCHEMA, AuditFilter, AuditStore, CheckpointEvery};
pub use records::UpdateOutcome;

/// Creates `path` readable by its owner only, if it does not exist yet; SQLite gives its
/// -wal and -shm files the same permissions.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(sqlx::Error::Io(e))),
    }
}

/// A user as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Email (unique).
    pub email: Email,
    /// Display name.
    pub name: DisplayName,
    /// Role.
    pub role: Role,
    /// Argon2id PHC string.
    pub password_hash: PasswordHash,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    role: String,
    password_hash: String,
    created_at: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: UserId::parse(&r.id).map_err(|_| StoreError::Corrupt("users.id"))?,
            email: Email::parse(&r.email).map_err(|_| StoreError::Corrupt("users.email"))?,
            name: DisplayName::parse(&r.name).map_err(|_| StoreError::Corrupt("users.name"))?,
            role: Role::parse(&r.role).map_err(|_| StoreError::Corrupt("users.role"))?,
            password_hash: PasswordHash::from_stored(r.password_hash),
            created_at_ms: r.created_at,
        })
    }
}

/// A new session with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Session id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Unix milliseconds.
    pub now_ms: i64,
    /// Absolute expiry, unix milliseconds.
    pub expires_at_ms: i64,
    /// Client IP at login.
    pub ip: String,
    /// User agent at login (truncated by the caller).
    pub user_agent: String,
    /// SHA-256 of the first refresh token.
    pub refresh_hash: String,
}

/// What the request pipeline needs to know about a session on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// Owner.
    pub user_id: UserId,
    /// The owner's current role.
    pub role: Role,
    /// Whether the session still admits requests.
    pub live: bool,
}

/// A session as shown to its owner.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Id.
    pub id: SessionId,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub last_used_at_ms: i64,
    /// Client IP at login.
    pub ip: String,
    /// User agent at login.
    pub user_agent: String,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    created_at: i64,
    last_used_at: i64,
    ip: String,
    user_agent: String,
}

/// Session lifetime rules applied when a refresh token is presented.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRules {
    /// Now, unix milliseconds.
    pub now_ms: i64,
    /// A session unused for this long is dead.
    pub idle_ms: i64,
    /// A token rotated less than this long ago may be presented again and yields the same
    /// successor (two tabs refreshing at once). Zero disables the grace.
    pub grace_ms: i64,
}

/// The result of presenting a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was live and has been rotated into the successor.
    Rotated {
        /// The session.
        session_id: SessionId,
        /// Its owner.
        user_id: UserId,
        /// The owner's role.
        role: Role,
    },
    /// The token was rotated within the grace window into this same successor: hand it out
    /// again.
    GraceReplay {
        /// The session.
        session_id: SessionId,
        /// Its owner.
        user_id: UserId,
        /// The owner's role.
        role: Role,
    },
    /// The token had already been rotated, outside the grace window: the whole session has
    /// now been revoked.
    ReuseDetected {
        /// The revoked session.
        session_id: SessionId,
        /// Its owner.
        user_id: UserId,
    },
    /// Unknown token, or its session is revoked, expired or idle.
    Invalid,
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    session_id: String,
    used_at: Option<i64>,
    successor_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SessionAuthRow {
    user_id: String,
    role: String,
    expires_at: i64,
    last_used_at: i64,
    revoked_at: Option<i64>,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        create_private_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed write survives power loss, not just a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // sqlx pings every idle connection it hands out: one more round trip to the
            // connection's worker thread per query (two thread wake-ups). A SQLite connection is
            // a file handle in this process; there is no peer that could have hung up.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self {
            backend: std::sync::Arc::new(Backend::Sqlite(pool)),
        })
    }

    /// Connects to PostgreSQL and migrates the database.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self {
            backend: std::sync::Arc::new(Backend::Postgres(pool)),
        })
    }

    /// Which backend this is.
    pub fn kind(&self) -> BackendKind {
        match &*self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool, waiting for checked-out connections (graceful shutdown).
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }

    /// Inserts a user. A duplicate email is [`StoreError::Conflict`].
    pub async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(user.id.to_text())
            .bind(user.email.as_str())
            .bind(user.name.as_str())
            .bind(user.role.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.created_at_ms)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(map_conflict)?;
        Ok(())
    }

    /// Finds a user by email.
    pub async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, email, name, role, password_hash, created_at FROM users WHERE email = $1",
            )
            .bind(email.as_str())
            .fetch_optional(pool)
            .await
        })?;
        row.map(UserRecord::try_from).transpose()
    }

    /// Finds a user by id.
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, email, name, role, password_hash, created_at FROM users WHERE id = $1",
            )
            .bind(id.to_text())
            .fetch_optional(pool)
            .await
        })?;
        row.map(UserRecord::try_from).transpose()
    }

    /// Changes a user's display name. Returns the updated user, or `None` if there is none.
    pub async fn update_name(
        &self,
        id: UserId,
        name: &DisplayName,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, StoreError> {
        let changed = with_pool!(self, |pool| {
            sqlx::query("UPDATE users SET name = $1, updated_at = $2 WHERE id = $3")
                .bind(name.as_str())
                .bind(now_ms)
                .bind(id.to_text())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Ok(None);
        }
        self.user_by_id(id).await
    }

    /// Changes a user's role. Returns the updated user, or `None` if there is none.
    pub async fn set_role(
        &self,
        id: UserId,
        role: Role,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, StoreError> {
        let changed = with_pool!(self, |pool| {
            sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(now_ms)
                .bind(id.to_text())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Ok(None);
        }
        self.user_by_id(id).await
    }

    /// Deletes a user; their sessions and refresh tokens go with them. Returns whether a user
    /// was deleted.
    pub async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id.to_text())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(deleted > 0)
    }

    /// A page of users in id order (ids are time-ordered), starting after `after`.
    pub async fn list_users(
        &self,
        limit: PageLimit,
        after: Option<UserId>,
    ) -> Result<Vec<UserRecord>, StoreError> {
        // The empty string sorts before every canonical UUID, so "no cursor" is "after ''".
        let after = after.map(UserId::to_text).unwrap_or_default();
        let rows: Vec<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, email, name, role, password_hash, created_at FROM users
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(&after)
            .bind(i64::from(limit.get()))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    /// Whether any admin exists.
    pub async fn admin_exists(&self) -> Result<bool, StoreError> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id FROM users WHERE role = 'admin' LIMIT 1")
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.is_some())
    }

    /// Creates a session and its first refresh token, atomically.
    pub async fn create_session(&self, s: &NewSession) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent)
                 VALUES ($1, $2, $3, $3, $4, $5, $6)",
            )
            .bind(s.id.to_text())
            .bind(s.user_id.to_text())
            .bind(s.now_ms)
            .bind(s.expires_at_ms)
            .bind(&s.ip)
            .bind(&s.user_agent)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(&s.refresh_hash)
            .bind(s.id.to_text())
            .bind(s.now_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// The session's owner, the owner's current role, and whether the session is live
    /// (not revoked, not past its absolute expiry). `None` if no such session exists (for
    /// example because its user was deleted).
    pub async fn session_state(
        &self,
        id: SessionId,
        now_ms: i64,
    ) -> Result<Option<SessionState>, StoreError> {
        let row: Option<SessionAuthRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.user_id, u.role, s.expires_at, s.last_used_at, s.revoked_at
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
            )
            .bind(id.to_text())
            .fetch_optional(pool)
            .await
        })?;
        row.map(|r| {
            Ok(SessionState {
                user_id: UserId::parse(&r.user_id)
                    .map_err(|_| StoreError::Corrupt("sessions.user_id"))?,
                role: Role::parse(&r.role).map_err(|_| StoreError::Corrupt("users.role"))?,
                live: r.revoked_at.is_none() && r.expires_at > now_ms,
            })
        })
        .transpose()
    }

    /// Presents a refresh token: rotates it into `successor_hash` if it is live, replays the
    /// same successor inside the grace window, or — if it was already rotated before the
    /// window — revokes its whole session.
    ///
    /// Atomicity: the rotation is a conditional `UPDATE ... WHERE used_at IS NULL` inside one
    /// write transaction, so of two processes racing on one token exactly one rotates; the
    /// other sees `used_at` set and takes the grace or reuse path.
    pub async fn present_refresh(
        &self,
        presented_hash: &str,
        successor_hash: &str,
        rules: RefreshRules,
    ) -> Result<RotateOutcome, StoreError> {
        let now = rules.now_ms;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let won = sqlx::query(
                "UPDATE refresh_tokens SET used_at = $1, successor_hash = $2
                 WHERE token_hash = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(successor_hash)
            .bind(presented_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let token: Option<RefreshRow> = sqlx::query_as(
                "SELECT session_id, used_at, successor_hash FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(presented_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(token) = token else {
                tx.rollback().await?;
                return Ok(RotateOutcome::Invalid);
            };
            let session: Option<SessionAuthRow> = sqlx::query_as(
                "SELECT s.user_id, u.role, s.expires_at, s.last_used_at, s.revoked_at
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
            )
            .bind(&token.session_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(session) = session else {
                tx.rollback().await?;
                return Ok(RotateOutcome::Invalid);
            };
            let session_id = SessionId::parse(&token.session_id)
                .map_err(|_| StoreError::Corrupt("refresh_tokens.session_id"))?;
            let user_id = UserId::parse(&session.user_id)
                .map_err(|_| StoreError::Corrupt("sessions.user_id"))?;
            let role = Role::parse(&session.role).map_err(|_| StoreError::Corrupt("users.role"))?;
            let dead = session.revoked_at.is_some()
                || session.expires_at <= now
                || session.last_used_at + rules.idle_ms <= now;
            if dead {
                // Undo our rotation (if any): a dead session's tokens stay unusable.
                tx.rollback().await?;
                return Ok(RotateOutcome::Invalid);
            }
            if won {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(successor_hash)
                .bind(&token.session_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&token.session_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(RotateOutcome::Rotated {
                    session_id,
                    user_id,
                    role,
                });
            }
            let used_at = token.used_at.unwrap_or(i64::MIN);
            let within_grace = rules.grace_ms > 0 && now - used_at <= rules.grace_ms;
            if within_grace && token.successor_hash.as_deref() == Some(successor_hash) {
                tx.commit().await?;
                return Ok(RotateOutcome::GraceReplay {
                    session_id,
                    user_id,
                    role,
                });
            }
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = 'refresh_reuse'
                 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&token.session_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(RotateOutcome::ReuseDetected {
                session_id,
                user_id,
            })
        })
    }

    /// The session a refresh token belongs to, if the token is known (used or not).
    pub async fn session_of_refresh(
        &self,
        token_hash: &str,
    ) -> Result<Option<(SessionId, UserId)>, StoreError> {
        let row: Option<(String, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.id, s.user_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
                 WHERE t.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
        })?;
        row.map(|(sid, uid)| {
            Ok((
                SessionId::parse(&sid).map_err(|_| StoreError::Corrupt("sessions.id"))?,
                UserId::parse(&uid).map_err(|_| StoreError::Corrupt("sessions.user_id"))?,
            ))
        })
        .transpose()
    }

    /// Revokes one session of one user. Returns whether a live session of that user was
    /// revoked (another user's session id revokes nothing).
    pub async fn revoke_session(
        &self,
        user_id: UserId,
        session_id: SessionId,
        reason: &'static str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
                 WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL",
            )
            .bind(now_ms)
            .bind(reason)
            .bind(session_id.to_text())
            .bind(user_id.to_text())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Revokes every live session of a user; returns the ids revoked.
    pub async fn revoke_all_sessions(
        &self,
        user_id: UserId,
        reason: &'static str,
        now_ms: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        let rows: Vec<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = $2
                 WHERE user_id = $3 AND revoked_at IS NULL RETURNING id",
            )
            .bind(now_ms)
            .bind(reason)
            .bind(user_id.to_text())
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(id,)| SessionId::parse(&id).map_err(|_| StoreError::Corrupt("sessions.id")))
            .collect()
    }

    /// A user's live sessions, newest first.
    pub async fn list_sessions(
        &self,
        user_id: UserId,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let rows: Vec<SessionRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, created_at, last_used_at, ip, user_agent
                 FROM sessions
                 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3
                 ORDER BY created_at DESC, id DESC LIMIT 100",
            )
            .bind(user_id.to_text())
            .bind(now_ms)
            .bind(now_ms - idle_ms)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|r| {
                Ok(SessionInfo {
                    id: SessionId::parse(&r.id).map_err(|_| StoreError::Corrupt("sessions.id"))?,
                    created_at_ms: r.created_at,
                    last_used_at_ms: r.last_used_at,
                    ip: r.ip,
                    user_agent: r.user_agent,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_session() -> (tempfile::TempDir, Store, SessionId, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        let user = UserRecord {
            id: UserId::new(),
            email: Email::parse("a@example.com").unwrap(),
            name: DisplayName::parse("A").unwrap(),
            role: Role::User,
            password_hash: PasswordHash::from_stored("x".into()),
            created_at_ms: 0,
        };
        store.insert_user(&user).await.unwrap();
        assert!(matches!(
            store.insert_user(&user).await,
            Err(StoreError::Conflict)
        ));
        let sid = SessionId::new();
        store
            .create_session(&NewSession {
                id: sid,
                user_id: user.id,
                now_ms: 1_000,
                expires_at_ms: 1_000_000,
                ip: "127.0.0.1".into(),
                user_agent: "test".into(),
                refresh_hash: "t1".into(),
            })
            .await
            .unwrap();
        (dir, store, sid, user.id)
    }

    fn rules(now_ms: i64) -> RefreshRules {
        RefreshRules {
            now_ms,
            idle_ms: 100_000,
            grace_ms: 5_000,
        }
    }

    #[tokio::test]
    async fn rotation_grace_and_reuse() {
        let (_dir, store, sid, uid) = store_with_session().await;
        let rotated = store
            .present_refresh("t1", "t2", rules(2_000))
            .await
            .unwrap();
        assert_eq!(
            rotated,
            RotateOutcome::Rotated {
                session_id: sid,
                user_id: uid,
                role: Role::User
            }
        );
        // Same token again inside the grace window: same successor, session intact.
        let replay = store
            .present_refresh("t1", "t2", rules(3_000))
            .await
            .unwrap();
        assert_eq!(
            replay,
            RotateOutcome::GraceReplay {
                session_id: sid,
                user_id: uid,
                role: Role::User
            }
        );
        // Outside the window: reuse, and the whole family dies, successor included.
        let reuse = store
            .present_refresh("t1", "t2", rules(8_000))
            .await
            .unwrap();
        assert_eq!(
            reuse,
            RotateOutcome::ReuseDetected {
                session_id: sid,
                user_id: uid
            }
        );
        assert_eq!(
            store
                .present_refresh("t2", "t3", rules(8_001))
                .await
                .unwrap(),
            RotateOutcome::Invalid
        );
        assert!(!store.session_state(sid, 8_002).await.unwrap().unwrap().live);
        assert_eq!(
            store
                .present_refresh("nope", "x", rules(8_003))
                .await
                .unwrap(),
            RotateOutcome::Invalid
        );
    }

    #[tokio::test]
    async fn idle_sessions_do_not_rotate() {
        let (_dir, store, _sid, _uid) = store_with_session().await;
        let late = RefreshRules {
            now_ms: 1_000 + 100_000,
            idle_ms: 100_000,
            grace_ms: 0,
        };
        assert_eq!(
            store.present_refresh("t1", "t2", late).await.unwrap(),
            RotateOutcome::Invalid
        );
    }
}
