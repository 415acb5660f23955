//! Rehearsal: what an upgrade does to the data, on a copy, before it touches the database.

use std::path::Path;

use pipeline_store::migrate::{MigrateError, Migration, Migrator, ObjectKind};
use pipeline_store::model::{NewPipeline, NewStage, StageType};
use pipeline_store::repo::pipelines;
use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{self, OpenOptions};
use pipeline_store::{Error, initialize_database};

use crate::common::REBUILD_PIPELINES;
use crate::common::{TempDb, TestResult, snapshot};

/// A database with three pipelines of two stages (one parameter each).
fn seeded() -> TestResult<TempDb> {
    let db = TempDb::new()?;
    let conn = initialize_database(&db.url())?;
    for name in ["one", "two", "three"] {
        pipelines::create(
            &conn,
            &NewPipeline::new(name)
                .stage(NewStage::new("a", StageType::Checksum, "sha256").parameter("k", "v"))
                .stage(NewStage::new("b", StageType::Compression, "zstd")),
        )?;
    }
    Ok(db)
}

fn with(sql: &str) -> TestResult<Migrator> {
    let mut all = schema::migrator().migrations().to_vec();
    all.push(Migration::new(29_990_101_000_000, "change", sql.to_owned()));
    all.push(Migration::new(
        29_990_102_000_000,
        "after",
        "CREATE TABLE later (x);",
    ));
    Ok(Migrator::new(all)?)
}

/// The bytes and the schema/history snapshot of the live database, to compare after.
fn state(path: &Path) -> TestResult<(Vec<u8>, Vec<String>)> {
    Ok((std::fs::read(path)?, snapshot(&Connection::open(path)?)?))
}

#[test]
fn dropping_a_column_keeps_every_row() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let before = state(&db.path)?;
    let rehearsal = with("ALTER TABLE processing_metrics DROP COLUMN output_file_checksum;")?
        .rehearse(&conn, None)?;
    assert!(rehearsal.is_ok(), "{rehearsal:#?}");
    assert_eq!(rehearsal.rows_lost(), 0);
    assert_eq!(rehearsal.steps.len(), 2);
    let change = &rehearsal.steps[0];
    assert!(
        change.schema.iter().any(|d| d.kind == ObjectKind::Column
            && d.object == "processing_metrics.output_file_checksum"
            && d.property == "missing"),
        "{:#?}",
        change.schema
    );
    assert!(
        rehearsal.steps[1]
            .rows
            .iter()
            .any(|t| t.table == "later" && t.before.is_none() && t.after == Some(0))
    );
    assert!(rehearsal.integrity.is_empty() && rehearsal.size_before > 0);
    assert_eq!(state(&db.path)?, before, "the live database was only read");
    let leftovers: Vec<_> = std::fs::read_dir(db.dir.path())?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rehearsal"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}

#[test]
fn a_migration_that_deletes_rows_is_flagged_with_table_and_count() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let before = state(&db.path)?;
    let rehearsal = with("DELETE FROM pipeline_stages WHERE name = 'b';")?.rehearse(&conn, None)?;
    assert!(!rehearsal.is_ok());
    let losses: Vec<(String, u64)> = rehearsal.steps[0]
        .losses()
        .map(|t| (t.table.clone(), t.lost()))
        .collect();
    assert_eq!(losses, [("pipeline_stages".to_owned(), 3)]);
    assert_eq!(state(&db.path)?, before);
    Ok(())
}

#[test]
fn a_forced_rebuild_shows_the_cascade_loss_and_the_real_database_is_untouched() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let before = state(&db.path)?;
    let forced = format!("-- pipeline-store: allow drop-referenced-table\n{REBUILD_PIPELINES}");
    let rehearsal = with(&forced)?.rehearse(&conn, None)?;
    let losses: Vec<(String, u64)> = rehearsal.steps[0]
        .losses()
        .map(|t| (t.table.clone(), t.lost()))
        .collect();
    assert!(
        losses.contains(&("pipeline_stages".to_owned(), 6)),
        "{losses:?}"
    );
    assert!(
        losses.contains(&("stage_parameters".to_owned(), 3)),
        "{losses:?}"
    );
    assert!(
        rehearsal
            .findings
            .iter()
            .any(|f| f.rule == "drop-referenced-table" && f.allowed)
    );
    assert_eq!(state(&db.path)?, before);

    // Without the escape, the linter stops the rehearsal where run would stop.
    let refused = with(REBUILD_PIPELINES)?.rehearse(&conn, None)?;
    assert!(
        refused
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("linter")),
        "{refused:#?}"
    );
    assert!(!refused.is_ok());
    Ok(())
}

