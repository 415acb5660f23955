//! `Migration`: one migration as data (version, description, file, SQL, checksum, directives,
//! and the down script of a reversible one).

use std::borrow::Cow;

use super::{MigrateError, Result};
use super::{checksum, parse};

/// One migration: a version, a description and the SQL that moves the schema forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub(super) version: i64,
    pub(super) description: Cow<'static, str>,
    pub(super) file: Cow<'static, str>,
    pub(super) sql: Cow<'static, str>,
    pub(super) checksum: [u8; 48],
    pub(super) equivalent_checksums: Cow<'static, [[u8; 48]]>,
    pub(super) no_transaction: bool,
    pub(super) foreign_keys_off: bool,
    pub(super) down: Option<Down>,
    /// Lint rules its migrator allows for it without an edit of the file
    /// ([`Migrator::allow`](super::Migrator::allow)); not part of the checksum.
    pub(super) allowed: Vec<&'static str>,
}

/// A migration as a build script writes it (`pipeline-store-build`): every field computed at
/// build time. Made by generated code only; see `include_migrations!`.
#[doc(hidden)]
#[derive(Debug)]
pub struct Embedded {
    pub version: i64,
    pub description: &'static str,
    pub file: &'static str,
    pub sql: &'static str,
    pub checksum: [u8; 48],
    pub equivalent_checksums: &'static [[u8; 48]],
    pub no_transaction: bool,
    pub foreign_keys_off: bool,
    pub down: Option<EmbeddedDown>,
}

/// The down file of an [`Embedded`] migration.
#[doc(hidden)]
#[derive(Debug)]
pub struct EmbeddedDown {
    pub file: &'static str,
    pub sql: &'static str,
    pub no_transaction: bool,
    pub foreign_keys_off: bool,
}

/// The reverting half of a reversible migration (`.down.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Down {
    pub(super) file: Cow<'static, str>,
    pub(super) sql: Cow<'static, str>,
    pub(super) no_transaction: bool,
    pub(super) foreign_keys_off: bool,
}

/// SQL to run and how: what the runner needs of either half of a migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Script<'a> {
    pub file: &'a str,
    pub sql: &'a str,
    pub no_transaction: bool,
    pub foreign_keys_off: bool,
    /// Rules allowed by the migrator, beside those the file's header allows.
    pub allowed: &'a [&'static str],
}

impl Script<'_> {
    /// Whether `rule` is allowed for this script: by its file's header or by its migrator.
    pub(crate) fn allows(&self, rule: &str) -> bool {
        self.allowed.contains(&rule) || super::sql::allowed(self.sql).0.contains(&rule)
    }
}

impl Migration {
    /// A migration from its parts; the checksum is the SHA-384 of `sql`.
    ///
    /// Its [`file`](Self::file) is the name it would have on disk,
    /// `{version}_{description with '_' for ' '}.sql`.
    ///
    /// ```
    /// use pipeline_store::migrate::Migration;
    ///
    /// let m = Migration::new(20250301000000, "add owner", "ALTER TABLE pipelines ADD COLUMN owner TEXT;");
    /// assert_eq!(m.file(), "20250301000000_add_owner.sql");
    /// ```
    #[must_use]
    pub fn new(
        version: i64,
        description: impl Into<Cow<'static, str>>,
        sql: impl Into<Cow<'static, str>>,
    ) -> Self {
        let description = description.into();
        let sql = sql.into();
        Self {
            version,
            file: Cow::Owned(format!("{version}_{}.sql", description.replace(' ', "_"))),
            checksum: checksum(sql.as_bytes()),
            no_transaction: parse::no_transaction(&sql),
            foreign_keys_off: parse::foreign_keys_off(&sql),
            description,
            sql,
            equivalent_checksums: Cow::Borrowed(&[]),
            down: None,
            allowed: Vec::new(),
        }
    }

    /// This migration with a down script that reverts it (what a `.down.sql` file holds),
    /// which makes it reversible ([`Migrator::revert_to`](super::Migrator::revert_to)). Its directives are read as for the
    /// up script. The checksum stays the up script's, as sqlx computes it.
    #[must_use]
    pub fn with_down(mut self, sql: impl Into<Cow<'static, str>>) -> Self {
        let sql = sql.into();
        let stem = self.file.strip_suffix(".sql").unwrap_or(&self.file);
        let stem = stem.strip_suffix(".up").unwrap_or(stem);
        self.down = Some(Down {
            file: Cow::Owned(format!("{stem}.down.sql")),
            no_transaction: parse::no_transaction(&sql),
            foreign_keys_off: parse::foreign_keys_off(&sql),
            sql,
        });
        self
    }

