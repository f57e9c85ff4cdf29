//! Row 6: injection. SQL and NoSQL payloads in path parameters and the query must be refused
//! or not found (4xx) — never a server error, and never a response revealing the database.

use super::errors::leak;
use super::{evidence, excerpt, finding, judged};
use crate::client::{Client, ClientError, Probe};
use crate::report::{CheckResult, Severity};
use crate::spec::Operation;

/// Id.
pub const ID: &str = "injection.params";
/// Title.
pub const TITLE: &str = "SQL and NoSQL payloads in parameters are refused, never executed";

/// Payloads, already URL-encoded.
const PAYLOADS: &[&str] = &[
    "1%27%20OR%20%271%27%3D%271",
    "1%22%20OR%20%221%22%3D%221",
    "1%3B%20DROP%20TABLE%20users--",
    "%7B%22%24gt%22%3A%22%22%7D",
    "1%27%29%29%20UNION%20SELECT%20NULL--",
];

/// Most routes probed.
const MAX_ROUTES: usize = 10;

/// GET routes with a path parameter, each parameter replaced by `payload`.
pub fn targets(ops: &[Operation], payload: &str) -> Vec<String> {
    ops.iter()
        .filter(|o| o.method == "GET" && o.path.contains('{'))
        .take(MAX_ROUTES)
        .map(|o| {
            o.path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') && s.ends_with('}') {
                        payload
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

/// Probes every described GET route with a path parameter, and the base with a query.
pub async fn run(
    client: &Client,
    ops: &[Operation],
    base: &str,
    token: Option<&str>,
) -> Result<CheckResult, ClientError> {
    let mut findings = Vec::new();
    for payload in PAYLOADS {
        let mut paths = targets(ops, payload);
        paths.push(format!("{base}?id={payload}&q={payload}"));
        for path in paths {
            let mut probe = Probe::get(&path);
            if let Some(t) = token {
                probe = probe.header("authorization", &format!("Bearer {t}"));
            }
            let x = client.send(probe).await?;
            if x.status.is_server_error() {
                findings.push(finding(
                    format!("an injection payload caused a server error ({})", x.status.as_u16()),
                    evidence(&x, &excerpt(&x.body, "", 160)),
                    "Parse parameters into typed values and bind them: never build queries from text",
                ));
            } else if let Some((needle, what)) = leak(&x.body) {
                findings.push(finding(
                    format!("an injection payload's response reveals {what}"),
                    evidence(&x, &excerpt(&x.body, needle, 160)),
                    "Parse parameters into typed values and bind them; never echo database errors",
                ));
            }
        }
    }
    Ok(judged(ID, 6, TITLE, Severity::Critical, findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_replaced() {
        let ops = vec![
            Operation {
                method: "GET".into(),
                path: "/api/items/{id}".into(),
                ..Default::default()
            },
            Operation {
                method: "GET".into(),
                path: "/api/items".into(),
                ..Default::default()
            },
            Operation {
                method: "DELETE".into(),
                path: "/api/items/{id}".into(),
                ..Default::default()
            },
        ];
        assert_eq!(targets(&ops, "X"), ["/api/items/X"]);
    }
}
