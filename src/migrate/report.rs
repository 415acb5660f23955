//! What the runner reports: the state of each version, what was applied or reverted, what is
//! pending.

use std::time::Duration;

use rusqlite::Connection;

use super::Result;
use super::{AppliedMigration, Migration, Migrator, Recorded};

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

impl Migration {
    /// The state this migration is in by its history row: [`MigrationState::Dirty`] for a run
    /// that did not finish, then by checksum [`Applied`](MigrationState::Applied),
    /// [`LineEndings`](MigrationState::LineEndings) or [`Modified`](MigrationState::Modified).
    /// The one rule for both the plan and [`Migrator::status`].
    pub(crate) fn state_against(&self, row: Recorded) -> MigrationState {
        match row.checksum {
            _ if !row.success => MigrationState::Dirty,
            Some(c) if self.matches_checksum(&c) => MigrationState::Applied,
            Some(c) if self.differs_only_in_line_endings(&c) => MigrationState::LineEndings,
            _ => MigrationState::Modified,
        }
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
    /// The history table of the set it belongs to (`_sqlx_migrations` unless the set names
    /// another).
    pub history: String,
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
    /// (`OpenOptions::backup_before_migrate`).
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
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppliedStep {
    /// The version.
    pub version: i64,
    /// The description.
    pub description: String,
    /// How long its script took (serialized as whole nanoseconds, `execution_time_ns`, the
    /// unit of sqlx's history column).
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "execution_time_ns",
            serialize_with = "super::serialize::nanos"
        )
    )]
    pub elapsed: Duration,
}

/// A migration a run did not apply.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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

impl Migrator {
    /// One row per version known to the code or to the database, by version, with its state.
    ///
    /// Reads only; works on a read-only connection and on a database that was never migrated.
    ///
    /// # Errors
    ///
    /// [`MigrateError::Sqlite`](super::MigrateError::Sqlite) when the history cannot be read.
    pub fn status(&self, conn: &Connection) -> Result<Vec<MigrationStatus>> {
        let history = self.history.read_history(conn)?;
        let mut rows: Vec<MigrationStatus> = self
            .migrations
            .iter()
            .map(|m| {
                let applied = history.iter().find(|a| a.version == m.version).cloned();
                let state = applied
                    .as_ref()
                    .map_or(MigrationState::Pending, |a| m.state_against(a.recorded()));
                MigrationStatus {
                    version: m.version,
                    description: m.description.to_string(),
                    file: Some(m.file.to_string()),
                    state,
                    applied,
                    history: self.history.name.to_string(),
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
                    history: self.history.name.to_string(),
                });
            }
        }
        rows.sort_by_key(|row| row.version);
        Ok(rows)
    }
}
