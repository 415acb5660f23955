//! The migration corpus (`tests/corpus/`): files in the shapes projects really write for SQLite
//! (sqlx-style DDL and backfills, the twelve-step rebuild of SQLite's documentation with and
//! without the directive, prisma's `PRAGMA foreign_keys=OFF … ON` rebuilds, self-referencing
//! tables, new tables that reference the old, drops of children then parents, renames away,
//! triggers and indexes lost in a rebuild, down scripts).
//!
//! For every file: the migrations before it are run by the `sqlite3` shell, one row is seeded
//! in every table (children pointing at parents), and the file is then run three ways on copies:
//!
//! - by the shell with foreign keys off: what the author meant, the reference;
//! - by the shell with foreign keys on, inside one transaction: what a plain runner (sqlx) does;
//! - by the library, foreign keys on.
//!
//! A **silent loss** is a file the library runs whose rows differ from the reference's. A **false
//! refusal** is a file the library refuses though the plain run keeps every row of the
//! reference. A refusal of a file the plain run damages must name a table whose rows it damages.
//! Both counts must be zero; the tally is printed (`cargo test --all-features corpus --
//! --nocapture`).
//!
//! The shell is looked up on `PATH`; without it the test says so and passes, unless
//! `PIPELINE_STORE_REQUIRE_SQLITE3` is set (as `.ci/run` sets it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::rusqlite::Connection;
use pipeline_store::rusqlite::types::Value;
use pipeline_store::{Error, MigrateError};

use crate::common::TestResult;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// Every table's rows (history tables aside), each row rendered and the rows sorted.
type Dump = BTreeMap<String, Vec<String>>;

/// The `sqlite3` shell, or `None` (said on stderr) when it is not installed and not required.
fn shell() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("sqlite3"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("PIPELINE_STORE_REQUIRE_SQLITE3").is_none(),
            "the sqlite3 shell is required (PIPELINE_STORE_REQUIRE_SQLITE3) and not on PATH"
        );
        eprintln!("SKIPPED: the migration corpus needs the sqlite3 shell on PATH");
    }
    found
}

/// Runs `sql` on the database at `db` with the shell, stopping at the first error.
fn run_shell(shell: &Path, db: &Path, sql: &str) -> TestResult<Result<(), String>> {
    let mut child = Command::new(shell)
        .arg("-bail")
        .arg("-batch")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(sql.as_bytes())?;
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok(if out.status.success() && stderr.is_empty() {
        Ok(())
    } else {
        Err(stderr)
    })
}

/// What the author meant: foreign keys off, statement by statement.
fn author_run(shell: &Path, db: &Path, sql: &str) -> TestResult<Result<(), String>> {
    run_shell(shell, db, &format!("PRAGMA foreign_keys=OFF;\n{sql}\n"))
}

/// What a plain runner does: foreign keys on, the file in one transaction.
fn plain_run(shell: &Path, db: &Path, sql: &str) -> TestResult<Result<(), String>> {
    run_shell(
        shell,
        db,
        &format!("PRAGMA foreign_keys=ON;\nBEGIN;\n{sql}\n;COMMIT;\n"),
    )
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn user_tables(conn: &Connection) -> TestResult<Vec<String>> {
    let mut statement = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )?;
    let names = statement
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

fn dump(db: &Path) -> TestResult<Dump> {
    let conn = Connection::open(db)?;
    let mut out = Dump::new();
    for table in user_tables(&conn)? {
        let mut statement = conn.prepare(&format!("SELECT * FROM {}", quoted(&table)))?;
        let width = statement.column_count();
        let mut rows: Vec<String> = statement
            .query_map([], |r| {
                (0..width)
                    .map(|i| r.get::<_, Value>(i).map(|v| render(&v)))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|values| values.join(", "))
            })?
            .collect::<Result<_, _>>()?;
        rows.sort();
        out.insert(table, rows);
    }
    Ok(out)
}

