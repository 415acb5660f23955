//! Stages: the ordered steps of a pipeline, each with its parameters.
//!
//! Orders are unique within a pipeline. [`reorder`] makes them contiguous from 0; [`add`] and
//! [`remove`] keep them unique whatever gaps a database written by another tool has: a new stage
//! goes after the highest order, or at the order asked for with the stages from there on moved
//! down one.
//!
//! ```
//! use pipeline_store::model::{NewPipeline, NewStage, StageType};
//! use pipeline_store::repo::{pipelines, stages};
//!
//! let conn = pipeline_store::initialize_database(":memory:")?;
//! let p = pipelines::create(&conn, &NewPipeline::new("archive-logs")
//!     .stage(NewStage::new("compress", StageType::Compression, "zstd")))?;
//! let first = stages::add(&conn, &p.id, &NewStage::new("checksum", StageType::Checksum, "sha256"), Some(0))?;
//! let names: Vec<String> = stages::list(&conn, &p.id)?.into_iter().map(|s| s.name).collect();
//! assert_eq!(names, ["checksum", "compress"]);
//! stages::set_enabled(&conn, &first.id, false)?;
//! assert!(!stages::get(&conn, &first.id)?.expect("added").enabled);
//! # Ok::<(), pipeline_store::Error>(())
//! ```
//!
//! (Longer than most files here because it is every statement on `pipeline_stages`: the public
//! functions and the ones `pipelines` uses to insert, replace, load and archive an aggregate's
//! stages. Split, one table's statements would live in two places.)

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::kv::{PARAMETERS, parameters_of_pipeline};
use super::{Source, check_key, check_name, pipeline_not_found, read, to_i64, write};
use crate::error::{Error, Result};
use crate::model::{NewStage, PipelineId, Stage, StageId, StageType, Timestamp};

/// A `SELECT` of every stage column (the order `decode` reads), then `$rest`.
macro_rules! select_stages {
    ($rest:literal) => {
        concat!(
            "SELECT id, pipeline_id, name, stage_type, algorithm, enabled, stage_order, \
             parallel_processing, chunk_size, archived, created_at, updated_at FROM pipeline_stages ",
            $rest
        )
    };
}

const INSERT: &str = "INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, algorithm, enabled, \
     stage_order, parallel_processing, chunk_size, archived, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)";
const BY_ID: &str = select_stages!("WHERE id = ?1");
const OF_PIPELINE: &str = select_stages!("WHERE pipeline_id = ?1 ORDER BY stage_order");
/// The stages of the pipelines in the JSON array `?1`.
const OF_PIPELINES: &str =
    select_stages!("WHERE pipeline_id IN (SELECT value FROM json_each(?1)) ORDER BY stage_order");
const UPDATE: &str = "UPDATE pipeline_stages SET name = ?2, stage_type = ?3, algorithm = ?4, enabled = ?5, \
     stage_order = ?6, parallel_processing = ?7, chunk_size = ?8, updated_at = ?9 WHERE id = ?1";
const SET_ENABLED: &str =
    "UPDATE pipeline_stages SET enabled = ?2, updated_at = ?3 WHERE id = ?1 AND enabled IS NOT ?2";
const SET_ORDER: &str = "UPDATE pipeline_stages SET stage_order = ?2, updated_at = ?3 WHERE id = ?1 AND stage_order IS NOT ?2";
const SHIFT_FROM: &str = "UPDATE pipeline_stages SET stage_order = stage_order + ?3, updated_at = ?4 \
     WHERE pipeline_id = ?1 AND stage_order >= ?2";
const DELETE: &str = "DELETE FROM pipeline_stages WHERE id = ?1";
const OWNER: &str = "SELECT pipeline_id, stage_order FROM pipeline_stages WHERE id = ?1";
const PIPELINE_STATE: &str = "SELECT archived, (SELECT max(stage_order) FROM pipeline_stages WHERE pipeline_id = ?1) \
     FROM pipelines WHERE id = ?1";
const ARCHIVE_OF_PIPELINE: &str = "UPDATE pipeline_stages SET archived = ?2, updated_at = ?3 \
     WHERE pipeline_id = ?1 AND archived IS NOT ?2";
