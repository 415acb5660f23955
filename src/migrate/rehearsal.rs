//! What a rehearsal found: the report of an upgrade tried on a copy of the database, step by
//! step (rows per table before and after, the schema change, the indexes and triggers lost, the
//! foreign-key check, the time). Taking the copy and running the steps on it is `rehearse`'s.

use std::path::PathBuf;
use std::time::Duration;

use super::{Difference, Finding, ForeignKeyViolation};

/// The rows of one table before and after a step (`None`: the table does not exist then).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableRows {
    /// The table.
    pub table: String,
    /// Its rows before.
    pub before: Option<u64>,
    /// Its rows after.
    pub after: Option<u64>,
}

impl TableRows {
    /// The rows it lost: fewer rows after, or a table with rows that is gone.
    #[must_use]
    pub fn lost(&self) -> u64 {
        let before = self.before.unwrap_or(0);
        before.saturating_sub(self.after.unwrap_or(0))
    }
}

/// One migration applied to the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RehearsalStep {
    /// Its version.
    pub version: i64,
    /// Its file.
    pub file: String,
    /// How long it took on this data.
    pub elapsed: Duration,
    /// Rows per table before and after it, for every table that exists on either side.
    pub rows: Vec<TableRows>,
    /// How it changed the schema (`expected` is before it, `found` after it).
    pub schema: Vec<Difference>,
    /// Rows whose foreign key points nowhere after it.
    pub foreign_keys: Vec<ForeignKeyViolation>,
    /// Indexes and triggers that existed before it, on a table that exists after it, and that
    /// it lost without dropping them by name (they went with their table in a rebuild).
    pub lost_objects: Vec<LostObject>,
}

impl RehearsalStep {
    /// The tables that lost rows.
    pub fn losses(&self) -> impl Iterator<Item = &TableRows> {
        self.rows.iter().filter(|r| r.lost() > 0)
    }

    /// What the migration did to the schema, object by object, in its own terms.
    pub fn changes(&self) -> impl Iterator<Item = SchemaChange<'_>> {
        self.schema.iter().map(|d| SchemaChange { difference: d })
    }
}

/// One change a migration made to the schema, as a rehearsal step says it: `+ column
/// pipelines.owner`, `- index idx_pipelines_archived_name`, `~ column jobs.state: type TEXT ->
/// INTEGER` (before -> after). A [`Difference`] read the other way round: what the migration
/// did, not how the database departs from what migrations make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaChange<'a> {
    difference: &'a Difference,
}

impl SchemaChange<'_> {
    /// `+` for an object the migration created, `-` for one it removed, `~` for one it altered.
    #[must_use]
    pub fn sign(&self) -> char {
        match self.difference.property {
            "missing" => '-',
            "unexpected" => '+',
            _ => '~',
        }
    }

    /// The kind of object.
    #[must_use]
    pub fn kind(&self) -> crate::migrate::ObjectKind {
        self.difference.kind
    }

    /// The object (`pipelines.owner`, `idx_pipelines_name`…).
    #[must_use]
    pub fn object(&self) -> &str {
        &self.difference.object
    }

    /// For an altered object, the property (`type`, `not null`, `definition`…).
    #[must_use]
    pub fn property(&self) -> Option<&'static str> {
        (self.sign() == '~').then_some(self.difference.property)
    }

    /// For an altered object, what it was before the migration.
    #[must_use]
    pub fn before(&self) -> Option<&str> {
        self.difference.expected.as_deref()
    }

    /// For an altered object, what it is after the migration.
    #[must_use]
    pub fn after(&self) -> Option<&str> {
        self.difference.found.as_deref()
    }
}

impl std::fmt::Display for SchemaChange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.sign(), self.kind(), self.object())?;
        if let Some(property) = self.property() {
            write!(
                f,
                ": {property} {} -> {}",
                self.before().unwrap_or("nothing"),
                self.after().unwrap_or("nothing")
            )?;
        }
        Ok(())
    }
}

/// An index or trigger a migration lost without saying so: it existed before the migration, on
/// a table that exists after it, the migration does not drop it by name, and it does not exist
/// after it (it went with its table when the table was rebuilt).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LostObject {
    /// An index or a trigger.
    pub kind: crate::migrate::ObjectKind,
    /// Its name.
    pub name: String,
    /// The table it was on.
    pub table: String,
}

impl std::fmt::Display for LostObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} on {} is gone though the migration does not drop it: it went with its table; \
             create it again after the rebuild, or drop it by name if that is what you mean",
            self.kind, self.name, self.table
        )
    }
}

/// What a rehearsal found (`Migrator::rehearse`, `OpenOptions::rehearse_before_migrate`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rehearsal {
    /// The migrations applied to the copy, in order, up to the first that failed.
    pub steps: Vec<RehearsalStep>,
    /// The lint findings on the pending migrations (allowed ones included).
    pub findings: Vec<Finding>,
    /// Why the rehearsal stopped early: a migration's error, as `run` would report it.
    pub failure: Option<String>,
    /// Problems `PRAGMA integrity_check` reports on the copy afterwards (empty when `ok`).
    pub integrity: Vec<String>,
    /// The size of the copy before, in bytes.
    pub size_before: u64,
    /// The size of the copy after, in bytes.
    pub size_after: u64,
    /// How long taking the copy took.
    pub copy_time: Duration,
    /// Where the copy was left (`None`: deleted).
    pub kept: Option<PathBuf>,
}

impl Rehearsal {
    /// `true` when no table lost rows, every migration applied, and the checks passed.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
            && self.integrity.is_empty()
            && self.steps.iter().all(|s| {
                s.foreign_keys.is_empty()
                    && s.losses().next().is_none()
                    && s.lost_objects.is_empty()
            })
    }

    /// Rows lost in all, over every step.
    #[must_use]
    pub fn rows_lost(&self) -> u64 {
        self.steps
            .iter()
            .flat_map(|s| s.rows.iter())
            .map(TableRows::lost)
            .sum()
    }
}