/// One value as the dumps compare it: a `CURRENT_TIMESTAMP` text (`YYYY-MM-DD HH:MM:SS`, what
/// a column default fills in when a rebuild copies a row) reads as the same for every run, since
/// the shell and the library run the file seconds apart.
fn render(value: &Value) -> String {
    match value {
        Value::Text(text) if is_timestamp(text) => "<CURRENT_TIMESTAMP>".to_owned(),
        other => format!("{other:?}"),
    }
}

fn is_timestamp(text: &str) -> bool {
    text.len() == 19
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        })
}

/// One foreign key column: (column, parent table, parent column or `None` for its key).
type KeyColumn = (String, String, Option<String>);

/// Inserts one row in every table, parents first, each foreign key pointing at the parent's
/// row (a self-reference at the row itself). A key onto a table that no longer exists (an
/// earlier file's rename away left it so) gets 1; every other key is checked afterwards.
fn seed(db: &Path) -> TestResult {
    let conn = Connection::open(db)?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let tables = user_tables(&conn)?;
    let exists = |name: &str| tables.iter().any(|t| t.eq_ignore_ascii_case(name));
    let mut keys: BTreeMap<String, Vec<KeyColumn>> = BTreeMap::new();
    for table in &tables {
        let mut statement =
            conn.prepare("SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?1)")?;
        let columns = statement
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<KeyColumn>, _>>()?;
        keys.insert(table.clone(), columns);
    }
    let mut seeded: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut left: Vec<String> = tables.clone();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            keys[t].iter().all(|(_, parent, _)| {
                parent.eq_ignore_ascii_case(t)
                    || !exists(parent)
                    || seeded.keys().any(|s| s.eq_ignore_ascii_case(parent))
            })
        });
        let table = left.remove(ready.ok_or("a cycle of foreign keys in the corpus")?);
        let mut statement = conn.prepare(
            "SELECT name, upper(type), pk FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid",
        )?;
        let columns = statement
            .query_map([&table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<(String, String, i64)>, _>>()?;
        let mut row: BTreeMap<String, Value> = BTreeMap::new();
        for (name, kind, _) in &columns {
            let value = if kind.contains("INT") || kind.contains("BOOL") {
                Value::Integer(1)
            } else if kind.contains("REAL") || kind.contains("FLOA") || kind.contains("DOUB") {
                Value::Real(1.5)
            } else if kind.contains("DATE") || kind.contains("TIME") {
                Value::Text("2026-01-01 00:00:00".to_owned())
            } else {
                Value::Text(format!("{table}-{name}"))
            };
            row.insert(name.clone(), value);
        }
        for (column, parent, to) in &keys[&table] {
            if !exists(parent) {
                row.insert(column.clone(), Value::Integer(1));
                continue;
            }
            let parent_row = if parent.eq_ignore_ascii_case(&table) {
                row.clone()
            } else {
                seeded
                    .iter()
                    .find(|(s, _)| s.eq_ignore_ascii_case(parent))
                    .map(|(_, r)| r.clone())
                    .ok_or("parent not seeded")?
            };
            let to = match to {
                Some(to) => to.clone(),
                None => columns
                    .iter()
                    .find(|(_, _, pk)| *pk == 1)
                    .map(|(n, _, _)| n.clone())
                    .ok_or("no key to reference")?,
            };
            let value = parent_row
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&to))
                .map(|(_, v)| v.clone())
                .ok_or("no parent column")?;
            row.insert(column.clone(), value);
        }
        let names: Vec<String> = row.keys().map(|n| quoted(n)).collect();
        let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
        conn.execute(
            &format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quoted(&table),
                names.join(", "),
                marks.join(", ")
            ),
            pipeline_store::rusqlite::params_from_iter(row.values()),
        )?;
        seeded.insert(table, row);
    }
    // Every key onto a table that exists points at a row.
    for (table, columns) in &keys {
        if columns.iter().all(|(_, parent, _)| exists(parent)) {
            let mut check = conn.prepare("SELECT count(*) FROM pragma_foreign_key_check(?1)")?;
            let violations: i64 = check.query_row([table], |r| r.get(0))?;
            assert_eq!(violations, 0, "the seed of {table} points nowhere");
        }
    }
    Ok(())
}