#[test]
fn an_application_can_refuse_an_upgrade_that_loses_rows() -> TestResult {
    let db = seeded()?;
    let before = state(&db.path)?;
    let error = OpenOptions::new()
        .rehearse_before_migrate(true)
        .open_with_migrator(&db.url(), &with("DELETE FROM pipeline_stages;")?)
        .expect_err("refused");
    let Error::RehearsalRefused { report } = &error else {
        return Err(format!("expected RehearsalRefused, got {error:?}").into());
    };
    assert_eq!(
        report.rows_lost(),
        6 + 3,
        "stages and, by cascade, their parameters"
    );
    assert!(
        error
            .to_string()
            .contains("would lose 6 row(s) of pipeline_stages"),
        "{error}"
    );
    assert_eq!(state(&db.path)?, before);

    let (_conn, applied) = OpenOptions::new()
        .rehearse_before_migrate(true)
        .open_with_migrator(
            &db.url(),
            &with("CREATE INDEX by_owner ON pipelines(updated_at);")?,
        )?;
    assert_eq!(applied.applied.len(), 2, "a safe upgrade goes through");
    Ok(())
}

#[test]
fn a_kept_copy_is_left_where_asked_and_never_overwrites() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let keep = db.dir.path().join("rehearsed.db");
    let rehearsal = with("CREATE TABLE t (x);")?.rehearse(&conn, Some(&keep))?;
    assert_eq!(rehearsal.kept.as_deref(), Some(keep.as_path()));
    let copy = Connection::open(&keep)?;
    let tables: i64 = copy.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('t', 'later')",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(tables, 2, "the copy has the rehearsed migrations");
    drop(copy);
    let before = std::fs::read(&keep)?;
    let again = with("CREATE TABLE t (x);")?.rehearse(&conn, Some(&keep));
    assert!(
        matches!(&again, Err(MigrateError::CopyTargetExists { path }) if path == &keep),
        "{again:?}"
    );
    assert!(
        matches!(again.map_err(Error::from), Err(Error::AlreadyExists { .. })),
        "the crate's error calls it AlreadyExists"
    );
    assert_eq!(std::fs::read(&keep)?, before, "the file there is untouched");
    Ok(())
}

#[test]
fn a_kept_copy_the_file_system_cannot_create_is_an_io_error_naming_it() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    // Longer than any file system's name limit (255 bytes): creating it fails, and not because
    // something is there.
    let keep = db.dir.path().join(format!("{}.db", "k".repeat(300)));
    let result = with("CREATE TABLE t (x);")?.rehearse(&conn, Some(&keep));
    assert!(
        matches!(&result, Err(MigrateError::Io { operation, path, .. })
            if *operation == "creating the rehearsed copy" && path == &keep),
        "{result:?}"
    );
    Ok(())
}

/// The copy a rehearsal runs on is made beside the database (same file system, so its size and
/// speed are the real ones) and removed after; the progress callback looks while it runs.
#[test]
fn a_rehearsal_copies_beside_the_database_and_removes_its_copy() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let dir = db.dir.path().to_path_buf();
    let scratch = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(".pipelines.db.rehearsal-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = std::sync::Arc::clone(&seen);
    let beside = dir.clone();
    let migrator = with("CREATE TABLE t (x);")?.on_progress(move |_| {
        noted.lock().expect("not poisoned").extend(scratch(&beside));
    });
    assert!(migrator.rehearse(&conn, None)?.is_ok());
    let seen = seen.lock().expect("not poisoned").clone();
    assert!(
        !seen.is_empty(),
        "no rehearsal directory beside the database"
    );
    assert!(scratch(&dir).is_empty(), "left behind: {:?}", scratch(&dir));
    Ok(())
}

