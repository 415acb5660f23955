//! The migrator: loading a set, planning, applying and reverting.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use rusqlite::{Connection, TransactionBehavior, params};

use super::{
    AppliedStep, CREATE_HISTORY, FORGET_HISTORY, INSERT_HISTORY, Migration, MigrationReport,
    MigrationState, MigrationStatus, PendingMigration, Recorded, Script, read_history,
    read_recorded, recorded_description, to_hex,
};
use super::{lock, parse};
use crate::error::{MigrateError, Result};

const CLAIM: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
     VALUES (?1, ?2, FALSE, ?3, -1) ON CONFLICT (version) DO NOTHING";
const FINISH: &str =
    "UPDATE _sqlx_migrations SET success = TRUE, execution_time = ?2 WHERE version = ?1";
const MARK_REVERTING: &str =
    "UPDATE _sqlx_migrations SET success = FALSE WHERE version = ?1 AND success = TRUE";
const IS_RECORDED: &str = "SELECT 1 FROM _sqlx_migrations WHERE version = ?1";

/// How long a run waits for a `-- no-transaction` migration another process is applying, when
/// no busy timeout says otherwise (the default busy timeout of [`crate::schema::OpenOptions`]).
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// What to do when validation finds a problem of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// Refuse to run, with nothing applied.
    Error,
    /// Log a warning and go on.
    Warn,
    /// Go on silently.
    Allow,
}

