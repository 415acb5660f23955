//! A versioned migration runner that keeps sqlx's `_sqlx_migrations` history.
//!
//! Nothing here knows about pipelines: a [`Migrator`] applies any ordered set of [`Migration`]s.
//! The crate's own schema is one such set ([`crate::schema::migrator`]).
//!
//! # Compatibility with sqlx
//!
//! Migration files are named `{version}_{description}.sql` and described as sqlx describes them
//! (text after the first `_`, `.sql` removed, `_` turned into spaces). The history table has
//! sqlx's DDL for SQLite, its checksums are SHA-384 of the file's raw bytes stored as 48-byte
//! BLOBs, `success` is `1` and `execution_time` is in nanoseconds. A database migrated here is
//! accepted by sqlx's `Migrator::run` over the same files, and one migrated by sqlx opens here as
//! already migrated.
//!
//! # What the runner guarantees
//!
//! * The whole plan is built before anything is applied. A history row marked failed
//!   ([`Dirty`](MigrateError::Dirty)), an applied version this build does not know
//!   ([`Missing`](MigrateError::Missing)), an applied file that was changed
//!   ([`Modified`](MigrateError::Modified)) or a pending version older than the newest applied one
//!   ([`OutOfOrder`](MigrateError::OutOfOrder)) is refused with nothing applied.
//! * Each pending migration runs together with its history row in one `BEGIN IMMEDIATE`
//!   transaction, and the history is read again under that write lock: processes that start at
//!   the same time never apply a migration twice, and none of them fails for it.
//! * A migration that fails is rolled back completely and leaves no history row.

mod lock;
mod maintenance;
mod parse;
mod runner;

pub use maintenance::{DirtyRepair, Repair, RepairReport, ValidationReport};
pub use runner::{Migrator, Policy};

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha384};

pub use crate::error::MigrateError;
use crate::error::Result;

/// The name of the history table, as sqlx names it.
pub const HISTORY_TABLE: &str = "_sqlx_migrations";

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

const SELECT_RECORDED: &str =
    "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version";

const SELECT_DESCRIPTION: &str = "SELECT description FROM _sqlx_migrations WHERE version = ?1";

/// Removes a version from the history (revert, repair).
pub(crate) const FORGET_HISTORY: &str = "DELETE FROM _sqlx_migrations WHERE version = ?1";

pub(crate) const INSERT_HISTORY: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
     VALUES (?1, ?2, TRUE, ?3, ?4)";

/// SHA-384 of a migration's bytes: the checksum sqlx records.
#[must_use]
pub fn checksum(sql: &[u8]) -> [u8; 48] {
    Sha384::digest(sql).into()
}

/// Lower-case hexadecimal of a checksum, as messages and tools show it.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// One migration: a version, a description and the SQL that moves the schema forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    version: i64,
    description: Cow<'static, str>,
    file: Cow<'static, str>,
    sql: Cow<'static, str>,
    checksum: [u8; 48],
    equivalent_checksums: Cow<'static, [[u8; 48]]>,
    no_transaction: bool,
    foreign_keys_off: bool,
    down: Option<Down>,
}

/// The reverting half of a reversible migration (`.down.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Down {
    file: Cow<'static, str>,
    sql: Cow<'static, str>,
    no_transaction: bool,
    foreign_keys_off: bool,
}

/// SQL to run and how: what the runner needs of either half of a migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Script<'a> {
    pub file: &'a str,
    pub sql: &'a str,
    pub no_transaction: bool,
    pub foreign_keys_off: bool,
}

impl Migration {
    /// A migration from its parts; the checksum is the SHA-384 of `sql`.
    ///
    /// Its [`file`](Self::file) is the name it would have on disk,
    /// `{version}_{description with '_' for ' '}.sql`.
    ///
    /// ```
    /// use pipeline_store::migrate::Migration;
    ///
    /// let m = Migration::new(20250301000000, "add owner", "ALTER TABLE pipelines ADD COLUMN owner TEXT;");
    /// assert_eq!(m.file(), "20250301000000_add_owner.sql");
    /// ```
    #[must_use]
    pub fn new(
        version: i64,
        description: impl Into<Cow<'static, str>>,
        sql: impl Into<Cow<'static, str>>,
    ) -> Self {
        let description = description.into();
        let sql = sql.into();
        Self {
            version,
            file: Cow::Owned(format!("{version}_{}.sql", description.replace(' ', "_"))),
            checksum: checksum(sql.as_bytes()),
            no_transaction: parse::no_transaction(&sql),
            foreign_keys_off: parse::foreign_keys_off(&sql),
            description,
            sql,
            equivalent_checksums: Cow::Borrowed(&[]),
            down: None,
        }
    }

