//! A large migration: lint and run of one file of 1,000, 10,000 and 100,000 seed-data `INSERT`
//! statements (about 74 bytes each), to show that both are linear in the file's size: the time
//! per statement is flat across the sizes. The baseline is the same file run by rusqlite's
//! `execute_batch` in one transaction, at 1,000 and 10,000 statements only: SQLite copies the
//! whole rest of the text before each statement it prepares from it, so `execute_batch` is
//! quadratic in the file's size (the library hands SQLite a window of statements at a time).
//!
//! `cargo bench --bench large_migration`. With `--test` (the CI smoke run) only the 1,000-statement
//! file is used.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::rusqlite::Connection;

/// A seed migration of `n` statements.
fn seed(n: usize) -> String {
    let mut sql = String::from(
        "CREATE TABLE seed (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT);\n",
    );
    for i in 0..n {
        let _ = writeln!(
            sql,
            "INSERT INTO seed (id, name, note) VALUES ({i}, 'name-{i}', 'a note');"
        );
    }
    sql
}

fn large_migration(c: &mut Criterion) {
    let smoke = std::env::args().any(|a| a == "--test");
    let sizes: &[usize] = if smoke {
        &[1_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let mut group = c.benchmark_group("large_migration");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(200));
    group.measurement_time(Duration::from_secs(3));
    for &n in sizes {
        let sql = seed(n);
        let migrator =
            Migrator::new(vec![Migration::new(1, "seed", sql.clone())]).expect("one migration");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("lint", n), |b| {
            b.iter(|| black_box(migrator.lint().expect("lint")));
        });
        group.bench_function(BenchmarkId::new("run", n), |b| {
            b.iter(|| {
                let mut conn = Connection::open_in_memory().expect("memory");
                black_box(migrator.run(&mut conn).expect("run"))
            });
        });
        if n > 10_000 {
            // execute_batch is quadratic in the file's size (see the module's docs): too slow
            // to sample at this size.
            continue;
        }
        group.bench_function(BenchmarkId::new("raw", n), |b| {
            b.iter(|| {
                let mut conn = Connection::open_in_memory().expect("memory");
                let tx = conn.transaction().expect("begin");
                tx.execute_batch(&sql).expect("batch");
                tx.commit().expect("commit");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, large_migration);
criterion_main!(benches);
