//! Startup cost: opening a database through the library against hand-written rusqlite doing the
//! same work with the same pragmas (WAL, `synchronous=NORMAL`, foreign keys, busy timeout).
//!
//! * `warm`: open an already-migrated file, validate its migrations, count pipelines; the
//!   baseline opens, sets the pragmas, reads `PRAGMA user_version` and runs the same count.
//! * `cold`: a fresh file to fully migrated; the baseline runs the same SQL with
//!   `execute_batch` in one transaction.
//! * `warm_200`: `warm` over a database with 200 extra one-table migrations applied; the
//!   baseline runs over the same 200-table database.
//!
//! * `warm_host`: `warm` of a host program's database, two sets (this crate's and a host's two
//!   migrations in `_host_migrations`) against the same file opened with this crate's set only.
//!
//! The warm groups also time `raw-persistent-wal`: the baseline with the two settings the library
//! adds on open (`SQLITE_FCNTL_PERSIST_WAL` and `journal_size_limit`), so that what they are worth
//! and what the rest of the library costs can be told apart.
//!
//! `cargo bench --bench startup`; `scripts/bench-ratios` prints the medians and ratios.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[path = "support/raw.rs"]
mod raw;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pipeline_store::migrate::Migrator;
use pipeline_store::schema::{self, OpenOptions};
use raw::{all_sql, raw_open, raw_warm, with_extra_migrations};

fn library_warm(url: &str, migrator: &Migrator) -> i64 {
    let (conn, report) = OpenOptions::new()
        .open_with_migrator(url, migrator)
        .expect("open");
    assert!(report.is_up_to_date());
    conn.query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))
        .expect("count")
}

fn warm(c: &mut Criterion, name: &str, migrator: &Migrator) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("warm.db");
    let url = path.display().to_string();
    OpenOptions::new()
        .open_with_migrator(&url, migrator)
        .expect("migrate once");
    let mut group = c.benchmark_group(name);
    group.bench_function("pipeline-store", |b| {
        b.iter(|| black_box(library_warm(&url, migrator)));
    });
    group.bench_function("raw", |b| b.iter(|| black_box(raw_warm(&path, false))));
    group.bench_function("raw-persistent-wal", |b| {
        b.iter(|| black_box(raw_warm(&path, true)));
    });
    group.finish();
}

fn warm_schema(c: &mut Criterion) {
    warm(c, "warm", schema::migrator());
}

/// A host's set of two migrations, in its own history table.
fn host() -> Migrator {
    Migrator::new(vec![
        pipeline_store::migrate::Migration::new(
            20_261_201_090_000,
            "create jobs",
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY, \
             pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE);",
        ),
        pipeline_store::migrate::Migration::new(
            20_261_201_100_000,
            "create job files",
            "CREATE TABLE job_files (id INTEGER PRIMARY KEY, \
             job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, path TEXT NOT NULL);",
        ),
    ])
    .expect("distinct versions")
    .history_table("_host_migrations")
    .expect("a plain name")
}

fn warm_host(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("host.db").display().to_string();
    let host = host();
    OpenOptions::new()
        .open_host(&url, &host)
        .expect("migrate once");
    let mut group = c.benchmark_group("warm_host");
    group.bench_function("two-sets", |b| {
        b.iter(|| {
            let (conn, reports) = OpenOptions::new().open_host(&url, &host).expect("open");
            assert!(
                reports
                    .iter()
                    .all(pipeline_store::migrate::MigrationReport::is_up_to_date)
            );
            black_box(conn)
        });
    });
    group.bench_function("one-set", |b| {
        b.iter(|| black_box(library_warm(&url, schema::migrator())));
    });
    group.finish();
}

fn warm_200(c: &mut Criterion) {
    warm(c, "warm_200", &with_extra_migrations(200));
}

fn cold(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = AtomicUsize::new(0);
    let fresh = || -> PathBuf {
        dir.path().join(format!(
            "cold-{}.db",
            counter.fetch_add(1, Ordering::Relaxed)
        ))
    };
    let all_sql = all_sql();

    let mut group = c.benchmark_group("cold");
    group.bench_function("pipeline-store", |b| {
        b.iter_batched(
            || fresh().display().to_string(),
            |url| pipeline_store::initialize_database(&url).expect("initialize"),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("raw", |b| {
        b.iter_batched(
            fresh,
            |path| {
                let mut conn = raw_open(&path, true);
                let tx = conn.transaction().expect("begin");
                tx.execute_batch(&all_sql).expect("schema");
                tx.commit().expect("commit");
                conn
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// Schema drift over a 206-migration history: replaying the applied migrations in memory and
/// comparing both schemas, table by table. Nothing raw does the same, so no ratio.
fn drift_200(c: &mut Criterion) {
    let migrator = with_extra_migrations(200);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("drift.db").display().to_string();
    let (conn, _) = OpenOptions::new()
        .open_with_migrator(&url, &migrator)
        .expect("migrate once");
    let mut group = c.benchmark_group("drift_200");
    group.bench_function("pipeline-store", |b| {
        b.iter(|| {
            let drift = schema::drift(&conn, &migrator).expect("drift");
            assert!(drift.is_empty());
            black_box(drift)
        });
    });
    group.finish();
}

criterion_group! {
    name = startup;
    config = Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = warm_schema, cold, warm_200, drift_200, warm_host
}
criterion_main!(startup);
