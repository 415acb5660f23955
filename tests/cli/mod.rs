//! The `pipeline-store` command, run as a user runs it, against temporary databases: one module
//! per command group, the helpers that run the command here.

mod basics;
mod file;
mod host;
mod inspect;
mod migrate;
mod pipeline;
mod shapes;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{TempDb, TestResult};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_pipeline-store");

/// Runs the command in `dir` with `PIPELINE_STORE_DB` unset.
pub(crate) fn run_in(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("PIPELINE_STORE_DB")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    output
}

pub(crate) fn run(db: &TempDb, args: &[&str]) -> Output {
    let url = db.url();
    let mut all = vec!["--db", url.as_str()];
    all.extend_from_slice(args);
    run_in(db.dir.path(), &all)
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(crate) fn json(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("valid JSON")
}

pub(crate) fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

/// Runs the command and checks that it succeeded, in text and in JSON.
pub(crate) fn both_forms(db: &TempDb, args: &[&str]) -> (String, Value) {
    let text = run(db, args);
    assert_eq!(code(&text), Some(0), "{args:?}: {}", stderr(&text));
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let parsed = json(&run(db, &with_json));
    (stdout(&text), parsed)
}

/// This crate's migration files and `extra`, in a new directory, for `--source`.
pub(crate) fn migrations_with(dir: &Path, extra: &[(&str, &str)]) -> TestResult {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
    }
    crate::common::write_migrations(dir, extra)
}

/// Runs the command, killing it if it has not ended after `limit`: `None` then.
pub(crate) fn run_within(
    db: &TempDb,
    args: &[&str],
    limit: std::time::Duration,
) -> TestResult<Option<Output>> {
    use std::process::Stdio;
    let url = db.url();
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&url)
        .args(args)
        .env_remove("PIPELINE_STORE_DB")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(Some(child.wait_with_output()?))
}

/// Fails unless the command given `args` exited 0, showing what it printed.
pub(crate) fn succeeded(args: &[&str], output: &Output) {
    assert_eq!(
        code(output),
        Some(0),
        "{args:?}: {}{}",
        stdout(output),
        stderr(output)
    );
}
