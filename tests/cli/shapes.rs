//! The bytes of every documented `--json` shape, pinned: each command's output is compared with
//! `tests/cli/shapes/<name>.json`, after the values that differ from run to run (ids, times,
//! sizes, the temporary directory) are replaced by placeholders of the same JSON type. A field
//! renamed, reordered, added, dropped or changed in type fails here.
//!
//! `PIPELINE_STORE_WRITE_SHAPES=1 cargo test --all-features shapes` writes the files anew after
//! a deliberate change to a documented shape (review the diff, and the README's JSON section).

use std::path::Path;

use super::{code, run, stderr};
use crate::common::{TempDb, TestResult, raw, write_migrations};

/// Fields whose values change from run to run, whatever the command.
const VOLATILE: &[&str] = &[
    "id",
    "pipeline_id",
    "created_at",
    "updated_at",
    "installed_on",
    "execution_time_ns",
    "copy_time_ns",
    "size_before",
    "size_after",
    "bytes",
    "start_time",
    "end_time",
];

/// The output with the temporary directory as `<dir>` and each volatile scalar (`VOLATILE` and
/// `also`) as `"…"` or `0`; `null`, arrays and objects are kept, since they are shape.
fn normalized(output: &str, dir: &Path, also: &[&str]) -> String {
    let text = without_ids(&output.replace(&dir.display().to_string(), "<dir>"));
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let replaced = trimmed
            .strip_prefix('"')
            .and_then(|rest| rest.split_once("\": "))
            .filter(|(key, _)| VOLATILE.contains(key) || also.contains(key))
            .and_then(|(key, value)| {
                let (value, comma) = value
                    .strip_suffix(',')
                    .map_or((value, ""), |bare| (bare, ","));
                let placeholder = match value.as_bytes().first() {
                    Some(b'"') => "\"…\"",
                    Some(b'0'..=b'9' | b'-') => "0",
                    _ => return None,
                };
                Some(format!("{indent}\"{key}\": {placeholder}{comma}"))
            });
        out.push_str(&replaced.unwrap_or_else(|| line.to_owned()));
        out.push('\n');
    }
    out
}

/// `text` with every UUID in it (ids quoted in messages) as `<id>`.
fn without_ids(text: &str) -> String {
    const SHAPE: &[u8] = b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < bytes.len() {
        let is_id = bytes.len() - at >= SHAPE.len()
            && bytes[at..at + SHAPE.len()].iter().zip(SHAPE).all(|(b, s)| {
                if *s == b'-' {
                    *b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            });
        if is_id {
            out.push_str("<id>");
            at += SHAPE.len();
        } else {
            let c = text[at..].chars().next().unwrap_or_default();
            out.push(c);
            at += c.len_utf8();
        }
    }
    out
}

/// Compares a command's JSON (exit status `status`) with its pinned file, or writes the file.
fn pinned(db: &TempDb, name: &str, args: &[&str], status: i32, also: &[&str]) -> TestResult {
    let output = run(db, args);
    assert_eq!(code(&output), Some(status), "{args:?}: {}", stderr(&output));
    let shown = normalized(
        &String::from_utf8(output.stdout.clone())?,
        db.dir.path(),
        also,
    );
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/shapes")
        .join(format!("{name}.json"));
    if std::env::var_os("PIPELINE_STORE_WRITE_SHAPES").is_some() {
        std::fs::create_dir_all(file.parent().ok_or("a parent")?)?;
        std::fs::write(&file, &shown)?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "{}: {e} (write it with PIPELINE_STORE_WRITE_SHAPES=1)",
            file.display()
        )
    })?;
    assert!(
        shown == expected,
        "{args:?} no longer prints the shape pinned in {}:\n--- pinned\n{expected}\n--- now\n{shown}",
        file.display()
    );
    Ok(())
}

#[test]
fn the_pipeline_commands_print_their_documented_json_bytes() -> TestResult {
    let db = TempDb::new()?;
    pinned(&db, "init", &["init", "--json"], 0, &[])?;
    pinned(&db, "demo", &["demo", "--json"], 0, &[])?;
    pinned(
        &db,
        "pipeline-create",
        &[
            "pipeline",
            "create",
            "p1",
            "--stage",
            "compression:zstd:level=9",
            "--stage",
            "custom:ocr:tesseract",
            "--config",
            "owner=ops",
            "--tag",
            "nightly",
            "--json",
        ],
        0,
        &[],
    )?;
    pinned(
        &db,
        "pipeline-show",
        &["pipeline", "show", "p1", "--json"],
        0,
        &[],
    )?;
    pinned(
        &db,
        "pipeline-archive",
        &["pipeline", "archive", "p1", "--json"],
        0,
        &[],
    )?;
    pinned(
        &db,
        "pipeline-list-all",
        &["pipeline", "list", "--all", "--json"],
        0,
        &[],
    )?;
    pinned(
        &db,
        "pipeline-restore",
        &["pipeline", "restore", "p1", "--json"],
        0,
        &[],
    )?;
    pinned(
        &db,
        "pipeline-rename",
        &["pipeline", "rename", "p1", "p2", "--json"],
        0,
        &[],
    )?;
    pinned(
        &db,
        "pipeline-list-tag",
        &["pipeline", "list", "--tag", "nightly", "--json"],
        0,
        &[],
    )?;
    pinned(
        &db,
        "pipeline-delete",
        &["pipeline", "delete", "p2", "--yes", "--json"],
        0,
        &[],
    )?;
    let dest = db.dir.path().join("copy.db");
    let dest = dest.to_str().ok_or("utf-8")?;
    pinned(&db, "backup", &["backup", dest, "--json"], 0, &[])?;
    let restored = db.dir.path().join("restored.db");
    pinned(
        &db,
        "restore",
        &["restore", dest, restored.to_str().ok_or("utf-8")?, "--json"],
        0,
        &[],
    )?;
    Ok(())
}

