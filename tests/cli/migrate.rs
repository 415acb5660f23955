//! `migrate run|info|add|revert|baseline|repair|validate`: the history and the files.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{BIN, code, json, run, run_in, stderr, stdout};
use crate::common::{TempDb, TestResult, raw};

#[test]
fn migrate_add_writes_a_timestamped_file_and_refuses_bad_names() -> TestResult {
    let dir = tempfile::tempdir()?;
    let added = run_in(
        dir.path(),
        &[
            "migrate",
            "add",
            "add pipeline owner",
            "--source",
            "db/migrations",
            "--json",
        ],
    );
    let file = json(&added)["file"].as_str().ok_or("file")?.to_owned();
    let name = Path::new(&file)
        .file_name()
        .ok_or("name")?
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        name.len(),
        "20250101000000_add_pipeline_owner.sql".len(),
        "{name}"
    );
    assert!(
        name[..14].bytes().all(|b| b.is_ascii_digit()) && name.ends_with("_add_pipeline_owner.sql"),
        "{name}"
    );
    let migrator = pipeline_store::migrate::Migrator::from_dir(dir.path().join("db/migrations"))?;
    assert_eq!(migrator.migrations()[0].description(), "add pipeline owner");
    for bad in ["", "   ", "drop/../etc", "semi;colon"] {
        let refused = run_in(
            dir.path(),
            &["migrate", "add", bad, "--source", "db/migrations"],
        );
        assert_eq!(code(&refused), Some(2), "{bad:?}: {}", stderr(&refused));
        assert!(
            stderr(&refused).starts_with("error: "),
            "{}",
            stderr(&refused)
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join("db/migrations"))?.count(),
        1,
        "nothing else written"
    );
    Ok(())
}

#[test]
fn check_and_migrate_name_a_modified_migration() -> TestResult {
    let db = TempDb::new()?;
    let missing = run(&db, &["check"]);
    assert_eq!(
        code(&missing),
        Some(3),
        "checking creates nothing: {}",
        stderr(&missing)
    );
    run(&db, &["init"]);
    let healthy = run(&db, &["check", "--json"]);
    assert_eq!(json(&healthy)["ok"], true);
    // The mutating commands, each in both forms on a pipeline of its own.
    for (i, json_flag) in [false, true].into_iter().enumerate() {
        let name = format!("p{i}");
        let mut commands: Vec<Vec<String>> = vec![
            vec![
                "pipeline".into(),
                "create".into(),
                name.clone(),
                "--stage".into(),
                "checksum:sha256".into(),
            ],
            vec![
                "pipeline".into(),
                "rename".into(),
                name.clone(),
                format!("{name}-renamed"),
            ],
            vec![
                "pipeline".into(),
                "archive".into(),
                format!("{name}-renamed"),
            ],
            vec![
                "pipeline".into(),
                "restore".into(),
                format!("{name}-renamed"),
            ],
            vec![
                "pipeline".into(),
                "delete".into(),
                format!("{name}-renamed"),
                "--yes".into(),
            ],
        ];
        for command in &mut commands {
            if json_flag {
                command.push("--json".into());
            }
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            let output = run(&db, &args);
            assert_eq!(code(&output), Some(0), "{args:?}: {}", stderr(&output));
            assert!(!output.stdout.is_empty(), "{args:?} printed nothing");
            if json_flag {
                let _: Value = serde_json::from_slice(&output.stdout)?;
            }
        }
    }
    raw(&db.path)?.execute(
        "UPDATE _sqlx_migrations SET checksum = zeroblob(48) WHERE version = 20250204120000",
        [],
    )?;
    let checked = run(&db, &["check"]);
    assert_eq!(code(&checked), Some(1), "{}", stdout(&checked));
    let text = stdout(&checked);
    assert!(
        text.contains("modified 20250204120000")
            && text.contains("20250204120000_add_pipeline_tags.sql"),
        "{text}"
    );
    assert!(text.contains("integrity_check     ok"), "{text}");
    let report: Value = serde_json::from_slice(&run(&db, &["check", "--json"]).stdout)?;
    assert_eq!(report["ok"], false);
    assert_eq!(report["migrations"][0]["state"], "modified");

    let migrate = run(&db, &["migrate", "run"]);
    assert_eq!(code(&migrate), Some(4));
    assert!(
        stderr(&migrate).contains(
            "migration 20250204120000 (20250204120000_add_pipeline_tags.sql) was modified"
        ),
        "{}",
        stderr(&migrate)
    );
    let listed = run(&db, &["pipeline", "list"]);
    assert_eq!(
        code(&listed),
        Some(4),
        "reads refuse an inconsistent history too"
    );
    assert!(
        stderr(&listed).contains("20250204120000"),
        "{}",
        stderr(&listed)
    );
    Ok(())
}

