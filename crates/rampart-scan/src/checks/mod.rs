//! The checks. Each observes one checklist row from outside and returns a [`CheckResult`];
//! the judging is done by pure functions over the responses (unit-tested), the sending by
//! [`Client`]. A check that cannot finish (budget spent, target gone) says so in its note
//! and reports `not_applicable` rather than guessing.

use rampart_core::redact::redact_text;

use crate::client::{Client, ClientError, Exchange};
use crate::report::{CheckResult, Evidence, Finding, HeaderGrade, Severity, Status};

pub mod accounts;
pub mod admin;
pub mod cors;
pub mod errors;
pub mod exposure;
pub mod headers;
pub mod injection;
pub mod intrusive;
pub mod objects;
pub mod session;
pub mod tokens;

/// A path that no API serves: its answer is what "not found" looks like on this target.
pub const MISSING_PATH: &str = "/rampart-scan-probe-that-does-not-exist";

/// Every check: (id, row, title). `--only` and `--skip` take these ids.
pub const CHECKS: &[(&str, u8, &str)] = &[
    (tokens::FORGERY_ID, 1, tokens::FORGERY_TITLE),
    (tokens::LIFETIME_ID, 2, tokens::LIFETIME_TITLE),
    (session::COOKIE_ID, 3, session::COOKIE_TITLE),
    (objects::BOLA_ID, 4, objects::BOLA_TITLE),
    (objects::UNKNOWN_ID, 5, objects::UNKNOWN_TITLE),
    (session::MASS_ID, 20, session::MASS_TITLE),
    (accounts::REGISTRATION_ID, 20, accounts::REGISTRATION_TITLE),
    (headers::ID, 9, headers::TITLE),
    (headers::BANNERS_ID, 9, headers::BANNERS_TITLE),
    (headers::TRACE_ID, 9, headers::TRACE_TITLE),
    (headers::HSTS_ID, 13, headers::HSTS_TITLE),
    (headers::REDIRECT_ID, 13, headers::REDIRECT_TITLE),
    (cors::ID, 8, cors::TITLE),
    (errors::ID, 10, errors::TITLE),
    (exposure::FILES_ID, 11, exposure::FILES_TITLE),
    (exposure::DEBUG_ID, 19, exposure::DEBUG_TITLE),
    (admin::ID, 19, admin::TITLE),
    (injection::ID, 6, injection::TITLE),
    (objects::SSRF_ID, 16, objects::SSRF_TITLE),
    (objects::PAGE_ID, 15, objects::PAGE_TITLE),
    (accounts::ENUMERATION_ID, 17, accounts::ENUMERATION_TITLE),
    (intrusive::BODY_ID, 15, intrusive::BODY_TITLE),
    (intrusive::RATE_ID, 7, intrusive::RATE_TITLE),
    (accounts::LOCKOUT_ID, 17, accounts::LOCKOUT_TITLE),
];

/// Checks that run only with `--intrusive`.
pub const INTRUSIVE: &[&str] = &[intrusive::BODY_ID, intrusive::RATE_ID, accounts::LOCKOUT_ID];

/// What the checks may use besides the client.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--token-a`: an ordinary user's access token.
    pub token_a: Option<String>,
    /// `--token-b`: another ordinary user's access token.
    pub token_b: Option<String>,
    /// `--token-admin`: an admin's access token.
    pub token_admin: Option<String>,
    /// `--auth-path`: a route that needs the token (for the forgery check).
    pub auth_path: String,
    /// `--spec`: a file, or a path on the target; `None`: the well-known locations.
    pub spec: Option<String>,
    /// `--intrusive`: run checks that can trip limits or lock accounts.
    pub intrusive: bool,
    /// `--login-a EMAIL:PASSWORD`: log in as user A (gives the token when `token_a` is unset).
    pub login_a: Option<String>,
    /// `--login-b EMAIL:PASSWORD`: log in as user B.
    pub login_b: Option<String>,
    /// `--login-admin EMAIL:PASSWORD`: log in as the admin.
    pub login_admin: Option<String>,
    /// `--register`: create throw-away users A and B where none is given.
    pub register: bool,
    /// `--register-path`: where to register.
    pub register_path: String,
    /// `--login-path`: where to log in.
    pub login_path: String,
    /// `--token-pointer`: JSON pointer to the access token in the login response.
    pub token_pointer: String,
}

