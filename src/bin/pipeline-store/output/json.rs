//! JSON output, as the README documents it. Where the documented shape is a library type's
//! (`PipelineSummary`, `AppliedStep`, `PendingMigration`, `Finding`, `Difference`,
//! `ForeignKeyViolation`, `RepairReport`, `ValidationReport`, `DerivedRepair`), that type is
//! printed as it serializes; the shapes here are the ones that differ: computed fields (`ok`,
//! `rows_lost`), a model without its stages' `pipeline_id`, rows flattened or tagged by kind.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use pipeline_store::migrate::{
    AppliedStep, Difference, Finding, ForeignKeyViolation, MigrationStatus, RepairReport,
};
use pipeline_store::model::{Pipeline, PipelineId, ProcessingMetrics, StageId, Timestamp};
use pipeline_store::schema::{CheckReport, DerivedProblem, DerivedRepair, Rehearsal};

use crate::output::text::derived_text;
use serde::Serialize;

/// A duration in whole nanoseconds, the unit of every `execution_time_ns`.
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `migrate revert`: the library's steps, as they are.
#[derive(Serialize)]
pub(crate) struct RevertedJson<'a> {
    pub(crate) reverted: &'a [AppliedStep],
}

/// `init` and `migrate run`: the database and the library's steps.
#[derive(Serialize)]
pub(crate) struct InitJson<'a> {
    pub(crate) database: &'a str,
    pub(crate) applied: &'a [AppliedStep],
}

#[derive(Serialize)]
pub(crate) struct AddedJson {
    pub(crate) file: String,
    /// The down file of a reversible migration (`add -r`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) down: Option<String>,
    pub(crate) version: i64,
}

#[derive(Serialize)]
pub(crate) struct DoneJson {
    pub(crate) action: String,
    pub(crate) id: String,
    pub(crate) name: String,
}

#[derive(Serialize)]
pub(crate) struct MigrationJson {
    pub(crate) version: i64,
    pub(crate) state: String,
    pub(crate) description: String,
    pub(crate) file: Option<String>,
    pub(crate) installed_on: Option<String>,
    pub(crate) execution_time_ns: Option<u64>,
}

impl From<&MigrationStatus> for MigrationJson {
    fn from(row: &MigrationStatus) -> Self {
        Self {
            version: row.version,
            state: row.state.to_string(),
            description: row.description.clone(),
            file: row.file.clone(),
            installed_on: row.applied.as_ref().map(|a| {
                a.installed_at()
                    .map_or_else(|| a.installed_on.clone(), |t| t.to_string())
            }),
            execution_time_ns: row
                .applied
                .as_ref()
                .and_then(pipeline_store::migrate::AppliedMigration::duration)
                .map(nanos),
        }
    }
}

/// A stage as `pipeline show` prints it: the model's `Stage` without its `pipeline_id`, which
/// the enclosing pipeline gives.
#[derive(Serialize)]
pub(crate) struct StageJson<'a> {
    pub(crate) id: &'a StageId,
    pub(crate) name: &'a str,
    pub(crate) stage_type: String,
    pub(crate) algorithm: &'a str,
    pub(crate) enabled: bool,
    pub(crate) order: u32,
    pub(crate) parallel_processing: bool,
    pub(crate) chunk_size: Option<u64>,
    pub(crate) parameters: &'a BTreeMap<String, String>,
    pub(crate) archived: bool,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
}

/// `pipeline show`, `create` and `demo`: the model's `Pipeline` with its fields in the
/// documented order, stages without `pipeline_id`, metrics as the model serializes them.
#[derive(Serialize)]
pub(crate) struct PipelineJson<'a> {
    pub(crate) id: &'a PipelineId,
    pub(crate) name: &'a str,
    pub(crate) archived: bool,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) tags: &'a BTreeSet<String>,
    pub(crate) configuration: &'a BTreeMap<String, String>,
    pub(crate) stages: Vec<StageJson<'a>>,
    pub(crate) metrics: Option<&'a ProcessingMetrics>,
}

