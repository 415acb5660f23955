//! Derived data: the copies of a pipeline's name and archived flag on its tag rows, made stale on
//! purpose in every way another tool can, then listed, checked and repaired.

use std::collections::BTreeMap;

use pipeline_store::initialize_database;
use pipeline_store::model::NewPipeline;
use pipeline_store::repo::pipelines::{self, ListQuery, Status};
use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{self, DerivedProblem};

use crate::common::{self, TestResult};

/// The trigger that keeps the copies in step.
const TRIGGER: &str = "pipelines_copy_to_tags";

/// `(name, archived, tags)` of the pipelines before anything is made stale.
const PIPELINES: &[(&str, bool, &[&str])] = &[
    ("alpha", false, &["nightly"]),
    ("beta", false, &["nightly", "weekly"]),
    ("gamma", false, &["nightly"]),
    ("delta", true, &["nightly"]),
    ("echo", false, &[]),
    ("foxtrot", true, &["weekly"]),
    ("hotel", true, &["nightly"]),
    ("india", false, &["weekly"]),
];

/// What is really there: name → (archived, tag → whether that tag row's copies are in step).
type Truth = BTreeMap<String, (bool, BTreeMap<String, bool>)>;

fn create_all(conn: &Connection) -> TestResult {
    for (name, archived, tags) in PIPELINES {
        let new = tags.iter().fold(NewPipeline::new(*name), |p, t| p.tag(*t));
        let created = pipelines::create(conn, &new)?;
        if *archived {
            pipelines::archive(conn, &created.id)?;
        }
    }
    Ok(())
}

/// Makes copies stale in every way a tool that bypasses the trigger can: a rename, an archive, a
/// restore, a name that another pipeline's stale copy still holds, and tag rows inserted by hand
/// with the columns' defaults for copies (one of them on an archived pipeline).
fn make_stale(conn: &Connection) -> TestResult {
    let trigger: String = conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
        [TRIGGER],
        |r| r.get(0),
    )?;
    conn.execute_batch(&format!(
        "DROP TRIGGER {TRIGGER};
         UPDATE pipelines SET name = 'aaa-first' WHERE name = 'gamma';
         UPDATE pipelines SET archived = TRUE WHERE name = 'beta';
         UPDATE pipelines SET archived = FALSE WHERE name = 'hotel';
         UPDATE pipelines SET name = 'omega' WHERE name = 'alpha';
         INSERT INTO pipeline_tags (pipeline_id, tag, created_at)
             SELECT id, 'nightly', '2026-01-01T00:00:00Z' FROM pipelines WHERE name IN ('echo', 'foxtrot');
         {trigger};"
    ))?;
    // Made with the trigger back in place: its copy is right, and equal to omega's stale one.
    pipelines::create(conn, &NewPipeline::new("alpha").tag("nightly"))?;
    Ok(())
}

/// Reads what is really there, and whether each tag row's copies are in step, straight from the
/// tables.
fn truth(conn: &Connection) -> TestResult<Truth> {
    let mut truth = Truth::new();
    let mut statement = conn.prepare(
        "SELECT p.name, p.archived, t.tag, \
                t.pipeline_name IS p.name AND t.pipeline_archived IS p.archived \
         FROM pipelines p LEFT JOIN pipeline_tags t ON t.pipeline_id = p.id",
    )?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let entry = truth
            .entry(row.get(0)?)
            .or_insert_with(|| (false, BTreeMap::new()));
        entry.0 = row.get(1)?;
        if let Some(tag) = row.get::<_, Option<String>>(2)? {
            entry.1.insert(tag, row.get(3)?);
        }
    }
    Ok(truth)
}

/// The names a page must hold. With `fresh_only`, a tagged page holds only pipelines whose tag
/// row is in step (what a listing promises while copies are stale); otherwise every pipeline
/// with the tag.
fn expected(
    truth: &Truth,
    status: Status,
    tag: Option<&str>,
    after: Option<&str>,
    limit: usize,
    fresh_only: bool,
) -> Vec<String> {
    truth
        .iter()
        .filter(|(_, (archived, _))| match status {
            Status::Active => !archived,
            Status::Archived => *archived,
            Status::All => true,
        })
        .filter(|(_, (_, tags))| {
            tag.is_none_or(|t| tags.get(t).is_some_and(|fresh| *fresh || !fresh_only))
        })
        .filter(|(name, _)| after.is_none_or(|a| name.as_str() > a))
        .map(|(name, _)| name.clone())
        .take(limit)
        .collect()
}

