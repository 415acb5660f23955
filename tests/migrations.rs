//! The migration runner: sqlx compatibility, refusals, failures, runtime sets, status.

use pipeline_store::migrate::{self, Migration, MigrationState, Migrator};
use pipeline_store::rusqlite::{Connection, params};
use pipeline_store::schema::{self, OpenOptions};
use pipeline_store::{Error, MigrateError, initialize_database};

use crate::common::{TempDb, TestResult, raw, snapshot, tables, write_migrations};

/// SHA-384 of `migrations/20250101000000_initial_schema.sql`, computed outside this crate
/// (`sha384sum migrations/20250101000000_initial_schema.sql`).
const INITIAL_SCHEMA_SHA384: &str = "39835ceee0c2aaf814e7e0bbb039e9bb0a9658cd743a55435679a4cdc776d4922edea37dc98852c3389b586d0525caff";

/// The checksum the original sqlx-based application recorded for version 20250101000000.
const ORIGINAL_APPLICATION_SHA384: &str = "a2619f4f47a4af7c8c2867a644018ad1e5bb33bd0196c549e254ac6c4d7581c4ff4497536b0f6d13aa20f35a49f4192d";

const INITIAL_VERSION: i64 = 20_250_101_000_000;

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Builds the schema and writes its history exactly as sqlx does: sqlx's DDL, the row inserted
/// with `success = TRUE` and `execution_time = -1` in the migration's transaction, then the
/// execution time updated after commit.
fn migrate_like_sqlx(conn: &Connection, checksum: &[u8]) -> TestResult {
    conn.execute_batch(
        "
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);
                ",
    )?;
    conn.execute_batch("BEGIN")?;
    conn.execute_batch(schema::migrator().migrations()[0].sql())?;
    conn.execute(
        "INSERT INTO _sqlx_migrations ( version, description, success, checksum, execution_time ) VALUES ( ?1, ?2, TRUE, ?3, -1 )",
        params![INITIAL_VERSION, "initial schema", checksum],
    )?;
    conn.execute_batch("COMMIT")?;
    conn.execute(
        "UPDATE _sqlx_migrations SET execution_time = ?1 WHERE version = ?2",
        params![1_234_567_i64, INITIAL_VERSION],
    )?;
    Ok(())
}

/// Only the migrations after the initial one (added later in the crate's life).
fn later_versions() -> Vec<i64> {
    schema::migrator().migrations()[1..]
        .iter()
        .map(Migration::version)
        .collect()
}

#[test]
fn the_initial_checksum_is_sha384_of_the_file() -> TestResult {
    let initial = &schema::migrator().migrations()[0];
    assert_eq!(initial.version(), INITIAL_VERSION);
    assert_eq!(initial.description(), "initial schema");
    assert_eq!(initial.file(), "20250101000000_initial_schema.sql");
    assert_eq!(
        crate::common::hex(initial.checksum()),
        INITIAL_SCHEMA_SHA384
    );

    let conn = initialize_database(":memory:")?;
    let stored: Vec<u8> = conn.query_row(
        "SELECT checksum FROM _sqlx_migrations WHERE version = ?1",
        [INITIAL_VERSION],
        |r| r.get(0),
    )?;
    assert_eq!(stored, unhex(INITIAL_SCHEMA_SHA384));
    Ok(())
}

