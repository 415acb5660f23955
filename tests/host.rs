//! A host program's database: its own tables and migrations (history in `_host_migrations`)
//! beside this crate's, through every entry point, across upgrades of both in either date
//! order.

use std::time::Duration;

use pipeline_store::migrate::{Migration, MigrationState, Migrator};
use pipeline_store::model::{NewPipeline, ProcessingMetrics};
use pipeline_store::repo::{self, metrics, pipelines};
use pipeline_store::rusqlite::{self, Connection};
use pipeline_store::schema::{self, OpenOptions};
use pipeline_store::{Error, MigrateError, initialize_database};

use crate::common::{TempDb, TestResult, raw};

pub(crate) const HOST_HISTORY: &str = "_host_migrations";

const JOBS: (i64, &str, &str) = (
    20_261_201_090_000,
    "create jobs",
    "CREATE TABLE jobs (
         id INTEGER PRIMARY KEY,
         pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
         state TEXT NOT NULL DEFAULT 'queued');
     CREATE INDEX idx_jobs_pipeline ON jobs(pipeline_id);
     CREATE TRIGGER jobs_queued AFTER INSERT ON jobs BEGIN SELECT 1; END;",
);
const JOB_FILES: (i64, &str, &str) = (
    20_261_201_100_000,
    "create job files",
    "CREATE TABLE job_files (
         id INTEGER PRIMARY KEY,
         job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
         path TEXT NOT NULL);",
);

fn migration((version, description, sql): (i64, &'static str, &'static str)) -> Migration {
    Migration::new(version, description, sql)
}

/// A host set of `migrations`, keeping its history in [`HOST_HISTORY`].
fn host_of(migrations: Vec<Migration>) -> TestResult<Migrator> {
    Ok(Migrator::new(migrations)?.history_table(HOST_HISTORY)?)
}

/// The host's migrations: jobs, then their files.
pub(crate) fn host() -> TestResult<Migrator> {
    host_of(vec![migration(JOBS), migration(JOB_FILES)])
}

/// This crate's set without its newest migration: the library as a release before the current.
fn older_library() -> TestResult<Migrator> {
    let mut migrations = schema::migrator().migrations().to_vec();
    migrations.pop();
    Ok(Migrator::new(migrations)?)
}

