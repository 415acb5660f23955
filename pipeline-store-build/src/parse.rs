//! Parsing of migration file names and header directives.
//!
//! One set of rules decides what a migration file means, whether it is read at build time (by
//! [`Embed`](crate::Embed), in a build script) or at run time (by `pipeline-store`'s
//! `Migrator::from_dir` and `Migration::from_file`, which use this module). It uses nothing but
//! the standard library.

/// The directive that declares a checksum equivalent to the file's own, written in the file's
/// header comment as `-- pipeline-store: equivalent-checksum <96 hex digits>`.
pub const EQUIVALENT_CHECKSUM_DIRECTIVE: &str = "pipeline-store: equivalent-checksum";

/// Which half of a migration a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{version}_{description}.sql`: a migration that cannot be reverted.
    Simple,
    /// `{version}_{description}.up.sql`: the forward half of a reversible migration.
    Up,
    /// `{version}_{description}.down.sql`: the reverting half.
    Down,
}

/// The version and description carried by a migration file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    /// The number before the first `_`.
    pub version: i64,
    /// The text after the first `_`, `.sql` (and `.up` / `.down`) removed, every `_` turned into
    /// a space.
    pub description: String,
    /// Which half of a migration the file holds.
    pub kind: Kind,
}

/// Splits `{version}_{description}[.up|.down].sql` the way sqlx does, with stricter checks: the
/// version is all ASCII digits and fits in an `i64`, and the description is not empty.
///
/// The error is the reason, to be wrapped with the file name by the caller.
pub fn parse_file_name(name: &str) -> Result<ParsedName, String> {
    let Some(stem) = name.strip_suffix(".sql") else {
        return Err("the name does not end in `.sql`".to_owned());
    };
    let (stem, kind) = if let Some(stem) = stem.strip_suffix(".up") {
        (stem, Kind::Up)
    } else if let Some(stem) = stem.strip_suffix(".down") {
        (stem, Kind::Down)
    } else {
        (stem, Kind::Simple)
    };
    let Some((version, description)) = stem.split_once('_') else {
        return Err("there is no `_` between the version and the description".to_owned());
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the version `{version}` is not a number"));
    }
    let version: i64 = version
        .parse()
        .map_err(|_| format!("the version `{version}` does not fit in a 64-bit integer"))?;
    if description.trim_matches('_').trim().is_empty() {
        return Err("the description is empty".to_owned());
    }
    Ok(ParsedName {
        version,
        description: description.replace('_', " "),
        kind,
    })
}

/// The files of one migration: its forward file and, for a reversible one, its down file, as
/// indexes into the list given to [`pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// The version.
    pub version: i64,
    /// The `.sql` or `.up.sql` file.
    pub up: usize,
    /// The `.down.sql` file, if any.
    pub down: Option<usize>,
}

/// Why a set of migration files does not pair up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingError {
    /// Two forward files, or two down files, share a version.
    Duplicate {
        /// The version.
        version: i64,
        /// The first file with it.
        first: String,
        /// The second file with it.
        second: String,
    },
    /// A file is named wrongly for the set: a `.down.sql` beside a plain `.sql` (which must then
    /// be `.up.sql`), or a `.down.sql` with no forward file.
    Misnamed {
        /// The file.
        file: String,
        /// What is wrong, and what to name it.
        reason: String,
    },
}

/// Pairs the `.up.sql` and `.down.sql` files of a migration set, by version: the rule used both
/// when `build.rs` embeds `migrations/` and when `Migrator::from_dir` reads a directory.
///
/// `files` are `(file name, parsed name)`; the pairs come back in version order.
///
/// # Errors
///
/// The first [`PairingError`] found, in file order.
pub fn pair(files: &[(&str, &ParsedName)]) -> Result<Vec<Pair>, PairingError> {
    use std::collections::BTreeMap;

    let mut forward: BTreeMap<i64, usize> = BTreeMap::new();
    let mut backward: BTreeMap<i64, usize> = BTreeMap::new();
    for (index, (name, parsed)) in files.iter().enumerate() {
        let side = if parsed.kind == Kind::Down {
            &mut backward
        } else {
            &mut forward
        };
        if let Some(first) = side.insert(parsed.version, index) {
            return Err(PairingError::Duplicate {
                version: parsed.version,
                first: files[first].0.to_owned(),
                second: (*name).to_owned(),
            });
        }
    }
    let mut pairs = Vec::with_capacity(forward.len());
    for (&version, &up) in &forward {
        let down = backward.remove(&version);
        if let Some(down) = down
            && files[up].1.kind == Kind::Simple
        {
            return Err(PairingError::Misnamed {
                file: files[down].0.to_owned(),
                reason: format!(
                    "its up migration must be named {}",
                    files[up].0.replace(".sql", ".up.sql")
                ),
            });
        }
        pairs.push(Pair { version, up, down });
    }
    if let Some((_, &down)) = backward.iter().next() {
        return Err(PairingError::Misnamed {
            file: files[down].0.to_owned(),
            reason: "there is no .up.sql file with its version".to_owned(),
        });
    }
    Ok(pairs)
}

