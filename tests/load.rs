//! Reliability under load: a backup while another process writes, racers waiting for a
//! `-- no-transaction` migration, read-only media, damaged files, leftovers of killed backups.
//!
//! Child processes come from `common::child` and enter at `reliability::child_process`: this
//! module adds their roles.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_store::migrate::{MigrateError, Migration, Migrator};
use pipeline_store::model::NewPipeline;
use pipeline_store::repo::pipelines::{self, ListQuery};
use pipeline_store::rusqlite::Connection;
use pipeline_store::rusqlite::functions::FunctionFlags;
use pipeline_store::schema::{self, OpenOptions};
use pipeline_store::{Error, initialize_database};

use crate::common::child::{
    ARG, CHILD_ARGS, CHILD_LIMIT, KILL_AT, register_checkpoints, said, spawn, wait_bounded,
    wait_for, watch,
};
use crate::common::{TempDb, TestResult, beside, raw};

/// The roles this module gives child processes.
pub(crate) fn child_role(role: &str, url: &str) -> TestResult {
    match role {
        // Commits small pipelines as fast as it can until it is killed (or its time is up).
        "write-forever" => {
            let conn = initialize_database(url)?;
            let deadline = Instant::now() + CHILD_LIMIT;
            for i in 0.. {
                pipelines::create(
                    &conn,
                    &NewPipeline::new(format!("busy-{i:07}")).config("k", "v"),
                )?;
                if i == 0 {
                    println!("writing");
                }
                if Instant::now() > deadline {
                    break;
                }
            }
        }
        // Applies the slow `-- no-transaction` migration (or waits for whoever does).
        "slow-no-transaction" => {
            let mut conn = OpenOptions::new().migrate(false).open(url)?;
            register_checkpoints(&conn, std::env::var(KILL_AT).ok())?;
            register_sleep(&conn)?;
            let report = slow_migrator().run(&mut conn)?;
            println!("done applied={}", report.applied.len());
        }
        // Reads and writes a database in a directory it cannot write (run as another user).
        "read-only-media" => {
            let read = OpenOptions::new()
                .read_only(true)
                .open(url)
                .map(|conn| pipelines::list(&conn, &ListQuery::all()).map(|page| page.len()));
            println!("read-only open: {}", describe(read.and_then(|r| r)));
            let mode_ro = format!("sqlite://{url}?mode=ro");
            let read = OpenOptions::new()
                .open(&mode_ro)
                .map(|conn| pipelines::list(&conn, &ListQuery::all()).map(|page| page.len()));
            println!("mode=ro open: {}", describe(read.and_then(|r| r)));
            let write = initialize_database(url).map(|_| 0);
            println!("writing open: {}", describe(write));
            let check = OpenOptions::new()
                .read_only(true)
                .open(url)
                .and_then(|conn| schema::check(&conn).map(|report| usize::from(report.is_ok())));
            println!("check: {}", describe(check));
        }
        other => return Err(format!("unknown child role {other}").into()),
    }
    Ok(())
}

/// `ok N` or the error's variant and message, on one line.
fn describe(result: Result<usize, Error>) -> String {
    match result {
        Ok(n) => format!("ok {n}"),
        Err(Error::DirectoryNotWritable {
            path, directory, ..
        }) => format!(
            "DirectoryNotWritable path={} directory={}",
            path.display(),
            directory.display()
        ),
        Err(Error::FileNotWritable { path }) => format!("FileNotWritable path={}", path.display()),
        Err(other) => format!("error {other:?}"),
    }
}

