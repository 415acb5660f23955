//! Processing metrics: one row per pipeline with every figure of its last run.
//!
//! ```
//! use pipeline_store::model::{NewPipeline, ProcessingMetrics};
//! use pipeline_store::repo::{metrics, pipelines};
//!
//! let conn = pipeline_store::initialize_database(":memory:")?;
//! let p = pipelines::create(&conn, &NewPipeline::new("nightly-backup"))?;
//! let mut run = ProcessingMetrics::default();
//! run.bytes_total = 1 << 20;
//! metrics::record(&conn, &p.id, &run)?;
//! metrics::update_progress(&conn, &p.id, 1 << 19, 8)?;
//! let now = metrics::get(&conn, &p.id)?.expect("recorded");
//! assert_eq!((now.bytes_processed, now.chunks_processed), (1 << 19, 8));
//! # Ok::<(), pipeline_store::Error>(())
//! ```

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::{Connection, Row, params};

use super::{Source, pipeline_not_found, to_i64, write};
use crate::error::{Error, Result};
use crate::model::{PipelineId, ProcessingMetrics, Timestamp};

const UPSERT: &str = "INSERT INTO processing_metrics (pipeline_id, bytes_processed, bytes_total, chunks_processed, \
     chunks_total, start_time_rfc3339, end_time_rfc3339, processing_duration_ms, throughput_bytes_per_second, \
     compression_ratio, error_count, warning_count, input_file_size_bytes, output_file_size_bytes, \
     input_file_checksum, output_file_checksum) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
     ON CONFLICT (pipeline_id) DO UPDATE SET bytes_processed = excluded.bytes_processed, \
     bytes_total = excluded.bytes_total, chunks_processed = excluded.chunks_processed, \
     chunks_total = excluded.chunks_total, start_time_rfc3339 = excluded.start_time_rfc3339, \
     end_time_rfc3339 = excluded.end_time_rfc3339, processing_duration_ms = excluded.processing_duration_ms, \
     throughput_bytes_per_second = excluded.throughput_bytes_per_second, \
     compression_ratio = excluded.compression_ratio, error_count = excluded.error_count, \
     warning_count = excluded.warning_count, input_file_size_bytes = excluded.input_file_size_bytes, \
     output_file_size_bytes = excluded.output_file_size_bytes, \
     input_file_checksum = excluded.input_file_checksum, output_file_checksum = excluded.output_file_checksum";
/// A `SELECT` of the owner and every metrics column (the order `decode` reads), then `$rest`.
macro_rules! select_metrics {
    ($rest:literal) => {
        concat!(
            "SELECT pipeline_id, bytes_processed, bytes_total, chunks_processed, chunks_total, \
             start_time_rfc3339, end_time_rfc3339, processing_duration_ms, throughput_bytes_per_second, \
             compression_ratio, error_count, warning_count, input_file_size_bytes, output_file_size_bytes, \
             input_file_checksum, output_file_checksum FROM processing_metrics ",
            $rest
        )
    };
}
const BY_PIPELINE: &str = select_metrics!("WHERE pipeline_id = ?1");
const OF_PIPELINES: &str =
    select_metrics!("WHERE pipeline_id IN (SELECT value FROM json_each(?1))");
const DELETE: &str = "DELETE FROM processing_metrics WHERE pipeline_id = ?1";

#[cfg(test)]
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("metrics upsert", UPSERT),
    ("metrics by pipeline", BY_PIPELINE),
    ("metrics of pipelines", OF_PIPELINES),
    ("metrics delete", DELETE),
];

