//! Error messages: the wording users read, pinned.

use std::path::PathBuf;

use pipeline_store::{Error, MigrateError};

#[test]
fn messages_name_what_is_wrong_and_what_to_do() {
    let cases: Vec<(Error, &str)> = vec![
        (
            Error::InvalidUrl {
                url: "sqlite://x?mode=fast".into(),
                reason: "unknown mode `fast` (expected ro, rw, rwc or memory)".into(),
            },
            "invalid database url `sqlite://x?mode=fast`: unknown mode `fast` (expected ro, rw, rwc or memory)",
        ),
        (
            Error::NotADatabase {
                path: PathBuf::from("/data/notes.txt"),
                reason: "it does not start with the SQLite file header".into(),
            },
            "/data/notes.txt is not a SQLite database: it does not start with the SQLite file header; the file was left untouched",
        ),
        (
            Error::DirectoryNotFound {
                path: PathBuf::from("/nope/p.db"),
                directory: PathBuf::from("/nope"),
            },
            "cannot create database file /nope/p.db: directory /nope does not exist",
        ),
        (
            MigrateError::Modified {
                version: 1,
                file: "1_a.sql".into(),
                expected: "aa".into(),
                found: "bb".into(),
            }
            .into(),
            "migration 1 (1_a.sql) was modified after it was applied: the file's checksum is aa but the database \
             recorded bb; restore the file as it was and put the change in a new migration",
        ),
        (
            MigrateError::Missing {
                version: 3,
                description: "create c".into(),
                history: "_sqlx_migrations".into(),
            }
            .into(),
            "migration 3 (create c) is applied to the database but unknown to this build: the database was migrated \
             by a newer version of the application; upgrade the application, or restore the file of migration 3",
        ),
        (
            MigrateError::OutOfOrder {
                version: 2,
                file: "2_b.sql".into(),
                latest: 3,
                history: "_sqlx_migrations".into(),
            }
            .into(),
            "migration 2 (2_b.sql) is not applied but is older than the newest applied migration 3: give it a \
             version after 3 (rename the file) so it runs in order",
        ),
        (
            MigrateError::Dirty {
                version: 4,
                file: "4_d.sql".into(),
                history: "_sqlx_migrations".into(),
            }
            .into(),
            "migration 4 (4_d.sql) is recorded as failed (success = 0 in _sqlx_migrations): an earlier run stopped \
             partway through it; check the schema it should have created, then either finish it by hand and \
             record it with `Migrator::repair` and `DirtyRepair::MarkApplied`, or undo what it did and forget \
             it with `Migrator::repair` and `DirtyRepair::Forget` so it runs again",
        ),
        (
            MigrateError::InvalidFileName {
                file: "init.sql".into(),
                reason: "there is no `_` between the version and the description".into(),
            }
            .into(),
            "invalid migration file name init.sql: there is no `_` between the version and the description \
             (expected `{version}_{description}.sql`)",
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn sqlite_errors_stay_reachable_as_the_source() {
    let conn = pipeline_store::rusqlite::Connection::open_in_memory().expect("memory");
    let raw = conn.execute_batch("SELEC 1").expect_err("syntax error");
    let error = Error::from(raw);
    assert!(matches!(error, Error::Sqlite { .. }));
    assert!(std::error::Error::source(&error).is_some());
    assert!(error.sqlite_error().is_some());
}
