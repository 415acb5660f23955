//! A fixed workload to count instructions with, where wall-clock time is too noisy:
//!
//! ```sh
//! cargo build --release --example instructions
//! valgrind --tool=callgrind target/release/examples/instructions warm 200     # 200 warm opens
//! valgrind --tool=callgrind target/release/examples/instructions warm200 100  # 200 extra migrations
//! valgrind --tool=callgrind target/release/examples/instructions cold 30      # 30 fresh databases
//! valgrind --tool=callgrind target/release/examples/instructions repo 500     # create, load, list
//! valgrind --tool=callgrind target/release/examples/instructions warm-host 200  # this crate's set and a host's
//! valgrind --tool=callgrind target/release/examples/instructions lookup 1000 big.db  # find_by_name
//! valgrind --tool=callgrind target/release/examples/instructions pages 1000 big.db   # pages of 50
//! valgrind --tool=callgrind target/release/examples/instructions tagged 1000 big.db  # tagged pages
//! ```
//!
//! `lookup` reads pipelines by name from a database made by `examples/fill.rs` (whose size it
//! takes from the file), a different one each time, as the `scale` bench does; `delete` deletes
//! them instead, each in a transaction that is rolled back (the file is left as it was);
//! `pages` reads pages of 50 pipelines, each status in turn, starting after a different name
//! each time, and `tagged` the same pages of pipelines tagged `nightly`.
//!
//! `raw-warm`, `raw-warm200` and `raw-cold` do the same work with hand-written rusqlite (the
//! benches' baseline: same flags and pragmas), so the two can be compared instruction for
//! instruction; `raw-persistent-warm` and `raw-persistent-warm200` add the write-ahead-log
//! settings the library adds. callgrind prints `Collected : N`, the instruction count of the whole run; the
//! cost of one open is `(N(count) - N(0)) / count`.

#[path = "../benches/support/raw.rs"]
mod raw;

use pipeline_store::schema::{self, OpenOptions};
use raw::{all_sql, raw_open, raw_warm, with_extra_migrations};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!(
            "usage: instructions [raw-|raw-persistent-]warm[200]|warm-host|[raw-]cold|repo COUNT, \
             or lookup|delete|tagged|pages COUNT DATABASE"
        );
        std::process::exit(2);
    };
    let mode = mode.as_str();
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("p.db").display().to_string();
    match mode {
        "warm"
        | "warm200"
        | "raw-warm"
        | "raw-warm200"
        | "raw-persistent-warm"
        | "raw-persistent-warm200" => {
            let m = if mode.ends_with("200") {
                with_extra_migrations(200)
            } else {
                schema::migrator().clone()
            };
            OpenOptions::new().open_with_migrator(&url, &m).unwrap();
            let path = dir.path().join("p.db");
            let raw = mode.starts_with("raw-");
            let persistent = mode.starts_with("raw-persistent-");
            for _ in 0..n {
                let count = if raw {
                    raw_warm(&path, persistent)
                } else {
                    let (conn, _) = OpenOptions::new().open_with_migrator(&url, &m).unwrap();
                    conn.query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))
                        .unwrap()
                };
                assert_eq!(count, 0);
            }
        }
        "raw-cold" => {
            let sql = all_sql();
            for i in 0..n {
                let mut conn = raw_open(&dir.path().join(format!("c{i}.db")), true);
                let tx = conn.transaction().unwrap();
                tx.execute_batch(&sql).unwrap();
                tx.commit().unwrap();
            }
        }
        "cold" => {
            for i in 0..n {
                let u = dir.path().join(format!("c{i}.db")).display().to_string();
                pipeline_store::initialize_database(&u).unwrap();
            }
        }
        "repo" => repo(&url, n),
        "warm-host" => warm_host(&url, n),
        "lookup" | "delete" | "tagged" | "pages" => {
            let Some(path) = args.get(3) else {
                eprintln!("usage: instructions lookup|delete|tagged|pages COUNT DATABASE");
                std::process::exit(2);
            };
            if mode == "tagged" || mode == "pages" {
                pages(path, n, mode == "tagged");
            } else {
                lookup(path, n, mode == "delete");
            }
        }
        other => {
            eprintln!(
                "unknown workload {other}: [raw-|raw-persistent-]warm[200], warm-host, [raw-]cold, repo, \
                 lookup, delete, tagged or pages"
            );
            std::process::exit(2);
        }
    }
}