const ORDER_TAKEN: &str =
    "SELECT 1 FROM pipeline_stages WHERE pipeline_id = ?1 AND stage_order = ?2 AND id IS NOT ?3";

#[cfg(test)]
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("stages insert", INSERT),
    ("stages by id", BY_ID),
    ("stages of pipeline", OF_PIPELINE),
    ("stages of pipelines", OF_PIPELINES),
    ("stages archive", ARCHIVE_OF_PIPELINE),
    ("stages update", UPDATE),
    ("stages set enabled", SET_ENABLED),
    ("stages set order", SET_ORDER),
    ("stages shift", SHIFT_FROM),
    ("stages delete", DELETE),
    ("stages owner", OWNER),
    ("stages pipeline state", PIPELINE_STATE),
    ("stages order taken", ORDER_TAKEN),
];

/// Decodes a row selected with the stage columns (parameters left empty).
pub(crate) fn decode(row: &Row<'_>) -> Result<Stage> {
    let id: StageId = Source {
        table: "pipeline_stages",
        row: "?",
    }
    .get(row, 0, "id")?;
    let source = Source {
        table: "pipeline_stages",
        row: id.as_str(),
    };
    let order: i64 = source.get(row, 6, "stage_order")?;
    Ok(Stage {
        pipeline_id: source.get(row, 1, "pipeline_id")?,
        name: source.get(row, 2, "name")?,
        stage_type: source.get(row, 3, "stage_type")?,
        algorithm: source.get(row, 4, "algorithm")?,
        enabled: source.get(row, 5, "enabled")?,
        order: u32::try_from(order)
            .map_err(|_| source.invalid("stage_order", format!("{order} is not a position")))?,
        parallel_processing: source.get(row, 7, "parallel_processing")?,
        chunk_size: source.get_opt_u64(row, 8, "chunk_size")?,
        parameters: BTreeMap::new(),
        archived: source.get(row, 9, "archived")?,
        created_at: source.get(row, 10, "created_at")?,
        updated_at: source.get(row, 11, "updated_at")?,
        id,
    })
}

/// Validates a stage's fields; `field` prefixes the names in errors (`stages[2]`).
fn check_fields(
    field: &str,
    name: &str,
    stage_type: &StageType,
    algorithm: &str,
    chunk_size: Option<u64>,
    parameters: &BTreeMap<String, String>,
) -> Result<()> {
    check_name(&format!("{field}.name"), name, None)?;
    check_name(&format!("{field}.algorithm"), algorithm, None)?;
    check_name(&format!("{field}.stage_type"), stage_type.as_str(), None)?;
    if let Some(size) = chunk_size {
        if size == 0 {
            return Err(Error::invalid(
                format!("{field}.chunk_size"),
                "must be greater than 0",
            ));
        }
        to_i64(&format!("{field}.chunk_size"), size)?;
    }
    for key in parameters.keys() {
        check_key(&format!("{field}.parameters key"), key)?;
    }
    Ok(())
}

/// Validates a stage to create.
pub(crate) fn check_new(field: &str, s: &NewStage) -> Result<()> {
    check_fields(
        field,
        &s.name,
        &s.stage_type,
        &s.algorithm,
        s.chunk_size,
        &s.parameters,
    )
}

/// Validates a stored stage being written back.
pub(crate) fn check_stage(field: &str, s: &Stage) -> Result<()> {
    check_fields(
        field,
        &s.name,
        &s.stage_type,
        &s.algorithm,
        s.chunk_size,
        &s.parameters,
    )
}

/// Inserts a new stage with its parameters; the caller holds a write transaction.
pub(crate) fn insert(
    conn: &Connection,
    pipeline: &PipelineId,
    stage: &NewStage,
    order: u32,
    archived: bool,
    now: Timestamp,
) -> Result<Stage> {
    let created = Stage {
        id: StageId::new(),
        pipeline_id: pipeline.clone(),
        name: stage.name.clone(),
        stage_type: stage.stage_type.clone(),
        algorithm: stage.algorithm.clone(),
        enabled: stage.enabled,
        order,
        parallel_processing: stage.parallel_processing,
        chunk_size: stage.chunk_size,
        parameters: stage.parameters.clone(),
        archived,
        created_at: now,
        updated_at: now,
    };
    insert_rows(conn, &created, archived, now)?;
    Ok(created)
}

