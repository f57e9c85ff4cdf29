//! The one redaction function for logs and audit metadata.
//!
//! Secrets reach logs by accident: a handler logs a request struct whose `Debug` shows the
//! password, a library logs the `Authorization` header, an error message quotes a URL that carries
//! `?access_token=...`. Rather than trusting every call site, Rampart masks secrets at the last
//! moment, where the text is written:
//!
//! - [`redact_value`] walks a JSON value. The value of any key that [`is_sensitive_key`] flags
//!   (`password`, `refresh_token`, `X-Api-Key`, `Set-Cookie`, ...) becomes `"[REDACTED]"`,
//!   whatever its type; every other string goes through [`redact_text`].
//! - [`redact_text`] masks secrets inside free text: `Bearer <credential>`, JWT-shaped strings,
//!   `key=value` / `key: value` / `"key":"value"` pairs whose key is sensitive, and the password in
//!   a URL's `user:password@` part.
//!
//! **Why one function for both.** Audit metadata and log lines are two views of the same events,
//! often built from the same request data. If each had its own list of sensitive names, the lists
//! would drift and a secret masked in one would leak through the other. The server's logging
//! writer runs every JSON log line through [`redact_value`] (and every text line through
//! [`redact_text`]); the audit trail runs its metadata through [`redact_value`] before hashing it
//! into the chain. A rule added here protects both.
//!
//! **Bias.** When in doubt this module redacts: a masked `refresh_interval` costs a little
//! debugging comfort, a leaked refresh token costs an account. See [`is_sensitive_key`] for the
//! exact key rules and the false positives they knowingly accept.
//!
//! **Cost.** Most log lines contain nothing to redact. [`redact_text`] then runs three
//! precompiled regex scans and returns the input borrowed, without allocating.
//!
//! ```
//! use rampart_core::redact::{redact_text, redact_value};
//!
//! assert_eq!(redact_text("password=hunter2 user=bob"), "password=[REDACTED] user=bob");
//!
//! let mut meta = serde_json::json!({ "user": "bob", "credentials": { "password": "hunter2" } });
//! redact_value(&mut meta);
//! assert_eq!(meta, serde_json::json!({ "user": "bob", "credentials": "[REDACTED]" }));
//! ```

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Needles searched in the key's *compact* form: lowercase, with everything but letters and
/// digits removed, so that `api_key`, `X-Api-Key` and `apiKey` all contain `apikey`. A needle
/// here matches anywhere, so `newPassword` and `client_secret` match too.
const SENSITIVE_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "authorization",
    "cookie",
    "apikey",
    "creditcard",
    "cardnumber",
    "cvv",
    "cvc",
    "socialsecurity",
    "refresh",
    "credential",
    "privatekey",
    "signingkey",
    "encryptionkey",
    "jwt",
    "bearer",
];

/// Short needles that would match inside unrelated words (`classname`, `spinner`, `footprint`),
/// so they count only as a whole word of the key: `ssn`, `user_ssn`, `userSSN`, `db_pass`.
const SENSITIVE_WORDS: &[&str] = &["ssn", "pwd", "pass", "pin", "otp", "totp", "hotp"];

/// Needles that count only as the key's *last* word: `auth`, `basicAuth` and `proxy-auth` hold
/// credentials, while `auth_method` or `auth.lockout` name something about authentication.
const SENSITIVE_LAST_WORDS: &[&str] = &["auth"];

