//! Rampart's security core: the decisions shared by `rampart serve`, `rampart scan` and the
//! gateway. It knows nothing about HTTP frameworks or databases.
//!
//! - [`collections`]: declared collections, their access rules and per-request decisions.
//! - [`domain`]: parsed values (`Email`, `NewPassword`, `Role`, `UserId`, `PageLimit`, ...).
//! - [`error`]: the one table of client-facing error codes.
//! - [`token`] and [`keys`]: access and refresh tokens, the signing key ring.
//! - [`passwords`]: Argon2id behind a concurrency cap.
//! - [`common_passwords`]: the bundled list of common passwords.
//! - [`lockout`]: account lockout with the device-cookie exemption.
//! - [`ratelimit`]: sliding-window rate limits and graduated penalties.
//! - [`origin`]: the exact-origin allowlist.
//! - [`net`]: the client's IP behind trusted reverse proxies (`X-Forwarded-For`).
//! - [`headers`]: the security headers every response carries.
//! - [`secrets`]: what makes a secret fit for production.
//! - [`audit`]: the tamper-evident audit chain, its checkpoints and their verification.
//! - [`redact`]: the one redaction function for logs and audit metadata.
//! - [`ssrf`]: which URLs may be stored and which addresses a server-side fetch must not reach.

pub mod audit;
pub mod collections;
pub mod common_passwords;
pub mod domain;
pub mod error;
pub mod headers;
pub mod keys;
pub mod lockout;
pub mod net;
pub mod origin;
pub mod passwords;
pub mod ratelimit;
pub mod redact;
pub mod secrets;
pub mod ssrf;
pub mod token;
