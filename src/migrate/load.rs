//! Loading a migration set from a directory of sqlx-style files.

use std::path::Path;

use log::debug;

use super::{MigrateError, Result};
use super::{Migration, Migrator, parse};

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
        let mut files = Vec::with_capacity(entries.len());
        for (name, path) in entries {
            let bytes = std::fs::read(&path).map_err(|e| read_error(&path, e))?;
            let sql = String::from_utf8(bytes)
                .map_err(|_| MigrateError::NotUtf8 { path: path.clone() })?;
            let parsed =
                parse::parse_file_name(&name).map_err(|reason| MigrateError::InvalidFileName {
                    file: name.clone(),
                    reason,
                })?;
            files.push((name, parsed, sql));
        }
        let names: Vec<(&str, &parse::ParsedName)> = files
            .iter()
            .map(|(name, parsed, _)| (name.as_str(), parsed))
            .collect();
        let pairs = parse::pair(&names).map_err(|error| match error {
            parse::PairingError::Duplicate {
                version,
                first,
                second,
            } => MigrateError::DuplicateVersion {
                version,
                first,
                second,
            },
            parse::PairingError::Misnamed { file, reason } => {
                MigrateError::InvalidFileName { file, reason }
            }
        })?;
        let mut complete = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let (name, _, sql) = &files[pair.up];
            let migration = Migration::from_file(name.clone(), sql.clone())?;
            complete.push(match pair.down {
                Some(down) => {
                    let (file, _, sql) = &files[down];
                    let mut with_down = migration.with_down(sql.clone());
                    if let Some(down) = with_down.down.as_mut() {
                        down.file = file.clone().into();
                    }
                    with_down
                }
                None => migration,
            });
        }
        Self::new(complete)
    }
}
