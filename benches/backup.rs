//! Backing up a 27 MB database: `schema::backup` (one-step online backup into a synced
//! temporary file, then named) against hand-written rusqlite doing the same one-step copy into a
//! plain file, and against `VACUUM INTO`, the other way to copy one consistent snapshot.
//!
//! `cargo bench --bench backup`; `scripts/bench-ratios backup_27mb` prints the ratio.

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pipeline_store::model::NewPipeline;
use pipeline_store::repo::pipelines;
use pipeline_store::rusqlite::{Connection, OpenFlags, backup::Backup};

/// 500 pipelines with a 26,624-byte configuration value each (stored twice: in the table and in
/// the (key, value) lookup index): about 27 MB.
fn database(path: &Path) -> Connection {
    let conn = pipeline_store::initialize_database(path.to_str().unwrap()).unwrap();
    let payload = "p".repeat(26 << 10);
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..500 {
        pipelines::create(
            &tx,
            &NewPipeline::new(format!("pipeline-{i:04}")).config("payload", &payload),
        )
        .unwrap();
    }
    tx.commit().unwrap();
    conn
}

fn raw_backup(conn: &Connection, target: &Path) {
    let mut copy = Connection::open_with_flags(
        target,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .unwrap();
    Backup::new(conn, &mut copy).unwrap().step(-1).unwrap();
    copy.pragma_update(None, "journal_mode", "delete").unwrap();
    drop(copy);
    std::fs::File::open(target).unwrap().sync_all().unwrap();
}

fn vacuum_into(conn: &Connection, target: &Path) {
    conn.execute("VACUUM INTO ?1", [target.to_str().unwrap()])
        .unwrap();
    std::fs::File::open(target).unwrap().sync_all().unwrap();
}

fn backup(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let conn = database(&dir.path().join("source.db"));
    let size = std::fs::metadata(dir.path().join("source.db"))
        .unwrap()
        .len();
    eprintln!("source: {size} bytes");
    let counter = AtomicUsize::new(0);
    let fresh = || {
        dir.path().join(format!(
            "copy-{}.db",
            counter.fetch_add(1, Ordering::Relaxed)
        ))
    };
    let mut group = c.benchmark_group("backup_27mb");
    group.bench_function("pipeline-store", |b| {
        b.iter_with_large_drop(|| {
            let target = fresh();
            pipeline_store::schema::backup(&conn, &target).unwrap();
            black_box(&target);
            std::fs::remove_file(target).unwrap();
        });
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            let target = fresh();
            raw_backup(&conn, &target);
            std::fs::remove_file(target).unwrap();
        });
    });
    group.bench_function("vacuum-into", |b| {
        b.iter(|| {
            let target = fresh();
            vacuum_into(&conn, &target);
            std::fs::remove_file(target).unwrap();
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = backup
}
criterion_main!(benches);
