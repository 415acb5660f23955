//! Schema drift: the live schema against the one its applied migrations build, and `validate`
//! comparing schemas rather than text.

use pipeline_store::migrate::{Difference, MigrateError, Migration, Migrator, ObjectKind};
use pipeline_store::rusqlite::{Connection, params};
use pipeline_store::{initialize_database, schema};

use crate::common::{TempDb, TestResult, statements_run, write_migrations};

/// The tables and indexes as the original application's initial migration wrote them (its file
/// differs from ours in layout and comments, so its checksum does too).
const ORIGINAL_INITIAL: &str = "
CREATE TABLE IF NOT EXISTS pipelines (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    archived BOOLEAN NOT NULL DEFAULT false,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pipeline_stages (
    id TEXT PRIMARY KEY,
    pipeline_id TEXT NOT NULL,
    name TEXT NOT NULL,
    stage_type TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    stage_order INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    parallel_processing BOOLEAN NOT NULL DEFAULT FALSE,
    chunk_size INTEGER,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    FOREIGN KEY (pipeline_id) REFERENCES pipelines(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS pipeline_configuration (
    pipeline_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (pipeline_id, key),
    FOREIGN KEY (pipeline_id) REFERENCES pipelines(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS stage_parameters (
    stage_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (stage_id, key),
    FOREIGN KEY (stage_id) REFERENCES pipeline_stages(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS processing_metrics (
    pipeline_id TEXT PRIMARY KEY,
    bytes_processed INTEGER NOT NULL DEFAULT 0,
    bytes_total INTEGER NOT NULL DEFAULT 0,
    chunks_processed INTEGER NOT NULL DEFAULT 0,
    chunks_total INTEGER NOT NULL DEFAULT 0,
    start_time_rfc3339 TEXT,
    end_time_rfc3339 TEXT,
    processing_duration_ms INTEGER,
    throughput_bytes_per_second REAL NOT NULL DEFAULT 0.0,
    compression_ratio REAL,
    error_count INTEGER NOT NULL DEFAULT 0,
    warning_count INTEGER NOT NULL DEFAULT 0,
    input_file_size_bytes INTEGER NOT NULL DEFAULT 0,
    output_file_size_bytes INTEGER NOT NULL DEFAULT 0,
    input_file_checksum TEXT,
    output_file_checksum TEXT,
    FOREIGN KEY (pipeline_id) REFERENCES pipelines(id) ON DELETE CASCADE
);
CREATE INDEX idx_pipeline_stages_order
ON pipeline_stages(pipeline_id, stage_order);
CREATE INDEX idx_pipeline_stages_pipeline_id
ON pipeline_stages(pipeline_id);
CREATE INDEX idx_pipeline_configuration_pipeline_id
ON pipeline_configuration(pipeline_id);
CREATE INDEX idx_stage_parameters_stage_id
ON stage_parameters(stage_id);
CREATE INDEX idx_pipelines_name
ON pipelines(name) WHERE archived = false;
";

const ORIGINAL_SHA384: &str = "a2619f4f47a4af7c8c2867a644018ad1e5bb33bd0196c549e254ac6c4d7581c4ff4497536b0f6d13aa20f35a49f4192d";

#[test]
fn a_database_of_the_original_application_shows_no_drift() -> TestResult {
    let db = TempDb::new()?;
    {
        let conn = Connection::open(&db.path)?;
        conn.execute_batch(ORIGINAL_INITIAL)?;
        conn.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);",
        )?;
        let checksum: Vec<u8> = (0..ORIGINAL_SHA384.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&ORIGINAL_SHA384[i..i + 2], 16))
            .collect::<Result<_, _>>()?;
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (20250101000000, 'initial schema', TRUE, ?1, 1000)",
            params![checksum],
        )?;
        assert_eq!(
            schema::drift(&conn, schema::migrator())?,
            Vec::new(),
            "before the upgrade"
        );
    }
    let conn = initialize_database(&db.url())?;
    assert_eq!(
        schema::drift(&conn, schema::migrator())?,
        Vec::new(),
        "after it"
    );
    assert!(schema::check(&conn)?.is_ok());
    Ok(())
}

/// The one difference `change` makes to a freshly migrated database.
fn one_difference(change: &str) -> TestResult<Difference> {
    let db = TempDb::new()?;
    drop(initialize_database(&db.url())?);
    Connection::open(&db.path)?.execute_batch(change)?;
    let conn = initialize_database(&db.url())?;
    let drift = schema::drift(&conn, schema::migrator())?;
    assert_eq!(drift.len(), 1, "{change}: {drift:#?}");
    let report = schema::check(&conn)?;
    assert!(!report.is_ok());
    assert_eq!(report.drift, drift);
    Ok(drift.into_iter().next().ok_or("one")?)
}

/// The trigger of `tag_pages_in_name_order`, which a rebuild of either table creates again.
macro_rules! copy_trigger {
    () => {
        "CREATE TRIGGER pipelines_copy_to_tags AFTER UPDATE OF name, archived ON pipelines
         WHEN NEW.name IS NOT OLD.name OR NEW.archived IS NOT OLD.archived
         BEGIN UPDATE pipeline_tags SET pipeline_name = NEW.name, pipeline_archived = NEW.archived
               WHERE pipeline_id = NEW.id; END;"
    };
}

/// The end of a rebuild of `pipeline_tags` into `tags_new`: copy, swap, indexes, trigger.
macro_rules! tags_rebuild_tail {
    () => {
        concat!(
            "INSERT INTO tags_new SELECT * FROM pipeline_tags;
             DROP TABLE pipeline_tags;
             ALTER TABLE tags_new RENAME TO pipeline_tags;
             CREATE INDEX idx_pipeline_tags_tag ON pipeline_tags(tag);
             CREATE INDEX idx_pipeline_tags_tag_status_name
                 ON pipeline_tags(tag, pipeline_archived, pipeline_name);
             CREATE INDEX idx_pipeline_tags_tag_name ON pipeline_tags(tag, pipeline_name);",
            copy_trigger!()
        )
    };
}

#[test]
fn each_kind_of_difference_is_reported_once_with_its_object_and_property() -> TestResult {
    let cases: &[(&str, ObjectKind, &str, &str)] = &[
        ("CREATE INDEX by_hand ON pipelines(updated_at);", ObjectKind::Index, "by_hand", "unexpected"),
        ("DROP INDEX idx_pipeline_tags_tag;", ObjectKind::Index, "idx_pipeline_tags_tag", "missing"),
        (
            "DROP INDEX idx_pipeline_stages_order; CREATE INDEX idx_pipeline_stages_order ON pipeline_stages(stage_order, pipeline_id);",
            ObjectKind::Index,
            "idx_pipeline_stages_order",
            "columns",
        ),
        (
            "DROP INDEX idx_pipelines_name; CREATE INDEX idx_pipelines_name ON pipelines(name) WHERE archived = 0 AND name <> '';",
            ObjectKind::Index,
            "idx_pipelines_name",
            "where",
        ),
        (
            "DROP INDEX idx_pipeline_tags_tag; CREATE UNIQUE INDEX idx_pipeline_tags_tag ON pipeline_tags(tag);",
            ObjectKind::Index,
            "idx_pipeline_tags_tag",
            "unique",
        ),
        ("ALTER TABLE pipelines ADD COLUMN owner TEXT;", ObjectKind::Column, "pipelines.owner", "unexpected"),
        (
            concat!("PRAGMA foreign_keys = OFF;
             CREATE TABLE p_new (id TEXT PRIMARY KEY, name TEXT NOT NULL, archived BOOLEAN NOT NULL DEFAULT false,
                                 created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
             INSERT INTO p_new SELECT * FROM pipelines;
             DROP TABLE pipelines;
             ALTER TABLE p_new RENAME TO pipelines;
             CREATE INDEX idx_pipelines_name ON pipelines(name) WHERE archived = false;
             CREATE INDEX idx_pipelines_archived_name ON pipelines(name) WHERE archived = true;
             ",
            copy_trigger!()),
            ObjectKind::Unique,
            "pipelines(name)",
            "missing",
        ),
        ("CREATE TABLE notes (x);", ObjectKind::Table, "notes", "unexpected"),
        (
            "CREATE TRIGGER touch AFTER UPDATE ON pipelines BEGIN SELECT 1; END;",
            ObjectKind::Trigger,
            "touch",
            "unexpected",
        ),
        ("CREATE VIEW active AS SELECT * FROM pipelines WHERE archived = 0;", ObjectKind::View, "active", "unexpected"),
        (
            concat!("PRAGMA foreign_keys = OFF;
             DROP TRIGGER pipelines_copy_to_tags;
             CREATE TABLE tags_new (pipeline_id TEXT NOT NULL, tag TEXT NOT NULL, created_at TEXT NOT NULL,
                                    pipeline_name TEXT NOT NULL DEFAULT '',
                                    pipeline_archived BOOLEAN NOT NULL DEFAULT FALSE,
                                    PRIMARY KEY (pipeline_id, tag));",
            tags_rebuild_tail!()),
            ObjectKind::ForeignKey,
            "pipeline_tags: (pipeline_id) -> pipelines(id) ON UPDATE NO ACTION ON DELETE CASCADE",
            "missing",
        ),
        (
            concat!("PRAGMA foreign_keys = OFF;
             DROP TRIGGER pipelines_copy_to_tags;
             CREATE TABLE tags_new (pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
                                    tag TEXT, created_at TEXT NOT NULL,
                                    pipeline_name TEXT NOT NULL DEFAULT '',
                                    pipeline_archived BOOLEAN NOT NULL DEFAULT FALSE,
                                    PRIMARY KEY (pipeline_id, tag));",
            tags_rebuild_tail!()),
            ObjectKind::Column,
            "pipeline_tags.tag",
            "not null",
        ),
    ];
    for (change, kind, object, property) in cases {
        let found = one_difference(change)?;
        assert_eq!(
            (found.kind, found.object.as_str(), found.property),
            (*kind, *object, *property),
            "{change}"
        );
        assert!(!found.to_string().is_empty());
    }
    Ok(())
}

/// `count` migrations after the embedded ones, each creating a table with an index.
fn with_extra(count: i64) -> TestResult<Migrator> {
    let mut all = schema::migrator().migrations().to_vec();
    for i in 1..=count {
        all.push(Migration::new(
            20_990_000_000_000 + i,
            format!("extra {i}"),
            format!(
                "CREATE TABLE extra_{i} (id INTEGER PRIMARY KEY, value TEXT NOT NULL DEFAULT '', owner TEXT REFERENCES pipelines(id));\n\
                 CREATE INDEX idx_extra_{i} ON extra_{i}(value);"
            ),
        ));
    }
    Ok(Migrator::new(all)?)
}

/// What keeps drift quick on a long history, counted instead of timed: the live database is
/// read a fixed number of statements per schema object, and its history once, however many
/// migrations it has (the replay runs on a database of its own, one batch per migration).
#[test]
fn drift_on_a_long_history_reads_each_object_once_and_the_history_once() -> TestResult {
    let statements = |extra: i64| -> TestResult<Vec<String>> {
        let migrator = with_extra(extra)?;
        let db = TempDb::new()?;
        let (mut conn, _) = schema::OpenOptions::new().open_with_migrator(&db.url(), &migrator)?;
        let seen = statements_run(&mut conn, |conn| {
            assert_eq!(schema::drift(conn, &migrator)?, Vec::new());
            Ok(())
        })?;
        // Statements as run, without the `-- PRAGMA` each table-valued pragma traces inside.
        Ok(seen
            .into_iter()
            .filter(|sql| !sql.starts_with("--"))
            .collect())
    };
    let short = statements(0)?;
    let long = statements(200)?;
    let history = |seen: &[String]| {
        seen.iter()
            .filter(|sql| sql.contains("_sqlx_migrations"))
            .count()
    };
    assert_eq!(history(&long), history(&short), "{long:#?}");
    assert!(history(&short) >= 1, "the history is read: {short:#?}");
    // Each extra migration adds a table (its columns, unique constraints and foreign keys) and
    // an index (its columns): four statements, none of them on the history.
    assert_eq!(
        long.len() - short.len(),
        200 * 4,
        "{:#?}",
        &long[short.len()..]
    );
    Ok(())
}

#[test]
fn validate_compares_schemas_not_text() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_migrations(
        dir.path(),
        &[
            ("1_create_t.sql", "CREATE TABLE t (x);"),
            ("2_rename.up.sql", "ALTER TABLE t RENAME TO u;"),
            ("2_rename.down.sql", "ALTER TABLE u RENAME TO t;"),
            (
                "3_parent.sql",
                "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TABLE child (parent INTEGER REFERENCES parent(id) ON DELETE CASCADE);",
            ),
            (
                "4_rebuild.up.sql",
                "-- foreign-keys: off\nCREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT, note TEXT);\n\
                 INSERT INTO parent_new (id, name) SELECT id, name FROM parent;\nDROP TABLE parent;\n\
                 ALTER TABLE parent_new RENAME TO parent;",
            ),
            (
                "4_rebuild.down.sql",
                "-- foreign-keys: off\nCREATE TABLE parent_old (id INTEGER PRIMARY KEY, name TEXT);\n\
                 INSERT INTO parent_old SELECT id, name FROM parent;\nDROP TABLE parent;\n\
                 ALTER TABLE parent_old RENAME TO parent;",
            ),
        ],
    )?;
    let report = Migrator::from_dir(dir.path())?.validate()?;
    assert_eq!(report.reversible, [2, 4]);

    let lossy = tempfile::tempdir()?;
    write_migrations(
        lossy.path(),
        &[
            ("1_create.sql", "CREATE TABLE t (x, y);"),
            ("2_add.up.sql", "ALTER TABLE t ADD COLUMN z TEXT;"),
            ("3_drop.up.sql", "ALTER TABLE t DROP COLUMN y;"),
            ("3_drop.down.sql", "SELECT 1;"),
        ],
    )?;
    let error = Migrator::from_dir(lossy.path())?
        .validate()
        .expect_err("a down script that does not restore the column");
    assert!(
        matches!(&error, MigrateError::ValidationFailed { version: 3, .. }),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn litestreams_own_tables_are_not_drift() -> TestResult {
    let conn = initialize_database(":memory:")?;
    // What Litestream keeps in a database it replicates.
    conn.execute_batch(
        "CREATE TABLE _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER);
         CREATE TABLE _litestream_lock (id INTEGER);",
    )?;
    assert_eq!(schema::drift(&conn, schema::migrator())?, Vec::new());
    Ok(())
}
