//! Derived data: values the schema stores twice so that a page walks one index, how they are
//! checked against what they are derived from, and how they are repaired.
//!
//! Today there is one kind: each `pipeline_tags` row carries a copy of its pipeline's name and
//! archived flag (migration `tag_pages_in_name_order`), kept in step by the trigger
//! [`COPY_TRIGGER`](crate::repo::tags::COPY_TRIGGER). A copy out of step never makes a tagged page
//! wrong or endless (a row is listed only when its copy agrees with its pipeline), but it leaves
//! its pipeline off tagged pages until [`repair_derived`] rewrites it.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

use log::warn;
use rusqlite::Connection;

use crate::error::Result;
use crate::repo::tags::{self, COPY_TRIGGER, CopiesRepair, CopyTrigger, StaleTagCopy};

/// Derived data out of step with what it is derived from, as [`check`](super::check) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DerivedProblem {
    /// Tag rows whose copy of their pipeline's name or archived flag differs from the pipeline:
    /// tagged pages leave those pipelines out.
    StaleTagCopies {
        /// How many tag rows.
        count: u64,
        /// The first few, by pipeline name and tag.
        examples: Vec<StaleTagCopy>,
    },
    /// The trigger that keeps the copies in step is missing (a rebuild of `pipelines` that did
    /// not create it again): renames, archives and restores no longer reach the tag rows.
    CopyTriggerMissing,
    /// A trigger of that name exists but is not the one the migrations create.
    CopyTriggerDifferent {
        /// Its text, as stored.
        found: String,
    },
}

impl DerivedProblem {
    /// The problem in one line, naming `repair` (how the reader repairs it: the function for a
    /// program, the command on the command line) as what fixes it. `Display` names
    /// `schema::repair_derived`.
    #[must_use]
    pub fn describe(&self, repair: &str) -> String {
        DescribedWith(self, repair).to_string()
    }
}

impl fmt::Display for DerivedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DescribedWith(self, "`schema::repair_derived`").fmt(f)
    }
}

/// A problem and the name of its repair, written out.
struct DescribedWith<'a>(&'a DerivedProblem, &'a str);

impl fmt::Display for DescribedWith<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(problem, repair) = *self;
        match problem {
            DerivedProblem::StaleTagCopies { count, examples } => {
                write!(
                    f,
                    "{count} tag rows hold a stale copy of their pipeline's name or archived flag"
                )?;
                if !examples.is_empty() {
                    f.write_str(" (")?;
                    for (i, e) in examples.iter().enumerate() {
                        if i > 0 {
                            f.write_str("; ")?;
                        }
                        write!(
                            f,
                            "tag {:?} of {:?}: copy says {:?}{}, pipeline is {:?}{}",
                            e.tag,
                            e.pipeline_id.as_str(),
                            e.copied_name,
                            if e.copied_archived {
                                " archived"
                            } else {
                                " active"
                            },
                            e.name,
                            if e.archived { " archived" } else { " active" },
                        )?;
                    }
                    f.write_str(")")?;
                }
                write!(
                    f,
                    ": tagged pages leave them out until {repair} rewrites the copies"
                )
            }
            DerivedProblem::CopyTriggerMissing => write!(
                f,
                "trigger {COPY_TRIGGER} is missing (a rebuild of pipelines did not create it again): \
                 renames and archives no longer reach the tag rows; {repair} creates it"
            ),
            DerivedProblem::CopyTriggerDifferent { found } => write!(
                f,
                "trigger {COPY_TRIGGER} is not the one the migrations create (found: {}); \
                 {repair} creates it again",
                found.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
        }
    }
}

/// What [`repair_derived`] did.
pub type DerivedRepair = CopiesRepair;

/// Every problem with derived data (empty when it is in step); `None` when the schema keeps
/// none.
pub(crate) fn problems(conn: &Connection) -> Result<Option<Vec<DerivedProblem>>> {
    let Some(report) = tags::verify_copies(conn)? else {
        return Ok(None);
    };
    let mut problems = Vec::new();
    match report.trigger {
        CopyTrigger::InStep => {}
        CopyTrigger::Missing => problems.push(DerivedProblem::CopyTriggerMissing),
        CopyTrigger::Different(found) => {
            problems.push(DerivedProblem::CopyTriggerDifferent { found });
        }
    }
    if report.stale > 0 {
        problems.push(DerivedProblem::StaleTagCopies {
            count: report.stale,
            examples: report.examples,
        });
    }
    Ok(Some(problems))
}

