//! `init` and `demo`.

use std::fmt::Write as _;
use std::time::Duration;

use pipeline_store::migrate::Migrator;
use pipeline_store::model::{NewPipeline, NewStage, ProcessingMetrics, StageType, Timestamp};
use pipeline_store::repo::pipelines::{self};
use pipeline_store::schema::OpenOptions;

use crate::args::Cli;
use crate::output::emit;
use crate::output::json::{InitJson, PipelineJson, nanos};
use crate::output::text::{millis, show_text, table};
use crate::{Outcome, built_in, open_write};

pub(crate) fn init(cli: &Cli) -> Outcome {
    apply(cli, &built_in())
}

/// Creates the database if needed and applies `migrator`'s pending migrations.
pub(crate) fn apply(cli: &Cli, migrator: &Migrator) -> Outcome {
    let (_, report) = OpenOptions::new().open_with_migrator(&cli.db, migrator)?;
    let shown = InitJson {
        database: &cli.db,
        applied: &report.applied,
    };
    emit(cli, &shown, init_text)
}

fn init_text(shown: &InitJson<'_>) -> String {
    let mut text = String::new();
    if shown.applied.is_empty() {
        let _ = writeln!(text, "{}: up to date, no migration applied", shown.database);
    } else {
        let _ = writeln!(
            text,
            "{}: applied {} migration(s)",
            shown.database,
            shown.applied.len()
        );
        let rows: Vec<Vec<String>> = shown
            .applied
            .iter()
            .map(|a| {
                vec![
                    a.version.to_string(),
                    a.description.clone(),
                    millis(nanos(a.elapsed)),
                ]
            })
            .collect();
        text.push_str(&table(&["VERSION", "DESCRIPTION", "TIME"], &rows));
    }
    text
}

pub(crate) fn demo_pipelines() -> Vec<NewPipeline> {
    let mut run = ProcessingMetrics::default();
    run.bytes_processed = 268_435_456;
    run.bytes_total = 268_435_456;
    run.chunks_processed = 32;
    run.chunks_total = 32;
    run.start_time = Timestamp::parse("2025-01-15T02:00:00Z").ok();
    run.end_time = Timestamp::parse("2025-01-15T02:00:04.096Z").ok();
    run.processing_duration = Some(Duration::from_millis(4096));
    run.throughput_bytes_per_second = 65_536_000.0;
    run.compression_ratio = Some(0.37);
    run.warning_count = 1;
    run.input_file_size_bytes = 268_435_456;
    run.output_file_size_bytes = 99_321_118;
    run.input_file_checksum = Some("sha256:9f2c0a4e".into());
    run.output_file_checksum = Some("sha256:51be77d3".into());
    vec![
        NewPipeline::new("secure-backup")
            .stage(NewStage::new(
                "input_checksum",
                StageType::Checksum,
                "sha256",
            ))
            .stage(
                NewStage::new("compression", StageType::Compression, "brotli")
                    .parameter("level", "6")
                    .parameter("window_bits", "22")
                    .parallel(true)
                    .chunk_size(8 * 1024 * 1024),
            )
            .stage(
                NewStage::new("encryption", StageType::Encryption, "aes256gcm")
                    .parameter("key_size", "256")
                    .parameter("kdf", "argon2id"),
            )
            .stage(NewStage::new(
                "output_checksum",
                StageType::Checksum,
                "sha256",
            ))
            .config("max_workers", "4")
            .config("chunk_size_mb", "8")
            .tag("nightly")
            .tag("secure")
            .metrics(run),
        NewPipeline::new("fast-archive")
            .stage(
                NewStage::new("compression", StageType::Compression, "zstd")
                    .parameter("level", "3"),
            )
            .stage(NewStage::new("checksum", StageType::Checksum, "blake3"))
            .config("max_workers", "8")
            .tag("archive"),
    ]
}

pub(crate) fn demo(cli: &Cli) -> Outcome {
    let conn = open_write(cli, true)?;
    let mut shown = Vec::new();
    for new in demo_pipelines() {
        let pipeline = match pipelines::find_by_name(&conn, &new.name)? {
            Some(existing) => existing,
            None => pipelines::create(&conn, &new)?,
        };
        shown.push(pipeline);
    }
    let json: Vec<PipelineJson> = shown.iter().map(PipelineJson::from).collect();
    emit(cli, &json, |_| {
        let mut text = format!("{}: {} demo pipelines\n", cli.db, shown.len());
        for pipeline in &shown {
            text.push('\n');
            text.push_str(&show_text(pipeline));
        }
        text
    })
}
