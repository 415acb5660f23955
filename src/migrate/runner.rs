//! The migrator: a set of migrations and its policies, and applying what is pending (plan once,
//! then each migration with its history row). Loading is in `load`, planning in `plan`,
//! reverting in `revert`, reporting in `report`.
//!
//! Each step (one migration, or a grouped run's all) is applied by `step`, which `revert`
//! uses too.

use std::time::{Duration, Instant};

use log::debug;
use rusqlite::Connection;

use super::lock;
use super::plan::{Policies, Policy, log_warnings};
use super::progress::{OnProgress, Progress};
use super::step::Direction;
use super::{HistoryTable, Migration, MigrationReport, PendingMigration, Script};
use super::{MigrateError, Result};

/// How long a run waits for a `-- no-transaction` migration another process is applying, when
/// no busy timeout says otherwise (the default busy timeout of `schema::OpenOptions`).
pub(super) const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// An ordered set of migrations and the runner that applies them.
///
/// ```
/// use pipeline_store::migrate::{Migration, Migrator};
///
/// let migrator = Migrator::new(vec![
///     Migration::new(1, "create notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"),
///     Migration::new(2, "index notes", "CREATE INDEX idx_notes_body ON notes(body);")
///         .with_down("DROP INDEX idx_notes_body;"),
/// ])?;
/// let mut conn = rusqlite::Connection::open_in_memory()?;
/// let report = migrator.run(&mut conn)?;
/// assert_eq!(report.applied.len(), 2);
/// assert!(migrator.run(&mut conn)?.is_up_to_date());
/// migrator.revert_to(&mut conn, 1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrator {
    pub(super) migrations: Vec<Migration>,
    pub(super) policies: Policies,
    pub(super) grouped: bool,
    /// Embedded by `build.rs`, which refused any lint finding: nothing to lint at run time.
    pub(super) linted_at_build: bool,
    /// The table this set's history is kept in.
    pub(crate) history: HistoryTable,
    /// The sets this one builds on (their tables are there before its first migration runs):
    /// applied first where this set is tried alone, by `validate`, `lint` and drift.
    pub(super) base: Vec<Migrator>,
    /// How long a run waits for a `-- no-transaction` migration another process is applying.
    pub(super) wait: Duration,
    /// Whether `pending` and `run` log what the policies let through.
    pub(super) log_warnings: bool,
    /// Told when each script starts and stops.
    pub(super) progress: OnProgress,
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
                });
            }
        }
        Ok(Self {
            migrations,
            policies: Policies::default(),
            grouped: false,
            linted_at_build: false,
            history: HistoryTable::DEFAULT,
            base: Vec::new(),
            wait: DEFAULT_WAIT,
            log_warnings: true,
            progress: OnProgress::default(),
        })
    }

    /// What to do with an applied migration whose file changed (default [`Policy::Error`]).
    #[must_use]
    pub fn on_modified(mut self, policy: Policy) -> Self {
        self.policies.modified = policy;
        self
    }

    /// What to do with an applied version this set does not know (default [`Policy::Error`]).
    #[must_use]
    pub fn on_missing(mut self, policy: Policy) -> Self {
        self.policies.missing = policy;
        self
    }

    /// What to do with a pending version older than the newest applied one (default
    /// [`Policy::Error`]); when not refused, it is applied.
    #[must_use]
    pub fn on_out_of_order(mut self, policy: Policy) -> Self {
        self.policies.out_of_order = policy;
        self
    }

    /// What to do with an applied migration whose file differs only in line endings (CRLF/LF)
    /// or a byte order mark (default [`Policy::Warn`]: a Windows checkout is the same file).
    #[must_use]
    pub fn on_line_endings(mut self, policy: Policy) -> Self {
        self.policies.line_endings = policy;
        self
    }

    /// Apply all pending migrations in one transaction, all or nothing (default: one
    /// transaction per migration). `-- no-transaction` migrations cannot be grouped.
    #[must_use]
    pub fn grouped(mut self, grouped: bool) -> Self {
        self.grouped = grouped;
        self
    }

    /// How long [`pending`](Self::pending), [`run`](Self::run) and
    /// [`revert_to`](Self::revert_to) wait for a `-- no-transaction` migration that another
    /// process is applying before they report it as [`MigrateError::InProgress`] (default 5 s,
    /// the default busy timeout of `OpenOptions`, whose opens wait for their busy timeout). A
    /// history row marked failed whose process is gone is [`MigrateError::Dirty`] at once.
    #[must_use]
    pub fn busy_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Whether [`pending`](Self::pending) and [`run`](Self::run) log, as warnings, what the
    /// policies let through (default `true`; an open logs them once whatever this says).
    #[must_use]
    pub fn log_warnings(mut self, log: bool) -> Self {
        self.log_warnings = log;
        self
    }

    /// Calls `callback` as each script of a run starts and stops (see [`Progress`]): for a
    /// progress line or a status bar, in the thread that runs the migrations. It is called
    /// with the migration's transaction open, so it should only note the event (send it to
    /// another thread, store it), not touch the database. Replaces any earlier callback; the
    /// same records are logged on [`PROGRESS_TARGET`](super::PROGRESS_TARGET) whether or not
    /// there is one. A callback is not part of the set: clones keep it, and migrators compare
    /// equal whatever their callbacks.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use pipeline_store::migrate::{Migration, Migrator, Progress};
    ///
    /// let running = Arc::new(Mutex::new(None));
    /// let noted = Arc::clone(&running);
    /// let migrator = Migrator::new(vec![Migration::new(1, "create", "CREATE TABLE t (x);")])?
    ///     .on_progress(move |event| {
    ///         *noted.lock().unwrap() = match event {
    ///             Progress::Started { file, .. } => Some(file.to_string()),
    ///             _ => None,
    ///         };
    ///     });
    /// let mut conn = pipeline_store::rusqlite::Connection::open_in_memory()?;
    /// migrator.run(&mut conn)?;
    /// assert_eq!(*running.lock().unwrap(), None, "nothing running once the run returns");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn on_progress(mut self, callback: impl Fn(&Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = OnProgress::new(callback);
        self
    }

    /// A set embedded at build time by `pipeline-store-build` (what
    /// `include_migrations!` gives): checksums, directives and the
    /// text lint rules were settled by the build script; the rules that read the live schema
    /// still run before each run.
    ///
    /// # Errors
    ///
    /// [`MigrateError::DuplicateVersion`] when two migrations share a version (the build script
    /// refuses that already).
    pub fn embedded(migrations: &'static [super::Embedded]) -> Result<Self> {
        Self::new(migrations.iter().map(Migration::embedded).collect())
    }

    /// Marks a set embedded by `build.rs`, whose files were linted when they were embedded.
    pub(crate) fn linted_at_build(mut self) -> Self {
        self.linted_at_build = true;
        self
    }

    /// Allows lint rule `rule` for migration `version` (every migration of the set for `None`)
    /// without editing its file, as `-- pipeline-store: allow RULE` in its header would: for a
    /// third party's files, whose checksums are recorded where they were applied. An allowed
    /// finding is reported (`lint`, the log of `run`) and never refused; allowing
    /// `drop-referenced-table` also lets the migration's drops change rows of referencing
    /// tables (the run-time guard stands down for it, as for the in-file escape).
    ///
    /// ```
    /// use pipeline_store::migrate::{Migration, Migrator};
    ///
    /// let migrator = Migrator::new(vec![Migration::new(
    ///     1,
    ///     "vendor",
    ///     "CREATE TABLE a (x);\nBEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;",
    /// )])?
    /// .allow("transaction-control", Some(1))?;
    /// assert!(migrator.lint()?.iter().all(|f| f.allowed));
    /// # Ok::<(), pipeline_store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MigrateError::UnknownRule`] for a rule that is not one of the linter's;
    /// [`MigrateError::UnknownVersion`] for a version that is not in the set.
    pub fn allow(mut self, rule: &str, version: Option<i64>) -> Result<Self> {
        let Some(rule) = super::sql::RULES.iter().find(|r| **r == rule) else {
            return Err(MigrateError::UnknownRule {
                rule: rule.to_owned(),
            });
        };
        if let Some(v) = version
            && !self.migrations.iter().any(|m| m.version == v)
        {
            return Err(MigrateError::UnknownVersion { version: v });
        }
        for m in &mut self.migrations {
            if version.is_none_or(|v| v == m.version) && !m.allowed.contains(rule) {
                m.allowed.push(rule);
            }
        }
        Ok(self)
    }

    /// This set keeps its history in `table` instead of sqlx's `_sqlx_migrations`: how a host
    /// program's migrations live beside this crate's in one database, each set with its own
    /// history, checked on its own (missing, modified, out of order, dirty) and never touched
    /// by the other's repairs. The table has sqlx's columns; sqlx 0.9 names it the same way.
    ///
    /// ```
    /// use pipeline_store::migrate::{Migration, Migrator};
    ///
    /// let host = Migrator::new(vec![Migration::new(20261201090000, "create jobs", "CREATE TABLE jobs (id INTEGER PRIMARY KEY);")])?
    ///     .history_table("_host_migrations")?;
    /// let mut conn = pipeline_store::initialize_database(":memory:")?;
    /// host.run(&mut conn)?;
    /// assert_eq!(host.applied(&conn)?.len(), 1);
    /// assert_eq!(pipeline_store::migrate::applied(&conn)?.len(), pipeline_store::schema::migrator().migrations().len());
    /// # Ok::<(), pipeline_store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MigrateError::InvalidHistoryTable`] unless `table` is a plain identifier (ASCII letters,
    /// digits and `_`, not starting with a digit), at most 64 characters, not `sqlite_…`.
    pub fn history_table(mut self, table: &str) -> Result<Self> {
        self.history =
            HistoryTable::named(table).map_err(|reason| MigrateError::InvalidHistoryTable {
                name: table.to_owned(),
                reason,
            })?;
        Ok(self)
    }

    /// This set builds on `base` (a host's set on this crate's: its migrations reference
    /// `pipelines`): where the set is tried on its own, [`validate`](Self::validate),
    /// [`lint`](Self::lint) and drift apply `base` first. Opening a database still takes every
    /// set explicitly (`OpenOptions::open_with_migrators`).
    #[must_use]
    pub fn after(mut self, base: &Migrator) -> Self {
        self.base.push(base.clone());
        self
    }

    /// The sets this one builds on, then this one: the order they are applied in.
    pub(crate) fn with_base(&self) -> Vec<&Migrator> {
        let mut sets: Vec<&Migrator> = self.base.iter().collect();
        sets.push(self);
        sets
    }

    /// The table this set keeps its history in.
    #[must_use]
    pub fn history_table_name(&self) -> &str {
        &self.history.name
    }

    /// This set's history: every row of its history table, by version (empty when there is
    /// none). Reads only.
    ///
    /// # Errors
    ///
    /// [`MigrateError::Sqlite`](super::MigrateError::Sqlite) when the table cannot be read.
    pub fn applied(&self, conn: &Connection) -> Result<Vec<super::AppliedMigration>> {
        Ok(self.history.read_history(conn)?)
    }

    /// The migrations, by version.
    #[must_use]
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    pub(crate) fn find(&self, version: i64) -> Option<&Migration> {
        self.migrations
            .binary_search_by_key(&version, Migration::version)
            .ok()
            .map(|i| &self.migrations[i])
    }

    /// Validates the database against this set and lists what is pending, without writing.
    ///
    /// # Errors
    ///
    /// The first problem found, in this order: [`MigrateError::Dirty`], [`MigrateError::Missing`],
    /// [`MigrateError::Modified`], [`MigrateError::OutOfOrder`] (as the policies decide); or
    /// [`MigrateError::Sqlite`](super::MigrateError::Sqlite) when the history cannot be read.
    pub fn pending(&self, conn: &Connection) -> Result<Vec<PendingMigration>> {
        let plan = self.plan_for(conn, self.wait)?;
        if self.log_warnings {
            plan.log_warnings();
        }
        Ok(plan.pending())
    }

    /// Applies every pending migration, each with its history row in one `BEGIN IMMEDIATE`
    /// transaction (or all in one, [`grouped`](Self::grouped)).
    ///
    /// When the database is up to date this costs one small read and writes nothing.
    ///
    /// * `-- foreign-keys: off` migrations run with foreign keys switched off (before `BEGIN`,
    ///   since SQLite ignores the switch inside a transaction), and `PRAGMA foreign_key_check`
    ///   runs before `COMMIT`: a violation rolls the migration back. Foreign keys are switched
    ///   back on afterwards, whatever happened.
    /// * `-- no-transaction` migrations run in autocommit mode: a history row with
    ///   `success = 0` is written first and set to 1 once they finish, so a failure leaves a
    ///   dirty row that the next run reports.
    ///
    /// # Errors
    ///
    /// * [`MigrateError::InTransaction`] when `conn` has an open transaction;
    /// * [`MigrateError::Lint`] when a pending migration has a lint finding its file does not
    ///   allow (see [`Migrator::lint`]), with nothing applied;
    /// * a validation error ([`MigrateError::Dirty`], [`Missing`](MigrateError::Missing),
    ///   [`Modified`](MigrateError::Modified), [`OutOfOrder`](MigrateError::OutOfOrder)), with
    ///   nothing applied;
    /// * [`MigrateError::Failed`] when a migration's SQL fails: it is rolled back, and the
    ///   migrations before it stay applied ([`MigrateError::FailedOutsideTransaction`] for a
    ///   `-- no-transaction` one); [`MigrateError::ForeignKeyViolations`];
    /// * [`MigrateError::Sqlite`] with SQLite's busy code when another connection holds the
    ///   write lock past the busy timeout (the crate's `Error::Busy` once converted).
    pub fn run(&self, conn: &mut Connection) -> Result<MigrationReport> {
        self.run_up(conn, None)
    }

    /// Applies pending migrations up to and including `version`.
    ///
    /// # Errors
    ///
    /// [`MigrateError::UnknownVersion`] when `version` is not in this set; otherwise as
    /// [`run`](Self::run).
    pub fn run_to(&self, conn: &mut Connection, version: i64) -> Result<MigrationReport> {
        if self.find(version).is_none() {
            return Err(MigrateError::UnknownVersion { version });
        }
        self.run_up(conn, Some(version))
    }

    fn run_up(&self, conn: &mut Connection, target: Option<i64>) -> Result<MigrationReport> {
        if !conn.is_autocommit() {
            return Err(MigrateError::InTransaction);
        }
        let plan = self.plan_for(conn, self.wait)?;
        if self.log_warnings {
            plan.log_warnings();
        }
        plan.apply(conn, target)
    }

    /// Reads the history and plans, waiting up to `wait` for a `-- no-transaction` migration
    /// that another process is applying: only a dirty row whose process is gone is
    /// [`MigrateError::Dirty`]. Logs nothing: the caller logs the plan's warnings once.
    pub(crate) fn plan_for(&self, conn: &Connection, wait: Duration) -> Result<Plan<'_>> {
        let deadline = Instant::now() + wait;
        loop {
            let recorded = self.history.read_recorded(conn)?.unwrap_or_default();
            match self.plan_with_warnings(&recorded, |v| self.history.recorded_description(conn, v))
            {
                Ok((pending, warnings)) => {
                    return Ok(Plan {
                        migrator: self,
                        pending,
                        warnings,
                        recorded: recorded.len(),
                        wait,
                    });
                }
                Err(MigrateError::Dirty {
                    version,
                    file,
                    history,
                }) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match lock::explain_dirty(conn, left, version, &file)? {
                        lock::Dirty::Finished => {}
                        lock::Dirty::Abandoned => {
                            return Err(MigrateError::Dirty {
                                version,
                                file,
                                history,
                            });
                        }
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }
}

/// What one set would apply, planned once: what an open hands to its backup, its rehearsal
/// and its apply (which plans again under the write lock before each step).
#[derive(Debug)]
pub(crate) struct Plan<'m> {
    migrator: &'m Migrator,
    pending: Vec<&'m Migration>,
    warnings: Vec<String>,
    /// How many rows the history had.
    recorded: usize,
    /// How long to wait for a `-- no-transaction` migration another process is applying.
    wait: Duration,
}

