//! `check`.

use pipeline_store::schema::{self};

use crate::output::json::CheckJson;
use crate::output::text::check_text;
use crate::output::{print, print_json};
use crate::{Cli, Failure, Outcome, open_unmigrated};

pub(crate) fn check(cli: &Cli) -> Outcome {
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
