//! A host program's database: its own tables and migration set beside the built-in ones.

use super::{code, json, run, stderr, stdout, succeeded};
use crate::common::{TempDb, TestResult, raw};

#[test]
fn the_command_lists_checks_and_migrates_a_host_database_touching_only_the_set_it_is_given()
-> TestResult {
    let db = TempDb::new()?;
    let source = db.dir.path().join("host-migrations");
    std::fs::create_dir(&source)?;
    crate::common::write_migrations(
        &source,
        &[
            (
                "20261201090000_create_jobs.sql",
                "CREATE TABLE jobs (id INTEGER PRIMARY KEY, \
                 pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE);",
            ),
            (
                "20261201100000_create_notes.up.sql",
                "CREATE TABLE notes (x);",
            ),
            ("20261201100000_create_notes.down.sql", "DROP TABLE notes;"),
        ],
    )?;
    let src = source.display().to_string();
    let host = ["migrate", "--history-table", "_host_migrations"];
    let with = |args: &[&str]| -> Vec<String> {
        host.iter()
            .chain(args)
            .map(|a| (*a).to_owned())
            .chain(["--source".to_owned(), src.clone()])
            .collect()
    };
    let run_host = |args: &[&str]| {
        let all = with(args);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&db, &all)
    };
    assert_eq!(code(&run(&db, &["init"])), Some(0));
    let applied = run_host(&["run"]);
    assert_eq!(code(&applied), Some(0), "{}", stderr(&applied));
    let created = run(
        &db,
        &["pipeline", "create", "p", "--stage", "checksum:sha256"],
    );
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let conn = raw(&db.path)?;
    let library: i64 = conn.query_row("SELECT count(*) FROM _sqlx_migrations", [], |r| r.get(0))?;
    let library_rows =
        |conn: &pipeline_store::rusqlite::Connection| -> TestResult<Vec<(i64, String)>> {
            Ok(conn
            .prepare("SELECT version, hex(checksum) || installed_on FROM _sqlx_migrations ORDER BY version")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
        };
    let before = library_rows(&conn)?;

    // The command's reading commands and check, on the file as it is.
    for args in [&["pipeline", "list"][..], &["migrate", "info"], &["check"]] {
        let out = run(&db, args);
        succeeded(args, &out);
    }
    let checked = run(&db, &["check"]);
    assert!(
        stdout(&checked).contains("other sets          note     history _host_migrations of another migration set; its objects, not drift: jobs, notes"),
        "{}",
        stdout(&checked)
    );
    let shown = json(&run(&db, &["--json", "check"]));
    assert_eq!(
        shown["other_histories"],
        serde_json::json!(["_host_migrations"])
    );
    assert_eq!(shown["ok"], true);
    let info = json(&run_host(&["info", "--json"]));
    assert_eq!(info.as_array().ok_or("rows")?.len(), 2);
    assert!(
        info.as_array()
            .ok_or("rows")?
            .iter()
            .all(|r| r["state"] == "applied")
    );

    // The host's set is tried on its own on top of the library's: its migrations reference
    // pipelines.
    for args in [
        &["validate"][..],
        &["lint"],
        &["diff"],
        &["rehearse"],
        &["run", "--dry-run"],
    ] {
        let out = run_host(args);
        succeeded(args, &out);
    }
    assert!(stdout(&run_host(&["diff"])).starts_with("no drift"));

    // The library's repair does not see the host's rows; the host's revert and baseline touch
    // only the host's table.
    let forgot = json(&run(
        &db,
        &["--json", "migrate", "repair", "--forget-missing"],
    ));
    assert_eq!(forgot["forgotten"], serde_json::json!([]));
    assert!(
        forgot.get("derived").is_none(),
        "only with --derived: {forgot}"
    );
    let both = json(&run(
        &db,
        &["--json", "migrate", "repair", "--line-endings", "--derived"],
    ));
    assert_eq!(both["checksums_rewritten"], serde_json::json!([]));
    assert_eq!(both["derived"]["copies_rewritten"], 0);
    assert_eq!(both["derived"]["trigger_created"], false);
    let text = stdout(&run(
        &db,
        &["migrate", "repair", "--line-endings", "--derived"],
    ));
    assert_eq!(
        text,
        "checksums rewritten: []\nmarked applied: []\nforgotten: []\n\
         tag copies rewritten: 0\ncopy trigger created: no\n"
    );
    let reverted = run_host(&["revert"]);
    assert_eq!(code(&reverted), Some(0), "{}", stderr(&reverted));
    let host_versions: Vec<i64> = conn
        .prepare("SELECT version FROM _host_migrations ORDER BY version")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    assert_eq!(host_versions, [20_261_201_090_000]);
    let baselined = run_host(&["baseline", "20261201100000"]);
    assert_eq!(code(&baselined), Some(0), "{}", stderr(&baselined));
    assert_eq!(library_rows(&conn)?, before);
    let count: i64 = conn.query_row("SELECT count(*) FROM _sqlx_migrations", [], |r| r.get(0))?;
    assert_eq!(count, library);

    // Misuse is a usage error.
    let alone = run(
        &db,
        &["migrate", "--history-table", "_host_migrations", "info"],
    );
    assert_eq!(code(&alone), Some(2), "{}", stderr(&alone));
    assert!(stderr(&alone).contains("--source"), "{}", stderr(&alone));
    let bad = run(
        &db,
        &[
            "migrate",
            "--history-table",
            "no good",
            "info",
            "--source",
            &src,
        ],
    );
    assert_eq!(code(&bad), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("\"no good\" cannot name a history table"),
        "{}",
        stderr(&bad)
    );
    Ok(())
}