#[test]
fn migrate_revert_baseline_repair_and_validate() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["init"]);
    let reverted = json(&run(&db, &["migrate", "revert", "--json"]));
    assert_eq!(
        reverted["reverted"][0]["version"], 20_261_125_000_000_i64,
        "the last one, which has a down script"
    );
    let info = json(&run(&db, &["migrate", "info", "--json"]));
    assert_eq!(info[4]["state"], "pending");
    assert_eq!(info[3]["state"], "applied");
    let refused = run(&db, &["migrate", "revert", "--to", "0"]);
    assert_eq!(code(&refused), Some(4));
    assert!(
        stderr(&refused).contains("20250204120000") && stderr(&refused).contains("no down script"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(code(&run(&db, &["migrate", "run"])), Some(0));

    let nothing = run(&db, &["migrate", "repair"]);
    assert_eq!(code(&nothing), Some(2), "repair says what it needs");
    raw(&db.path)?.execute(
        "UPDATE _sqlx_migrations SET checksum = ?1 WHERE version = 20250101000000",
        [pipeline_store::migrate::checksum(
            pipeline_store::schema::migrator().migrations()[0]
                .sql()
                .replace('\n', "\r\n")
                .as_bytes(),
        )
        .to_vec()],
    )?;
    assert!(stdout(&run(&db, &["check"])).contains("differs only in line endings"));
    let repaired = json(&run(
        &db,
        &["migrate", "repair", "--line-endings", "--json"],
    ));
    assert_eq!(repaired["checksums_rewritten"][0], 20_250_101_000_000_i64);
    assert_eq!(
        json(&run(&db, &["migrate", "info", "--json"]))[0]["state"],
        "applied"
    );

    let adopted = TempDb::new()?;
    raw(&adopted.path)?.execute_batch(pipeline_store::schema::migrator().migrations()[0].sql())?;
    let baseline = json(&run(
        &adopted,
        &["migrate", "baseline", "20250101000000", "--json"],
    ));
    assert_eq!(baseline["baselined"][0], 20_250_101_000_000_i64);
    assert_eq!(
        json(&run(&adopted, &["init", "--json"]))["applied"]
            .as_array()
            .ok_or("applied")?
            .len(),
        pipeline_store::schema::migrator().migrations().len() - 1
    );

    let valid = run_in(db.dir.path(), &["migrate", "validate"]);
    assert_eq!(code(&valid), Some(0), "{}", stderr(&valid));
    let dir = db.dir.path().join("bad-migrations");
    crate::common::write_migrations(
        &dir,
        &[
            (
                "1_two_tables.up.sql",
                "CREATE TABLE a (x); CREATE TABLE b (x);",
            ),
            ("1_two_tables.down.sql", "DROP TABLE a;"),
        ],
    )?;
    let invalid = run_in(
        db.dir.path(),
        &["migrate", "validate", "--source", "bad-migrations"],
    );
    assert_eq!(code(&invalid), Some(4));
    assert!(
        stderr(&invalid).contains("1_two_tables.up.sql")
            && stderr(&invalid).contains("does not restore"),
        "{}",
        stderr(&invalid)
    );
    Ok(())
}

#[test]
fn baseline_on_a_missing_file_creates_nothing() -> TestResult {
    let db = TempDb::new()?;
    let refused = run(&db, &["migrate", "baseline", "20250101000000"]);
    assert_eq!(code(&refused), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("pipeline-store init"),
        "{}",
        stderr(&refused)
    );
    assert!(!db.path.exists(), "no database was created");
    let listed = run(&db, &["pipeline", "list"]);
    assert_eq!(code(&listed), Some(3));
    assert!(
        stderr(&listed).contains("pipeline-store init"),
        "{}",
        stderr(&listed)
    );
    assert!(
        !stderr(&listed).contains("OpenOptions"),
        "{}",
        stderr(&listed)
    );
    Ok(())
}

#[test]
fn unknown_versions_are_bad_arguments() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["init"]);
    for args in [
        &["migrate", "revert", "--to", "12345"][..],
        &["migrate", "baseline", "12345"][..],
    ] {
        let output = run(&db, args);
        assert_eq!(code(&output), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("12345"), "{}", stderr(&output));
    }
    Ok(())
}

