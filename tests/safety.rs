//! Migration safety: the linter refuses what would lose data silently, before anything runs.

use pipeline_store::migrate::{MigrateError, Migration, Migrator};
use pipeline_store::model::{NewPipeline, NewStage, StageType};
use pipeline_store::repo::pipelines;
use pipeline_store::{Error, initialize_database, schema};

use crate::common::REBUILD_PIPELINES;
use crate::common::{TempDb, TestResult, snapshot, write_migrations};

/// A database file with the embedded schema and one pipeline with two stages.
fn seeded_file() -> TestResult<TempDb> {
    let db = TempDb::new()?;
    let conn = initialize_database(&db.url())?;
    pipelines::create(
        &conn,
        &NewPipeline::new("kept")
            .stage(NewStage::new("a", StageType::Checksum, "sha256"))
            .stage(NewStage::new("b", StageType::Compression, "zstd")),
    )?;
    Ok(db)
}

/// The embedded migrations and one more, from a file in a directory.
fn with_file(dir: &std::path::Path, name: &str, sql: &str) -> TestResult<Migrator> {
    write_migrations(dir, &[(name, sql)])?;
    let mut all = schema::migrator().migrations().to_vec();
    all.extend(Migrator::from_dir(dir)?.migrations().iter().cloned());
    Ok(Migrator::new(all)?)
}

#[test]
fn each_rule_refuses_its_examples_with_nothing_applied_and_the_file_unchanged() -> TestResult {
    let cases: Vec<(&str, String)> = vec![
        (
            "directive-spelling",
            format!("-- foreign-keys:off\n{REBUILD_PIPELINES}"),
        ),
        (
            "directive-spelling",
            format!("-- Foreign-Keys: OFF\n{REBUILD_PIPELINES}"),
        ),
        (
            "directive-spelling",
            format!("-- foreign_keys: off\n{REBUILD_PIPELINES}"),
        ),
        (
            "directive-spelling",
            format!("-- foreign-keys: off;\n{REBUILD_PIPELINES}"),
        ),
        (
            "directive-spelling",
            "-- no transaction\nVACUUM;".to_owned(),
        ),
        (
            "transaction-control",
            "BEGIN TRANSACTION;\nCREATE TABLE t (x);\nCOMMIT;".to_owned(),
        ),
        (
            "transaction-control",
            "CREATE TABLE t (x);\nCOMMIT;\nCREATE TABLE u (x);".to_owned(),
        ),
        ("drop-referenced-table", REBUILD_PIPELINES.to_owned()),
        (
            "drop-referenced-table",
            "ALTER TABLE pipelines RENAME TO pipelines_old;\nDROP TABLE pipelines_old;".to_owned(),
        ),
    ];
    for (rule, sql) in cases {
        let db = seeded_file()?;
        let dir = tempfile::tempdir()?;
        let migrator = with_file(dir.path(), "29990101000000_change.sql", &sql)?;
        let before_bytes = std::fs::read(&db.path)?;
        let before = snapshot(&pipeline_store::rusqlite::Connection::open(&db.path)?)?;
        let error = schema::OpenOptions::new()
            .open_with_migrator(&db.url(), &migrator)
            .expect_err(rule);
        let Error::Migrate(MigrateError::Lint { findings }) = &error else {
            return Err(format!("{rule}: expected Lint, got {error:?}").into());
        };
        assert!(
            findings.iter().any(|f| f.rule == rule),
            "{rule}: {findings:?}"
        );
        let first = findings.iter().find(|f| f.rule == rule).ok_or("finding")?;
        assert_eq!(first.file, "29990101000000_change.sql");
        assert!(first.line >= 1 && !first.fix.is_empty() && !first.why.is_empty());
        assert!(!error.to_string().contains('\n'), "{error}");
        assert_eq!(
            std::fs::read(&db.path)?,
            before_bytes,
            "{rule}: the file changed"
        );
        assert_eq!(
            snapshot(&pipeline_store::rusqlite::Connection::open(&db.path)?)?,
            before
        );
        // Migrator::lint and validate say the same before anything is opened.
        assert!(
            migrator
                .lint()?
                .iter()
                .any(|f| f.rule == rule && !f.allowed)
        );
        assert!(matches!(
            migrator.validate(),
            Err(MigrateError::Lint { .. })
        ));
    }
    Ok(())
}