#[test]
fn history_rows_are_written_the_way_sqlx_writes_them() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let history = migrate::applied(&conn)?;
    assert_eq!(history.len(), schema::migrator().migrations().len());
    for (row, migration) in history.iter().zip(schema::migrator().migrations()) {
        assert_eq!(row.version, migration.version());
        assert_eq!(row.description, migration.description());
        assert!(row.success);
        assert_eq!(row.checksum.as_slice(), migration.checksum());
        assert!(row.execution_time > 0, "nanoseconds, measured");
        assert!(row.duration().is_some());
        assert_eq!(
            row.installed_on.len(),
            "2025-01-01 00:00:00".len(),
            "{}",
            row.installed_on
        );
    }
    let types: (String, String, String, String, String) = conn.query_row(
        "SELECT typeof(version), typeof(success), typeof(checksum), typeof(execution_time), typeof(installed_on) \
         FROM _sqlx_migrations WHERE version = ?1",
        [INITIAL_VERSION],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    assert_eq!(
        types,
        (
            "integer".into(),
            "integer".into(),
            "blob".into(),
            "integer".into(),
            "text".into()
        )
    );
    let ddl: String = conn.query_row(
        "SELECT sql FROM sqlite_master WHERE name = '_sqlx_migrations'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(
        ddl,
        "CREATE TABLE _sqlx_migrations (\n    version BIGINT PRIMARY KEY,\n    description TEXT NOT NULL,\n    \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n    success BOOLEAN NOT NULL,\n    \
         checksum BLOB NOT NULL,\n    execution_time BIGINT NOT NULL\n)"
    );
    Ok(())
}

#[test]
fn a_history_written_by_sqlx_is_recognised_as_applied() -> TestResult {
    let db = TempDb::new()?;
    migrate_like_sqlx(&raw(&db.path)?, &unhex(INITIAL_SCHEMA_SHA384))?;
    let before = snapshot(&raw(&db.path)?)?;
    let (conn, report) = OpenOptions::new().open_with_migrator(&db.url(), schema::migrator())?;
    assert_eq!(
        report.applied.iter().map(|s| s.version).collect::<Vec<_>>(),
        later_versions(),
        "the initial migration is not applied again"
    );
    let after = snapshot(&conn)?;
    let initial_row = |rows: &[String]| {
        rows.iter()
            .find(|r| r.starts_with(&format!("history|{INITIAL_VERSION}|")))
            .cloned()
    };
    assert!(
        initial_row(&before).is_some_and(|r| r.ends_with("|1234567")),
        "{before:?}"
    );
    assert_eq!(
        initial_row(&after),
        initial_row(&before),
        "the sqlx row is kept as it was"
    );
    for row in before.iter().filter(|r| !r.starts_with("history|")) {
        assert!(after.contains(row), "schema object kept: {row}");
    }
    Ok(())
}

#[test]
fn a_database_of_the_original_application_opens_with_nothing_reapplied() -> TestResult {
    let db = TempDb::new()?;
    migrate_like_sqlx(&raw(&db.path)?, &unhex(ORIGINAL_APPLICATION_SHA384))?;
    {
        let conn = raw(&db.path)?;
        conn.execute(
            "INSERT INTO pipelines (id, name, created_at, updated_at) VALUES ('01J9Z3', 'kept', 't', 't')",
            [],
        )?;
    }
    let status = schema::migrator().status(&raw(&db.path)?)?;
    assert_eq!(
        status[0].state,
        MigrationState::Applied,
        "the equivalent checksum is accepted"
    );

    let (conn, report) = OpenOptions::new().open_with_migrator(&db.url(), schema::migrator())?;
    assert_eq!(
        report.applied.iter().map(|s| s.version).collect::<Vec<_>>(),
        later_versions()
    );
    let recorded: Vec<u8> = conn.query_row(
        "SELECT checksum FROM _sqlx_migrations WHERE version = ?1",
        [INITIAL_VERSION],
        |r| r.get(0),
    )?;
    assert_eq!(
        recorded,
        unhex(ORIGINAL_APPLICATION_SHA384),
        "the recorded checksum is left alone"
    );
    let name: String = conn.query_row("SELECT name FROM pipelines", [], |r| r.get(0))?;
    assert_eq!(name, "kept");
    Ok(())
}

#[test]
fn equivalent_checksums_can_be_declared_in_code() -> TestResult {
    let old = Migration::new(1, "create t", "CREATE TABLE t (x INTEGER);  -- old comment");
    let new = Migration::new(1, "create t", "CREATE TABLE t (x INTEGER);");
    let mut conn = Connection::open_in_memory()?;
    Migrator::new(vec![old.clone()])?.run(&mut conn)?;
    let refused = Migrator::new(vec![new.clone()])?
        .run(&mut conn)
        .expect_err("modified");
    assert!(
        matches!(refused, MigrateError::Modified { version: 1, .. }),
        "{refused}"
    );
    let accepted =
        Migrator::new(vec![new.with_equivalent_checksum(*old.checksum())])?.run(&mut conn)?;
    assert!(accepted.is_up_to_date());
    Ok(())
}

