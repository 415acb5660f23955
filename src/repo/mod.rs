//! Plain-function repositories, one module per table.
//!
//! Every function takes `&Connection`, so it also runs on a caller's
//! [`rusqlite::Transaction`] (which derefs to `Connection`).
//!
//! * **Writes are atomic.** A function that writes opens its own `BEGIN IMMEDIATE` transaction
//!   when the connection is in autocommit mode (no deferred transaction that could meet
//!   `SQLITE_BUSY` when it upgrades to a write under WAL), or a savepoint inside the caller's
//!   transaction, so a caller that rolls back undoes it.
//! * **Reads are consistent.** Loading an aggregate reads every table inside one read
//!   transaction, with a fixed number of statements whatever the number of stages.
//! * **Errors are typed.** A missing row is [`Error::NotFound`], a duplicate name
//!   [`Error::NameTaken`], a refused argument [`Error::InvalidInput`] naming the field, a stored
//!   value that cannot be decoded [`Error::InvalidData`] naming table, row and column.

pub mod config;
pub mod metrics;
pub mod parameters;
pub mod pipelines;
pub mod stages;
pub mod tags;

mod kv;

use std::fmt::Write as _;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, types::FromSql};

use crate::error::{Error, Result};
use crate::model::PipelineId;

/// Runs `f` atomically: in a new `BEGIN IMMEDIATE` transaction, or in a savepoint of the
/// caller's open transaction.
pub(crate) fn write<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    if conn.is_autocommit() {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    } else {
        conn.execute_batch("SAVEPOINT pipeline_store")?;
        match f(conn) {
            Ok(value) => {
                conn.execute_batch("RELEASE pipeline_store")?;
                Ok(value)
            }
            Err(error) => {
                // Undo this function's writes, keep the caller's transaction open. The error the
                // caller needs is the one that made us roll back; a failed rollback is logged
                // beside it (the caller's transaction is then best rolled back whole).
                if let Err(rollback) =
                    conn.execute_batch("ROLLBACK TO pipeline_store; RELEASE pipeline_store")
                {
                    log::error!(
                        "rolling back to the savepoint after `{error}` failed as well: {rollback}; \
                         roll the enclosing transaction back"
                    );
                }
                Err(error)
            }
        }
    }
}

/// Runs `f` on one consistent snapshot: in a read transaction when none is open.
pub(crate) fn read<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    if conn.is_autocommit() {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    } else {
        f(conn)
    }
}

/// Whether the pipeline row exists. The one statement on `pipelines` that lives here rather than
/// in `pipelines`: every child table's module asks it, and `pipelines` (the aggregate) calls
/// into those modules, so keeping it here keeps the modules from importing each other in a
/// circle.
const PIPELINE_EXISTS: &str = "SELECT 1 FROM pipelines WHERE id = ?1";

/// Whether a pipeline with this id exists (archived or not).
pub(crate) fn pipeline_exists(conn: &Connection, id: &PipelineId) -> Result<bool> {
    Ok(conn
        .prepare_cached(PIPELINE_EXISTS)?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// [`Error::NotFound`] for a pipeline.
pub(crate) fn pipeline_not_found(id: &PipelineId) -> Error {
    Error::NotFound {
        entity: "pipeline",
        key: id.to_string(),
    }
}

/// Fails with [`Error::NotFound`] unless the pipeline exists.
pub(crate) fn require_pipeline(conn: &Connection, id: &PipelineId) -> Result<()> {
    if pipeline_exists(conn, id)? {
        Ok(())
    } else {
        Err(pipeline_not_found(id))
    }
}

/// A JSON array of strings, bound as one parameter and read with `json_each(?)`: a list of ids
/// for `IN (...)` without building SQL from values.
pub(crate) fn json_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

/// A `u64` as SQLite's `i64`, refused (never wrapped) when it does not fit.
pub(crate) fn to_i64(field: &str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        Error::invalid(
            field,
            format!(
                "{value} is larger than SQLite's largest integer ({})",
                i64::MAX
            ),
        )
    })
}

/// Where a column value comes from, for [`Error::InvalidData`].
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub table: &'static str,
    pub row: &'a str,
}