/// `test_sleep(ms)`: sleeps, for a migration that takes a while.
fn register_sleep(conn: &Connection) -> TestResult {
    conn.create_scalar_function("test_sleep", 1, FunctionFlags::SQLITE_UTF8, |ctx| {
        let ms: i64 = ctx.get(0)?;
        std::thread::sleep(Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        Ok(0)
    })?;
    Ok(())
}

/// The embedded migrations and a `-- no-transaction` one that takes 1.5 s.
fn slow_migrator() -> Migrator {
    let mut migrations = schema::migrator().migrations().to_vec();
    migrations.push(Migration::new(
        20_990_301_000_000,
        "slow no transaction",
        "-- no-transaction\n\
         SELECT test_checkpoint('started');\n\
         CREATE TABLE slow_marker (applied_by INTEGER);\n\
         SELECT test_sleep(1500);\n\
         INSERT INTO slow_marker VALUES (1);\n\
         SELECT test_checkpoint('finished');\n",
    ));
    Migrator::new(migrations).expect("distinct versions")
}

/// A database of at least `bytes`, holding `count` pipelines.
fn large_database(db: &TempDb, count: usize, bytes: u64) -> TestResult<Vec<String>> {
    let conn = initialize_database(&db.url())?;
    let payload = "x".repeat(usize::try_from(bytes)? / count + 1);
    let tx = conn.unchecked_transaction()?;
    let mut names = Vec::new();
    for i in 0..count {
        let name = format!("large-{i:05}");
        pipelines::create(&tx, &NewPipeline::new(&name).config("payload", &payload))?;
        names.push(name);
    }
    tx.commit()?;
    drop(conn);
    assert!(std::fs::metadata(&db.path)?.len() >= bytes);
    Ok(names)
}

/// The best of three backups of `conn` into fresh files under `dir`.
fn solo_backup_time(conn: &Connection, dir: &Path) -> TestResult<Duration> {
    let mut best = Duration::MAX;
    for i in 0..3 {
        let target = dir.join(format!("solo-{i}.db"));
        let started = Instant::now();
        schema::backup(conn, &target)?;
        best = best.min(started.elapsed());
        std::fs::remove_file(&target)?;
    }
    Ok(best)
}

#[test]
fn a_backup_finishes_while_another_process_commits_continuously() -> TestResult {
    let db = TempDb::new()?;
    large_database(&db, 400, 20 << 20)?;
    let conn = initialize_database(&db.url())?;
    let backups = tempfile::tempdir()?;
    let solo = solo_backup_time(&conn, backups.path())?;

    let mut writer = spawn("write-forever", &db.url(), &[])?;
    let writer_lines = watch(&mut writer)?;
    wait_for(&writer_lines, |line| line == "writing")?;
    std::thread::sleep(Duration::from_millis(100));
    let acknowledged: Vec<String> = pipelines::list(&conn, &ListQuery::all().limit(u32::MAX))?
        .into_iter()
        .map(|s| s.name)
        .collect();
    // The best of three, as for the time alone: other tests share the machine's two cores.
    // (An incremental copy that restarts on every commit never finishes at all here.)
    let target = backups.path().join("under-load.db");
    let mut loaded = Duration::MAX;
    let mut result = Ok(());
    for attempt in 0..3 {
        let copy = if attempt == 2 {
            target.clone()
        } else {
            backups.path().join(format!("under-load-{attempt}.db"))
        };
        let started = Instant::now();
        result = schema::backup(&conn, &copy);
        loaded = loaded.min(started.elapsed());
        if result.is_err() {
            break;
        }
    }
    // A copy that restarts on every commit finishes only when the writer stops; this one
    // finished while it was still committing.
    let committed_meanwhile = pipelines::list(&conn, &ListQuery::all().limit(u32::MAX))?.len();
    let still_writing = writer.try_wait()?.is_none();
    writer.kill()?;
    wait_bounded(&mut writer)?;
    result?;
    assert!(
        still_writing,
        "the writer was still running when the copies finished"
    );
    assert!(
        committed_meanwhile > acknowledged.len(),
        "the writer committed while the copies ran"
    );
    eprintln!(
        "backup of {} MiB: alone {solo:?}, while another process commits {loaded:?}",
        std::fs::metadata(&db.path)?.len() >> 20
    );

    let copy = raw(&target)?;
    let integrity: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(integrity, "ok");
    let copied = OpenOptions::new()
        .read_only(true)
        .open(target.to_str().ok_or("utf-8")?)?;
    for name in &acknowledged {
        assert!(
            pipelines::find_by_name(&copied, name)?.is_some(),
            "{name}, committed before the backup began, is missing from it"
        );
    }
    assert!(
        acknowledged.iter().any(|n| n.starts_with("busy-")),
        "the writer was writing"
    );
    Ok(())
}

/// In rollback-journal mode a writer's lock keeps a reader out: a backup (and a rehearsal, on
/// the same copy primitive) waits for it instead of failing.
#[test]
fn a_backup_of_a_rollback_journal_database_waits_for_a_writer_to_let_it_read() -> TestResult {
    let db = TempDb::new()?;
    let source = Connection::open(&db.path)?;
    // No busy handler: the copy's own wait is what is tested.
    source.busy_timeout(Duration::ZERO)?;
    source.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE t (x INTEGER);
         INSERT INTO t (x) VALUES (1), (2), (3);",
    )?;
    let writer = Connection::open(&db.path)?;
    writer.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t (x) VALUES (4);")?;
    let (held, released) = std::sync::mpsc::channel();
    let committer = std::thread::spawn(move || -> Result<(), String> {
        held.send(()).map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(300));
        writer.execute_batch("COMMIT").map_err(|e| e.to_string())
    });
    released.recv()?;
    let copy = db.dir.path().join("copy.db");
    schema::backup(&source, &copy)?;
    committer.join().map_err(|_| "the committer panicked")??;
    let rows: i64 =
        Connection::open(&copy)?.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    assert_eq!(rows, 4, "the copy waited for the commit and has its row");
    Ok(())
}

