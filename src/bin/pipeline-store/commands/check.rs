//! `check`: integrity, foreign keys, migrations, drift and derived data, in one report.

use pipeline_store::Error;
use pipeline_store::schema;

use crate::args::Cli;
use crate::output::emit;
use crate::output::json::CheckJson;
use crate::output::text::check_text;
use crate::{Failure, Outcome, open_unmigrated};

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
