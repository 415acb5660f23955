//! Reverting: down scripts, newest first, each with the removal of its history row.

use rusqlite::Connection;

use super::step::Direction;
use super::{MigrateError, Result};
use super::{Migration, Script};
use super::{MigrationReport, Migrator};

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
        self.refuse_dirty(&recorded, |v| history.recorded_description(conn, v))?;
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
            let done = self.apply_step(conn, Direction::Down, &[m], self.wait)?;
            report.reverted.extend(done);
        }
        Ok(report)
    }
}
