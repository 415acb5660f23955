//! `pipeline-store`: create, inspect, migrate and check a pipeline database from the shell.
//!
//! Built with `--features cli`. See `pipeline-store --help`, and the README for the JSON shapes.
//! `args.rs` holds the arguments; `main.rs` the dispatch, the errors and the exit codes;
//! `commands/` one module per command group; `output/` the text and JSON forms.

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use pipeline_store::migrate::Migrator;
use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{self, OpenOptions};
use pipeline_store::{Error, MigrateError};

use crate::args::{Cli, Command, MigrateCommand};
use crate::commands::backup::{backup, restore};
use crate::commands::check::check;
use crate::commands::init::{demo, init};
use crate::commands::migrate::{
    Source, migrate_add, migrate_baseline, migrate_diff, migrate_info, migrate_lint,
    migrate_rehearse, migrate_repair, migrate_revert, migrate_run, migrate_validate,
};
use crate::commands::pipeline::pipeline;

/// Why the command failed, and so its exit status.
#[derive(Debug)]
pub(crate) enum Failure {
    Usage(String),
    NotFound(String),
    Database(String),
    CheckFailed,
}

/// The library's advice names API items; on the command line each has a command.
const ADVICE: &[(&str, &str)] = &[
    (
        "record it with `Migrator::repair` and `DirtyRepair::MarkApplied`",
        "run `pipeline-store migrate repair --mark-applied`",
    ),
    (
        "forget it with `Migrator::repair` and `DirtyRepair::Forget`",
        "run `pipeline-store migrate repair --forget-dirty`",
    ),
    (
        "`Migrator::repair` and `DirtyRepair::MarkApplied`, or `DirtyRepair::Forget` to run it again",
        "`pipeline-store migrate repair --mark-applied`, or `--forget-dirty` to run it again",
    ),
    (
        "`Migrator::repair` and `DirtyRepair::MarkApplied` or `DirtyRepair::Forget`",
        "`pipeline-store migrate repair --mark-applied` or `--forget-dirty`",
    ),
    (
        "use `Migrator::repair` and `Repair::new().line_endings()`",
        "run `pipeline-store migrate repair --line-endings`",
    ),
    (
        "`schema::repair_derived`",
        "`pipeline-store migrate repair --derived`",
    ),
    ("`schema::check` lists", "`pipeline-store check` lists"),
    (
        "delete that pipeline (`pipelines::delete`) or rename it (`pipelines::rename`)",
        "delete that pipeline (`pipeline-store pipeline delete`) or rename it (`pipeline-store \
         pipeline rename`)",
    ),
    (
        "open it read-only (`OpenOptions::read_only`, or `mode=ro` in the URL)",
        "open it read-only (`pipeline-store --db 'sqlite://FILE?mode=ro'`, as the reading commands \
         do by themselves)",
    ),
    (
        "(`Migrator::history_table`)",
        "(`pipeline-store migrate --history-table`)",
    ),
];

/// A library message with its API advice turned into the command that does the same.
pub(crate) fn in_command_terms(message: &str) -> String {
    ADVICE
        .iter()
        .fold(message.to_owned(), |text, (api, command)| {
            text.replace(api, command)
        })
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let message = in_command_terms(&error.to_string());
        match error {
            Error::InvalidInput { .. }
            | Error::InvalidUrl { .. }
            | Error::NameTaken { .. }
            | Error::AlreadyExists { .. }
            | Error::Migrate(
                MigrateError::UnknownVersion { .. }
                | MigrateError::UnknownRule { .. }
                | MigrateError::InvalidHistoryTable { .. },
            ) => Self::Usage(message),
            // The library's hint names `OpenOptions`; on the command line the way is `init`.
            Error::DatabaseNotFound { path, .. } => Self::NotFound(format!(
                "database file {} does not exist; create it with `pipeline-store init`",
                path.display()
            )),
            Error::NotFound { .. } | Error::DirectoryNotFound { .. } => Self::NotFound(message),
            _ => Self::Database(message),
        }
    }
}

impl From<pipeline_store::MigrateError> for Failure {
    fn from(error: pipeline_store::MigrateError) -> Self {
        Error::from(error).into()
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Database(format!("cannot write the output: {error}"))
    }
}

pub(crate) type Outcome = Result<(), Failure>;

/// A message as it may reach a terminal: control characters (some of them user input echoed
/// back, such as an escape sequence in a name) shown as escapes, never sent raw.
fn shown(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '\x1b' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    crate::output::progress::install(level, !cli.quiet);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::CheckFailed) => ExitCode::from(1),
        Err(failure) => {
            let (code, message) = match failure {
                Failure::Usage(m) => (2, m),
                Failure::NotFound(m) => (3, m),
                Failure::Database(m) => (4, m),
                Failure::CheckFailed => unreachable!("handled above"),
            };
            eprintln!("error: {}", shown(&message));
            ExitCode::from(code)
        }
    }
}

