//! Rehearsal: what an upgrade will do to the data, found out on an online copy before it
//! touches the database.
//!
//! The copy is one consistent snapshot taken with SQLite's online backup API ([`copy`](super::copy),
//! so others keep writing meanwhile); every pending migration is applied to it exactly as
//! `Migrator::run` would apply it (the same transactions, directives and lint), and each step
//! is measured: rows per table before and after, the schema change, the foreign-key check, the
//! time. The live database is only read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::copy::{
    copy_into, create_private, directory_of, private_name, remove_copy, source_mode,
};
use super::error::{MigrateError, Result};
use super::{LostObject, Migration, Migrator, Rehearsal, RehearsalStep, Script, TableRows};

impl Migrator {
    /// Rehearses the pending migrations on an online copy of the database `conn` is open on
    /// (one consistent snapshot, so other connections may keep writing) and reports what
    /// each would do to the data. The database itself is only read; the copy is deleted, or
    /// left at `keep` (never overwriting a file there).
    ///
    /// ```
    /// use pipeline_store::migrate::{Migration, Migrator};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let url = dir.path().join("app.db").display().to_string();
    /// let conn = pipeline_store::initialize_database(&url)?;
    /// conn.execute_batch("INSERT INTO pipelines (id, name, created_at, updated_at) VALUES ('a', 'a', 't', 't');")?;
    /// let mut migrations = pipeline_store::schema::migrator().migrations().to_vec();
    /// migrations.push(Migration::new(29990101000000, "forget everything", "DELETE FROM pipelines;"));
    /// let rehearsal = Migrator::new(migrations)?.rehearse(&conn, None)?;
    /// assert!(!rehearsal.is_ok());
    /// assert_eq!(rehearsal.rows_lost(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MigrateError::NoFileToCopy`] for an in-memory database (there is no file to copy);
    /// [`MigrateError::CopyTargetExists`] when `keep` exists and
    /// [`MigrateError::CopyDirectoryNotFound`] when its directory does not;
    /// [`MigrateError::Copy`] when SQLite fails to copy (no copy is left behind);
    /// [`MigrateError::Sqlite`] when the copy cannot be read. A migration that fails on the
    /// copy is not an error: it is the rehearsal's [`failure`](Rehearsal::failure). The crate's
    /// `Error` turns these into `InvalidInput`, `AlreadyExists`, `DirectoryNotFound` and
    /// `Backup`.
    pub fn rehearse(&self, conn: &Connection, keep: Option<&Path>) -> Result<Rehearsal> {
        rehearse_sets(&[self], conn, keep)
    }
}

/// Rehearses several sets on one copy, in turn (each one's pending migrations as they are once
/// the sets before it were applied): what [`Migrator::rehearse`] does for one, and an open of
/// a host's database for the library's set and the host's.
///
/// # Errors
///
/// As [`Migrator::rehearse`].
pub(crate) fn rehearse_sets(
    sets: &[&Migrator],
    conn: &Connection,
    keep: Option<&Path>,
) -> Result<Rehearsal> {
    let Some(source) = conn.path().filter(|p| !p.is_empty()) else {
        return Err(MigrateError::NoFileToCopy);
    };
    let scratch;
    let copy_path = if let Some(path) = keep {
        path.to_path_buf()
    } else {
        scratch = tempfile_dir(Path::new(source))?;
        scratch.path.join("rehearsal.db")
    };
    let started = Instant::now();
    take_copy(conn, &copy_path)?;
    let copy_time = started.elapsed();
    let mut copy = Connection::open(&copy_path)?;
    copy.pragma_update(None, "foreign_keys", true)?;
    let size_before = std::fs::metadata(&copy_path).map_or(0, |m| m.len());
    let mut rehearsal = Rehearsal {
        steps: Vec::new(),
        findings: Vec::new(),
        failure: None,
        integrity: Vec::new(),
        size_before,
        size_after: size_before,
        copy_time,
        kept: keep.map(Path::to_path_buf),
    };
    'sets: for set in sets {
        let pending: Vec<&Migration> = set
            .plan_for(&copy, Duration::ZERO)?
            .pending()
            .iter()
            .filter_map(|p| set.migrations().iter().find(|m| m.version() == p.version))
            .collect();
        let scripts: Vec<(&Migration, Script<'_>)> =
            pending.iter().map(|m| (*m, m.up_script())).collect();
        rehearsal
            .findings
            .extend(super::lint_findings(&copy, &scripts));
        for m in pending {
            let rows_before = row_counts(&copy)?;
            let schema_before = super::schema_model(&copy)?;
            let attached_before = attached_objects(&copy)?;
            let started = Instant::now();
            if let Err(error) = set.run_to(&mut copy, m.version()) {
                rehearsal.failure = Some(match &error {
                    MigrateError::Lint { .. } => format!(
                        "the linter refuses migration {} ({}): {error}",
                        m.version(),
                        m.file()
                    ),
                    _ => error.to_string(),
                });
                break 'sets;
            }
            let elapsed = started.elapsed();
            let rows_after = row_counts(&copy)?;
            let lost_objects = lost_objects(&copy, &attached_before, m)?;
            rehearsal.steps.push(RehearsalStep {
                version: m.version(),
                file: m.file().to_owned(),
                elapsed,
                rows: compare_rows(&rows_before, &rows_after),
                schema: super::schema_diff(&schema_before, &super::schema_model(&copy)?),
                foreign_keys: super::foreign_key_violations(&copy)?,
                lost_objects,
            });
        }
    }
    let mut statement = copy.prepare("PRAGMA integrity_check")?;
    rehearsal.integrity = statement
        .query_map([], |r| r.get::<_, String>(0))?
        .filter(|line| !matches!(line.as_deref(), Ok("ok")))
        .collect::<rusqlite::Result<_>>()?;
    drop(statement);
    drop(copy);
    rehearsal.size_after = std::fs::metadata(&copy_path).map_or(0, |m| m.len());
    Ok(rehearsal)
}