/// How a [`Migrator`] treats each kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Policies {
    modified: Policy,
    missing: Policy,
    out_of_order: Policy,
    line_endings: Policy,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            modified: Policy::Error,
            missing: Policy::Error,
            out_of_order: Policy::Error,
            line_endings: Policy::Warn,
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
    migrations: Vec<Migration>,
    policies: Policies,
    grouped: bool,
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
        Ok(Self {
            migrations,
            policies: Policies::default(),
            grouped: false,
        })
    }

    /// A migrator over the `*.sql` files of a directory, read now. `{v}_{d}.up.sql` and
    /// `{v}_{d}.down.sql` make one reversible migration.
    ///
    /// Other files (a README, `.gitkeep`) and subdirectories are ignored; every `.sql` file must
    /// be a well-formed migration.
    ///
    /// # Errors
    ///
    /// [`MigrateError::Read`] when the directory or a file cannot be read,
    /// [`MigrateError::InvalidFileName`] (also for a `.down.sql` without its `.up.sql`),
    /// [`MigrateError::NotUtf8`], [`MigrateError::InvalidDirective`] or
    /// [`MigrateError::DuplicateVersion`], each naming the file.
    pub fn from_dir(path: impl AsRef<Path>) -> Result<Self> {
        let dir = path.as_ref();
        let read_error = |path: &Path, source| MigrateError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| read_error(dir, e))? {
            let entry = entry.map_err(|e| read_error(dir, e))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
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
            entries.push((name, path));
        }
        entries.sort();
        let mut migrations = Vec::new();
        let mut downs = BTreeMap::new();
        for (name, path) in entries {
            let bytes = std::fs::read(&path).map_err(|e| read_error(&path, e))?;
            let sql = String::from_utf8(bytes)
                .map_err(|_| MigrateError::NotUtf8 { path: path.clone() })?;
            let parsed =
                parse::parse_file_name(&name).map_err(|reason| MigrateError::InvalidFileName {
                    file: name.clone(),
                    reason,
                })?;
            if parsed.kind == parse::Kind::Down {
                if let Some(first) = downs
                    .insert(parsed.version, (name.clone(), sql))
                    .map(|(n, _)| n)
                {
                    return Err(MigrateError::DuplicateVersion {
                        version: parsed.version,
                        first,
                        second: name,
                    }
                    .into());
                }
            } else {
                migrations.push((parsed.kind, Migration::from_file(name, sql)?));
            }
        }
        let mut complete = Vec::with_capacity(migrations.len());
        for (kind, migration) in migrations {
            match downs.remove(&migration.version) {
                Some((file, _)) if kind == parse::Kind::Simple => {
                    return Err(MigrateError::InvalidFileName {
                        file,
                        reason: format!(
                            "its up migration must be named {}",
                            migration.file.replace(".sql", ".up.sql")
                        ),
                    }
                    .into());
                }
                Some((file, sql)) => {
                    let mut with_down = migration.with_down(sql);
                    if let Some(down) = with_down.down.as_mut() {
                        down.file = file.into();
                    }
                    complete.push(with_down);
                }
                None => complete.push(migration),
            }
        }
        if let Some((_, (file, _))) = downs.into_iter().next() {
            return Err(MigrateError::InvalidFileName {
                file,
                reason: "there is no .up.sql file with its version".to_owned(),
            }
            .into());
        }
        Self::new(complete)
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
                    Some(a) if m.matches_checksum(&a.checksum) => MigrationState::Applied,
                    Some(a) if m.differs_only_in_line_endings(&a.checksum) => {
                        MigrationState::LineEndings
                    }
                    Some(_) => MigrationState::Modified,
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
    /// [`MigrateError::Modified`], [`MigrateError::OutOfOrder`] (as the policies decide); or
    /// [`Error::Sqlite`](crate::Error::Sqlite) when the history cannot be read.
    pub fn pending(&self, conn: &Connection) -> Result<Vec<PendingMigration>> {
        self.pending_waiting(conn, DEFAULT_WAIT)
    }

    /// [`pending`](Self::pending), waiting up to `wait` for a migration another process is
    /// applying.
    pub(crate) fn pending_waiting(
        &self,
        conn: &Connection,
        wait: Duration,
    ) -> Result<Vec<PendingMigration>> {
        let (pending, warnings, _) = self.plan_settled(conn, wait)?;
        log_warnings(&warnings);
        Ok(pending.into_iter().map(PendingMigration::from).collect())
    }

    /// [`pending`](Self::pending) without logging: for a check made before a run that logs.
    pub(crate) fn pending_quiet(
        &self,
        conn: &Connection,
        wait: Duration,
    ) -> Result<Vec<PendingMigration>> {
        let (pending, _, _) = self.plan_settled(conn, wait)?;
        Ok(pending.into_iter().map(PendingMigration::from).collect())
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
    /// * a validation error ([`MigrateError::Dirty`], [`Missing`](MigrateError::Missing),
    ///   [`Modified`](MigrateError::Modified), [`OutOfOrder`](MigrateError::OutOfOrder)), with
    ///   nothing applied;
    /// * [`MigrateError::Failed`] when a migration's SQL fails: it is rolled back, and the
    ///   migrations before it stay applied ([`MigrateError::FailedOutsideTransaction`] for a
    ///   `-- no-transaction` one); [`MigrateError::ForeignKeyViolations`];
    /// * [`Error::Busy`](crate::Error::Busy) when another connection holds the write lock past
    ///   the busy timeout.
    pub fn run(&self, conn: &mut Connection) -> Result<MigrationReport> {
        self.run_up(conn, None, DEFAULT_WAIT)
    }

    /// Applies pending migrations up to and including `version`.
    ///
    /// # Errors
    ///
    /// [`MigrateError::UnknownVersion`] when `version` is not in this set; otherwise as
    /// [`run`](Self::run).
    pub fn run_to(&self, conn: &mut Connection, version: i64) -> Result<MigrationReport> {
        if self.find(version).is_none() {
            return Err(MigrateError::UnknownVersion { version }.into());
        }
        self.run_up(conn, Some(version), DEFAULT_WAIT)
    }

    /// [`run`](Self::run), waiting up to `wait` for a `-- no-transaction` migration that
    /// another process is applying.
    pub(crate) fn run_waiting(
        &self,
        conn: &mut Connection,
        wait: Duration,
    ) -> Result<MigrationReport> {
        self.run_up(conn, None, wait)
    }

    /// Reads the history and plans, waiting up to `wait` for a `-- no-transaction` migration
    /// that another process is applying: only a dirty row whose process is gone is
    /// [`MigrateError::Dirty`].
    fn plan_settled(
        &self,
        conn: &Connection,
        wait: Duration,
    ) -> Result<(Vec<&Migration>, Vec<String>, usize)> {
        let deadline = Instant::now() + wait;
        loop {
            let recorded = read_recorded(conn)?.unwrap_or_default();
            match self.plan_with_warnings(&recorded, |v| recorded_description(conn, v)) {
                Ok((pending, warnings)) => return Ok((pending, warnings, recorded.len())),
                Err(MigrateError::Dirty { version, file }) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match lock::explain_dirty(conn, left, version, &file)? {
                        lock::Dirty::Finished => {}
                        lock::Dirty::Abandoned => {
                            return Err(MigrateError::Dirty { version, file }.into());
                        }
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    fn run_up(
        &self,
        conn: &mut Connection,
        target: Option<i64>,
        wait: Duration,
    ) -> Result<MigrationReport> {
        if !conn.is_autocommit() {
            return Err(MigrateError::InTransaction.into());
        }
        let up_to = |pending| up_to(pending, target);
        let (pending, warnings, applied) = self.plan_settled(conn, wait)?;
        log_warnings(&warnings);
        let pending = up_to(pending);
        if pending.is_empty() {
            debug!("schema is up to date ({applied} migrations applied)");
            return Ok(MigrationReport::default());
        }
        if self.grouped {
            return self.run_grouped(conn, &pending);
        }
        let mut report = MigrationReport::default();
        let mut next = pending.first().copied();
        while let Some(expected) = next {
            let script = expected.up_script();
            let outcome = if script.no_transaction {
                up_outside_transaction(conn, expected, wait)?
            } else {
                with_foreign_keys_off(conn, script.foreign_keys_off, |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    // Read again under the write lock: another process may have migrated meanwhile.
                    let recorded = if let Some(recorded) = read_recorded(&tx)? {
                        recorded
                    } else {
                        tx.execute_batch(CREATE_HISTORY)?;
                        Vec::new()
                    };
                    let pending = match self.plan(&recorded, |v| recorded_description(&tx, v)) {
                        Ok(pending) => up_to(pending),
                        // Another process started a `-- no-transaction` migration meanwhile:
                        // plan again outside the transaction, waiting for it.
                        Err(MigrateError::Dirty { .. }) => return Ok(None),
                        Err(other) => return Err(other.into()),
                    };
                    match pending.first() {
                        Some(&m) if m.version == expected.version => {
                            let elapsed = run_script(&tx, m, script)?;
                            record(&tx, m, elapsed)?;
                            tx.commit()?;
                            Ok(Some(elapsed))
                        }
                        // Someone else applied it; see what is left.
                        _ => Ok(None),
                    }
                })?
            };
            if let Some(elapsed) = outcome {
                info!(
                    "applied migration {} ({}) in {:.3} ms",
                    expected.version,
                    expected.description,
                    elapsed.as_secs_f64() * 1000.0
                );
                report.applied.push(AppliedStep {
                    version: expected.version,
                    description: expected.description.to_string(),
                    elapsed,
                });
                if pending
                    .last()
                    .is_some_and(|last| last.version == expected.version)
                {
                    break;
                }
            }
            next = up_to(self.plan_settled(conn, wait)?.0).first().copied();
        }
        Ok(report)
    }

    fn run_grouped(
        &self,
        conn: &mut Connection,
        pending: &[&Migration],
    ) -> Result<MigrationReport> {
        if let Some(m) = pending.iter().find(|m| m.no_transaction) {
            return Err(MigrateError::NotGroupable {
                version: m.version,
                file: m.file.to_string(),
            }
            .into());
        }
        let foreign_keys_off = pending.iter().any(|m| m.foreign_keys_off);
        let versions: Vec<i64> = pending.iter().map(|m| m.version).collect();
        with_foreign_keys_off(conn, foreign_keys_off, |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let recorded = if let Some(recorded) = read_recorded(&tx)? {
                recorded
            } else {
                tx.execute_batch(CREATE_HISTORY)?;
                Vec::new()
            };
            let now_pending = self.plan(&recorded, |v| recorded_description(&tx, v))?;
            let mut report = MigrationReport::default();
            for m in now_pending
                .into_iter()
                .filter(|m| versions.contains(&m.version))
            {
                let script = Script {
                    foreign_keys_off: false,
                    ..m.up_script()
                };
                let elapsed = run_script(&tx, m, script)?;
                record(&tx, m, elapsed)?;
                report.applied.push(AppliedStep {
                    version: m.version,
                    description: m.description.to_string(),
                    elapsed,
                });
            }
            if foreign_keys_off {
                let last = pending
                    .last()
                    .map_or(("", 0), |m| (m.file.as_ref(), m.version));
                check_foreign_keys(&tx, last.1, last.0)?;
            }
            tx.commit()?;
            info!(
                "applied {} migration(s) in one transaction",
                report.applied.len()
            );
            Ok(report)
        })
    }

    /// Reverts applied migrations newer than `version`, newest first, each with its down script
    /// and the removal of its history row in one transaction. `version` 0 reverts everything.
    ///
    /// Nothing is reverted unless every migration to revert has a down script.
    ///
    /// # Errors
    ///
    /// [`MigrateError::Irreversible`] naming the first migration without a down script;
    /// [`MigrateError::UnknownVersion`] when `version` is neither 0 nor in this set;
    /// [`MigrateError::Dirty`] / [`MigrateError::Missing`] as for [`run`](Self::run);
    /// [`MigrateError::Failed`] when a down script fails (it is rolled back).
    pub fn revert_to(&self, conn: &mut Connection, version: i64) -> Result<MigrationReport> {
        if !conn.is_autocommit() {
            return Err(MigrateError::InTransaction.into());
        }
        if version != 0 && self.find(version).is_none() {
            return Err(MigrateError::UnknownVersion { version }.into());
        }
        let recorded = read_recorded(conn)?.unwrap_or_default();
        if let Some(dirty) = recorded.iter().find(|r| !r.success) {
            return Err(MigrateError::Dirty {
                version: dirty.version,
                file: self.find(dirty.version).map_or_else(
                    || recorded_description(conn, dirty.version),
                    |m| m.file.to_string(),
                ),
            }
            .into());
        }
        let mut to_revert = Vec::new();
        for r in recorded.iter().rev().filter(|r| r.version > version) {
            let m = self.find(r.version).ok_or_else(|| MigrateError::Missing {
                version: r.version,
                description: recorded_description(conn, r.version),
            })?;
            if m.down.is_none() {
                return Err(MigrateError::Irreversible {
                    version: m.version,
                    file: m.file.to_string(),
                }
                .into());
            }
            to_revert.push(m);
        }
        let mut report = MigrationReport::default();
        for m in to_revert {
            let script = m.down_script().expect("checked above");
            let elapsed = if script.no_transaction {
                let _running = lock::acquire(conn, DEFAULT_WAIT, m.version, script.file)?;
                let marked = conn.prepare_cached(MARK_REVERTING)?.execute([m.version])?;
                if marked == 0 {
                    continue;
                }
                let started = Instant::now();
                run_outside_transaction(conn, m.version, script)?;
                conn.prepare_cached(FORGET_HISTORY)?.execute([m.version])?;
                started.elapsed()
            } else {
                let done = with_foreign_keys_off(conn, script.foreign_keys_off, |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let still_applied = tx
                        .prepare_cached(IS_RECORDED)?
                        .query_row([m.version], |_| Ok(()))
                        .is_ok();
                    if !still_applied {
                        return Ok(None);
                    }
                    let elapsed = run_script(&tx, m, script)?;
                    tx.prepare_cached(FORGET_HISTORY)?.execute([m.version])?;
                    tx.commit()?;
                    Ok(Some(elapsed))
                })?;
                let Some(elapsed) = done else { continue };
                elapsed
            };
            info!("reverted migration {} ({})", m.version, m.description);
            report.reverted.push(AppliedStep {
                version: m.version,
                description: m.description.to_string(),
                elapsed,
            });
        }
        Ok(report)
    }

    /// The pending migrations in order, or the first reason to refuse running any. Problems a
    /// policy lets through are not logged: see [`plan_with_warnings`](Self::plan_with_warnings).
    /// `describe` gives the recorded description of a version this build does not know.
    pub(crate) fn plan(
        &self,
        history: &[Recorded],
        describe: impl Fn(i64) -> String,
    ) -> Result<Vec<&Migration>, MigrateError> {
        self.plan_with_warnings(history, describe)
            .map(|(pending, _)| pending)
    }

    /// [`plan`](Self::plan), with the warnings its policies ask for, to be logged once by the
    /// caller (one warning per file per open, however often the plan is made again).
    pub(crate) fn plan_with_warnings(
        &self,
        history: &[Recorded],
        describe: impl Fn(i64) -> String,
    ) -> Result<(Vec<&Migration>, Vec<String>), MigrateError> {
        let mut warnings = Vec::new();
        let mut decide = |policy: Policy, error: MigrateError, warning: String| match policy {
            Policy::Error => Err(error),
            Policy::Warn => {
                warnings.push(warning);
                Ok(())
            }
            Policy::Allow => Ok(()),
        };
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
                    let error = MigrateError::Missing {
                        version: applied.version,
                        description: describe(applied.version),
                    };
                    let warning = error.to_string();
                    decide(self.policies.missing, error, warning)?;
                }
                Some(m) if !applied.checksum.is_some_and(|c| m.matches_checksum(&c)) => {
                    let error = MigrateError::Modified {
                        version: m.version,
                        file: m.file.to_string(),
                        expected: to_hex(&m.checksum),
                        found: applied.checksum.map_or_else(
                            || "a value that is not a SHA-384".to_owned(),
                            |c| to_hex(&c),
                        ),
                    };
                    let line_endings_only = applied
                        .checksum
                        .is_some_and(|c| m.differs_only_in_line_endings(&c));
                    if line_endings_only {
                        let warning = format!(
                            "migration {} ({}) differs from the file that was applied only in line \
                             endings (CRLF/LF) or a byte order mark, so it is the same migration; \
                             to record this file's checksum run `pipeline-store migrate repair \
                             --line-endings` (Migrator::repair with Repair::new().line_endings())",
                            m.version, m.file
                        );
                        decide(self.policies.line_endings, error, warning)?;
                    } else {
                        let warning = error.to_string();
                        decide(self.policies.modified, error, warning)?;
                    }
                }
                Some(_) => {}
            }
        }
        let latest = history.iter().map(|a| a.version).max();
        let mut pending = Vec::new();
        for m in &self.migrations {
            if history
                .binary_search_by_key(&m.version, |r| r.version)
                .is_ok()
            {
                continue;
            }
            if let Some(latest) = latest.filter(|&latest| latest > m.version) {
                let error = MigrateError::OutOfOrder {
                    version: m.version,
                    file: m.file.to_string(),
                    latest,
                };
                let warning = error.to_string();
                decide(self.policies.out_of_order, error, warning)?;
            }
            pending.push(m);
        }
        Ok((pending, warnings))
    }
}

