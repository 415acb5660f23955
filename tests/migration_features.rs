//! Migrations beyond sqlx: no-transaction, foreign-key-safe rebuilds, reversible migrations,
//! baseline, line endings, policies, repair, grouped mode, validate.

use pipeline_store::migrate::{
    self, DirtyRepair, Migration, MigrationState, Migrator, Policy, Repair,
};
use pipeline_store::model::{NewPipeline, NewStage, StageType};
use pipeline_store::repo::pipelines;
use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{self, OpenOptions};
use pipeline_store::{MigrateError, initialize_database};

use crate::common::{REBUILD_PIPELINES, TempDb, TestResult, snapshot, tables, write_migrations};

fn versions(conn: &Connection) -> TestResult<Vec<i64>> {
    Ok(migrate::applied(conn)?.iter().map(|a| a.version).collect())
}

#[test]
fn our_own_migrations_validate() -> TestResult {
    let report = schema::migrator().validate()?;
    assert_eq!(
        report.reversible,
        [20_250_301_000_000, 20_251_125_000_000, 20_261_125_000_000]
    );
    assert_eq!(
        report.irreversible,
        [20_250_101_000_000, 20_250_204_120_000]
    );
    Ok(())
}

#[test]
fn validate_catches_a_down_script_that_does_not_undo() -> TestResult {
    let good = Migrator::new(vec![
        Migration::new(1, "create a", "CREATE TABLE a (x);").with_down("DROP TABLE a;"),
        Migration::new(2, "index a", "CREATE INDEX idx_a ON a(x);").with_down("DROP INDEX idx_a;"),
    ])?;
    assert_eq!(good.validate()?.reversible, [1, 2]);
    let bad = Migrator::new(vec![
        Migration::new(1, "create a", "CREATE TABLE a (x);").with_down("DROP TABLE a;"),
        Migration::new(2, "two tables", "CREATE TABLE b (x); CREATE TABLE c (x);")
            .with_down("DROP TABLE b;"),
    ])?;
    let error = bad.validate().expect_err("c survives the down script");
    assert!(
        matches!(error, MigrateError::ValidationFailed { version: 2, .. }),
        "{error}"
    );
    Ok(())
}

#[test]
fn no_transaction_migrations_run_outside_a_transaction() -> TestResult {
    let db = TempDb::new()?;
    let migrator = Migrator::new(vec![
        Migration::new(1, "create a", "CREATE TABLE a (x);"),
        Migration::new(2, "vacuum", "\u{feff}\n  -- no-transaction\nVACUUM;"),
    ])?;
    assert!(migrator.migrations()[1].no_transaction());
    let (conn, report) = OpenOptions::new().open_with_migrator(&db.url(), &migrator)?;
    assert_eq!(
        report.applied.len(),
        2,
        "VACUUM, which SQLite refuses inside a transaction, ran"
    );
    let rows = migrate::applied(&conn)?;
    assert!(rows.iter().all(|r| r.success && r.execution_time > 0));
    Ok(())
}

#[test]
fn a_failed_no_transaction_migration_is_dirty_until_repaired() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    let broken = Migrator::new(vec![
        Migration::new(1, "create a", "CREATE TABLE a (x);"),
        Migration::new(
            2,
            "half done",
            "-- no-transaction\nCREATE TABLE b (x);\nINSERT INTO missing VALUES (1);",
        ),
    ])?;
    let error = broken.run(&mut conn).expect_err("second statement fails");
    assert!(
        matches!(
            error,
            MigrateError::FailedOutsideTransaction { version: 2, .. }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("marked failed"), "{error}");
    assert!(
        tables(&conn)?.contains(&"b".to_owned()),
        "outside a transaction, the first statement stayed"
    );

    let refused = broken.run(&mut conn).expect_err("dirty");
    assert!(
        matches!(&refused, MigrateError::Dirty { version: 2, .. }),
        "{refused}"
    );
    assert_eq!(broken.status(&conn)?[1].state, MigrationState::Dirty);

    // The user finishes the schema by hand, then records it as applied.
    conn.execute_batch("CREATE TABLE missing (x);")?;
    let report = broken.repair(&mut conn, &Repair::new().dirty(DirtyRepair::MarkApplied))?;
    assert_eq!(report.marked_applied, [2]);
    assert!(broken.run(&mut conn)?.is_up_to_date());

    // Or forgets it, after undoing it by hand, to run it again.
    let mut again = Connection::open_in_memory()?;
    broken.run(&mut again).expect_err("fails");
    again.execute_batch("DROP TABLE b; CREATE TABLE missing (x);")?;
    assert_eq!(
        broken
            .repair(&mut again, &Repair::new().dirty(DirtyRepair::Forget))?
            .forgotten,
        [2]
    );
    assert_eq!(broken.run(&mut again)?.applied.len(), 1);
    Ok(())
}

