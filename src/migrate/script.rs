//! Running one migration script: statement by statement (so a failure names its line), inside
//! the caller's transaction or in autocommit mode, with foreign keys switched off around it when
//! its header asks.

use std::time::{Duration, Instant};

use log::{debug, warn};
use rusqlite::Connection;

use super::progress::{OnProgress, Progress};
use super::sql::line_of;
use super::{HistoryTable, Migration, Script};
use super::{MigrateError, Result};

/// Runs a `-- no-transaction` script in autocommit mode. Whatever happens, the connection is
/// back in autocommit afterwards: a transaction the script opened and did not end is rolled
/// back (and is an error of its own when nothing else failed).
pub(super) fn run_outside_transaction(
    conn: &mut Connection,
    version: i64,
    script: Script<'_>,
    progress: &OnProgress,
) -> Result<()> {
    with_foreign_keys_off(conn, script.foreign_keys_off, |conn| {
        let guard = guards_drops(script);
        let ran = reporting(version, script.file, progress, || {
            execute_script(conn, script.sql, guard)
        })
        .map_err(|failure| failure.into_error(version, script.file, true));
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
            });
        }
        ran?;
        check_foreign_keys(conn, version, script.file)
    })
}

/// Where a script failed: the line of the file the failing statement (or token) is on, and why.
pub(crate) struct ScriptFailure {
    line: usize,
    cause: Cause,
}

/// Why a statement of a script failed.
enum Cause {
    /// SQLite refused it.
    Sqlite(rusqlite::Error),
    /// It is a `DROP TABLE` that would delete or change rows of another table through its
    /// foreign key: refused before it ran.
    Cascade(Cascade),
}

/// What a `DROP TABLE` would do to a referencing table, with foreign keys on.
struct Cascade {
    table: String,
    child: String,
    action: String,
    rows: u64,
}

impl ScriptFailure {
    /// The migration error this failure is, for migration `version` from `file`; `outside` for
    /// a `-- no-transaction` one.
    fn into_error(self, version: i64, file: &str, outside: bool) -> MigrateError {
        match self.cause {
            Cause::Sqlite(source) if outside => MigrateError::FailedOutsideTransaction {
                version,
                file: file.to_owned(),
                line: self.line,
                source,
            },
            Cause::Sqlite(source) => MigrateError::Failed {
                version,
                file: file.to_owned(),
                line: self.line,
                source,
            },
            Cause::Cascade(c) => MigrateError::DropWouldChangeRows {
                version,
                file: file.to_owned(),
                line: self.line,
                table: c.table,
                child: c.child,
                action: c.action,
                rows: c.rows,
            },
        }
    }
}

/// Whether a script's `DROP TABLE`s are guarded: unless its header or its migrator allows the
/// rule that names them (`-- pipeline-store: allow drop-referenced-table`,
/// `Migrator::allow`), or foreign keys are off around it.
pub(super) fn guards_drops(script: Script<'_>) -> bool {
    !script.foreign_keys_off && !script.allows(super::sql::DROP_REFERENCED_TABLE)
}

/// How much text SQLite is handed at a time. SQLite copies the whole text it is asked to
/// prepare from (when it is not NUL-terminated, as Rust strings are not) before parsing its
/// first statement, so preparing statement after statement from the rest of a large file is
/// quadratic in its size; a window of whole statements keeps each copy small.
const WINDOW: usize = 16 * 1024;

/// Runs every statement of `sql` as `execute_batch` does (prepare one, step it once, go on with
/// the rest), a window of whole statements at a time, keeping track of where each statement
/// starts so a failure names its line.
///
/// Windows end where [`sql::statement_ends`](super::sql::statement_ends) says a statement
/// ends. Should SQLite read a statement as going on past such an end (this crate's tokenizer and
/// SQLite disagreeing), preparing it from the window fails; it is then prepared again from the
/// whole rest of the script, which is what SQLite alone would do, so the outcome never depends
/// on the windows.
///
/// With `guard`, a `DROP TABLE` that would delete or change rows of another table through a
/// foreign key (`ON DELETE CASCADE`, `SET NULL`, `SET DEFAULT`, with foreign keys on) is
/// refused before it runs, whatever the linter saw: the runner knows the live schema.
pub(crate) fn execute_script(
    conn: &Connection,
    sql: &str,
    guard: bool,
) -> Result<(), ScriptFailure> {
    // A script that fits in one window needs no cuts, and no tokenizing to find them.
    let ends = if sql.len() <= WINDOW {
        Vec::new()
    } else {
        super::sql::statement_ends(sql)
    };
    execute_windows(conn, sql, &ends, WINDOW, guard)
}

