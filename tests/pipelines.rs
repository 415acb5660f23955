//! The pipeline aggregate: round trips, update, archive and restore, names, pagination,
//! deletes, transactions, hostile input, concurrent writers.

use std::collections::BTreeSet;
use std::time::Duration;

use pipeline_store::model::{
    NewPipeline, NewStage, PipelineId, ProcessingMetrics, StageId, StageType, Timestamp,
};
use pipeline_store::repo::pipelines::{self, ListQuery, Status};
use pipeline_store::repo::{config, stages};
use pipeline_store::rusqlite::Connection;
use pipeline_store::{Error, initialize_database};

use crate::common::{TempDb, TestResult};

/// A pipeline of the original application: checksum, compression, encryption, checksum.
pub fn secure_backup(name: &str) -> NewPipeline {
    let mut metrics = ProcessingMetrics::default();
    metrics.bytes_processed = 1_048_576;
    metrics.bytes_total = 2_097_152;
    metrics.chunks_processed = 16;
    metrics.chunks_total = 32;
    metrics.start_time = Some(Timestamp::parse("2025-01-01T10:00:00Z").expect("rfc3339"));
    metrics.end_time = Some(Timestamp::parse("2025-01-01T10:00:02.5Z").expect("rfc3339"));
    metrics.processing_duration = Some(Duration::from_millis(2500));
    metrics.throughput_bytes_per_second = 419_430.4;
    metrics.compression_ratio = Some(0.42);
    metrics.error_count = 1;
    metrics.warning_count = 3;
    metrics.input_file_size_bytes = 2_097_152;
    metrics.output_file_size_bytes = 880_803;
    metrics.input_file_checksum = Some("sha256:aa".into());
    metrics.output_file_checksum = Some("sha256:bb".into());
    NewPipeline::new(name)
        .stage(NewStage::new(
            "input_checksum",
            StageType::Checksum,
            "sha256",
        ))
        .stage(
            NewStage::new("compression", StageType::Compression, "brotli")
                .parameter("level", "6")
                .parameter("window", "22")
                .parallel(true)
                .chunk_size(1_048_576),
        )
        .stage(
            NewStage::new("encryption", StageType::Encryption, "aes256gcm")
                .parameter("key_size", "256"),
        )
        .stage(
            NewStage::new("output_checksum", StageType::parse("Custom"), "sha256").enabled(false),
        )
        .config("max_workers", "4")
        .config("buffer_size", "1048576")
        .tag("nightly")
        .tag("secure")
        .metrics(metrics)
}

fn memory() -> TestResult<Connection> {
    Ok(initialize_database(":memory:")?)
}

