//! Online backups: a consistent copy of a live database, published under its name only once
//! it is complete, and the copy taken before an upgrade.

use std::path::{Path, PathBuf};

use log::debug;
use rusqlite::Connection;

use super::file::check_parent;
use crate::error::{Error, Result};
use crate::migrate::copy::{
    copy_into, create_private, directory_of, private_name, remove_copy, source_mode,
};

/// Copies the database into `dir`, before the migrations `versions` (the first and the last
/// pending) are applied, when it holds tables.
pub(super) fn backup_if_pending(
    conn: &Connection,
    versions: (i64, i64),
    path: &Path,
    dir: &Path,
) -> Result<Option<PathBuf>> {
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    if tables == 0 {
        return Ok(None);
    }
    let file = path
        .file_name()
        .map_or_else(|| "database".into(), |n| n.to_string_lossy().into_owned());
    let base = format!("{file}.before-{}-to-{}", versions.0, versions.1);
    for attempt in 1_u32.. {
        let name = if attempt == 1 {
            format!("{base}.db")
        } else {
            format!("{base}-{attempt}.db")
        };
        match backup(conn, dir.join(&name)) {
            Ok(()) => {
                log::info!(
                    "backed up {} to {}",
                    path.display(),
                    dir.join(&name).display()
                );
                return Ok(Some(dir.join(name)));
            }
            Err(Error::AlreadyExists { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    unreachable!("u32 attempts run out only after 4 billion existing backups")
}

/// Copies the database of `conn` into a new file at `target`, through SQLite's online backup
/// API: other connections may keep reading and writing meanwhile.
///
/// The copy is written to a temporary file beside `target`, synced, and only then given the
/// name `target`, so a crash never leaves a partial backup under that name; an existing file
/// is never overwritten. The copy uses the rollback journal (one self-contained file).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let conn = pipeline_store::initialize_database(":memory:")?;
/// let target = dir.path().join("copy.db");
/// pipeline_store::schema::backup(&conn, &target)?;
/// let copy = pipeline_store::initialize_database(target.to_str().unwrap())?;
/// assert!(pipeline_store::schema::check(&copy)?.is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::AlreadyExists`] when `target` exists, [`Error::DirectoryNotFound`] when its
/// directory does not, [`Error::Backup`] when SQLite fails to copy, [`Error::Io`] when the file
/// cannot be synced or named. No file is left behind on error.
pub fn backup(conn: &Connection, target: impl AsRef<Path>) -> Result<()> {
    let target = target.as_ref();
    if std::fs::symlink_metadata(target).is_ok() {
        return Err(Error::AlreadyExists {
            path: target.to_path_buf(),
        });
    }
    check_parent(target)?;
    let directory = directory_of(target);
    remove_stale_partials(directory);
    let partial = private_name(target, "backup", "", PARTIAL_SUFFIX);
    let io_error = |operation, source| Error::Io {
        operation,
        path: partial.clone(),
        source,
    };
    // Held until the copy is named: another backup into this directory sees that this partial
    // file belongs to a live process. The operating system releases it if this one dies.
    // Created with the source's permission bits, never wider: a private database gives a
    // private copy whatever the umask.
    let mode = source_mode(conn);
    let owner = create_private(&partial, mode).map_err(|source| Error::CannotCreate {
        path: target.to_path_buf(),
        directory: directory.to_path_buf(),
        source,
    })?;
    if let Err(source) = owner.lock() {
        remove_copy(&partial);
        return Err(io_error("locking the backup", source));
    }
    let copied = copy_into(conn, &partial).map_err(|source| Error::Backup {
        path: target.to_path_buf(),
        source,
    });
    if let Err(error) = copied.and_then(|()| {
        owner
            .sync_all()
            .map_err(|source| io_error("syncing the backup", source))
    }) {
        remove_copy(&partial);
        return Err(error);
    }
    // A hard link names the file atomically and never replaces an existing one.
    let published = match std::fs::hard_link(&partial, target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists {
            path: target.to_path_buf(),
        }),
        // File systems without hard links: check, then rename (the window is the caller's).
        Err(_) if std::fs::symlink_metadata(target).is_err() => std::fs::rename(&partial, target)
            .map_err(|source| Error::Io {
                operation: "naming the backup",
                path: target.to_path_buf(),
                source,
            }),
        Err(_) => Err(Error::AlreadyExists {
            path: target.to_path_buf(),
        }),
    };
    remove_copy(&partial);
    drop(owner);
    published?;
    // Make the new name durable; not every platform can open a directory, hence best effort.
    if let Ok(dir) = std::fs::File::open(directory) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// How the temporary file of a backup in progress ends: `.{target}.{pid}-{nanos}.partial`.
const PARTIAL_SUFFIX: &str = ".partial";

/// Whether `name` is a backup's temporary file: `.{target}.{pid}-{nanos}.partial`.
fn is_partial_name(name: &str) -> bool {
    let Some(stem) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(PARTIAL_SUFFIX))
    else {
        return false;
    };
    let Some((target, tag)) = stem.rsplit_once('.') else {
        return false;
    };
    let Some((pid, nanos)) = tag.split_once('-') else {
        return false;
    };
    !target.is_empty()
        && !pid.is_empty()
        && !nanos.is_empty()
        && pid.bytes().chain(nanos.bytes()).all(|b| b.is_ascii_digit())
}

/// Removes the partial files of backups whose process is gone (killed midway): a live backup
/// holds a lock on its partial file, which the operating system releases when it dies.
fn remove_stale_partials(directory: &Path) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.filter_map(std::result::Result::ok) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_partial_name(name) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            debug!(
                "removing {}, left by a backup that did not finish",
                path.display()
            );
            remove_copy(&path);
        }
    }
}