/// Refuses counts beyond SQLite's integers and figures that are not finite, naming the field.
pub(crate) fn check(m: &ProcessingMetrics) -> Result<()> {
    for (field, value) in [
        ("bytes_processed", m.bytes_processed),
        ("bytes_total", m.bytes_total),
        ("chunks_processed", m.chunks_processed),
        ("chunks_total", m.chunks_total),
        ("error_count", m.error_count),
        ("warning_count", m.warning_count),
        ("input_file_size_bytes", m.input_file_size_bytes),
        ("output_file_size_bytes", m.output_file_size_bytes),
    ] {
        to_i64(field, value)?;
    }
    if let Some(d) = m.processing_duration {
        duration_ms(d)?;
    }
    if !m.throughput_bytes_per_second.is_finite() {
        return Err(Error::invalid(
            "throughput_bytes_per_second",
            "must be a finite number",
        ));
    }
    if m.compression_ratio.is_some_and(|r| !r.is_finite()) {
        return Err(Error::invalid(
            "compression_ratio",
            "must be a finite number",
        ));
    }
    Ok(())
}

/// `m` as the database keeps it: the duration in whole milliseconds (timestamps already hold
/// microseconds, as stored). What `create` returns and what `update` compares.
pub(crate) fn as_stored(m: &ProcessingMetrics) -> ProcessingMetrics {
    let mut stored = m.clone();
    stored.processing_duration = m
        .processing_duration
        .map(|d| Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)));
    stored
}

fn duration_ms(d: Duration) -> Result<i64> {
    i64::try_from(d.as_millis()).map_err(|_| {
        Error::invalid(
            "processing_duration",
            "is too long to store in milliseconds",
        )
    })
}

/// Writes every column; the caller holds a write transaction and has checked `m`.
pub(crate) fn upsert(
    conn: &Connection,
    pipeline: &PipelineId,
    m: &ProcessingMetrics,
) -> Result<()> {
    conn.prepare_cached(UPSERT)?.execute(params![
        pipeline,
        to_i64("bytes_processed", m.bytes_processed)?,
        to_i64("bytes_total", m.bytes_total)?,
        to_i64("chunks_processed", m.chunks_processed)?,
        to_i64("chunks_total", m.chunks_total)?,
        m.start_time,
        m.end_time,
        m.processing_duration.map(duration_ms).transpose()?,
        m.throughput_bytes_per_second,
        m.compression_ratio,
        to_i64("error_count", m.error_count)?,
        to_i64("warning_count", m.warning_count)?,
        to_i64("input_file_size_bytes", m.input_file_size_bytes)?,
        to_i64("output_file_size_bytes", m.output_file_size_bytes)?,
        m.input_file_checksum,
        m.output_file_checksum,
    ])?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, pipeline: &PipelineId) -> Result<()> {
    conn.prepare_cached(DELETE)?.execute([pipeline])?;
    Ok(())
}

fn decode(row: &Row<'_>) -> Result<(String, ProcessingMetrics)> {
    let owner: String = Source {
        table: "processing_metrics",
        row: "?",
    }
    .get(row, 0, "pipeline_id")?;
    let s = Source {
        table: "processing_metrics",
        row: &owner,
    };
    let duration: Option<i64> = s.get(row, 7, "processing_duration_ms")?;
    let metrics = ProcessingMetrics {
        bytes_processed: s.get_u64(row, 1, "bytes_processed")?,
        bytes_total: s.get_u64(row, 2, "bytes_total")?,
        chunks_processed: s.get_u64(row, 3, "chunks_processed")?,
        chunks_total: s.get_u64(row, 4, "chunks_total")?,
        start_time: s.get(row, 5, "start_time_rfc3339")?,
        end_time: s.get(row, 6, "end_time_rfc3339")?,
        processing_duration: duration
            .map(|ms| {
                u64::try_from(ms)
                    .map(Duration::from_millis)
                    .map_err(|_| s.invalid("processing_duration_ms", format!("{ms} is negative")))
            })
            .transpose()?,
        throughput_bytes_per_second: s.get(row, 8, "throughput_bytes_per_second")?,
        compression_ratio: s.get(row, 9, "compression_ratio")?,
        error_count: s.get_u64(row, 10, "error_count")?,
        warning_count: s.get_u64(row, 11, "warning_count")?,
        input_file_size_bytes: s.get_u64(row, 12, "input_file_size_bytes")?,
        output_file_size_bytes: s.get_u64(row, 13, "output_file_size_bytes")?,
        input_file_checksum: s.get(row, 14, "input_file_checksum")?,
        output_file_checksum: s.get(row, 15, "output_file_checksum")?,
    };
    Ok((owner, metrics))
}

