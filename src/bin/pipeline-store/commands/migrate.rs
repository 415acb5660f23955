//! `migrate info|run|add|revert|baseline|repair|validate`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use pipeline_store::migrate::{MigrationStatus, Migrator, Repair};
use pipeline_store::schema::{self};

use crate::args::{AllowArgs, Cli, SourceArgs};
use crate::commands::init::apply;
use crate::output::json::{
    AddedJson, BaselinedJson, MigrationJson, RehearsalJson, RepairJson, RevertedJson, nanos,
};
use crate::output::text::{millis, rehearsal_text, table};
use crate::output::{emit, progress};
use crate::{Failure, Outcome, open_history, open_unmigrated};

pub(crate) fn migrate_info(cli: &Cli, source: Source<'_>) -> Outcome {
    let conn = open_unmigrated(cli)?;
    let status = migrations_of(source)?.status(&conn)?;
    let rows: Vec<MigrationJson> = status.iter().map(MigrationJson::from).collect();
    emit(cli, &rows, |_| migrations_text(&status))
}

fn migrations_text(status: &[MigrationStatus]) -> String {
    let rows: Vec<Vec<String>> = status
        .iter()
        .map(|row| {
            let applied = row.applied.as_ref();
            vec![
                row.version.to_string(),
                row.state.to_string(),
                row.description.clone(),
                applied.map_or_else(|| "-".into(), |a| a.installed_on.clone()),
                applied
                    .and_then(pipeline_store::migrate::AppliedMigration::duration)
                    .map_or_else(
                        || "-".into(),
                        |d| millis(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                    ),
            ]
        })
        .collect();
    table(
        &["VERSION", "STATE", "DESCRIPTION", "INSTALLED ON", "TIME"],
        &rows,
    )
}

pub(crate) fn migrate_run(cli: &Cli, dry_run: bool, source: Source<'_>) -> Outcome {
    let migrator = migrations_of(source)?;
    if dry_run {
        let conn = open_unmigrated(cli)?;
        let pending = migrator.pending(&conn)?;
        return emit(cli, &pending, |rows| {
            if rows.is_empty() {
                return "nothing to apply\n".to_owned();
            }
            let lines: Vec<Vec<String>> = rows
                .iter()
                .map(|p| vec![p.version.to_string(), p.description.clone(), p.file.clone()])
                .collect();
            format!(
                "would apply {} migration(s):\n{}",
                rows.len(),
                table(&["VERSION", "DESCRIPTION", "FILE"], &lines)
            )
        });
    }
    apply(cli, &migrator)
}

pub(crate) fn migrate_revert(cli: &Cli, to: Option<i64>, source: Source<'_>) -> Outcome {
    let migrator = migrations_of(source)?;
    let mut conn = open_history(cli)?;
    let target = if let Some(version) = to {
        version
    } else {
        // The last applied migration: revert to the one before it.
        let applied = migrator.applied(&conn)?;
        if applied.is_empty() {
            return emit(cli, &RevertedJson { reverted: &[] }, |_| {
                "nothing to revert\n".to_owned()
            });
        }
        applied
            .iter()
            .rev()
            .nth(1)
            .map_or(0, |previous| previous.version)
    };
    let report = migrator.revert_to(&mut conn, target)?;
    let shown = RevertedJson {
        reverted: &report.reverted,
    };
    emit(cli, &shown, |shown| {
        if shown.reverted.is_empty() {
            return "nothing to revert\n".to_owned();
        }
        let rows: Vec<Vec<String>> = shown
            .reverted
            .iter()
            .map(|r| {
                vec![
                    r.version.to_string(),
                    r.description.clone(),
                    millis(nanos(r.elapsed)),
                ]
            })
            .collect();
        format!(
            "reverted {} migration(s):\n{}",
            shown.reverted.len(),
            table(&["VERSION", "DESCRIPTION", "TIME"], &rows)
        )
    })
}

pub(crate) fn migrate_baseline(cli: &Cli, version: i64, source: Source<'_>) -> Outcome {
    let migrator = migrations_of(source)?;
    // Recording history in a file that does not exist would create a database of rows only.
    let mut conn = open_history(cli)?;
    let marked = migrator.baseline(&mut conn, version)?;
    emit(cli, &BaselinedJson { baselined: marked }, |shown| {
        format!(
            "recorded {} migration(s) up to {version} as applied without running them\n",
            shown.baselined.len()
        )
    })
}

pub(crate) fn migrate_repair(
    cli: &Cli,
    repair: &Repair,
    derived: bool,
    source: Source<'_>,
) -> Outcome {
    if *repair == Repair::new() && !derived {
        return Err(Failure::Usage(
            "say what to repair: --line-endings, --mark-applied, --forget-dirty, --forget-missing \
             or --derived"
                .to_owned(),
        ));
    }
    let mut conn = open_history(cli)?;
    let report = if *repair == Repair::new() {
        pipeline_store::migrate::RepairReport::default()
    } else {
        migrations_of(source)?.repair(&mut conn, repair)?
    };
    let derived = if derived {
        Some(schema::repair_derived(&conn)?)
    } else {
        None
    };
    let shown = RepairJson {
        history: &report,
        derived,
    };
    emit(cli, &shown, |r| {
        let mut text = String::new();
        if *repair != Repair::new() {
            let _ = writeln!(
                text,
                "checksums rewritten: {:?}\nmarked applied: {:?}\nforgotten: {:?}",
                r.history.checksums_rewritten, r.history.marked_applied, r.history.forgotten
            );
        }
        if let Some(d) = &r.derived {
            let _ = writeln!(
                text,
                "tag copies rewritten: {}\ncopy trigger created: {}",
                d.copies_rewritten,
                if d.trigger_created { "yes" } else { "no" }
            );
        }
        text
    })
}

pub(crate) fn migrate_validate(cli: &Cli, source: Source<'_>) -> Outcome {
    let report = migrations_of(source)?.validate()?;
    emit(cli, &report, |v| {
        format!(
            "valid: {} migration(s) run up, down and up again; {} without a down script run up only\n",
            v.reversible.len(),
            v.irreversible.len()
        )
    })
}

pub(crate) fn migrate_diff(cli: &Cli, source: Source<'_>) -> Outcome {
    let conn = open_unmigrated(cli)?;
    let drift = schema::drift(&conn, &migrations_of(source)?)?;
    emit(cli, &drift, |_| {
        if drift.is_empty() {
            return "no drift: the schema is what the applied migrations make\n".to_owned();
        }
        drift.iter().fold(String::new(), |mut text, d| {
            let _ = writeln!(text, "{d}");
            text
        })
    })?;
    if drift.is_empty() {
        Ok(())
    } else {
        Err(Failure::CheckFailed)
    }
}

pub(crate) fn migrate_rehearse(cli: &Cli, source: Source<'_>, keep: Option<&Path>) -> Outcome {
    let migrator = migrations_of(source)?;
    let conn = open_unmigrated(cli)?;
    let rehearsal = migrator.rehearse(&conn, keep)?;
    emit(cli, &RehearsalJson::from(&rehearsal), |_| {
        rehearsal_text(&rehearsal)
    })?;
    if rehearsal.is_ok() {
        Ok(())
    } else {
        Err(Failure::CheckFailed)
    }
}

/// The migrations a `migrate` subcommand serves: `--source DIR` (with its `--history-table`),
/// or the built-in ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    dir: Option<&'a Path>,
    history_table: Option<&'a str>,
    /// `--allow RULE[@VERSION]`, as given.
    allow: &'a [String],
}

