//! `MigrateError`: why migrations could not be loaded, validated or applied. Each variant names
//! the version and file, and says what to do.

use std::path::PathBuf;

/// The result type of the migration layer.
pub type Result<T, E = MigrateError> = std::result::Result<T, E>;

/// SQLite's own message, on one line, without the statement text rusqlite adds to some errors.
pub(crate) fn sqlite_message(error: &rusqlite::Error) -> String {
    let message = match error {
        rusqlite::Error::SqliteFailure(_, Some(message))
        | rusqlite::Error::SqlInputError { msg: message, .. } => message.clone(),
        other => other.to_string(),
    };
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What an `ON DELETE` action does to a row.
fn cascade_verb(action: &str) -> &'static str {
    match action {
        "CASCADE" => "delete",
        "SET NULL" => "set to NULL the foreign key of",
        _ => "set to its default the foreign key of",
    }
}

/// ` in TABLE` for a history table other than sqlx's, nothing for sqlx's: messages about the
/// default set read as they always have.
fn in_history(table: &str) -> String {
    if table == super::DEFAULT_HISTORY_TABLE {
        String::new()
    } else {
        format!(" (history table {table})")
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
        "migration {version} ({file}) is recorded as failed (success = 0 in {history}): \
         an earlier run stopped partway through it; check the schema it should have created, \
         then either finish it by hand and record it with `Migrator::repair` and \
         `DirtyRepair::MarkApplied`, or undo what it did and forget it with `Migrator::repair` \
         and `DirtyRepair::Forget` so it runs again"
    )]
    Dirty {
        /// The version.
        version: i64,
        /// Its file name, or its description when this build does not know it.
        file: String,
        /// The history table that holds the row.
        history: String,
    },

    /// The database has a migration applied that this build does not know: it is ahead of the code.
    #[error(
        "migration {version} ({description}) is applied to the database but unknown to this build{}: \
         the database was migrated by a newer version of the application; upgrade the \
         application, or restore the file of migration {version}",
        in_history(history)
    )]
    Missing {
        /// The version.
        version: i64,
        /// Its description as recorded in the history.
        description: String,
        /// The history table that records it.
        history: String,
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
         migration {latest}{}: give it a version after {latest} (rename the file) so it runs in order",
        in_history(history)
    )]
    OutOfOrder {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
        /// The newest applied version.
        latest: i64,
        /// The history table of the set it belongs to.
        history: String,
    },

    /// A history table name that cannot be one ([`Migrator::history_table`](super::Migrator::history_table)).
    #[error("{name:?} cannot name a history table: {reason}")]
    InvalidHistoryTable {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Two migration sets opened together keep their history in the same table.
    #[error(
        "two migration sets given together both keep their history in {history}: give each its \
         own table (`Migrator::history_table`)"
    )]
    SharedHistoryTable {
        /// The table.
        history: String,
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

    /// A migration's `DROP TABLE` would have deleted or changed rows of another table through
    /// its foreign key (foreign keys on); it was refused before it ran, and the migration was
    /// rolled back (a `-- no-transaction` one stops there, what ran before it stays).
    #[error(
        "migration {version} ({file}) was refused at line {line}: DROP TABLE {table} would {} \
         {rows} row(s) of {child} (its foreign key onto {table} is ON DELETE {action}); put \
         `-- foreign-keys: off` in the file's header if the table is rebuilt (keys are checked \
         before it commits), drop or empty {child} first if its rows are meant to go, or allow \
         the loss with `-- pipeline-store: allow drop-referenced-table`",
        cascade_verb(action)
    )]
    DropWouldChangeRows {
        /// The version.
        version: i64,
        /// Its file name.
        file: String,
        /// The line of the `DROP TABLE`.
        line: usize,
        /// The table it drops.
        table: String,
        /// The referencing table whose rows would change.
        child: String,
        /// Its `ON DELETE` action: `CASCADE`, `SET NULL` or `SET DEFAULT`.
        action: String,
        /// How many of its rows point at a row of the table.
        rows: u64,
    },

    /// A migration's SQL ended the transaction it runs in (a `COMMIT` or `END` statement).
    #[error(
        "migration {version} ({file}) ended the transaction it runs in (COMMIT or END in its SQL): \
         remove transaction statements from migration files, each one already runs in its own \
         transaction; the statements before it were committed and its history row is marked \
         failed (dirty)"
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
         (`Migrator::repair` and `DirtyRepair::MarkApplied`, or `DirtyRepair::Forget` to run it again)",
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
         repair the history (`Migrator::repair` and `DirtyRepair::MarkApplied` or `DirtyRepair::Forget`)"
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

    /// A lint rule that is not one of the linter's was named to allow.
    #[error(
        "{rule:?} is not a lint rule; the rules are foreign-keys-pragma, directive-spelling, \
         transaction-control and drop-referenced-table"
    )]
    UnknownRule {
        /// The name given.
        rule: String,
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

    /// The linter refused migrations before anything was applied.
    #[error(
        "{} migration finding(s), nothing was applied: {}",
        findings.len(),
        findings.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ")
    )]
    Lint {
        /// What was found; every one is refused (allowed findings are only logged).
        findings: Vec<crate::migrate::Finding>,
    },

    /// Migrations were asked to run on a connection with an open transaction.
    #[error("migrations cannot run inside an open transaction: commit or roll it back first")]
    InTransaction,

    /// The database is in memory: there is no file to copy for a rehearsal.
    #[error("an in-memory database cannot be rehearsed on a copy; open a file")]
    NoFileToCopy,

    /// The file a rehearsal was asked to leave its copy at exists; it is never overwritten.
    #[error("{} already exists; choose a new path for the rehearsed copy", path.display())]
    CopyTargetExists {
        /// The path.
        path: PathBuf,
    },

    /// The directory a rehearsal was asked to leave its copy in does not exist.
    #[error(
        "cannot create the rehearsed copy {}: directory {} does not exist",
        path.display(),
        directory.display()
    )]
    CopyDirectoryNotFound {
        /// The copy's path.
        path: PathBuf,
        /// Its missing directory.
        directory: PathBuf,
    },

    /// SQLite failed to copy the database for a rehearsal; no copy was left behind.
    #[error("copying the database to {} failed: {source}", path.display())]
    Copy {
        /// The copy that was being written.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// A file system operation on the named path failed (reading a migrations directory,
    /// taking the lock beside a database).
    #[error("{} failed for {}: {source}", operation, path.display())]
    Io {
        /// What was being done (`reading`, `locking`, ...).
        operation: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// SQLite failed outside a migration's own statements (reading or writing the history,
    /// beginning a transaction, the linter's in-memory copy). Converted into
    /// the crate's `Error`, it becomes the variant SQLite's code calls for (`Busy`, `Full`,
    /// `ReadOnly`, `Constraint`, `Sqlite`).
    #[error("sqlite error: {source}")]
    Sqlite {
        /// SQLite's error.
        #[from]
        source: rusqlite::Error,
    },
}
