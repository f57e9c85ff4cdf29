//! The audit trail's storage, apart from application data: its own SQLite file, or its own
//! schema ([`AUDIT_SCHEMA`]) on PostgreSQL (in the application's database or another one).
//!
//! **Invariant:** entries are only ever appended, in one chain, in sequence order. Every append
//! takes the trail's write lock (SQLite: `BEGIN IMMEDIATE` on the file; PostgreSQL: a
//! self-conflicting table lock), reads the head and writes the next entries and, when due, a
//! signed checkpoint, in one transaction. So concurrent requests and several server processes
//! on one trail still form one chain, and a request's entries are durable once `append`
//! returns (SQLite runs with `synchronous = FULL`; PostgreSQL commits synchronously).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rampart_core::audit::{AuditKey, Checkpoint, Entry, Event, Report, Verifier, VerifyingKeys};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Backend, StoreError, WritePool, create_private_file};

/// The PostgreSQL schema holding the trail.
pub const AUDIT_SCHEMA: &str = "rampart_audit";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations_audit/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations_audit/postgres");

/// Key of the PostgreSQL advisory lock appenders take ("rampart" + 2; the DDL lock is + 1).
const APPEND_LOCK_KEY: i64 = 0x7261_6d70_6172_7402;

/// Entries read per page when verifying.
const VERIFY_PAGE: i64 = 1000;

/// The audit trail. Cheap to clone.
#[derive(Clone)]
pub struct AuditStore {
    backend: std::sync::Arc<Backend>,
    /// One append at a time from this process: the database lock would serialize them anyway,
    /// and waiting here is cheaper and fairer than SQLite's busy-retry.
    append_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Which entries to list (all conditions must hold).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action.
    pub action: Option<String>,
    /// Acting user id.
    pub actor: Option<String>,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// At or after, unix milliseconds.
    pub since_ms: Option<i64>,
    /// Before, unix milliseconds.
    pub until_ms: Option<i64>,
    /// Only entries before this sequence number (the page cursor; newest first).
    pub before_seq: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    ts_ms: i64,
    action: String,
    actor_user_id: Option<String>,
    actor_ip: String,
    actor_user_agent: String,
    target_type: Option<String>,
    target_id: Option<String>,
    result: String,
    request_id: Option<String>,
    metadata: String,
    prev_hash: String,
    hash: String,
}

impl From<EntryRow> for Entry {
    fn from(r: EntryRow) -> Self {
        Self {
            seq: r.seq,
            ts_ms: r.ts_ms,
            action: r.action,
            actor_user_id: r.actor_user_id,
            actor_ip: r.actor_ip,
            actor_user_agent: r.actor_user_agent,
            target_type: r.target_type,
            target_id: r.target_id,
            result: r.result,
            request_id: r.request_id,
            metadata: r.metadata,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    seq: i64,
    prev_seq: i64,
    hash: String,
    created_ms: i64,
    key_id: String,
    signature: String,
}

impl From<CheckpointRow> for Checkpoint {
    fn from(r: CheckpointRow) -> Self {
        Self {
            seq: r.seq,
            prev_seq: r.prev_seq,
            hash: r.hash,
            created_ms: r.created_ms,
            key_id: r.key_id,
            signature: r.signature,
        }
    }
}

/// When to sign the head while appending.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointEvery {
    /// Sign when this many entries were appended since the last checkpoint.
    pub entries: i64,
}

/// Inserts a checkpoint inside the transaction `$tx` (a macro: the body is compiled once per
/// backend inside `with_pool!`).
macro_rules! insert_checkpoint {
    ($tx:expr, $c:expr) => {{
        let c: &Checkpoint = $c;
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, prev_seq, hash, created_ms, key_id, signature)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.seq)
        .bind(c.prev_seq)
        .bind(&c.hash)
        .bind(c.created_ms)
        .bind(&c.key_id)
        .bind(&c.signature)
        .execute(&mut *$tx)
        .await?;
    }};
}