#[test]
fn near_variants_that_are_fine_run() -> TestResult {
    for sql in [
        "CREATE TABLE audit (x);\nCREATE TRIGGER audit_pipelines AFTER INSERT ON pipelines BEGIN\n  INSERT INTO audit VALUES (CASE WHEN new.archived THEN 'archived' ELSE 'active' END);\nEND;",
        "INSERT INTO pipelines (id, name, created_at, updated_at) VALUES ('x', 'BEGIN; COMMIT; PRAGMA foreign_keys=OFF; DROP TABLE pipelines', 't', 't');",
        "-- COMMIT; PRAGMA foreign_keys = OFF; DROP TABLE pipelines;\n/* BEGIN */ CREATE TABLE \"commit\" (\"begin\" TEXT, [end] TEXT);",
        "SAVEPOINT step;\nCREATE TABLE scratch (x);\nROLLBACK TO step;\nRELEASE step;",
        "-- foreign-keys: off\nALTER TABLE pipelines RENAME TO pipelines_old;\nALTER TABLE pipelines_old RENAME TO pipelines;",
        // A rename by itself changes no row: the children follow it, there and back.
        "ALTER TABLE pipelines RENAME TO pipelines_old;\nALTER TABLE pipelines_old RENAME TO pipelines;",
        "-- no-transaction\nBEGIN;\nCREATE TABLE own (x);\nCOMMIT;",
        "PRAGMA foreign_key_check;",
        "DROP TABLE IF EXISTS never_existed;",
    ] {
        let db = seeded_file()?;
        let dir = tempfile::tempdir()?;
        let migrator = with_file(dir.path(), "29990101000000_fine.sql", sql)?;
        assert_eq!(migrator.lint()?, Vec::new(), "{sql}");
        let (conn, report) = schema::OpenOptions::new().open_with_migrator(&db.url(), &migrator)?;
        assert_eq!(report.applied.len(), 1, "{sql}");
        let kept = pipelines::find_by_name(&conn, "kept")?.ok_or("kept")?;
        assert_eq!(kept.stages.len(), 2, "{sql}");
    }
    Ok(())
}

#[test]
fn an_escape_in_the_file_lets_a_deliberate_case_through() -> TestResult {
    let migrator = Migrator::new(vec![
        Migration::new(1, "parent", "CREATE TABLE parent (id INTEGER PRIMARY KEY);"),
        Migration::new(
            2,
            "child",
            "CREATE TABLE child (parent INTEGER REFERENCES parent(id) ON DELETE CASCADE);",
        ),
        Migration::new(
            3,
            "drop both",
            "-- Both go: the children are meant to.\n-- pipeline-store: allow drop-referenced-table\nDROP TABLE parent;\nDROP TABLE child;",
        ),
    ])?;
    let findings = migrator.lint()?;
    assert_eq!(findings.len(), 1);
    assert!(findings[0].allowed && findings[0].rule == "drop-referenced-table");
    assert_eq!(findings[0].line, 3);
    let mut conn = pipeline_store::rusqlite::Connection::open_in_memory()?;
    assert_eq!(migrator.run(&mut conn)?.applied.len(), 3);
    Ok(())
}

#[test]
fn down_scripts_are_linted_before_a_revert() -> TestResult {
    let migrator = Migrator::new(vec![
        Migration::new(1, "parent", "CREATE TABLE parent (id INTEGER PRIMARY KEY);"),
        Migration::new(
            2,
            "child",
            "CREATE TABLE child (parent INTEGER REFERENCES parent(id) ON DELETE CASCADE);",
        )
        .with_down("BEGIN;\nDROP TABLE child;\nCOMMIT;"),
    ])?;
    let mut conn = pipeline_store::rusqlite::Connection::open_in_memory()?;
    let error = migrator
        .run(&mut conn)
        .map(|_| ())
        .and_then(|()| migrator.revert_to(&mut conn, 1).map(|_| ()));
    let Err(MigrateError::Lint { findings }) = error else {
        return Err(format!("expected Lint, got {error:?}").into());
    };
    assert!(
        findings
            .iter()
            .all(|f| f.rule == "transaction-control" && f.file == "2_child.down.sql")
    );
    assert_eq!(
        pipeline_store::migrate::applied(&conn)?.len(),
        2,
        "nothing reverted"
    );
    Ok(())
}

#[test]
fn the_embedded_migrations_have_no_findings() -> TestResult {
    assert_eq!(schema::migrator().lint()?, Vec::new());
    Ok(())
}

