//! Attack-style integration tests against the real router, on SQLite by default and on
//! PostgreSQL when `RAMPART_TEST_POSTGRES_URL` is set (scripts/test does both).

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod helpers;

mod admin;
mod audit;
mod auth;
mod client_ip;
mod collections;
mod health;
mod multiprocess;
mod pipeline;
mod properties;
mod ratelimit;
mod redis;
mod tokens;