impl AuditStore {
    /// Opens (and with `create`, creates and migrates) the trail's SQLite file. Without
    /// `create`, a missing file is an error: verification must not invent an empty trail.
    pub async fn open_sqlite(path: &Path, create: bool) -> Result<Self, StoreError> {
        if create {
            create_private_file(path)?;
        } else if !path.exists() {
            return Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", path.display()),
            ))));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an answered request's entries survive power loss, not just a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        if create {
            SQLITE_MIGRATIONS.run(&pool).await?;
        }
        Ok(Self::with(Backend::Sqlite(pool)))
    }

    /// Connects to PostgreSQL with [`AUDIT_SCHEMA`] as the search path, creating the schema
    /// and migrating it when `create` is set.
    pub async fn open_postgres(url: &str, create: bool) -> Result<Self, StoreError> {
        // Synchronous commit whatever the server's default: an answered request's entries
        // must be on disk.
        let options = PgConnectOptions::from_str(url)?
            .options([("search_path", AUDIT_SCHEMA), ("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        if create {
            // Looked up first: `IF NOT EXISTS` would print a notice on every start. Concurrent
            // first starts may race on the schema's catalogue row: retry once.
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_namespace WHERE nspname = 'rampart_audit'")
                    .fetch_optional(&pool)
                    .await?;
            if exists.is_none() {
                let make = "CREATE SCHEMA IF NOT EXISTS rampart_audit";
                if sqlx::query(make).execute(&pool).await.is_err() {
                    sqlx::query(make).execute(&pool).await?;
                }
            }
            POSTGRES_MIGRATIONS.run(&pool).await?;
        }
        Ok(Self::with(Backend::Postgres(pool)))
    }

    fn with(backend: Backend) -> Self {
        Self {
            backend: std::sync::Arc::new(backend),
            append_lock: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Answers when the trail's database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool| sqlx::query(
            "SELECT 1 FROM audit_checkpoints LIMIT 1"
        )
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }

    /// Appends `events` at the chain's head in one transaction, at `now_ms`, and signs the
    /// new head with `key` when `every.entries` or more entries followed the last checkpoint.
    /// Returns the appended entries.
    pub async fn append(
        &self,
        events: &[Event],
        now_ms: i64,
        key: &AuditKey,
        every: CheckpointEvery,
    ) -> Result<Vec<Entry>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.commit(events, now_ms, key, every).await?.0)
    }

    /// Signs the head if entries were appended since the last checkpoint (the periodic and
    /// shutdown checkpoints). Returns the new checkpoint, if one was written.
    pub async fn checkpoint(
        &self,
        key: &AuditKey,
        now_ms: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let every = CheckpointEvery { entries: 1 };
        Ok(self.commit(&[], now_ms, key, every).await?.1)
    }

    /// Under the trail's write lock, in one transaction: appends `events` after the head, then
    /// signs the head when `every.entries` or more entries followed the last checkpoint.
    async fn commit(
        &self,
        events: &[Event],
        now_ms: i64,
        key: &AuditKey,
        every: CheckpointEvery,
    ) -> Result<(Vec<Entry>, Option<Checkpoint>), StoreError> {
        let _one_at_a_time = self.append_lock.lock().await;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if matches!(&*self.backend, Backend::Postgres(_)) {
                // Appenders in every process queue here; readers are not blocked, and the
                // application role needs no privilege beyond INSERT and SELECT for it.
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(APPEND_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
            }
            let head: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await?;
            let (mut seq, mut prev) =
                head.unwrap_or((0, rampart_core::audit::GENESIS_HASH.to_owned()));
            let mut appended = Vec::with_capacity(events.len());
            for event in events {
                seq += 1;
                let e = event.seal(seq, now_ms, &prev);
                sqlx::query(
                    "INSERT INTO audit_entries (seq, ts_ms, action, actor_user_id, actor_ip,
                        actor_user_agent, target_type, target_id, result, request_id, metadata,
                        prev_hash, hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(e.seq)
                .bind(e.ts_ms)
                .bind(&e.action)
                .bind(&e.actor_user_id)
                .bind(&e.actor_ip)
                .bind(&e.actor_user_agent)
                .bind(&e.target_type)
                .bind(&e.target_id)
                .bind(&e.result)
                .bind(&e.request_id)
                .bind(&e.metadata)
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .execute(&mut *tx)
                .await?;
                prev.clone_from(&e.hash);
                appended.push(e);
            }
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_checkpoints")
                .fetch_one(&mut *tx)
                .await?;
            let mut signed = None;
            let last = last.unwrap_or(0);
            if seq > 0 && seq - last >= every.entries {
                let c = key.checkpoint(seq, &prev, last, now_ms);
                insert_checkpoint!(tx, &c);
                signed = Some(c);
            }
            tx.commit().await?;
            Ok((appended, signed))
        })
    }

    /// Every checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT seq, prev_seq, hash, created_ms, key_id, signature FROM audit_checkpoints
             ORDER BY seq, key_id"
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Checkpoint::from).collect())
    }

    /// Up to `limit` entries with `seq > after`, in sequence order.
    pub async fn entries_after(&self, after: i64, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let rows: Vec<EntryRow> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT seq, ts_ms, action, actor_user_id, actor_ip, actor_user_agent, target_type,
                    target_id, result, request_id, metadata, prev_hash, hash
             FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT $2"
        )
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Entry::from).collect())
    }

    /// Verifies the whole trail against the checkpoints and `keys`, page by page, and that
    /// the table holds no row outside the chain. `max_unsigned`: the checkpoint cadence (see
    /// `Verifier::new`).
    pub async fn verify(
        &self,
        keys: &VerifyingKeys,
        max_unsigned: Option<i64>,
    ) -> Result<Report, StoreError> {
        let mut verifier = Verifier::new(self.checkpoints().await?, keys, max_unsigned);
        let mut after = i64::MIN;
        loop {
            let page = self.entries_after(after, VERIFY_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in &page {
                verifier.push(entry);
            }
            if verifier.broken_by(after) {
                break;
            }
        }
        let rows: i64 = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_entries"
        )
        .fetch_one(pool)
        .await)?;
        Ok(verifier.finish(u64::try_from(rows).ok()))
    }

    /// Entries matching `filter`, newest first, at most `limit`.
    pub async fn list(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let rows: Vec<EntryRow> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT seq, ts_ms, action, actor_user_id, actor_ip, actor_user_agent, target_type,
                    target_id, result, request_id, metadata, prev_hash, hash
             FROM audit_entries
             WHERE ($1 IS NULL OR action = $1)
               AND ($2 IS NULL OR actor_user_id = $2)
               AND ($3 IS NULL OR target_type = $3)
               AND ($4 IS NULL OR target_id = $4)
               AND ($5 IS NULL OR ts_ms >= $5)
               AND ($6 IS NULL OR ts_ms < $6)
               AND ($7 IS NULL OR seq < $7)
             ORDER BY seq DESC LIMIT $8"
        )
        .bind(&filter.action)
        .bind(&filter.actor)
        .bind(&filter.target_type)
        .bind(&filter.target_id)
        .bind(filter.since_ms)
        .bind(filter.until_ms)
        .bind(filter.before_seq)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Entry::from).collect())
    }
}
