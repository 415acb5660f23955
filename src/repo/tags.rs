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

/// The trigger that keeps each tag row's copies of its pipeline's name and archived flag in
/// step (created by the `tag_pages_in_name_order` migration).
pub const COPY_TRIGGER: &str = "pipelines_copy_to_tags";

/// The trigger as the migration creates it (without its `IF NOT EXISTS`, as SQLite stores it).
/// A unit test below holds it equal to what the migration leaves in `sqlite_master`.
const CREATE_COPY_TRIGGER: &str = "CREATE TRIGGER pipelines_copy_to_tags
AFTER UPDATE OF name, archived ON pipelines
WHEN NEW.name IS NOT OLD.name OR NEW.archived IS NOT OLD.archived
BEGIN
    UPDATE pipeline_tags
    SET pipeline_name = NEW.name, pipeline_archived = NEW.archived
    WHERE pipeline_id = NEW.id;
END";

/// Whether the schema has the copies at all (the migration that adds them may not be applied).
const HAS_COPIES: &str = "SELECT count(*) = 2 FROM pragma_table_info('pipeline_tags') \
     WHERE name IN ('pipeline_name', 'pipeline_archived')";
/// The copy trigger's text, if there is one.
const TRIGGER_SQL: &str = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1";
/// Tag rows whose copies differ from their pipeline (rows of no pipeline are the foreign-key
/// check's business). Check and repair read the whole table on purpose; they are not on any
/// page's path.
const STALE_COUNT: &str = "SELECT count(*) FROM pipeline_tags t JOIN pipelines p ON p.id = t.pipeline_id \
     WHERE t.pipeline_name IS NOT p.name OR t.pipeline_archived IS NOT p.archived";
const STALE_EXAMPLES: &str = "SELECT t.pipeline_id, t.tag, t.pipeline_name, t.pipeline_archived, p.name, p.archived \
     FROM pipeline_tags t JOIN pipelines p ON p.id = t.pipeline_id \
     WHERE t.pipeline_name IS NOT p.name OR t.pipeline_archived IS NOT p.archived \
     ORDER BY p.name, t.tag LIMIT ?1";
const REWRITE_STALE: &str = "UPDATE pipeline_tags SET pipeline_name = p.name, pipeline_archived = p.archived \
     FROM pipelines p WHERE p.id = pipeline_tags.pipeline_id \
     AND (pipeline_tags.pipeline_name IS NOT p.name OR pipeline_tags.pipeline_archived IS NOT p.archived)";

/// How many stale copies [`verify_copies`] describes one by one.
pub const STALE_EXAMPLES_SHOWN: u32 = 5;

/// A tag row whose copy of its pipeline's name or archived flag differs from the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaleTagCopy {
    /// The pipeline the tag row belongs to.
    pub pipeline_id: PipelineId,
    /// The tag.
    pub tag: String,
    /// The name the tag row holds.
    pub copied_name: String,
    /// The archived flag the tag row holds.
    pub copied_archived: bool,
    /// The pipeline's name.
    pub name: String,
    /// The pipeline's archived flag.
    pub archived: bool,
}

/// The copy trigger as found in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyTrigger {
    /// As the migrations create it.
    InStep,
    /// There is none: renames, archives and restores leave the copies behind.
    Missing,
    /// There is one of that name with another text (given as stored).
    Different(String),
}

/// The state of the tag rows' copies: see [`verify_copies`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopiesReport {
    /// How many tag rows have a stale copy.
    pub stale: u64,
    /// The first few of them ([`STALE_EXAMPLES_SHOWN`] at most), by pipeline name and tag.
    pub examples: Vec<StaleTagCopy>,
    /// The trigger that keeps them in step.
    pub trigger: CopyTrigger,
}

/// What [`repair_copies`] did.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopiesRepair {
    /// Tag rows whose copies were rewritten from their pipeline.
    pub copies_rewritten: u64,
    /// Whether the trigger was created (it was missing or different).
    pub trigger_created: bool,
}

/// Whether this schema keeps copies on its tag rows.
fn has_copies(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached(HAS_COPIES)?
        .query_row([], |r| r.get(0))?)
}

