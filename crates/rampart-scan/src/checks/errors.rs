//! Row 10: error handling. Malformed input must get a 4xx, and no response may carry a stack
//! trace, SQL text, a file path or a framework's name.

use http::Method;

use super::{MISSING_PATH, evidence, excerpt, finding};
use crate::client::{Client, ClientError, Exchange, Probe};
use crate::report::{CheckResult, Severity, Status};

/// Id.
pub const ID: &str = "errors.verbose";
/// Title.
pub const TITLE: &str = "Errors are 4xx envelopes without internals";

/// Text that only internals produce: (needle, what it reveals). Matched case-sensitively
/// against response bodies.
const LEAKS: &[(&str, &str)] = &[
    ("Traceback (most recent call last)", "a Python stack trace"),
    ("File \"/", "a server file path"),
    ("\n    at ", "a JavaScript or Java stack trace"),
    ("at Object.<anonymous>", "a Node.js stack trace"),
    ("node_modules/", "a server file path"),
    ("Exception in thread", "a Java stack trace"),
    ("java.lang.", "Java internals"),
    ("panicked at", "a Rust panic"),
    ("/home/", "a server file path"),
    ("/usr/src/", "a server file path"),
    ("/var/www/", "a server file path"),
    ("C:\\", "a server file path"),
    ("SQLSTATE", "a database error"),
    ("syntax error at or near", "SQL text (PostgreSQL)"),
    ("SQLITE_ERROR", "a database error (SQLite)"),
    ("sqlite3.", "a database error (SQLite)"),
    ("You have an error in your SQL syntax", "SQL text (MySQL)"),
    ("ORA-0", "a database error (Oracle)"),
    ("SELECT ", "SQL text"),
    ("SyntaxError: Unexpected", "a parser's message (Node.js)"),
    ("Werkzeug", "the framework's name"),
    ("django", "the framework's name"),
    ("Express", "the framework's name"),
    ("serde", "the library's name"),
    ("sqlx", "the library's name"),
];

/// The first internal a body reveals.
pub fn leak(body: &str) -> Option<(&'static str, &'static str)> {
    LEAKS
        .iter()
        .find(|(needle, _)| body.contains(needle))
        .copied()
}

fn judge(x: &Exchange, findings: &mut Vec<crate::report::Finding>) {
    if x.status.is_server_error() {
        findings.push(finding(
            format!(
                "malformed input caused a server error ({})",
                x.status.as_u16()
            ),
            evidence(x, &excerpt(&x.body, "", 160)),
            "Validate input before using it and answer 400 with a stable error envelope",
        ));
    }
    if let Some((needle, what)) = leak(&x.body) {
        findings.push(finding(
            format!("the response reveals {what}"),
            evidence(x, &excerpt(&x.body, needle, 160)),
            "Log the details server-side under a request id; send only a generic message",
        ));
    }
}

/// Sends malformed JSON, a wrong content type, and a hostile path.
pub async fn run(client: &Client, base: &str) -> Result<CheckResult, ClientError> {
    let probes = [
        Probe::new(Method::POST, base).body("application/json", &b"{\"a\": [1, 2,"[..]),
        Probe::new(Method::POST, base).body(
            "application/json",
            &b"{\"id\": {\"$gt\": \"\"}, \"n\": 1e999999}"[..],
        ),
        Probe::new(Method::POST, base).body("text/plain", &b"\x00\xff not json"[..]),
        Probe::get(&format!(
            "{MISSING_PATH}/%27%22%3Cx%3E%00?id=1%27%20OR%20%271%27=%271"
        )),
    ];
    let mut findings = Vec::new();
    for probe in probes {
        let x = client.send(probe).await?;
        judge(&x, &mut findings);
    }
    Ok(CheckResult {
        id: ID,
        row: 10,
        title: TITLE,
        status: if findings.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        severity: Severity::High,
        findings,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_are_recognised_and_envelopes_are_not() {
        for body in [
            "Traceback (most recent call last):\n  File \"/app/main.py\", line 3",
            "TypeError: x\n    at handler (/srv/app.js:10:5)",
            "error: syntax error at or near \"'\"",
            "thread 'main' panicked at src/main.rs:1:1",
            "<pre>SyntaxError: Unexpected token } in JSON at position 7</pre>",
        ] {
            assert!(leak(body).is_some(), "{body}");
        }
        for body in [
            r#"{"error":"invalid_json","message":"The body is not valid JSON.","request_id":"abc"}"#,
            r#"{"error":"not_found","message":"Not found.","request_id":"abc"}"#,
        ] {
            assert_eq!(leak(body), None, "{body}");
        }
    }
}
