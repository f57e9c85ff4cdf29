//! The request pipeline, one module per concern. `crate::app::router` stacks them in the order
//! documented in ARCHITECTURE.md.

pub mod authenticate;
pub mod cors;
pub mod envelope;
pub mod methods;
pub mod ratelimit;
pub mod request_id;
pub mod security_headers;
