//! Checks that can trip limits, run only with `--intrusive` and last (a rate limit they trip
//! may block the scanner's address for a while): rate limiting (row 7) and the body-size cap
//! (row 15).

use http::Method;

use super::{evidence, finding};
use crate::client::{Client, ClientError, Probe};
use crate::report::{CheckResult, Severity, Status};
use crate::spec::Operation;

/// Id of the rate-limit check.
pub const RATE_ID: &str = "ratelimit.reads";
/// Its title.
pub const RATE_TITLE: &str =
    "Repeated requests are limited (429 with Retry-After and RateLimit headers)";
/// Id of the body-size check.
pub const BODY_ID: &str = "limits.body";
/// Its title.
pub const BODY_TITLE: &str = "Oversized bodies are refused (413)";

/// Most requests the rate-limit check sends (the checklist's read limit is ~100 per minute).
const RATE_PROBES: u32 = 150;
/// The oversized body: twice the checklist's 1 MB cap.
const BIG_BODY: usize = 2 * 1024 * 1024;

fn result(id: &'static str, row: u8, title: &'static str, severity: Severity) -> CheckResult {
    CheckResult {
        id,
        row,
        title,
        status: Status::Pass,
        severity,
        findings: Vec::new(),
        note: None,
    }
}

/// Sends up to [`RATE_PROBES`] reads; a limit must answer 429 with `Retry-After`, and the
/// responses should announce the limit (`RateLimit-*` or `X-RateLimit-*`).
pub async fn rate_limit(client: &Client, path: &str) -> Result<CheckResult, ClientError> {
    let mut r = result(RATE_ID, 7, RATE_TITLE, Severity::High);
    let mut announced = false;
    for sent in 1..=RATE_PROBES {
        let x = client.send(Probe::get(path)).await?;
        announced |=
            x.header("ratelimit-limit").is_some() || x.header("x-ratelimit-limit").is_some();
        if x.status.as_u16() == 429 {
            if x.header("retry-after").is_none() {
                r.status = Status::Warn;
                r.findings.push(finding(
                    "429 without Retry-After",
                    evidence(&x, ""),
                    "Tell clients when to retry: Retry-After on every 429",
                ));
            }
            if !announced {
                r.status = Status::Warn;
                r.findings.push(finding(
                    "no RateLimit-* or X-RateLimit-* headers announce the limit",
                    evidence(&x, ""),
                    "Send RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset",
                ));
            }
            r.note = Some(format!("limited after {sent} requests"));
            return Ok(r);
        }
        if x.status.is_server_error() {
            break;
        }
    }
    r.status = Status::Fail;
    r.findings.push(finding(
        format!("{RATE_PROBES} requests to {path} in quick succession were all answered"),
        crate::report::Evidence {
            request: format!("GET {path} x {RATE_PROBES}"),
            response: "no 429".into(),
        },
        "Limit requests per client (per user when authenticated, per IP otherwise), on every instance",
    ));
    Ok(r)
}

/// Where to send the oversized body: the first described POST route without parameters.
pub fn body_target(ops: &[Operation], base: &str) -> String {
    ops.iter()
        .find(|o| o.method == "POST" && !o.path.contains('{'))
        .map_or_else(|| base.to_owned(), |o| o.path.clone())
}

/// Posts a 2 MiB JSON body: 413 passes, a success or a server error fails, and a connection
/// closed before the answer is a refusal too.
pub async fn body_size(client: &Client, path: &str) -> Result<CheckResult, ClientError> {
    let mut r = result(BODY_ID, 15, BODY_TITLE, Severity::Medium);
    let mut body = Vec::with_capacity(BIG_BODY + 16);
    body.extend_from_slice(b"{\"padding\":\"");
    body.resize(BIG_BODY, b'a');
    body.extend_from_slice(b"\"}");
    let x = match client
        .send(Probe::new(Method::POST, path).body("application/json", body))
        .await
    {
        Ok(x) => x,
        Err(ClientError::Unreachable(_)) => {
            r.note = Some("the connection was closed on the oversized body".into());
            return Ok(r);
        }
        Err(e) => return Err(e),
    };
    match x.status.as_u16() {
        413 => {}
        s if x.status.is_success() || x.status.is_server_error() => {
            r.status = Status::Fail;
            r.findings.push(finding(
                format!(
                    "a {} MiB body got {s} instead of 413",
                    BIG_BODY / (1024 * 1024)
                ),
                evidence(&x, ""),
                "Cap request bodies (1 MB by default) before reading them",
            ));
        }
        s => {
            r.status = Status::NotApplicable;
            r.note = Some(format!(
                "{path} answered {s}: inconclusive; name a POST route with --spec"
            ));
        }
    }
    Ok(r)
}
