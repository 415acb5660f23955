//! Crashes, several processes, a full database, read-only files and backups.
//!
//! Child processes are this test binary run again (see `common::child`), entering at
//! `reliability::child_process` with a role in `PIPELINE_STORE_TEST_CHILD`. Every wait is bounded.

use std::path::Path;
use std::time::{Duration, Instant};

use pipeline_store::migrate::{Migration, MigrationState, Migrator};
use pipeline_store::model::{NewPipeline, NewStage, StageType};
use pipeline_store::repo::pipelines::{self, ListQuery, Status};
use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{self, OpenOptions};
use pipeline_store::{Error, initialize_database};

use crate::common::child::{
    ARG, CHILD_LIMIT, DB, KILL_AT, ROLE, read_until, register_checkpoints, spawn, wait_bounded,
};
use crate::common::{TempDb, TestResult, raw, snapshot};

/// Two extra migrations; the second reports checkpoints while it runs.
fn crash_migrator() -> Migrator {
    let mut migrations = schema::migrator().migrations().to_vec();
    migrations.push(Migration::new(
        20_990_101_000_000,
        "crash first",
        "CREATE TABLE crash_first (x INTEGER);",
    ));
    migrations.push(Migration::new(
        20_990_102_000_000,
        "crash second",
        "CREATE TABLE crash_second (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
         SELECT test_checkpoint('created');
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO crash_second (payload) SELECT randomblob(200) FROM n;
         SELECT test_checkpoint('filled');
         UPDATE pipelines SET updated_at = 'rewritten by crash_second';
         CREATE INDEX idx_crash_second_payload ON crash_second(payload);
         SELECT test_checkpoint('finished');",
    ));
    Migrator::new(migrations).expect("distinct versions")
}

fn complete_pipeline(name: &str) -> NewPipeline {
    (0..4)
        .fold(NewPipeline::new(name), |p, i| {
            p.stage(
                NewStage::new(format!("stage-{i}"), StageType::Transform, "noop")
                    .parameter("a", "1")
                    .parameter("b", "2")
                    .parameter("c", "3"),
            )
        })
        .config("max_workers", "4")
        .config("owner", name)
        .tag("crash-test")
}

/// Whether a stored pipeline is exactly what [`complete_pipeline`] wrote.
fn is_complete(p: &pipeline_store::model::Pipeline) -> bool {
    is_whole(p) && p.configuration.len() == 2
}

/// Whether a stored pipeline has every row [`complete_pipeline`] wrote (and maybe `round`).
fn is_whole(p: &pipeline_store::model::Pipeline) -> bool {
    p.stages.len() == 4
        && p.stages.iter().all(|s| s.parameters.len() == 3)
        && p.configuration.get("owner") == Some(&p.name)
        && p.configuration.get("max_workers").is_some_and(|w| w == "4")
        && p.tags.len() == 1
}

#[test]
#[ignore = "entry point of the child processes of the reliability tests"]
fn child_process() -> TestResult {
    let Ok(role) = std::env::var(ROLE) else {
        return Ok(());
    };
    let url = std::env::var(DB)?;
    match role.as_str() {
        "migrate" => {
            let mut conn = OpenOptions::new().migrate(false).open(&url)?;
            register_checkpoints(&conn, std::env::var(KILL_AT).ok())?;
            crash_migrator().run(&mut conn)?;
            println!("migrated");
        }
        "write-loop" => {
            let conn = initialize_database(&url)?;
            for i in 0.. {
                let name = format!("crash-{i:05}");
                pipelines::create(&conn, &complete_pipeline(&name))?;
                println!("committed {name}");
            }
        }
        "concurrent" => {
            let process: usize = std::env::var(ARG)?.parse()?;
            let outcomes: Vec<Result<usize, String>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..2)
                    .map(|thread| {
                        let url = url.clone();
                        scope.spawn(move || {
                            concurrent_worker(&url, process, thread).map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("no panic"))
                    .collect()
            });
            let mut written = 0;
            for outcome in outcomes {
                written += outcome?;
            }
            println!("written {written}");
        }
        "init-race" => {
            let go = Path::new(&std::env::var(ARG)?).to_path_buf();
            let deadline = Instant::now() + CHILD_LIMIT;
            while !go.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            initialize_database(&url)?;
            println!("initialized");
        }
        "host-race" => {
            let go = Path::new(&std::env::var(ARG)?).to_path_buf();
            let deadline = Instant::now() + CHILD_LIMIT;
            while !go.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            crate::host::open_host_db(&url)?;
            println!("opened");
        }
        other => return crate::load::child_role(other, &url),
    }
    Ok(())
}

