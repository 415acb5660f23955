//! The `pipeline-store` command, run as a user runs it, against temporary databases.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{TempDb, TestResult, raw};

const BIN: &str = env!("CARGO_BIN_EXE_pipeline-store");

/// Runs the command in `dir` with `PIPELINE_STORE_DB` unset.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("PIPELINE_STORE_DB")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    output
}

fn run(db: &TempDb, args: &[&str]) -> Output {
    let url = db.url();
    let mut all = vec!["--db", url.as_str()];
    all.extend_from_slice(args);
    run_in(db.dir.path(), &all)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("valid JSON")
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

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
fn pipelines_are_created_shown_listed_and_changed() -> TestResult {
    let db = TempDb::new()?;
    let created = run(
        &db,
        &[
            "pipeline",
            "create",
            "nightly",
            "--stage",
            "checksum:sha256",
            "--stage",
            "compression:zstd:level=19,long=true",
            "--stage",
            "Encryption:aes256gcm:key_size=256",
            "--stage",
            "checksum:sha256",
            "--config",
            "max_workers=4",
            "--tag",
            "nightly",
            "--json",
        ],
    );
    let p = json(&created);
    assert_eq!(p["stages"].as_array().ok_or("stages")?.len(), 4);
    assert_eq!(p["stages"][1]["parameters"]["long"], "true");
    assert_eq!(p["stages"][2]["stage_type"], "encryption");
    assert_eq!(p["stages"][3]["name"], "checksum-2");
    assert_eq!(p["configuration"]["max_workers"], "4");
    let id = p["id"].as_str().ok_or("id")?.to_owned();

    let by_id = json(&run(&db, &["pipeline", "show", &id, "--json"]));
    assert_eq!(by_id, p, "show by id gives what create printed");
    let shown = stdout(&run(&db, &["pipeline", "show", "nightly"]));
    assert!(
        shown.contains("level=19, long=true") && shown.contains("max_workers"),
        "{shown}"
    );

    run(
        &db,
        &[
            "pipeline",
            "create",
            "weekly",
            "--stage",
            "compression:brotli",
        ],
    );
    let listed = json(&run(&db, &["pipeline", "list", "--json"]));
    let names: Vec<&str> = listed
        .as_array()
        .ok_or("list")?
        .iter()
        .map(|s| s["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["nightly", "weekly"]);
    let tagged = json(&run(
        &db,
        &["pipeline", "list", "--tag", "nightly", "--json"],
    ));
    assert_eq!(tagged.as_array().ok_or("list")?.len(), 1);

    assert_eq!(
        code(&run(&db, &["pipeline", "rename", "weekly", "sunday"])),
        Some(0)
    );
    assert_eq!(code(&run(&db, &["pipeline", "archive", "sunday"])), Some(0));
    let archived = json(&run(&db, &["pipeline", "list", "--archived", "--json"]));
    assert_eq!(archived[0]["name"], "sunday");
    assert_eq!(archived[0]["archived"], true);
    assert_eq!(
        json(&run(&db, &["pipeline", "list", "--all", "--json"]))
            .as_array()
            .ok_or("list")?
            .len(),
        2
    );
    assert_eq!(
        json(&run(&db, &["pipeline", "restore", "sunday", "--json"]))["action"],
        "restored"
    );
    assert!(
        stdout(&run(&db, &["pipeline", "archive", "sunday"]))
            .starts_with("archived pipeline `sunday`")
    );
    assert_eq!(code(&run(&db, &["pipeline", "restore", "sunday"])), Some(0));

    let refused = run(&db, &["pipeline", "delete", "sunday"]);
    assert_eq!(code(&refused), Some(2));
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    let deleted = json(&run(
        &db,
        &["pipeline", "delete", "sunday", "--yes", "--json"],
    ));
    assert_eq!(deleted["action"], "deleted");
    let table = stdout(&run(&db, &["pipeline", "list"]));
    assert!(
        table.starts_with("NAME") && table.contains("nightly") && !table.contains("sunday"),
        "{table}"
    );
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
fn check_reports_foreign_key_violations() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["init"]);
    let conn = raw(&db.path)?;
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, stage_order, algorithm, created_at, updated_at)
             VALUES ('orphan', 'no-such-pipeline', 'x', 'checksum', 0, 'sha256', 't', 't');",
    )?;
    drop(conn);
    let checked = run(&db, &["check"]);
    assert_eq!(code(&checked), Some(1));
    assert!(
        stdout(&checked).contains("pipeline_stages row 1 points at a missing pipelines row"),
        "{}",
        stdout(&checked)
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

/// Runs the command and checks that it succeeded, in text and in JSON.
fn both_forms(db: &TempDb, args: &[&str]) -> (String, Value) {
    let text = run(db, args);
    assert_eq!(code(&text), Some(0), "{args:?}: {}", stderr(&text));
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let parsed = json(&run(db, &with_json));
    (stdout(&text), parsed)
}

#[test]
fn every_list_filter_works_in_text_and_json() -> TestResult {
    let db = TempDb::new()?;
    assert_eq!(code(&run(&db, &["demo"])), Some(0));
    assert_eq!(
        code(&run(
            &db,
            &["pipeline", "create", "old-nightly", "--tag", "nightly"]
        )),
        Some(0)
    );
    assert_eq!(
        code(&run(&db, &["pipeline", "archive", "old-nightly"])),
        Some(0)
    );
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &["fast-archive", "secure-backup"]),
        (&["--archived"], &["old-nightly"]),
        (
            &["--all"],
            &["fast-archive", "old-nightly", "secure-backup"],
        ),
        (&["--tag", "nightly"], &["secure-backup"]),
        (&["--archived", "--tag", "nightly"], &["old-nightly"]),
        (
            &["--all", "--tag", "nightly"],
            &["old-nightly", "secure-backup"],
        ),
        (&["--all", "--tag", "archive"], &["fast-archive"]),
        (&["--tag", "no-such-tag"], &[]),
    ];
    for (flags, names) in cases {
        let mut args = vec!["pipeline", "list"];
        args.extend_from_slice(flags);
        let (text, parsed) = both_forms(&db, &args);
        let listed: Vec<&str> = parsed
            .as_array()
            .ok_or("an array")?
            .iter()
            .filter_map(|row| row["name"].as_str())
            .collect();
        assert_eq!(&listed, names, "{flags:?}");
        for name in *names {
            assert!(text.contains(name), "{flags:?}: {text}");
        }
    }
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

/// This crate's migration files and `extra`, in a new directory, for `--source`.
fn migrations_with(dir: &Path, extra: &[(&str, &str)]) -> TestResult {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
    }
    crate::common::write_migrations(dir, extra)
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
    let kept = run(
        &db,
        &[
            "migrate",
            "rehearse",
            "--source",
            safe.to_str().ok_or("utf-8")?,
            "--keep",
            keep.to_str().ok_or("utf-8")?,
        ],
    );
    assert_eq!(code(&kept), Some(0), "{}", stderr(&kept));
    assert!(keep.is_file());
    let again = run(
        &db,
        &[
            "migrate",
            "rehearse",
            "--source",
            safe.to_str().ok_or("utf-8")?,
            "--keep",
            keep.to_str().ok_or("utf-8")?,
        ],
    );
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
fn backup_and_restore_copy_the_file_and_never_overwrite() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["demo"]);
    let copy = db.dir.path().join("copy.db");
    let copy_arg = copy.to_str().ok_or("utf-8")?;
    let done = json(&run(&db, &["backup", copy_arg, "--json"]));
    assert_eq!(done["to"], copy_arg);
    assert!(done["bytes"].as_u64().is_some_and(|b| b > 0));
    let again = run(&db, &["backup", copy_arg]);
    assert_eq!(code(&again), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    let restored = db.dir.path().join("restored.db");
    let restored_arg = restored.to_str().ok_or("utf-8")?;
    let text = run(&db, &["restore", copy_arg, restored_arg]);
    assert_eq!(code(&text), Some(0), "{}", stderr(&text));
    let listed = json(&run_in(
        db.dir.path(),
        &["--db", restored_arg, "pipeline", "list", "--json"],
    ));
    assert_eq!(listed.as_array().ok_or("list")?.len(), 2);
    let garbage = db.dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database")?;
    let refused = run(
        &db,
        &[
            "restore",
            garbage.to_str().ok_or("utf-8")?,
            db.dir.path().join("x.db").to_str().ok_or("utf-8")?,
        ],
    );
    assert_eq!(code(&refused), Some(4));
    assert!(!db.dir.path().join("x.db").exists());
    let help = run(&db, &["restore", "--help"]);
    assert!(
        stdout(&help).contains("litestream restore"),
        "{}",
        stdout(&help)
    );
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
fn a_list_longer_than_a_page_comes_whole_in_order_aligned_and_as_pretty_json() -> TestResult {
    use pipeline_store::model::NewPipeline;
    use pipeline_store::repo::pipelines;
    let db = TempDb::new()?;
    {
        let conn = pipeline_store::initialize_database(&db.url())?;
        conn.execute_batch("BEGIN")?;
        // Names of every width from 1 to 12 characters, so the widest comes late.
        for i in 0..1203_usize {
            let name = format!("p{}", "x".repeat(i % 12)) + &format!("-{i:04}");
            let created = pipelines::create(&conn, &NewPipeline::new(name).tag("t"))?;
            if i % 100 == 7 {
                pipelines::archive(&conn, &created.id)?;
            }
        }
        conn.execute_batch("COMMIT")?;
    }
    for flags in [&["--all"][..], &["--all", "--tag", "t"], &[]] {
        let mut args = vec!["pipeline", "list"];
        args.extend_from_slice(flags);
        let output = run(&db, &args);
        let text = stdout(&output);
        let lines: Vec<&str> = text.lines().collect();
        let expected = if flags.is_empty() { 1203 - 12 } else { 1203 };
        assert_eq!(lines.len(), expected + 1, "{flags:?}: header and every row");
        let names: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap_or_default())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "{flags:?}: by name");
        // Every row's STAGES column starts where the header's does.
        let column = lines[0].find("STAGES").ok_or("header")?;
        for line in &lines[1..] {
            let before = &line[..column];
            assert!(
                before.ends_with("  ") && !line[column..].starts_with(' '),
                "{flags:?}: misaligned {line:?}"
            );
        }
        args.insert(0, "--json");
        let output = run(&db, &args);
        let parsed = json(&output);
        let rows = parsed.as_array().ok_or("an array")?;
        assert_eq!(rows.len(), expected);
        // The bytes a pretty printer makes of the whole array, fields in their documented order.
        let mut whole = String::from("[\n");
        for (i, row) in rows.iter().enumerate() {
            let fields: Vec<String> = [
                "id",
                "name",
                "archived",
                "stage_count",
                "created_at",
                "updated_at",
            ]
            .iter()
            .map(|key| format!("    \"{key}\": {}", row[*key]))
            .collect();
            let comma = if i + 1 == rows.len() { "" } else { "," };
            whole.push_str("  {\n");
            whole.push_str(&fields.join(",\n"));
            whole.push_str("\n  }");
            whole.push_str(comma);
            whole.push('\n');
        }
        whole += "]\n";
        assert_eq!(String::from_utf8(output.stdout)?, whole, "{flags:?}");
    }
    let empty = run(&db, &["--json", "pipeline", "list", "--tag", "none"]);
    assert_eq!(stdout(&empty), "[]\n");
    Ok(())
}

