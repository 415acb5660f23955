//! `check`: integrity, foreign keys and the migration history of a database, as data.

use std::path::Path;

use rusqlite::Connection;

use super::derived::DerivedProblem;
use super::file::not_a_database;
use super::migrator;
use crate::error::Result;
use crate::migrate::SchemaModel;
use crate::migrate::{
    Difference, ForeignKeyViolation, MigrationState, MigrationStatus, Migrator, ObjectKind,
};
use crate::repo::tags::COPY_TRIGGER;

/// What [`check`] found. Empty lists mean healthy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Problems reported by `PRAGMA integrity_check` (empty when it says `ok`).
    pub integrity: Vec<String>,
    /// Rows whose foreign key points at no parent (`PRAGMA foreign_key_check`).
    pub foreign_keys: Vec<ForeignKeyViolation>,
    /// Versions whose state is a problem: modified, missing or dirty.
    pub migrations: Vec<MigrationStatus>,
    /// Pending versions older than the newest applied one: the runner would refuse them.
    pub out_of_order: Vec<MigrationStatus>,
    /// Versions not applied yet (not a problem: the next writable open applies them).
    pub pending: Vec<MigrationStatus>,
    /// Applied versions whose file differs only in line endings or a BOM (not a problem;
    /// `Migrator::repair` can record the file's checksum).
    pub line_endings: Vec<MigrationStatus>,
    /// How the schema differs from the one the applied migrations build ([`drift`]).
    pub drift: Vec<Difference>,
    /// History tables of migration sets that were not given to the check (a host program's,
    /// found by their shape: sqlx's history columns). Not a problem.
    pub other_histories: Vec<String>,
    /// Objects no given set makes that belong to those other sets rather than being drift: when
    /// other histories are there, their tables, and the indexes, triggers and views on tables
    /// no given set makes. Not a problem; drift on the given sets' own tables (a column, an
    /// index added to `pipelines`) still is.
    pub other_sets: Vec<Difference>,
    /// Derived data out of step with what it is derived from (the tag rows' copies of their
    /// pipeline's name and archived flag, and the trigger that keeps them in step), whether or
    /// not the migrations' replay would lose it too; [`repair_derived`](super::repair_derived)
    /// repairs it.
    pub derived: Vec<DerivedProblem>,
}

impl CheckReport {
    /// `true` when nothing is wrong (pending migrations are not wrong).
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.integrity.is_empty()
            && self.foreign_keys.is_empty()
            && self.migrations.is_empty()
            && self.out_of_order.is_empty()
            && self.drift.is_empty()
            && self.derived.is_empty()
    }
}

/// Checks a database: `PRAGMA integrity_check`, `PRAGMA foreign_key_check`, the migration
/// history against this crate's migrations, schema drift and derived data. Reads only.
///
/// ```
/// let conn = pipeline_store::initialize_database(":memory:")?;
/// assert!(pipeline_store::schema::check(&conn)?.is_ok());
/// # Ok::<(), pipeline_store::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Corrupt`](crate::Error::Corrupt) naming the file when the database is too damaged for the checks to run
/// (damage they can read past is reported in [`CheckReport::integrity`]); [`Error::Sqlite`](crate::Error::Sqlite) when
/// they cannot run for another reason.
pub fn check(conn: &Connection) -> Result<CheckReport> {
    check_with(conn, migrator())
}

/// [`check`] against another set of migrations.
///
/// # Errors
///
/// As [`check`].
pub fn check_with(conn: &Connection, migrator: &Migrator) -> Result<CheckReport> {
    check_sets(conn, &[migrator])
}

/// [`check`] of a host program's database: this crate's migrations and the host's, each
/// against its own history table; the host's tables are then part of the expected schema, not
/// drift. The same as `check_sets(conn, &[schema::migrator(), host])`.
///
/// # Errors
///
/// As [`check`].
pub fn check_host(conn: &Connection, host: &Migrator) -> Result<CheckReport> {
    check_sets(conn, &[migrator(), host])
}

/// [`check`] against several sets of migrations, each with its own history table, replayed in
/// turn for drift.
///
/// # Errors
///
/// As [`check`].
pub fn check_sets(conn: &Connection, sets: &[&Migrator]) -> Result<CheckReport> {
    check_report(conn, sets).map_err(|error| match conn.path() {
        Some(path) if !path.is_empty() => not_a_database(error, Path::new(path)),
        _ => error,
    })
}

