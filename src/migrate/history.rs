//! The history table, `_sqlx_migrations` unless a migrator names another: its DDL (sqlx's, byte
//! for byte) and every statement this crate runs on it.

use std::borrow::Cow;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::Result;

/// The history table sqlx keeps, and the one a [`Migrator`](super::Migrator) keeps unless told
/// otherwise ([`Migrator::history_table`](super::Migrator::history_table)).
pub const DEFAULT_HISTORY_TABLE: &str = "_sqlx_migrations";

/// Every statement this crate runs on one history table: sqlx's DDL and statements with the
/// table's name in them. The default table's are constants; another table's are made once,
/// when the migrator is told its name (a name checked to be a plain identifier, so the text
/// built from it is always one SQL identifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryTable {
    pub(crate) name: Cow<'static, str>,
    /// The DDL, as sqlx writes it for SQLite.
    pub(crate) create: Cow<'static, str>,
    exists: Cow<'static, str>,
    select_history: Cow<'static, str>,
    /// In table order, not `ORDER BY version`: rows are almost always inserted by version, and
    /// a scan of the table alone costs less than walking the version index and looking each
    /// row up. [`HistoryTable::read_recorded`] sorts what comes back out of order.
    select_recorded: Cow<'static, str>,
    select_description: Cow<'static, str>,
    /// Removes a version from the history (revert, repair).
    pub(crate) forget: Cow<'static, str>,
    pub(crate) insert: Cow<'static, str>,
    /// Claims a `-- no-transaction` migration before it runs: a `success = 0` row, unless
    /// another process has one already.
    pub(crate) claim: Cow<'static, str>,
    /// Marks a claimed migration done.
    pub(crate) finish: Cow<'static, str>,
    /// Marks an applied migration as being reverted outside a transaction.
    pub(crate) mark_reverting: Cow<'static, str>,
    /// Whether a version is in the history.
    pub(crate) is_recorded: Cow<'static, str>,
    /// Records a version as applied without running it (baseline).
    pub(crate) insert_baseline: Cow<'static, str>,
    /// Rewrites a recorded checksum (repair of line endings).
    pub(crate) set_checksum: Cow<'static, str>,
    /// Marks a dirty row applied (repair).
    pub(crate) mark_applied: Cow<'static, str>,
}

/// The statements of one history table: each is text before the table's name and after it,
/// joined by `$join` (at compile time for the default table, once at run time for another).
macro_rules! history_sql {
    ($join:ident, $t:expr) => {
        HistoryTable {
            name: $join!($t, "", ""),
            create: $join!(
                $t,
                "
CREATE TABLE IF NOT EXISTS ",
                " (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);"
            ),
            exists: $join!(
                $t,
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '",
                "'"
            ),
            select_history: $join!(
                $t,
                "SELECT version, description, installed_on, success, checksum, execution_time FROM ",
                " ORDER BY version"
            ),
            select_recorded: $join!($t, "SELECT version, success, checksum FROM ", ""),
            select_description: $join!($t, "SELECT description FROM ", " WHERE version = ?1"),
            forget: $join!($t, "DELETE FROM ", " WHERE version = ?1"),
            insert: $join!(
                $t,
                "INSERT INTO ",
                " (version, description, success, checksum, execution_time) \
                 VALUES (?1, ?2, TRUE, ?3, ?4)"
            ),
            claim: $join!(
                $t,
                "INSERT INTO ",
                " (version, description, success, checksum, execution_time) \
                 VALUES (?1, ?2, FALSE, ?3, -1) ON CONFLICT (version) DO NOTHING"
            ),
            finish: $join!(
                $t,
                "UPDATE ",
                " SET success = TRUE, execution_time = ?2 WHERE version = ?1"
            ),
            mark_reverting: $join!(
                $t,
                "UPDATE ",
                " SET success = FALSE WHERE version = ?1 AND success = TRUE"
            ),
            is_recorded: $join!($t, "SELECT 1 FROM ", " WHERE version = ?1"),
            insert_baseline: $join!(
                $t,
                "INSERT INTO ",
                " (version, description, success, checksum, execution_time) \
                 VALUES (?1, ?2, TRUE, ?3, 0) ON CONFLICT (version) DO NOTHING"
            ),
            set_checksum: $join!($t, "UPDATE ", " SET checksum = ?2 WHERE version = ?1"),
            mark_applied: $join!(
                $t,
                "UPDATE ",
                " SET success = TRUE, checksum = coalesce(?2, checksum) WHERE version = ?1"
            ),
        }
    };
}

/// The default table's statement: one constant.
macro_rules! default_join {
    ($t:expr, $before:literal, $after:literal) => {
        Cow::Borrowed(concat!($before, "_sqlx_migrations", $after))
    };
}

/// Another table's statement, made from its (checked) name.
macro_rules! named_join {
    ($t:expr, $before:literal, $after:literal) => {
        Cow::Owned(format!(concat!($before, "{}", $after), $t))
    };
}

impl HistoryTable {
    /// The statements on [`DEFAULT_HISTORY_TABLE`].
    pub(crate) const DEFAULT: HistoryTable = history_sql!(default_join, ());

