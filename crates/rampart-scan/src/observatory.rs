//! The security-header grade of a target, computed exactly as the MDN HTTP Observatory computes
//! it: a port of `@mdn/mdn-http-observatory` 1.4.8 (scoring algorithm version 4), the npm
//! package behind <https://developer.mozilla.org/en-US/observatory/>.
//!
//! Use: `observatory::grade(&observatory::observe(&client, "/").await?)`, after checking
//! [`refusal`] (the Observatory gives no grade at all for some targets).
//!
//! # What the Observatory requests
//!
//! Given `127.0.0.1:8080` on its command line (`mdn-http-observatory-scan 127.0.0.1:8080`; the
//! CLI has no port or scheme option: it prefixes the argument with `http://` and `https://`, so
//! `host:port` and `host:port/path` both work), it makes, in this order:
//!
//! 1. at once, `GET http://127.0.0.1:8080/` and `GET https://127.0.0.1:8080/`, each a *session*
//!    that follows 301/302/303/307/308 redirects by hand (at most 10, always with `GET`,
//!    `Location` resolved against the current URL, a missing `Location` read as the relative URL
//!    `undefined`) and keeps the cookies of every hop in a jar. Both send
//!    `Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8` and a Firefox
//!    `User-Agent`. The https session of a plain-http port fails (the server sees a TLS
//!    ClientHello). The *auto* response is the https session's final response if that session
//!    succeeded, else the http session's;
//! 2. `GET /robots.txt` through a second client without the cookie jar: its answer is thrown
//!    away, so it cannot change the grade, and [`observe`] does not send it;
//! 3. a CORS preflight: `OPTIONS` to the auto session's final URL with
//!    `Origin: https://http-observatory.security.mozilla.org` and
//!    `Access-Control-Request-Method: GET` (and the same `Accept`), following up to 10 redirects
//!    of any 3xx with a `Location` (a 303 turns it into a `GET`). Only a final 2xx is kept.
//!
//! There is no `/crossdomain.xml`, `/clientaccesspolicy.xml` or `contribute.json` probe any
//! more: those belonged to the retired Python Observatory.
//!
//! The package's install script downloads Chromium's HSTS preload list from the internet; the
//! CLI cannot run without that file. CI (`.ci/run`) installs with scripts off and writes an empty
//! list, which changes nothing for loopback or IP targets (they are never on it). This port has
//! no preload list either: `hsts-preloaded` and `redirection-all-redirects-preloaded` never occur.
//!
//! # Scoring
//!
//! Ten tests each give one result; each result has a score modifier ([`score_modifier`]). The
//! score starts at 100. Penalties always count; bonuses (positive modifiers) count only when 100
//! plus the penalties is at least 90 (`MINIMUM_SCORE_FOR_EXTRA_CREDIT`). The score is floored at
//! 0 and the letter comes from the multiple of 5 at or below it, capped at 100 (`A+` at 100 and
//! above, `A` 90–99, `A-` 85, `B+` 80, `B` 70–79, `B-` 65, `C+` 60, `C` 50–59, `C-` 45, `D+` 40,
//! `D` 30–39, `D-` 25, `F` below 25).
//!
//! Over plain http two penalties are unavoidable, `hsts-not-implemented-no-https` (-20) and
//! `redirection-missing` or `redirection-not-to-https` (-20): a plain-http target scores at most
//! 60 (`C+`) and never earns a bonus.
//!
//! The tests, with the Observatory's result names (each function below documents its rules):
//! `content-security-policy`, `cookies`, `cross-origin-resource-sharing`, `redirection`,
//! `referrer-policy`, `strict-transport-security`, `subresource-integrity`,
//! `x-content-type-options`, `x-frame-options`, `cross-origin-resource-policy`.
//!
//! The port keeps the tool's quirks, because the point is to agree with it: how Node.js joins a
//! repeated header (`X-Frame-Options: DENY` twice is `DENY, DENY`, which is invalid), that a
//! `<meta>` CSP's `frame-ancestors` still earns `x-frame-options-implemented-via-csp`, that
//! `max-age=abc` counts as at least six months, that CORS "universal access" is never reported
//! (the tool looks for the request's `Origin` where Node does not keep it), that any body that
//! parses as JSON is read as that JSON value before HTML is looked for, and so on.
//!
//! # Where the port cannot match exactly
//!
//! - **Other origins.** [`observe`] goes through [`Client`], which only talks to the scanned
//!   origin: it cannot make the http and https sessions both (an `https://` target gets no
//!   `redirection` evidence from port 80, so it scores `redirection-not-needed-no-http`), nor
//!   follow a redirect to another origin (the chain stops; [`Fetch::unfollowed`] records where it
//!   would have gone, and the other tests see the redirect response instead of the final page).
//!   An https target whose certificate does not verify is unreachable for the client, where the
//!   tool retries without verification and scores `hsts-invalid-cert`. A CORS preflight
//!   redirected to another origin counts as no preflight.
//! - **Request headers.** [`observe`] sends the tool's `Accept` (servers negotiate on it) but
//!   the scanner's own `User-Agent`, no `Accept-Encoding`, and no cookies back along a redirect
//!   chain as the tool's jar would: a server that answers differently to those differs here.
//! - **Registrable domains** (`subresource-integrity` compares a script's with the target's, and
//!   a cookie's `Domain` must not be a public suffix) come from the Public Suffix List in the
//!   tool. Here: none for IP addresses and single labels, else the last two labels. Exact for IP
//!   and `localhost` targets and for domains under one-label suffixes (`.com`, `.org`, ...).
//! - **HTML** is read by a small tokenizer, not jsdom: comments, raw-text elements
//!   (`<script>`, `<style>`, `<title>`, `<textarea>`, ..., and `<noscript>` when looking for
//!   `<meta>`), `<template>` contents, first-wins attributes and the common character references
//!   are handled; SVG/MathML foreign content, `<select>` and most named character references
//!   are not. jsdom also throws on some `style` attributes (an unterminated at-rule block such as
//!   `style="@media x {"`), which makes the tool score `html-not-parseable` (-20) and drop the
//!   page's `<meta>` tags; this port does not model jsdom's CSS parser.
//! - **Sorting** of CSP sources uses ICU collation in the tool; here the same order for ASCII,
//!   code-point order for anything else (it only matters for superfluous-source pruning).
//! - **Bodies** are cut at the client's 256 KiB, the tool reads them whole.

use std::cmp::Ordering;
use std::net::IpAddr;

use http::{HeaderMap, Method, StatusCode};
use url::Url;

use crate::client::{Client, ClientError, Exchange, Probe};
use crate::report::{GradeTest, HeaderGrade};

/// The `Accept` header of every Observatory request but `robots.txt`.
pub const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
/// The `Origin` of the Observatory's CORS preflight.
pub const CORS_ORIGIN: &str = "https://http-observatory.security.mozilla.org";
/// Redirects a session follows; the response after the tenth is final, whatever it is.
const MAX_REDIRECTS: usize = 10;
/// The statuses the sessions treat as redirects.
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];
/// Bonuses count only when 100 plus the penalties reaches this.
const MINIMUM_SCORE_FOR_EXTRA_CREDIT: i32 = 90;
/// Six months for HSTS, as the tool rounds it (15552000 s rather than 15768000 s).
const SIX_MONTHS: f64 = 15_552_000.0;

/// One of the Observatory's sessions: a `GET` of [`Fetch::url`] with its redirects followed.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Where the session started (`http://127.0.0.1:8080/`): the tool's `session.url`, whose
    /// scheme the CSP and SRI tests read.
    pub url: Url,
    /// Every response of the chain in order, each with the URL that gave it; the last is the
    /// session's final response. Never empty.
    pub hops: Vec<Hop>,
    /// A redirect [`observe`] could not follow because it leaves the scanned origin: the URL the
    /// tool would have fetched next. `None` when the chain ended on the origin.
    pub unfollowed: Option<Url>,
    /// Whether the certificate chain verified (always true over http).
    pub verified: bool,
}

/// One response of a [`Fetch`].
#[derive(Debug, Clone)]
pub struct Hop {
    /// The URL requested.
    pub url: Url,
    /// What came back.
    pub exchange: Exchange,
}

impl Fetch {
    /// The session's final response.
    pub fn last(&self) -> Option<&Exchange> {
        self.hops.last().map(|h| &h.exchange)
    }
}

/// Everything the Observatory's tests read, as [`observe`] collected it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The `http://` session, when it got an answer.
    pub http: Option<Fetch>,
    /// The `https://` session, when it got an answer.
    pub https: Option<Fetch>,
    /// The final answer to the CORS preflight, when it was a 2xx (the tool keeps nothing else).
    pub cors: Option<Exchange>,
}

impl Observed {
    /// The session the tests read: https when it answered, else http.
    fn auto(&self) -> Option<&Fetch> {
        self.https.as_ref().or(self.http.as_ref())
    }
}

/// Sends the Observatory's probes for `base_path` through `client`: the `GET` with same-origin
/// redirects followed, then the CORS preflight to the final URL.
///
/// A target that does not answer gives an [`Observed`] without that session ([`refusal`] then
/// says why the tool would not grade it); only a spent budget or a bad path is an error.
pub async fn observe(client: &Client, base_path: &str) -> Result<Observed, ClientError> {
    if !base_path.starts_with('/') {
        return Err(ClientError::BadTarget(format!(
            "{base_path:?} is not a path"
        )));
    }
    let mut start = client.origin().clone();
    let (path, query) = base_path
        .split_once('?')
        .map_or((base_path, None), |(p, q)| (p, Some(q)));
    start.set_path(path);
    start.set_query(query);
    start.set_fragment(None);
    let fetch = fetch(client, start).await?;
    let cors = match &fetch {
        Some(f) if f.unfollowed.is_none() => match f.hops.last() {
            Some(hop) => preflight(client, hop.url.clone()).await?,
            None => None,
        },
        _ => None,
    };
    Ok(if client.is_https() {
        Observed {
            http: None,
            https: fetch,
            cors,
        }
    } else {
        Observed {
            http: fetch,
            https: None,
            cors,
        }
    })
}

/// The path and query of `url`, as the client takes them.
fn path_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Whether `url` is on the scanned origin.
fn same_origin(client: &Client, url: &Url) -> bool {
    let origin = client.origin();
    url.scheme() == origin.scheme()
        && url.host_str() == origin.host_str()
        && url.port_or_known_default() == origin.port_or_known_default()
}