fn versions(conn: &Connection, table: &str) -> TestResult<Vec<i64>> {
    let sql = format!("SELECT version FROM {table} ORDER BY version");
    Ok(conn
        .prepare(&sql)?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Every row of a history table, as text: compared byte for byte before and after.
fn history_rows(conn: &Connection, table: &str) -> TestResult<Vec<String>> {
    let sql = format!(
        "SELECT version, description, installed_on, success, hex(checksum), execution_time \
         FROM {table} ORDER BY version"
    );
    Ok(conn
        .prepare(&sql)?
        .query_map([], |r| {
            Ok(format!(
                "{}|{}|{}|{}|{}|{}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?
            ))
        })?
        .collect::<Result<_, _>>()?)
}

/// Opens a host database the way the host does: one call, both sets.
pub(crate) fn open_host_db(url: &str) -> TestResult<Connection> {
    Ok(OpenOptions::new().open_host(url, &host()?)?.0)
}

#[test]
fn every_entry_point_opens_a_host_database_and_its_checks_are_clean() -> TestResult {
    let db = TempDb::new()?;
    let url = db.url();
    let host = host()?;
    let (conn, reports) = OpenOptions::new().open_host(&url, &host)?;
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports[0].applied.len(),
        schema::migrator().migrations().len()
    );
    assert_eq!(reports[1].applied.len(), 2);
    assert_eq!(
        versions(&conn, "_sqlx_migrations")?.len(),
        schema::migrator().migrations().len(),
        "the library's history holds the library's rows only"
    );
    assert_eq!(versions(&conn, HOST_HISTORY)?, [JOBS.0, JOB_FILES.0]);
    let p = pipelines::create(&conn, &NewPipeline::new("nightly"))?;
    conn.execute(
        "INSERT INTO jobs (pipeline_id) VALUES (?1)",
        [p.id.as_str()],
    )?;
    conn.execute(
        "INSERT INTO job_files (job_id, path) VALUES (last_insert_rowid(), 'a.txt')",
        [],
    )?;
    drop(conn);

    // Every entry point, with and without the host's set.
    initialize_database(&url)?;
    let (_, report) = OpenOptions::new().open_with_migrator(&url, schema::migrator())?;
    assert!(report.is_up_to_date());
    let (_, reports) = OpenOptions::new().open_host(&url, &host)?;
    assert!(
        reports
            .iter()
            .all(pipeline_store::migrate::MigrationReport::is_up_to_date)
    );
    let read = OpenOptions::new().read_only(true).open(&url)?;
    assert_eq!(
        pipelines::list(&read, &pipelines::ListQuery::default())?.len(),
        1
    );
    let (read, reports) = OpenOptions::new().read_only(true).open_host(&url, &host)?;
    assert!(reports.iter().all(|r| r.pending.is_empty()));
    drop(read);
    let mut plain = Connection::open(&db.path)?;
    schema::ensure_schema(&mut plain)?;
    let reports = schema::ensure_schema_with(&mut plain, &[schema::migrator(), &host])?;
    assert!(reports.iter().all(|r| r.applied.is_empty()));
    #[cfg(feature = "r2d2")]
    {
        let pool = pipeline_store::pool(&url, 2)?;
        let conn = pool.get()?;
        assert_eq!(pipelines::count(&conn, pipelines::Status::All)?, 1);
        let pool = pipeline_store::pool_with_migrators(
            &url,
            2,
            &OpenOptions::new(),
            &[schema::migrator(), &host],
        )?;
        let jobs: i64 = pool
            .get()?
            .query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))?;
        assert_eq!(jobs, 1);
    }

    // Status per set, every row applied.
    for set in [schema::migrator(), &host] {
        let status = set.status(&plain)?;
        assert!(
            status.iter().all(|s| s.state == MigrationState::Applied),
            "{status:?}"
        );
        assert!(status.iter().all(|s| s.history == set.history_table_name()));
    }

    // Checked with the host's set: nothing to say. Without it: the host's objects are told
    // apart from drift.
    let with_host = schema::check_host(&plain, &host)?;
    assert!(with_host.is_ok(), "{with_host:?}");
    assert!(with_host.other_sets.is_empty() && with_host.other_histories.is_empty());
    let alone = schema::check(&plain)?;
    assert!(alone.is_ok(), "{alone:?}");
    assert_eq!(alone.other_histories, [HOST_HISTORY]);
    let mut others: Vec<&str> = alone.other_sets.iter().map(|d| d.object.as_str()).collect();
    others.sort_unstable();
    assert_eq!(
        others,
        ["idx_jobs_pipeline", "job_files", "jobs", "jobs_queued"]
    );
    // A trigger on the library's table is drift, a host's own or not.
    plain.execute_batch("CREATE TRIGGER by_hand AFTER INSERT ON pipelines BEGIN SELECT 1; END;")?;
    let drifted = schema::check(&plain)?;
    assert_eq!(drifted.drift.len(), 1, "{:?}", drifted.drift);
    assert_eq!(drifted.drift[0].object, "by_hand");
    assert_eq!(drifted.other_sets.len(), 4);
    plain.execute_batch("DROP TRIGGER by_hand;")?;
    // With the host's set, drift on the host's own tables is drift; without it, it is the
    // other set's business.
    plain.execute_batch("CREATE INDEX jobs_by_hand ON jobs(state);")?;
    let host_drift = schema::check_host(&plain, &host)?;
    assert!(!host_drift.is_ok());
    assert_eq!(host_drift.drift.len(), 1, "{:?}", host_drift.drift);
    assert_eq!(host_drift.drift[0].object, "jobs_by_hand");
    assert_eq!(
        host_drift.migrations.len() + host_drift.pending.len(),
        0,
        "both histories read"
    );
    assert!(schema::check(&plain)?.is_ok());
    plain.execute_batch("DROP INDEX jobs_by_hand;")?;
    // Drift on the library's own tables is still drift, host or not.
    plain.execute_batch("CREATE INDEX by_hand ON pipelines(updated_at);")?;
    let drifted = schema::check(&plain)?;
    assert!(!drifted.is_ok());
    assert_eq!(drifted.drift.len(), 1);
    assert_eq!(drifted.drift[0].object, "by_hand");
    plain.execute_batch("DROP INDEX by_hand;")?;

    // The library's cascades reach the host's tables.
    pipelines::delete(&plain, &p.id)?;
    let left: i64 = plain.query_row(
        "SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM job_files)",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(left, 0);
    Ok(())
}