/// [`execute_script`] with windows of about `window` bytes cut at `ends`.
fn execute_windows(
    conn: &Connection,
    sql: &str,
    ends: &[usize],
    window: usize,
    guard: bool,
) -> Result<(), ScriptFailure> {
    let mut start = 0;
    let mut whole_rest = false;
    while start < sql.len() {
        let end = if whole_rest {
            sql.len()
        } else {
            let wanted = start + window;
            ends.get(ends.partition_point(|&e| e < wanted))
                .copied()
                .unwrap_or(sql.len())
        };
        match execute_window(conn, sql, start, end, guard) {
            Ok(resume) => start = resume,
            Err(Window::Cut { at }) => {
                start = at;
                whole_rest = true;
            }
            Err(Window::Failed(failure)) => return Err(failure),
        }
    }
    Ok(())
}

/// How a window of a script went wrong.
enum Window {
    /// Preparing the statement at `at` failed before the end of the script: run it again with
    /// the whole rest of the script.
    Cut { at: usize },
    /// A statement failed, as it would have on its own.
    Failed(ScriptFailure),
}

/// Runs the statements of `sql[start..end]`; where the next window starts (past `end` when a
/// comment goes on across it).
fn execute_window(
    conn: &Connection,
    sql: &str,
    start: usize,
    end: usize,
    guard: bool,
) -> Result<usize, Window> {
    use rusqlite::fallible_iterator::FallibleIterator as _;

    let window = &sql[start..end];
    let fail = |at: usize, source: rusqlite::Error| ScriptFailure {
        line: line_of(sql, at),
        cause: Cause::Sqlite(source),
    };
    let mut batch = rusqlite::Batch::new(conn, window);
    // Where the text of the next statement begins (comments and blank space included).
    let mut next = start;
    loop {
        let mut statement = match batch.next() {
            Ok(Some(statement)) => statement,
            // What is left of the window is blank space and comments; a comment cut by the
            // window's end is skipped whole.
            Ok(None) => return Ok(past_empty_statements(sql, next).max(end)),
            Err(_) if end < sql.len() => {
                return Err(Window::Cut {
                    at: statement_start(sql, next),
                });
            }
            Err(source) => {
                let at = match &source {
                    // The rest of the window from this statement on, and the token's offset in it.
                    rusqlite::Error::SqlInputError {
                        sql: rest, offset, ..
                    } if *offset >= 0 => {
                        end.saturating_sub(rest.len()) + usize::try_from(*offset).unwrap_or(0)
                    }
                    _ => statement_start(sql, next),
                };
                return Err(Window::Failed(fail(at, source)));
            }
        };
        let begins = next;
        let text = statement.expanded_sql();
        if guard && let Some(text) = text.as_deref().filter(|t| is_drop(t)) {
            match cascade(conn, text) {
                Ok(None) => {}
                Ok(Some(cascade)) => {
                    return Err(Window::Failed(ScriptFailure {
                        line: line_of(sql, statement_start(sql, begins)),
                        cause: Cause::Cascade(cascade),
                    }));
                }
                Err(source) => {
                    return Err(Window::Failed(fail(statement_start(sql, begins), source)));
                }
            }
        }
        if let Some(text) = text {
            // SQLite keeps a statement's text from where its preparation began (comments
            // included), so it almost always starts right here; searching is the fallback
            // (after an empty `;`, which SQLite skips without a statement).
            let found = match sql.get(next..end) {
                Some(rest) if rest.starts_with(&text) => next,
                rest => rest
                    .and_then(|rest| rest.find(&text))
                    .map_or(next, |i| next + i),
            };
            next = found + text.len();
        }
        if let Err(source) = statement.raw_query().next().map(|_| ()) {
            return Err(Window::Failed(fail(statement_start(sql, begins), source)));
        }
    }
}