fn count(conn: &Connection, sql: &str) -> TestResult<i64> {
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

#[test]
fn every_field_round_trips() -> TestResult {
    let conn = memory()?;
    let created = pipelines::create(&conn, &secure_backup("secure-backup"))?;
    assert_eq!(created.stages.len(), 4);
    assert_eq!(
        created.stages.iter().map(|s| s.order).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert!(!created.stages[3].enabled);
    assert_eq!(created.stages[3].stage_type, StageType::parse("Custom"));
    assert_eq!(created.stages[1].chunk_size, Some(1_048_576));
    assert!(created.stages[1].parallel_processing);
    assert!(created.metrics.is_some());

    let by_id = pipelines::get(&conn, &created.id)?.ok_or("created")?;
    assert_eq!(by_id, created, "get returns exactly what create wrote");
    let by_name = pipelines::find_by_name(&conn, "secure-backup")?.ok_or("created")?;
    assert_eq!(by_name, created);
    let stored_type: String = conn.query_row(
        "SELECT stage_type FROM pipeline_stages WHERE id = ?1",
        [&created.stages[3].id],
        |r| r.get(0),
    )?;
    assert_eq!(
        stored_type, "Custom",
        "an unknown stage type is written back unchanged"
    );
    let stored_time: String =
        conn.query_row("SELECT created_at FROM pipelines", [], |r| r.get(0))?;
    assert_eq!(stored_time.len(), "2025-01-01T00:00:00.000000Z".len());
    assert!(stored_time.ends_with('Z'));
    Ok(())
}

#[test]
fn ids_are_uuid_v7_and_sort_by_creation() -> TestResult {
    let conn = memory()?;
    let a = pipelines::create(&conn, &NewPipeline::new("first"))?;
    let b = pipelines::create(&conn, &NewPipeline::new("second"))?;
    assert_eq!(a.id.as_str().len(), 36);
    assert_eq!(&a.id.as_str()[14..15], "7", "version nibble");
    assert!(a.id < b.id);
    assert!(matches!(
        PipelineId::parse(""),
        Err(Error::InvalidInput { .. })
    ));
    Ok(())
}

#[test]
fn update_adds_changes_and_removes_stages_and_parameters() -> TestResult {
    let conn = memory()?;
    let created = pipelines::create(&conn, &secure_backup("to-update"))?;
    std::thread::sleep(Duration::from_millis(2));

    let mut wanted = created.clone();
    wanted.name = "updated".into();
    // Remove the input checksum, change compression, keep encryption, add a transform.
    wanted.stages.remove(0);
    wanted.stages[0].algorithm = "zstd".into();
    wanted.stages[0]
        .parameters
        .insert("level".into(), "19".into());
    wanted.stages[0].parameters.remove("window");
    wanted.stages[0]
        .parameters
        .insert("long".into(), "true".into());
    wanted.stages[0].order = 0;
    wanted.stages[1].order = 1;
    wanted.stages[2].order = 3;
    let mut added = created.stages[0].clone();
    added.id = StageId::new();
    added.name = "normalize".into();
    added.stage_type = StageType::Transform;
    added.algorithm = "crlf-to-lf".into();
    added.order = 2;
    added.parameters.insert("mode".into(), "strict".into());
    wanted.stages.push(added.clone());
    wanted
        .configuration
        .insert("max_workers".into(), "8".into());
    wanted.configuration.remove("buffer_size");
    wanted.tags = BTreeSet::from(["weekly".to_owned()]);
    wanted.metrics = None;

    let updated = pipelines::update(&conn, &wanted)?;
    assert_eq!(
        pipelines::get(&conn, &created.id)?.as_ref(),
        Some(&updated),
        "update returns what is stored"
    );
    assert_eq!(updated.name, "updated");
    assert_eq!(
        updated
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.order))
            .collect::<Vec<_>>(),
        [
            ("compression", 0),
            ("encryption", 1),
            ("normalize", 2),
            ("output_checksum", 3)
        ]
    );
    let compression = &updated.stages[0];
    assert_eq!(compression.id, created.stages[1].id, "stage ids are kept");
    assert_eq!(compression.algorithm, "zstd");
    assert_eq!(
        compression
            .parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        [("level", "19"), ("long", "true")]
    );
    assert_eq!(
        compression.created_at, created.stages[1].created_at,
        "created_at kept"
    );
    assert!(
        compression.updated_at > created.stages[1].updated_at,
        "changed stage bumped"
    );
    let encryption = &updated.stages[1];
    assert_eq!(
        (&encryption.id, encryption.order),
        (&created.stages[2].id, 1),
        "moved up"
    );
    assert!(
        encryption.updated_at > created.stages[2].updated_at,
        "an order change is a change"
    );
    assert_eq!(
        updated.stages[3], created.stages[3],
        "an unchanged stage is left alone"
    );
    assert_eq!(
        updated.stages[2].id, added.id,
        "a new stage keeps the id it was given"
    );
    assert_eq!(updated.configuration.len(), 1);
    assert_eq!(updated.configuration["max_workers"], "8");
    assert_eq!(updated.tags, BTreeSet::from(["weekly".to_owned()]));
    assert_eq!(updated.metrics, None);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at > created.updated_at);
    assert_eq!(count(&conn, "SELECT count(*) FROM pipeline_stages")?, 4);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM stage_parameters")?,
        4,
        "level, long, key_size, mode: removed parameters are gone"
    );
    Ok(())
}