/// Creates `n` pipelines (4 stages of 3 parameters, 2 config rows), loads each by name, and
/// lists pages of 100 `n / 10` times.
fn repo(url: &str, n: usize) {
    use pipeline_store::model::{NewPipeline, NewStage, StageType};
    use pipeline_store::repo::pipelines::{self, ListQuery};
    let conn = pipeline_store::initialize_database(url).unwrap();
    let new = |name: String| {
        (0..4).fold(
            NewPipeline::new(name).config("a", "1").config("b", "2"),
            |p, i| {
                p.stage(
                    NewStage::new(format!("s{i}"), StageType::Checksum, "sha256")
                        .parameter("x", "1")
                        .parameter("y", "2")
                        .parameter("z", "3"),
                )
            },
        )
    };
    for i in 0..n {
        pipelines::create(&conn, &new(format!("p-{i:05}"))).unwrap();
    }
    for i in 0..n {
        let p = pipelines::find_by_name(&conn, &format!("p-{i:05}"))
            .unwrap()
            .unwrap();
        assert_eq!(p.stages.len(), 4);
    }
    for _ in 0..n / 10 {
        assert!(
            !pipelines::list(&conn, &ListQuery::active().limit(100))
                .unwrap()
                .is_empty()
        );
    }
}

/// `n` lookups by name (or deletes, rolled back) in a database made by `examples/fill.rs`,
/// striding through it.
fn lookup(path: &str, n: usize, delete: bool) {
    use pipeline_store::repo::pipelines;
    let conn = OpenOptions::new().read_only(!delete).open(path).unwrap();
    let total = usize::try_from(pipelines::count(&conn, pipelines::Status::All).unwrap()).unwrap();
    for k in 0..n {
        let mut i = (k * 7919 + 13) % total;
        if i % 100 == 50 {
            i += 1;
        }
        let name = format!("pipeline-{i:06}");
        let found = pipelines::find_by_name(&conn, &name).unwrap().unwrap();
        if delete {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            pipelines::delete(&conn, &found.id).unwrap();
            conn.execute_batch("ROLLBACK").unwrap();
        }
    }
}

/// `n` pages of 50 pipelines (with `tagged`, tagged `nightly`) in a database made by
/// `examples/fill.rs`, cycling through the statuses, each starting after a different name.
fn pages(path: &str, n: usize, tagged: bool) {
    use pipeline_store::repo::pipelines::{self, ListQuery};
    let conn = OpenOptions::new().read_only(true).open(path).unwrap();
    let total = usize::try_from(pipelines::count(&conn, pipelines::Status::All).unwrap()).unwrap();
    for k in 0..n {
        let after = format!("pipeline-{:06}", (k * 7919 + 13) % (total / 2));
        let query = match k % 3 {
            0 => ListQuery::active(),
            1 => ListQuery::archived(),
            _ => ListQuery::all(),
        };
        let query = if tagged { query.tag("nightly") } else { query };
        let page = pipelines::list(&conn, &query.after(after).limit(50)).unwrap();
        assert!(!page.is_empty());
    }
}

/// `n` warm opens of a host program's database: this crate's set and a host's two migrations.
fn warm_host(url: &str, n: usize) {
    let host = pipeline_store::migrate::Migrator::new(vec![
                pipeline_store::migrate::Migration::new(
                    20_261_201_090_000,
                    "create jobs",
                    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, pipeline_id TEXT REFERENCES pipelines(id));",
                ),
                pipeline_store::migrate::Migration::new(
                    20_261_201_100_000,
                    "create job files",
                    "CREATE TABLE job_files (id INTEGER PRIMARY KEY, job_id INTEGER REFERENCES jobs(id));",
                ),
            ])
            .unwrap()
            .history_table("_host_migrations")
            .unwrap();
    OpenOptions::new().open_host(url, &host).unwrap();
    for _ in 0..n {
        let (conn, _) = OpenOptions::new().open_host(url, &host).unwrap();
        let count: i64 = conn
            .query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 0);
    }
}