fn with_rebuild(sql: String) -> TestResult<Migrator> {
    let mut migrations = schema::migrator().migrations().to_vec();
    migrations.push(Migration::new(20_990_101_000_000, "rebuild pipelines", sql));
    Ok(Migrator::new(migrations)?)
}

fn seeded() -> TestResult<Connection> {
    let conn = initialize_database(":memory:")?;
    for i in 0..3 {
        pipelines::create(
            &conn,
            &NewPipeline::new(format!("p{i}"))
                .stage(NewStage::new("a", StageType::Checksum, "sha256").parameter("k", "v"))
                .stage(NewStage::new("b", StageType::Compression, "zstd"))
                .config("max_workers", "4"),
        )?;
    }
    Ok(conn)
}

fn count(conn: &Connection, table: &str) -> TestResult<i64> {
    Ok(conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
}

#[test]
fn a_table_rebuild_with_foreign_keys_off_keeps_every_child() -> TestResult {
    // Without the directive, the linter refuses the rebuild before it runs...
    let mut careless = seeded()?;
    let before = snapshot(&careless)?;
    let refused = with_rebuild(REBUILD_PIPELINES.to_owned())?
        .run(&mut careless)
        .expect_err("refused");
    assert!(
        matches!(&refused, MigrateError::Lint { findings }
            if findings.iter().any(|f| f.rule == "drop-referenced-table")),
        "{refused}"
    );
    assert_eq!(snapshot(&careless)?, before, "nothing applied");
    // ...because, run anyway, DROP TABLE pipelines cascades: every stage is gone.
    with_rebuild(format!(
        "-- pipeline-store: allow drop-referenced-table\n{REBUILD_PIPELINES}"
    ))?
    .run(&mut careless)?;
    assert_eq!(
        count(&careless, "pipeline_stages")?,
        0,
        "what the directive prevents"
    );

    let mut conn = seeded()?;
    let migrator = with_rebuild(format!(
        "-- Rebuild pipelines to add a column.\n-- foreign-keys: off\n{REBUILD_PIPELINES}"
    ))?;
    assert!(
        migrator
            .migrations()
            .last()
            .ok_or("last")?
            .foreign_keys_off()
    );
    migrator.run(&mut conn)?;
    assert_eq!(count(&conn, "pipelines")?, 3);
    assert_eq!(count(&conn, "pipeline_stages")?, 6, "every stage kept");
    assert_eq!(count(&conn, "stage_parameters")?, 3);
    assert_eq!(count(&conn, "pipeline_configuration")?, 3);
    let on: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    assert_eq!(on, 1, "switched back on");
    let p = pipelines::find_by_name(&conn, "p1")?.ok_or("loads")?;
    assert_eq!(p.stages.len(), 2);
    Ok(())
}

#[test]
fn a_rebuild_that_breaks_foreign_keys_is_rolled_back_with_the_rows_named() -> TestResult {
    let mut conn = seeded()?;
    let before = snapshot(&conn)?;
    let lossy = REBUILD_PIPELINES.replace("FROM pipelines;", "FROM pipelines WHERE name <> 'p1';");
    let migrator = with_rebuild(format!("-- foreign-keys: off\n{lossy}"))?;
    let error = migrator
        .run(&mut conn)
        .expect_err("p1's children would point nowhere");
    match &error {
        MigrateError::ForeignKeyViolations {
            version,
            violations,
            ..
        } => {
            assert_eq!(*version, 20_990_101_000_000);
            assert!(
                violations.iter().any(|v| v.table == "pipeline_stages"
                    && v.parent == "pipelines"
                    && v.to_string().ends_with("points at a missing pipelines row")),
                "{violations:?}"
            );
        }
        other => panic!("expected ForeignKeyViolations, got {other:?}"),
    }
    assert_eq!(snapshot(&conn)?, before, "rolled back");
    assert_eq!(count(&conn, "pipelines")?, 3);
    let on: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    assert_eq!(on, 1, "switched back on after a failure too");
    Ok(())
}

#[test]
fn reversible_migrations_run_to_and_revert_to() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_migrations(
        dir.path(),
        &[
            ("1_create_a.up.sql", "CREATE TABLE a (x);"),
            ("1_create_a.down.sql", "DROP TABLE a;"),
            ("2_create_b.up.sql", "CREATE TABLE b (x);"),
            ("2_create_b.down.sql", "DROP TABLE b;"),
            ("3_create_c.up.sql", "CREATE TABLE c (x);"),
            ("3_create_c.down.sql", "DROP TABLE c;"),
        ],
    )?;
    let migrator = Migrator::from_dir(dir.path())?;
    assert_eq!(migrator.migrations()[0].description(), "create a");
    assert_eq!(migrator.migrations()[0].file(), "1_create_a.up.sql");
    assert_eq!(
        crate::common::hex(migrator.migrations()[0].checksum()),
        crate::common::hex(&migrate::checksum(b"CREATE TABLE a (x);")),
        "the checksum is the up file's"
    );
    let mut conn = Connection::open_in_memory()?;
    assert_eq!(migrator.run_to(&mut conn, 2)?.applied.len(), 2);
    assert_eq!(versions(&conn)?, [1, 2]);
    migrator.run(&mut conn)?;
    let reverted = migrator.revert_to(&mut conn, 1)?;
    assert_eq!(
        reverted
            .reverted
            .iter()
            .map(|s| s.version)
            .collect::<Vec<_>>(),
        [3, 2]
    );
    assert_eq!(tables(&conn)?, ["_sqlx_migrations", "a"]);
    assert_eq!(versions(&conn)?, [1]);
    migrator.revert_to(&mut conn, 0)?;
    assert!(versions(&conn)?.is_empty());
    assert!(matches!(
        migrator.run_to(&mut conn, 7),
        Err(MigrateError::UnknownVersion { version: 7 })
    ));
    Ok(())
}

