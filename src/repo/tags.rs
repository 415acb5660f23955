//! Tags: free-form labels on pipelines (`pipeline_tags`), many per pipeline.
//!
//! List the pipelines with a tag through [`pipelines::list`](super::pipelines::list) with
//! [`ListQuery::tag`](super::pipelines::ListQuery::tag).
//!
//! ```
//! use pipeline_store::model::NewPipeline;
//! use pipeline_store::repo::{pipelines::{self, ListQuery}, tags};
//!
//! let conn = pipeline_store::initialize_database(":memory:")?;
//! let p = pipelines::create(&conn, &NewPipeline::new("nightly-backup"))?;
//! tags::add(&conn, &p.id, "nightly")?;
//! assert_eq!(pipelines::list(&conn, &ListQuery::active().tag("nightly"))?.len(), 1);
//! tags::remove(&conn, &p.id, "nightly")?;
//! assert!(tags::list(&conn, &p.id)?.is_empty());
//! # Ok::<(), pipeline_store::Error>(())
//! ```

use std::collections::{BTreeSet, HashMap};

use rusqlite::{Connection, params};

use super::{Source, check_name, pipeline_not_found, read, write};
use crate::error::{Error, Result};
use crate::model::{PipelineId, Timestamp};

/// With the copies of the pipeline's name and archived flag that tagged pages are read by (a
/// missing pipeline inserts nothing; callers check it first).
const INSERT: &str = "INSERT INTO pipeline_tags \
     (pipeline_id, tag, created_at, pipeline_name, pipeline_archived) \
     SELECT id, ?2, ?3, name, archived FROM pipelines WHERE id = ?1 \
     ON CONFLICT (pipeline_id, tag) DO NOTHING";
const DELETE: &str = "DELETE FROM pipeline_tags WHERE pipeline_id = ?1 AND tag = ?2";
const OF_PIPELINE: &str = "SELECT tag FROM pipeline_tags WHERE pipeline_id = ?1";
const OF_PIPELINES: &str = "SELECT pipeline_id, tag FROM pipeline_tags WHERE pipeline_id IN (SELECT value FROM json_each(?1))";

#[cfg(test)]
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("tags insert", INSERT),
    ("tags delete", DELETE),
    ("tags of pipeline", OF_PIPELINE),
    ("tags of pipelines", OF_PIPELINES),
];

/// The longest tag accepted, in characters.
pub const MAX_TAG_CHARS: usize = 255;

pub(crate) fn check_tag(tag: &str) -> Result<()> {
    check_name("tag", tag, Some(MAX_TAG_CHARS))
}

/// Inserts a tag (no-op when present); the caller holds a write transaction.
pub(crate) fn insert(
    conn: &Connection,
    pipeline: &PipelineId,
    tag: &str,
    now: Timestamp,
) -> Result<()> {
    conn.prepare_cached(INSERT)?
        .execute(params![pipeline, tag, now])?;
    Ok(())
}

/// Makes a pipeline's tags exactly `wanted`; the caller holds a write transaction. `true` when
/// anything was written.
pub(crate) fn replace_in(
    conn: &Connection,
    pipeline: &PipelineId,
    stored: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
    now: Timestamp,
) -> Result<bool> {
    let mut changed = false;
    for tag in stored.difference(wanted) {
        conn.prepare_cached(DELETE)?
            .execute(params![pipeline, tag])?;
        changed = true;
    }
    for tag in wanted.difference(stored) {
        insert(conn, pipeline, tag, now)?;
        changed = true;
    }
    Ok(changed)
}

/// The tags of the pipelines in a JSON array of ids, by pipeline id.
pub(crate) fn load_many(conn: &Connection, ids: &str) -> Result<HashMap<String, BTreeSet<String>>> {
    let mut statement = conn.prepare_cached(OF_PIPELINES)?;
    let mut rows = statement.query([ids])?;
    let mut all: HashMap<String, BTreeSet<String>> = HashMap::new();
    while let Some(row) = rows.next()? {
        let owner: String = Source {
            table: "pipeline_tags",
            row: "?",
        }
        .get(row, 0, "pipeline_id")?;
        let tag: String = Source {
            table: "pipeline_tags",
            row: &owner,
        }
        .get(row, 1, "tag")?;
        all.entry(owner).or_default().insert(tag);
    }
    Ok(all)
}

/// Tags a pipeline; adding a tag it already has changes nothing.
///
/// # Errors
///
/// [`Error::InvalidInput`] (`tag`) for an empty, overlong or control-character tag;
/// [`Error::NotFound`] when the pipeline does not exist.
pub fn add(conn: &Connection, pipeline: &PipelineId, tag: &str) -> Result<()> {
    check_tag(tag)?;
    write(conn, |conn| {
        super::require_pipeline(conn, pipeline)?;
        insert(conn, pipeline, tag, Timestamp::now())
    })
}

/// Removes a tag from a pipeline.
///
/// # Errors
///
/// [`Error::NotFound`] when the pipeline does not have the tag.
pub fn remove(conn: &Connection, pipeline: &PipelineId, tag: &str) -> Result<()> {
    let removed = conn
        .prepare_cached(DELETE)?
        .execute(params![pipeline, tag])?;
    if removed == 0 {
        return Err(Error::NotFound {
            entity: "tag",
            key: format!("{pipeline}/{tag}"),
        });
    }
    Ok(())
}

/// A pipeline's tags.
///
/// # Errors
///
/// [`Error::NotFound`] when the pipeline does not exist.
pub fn list(conn: &Connection, pipeline: &PipelineId) -> Result<BTreeSet<String>> {
    read(conn, |conn| {
        let mut statement = conn.prepare_cached(OF_PIPELINE)?;
        let mut rows = statement.query([pipeline])?;
        let mut tags = BTreeSet::new();
        while let Some(row) = rows.next()? {
            tags.insert(
                Source {
                    table: "pipeline_tags",
                    row: pipeline.as_str(),
                }
                .get(row, 0, "tag")?,
            );
        }
        if tags.is_empty() && !super::pipeline_exists(conn, pipeline)? {
            return Err(pipeline_not_found(pipeline));
        }
        Ok(tags)
    })
}