impl<'a> Source<'a> {
    pub(crate) fn new(source: &'a SourceArgs, history_table: Option<&'a str>) -> Self {
        Self {
            dir: source.source.as_deref(),
            history_table,
            allow: &[],
        }
    }

    /// With the lint rules `--allow` names.
    pub(crate) fn allowing(mut self, allow: &'a AllowArgs) -> Self {
        self.allow = &allow.allow;
        self
    }
}

/// The migrations `source` names, allowed as `--allow` says, telling the progress line what
/// they run.
fn migrations_of(source: Source<'_>) -> Result<Migrator, Failure> {
    let mut migrator = set_of(&source)?;
    for given in source.allow {
        let (rule, version) = match given.split_once('@') {
            Some((rule, version)) => (
                rule,
                Some(version.parse::<i64>().map_err(|_| {
                    Failure::Usage(format!(
                        "--allow {given}: the version after @ must be a migration's number"
                    ))
                })?),
            ),
            None => (given.as_str(), None),
        };
        migrator = migrator.allow(rule, version)?;
    }
    Ok(progress::shown(migrator))
}

fn set_of(source: &Source<'_>) -> Result<Migrator, Failure> {
    Ok(match (source.dir, source.history_table) {
        (Some(dir), None) => Migrator::from_dir(dir)?,
        // A set in its own history table sits beside the built-in one and builds on it.
        (Some(dir), Some(table)) => Migrator::from_dir(dir)?
            .history_table(table)?
            .after(schema::migrator()),
        (None, None) => schema::migrator().clone(),
        (None, Some(_)) => {
            return Err(Failure::Usage(
                "--history-table names the history of the migrations given with --source; the \
                 built-in migrations keep theirs in _sqlx_migrations"
                    .to_owned(),
            ));
        }
    })
}