/// One thread of a concurrent child: writes, reads back and lists, for a bounded number of
/// rounds. Returns how many pipelines it wrote.
fn concurrent_worker(url: &str, process: usize, thread: usize) -> Result<usize, Error> {
    let conn = initialize_database(url)?;
    let mut written = 0;
    for round in 0..30 {
        let name = format!("p{process}-t{thread}-{round:03}");
        let created = pipelines::create(&conn, &complete_pipeline(&name))?;
        written += 1;
        let loaded = pipelines::get(&conn, &created.id)?.ok_or_else(|| Error::NotFound {
            entity: "pipeline",
            key: name.clone(),
        })?;
        assert!(
            is_complete(&loaded),
            "a read saw a partial aggregate: {loaded:?}"
        );
        assert!(
            !loaded.configuration.contains_key("round"),
            "not updated yet"
        );
        let mut changed = loaded;
        changed
            .configuration
            .insert("round".into(), round.to_string());
        pipelines::update(&conn, &changed)?;
        for p in pipelines::list_full(&conn, &ListQuery::active().limit(20))? {
            assert!(is_whole(&p), "a listed aggregate was partial: {p:?}");
        }
    }
    Ok(written)
}

fn integrity_ok(conn: &Connection) -> TestResult<bool> {
    let result: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    Ok(result == "ok")
}

#[test]
fn a_migration_killed_midway_leaves_the_database_as_before_it() -> TestResult {
    for point in ["created", "filled", "finished"] {
        let db = TempDb::new()?;
        {
            let conn = initialize_database(&db.url())?;
            for i in 0..20 {
                pipelines::create(&conn, &complete_pipeline(&format!("before-{i}")))?;
            }
        }
        let before = snapshot(&raw(&db.path)?)?;
        let before_rows: Vec<(String, String)> = raw(&db.path)?
            .prepare("SELECT name, updated_at FROM pipelines ORDER BY name")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;

        let mut child = spawn("migrate", &db.url(), &[(KILL_AT, point)])?;
        read_until(&mut child, |line| line == format!("checkpoint {point}"))?;
        child.kill()?; // SIGKILL, in the middle of the migration's transaction
        assert!(!wait_bounded(&mut child)?.success());

        let conn = raw(&db.path)?;
        assert!(integrity_ok(&conn)?, "{point}: integrity_check");
        let after = snapshot(&conn)?;
        let without_first: Vec<&String> = after
            .iter()
            .filter(|row| !row.contains("crash_first") && !row.contains("20990101000000"))
            .collect();
        assert_eq!(
            without_first,
            before.iter().collect::<Vec<_>>(),
            "{point}: only the first migration remains"
        );
        assert!(
            after
                .iter()
                .any(|row| row.starts_with("history|20990101000000|")),
            "{point}: the first one committed"
        );
        let rows: Vec<(String, String)> = conn
            .prepare("SELECT name, updated_at FROM pipelines ORDER BY name")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            rows, before_rows,
            "{point}: the killed migration's data changes are gone"
        );
        drop(conn);

        // The next open applies it cleanly.
        let mut conn = OpenOptions::new().migrate(false).open(&db.url())?;
        register_checkpoints(&conn, None)?;
        let report = crash_migrator().run(&mut conn)?;
        assert_eq!(
            report.applied.iter().map(|s| s.version).collect::<Vec<_>>(),
            [20_990_102_000_000]
        );
        assert!(
            crash_migrator()
                .status(&conn)?
                .iter()
                .all(|s| s.state == MigrationState::Applied)
        );
        assert!(integrity_ok(&conn)?);
    }
    Ok(())
}

