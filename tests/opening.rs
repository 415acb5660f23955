//! Opening databases: URLs, create-if-missing, pragmas, in-memory lifetime, bad input.

use std::time::Duration;

use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{JournalMode, OpenOptions, Synchronous};
use pipeline_store::{Error, create_database_if_missing, database_exists, initialize_database};

use crate::common::{TempDb, TestResult, beside, raw, snapshot, tables};

fn pragma_i64(conn: &Connection, name: &str) -> TestResult<i64> {
    Ok(conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
}

fn pragma_text(conn: &Connection, name: &str) -> TestResult<String> {
    Ok(conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
}

#[test]
fn create_database_if_missing_creates_once() -> TestResult {
    let db = TempDb::new()?;
    assert!(!database_exists(&db.url())?);
    assert!(create_database_if_missing(&db.url())?, "first call creates");
    assert!(db.path.is_file());
    assert!(database_exists(&db.url())?);
    assert!(
        !create_database_if_missing(&db.url())?,
        "second call finds it"
    );
    // It is a real SQLite database in WAL mode, with no schema yet.
    let conn = raw(&db.path)?;
    assert_eq!(pragma_text(&conn, "journal_mode")?, "wal");
    assert!(tables(&conn)?.is_empty());
    Ok(())
}

#[test]
fn create_database_if_missing_has_nothing_to_do_in_memory() -> TestResult {
    assert!(!create_database_if_missing("sqlite::memory:")?);
    assert!(database_exists(":memory:")?);
    Ok(())
}

#[test]
fn initialize_file_applies_the_schema_and_is_idempotent() -> TestResult {
    let db = TempDb::new()?;
    let conn = initialize_database(&db.url())?;
    let before = snapshot(&conn)?;
    assert!(tables(&conn)?.contains(&"pipelines".to_owned()));
    drop(conn);
    let again = initialize_database(&db.url())?;
    assert_eq!(
        snapshot(&again)?,
        before,
        "a second initialize changes nothing"
    );
    let third = initialize_database(&db.url())?;
    assert_eq!(
        snapshot(&third)?,
        before,
        "nor does a second open at the same time"
    );
    Ok(())
}

#[test]
fn every_url_form_opens_the_same_file() -> TestResult {
    let db = TempDb::new()?;
    let path = db.path.display().to_string();
    initialize_database(&path)?;
    for url in [
        format!("sqlite://{path}"),
        format!("sqlite:{path}"),
        path.clone(),
    ] {
        let conn = OpenOptions::new().create_if_missing(false).open(&url)?;
        assert!(
            tables(&conn)?.contains(&"pipeline_stages".to_owned()),
            "{url}"
        );
    }
    let conn = OpenOptions::new().open(&format!("sqlite://{path}?mode=rw"))?;
    assert!(tables(&conn)?.contains(&"pipelines".to_owned()));
    Ok(())
}

#[test]
fn plain_paths_keep_question_marks_hashes_and_percents() -> TestResult {
    let db = TempDb::new()?;
    let path = db.dir.path().join("odd?name#with%41.db");
    let conn = initialize_database(path.to_str().ok_or("utf-8 path")?)?;
    assert!(tables(&conn)?.contains(&"pipelines".to_owned()));
    assert!(path.is_file(), "the file has the literal name");
    // The same file through a URL needs its reserved characters escaped.
    let encoded = format!(
        "sqlite://{}/odd%3Fname%23with%2541.db",
        db.dir.path().display()
    );
    let conn = OpenOptions::new().create_if_missing(false).open(&encoded)?;
    assert!(tables(&conn)?.contains(&"pipelines".to_owned()));
    Ok(())
}

#[test]
fn in_memory_initialize_has_the_schema() -> TestResult {
    for url in [
        "sqlite::memory:",
        ":memory:",
        "sqlite://:memory:",
        "sqlite://scratch?mode=memory",
    ] {
        let conn = initialize_database(url)?;
        let present = tables(&conn)?;
        for table in [
            "_sqlx_migrations",
            "pipelines",
            "pipeline_stages",
            "pipeline_configuration",
            "stage_parameters",
            "processing_metrics",
        ] {
            assert!(
                present.iter().any(|t| t == table),
                "{url}: {table} missing from {present:?}"
            );
        }
        let applied: i64 =
            conn.query_row("SELECT count(*) FROM _sqlx_migrations", [], |r| r.get(0))?;
        assert!(applied > 0, "{url}: migrations ran automatically");
    }
    Ok(())
}

#[test]
fn each_in_memory_connection_is_its_own_database() -> TestResult {
    let first = initialize_database("sqlite::memory:")?;
    first.execute(
        "INSERT INTO pipelines (id, name, created_at, updated_at) VALUES ('p1', 'only-here', 'now', 'now')",
        [],
    )?;
    let second = initialize_database("sqlite::memory:")?;
    let count: i64 = second.query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))?;
    assert_eq!(count, 0, "a second connection is a second database");
    let count: i64 = first.query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))?;
    assert_eq!(count, 1, "the first keeps its rows as long as it lives");
    Ok(())
}

