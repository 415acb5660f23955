//! Errors: one [`Error`] for the crate; [`MigrateError`], for everything about migrations, lives
//! beside the runner (`migrate/error.rs`) and is re-exported here.
//!
//! Every variant names what the user has to know to act: the path, the migration version and
//! file, the field. SQLite failures keep the original [`rusqlite::Error`] as their `source()`.
//! Constraint failures are told apart by SQLite's extended result code ([`ConstraintKind`]).

use std::fmt;
use std::path::PathBuf;

use rusqlite::ffi;

pub use crate::migrate::MigrateError;

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
        "{} is damaged ({detail}): restore the database from a backup (`schema::check` lists \
         what is wrong)",
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

    /// The database file exists but this process may only read it (its permissions, or a
    /// read-only mount), and it was opened for writing.
    #[error(
        "cannot open {} for writing: this process may only read it; open it read-only \
         (`OpenOptions::read_only`, or `mode=ro` in the URL) or give this user write access",
        path.display()
    )]
    FileNotWritable {
        /// The database file.
        path: PathBuf,
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

    /// A new file could not be created in its directory (not writable, full, no such device).
    #[error(
        "cannot create {} in {}: {source}",
        path.display(),
        directory.display()
    )]
    CannotCreate {
        /// The file that was to be made.
        path: PathBuf,
        /// Its directory.
        directory: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
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
            " by an archived pipeline; delete that pipeline (`pipelines::delete`) or rename it (`pipelines::rename`) to free the name"
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

    /// [`OpenOptions::rehearse_before_migrate`](crate::schema::OpenOptions::rehearse_before_migrate)
    /// found that the pending migrations would lose rows or fail a check: nothing was applied.
    #[error(
        "the upgrade was rehearsed on a copy and refused, nothing was applied: {}",
        rehearsal_summary(report)
    )]
    RehearsalRefused {
        /// What the rehearsal found.
        report: Box<crate::migrate::Rehearsal>,
    },

    /// A connection pool could not be built or could not give a connection in time.
    #[cfg(feature = "r2d2")]
    #[error("connection pool for {url}: {source}")]
    Pool {
        /// The database URL.
        url: String,
        /// r2d2's error.
        source: r2d2::Error,
    },

    /// No pooled connection came free within the pool's connection timeout (`pool.get()`
    /// failed), with the last error met opening one, if any: `?` on `pool.get()` gives this.
    #[cfg(feature = "r2d2")]
    #[error("no pooled connection within the pool's timeout: {source}")]
    PoolTimeout {
        /// r2d2's error.
        #[from]
        source: r2d2::Error,
    },

    /// A migration could not be loaded, validated or applied.
    #[error(transparent)]
    Migrate(MigrateError),

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

    /// A write inside a caller's deferred transaction that had already read, after another
    /// connection wrote: SQLite cannot turn that read into a write (its snapshot is stale, or
    /// waiting could deadlock), so it answers at once, whatever the busy timeout. Begin such a
    /// transaction as a write from the start ([`repo::write_transaction`](crate::repo::write_transaction),
    /// or `TransactionBehavior::Immediate`) and run it again.
    #[error(
        "a write in a deferred transaction that had already read cannot proceed: another \
         connection wrote since, and SQLite does not upgrade such a transaction (it answers at \
         once, without waiting for the busy timeout); begin the transaction with \
         repo::write_transaction or TransactionBehavior::Immediate and run it again: {source}"
    )]
    DeferredWrite {
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

impl From<MigrateError> for Error {
    /// The migration layer's error; its SQLite and I/O failures become the crate's own variants
    /// for them, as every other SQLite or I/O failure does.
    fn from(error: MigrateError) -> Self {
        match error {
            MigrateError::Sqlite { source } => Self::from(source),
            MigrateError::Io {
                operation,
                path,
                source,
            } => Self::Io {
                operation,
                path,
                source,
            },
            MigrateError::NoFileToCopy => {
                Self::invalid("database", MigrateError::NoFileToCopy.to_string())
            }
            MigrateError::CopyTargetExists { path } => Self::AlreadyExists { path },
            MigrateError::CopyDirectoryNotFound { path, directory } => {
                Self::DirectoryNotFound { path, directory }
            }
            MigrateError::Copy { path, source } => Self::Backup { path, source },
            other => Self::Migrate(other),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        if let Some(kind) = ConstraintKind::of(&error) {
            return Self::Constraint {
                kind,
                source: error,
            };
        }
        if let rusqlite::Error::SqliteFailure(failure, _) = &error
            && failure.extended_code == rusqlite::ffi::SQLITE_BUSY_SNAPSHOT
        {
            return Self::DeferredWrite { source: error };
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
            | Self::DeferredWrite { source }
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

/// One line on why a rehearsal refused an upgrade.
fn rehearsal_summary(report: &crate::migrate::Rehearsal) -> String {
    if let Some(failure) = &report.failure {
        return failure.clone();
    }
    let mut reasons: Vec<String> = report
        .steps
        .iter()
        .flat_map(|step| {
            step.losses().map(move |rows| {
                format!(
                    "migration {} ({}) would lose {} row(s) of {}",
                    step.version,
                    step.file,
                    rows.lost(),
                    rows.table
                )
            })
        })
        .collect();
    for step in &report.steps {
        if !step.foreign_keys.is_empty() {
            reasons.push(format!(
                "migration {} ({}) leaves {} row(s) pointing nowhere",
                step.version,
                step.file,
                step.foreign_keys.len()
            ));
        }
    }
    if !report.integrity.is_empty() {
        reasons.push(format!("integrity_check: {}", report.integrity.join("; ")));
    }
    reasons.join("; ")
}

pub(crate) use crate::migrate::sqlite_message;

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
