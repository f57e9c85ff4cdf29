//! Row 19: admin routes — from the description, plus a short built-in list — refuse anonymous
//! callers and ordinary users.

use super::{evidence, finding, judged};
use crate::client::{Client, ClientError, Probe};
use crate::report::{CheckResult, Severity};
use crate::spec::Operation;

/// Id.
pub const ID: &str = "admin.routes";
/// Title.
pub const TITLE: &str = "Admin routes refuse anonymous callers and ordinary users";

/// Admin routes many APIs have.
const BUILT_IN: &[&str] = &[
    "/api/admin/users",
    "/api/admin",
    "/admin/users",
    "/api/v1/admin/users",
];

/// A stand-in for path parameters: a well-formed id nobody has.
const PLACEHOLDER_ID: &str = "00000000-0000-4000-8000-000000000000";

/// The GET admin routes to try: described ones (parameters filled) and the built-in list.
pub fn candidates(ops: &[Operation]) -> Vec<String> {
    let mut out: Vec<String> = ops
        .iter()
        .filter(|o| o.method == "GET" && o.path.split('/').any(|s| s.eq_ignore_ascii_case("admin")))
        .map(|o| fill(&o.path))
        .collect();
    for path in BUILT_IN {
        if !out.iter().any(|p| p == path) {
            out.push((*path).to_owned());
        }
    }
    out
}

fn fill(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                PLACEHOLDER_ID
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Each candidate, anonymously and with the ordinary user's token, must not succeed.
pub async fn run(
    client: &Client,
    ops: &[Operation],
    token: Option<&str>,
) -> Result<CheckResult, ClientError> {
    let mut findings = Vec::new();
    for path in candidates(ops) {
        let anonymous = client.send(Probe::get(&path)).await?;
        if anonymous.status.is_success() {
            findings.push(finding(
                format!(
                    "{path} answers {} without authentication",
                    anonymous.status.as_u16()
                ),
                evidence(&anonymous, ""),
                "Require the admin role on every admin route, deny by default",
            ));
            continue;
        }
        if let Some(token) = token {
            let user = client
                .send(Probe::get(&path).header("authorization", &format!("Bearer {token}")))
                .await?;
            if user.status.is_success() {
                findings.push(finding(
                    format!(
                        "{path} answers {} to an ordinary user",
                        user.status.as_u16()
                    ),
                    evidence(&user, ""),
                    "Check the caller's role (from the server's own records) on every admin route",
                ));
            }
        }
    }
    Ok(judged(ID, 19, TITLE, Severity::Critical, findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_admin_routes_are_tried_with_parameters_filled() {
        let ops = vec![
            Operation {
                method: "GET".into(),
                path: "/api/admin/users/{id}".into(),
                ..Default::default()
            },
            Operation {
                method: "DELETE".into(),
                path: "/api/admin/users/{id}".into(),
                ..Default::default()
            },
            Operation {
                method: "GET".into(),
                path: "/api/administrators".into(),
                ..Default::default()
            },
            Operation {
                method: "GET".into(),
                path: "/api/admin/users".into(),
                ..Default::default()
            },
        ];
        let c = candidates(&ops);
        assert_eq!(c[0], format!("/api/admin/users/{PLACEHOLDER_ID}"));
        assert_eq!(c[1], "/api/admin/users");
        assert_eq!(c.iter().filter(|p| *p == "/api/admin/users").count(), 1);
        assert!(!c.iter().any(|p| p.contains("administrators")));
    }
}