#[test]
fn a_copy_into_a_missing_directory_names_it_and_leaves_nothing() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let keep = db.dir.path().join("no-such-dir").join("rehearsed.db");
    let result = with("CREATE TABLE t (x);")?.rehearse(&conn, Some(&keep));
    assert!(
        matches!(&result, Err(MigrateError::CopyDirectoryNotFound { path, directory })
            if path == &keep && directory == &db.dir.path().join("no-such-dir")),
        "{result:?}"
    );
    assert!(
        matches!(
            result.map_err(Error::from),
            Err(Error::DirectoryNotFound { .. })
        ),
        "the crate's error calls it DirectoryNotFound"
    );
    assert!(!db.dir.path().join("no-such-dir").exists());
    Ok(())
}

#[test]
fn an_in_memory_database_cannot_be_rehearsed() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let result = with("CREATE TABLE t (x);")?.rehearse(&conn, None);
    assert!(
        matches!(result, Err(MigrateError::NoFileToCopy)),
        "{result:?}"
    );
    let error = Error::from(MigrateError::NoFileToCopy);
    assert!(
        matches!(&error, Error::InvalidInput { field, reason }
            if field == "database" && reason.contains("in-memory")),
        "{error:?}"
    );
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_kept_copy_of_a_private_database_is_private() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let db = seeded()?;
    std::fs::set_permissions(&db.path, std::fs::Permissions::from_mode(0o600))?;
    let conn = initialize_database(&db.url())?;
    let keep = db.dir.path().join("rehearsed.db");
    with("CREATE TABLE t (x);")?.rehearse(&conn, Some(&keep))?;
    let mode = std::fs::metadata(&keep)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    Ok(())
}

#[test]
fn a_rehearsal_while_another_process_writes_sees_one_snapshot() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let mut writer = crate::common::child::spawn("write-forever", &db.url(), &[])?;
    let lines = crate::common::child::watch(&mut writer)?;
    crate::common::child::wait_for(&lines, |line| line == "writing")?;
    let rehearsal =
        with("CREATE INDEX by_name ON pipeline_configuration(value);")?.rehearse(&conn, None);
    writer.kill()?;
    crate::common::child::wait_bounded(&mut writer)?;
    let rehearsal = rehearsal?;
    assert!(rehearsal.is_ok(), "{rehearsal:#?}");
    let pipelines_rows = rehearsal.steps[0]
        .rows
        .iter()
        .find(|t| t.table == "pipelines")
        .ok_or("pipelines")?;
    assert_eq!(
        pipelines_rows.before, pipelines_rows.after,
        "one snapshot, unchanged by the writer"
    );
    Ok(())
}

#[test]
fn a_foreign_key_check_that_fails_on_the_copy_is_reported() -> TestResult {
    let db = seeded()?;
    // An orphan stage, written past the foreign keys: the check after each step names it.
    Connection::open(&db.path)?.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, stage_order, algorithm, created_at, updated_at)
             VALUES ('orphan', 'no-such-pipeline', 'x', 'checksum', 0, 'sha256', 't', 't');",
    )?;
    let conn = initialize_database(&db.url())?;
    let rehearsal = with("CREATE TABLE t (x);")?.rehearse(&conn, None)?;
    assert_eq!(rehearsal.rows_lost(), 0);
    assert!(!rehearsal.is_ok(), "a failed check is not ok");
    let violation = rehearsal.steps[0].foreign_keys.first().ok_or("reported")?;
    assert_eq!(
        (violation.table.as_str(), violation.parent.as_str()),
        ("pipeline_stages", "pipelines")
    );
    Ok(())
}

fn lost(rehearsal: &schema::Rehearsal) -> Vec<(ObjectKind, String, String)> {
    rehearsal
        .steps
        .iter()
        .flat_map(|s| &s.lost_objects)
        .map(|o| (o.kind, o.name.clone(), o.table.clone()))
        .collect()
}

/// Dropping one object by name excuses that one only: not the others of its kind, not another
/// kind's of that name.
#[test]
fn an_object_dropped_by_name_does_not_excuse_another_the_rebuild_lost() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let careless = format!(
        "-- foreign-keys: off\nDROP INDEX IF EXISTS idx_unrelated;\n\
         DROP TRIGGER IF EXISTS idx_pipelines_archived_name;\n{REBUILD_PIPELINES}"
    );
    let rehearsal = with(&careless)?.rehearse(&conn, None)?;
    let names: Vec<String> = lost(&rehearsal)
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    assert_eq!(
        names,
        ["idx_pipelines_archived_name", "pipelines_copy_to_tags"],
        "{rehearsal:#?}"
    );
    Ok(())
}

