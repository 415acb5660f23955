//! Writing to stdout: text or JSON, and a reader that went away is not an error.

pub(crate) mod json;
pub(crate) mod progress;
pub(crate) mod text;

use std::io::Write as _;

use serde::Serialize;

use crate::args::Cli;
use crate::{Failure, Outcome};

/// Prints `value` as JSON with `--json`, or as the text `text` makes of it.
pub(crate) fn emit<T: Serialize>(cli: &Cli, value: &T, text: impl FnOnce(&T) -> String) -> Outcome {
    if cli.json {
        print_json(value)
    } else {
        print(&text(value))
    }
}

/// A reader that went away (`| head`) is not an error: stop writing quietly.
pub(crate) fn written(result: std::io::Result<()>) -> Outcome {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

pub(crate) fn print_json(value: &impl Serialize) -> Outcome {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Database(format!("cannot encode JSON: {e}")))?;
    text.push('\n');
    print(&text)
}

pub(crate) fn print(text: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}
