//! The schema as the spec describes it: tables column for column, indexes, foreign keys.

use pipeline_store::initialize_database;
use pipeline_store::rusqlite::Connection;

use crate::common::TestResult;

/// `(name, declared type, not null, default, primary-key position)` per column.
type Column = (&'static str, &'static str, bool, Option<&'static str>, i64);

/// The same, as read from `pragma_table_info`.
type ColumnInfo = (String, String, bool, Option<String>, i64);

fn columns(conn: &Connection, table: &str) -> TestResult<Vec<ColumnInfo>> {
    let mut statement =
        conn.prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")?;
    let rows = statement
        .query_map([table], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn assert_columns(conn: &Connection, table: &str, expected: &[Column]) -> TestResult {
    let actual = columns(conn, table)?;
    let expected: Vec<_> = expected
        .iter()
        .map(|&(n, t, nn, d, pk)| (n.to_owned(), t.to_owned(), nn, d.map(str::to_owned), pk))
        .collect();
    assert_eq!(actual, expected, "columns of {table}");
    Ok(())
}

#[test]
fn tables_match_the_spec_column_for_column() -> TestResult {
    let conn = initialize_database(":memory:")?;
    assert_columns(
        &conn,
        "pipelines",
        &[
            ("id", "TEXT", false, None, 1),
            ("name", "TEXT", true, None, 0),
            ("archived", "BOOLEAN", true, Some("false"), 0),
            ("created_at", "TEXT", true, None, 0),
            ("updated_at", "TEXT", true, None, 0),
        ],
    )?;
    assert_columns(
        &conn,
        "pipeline_stages",
        &[
            ("id", "TEXT", false, None, 1),
            ("pipeline_id", "TEXT", true, None, 0),
            ("name", "TEXT", true, None, 0),
            ("stage_type", "TEXT", true, None, 0),
            ("enabled", "BOOLEAN", true, Some("TRUE"), 0),
            ("stage_order", "INTEGER", true, None, 0),
            ("algorithm", "TEXT", true, None, 0),
            ("parallel_processing", "BOOLEAN", true, Some("FALSE"), 0),
            ("chunk_size", "INTEGER", false, None, 0),
            ("archived", "BOOLEAN", true, Some("FALSE"), 0),
            ("created_at", "TEXT", true, None, 0),
            ("updated_at", "TEXT", true, None, 0),
        ],
    )?;
    for (table, owner) in [
        ("pipeline_configuration", "pipeline_id"),
        ("stage_parameters", "stage_id"),
    ] {
        assert_columns(
            &conn,
            table,
            &[
                (owner, "TEXT", true, None, 1),
                ("key", "TEXT", true, None, 2),
                ("value", "TEXT", true, None, 0),
                ("archived", "BOOLEAN", true, Some("FALSE"), 0),
                ("created_at", "TEXT", true, None, 0),
                ("updated_at", "TEXT", true, None, 0),
            ],
        )?;
    }
    assert_columns(
        &conn,
        "processing_metrics",
        &[
            ("pipeline_id", "TEXT", false, None, 1),
            ("bytes_processed", "INTEGER", true, Some("0"), 0),
            ("bytes_total", "INTEGER", true, Some("0"), 0),
            ("chunks_processed", "INTEGER", true, Some("0"), 0),
            ("chunks_total", "INTEGER", true, Some("0"), 0),
            ("start_time_rfc3339", "TEXT", false, None, 0),
            ("end_time_rfc3339", "TEXT", false, None, 0),
            ("processing_duration_ms", "INTEGER", false, None, 0),
            ("throughput_bytes_per_second", "REAL", true, Some("0.0"), 0),
            ("compression_ratio", "REAL", false, None, 0),
            ("error_count", "INTEGER", true, Some("0"), 0),
            ("warning_count", "INTEGER", true, Some("0"), 0),
            ("input_file_size_bytes", "INTEGER", true, Some("0"), 0),
            ("output_file_size_bytes", "INTEGER", true, Some("0"), 0),
            ("input_file_checksum", "TEXT", false, None, 0),
            ("output_file_checksum", "TEXT", false, None, 0),
        ],
    )?;
    Ok(())
}

#[test]
fn names_are_unique() -> TestResult {
    let conn = initialize_database(":memory:")?;
    conn.execute(
        "INSERT INTO pipelines (id, name, created_at, updated_at) VALUES ('a', 'same', 't', 't')",
        [],
    )?;
    let error = conn
        .execute("INSERT INTO pipelines (id, name, created_at, updated_at) VALUES ('b', 'same', 't', 't')", [])
        .expect_err("unique name");
    assert_eq!(
        pipeline_store::ConstraintKind::of(&error),
        Some(pipeline_store::ConstraintKind::Unique)
    );
    Ok(())
}

#[test]
fn foreign_keys_cascade_on_delete() -> TestResult {
    let conn = initialize_database(":memory:")?;
    for (table, from, parent, to) in [
        ("pipeline_stages", "pipeline_id", "pipelines", "id"),
        ("pipeline_configuration", "pipeline_id", "pipelines", "id"),
        ("stage_parameters", "stage_id", "pipeline_stages", "id"),
        ("processing_metrics", "pipeline_id", "pipelines", "id"),
    ] {
        let keys: Vec<(String, String, String, String)> = conn
            .prepare(
                "SELECT \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?1)",
            )?
            .query_map([table], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            keys,
            [(
                parent.to_owned(),
                from.to_owned(),
                to.to_owned(),
                "CASCADE".to_owned()
            )],
            "foreign keys of {table}"
        );
    }
    Ok(())
}

#[test]
fn the_five_indexes_exist_with_their_columns() -> TestResult {
    let conn = initialize_database(":memory:")?;
    for (index, table, columns, partial) in [
        (
            "idx_pipeline_stages_order",
            "pipeline_stages",
            "pipeline_id,stage_order",
            false,
        ),
        (
            "idx_pipeline_stages_pipeline_id",
            "pipeline_stages",
            "pipeline_id",
            false,
        ),
        (
            "idx_pipeline_configuration_pipeline_id",
            "pipeline_configuration",
            "pipeline_id",
            false,
        ),
        (
            "idx_stage_parameters_stage_id",
            "stage_parameters",
            "stage_id",
            false,
        ),
        ("idx_pipelines_name", "pipelines", "name", true),
    ] {
        let found: (String, bool) = conn.query_row(
            "SELECT tbl_name, sql LIKE '%WHERE archived = false' FROM sqlite_master WHERE type = 'index' AND name = ?1",
            [index],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!(found, (table.to_owned(), partial), "{index}");
        let indexed: Vec<String> = conn
            .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?
            .query_map([index], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(indexed.join(","), columns, "{index}");
    }
    Ok(())
}

/// The plan SQLite picks for `sql`, one line per step.
fn plan(conn: &pipeline_store::rusqlite::Connection, sql: &str) -> TestResult<String> {
    let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let details: Vec<String> = statement
        .query_map([], |r| r.get(3))?
        .collect::<Result<_, _>>()?;
    Ok(details.join(" / "))
}

#[test]
fn each_status_has_a_name_index_holding_only_its_rows() -> TestResult {
    let conn = initialize_database(":memory:")?;
    // A page in name order: the UNIQUE index on name could serve it too, by skipping the other
    // status's rows one by one. Only the partial indexes read nothing but the status's rows.
    for (archived, index) in [
        ("false", "idx_pipelines_name"),
        ("true", "idx_pipelines_archived_name"),
    ] {
        let plan = plan(
            &conn,
            &format!(
                "SELECT id FROM pipelines WHERE archived = {archived} AND name > '' ORDER BY name"
            ),
        )?;
        assert!(plan.contains(&format!("USING INDEX {index} ")), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
    let partial: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'pipelines' \
             AND sql LIKE '%WHERE%' ORDER BY name",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(partial.len(), 2, "{partial:?}");
    Ok(())
}

#[test]
fn the_initial_migration_is_idempotent_sql() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let sql = pipeline_store::schema::migrator().migrations()[0].sql();
    conn.execute_batch(sql)?;
    conn.execute_batch(sql)?;
    Ok(())
}
