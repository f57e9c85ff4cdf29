//! What user A's login response shows: row 3 (token
//! storage: the refresh token only in an `HttpOnly; Secure; SameSite=Strict` cookie scoped to
//! a path, the access token never in a cookie) and row 20 (an ordinary user cannot
//! mass-assign privileged properties of their own account).

use http::Method;
use serde_json::Value;

use super::accounts::{Account, is_elevated, privileged};
use super::{evidence, finding, judged};
use crate::client::{Client, ClientError, Exchange, Probe};
use crate::report::{CheckResult, Finding, Severity, Status};
use crate::spec::Operation;

/// Id of the cookie check.
pub const COOKIE_ID: &str = "tokens.storage";
/// Its title.
pub const COOKIE_TITLE: &str =
    "Refresh tokens only in HttpOnly, Secure, SameSite=Strict, path-scoped cookies";
/// Id of the mass-assignment check.
pub const MASS_ID: &str = "properties.mass_assignment";
/// Its title.
pub const MASS_TITLE: &str = "Privileged properties cannot be set on one's own account";

/// Whether a cookie name looks like it carries a credential.
fn is_credential(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["refresh", "session", "sess", "token", "auth", "sid", "jwt"]
        .iter()
        .any(|w| n.contains(w))
}

/// Judges the cookies a login set; `token` is the access token from the body.
pub fn judge_cookies(x: &Exchange, token: Option<&str>) -> CheckResult {
    let mut findings: Vec<Finding> = Vec::new();
    for raw in x
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        let mut parts = raw.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|nv| nv.split_once('='))
            .unwrap_or(("", ""));
        let attrs: Vec<String> = parts.map(str::to_ascii_lowercase).collect();
        let has = |a: &str| attrs.iter().any(|x| x == a);
        let attr = |a: &str| {
            attrs
                .iter()
                .find_map(|x| x.strip_prefix(&format!("{a}=")).map(str::to_owned))
        };
        let shown = format!("set-cookie: {name}=[REDACTED]; {}", attrs.join("; "));
        if token.is_some_and(|t| !t.is_empty() && value.contains(t)) {
            findings.push(finding(
                format!("the access token is set as the cookie {name:?}"),
                evidence(x, &shown),
                "Return access tokens in the body only; cookies are sent automatically (CSRF)",
            ));
            continue;
        }
        if !is_credential(name) {
            continue;
        }
        let mut missing = Vec::new();
        if !has("httponly") {
            missing.push("HttpOnly");
        }
        if !has("secure") {
            missing.push("Secure");
        }
        if attr("samesite").as_deref() != Some("strict") {
            missing.push("SameSite=Strict");
        }
        if attr("path").is_none_or(|p| p == "/") {
            missing.push("a Path narrower than /");
        }
        if !missing.is_empty() {
            findings.push(finding(
                format!(
                    "the credential cookie {name:?} lacks {}",
                    missing.join(", ")
                ),
                evidence(x, &shown),
                "Set refresh cookies with HttpOnly; Secure; SameSite=Strict; Path=<your auth path>",
            ));
        }
    }
    judged(COOKIE_ID, 3, COOKIE_TITLE, Severity::Critical, findings)
}

/// Sends privileged properties to each described self route (`PATCH` or `PUT` without a
/// path parameter whose path ends in `me`), then re-reads it.
pub async fn mass_assignment(
    client: &Client,
    ops: &[Operation],
    a: &Account,
) -> Result<CheckResult, ClientError> {
    let mut result = judged(MASS_ID, 20, MASS_TITLE, Severity::High, Vec::new());
    // A success would really make the account an admin: only a throw-away account may be tried.
    let (Some(token), true) = (a.token.as_deref(), a.throwaway) else {
        result.status = Status::NotApplicable;
        result.note = Some(
            "needs a throw-away user A (--register): a vulnerable API would really elevate the account"
                .into(),
        );
        return Ok(result);
    };
    let auth = format!("Bearer {token}");
    let targets: Vec<&Operation> = ops
        .iter()
        .filter(|o| matches!(o.method.as_str(), "PATCH" | "PUT") && o.path.ends_with("/me"))
        .collect();
    if targets.is_empty() {
        result.status = Status::NotApplicable;
        result.note = Some("no PATCH or PUT .../me route is described".into());
        return Ok(result);
    }
    for op in targets {
        let method = Method::from_bytes(op.method.as_bytes()).unwrap_or(Method::PATCH);
        let x = client
            .send(
                Probe::new(method, &op.path)
                    .header("authorization", &auth)
                    .body("application/json", privileged().to_string()),
            )
            .await?;
        if !x.status.is_success() {
            continue;
        }
        let after = client
            .send(Probe::get(&op.path).header("authorization", &auth))
            .await?;
        let doc: Value = serde_json::from_str(&after.body).unwrap_or(Value::Null);
        let elevated = is_elevated(&doc);
        if elevated {
            result.findings.push(finding(
                format!("{} {} made the caller an admin", op.method, op.path),
                evidence(&after, &super::excerpt(&after.body, "admin", 120)),
                "Accept only allowlisted fields on updates; refuse role, owner and verification flags",
            ));
            result.severity = Severity::Critical;
        } else {
            result.findings.push(finding(
                format!("{} {} accepted unknown and privileged fields ({})", op.method, op.path, x.status.as_u16()),
                evidence(&x, ""),
                "Refuse unknown fields (400) so a client learns its mistake and no field slips through",
            ));
            result.severity = Severity::Medium;
        }
    }
    result.status = if result.findings.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    Ok(result)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, StatusCode};

    use super::*;

    fn login_with(cookies: &[&str]) -> Exchange {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append("set-cookie", HeaderValue::from_str(c).unwrap());
        }
        Exchange {
            method: Method::POST,
            path: "/login".into(),
            sent: Vec::new(),
            status: StatusCode::OK,
            headers: h,
            body: String::new(),
        }
    }

    #[test]
    fn cookie_attributes_are_judged() {
        let good =
            "rampart_refresh=abc; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age=60";
        assert_eq!(
            judge_cookies(&login_with(&[good, "theme=dark"]), Some("tok")).status,
            Status::Pass
        );
        let weak = judge_cookies(&login_with(&["refresh_token=abc; Path=/"]), None);
        assert_eq!(weak.status, Status::Fail);
        let text = &weak.findings[0].title;
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(
            !weak.findings[0].evidence.response.contains("abc"),
            "cookie values are masked"
        );
        let in_cookie = judge_cookies(
            &login_with(&["access=xyz.tok.sig; HttpOnly; Secure; SameSite=Strict; Path=/a"]),
            Some("xyz.tok.sig"),
        );
        assert!(in_cookie.findings[0].title.contains("access token"));
    }
}