/// What a migration's header asks of the runner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `-- no-transaction` as the first line (sqlx's syntax; a BOM or blank space before it is
    /// tolerated): run outside a transaction.
    pub no_transaction: bool,
    /// `-- foreign-keys: off` in the header: switch foreign keys off around the migration and
    /// run `PRAGMA foreign_key_check` before committing.
    pub foreign_keys_off: bool,
    /// `-- pipeline-store: equivalent-checksum <hex>` lines.
    pub equivalent_checksums: Vec<[u8; 48]>,
}

/// Reads a migration's header: the leading run of blank lines and `--` comment lines.
///
/// The error names the 1-based line and the reason.
pub fn header(sql: &str) -> Result<Header, String> {
    Ok(Header {
        no_transaction: no_transaction(sql),
        foreign_keys_off: foreign_keys_off(sql),
        equivalent_checksums: equivalent_checksums(sql)?,
    })
}

/// The UTF-8 byte order mark some editors write at the start of a file.
pub const BOM: char = '\u{feff}';

/// The file's text without a leading byte order mark: the one rule for a BOM, so every reader
/// of a header, a line or a statement sees the same first line.
#[must_use]
pub fn without_bom(sql: &str) -> &str {
    sql.strip_prefix(BOM).unwrap_or(sql)
}

/// `-- no-transaction` as the first line, after an optional BOM and blank space.
pub fn no_transaction(sql: &str) -> bool {
    without_bom(sql)
        .trim_start()
        .starts_with("-- no-transaction")
}

/// `-- foreign-keys: off` among the header's comments, or, in a script that runs in a
/// transaction, a `PRAGMA foreign_keys = OFF` statement.
pub fn foreign_keys_off(sql: &str) -> bool {
    header_comments(sql).any(|(_, c)| c == "foreign-keys: off")
        // A transactional script that says `PRAGMA foreign_keys = OFF` means the same; inside
        // the transaction SQLite would ignore it.
        || (!no_transaction(sql) && crate::sql::switches_foreign_keys_off(sql))
}

/// The header's comments (the leading run of blank and `--` lines, after an optional BOM),
/// trimmed of `--` and blank space, with their 1-based line numbers: where every directive is
/// read from.
pub fn header_comments(sql: &str) -> impl Iterator<Item = (usize, &str)> {
    without_bom(sql)
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .map_while(|(i, line)| line.strip_prefix("--").map(|c| (i, c.trim())))
}

/// Reads the `-- pipeline-store: equivalent-checksum <hex>` directives from the header of a
/// migration: the leading run of blank lines and `--` comment lines, an optional UTF-8 byte order
/// mark first. Directives further down are not directives (they could be inside a string).
///
/// The error names the 1-based line and the reason.
pub fn equivalent_checksums(sql: &str) -> Result<Vec<[u8; 48]>, String> {
    header_comments(sql)
        .filter_map(|(line, comment)| {
            comment
                .strip_prefix(EQUIVALENT_CHECKSUM_DIRECTIVE)
                .map(|value| (line, value.trim()))
        })
        .map(|(line, value)| {
            decode_hex_48(value).ok_or_else(|| {
                format!(
                    "line {line}: `{EQUIVALENT_CHECKSUM_DIRECTIVE}` takes 96 hexadecimal digits (a SHA-384), found `{value}`"
                )
            })
        })
        .collect()
}

