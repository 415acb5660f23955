//! Stages, configuration, parameters, metrics and tags.

use std::collections::BTreeMap;
use std::time::Duration;

use pipeline_store::model::{
    NewPipeline, NewStage, PipelineId, ProcessingMetrics, StageId, StageType,
};
use pipeline_store::repo::pipelines::{self, ListQuery};
use pipeline_store::repo::{config, metrics, parameters, stages, tags};
use pipeline_store::rusqlite::Connection;
use pipeline_store::{Error, initialize_database};

use crate::common::TestResult;

fn with_stages(conn: &Connection, names: &[&str]) -> TestResult<PipelineId> {
    let new = names.iter().fold(NewPipeline::new("staged"), |p, name| {
        p.stage(NewStage::new(*name, StageType::Transform, "noop"))
    });
    Ok(pipelines::create(conn, &new)?.id)
}

fn order(conn: &Connection, id: &PipelineId) -> TestResult<Vec<(String, u32)>> {
    Ok(stages::list(conn, id)?
        .into_iter()
        .map(|s| (s.name, s.order))
        .collect())
}

fn pairs(names: &[&str]) -> Vec<(String, u32)> {
    (0..)
        .zip(names)
        .map(|(i, n)| ((*n).to_owned(), i))
        .collect()
}

#[test]
fn adding_at_a_position_shifts_the_rest() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &["a", "b", "c"])?;
    stages::add(
        &conn,
        &id,
        &NewStage::new("first", StageType::Checksum, "sha256"),
        Some(0),
    )?;
    stages::add(
        &conn,
        &id,
        &NewStage::new("middle", StageType::Checksum, "sha256"),
        Some(2),
    )?;
    stages::add(
        &conn,
        &id,
        &NewStage::new("last", StageType::Checksum, "sha256"),
        None,
    )?;
    stages::add(
        &conn,
        &id,
        &NewStage::new("past-end", StageType::Checksum, "sha256"),
        Some(99),
    )?;
    assert_eq!(
        order(&conn, &id)?,
        pairs(&["first", "a", "middle", "b", "c", "last", "past-end"])
    );
    let missing = stages::add(
        &conn,
        &PipelineId::new(),
        &NewStage::new("x", StageType::Checksum, "y"),
        None,
    );
    assert!(matches!(
        missing,
        Err(Error::NotFound {
            entity: "pipeline",
            ..
        })
    ));
    Ok(())
}

#[test]
fn removing_closes_the_gap() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &["a", "b", "c", "d"])?;
    let b = stages::list(&conn, &id)?[1].id.clone();
    parameters::set(&conn, &b, "level", "3")?;
    stages::remove(&conn, &b)?;
    assert_eq!(order(&conn, &id)?, pairs(&["a", "c", "d"]));
    let left: i64 = conn.query_row("SELECT count(*) FROM stage_parameters", [], |r| r.get(0))?;
    assert_eq!(left, 0, "its parameters went with it");
    assert!(matches!(
        stages::remove(&conn, &b),
        Err(Error::NotFound {
            entity: "stage",
            ..
        })
    ));
    Ok(())
}

#[test]
fn reorder_takes_exactly_a_permutation() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &["a", "b", "c"])?;
    let ids: Vec<StageId> = stages::list(&conn, &id)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    stages::reorder(
        &conn,
        &id,
        &[ids[2].clone(), ids[0].clone(), ids[1].clone()],
    )?;
    assert_eq!(order(&conn, &id)?, pairs(&["c", "a", "b"]));
    for bad in [
        vec![ids[0].clone(), ids[1].clone()],
        vec![ids[0].clone(), ids[0].clone(), ids[1].clone()],
        vec![ids[0].clone(), ids[1].clone(), StageId::new()],
        vec![
            ids[0].clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[2].clone(),
        ],
    ] {
        match stages::reorder(&conn, &id, &bad) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "stage_ids"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }
    assert_eq!(
        order(&conn, &id)?,
        pairs(&["c", "a", "b"]),
        "refusals changed nothing"
    );
    Ok(())
}