#[test]
fn a_listing_whose_reader_goes_away_stops_quietly() -> TestResult {
    use pipeline_store::model::NewPipeline;
    use pipeline_store::repo::pipelines;
    use std::io::BufRead as _;
    let db = TempDb::new()?;
    {
        let conn = pipeline_store::initialize_database(&db.url())?;
        conn.execute_batch("BEGIN")?;
        // More than a pipe holds, so the command is still writing when the reader leaves.
        for i in 0..3000 {
            pipelines::create(&conn, &NewPipeline::new(format!("p-{i:05}")))?;
        }
        conn.execute_batch("COMMIT")?;
    }
    for json in [false, true] {
        let url = db.url();
        let mut args = vec!["--db", url.as_str(), "pipeline", "list"];
        if json {
            args.insert(0, "--json");
        }
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().ok_or("stdout")?).read_line(&mut first)?;
        assert!(
            first.starts_with(if json { "[" } else { "NAME" }),
            "{first}"
        );
        // The reader is dropped here: the pipe closes.
        let output = child.wait_with_output()?;
        assert_eq!(output.status.code(), Some(0), "json={json}");
        assert_eq!(stderr(&output), "", "json={json}: nothing to say");
    }
    Ok(())
}

/// Runs the command, killing it if it has not ended after `limit`: `None` then.
fn run_within(
    db: &TempDb,
    args: &[&str],
    limit: std::time::Duration,
) -> TestResult<Option<Output>> {
    use std::process::Stdio;
    let url = db.url();
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&url)
        .args(args)
        .env_remove("PIPELINE_STORE_DB")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(Some(child.wait_with_output()?))
}

