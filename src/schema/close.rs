//! What makes the last close durable.
//!
//! When the last connection to a WAL database closes, SQLite checkpoints every commit into the
//! database file (syncing it), then cuts the kept `-wal` file to zero bytes (or, without a
//! persistent log, deletes it), and syncs neither. After a power cut the log can come back
//! whole: harmless for the same database, whose pages it holds already, but replayed onto any
//! other database copied over the `.db` file meanwhile (which then reads as the old one, or as
//! malformed). So each writing connection carries a guard that, once SQLite has closed the
//! connection's files, syncs the emptied log (or the directory the log was deleted from).
//!
//! The guard is the destructor of a function registered on the connection: SQLite frees a
//! connection's functions after it has closed its database files, and a Rust program has no
//! other place that runs at a connection's close without wrapping `Connection`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use log::debug;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// The function whose destructor is the guard; calling it returns 0.
const NAME: &str = "pipeline_store_close_guard";

/// A log changed this recently may have changed again within the file system's timestamp
/// granularity without its time moving, so it is synced whatever its times say.
const RECENT: Duration = Duration::from_secs(2);

struct Guard {
    log: PathBuf,
    directory: PathBuf,
    persistent: bool,
    /// The log's size and modification time when the connection was opened.
    at_open: Option<(u64, SystemTime)>,
}

fn looked_at(log: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(log).ok()?;
    Some((m.len(), m.modified().ok()?))
}

impl Drop for Guard {
    fn drop(&mut self) {
        let result = match std::fs::metadata(&self.log) {
            // Cut by this close (or by an earlier one that was not synced): sync the cut. A log
            // that is still empty and untouched since the open needs nothing.
            Ok(m) if m.len() == 0 => {
                let now = (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH));
                let untouched =
                    self.at_open == Some(now) && now.1.elapsed().is_ok_and(|age| age > RECENT);
                if untouched {
                    return;
                }
                File::open(&self.log).and_then(|f| f.sync_data())
            }
            // Deleted at the close (`persistent_wal(false)`): sync the directory's entry.
            Err(_) if !self.persistent => File::open(&self.directory).and_then(|d| d.sync_all()),
            // Other connections still have the database open (the last of them cuts the log),
            // or there is no log to sync.
            Ok(_) | Err(_) => return,
        };
        if let Err(e) = result {
            debug!(
                "cannot sync {} after the last close: {e}",
                self.log.display()
            );
        }
    }
}

/// Gives `conn`, a writing connection to the WAL database at `path`, the guard that syncs its
/// log after the last close. Where the function cannot be registered the open goes on: the
/// guard is a durability margin, not a condition of using the file.
pub(super) fn guard_last_close(conn: &Connection, path: &Path, persistent: bool) {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    let log = PathBuf::from(log);
    let directory = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let guard = Guard {
        at_open: looked_at(&log),
        log,
        directory,
        persistent,
    };
    if let Err(e) = conn.create_scalar_function(
        NAME,
        0,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |_| {
            let _ = &guard;
            Ok(0)
        },
    ) {
        debug!("no sync after the last close of {}: {e}", path.display());
    }
}
