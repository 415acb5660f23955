//! Repository cost against hand-written rusqlite doing the same work on the same database
//! (a WAL file with the library's pragmas, 1,000 pipelines already stored):
//!
//! * `create`: one aggregate (1 pipeline, 4 stages × 3 parameters, 2 configuration rows,
//!   metrics) in its own transaction, ids and timestamps generated;
//! * `get_by_name`: that aggregate read back by name into typed values;
//! * `list_100`: a page of 100 summaries (id, name, archived, stage count, timestamps);
//! * `archived_page_50` / `active_page_50`: a page of 50 summaries of one status, on a second
//!   database of 10,000 active and 100 archived pipelines (each status is read through an index
//!   that holds only its rows, so the archived page costs what the active one does).
//!
//! `cargo bench --bench repository`; `scripts/bench-ratios` prints the medians and ratios.

#[path = "support/scale_data.rs"]
mod scale_data;

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pipeline_store::model::{NewPipeline, ProcessingMetrics, Timestamp};
use pipeline_store::repo::pipelines::{self, ListQuery};
use pipeline_store::rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn metrics() -> ProcessingMetrics {
    let mut m = ProcessingMetrics::default();
    m.bytes_processed = 1 << 20;
    m.bytes_total = 1 << 21;
    m.chunks_processed = 16;
    m.chunks_total = 32;
    m.start_time = Some(Timestamp::now());
    m.processing_duration = Some(Duration::from_millis(1500));
    m.throughput_bytes_per_second = 699_050.6;
    m.compression_ratio = Some(0.42);
    m.input_file_size_bytes = 1 << 21;
    m.output_file_size_bytes = 880_803;
    m.input_file_checksum = Some("sha256:in".into());
    m
}

fn aggregate(name: &str) -> NewPipeline {
    scale_data::with_stages(NewPipeline::new(name))
        .config("max_workers", "4")
        .config("buffer_size", "1048576")
        .metrics(metrics())
}

fn now_text() -> String {
    Timestamp::now().to_string()
}

fn raw_create(conn: &Connection, name: &str) {
    let tx = rusqlite_tx(conn);
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_text();
    tx.prepare_cached(
        "INSERT INTO pipelines (id, name, archived, created_at, updated_at) VALUES (?1, ?2, FALSE, ?3, ?3)",
    )
    .unwrap()
    .execute(params![id, name, now])
    .unwrap();
    for (order, (stage, kind, algorithm)) in (0_i64..).zip(scale_data::STAGES.iter()) {
        let stage_id = uuid::Uuid::now_v7().to_string();
        tx.prepare_cached(
            "INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, algorithm, enabled, stage_order, \
             parallel_processing, chunk_size, archived, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, TRUE, ?6, FALSE, NULL, FALSE, ?7, ?7)",
        )
        .unwrap()
        .execute(params![stage_id, id, stage, kind, algorithm, order, now])
        .unwrap();
        for (key, value) in [("buffer", "65536"), ("level", "6"), ("mode", "strict")] {
            tx.prepare_cached(
                "INSERT INTO stage_parameters (stage_id, key, value, archived, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, FALSE, ?4, ?4)",
            )
            .unwrap()
            .execute(params![stage_id, key, value, now])
            .unwrap();
        }
    }
    for (key, value) in [("buffer_size", "1048576"), ("max_workers", "4")] {
        tx.prepare_cached(
            "INSERT INTO pipeline_configuration (pipeline_id, key, value, archived, created_at, updated_at) \
             VALUES (?1, ?2, ?3, FALSE, ?4, ?4)",
        )
        .unwrap()
        .execute(params![id, key, value, now])
        .unwrap();
    }
    let m = metrics();
    tx.prepare_cached(
        "INSERT INTO processing_metrics (pipeline_id, bytes_processed, bytes_total, chunks_processed, chunks_total, \
         start_time_rfc3339, end_time_rfc3339, processing_duration_ms, throughput_bytes_per_second, compression_ratio, \
         error_count, warning_count, input_file_size_bytes, output_file_size_bytes, input_file_checksum, \
         output_file_checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )
    .unwrap()
    .execute(params![
        id,
        1_i64 << 20,
        1_i64 << 21,
        16,
        32,
        m.start_time.map(|t| t.to_string()),
        None::<String>,
        1500,
        m.throughput_bytes_per_second,
        m.compression_ratio,
        0,
        0,
        1_i64 << 21,
        880_803,
        m.input_file_checksum,
        None::<String>
    ])
    .unwrap();
    tx.commit().unwrap();
}

fn rusqlite_tx(conn: &Connection) -> pipeline_store::rusqlite::Transaction<'_> {
    pipeline_store::rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .unwrap()
}

