//! A small file-processing tool with tables of its own (`jobs`, `job_files`, referencing
//! pipeline-store's `pipelines`) in the same SQLite file, its migrations embedded at build time
//! and kept in their own history table. Four workers from a pool process the files of a job and
//! record progress in the pipeline's metrics; a reader shows progress as a UI would.
//!
//! ```sh
//! cargo run -p pipeline-store-example-host -- /tmp/tool.db 200
//! cargo run -p pipeline-store-example-host -- --migrations   # what was embedded
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pipeline_store::migrate::Migrator;
use pipeline_store::model::{NewPipeline, NewStage, PipelineId, ProcessingMetrics, StageType};
use pipeline_store::repo::{self, metrics, pipelines};
use pipeline_store::rusqlite::{Connection, OptionalExtension, params};
use pipeline_store::schema::{self, OpenOptions};

/// This tool's migrations, in `_filetool_migrations` beside pipeline-store's `_sqlx_migrations`.
fn migrations() -> Result<Migrator, pipeline_store::MigrateError> {
    pipeline_store::include_migrations!()?.history_table("_filetool_migrations")
}

/// Creates the pipeline the tool runs, unless it exists.
fn pipeline(conn: &Connection) -> pipeline_store::Result<PipelineId> {
    if let Some(p) = pipelines::find_by_name(conn, "ingest")? {
        return Ok(p.id);
    }
    let new = NewPipeline::new("ingest")
        .stage(NewStage::new("hash", StageType::Checksum, "sha256"))
        .stage(NewStage::new("pack", StageType::Compression, "zstd"))
        .metrics(ProcessingMetrics::default());
    Ok(pipelines::create(conn, &new)?.id)
}

/// A new job of `files` files for the pipeline; its id.
fn new_job(conn: &Connection, pipeline: &PipelineId, files: u64) -> pipeline_store::Result<i64> {
    let tx = repo::write_transaction(conn)?;
    tx.execute(
        "INSERT INTO jobs (pipeline_id, created_at) VALUES (?1, ?2)",
        params![pipeline.as_str(), pipeline_store::model::Timestamp::now()],
    )?;
    let job = tx.last_insert_rowid();
    for i in 0..files {
        tx.execute(
            "INSERT INTO job_files (job_id, path, bytes) VALUES (?1, ?2, ?3)",
            params![
                job,
                format!("in/file-{i:04}.dat"),
                4096 + i64::try_from(i).unwrap_or(0) * 17
            ],
        )?;
    }
    // The run's totals, so progress is shown as a share of the whole.
    let mut m = metrics::get(&tx, pipeline)?.unwrap_or_default();
    m.bytes_total += u64::try_from(tx.query_row(
        "SELECT sum(bytes) FROM job_files WHERE job_id = ?1",
        [job],
        |r| r.get::<_, i64>(0),
    )?)
    .unwrap_or(0);
    m.chunks_total += files;
    metrics::record(&tx, pipeline, &m)?;
    tx.commit()?;
    Ok(job)
}

/// One worker: takes the next file, processes it, and records it and the progress in one write
/// transaction (read then write: BEGIN IMMEDIATE, so no other worker's commit can refuse it).
fn work(conn: &Connection, pipeline: &PipelineId, job: i64) -> pipeline_store::Result<u64> {
    let mut processed = 0;
    loop {
        let tx = repo::write_transaction(conn)?;
        let next: Option<(i64, i64)> = tx
            .query_row(
                "SELECT id, bytes FROM job_files WHERE job_id = ?1 AND done = FALSE LIMIT 1",
                [job],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((file, bytes)) = next else {
            return Ok(processed);
        };
        tx.execute("UPDATE job_files SET done = TRUE WHERE id = ?1", [file])?;
        let done = metrics::get(&tx, pipeline)?.map_or(0, |m| m.bytes_processed);
        metrics::update_progress(&tx, pipeline, done + u64::try_from(bytes).unwrap_or(0), 1)?;
        tx.commit()?;
        processed += 1;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--migrations") {
        let host = migrations()?;
        // Up and down, up again, on this crate's schema: the set is sound.
        host.clone().after(schema::migrator()).validate()?;
        for m in host.migrations() {
            let sum = m.checksum().iter().fold(String::new(), |mut out, b| {
                let _ = write!(out, "{b:02x}");
                out
            });
            println!("{} {} {sum}", m.version(), m.file());
        }
        return Ok(());
    }
    let path = args.get(1).map_or("filetool.db", String::as_str);
    let files: u64 = args.get(2).map_or(Ok(100), |n| n.parse())?;
    let host = migrations()?;
    let sets = [schema::migrator(), &host];

    // One pool for the workers: both sets applied once, before the pool is built.
    let pool = pipeline_store::pool_with_migrators(path, 4, &OpenOptions::new(), &sets)?;
    let conn = pool.get()?;
    let pipeline = pipeline(&conn)?;
    let job = new_job(&conn, &pipeline, files)?;
    drop(conn);

    let finished = AtomicBool::new(false);
    let per_worker = std::thread::scope(|scope| -> Result<Vec<u64>, pipeline_store::Error> {
        // The UI: a read-only connection that shows progress until the workers are done.
        let ui = scope.spawn(|| -> pipeline_store::Result<()> {
            let (reader, _) = OpenOptions::new().read_only(true).open_host(path, &host)?;
            while !finished.load(Ordering::Relaxed) {
                if let Some(m) = metrics::get(&reader, &pipeline)? {
                    eprint!("\rprogress {}/{} bytes", m.bytes_processed, m.bytes_total);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!();
            Ok(())
        });
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (pool, pipeline) = (&pool, &pipeline);
                scope.spawn(move || work(&*pool.get()?, pipeline, job))
            })
            .collect();
        let counts = workers
            .into_iter()
            .map(|w| w.join().expect("a worker does not panic"))
            .collect::<Result<Vec<_>, _>>();
        finished.store(true, Ordering::Relaxed);
        ui.join().expect("the reader does not panic")?;
        counts
    })?;

    let conn = pool.get()?;
    let left: i64 = conn.query_row(
        "SELECT count(*) FROM job_files WHERE job_id = ?1 AND done = FALSE",
        [job],
        |r| r.get(0),
    )?;
    let report = schema::check_host(&conn, &host)?;
    println!(
        "job {job}: {} files by 4 workers {per_worker:?}, {left} left; check {}",
        per_worker.iter().sum::<u64>(),
        if report.is_ok() { "ok" } else { "FAILED" }
    );
    if left != 0 || per_worker.iter().sum::<u64>() != files || !report.is_ok() {
        return Err(format!("the job did not finish cleanly: {report:?}").into());
    }
    Ok(())
}