/// One session: `GET url`, then each redirect by hand, as the tool's interceptor does.
async fn fetch(client: &Client, start: Url) -> Result<Option<Fetch>, ClientError> {
    let mut hops: Vec<Hop> = Vec::new();
    let mut url = start.clone();
    let mut unfollowed = None;
    loop {
        let probe = Probe::get(&path_of(&url)).header("accept", ACCEPT);
        let exchange = match client.send(probe).await {
            Ok(e) => e,
            // The tool's whole session fails with the request: no response at all.
            Err(ClientError::Unreachable(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let status = exchange.status.as_u16();
        let location = node_header(&exchange.headers, "location");
        hops.push(Hop {
            url: url.clone(),
            exchange,
        });
        if hops.len() > MAX_REDIRECTS || !REDIRECT_STATUSES.contains(&status) {
            break;
        }
        // `new URL(response.headers.location, url)`: an absent header is the string "undefined".
        let Ok(next) = url.join(location.as_deref().unwrap_or("undefined")) else {
            // The tool throws inside its interceptor: the session fails.
            return Ok(None);
        };
        if !matches!(next.scheme(), "http" | "https") {
            return Ok(None);
        }
        if !same_origin(client, &next) {
            unfollowed = Some(next);
            break;
        }
        url = next;
    }
    Ok(Some(Fetch {
        url: start,
        hops,
        unfollowed,
        verified: true,
    }))
}

/// The CORS preflight, through the tool's plain axios client (follow-redirects semantics).
async fn preflight(client: &Client, mut url: Url) -> Result<Option<Exchange>, ClientError> {
    let mut method = Method::OPTIONS;
    let mut redirects = 0;
    loop {
        let probe = Probe::new(method.clone(), &path_of(&url))
            .header("accept", ACCEPT)
            .header("access-control-request-method", "GET")
            .header("origin", CORS_ORIGIN);
        let exchange = match client.send(probe).await {
            Ok(e) => e,
            Err(ClientError::Unreachable(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let location = node_header(&exchange.headers, "location");
        match location {
            Some(location) if exchange.status.is_redirection() => {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Ok(None);
                }
                let Ok(next) = url.join(&location) else {
                    return Ok(None);
                };
                if !same_origin(client, &next) {
                    return Ok(None);
                }
                if exchange.status == StatusCode::SEE_OTHER {
                    method = Method::GET;
                }
                url = next;
            }
            // axios rejects anything but a 2xx, and the retriever keeps `null` then.
            _ => return Ok(exchange.status.is_success().then_some(exchange)),
        }
    }
}

/// Why the Observatory would give no grade at all, in its own words (the CLI prints
/// `{"error": "..."}`), or `None` when it grades. [`grade`] still computes the tests then.
pub fn refusal(observed: &Observed) -> Option<String> {
    let Some(response) = observed.auto().and_then(Fetch::last) else {
        return Some("The site seems to be down.".into());
    };
    let status = response.status.as_u16();
    if status < 200 || (status >= 400 && status != 401 && status != 403) {
        return Some(format!(
            "Site did respond with an unexpected HTTP status code {status}."
        ));
    }
    None
}

/// The score modifier of each result (the tool's `SCORE_TABLE`); 0 for an unknown name.
pub fn score_modifier(result: &str) -> i32 {
    match result {
        "csp-implemented-with-no-unsafe-default-src-none" => 10,
        "csp-implemented-with-no-unsafe" => 5,
        "csp-implemented-with-unsafe-inline-in-style-src-only" => 0,
        "csp-implemented-with-insecure-scheme-in-passive-content-only" => -10,
        "csp-implemented-with-unsafe-eval" => -10,
        "csp-implemented-with-unsafe-inline" => -20,
        "csp-implemented-with-insecure-scheme" => -20,
        "csp-header-invalid" => -25,
        "csp-not-implemented" => -25,
        "csp-not-implemented-but-reporting-enabled" => -25,
        "csp-implemented-but-duplicate-directives" => 0,
        "cookies-secure-with-httponly-sessions-and-samesite" => 5,
        "cookies-secure-with-httponly-sessions" => 0,
        "cookies-not-found" => 0,
        "cookies-without-secure-flag-but-protected-by-hsts" => -5,
        "cookies-session-without-secure-flag-but-protected-by-hsts" => -10,
        "cookies-without-secure-flag" => -20,
        "cookies-samesite-flag-invalid" => -20,
        "cookies-anticsrf-without-samesite-flag" => -20,
        "cookies-session-without-httponly-flag" => -30,
        "cookies-session-without-secure-flag" => -40,
        "cross-origin-resource-sharing-not-implemented" => 0,
        "cross-origin-resource-sharing-implemented-with-public-access" => 0,
        "cross-origin-resource-sharing-implemented-with-restricted-access" => 0,
        "cross-origin-resource-sharing-implemented-with-universal-access" => -50,
        "redirection-all-redirects-preloaded" => 0,
        "redirection-to-https" => 0,
        "redirection-not-needed-no-http" => 0,
        "redirection-off-host-from-http" => -5,
        "redirection-not-to-https-on-initial-redirection" => -10,
        "redirection-not-to-https" => -20,
        "redirection-missing" => -20,
        "redirection-invalid-cert" => -20,
        "referrer-policy-private" => 5,
        "referrer-policy-not-implemented" => 0,
        "referrer-policy-unsafe" => -5,
        "referrer-policy-header-invalid" => -5,
        "hsts-preloaded" => 5,
        "hsts-implemented-max-age-at-least-six-months" => 0,
        "hsts-implemented-max-age-less-than-six-months" => -10,
        "hsts-not-implemented" => -20,
        "hsts-header-invalid" => -20,
        "hsts-not-implemented-no-https" => -20,
        "hsts-invalid-cert" => -20,
        "sri-implemented-and-all-scripts-loaded-securely" => 5,
        "sri-implemented-and-external-scripts-loaded-securely" => 5,
        "sri-not-implemented-response-not-html" => 0,
        "sri-not-implemented-but-no-scripts-loaded" => 0,
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin" => 0,
        "sri-not-implemented-but-external-scripts-loaded-securely" => -5,
        "sri-implemented-but-external-scripts-not-loaded-securely" => -20,
        "sri-not-implemented-and-external-scripts-not-loaded-securely" => -50,
        "x-content-type-options-nosniff" => 0,
        "x-content-type-options-not-implemented" => -5,
        "x-content-type-options-header-invalid" => -5,
        "x-frame-options-implemented-via-csp" => 5,
        "x-frame-options-sameorigin-or-deny" => 0,
        "x-frame-options-allow-from-origin" => 0,
        "x-frame-options-not-implemented" => -20,
        "x-frame-options-header-invalid" => -20,
        "corp-header-invalid" => -5,
        "corp-implemented-with-cross-origin" => 0,
        "corp-implemented-with-same-origin" => 10,
        "corp-implemented-with-same-site" => 10,
        "corp-not-implemented" => 0,
        "html-not-parseable" => -20,
        _ => 0,
    }
}

/// The letter for a score (the tool's `GRADE_CHART`): the multiple of 5 at or below it, capped
/// at 100. `score` must not be negative.
fn letter(score: i32) -> &'static str {
    match (score - score % 5).min(100) {
        100 => "A+",
        90 | 95 => "A",
        85 => "A-",
        80 => "B+",
        70 | 75 => "B",
        65 => "B-",
        60 => "C+",
        50 | 55 => "C",
        45 => "C-",
        40 => "D+",
        30 | 35 => "D",
        25 => "D-",
        _ => "F",
    }
}

/// One test's outcome.
struct Outcome {
    result: &'static str,
    pass: bool,
}

impl Outcome {
    fn new(result: &'static str, pass: bool) -> Self {
        Self { result, pass }
    }
}

/// The Observatory's grade for what [`observe`] saw: its ten tests in its order, and the score
/// and letter computed from them. See [`refusal`] for targets the tool would not grade.
pub fn grade(observed: &Observed) -> HeaderGrade {
    let page = Page::new(observed);
    let outcomes = [
        ("content-security-policy", csp_test(&page).outcome),
        ("cookies", cookies_test(observed, &page)),
        ("cross-origin-resource-sharing", cors_test(observed)),
        ("redirection", redirection_test(observed)),
        ("referrer-policy", referrer_test(&page)),
        ("strict-transport-security", hsts_test(observed)),
        ("subresource-integrity", sri_test(&page)),
        ("x-content-type-options", xcto_test(&page)),
        ("x-frame-options", xfo_test(&page)),
        ("cross-origin-resource-policy", corp_test(&page)),
    ];
    let mut with_extra_credit = 100;
    let mut uncurved = 100;
    let tests = outcomes
        .into_iter()
        .map(|(name, outcome)| {
            let modifier = score_modifier(outcome.result);
            with_extra_credit += modifier;
            if modifier < 0 {
                uncurved += modifier;
            }
            GradeTest {
                name: name.to_owned(),
                pass: outcome.pass,
                result: outcome.result.to_owned(),
                score_modifier: modifier,
            }
        })
        .collect();
    let score = if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT {
        with_extra_credit
    } else {
        uncurved
    }
    .max(0);
    HeaderGrade {
        path: page
            .url
            .map_or_else(|| "/".to_owned(), |u| u.path().to_owned()),
        score,
        grade: letter(score).to_owned(),
        tests,
    }
}

// --- What the tests read -------------------------------------------------------------------------

/// The auto response as the tests see it: Node's headers, the page text, its `<meta>` tags.
struct Page<'a> {
    /// The auto session's start URL (`requests.session.url`).
    url: Option<&'a Url>,
    /// The auto session's final response.
    response: Option<&'a Exchange>,
    /// The page text (`requests.resources.path`), `None` where JavaScript sees a falsy value.
    text: Option<String>,
    /// `<meta http-equiv="content-security-policy">` contents, for an HTML response.
    meta_csp: Vec<String>,
    /// The last `<meta name="referrer">` content, for an HTML response.
    meta_referrer: Option<String>,
    /// The registrable domain of the scanned host (SRI's `parse(requests.hostname).domain`).
    domain: Option<String>,
}

impl<'a> Page<'a> {
    fn new(observed: &'a Observed) -> Self {
        let auto = observed.auto();
        let response = auto.and_then(Fetch::last);
        let text = response.and_then(|r| page_text(&r.body));
        let mut page = Page {
            url: auto.map(|f| &f.url),
            response,
            text,
            meta_csp: Vec::new(),
            meta_referrer: None,
            domain: auto
                .and_then(|f| f.url.host_str())
                .and_then(registrable_domain),
        };
        // `headers["content-type"]?.split(";")[0]`: exact, case-sensitive, untrimmed.
        let html = match &page.text {
            Some(text) if page.is_html() => start_tags(text, Parse::Fragment),
            _ => Vec::new(),
        };
        for tag in html.iter().filter(|t| t.name == "meta") {
            match (tag.attr("http-equiv"), tag.attr("content")) {
                (Some(equiv), Some(content)) => {
                    if !content.is_empty()
                        && js_trim(&equiv.to_lowercase()) == "content-security-policy"
                    {
                        page.meta_csp.push(content.to_owned());
                    }
                }
                // Not `http-equiv`, but the tool treats it the same way.
                _ => {
                    let is_referrer = tag
                        .attr("name")
                        .is_some_and(|n| js_trim(&n.to_lowercase()) == "referrer");
                    if let Some(content) =
                        tag.attr("content").filter(|c| is_referrer && !c.is_empty())
                    {
                        page.meta_referrer = Some(content.to_owned());
                    }
                }
            }
        }
        page
    }

    /// `response.headers[name]` as Node.js builds it.
    fn header(&self, name: &str) -> Option<String> {
        self.response.and_then(|r| node_header(&r.headers, name))
    }

    /// Whether the response's content type is exactly `text/html` or `application/xhtml+xml`
    /// before any `;`.
    fn is_html(&self) -> bool {
        let content_type = self.header("content-type").unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or_default();
        mime == "text/html" || mime == "application/xhtml+xml"
    }

    /// Whether the session started on https.
    fn is_https(&self) -> bool {
        self.url.is_some_and(|u| u.scheme() == "https")
    }
}

/// Node.js's headers for the duplicates it keeps only the first of.
const NODE_FIRST_ONLY: [&str; 18] = [
    "age",
    "authorization",
    "content-length",
    "content-type",
    "etag",
    "expires",
    "from",
    "host",
    "if-modified-since",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "proxy-authorization",
    "referer",
    "retry-after",
    "server",
    "user-agent",
];

/// A header value as Node.js hands it over: bytes read as Latin-1, spaces and tabs trimmed.
fn latin1(value: &http::HeaderValue) -> String {
    let text: String = value.as_bytes().iter().map(|&b| char::from(b)).collect();
    text.trim_matches([' ', '\t']).to_owned()
}

/// `response.headers[name]` in Node.js: repeated fields joined with `", "`, except the few it
/// keeps the first of. (`set-cookie` is a list: see [`set_cookies`].)
fn node_header(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().map(latin1);
    let first = values.next()?;
    if NODE_FIRST_ONLY.contains(&name) {
        return Some(first);
    }
    Some(values.fold(first, |joined, v| joined + ", " + &v))
}

/// The `set-cookie` fields of a response, each on its own.
fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers.get_all("set-cookie").iter().map(latin1).collect()
}

/// What axios makes of a body, as JavaScript's truthiness and `String()` see it: a leading BOM
/// dropped, then any text that parses as JSON replaced by the parsed value (whatever the
/// content type). `None` for what JavaScript finds falsy (`""`, `null`, `false`, `0`).
fn page_text(body: &str) -> Option<String> {
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    if body.is_empty() {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Err(_) => Some(body.to_owned()),
        Ok(serde_json::Value::Null | serde_json::Value::Bool(false)) => None,
        Ok(serde_json::Value::Number(n)) if n.as_f64() == Some(0.0) => None,
        Ok(serde_json::Value::String(s)) if s.is_empty() => None,
        Ok(value) => Some(js_string(&value)),
    }
}

/// JavaScript's `String(value)` for a parsed JSON value.
fn js_string(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                v => js_string(v),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

// --- content-security-policy ---------------------------------------------------------------------

/// The CSP test's outcome, and whether its `data` has a `frame-ancestors` directive (which the
/// X-Frame-Options test reads).
struct CspOutcome {
    outcome: Outcome,
    frame_ancestors: bool,
}

/// Sources too broad to restrict anything.
const DANGEROUSLY_BROAD: [&str; 8] = [
    "ftp:",
    "http:",
    "https:",
    "*",
    "http://*",
    "http://*.*",
    "https://*",
    "https://*.*",
];
/// Sources that allow inline code.
const UNSAFE_INLINE: [&str; 2] = ["'unsafe-inline'", "data:"];
/// How nonces and hashes start.
const NONCES_HASHES: [&str; 4] = ["'sha256-", "'sha384-", "'sha512-", "'nonce-"];

fn is_broad(source: &str) -> bool {
    DANGEROUSLY_BROAD.contains(&source)
}

fn is_broad_or_unsafe(source: &str) -> bool {
    is_broad(source) || UNSAFE_INLINE.contains(&source)
}

fn has_nonce_or_hash(sources: &[String]) -> bool {
    sources
        .iter()
        .any(|s| NONCES_HASHES.iter().any(|p| s.starts_with(p)))
}

/// `content-security-policy`: the `Content-Security-Policy` header (repeated fields arrive
/// joined with `", "`, so they read as one policy) together with the page's
/// `<meta http-equiv>` policies.
///
/// - `csp-not-implemented` (-25): no response, or neither the header nor the meta policies
///   (after dropping `frame-ancestors`, `report-uri` and `sandbox`, which a meta tag may not
///   set) have a directive; `csp-not-implemented-but-reporting-enabled` (-25) if then a
///   `Content-Security-Policy-Report-Only` header is present.
/// - `csp-header-invalid` (-25): a policy shorter than 6 characters, a repeated directive other
///   than `report-uri`/`report-to`, a malformed `%` escape met while merging policies, or
///   `'strict-dynamic'` without a nonce or hash in the effective `script-src`.
/// - Otherwise, with the effective `script-src`, `style-src`, `object-src` (each falling back
///   to `default-src`, then `*`); `'unsafe-inline'` dropped where a nonce or hash is present;
///   with `'strict-dynamic'` and a nonce/hash, scheme/`*` sources, `'self'` and
///   `'unsafe-inline'` dropped from `script-src`; the first that applies of:
///   `csp-implemented-with-unsafe-inline` (-20: `'unsafe-inline'`, `data:` or a broad source in
///   `script-src`, or a broad source in `object-src`), `csp-implemented-with-insecure-scheme`
///   (-20: https site, an `http:`/`ftp:` source in a non-passive directive),
///   `csp-implemented-with-unsafe-eval` (-10), `...-insecure-scheme-in-passive-content-only`
///   (-10: https site, in `img-src`/`media-src`), `...-unsafe-inline-in-style-src-only` (0),
///   `csp-implemented-with-no-unsafe-default-src-none` (+10: `default-src 'none'` alone),
///   `csp-implemented-with-no-unsafe` (+5).
/// - A passing result becomes `csp-implemented-but-duplicate-directives` (0) when
///   `report-uri` or `report-to` was repeated.
///
/// Several policies (header and meta tags) merge as the tool does: a source survives when the
/// next policy has a matching one, a directive only in a later policy becomes `'none'`.
fn csp_test(page: &Page<'_>) -> CspOutcome {
    let not = |result| CspOutcome {
        outcome: Outcome::new(result, false),
        frame_ancestors: false,
    };
    let (Some(response), Some(_)) = (page.response, page.url) else {
        return not("csp-not-implemented");
    };
    let http: Vec<String> = page.header("content-security-policy").into_iter().collect();
    let all: Vec<String> = http.iter().chain(&page.meta_csp).cloned().collect();
    let Ok(mut csp) = parse_csp(&all) else {
        return not("csp-header-invalid");
    };
    let header_only = parse_csp(&http).unwrap_or_default();
    let meta_only = parse_csp(&page.meta_csp)
        .map(|mut m| {
            m.retain(|(d, _)| !matches!(d.as_str(), "frame-ancestors" | "report-uri" | "sandbox"));
            m
        })
        .unwrap_or_default();
    if header_only.len() + meta_only.len() == 0 {
        // Report-only is read from the header alone (meta tags cannot carry it).
        let reporting = node_header(&response.headers, "content-security-policy-report-only")
            .is_some_and(|v| !v.is_empty());
        return not(if reporting {
            "csp-not-implemented-but-reporting-enabled"
        } else {
            "csp-not-implemented"
        });
    }

    // The tool takes these as references into the parsed map, so removing a source from
    // `script-src` that fell back to `default-src` removes it from `default-src` too.
    let mut sets = Sets {
        csp: &mut csp,
        own: Vec::new(),
    };
    let object_src = sets.lookup(&["object-src", "default-src"]);
    let script_src = sets.lookup(&["script-src", "default-src"]);
    let style_src = sets.lookup(&["style-src", "default-src"]);

    let mut result: Option<&'static str> = None;
    for id in [script_src, style_src] {
        let set = sets.get(id);
        if has_nonce_or_hash(set) && set.iter().any(|s| s == "'unsafe-inline'") {
            sets.get_mut(id).retain(|s| s != "'unsafe-inline'");
        }
    }
    let strict_dynamic = sets.get(script_src).iter().any(|s| s == "'strict-dynamic'");
    if strict_dynamic && has_nonce_or_hash(sets.get(script_src)) {
        sets.get_mut(script_src).retain(|s| {
            !(DANGEROUSLY_BROAD.iter().any(|b| s.starts_with(b))
                || s == "'self'"
                || s == "'unsafe-inline'")
        });
    } else if strict_dynamic {
        result.get_or_insert("csp-header-invalid");
    }

    let script = sets.get(script_src).clone();
    let style = sets.get(style_src).clone();
    let object = sets.get(object_src).clone();
    let csp = &*sets.csp;
    let directive = |name: &str| csp.iter().find(|(d, _)| d == name).map(|(_, s)| s);
    let mut active: Vec<&String> = csp
        .iter()
        .filter(|(d, _)| !matches!(d.as_str(), "img-src" | "media-src" | "script-src"))
        .flat_map(|(_, s)| s)
        .collect();
    active.extend(&script);
    let passive: Vec<&String> = ["img-src", "media-src"]
        .iter()
        .flat_map(|d| {
            directive(d)
                .or(directive("default-src"))
                .into_iter()
                .flatten()
        })
        .collect();
    let insecure = |s: &&String| s.starts_with("http:") || s.starts_with("ftp:");

    if script.iter().any(|s| is_broad_or_unsafe(s)) || object.iter().any(|s| is_broad(s)) {
        result.get_or_insert("csp-implemented-with-unsafe-inline");
    }
    if page.is_https() && active.iter().any(insecure) {
        result.get_or_insert("csp-implemented-with-insecure-scheme");
    }
    if script.iter().chain(&style).any(|s| s == "'unsafe-eval'") {
        result.get_or_insert("csp-implemented-with-unsafe-eval");
    }
    if page.is_https() && passive.iter().any(insecure) {
        result.get_or_insert("csp-implemented-with-insecure-scheme-in-passive-content-only");
    }
    if style.iter().any(|s| is_broad_or_unsafe(s)) {
        result.get_or_insert("csp-implemented-with-unsafe-inline-in-style-src-only");
    }
    let default_none = directive("default-src").is_some_and(|s| s.len() == 1 && s[0] == "'none'");
    let mut result = result.unwrap_or(if default_none {
        "csp-implemented-with-no-unsafe-default-src-none"
    } else {
        "csp-implemented-with-no-unsafe"
    });
    let pass = matches!(
        result,
        "csp-implemented-with-no-unsafe"
            | "csp-implemented-with-no-unsafe-default-src-none"
            | "csp-implemented-with-unsafe-inline-in-style-src-only"
            | "csp-implemented-with-insecure-scheme-in-passive-content-only"
    );
    if pass && directive(DUPLICATE_WARNINGS_KEY).is_some() {
        result = "csp-implemented-but-duplicate-directives";
    }
    CspOutcome {
        outcome: Outcome::new(result, pass),
        frame_ancestors: directive("frame-ancestors").is_some(),
    }
}

/// A parsed policy: directives in first-seen order, each with its sources (no duplicates).
type Csp = Vec<(String, Vec<String>)>;

/// Which set a CSP lookup returned: a directive of the parsed policy, or a fresh `{"*"}`.
#[derive(Clone, Copy)]
enum SetId {
    Directive(usize),
    Own(usize),
}

/// The parsed policy and the fallback sets, so lookups can alias directives as in JavaScript.
struct Sets<'c> {
    csp: &'c mut Csp,
    own: Vec<Vec<String>>,
}

impl Sets<'_> {
    /// `csp.get(a) || csp.get(b) || new Set(["*"])`.
    fn lookup(&mut self, names: &[&str]) -> SetId {
        for name in names {
            if let Some(i) = self.csp.iter().position(|(d, _)| d == name) {
                return SetId::Directive(i);
            }
        }
        self.own.push(vec!["*".to_owned()]);
        SetId::Own(self.own.len() - 1)
    }

    fn get(&self, id: SetId) -> &Vec<String> {
        match id {
            SetId::Directive(i) => &self.csp[i].1,
            SetId::Own(i) => &self.own[i],
        }
    }

    fn get_mut(&mut self, id: SetId) -> &mut Vec<String> {
        match id {
            SetId::Directive(i) => &mut self.csp[i].1,
            SetId::Own(i) => &mut self.own[i],
        }
    }
}

/// The key under which the parser lists repeated `report-uri`/`report-to` directives.
const DUPLICATE_WARNINGS_KEY: &str = "_observatory_duplicate_key_warnings";

/// One source while policies merge; shared by index, as the tool shares the objects.
struct Source {
    source: String,
    index: usize,
    keep: bool,
}

/// The tool's `parseCsp`: `Err` where it throws.
fn parse_csp(list: &[String]) -> Result<Csp, ()> {
    let clean: Vec<String> = list
        .iter()
        .map(|s| js_trim(&s.replace(['\r', '\n'], "")).to_owned())
        .collect();
    if clean.is_empty() {
        return Ok(Vec::new());
    }
    // The shortest policy accepted is one character shorter than "img-src".
    if clean.iter().any(|s| s.encode_utf16().count() < 6) {
        return Err(());
    }
    let mut arena: Vec<Source> = Vec::new();
    let mut csp: Vec<(String, Vec<usize>)> = Vec::new();
    let mut duplicates: Vec<String> = Vec::new();
    for (index, policy) in clean.iter().enumerate() {
        let mut seen: Vec<String> = Vec::new();
        for entry in policy.split(';') {
            let words = js_split_whitespace(js_trim(entry));
            let Some((first, values)) = words.split_first() else {
                continue;
            };
            if first.is_empty() {
                continue;
            }
            let directive = first.to_lowercase();
            if seen.contains(&directive) {
                if directive == "report-uri" || directive == "report-to" {
                    if !duplicates.contains(&directive) {
                        duplicates.push(directive.clone());
                    }
                } else {
                    return Err(());
                }
            } else {
                seen.push(directive.clone());
            }
            let keep = index == 0;
            let mut ids: Vec<usize> = Vec::new();
            for raw in values {
                arena.push(Source {
                    source: js_trim(raw).to_lowercase(),
                    index,
                    keep,
                });
                ids.push(arena.len() - 1);
            }
            // A source list with no values is 'none'.
            if values.is_empty() && directive.ends_with("-src") {
                arena.push(Source {
                    source: "'none'".into(),
                    index,
                    keep,
                });
                ids.push(arena.len() - 1);
            }
            let slot = csp.iter().position(|(d, _)| *d == directive);
            let mut combined = match slot {
                Some(i) if index > 0 => {
                    let mut c = csp[i].1.clone();
                    c.extend(ids);
                    c
                }
                _ => ids,
            };
            combined.sort_by(|&a, &b| icu_compare(&arena[a].source, &arena[b].source));
            for pair in combined.windows(2) {
                let (prev, this) = (pair[0], pair[1]);
                // A longer source from the same policy that starts like the previous one is
                // superfluous (https://a.com/ then https://a.com/x).
                if arena[this].index == arena[prev].index
                    && arena[this].source.starts_with(&arena[prev].source)
                {
                    arena[this].keep = false;
                }
                // A source has to be in both policies to count.
                if arena[this].index != arena[prev].index
                    && path_part_match(&arena[prev].source, &arena[this].source)?
                {
                    arena[this].keep = true;
                }
            }
            let kept: Vec<usize> = combined.into_iter().filter(|&i| arena[i].keep).collect();
            if index == 0 && list.len() > 1 {
                for &i in &kept {
                    arena[i].keep = false;
                }
            }
            match slot {
                Some(i) => csp[i].1 = kept,
                None => csp.push((directive, kept)),
            }
        }
    }
    let mut parsed: Csp = csp
        .into_iter()
        .map(|(directive, ids)| {
            let mut sources: Vec<String> = Vec::new();
            for i in ids {
                if !sources.contains(&arena[i].source) {
                    sources.push(arena[i].source.clone());
                }
            }
            if sources.is_empty() {
                sources.push("'none'".into());
            }
            (directive, sources)
        })
        .collect();
    if !duplicates.is_empty() {
        match parsed.iter().position(|(d, _)| d == DUPLICATE_WARNINGS_KEY) {
            Some(i) => parsed[i].1 = duplicates,
            None => parsed.push((DUPLICATE_WARNINGS_KEY.to_owned(), duplicates)),
        }
    }
    Ok(parsed)
}

/// The tool's `pathPartMatch`; `Err` where `decodeURIComponent` throws.
fn path_part_match(a: &str, b: &str) -> Result<bool, ()> {
    if a.is_empty() || (a == "/" && b.is_empty()) {
        return Ok(true);
    }
    let exact = !a.ends_with('/');
    let mut parts_a: Vec<&str> = a.split('/').collect();
    let parts_b: Vec<&str> = b.split('/').collect();
    if parts_a.len() > parts_b.len() || (exact && parts_a.len() != parts_b.len()) {
        return Ok(false);
    }
    if !exact {
        parts_a.pop();
    }
    for (x, y) in parts_a.iter().zip(&parts_b) {
        if decode_uri_component(x)? != decode_uri_component(y)? {
            return Ok(false);
        }
    }
    Ok(true)
}

// --- cookies -------------------------------------------------------------------------------------

/// A cookie in the tool's jar (tough-cookie), with what the test reads.
struct JarCookie {
    key: String,
    domain: String,
    path: String,
    secure: bool,
    http_only: bool,
    same_site: Option<&'static str>,
}

/// `cookies`: every cookie the auto session's jar kept along the redirect chain (tough-cookie
/// drops unparsable ones, a `Domain` that does not match the host or is a public suffix or an
/// IP address, and `__Secure-`/`__Host-` cookies without their conditions; a later cookie with
/// the same name, domain and path replaces an earlier one; expired cookies stay), plus the raw
/// `Set-Cookie` fields of the final response for malformed `SameSite`. The worst applies, in
/// this order from best: `cookies-without-secure-flag-but-protected-by-hsts` (-5),
/// `cookies-without-secure-flag` (-20), `cookies-session-without-secure-flag-but-protected-by-hsts`
/// (-10), `cookies-samesite-flag-invalid` (-20: a `SameSite` attribute without `lax`, `strict`
/// or `none`, or `SameSite=None` without `Secure`), `cookies-anticsrf-without-samesite-flag`
/// (-20: a name containing `csrf`), `cookies-session-without-httponly-flag` (-30),
/// `cookies-session-without-secure-flag` (-40). A session cookie's name contains `login` or
/// `sess`; "protected by HSTS" means the HSTS test passed. With none of those:
/// `cookies-secure-with-httponly-sessions-and-samesite` (+5) if every cookie has `SameSite`,
/// else `cookies-secure-with-httponly-sessions` (0); with no cookie, `cookies-not-found` (0).
/// `heroku-session-affinity` is ignored.
fn cookies_test(observed: &Observed, page: &Page<'_>) -> Outcome {
    const ORDER: [&str; 7] = [
        "cookies-without-secure-flag-but-protected-by-hsts",
        "cookies-without-secure-flag",
        "cookies-session-without-secure-flag-but-protected-by-hsts",
        "cookies-samesite-flag-invalid",
        "cookies-anticsrf-without-samesite-flag",
        "cookies-session-without-httponly-flag",
        "cookies-session-without-secure-flag",
    ];
    let mut result: Option<&'static str> = None;
    let mut worse = |new: &'static str| {
        let rank = |r: &str| ORDER.iter().position(|o| *o == r);
        if result.is_none() || rank(new) > result.and_then(rank) {
            result = Some(new);
        }
    };
    let hsts = hsts_test(observed).pass;

    if let Some(response) = page.response
        && set_cookies(&response.headers)
            .iter()
            .any(|c| invalid_same_site(c))
    {
        worse("cookies-samesite-flag-invalid");
    }

    let mut jar: Vec<JarCookie> = Vec::new();
    if let Some(auto) = observed.auto() {
        for hop in &auto.hops {
            for field in set_cookies(&hop.exchange.headers) {
                if let Some(cookie) = set_cookie(&field, &hop.url) {
                    match jar.iter().position(|c| {
                        c.domain == cookie.domain && c.path == cookie.path && c.key == cookie.key
                    }) {
                        Some(i) => jar[i] = cookie,
                        None => jar.push(cookie),
                    }
                }
            }
        }
    }
    jar.retain(|c| !c.key.is_empty() && c.key != "heroku-session-affinity");
    if jar.is_empty() {
        return Outcome::new("cookies-not-found", true);
    }

    let mut missing_same_site = false;
    for cookie in &jar {
        let key = cookie.key.to_lowercase();
        let session = key.contains("login") || key.contains("sess");
        let anticsrf = key.contains("csrf");
        if !cookie.secure && cookie.same_site == Some("none") {
            worse("cookies-samesite-flag-invalid");
        }
        if !cookie.secure {
            worse(if hsts {
                "cookies-without-secure-flag-but-protected-by-hsts"
            } else {
                "cookies-without-secure-flag"
            });
        }
        if anticsrf && cookie.same_site.is_none() {
            worse("cookies-anticsrf-without-samesite-flag");
        }
        if session && !cookie.secure {
            worse(if hsts {
                "cookies-session-without-secure-flag-but-protected-by-hsts"
            } else {
                "cookies-session-without-secure-flag"
            });
        }
        if session && !cookie.http_only {
            worse("cookies-session-without-httponly-flag");
        }
        missing_same_site |= cookie.same_site.is_none();
    }
    let result = result.unwrap_or(if missing_same_site {
        "cookies-secure-with-httponly-sessions"
    } else {
        "cookies-secure-with-httponly-sessions-and-samesite"
    });
    let pass = matches!(
        result,
        "cookies-secure-with-httponly-sessions-and-samesite"
            | "cookies-secure-with-httponly-sessions"
    );
    Outcome::new(result, pass)
}

