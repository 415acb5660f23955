//! Reading costs a fixed number of statements, whatever the number of stages or pipelines.

use crate::common::{TestResult, statements_run};
use pipeline_store::initialize_database;
use pipeline_store::model::{NewPipeline, NewStage, StageType};
use pipeline_store::repo::pipelines::{self, ListQuery};

fn pipeline(name: &str, stages: usize) -> NewPipeline {
    (0..stages).fold(NewPipeline::new(name).config("k", "v").tag("t"), |p, i| {
        p.stage(
            NewStage::new(format!("s{i}"), StageType::Transform, "noop")
                .parameter("p", "1")
                .parameter("q", "2"),
        )
    })
}

#[test]
fn get_costs_the_same_statements_for_one_stage_or_forty() -> TestResult {
    let mut conn = initialize_database(":memory:")?;
    let small = pipelines::create(&conn, &pipeline("small", 1))?.id;
    let large = pipelines::create(&conn, &pipeline("large", 40))?.id;
    let for_small = statements_run(&mut conn, |c| {
        assert_eq!(pipelines::get(c, &small)?.ok_or("small")?.stages.len(), 1);
        Ok(())
    })?;
    let for_large = statements_run(&mut conn, |c| {
        assert_eq!(pipelines::get(c, &large)?.ok_or("large")?.stages.len(), 40);
        Ok(())
    })?;
    assert_eq!(for_small.len(), for_large.len(), "{for_large:#?}");
    // BEGIN, the pipeline row, stages, parameters, configuration, metrics, tags, COMMIT.
    assert_eq!(for_small.len(), 8, "{for_small:#?}");
    Ok(())
}

#[test]
fn listing_full_pipelines_costs_the_same_for_one_or_sixty() -> TestResult {
    let mut conn = initialize_database(":memory:")?;
    pipelines::create(&conn, &pipeline("only", 3))?;
    let one = statements_run(&mut conn, |c| {
        assert_eq!(pipelines::list_full(c, &ListQuery::active())?.len(), 1);
        Ok(())
    })?;
    for i in 0..59 {
        pipelines::create(&conn, &pipeline(&format!("more-{i:02}"), 5))?;
    }
    let sixty = statements_run(&mut conn, |c| {
        let all = pipelines::list_full(c, &ListQuery::active())?;
        assert_eq!(all.len(), 60);
        assert!(
            all.iter()
                .all(|p| !p.stages.is_empty() && p.tags.len() == 1 && p.configuration.len() == 1)
        );
        Ok(())
    })?;
    assert_eq!(one.len(), sixty.len(), "{sixty:#?}");
    let summaries = statements_run(&mut conn, |c| {
        assert_eq!(pipelines::list(c, &ListQuery::active())?.len(), 60);
        Ok(())
    })?;
    assert_eq!(
        summaries.len(),
        1,
        "a page of summaries is one statement: {summaries:#?}"
    );
    let by_config = statements_run(&mut conn, |c| {
        assert_eq!(pipelines::find_by_config(c, "k", "v")?.len(), 60);
        Ok(())
    })?;
    assert_eq!(by_config.len(), one.len(), "{by_config:#?}");
    Ok(())
}