/// Runs the selected checks in order, announcing each on `progress`. `twin` is the target's
/// plain-http twin, when there is one to check (row 13).
pub async fn run(
    client: &Client,
    twin: Option<&Client>,
    inputs: &Inputs,
    selected: &dyn Fn(&str) -> bool,
    progress: &dyn Fn(&str),
) -> Result<(Vec<CheckResult>, Option<HeaderGrade>), ClientError> {
    let mut results = Vec::new();
    let mut grade = None;
    let base = client.origin().path().to_owned();
    progress("description");
    let ops = crate::spec::discover(client, inputs.spec.as_deref()).await?;
    progress("accounts");
    let users = accounts::prepare(client, inputs, &ops).await?;
    if let Some((x, from_login)) = &users.a_login
        && selected(session::COOKIE_ID)
    {
        results.push(session::judge_cookies(x, from_login.as_deref()));
    }
    let token = users.a.token.as_deref();
    if selected(tokens::FORGERY_ID) {
        progress(tokens::FORGERY_ID);
        results.push(tokens::check_forgery(client, token, &inputs.auth_path).await?);
    }
    if selected(tokens::LIFETIME_ID) {
        progress(tokens::LIFETIME_ID);
        results.push(tokens::check_lifetime(token));
    }
    if selected(headers::ID) {
        progress("headers.grade");
        grade = header_grade(client, &base).await?;
    }
    if selected(headers::ID) || selected(headers::BANNERS_ID) || selected(headers::HSTS_ID) {
        progress(headers::ID);
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
    if selected(headers::REDIRECT_ID) {
        progress(headers::REDIRECT_ID);
        results.push(match twin {
            Some(twin) => {
                let host = client.origin().host_str().unwrap_or_default();
                match twin.send(crate::client::Probe::get(&base)).await {
                    Ok(x) => headers::https_redirect(Some(&x), host),
                    Err(ClientError::Unreachable(_)) => headers::https_redirect(None, host),
                    Err(e) => return Err(e),
                }
            }
            None => CheckResult {
                status: Status::NotApplicable,
                note: Some(
                    "a plain-http target: give an https URL, or its http twin with --http-twin"
                        .into(),
                ),
                ..judged(
                    headers::REDIRECT_ID,
                    13,
                    headers::REDIRECT_TITLE,
                    Severity::Critical,
                    Vec::new(),
                )
            },
        });
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
        progress(exposure::FILES_ID);
        let missing = client.send(crate::client::Probe::get(MISSING_PATH)).await?;
        if selected(exposure::FILES_ID) {
            results.push(exposure::files(client, &missing).await?);
        }
        if selected(exposure::DEBUG_ID) {
            results.push(exposure::debug_routes(client, &missing).await?);
        }
    }
    if selected(admin::ID) {
        progress(admin::ID);
        results.push(admin::run(client, &ops, token).await?);
    }
    if selected(objects::BOLA_ID) {
        progress(objects::BOLA_ID);
        results.push(objects::bola(client, &ops, &users, &inputs.auth_path).await?);
    }
    if selected(objects::UNKNOWN_ID) {
        progress(objects::UNKNOWN_ID);
        results.push(objects::unknown_fields(client, &ops, &users).await?);
    }
    if selected(session::MASS_ID) {
        progress(session::MASS_ID);
        results.push(session::mass_assignment(client, &ops, &users.a).await?);
    }
    if selected(accounts::REGISTRATION_ID) {
        progress(accounts::REGISTRATION_ID);
        results.push(accounts::registration(client, inputs, &ops, &users).await?);
    }
    if selected(injection::ID) {
        progress(injection::ID);
        results.push(injection::run(client, &ops, &base, token).await?);
    }
    if selected(objects::SSRF_ID) {
        progress(objects::SSRF_ID);
        results.push(objects::ssrf(client, &ops, &users).await?);
    }
    if selected(objects::PAGE_ID) {
        progress(objects::PAGE_ID);
        results.push(objects::pagination(client, &ops, &users).await?);
    }
    if selected(accounts::ENUMERATION_ID) {
        progress(accounts::ENUMERATION_ID);
        results.push(accounts::enumeration(client, inputs, &users).await?);
    }
    // Last: tripping a limit may block this address for a while.
    if inputs.intrusive {
        if selected(intrusive::BODY_ID) {
            progress(intrusive::BODY_ID);
            let path = intrusive::body_target(&ops, &base);
            results.push(intrusive::body_size(client, &path).await?);
        }
        if selected(intrusive::RATE_ID) {
            progress(intrusive::RATE_ID);
            results.push(intrusive::rate_limit(client, &base).await?);
        }
        if selected(accounts::LOCKOUT_ID) {
            progress(accounts::LOCKOUT_ID);
            results.push(accounts::lockout(client, inputs, &users).await?);
        }
    }
    Ok((results, grade))
}

/// Pages the header grade falls back to when the base URL answers no 2xx (an API root often
/// answers 404; the Observatory grades only pages that answer): a health route and the
/// well-known description locations.
const GRADE_FALLBACKS: &[&str] = &["/health", "/api/openapi.json", "/openapi.json"];

/// The security-header grade of the base URL, or of the first fallback page the Observatory
/// would grade.
async fn header_grade(client: &Client, base: &str) -> Result<Option<HeaderGrade>, ClientError> {
    for path in std::iter::once(base).chain(GRADE_FALLBACKS.iter().copied()) {
        let observed = crate::observatory::observe(client, path).await?;
        if crate::observatory::refusal(&observed).is_none() {
            return Ok(Some(crate::observatory::grade(&observed)));
        }
    }
    Ok(None)
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
    // Response text is the target's: a token or password in it must not reach the report.
    let response = format!("{} {}", x.status.as_u16(), detail);
    Evidence {
        request: redact_text(&request).into_owned(),
        response: redact_text(response.trim_end()).into_owned(),
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

/// Test support: exchanges for the judging functions.
#[cfg(test)]
pub(crate) mod testing {
    use http::{HeaderMap, Method, StatusCode};

    use crate::client::Exchange;

    /// A `GET /x` answered with `status` and `body`.
    pub(crate) fn answer(status: u16, body: &str) -> Exchange {
        Exchange {
            method: Method::GET,
            path: "/x".into(),
            sent: Vec::new(),
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
}
