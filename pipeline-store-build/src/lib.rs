//! Embeds a directory of sqlx-style SQL migrations into a program at build time, for
//! [`pipeline-store`](https://docs.rs/pipeline-store)'s `Migrator`: the SQL through
//! `include_str!`, the SHA-384 checksum of each file's bytes computed here (nothing is hashed at
//! run time), the header directives read, up/down halves paired, and the text lint rules
//! applied, so a migration with a finding its header does not allow fails the build naming its
//! file and line. Cargo reruns the build script whenever a file in the directory is added,
//! changed or removed.
//!
//! This crate does not depend on SQLite: a host adds it to `[build-dependencies]` without
//! building SQLite a second time.
//!
//! ```no_run
//! // build.rs: `fn main` of the build script
//! pipeline_store_build::Embed::new("migrations").run();
//! ```
//!
//! ```ignore
//! // src/main.rs
//! let migrator = pipeline_store::include_migrations!()?.history_table("_myapp_migrations")?;
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

use sha2::{Digest, Sha384};

// The rules themselves, for `pipeline-store` (their callers decide what to do with each answer).
#[doc(hidden)]
#[allow(clippy::must_use_candidate)]
pub mod parse;
#[doc(hidden)]
#[allow(clippy::must_use_candidate)]
pub mod sql;

/// The file `pipeline_store::include_migrations!()` includes from `$OUT_DIR`.
pub const DEFAULT_OUTPUT: &str = "pipeline_store_migrations.rs";

/// What to embed and where: a migrations directory, written as Rust into `$OUT_DIR`.
#[derive(Debug, Clone)]
pub struct Embed {
    dir: PathBuf,
    output: String,
    crate_path: String,
}

/// One file of a migration: the whole of it, or its up or down half.
struct Half {
    name: String,
    path: PathBuf,
    sql: String,
    header: parse::Header,
}

impl Embed {
    /// Embeds `dir` (relative to the package's `Cargo.toml`, as build scripts see paths).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            output: DEFAULT_OUTPUT.to_owned(),
            crate_path: "::pipeline_store".to_owned(),
        }
    }

    /// The name of the file written into `$OUT_DIR` (default [`DEFAULT_OUTPUT`], which
    /// `include_migrations!()` reads; give another to embed a second directory).
    #[must_use]
    pub fn output(mut self, file: impl Into<String>) -> Self {
        self.output = file.into();
        self
    }

    /// The path the generated code names `pipeline-store` by (default `::pipeline_store`; the
    /// crate itself uses `crate`).
    #[must_use]
    pub fn crate_path(mut self, path: impl Into<String>) -> Self {
        self.crate_path = path.into();
        self
    }

    /// Embeds the directory, for a build script: prints Cargo's `rerun-if-changed` lines and
    /// writes `$OUT_DIR/{output}`.
    ///
    /// # Panics
    ///
    /// With a message naming the file (and line, for a lint finding) when the directory cannot
    /// be read, a file name or header is not a migration's, a file is not UTF-8, two files share
    /// a version, or a lint finding is not allowed: a build script reports an error by
    /// panicking, and Cargo shows the message.
    pub fn run(&self) {
        let manifest = env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
        let dir = Path::new(&manifest).join(&self.dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let code = self
            .generate(&dir, |path| {
                // Every file, so an edit to any of them (not only the listing) reruns the script.
                println!("cargo:rerun-if-changed={}", path.display());
            })
            .unwrap_or_else(|error| panic!("{error}"));
        let out = env::var("OUT_DIR").expect("a build script runs with OUT_DIR set");
        let target = Path::new(&out).join(&self.output);
        fs::write(&target, code)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
    }

    /// The Rust expression (a `&[Embedded]` slice) for the migrations in `dir`, calling `seen`
    /// with every file found; or why they cannot be embedded, naming the file.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run) panics.
    pub fn generate(&self, dir: &Path, mut seen: impl FnMut(&Path)) -> Result<String, String> {
        let entries =
            fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            let path = entry.path();
            seen(&path);
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_file() && name.ends_with(".sql") {
                files.push((name, path));
            }
        }
        files.sort();
        // Read and check every file, then pair the halves of reversible migrations by version
        // with the rule the runtime loader uses.
        let mut halves = Vec::with_capacity(files.len());
        for (name, path) in &files {
            let parsed = parse::parse_file_name(name)
                .map_err(|reason| format!("migration file {}: {reason}", path.display()))?;
            let bytes =
                fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let sql = String::from_utf8(bytes)
                .map_err(|_| format!("migration file {} is not valid UTF-8", path.display()))?;
            let header = parse::header(&sql)
                .map_err(|reason| format!("migration file {}: {reason}", path.display()))?;
            // The text lint rules: a finding the file does not allow stops the build.
            let (allowed, _) = sql::allowed(&sql);
            if let Some(finding) = sql::text_findings(&sql, !header.no_transaction)
                .into_iter()
                .find(|f| sql::refuses(f.rule) && !allowed.contains(&f.rule))
            {
                return Err(format!(
                    "{}:{}: [{}] {}: {}; {}",
                    path.display(),
                    finding.line,
                    finding.rule,
                    finding.message,
                    finding.why,
                    finding.fix
                ));
            }
            halves.push((
                parsed,
                Half {
                    name: name.clone(),
                    path: path.clone(),
                    sql,
                    header,
                },
            ));
        }
        let names: Vec<(&str, &parse::ParsedName)> = halves
            .iter()
            .map(|(parsed, half)| (half.name.as_str(), parsed))
            .collect();
        let pairs = parse::pair(&names).map_err(|error| match error {
            parse::PairingError::Duplicate {
                version,
                first,
                second,
            } => format!("migration files {first} and {second} share version {version}"),
            parse::PairingError::Misnamed { file, reason } => {
                format!("migration file {file}: {reason}")
            }
        })?;
        let krate = &self.crate_path;
        let mut out = String::from("&[\n");
        for pair in pairs {
            let (parsed, up) = &halves[pair.up];
            let checksum: [u8; 48] = Sha384::digest(up.sql.as_bytes()).into();
            let down = match pair.down {
                None => "None".to_owned(),
                Some(down) => {
                    let (_, down) = &halves[down];
                    format!(
                        "Some({krate}::migrate::EmbeddedDown {{ file: {:?}, sql: include_str!({:?}), \
                         no_transaction: {}, foreign_keys_off: {} }})",
                        down.name,
                        included(&down.path)?,
                        down.header.no_transaction,
                        down.header.foreign_keys_off
                    )
                }
            };
            let _ = writeln!(
                out,
                "    {krate}::migrate::Embedded {{ version: {}, description: {:?}, file: {:?}, \
                 sql: include_str!({:?}), checksum: {:?}, equivalent_checksums: &{:?}, \
                 no_transaction: {}, foreign_keys_off: {}, down: {down} }},",
                pair.version,
                parsed.description,
                up.name,
                included(&up.path)?,
                checksum,
                up.header.equivalent_checksums,
                up.header.no_transaction,
                up.header.foreign_keys_off,
            );
        }
        out.push_str("]\n");
        Ok(out)
    }
}