#[test]
fn a_library_migration_dated_before_the_hosts_newest_applies_and_the_hosts_own_order_is_still_checked()
-> TestResult {
    let db = TempDb::new()?;
    let url = db.url();
    let host = host()?;
    let older = older_library()?;
    let newest = schema::migrator()
        .migrations()
        .last()
        .ok_or("a migration")?;
    assert!(
        newest.version() < JOBS.0,
        "the library's newest migration is dated before the host's"
    );
    let (_, reports) = OpenOptions::new().open_with_migrators(&url, &[&older, &host])?;
    assert_eq!(reports[1].applied.len(), 2);
    // The library is upgraded; the host is not changed.
    let (_, reports) = OpenOptions::new().open_host(&url, &host)?;
    assert_eq!(reports[0].applied.len(), 1);
    assert_eq!(reports[0].applied[0].version, newest.version());
    assert!(reports[1].applied.is_empty());
    // Every check is still on for the host's own files.
    let mut late = host.migrations().to_vec();
    late.push(Migration::new(
        JOBS.0 + 1,
        "slipped in",
        "CREATE TABLE slipped (x);",
    ));
    let error = OpenOptions::new()
        .open_host(&url, &host_of(late)?)
        .unwrap_err();
    assert!(
        matches!(&error, Error::Migrate(MigrateError::OutOfOrder { history, .. }) if history == HOST_HISTORY),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("(history table _host_migrations)"),
        "{error}"
    );
    // A database from a newer library is refused as newer, naming the library's history.
    let error = OpenOptions::new()
        .open_with_migrators(&url, &[&older, &host])
        .unwrap_err();
    assert!(
        matches!(&error, Error::Migrate(MigrateError::Missing { version, history, .. })
            if *version == newest.version() && history == "_sqlx_migrations"),
        "{error:?}"
    );
    assert!(error.to_string().contains("newer version"), "{error}");
    Ok(())
}

#[test]
fn a_host_migration_dated_before_the_librarys_newest_applies_and_a_newer_host_is_refused_by_name()
-> TestResult {
    let db = TempDb::new()?;
    let url = db.url();
    let newest = schema::migrator()
        .migrations()
        .last()
        .ok_or("a migration")?
        .version();
    // The host's migrations are older than the library's newest one.
    let early_jobs = Migration::new(20_250_601_000_000, JOBS.1, JOBS.2);
    let early_files = Migration::new(20_250_701_000_000, JOB_FILES.1, JOB_FILES.2);
    assert!(early_files.version() < newest);
    let v1 = host_of(vec![early_jobs.clone()])?;
    let v2 = host_of(vec![early_jobs, early_files])?;
    OpenOptions::new().open_host(&url, &v1)?;
    let (_, reports) = OpenOptions::new().open_host(&url, &v2)?;
    assert!(reports[0].applied.is_empty());
    assert_eq!(reports[1].applied.len(), 1);
    assert_eq!(reports[1].applied[0].version, 20_250_701_000_000);
    // The old host on the new database: refused as newer, in the host's history.
    let error = OpenOptions::new().open_host(&url, &v1).unwrap_err();
    assert!(
        matches!(&error, Error::Migrate(MigrateError::Missing { version: 20_250_701_000_000, history, .. }) if history == HOST_HISTORY),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("(history table _host_migrations)"),
        "{error}"
    );
    // The library alone still opens it.
    initialize_database(&url)?;
    Ok(())
}

#[test]
fn sets_sharing_a_history_table_and_bad_table_names_are_refused() -> TestResult {
    let same = Migrator::new(vec![migration(JOBS)])?;
    let error = OpenOptions::new()
        .open_with_migrators(":memory:", &[schema::migrator(), &same])
        .unwrap_err();
    assert!(
        matches!(&error, Error::Migrate(MigrateError::SharedHistoryTable { history }) if history == "_sqlx_migrations"),
        "{error:?}"
    );
    for bad in [
        "",
        "1st",
        "has space",
        "sqlite_master",
        "x\"; DROP TABLE y; --",
        &"t".repeat(65),
    ] {
        let error = Migrator::new(vec![])?.history_table(bad).unwrap_err();
        assert!(
            matches!(&error, MigrateError::InvalidHistoryTable { name, .. } if name == bad),
            "{bad}: {error:?}"
        );
    }
    assert_eq!(
        Migrator::new(vec![])?
            .history_table("_sqlx_migrations")?
            .history_table_name(),
        "_sqlx_migrations"
    );
    Ok(())
}

