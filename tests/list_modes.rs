//! Every mode of a page: status × tag × cursor × limit, for `list`, `list_full` and `count`,
//! checked against a model of what each should return.

use std::collections::BTreeSet;

use pipeline_store::initialize_database;
use pipeline_store::model::{NewPipeline, NewStage, StageType};
use pipeline_store::repo::pipelines::{self, ListQuery, Status};

use crate::common::TestResult;

/// `(name, archived, tags, stages)` of a pipeline.
type Row = (String, bool, Vec<&'static str>, usize);

/// `(name, archived, tags, stages)` of the pipelines every case runs against.
const PIPELINES: &[(&str, bool, &[&str], usize)] = &[
    ("alpha", false, &["nightly"], 1),
    ("bravo", true, &["nightly"], 2),
    ("charlie", false, &[], 0),
    ("delta", true, &[], 3),
    ("echo", false, &["nightly", "weekly"], 4),
    ("foxtrot", true, &["weekly"], 1),
    ("golf", false, &["nightly"], 2),
    ("hotel", true, &["nightly"], 0),
];

/// The pipelines of a run: [`PIPELINES`], and with `padded` 60 more tagged `nightly` (a third of
/// them archived), so that one tag is on most pipelines and another on two, each status has
/// several pages of it, and renames and archives made after tagging are in its index.
fn dataset(padded: bool) -> Vec<Row> {
    let mut rows: Vec<Row> = PIPELINES
        .iter()
        .map(|(name, archived, tags, stages)| {
            ((*name).to_owned(), *archived, tags.to_vec(), *stages)
        })
        .collect();
    if padded {
        rows.extend((0..60).map(|i| (format!("kilo-{i:02}"), i % 3 == 0, vec!["nightly"], i % 3)));
    }
    rows
}

fn query(status: Status) -> ListQuery {
    match status {
        Status::Active => ListQuery::active(),
        Status::Archived => ListQuery::archived(),
        Status::All => ListQuery::all(),
    }
}

/// What a page must hold, by the model.
fn expected(
    data: &[Row],
    status: Status,
    tag: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Vec<String> {
    data.iter()
        .filter(|(_, archived, _, _)| match status {
            Status::Active => !archived,
            Status::Archived => *archived,
            Status::All => true,
        })
        .filter(|(_, _, tags, _)| tag.is_none_or(|t| tags.contains(&t)))
        .filter(|(name, _, _, _)| after.is_none_or(|a| name.as_str() > a))
        .map(|(name, _, _, _)| name.clone())
        .take(limit)
        .collect()
}

#[test]
fn every_status_tag_cursor_and_limit_returns_what_the_model_says() -> TestResult {
    every_mode(false)
}

#[test]
fn every_mode_holds_with_one_tag_on_most_pipelines_and_another_on_two() -> TestResult {
    every_mode(true)
}

fn every_mode(padded: bool) -> TestResult {
    let data = dataset(padded);
    let conn = initialize_database(":memory:")?;
    for (name, archived, tags, stages) in &data {
        let new = tags
            .iter()
            .fold(NewPipeline::new(name.clone()), |p, t| p.tag(*t));
        let new = (0..*stages).fold(new, |p, i| {
            p.stage(NewStage::new(
                format!("s{i}"),
                StageType::Checksum,
                "sha256",
            ))
        });
        let created = pipelines::create(&conn, &new)?;
        if padded && name.starts_with("kilo-") {
            // Tagged under another name and status first: the tag's index follows the pipeline.
            pipelines::rename(&conn, &created.id, &format!("zz-{name}"))?;
            pipelines::archive(&conn, &created.id)?;
            pipelines::restore(&conn, &created.id)?;
            pipelines::rename(&conn, &created.id, name)?;
        }
        if *archived {
            pipelines::archive(&conn, &created.id)?;
        }
    }
    let mut cases = 0;
    for status in [Status::Active, Status::Archived, Status::All] {
        for tag in [None, Some("nightly"), Some("weekly"), Some("no-such-tag")] {
            for after in [
                None,
                Some(""),
                Some("alpha"),
                Some("c"),
                Some("echo"),
                Some("hotel"),
                Some("zulu"),
            ] {
                for limit in [0_u32, 1, 2, 3, 100] {
                    let mut q = query(status).limit(limit);
                    if let Some(tag) = tag {
                        q = q.tag(tag);
                    }
                    if let Some(after) = after {
                        q = q.after(after);
                    }
                    let want = expected(&data, status, tag, after, limit as usize);
                    let case = format!("{status:?} tag={tag:?} after={after:?} limit={limit}");

                    let page = pipelines::list(&conn, &q)?;
                    let names: Vec<String> = page.iter().map(|s| s.name.clone()).collect();
                    assert_eq!(names, want, "list {case}");
                    for summary in &page {
                        let (_, archived, _, stages) =
                            data.iter().find(|p| p.0 == summary.name).ok_or("known")?;
                        assert_eq!(summary.archived, *archived, "{case}");
                        assert_eq!(summary.stage_count as usize, *stages, "{case}");
                    }

                    let full = pipelines::list_full(&conn, &q)?;
                    let full_names: Vec<String> = full.iter().map(|p| p.name.clone()).collect();
                    assert_eq!(full_names, want, "list_full {case}");
                    for p in &full {
                        let got = pipelines::get(&conn, &p.id)?.ok_or("exists")?;
                        assert_eq!(p, &got, "list_full gives what get gives: {case}");
                    }
                    cases += 1;
                }
            }
            // Walking the pages one by one gives exactly the unpaged answer.
            for size in [1_u32, 2, 3] {
                let mut q = query(status).limit(size);
                if let Some(tag) = tag {
                    q = q.tag(tag);
                }
                let mut walked = Vec::new();
                loop {
                    let page = pipelines::list(&conn, &q)?;
                    let Some(last) = page.last() else { break };
                    q = q.after(last.name.clone());
                    walked.extend(page.into_iter().map(|s| s.name));
                }
                assert_eq!(
                    walked,
                    expected(&data, status, tag, None, usize::MAX),
                    "{status:?} tag={tag:?} pages of {size}"
                );
            }
        }
        assert_eq!(
            pipelines::count(&conn, status)?,
            u64::try_from(expected(&data, status, None, None, usize::MAX).len())?,
            "count {status:?}"
        );
    }
    assert_eq!(cases, 3 * 4 * 7 * 5);
    Ok(())
}

#[test]
fn find_by_config_sees_active_pipelines_only() -> TestResult {
    let conn = initialize_database(":memory:")?;
    for (name, archived) in [("one", false), ("two", true), ("three", false)] {
        let created = pipelines::create(&conn, &NewPipeline::new(name).config("mode", "fast"))?;
        if archived {
            pipelines::archive(&conn, &created.id)?;
        }
    }
    pipelines::create(&conn, &NewPipeline::new("four").config("mode", "slow"))?;
    let names: BTreeSet<String> = pipelines::find_by_config(&conn, "mode", "fast")?
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["one".to_owned(), "three".to_owned()])
    );
    assert!(pipelines::find_by_config(&conn, "mode", "none")?.is_empty());
    assert!(pipelines::find_by_config(&conn, "other", "fast")?.is_empty());
    Ok(())
}