/// The copy trigger's state; `None` when the schema has no copies to keep in step.
///
/// # Errors
///
/// [`Error::Sqlite`] when the schema cannot be read.
pub(crate) fn copy_trigger(conn: &Connection) -> Result<Option<CopyTrigger>> {
    let found: Option<Option<String>> = rusqlite::OptionalExtension::optional(
        conn.prepare_cached(TRIGGER_SQL)?
            .query_row([COPY_TRIGGER], |r| r.get(0)),
    )?;
    match found {
        Some(Some(sql)) if same_sql(&sql, CREATE_COPY_TRIGGER) => Ok(Some(CopyTrigger::InStep)),
        Some(sql) if has_copies(conn)? => Ok(Some(CopyTrigger::Different(sql.unwrap_or_default()))),
        None if has_copies(conn)? => Ok(Some(CopyTrigger::Missing)),
        _ => Ok(None),
    }
}

/// The same statement but for blank space and case.
fn same_sql(a: &str, b: &str) -> bool {
    let words = |s: &str| {
        s.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    };
    words(a) == words(b)
}

/// Checks the copies of each pipeline's name and archived flag on its tag rows, which tagged
/// pages are read by, against the pipelines, and the trigger that keeps them in step. `None`
/// when the schema keeps no copies (the migration that adds them is not applied). Reads only.
///
/// Copies go stale only when the trigger is missing (a rebuild of `pipelines` that did not
/// create it again) or when another tool writes tag rows itself; a stale copy leaves its
/// pipeline off tagged pages until [`repair_copies`] runs.
///
/// # Errors
///
/// [`Error::Sqlite`] when the tables cannot be read; [`Error::InvalidData`] when a stored value
/// cannot be decoded.
pub fn verify_copies(conn: &Connection) -> Result<Option<CopiesReport>> {
    read(conn, |conn| {
        let Some(trigger) = copy_trigger(conn)? else {
            return Ok(None);
        };
        let stale: i64 = conn.prepare(STALE_COUNT)?.query_row([], |r| r.get(0))?;
        let mut examples = Vec::new();
        if stale > 0 {
            let mut statement = conn.prepare(STALE_EXAMPLES)?;
            let mut rows = statement.query([STALE_EXAMPLES_SHOWN])?;
            while let Some(row) = rows.next()? {
                let pipeline_id: PipelineId = Source {
                    table: "pipeline_tags",
                    row: "?",
                }
                .get(row, 0, "pipeline_id")?;
                let at = Source {
                    table: "pipeline_tags",
                    row: pipeline_id.as_str(),
                };
                examples.push(StaleTagCopy {
                    tag: at.get(row, 1, "tag")?,
                    copied_name: at.get(row, 2, "pipeline_name")?,
                    copied_archived: at.get(row, 3, "pipeline_archived")?,
                    name: at.get(row, 4, "name")?,
                    archived: at.get(row, 5, "archived")?,
                    pipeline_id,
                });
            }
        }
        Ok(Some(CopiesReport {
            stale: u64::try_from(stale).unwrap_or(0),
            examples,
            trigger,
        }))
    })
}

/// Rewrites every stale copy from its pipeline and creates the copy trigger again when it is
/// missing or different, in one transaction (a savepoint inside the caller's): all of it or
/// nothing. Writes nothing when everything is in step, or when the schema keeps no copies.
///
/// # Errors
///
/// [`Error::Busy`] when another connection holds the write lock past the busy timeout;
/// [`Error::Sqlite`] when the repair cannot be written (for example another object holds the
/// trigger's name); nothing is changed then.
pub fn repair_copies(conn: &Connection) -> Result<CopiesRepair> {
    write(conn, |conn| {
        let Some(trigger) = copy_trigger(conn)? else {
            return Ok(CopiesRepair::default());
        };
        let trigger_created = match trigger {
            CopyTrigger::InStep => false,
            CopyTrigger::Different(_) => {
                conn.execute_batch(&format!("DROP TRIGGER {COPY_TRIGGER}"))?;
                true
            }
            CopyTrigger::Missing => true,
        };
        let rewritten = conn.prepare(REWRITE_STALE)?.execute([])?;
        if trigger_created {
            conn.execute_batch(CREATE_COPY_TRIGGER)?;
        }
        Ok(CopiesRepair {
            copies_rewritten: u64::try_from(rewritten).unwrap_or(u64::MAX),
            trigger_created,
        })
    })
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    #[test]
    fn the_trigger_text_is_what_the_migration_creates() {
        let conn = crate::initialize_database(":memory:").unwrap();
        let stored: String = conn
            .query_row(TRIGGER_SQL, [COPY_TRIGGER], |r| r.get(0))
            .unwrap();
        assert!(same_sql(&stored, CREATE_COPY_TRIGGER), "{stored}");
        assert_eq!(copy_trigger(&conn).unwrap(), Some(CopyTrigger::InStep));
        assert!(!same_sql(&stored, &stored.replace("archived", "name")));
    }
}
