//! Row 9 (security headers, banners, TRACE) and row 13 (HSTS on an https target).

use http::Method;
use rampart_core::headers::{BANNER_HEADERS, SECURITY_HEADERS};

use super::{evidence, finding, judged};
use crate::client::{Client, ClientError, Exchange, Probe};
use crate::report::{CheckResult, Severity, Status};

/// Id of the security-headers check.
pub const ID: &str = "headers.security";
/// Its title.
pub const TITLE: &str = "Security headers are present";
/// Id of the banner check.
pub const BANNERS_ID: &str = "headers.banners";
/// Its title.
pub const BANNERS_TITLE: &str = "No X-Powered-By or version banners";
/// Id of the TRACE check.
pub const TRACE_ID: &str = "http.trace";
/// Its title.
pub const TRACE_TITLE: &str = "TRACE is refused";
/// Id of the HSTS check.
pub const HSTS_ID: &str = "transport.hsts";
/// Its title.
pub const HSTS_TITLE: &str = "HSTS with a long max-age on https";

/// One year: the least max-age HSTS preload accepts.
const HSTS_MIN_AGE: u64 = 31_536_000;

/// Why each of the core's security headers matters, and how to send it.
fn advice(name: &str) -> (&'static str, &'static str) {
    match name {
        "content-security-policy" => (
            "nothing limits what a response rendered as HTML may load or run",
            "For an API: Content-Security-Policy: default-src 'none'; frame-ancestors 'none'",
        ),
        "x-frame-options" => (
            "responses can be framed (clickjacking), and CSP frame-ancestors is not set either",
            "Send X-Frame-Options: DENY (or CSP frame-ancestors 'none')",
        ),
        "x-content-type-options" => (
            "browsers may sniff a response into an executable type",
            "Send X-Content-Type-Options: nosniff",
        ),
        "referrer-policy" => (
            "URLs (with ids or tokens) may leak to other sites in Referer",
            "Send Referrer-Policy: no-referrer",
        ),
        "permissions-policy" => (
            "powerful browser features are not switched off",
            "Send Permissions-Policy with the features you do not use disabled",
        ),
        "cross-origin-opener-policy" => (
            "other windows keep a handle on yours",
            "Send Cross-Origin-Opener-Policy: same-origin",
        ),
        "cross-origin-resource-policy" => (
            "other origins may embed your responses",
            "Send Cross-Origin-Resource-Policy: same-origin",
        ),
        _ => ("it is one of the checklist's security headers", "Send it"),
    }
}

/// Checks the headers every response should carry: the core's list
/// (`rampart_core::headers::SECURITY_HEADERS`, the one Rampart itself sends), except HSTS,
/// which is row 13's on https targets.
pub fn security_headers(x: &Exchange) -> CheckResult {
    let csp = x
        .header("content-security-policy")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut findings = Vec::new();
    for (name, _) in SECURITY_HEADERS {
        let value = x
            .header(name)
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let present = match *name {
            "strict-transport-security" => continue,
            "x-frame-options" => {
                matches!(value.as_str(), "deny" | "sameorigin") || csp.contains("frame-ancestors")
            }
            "x-content-type-options" => value == "nosniff",
            _ => !value.is_empty(),
        };
        if !present {
            let (why, fix) = advice(name);
            findings.push(finding(
                format!("{name} is missing or wrong: {why}"),
                evidence(
                    x,
                    &format!("{name}: {}", x.header(name).unwrap_or("(absent)")),
                ),
                fix,
            ));
        }
    }
    judged(ID, 9, TITLE, Severity::High, findings)
}

/// Checks for technology and version banners: the core's banner headers
/// (`rampart_core::headers::BANNER_HEADERS`), with `Server` counted only when it carries a
/// version (a bare product name is common and harmless).
pub fn banners(x: &Exchange) -> CheckResult {
    let mut findings = Vec::new();
    for name in BANNER_HEADERS {
        let Some(v) = x.header(name) else { continue };
        if *name == "server" && !v.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        findings.push(finding(
            format!("{name} announces the stack: {v:?}"),
            evidence(x, &format!("{name}: {v}")),
            "Remove the header or its version (Express: app.disable('x-powered-by'); nginx: \
             server_tokens off)",
        ));
    }
    judged(BANNERS_ID, 9, BANNERS_TITLE, Severity::Medium, findings)
}

/// Checks HSTS on an https target; on http it does not apply (scan the https URL).
pub fn hsts(x: &Exchange, https: bool) -> CheckResult {
    if !https {
        return CheckResult {
            id: HSTS_ID,
            row: 13,
            title: HSTS_TITLE,
            status: Status::NotApplicable,
            severity: Severity::Critical,
            findings: Vec::new(),
            note: Some("the target is http://: scan its https:// URL to check HSTS".into()),
        };
    }
    let mut findings = Vec::new();
    match x.header("strict-transport-security") {
        None => findings.push(finding(
            "Strict-Transport-Security is missing",
            evidence(x, "(no strict-transport-security)"),
            "Send Strict-Transport-Security: max-age=63072000; includeSubDomains; preload",
        )),
        Some(value) => {
            let age = value
                .split(';')
                .filter_map(|d| d.trim().strip_prefix("max-age="))
                .find_map(|v| v.trim_matches('"').parse::<u64>().ok())
                .unwrap_or(0);
            if age < HSTS_MIN_AGE {
                findings.push(finding(
                    format!("HSTS max-age is {age} seconds (less than a year)"),
                    evidence(x, &format!("strict-transport-security: {value}")),
                    "Use max-age of at least 31536000 (two years: 63072000)",
                ));
            }
        }
    }
    judged(HSTS_ID, 13, HSTS_TITLE, Severity::Critical, findings)
}