fn parse_time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

/// What the raw version reads: the same information, typed.
#[expect(dead_code, reason = "read like the library reads it, never looked at")]
struct RawStage {
    id: String,
    name: String,
    stage_type: String,
    algorithm: String,
    enabled: bool,
    order: i64,
    parallel: bool,
    chunk_size: Option<i64>,
    archived: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    parameters: BTreeMap<String, String>,
}

/// Every column of `processing_metrics`, typed as the library types them.
#[expect(dead_code, reason = "read like the library reads it, never looked at")]
struct RawMetrics {
    bytes_processed: u64,
    bytes_total: u64,
    chunks_processed: u64,
    chunks_total: u64,
    start_time: Option<OffsetDateTime>,
    end_time: Option<OffsetDateTime>,
    processing_duration: Option<Duration>,
    throughput_bytes_per_second: f64,
    compression_ratio: Option<f64>,
    error_count: u64,
    warning_count: u64,
    input_file_size_bytes: u64,
    output_file_size_bytes: u64,
    input_file_checksum: Option<String>,
    output_file_checksum: Option<String>,
}

fn unsigned(
    row: &pipeline_store::rusqlite::Row<'_>,
    index: usize,
) -> pipeline_store::rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap())
}

#[expect(dead_code, reason = "read like the library reads it, never looked at")]
struct RawPipeline {
    id: String,
    name: String,
    archived: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    stages: Vec<RawStage>,
    configuration: BTreeMap<String, String>,
    metrics: Option<RawMetrics>,
    tags: Vec<String>,
}

/// The metrics of one pipeline, every column typed.
fn raw_metrics(tx: &Connection, id: &str) -> Option<RawMetrics> {
    tx
        .prepare_cached(
            "SELECT bytes_processed, bytes_total, chunks_processed, chunks_total, start_time_rfc3339, \
             end_time_rfc3339, processing_duration_ms, throughput_bytes_per_second, compression_ratio, \
             error_count, warning_count, input_file_size_bytes, output_file_size_bytes, \
             input_file_checksum, output_file_checksum FROM processing_metrics WHERE pipeline_id = ?1",
        )
        .unwrap()
        .query_row([id], |r| {
            Ok(RawMetrics {
                bytes_processed: unsigned(r, 0)?,
                bytes_total: unsigned(r, 1)?,
                chunks_processed: unsigned(r, 2)?,
                chunks_total: unsigned(r, 3)?,
                start_time: r.get::<_, Option<String>>(4)?.map(|t| parse_time(&t)),
                end_time: r.get::<_, Option<String>>(5)?.map(|t| parse_time(&t)),
                processing_duration: r
                    .get::<_, Option<i64>>(6)?
                    .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap())),
                throughput_bytes_per_second: r.get(7)?,
                compression_ratio: r.get(8)?,
                error_count: unsigned(r, 9)?,
                warning_count: unsigned(r, 10)?,
                input_file_size_bytes: unsigned(r, 11)?,
                output_file_size_bytes: unsigned(r, 12)?,
                input_file_checksum: r.get(13)?,
                output_file_checksum: r.get(14)?,
            })
        })
        .optional()
        .unwrap()
}

