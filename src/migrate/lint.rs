//! The linter: findings on migrations before anything is applied.
//!
//! The text rules (`sql.rs`, shared with `build.rs`) need nothing but the file. The schema rule,
//! `drop-referenced-table`, needs the schema as it stands before the migration: the database's
//! own for the next pending migration, then an in-memory copy of that schema with the earlier
//! pending migrations applied to it (no rows are copied).

use std::fmt;

use rusqlite::Connection;

use super::sql::{self, TextFinding};
use super::{MigrateError, Result};
use super::{Migration, Migrator, Script};

/// One finding of the linter.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The rule's stable id: `foreign-keys-pragma`, `directive-spelling`,
    /// `transaction-control` or `drop-referenced-table`.
    pub rule: &'static str,
    /// The migration's version.
    pub version: i64,
    /// The file (the `.down.sql` for a down script).
    pub file: String,
    /// The 1-based line in the file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// Why it matters.
    pub why: String,
    /// What to do instead.
    pub fix: String,
    /// Whether it is allowed, by the file (`-- pipeline-store: allow RULE` in its header) or
    /// by the migrator ([`Migrator::allow`]): reported, never refused.
    pub allowed: bool,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{}] {}: {}; {}",
            self.file, self.line, self.rule, self.message, self.why, self.fix
        )?;
        if self.allowed {
            f.write_str(" (allowed)")?;
        }
        Ok(())
    }
}

