//! `pipeline create|list|show|rename|archive|restore|delete`.

use pipeline_store::model::{NewPipeline, NewStage, Pipeline, PipelineId, StageType};
use pipeline_store::repo::pipelines::{self, ListQuery, PipelineSummary};
use pipeline_store::rusqlite::Connection;

use crate::output::emit;
use crate::output::json::{DoneJson, PipelineJson, SummaryJson};
use crate::output::text::{show_text, table};
use crate::{Cli, Failure, Outcome, PipelineCommand, open_read, open_write};

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
    let mut all_pages = Vec::new();
    loop {
        let page = pipelines::list(&conn, &query)?;
        let Some(last) = page.last() else { break };
        query = query.after(last.name.clone());
        all_pages.extend(page);
    }
    let json: Vec<SummaryJson> = all_pages.iter().map(SummaryJson::from).collect();
    emit(cli, &json, |_| summaries_text(&all_pages))
}

fn summaries_text(all_pages: &[PipelineSummary]) -> String {
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
    table(&["NAME", "STAGES", "STATUS", "UPDATED", "ID"], &rows)
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
        ] {
            assert!(
                matches!(parse_stage(bad, &mut taken), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
    }
}
