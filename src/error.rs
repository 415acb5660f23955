//! Errors: one [`Error`] for the crate, [`MigrateError`] for everything about migrations.
//!
//! Every variant names what the user has to know to act: the path, the migration version and
//! file, the field. SQLite failures keep the original [`rusqlite::Error`] as their `source()`.
//! Constraint failures are told apart by SQLite's extended result code ([`ConstraintKind`]).

use std::fmt;
use std::path::PathBuf;

use rusqlite::ffi;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL could not be understood.
    #[error("invalid database url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The path exists but is not a SQLite database. The file was not modified.
    #[error("{} is not a SQLite database: {reason}; the file was left untouched", path.display())]
    NotADatabase {
        /// The path that was opened.
        path: PathBuf,
        /// Why it is not one (a directory, a foreign file header, ...).
        reason: String,
    },

    /// The database file is damaged: SQLite found part of it malformed (a truncated file, a
    /// flipped byte, a broken schema). Nothing was written to it.
    #[error(
        "{} is damaged ({detail}): run `pipeline-store check` (schema::check) to see what is \
         wrong, and restore the database from a backup",
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },

    /// SQLite needs to create a file beside the database, in a directory this process cannot
    /// write (read-only media, a read-only mount, another user's directory).
    #[error(
        "cannot open {}: its directory {} is not writable; {reason}",
        path.display(),
        directory.display()
    )]
    DirectoryNotWritable {
        /// The database file.
        path: PathBuf,
        /// Its directory.
        directory: PathBuf,
        /// What SQLite needed there, and what to do.
        reason: String,
    },

    /// The database file does not exist and the open was not allowed to create it.
    #[error("database file {} does not exist{hint}", path.display())]
    DatabaseNotFound {
        /// The missing file.
        path: PathBuf,
        /// What to do about it, when there is something to say.
        hint: &'static str,
    },

    /// The directory that should hold the database file does not exist.
    #[error("cannot create database file {}: directory {} does not exist", path.display(), directory.display())]
    DirectoryNotFound {
        /// The database file.
        path: PathBuf,
        /// Its missing parent directory.
        directory: PathBuf,
    },

    /// SQLite refused to open or create the database file (permissions, a read-only location...).
    #[error("cannot open database file {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// A file is already there and would have been overwritten.
    #[error("{} already exists; it was left as it is (nothing is ever overwritten)", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },

    /// Copying the database into a backup failed; no backup file was left behind.
    #[error("backup to {} failed: {source}", path.display())]
    Backup {
        /// The backup file that was being written.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// A file system operation on the named path failed.
    #[error("{} failed for {}: {source}", operation, path.display())]
    Io {
        /// What was being done (`reading`, `creating`, ...).
        operation: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// `PRAGMA foreign_keys=ON` did not take effect (SQLite built without foreign key support).
    #[error(
        "foreign key enforcement could not be switched on (PRAGMA foreign_keys reads {value}); \
         this SQLite library was built without foreign key support"
    )]
    ForeignKeysUnavailable {
        /// What `PRAGMA foreign_keys` read back.
        value: i64,
    },

    /// An argument was refused before anything was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field (`name`, `stages[2].algorithm`, `chunk_size`, ...).
        field: String,
        /// Why it was refused.
        reason: String,
    },

    /// The row a write or lookup refers to does not exist.
    #[error("{entity} `{key}` not found")]
    NotFound {
        /// What was looked for (`pipeline`, `stage`, `configuration entry`, ...).
        entity: &'static str,
        /// Its id, name or key.
        key: String,
    },

    /// Another pipeline already has this name.
    #[error(
        "pipeline name `{name}` is taken{}",
        if *archived {
            " by an archived pipeline; delete that pipeline (pipelines::delete) or rename it to free the name"
        } else {
            ""
        }
    )]
    NameTaken {
        /// The name.
        name: String,
        /// Whether the pipeline holding it is archived.
        archived: bool,
    },

    /// A stored value could not be decoded.
    #[error("invalid data in {table}.{column} of row `{row}`: {reason}")]
    InvalidData {
        /// The table.
        table: &'static str,
        /// The row's key.
        row: String,
        /// The column.
        column: &'static str,
        /// What is wrong with the value.
        reason: String,
    },

    /// A migration could not be loaded, validated or applied.
    #[error(transparent)]
    Migrate(#[from] MigrateError),

    /// A write violated a constraint of the schema.
    #[error("{} failed: {source}", kind.describe())]
    Constraint {
        /// Which kind of constraint.
        kind: ConstraintKind,
        /// SQLite's error, with its message naming the table and column.
        source: rusqlite::Error,
    },

    /// The database is locked by another connection and stayed locked past the busy timeout.
    #[error("the database stayed locked by another connection past the busy timeout: {source}")]
    Busy {
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// The database reached its size limit (`PRAGMA max_page_count`) or the disk is full. The
    /// write was rolled back; everything committed before it is intact.
    #[error("the database or disk is full; the write was rolled back: {source}")]
    Full {
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// A write was attempted on a database opened read-only (or a read-only file).
    #[error("the database is read-only: {source}")]
    ReadOnly {
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// Any other SQLite error.
    #[error("sqlite error: {source}")]
    Sqlite {
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        if let Some(kind) = ConstraintKind::of(&error) {
            return Self::Constraint {
                kind,
                source: error,
            };
        }
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Self::Busy { source: error }
            }
            Some(rusqlite::ErrorCode::ReadOnly) => Self::ReadOnly { source: error },
            Some(rusqlite::ErrorCode::DiskFull) => Self::Full { source: error },
            _ => Self::Sqlite { source: error },
        }
    }
}

impl Error {
    /// An [`Error::InvalidInput`] for `field`.
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The SQLite error behind this error, if there is one.
    #[must_use]
    pub fn sqlite_error(&self) -> Option<&rusqlite::Error> {
        match self {
            Self::Open { source, .. }
            | Self::Constraint { source, .. }
            | Self::Busy { source }
            | Self::ReadOnly { source }
            | Self::Full { source }
            | Self::Backup { source, .. }
            | Self::Sqlite { source }
            | Self::Migrate(
                MigrateError::Failed { source, .. }
                | MigrateError::FailedOutsideTransaction { source, .. },
            ) => Some(source),
            _ => None,
        }
    }
}

/// SQLite's own message, on one line, without the statement text rusqlite adds to some errors.
pub(crate) fn sqlite_message(error: &rusqlite::Error) -> String {
    let message = match error {
        rusqlite::Error::SqliteFailure(_, Some(message))
        | rusqlite::Error::SqlInputError { msg: message, .. } => message.clone(),
        other => other.to_string(),
    };
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The kind of constraint a write violated, from SQLite's extended result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// A `UNIQUE` constraint or unique index.
    Unique,
    /// A `PRIMARY KEY`.
    PrimaryKey,
    /// A `FOREIGN KEY`.
    ForeignKey,
    /// A `NOT NULL` column.
    NotNull,
    /// A `CHECK` constraint.
    Check,
    /// Any other constraint (triggers, `ROWID`, ...).
    Other,
}

impl ConstraintKind {
    /// Classifies a SQLite error; `None` when it is not a constraint failure.
    #[must_use]
    pub fn of(error: &rusqlite::Error) -> Option<Self> {
        let rusqlite::Error::SqliteFailure(failure, _) = error else {
            return None;
        };
        if failure.code != rusqlite::ErrorCode::ConstraintViolation {
            return None;
        }
        Some(match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE => Self::Unique,
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Self::PrimaryKey,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Self::ForeignKey,
            ffi::SQLITE_CONSTRAINT_NOTNULL => Self::NotNull,
            ffi::SQLITE_CONSTRAINT_CHECK => Self::Check,
            _ => Self::Other,
        })
    }
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unique => "unique",
            Self::PrimaryKey => "primary key",
            Self::ForeignKey => "foreign key",
            Self::NotNull => "not null",
            Self::Check => "check",
            Self::Other => "other",
        })
    }
}