/// The absolute path `include_str!` gets for a migration file.
fn included(path: &Path) -> Result<String, String> {
    path.canonicalize()
        .map(|p| p.display().to_string())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(files: &[(&str, &str)]) -> Result<String, String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, sql) in files {
            fs::write(dir.path().join(name), sql).unwrap();
        }
        let mut seen = Vec::new();
        let code = Embed::new(dir.path()).generate(dir.path(), |p| seen.push(p.to_path_buf()));
        assert_eq!(
            seen.len(),
            files.len(),
            "every file is registered for reruns"
        );
        code
    }

    #[test]
    fn every_file_is_embedded_with_its_checksum_and_pairs_are_paired() {
        let code = generate(&[
            (
                "20260101000000_create_jobs.sql",
                "CREATE TABLE jobs (id INTEGER PRIMARY KEY);\n",
            ),
            (
                "20260102000000_index.up.sql",
                "CREATE INDEX i ON jobs(id);\n",
            ),
            ("20260102000000_index.down.sql", "DROP INDEX i;\n"),
            ("notes.txt", "not a migration"),
        ])
        .unwrap();
        assert_eq!(code.matches("migrate::Embedded {").count(), 2, "{code}");
        assert!(code.contains("description: \"create jobs\""), "{code}");
        let sum: [u8; 48] = Sha384::digest(b"CREATE TABLE jobs (id INTEGER PRIMARY KEY);\n").into();
        assert!(code.contains(&format!("checksum: {sum:?}")), "{code}");
        assert!(
            code.contains("::pipeline_store::migrate::EmbeddedDown"),
            "{code}"
        );
    }

    #[test]
    fn a_lint_finding_names_the_file_and_line_and_a_bad_name_the_file() {
        let error = generate(&[(
            "20260101000000_tx.sql",
            "CREATE TABLE t (x);\nBEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;\n",
        )])
        .unwrap_err();
        assert!(error.contains("20260101000000_tx.sql:2:"), "{error}");
        let error = generate(&[("create.sql", "CREATE TABLE t (x);")]).unwrap_err();
        assert!(error.contains("create.sql"), "{error}");
        let error = generate(&[
            ("1_a.sql", "CREATE TABLE a (x);"),
            ("1_b.sql", "CREATE TABLE b (x);"),
        ])
        .unwrap_err();
        assert!(error.contains("share version 1"), "{error}");
    }
}