fn query(status: Status, tag: Option<&str>, after: Option<&str>, limit: u32) -> ListQuery {
    let mut q = match status {
        Status::Active => ListQuery::active(),
        Status::Archived => ListQuery::archived(),
        Status::All => ListQuery::all(),
    }
    .limit(limit);
    if let Some(tag) = tag {
        q = q.tag(tag);
    }
    if let Some(after) = after {
        q = q.after(after);
    }
    q
}

/// Every status × tag × cursor × limit, and walks of every page size, against the model.
fn every_mode(conn: &Connection, fresh_only: bool) -> TestResult<usize> {
    let truth = truth(conn)?;
    let mut cases = 0;
    for status in [Status::Active, Status::Archived, Status::All] {
        for tag in [None, Some("nightly"), Some("weekly"), Some("no-such-tag")] {
            for after in [
                None,
                Some(""),
                Some("aaa-first"),
                Some("alpha"),
                Some("c"),
                Some("gamma"),
                Some("omega"),
                Some("zulu"),
            ] {
                for limit in [0_u32, 1, 2, 3, 100] {
                    let case = format!("{status:?} tag={tag:?} after={after:?} limit={limit}");
                    let want = expected(&truth, status, tag, after, limit as usize, fresh_only);
                    let q = query(status, tag, after, limit);
                    let page = pipelines::list(conn, &q)?;
                    for summary in &page {
                        // Never wrong: the name, status and tag are the pipeline's own.
                        let (archived, tags) = truth.get(&summary.name).ok_or("a real name")?;
                        assert_eq!(summary.archived, *archived, "{case}");
                        assert!(tag.is_none_or(|t| tags.contains_key(t)), "{case}");
                    }
                    let names: Vec<String> = page.into_iter().map(|s| s.name).collect();
                    assert_eq!(names, want, "list {case}");
                    let full: Vec<String> = pipelines::list_full(conn, &q)?
                        .into_iter()
                        .map(|p| p.name)
                        .collect();
                    assert_eq!(full, want, "list_full {case}");
                    cases += 1;
                }
            }
            for size in [1_u32, 2, 3] {
                let mut walked: Vec<String> = Vec::new();
                let mut after: Option<String> = None;
                for _ in 0..=truth.len() {
                    let page = pipelines::list(conn, &query(status, tag, after.as_deref(), size))?;
                    let Some(last) = page.last() else { break };
                    after = Some(last.name.clone());
                    walked.extend(page.into_iter().map(|s| s.name));
                }
                // Ends (the cap is one page more than there are pipelines), in order, each once.
                let want = expected(&truth, status, tag, None, usize::MAX, fresh_only);
                assert_eq!(walked, want, "{status:?} tag={tag:?} pages of {size}");
            }
        }
    }
    Ok(cases)
}

#[test]
fn every_walk_over_stale_copies_ends_with_only_rows_that_are_there() -> TestResult {
    let conn = initialize_database(":memory:")?;
    create_all(&conn)?;
    make_stale(&conn)?;
    let truth = truth(&conn)?;
    let stale: usize = truth
        .values()
        .map(|(_, tags)| tags.values().filter(|fresh| !**fresh).count())
        .sum();
    assert_eq!(
        stale, 7,
        "every way of going stale is in the data: {truth:?}"
    );
    assert_eq!(every_mode(&conn, true)?, 3 * 4 * 8 * 5);
    Ok(())
}