#[test]
fn a_foreign_keys_off_pragma_is_run_as_its_author_meant_and_nothing_is_lost() -> TestResult {
    // The way SQLite's documentation and prisma write a rebuild: the switch inside the file.
    for switch in [
        "PRAGMA foreign_keys=OFF;",
        "pragma FOREIGN_KEYS = 0;",
        "PRAGMA main.foreign_keys = false;",
        "PRAGMA foreign_keys = 'no';",
        "PRAGMA foreign_keys(OFF);",
    ] {
        let db = seeded_file()?;
        let dir = tempfile::tempdir()?;
        let sql = format!("{switch}\n{REBUILD_PIPELINES}PRAGMA foreign_keys=ON;\n");
        let migrator = with_file(dir.path(), "29990101000000_rebuild.sql", &sql)?;
        let findings = migrator.lint()?;
        let pragma: Vec<_> = findings
            .iter()
            .filter(|f| f.rule == "foreign-keys-pragma")
            .collect();
        assert_eq!(
            pragma.len(),
            2,
            "{switch}: both switches reported: {findings:?}"
        );
        assert!(
            pragma.iter().all(|f| f.allowed),
            "{switch}: information, not refusals"
        );
        assert!(
            pragma[0].message.contains("honoured"),
            "{}",
            pragma[0].message
        );
        assert!(
            pragma[1].message.contains("does nothing"),
            "{}",
            pragma[1].message
        );
        let (conn, report) = schema::OpenOptions::new().open_with_migrator(&db.url(), &migrator)?;
        assert_eq!(report.applied.len(), 1, "{switch}");
        let stages: i64 =
            conn.query_row("SELECT count(*) FROM pipeline_stages", [], |r| r.get(0))?;
        assert_eq!(stages, 2, "{switch}: no stage lost to a cascade");
        let on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        assert!(on, "{switch}: switched back on");
        // The history row is sqlx's: the file's own checksum.
        let recorded = pipeline_store::migrate::applied(&conn)?;
        let row = recorded.last().ok_or("a row")?;
        assert_eq!(row.version, 29_990_101_000_000);
        assert_eq!(
            row.checksum,
            pipeline_store::migrate::checksum(sql.as_bytes()).to_vec()
        );
    }
    Ok(())
}

#[test]
fn a_foreign_keys_off_pragma_migration_that_leaves_orphans_is_rolled_back_by_name() -> TestResult {
    let db = seeded_file()?;
    let dir = tempfile::tempdir()?;
    // Rebuilt without its rows: every stage would point at no pipeline.
    let sql = "PRAGMA foreign_keys = OFF;\nCREATE TABLE pipelines_new (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, archived BOOLEAN NOT NULL DEFAULT false, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);\nDROP TABLE pipelines;\nALTER TABLE pipelines_new RENAME TO pipelines;\n";
    let migrator = with_file(dir.path(), "29990101000000_lossy.sql", sql)?;
    let before = std::fs::read(&db.path)?;
    let error = schema::OpenOptions::new()
        .open_with_migrator(&db.url(), &migrator)
        .unwrap_err();
    assert!(
        matches!(&error, Error::Migrate(MigrateError::ForeignKeyViolations { violations, .. }) if violations.iter().any(|v| v.table == "pipeline_stages")),
        "{error:?}"
    );
    let conn = pipeline_store::rusqlite::Connection::open(&db.path)?;
    let kept: i64 = conn.query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))?;
    assert_eq!(kept, 1, "rolled back");
    drop(conn);
    assert!(!before.is_empty());
    Ok(())
}

fn findings_of(migrations: Vec<Migration>) -> TestResult<Vec<(i64, usize, String)>> {
    Ok(Migrator::new(migrations)?
        .lint()?
        .into_iter()
        .filter(|f| f.rule == "drop-referenced-table")
        .map(|f| (f.version, f.line, f.message))
        .collect())
}

#[test]
fn the_drop_rule_sees_a_table_created_earlier_in_the_same_file() -> TestResult {
    let found = findings_of(vec![
        Migration::new(
            1,
            "job",
            "CREATE TABLE job (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES job(id) ON DELETE CASCADE, name TEXT);",
        ),
        Migration::new(
            2,
            "rebuild job",
            "CREATE TABLE new_job (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES job(id) ON DELETE CASCADE, name TEXT, extra TEXT);
INSERT INTO new_job (id, parent_id, name) SELECT id, parent_id, name FROM job;
DROP TABLE job;
ALTER TABLE new_job RENAME TO job;",
        ),
    ])?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1), (2, 3));
    assert!(
        found[0].2.contains("new_job (ON DELETE CASCADE)"),
        "{found:?}"
    );
    Ok(())
}

#[test]
fn the_drop_rule_forgets_a_child_dropped_earlier_in_the_same_file() -> TestResult {
    let schema = Migration::new(
        1,
        "provider and repo",
        "CREATE TABLE provider (id INTEGER PRIMARY KEY);
         CREATE TABLE repo (id INTEGER PRIMARY KEY, provider_id INTEGER REFERENCES provider(id) ON DELETE CASCADE);",
    );
    let merge = findings_of(vec![
        schema.clone(),
        Migration::new(2, "merge", "DROP TABLE repo;\nDROP TABLE provider;"),
    ])?;
    assert!(merge.is_empty(), "{merge:?}");
    // The other order still drops a parent its child references.
    let wrong_order = findings_of(vec![
        schema,
        Migration::new(2, "merge", "DROP TABLE provider;\nDROP TABLE repo;"),
    ])?;
    assert_eq!(wrong_order.len(), 1, "{wrong_order:?}");
    assert_eq!((wrong_order[0].0, wrong_order[0].1), (2, 1));
    Ok(())
}