/// A database migrated with versions 1 and 3 from files in `dir`, and its snapshot.
fn migrated_with(
    dir: &std::path::Path,
    files: &[(&str, &str)],
) -> TestResult<(Connection, Vec<String>)> {
    write_migrations(dir, files)?;
    let mut conn = Connection::open_in_memory()?;
    Migrator::from_dir(dir)?.run(&mut conn)?;
    let before = snapshot(&conn)?;
    Ok((conn, before))
}

const V1: (&str, &str) = ("1_create_a.sql", "CREATE TABLE a (x INTEGER);");
const V3: (&str, &str) = ("3_create_c.sql", "CREATE TABLE c (x INTEGER);");

#[test]
fn a_modified_migration_is_refused_and_nothing_changes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (mut conn, before) = migrated_with(dir.path(), &[V1, V3])?;
    std::fs::write(dir.path().join(V1.0), "CREATE TABLE a (x INTEGER, y TEXT);")?;
    write_migrations(dir.path(), &[("4_create_d.sql", "CREATE TABLE d (x);")])?;
    let error = Migrator::from_dir(dir.path())?
        .run(&mut conn)
        .expect_err("modified");
    match &error {
        MigrateError::Modified {
            version: 1,
            file,
            expected,
            found,
        } => {
            assert_eq!(file, "1_create_a.sql");
            assert_ne!(expected, found);
        }
        other => panic!("expected Modified, got {other:?}"),
    }
    assert!(error.to_string().contains("1_create_a.sql"), "{error}");
    assert_eq!(
        snapshot(&conn)?,
        before,
        "nothing applied, not even version 4"
    );
    Ok(())
}

#[test]
fn a_migration_missing_from_the_code_is_refused_and_nothing_changes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (mut conn, before) = migrated_with(dir.path(), &[V1, V3])?;
    std::fs::remove_file(dir.path().join(V3.0))?;
    write_migrations(dir.path(), &[("4_create_d.sql", "CREATE TABLE d (x);")])?;
    let error = Migrator::from_dir(dir.path())?
        .run(&mut conn)
        .expect_err("missing");
    assert!(
        matches!(&error, MigrateError::Missing { version: 3, description, .. } if description == "create c"),
        "{error:?}"
    );
    assert_eq!(snapshot(&conn)?, before);
    Ok(())
}

#[test]
fn a_dirty_history_row_is_refused_and_nothing_changes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (mut conn, _) = migrated_with(dir.path(), &[V1, V3])?;
    conn.execute(
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 3",
        [],
    )?;
    let before = snapshot(&conn)?;
    write_migrations(dir.path(), &[("4_create_d.sql", "CREATE TABLE d (x);")])?;
    let error = Migrator::from_dir(dir.path())?
        .run(&mut conn)
        .expect_err("dirty");
    assert!(
        matches!(&error, MigrateError::Dirty { version: 3, file, .. } if file == "3_create_c.sql"),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("`Migrator::repair` and `DirtyRepair::Forget`"),
        "{error}"
    );
    assert_eq!(snapshot(&conn)?, before);
    Ok(())
}

#[test]
fn an_out_of_order_migration_is_refused_and_nothing_changes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (mut conn, before) = migrated_with(dir.path(), &[V1, V3])?;
    write_migrations(dir.path(), &[("2_create_b.sql", "CREATE TABLE b (x);")])?;
    let error = Migrator::from_dir(dir.path())?
        .run(&mut conn)
        .expect_err("out of order");
    assert!(
        matches!(&error, MigrateError::OutOfOrder { version: 2, latest: 3, file, .. } if file == "2_create_b.sql"),
        "{error:?}"
    );
    assert_eq!(snapshot(&conn)?, before);
    Ok(())
}

