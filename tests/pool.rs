//! The r2d2 pool: one migration, pragmas on every connection, threads that never see busy.

use std::collections::BTreeSet;

use pipeline_store::model::NewPipeline;
use pipeline_store::repo::pipelines::{self, ListQuery};
use pipeline_store::{Error, pool};

use crate::common::{TempDb, TestResult};

#[test]
fn eight_threads_through_a_pool_of_four_lose_nothing_and_never_see_busy() -> TestResult {
    let db = TempDb::new()?;
    let pool = pool(&db.url(), 4)?;
    let written: Vec<Result<Vec<String>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|thread| {
                let pool = &pool;
                scope.spawn(move || -> Result<Vec<String>, String> {
                    let mut names = Vec::new();
                    for call in 0..200 {
                        let conn = pool.get().map_err(|e| e.to_string())?;
                        if call % 4 == 0 {
                            let name = format!("t{thread}-{call:03}");
                            pipelines::create(&conn, &NewPipeline::new(&name).config("k", "v"))
                                .map_err(|e| format!("{e:?}"))?;
                            names.push(name);
                        } else {
                            pipelines::list(&conn, &ListQuery::active().limit(10))
                                .map_err(|e| format!("{e:?}"))?;
                        }
                    }
                    Ok(names)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let mut expected = BTreeSet::new();
    for result in written {
        let names = result.map_err(|e| format!("a call failed (busy?): {e}"))?;
        expected.extend(names);
    }
    assert_eq!(expected.len(), 8 * 50);
    let conn = pool.get()?;
    let mut stored = BTreeSet::new();
    let mut query = ListQuery::all().limit(1000);
    loop {
        let page = pipelines::list(&conn, &query)?;
        let Some(last) = page.last() else { break };
        query = query.after(last.name.clone());
        stored.extend(page.into_iter().map(|s| s.name));
    }
    assert_eq!(stored, expected, "nothing lost");
    Ok(())
}

#[test]
fn every_pooled_connection_has_the_pragmas_and_migrations_run_once() -> TestResult {
    let db = TempDb::new()?;
    let pool = pool(&db.url(), 3)?;
    let connections: Vec<_> = (0..3).map(|_| pool.get()).collect::<Result<_, _>>()?;
    for conn in &connections {
        let keys: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let timeout: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
        assert_eq!((keys, mode.as_str(), timeout), (1, "wal", 5000));
    }
    let history = pipeline_store::migrate::applied(&connections[0])?;
    assert_eq!(
        history.len(),
        pipeline_store::schema::migrator().migrations().len()
    );
    Ok(())
}

#[test]
fn an_in_memory_database_cannot_be_pooled() {
    for url in [":memory:", "sqlite::memory:", "sqlite://name?mode=memory"] {
        let refused = pool(url, 2).map(drop);
        assert!(
            matches!(&refused, Err(Error::InvalidUrl { reason, .. }) if reason.contains("its own database")),
            "{url}: {refused:?}"
        );
    }
}
