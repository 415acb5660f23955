//! Database URLs: `sqlite://path`, `sqlite:path`, `sqlite::memory:`, `:memory:`, plain paths,
//! and the `mode` and `cache` query parameters (see the module documentation of `schema`).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Location {
    Memory,
    File(PathBuf),
}

/// The `mode` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `mode=ro`
    Ro,
    /// `mode=rw`
    Rw,
}

/// A parsed database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DatabaseUrl {
    pub(super) location: Location,
    pub(super) mode: Option<Mode>,
}

impl DatabaseUrl {
    pub(super) fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if url.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if url == ":memory:" {
            return Ok(Self {
                location: Location::Memory,
                mode: None,
            });
        }
        let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            if let Some(scheme) = other_scheme(url) {
                return Err(invalid(&format!(
                    "`{scheme}://` is not a SQLite URL; give a file path, `sqlite://path` or \
                     `sqlite::memory:`"
                )));
            }
            // A plain path, taken literally.
            return Ok(Self {
                location: Location::File(PathBuf::from(url)),
                mode: None,
            });
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.contains('#') || query.contains('#') {
            return Err(invalid(
                "`#` must be written %23 in a sqlite: URL (or give the path without `sqlite:`)",
            ));
        }
        let mut mode = None;
        let mut memory = path == ":memory:";
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (key, value) {
                ("mode", "ro") => mode = Some(Mode::Ro),
                ("mode", "rw") => mode = Some(Mode::Rw),
                // Read-write, created when missing: what an open does anyway.
                ("mode", "rwc") => mode = None,
                ("mode", "memory") => memory = true,
                ("mode", other) => {
                    return Err(invalid(&format!(
                        "unknown mode `{other}` (expected ro, rw, rwc or memory)"
                    )));
                }
                ("cache", "shared" | "private") => {}
                ("cache", other) => {
                    return Err(invalid(&format!(
                        "unknown cache `{other}` (expected shared or private)"
                    )));
                }
                (other, _) => {
                    return Err(invalid(&format!(
                        "unknown query parameter `{other}` (expected mode or cache)"
                    )));
                }
            }
        }
        if memory {
            return Ok(Self {
                location: Location::Memory,
                mode,
            });
        }
        if path.is_empty() {
            return Err(invalid("it names no file"));
        }
        let decoded = percent_decode(path).ok_or_else(|| {
            invalid("the path has a `%` that is not followed by two hexadecimal digits")
        })?;
        Ok(Self {
            location: Location::File(
                path_from_bytes(decoded)
                    .map_err(|()| invalid("the decoded path is not valid UTF-8"))?,
            ),
            mode,
        })
    }
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn path_from_bytes(bytes: Vec<u8>) -> std::result::Result<PathBuf, ()> {
    String::from_utf8(bytes).map(PathBuf::from).map_err(|_| ())
}

/// The scheme of a URL for another database (`postgres://`, `mysql://`, `https://`): two or
/// more letters, digits, `+`, `-` or `.` before `://`, starting with a letter. A single letter
/// is a Windows drive, and SQLite's own `file:` URIs are left to SQLite.
fn other_scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    let well_formed = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (well_formed && !scheme.eq_ignore_ascii_case("file")).then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_databases_url_is_refused_and_paths_are_not() {
        for url in [
            "postgres://u@h/db",
            "mysql://h/db",
            "postgresql+psycopg://h",
            "https://x/a.db",
        ] {
            let error = DatabaseUrl::parse(url).unwrap_err();
            assert!(
                matches!(&error, Error::InvalidUrl { url: u, reason } if u == url && reason.contains("is not a SQLite URL")),
                "{url}: {error:?}"
            );
        }
        for path in [
            "C://data/a.db",
            "dir/a://b.db",
            "./x://y",
            "file://a.db",
            "a.db",
        ] {
            assert!(
                matches!(
                    DatabaseUrl::parse(path),
                    Ok(DatabaseUrl {
                        location: Location::File(_),
                        ..
                    })
                ),
                "{path}"
            );
        }
    }

    fn file(path: &str, mode: Option<Mode>) -> DatabaseUrl {
        DatabaseUrl {
            location: Location::File(PathBuf::from(path)),
            mode,
        }
    }

    #[test]
    fn parses_every_url_form() {
        let memory = DatabaseUrl {
            location: Location::Memory,
            mode: None,
        };
        assert_eq!(DatabaseUrl::parse(":memory:").unwrap(), memory);
        assert_eq!(DatabaseUrl::parse("sqlite::memory:").unwrap(), memory);
        assert_eq!(DatabaseUrl::parse("sqlite://:memory:").unwrap(), memory);
        assert_eq!(
            DatabaseUrl::parse("sqlite://a.db").unwrap(),
            file("a.db", None)
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:a.db").unwrap(),
            file("a.db", None)
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/a.db").unwrap(),
            file("/tmp/a.db", None)
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://a.db?mode=ro").unwrap(),
            file("a.db", Some(Mode::Ro))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://a.db?mode=rw&cache=shared").unwrap(),
            file("a.db", Some(Mode::Rw))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://a.db?mode=rwc").unwrap(),
            file("a.db", None)
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://name?mode=memory")
                .unwrap()
                .location,
            Location::Memory
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://a%3Fb%25.db").unwrap(),
            file("a?b%.db", None)
        );
        assert_eq!(
            DatabaseUrl::parse("dir/a?b#c%.db").unwrap(),
            file("dir/a?b#c%.db", None)
        );
    }

    #[test]
    fn refuses_bad_urls() {
        for url in [
            "",
            "   ",
            "sqlite://",
            "sqlite:",
            "sqlite://a.db?mode=bogus",
            "sqlite://a.db?cache=nope",
            "sqlite://a.db?journal=wal",
            "sqlite://a#b.db",
            "sqlite://a%zz.db",
            "sqlite://a%2",
            "sqlite://a%ff.db",
        ] {
            let error = DatabaseUrl::parse(url).unwrap_err();
            assert!(matches!(error, Error::InvalidUrl { .. }), "{url}: {error}");
        }
    }
}
