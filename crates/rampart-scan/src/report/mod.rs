//! What a scan found: one result per check, rolled up into the checklist's twenty rows.
//!
//! # The JSON report (stable, `schema_version` 1)
//!
//! `serde_json::to_value(&report)` is the documented, stable form. Its schema is
//! `crates/rampart-scan/schema/report-v1.schema.json` (JSON Schema draft 2020-12): every field,
//! which are required, the enums and no other properties. The tests validate reports against it,
//! so the schema and the types cannot drift apart silently. In short: `{schema_version, target,
//! rows: [{row, area, priority, status, checks}], checks: [{id, row, title, status, severity,
//! findings: [{title, evidence: {request, response}, remediation}], note?}], header_grade?:
//! {path, score, grade, tests: [{name, pass, result, score_modifier}]}}`. Statuses are `pass`, `fail`,
//! `warn`, `not_applicable` and, for rows no check covers, `not_checked`; severities are `low`,
//! `medium`, `high`, `critical`. A change a reader could trip on (a field removed, renamed or
//! retyped, a new enum value) takes a new `schema_version` and a new schema file; adding an
//! optional field does too, since the schema refuses unknown properties.
//!
//! # Other renderings
//!
//! - [`Report::to_text`]: for a terminal.
//! - [`Report::to_sarif`]: a SARIF 2.1.0 log for code-scanning dashboards (module `sarif`).
//! - [`Report::to_html`]: one self-contained page for a person, with its own
//!   Content-Security-Policy (module `html`).
//!
//! Evidence is text the scanned server chose (hostile) with secrets already masked; every
//! rendering keeps it inert for its medium and adds nothing unmasked.

use serde::Serialize;

mod html;
mod sarif;

/// The checklist's rows: number, area, priority (`../shared/checklist.md`).
pub const ROWS: [(u8, &str, Severity); 20] = [
    (1, "Token verification", Severity::Critical),
    (2, "Token lifetime", Severity::Critical),
    (3, "Token storage", Severity::Critical),
    (4, "Object-level authorization", Severity::Critical),
    (5, "Input validation", Severity::Critical),
    (6, "Injection", Severity::Critical),
    (7, "Rate limiting", Severity::High),
    (8, "CORS", Severity::High),
    (9, "Security headers", Severity::High),
    (10, "Error handling", Severity::High),
    (11, "Secrets", Severity::Critical),
    (12, "Dependencies", Severity::High),
    (13, "Transport", Severity::Critical),
    (14, "Logging", Severity::Medium),
    (15, "Resource limits", Severity::Medium),
    (16, "SSRF", Severity::Medium),
    (17, "Account lockout", Severity::High),
    (18, "Webhooks", Severity::High),
    (19, "Function-level authorization", Severity::Critical),
    (20, "Property-level authorization", Severity::High),
];

/// How bad a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth fixing.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// A check's or a row's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No check covers the row.
    NotChecked,
    /// The check does not apply to this target.
    NotApplicable,
    /// Observed to pass.
    Pass,
    /// Something to look at, not a demonstrated weakness.
    Warn,
    /// A weakness was demonstrated.
    Fail,
}

impl Status {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotChecked => "not checked",
            Self::NotApplicable => "n/a",
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        }
    }
}

/// What was sent and the telling part of what came back (secrets masked).
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// The request line and the headers the scanner set.
    pub request: String,
    /// Status line and the relevant headers or body excerpt.
    pub response: String,
}

/// One observed problem.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What is wrong.
    pub title: String,
    /// Its evidence.
    pub evidence: Evidence,
    /// How to fix it.
    pub remediation: String,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable id (`--only`, `--skip`).
    pub id: &'static str,
    /// The checklist row it observes.
    pub row: u8,
    /// What it checks.
    pub title: &'static str,
    /// Outcome.
    pub status: Status,
    /// Severity of its findings when it fails or warns.
    pub severity: Severity,
    /// Findings (empty on pass).
    pub findings: Vec<Finding>,
    /// Why it does not apply, or a note on what it observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A row rolled up from its checks.
#[derive(Debug, Clone, Serialize)]
pub struct RowResult {
    /// Row number.
    pub row: u8,
    /// Area.
    pub area: &'static str,
    /// Priority.
    pub priority: Severity,
    /// Worst status of its checks (`not_checked` when none covers it).
    pub status: Status,
    /// The ids of the checks that covered it.
    pub checks: Vec<&'static str>,
}

/// The security-header grade of one page of the target (its base URL, or the first public
/// page when that answers no 2xx), computed with the MDN HTTP Observatory's published scoring
/// rules (`crate::observatory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderGrade {
    /// The graded page's path (the Observatory grades a page that answers 2xx).
    pub path: String,
    /// The score (0 at worst; bonuses can take it past 100).
    pub score: i32,
    /// The letter grade (`A+` .. `F`).
    pub grade: String,
    /// Each Observatory test: its name, outcome and score modifier.
    pub tests: Vec<GradeTest>,
}

