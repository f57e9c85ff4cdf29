//! The report as one self-contained HTML page, for a person.
//!
//! The page loads nothing: no scripts, no external style sheets, fonts or images, only one
//! inline `<style>` block. Its own Content-Security-Policy (a `<meta http-equiv>`) says so to
//! the browser: `default-src 'none'` and a `style-src` that admits that block by its SHA-256,
//! computed here over the exact text written. A page saved from a CI artifact and opened
//! locally therefore cannot run or fetch anything, even if escaping were ever wrong.
//!
//! **Threat:** evidence, finding titles and notes contain text the scanned server chose (a
//! response body excerpt may be `</pre><script>…`). Every piece of report text goes through
//! [`escape`]: markup characters become entities, and control and bidirectional-formatting
//! characters become visible placeholders so that they can neither break the layout nor
//! reorder what a reader sees. Evidence is already secret-masked; nothing else is added.

use std::fmt::Write;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{CheckResult, Report, Severity, Status};

/// The page's only style. No `url(`, no `@import`: it fetches nothing.
const STYLE: &str = "
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a;
  --line: #d0d7de; --code: #f6f8fa; --fail: #cf222e; --warn: #9a6700; --pass: #1a7f37;
  --na: #6e7781; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8d96a0;
  --line: #30363d; --code: #161b22; --fail: #ff7b72; --warn: #d29922; --pass: #3fb950;
  --na: #8d96a0; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem; color: var(--fg);
  background: var(--bg); font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; }
