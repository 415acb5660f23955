//! A fixed workload to count instructions with, where wall-clock time is too noisy:
//!
//! ```sh
//! cargo build --release --example instructions
//! valgrind --tool=callgrind target/release/examples/instructions warm 200     # 200 warm opens
//! valgrind --tool=callgrind target/release/examples/instructions warm200 100  # 200 extra migrations
//! valgrind --tool=callgrind target/release/examples/instructions cold 30      # 30 fresh databases
//! valgrind --tool=callgrind target/release/examples/instructions repo 500     # create, load, list
//! ```
//!
//! callgrind prints `Collected : N`, the instruction count of the whole run.

use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::schema::{self, OpenOptions};

fn with_extra(extra: i64) -> Migrator {
    let mut migrations = schema::migrator().migrations().to_vec();
    let last = 20_260_000_000_000;
    for i in 1..=extra {
        migrations.push(Migration::new(
            last + i,
            format!("create extra {i}"),
            format!("CREATE TABLE extra_{i} (id INTEGER PRIMARY KEY, value TEXT NOT NULL);"),
        ));
    }
    Migrator::new(migrations).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: instructions warm|warm200|cold|repo COUNT");
        std::process::exit(2);
    };
    let mode = mode.as_str();
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("p.db").display().to_string();
    match mode {
        "warm" | "warm200" => {
            let m = if mode == "warm" {
                schema::migrator().clone()
            } else {
                with_extra(200)
            };
            OpenOptions::new().open_with_migrator(&url, &m).unwrap();
            for _ in 0..n {
                let (conn, _) = OpenOptions::new().open_with_migrator(&url, &m).unwrap();
                let c: i64 = conn
                    .query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(c, 0);
            }
        }
        "cold" => {
            for i in 0..n {
                let u = dir.path().join(format!("c{i}.db")).display().to_string();
                pipeline_store::initialize_database(&u).unwrap();
            }
        }
        "repo" => {
            use pipeline_store::model::{NewPipeline, NewStage, StageType};
            use pipeline_store::repo::pipelines::{self, ListQuery};
            let conn = pipeline_store::initialize_database(&url).unwrap();
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
        other => {
            eprintln!("unknown workload {other}: warm, warm200, cold or repo");
            std::process::exit(2);
        }
    }
}
