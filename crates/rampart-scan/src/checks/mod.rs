//! The checks. Each observes one checklist row from outside and returns a [`CheckResult`];
//! the judging is done by pure functions over the responses (unit-tested), the sending by
//! [`Client`]. A check that cannot finish (budget spent, target gone) says so in its note
//! and reports `not_applicable` rather than guessing.

use crate::client::{Client, ClientError, Exchange};
use crate::report::{CheckResult, Evidence, Finding, Severity, Status};

pub mod admin;
pub mod cors;
pub mod errors;
pub mod exposure;
pub mod headers;
pub mod injection;
pub mod intrusive;
pub mod session;
pub mod tokens;

/// A path that no API serves: its answer is what "not found" looks like on this target.
pub const MISSING_PATH: &str = "/rampart-scan-probe-that-does-not-exist";

/// Every check: (id, row, title). `--only` and `--skip` take these ids.
pub const CHECKS: &[(&str, u8, &str)] = &[
    (tokens::FORGERY_ID, 1, tokens::FORGERY_TITLE),
    (tokens::LIFETIME_ID, 2, tokens::LIFETIME_TITLE),
    (session::COOKIE_ID, 3, session::COOKIE_TITLE),
    (session::MASS_ID, 20, session::MASS_TITLE),
    (headers::ID, 9, headers::TITLE),
    (headers::BANNERS_ID, 9, headers::BANNERS_TITLE),
    (headers::TRACE_ID, 9, headers::TRACE_TITLE),
    (headers::HSTS_ID, 13, headers::HSTS_TITLE),
    (cors::ID, 8, cors::TITLE),
    (errors::ID, 10, errors::TITLE),
    (exposure::FILES_ID, 11, exposure::FILES_TITLE),
    (exposure::DEBUG_ID, 19, exposure::DEBUG_TITLE),
    (admin::ID, 19, admin::TITLE),
    (injection::ID, 6, injection::TITLE),
    (intrusive::BODY_ID, 15, intrusive::BODY_TITLE),
    (intrusive::RATE_ID, 7, intrusive::RATE_TITLE),
];

/// Checks that run only with `--intrusive`.
pub const INTRUSIVE: &[&str] = &[intrusive::BODY_ID, intrusive::RATE_ID];

/// What the checks may use besides the client.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--token-a`: an ordinary user's access token.
    pub token_a: Option<String>,
    /// `--auth-path`: a route that needs the token (for the forgery check).
    pub auth_path: String,
    /// `--spec`: a file, or a path on the target; `None`: the well-known locations.
    pub spec: Option<String>,
    /// `--intrusive`: run checks that can trip limits or lock accounts.
    pub intrusive: bool,
    /// `--login-a EMAIL:PASSWORD`: log in as user A (gives the token when `token_a` is unset).
    pub login_a: Option<String>,
    /// `--login-path`: where to log in.
    pub login_path: String,
    /// `--token-pointer`: JSON pointer to the access token in the login response.
    pub token_pointer: String,
}

