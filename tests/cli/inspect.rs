//! `migrate lint|diff|rehearse` and `--allow`: what migrations would do, before they run.

use serde_json::Value;

use super::{both_forms, code, migrations_with, run, stderr, stdout};
use crate::common::{TempDb, TestResult, raw};

#[test]
fn migrate_lint_names_file_line_and_rule_in_text_and_json() -> TestResult {
    let db = TempDb::new()?;
    let dir = db.dir.path().join("to-lint");
    crate::common::write_migrations(
        &dir,
        &[
            ("1_create.sql", "CREATE TABLE a (x);\n"),
            (
                "2_careless.sql",
                "-- rebuild\nBEGIN;\nCREATE TABLE b (x);\nCOMMIT;\n",
            ),
        ],
    )?;
    let source = dir.to_str().ok_or("utf-8")?;
    let text = run(&db, &["migrate", "lint", "--source", source]);
    assert_eq!(code(&text), Some(1), "{}", stderr(&text));
    assert!(
        stdout(&text).starts_with("2_careless.sql:2: [transaction-control]"),
        "{}",
        stdout(&text)
    );
    let listed = run(&db, &["migrate", "lint", "--source", source, "--json"]);
    assert_eq!(code(&listed), Some(1));
    let findings: Value = serde_json::from_slice(&listed.stdout)?;
    assert_eq!(findings[0]["rule"], "transaction-control");
    assert_eq!(findings[0]["line"], 2);
    assert_eq!(findings[0]["allowed"], false);
    // A foreign-keys switch is honoured: reported, not refused.
    let honoured = db.dir.path().join("honoured");
    crate::common::write_migrations(
        &honoured,
        &[(
            "1_rebuild.sql",
            "-- rebuild\nPRAGMA foreign_keys = OFF;\nCREATE TABLE b (x);\n",
        )],
    )?;
    let honoured = honoured.to_str().ok_or("utf-8")?;
    let listed = run(&db, &["migrate", "lint", "--source", honoured, "--json"]);
    assert_eq!(code(&listed), Some(0), "{}", stderr(&listed));
    let findings: Value = serde_json::from_slice(&listed.stdout)?;
    assert_eq!(findings[0]["rule"], "foreign-keys-pragma");
    assert_eq!(findings[0]["line"], 2);
    assert_eq!(findings[0]["allowed"], true);
    let clean = run(&db, &["migrate", "lint"]);
    assert_eq!(code(&clean), Some(0), "{}", stderr(&clean));
    assert!(
        stdout(&clean).starts_with("no findings"),
        "{}",
        stdout(&clean)
    );
    Ok(())
}

#[test]
fn check_and_migrate_diff_report_schema_drift() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["init"]);
    let (text, listed) = both_forms(&db, &["migrate", "diff"]);
    assert!(text.starts_with("no drift"), "{text}");
    assert_eq!(listed, serde_json::json!([]));
    raw(&db.path)?.execute_batch("CREATE INDEX by_hand ON pipelines(updated_at);")?;
    let drifted = run(&db, &["migrate", "diff"]);
    assert_eq!(code(&drifted), Some(1));
    assert_eq!(
        stdout(&drifted),
        "index by_hand: not created by the migrations\n"
    );
    let listed: Value = serde_json::from_slice(&run(&db, &["migrate", "diff", "--json"]).stdout)?;
    assert_eq!(listed[0]["kind"], "index");
    assert_eq!(listed[0]["object"], "by_hand");
    assert_eq!(listed[0]["property"], "unexpected");
    let checked = run(&db, &["check"]);
    assert_eq!(code(&checked), Some(1));
    assert!(
        stdout(&checked).contains("schema drift        PROBLEM  index by_hand"),
        "{}",
        stdout(&checked)
    );
    let report: Value = serde_json::from_slice(&run(&db, &["check", "--json"]).stdout)?;
    assert_eq!(report["ok"], false);
    assert_eq!(report["drift"][0]["object"], "by_hand");
    Ok(())
}