#[test]
fn every_connection_enforces_foreign_keys_and_cascades() -> TestResult {
    let db = TempDb::new()?;
    let file = initialize_database(&db.url())?;
    let memory = initialize_database("sqlite::memory:")?;
    let read_only = OpenOptions::new().read_only(true).open(&db.url())?;
    assert_eq!(pragma_i64(&read_only, "foreign_keys")?, 1);
    for conn in [&file, &memory] {
        assert_eq!(pragma_i64(conn, "foreign_keys")?, 1);
        conn.execute_batch(
            "INSERT INTO pipelines (id, name, created_at, updated_at) VALUES ('p', 'p', 't', 't');
             INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, stage_order, algorithm, created_at, updated_at)
                 VALUES ('s', 'p', 'compress', 'compression', 0, 'zstd', 't', 't');
             INSERT INTO stage_parameters (stage_id, key, value, created_at, updated_at) VALUES ('s', 'level', '9', 't', 't');
             INSERT INTO pipeline_configuration (pipeline_id, key, value, created_at, updated_at) VALUES ('p', 'k', 'v', 't', 't');
             INSERT INTO processing_metrics (pipeline_id) VALUES ('p');",
        )?;
        let orphan = conn.execute(
            "INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, stage_order, algorithm, created_at, updated_at)
                 VALUES ('x', 'no-such-pipeline', 'n', 'checksum', 0, 'sha256', 't', 't')",
            [],
        );
        let error = Error::from(orphan.expect_err("foreign key enforced"));
        assert!(
            matches!(
                error,
                Error::Constraint {
                    kind: pipeline_store::ConstraintKind::ForeignKey,
                    ..
                }
            ),
            "{error}"
        );
        conn.execute("DELETE FROM pipelines WHERE id = 'p'", [])?;
        for table in [
            "pipeline_stages",
            "stage_parameters",
            "pipeline_configuration",
            "processing_metrics",
        ] {
            let left: i64 =
                conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            assert_eq!(left, 0, "{table} cascaded");
        }
    }
    Ok(())
}

#[test]
fn files_get_wal_normal_sync_and_a_busy_timeout() -> TestResult {
    let db = TempDb::new()?;
    let conn = initialize_database(&db.url())?;
    assert_eq!(pragma_text(&conn, "journal_mode")?, "wal");
    assert_eq!(pragma_i64(&conn, "synchronous")?, 1, "NORMAL");
    assert_eq!(pragma_i64(&conn, "busy_timeout")?, 5000);
    assert_eq!(pragma_i64(&conn, "journal_size_limit")?, 64 << 20);
    assert_eq!(
        pragma_i64(&conn, "mmap_size")?,
        0,
        "not mapped unless asked"
    );
    assert_eq!(pragma_i64(&conn, "cache_size")?, -2000, "SQLite's own");
    // Leaving WAL needs every other connection closed.
    drop(conn);

    let custom = OpenOptions::new()
        .busy_timeout(Duration::from_millis(1234))
        .journal_mode(JournalMode::Delete)
        .synchronous(Synchronous::Full)
        .mmap_size(1 << 20)
        .cache_size_kib(8192)
        .open(&db.url())?;
    assert_eq!(pragma_text(&custom, "journal_mode")?, "delete");
    assert_eq!(pragma_i64(&custom, "synchronous")?, 2, "FULL");
    assert_eq!(pragma_i64(&custom, "busy_timeout")?, 1234);
    assert_eq!(pragma_i64(&custom, "mmap_size")?, 1 << 20);
    assert_eq!(pragma_i64(&custom, "cache_size")?, -8192);
    Ok(())
}

