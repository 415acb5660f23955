//! Pipeline configuration: key-value entries in `pipeline_configuration`.
//!
//! ```
//! use pipeline_store::repo::{config, pipelines};
//! use pipeline_store::model::{NewPipeline, NewStage, StageType};
//!
//! let conn = pipeline_store::initialize_database(":memory:")?;
//! let pipeline = pipelines::create(&conn, &NewPipeline::new("nightly-backup")
//!     .stage(NewStage::new("compress", StageType::Compression, "zstd")))?;
//! let owner = &pipeline.id;
//! config::set(&conn, owner, "max_workers", "4")?;
//! assert_eq!(config::get(&conn, owner, "max_workers")?.as_deref(), Some("4"));
//! config::remove(&conn, owner, "max_workers")?;
//! assert!(config::list(&conn, owner)?.is_empty());
//! # Ok::<(), pipeline_store::Error>(())
//! ```

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::kv::CONFIGURATION;
use crate::error::Result;
use crate::model::PipelineId;

/// Sets `key` to `value`: inserts it, or updates its value and `updated_at` (keeping
/// `created_at`). Setting the value it already has changes nothing.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) for an empty key;
/// [`Error::NotFound`](crate::Error::NotFound) when the pipeline does not exist.
pub fn set(conn: &Connection, pipeline_id: &PipelineId, key: &str, value: &str) -> Result<()> {
    CONFIGURATION.set(conn, pipeline_id.as_str(), key, value)
}

/// The value of `key`, if set.
///
/// # Errors
///
/// [`Error::Sqlite`](crate::Error::Sqlite) when the database cannot be read.
pub fn get(conn: &Connection, pipeline_id: &PipelineId, key: &str) -> Result<Option<String>> {
    CONFIGURATION.get(conn, pipeline_id.as_str(), key)
}

/// Every entry of the pipeline, by key.
///
/// # Errors
///
/// [`Error::NotFound`](crate::Error::NotFound) when the pipeline does not exist.
pub fn list(conn: &Connection, pipeline_id: &PipelineId) -> Result<BTreeMap<String, String>> {
    CONFIGURATION.list(conn, pipeline_id.as_str())
}

/// Removes `key`.
///
/// # Errors
///
/// [`Error::NotFound`](crate::Error::NotFound) when it is not set.
pub fn remove(conn: &Connection, pipeline_id: &PipelineId, key: &str) -> Result<()> {
    CONFIGURATION.remove(conn, pipeline_id.as_str(), key)
}

/// Makes the entries exactly `entries`, in one transaction: removed keys deleted, changed values
/// updated, new keys inserted, unchanged entries untouched.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) for an empty key (nothing is written);
/// [`Error::NotFound`](crate::Error::NotFound) when the pipeline does not exist.
pub fn replace_all(
    conn: &Connection,
    pipeline_id: &PipelineId,
    entries: &BTreeMap<String, String>,
) -> Result<()> {
    CONFIGURATION.replace_all(conn, pipeline_id.as_str(), entries)
}
