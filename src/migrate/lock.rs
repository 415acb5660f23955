//! The advisory lock a `-- no-transaction` migration holds while it runs.
//!
//! Such a migration writes a `success = 0` history row before it starts and sets it to 1 when it
//! is done, so for its whole run the history looks like the one a crash leaves behind. To tell
//! the two apart, the running process holds an exclusive lock on `{database}-migrate-lock`, a
//! small file beside the database that the operating system unlocks when the process exits,
//! however it exits. A dirty row with the lock free is a run that died; with the lock held, it
//! is a run in progress, and a second process waits for it.
//!
//! The file is created the first time such a migration runs and stays (removing a lock file
//! races with the next process to open it). In-memory databases have one connection and need no
//! lock.

use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{MigrateError, Result};

/// How often a waiting process looks at the lock again.
const POLL: Duration = Duration::from_millis(10);

/// The lock file of the database `conn` is open on; `None` for in-memory and temporary
/// databases.
fn lock_path(conn: &Connection) -> Option<PathBuf> {
    let path = conn.path().filter(|p| !p.is_empty())?;
    let mut name = PathBuf::from(path).into_os_string();
    name.push("-migrate-lock");
    Some(PathBuf::from(name))
}

/// The lock, held until dropped.
#[derive(Debug)]
pub(crate) struct RunLock {
    _file: Option<File>,
}

/// Takes the lock before a `-- no-transaction` migration claims its history row, waiting up
/// to `wait` for another process that holds it.
pub(crate) fn acquire(
    conn: &Connection,
    wait: Duration,
    version: i64,
    file: &str,
) -> Result<RunLock> {
    let Some(path) = lock_path(conn) else {
        return Ok(RunLock { _file: None });
    };
    let lock = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| MigrateError::Io {
            operation: "opening the migration lock",
            path: path.clone(),
            source,
        })?;
    match poll(&lock, wait, File::try_lock) {
        Polled::Taken { .. } => Ok(RunLock { _file: Some(lock) }),
        Polled::TimedOut => Err(in_progress(version, file, path)),
        Polled::Failed(source) => Err(MigrateError::Io {
            operation: "locking the migration lock",
            path,
            source,
        }),
    }
}

/// How polling for a lock ended.
enum Polled {
    /// Taken; `waited` when another process held it first.
    Taken { waited: bool },
    /// Still held by another process when the wait ran out.
    TimedOut,
    /// The lock could not be taken at all.
    Failed(std::io::Error),
}

/// Tries `take` on `lock` until it succeeds or `wait` runs out.
fn poll(
    lock: &File,
    wait: Duration,
    take: impl Fn(&File) -> std::result::Result<(), TryLockError>,
) -> Polled {
    let deadline = Instant::now() + wait;
    let mut waited = false;
    loop {
        match take(lock) {
            Ok(()) => return Polled::Taken { waited },
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                waited = true;
                std::thread::sleep(POLL);
            }
            Err(TryLockError::WouldBlock) => return Polled::TimedOut,
            Err(TryLockError::Error(source)) => return Polled::Failed(source),
        }
    }
}

fn in_progress(version: i64, file: &str, lock: PathBuf) -> MigrateError {
    MigrateError::InProgress {
        version,
        file: file.to_owned(),
        lock,
    }
}

/// What a dirty history row means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Dirty {
    /// No process holds the lock: the run that wrote the row is gone.
    Abandoned,
    /// A process held the lock and let it go within the wait: look at the history again.
    Finished,
}

/// Tells a dirty row left by a dead process from one being applied now, waiting up to `wait`
/// for a running one to finish.
///
/// # Errors
///
/// [`MigrateError::InProgress`] when another process still holds the lock after `wait`.
pub(crate) fn explain_dirty(
    conn: &Connection,
    wait: Duration,
    version: i64,
    file: &str,
) -> Result<Dirty> {
    let Some(path) = lock_path(conn) else {
        return Ok(Dirty::Abandoned);
    };
    // Opened for reading only: no file means no run ever held it.
    let Ok(lock) = File::open(&path) else {
        return Ok(Dirty::Abandoned);
    };
    match poll(&lock, wait, File::try_lock_shared) {
        Polled::Taken { waited: true } => Ok(Dirty::Finished),
        Polled::TimedOut => Err(in_progress(version, file, path)),
        // Free at once: the run that wrote the row is gone. (A lock that cannot be taken at
        // all says nothing about a live run either.)
        Polled::Taken { waited: false } | Polled::Failed(_) => Ok(Dirty::Abandoned),
    }
}
