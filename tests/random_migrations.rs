//! Random migrations over tables with random foreign keys: whatever a sequence of `CREATE`,
//! `DROP` and `RENAME` does, the library either runs it with exactly the rows the same SQL
//! leaves with foreign keys off (what its author meant), or refuses it and changes nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::rusqlite::Connection;
use pipeline_store::rusqlite::types::Value;
use proptest::prelude::*;

/// What a child's foreign key does when its parent row goes.
const ACTIONS: [&str; 5] = [
    "CASCADE",
    "SET NULL",
    "SET DEFAULT",
    "NO ACTION",
    "RESTRICT",
];

/// How the migration's author switched foreign keys off, if at all.
const HEADERS: [&str; 4] = [
    "",
    "-- foreign-keys: off\n",
    "PRAGMA foreign_keys=OFF;\n",
    "PRAGMA defer_foreign_keys=ON;\npragma main.foreign_keys = 0;\n",
];

/// A table of the starting schema: which earlier table (or itself) each of its keys references,
/// and with what action.
#[derive(Debug, Clone)]
struct Start {
    keys: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
enum Op {
    /// A new table whose key references a live table, filled with one row per parent row.
    Create {
        parent: usize,
        action: usize,
    },
    /// A copy of a live table under a new name, referencing it (the first half of a rebuild).
    Copy {
        table: usize,
        action: usize,
    },
    Drop(usize),
    Rename(usize),
}

fn start() -> impl Strategy<Value = Vec<Start>> {
    (1..5usize).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                prop::collection::vec((0..=i, 0..ACTIONS.len()), 0..3)
                    .prop_map(|keys| Start { keys })
            })
            .collect::<Vec<_>>()
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..8usize, 0..ACTIONS.len()).prop_map(|(parent, action)| Op::Create { parent, action }),
        2 => (0..8usize, 0..ACTIONS.len()).prop_map(|(table, action)| Op::Copy { table, action }),
        3 => (0..8usize).prop_map(Op::Drop),
        2 => (0..8usize).prop_map(Op::Rename),
    ]
}

/// The starting schema and its rows: table `t{i}` has rows 1 and 2; each key column `k{j}`
/// points at the same row of its parent (a self-reference at the row itself).
fn start_sql(tables: &[Start]) -> String {
    let mut sql = String::new();
    for (i, table) in tables.iter().enumerate() {
        let mut columns = vec!["id INTEGER PRIMARY KEY".to_owned()];
        for (j, (parent, action)) in table.keys.iter().enumerate() {
            columns.push(format!(
                "k{j} INTEGER DEFAULT 0 REFERENCES t{parent} (id) ON DELETE {}",
                ACTIONS[*action]
            ));
        }
        let _ = writeln!(sql, "CREATE TABLE t{i} ({});", columns.join(", "));
        let keys: Vec<String> = (0..table.keys.len()).map(|j| format!(", k{j}")).collect();
        for row in 1..=2 {
            let values = format!(", {row}").repeat(table.keys.len());
            let _ = writeln!(
                sql,
                "INSERT INTO t{i} (id{}) VALUES ({row}{values});",
                keys.concat()
            );
        }
    }
    sql
}

/// The migration's SQL: `ops` resolved against the tables alive as each runs.
fn migration_sql(header: &str, tables: usize, ops: &[Op]) -> String {
    let mut live: Vec<String> = (0..tables).map(|i| format!("t{i}")).collect();
    let mut fresh = 0;
    let mut name = |prefix: &str| {
        fresh += 1;
        format!("{prefix}{fresh}")
    };
    let mut sql = header.to_owned();
    for op in ops {
        match *op {
            Op::Create { parent, action } if !live.is_empty() => {
                let parent = live[parent % live.len()].clone();
                let table = name("c");
                let _ = writeln!(
                    sql,
                    "CREATE TABLE {table} (id INTEGER PRIMARY KEY, p INTEGER DEFAULT 0 REFERENCES {parent} (id) ON DELETE {});\n\
                     INSERT INTO {table} (id, p) SELECT id, id FROM {parent};",
                    ACTIONS[action]
                );
                live.push(table);
            }
            Op::Copy { table, action } if !live.is_empty() => {
                let from = live[table % live.len()].clone();
                let copy = name("n");
                let _ = writeln!(
                    sql,
                    "CREATE TABLE {copy} (id INTEGER PRIMARY KEY, p INTEGER DEFAULT 0 REFERENCES {from} (id) ON DELETE {});\n\
                     INSERT INTO {copy} (id, p) SELECT id, id FROM {from};",
                    ACTIONS[action]
                );
                live.push(copy);
            }
            Op::Drop(table) if !live.is_empty() => {
                let table = live.remove(table % live.len());
                let _ = writeln!(sql, "DROP TABLE {table};");
            }
            Op::Rename(table) if !live.is_empty() => {
                let i = table % live.len();
                let to = name("r");
                let _ = writeln!(sql, "ALTER TABLE {} RENAME TO {to};", live[i]);
                live[i] = to;
            }
            _ => {}
        }
    }
    sql
}

/// Every table's rows (the history table aside).
fn dump(conn: &Connection) -> BTreeMap<String, Vec<Vec<Value>>> {
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite%' AND name <> '_sqlx_migrations' ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    tables
        .into_iter()
        .map(|table| {
            let mut statement = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY id"))
                .expect("select");
            let width = statement.column_count();
            let rows = statement
                .query_map([], |r| (0..width).map(|i| r.get(i)).collect())
                .and_then(Iterator::collect)
                .expect("rows");
            (table, rows)
        })
        .collect()
}

fn database(start: &str, foreign_keys: bool) -> Connection {
    let conn = Connection::open_in_memory().expect("memory");
    conn.pragma_update(None, "foreign_keys", false)
        .expect("off");
    conn.execute_batch(start).expect("start schema");
    conn.pragma_update(None, "foreign_keys", foreign_keys)
        .expect("pragma");
    conn
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_drops_and_renames_never_lose_a_row_silently(
        tables in start(),
        header in 0..HEADERS.len(),
        ops in prop::collection::vec(op(), 1..7),
    ) {
        let start = start_sql(&tables);
        let sql = migration_sql(HEADERS[header], tables.len(), &ops);

        // What the author meant: the same SQL with foreign keys off, in one transaction.
        let author = database(&start, false);
        let meant = author.execute_batch(&format!("BEGIN;\n{sql}\nCOMMIT;"));
        prop_assume!(meant.is_ok());
        let expected = dump(&author);

        let mut conn = database(&start, true);
        let before = dump(&conn);
        let migrator = Migrator::new(vec![Migration::new(1, "random", sql.clone())])
            .expect("migrator");
        match migrator.run(&mut conn) {
            Ok(_) => prop_assert_eq!(dump(&conn), expected, "silent loss:\n{}{}", start, sql),
            Err(error) => prop_assert_eq!(
                dump(&conn),
                before,
                "refused ({}) but changed rows:\n{}{}",
                error,
                start,
                sql
            ),
        }
    }
}
