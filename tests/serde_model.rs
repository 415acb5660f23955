//! The `serde` feature: the model serializes as documented and reads back equal.

use std::time::Duration;

use pipeline_store::initialize_database;
use pipeline_store::model::{
    NewPipeline, NewStage, Pipeline, ProcessingMetrics, StageType, Timestamp,
};
use pipeline_store::repo::pipelines;
use serde_json::Value;

use crate::common::TestResult;

#[test]
fn a_pipeline_round_trips_through_json() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let mut run = ProcessingMetrics::default();
    run.processing_duration = Some(Duration::from_millis(1_500));
    run.start_time = Some(Timestamp::parse("2025-01-15T02:00:00.123456Z")?);
    run.compression_ratio = Some(0.42);
    let stored = pipelines::create(
        &conn,
        &NewPipeline::new("serialized")
            .stage(NewStage::new("zip", StageType::Compression, "zstd").parameter("level", "9"))
            .stage(NewStage::new("mine", StageType::parse("Custom"), "plugin"))
            .config("max_workers", "4")
            .tag("nightly")
            .metrics(run),
    )?;
    let json = serde_json::to_value(&stored)?;
    assert_eq!(json["name"], "serialized");
    assert_eq!(json["id"], stored.id.as_str());
    assert!(
        json["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{json}"
    );
    assert_eq!(json["stages"][0]["stage_type"], "compression");
    assert_eq!(json["stages"][1]["stage_type"], "Custom");
    assert_eq!(json["stages"][0]["parameters"]["level"], "9");
    assert_eq!(json["metrics"]["processing_duration_ms"], 1_500);
    assert_eq!(json["metrics"]["start_time"], "2025-01-15T02:00:00.123456Z");
    assert_eq!(json["tags"], serde_json::json!(["nightly"]));
    let back: Pipeline = serde_json::from_value(json)?;
    assert_eq!(back, stored);
    Ok(())
}

#[test]
fn what_the_model_refuses_is_refused_when_read() -> TestResult {
    let stage = |stage_type: &str, id: &str| -> Value {
        serde_json::json!({
            "id": id, "pipeline_id": "p", "name": "s", "stage_type": stage_type, "algorithm": "a",
            "enabled": true, "order": 0, "parallel_processing": false, "chunk_size": null,
            "parameters": {}, "archived": false,
            "created_at": "2025-01-01T01:00:00+01:00", "updated_at": "2025-01-01T00:00:00Z"
        })
    };
    let read: pipeline_store::model::Stage = serde_json::from_value(stage("Pass-Through", "s1"))?;
    assert_eq!(
        read.stage_type,
        StageType::PassThrough,
        "a known name is never Other"
    );
    assert_eq!(
        read.created_at, read.updated_at,
        "any RFC 3339 form, in UTC"
    );
    assert!(
        serde_json::from_value::<pipeline_store::model::Stage>(stage("checksum", "")).is_err(),
        "empty id"
    );
    let mut bad_time = stage("checksum", "s2");
    bad_time["created_at"] = Value::from("yesterday");
    assert!(serde_json::from_value::<pipeline_store::model::Stage>(bad_time).is_err());
    Ok(())
}

/// The report types a program may pass on (the command prints them as they serialize): every
/// field under its documented name, a step's time in nanoseconds, an object kind as its text.
#[test]
fn the_reports_serialize_with_the_documented_fields() -> TestResult {
    use pipeline_store::migrate::{Migration, Migrator};
    use pipeline_store::repo::pipelines::ListQuery;
    use pipeline_store::rusqlite::Connection;

    let keys = |value: &Value| -> Vec<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let migrator = Migrator::new(vec![
        Migration::new(1, "create", "CREATE TABLE t (x INTEGER);"),
        Migration::new(2, "careless", "BEGIN;\nCREATE TABLE u (x);\nCOMMIT;"),
    ])?;
    let mut conn = Connection::open_in_memory()?;
    let pending = serde_json::to_value(migrator.pending(&conn)?)?;
    assert_eq!(pending[1]["file"], "2_careless.sql");
    assert_eq!(keys(&pending[1]), ["description", "file", "version"]);
    let findings = serde_json::to_value(migrator.lint()?)?;
    assert_eq!(findings[0]["rule"], "transaction-control");
    assert_eq!(findings[0]["line"], 1);
    assert_eq!(
        keys(&findings[0]),
        [
            "allowed", "file", "fix", "line", "message", "rule", "version", "why"
        ]
    );
    let one = Migrator::new(migrator.migrations()[..1].to_vec())?;
    let report = one.run(&mut conn)?;
    let applied = serde_json::to_value(&report.applied[0])?;
    assert_eq!(
        keys(&applied),
        ["description", "execution_time_ns", "version"]
    );
    assert_eq!(
        applied["execution_time_ns"].as_u64(),
        u64::try_from(report.applied[0].elapsed.as_nanos()).ok()
    );
    conn.execute_batch("CREATE INDEX by_hand ON t(x);")?;
    let drift = serde_json::to_value(pipeline_store::schema::drift(&conn, &one)?)?;
    assert_eq!(
        drift,
        serde_json::json!([{
            "kind": "index", "object": "by_hand", "property": "unexpected",
            "expected": null, "found": "t(x)"
        }])
    );
    let repaired = serde_json::to_value(one.repair(
        &mut conn,
        &pipeline_store::migrate::Repair::new().forget_missing(),
    )?)?;
    assert_eq!(
        repaired,
        serde_json::json!({"checksums_rewritten": [], "marked_applied": [], "forgotten": []})
    );
    let validated = serde_json::to_value(one.validate()?)?;
    assert_eq!(
        validated,
        serde_json::json!({"reversible": [], "irreversible": [1]})
    );

    let db = initialize_database(":memory:")?;
    let created = pipelines::create(&db, &NewPipeline::new("listed").tag("t"))?;
    let listed = serde_json::to_value(pipelines::list(&db, &ListQuery::all())?)?;
    assert_eq!(
        listed,
        serde_json::json!([{
            "id": created.id.as_str(), "name": "listed", "archived": false, "stage_count": 0,
            "created_at": created.created_at.to_string(),
            "updated_at": created.updated_at.to_string()
        }])
    );
    let derived = serde_json::to_value(pipeline_store::schema::repair_derived(&db)?)?;
    assert_eq!(
        derived,
        serde_json::json!({"copies_rewritten": 0, "trigger_created": false})
    );
    Ok(())
}