/// Id of the HTTPS-redirect check.
pub const REDIRECT_ID: &str = "transport.https_redirect";
/// Its title.
pub const REDIRECT_TITLE: &str = "Plain HTTP redirects to HTTPS";

/// Judges the answer of the plain-http twin (`None`: nothing listens there) for `host`.
pub fn https_redirect(x: Option<&Exchange>, host: &str) -> CheckResult {
    let mut r = judged(
        REDIRECT_ID,
        13,
        REDIRECT_TITLE,
        Severity::Critical,
        Vec::new(),
    );
    let Some(x) = x else {
        r.note = Some("nothing answers plain http: HTTPS only".into());
        return r;
    };
    if x.status.as_u16() == 429 || x.status.is_server_error() {
        r.status = Status::NotApplicable;
        r.note = Some(format!(
            "plain http answered {}: inconclusive",
            x.status.as_u16()
        ));
        return r;
    }
    let location = x.header("location").unwrap_or("");
    let to_https = url::Url::parse(location)
        .is_ok_and(|u| u.scheme() == "https" && u.host_str() == Some(host));
    if x.status.is_redirection() && to_https {
        if !matches!(x.status.as_u16(), 301 | 308) {
            r.note = Some(format!(
                "redirects with {}; a permanent 301 or 308 lets clients remember it",
                x.status.as_u16()
            ));
        }
        return r;
    }
    r.status = Status::Fail;
    r.findings.push(finding(
        format!(
            "plain http answered {} instead of redirecting to https://{host}",
            x.status.as_u16()
        ),
        evidence(x, &format!("location: {location}")),
        "Redirect every plain-http request to https (301/308) and send HSTS on the https answers",
    ));
    r
}

/// Sends TRACE: an echo of the request (headers included) is cross-site tracing.
pub async fn trace(client: &Client, base: &str) -> Result<CheckResult, ClientError> {
    let x = client
        .send(Probe::new(Method::TRACE, base).header("x-rampart-scan", "trace-probe"))
        .await?;
    let mut findings = Vec::new();
    if x.status.is_success() {
        findings.push(finding(
            "TRACE is answered with success",
            evidence(&x, &super::excerpt(&x.body, "x-rampart-scan", 120)),
            "Refuse TRACE (405) at the server or the proxy",
        ));
    }
    Ok(judged(TRACE_ID, 9, TRACE_TITLE, Severity::Medium, findings))
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, StatusCode};

    use super::*;

    fn exchange(headers: &[(&'static str, &str)]) -> Exchange {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        Exchange {
            method: Method::GET,
            path: "/".into(),
            sent: Vec::new(),
            status: StatusCode::OK,
            headers: map,
            body: String::new(),
        }
    }

    const GOOD: &[(&str, &str)] = &[
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("permissions-policy", "camera=()"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains; preload",
        ),
        ("server", "rampart"),
    ];

    #[test]
    fn a_complete_set_passes_and_each_missing_header_is_named() {
        assert_eq!(security_headers(&exchange(GOOD)).status, Status::Pass);
        assert_eq!(banners(&exchange(GOOD)).status, Status::Pass);
        assert_eq!(hsts(&exchange(GOOD), true).status, Status::Pass);
        for (skip, header) in GOOD.iter().enumerate().take(6) {
            let partial: Vec<_> = GOOD.iter().filter(|h| *h != header).copied().collect();
            let result = security_headers(&exchange(&partial));
            assert_eq!(result.status, Status::Fail, "without {header:?}");
            assert_eq!(
                result.findings.len(),
                1 + usize::from(skip == 0),
                "{:?}",
                result.findings
            );
        }
        // X-Frame-Options stands in for frame-ancestors.
        let mut with_xfo: Vec<_> = GOOD.to_vec();
        with_xfo[0] = ("content-security-policy", "default-src 'none'");
        with_xfo.push(("x-frame-options", "DENY"));
        assert_eq!(security_headers(&exchange(&with_xfo)).status, Status::Pass);
    }

    #[test]
    fn banners_and_weak_hsts_fail() {
        let weak = exchange(&[
            ("x-powered-by", "Express"),
            ("server", "nginx/1.25.3"),
            ("strict-transport-security", "max-age=300"),
        ]);
        assert_eq!(banners(&weak).findings.len(), 2);
        assert_eq!(hsts(&weak, true).status, Status::Fail);
        assert_eq!(hsts(&exchange(&[]), true).status, Status::Fail);
        assert_eq!(hsts(&weak, false).status, Status::NotApplicable);
    }

    #[test]
    fn plain_http_must_redirect_to_https_on_the_same_host() {
        let mut to_https = exchange(&[("location", "https://api.example/")]);
        to_https.status = StatusCode::MOVED_PERMANENTLY;
        assert_eq!(
            https_redirect(Some(&to_https), "api.example").status,
            Status::Pass
        );
        let mut elsewhere = exchange(&[("location", "https://evil.example/")]);
        elsewhere.status = StatusCode::MOVED_PERMANENTLY;
        assert_eq!(
            https_redirect(Some(&elsewhere), "api.example").status,
            Status::Fail
        );
        assert_eq!(
            https_redirect(Some(&exchange(&[])), "api.example").status,
            Status::Fail
        );
        assert_eq!(
            https_redirect(None, "api.example").status,
            Status::Pass,
            "https only"
        );
        let mut limited = exchange(&[]);
        limited.status = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            https_redirect(Some(&limited), "api.example").status,
            Status::NotApplicable
        );
    }
}