/// Whether values stored under `key` must never be logged.
///
/// Case-insensitive. The key is sensitive when:
///
/// - with separators removed (`refresh_token` → `refreshtoken`), it contains any of `password`,
///   `passwd`, `passphrase`, `passcode`, `secret`, `token`, `authorization`, `cookie`, `apikey`,
///   `creditcard`, `cardnumber`, `cvv`, `cvc`, `socialsecurity`, `refresh`, `credential`,
///   `privatekey`, `signingkey`, `encryptionkey`, `jwt` or `bearer`; or
/// - one of its words (split at `_`, `-`, `.`, spaces and camelCase humps) is exactly `ssn`,
///   `pwd`, `pass`, `pin`, `otp`, `totp` or `hotp`; or
/// - its last word is `auth`.
///
/// Known, accepted false positives (redacted though harmless): `token_type`, `tokenizer`,
/// `refresh_interval`, `refreshed_at`, `secretary`, `cookie_policy`, `pass_count`. Known false
/// negatives: identifiers such as `session_id`, `kid` or `key` alone (Rampart's session ids are not
/// credentials, and a bare `key` is usually a rate-limit or cache key), and OAuth's bare `code`.
///
/// ```
/// use rampart_core::redact::is_sensitive_key;
///
/// assert!(is_sensitive_key("X-Api-Key"));
/// assert!(is_sensitive_key("user_ssn"));
/// assert!(!is_sensitive_key("classname"));
/// ```
pub fn is_sensitive_key(key: &str) -> bool {
    let compact: String = key
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if SENSITIVE_FRAGMENTS.iter().any(|f| compact.contains(f)) {
        return true;
    }
    let words = words(key);
    let is = |w: &str, list: &[&str]| list.iter().any(|n| w.eq_ignore_ascii_case(n));
    words.iter().any(|w| is(w, SENSITIVE_WORDS))
        || words.last().is_some_and(|w| is(w, SENSITIVE_LAST_WORDS))
}

/// Splits a key into words at non-alphanumeric characters and camelCase humps: `userSSNValue`
/// gives `user`, `SSN`, `Value`; `X-Api-Key` gives `X`, `Api`, `Key`.
fn words(key: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for part in key.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<(usize, char)> = part.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (at, c) = chars[i];
            let prev = chars[i - 1].1;
            let next_is_lower = chars.get(i + 1).is_some_and(|&(_, n)| n.is_lowercase());
            // A hump starts at `aB` (lower to upper) and at the last capital of an acronym
            // followed by a lowercase letter (`SSNValue` splits before `V`).
            let hump = c.is_uppercase()
                && (prev.is_lowercase()
                    || prev.is_numeric()
                    || (prev.is_uppercase() && next_is_lower));
            if hump {
                words.push(&part[start..at]);
                start = at;
            }
        }
        if start < part.len() {
            words.push(&part[start..]);
        }
    }
    words
}

/// Masks secrets in a JSON value, in place.
///
/// Objects and arrays are walked recursively. The value under a sensitive key (see
/// [`is_sensitive_key`]) becomes the string `"[REDACTED]"`, whatever it was: a string, a number,
/// `null` or a whole nested object. Every other string, object keys included, goes through
/// [`redact_text`]. If two keys redact to the same text, the later one in the map's order wins.
pub fn redact_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(redacted) = owned(redact_text(s)) {
                *s = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if is_sensitive_key(key) {
                    *item = Value::String(REDACTED.to_owned());
                } else {
                    redact_value(item);
                }
            }
            // A map keyed by tokens (`{"eyJ...": {...}}`) would leak through its keys.
            let leaky: Vec<String> = map
                .keys()
                .filter(|k| matches!(redact_text(k), Cow::Owned(_)))
                .cloned()
                .collect();
            for key in leaky {
                if let Some(item) = map.remove(&key) {
                    map.insert(redact_text(&key).into_owned(), item);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn owned(text: Cow<'_, str>) -> Option<String> {
    match text {
        Cow::Borrowed(_) => None,
        Cow::Owned(s) => Some(s),
    }
}

/// Masks secrets inside free text; returns `text` borrowed when there is nothing to mask.
///
/// - `Bearer <credential>`, in any case, becomes `Bearer [REDACTED]`.
/// - A JWT-shaped string (base64url segments joined by dots, the first starting with `eyJ`)
///   becomes `[REDACTED]`, wherever it sits: in a sentence, a URL, a query string.
/// - In `key=value`, `key: value`, `"key":"value"` and `key => value` pairs whose key is
///   sensitive, the value becomes `[REDACTED]`. Quotes are kept, so JSON stays JSON, and so is
///   an HTTP authentication scheme (`Authorization: Basic [REDACTED]`). An unquoted value ends at
///   whitespace, `,`, `;` or `&` and nowhere else (`{"pin":1234}` loses its closing brace rather
///   than risk leaking the tail of a secret); after a cookie key it runs to the end of the line,
///   because a cookie header carries several `name=value` pairs.
/// - The password of a URL's userinfo becomes `[REDACTED]`: `postgres://app:[REDACTED]@db/app`.
///
/// A key preceded by `::` is a Rust path segment (the `rampart_core::token:` target printed
/// before a text log message), not a key, and is left alone.
///
/// Redacting twice gives the same text as redacting once.
///
/// ```
/// use std::borrow::Cow;
/// use rampart_core::redact::redact_text;
///
/// assert_eq!(redact_text("header was Bearer abc.def.ghi"), "header was Bearer [REDACTED]");
/// assert!(matches!(redact_text("user bob logged in"), Cow::Borrowed(_)));
/// ```
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let mut current: Option<String> = None;
    for pass in [mask_pairs, mask_tokens, mask_url_passwords] {
        if let Some(changed) = pass(current.as_deref().unwrap_or(text)) {
            current = Some(changed);
        }
    }
    current.map_or(Cow::Borrowed(text), Cow::Owned)
}

/// Copies a text into a new string only once a first span of it has to change.
struct Splicer<'a> {
    text: &'a str,
    out: Option<String>,
    copied: usize,
}

