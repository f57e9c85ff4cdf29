//! `rampart serve`: the HTTP server. Configuration, the request pipeline, routes, and the
//! accept loop. Security decisions come from `rampart-core`; SQL lives in `rampart-store`.

pub mod app;
pub mod audit;
pub mod auditor;
pub mod config;
pub mod context;
pub mod error;
pub mod extract;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod serve;
pub mod sessions;
pub mod state;

pub use app::{Application, StartupError, build_state, build_state_with_clock, router};
pub use config::{RawConfig, Settings};