fn raw_get_by_name(conn: &Connection, name: &str) -> RawPipeline {
    let tx =
        pipeline_store::rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Deferred)
            .unwrap();
    let (id, name, archived, created, updated): (String, String, bool, String, String) = tx
        .prepare_cached(
            "SELECT id, name, archived, created_at, updated_at FROM pipelines WHERE name = ?1",
        )
        .unwrap()
        .query_row([name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap();
    let mut stages: Vec<RawStage> = tx
        .prepare_cached(
            "SELECT id, name, stage_type, algorithm, enabled, stage_order, parallel_processing, chunk_size, \
             archived, created_at, updated_at FROM pipeline_stages WHERE pipeline_id = ?1 ORDER BY stage_order",
        )
        .unwrap()
        .query_map([&id], |r| {
            Ok(RawStage {
                id: r.get(0)?,
                name: r.get(1)?,
                stage_type: r.get(2)?,
                algorithm: r.get(3)?,
                enabled: r.get(4)?,
                order: r.get(5)?,
                parallel: r.get(6)?,
                chunk_size: r.get(7)?,
                archived: r.get(8)?,
                created_at: parse_time(&r.get::<_, String>(9)?),
                updated_at: parse_time(&r.get::<_, String>(10)?),
                parameters: BTreeMap::new(),
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut statement = tx
        .prepare_cached(
            "SELECT stage_parameters.stage_id, stage_parameters.key, stage_parameters.value \
             FROM pipeline_stages JOIN stage_parameters ON stage_parameters.stage_id = pipeline_stages.id \
             WHERE pipeline_stages.pipeline_id = ?1",
        )
        .unwrap();
    let mut rows = statement.query([&id]).unwrap();
    let mut parameters: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    while let Some(row) = rows.next().unwrap() {
        parameters
            .entry(row.get(0).unwrap())
            .or_default()
            .insert(row.get(1).unwrap(), row.get(2).unwrap());
    }
    drop(rows);
    drop(statement);
    for stage in &mut stages {
        stage.parameters = parameters.remove(&stage.id).unwrap_or_default();
    }
    let configuration = tx
        .prepare_cached("SELECT key, value FROM pipeline_configuration WHERE pipeline_id = ?1")
        .unwrap()
        .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let metrics = raw_metrics(&tx, &id);
    let tags = tx
        .prepare_cached("SELECT tag FROM pipeline_tags WHERE pipeline_id = ?1")
        .unwrap()
        .query_map([&id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tx.commit().unwrap();
    RawPipeline {
        id,
        name,
        archived,
        created_at: parse_time(&created),
        updated_at: parse_time(&updated),
        stages,
        configuration,
        metrics,
        tags,
    }
}

type RawSummary = (String, String, bool, i64, OffsetDateTime, OffsetDateTime);

/// A summary row (`id`, `name`, `archived`, `created_at`, `updated_at`, stage count), typed.
fn raw_summary(
    r: &pipeline_store::rusqlite::Row<'_>,
) -> pipeline_store::rusqlite::Result<RawSummary> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(5)?,
        parse_time(&r.get::<_, String>(3)?),
        parse_time(&r.get::<_, String>(4)?),
    ))
}

fn raw_list_100(conn: &Connection) -> Vec<RawSummary> {
    conn.prepare_cached(
        "SELECT id, name, archived, created_at, updated_at, \
         (SELECT count(*) FROM pipeline_stages WHERE pipeline_stages.pipeline_id = pipelines.id) \
         FROM pipelines WHERE archived = false ORDER BY name LIMIT 100",
    )
    .unwrap()
    .query_map([], raw_summary)
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A page of 50 summaries of one status, as the library's page statement reads it.
fn raw_page_50(conn: &Connection, archived: bool) -> Vec<RawSummary> {
    let sql = if archived {
        "SELECT id, name, archived, created_at, updated_at, \
         (SELECT count(*) FROM pipeline_stages WHERE pipeline_stages.pipeline_id = pipelines.id) \
         FROM pipelines WHERE archived = true AND name > ?1 ORDER BY name LIMIT 50"
    } else {
        "SELECT id, name, archived, created_at, updated_at, \
         (SELECT count(*) FROM pipeline_stages WHERE pipeline_stages.pipeline_id = pipelines.id) \
         FROM pipelines WHERE archived = false AND name > ?1 ORDER BY name LIMIT 50"
    };
    conn.prepare_cached(sql)
        .unwrap()
        .query_map([""], raw_summary)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Pages of each status on a database of 10,000 active and 100 archived pipelines.
fn pages_by_status(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("statuses.db").display().to_string();
    let conn = pipeline_store::initialize_database(&url).unwrap();
    {
        let tx = conn.unchecked_transaction().unwrap();
        let now = now_text();
        for i in 0..10_100 {
            // Archived names sort among the active ones, as they would in use.
            let archived = i % 101 == 100;
            tx.prepare_cached(
                "INSERT INTO pipelines (id, name, archived, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            )
            .unwrap()
            .execute(params![uuid::Uuid::now_v7().to_string(), format!("p-{i:05}"), archived, now])
            .unwrap();
        }
        tx.commit().unwrap();
    }
    assert_eq!(
        pipelines::count(&conn, pipelines::Status::Archived).unwrap(),
        100
    );
    for (group, archived) in [("archived_page_50", true), ("active_page_50", false)] {
        let query = if archived {
            ListQuery::archived().limit(50)
        } else {
            ListQuery::active().limit(50)
        };
        let mut group = c.benchmark_group(group);
        group.bench_function("pipeline-store", |b| {
            b.iter(|| black_box(pipelines::list(&conn, &query).unwrap()));
        });
        group.bench_function("raw", |b| {
            b.iter(|| black_box(raw_page_50(&conn, archived)));
        });
        group.finish();
    }
}

fn repository(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("bench.db").display().to_string();
    let conn = pipeline_store::initialize_database(&url).unwrap();
    {
        let tx = conn.unchecked_transaction().unwrap();
        for i in 0..1000 {
            pipelines::create(&tx, &aggregate(&format!("seed-{i:04}"))).unwrap();
        }
        tx.commit().unwrap();
    }
    let counter = AtomicUsize::new(0);
    let next_name = |prefix: &str| format!("{prefix}-{}", counter.fetch_add(1, Ordering::Relaxed));

    let mut group = c.benchmark_group("create");
    group.bench_function("pipeline-store", |b| {
        b.iter(|| black_box(pipelines::create(&conn, &aggregate(&next_name("lib"))).unwrap()));
    });
    group.bench_function("raw", |b| b.iter(|| raw_create(&conn, &next_name("raw"))));
    group.finish();

    let mut group = c.benchmark_group("get_by_name");
    group.bench_function("pipeline-store", |b| {
        b.iter(|| {
            black_box(
                pipelines::find_by_name(&conn, "seed-0500")
                    .unwrap()
                    .unwrap(),
            )
        });
    });
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_get_by_name(&conn, "seed-0500")));
    });
    group.finish();

    // A checkout from a pool (feature `r2d2`) and the same load, against one shared connection.
    #[cfg(feature = "r2d2")]
    {
        let pool = pipeline_store::pool(&url, 4).unwrap();
        let mut group = c.benchmark_group("pool_get_by_name");
        group.bench_function("pipeline-store", |b| {
            b.iter(|| {
                let conn = pool.get().unwrap();
                black_box(
                    pipelines::find_by_name(&conn, "seed-0500")
                        .unwrap()
                        .unwrap(),
                )
            });
        });
        group.bench_function("raw", |b| {
            b.iter(|| {
                black_box(
                    pipelines::find_by_name(&conn, "seed-0500")
                        .unwrap()
                        .unwrap(),
                )
            });
        });
        group.finish();
    }

    let mut group = c.benchmark_group("list_100");
    group.bench_function("pipeline-store", |b| {
        b.iter(|| black_box(pipelines::list(&conn, &ListQuery::active().limit(100)).unwrap()));
    });
    group.bench_function("raw", |b| b.iter(|| black_box(raw_list_100(&conn))));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = repository, pages_by_status
}
criterion_main!(benches);
