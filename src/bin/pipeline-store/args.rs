//! The command's arguments: the global options, one enum per command level, and the argument
//! groups several subcommands share (flattened into each, so a flag is spelt, documented and
//! parsed in one place).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use pipeline_store::migrate::{DirtyRepair, Repair};

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
    pub(crate) db: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Log more: -v for each applied migration, -vv for every step (`RUST_LOG` overrides).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
    /// No progress line on stderr while a long migration runs.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
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
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Apply pending migrations.
    Run {
        /// Only list what would be applied.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        allow: AllowArgs,
    },
    /// Revert applied migrations with their down scripts: the last one, or all after `--to`.
    Revert {
        /// Revert every migration newer than this version (0: all of them).
        #[arg(long)]
        to: Option<i64>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Record migrations up to VERSION as applied without running them (adopt a database made
    /// by hand or by older scripts).
    Baseline {
        /// The last version to record.
        version: i64,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Repair the migration history. Nothing is changed unless asked for.
    Repair {
        #[command(flatten)]
        history: RepairArgs,
        /// Rewrite derived data (the tag rows' copies of their pipeline's name and archived
        /// flag) from what it is derived from, and create its trigger again if it is missing.
        #[arg(long)]
        derived: bool,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Run every migration up, down and up again on an in-memory database.
    Validate {
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Apply the pending migrations to a copy and report what they do to the data: rows per
    /// table, schema changes, checks, time. The database is only read. Exit 1 when a table
    /// loses rows or a check fails.
    Rehearse {
        #[command(flatten)]
        source: SourceArgs,
        /// Leave the rehearsed copy here (a new file) instead of deleting it.
        #[arg(long)]
        keep: Option<PathBuf>,
        #[command(flatten)]
        allow: AllowArgs,
    },
    /// Print how the schema differs from the one the applied migrations build: exit 1 on drift.
    Diff {
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Lint every migration (and down script) before it runs: exit 1 on a finding the file does
    /// not allow.
    Lint {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        allow: AllowArgs,
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

/// `--source DIR`: another project's migrations in place of the built-in ones.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// Use the migrations in this directory instead of the built-in ones.
    #[arg(long)]
    pub(crate) source: Option<PathBuf>,
}

/// `--allow RULE[@VERSION]`, as many times as needed.
#[derive(Debug, Args)]
pub(crate) struct AllowArgs {
    /// Allow lint rule RULE for migration VERSION (every migration without `@VERSION`)
    /// without editing the file, as `-- pipeline-store: allow RULE` in its header would.
    #[arg(long, value_name = "RULE[@VERSION]")]
    pub(crate) allow: Vec<String>,
}

/// The history repairs of `migrate repair`: the library's [`Repair`], flag by flag.
#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one field per command-line flag"
)]
pub(crate) struct RepairArgs {
    /// Record the file's checksum where it differs only in line endings or a BOM.
    #[arg(long)]
    pub(crate) line_endings: bool,
    /// Record dirty (failed) migrations as applied, after finishing their schema by hand.
    #[arg(long, conflicts_with = "forget_dirty")]
    pub(crate) mark_applied: bool,
    /// Forget dirty (failed) migrations so they run again, after undoing them by hand.
    #[arg(long)]
    pub(crate) forget_dirty: bool,
    /// Forget applied versions this build does not know.
    #[arg(long)]
    pub(crate) forget_missing: bool,
}

impl From<&RepairArgs> for Repair {
    fn from(args: &RepairArgs) -> Self {
        let mut repair = Repair::new();
        if args.line_endings {
            repair = repair.line_endings();
        }
        if args.mark_applied {
            repair = repair.dirty(DirtyRepair::MarkApplied);
        }
        if args.forget_dirty {
            repair = repair.dirty(DirtyRepair::Forget);
        }
        if args.forget_missing {
            repair = repair.forget_missing();
        }
        repair
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// The repair `migrate repair FLAGS` asks the library for.
    fn repair_of(flags: &[&str]) -> Repair {
        let cli = Cli::try_parse_from(["pipeline-store", "migrate", "repair"].iter().chain(flags))
            .expect("valid flags");
        match cli.command {
            Command::Migrate {
                command: MigrateCommand::Repair { history, .. },
                ..
            } => Repair::from(&history),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn each_repair_flag_asks_for_its_own_repair_and_nothing_else() {
        assert_eq!(repair_of(&[]), Repair::new());
        assert_eq!(repair_of(&["--derived"]), Repair::new());
        assert_eq!(repair_of(&["--line-endings"]), Repair::new().line_endings());
        assert_eq!(
            repair_of(&["--mark-applied"]),
            Repair::new().dirty(DirtyRepair::MarkApplied)
        );
        assert_eq!(
            repair_of(&["--forget-dirty"]),
            Repair::new().dirty(DirtyRepair::Forget)
        );
        assert_eq!(
            repair_of(&["--forget-missing"]),
            Repair::new().forget_missing()
        );
        assert_eq!(
            repair_of(&["--line-endings", "--forget-dirty", "--forget-missing"]),
            Repair::new()
                .line_endings()
                .dirty(DirtyRepair::Forget)
                .forget_missing()
        );
        assert!(
            Cli::try_parse_from([
                "pipeline-store",
                "migrate",
                "repair",
                "--mark-applied",
                "--forget-dirty"
            ])
            .is_err(),
            "a dirty row is either recorded or forgotten"
        );
    }

    #[test]
    fn source_and_allow_are_read_by_every_subcommand_that_takes_them() {
        for sub in [
            "info", "run", "revert", "baseline", "repair", "validate", "rehearse", "diff", "lint",
        ] {
            let mut args = vec!["pipeline-store", "migrate", sub, "--source", "elsewhere"];
            if sub == "baseline" {
                args.push("1");
            }
            let cli = Cli::try_parse_from(&args).expect(sub);
            let Command::Migrate { command, .. } = cli.command else {
                panic!("{sub}: not a migrate command");
            };
            let (source, allow) = match &command {
                MigrateCommand::Info { source }
                | MigrateCommand::Revert { source, .. }
                | MigrateCommand::Baseline { source, .. }
                | MigrateCommand::Repair { source, .. }
                | MigrateCommand::Validate { source }
                | MigrateCommand::Diff { source } => (source, None),
                MigrateCommand::Run { source, allow, .. }
                | MigrateCommand::Rehearse { source, allow, .. }
                | MigrateCommand::Lint { source, allow } => (source, Some(allow)),
                MigrateCommand::Add { .. } => panic!("{sub}: parsed as add"),
            };
            assert_eq!(
                source.source.as_deref(),
                Some(std::path::Path::new("elsewhere")),
                "{sub}"
            );
            if let Some(allow) = allow {
                assert!(allow.allow.is_empty(), "{sub}");
                args.extend(["--allow", "drop-table@3", "--allow", "unbounded-update"]);
                let again = Cli::try_parse_from(&args).expect(sub);
                let Command::Migrate {
                    command:
                        MigrateCommand::Run { allow, .. }
                        | MigrateCommand::Rehearse { allow, .. }
                        | MigrateCommand::Lint { allow, .. },
                    ..
                } = again.command
                else {
                    panic!("{sub}: parsed as another command");
                };
                assert_eq!(allow.allow, ["drop-table@3", "unbounded-update"], "{sub}");
            }
        }
    }
}
