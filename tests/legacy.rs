//! Rows written the way the original application wrote them, and rows that cannot be decoded.

use pipeline_store::model::{PipelineId, StageType, Timestamp};
use pipeline_store::repo::pipelines::{self, ListQuery};
use pipeline_store::rusqlite::Connection;
use pipeline_store::{Error, initialize_database};

use crate::common::TestResult;

/// Two pipelines as the original application stored them: ULID and `pipeline-123` ids,
/// `+00:00` nanosecond and `Z` whole-second timestamps, `Custom` and capitalised stage types.
fn original_rows(conn: &Connection) -> TestResult {
    conn.execute_batch(
        "INSERT INTO pipelines (id, name, archived, created_at, updated_at) VALUES
             ('01JA6V3M9X8Q2R5T7W0YBCDEFG', 'legacy-backup', 0,
              '2025-01-15T10:30:00.123456789+00:00', '2025-01-15T10:30:00Z'),
             ('pipeline-123', 'legacy-archive', 1, '2024-12-31T23:59:59Z', '2025-01-01T00:00:00+00:00');
         INSERT INTO pipeline_stages (id, pipeline_id, name, stage_type, enabled, stage_order, algorithm,
                                      parallel_processing, chunk_size, archived, created_at, updated_at) VALUES
             ('01JA6V3M9X8Q2R5T7W0YBCDEFH', '01JA6V3M9X8Q2R5T7W0YBCDEFG', 'compression', 'Compression', 1, 0,
              'brotli', 0, 1048576, 0, '2025-01-15T10:30:00.123456789+00:00', '2025-01-15T10:30:00Z'),
             ('01JA6V3M9X8Q2R5T7W0YBCDEFJ', '01JA6V3M9X8Q2R5T7W0YBCDEFG', 'custom-step', 'Custom', 0, 1,
              'my-plugin', 1, NULL, 0, '2025-01-15T10:30:00Z', '2025-01-15T10:30:00Z'),
             ('stage-456', 'pipeline-123', 'encryption', 'ENCRYPTION', 1, 0,
              'aes256gcm', 0, NULL, 1, '2024-12-31T23:59:59Z', '2024-12-31T23:59:59Z');
         INSERT INTO stage_parameters (stage_id, key, value, archived, created_at, updated_at) VALUES
             ('01JA6V3M9X8Q2R5T7W0YBCDEFH', 'compression_level', '9', 0, '2025-01-15T10:30:00Z', '2025-01-15T10:30:00Z');
         INSERT INTO pipeline_configuration (pipeline_id, key, value, archived, created_at, updated_at) VALUES
             ('01JA6V3M9X8Q2R5T7W0YBCDEFG', 'max_workers', '4', 0, '2025-01-15T10:30:00Z', '2025-01-15T10:30:00Z');",
    )?;
    Ok(())
}

#[test]
fn rows_written_by_the_original_application_load() -> TestResult {
    let conn = initialize_database(":memory:")?;
    original_rows(&conn)?;
    let p = pipelines::get(&conn, &PipelineId::parse("01JA6V3M9X8Q2R5T7W0YBCDEFG")?)?
        .ok_or("ulid id loads")?;
    assert_eq!(p.name, "legacy-backup");
    assert_eq!(
        p.created_at,
        Timestamp::parse("2025-01-15T10:30:00.123456789Z")?
    );
    assert_eq!(p.stages.len(), 2);
    assert_eq!(p.stages[0].id.as_str(), "01JA6V3M9X8Q2R5T7W0YBCDEFH");
    assert_eq!(p.stages[0].stage_type, StageType::Compression);
    assert_eq!(p.stages[0].parameters["compression_level"], "9");
    assert_eq!(p.stages[1].stage_type, StageType::parse("Custom"));
    assert!(!p.stages[1].enabled && p.stages[1].parallel_processing);
    assert_eq!(p.configuration["max_workers"], "4");

    let archived = pipelines::find_by_name(&conn, "legacy-archive")?.ok_or("pipeline-123 loads")?;
    assert_eq!(archived.id.as_str(), "pipeline-123");
    assert_eq!(archived.stages[0].stage_type, StageType::Encryption);
    let all = pipelines::list(&conn, &ListQuery::all())?;
    assert_eq!(all.len(), 2, "nothing fails to list");

    // Written back, an unknown stage type keeps its text.
    let updated = pipelines::update(&conn, &p)?;
    assert_eq!(updated.stages[1].stage_type, StageType::parse("Custom"));
    let stored: String = conn.query_row(
        "SELECT stage_type FROM pipeline_stages WHERE id = '01JA6V3M9X8Q2R5T7W0YBCDEFJ'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(stored, "Custom");
    Ok(())
}

#[test]
fn an_undecodable_value_names_table_row_and_column() -> TestResult {
    let conn = initialize_database(":memory:")?;
    original_rows(&conn)?;
    conn.execute(
        "UPDATE pipeline_stages SET updated_at = 'last tuesday' WHERE id = 'stage-456'",
        [],
    )?;
    match pipelines::get(&conn, &PipelineId::parse("pipeline-123")?) {
        Err(Error::InvalidData {
            table, row, column, ..
        }) => {
            assert_eq!(
                (table, row.as_str(), column),
                ("pipeline_stages", "stage-456", "updated_at")
            );
        }
        other => panic!("expected InvalidData, got {other:?}"),
    }
    conn.execute("UPDATE processing_metrics SET bytes_total = -1", [])?;
    conn.execute(
        "INSERT INTO processing_metrics (pipeline_id, bytes_total) VALUES ('01JA6V3M9X8Q2R5T7W0YBCDEFG', -5)",
        [],
    )?;
    let error = pipelines::find_by_name(&conn, "legacy-backup").expect_err("negative count");
    assert!(
        matches!(
            &error,
            Error::InvalidData {
                table: "processing_metrics",
                column: "bytes_total",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("01JA6V3M9X8Q2R5T7W0YBCDEFG"),
        "{error}"
    );
    Ok(())
}
