//! A versioned migration runner that keeps sqlx's `_sqlx_migrations` history.
//!
//! Nothing here knows about pipelines: a [`Migrator`] applies any ordered set of [`Migration`]s.
//! The crate's own schema is one such set (`schema::migrator()`).
//!
//! # Compatibility with sqlx
//!
//! Migration files are named `{version}_{description}.sql` and described as sqlx describes them
//! (text after the first `_`, `.sql` removed, `_` turned into spaces). The history table has
//! sqlx's DDL for SQLite, its checksums are SHA-384 of the file's raw bytes stored as 48-byte
//! BLOBs, `success` is `1` and `execution_time` is in nanoseconds. A database migrated here is
//! accepted by sqlx's `Migrator::run` over the same files, and one migrated by sqlx opens here as
//! already migrated.
//!
//! # What the runner guarantees
//!
//! * The whole plan is built before anything is applied. A history row marked failed
//!   ([`Dirty`](MigrateError::Dirty)), an applied version this build does not know
//!   ([`Missing`](MigrateError::Missing)), an applied file that was changed
//!   ([`Modified`](MigrateError::Modified)) or a pending version older than the newest applied one
//!   ([`OutOfOrder`](MigrateError::OutOfOrder)) is refused with nothing applied.
//! * Each pending migration runs together with its history row in one `BEGIN IMMEDIATE`
//!   transaction, and the history is read again under that write lock: processes that start at
//!   the same time never apply a migration twice, and none of them fails for it.
//! * A migration that fails is rolled back completely and leaves no history row.

pub(crate) mod copy;
mod drift;
mod error;
mod foreign_keys;
mod history;
mod lint;
mod load;
mod lock;
mod maintenance;
mod migration;
mod plan;
mod progress;
mod rehearsal;
mod rehearse;
mod report;
mod revert;
mod runner;
mod script;
#[cfg(feature = "serde")]
mod serialize;
mod step;

pub use drift::{Difference, ObjectKind};
pub use foreign_keys::ForeignKeyViolation;
pub use history::{AppliedMigration, DEFAULT_HISTORY_TABLE, applied};
pub use lint::Finding;
pub use maintenance::{DirtyRepair, Repair, RepairReport, ValidationReport};
pub use migration::Migration;
pub use plan::Policy;
pub use progress::Progress;
pub use rehearsal::{LostObject, Rehearsal, RehearsalStep, SchemaChange, TableRows};
pub use report::{AppliedStep, MigrationReport, MigrationState, MigrationStatus, PendingMigration};
pub use runner::Migrator;
pub(crate) use runner::Plan;
pub use script::PROGRESS_TARGET;

use std::fmt::Write as _;

use sha2::{Digest, Sha384};

/// File names and header directives, and the SQL tokenizer and text lint rules: the rules a
/// build script applies when it embeds migrations, shared so both sides read files alike.
pub(crate) use pipeline_store_build::{parse, sql};

pub(crate) use drift::{
    SchemaModel, diff as schema_diff, expected_schema, is_internal, model as schema_model,
};
pub(crate) use error::sqlite_message;
pub use error::{MigrateError, Result};
pub(crate) use foreign_keys::violations as foreign_key_violations;
pub(crate) use history::{HistoryTable, Recorded};
pub(crate) use lint::findings as lint_findings;
pub(crate) use migration::Script;
#[doc(hidden)]
pub use migration::{Embedded, EmbeddedDown};
pub(crate) use rehearse::rehearse_sets;

/// SHA-384 of a migration's bytes: the checksum sqlx records.
#[must_use]
pub fn checksum(sql: &[u8]) -> [u8; 48] {
    Sha384::digest(sql).into()
}

/// Lower-case hexadecimal of a checksum, as messages show it.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ending_variants_are_recognised() {
        let lf = Migration::new(1, "t", "CREATE TABLE t (x);\nCREATE INDEX i ON t(x);\n");
        let crlf = Migration::new(1, "t", "CREATE TABLE t (x);\r\nCREATE INDEX i ON t(x);\r\n");
        let bom = Migration::new(
            1,
            "t",
            "\u{feff}CREATE TABLE t (x);\nCREATE INDEX i ON t(x);\n",
        );
        assert!(lf.differs_only_in_line_endings(crlf.checksum()));
        assert!(crlf.differs_only_in_line_endings(lf.checksum()));
        assert!(lf.differs_only_in_line_endings(bom.checksum()));
        assert!(bom.differs_only_in_line_endings(crlf.checksum()));
        let other = Migration::new(1, "t", "CREATE TABLE t (y);\nCREATE INDEX i ON t(y);\n");
        assert!(!lf.differs_only_in_line_endings(other.checksum()));
    }

    #[test]
    fn hex_round_trips_through_the_directive_decoder() {
        let sum = checksum(b"abc");
        assert_eq!(parse::decode_hex_48(&to_hex(&sum)), Some(sum));
    }
}