#[test]
fn the_migrate_commands_print_their_documented_json_bytes() -> TestResult {
    let db = TempDb::new()?;
    let dir = db.dir.path().join("set");
    write_migrations(
        &dir,
        &[
            ("1_create.up.sql", "CREATE TABLE a (x INTEGER);\n"),
            ("1_create.down.sql", "DROP TABLE a;\n"),
            ("2_fill.up.sql", "INSERT INTO a (x) VALUES (1), (2), (3);\n"),
            ("2_fill.down.sql", "DELETE FROM a;\n"),
        ],
    )?;
    let set = dir.to_str().ok_or("utf-8")?;
    // A database file of another project's: empty until its migrations run.
    std::fs::write(&db.path, b"")?;
    let call = |db: &TempDb, name: &str, rest: &[&str], status: i32| -> TestResult {
        let mut args = vec!["migrate"];
        args.extend_from_slice(rest);
        args.extend(["--source", set, "--json"]);
        pinned(db, name, &args, status, &[])
    };
    call(&db, "migrate-validate", &["validate"], 0)?;
    call(&db, "migrate-run-dry", &["run", "--dry-run"], 0)?;
    call(&db, "migrate-run", &["run"], 0)?;
    call(&db, "migrate-info", &["info"], 0)?;
    call(&db, "migrate-revert", &["revert", "--to", "1"], 0)?;
    call(&db, "migrate-revert-nothing", &["revert", "--to", "1"], 0)?;
    // A pending step that loses rows and makes a table and an index.
    write_migrations(
        &dir,
        &[(
            "3_trim.sql",
            "DELETE FROM a WHERE x > 1;\nCREATE TABLE b (y TEXT);\nCREATE INDEX b_y ON b(y);\n",
        )],
    )?;
    call(&db, "migrate-rehearse", &["rehearse"], 1)?;
    call(&db, "migrate-repair", &["repair", "--forget-missing"], 0)?;
    // Drift: an index made by hand.
    raw(&db.path)?.execute_batch("CREATE INDEX by_hand ON a(x);")?;
    call(&db, "migrate-diff", &["diff"], 1)?;
    let fresh = TempDb::new()?;
    std::fs::write(&fresh.path, b"")?;
    call(&fresh, "migrate-info-pending", &["info"], 0)?;
    call(&fresh, "migrate-baseline", &["baseline", "2"], 0)?;

    // Lint: one finding the file allows, one it does not.
    let linted = db.dir.path().join("linted");
    write_migrations(
        &linted,
        &[
            (
                "1_rebuild.sql",
                "-- rebuild\nPRAGMA foreign_keys = OFF;\nCREATE TABLE c (x);\n",
            ),
            (
                "2_careless.sql",
                "-- careless\nBEGIN;\nCREATE TABLE d (x);\nCOMMIT;\n",
            ),
        ],
    )?;
    let linted = linted.to_str().ok_or("utf-8")?;
    pinned(
        &db,
        "migrate-lint",
        &["migrate", "lint", "--source", linted, "--json"],
        1,
        &[],
    )?;

    // The built-in set: repair with derived data, on a database whose tag copies went stale.
    let built_in = TempDb::new()?;
    pinned(&built_in, "init-built-in", &["init", "--json"], 0, &[])?;
    assert_eq!(
        code(&run(
            &built_in,
            &[
                "pipeline",
                "create",
                "t",
                "--stage",
                "checksum:sha256",
                "--tag",
                "x"
            ]
        )),
        Some(0)
    );
    // A rehearsal that keeps its copy, loses a trigger and changes an index.
    let rebuild = built_in.dir.path().join("rebuild");
    let sql = format!(
        "-- foreign-keys: off\n{}\
         CREATE INDEX idx_pipelines_archived_name ON pipelines(archived);\n",
        crate::common::REBUILD_PIPELINES
    );
    super::migrations_with(&rebuild, &[("29990101000000_rebuild.sql", sql.as_str())])?;
    let kept = built_in.dir.path().join("kept.db");
    pinned(
        &built_in,
        "migrate-rehearse-rebuild",
        &[
            "migrate",
            "rehearse",
            "--source",
            rebuild.to_str().ok_or("utf-8")?,
            "--keep",
            kept.to_str().ok_or("utf-8")?,
            "--json",
        ],
        1,
        &[],
    )?;
    raw(&built_in.path)?.execute_batch(
        "DROP TRIGGER pipelines_copy_to_tags;
         UPDATE pipelines SET name = 'renamed';
         PRAGMA foreign_keys = OFF;
         INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, stage_order, algorithm,
             created_at, updated_at)
             VALUES ('orphan', 'no-such-pipeline', 'x', 'checksum', 0, 'sha256', 't', 't');
         CREATE TABLE host_notes (note TEXT);",
    )?;
    pinned(&built_in, "check", &["check", "--json"], 1, &[])?;
    pinned(
        &built_in,
        "migrate-repair-derived",
        &["migrate", "repair", "--derived", "--json"],
        0,
        &[],
    )?;
    let added = built_in.dir.path().join("added");
    let added = added.to_str().ok_or("utf-8")?;
    pinned(
        &built_in,
        "migrate-add",
        &["migrate", "add", "first step", "--source", added, "--json"],
        0,
        &["file", "version"],
    )?;
    pinned(
        &built_in,
        "migrate-add-reversible",
        &[
            "migrate",
            "add",
            "second step",
            "-r",
            "--source",
            added,
            "--json",
        ],
        0,
        &["file", "down", "version"],
    )?;
    Ok(())
}