/// The tool's `containsInvalidSameSiteCookie` on a raw `Set-Cookie` field.
fn invalid_same_site(field: &str) -> bool {
    js_trim(field).split(';').any(|part| {
        let mut pieces = js_trim(part).split('=');
        let key = pieces.next().unwrap_or_default();
        let value = pieces.next().unwrap_or_default();
        js_trim(key).to_lowercase() == "samesite"
            && (value.is_empty()
                || !matches!(
                    js_trim(value).to_lowercase().as_str(),
                    "lax" | "strict" | "none"
                ))
    })
}

/// tough-cookie's `CookieJar.setCookie` (strict parsing, public suffixes rejected, silent
/// prefix security) for one field received from `url`: the stored cookie, or `None` if dropped.
fn set_cookie(field: &str, url: &Url) -> Option<JarCookie> {
    // Cookie.parse
    let field = js_trim(field);
    if field.is_empty() {
        return None;
    }
    let (pair, attributes) = match field.find(';') {
        Some(i) => (&field[..i], Some(&field[i + 1..])),
        None => (field, None),
    };
    let pair = ['\n', '\r', '\0']
        .iter()
        .fold(pair, |p, t| p.find(*t).map_or(p, |i| &p[..i]));
    let eq = pair.find('=').filter(|&i| i > 0)?;
    let key = js_trim(&pair[..eq]).to_owned();
    let value = js_trim(&pair[eq + 1..]);
    let control = |s: &str| s.chars().any(|c| c <= '\u{1f}');
    if control(&key) || control(value) {
        return None;
    }
    let mut domain: Option<String> = None;
    let mut path: Option<String> = None;
    let mut secure = false;
    let mut http_only = false;
    let mut same_site = None;
    for av in js_trim(attributes.unwrap_or_default()).split(';') {
        let av = js_trim(av);
        if av.is_empty() {
            continue;
        }
        let (name, value) = match av.find('=') {
            Some(i) => (&av[..i], Some(js_trim(&av[i + 1..]))),
            None => (av, None),
        };
        let value = value.filter(|v| !v.is_empty());
        match js_trim(name).to_lowercase().as_str() {
            "domain" => {
                if let Some(v) = value {
                    let d = js_trim(v);
                    let d = d.strip_prefix('.').unwrap_or(d);
                    if !d.is_empty() {
                        domain = Some(d.to_lowercase());
                    }
                }
            }
            "path" => path = value.filter(|v| v.starts_with('/')).map(str::to_owned),
            "secure" => secure = true,
            "httponly" => http_only = true,
            "samesite" => {
                same_site = match value.map(str::to_lowercase).as_deref() {
                    Some("strict") => Some("strict"),
                    Some("lax") => Some("lax"),
                    Some("none") => Some("none"),
                    _ => None,
                }
            }
            _ => {}
        }
    }

    // setCookie
    let host = url.host_str().unwrap_or_default().to_lowercase();
    let host_only = domain.is_none();
    let domain = match domain {
        Some(d) => {
            let d = js_trim(&d).trim_start_matches('.').to_lowercase();
            // A Domain that is a public suffix (or an IP address) is refused.
            if public_suffix_of_cookie_domain(&d).is_none() && !is_ipv6(&d) {
                return None;
            }
            if !domain_match(&host, &d) {
                return None;
            }
            d
        }
        None => host,
    };
    let path = path.unwrap_or_else(|| default_path(url.path()));
    if key.starts_with("__Secure-") && !secure {
        return None;
    }
    if key.starts_with("__Host-") && !(secure && host_only && path == "/") {
        return None;
    }
    Some(JarCookie {
        key,
        domain,
        path,
        secure,
        http_only,
        same_site,
    })
}

/// tough-cookie's `getPublicSuffix` with special-use domains allowed: `None` where the jar
/// refuses the domain. The Public Suffix List lookup is approximated (module docs).
fn public_suffix_of_cookie_domain(domain: &str) -> Option<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    if ["local", "example", "invalid", "localhost", "test"].contains(&tld) {
        if labels.len() > 1 {
            return Some(format!("{}.{tld}", labels[labels.len() - 2]));
        }
        if ["localhost", "invalid"].contains(&tld) {
            return Some(tld.to_owned());
        }
    }
    registrable_domain(domain)
}

fn is_ipv6(s: &str) -> bool {
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::Ipv6Addr>()
        .is_ok()
}

/// RFC 6265 domain matching, as tough-cookie does it.
fn domain_match(host: &str, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    match host.strip_suffix(domain) {
        Some(rest) if !rest.is_empty() => {
            rest.ends_with('.') && host.trim_matches(['[', ']']).parse::<IpAddr>().is_err()
        }
        _ => false,
    }
}

/// RFC 6265 default path of a request path.
fn default_path(path: &str) -> String {
    if !path.starts_with('/') || path == "/" {
        return "/".into();
    }
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].to_owned(),
    }
}

// --- cross-origin-resource-sharing ---------------------------------------------------------------

/// `cross-origin-resource-sharing`: the preflight's `Access-Control-Allow-Origin`.
/// `cross-origin-resource-sharing-implemented-with-public-access` (0) for `*`,
/// `...-with-restricted-access` (0) for anything else, `...-not-implemented` (0) without the
/// header or without a 2xx preflight.
///
/// The tool's `...-with-universal-access` (-50: the request's `Origin` reflected with
/// credentials) cannot occur: it reads the `Origin` from `response.request.headers`, which
/// Node's request object does not have, so a reflected origin counts as restricted. The scan's
/// own CORS check (row 8) covers that case.
fn cors_test(observed: &Observed) -> Outcome {
    let acao = observed
        .cors
        .as_ref()
        .and_then(|r| node_header(&r.headers, "access-control-allow-origin"))
        .filter(|v| !v.is_empty());
    let result = match acao {
        None => "cross-origin-resource-sharing-not-implemented",
        Some(v) if js_trim(&js_slice(&v, 256)).to_lowercase() == "*" => {
            "cross-origin-resource-sharing-implemented-with-public-access"
        }
        Some(_) => "cross-origin-resource-sharing-implemented-with-restricted-access",
    };
    Outcome::new(result, true)
}

// --- redirection ---------------------------------------------------------------------------------