pub(crate) fn run(cli: &Cli) -> Outcome {
    match &cli.command {
        Command::Init => init(cli),
        Command::Demo => demo(cli),
        Command::Migrate {
            command,
            history_table,
        } => {
            let table = history_table.as_deref();
            match command {
                MigrateCommand::Info { source } => migrate_info(cli, Source::new(source, table)),
                MigrateCommand::Run {
                    dry_run,
                    source,
                    allow,
                } => migrate_run(cli, *dry_run, Source::new(source, table).allowing(allow)),
                MigrateCommand::Add {
                    description,
                    source,
                    reversible,
                } => migrate_add(cli, description, source, *reversible),
                MigrateCommand::Revert { to, source } => {
                    migrate_revert(cli, *to, Source::new(source, table))
                }
                MigrateCommand::Baseline { version, source } => {
                    migrate_baseline(cli, *version, Source::new(source, table))
                }
                MigrateCommand::Repair {
                    history,
                    derived,
                    source,
                } => migrate_repair(cli, &history.into(), *derived, Source::new(source, table)),
                MigrateCommand::Validate { source } => {
                    migrate_validate(cli, Source::new(source, table))
                }
                MigrateCommand::Lint { source, allow } => {
                    migrate_lint(cli, Source::new(source, table).allowing(allow))
                }
                MigrateCommand::Diff { source } => migrate_diff(cli, Source::new(source, table)),
                MigrateCommand::Rehearse {
                    source,
                    keep,
                    allow,
                } => migrate_rehearse(
                    cli,
                    Source::new(source, table).allowing(allow),
                    keep.as_deref(),
                ),
            }
        }
        Command::Pipeline { command } => pipeline(cli, command),
        Command::Check => check(cli),
        Command::Backup { dest } => backup(cli, dest),
        Command::Restore { src, dest } => restore(cli, src, dest),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "pipeline-store", &mut out);
            crate::output::print(&String::from_utf8_lossy(&out))
        }
    }
}

/// The built-in migrations, telling the progress line what they run.
pub(crate) fn built_in() -> Migrator {
    crate::output::progress::shown(schema::migrator().clone())
}

/// Opens for writing, creating the file when `create`, applying pending migrations.
pub(crate) fn open_write(cli: &Cli, create: bool) -> Result<Connection, Failure> {
    let (conn, _) = OpenOptions::new()
        .create_if_missing(create)
        .open_with_migrator(&cli.db, &built_in())?;
    Ok(conn)
}

/// Opens for reading only: never creates, never migrates, never writes the database file.
pub(crate) fn open_read(cli: &Cli) -> Result<Connection, Failure> {
    let (conn, report) = OpenOptions::new()
        .create_if_missing(false)
        .read_only(true)
        .open_with_migrator(&cli.db, schema::migrator())?;
    if let Some(first) = report.pending.first() {
        return Err(Failure::Database(format!(
            "the database needs {} migration(s), starting with {}; run `pipeline-store migrate run`",
            report.pending.len(),
            first.file
        )));
    }
    Ok(conn)
}

/// Opens without applying migrations, so their state can be reported.
pub(crate) fn open_unmigrated(cli: &Cli) -> pipeline_store::Result<Connection> {
    OpenOptions::new()
        .create_if_missing(false)
        .read_only(true)
        .migrate(false)
        .open(&cli.db)
}

/// Opens for writing without applying migrations: for commands that change the history.
pub(crate) fn open_history(cli: &Cli) -> Result<Connection, Failure> {
    Ok(OpenOptions::new()
        .create_if_missing(false)
        .migrate(false)
        .open(&cli.db)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every library message that gives API advice reaches the terminal as a command: a change
    /// to the library's wording that the table no longer matches fails here.
    #[test]
    fn library_advice_becomes_command_advice() {
        let messages = [
            Error::from(MigrateError::Dirty {
                version: 4,
                file: "4_d.sql".into(),
                history: "_sqlx_migrations".into(),
            })
            .to_string(),
            Error::from(MigrateError::FailedOutsideTransaction {
                version: 4,
                file: "4_d.sql".into(),
                line: 2,
                source: pipeline_store::rusqlite::Error::InvalidQuery,
            })
            .to_string(),
            Error::from(MigrateError::LeftTransactionOpen {
                version: 4,
                file: "4_d.sql".into(),
            })
            .to_string(),
            Error::Corrupt {
                path: "app.db".into(),
                detail: "malformed".into(),
            }
            .to_string(),
            Error::NameTaken {
                name: "nightly".into(),
                archived: true,
            }
            .to_string(),
            Error::FileNotWritable {
                path: "app.db".into(),
            }
            .to_string(),
            Error::from(MigrateError::SharedHistoryTable {
                history: "_sqlx_migrations".into(),
            })
            .to_string(),
        ];
        for message in messages {
            let shown = in_command_terms(&message);
            assert_ne!(shown, message, "{message}");
            for item in [
                "Migrator::",
                "DirtyRepair",
                "Repair::",
                "schema::",
                "pipelines::",
                "OpenOptions",
            ] {
                assert!(!shown.contains(item), "{item} in {shown}");
            }
            assert!(shown.contains("`pipeline-store "), "{shown}");
        }
        let warning = "migration 2 (2_b.sql) differs from the file that was applied only in line \
                       endings (CRLF/LF) or a byte order mark, so it is the same migration; to \
                       record this file's checksum use `Migrator::repair` and \
                       `Repair::new().line_endings()`";
        assert!(
            in_command_terms(warning)
                .ends_with("run `pipeline-store migrate repair --line-endings`"),
            "{}",
            in_command_terms(warning)
        );
    }
}