#[test]
fn a_dirty_history_points_at_migrate_repair() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["init"]);
    raw(&db.path)?.execute(
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 20251125000000",
        [],
    )?;
    let refused = run(&db, &["migrate", "run"]);
    assert_eq!(code(&refused), Some(4));
    let message = stderr(&refused);
    assert!(
        message.contains("run `pipeline-store migrate repair --mark-applied`")
            && message.contains("run `pipeline-store migrate repair --forget-dirty`"),
        "{message}"
    );
    assert!(
        !message.contains("Migrator::") && !message.contains("DirtyRepair"),
        "the command names commands, not Rust items: {message}"
    );
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    Ok(())
}

#[test]
fn a_failing_migration_is_one_line_on_the_command_line() -> TestResult {
    let db = TempDb::new()?;
    let dir = db.dir.path().join("broken");
    crate::common::write_migrations(
        &dir,
        &[
            ("1_fine.sql", "CREATE TABLE fine (x);\n"),
            (
                "2_broken.sql",
                "-- a comment\nCREATE TABLE also_fine (x);\n\nINSERT INTO nowhere\n  VALUES (1);\nCREATE TABLE never (x);\n",
            ),
        ],
    )?;
    let output = run(
        &db,
        &[
            "migrate",
            "validate",
            "--source",
            dir.to_str().ok_or("utf-8")?,
        ],
    );
    assert_eq!(code(&output), Some(4));
    let message = stderr(&output);
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(
        message.contains("2_broken.sql")
            && message.contains("line 4")
            && message.contains("no such table: nowhere"),
        "{message}"
    );
    assert!(!message.contains("CREATE TABLE never"), "{message}");
    Ok(())
}

#[test]
fn migrate_add_warns_when_an_existing_file_is_dated_later() -> TestResult {
    let dir = tempfile::tempdir()?;
    crate::common::write_migrations(
        &dir.path().join("migrations"),
        &[("29990101000000_from_the_future.sql", "SELECT 1;\n")],
    )?;
    let added = run_in(dir.path(), &["migrate", "add", "next step"]);
    assert_eq!(code(&added), Some(0), "{}", stderr(&added));
    let warning = stderr(&added);
    assert!(
        warning.contains("older than 29990101000000_from_the_future.sql"),
        "{warning}"
    );
    let quiet_dir = tempfile::tempdir()?;
    let quiet = run_in(quiet_dir.path(), &["migrate", "add", "first step"]);
    assert_eq!(code(&quiet), Some(0));
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
    Ok(())
}

