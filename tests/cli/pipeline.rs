//! `pipeline create|list|show|rename|archive|restore|delete`.

use std::process::Command;

use serde_json::Value;

use super::{BIN, both_forms, code, json, run, run_within, stderr, stdout};
use crate::common::{TempDb, TestResult, raw};

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