/// `redirection`: the http session's chain. `redirection-not-needed-no-http` (0) without an
/// http answer, `redirection-invalid-cert` (-20), `redirection-missing` (-20: no redirect),
/// `redirection-not-to-https` (-20: the chain ends on http),
/// `redirection-not-to-https-on-initial-redirection` (-10: the first redirect goes to http),
/// `redirection-off-host-from-http` (-5: the first redirect goes to https on another host),
/// `redirection-to-https` (0).
fn redirection_test(observed: &Observed) -> Outcome {
    let Some(http) = &observed.http else {
        return Outcome::new("redirection-not-needed-no-http", true);
    };
    if !http.verified {
        return Outcome::new("redirection-invalid-cert", false);
    }
    let route: Vec<&Url> = http
        .hops
        .iter()
        .map(|h| &h.url)
        .chain(&http.unfollowed)
        .collect();
    let result = if route.len() <= 1 {
        "redirection-missing"
    } else if route[route.len() - 1].scheme() != "https" {
        "redirection-not-to-https"
    } else if route[1].scheme() == "http" {
        "redirection-not-to-https-on-initial-redirection"
    } else if route[0].scheme() == "http"
        && route[1].scheme() == "https"
        && route[0].host_str() != route[1].host_str()
    {
        "redirection-off-host-from-http"
    } else {
        "redirection-to-https"
    };
    Outcome::new(result, result == "redirection-to-https")
}

// --- referrer-policy -----------------------------------------------------------------------------

/// `referrer-policy`: the header's values then the `<meta name="referrer">` content, the last
/// valid token wins. `referrer-policy-private` (+5: `no-referrer`, `same-origin`,
/// `strict-origin`, `strict-origin-when-cross-origin`), `referrer-policy-unsafe` (-5: `origin`,
/// `origin-when-cross-origin`, `unsafe-url`, `no-referrer-when-downgrade`),
/// `referrer-policy-header-invalid` (-5: present but no valid token, even empty),
/// `referrer-policy-not-implemented` (0).
fn referrer_test(page: &Page<'_>) -> Outcome {
    const GOOD: [&str; 4] = [
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    ];
    const BAD: [&str; 4] = [
        "origin",
        "origin-when-cross-origin",
        "unsafe-url",
        "no-referrer-when-downgrade",
    ];
    if page.response.is_none() {
        return Outcome::new("referrer-policy-not-implemented", false);
    }
    let values: Vec<String> = page
        .header("referrer-policy")
        .into_iter()
        .chain(page.meta_referrer.clone())
        .collect();
    if values.is_empty() {
        return Outcome::new("referrer-policy-not-implemented", true);
    }
    let data = values.join(", ");
    let policy = data
        .split(',')
        .map(|e| js_trim(&e.to_lowercase()).to_owned())
        .rfind(|e| GOOD.contains(&e.as_str()) || BAD.contains(&e.as_str()))
        .unwrap_or_default();
    if GOOD.contains(&policy.as_str()) {
        Outcome::new("referrer-policy-private", true)
    } else if BAD.contains(&policy.as_str()) {
        Outcome::new("referrer-policy-unsafe", false)
    } else {
        Outcome::new("referrer-policy-header-invalid", false)
    }
}

// --- strict-transport-security -------------------------------------------------------------------

/// `strict-transport-security`: the https session's final response only.
/// `hsts-not-implemented-no-https` (-20) without https, `hsts-invalid-cert` (-20),
/// `hsts-not-implemented` (-20), `hsts-header-invalid` (-20: repeated, i.e. a `,`, or no
/// `max-age=`), `hsts-implemented-max-age-less-than-six-months` (-10: under 15552000),
/// `hsts-implemented-max-age-at-least-six-months` (0; also for a `max-age` that is not a
/// number, which `parseInt` makes `NaN`). `hsts-preloaded` (+5) needs the preload list.
fn hsts_test(observed: &Observed) -> Outcome {
    let Some(https) = &observed.https else {
        return Outcome::new("hsts-not-implemented-no-https", false);
    };
    if !https.verified {
        return Outcome::new("hsts-invalid-cert", false);
    }
    let Some(header) = https
        .last()
        .and_then(|r| node_header(&r.headers, "strict-transport-security"))
    else {
        return Outcome::new("hsts-not-implemented", false);
    };
    let data = js_slice(&header, 1024);
    if data.contains(',') {
        return Outcome::new("hsts-header-invalid", false);
    }
    let mut max_age: Option<f64> = None;
    for parameter in data.split(';').map(|p| js_trim(p).to_lowercase()) {
        if let Some(rest) = parameter.strip_prefix("max-age=") {
            max_age = Some(js_parse_int(&js_slice(rest, 120)));
        }
    }
    match max_age {
        None => Outcome::new("hsts-header-invalid", false),
        Some(age) if age < SIX_MONTHS => {
            Outcome::new("hsts-implemented-max-age-less-than-six-months", false)
        }
        Some(_) => Outcome::new("hsts-implemented-max-age-at-least-six-months", true),
    }
}

// --- subresource-integrity -----------------------------------------------------------------------

/// `subresource-integrity`: the `<script src>` elements of an HTML page (the document as
/// parsed, `<template>` contents excluded). A script is on a secure origin when its `src` is
/// relative (anything but `//host...` or `http(s)://...`) or an `http(s)://` URL on the same
/// registrable domain as the target; its scheme is secure when it is `https:` (or relative on
/// an https site). Worst wins, from best: `sri-implemented-and-all-scripts-loaded-securely`
/// (+5: an integrity-checked same-origin script over https), `...-and-external-scripts-loaded-
/// securely` (+5), `sri-implemented-but-external-scripts-not-loaded-securely` (-20),
/// `sri-not-implemented-but-external-scripts-loaded-securely` (-5),
/// `sri-not-implemented-and-external-scripts-not-loaded-securely` (-50). Also
/// `sri-not-implemented-response-not-html` (0), `sri-not-implemented-but-no-scripts-loaded`
/// (0: no `<script>` at all), `sri-not-implemented-but-all-scripts-loaded-from-secure-origin`
/// (0).
fn sri_test(page: &Page<'_>) -> Outcome {
    const ORDER: [&str; 6] = [
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-implemented-but-external-scripts-not-loaded-securely",
        "sri-not-implemented-but-external-scripts-loaded-securely",
        "sri-not-implemented-and-external-scripts-not-loaded-securely",
        "sri-not-implemented-response-not-html",
    ];
    if page.response.is_none() {
        return Outcome::new("sri-not-implemented-but-no-scripts-loaded", false);
    }
    let mime = page.header("content-type").unwrap_or_default();
    let mime = mime.split(';').next().unwrap_or_default();
    if mime != "text/html" && mime != "application/xhtml+xml" {
        return Outcome::new("sri-not-implemented-response-not-html", true);
    }
    let html = page.text.clone().unwrap_or_default();
    let scripts: Vec<Tag> = start_tags(&html, Parse::Document)
        .into_iter()
        .filter(|t| t.name == "script")
        .collect();
    let mut result: Option<&'static str> = None;
    let worse = |result: &mut Option<&'static str>, new: &'static str| {
        let rank = |r: &str| ORDER.iter().position(|o| *o == r);
        if result.is_none() || rank(new) > result.and_then(rank) {
            *result = Some(new);
        }
    };
    let mut foreign = false;
    for script in &scripts {
        // `script.src`: the attribute resolved against `about:blank`, so only absolute URLs
        // change (to their serialization); anything relative stays as written.
        let src = match script.attr("src") {
            None => String::new(),
            Some(raw) => Url::parse(raw).map_or_else(|_| raw.to_owned(), |u| u.to_string()),
        };
        if src.is_empty() {
            continue;
        }
        let integrity = script.attr("integrity").is_some_and(|i| !i.is_empty());
        let bytes = src.as_bytes();
        let relative_protocol = src.starts_with("//") && bytes.len() > 2 && bytes[2] != b'/';
        let full_url = src.starts_with("http://") || src.starts_with("https://");
        let relative_origin = !relative_protocol && !full_url;
        let same_domain = relative_protocol
            || relative_origin
            || Url::parse(&src)
                .ok()
                .and_then(|u| u.host_str().and_then(registrable_domain))
                == page.domain;
        let secure_origin = relative_origin || (same_domain && !relative_protocol);
        if !secure_origin {
            foreign = true;
        }
        let secure_scheme =
            (full_url && src.starts_with("https:")) || (relative_origin && page.is_https());
        if !secure_origin {
            if integrity && !secure_scheme {
                worse(
                    &mut result,
                    "sri-implemented-but-external-scripts-not-loaded-securely",
                );
            } else if !integrity && secure_scheme {
                worse(
                    &mut result,
                    "sri-not-implemented-but-external-scripts-loaded-securely",
                );
            } else if !integrity && !secure_scheme {
                worse(
                    &mut result,
                    "sri-not-implemented-and-external-scripts-not-loaded-securely",
                );
            }
        } else if integrity && secure_scheme && result.is_none() {
            result = Some("sri-implemented-and-all-scripts-loaded-securely");
        }
    }
    let result = if scripts.is_empty() {
        "sri-not-implemented-but-no-scripts-loaded"
    } else {
        result.unwrap_or(if foreign {
            "sri-implemented-and-external-scripts-loaded-securely"
        } else {
            "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
        })
    };
    let pass = matches!(
        result,
        "sri-implemented-and-all-scripts-loaded-securely"
            | "sri-implemented-and-external-scripts-loaded-securely"
            | "sri-not-implemented-response-not-html"
            | "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
            | "sri-not-implemented-but-no-scripts-loaded"
    );
    Outcome::new(result, pass)
}

/// The registrable domain of a host (tldts's `domain`), approximated (module docs): none for
/// an IP address or a single label, else the last two labels.
fn registrable_domain(host: &str) -> Option<String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let host = host.trim_end_matches('.').to_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    Some(labels[labels.len() - 2..].join("."))
}

// --- x-content-type-options, x-frame-options, cross-origin-resource-policy -----------------------

/// `x-content-type-options`: `x-content-type-options-nosniff` (0) for exactly `nosniff`
/// (trimmed, any case; a repeated header reads `nosniff, nosniff` and is invalid),
/// `...-header-invalid` (-5), `...-not-implemented` (-5: absent or empty).
fn xcto_test(page: &Page<'_>) -> Outcome {
    if page.response.is_none() {
        return Outcome::new("x-content-type-options-not-implemented", false);
    }
    match page
        .header("x-content-type-options")
        .filter(|v| !v.is_empty())
    {
        None => Outcome::new("x-content-type-options-not-implemented", false),
        Some(v) if js_trim(&js_slice(&v, 256)).to_lowercase() == "nosniff" => {
            Outcome::new("x-content-type-options-nosniff", true)
        }
        Some(_) => Outcome::new("x-content-type-options-header-invalid", false),
    }
}

/// `x-frame-options`: `x-frame-options-implemented-via-csp` (+5) whenever the parsed CSP,
/// header and `<meta>` together, has `frame-ancestors` (the tool does not filter the meta
/// policies here); else `x-frame-options-sameorigin-or-deny` (0: exactly `DENY` or
/// `SAMEORIGIN`, any case), `x-frame-options-allow-from-origin` (0), `...-header-invalid` (-20,
/// including a repeated header), `...-not-implemented` (-20).
fn xfo_test(page: &Page<'_>) -> Outcome {
    if page.response.is_none() {
        return Outcome::new("x-frame-options-not-implemented", false);
    }
    let mut result = match page.header("x-frame-options").filter(|v| !v.is_empty()) {
        None => "x-frame-options-not-implemented",
        Some(v) => {
            let xfo = js_trim(&js_slice(&v, 1024)).to_lowercase();
            if xfo == "deny" || xfo == "sameorigin" {
                "x-frame-options-sameorigin-or-deny"
            } else if xfo.starts_with("allow-from") {
                "x-frame-options-allow-from-origin"
            } else {
                "x-frame-options-header-invalid"
            }
        }
    };
    if csp_test(page).frame_ancestors {
        result = "x-frame-options-implemented-via-csp";
    }
    let pass = matches!(
        result,
        "x-frame-options-implemented-via-csp"
            | "x-frame-options-sameorigin-or-deny"
            | "x-frame-options-allow-from-origin"
    );
    Outcome::new(result, pass)
}

/// `cross-origin-resource-policy`: `corp-implemented-with-same-site` (+10),
/// `corp-implemented-with-same-origin` (+10), `corp-implemented-with-cross-origin` (0),
/// `corp-header-invalid` (-5), `corp-not-implemented` (0: absent or empty). The tool never
/// collects it from `<meta>`.
fn corp_test(page: &Page<'_>) -> Outcome {
    let value = page
        .header("cross-origin-resource-policy")
        .filter(|v| !v.is_empty())
        .map(|v| js_trim(&js_slice(&v, 256)).to_lowercase());
    match value.as_deref() {
        None | Some("") => Outcome::new("corp-not-implemented", true),
        Some("same-site") => Outcome::new("corp-implemented-with-same-site", true),
        Some("same-origin") => Outcome::new("corp-implemented-with-same-origin", true),
        Some("cross-origin") => Outcome::new("corp-implemented-with-cross-origin", true),
        Some(_) => Outcome::new("corp-header-invalid", false),
    }
}

// --- HTML ----------------------------------------------------------------------------------------

/// How the tool parses the page: `JSDOM.fragment` for `<meta>` (scripting on, so `<noscript>`
/// is raw text) or `new JSDOM` for `<script>` (scripting off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parse {
    Fragment,
    Document,
}

/// A start tag: lower-case name and attributes (the first of a repeated name wins), values
/// with character references decoded.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_html_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

/// The start tags a `querySelectorAll` would see elements for, in document order.
fn start_tags(html: &str, parse: Parse) -> Vec<Tag> {
    let bytes = html.as_bytes();
    let mut tags = Vec::new();
    let mut template_depth = 0usize;
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        i += offset;
        let rest = &html[i..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let start = i + 4;
            i = if after.starts_with('>') {
                start + 1
            } else if after.starts_with("->") {
                start + 2
            } else {
                match (after.find("-->"), after.find("--!>")) {
                    (Some(a), Some(b)) if b < a => start + b + 4,
                    (Some(a), _) => start + a + 3,
                    (None, Some(b)) => start + b + 4,
                    (None, None) => break,
                }
            };
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            i = after_gt(html, i + 2);
            continue;
        }
        if rest.starts_with("</") {
            match bytes.get(i + 2) {
                Some(b) if b.is_ascii_alphabetic() => {
                    let Some((tag, next)) = read_tag(html, i + 2) else {
                        break;
                    };
                    if tag.name == "template" {
                        template_depth = template_depth.saturating_sub(1);
                    }
                    i = next;
                }
                Some(b'>') => i += 3,
                Some(_) => i = after_gt(html, i + 2),
                None => break,
            }
            continue;
        }
        if !bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
            i += 1;
            continue;
        }
        let Some((tag, next)) = read_tag(html, i + 1) else {
            break;
        };
        i = next;
        let name = tag.name.clone();
        if name == "template" {
            template_depth += 1;
            continue;
        }
        if template_depth == 0 {
            tags.push(tag);
        }
        if name == "plaintext" {
            break;
        }
        let raw = matches!(
            name.as_str(),
            "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes" | "title" | "textarea"
        ) || (name == "noscript" && parse == Parse::Fragment);
        if raw {
            match find_end_tag(html, i, &name) {
                Some(end) => i = end,
                None => break,
            }
        }
    }
    tags
}

/// The index after the next `>` from `from`, or the end.
fn after_gt(html: &str, from: usize) -> usize {
    html[from..].find('>').map_or(html.len(), |j| from + j + 1)
}

/// Where raw text opened by `name` ends: the `<` of `</name` followed by a space, `/` or `>`.
fn find_end_tag(html: &str, from: usize, name: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut at = from;
    while let Some(offset) = html[at..].find("</") {
        let start = at + offset;
        let name_end = start + 2 + name.len();
        if bytes.len() > name_end
            && bytes[start + 2..name_end].eq_ignore_ascii_case(name.as_bytes())
            && (is_html_space(bytes[name_end]) || matches!(bytes[name_end], b'/' | b'>'))
        {
            return Some(start);
        }
        at = start + 2;
    }
    None
}

/// Reads a tag whose name starts at `start`: the tag and the index after its `>`, or `None`
/// at the end of input (an unfinished tag is dropped).
fn read_tag(html: &str, start: usize) -> Option<(Tag, usize)> {
    let bytes = html.as_bytes();
    let mut i = start;
    while i < bytes.len() && !is_html_space(bytes[i]) && !matches!(bytes[i], b'/' | b'>') {
        i += 1;
    }
    let name = html[start..i].to_ascii_lowercase();
    let mut attrs: Vec<(String, String)> = Vec::new();
    loop {
        while i < bytes.len() && (is_html_space(bytes[i]) || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i) {
            None => return None,
            Some(b'>') => return Some((Tag { name, attrs }, i + 1)),
            Some(_) => {}
        }
        // The first character is always part of the name, even `=`.
        let name_start = i;
        i += 1;
        while i < bytes.len() && !is_html_space(bytes[i]) && !matches!(bytes[i], b'/' | b'>' | b'=')
        {
            i += 1;
        }
        let attr_name = html[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && is_html_space(bytes[i]) {
            i += 1;
        }
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && is_html_space(bytes[i]) {
                i += 1;
            }
            match bytes.get(i) {
                None => return None,
                Some(&quote @ (b'"' | b'\'')) => {
                    let end = i + 1 + html[i + 1..].find(char::from(quote))?;
                    value = decode_character_references(&html[i + 1..end]);
                    i = end + 1;
                }
                Some(b'>') => {}
                Some(_) => {
                    let value_start = i;
                    while i < bytes.len() && !is_html_space(bytes[i]) && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = decode_character_references(&html[value_start..i]);
                }
            }
        }
        if !attrs.iter().any(|(n, _)| *n == attr_name) {
            attrs.push((attr_name, value));
        }
    }
}