#[test]
fn update_refuses_bad_aggregates_and_writes_nothing() -> TestResult {
    let conn = memory()?;
    let created = pipelines::create(&conn, &secure_backup("guarded"))?;
    let other = pipelines::create(&conn, &secure_backup("other"))?;

    let mut duplicate_order = created.clone();
    duplicate_order.stages[1].order = 0;
    duplicate_order.name = "renamed".into();
    let error = pipelines::update(&conn, &duplicate_order).expect_err("duplicate order");
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "stages[1].order"),
        "{error}"
    );

    let mut foreign_stage = created.clone();
    let mut stolen = other.stages[0].clone();
    stolen.pipeline_id = created.id.clone();
    stolen.order = 9;
    foreign_stage.stages.push(stolen);
    foreign_stage.name = "renamed".into();
    let error = pipelines::update(&conn, &foreign_stage).expect_err("another pipeline's stage");
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "stages[4].id"),
        "{error}"
    );

    let mut empty_algorithm = created.clone();
    empty_algorithm.stages[2].algorithm = "  ".into();
    let error = pipelines::update(&conn, &empty_algorithm).expect_err("empty algorithm");
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "stages[2].algorithm"),
        "{error}"
    );

    let mut taken = created.clone();
    taken.name = "other".into();
    assert!(matches!(
        pipelines::update(&conn, &taken),
        Err(Error::NameTaken { .. })
    ));

    let mut missing = created.clone();
    missing.id = PipelineId::new();
    missing.stages.clear();
    assert!(matches!(
        pipelines::update(&conn, &missing),
        Err(Error::NotFound {
            entity: "pipeline",
            ..
        })
    ));

    assert_eq!(
        pipelines::get(&conn, &created.id)?.as_ref(),
        Some(&created),
        "nothing was written"
    );
    assert_eq!(pipelines::get(&conn, &other.id)?.as_ref(), Some(&other));
    Ok(())
}

fn archived_flags(conn: &Connection, id: &PipelineId) -> TestResult<Vec<i64>> {
    let mut flags = Vec::new();
    for sql in [
        "SELECT archived FROM pipelines WHERE id = ?1",
        "SELECT min(archived) FROM pipeline_stages WHERE pipeline_id = ?1",
        "SELECT max(archived) FROM pipeline_stages WHERE pipeline_id = ?1",
        "SELECT min(archived) FROM stage_parameters WHERE stage_id IN (SELECT id FROM pipeline_stages WHERE pipeline_id = ?1)",
        "SELECT max(archived) FROM stage_parameters WHERE stage_id IN (SELECT id FROM pipeline_stages WHERE pipeline_id = ?1)",
        "SELECT min(archived) FROM pipeline_configuration WHERE pipeline_id = ?1",
        "SELECT max(archived) FROM pipeline_configuration WHERE pipeline_id = ?1",
    ] {
        flags.push(conn.query_row(sql, [id], |r| r.get(0))?);
    }
    Ok(flags)
}

#[test]
fn archive_cascades_and_restore_brings_everything_back() -> TestResult {
    let conn = memory()?;
    let p = pipelines::create(&conn, &secure_backup("archivable"))?;
    pipelines::archive(&conn, &p.id)?;
    assert_eq!(
        archived_flags(&conn, &p.id)?,
        [1; 7],
        "every child archived"
    );
    assert!(pipelines::find_by_config(&conn, "max_workers", "4")?.is_empty());
    assert!(pipelines::list(&conn, &ListQuery::active())?.is_empty());
    assert_eq!(pipelines::list(&conn, &ListQuery::archived())?.len(), 1);
    let archived = pipelines::get(&conn, &p.id)?.ok_or("still there")?;
    assert!(archived.archived && archived.stages.iter().all(|s| s.archived));
    assert_eq!(pipelines::count(&conn, Status::Archived)?, 1);
    assert_eq!(pipelines::count(&conn, Status::Active)?, 0);

    pipelines::restore(&conn, &p.id)?;
    assert_eq!(
        archived_flags(&conn, &p.id)?,
        [0; 7],
        "every child restored"
    );
    let found = pipelines::find_by_config(&conn, "max_workers", "4")?;
    assert_eq!(found.len(), 1, "restored configuration is found again");
    assert_eq!(found[0].id, p.id);
    assert!(!found[0].archived && found[0].stages.iter().all(|s| !s.archived));
    assert_eq!(pipelines::count(&conn, Status::All)?, 1);

    assert!(matches!(
        pipelines::archive(&conn, &PipelineId::new()),
        Err(Error::NotFound { .. })
    ));
    Ok(())
}