#[test]
fn racers_wait_for_a_running_no_transaction_migration_instead_of_calling_it_dirty() -> TestResult {
    let db = TempDb::new()?;
    drop(initialize_database(&db.url())?);
    let mut first = spawn("slow-no-transaction", &db.url(), &[])?;
    let first_lines = watch(&mut first)?;
    wait_for(&first_lines, |line| line == "checkpoint started")?;
    // A migrator told not to wait says at once that it is in progress (the default wait, 5 s,
    // would see it finish).
    let probe = OpenOptions::new().migrate(false).open(&db.url())?;
    let error = slow_migrator()
        .busy_wait(Duration::ZERO)
        .pending(&probe)
        .expect_err("in progress");
    assert!(
        matches!(
            &error,
            MigrateError::InProgress {
                version: 20_990_301_000_000,
                ..
            }
        ),
        "{error:?}"
    );
    let mut children = vec![(first, first_lines)];
    for _ in 0..7 {
        let mut racer = spawn("slow-no-transaction", &db.url(), &[])?;
        let lines = watch(&mut racer)?;
        children.push((racer, lines));
    }
    let mut applied = 0;
    for (mut child, lines) in children {
        let seen = wait_for(&lines, |line| line.starts_with("done"));
        let status = wait_bounded(&mut child)?;
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut stderr)?;
        }
        let seen = seen.map_err(|e| format!("{e}; {stderr}"))?;
        assert!(status.success(), "{seen:?} {stderr}");
        let done = seen.last().ok_or("a last line")?;
        applied += usize::from(done == "done applied=1");
    }
    assert_eq!(applied, 1, "exactly one process applied it");
    assert!(
        slow_migrator()
            .busy_wait(Duration::ZERO)
            .pending(&probe)?
            .is_empty()
    );
    let conn = raw(&db.path)?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM slow_marker", [], |r| r.get(0))?;
    assert_eq!(rows, 1, "applied once");
    let success: bool = conn.query_row(
        "SELECT success FROM _sqlx_migrations WHERE version = 20990301000000",
        [],
        |r| r.get(0),
    )?;
    assert!(success);
    Ok(())
}

