//! `check`, `backup` and `restore`: the database file as a whole.

use std::path::Path;
use std::process::Command;

use super::{BIN, code, json, run, run_in, stderr, stdout};
use crate::common::{TempDb, TestResult, raw};

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
