//! JSON output: one typed shape per thing printed, as the README documents them.

use std::collections::BTreeMap;
use std::time::Duration;

use pipeline_store::migrate::{
    AppliedStep, Difference, Finding, ForeignKeyViolation, MigrationStatus, PendingMigration,
};
use pipeline_store::model::Pipeline;
use pipeline_store::repo::pipelines::PipelineSummary;
use pipeline_store::schema::{CheckReport, DerivedProblem, DerivedRepair, Rehearsal};

use crate::output::text::derived_text;
use serde::Serialize;

/// A duration in whole nanoseconds, the unit of every `execution_time_ns`.
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Serialize)]
pub(crate) struct AppliedJson {
    pub(crate) version: i64,
    pub(crate) description: String,
    pub(crate) execution_time_ns: u64,
}

impl From<&AppliedStep> for AppliedJson {
    fn from(step: &AppliedStep) -> Self {
        Self {
            version: step.version,
            description: step.description.clone(),
            execution_time_ns: nanos(step.elapsed),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct RevertedJson {
    pub(crate) reverted: Vec<AppliedJson>,
}

#[derive(Serialize)]
pub(crate) struct InitJson {
    pub(crate) database: String,
    pub(crate) applied: Vec<AppliedJson>,
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
pub(crate) struct PendingJson {
    pub(crate) version: i64,
    pub(crate) description: String,
    pub(crate) file: String,
}

impl From<&PendingMigration> for PendingJson {
    fn from(p: &PendingMigration) -> Self {
        Self {
            version: p.version,
            description: p.description.clone(),
            file: p.file.clone(),
        }
    }
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

#[derive(Serialize)]
pub(crate) struct SummaryJson {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) archived: bool,
    pub(crate) stage_count: u32,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl From<&PipelineSummary> for SummaryJson {
    fn from(s: &PipelineSummary) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            archived: s.archived,
            stage_count: s.stage_count,
            created_at: s.created_at.to_string(),
            updated_at: s.updated_at.to_string(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct StageJson {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) stage_type: String,
    pub(crate) algorithm: String,
    pub(crate) enabled: bool,
    pub(crate) order: u32,
    pub(crate) parallel_processing: bool,
    pub(crate) chunk_size: Option<u64>,
    pub(crate) parameters: BTreeMap<String, String>,
    pub(crate) archived: bool,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

#[derive(Serialize)]
pub(crate) struct MetricsJson {
    pub(crate) bytes_processed: u64,
    pub(crate) bytes_total: u64,
    pub(crate) chunks_processed: u64,
    pub(crate) chunks_total: u64,
    pub(crate) start_time: Option<String>,
    pub(crate) end_time: Option<String>,
    pub(crate) processing_duration_ms: Option<u64>,
    pub(crate) throughput_bytes_per_second: f64,
    pub(crate) compression_ratio: Option<f64>,
    pub(crate) error_count: u64,
    pub(crate) warning_count: u64,
    pub(crate) input_file_size_bytes: u64,
    pub(crate) output_file_size_bytes: u64,
    pub(crate) input_file_checksum: Option<String>,
    pub(crate) output_file_checksum: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct PipelineJson {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) archived: bool,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) tags: Vec<String>,
    pub(crate) configuration: BTreeMap<String, String>,
    pub(crate) stages: Vec<StageJson>,
    pub(crate) metrics: Option<MetricsJson>,
}

impl From<&Pipeline> for PipelineJson {
    fn from(p: &Pipeline) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            archived: p.archived,
            created_at: p.created_at.to_string(),
            updated_at: p.updated_at.to_string(),
            tags: p.tags.iter().cloned().collect(),
            configuration: p.configuration.clone(),
            stages: p
                .stages
                .iter()
                .map(|s| StageJson {
                    id: s.id.to_string(),
                    name: s.name.clone(),
                    stage_type: s.stage_type.to_string(),
                    algorithm: s.algorithm.clone(),
                    enabled: s.enabled,
                    order: s.order,
                    parallel_processing: s.parallel_processing,
                    chunk_size: s.chunk_size,
                    parameters: s.parameters.clone(),
                    archived: s.archived,
                    created_at: s.created_at.to_string(),
                    updated_at: s.updated_at.to_string(),
                })
                .collect(),
            metrics: p.metrics.as_ref().map(|m| MetricsJson {
                bytes_processed: m.bytes_processed,
                bytes_total: m.bytes_total,
                chunks_processed: m.chunks_processed,
                chunks_total: m.chunks_total,
                start_time: m.start_time.map(|t| t.to_string()),
                end_time: m.end_time.map(|t| t.to_string()),
                processing_duration_ms: m
                    .processing_duration
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                throughput_bytes_per_second: m.throughput_bytes_per_second,
                compression_ratio: m.compression_ratio,
                error_count: m.error_count,
                warning_count: m.warning_count,
                input_file_size_bytes: m.input_file_size_bytes,
                output_file_size_bytes: m.output_file_size_bytes,
                input_file_checksum: m.input_file_checksum.clone(),
                output_file_checksum: m.output_file_checksum.clone(),
            }),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ViolationJson {
    pub(crate) table: String,
    pub(crate) rowid: Option<i64>,
    pub(crate) parent: String,
}

impl From<&ForeignKeyViolation> for ViolationJson {
    fn from(v: &ForeignKeyViolation) -> Self {
        Self {
            table: v.table.clone(),
            rowid: v.rowid,
            parent: v.parent.clone(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CheckJson {
    pub(crate) ok: bool,
    pub(crate) integrity: Vec<String>,
    pub(crate) foreign_keys: Vec<ViolationJson>,
    pub(crate) migrations: Vec<MigrationJson>,
    pub(crate) out_of_order: Vec<MigrationJson>,
    pub(crate) pending: Vec<MigrationJson>,
    pub(crate) line_endings: Vec<MigrationJson>,
    pub(crate) drift: Vec<DifferenceJson>,
    pub(crate) derived: Vec<DerivedJson>,
    pub(crate) other_histories: Vec<String>,
    pub(crate) other_sets: Vec<DifferenceJson>,
}

impl From<&CheckReport> for CheckJson {
    fn from(r: &CheckReport) -> Self {
        Self {
            ok: r.is_ok(),
            integrity: r.integrity.clone(),
            foreign_keys: r.foreign_keys.iter().map(ViolationJson::from).collect(),
            migrations: r.migrations.iter().map(MigrationJson::from).collect(),
            out_of_order: r.out_of_order.iter().map(MigrationJson::from).collect(),
            pending: r.pending.iter().map(MigrationJson::from).collect(),
            drift: r.drift.iter().map(DifferenceJson::from).collect(),
            line_endings: r.line_endings.iter().map(MigrationJson::from).collect(),
            derived: r.derived.iter().map(DerivedJson::from).collect(),
            other_histories: r.other_histories.clone(),
            other_sets: r.other_sets.iter().map(DifferenceJson::from).collect(),
        }
    }
}

/// `migrate baseline`: the versions recorded as applied.
#[derive(Serialize)]
pub(crate) struct BaselinedJson {
    pub(crate) baselined: Vec<i64>,
}

/// `migrate repair`: what was repaired, by version.
#[derive(Serialize)]
pub(crate) struct RepairJson {
    pub(crate) checksums_rewritten: Vec<i64>,
    pub(crate) marked_applied: Vec<i64>,
    pub(crate) forgotten: Vec<i64>,
    /// Only with `--derived`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) derived: Option<DerivedRepairJson>,
}

/// `migrate repair --derived`: what was rewritten.
#[derive(Serialize)]
pub(crate) struct DerivedRepairJson {
    pub(crate) copies_rewritten: u64,
    pub(crate) trigger_created: bool,
}

impl From<DerivedRepair> for DerivedRepairJson {
    fn from(r: DerivedRepair) -> Self {
        Self {
            copies_rewritten: r.copies_rewritten,
            trigger_created: r.trigger_created,
        }
    }
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

/// `migrate validate`: the versions run up, down and up again, and those without a down script.
#[derive(Serialize)]
pub(crate) struct ValidationJson {
    pub(crate) reversible: Vec<i64>,
    pub(crate) irreversible: Vec<i64>,
}

/// `migrate lint`: one finding.
#[derive(Serialize)]
pub(crate) struct FindingJson {
    pub(crate) rule: &'static str,
    pub(crate) version: i64,
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) message: String,
    pub(crate) why: String,
    pub(crate) fix: String,
    pub(crate) allowed: bool,
}

impl From<&Finding> for FindingJson {
    fn from(f: &Finding) -> Self {
        Self {
            rule: f.rule,
            version: f.version,
            file: f.file.clone(),
            line: f.line,
            message: f.message.clone(),
            why: f.why.clone(),
            fix: f.fix.clone(),
            allowed: f.allowed,
        }
    }
}

/// `migrate diff` and `check`: one way the schema differs from the migrations'.
#[derive(Serialize)]
pub(crate) struct DifferenceJson {
    pub(crate) kind: String,
    pub(crate) object: String,
    pub(crate) property: &'static str,
    pub(crate) expected: Option<String>,
    pub(crate) found: Option<String>,
}

impl From<&Difference> for DifferenceJson {
    fn from(d: &Difference) -> Self {
        Self {
            kind: d.kind.to_string(),
            object: d.object.clone(),
            property: d.property,
            expected: d.expected.clone(),
            found: d.found.clone(),
        }
    }
}

/// `migrate rehearse`: what the pending migrations did to a copy.
#[derive(Serialize)]
pub(crate) struct RehearsalJson {
    pub(crate) ok: bool,
    pub(crate) rows_lost: u64,
    pub(crate) copy_time_ns: u64,
    pub(crate) size_before: u64,
    pub(crate) size_after: u64,
    pub(crate) kept: Option<String>,
    pub(crate) failure: Option<String>,
    pub(crate) integrity: Vec<String>,
    pub(crate) findings: Vec<FindingJson>,
    pub(crate) steps: Vec<RehearsalStepJson>,
}

#[derive(Serialize)]
pub(crate) struct RehearsalStepJson {
    pub(crate) version: i64,
    pub(crate) file: String,
    pub(crate) execution_time_ns: u64,
    pub(crate) rows: Vec<TableRowsJson>,
    pub(crate) schema: Vec<DifferenceJson>,
    pub(crate) changes: Vec<ChangeJson>,
    pub(crate) lost_objects: Vec<LostObjectJson>,
    pub(crate) foreign_keys: Vec<ViolationJson>,
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

impl From<&Rehearsal> for RehearsalJson {
    fn from(r: &Rehearsal) -> Self {
        Self {
            ok: r.is_ok(),
            rows_lost: r.rows_lost(),
            copy_time_ns: nanos(r.copy_time),
            size_before: r.size_before,
            size_after: r.size_after,
            kept: r.kept.as_ref().map(|p| p.display().to_string()),
            failure: r.failure.clone(),
            integrity: r.integrity.clone(),
            findings: r.findings.iter().map(FindingJson::from).collect(),
            steps: r
                .steps
                .iter()
                .map(|s| RehearsalStepJson {
                    version: s.version,
                    file: s.file.clone(),
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
                    schema: s.schema.iter().map(DifferenceJson::from).collect(),
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
                    foreign_keys: s.foreign_keys.iter().map(ViolationJson::from).collect(),
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
