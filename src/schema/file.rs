//! The database file before SQLite opens it: what is there (nothing, a SQLite database, or
//! something else that must be left alone), its directory, and SQLite's verdicts on it turned
//! into errors that name it.

use std::io::Read as _;
use std::path::Path;

use log::debug;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// Turns SQLite's "file is not a database" into [`Error::NotADatabase`] and "database disk
/// image is malformed" into [`Error::Corrupt`], both naming the path.
pub(super) fn not_a_database(error: Error, path: &Path) -> Error {
    let Some(sqlite) = error.sqlite_error() else {
        return error;
    };
    match sqlite.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => Error::NotADatabase {
            path: path.to_path_buf(),
            reason: "SQLite rejected its contents".to_owned(),
        },
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => Error::Corrupt {
            path: path.to_path_buf(),
            detail: crate::error::sqlite_message(sqlite),
        },
        _ => error,
    }
}

/// Opens `path` after [`inspect_file`] made sure it is a database or may be created; also says
/// whether its header was already in WAL mode.
pub(super) fn open_file(path: &Path, read_only: bool, create: bool) -> Result<(Connection, bool)> {
    let wal = match inspect_file_header(path)? {
        (FileState::Database, wal) => wal,
        (FileState::Missing, _) if create => {
            check_parent(path)?;
            false
        }
        (FileState::Missing, _) => {
            return Err(Error::DatabaseNotFound {
                path: path.to_path_buf(),
                hint: if read_only {
                    ""
                } else {
                    "; use mode=rwc or OpenOptions::create_if_missing(true) to create it"
                },
            });
        }
    };
    if wal {
        // Before SQLite maps it: a full disk must be an error, not a SIGBUS (see `shm`).
        super::shm::allocate(path, true, !read_only)?;
    }
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if read_only {
        flags |= OpenFlags::SQLITE_OPEN_READ_ONLY;
    } else {
        flags |= OpenFlags::SQLITE_OPEN_READ_WRITE;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
    }
    debug!("opening {} ({flags:?})", path.display());
    Connection::open_with_flags(path, flags)
        .map(|conn| (conn, wal))
        .map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum FileState {
    Missing,
    Database,
}

/// What is at `path`: nothing, or a SQLite database (an empty file counts); anything else is
/// [`Error::NotADatabase`]. Only reads the first 20 bytes.
pub(super) fn inspect_file(path: &Path) -> Result<FileState> {
    inspect_file_header(path).map(|(state, _)| state)
}

/// [`inspect_file`], and whether the header says the file is in WAL mode (its read and write
/// format versions, bytes 18 and 19, are both 2), which SQLite keeps in the file.
fn inspect_file_header(path: &Path) -> Result<(FileState, bool)> {
    const MAGIC: &[u8; 16] = b"SQLite format 3\0";
    let io_error = |source| Error::Io {
        operation: "reading",
        path: path.to_path_buf(),
        source,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((FileState::Missing, false));
        }
        Err(e) => return Err(io_error(e)),
    };
    let refuse = |reason: &str| Error::NotADatabase {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    if metadata.is_dir() {
        return Err(refuse("it is a directory"));
    }
    if !metadata.is_file() {
        return Err(refuse("it is not a regular file"));
    }
    if metadata.len() == 0 {
        return Ok((FileState::Database, false));
    }
    let mut header = [0_u8; 20];
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut filled = 0;
    while filled < header.len() {
        match file.read(&mut header[filled..]).map_err(io_error)? {
            0 => break,
            n => filled += n,
        }
    }
    if filled < MAGIC.len() || &header[..MAGIC.len()] != MAGIC {
        return Err(refuse("it does not start with the SQLite file header"));
    }
    Ok((FileState::Database, header[18] == 2 && header[19] == 2))
}

pub(super) fn check_parent(path: &Path) -> Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => return Ok(()),
    };
    if directory.is_dir() {
        Ok(())
    } else {
        Err(Error::DirectoryNotFound {
            path: path.to_path_buf(),
            directory: directory.to_path_buf(),
        })
    }
}
