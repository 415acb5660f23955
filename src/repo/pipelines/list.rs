//! Pages of pipelines: by status, tag and keyset cursor, as summaries or whole, and counts.

use rusqlite::{Connection, Row, params};

use super::{assemble, decode_head};
use crate::error::Result;
use crate::model::{Pipeline, PipelineId, Timestamp};
use crate::repo::{Source, read};

const COUNT_ALL: &str = "SELECT count(*) FROM pipelines";
const COUNT_ACTIVE: &str = "SELECT count(*) FROM pipelines WHERE archived = false";
/// A page query: `?1` the name to start after, `?2` the tag when filtering by one. Each status
/// gets its own statement so SQLite can use the partial index on active names. Pages come in
/// index order without a sort, and the caller stops reading after the page's limit: a bound
/// `LIMIT ?` made SQLite do about a third more work per page than stopping early.
///
/// The cursor is bound as `(SELECT ?1)`, a value SQLite's planner cannot look into: bound as a
/// plain `?1` compared with an indexed column, SQLite (built with `SQLITE_ENABLE_STAT4`, as the
/// bundled build is) prepared the statement again at every new binding, to plan for the value,
/// and came to the same index walk every time; that was a fifth to a quarter of a page's
/// instructions (`examples/instructions.rs`, workloads `pages` and `tagged`). A tagged page
/// reads the tag's rows the same way, from an index that holds their pipelines' names (see the
/// `tag_pages_in_name_order` migration), so its cost does not depend on how many pipelines
/// there are or how many carry the tag.
macro_rules! page {
    ($filter:literal) => {
        concat!(
            "SELECT id, name, archived, created_at, updated_at, \
             (SELECT count(*) FROM pipeline_stages WHERE pipeline_stages.pipeline_id = pipelines.id) \
             FROM pipelines WHERE ",
            $filter,
            " AND name > (SELECT ?1) ORDER BY name"
        )
    };
}
const PAGE_ACTIVE: &str = page!("archived = false");
const PAGE_ARCHIVED: &str = page!("archived = true");
const PAGE_ALL: &str = page!("archived IN (false, true)");
/// A tagged page: the tag's rows in name order from an index on (tag[, archived], name), each
/// joined to its pipeline; `CROSS JOIN` keeps the tag rows the outer loop. Column 6 says whether
/// the tag row's copies of the name and archived flag are the pipeline's own (see
/// [`copies_in_step`]).
///
/// The tag and the cursor are bound as `(SELECT ?n)`, as in [`page!`].
macro_rules! tagged_page {
    ($filter:literal) => {
        concat!(
            "SELECT p.id, p.name, p.archived, p.created_at, p.updated_at, \
             (SELECT count(*) FROM pipeline_stages WHERE pipeline_stages.pipeline_id = p.id), \
             t.pipeline_name IS p.name AND t.pipeline_archived IS p.archived \
             FROM pipeline_tags t CROSS JOIN pipelines p ON p.id = t.pipeline_id \
             WHERE t.tag = (SELECT ?2)",
            $filter,
            " AND t.pipeline_name > (SELECT ?1) ORDER BY t.pipeline_name"
        )
    };
}
const PAGE_ACTIVE_TAGGED: &str = tagged_page!(" AND t.pipeline_archived = false");
const PAGE_ARCHIVED_TAGGED: &str = tagged_page!(" AND t.pipeline_archived = true");
const PAGE_ALL_TAGGED: &str = tagged_page!("");

/// Which pipelines a list or count covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// Pipelines that are not archived.
    #[default]
    Active,
    /// Archived pipelines only.
    Archived,
    /// Both.
    All,
}

impl ListQuery {
    /// Calls `f` on each row of this page, at most `limit` of them.
    fn for_each_row(
        &self,
        conn: &Connection,
        mut f: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let after = self.after.as_deref().unwrap_or("");
        let sql = match (self.status, self.tag.is_some()) {
            (Status::Active, false) => PAGE_ACTIVE,
            (Status::Archived, false) => PAGE_ARCHIVED,
            (Status::All, false) => PAGE_ALL,
            (Status::Active, true) => PAGE_ACTIVE_TAGGED,
            (Status::Archived, true) => PAGE_ARCHIVED_TAGGED,
            (Status::All, true) => PAGE_ALL_TAGGED,
        };
        let mut statement = conn.prepare_cached(sql)?;
        let mut rows = match &self.tag {
            Some(tag) => statement.query(params![after, tag])?,
            None => statement.query([after])?,
        };
        let mut taken = 0;
        while taken < self.limit {
            let Some(row) = rows.next()? else { break };
            if self.tag.is_some() && !copies_in_step(row)? {
                continue;
            }
            f(row)?;
            taken += 1;
        }
        Ok(())
    }
}

