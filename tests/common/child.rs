//! Child processes: this test binary run again with `--ignored --exact
//! reliability::child_process` and a role in `PIPELINE_STORE_TEST_CHILD`, and the bounded waits
//! for what they print. The roles themselves live with the tests that use them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_store::rusqlite::Connection;
use pipeline_store::rusqlite::functions::FunctionFlags;

use super::TestResult;

pub const ROLE: &str = "PIPELINE_STORE_TEST_CHILD";
pub const DB: &str = "PIPELINE_STORE_TEST_DB";
pub const KILL_AT: &str = "PIPELINE_STORE_TEST_KILL_AT";
pub const ARG: &str = "PIPELINE_STORE_TEST_ARG";
/// No child may run longer than this.
pub const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// Registers `test_checkpoint(name)`: prints `checkpoint <name>`, then blocks forever when
/// `name` is where the parent will kill this process.
pub fn register_checkpoints(conn: &Connection, kill_at: Option<String>) -> TestResult {
    conn.create_scalar_function(
        "test_checkpoint",
        1,
        FunctionFlags::SQLITE_UTF8,
        move |ctx| {
            let name: String = ctx.get(0)?;
            println!("checkpoint {name}");
            if kill_at.as_deref() == Some(name.as_str()) {
                std::thread::sleep(CHILD_LIMIT);
            }
            Ok(0)
        },
    )?;
    Ok(())
}

/// The arguments that make this test binary run one child process's role and nothing else.
pub const CHILD_ARGS: [&str; 6] = [
    "--ignored",
    "--exact",
    "reliability::child_process",
    "--nocapture",
    "--test-threads",
    "1",
];

/// Starts a child in `role`; its stdout is piped.
pub fn spawn(role: &str, url: &str, extra: &[(&str, &str)]) -> TestResult<Child> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(CHILD_ARGS)
        .env(ROLE, role)
        .env(DB, url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in extra {
        command.env(key, value);
    }
    Ok(command.spawn()?)
}

/// What the child printed on a line: the test harness may have started the line with
/// `test reliability::child_process ... `.
pub fn said(line: &str) -> &str {
    line.rsplit_once(" ... ").map_or(line, |(_, text)| text)
}

/// Reads the child's stdout until a line satisfies `until` (returned), or the child ends.
/// Lines are passed through [`said`].
pub fn read_until(
    child: &mut Child,
    mut until: impl FnMut(&str) -> bool,
) -> TestResult<Vec<String>> {
    let stdout = child.stdout.take().ok_or("piped stdout")?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Drain to the end even when nobody listens any more: a closed pipe would make the
        // child fail on its next print.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + CHILD_LIMIT;
    let mut lines = Vec::new();
    while let Ok(line) = receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let line = said(&line).to_owned();
        let done = until(&line);
        lines.push(line);
        if done {
            return Ok(lines);
        }
    }
    let _ = child.kill();
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
    }
    Err(format!("the child never got there; its output: {lines:?}; its errors: {stderr}").into())
}

pub fn wait_bounded(child: &mut Child) -> TestResult<std::process::ExitStatus> {
    let deadline = Instant::now() + CHILD_LIMIT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            child.kill()?;
            return Err("a child ran past its time limit".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The lines a child prints, as they come.
pub fn watch(child: &mut std::process::Child) -> TestResult<std::sync::mpsc::Receiver<String>> {
    let stdout = child.stdout.take().ok_or("piped stdout")?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(said(&line).to_owned());
        }
    });
    Ok(receiver)
}

/// Waits (bounded) for a line that satisfies `until`; returns every line up to it.
pub fn wait_for(
    lines: &std::sync::mpsc::Receiver<String>,
    until: impl Fn(&str) -> bool,
) -> TestResult<Vec<String>> {
    let deadline = Instant::now() + CHILD_LIMIT;
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let done = until(&line);
        seen.push(line);
        if done {
            return Ok(seen);
        }
    }
    Err(format!("the child never got there: {seen:?}").into())
}