#[test]
fn the_embedded_schema_refuses_a_modified_initial_migration() -> TestResult {
    let db = TempDb::new()?;
    migrate_like_sqlx(&raw(&db.path)?, &[7_u8; 48])?;
    let before = snapshot(&raw(&db.path)?)?;
    let error = initialize_database(&db.url()).expect_err("modified");
    assert!(
        matches!(&error, Error::Migrate(MigrateError::Modified { version: INITIAL_VERSION, file, .. }) if file == "20250101000000_initial_schema.sql"),
        "{error:?}"
    );
    assert_eq!(snapshot(&raw(&db.path)?)?, before);
    Ok(())
}

#[test]
fn a_failing_statement_rolls_the_whole_migration_back() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    let migrator = Migrator::new(vec![
        Migration::new(1, "good", "CREATE TABLE good (x);"),
        Migration::new(
            2,
            "half bad",
            "CREATE TABLE first_half (x);\nINSERT INTO no_such_table VALUES (1);\nCREATE TABLE never (x);",
        ),
    ])?;
    let error = migrator.run(&mut conn).expect_err("second statement fails");
    match &error {
        MigrateError::Failed {
            version: 2,
            file,
            line,
            source,
        } => {
            assert_eq!(file, "2_half_bad.sql");
            assert_eq!(*line, 2);
            assert!(source.to_string().contains("no_such_table"), "{source}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(
        error.to_string().contains("2_half_bad.sql") && error.to_string().contains("no_such_table")
    );
    assert_eq!(
        tables(&conn)?,
        ["_sqlx_migrations", "good"],
        "nothing of migration 2 remains"
    );
    let versions: Vec<i64> = migrate::applied(&conn)?.iter().map(|a| a.version).collect();
    assert_eq!(versions, [1], "no history row for the failed migration");
    assert!(conn.is_autocommit(), "no transaction left open");
    Ok(())
}

#[test]
fn a_migration_that_commits_is_reported() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    let migrator = Migrator::new(vec![Migration::new(
        1,
        "commits",
        "-- pipeline-store: allow transaction-control\nCREATE TABLE a (x); COMMIT;",
    )])?;
    let error = migrator.run(&mut conn).expect_err("ended its transaction");
    assert!(
        matches!(error, MigrateError::EndedTransaction { version: 1, .. }),
        "{error}"
    );
    // Half of it is committed: the history says dirty, never clean, and the next run says so.
    let history = migrate::applied(&conn)?;
    assert_eq!(history.len(), 1);
    assert!(!history[0].success);
    let again = migrator.run(&mut conn).expect_err("dirty");
    assert!(
        matches!(again, MigrateError::Dirty { version: 1, .. }),
        "{again}"
    );
    Ok(())
}

#[test]
fn a_migration_with_its_own_begin_fails_cleanly() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    let migrator = Migrator::new(vec![Migration::new(
        1,
        "explicit transaction",
        "-- pipeline-store: allow transaction-control\nBEGIN TRANSACTION; CREATE TABLE a (x); COMMIT;",
    )])?;
    let error = migrator.run(&mut conn).expect_err("nested transaction");
    assert!(
        matches!(error, MigrateError::Failed { version: 1, .. }),
        "{error}"
    );
    assert!(
        tables(&conn)?.is_empty(),
        "even the history table creation was rolled back"
    );
    Ok(())
}

#[test]
fn migrations_refuse_to_run_inside_a_transaction() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    conn.execute_batch("BEGIN")?;
    let error = schema::ensure_schema(&mut conn).expect_err("in transaction");
    assert!(
        matches!(error, Error::Migrate(MigrateError::InTransaction)),
        "{error}"
    );
    conn.execute_batch("ROLLBACK")?;
    assert!(tables(&conn)?.is_empty());
    Ok(())
}