impl Source<'_> {
    /// Reads column `index`, naming table, row and column when it cannot be decoded.
    pub(crate) fn get<T: FromSql>(
        &self,
        row: &Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<T> {
        row.get(index)
            .map_err(|e| self.invalid(column, e.to_string()))
    }

    /// Reads an `INTEGER` column that holds an unsigned quantity.
    pub(crate) fn get_u64(&self, row: &Row<'_>, index: usize, column: &'static str) -> Result<u64> {
        let value: i64 = self.get(row, index, column)?;
        u64::try_from(value).map_err(|_| self.invalid(column, format!("{value} is negative")))
    }

    /// Reads a nullable `INTEGER` column that holds an unsigned quantity.
    pub(crate) fn get_opt_u64(
        &self,
        row: &Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<Option<u64>> {
        let value: Option<i64> = self.get(row, index, column)?;
        value
            .map(|v| u64::try_from(v).map_err(|_| self.invalid(column, format!("{v} is negative"))))
            .transpose()
    }

    pub(crate) fn invalid(&self, column: &'static str, reason: String) -> Error {
        Error::InvalidData {
            table: self.table,
            row: self.row.to_owned(),
            column,
            reason,
        }
    }
}

/// Refuses empty text and control characters in a name-like field.
pub(crate) fn check_name(field: &str, value: &str, max_chars: Option<usize>) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if let Some(max) = max_chars {
        let count = value.chars().count();
        if count > max {
            return Err(Error::invalid(
                field,
                format!("is {count} characters long, the limit is {max}"),
            ));
        }
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("contains the control character {c:?}"),
        ));
    }
    Ok(())
}