#[test]
fn migrate_rehearse_reports_what_an_upgrade_does_in_text_and_json() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["demo"]);
    let before = std::fs::read(&db.path)?;
    let safe = db.dir.path().join("safe");
    migrations_with(
        &safe,
        &[(
            "29990101000000_index.sql",
            "CREATE INDEX by_update ON pipelines(updated_at);\n",
        )],
    )?;
    let lossy = db.dir.path().join("lossy");
    migrations_with(
        &lossy,
        &[("29990101000000_forget.sql", "DELETE FROM pipeline_tags;\n")],
    )?;

    let text = run(
        &db,
        &[
            "migrate",
            "rehearse",
            "--source",
            safe.to_str().ok_or("utf-8")?,
        ],
    );
    assert_eq!(code(&text), Some(0), "{}", stderr(&text));
    assert!(
        stdout(&text).contains("29990101000000_index.sql"),
        "{}",
        stdout(&text)
    );
    assert!(stdout(&text).contains("nothing lost"), "{}", stdout(&text));
    // The step says what the migration does, in its own terms.
    assert!(
        stdout(&text).contains("+ index by_update"),
        "{}",
        stdout(&text)
    );

    let lost = run(
        &db,
        &[
            "migrate",
            "rehearse",
            "--source",
            lossy.to_str().ok_or("utf-8")?,
        ],
    );
    assert_eq!(code(&lost), Some(1));
    assert!(stdout(&lost).contains("LOST 3 row(s)"), "{}", stdout(&lost));
    let report: Value = serde_json::from_slice(
        &run(
            &db,
            &[
                "migrate",
                "rehearse",
                "--json",
                "--source",
                lossy.to_str().ok_or("utf-8")?,
            ],
        )
        .stdout,
    )?;
    // The documented shape.
    let keys: Vec<&str> = report
        .as_object()
        .ok_or("object")?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "copy_time_ns",
            "failure",
            "findings",
            "integrity",
            "kept",
            "ok",
            "rows_lost",
            "size_after",
            "size_before",
            "steps"
        ]
    );
    assert_eq!(report["ok"], false);
    assert_eq!(report["rows_lost"], 3);
    let step = &report["steps"][0];
    let step_keys: Vec<&str> = step
        .as_object()
        .ok_or("step")?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        step_keys,
        [
            "changes",
            "execution_time_ns",
            "file",
            "foreign_keys",
            "lost_objects",
            "rows",
            "schema",
            "version"
        ]
    );
    let tags = step["rows"]
        .as_array()
        .ok_or("rows")?
        .iter()
        .find(|r| r["table"] == "pipeline_tags")
        .ok_or("tags")?;
    assert_eq!(
        (
            tags["before"].as_u64(),
            tags["after"].as_u64(),
            tags["lost"].as_u64()
        ),
        (Some(3), Some(0), Some(3))
    );

    let keep = db.dir.path().join("kept.db");
    let keeping = [
        "migrate",
        "rehearse",
        "--source",
        safe.to_str().ok_or("utf-8")?,
        "--keep",
        keep.to_str().ok_or("utf-8")?,
    ];
    let kept = run(&db, &keeping);
    assert_eq!(code(&kept), Some(0), "{}", stderr(&kept));
    assert!(keep.is_file());
    let again = run(&db, &keeping);
    assert_eq!(
        code(&again),
        Some(2),
        "a kept copy is never overwritten: {}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(&db.path)?,
        before,
        "the database was only read"
    );
    Ok(())
}

