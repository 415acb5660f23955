//! Repository cost against hand-written rusqlite doing the same work on the same database
//! (a WAL file with the library's pragmas, 1,000 pipelines already stored):
//!
//! * `create`: one aggregate (1 pipeline, 4 stages × 3 parameters, 2 configuration rows,
//!   metrics) in its own transaction, ids and timestamps generated;
//! * `get_by_name`: that aggregate read back by name into typed values;
//! * `list_100`: a page of 100 summaries (id, name, archived, stage count, timestamps).
//!
//! `cargo bench --bench repository`; `scripts/bench-ratios` prints the medians and ratios.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pipeline_store::model::{NewPipeline, NewStage, ProcessingMetrics, StageType, Timestamp};
use pipeline_store::repo::pipelines::{self, ListQuery};
use pipeline_store::rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const STAGES: [(&str, &str, &str); 4] = [
    ("input_checksum", "checksum", "sha256"),
    ("compression", "compression", "brotli"),
    ("encryption", "encryption", "aes256gcm"),
    ("output_checksum", "checksum", "sha256"),
];

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
    STAGES
        .iter()
        .fold(NewPipeline::new(name), |p, (stage, kind, algorithm)| {
            p.stage(
                NewStage::new(*stage, StageType::parse(kind), *algorithm)
                    .parameter("level", "6")
                    .parameter("buffer", "65536")
                    .parameter("mode", "strict"),
            )
        })
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
    for (order, (stage, kind, algorithm)) in (0_i64..).zip(STAGES.iter()) {
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
#[allow(dead_code)]
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

/// The metrics columns the raw version reads.
type RawMetrics = (
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    f64,
    Option<f64>,
);

#[allow(dead_code)]
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
    while let Some(row) = rows.next().unwrap() {
        let stage: String = row.get(0).unwrap();
        if let Some(s) = stages.iter_mut().find(|s| s.id == stage) {
            s.parameters
                .insert(row.get(1).unwrap(), row.get(2).unwrap());
        }
    }
    drop(rows);
    drop(statement);
    let configuration = tx
        .prepare_cached("SELECT key, value FROM pipeline_configuration WHERE pipeline_id = ?1")
        .unwrap()
        .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let metrics = tx
        .prepare_cached(
            "SELECT bytes_processed, bytes_total, chunks_processed, chunks_total, start_time_rfc3339, \
             end_time_rfc3339, processing_duration_ms, throughput_bytes_per_second, compression_ratio \
             FROM processing_metrics WHERE pipeline_id = ?1",
        )
        .unwrap()
        .query_row([&id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
        })
        .optional()
        .unwrap();
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

fn raw_list_100(conn: &Connection) -> Vec<RawSummary> {
    conn.prepare_cached(
        "SELECT id, name, archived, created_at, updated_at, \
         (SELECT count(*) FROM pipeline_stages WHERE pipeline_stages.pipeline_id = pipelines.id) \
         FROM pipelines WHERE archived = false ORDER BY name LIMIT 100",
    )
    .unwrap()
    .query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(5)?,
            parse_time(&r.get::<_, String>(3)?),
            parse_time(&r.get::<_, String>(4)?),
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
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
    targets = repository
}
criterion_main!(benches);