/// Whether a tagged page's row has copies that agree with its pipeline.
///
/// The walk and its cursor are on the tag row's copy of the name, and a row is returned only
/// when its copies agree with the pipeline it joins. So every returned name is the key the
/// index walked (the next page, after that name, always advances), and a copy out of step
/// (written by a tool that bypassed the trigger, see `repo::tags::verify_copies`) can leave its
/// pipeline off a tagged page but never puts it there under a wrong name or status, never twice
/// and never in a loop. Names are unique, so rows that pass never share a key. Compared as an
/// output column rather than in `WHERE`: two more terms there cost a tenth more work per page
/// (the statement is planned again for each new cursor), one more column does not.
fn copies_in_step(row: &Row<'_>) -> Result<bool> {
    Ok(row.get::<_, bool>(6)?)
}

/// A page of pipelines: a status, an optional tag, a keyset cursor and a limit.
///
/// Pages are ordered by name; pass the last name of a page to [`after`](Self::after) to get the
/// next one. Unlike an offset, the cursor never skips or repeats a pipeline when others are
/// added or removed between pages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// Active, archived or all pipelines.
    pub status: Status,
    /// Only pipelines with this tag.
    pub tag: Option<String>,
    /// Only pipelines whose name sorts after this one.
    pub after: Option<String>,
    /// At most this many pipelines (default 100).
    pub limit: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self::active()
    }
}

impl ListQuery {
    /// The first 100 active pipelines.
    #[must_use]
    pub fn active() -> Self {
        Self {
            status: Status::Active,
            tag: None,
            after: None,
            limit: 100,
        }
    }

    /// The first 100 archived pipelines.
    #[must_use]
    pub fn archived() -> Self {
        Self {
            status: Status::Archived,
            ..Self::active()
        }
    }

    /// The first 100 pipelines, archived or not.
    #[must_use]
    pub fn all() -> Self {
        Self {
            status: Status::All,
            ..Self::active()
        }
    }

    /// Only pipelines tagged `tag`.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Only pipelines whose name sorts after `name` (the last name of the previous page).
    #[must_use]
    pub fn after(mut self, name: impl Into<String>) -> Self {
        self.after = Some(name.into());
        self
    }

    /// At most `limit` pipelines.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}

/// A pipeline without its children: what a list shows.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineSummary {
    /// Its id.
    pub id: PipelineId,
    /// Its name.
    pub name: String,
    /// Whether it is archived.
    pub archived: bool,
    /// How many stages it has.
    pub stage_count: u32,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// How many pipelines have this status.
///
/// # Errors
///
/// [`Error::Sqlite`](crate::Error::Sqlite) when the database cannot be read.
pub fn count(conn: &Connection, status: Status) -> Result<u64> {
    let count = |sql| -> Result<i64> { Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?) };
    let value = read(conn, |_| match status {
        Status::All => count(COUNT_ALL),
        Status::Active => count(COUNT_ACTIVE),
        Status::Archived => Ok(count(COUNT_ALL)? - count(COUNT_ACTIVE)?),
    })?;
    Ok(u64::try_from(value).unwrap_or(0))
}

/// One page of pipeline summaries, by name.
///
/// # Errors
///
/// [`Error::InvalidData`](crate::Error::InvalidData) when a stored value cannot be decoded.
pub fn list(conn: &Connection, query: &ListQuery) -> Result<Vec<PipelineSummary>> {
    let mut page = Vec::new();
    query.for_each_row(conn, |row| {
        let head = decode_head(row)?;
        let stage_count: i64 = Source {
            table: "pipelines",
            row: head.id.as_str(),
        }
        .get(row, 5, "stage count")?;
        page.push(PipelineSummary {
            stage_count: u32::try_from(stage_count).unwrap_or(u32::MAX),
            id: head.id,
            name: head.name,
            archived: head.archived,
            created_at: head.created_at,
            updated_at: head.updated_at,
        });
        Ok(())
    })?;
    Ok(page)
}

/// One page of full pipelines, by name: the same page as [`list`], each with all its children,
/// for a fixed number of statements whatever the page size.
///
/// # Errors
///
/// [`Error::InvalidData`](crate::Error::InvalidData) when a stored value cannot be decoded.
pub fn list_full(conn: &Connection, query: &ListQuery) -> Result<Vec<Pipeline>> {
    read(conn, |conn| {
        let mut page = Vec::new();
        query.for_each_row(conn, |row| {
            page.push(decode_head(row)?);
            Ok(())
        })?;
        assemble(conn, page)
    })
}

#[cfg(test)]
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("pipelines count all", COUNT_ALL),
    ("pipelines count active", COUNT_ACTIVE),
    ("pipelines page active", PAGE_ACTIVE),
    ("pipelines page archived", PAGE_ARCHIVED),
    ("pipelines page all", PAGE_ALL),
    ("pipelines page active tagged", PAGE_ACTIVE_TAGGED),
    ("pipelines page archived tagged", PAGE_ARCHIVED_TAGGED),
    ("pipelines page all tagged", PAGE_ALL_TAGGED),
];