/// Copies the database into a new file at `path` (never over an existing one), no wider in
/// permissions than the database itself; on failure nothing is left at `path`.
fn take_copy(conn: &Connection, path: &Path) -> Result<()> {
    let exists = || MigrateError::CopyTargetExists {
        path: path.to_path_buf(),
    };
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(exists());
    }
    let directory = directory_of(path);
    if !directory.is_dir() {
        return Err(MigrateError::CopyDirectoryNotFound {
            path: path.to_path_buf(),
            directory: directory.to_path_buf(),
        });
    }
    match create_private(path, source_mode(conn)) {
        Ok(file) => drop(file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
        Err(source) => {
            return Err(MigrateError::Io {
                operation: "creating the rehearsed copy",
                path: path.to_path_buf(),
                source,
            });
        }
    }
    copy_into(conn, path).map_err(|source| {
        remove_copy(path);
        MigrateError::Copy {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// A directory beside the database for the copy, removed when dropped (beside it, so the copy
/// is on the same file system and its size and speed are the real ones).
struct Scratch {
    path: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempfile_dir(database: &Path) -> Result<Scratch> {
    let path = private_name(database, "database", "rehearsal-", "");
    std::fs::create_dir(&path).map_err(|source| MigrateError::Io {
        operation: "creating the rehearsal's directory",
        path: path.clone(),
        source,
    })?;
    Ok(Scratch { path })
}

/// Every index and trigger written in the schema (not SQLite's automatic indexes): kind, name,
/// table.
fn attached_objects(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut statement = conn.prepare(
        "SELECT type, name, tbl_name FROM sqlite_master \
         WHERE type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
    )?;
    let objects = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(objects)
}

/// The objects of `before` that `migration` lost without dropping them by name, on tables that
/// exist after it.
fn lost_objects(
    conn: &Connection,
    before: &[(String, String, String)],
    migration: &Migration,
) -> Result<Vec<LostObject>> {
    let after = attached_objects(conn)?;
    let dropped = pipeline_store_build::sql::objects_dropped(migration.sql());
    let mut lost = Vec::new();
    for (kind, name, table) in before {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if after.iter().any(|(k, n, _)| k == kind && same(n, name))
            || dropped.iter().any(|(k, n)| k == kind && same(n, name))
        {
            continue;
        }
        let table_remains: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE)",
            [table],
            |r| r.get(0),
        )?;
        if table_remains {
            lost.push(LostObject {
                kind: if kind == "index" {
                    super::ObjectKind::Index
                } else {
                    super::ObjectKind::Trigger
                },
                name: name.clone(),
                table: table.clone(),
            });
        }
    }
    Ok(lost)
}

/// Rows of every table but SQLite's own and the history, by name.
fn row_counts(conn: &Connection) -> Result<Vec<(String, u64)>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get::<_, String>(0))?
        .filter(|name| name.as_ref().map_or(true, |n| !super::is_internal(n)))
        .collect::<rusqlite::Result<_>>()?;
    let mut counts = Vec::with_capacity(tables.len());
    for table in tables {
        // A table name cannot be a bound parameter; it comes from sqlite_master and is quoted.
        let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
        let count: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
        counts.push((table, u64::try_from(count).unwrap_or(0)));
    }
    Ok(counts)
}

fn compare_rows(before: &[(String, u64)], after: &[(String, u64)]) -> Vec<TableRows> {
    let mut names: Vec<&String> = before.iter().chain(after).map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    let find =
        |side: &[(String, u64)], name: &str| side.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
    names
        .into_iter()
        .map(|name| TableRows {
            table: name.clone(),
            before: find(before, name),
            after: find(after, name),
        })
        .collect()
}