impl<'a> Splicer<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            out: None,
            copied: 0,
        }
    }

    /// Replaces `text[start..end]` with [`REDACTED`]; spans must come in order, without overlap.
    fn redact(&mut self, start: usize, end: usize) {
        if &self.text[start..end] == REDACTED {
            return;
        }
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.text.len() + REDACTED.len()));
        out.push_str(&self.text[self.copied..start]);
        out.push_str(REDACTED);
        self.copied = end;
    }

    fn finish(self) -> Option<String> {
        let mut out = self.out?;
        out.push_str(&self.text[self.copied..]);
        Some(out)
    }
}

/// ANSI styling, as `tracing-subscriber` puts around field names when colours are on.
const ANSI: &str = r"(?:\x1b\[[0-9;]*m)";

/// `key<sep>value` pairs whose key *might* be sensitive. The key part only admits keys that
/// contain one of the needles of [`is_sensitive_key`] (fragments may be split by `_`, `.` or
/// `-`, as `api_key` is), so ordinary lines do not match at all and stay on the fast path;
/// [`is_sensitive_key`] then has the final word on each candidate.
static PAIR: LazyLock<Regex> = LazyLock::new(|| {
    let sep = r"[_.\-]*";
    let mut needles: Vec<String> = SENSITIVE_FRAGMENTS
        .iter()
        .map(|f| {
            let chars: Vec<String> = f.chars().map(|c| c.to_string()).collect();
            chars.join(sep)
        })
        .collect();
    needles.extend(SENSITIVE_WORDS.iter().map(|w| (*w).to_owned()));
    needles.extend(SENSITIVE_LAST_WORDS.iter().map(|w| (*w).to_owned()));
    let key_char = r"[A-Za-z0-9_.\-]";
    let pattern = format!(
        r#"{ANSI}?(?P<key>{key_char}*(?i:{needles}){key_char}*)(?:\\?")?{ANSI}*[ \t]*(?:=>|:=|[:=])[ \t]*{ANSI}*(?:"(?P<dq>(?:[^"\\\n]|\\.)*)"|\\"(?P<eq>(?:[^"\\\n]|\\[^"\n])*)\\"|'(?P<sq>[^'\n]*)'|(?i:bearer|basic|digest|token|negotiate|ntlm)[ \t]+(?P<cred>[^\s,;&]+)|(?P<bare>[^\s,;&]+))"#,
        needles = needles.join("|"),
    );
    Regex::new(&pattern).expect("the key/value redaction pattern is valid")
});

