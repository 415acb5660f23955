//! How the cost of each repository operation grows with the number of pipelines stored.
//!
//! Three databases of 1,000, 10,000 and 100,000 pipelines, each pipeline 4 stages × 3
//! parameters, 2 configuration rows (one of them unique to the pipeline) and metrics; 1 in 10
//! tagged `nightly`, 1 in 100 archived. On each, with the library's default open:
//!
//! * `find_by_name`, `get`: a whole aggregate, a different pipeline every iteration (a fixed
//!   stride through all of them, so the reads are spread over the file as a user's would be);
//! * `page_{active,archived,all}` and the same `_tagged`: a page of 50 summaries starting in the
//!   middle of the names (a cursor), for each status, without and with a tag;
//! * `find_by_config`: the pipeline whose unique configuration value is asked for;
//! * `create`, `delete`: inside a transaction that is rolled back, so the database keeps its
//!   size;
//! * `update_stage`: one stage's parameter changed (alternating values, so each update writes);
//! * `archive_restore`: a pipeline archived and restored again (two commits);
//! * `page_all_tagged_previous_sql`: the tagged page's statement as the previous release ran it
//!   (no check of the tag rows' copies, parameters bound plainly), by hand, against
//!   `page_all_tagged`;
//! * `find_by_name_mapped`, `get_mapped`: the lookups again on a connection opened with
//!   `OpenOptions::mmap_size` (2^30 bytes) and `cache_size_kib` (2^18 kibibytes), the opt-in knobs.
//!
//! The figure is a ratio of each operation with itself: at 100,000 against 1,000, and an
//! archived page against an active one. `cargo bench --bench scale`; `scripts/scale-ratios`
//! prints both. With `--test` (the CI smoke run) only the 1,000-pipeline database is built.

#[path = "support/scale_data.rs"]
mod scale_data;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pipeline_store::model::PipelineId;
use pipeline_store::repo::pipelines::{self, ListQuery};
use pipeline_store::repo::stages;
use pipeline_store::rusqlite::Connection;
use scale_data::{SAMPLE, aggregate, name, stride};

/// A database of `n` pipelines, built in transactions of 1,000.
struct Fixture {
    _dir: tempfile::TempDir,
    conn: Connection,
    n: usize,
    /// The same file opened with `OpenOptions::mmap_size` (2^30 bytes) and a page cache of 2^18 kibibytes.
    mapped: Connection,
    /// The ids of a stride of pipelines through the database.
    ids: Vec<PipelineId>,
}

impl Fixture {
    fn build(n: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = dir.path().join("scale.db").display().to_string();
        scale_data::fill(&url, n).expect("fill");
        // Benches run on a fresh connection, as a program that just opened the file would.
        let conn = pipeline_store::initialize_database(&url).expect("reopen");
        let ids = (0..SAMPLE)
            .map(|k| {
                let i = stride(k, n);
                pipelines::find_by_name(&conn, &name(i))
                    .expect("find")
                    .expect("stored")
                    .id
            })
            .collect();
        let mapped = pipeline_store::schema::OpenOptions::new()
            .mmap_size(1 << 30)
            .cache_size_kib(256 * 1024)
            .open(&url)
            .expect("open mapped");
        Self {
            _dir: dir,
            conn,
            mapped,
            n,
            ids,
        }
    }
}