impl<'a> From<&'a Pipeline> for PipelineJson<'a> {
    fn from(p: &'a Pipeline) -> Self {
        Self {
            id: &p.id,
            name: &p.name,
            archived: p.archived,
            created_at: p.created_at,
            updated_at: p.updated_at,
            tags: &p.tags,
            configuration: &p.configuration,
            stages: p
                .stages
                .iter()
                .map(|s| StageJson {
                    id: &s.id,
                    name: &s.name,
                    stage_type: s.stage_type.to_string(),
                    algorithm: &s.algorithm,
                    enabled: s.enabled,
                    order: s.order,
                    parallel_processing: s.parallel_processing,
                    chunk_size: s.chunk_size,
                    parameters: &s.parameters,
                    archived: s.archived,
                    created_at: s.created_at,
                    updated_at: s.updated_at,
                })
                .collect(),
            metrics: p.metrics.as_ref(),
        }
    }
}

/// `check`: the report with `ok` first, migration rows as `migrate info` shows them and
/// derived problems tagged by kind.
#[derive(Serialize)]
pub(crate) struct CheckJson<'a> {
    pub(crate) ok: bool,
    pub(crate) integrity: &'a [String],
    pub(crate) foreign_keys: &'a [ForeignKeyViolation],
    pub(crate) migrations: Vec<MigrationJson>,
    pub(crate) out_of_order: Vec<MigrationJson>,
    pub(crate) pending: Vec<MigrationJson>,
    pub(crate) line_endings: Vec<MigrationJson>,
    pub(crate) drift: &'a [Difference],
    pub(crate) derived: Vec<DerivedJson>,
    pub(crate) other_histories: &'a [String],
    pub(crate) other_sets: &'a [Difference],
}

impl<'a> From<&'a CheckReport> for CheckJson<'a> {
    fn from(r: &'a CheckReport) -> Self {
        Self {
            ok: r.is_ok(),
            integrity: &r.integrity,
            foreign_keys: &r.foreign_keys,
            migrations: r.migrations.iter().map(MigrationJson::from).collect(),
            out_of_order: r.out_of_order.iter().map(MigrationJson::from).collect(),
            pending: r.pending.iter().map(MigrationJson::from).collect(),
            drift: &r.drift,
            line_endings: r.line_endings.iter().map(MigrationJson::from).collect(),
            derived: r.derived.iter().map(DerivedJson::from).collect(),
            other_histories: &r.other_histories,
            other_sets: &r.other_sets,
        }
    }
}

/// `migrate baseline`: the versions recorded as applied.
#[derive(Serialize)]
pub(crate) struct BaselinedJson {
    pub(crate) baselined: Vec<i64>,
}

/// `migrate repair`: the library's report, and with `--derived` what was rewritten.
#[derive(Serialize)]
pub(crate) struct RepairJson<'a> {
    #[serde(flatten)]
    pub(crate) history: &'a RepairReport,
    /// Only with `--derived`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) derived: Option<DerivedRepair>,
}

/// A problem with derived data, in `check`: `kind` says which.
#[derive(Serialize)]
pub(crate) struct DerivedJson {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    /// Stale copies: how many tag rows, and the first few.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) examples: Option<Vec<StaleCopyJson>>,
    /// A different trigger: its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) found: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct StaleCopyJson {
    pub(crate) pipeline_id: String,
    pub(crate) tag: String,
    pub(crate) copied_name: String,
    pub(crate) copied_archived: bool,
    pub(crate) name: String,
    pub(crate) archived: bool,
}

impl From<&DerivedProblem> for DerivedJson {
    fn from(p: &DerivedProblem) -> Self {
        let mut shown = Self {
            kind: "",
            message: derived_text(p),
            count: None,
            examples: None,
            found: None,
        };
        match p {
            DerivedProblem::StaleTagCopies { count, examples } => {
                shown.kind = "stale_tag_copies";
                shown.count = Some(*count);
                shown.examples = Some(
                    examples
                        .iter()
                        .map(|e| StaleCopyJson {
                            pipeline_id: e.pipeline_id.to_string(),
                            tag: e.tag.clone(),
                            copied_name: e.copied_name.clone(),
                            copied_archived: e.copied_archived,
                            name: e.name.clone(),
                            archived: e.archived,
                        })
                        .collect(),
                );
            }
            DerivedProblem::CopyTriggerMissing => shown.kind = "copy_trigger_missing",
            DerivedProblem::CopyTriggerDifferent { found } => {
                shown.kind = "copy_trigger_different";
                shown.found = Some(found.clone());
            }
            _ => shown.kind = "other",
        }
        shown
    }
}