#[test]
fn the_drop_rule_follows_a_rename_to_the_table_children_then_reference() -> TestResult {
    let found = findings_of(vec![
        Migration::new(
            1,
            "parent and child",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);",
        ),
        Migration::new(
            2,
            "rename away then drop",
            "-- pipeline-store: allow drop-referenced-table\nALTER TABLE parent RENAME TO parent_old;\nCREATE TABLE parent (id INTEGER PRIMARY KEY);\nDROP TABLE parent_old;",
        ),
    ])?;
    // The rename changes no row and is not reported; the drop of the renamed table, which the
    // child now references, is.
    let lines: Vec<usize> = found.iter().map(|f| f.1).collect();
    assert_eq!(lines, [4], "{found:?}");
    assert!(found[0].2.contains("parent_old"), "{found:?}");
    Ok(())
}

#[test]
fn the_drop_rule_forgets_a_child_emptied_first_until_something_could_fill_it_again() -> TestResult {
    let parent_and_child = Migration::new(
        1,
        "parent and child",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);",
    );
    let lines = |sql: &'static str| -> TestResult<Vec<usize>> {
        Ok(findings_of(vec![
            parent_and_child.clone(),
            Migration::new(2, "drop", sql),
        ])?
        .into_iter()
        .map(|f| f.1)
        .collect())
    };
    // Emptied on purpose, then the parent goes: nothing is left to cascade into.
    assert_eq!(
        lines("DELETE FROM child;\nDROP TABLE parent;")?,
        Vec::<usize>::new()
    );
    assert_eq!(
        lines("DELETE FROM main.\"child\";\nCREATE INDEX i ON child (id);\nDROP TABLE parent;")?,
        Vec::<usize>::new()
    );
    // A child made in the file and not filled since has nothing to lose either.
    assert_eq!(
        lines(
            "CREATE TABLE other (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) ON DELETE CASCADE);\nDELETE FROM child;\nDROP TABLE parent;"
        )?,
        Vec::<usize>::new()
    );
    // Only some rows deleted, rows put back, an update (a trigger may insert), a rename:
    // the child may hold rows again.
    for sql in [
        "DELETE FROM child WHERE id > 1;\nDROP TABLE parent;",
        "DELETE FROM child;\nINSERT INTO child VALUES (1, 1);\nDROP TABLE parent;",
        "DELETE FROM child;\nUPDATE parent SET id = id;\nDROP TABLE parent;",
        "DELETE FROM child;\nALTER TABLE parent RENAME TO parent_old;\nDROP TABLE parent_old;",
        "CREATE TABLE other (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) ON DELETE CASCADE);\nDELETE FROM child;\nINSERT INTO other SELECT id, id FROM parent;\nDROP TABLE parent;",
        "CREATE TABLE IF NOT EXISTS child (id INTEGER PRIMARY KEY);\nDROP TABLE parent;",
    ] {
        assert_eq!(lines(sql)?.len(), 1, "{sql}");
    }
    Ok(())
}

#[test]
fn a_refused_drop_says_how_many_rows_of_each_child_point_at_the_table_now() -> TestResult {
    let mut conn = pipeline_store::rusqlite::Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.execute_batch(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE SET NULL);
         INSERT INTO parent VALUES (1), (2);
         INSERT INTO child VALUES (1, 1), (2, 2), (3, NULL);",
    )?;
    let before = snapshot(&conn)?;
    let migrator = Migrator::new(vec![Migration::new(
        7,
        "rebuild parent",
        "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO parent_new (id) SELECT id FROM parent;\nDROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;",
    )])?;
    let error = migrator.run(&mut conn).expect_err("refused");
    let MigrateError::Lint { findings } = &error else {
        return Err(format!("expected Lint, got {error:?}").into());
    };
    assert_eq!((findings[0].version, findings[0].line), (7, 3));
    assert!(
        findings[0]
            .message
            .contains("child (ON DELETE SET NULL; 2 of its row(s) point at it now)"),
        "{}",
        findings[0].message
    );
    assert_eq!(snapshot(&conn)?, before);
    // Without a database there is nothing to count.
    let mut alone = vec![Migration::new(
        1,
        "tables",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE SET NULL);",
    )];
    alone.extend(migrator.migrations().iter().cloned());
    let message = &Migrator::new(alone)?.lint()?[0].message;
    assert!(message.contains("child (ON DELETE SET NULL)"), "{message}");
    assert!(!message.contains("point at it now"), "{message}");
    Ok(())
}
