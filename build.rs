//! Embeds `migrations/*.sql` into the library.
//!
//! For every migration file this writes one entry into `$OUT_DIR/embedded_migrations.rs`: the
//! version and description parsed from the file name, the SQL through `include_str!`, the
//! SHA-384 checksum of the file's raw bytes computed here, and any declared equivalent checksums.
//! Nothing is hashed at run time. A migration with a lint finding on its text (see
//! `src/migrate/sql.rs`) that its header does not allow fails the build, naming file and line. Cargo reruns this script whenever `migrations/` changes, so
//! adding a file and rebuilding is all it takes to ship a new migration.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

use sha2::{Digest, Sha384};

#[path = "src/migrate/parse.rs"]
mod parse;

#[path = "src/migrate/sql.rs"]
#[expect(
    dead_code,
    reason = "build.rs uses the text rules; the crate uses the rest"
)]
mod sql;

/// One file of a migration: the whole of it, or its up or down half.
struct Half {
    name: String,
    path: std::path::PathBuf,
    sql: String,
    header: parse::Header,
}

/// The absolute path `include_str!` gets for a migration file.
fn included(path: &Path) -> String {
    path.canonicalize()
        .expect("the file was just read")
        .display()
        .to_string()
}

fn main() {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("migrations");
    println!("cargo:rerun-if-changed=migrations");

    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
    {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        let path = entry.path();
        // Register every file, so an edit to any of them (not just the directory listing) reruns us.
        println!("cargo:rerun-if-changed={}", path.display());
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_file() && name.ends_with(".sql") {
            files.push((name, path));
        }
    }
    files.sort();

    // Read and check every file, then pair the halves of reversible migrations by version with
    // the rule the runtime loader uses.
    let mut halves = Vec::with_capacity(files.len());
    for (name, path) in &files {
        let parsed = parse::parse_file_name(name)
            .unwrap_or_else(|reason| panic!("migration file {}: {reason}", path.display()));
        let bytes =
            fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let sql = String::from_utf8(bytes)
            .unwrap_or_else(|_| panic!("migration file {} is not valid UTF-8", path.display()));
        let header = parse::header(&sql)
            .unwrap_or_else(|reason| panic!("migration file {}: {reason}", path.display()));
        // The text lint rules: a finding the file does not allow stops the build.
        let (allowed, _) = sql::allowed(&sql);
        if let Some(finding) = sql::text_findings(&sql, !header.no_transaction)
            .into_iter()
            .find(|f| !allowed.contains(&f.rule))
        {
            panic!(
                "{}:{}: [{}] {}: {}; {}",
                path.display(),
                finding.line,
                finding.rule,
                finding.message,
                finding.why,
                finding.fix
            );
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
    let pairs = parse::pair(&names).unwrap_or_else(|error| match error {
        parse::PairingError::Duplicate {
            version,
            first,
            second,
        } => panic!("migration files {first} and {second} share version {version}"),
        parse::PairingError::Misnamed { file, reason } => panic!("migration file {file}: {reason}"),
    });

    let mut out = String::from("&[\n");
    for pair in pairs {
        let (parsed, up) = &halves[pair.up];
        let checksum: [u8; 48] = Sha384::digest(up.sql.as_bytes()).into();
        let down = pair.down.map_or_else(
            || "None".to_owned(),
            |down| {
                let (_, down) = &halves[down];
                format!(
                    "Some(crate::migrate::EmbeddedDown {{ file: {:?}, sql: include_str!({:?}), \
                     no_transaction: {}, foreign_keys_off: {} }})",
                    down.name,
                    included(&down.path),
                    down.header.no_transaction,
                    down.header.foreign_keys_off
                )
            },
        );
        writeln!(
            out,
            "    crate::migrate::Embedded {{ version: {}, description: {:?}, file: {:?}, \
             sql: include_str!({:?}), checksum: {:?}, equivalent_checksums: &{:?}, \
             no_transaction: {}, foreign_keys_off: {}, down: {down} }},",
            pair.version,
            parsed.description,
            up.name,
            included(&up.path),
            checksum,
            up.header.equivalent_checksums,
            up.header.no_transaction,
            up.header.foreign_keys_off,
        )
        .expect("writing to a String cannot fail");
    }
    out.push_str("]\n");

    let target =
        Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_migrations.rs");
    fs::write(&target, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
}