#[test]
fn names_are_unique_even_when_archived() -> TestResult {
    let conn = memory()?;
    let first = pipelines::create(&conn, &NewPipeline::new("reports"))?;
    match pipelines::create(&conn, &NewPipeline::new("reports")) {
        Err(Error::NameTaken {
            name,
            archived: false,
        }) => assert_eq!(name, "reports"),
        other => panic!("expected NameTaken, got {other:?}"),
    }
    pipelines::archive(&conn, &first.id)?;
    let error =
        pipelines::create(&conn, &NewPipeline::new("reports")).expect_err("archived holder");
    assert!(
        matches!(error, Error::NameTaken { archived: true, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("archived") && error.to_string().contains("delete"),
        "{error}"
    );

    let second = pipelines::create(&conn, &NewPipeline::new("reports-2"))?;
    assert!(matches!(
        pipelines::rename(&conn, &second.id, "reports"),
        Err(Error::NameTaken { .. })
    ));
    pipelines::rename(&conn, &first.id, "reports-old")?;
    pipelines::rename(&conn, &second.id, "reports")?;
    pipelines::delete(&conn, &first.id)?;
    pipelines::create(&conn, &NewPipeline::new("reports-old"))?;
    assert!(matches!(
        pipelines::rename(&conn, &PipelineId::new(), "anything"),
        Err(Error::NotFound {
            entity: "pipeline",
            ..
        })
    ));
    Ok(())
}

#[test]
fn names_are_validated_with_the_field_named() -> TestResult {
    let conn = memory()?;
    for bad in ["", "   ", "tab\there", "nul\0byte", &"x".repeat(256)] {
        match pipelines::create(&conn, &NewPipeline::new(bad)) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "name", "{bad:?}"),
            other => panic!("{bad:?}: expected InvalidInput, got {other:?}"),
        }
    }
    pipelines::create(&conn, &NewPipeline::new("x".repeat(255)))?;
    pipelines::create(&conn, &NewPipeline::new("ünïcödé 🚀 names"))?;
    let cases: [(NewStage, &str); 4] = [
        (
            NewStage::new("", StageType::Checksum, "sha256"),
            "stages[0].name",
        ),
        (
            NewStage::new("c", StageType::Checksum, ""),
            "stages[0].algorithm",
        ),
        (
            NewStage::new("c", StageType::Checksum, "sha256").chunk_size(0),
            "stages[0].chunk_size",
        ),
        (
            NewStage::new("c", StageType::Checksum, "sha256").chunk_size(u64::MAX),
            "stages[0].chunk_size",
        ),
    ];
    for (stage, field) in cases {
        match pipelines::create(&conn, &NewPipeline::new("staged").stage(stage)) {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected InvalidInput, got {other:?}"),
        }
    }
    let error = pipelines::create(&conn, &NewPipeline::new("keyed").config("", "v"))
        .expect_err("empty key");
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    let error =
        pipelines::create(&conn, &NewPipeline::new("tagged").tag("")).expect_err("empty tag");
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "tag"),
        "{error}"
    );
    assert_eq!(
        pipelines::count(&conn, Status::All)?,
        2,
        "refused creations wrote nothing"
    );
    Ok(())
}

#[test]
fn keyset_pagination_visits_every_pipeline_once() -> TestResult {
    let conn = memory()?;
    let tx = conn.unchecked_transaction()?;
    for i in 0..1000 {
        let mut new = NewPipeline::new(format!("pipeline-{:04}", (i * 7919) % 1000))
            .stage(NewStage::new("c", StageType::Compression, "zstd"));
        if i % 3 == 0 {
            new = new.tag("third");
        }
        pipelines::create(&tx, &new)?;
    }
    tx.commit()?;
    for (query, expected) in [
        (ListQuery::active(), 1000),
        (ListQuery::active().tag("third"), 334),
    ] {
        let mut seen = Vec::new();
        let mut page = query.clone().limit(37);
        loop {
            let items = pipelines::list(&conn, &page)?;
            assert!(items.iter().all(|s| s.stage_count == 1));
            let Some(last) = items.last() else { break };
            page = page.after(last.name.clone());
            seen.extend(items.into_iter().map(|s| s.name));
        }
        assert_eq!(seen.len(), expected, "no gap");
        let distinct: BTreeSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), expected, "no duplicate");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered by name");
    }
    let full = pipelines::list_full(&conn, &ListQuery::active().limit(50))?;
    assert_eq!(full.len(), 50);
    assert!(full.iter().all(|p| p.stages.len() == 1));
    Ok(())
}

