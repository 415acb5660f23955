//! Unit tests of the repositories' statements: query plans, and every statement run through its
//! caller.

use super::*;

#[test]
fn json_arrays_escape_everything_json_needs() {
    let conn = Connection::open_in_memory().unwrap();
    let ids = [
        "plain",
        "quote\"d",
        "back\\slash",
        "new\nline",
        "nul\0",
        "emoji 🚀",
    ];
    let json = json_array(ids);
    let mut statement = conn.prepare("SELECT value FROM json_each(?1)").unwrap();
    let back: Vec<String> = statement
        .query_map([&json], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(back, ids);
}

#[test]
fn a_failed_savepoint_rollback_keeps_the_original_error() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("BEGIN").unwrap();
    // The closure releases the savepoint itself, so `ROLLBACK TO` has nothing to go back to.
    let error = write(&conn, |conn| -> Result<()> {
        conn.execute_batch("RELEASE pipeline_store")?;
        Err(Error::invalid("name", "the original problem"))
    })
    .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { field, reason } if field == "name" && reason == "the original problem"),
        "{error}"
    );
}

/// Tables that grow with use: a full scan of one of them is a bug.
const GROWING: [&str; 6] = [
    "pipelines",
    "pipeline_stages",
    "pipeline_configuration",
    "stage_parameters",
    "processing_metrics",
    "pipeline_tags",
];

#[test]
fn no_repository_statement_scans_a_growing_table() {
    let conn = crate::initialize_database(":memory:").unwrap();
    let statements = all_statements();
    assert!(statements.len() > 30, "every module lists its statements");
    for (name, sql) in statements {
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let nulls = std::iter::repeat_n(rusqlite::types::Null, statement.parameter_count());
        let details: Vec<String> = statement
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // Pages stop reading after their limit: sorting first would read every row.
        if name.starts_with("pipelines page") {
            assert!(
                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                "{name} sorts: {details:?}"
            );
            // Each status is served by an index that holds only its rows, so a page of
            // archived pipelines never walks past active ones (and the other way round).
            let index = match name {
                "pipelines page active" => "idx_pipelines_name",
                "pipelines page archived" => "idx_pipelines_archived_name",
                "pipelines page all" => "sqlite_autoindex_pipelines_2",
                "pipelines page all tagged" => "idx_pipeline_tags_tag_name",
                // A tagged page of one status: the tag's rows of that status, in name order.
                _ => "idx_pipeline_tags_tag_status_name",
            };
            assert!(
                details
                    .iter()
                    .any(|d| d.contains(&format!("USING INDEX {index} "))),
                "{name} does not use {index}: {details:?}"
            );
        }
        for detail in &details {
            // `SCAN t` without `USING ... INDEX` reads every row of t.
            for table in GROWING {
                let scans =
                    detail.starts_with(&format!("SCAN {table}")) && !detail.contains("USING");
                assert!(!scans, "{name} scans {table}: {details:?}\n{sql}");
            }
        }
    }
}