fn mask_pairs(text: &str) -> Option<String> {
    let mut splice = Splicer::new(text);
    let mut at = 0;
    while let Some(caps) = PAIR.captures_at(text, at) {
        let (Some(whole), Some(key)) = (caps.get(0), caps.name("key")) else {
            break;
        };
        if text[..key.start()].ends_with("::") || !is_sensitive_key(key.as_str()) {
            // Not a secret's key; its value may still hold a pair of its own.
            at = key.end();
            continue;
        }
        let quoted = ["dq", "eq", "sq"].iter().find_map(|g| caps.name(g));
        let Some(value) = quoted
            .or_else(|| caps.name("cred"))
            .or_else(|| caps.name("bare"))
        else {
            at = whole.end();
            continue;
        };
        let mut end = value.end();
        if quoted.is_none() && key.as_str().to_ascii_lowercase().contains("cookie") {
            end = text[end..]
                .find(['\n', '\r'])
                .map_or(text.len(), |i| end + i);
        }
        splice.redact(value.start(), end);
        at = end.max(whole.end());
    }
    splice.finish()
}

/// Bearer credentials and JWT-shaped strings. `eyJ` is `{"` in base64, which is how every JWT
/// header starts; the segments after it allow the five-part JWE form and an empty signature.
/// The word boundary is ASCII-only: a Unicode one would send non-ASCII lines to a slower engine.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i:(?-u:\b)bearer\s+)(?P<cred>[A-Za-z0-9\-._~+/]+=*)|(?P<jwt>eyJ[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*){2}(?:\.[A-Za-z0-9_\-]+)*)",
    )
    .expect("the token redaction pattern is valid")
});

fn mask_tokens(text: &str) -> Option<String> {
    let mut splice = Splicer::new(text);
    for caps in TOKEN.captures_iter(text) {
        if let Some(secret) = caps.name("cred").or_else(|| caps.name("jwt")) {
            splice.redact(secret.start(), secret.end());
        }
    }
    splice.finish()
}

/// The password in `scheme://user:password@host`.
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:]*:(?P<password>[^\s/?#@]+)@")
        .expect("the URL password pattern is valid")
});