/// Logs the warnings of a plan.
fn log_warnings(warnings: &[String]) {
    for warning in warnings {
        warn!("{warning}");
    }
}

/// Runs a `-- no-transaction` migration: claims it with a `success = 0` row, runs it in
/// autocommit mode, then marks it done, holding the migration lock throughout so that other
/// processes wait instead of taking the row for a crash. `None` when another process applied
/// it first.
fn up_outside_transaction(
    conn: &mut Connection,
    m: &Migration,
    wait: Duration,
) -> Result<Option<Duration>> {
    let _running = lock::acquire(conn, wait, m.version, &m.file)?;
    conn.execute_batch(CREATE_HISTORY)?;
    let claimed = conn.prepare_cached(CLAIM)?.execute(params![
        m.version,
        m.description.as_ref(),
        m.checksum.as_slice()
    ])?;
    if claimed == 0 {
        return Ok(None);
    }
    let started = Instant::now();
    run_outside_transaction(conn, m.version, m.up_script())?;
    let elapsed = started.elapsed();
    conn.prepare_cached(FINISH)?
        .execute(params![m.version, nanos(elapsed)])?;
    Ok(Some(elapsed))
}

/// Runs a `-- no-transaction` script in autocommit mode. Whatever happens, the connection is
/// back in autocommit afterwards: a transaction the script opened and did not end is rolled
/// back (and is an error of its own when nothing else failed).
fn run_outside_transaction(conn: &mut Connection, version: i64, script: Script<'_>) -> Result<()> {
    with_foreign_keys_off(conn, script.foreign_keys_off, |conn| {
        let ran = execute_script(conn, script.sql).map_err(|failure| {
            MigrateError::FailedOutsideTransaction {
                version,
                file: script.file.to_owned(),
                line: failure.line,
                source: failure.source,
            }
        });
        if !conn.is_autocommit() {
            // Undo what the script's own transaction did; its history row stays dirty.
            if let Err(rollback) = conn.execute_batch("ROLLBACK") {
                warn!(
                    "rolling back the transaction {} left open failed: {rollback}",
                    script.file
                );
            }
            ran?;
            return Err(MigrateError::LeftTransactionOpen {
                version,
                file: script.file.to_owned(),
            }
            .into());
        }
        ran?;
        check_foreign_keys(conn, version, script.file)
    })
}

