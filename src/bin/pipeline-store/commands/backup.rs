//! `backup` and `restore`: a consistent copy of a database into a new file, never over one.

use std::path::Path;

use pipeline_store::schema::{self, OpenOptions};

use crate::args::Cli;
use crate::output::emit;
use crate::output::json::CopiedJson;
use crate::output::text::bytes;
use crate::{Outcome, open_unmigrated};

pub(crate) fn backup(cli: &Cli, dest: &Path) -> Outcome {
    let conn = open_unmigrated(cli)?;
    schema::backup(&conn, dest)?;
    let done = CopiedJson {
        from: cli.db.clone(),
        to: dest.display().to_string(),
        bytes: std::fs::metadata(dest).map_or(0, |m| m.len()),
    };
    emit(cli, &done, |d| {
        format!("copied {} to {} ({})\n", d.from, d.to, bytes(d.bytes))
    })
}

pub(crate) fn restore(cli: &Cli, src: &Path, dest: &Path) -> Outcome {
    let source = OpenOptions::new()
        .read_only(true)
        .migrate(false)
        .create_if_missing(false)
        .open(&src.display().to_string())?;
    schema::backup(&source, dest)?;
    let done = CopiedJson {
        from: src.display().to_string(),
        to: dest.display().to_string(),
        bytes: std::fs::metadata(dest).map_or(0, |m| m.len()),
    };
    emit(cli, &done, |d| {
        format!("restored {} to {} ({})\n", d.from, d.to, bytes(d.bytes))
    })
}