/// Writes a stage's row and its parameters' rows, all with `archived` and `now`.
fn insert_rows(conn: &Connection, stage: &Stage, archived: bool, now: Timestamp) -> Result<()> {
    let chunk_size = stage
        .chunk_size
        .map(|s| to_i64("chunk_size", s))
        .transpose()?;
    conn.prepare_cached(INSERT)?.execute(params![
        stage.id,
        stage.pipeline_id,
        stage.name,
        stage.stage_type,
        stage.algorithm,
        stage.enabled,
        stage.order,
        stage.parallel_processing,
        chunk_size,
        archived,
        now
    ])?;
    for (key, value) in &stage.parameters {
        PARAMETERS.insert(conn, stage.id.as_str(), key, value, archived, now)?;
    }
    Ok(())
}

/// Writes a stage's row (not its parameters) when anything but its timestamps changed; `true`
/// when it wrote.
fn update_row(conn: &Connection, stored: &Stage, wanted: &Stage, now: Timestamp) -> Result<bool> {
    let same = stored.name == wanted.name
        && stored.stage_type == wanted.stage_type
        && stored.algorithm == wanted.algorithm
        && stored.enabled == wanted.enabled
        && stored.order == wanted.order
        && stored.parallel_processing == wanted.parallel_processing
        && stored.chunk_size == wanted.chunk_size;
    if same {
        return Ok(false);
    }
    let chunk_size = wanted
        .chunk_size
        .map(|s| to_i64("chunk_size", s))
        .transpose()?;
    conn.prepare_cached(UPDATE)?.execute(params![
        wanted.id,
        wanted.name,
        wanted.stage_type,
        wanted.algorithm,
        wanted.enabled,
        wanted.order,
        wanted.parallel_processing,
        chunk_size,
        now
    ])?;
    Ok(true)
}

/// Makes a pipeline's stages exactly `wanted`, matched by id; the caller holds a write
/// transaction and has validated `wanted`. `true` when anything was written.
pub(crate) fn replace_in(
    conn: &Connection,
    stored: &[Stage],
    wanted: &[Stage],
    archived: bool,
    now: Timestamp,
) -> Result<bool> {
    let wanted_ids: HashSet<&StageId> = wanted.iter().map(|s| &s.id).collect();
    let mut changed = false;
    for old in stored.iter().filter(|s| !wanted_ids.contains(&s.id)) {
        conn.prepare_cached(DELETE)?.execute([&old.id])?;
        changed = true;
    }
    for (i, stage) in wanted.iter().enumerate() {
        if let Some(old) = stored.iter().find(|s| s.id == stage.id) {
            changed |= update_row(conn, old, stage, now)?;
            changed |= PARAMETERS.replace_in(conn, stage.id.as_str(), &stage.parameters, now)?;
            continue;
        }
        if conn
            .prepare_cached(OWNER)?
            .query_row([&stage.id], |_| Ok(()))
            .optional()?
            .is_some()
        {
            return Err(Error::invalid(
                format!("stages[{i}].id"),
                format!("`{}` is the id of a stage of another pipeline", stage.id),
            ));
        }
        insert_rows(conn, stage, archived, now)?;
        changed = true;
    }
    Ok(changed)
}

/// The stages of the pipelines in the JSON array `ids` (parameters left empty), by pipeline, each
/// pipeline's in order.
pub(crate) fn load_many(conn: &Connection, ids: &str) -> Result<HashMap<PipelineId, Vec<Stage>>> {
    let mut statement = conn.prepare_cached(OF_PIPELINES)?;
    let mut rows = statement.query([ids])?;
    let mut by_pipeline: HashMap<PipelineId, Vec<Stage>> = HashMap::new();
    while let Some(row) = rows.next()? {
        let stage = decode(row)?;
        by_pipeline
            .entry(stage.pipeline_id.clone())
            .or_default()
            .push(stage);
    }
    Ok(by_pipeline)
}

