//! Reverting: down scripts, newest first, each with the removal of its history row.

use std::time::Instant;

use log::info;
use rusqlite::{Connection, TransactionBehavior};

use super::runner::DEFAULT_WAIT;
use super::script::{run_outside_transaction, run_script, with_foreign_keys_off};
use super::{AppliedStep, MigrationReport, Migrator, lock};
use super::{MigrateError, Result};
use super::{Migration, Script};

impl Migrator {
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
            return Err(MigrateError::InTransaction);
        }
        if version != 0 && self.find(version).is_none() {
            return Err(MigrateError::UnknownVersion { version });
        }
        let history = &self.history;
        let recorded = history.read_recorded(conn)?.unwrap_or_default();
        if let Some(dirty) = recorded.iter().find(|r| !r.success) {
            return Err(MigrateError::Dirty {
                version: dirty.version,
                file: self.find(dirty.version).map_or_else(
                    || history.recorded_description(conn, dirty.version),
                    |m| m.file.to_string(),
                ),
                history: history.name.to_string(),
            });
        }
        let mut to_revert = Vec::new();
        for r in recorded.iter().rev().filter(|r| r.version > version) {
            let m = self.find(r.version).ok_or_else(|| MigrateError::Missing {
                version: r.version,
                description: history.recorded_description(conn, r.version),
                history: history.name.to_string(),
            })?;
            if m.down.is_none() {
                return Err(MigrateError::Irreversible {
                    version: m.version,
                    file: m.file.to_string(),
                });
            }
            to_revert.push(m);
        }
        let scripts: Vec<(&Migration, Script<'_>)> = to_revert
            .iter()
            .filter_map(|m| m.down_script().map(|down| (*m, down)))
            .collect();
        self.refuse_findings(conn, &scripts)?;
        let mut report = MigrationReport::default();
        for m in to_revert {
            let script = m.down_script().expect("checked above");
            let elapsed = if script.no_transaction {
                let _running = lock::acquire(conn, DEFAULT_WAIT, m.version, script.file)?;
                let marked = conn
                    .prepare_cached(&history.mark_reverting)?
                    .execute([m.version])?;
                if marked == 0 {
                    continue;
                }
                let started = Instant::now();
                run_outside_transaction(conn, m.version, script)?;
                conn.prepare_cached(&history.forget)?.execute([m.version])?;
                started.elapsed()
            } else {
                let done = with_foreign_keys_off(conn, script.foreign_keys_off, |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let still_applied = tx
                        .prepare_cached(&history.is_recorded)?
                        .query_row([m.version], |_| Ok(()))
                        .is_ok();
                    if !still_applied {
                        return Ok(None);
                    }
                    let elapsed = run_script(&tx, history, m, script)?;
                    tx.prepare_cached(&history.forget)?.execute([m.version])?;
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
}