/// Refuses an empty key.
pub(crate) fn check_key(field: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        Err(Error::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Every statement of the repositories, for the query-plan test.
#[cfg(test)]
pub(crate) fn all_statements() -> Vec<(&'static str, &'static str)> {
    let mut all = vec![("pipeline exists", PIPELINE_EXISTS)];
    all.extend_from_slice(pipelines::STATEMENTS);
    all.extend_from_slice(pipelines::list::STATEMENTS);
    all.extend_from_slice(stages::STATEMENTS);
    all.extend_from_slice(kv::STATEMENTS);
    all.extend_from_slice(metrics::STATEMENTS);
    all.extend_from_slice(tags::STATEMENTS);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_arrays_escape_everything_json_needs() {
        let conn = Connection::open_in_memory().unwrap();
        let ids = [
            "plain",
            "quote\"d",
            "back\\slash",
            "new\nline",
            "nul\0",
            "emoji 🚀",
        ];
        let json = json_array(ids);
        let mut statement = conn.prepare("SELECT value FROM json_each(?1)").unwrap();
        let back: Vec<String> = statement
            .query_map([&json], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(back, ids);
    }

    #[test]
    fn a_failed_savepoint_rollback_keeps_the_original_error() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("BEGIN").unwrap();
        // The closure releases the savepoint itself, so `ROLLBACK TO` has nothing to go back to.
        let error = write(&conn, |conn| -> Result<()> {
            conn.execute_batch("RELEASE pipeline_store")?;
            Err(Error::invalid("name", "the original problem"))
        })
        .unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput { field, reason } if field == "name" && reason == "the original problem"),
            "{error}"
        );
    }

    /// Tables that grow with use: a full scan of one of them is a bug.
    const GROWING: [&str; 6] = [
        "pipelines",
        "pipeline_stages",
        "pipeline_configuration",
        "stage_parameters",
        "processing_metrics",
        "pipeline_tags",
    ];

    #[test]
    fn no_repository_statement_scans_a_growing_table() {
        let conn = crate::initialize_database(":memory:").unwrap();
        let statements = all_statements();
        assert!(statements.len() > 30, "every module lists its statements");
        for (name, sql) in statements {
            let mut statement = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let nulls = std::iter::repeat_n(rusqlite::types::Null, statement.parameter_count());
            let details: Vec<String> = statement
                .query_map(rusqlite::params_from_iter(nulls), |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            // Pages stop reading after their limit: sorting first would read every row. A tagged
            // page reads only the tag's pipelines (through the tag index) and sorts those.
            if name.starts_with("pipelines page") && !name.ends_with("tagged") {
                assert!(
                    !details.iter().any(|d| d.contains("TEMP B-TREE")),
                    "{name} sorts: {details:?}"
                );
                // Each status is served by an index that holds only its rows, so a page of
                // archived pipelines never walks past active ones (and the other way round).
                let index = match name {
                    "pipelines page active" => "idx_pipelines_name",
                    "pipelines page archived" => "idx_pipelines_archived_name",
                    _ => "sqlite_autoindex_pipelines_2",
                };
                assert!(
                    details
                        .iter()
                        .any(|d| d.contains(&format!("USING INDEX {index} "))),
                    "{name} does not use {index}: {details:?}"
                );
            }
            for detail in &details {
                // `SCAN t` without `USING ... INDEX` reads every row of t.
                for table in GROWING {
                    let scans =
                        detail.starts_with(&format!("SCAN {table}")) && !detail.contains("USING");
                    assert!(!scans, "{name} scans {table}: {details:?}\n{sql}");
                }
            }
        }
    }

    /// Runs every public repository function, in every mode that picks a different statement,
    /// with the parameters its callers really bind; returns the SQL text SQLite ran.
    #[expect(clippy::too_many_lines, reason = "one scenario, one call per function")]
    fn statements_run_by_the_public_api() -> Vec<String> {
        use crate::model::{NewPipeline, NewStage, ProcessingMetrics, StageType};
        use std::sync::{Arc, Mutex};

        let mut conn = crate::initialize_database(":memory:").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        conn.trace_v2(
            rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
            Some(move |event: rusqlite::trace::TraceEvent<'_>| {
                if let rusqlite::trace::TraceEvent::Stmt(_, sql) = event {
                    sink.lock().unwrap().push(sql.to_owned());
                }
            }),
        )
        .unwrap();
        let c = &conn;
        let new = NewPipeline::new("every-statement")
            .stage(NewStage::new("a", StageType::Checksum, "sha256").parameter("k", "v"))
            .stage(NewStage::new("b", StageType::Compression, "zstd"))
            .config("key", "value")
            .tag("nightly")
            .metrics(ProcessingMetrics::default());
        let p = pipelines::create(c, &new).unwrap();
        let taken = pipelines::create(c, &NewPipeline::new("every-statement")).unwrap_err();
        assert!(matches!(taken, Error::NameTaken { .. }), "{taken}");
        pipelines::get(c, &p.id).unwrap().unwrap();
        pipelines::find_by_name(c, "every-statement")
            .unwrap()
            .unwrap();
        assert!(pipelines::exists(c, &p.id).unwrap());
        for status in [
            pipelines::Status::Active,
            pipelines::Status::Archived,
            pipelines::Status::All,
        ] {
            pipelines::count(c, status).unwrap();
            for tag in [None, Some("nightly")] {
                let mut query = pipelines::ListQuery::active();
                query.status = status;
                query.tag = tag.map(str::to_owned);
                pipelines::list(c, &query).unwrap();
                pipelines::list_full(c, &query).unwrap();
            }
        }
        pipelines::find_by_config(c, "key", "value").unwrap();
        pipelines::rename(c, &p.id, "renamed").unwrap();
        let mut changed = pipelines::get(c, &p.id).unwrap().unwrap();
        changed.configuration.insert("other".into(), "x".into());
        let changed = pipelines::update(c, &changed).unwrap();

        let a = &changed.stages[0];
        stages::get(c, &a.id).unwrap().unwrap();
        stages::list(c, &p.id).unwrap();
        let added = stages::add(
            c,
            &p.id,
            &NewStage::new("c", StageType::Transform, "x"),
            Some(0),
        )
        .unwrap();
        let mut moved = stages::get(c, &a.id).unwrap().unwrap();
        moved.order = 10;
        stages::update(c, &moved).unwrap();
        stages::set_enabled(c, &a.id, false).unwrap();
        let mut ids: Vec<_> = stages::list(c, &p.id)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        ids.reverse();
        stages::reorder(c, &p.id, &ids).unwrap();
        stages::remove(c, &added.id).unwrap();

        config::set(c, &p.id, "k2", "v2").unwrap();
        config::get(c, &p.id, "k2").unwrap();
        config::list(c, &p.id).unwrap();
        config::remove(c, &p.id, "k2").unwrap();
        config::set(
            c,
            &crate::model::PipelineId::parse("missing").unwrap(),
            "k",
            "v",
        )
        .unwrap_err();
        parameters::set(c, &a.id, "k2", "v2").unwrap();
        parameters::get(c, &a.id, "k2").unwrap();
        parameters::list(c, &a.id).unwrap();
        parameters::remove(c, &a.id, "k2").unwrap();
        parameters::set(
            c,
            &crate::model::StageId::parse("missing").unwrap(),
            "k",
            "v",
        )
        .unwrap_err();

        metrics::record(c, &p.id, &ProcessingMetrics::default()).unwrap();
        metrics::get(c, &p.id).unwrap();
        metrics::update_progress(c, &p.id, 1, 1).unwrap();
        metrics::clear(c, &p.id).unwrap();

        tags::add(c, &p.id, "weekly").unwrap();
        tags::list(c, &p.id).unwrap();
        tags::remove(c, &p.id, "weekly").unwrap();

        pipelines::archive(c, &p.id).unwrap();
        pipelines::restore(c, &p.id).unwrap();
        pipelines::delete(c, &p.id).unwrap();

        conn.trace_v2(
            rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
            None::<fn(rusqlite::trace::TraceEvent<'_>)>,
        )
        .unwrap();
        seen.lock().unwrap().clone()
    }

    #[test]
    fn every_statement_is_run_by_its_callers_with_their_parameters() {
        // Preparing a statement checks its text; only running it through its caller checks that
        // the caller binds what the text numbers (`?3` with two values bound fails here).
        let seen = statements_run_by_the_public_api();
        let missing: Vec<&str> = all_statements()
            .into_iter()
            .filter(|(_, sql)| !seen.iter().any(|ran| ran == sql))
            .map(|(name, _)| name)
            .collect();
        assert!(
            missing.is_empty(),
            "never run by the public API: {missing:?}"
        );
    }
}