/// One Observatory test of [`HeaderGrade`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GradeTest {
    /// The Observatory's test name (`content-security-policy`, ...).
    pub name: String,
    /// Whether it passed.
    pub pass: bool,
    /// The Observatory's result code (`csp-not-implemented`, ...).
    pub result: String,
    /// Its effect on the score.
    pub score_modifier: i32,
}

/// A whole scan.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Schema version of this document.
    pub schema_version: u32,
    /// The scanned base URL.
    pub target: String,
    /// The twenty rows.
    pub rows: Vec<RowResult>,
    /// Every check that ran.
    pub checks: Vec<CheckResult>,
    /// The security-header grade, when the headers were fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_grade: Option<HeaderGrade>,
}

impl Report {
    /// Rolls `checks` up into the rows.
    pub fn new(target: String, checks: Vec<CheckResult>) -> Self {
        let rows = ROWS
            .iter()
            .map(|&(row, area, priority)| {
                let covering: Vec<&CheckResult> = checks.iter().filter(|c| c.row == row).collect();
                RowResult {
                    row,
                    area,
                    priority,
                    status: covering
                        .iter()
                        .map(|c| c.status)
                        .max()
                        .unwrap_or(Status::NotChecked),
                    checks: covering.iter().map(|c| c.id).collect(),
                }
            })
            .collect();
        Self {
            schema_version: 1,
            target,
            rows,
            checks,
            header_grade: None,
        }
    }

    /// Whether a failing or warning check at or above `level` exists (`--fail-on`).
    pub fn fails_at(&self, level: Severity) -> bool {
        self.checks
            .iter()
            .any(|c| c.status == Status::Fail && c.severity >= level)
    }

    /// The text report: the rows, then the findings by severity.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "rampart scan of {}\n", self.target);
        let _ = writeln!(
            out,
            "{:>3}  {:<30} {:<9} {:<12} checks",
            "row", "area", "priority", "status"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:>3}  {:<30} {:<9} {:<12} {}",
                r.row,
                r.area,
                r.priority.as_str(),
                r.status.as_str(),
                r.checks.join(", ")
            );
        }
        if let Some(g) = &self.header_grade {
            let _ = writeln!(
                out,
                "\nSecurity headers: grade {} (score {}) of {}, MDN HTTP Observatory scoring",
                g.grade, g.score, g.path
            );
        }
        let mut failing: Vec<&CheckResult> = self
            .checks
            .iter()
            .filter(|c| matches!(c.status, Status::Fail | Status::Warn))
            .collect();
        failing.sort_by_key(|c| std::cmp::Reverse((c.status, c.severity)));
        if failing.is_empty() {
            let _ = writeln!(out, "\nNo findings.");
        }
        for c in failing {
            let _ = writeln!(
                out,
                "\n[{} {}] {} (row {}, {})",
                c.status.as_str(),
                c.severity.as_str(),
                c.title,
                c.row,
                c.id
            );
            for f in &c.findings {
                let _ = writeln!(out, "  - {}", f.title);
                let _ = writeln!(out, "    request:  {}", one_line(&f.evidence.request));
                let _ = writeln!(out, "    response: {}", one_line(&f.evidence.response));
                let _ = writeln!(out, "    fix:      {}", f.remediation);
            }
        }
        out
    }
}

/// Evidence on one line, bounded, without control characters (response text is hostile).
fn one_line(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &'static str, row: u8, status: Status, severity: Severity) -> CheckResult {
        CheckResult {
            id,
            row,
            title: "t",
            status,
            severity,
            findings: Vec::new(),
            note: None,
        }
    }

    #[test]
    fn rows_take_the_worst_status_and_fail_on_respects_severity() {
        let report = Report::new(
            "http://t".into(),
            vec![
                check("a", 9, Status::Pass, Severity::High),
                check("b", 9, Status::Fail, Severity::Medium),
                check("c", 8, Status::Warn, Severity::High),
            ],
        );
        assert_eq!(report.rows[8].status, Status::Fail);
        assert_eq!(report.rows[7].status, Status::Warn);
        assert_eq!(report.rows[0].status, Status::NotChecked);
        assert!(report.fails_at(Severity::Medium));
        assert!(
            !report.fails_at(Severity::High),
            "a warning does not fail the run"
        );
        let text = report.to_text();
        assert!(text.contains("[FAIL medium]"), "{text}");
        assert!(!text.contains("Security headers: grade"), "{text}");
    }

    #[test]
    fn text_names_the_header_grade_and_its_scoring() {
        let mut report = Report::new("http://t".into(), Vec::new());
        report.header_grade = Some(HeaderGrade {
            path: "/".into(),
            score: 70,
            grade: "B".into(),
            tests: Vec::new(),
        });
        let text = report.to_text();
        assert!(
            text.contains(
                "Security headers: grade B (score 70) of /, MDN HTTP Observatory scoring"
            ),
            "{text}"
        );
    }
}
