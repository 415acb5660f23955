//! What `create` and `update` return is what `get` reads; what `get` reads, `update` accepts
//! unchanged; an update that changes nothing writes nothing.

use std::time::Duration;

use pipeline_store::Error;
use pipeline_store::initialize_database;
use pipeline_store::model::{
    NewPipeline, NewStage, Pipeline, ProcessingMetrics, StageType, Timestamp,
};
use pipeline_store::repo::{pipelines, stages};
use pipeline_store::rusqlite::Connection;

use crate::common::TestResult;

fn three_stages(conn: &Connection, name: &str) -> TestResult<Pipeline> {
    Ok(pipelines::create(
        conn,
        &NewPipeline::new(name)
            .stage(NewStage::new("a", StageType::Checksum, "sha256"))
            .stage(NewStage::new("b", StageType::Compression, "zstd").parameter("level", "3"))
            .stage(NewStage::new("c", StageType::Encryption, "aes256gcm")),
    )?)
}

fn orders(conn: &Connection, p: &Pipeline) -> TestResult<Vec<(String, u32)>> {
    Ok(stages::list(conn, &p.id)?
        .into_iter()
        .map(|s| (s.name, s.order))
        .collect())
}

/// Every row inserted, updated or deleted on the connection so far.
fn changes(conn: &Connection) -> u64 {
    conn.total_changes()
}

#[test]
fn a_stage_added_after_a_gap_goes_after_the_highest_order() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let p = three_stages(&conn, "gaps")?;
    // Orders 0, 2, 3: a gap, as `stages::update` or another tool can leave.
    let mut c = p.stages[2].clone();
    c.order = 3;
    stages::update(&conn, &c)?;
    let mut b = p.stages[1].clone();
    b.order = 2;
    stages::update(&conn, &b)?;
    assert_eq!(
        orders(&conn, &p)?,
        [("a".into(), 0), ("b".into(), 2), ("c".into(), 3)]
    );

    let d = stages::add(
        &conn,
        &p.id,
        &NewStage::new("d", StageType::Transform, "x"),
        None,
    )?;
    assert_eq!(
        d.order, 4,
        "after the highest order, not at the stage count"
    );
    let past = stages::add(
        &conn,
        &p.id,
        &NewStage::new("e", StageType::Transform, "x"),
        Some(99),
    )?;
    assert_eq!(past.order, 5, "a position past the end is the end");
    let inside = stages::add(
        &conn,
        &p.id,
        &NewStage::new("f", StageType::Transform, "x"),
        Some(1),
    )?;
    assert_eq!(inside.order, 1);
    let all = orders(&conn, &p)?;
    let mut unique: Vec<u32> = all.iter().map(|(_, o)| *o).collect();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "orders stay unique: {all:?}");
    assert_eq!(
        all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["a", "f", "b", "c", "d", "e"]
    );

    // Whatever `get` returns, `update` accepts unchanged.
    let loaded = pipelines::get(&conn, &p.id)?.ok_or("exists")?;
    assert_eq!(pipelines::update(&conn, &loaded)?, loaded);

    // Removing keeps orders unique too.
    stages::remove(&conn, &inside.id)?;
    let after_remove = orders(&conn, &p)?;
    let mut unique: Vec<u32> = after_remove.iter().map(|(_, o)| *o).collect();
    unique.dedup();
    assert_eq!(unique.len(), after_remove.len(), "{after_remove:?}");
    Ok(())
}

#[test]
fn orders_shared_in_a_database_written_elsewhere_are_accepted_as_they_are() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let p = three_stages(&conn, "shared-orders")?;
    conn.execute(
        "UPDATE pipeline_stages SET stage_order = 7 WHERE pipeline_id = ?1",
        [&p.id],
    )?;
    let loaded = pipelines::get(&conn, &p.id)?.ok_or("exists")?;
    assert_eq!(pipelines::update(&conn, &loaded)?, loaded);
    let mut renamed = loaded.stages[0].clone();
    renamed.name = "renamed".into();
    assert_eq!(stages::update(&conn, &renamed)?.name, "renamed");

    // Moving a stage onto another's order is still refused.
    let fresh = three_stages(&conn, "moved")?;
    let mut moved = fresh.clone();
    moved.stages[2].order = 0;
    let error = pipelines::update(&conn, &moved).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "stages[2].order"),
        "{error}"
    );
    let mut onto = fresh.stages[1].clone();
    onto.order = 0;
    let error = stages::update(&conn, &onto).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "order"),
        "{error}"
    );
    let mut twice = fresh.clone();
    twice.stages.push(fresh.stages[0].clone());
    let error = pipelines::update(&conn, &twice).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "stages[3].id"),
        "{error}"
    );
    assert_eq!(pipelines::get(&conn, &fresh.id)?.ok_or("exists")?, fresh);
    Ok(())
}

