//! Every public function that takes text refuses empty, oversized and control-character input
//! with `InvalidInput` naming the field, before writing anything.

use pipeline_store::model::{
    NewPipeline, NewStage, PipelineId, ProcessingMetrics, StageId, StageType,
    normalize_pipeline_name,
};
use pipeline_store::repo::pipelines::{self, Status};
use pipeline_store::repo::{config, metrics, parameters, stages, tags};
use pipeline_store::{Error, initialize_database};

use crate::common::TestResult;

fn field_of<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::InvalidInput { field, reason }) => {
            assert!(!reason.is_empty());
            field
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn bad_text_is_refused_with_the_field_named() -> TestResult {
    let conn = initialize_database(":memory:")?;
    let p = pipelines::create(
        &conn,
        &NewPipeline::new("target").stage(NewStage::new("s", StageType::Checksum, "crc32")),
    )?;
    let stage = p.stages[0].id.clone();
    let long = "n".repeat(256);
    let snapshot = |conn: &pipeline_store::rusqlite::Connection| -> TestResult<String> {
        Ok(format!("{:?}", pipelines::get(conn, &p.id)?))
    };
    let before = snapshot(&conn)?;

    for bad in [
        "",
        " \t ",
        long.as_str(),
        "bell\u{7}",
        "line\nbreak",
        "nul\0",
    ] {
        assert_eq!(
            field_of(pipelines::create(&conn, &NewPipeline::new(bad))),
            "name",
            "{bad:?}"
        );
        assert_eq!(
            field_of(pipelines::rename(&conn, &p.id, bad)),
            "name",
            "{bad:?}"
        );
        assert_eq!(field_of(tags::add(&conn, &p.id, bad)), "tag", "{bad:?}");
    }
    for bad in ["", "  ", "tab\there", "nul\0"] {
        let by_name = NewStage::new(bad, StageType::Checksum, "crc32");
        assert_eq!(
            field_of(stages::add(&conn, &p.id, &by_name, None)),
            "stage.name",
            "{bad:?}"
        );
        let by_algorithm = NewStage::new("s2", StageType::Checksum, bad);
        assert_eq!(
            field_of(stages::add(&conn, &p.id, &by_algorithm, None)),
            "stage.algorithm",
            "{bad:?}"
        );
        let by_type = NewStage::new("s3", StageType::parse(bad), "crc32");
        assert_eq!(
            field_of(stages::add(&conn, &p.id, &by_type, None)),
            "stage.stage_type",
            "{bad:?}"
        );
    }
    let zero_chunk = NewStage::new("s", StageType::Checksum, "crc32").chunk_size(0);
    assert_eq!(
        field_of(stages::add(&conn, &p.id, &zero_chunk, None)),
        "stage.chunk_size"
    );
    assert_eq!(field_of(config::set(&conn, &p.id, "", "v")), "key");
    assert_eq!(field_of(parameters::set(&conn, &stage, "", "v")), "key");
    let mut huge = ProcessingMetrics::default();
    huge.error_count = u64::MAX;
    assert_eq!(
        field_of(metrics::record(&conn, &p.id, &huge)),
        "error_count"
    );
    assert_eq!(
        field_of(metrics::update_progress(&conn, &p.id, u64::MAX, 0)),
        "bytes"
    );
    assert_eq!(
        field_of(metrics::update_progress(&conn, &p.id, 0, u64::MAX)),
        "chunks"
    );
    let mut stored = pipelines::get(&conn, &p.id)?.ok_or("exists")?;
    stored.stages[0].name = String::new();
    assert_eq!(
        field_of(stages::update(&conn, &stored.stages[0])),
        "stage.name"
    );
    assert_eq!(
        field_of(pipelines::update(&conn, &stored)),
        "stages[0].name"
    );
    assert_eq!(field_of(PipelineId::parse("")), "pipeline_id");
    assert_eq!(field_of(StageId::parse("")), "stage_id");
    assert_eq!(field_of(normalize_pipeline_name("a!")), "name");

    assert_eq!(snapshot(&conn)?, before, "nothing was written");
    assert_eq!(pipelines::count(&conn, Status::All)?, 1);
    Ok(())
}