/// Where a script failed: the line of the file the failing statement (or token) is on.
struct ScriptFailure {
    line: usize,
    source: rusqlite::Error,
}

/// Runs every statement of `sql` as `execute_batch` does (prepare one, step it once, go on with
/// the rest), keeping track of where each statement starts so a failure names its line.
fn execute_script(conn: &Connection, sql: &str) -> Result<(), ScriptFailure> {
    use rusqlite::fallible_iterator::FallibleIterator as _;

    let fail = |at: usize, source: rusqlite::Error| ScriptFailure {
        line: line_of(sql, at),
        source,
    };
    let mut batch = rusqlite::Batch::new(conn, sql);
    // Where the text of the next statement begins (comments and blank space included).
    let mut next = 0;
    loop {
        let mut statement = match batch.next() {
            Ok(Some(statement)) => statement,
            Ok(None) => return Ok(()),
            Err(source) => {
                let at = match &source {
                    // The rest of the script from this statement on, and the token's offset in it.
                    rusqlite::Error::SqlInputError {
                        sql: rest, offset, ..
                    } if *offset >= 0 => {
                        sql.len().saturating_sub(rest.len()) + usize::try_from(*offset).unwrap_or(0)
                    }
                    _ => statement_start(sql, next),
                };
                return Err(fail(at, source));
            }
        };
        let start = next;
        if let Some(text) = statement.expanded_sql() {
            let found = sql
                .get(next..)
                .and_then(|rest| rest.find(&text))
                .map_or(next, |i| next + i);
            next = found + text.len();
        }
        if let Err(source) = statement.raw_query().next().map(|_| ()) {
            return Err(fail(statement_start(sql, start), source));
        }
    }
}