#[test]
fn a_tagged_listing_over_stale_copies_ends_and_check_and_repair_derived_fix_them() -> TestResult {
    let db = TempDb::new()?;
    assert_eq!(code(&run(&db, &["init"])), Some(0));
    for name in ["alpha", "beta", "gamma"] {
        let created = run(
            &db,
            &[
                "pipeline",
                "create",
                name,
                "--stage",
                "checksum:sha256",
                "--tag",
                "nightly",
            ],
        );
        assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    }
    // A rebuild of pipelines that forgets to create the trigger again.
    raw(&db.path)?.execute_batch(
        "PRAGMA foreign_keys = OFF;
         BEGIN;
         CREATE TABLE new_pipelines (
             id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE,
             archived BOOLEAN NOT NULL DEFAULT FALSE, created_at TEXT NOT NULL,
             updated_at TEXT NOT NULL, owner TEXT);
         INSERT INTO new_pipelines (id, name, archived, created_at, updated_at)
             SELECT id, name, archived, created_at, updated_at FROM pipelines;
         DROP TABLE pipelines;
         ALTER TABLE new_pipelines RENAME TO pipelines;
         COMMIT;",
    )?;
    let archived = run(&db, &["pipeline", "archive", "beta"]);
    assert_eq!(code(&archived), Some(0), "{}", stderr(&archived));
    assert!(
        stderr(&archived).contains("pipelines_copy_to_tags is missing")
            && stderr(&archived).contains("`pipeline-store migrate repair --derived`")
            && !stderr(&archived).contains("schema::repair_derived"),
        "an open that finds the trigger missing says so: {}",
        stderr(&archived)
    );
    assert_eq!(
        code(&run(&db, &["pipeline", "rename", "gamma", "aaa-first"])),
        Some(0)
    );

    let listed = run_within(
        &db,
        &["pipeline", "list", "--tag", "nightly"],
        std::time::Duration::from_secs(30),
    )?
    .ok_or("the listing ends")?;
    assert_eq!(code(&listed), Some(0), "{}", stderr(&listed));
    let text = stdout(&listed);
    assert!(text.contains("alpha"), "{text}");
    for absent in ["beta", "gamma", "aaa-first"] {
        assert!(
            !text.contains(absent),
            "{absent} is out of step, so not listed: {text}"
        );
    }

    let checked = run(&db, &["check"]);
    assert_eq!(code(&checked), Some(1), "{}", stdout(&checked));
    let text = stdout(&checked);
    assert!(
        text.contains("derived data        PROBLEM  trigger pipelines_copy_to_tags is missing"),
        "{text}"
    );
    assert!(text.contains("2 tag rows hold a stale copy"), "{text}");
    assert!(
        text.contains("`pipeline-store migrate repair --derived`"),
        "{text}"
    );
    assert!(
        !text.contains("schema::"),
        "the command names commands: {text}"
    );
    let checked = run(&db, &["--json", "check"]);
    assert_eq!(code(&checked), Some(1));
    let report: Value = serde_json::from_slice(&checked.stdout)?;
    assert_eq!(report["ok"], false);
    assert_eq!(report["derived"][0]["kind"], "copy_trigger_missing");
    assert_eq!(report["derived"][1]["kind"], "stale_tag_copies");
    assert_eq!(report["derived"][1]["count"], 2);
    assert_eq!(report["derived"][1]["examples"][0]["name"], "aaa-first");
    assert_eq!(report["derived"][1]["examples"][0]["copied_name"], "gamma");
    assert_eq!(report["derived"][1]["examples"][1]["name"], "beta");
    assert_eq!(
        report["derived"][1]["examples"][1]["copied_archived"],
        false
    );
    assert_eq!(report["derived"][1]["examples"][1]["archived"], true);

    let nothing = run(&db, &["migrate", "repair"]);
    assert_eq!(code(&nothing), Some(2));
    assert!(
        stderr(&nothing).contains("--derived"),
        "{}",
        stderr(&nothing)
    );
    let repaired = run(&db, &["--json", "migrate", "repair", "--derived"]);
    let shown = json(&repaired);
    assert_eq!(shown["derived"]["copies_rewritten"], 2);
    assert_eq!(shown["derived"]["trigger_created"], true);
    assert_eq!(shown["forgotten"], serde_json::json!([]));
    let again = run(&db, &["migrate", "repair", "--derived"]);
    assert_eq!(
        stdout(&again),
        "tag copies rewritten: 0\ncopy trigger created: no\n"
    );
    let checked = run(&db, &["check"]);
    // The rebuild added a column the migrations do not make: drift, not derived data.
    assert!(
        stdout(&checked).contains("derived data        ok"),
        "{}",
        stdout(&checked)
    );
    let listed = run(
        &db,
        &["--json", "pipeline", "list", "--all", "--tag", "nightly"],
    );
    let names: Vec<String> = json(&listed)
        .as_array()
        .ok_or("an array")?
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["aaa-first", "alpha", "beta"]);
    let quiet = run(&db, &["pipeline", "list"]);
    assert_eq!(stderr(&quiet), "", "no warning once repaired");
    Ok(())
}

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
        assert_eq!(
            code(&out),
            Some(0),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
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
        assert_eq!(
            code(&out),
            Some(0),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
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

#[cfg(unix)]
#[test]
fn backups_and_restores_keep_the_sources_permission_bits_whatever_the_umask() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let db = TempDb::new()?;
    assert_eq!(code(&run(&db, &["init"])), Some(0));
    let mode = |path: &Path| -> TestResult<u32> {
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
    };
    let mut n = 0;
    for source_mode in [0o600_u32, 0o640] {
        std::fs::set_permissions(&db.path, std::fs::Permissions::from_mode(source_mode))?;
        for umask in ["022", "077", "000"] {
            n += 1;
            let copy = db.dir.path().join(format!("copy-{n}.db"));
            let restored = db.dir.path().join(format!("restored-{n}.db"));
            let script = format!(
                "umask {umask} && \"$0\" --db \"$1\" backup \"$2\" && \"$0\" restore \"$2\" \"$3\""
            );
            let out = Command::new("sh")
                .args(["-c", &script, BIN])
                .arg(&db.path)
                .arg(&copy)
                .arg(&restored)
                .env_remove("PIPELINE_STORE_DB")
                .output()?;
            assert!(out.status.success(), "{}", stderr(&out));
            assert_eq!(mode(&copy)?, source_mode, "backup under umask {umask}");
            assert_eq!(mode(&restored)?, source_mode, "restore under umask {umask}");
        }
    }
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_backup_that_cannot_be_created_names_the_destination_and_its_directory_and_a_taken_name_is_usage()
-> TestResult {
    let db = TempDb::new()?;
    assert_eq!(code(&run(&db, &["init"])), Some(0));
    let taken = db.dir.path().join("taken.db");
    std::fs::write(&taken, b"mine")?;
    let out = run(&db, &["backup", &taken.display().to_string()]);
    assert_eq!(
        code(&out),
        Some(2),
        "a taken name is a usage error: {}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&taken)?, b"mine");
    // A directory no file can be created in, not even by root (/proc): the message names the
    // destination and its directory, not the backup's internal file.
    if Path::new("/proc/self").is_dir() {
        let out = run(&db, &["backup", "/proc/pipeline-store-copy.db"]);
        assert_eq!(code(&out), Some(4), "{}", stderr(&out));
        let message = stderr(&out);
        assert!(!message.contains(".partial"), "{message}");
        assert!(
            message.contains("cannot create /proc/pipeline-store-copy.db in /proc"),
            "{message}"
        );
    }
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
fn migrate_rehearse_names_a_trigger_and_an_index_a_rebuild_lost_and_exits_1() -> TestResult {
    let db = TempDb::new()?;
    run(&db, &["demo"]);
    let rebuild = db.dir.path().join("rebuild");
    let sql = format!(
        "-- foreign-keys: off\n{}",
        crate::migration_features::REBUILD_PIPELINES
    );
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
