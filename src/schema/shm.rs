//! The `-shm` file, allocated before SQLite relies on it.
//!
//! SQLite shares a WAL database's log index through a memory mapping of the `-shm` file beside
//! it. It extends that file by writing one byte at the end of each 4096-byte page, which allocates
//! the whole page on a file system of 4096-byte blocks but only the last block of it on one of 1024-byte
//! blocks; the rest is a hole. When the disk then fills up, the first write through the mapping
//! into a hole has nowhere to go, and the kernel kills the process with `SIGBUS` — a signal, not
//! an error SQLite could report — on that open and every later one.
//!
//! So on Linux an open makes the mapped part (the first 32-kibibyte region, and whatever more the
//! file already holds) allocated: before SQLite opens the file, and again once its connection
//! has mapped it (the first connection to a database cuts the file to 3 bytes and extends it
//! again). Allocating fills holes and never changes a byte, so it is safe beside any number of
//! connections. A writing open that cannot get the space is refused with [`Error::Full`]
//! before anything is written; a reading open goes on (readers write only the index's first
//! page, which is always allocated). Where the file system has no holes to fill (4096-byte blocks,
//! tmpfs) the look costs one `stat`.

use std::path::Path;

use crate::error::{Error, Result};

/// The size of SQLite's first `-shm` region: the index of the first 4,062 frames of the log.
const REGION: u64 = 32 * 1024;

/// Whether SQLite's extension of `db`'s `-shm` file can leave holes: on file systems whose
/// blocks are smaller than a page. Asked once per file and process: a file system of larger
/// blocks (ext4's default, tmpfs) is remembered, and its later opens look no further.
#[cfg(target_os = "linux")]
fn holes_possible(db: &Path) -> bool {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static WHOLE_PAGES: Mutex<BTreeSet<std::path::PathBuf>> = Mutex::new(BTreeSet::new());
    if WHOLE_PAGES.lock().is_ok_and(|known| known.contains(db)) {
        return false;
    }
    let directory = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match rustix::fs::statvfs(directory) {
        Ok(fs) if fs.f_frsize >= 4096 => {
            if let Ok(mut known) = WHOLE_PAGES.lock() {
                known.insert(db.to_owned());
            }
            false
        }
        _ => true,
    }
}

/// After `conn` has opened `db`: maps the `-shm` file (a read does) and fills the holes SQLite's
/// extension left, refusing with [`Error::Full`] when there is no room.
pub(super) fn after_mapping(conn: &rusqlite::Connection, db: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    if holes_possible(db) {
        conn.query_row("PRAGMA schema_version", [], |_| Ok(()))?;
        return allocate(db, false, true);
    }
    let _ = (conn, db);
    Ok(())
}

/// Makes the first region of `db`'s `-shm` file (or all of it, if it is longer) allocated.
/// `create` creates the file (with the database file's permission bits, as SQLite does) when it
/// is missing; `required` refuses with [`Error::Full`] when there is no room.
#[cfg(target_os = "linux")]
pub(super) fn allocate(db: &Path, create: bool, required: bool) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

    if !holes_possible(db) {
        return Ok(());
    }
    let shm = super::media::side_file(db, "-shm");
    let file = match std::fs::metadata(&shm) {
        Ok(m) if m.blocks() * 512 >= m.len().max(REGION) => return Ok(()),
        Ok(_) => std::fs::OpenOptions::new().write(true).open(&shm),
        Err(_) if create => {
            let Ok(mode) = std::fs::metadata(db).map(|m| m.permissions().mode() & 0o777) else {
                return Ok(());
            };
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&shm)
                .and_then(|f| {
                    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
                    Ok(f)
                })
        }
        Err(_) => return Ok(()),
    };
    // A file this process may not write (read-only media, another user's) is SQLite's to
    // refuse or read its own way.
    let Ok(file) = file else { return Ok(()) };
    let len = file.metadata().map_or(0, |m| m.len()).max(REGION);
    match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::KEEP_SIZE, 0, len) {
        Err(rustix::io::Errno::NOSPC | rustix::io::Errno::DQUOT) if required => Err(Error::Full {
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some(format!(
                    "no room for the {} KiB of {} that SQLite maps to share the log's index; \
                     free space on its file system and open again",
                    len / 1024,
                    shm.display()
                )),
            ),
        }),
        Err(e) => {
            log::debug!("cannot allocate {}: {e}", shm.display());
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Elsewhere the file is left to SQLite.
#[cfg(not(target_os = "linux"))]
pub(super) fn allocate(_db: &Path, _create: bool, _required: bool) -> Result<()> {
    Ok(())
}
