//! Rows whose foreign key points at no parent: what `PRAGMA foreign_key_check` reports, read
//! after a migration that switched foreign keys off and by `schema::check`.

use std::fmt;

use rusqlite::Connection;

use super::Result;

/// A row whose foreign key has no parent, from `PRAGMA foreign_key_check`.
///
/// Displays as `pipeline_stages row 3 points at a missing pipelines row`.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForeignKeyViolation {
    /// The child table.
    pub table: String,
    /// The child row's rowid, when the table has one.
    pub rowid: Option<i64>,
    /// The parent table it points at.
    pub parent: String,
}

impl fmt::Display for ForeignKeyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rowid {
            Some(rowid) => write!(f, "{} row {rowid}", self.table)?,
            None => write!(f, "{} row ?", self.table)?,
        }
        write!(f, " points at a missing {} row", self.parent)
    }
}

/// Every violation in the database `conn` is open on.
pub(crate) fn violations(conn: &Connection) -> Result<Vec<ForeignKeyViolation>> {
    let mut statement = conn.prepare("PRAGMA foreign_key_check")?;
    let found = statement
        .query_map([], |row| {
            Ok(ForeignKeyViolation {
                table: row.get(0)?,
                rowid: row.get(1)?,
                parent: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_says_which_row_points_where() {
        let v = ForeignKeyViolation {
            table: "pipeline_stages".into(),
            rowid: Some(3),
            parent: "pipelines".into(),
        };
        assert_eq!(
            v.to_string(),
            "pipeline_stages row 3 points at a missing pipelines row"
        );
        let without = ForeignKeyViolation { rowid: None, ..v };
        assert_eq!(
            without.to_string(),
            "pipeline_stages row ? points at a missing pipelines row"
        );
    }
}