/// Whether a statement's text starts with `DROP` (after blank space and comments): the cheap
/// test before the statement is read as a `DROP TABLE`.
fn is_drop(text: &str) -> bool {
    let at = statement_start(text, 0);
    text.get(at..at + 4)
        .is_some_and(|word| word.eq_ignore_ascii_case("DROP"))
}

/// One column of a foreign key onto the dropped table: the referencing table, the key's id,
/// its column, the parent column (none: the parent's primary key) and its `ON DELETE` action.
type KeyColumn = (String, i64, String, Option<String>, String);

/// What the `DROP TABLE` in `text` would do to another table's rows, with the foreign keys of
/// `conn` as they are: the first referencing table (by name) whose `ON DELETE` action deletes or
/// changes rows that point at a row of the table, and how many; `None` when nothing would
/// change (foreign keys off, no such table, no such rows).
fn cascade(conn: &Connection, text: &str) -> rusqlite::Result<Option<Cascade>> {
    let Some((table, _, _)) = super::sql::tables_removed(text)
        .into_iter()
        .find(|(_, _, how)| *how == "drops")
    else {
        return Ok(None);
    };
    let on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if !on {
        return Ok(None);
    }
    Ok(rows_changed_by_drop(conn, &table)?
        .into_iter()
        .find(|(_, _, rows)| *rows > 0)
        .map(|(child, action, rows)| Cascade {
            table,
            child,
            action,
            rows,
        }))
}

/// Every foreign key of another table onto `table` whose `ON DELETE` action deletes or changes
/// rows (`CASCADE`, `SET NULL`, `SET DEFAULT`), by table name and key: `(table, action, how many
/// of its rows point at a row of table)`. An error when `table` does not exist.
pub(super) fn rows_changed_by_drop(
    conn: &Connection,
    table: &str,
) -> rusqlite::Result<Vec<(String, String, u64)>> {
    // Every foreign key onto the table, one row per column, from every other table.
    let mut statement = conn.prepare(
        "SELECT m.name, f.id, f.\"from\", f.\"to\", upper(f.on_delete) FROM sqlite_master AS m \
         JOIN pragma_foreign_key_list(m.name) AS f \
         WHERE m.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE AND m.name <> ?1 COLLATE NOCASE \
           AND upper(f.on_delete) IN ('CASCADE', 'SET NULL', 'SET DEFAULT') \
         ORDER BY m.name, f.id, f.seq",
    )?;
    let keys: Vec<KeyColumn> = statement
        .query_map([table], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let parent_columns = parent_key(conn, table)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let (child, id, _, _, action) = &keys[i];
        let columns: Vec<&KeyColumn> = keys[i..]
            .iter()
            .take_while(|k| &k.0 == child && k.1 == *id)
            .collect();
        i += columns.len();
        let pairs: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(n, (_, _, from, to, _))| {
                let to = to
                    .clone()
                    .or_else(|| parent_columns.get(n).cloned())
                    .unwrap_or_else(|| "rowid".to_owned());
                format!("p.{} = c.{}", quoted(&to), quoted(from))
            })
            .collect();
        // Names come from the schema and are quoted; nothing here is a value.
        let sql = format!(
            "SELECT count(*) FROM {} AS c WHERE EXISTS (SELECT 1 FROM {} AS p WHERE {})",
            quoted(child),
            quoted(table),
            pairs.join(" AND ")
        );
        let rows: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
        out.push((
            child.clone(),
            action.clone(),
            u64::try_from(rows).unwrap_or(0),
        ));
    }
    Ok(out)
}

/// The primary key columns of `table`, in key order (what a foreign key without columns names).
fn parent_key(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")?
        .query_map([table], |r| r.get(0))?
        .collect()
}

/// An identifier in double quotes.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The first byte at or after `at` that is not blank space, a comment or an empty statement
/// (a `;` on its own, which SQLite skips).
fn past_empty_statements(sql: &str, mut at: usize) -> usize {
    loop {
        at = statement_start(sql, at);
        if sql.as_bytes().get(at) == Some(&b';') {
            at += 1;
        } else {
            return at;
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
            _ if sql[at..].starts_with(super::parse::BOM) => at += super::parse::BOM.len_utf8(),
            _ => break,
        }
    }
    at.min(bytes.len())
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
        })
    }
}

