#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// `# Errors` sections are written on public fallible functions; `# Panics` would only ever say
// "never" (the crate does not panic on input), so that lint is not worth its noise.
#![expect(
    clippy::missing_panics_doc,
    reason = "the crate does not panic on input; a # Panics section would only ever say never"
)]

pub mod error;
pub mod migrate;
pub mod model;
#[cfg(feature = "r2d2")]
pub mod pool;
pub mod repo;
pub mod schema;

pub use error::{ConstraintKind, Error, MigrateError, Result};
#[cfg(feature = "r2d2")]
pub use pool::{pool, pool_with, pool_with_migrators};
pub use schema::{create_database_if_missing, database_exists, ensure_schema, initialize_database};

/// The `rusqlite` this crate is built on, so callers use the same `Connection` type.
pub use rusqlite;