#[test]
fn create_and_update_return_exactly_what_get_reads() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let mut run = ProcessingMetrics::default();
    run.processing_duration = Some(Duration::from_micros(1_500));
    run.start_time = Some(Timestamp::parse("2025-01-01T00:00:00.123456789Z")?);
    run.end_time = Some(Timestamp::parse("2025-01-01T00:00:01.999999999+00:00")?);
    run.throughput_bytes_per_second = 1.0 / 3.0;
    run.compression_ratio = Some(0.1);
    let created = pipelines::create(
        &conn,
        &NewPipeline::new("precise")
            .stage(NewStage::new("s", StageType::parse("COMPRESSION"), "zstd"))
            .stage(NewStage::new("t", StageType::parse("Custom"), "zstd"))
            .metrics(run.clone()),
    )?;
    let loaded = pipelines::get(&conn, &created.id)?.ok_or("exists")?;
    assert_eq!(created, loaded);
    let stored = loaded.metrics.clone().ok_or("metrics")?;
    assert_eq!(stored.processing_duration, Some(Duration::from_millis(1)));
    assert_eq!(
        stored.start_time.map(|t| t.to_string()).as_deref(),
        Some("2025-01-01T00:00:00.123456Z")
    );
    assert_eq!(loaded.stages[0].stage_type, StageType::Compression);

    let mut changed = loaded.clone();
    let mut next = run;
    next.processing_duration = Some(Duration::from_nanos(2_999_999));
    changed.metrics = Some(next);
    let updated = pipelines::update(&conn, &changed)?;
    assert_eq!(
        updated,
        pipelines::get(&conn, &created.id)?.ok_or("exists")?
    );
    assert_eq!(
        updated.metrics.and_then(|m| m.processing_duration),
        Some(Duration::from_millis(2))
    );
    Ok(())
}

#[test]
fn an_update_that_changes_nothing_writes_nothing() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let mut run = ProcessingMetrics::default();
    run.processing_duration = Some(Duration::from_micros(2_500));
    let created = pipelines::create(
        &conn,
        &NewPipeline::new("still")
            .stage(NewStage::new("s", StageType::Checksum, "sha256").parameter("k", "v"))
            .config("a", "b")
            .tag("t")
            .metrics(run.clone()),
    )?;
    std::thread::sleep(Duration::from_millis(2));
    let before = changes(&conn);
    let same = pipelines::update(&conn, &created)?;
    assert_eq!(changes(&conn), before, "nothing written");
    assert_eq!(same, created);
    assert_eq!(same.updated_at, created.updated_at);

    // The caller's own metrics, finer than stored, are the same metrics.
    let mut finer = created.clone();
    finer.metrics = Some(run);
    assert_eq!(pipelines::update(&conn, &finer)?, created);
    assert_eq!(changes(&conn), before);

    let stage = created.stages[0].clone();
    assert_eq!(stages::update(&conn, &stage)?, stage);
    assert_eq!(changes(&conn), before, "nor for a stage");

    // One real change moves updated_at.
    let mut renamed = created.clone();
    renamed.configuration.insert("a".into(), "c".into());
    let updated = pipelines::update(&conn, &renamed)?;
    assert!(updated.updated_at > created.updated_at);
    assert!(changes(&conn) > before);
    Ok(())
}

#[test]
fn a_stage_archived_flag_is_never_dropped_silently() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let p = three_stages(&conn, "flags")?;
    let mut stage = p.stages[0].clone();
    stage.archived = true;
    let error = stages::update(&conn, &stage).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "archived"),
        "{error}"
    );
    let mut through_pipeline = p.clone();
    through_pipeline.stages[1].archived = true;
    let error = pipelines::update(&conn, &through_pipeline).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "stages[1].archived"),
        "{error}"
    );
    assert_eq!(pipelines::get(&conn, &p.id)?.ok_or("exists")?, p);

    // Archiving the pipeline through update, with the stages as loaded or as wanted, is fine.
    let mut archived = p.clone();
    archived.archived = true;
    let stored = pipelines::update(&conn, &archived)?;
    assert!(stored.archived && stored.stages.iter().all(|s| s.archived));
    let mut restored = stored.clone();
    restored.archived = false;
    for s in &mut restored.stages {
        s.archived = false;
    }
    let back = pipelines::update(&conn, &restored)?;
    assert!(!back.archived && back.stages.iter().all(|s| !s.archived));
    Ok(())
}
