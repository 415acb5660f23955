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
#[cfg(test)]
mod test_log;

pub use error::{ConstraintKind, Error, MigrateError, Result};
#[cfg(feature = "r2d2")]
pub use pool::{pool, pool_with, pool_with_migrators};
pub use schema::{create_database_if_missing, database_exists, ensure_schema, initialize_database};

/// A host program's migrations, embedded at build time: the [`Migrator`](migrate::Migrator)
/// of the directory its build script gave to `pipeline_store_build::Embed` (with another output
/// file name, pass it: `include_migrations!("other.rs")`). Evaluates to
/// `Result<Migrator, Error>`.
///
/// ```ignore
/// // build.rs: pipeline_store_build::Embed::new("migrations").run();
/// let host = pipeline_store::include_migrations!()?.history_table("_myapp_migrations")?;
/// let (conn, _) = pipeline_store::schema::OpenOptions::new().open_host("app.db", &host)?;
/// ```
#[macro_export]
macro_rules! include_migrations {
    () => {
        $crate::include_migrations!("pipeline_store_migrations.rs")
    };
    ($file:literal) => {{
        #[allow(clippy::unreadable_literal)]
        static EMBEDDED: &[$crate::migrate::Embedded] =
            include!(concat!(env!("OUT_DIR"), "/", $file));
        $crate::migrate::Migrator::embedded(EMBEDDED)
    }};
}

/// The `rusqlite` this crate is built on, so callers use the same `Connection` type.
pub use rusqlite;
