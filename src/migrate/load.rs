//! Loading a migration set from a directory of sqlx-style files.

use std::collections::BTreeMap;
use std::path::Path;

use log::debug;

use super::{Migration, Migrator, parse};
use crate::error::{MigrateError, Result};

impl Migrator {
    /// A migrator over the `*.sql` files of a directory, read now. `{v}_{d}.up.sql` and
    /// `{v}_{d}.down.sql` make one reversible migration.
    ///
    /// Other files (a README, `.gitkeep`) and subdirectories are ignored; every `.sql` file must
    /// be a well-formed migration.
    ///
    /// # Errors
    ///
    /// [`MigrateError::Read`] when the directory or a file cannot be read,
    /// [`MigrateError::InvalidFileName`] (also for a `.down.sql` without its `.up.sql`),
    /// [`MigrateError::NotUtf8`], [`MigrateError::InvalidDirective`] or
    /// [`MigrateError::DuplicateVersion`], each naming the file.
    pub fn from_dir(path: impl AsRef<Path>) -> Result<Self> {
        let dir = path.as_ref();
        let read_error = |path: &Path, source| MigrateError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| read_error(dir, e))? {
            let entry = entry.map_err(|e| read_error(dir, e))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                debug!("skipping {}: the name is not UTF-8", path.display());
                continue;
            };
            let is_file = std::fs::metadata(&path)
                .map_err(|e| read_error(&path, e))?
                .is_file();
            if !is_file || !name.ends_with(".sql") {
                debug!("skipping {}: not a .sql file", path.display());
                continue;
            }
            entries.push((name, path));
        }
        entries.sort();
        let mut migrations = Vec::new();
        let mut downs = BTreeMap::new();
        for (name, path) in entries {
            let bytes = std::fs::read(&path).map_err(|e| read_error(&path, e))?;
            let sql = String::from_utf8(bytes)
                .map_err(|_| MigrateError::NotUtf8 { path: path.clone() })?;
            let parsed =
                parse::parse_file_name(&name).map_err(|reason| MigrateError::InvalidFileName {
                    file: name.clone(),
                    reason,
                })?;
            if parsed.kind == parse::Kind::Down {
                if let Some(first) = downs
                    .insert(parsed.version, (name.clone(), sql))
                    .map(|(n, _)| n)
                {
                    return Err(MigrateError::DuplicateVersion {
                        version: parsed.version,
                        first,
                        second: name,
                    }
                    .into());
                }
            } else {
                migrations.push((parsed.kind, Migration::from_file(name, sql)?));
            }
        }
        let mut complete = Vec::with_capacity(migrations.len());
        for (kind, migration) in migrations {
            match downs.remove(&migration.version) {
                Some((file, _)) if kind == parse::Kind::Simple => {
                    return Err(MigrateError::InvalidFileName {
                        file,
                        reason: format!(
                            "its up migration must be named {}",
                            migration.file.replace(".sql", ".up.sql")
                        ),
                    }
                    .into());
                }
                Some((file, sql)) => {
                    let mut with_down = migration.with_down(sql);
                    if let Some(down) = with_down.down.as_mut() {
                        down.file = file.into();
                    }
                    complete.push(with_down);
                }
                None => complete.push(migration),
            }
        }
        if let Some((_, (file, _))) = downs.into_iter().next() {
            return Err(MigrateError::InvalidFileName {
                file,
                reason: "there is no .up.sql file with its version".to_owned(),
            }
            .into());
        }
        Self::new(complete)
    }
}
