//! `rampart-bench-bare --key-ring DIR/keys.json --records FILE [--listen 127.0.0.1:PORT]
//! [--algorithm EdDSA] [--issuer rampart] [--audience rampart-api] [--access-ttl-secs 900]
//! [--leeway-secs 30]`
//!
//! Serves the bare peer (see `rampart_bench::bare`) until killed. The token settings default to
//! Rampart's defaults; the harness passes whatever it configured `rampart serve` with.

use std::path::PathBuf;
use std::sync::Arc;

use rampart_bench::bare::{BareState, parse_records, router};
use rampart_core::keys::{KeyRingFile, SigningAlg};
use rampart_core::token::{TokenService, TokenSettings};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    listen: String,
    key_ring: PathBuf,
    records: PathBuf,
    settings: TokenSettings,
}

fn parse_args() -> Result<Args, Error> {
    let mut listen = "127.0.0.1:8090".to_owned();
    let mut key_ring = None;
    let mut records = None;
    let mut settings = TokenSettings {
        alg: SigningAlg::EdDSA,
        issuer: "rampart".into(),
        audience: "rampart-api".into(),
        access_ttl_secs: 900,
        leeway_secs: 30,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?,
            "--key-ring" => key_ring = Some(PathBuf::from(value()?)),
            "--records" => records = Some(PathBuf::from(value()?)),
            "--algorithm" => {
                let raw = value()?;
                settings.alg = SigningAlg::parse(&raw)
                    .ok_or_else(|| format!("{raw:?} is not EdDSA, ES256 or HS256"))?;
            }
            "--issuer" => settings.issuer = value()?,
            "--audience" => settings.audience = value()?,
            "--access-ttl-secs" => settings.access_ttl_secs = value()?.parse()?,
            "--leeway-secs" => settings.leeway_secs = value()?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(Args {
        listen,
        key_ring: key_ring.ok_or("--key-ring is required")?,
        records: records.ok_or("--records is required")?,
        settings,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    // The harness binds 127.0.0.1 only; refuse anything else so that a mistyped flag cannot
    // expose a server without Rampart's protections.
    let addr: std::net::SocketAddr = args.listen.parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address").into());
    }
    let ring = KeyRingFile::load(&args.key_ring)
        .map_err(|e| format!("{}: {e}", args.key_ring.display()))?;
    let tokens = TokenService::new(args.settings, &ring)?;
    let records = parse_records(&std::fs::read_to_string(&args.records)?)?;
    let state = BareState {
        tokens: Arc::new(tokens),
        records: Arc::new(records),
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("rampart-bench-bare listening on {}", listener.local_addr()?);
    axum::serve(listener, router(state)).await?;
    Ok(())
}
