//! Peers for the `bench/` harness (see `bench/README.md`).
//!
//! [`bare`] is the "bare axum" peer of issue 7: the authenticated read of one record with the
//! same token verification (`rampart_core::token::TokenService`, same key ring and settings),
//! the same read rule, the same SQLite row read (`rampart_store::Store`) and the same
//! rendering as `rampart serve`, and none of Rampart's pipeline — no rate limiting, audit,
//! security headers, request ids, access log, session-revocation check, timeouts or body
//! limits. It exists only to be measured against; it is not a server anyone should deploy.

pub mod bare;