/// Sets `archived` on every stage of a pipeline; the caller holds a write transaction.
pub(crate) fn set_archived_of_pipeline(
    conn: &Connection,
    pipeline: &PipelineId,
    archived: bool,
    now: Timestamp,
) -> Result<()> {
    conn.prepare_cached(ARCHIVE_OF_PIPELINE)?
        .execute(params![pipeline, archived, now])?;
    Ok(())
}

fn load(conn: &Connection, sql: &str, key: &str) -> Result<Vec<Stage>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query([key])?;
    let mut stages = Vec::new();
    while let Some(row) = rows.next()? {
        stages.push(decode(row)?);
    }
    Ok(stages)
}

/// The stage with this id, with its parameters.
///
/// # Errors
///
/// [`Error::InvalidData`] when a stored value cannot be decoded.
pub fn get(conn: &Connection, id: &StageId) -> Result<Option<Stage>> {
    read(conn, |conn| {
        let Some(mut stage) = load(conn, BY_ID, id.as_str())?.pop() else {
            return Ok(None);
        };
        stage.parameters = PARAMETERS.list_entries(conn, id.as_str())?;
        Ok(Some(stage))
    })
}

/// The stages of a pipeline by order, with their parameters: two statements whatever their
/// number.
///
/// # Errors
///
/// [`Error::NotFound`] when the pipeline does not exist.
pub fn list(conn: &Connection, pipeline: &PipelineId) -> Result<Vec<Stage>> {
    read(conn, |conn| {
        let mut stages = load(conn, OF_PIPELINE, pipeline.as_str())?;
        if stages.is_empty() {
            super::require_pipeline(conn, pipeline)?;
            return Ok(stages);
        }
        let mut parameters = parameters_of_pipeline(conn, pipeline.as_str())?;
        for stage in &mut stages {
            stage.parameters = parameters.remove(stage.id.as_str()).unwrap_or_default();
        }
        Ok(stages)
    })
}

fn stage_not_found(id: &StageId) -> Error {
    Error::NotFound {
        entity: "stage",
        key: id.to_string(),
    }
}

