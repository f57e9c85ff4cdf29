//! Origins and the cross-origin allowlist. One decision, used by the CORS layer, by the
//! cookie endpoints' `Origin` check, and by the scanner's look-alike probes.
//!
//! Threat: an allowlist matched by prefix, suffix or substring lets
//! `https://allowed.example.evil.com` or `https://evilallowed.example` through, and a
//! reflected or `null` origin lets any page (or a sandboxed iframe) read credentialed
//! responses. Matching here is exact string equality against origins parsed at start-up.

use std::collections::HashSet;

/// A serialized web origin: `scheme://host[:port]`, lowercase, no path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

/// Why an origin was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// `*` is never an allowlist entry.
    #[error("'*' is not an origin; list each allowed origin exactly")]
    Wildcard,
    /// `null` is what sandboxed frames and file pages send; allowing it allows them all.
    #[error("'null' would allow every sandboxed or file:// page")]
    Null,
    /// Not of the form scheme://host[:port].
    #[error("{0:?} is not an origin of the form https://host[:port] (no path, no trailing slash)")]
    Malformed(String),
}

impl Origin {
    /// Parses an origin for the allowlist.
    pub fn parse(raw: &str) -> Result<Self, OriginError> {
        let malformed = || OriginError::Malformed(raw.to_owned());
        match raw.trim() {
            "*" => return Err(OriginError::Wildcard),
            s if s.eq_ignore_ascii_case("null") => return Err(OriginError::Null),
            _ => {}
        }
        let lower = raw.trim().to_ascii_lowercase();
        let (scheme, rest) = lower.split_once("://").ok_or_else(malformed)?;
        if scheme != "https" && scheme != "http" {
            return Err(malformed());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
                if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(malformed());
                }
                (host, Some(port))
            }
            _ => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && (host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                || (host.starts_with('[') && host.ends_with(']')));
        if !host_ok || host.starts_with('.') || host.ends_with('.') {
            return Err(malformed());
        }
        if let Some(port) = port {
            let n: u32 = port.parse().map_err(|_| malformed())?;
            if n == 0 || n > 65535 {
                return Err(malformed());
            }
        }
        Ok(Self(lower))
    }

    /// The serialized origin.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The exact-match allowlist of origins that may make credentialed cross-origin requests.
/// Empty means no cross-origin access at all.
#[derive(Debug, Clone, Default)]
pub struct OriginAllowlist(HashSet<String>);

impl OriginAllowlist {
    /// Builds the allowlist from parsed origins.
    pub fn new(origins: impl IntoIterator<Item = Origin>) -> Self {
        Self(origins.into_iter().map(|o| o.0).collect())
    }

    /// Whether a request's `Origin` header value is allowed: byte-for-byte equal to an entry.
    pub fn allows(&self, request_origin: &[u8]) -> bool {
        std::str::from_utf8(request_origin).is_ok_and(|s| self.0.contains(s))
    }

    /// The entries, sorted (for logs and `config check`).
    pub fn entries(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.0.iter().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether a request's `Origin` is the server's own: its `host[:port]` equals the request's
/// `Host` header (scheme aside: TLS usually ends at a proxy). Browsers set both headers
/// themselves, so a cross-site page cannot make them agree.
pub fn is_same_origin(request_origin: &[u8], host: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(request_origin) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    (scheme == "https" || scheme == "http")
        && !authority.is_empty()
        && authority.as_bytes().eq_ignore_ascii_case(host)
}

/// Look-alikes of an allowed origin that a careless matcher would accept. The server's tests
/// and the scanner's CORS check both probe with these.
pub fn look_alikes(allowed: &Origin) -> Vec<String> {
    let s = allowed.as_str();
    let Some((scheme, host)) = s.split_once("://") else {
        return Vec::new();
    };
    let bare = host.split(':').next().unwrap_or(host);
    let other_scheme = if scheme == "https" { "http" } else { "https" };
    vec![
        format!("{s}.evil.com"),
        format!("{scheme}://evil{host}"),
        format!("{scheme}://evil-{host}"),
        format!("{scheme}://{host}evil.com"),
        format!("{scheme}://evil.com.{host}"),
        format!("{scheme}://sub.{host}"),
        format!("{other_scheme}://{host}"),
        format!("{s}/"),
        format!("{s}%60.evil.com"),
        format!("{scheme}://{bare}_.evil.com"),
        format!("{scheme}://{}", host.replacen('.', "x", 1)),
        s.to_ascii_uppercase(),
        format!("{s} "),
        "null".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        assert_eq!(
            Origin::parse("https://App.Example").unwrap().as_str(),
            "https://app.example"
        );
        assert!(Origin::parse("http://localhost:3000").is_ok());
        assert_eq!(Origin::parse("*"), Err(OriginError::Wildcard));
        assert_eq!(Origin::parse("null"), Err(OriginError::Null));
        for bad in [
            "https://app.example/",
            "https://app.example/path",
            "app.example",
            "ftp://app.example",
            "https://",
            "https://user@app.example",
            "https://app.example:99999",
            "https://app.example:",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn allowlist_is_exact() {
        let allowed = Origin::parse("https://allowed.example").unwrap();
        let list = OriginAllowlist::new([allowed.clone()]);
        assert!(list.allows(b"https://allowed.example"));
        for probe in look_alikes(&allowed) {
            assert!(!list.allows(probe.as_bytes()), "{probe}");
        }
        assert!(!list.allows(b"https://evilallowed.example"));
        assert!(!list.allows(b"https://allowed.example.evil.com"));
        assert!(!OriginAllowlist::default().allows(b"https://allowed.example"));
    }

    #[test]
    fn same_origin() {
        assert!(is_same_origin(b"https://api.example", b"api.example"));
        assert!(is_same_origin(b"http://127.0.0.1:8080", b"127.0.0.1:8080"));
        assert!(!is_same_origin(b"https://evil.example", b"api.example"));
        assert!(!is_same_origin(b"null", b"api.example"));
        assert!(!is_same_origin(
            b"https://api.example.evil.com",
            b"api.example"
        ));
        assert!(!is_same_origin(b"https://api.example:8443", b"api.example"));
    }
}