#[test]
fn a_no_transaction_migration_whose_process_died_is_dirty_and_a_running_one_is_in_progress()
-> TestResult {
    let db = TempDb::new()?;
    drop(initialize_database(&db.url())?);
    let mut first = spawn("slow-no-transaction", &db.url(), &[(KILL_AT, "started")])?;
    let first_lines = watch(&mut first)?;
    wait_for(&first_lines, |line| line == "checkpoint started")?;

    // While it runs: a short wait ends in InProgress, which says to wait, not to repair.
    let mut conn = OpenOptions::new().migrate(false).open(&db.url())?;
    let error = OpenOptions::new()
        .busy_timeout(Duration::from_millis(200))
        .open_with_migrator(&db.url(), &slow_migrator())
        .expect_err("in progress");
    assert!(
        matches!(
            &error,
            Error::Migrate(MigrateError::InProgress {
                version: 20_990_301_000_000,
                ..
            })
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("wait for it to finish"),
        "{error}"
    );
    assert!(!error.to_string().contains("--forget-dirty"), "{error}");

    // Killed: the lock is gone with the process, and the row is what it is, dirty.
    first.kill()?;
    wait_bounded(&mut first)?;
    register_sleep(&conn)?;
    register_checkpoints(&conn, None)?;
    // A wait long enough to tell waiting from not: a dead process's row is Dirty at once, never
    // after the wait for a live one.
    let wait = Duration::from_secs(30);
    let started = Instant::now();
    let error = slow_migrator()
        .busy_wait(wait)
        .run(&mut conn)
        .expect_err("dirty");
    assert!(
        matches!(
            &error,
            MigrateError::Dirty {
                version: 20_990_301_000_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        started.elapsed() < wait,
        "no wait for a dead process: {:?}",
        started.elapsed()
    );
    Ok(())
}

/// Runs the `read-only-media` child as an unprivileged user when this process is root (root
/// ignores permissions), or as this user when it is not. `None` (with the reason printed) when
/// neither can be done here.
fn run_as_unprivileged(url: &str) -> TestResult<Option<Vec<String>>> {
    let exe = std::env::current_exe()?;
    let args = CHILD_ARGS;
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| {
        o.stdout
            == b"0
"
    });
    let mut command = if root {
        if Command::new("setpriv").arg("--version").output().is_err() {
            // CI installs it and sets this, so there the test never skips.
            if std::env::var_os("PIPELINE_STORE_REQUIRE_UNPRIVILEGED").is_some() {
                return Err(
                    "setpriv (util-linux) is needed to run this test as another user".into(),
                );
            }
            eprintln!("skipped: running as root and setpriv (util-linux) is not installed");
            return Ok(None);
        }
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&exe);
        command
    } else {
        Command::new(&exe)
    };
    let output = command
        .args(args)
        .env(crate::common::child::ROLE, "read-only-media")
        .env(crate::common::child::DB, url)
        .env_remove(ARG)
        .stdin(Stdio::null())
        .output()?;
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| said(l).to_owned())
        .collect();
    assert!(
        output.status.success(),
        "{lines:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Some(lines))
}

/// Lets the test remove `dir` again.
fn writable_again(dir: &Path) -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Makes `dir` and its parents readable (and `dir` itself not writable) by every user.
fn read_only_directory(dir: &Path) -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    for entry in std::fs::read_dir(dir)? {
        std::fs::set_permissions(entry?.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555))?;
    if let Some(parent) = dir.parent() {
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[test]
fn a_database_on_read_only_media_reads_and_refuses_writes_by_name() -> TestResult {
    // Media written with the files a clean close keeps (an empty -wal and the -shm), and media
    // holding the .db alone: both read, neither is written.
    for keep_log_files in [true, false] {
        let holder = tempfile::tempdir()?;
        let dir = holder.path().join("media");
        std::fs::create_dir(&dir)?;
        let path = dir.join("pipelines.db");
        let url = path.display().to_string();
        {
            let conn = initialize_database(&url)?;
            for name in ["one", "two", "three"] {
                pipelines::create(&conn, &NewPipeline::new(name))?;
            }
        }
        let listing = |dir: &Path| -> TestResult<Vec<PathBuf>> {
            let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            names.sort();
            Ok(names)
        };
        let (wal, shm) = (beside(&path, "-wal"), beside(&path, "-shm"));
        assert_eq!(
            listing(&dir)?,
            [path.clone(), shm.clone(), wal.clone()],
            "a clean close keeps the log's files"
        );
        assert_eq!(std::fs::metadata(&wal)?.len(), 0, "and empties the log");
        if !keep_log_files {
            std::fs::remove_file(&wal)?;
            std::fs::remove_file(&shm)?;
        }
        let files = listing(&dir)?;
        let before = std::fs::read(&path)?;
        read_only_directory(&dir)?;
        let Some(lines) = run_as_unprivileged(&url)? else {
            return Ok(());
        };
        writable_again(&dir)?;
        assert!(
            lines.contains(&"read-only open: ok 3".to_owned()),
            "{keep_log_files}: {lines:#?}"
        );
        assert!(
            lines.contains(&"mode=ro open: ok 3".to_owned()),
            "{keep_log_files}: {lines:#?}"
        );
        assert!(
            lines.contains(&"check: ok 1".to_owned()),
            "{keep_log_files}: {lines:#?}"
        );
        let refused = format!(
            "writing open: DirectoryNotWritable path={} directory={}",
            path.display(),
            dir.display()
        );
        assert!(lines.contains(&refused), "{keep_log_files}: {lines:#?}");
        assert_eq!(std::fs::read(&path)?, before, "nothing was written");
        assert_eq!(listing(&dir)?, files, "no file was created or removed");
    }
    Ok(())
}

#[test]
fn a_file_this_process_may_only_read_is_read_and_a_writing_open_is_refused_by_name() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    let holder = tempfile::tempdir()?;
    let dir = holder.path().join("shared");
    std::fs::create_dir(&dir)?;
    let path = dir.join("pipelines.db");
    let url = path.display().to_string();
    {
        let conn = initialize_database(&url)?;
        pipelines::create(&conn, &NewPipeline::new("one"))?;
    }
    // The directory is everybody's (as /tmp is); the file and its log's files are read-only.
    for entry in std::fs::read_dir(&dir)? {
        std::fs::set_permissions(entry?.path(), std::fs::Permissions::from_mode(0o444))?;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
    std::fs::set_permissions(holder.path(), std::fs::Permissions::from_mode(0o755))?;
    let before = std::fs::read(&path)?;
    let Some(lines) = run_as_unprivileged(&url)? else {
        return Ok(());
    };
    assert!(
        lines.contains(&"read-only open: ok 1".to_owned()),
        "{lines:#?}"
    );
    let refused = format!("writing open: FileNotWritable path={}", path.display());
    assert!(
        lines.contains(&refused),
        "refused at the open, not at the first write: {lines:#?}"
    );
    assert_eq!(std::fs::read(&path)?, before, "nothing was written");
    Ok(())
}

#[test]
fn a_read_only_database_with_an_unread_log_is_refused_by_name() -> TestResult {
    let holder = tempfile::tempdir()?;
    let dir = holder.path().join("media");
    std::fs::create_dir(&dir)?;
    let path = dir.join("pipelines.db");
    let url = path.display().to_string();
    let source = TempDb::new()?;
    let writer = initialize_database(&source.url())?;
    writer.pragma_update(None, "wal_autocheckpoint", 0)?;
    pipelines::create(&writer, &NewPipeline::new("only-in-the-log"))?;
    // A copy taken while the log holds the commit, without the -shm file.
    std::fs::copy(&source.path, &path)?;
    let wal_copy = beside(&path, "-wal");
    std::fs::copy(beside(&source.path, "-wal"), &wal_copy)?;
    assert!(std::fs::metadata(&wal_copy)?.len() > 0);
    read_only_directory(&dir)?;
    let Some(lines) = run_as_unprivileged(&url)? else {
        return Ok(());
    };
    writable_again(&dir)?;
    let refused = format!(
        "read-only open: DirectoryNotWritable path={} directory={}",
        path.display(),
        dir.display()
    );
    assert!(
        lines.contains(&refused),
        "never an older state of the data: {lines:#?}"
    );
    drop(writer);
    Ok(())
}

#[test]
fn damaged_databases_are_a_typed_error_naming_the_file() -> TestResult {
    let db = TempDb::new()?;
    {
        let conn = initialize_database(&db.url())?;
        for i in 0..200 {
            pipelines::create(
                &conn,
                &NewPipeline::new(format!("p-{i:03}")).config("k", "v".repeat(200)),
            )?;
        }
    }
    let good = std::fs::read(&db.path)?;
    let page_size = usize::from(u16::from_be_bytes([good[16], good[17]]));
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let mut flipped = good.clone();
    // Page 2's b-tree header: an impossible page type.
    flipped[page_size] = 0xff;
    for (case, bytes) in [("truncated", truncated), ("flipped", flipped)] {
        std::fs::write(&db.path, &bytes)?;
        let outcome = initialize_database(&db.url()).and_then(|conn| {
            pipelines::list_full(&conn, &ListQuery::all().limit(1000))?;
            schema::check(&conn).map(|report| report.integrity)
        });
        match outcome {
            Err(Error::Corrupt { path, detail }) => {
                assert_eq!(path, db.path, "{case}");
                assert!(!detail.is_empty());
            }
            Ok(problems) => assert!(!problems.is_empty(), "{case}: check must report the damage"),
            Err(other) => return Err(format!("{case}: untyped {other:?}").into()),
        }
    }
    // A malformed schema.
    std::fs::write(&db.path, &good)?;
    {
        let conn = raw(&db.path)?;
        conn.execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_master SET sql = 'CREATE TABLE pipelines (' WHERE name = 'pipelines';",
        )?;
    }
    let error = initialize_database(&db.url()).expect_err("malformed schema");
    assert!(
        matches!(&error, Error::Corrupt { path, .. } if *path == db.path),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("`schema::check`") && error.to_string().contains("backup"),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_backup_removes_what_a_killed_backup_left_and_nothing_else() -> TestResult {
    let db = TempDb::new()?;
    let conn = initialize_database(&db.url())?;
    let dir = tempfile::tempdir()?;
    // What a backup killed midway leaves: its partial file and SQLite's journal beside it.
    let stale = dir.path().join(".nightly.db.999999-123.partial");
    std::fs::write(&stale, b"half a copy")?;
    let journal = beside(&stale, "-journal");
    std::fs::write(&journal, b"journal")?;
    // A partial file of a backup still running (it holds the lock) and unrelated files stay.
    let running = dir.path().join(".other.db.1-2.partial");
    let held = std::fs::File::create(&running)?;
    held.lock()?;
    let unrelated = [
        dir.path().join("notes.partial"),
        dir.path().join(".x.partial.txt"),
    ];
    for path in &unrelated {
        std::fs::write(path, b"mine")?;
    }
    schema::backup(&conn, dir.path().join("nightly.db"))?;
    assert!(!stale.exists(), "the stale partial is removed");
    assert!(!Path::new(&journal).exists(), "and its journal");
    assert!(running.exists(), "a live backup's partial stays");
    for path in &unrelated {
        assert!(path.exists(), "{} stays", path.display());
    }
    drop(held);
    Ok(())
}
