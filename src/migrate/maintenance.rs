//! Work on the history itself: baseline, repair, and validating a migration set.

use rusqlite::{Connection, TransactionBehavior, params};

use super::Migrator;
use super::{MigrateError, Result};

/// What to do with a dirty history row (`success = 0`) once the schema was fixed by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DirtyRepair {
    /// The schema now has what the migration makes: record it as applied.
    MarkApplied,
    /// The schema is as before the migration: forget the row so the migration runs again.
    Forget,
}

/// What [`Migrator::repair`] may change. Nothing is repaired unless asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Repair {
    /// Record the file's checksum where the recorded one differs only in line endings or a BOM.
    pub line_endings: bool,
    /// Resolve dirty rows this way.
    pub dirty: Option<DirtyRepair>,
    /// Forget applied versions this set does not know.
    pub forget_missing: bool,
}

impl Repair {
    /// Nothing to repair; add what is wanted with the methods below.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the file's checksum where only line endings or a BOM differ.
    #[must_use]
    pub fn line_endings(mut self) -> Self {
        self.line_endings = true;
        self
    }

    /// Resolve dirty rows.
    #[must_use]
    pub fn dirty(mut self, how: DirtyRepair) -> Self {
        self.dirty = Some(how);
        self
    }

    /// Forget applied versions unknown to this set.
    #[must_use]
    pub fn forget_missing(mut self) -> Self {
        self.forget_missing = true;
        self
    }
}

/// What [`Migrator::repair`] changed, by version.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Checksums rewritten (line endings only).
    pub checksums_rewritten: Vec<i64>,
    /// Dirty rows recorded as applied.
    pub marked_applied: Vec<i64>,
    /// Rows removed (dirty rows forgotten, missing versions forgotten).
    pub forgotten: Vec<i64>,
}

/// What [`Migrator::validate`] checked.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationReport {
    /// Versions run up, down and up again, the schema compared at each step.
    pub reversible: Vec<i64>,
    /// Versions without a down script: run up only.
    pub irreversible: Vec<i64>,
}

impl Migrator {
    /// Records every migration up to and including `version` as applied without running it:
    /// adopting a database whose schema was made by hand or by older scripts. Versions already
    /// recorded are left alone. One transaction.
    ///
    /// # Errors
    ///
    /// [`MigrateError::UnknownVersion`] when `version` is not in this set;
    /// [`MigrateError::InTransaction`].
    pub fn baseline(&self, conn: &mut Connection, version: i64) -> Result<Vec<i64>> {
        if self.find(version).is_none() {
            return Err(MigrateError::UnknownVersion { version });
        }
        if !conn.is_autocommit() {
            return Err(MigrateError::InTransaction);
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(&self.history.create)?;
        let mut marked = Vec::new();
        for m in self
            .migrations()
            .iter()
            .take_while(|m| m.version() <= version)
        {
            let inserted = tx
                .prepare_cached(&self.history.insert_baseline)?
                .execute(params![
                    m.version(),
                    m.description(),
                    m.checksum().as_slice()
                ])?;
            if inserted == 1 {
                marked.push(m.version());
            }
        }
        tx.commit()?;
        log::info!(
            "baseline: recorded {} migration(s) up to {version} as applied",
            marked.len()
        );
        Ok(marked)
    }

    /// Repairs the history as asked, in one transaction; see [`Repair`].
    ///
    /// # Errors
    ///
    /// [`MigrateError::InTransaction`]; [`MigrateError::Sqlite`](super::MigrateError::Sqlite).
    pub fn repair(&self, conn: &mut Connection, what: &Repair) -> Result<RepairReport> {
        if !conn.is_autocommit() {
            return Err(MigrateError::InTransaction);
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut report = RepairReport::default();
        let history = &self.history;
        for row in history.read_history(&tx)? {
            let known = self.find(row.version);
            if !row.success {
                match what.dirty {
                    Some(DirtyRepair::MarkApplied) => {
                        let checksum = known.map(|m| m.checksum().to_vec());
                        tx.prepare_cached(&history.mark_applied)?
                            .execute(params![row.version, checksum])?;
                        report.marked_applied.push(row.version);
                    }
                    Some(DirtyRepair::Forget) => {
                        tx.prepare_cached(&history.forget)?.execute([row.version])?;
                        report.forgotten.push(row.version);
                    }
                    None => {}
                }
                continue;
            }
            match known {
                None if what.forget_missing => {
                    tx.prepare_cached(&history.forget)?.execute([row.version])?;
                    report.forgotten.push(row.version);
                }
                Some(m)
                    if what.line_endings
                        && !m.matches_checksum(&row.checksum)
                        && m.differs_only_in_line_endings(&row.checksum) =>
                {
                    tx.prepare_cached(&history.set_checksum)?
                        .execute(params![row.version, m.checksum().as_slice()])?;
                    report.checksums_rewritten.push(row.version);
                }
                _ => {}
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// Runs every migration on a new in-memory database: up; then, when it has a down script,
    /// down (the schema must be exactly as before) and up again (as after the first up). A
    /// one-line test for a suite: `migrator.validate()?;`.
    ///
    /// # Errors
    ///
    /// [`MigrateError::ValidationFailed`] naming the migration whose down script does not undo
    /// it; any error of running a script ([`MigrateError::Failed`]...).
    pub fn validate(&self) -> Result<ValidationReport> {
        let refused: Vec<_> = self.lint()?.into_iter().filter(|f| !f.allowed).collect();
        if !refused.is_empty() {
            return Err(MigrateError::Lint { findings: refused });
        }
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", true)?;
        for base in &self.base {
            base.run(&mut conn)?;
        }
        let mut report = ValidationReport::default();
        let mut previous = 0;
        for m in self.migrations() {
            let before = super::drift::model(&conn)?;
            self.run_to(&mut conn, m.version())?;
            let after = super::drift::model(&conn)?;
            if m.down_sql().is_some() {
                self.revert_to(&mut conn, previous)?;
                if super::drift::model(&conn)? != before {
                    return Err(MigrateError::ValidationFailed {
                        version: m.version(),
                        file: m.file().to_owned(),
                        reason: "its down script does not restore the schema it started from"
                            .to_owned(),
                    });
                }
                self.run_to(&mut conn, m.version())?;
                if super::drift::model(&conn)? != after {
                    return Err(MigrateError::ValidationFailed {
                        version: m.version(),
                        file: m.file().to_owned(),
                        reason: "running it again after its down script gives another schema"
                            .to_owned(),
                    });
                }
                report.reversible.push(m.version());
            } else {
                report.irreversible.push(m.version());
            }
            previous = m.version();
        }
        Ok(report)
    }
}