#[test]
fn a_newly_added_migration_is_picked_up() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = TempDb::new()?;
    write_migrations(
        dir.path(),
        &[("20250101000000_first.sql", "CREATE TABLE first (x);")],
    )?;
    let (_, report) =
        OpenOptions::new().open_with_migrator(&db.url(), &Migrator::from_dir(dir.path())?)?;
    assert_eq!(report.applied.len(), 1);

    write_migrations(
        dir.path(),
        &[(
            "20250204120000_add_pipeline_tags.sql",
            "CREATE TABLE IF NOT EXISTS second (tag TEXT NOT NULL);\nCREATE INDEX IF NOT EXISTS idx_second_tag ON second(tag);",
        )],
    )?;
    let (conn, report) =
        OpenOptions::new().open_with_migrator(&db.url(), &Migrator::from_dir(dir.path())?)?;
    assert_eq!(
        report
            .applied
            .iter()
            .map(|s| (s.version, s.description.as_str()))
            .collect::<Vec<_>>(),
        [(20_250_204_120_000, "add pipeline tags")]
    );
    assert_eq!(tables(&conn)?, ["_sqlx_migrations", "first", "second"]);
    Ok(())
}

#[test]
fn ensure_schema_reports_what_it_applied() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    let report = schema::ensure_schema(&mut conn)?;
    assert_eq!(report.applied.len(), schema::migrator().migrations().len());
    assert_eq!(report.applied[0].version, INITIAL_VERSION);
    assert!(report.applied.iter().all(|s| !s.elapsed.is_zero()));
    assert!(schema::ensure_schema(&mut conn)?.is_up_to_date());
    Ok(())
}

#[test]
fn loading_a_directory_refuses_bad_files_by_name() -> TestResult {
    type Files<'a> = &'a [(&'a str, &'a [u8])];
    let cases: [(Files, &str); 5] = [
        (
            &[("1_a.sql", b"SELECT 1;"), ("01_b.sql", b"SELECT 2;")],
            "duplicate",
        ),
        (&[("initial.sql", b"SELECT 1;")], "initial.sql"),
        (
            &[
                ("2024_01_x.sql", b"SELECT 1;"),
                ("v2_add.sql", b"SELECT 1;"),
            ],
            "v2_add.sql",
        ),
        (&[("1_latin1.sql", b"SELECT '\xe9';")], "1_latin1.sql"),
        (
            &[(
                "1_bad_directive.sql",
                b"-- pipeline-store: equivalent-checksum 12\nSELECT 1;",
            )],
            "1_bad_directive.sql",
        ),
    ];
    for (files, named) in cases {
        let dir = tempfile::tempdir()?;
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes)?;
        }
        let error = Migrator::from_dir(dir.path()).expect_err(named);
        let message = error.to_string();
        match &error {
            MigrateError::DuplicateVersion {
                version: 1,
                first,
                second,
            } => {
                assert_eq!(named, "duplicate");
                let mut pair = [first.as_str(), second.as_str()];
                pair.sort_unstable();
                assert_eq!(pair, ["01_b.sql", "1_a.sql"]);
            }

            MigrateError::InvalidFileName { .. }
            | MigrateError::NotUtf8 { .. }
            | MigrateError::InvalidDirective { .. } => {
                assert!(message.contains(named), "{message}");
            }
            other => panic!("{named}: unexpected {other:?}"),
        }
    }
    let error = Migrator::from_dir("/no/such/migrations").expect_err("missing dir");
    assert!(matches!(error, MigrateError::Read { .. }), "{error}");
    Ok(())
}

#[test]
fn loading_a_directory_ignores_files_that_are_not_migrations() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_migrations(
        dir.path(),
        &[
            ("README.md", "how to add a migration"),
            (".gitkeep", ""),
            ("2_second.sql", "SELECT 2;"),
            ("1_first_one.sql", "SELECT 1;"),
        ],
    )?;
    std::fs::create_dir(dir.path().join("3_not_a_file.sql"))?;
    let migrator = Migrator::from_dir(dir.path())?;
    let loaded: Vec<_> = migrator
        .migrations()
        .iter()
        .map(|m| (m.version(), m.description()))
        .collect();
    assert_eq!(loaded, [(1, "first one"), (2, "second")]);
    Ok(())
}

