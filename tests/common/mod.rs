//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use pipeline_store::rusqlite::Connection;

pub mod child;

/// The error type tests return, so they can use `?` on anything.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A temporary directory and a database path inside it.
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempDb {
    pub fn new() -> TestResult<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pipelines.db");
        Ok(Self { dir, path })
    }

    /// The path as a `sqlite://` URL.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

/// Everything that describes a database's schema and migration history, in a stable order:
/// compared before and after an operation that must change nothing.
pub fn snapshot(conn: &Connection) -> TestResult<Vec<String>> {
    let mut rows = Vec::new();
    let mut statement = conn.prepare(
        "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
    )?;
    for row in statement.query_map([], |r| {
        Ok(format!(
            "{}|{}|{}|{}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?
        ))
    })? {
        rows.push(row?);
    }
    let has_history: bool = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = '_sqlx_migrations'",
        [],
        |r| r.get(0),
    )?;
    if has_history {
        let mut statement = conn.prepare(
            "SELECT version, description, installed_on, success, hex(checksum), execution_time \
             FROM _sqlx_migrations ORDER BY version",
        )?;
        for row in statement.query_map([], |r| {
            Ok(format!(
                "history|{}|{}|{}|{}|{}|{}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?
            ))
        })? {
            rows.push(row?);
        }
    }
    Ok(rows)
}

/// `path` with `suffix` appended: SQLite's `-wal`, `-shm` and `-journal` files beside it.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Opens a file with plain rusqlite (no pragmas, no migrations), for inspecting or tampering.
pub fn raw(path: &Path) -> TestResult<Connection> {
    Ok(Connection::open(path)?)
}

/// The names of the user tables, sorted.
pub fn tables(conn: &Connection) -> TestResult<Vec<String>> {
    let mut statement = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names = statement
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

/// Writes migration files into a directory.
pub fn write_migrations(dir: &Path, files: &[(&str, &str)]) -> TestResult {
    std::fs::create_dir_all(dir)?;
    for (name, sql) in files {
        std::fs::write(dir.join(name), sql)?;
    }
    Ok(())
}

/// Lower-case hexadecimal, to compare checksums with the ones messages show.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Rebuilds `pipelines` with SQLite's 12-step procedure (new table, copy, drop, rename).
pub const REBUILD_PIPELINES: &str = "
CREATE TABLE pipelines_new (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    archived BOOLEAN NOT NULL DEFAULT false,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    owner TEXT
);
INSERT INTO pipelines_new (id, name, archived, created_at, updated_at)
    SELECT id, name, archived, created_at, updated_at FROM pipelines;
DROP TABLE pipelines;
ALTER TABLE pipelines_new RENAME TO pipelines;
CREATE INDEX IF NOT EXISTS idx_pipelines_name ON pipelines(name) WHERE archived = false;
";

/// The statements SQLite runs on `conn` while `f` runs, as their text.
pub fn statements_run(
    conn: &mut Connection,
    f: impl FnOnce(&Connection) -> TestResult,
) -> TestResult<Vec<String>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    conn.trace_v2(
        pipeline_store::rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
        Some(
            move |event: pipeline_store::rusqlite::trace::TraceEvent<'_>| {
                if let pipeline_store::rusqlite::trace::TraceEvent::Stmt(_, sql) = event {
                    sink.lock().expect("not poisoned").push(sql.to_owned());
                }
            },
        ),
    )?;
    f(conn)?;
    conn.trace_v2(
        pipeline_store::rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
        None::<fn(pipeline_store::rusqlite::trace::TraceEvent<'_>)>,
    )?;
    let seen = seen.lock().expect("not poisoned").clone();
    Ok(seen)
}