#[test]
fn a_writer_killed_midway_leaves_only_complete_pipelines() -> TestResult {
    for kill_after in [1_usize, 7, 40] {
        let db = TempDb::new()?;
        drop(initialize_database(&db.url())?);
        let mut child = spawn("write-loop", &db.url(), &[])?;
        let mut committed = 0;
        let lines = read_until(&mut child, |line| {
            if line.starts_with("committed ") {
                committed += 1;
            }
            committed == kill_after
        })?;
        child.kill()?;
        assert!(!wait_bounded(&mut child)?.success());

        let conn = initialize_database(&db.url())?;
        assert!(integrity_ok(&conn)?);
        let stored = pipelines::list_full(&conn, &ListQuery::all().limit(10_000))?;
        assert!(
            stored.len() >= kill_after,
            "{kill_after}: every reported commit is there"
        );
        for name in lines.iter().filter_map(|l| l.strip_prefix("committed ")) {
            assert!(
                stored.iter().any(|p| p.name == name),
                "{name} was reported committed"
            );
        }
        for p in &stored {
            assert!(is_complete(p), "partial pipeline after a crash: {p:?}");
        }
        let orphans: i64 = conn.query_row(
            "SELECT (SELECT count(*) FROM pipeline_stages WHERE pipeline_id NOT IN (SELECT id FROM pipelines))
                  + (SELECT count(*) FROM stage_parameters WHERE stage_id NOT IN (SELECT id FROM pipeline_stages))",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(orphans, 0);
    }
    Ok(())
}

#[test]
fn four_processes_of_two_threads_lose_nothing_and_never_see_busy() -> TestResult {
    let db = TempDb::new()?;
    drop(initialize_database(&db.url())?);
    let mut children = Vec::new();
    for process in 0..4 {
        children.push(spawn(
            "concurrent",
            &db.url(),
            &[(ARG, &process.to_string())],
        )?);
    }
    let mut written = 0;
    for mut child in children {
        let lines = read_until(&mut child, |line| line.starts_with("written "))?;
        let status = wait_bounded(&mut child)?;
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut stderr)?;
        }
        assert!(status.success(), "a child failed: {stderr}");
        let count: usize = lines
            .last()
            .and_then(|l| l.strip_prefix("written "))
            .ok_or("count")?
            .parse()?;
        written += count;
    }
    assert_eq!(written, 4 * 2 * 30);
    let conn = initialize_database(&db.url())?;
    assert_eq!(
        pipelines::count(&conn, Status::All)?,
        240,
        "no write was lost"
    );
    let all = pipelines::list_full(&conn, &ListQuery::all().limit(1000))?;
    assert!(
        all.iter().all(is_complete_after_update),
        "every aggregate is whole"
    );
    Ok(())
}

fn is_complete_after_update(p: &pipeline_store::model::Pipeline) -> bool {
    is_whole(p) && p.configuration.len() == 3 && p.configuration.contains_key("round")
}

#[test]
fn eight_processes_racing_to_initialize_apply_each_migration_once() -> TestResult {
    let db = TempDb::new()?;
    let go = db.dir.path().join("go");
    let go_text = go.display().to_string();
    let mut children = Vec::new();
    for _ in 0..8 {
        children.push(spawn("init-race", &db.url(), &[(ARG, &go_text)])?);
    }
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&go, b"go")?;
    for mut child in children {
        read_until(&mut child, |line| line == "initialized")?;
        assert!(wait_bounded(&mut child)?.success());
    }
    let conn = raw(&db.path)?;
    let counts: Vec<(i64, i64)> = conn
        .prepare(
            "SELECT version, count(*) FROM _sqlx_migrations GROUP BY version ORDER BY version",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(counts.len(), schema::migrator().migrations().len());
    assert!(counts.iter().all(|&(_, n)| n == 1), "{counts:?}");
    Ok(())
}

#[test]
fn a_full_database_fails_clearly_and_keeps_what_was_committed() -> TestResult {
    let db = TempDb::new()?;
    let conn = initialize_database(&db.url())?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    conn.pragma_update(None, "max_page_count", pages + 40)?;
    let big = "x".repeat(20_000);
    let mut committed = Vec::new();
    let error = loop {
        let name = format!("fill-{}", committed.len());
        match pipelines::create(
            &conn,
            &complete_pipeline(&name).config("blob", big.as_str()),
        ) {
            Ok(_) => committed.push(name),
            Err(error) => break error,
        }
        assert!(committed.len() < 1000, "the limit never hit");
    };
    assert!(matches!(error, Error::Full { .. }), "{error:?}");
    assert!(error.to_string().contains("full"), "{error}");
    assert!(!committed.is_empty());
    assert!(
        conn.is_autocommit(),
        "the failed transaction was rolled back"
    );
    drop(conn);
    let conn = initialize_database(&db.url())?;
    assert!(integrity_ok(&conn)?);
    let stored = pipelines::list_full(&conn, &ListQuery::all().limit(1000))?;
    assert_eq!(
        stored.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        committed,
        "nothing committed was lost"
    );
    assert!(stored.iter().all(|p| p.stages.len() == 4));
    Ok(())
}

#[test]
fn a_read_only_open_reads_and_refuses_writes() -> TestResult {
    let db = TempDb::new()?;
    let id = pipelines::create(&initialize_database(&db.url())?, &complete_pipeline("kept"))?.id;
    let before = std::fs::read(&db.path)?;
    let conn = OpenOptions::new().read_only(true).open(&db.url())?;
    assert!(pipelines::get(&conn, &id)?.is_some_and(|p| is_complete(&p)));
    assert_eq!(pipelines::list(&conn, &ListQuery::active())?.len(), 1);
    for result in [
        pipelines::create(&conn, &complete_pipeline("new")).map(drop),
        pipelines::archive(&conn, &id),
        pipelines::rename(&conn, &id, "other"),
    ] {
        assert!(matches!(result, Err(Error::ReadOnly { .. })), "{result:?}");
    }
    drop(conn);
    assert_eq!(std::fs::read(&db.path)?, before);
    Ok(())
}