/// Decodes exactly 96 hexadecimal digits into 48 bytes.
pub fn decode_hex_48(text: &str) -> Option<[u8; 48]> {
    let bytes = text.as_bytes();
    if bytes.len() != 96 {
        return None;
    }
    let mut out = [0_u8; 48];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *slot = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_reader_sees_the_same_lines_with_or_without_a_bom() {
        let plain = format!(
            "-- title\n\n-- foreign-keys: off\n-- {}\nCREATE TABLE t (x);\n",
            format_args!("{} {}", crate::sql::ALLOW_DIRECTIVE, crate::sql::RULES[3])
        );
        let marked = format!("{BOM}{plain}");
        assert_eq!(without_bom(&marked), plain);
        assert_eq!(without_bom(&plain), plain);
        let lines: Vec<_> = header_comments(&plain).collect();
        assert_eq!(lines, header_comments(&marked).collect::<Vec<_>>());
        assert_eq!(lines[1], (3, "foreign-keys: off"));
        assert!(foreign_keys_off(&marked) && foreign_keys_off(&plain));
        assert_eq!(crate::sql::allowed(&marked), crate::sql::allowed(&plain));
        assert_eq!(crate::sql::allowed(&marked).0, vec![crate::sql::RULES[3]]);
        assert!(no_transaction(&format!("{BOM}-- no-transaction\nVACUUM;")));
    }

    #[test]
    fn splits_like_sqlx() {
        let parsed = parse_file_name("20250101000000_initial_schema.sql").unwrap();
        assert_eq!(parsed.version, 20_250_101_000_000);
        assert_eq!(parsed.description, "initial schema");
        let parsed = parse_file_name("1_add__double_underscore.sql").unwrap();
        assert_eq!(parsed.description, "add  double underscore");
    }

    #[test]
    fn refuses_malformed_names() {
        for name in [
            "initial.sql",
            "_x.sql",
            "12a_x.sql",
            "-1_x.sql",
            "99999999999999999999_x.sql",
            "1_.sql",
            "1___.sql",
            "1_x.txt",
            "1_.up.sql",
        ] {
            assert!(parse_file_name(name).is_err(), "{name} was accepted");
        }
    }

    #[test]
    fn reversible_halves_are_told_apart() {
        let up = parse_file_name("7_add_owner.up.sql").unwrap();
        let down = parse_file_name("7_add_owner.down.sql").unwrap();
        assert_eq!((up.kind, down.kind), (Kind::Up, Kind::Down));
        assert_eq!(up.description, "add owner");
        assert_eq!(down.description, "add owner");
        assert_eq!(
            parse_file_name("7_add_owner.sql").unwrap().kind,
            Kind::Simple
        );
    }

    #[test]
    fn pairs_up_and_down_files_by_version() {
        let names = [
            "1_a.sql",
            "2_b.up.sql",
            "2_b.down.sql",
            "3_c.down.sql",
            "3_c.up.sql",
        ];
        let parsed: Vec<ParsedName> = names.iter().map(|n| parse_file_name(n).unwrap()).collect();
        let files: Vec<(&str, &ParsedName)> = names.iter().copied().zip(&parsed).collect();
        let pairs = pair(&files).unwrap();
        assert_eq!(
            pairs,
            [
                Pair {
                    version: 1,
                    up: 0,
                    down: None
                },
                Pair {
                    version: 2,
                    up: 1,
                    down: Some(2)
                },
                Pair {
                    version: 3,
                    up: 4,
                    down: Some(3)
                },
            ]
        );
        for (names, expected) in [
            (&["1_a.sql", "1_b.sql"][..], "Duplicate"),
            (&["1_a.up.sql", "1_a.sql"][..], "Duplicate"),
            (
                &["1_a.down.sql", "1_b.down.sql", "1_a.up.sql"][..],
                "Duplicate",
            ),
            (
                &["1_a.sql", "1_a.down.sql"][..],
                "up migration must be named 1_a.up.sql",
            ),
            (&["2_b.down.sql"][..], "no .up.sql file"),
        ] {
            let parsed: Vec<ParsedName> =
                names.iter().map(|n| parse_file_name(n).unwrap()).collect();
            let files: Vec<(&str, &ParsedName)> = names.iter().copied().zip(&parsed).collect();
            let error = format!("{:?}", pair(&files).unwrap_err());
            assert!(error.contains(expected), "{names:?}: {error}");
        }
    }

    #[test]
    fn header_directives() {
        let h = header("\u{feff}  \n-- no-transaction\nVACUUM;").unwrap();
        assert!(h.no_transaction && !h.foreign_keys_off);
        let h = header(
            "-- rebuild pipelines\n--   foreign-keys: off\nCREATE TABLE t(x);\n-- no-transaction",
        )
        .unwrap();
        assert!(!h.no_transaction && h.foreign_keys_off);
        let h = header("CREATE TABLE t(x);\n-- foreign-keys: off").unwrap();
        assert!(!h.foreign_keys_off, "only in the header");
    }

    #[test]
    fn reads_directives_only_in_the_header() {
        let hex = "ab".repeat(48);
        let sql = format!(
            "\u{feff}-- title\n\n--  {EQUIVALENT_CHECKSUM_DIRECTIVE} {hex}\r\nCREATE TABLE t(x);\n-- {EQUIVALENT_CHECKSUM_DIRECTIVE} {}\n",
            "cd".repeat(48)
        );
        assert_eq!(equivalent_checksums(&sql).unwrap(), vec![[0xab; 48]]);
    }

    #[test]
    fn refuses_bad_directive_values() {
        let sql = format!("-- {EQUIVALENT_CHECKSUM_DIRECTIVE} abc\n");
        let error = equivalent_checksums(&sql).unwrap_err();
        assert!(error.starts_with("line 1:"), "{error}");
        assert!(decode_hex_48(&"zz".repeat(48)).is_none());
    }
}