#[test]
fn stage_update_and_enable_write_what_changed() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &["a", "b"])?;
    let mut a = stages::list(&conn, &id)?.remove(0);
    let before = a.clone();
    std::thread::sleep(Duration::from_millis(2));
    a.algorithm = "zstd".into();
    a.stage_type = StageType::Compression;
    a.chunk_size = Some(65_536);
    a.parallel_processing = true;
    a.parameters = BTreeMap::from([("level".to_owned(), "19".to_owned())]);
    let updated = stages::update(&conn, &a)?;
    assert_eq!(stages::get(&conn, &a.id)?.as_ref(), Some(&updated));
    assert_eq!(updated.algorithm, "zstd");
    assert_eq!(updated.chunk_size, Some(65_536));
    assert_eq!(updated.parameters["level"], "19");
    assert_eq!(updated.created_at, before.created_at);
    assert!(updated.updated_at > before.updated_at);

    let mut clash = updated.clone();
    clash.order = 1;
    let error = stages::update(&conn, &clash).expect_err("order taken");
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "order"),
        "{error}"
    );
    assert_eq!(
        stages::get(&conn, &a.id)?.as_ref(),
        Some(&updated),
        "the refused update wrote nothing"
    );

    stages::set_enabled(&conn, &a.id, false)?;
    assert!(!stages::get(&conn, &a.id)?.ok_or("exists")?.enabled);
    assert!(matches!(
        stages::set_enabled(&conn, &StageId::new(), true),
        Err(Error::NotFound { .. })
    ));
    let mut ghost = updated;
    ghost.id = StageId::new();
    assert!(matches!(
        stages::update(&conn, &ghost),
        Err(Error::NotFound {
            entity: "stage",
            ..
        })
    ));
    assert!(matches!(
        stages::list(&conn, &PipelineId::new()),
        Err(Error::NotFound { .. })
    ));
    Ok(())
}

