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

mod parse;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use log::{debug, info};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha384};

pub use crate::error::MigrateError;
use crate::error::Result;

/// The name of the history table, as sqlx names it.
pub const HISTORY_TABLE: &str = "_sqlx_migrations";

/// The history table's DDL, as sqlx writes it for SQLite.
const CREATE_HISTORY: &str = "
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

const INSERT_HISTORY: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
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
            description,
            sql,
            equivalent_checksums: Cow::Borrowed(&[]),
        }
    }

    /// A migration from a file name (`{version}_{description}.sql`) and the file's contents,
    /// reading `-- pipeline-store: equivalent-checksum <hex>` directives from its header.
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
    /// [`MigrateError::InvalidFileName`] for a malformed name, [`MigrateError::InvalidDirective`]
    /// for a directive whose checksum is not 96 hexadecimal digits.
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
        let equivalents =
            parse::equivalent_checksums(&sql).map_err(|reason| MigrateError::InvalidDirective {
                file: file.clone(),
                reason,
            })?;
        Ok(Self {
            version: parsed.version,
            description: Cow::Owned(parsed.description),
            checksum: checksum(sql.as_bytes()),
            file: Cow::Owned(file),
            sql,
            equivalent_checksums: Cow::Owned(equivalents),
        })
    }

    /// A migration embedded by `build.rs`: everything was computed at build time.
    pub(crate) const fn embedded(
        version: i64,
        description: &'static str,
        file: &'static str,
        sql: &'static str,
        checksum: [u8; 48],
        equivalent_checksums: &'static [[u8; 48]],
    ) -> Self {
        Self {
            version,
            description: Cow::Borrowed(description),
            file: Cow::Borrowed(file),
            sql: Cow::Borrowed(sql),
            checksum,
            equivalent_checksums: Cow::Borrowed(equivalent_checksums),
        }
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

fn read_history(conn: &Connection) -> rusqlite::Result<Vec<AppliedMigration>> {
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
struct Recorded {
    version: i64,
    success: bool,
    checksum: Option<[u8; 48]>,
}

/// The history for planning, `None` when the database has no history table.
fn read_recorded(conn: &Connection) -> rusqlite::Result<Option<Vec<Recorded>>> {
    // Warm path: the table exists, one statement. Only when preparing fails is the schema
    // asked whether the history exists at all (a database never migrated).
    let mut statement = match conn.prepare_cached(SELECT_RECORDED) {
        Ok(statement) => statement,
        Err(_) if !history_exists(conn)? => return Ok(None),
        Err(error) => return Err(error),
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
fn recorded_description(conn: &Connection, version: i64) -> String {
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
}

impl std::fmt::Display for MigrationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Applied => "applied",
            Self::Pending => "pending",
            Self::Modified => "modified",
            Self::Missing => "missing",
            Self::Dirty => "dirty",
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
        self.applied.is_empty() && self.pending.is_empty()
    }

    /// This report with `backup` set.
    #[must_use]
    pub(crate) fn with_backup(mut self, backup: Option<std::path::PathBuf>) -> Self {
        self.backup = backup;
        self
    }
}

/// A migration applied by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppliedStep {
    /// The version.
    pub version: i64,
    /// The description.
    pub description: String,
    /// How long its SQL took.
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

/// An ordered set of migrations and the runner that applies them.
///
/// ```
/// use pipeline_store::migrate::{Migration, Migrator};
///
/// let migrator = Migrator::new(vec![
///     Migration::new(1, "create notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"),
///     Migration::new(2, "index notes", "CREATE INDEX idx_notes_body ON notes(body);"),
/// ])?;
/// let mut conn = rusqlite::Connection::open_in_memory()?;
/// let report = migrator.run(&mut conn)?;
/// assert_eq!(report.applied.len(), 2);
/// assert!(migrator.run(&mut conn)?.is_up_to_date());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrator {
    migrations: Vec<Migration>,
}

impl Migrator {
    /// A migrator over `migrations`, sorted by version.
    ///
    /// # Errors
    ///
    /// [`MigrateError::DuplicateVersion`] when two migrations share a version.
    pub fn new(mut migrations: Vec<Migration>) -> Result<Self> {
        migrations.sort_by_key(Migration::version);
        for pair in migrations.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(MigrateError::DuplicateVersion {
                    version: pair[0].version,
                    first: pair[0].file.to_string(),
                    second: pair[1].file.to_string(),
                }
                .into());
            }
        }
        Ok(Self { migrations })
    }

    /// A migrator over the `*.sql` files of a directory, read now.
    ///
    /// Other files (a README, `.gitkeep`) and subdirectories are ignored; every `.sql` file must
    /// be a well-formed migration.
    ///
    /// # Errors
    ///
    /// [`MigrateError::Read`] when the directory or a file cannot be read,
    /// [`MigrateError::InvalidFileName`], [`MigrateError::NotUtf8`],
    /// [`MigrateError::InvalidDirective`] or [`MigrateError::DuplicateVersion`], each naming the
    /// file.
    pub fn from_dir(path: impl AsRef<Path>) -> Result<Self> {
        let dir = path.as_ref();
        let read_error = |path: &Path, source| MigrateError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut migrations = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| read_error(dir, e))? {
            let entry = entry.map_err(|e| read_error(dir, e))?;
            let path = entry.path();
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                debug!("skipping {}: the name is not UTF-8", path.display());
                continue;
            };
            let is_file = std::fs::metadata(&path)
                .map_err(|e| read_error(&path, e))?
                .is_file();
            if !is_file || !name.ends_with(".sql") {
                debug!("skipping {}: not a .sql file", path.display());
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| read_error(&path, e))?;
            let sql = String::from_utf8(bytes)
                .map_err(|_| MigrateError::NotUtf8 { path: path.clone() })?;
            migrations.push(Migration::from_file(name, sql)?);
        }
        Self::new(migrations)
    }

    /// The migrations, by version.
    #[must_use]
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// One row per version known to the code or to the database, by version, with its state.
    ///
    /// Reads only; works on a read-only connection and on a database that was never migrated.
    ///
    /// # Errors
    ///
    /// [`Error::Sqlite`](crate::Error::Sqlite) when the history cannot be read.
    pub fn status(&self, conn: &Connection) -> Result<Vec<MigrationStatus>> {
        let history = read_history(conn)?;
        let mut rows: Vec<MigrationStatus> = self
            .migrations
            .iter()
            .map(|m| {
                let applied = history.iter().find(|a| a.version == m.version).cloned();
                let state = match &applied {
                    None => MigrationState::Pending,
                    Some(a) if !a.success => MigrationState::Dirty,
                    Some(a) if !m.matches_checksum(&a.checksum) => MigrationState::Modified,
                    Some(_) => MigrationState::Applied,
                };
                MigrationStatus {
                    version: m.version,
                    description: m.description.to_string(),
                    file: Some(m.file.to_string()),
                    state,
                    applied,
                }
            })
            .collect();
        for a in &history {
            if self.find(a.version).is_none() {
                rows.push(MigrationStatus {
                    version: a.version,
                    description: a.description.clone(),
                    file: None,
                    state: if a.success {
                        MigrationState::Missing
                    } else {
                        MigrationState::Dirty
                    },
                    applied: Some(a.clone()),
                });
            }
        }
        rows.sort_by_key(|row| row.version);
        Ok(rows)
    }

    /// Validates the database against this set and lists what is pending, without writing.
    ///
    /// # Errors
    ///
    /// The first problem found, in this order: [`MigrateError::Dirty`], [`MigrateError::Missing`],
    /// [`MigrateError::Modified`], [`MigrateError::OutOfOrder`]; or
    /// [`Error::Sqlite`](crate::Error::Sqlite) when the history cannot be read.
    pub fn pending(&self, conn: &Connection) -> Result<Vec<PendingMigration>> {
        let recorded = read_recorded(conn)?.unwrap_or_default();
        Ok(self
            .plan(&recorded, |v| recorded_description(conn, v))?
            .into_iter()
            .map(PendingMigration::from)
            .collect())
    }

    /// Applies every pending migration, each with its history row in one `BEGIN IMMEDIATE`
    /// transaction.
    ///
    /// When the database is up to date this costs two small reads and writes nothing.
    ///
    /// # Errors
    ///
    /// * [`MigrateError::InTransaction`] when `conn` has an open transaction;
    /// * a validation error ([`MigrateError::Dirty`], [`Missing`](MigrateError::Missing),
    ///   [`Modified`](MigrateError::Modified), [`OutOfOrder`](MigrateError::OutOfOrder)), with
    ///   nothing applied;
    /// * [`MigrateError::Failed`] when a migration's SQL fails: it is rolled back, and the
    ///   migrations before it stay applied;
    /// * [`Error::Busy`](crate::Error::Busy) when another connection holds the write lock past
    ///   the busy timeout.
    pub fn run(&self, conn: &mut Connection) -> Result<MigrationReport> {
        if !conn.is_autocommit() {
            return Err(MigrateError::InTransaction.into());
        }
        let recorded = read_recorded(conn)?.unwrap_or_default();
        if self
            .plan(&recorded, |v| recorded_description(conn, v))?
            .is_empty()
        {
            debug!(
                "schema is up to date ({} migrations applied)",
                recorded.len()
            );
            return Ok(MigrationReport::default());
        }

        let mut report = MigrationReport::default();
        loop {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Read again under the write lock: another process may have migrated meanwhile.
            let recorded = if let Some(recorded) = read_recorded(&tx)? {
                recorded
            } else {
                tx.execute_batch(CREATE_HISTORY)?;
                Vec::new()
            };
            let pending = self.plan(&recorded, |v| recorded_description(&tx, v))?;
            let Some(&migration) = pending.first() else {
                tx.commit()?;
                break;
            };
            let last = pending.len() == 1;
            debug!(
                "applying migration {} ({})",
                migration.version, migration.file
            );
            let started = Instant::now();
            tx.execute_batch(&migration.sql)
                .map_err(|source| MigrateError::Failed {
                    version: migration.version,
                    file: migration.file.to_string(),
                    source,
                })?;
            if tx.is_autocommit() {
                return Err(MigrateError::EndedTransaction {
                    version: migration.version,
                    file: migration.file.to_string(),
                }
                .into());
            }
            let elapsed = started.elapsed();
            tx.prepare_cached(INSERT_HISTORY)?.execute(params![
                migration.version,
                migration.description.as_ref(),
                migration.checksum.as_slice(),
                i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX),
            ])?;
            tx.commit()?;
            info!(
                "applied migration {} ({}) in {:.3} ms",
                migration.version,
                migration.description,
                elapsed.as_secs_f64() * 1000.0
            );
            report.applied.push(AppliedStep {
                version: migration.version,
                description: migration.description.to_string(),
                elapsed,
            });
            if last {
                break;
            }
        }
        Ok(report)
    }

    fn find(&self, version: i64) -> Option<&Migration> {
        self.migrations
            .binary_search_by_key(&version, Migration::version)
            .ok()
            .map(|i| &self.migrations[i])
    }

    /// The pending migrations in order, or the first reason to refuse running any.
    /// `describe` gives the recorded description of a version this build does not know.
    fn plan(
        &self,
        history: &[Recorded],
        describe: impl Fn(i64) -> String,
    ) -> Result<Vec<&Migration>, MigrateError> {
        if let Some(dirty) = history.iter().find(|a| !a.success) {
            return Err(MigrateError::Dirty {
                version: dirty.version,
                file: self
                    .find(dirty.version)
                    .map_or_else(|| describe(dirty.version), |m| m.file.to_string()),
            });
        }
        for applied in history {
            match self.find(applied.version) {
                None => {
                    return Err(MigrateError::Missing {
                        version: applied.version,
                        description: describe(applied.version),
                    });
                }
                Some(m) if !applied.checksum.is_some_and(|c| m.matches_checksum(&c)) => {
                    return Err(MigrateError::Modified {
                        version: m.version,
                        file: m.file.to_string(),
                        expected: to_hex(&m.checksum),
                        found: applied.checksum.map_or_else(
                            || "a value that is not a SHA-384".to_owned(),
                            |c| to_hex(&c),
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        // History and migrations are both sorted by version, and every applied version is known.
        let latest = history.last().map(|a| a.version);
        let mut applied = history.iter().map(|a| a.version).peekable();
        let mut pending = Vec::new();
        for m in &self.migrations {
            if applied.next_if_eq(&m.version).is_some() {
                continue;
            }
            if let Some(latest) = latest.filter(|&latest| latest > m.version) {
                return Err(MigrateError::OutOfOrder {
                    version: m.version,
                    file: m.file.to_string(),
                    latest,
                });
            }
            pending.push(m);
        }
        Ok(pending)
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
    fn hex_round_trips_through_the_directive_decoder() {
        let sum = checksum(b"abc");
        assert_eq!(parse::decode_hex_48(&to_hex(&sum)), Some(sum));
    }
}