    /// A migration from a file name (`{version}_{description}.sql`, or `.up.sql`) and the file's
    /// contents, reading the directives of its header: `-- no-transaction`,
    /// `-- foreign-keys: off` and `-- pipeline-store: equivalent-checksum <hex>`.
    ///
    /// ```
    /// use pipeline_store::migrate::Migration;
    ///
    /// let m = Migration::from_file("20250204120000_add_pipeline_tags.sql", "CREATE TABLE t(x);")?;
    /// assert_eq!((m.version(), m.description()), (20250204120000, "add pipeline tags"));
    /// # Ok::<(), pipeline_store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MigrateError::InvalidFileName`] for a malformed name or a `.down.sql` file (add it to its
    /// migration with [`with_down`](Self::with_down)), [`MigrateError::InvalidDirective`] for a
    /// directive whose checksum is not 96 hexadecimal digits.
    pub fn from_file(
        file_name: impl Into<String>,
        sql: impl Into<Cow<'static, str>>,
    ) -> Result<Self> {
        let file = file_name.into();
        let sql = sql.into();
        let parsed =
            parse::parse_file_name(&file).map_err(|reason| MigrateError::InvalidFileName {
                file: file.clone(),
                reason,
            })?;
        if parsed.kind == parse::Kind::Down {
            return Err(MigrateError::InvalidFileName {
                file,
                reason: "a .down.sql file is the second half of a migration, not a migration"
                    .to_owned(),
            });
        }
        let header = parse::header(&sql).map_err(|reason| MigrateError::InvalidDirective {
            file: file.clone(),
            reason,
        })?;
        Ok(Self {
            version: parsed.version,
            description: Cow::Owned(parsed.description),
            checksum: checksum(sql.as_bytes()),
            file: Cow::Owned(file),
            sql,
            equivalent_checksums: Cow::Owned(header.equivalent_checksums),
            no_transaction: header.no_transaction,
            foreign_keys_off: header.foreign_keys_off,
            down: None,
            allowed: Vec::new(),
        })
    }

    /// A migration embedded by `build.rs`: everything was computed at build time.
    pub(crate) const fn embedded(e: &Embedded) -> Self {
        Self {
            version: e.version,
            description: Cow::Borrowed(e.description),
            file: Cow::Borrowed(e.file),
            sql: Cow::Borrowed(e.sql),
            checksum: e.checksum,
            equivalent_checksums: Cow::Borrowed(e.equivalent_checksums),
            no_transaction: e.no_transaction,
            foreign_keys_off: e.foreign_keys_off,
            down: match &e.down {
                Some(down) => Some(Down {
                    file: Cow::Borrowed(down.file),
                    sql: Cow::Borrowed(down.sql),
                    no_transaction: down.no_transaction,
                    foreign_keys_off: down.foreign_keys_off,
                }),
                None => None,
            },
            allowed: Vec::new(),
        }
    }

    /// Whether it runs outside a transaction (`-- no-transaction` as its first line).
    #[must_use]
    pub fn no_transaction(&self) -> bool {
        self.no_transaction
    }

    /// Whether foreign keys are switched off around it (`-- foreign-keys: off` in its header).
    #[must_use]
    pub fn foreign_keys_off(&self) -> bool {
        self.foreign_keys_off
    }

    /// The down script, when the migration is reversible.
    #[must_use]
    pub fn down_sql(&self) -> Option<&str> {
        self.down.as_ref().map(|d| d.sql.as_ref())
    }

    pub(crate) fn up_script(&self) -> Script<'_> {
        Script {
            file: &self.file,
            sql: &self.sql,
            no_transaction: self.no_transaction,
            foreign_keys_off: self.foreign_keys_off,
            allowed: &self.allowed,
        }
    }

    pub(crate) fn down_script(&self) -> Option<Script<'_>> {
        self.down.as_ref().map(|d| Script {
            file: &d.file,
            sql: &d.sql,
            no_transaction: d.no_transaction,
            foreign_keys_off: d.foreign_keys_off,
            allowed: &self.allowed,
        })
    }

    /// Whether `recorded` is the checksum of this migration's file with other line endings
    /// (CRLF instead of LF or the reverse) or with a UTF-8 byte order mark added or removed:
    /// the same file checked out on another system. Computed only when a checksum differs.
    #[must_use]
    pub(crate) fn differs_only_in_line_endings(&self, recorded: &[u8]) -> bool {
        let base = super::parse::without_bom(&self.sql);
        let lf = base.replace("\r\n", "\n");
        let crlf = lf.replace('\n', "\r\n");
        [lf, crlf].iter().any(|text| {
            recorded == checksum(text.as_bytes())
                || recorded == checksum(format!("{}{text}", super::parse::BOM).as_bytes())
        })
    }

    /// Declares another checksum under which this migration counts as applied: the checksum of an
    /// earlier copy of the file whose schema is the same (different comments or white space).
    ///
    /// Files declare the same with a header line
    /// `-- pipeline-store: equivalent-checksum <96 hex digits>`.
    #[must_use]
    pub fn with_equivalent_checksum(mut self, checksum: [u8; 48]) -> Self {
        self.equivalent_checksums.to_mut().push(checksum);
        self
    }

    /// The version: the number before the first `_` of the file name.
    #[must_use]
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The description, as sqlx derives it from the file name.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The file name, used in every message about this migration.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The SQL.
    #[must_use]
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// SHA-384 of the SQL's bytes.
    #[must_use]
    pub fn checksum(&self) -> &[u8; 48] {
        &self.checksum
    }

    /// The other checksums this migration is accepted under.
    #[must_use]
    pub fn equivalent_checksums(&self) -> &[[u8; 48]] {
        &self.equivalent_checksums
    }

    /// Whether a recorded checksum is this migration's own or one declared equivalent.
    #[must_use]
    pub(crate) fn matches_checksum(&self, recorded: &[u8]) -> bool {
        recorded == self.checksum || self.equivalent_checksums.iter().any(|c| recorded == c)
    }
}