#[test]
fn a_backup_is_a_complete_copy_taken_while_others_write() -> TestResult {
    let db = TempDb::new()?;
    let conn = initialize_database(&db.url())?;
    for i in 0..50 {
        pipelines::create(&conn, &complete_pipeline(&format!("kept-{i:02}")))?;
    }
    let target = db.dir.path().join("copy.db");
    let writer_url = db.url();
    std::thread::scope(|scope| -> TestResult {
        let writer = scope.spawn(move || -> Result<(), Error> {
            let other = initialize_database(&writer_url)?;
            for i in 0..30 {
                pipelines::create(&other, &complete_pipeline(&format!("during-{i:02}")))?;
            }
            Ok(())
        });
        schema::backup(&conn, &target)?;
        writer.join().expect("no panic")?;
        Ok(())
    })?;
    let copy = initialize_database(target.to_str().ok_or("utf-8")?)?;
    assert!(schema::check(&copy)?.is_ok());
    let copied = pipelines::list_full(&copy, &ListQuery::all().limit(1000))?;
    assert!(copied.len() >= 50, "at least what was committed before");
    assert!(
        copied.iter().all(is_complete),
        "every copied aggregate is whole"
    );
    let leftovers: Vec<String> = std::fs::read_dir(db.dir.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert!(
        !leftovers.iter().any(|n| n.contains("partial")),
        "{leftovers:?}"
    );
    Ok(())
}

#[test]
fn a_backup_never_overwrites_and_leaves_nothing_when_it_fails() -> TestResult {
    let db = TempDb::new()?;
    let conn = initialize_database(&db.url())?;
    let existing = db.dir.path().join("existing.db");
    std::fs::write(&existing, b"precious")?;
    assert!(matches!(
        schema::backup(&conn, &existing),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(std::fs::read(&existing)?, b"precious");
    let nowhere = db.dir.path().join("no/such/dir/copy.db");
    assert!(matches!(
        schema::backup(&conn, &nowhere),
        Err(Error::DirectoryNotFound { .. })
    ));
    let names: Vec<String> = std::fs::read_dir(db.dir.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("pipelines.db") || n == "existing.db"),
        "{names:?}"
    );
    Ok(())
}

#[test]
fn an_upgrade_backs_up_the_database_first() -> TestResult {
    let db = TempDb::new()?;
    let backups = tempfile::tempdir()?;
    let initial_only = Migrator::new(vec![schema::migrator().migrations()[0].clone()])?;
    {
        let (conn, _) = OpenOptions::new().open_with_migrator(&db.url(), &initial_only)?;
        conn.execute(
            "INSERT INTO pipelines (id, name, created_at, updated_at) VALUES ('old', 'from-v1', 't', 't')",
            [],
        )?;
    }
    let (conn, report) = OpenOptions::new()
        .backup_before_migrate(backups.path())
        .open_with_migrator(&db.url(), schema::migrator())?;
    assert_eq!(
        report.applied.len(),
        schema::migrator().migrations().len() - 1
    );
    let backup = report.backup.ok_or("a backup was taken")?;
    let name = backup
        .file_name()
        .ok_or("name")?
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        name,
        "pipelines.db.before-20250204120000-to-20261125000000.db"
    );
    let copy = raw(&backup)?;
    let copied_versions: Vec<i64> = copy
        .prepare("SELECT version FROM _sqlx_migrations")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        copied_versions,
        [20_250_101_000_000],
        "the copy is the database before the upgrade"
    );
    let name_in_copy: String = copy.query_row("SELECT name FROM pipelines", [], |r| r.get(0))?;
    assert_eq!(name_in_copy, "from-v1");
    drop(conn);
    let (_, again) = OpenOptions::new()
        .backup_before_migrate(backups.path())
        .open_with_migrator(&db.url(), schema::migrator())?;
    assert_eq!(again.backup, None, "nothing pending, nothing copied");
    let (_, fresh) = OpenOptions::new()
        .backup_before_migrate(backups.path())
        .open_with_migrator(
            &format!("sqlite://{}", db.dir.path().join("new.db").display()),
            schema::migrator(),
        )?;
    assert_eq!(fresh.backup, None, "an empty database is not copied");
    assert_eq!(std::fs::read_dir(backups.path())?.count(), 1);
    Ok(())
}
