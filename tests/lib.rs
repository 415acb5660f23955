//! Integration tests through the public API: one binary, one module per concern.

mod common;
mod errors;
mod migrations;
mod opening;
mod schema_shape;