/// `migrate rehearse`: what the pending migrations did to a copy.
#[derive(Serialize)]
pub(crate) struct RehearsalJson<'a> {
    pub(crate) ok: bool,
    pub(crate) rows_lost: u64,
    pub(crate) copy_time_ns: u64,
    pub(crate) size_before: u64,
    pub(crate) size_after: u64,
    pub(crate) kept: Option<String>,
    pub(crate) failure: Option<String>,
    pub(crate) integrity: &'a [String],
    pub(crate) findings: &'a [Finding],
    pub(crate) steps: Vec<RehearsalStepJson<'a>>,
}

#[derive(Serialize)]
pub(crate) struct RehearsalStepJson<'a> {
    pub(crate) version: i64,
    pub(crate) file: &'a str,
    pub(crate) execution_time_ns: u64,
    pub(crate) rows: Vec<TableRowsJson>,
    pub(crate) schema: &'a [Difference],
    pub(crate) changes: Vec<ChangeJson>,
    pub(crate) lost_objects: Vec<LostObjectJson>,
    pub(crate) foreign_keys: &'a [ForeignKeyViolation],
}

/// One schema change of a rehearsal step, in the migration's terms.
#[derive(Serialize)]
pub(crate) struct ChangeJson {
    pub(crate) change: String,
    pub(crate) kind: String,
    pub(crate) object: String,
    pub(crate) property: Option<&'static str>,
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
    pub(crate) message: String,
}

/// An index or trigger a step lost without dropping it.
#[derive(Serialize)]
pub(crate) struct LostObjectJson {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) table: String,
    pub(crate) message: String,
}

#[derive(Serialize)]
pub(crate) struct TableRowsJson {
    pub(crate) table: String,
    pub(crate) before: Option<u64>,
    pub(crate) after: Option<u64>,
    pub(crate) lost: u64,
}

impl<'a> From<&'a Rehearsal> for RehearsalJson<'a> {
    fn from(r: &'a Rehearsal) -> Self {
        Self {
            ok: r.is_ok(),
            rows_lost: r.rows_lost(),
            copy_time_ns: nanos(r.copy_time),
            size_before: r.size_before,
            size_after: r.size_after,
            kept: r.kept.as_ref().map(|p| p.display().to_string()),
            failure: r.failure.clone(),
            integrity: &r.integrity,
            findings: &r.findings,
            steps: r
                .steps
                .iter()
                .map(|s| RehearsalStepJson {
                    version: s.version,
                    file: &s.file,
                    execution_time_ns: nanos(s.elapsed),
                    rows: s
                        .rows
                        .iter()
                        .map(|t| TableRowsJson {
                            table: t.table.clone(),
                            before: t.before,
                            after: t.after,
                            lost: t.lost(),
                        })
                        .collect(),
                    schema: &s.schema,
                    changes: s
                        .changes()
                        .map(|c| ChangeJson {
                            change: c.sign().to_string(),
                            kind: c.kind().to_string(),
                            object: c.object().to_owned(),
                            property: c.property(),
                            before: c.property().and(c.before()).map(str::to_owned),
                            after: c.property().and(c.after()).map(str::to_owned),
                            message: c.to_string(),
                        })
                        .collect(),
                    lost_objects: s
                        .lost_objects
                        .iter()
                        .map(|l| LostObjectJson {
                            kind: l.kind.to_string(),
                            name: l.name.clone(),
                            table: l.table.clone(),
                            message: l.to_string(),
                        })
                        .collect(),
                    foreign_keys: &s.foreign_keys,
                })
                .collect(),
        }
    }
}

/// `backup` and `restore`: what was copied where.
#[derive(Serialize)]
pub(crate) struct CopiedJson {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) bytes: u64,
}