/// The tables whose rows differ between two dumps (a table only in one counts).
fn differing(a: &Dump, b: &Dump) -> BTreeSet<String> {
    a.keys()
        .chain(b.keys())
        .filter(|t| a.get(*t) != b.get(*t))
        .cloned()
        .collect()
}

/// How the library's outcome on one file compares with the shell's.
#[derive(Debug, Default)]
struct Tally {
    files: usize,
    /// The plain run keeps every row and the library runs the file: equal outcomes.
    safe_run: usize,
    /// The plain run damages rows or fails; the library keeps every row the author meant.
    dangerous_run_without_loss: usize,
    /// The plain run damages rows or fails; the library refuses, naming a damaged table.
    dangerous_refused: Vec<String>,
    silent_losses: Vec<String>,
    false_refusals: Vec<String>,
    vague_refusals: Vec<String>,
}

/// One file to try: its name, the script, and how the library runs it.
struct Case<'a> {
    file: String,
    sql: &'a str,
    migration: &'a Migration,
    down: bool,
}

/// The tables a refusal names: the child of a guarded drop, the children a lint finding lists,
/// the tables of foreign-key violations; empty for any other error.
fn named_tables(error: &Error) -> Vec<String> {
    match error {
        Error::Migrate(MigrateError::DropWouldChangeRows { child, .. }) => vec![child.clone()],
        Error::Migrate(MigrateError::Lint { findings }) => {
            findings.iter().map(|f| f.message.clone()).collect()
        }
        Error::Migrate(MigrateError::ForeignKeyViolations { violations, .. }) => {
            violations.iter().map(ToString::to_string).collect()
        }
        _ => Vec::new(),
    }
}

/// Runs `case` the library's way on the database at `db`.
fn library_run(db: &Path, case: &Case<'_>, migrator: &Migrator) -> TestResult<Result<(), Error>> {
    let mut conn = Connection::open(db)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    if case.down {
        migrator.baseline(&mut conn, case.migration.version())?;
        Ok(migrator
            .revert_to(&mut conn, 0)
            .map(|_| ())
            .map_err(Error::from))
    } else {
        Ok(migrator.run(&mut conn).map(|_| ()).map_err(Error::from))
    }
}

