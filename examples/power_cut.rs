//! Power cuts, simulated: what a database, its backups and restores hold when the power goes at
//! any moment, under `synchronous=NORMAL` and `FULL`.
//!
//! ```sh
//! scripts/test-power-loss            # builds the recording library and runs this
//! ```
//!
//! Each scenario runs once in a child process with the recording library
//! (`power-cut/shim`, loaded with `LD_PRELOAD`), which logs every write, truncate, sync, rename,
//! link and unlink under the scenario's directory, in order, with marks the child writes (a
//! phase starts, a commit is acknowledged and what the data looks like after it). Then, for cut
//! points spread over every phase, this program builds the files as a power cut at that point
//! would leave them, and opens them with the library, the normal way.
//!
//! A file's image is its content as of its last sync, plus any subset of its later writes and
//! truncates (in order), one in eight of the later writes kept torn at 512-byte sectors; a rename, link, unlink or
//! file creation is kept once its directory is synced, and of the later ones a prefix survives
//! (file systems journal them in order). A cut in "drop" mode keeps nothing unsynced, which
//! must lose commits under `NORMAL`: the proof that the simulation can fail.
//!
//! Asserted for every image: it opens (or is refused with a typed error), `integrity_check` and
//! `foreign_key_check` are clean, every pipeline is whole, the data equals the data after some
//! commit, no commit a sync made durable is lost (every acknowledged one under `FULL`), a
//! published backup or restored copy is whole, and after a clean close another database copied
//! over the `.db` reads as itself.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::too_many_lines,
    reason = "a test harness over small logs on 64-bit machines, read top to bottom"
)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};

use pipeline_store::migrate::{Migration, Migrator};
use pipeline_store::model::{NewPipeline, NewStage, StageType};
use pipeline_store::repo::{self, pipelines};
use pipeline_store::rusqlite::Connection;
use pipeline_store::schema::{self, OpenOptions, Synchronous};

const DB: &str = "pipelines.db";
const MARK_FILE: &str = ".power-cut-mark";
const SCENARIOS: [&str; 4] = ["lifecycle", "backup", "restore", "no-transaction"];
const LEVELS: [&str; 2] = ["normal", "full"];

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("record") if args.len() == 4 => record(&args[1], Path::new(&args[2]), &args[3]),
        Some("run") if args.len() >= 3 => {
            let points = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(12);
            run(Path::new(&args[1]), Path::new(&args[2]), points)
        }
        _ => Err(
            "usage: power_cut run SHIM WORKDIR [POINTS_PER_PHASE] | record SCENARIO DIR LEVEL"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("power_cut: {e}");
            ExitCode::FAILURE
        }
    }
}

fn level(name: &str) -> Synchronous {
    if name == "full" {
        Synchronous::Full
    } else {
        Synchronous::Normal
    }
}

fn options(sync: &str) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.synchronous(level(sync));
    o
}

// ---------------------------------------------------------------------------------------------
// The data, and what it looks like.

/// Pipeline `i`: `i % 4 + 1` stages of two parameters, two configuration rows, one tag.
fn aggregate(i: usize) -> NewPipeline {
    let mut new = NewPipeline::new(format!("p{i:03}"))
        .config("source", format!("/in/{i}"))
        .config("workers", "4")
        .tag(format!("t{}", i % 3));
    for s in 0..=(i % 4) {
        new = new.stage(
            NewStage::new(format!("s{s}"), StageType::parse("checksum"), "sha256")
                .parameter("level", s.to_string())
                .parameter("pad", "x".repeat(300)),
        );
    }
    new
}

