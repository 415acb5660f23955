//! Key-value rows owned by a parent row: `pipeline_configuration` (owned by a pipeline) and
//! `stage_parameters` (owned by a stage). One implementation, two sets of SQL.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Source, check_key};
use crate::error::{Error, Result};
use crate::model::Timestamp;

/// The SQL and names of one key-value table.
pub(crate) struct KvTable {
    /// The table, for messages.
    pub name: &'static str,
    /// What owns the rows (`pipeline`, `stage`), for messages.
    pub owner: &'static str,
    /// What a row is (`configuration entry`, `parameter`), for messages.
    pub entry: &'static str,
    /// Upsert `(?1 owner, ?2 key, ?3 value, ?4 now)`, taking `archived` from the owner; inserts
    /// nothing when the owner does not exist; leaves an unchanged value's row alone.
    upsert: &'static str,
    get: &'static str,
    list: &'static str,
    delete: &'static str,
    owner_exists: &'static str,
}

pub(crate) const CONFIGURATION: KvTable = KvTable {
    name: "pipeline_configuration",
    owner: "pipeline",
    entry: "configuration entry",
    upsert: "INSERT INTO pipeline_configuration (pipeline_id, key, value, archived, created_at, updated_at) \
             SELECT ?1, ?2, ?3, archived, ?4, ?4 FROM pipelines WHERE id = ?1 \
             ON CONFLICT (pipeline_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
             WHERE pipeline_configuration.value IS NOT excluded.value",
    get: "SELECT value FROM pipeline_configuration WHERE pipeline_id = ?1 AND key = ?2",
    list: "SELECT key, value FROM pipeline_configuration WHERE pipeline_id = ?1",
    delete: "DELETE FROM pipeline_configuration WHERE pipeline_id = ?1 AND key = ?2",
    owner_exists: "SELECT 1 FROM pipelines WHERE id = ?1",
};

pub(crate) const PARAMETERS: KvTable = KvTable {
    name: "stage_parameters",
    owner: "stage",
    entry: "parameter",
    upsert: "INSERT INTO stage_parameters (stage_id, key, value, archived, created_at, updated_at) \
             SELECT ?1, ?2, ?3, archived, ?4, ?4 FROM pipeline_stages WHERE id = ?1 \
             ON CONFLICT (stage_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
             WHERE stage_parameters.value IS NOT excluded.value",
    get: "SELECT value FROM stage_parameters WHERE stage_id = ?1 AND key = ?2",
    list: "SELECT key, value FROM stage_parameters WHERE stage_id = ?1",
    delete: "DELETE FROM stage_parameters WHERE stage_id = ?1 AND key = ?2",
    owner_exists: "SELECT 1 FROM pipeline_stages WHERE id = ?1",
};

#[cfg(test)]
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("configuration upsert", CONFIGURATION.upsert),
    ("configuration get", CONFIGURATION.get),
    ("configuration list", CONFIGURATION.list),
    ("configuration delete", CONFIGURATION.delete),
    ("configuration owner", CONFIGURATION.owner_exists),
    ("parameters upsert", PARAMETERS.upsert),
    ("parameters get", PARAMETERS.get),
    ("parameters list", PARAMETERS.list),
    ("parameters delete", PARAMETERS.delete),
    ("parameters owner", PARAMETERS.owner_exists),
];

/// Runs `sql`, which selects `(owner, key, value)` rows for `param`, and groups the entries by
/// owner. `table` and `owner_column` name the source in decoding errors.
pub(crate) fn entries_by_owner(
    conn: &Connection,
    sql: &str,
    param: &str,
    table: &'static str,
    owner_column: &'static str,
) -> Result<std::collections::HashMap<String, BTreeMap<String, String>>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query([param])?;
    let mut grouped: std::collections::HashMap<String, BTreeMap<String, String>> =
        std::collections::HashMap::new();
    while let Some(row) = rows.next()? {
        let owner: String = Source { table, row: "?" }.get(row, 0, owner_column)?;
        let source = Source { table, row: &owner };
        let key: String = source.get(row, 1, "key")?;
        let value: String = source.get(row, 2, "value")?;
        grouped.entry(owner).or_default().insert(key, value);
    }
    Ok(grouped)
}