fn mask_url_passwords(text: &str) -> Option<String> {
    let mut splice = Splicer::new(text);
    for caps in URL_PASSWORD.captures_iter(text) {
        if let Some(password) = caps.name("password") {
            splice.redact(password.start(), password.end());
        }
    }
    splice.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

    #[test]
    fn sensitive_keys() {
        let sensitive = [
            "password",
            "PASSWORD",
            "Password",
            "newPassword",
            "new_password",
            "password_confirmation",
            "passwd",
            "passcode",
            "passphrase",
            "db_pass",
            "DB_PASS",
            "pwd",
            "token",
            "refresh_token",
            "refreshToken",
            "accessToken",
            "access_token",
            "id_token",
            "X-Auth-Token",
            "csrf-token",
            "secret",
            "client_secret",
            "clientSecret",
            "JWT_SECRET",
            "authorization",
            "Authorization",
            "Proxy-Authorization",
            "auth",
            "basicAuth",
            "proxy-auth",
            "cookie",
            "Cookie",
            "Set-Cookie",
            "set_cookie",
            "api_key",
            "apikey",
            "apiKey",
            "X-Api-Key",
            "x-api-key",
            "credit_card",
            "creditCardNumber",
            "card_number",
            "cardNumber",
            "cvv",
            "cvv2",
            "ssn",
            "SSN",
            "user_ssn",
            "userSSN",
            "SSNValue",
            "ssn.last4",
            "social_security_number",
            "refresh",
            "credentials",
            "private_key",
            "privateKey",
            "signing_key",
            "jwt",
            "pin",
            "otp",
            "otp_code",
            "totp",
            "bearer",
        ];
        for key in sensitive {
            assert!(is_sensitive_key(key), "{key:?} should be sensitive");
        }
    }

    #[test]
    fn ordinary_keys() {
        let ordinary = [
            "",
            "user",
            "user_id",
            "email",
            "message",
            "level",
            "target",
            "timestamp",
            "classname",
            "className",
            "lessons",
            "assessment",
            "session_id",
            "sessionId",
            "kid",
            "key",
            "idempotency_key",
            "public_key",
            "auth_method",
            "auth.lockout",
            "author",
            "authentication",
            "passenger",
            "compass",
            "spinner",
            "pinned",
            "footprint",
            "hotpath",
            "api_version",
            "keyboard",
            "route",
            "ip",
            "пароль",
        ];
        for key in ordinary {
            assert!(!is_sensitive_key(key), "{key:?} should not be sensitive");
        }
    }

    #[test]
    fn words_split_at_separators_and_humps() {
        let cases: [(&str, &[&str]); 6] = [
            ("user_ssn", &["user", "ssn"]),
            ("userSSN", &["user", "SSN"]),
            ("SSNValue", &["SSN", "Value"]),
            ("X-Api-Key", &["X", "Api", "Key"]),
            ("creditCardNumber", &["credit", "Card", "Number"]),
            ("v2Pin", &["v2", "Pin"]),
        ];
        for (key, expected) in cases {
            assert_eq!(words(key), expected, "{key:?}");
        }
    }

    /// Checks that `input` redacts to `expected`, that the result is borrowed exactly when
    /// nothing changed, and that redacting again changes nothing.
    #[track_caller]
    fn check(input: &str, expected: &str) {
        let got = redact_text(input);
        assert_eq!(got, expected, "redacting {input:?}");
        assert_eq!(
            matches!(got, Cow::Borrowed(_)),
            input == expected,
            "borrowed exactly when unchanged: {input:?}"
        );
        assert_eq!(redact_text(&got), got, "redaction is idempotent: {input:?}");
    }

    #[test]
    fn ordinary_text_is_borrowed_and_unchanged() {
        let cases = [
            "",
            "user bob logged in",
            "rate limited",
            "login succeeded user_id=0190a5c4-1b2c-7d3e-8f40-123456789abc ip=203.0.113.7",
            "2025-01-01T12:00:00.000Z  INFO rampart_server::app: rampart listening on http://127.0.0.1:8080",
            "rampart_server::routes::auth: login failed",
            "INFO rampart_core::token: issued kid=k1",
            "auth.lockout: too many failed logins; account locked",
            "refresh token reuse detected: session revoked",
            "key=ip:203.0.113.7 route=/api/login",
            "classname=Widget",
            "api_version=2 keyboard=us",
            "see https://example.com/docs?page=2#auth",
            "postgres://db.internal:5432/app",
            "héllo wörld: ünïcödé ✓ 日本語のテキスト",
            "eyJ alone is not a token; neither is eyJabc.def",
            "[REDACTED] already",
            "password=[REDACTED] user=bob",
        ];
        for text in cases {
            check(text, text);
        }
    }

    #[test]
    fn bearer_credentials() {
        let cases = [
            (
                "header was Bearer abc.def.ghi",
                "header was Bearer [REDACTED]",
            ),
            ("bearer abc123", "bearer [REDACTED]"),
            ("BEARER abc123", "BEARER [REDACTED]"),
            ("BeArEr   abc123==", "BeArEr   [REDACTED]"),
            ("(Bearer a+b/c=) sent", "(Bearer [REDACTED]) sent"),
            (&format!("Bearer {JWT}"), "Bearer [REDACTED]"),
            (
                "got Bearer one and bearer two",
                "got Bearer [REDACTED] and bearer [REDACTED]",
            ),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn jwts_anywhere() {
        let cases = [
            (JWT.to_owned(), "[REDACTED]".to_owned()),
            (
                format!("the client sent {JWT}, which expired."),
                "the client sent [REDACTED], which expired.".to_owned(),
            ),
            (
                format!("GET https://app.example/cb?state=x&jwt={JWT}&next=/"),
                "GET https://app.example/cb?state=x&jwt=[REDACTED]&next=/".to_owned(),
            ),
            (
                format!("GET https://app.example/cb#{JWT}"),
                "GET https://app.example/cb#[REDACTED]".to_owned(),
            ),
            (
                format!("two: {JWT} and {JWT}"),
                "two: [REDACTED] and [REDACTED]".to_owned(),
            ),
            // An unsigned JWT (empty third segment) and a five-part JWE with an empty key.
            (
                "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. end".to_owned(),
                "[REDACTED] end".to_owned(),
            ),
            (
                "eyJhbGciOiJkaXIifQ..aXY.Y3Q.dGFn".to_owned(),
                "[REDACTED]".to_owned(),
            ),
            // Glued to other text, it is still masked.
            (format!("x{JWT}"), "x[REDACTED]".to_owned()),
            (
                format!("jeton «{JWT}» refusé"),
                "jeton «[REDACTED]» refusé".to_owned(),
            ),
        ];
        for (input, expected) in cases {
            check(&input, &expected);
        }
    }

    #[test]
    fn sensitive_pairs() {
        let cases = [
            ("password=hunter2 user=bob", "password=[REDACTED] user=bob"),
            ("PASSWORD=hunter2", "PASSWORD=[REDACTED]"),
            ("user=bob password=hunter2", "user=bob password=[REDACTED]"),
            ("password: hunter2", "password: [REDACTED]"),
            ("password = hunter2", "password = [REDACTED]"),
            (
                r#"password="hunter 2" user=bob"#,
                r#"password="[REDACTED]" user=bob"#,
            ),
            (
                r#"password="a\"b c" user=bob"#,
                r#"password="[REDACTED]" user=bob"#,
            ),
            ("password='hunter 2'", "password='[REDACTED]'"),
            (r#"password=>"hunter2""#, r#"password=>"[REDACTED]""#),
            (
                r#"{"user":"bob","password":"hunter2","age":3}"#,
                r#"{"user":"bob","password":"[REDACTED]","age":3}"#,
            ),
            (
                r#"{"pin": 1234, "user": "bob"}"#,
                r#"{"pin": [REDACTED], "user": "bob"}"#,
            ),
            // Unquoted values end only at whitespace, `,`, `;` or `&`: a brace is lost rather
            // than the tail of a secret that contains one.
            (r#"{"pin":1234}"#, r#"{"pin":[REDACTED]"#),
            ("password=ab}cd]ef user=bob", "password=[REDACTED] user=bob"),
            (
                r#"{\"user\":\"bob\",\"password\":\"hunter2\"}"#,
                r#"{\"user\":\"bob\",\"password\":\"[REDACTED]\"}"#,
            ),
            (
                r#"LoginRequest { email: "bob@example.com", password: "hunter2" }"#,
                r#"LoginRequest { email: "bob@example.com", password: "[REDACTED]" }"#,
            ),
            (
                "refresh_token=abc&client_id=app",
                "refresh_token=[REDACTED]&client_id=app",
            ),
            (
                "/cb?access_token=abc123&state=xyz",
                "/cb?access_token=[REDACTED]&state=xyz",
            ),
            ("X-Api-Key: k-123", "X-Api-Key: [REDACTED]"),
            (
                "accessToken=abc, user=bob",
                "accessToken=[REDACTED], user=bob",
            ),
            ("client_secret=s3cr3t;next", "client_secret=[REDACTED];next"),
            ("user_ssn=123-45-6789", "user_ssn=[REDACTED]"),
            (
                "creditCardNumber=4111111111111111",
                "creditCardNumber=[REDACTED]",
            ),
            (
                "Authorization: Basic dXNlcjpwYXNz",
                "Authorization: Basic [REDACTED]",
            ),
            (
                "authorization: bearer abc",
                "authorization: bearer [REDACTED]",
            ),
            ("token=Bearer abc", "token=Bearer [REDACTED]"),
            ("Cookie: theme=dark; sid=abc123", "Cookie: [REDACTED]"),
            (
                "Set-Cookie: sid=abc; Path=/; HttpOnly\nnext line",
                "Set-Cookie: [REDACTED]\nnext line",
            ),
            (
                r#"cookie="sid=abc; x=1" user=bob"#,
                r#"cookie="[REDACTED]" user=bob"#,
            ),
            (
                "password=a token=b secret=c user=bob",
                "password=[REDACTED] token=[REDACTED] secret=[REDACTED] user=bob",
            ),
            // A non-sensitive key's value is still searched for pairs and tokens.
            (
                "auth_method: password=x",
                "auth_method: password=[REDACTED]",
            ),
            ("auth_method: Bearer abc", "auth_method: Bearer [REDACTED]"),
            ("mot de passe: pwd=été€", "mot de passe: pwd=[REDACTED]"),
            ("密码 password=秘密 ok", "密码 password=[REDACTED] ok"),
            // ANSI-styled fields, as tracing-subscriber prints them with colours on.
            (
                "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0m\"hunter2\" \x1b[3mpin\x1b[0m\x1b[2m=\x1b[0m1234",
                "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0m\"[REDACTED]\" \x1b[3mpin\x1b[0m\x1b[2m=\x1b[0m[REDACTED]",
            ),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn url_passwords() {
        let cases = [
            (
                "connecting to postgres://app:s3cr3t@db.internal:5432/app",
                "connecting to postgres://app:[REDACTED]@db.internal:5432/app",
            ),
            (
                "redis://:hunter2@cache:6379",
                "redis://:[REDACTED]@cache:6379",
            ),
            ("https://bob@example.com/", "https://bob@example.com/"),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn everything_in_one_line() {
        check(
            &format!(
                "login password=hunter2 from https://u:p@h/ with Bearer {JWT} and {JWT}; user=bob"
            ),
            "login password=[REDACTED] from https://u:[REDACTED]@h/ with Bearer [REDACTED] and [REDACTED]; user=bob",
        );
    }

    #[test]
    fn values_under_sensitive_keys_are_replaced_whatever_their_type() {
        let mut value = json!({
            "user": "bob",
            "password": "hunter2",
            "pin": 1234,
            "otp": null,
            "refresh": true,
            "credentials": { "user": "bob", "secret": "s" },
            "tokens": ["a", "b"],
        });
        redact_value(&mut value);
        assert_eq!(
            value,
            json!({
                "user": "bob",
                "password": REDACTED,
                "pin": REDACTED,
                "otp": REDACTED,
                "refresh": REDACTED,
                "credentials": REDACTED,
                "tokens": REDACTED,
            })
        );
    }

    #[test]
    fn nested_objects_and_arrays_are_walked() {
        let mut value = json!({
            "request": {
                "headers": [
                    { "name": "Authorization", "value": "Bearer abc" },
                    { "Set-Cookie": "sid=abc" },
                ],
                "body": { "form": { "newPassword": "x", "email": "bob@example.com" } },
            },
            "note": format!("client sent {JWT}"),
            "raw": r#"{"password":"hunter2"}"#,
            "count": 3,
            "ratio": 0.5,
            "ok": true,
            "nothing": null,
            "deep": [[["token=abc"]]],
        });
        redact_value(&mut value);
        assert_eq!(
            value,
            json!({
                "request": {
                    "headers": [
                        { "name": "Authorization", "value": "Bearer [REDACTED]" },
                        { "Set-Cookie": REDACTED },
                    ],
                    "body": { "form": { "newPassword": REDACTED, "email": "bob@example.com" } },
                },
                "note": "client sent [REDACTED]",
                "raw": r#"{"password":"[REDACTED]"}"#,
                "count": 3,
                "ratio": 0.5,
                "ok": true,
                "nothing": null,
                "deep": [[["token=[REDACTED]"]]],
            })
        );
    }

    #[test]
    fn keys_that_are_secrets_are_masked() {
        let mut value = json!({ JWT: { "user": "bob" }, "plain": 1 });
        redact_value(&mut value);
        assert_eq!(value, json!({ REDACTED: { "user": "bob" }, "plain": 1 }));
    }

    #[test]
    fn ordinary_values_are_untouched() {
        let original = json!({
            "user": "bob",
            "message": "login succeeded",
            "nested": [{ "a": 1, "b": "héllo" }, null, 2.5],
        });
        let mut value = original.clone();
        redact_value(&mut value);
        assert_eq!(value, original);
    }

    #[test]
    fn redacting_a_value_twice_changes_nothing_more() {
        let mut value = json!({ "password": "x", "note": "Bearer y", "list": [JWT] });
        redact_value(&mut value);
        let once = value.clone();
        redact_value(&mut value);
        assert_eq!(value, once);
    }
}