/// The metrics of the pipelines in a JSON array of ids, by pipeline id.
pub(crate) fn load_many(
    conn: &Connection,
    ids: &str,
) -> Result<HashMap<String, ProcessingMetrics>> {
    let mut statement = conn.prepare_cached(OF_PIPELINES)?;
    let mut rows = statement.query([ids])?;
    let mut all = HashMap::new();
    while let Some(row) = rows.next()? {
        let (owner, metrics) = decode(row)?;
        all.insert(owner, metrics);
    }
    Ok(all)
}

/// Records a run's metrics: every column is written, replacing what was there.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the field for a count beyond `i64::MAX` or a figure that is
/// not finite; [`Error::NotFound`] when the pipeline does not exist.
pub fn record(conn: &Connection, pipeline: &PipelineId, metrics: &ProcessingMetrics) -> Result<()> {
    check(metrics)?;
    write(conn, |conn| {
        super::require_pipeline(conn, pipeline)?;
        upsert(conn, pipeline, metrics)
    })
}

/// The metrics of a pipeline, if any were recorded.
///
/// # Errors
///
/// [`Error::InvalidData`] when a stored value cannot be decoded.
pub fn get(conn: &Connection, pipeline: &PipelineId) -> Result<Option<ProcessingMetrics>> {
    let mut statement = conn.prepare_cached(BY_PIPELINE)?;
    let mut rows = statement.query([pipeline])?;
    rows.next()?
        .map(|row| decode(row).map(|(_, m)| m))
        .transpose()
}

/// Records progress: sets `bytes_processed` and `chunks_processed` and recomputes the
/// throughput from the time elapsed since `start_time`. The first call on a pipeline without
/// metrics starts them, with `start_time` now.
///
/// # Errors
///
/// [`Error::InvalidInput`] for counts beyond `i64::MAX`; [`Error::NotFound`] when the pipeline
/// does not exist.
pub fn update_progress(
    conn: &Connection,
    pipeline: &PipelineId,
    bytes: u64,
    chunks: u64,
) -> Result<()> {
    to_i64("bytes", bytes)?;
    to_i64("chunks", chunks)?;
    write(conn, |conn| {
        let now = Timestamp::now();
        let mut metrics = match get(conn, pipeline)? {
            Some(m) => m,
            None if super::pipeline_exists(conn, pipeline)? => ProcessingMetrics {
                start_time: Some(now),
                ..ProcessingMetrics::default()
            },
            None => return Err(pipeline_not_found(pipeline)),
        };
        metrics.bytes_processed = bytes;
        metrics.chunks_processed = chunks;
        if let Some(start) = metrics.start_time {
            let elapsed = now.since(start);
            metrics.processing_duration = Some(elapsed);
            let seconds = elapsed.as_secs_f64();
            #[expect(
                clippy::cast_precision_loss,
                reason = "a rate: 2^53 bytes is far beyond any file"
            )]
            let rate = if seconds > 0.0 {
                bytes as f64 / seconds
            } else {
                0.0
            };
            metrics.throughput_bytes_per_second = rate;
        }
        upsert(conn, pipeline, &metrics)
    })
}

/// Removes a pipeline's metrics.
///
/// # Errors
///
/// [`Error::NotFound`] when the pipeline does not exist.
pub fn clear(conn: &Connection, pipeline: &PipelineId) -> Result<()> {
    write(conn, |conn| {
        super::require_pipeline(conn, pipeline)?;
        delete(conn, pipeline)
    })
}
