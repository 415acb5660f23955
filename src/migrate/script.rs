//! Running one migration script: statement by statement (so a failure names its line), inside
//! the caller's transaction or in autocommit mode, with foreign keys switched off around it when
//! its header asks.

use std::time::{Duration, Instant};

use log::{debug, warn};
use rusqlite::Connection;

use super::{HistoryTable, Migration, Script};
use crate::error::{MigrateError, Result};

/// Runs a `-- no-transaction` script in autocommit mode. Whatever happens, the connection is
/// back in autocommit afterwards: a transaction the script opened and did not end is rolled
/// back (and is an error of its own when nothing else failed).
pub(super) fn run_outside_transaction(
    conn: &mut Connection,
    version: i64,
    script: Script<'_>,
) -> Result<()> {
    with_foreign_keys_off(conn, script.foreign_keys_off, |conn| {
        let ran = reporting(version, script.file, || execute_script(conn, script.sql)).map_err(
            |failure| MigrateError::FailedOutsideTransaction {
                version,
                file: script.file.to_owned(),
                line: failure.line,
                source: failure.source,
            },
        );
        if !conn.is_autocommit() {
            // Undo what the script's own transaction did; its history row stays dirty.
            if let Err(rollback) = conn.execute_batch("ROLLBACK") {
                warn!(
                    "rolling back the transaction {} left open failed: {rollback}",
                    script.file
                );
            }
            ran?;
            return Err(MigrateError::LeftTransactionOpen {
                version,
                file: script.file.to_owned(),
            }
            .into());
        }
        ran?;
        check_foreign_keys(conn, version, script.file)
    })
}

/// Where a script failed: the line of the file the failing statement (or token) is on.
struct ScriptFailure {
    line: usize,
    source: rusqlite::Error,
}

/// Runs every statement of `sql` as `execute_batch` does (prepare one, step it once, go on with
/// the rest), keeping track of where each statement starts so a failure names its line.
fn execute_script(conn: &Connection, sql: &str) -> Result<(), ScriptFailure> {
    use rusqlite::fallible_iterator::FallibleIterator as _;

    let fail = |at: usize, source: rusqlite::Error| ScriptFailure {
        line: line_of(sql, at),
        source,
    };
    let mut batch = rusqlite::Batch::new(conn, sql);
    // Where the text of the next statement begins (comments and blank space included).
    let mut next = 0;
    loop {
        let mut statement = match batch.next() {
            Ok(Some(statement)) => statement,
            Ok(None) => return Ok(()),
            Err(source) => {
                let at = match &source {
                    // The rest of the script from this statement on, and the token's offset in it.
                    rusqlite::Error::SqlInputError {
                        sql: rest, offset, ..
                    } if *offset >= 0 => {
                        sql.len().saturating_sub(rest.len()) + usize::try_from(*offset).unwrap_or(0)
                    }
                    _ => statement_start(sql, next),
                };
                return Err(fail(at, source));
            }
        };
        let start = next;
        if let Some(text) = statement.expanded_sql() {
            // SQLite keeps a statement's text from where its preparation began (comments
            // included), so it almost always starts right here; searching is the fallback
            // (after an empty `;`, which SQLite skips without a statement).
            let found = match sql.get(next..) {
                Some(rest) if rest.starts_with(&text) => next,
                rest => rest
                    .and_then(|rest| rest.find(&text))
                    .map_or(next, |i| next + i),
            };
            next = found + text.len();
        }
        if let Err(source) = statement.raw_query().next().map(|_| ()) {
            return Err(fail(statement_start(sql, start), source));
        }
    }
}

/// The first byte at or after `at` that is not blank space or a comment.
fn statement_start(sql: &str, mut at: usize) -> usize {
    let bytes = sql.as_bytes();
    while at < bytes.len() {
        match bytes[at] {
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' => at += 1,
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = sql[at..].find('\n').map_or(bytes.len(), |i| at + i + 1);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = sql[at + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |i| at + 2 + i + 2);
            }
            _ if sql[at..].starts_with('\u{feff}') => at += '\u{feff}'.len_utf8(),
            _ => break,
        }
    }
    at.min(bytes.len())
}

/// The 1-based line of byte `at`.
fn line_of(sql: &str, at: usize) -> usize {
    sql.get(..at).unwrap_or(sql).matches('\n').count() + 1
}

/// Runs `f` with foreign keys switched off when `off`, and switches them back on afterwards
/// whatever `f` returned. The switch happens outside any transaction, where SQLite honours it.
pub(super) fn with_foreign_keys_off<T>(
    conn: &mut Connection,
    off: bool,
    f: impl FnOnce(&mut Connection) -> Result<T>,
) -> Result<T> {
    if !off {
        return f(conn);
    }
    let before: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = f(conn);
    let restored = conn.pragma_update(None, "foreign_keys", before);
    let value = result?;
    restored?;
    Ok(value)
}

/// Fails with the violations when a foreign key points nowhere.
pub(super) fn check_foreign_keys(conn: &Connection, version: i64, file: &str) -> Result<()> {
    let violations = super::foreign_keys::violations(conn)?;
    if violations.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::ForeignKeyViolations {
            version,
            file: file.to_owned(),
            violations,
        }
        .into())
    }
}

/// The log target of progress records: a `debug` record `start {version} {file}` when a script
/// begins running and `end {version} {file}` when it stops, whatever happened. A program can
/// show which migration is running, and for how long (the `pipeline-store` command does, on a
/// terminal, for migrations that take over a second).
pub const PROGRESS_TARGET: &str = "pipeline_store::migrate::progress";

/// Runs `f`, logging its start and end on [`PROGRESS_TARGET`].
fn reporting<T>(version: i64, file: &str, f: impl FnOnce() -> T) -> T {
    debug!(target: PROGRESS_TARGET, "start {version} {file}");
    let result = f();
    debug!(target: PROGRESS_TARGET, "end {version} {file}");
    result
}

/// Runs one script inside the caller's transaction and returns how long it took.
pub(super) fn run_script(
    tx: &Connection,
    history: &HistoryTable,
    m: &Migration,
    script: Script<'_>,
) -> Result<Duration> {
    debug!("running {} (migration {})", script.file, m.version);
    let started = Instant::now();
    reporting(m.version, script.file, || execute_script(tx, script.sql)).map_err(|failure| {
        MigrateError::Failed {
            version: m.version,
            file: script.file.to_owned(),
            line: failure.line,
            source: failure.source,
        }
    })?;
    if tx.is_autocommit() {
        // What ran before its COMMIT is committed: record the migration as dirty, so the next
        // run says so instead of failing on what half of it already created.
        if let Err(error) = tx.execute(&history.create, []).and_then(|_| {
            tx.prepare_cached(&history.claim)?
                .execute(rusqlite::params![
                    m.version,
                    m.description.as_ref(),
                    m.checksum.as_slice()
                ])
        }) {
            warn!("recording migration {} as dirty failed: {error}", m.version);
        }
        return Err(MigrateError::EndedTransaction {
            version: m.version,
            file: script.file.to_owned(),
        }
        .into());
    }
    if script.foreign_keys_off {
        check_foreign_keys(tx, m.version, script.file)?;
    }
    Ok(started.elapsed())
}