/// Decodes the character references of an attribute value: numeric ones, and the named ones an
/// API's page is likely to use (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;`).
fn decode_character_references(value: &str) -> String {
    if !value.contains('&') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match character_reference(rest) {
            Some((decoded, used)) => {
                out.push(decoded);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character a reference at the start of `s` (which starts with `&`) stands for in an
/// attribute value, and its length.
fn character_reference(s: &str) -> Option<(char, usize)> {
    let bytes = s.as_bytes();
    if bytes.get(1) == Some(&b'#') {
        let hex = matches!(bytes.get(2), Some(b'x' | b'X'));
        let digits_start = if hex { 3 } else { 2 };
        let digits = bytes[digits_start..]
            .iter()
            .take_while(|b| {
                if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 {
            return None;
        }
        let text = &s[digits_start..digits_start + digits];
        let code = u32::from_str_radix(text, if hex { 16 } else { 10 }).unwrap_or(u32::MAX);
        let mut used = digits_start + digits;
        if bytes.get(used) == Some(&b';') {
            used += 1;
        }
        return Some((numeric_reference(code), used));
    }
    const NAMED: [(&str, char, bool); 6] = [
        ("amp", '&', true),
        ("lt", '<', true),
        ("gt", '>', true),
        ("quot", '"', true),
        ("apos", '\'', false),
        ("nbsp", '\u{a0}', true),
    ];
    for (name, ch, legacy) in NAMED {
        let Some(after) = s[1..].strip_prefix(name) else {
            continue;
        };
        if after.starts_with(';') {
            return Some((ch, name.len() + 2));
        }
        // Without the semicolon, only legacy names, and not when followed by `=` or an
        // alphanumeric (in an attribute value that is left alone).
        let next = after.as_bytes().first();
        if legacy && !next.is_some_and(|b| *b == b'=' || b.is_ascii_alphanumeric()) {
            return Some((ch, name.len() + 1));
        }
        return None;
    }
    None
}

/// A numeric character reference's character, with HTML's replacements.
fn numeric_reference(code: u32) -> char {
    const WINDOWS_1252: [(u32, char); 27] = [
        (0x80, '\u{20ac}'),
        (0x82, '\u{201a}'),
        (0x83, '\u{0192}'),
        (0x84, '\u{201e}'),
        (0x85, '\u{2026}'),
        (0x86, '\u{2020}'),
        (0x87, '\u{2021}'),
        (0x88, '\u{02c6}'),
        (0x89, '\u{2030}'),
        (0x8a, '\u{0160}'),
        (0x8b, '\u{2039}'),
        (0x8c, '\u{0152}'),
        (0x8e, '\u{017d}'),
        (0x91, '\u{2018}'),
        (0x92, '\u{2019}'),
        (0x93, '\u{201c}'),
        (0x94, '\u{201d}'),
        (0x95, '\u{2022}'),
        (0x96, '\u{2013}'),
        (0x97, '\u{2014}'),
        (0x98, '\u{02dc}'),
        (0x99, '\u{2122}'),
        (0x9a, '\u{0161}'),
        (0x9b, '\u{203a}'),
        (0x9c, '\u{0153}'),
        (0x9e, '\u{017e}'),
        (0x9f, '\u{0178}'),
    ];
    if code == 0 {
        return '\u{fffd}';
    }
    if let Some((_, ch)) = WINDOWS_1252.iter().find(|(c, _)| *c == code) {
        return *ch;
    }
    char::from_u32(code).unwrap_or('\u{fffd}')
}

// --- JavaScript semantics ------------------------------------------------------------------------

/// JavaScript's whitespace and line terminators (`trim`, `\s`).
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{feff}'
    )
}

/// `String.prototype.trim`.
fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// `s.split(/\s+/)` for a trimmed `s` (`""` gives `[""]`).
fn js_split_whitespace(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return vec![""];
    }
    s.split(is_js_space).filter(|w| !w.is_empty()).collect()
}

/// `s.slice(0, n)`, counting UTF-16 code units.
fn js_slice(s: &str, n: usize) -> String {
    let mut units = 0;
    s.chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= n
        })
        .collect()
}

/// `parseInt(s, 10)`; `NaN` when no digit leads.
fn js_parse_int(s: &str) -> f64 {
    let s = s.trim_start_matches(is_js_space);
    let (sign, digits) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    let digits: String = digits.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return f64::NAN;
    }
    sign * digits.parse::<f64>().unwrap_or(f64::INFINITY)
}

/// `decodeURIComponent`; `Err` where it throws `URIError`.
fn decode_uri_component(s: &str) -> Result<String, ()> {
    fn byte_at(bytes: &[u8], i: usize) -> Result<u8, ()> {
        let hex = bytes.get(i + 1..i + 3).ok_or(())?;
        let text = std::str::from_utf8(hex).map_err(|_| ())?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(());
        }
        u8::from_str_radix(text, 16).map_err(|_| ())
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            let ch = s[i..].chars().next().ok_or(())?;
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let first = byte_at(bytes, i)?;
        i += 3;
        let len = match first {
            0x00..=0x7f => 1,
            b if b & 0xe0 == 0xc0 => 2,
            b if b & 0xf0 == 0xe0 => 3,
            b if b & 0xf8 == 0xf0 => 4,
            _ => return Err(()),
        };
        let mut sequence = vec![first];
        for _ in 1..len {
            if bytes.get(i) != Some(&b'%') {
                return Err(());
            }
            let next = byte_at(bytes, i)?;
            if next & 0xc0 != 0x80 {
                return Err(());
            }
            sequence.push(next);
            i += 3;
        }
        out.push_str(std::str::from_utf8(&sequence).map_err(|_| ())?);
    }
    Ok(out)
}

/// `Intl.Collator("en").compare` for the lower-case ASCII a policy's sources are made of: ICU
/// orders punctuation and symbols first (in its own order), then digits, then letters, with a
/// proper prefix first. Other characters follow in code-point order (an approximation).
fn icu_compare(a: &str, b: &str) -> Ordering {
    const ORDER: &str = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz";
    let primary = |c: char| {
        let lower = c.to_ascii_lowercase();
        ORDER.find(lower).map_or(0x100 + u32::from(c), |i| i as u32)
    };
    a.chars()
        .map(primary)
        .cmp(b.chars().map(primary))
        .then_with(|| {
            a.chars()
                .map(|c| c.is_ascii_uppercase())
                .cmp(b.chars().map(|c| c.is_ascii_uppercase()))
        })
}

#[cfg(test)]
mod tests {
    //! Cases from the Observatory's own test suite (`test/*.test.js` of the npm package) where
    //! they apply, then whole grades, then, when `RAMPART_OBSERVATORY` names the real CLI, the
    //! same answers from a local server compared with it test by test.

    use http::header::{HeaderName, HeaderValue};

    use super::*;

    /// A response with these headers and body.
    fn exchange(status: u16, headers: &[(&str, &str)], body: &str) -> Exchange {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Exchange {
            method: Method::GET,
            path: "/".into(),
            sent: Vec::new(),
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.into(),
        }
    }

    /// A session that got `exchange` from `url` without a redirect.
    fn single(url: &str, exchange: Exchange) -> Fetch {
        let url = Url::parse(url).unwrap();
        Fetch {
            url: url.clone(),
            hops: vec![Hop { url, exchange }],
            unfollowed: None,
            verified: true,
        }
    }

    /// What the tool's test helper sets up: `https://mozilla.org/` answering an HTML page with
    /// `headers` (plus the content type), and http redirecting to it.
    fn mozilla(headers: &[(&str, &str)], body: &str) -> Observed {
        let mut all = vec![("content-type", "text/html")];
        all.extend_from_slice(headers);
        let page = exchange(200, &all, body);
        let https = single("https://mozilla.org/", page.clone());
        let redirect = exchange(301, &[("location", "https://mozilla.org/")], "");
        let http = Fetch {
            url: Url::parse("http://mozilla.org/").unwrap(),
            hops: vec![
                Hop {
                    url: Url::parse("http://mozilla.org/").unwrap(),
                    exchange: redirect,
                },
                Hop {
                    url: Url::parse("https://mozilla.org/").unwrap(),
                    exchange: page,
                },
            ],
            unfollowed: None,
            verified: true,
        };
        Observed {
            http: Some(http),
            https: Some(https),
            cors: None,
        }
    }

    /// A plain-http site on loopback answering `headers` and `body` at `/`.
    fn loopback(headers: &[(&str, &str)], body: &str) -> Observed {
        Observed {
            http: Some(single(
                "http://127.0.0.1:8080/",
                exchange(200, headers, body),
            )),
            https: None,
            cors: None,
        }
    }

