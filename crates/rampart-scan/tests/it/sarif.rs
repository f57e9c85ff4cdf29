//! `Report::to_sarif` against the SARIF 2.1.0 schema (`schema/sarif-2.1.0.json`) and what code
//! scanning reads from it.

use rampart_scan::report::{Report, Severity, Status};
use serde_json::{Value, json};

use crate::fixtures;
use crate::validate::{assert_valid, sarif_validator as validator};

fn run(log: &Value) -> &Value {
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    &runs[0]
}

#[test]
fn logs_with_and_without_a_grade_and_without_checks_are_valid_sarif() {
    let validator = validator();
    for report in [
        fixtures::report(true),
        fixtures::report(false),
        Report::new(fixtures::TARGET.into(), Vec::new()),
    ] {
        let log = report.to_sarif();
        assert_valid(&validator, &log);
        assert_eq!(log["version"], "2.1.0");
        assert!(
            log["$schema"]
                .as_str()
                .expect("$schema")
                .starts_with("https://")
        );
        let driver = &run(&log)["tool"]["driver"];
        assert_eq!(driver["name"], "rampart scan");
        assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    }
}

/// The validation is not vacuous: the schema refuses a log with a broken result.
#[test]
fn the_sarif_schema_rejects_a_broken_log() {
    let validator = validator();
    let good = fixtures::report(false).to_sarif();
    type Break = fn(&mut Value);
    let cases: &[(&str, Break)] = &[
        ("level outside the enum", |v| {
            v["runs"][0]["results"][0]["level"] = json!("critical")
        }),
        ("result without a message", |v| {
            v["runs"][0]["results"][0]
                .as_object_mut()
                .expect("result")
                .remove("message");
        }),
        ("other version", |v| v["version"] = json!("2.0.0")),
        ("unknown property on a result", |v| {
            v["runs"][0]["results"][0]["severity"] = json!("high")
        }),
        ("status code as text", |v| {
            v["runs"][0]["results"][3]["webResponse"]["statusCode"] = json!("200");
        }),
    ];
    for (name, breaks) in cases {
        let mut log = good.clone();
        breaks(&mut log);
        assert!(!validator.is_valid(&log), "{name}: accepted");
    }
}