#[test]
fn status_gives_every_version_its_state() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    let applied = Migrator::new(vec![
        Migration::new(1, "one", "CREATE TABLE one (x);"),
        Migration::new(2, "two", "CREATE TABLE two (x);"),
        Migration::new(3, "three", "CREATE TABLE three (x);"),
        Migration::new(4, "four", "CREATE TABLE four (x);"),
    ])?;
    applied.run(&mut conn)?;
    conn.execute(
        "UPDATE _sqlx_migrations SET success = 0 WHERE version = 4",
        [],
    )?;
    let code = Migrator::new(vec![
        Migration::new(1, "one", "CREATE TABLE one (x);"),
        Migration::new(2, "two", "CREATE TABLE two (x, changed);"),
        Migration::new(4, "four", "CREATE TABLE four (x);"),
        Migration::new(5, "five", "CREATE TABLE five (x);"),
    ])?;
    let status: Vec<_> = code
        .status(&conn)?
        .into_iter()
        .map(|row| {
            (
                row.version,
                row.state,
                row.file.is_some(),
                row.applied.is_some(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            (1, MigrationState::Applied, true, true),
            (2, MigrationState::Modified, true, true),
            (3, MigrationState::Missing, false, true),
            (4, MigrationState::Dirty, true, true),
            (5, MigrationState::Pending, true, false),
        ]
    );
    // Reading status wrote nothing and the runner refuses this database.
    assert!(code.run(&mut conn).is_err());
    Ok(())
}

#[test]
fn status_of_a_database_never_migrated_is_all_pending_and_writes_nothing() -> TestResult {
    let conn = Connection::open_in_memory()?;
    let status = schema::migrator().status(&conn)?;
    assert!(
        status
            .iter()
            .all(|row| row.state == MigrationState::Pending)
    );
    assert!(migrate::applied(&conn)?.is_empty());
    assert!(tables(&conn)?.is_empty(), "no history table was created");
    Ok(())
}

/// Runs a one-migration set whose SQL fails and returns its error message.
fn failure(sql: &str) -> TestResult<(usize, String)> {
    let mut conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE taken (x UNIQUE); INSERT INTO taken VALUES (1);")?;
    let migrator = Migrator::new(vec![Migration::new(7, "fails", sql.to_owned())])?;
    let error = migrator.run(&mut conn).expect_err("fails");
    let MigrateError::Failed { line, .. } = &error else {
        return Err(format!("expected Failed, got {error:?}").into());
    };
    assert!(conn.is_autocommit());
    Ok((*line, error.to_string()))
}

#[test]
fn a_failing_migration_is_one_line_naming_version_file_line_and_message() -> TestResult {
    let cases: &[(&str, usize, &str)] = &[
        // A syntax error: SQLite points at the token.
        (
            "-- header\nCREATE TABLE a (x);\n\nCREATE TABLE b (x) garbage here;\nCREATE TABLE c (x);",
            4,
            "near \"here\": syntax error",
        ),
        // A statement that fails to prepare, after a comment block and a multi-line statement.
        (
            "/* a long\n   comment */\nCREATE TABLE a (\n  x\n);\n-- next\nSELECT * FROM nowhere;",
            7,
            "no such table: nowhere",
        ),
        // A statement that prepares and fails when it runs.
        (
            "CREATE TABLE a (x);\nINSERT INTO taken VALUES (2);\nINSERT INTO taken\n  VALUES (1);",
            3,
            "UNIQUE constraint failed: taken.x",
        ),
        // Two statements on one line, the second failing.
        (
            "CREATE TABLE a (x); CREATE TABLE a (y);",
            1,
            "table a already exists",
        ),
    ];
    for (sql, line, message) in cases {
        let (found_line, text) = failure(sql)?;
        assert_eq!(found_line, *line, "{sql}\n{text}");
        assert_eq!(
            text,
            format!(
                "migration 7 (7_fails.sql) failed at line {line} and was rolled back: {message}"
            )
        );
        assert!(!text.contains('\n'), "{text}");
    }
    Ok(())
}

#[test]
fn a_failed_no_transaction_migration_gives_the_connection_back_in_autocommit() -> TestResult {
    for (sql, left_open) in [
        // Its own BEGIN, then a failure before COMMIT.
        (
            "-- no-transaction\nBEGIN;\nCREATE TABLE half (x);\nINSERT INTO nowhere VALUES (1);\nCOMMIT;",
            false,
        ),
        // Its own BEGIN and no COMMIT at all.
        ("-- no-transaction\nBEGIN;\nCREATE TABLE half (x);", true),
    ] {
        let mut conn = Connection::open_in_memory()?;
        let migrator = Migrator::new(vec![
            Migration::new(1, "first", "CREATE TABLE first (x);"),
            Migration::new(2, "own transaction", sql),
        ])?;
        let error = migrator.run(&mut conn).expect_err("fails");
        match &error {
            MigrateError::FailedOutsideTransaction {
                version: 2, line, ..
            } => {
                assert!(!left_open);
                assert_eq!(*line, 4);
            }
            MigrateError::LeftTransactionOpen { version: 2, file } => {
                assert!(left_open);
                assert_eq!(file, "2_own_transaction.sql");
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
        assert!(conn.is_autocommit(), "{sql}");
        assert_eq!(tables(&conn)?, ["_sqlx_migrations", "first"], "rolled back");
        // The next run reports the dirty row, not an open transaction.
        let again = migrator.run(&mut conn).expect_err("dirty");
        assert!(
            matches!(again, MigrateError::Dirty { version: 2, .. }),
            "{again:?}"
        );
        assert!(again.to_string().contains("Migrator::repair"), "{again}");
    }
    Ok(())
}

#[test]
fn a_history_stored_out_of_version_order_validates_as_it_is() -> TestResult {
    let db = TempDb::new()?;
    drop(initialize_database(&db.url())?);
    {
        // Another tool rewrote the history, newest first: the table's order is not the versions'.
        let conn = raw(&db.path)?;
        conn.execute_batch(
            "CREATE TABLE kept AS SELECT * FROM _sqlx_migrations;
             DELETE FROM _sqlx_migrations;
             INSERT INTO _sqlx_migrations SELECT * FROM kept ORDER BY version DESC;
             DROP TABLE kept;",
        )?;
        let first: i64 = conn.query_row(
            "SELECT version FROM _sqlx_migrations ORDER BY rowid LIMIT 1",
            [],
            |r| r.get(0),
        )?;
        let newest = schema::migrator()
            .migrations()
            .last()
            .ok_or("one")?
            .version();
        assert_eq!(first, newest, "stored newest first");
    }
    let mut conn = initialize_database(&db.url())?;
    assert!(schema::ensure_schema(&mut conn)?.is_up_to_date());
    assert!(
        schema::migrator()
            .status(&conn)?
            .iter()
            .all(|s| s.state == MigrationState::Applied)
    );
    Ok(())
}

/// The events a migrator with a recording callback was told, as `start V FILE` and
/// `finish V FILE`; a `finish` whose time is longer than the callback saw pass since its
/// `start` (which the script's run lies within) fails the test.
fn recording(migrator: Migrator) -> (Migrator, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use pipeline_store::migrate::Progress;
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = std::sync::Arc::clone(&told);
    let since = std::sync::Mutex::new(None);
    let migrator = migrator.on_progress(move |event| {
        let mut since = since.lock().expect("not poisoned");
        let line = match *event {
            Progress::Started { version, file } => {
                *since = Some(std::time::Instant::now());
                format!("start {version} {file}")
            }
            Progress::Finished {
                version,
                file,
                elapsed,
            } => {
                let seen = since.take().expect("a start before each finish").elapsed();
                assert!(elapsed <= seen, "{elapsed:?} > {seen:?}");
                format!("finish {version} {file}")
            }
            _ => "another event".to_owned(),
        };
        noted.lock().expect("not poisoned").push(line);
    });
    (migrator, told)
}

#[test]
fn on_progress_is_told_when_each_script_starts_and_stops_up_down_outside_a_transaction_and_failing()
-> TestResult {
    let dir = tempfile::tempdir()?;
    write_migrations(
        dir.path(),
        &[
            ("1_create.up.sql", "CREATE TABLE t (x INTEGER);\n"),
            ("1_create.down.sql", "DROP TABLE t;\n"),
            (
                "2_outside.up.sql",
                "-- no-transaction\nCREATE TABLE u (x INTEGER);\n",
            ),
            ("2_outside.down.sql", "-- no-transaction\nDROP TABLE u;\n"),
            ("3_fill.sql", "INSERT INTO t (x) VALUES (1);\n"),
        ],
    )?;
    let (migrator, told) = recording(Migrator::from_dir(dir.path())?);
    let take = || std::mem::take(&mut *told.lock().expect("not poisoned"));
    let mut conn = Connection::open_in_memory()?;
    assert_eq!(migrator.run(&mut conn)?.applied.len(), 3);
    assert_eq!(
        take(),
        [
            "start 1 1_create.up.sql",
            "finish 1 1_create.up.sql",
            "start 2 2_outside.up.sql",
            "finish 2 2_outside.up.sql",
            "start 3 3_fill.sql",
            "finish 3 3_fill.sql",
        ]
    );
    // Up to date: nothing runs, nothing is told.
    migrator.run(&mut conn)?;
    assert!(take().is_empty());
    // A clone keeps the callback.
    let copy = migrator.clone();
    assert_eq!(copy, migrator);
    copy.run(&mut Connection::open_in_memory()?)?;
    assert_eq!(take().len(), 6, "a clone tells the same callback");
    // Down scripts are told too.
    let mut reverting = Connection::open_in_memory()?;
    let (two, told_two) = recording(Migrator::from_dir(dir.path())?);
    assert_eq!(
        two, migrator,
        "a callback watches a set, it is not part of it"
    );
    two.run_to(&mut reverting, 2)?;
    told_two.lock().expect("not poisoned").clear();
    two.revert_to(&mut reverting, 0)?;
    assert_eq!(
        *told_two.lock().expect("not poisoned"),
        [
            "start 2 2_outside.down.sql",
            "finish 2 2_outside.down.sql",
            "start 1 1_create.down.sql",
            "finish 1 1_create.down.sql",
        ]
    );
    // A script that fails is told finished as well, so a progress line never hangs.
    let (failing, told_failing) = recording(Migrator::new(vec![Migration::new(
        7,
        "broken",
        "CREATE TABLE ok (x);\nSELECT * FROM no_such_table;",
    )])?);
    assert!(failing.run(&mut Connection::open_in_memory()?).is_err());
    assert_eq!(
        *told_failing.lock().expect("not poisoned"),
        ["start 7 7_broken.sql", "finish 7 7_broken.sql"]
    );
    assert_eq!(
        Migrator::from_dir(dir.path())?,
        migrator,
        "with and without a callback"
    );
    // Debug output says whether there is one, without trying to show it.
    assert!(format!("{migrator:?}").contains("progress: Some(..)"));
    assert!(format!("{:?}", Migrator::from_dir(dir.path())?).contains("progress: None"));
    Ok(())
}

#[test]
fn an_open_with_the_embedded_set_reports_its_progress_through_a_copy_of_it() -> TestResult {
    let db = TempDb::new()?;
    let (migrator, told) = recording(schema::migrator().clone());
    let (conn, report) = OpenOptions::new().open_with_migrator(&db.url(), &migrator)?;
    let told = told.lock().expect("not poisoned").clone();
    let expected: Vec<String> = report
        .applied
        .iter()
        .flat_map(|step| {
            let file = schema::migrator()
                .migrations()
                .iter()
                .find(|m| m.version() == step.version)
                .map(|m| m.file().to_owned())
                .unwrap_or_default();
            [
                format!("start {} {file}", step.version),
                format!("finish {} {file}", step.version),
            ]
        })
        .collect();
    assert_eq!(report.applied.len(), schema::migrator().migrations().len());
    assert_eq!(told, expected);
    // The copy is the embedded set: the database is up to date for it.
    assert!(schema::migrator().pending(&conn)?.is_empty());
    Ok(())
}