/// The log target of progress records: a `debug` record `start {version} {file}` when a script
/// begins running and `end {version} {file}` when it stops, whatever happened. A program can
/// show which migration is running, and for how long (the `pipeline-store` command does, on a
/// terminal, for migrations that take over a second). [`Migrator::on_progress`] gives the
/// same as typed events.
///
/// [`Migrator::on_progress`]: super::Migrator::on_progress
pub const PROGRESS_TARGET: &str = "pipeline_store::migrate::progress";

/// Runs `f`, logging its start and end on [`PROGRESS_TARGET`] and telling `progress`.
fn reporting<T>(version: i64, file: &str, progress: &OnProgress, f: impl FnOnce() -> T) -> T {
    debug!(target: PROGRESS_TARGET, "start {version} {file}");
    progress.tell(&Progress::Started { version, file });
    let started = Instant::now();
    let result = f();
    progress.tell(&Progress::Finished {
        version,
        file,
        elapsed: started.elapsed(),
    });
    debug!(target: PROGRESS_TARGET, "end {version} {file}");
    result
}

/// Runs one script inside the caller's transaction and returns how long it took.
pub(super) fn run_script(
    tx: &Connection,
    history: &HistoryTable,
    m: &Migration,
    script: Script<'_>,
    progress: &OnProgress,
) -> Result<Duration> {
    debug!("running {} (migration {})", script.file, m.version);
    let started = Instant::now();
    let guard = guards_drops(script);
    reporting(m.version, script.file, progress, || {
        execute_script(tx, script.sql, guard)
    })
    .map_err(|failure| failure.into_error(m.version, script.file, false))?;
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
        });
    }
    if script.foreign_keys_off {
        check_foreign_keys(tx, m.version, script.file)?;
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod window_tests {
    use std::fmt::Write as _;

    use super::*;

    fn run(sql: &str, ends: &[usize], window: usize) -> (Result<(), usize>, Vec<String>) {
        let conn = Connection::open_in_memory().unwrap();
        let outcome = execute_windows(&conn, sql, ends, window, false).map_err(|f| f.line);
        let rows = conn
            .prepare("SELECT name FROM sqlite_master ORDER BY name")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default();
        (outcome, rows)
    }

    /// A script whose statements hold `;` in a string, a comment and a trigger body.
    const SCRIPT: &str = "CREATE TABLE a (x TEXT DEFAULT ';');\n\
        -- a comment; with a semicolon\n\
        CREATE TABLE b (y);\n\
        CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); INSERT INTO b VALUES (2); END;\n\
        /* ; */ CREATE TABLE c (z);\n";

    #[test]
    fn windows_of_every_size_run_what_execute_batch_runs() {
        let reference = Connection::open_in_memory().unwrap();
        reference.execute_batch(SCRIPT).unwrap();
        let ends = crate::migrate::sql::statement_ends(SCRIPT);
        assert_eq!(ends.len(), 4, "{ends:?}");
        for window in [1, 10, 40, 100, 10_000] {
            let (outcome, rows) = run(SCRIPT, &ends, window);
            assert_eq!(outcome, Ok(()), "window {window}");
            assert_eq!(rows, ["a", "b", "c", "t"], "window {window}");
        }
    }

    #[test]
    fn a_cut_where_sqlite_reads_on_is_run_again_from_the_whole_rest() {
        // Ends that disagree with SQLite: inside the string, inside the comment, inside the
        // trigger body.
        let wrong: Vec<usize> = [";')", "with", "(1);"]
            .iter()
            .map(|needle| SCRIPT.find(needle).unwrap() + needle.len())
            .collect();
        let mut ends = wrong.clone();
        ends.sort_unstable();
        for window in [1, 30, 80] {
            let (outcome, rows) = run(SCRIPT, &ends, window);
            assert_eq!(outcome, Ok(()), "window {window}");
            assert_eq!(rows, ["a", "b", "c", "t"], "window {window}");
        }
    }

    #[test]
    fn a_failure_in_a_later_window_names_its_own_line() {
        let mut sql = String::new();
        for i in 0..50 {
            let _ = writeln!(sql, "CREATE TABLE t{i} (x);");
        }
        sql.push_str("INSERT INTO nowhere VALUES (1);\n");
        let ends = crate::migrate::sql::statement_ends(&sql);
        for window in [1, 64, 100_000] {
            let (outcome, _) = run(&sql, &ends, window);
            assert_eq!(outcome, Err(51), "window {window}");
        }
    }
}
