//! `check`.

use pipeline_store::schema;

use crate::output::emit;
use crate::output::json::CheckJson;
use crate::output::text::check_text;
use crate::{Cli, Failure, Outcome, open_unmigrated};

pub(crate) fn check(cli: &Cli) -> Outcome {
    let conn = open_unmigrated(cli)?;
    let report = schema::check(&conn)?;
    emit(cli, &CheckJson::from(&report), |_| check_text(&report))?;
    if report.is_ok() {
        Ok(())
    } else {
        Err(Failure::CheckFailed)
    }
}