    /// This migration with a down script that reverts it (what a `.down.sql` file holds),
    /// which makes it reversible ([`Migrator::revert_to`]). Its directives are read as for the
    /// up script. The checksum stays the up script's, as sqlx computes it.
    #[must_use]
    pub fn with_down(mut self, sql: impl Into<Cow<'static, str>>) -> Self {
        let sql = sql.into();
        let stem = self.file.strip_suffix(".sql").unwrap_or(&self.file);
        let stem = stem.strip_suffix(".up").unwrap_or(stem);
        self.down = Some(Down {
            file: Cow::Owned(format!("{stem}.down.sql")),
            no_transaction: parse::no_transaction(&sql),
            foreign_keys_off: parse::foreign_keys_off(&sql),
            sql,
        });
        self
    }

    /// A migration from a file name (`{version}_{description}.sql`, or `.up.sql`) and the file's
    /// contents, reading the directives of its header: `-- no-transaction`,
    /// `-- foreign-keys: off` and `-- pipeline-store: equivalent-checksum <hex>`.
    ///
    /// ```
    /// use pipeline_store::migrate::Migration;
    ///
    /// let m = Migration::from_file("20250204120000_add_pipeline_tags.sql", "CREATE TABLE t(x);")?;
    /// assert_eq!((m.version(), m.description()), (20250204120000, "add pipeline tags"));
    /// # Ok::<(), pipeline_store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MigrateError::InvalidFileName`] for a malformed name or a `.down.sql` file (add it to its
    /// migration with [`with_down`](Self::with_down)), [`MigrateError::InvalidDirective`] for a
    /// directive whose checksum is not 96 hexadecimal digits.
    pub fn from_file(
        file_name: impl Into<String>,
        sql: impl Into<Cow<'static, str>>,
    ) -> Result<Self> {
        let file = file_name.into();
        let sql = sql.into();
        let parsed =
            parse::parse_file_name(&file).map_err(|reason| MigrateError::InvalidFileName {
                file: file.clone(),
                reason,
            })?;
        if parsed.kind == parse::Kind::Down {
            return Err(MigrateError::InvalidFileName {
                file,
                reason: "a .down.sql file is the second half of a migration, not a migration"
                    .to_owned(),
            }
            .into());
        }
        let header = parse::header(&sql).map_err(|reason| MigrateError::InvalidDirective {
            file: file.clone(),
            reason,
        })?;
        Ok(Self {
            version: parsed.version,
            description: Cow::Owned(parsed.description),
            checksum: checksum(sql.as_bytes()),
            file: Cow::Owned(file),
            sql,
            equivalent_checksums: Cow::Owned(header.equivalent_checksums),
            no_transaction: header.no_transaction,
            foreign_keys_off: header.foreign_keys_off,
            down: None,
        })
    }

    /// A migration embedded by `build.rs`: everything was computed at build time. `flags` are
    /// `(no_transaction, foreign_keys_off)`; `down` is `(file, sql, flags)`.
    #[allow(clippy::too_many_arguments)] // one call per generated line, in build.rs's output
    pub(crate) const fn embedded(
        version: i64,
        description: &'static str,
        file: &'static str,
        sql: &'static str,
        checksum: [u8; 48],
        equivalent_checksums: &'static [[u8; 48]],
        flags: (bool, bool),
        down: Option<(&'static str, &'static str, (bool, bool))>,
    ) -> Self {
        Self {
            version,
            description: Cow::Borrowed(description),
            file: Cow::Borrowed(file),
            sql: Cow::Borrowed(sql),
            checksum,
            equivalent_checksums: Cow::Borrowed(equivalent_checksums),
            no_transaction: flags.0,
            foreign_keys_off: flags.1,
            down: match down {
                Some((file, sql, flags)) => Some(Down {
                    file: Cow::Borrowed(file),
                    sql: Cow::Borrowed(sql),
                    no_transaction: flags.0,
                    foreign_keys_off: flags.1,
                }),
                None => None,
            },
        }
    }

    /// Whether it runs outside a transaction (`-- no-transaction` as its first line).
    #[must_use]
    pub fn no_transaction(&self) -> bool {
        self.no_transaction
    }

    /// Whether foreign keys are switched off around it (`-- foreign-keys: off` in its header).
    #[must_use]
    pub fn foreign_keys_off(&self) -> bool {
        self.foreign_keys_off
    }

    /// The down script, when the migration is reversible.
    #[must_use]
    pub fn down_sql(&self) -> Option<&str> {
        self.down.as_ref().map(|d| d.sql.as_ref())
    }