/// Adds a stage to a pipeline: at order `position` (the stages from that order on move down
/// one), or after the stage with the highest order when `position` is `None` or past it.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the field; [`Error::NotFound`] when the pipeline does not
/// exist.
pub fn add(
    conn: &Connection,
    pipeline: &PipelineId,
    stage: &NewStage,
    position: Option<u32>,
) -> Result<Stage> {
    check_new("stage", stage)?;
    write(conn, |conn| {
        let (archived, highest): (bool, Option<i64>) = conn
            .prepare_cached(PIPELINE_STATE)?
            .query_row([pipeline], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(|| pipeline_not_found(pipeline))?;
        let next = match highest {
            None => 0,
            Some(highest) => u32::try_from(highest + 1).map_err(|_| {
                Error::invalid(
                    "order",
                    format!("the pipeline's highest stage order {highest} leaves no room after it"),
                )
            })?,
        };
        let order = position.map_or(next, |p| p.min(next));
        let now = Timestamp::now();
        if order < next {
            conn.prepare_cached(SHIFT_FROM)?
                .execute(params![pipeline, order, 1, now])?;
        }
        insert(conn, pipeline, stage, order, archived, now)
    })
}

/// Writes a stage's fields and parameters (matched by `stage.id`), bumping `updated_at` of what
/// changed, and returns what is stored. An update that changes nothing writes nothing.
///
/// `archived` is not a stage's own: a stage is archived and restored with its pipeline
/// ([`pipelines::archive`](super::pipelines::archive)), so a value other than the stored one is
/// refused rather than ignored.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the field: `order` when another stage of the pipeline has it,
/// `archived` when it differs from the stored value, `pipeline_id` when the stage belongs to
/// another pipeline; [`Error::NotFound`] when the stage does not exist.
pub fn update(conn: &Connection, stage: &Stage) -> Result<Stage> {
    check_stage("stage", stage)?;
    write(conn, |conn| {
        let stored = load(conn, BY_ID, stage.id.as_str())?
            .pop()
            .ok_or_else(|| stage_not_found(&stage.id))?;
        if stored.pipeline_id != stage.pipeline_id {
            return Err(Error::invalid(
                "pipeline_id",
                format!(
                    "stage `{}` belongs to pipeline `{}`",
                    stage.id, stored.pipeline_id
                ),
            ));
        }
        if stored.archived != stage.archived {
            return Err(Error::invalid(
                "archived",
                format!(
                    "is {} but stage `{}` is stored with {}: a stage is archived and restored \
                     with its pipeline (pipelines::archive / pipelines::restore)",
                    stage.archived, stage.id, stored.archived
                ),
            ));
        }
        if stored.order != stage.order
            && conn
                .prepare_cached(ORDER_TAKEN)?
                .query_row(
                    params![stage.pipeline_id, stage.order, stage.id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some()
        {
            return Err(Error::invalid(
                "order",
                format!(
                    "order {} is used by another stage of the pipeline",
                    stage.order
                ),
            ));
        }
        let now = Timestamp::now();
        let changed = update_row(conn, &stored, stage, now)?
            | PARAMETERS.replace_in(conn, stage.id.as_str(), &stage.parameters, now)?;
        if !changed {
            let mut unchanged = stored;
            unchanged.parameters = stage.parameters.clone();
            return Ok(unchanged);
        }
        let mut updated = load(conn, BY_ID, stage.id.as_str())?
            .pop()
            .ok_or_else(|| stage_not_found(&stage.id))?;
        updated.parameters = PARAMETERS.list_entries(conn, stage.id.as_str())?;
        Ok(updated)
    })
}

/// Enables or disables a stage.
///
/// # Errors
///
/// [`Error::NotFound`] when the stage does not exist.
pub fn set_enabled(conn: &Connection, id: &StageId, enabled: bool) -> Result<()> {
    write(conn, |conn| {
        let changed =
            conn.prepare_cached(SET_ENABLED)?
                .execute(params![id, enabled, Timestamp::now()])?;
        if changed == 0 && get_owner(conn, id)?.is_none() {
            return Err(stage_not_found(id));
        }
        Ok(())
    })
}

fn get_owner(conn: &Connection, id: &StageId) -> Result<Option<(PipelineId, u32)>> {
    Ok(conn
        .prepare_cached(OWNER)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Puts a pipeline's stages in the order of `ids`, which must name each of its stages once.
///
/// # Errors
///
/// [`Error::InvalidInput`] (`stage_ids`) when `ids` is not a permutation of the pipeline's
/// stages; [`Error::NotFound`] when the pipeline does not exist.
pub fn reorder(conn: &Connection, pipeline: &PipelineId, ids: &[StageId]) -> Result<()> {
    write(conn, |conn| {
        let stored = load(conn, OF_PIPELINE, pipeline.as_str())?;
        if stored.is_empty() && !super::pipeline_exists(conn, pipeline)? {
            return Err(pipeline_not_found(pipeline));
        }
        let known: HashSet<&StageId> = stored.iter().map(|s| &s.id).collect();
        let given: HashSet<&StageId> = ids.iter().collect();
        if given.len() != ids.len() || known != given {
            return Err(Error::invalid(
                "stage_ids",
                format!(
                    "must name each of the pipeline's {} stages exactly once ({} given, {} distinct, {} of them known)",
                    stored.len(),
                    ids.len(),
                    given.len(),
                    given.iter().filter(|id| known.contains(*id)).count()
                ),
            ));
        }
        let now = Timestamp::now();
        for (order, id) in (0_u32..).zip(ids) {
            conn.prepare_cached(SET_ORDER)?
                .execute(params![id, order, now])?;
        }
        Ok(())
    })
}

/// Removes a stage and its parameters; later stages move up one.
///
/// # Errors
///
/// [`Error::NotFound`] when the stage does not exist.
pub fn remove(conn: &Connection, id: &StageId) -> Result<()> {
    write(conn, |conn| {
        let (pipeline, order) = get_owner(conn, id)?.ok_or_else(|| stage_not_found(id))?;
        conn.prepare_cached(DELETE)?.execute([id])?;
        conn.prepare_cached(SHIFT_FROM)?.execute(params![
            pipeline,
            order + 1,
            -1,
            Timestamp::now()
        ])?;
        Ok(())
    })
}