#[test]
fn hard_delete_leaves_no_orphan() -> TestResult {
    let conn = memory()?;
    let gone = pipelines::create(&conn, &secure_backup("to-delete"))?;
    let kept = pipelines::create(&conn, &secure_backup("to-keep"))?;
    pipelines::delete(&conn, &gone.id)?;
    assert!(pipelines::get(&conn, &gone.id)?.is_none());
    assert!(matches!(
        pipelines::delete(&conn, &gone.id),
        Err(Error::NotFound { .. })
    ));
    for (table, expected) in [
        ("pipelines", 1),
        ("pipeline_stages", 4),
        ("stage_parameters", 3),
        ("pipeline_configuration", 2),
        ("processing_metrics", 1),
        ("pipeline_tags", 2),
    ] {
        assert_eq!(
            count(&conn, &format!("SELECT count(*) FROM {table}"))?,
            expected,
            "{table}"
        );
    }
    for (table, column, parent) in [
        ("pipeline_stages", "pipeline_id", "SELECT id FROM pipelines"),
        (
            "stage_parameters",
            "stage_id",
            "SELECT id FROM pipeline_stages",
        ),
        (
            "pipeline_configuration",
            "pipeline_id",
            "SELECT id FROM pipelines",
        ),
        (
            "processing_metrics",
            "pipeline_id",
            "SELECT id FROM pipelines",
        ),
        ("pipeline_tags", "pipeline_id", "SELECT id FROM pipelines"),
    ] {
        let orphans = count(
            &conn,
            &format!("SELECT count(*) FROM {table} WHERE {column} NOT IN ({parent})"),
        )?;
        assert_eq!(orphans, 0, "{table}");
    }
    let violations = conn
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |_| Ok(()))?
        .count();
    assert_eq!(violations, 0);
    assert_eq!(pipelines::get(&conn, &kept.id)?.as_ref(), Some(&kept));
    Ok(())
}

#[test]
fn writes_inside_a_rolled_back_caller_transaction_leave_nothing() -> TestResult {
    let mut conn = memory()?;
    let kept = pipelines::create(&conn, &secure_backup("kept"))?;
    {
        let tx = conn.transaction()?;
        let p = pipelines::create(&tx, &secure_backup("temporary"))?;
        stages::add(
            &tx,
            &p.id,
            &NewStage::new("extra", StageType::Transform, "noop"),
            None,
        )?;
        config::set(&tx, &kept.id, "max_workers", "99")?;
        pipelines::archive(&tx, &kept.id)?;
        pipelines::rename(&tx, &kept.id, "renamed")?;
        pipelines::delete(&tx, &p.id)?;
        tx.rollback()?;
    }
    assert_eq!(pipelines::count(&conn, Status::All)?, 1);
    assert_eq!(
        pipelines::get(&conn, &kept.id)?.as_ref(),
        Some(&kept),
        "kept is as it was"
    );
    Ok(())
}