/// Runs the selected checks in order, announcing each on `progress`.
pub async fn run(
    client: &Client,
    credentials: &Inputs,
    selected: &dyn Fn(&str) -> bool,
    progress: &dyn Fn(&str),
) -> Result<Vec<CheckResult>, ClientError> {
    let mut results = Vec::new();
    let base = client.origin().path().to_owned();
    let mut token = credentials.token_a.clone();
    if let Some(login) = &credentials.login_a {
        progress(session::COOKIE_ID);
        let (x, from_login) = session::login(
            client,
            &credentials.login_path,
            login,
            &credentials.token_pointer,
        )
        .await?;
        if !x.status.is_success() || from_login.is_none() {
            return Err(ClientError::BadTarget(format!(
                "logging in at {} answered {} without a token at {}",
                credentials.login_path,
                x.status.as_u16(),
                credentials.token_pointer
            )));
        }
        if selected(session::COOKIE_ID) {
            results.push(session::judge_cookies(&x, from_login.as_deref()));
        }
        token = token.or(from_login);
    }
    let token = token.as_deref();
    if selected(tokens::FORGERY_ID) {
        progress(tokens::FORGERY_ID);
        results.push(tokens::check_forgery(client, token, &credentials.auth_path).await?);
    }
    if selected(tokens::LIFETIME_ID) {
        progress(tokens::LIFETIME_ID);
        results.push(tokens::check_lifetime(token));
    }
    progress("headers");
    if selected(headers::ID) || selected(headers::BANNERS_ID) || selected(headers::HSTS_ID) {
        let root = client.send(crate::client::Probe::get(&base)).await?;
        if selected(headers::ID) {
            results.push(headers::security_headers(&root));
        }
        if selected(headers::BANNERS_ID) {
            results.push(headers::banners(&root));
        }
        if selected(headers::HSTS_ID) {
            results.push(headers::hsts(&root, client.is_https()));
        }
    }
    if selected(headers::TRACE_ID) {
        progress(headers::TRACE_ID);
        results.push(headers::trace(client, &base).await?);
    }
    if selected(cors::ID) {
        progress(cors::ID);
        results.push(cors::run(client, &base).await?);
    }
    if selected(errors::ID) {
        progress(errors::ID);
        results.push(errors::run(client, &base).await?);
    }
    if selected(exposure::FILES_ID) || selected(exposure::DEBUG_ID) {
        progress("exposure");
        let missing = client.send(crate::client::Probe::get(MISSING_PATH)).await?;
        if selected(exposure::FILES_ID) {
            results.push(exposure::files(client, &missing).await?);
        }
        if selected(exposure::DEBUG_ID) {
            results.push(exposure::debug_routes(client, &missing).await?);
        }
    }
    let ops = if selected(admin::ID)
        || selected(injection::ID)
        || selected(session::MASS_ID)
        || credentials.intrusive
    {
        crate::spec::discover(client, credentials.spec.as_deref()).await?
    } else {
        Vec::new()
    };
    if selected(admin::ID) {
        progress(admin::ID);
        results.push(admin::run(client, &ops, token).await?);
    }
    if selected(session::MASS_ID) {
        progress(session::MASS_ID);
        results.push(session::mass_assignment(client, &ops, token).await?);
    }
    if selected(injection::ID) {
        progress(injection::ID);
        results.push(injection::run(client, &ops, &base, token).await?);
    }
    // Last: tripping a limit may block this address for a while.
    if credentials.intrusive {
        if selected(intrusive::BODY_ID) {
            progress(intrusive::BODY_ID);
            let path = intrusive::body_target(&ops, &base);
            results.push(intrusive::body_size(client, &path).await?);
        }
        if selected(intrusive::RATE_ID) {
            progress(intrusive::RATE_ID);
            results.push(intrusive::rate_limit(client, &base).await?);
        }
    }
    Ok(results)
}

/// A result from findings: `fail` with findings, else `pass`.
pub fn judged(
    id: &'static str,
    row: u8,
    title: &'static str,
    severity: Severity,
    findings: Vec<Finding>,
) -> CheckResult {
    CheckResult {
        id,
        row,
        title,
        status: if findings.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        severity,
        findings,
        note: None,
    }
}

/// Evidence from an exchange: the request and, of the response, the status line and `detail`.
pub fn evidence(x: &Exchange, detail: &str) -> Evidence {
    let sent: Vec<String> = x.sent.iter().map(|(n, v)| format!("{n}: {v}")).collect();
    let request = if sent.is_empty() {
        x.request_line()
    } else {
        format!("{} ({})", x.request_line(), sent.join("; "))
    };
    Evidence {
        request,
        response: format!("{} {}", x.status.as_u16(), detail)
            .trim_end()
            .to_owned(),
    }
}

/// A finding.
pub fn finding(title: impl Into<String>, evidence: Evidence, remediation: &str) -> Finding {
    Finding {
        title: title.into(),
        evidence,
        remediation: remediation.to_owned(),
    }
}

/// At most `n` characters of hostile text around the first match of `needle`.
pub fn excerpt(body: &str, needle: &str, n: usize) -> String {
    let start = body.find(needle).unwrap_or(0);
    let from = body[..start]
        .char_indices()
        .rev()
        .nth(n / 4)
        .map_or(0, |(i, _)| i);
    body[from..].chars().take(n).collect()
}