#[test]
fn a_rebuild_that_forgets_a_trigger_and_an_index_loses_them_by_name() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let careless = format!("-- foreign-keys: off\n{REBUILD_PIPELINES}");
    let rehearsal = with(&careless)?.rehearse(&conn, None)?;
    assert_eq!(rehearsal.rows_lost(), 0, "{rehearsal:#?}");
    assert!(!rehearsal.is_ok(), "lost objects make the rehearsal fail");
    assert_eq!(
        lost(&rehearsal),
        [
            (
                ObjectKind::Index,
                "idx_pipelines_archived_name".to_owned(),
                "pipelines".to_owned()
            ),
            (
                ObjectKind::Trigger,
                "pipelines_copy_to_tags".to_owned(),
                "pipelines".to_owned()
            ),
        ]
    );
    let message = rehearsal.steps[0].lost_objects[1].to_string();
    assert_eq!(
        message,
        "trigger pipelines_copy_to_tags on pipelines is gone though the migration does not drop \
         it: it went with its table; create it again after the rebuild, or drop it by name if \
         that is what you mean"
    );
    // The same rebuild that creates both again loses nothing.
    // Created again exactly as the migrations made them (read back, not copied).
    let again: Vec<String> = conn
        .prepare(
            "SELECT sql || ';' FROM sqlite_master \
             WHERE name IN ('pipelines_copy_to_tags', 'idx_pipelines_archived_name') ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    assert_eq!(again.len(), 2);
    let careful = format!("{careless}\n{}", again.join("\n"));
    let rehearsal = with(&careful)?.rehearse(&conn, None)?;
    assert!(rehearsal.is_ok(), "{rehearsal:#?}");
    assert!(lost(&rehearsal).is_empty());
    Ok(())
}

#[test]
fn objects_dropped_by_name_or_with_their_table_are_not_lost() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let by_name =
        with("DROP INDEX idx_pipelines_archived_name;\nDROP TRIGGER pipelines_copy_to_tags;")?
            .rehearse(&conn, None)?;
    assert!(by_name.is_ok(), "{by_name:#?}");
    let changes: Vec<String> = by_name.steps[0].changes().map(|c| c.to_string()).collect();
    assert_eq!(
        changes,
        [
            "- index idx_pipelines_archived_name",
            "- trigger pipelines_copy_to_tags"
        ]
    );
    // A table dropped with its index and trigger: they went with it, as meant.
    let mut all = schema::migrator().migrations().to_vec();
    all.push(Migration::new(
        29_990_101_000_000,
        "side",
        "CREATE TABLE side (x); CREATE INDEX side_x ON side (x); \
         CREATE TRIGGER side_t AFTER INSERT ON side BEGIN SELECT 1; END;",
    ));
    all.push(Migration::new(
        29_990_102_000_000,
        "drop side",
        "DROP TABLE side;",
    ));
    let with_table = Migrator::new(all)?.rehearse(&conn, None)?;
    assert!(with_table.is_ok(), "{with_table:#?}");
    assert!(lost(&with_table).is_empty());
    Ok(())
}

#[test]
fn a_step_says_what_the_migration_does_before_and_after() -> TestResult {
    let db = seeded()?;
    let conn = initialize_database(&db.url())?;
    let rehearsal = with(
        "ALTER TABLE pipelines ADD COLUMN owner TEXT;\n\
         DROP INDEX idx_pipelines_archived_name;\n\
         CREATE INDEX idx_pipelines_archived_name ON pipelines(name, owner) WHERE archived = true;",
    )?
    .rehearse(&conn, None)?;
    let changes: Vec<String> = rehearsal.steps[0]
        .changes()
        .map(|c| c.to_string())
        .collect();
    assert!(
        changes.contains(&"+ column pipelines.owner".to_owned()),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c == "~ index idx_pipelines_archived_name: columns pipelines(name) -> pipelines(name, owner)"),
        "{changes:?}"
    );
    let altered = rehearsal.steps[0]
        .changes()
        .find(|c| c.sign() == '~')
        .ok_or("an altered index")?;
    assert_eq!(
        (altered.before(), altered.after()),
        (Some("pipelines(name)"), Some("pipelines(name, owner)"))
    );
    Ok(())
}