#[test]
fn migrate_rehearse_names_a_trigger_and_an_index_a_rebuild_lost_and_exits_1() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["demo"]);
    let rebuild = db.dir.path().join("rebuild");
    let sql = format!("-- foreign-keys: off\n{}", crate::common::REBUILD_PIPELINES);
    migrations_with(&rebuild, &[("29990101000000_rebuild.sql", sql.as_str())])?;
    let source = rebuild.to_str().ok_or("utf-8")?;
    let text = run(&db, &["migrate", "rehearse", "--source", source]);
    assert_eq!(code(&text), Some(1), "{}", stdout(&text));
    let out = stdout(&text);
    assert!(
        out.contains("trigger pipelines_copy_to_tags on pipelines is gone"),
        "{out}"
    );
    assert!(
        out.contains("index idx_pipelines_archived_name on pipelines is gone"),
        "{out}"
    );
    assert!(out.contains("LOST"), "{out}");
    assert!(out.contains("+ column pipelines.owner"), "{out}");
    assert!(!out.contains("not created by the migrations"), "{out}");
    assert!(
        out.contains("NOT SAFE: 0 row(s) and 2 index(es) or trigger(s) lost"),
        "{out}"
    );
    let report: Value = serde_json::from_slice(
        &run(&db, &["migrate", "rehearse", "--json", "--source", source]).stdout,
    )?;
    assert_eq!(report["ok"], false);
    assert_eq!(report["rows_lost"], 0);
    let lost: Vec<(&str, &str)> = report["steps"][0]["lost_objects"]
        .as_array()
        .ok_or("lost_objects")?
        .iter()
        .filter_map(|o| Some((o["kind"].as_str()?, o["name"].as_str()?)))
        .collect();
    assert_eq!(
        lost,
        [
            ("index", "idx_pipelines_archived_name"),
            ("trigger", "pipelines_copy_to_tags")
        ]
    );
    let added = report["steps"][0]["changes"]
        .as_array()
        .ok_or("changes")?
        .iter()
        .find(|c| c["object"] == "pipelines.owner")
        .ok_or("owner")?;
    assert_eq!(added["change"], "+");
    assert_eq!(added["kind"], "column");
    Ok(())
}

#[test]
fn migrate_allow_lets_lint_run_and_rehearse_accept_a_finding_without_editing_the_file() -> TestResult
{
    let db = TempDb::new()?;
    let dir = db.dir.path().join("vendor");
    crate::common::write_migrations(
        &dir,
        &[
            (
                "1_parent.sql",
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n\
                 CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);\n",
            ),
            ("2_drop.sql", "DROP TABLE parent;\n"),
        ],
    )?;
    let before = std::fs::read(dir.join("2_drop.sql"))?;
    let source = dir.to_str().ok_or("utf-8")?;
    let history = ["--history-table", "vendor_history"];
    let lint = |extra: &[&str]| {
        let mut args = vec!["migrate", "lint", "--source", source];
        args.extend_from_slice(extra);
        run(&db, &args)
    };
    assert_eq!(code(&lint(&[])), Some(1));
    let allowed = lint(&["--allow", "drop-referenced-table@2"]);
    assert_eq!(code(&allowed), Some(0), "{}", stdout(&allowed));
    assert!(
        stdout(&allowed).contains("(allowed)"),
        "{}",
        stdout(&allowed)
    );
    assert_eq!(code(&lint(&["--allow", "drop-referenced-table"])), Some(0));
    // Another version, an unknown rule, a version that is not a number: refused.
    assert_eq!(
        code(&lint(&["--allow", "drop-referenced-table@1"])),
        Some(1)
    );
    let unknown = lint(&["--allow", "drop-table@2"]);
    assert_eq!(code(&unknown), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("not a lint rule"),
        "{}",
        stderr(&unknown)
    );
    let not_a_version = lint(&["--allow", "drop-referenced-table@two"]);
    assert_eq!(code(&not_a_version), Some(2), "{}", stderr(&not_a_version));
    let missing = lint(&["--allow", "drop-referenced-table@7"]);
    assert_eq!(code(&missing), Some(2), "{}", stderr(&missing));

    run(&db, &["init"]);
    let mut rehearse = vec!["migrate", "rehearse", "--source", source];
    rehearse.extend_from_slice(&history);
    rehearse.extend_from_slice(&["--allow", "drop-referenced-table@2"]);
    let rehearsed = run(&db, &rehearse);
    assert_eq!(
        code(&rehearsed),
        Some(0),
        "{}{}",
        stdout(&rehearsed),
        stderr(&rehearsed)
    );
    let mut migrate = vec!["migrate", "run", "--source", source];
    migrate.extend_from_slice(&history);
    let refused = run(&db, &migrate);
    assert_ne!(code(&refused), Some(0), "refused without the allowance");
    migrate.extend_from_slice(&["--allow", "drop-referenced-table@2"]);
    let ran = run(&db, &migrate);
    assert_eq!(code(&ran), Some(0), "{}", stderr(&ran));
    assert_eq!(
        std::fs::read(dir.join("2_drop.sql"))?,
        before,
        "the file is not edited"
    );
    Ok(())
}
