//! The report as a SARIF 2.1.0 log, for code-scanning dashboards (GitHub code scanning and
//! other SARIF consumers).
//!
//! One run; one rule per check that ran; one result per finding of a failing or warning check
//! (a failing check without findings still gets one result, so that no failure disappears).
//! Passing and not-applicable checks are rules without results, and rows no check covers are
//! listed in `run.properties.rows` only: SARIF has no "not checked" result, and inventing one
//! would read as a finding.
//!
//! Every result is located at the scanned target (`physicalLocation.artifactLocation.uri`):
//! the scanner observes a running API, not a file. Evidence goes verbatim into
//! `result.properties.evidence`; where its text has the usual shape (`METHOD /path ...`,
//! `STATUS ...`) the method, request target and status code are also given as SARIF
//! `webRequest` / `webResponse`. Nothing but the report's own (already masked) text is
//! written. `crates/rampart-scan/schema/sarif-2.1.0.json` is the schema the tests hold this
//! output to.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{CheckResult, ROWS, Report, Severity, Status};

/// The stable address of the SARIF 2.1.0 schema (with OASIS Errata 01).
const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The OWASP API Security Top 10 (2023) entries of the checklist's rows, in row order.
const OWASP: [&str; 20] = [
    "API2",
    "API2",
    "API2",
    "API1",
    "API8",
    "API8",
    "API4",
    "API8",
    "API8",
    "API8",
    "API8",
    "API8",
    "API8",
    "API8/API9",
    "API4",
    "API7",
    "API2",
    "API10",
    "API5",
    "API3",
];

/// Methods the scanner sends; a request line that starts otherwise is not parsed.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

impl Report {
    /// The report as a SARIF 2.1.0 log (one run, tool `rampart scan`), ready to serialize.
    ///
    /// Results carry GitHub's `security-severity` through their rules, so code scanning ranks
    /// them as critical, high, medium or low like the report does.
    pub fn to_sarif(&self) -> Value {
        // One rule per check id, in the order the checks ran; a check id that ran twice
        // would share its rule.
        let mut rule_ids: Vec<&str> = Vec::new();
        let mut rules = Vec::new();
        for c in &self.checks {
            if !rule_ids.contains(&c.id) {
                rule_ids.push(c.id);
                rules.push(rule(c, &self.checks));
            }
        }
        let mut results = Vec::new();
        for c in &self.checks {
            let Some(level) = level(c) else { continue };
            let index = rule_ids.iter().position(|id| *id == c.id).unwrap_or(0);
            if c.findings.is_empty() {
                results.push(self.result(c, index, level, c.title, None));
            }
            for f in &c.findings {
                results.push(self.result(c, index, level, &f.title, Some(f)));
            }
        }
        let mut properties = Map::new();
        properties.insert("target".into(), json!(self.target));
        properties.insert("schema_version".into(), json!(self.schema_version));
        // The rows in the JSON report's form: SARIF has no place for "not checked".
        properties.insert("rows".into(), json!(self.rows));
        if let Some(g) = &self.header_grade {
            properties.insert(
                "header_grade".into(),
                json!({
                    "path": g.path,
                    "grade": g.grade,
                    "score": g.score,
                    "scoring": "MDN HTTP Observatory",
                    "tests": g.tests,
                }),
            );
        }
        json!({
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [{
                "tool": {
                    "driver": {
                        "name": "rampart scan",
                        "version": env!("CARGO_PKG_VERSION"),
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": properties,
            }]
        })
    }

    /// One SARIF result of check `c` (rule `index`), for finding `f` if it has one.
    fn result(
        &self,
        c: &CheckResult,
        index: usize,
        level: &str,
        title: &str,
        f: Option<&super::Finding>,
    ) -> Value {
        let mut fingerprint = Sha256::new();
        for part in [self.target.as_str(), c.id, title] {
            fingerprint.update(part.as_bytes());
            fingerprint.update([0]);
        }
        let fingerprint: String = fingerprint
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut properties = Map::new();
        properties.insert("row".into(), json!(c.row));
        properties.insert("status".into(), json!(status_word(c.status)));
        properties.insert("severity".into(), json!(c.severity.as_str()));
        if let Some(note) = &c.note {
            properties.insert("note".into(), json!(note));
        }
        let mut result = Map::new();
        result.insert("ruleId".into(), json!(c.id));
        result.insert("ruleIndex".into(), json!(index));
        result.insert("level".into(), json!(level));
        result.insert("message".into(), json!({ "text": title }));
        result.insert(
            "locations".into(),
            json!([{ "physicalLocation": { "artifactLocation": { "uri": self.target } } }]),
        );
        result.insert(
            "partialFingerprints".into(),
            json!({ "rampartFinding/v1": fingerprint }),
        );
        if let Some(f) = f {
            if let Some(request) = web_request(&f.evidence.request) {
                result.insert("webRequest".into(), request);
            }
            if let Some(response) = web_response(&f.evidence.response) {
                result.insert("webResponse".into(), response);
            }
            properties.insert(
                "evidence".into(),
                json!({ "request": f.evidence.request, "response": f.evidence.response }),
            );
            properties.insert("remediation".into(), json!(f.remediation));
        }
        result.insert("properties".into(), Value::Object(properties));
        Value::Object(result)
    }
}

/// The rule of `first`'s check id; its help gathers the remediations of every result in `all`
/// with that id.
fn rule(first: &CheckResult, all: &[CheckResult]) -> Value {
    let mut remediations: Vec<&str> = Vec::new();
    let same = all.iter().filter(|c| c.id == first.id);
    for f in same.flat_map(|c| &c.findings) {
        if !remediations.contains(&f.remediation.as_str()) {
            remediations.push(&f.remediation);
        }
    }
    let row = ROWS.iter().find(|(n, _, _)| *n == first.row);
    let (area, priority) = row.map_or(("", Severity::Low), |&(_, a, p)| (a, p));
    let owasp = first
        .row
        .checked_sub(1)
        .and_then(|i| OWASP.get(usize::from(i)))
        .copied();
    let help = if remediations.is_empty() {
        format!(
            "No finding on this target, so no remediation. Checklist row {} ({area}).",
            first.row
        )
    } else {
        remediations.join("\n")
    };
    let mut tags = vec![
        "security".to_owned(),
        format!("checklist-row-{}", first.row),
    ];
    if let Some(o) = owasp {
        tags.extend(o.split('/').map(|e| format!("owasp-api-2023-{e}")));
    }
    let mut properties = Map::new();
    properties.insert("row".into(), json!(first.row));
    if row.is_some() {
        properties.insert("area".into(), json!(area));
        properties.insert("priority".into(), json!(priority.as_str()));
    }
    if let Some(o) = owasp {
        properties.insert("owasp".into(), json!(o));
    }
    properties.insert(
        "security-severity".into(),
        json!(security_severity(first.severity)),
    );
    properties.insert("tags".into(), json!(tags));
    json!({
        "id": first.id,
        "name": pascal_case(first.id),
        "shortDescription": { "text": first.title },
        "fullDescription": {
            "text": format!("Checklist row {} ({area}): {}.", first.row, first.title)
        },
        "help": { "text": help },
        "defaultConfiguration": { "level": fail_level(first.severity) },
        "properties": properties,
    })
}

/// The SARIF level of a check's results; `None`: it has none.
fn level(c: &CheckResult) -> Option<&'static str> {
    match c.status {
        Status::Fail => Some(fail_level(c.severity)),
        Status::Warn => Some("warning"),
        Status::Pass | Status::NotApplicable | Status::NotChecked => None,
    }
}

fn fail_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's `security-severity`: a CVSS-like score whose band (critical over 9.0, high from
/// 7.0, medium from 4.0, low below) decides how code scanning labels the alert.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

/// The JSON form's word (the text form's `FAIL` or `n/a` would be a second vocabulary).
fn status_word(status: Status) -> &'static str {
    match status {
        Status::NotChecked => "not_checked",
        Status::NotApplicable => "not_applicable",
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
    }
}