fn bench_size(c: &mut Criterion, fixture: &Fixture) {
    let conn = &fixture.conn;
    let n = fixture.n;
    let mut group = c.benchmark_group("scale");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));

    for (suffix, conn) in [("", conn), ("_mapped", &fixture.mapped)] {
        let mut k = 0;
        group.bench_function(BenchmarkId::new(format!("find_by_name{suffix}"), n), |b| {
            b.iter(|| {
                k += 1;
                let found = pipelines::find_by_name(conn, &name(stride(k % SAMPLE, n)));
                black_box(found.expect("find").expect("stored"))
            });
        });
        let mut k = 0;
        group.bench_function(BenchmarkId::new(format!("get{suffix}"), n), |b| {
            b.iter(|| {
                k += 1;
                let id = &fixture.ids[k % SAMPLE];
                black_box(pipelines::get(conn, id).expect("get").expect("stored"))
            });
        });
    }

    pages(&mut group, conn, n);
    let mut k = 0;
    group.bench_function(BenchmarkId::new("find_by_config", n), |b| {
        b.iter(|| {
            k += 1;
            let value = format!("/data/in/{}", stride(k % SAMPLE, n));
            let found = pipelines::find_by_config(conn, "source", &value).expect("find");
            assert_eq!(found.len(), 1);
            black_box(found)
        });
    });

    let new = aggregate(n + 1);
    group.bench_function(BenchmarkId::new("create", n), |b| {
        b.iter(|| {
            conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
            black_box(pipelines::create(conn, &new).expect("create"));
            conn.execute_batch("ROLLBACK").expect("rollback");
        });
    });

    let mut k = 0;
    group.bench_function(BenchmarkId::new("delete", n), |b| {
        b.iter(|| {
            k += 1;
            conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
            pipelines::delete(conn, &fixture.ids[k % SAMPLE]).expect("delete");
            conn.execute_batch("ROLLBACK").expect("rollback");
        });
    });

    let mut stage = pipelines::get(conn, &fixture.ids[0])
        .expect("get")
        .expect("stored")
        .stages
        .remove(1);
    let mut flip = false;
    group.bench_function(BenchmarkId::new("update_stage", n), |b| {
        b.iter(|| {
            flip = !flip;
            stage
                .parameters
                .insert("level".into(), if flip { "9" } else { "6" }.into());
            stage = stages::update(conn, &stage).expect("update");
        });
    });

    let mut k = 0;
    group.bench_function(BenchmarkId::new("archive_restore", n), |b| {
        b.iter(|| {
            k += 1;
            let id = &fixture.ids[k % SAMPLE];
            pipelines::archive(conn, id).expect("archive");
            pipelines::restore(conn, id).expect("restore");
        });
    });
    group.finish();
}

fn scale(c: &mut Criterion) {
    // The smoke run (`cargo bench -- --test`) runs each bench once: the smallest size is enough.
    let smoke = std::env::args().any(|a| a == "--test");
    let sizes: &[usize] = if smoke {
        &[1_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    for &n in sizes {
        let fixture = Fixture::build(n);
        bench_size(c, &fixture);
    }
}

criterion_group!(benches, scale);
criterion_main!(benches);

/// The tagged page as the previous release read it (no check of the copies, the cursor and tag
/// bound plainly), run by hand over the same rows: what the checked page costs against it.
fn previous_tagged_page(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    conn: &Connection,
    n: usize,
    middle: &str,
) {
    let previous = "SELECT p.id, p.name, p.archived, p.created_at, p.updated_at, \
         (SELECT count(*) FROM pipeline_stages WHERE pipeline_stages.pipeline_id = p.id) \
         FROM pipeline_tags t CROSS JOIN pipelines p ON p.id = t.pipeline_id \
         WHERE t.tag = ?2 AND t.pipeline_name > ?1 ORDER BY t.pipeline_name";
    group.bench_function(BenchmarkId::new("page_all_tagged_previous_sql", n), |b| {
        b.iter(|| {
            let mut statement = conn.prepare_cached(previous).expect("prepare");
            let mut rows = statement
                .query(pipeline_store::rusqlite::params![middle, "nightly"])
                .expect("query");
            let mut page = Vec::with_capacity(50);
            while page.len() < 50 {
                let Some(row) = rows.next().expect("row") else {
                    break;
                };
                page.push((
                    row.get::<_, String>(0).expect("id"),
                    row.get::<_, String>(1).expect("name"),
                    row.get::<_, bool>(2).expect("archived"),
                    row.get::<_, String>(3).expect("created"),
                    row.get::<_, String>(4).expect("updated"),
                    row.get::<_, i64>(5).expect("stages"),
                ));
            }
            assert!(!page.is_empty());
            black_box(page)
        });
    });
}

/// A page of 50 from the middle of the names, for each status, without and with a tag; and the
/// previous release's tagged page beside them.
fn pages(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    conn: &Connection,
    n: usize,
) {
    let middle = name(n / 2);
    for (status, query) in [
        ("active", ListQuery::active()),
        ("archived", ListQuery::archived()),
        ("all", ListQuery::all()),
    ] {
        for tagged in [false, true] {
            let mut query = query.clone().after(middle.clone()).limit(50);
            if tagged {
                query = query.tag("nightly");
            }
            let label = if tagged {
                format!("page_{status}_tagged")
            } else {
                format!("page_{status}")
            };
            group.bench_function(BenchmarkId::new(label, n), |b| {
                b.iter(|| {
                    let page = pipelines::list(conn, &query).expect("list");
                    assert!(!page.is_empty());
                    black_box(page)
                });
            });
        }
    }

    previous_tagged_page(group, conn, n, &middle);
}