fn check_report(conn: &Connection, sets: &[&Migrator]) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut statement = conn.prepare("PRAGMA integrity_check")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let line: String = row.get(0)?;
        if line != "ok" {
            report.integrity.push(line);
        }
    }
    drop(rows);
    report.foreign_keys = crate::migrate::foreign_key_violations(conn)?;
    for migrator in sets {
        sort_status(&mut report, migrator.status(conn)?);
    }
    let expected = crate::migrate::expected_schema(sets, conn)?;
    let found = crate::migrate::schema_model(conn)?;
    let drift = crate::migrate::schema_diff(&expected, &found);
    report.other_histories = found
        .histories()
        .iter()
        .filter(|h| {
            !sets
                .iter()
                .any(|m| m.history_table_name().eq_ignore_ascii_case(h))
        })
        .cloned()
        .collect();
    if report.other_histories.is_empty() {
        report.drift = drift;
    } else {
        for difference in drift {
            if belongs_to_another_set(conn, &expected, &found, &difference) {
                report.other_sets.push(difference);
            } else {
                report.drift.push(difference);
            }
        }
    }
    if let Some(derived) = super::derived::problems(conn)? {
        // The copy trigger is judged against what the library's migration creates, whatever
        // the replayed migrations make of it (a rebuild of `pipelines` in another set may lose
        // it there too), and reported once, here.
        report.drift.retain(|d| {
            !(d.kind == ObjectKind::Trigger && d.object.eq_ignore_ascii_case(COPY_TRIGGER))
        });
        report.derived = derived;
    }
    Ok(report)
}

/// Whether an unexpected object is another set's: a table, or an index, trigger or view on a
/// table that no given set makes.
fn belongs_to_another_set(
    conn: &Connection,
    expected: &SchemaModel,
    found: &SchemaModel,
    difference: &Difference,
) -> bool {
    if difference.property != "unexpected" {
        return false;
    }
    match difference.kind {
        ObjectKind::Table | ObjectKind::View => true,
        ObjectKind::Index => found
            .index_table(&difference.object)
            .is_some_and(|table| !expected.has_table(table)),
        ObjectKind::Trigger => {
            let table: Option<String> = conn
                .query_row(
                    "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND lower(name) = lower(?1)",
                    [&difference.object],
                    |r| r.get(0),
                )
                .ok();
            table.is_some_and(|table| !expected.has_table(&table))
        }
        _ => false,
    }
}

/// Files a set's status rows under what they mean.
fn sort_status(report: &mut CheckReport, status: Vec<MigrationStatus>) {
    let latest_applied = status
        .iter()
        .filter(|row| row.applied.is_some())
        .map(|row| row.version)
        .max();
    for row in status {
        match row.state {
            MigrationState::Applied => {}
            MigrationState::Pending
                if latest_applied.is_some_and(|latest| latest > row.version) =>
            {
                report.out_of_order.push(row);
            }
            MigrationState::Pending => report.pending.push(row),
            MigrationState::LineEndings => report.line_endings.push(row),
            _ => report.migrations.push(row),
        }
    }
}

/// How the live schema differs from the schema the applied migrations build when replayed on
/// an empty in-memory database: tables, columns (type, not null, default, primary key
/// position), unique constraints, foreign keys (columns, target, actions), indexes (columns,
/// unique, partial `WHERE`), triggers and views, each difference once. Empty when the schema is
/// what the migrations make. Reads only.
///
/// ```
/// use pipeline_store::migrate::ObjectKind;
///
/// let conn = pipeline_store::initialize_database(":memory:")?;
/// assert!(pipeline_store::schema::drift(&conn, pipeline_store::schema::migrator())?.is_empty());
/// conn.execute_batch("CREATE INDEX by_hand ON pipelines(updated_at);")?;
/// let drift = pipeline_store::schema::drift(&conn, pipeline_store::schema::migrator())?;
/// assert_eq!((drift[0].kind, drift[0].object.as_str(), drift[0].property), (ObjectKind::Index, "by_hand", "unexpected"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Sqlite`](crate::Error::Sqlite) when the schema cannot be read or an applied
/// migration cannot be replayed.
pub fn drift(conn: &Connection, migrator: &Migrator) -> Result<Vec<Difference>> {
    Ok(migrator.drift(conn)?)
}
