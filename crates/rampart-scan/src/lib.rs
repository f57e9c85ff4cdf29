//! `rampart scan`: audits any HTTP API from outside, check by check, against the checklist
//! (`../shared/checklist.md`), and reports row by row.
//!
//! **Safety invariant:** requests go only to the base URL's origin (`client::Client` takes
//! paths, never URLs, and follows no redirect), every request counts against
//! `--max-requests` (except the single request to the target's plain-http twin on the same
//! host, row 13), and requests are spaced by `--rate`. Credentials never appear in
//! evidence. Expectations (which headers, which origins to probe) come from `rampart-core`,
//! the same definitions `rampart serve` is built from.
//!
//! `checks::CHECKS` lists every check with its row. Rows no check covers (12, 14 and 18: the
//! lockfile, the logs and webhook verification cannot be observed from outside) are reported
//! as `not checked`, never as passing.

pub mod checks;
pub mod client;
pub mod observatory;
pub mod report;
pub mod spec;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

pub use client::ClientError;
pub use report::{Report, Severity, Status};

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The API's base URL (`http://127.0.0.1:8080/`).
    pub base_url: String,
    /// Most requests the whole scan may send.
    pub max_requests: u32,
    /// Requests per second.
    pub rate: f64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Only these check ids (empty: all).
    pub only: Vec<String>,
    /// Not these check ids.
    pub skip: Vec<String>,
    /// Credentials, the description and what the checks may do.
    pub inputs: checks::Inputs,
    /// `--http-twin`: the target's plain-http address, to check that it redirects to https
    /// (default for an https target: the same host on port 80).
    pub http_twin: Option<String>,
    /// Counts the requests sent, for progress displays.
    pub sent: Arc<AtomicU32>,
}

/// Why a scan could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A usage problem.
    #[error("{0}")]
    Usage(String),
    /// The target could not be reached or the budget ran out.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Runs the selected checks against `options.base_url`, calling `progress` with each
/// check's id as it starts.
pub async fn scan(options: &Options, progress: &dyn Fn(&str)) -> Result<Report, ScanError> {
    let known: Vec<&str> = checks::CHECKS.iter().map(|(id, _, _)| *id).collect();
    for id in options.only.iter().chain(&options.skip) {
        if !known.contains(&id.as_str()) {
            return Err(ScanError::Usage(format!(
                "unknown check id {id:?}; known: {}",
                known.join(", ")
            )));
        }
    }
    let client = client::Client::new(
        &options.base_url,
        options.max_requests,
        options.rate,
        options.timeout,
    )?
    .with_counter(options.sent.clone());
    let selected = |id: &str| {
        (options.only.is_empty() || options.only.iter().any(|o| o == id))
            && !options.skip.iter().any(|s| s == id)
    };
    let inputs = &options.inputs;
    if ![&inputs.auth_path, &inputs.login_path, &inputs.register_path]
        .iter()
        .all(|p| p.starts_with('/'))
    {
        return Err(ScanError::Usage(
            "--auth-path, --login-path and --register-path must start with /".into(),
        ));
    }
    let twin = twin(&client, options)?;
    let (results, grade) =
        checks::run(&client, twin.as_ref(), &options.inputs, &selected, progress).await?;
    let mut report = Report::new(client.origin().to_string(), results);
    report.header_grade = grade;
    Ok(report)
}

/// The plain-http twin of the target: `--http-twin` (same host required), or port 80 of an
/// https target's host. It gets a budget of one request.
fn twin(client: &client::Client, options: &Options) -> Result<Option<client::Client>, ScanError> {
    let origin = client.origin();
    let url = match &options.http_twin {
        Some(url) => url.clone(),
        None if client.is_https() => {
            let mut url = origin.clone();
            let _ = url.set_scheme("http");
            let _ = url.set_port(None);
            url.to_string()
        }
        None => return Ok(None),
    };
    let twin = client::Client::new(&url, 1, options.rate, options.timeout)?;
    if twin.origin().scheme() != "http" || twin.origin().host_str() != origin.host_str() {
        return Err(ScanError::Usage(
            "--http-twin must be an http:// URL on the target's host".into(),
        ));
    }
    Ok(Some(twin))
}
