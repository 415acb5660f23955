//! A consistent copy of a live database into a new file: the primitive under both the
//! rehearsal (here) and `schema::backup` (which adds naming, publishing and cleanup on top).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// How long a copy waits for a rollback-journal writer to let it read.
const COPY_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Copies every page of the database `conn` is open on into the (new, empty) file `target` in
/// one step, so the copy is one consistent snapshot read in one read transaction: writers go on
/// meanwhile (WAL) and never make it start over, as they would between the steps of an
/// incremental copy. `target` must exist ([`create_private`] makes it, with its permission
/// bits): it is never created here. The copy uses the rollback journal (one self-contained
/// file) and is closed when this returns.
pub(crate) fn copy_into(conn: &Connection, target: &Path) -> rusqlite::Result<()> {
    let mut copy = Connection::open_with_flags(
        target,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    {
        use rusqlite::backup::StepResult;
        let backup = rusqlite::backup::Backup::new(conn, &mut copy)?;
        // A source locked by a writer in rollback-journal mode answers busy; WAL never does.
        let deadline = Instant::now() + COPY_LOCK_WAIT;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::Busy | StepResult::Locked if Instant::now() >= deadline => {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the database stayed locked while the copy waited to read it".into()),
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    copy.pragma_update(None, "journal_mode", "delete")?;
    copy.close().map_err(|(_, e)| e)
}

/// The permission bits of the database file `conn` is open on (`None` in memory, or where
/// permissions are not Unix modes).
pub(crate) fn source_mode(conn: &Connection) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = conn.path().filter(|p| !p.is_empty())?;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = conn;
        None
    }
}

/// Creates `path`, which must not exist, with exactly the permission bits `mode` (when given):
/// created no wider than `mode` (the umask may narrow it further), then set to `mode`. A copy
/// of a private database is private whatever the umask.
pub(crate) fn create_private(path: &Path, mode: Option<u32>) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        return Ok(file);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// The directory `path` is in (`.` for a bare file name).
pub(crate) fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// A hidden name beside `path` that no other process and no earlier call of this one takes:
/// `.{file}.{tag}{pid}-{nanos}{suffix}` (`fallback` for a path without a file name).
pub(crate) fn private_name(path: &Path, fallback: &str, tag: &str, suffix: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    directory_of(path).join(format!(
        ".{}.{tag}{}-{nanos}{suffix}",
        path.file_name()
            .map_or_else(|| fallback.into(), |n| n.to_string_lossy()),
        std::process::id()
    ))
}

/// Removes a copy and the journal files SQLite may have left beside it.
pub(crate) fn remove_copy(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(name));
    }
}