#[test]
fn revert_and_info_answer_in_json_whatever_the_history() -> TestResult {
    let db = TempDb::new()?;
    assert!(pipeline_store::create_database_if_missing(&db.url())?);
    let nothing = json(&run(&db, &["migrate", "revert", "--json"]));
    assert_eq!(nothing, serde_json::json!({ "reverted": [] }));
    assert_eq!(
        stdout(&run(&db, &["migrate", "revert"])),
        "nothing to revert\n"
    );

    run(&db, &["init"]);
    // sqlx records -1 until it knows how long a migration took.
    raw(&db.path)?.execute(
        "UPDATE _sqlx_migrations SET execution_time = -1 WHERE version = 20250101000000",
        [],
    )?;
    let info = json(&run(&db, &["migrate", "info", "--json"]));
    let rows = info.as_array().ok_or("rows")?;
    assert_eq!(rows[0]["execution_time_ns"], Value::Null);
    assert!(rows[1]["execution_time_ns"].is_u64(), "{}", rows[1]);
    let reverted = json(&run(&db, &["migrate", "revert", "--json"]));
    assert!(
        reverted["reverted"][0]["execution_time_ns"].is_u64(),
        "{reverted}"
    );
    Ok(())
}

#[test]
fn migrate_add_r_writes_a_reversible_pair() -> TestResult {
    let dir = tempfile::tempdir()?;
    let added = run_in(dir.path(), &["migrate", "add", "-r", "add owner", "--json"]);
    let shown = json(&added);
    // Paths are as given: relative to the directory the command ran in.
    let up = dir.path().join(shown["file"].as_str().ok_or("file")?);
    let down = dir.path().join(shown["down"].as_str().ok_or("down")?);
    assert!(
        up.to_string_lossy().ends_with("_add_owner.up.sql"),
        "{}",
        up.display()
    );
    assert!(
        down.to_string_lossy().ends_with("_add_owner.down.sql"),
        "{}",
        down.display()
    );
    assert_eq!(std::fs::read_to_string(&up)?, "-- add owner\n");
    assert_eq!(std::fs::read_to_string(&down)?, "-- Revert: add owner\n");
    let migrator = pipeline_store::migrate::Migrator::from_dir(dir.path().join("migrations"))?;
    assert!(
        migrator.migrations()[0].down_sql().is_some(),
        "loaded as one reversible migration"
    );
    let other = tempfile::tempdir()?;
    let plain = run_in(other.path(), &["migrate", "add", "second step"]);
    assert_eq!(code(&plain), Some(0), "{}", stderr(&plain));
    assert!(!stdout(&plain).contains(".down.sql"));
    Ok(())
}

#[test]
fn a_long_migration_shows_a_progress_line_on_a_terminal_only() -> TestResult {
    if Command::new("script").arg("--version").output().is_err() {
        // `script` (util-linux, which .ci/run installs) gives the command a terminal.
        eprintln!("skipped: no `script` to run the command on a terminal");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("m");
    crate::common::write_migrations(
        &source,
        &[(
            "1_slow.sql",
            "CREATE TABLE slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000) SELECT x FROM c;\n",
        )],
    )?;
    let on_terminal = |db: &str, quiet: bool| -> TestResult<String> {
        let command = format!(
            "{BIN} --db {db} {} migrate run --source {}",
            if quiet { "--quiet" } else { "" },
            source.display()
        );
        let output = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .output()?;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let shown = on_terminal("shown.db", false)?;
    assert!(shown.contains("applying 1_slow.sql: 1"), "{shown}");
    // Cleared when the migration ends, before the report is printed.
    let (drawn, after) = shown
        .rsplit_once("applying 1_slow.sql: ")
        .ok_or("a progress line")?;
    let report = after.find("applied 1 migration(s)").ok_or("the report")?;
    assert!(
        after[..report].contains("\r\x1b[K"),
        "the line is left on the screen: {drawn:?} {after:?}"
    );
    let quiet = on_terminal("quiet.db", true)?;
    assert!(!quiet.contains("applying"), "{quiet}");
    // Not a terminal: nothing on stderr.
    let db = TempDb::new()?;
    let piped = run(
        &db,
        &[
            "migrate",
            "run",
            "--source",
            source.to_str().ok_or("utf-8")?,
        ],
    );
    assert_eq!(code(&piped), Some(0));
    assert!(stderr(&piped).is_empty(), "{}", stderr(&piped));
    Ok(())
}

#[test]
fn migrations_added_within_one_second_each_get_their_own_version() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut versions = Vec::new();
    for (i, words) in ["first step", "second step", "third step"]
        .iter()
        .enumerate()
    {
        let args: &[&str] = if i == 1 {
            &["migrate", "add", "-r", words, "--json"]
        } else {
            &["migrate", "add", words, "--json"]
        };
        let added = json(&run_in(dir.path(), args));
        versions.push(added["version"].as_i64().ok_or("a version")?);
    }
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, versions, "distinct and in the order added");
    let migrator = pipeline_store::migrate::Migrator::from_dir(dir.path().join("migrations"))?;
    let loaded: Vec<i64> = migrator
        .migrations()
        .iter()
        .map(pipeline_store::migrate::Migration::version)
        .collect();
    assert_eq!(loaded, versions, "the loader reads all three");
    Ok(())
}