/// Recomputes all derived data from what it is derived from, and creates the trigger that keeps
/// it in step when it is missing or different, in one transaction (a savepoint inside the
/// caller's): all of it or nothing. Nothing is written when everything is in step.
///
/// ```
/// let conn = pipeline_store::initialize_database(":memory:")?;
/// conn.execute_batch("DROP TRIGGER pipelines_copy_to_tags")?;
/// let repaired = pipeline_store::schema::repair_derived(&conn)?;
/// assert!(repaired.trigger_created);
/// assert!(pipeline_store::schema::check(&conn)?.is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Busy`](crate::Error::Busy) when another connection holds the write lock past the
/// busy timeout; [`Error::Sqlite`](crate::Error::Sqlite) when the repair cannot be written
/// (nothing is changed then).
pub fn repair_derived(conn: &Connection) -> Result<DerivedRepair> {
    tags::repair_copies(conn)
}

/// Logs when the trigger that keeps the copies in step is missing or different, pointing at the
/// repair: on the first open of each file in this process, and on any open in which a set other
/// than this crate's applied migrations (one of them may have rebuilt `pipelines`). An open in
/// which this crate's set applied migrations has just made or upgraded the schema with the
/// trigger, so it does not look unless another set ran too. Looking costs about a tenth of a
/// warm open, so later opens of a file already looked at do not look again. A failure to look
/// is not the open's business: it is logged at debug level.
pub(crate) fn warn_if_not_kept(conn: &Connection, others_applied: bool, library_applied: bool) {
    static LOOKED_AT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let at = conn.path().filter(|p| !p.is_empty()).unwrap_or(":memory:");
    if !others_applied {
        let first = LOOKED_AT.lock().map_or(true, |mut looked| {
            !looked.contains(at) && looked.insert(at.to_owned())
        });
        if !first || library_applied || at == ":memory:" {
            return;
        }
    }
    match tags::copy_trigger(conn) {
        Ok(None | Some(CopyTrigger::InStep)) => {}
        Ok(Some(CopyTrigger::Missing)) => warn!(
            "{at}: trigger {COPY_TRIGGER} is missing, so renames and archives made from now on \
             leave pipelines off tagged pages; `schema::repair_derived` creates it and \
             rewrites the copies"
        ),
        Ok(Some(CopyTrigger::Different(_))) => warn!(
            "{at}: trigger {COPY_TRIGGER} is not the one the migrations create; \
             `schema::repair_derived` creates it again and \
             rewrites the copies"
        ),
        Err(error) => log::debug!("{at}: could not look for trigger {COPY_TRIGGER}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::{Migration, Migrator};
    use crate::schema::OpenOptions;
    use crate::test_log::warnings_about;

    #[test]
    fn a_lost_trigger_is_logged_on_the_first_open_of_a_file_and_after_another_sets_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lost-trigger-logged.db");
        let url = path.display().to_string();
        warnings_about("lost-trigger-logged");
        // A fresh database: this crate's set applied, the trigger just made; nothing to say.
        drop(OpenOptions::new().open(&url).unwrap());
        assert!(warnings_about("lost-trigger-logged").is_empty());
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("DROP TRIGGER {COPY_TRIGGER}"))
            .unwrap();
        // Later opens of a file already looked at in this process do not look again...
        drop(OpenOptions::new().open(&url).unwrap());
        assert!(
            warnings_about("lost-trigger-logged").is_empty(),
            "looked at once already"
        );
        // ...unless another set applied migrations.
        let host = Migrator::new(vec![Migration::new(1, "t", "CREATE TABLE t (x);")])
            .unwrap()
            .history_table("_logged_host")
            .unwrap();
        OpenOptions::new().open_host(&url, &host).unwrap();
        let warned = warnings_about("lost-trigger-logged");
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("is missing") && warned[0].contains("repair_derived"));
        OpenOptions::new().open_host(&url, &host).unwrap();
        assert_eq!(
            warnings_about("lost-trigger-logged").len(),
            1,
            "nothing applied: no look"
        );

        // Another file, first opened with the trigger already lost: said on that first open.
        let other = dir.path().join("lost-trigger-first.db");
        let other_url = other.display().to_string();
        drop(OpenOptions::new().open(&other_url).unwrap());
        Connection::open(&other)
            .unwrap()
            .execute_batch(&format!("DROP TRIGGER {COPY_TRIGGER}"))
            .unwrap();
        warnings_about("lost-trigger-first");
        // The process has looked at it (at its creation); forget that by opening a copy.
        let copy = dir.path().join("lost-trigger-first-copy.db");
        std::fs::copy(&other, &copy).unwrap();
        drop(OpenOptions::new().open(copy.to_str().unwrap()).unwrap());
        assert_eq!(warnings_about("lost-trigger-first-copy").len(), 1);
        drop(OpenOptions::new().open(copy.to_str().unwrap()).unwrap());
        assert_eq!(
            warnings_about("lost-trigger-first-copy").len(),
            1,
            "once per file"
        );
    }
}
