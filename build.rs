//! Embeds `migrations/*.sql` into the library.
//!
//! For every migration file this writes one entry into `$OUT_DIR/embedded_migrations.rs`: the
//! version and description parsed from the file name, the SQL through `include_str!`, the
//! SHA-384 checksum of the file's raw bytes computed here, and any declared equivalent checksums.
//! Nothing is hashed at run time. Cargo reruns this script whenever `migrations/` changes, so
//! adding a file and rebuilding is all it takes to ship a new migration.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

use sha2::{Digest, Sha384};

#[allow(dead_code)]
#[path = "src/migrate/parse.rs"]
mod parse;

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

    let mut out = String::from("&[\n");
    let mut seen = std::collections::BTreeMap::new();
    for (name, path) in &files {
        let parsed = parse::parse_file_name(name)
            .unwrap_or_else(|reason| panic!("migration file {}: {reason}", path.display()));
        if let Some(first) = seen.insert(parsed.version, name.clone()) {
            panic!(
                "migration files {first} and {name} share version {}",
                parsed.version
            );
        }
        let bytes =
            fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let sql = String::from_utf8(bytes)
            .unwrap_or_else(|_| panic!("migration file {} is not valid UTF-8", path.display()));
        let equivalents = parse::equivalent_checksums(&sql)
            .unwrap_or_else(|reason| panic!("migration file {}: {reason}", path.display()));
        let checksum: [u8; 48] = Sha384::digest(sql.as_bytes()).into();
        let absolute = path.canonicalize().expect("the file was just read");
        writeln!(
            out,
            "    crate::migrate::Migration::embedded({}, {:?}, {:?}, include_str!({:?}), {:?}, &{:?}),",
            parsed.version,
            parsed.description,
            name,
            absolute.display().to_string(),
            checksum,
            equivalents,
        )
        .expect("writing to a String cannot fail");
    }
    out.push_str("]\n");

    let target =
        Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_migrations.rs");
    fs::write(&target, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
}