    /// The statements on the table `name`, or why `name` cannot be one: a plain identifier
    /// (ASCII letters, digits and `_`, not starting with a digit), at most 64 characters, not
    /// one of SQLite's own (`sqlite_…`).
    pub(crate) fn named(name: &str) -> std::result::Result<Self, &'static str> {
        if name == DEFAULT_HISTORY_TABLE {
            return Ok(Self::DEFAULT);
        }
        if name.is_empty() || name.len() > 64 {
            return Err("it must be 1 to 64 characters long");
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || name.as_bytes()[0].is_ascii_digit()
        {
            return Err("it must be ASCII letters, digits and `_`, not starting with a digit");
        }
        if name.to_ascii_lowercase().starts_with("sqlite_") {
            return Err("names starting with `sqlite_` are SQLite's own");
        }
        Ok(history_sql!(named_join, name))
    }
}
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
    /// [`execution_time`](Self::execution_time) as a [`Duration`], when it is known.
    #[must_use]
    pub fn duration(&self) -> Option<Duration> {
        u64::try_from(self.execution_time)
            .ok()
            .map(Duration::from_nanos)
    }
}

/// The history of a database: every row of `_sqlx_migrations`, by version (the history of
/// another table: [`Migrator::applied`](super::Migrator::applied)).
///
/// A database that was never migrated has an empty history. Reading it writes nothing.
///
/// # Errors
///
/// [`MigrateError::Sqlite`](super::MigrateError::Sqlite) when the table cannot be read (for example when a
/// table of that name has other columns).
pub fn applied(conn: &Connection) -> Result<Vec<AppliedMigration>> {
    Ok(HistoryTable::DEFAULT.read_history(conn)?)
}

/// The part of a history row ([`AppliedMigration`]) that says what state its migration is in:
/// no strings, and a checksum that is not a 48-byte SHA-384 kept as `None` (it can match
/// nothing). The plan reads the history as these on every open, with no allocation per row,
/// which keeps opening a database with a long history cheap; [`AppliedMigration::recorded`]
/// gives the same of a whole row, so a row's state is decided by one rule
/// ([`Migration::state_against`](super::Migration::state_against)) whichever way it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub version: i64,
    pub success: bool,
    pub checksum: Option<[u8; 48]>,
}

impl Recorded {
    /// A recorded checksum as a SHA-384, or `None` when it is not one.
    pub(crate) fn sha384(blob: &[u8]) -> Option<[u8; 48]> {
        <[u8; 48]>::try_from(blob).ok()
    }
}

impl AppliedMigration {
    /// What of this row decides its migration's state.
    pub(crate) fn recorded(&self) -> Recorded {
        Recorded {
            version: self.version,
            success: self.success,
            checksum: Recorded::sha384(&self.checksum),
        }
    }
}

impl HistoryTable {
    fn exists(&self, conn: &Connection) -> rusqlite::Result<bool> {
        Ok(conn
            .prepare_cached(&self.exists)?
            .query_row([], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Every row, by version; empty when there is no table.
    pub(crate) fn read_history(
        &self,
        conn: &Connection,
    ) -> rusqlite::Result<Vec<AppliedMigration>> {
        if !self.exists(conn)? {
            return Ok(Vec::new());
        }
        let mut statement = conn.prepare_cached(&self.select_history)?;
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

    /// The history for planning, by version; `None` when the database has no history table.
    pub(crate) fn read_recorded(
        &self,
        conn: &Connection,
    ) -> rusqlite::Result<Option<Vec<Recorded>>> {
        // Warm path: the table exists, one statement. Only when preparing fails is the schema
        // asked whether the history exists at all (a database never migrated).
        let mut statement = match conn.prepare_cached(&self.select_recorded) {
            Ok(statement) => statement,
            Err(_) if !self.exists(conn)? => return Ok(None),
            // The table exists: preparing used a schema this connection had not reloaded since
            // another connection created the table. Reading sqlite_master reloaded it.
            Err(_) => conn.prepare_cached(&self.select_recorded)?,
        };
        let mut recorded = Vec::new();
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            recorded.push(Recorded {
                version: row.get(0)?,
                success: row.get(1)?,
                checksum: row.get_ref(2)?.as_blob().ok().and_then(Recorded::sha384),
            });
        }
        if !recorded.is_sorted_by_key(|r| r.version) {
            recorded.sort_unstable_by_key(|r| r.version);
        }
        Ok(Some(recorded))
    }

    /// The history for planning under a write lock, creating the table when the database has
    /// none: the first step of every migration applied in a transaction.
    pub(crate) fn read_or_create(&self, tx: &Connection) -> rusqlite::Result<Vec<Recorded>> {
        if let Some(recorded) = self.read_recorded(tx)? {
            return Ok(recorded);
        }
        tx.execute_batch(&self.create)?;
        Ok(Vec::new())
    }

    /// The recorded description of a version, for messages about versions this build does not
    /// know.
    pub(crate) fn recorded_description(&self, conn: &Connection, version: i64) -> String {
        conn.prepare_cached(&self.select_description)
            .and_then(|mut s| s.query_row([version], |row| row.get(0)))
            .unwrap_or_else(|_| format!("version {version}"))
    }
}
