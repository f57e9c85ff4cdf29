//! The JSON report against `schema/report-v1.schema.json`, the documented stable schema.

use serde_json::{Value, json};

use crate::fixtures;
use crate::validate::report_validator as validator;

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn reports_with_and_without_a_header_grade_match_the_schema() {
    let validator = validator();
    for with_grade in [false, true] {
        let value = serde_json::to_value(fixtures::report(with_grade)).expect("json");
        assert_eq!(value.get("header_grade").is_some(), with_grade);
        let errors = errors(&validator, &value);
        assert!(errors.is_empty(), "with_grade={with_grade}: {errors:#?}");
    }
}

#[test]
fn the_fixture_covers_every_status_and_severity() {
    let value = serde_json::to_value(fixtures::report(true)).expect("json");
    let mut statuses = Vec::new();
    let mut severities = Vec::new();
    for row in value["rows"].as_array().expect("rows") {
        statuses.push(row["status"].as_str().expect("status"));
        severities.push(row["priority"].as_str().expect("priority"));
    }
    for check in value["checks"].as_array().expect("checks") {
        statuses.push(check["status"].as_str().expect("status"));
        severities.push(check["severity"].as_str().expect("severity"));
    }
    for s in fixtures::STATUSES {
        assert!(statuses.contains(&s), "no {s} in the fixture");
    }
    for s in fixtures::SEVERITIES {
        assert!(severities.contains(&s), "no {s} in the fixture");
    }
}

/// Each case breaks one promise of the schema; the validator must name the place.
#[test]
fn the_schema_rejects_what_a_reader_could_trip_on() {
    type Break = fn(&mut Value);
    let cases: &[(&str, Break, &str)] = &[
        (
            "unknown check status",
            |v| v["checks"][0]["status"] = json!("broken"),
            "/checks/0/status",
        ),
        (
            "unknown row status",
            |v| v["rows"][3]["status"] = json!("passed"),
            "/rows/3/status",
        ),
        (
            "unknown severity",
            |v| v["checks"][1]["severity"] = json!("severe"),
            "/checks/1/severity",
        ),
        (
            "status in the text form",
            |v| v["checks"][0]["status"] = json!("FAIL"),
            "/checks/0/status",
        ),
        ("unknown top-level field", |v| v["extra"] = json!(true), ""),
        (
            "unknown finding field",
            |v| v["checks"][0]["findings"][0]["cvss"] = json!(9.8),
            "/checks/0/findings/0",
        ),
        (
            "missing remediation",
            |v| {
                v["checks"][0]["findings"][0]
                    .as_object_mut()
                    .expect("finding")
                    .remove("remediation");
            },
            "/checks/0/findings/0",
        ),
        (
            "missing evidence response",
            |v| {
                v["checks"][0]["findings"][0]["evidence"]
                    .as_object_mut()
                    .expect("evidence")
                    .remove("response");
            },
            "/checks/0/findings/0/evidence",
        ),
        (
            "other schema version",
            |v| v["schema_version"] = json!(2),
            "/schema_version",
        ),
        (
            "nineteen rows",
            |v| {
                v["rows"].as_array_mut().expect("rows").pop();
            },
            "/rows",
        ),
        (
            "row out of range",
            |v| v["checks"][0]["row"] = json!(21),
            "/checks/0/row",
        ),
        (
            "unknown grade",
            |v| v["header_grade"]["grade"] = json!("Z"),
            "/header_grade/grade",
        ),
        (
            "grade test without its result",
            |v| {
                v["header_grade"]["tests"][0]
                    .as_object_mut()
                    .expect("test")
                    .remove("result");
            },
            "/header_grade/tests/0",
        ),
        (
            "note that is not text",
            |v| v["checks"][7]["note"] = json!(null),
            "/checks/7/note",
        ),
    ];
    let validator = validator();
    let valid = serde_json::to_value(fixtures::report(true)).expect("json");
    assert!(validator.is_valid(&valid));
    for (name, breaks, path) in cases {
        let mut value = valid.clone();
        breaks(&mut value);
        assert_ne!(value, valid, "{name}: the case changed nothing");
        let errors = errors(&validator, &value);
        assert!(
            errors.iter().any(|e| e.ends_with(&format!(" at {path}"))),
            "{name}: expected an error at {path:?}, got {errors:#?}"
        );
    }
}