#[test]
fn repair_revert_and_baseline_of_one_set_leave_the_other_sets_rows_byte_for_byte() -> TestResult {
    let db = TempDb::new()?;
    let url = db.url();
    let jobs_only = host_of(vec![
        migration(JOBS).with_down("DROP TABLE jobs;"),
        migration(JOB_FILES).with_down("DROP TABLE job_files;"),
    ])?;
    OpenOptions::new().open_host(&url, &jobs_only)?;
    let mut conn = raw(&db.path)?;
    let library_rows = history_rows(&conn, "_sqlx_migrations")?;

    // The library's repair knows nothing of the host's rows.
    let forgot = schema::migrator().repair(
        &mut conn,
        &pipeline_store::migrate::Repair::new().forget_missing(),
    )?;
    assert!(forgot.forgotten.is_empty());
    assert_eq!(versions(&conn, HOST_HISTORY)?, [JOBS.0, JOB_FILES.0]);

    // The host's revert, repair and baseline touch the host's rows only.
    jobs_only.revert_to(&mut conn, JOBS.0)?;
    assert_eq!(versions(&conn, HOST_HISTORY)?, [JOBS.0]);
    assert_eq!(history_rows(&conn, "_sqlx_migrations")?, library_rows);
    jobs_only.baseline(&mut conn, JOB_FILES.0)?;
    assert_eq!(versions(&conn, HOST_HISTORY)?, [JOBS.0, JOB_FILES.0]);
    assert_eq!(history_rows(&conn, "_sqlx_migrations")?, library_rows);
    let first_only = host_of(vec![migration(JOBS)])?;
    let forgot = first_only.repair(
        &mut conn,
        &pipeline_store::migrate::Repair::new().forget_missing(),
    )?;
    assert_eq!(forgot.forgotten, [JOB_FILES.0]);
    assert_eq!(versions(&conn, HOST_HISTORY)?, [JOBS.0]);
    assert_eq!(history_rows(&conn, "_sqlx_migrations")?, library_rows);
    Ok(())
}

