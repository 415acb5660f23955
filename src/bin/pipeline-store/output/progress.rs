//! The progress line: on a terminal, while a migration has been running for more than a second,
//! `applying 20250301000000_add_owner.sql: 4.1 s` on stderr, rewritten in place and cleared
//! when it ends, before anything else is printed. Off with `--quiet` and when stderr is not a
//! terminal.
//!
//! Every migrator the command runs is told to call `note` (`Migrator::on_progress`), which
//! keeps what is running; a thread draws it. The logger here is `env_logger`, with the
//! library's API advice in warnings put in command terms.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pipeline_store::migrate::{Migrator, Progress};

use super::text::millis;

/// The line's state: what is running (the file and since when), and whether the line is on
/// the screen. Drawing and clearing both happen with it locked, so a line is never drawn after
/// its migration finished.
struct Line {
    running: Option<(String, Instant)>,
    shown: bool,
}

static LINE: Mutex<Line> = Mutex::new(Line {
    running: None,
    shown: false,
});

fn line() -> std::sync::MutexGuard<'static, Line> {
    LINE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Notes a migrator's progress, for the line; a finished migration's line is cleared at once,
/// before anything else is printed.
fn note(event: &Progress<'_>) {
    let mut line = line();
    match event {
        Progress::Started { file, .. } => line.running = Some(((*file).to_owned(), Instant::now())),
        Progress::Finished { .. } => {
            line.running = None;
            if line.shown {
                let mut stderr = std::io::stderr().lock();
                let _ = write!(stderr, "\r\x1b[K");
                let _ = stderr.flush();
                line.shown = false;
            }
        }
        // An event this version of the command does not show.
        _ => {}
    }
}

/// `migrator`, telling the progress line what it runs.
pub(crate) fn shown(migrator: Migrator) -> Migrator {
    migrator.on_progress(note)
}

struct Logger {
    inner: env_logger::Logger,
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.inner.matches(record) {
            return;
        }
        let text = record.args().to_string();
        let advice = crate::in_command_terms(&text);
        if advice == text {
            self.inner.log(record);
        } else {
            self.inner.log(
                &log::Record::builder()
                    .args(format_args!("{advice}"))
                    .metadata(record.metadata().clone())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the logger (`env_logger` with `default_level`, `RUST_LOG` overriding) and, when
/// `show` and stderr is a terminal, the thread that draws the progress line.
pub(crate) fn install(default_level: &str, show: bool) {
    let inner =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
            .format_timestamp(None)
            .build();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(Logger { inner })).is_err() {
        return;
    }
    log::set_max_level(max);
    if show && std::io::stderr().is_terminal() {
        std::thread::spawn(draw_line);
    }
}

/// Redraws the line every 100 ms for a migration running over a second.
fn draw_line() {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let mut line = line();
        if let Some((file, since)) = &line.running
            && since.elapsed() >= Duration::from_secs(1)
        {
            let so_far = millis(u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX));
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[Kapplying {file}: {so_far}");
            let _ = stderr.flush();
            line.shown = true;
        }
    }
}
