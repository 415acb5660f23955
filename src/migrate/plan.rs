//! The plan: which migrations are pending, or why none may run. A pure function of the code's
//! migrations, the recorded history and the policies, with its tests below it.

use log::warn;

use super::MigrateError;
use super::{Migration, MigrationState, Migrator, Recorded, to_hex};

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
pub(super) struct Policies {
    pub(super) modified: Policy,
    pub(super) missing: Policy,
    pub(super) out_of_order: Policy,
    pub(super) line_endings: Policy,
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

impl Migrator {
    /// The pending migrations in order, or the first reason to refuse running any; `history` is
    /// sorted by version, as [`read_recorded`](super::read_recorded) returns it. Problems a
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

    /// [`MigrateError::Dirty`] for the first history row marked failed: nothing is planned,
    /// applied or reverted over it.
    pub(crate) fn refuse_dirty(
        &self,
        history: &[Recorded],
        describe: impl Fn(i64) -> String,
    ) -> Result<(), MigrateError> {
        match history.iter().find(|a| !a.success) {
            None => Ok(()),
            Some(dirty) => Err(MigrateError::Dirty {
                version: dirty.version,
                file: self
                    .find(dirty.version)
                    .map_or_else(|| describe(dirty.version), |m| m.file.to_string()),
                history: self.history.name.to_string(),
            }),
        }
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
        self.refuse_dirty(history, &describe)?;
        // Both lists are sorted by version: one walk over each, flat in their length.
        let mut next = 0;
        for applied in history {
            while self
                .migrations
                .get(next)
                .is_some_and(|m| m.version < applied.version)
            {
                next += 1;
            }
            match self
                .migrations
                .get(next)
                .filter(|m| m.version == applied.version)
            {
                None => {
                    let error = MigrateError::Missing {
                        version: applied.version,
                        description: describe(applied.version),
                        history: self.history.name.to_string(),
                    };
                    let warning = error.to_string();
                    decide(self.policies.missing, error, warning)?;
                }
                Some(m) => {
                    let line_endings_only = match m.state_against(*applied) {
                        MigrationState::LineEndings => true,
                        MigrationState::Modified => false,
                        // Applied; a dirty row was refused above.
                        _ => continue,
                    };
                    let error = MigrateError::Modified {
                        version: m.version,
                        file: m.file.to_string(),
                        expected: to_hex(&m.checksum),
                        found: applied.checksum.map_or_else(
                            || "a value that is not a SHA-384".to_owned(),
                            |c| to_hex(&c),
                        ),
                    };
                    if line_endings_only {
                        let warning = format!(
                            "migration {} ({}) differs from the file that was applied only in line \
                             endings (CRLF/LF) or a byte order mark, so it is the same migration; \
                             to record this file's checksum use `Migrator::repair` and \
                             `Repair::new().line_endings()`",
                            m.version, m.file
                        );
                        decide(self.policies.line_endings, error, warning)?;
                    } else {
                        let warning = error.to_string();
                        decide(self.policies.modified, error, warning)?;
                    }
                }
            }
        }
        let latest = history.last().map(|a| a.version);
        let mut pending = Vec::new();
        let mut next = 0;
        for m in &self.migrations {
            while history.get(next).is_some_and(|a| a.version < m.version) {
                next += 1;
            }
            if history.get(next).is_some_and(|a| a.version == m.version) {
                continue;
            }
            if let Some(latest) = latest.filter(|&latest| latest > m.version) {
                let error = MigrateError::OutOfOrder {
                    version: m.version,
                    file: m.file.to_string(),
                    latest,
                    history: self.history.name.to_string(),
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
pub(super) fn log_warnings(warnings: &[String]) {
    for warning in warnings {
        warn!("{warning}");
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn row(version: i64, success: bool, checksum: &[u8]) -> Recorded {
        Recorded {
            version,
            success,
            checksum: Recorded::sha384(checksum),
        }
    }

    /// A row's state comes from one rule, whichever way the row was read: as the plan reads it
    /// and as `status` reads a whole row.
    #[test]
    fn one_rule_gives_a_rows_state() {
        let m = Migration::new(1, "a", "SELECT 1;\nSELECT 2;\n");
        let crlf = Migration::new(1, "a", "SELECT 1;\r\nSELECT 2;\r\n");
        let other = Migration::new(1, "a", "SELECT 3;\n");
        let cases: [(bool, &[u8], MigrationState); 5] = [
            (true, &m.checksum, MigrationState::Applied),
            (false, &m.checksum, MigrationState::Dirty),
            (true, &crlf.checksum, MigrationState::LineEndings),
            (true, &other.checksum, MigrationState::Modified),
            (true, &m.checksum[..47], MigrationState::Modified),
        ];
        for (success, checksum, state) in cases {
            assert_eq!(m.state_against(row(1, success, checksum)), state);
            let whole = super::super::AppliedMigration {
                version: 1,
                description: "a".into(),
                installed_on: "2025-01-01 00:00:00".into(),
                success,
                checksum: checksum.to_vec(),
                execution_time: 1,
            };
            assert_eq!(m.state_against(whole.recorded()), state);
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
    fn policies_turn_refusals_into_warnings() {
        let m = migrator()
            .on_missing(Policy::Allow)
            .on_out_of_order(Policy::Warn)
            .on_modified(Policy::Warn);
        let three = *m.migrations()[2].checksum();
        let pending = m
            .plan(
                &[
                    row(1, true, &[0; 48]),
                    row(3, true, &three),
                    row(9, true, &[1; 48]),
                ],
                describe,
            )
            .unwrap();
        assert_eq!(pending.iter().map(|m| m.version()).collect::<Vec<_>>(), [2]);
    }
}
