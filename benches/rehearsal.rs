//! Rehearsing 3 migrations on a copy of a database of 100,000 pipelines (each with one stage,
//! one parameter and one configuration entry): the whole rehearsal, and the copy alone.
//!
//! `cargo bench --bench rehearsal`. There is no raw baseline: nothing raw does the same.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::rusqlite::params;
use pipeline_store::schema;

fn rehearsal(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.db");
    let conn = pipeline_store::initialize_database(path.to_str().unwrap()).unwrap();
    {
        let tx = conn.unchecked_transaction().unwrap();
        let now = "2025-01-01T00:00:00.000000Z";
        for i in 0..100_000 {
            let id = format!("p-{i:06}");
            let stage = format!("s-{i:06}");
            tx.prepare_cached("INSERT INTO pipelines (id, name, archived, created_at, updated_at) VALUES (?1, ?1, ?2, ?3, ?3)")
                .unwrap()
                .execute(params![id, i % 100 == 0, now])
                .unwrap();
            tx.prepare_cached(
                "INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, algorithm, enabled, stage_order, \
                 parallel_processing, archived, created_at, updated_at) VALUES (?1, ?2, 'compress', 'compression', 'zstd', 1, 0, 0, 0, ?3, ?3)",
            )
            .unwrap()
            .execute(params![stage, id, now])
            .unwrap();
            tx.prepare_cached("INSERT INTO stage_parameters (stage_id, key, value, archived, created_at, updated_at) VALUES (?1, 'level', '9', 0, ?2, ?2)")
                .unwrap()
                .execute(params![stage, now])
                .unwrap();
            tx.prepare_cached("INSERT INTO pipeline_configuration (pipeline_id, key, value, archived, created_at, updated_at) VALUES (?1, 'max_workers', '4', 0, ?2, ?2)")
                .unwrap()
                .execute(params![id, now])
                .unwrap();
        }
        tx.commit().unwrap();
    }
    eprintln!(
        "database: {} bytes",
        std::fs::metadata(&path).unwrap().len()
    );
    let mut migrations = schema::migrator().migrations().to_vec();
    migrations.push(Migration::new(
        29_990_101_000_000,
        "add owner",
        "ALTER TABLE pipelines ADD COLUMN owner TEXT;",
    ));
    migrations.push(Migration::new(
        29_990_102_000_000,
        "backfill owner",
        "UPDATE pipelines SET owner = 'ops' WHERE archived = false;",
    ));
    migrations.push(Migration::new(
        29_990_103_000_000,
        "index owner",
        "CREATE INDEX idx_pipelines_owner ON pipelines(owner);",
    ));
    let migrator = Migrator::new(migrations).unwrap();
    let counter = AtomicUsize::new(0);

    let mut group = c.benchmark_group("rehearsal_100k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("rehearse 3 migrations", |b| {
        b.iter(|| {
            let report = migrator.rehearse(&conn, None).unwrap();
            assert!(report.is_ok() && report.steps.len() == 3);
            black_box(report)
        });
    });
    group.bench_function("copy alone (schema::backup)", |b| {
        b.iter(|| {
            let target = dir.path().join(format!(
                "copy-{}.db",
                counter.fetch_add(1, Ordering::Relaxed)
            ));
            schema::backup(&conn, &target).unwrap();
            std::fs::remove_file(target).unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, rehearsal);
criterion_main!(benches);
