//! The history table, `_sqlx_migrations`: its DDL (sqlx's, byte for byte) and every statement
//! this crate runs on it.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use crate::error::Result;

/// The history table's DDL, as sqlx writes it for SQLite.
pub(crate) const CREATE_HISTORY: &str = "
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);";

const HISTORY_EXISTS: &str =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";

const SELECT_HISTORY: &str = "SELECT version, description, installed_on, success, checksum, execution_time \
     FROM _sqlx_migrations ORDER BY version";

/// In table order, not `ORDER BY version`: rows are almost always inserted by version, and a
/// scan of the table alone costs less than walking the version index and looking each row up.
/// [`read_recorded`] sorts what comes back out of order.
const SELECT_RECORDED: &str = "SELECT version, success, checksum FROM _sqlx_migrations";

const SELECT_DESCRIPTION: &str = "SELECT description FROM _sqlx_migrations WHERE version = ?1";

/// Removes a version from the history (revert, repair).
pub(crate) const FORGET_HISTORY: &str = "DELETE FROM _sqlx_migrations WHERE version = ?1";

pub(crate) const INSERT_HISTORY: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
     VALUES (?1, ?2, TRUE, ?3, ?4)";

/// Claims a `-- no-transaction` migration before it runs: a `success = 0` row, unless another
/// process has one already.
pub(super) const CLAIM: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
     VALUES (?1, ?2, FALSE, ?3, -1) ON CONFLICT (version) DO NOTHING";
/// Marks a claimed migration done.
pub(super) const FINISH: &str =
    "UPDATE _sqlx_migrations SET success = TRUE, execution_time = ?2 WHERE version = ?1";
/// Marks an applied migration as being reverted outside a transaction.
pub(super) const MARK_REVERTING: &str =
    "UPDATE _sqlx_migrations SET success = FALSE WHERE version = ?1 AND success = TRUE";
/// Whether a version is in the history.
pub(super) const IS_RECORDED: &str = "SELECT 1 FROM _sqlx_migrations WHERE version = ?1";

/// Records a version as applied without running it (baseline).
pub(super) const INSERT_BASELINE: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
     VALUES (?1, ?2, TRUE, ?3, 0) ON CONFLICT (version) DO NOTHING";
/// Rewrites a recorded checksum (repair of line endings).
pub(super) const SET_CHECKSUM: &str =
    "UPDATE _sqlx_migrations SET checksum = ?2 WHERE version = ?1";
/// Marks a dirty row applied (repair).
pub(super) const MARK_APPLIED: &str = "UPDATE _sqlx_migrations SET success = TRUE, checksum = coalesce(?2, checksum) WHERE version = ?1";

/// One row of `_sqlx_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppliedMigration {
    /// The version.
    pub version: i64,
    /// The description recorded when it was applied.
    pub description: String,
    /// When it was applied, as SQLite's `CURRENT_TIMESTAMP` wrote it (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub installed_on: String,
    /// `false` when the row records a run that did not finish.
    pub success: bool,
    /// The checksum recorded when it was applied.
    pub checksum: Vec<u8>,
    /// How long it took, in nanoseconds (sqlx writes `-1` until it knows).
    pub execution_time: i64,
}

impl AppliedMigration {
    /// [`installed_on`](Self::installed_on) as a [`Timestamp`](crate::model::Timestamp): SQLite's
    /// `YYYY-MM-DD HH:MM:SS` (UTC, what `CURRENT_TIMESTAMP` writes) or RFC 3339; `None` for any
    /// other text another tool may have stored.
    ///
    /// ```
    /// let conn = pipeline_store::initialize_database(":memory:")?;
    /// let first = &pipeline_store::migrate::applied(&conn)?[0];
    /// let at = first.installed_at().expect("written by CURRENT_TIMESTAMP");
    /// assert!(at.to_string().ends_with('Z'));
    /// # Ok::<(), pipeline_store::Error>(())
    /// ```
    #[must_use]
    pub fn installed_at(&self) -> Option<crate::model::Timestamp> {
        let text = self.installed_on.trim();
        if let Ok(t) = crate::model::Timestamp::parse(text) {
            return Some(t);
        }
        // `YYYY-MM-DD HH:MM:SS[.SSS]` in UTC is RFC 3339 with a space for the `T` and no zone.
        crate::model::Timestamp::parse(&format!("{}Z", text.replacen(' ', "T", 1))).ok()
    }

    /// [`execution_time`](Self::execution_time) as a [`Duration`], when it is known.
    #[must_use]
    pub fn duration(&self) -> Option<Duration> {
        u64::try_from(self.execution_time)
            .ok()
            .map(Duration::from_nanos)
    }
}

/// The history of a database: every row of `_sqlx_migrations`, by version.
///
/// A database that was never migrated has an empty history. Reading it writes nothing.
///
/// # Errors
///
/// [`Error::Sqlite`](crate::Error::Sqlite) when the table cannot be read (for example when a
/// table of that name has other columns).
pub fn applied(conn: &Connection) -> Result<Vec<AppliedMigration>> {
    Ok(read_history(conn)?)
}

fn history_exists(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached(HISTORY_EXISTS)?
        .query_row([], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(crate) fn read_history(conn: &Connection) -> rusqlite::Result<Vec<AppliedMigration>> {
    if !history_exists(conn)? {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(SELECT_HISTORY)?;
    let rows = statement.query_map([], |row| {
        Ok(AppliedMigration {
            version: row.get(0)?,
            description: row.get(1)?,
            installed_on: row.get(2)?,
            success: row.get(3)?,
            checksum: row.get(4)?,
            execution_time: row.get(5)?,
        })
    })?;
    rows.collect()
}

/// What the runner needs of a history row to plan: no strings, and a checksum that is not a
/// 48-byte SHA-384 kept as `None` (it can match nothing). Reading these costs no allocation per
/// row, which keeps opening a database with a long history cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub version: i64,
    pub success: bool,
    pub checksum: Option<[u8; 48]>,
}

/// The history for planning, by version; `None` when the database has no history table.
pub(crate) fn read_recorded(conn: &Connection) -> rusqlite::Result<Option<Vec<Recorded>>> {
    // Warm path: the table exists, one statement. Only when preparing fails is the schema
    // asked whether the history exists at all (a database never migrated).
    let mut statement = match conn.prepare_cached(SELECT_RECORDED) {
        Ok(statement) => statement,
        Err(_) if !history_exists(conn)? => return Ok(None),
        // The table exists: preparing used a schema this connection had not reloaded since
        // another connection created the table. Reading sqlite_master reloaded it.
        Err(_) => conn.prepare_cached(SELECT_RECORDED)?,
    };
    let mut recorded = Vec::new();
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        recorded.push(Recorded {
            version: row.get(0)?,
            success: row.get(1)?,
            checksum: row
                .get_ref(2)?
                .as_blob()
                .ok()
                .and_then(|blob| <[u8; 48]>::try_from(blob).ok()),
        });
    }
    if !recorded.is_sorted_by_key(|r| r.version) {
        recorded.sort_unstable_by_key(|r| r.version);
    }
    Ok(Some(recorded))
}

/// The recorded description of a version, for messages about versions this build does not know.
pub(crate) fn recorded_description(conn: &Connection, version: i64) -> String {
    conn.prepare_cached(SELECT_DESCRIPTION)
        .and_then(|mut s| s.query_row([version], |row| row.get(0)))
        .unwrap_or_else(|_| format!("version {version}"))
}