#[test]
fn every_migrate_subcommand_serves_another_projects_migrations_with_source() -> TestResult {
    let db = TempDb::new()?;
    let dir = db.dir.path().join("other-project");
    crate::common::write_migrations(
        &dir,
        &[
            (
                "1_notes.sql",
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n",
            ),
            (
                "2_index.up.sql",
                "CREATE INDEX idx_notes_body ON notes(body);\n",
            ),
            ("2_index.down.sql", "DROP INDEX idx_notes_body;\n"),
        ],
    )?;
    let source = dir.to_str().ok_or("utf-8")?;
    assert!(pipeline_store::create_database_if_missing(&db.url())?);
    let dry = json(&run(
        &db,
        &["migrate", "run", "--dry-run", "--json", "--source", source],
    ));
    assert_eq!(dry.as_array().ok_or("pending")?.len(), 2);
    let applied = json(&run(&db, &["migrate", "run", "--json", "--source", source]));
    assert_eq!(applied["applied"].as_array().ok_or("applied")?.len(), 2);
    let info = json(&run(
        &db,
        &["migrate", "info", "--json", "--source", source],
    ));
    assert!(
        info.as_array()
            .ok_or("rows")?
            .iter()
            .all(|r| r["state"] == "applied"),
        "{info}"
    );
    assert_eq!(
        code(&run(&db, &["migrate", "diff", "--source", source])),
        Some(0)
    );
    assert_eq!(
        code(&run(&db, &["migrate", "lint", "--source", source])),
        Some(0)
    );
    assert_eq!(
        code(&run(&db, &["migrate", "validate", "--source", source])),
        Some(0)
    );
    let reverted = json(&run(
        &db,
        &["migrate", "revert", "--json", "--source", source],
    ));
    assert_eq!(reverted["reverted"][0]["version"], 2);
    let baselined = json(&run(
        &db,
        &["migrate", "baseline", "2", "--json", "--source", source],
    ));
    assert_eq!(baselined["baselined"], serde_json::json!([2]));
    let repaired = json(&run(
        &db,
        &[
            "migrate",
            "repair",
            "--line-endings",
            "--json",
            "--source",
            source,
        ],
    ));
    assert_eq!(repaired["checksums_rewritten"], serde_json::json!([]));
    // Without --source the built-in set is used: these versions are unknown to it.
    let embedded = run(&db, &["migrate", "run"]);
    assert_eq!(code(&embedded), Some(4), "{}", stderr(&embedded));
    assert!(
        stderr(&embedded).contains("unknown to this build"),
        "{}",
        stderr(&embedded)
    );
    Ok(())
}