/// Every pipeline, archived ones too, in one canonical text; whole means each has the stages
/// its number says.
fn state(conn: &Connection) -> Result<(u64, String), Failure> {
    let mut query = pipelines::ListQuery::default();
    query.status = pipelines::Status::All;
    query.limit = 100_000;
    let mut text = String::new();
    for p in pipelines::list_full(conn, &query)? {
        let number: usize = p.name.trim_start_matches(['p', 'r']).parse()?;
        if p.stages.len() != number % 4 + 1 {
            return Err(format!(
                "pipeline {} has {} of its {} stages",
                p.name,
                p.stages.len(),
                number % 4 + 1
            )
            .into());
        }
        write!(
            text,
            "{}|{}|{:?}|{:?}|",
            p.name, p.archived, p.configuration, p.tags
        )?;
        for s in &p.stages {
            write!(
                text,
                "{}:{}:{}:{:?};",
                s.name, s.algorithm, s.order, s.parameters
            )?;
        }
        text.push('\n');
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    Ok((h.finish(), text))
}

// ---------------------------------------------------------------------------------------------
// The recorded child.

struct Marks(std::fs::File);

impl Marks {
    fn say(&mut self, line: &str) {
        self.0
            .write_all(format!("{line}\n").as_bytes())
            .expect("mark");
    }

    fn ack(&mut self, db: &str, n: i64, conn: &Connection) -> Result<(), Failure> {
        let (digest, _) = state(conn)?;
        self.say(&format!("ack {db} {n} {digest:016x}"));
        Ok(())
    }
}

/// Commit `i` on `conn`: pipeline `i` created, and every few commits an earlier one archived,
/// renamed or deleted, in one transaction.
fn commit(conn: &Connection, i: usize, live: &mut BTreeMap<usize, String>) -> Result<(), Failure> {
    let tx = repo::write_transaction(conn)?;
    let created = pipelines::create(&tx, &aggregate(i))?;
    live.insert(i, created.name);
    let earlier = |k: usize| i.checked_sub(k);
    if i % 5 == 4
        && let Some(name) = earlier(2).and_then(|j| live.get(&j))
    {
        let p = pipelines::find_by_name(&tx, name)?.ok_or("gone")?;
        pipelines::archive(&tx, &p.id)?;
    }
    if i % 7 == 6
        && let Some(j) = earlier(3).filter(|j| live.contains_key(j))
    {
        let p = pipelines::find_by_name(&tx, &live[&j])?.ok_or("gone")?;
        let renamed = format!("r{j:03}");
        pipelines::rename(&tx, &p.id, &renamed)?;
        live.insert(j, renamed);
    }
    if i % 11 == 10
        && let Some(j) = earlier(5).filter(|j| live.contains_key(j))
    {
        let p = pipelines::find_by_name(&tx, &live[&j])?.ok_or("gone")?;
        pipelines::delete(&tx, &p.id)?;
        live.remove(&j);
    }
    tx.commit()?;
    Ok(())
}

fn commits(
    conn: &Connection,
    db: &str,
    range: std::ops::Range<usize>,
    live: &mut BTreeMap<usize, String>,
    marks: &mut Marks,
) -> Result<(), Failure> {
    for i in range {
        marks.say(&format!("begin {db} {i}"));
        commit(conn, i, live)?;
        marks.ack(db, i as i64, conn)?;
    }
    Ok(())
}

fn host_migrator() -> Migrator {
    Migrator::new(vec![
        Migration::new(
            1,
            "host items",
            "CREATE TABLE host_items (id INTEGER PRIMARY KEY, label TEXT NOT NULL);",
        ),
        Migration::new(
            2,
            "host backfill",
            "-- no-transaction\nCREATE INDEX host_items_label ON host_items (label);\n\
             INSERT INTO host_items (label) VALUES ('a'), ('b'), ('c');\n",
        ),
    ])
    .and_then(|m| m.history_table("host_history"))
    .expect("host migrations")
    .after(schema::migrator())
}

fn record(scenario: &str, dir: &Path, sync: &str) -> Result<(), Failure> {
    let mut marks = Marks(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(MARK_FILE))?,
    );
    let db = dir.join(DB);
    let mut live = BTreeMap::new();
    match scenario {
        "lifecycle" => {
            marks.say("phase create");
            schema::create_database_if_missing(&db.display().to_string())?;
            marks.say("phase migrate");
            let conn = options(sync).open_path(&db)?;
            marks.ack(DB, -1, &conn)?;
            marks.say("phase writes");
            commits(&conn, DB, 0..24, &mut live, &mut marks)?;
            marks.say("phase checkpoint");
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            marks.say("phase writes-after-checkpoint");
            commits(&conn, DB, 24..36, &mut live, &mut marks)?;
            marks.say("phase close");
            drop(conn);
            marks.say("phase after-close");
        }
        "backup" => {
            let conn = options(sync).open_path(&db)?;
            for i in 0..20 {
                live.insert(i, format!("p{i:03}"));
            }
            marks.ack(DB, 19, &conn)?;
            marks.say("phase writes");
            commits(&conn, DB, 20..26, &mut live, &mut marks)?;
            marks.say("phase backup");
            let (digest, _) = state(&conn)?;
            marks.say(&format!("backup backup.db {digest:016x}"));
            schema::backup(&conn, dir.join("backup.db"))?;
            marks.say("published backup.db");
            marks.say("phase writes-after-backup");
            commits(&conn, DB, 26..32, &mut live, &mut marks)?;
            marks.say("phase close");
            drop(conn);
            marks.say("phase after-close");
        }
        "restore" => {
            marks.say("phase restore");
            let saved = OpenOptions::new()
                .read_only(true)
                .migrate(false)
                .create_if_missing(false)
                .open_path(dir.join("saved.db"))?;
            let (digest, _) = state(&saved)?;
            marks.say(&format!("backup restored.db {digest:016x}"));
            schema::backup(&saved, dir.join("restored.db"))?;
            drop(saved);
            marks.say("published restored.db");
            marks.say(&format!("ack restored.db 2 {digest:016x}"));
            marks.say("phase writes-on-restored");
            let conn = options(sync).open_path(dir.join("restored.db"))?;
            for i in 0..3 {
                live.insert(i, format!("p{i:03}"));
            }
            commits(&conn, "restored.db", 3..9, &mut live, &mut marks)?;
            marks.say("phase close");
            drop(conn);
            marks.say("phase after-close");
        }
        "no-transaction" => {
            marks.say("phase host-migrations");
            let host = host_migrator();
            let conn = options(sync).open_path_with_migrators(&db, &[schema::migrator(), &host])?;
            marks.say("phase close");
            drop(conn);
            marks.say("phase after-close");
        }
        other => return Err(format!("no scenario {other}").into()),
    }
    Ok(())
}