/// The first byte at or after `at` that is not blank space or a comment.
fn statement_start(sql: &str, mut at: usize) -> usize {
    let bytes = sql.as_bytes();
    while at < bytes.len() {
        match bytes[at] {
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' => at += 1,
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = sql[at..].find('\n').map_or(bytes.len(), |i| at + i + 1);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = sql[at + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |i| at + 2 + i + 2);
            }
            _ if sql[at..].starts_with('\u{feff}') => at += '\u{feff}'.len_utf8(),
            _ => break,
        }
    }
    at.min(bytes.len())
}

/// The 1-based line of byte `at`.
fn line_of(sql: &str, at: usize) -> usize {
    sql.get(..at).unwrap_or(sql).matches('\n').count() + 1
}

/// The pending migrations not newer than `target`.
fn up_to(pending: Vec<&Migration>, target: Option<i64>) -> Vec<&Migration> {
    pending
        .into_iter()
        .filter(|m| target.is_none_or(|t| m.version <= t))
        .collect()
}

/// Runs `f` with foreign keys switched off when `off`, and switches them back on afterwards
/// whatever `f` returned. The switch happens outside any transaction, where SQLite honours it.
fn with_foreign_keys_off<T>(
    conn: &mut Connection,
    off: bool,
    f: impl FnOnce(&mut Connection) -> Result<T>,
) -> Result<T> {
    if !off {
        return f(conn);
    }
    let before: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = f(conn);
    let restored = conn.pragma_update(None, "foreign_keys", before);
    let value = result?;
    restored?;
    Ok(value)
}

