//! Exposed files (row 11: secrets in `.env`, git metadata) and debug routes (row 19: admin
//! and diagnostic functions reachable without authentication).

use super::{evidence, excerpt, finding, judged};
use crate::client::{Client, ClientError, Exchange, Probe};
use crate::report::{CheckResult, Finding, Severity};

/// Id of the exposed-files check.
pub const FILES_ID: &str = "exposure.files";
/// Its title.
pub const FILES_TITLE: &str = "No configuration or repository files are served";
/// Id of the debug-routes check.
pub const DEBUG_ID: &str = "exposure.debug";
/// Its title.
pub const DEBUG_TITLE: &str = "No debug or diagnostic routes answer anonymously";

/// Files and what proves the response is the file (not a catch-all page).
const FILES: &[(&str, &str)] = &[
    ("/.env", "="),
    ("/.env.production", "="),
    ("/.git/config", "[core]"),
    ("/.git/HEAD", "ref: "),
    ("/.aws/credentials", "aws_access_key_id"),
    ("/.npmrc", "="),
];

/// Diagnostic routes frameworks ship.
const DEBUG: &[&str] = &[
    "/debug",
    "/debug/vars",
    "/debug/pprof/",
    "/actuator",
    "/actuator/env",
    "/server-status",
    "/phpinfo.php",
    "/__debug__/",
    "/api/debug",
    "/api/debug/users",
    "/admin",
    "/console",
];

/// Whether `x` is a real answer: a success that is not the target's "not found" page.
fn served(x: &Exchange, missing: &Exchange) -> bool {
    x.status.is_success() && !(missing.status.is_success() && x.body == missing.body)
}

/// Requests each known file; one that is served with its telling content fails.
pub async fn files(client: &Client, missing: &Exchange) -> Result<CheckResult, ClientError> {
    let mut findings: Vec<Finding> = Vec::new();
    for (path, proof) in FILES {
        let x = client.send(Probe::get(path)).await?;
        if served(&x, missing) && x.body.contains(proof) {
            // Only the first characters: the file may hold secrets the report must not copy.
            findings.push(finding(
                format!("{path} is served"),
                evidence(&x, &format!("{} bytes, starting {:?}", x.body.len(), excerpt(&x.body, "", 12))),
                "Serve only the API; keep configuration and repository files out of the web root, and rotate any secret the file held",
            ));
        }
    }
    Ok(judged(
        FILES_ID,
        11,
        FILES_TITLE,
        Severity::Critical,
        findings,
    ))
}

/// Requests each known diagnostic route anonymously.
pub async fn debug_routes(client: &Client, missing: &Exchange) -> Result<CheckResult, ClientError> {
    let mut findings = Vec::new();
    for path in DEBUG {
        let x = client.send(Probe::get(path)).await?;
        if served(&x, missing) {
            findings.push(finding(
                format!(
                    "{path} answers {} without authentication",
                    x.status.as_u16()
                ),
                evidence(&x, &excerpt(&x.body, "", 80)),
                "Remove debug routes from production builds, or put them behind the admin role",
            ));
        }
    }
    Ok(judged(DEBUG_ID, 19, DEBUG_TITLE, Severity::High, findings))
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::checks::testing::answer;

    #[test]
    fn a_catch_all_page_is_not_an_exposed_file() {
        let spa = answer(200, "<html>app</html>");
        assert!(!served(&answer(200, "<html>app</html>"), &spa));
        assert!(served(&answer(200, "APP_ENV=production"), &spa));
        assert!(!served(&answer(404, "nope"), &answer(404, "nope")));
        assert!(served(&answer(200, "{}"), &answer(404, "{}")));
    }
}