#[test]
fn the_walk_of_the_reported_case_ends() -> TestResult {
    // The trigger is lost (as a rebuild of pipelines that forgets it loses it), then a pipeline
    // is archived and another renamed to sort first.
    let conn = initialize_database(":memory:")?;
    for name in ["alpha", "beta", "gamma"] {
        pipelines::create(&conn, &NewPipeline::new(name).tag("nightly"))?;
    }
    conn.execute_batch(&format!("DROP TRIGGER {TRIGGER}"))?;
    let beta = pipelines::find_by_name(&conn, "beta")?.ok_or("beta")?;
    let gamma = pipelines::find_by_name(&conn, "gamma")?.ok_or("gamma")?;
    pipelines::archive(&conn, &beta.id)?;
    pipelines::rename(&conn, &gamma.id, "aaa-first")?;
    for (status, want) in [
        (Status::Active, &["alpha"][..]),
        (Status::Archived, &[]),
        (Status::All, &["alpha"]),
    ] {
        let mut names = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..10 {
            let page =
                pipelines::list(&conn, &query(status, Some("nightly"), after.as_deref(), 1))?;
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            names.push(last.name.clone());
        }
        assert_eq!(names, want, "{status:?}: only what is in step, once");
    }
    // Repaired, every pipeline is listed where it belongs.
    let repaired = schema::repair_derived(&conn)?;
    assert_eq!(repaired.copies_rewritten, 2);
    assert!(repaired.trigger_created);
    let active: Vec<String> = pipelines::list(&conn, &ListQuery::active().tag("nightly"))?
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(active, ["aaa-first", "alpha"]);
    let archived = pipelines::list(&conn, &ListQuery::archived().tag("nightly"))?;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].name, "beta");
    Ok(())
}

#[test]
fn check_names_stale_copies_and_a_lost_trigger_and_repair_restores_both() -> TestResult {
    let conn = initialize_database(":memory:")?;
    create_all(&conn)?;
    assert!(schema::check(&conn)?.derived.is_empty(), "in step");
    make_stale(&conn)?;

    let report = schema::check(&conn)?;
    assert!(!report.is_ok());
    let [DerivedProblem::StaleTagCopies { count, examples }] = report.derived.as_slice() else {
        panic!("one problem, the copies: {:?}", report.derived);
    };
    assert_eq!(*count, 7);
    assert!(!examples.is_empty() && examples.len() <= 5, "{examples:?}");
    let renamed = examples
        .iter()
        .find(|e| e.name == "aaa-first")
        .ok_or("the rename is among the first examples (by name)")?;
    assert_eq!(
        (renamed.copied_name.as_str(), renamed.tag.as_str()),
        ("gamma", "nightly")
    );
    let text = report.derived[0].to_string();
    assert!(
        text.starts_with(
            "7 tag rows hold a stale copy of their pipeline's name or archived flag ("
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "tag \"nightly\" of {:?}: copy says \"gamma\" active, pipeline is \"aaa-first\" active; ",
            renamed.pipeline_id.as_str()
        )),
        "each example, separated: {text}"
    );
    assert_eq!(text.matches("; tag ").count(), examples.len() - 1, "{text}");
    assert!(
        text.ends_with(
            "): tagged pages leave them out until `schema::repair_derived` rewrites the copies"
        ),
        "{text}"
    );

    // The trigger lost as well: reported whether or not the migrations would also lose it.
    conn.execute_batch(&format!("DROP TRIGGER {TRIGGER}"))?;
    let report = schema::check(&conn)?;
    assert!(
        report.derived.contains(&DerivedProblem::CopyTriggerMissing),
        "{:?}",
        report.derived
    );

    // A trigger of that name that does something else.
    conn.execute_batch(&format!(
        "CREATE TRIGGER {TRIGGER} AFTER UPDATE OF name ON pipelines BEGIN SELECT 1; END;"
    ))?;
    let report = schema::check(&conn)?;
    assert!(
        report
            .derived
            .iter()
            .any(|p| matches!(p, DerivedProblem::CopyTriggerDifferent { found } if found.contains("SELECT 1"))),
        "{:?}",
        report.derived
    );

    let repaired = schema::repair_derived(&conn)?;
    assert_eq!(repaired.copies_rewritten, 7);
    assert!(repaired.trigger_created);
    let report = schema::check(&conn)?;
    assert!(report.derived.is_empty(), "{:?}", report.derived);
    assert!(report.is_ok(), "{report:?}");
    // The trigger works again, and pages list everything.
    assert_eq!(every_mode(&conn, false)?, 3 * 4 * 8 * 5);
    let omega = pipelines::find_by_name(&conn, "omega")?.ok_or("omega")?;
    pipelines::rename(&conn, &omega.id, "zeta")?;
    assert!(schema::check(&conn)?.derived.is_empty());

    // Nothing to do: nothing written.
    let before = conn.total_changes();
    let again = schema::repair_derived(&conn)?;
    assert_eq!((again.copies_rewritten, again.trigger_created), (0, false));
    assert_eq!(conn.total_changes(), before);
    Ok(())
}

