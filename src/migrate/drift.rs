//! Schemas as data: a normalised model of a database's tables, columns, unique constraints,
//! foreign keys, indexes, triggers and views, read through SQLite's pragmas rather than from the
//! text of `sqlite_master` (which SQLite rewrites on a rename), and the differences between two.
//!
//! `schema::drift` compares a live database with the schema its applied migrations build when
//! replayed on an empty in-memory database; `Migrator::validate` compares the schema before and
//! after a migration's up and down scripts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rusqlite::Connection;

use super::Migrator;
use super::Result;

/// What kind of object a [`Difference`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A table.
    Table,
    /// A column (`table.column`).
    Column,
    /// A `UNIQUE` constraint of a table (`table(a, b)`).
    Unique,
    /// A foreign key of a table.
    ForeignKey,
    /// An index made with `CREATE INDEX`.
    Index,
    /// A trigger.
    Trigger,
    /// A view.
    View,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Table => "table",
            Self::Column => "column",
            Self::Unique => "unique constraint",
            Self::ForeignKey => "foreign key",
            Self::Index => "index",
            Self::Trigger => "trigger",
            Self::View => "view",
        })
    }
}

/// One way a schema differs from the one expected.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Difference {
    /// The kind of object (serialized as its text, `table`, `foreign key`...).
    #[cfg_attr(feature = "serde", serde(serialize_with = "super::serialize::text"))]
    pub kind: ObjectKind,
    /// The object: `pipelines`, `pipelines.owner`, `idx_pipelines_name`, `pipeline_stages:
    /// (pipeline_id) -> pipelines(id) ON DELETE CASCADE`...
    pub object: String,
    /// What differs: `missing`, `unexpected`, or a property (`type`, `not null`, `default`,
    /// `primary key position`, `columns`, `unique`, `where`, `definition`).
    pub property: &'static str,
    /// What the migrations make (`None` for an unexpected object).
    pub expected: Option<String>,
    /// What the database has (`None` for a missing object).
    pub found: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.kind, self.object)?;
        match self.property {
            "missing" => f.write_str("missing (the migrations create it)"),
            "unexpected" => f.write_str("not created by the migrations"),
            property => write!(
                f,
                "{property} is {} where the migrations make {}",
                self.found.as_deref().unwrap_or("nothing"),
                self.expected.as_deref().unwrap_or("nothing")
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    ty: String,
    not_null: bool,
    default: Option<String>,
    pk: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table {
    columns: BTreeMap<String, Column>,
    uniques: BTreeSet<String>,
    foreign_keys: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Index {
    table: String,
    columns: String,
    unique: bool,
    partial: Option<String>,
}

/// A database's schema, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SchemaModel {
    tables: BTreeMap<String, Table>,
    indexes: BTreeMap<String, Index>,
    triggers: BTreeMap<String, String>,
    views: BTreeMap<String, String>,
    /// Tables shaped as a migration history (sqlx's columns): another set's, kept apart from
    /// the schema.
    histories: BTreeSet<String>,
}

impl SchemaModel {
    /// The history tables found: any table with exactly sqlx's history columns.
    pub(crate) fn histories(&self) -> &BTreeSet<String> {
        &self.histories
    }

    /// Whether `table` is one of this schema's tables.
    pub(crate) fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(&table.to_lowercase())
    }

    /// The table an index belongs to, if the index is in this schema.
    pub(crate) fn index_table(&self, index: &str) -> Option<&str> {
        self.indexes
            .get(&index.to_lowercase())
            .map(|i| i.table.as_str())
    }
}

/// Whether a table has exactly the columns of sqlx's history table: it is a migration history
/// (this set's under another name, or another set's), not part of the schema.
fn is_history(table: &Table) -> bool {
    const COLUMNS: [&str; 6] = [
        "checksum",
        "description",
        "execution_time",
        "installed_on",
        "success",
        "version",
    ];
    table.columns.len() == COLUMNS.len() && table.columns.keys().map(String::as_str).eq(COLUMNS)
}

/// Lower case, blank space collapsed to one space.
fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether an object belongs to SQLite, to the history, or to Litestream (which keeps
/// `_litestream_seq` and `_litestream_lock` in a database it replicates) rather than to the
/// schema the migrations make.
pub(crate) fn is_internal(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("sqlite_") || lower == "_sqlx_migrations" || lower.starts_with("_litestream_")
}

/// Reads the schema of `conn`.
pub(crate) fn model(conn: &Connection) -> Result<SchemaModel> {
    let mut schema = SchemaModel::default();
    let objects: Vec<(String, String, String, Option<String>)> = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, name, table, sql) in &objects {
        if is_internal(name) || is_internal(table) {
            continue;
        }
        let key = name.to_lowercase();
        match kind.as_str() {
            "table" => {
                let table = read_table(conn, name)?;
                if is_history(&table) {
                    schema.histories.insert(key);
                } else {
                    schema.tables.insert(key, table);
                }
            }
            "index" => {
                if let Some(index) = read_index(conn, name, table, sql.as_deref())? {
                    schema.indexes.insert(key, index);
                }
            }
            "trigger" => {
                schema
                    .triggers
                    .insert(key, normalize(sql.as_deref().unwrap_or_default()));
            }
            "view" => {
                schema
                    .views
                    .insert(key, normalize(sql.as_deref().unwrap_or_default()));
            }
            _ => {}
        }
    }
    Ok(schema)
}

/// A foreign key being read: child columns, parent, parent columns, on update, on delete.
type KeyParts = (Vec<String>, String, Vec<String>, String, String);

fn read_table(conn: &Connection, name: &str) -> Result<Table> {
    let mut table = Table::default();
    let mut statement = conn.prepare(
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo(?1) WHERE hidden = 0",
    )?;
    let mut rows = statement.query([name])?;
    while let Some(row) = rows.next()? {
        let column: String = row.get(0)?;
        let ty: String = row.get(1)?;
        table.columns.insert(
            column.to_lowercase(),
            Column {
                ty: normalize(&ty).to_uppercase(),
                not_null: row.get(2)?,
                default: row.get::<_, Option<String>>(3)?.map(|d| normalize(&d)),
                pk: row.get(4)?,
            },
        );
    }
    // Unique constraints: the automatic indexes SQLite makes for them, by their columns (their
    // names change when a table is rebuilt under another name).
    let mut statement =
        conn.prepare("SELECT name FROM pragma_index_list(?1) WHERE origin = 'u'")?;
    let uniques: Vec<String> = statement
        .query_map([name], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for index in uniques {
        table.uniques.insert(index_columns(conn, &index)?);
    }
    let mut statement = conn.prepare(
        "SELECT id, \"from\", \"table\", coalesce(\"to\", ''), on_update, on_delete \
         FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
    )?;
    let mut keys: BTreeMap<i64, KeyParts> = BTreeMap::new();
    let mut rows = statement.query([name])?;
    while let Some(row) = rows.next()? {
        let entry = keys.entry(row.get(0)?).or_insert_with(|| {
            (
                Vec::new(),
                String::new(),
                Vec::new(),
                String::new(),
                String::new(),
            )
        });
        entry.0.push(row.get::<_, String>(1)?.to_lowercase());
        entry.1 = row.get::<_, String>(2)?.to_lowercase();
        entry.2.push(row.get::<_, String>(3)?.to_lowercase());
        entry.3 = row.get::<_, String>(4)?.to_uppercase();
        entry.4 = row.get::<_, String>(5)?.to_uppercase();
    }
    for (from, parent, to, on_update, on_delete) in keys.into_values() {
        table.foreign_keys.insert(format!(
            "({}) -> {parent}({}) ON UPDATE {on_update} ON DELETE {on_delete}",
            from.join(", "),
            to.join(", ")
        ));
    }
    Ok(table)
}

/// The key columns of an index, in order (`<expr>` for an expression).
fn index_columns(conn: &Connection, index: &str) -> Result<String> {
    let mut statement = conn.prepare(
        "SELECT coalesce(name, '<expr>'), \"desc\" FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno",
    )?;
    let columns: Vec<String> = statement
        .query_map([index], |r| {
            let name: String = r.get(0)?;
            let descending: bool = r.get(1)?;
            Ok(if descending {
                format!("{} desc", name.to_lowercase())
            } else {
                name.to_lowercase()
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(columns.join(", "))
}

/// An index made with `CREATE INDEX`; `None` for SQLite's automatic ones.
fn read_index(
    conn: &Connection,
    name: &str,
    table: &str,
    sql: Option<&str>,
) -> Result<Option<Index>> {
    let Some(sql) = sql else { return Ok(None) };
    let normalized = normalize(sql);
    let partial = normalized
        .rfind(" where ")
        .map(|at| normalized[at + " where ".len()..].to_owned());
    Ok(Some(Index {
        table: table.to_lowercase(),
        columns: index_columns(conn, name)?,
        unique: normalized.starts_with("create unique index"),
        partial,
    }))
}

/// Differences as they are found.
#[derive(Default)]
struct Found(Vec<Difference>);

impl Found {
    fn push(
        &mut self,
        kind: ObjectKind,
        object: &str,
        property: &'static str,
        expected: Option<String>,
        found: Option<String>,
    ) {
        self.0.push(Difference {
            kind,
            object: object.to_owned(),
            property,
            expected,
            found,
        });
    }

    fn missing(&mut self, kind: ObjectKind, object: &str, expected: String) {
        self.push(kind, object, "missing", Some(expected), None);
    }

    fn unexpected(&mut self, kind: ObjectKind, object: &str, found: String) {
        self.push(kind, object, "unexpected", None, Some(found));
    }

    fn property<T: ToString + PartialEq>(
        &mut self,
        kind: ObjectKind,
        object: &str,
        property: &'static str,
        expected: &T,
        found: &T,
    ) {
        if expected != found {
            self.push(
                kind,
                object,
                property,
                Some(expected.to_string()),
                Some(found.to_string()),
            );
        }
    }
}

/// The differences of `found` from `expected`, each once, sorted.
pub(crate) fn diff(expected: &SchemaModel, found: &SchemaModel) -> Vec<Difference> {
    let mut out = Found::default();
    for (name, table) in &expected.tables {
        match found.tables.get(name) {
            Some(other) => diff_table(&mut out, name, table, other),
            None => out.missing(ObjectKind::Table, name, name.clone()),
        }
    }
    for name in found
        .tables
        .keys()
        .filter(|n| !expected.tables.contains_key(*n))
    {
        out.unexpected(ObjectKind::Table, name, name.clone());
    }
    diff_indexes(&mut out, &expected.indexes, &found.indexes);
    diff_definitions(
        &mut out,
        ObjectKind::Trigger,
        &expected.triggers,
        &found.triggers,
    );
    diff_definitions(&mut out, ObjectKind::View, &expected.views, &found.views);
    out.0.sort();
    out.0
}

fn diff_table(out: &mut Found, name: &str, table: &Table, other: &Table) {
    for (column, want) in &table.columns {
        let object = format!("{name}.{column}");
        let Some(have) = other.columns.get(column) else {
            out.missing(ObjectKind::Column, &object, want.ty.clone());
            continue;
        };
        out.property(ObjectKind::Column, &object, "type", &want.ty, &have.ty);
        out.property(
            ObjectKind::Column,
            &object,
            "not null",
            &want.not_null,
            &have.not_null,
        );
        let none = || "no default".to_owned();
        let (want_default, have_default) = (
            want.default.clone().unwrap_or_else(none),
            have.default.clone().unwrap_or_else(none),
        );
        out.property(
            ObjectKind::Column,
            &object,
            "default",
            &want_default,
            &have_default,
        );
        out.property(
            ObjectKind::Column,
            &object,
            "primary key position",
            &want.pk,
            &have.pk,
        );
    }
    for (column, have) in &other.columns {
        if !table.columns.contains_key(column) {
            out.unexpected(
                ObjectKind::Column,
                &format!("{name}.{column}"),
                have.ty.clone(),
            );
        }
    }
    for (kind, want, have) in [
        (ObjectKind::Unique, &table.uniques, &other.uniques),
        (
            ObjectKind::ForeignKey,
            &table.foreign_keys,
            &other.foreign_keys,
        ),
    ] {
        let object = |item: &str| {
            if kind == ObjectKind::Unique {
                format!("{name}({item})")
            } else {
                format!("{name}: {item}")
            }
        };
        for item in want.difference(have) {
            out.missing(kind, &object(item), item.clone());
        }
        for item in have.difference(want) {
            out.unexpected(kind, &object(item), item.clone());
        }
    }
}

fn diff_indexes(
    out: &mut Found,
    expected: &BTreeMap<String, Index>,
    found: &BTreeMap<String, Index>,
) {
    let on = |index: &Index| format!("{}({})", index.table, index.columns);
    for (name, want) in expected {
        let Some(have) = found.get(name) else {
            out.missing(ObjectKind::Index, name, on(want));
            continue;
        };
        out.property(ObjectKind::Index, name, "columns", &on(want), &on(have));
        out.property(
            ObjectKind::Index,
            name,
            "unique",
            &want.unique,
            &have.unique,
        );
        let whole = || "every row".to_owned();
        let (want_where, have_where) = (
            want.partial.clone().unwrap_or_else(whole),
            have.partial.clone().unwrap_or_else(whole),
        );
        out.property(ObjectKind::Index, name, "where", &want_where, &have_where);
    }
    for (name, have) in found {
        if !expected.contains_key(name) {
            out.unexpected(ObjectKind::Index, name, on(have));
        }
    }
}

fn diff_definitions(
    out: &mut Found,
    kind: ObjectKind,
    expected: &BTreeMap<String, String>,
    found: &BTreeMap<String, String>,
) {
    for (name, sql) in expected {
        match found.get(name) {
            None => out.missing(kind, name, sql.clone()),
            Some(other) => out.property(kind, name, "definition", sql, other),
        }
    }
    for (name, sql) in found {
        if !expected.contains_key(name) {
            out.unexpected(kind, name, sql.clone());
        }
    }
}

/// The schema the applied migrations of `conn` build, replayed on an empty in-memory database:
/// set by set, the ones each set's history records as applied and the set knows, in version
/// order.
pub(crate) fn expected_schema(sets: &[&Migrator], conn: &Connection) -> Result<SchemaModel> {
    let replay = Connection::open_in_memory()?;
    for set in sets {
        let applied: BTreeSet<i64> = set
            .history
            .read_history(conn)?
            .into_iter()
            .filter(|a| a.success)
            .map(|a| a.version)
            .collect();
        for m in set
            .migrations()
            .iter()
            .filter(|m| applied.contains(&m.version()))
        {
            replay.execute_batch(m.sql())?;
        }
    }
    model(&replay)
}

impl Migrator {
    /// How the schema of `conn` differs from the one its applied migrations build.
    pub(crate) fn drift(&self, conn: &Connection) -> Result<Vec<Difference>> {
        Ok(diff(
            &expected_schema(&self.with_base(), conn)?,
            &model(conn)?,
        ))
    }
}