pub(crate) fn migrate_lint(cli: &Cli, source: Source<'_>) -> Outcome {
    let migrator = migrations_of(source)?;
    let findings = migrator.lint()?;
    emit(cli, &findings, |_| {
        if findings.is_empty() {
            return format!(
                "no findings in {} migration(s)\n",
                migrator.migrations().len()
            );
        }
        findings.iter().fold(String::new(), |mut text, f| {
            let _ = writeln!(text, "{f}");
            text
        })
    })?;
    if findings.iter().any(|f| !f.allowed) {
        Err(Failure::CheckFailed)
    } else {
        Ok(())
    }
}

/// The longest migration description `migrate add` takes, in bytes (all ASCII).
const MAX_DESCRIPTION: usize = 200;

pub(crate) fn migrate_add(
    cli: &Cli,
    description: &str,
    source: &Path,
    reversible: bool,
) -> Outcome {
    let words = description.trim();
    // File names are at most 255 bytes on common file systems: the version, `_`, `.down.sql`
    // and the description must fit, checked before the file system sees the name.
    if words.len() > MAX_DESCRIPTION {
        return Err(Failure::Usage(format!(
            "the migration description is {} characters long; at most {MAX_DESCRIPTION} fit in \
             a file name",
            words.chars().count()
        )));
    }
    if words.is_empty()
        || !words
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ' || c == '-')
    {
        return Err(Failure::Usage(format!(
            "invalid migration description `{description}`: use letters, digits, spaces, `_` or `-`"
        )));
    }
    let snake = words
        .split([' ', '-'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    std::fs::create_dir_all(source)
        .map_err(|e| Failure::Database(format!("cannot create {}: {e}", source.display())))?;
    let existing: Vec<String> = std::fs::read_dir(source)
        .map_err(|e| Failure::Database(format!("cannot read {}: {e}", source.display())))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    // The version is the time now, to the second; a second that already has a migration (two
    // added within one second) takes the next free second, so each gets its own version.
    let mut at = time::OffsetDateTime::now_utc();
    let version = loop {
        let version = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        if !existing
            .iter()
            .any(|e| e.starts_with(&format!("{version}_")))
        {
            break version;
        }
        at += time::Duration::SECOND;
    };
    let name = format!("{version}_{snake}.sql");
    // The name must be one the loader accepts.
    pipeline_store::migrate::Migration::from_file(name.clone(), "").map_err(Failure::from)?;
    // A file dated in the future (a clock that was ahead, a hand-picked version) would run after
    // the new one, and a database that already has it would refuse the new one as out of order.
    let newer = existing
        .iter()
        .filter(|name| name.ends_with(".sql"))
        .filter(|name| {
            name.split('_')
                .next()
                .and_then(|v| v.parse::<i64>().ok())
                .zip(version.parse::<i64>().ok())
                .is_some_and(|(theirs, ours)| theirs > ours)
        })
        .max();
    if let Some(newer) = newer {
        log::warn!(
            "the new migration's version {version} is older than {newer}: databases that already \
             have {newer} will refuse it as out of order; give it a version after that one"
        );
    }
    let files: Vec<(String, String)> = if reversible {
        vec![
            (name.replace(".sql", ".up.sql"), format!("-- {words}\n")),
            (
                name.replace(".sql", ".down.sql"),
                format!("-- Revert: {words}\n"),
            ),
        ]
    } else {
        vec![(name, format!("-- {words}\n"))]
    };
    let mut created = Vec::new();
    for (file, text) in &files {
        let path = source.join(file);
        if let Err(failure) = write_new(&path, text) {
            // All or nothing: an up file without its down file would be refused when loaded.
            for done in &created {
                let _ = std::fs::remove_file(done);
            }
            return Err(failure);
        }
        created.push(path);
    }
    let added = AddedJson {
        file: created[0].display().to_string(),
        down: created.get(1).map(|p| p.display().to_string()),
        version: version.parse().unwrap_or(0),
    };
    emit(cli, &added, |a| match &a.down {
        Some(down) => format!("created {}\ncreated {down}\n", a.file),
        None => format!("created {}\n", a.file),
    })
}

/// Writes `text` to a new file, never over an existing one.
fn write_new(path: &Path, text: &str) -> Result<(), Failure> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| Failure::Database(format!("cannot write {}: {e}", path.display())))
}