#[test]
fn eight_processes_opening_a_new_host_database_apply_each_migration_of_each_set_once() -> TestResult
{
    use crate::common::child::{ARG, read_until, spawn, wait_bounded};
    let db = TempDb::new()?;
    let go = db.dir.path().join("go");
    let go_text = go.display().to_string();
    let mut children = Vec::new();
    for _ in 0..8 {
        children.push(spawn("host-race", &db.url(), &[(ARG, &go_text)])?);
    }
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&go, b"go")?;
    for mut child in children {
        read_until(&mut child, |line| line == "opened")?;
        assert!(wait_bounded(&mut child)?.success());
    }
    let conn = raw(&db.path)?;
    for (table, count) in [
        ("_sqlx_migrations", schema::migrator().migrations().len()),
        (HOST_HISTORY, 2),
    ] {
        let counts: Vec<(i64, i64)> = conn
            .prepare(&format!(
                "SELECT version, count(*) FROM {table} GROUP BY version ORDER BY version"
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(counts.len(), count, "{table}");
        assert!(counts.iter().all(|&(_, n)| n == 1), "{table}: {counts:?}");
    }
    Ok(())
}

/// Eight threads, each on its own connection, each round a read then a write in one
/// transaction: `rounds` rounds each; returns how many rounds failed, and the first failure.
fn progress_workers(
    url: &str,
    immediate: bool,
    rounds: u64,
) -> TestResult<(usize, Option<String>)> {
    let conn = initialize_database(url)?;
    let p = pipelines::create(
        &conn,
        &NewPipeline::new("busy").metrics(ProcessingMetrics::default()),
    )?;
    let outcomes: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let id = p.id.clone();
                scope.spawn(move || {
                    let conn = initialize_database(url).expect("open");
                    let mut failures = Vec::new();
                    for _ in 0..rounds {
                        let round = || -> Result<(), Error> {
                            let tx = if immediate {
                                repo::write_transaction(&conn)?
                            } else {
                                conn.unchecked_transaction()?
                            };
                            let done = metrics::get(&tx, &id)?.map_or(0, |m| m.bytes_processed);
                            metrics::update_progress(&tx, &id, done + 1, 1)?;
                            tx.commit()?;
                            Ok(())
                        };
                        if let Err(error) = round() {
                            failures.push(format!("{error:?} / {error}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let failures: Vec<String> = outcomes.into_iter().flatten().collect();
    if immediate {
        let done = metrics::get(&conn, &p.id)?
            .ok_or("metrics")?
            .bytes_processed;
        assert_eq!(done, 8 * rounds, "every update counted once");
    }
    Ok((failures.len(), failures.into_iter().next()))
}

#[test]
fn eight_workers_recording_progress_in_write_transactions_never_fail() -> TestResult {
    let db = TempDb::new()?;
    let (failed, first) = progress_workers(&db.url(), true, 150)?;
    assert_eq!(failed, 0, "{first:?}");
    Ok(())
}

#[test]
fn a_deferred_transaction_that_read_first_is_told_apart_from_a_busy_timeout() -> TestResult {
    let db = TempDb::new()?;
    let (failed, first) = progress_workers(&db.url(), false, 400)?;
    assert!(
        failed > 0,
        "the race exists: some deferred upgrades are refused"
    );
    let first = first.ok_or("a failure")?;
    assert!(first.starts_with("DeferredWrite"), "{first}");
    assert!(
        first.contains("write_transaction") && !first.contains("past the busy timeout"),
        "{first}"
    );
    Ok(())
}

#[test]
fn ensure_schema_switches_foreign_keys_on_so_the_librarys_cascades_hold() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", false)?;
    schema::ensure_schema(&mut conn)?;
    let on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    assert!(on);
    let p = pipelines::create(
        &conn,
        &NewPipeline::new("cascade").stage(pipeline_store::model::NewStage::new(
            "a",
            pipeline_store::model::StageType::Checksum,
            "sha256",
        )),
    )?;
    pipelines::delete(&conn, &p.id)?;
    let orphans: i64 = conn.query_row("SELECT count(*) FROM pipeline_stages", [], |r| r.get(0))?;
    assert_eq!(orphans, 0);

    // Inside a transaction the switch would be ignored: refused, nothing applied.
    let mut fresh = Connection::open_in_memory()?;
    fresh.execute_batch("PRAGMA foreign_keys = OFF; BEGIN;")?;
    let error = schema::ensure_schema(&mut fresh).unwrap_err();
    assert!(
        matches!(error, Error::Migrate(MigrateError::InTransaction)),
        "{error:?}"
    );
    fresh.execute_batch("ROLLBACK")?;
    let tables: i64 = fresh.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    assert_eq!(tables, 0);
    Ok(())
}

#[test]
fn a_host_registers_what_its_migrations_need_on_every_connection_and_opens_any_path() -> TestResult
{
    use rusqlite::functions::FunctionFlags;
    let dir = tempfile::tempdir()?;
    // A host migration that calls a function only the host provides.
    let host = host_of(vec![Migration::new(
        1,
        "seed",
        "CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT); \
         INSERT INTO settings VALUES ('greeting', host_shout('hello'));",
    )])?;
    let mut options = OpenOptions::new();
    options.on_connect(|conn| {
        conn.create_scalar_function(
            "host_shout",
            1,
            FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| Ok(ctx.get::<String>(0)?.to_uppercase()),
        )
    });
    #[cfg(unix)]
    let path = {
        use std::os::unix::ffi::OsStrExt;
        dir.path()
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9 ?#%.db"))
    };
    #[cfg(not(unix))]
    let path = dir.path().join("caf ?#%.db");
    let (conn, reports) = options.open_path_with_migrators(&path, &[schema::migrator(), &host])?;
    assert_eq!(reports[1].applied.len(), 1);
    let v: String = conn.query_row("SELECT v FROM settings", [], |r| r.get(0))?;
    assert_eq!(v, "HELLO");
    drop(conn);
    assert!(path.is_file(), "the path was taken as it is");
    // Without the hook the host's set cannot run: the open fails and says why.
    let error = OpenOptions::new()
        .open_with_migrators(":memory:", &[schema::migrator(), &host])
        .unwrap_err();
    assert!(error.to_string().contains("host_shout"), "{error}");
    // A hook that fails fails the open.
    let error = OpenOptions::new()
        .on_connect(|conn| conn.execute_batch("PRAGMA no_such_thing = 1; SELECT * FROM nowhere"))
        .open(":memory:")
        .unwrap_err();
    assert!(error.to_string().contains("nowhere"), "{error}");
    Ok(())
}

#[test]
fn an_upgrade_of_both_sets_is_backed_up_once_and_rehearsed_in_turn_and_a_losing_one_is_refused()
-> TestResult {
    let db = TempDb::new()?;
    let url = db.url();
    let backups = tempfile::tempdir()?;
    let older = older_library()?;
    let v1 = host_of(vec![migration(JOBS)])?;
    OpenOptions::new().open_with_migrators(&url, &[&older, &v1])?;
    let conn = raw(&db.path)?;
    let p = pipelines::create(&conn, &NewPipeline::new("kept"))?;
    conn.execute(
        "INSERT INTO jobs (pipeline_id) VALUES (?1)",
        [p.id.as_str()],
    )?;
    drop(conn);

    // A host upgrade that would lose the jobs: refused by the rehearsal, the file untouched.
    let mut losing = v1.migrations().to_vec();
    losing.push(Migration::new(
        JOB_FILES.0,
        "lose jobs",
        "DELETE FROM jobs;",
    ));
    let losing = host_of(losing)?;
    let before = std::fs::read(&db.path)?;
    let error = OpenOptions::new()
        .rehearse_before_migrate(true)
        .backup_before_migrate(backups.path())
        .open_with_migrators(&url, &[schema::migrator(), &losing])
        .unwrap_err();
    let Error::RehearsalRefused { report } = &error else {
        panic!("refused by the rehearsal: {error:?}");
    };
    assert_eq!(report.rows_lost(), 1, "{report:?}");
    assert_eq!(
        report.steps.len(),
        2,
        "the library's pending migration, then the host's: {report:?}"
    );
    assert_eq!(std::fs::read(&db.path)?, before, "no byte changed");
    assert_eq!(
        std::fs::read_dir(backups.path())?.count(),
        0,
        "nothing backed up either"
    );

    // The good upgrade of both: one copy, taken before the first migration of either set.
    let (conn, reports) = OpenOptions::new()
        .rehearse_before_migrate(true)
        .backup_before_migrate(backups.path())
        .open_host(&url, &host()?)?;
    assert_eq!((reports[0].applied.len(), reports[1].applied.len()), (1, 1));
    let copies: Vec<_> = std::fs::read_dir(backups.path())?.collect::<Result<_, _>>()?;
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(
        reports[0].backup.as_deref(),
        Some(copies[0].path().as_path())
    );
    let copy = Connection::open(copies[0].path())?;
    assert_eq!(
        versions(&copy, HOST_HISTORY)?,
        [JOBS.0],
        "the copy is from before"
    );
    let jobs: i64 = conn.query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))?;
    assert_eq!(jobs, 1);
    Ok(())
}

#[test]
fn a_read_only_open_of_a_host_database_reports_each_sets_pending_migrations_and_writes_nothing()
-> TestResult {
    let db = TempDb::new()?;
    let url = db.url();
    OpenOptions::new()
        .open_with_migrators(&url, &[&older_library()?, &host_of(vec![migration(JOBS)])?])?;
    let before = std::fs::read(&db.path)?;
    let (conn, reports) = OpenOptions::new()
        .read_only(true)
        .open_host(&url, &host()?)?;
    assert_eq!(reports[0].pending.len(), 1, "the library's newest");
    assert_eq!(reports[1].pending.len(), 1, "the host's second");
    assert_eq!(reports[1].pending[0].version, JOB_FILES.0);
    assert!(reports.iter().all(|r| r.applied.is_empty()));
    drop(conn);
    assert_eq!(std::fs::read(&db.path)?, before);
    // In memory, one connection holds both sets.
    let (memory, reports) = OpenOptions::new().open_host(":memory:", &host()?)?;
    assert_eq!(reports[1].applied.len(), 2);
    assert_eq!(versions(&memory, HOST_HISTORY)?, [JOBS.0, JOB_FILES.0]);
    #[cfg(feature = "r2d2")]
    {
        let error = pipeline_store::pool_with_migrators(
            ":memory:",
            2,
            &OpenOptions::new(),
            &[schema::migrator(), &host()?],
        )
        .unwrap_err();
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
    }
    Ok(())
}