    pub(crate) fn up_script(&self) -> Script<'_> {
        Script {
            file: &self.file,
            sql: &self.sql,
            no_transaction: self.no_transaction,
            foreign_keys_off: self.foreign_keys_off,
        }
    }

    pub(crate) fn down_script(&self) -> Option<Script<'_>> {
        self.down.as_ref().map(|d| Script {
            file: &d.file,
            sql: &d.sql,
            no_transaction: d.no_transaction,
            foreign_keys_off: d.foreign_keys_off,
        })
    }

    /// Whether `recorded` is the checksum of this migration's file with other line endings
    /// (CRLF instead of LF or the reverse) or with a UTF-8 byte order mark added or removed:
    /// the same file checked out on another system. Computed only when a checksum differs.
    #[must_use]
    pub fn differs_only_in_line_endings(&self, recorded: &[u8]) -> bool {
        let base = self.sql.strip_prefix('\u{feff}').unwrap_or(&self.sql);
        let lf = base.replace("\r\n", "\n");
        let crlf = lf.replace('\n', "\r\n");
        [lf, crlf].iter().any(|text| {
            recorded == checksum(text.as_bytes())
                || recorded == checksum(format!("\u{feff}{text}").as_bytes())
        })
    }

    /// Declares another checksum under which this migration counts as applied: the checksum of an
    /// earlier copy of the file whose schema is the same (different comments or white space).
    ///
    /// Files declare the same with a header line
    /// `-- pipeline-store: equivalent-checksum <96 hex digits>`.
    #[must_use]
    pub fn with_equivalent_checksum(mut self, checksum: [u8; 48]) -> Self {
        self.equivalent_checksums.to_mut().push(checksum);
        self
    }

    /// The version: the number before the first `_` of the file name.
    #[must_use]
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The description, as sqlx derives it from the file name.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The file name, used in every message about this migration.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The SQL.
    #[must_use]
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// SHA-384 of the SQL's bytes.
    #[must_use]
    pub fn checksum(&self) -> &[u8; 48] {
        &self.checksum
    }

    /// The other checksums this migration is accepted under.
    #[must_use]
    pub fn equivalent_checksums(&self) -> &[[u8; 48]] {
        &self.equivalent_checksums
    }

    /// Whether a recorded checksum is this migration's own or one declared equivalent.
    #[must_use]
    pub fn matches_checksum(&self, recorded: &[u8]) -> bool {
        recorded == self.checksum || self.equivalent_checksums.iter().any(|c| recorded == c)
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

/// The history for planning, `None` when the database has no history table.
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
    let rows = statement.query_map([], |row| {
        Ok(Recorded {
            version: row.get(0)?,
            success: row.get(1)?,
            checksum: row
                .get_ref(2)?
                .as_blob()
                .ok()
                .and_then(|blob| <[u8; 48]>::try_from(blob).ok()),
        })
    })?;
    rows.collect::<rusqlite::Result<_>>().map(Some)
}

/// The recorded description of a version, for messages about versions this build does not know.
pub(crate) fn recorded_description(conn: &Connection, version: i64) -> String {
    conn.prepare_cached(SELECT_DESCRIPTION)
        .and_then(|mut s| s.query_row([version], |row| row.get(0)))
        .unwrap_or_else(|_| format!("version {version}"))
}

/// The state of one version, as [`Migrator::status`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MigrationState {
    /// Applied, with a matching checksum.
    Applied,
    /// Known to this build, not applied yet.
    Pending,
    /// Applied, but the file's checksum differs from the recorded one.
    Modified,
    /// Applied, but unknown to this build (the database is ahead of the code).
    Missing,
    /// Recorded with `success = 0`: a run that did not finish.
    Dirty,
    /// Applied; the file differs from the recorded checksum only in line endings (CRLF/LF) or a
    /// byte order mark. `Migrator::repair` can record the file's checksum.
    LineEndings,
}

impl std::fmt::Display for MigrationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Applied => "applied",
            Self::Pending => "pending",
            Self::Modified => "modified",
            Self::Missing => "missing",
            Self::Dirty => "dirty",
            Self::LineEndings => "line-endings",
        })
    }
}

/// One version and its state: a row of [`Migrator::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// The version.
    pub version: i64,
    /// The description (from the file, or from the history for a missing migration).
    pub description: String,
    /// The file name, when this build knows the migration.
    pub file: Option<String>,
    /// Its state.
    pub state: MigrationState,
    /// The history row, when there is one.
    pub applied: Option<AppliedMigration>,
}

/// What one run did: the migrations it applied and the ones it left pending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationReport {
    /// The migrations applied by this run, in order.
    pub applied: Vec<AppliedStep>,
    /// The migrations reverted by this run, newest first.
    pub reverted: Vec<AppliedStep>,
    /// Migrations still pending: non-empty only when the run was not allowed to apply them
    /// (a read-only open).
    pub pending: Vec<PendingMigration>,
    /// The backup taken before applying, when one was asked for
    /// ([`OpenOptions::backup_before_migrate`](crate::schema::OpenOptions::backup_before_migrate)).
    pub backup: Option<std::path::PathBuf>,
}

