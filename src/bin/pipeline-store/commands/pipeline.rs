//! `pipeline create|list|show|rename|archive|restore|delete`.

use pipeline_store::model::{NewPipeline, NewStage, Pipeline, PipelineId, StageType};
use pipeline_store::repo::pipelines::{self, ListQuery, PipelineSummary};
use pipeline_store::rusqlite::Connection;

use std::io::Write;
use std::ops::ControlFlow;

use crate::args::{Cli, PipelineCommand};
use crate::output::json::{DoneJson, PipelineJson};
use crate::output::text::{Columns, show_text};
use crate::output::{emit, written};
use crate::{Failure, Outcome, open_read, open_write};

pub(crate) fn find(conn: &Connection, key: &str) -> Result<Pipeline, Failure> {
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

pub(crate) fn parse_stage(spec: &str, taken: &mut Vec<String>) -> Result<NewStage, Failure> {
    let bad = |why: &str| {
        Failure::Usage(format!(
            "invalid --stage `{spec}`: {why} (expected TYPE:ALGORITHM[:key=value,...], or \
             custom:NAME:ALGORITHM[:key=value,...] for a type of your own)"
        ))
    };
    let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let kind = kind.trim();
    if kind.is_empty() {
        return Err(bad("no stage type"));
    }
    // `custom:NAME:...` names a type of its own; any other first part must be a known type, so
    // a misspelt one (`compresion`) is refused instead of stored as a new kind.
    let (stage_type, rest) = if kind.eq_ignore_ascii_case("custom") {
        let (name, rest) = rest.split_once(':').unwrap_or((rest, ""));
        if name.trim().is_empty() {
            return Err(bad("no name after `custom:`"));
        }
        (StageType::parse(name.trim()), rest)
    } else {
        match StageType::parse(kind) {
            StageType::Other(_) => {
                return Err(bad(&format!(
                    "unknown stage type `{kind}` (known: compression, encryption, transform, \
                     checksum, passthrough)"
                )));
            }
            known => (known, rest),
        }
    };
    let mut parts = rest.splitn(2, ':');
    let algorithm = parts.next().unwrap_or_default().trim();
    if algorithm.is_empty() {
        return Err(bad("no algorithm"));
    }
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

pub(crate) fn create_pipeline(
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

pub(crate) fn list_pipelines(
    cli: &Cli,
    archived: bool,
    all: bool,
    tag: Option<&String>,
) -> Outcome {
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
    // One read transaction: both passes of the text table, and every page, see one snapshot.
    let sqlite = |e| Failure::from(pipeline_store::Error::from(e));
    conn.execute_batch("BEGIN").map_err(sqlite)?;
    let listed = if cli.json {
        list_json(&conn, query)
    } else {
        list_text(&conn, query)
    };
    let ended = conn.execute_batch("COMMIT");
    listed?;
    ended.map_err(sqlite)
}

/// Summaries read this many at a time: memory stays flat however many pipelines are listed.
const LIST_PAGE: u32 = 500;

/// Calls `f` on every summary `query` selects, one page at a time, until `f` says stop.
fn each_summary(
    conn: &Connection,
    mut query: ListQuery,
    mut f: impl FnMut(&PipelineSummary) -> Result<ControlFlow<()>, Failure>,
) -> Result<ControlFlow<()>, Failure> {
    query = query.limit(LIST_PAGE);
    loop {
        let page = pipelines::list(conn, &query)?;
        let Some(last) = page.last() else {
            return Ok(ControlFlow::Continue(()));
        };
        query = query.after(last.name.clone());
        for summary in &page {
            if f(summary)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }
}

/// Writes `bytes`; a reader that went away (`| head`) means stop, quietly.
fn send(out: &mut impl Write, bytes: &[u8]) -> Result<ControlFlow<()>, Failure> {
    match out.write_all(bytes) {
        Ok(()) => Ok(ControlFlow::Continue(())),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ControlFlow::Break(())),
        Err(e) => Err(e.into()),
    }
}

/// The JSON array, written element by element as `serde_json`'s pretty printer writes a whole
/// array (the same bytes as before listing streamed).
fn list_json(conn: &Connection, query: ListQuery) -> Outcome {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut first = true;
    let flow = each_summary(conn, query, |summary| {
        let element = serde_json::to_string_pretty(summary)
            .map_err(|e| Failure::Database(format!("cannot encode JSON: {e}")))?;
        let mut text = String::from(if first { "[\n" } else { ",\n" });
        first = false;
        for (i, line) in element.lines().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str("  ");
            text.push_str(line);
        }
        send(&mut out, text.as_bytes())
    })?;
    if flow.is_break() {
        return Ok(());
    }
    let end = if first { "[]\n" } else { "\n]\n" };
    written(out.write_all(end.as_bytes()).and_then(|()| out.flush()))
}

/// The table, in two passes over the pages: the first measures the columns, the second writes
/// the rows.
fn list_text(conn: &Connection, query: ListQuery) -> Outcome {
    let mut columns = Columns::new(&SUMMARY_HEADERS);
    let measured = each_summary(conn, query.clone(), |summary| {
        columns.measure(&summary_cells(summary));
        Ok(ControlFlow::Continue(()))
    })?;
    debug_assert!(measured.is_continue(), "measuring never stops early");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if send(&mut out, columns.line(&SUMMARY_HEADERS).as_bytes())?.is_break() {
        return Ok(());
    }
    let flow = each_summary(conn, query, |summary| {
        send(&mut out, columns.line(&summary_cells(summary)).as_bytes())
    })?;
    if flow.is_break() {
        return Ok(());
    }
    written(out.flush())
}

const SUMMARY_HEADERS: [&str; 5] = ["NAME", "STAGES", "STATUS", "UPDATED", "ID"];

fn summary_cells(s: &PipelineSummary) -> [String; 5] {
    [
        s.name.clone(),
        s.stage_count.to_string(),
        if s.archived { "archived" } else { "active" }.to_owned(),
        s.updated_at.to_string(),
        s.id.to_string(),
    ]
}

pub(crate) fn pipeline(cli: &Cli, command: &PipelineCommand) -> Outcome {
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

pub(crate) fn done(
    cli: &Cli,
    action: &str,
    pipeline: &Pipeline,
    new_name: Option<&String>,
) -> Outcome {
    let name = new_name.unwrap_or(&pipeline.name);
    let done = DoneJson {
        action: action.to_owned(),
        id: pipeline.id.to_string(),
        name: name.clone(),
    };
    emit(cli, &done, |d| {
        format!("{} pipeline `{}` ({})\n", d.action, d.name, d.id)
    })
}

pub(crate) fn show(cli: &Cli, pipeline: &Pipeline) -> Outcome {
    emit(cli, &PipelineJson::from(pipeline), |_| show_text(pipeline))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "compresion:zstd",
            "custom",
            "custom:",
            "custom::zstd",
            "custom:dedupe",
            "custom:dedupe:",
        ] {
            assert!(
                matches!(parse_stage(bad, &mut taken), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
        let Err(Failure::Usage(message)) = parse_stage("compresion:zstd", &mut taken) else {
            panic!("a misspelt type is refused");
        };
        assert!(
            message.contains("unknown stage type `compresion`") && message.contains("custom:NAME"),
            "{message}"
        );
    }

    #[test]
    fn a_custom_stage_type_is_written_custom_name_algorithm() {
        let mut taken = Vec::new();
        let stage = parse_stage("custom:dedupe:rolling:window=64", &mut taken).unwrap();
        assert_eq!(stage.stage_type, StageType::parse("dedupe"));
        assert!(matches!(stage.stage_type, StageType::Other(_)));
        assert_eq!(
            (stage.name.as_str(), stage.algorithm.as_str()),
            ("dedupe", "rolling")
        );
        assert_eq!(stage.parameters.len(), 1);
        let known = parse_stage("CUSTOM:checksum:sha256", &mut taken).unwrap();
        assert_eq!(known.stage_type, StageType::Checksum);
    }
}