impl KvTable {
    fn not_found_owner(&self, owner: &str) -> Error {
        Error::NotFound {
            entity: self.owner,
            key: owner.to_owned(),
        }
    }

    /// Upserts one entry; the caller holds a write transaction.
    pub(crate) fn upsert(
        &self,
        conn: &Connection,
        owner: &str,
        key: &str,
        value: &str,
        now: Timestamp,
    ) -> Result<()> {
        check_key("key", key)?;
        let changed = conn
            .prepare_cached(self.upsert)?
            .execute(params![owner, key, value, now])?;
        if changed == 0 && !self.owner_exists(conn, owner)? {
            return Err(self.not_found_owner(owner));
        }
        Ok(())
    }

    pub(crate) fn owner_exists(&self, conn: &Connection, owner: &str) -> Result<bool> {
        Ok(conn
            .prepare_cached(self.owner_exists)?
            .query_row([owner], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub(crate) fn set(&self, conn: &Connection, owner: &str, key: &str, value: &str) -> Result<()> {
        super::write(conn, |conn| {
            self.upsert(conn, owner, key, value, Timestamp::now())
        })
    }

    pub(crate) fn get(&self, conn: &Connection, owner: &str, key: &str) -> Result<Option<String>> {
        let source = Source {
            table: self.name,
            row: key,
        };
        let mut statement = conn.prepare_cached(self.get)?;
        let mut rows = statement.query(params![owner, key])?;
        rows.next()?
            .map(|row| source.get(row, 0, "value"))
            .transpose()
    }

    /// The entries of one owner; `NotFound` when the owner does not exist.
    pub(crate) fn list(&self, conn: &Connection, owner: &str) -> Result<BTreeMap<String, String>> {
        super::read(conn, |conn| {
            let entries = self.list_entries(conn, owner)?;
            if entries.is_empty() && !self.owner_exists(conn, owner)? {
                return Err(self.not_found_owner(owner));
            }
            Ok(entries)
        })
    }

    pub(crate) fn list_entries(
        &self,
        conn: &Connection,
        owner: &str,
    ) -> Result<BTreeMap<String, String>> {
        let mut statement = conn.prepare_cached(self.list)?;
        let mut rows = statement.query([owner])?;
        let mut entries = BTreeMap::new();
        while let Some(row) = rows.next()? {
            let key: String = Source {
                table: self.name,
                row: owner,
            }
            .get(row, 0, "key")?;
            let value = Source {
                table: self.name,
                row: &key,
            }
            .get(row, 1, "value")?;
            entries.insert(key, value);
        }
        Ok(entries)
    }

    pub(crate) fn remove(&self, conn: &Connection, owner: &str, key: &str) -> Result<()> {
        let removed = conn
            .prepare_cached(self.delete)?
            .execute(params![owner, key])?;
        if removed == 0 {
            return Err(Error::NotFound {
                entity: self.entry,
                key: format!("{owner}/{key}"),
            });
        }
        Ok(())
    }

    /// Makes the owner's entries exactly `entries`: removed keys deleted, changed values updated
    /// (`updated_at` bumped, `created_at` kept), new keys inserted, unchanged rows untouched.
    /// The caller holds a write transaction. `true` when anything was written.
    pub(crate) fn replace_in(
        &self,
        conn: &Connection,
        owner: &str,
        entries: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<bool> {
        for key in entries.keys() {
            check_key("key", key)?;
        }
        let current = self.list_entries(conn, owner)?;
        if current.is_empty() && !self.owner_exists(conn, owner)? {
            return Err(self.not_found_owner(owner));
        }
        let mut changed = false;
        for key in current.keys().filter(|k| !entries.contains_key(*k)) {
            conn.prepare_cached(self.delete)?
                .execute(params![owner, key])?;
            changed = true;
        }
        for (key, value) in entries {
            if current.get(key) != Some(value) {
                conn.prepare_cached(self.upsert)?
                    .execute(params![owner, key, value, now])?;
                changed = true;
            }
        }
        Ok(changed)
    }

    pub(crate) fn replace_all(
        &self,
        conn: &Connection,
        owner: &str,
        entries: &BTreeMap<String, String>,
    ) -> Result<()> {
        super::write(conn, |conn| {
            self.replace_in(conn, owner, entries, Timestamp::now())
                .map(|_| ())
        })
    }
}
