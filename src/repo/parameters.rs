//! Stage parameters: key-value entries in `stage_parameters`.
//!
//! ```
//! use pipeline_store::repo::{parameters, pipelines};
//! use pipeline_store::model::{NewPipeline, NewStage, StageType};
//!
//! let conn = pipeline_store::initialize_database(":memory:")?;
//! let pipeline = pipelines::create(&conn, &NewPipeline::new("nightly-backup")
//!     .stage(NewStage::new("compress", StageType::Compression, "zstd")))?;
//! let owner = &pipeline.stages[0].id;
//! parameters::set(&conn, owner, "level", "4")?;
//! assert_eq!(parameters::get(&conn, owner, "level")?.as_deref(), Some("4"));
//! parameters::remove(&conn, owner, "level")?;
//! assert!(parameters::list(&conn, owner)?.is_empty());
//! # Ok::<(), pipeline_store::Error>(())
//! ```

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::kv::PARAMETERS;
use crate::error::Result;
use crate::model::StageId;

/// Sets `key` to `value`: inserts it, or updates its value and `updated_at` (keeping
/// `created_at`). Setting the value it already has changes nothing.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) for an empty key;
/// [`Error::NotFound`](crate::Error::NotFound) when the stage does not exist.
pub fn set(conn: &Connection, stage_id: &StageId, key: &str, value: &str) -> Result<()> {
    PARAMETERS.set(conn, stage_id.as_str(), key, value)
}

/// The value of `key`, if set.
///
/// # Errors
///
/// [`Error::Sqlite`](crate::Error::Sqlite) when the database cannot be read.
pub fn get(conn: &Connection, stage_id: &StageId, key: &str) -> Result<Option<String>> {
    PARAMETERS.get(conn, stage_id.as_str(), key)
}

/// Every entry of the stage, by key.
///
/// # Errors
///
/// [`Error::NotFound`](crate::Error::NotFound) when the stage does not exist.
pub fn list(conn: &Connection, stage_id: &StageId) -> Result<BTreeMap<String, String>> {
    PARAMETERS.list(conn, stage_id.as_str())
}

/// Removes `key`.
///
/// # Errors
///
/// [`Error::NotFound`](crate::Error::NotFound) when it is not set.
pub fn remove(conn: &Connection, stage_id: &StageId, key: &str) -> Result<()> {
    PARAMETERS.remove(conn, stage_id.as_str(), key)
}

/// Makes the entries exactly `entries`, in one transaction: removed keys deleted, changed values
/// updated, new keys inserted, unchanged entries untouched.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) for an empty key (nothing is written);
/// [`Error::NotFound`](crate::Error::NotFound) when the stage does not exist.
pub fn replace_all(
    conn: &Connection,
    stage_id: &StageId,
    entries: &BTreeMap<String, String>,
) -> Result<()> {
    PARAMETERS.replace_all(conn, stage_id.as_str(), entries)
}