#[test]
fn configuration_and_parameters_upsert_keep_created_at() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &["a"])?;
    let stage = stages::list(&conn, &id)?.remove(0).id;
    let times = |sql: &str, owner: &str| -> TestResult<(String, String)> {
        Ok(conn.query_row(sql, [owner], |r| Ok((r.get(0)?, r.get(1)?)))?)
    };
    config::set(&conn, &id, "max_workers", "4")?;
    parameters::set(&conn, &stage, "level", "3")?;
    let config_first = times(
        "SELECT created_at, updated_at FROM pipeline_configuration WHERE pipeline_id = ?1",
        id.as_str(),
    )?;
    let param_first = times(
        "SELECT created_at, updated_at FROM stage_parameters WHERE stage_id = ?1",
        stage.as_str(),
    )?;
    std::thread::sleep(Duration::from_millis(2));
    config::set(&conn, &id, "max_workers", "8")?;
    parameters::set(&conn, &stage, "level", "9")?;
    let config_second = times(
        "SELECT created_at, updated_at FROM pipeline_configuration WHERE pipeline_id = ?1",
        id.as_str(),
    )?;
    let param_second = times(
        "SELECT created_at, updated_at FROM stage_parameters WHERE stage_id = ?1",
        stage.as_str(),
    )?;
    assert_eq!(config_second.0, config_first.0, "created_at kept");
    assert!(config_second.1 > config_first.1, "updated_at bumped");
    assert_eq!(param_second.0, param_first.0);
    assert!(param_second.1 > param_first.1);
    assert_eq!(
        config::get(&conn, &id, "max_workers")?.as_deref(),
        Some("8")
    );
    assert_eq!(
        parameters::get(&conn, &stage, "level")?.as_deref(),
        Some("9")
    );
    assert_eq!(config::get(&conn, &id, "absent")?, None);

    let wanted = BTreeMap::from([
        ("a".to_owned(), "1".to_owned()),
        ("b".to_owned(), "2".to_owned()),
    ]);
    config::replace_all(&conn, &id, &wanted)?;
    assert_eq!(config::list(&conn, &id)?, wanted);
    parameters::replace_all(&conn, &stage, &wanted)?;
    assert_eq!(parameters::list(&conn, &stage)?, wanted);
    let bad = BTreeMap::from([
        ("ok".to_owned(), "1".to_owned()),
        (String::new(), "2".to_owned()),
    ]);
    assert!(matches!(
        config::replace_all(&conn, &id, &bad),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(
        config::list(&conn, &id)?,
        wanted,
        "a refused replace wrote nothing"
    );

    config::remove(&conn, &id, "a")?;
    assert!(matches!(
        config::remove(&conn, &id, "a"),
        Err(Error::NotFound {
            entity: "configuration entry",
            ..
        })
    ));
    assert!(matches!(
        parameters::remove(&conn, &stage, "zz"),
        Err(Error::NotFound {
            entity: "parameter",
            ..
        })
    ));
    assert!(matches!(
        config::set(&conn, &PipelineId::new(), "k", "v"),
        Err(Error::NotFound {
            entity: "pipeline",
            ..
        })
    ));
    assert!(matches!(
        parameters::set(&conn, &StageId::new(), "k", "v"),
        Err(Error::NotFound {
            entity: "stage",
            ..
        })
    ));
    assert!(matches!(
        config::set(&conn, &id, "", "v"),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        config::list(&conn, &PipelineId::new()),
        Err(Error::NotFound { .. })
    ));
    Ok(())
}

#[test]
fn entries_set_on_an_archived_pipeline_are_archived_with_it() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &["a"])?;
    pipelines::archive(&conn, &id)?;
    config::set(&conn, &id, "late", "1")?;
    let stage = stages::add(
        &conn,
        &id,
        &NewStage::new("late", StageType::Checksum, "crc32"),
        None,
    )?;
    assert!(stage.archived);
    pipelines::restore(&conn, &id)?;
    let archived: i64 = conn.query_row(
        "SELECT (SELECT max(archived) FROM pipeline_configuration) + (SELECT max(archived) FROM pipeline_stages)",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(archived, 0, "restore brought them back too");
    assert_eq!(pipelines::find_by_config(&conn, "late", "1")?.len(), 1);
    Ok(())
}

fn full_metrics() -> ProcessingMetrics {
    let mut m = ProcessingMetrics::default();
    m.bytes_processed = 10;
    m.bytes_total = 20;
    m.chunks_processed = 1;
    m.chunks_total = 2;
    m.start_time = Some(
        pipeline_store::model::Timestamp::parse("2025-06-01T12:00:00.123456Z").expect("rfc3339"),
    );
    m.end_time =
        Some(pipeline_store::model::Timestamp::parse("2025-06-01T12:00:01Z").expect("rfc3339"));
    m.processing_duration = Some(Duration::from_millis(877));
    m.throughput_bytes_per_second = 11.4;
    m.compression_ratio = Some(0.5);
    m.error_count = 2;
    m.warning_count = 4;
    m.input_file_size_bytes = 20;
    m.output_file_size_bytes = 10;
    m.input_file_checksum = Some("in".into());
    m.output_file_checksum = Some("out".into());
    m
}

#[test]
fn metrics_are_recorded_in_every_column_and_upserted() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &[])?;
    assert_eq!(metrics::get(&conn, &id)?, None);
    metrics::record(&conn, &id, &full_metrics())?;
    assert_eq!(metrics::get(&conn, &id)?, Some(full_metrics()));
    let mut second = ProcessingMetrics::default();
    second.bytes_total = 99;
    metrics::record(&conn, &id, &second)?;
    assert_eq!(
        metrics::get(&conn, &id)?,
        Some(second),
        "every column replaced, none kept"
    );
    let rows: i64 = conn.query_row("SELECT count(*) FROM processing_metrics", [], |r| r.get(0))?;
    assert_eq!(rows, 1);
    metrics::clear(&conn, &id)?;
    assert_eq!(metrics::get(&conn, &id)?, None);
    assert!(matches!(
        metrics::record(&conn, &PipelineId::new(), &full_metrics()),
        Err(Error::NotFound { .. })
    ));
    Ok(())
}