#[test]
fn a_failed_repair_changes_nothing() -> TestResult {
    let conn = initialize_database(":memory:")?;
    create_all(&conn)?;
    make_stale(&conn)?;
    let different =
        format!("CREATE TRIGGER {TRIGGER} AFTER UPDATE OF name ON pipelines BEGIN SELECT 1; END");
    conn.execute_batch(&format!(
        "DROP TRIGGER {TRIGGER}; {different};
         CREATE TRIGGER host_guard BEFORE UPDATE ON pipeline_tags
         BEGIN SELECT RAISE(ABORT, 'tag rows are frozen'); END;"
    ))?;
    let before = (truth(&conn)?, common::snapshot(&conn)?);
    let error = schema::repair_derived(&conn).unwrap_err();
    assert!(error.to_string().contains("tag rows are frozen"), "{error}");
    assert_eq!(
        (truth(&conn)?, common::snapshot(&conn)?),
        before,
        "neither the copies nor the trigger changed"
    );
    assert!(conn.is_autocommit(), "no transaction left open");
    Ok(())
}

#[test]
fn a_database_without_tag_copies_has_nothing_derived_to_check_or_repair() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", true)?;
    schema::migrator().run_to(&mut conn, 20_251_125_000_000)?;
    assert!(schema::check(&conn)?.derived.is_empty());
    let repaired = schema::repair_derived(&conn)?;
    assert_eq!(
        (repaired.copies_rewritten, repaired.trigger_created),
        (0, false)
    );
    assert!(
        !conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")?
            .exists([])?,
        "no trigger over columns that do not exist"
    );
    // A trigger of that name on a schema without copies is not this crate's: nothing to say.
    conn.execute_batch(&format!(
        "CREATE TRIGGER {TRIGGER} AFTER UPDATE OF name ON pipelines BEGIN SELECT 1; END;"
    ))?;
    assert!(schema::check(&conn)?.derived.is_empty());
    assert_eq!(schema::repair_derived(&conn)?.copies_rewritten, 0);
    Ok(())
}

#[test]
fn a_trigger_lost_by_a_migration_is_reported_though_the_replay_loses_it_too() -> TestResult {
    let migrator = migrator_that_loses_the_trigger()?;
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", true)?;
    schema::migrator().run(&mut conn)?;
    create_all(&conn)?;
    migrator.run(&mut conn)?;
    let report = schema::check_with(&conn, &migrator)?;
    assert!(
        report.drift.is_empty(),
        "the replay loses it too, so drift cannot see it: {:?}",
        report.drift
    );
    assert_eq!(report.derived, [DerivedProblem::CopyTriggerMissing]);
    assert!(!report.is_ok());
    let text = report.derived[0].to_string();
    assert!(
        text.contains(TRIGGER) && text.contains("repair_derived"),
        "{text}"
    );
    assert!(schema::repair_derived(&conn)?.trigger_created);
    assert!(schema::check_with(&conn, &migrator)?.is_ok());
    Ok(())
}

/// The crate's migrations plus one that rebuilds `pipelines` the usual way and forgets the
/// trigger: a replay of this set loses the trigger too.
fn migrator_that_loses_the_trigger() -> TestResult<pipeline_store::migrate::Migrator> {
    use pipeline_store::migrate::{Migration, Migrator};
    let mut migrations = schema::migrator().migrations().to_vec();
    migrations.push(Migration::new(
        20_991_231_000_000,
        "rebuild pipelines",
        "-- foreign-keys: off
         CREATE TABLE new_pipelines (
             id TEXT PRIMARY KEY NOT NULL,
             name TEXT NOT NULL UNIQUE,
             archived BOOLEAN NOT NULL DEFAULT FALSE,
             created_at TEXT NOT NULL,
             updated_at TEXT NOT NULL);
         INSERT INTO new_pipelines SELECT id, name, archived, created_at, updated_at FROM pipelines;
         DROP TABLE pipelines;
         ALTER TABLE new_pipelines RENAME TO pipelines;",
    ));
    Ok(Migrator::new(migrations)?)
}