impl Plan<'_> {
    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The pending migrations, in order.
    pub(crate) fn pending(&self) -> Vec<PendingMigration> {
        self.pending
            .iter()
            .map(|m| PendingMigration::from(*m))
            .collect()
    }

    /// The first and last pending versions.
    pub(crate) fn versions(&self) -> Option<(i64, i64)> {
        Some((self.pending.first()?.version, self.pending.last()?.version))
    }

    /// Logs what the policies let through (one warning per file).
    pub(crate) fn log_warnings(&self) {
        log_warnings(&self.warnings);
    }

    /// Applies the plan, up to `target` (everything for `None`): lints what is pending, then
    /// applies it step by step (one migration, or all of them when grouped), each step
    /// planning again under the write lock.
    pub(crate) fn apply(
        self,
        conn: &mut Connection,
        target: Option<i64>,
    ) -> Result<MigrationReport> {
        let Plan {
            migrator,
            pending,
            recorded,
            wait,
            ..
        } = self;
        if !conn.is_autocommit() {
            return Err(MigrateError::InTransaction);
        }
        let mut pending = up_to(pending, target);
        if pending.is_empty() {
            debug!("schema is up to date ({recorded} migrations applied)");
            return Ok(MigrationReport::default());
        }
        let scripts: Vec<(&Migration, Script<'_>)> =
            pending.iter().map(|m| (*m, m.up_script())).collect();
        migrator.refuse_findings(conn, &scripts)?;
        if migrator.grouped
            && let Some(m) = pending.iter().find(|m| m.no_transaction)
        {
            return Err(MigrateError::NotGroupable {
                version: m.version,
                file: m.file.to_string(),
            });
        }
        let direction = Direction::Up { target };
        let mut report = MigrationReport::default();
        let mut from = 0;
        loop {
            let step = if migrator.grouped {
                &pending[from..]
            } else {
                &pending[from..pending.len().min(from + 1)]
            };
            if step.is_empty() {
                return Ok(report);
            }
            let done = migrator.apply_step(conn, direction, step, wait)?;
            if let Some(last) = done.last() {
                // Applied under the write lock, after a plan made there: the next step starts
                // after it (and plans again there before applying anything).
                from += step
                    .iter()
                    .take_while(|m| m.version != last.version)
                    .count()
                    + 1;
                report.applied.extend(done);
            } else {
                // Another process applied it, or has a `-- no-transaction` migration running:
                // see what is left, waiting for that one.
                pending = up_to(migrator.plan_for(conn, wait)?.pending, target);
                from = 0;
            }
        }
    }
}