#[test]
fn read_only_open_writes_nothing_and_reports_pending() -> TestResult {
    let db = TempDb::new()?;
    assert!(create_database_if_missing(&db.url())?);
    let bytes_before = std::fs::read(&db.path)?;
    let (conn, report) = OpenOptions::new()
        .read_only(true)
        .open_with_migrator(&db.url(), pipeline_store::schema::migrator())?;
    assert!(report.applied.is_empty());
    assert_eq!(
        report.pending.iter().map(|p| p.version).collect::<Vec<_>>(),
        pipeline_store::schema::migrator()
            .migrations()
            .iter()
            .map(pipeline_store::migrate::Migration::version)
            .collect::<Vec<_>>()
    );
    assert!(tables(&conn)?.is_empty(), "no migration applied");
    let write = conn.execute_batch("CREATE TABLE t (x)");
    assert!(matches!(
        Error::from(write.expect_err("read-only")),
        Error::ReadOnly { .. }
    ));
    drop(conn);
    assert_eq!(
        std::fs::read(&db.path)?,
        bytes_before,
        "the file is unchanged"
    );

    // mode=ro in the URL means the same.
    let (_, report) = OpenOptions::new().open_with_migrator(
        &format!("{}?mode=ro", db.url()),
        pipeline_store::schema::migrator(),
    )?;
    assert!(!report.pending.is_empty());
    assert_eq!(std::fs::read(&db.path)?, bytes_before);
    Ok(())
}

#[test]
fn read_only_open_of_a_migrated_file_reports_nothing_pending() -> TestResult {
    let db = TempDb::new()?;
    drop(initialize_database(&db.url())?);
    let (conn, report) = OpenOptions::new()
        .read_only(true)
        .open_with_migrator(&db.url(), pipeline_store::schema::migrator())?;
    assert!(report.is_up_to_date());
    let count: i64 = conn.query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))?;
    assert_eq!(count, 0);
    Ok(())
}

fn assert_refused_unchanged(contents: &[u8]) -> TestResult {
    let db = TempDb::new()?;
    std::fs::write(&db.path, contents)?;
    for result in [
        initialize_database(&db.url()).map(drop),
        OpenOptions::new().read_only(true).open(&db.url()).map(drop),
        create_database_if_missing(&db.url()).map(drop),
        database_exists(&db.url()).map(drop),
    ] {
        match result {
            Err(Error::NotADatabase { path, .. }) => assert_eq!(path, db.path),
            other => panic!("expected NotADatabase, got {other:?}"),
        }
    }
    assert_eq!(
        std::fs::read(&db.path)?,
        contents,
        "the file is byte-for-byte unchanged"
    );
    let siblings: Vec<_> = std::fs::read_dir(db.dir.path())?.collect();
    assert_eq!(
        siblings.len(),
        1,
        "no journal or WAL file was left beside it"
    );
    Ok(())
}

#[test]
fn a_file_of_random_bytes_is_refused_and_left_unchanged() -> TestResult {
    // A fixed pseudo-random sequence (xorshift), 64 KiB.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let bytes: Vec<u8> = (0..65_536)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    assert_refused_unchanged(&bytes)
}

#[test]
fn a_text_file_is_refused_and_left_unchanged() -> TestResult {
    assert_refused_unchanged(b"name,stage\nbackup,compression\n")
}

