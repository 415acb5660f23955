//! Key-value rows owned by a parent row: `pipeline_configuration` (owned by a pipeline) and
//! `stage_parameters` (owned by a stage). One implementation, two sets of SQL.

use std::collections::{BTreeMap, HashMap};

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
    /// Insert `(?1 owner, ?2 key, ?3 value, ?4 archived, ?5 now)` for a new owner.
    insert: &'static str,
    get: &'static str,
    list: &'static str,
    delete: &'static str,
    owner_exists: &'static str,
    /// `(owner, key, value)` of every row of the pipelines in the JSON array `?1`.
    of_pipelines: &'static str,
    /// Sets `archived` (`?2`, at `?3`) on every row of the pipeline `?1` that differs.
    archive_of_pipeline: &'static str,
    /// The owner's column, for messages.
    owner_column: &'static str,
}

pub(crate) const CONFIGURATION: KvTable = KvTable {
    name: "pipeline_configuration",
    owner: "pipeline",
    entry: "configuration entry",
    upsert: "INSERT INTO pipeline_configuration (pipeline_id, key, value, archived, created_at, updated_at) \
             SELECT ?1, ?2, ?3, archived, ?4, ?4 FROM pipelines WHERE id = ?1 \
             ON CONFLICT (pipeline_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
             WHERE pipeline_configuration.value IS NOT excluded.value",
    insert: "INSERT INTO pipeline_configuration (pipeline_id, key, value, archived, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    get: "SELECT value FROM pipeline_configuration WHERE pipeline_id = ?1 AND key = ?2",
    list: "SELECT key, value FROM pipeline_configuration WHERE pipeline_id = ?1",
    delete: "DELETE FROM pipeline_configuration WHERE pipeline_id = ?1 AND key = ?2",
    owner_exists: super::PIPELINE_EXISTS,
    of_pipelines: "SELECT pipeline_id, key, value FROM pipeline_configuration \
                   WHERE pipeline_id IN (SELECT value FROM json_each(?1))",
    archive_of_pipeline: "UPDATE pipeline_configuration SET archived = ?2, updated_at = ?3 \
                          WHERE pipeline_id = ?1 AND archived IS NOT ?2",
    owner_column: "pipeline_id",
};

pub(crate) const PARAMETERS: KvTable = KvTable {
    name: "stage_parameters",
    owner: "stage",
    entry: "parameter",
    upsert: "INSERT INTO stage_parameters (stage_id, key, value, archived, created_at, updated_at) \
             SELECT ?1, ?2, ?3, archived, ?4, ?4 FROM pipeline_stages WHERE id = ?1 \
             ON CONFLICT (stage_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
             WHERE stage_parameters.value IS NOT excluded.value",
    insert: "INSERT INTO stage_parameters (stage_id, key, value, archived, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    get: "SELECT value FROM stage_parameters WHERE stage_id = ?1 AND key = ?2",
    list: "SELECT key, value FROM stage_parameters WHERE stage_id = ?1",
    delete: "DELETE FROM stage_parameters WHERE stage_id = ?1 AND key = ?2",
    owner_exists: "SELECT 1 FROM pipeline_stages WHERE id = ?1",
    of_pipelines: "SELECT stage_parameters.stage_id, stage_parameters.key, stage_parameters.value \
                   FROM pipeline_stages JOIN stage_parameters ON stage_parameters.stage_id = pipeline_stages.id \
                   WHERE pipeline_stages.pipeline_id IN (SELECT value FROM json_each(?1))",
    archive_of_pipeline: "UPDATE stage_parameters SET archived = ?2, updated_at = ?3 \
                          WHERE stage_id IN (SELECT id FROM pipeline_stages WHERE pipeline_id = ?1) \
                          AND archived IS NOT ?2",
    owner_column: "stage_id",
};

/// `(stage, key, value)` of the parameters of every stage of the pipeline `?1`.
const PARAMETERS_OF_PIPELINE: &str = "SELECT stage_parameters.stage_id, stage_parameters.key, stage_parameters.value \
     FROM pipeline_stages JOIN stage_parameters ON stage_parameters.stage_id = pipeline_stages.id \
     WHERE pipeline_stages.pipeline_id = ?1";

/// The parameters of every stage of one pipeline, by stage id.
pub(crate) fn parameters_of_pipeline(
    conn: &Connection,
    pipeline: &str,
) -> Result<HashMap<String, BTreeMap<String, String>>> {
    entries_by_owner(
        conn,
        PARAMETERS_OF_PIPELINE,
        pipeline,
        PARAMETERS.name,
        PARAMETERS.owner_column,
    )
}

#[cfg(test)]
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("configuration upsert", CONFIGURATION.upsert),
    ("configuration get", CONFIGURATION.get),
    ("configuration list", CONFIGURATION.list),
    ("configuration delete", CONFIGURATION.delete),
    ("configuration owner", CONFIGURATION.owner_exists),
    ("configuration insert", CONFIGURATION.insert),
    ("configuration of pipelines", CONFIGURATION.of_pipelines),
    ("configuration archive", CONFIGURATION.archive_of_pipeline),
    ("parameters upsert", PARAMETERS.upsert),
    ("parameters get", PARAMETERS.get),
    ("parameters list", PARAMETERS.list),
    ("parameters delete", PARAMETERS.delete),
    ("parameters owner", PARAMETERS.owner_exists),
    ("parameters insert", PARAMETERS.insert),
    ("parameters of pipelines", PARAMETERS.of_pipelines),
    ("parameters archive", PARAMETERS.archive_of_pipeline),
    ("parameters of pipeline", PARAMETERS_OF_PIPELINE),
];

/// Runs `sql`, which selects `(owner, key, value)` rows for `param`, and groups the entries by
/// owner. `table` and `owner_column` name the source in decoding errors.
fn entries_by_owner(
    conn: &Connection,
    sql: &str,
    param: &str,
    table: &'static str,
    owner_column: &'static str,
) -> Result<HashMap<String, BTreeMap<String, String>>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query([param])?;
    let mut grouped: HashMap<String, BTreeMap<String, String>> = HashMap::new();
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
    /// Inserts one entry of a new owner; the caller holds a write transaction.
    pub(crate) fn insert(
        &self,
        conn: &Connection,
        owner: &str,
        key: &str,
        value: &str,
        archived: bool,
        now: Timestamp,
    ) -> Result<()> {
        conn.prepare_cached(self.insert)?
            .execute(params![owner, key, value, archived, now])?;
        Ok(())
    }

    /// The entries of the pipelines in the JSON array `ids`, by owner.
    pub(crate) fn load_many(
        &self,
        conn: &Connection,
        ids: &str,
    ) -> Result<HashMap<String, BTreeMap<String, String>>> {
        entries_by_owner(conn, self.of_pipelines, ids, self.name, self.owner_column)
    }

    /// Sets `archived` on the rows of a pipeline; the caller holds a write transaction.
    pub(crate) fn set_archived_of_pipeline(
        &self,
        conn: &Connection,
        pipeline: &str,
        archived: bool,
        now: Timestamp,
    ) -> Result<()> {
        conn.prepare_cached(self.archive_of_pipeline)?
            .execute(params![pipeline, archived, now])?;
        Ok(())
    }

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