impl Migrator {
    /// Lints every migration, up and down scripts, replaying the up scripts in memory so the
    /// schema rule sees the schema each one starts from. Reads no database.
    ///
    /// ```
    /// use pipeline_store::migrate::{Migration, Migrator};
    ///
    /// let migrator = Migrator::new(vec![
    ///     Migration::new(1, "create", "CREATE TABLE a (x);"),
    ///     Migration::new(2, "rebuild", "PRAGMA foreign_keys=OFF;\nCREATE TABLE b (x);"),
    /// ])?;
    /// let findings = migrator.lint()?;
    /// assert_eq!(findings[0].rule, "foreign-keys-pragma");
    /// assert_eq!((findings[0].file.as_str(), findings[0].line), ("2_rebuild.sql", 1));
    /// # Ok::<(), pipeline_store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MigrateError::Sqlite`](super::MigrateError::Sqlite) when the in-memory database cannot be opened.
    pub fn lint(&self) -> Result<Vec<Finding>> {
        let mut replica = schema_replica()?;
        for base in &self.base {
            base.run(&mut replica)?;
        }
        let ups: Vec<(&Migration, Script<'_>)> = self
            .migrations()
            .iter()
            .map(|m| (m, m.up_script()))
            .collect();
        let mut findings = lint_scripts(Some(replica), None, &ups);
        for m in self.migrations() {
            if let Some(down) = m.down_script() {
                findings.extend(text_findings(m.version(), down));
            }
        }
        findings.sort_by(|a, b| (a.version, &a.file, a.line).cmp(&(b.version, &b.file, b.line)));
        Ok(findings)
    }

    /// Lints `scripts`, about to run in this order on `conn`, and refuses them when a finding is
    /// not allowed (allowed ones are logged). The embedded set skips this: `build.rs` refused
    /// any text finding when it embedded the files, and the crate's tests lint the set with its
    /// schema, so the open of a database never pays for it.
    pub(crate) fn refuse_findings(
        &self,
        conn: &Connection,
        scripts: &[(&Migration, Script<'_>)],
    ) -> Result<()> {
        if self.linted_at_build || scripts.is_empty() {
            return Ok(());
        }
        let findings = findings(conn, scripts);
        for finding in findings.iter().filter(|f| f.allowed) {
            log::warn!("{finding}");
        }
        let refused: Vec<Finding> = findings.into_iter().filter(|f| !f.allowed).collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(MigrateError::Lint { findings: refused })
        }
    }
}

/// Every finding on `scripts`, about to run in this order on `conn`, allowed ones included. A
/// drop's finding says how many rows of each child point at the table in `conn` now.
pub(crate) fn findings(conn: &Connection, scripts: &[(&Migration, Script<'_>)]) -> Vec<Finding> {
    lint_scripts(replica_of(conn), Some(conn), scripts)
}

/// The text findings of one script, with the file's escapes applied.
fn text_findings(version: i64, script: Script<'_>) -> Vec<Finding> {
    let (mut allowed, _) = sql::allowed(script.sql);
    allowed.extend_from_slice(script.allowed);
    sql::text_findings(script.sql, !script.no_transaction)
        .into_iter()
        .map(|found| finding(version, script.file, found, &allowed))
        .collect()
}

fn finding(version: i64, file: &str, found: TextFinding, allowed: &[&str]) -> Finding {
    Finding {
        rule: found.rule,
        version,
        file: file.to_owned(),
        line: found.line,
        message: found.message,
        why: found.why.to_owned(),
        fix: found.fix,
        allowed: allowed.contains(&found.rule) || !sql::refuses(found.rule),
    }
}

/// Lints scripts in order; `replica` holds the schema the first one starts from and is moved
/// forward by running each on it (dropped, and the schema rule with it, when one fails there).
/// `live`, the database they are about to run on, gives the drop rule's row counts.
fn lint_scripts(
    mut replica: Option<Connection>,
    live: Option<&Connection>,
    scripts: &[(&Migration, Script<'_>)],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (m, script) in scripts {
        findings.extend(text_findings(m.version(), *script));
        let Some(conn) = replica.as_ref() else {
            continue;
        };
        // Statement by statement: the schema each drop sees is the one as it runs (a table
        // created earlier in the file counts as a child, one dropped earlier does not, and after
        // a rename children reference the new name). The replica is brought up to just before
        // each drop, a window at a time (`execute_script`: linear).
        let (mut allowed, _) = sql::allowed(script.sql);
        allowed.extend_from_slice(script.allowed);
        let mut ran_to = 0;
        let mut failed = false;
        // Children whose rows are known to be gone by the time of a drop (emptied with a
        // `DELETE` or made empty earlier in the file, and nothing since could have filled them).
        let emptiness = sql::emptiness(script.sql);
        let mut empty: Vec<String> = Vec::new();
        let mut seen = 0;
        for (table, line, how, start) in sql::removals(script.sql) {
            if script.foreign_keys_off {
                break;
            }
            // A rename by itself changes no row (children follow it to the new name); the
            // replica takes it in on the way to the next drop, which is then judged against
            // the renamed children.
            if how != "drops" {
                continue;
            }
            if super::script::execute_script(conn, &script.sql[ran_to..start], false).is_err() {
                failed = true;
                break;
            }
            ran_to = start;
            for (_, change) in emptiness[seen..].iter().take_while(|(at, _)| *at < start) {
                seen += 1;
                match change {
                    Some(name) => empty.push(name.to_ascii_lowercase()),
                    None => empty.clear(),
                }
            }
            let referencing: Vec<(String, String)> = referencing(conn, &table)
                .into_iter()
                .filter(|(child, _)| !empty.contains(&child.to_ascii_lowercase()))
                .collect();
            if referencing.is_empty() {
                continue;
            }
            // The rows at stake in the database now, where the table and child are there.
            let now = live
                .and_then(|live| super::script::rows_changed_by_drop(live, &table).ok())
                .unwrap_or_default();
            let children: Vec<String> = referencing
                .iter()
                .map(|(child, action)| {
                    let rows: Vec<u64> = now
                        .iter()
                        .filter(|(c, _, _)| c.eq_ignore_ascii_case(child))
                        .map(|(_, _, rows)| *rows)
                        .collect();
                    match rows.iter().max() {
                        Some(rows) => format!(
                            "{child} (ON DELETE {action}; {rows} of its row(s) point at it now)"
                        ),
                        None => format!("{child} (ON DELETE {action})"),
                    }
                })
                .collect();
            findings.push(finding(
                m.version(),
                script.file,
                TextFinding {
                    rule: sql::DROP_REFERENCED_TABLE,
                    line,
                    message: format!(
                        "it {how} table `{table}`, which {} references",
                        children.join(", ")
                    ),
                    why: "with foreign keys on, that deletes or changes every referencing \
                          row (a table rebuild without the directive loses all of them)",
                    fix: "put `-- foreign-keys: off` in the file's header: keys are switched \
                          off around it and checked before it commits"
                        .to_owned(),
                },
                &allowed,
            ));
        }
        if failed || super::script::execute_script(conn, &script.sql[ran_to..], false).is_err() {
            replica = None;
        }
    }
    findings
}

/// Child tables whose foreign key on `table` deletes or changes their rows with it.
fn referencing(conn: &Connection, table: &str) -> Vec<(String, String)> {
    const SQL: &str = "SELECT m.name, upper(f.on_delete) FROM sqlite_master AS m \
         JOIN pragma_foreign_key_list(m.name) AS f \
         WHERE m.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE AND m.name <> ?1 COLLATE NOCASE \
           AND upper(f.on_delete) IN ('CASCADE', 'SET NULL', 'SET DEFAULT') \
         ORDER BY m.name";
    conn.prepare(SQL)
        .and_then(|mut s| {
            s.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_default()
}

/// An in-memory database with the schema of `conn` and no rows; `None` when it cannot be made
/// (the schema rule is then skipped: the text rules still run).
fn replica_of(conn: &Connection) -> Option<Connection> {
    let replica = schema_replica().ok()?;
    let mut statement = conn
        .prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' \
             ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid",
        )
        .ok()?;
    let schema: Vec<String> = statement
        .query_map([], |r| r.get(0))
        .ok()?
        .collect::<rusqlite::Result<_>>()
        .ok()?;
    for sql in schema {
        replica.execute_batch(&sql).ok()?;
    }
    Some(replica)
}

/// An empty in-memory database for a schema without rows. Foreign keys are off in it: the rule
/// reads the keys, it does not enforce them, and a migration's `INSERT` of rows that point at
/// rows the replica does not have must not stop the replay (and the rule with it).
fn schema_replica() -> rusqlite::Result<Connection> {
    let replica = Connection::open_in_memory()?;
    replica.pragma_update(None, "foreign_keys", false)?;
    Ok(replica)
}
