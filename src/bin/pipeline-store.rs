//! `pipeline-store`: create, inspect, migrate and check a pipeline database from the shell.
//!
//! Built with `--features cli`. See `pipeline-store --help`, and the README for the JSON shapes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand};
use pipeline_store::migrate::{
    AppliedStep, DirtyRepair, MigrationState, MigrationStatus, Migrator, PendingMigration, Repair,
};
use pipeline_store::model::{
    NewPipeline, NewStage, Pipeline, PipelineId, ProcessingMetrics, StageType, Timestamp,
};
use pipeline_store::repo::pipelines::{self, ListQuery, PipelineSummary};
use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{self, CheckReport, OpenOptions};
use pipeline_store::{Error, MigrateError};
use serde::Serialize;

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
struct Cli {
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if needed and apply pending migrations.
    Init,
    /// Create a database with example pipelines and print them.
    Demo,
    /// Inspect, apply and add migrations.
    Migrate {
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
}

#[derive(Debug, Subcommand)]
enum MigrateCommand {
    /// Every version with its state, description, install time and duration.
    Info,
    /// Apply pending migrations.
    Run {
        /// Only list what would be applied.
        #[arg(long)]
        dry_run: bool,
    },
    /// Revert applied migrations with their down scripts: the last one, or all after `--to`.
    Revert {
        /// Revert every migration newer than this version (0: all of them).
        #[arg(long)]
        to: Option<i64>,
    },
    /// Record migrations up to VERSION as applied without running them (adopt a database made
    /// by hand or by older scripts).
    Baseline {
        /// The last version to record.
        version: i64,
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
    },
    /// Run every migration up, down and up again on an in-memory database.
    Validate {
        /// Validate the migrations in this directory instead of the built-in ones.
        #[arg(long)]
        source: Option<PathBuf>,
    },
    /// Write a new, empty migration file named `<UTC timestamp>_<description>.sql`.
    Add {
        /// What the migration does, in words or `snake_case` (`add pipeline owner`).
        description: String,
        /// The migrations directory.
        #[arg(long, default_value = "migrations")]
        source: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PipelineCommand {
    /// Create a pipeline.
    Create {
        /// Its unique name.
        name: String,
        /// A stage, in order: `TYPE:ALGORITHM[:key=value,...]`, e.g. `compression:zstd:level=9`.
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
enum Failure {
    Usage(String),
    NotFound(String),
    Database(String),
    CheckFailed,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::InvalidInput { .. }
            | Error::InvalidUrl { .. }
            | Error::NameTaken { .. }
            | Error::Migrate(MigrateError::UnknownVersion { .. }) => Self::Usage(message),
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

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Database(format!("cannot write the output: {error}"))
    }
}

/// A reader that went away (`| head`) is not an error: stop writing quietly.
fn written(result: std::io::Result<()>) -> Outcome {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(None)
        .init();
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
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> Outcome {
    match &cli.command {
        Command::Init => init(cli),
        Command::Demo => demo(cli),
        Command::Migrate { command } => match command {
            MigrateCommand::Info => migrate_info(cli),
            MigrateCommand::Run { dry_run } => migrate_run(cli, *dry_run),
            MigrateCommand::Add {
                description,
                source,
            } => migrate_add(cli, description, source),
            MigrateCommand::Revert { to } => migrate_revert(cli, *to),
            MigrateCommand::Baseline { version } => migrate_baseline(cli, *version),
            MigrateCommand::Repair {
                line_endings,
                mark_applied,
                forget_dirty,
                forget_missing,
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
                migrate_repair(cli, &repair)
            }
            MigrateCommand::Validate { source } => migrate_validate(cli, source.as_deref()),
        },
        Command::Pipeline { command } => pipeline(cli, command),
        Command::Check => check(cli),
    }
}

/// Opens for writing, creating the file when `create`, applying pending migrations.
fn open_write(cli: &Cli, create: bool) -> Result<Connection, Failure> {
    Ok(OpenOptions::new().create_if_missing(create).open(&cli.db)?)
}

/// Opens for reading only: never creates, never migrates, writes nothing.
fn open_read(cli: &Cli) -> Result<Connection, Failure> {
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
fn open_unmigrated(cli: &Cli) -> Result<Connection, Failure> {
    Ok(OpenOptions::new()
        .create_if_missing(false)
        .read_only(true)
        .migrate(false)
        .open(&cli.db)?)
}

fn print_json(value: &impl Serialize) -> Outcome {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Database(format!("cannot encode JSON: {e}")))?;
    text.push('\n');
    print(&text)
}

fn print(text: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

fn init(cli: &Cli) -> Outcome {
    let (_, report) = OpenOptions::new().open_with_migrator(&cli.db, schema::migrator())?;
    let applied: Vec<AppliedJson> = report.applied.iter().map(AppliedJson::from).collect();
    if cli.json {
        return print_json(&InitJson {
            database: cli.db.clone(),
            applied,
        });
    }
    let mut text = String::new();
    if applied.is_empty() {
        let _ = writeln!(text, "{}: up to date, no migration applied", cli.db);
    } else {
        let _ = writeln!(text, "{}: applied {} migration(s)", cli.db, applied.len());
        let rows: Vec<Vec<String>> = applied
            .iter()
            .map(|a| {
                vec![
                    a.version.to_string(),
                    a.description.clone(),
                    millis(a.execution_time_ns),
                ]
            })
            .collect();
        text.push_str(&table(&["VERSION", "DESCRIPTION", "TIME"], &rows));
    }
    print(&text)
}

fn demo_pipelines() -> Vec<NewPipeline> {
    let mut run = ProcessingMetrics::default();
    run.bytes_processed = 268_435_456;
    run.bytes_total = 268_435_456;
    run.chunks_processed = 32;
    run.chunks_total = 32;
    run.start_time = Timestamp::parse("2025-01-15T02:00:00Z").ok();
    run.end_time = Timestamp::parse("2025-01-15T02:00:04.096Z").ok();
    run.processing_duration = Some(Duration::from_millis(4096));
    run.throughput_bytes_per_second = 65_536_000.0;
    run.compression_ratio = Some(0.37);
    run.warning_count = 1;
    run.input_file_size_bytes = 268_435_456;
    run.output_file_size_bytes = 99_321_118;
    run.input_file_checksum = Some("sha256:9f2c0a4e".into());
    run.output_file_checksum = Some("sha256:51be77d3".into());
    vec![
        NewPipeline::new("secure-backup")
            .stage(NewStage::new(
                "input_checksum",
                StageType::Checksum,
                "sha256",
            ))
            .stage(
                NewStage::new("compression", StageType::Compression, "brotli")
                    .parameter("level", "6")
                    .parameter("window_bits", "22")
                    .parallel(true)
                    .chunk_size(8 * 1024 * 1024),
            )
            .stage(
                NewStage::new("encryption", StageType::Encryption, "aes256gcm")
                    .parameter("key_size", "256")
                    .parameter("kdf", "argon2id"),
            )
            .stage(NewStage::new(
                "output_checksum",
                StageType::Checksum,
                "sha256",
            ))
            .config("max_workers", "4")
            .config("chunk_size_mb", "8")
            .tag("nightly")
            .tag("secure")
            .metrics(run),
        NewPipeline::new("fast-archive")
            .stage(
                NewStage::new("compression", StageType::Compression, "zstd")
                    .parameter("level", "3"),
            )
            .stage(NewStage::new("checksum", StageType::Checksum, "blake3"))
            .config("max_workers", "8")
            .tag("archive"),
    ]
}

fn demo(cli: &Cli) -> Outcome {
    let conn = open_write(cli, true)?;
    let mut shown = Vec::new();
    for new in demo_pipelines() {
        let pipeline = match pipelines::find_by_name(&conn, &new.name)? {
            Some(existing) => existing,
            None => pipelines::create(&conn, &new)?,
        };
        shown.push(pipeline);
    }
    if cli.json {
        return print_json(&shown.iter().map(PipelineJson::from).collect::<Vec<_>>());
    }
    let mut text = format!("{}: {} demo pipelines\n", cli.db, shown.len());
    for pipeline in &shown {
        text.push('\n');
        text.push_str(&show_text(pipeline));
    }
    print(&text)
}

fn migrate_info(cli: &Cli) -> Outcome {
    let conn = open_unmigrated(cli)?;
    let status = schema::migrator().status(&conn)?;
    if cli.json {
        return print_json(&status.iter().map(MigrationJson::from).collect::<Vec<_>>());
    }
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
    print(&table(
        &["VERSION", "STATE", "DESCRIPTION", "INSTALLED ON", "TIME"],
        &rows,
    ))
}

fn migrate_run(cli: &Cli, dry_run: bool) -> Outcome {
    if dry_run {
        let conn = open_unmigrated(cli)?;
        let pending = schema::migrator().pending(&conn)?;
        if cli.json {
            return print_json(&pending.iter().map(PendingJson::from).collect::<Vec<_>>());
        }
        if pending.is_empty() {
            return print("nothing to apply\n");
        }
        let rows: Vec<Vec<String>> = pending
            .iter()
            .map(|p| vec![p.version.to_string(), p.description.clone(), p.file.clone()])
            .collect();
        return print(&format!(
            "would apply {} migration(s):\n{}",
            pending.len(),
            table(&["VERSION", "DESCRIPTION", "FILE"], &rows)
        ));
    }
    init(cli)
}

/// Opens for writing without applying migrations: for commands that change the history.
fn open_history(cli: &Cli) -> Result<Connection, Failure> {
    Ok(OpenOptions::new()
        .create_if_missing(false)
        .migrate(false)
        .open(&cli.db)?)
}

fn migrate_revert(cli: &Cli, to: Option<i64>) -> Outcome {
    let mut conn = open_history(cli)?;
    let target = if let Some(version) = to {
        version
    } else {
        // The last applied migration: revert to the one before it.
        let applied = pipeline_store::migrate::applied(&conn)?;
        if applied.is_empty() {
            return print("nothing to revert\n");
        }
        applied
            .iter()
            .rev()
            .nth(1)
            .map_or(0, |previous| previous.version)
    };
    let report = schema::migrator().revert_to(&mut conn, target)?;
    let reverted: Vec<AppliedJson> = report.reverted.iter().map(AppliedJson::from).collect();
    if cli.json {
        return print_json(&RevertedJson { reverted });
    }
    if reverted.is_empty() {
        return print("nothing to revert\n");
    }
    let rows: Vec<Vec<String>> = reverted
        .iter()
        .map(|r| {
            vec![
                r.version.to_string(),
                r.description.clone(),
                millis(r.execution_time_ns),
            ]
        })
        .collect();
    print(&format!(
        "reverted {} migration(s):\n{}",
        reverted.len(),
        table(&["VERSION", "DESCRIPTION", "TIME"], &rows)
    ))
}

fn migrate_baseline(cli: &Cli, version: i64) -> Outcome {
    // Recording history in a file that does not exist would create a database of rows only.
    let mut conn = open_history(cli)?;
    let marked = schema::migrator().baseline(&mut conn, version)?;
    if cli.json {
        return print_json(&serde_json::json!({ "baselined": marked }));
    }
    print(&format!(
        "recorded {} migration(s) up to {version} as applied without running them\n",
        marked.len()
    ))
}

fn migrate_repair(cli: &Cli, repair: &Repair) -> Outcome {
    if *repair == Repair::new() {
        return Err(Failure::Usage(
            "say what to repair: --line-endings, --mark-applied, --forget-dirty or --forget-missing".to_owned(),
        ));
    }
    let mut conn = open_history(cli)?;
    let report = schema::migrator().repair(&mut conn, repair)?;
    if cli.json {
        return print_json(&serde_json::json!({
            "checksums_rewritten": report.checksums_rewritten,
            "marked_applied": report.marked_applied,
            "forgotten": report.forgotten,
        }));
    }
    print(&format!(
        "checksums rewritten: {:?}\nmarked applied: {:?}\nforgotten: {:?}\n",
        report.checksums_rewritten, report.marked_applied, report.forgotten
    ))
}

fn migrate_validate(cli: &Cli, source: Option<&Path>) -> Outcome {
    let loaded;
    let migrator = match source {
        Some(dir) => {
            loaded = Migrator::from_dir(dir)?;
            &loaded
        }
        None => schema::migrator(),
    };
    let report = migrator.validate()?;
    if cli.json {
        return print_json(&serde_json::json!({
            "reversible": report.reversible,
            "irreversible": report.irreversible,
        }));
    }
    print(&format!(
        "valid: {} migration(s) run up, down and up again; {} without a down script run up only\n",
        report.reversible.len(),
        report.irreversible.len()
    ))
}

fn migrate_add(cli: &Cli, description: &str, source: &Path) -> Outcome {
    let words = description.trim();
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
    let now = Timestamp::now().to_string();
    let version: String = now.chars().filter(char::is_ascii_digit).take(14).collect();
    let name = format!("{version}_{snake}.sql");
    // The name must be one the loader accepts.
    pipeline_store::migrate::Migration::from_file(name.clone(), "").map_err(Failure::from)?;
    std::fs::create_dir_all(source)
        .map_err(|e| Failure::Database(format!("cannot create {}: {e}", source.display())))?;
    let existing: Vec<String> = std::fs::read_dir(source)
        .map_err(|e| Failure::Database(format!("cannot read {}: {e}", source.display())))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    if let Some(clash) = existing
        .iter()
        .find(|existing| existing.starts_with(&format!("{version}_")))
    {
        return Err(Failure::Usage(format!(
            "migration version {version} is already used by {clash}; wait a second and try again"
        )));
    }
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
    let path = source.join(&name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", path.display())))?;
    writeln!(file, "-- {words}")
        .map_err(|e| Failure::Database(format!("cannot write {}: {e}", path.display())))?;
    if cli.json {
        return print_json(&AddedJson {
            file: path.display().to_string(),
            version: version.parse().unwrap_or(0),
        });
    }
    print(&format!("created {}\n", path.display()))
}

fn find(conn: &Connection, key: &str) -> Result<Pipeline, Failure> {
    if let Some(found) = pipelines::find_by_name(conn, key)? {
        return Ok(found);
    }
    if let Ok(id) = PipelineId::parse(key)
        && let Some(found) = pipelines::get(conn, &id)?
    {
        return Ok(found);
    }
    Err(Failure::NotFound(format!(
        "pipeline `{key}` not found (by name or id)"
    )))
}

fn parse_stage(spec: &str, taken: &mut Vec<String>) -> Result<NewStage, Failure> {
    let bad = |why: &str| {
        Failure::Usage(format!(
            "invalid --stage `{spec}`: {why} (expected TYPE:ALGORITHM[:key=value,...])"
        ))
    };
    let mut parts = spec.splitn(3, ':');
    let kind = parts.next().unwrap_or_default().trim();
    let algorithm = parts
        .next()
        .map(str::trim)
        .ok_or_else(|| bad("no algorithm"))?;
    if kind.is_empty() {
        return Err(bad("no stage type"));
    }
    if algorithm.is_empty() {
        return Err(bad("no algorithm"));
    }
    let stage_type = StageType::parse(kind);
    let base = stage_type.as_str().to_ascii_lowercase();
    let mut name = base.clone();
    let mut n = 1;
    while taken.contains(&name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    taken.push(name.clone());
    let mut stage = NewStage::new(name, stage_type, algorithm);
    if let Some(parameters) = parts.next() {
        for pair in parameters.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(&format!("`{pair}` is not key=value")))?;
            if key.trim().is_empty() {
                return Err(bad(&format!("`{pair}` has no key")));
            }
            stage = stage.parameter(key.trim(), value);
        }
    }
    Ok(stage)
}

fn create_pipeline(
    cli: &Cli,
    name: &str,
    stages: &[String],
    config: &[String],
    tags: &[String],
) -> Outcome {
    let mut new = NewPipeline::new(name);
    let mut taken = Vec::new();
    for spec in stages {
        new = new.stage(parse_stage(spec, &mut taken)?);
    }
    for entry in config {
        let (key, value) = entry
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| {
                Failure::Usage(format!("invalid --config `{entry}`: expected KEY=VALUE"))
            })?;
        new = new.config(key.trim(), value);
    }
    for tag in tags {
        new = new.tag(tag.clone());
    }
    let conn = open_write(cli, true)?;
    let created = pipelines::create(&conn, &new)?;
    show(cli, &created)
}

fn list_pipelines(cli: &Cli, archived: bool, all: bool, tag: Option<&String>) -> Outcome {
    let conn = open_read(cli)?;
    let mut query = if all {
        ListQuery::all()
    } else if archived {
        ListQuery::archived()
    } else {
        ListQuery::active()
    };
    if let Some(tag) = tag {
        query = query.tag(tag.clone());
    }
    let mut all_pages = Vec::new();
    loop {
        let page = pipelines::list(&conn, &query)?;
        let Some(last) = page.last() else { break };
        query = query.after(last.name.clone());
        all_pages.extend(page);
    }
    if cli.json {
        return print_json(&all_pages.iter().map(SummaryJson::from).collect::<Vec<_>>());
    }
    let rows: Vec<Vec<String>> = all_pages
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.stage_count.to_string(),
                if s.archived { "archived" } else { "active" }.to_owned(),
                s.updated_at.to_string(),
                s.id.to_string(),
            ]
        })
        .collect();
    print(&table(
        &["NAME", "STAGES", "STATUS", "UPDATED", "ID"],
        &rows,
    ))
}

fn pipeline(cli: &Cli, command: &PipelineCommand) -> Outcome {
    match command {
        PipelineCommand::Create {
            name,
            stages,
            config,
            tags,
        } => create_pipeline(cli, name, stages, config, tags),
        PipelineCommand::List { archived, all, tag } => {
            list_pipelines(cli, *archived, *all, tag.as_ref())
        }
        PipelineCommand::Show { pipeline } => {
            let conn = open_read(cli)?;
            let found = find(&conn, pipeline)?;
            show(cli, &found)
        }
        PipelineCommand::Rename { pipeline, new_name } => {
            let conn = open_write(cli, false)?;
            let found = find(&conn, pipeline)?;
            pipelines::rename(&conn, &found.id, new_name)?;
            done(cli, "renamed", &found, Some(new_name))
        }
        PipelineCommand::Archive { pipeline } => {
            let conn = open_write(cli, false)?;
            let found = find(&conn, pipeline)?;
            pipelines::archive(&conn, &found.id)?;
            done(cli, "archived", &found, None)
        }
        PipelineCommand::Restore { pipeline } => {
            let conn = open_write(cli, false)?;
            let found = find(&conn, pipeline)?;
            pipelines::restore(&conn, &found.id)?;
            done(cli, "restored", &found, None)
        }
        PipelineCommand::Delete { pipeline, yes } => {
            let conn = open_write(cli, false)?;
            let found = find(&conn, pipeline)?;
            if !yes {
                return Err(Failure::Usage(format!(
                    "refusing to delete pipeline `{}` without --yes: it removes the pipeline with its {} \
                     stage(s), configuration, parameters, metrics and tags for good (archive keeps them)",
                    found.name,
                    found.stages.len()
                )));
            }
            pipelines::delete(&conn, &found.id)?;
            done(cli, "deleted", &found, None)
        }
    }
}

fn done(cli: &Cli, action: &str, pipeline: &Pipeline, new_name: Option<&String>) -> Outcome {
    let name = new_name.unwrap_or(&pipeline.name);
    if cli.json {
        return print_json(&DoneJson {
            action: action.to_owned(),
            id: pipeline.id.to_string(),
            name: name.clone(),
        });
    }
    print(&format!("{action} pipeline `{name}` ({})\n", pipeline.id))
}

fn show(cli: &Cli, pipeline: &Pipeline) -> Outcome {
    if cli.json {
        return print_json(&PipelineJson::from(pipeline));
    }
    print(&show_text(pipeline))
}

fn show_text(p: &Pipeline) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "pipeline  {}{}",
        p.name,
        if p.archived { " (archived)" } else { "" }
    );
    let _ = writeln!(text, "id        {}", p.id);
    let _ = writeln!(text, "created   {}", p.created_at);
    let _ = writeln!(text, "updated   {}", p.updated_at);
    if !p.tags.is_empty() {
        let _ = writeln!(
            text,
            "tags      {}",
            p.tags.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let rows: Vec<Vec<String>> = p
        .stages
        .iter()
        .map(|s| {
            vec![
                s.order.to_string(),
                s.name.clone(),
                s.stage_type.to_string(),
                s.algorithm.clone(),
                if s.enabled { "yes" } else { "no" }.to_owned(),
                if s.parallel_processing { "yes" } else { "no" }.to_owned(),
                s.chunk_size.map_or_else(|| "-".into(), |c| c.to_string()),
                s.parameters
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    let _ = writeln!(text, "\nstages");
    if rows.is_empty() {
        text.push_str("  (none)\n");
    } else {
        text.push_str(&indent(&table(
            &[
                "#",
                "NAME",
                "TYPE",
                "ALGORITHM",
                "ENABLED",
                "PARALLEL",
                "CHUNK",
                "PARAMETERS",
            ],
            &rows,
        )));
    }
    if !p.configuration.is_empty() {
        let _ = writeln!(text, "\nconfiguration");
        let rows: Vec<Vec<String>> = p
            .configuration
            .iter()
            .map(|(k, v)| vec![k.clone(), v.clone()])
            .collect();
        text.push_str(&indent(&table(&["KEY", "VALUE"], &rows)));
    }
    if let Some(m) = &p.metrics {
        let _ = writeln!(text, "\nmetrics");
        text.push_str(&indent(&metrics_table(m)));
    }
    text
}

fn metrics_table(m: &ProcessingMetrics) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows = vec![
        vec![
            "bytes".into(),
            format!("{} / {}", m.bytes_processed, m.bytes_total),
        ],
        vec![
            "chunks".into(),
            format!("{} / {}", m.chunks_processed, m.chunks_total),
        ],
        vec!["started".into(), opt(m.start_time.map(|t| t.to_string()))],
        vec!["ended".into(), opt(m.end_time.map(|t| t.to_string()))],
        vec![
            "duration".into(),
            opt(m
                .processing_duration
                .map(|d| format!("{} ms", d.as_millis()))),
        ],
        vec![
            "throughput".into(),
            format!("{:.0} B/s", m.throughput_bytes_per_second),
        ],
        vec![
            "compression ratio".into(),
            opt(m.compression_ratio.map(|r| format!("{r:.3}"))),
        ],
        vec![
            "errors / warnings".into(),
            format!("{} / {}", m.error_count, m.warning_count),
        ],
        vec![
            "input".into(),
            format!(
                "{} B {}",
                m.input_file_size_bytes,
                m.input_file_checksum.as_deref().unwrap_or("")
            ),
        ],
        vec![
            "output".into(),
            format!(
                "{} B {}",
                m.output_file_size_bytes,
                m.output_file_checksum.as_deref().unwrap_or("")
            ),
        ],
    ];
    table(&["FIGURE", "VALUE"], &rows)
}

fn check(cli: &Cli) -> Outcome {
    let conn = open_unmigrated(cli)?;
    let report = schema::check(&conn)?;
    if cli.json {
        print_json(&CheckJson::from(&report))?;
    } else {
        print(&check_text(&report))?;
    }
    if report.is_ok() {
        Ok(())
    } else {
        Err(Failure::CheckFailed)
    }
}

fn check_text(report: &CheckReport) -> String {
    let mut text = String::new();
    if report.integrity.is_empty() {
        text.push_str("integrity_check     ok\n");
    } else {
        for line in &report.integrity {
            let _ = writeln!(text, "integrity_check     PROBLEM  {line}");
        }
    }
    if report.foreign_keys.is_empty() {
        text.push_str("foreign_key_check   ok\n");
    } else {
        for v in &report.foreign_keys {
            let _ = writeln!(
                text,
                "foreign_key_check   PROBLEM  {} row {} points at a missing {} row",
                v.table,
                v.rowid.map_or_else(|| "?".into(), |r| r.to_string()),
                v.parent
            );
        }
    }
    if report.migrations.is_empty() && report.out_of_order.is_empty() {
        text.push_str("migrations          ok\n");
    }
    for row in &report.migrations {
        let why = match row.state {
            MigrationState::Modified => "its file changed after it was applied (checksum differs)",
            MigrationState::Missing => "applied to the database but unknown to this build",
            MigrationState::Dirty => "recorded as failed (success = 0)",
            _ => "unexpected state",
        };
        let _ = writeln!(
            text,
            "migrations          PROBLEM  {} {} ({}): {why}",
            row.state,
            row.version,
            row.file.as_deref().unwrap_or(&row.description)
        );
    }
    for row in &report.out_of_order {
        let _ = writeln!(
            text,
            "migrations          PROBLEM  out of order {} ({}): older than the newest applied migration",
            row.version,
            row.file.as_deref().unwrap_or(&row.description)
        );
    }
    for row in &report.line_endings {
        let _ = writeln!(
            text,
            "migrations          note     {} ({}): applied; the file differs only in line endings \
             (`migrate repair --line-endings` records its checksum)",
            row.version,
            row.file.as_deref().unwrap_or(&row.description)
        );
    }
    for row in &report.pending {
        let _ = writeln!(
            text,
            "migrations          pending  {} ({})",
            row.version,
            row.file.as_deref().unwrap_or(&row.description)
        );
    }
    text
}

fn millis(nanos: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // display only
    let ms = nanos as f64 / 1e6;
    format!("{ms:.3} ms")
}

fn indent(text: &str) -> String {
    text.lines()
        .fold(String::with_capacity(text.len() + 64), |mut out, line| {
            let _ = writeln!(out, "  {line}");
            out
        })
}

/// An aligned table: a header row and rows of cells, columns padded to their widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}  ");
            }
        }
        text.push_str(out.trim_end());
        text.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    text
}

// JSON shapes: stable and documented in the README. Timestamps are RFC 3339 UTC text.

#[derive(Serialize)]
struct AppliedJson {
    version: i64,
    description: String,
    execution_time_ns: u64,
}

impl From<&AppliedStep> for AppliedJson {
    fn from(step: &AppliedStep) -> Self {
        Self {
            version: step.version,
            description: step.description.clone(),
            execution_time_ns: u64::try_from(step.elapsed.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

#[derive(Serialize)]
struct RevertedJson {
    reverted: Vec<AppliedJson>,
}

#[derive(Serialize)]
struct InitJson {
    database: String,
    applied: Vec<AppliedJson>,
}

#[derive(Serialize)]
struct AddedJson {
    file: String,
    version: i64,
}

#[derive(Serialize)]
struct DoneJson {
    action: String,
    id: String,
    name: String,
}

#[derive(Serialize)]
struct PendingJson {
    version: i64,
    description: String,
    file: String,
}

impl From<&PendingMigration> for PendingJson {
    fn from(p: &PendingMigration) -> Self {
        Self {
            version: p.version,
            description: p.description.clone(),
            file: p.file.clone(),
        }
    }
}

#[derive(Serialize)]
struct MigrationJson {
    version: i64,
    state: String,
    description: String,
    file: Option<String>,
    installed_on: Option<String>,
    execution_time_ns: Option<i64>,
}

impl From<&MigrationStatus> for MigrationJson {
    fn from(row: &MigrationStatus) -> Self {
        Self {
            version: row.version,
            state: row.state.to_string(),
            description: row.description.clone(),
            file: row.file.clone(),
            installed_on: row.applied.as_ref().map(|a| {
                a.installed_at()
                    .map_or_else(|| a.installed_on.clone(), |t| t.to_string())
            }),
            execution_time_ns: row.applied.as_ref().map(|a| a.execution_time),
        }
    }
}

#[derive(Serialize)]
struct SummaryJson {
    id: String,
    name: String,
    archived: bool,
    stage_count: u32,
    created_at: String,
    updated_at: String,
}

impl From<&PipelineSummary> for SummaryJson {
    fn from(s: &PipelineSummary) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            archived: s.archived,
            stage_count: s.stage_count,
            created_at: s.created_at.to_string(),
            updated_at: s.updated_at.to_string(),
        }
    }
}

#[derive(Serialize)]
struct StageJson {
    id: String,
    name: String,
    stage_type: String,
    algorithm: String,
    enabled: bool,
    order: u32,
    parallel_processing: bool,
    chunk_size: Option<u64>,
    parameters: BTreeMap<String, String>,
    archived: bool,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct MetricsJson {
    bytes_processed: u64,
    bytes_total: u64,
    chunks_processed: u64,
    chunks_total: u64,
    start_time: Option<String>,
    end_time: Option<String>,
    processing_duration_ms: Option<u64>,
    throughput_bytes_per_second: f64,
    compression_ratio: Option<f64>,
    error_count: u64,
    warning_count: u64,
    input_file_size_bytes: u64,
    output_file_size_bytes: u64,
    input_file_checksum: Option<String>,
    output_file_checksum: Option<String>,
}

#[derive(Serialize)]
struct PipelineJson {
    id: String,
    name: String,
    archived: bool,
    created_at: String,
    updated_at: String,
    tags: Vec<String>,
    configuration: BTreeMap<String, String>,
    stages: Vec<StageJson>,
    metrics: Option<MetricsJson>,
}

impl From<&Pipeline> for PipelineJson {
    fn from(p: &Pipeline) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            archived: p.archived,
            created_at: p.created_at.to_string(),
            updated_at: p.updated_at.to_string(),
            tags: p.tags.iter().cloned().collect(),
            configuration: p.configuration.clone(),
            stages: p
                .stages
                .iter()
                .map(|s| StageJson {
                    id: s.id.to_string(),
                    name: s.name.clone(),
                    stage_type: s.stage_type.to_string(),
                    algorithm: s.algorithm.clone(),
                    enabled: s.enabled,
                    order: s.order,
                    parallel_processing: s.parallel_processing,
                    chunk_size: s.chunk_size,
                    parameters: s.parameters.clone(),
                    archived: s.archived,
                    created_at: s.created_at.to_string(),
                    updated_at: s.updated_at.to_string(),
                })
                .collect(),
            metrics: p.metrics.as_ref().map(|m| MetricsJson {
                bytes_processed: m.bytes_processed,
                bytes_total: m.bytes_total,
                chunks_processed: m.chunks_processed,
                chunks_total: m.chunks_total,
                start_time: m.start_time.map(|t| t.to_string()),
                end_time: m.end_time.map(|t| t.to_string()),
                processing_duration_ms: m
                    .processing_duration
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                throughput_bytes_per_second: m.throughput_bytes_per_second,
                compression_ratio: m.compression_ratio,
                error_count: m.error_count,
                warning_count: m.warning_count,
                input_file_size_bytes: m.input_file_size_bytes,
                output_file_size_bytes: m.output_file_size_bytes,
                input_file_checksum: m.input_file_checksum.clone(),
                output_file_checksum: m.output_file_checksum.clone(),
            }),
        }
    }
}

#[derive(Serialize)]
struct ViolationJson {
    table: String,
    rowid: Option<i64>,
    parent: String,
}

#[derive(Serialize)]
struct CheckJson {
    ok: bool,
    integrity: Vec<String>,
    foreign_keys: Vec<ViolationJson>,
    migrations: Vec<MigrationJson>,
    out_of_order: Vec<MigrationJson>,
    pending: Vec<MigrationJson>,
    line_endings: Vec<MigrationJson>,
}

impl From<&CheckReport> for CheckJson {
    fn from(r: &CheckReport) -> Self {
        Self {
            ok: r.is_ok(),
            integrity: r.integrity.clone(),
            foreign_keys: r
                .foreign_keys
                .iter()
                .map(|v| ViolationJson {
                    table: v.table.clone(),
                    rowid: v.rowid,
                    parent: v.parent.clone(),
                })
                .collect(),
            migrations: r.migrations.iter().map(MigrationJson::from).collect(),
            out_of_order: r.out_of_order.iter().map(MigrationJson::from).collect(),
            pending: r.pending.iter().map(MigrationJson::from).collect(),
            line_endings: r.line_endings.iter().map(MigrationJson::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let text = table(
            &["A", "LONG HEADER"],
            &[vec!["wide cell".into(), "x".into()]],
        );
        assert_eq!(text, "A          LONG HEADER\nwide cell  x\n");
    }

    #[test]
    fn stage_specs_parse_or_name_the_problem() {
        let mut taken = Vec::new();
        let stage = parse_stage("compression:zstd:level=9,long=true", &mut taken).unwrap();
        assert_eq!(
            (stage.name.as_str(), stage.algorithm.as_str()),
            ("compression", "zstd")
        );
        assert_eq!(stage.parameters.len(), 2);
        let second = parse_stage("Compression:brotli", &mut taken).unwrap();
        assert_eq!(second.name, "compression-2");
        for bad in [
            "compression",
            ":zstd",
            "compression:",
            "compression:zstd:level",
            "compression:zstd:=3",
        ] {
            assert!(
                matches!(parse_stage(bad, &mut taken), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
    }
}
