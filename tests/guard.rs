//! The run-time guard on `DROP TABLE`: whatever the linter saw, a drop that would delete or
//! change rows of another table through its foreign key is refused before it runs.

use pipeline_store::MigrateError;
use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::rusqlite::Connection;

use crate::common::TestResult;

fn database() -> TestResult<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

/// A host's database the linter cannot model: one of the host's own tables checks its rows with
/// a function the host registers on its connections, so the linter's schema-only replica (which
/// has no such function) cannot be built and its schema rule stands aside. The guard in the run,
/// which asks the live database, is then all there is between a drop and a silent loss.
fn host_database() -> TestResult<Connection> {
    use pipeline_store::rusqlite::functions::FunctionFlags;
    let conn = database()?;
    conn.create_scalar_function(
        "host_valid_name",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(!ctx.get::<String>(0)?.is_empty()),
    )?;
    conn.execute_batch("CREATE TABLE host_files (name TEXT CHECK (host_valid_name(name)));")?;
    Ok(conn)
}

fn count(conn: &Connection, table: &str) -> TestResult<i64> {
    Ok(conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
}

fn applied(conn: &Connection) -> TestResult<Vec<i64>> {
    Ok(pipeline_store::migrate::applied(conn)?
        .into_iter()
        .map(|a| a.version)
        .collect())
}

#[test]
fn a_rebuild_of_a_self_referencing_table_that_would_cascade_into_the_copy_is_refused() -> TestResult
{
    let mut conn = host_database()?;
    let migrator = Migrator::new(vec![
        Migration::new(
            1,
            "job",
            "CREATE TABLE job (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES job(id) ON DELETE CASCADE, name TEXT);
             INSERT INTO job VALUES (1, NULL, 'parent'), (2, 1, 'child');",
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
    let error = migrator.run(&mut conn).unwrap_err();
    let MigrateError::DropWouldChangeRows {
        version,
        line,
        table,
        child,
        action,
        rows,
        ..
    } = &error
    else {
        panic!("refused by the guard: {error:?}");
    };
    assert_eq!(
        (
            *version,
            *line,
            table.as_str(),
            child.as_str(),
            action.as_str(),
            *rows
        ),
        (2, 3, "job", "new_job", "CASCADE", 1)
    );
    let message = error.to_string();
    assert!(
        message.contains("line 3") && message.contains("would delete 1 row(s) of new_job"),
        "{message}"
    );
    assert_eq!(count(&conn, "job")?, 2, "nothing lost");
    assert_eq!(applied(&conn)?, [1], "rolled back whole");
    let leftover: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = 'new_job'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(leftover, 0);
    Ok(())
}

#[test]
fn drops_that_change_no_row_run_and_every_action_that_would_is_refused() -> TestResult {
    // The child is made in the same file, so the linter (which reads the schema the file
    // starts from) never sees it: the guard alone decides.
    let parent = Migration::new(
        1,
        "provider",
        "CREATE TABLE provider (id INTEGER PRIMARY KEY); INSERT INTO provider VALUES (1), (2);",
    );
    let child = "CREATE TABLE repo (id INTEGER PRIMARY KEY, provider_id INTEGER DEFAULT 2 REFERENCES provider(id) ON DELETE {action});";
    for (action, verb) in [
        ("CASCADE", "would delete 1 row(s) of repo"),
        (
            "SET NULL",
            "would set to NULL the foreign key of 1 row(s) of repo",
        ),
        (
            "SET DEFAULT",
            "would set to its default the foreign key of 1 row(s) of repo",
        ),
    ] {
        let child = child.replace("{action}", action);
        let run = |second: String| -> TestResult<(Connection, Result<(), MigrateError>)> {
            let mut conn = host_database()?;
            let migrator =
                Migrator::new(vec![parent.clone(), Migration::new(2, "second", second)])?;
            let outcome = migrator.run(&mut conn).map(|_| ());
            Ok((conn, outcome))
        };
        // A row pointing at the parent: refused, nothing lost.
        let (conn, outcome) = run(format!(
            "{child}\nINSERT INTO repo VALUES (10, 1);\nDROP TABLE provider;"
        ))?;
        let error = outcome.unwrap_err();
        assert!(
            matches!(&error, MigrateError::DropWouldChangeRows { table, child, line: 3, .. } if table == "provider" && child == "repo"),
            "{action}: {error:?}"
        );
        assert!(error.to_string().contains(verb), "{action}: {error}");
        assert_eq!(count(&conn, "provider")?, 2, "{action}");
        assert_eq!(applied(&conn)?, [1], "{action}");
        // Only rows that point at no parent: nothing changes, the drop runs.
        let (conn, outcome) = run(format!(
            "{child}\nINSERT INTO repo VALUES (10, NULL);\nDROP TABLE provider;"
        ))?;
        outcome?;
        assert_eq!(count(&conn, "repo")?, 1, "{action}");
        // The children go first, then the parent: nothing refers to it any more.
        let (conn, outcome) = run(format!(
            "{child}\nINSERT INTO repo VALUES (10, 1);\nDROP TABLE repo;\nDROP TABLE provider;"
        ))?;
        outcome?;
        assert_eq!(applied(&conn)?, [1, 2], "{action}");
    }
    Ok(())
}

#[test]
fn a_rebuild_with_foreign_keys_off_or_an_allowed_loss_is_not_the_guards_business() -> TestResult {
    let first = Migration::new(
        1,
        "schema",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);
         INSERT INTO parent VALUES (1, 'a'); INSERT INTO child VALUES (1, 1);",
    );
    let rebuild = "CREATE TABLE new_parent (id INTEGER PRIMARY KEY, name TEXT, extra TEXT);
         INSERT INTO new_parent (id, name) SELECT id, name FROM parent;
         DROP TABLE parent;
         ALTER TABLE new_parent RENAME TO parent;";
    let mut conn = database()?;
    Migrator::new(vec![
        first.clone(),
        Migration::new(2, "rebuild", format!("-- foreign-keys: off\n{rebuild}")),
    ])?
    .run(&mut conn)?;
    assert_eq!(
        count(&conn, "child")?,
        1,
        "foreign keys off: nothing cascades"
    );

    let mut conn = database()?;
    Migrator::new(vec![
        first,
        Migration::new(
            2,
            "rebuild, losing the children on purpose",
            format!("-- pipeline-store: allow drop-referenced-table\n{rebuild}"),
        ),
    ])?
    .run(&mut conn)?;
    assert_eq!(count(&conn, "child")?, 0, "the author allowed it");
    Ok(())
}

#[test]
fn a_no_transaction_migration_stops_at_a_drop_that_would_cascade() -> TestResult {
    let mut conn = host_database()?;
    let migrator = Migrator::new(vec![
        Migration::new(
            1,
            "schema",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY); INSERT INTO parent VALUES (1);",
        ),
        Migration::new(
            2,
            "outside",
            "-- no-transaction\nCREATE TABLE other (x);\nCREATE TABLE late_child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);\nINSERT INTO late_child VALUES (1, 1);\nDROP TABLE parent;",
        ),
    ])?;
    let error = migrator.run(&mut conn).unwrap_err();
    assert!(
        matches!(&error, MigrateError::DropWouldChangeRows { line: 5, child, rows: 1, .. } if child == "late_child"),
        "{error:?}"
    );
    assert_eq!(count(&conn, "parent")?, 1);
    assert_eq!(count(&conn, "late_child")?, 1, "it stopped before the drop");
    Ok(())
}

#[test]
fn a_foreign_key_that_names_no_parent_column_is_followed_to_the_parents_primary_key() -> TestResult
{
    let mut conn = host_database()?;
    let migrator = Migrator::new(vec![
        Migration::new(
            1,
            "parent",
            "CREATE TABLE parent (code TEXT PRIMARY KEY); INSERT INTO parent VALUES ('a'), ('b');",
        ),
        Migration::new(
            2,
            "child then drop",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, code TEXT REFERENCES parent ON DELETE CASCADE);\nINSERT INTO child VALUES (1, 'a'), (2, NULL);\nDROP TABLE parent;",
        ),
    ])?;
    let error = migrator.run(&mut conn).unwrap_err();
    assert!(
        matches!(
            &error,
            MigrateError::DropWouldChangeRows {
                rows: 1,
                line: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(count(&conn, "parent")?, 2);
    Ok(())
}

/// A parent with two children whose key cascades, then a migration that drops the parent.
fn dropping_a_referenced_parent() -> TestResult<Migrator> {
    Ok(Migrator::new(vec![
        Migration::new(
            1,
            "parent and child",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);
             INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1), (2, 1);",
        ),
        Migration::new(2, "vendor drop", "DROP TABLE parent;"),
        Migration::new(3, "later", "CREATE TABLE later (x);"),
    ])?)
}

#[test]
fn a_migrator_allowance_lets_a_third_party_file_run_without_editing_it() -> TestResult {
    // Refused as it is, by the linter.
    let mut conn = database()?;
    let refused = dropping_a_referenced_parent()?.run(&mut conn).unwrap_err();
    assert!(
        matches!(&refused, MigrateError::Lint { findings }
            if findings.iter().any(|f| f.rule == "drop-referenced-table" && f.version == 2)),
        "{refused}"
    );
    // Allowed for another version only: still refused.
    let mut conn = database()?;
    let elsewhere = dropping_a_referenced_parent()?
        .allow("drop-referenced-table", Some(3))?
        .run(&mut conn)
        .unwrap_err();
    assert!(
        matches!(&elsewhere, MigrateError::Lint { .. }),
        "{elsewhere}"
    );
    // Allowed for its version: the linter reports it as allowed, and the guard stands down
    // too, as for the in-file escape (the author accepted the cascade).
    let migrator = dropping_a_referenced_parent()?.allow("drop-referenced-table", Some(2))?;
    let findings = migrator.lint()?;
    assert!(
        findings
            .iter()
            .any(|f| f.rule == "drop-referenced-table" && f.allowed),
        "{findings:?}"
    );
    assert!(findings.iter().all(|f| f.allowed), "{findings:?}");
    assert!(
        findings
            .iter()
            .any(|f| f.to_string().ends_with(" (allowed)")),
        "{findings:?}"
    );
    let mut conn = database()?;
    migrator.run(&mut conn)?;
    assert_eq!(applied(&conn)?, [1, 2, 3]);
    assert_eq!(count(&conn, "child")?, 0);
    // The whole set, without a version.
    let mut conn = database()?;
    dropping_a_referenced_parent()?
        .allow("drop-referenced-table", None)?
        .run(&mut conn)?;
    assert_eq!(applied(&conn)?, [1, 2, 3]);
    // The checksums are the files'.
    assert_eq!(
        dropping_a_referenced_parent()?.migrations()[1].checksum(),
        migrator.migrations()[1].checksum()
    );
    Ok(())
}

#[test]
fn an_allowance_names_a_rule_and_a_version_of_the_set() -> TestResult {
    let unknown_rule = dropping_a_referenced_parent()?
        .allow("drop-table", None)
        .unwrap_err();
    assert!(
        matches!(&unknown_rule, MigrateError::UnknownRule { rule } if rule == "drop-table"),
        "{unknown_rule}"
    );
    assert!(unknown_rule.to_string().contains("drop-referenced-table"));
    let unknown_version = dropping_a_referenced_parent()?
        .allow("drop-referenced-table", Some(9))
        .unwrap_err();
    assert!(
        matches!(
            &unknown_version,
            MigrateError::UnknownVersion { version: 9 }
        ),
        "{unknown_version}"
    );
    Ok(())
}