/// Fails with the violations when a foreign key points nowhere.
fn check_foreign_keys(conn: &Connection, version: i64, file: &str) -> Result<()> {
    let mut statement = conn.prepare("PRAGMA foreign_key_check")?;
    let violations: Vec<String> = statement
        .query_map([], |row| {
            let table: String = row.get(0)?;
            let rowid: Option<i64> = row.get(1)?;
            let parent: String = row.get(2)?;
            Ok(format!(
                "{table} row {} points at a missing {parent} row",
                rowid.map_or_else(|| "?".to_owned(), |r| r.to_string())
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if violations.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::ForeignKeyViolations {
            version,
            file: file.to_owned(),
            violations,
        }
        .into())
    }
}

/// Runs one script inside the caller's transaction and returns how long it took.
fn run_script(tx: &Connection, m: &Migration, script: Script<'_>) -> Result<Duration> {
    debug!("running {} (migration {})", script.file, m.version);
    let started = Instant::now();
    execute_script(tx, script.sql).map_err(|failure| MigrateError::Failed {
        version: m.version,
        file: script.file.to_owned(),
        line: failure.line,
        source: failure.source,
    })?;
    if tx.is_autocommit() {
        return Err(MigrateError::EndedTransaction {
            version: m.version,
            file: script.file.to_owned(),
        }
        .into());
    }
    if script.foreign_keys_off {
        check_foreign_keys(tx, m.version, script.file)?;
    }
    Ok(started.elapsed())
}

/// Writes the history row of an applied migration.
fn record(tx: &Connection, m: &Migration, elapsed: Duration) -> Result<()> {
    tx.prepare_cached(INSERT_HISTORY)?.execute(params![
        m.version,
        m.description.as_ref(),
        m.checksum.as_slice(),
        nanos(elapsed),
    ])?;
    Ok(())
}

fn nanos(elapsed: Duration) -> i64 {
    i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::migrate::checksum;

    /// Every warning logged by this test binary.
    struct Capture(Mutex<Vec<String>>);

    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                self.0.lock().unwrap().push(record.args().to_string());
            }
        }
        fn flush(&self) {}
    }

    static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

    /// The warnings logged so far that mention `needle` (tests run in parallel: each looks only
    /// at its own file names).
    fn warnings_about(needle: &str) -> Vec<String> {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Warn);
        CAPTURE
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|w| w.contains(needle))
            .cloned()
            .collect()
    }

    #[test]
    fn a_line_endings_difference_is_one_warning_per_file_per_open_that_says_so() {
        let file = "1_line_endings_warned_once.sql";
        warnings_about(file);
        let sql = "CREATE TABLE t (x);\n";
        let mut migrations = vec![Migration::new(1, "line endings warned once", sql)];
        for v in 2..=6 {
            migrations.push(Migration::new(v, "more", format!("CREATE TABLE t{v} (x);")));
        }
        let migrator = Migrator::new(migrations).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warned.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!("{CREATE_HISTORY}{sql}"))
                .unwrap();
            conn.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (1, 'line endings warned once', TRUE, ?1, 0)",
                [checksum(sql.replace('\n', "\r\n").as_bytes()).to_vec()],
            )
            .unwrap();
        }
        let backups = tempfile::tempdir().unwrap();
        let url = path.to_str().unwrap();
        let (_conn, report) = crate::schema::OpenOptions::new()
            .backup_before_migrate(backups.path())
            .open_with_migrator(url, &migrator)
            .unwrap();
        assert_eq!(report.applied.len(), 5);
        let warnings = warnings_about(file);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].contains("only in line endings"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[0].contains("pipeline-store migrate repair --line-endings"),
            "{}",
            warnings[0]
        );
        assert!(!warnings[0].contains("modified"), "{}", warnings[0]);

        // Opening again warns again, once.
        crate::schema::OpenOptions::new()
            .open_with_migrator(url, &migrator)
            .unwrap();
        assert_eq!(warnings_about(file).len(), 2);
    }
}
