//! The data of the `scale` bench, shared with `examples/fill.rs` (and its stages with the
//! `repository` bench): pipelines of 4 stages × 3
//! parameters, 2 configuration rows (one unique to the pipeline) and metrics; 1 in 10 tagged
//! `nightly`, 1 in 100 archived.

#![allow(dead_code, reason = "each includer uses part of it")]

use std::time::Duration;

use pipeline_store::model::{NewPipeline, NewStage, ProcessingMetrics, StageType};
use pipeline_store::repo::pipelines;

pub const STAGES: [(&str, &str, &str); 4] = [
    ("input_checksum", "checksum", "sha256"),
    ("compression", "compression", "brotli"),
    ("encryption", "encryption", "aes256gcm"),
    ("output_checksum", "checksum", "sha256"),
];

/// Pipelines read by the lookup benches: a stride through the whole database.
pub const SAMPLE: usize = 997;

pub fn name(i: usize) -> String {
    format!("pipeline-{i:06}")
}

/// `new` with the four [`STAGES`], each with the same three parameters.
pub fn with_stages(new: NewPipeline) -> NewPipeline {
    STAGES.iter().fold(new, |p, (stage, kind, algorithm)| {
        p.stage(
            NewStage::new(*stage, StageType::parse(kind), *algorithm)
                .parameter("level", "6")
                .parameter("buffer", "65536")
                .parameter("mode", "strict"),
        )
    })
}

pub fn aggregate(i: usize) -> NewPipeline {
    let mut metrics = ProcessingMetrics::default();
    metrics.bytes_processed = 1 << 20;
    metrics.bytes_total = 1 << 21;
    metrics.processing_duration = Some(Duration::from_millis(1500));
    metrics.input_file_checksum = Some("sha256:in".into());
    let mut new = with_stages(NewPipeline::new(name(i)))
        .config("max_workers", "4")
        .config("source", format!("/data/in/{i}"))
        .metrics(metrics);
    if i.is_multiple_of(10) {
        new = new.tag("nightly");
    }
    new
}

/// The `k`-th pipeline of a stride through `n` (a step coprime with every size used), never an
/// archived one.
pub fn stride(k: usize, n: usize) -> usize {
    let i = (k * 7919 + 13) % n;
    if is_archived(i) { i + 1 } else { i }
}

pub fn is_archived(i: usize) -> bool {
    i % 100 == 50
}

/// Fills the database at `url` with pipelines `0..n`, in transactions of 1,000, then checkpoints
/// and analyzes it.
///
/// # Errors
///
/// Whatever opening or writing fails with.
pub fn fill(url: &str, n: usize) -> pipeline_store::Result<()> {
    let conn = pipeline_store::initialize_database(url)?;
    let mut i = 0;
    while i < n {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for i in i..n.min(i + 1000) {
            let created = pipelines::create(&conn, &aggregate(i))?;
            if is_archived(i) {
                pipelines::archive(&conn, &created.id)?;
            }
        }
        conn.execute_batch("COMMIT")?;
        i += 1000;
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")?;
    Ok(())
}