/// Tries one file on a copy of `seeded` and adds the outcome to `tally`.
fn try_file(
    shell: &Path,
    seeded: &Path,
    case: &Case<'_>,
    migrator: &Migrator,
    tally: &mut Tally,
) -> TestResult {
    let dir = seeded.parent().ok_or("no directory")?;
    let copy = |name: &str| -> TestResult<PathBuf> {
        let path = dir.join(name);
        std::fs::copy(seeded, &path)?;
        Ok(path)
    };
    let (author, plain, library) = (copy("author.db")?, copy("plain.db")?, copy("library.db")?);
    if let Err(e) = author_run(shell, &author, case.sql)? {
        return Err(format!(
            "{}: the corpus file fails with foreign keys off: {e}",
            case.file
        )
        .into());
    }
    let reference = dump(&author)?;
    let plain_ok = plain_run(shell, &plain, case.sql)?.is_ok();
    let damaged = if plain_ok {
        differing(&reference, &dump(&plain)?)
    } else {
        BTreeSet::new()
    };
    let safe = plain_ok && damaged.is_empty();
    tally.files += 1;
    match library_run(&library, case, migrator)? {
        Ok(()) => {
            let lost = differing(&reference, &dump(&library)?);
            if !lost.is_empty() {
                tally
                    .silent_losses
                    .push(format!("{}: rows differ in {lost:?}", case.file));
            } else if safe {
                tally.safe_run += 1;
            } else {
                tally.dangerous_run_without_loss += 1;
            }
        }
        Err(error) => {
            if safe {
                tally
                    .false_refusals
                    .push(format!("{}: refused: {error}", case.file));
            } else {
                let named = named_tables(&error);
                let names_damage = if plain_ok {
                    damaged
                        .iter()
                        .any(|t| named.iter().any(|n| n.contains(t.as_str())))
                } else {
                    // The plain run fails: the library's refusal is that failure or more precise.
                    true
                };
                if names_damage {
                    tally
                        .dangerous_refused
                        .push(format!("{}: damages {damaged:?}; {error}", case.file));
                } else {
                    tally.vague_refusals.push(format!(
                        "{}: damages {damaged:?}, refused without naming it: {error}",
                        case.file
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Runs every file of the corpus (each set's up scripts in order, then each down script).
fn run_corpus(shell: &Path, tune: &dyn Fn(Migrator) -> TestResult<Migrator>) -> TestResult<Tally> {
    let mut tally = Tally::default();
    let mut sets: Vec<PathBuf> = std::fs::read_dir(CORPUS)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    sets.sort();
    for set in sets {
        let all = Migrator::from_dir(&set)?;
        let migrations = all.migrations();
        for (i, m) in migrations.iter().enumerate() {
            for down in [false, true] {
                let sql = if down {
                    match m.down_sql() {
                        Some(sql) => sql,
                        None => continue,
                    }
                } else {
                    m.sql()
                };
                let state = tempfile::tempdir()?;
                let seeded = state.path().join("seeded.db");
                // The migrations before it (and its own up script, for a down script), as
                // their authors meant them.
                let before = if down { i + 1 } else { i };
                for earlier in &migrations[..before] {
                    if let Err(e) = author_run(shell, &seeded, earlier.sql())? {
                        return Err(format!("{}: {e}", earlier.file()).into());
                    }
                }
                // The shell makes no file for an empty set; the seed needs one.
                Connection::open(&seeded)?;
                seed(&seeded)?;
                let file = if down {
                    m.file().replace(".up.sql", ".down.sql")
                } else {
                    m.file().to_owned()
                };
                let migrator = tune(Migrator::new(vec![m.clone()])?)?;
                let case = Case {
                    file: format!(
                        "{}/{file}",
                        set.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    sql,
                    migration: m,
                    down,
                };
                try_file(shell, &seeded, &case, &migrator, &mut tally)?;
            }
        }
    }
    Ok(tally)
}

fn report(tally: &Tally) -> String {
    let mut out = format!(
        "{} files: {} safe and run; {} the plain run damages, run without loss; {} it damages, \
         refused naming the damage; {} silent losses; {} false refusals; {} vague refusals",
        tally.files,
        tally.safe_run,
        tally.dangerous_run_without_loss,
        tally.dangerous_refused.len(),
        tally.silent_losses.len(),
        tally.false_refusals.len(),
        tally.vague_refusals.len()
    );
    for line in tally
        .dangerous_refused
        .iter()
        .chain(&tally.silent_losses)
        .chain(&tally.false_refusals)
        .chain(&tally.vague_refusals)
    {
        let _ = write!(out, "\n  {line}");
    }
    out
}

#[test]
fn every_corpus_file_keeps_the_rows_its_author_meant_or_is_refused_naming_the_damage() -> TestResult
{
    let Some(shell) = shell() else {
        return Ok(());
    };
    let tally = run_corpus(&shell, &|m| Ok(m))?;
    let summary = report(&tally);
    eprintln!("{summary}");
    assert!(tally.files >= 40, "{summary}");
    assert!(tally.silent_losses.is_empty(), "{summary}");
    assert!(tally.false_refusals.is_empty(), "{summary}");
    assert!(tally.vague_refusals.is_empty(), "{summary}");
    // The corpus holds both kinds, or the comparison proves little.
    assert!(tally.safe_run >= 20, "{summary}");
    assert!(tally.dangerous_refused.len() >= 5, "{summary}");
    assert!(tally.dangerous_run_without_loss >= 5, "{summary}");
    Ok(())
}

#[test]
fn the_corpus_comparison_finds_the_losses_of_a_runner_without_the_safety_rules() -> TestResult {
    let Some(shell) = shell() else {
        return Ok(());
    };
    // With the drop rule allowed (which also stands the run-time guard aside), the dangerous
    // files run as a plain runner runs them: the comparison must see their losses.
    let tally = run_corpus(&shell, &|m| Ok(m.allow("drop-referenced-table", None)?))?;
    let summary = report(&tally);
    eprintln!("{summary}");
    assert!(tally.silent_losses.len() >= 5, "{summary}");
    Ok(())
}
