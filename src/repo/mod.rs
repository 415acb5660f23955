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

/// Begins a transaction that writes: `BEGIN IMMEDIATE`, which takes the write lock at once
/// (waiting up to the busy timeout for it), so reads and writes inside it never meet
/// [`Error::DeferredWrite`]. The way to compose several repository calls, reads first, into one
/// atomic change; like [`Connection::unchecked_transaction`] it takes `&Connection`, and it
/// rolls back when dropped without [`commit`](rusqlite::Transaction::commit).
///
/// ```
/// use pipeline_store::model::NewPipeline;
/// use pipeline_store::repo::{self, metrics, pipelines};
///
/// let conn = pipeline_store::initialize_database(":memory:")?;
/// let p = pipelines::create(&conn, &NewPipeline::new("nightly"))?;
/// let tx = repo::write_transaction(&conn)?;
/// let done = metrics::get(&tx, &p.id)?.map_or(0, |m| m.bytes_processed);
/// metrics::update_progress(&tx, &p.id, done + 4096, 1)?;
/// tx.commit()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Busy`] when another connection holds the write lock past the busy timeout;
/// [`Error::Sqlite`] inside another transaction (SQLite does not nest them: use the repository
/// functions directly, they make savepoints).
pub fn write_transaction(conn: &Connection) -> Result<rusqlite::Transaction<'_>> {
    Ok(rusqlite::Transaction::new_unchecked(
        conn,
        TransactionBehavior::Immediate,
    )?)
}

/// Runs `f` atomically: in a new `BEGIN IMMEDIATE` transaction, or in a savepoint of the
/// caller's open transaction. In a caller's transaction that has read but not written, a
/// `SQLITE_BUSY` is the refused upgrade of a deferred transaction, not a timeout:
/// [`Error::DeferredWrite`].
pub(crate) fn write<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    if conn.is_autocommit() {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    } else {
        let read_only_so_far = conn
            .transaction_state(Some(rusqlite::MAIN_DB))
            .is_ok_and(|state| state == rusqlite::TransactionState::Read);
        conn.execute_batch("SAVEPOINT pipeline_store")?;
        let outcome = f(conn).map_err(|error| match error {
            Error::Busy { source } if read_only_so_far => Error::DeferredWrite { source },
            other => other,
        });
        match outcome {
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
mod tests;