#[test]
fn a_failing_write_inside_a_caller_transaction_undoes_only_itself() -> TestResult {
    let mut conn = memory()?;
    let tx = conn.transaction()?;
    let first = pipelines::create(&tx, &secure_backup("first"))?;
    let helper = pipelines::create(&tx, &secure_backup("helper"))?;
    let error = pipelines::create(&tx, &NewPipeline::new("first")).expect_err("duplicate");
    assert!(matches!(error, Error::NameTaken { .. }));
    // Passes validation, renames the pipeline, then fails on a stage of another pipeline:
    // the savepoint must undo the rename and keep the caller's transaction usable.
    let mut bad = first.clone();
    bad.name = "renamed-but-refused".into();
    let mut stolen = helper.stages[0].clone();
    stolen.pipeline_id = first.id.clone();
    stolen.order = 10;
    bad.stages.push(stolen);
    let error = pipelines::update(&tx, &bad).expect_err("stage of another pipeline");
    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "stages[4].id"),
        "{error}"
    );
    assert!(
        !tx.is_autocommit(),
        "the caller's transaction is still open"
    );
    tx.commit()?;
    assert_eq!(
        pipelines::get(&conn, &first.id)?.as_ref(),
        Some(&first),
        "the refused update left no trace"
    );
    assert_eq!(
        pipelines::get(&conn, &helper.id)?.as_ref(),
        Some(&helper),
        "the rest committed"
    );
    Ok(())
}

#[test]
fn hostile_strings_round_trip_exactly() -> TestResult {
    let conn = memory()?;
    let megabyte = "é".repeat(512 * 1024);
    let values = [
        "it's \"quoted\"",
        "'; DROP TABLE pipelines;--",
        "nul\0inside",
        "emoji 🚀🔥 and RTL \u{202e}",
        "%_ like wildcards \\",
        megabyte.as_str(),
    ];
    let mut new = NewPipeline::new("'; DROP TABLE pipelines;-- \"hostile\" 🚀");
    for (i, value) in values.iter().enumerate() {
        new = new.config(
            format!("key-{i}-{value}")
                .chars()
                .take(64)
                .collect::<String>(),
            *value,
        );
    }
    new = new.stage(values.iter().enumerate().fold(
        NewStage::new("stage 'x'", StageType::parse("Cüstom"), "alg\"o"),
        |s, (i, v)| s.parameter(format!("p{i}"), *v),
    ));
    new = new.tag("'; DROP TABLE pipeline_tags;--");
    let created = pipelines::create(&conn, &new)?;
    let loaded = pipelines::get(&conn, &created.id)?.ok_or("created")?;
    assert_eq!(loaded, created);
    assert_eq!(loaded.stages[0].parameters["p5"].len(), megabyte.len());
    assert_eq!(loaded.stages[0].parameters["p2"], "nul\0inside");
    let found = pipelines::find_by_config(
        &conn,
        "key-1-'; DROP TABLE pipelines;--",
        "'; DROP TABLE pipelines;--",
    )?;
    assert_eq!(found.len(), 1);
    assert_eq!(
        pipelines::list(
            &conn,
            &ListQuery::active().tag("'; DROP TABLE pipeline_tags;--")
        )?
        .len(),
        1
    );
    Ok(())
}

#[test]
fn concurrent_read_then_write_updates_never_fail_busy() -> TestResult {
    // Deferred transactions that read and then write get SQLITE_BUSY at once under WAL when
    // another writer commits in between; immediate ones wait for the lock.
    let db = TempDb::new()?;
    let url = db.url();
    let ids: Vec<PipelineId> = {
        let conn = initialize_database(&url)?;
        (0..4)
            .map(|i| pipelines::create(&conn, &secure_backup(&format!("worker-{i}"))).map(|p| p.id))
            .collect::<Result<_, _>>()?
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let url = url.clone();
                scope.spawn(move || -> Result<(), Error> {
                    let conn = initialize_database(&url)?;
                    for round in 0..25 {
                        let mut p = pipelines::get(&conn, id)?.expect("exists");
                        p.configuration.insert("round".into(), round.to_string());
                        p.stages[1]
                            .parameters
                            .insert("level".into(), round.to_string());
                        pipelines::update(&conn, &p)?;
                        config::set(&conn, id, "last", &round.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("no panic")?;
        }
        Ok::<_, Error>(())
    })?;
    let conn = initialize_database(&url)?;
    for id in &ids {
        let p = pipelines::get(&conn, id)?.ok_or("exists")?;
        assert_eq!(p.configuration["round"], "24");
        assert_eq!(p.configuration["last"], "24");
        assert_eq!(p.stages[1].parameters["level"], "24");
    }
    Ok(())
}
