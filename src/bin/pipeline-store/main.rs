//! `pipeline-store`: create, inspect, migrate and check a pipeline database from the shell.
//!
//! Built with `--features cli`. See `pipeline-store --help`, and the README for the JSON shapes.
//! `main.rs` holds the arguments, the dispatch and the exit codes; `commands/` one module per
//! command group; `output/` the text and JSON forms.

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use pipeline_store::migrate::{DirtyRepair, Repair};
use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{self, OpenOptions};
use pipeline_store::{Error, MigrateError};

use crate::commands::check::check;
use crate::commands::init::{demo, init};
use crate::commands::migrate::{
    Source, migrate_add, migrate_baseline, migrate_diff, migrate_info, migrate_lint,
    migrate_rehearse, migrate_repair, migrate_revert, migrate_run, migrate_validate,
};
use crate::commands::pipeline::pipeline;

const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  `check` found problems
  2  bad usage: unknown option, malformed argument, refused name, missing --yes
  3  not found: no such pipeline, no database file
  4  database problem: not a database, read-only, locked, migrations refused or failed";

/// Create, inspect, migrate and check a pipeline database.
#[derive(Debug, Parser)]
#[command(name = "pipeline-store", version, about, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// The database: a path, `sqlite://path`, `sqlite::memory:`; `?mode=ro` opens read-only.
    #[arg(
        long,
        global = true,
        env = "PIPELINE_STORE_DB",
        default_value = "./pipeline.db"
    )]
    db: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Log more: -v for each applied migration, -vv for every step (`RUST_LOG` overrides).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    /// No progress line on stderr while a long migration runs.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the database if needed and apply pending migrations.
    Init,
    /// Create a database with example pipelines and print them.
    Demo,
    /// Inspect, apply and add migrations.
    Migrate {
        /// The history table of the migrations given with `--source` (default
        /// `_sqlx_migrations`): a host program's set kept beside this crate's in one database.
        /// The other sets' tables and rows are never read or written.
        #[arg(long, global = true, value_name = "TABLE")]
        history_table: Option<String>,
        #[command(subcommand)]
        command: MigrateCommand,
    },
    /// Create, list, show and change pipelines.
    Pipeline {
        #[command(subcommand)]
        command: PipelineCommand,
    },
    /// Run integrity, foreign-key and migration checks; exit 1 if any fails.
    Check,
    /// Copy the live database into a new file DEST, consistently while others write (SQLite's
    /// online backup). For continuous replication to another disk or host, run Litestream
    /// beside the program (see the README's Replication section).
    Backup {
        /// The new file; never overwritten.
        dest: PathBuf,
    },
    /// Make a new database file DEST from a backup SRC (checked to be a SQLite database first);
    /// never overwrites. To restore from a Litestream replica, use `litestream restore`.
    Restore {
        /// The backup to restore from.
        src: PathBuf,
        /// The new database file.
        dest: PathBuf,
    },
    /// Print a completion script for a shell: `pipeline-store completions bash > /etc/bash_completion.d/pipeline-store`.
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum MigrateCommand {
    /// Every version with its state, description, install time and duration.
    Info {
        /// Use the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
    },
    /// Apply pending migrations.
    Run {
        /// Only list what would be applied.
        #[arg(long)]
        dry_run: bool,
        /// Use the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
        /// Allow lint rule RULE for migration VERSION (every migration without `@VERSION`)
        /// without editing the file, as `-- pipeline-store: allow RULE` in its header would.
        #[arg(long, value_name = "RULE[@VERSION]")]
        allow: Vec<String>,
    },
    /// Revert applied migrations with their down scripts: the last one, or all after `--to`.
    Revert {
        /// Revert every migration newer than this version (0: all of them).
        #[arg(long)]
        to: Option<i64>,
        /// Use the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
    },
    /// Record migrations up to VERSION as applied without running them (adopt a database made
    /// by hand or by older scripts).
    Baseline {
        /// The last version to record.
        version: i64,
        /// Use the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
    },
    /// Repair the migration history. Nothing is changed unless asked for.
    Repair {
        /// Record the file's checksum where it differs only in line endings or a BOM.
        #[arg(long)]
        line_endings: bool,
        /// Record dirty (failed) migrations as applied, after finishing their schema by hand.
        #[arg(long, conflicts_with = "forget_dirty")]
        mark_applied: bool,
        /// Forget dirty (failed) migrations so they run again, after undoing them by hand.
        #[arg(long)]
        forget_dirty: bool,
        /// Forget applied versions this build does not know.
        #[arg(long)]
        forget_missing: bool,
        /// Rewrite derived data (the tag rows' copies of their pipeline's name and archived
        /// flag) from what it is derived from, and create its trigger again if it is missing.
        #[arg(long)]
        derived: bool,
        /// Use the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
    },
    /// Run every migration up, down and up again on an in-memory database.
    Validate {
        /// Validate the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
    },
    /// Apply the pending migrations to a copy and report what they do to the data: rows per
    /// table, schema changes, checks, time. The database is only read. Exit 1 when a table
    /// loses rows or a check fails.
    Rehearse {
        /// Rehearse the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
        /// Leave the rehearsed copy here (a new file) instead of deleting it.
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Allow lint rule RULE for migration VERSION (every migration without `@VERSION`)
        /// without editing the file, as `-- pipeline-store: allow RULE` in its header would.
        #[arg(long, value_name = "RULE[@VERSION]")]
        allow: Vec<String>,
    },
    /// Print how the schema differs from the one the applied migrations build: exit 1 on drift.
    Diff {
        /// Use the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
    },
    /// Lint every migration (and down script) before it runs: exit 1 on a finding the file does
    /// not allow.
    Lint {
        /// Lint the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
        /// Allow lint rule RULE for migration VERSION (every migration without `@VERSION`)
        /// without editing the file, as `-- pipeline-store: allow RULE` in its header would.
        #[arg(long, value_name = "RULE[@VERSION]")]
        allow: Vec<String>,
    },
    /// Write a new, empty migration file named `<UTC timestamp>_<description>.sql`.
    Add {
        /// What the migration does, in words or `snake_case` (`add pipeline owner`).
        description: String,
        /// The migrations directory.
        #[arg(long, default_value = "migrations")]
        source: PathBuf,
        /// Write a reversible pair, `<version>_<description>.up.sql` and `.down.sql`.
        #[arg(short = 'r', long)]
        reversible: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PipelineCommand {
    /// Create a pipeline.
    Create {
        /// Its unique name.
        name: String,
        /// A stage, in order: `TYPE:ALGORITHM[:key=value,...]`, e.g. `compression:zstd:level=9`;
        /// TYPE is compression, encryption, transform, checksum or passthrough, or
        /// `custom:NAME` for a type of your own.
        #[arg(long = "stage", value_name = "TYPE:ALGORITHM[:key=value,...]")]
        stages: Vec<String>,
        /// A configuration entry.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// A tag.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// List pipelines (active ones unless told otherwise).
    List {
        /// Archived pipelines only.
        #[arg(long, conflicts_with = "all")]
        archived: bool,
        /// Active and archived pipelines.
        #[arg(long)]
        all: bool,
        /// Only pipelines with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Show a pipeline: stages with parameters, configuration, metrics, tags.
    Show {
        /// Its name or id.
        pipeline: String,
    },
    /// Rename a pipeline.
    Rename {
        /// Its name or id.
        pipeline: String,
        /// The new name.
        new_name: String,
    },
    /// Archive a pipeline with its stages, parameters and configuration.
    Archive {
        /// Its name or id.
        pipeline: String,
    },
    /// Restore an archived pipeline.
    Restore {
        /// Its name or id.
        pipeline: String,
    },
    /// Delete a pipeline and everything that belongs to it, for good.
    Delete {
        /// Its name or id.
        pipeline: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

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
        } => match command {
            MigrateCommand::Info { source } => migrate_info(
                cli,
                Source::new(source.as_deref(), history_table.as_deref()),
            ),
            MigrateCommand::Run {
                dry_run,
                source,
                allow,
            } => migrate_run(
                cli,
                *dry_run,
                Source::new(source.as_deref(), history_table.as_deref()).allowing(allow),
            ),
            MigrateCommand::Add {
                description,
                source,
                reversible,
            } => migrate_add(cli, description, source, *reversible),
            MigrateCommand::Revert { to, source } => migrate_revert(
                cli,
                *to,
                Source::new(source.as_deref(), history_table.as_deref()),
            ),
            MigrateCommand::Baseline { version, source } => migrate_baseline(
                cli,
                *version,
                Source::new(source.as_deref(), history_table.as_deref()),
            ),
            MigrateCommand::Repair {
                line_endings,
                mark_applied,
                forget_dirty,
                forget_missing,
                derived,
                source,
            } => {
                let mut repair = Repair::new();
                if *line_endings {
                    repair = repair.line_endings();
                }
                if *mark_applied {
                    repair = repair.dirty(DirtyRepair::MarkApplied);
                }
                if *forget_dirty {
                    repair = repair.dirty(DirtyRepair::Forget);
                }
                if *forget_missing {
                    repair = repair.forget_missing();
                }
                migrate_repair(
                    cli,
                    &repair,
                    *derived,
                    Source::new(source.as_deref(), history_table.as_deref()),
                )
            }
            MigrateCommand::Validate { source } => migrate_validate(
                cli,
                Source::new(source.as_deref(), history_table.as_deref()),
            ),
            MigrateCommand::Lint { source, allow } => migrate_lint(
                cli,
                Source::new(source.as_deref(), history_table.as_deref()).allowing(allow),
            ),
            MigrateCommand::Diff { source } => migrate_diff(
                cli,
                Source::new(source.as_deref(), history_table.as_deref()),
            ),
            MigrateCommand::Rehearse {
                source,
                keep,
                allow,
            } => migrate_rehearse(
                cli,
                Source::new(source.as_deref(), history_table.as_deref()).allowing(allow),
                keep.as_deref(),
            ),
        },
        Command::Pipeline { command } => pipeline(cli, command),
        Command::Check => check(cli),
        Command::Backup { dest } => crate::commands::check::backup(cli, dest),
        Command::Restore { src, dest } => crate::commands::check::restore(cli, src, dest),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "pipeline-store", &mut out);
            crate::output::print(&String::from_utf8_lossy(&out))
        }
    }
}

/// Opens for writing, creating the file when `create`, applying pending migrations.
pub(crate) fn open_write(cli: &Cli, create: bool) -> Result<Connection, Failure> {
    Ok(OpenOptions::new().create_if_missing(create).open(&cli.db)?)
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
        ];
        for message in messages {
            let shown = in_command_terms(&message);
            assert_ne!(shown, message, "{message}");
            for item in ["Migrator::", "DirtyRepair", "Repair::", "schema::"] {
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
