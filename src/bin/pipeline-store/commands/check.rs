//! `check`, `backup` and `restore`: the database file as a whole.

use std::path::Path;

use pipeline_store::Error;
use pipeline_store::schema::{self, OpenOptions};

use crate::output::emit;
use crate::output::json::{CheckJson, CopiedJson};
use crate::output::text::{bytes, check_text};
use crate::{Cli, Failure, Outcome, open_unmigrated};

pub(crate) fn check(cli: &Cli) -> Outcome {
    // A file too damaged to open is the answer `check` was asked for: say so, without the
    // library's advice to check it.
    let conn = open_unmigrated(cli).map_err(|error| match error {
        Error::Corrupt { path, detail } => Failure::Database(format!(
            "{} is damaged ({detail}): restore the database from a backup",
            path.display()
        )),
        other => other.into(),
    })?;
    let report = schema::check(&conn)?;
    emit(cli, &CheckJson::from(&report), |_| check_text(&report))?;
    if report.is_ok() {
        Ok(())
    } else {
        Err(Failure::CheckFailed)
    }
}

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
