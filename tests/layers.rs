//! The crate's layers, read from its source: `migrate` names nothing above it, and no module's
//! code imports a module that imports it back (ARCHITECTURE.md draws the same graph).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::TestResult;

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The top-level modules, and what the crate root re-exports from each.
fn module_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "error" | "Error" | "Result" | "ConstraintKind" => "error",
        "migrate" | "MigrateError" | "include_migrations" => "migrate",
        "model" => "model",
        "pool" | "pool_with" | "pool_with_migrators" => "pool",
        "repo" => "repo",
        "schema"
        | "create_database_if_missing"
        | "database_exists"
        | "ensure_schema"
        | "initialize_database" => "schema",
        _ => return None,
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> TestResult {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Every item of the crate that `text` names through `crate::`, grouped imports included.
fn named(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            out.extend(
                group[..end]
                    .split(',')
                    .map(|item| item.trim().split("::").next().unwrap_or("").to_owned()),
            );
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
        }
    }
    out
}

/// A file's code without comments and without its test module (a module's tests may use the
/// layers above it to build a database; its code may not).
fn code(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or("");
    body.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn nothing_under_migrate_names_the_layers_above_it() -> TestResult {
    let mut files = Vec::new();
    rust_files(&Path::new(SRC).join("migrate"), &mut files)?;
    assert!(files.len() > 10, "{files:?}");
    let mut found = Vec::new();
    for file in &files {
        // Comments and tests included: the layer could be its own crate.
        let text = std::fs::read_to_string(file)?;
        for name in named(&text) {
            if let Some(module) = module_of(&name).filter(|m| *m != "migrate") {
                found.push(format!("{} names crate::{name} ({module})", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
    Ok(())
}

#[test]
fn no_module_imports_one_that_imports_it_back() -> TestResult {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files)?;
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(SRC)?;
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or("");
        let Some(from) = module_of(first.trim_end_matches(".rs")) else {
            continue; // the crate root, the command, the test log
        };
        if relative.ends_with("tests.rs") {
            continue;
        }
        for name in named(&code(&std::fs::read_to_string(file)?)) {
            if let Some(to) = module_of(&name).filter(|to| *to != from) {
                edges.entry(from).or_default().insert(to);
            }
        }
    }
    // Every path from a module, followed to its end, must not come back to it.
    let mut cycles = Vec::new();
    for &start in edges.keys() {
        let mut stack: Vec<Vec<&str>> = vec![vec![start]];
        while let Some(path) = stack.pop() {
            let last = path[path.len() - 1];
            for &next in edges.get(last).into_iter().flatten() {
                if next == start {
                    cycles.push(format!("{} -> {start}", path.join(" -> ")));
                } else if !path.contains(&next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push(longer);
                }
            }
        }
    }
    assert!(cycles.is_empty(), "{cycles:#?}\n{edges:#?}");
    // The graph is the one drawn: migrate at the bottom, error on it, schema on repo.
    assert!(!edges.contains_key("migrate"), "{edges:#?}");
    assert!(edges["schema"].contains("repo"), "{edges:#?}");
    Ok(())
}

#[test]
fn the_source_readers_see_what_they_look_for() {
    assert_eq!(
        named(
            "use crate::{error::Result, migrate::X};\nlet a = crate::schema::open(); crate::Error::Io"
        ),
        ["error", "migrate", "schema", "Error"]
    );
    assert_eq!(
        code("a // crate::repo\n#[cfg(test)]\nmod tests { crate::schema }"),
        "a "
    );
}
