//! Pipelines: the aggregate of a pipeline row, its stages with their parameters, its
//! configuration, its metrics and its tags.
//!
//! ```
//! use pipeline_store::model::{NewPipeline, NewStage, StageType};
//! use pipeline_store::repo::pipelines::{self, ListQuery};
//!
//! let conn = pipeline_store::initialize_database(":memory:")?;
//! let created = pipelines::create(&conn, &NewPipeline::new("secure-backup")
//!     .stage(NewStage::new("input checksum", StageType::Checksum, "sha256"))
//!     .stage(NewStage::new("compress", StageType::Compression, "brotli").parameter("level", "6"))
//!     .stage(NewStage::new("encrypt", StageType::Encryption, "aes256gcm"))
//!     .stage(NewStage::new("output checksum", StageType::Checksum, "sha256"))
//!     .config("max_workers", "4"))?;
//!
//! let loaded = pipelines::find_by_name(&conn, "secure-backup")?.expect("created");
//! assert_eq!(loaded, created);
//!
//! pipelines::archive(&conn, &created.id)?;
//! assert!(pipelines::list(&conn, &ListQuery::active())?.is_empty());
//! pipelines::restore(&conn, &created.id)?;
//! assert_eq!(pipelines::find_by_config(&conn, "max_workers", "4")?.len(), 1);
//! # Ok::<(), pipeline_store::Error>(())
//! ```
//!
//! (Longer than most files here: `create`, `update` and the loading of whole aggregates are the
//! crate's central operations, each with its validation; pages are in `pipelines/list.rs`.)

pub(crate) mod list;

pub use list::{ListQuery, PipelineSummary, Status, count, list, list_full};

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, Row, params};

use super::kv::{CONFIGURATION, PARAMETERS};
use super::{Source, check_name, json_array, metrics, read, stages, tags, write};
use crate::error::{ConstraintKind, Error, Result};
use crate::model::{NewPipeline, Pipeline, PipelineId, Stage, StageId, Timestamp};

/// The longest pipeline name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 255;

const INSERT: &str = "INSERT INTO pipelines (id, name, archived, created_at, updated_at) VALUES (?1, ?2, FALSE, ?3, ?3)";
const BY_ID: &str =
    "SELECT id, name, archived, created_at, updated_at FROM pipelines WHERE id = ?1";
const BY_NAME: &str =
    "SELECT id, name, archived, created_at, updated_at FROM pipelines WHERE name = ?1";
const HOLDER_ARCHIVED: &str = "SELECT archived FROM pipelines WHERE name = ?1";
const BY_CONFIG: &str = "SELECT id, name, archived, created_at, updated_at FROM pipelines \
     WHERE archived = false \
       AND id IN (SELECT pipeline_id FROM pipeline_configuration WHERE key = ?1 AND value = ?2 AND archived = false) \
     ORDER BY name";
const RENAME: &str = "UPDATE pipelines SET name = ?2, updated_at = ?3 WHERE id = ?1";
const TOUCH: &str = "UPDATE pipelines SET updated_at = ?2 WHERE id = ?1";
const DELETE: &str = "DELETE FROM pipelines WHERE id = ?1";
const ARCHIVE_PIPELINE: &str = "UPDATE pipelines SET archived = ?2, updated_at = ?3 WHERE id = ?1";
#[cfg(test)]
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("pipelines insert", INSERT),
    ("pipelines by id", BY_ID),
    ("pipelines by name", BY_NAME),
    ("pipelines holder", HOLDER_ARCHIVED),
    ("pipelines by config", BY_CONFIG),
    ("pipelines rename", RENAME),
    ("pipelines touch", TOUCH),
    ("pipelines delete", DELETE),
    ("archive pipeline", ARCHIVE_PIPELINE),
];

