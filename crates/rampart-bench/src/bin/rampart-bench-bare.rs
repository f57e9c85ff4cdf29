//! `rampart-bench-bare --config rampart.toml [--listen 127.0.0.1:PORT]`
//!
//! Serves the bare peer (see `rampart_bench::bare`) until killed, beside a `rampart serve`
//! started with the same configuration file: the same key ring, token settings, collections
//! and SQLite database. Only an SQLite database is supported (the benchmark's embedded
//! default); the database must already exist (`rampart serve` creates it).

use std::path::PathBuf;
use std::sync::Arc;

use rampart_bench::bare::{BareState, router};
use rampart_core::keys::KeyRingFile;
use rampart_core::token::TokenService;
use rampart_server::config::{Database, RawConfig, Settings};
use rampart_store::Store;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The same allocator as `rampart serve`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parse_args() -> Result<(String, PathBuf), Error> {
    let mut listen = "127.0.0.1:8090".to_owned();
    let mut config = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?,
            "--config" => config = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok((listen, config.ok_or("--config is required")?))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (listen, config) = parse_args()?;
    // The harness binds 127.0.0.1 only; refuse anything else so that a mistyped flag cannot
    // expose a server without Rampart's protections.
    let addr: std::net::SocketAddr = listen.parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address").into());
    }
    let settings = Settings::from_raw(&RawConfig::load(Some(&config))?)?;
    let Database::Sqlite(path) = &settings.database else {
        return Err("the bare peer reads SQLite only (database_url must be empty)".into());
    };
    if !path.exists() {
        return Err(format!("{}: no database; start rampart serve first", path.display()).into());
    }
    let ring = KeyRingFile::load(&settings.key_ring)
        .map_err(|e| format!("{}: {e}", settings.key_ring.display()))?;
    let state = BareState {
        tokens: Arc::new(TokenService::new(settings.token_settings(), &ring)?),
        store: Store::open_sqlite(path).await?,
        collections: Arc::new(settings.collections.clone()),
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("rampart-bench-bare listening on {}", listener.local_addr()?);
    axum::serve(listener, router(state)).await?;
    Ok(())
}