/// The files a scenario starts from, written and closed before recording starts (so durable).
fn prepare(scenario: &str, dir: &Path) -> Result<(), Failure> {
    let fill = |path: &Path, range: std::ops::Range<usize>| -> Result<(), Failure> {
        let conn = OpenOptions::new().open_path(path)?;
        for i in range {
            pipelines::create(&conn, &aggregate(i))?;
        }
        Ok(())
    };
    match scenario {
        "backup" => fill(&dir.join(DB), 0..20),
        "restore" => {
            fill(&dir.join(DB), 0..10)?;
            fill(&dir.join("saved.db"), 0..3)
        }
        "no-transaction" => fill(&dir.join(DB), 0..5),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The log.

#[derive(Debug, Clone)]
enum Op {
    Open {
        fd: i32,
        truncate: bool,
        path: String,
    },
    Close {
        fd: i32,
    },
    Write {
        fd: i32,
        offset: u64,
        data: Vec<u8>,
    },
    Truncate {
        fd: i32,
        len: u64,
    },
    Sync {
        fd: i32,
    },
    Rename {
        from: String,
        to: String,
    },
    Link {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Mark(String),
}

fn read_log(path: &Path, dir: &Path) -> Result<Vec<Op>, Failure> {
    let bytes = std::fs::read(path)?;
    let prefix = format!("{}/", dir.display());
    let name = |b: &[u8]| -> String {
        let s = String::from_utf8_lossy(b).into_owned();
        s.strip_prefix(&prefix).map_or_else(
            || {
                if s == prefix.trim_end_matches('/') {
                    String::new()
                } else {
                    s.clone()
                }
            },
            str::to_owned,
        )
    };
    let mut ops = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let kind = bytes[at];
        let fd = i32::from_le_bytes(bytes[at + 1..at + 5].try_into()?);
        let a = u64::from_le_bytes(bytes[at + 5..at + 13].try_into()?);
        let len = u32::from_le_bytes(bytes[at + 21..at + 25].try_into()?) as usize;
        let data = &bytes[at + 25..at + 25 + len];
        at += 25 + len;
        let split = || {
            let nul = data.iter().position(|&c| c == 0).unwrap_or(data.len());
            (name(&data[..nul]), name(&data[(nul + 1).min(data.len())..]))
        };
        ops.push(match kind {
            1 => Op::Open {
                fd,
                truncate: (a as i32) & 0o1000 != 0,
                path: name(data),
            },
            2 => Op::Close { fd },
            3 => Op::Write {
                fd,
                offset: a,
                data: data.to_vec(),
            },
            4 => Op::Truncate { fd, len: a },
            5 => Op::Sync { fd },
            6 => {
                let (from, to) = split();
                Op::Rename { from, to }
            }
            7 => Op::Unlink { path: name(data) },
            8 => {
                let (from, to) = split();
                Op::Link { from, to }
            }
            9 => {
                for line in String::from_utf8_lossy(data).lines() {
                    ops.push(Op::Mark(line.to_owned()));
                }
                continue;
            }
            k => return Err(format!("log record of kind {k}").into()),
        });
    }
    Ok(ops)
}

// ---------------------------------------------------------------------------------------------
// Images.

/// A small deterministic generator (xorshift), seeded per cut.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Keep {
    /// Any subset of what was not synced, writes torn at sectors.
    Random(u64),
    /// Nothing that was not synced.
    Drop,
}

enum ContentOp {
    Write(u64, Vec<u8>),
    Truncate(u64),
}

/// A file's content when the log starts, its changes (log index, change), and its last sync.
type Inode = (Vec<u8>, Vec<(usize, ContentOp)>, Option<usize>);

/// The files under the directory as a power cut after the first `cut` operations leaves them.
fn image(
    base: &BTreeMap<String, Vec<u8>>,
    ops: &[Op],
    cut: usize,
    keep: Keep,
) -> BTreeMap<String, Vec<u8>> {
    const DIR: usize = usize::MAX;
    let mut inodes: Vec<Inode> = Vec::new();
    let mut live: HashMap<String, usize> = HashMap::new();
    let mut start: BTreeMap<String, usize> = BTreeMap::new();
    for (name, content) in base {
        live.insert(name.clone(), inodes.len());
        start.insert(name.clone(), inodes.len());
        inodes.push((content.clone(), Vec::new(), None));
    }
    let mut names: Vec<(usize, Op, usize)> = Vec::new(); // (index, op, inode)
    let mut dir_synced = 0; // names[..dir_synced] are durable
    let mut fds: HashMap<i32, usize> = HashMap::new();
    for (i, op) in ops[..cut].iter().enumerate() {
        match op {
            Op::Open { fd, truncate, path } => {
                if path.is_empty() {
                    fds.insert(*fd, DIR);
                    continue;
                }
                let inode = if let Some(&n) = live.get(path) {
                    n
                } else {
                    let n = inodes.len();
                    inodes.push((Vec::new(), Vec::new(), None));
                    live.insert(path.clone(), n);
                    names.push((i, op.clone(), n));
                    n
                };
                if *truncate {
                    inodes[inode].1.push((i, ContentOp::Truncate(0)));
                }
                fds.insert(*fd, inode);
            }
            Op::Close { fd } => {
                fds.remove(fd);
            }
            Op::Write { fd, offset, data } => {
                let n = fds[fd];
                inodes[n]
                    .1
                    .push((i, ContentOp::Write(*offset, data.clone())));
            }
            Op::Truncate { fd, len } => {
                let n = fds[fd];
                inodes[n].1.push((i, ContentOp::Truncate(*len)));
            }
            Op::Sync { fd } => match fds[fd] {
                DIR => dir_synced = names.len(),
                n => inodes[n].2 = Some(i),
            },
            Op::Rename { from, to } => {
                let n = live.remove(from).expect("renamed file");
                live.insert(to.clone(), n);
                names.push((i, op.clone(), n));
            }
            Op::Link { from, to } => {
                let n = live[from];
                live.insert(to.clone(), n);
                names.push((i, op.clone(), n));
            }
            Op::Unlink { path } => {
                let n = live.remove(path).unwrap_or(usize::MAX);
                names.push((i, op.clone(), n));
            }
            Op::Mark(_) => {}
        }
    }
    let mut rng = Rng::new(match keep {
        Keep::Random(seed) => seed,
        Keep::Drop => 1,
    });
    let kept_names = match keep {
        Keep::Drop => dir_synced,
        Keep::Random(_) => dir_synced + (rng.next() as usize) % (names.len() - dir_synced + 1),
    };
    let mut namespace = start;
    for (_, op, inode) in &names[..kept_names] {
        match op {
            Op::Open { path, .. } => {
                namespace.insert(path.clone(), *inode);
            }
            Op::Rename { from, to } => {
                if let Some(n) = namespace.remove(from) {
                    namespace.insert(to.clone(), n);
                }
            }
            Op::Link { from, to } => {
                if let Some(&n) = namespace.get(from) {
                    namespace.insert(to.clone(), n);
                }
            }
            Op::Unlink { path } => {
                namespace.remove(path);
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for (name, inode) in namespace {
        if name.ends_with("-shm") || name == MARK_FILE {
            continue;
        }
        let (content, changes, synced) = &inodes[inode];
        let mut bytes = content.clone();
        for (i, change) in changes {
            let durable = synced.is_some_and(|s| *i < s);
            // Of the writes not yet synced, half reach the disk, one in eight of those in part.
            let torn = !durable && keep != Keep::Drop && rng.next().is_multiple_of(8);
            if !durable && (keep == Keep::Drop || rng.coin()) {
                continue;
            }
            match change {
                ContentOp::Truncate(len) => bytes.resize(*len as usize, 0),
                ContentOp::Write(offset, data) => {
                    let offset = *offset as usize;
                    let end = offset + data.len();
                    if bytes.len() < end {
                        bytes.resize(end, 0);
                    }
                    let mut at = offset;
                    while at < end {
                        let sector_end = ((at / 512) + 1) * 512;
                        let stop = sector_end.min(end);
                        if !torn || rng.coin() {
                            bytes[at..stop].copy_from_slice(&data[at - offset..stop - offset]);
                        }
                        at = stop;
                    }
                }
            }
        }
        out.insert(name, bytes);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Checks.

struct Commit {
    db: String,
    n: i64,
    digest: u64,
    /// The log index of the acknowledgement.
    acked: usize,
    /// The index of the last write to the database or its log before it.
    last_write: usize,
}

struct Analysis {
    commits: Vec<Commit>,
    /// (phase, first index)
    phases: Vec<(String, usize)>,
    /// (file, expected digest, index of the mark saying it is published)
    backups: Vec<(String, u64, Option<usize>)>,
    /// Indices of syncs of each database or its log: (file, index).
    syncs: Vec<(String, usize)>,
}

fn analyse(ops: &[Op]) -> Analysis {
    let mut a = Analysis {
        commits: Vec::new(),
        phases: Vec::new(),
        backups: Vec::new(),
        syncs: Vec::new(),
    };
    let mut fds: HashMap<i32, String> = HashMap::new();
    let mut last_write: HashMap<String, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Open { fd, path, .. } => {
                fds.insert(*fd, path.trim_end_matches("-wal").to_owned());
            }
            Op::Write { fd, .. } | Op::Truncate { fd, .. } => {
                last_write.insert(fds[fd].clone(), i);
            }
            Op::Sync { fd } => a.syncs.push((fds[fd].clone(), i)),
            Op::Mark(text) => {
                let words: Vec<&str> = text.split(' ').collect();
                match words.as_slice() {
                    ["phase", name] => a.phases.push(((*name).to_owned(), i)),
                    ["ack", db, n, digest] => a.commits.push(Commit {
                        db: (*db).to_owned(),
                        n: n.parse().unwrap(),
                        digest: u64::from_str_radix(digest, 16).unwrap(),
                        acked: i,
                        last_write: last_write.get(*db).copied().unwrap_or(0),
                    }),
                    ["backup", file, digest] => {
                        a.backups.push((
                            (*file).to_owned(),
                            u64::from_str_radix(digest, 16).unwrap(),
                            None,
                        ));
                    }
                    ["published", file] => {
                        if let Some(b) = a.backups.iter_mut().find(|b| b.0 == *file) {
                            b.2 = Some(i);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    a
}

#[derive(Default)]
struct Tally {
    images: usize,
    refused: BTreeMap<String, usize>,
    /// phase → (lost commits → cuts)
    lost: BTreeMap<String, BTreeMap<usize, usize>>,
    drop_lost: usize,
    copied_over: usize,
}

fn write_image(files: &BTreeMap<String, Vec<u8>>, dir: &Path) -> Result<(), Failure> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

fn clean(conn: &Connection, what: &str) -> Result<(), Failure> {
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Err(format!("{what}: integrity_check: {integrity}").into());
    }
    let violations: i64 =
        conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?;
    if violations != 0 {
        return Err(format!("{what}: {violations} foreign key violations").into());
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_cut(
    scenario: &str,
    sync: &str,
    ops: &[Op],
    a: &Analysis,
    base: &BTreeMap<String, Vec<u8>>,
    cut: usize,
    keep: Keep,
    scratch: &Path,
    other: &Path,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let files = image(base, ops, cut, keep);
    let phase = a
        .phases
        .iter()
        .rev()
        .find(|p| p.1 < cut)
        .map_or("start", |p| p.0.as_str())
        .to_owned();
    let what = format!(
        "{scenario}/{sync} cut {cut} ({phase}, {})",
        if keep == Keep::Drop {
            "drop".to_owned()
        } else {
            "random".to_owned()
        }
    );
    write_image(&files, scratch)?;
    tally.images += 1;
    let dbs: Vec<&str> = [DB, "restored.db"]
        .into_iter()
        .filter(|d| a.commits.iter().any(|c| c.db == *d))
        .collect();
    for db in dbs {
        if !scratch.join(db).exists() {
            // Not created yet, or (a restored copy) not published: nothing may have been acknowledged.
            if let Some(c) = a
                .commits
                .iter()
                .find(|c| c.db == db && c.acked < cut && c.n >= 0)
            {
                return Err(format!(
                    "{what}: {db} is gone though commit {} was acknowledged",
                    c.n
                )
                .into());
            }
            continue;
        }
        let host = host_migrator();
        let migrators: Vec<&Migrator> = if scenario == "no-transaction" {
            vec![schema::migrator(), &host]
        } else {
            vec![schema::migrator()]
        };
        let conn = match options(sync).open_path_with_migrators(scratch.join(db), &migrators) {
            Ok((conn, _)) => conn,
            Err(
                e
                @ (pipeline_store::Error::Migrate(_) | pipeline_store::Error::NotADatabase { .. }),
            ) => {
                *tally
                    .refused
                    .entry(format!(
                        "{phase}: {}",
                        e.to_string()
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .chars()
                            .take(60)
                            .collect::<String>()
                    ))
                    .or_default() += 1;
                let raw = Connection::open(scratch.join(db))?;
                clean(&raw, &what)?;
                continue;
            }
            Err(e) => return Err(format!("{what}: opening {db}: {e}").into()),
        };
        clean(&conn, &what)?;
        let (digest, text) = state(&conn).map_err(|e| format!("{what}: {e}"))?;
        let mine: Vec<&Commit> = a.commits.iter().filter(|c| c.db == db).collect();
        let begun = mine
            .iter()
            .rposition(|c| c.acked < cut)
            .map_or(0, |p| p + 1)
            .min(mine.len() - 1);
        // States that could be on disk: any up to the one in flight at the cut.
        let Some(found) = mine[..=begun].iter().rposition(|c| c.digest == digest) else {
            return Err(format!("{what}: {db} holds no acknowledged state:\n{text}").into());
        };
        let durable = mine.iter().rposition(|c| {
            c.acked < cut
                && a.syncs
                    .iter()
                    .any(|(f, s)| f == db && *s > c.last_write && *s < cut)
        });
        if let Some(d) = durable
            && found < d
        {
            return Err(format!(
                "{what}: {db} lost commit {}, which a sync had made durable (it holds {})",
                mine[d].n, mine[found].n
            )
            .into());
        }
        let acked = mine.iter().filter(|c| c.acked < cut).count();
        let lost = acked.saturating_sub(found + 1);
        if sync == "full" && lost > 0 {
            return Err(format!("{what}: FULL lost {lost} acknowledged commits").into());
        }
        if db == DB {
            if keep == Keep::Drop {
                tally.drop_lost = tally.drop_lost.max(lost);
            } else {
                *tally
                    .lost
                    .entry(format!("{scenario}/{phase}"))
                    .or_default()
                    .entry(lost)
                    .or_default() += 1;
            }
        }
    }
    for (file, digest, published) in &a.backups {
        if file == "restored.db" {
            continue; // checked with the commits above
        }
        let path = scratch.join(file);
        if !path.exists() {
            if published.is_some_and(|p| p < cut) {
                return Err(format!("{what}: {file} was published but is gone").into());
            }
            continue;
        }
        let conn = OpenOptions::new()
            .read_only(true)
            .migrate(false)
            .open_path(&path)?;
        clean(&conn, &what)?;
        let (found, _) = state(&conn)?;
        if found != *digest {
            return Err(format!("{what}: {file} is published but not whole").into());
        }
    }
    // After a clean close the `.db` alone is the database: another one copied over it reads as itself.
    if phase == "after-close" && scenario == "lifecycle" {
        write_image(&files, scratch)?;
        std::fs::copy(other, scratch.join(DB))?;
        let copied = options(sync)
            .open_path(scratch.join(DB))
            .map_err(|e| format!("{what}: another database copied over {DB}: {e}"))?;
        let (digest, _) = state(&copied)
            .map_err(|e| format!("{what}: another database copied over {DB}: {e}"))?;
        let (expected, _) = state(&Connection::open(other)?)?;
        if digest != expected {
            return Err(format!(
                "{what}: a database copied over {DB} after a clean close reads as the old one"
            )
            .into());
        }
        tally.copied_over += 1;
    }
    Ok(())
}

fn run(shim: &Path, work: &Path, points: usize) -> Result<(), Failure> {
    let shim = std::fs::canonicalize(shim)?;
    std::fs::create_dir_all(work)?;
    let work = std::fs::canonicalize(work)?;
    let other = work.join("other.db");
    if !other.exists() {
        let conn = OpenOptions::new().open_path(&other)?;
        pipelines::create(&conn, &aggregate(900))?;
    }
    let mut failures = Vec::new();
    let mut report = String::new();
    for sync in LEVELS {
        let mut tally = Tally::default();
        for scenario in SCENARIOS {
            let dir = work.join(format!("{scenario}-{sync}"));
            let log = work.join(format!("{scenario}-{sync}.log"));
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(&log);
            std::fs::create_dir_all(&dir)?;
            prepare(scenario, &dir)?;
            let mut base = BTreeMap::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with("-shm") {
                    base.insert(name, std::fs::read(entry.path())?);
                }
            }
            let status = Command::new(std::env::current_exe()?)
                .args(["record", scenario, &dir.display().to_string(), sync])
                .env("LD_PRELOAD", &shim)
                .env("POWER_CUT_DIR", &dir)
                .env("POWER_CUT_LOG", &log)
                .status()?;
            if !status.success() {
                return Err(format!("recording {scenario} under {sync} failed").into());
            }
            let ops = read_log(&log, &dir)?;
            let a = analyse(&ops);
            if a.phases.is_empty() {
                return Err(format!(
                    "{scenario}: the log holds no marks: is the recording library loaded?"
                )
                .into());
            }
            let scratch = work.join("image");
            let mut cuts: Vec<usize> = Vec::new();
            for (k, (_, start)) in a.phases.iter().enumerate() {
                let end = a.phases.get(k + 1).map_or(ops.len() + 1, |p| p.1 + 1);
                let span = end - start;
                for p in 0..points.min(span) {
                    cuts.push(start + 1 + p * span / points.min(span));
                }
            }
            cuts.push(ops.len());
            cuts.sort_unstable();
            cuts.dedup();
            for &cut in &cuts {
                let cut = cut.min(ops.len());
                for keep in [
                    Keep::Random(cut as u64 * 31 + 7),
                    Keep::Random(cut as u64 * 131 + 3),
                    Keep::Drop,
                ] {
                    if let Err(e) = check_cut(
                        scenario, sync, &ops, &a, &base, cut, keep, &scratch, &other, &mut tally,
                    ) {
                        failures.push(e.to_string());
                    }
                }
            }
            // Right after a clean close, many ways.
            if scenario == "lifecycle" {
                for seed in 0..8 {
                    if let Err(e) = check_cut(
                        scenario,
                        sync,
                        &ops,
                        &a,
                        &base,
                        ops.len(),
                        Keep::Random(1000 + seed),
                        &scratch,
                        &other,
                        &mut tally,
                    ) {
                        failures.push(e.to_string());
                    }
                }
            }
            let _ = writeln!(
                report,
                "{sync} {scenario}: {} operations recorded, {} cut points",
                ops.len(),
                cuts.len()
            );
        }
        let _ = writeln!(
            report,
            "{sync}: {} images; copied over after close: {} checked",
            tally.images, tally.copied_over
        );
        for (phase, lost) in &tally.lost {
            let cells: Vec<String> = lost.iter().map(|(l, n)| format!("{l} lost ×{n}")).collect();
            let _ = writeln!(report, "  {phase}: {}", cells.join(", "));
        }
        for (why, n) in &tally.refused {
            let _ = writeln!(report, "  refused ×{n}: {why}");
        }
        let _ = writeln!(
            report,
            "  dropping every unsynced write loses up to {} commits",
            tally.drop_lost
        );
        if sync == "normal" && tally.drop_lost == 0 {
            failures.push("dropping every unsynced write lost no commit under NORMAL: the simulation proves nothing".into());
        }
    }
    print!("{report}");
    if failures.is_empty() {
        println!("power cuts: every image consistent");
        Ok(())
    } else {
        for f in failures.iter().take(20) {
            eprintln!("FAILED: {f}");
        }
        Err(format!("{} of the power-cut checks failed", failures.len()).into())
    }
}