/// A pipeline row without children.
pub(super) struct Head {
    id: PipelineId,
    name: String,
    archived: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

fn decode_head(row: &Row<'_>) -> Result<Head> {
    let id: PipelineId = Source {
        table: "pipelines",
        row: "?",
    }
    .get(row, 0, "id")?;
    let source = Source {
        table: "pipelines",
        row: id.as_str(),
    };
    Ok(Head {
        name: source.get(row, 1, "name")?,
        archived: source.get(row, 2, "archived")?,
        created_at: source.get(row, 3, "created_at")?,
        updated_at: source.get(row, 4, "updated_at")?,
        id,
    })
}

fn heads(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Head>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut heads = Vec::new();
    while let Some(row) = rows.next()? {
        heads.push(decode_head(row)?);
    }
    Ok(heads)
}

/// Loads the children of `heads` with five statements, whatever their number.
fn assemble(conn: &Connection, heads: Vec<Head>) -> Result<Vec<Pipeline>> {
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let ids = json_array(heads.iter().map(|h| h.id.as_str()));

    let mut stages_by_pipeline = stages::load_many(conn, &ids)?;
    let mut parameters = PARAMETERS.load_many(conn, &ids)?;
    let mut configuration = CONFIGURATION.load_many(conn, &ids)?;
    let mut metrics = metrics::load_many(conn, &ids)?;
    let mut tags = tags::load_many(conn, &ids)?;

    Ok(heads
        .into_iter()
        .map(|head| {
            let mut stages = stages_by_pipeline.remove(&head.id).unwrap_or_default();
            for stage in &mut stages {
                stage.parameters = parameters.remove(stage.id.as_str()).unwrap_or_default();
            }
            Pipeline {
                configuration: configuration.remove(head.id.as_str()).unwrap_or_default(),
                metrics: metrics.remove(head.id.as_str()),
                tags: tags.remove(head.id.as_str()).unwrap_or_default(),
                stages,
                id: head.id,
                name: head.name,
                archived: head.archived,
                created_at: head.created_at,
                updated_at: head.updated_at,
            }
        })
        .collect())
}

fn load_one(conn: &Connection, sql: &str, key: &str) -> Result<Option<Pipeline>> {
    read(conn, |conn| {
        let heads = heads(conn, sql, [key])?;
        Ok(assemble(conn, heads)?.pop())
    })
}

/// Validates a pipeline name: not empty after trimming, at most [`MAX_NAME_CHARS`] characters,
/// no control characters.
fn check_pipeline_name(name: &str) -> Result<()> {
    check_name("name", name, Some(MAX_NAME_CHARS))
}

/// Turns a unique-constraint failure on `pipelines.name` into [`Error::NameTaken`].
fn name_error(conn: &Connection, name: &str, error: rusqlite::Error) -> Error {
    let on_name = ConstraintKind::of(&error) == Some(ConstraintKind::Unique)
        && error.to_string().contains("pipelines.name");
    if !on_name {
        return error.into();
    }
    let archived = conn
        .prepare_cached(HOLDER_ARCHIVED)
        .and_then(|mut s| s.query_row([name], |r| r.get(0)))
        .unwrap_or(false);
    Error::NameTaken {
        name: name.to_owned(),
        archived,
    }
}

/// Creates a pipeline with its stages (in the given order), parameters, configuration, tags and
/// metrics, in one transaction. Returns it exactly as [`get`] will.
///
/// # Errors
///
/// * [`Error::InvalidInput`] naming the field: an empty, overlong or control-character name;
///   an empty stage name or algorithm (`stages[i].name`); a zero or oversized chunk size; an
///   empty key or tag; metrics beyond SQLite's integers or not finite.
/// * [`Error::NameTaken`] when another pipeline (possibly archived) has the name.
///
/// Nothing is written when it fails.
pub fn create(conn: &Connection, new: &NewPipeline) -> Result<Pipeline> {
    check_pipeline_name(&new.name)?;
    for (i, stage) in new.stages.iter().enumerate() {
        stages::check_new(&format!("stages[{i}]"), stage)?;
    }
    for key in new.configuration.keys() {
        super::check_key("configuration key", key)?;
    }
    for tag in &new.tags {
        tags::check_tag(tag)?;
    }
    if let Some(m) = &new.metrics {
        metrics::check(m)?;
    }
    let id = PipelineId::new();
    let now = Timestamp::now();
    let stages = write(conn, |conn| {
        conn.prepare_cached(INSERT)?
            .execute(params![id, new.name, now])
            .map_err(|e| name_error(conn, &new.name, e))?;
        let mut created = Vec::with_capacity(new.stages.len());
        for (order, stage) in (0_u32..).zip(&new.stages) {
            created.push(stages::insert(conn, &id, stage, order, false, now)?);
        }
        for (key, value) in &new.configuration {
            CONFIGURATION.insert(conn, id.as_str(), key, value, false, now)?;
        }
        for tag in &new.tags {
            tags::insert(conn, &id, tag, now)?;
        }
        if let Some(m) = &new.metrics {
            metrics::upsert(conn, &id, m)?;
        }
        Ok(created)
    })?;
    Ok(Pipeline {
        id,
        name: new.name.clone(),
        archived: false,
        configuration: new.configuration.clone(),
        stages,
        metrics: new.metrics.as_ref().map(metrics::as_stored),
        tags: new.tags.clone(),
        created_at: now,
        updated_at: now,
    })
}

/// The pipeline with this id, archived or not, with all its children.
///
/// Costs a fixed number of statements (one per table) in one read transaction.
///
/// # Errors
///
/// [`Error::InvalidData`] when a stored value cannot be decoded.
pub fn get(conn: &Connection, id: &PipelineId) -> Result<Option<Pipeline>> {
    load_one(conn, BY_ID, id.as_str())
}

/// The pipeline with this name, archived or not, with all its children.
///
/// # Errors
///
/// [`Error::InvalidData`] when a stored value cannot be decoded.
pub fn find_by_name(conn: &Connection, name: &str) -> Result<Option<Pipeline>> {
    load_one(conn, BY_NAME, name)
}

/// Whether a pipeline with this id exists (archived or not).
///
/// # Errors
///
/// [`Error::Sqlite`] when the database cannot be read.
pub fn exists(conn: &Connection, id: &PipelineId) -> Result<bool> {
    super::pipeline_exists(conn, id)
}

/// Active pipelines whose configuration has `key` set to `value`, by name.
///
/// # Errors
///
/// [`Error::InvalidData`] when a stored value cannot be decoded.
pub fn find_by_config(conn: &Connection, key: &str, value: &str) -> Result<Vec<Pipeline>> {
    read(conn, |conn| {
        let found = heads(conn, BY_CONFIG, [key, value])?;
        assemble(conn, found)
    })
}

/// Renames a pipeline.
///
/// # Errors
///
/// [`Error::InvalidInput`] for a refused name, [`Error::NameTaken`], [`Error::NotFound`].
pub fn rename(conn: &Connection, id: &PipelineId, name: &str) -> Result<()> {
    check_pipeline_name(name)?;
    write(conn, |conn| {
        let changed = conn
            .prepare_cached(RENAME)?
            .execute(params![id, name, Timestamp::now()])
            .map_err(|e| name_error(conn, name, e))?;
        if changed == 0 {
            return Err(not_found(id));
        }
        Ok(())
    })
}

use super::pipeline_not_found as not_found;

/// Sets `archived` on a pipeline and on its stages, parameters and configuration.
fn set_archived(conn: &Connection, id: &PipelineId, archived: bool, now: Timestamp) -> Result<()> {
    let changed = conn
        .prepare_cached(ARCHIVE_PIPELINE)?
        .execute(params![id, archived, now])?;
    if changed == 0 {
        return Err(not_found(id));
    }
    stages::set_archived_of_pipeline(conn, id, archived, now)?;
    PARAMETERS.set_archived_of_pipeline(conn, id.as_str(), archived, now)?;
    CONFIGURATION.set_archived_of_pipeline(conn, id.as_str(), archived, now)?;
    Ok(())
}

/// Archives (soft-deletes) a pipeline with its stages, parameters and configuration, in one
/// transaction. An archived pipeline keeps its name and is left out of active lists.
///
/// # Errors
///
/// [`Error::NotFound`] when there is no such pipeline.
pub fn archive(conn: &Connection, id: &PipelineId) -> Result<()> {
    write(conn, |conn| set_archived(conn, id, true, Timestamp::now()))
}

/// Restores an archived pipeline with its stages, parameters and configuration, in one
/// transaction.
///
/// # Errors
///
/// [`Error::NotFound`] when there is no such pipeline.
pub fn restore(conn: &Connection, id: &PipelineId) -> Result<()> {
    write(conn, |conn| set_archived(conn, id, false, Timestamp::now()))
}

/// Deletes a pipeline and, through `ON DELETE CASCADE`, everything that belongs to it.
///
/// # Errors
///
/// [`Error::NotFound`] when there is no such pipeline.
pub fn delete(conn: &Connection, id: &PipelineId) -> Result<()> {
    let deleted = conn.prepare_cached(DELETE)?.execute([id])?;
    if deleted == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Replaces a stored pipeline with `pipeline`, in one transaction, and returns what is stored.
///
/// * The name is changed (checked as in [`rename`]) and `archived` applied as [`archive`] or
///   [`restore`] would.
/// * Stages are matched by id: stored stages missing from `pipeline.stages` are deleted, new ids
///   are inserted, changed stages are updated (their `updated_at` bumped); unchanged stages are
///   left alone. Parameters, configuration and tags are replaced entry by entry the same way;
///   metrics are recorded, or cleared when `None`.
/// * Only what changed is written, and the pipeline's `updated_at` moves only when something
///   changed: an update that changes nothing writes nothing. Whatever [`get`] returns is
///   accepted unchanged.
/// * `created_at` and `updated_at` are the store's: the values in `pipeline` are ignored.
///
/// # Errors
///
/// * [`Error::NotFound`] when no pipeline has `pipeline.id`;
/// * [`Error::InvalidInput`] naming the field, as for [`create`], and for: a stage order that
///   another stage takes (`stages[i].order`; orders already shared in the database are left
///   alone), a stage of another pipeline or one listed twice (`stages[i].id`), a stage whose
///   `archived` is neither its stored value nor the pipeline's (`stages[i].archived`: stages are
///   archived and restored with their pipeline);
/// * [`Error::NameTaken`].
///
/// Nothing is written when it fails.
pub fn update(conn: &Connection, pipeline: &Pipeline) -> Result<Pipeline> {
    check_pipeline_name(&pipeline.name)?;
    let mut ids = HashSet::new();
    for (i, stage) in pipeline.stages.iter().enumerate() {
        let field = format!("stages[{i}]");
        stages::check_stage(&field, stage)?;
        if stage.pipeline_id != pipeline.id {
            return Err(Error::invalid(
                format!("{field}.pipeline_id"),
                format!(
                    "is `{}`, not the pipeline's id `{}`",
                    stage.pipeline_id, pipeline.id
                ),
            ));
        }
        if !ids.insert(&stage.id) {
            return Err(Error::invalid(
                format!("{field}.id"),
                format!("stage `{}` is listed twice", stage.id),
            ));
        }
    }
    for key in pipeline.configuration.keys() {
        super::check_key("configuration key", key)?;
    }
    for tag in &pipeline.tags {
        tags::check_tag(tag)?;
    }
    if let Some(m) = &pipeline.metrics {
        metrics::check(m)?;
    }
    let id = &pipeline.id;
    write(conn, |conn| {
        let now = Timestamp::now();
        let stored = load_one(conn, BY_ID, id.as_str())?.ok_or_else(|| not_found(id))?;
        check_stage_changes(&stored, pipeline)?;
        let mut changed = false;
        if stored.name != pipeline.name {
            conn.prepare_cached(RENAME)?
                .execute(params![id, pipeline.name, now])
                .map_err(|e| name_error(conn, &pipeline.name, e))?;
            changed = true;
        }
        changed |=
            stages::replace_in(conn, &stored.stages, &pipeline.stages, stored.archived, now)?;
        changed |= CONFIGURATION.replace_in(conn, id.as_str(), &pipeline.configuration, now)?;
        changed |= tags::replace_in(conn, id, &stored.tags, &pipeline.tags, now)?;
        let wanted_metrics = pipeline.metrics.as_ref().map(metrics::as_stored);
        if wanted_metrics != stored.metrics {
            match &wanted_metrics {
                Some(m) => metrics::upsert(conn, id, m)?,
                None => metrics::delete(conn, id)?,
            }
            changed = true;
        }
        if stored.archived != pipeline.archived {
            set_archived(conn, id, pipeline.archived, now)?;
        } else if changed {
            conn.prepare_cached(TOUCH)?.execute(params![id, now])?;
        } else {
            return Ok(stored);
        }
        load_one(conn, BY_ID, id.as_str())?.ok_or_else(|| not_found(id))
    })
}

/// Refuses stage orders that collide and `archived` flags that do not follow the pipeline.
/// Orders that already collide in the database (written by another tool) and are left as they
/// are do not count: what [`get`] returned is always accepted.
fn check_stage_changes(stored: &Pipeline, wanted: &Pipeline) -> Result<()> {
    let stored_stages: HashMap<&StageId, &Stage> =
        stored.stages.iter().map(|s| (&s.id, s)).collect();
    let unchanged_order = |s: &Stage| {
        stored_stages
            .get(&s.id)
            .is_some_and(|old| old.order == s.order)
    };
    let mut by_order: HashMap<u32, &Stage> = HashMap::new();
    for (i, stage) in wanted.stages.iter().enumerate() {
        if let Some(other) = by_order.insert(stage.order, stage)
            && !(unchanged_order(stage) && unchanged_order(other))
        {
            return Err(Error::invalid(
                format!("stages[{i}].order"),
                format!(
                    "order {} is used by another stage of the pipeline",
                    stage.order
                ),
            ));
        }
        let as_stored = stored_stages
            .get(&stage.id)
            .map_or(stored.archived, |old| old.archived);
        if stage.archived != as_stored && stage.archived != wanted.archived {
            return Err(Error::invalid(
                format!("stages[{i}].archived"),
                format!(
                    "is {} but the pipeline's is {}: stages are archived and restored with their \
                     pipeline (set the pipeline's `archived`, or use archive / restore)",
                    stage.archived, wanted.archived
                ),
            ));
        }
    }
    Ok(())
}
