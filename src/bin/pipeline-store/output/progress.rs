//! The progress line: on a terminal, while a migration has been running for more than a second,
//! `applying 20250301000000_add_owner.sql: 4.1 s` on stderr, rewritten in place and cleared
//! when it ends. Off with `--quiet` and when stderr is not a terminal.
//!
//! The library logs a record on `pipeline_store::migrate::PROGRESS_TARGET` when a migration
//! starts and ends; this logger notes them and hands every record on to `env_logger`.

use std::io::{IsTerminal as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipeline_store::migrate::PROGRESS_TARGET;

use super::text::millis;

/// What is running now: the file and since when.
type Running = Arc<Mutex<Option<(String, Instant)>>>;

struct Progress {
    inner: env_logger::Logger,
    running: Running,
}

impl log::Log for Progress {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == PROGRESS_TARGET || self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target() == PROGRESS_TARGET {
            let text = record.args().to_string();
            let mut running = self
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *running = text
                .strip_prefix("start ")
                .and_then(|rest| rest.split_once(' '))
                .map(|(_, file)| (file.to_owned(), Instant::now()));
        }
        if self.inner.matches(record) {
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
    let running: Running = Arc::new(Mutex::new(None));
    let draw = show && std::io::stderr().is_terminal();
    let logger = Progress {
        inner,
        running: Arc::clone(&running),
    };
    if log::set_boxed_logger(Box::new(logger)).is_err() {
        return;
    }
    log::set_max_level(if draw {
        log::LevelFilter::Debug.max(max)
    } else {
        max
    });
    if draw {
        std::thread::spawn(move || draw_line(&running));
    }
}

/// Redraws the line every 100 ms for a migration running over a second; clears it after.
fn draw_line(running: &Running) {
    let mut shown = false;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut stderr = std::io::stderr().lock();
        match now {
            Some((file, since)) if since.elapsed() >= Duration::from_secs(1) => {
                let so_far = millis(u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX));
                let _ = write!(stderr, "\r\x1b[Kapplying {file}: {so_far}");
                shown = true;
            }
            None if shown => {
                let _ = write!(stderr, "\r\x1b[K");
                shown = false;
            }
            // Running for less than a second, or nothing running.
            Some(_) | None => {}
        }
        let _ = stderr.flush();
    }
}
