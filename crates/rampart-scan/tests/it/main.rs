//! Integration tests of `rampart-scan`, one binary (link once) with a module per concern.

mod fixtures;
mod html;
mod sarif;
mod schema;
mod validate;