impl ConstraintKind {
    /// The constraint in a sentence: `unique constraint`, or `a constraint` for
    /// [`ConstraintKind::Other`].
    fn describe(self) -> String {
        match self {
            Self::Other => "a constraint".to_owned(),
            kind => format!("{kind} constraint"),
        }
    }
}

/// Why migrations could not be loaded, validated or applied.
///
/// Validation errors ([`Dirty`](Self::Dirty), [`Missing`](Self::Missing),
/// [`Modified`](Self::Modified), [`OutOfOrder`](Self::OutOfOrder)) are raised before anything is
/// applied: the database is left exactly as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// A file in a migrations directory has a name that is not `{version}_{description}.sql`.
    #[error(
        "invalid migration file name {file}: {reason} (expected `{{version}}_{{description}}.sql`)"
    )]
    InvalidFileName {
        /// The file.
        file: String,
        /// What is wrong with the name.
        reason: String,
    },

    /// A migration file is not valid UTF-8.
    #[error("migration file {} is not valid UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },

    /// A directive in a migration's header could not be read.
    #[error("migration {file}: {reason}")]
    InvalidDirective {
        /// The file.
        file: String,
        /// The line and what is wrong with it.
        reason: String,
    },

    /// Two migrations have the same version.
    #[error("migrations {first} and {second} have the same version {version}")]
    DuplicateVersion {
        /// The shared version.
        version: i64,
        /// The first migration with it.
        first: String,
        /// The second migration with it.
        second: String,
    },

    /// A migrations directory could not be read.
    #[error("cannot read migrations from {}: {source}", path.display())]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A history row is marked as failed (`success = 0`): an earlier run stopped partway.
    #[error(
        "migration {version} ({file}) is recorded as failed (success = 0 in _sqlx_migrations): \
         an earlier run stopped partway through it; check the schema it should have created, \
         then either finish it by hand and run `pipeline-store migrate repair --mark-applied`, \
         or undo what it did and run `pipeline-store migrate repair --forget-dirty` so it runs \
         again (in code: Migrator::repair with DirtyRepair::MarkApplied or DirtyRepair::Forget)"
    )]
    Dirty {
        /// The version.
        version: i64,
        /// Its file name, or its description when this build does not know it.
        file: String,
    },

    /// The database has a migration applied that this build does not know: it is ahead of the code.
    #[error(
        "migration {version} ({description}) is applied to the database but unknown to this build: \
         the database was migrated by a newer version of the application; upgrade the \
         application, or restore the file of migration {version}"
    )]
    Missing {
        /// The version.
        version: i64,
        /// Its description as recorded in the history.
        description: String,
    },

    /// A `-- no-transaction` migration is being applied by another process right now (it holds
    /// the migration lock), and did not finish within the wait.
    #[error(
        "migration {version} ({file}) is being applied by another process right now (it holds \
         {}); wait for it to finish and try again, and do not repair its history row while it runs",
        lock.display()
    )]
    InProgress {
        /// The version.
        version: i64,
        /// Its file name, or its description when this build does not know it.
        file: String,
        /// The lock file the running process holds.
        lock: PathBuf,
    },

    /// An applied migration's file was changed after it was applied.
    #[error(
        "migration {version} ({file}) was modified after it was applied: the file's checksum is \
         {expected} but the database recorded {found}; restore the file as it was and put the \
         change in a new migration"
    )]
    Modified {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
        /// SHA-384 of the file as this build has it, in hex.
        expected: String,
        /// The checksum recorded in `_sqlx_migrations`, in hex.
        found: String,
    },

    /// A pending migration is older than the newest applied one.
    #[error(
        "migration {version} ({file}) is not applied but is older than the newest applied \
         migration {latest}: give it a version after {latest} (rename the file) so it runs in order"
    )]
    OutOfOrder {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
        /// The newest applied version.
        latest: i64,
    },

    /// A migration's SQL failed; everything it did was rolled back and no history row was written.
    #[error(
        "migration {version} ({file}) failed at line {line} and was rolled back: {}",
        sqlite_message(source)
    )]
    Failed {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
        /// The line of the file where the failing statement (or the token SQLite refused) is.
        line: usize,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// A migration's SQL ended the transaction it runs in (a `COMMIT` or `END` statement).
    #[error(
        "migration {version} ({file}) ended the transaction it runs in (COMMIT or END in its SQL): \
         remove transaction statements from migration files, each one already runs in its own \
         transaction; the statements before it were committed without a history row"
    )]
    EndedTransaction {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
    },

    /// A `-- no-transaction` migration failed: statements before the failing one may have taken
    /// effect, and its history row is left with `success = 0`.
    #[error(
        "migration {version} ({file}) ran outside a transaction (-- no-transaction) and failed at \
         line {line}: {}; statements before the failing one may have taken effect and its \
         history row is marked failed: fix the schema by hand, then repair the history \
         (`pipeline-store migrate repair --mark-applied`, or `--forget-dirty` to run it again)",
        sqlite_message(source)
    )]
    FailedOutsideTransaction {
        /// The version.
        version: i64,
        /// The script's file name.
        file: String,
        /// The line of the file where the failing statement (or the token SQLite refused) is.
        line: usize,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// A `-- no-transaction` migration began a transaction and did not end it. It was rolled
    /// back, so the connection is usable again; the history row stays marked failed.
    #[error(
        "migration {version} ({file}) ran outside a transaction (-- no-transaction) and left a \
         transaction of its own open (BEGIN without COMMIT); it was rolled back and the history \
         row is marked failed: end the transaction in the file, fix the schema by hand, then \
         repair the history (`pipeline-store migrate repair --mark-applied` or `--forget-dirty`)"
    )]
    LeftTransactionOpen {
        /// The version.
        version: i64,
        /// The script's file name.
        file: String,
    },

    /// A `-- foreign-keys: off` migration left rows whose foreign key points nowhere; it was
    /// rolled back.
    #[error(
        "migration {version} ({file}) would leave rows whose foreign key points nowhere, so it was \
         rolled back: {}",
        violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    ForeignKeyViolations {
        /// The version.
        version: i64,
        /// The script's file name.
        file: String,
        /// The rows whose foreign key points nowhere.
        violations: Vec<crate::migrate::ForeignKeyViolation>,
    },

    /// A migration to revert has no down script.
    #[error(
        "migration {version} ({file}) has no down script (.down.sql), so it cannot be reverted; \
         nothing was reverted"
    )]
    Irreversible {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
    },

    /// A version that is not in the migration set was named.
    #[error("there is no migration with version {version}")]
    UnknownVersion {
        /// The version.
        version: i64,
    },

    /// A `-- no-transaction` migration cannot run inside the single transaction of grouped mode.
    #[error(
        "migration {version} ({file}) is -- no-transaction and cannot run in grouped mode's single \
         transaction; run it without grouping"
    )]
    NotGroupable {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
    },

    /// [`Migrator::validate`](crate::migrate::Migrator::validate) found a migration whose down
    /// script does not undo it.
    #[error("migration {version} ({file}) failed validation: {reason}")]
    ValidationFailed {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
        /// What went wrong.
        reason: String,
    },

    /// Migrations were asked to run on a connection with an open transaction.
    #[error("migrations cannot run inside an open transaction: commit or roll it back first")]
    InTransaction,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(extended_code: std::ffi::c_int) -> Error {
        rusqlite::Error::SqliteFailure(
            ffi::Error::new(extended_code),
            Some("the message".to_owned()),
        )
        .into()
    }

    #[test]
    fn constraint_messages_read_well_for_every_kind() {
        let cases = [
            (
                ffi::SQLITE_CONSTRAINT_UNIQUE,
                ConstraintKind::Unique,
                "unique constraint failed: the message",
            ),
            (
                ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
                ConstraintKind::PrimaryKey,
                "primary key constraint failed: the message",
            ),
            (
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
                ConstraintKind::ForeignKey,
                "foreign key constraint failed: the message",
            ),
            (
                ffi::SQLITE_CONSTRAINT_NOTNULL,
                ConstraintKind::NotNull,
                "not null constraint failed: the message",
            ),
            (
                ffi::SQLITE_CONSTRAINT_CHECK,
                ConstraintKind::Check,
                "check constraint failed: the message",
            ),
            (
                ffi::SQLITE_CONSTRAINT_TRIGGER,
                ConstraintKind::Other,
                "a constraint failed: the message",
            ),
        ];
        for (code, kind, message) in cases {
            let error = constraint(code);
            assert!(
                matches!(&error, Error::Constraint { kind: k, .. } if *k == kind),
                "{error}"
            );
            assert_eq!(error.to_string(), message);
        }
        assert_eq!(ConstraintKind::Other.to_string(), "other");
    }
}