/// `properties.mass_assignment` -> `PropertiesMassAssignment` (SARIF's rule names are
/// identifier-like).
fn pascal_case(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// `GET /path?q (Header: v)` -> `{method, target}`; anything else -> `None` (it stays in the
/// evidence property only). Headers are not split out: the evidence joins them with `; `,
/// which cookie values contain too.
fn web_request(request: &str) -> Option<Value> {
    let (method, rest) = request.split_once(' ')?;
    if !METHODS.contains(&method) {
        return None;
    }
    let target = rest.split(" (").next()?;
    let origin_form = target.starts_with('/') || target == "*";
    if !origin_form || target.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(json!({ "method": method, "target": target }))
}

/// `200 ...` -> `{statusCode}`; anything else -> `None`.
fn web_response(response: &str) -> Option<Value> {
    let code = response.split(' ').next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    (100..=599)
        .contains(&code)
        .then(|| json!({ "statusCode": code }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_of_the_usual_shape_become_web_requests() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("GET /", Some(("GET", "/"))),
            (
                "OPTIONS /a?b=c (Origin: https://e.example; X: y)",
                Some(("OPTIONS", "/a?b=c")),
            ),
            ("OPTIONS * (Origin: x)", Some(("OPTIONS", "*"))),
            ("GET /x x 20", None),
            ("GET http://elsewhere/", None),
            ("(the token given with --token-a)", None),
            ("get /", None),
            ("BREW /pot", None),
            ("GET /a\u{1b}b", None),
        ];
        for (text, expected) in cases {
            let got = web_request(text);
            let got = got.as_ref().map(|v| {
                (
                    v["method"].as_str().unwrap_or_default(),
                    v["target"].as_str().unwrap_or_default(),
                )
            });
            assert_eq!(got, *expected, "{text:?}");
        }
    }

    #[test]
    fn only_a_leading_status_code_becomes_a_web_response() {
        assert_eq!(
            web_response("200 server: x"),
            Some(json!({"statusCode": 200}))
        );
        assert_eq!(web_response("404"), Some(json!({"statusCode": 404})));
        for text in ["no 429", "exp - iat = 3600", "2000 x", "999 x", "", "20x"] {
            assert_eq!(web_response(text), None, "{text:?}");
        }
    }

    #[test]
    fn rule_names_are_identifier_like() {
        assert_eq!(
            pascal_case("properties.mass_assignment"),
            "PropertiesMassAssignment"
        );
        assert_eq!(pascal_case("http.trace"), "HttpTrace");
    }
}