#[test]
fn reverting_past_a_migration_without_down_is_refused_whole() -> TestResult {
    let migrator = Migrator::new(vec![
        Migration::new(1, "one way", "CREATE TABLE a (x);"),
        Migration::new(2, "two", "CREATE TABLE b (x);").with_down("DROP TABLE b;"),
    ])?;
    let mut conn = Connection::open_in_memory()?;
    migrator.run(&mut conn)?;
    let before = snapshot(&conn)?;
    let error = migrator.revert_to(&mut conn, 0).expect_err("1 has no down");
    assert!(
        matches!(&error, MigrateError::Irreversible { version: 1, .. }),
        "{error}"
    );
    assert_eq!(snapshot(&conn)?, before, "not even 2 was reverted");
    Ok(())
}

#[test]
fn unpaired_or_misnamed_halves_are_refused_by_name() -> TestResult {
    for (files, named) in [
        (vec![("1_a.down.sql", "DROP TABLE a;")], "1_a.down.sql"),
        (
            vec![
                ("1_a.sql", "CREATE TABLE a (x);"),
                ("1_a.down.sql", "DROP TABLE a;"),
            ],
            "1_a.down.sql",
        ),
        (
            vec![
                ("1_a.up.sql", "CREATE TABLE a (x);"),
                ("1_a.down.sql", "x"),
                ("1_b.down.sql", "y"),
            ],
            "1_b.down.sql",
        ),
    ] {
        let dir = tempfile::tempdir()?;
        write_migrations(dir.path(), &files)?;
        let error = Migrator::from_dir(dir.path()).expect_err(named);
        assert!(error.to_string().contains(named), "{named}: {error}");
    }
    Ok(())
}

#[test]
fn baseline_adopts_a_database_made_by_hand() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    conn.execute_batch(schema::migrator().migrations()[0].sql())?;
    let marked = schema::migrator().baseline(&mut conn, 20_250_101_000_000)?;
    assert_eq!(marked, [20_250_101_000_000]);
    let report = schema::ensure_schema(&mut conn)?;
    assert_eq!(
        report.applied.len(),
        schema::migrator().migrations().len() - 1,
        "only the later ones ran"
    );
    assert!(
        schema::migrator()
            .baseline(&mut conn, 20_250_101_000_000)?
            .is_empty(),
        "already recorded"
    );
    assert!(matches!(
        schema::migrator().baseline(&mut conn, 42),
        Err(MigrateError::UnknownVersion { version: 42 })
    ));
    Ok(())
}

const LF: &str = "-- notes\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\nCREATE INDEX idx_notes_body ON notes(body);\n";

#[test]
fn the_same_migration_checked_out_with_crlf_or_lf_is_accepted_with_a_warning() -> TestResult {
    let crlf = LF.replace('\n', "\r\n");
    let bom = format!("\u{feff}{LF}");
    for (applied_as, opened_as) in [
        (LF.to_owned(), crlf.clone()),
        (crlf.clone(), LF.to_owned()),
        (LF.to_owned(), bom),
    ] {
        let applied_with = Migrator::new(vec![Migration::new(1, "notes", applied_as)])?;
        let opened_with = Migrator::new(vec![
            Migration::new(1, "notes", opened_as),
            Migration::new(2, "more", "CREATE TABLE more (x);"),
        ])?;
        let mut conn = Connection::open_in_memory()?;
        applied_with.run(&mut conn)?;
        assert_eq!(
            opened_with.status(&conn)?[0].state,
            MigrationState::LineEndings
        );
        assert_eq!(
            opened_with.run(&mut conn)?.applied.len(),
            1,
            "accepted, the next one applied"
        );
        let strict = opened_with.clone().on_line_endings(Policy::Error);
        assert!(matches!(
            strict.pending(&conn),
            Err(MigrateError::Modified { version: 1, .. })
        ));
        // repair records the checksum of the file as this checkout has it.
        let report = opened_with.repair(&mut conn, &Repair::new().line_endings())?;
        assert_eq!(report.checksums_rewritten, [1]);
        assert_eq!(opened_with.status(&conn)?[0].state, MigrationState::Applied);
        assert!(strict.pending(&conn)?.is_empty());
    }
    Ok(())
}

