//! Opening a database, usage errors, exit statuses and what reaches the terminal.

use std::process::Command;

use serde_json::Value;

use super::{BIN, both_forms, code, json, run, run_in, stderr, stdout};
use crate::common::{TempDb, TestResult, raw};

#[test]
fn demo_works_in_an_empty_directory_with_the_default_database() -> TestResult {
    let dir = tempfile::tempdir()?;
    let first = run_in(dir.path(), &["demo"]);
    assert_eq!(code(&first), Some(0), "{}", stderr(&first));
    let text = stdout(&first);
    for expected in [
        "secure-backup",
        "input_checksum",
        "brotli",
        "aes256gcm",
        "output_checksum",
        "max_workers",
        "throughput",
        "nightly",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(
        dir.path().join("pipeline.db").is_file(),
        "./pipeline.db by default"
    );
    let again = run_in(dir.path(), &["demo", "--json"]);
    let pipelines = json(&again);
    let pipelines = pipelines.as_array().ok_or("an array")?;
    assert_eq!(pipelines.len(), 2, "running it twice does not duplicate");
    let backup = &pipelines[0];
    assert_eq!(backup["name"], "secure-backup");
    let stages: Vec<&str> = backup["stages"]
        .as_array()
        .ok_or("stages")?
        .iter()
        .map(|s| s["algorithm"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(stages, ["sha256", "brotli", "aes256gcm", "sha256"]);
    assert_eq!(backup["stages"][1]["parameters"]["level"], "6");
    assert_eq!(backup["metrics"]["chunks_total"], 32);
    assert_eq!(backup["tags"], serde_json::json!(["nightly", "secure"]));
    Ok(())
}

#[test]
fn the_database_can_come_from_the_environment() -> TestResult {
    let db = TempDb::new()?;
    let output = Command::new(BIN)
        .args(["init", "--json"])
        .env("PIPELINE_STORE_DB", db.url())
        .output()?;
    assert_eq!(
        json(&output)["applied"].as_array().ok_or("applied")?.len(),
        pipeline_store::schema::migrator().migrations().len()
    );
    assert!(db.path.is_file());
    Ok(())
}

#[test]
fn init_and_migrate_report_what_they_did() -> TestResult {
    let db = TempDb::new()?;
    let init = run(&db, &["init"]);
    assert_eq!(code(&init), Some(0), "{}", stderr(&init));
    let embedded = pipeline_store::schema::migrator().migrations().len();
    assert!(
        stdout(&init).contains(&format!("applied {embedded} migration(s)")),
        "{}",
        stdout(&init)
    );
    assert!(stdout(&run(&db, &["init"])).contains("up to date"));

    let info = json(&run(&db, &["migrate", "info", "--json"]));
    let info = info.as_array().ok_or("rows")?;
    assert_eq!(info.len(), embedded);
    assert!(
        info.iter()
            .all(|row| row["state"] == "applied" && row["installed_on"].is_string())
    );
    let table = stdout(&run(&db, &["migrate", "info"]));
    assert!(
        table.starts_with("VERSION") && table.contains("20250101000000  applied"),
        "{table}"
    );

    let fresh = TempDb::new()?;
    assert!(pipeline_store::create_database_if_missing(&fresh.url())?);
    let dry = json(&run(&fresh, &["migrate", "run", "--dry-run", "--json"]));
    assert_eq!(dry.as_array().ok_or("pending")?.len(), embedded);
    let tables: i64 =
        raw(&fresh.path)?.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    assert_eq!(tables, 0, "a dry run applies nothing");
    let applied = json(&run(&fresh, &["migrate", "run", "--json"]));
    assert_eq!(
        applied["applied"].as_array().ok_or("applied")?.len(),
        embedded
    );
    assert!(stdout(&run(&fresh, &["migrate", "run", "--dry-run"])).contains("nothing to apply"));
    Ok(())
}

#[test]
fn bad_input_gets_one_clear_line_and_a_telling_exit_status() -> TestResult {
    let db = TempDb::new()?;
    run(
        &db,
        &["pipeline", "create", "taken", "--stage", "checksum:sha256"],
    );
    for (args, expected_code, needle) in [
        (
            vec!["pipeline", "show", "no-such-pipeline"],
            3,
            "no-such-pipeline",
        ),
        (
            vec!["pipeline", "archive", "no-such-pipeline"],
            3,
            "not found",
        ),
        (
            vec!["pipeline", "create", "x", "--stage", "compression"],
            2,
            "--stage `compression`",
        ),
        (
            vec![
                "pipeline",
                "create",
                "x",
                "--stage",
                "compression:zstd:level",
            ],
            2,
            "`level` is not key=value",
        ),
        (
            vec!["pipeline", "create", "x", "--config", "novalue"],
            2,
            "--config `novalue`",
        ),
        (vec!["pipeline", "create", "taken"], 2, "taken"),
        (vec!["pipeline", "create", "   "], 2, "invalid name"),
        (vec!["pipeline", "frobnicate"], 2, "frobnicate"),
    ] {
        let output = run(&db, &args);
        assert_eq!(
            code(&output),
            Some(expected_code),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(needle),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let missing = run_in(db.dir.path(), &["--db", "absent.db", "pipeline", "list"]);
    assert_eq!(code(&missing), Some(3), "{}", stderr(&missing));
    assert!(
        !db.dir.path().join("absent.db").exists(),
        "reading does not create a database"
    );
    Ok(())
}

#[test]
fn a_garbage_database_file_is_refused_and_left_unchanged() -> TestResult {
    let db = TempDb::new()?;
    let garbage: Vec<u8> = (0..4096_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
        .collect();
    std::fs::write(&db.path, &garbage)?;
    for args in [
        vec!["pipeline", "list"],
        vec!["init"],
        vec!["check"],
        vec!["migrate", "run"],
        vec!["pipeline", "create", "x"],
    ] {
        let output = run(&db, &args);
        assert_eq!(code(&output), Some(4), "{args:?}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(
            message.contains("is not a SQLite database") && message.lines().count() == 1,
            "{message}"
        );
    }
    assert_eq!(std::fs::read(&db.path)?, garbage, "byte for byte unchanged");
    Ok(())
}

#[test]
fn a_read_only_database_reads_but_refuses_writes() -> TestResult {
    let db = TempDb::new()?;
    run(
        &db,
        &["pipeline", "create", "kept", "--stage", "checksum:sha256"],
    );
    let read_only = format!("{}?mode=ro", db.url());
    let ro = |args: &[&str]| {
        let mut all = vec!["--db", read_only.as_str()];
        all.extend_from_slice(args);
        run_in(db.dir.path(), &all)
    };
    let listed = json(&ro(&["pipeline", "list", "--json"]));
    assert_eq!(listed[0]["name"], "kept");
    assert_eq!(code(&ro(&["pipeline", "show", "kept"])), Some(0));
    assert_eq!(code(&ro(&["check"])), Some(0));
    for args in [
        vec!["pipeline", "create", "new", "--stage", "checksum:sha256"],
        vec!["pipeline", "archive", "kept"],
    ] {
        let output = ro(&args);
        assert_eq!(code(&output), Some(4), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("read-only"), "{}", stderr(&output));
    }
    let after = json(&run(&db, &["pipeline", "show", "kept", "--json"]));
    assert_eq!(after["archived"], false, "nothing was written");
    Ok(())
}

#[test]
fn every_command_answers_in_text_and_in_json() -> TestResult {
    let db = TempDb::new()?;
    let (_, demo) = both_forms(&db, &["demo"]);
    assert!(demo.as_array().is_some_and(|a| a.len() == 2));
    let (text, init) = both_forms(&db, &["init"]);
    assert!(text.contains("up to date"), "{text}");
    assert!(init["applied"].as_array().is_some_and(Vec::is_empty));
    let (_, info) = both_forms(&db, &["migrate", "info"]);
    let (_, checked) = both_forms(&db, &["check"]);
    assert_eq!(checked["ok"], true);
    let (_, dry) = both_forms(&db, &["migrate", "run", "--dry-run"]);
    assert!(dry.as_array().is_some_and(Vec::is_empty));
    let (_, ran) = both_forms(&db, &["migrate", "run"]);
    assert!(ran["applied"].as_array().is_some_and(Vec::is_empty));
    let (_, valid) = both_forms(&db, &["migrate", "validate"]);
    assert!(
        valid["reversible"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let (_, shown) = both_forms(&db, &["pipeline", "show", "secure-backup"]);
    assert_eq!(shown["name"], "secure-backup");

    // JSON timestamps are RFC 3339 UTC, the history's install time included.
    let rfc3339 = |value: &Value| {
        value
            .as_str()
            .is_some_and(|t| pipeline_store::model::Timestamp::parse(t).is_ok() && t.ends_with('Z'))
    };
    for row in info.as_array().ok_or("rows")? {
        assert!(rfc3339(&row["installed_on"]), "{row}");
    }
    assert!(rfc3339(&shown["created_at"]) && rfc3339(&shown["updated_at"]));
    raw(&db.path)?.execute(
        "UPDATE _sqlx_migrations SET checksum = zeroblob(48) WHERE version = 20250204120000",
        [],
    )?;
    let modified = run(&db, &["check", "--json"]);
    assert_eq!(code(&modified), Some(1));
    let report: Value = serde_json::from_slice(&modified.stdout)?;
    let problems = report["migrations"].as_array().ok_or("migrations")?;
    assert_eq!(problems.len(), 1);
    assert!(rfc3339(&problems[0]["installed_on"]), "{report}");

    Ok(())
}

#[test]
fn completions_are_printed_for_every_shell() -> TestResult {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let dir = tempfile::tempdir()?;
        let output = run_in(dir.path(), &["completions", shell]);
        assert_eq!(code(&output), Some(0), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(
            script.contains("pipeline-store") && script.contains("rehearse"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir()?;
    assert_eq!(code(&run_in(dir.path(), &["completions", "tcsh"])), Some(2));
    Ok(())
}

#[test]
fn user_text_in_an_error_reaches_the_terminal_escaped_and_an_overlong_name_is_refused_first()
-> TestResult {
    let db = TempDb::new()?;
    let dir = db.dir.path().join("m");
    let src = dir.display().to_string();
    let out = run(
        &db,
        &["migrate", "add", "a\x1b[31mRED\x07", "--source", &src],
    );
    assert_eq!(code(&out), Some(2));
    let message = stderr(&out);
    assert!(
        !message.contains('\x1b') && !message.contains('\x07'),
        "{message:?}"
    );
    assert!(message.contains("a\\e[31mRED\\u{7}"), "{message}");
    assert!(
        message.ends_with('\n') && message.matches('\n').count() == 1,
        "one line: {message:?}"
    );
    let long = "d".repeat(5_000);
    let out = run(&db, &["migrate", "add", &long, "--source", &src]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("5000 characters long"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("too long"),
        "the file system never saw it"
    );
    assert!(
        !dir.exists() || std::fs::read_dir(&dir)?.next().is_none(),
        "nothing written"
    );
    let ok = run(&db, &["migrate", "add", &"e".repeat(200), "--source", &src]);
    assert_eq!(code(&ok), Some(0), "{}", stderr(&ok));
    assert_eq!(code(&run(&db, &["init"])), Some(0));
    let newline = run(&db, &["pipeline", "show", "two\nlines"]);
    assert!(
        stderr(&newline).contains("two\\nlines"),
        "{}",
        stderr(&newline)
    );
    Ok(())
}

#[test]
fn a_damaged_file_gets_command_advice_and_check_does_not_advise_itself() -> TestResult {
    let db = TempDb::new()?;
    assert_eq!(code(&run(&db, &["init"])), Some(0));
    raw(&db.path)?.execute_batch(
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = 'CREATE TABLE pipelines (' WHERE name = 'pipelines';",
    )?;
    let listed = run(&db, &["pipeline", "list"]);
    assert_eq!(code(&listed), Some(4));
    let message = stderr(&listed);
    assert!(
        message.contains("is damaged")
            && message.contains("restore the database from a backup")
            && message.contains("`pipeline-store check` lists what is wrong"),
        "{message}"
    );
    assert!(!message.contains("schema::"), "{message}");
    let checked = run(&db, &["check"]);
    assert_eq!(code(&checked), Some(4));
    let message = stderr(&checked);
    assert!(
        message.contains("is damaged") && message.contains("restore the database from a backup"),
        "{message}"
    );
    assert!(
        !message.contains("pipeline-store check"),
        "check does not advise running check: {message}"
    );
    assert!(!message.contains("schema::"), "{message}");
    Ok(())
}

#[test]
fn another_databases_url_is_a_usage_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    for url in ["postgres://user@host/db", "mysql://host/db"] {
        let refused = run_in(dir.path(), &["--db", url, "pipeline", "list"]);
        assert_eq!(code(&refused), Some(2), "{url}: {}", stderr(&refused));
        assert!(
            stderr(&refused).contains("is not a SQLite URL"),
            "{}",
            stderr(&refused)
        );
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0, "nothing created");
    }
    Ok(())
}

#[test]
fn a_reading_command_on_an_in_memory_url_says_there_is_nothing_to_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    for url in [":memory:", "sqlite::memory:"] {
        for args in [&["pipeline", "list"][..], &["migrate", "info"], &["check"]] {
            let mut all = vec!["--db", url];
            all.extend_from_slice(args);
            let refused = run_in(dir.path(), &all);
            assert_eq!(code(&refused), Some(2), "{all:?}: {}", stderr(&refused));
            let message = stderr(&refused);
            assert!(
                message.contains("starts empty at every open") && message.contains("database file"),
                "{all:?}: {message}"
            );
        }
    }
    Ok(())
}

#[test]
fn a_name_an_archived_pipeline_holds_is_refused_with_the_commands_that_free_it() -> TestResult {
    let db = TempDb::new()?;
    let create = ["pipeline", "create", "sunday", "--stage", "checksum:sha256"];
    assert_eq!(code(&run(&db, &create)), Some(0));
    assert_eq!(code(&run(&db, &["pipeline", "archive", "sunday"])), Some(0));
    let taken = run(&db, &create);
    assert_eq!(code(&taken), Some(2), "{}", stderr(&taken));
    let said = stderr(&taken);
    assert!(
        said.contains("`pipeline-store pipeline delete`")
            && said.contains("`pipeline-store pipeline rename`"),
        "{said}"
    );
    assert!(!said.contains("pipelines::"), "no Rust function: {said}");
    Ok(())
}