/// Runs every public repository function, in every mode that picks a different statement,
/// with the parameters its callers really bind; returns the SQL text SQLite ran.
#[expect(clippy::too_many_lines, reason = "one scenario, one call per function")]
fn statements_run_by_the_public_api() -> Vec<String> {
    use crate::model::{NewPipeline, NewStage, ProcessingMetrics, StageType};
    use std::sync::{Arc, Mutex};

    let mut conn = crate::initialize_database(":memory:").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    conn.trace_v2(
        rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
        Some(move |event: rusqlite::trace::TraceEvent<'_>| {
            if let rusqlite::trace::TraceEvent::Stmt(_, sql) = event {
                sink.lock().unwrap().push(sql.to_owned());
            }
        }),
    )
    .unwrap();
    let c = &conn;
    let new = NewPipeline::new("every-statement")
        .stage(NewStage::new("a", StageType::Checksum, "sha256").parameter("k", "v"))
        .stage(NewStage::new("b", StageType::Compression, "zstd"))
        .config("key", "value")
        .tag("nightly")
        .metrics(ProcessingMetrics::default());
    let p = pipelines::create(c, &new).unwrap();
    let taken = pipelines::create(c, &NewPipeline::new("every-statement")).unwrap_err();
    assert!(matches!(taken, Error::NameTaken { .. }), "{taken}");
    pipelines::get(c, &p.id).unwrap().unwrap();
    pipelines::find_by_name(c, "every-statement")
        .unwrap()
        .unwrap();
    assert!(pipelines::exists(c, &p.id).unwrap());
    for status in [
        pipelines::Status::Active,
        pipelines::Status::Archived,
        pipelines::Status::All,
    ] {
        pipelines::count(c, status).unwrap();
        for tag in [None, Some("nightly")] {
            let mut query = pipelines::ListQuery::active();
            query.status = status;
            query.tag = tag.map(str::to_owned);
            pipelines::list(c, &query).unwrap();
            pipelines::list_full(c, &query).unwrap();
        }
    }
    pipelines::find_by_config(c, "key", "value").unwrap();
    pipelines::rename(c, &p.id, "renamed").unwrap();
    let mut changed = pipelines::get(c, &p.id).unwrap().unwrap();
    changed.configuration.insert("other".into(), "x".into());
    let changed = pipelines::update(c, &changed).unwrap();

    let a = &changed.stages[0];
    stages::get(c, &a.id).unwrap().unwrap();
    stages::list(c, &p.id).unwrap();
    let added = stages::add(
        c,
        &p.id,
        &NewStage::new("c", StageType::Transform, "x"),
        Some(0),
    )
    .unwrap();
    let mut moved = stages::get(c, &a.id).unwrap().unwrap();
    moved.order = 10;
    stages::update(c, &moved).unwrap();
    stages::set_enabled(c, &a.id, false).unwrap();
    let mut ids: Vec<_> = stages::list(c, &p.id)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.reverse();
    stages::reorder(c, &p.id, &ids).unwrap();
    stages::remove(c, &added.id).unwrap();

    config::set(c, &p.id, "k2", "v2").unwrap();
    config::get(c, &p.id, "k2").unwrap();
    config::list(c, &p.id).unwrap();
    config::remove(c, &p.id, "k2").unwrap();
    config::set(
        c,
        &crate::model::PipelineId::parse("missing").unwrap(),
        "k",
        "v",
    )
    .unwrap_err();
    parameters::set(c, &a.id, "k2", "v2").unwrap();
    parameters::get(c, &a.id, "k2").unwrap();
    parameters::list(c, &a.id).unwrap();
    parameters::remove(c, &a.id, "k2").unwrap();
    parameters::set(
        c,
        &crate::model::StageId::parse("missing").unwrap(),
        "k",
        "v",
    )
    .unwrap_err();

    metrics::record(c, &p.id, &ProcessingMetrics::default()).unwrap();
    metrics::get(c, &p.id).unwrap();
    metrics::update_progress(c, &p.id, 1, 1).unwrap();
    metrics::clear(c, &p.id).unwrap();

    tags::add(c, &p.id, "weekly").unwrap();
    tags::list(c, &p.id).unwrap();
    tags::remove(c, &p.id, "weekly").unwrap();

    pipelines::archive(c, &p.id).unwrap();
    pipelines::restore(c, &p.id).unwrap();
    pipelines::delete(c, &p.id).unwrap();

    conn.trace_v2(
        rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
        None::<fn(rusqlite::trace::TraceEvent<'_>)>,
    )
    .unwrap();
    seen.lock().unwrap().clone()
}

#[test]
fn every_statement_is_run_by_its_callers_with_their_parameters() {
    // Preparing a statement checks its text; only running it through its caller checks that
    // the caller binds what the text numbers (`?3` with two values bound fails here).
    let seen = statements_run_by_the_public_api();
    let missing: Vec<&str> = all_statements()
        .into_iter()
        .filter(|(_, sql)| !seen.iter().any(|ran| ran == sql))
        .map(|(name, _)| name)
        .collect();
    assert!(
        missing.is_empty(),
        "never run by the public API: {missing:?}"
    );
}