#[test]
fn a_history_written_by_a_windows_build_opens() -> TestResult {
    let db = TempDb::new()?;
    {
        // A Windows checkout converted the initial schema to CRLF before it was applied.
        let windows = schema::migrator().migrations()[0]
            .sql()
            .replace('\n', "\r\n");
        let conn = pipeline_store::rusqlite::Connection::open(&db.path)?;
        let mut conn = conn;
        Migrator::new(vec![Migration::new(
            20_250_101_000_000,
            "initial schema",
            windows,
        )])?
        .run(&mut conn)?;
    }
    let (conn, report) = OpenOptions::new().open_with_migrator(&db.url(), schema::migrator())?;
    assert_eq!(
        report.applied.len(),
        schema::migrator().migrations().len() - 1
    );
    assert_eq!(
        schema::migrator().status(&conn)?[0].state,
        MigrationState::LineEndings
    );
    assert!(
        schema::check(&conn)?.is_ok(),
        "not a problem, only a difference"
    );
    Ok(())
}

#[test]
fn policies_let_a_database_ahead_or_out_of_order_be_used() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    Migrator::new(vec![
        Migration::new(1, "a", "CREATE TABLE a (x);"),
        Migration::new(3, "c", "CREATE TABLE c (x);"),
        Migration::new(9, "from the future", "CREATE TABLE future (x);"),
    ])?
    .run(&mut conn)?;
    let code = Migrator::new(vec![
        Migration::new(1, "a", "CREATE TABLE a (x);"),
        Migration::new(2, "b", "CREATE TABLE b (x);"),
        Migration::new(3, "c", "CREATE TABLE c (x);"),
    ])?;
    assert!(matches!(
        code.run(&mut conn),
        Err(MigrateError::Missing { version: 9, .. })
    ));
    let lenient_missing = code.clone().on_missing(Policy::Warn);
    assert!(matches!(
        lenient_missing.run(&mut conn),
        Err(MigrateError::OutOfOrder { version: 2, .. })
    ));
    let lenient = lenient_missing.on_out_of_order(Policy::Allow);
    assert_eq!(
        lenient
            .run(&mut conn)?
            .applied
            .iter()
            .map(|s| s.version)
            .collect::<Vec<_>>(),
        [2]
    );
    assert!(tables(&conn)?.contains(&"b".to_owned()));

    let report = code.repair(&mut conn, &Repair::new().forget_missing())?;
    assert_eq!(report.forgotten, [9]);
    assert!(
        code.run(&mut conn)?.is_up_to_date(),
        "strict again once the history is repaired"
    );
    Ok(())
}

#[test]
fn grouped_mode_is_all_or_nothing() -> TestResult {
    let migrations = vec![
        Migration::new(1, "a", "CREATE TABLE a (x);"),
        Migration::new(2, "b", "CREATE TABLE b (x);"),
        Migration::new(
            3,
            "broken",
            "CREATE TABLE c (x); INSERT INTO nowhere VALUES (1);",
        ),
    ];
    let mut conn = Connection::open_in_memory()?;
    let error = Migrator::new(migrations.clone())?
        .grouped(true)
        .run(&mut conn)
        .expect_err("3 fails");
    assert!(
        matches!(error, MigrateError::Failed { version: 3, .. }),
        "{error}"
    );
    assert!(tables(&conn)?.is_empty(), "nothing of 1 and 2 either");
    let mut conn = Connection::open_in_memory()?;
    let report = Migrator::new(migrations[..2].to_vec())?
        .grouped(true)
        .run(&mut conn)?;
    assert_eq!(report.applied.len(), 2);
    assert_eq!(versions(&conn)?, [1, 2]);
    let vacuum =
        Migrator::new(vec![Migration::new(1, "v", "-- no-transaction\nVACUUM;")])?.grouped(true);
    assert!(matches!(
        vacuum.run(&mut Connection::open_in_memory()?),
        Err(MigrateError::NotGroupable { .. })
    ));
    Ok(())
}