#[test]
fn one_rule_per_check_with_row_area_priority_and_security_severity() {
    let report = fixtures::report(true);
    let log = report.to_sarif();
    let rules = run(&log)["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert_eq!(rules.len(), report.checks.len());
    for (rule, check) in rules.iter().zip(&report.checks) {
        assert_eq!(rule["id"], check.id);
        assert_eq!(rule["shortDescription"]["text"], check.title);
        let p = &rule["properties"];
        assert_eq!(p["row"], check.row);
        let row = &report.rows[usize::from(check.row) - 1];
        assert_eq!(p["area"], row.area);
        assert_eq!(p["priority"], row.priority.as_str());
        let score: f64 = p["security-severity"]
            .as_str()
            .expect("a numeric string")
            .parse()
            .expect("numeric");
        let band = match check.severity {
            Severity::Critical => 9.0..=10.0,
            Severity::High => 7.0..=8.9,
            Severity::Medium => 4.0..=6.9,
            Severity::Low => 0.1..=3.9,
        };
        assert!(band.contains(&score), "{}: {score}", check.id);
        let tags = p["tags"].as_array().expect("tags");
        assert!(tags.contains(&json!("security")));
        let help = rule["help"]["text"].as_str().expect("help");
        for f in &check.findings {
            assert!(help.contains(&f.remediation), "{}: {help}", check.id);
        }
    }
    let cors = rules
        .iter()
        .find(|r| r["id"] == "cors.origins")
        .expect("cors");
    assert_eq!(
        cors["help"]["text"]
            .as_str()
            .expect("help")
            .matches("Allow exact origins")
            .count(),
        1,
        "a remediation shared by two findings is given once"
    );
}

#[test]
fn results_are_the_findings_of_failing_and_warning_checks_only() {
    let report = fixtures::report(true);
    let log = report.to_sarif();
    let rules = run(&log)["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    let results = run(&log)["results"].as_array().expect("results");
    let mut expected = Vec::new();
    for c in &report.checks {
        let level = match (c.status, c.severity) {
            (Status::Fail, Severity::Critical | Severity::High) => "error",
            (Status::Fail, Severity::Medium) | (Status::Warn, _) => "warning",
            (Status::Fail, Severity::Low) => "note",
            _ => continue,
        };
        if c.findings.is_empty() {
            expected.push((c.id, c.title.to_owned(), level));
        }
        for f in &c.findings {
            expected.push((c.id, f.title.clone(), level));
        }
    }
    let got: Vec<(&str, String, &str)> = results
        .iter()
        .map(|r| {
            let index =
                usize::try_from(r["ruleIndex"].as_u64().expect("ruleIndex")).expect("index");
            assert_eq!(
                rules[index]["id"], r["ruleId"],
                "ruleIndex points at its rule"
            );
            (
                r["ruleId"].as_str().expect("ruleId"),
                r["message"]["text"].as_str().expect("message").to_owned(),
                r["level"].as_str().expect("level"),
            )
        })
        .collect();
    assert_eq!(got, expected);
    for id in ["transport.hsts", "limits.body"] {
        assert!(
            !results.iter().any(|r| r["ruleId"] == id),
            "{id} has no result"
        );
    }
    for r in results {
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            fixtures::TARGET
        );
        assert!(r["partialFingerprints"]["rampartFinding/v1"].is_string());
    }
}

#[test]
fn evidence_is_kept_verbatim_and_given_as_web_request_and_response_where_it_fits() {
    let log = fixtures::report(false).to_sarif();
    let results = run(&log)["results"].as_array().expect("results");
    let by_title = |title: &str| {
        results
            .iter()
            .find(|r| r["message"]["text"] == title)
            .unwrap_or_else(|| panic!("no result {title:?}"))
    };
    let git = by_title("/.git/HEAD is served");
    assert_eq!(
        git["webRequest"],
        json!({"method": "GET", "target": "/.git/HEAD"})
    );
    assert_eq!(git["webResponse"], json!({"statusCode": 200}));
    let hostile = by_title(fixtures::HOSTILE_TITLE);
    assert_eq!(
        hostile["properties"]["evidence"],
        json!({"request": fixtures::HOSTILE_REQUEST, "response": fixtures::HOSTILE_RESPONSE})
    );
    assert_eq!(hostile["webResponse"], json!({"statusCode": 500}));
    // The hostile request target holds a quote and a backtick but no space: it is the path the
    // scanner sent, kept as a string; JSON escaping makes it inert.
    assert_eq!(hostile["webRequest"]["method"], "GET");
    let forged = by_title("A token with alg none was accepted");
    assert_eq!(
        forged["properties"]["evidence"]["request"], "GET /me (Authorization: [REDACTED])",
        "masked evidence stays masked"
    );
    assert_eq!(
        forged["webRequest"],
        json!({"method": "GET", "target": "/me"})
    );
}

#[test]
fn the_header_grade_is_in_the_run_properties_when_there_is_one() {
    let with = fixtures::report(true).to_sarif();
    let grade = &run(&with)["properties"]["header_grade"];
    assert_eq!(grade["grade"], "B");
    assert_eq!(grade["score"], 70);
    assert_eq!(grade["scoring"], "MDN HTTP Observatory");
    assert_eq!(grade["tests"].as_array().expect("tests").len(), 3);
    let without = fixtures::report(false).to_sarif();
    assert!(run(&without)["properties"].get("header_grade").is_none());
    let rows = run(&without)["properties"]["rows"]
        .as_array()
        .expect("rows");
    assert_eq!(
        rows.len(),
        20,
        "rows no check covers are still accounted for"
    );
    assert!(rows.iter().any(|r| r["status"] == "not_checked"));
}
