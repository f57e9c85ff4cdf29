//! Row 8: CORS. A hostile origin, `null`, and look-alikes of the target's own origin (the
//! core's `look_alikes`, the same list Rampart's own tests probe with) must not be reflected;
//! `*` must never come with credentials.

use http::Method;
use rampart_core::origin::{Origin, look_alikes};

use super::{evidence, finding};
use crate::client::{Client, ClientError, Exchange, Probe};
use crate::report::{CheckResult, Finding, Severity, Status};

/// Id.
pub const ID: &str = "cors.origins";
/// Title.
pub const TITLE: &str = "CORS allows only listed origins, never with reflection or * + credentials";

/// An origin no one may list.
const HOSTILE: &str = "https://rampart-scan.invalid";

/// Judges one response to a request from `origin`.
pub fn judge(x: &Exchange, origin: &str) -> Option<(Finding, Severity)> {
    let allowed = x.header("access-control-allow-origin")?.trim();
    let credentials = x
        .header("access-control-allow-credentials")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let shown = format!(
        "access-control-allow-origin: {allowed}; access-control-allow-credentials: {credentials}"
    );
    if allowed == "*" {
        return Some(if credentials {
            (
                finding(
                    "wildcard origin with credentials",
                    evidence(x, &shown),
                    "Never combine * with credentials: answer only listed origins, exactly",
                ),
                Severity::Critical,
            )
        } else {
            (
                finding(
                    "any origin may read responses (Access-Control-Allow-Origin: *)",
                    evidence(x, &shown),
                    "Answer only the exact origins of your front ends",
                ),
                Severity::Medium,
            )
        });
    }
    if allowed == origin.trim() {
        let what = if origin == "null" {
            "the null origin (sandboxed frames, file: pages) is allowed".to_owned()
        } else {
            format!("the origin {origin:?} is reflected")
        };
        let severity = if credentials {
            Severity::Critical
        } else {
            Severity::High
        };
        return Some((
            finding(
                format!(
                    "{what}{}",
                    if credentials {
                        ", with credentials"
                    } else {
                        ""
                    }
                ),
                evidence(x, &shown),
                "Compare the Origin header with an exact allowlist; never echo it or match by prefix, suffix or regex",
            ),
            severity,
        ));
    }
    None
}

/// Probes the hostile origin, `null`, look-alikes of the target's origin, and a preflight.
pub async fn run(client: &Client, base: &str) -> Result<CheckResult, ClientError> {
    let mut origins = vec![HOSTILE.to_owned()];
    let own = client.origin().origin().ascii_serialization();
    if let Ok(origin) = Origin::parse(&own) {
        origins.extend(look_alikes(&origin));
    } else {
        origins.push("null".into());
    }
    let mut findings = Vec::new();
    let mut worst = Severity::Low;
    for origin in &origins {
        let x = client
            .send(Probe::get(base).header("origin", origin))
            .await?;
        if let Some((f, s)) = judge(&x, origin) {
            findings.push(f);
            worst = worst.max(s);
        }
    }
    let preflight = client
        .send(
            Probe::new(Method::OPTIONS, base)
                .header("origin", HOSTILE)
                .header("access-control-request-method", "DELETE")
                .header("access-control-request-headers", "authorization"),
        )
        .await?;
    if let Some((f, s)) = judge(&preflight, HOSTILE) {
        findings.push(f);
        worst = worst.max(s);
    }
    Ok(CheckResult {
        id: ID,
        row: 8,
        title: TITLE,
        status: if findings.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        severity: if findings.is_empty() {
            Severity::High
        } else {
            worst
        },
        findings,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, StatusCode};

    use super::*;

    fn answer(acao: Option<&str>, credentials: bool) -> Exchange {
        let mut h = HeaderMap::new();
        if let Some(v) = acao {
            h.insert(
                "access-control-allow-origin",
                HeaderValue::from_str(v).unwrap(),
            );
        }
        if credentials {
            h.insert(
                "access-control-allow-credentials",
                HeaderValue::from_static("true"),
            );
        }
        Exchange {
            method: Method::GET,
            path: "/".into(),
            sent: vec![("origin".into(), HOSTILE.into())],
            status: StatusCode::OK,
            headers: h,
            body: String::new(),
        }
    }

    #[test]
    fn reflection_null_and_wildcards_are_judged_by_severity() {
        assert!(judge(&answer(None, false), HOSTILE).is_none());
        assert!(judge(&answer(Some("https://app.example"), true), HOSTILE).is_none());
        assert_eq!(
            judge(&answer(Some(HOSTILE), true), HOSTILE).unwrap().1,
            Severity::Critical
        );
        assert_eq!(
            judge(&answer(Some(HOSTILE), false), HOSTILE).unwrap().1,
            Severity::High
        );
        assert_eq!(
            judge(&answer(Some("null"), true), "null").unwrap().1,
            Severity::Critical
        );
        assert_eq!(
            judge(&answer(Some("*"), true), HOSTILE).unwrap().1,
            Severity::Critical
        );
        assert_eq!(
            judge(&answer(Some("*"), false), HOSTILE).unwrap().1,
            Severity::Medium
        );
    }
}