    /// The result of test `name`.
    fn result(observed: &Observed, name: &str) -> String {
        grade(observed)
            .tests
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.result)
            .unwrap()
    }

    #[test]
    fn letters_follow_the_grade_chart() {
        let cases = [
            (130, "A+"),
            (100, "A+"),
            (99, "A"),
            (90, "A"),
            (89, "A-"),
            (85, "A-"),
            (80, "B+"),
            (74, "B"),
            (65, "B-"),
            (60, "C+"),
            (50, "C"),
            (45, "C-"),
            (40, "D+"),
            (30, "D"),
            (25, "D-"),
            (24, "F"),
            (0, "F"),
        ];
        for (score, expected) in cases {
            assert_eq!(letter(score), expected, "score {score}");
        }
        assert_eq!(score_modifier("csp-not-implemented"), -25);
    }

    #[test]
    fn every_result_the_port_can_give_has_a_modifier_or_is_worth_nothing() {
        // The tool's table gives 0 to exactly these; anything else at 0 would be a typo.
        let zero = [
            "csp-implemented-with-unsafe-inline-in-style-src-only",
            "csp-implemented-but-duplicate-directives",
            "cookies-secure-with-httponly-sessions",
            "cookies-not-found",
            "cross-origin-resource-sharing-not-implemented",
            "cross-origin-resource-sharing-implemented-with-public-access",
            "cross-origin-resource-sharing-implemented-with-restricted-access",
            "redirection-all-redirects-preloaded",
            "redirection-to-https",
            "redirection-not-needed-no-http",
            "referrer-policy-not-implemented",
            "hsts-implemented-max-age-at-least-six-months",
            "sri-not-implemented-response-not-html",
            "sri-not-implemented-but-no-scripts-loaded",
            "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
            "x-content-type-options-nosniff",
            "x-frame-options-sameorigin-or-deny",
            "x-frame-options-allow-from-origin",
            "corp-implemented-with-cross-origin",
            "corp-not-implemented",
        ];
        const TESTS: [&str; 10] = [
            "csp-",
            "cookies-",
            "cross-origin-resource-sharing-",
            "redirection-",
            "referrer-policy-",
            "hsts-",
            "sri-",
            "x-content-type-options-",
            "x-frame-options-",
            "corp-",
        ];
        let source = include_str!("observatory.rs");
        let mut seen = 0;
        for literal in source.split('"').skip(1).step_by(2) {
            if TESTS.iter().any(|t| literal.starts_with(t)) && !literal.contains(' ') {
                seen += 1;
                assert!(
                    score_modifier(literal) != 0 || zero.contains(&literal),
                    "{literal} has no modifier"
                );
            }
        }
        assert!(seen > 100, "only {seen} result names found");
    }

    #[test]
    fn nothing_at_all_is_an_f() {
        let g = grade(&loopback(&[("content-type", "text/html")], "<p>hi</p>"));
        assert_eq!((g.score, g.grade.as_str()), (10, "F"));
        let failing: Vec<&str> = g
            .tests
            .iter()
            .filter(|t| !t.pass)
            .map(|t| t.result.as_str())
            .collect();
        assert_eq!(
            failing,
            [
                "csp-not-implemented",
                "redirection-missing",
                "hsts-not-implemented-no-https",
                "x-content-type-options-not-implemented",
                "x-frame-options-not-implemented",
            ]
        );
    }

    #[test]
    fn a_secure_https_site_is_an_a_plus_with_its_bonuses() {
        let site = Observed {
            http: None,
            https: Some(single(
                "https://api.example.com/",
                exchange(
                    200,
                    &[
                        ("content-type", "application/json"),
                        (
                            "content-security-policy",
                            "default-src 'none'; frame-ancestors 'none'",
                        ),
                        ("strict-transport-security", "max-age=31536000"),
                        ("x-content-type-options", "nosniff"),
                        ("referrer-policy", "no-referrer"),
                        ("cross-origin-resource-policy", "same-origin"),
                    ],
                    "{}",
                ),
            )),
            cors: None,
        };
        let g = grade(&site);
        // 100 + 10 (CSP default-src 'none') + 5 (referrer) + 5 (frame-ancestors) + 10 (CORP).
        assert_eq!((g.score, g.grade.as_str()), (130, "A+"));
        assert!(g.tests.iter().all(|t| t.pass), "{g:#?}");
        assert_eq!(refusal(&site), None);
    }

    #[test]
    fn the_same_headers_over_plain_http_lose_the_bonuses() {
        let headers = [
            ("content-type", "application/json"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("strict-transport-security", "max-age=31536000"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cross-origin-resource-policy", "same-origin"),
        ];
        let g = grade(&loopback(&headers, "{}"));
        // HSTS cannot be set over http (-20) and there is no redirect to https (-20): 60 is
        // under 90, so the +30 of bonuses does not count.
        assert_eq!((g.score, g.grade.as_str()), (60, "C+"));
        assert_eq!(
            result(&loopback(&headers, "{}"), "strict-transport-security"),
            "hsts-not-implemented-no-https"
        );
    }

    #[test]
    fn partial_sites_land_in_between() {
        // CSP with 'unsafe-inline' (-20), a session cookie without Secure (-40), nosniff.
        let g = grade(&loopback(
            &[
                ("content-type", "text/html"),
                (
                    "content-security-policy",
                    "default-src 'self' 'unsafe-inline'",
                ),
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("set-cookie", "sessionid=abc; Path=/; HttpOnly"),
            ],
            "<p>hi</p>",
        ));
        assert_eq!(g.score, 100 - 20 - 40 - 20 - 20);
        assert_eq!(g.grade, "F");
        let g = grade(&loopback(
            &[
                ("content-type", "application/json"),
                ("content-security-policy", "default-src 'none'"),
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
            ],
            "{}",
        ));
        assert_eq!((g.score, g.grade.as_str()), (60, "C+"));
    }

    #[test]
    fn refusals_are_worded_as_the_cli_words_them() {
        assert_eq!(
            refusal(&Observed::default()).as_deref(),
            Some("The site seems to be down.")
        );
        let not_found = Observed {
            http: Some(single("http://127.0.0.1:1/", exchange(404, &[], ""))),
            ..Observed::default()
        };
        assert_eq!(
            refusal(&not_found).as_deref(),
            Some("Site did respond with an unexpected HTTP status code 404.")
        );
        for status in [200, 204, 302, 401, 403] {
            let ok = Observed {
                http: Some(single("http://127.0.0.1:1/", exchange(status, &[], ""))),
                ..Observed::default()
            };
            assert_eq!(refusal(&ok), None, "{status}");
        }
    }

    /// The CSP result for a header value on the tool's test site.
    fn csp(header: &str) -> String {
        result(
            &mozilla(&[("content-security-policy", header)], ""),
            "content-security-policy",
        )
    }

    #[test]
    fn csp_cases_from_the_tool_test_suite() {
        let table: [(&str, &[&str]); 8] = [
            (
                "csp-header-invalid",
                &[
                    "default-src 'none'; default-src 'none'",
                    "default-src 'none'; img-src 'self'; default-src 'none'",
                    "default-src 'none'; script-src 'strict-dynamic'",
                    "defa",
                ],
            ),
            (
                "csp-implemented-with-unsafe-inline",
                &[
                    "default-src 'none'; script-src https://*",
                    "default-src 'none'; script-src 'unsafe-inline'",
                    "script-src 'unsafe-inline'",
                    "script-src data:",
                    "script-src http:",
                    "script-src ftp:",
                    "default-src 'unsafe-inline'",
                    "default-src 'UNSAFE-INLINE'",
                    "upgrade-insecure-requests",
                    "script-src 'none'",
                    "script-src https:",
                    "script-src https://mozilla.org https:",
                    "default-src https://mozilla.org https:",
                    "default-src 'none'; script-src *",
                    "default-src *; script-src *; object-src 'none'",
                    "default-src 'none'; script-src 'none'; object-src *",
                    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'",
                    "default-src 'none'; script-src 'unsafe-inline' http:",
                    "object-src https:; script-src 'none'",
                ],
            ),
            (
                "csp-implemented-with-insecure-scheme",
                &[
                    "default-src http://mozilla.org",
                    "default-src 'none'; script-src http://mozilla.org",
                    "default-src 'none'; script-src ftp://mozilla.org",
                ],
            ),
            (
                "csp-implemented-with-insecure-scheme-in-passive-content-only",
                &[
                    "default-src 'none'; img-src http://mozilla.org",
                    "default-src 'self'; img-src ftp:",
                    "default-src 'self'; img-src http:",
                    "default-src 'none'; img-src https:; media-src http://mozilla.org",
                    "default-src 'none'; img-src http: https:; script-src 'self'; style-src 'self'",
                    "default-src 'none'; img-src 'none'; media-src http:; script-src 'self'; \
                     style-src 'self'",
                    "default-src 'none'; img-src 'none'; media-src http:; script-src 'self'; \
                     style-src 'unsafe-inline'",
                ],
            ),
            (
                "csp-implemented-with-unsafe-eval",
                &["default-src 'none'; script-src 'unsafe-eval'"],
            ),
            (
                "csp-implemented-with-unsafe-inline-in-style-src-only",
                &[
                    "object-src 'none'; script-src 'none'; style-src 'unsafe-inline'",
                    "default-src 'none'; script-src https://mozilla.org; style-src 'unsafe-inline'",
                    "default-src 'unsafe-inline'; script-src https://mozilla.org",
                    "default-src 'none';;; ;;;style-src 'self' 'unsafe-inline'",
                    "default-src 'none'; style-src data:",
                    "default-src 'none'; style-src *",
                    "default-src 'none'; style-src https:",
                    "default-src 'none'; style-src 'unsafe-inline'; script-src \
                     'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBB=' 'unsafe-inline'",
                ],
            ),
            (
                "csp-implemented-with-no-unsafe",
                &[
                    "default-src https://mozilla.org",
                    "default-src https://mozilla.org;;; ;;;script-src 'none'",
                    "object-src 'none'; script-src https://mozilla.org; style-src \
                     https://mozilla.org; upgrade-insecure-requests;",
                    "object-src 'none'; script-src 'strict-dynamic' 'nonce-abc' 'unsafe-inline'; \
                     style-src 'none'",
                    "object-src 'none'; style-src 'self';script-src \
                     'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBA='",
                    "object-src 'none'; style-src 'self'; script-src 'unsafe-inline' \
                     'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBA=''sha256-hqBEA/\
                     HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBB='",
                    "object-src 'none'; script-src 'unsafe-inline' 'nonce-abc123' \
                     'unsafe-inline'; style-src 'none'",
                    "default-src https://mozilla.org; style-src 'unsafe-inline' 'nonce-abc123' \
                     'unsafe-inline'",
                    "default-src https://mozilla.org; style-src 'unsafe-inline' \
                     'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBB=' 'unsafe-inline'",
                ],
            ),
            (
                "csp-implemented-with-no-unsafe-default-src-none",
                &[
                    "default-src",
                    "default-src 'none'; script-src 'strict-dynamic' 'nonce-abc123' \
                     'unsafe-inline'",
                    "default-src 'none'; script-src https://mozilla.org; style-src \
                     https://mozilla.org; upgrade-insecure-requests;",
                    "default-src 'none'; object-src https://mozilla.org",
                    "default-src 'none'; script-src 'strict-dynamic' 'nonce-abc123'",
                    "default-src 'none'; script-src 'strict-dynamic' 'sha256-abc123'",
                    "default-src 'none'; script-src 'strict-dynamic' 'sha256-abc123' https://*",
                    "default-src 'none'; script-src 'strict-dynamic' 'sha256-abc123' \
                     'unsafe-inline'",
                ],
            ),
        ];
        for (expected, headers) in table {
            for header in headers {
                assert_eq!(csp(header), expected, "{header}");
            }
        }
    }

    #[test]
    fn csp_meta_tags_merge_with_the_header_as_the_tool_merges_them() {
        const CSP1: &str = r#"<!doctype html><html lang="en"><head><meta charset="UTF-8" />
            <meta http-equiv="Content-Security-Policy" content="default-src 'none';" />
            <title>Title</title></head><body></body></html>"#;
        const CSP2: &str = r#"<!doctype html><html lang="en"><head><meta charset="UTF-8" />
            <meta http-equiv="Content-Security-Policy" content="default-src https:" />
            <title>Title</title></head><body></body></html>"#;
        const MULTIPLE: &str = r#"<!doctype html><html lang="en"><head>
            <meta http-equiv="Content-Security-Policy"
              content="default-src 'none'; object-src 'none'; media-src 'none';" />
            <meta http-equiv="Content-SECURITY-Policy"
              content="connect-src 'self'; font-src 'self'; child-src 'self'" />
            <meta http-equiv=" Content-Security-Policy "
              content="img-src 'self'; style-src 'self' 'nonce-gAeQO8jI4VJCsrsXkcUVRCzQjiihKteQ" />
            <meta http-equiv="Content-security-Policy"
              content="script-src 'self' 'unsafe-inline' 'nonce-gAeQO8jI4VJCsrsXkcUVRCzQjiihKteQ'" />
            <title>Title</title></head><body></body></html>"#;
        const NOT_ALLOWED: &str = r#"<!DOCTYPE html><html lang="en"><head>
            <meta http-equiv="Content-Security-Policy" content="frame-ancestors 'none'" />
            <title>Title</title></head><body></body></html>"#;
        let none = "csp-implemented-with-no-unsafe-default-src-none";
        let check = |headers: &[(&str, &str)], html: &str, expected: &str| {
            assert_eq!(
                result(&mozilla(headers, html), "content-security-policy"),
                expected,
                "{headers:?} {html}"
            );
        };
        check(
            &[("content-security-policy", "default-src http:")],
            CSP2,
            none,
        );
        check(&[], CSP1, none);
        check(&[], MULTIPLE, none);
        check(
            &[("content-security-policy", "default-src 'none'")],
            CSP1,
            none,
        );
        check(
            &[("content-security-policy", "default-src 'none'")],
            CSP2,
            none,
        );
        check(&[("content-security-policy", "img-src 'none'")], CSP1, none);
        // frame-ancestors is not allowed in a meta tag: nothing is left of that policy.
        check(&[], NOT_ALLOWED, "csp-not-implemented");
        check(
            &[("content-security-policy", "frame-anchestors 'none'")],
            NOT_ALLOWED,
            "csp-implemented-with-unsafe-inline",
        );
        // ... but the X-Frame-Options test still reads it from the merged policy.
        assert_eq!(
            result(
                &mozilla(
                    &[("content-security-policy", "frame-anchestors 'none'")],
                    NOT_ALLOWED
                ),
                "x-frame-options"
            ),
            "x-frame-options-implemented-via-csp"
        );
        // A meta tag is only looked for in HTML, the content type matched exactly.
        let mut site = mozilla(&[], CSP1);
        if let Some(https) = &mut site.https {
            https.hops[0].exchange = exchange(200, &[("content-type", "text/html ;x")], CSP1);
        }
        assert_eq!(
            result(&site, "content-security-policy"),
            "csp-not-implemented"
        );
    }

    #[test]
    fn csp_report_only_and_duplicate_report_directives() {
        let site = mozilla(
            &[(
                "content-security-policy-report-only",
                "default-src 'none'; report-to /_/csp-reports",
            )],
            "",
        );
        assert_eq!(
            result(&site, "content-security-policy"),
            "csp-not-implemented-but-reporting-enabled"
        );
        assert_eq!(
            csp("default-src 'none'; report-uri /a; report-uri /b"),
            "csp-implemented-but-duplicate-directives"
        );
        // Two headers arrive joined by a comma: one policy with odd sources, not two policies.
        let site = mozilla(
            &[
                ("content-security-policy", "default-src 'none'"),
                ("content-security-policy", "frame-ancestors 'none'"),
            ],
            "",
        );
        assert_eq!(
            result(&site, "content-security-policy"),
            "csp-implemented-with-no-unsafe"
        );
        assert_eq!(
            result(&site, "x-frame-options"),
            "x-frame-options-not-implemented"
        );
        // A malformed escape met while merging two policies makes the parser throw.
        let html = r#"<meta http-equiv="content-security-policy" content="img-src https://a.example/%zz/x">"#;
        let site = mozilla(
            &[("content-security-policy", "img-src https://a.example/%zz/")],
            html,
        );
        assert_eq!(
            result(&site, "content-security-policy"),
            "csp-header-invalid"
        );
    }

    /// The cookies result for these `Set-Cookie` fields on the tool's test site, with an
    /// `hsts` header on the https answer if given.
    fn cookies(fields: &[&str], hsts: Option<&str>) -> String {
        let mut headers: Vec<(&str, &str)> = fields.iter().map(|f| ("set-cookie", *f)).collect();
        if let Some(h) = hsts {
            headers.push(("strict-transport-security", h));
        }
        result(&mozilla(&headers, ""), "cookies")
    }

    #[test]
    fn cookie_cases_from_the_tool_test_suite() {
        assert_eq!(cookies(&[], None), "cookies-not-found");
        assert_eq!(
            cookies(
                &[
                    "SESSIONID=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly",
                    "foo=bar; Domain=mozilla.org; Secure; Path=/",
                    "heroku-session-affinity=bar; Domain=mozilla.org; Path=/",
                ],
                None
            ),
            "cookies-secure-with-httponly-sessions"
        );
        assert_eq!(
            cookies(
                &[
                    "SESSIONID_SAMESITE_STRICT=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; SameSite=Strict",
                    "SESSIONID_SAMESITE_LAX=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; SameSite=Lax",
                    "SESSIONID_SAMESITE_NONE=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; SameSite=None",
                ],
                None
            ),
            "cookies-secure-with-httponly-sessions-and-samesite"
        );
        assert_eq!(
            cookies(
                &[
                    "SESSIONID_SAMESITE_STRICT=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; SameSite=Strict",
                    "SESSIONID_SAMESITE_NO_SAMESITE=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly",
                ],
                None
            ),
            "cookies-secure-with-httponly-sessions"
        );
        let table = [
            (
                "CSRFTOKEN=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly",
                None,
                "cookies-anticsrf-without-samesite-flag",
            ),
            (
                "SESSIONID=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; SameSite=",
                None,
                "cookies-samesite-flag-invalid",
            ),
            (
                "SESSIONID=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; SameSite=True",
                None,
                "cookies-samesite-flag-invalid",
            ),
            (
                "foo=bar; Domain=mozilla.org; Path=/",
                Some("max-age=15768000"),
                "cookies-without-secure-flag-but-protected-by-hsts",
            ),
            (
                "SESSIONID=bar; Domain=mozilla.org; Path=/; HttpOnly",
                Some("max-age=15768000"),
                "cookies-session-without-secure-flag-but-protected-by-hsts",
            ),
            (
                "foo=bar; Domain=mozilla.org; Path=/",
                None,
                "cookies-without-secure-flag",
            ),
            (
                "SESSIONID=bar; Domain=mozilla.org; Path=/; Secure",
                None,
                "cookies-session-without-httponly-flag",
            ),
            (
                "SESSIONID=bar; Domain=mozilla.org; Path=/; HttpOnly",
                None,
                "cookies-session-without-secure-flag",
            ),
            (
                "SESSIONID=bar; Domain=mozilla.org; Path=/",
                None,
                "cookies-session-without-secure-flag",
            ),
        ];
        for (field, hsts, expected) in table {
            assert_eq!(cookies(&[field], hsts), expected, "{field}");
        }
    }

    #[test]
    fn cookies_the_jar_refuses_are_not_graded() {
        // From an IP address a Domain attribute is never accepted; nor another host's domain,
        // nor a public suffix, nor a __Host- or __Secure- cookie without its conditions.
        for field in [
            "sid=1; Domain=127.0.0.1",
            "sid=1; Domain=example.com",
            "__Host-sid=1; Path=/",
            "__Secure-sid=1",
            "novalue",
            "=x",
        ] {
            let site = loopback(&[("set-cookie", field)], "");
            assert_eq!(result(&site, "cookies"), "cookies-not-found", "{field}");
        }
        assert_eq!(
            cookies(&["sid=1; Domain=org; Secure; HttpOnly"], None),
            "cookies-not-found"
        );
        // A cookie set again with the same name, domain and path replaces the first one.
        let site = loopback(
            &[
                ("set-cookie", "sid=1; Path=/"),
                (
                    "set-cookie",
                    "sid=2; Path=/; Secure; HttpOnly; SameSite=Lax",
                ),
            ],
            "",
        );
        assert_eq!(
            result(&site, "cookies"),
            "cookies-secure-with-httponly-sessions-and-samesite"
        );
        // SameSite=None needs Secure.
        let site = loopback(&[("set-cookie", "pref=1; SameSite=None")], "");
        assert_eq!(result(&site, "cookies"), "cookies-samesite-flag-invalid");
    }

    #[test]
    fn cookies_set_on_a_redirect_count_too() {
        let site = Observed {
            http: Some(Fetch {
                url: Url::parse("http://127.0.0.1:8080/").unwrap(),
                hops: vec![
                    Hop {
                        url: Url::parse("http://127.0.0.1:8080/").unwrap(),
                        exchange: exchange(
                            302,
                            &[("location", "/home"), ("set-cookie", "session=1; HttpOnly")],
                            "",
                        ),
                    },
                    Hop {
                        url: Url::parse("http://127.0.0.1:8080/home").unwrap(),
                        exchange: exchange(200, &[], ""),
                    },
                ],
                unfollowed: None,
                verified: true,
            }),
            ..Observed::default()
        };
        assert_eq!(
            result(&site, "cookies"),
            "cookies-session-without-secure-flag"
        );
        assert_eq!(result(&site, "redirection"), "redirection-not-to-https");
    }

    /// The redirection result for an http chain through these URLs.
    fn redirection(route: &[&str]) -> String {
        let hops = route
            .iter()
            .map(|u| Hop {
                url: Url::parse(u).unwrap(),
                exchange: exchange(200, &[], ""),
            })
            .collect();
        let site = Observed {
            http: Some(Fetch {
                url: Url::parse(route[0]).unwrap(),
                hops,
                unfollowed: None,
                verified: true,
            }),
            ..Observed::default()
        };
        result(&site, "redirection")
    }

    #[test]
    fn redirection_cases_from_the_tool_test_suite() {
        assert_eq!(
            result(
                &Observed {
                    https: Some(single("https://mozilla.org/", exchange(200, &[], ""))),
                    ..Observed::default()
                },
                "redirection"
            ),
            "redirection-not-needed-no-http"
        );
        let table: [(&[&str], &str); 7] = [
            (&["http://mozilla.org"], "redirection-missing"),
            (
                &["http://mozilla.org", "http://www.mozilla.org"],
                "redirection-not-to-https",
            ),
            (
                &[
                    "http://mozilla.org",
                    "http://www.mozilla.org",
                    "http://www.mozilla.org/en/",
                ],
                "redirection-not-to-https",
            ),
            (
                &[
                    "http://mozilla.org/",
                    "https://mozilla.org/",
                    "https://www.mozilla.org/",
                ],
                "redirection-to-https",
            ),
            (
                &["http://mozilla.org/", "https://mozilla.org:8443/"],
                "redirection-to-https",
            ),
            (
                &[
                    "http://mozilla.org/",
                    "http://www.mozilla.org/",
                    "https://www.mozilla.org/",
                ],
                "redirection-not-to-https-on-initial-redirection",
            ),
            (
                &["http://mozilla.org/", "https://www.mozilla.org/"],
                "redirection-off-host-from-http",
            ),
        ];
        for (route, expected) in table {
            assert_eq!(redirection(route), expected, "{route:?}");
        }
    }

    #[test]
    fn referrer_cases_from_the_tool_test_suite() {
        let referrer = |value: &str| {
            result(
                &mozilla(&[("referrer-policy", value)], ""),
                "referrer-policy",
            )
        };
        for value in [
            "no-referrer",
            "same-origin",
            "strict-origin",
            "STRICT-ORIGIN",
            "strict-origin-when-cross-origin",
            "origin-when-cross-origin, no-referrer",
            "no-referrer, whimsy",
        ] {
            assert_eq!(referrer(value), "referrer-policy-private", "{value}");
        }
        for value in [
            "origin",
            "origin-when-cross-origin",
            "unsafe-url",
            "origin-when-cross-origin, no-referrer, unsafe-url",
            "no-referrer, unsafe-url",
        ] {
            assert_eq!(referrer(value), "referrer-policy-unsafe", "{value}");
        }
        for value in ["whimsy", "whimsy, whimsy1, whimsy2", ""] {
            assert_eq!(
                referrer(value),
                "referrer-policy-header-invalid",
                "{value:?}"
            );
        }
        assert_eq!(
            result(&mozilla(&[], ""), "referrer-policy"),
            "referrer-policy-not-implemented"
        );
        // The meta tag comes after the header, so it wins.
        const META: &str = r#"<meta name="referRer" content="no-referrer, same-origin" />"#;
        let site = mozilla(&[("referrer-policy", "unsafe-url")], META);
        assert_eq!(result(&site, "referrer-policy"), "referrer-policy-private");
        let site = mozilla(
            &[("referrer-policy", "no-referrer")],
            "<meta name=referrer content=origin>",
        );
        assert_eq!(result(&site, "referrer-policy"), "referrer-policy-unsafe");
    }

    #[test]
    fn hsts_cases_from_the_tool_test_suite() {
        let hsts = |value: Option<&str>| {
            let headers: Vec<(&str, &str)> = value
                .map(|v| ("strict-transport-security", v))
                .into_iter()
                .collect();
            result(&mozilla(&headers, ""), "strict-transport-security")
        };
        assert_eq!(hsts(None), "hsts-not-implemented");
        assert_eq!(
            hsts(Some("includeSubDomains; preload")),
            "hsts-header-invalid"
        );
        assert_eq!(
            hsts(Some(
                "max-age=15768000; includeSubDomains, max-age=15768000; includeSubDomains"
            )),
            "hsts-header-invalid"
        );
        assert_eq!(
            hsts(Some("max-age=86400")),
            "hsts-implemented-max-age-less-than-six-months"
        );
        assert_eq!(
            hsts(Some("max-age=15768000; includeSubDomains; preload")),
            "hsts-implemented-max-age-at-least-six-months"
        );
        // parseInt gives NaN, and NaN is not less than six months.
        assert_eq!(
            hsts(Some("max-age=\"86400\"")),
            "hsts-implemented-max-age-at-least-six-months"
        );
        let mut site = mozilla(&[("strict-transport-security", "max-age=15768000")], "");
        if let Some(https) = &mut site.https {
            https.verified = false;
        }
        assert_eq!(
            result(&site, "strict-transport-security"),
            "hsts-invalid-cert"
        );
        let http_only = loopback(&[("strict-transport-security", "max-age=31536000")], "");
        assert_eq!(
            result(&http_only, "strict-transport-security"),
            "hsts-not-implemented-no-https"
        );
    }

    #[test]
    fn sri_cases_from_the_tool_test_suite() {
        let sri = |html: &str| result(&mozilla(&[], html), "subresource-integrity");
        assert_eq!(
            sri("<html><head><title>x</title></head><body></body></html>"),
            "sri-not-implemented-but-no-scripts-loaded"
        );
        assert_eq!(
            sri(r#"<script src="/static/js/foo.js"></script>"#),
            "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
        );
        assert_eq!(
            sri(r#"<script src="//www.mozilla.org/static/js/foo.js"></script>"#),
            "sri-not-implemented-and-external-scripts-not-loaded-securely"
        );
        assert_eq!(
            sri(r#"<script src="https://www.mozilla.org/static/js/foo.js"></script>"#),
            "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
        );
        assert_eq!(
            sri(r#"<script src="/static/js/foo.js"></script>
                <script src="https://fb.me/react-0.14.7.min.js"
                  integrity="sha384-zTm/dblzLXQNp3CgY+hfaC/WJ6h4XtNrePh2CW2+rO9GPuNiPb9jmthvAL+oI/dQ"
                  crossorigin="anonymous"></script>"#),
            "sri-implemented-and-external-scripts-loaded-securely"
        );
        assert_eq!(
            sri(r#"<script src="/static/js/foo.js"></script>
                <script src="https://localhost/react-0.14.7.min.js"
                  integrity="sha384-zTm/dblzLXQNp3CgY+hfaC/WJ6h4XtNrePh2CW2+rO9GPuNiPb9jmthvAL+oI/dQ"
                  crossorigin="anonymous"></script>"#),
            "sri-implemented-and-external-scripts-loaded-securely"
        );
        assert_eq!(
            sri(r#"<script src="/static/js/react-0.14.7.min.js"
                  integrity="sha384-zTm/dblzLXQNp3CgY+hfaC/WJ6h4XtNrePh2CW2+rO9GPuNiPb9jmthvAL+oI/dQ"
                  crossorigin="anonymous"></script>"#),
            "sri-implemented-and-all-scripts-loaded-securely"
        );
        assert_eq!(
            sri(r#"<script src="/static/js/foo.js"></script>
                <script src="https://fb.me/react-0.14.7.min.js"></script>"#),
            "sri-not-implemented-but-external-scripts-loaded-securely"
        );
        assert_eq!(
            sri(r#"<script src="/static/js/foo.js"></script>
                <script src="http://fb.me/react-0.14.6.min.js"
                  integrity="sha384-qh+n/Y7ZM4wLHt8QaXGw4uK5E8j6vR4Z4V9A4uCn0q3QZf4n2TzJ6w3d0L+2Fq0r"
                  crossorigin="anonymous"></script>
                <script src="https://fb.me/react-0.14.7.min.js"
                  integrity="sha384-zTm/dblzLXQNp3CgY+hfaC/WJ6h4XtNrePh2CW2+rO9GPuNiPb9jmthvAL+oI/dQ"
                  crossorigin="anonymous"></script>"#),
            "sri-implemented-but-external-scripts-not-loaded-securely"
        );
        assert_eq!(
            sri(r#"<script src="//fb.me/react-0.14.6.min.js"
                  integrity="sha384-qh+n/Y7ZM4wLHt8QaXGw4uK5E8j6vR4Z4V9A4uCn0q3QZf4n2TzJ6w3d0L+2Fq0r"
                  crossorigin="anonymous"></script>"#),
            "sri-implemented-but-external-scripts-not-loaded-securely"
        );
        assert_eq!(
            sri(r#"<script src="/static/js/foo.js"></script>
                <script src="http://fb.me/react-0.14.6.min.js"></script>"#),
            "sri-not-implemented-and-external-scripts-not-loaded-securely"
        );
        assert_eq!(
            sri(r#"<script src="//fb.me/react-0.14.6.min.js"></script>"#),
            "sri-not-implemented-and-external-scripts-not-loaded-securely"
        );
        let json = Observed {
            https: Some(single(
                "https://mozilla.org/",
                exchange(
                    200,
                    &[("content-type", "application/json")],
                    r#"{"foo": "bar"}"#,
                ),
            )),
            ..Observed::default()
        };
        assert_eq!(
            result(&json, "subresource-integrity"),
            "sri-not-implemented-response-not-html"
        );
    }

    #[test]
    fn header_tests_from_the_tool_test_suite() {
        let one =
            |name: &str, value: &str, test: &str| result(&mozilla(&[(name, value)], ""), test);
        let table = [
            (
                "x-frame-options",
                "whimsy",
                "x-frame-options-header-invalid",
            ),
            (
                "x-frame-options",
                "SAMEORIGIN, SAMEORIGIN",
                "x-frame-options-header-invalid",
            ),
            (
                "x-frame-options",
                "ALLOW-FROM https://mozilla.org",
                "x-frame-options-allow-from-origin",
            ),
            (
                "x-frame-options",
                "DENY",
                "x-frame-options-sameorigin-or-deny",
            ),
            (
                "x-content-type-options",
                "whimsy",
                "x-content-type-options-header-invalid",
            ),
            (
                "x-content-type-options",
                "nosniff, nosniff",
                "x-content-type-options-header-invalid",
            ),
            (
                "x-content-type-options",
                "nosniff",
                "x-content-type-options-nosniff",
            ),
            (
                "cross-origin-resource-policy",
                "whimsy",
                "corp-header-invalid",
            ),
            (
                "cross-origin-resource-policy",
                "same-site",
                "corp-implemented-with-same-site",
            ),
            (
                "cross-origin-resource-policy",
                "same-origin",
                "corp-implemented-with-same-origin",
            ),
            (
                "cross-origin-resource-policy",
                "cross-origin",
                "corp-implemented-with-cross-origin",
            ),
        ];
        // Each of these tests is named after its header.
        for (name, value, expected) in table {
            assert_eq!(one(name, value, name), expected, "{name}: {value}");
        }
        // Repeated fields arrive joined, and the join is invalid.
        let site = mozilla(
            &[("x-frame-options", "DENY"), ("x-frame-options", "DENY")],
            "",
        );
        assert_eq!(
            result(&site, "x-frame-options"),
            "x-frame-options-header-invalid"
        );
        let site = mozilla(
            &[
                ("x-frame-options", "DENY"),
                (
                    "content-security-policy",
                    "frame-ancestors https://mozilla.org",
                ),
            ],
            "",
        );
        assert_eq!(
            result(&site, "x-frame-options"),
            "x-frame-options-implemented-via-csp"
        );
        let site = mozilla(
            &[],
            r#"<meta http-equiv="X-Frame-Options" content="DENY" />"#,
        );
        assert_eq!(
            result(&site, "x-frame-options"),
            "x-frame-options-not-implemented"
        );
    }

    #[test]
    fn cors_never_reports_universal_access() {
        let cors = |headers: &[(&str, &str)]| {
            let mut site = mozilla(&[], "");
            site.cors = Some(exchange(200, headers, ""));
            result(&site, "cross-origin-resource-sharing")
        };
        assert_eq!(cors(&[]), "cross-origin-resource-sharing-not-implemented");
        assert_eq!(
            cors(&[("access-control-allow-origin", "*")]),
            "cross-origin-resource-sharing-implemented-with-public-access"
        );
        assert_eq!(
            cors(&[("access-control-allow-origin", "https://mozilla.org")]),
            "cross-origin-resource-sharing-implemented-with-restricted-access"
        );
        // The tool's own unit test gets -50 here only because it fills in the request's
        // headers by hand; a real scan never has them (checked against the CLI).
        assert_eq!(
            cors(&[
                ("access-control-allow-origin", CORS_ORIGIN),
                ("access-control-allow-credentials", "true"),
            ]),
            "cross-origin-resource-sharing-implemented-with-restricted-access"
        );
    }

    #[test]
    fn html_is_read_as_jsdom_reads_it() {
        let metas = |html: &str| -> Vec<(Option<String>, Option<String>)> {
            start_tags(html, Parse::Fragment)
                .into_iter()
                .filter(|t| t.name == "meta")
                .map(|t| {
                    (
                        t.attr("http-equiv").map(str::to_owned),
                        t.attr("content").map(str::to_owned),
                    )
                })
                .collect()
        };
        let scripts = |html: &str| -> Vec<Option<String>> {
            start_tags(html, Parse::Document)
                .into_iter()
                .filter(|t| t.name == "script")
                .map(|t| t.attr("src").map(str::to_owned))
                .collect()
        };
        let meta = r#"<meta http-equiv="content-security-policy" content="a-src 1">"#;
        let script = r#"<script src="https://e.com/1.js"></script>"#;
        // Each of these hides what is inside from querySelectorAll (jsdom, checked).
        for wrapper in [
            "<template>{}</template>",
            "<!-- {} -->",
            "<textarea>{}</textarea>",
            "<title>{}</title>",
            "<style>{}</style>",
            "<xmp>{}</xmp>",
            "<iframe>{}</iframe>",
        ] {
            let html = wrapper.replace("{}", &format!("{meta}{script}"));
            assert!(metas(&html).is_empty(), "{html}");
            assert!(scripts(&html).is_empty(), "{html}");
        }
        // <noscript> is raw text for the fragment parse (meta) but not the document (script).
        let html = format!("<noscript>{meta}{script}</noscript>");
        assert!(metas(&html).is_empty());
        assert_eq!(scripts(&html), [Some("https://e.com/1.js".to_owned())]);
        // A meta inside a script's text is not a tag.
        assert!(metas(&format!("<script>x='{meta}'</script>")).is_empty());
        // Attributes: first wins, `/` separates, references decode.
        assert_eq!(
            metas(r#"<meta content="g-src 1" http-equiv="content-security-policy" content="dup">"#),
            [(
                Some("content-security-policy".into()),
                Some("g-src 1".into())
            )]
        );
        assert_eq!(
            metas(r#"<meta/http-equiv="content-security-policy"/content="u-src 1"/>"#),
            [(
                Some("content-security-policy".into()),
                Some("u-src 1".into())
            )]
        );
        assert_eq!(
            metas(
                "<meta http-equiv=content-security-policy content=\"f-src &apos;none&apos; &amp;x &lt &#x41; &ampx\">"
            ),
            [(
                Some("content-security-policy".into()),
                Some("f-src 'none' &x < A &ampx".into())
            )]
        );
        assert_eq!(metas("<a title='<meta http-equiv=x content=y>'></a>"), []);
        assert_eq!(
            scripts("<script>1</script><SCRIPT SRC=//e.com/8.js></SCRIPT>"),
            [None, Some("//e.com/8.js".into())]
        );
    }

    #[test]
    fn bodies_that_parse_as_json_are_read_as_json() {
        assert_eq!(page_text("<p>x</p>").as_deref(), Some("<p>x</p>"));
        assert_eq!(page_text("\"<p>x</p>\"").as_deref(), Some("<p>x</p>"));
        assert_eq!(page_text("{\"a\": 1}").as_deref(), Some("[object Object]"));
        assert_eq!(page_text("[\"<p>\", null, 2]").as_deref(), Some("<p>,,2"));
        for falsy in ["", "null", "false", "0", "\"\"", "\u{feff}"] {
            assert_eq!(page_text(falsy), None, "{falsy:?}");
        }
    }

    #[test]
    fn javascript_semantics() {
        assert!(js_parse_int("abc").is_nan());
        assert_eq!(js_parse_int(" 42abc"), 42.0);
        assert_eq!(js_parse_int("-5"), -5.0);
        assert_eq!(decode_uri_component("a%2Fb%C3%A9").unwrap(), "a/bé");
        for bad in ["%", "%zz", "%C3", "%C3%41", "%FF"] {
            assert!(decode_uri_component(bad).is_err(), "{bad}");
        }
        assert_eq!(js_trim("\u{feff}\u{a0} x \n"), "x");
        assert_eq!(js_split_whitespace(""), [""]);
        assert_eq!(js_split_whitespace("a \u{a0}b"), ["a", "b"]);
        // Intl.Collator("en") as node sorts these (checked).
        let mut words = vec!["ab", "a", "a-b", "a.c", "a:b", "a0", "a_", "a~"];
        words.sort_by(|a, b| icu_compare(a, b));
        assert_eq!(words, ["a", "a_", "a-b", "a:b", "a.c", "a~", "a0", "ab"]);
        assert!(path_part_match("https://a.com/", "https://a.com/x").unwrap());
        assert!(!path_part_match("https://a.com/x", "https://a.com/y").unwrap());
        assert_eq!(
            node_header(
                &exchange(
                    200,
                    &[
                        ("x-a", "1"),
                        ("x-a", "2"),
                        ("content-type", "a"),
                        ("content-type", "b")
                    ],
                    ""
                )
                .headers,
                "x-a"
            )
            .as_deref(),
            Some("1, 2")
        );
        assert_eq!(
            node_header(
                &exchange(200, &[("content-type", "a"), ("content-type", "b")], "").headers,
                "content-type"
            )
            .as_deref(),
            Some("a")
        );
    }

    /// The grades of a local server from [`observe`] and [`grade`], compared with the real
    /// Observatory CLI's on the same server, test by test, when `RAMPART_OBSERVATORY` names
    /// the CLI script (`.ci/run` installs it; CI must run this). Also checks that [`observe`]
    /// sends what the CLI sends, less its `robots.txt` (whose answer it throws away).
    mod against_the_cli {
        use std::io::{Read, Write};
        use std::net::{SocketAddr, TcpListener, TcpStream};
        use std::path::{Path, PathBuf};
        use std::process::{Command, Stdio};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        use std::thread::JoinHandle;
        use std::time::{Duration, Instant};

        use serde_json::Value;

        use super::super::*;

        /// How long one run of the CLI may take.
        const CLI_BOUND: Duration = Duration::from_secs(60);

        /// The CLI script, or `None` to skip; under CI a missing one is a failure.
        fn observatory_cli() -> Option<PathBuf> {
            match std::env::var_os("RAMPART_OBSERVATORY") {
                Some(path) => Some(path.into()),
                None if std::env::var("CI").as_deref() == Ok("true") => {
                    panic!("CI must run the MDN Observatory comparison; .ci/run installs it")
                }
                None => None,
            }
        }

        /// One canned answer.
        struct Route {
            method: &'static str,
            path: &'static str,
            status: u16,
            headers: Vec<(&'static str, &'static str)>,
            body: &'static str,
        }

        fn route(
            method: &'static str,
            path: &'static str,
            status: u16,
            headers: &[(&'static str, &'static str)],
            body: &'static str,
        ) -> Route {
            Route {
                method,
                path,
                status,
                headers: headers.to_vec(),
                body,
            }
        }

        /// `GET /` answering 200 with these headers and body.
        fn root(headers: &[(&'static str, &'static str)], body: &'static str) -> Vec<Route> {
            vec![route("GET", "/", 200, headers, body)]
        }

        /// A loopback HTTP/1.1 server answering from its routes (404 otherwise), one thread per
        /// connection, logging each request line. A TLS ClientHello (the CLI's https attempt)
        /// is closed unanswered.
        struct Server {
            addr: SocketAddr,
            log: Arc<Mutex<Vec<String>>>,
            stop: Arc<AtomicBool>,
            thread: Option<JoinHandle<()>>,
        }

        impl Server {
            fn start(routes: Vec<Route>) -> Self {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let log = Arc::new(Mutex::new(Vec::new()));
                let stop = Arc::new(AtomicBool::new(false));
                let routes = Arc::new(routes);
                let thread = {
                    let (log, stop) = (log.clone(), stop.clone());
                    std::thread::spawn(move || {
                        for stream in listener.incoming() {
                            if stop.load(Ordering::SeqCst) {
                                break;
                            }
                            let Ok(stream) = stream else { continue };
                            let (routes, log) = (routes.clone(), log.clone());
                            std::thread::spawn(move || answer(stream, &routes, &log));
                        }
                    })
                };
                Self {
                    addr,
                    log,
                    stop,
                    thread: Some(thread),
                }
            }

            /// The requests so far, sorted, and forgets them.
            fn take_log(&self) -> Vec<String> {
                let mut log = std::mem::take(&mut *self.log.lock().unwrap());
                log.sort();
                log
            }
        }

        impl Drop for Server {
            fn drop(&mut self) {
                self.stop.store(true, Ordering::SeqCst);
                let _ = TcpStream::connect(self.addr);
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
        }

        fn answer(mut stream: TcpStream, routes: &[Route], log: &Mutex<Vec<String>>) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
                if !head[0].is_ascii_uppercase() || head.len() > 65_536 {
                    return;
                }
            }
            let text = String::from_utf8_lossy(&head);
            let mut lines = text.split("\r\n");
            let mut request = lines.next().unwrap_or_default().split(' ');
            let method = request.next().unwrap_or_default().to_owned();
            let path = request.next().unwrap_or_default().to_owned();
            let origin = lines.any(|l| l.to_ascii_lowercase().starts_with("origin:"));
            let with = if origin { " with Origin" } else { "" };
            log.lock().unwrap().push(format!("{method} {path}{with}"));
            let found = routes.iter().find(|r| r.method == method && r.path == path);
            let (status, headers, body) =
                found.map_or((404, &[][..], ""), |r| (r.status, &r.headers[..], r.body));
            let mut response = format!("HTTP/1.1 {status} Status\r\n");
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str(&format!(
                "content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            ));
            let _ = stream.write_all(response.as_bytes());
        }

        /// Runs the CLI on `target`, bounded in time, with proxies off so that nothing leaves
        /// the machine; its JSON output.
        fn run_cli(script: &Path, target: &str) -> Value {
            let mut command = Command::new("node");
            command
                .arg(script)
                .arg(target)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .env("NO_PROXY", "*")
                .env("no_proxy", "*");
            for var in [
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "ALL_PROXY",
                "http_proxy",
                "https_proxy",
                "all_proxy",
            ] {
                command.env_remove(var);
            }
            let mut child = command
                .spawn()
                .expect("node runs (RAMPART_OBSERVATORY is set)");
            let mut stdout = child.stdout.take().unwrap();
            let reader = std::thread::spawn(move || {
                let mut out = String::new();
                let _ = stdout.read_to_string(&mut out);
                out
            });
            let deadline = Instant::now() + CLI_BOUND;
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the Observatory CLI took over {CLI_BOUND:?} on {target}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let out = reader.join().unwrap();
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("CLI output {out:?}: {e}"))
        }

        /// The cases: each test's results, the tool's quirks, redirects and refusals.
        fn cases() -> Vec<(&'static str, Vec<Route>)> {
            let html = ("content-type", "text/html; charset=utf-8");
            let json = ("content-type", "application/json");
            vec![
                ("bare page", root(&[html], "<html><body>hi</body></html>")),
                (
                    "api with every header",
                    root(
                        &[
                            json,
                            (
                                "content-security-policy",
                                "default-src 'none'; frame-ancestors 'none'",
                            ),
                            ("x-content-type-options", "nosniff"),
                            ("x-frame-options", "DENY"),
                            ("referrer-policy", "no-referrer"),
                            ("cross-origin-resource-policy", "same-origin"),
                            ("strict-transport-security", "max-age=31536000"),
                        ],
                        "{\"ok\":true}",
                    ),
                ),
                (
                    "csp unsafe-inline",
                    root(
                        &[
                            html,
                            (
                                "content-security-policy",
                                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'",
                            ),
                            ("x-frame-options", "SAMEORIGIN"),
                        ],
                        "<p>x</p>",
                    ),
                ),
                (
                    "meta csp and referrer",
                    root(
                        &[html, ("referrer-policy", "no-referrer")],
                        "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; frame-ancestors 'none'; report-uri /r\"><meta name=referrer content=unsafe-url></head></html>",
                    ),
                ),
                (
                    "header and meta policies merged",
                    root(
                        &[
                            html,
                            (
                                "content-security-policy",
                                "default-src 'none'; img-src 'self' https://a.example/x/",
                            ),
                        ],
                        "<meta http-equiv=content-security-policy content=\"default-src https:; img-src https://a.example/x/y.png 'self'; script-src 'self'\">",
                    ),
                ),
                (
                    "repeated headers",
                    root(
                        &[
                            html,
                            ("x-frame-options", "DENY"),
                            ("x-frame-options", "DENY"),
                            ("x-content-type-options", "nosniff"),
                            ("x-content-type-options", "nosniff"),
                            ("content-security-policy", "default-src 'none'"),
                            ("content-security-policy", "frame-ancestors 'none'"),
                            ("referrer-policy", "origin"),
                            ("referrer-policy", "no-referrer"),
                            ("cross-origin-resource-policy", "same-site"),
                            ("cross-origin-resource-policy", "same-site"),
                        ],
                        "",
                    ),
                ),
                (
                    "report-only",
                    root(
                        &[
                            json,
                            ("content-security-policy-report-only", "default-src 'none'"),
                        ],
                        "{}",
                    ),
                ),
                (
                    "invalid csp and allow-from",
                    root(
                        &[
                            json,
                            (
                                "content-security-policy",
                                "default-src 'none'; default-src 'self'",
                            ),
                            ("x-frame-options", "ALLOW-FROM https://a.example"),
                        ],
                        "{}",
                    ),
                ),
                (
                    "strict-dynamic without a nonce",
                    root(
                        &[
                            json,
                            (
                                "content-security-policy",
                                "script-src 'strict-dynamic' 'self'; object-src 'none'",
                            ),
                        ],
                        "{}",
                    ),
                ),
                (
                    "strict-dynamic with a nonce",
                    root(
                        &[
                            json,
                            (
                                "content-security-policy",
                                "object-src 'none'; script-src 'strict-dynamic' 'nonce-abc' 'unsafe-inline' https:; base-uri 'none'; report-to a; report-to b",
                            ),
                        ],
                        "{}",
                    ),
                ),
                (
                    "malformed escape while merging",
                    root(
                        &[
                            html,
                            ("content-security-policy", "img-src https://a.example/%zz/"),
                        ],
                        "<meta http-equiv=content-security-policy content=\"img-src https://a.example/%zz/x\">",
                    ),
                ),
                (
                    "weak cookies",
                    root(
                        &[
                            json,
                            ("set-cookie", "sessionid=1; Path=/"),
                            ("set-cookie", "csrftoken=2; Secure"),
                            ("set-cookie", "a=1; SameSite=bogus"),
                            ("set-cookie", "__Host-x=1; Path=/"),
                            ("set-cookie", "d=1; Domain=127.0.0.1"),
                            ("set-cookie", "e=1; Domain=example.com"),
                        ],
                        "{}",
                    ),
                ),
                (
                    "good cookies",
                    root(
                        &[
                            json,
                            (
                                "set-cookie",
                                "__Host-session=1; Secure; HttpOnly; Path=/; SameSite=Strict",
                            ),
                            ("set-cookie", "pref=1; Secure; SameSite=Lax; Max-Age=0"),
                        ],
                        "{}",
                    ),
                ),
                (
                    "samesite none without secure",
                    root(
                        &[
                            json,
                            ("set-cookie", "x=1; SameSite=None"),
                            ("set-cookie", "sess=1; Secure; HttpOnly"),
                        ],
                        "{}",
                    ),
                ),
                (
                    "cors wildcard",
                    vec![
                        route("GET", "/", 200, &[json], "{}"),
                        route(
                            "OPTIONS",
                            "/",
                            204,
                            &[("access-control-allow-origin", "*")],
                            "",
                        ),
                    ],
                ),
                (
                    "cors reflected with credentials",
                    vec![
                        route("GET", "/", 200, &[json], "{}"),
                        route(
                            "OPTIONS",
                            "/",
                            200,
                            &[
                                ("access-control-allow-origin", CORS_ORIGIN),
                                ("access-control-allow-credentials", "true"),
                            ],
                            "",
                        ),
                    ],
                ),
                (
                    "cors on a refused preflight",
                    vec![
                        route("GET", "/", 200, &[json], "{}"),
                        route(
                            "OPTIONS",
                            "/",
                            405,
                            &[("access-control-allow-origin", "*")],
                            "",
                        ),
                    ],
                ),
                (
                    "cors preflight redirected",
                    vec![
                        route("GET", "/", 200, &[json], "{}"),
                        route("OPTIONS", "/", 307, &[("location", "/cors")], ""),
                        route(
                            "OPTIONS",
                            "/cors",
                            200,
                            &[("access-control-allow-origin", "https://a.example")],
                            "",
                        ),
                    ],
                ),
                (
                    "same-origin redirect with a cookie",
                    vec![
                        route(
                            "GET",
                            "/",
                            302,
                            &[("location", "/home"), ("set-cookie", "session=1; HttpOnly")],
                            "",
                        ),
                        route(
                            "GET",
                            "/home",
                            200,
                            &[html, ("content-security-policy", "default-src 'none'")],
                            "<p>home</p>",
                        ),
                        route(
                            "OPTIONS",
                            "/home",
                            200,
                            &[("access-control-allow-origin", "https://a.example")],
                            "",
                        ),
                    ],
                ),
                (
                    "redirect without a location",
                    vec![
                        route("GET", "/", 302, &[], ""),
                        route(
                            "GET",
                            "/undefined",
                            200,
                            &[json, ("x-content-type-options", "nosniff")],
                            "{}",
                        ),
                    ],
                ),
                (
                    "scripts",
                    root(
                        &[html],
                        "<script src=\"http://cdn.example.com/a.js\"></script><script src=\"https://cdn.example.com/b.js\" integrity=\"sha384-x\"></script><script src=\"//cdn.example.com/c.js\"></script><script src=\"/local.js\" integrity=\"sha256-x\"></script><script src=\"http://10.0.0.1/d.js\"></script>",
                    ),
                ),
                (
                    "https script without integrity",
                    root(
                        &[html],
                        "<script>var a = 1;</script><script src=\"https://cdn.example.com/b.js\"></script>",
                    ),
                ),
                (
                    "hidden tags",
                    root(
                        &[html],
                        "<!-- <script src=\"http://evil.example/x.js\"></script> --><template><meta http-equiv=content-security-policy content=\"default-src 'none'\"><script src=\"http://evil.example/y.js\"></script></template><textarea><script src=\"http://evil.example/z.js\"></script></textarea><noscript><meta http-equiv=content-security-policy content=\"default-src 'none'\"><script src=\"https://cdn.example.com/n.js\"></script></noscript>",
                    ),
                ),
                (
                    "not quite html",
                    root(
                        &[("content-type", "text/html ; charset=utf-8")],
                        "<meta http-equiv=content-security-policy content=\"default-src 'none'\"><script src=\"http://evil.example/x.js\"></script>",
                    ),
                ),
                (
                    "html that is a json string",
                    root(
                        &[html],
                        "\"<meta http-equiv=content-security-policy content=\\\"default-src 'none'\\\">\"",
                    ),
                ),
                (
                    "character references",
                    root(
                        &[html],
                        "<meta http-equiv=content-security-policy content=\"default-src &apos;none&apos;; frame-ancestors &#39;none&#39;\">",
                    ),
                ),
                (
                    "unauthorized",
                    vec![route(
                        "GET",
                        "/",
                        401,
                        &[json, ("x-frame-options", "DENY")],
                        "{}",
                    )],
                ),
                ("not found", vec![route("GET", "/", 404, &[json], "{}")]),
                (
                    "hsts over http and invalid values",
                    root(
                        &[
                            json,
                            ("strict-transport-security", "max-age=31536000"),
                            ("cross-origin-resource-policy", "whatever"),
                            ("x-content-type-options", "sniff"),
                            ("referrer-policy", ""),
                        ],
                        "{}",
                    ),
                ),
                (
                    "redirect loop",
                    (0..12)
                        .map(|i| {
                            let paths = [
                                "/", "/1", "/2", "/3", "/4", "/5", "/6", "/7", "/8", "/9", "/10",
                                "/11",
                            ];
                            let next = [
                                "/1", "/2", "/3", "/4", "/5", "/6", "/7", "/8", "/9", "/10", "/11",
                                "/12",
                            ];
                            route("GET", paths[i], 301, &[("location", next[i]), json], "{}")
                        })
                        .collect(),
                ),
            ]
        }

        #[tokio::test]
        async fn grades_agree_with_the_observatory_cli() {
            let Some(cli) = observatory_cli() else {
                eprintln!("RAMPART_OBSERVATORY is not set: the comparison with the CLI is skipped");
                return;
            };
            let mut differences = Vec::new();
            let mut refused = Vec::new();
            for (case, routes) in cases() {
                let server = Server::start(routes);
                let client = Client::new(
                    &format!("http://{}/", server.addr),
                    100,
                    1000.0,
                    Duration::from_secs(10),
                )
                .unwrap();
                let observed = observe(&client, "/").await.unwrap();
                let ours = grade(&observed);
                let our_refusal = refusal(&observed);
                let our_requests = server.take_log();
                let theirs = run_cli(&cli, &server.addr.to_string());
                let mut their_requests = server.take_log();
                their_requests.retain(|r| r != "GET /robots.txt");
                if our_requests != their_requests {
                    differences.push(format!(
                        "{case}: requests {our_requests:?}, the CLI's {their_requests:?}"
                    ));
                }
                eprintln!("{case}: {} {} {our_refusal:?}", ours.score, ours.grade);
                if let Some(error) = theirs.get("error") {
                    refused.push(case);
                    if our_refusal.as_deref() != error.as_str() {
                        differences.push(format!(
                            "{case}: refusal {our_refusal:?}, the CLI's {error}"
                        ));
                    }
                    continue;
                }
                if our_refusal.is_some() {
                    differences.push(format!("{case}: refusal {our_refusal:?}, the CLI grades"));
                }
                let scan = &theirs["scan"];
                if Some(i64::from(ours.score)) != scan["score"].as_i64()
                    || Some(ours.grade.as_str()) != scan["grade"].as_str()
                {
                    differences.push(format!(
                        "{case}: {} {}, the CLI's {} {}",
                        ours.score, ours.grade, scan["score"], scan["grade"]
                    ));
                }
                for test in &ours.tests {
                    let their = &theirs["tests"][&test.name];
                    if Some(test.result.as_str()) != their["result"].as_str()
                        || Some(i64::from(test.score_modifier)) != their["scoreModifier"].as_i64()
                        || Some(test.pass) != their["pass"].as_bool()
                    {
                        differences.push(format!(
                            "{case}: {} {} ({}, pass {}), the CLI's {} ({}, pass {})",
                            test.name,
                            test.result,
                            test.score_modifier,
                            test.pass,
                            their["result"],
                            their["scoreModifier"],
                            their["pass"]
                        ));
                    }
                }
            }
            assert!(differences.is_empty(), "{}", differences.join("\n"));
            // Guards against a comparison that compared nothing.
            assert_eq!(refused, ["not found"]);
        }
    }
}
