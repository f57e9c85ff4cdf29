//! Parsed domain values: once a value has one of these types it has passed every rule
//! that applies to it, so functions take these types and never re-check raw strings.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use unicode_general_category::{GeneralCategory, get_general_category};
use uuid::Uuid;

use crate::common_passwords::is_common_password;

/// Why a value was refused. The text is safe to show to the client that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// An email address: trimmed, lowercased, at most 254 characters, syntactically valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// The longest address accepted (RFC 5321 path limit less the angle brackets).
    pub const MAX_LEN: usize = 254;

    /// Parses client input.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if email.chars().count() > Self::MAX_LEN {
            return Err(Invalid("must be at most 254 characters"));
        }
        // The crate accepts display names and comments ("A <a@b>"); an account email is the
        // bare address only, so anything but printable ASCII and '@'-structure is refused first.
        if !email.is_ascii() || email.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(Invalid("must be a valid email address"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(Invalid("must be a valid email address"));
        };
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(Invalid("must be a valid email address"));
        }
        if !email_address::EmailAddress::is_valid(&email) {
            return Err(Invalid("must be a valid email address"));
        }
        Ok(Self(email))
    }

    /// The address as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the '@'.
    pub fn local_part(&self) -> &str {
        self.0
            .rsplit_once('@')
            .map(|(local, _)| local)
            .unwrap_or(&self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password a user may choose: 12..=128 characters, not a common or breached password,
/// not containing the email's local part. Wrapped so that it cannot be printed.
pub struct NewPassword(SecretString);

impl NewPassword {
    /// Fewest characters accepted.
    pub const MIN_CHARS: usize = 12;
    /// Most characters accepted; the cap also bounds the hashing work one request can ask for.
    pub const MAX_CHARS: usize = 128;

    /// Parses a password chosen by the owner of `email`.
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, Invalid> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(Invalid("must be at least 12 characters"));
        }
        if chars > Self::MAX_CHARS {
            return Err(Invalid("must be at most 128 characters"));
        }
        if is_common_password(raw) {
            return Err(Invalid("is too common; choose another"));
        }
        if let Some(email) = email {
            let local = email.local_part();
            if local.chars().count() >= 3 && raw.to_lowercase().contains(local) {
                return Err(Invalid("must not contain your email address"));
            }
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// The secret, for hashing only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([REDACTED])")
    }
}

/// A password presented at login. Only its length is bounded (hashing cost); any other
/// rule would tell an attacker which passwords cannot exist.
pub struct LoginPassword(SecretString);

impl LoginPassword {
    /// Parses a presented password.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid("must not be empty"));
        }
        if raw.chars().count() > NewPassword::MAX_CHARS {
            return Err(Invalid("must be at most 128 characters"));
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// The secret, for verification only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for LoginPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoginPassword([REDACTED])")
    }
}

/// A person's display name: 1..=100 characters of letters, combining marks, spaces,
/// apostrophes and hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses client input (surrounding whitespace is trimmed).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 {
            return Err(Invalid("must not be empty"));
        }
        if chars > 100 {
            return Err(Invalid("must be at most 100 characters"));
        }
        let allowed = |c: char| {
            c.is_alphabetic()
                || c == ' '
                || c == '\''
                || c == '\u{2019}'
                || c == '-'
                || matches!(
                    get_general_category(c),
                    GeneralCategory::NonspacingMark
                        | GeneralCategory::SpacingMark
                        | GeneralCategory::EnclosingMark
                )
        };
        if !name.chars().all(allowed) {
            return Err(Invalid(
                "may contain only letters, spaces, apostrophes and hyphens",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's role. Closed set: authorization decisions match on it exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary account.
    User,
    /// May use the admin routes.
    Admin,
}

impl Role {
    /// Parses a stored or requested role name.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(Invalid("must be one of: user, admin")),
        }
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random, time-ordered id (UUIDv7: 74 random bits, never sequential).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses an id from a path, body or the store. Only the canonical hyphenated
            /// lowercase form is accepted, so one id has exactly one spelling.
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                let id = Uuid::try_parse(raw).map_err(|_| Invalid("must be a valid id"))?;
                if id.hyphenated().to_string() != raw {
                    return Err(Invalid("must be a valid id"));
                }
                Ok(Self(id))
            }

            /// The canonical text form.
            pub fn to_text(self) -> String {
                self.0.hyphenated().to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A session's id; also the `sid` claim of every access token of that session.
    SessionId
);
id_type!(
    /// A collection record's id.
    RecordId
);

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, in unix seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix milliseconds as RFC 3339 in UTC (`2026-12-02T07:12:00.005Z`).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A page size: 1..=100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The largest page a client may ask for.
    pub const MAX: u32 = 100;

    /// Parses a `limit` query parameter.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        // Digits only: `+5`, ` 5` and `05e0` are not how a client writes a page size.
        if raw.is_empty() || raw.len() > 3 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid("must be an integer from 1 to 100"));
        }
        let n: u32 = raw
            .parse()
            .map_err(|_| Invalid("must be an integer from 1 to 100"))?;
        if !(1..=Self::MAX).contains(&n) {
            return Err(Invalid("must be an integer from 1 to 100"));
        }
        Ok(Self(n))
    }

    /// The page size.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn email_rejects_malformed_and_oversized() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@localhost",
            "Alice <alice@example.com>",
            "alice@exa_mple.com",
            "alice@-example.com",
            "ålice@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn password_rules() {
        let email = Email::parse("jonathan@example.com").unwrap();
        assert!(NewPassword::parse("short", None).is_err());
        assert!(NewPassword::parse(&"x".repeat(129), None).is_err());
        assert!(NewPassword::parse("correct horse battery staple", None).is_ok());
        assert!(NewPassword::parse("JONATHAN-rules-2026", Some(&email)).is_err());
        let common = crate::common_passwords::common_passwords()
            .find(|p| p.chars().count() >= 12)
            .expect("the bundled list holds long passwords too");
        assert!(NewPassword::parse(common, None).is_err());
        assert!(NewPassword::parse(&common.to_uppercase(), None).is_err());
        assert!(NewPassword::parse(&"é".repeat(128), None).is_ok());
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = NewPassword::parse("correct horse battery staple", None).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn names() {
        for ok in ["Zoë O'Brien-Smith", "José", "김민준", "Ana María"] {
            assert!(DisplayName::parse(ok).is_ok(), "{ok:?} refused");
        }
        for bad in [
            "",
            "   ",
            "Robert'); DROP TABLE",
            "<script>",
            "a1",
            &"a".repeat(101),
        ] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ids_are_canonical_and_random() {
        let a = UserId::new();
        assert_eq!(UserId::parse(&a.to_text()).unwrap(), a);
        assert!(UserId::parse(&a.to_text().to_uppercase()).is_err());
        assert!(UserId::parse("1").is_err());
        assert!(UserId::parse("../etc/passwd").is_err());
        assert_ne!(UserId::new(), UserId::new());
    }

    #[test]
    fn page_limit_bounds() {
        assert_eq!(PageLimit::parse("1").unwrap().get(), 1);
        assert_eq!(PageLimit::parse("100").unwrap().get(), 100);
        for bad in [
            "0",
            "101",
            "-1",
            "+5",
            " 5",
            "",
            "abc",
            "1e2",
            "99999999999999999999",
        ] {
            assert!(PageLimit::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
