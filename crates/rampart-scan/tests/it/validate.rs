//! The documented schemas, compiled: the JSON report's (`schema/report-v1.schema.json`) and
//! SARIF 2.1.0 (`schema/sarif-2.1.0.json`). Shared by this crate's tests and the binary's
//! end-to-end scan tests (`crates/rampart/tests/cli.rs` includes this file).

use serde_json::Value;

/// The JSON report's schema, compiled.
pub(crate) fn report_validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../../schema/report-v1.schema.json")).expect("schema");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the report schema compiles")
}

/// The language pattern of the published schema (`run.language`, `toolComponent.language`),
/// with a stray `]`, as JSON text.
const LANGUAGE_PATTERN: &str = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;

/// The SARIF 2.1.0 schema, compiled.
pub(crate) fn sarif_validator() -> jsonschema::Validator {
    // jsonschema checks every schema against its meta-schema before compiling it, and the
    // draft-07 meta-schema's `regex` format refuses that lone `]` (ECMA-262's legacy grammar
    // reads it as a literal). Escaping it matches the same strings and leaves every other byte
    // as published; the file itself stays untouched. Logs from `to_sarif` set no `language`.
    let text = include_str!("../../schema/sarif-2.1.0.json");
    assert_eq!(
        text.matches(LANGUAGE_PATTERN).count(),
        2,
        "the vendored schema changed"
    );
    let text = text.replace(LANGUAGE_PATTERN, &LANGUAGE_PATTERN.replace("]?$", r"\\]?$"));
    let schema: Value = serde_json::from_str(&text).expect("schema");
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles offline")
}

/// Panics with every error when `instance` does not match.
pub(crate) fn assert_valid(validator: &jsonschema::Validator, log: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