#[test]
fn a_file_with_a_sqlite_header_and_garbage_after_it_is_refused_and_left_unchanged() -> TestResult {
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5_u8, 8192));
    let db = TempDb::new()?;
    std::fs::write(&db.path, &bytes)?;
    let error = initialize_database(&db.url()).expect_err("corrupt");
    assert!(matches!(error, Error::NotADatabase { .. }), "{error}");
    assert_eq!(std::fs::read(&db.path)?, bytes);
    Ok(())
}

#[test]
fn a_directory_is_refused() -> TestResult {
    let db = TempDb::new()?;
    let error = initialize_database(db.dir.path().to_str().ok_or("utf-8")?).expect_err("dir");
    assert!(matches!(error, Error::NotADatabase { .. }), "{error}");
    assert!(error.to_string().contains("directory"), "{error}");
    Ok(())
}

#[test]
fn a_missing_parent_directory_is_named() -> TestResult {
    let db = TempDb::new()?;
    let path = db.dir.path().join("no/such/dir/pipelines.db");
    let url = format!("sqlite://{}", path.display());
    for error in [
        initialize_database(&url).expect_err("missing dir"),
        create_database_if_missing(&url).expect_err("missing dir"),
    ] {
        match &error {
            Error::DirectoryNotFound { path: p, directory } => {
                assert_eq!(p, &path);
                assert_eq!(directory, &db.dir.path().join("no/such/dir"));
            }
            other => panic!("expected DirectoryNotFound, got {other:?}"),
        }
    }
    assert!(!db.dir.path().join("no").exists(), "nothing was created");
    Ok(())
}

#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_location_is_a_clear_error() {
    // /proc refuses new files even to root, unlike a chmod-ed directory.
    let error =
        initialize_database("sqlite:///proc/pipeline-store-test.db").expect_err("unwritable");
    match &error {
        Error::Open { path, .. } | Error::Io { path, .. } => {
            assert_eq!(path, std::path::Path::new("/proc/pipeline-store-test.db"));
        }
        other => panic!("expected Open or Io naming the path, got {other:?}"),
    }
    assert!(
        error.to_string().contains("/proc/pipeline-store-test.db"),
        "{error}"
    );
}

#[test]
fn opening_a_missing_file_without_create_fails() -> TestResult {
    let db = TempDb::new()?;
    for url in [
        format!("{}?mode=ro", db.url()),
        format!("{}?mode=rw", db.url()),
    ] {
        match initialize_database(&url) {
            Err(Error::DatabaseNotFound { path, .. }) => assert_eq!(path, db.path),
            other => panic!("{url}: expected DatabaseNotFound, got {other:?}"),
        }
    }
    let error = OpenOptions::new()
        .create_if_missing(false)
        .open(&db.url())
        .expect_err("missing");
    assert!(matches!(error, Error::DatabaseNotFound { .. }), "{error}");
    assert!(!db.path.exists(), "nothing was created");
    Ok(())
}

#[test]
fn bad_urls_are_invalid_url_errors() {
    for url in [
        "",
        "  ",
        "sqlite://",
        "sqlite://x.db?mode=fast",
        "sqlite://x.db?timeout=5",
    ] {
        let error = initialize_database(url).expect_err(url);
        assert!(matches!(error, Error::InvalidUrl { .. }), "{url}: {error}");
    }
    let error = OpenOptions::new()
        .read_only(true)
        .open(":memory:")
        .expect_err("ro memory");
    assert!(matches!(error, Error::InvalidUrl { .. }), "{error}");
}

#[test]
fn eight_threads_initialize_one_fresh_file_at_once() -> TestResult {
    let db = TempDb::new()?;
    let url = db.url();
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    initialize_database(&url).map(drop)
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("no thread panicked")?;
        }
        Ok::<_, Error>(())
    })?;
    let conn = raw(&db.path)?;
    let mut statement =
        conn.prepare("SELECT version, count(*) FROM _sqlx_migrations GROUP BY version")?;
    let counts: Vec<(i64, i64)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        counts.len(),
        pipeline_store::schema::migrator().migrations().len()
    );
    assert!(counts.iter().all(|&(_, n)| n == 1), "{counts:?}");
    Ok(())
}

