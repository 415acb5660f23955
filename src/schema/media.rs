//! Databases in directories this process cannot write: read-only media, a read-only mount, a
//! directory of another user.
//!
//! SQLite keeps its `-wal`, `-shm` and `-journal` files beside the database, so a WAL database
//! in such a directory cannot even be read the usual way: reading needs the `-shm` file, which
//! cannot be created there. SQLite documents that a read-only WAL database opens when its `-shm`
//! and `-wal` files exist or can be created, or when the file is opened as immutable.
//!
//! The rule followed here, for a read-only open that SQLite refuses:
//!
//! * the directory is writable: the refusal stands (it is not about the directory);
//! * the directory is not writable and there is no `-wal` file, or an empty one: every committed
//!   change is in the database file, and nobody can start a write (a writer needs to create a
//!   journal in that directory too), so the file is opened with `immutable=1`, which reads it
//!   without locks or shared memory;
//! * the directory is not writable and a non-empty `-wal` is there: the log holds commits that
//!   SQLite cannot read without the `-shm` file, so the open is refused
//!   ([`Error::DirectoryNotWritable`]) rather than reading an older state of the data.
//!
//! A writing open in such a directory is refused with the same error, naming the file and the
//! directory, and a writing open of a file this process may only read with
//! [`Error::FileNotWritable`]: SQLite would open either read-only without a word, and the first
//! write would fail far from the open.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{Error, Result};

/// The directory of `path` when this process cannot create files in it; `None` when it can
/// (or when that cannot be told). Creates and removes a probe file, so it is only asked after
/// SQLite refused something.
pub(super) fn unwritable_directory(path: &Path) -> Option<PathBuf> {
    let directory = crate::migrate::copy::directory_of(path).to_path_buf();
    let probe = directory.join(format!(
        ".{}.{}.write-probe",
        path.file_name()
            .map_or_else(|| "database".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    match std::fs::File::create_new(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Some(directory)
        }
        Err(_) => None,
    }
}

/// Whether SQLite refused because it could not open or create a file it needed.
pub(super) fn is_refused_file(error: &Error) -> bool {
    let code = match error {
        Error::Open { source, .. } => source.sqlite_error_code(),
        other => other
            .sqlite_error()
            .and_then(rusqlite::Error::sqlite_error_code),
    };
    matches!(code, Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly))
}

/// The error for a writing open of a file SQLite could only open read-only: its directory is
/// not writable ([`Error::DirectoryNotWritable`]), or the file itself is not
/// ([`Error::FileNotWritable`]).
pub(super) fn refuse_writing(path: &Path) -> Error {
    match unwritable_directory(path) {
        Some(directory) => not_writable(path, directory, true),
        None => Error::FileNotWritable {
            path: path.to_path_buf(),
        },
    }
}

/// The error for an open SQLite refused in an unwritable directory, or `error` itself when the
/// directory is writable.
pub(super) fn explain(error: Error, path: &Path, writing: bool) -> Error {
    if !is_refused_file(&error) {
        return error;
    }
    let Some(directory) = unwritable_directory(path) else {
        return error;
    };
    not_writable(path, directory, writing)
}

fn not_writable(path: &Path, directory: PathBuf, writing: bool) -> Error {
    Error::DirectoryNotWritable {
        path: path.to_path_buf(),
        directory,
        reason: if writing {
            "SQLite creates its -wal, -shm and -journal files beside the database to write it; \
             open it read-only, or move it to a writable directory"
                .to_owned()
        } else {
            format!(
                "its write-ahead log {} holds commits that SQLite can only read by creating {} \
                 there; open it once from a writable directory so the log is checkpointed",
                side_file(path, "-wal").display(),
                side_file(path, "-shm").display()
            )
        },
    }
}

/// `path` with `suffix` appended (`-wal`, `-shm`).
pub(super) fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether a read-only open that SQLite refused may read the file as immutable: the directory
/// cannot be written and no write-ahead log holds commits.
pub(super) fn may_open_immutable(path: &Path) -> bool {
    let wal_is_empty = std::fs::metadata(side_file(path, "-wal")).map_or(true, |m| m.len() == 0);
    wal_is_empty && unwritable_directory(path).is_some()
}

/// Opens `path` read-only as immutable: no locks, no shared memory, no file created.
pub(super) fn open_immutable(path: &Path) -> Result<Connection> {
    let uri = format!("file:{}?mode=ro&immutable=1", uri_path(path));
    Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// A path as the path part of a `file:` URI: every byte but unreserved ones and `/` escaped.
fn uri_path(path: &Path) -> String {
    use std::fmt::Write as _;
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_a_uri_would_read() {
        assert_eq!(
            uri_path(Path::new("/tmp/a b/c?d#e%f.db")),
            "/tmp/a%20b/c%3Fd%23e%25f.db"
        );
        assert_eq!(uri_path(Path::new("plain-name_1.db")), "plain-name_1.db");
    }

    #[test]
    fn a_writable_directory_is_writable() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unwritable_directory(&dir.path().join("x.db")), None);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the probe is gone"
        );
    }
}