impl MigrationReport {
    /// `true` when the database was already up to date and nothing is pending.
    #[must_use]
    pub fn is_up_to_date(&self) -> bool {
        self.applied.is_empty() && self.reverted.is_empty() && self.pending.is_empty()
    }

    /// This report with `backup` set.
    #[must_use]
    pub(crate) fn with_backup(mut self, backup: Option<std::path::PathBuf>) -> Self {
        self.backup = backup;
        self
    }
}

/// A migration applied (or reverted) by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppliedStep {
    /// The version.
    pub version: i64,
    /// The description.
    pub description: String,
    /// How long its script took.
    pub elapsed: Duration,
}

/// A migration a run did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingMigration {
    /// The version.
    pub version: i64,
    /// The description.
    pub description: String,
    /// The file name.
    pub file: String,
}

impl From<&Migration> for PendingMigration {
    fn from(m: &Migration) -> Self {
        Self {
            version: m.version,
            description: m.description.to_string(),
            file: m.file.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: i64, success: bool, checksum: &[u8]) -> Recorded {
        Recorded {
            version,
            success,
            checksum: <[u8; 48]>::try_from(checksum).ok(),
        }
    }

    fn describe(version: i64) -> String {
        format!("v{version}")
    }

    fn migrator() -> Migrator {
        Migrator::new(vec![
            Migration::new(3, "c", "SELECT 3;"),
            Migration::new(1, "a", "SELECT 1;"),
            Migration::new(2, "b", "SELECT 2;"),
        ])
        .unwrap()
    }

    #[test]
    fn plan_lists_pending_in_order() {
        let m = migrator();
        let one = *m.migrations()[0].checksum();
        let pending = m.plan(&[row(1, true, &one)], describe).unwrap();
        assert_eq!(
            pending.iter().map(|m| m.version()).collect::<Vec<_>>(),
            [2, 3]
        );
    }

    #[test]
    fn plan_refuses_in_priority_order() {
        let m = migrator();
        let one = *m.migrations()[0].checksum();
        let dirty = m
            .plan(&[row(1, true, b"x"), row(2, false, b"y")], describe)
            .unwrap_err();
        assert!(
            matches!(dirty, MigrateError::Dirty { version: 2, .. }),
            "{dirty}"
        );
        let missing = m
            .plan(&[row(1, true, &one), row(9, true, b"z")], describe)
            .unwrap_err();
        assert!(
            matches!(missing, MigrateError::Missing { version: 9, .. }),
            "{missing}"
        );
        let modified = m.plan(&[row(1, true, b"other")], describe).unwrap_err();
        assert!(
            matches!(modified, MigrateError::Modified { version: 1, .. }),
            "{modified}"
        );
        let three = *m.migrations()[2].checksum();
        let order = m
            .plan(&[row(1, true, &one), row(3, true, &three)], describe)
            .unwrap_err();
        assert!(
            matches!(
                order,
                MigrateError::OutOfOrder {
                    version: 2,
                    latest: 3,
                    ..
                }
            ),
            "{order}"
        );
    }

    #[test]
    fn policies_turn_refusals_into_warnings() {
        let m = migrator()
            .on_missing(Policy::Allow)
            .on_out_of_order(Policy::Warn)
            .on_modified(Policy::Warn);
        let three = *m.migrations()[2].checksum();
        let pending = m
            .plan(
                &[
                    row(1, true, &[0; 48]),
                    row(3, true, &three),
                    row(9, true, &[1; 48]),
                ],
                describe,
            )
            .unwrap();
        assert_eq!(pending.iter().map(|m| m.version()).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn line_ending_variants_are_recognised() {
        let lf = Migration::new(1, "t", "CREATE TABLE t (x);\nCREATE INDEX i ON t(x);\n");
        let crlf = Migration::new(1, "t", "CREATE TABLE t (x);\r\nCREATE INDEX i ON t(x);\r\n");
        let bom = Migration::new(
            1,
            "t",
            "\u{feff}CREATE TABLE t (x);\nCREATE INDEX i ON t(x);\n",
        );
        assert!(lf.differs_only_in_line_endings(crlf.checksum()));
        assert!(crlf.differs_only_in_line_endings(lf.checksum()));
        assert!(lf.differs_only_in_line_endings(bom.checksum()));
        assert!(bom.differs_only_in_line_endings(crlf.checksum()));
        let other = Migration::new(1, "t", "CREATE TABLE t (y);\nCREATE INDEX i ON t(y);\n");
        assert!(!lf.differs_only_in_line_endings(other.checksum()));
    }

    #[test]
    fn hex_round_trips_through_the_directive_decoder() {
        let sum = checksum(b"abc");
        assert_eq!(parse::decode_hex_48(&to_hex(&sum)), Some(sum));
    }
}
