//! `rampart scan`: audits any HTTP API from outside, check by check, against the checklist
//! (`../shared/checklist.md`), and reports row by row.
//!
//! **Safety invariant:** requests go only to the base URL's origin (`client::Client` takes
//! paths, never URLs, and follows no redirect), every request counts against
//! `--max-requests`, and requests are spaced by `--rate`. Credentials never appear in
//! evidence. Expectations (which headers, which origins to probe) come from `rampart-core`,
//! the same definitions `rampart serve` is built from.
//!
//! Checks so far: token forgeries and lifetime with a given token (rows 1, 2), security headers, banners and TRACE (row 9), HSTS on https (row 13), CORS
//! (row 8), verbose errors (row 10), exposed files (row 11), debug routes and admin routes from the OpenAPI description (row 19). Rows no
//! check covers are reported as `not checked`, never as passing.

pub mod checks;
pub mod client;
pub mod report;
pub mod spec;

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
    )?;
    let selected = |id: &str| {
        (options.only.is_empty() || options.only.iter().any(|o| o == id))
            && !options.skip.iter().any(|s| s == id)
    };
    if !options.inputs.auth_path.starts_with('/') || !options.inputs.login_path.starts_with('/') {
        return Err(ScanError::Usage(
            "--auth-path and --login-path must start with /".into(),
        ));
    }
    let results = checks::run(&client, &options.inputs, &selected, progress).await?;
    Ok(Report::new(client.origin().to_string(), results))
}
