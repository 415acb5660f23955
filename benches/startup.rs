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
//! The warm groups also time `raw-persistent-wal`: the baseline with the two settings the library
//! adds on open (`SQLITE_FCNTL_PERSIST_WAL` and `journal_size_limit`), so that what they are worth
//! and what the rest of the library costs can be told apart.
//!
//! `cargo bench --bench startup`; `scripts/bench-ratios` prints the medians and ratios.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::rusqlite::{Connection, OpenFlags};
use pipeline_store::schema::{self, OpenOptions};

/// The baseline's open: the same flags and pragmas as the library, by hand.
fn raw_open(path: &Path, create: bool) -> Connection {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).expect("open");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .expect("pragmas");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("wal");
    assert_eq!(mode, "wal");
    conn
}

/// The baseline's open with the write-ahead log kept between opens, as the library keeps it.
fn raw_open_persistent(path: &Path) -> Connection {
    let conn = raw_open(path, false);
    let mut on = 1;
    conn.file_control(
        Some(pipeline_store::rusqlite::MAIN_DB),
        pipeline_store::rusqlite::FileControl::PersistWal(&mut on),
    )
    .expect("persistent WAL");
    conn.execute_batch("PRAGMA journal_size_limit = 67108864;")
        .expect("journal size limit");
    conn
}

fn raw_warm(path: &Path, persistent: bool) -> i64 {
    let conn = if persistent {
        raw_open_persistent(path)
    } else {
        raw_open(path, false)
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))
        .expect("count");
    version + count
}

fn library_warm(url: &str, migrator: &Migrator) -> i64 {
    let (conn, report) = OpenOptions::new()
        .open_with_migrator(url, migrator)
        .expect("open");
    assert!(report.is_up_to_date());
    conn.query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))
        .expect("count")
}

/// The embedded migrations plus `extra` trivial ones, each creating one small table.
fn with_extra_migrations(extra: i64) -> Migrator {
    let mut migrations = schema::migrator().migrations().to_vec();
    let last = migrations.last().map_or(0, Migration::version);
    for i in 1..=extra {
        migrations.push(Migration::new(
            last + i,
            format!("create extra {i}"),
            format!("CREATE TABLE extra_{i} (id INTEGER PRIMARY KEY, value TEXT NOT NULL);"),
        ));
    }
    Migrator::new(migrations).expect("distinct versions")
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
    let all_sql: String = schema::migrator()
        .migrations()
        .iter()
        .map(Migration::sql)
        .collect::<Vec<_>>()
        .join("\n");

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
    targets = warm_schema, cold, warm_200, drift_200
}
criterion_main!(startup);