#[test]
fn metrics_beyond_sqlite_integers_are_refused_not_wrapped() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &[])?;
    let mut huge = full_metrics();
    huge.bytes_total = u64::MAX;
    match metrics::record(&conn, &id, &huge) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "bytes_total"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    let mut nan = full_metrics();
    nan.throughput_bytes_per_second = f64::NAN;
    assert!(matches!(
        metrics::record(&conn, &id, &nan),
        Err(Error::InvalidInput { .. })
    ));
    let mut edge = full_metrics();
    edge.bytes_total = i64::MAX as u64;
    metrics::record(&conn, &id, &edge)?;
    assert_eq!(
        metrics::get(&conn, &id)?.ok_or("recorded")?.bytes_total,
        i64::MAX as u64
    );
    assert!(matches!(
        metrics::update_progress(&conn, &id, u64::MAX, 1),
        Err(Error::InvalidInput { .. })
    ));
    Ok(())
}

#[test]
fn progress_recomputes_throughput() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let id = with_stages(&conn, &[])?;
    metrics::update_progress(&conn, &id, 0, 0)?;
    let started = metrics::get(&conn, &id)?.ok_or("started")?;
    assert!(
        started.start_time.is_some(),
        "the first progress report starts the run"
    );
    std::thread::sleep(Duration::from_millis(50));
    metrics::update_progress(&conn, &id, 5_000_000, 5)?;
    let now = metrics::get(&conn, &id)?.ok_or("recorded")?;
    assert_eq!((now.bytes_processed, now.chunks_processed), (5_000_000, 5));
    let elapsed = now.processing_duration.ok_or("duration")?;
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    let expected = 5_000_000.0 / elapsed.as_secs_f64();
    assert!(now.throughput_bytes_per_second > 0.0);
    assert!(
        (now.throughput_bytes_per_second - expected).abs() / expected < 0.05,
        "{now:?}"
    );
    assert_eq!(now.start_time, started.start_time);
    assert!(matches!(
        metrics::update_progress(&conn, &PipelineId::new(), 1, 1),
        Err(Error::NotFound { .. })
    ));
    Ok(())
}

#[test]
fn tags_are_added_listed_removed_and_filter_lists() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let a = pipelines::create(&conn, &NewPipeline::new("alpha"))?.id;
    let b = pipelines::create(&conn, &NewPipeline::new("bravo"))?.id;
    tags::add(&conn, &a, "nightly")?;
    tags::add(&conn, &a, "nightly")?;
    tags::add(&conn, &a, "secure")?;
    tags::add(&conn, &b, "nightly")?;
    assert_eq!(
        tags::list(&conn, &a)?.into_iter().collect::<Vec<_>>(),
        ["nightly", "secure"]
    );
    let nightly: Vec<String> = pipelines::list(&conn, &ListQuery::active().tag("nightly"))?
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(nightly, ["alpha", "bravo"]);
    tags::remove(&conn, &a, "nightly")?;
    assert!(matches!(
        tags::remove(&conn, &a, "nightly"),
        Err(Error::NotFound { entity: "tag", .. })
    ));
    assert_eq!(
        pipelines::list(&conn, &ListQuery::active().tag("nightly"))?.len(),
        1
    );
    assert!(matches!(
        tags::add(&conn, &PipelineId::new(), "x"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        tags::add(&conn, &a, ""),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        tags::add(&conn, &a, "bad\ntag"),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        tags::list(&conn, &PipelineId::new()),
        Err(Error::NotFound { .. })
    ));
    Ok(())
}
