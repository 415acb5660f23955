//! The hand-written baseline the `startup` bench and `examples/instructions.rs` measure the
//! library against, and the longer migration history both use.

#![allow(dead_code, reason = "each includer uses part of it")]

use std::path::Path;
use std::time::Duration;

use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::rusqlite::{Connection, FileControl, MAIN_DB, OpenFlags};
use pipeline_store::schema;

/// The baseline's open: the same flags and pragmas as the library, by hand.
pub fn raw_open(path: &Path, create: bool) -> Connection {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).expect("open");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .expect("pragmas");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("wal");
    assert_eq!(mode, "wal");
    conn
}

/// The baseline's open with the write-ahead log kept between opens, as the library keeps it
/// (`SQLITE_FCNTL_PERSIST_WAL` and a `journal_size_limit`).
pub fn raw_open_persistent(path: &Path) -> Connection {
    let conn = raw_open(path, false);
    let mut on = 1;
    conn.file_control(Some(MAIN_DB), FileControl::PersistWal(&mut on))
        .expect("persistent WAL");
    conn.execute_batch("PRAGMA journal_size_limit = 67108864;")
        .expect("journal size limit");
    conn
}

/// The baseline's warm start: open, read `PRAGMA user_version` (where the library validates
/// its history), count pipelines.
pub fn raw_warm(path: &Path, persistent: bool) -> i64 {
    let conn = if persistent {
        raw_open_persistent(path)
    } else {
        raw_open(path, false)
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM pipelines", [], |r| r.get(0))
        .expect("count");
    version + count
}

/// The embedded migrations plus `extra` trivial ones, each creating one small table.
pub fn with_extra_migrations(extra: i64) -> Migrator {
    let mut migrations = schema::migrator().migrations().to_vec();
    let last = migrations.last().map_or(0, Migration::version);
    for i in 1..=extra {
        migrations.push(Migration::new(
            last + i,
            format!("create extra {i}"),
            format!("CREATE TABLE extra_{i} (id INTEGER PRIMARY KEY, value TEXT NOT NULL);"),
        ));
    }
    Migrator::new(migrations).expect("distinct versions")
}

/// Every embedded migration's SQL, in order: what the baseline's cold start runs in one batch.
pub fn all_sql() -> String {
    schema::migrator()
        .migrations()
        .iter()
        .map(Migration::sql)
        .collect::<Vec<_>>()
        .join("\n")
}
