//! Integration tests through the public API: one binary, one module per concern.

// A test reads best as one scenario from setup to the last assertion, however long.
#![allow(clippy::too_many_lines)]

mod children;
#[cfg(feature = "cli")]
mod cli;
mod common;
mod corpus;
mod derived;
mod drift;
mod errors;
mod guard;
pub(crate) mod host;
mod layers;
mod legacy;
mod list_modes;
mod load;
mod migration_features;
mod migrations;
mod opening;
mod pipelines;
#[cfg(feature = "r2d2")]
mod pool;
mod properties;
mod random_migrations;
mod rehearsal;
mod reliability;
mod replication;
mod round_trip;
mod safety;
mod schema_shape;
#[cfg(all(feature = "serde", feature = "cli"))]
mod serde_model;
mod statements;
mod validation;