fn tagged(conn: &pipeline_store::rusqlite::Connection, status: Status) -> TestResult<Vec<String>> {
    Ok(pipelines::list(conn, &query(status).tag("nightly"))?
        .into_iter()
        .map(|s| s.name)
        .collect())
}

#[test]
fn tagged_pages_follow_renames_and_archives_made_by_another_tool() -> TestResult {
    let conn = initialize_database(":memory:")?;
    for name in ["alpha", "bravo", "charlie"] {
        pipelines::create(&conn, &NewPipeline::new(name).tag("nightly"))?;
    }
    // As the original application, which knows nothing of tags, would write them.
    conn.execute_batch(
        "UPDATE pipelines SET name = 'zulu' WHERE name = 'alpha';
         UPDATE pipelines SET archived = TRUE WHERE name = 'bravo';",
    )?;
    assert_eq!(tagged(&conn, Status::Active)?, ["charlie", "zulu"]);
    assert_eq!(tagged(&conn, Status::Archived)?, ["bravo"]);
    assert_eq!(tagged(&conn, Status::All)?, ["bravo", "charlie", "zulu"]);
    let page = pipelines::list(&conn, &ListQuery::all().tag("nightly").after("charlie"))?;
    assert_eq!(page.len(), 1, "the cursor is on the new name");
    conn.execute(
        "UPDATE pipelines SET archived = FALSE WHERE name = 'bravo'",
        [],
    )?;
    assert_eq!(tagged(&conn, Status::Active)?, ["bravo", "charlie", "zulu"]);
    Ok(())
}

#[test]
fn tags_written_before_the_upgrade_are_paged_by_name_after_it() -> TestResult {
    use pipeline_store::schema;
    let mut conn = pipeline_store::rusqlite::Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", true)?;
    schema::migrator().run_to(&mut conn, 20_251_125_000_000)?;
    conn.execute_batch(
        "INSERT INTO pipelines (id, name, archived, created_at, updated_at) VALUES
             ('01', 'delta', FALSE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
             ('02', 'alpha', TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
             ('03', 'charlie', FALSE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
         INSERT INTO pipeline_tags (pipeline_id, tag, created_at) VALUES
             ('01', 'nightly', '2026-01-01T00:00:00Z'),
             ('02', 'nightly', '2026-01-01T00:00:00Z'),
             ('03', 'nightly', '2026-01-01T00:00:00Z');",
    )?;
    let report = schema::ensure_schema(&mut conn)?;
    assert_eq!(report.applied.len(), 1);
    assert_eq!(tagged(&conn, Status::Active)?, ["charlie", "delta"]);
    assert_eq!(tagged(&conn, Status::Archived)?, ["alpha"]);
    assert_eq!(tagged(&conn, Status::All)?, ["alpha", "charlie", "delta"]);
    // And back: the down script leaves the tags as they were.
    schema::migrator().revert_to(&mut conn, 20_251_125_000_000)?;
    let count: i64 = conn.query_row("SELECT count(*) FROM pipeline_tags", [], |r| r.get(0))?;
    assert_eq!(count, 3);
    Ok(())
}