h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { margin: 0 0 .25rem; font-size: 1.05rem; }
h4 { margin: .75rem 0 .25rem; font-size: .95rem; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { margin: 0; padding: .5rem .75rem; background: var(--code); border: 1px solid var(--line);
  border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
a { color: inherit; }
.muted, .meta { color: var(--muted); }
.summary > span { margin-right: 1rem; }
.status, .sev { display: inline-block; min-width: 4.5rem; padding: 0 .4rem; border-radius: 4px;
  font-size: .8rem; font-weight: 600; text-align: center; border: 1px solid currentColor; }
.st-fail { color: var(--fail); } .st-warn { color: var(--warn); }
.st-pass { color: var(--pass); } .st-na, .st-nc { color: var(--na); }
.sev { border-style: dashed; }
.sev-critical, .sev-high { color: var(--fail); } .sev-medium { color: var(--warn); }
.sev-low { color: var(--muted); }
.grade { font-size: 1.4rem; }
.check { margin: 1rem 0; padding: .75rem 1rem; border: 1px solid var(--line);
  border-radius: 8px; }
.finding { margin-top: .75rem; padding-top: .5rem; border-top: 1px dashed var(--line); }
dl { display: grid; grid-template-columns: 6.5rem 1fr; gap: .35rem .75rem; margin: .5rem 0 0; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; min-width: 0; }
footer { margin-top: 2.5rem; font-size: .85rem; color: var(--muted); }
@media print { body { max-width: none; } .check { break-inside: avoid; } }
";

impl Report {
    /// The report as one self-contained HTML page: the target, the twenty rows with status
    /// and priority, the header grade (if any) with its tests, then the findings by severity
    /// with their evidence and remediation.
    ///
    /// The page carries a Content-Security-Policy that allows only its own inline style
    /// (by hash); all report text is escaped.
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let style_hash =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        let target = escape(&self.target);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'sha256-{style_hash}'; img-src 'none'; font-src 'none'; \
             base-uri 'none'; form-action 'none'\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>rampart scan of {target}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        );
        self.html_header(&mut out, &target);
        self.html_rows(&mut out);
        self.html_grade(&mut out);
        self.html_findings(&mut out);
        self.html_quiet_checks(&mut out);
        let _ = write!(
            out,
            "<footer>Generated by rampart scan {}. Evidence is what the scanned server sent, \
             shown as text, with credentials masked. Rows no check covers are <em>not \
             checked</em>, never passing.</footer>\n</body>\n</html>\n",
            escape(env!("CARGO_PKG_VERSION"))
        );
        out
    }

    fn html_header(&self, out: &mut String, target: &str) {
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        let not_checked = self
            .rows
            .iter()
            .filter(|r| r.status == Status::NotChecked)
            .count();
        let _ = write!(
            out,
            "<header>\n<h1>rampart scan</h1>\n<p>Target: <code>{target}</code></p>\n\
             <p class=\"summary\"><span>Checks:</span>\
             <span><span class=\"status st-fail\">FAIL</span> {}</span>\
             <span><span class=\"status st-warn\">warn</span> {}</span>\
             <span><span class=\"status st-pass\">pass</span> {}</span>\
             <span><span class=\"status st-na\">n/a</span> {}</span>\
             <span class=\"muted\">Rows not checked: {not_checked} of {}</span></p>\n\
             </header>\n",
            count(Status::Fail),
            count(Status::Warn),
            count(Status::Pass),
            count(Status::NotApplicable),
            self.rows.len(),
        );
    }

    fn html_rows(&self, out: &mut String) {
        out.push_str(
            "<section id=\"rows\">\n<h2>Checklist</h2>\n<table>\n<thead><tr><th>#</th>\
             <th>Area</th><th>Priority</th><th>Status</th><th>Checks</th></tr></thead>\n<tbody>\n",
        );
        for r in &self.rows {
            let checks: Vec<String> = r
                .checks
                .iter()
                .map(|id| {
                    let id = escape(id);
                    format!("<a href=\"#check-{id}\"><code>{id}</code></a>")
                })
                .collect();
            let _ = writeln!(
                out,
                "<tr id=\"row-{n}\"><td class=\"num\">{n}</td><td>{area}</td><td>{priority}</td>\
                 <td>{status}</td><td>{checks}</td></tr>",
                n = r.row,
                area = escape(r.area),
                priority = severity_badge(r.priority),
                status = status_badge(r.status),
                checks = checks.join(", "),
            );
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }

    fn html_grade(&self, out: &mut String) {
        let Some(g) = &self.header_grade else { return };
        let _ = write!(
            out,
            "<section id=\"header-grade\">\n<h2>Security headers</h2>\n<p>Grade \
             <strong class=\"grade\">{}</strong> (score {}) of <code>{}</code>, MDN HTTP Observatory scoring.</p>\n",
            escape(&g.grade),
            g.score,
            escape(&g.path)
        );
        if !g.tests.is_empty() {
            out.push_str(
                "<table>\n<thead><tr><th>Test</th><th>Outcome</th><th>Result</th>\
                 <th>Score modifier</th></tr></thead>\n<tbody>\n",
            );
            for t in &g.tests {
                let outcome = if t.pass {
                    status_badge(Status::Pass)
                } else {
                    status_badge(Status::Fail)
                };
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{outcome}</td><td><code>{}</code></td>\
                     <td class=\"num\">{:+}</td></tr>",
                    escape(&t.name),
                    escape(&t.result),
                    t.score_modifier
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
        out.push_str("</section>\n");
    }

    fn html_findings(&self, out: &mut String) {
        out.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
        let mut any = false;
        for severity in [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ] {
            let mut checks: Vec<&CheckResult> = self
                .checks
                .iter()
                .filter(|c| matches!(c.status, Status::Fail | Status::Warn))
                .filter(|c| c.severity == severity)
                .collect();
            if checks.is_empty() {
                continue;
            }
            any = true;
            // Failures before warnings; otherwise in the order the checks ran.
            checks.sort_by_key(|c| std::cmp::Reverse(c.status));
            let _ = writeln!(
                out,
                "<h3 class=\"sev-{0}\">{1}</h3>",
                severity.as_str(),
                capitalized(severity.as_str())
            );
            for c in checks {
                self.html_check(out, c);
            }
        }
        if !any {
            out.push_str("<p>No findings.</p>\n");
        }
        out.push_str("</section>\n");
    }

    fn html_check(&self, out: &mut String, c: &CheckResult) {
        let area = super::ROWS
            .iter()
            .find(|(n, _, _)| *n == c.row)
            .map_or("", |(_, a, _)| a);
        let _ = write!(
            out,
            "<article class=\"check\" id=\"check-{id}\">\n<h3>{status} {severity} {title}</h3>\n\
             <p class=\"meta\">Row <a href=\"#row-{row}\">{row}</a> ({area}) &middot; check \
             <code>{id}</code></p>\n",
            id = escape(c.id),
            status = status_badge(c.status),
            severity = severity_badge(c.severity),
            title = escape(c.title),
            row = c.row,
            area = escape(area),
        );
        if let Some(note) = &c.note {
            let _ = writeln!(out, "<p>{}</p>", escape(note));
        }
        if c.findings.is_empty() {
            out.push_str("<p class=\"muted\">The check recorded no finding details.</p>\n");
        }
        for f in &c.findings {
            let _ = write!(
                out,
                "<div class=\"finding\">\n<h4>{}</h4>\n<dl>\n<dt>Request</dt><dd><pre>{}</pre></dd>\n\
                 <dt>Response</dt><dd><pre>{}</pre></dd>\n<dt>Fix</dt><dd>{}</dd>\n</dl>\n</div>\n",
                escape(&f.title),
                escape(&f.evidence.request),
                escape(&f.evidence.response),
                escape(&f.remediation),
            );
        }
        out.push_str("</article>\n");
    }

    /// Checks that passed or did not apply, with their notes: what was looked at.
    fn html_quiet_checks(&self, out: &mut String) {
        let quiet: Vec<&CheckResult> = self
            .checks
            .iter()
            .filter(|c| !matches!(c.status, Status::Fail | Status::Warn))
            .collect();
        if quiet.is_empty() {
            return;
        }
        out.push_str(
            "<section id=\"other-checks\">\n<h2>Checks without findings</h2>\n<table>\n\
             <thead><tr><th>Check</th><th>Row</th><th>Status</th><th>What it checks</th>\
             <th>Note</th></tr></thead>\n<tbody>\n",
        );
        for c in quiet {
            let _ = writeln!(
                out,
                "<tr id=\"check-{id}\"><td><code>{id}</code></td><td class=\"num\">\
                 <a href=\"#row-{row}\">{row}</a></td><td>{status}</td><td>{title}</td>\
                 <td>{note}</td></tr>",
                id = escape(c.id),
                row = c.row,
                status = status_badge(c.status),
                title = escape(c.title),
                note = c.note.as_deref().map(escape).unwrap_or_default(),
            );
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }
}

fn status_badge(status: Status) -> String {
    let class = match status {
        Status::NotChecked => "st-nc",
        Status::NotApplicable => "st-na",
        Status::Pass => "st-pass",
        Status::Warn => "st-warn",
        Status::Fail => "st-fail",
    };
    format!(
        "<span class=\"status {class}\">{}</span>",
        escape(status.as_str())
    )
}

fn severity_badge(severity: Severity) -> String {
    format!(
        "<span class=\"sev sev-{0}\">{0}</span>",
        escape(severity.as_str())
    )
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// Report text as inert HTML text, for element content and quoted attribute values alike.
///
/// `&`, `<`, `>`, `"` and `'` become entities. Line feeds and tabs stay (evidence is shown in
/// `<pre>`). Other control characters (C0, DEL, C1, including CR) and the bidirectional
/// formatting characters (which could make hostile text display in another order than it
/// reads, "Trojan Source") become visible placeholders like `[U+202E]`, so a reader sees that
/// they were there.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "[U+{:04X}]", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// The Unicode characters that change display order (bidirectional formatting controls).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_markup_inert_and_hidden_characters_visible() {
        let cases: &[(&str, &str)] = &[
            ("plain text", "plain text"),
            (
                "<script>alert('x')</script>",
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;",
            ),
            ("a=\"b\" & c", "a=&quot;b&quot; &amp; c"),
            ("&amp;", "&amp;amp;"),
            ("line\nnext\tcol", "line\nnext\tcol"),
            ("\r\n", "[U+000D]\n"),
            (
                "\u{0}\u{1b}[31m\u{7f}\u{85}",
                "[U+0000][U+001B][31m[U+007F][U+0085]",
            ),
            ("abc\u{202e}gpj.exe", "abc[U+202E]gpj.exe"),
            ("\u{2066}x\u{2069}", "[U+2066]x[U+2069]"),
            ("naïve – ünïcode ✓", "naïve – ünïcode ✓"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape(input), *expected, "{input:?}");
        }
    }
}
