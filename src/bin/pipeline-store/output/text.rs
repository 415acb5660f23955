//! Text output: aligned tables and the layouts of `pipeline show` and `check`.

use std::fmt::Write as _;

use pipeline_store::migrate::MigrationState;
use pipeline_store::model::{Pipeline, ProcessingMetrics};
use pipeline_store::schema::{CheckReport, DerivedProblem, Rehearsal};

pub(crate) fn show_text(p: &Pipeline) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "pipeline  {}{}",
        p.name,
        if p.archived { " (archived)" } else { "" }
    );
    let _ = writeln!(text, "id        {}", p.id);
    let _ = writeln!(text, "created   {}", p.created_at);
    let _ = writeln!(text, "updated   {}", p.updated_at);
    if !p.tags.is_empty() {
        let _ = writeln!(
            text,
            "tags      {}",
            p.tags.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let rows: Vec<Vec<String>> = p
        .stages
        .iter()
        .map(|s| {
            vec![
                s.order.to_string(),
                s.name.clone(),
                s.stage_type.to_string(),
                s.algorithm.clone(),
                if s.enabled { "yes" } else { "no" }.to_owned(),
                if s.parallel_processing { "yes" } else { "no" }.to_owned(),
                s.chunk_size.map_or_else(|| "-".into(), |c| c.to_string()),
                s.parameters
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    let _ = writeln!(text, "\nstages");
    if rows.is_empty() {
        text.push_str("  (none)\n");
    } else {
        text.push_str(&indent(&table(
            &[
                "#",
                "NAME",
                "TYPE",
                "ALGORITHM",
                "ENABLED",
                "PARALLEL",
                "CHUNK",
                "PARAMETERS",
            ],
            &rows,
        )));
    }
    if !p.configuration.is_empty() {
        let _ = writeln!(text, "\nconfiguration");
        let rows: Vec<Vec<String>> = p
            .configuration
            .iter()
            .map(|(k, v)| vec![k.clone(), v.clone()])
            .collect();
        text.push_str(&indent(&table(&["KEY", "VALUE"], &rows)));
    }
    if let Some(m) = &p.metrics {
        let _ = writeln!(text, "\nmetrics");
        text.push_str(&indent(&metrics_table(m)));
    }
    text
}

pub(crate) fn metrics_table(m: &ProcessingMetrics) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows = vec![
        vec![
            "bytes".into(),
            format!("{} / {}", bytes(m.bytes_processed), bytes(m.bytes_total)),
        ],
        vec![
            "chunks".into(),
            format!("{} / {}", m.chunks_processed, m.chunks_total),
        ],
        vec!["started".into(), opt(m.start_time.map(|t| t.to_string()))],
        vec!["ended".into(), opt(m.end_time.map(|t| t.to_string()))],
        vec![
            "duration".into(),
            opt(m
                .processing_duration
                .map(|d| millis(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))),
        ],
        vec!["throughput".into(), rate(m.throughput_bytes_per_second)],
        vec![
            "compression ratio".into(),
            opt(m.compression_ratio.map(|r| format!("{r:.3}"))),
        ],
        vec![
            "errors / warnings".into(),
            format!("{} / {}", m.error_count, m.warning_count),
        ],
        vec![
            "input".into(),
            format!(
                "{} {}",
                bytes(m.input_file_size_bytes),
                m.input_file_checksum.as_deref().unwrap_or("")
            ),
        ],
        vec![
            "output".into(),
            format!(
                "{} {}",
                bytes(m.output_file_size_bytes),
                m.output_file_checksum.as_deref().unwrap_or("")
            ),
        ],
    ];
    table(&["FIGURE", "VALUE"], &rows)
}

pub(crate) fn check_text(report: &CheckReport) -> String {
    let mut text = String::new();
    if report.integrity.is_empty() {
        text.push_str("integrity_check     ok\n");
    } else {
        for line in &report.integrity {
            let _ = writeln!(text, "integrity_check     PROBLEM  {line}");
        }
    }
    if report.foreign_keys.is_empty() {
        text.push_str("foreign_key_check   ok\n");
    } else {
        for v in &report.foreign_keys {
            let _ = writeln!(text, "foreign_key_check   PROBLEM  {v}");
        }
    }
    if report.migrations.is_empty() && report.out_of_order.is_empty() {
        text.push_str("migrations          ok\n");
    }
    for row in &report.migrations {
        let why = match row.state {
            MigrationState::Modified => "its file changed after it was applied (checksum differs)",
            MigrationState::Missing => "applied to the database but unknown to this build",
            MigrationState::Dirty => "recorded as failed (success = 0)",
            _ => "unexpected state",
        };
        let _ = writeln!(
            text,
            "migrations          PROBLEM  {} {} ({}): {why}",
            row.state,
            row.version,
            row.file.as_deref().unwrap_or(&row.description)
        );
    }
    for row in &report.out_of_order {
        let _ = writeln!(
            text,
            "migrations          PROBLEM  out of order {} ({}): older than the newest applied migration",
            row.version,
            row.file.as_deref().unwrap_or(&row.description)
        );
    }
    for row in &report.line_endings {
        let _ = writeln!(
            text,
            "migrations          note     {} ({}): applied; the file differs only in line endings \
             (`migrate repair --line-endings` records its checksum)",
            row.version,
            row.file.as_deref().unwrap_or(&row.description)
        );
    }
    for row in &report.pending {
        let _ = writeln!(
            text,
            "migrations          pending  {} ({})",
            row.version,
            row.file.as_deref().unwrap_or(&row.description)
        );
    }
    if report.drift.is_empty() {
        text.push_str("schema drift        ok\n");
    }
    for difference in &report.drift {
        let _ = writeln!(text, "schema drift        PROBLEM  {difference}");
    }
    if !report.other_histories.is_empty() {
        let objects: Vec<&str> = report
            .other_sets
            .iter()
            .map(|d| d.object.as_str())
            .collect();
        let _ = writeln!(
            text,
            "other sets          note     history {} of another migration set; {}",
            report.other_histories.join(", "),
            if objects.is_empty() {
                "no objects of its own".to_owned()
            } else {
                format!("its objects, not drift: {}", objects.join(", "))
            }
        );
    }
    if report.derived.is_empty() {
        text.push_str("derived data        ok\n");
    }
    for problem in &report.derived {
        let _ = writeln!(
            text,
            "derived data        PROBLEM  {}",
            derived_text(problem)
        );
    }
    text
}

/// A derived-data problem as the command says it: naming the command that repairs it.
pub(crate) fn derived_text(problem: &DerivedProblem) -> String {
    problem.describe("`pipeline-store migrate repair --derived`")
}

/// A duration given in nanoseconds, in the unit a person reads: `850 ns`, `12.5 µs`, `3.2 ms`,
/// `4.1 s`.
pub(crate) fn millis(nanos: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let n = nanos as f64;
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{} µs", one_decimal(n / 1e3))
    } else if nanos < 1_000_000_000 {
        format!("{} ms", one_decimal(n / 1e6))
    } else {
        format!("{} s", one_decimal(n / 1e9))
    }
}

/// A size in binary units: `512 B`, `1.5 KiB`, `256 MiB`, `3.2 GiB`.
pub(crate) fn bytes(count: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let n = count as f64;
    let (value, unit) = match count {
        0..1_024 => return format!("{count} B"),
        1_024..1_048_576 => (n / 1_024.0, "KiB"),
        1_048_576..1_073_741_824 => (n / 1_048_576.0, "MiB"),
        _ => (n / 1_073_741_824.0, "GiB"),
    };
    format!("{} {unit}", one_decimal(value))
}

/// A rate in bytes per second: `62.5 MiB/s`.
pub(crate) fn rate(bytes_per_second: f64) -> String {
    if !bytes_per_second.is_finite() || bytes_per_second < 0.0 {
        return "-".to_owned();
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a finite, non-negative rate, shown rounded"
    )]
    let whole = bytes_per_second.round() as u64;
    format!("{}/s", bytes(whole))
}

/// One decimal, without a trailing `.0`.
fn one_decimal(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
}

pub(crate) fn indent(text: &str) -> String {
    text.lines()
        .fold(String::with_capacity(text.len() + 64), |mut out, line| {
            let _ = writeln!(out, "  {line}");
            out
        })
}

/// An aligned table: a header row and rows of cells, columns padded to their widest cell.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut columns = Columns::new(headers);
    for row in rows {
        columns.measure(row);
    }
    let mut text = columns.line(headers);
    for row in rows {
        text.push_str(&columns.line(row));
    }
    text
}