/// The pending migrations not newer than `target`.
fn up_to(pending: Vec<&Migration>, target: Option<i64>) -> Vec<&Migration> {
    pending
        .into_iter()
        .filter(|m| target.is_none_or(|t| m.version <= t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_log::warnings_about;

    /// A database whose history holds `file`'s migration with CRLF line endings.
    fn line_endings_database(description: &'static str) -> (Migrator, Connection) {
        let sql = "CREATE TABLE t (x);\n";
        let migrator = Migrator::new(vec![
            Migration::new(1, description, sql),
            Migration::new(2, "more", "CREATE TABLE u (x);"),
        ])
        .unwrap();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!("{}{sql}", HistoryTable::DEFAULT.create))
            .unwrap();
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (1, ?1, TRUE, ?2, 0)",
            rusqlite::params![
                description,
                super::super::checksum(sql.replace('\n', "\r\n").as_bytes()).to_vec()
            ],
        )
        .unwrap();
        (migrator, conn)
    }

    #[test]
    fn warnings_are_logged_unless_the_migrator_says_not_to() {
        let (migrator, mut conn) = line_endings_database("quiet line endings");
        let file = "1_quiet_line_endings.sql";
        warnings_about(file);
        let quiet = migrator.clone().log_warnings(false);
        assert_eq!(quiet.pending(&conn).unwrap().len(), 1);
        assert_eq!(quiet.run(&mut conn).unwrap().applied.len(), 1);
        assert_eq!(warnings_about(file), Vec::<String>::new());
        assert!(migrator.pending(&conn).unwrap().is_empty());
        assert_eq!(warnings_about(file).len(), 1);
        assert!(migrator.run(&mut conn).unwrap().is_up_to_date());
        assert_eq!(warnings_about(file).len(), 2);
    }
}