#[test]
fn a_refused_open_of_a_rollback_journal_database_changes_no_byte() -> TestResult {
    for tamper in [
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 20250204120000",
        "UPDATE _sqlx_migrations SET checksum = zeroblob(48) WHERE version = 20250101000000",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (29990101000000, 'from the future', TRUE, zeroblob(48), 0)",
    ] {
        let db = TempDb::new()?;
        drop(pipeline_store::initialize_database(&db.url())?);
        {
            let conn = crate::common::raw(&db.path)?;
            let mode: String = conn.query_row("PRAGMA journal_mode = delete", [], |r| r.get(0))?;
            assert_eq!(mode, "delete");
            conn.execute_batch(tamper)?;
        }
        let before = std::fs::read(&db.path)?;
        let error = pipeline_store::initialize_database(&db.url()).expect_err(tamper);
        assert!(
            matches!(error, pipeline_store::Error::Migrate(_)),
            "{error}"
        );
        assert_eq!(
            std::fs::read(&db.path)?,
            before,
            "{tamper}: the file changed"
        );
        for suffix in ["-wal", "-shm", "-journal"] {
            assert!(
                !beside(&db.path, suffix).exists(),
                "{tamper}: {suffix} left"
            );
        }
    }
    Ok(())
}

fn names(conn: &Connection) -> TestResult<Vec<String>> {
    let mut statement = conn.prepare("SELECT name FROM pipelines ORDER BY name")?;
    let names = statement
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

#[test]
fn a_clean_close_leaves_the_db_file_complete_with_or_without_kept_log_files() -> TestResult {
    use pipeline_store::model::NewPipeline;
    use pipeline_store::repo::pipelines;
    for persistent in [true, false] {
        let db = TempDb::new()?;
        {
            let conn = OpenOptions::new()
                .persistent_wal(persistent)
                .open(&db.url())?;
            // Enough to keep the commits in the log: no automatic checkpoint runs before close.
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            for i in 0..50 {
                pipelines::create(&conn, &NewPipeline::new(format!("p-{i:02}")))?;
            }
            assert!(std::fs::metadata(beside(&db.path, "-wal"))?.len() > 0);
        }
        let (wal, shm) = (beside(&db.path, "-wal"), beside(&db.path, "-shm"));
        if persistent {
            assert_eq!(std::fs::metadata(&wal)?.len(), 0, "the log is emptied");
            assert!(shm.is_file(), "the -shm file is kept");
        } else {
            assert!(!wal.exists() && !shm.exists(), "both are deleted");
        }
        // The .db file alone, copied elsewhere, holds every commit.
        let copy = TempDb::new()?;
        std::fs::copy(&db.path, &copy.path)?;
        let conn = OpenOptions::new().read_only(true).open(&copy.url())?;
        assert_eq!(names(&conn)?.len(), 50, "persistent={persistent}");
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        assert_eq!(integrity, "ok");
    }
    Ok(())
}

#[test]
fn a_database_copied_over_one_whose_log_files_were_kept_reads_as_itself() -> TestResult {
    use pipeline_store::model::NewPipeline;
    use pipeline_store::repo::pipelines;
    let make = |db: &TempDb, prefix: &str| -> TestResult {
        let conn = initialize_database(&db.url())?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        for i in 0..40 {
            pipelines::create(
                &conn,
                &NewPipeline::new(format!("{prefix}-{i:02}")).config("k", "v".repeat(500)),
            )?;
        }
        Ok(())
    };
    let (old, new) = (TempDb::new()?, TempDb::new()?);
    make(&old, "old")?;
    make(&new, "new")?;
    // A restore by hand: the other database's file copied over this one, log files left be.
    std::fs::copy(&new.path, &old.path)?;
    let conn = initialize_database(&old.url())?;
    let found = names(&conn)?;
    assert_eq!(found.len(), 40);
    assert!(found.iter().all(|n| n.starts_with("new-")), "{found:?}");
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(integrity, "ok");
    Ok(())
}