/// The widths of a table's columns, measured row by row, so that a table too large to hold can
/// be measured in one pass and written in another.
pub(crate) struct Columns {
    widths: Vec<usize>,
}

impl Columns {
    pub(crate) fn new(headers: &[impl AsRef<str>]) -> Self {
        Self {
            widths: headers.iter().map(|h| h.as_ref().chars().count()).collect(),
        }
    }

    pub(crate) fn measure(&mut self, row: &[impl AsRef<str>]) {
        for (width, cell) in self.widths.iter_mut().zip(row) {
            *width = (*width).max(cell.as_ref().chars().count());
        }
    }

    /// One line: every cell but the last padded to its column, two spaces between.
    pub(crate) fn line(&self, cells: &[impl AsRef<str>]) -> String {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(&self.widths).enumerate() {
            if i + 1 == self.widths.len() {
                out.push_str(cell.as_ref());
            } else {
                let _ = write!(out, "{:<width$}  ", cell.as_ref());
            }
        }
        let mut line = out.trim_end().to_owned();
        line.push('\n');
        line
    }
}

// JSON shapes: stable and documented in the README. Timestamps are RFC 3339 UTC text.

/// `migrate rehearse`: each step with the tables whose rows changed, then the verdict.
pub(crate) fn rehearsal_text(r: &Rehearsal) -> String {
    let mut text = format!(
        "rehearsed on a copy ({}, copied in {}):\n",
        bytes(r.size_before),
        millis(u64::try_from(r.copy_time.as_nanos()).unwrap_or(u64::MAX))
    );
    let mut rows = Vec::new();
    for step in &r.steps {
        rows.push(vec![
            step.version.to_string(),
            step.file.clone(),
            millis(u64::try_from(step.elapsed.as_nanos()).unwrap_or(u64::MAX)),
            String::new(),
        ]);
        for t in step.rows.iter().filter(|t| t.before != t.after) {
            let count = |c: Option<u64>| c.map_or_else(|| "-".to_owned(), |c| c.to_string());
            let change = if t.lost() > 0 {
                format!("LOST {} row(s)", t.lost())
            } else if t.before.is_none() {
                "created".to_owned()
            } else if t.after.is_none() {
                "dropped (empty)".to_owned()
            } else {
                "rows added".to_owned()
            };
            rows.push(vec![
                String::new(),
                format!("  {}", t.table),
                format!("{} -> {}", count(t.before), count(t.after)),
                change,
            ]);
        }
        for change in step.changes() {
            rows.push(vec![
                String::new(),
                format!("  {change}"),
                String::new(),
                String::new(),
            ]);
        }
        for lost in &step.lost_objects {
            rows.push(vec![
                String::new(),
                format!("  {lost}"),
                String::new(),
                "LOST".to_owned(),
            ]);
        }
        for v in &step.foreign_keys {
            rows.push(vec![
                String::new(),
                format!("  {v}"),
                String::new(),
                "PROBLEM".to_owned(),
            ]);
        }
    }
    text.push_str(&table(
        &["VERSION", "FILE / TABLE", "TIME / ROWS", "CHANGE"],
        &rows,
    ));
    for finding in &r.findings {
        let _ = writeln!(text, "lint: {finding}");
    }
    if let Some(failure) = &r.failure {
        let _ = writeln!(text, "stopped: {failure}");
    }
    for line in &r.integrity {
        let _ = writeln!(text, "integrity_check: {line}");
    }
    let _ = writeln!(
        text,
        "size {} -> {}; {}",
        bytes(r.size_before),
        bytes(r.size_after),
        if r.is_ok() {
            "nothing lost".to_owned()
        } else {
            let objects: usize = r.steps.iter().map(|s| s.lost_objects.len()).sum();
            format!(
                "NOT SAFE: {} row(s) and {objects} index(es) or trigger(s) lost, or a check failed",
                r.rows_lost()
            )
        }
    );
    if let Some(kept) = &r.kept {
        let _ = writeln!(text, "the rehearsed copy is at {}", kept.display());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_as_a_person_reads_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1_536), "1.5 KiB");
        assert_eq!(bytes(268_435_456), "256 MiB");
        assert_eq!(bytes(3_435_973_837), "3.2 GiB");
        assert_eq!(rate(65_536_000.0), "62.5 MiB/s");
        assert_eq!(millis(850), "850 ns");
        assert_eq!(millis(12_500), "12.5 µs");
        assert_eq!(millis(4_096_000_000), "4.1 s");
        assert_eq!(millis(1_000_000), "1 ms");
    }

    #[test]
    fn tables_align_columns() {
        let text = table(
            &["A", "LONG HEADER"],
            &[vec!["wide cell".into(), "x".into()]],
        );
        assert_eq!(text, "A          LONG HEADER\nwide cell  x\n");
    }
}
