//! `OpenOptions`: how a database is opened, the pragmas every connection gets, and the order
//! in which an open validates, switches the journal mode and migrates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{debug, warn};
use rusqlite::Connection;

use super::backup::backup_if_pending;
use super::file::{not_a_database, open_file};
use super::url::{DatabaseUrl, Location, Mode};
use super::{media, migrator};
use crate::error::{Error, Result};
use crate::migrate::{MigrateError, MigrationReport, Migrator, Plan};

/// Refuses sets that would share a history table: each set's checks need its own.
pub(super) fn shared_history(migrators: &[&Migrator]) -> Result<()> {
    for (i, a) in migrators.iter().enumerate() {
        if migrators[..i].iter().any(|b| {
            b.history_table_name()
                .eq_ignore_ascii_case(a.history_table_name())
        }) {
            return Err(crate::migrate::MigrateError::SharedHistoryTable {
                history: a.history_table_name().to_owned(),
            }
            .into());
        }
    }
    Ok(())
}

/// How many prepared statements each connection keeps: every repository statement fits.
const STATEMENT_CACHE_CAPACITY: usize = 96;

/// SQLite's journal modes (`PRAGMA journal_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum JournalMode {
    /// Write-ahead log: readers never block the writer. The default for files.
    #[default]
    Wal,
    /// Rollback journal, deleted after each transaction (SQLite's own default).
    Delete,
    /// Rollback journal, truncated after each transaction.
    Truncate,
    /// Rollback journal, its header zeroed after each transaction.
    Persist,
    /// Rollback journal in memory.
    Memory,
    /// No journal: a crash can corrupt the database.
    Off,
}

impl JournalMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Wal => "wal",
            Self::Delete => "delete",
            Self::Truncate => "truncate",
            Self::Persist => "persist",
            Self::Memory => "memory",
            Self::Off => "off",
        }
    }
}

/// SQLite's `PRAGMA synchronous` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// No syncs.
    Off,
    /// Sync at checkpoints; in WAL mode a power loss can lose the last commits but never
    /// corrupts. The default.
    #[default]
    Normal,
    /// Sync at every commit.
    Full,
    /// Like `Full`, and also sync the directory after unlinking a journal.
    Extra,
}

impl Synchronous {
    /// The pragmas every connection starts with: foreign keys on, this level, and a 64 MB
    /// `journal_size_limit` (after a checkpoint the write-ahead log is cut back to it, and on
    /// the last close to nothing). One batch of constant text: no statement is built at run time.
    fn pragmas(self) -> &'static str {
        macro_rules! pragmas {
            ($level:literal) => {
                concat!(
                    "PRAGMA foreign_keys = ON; PRAGMA synchronous = ",
                    $level,
                    "; PRAGMA journal_size_limit = 67108864;"
                )
            };
        }
        match self {
            Self::Off => pragmas!("OFF"),
            Self::Normal => pragmas!("NORMAL"),
            Self::Full => pragmas!("FULL"),
            Self::Extra => pragmas!("EXTRA"),
        }
    }
}

/// Keeps the write-ahead log's files when the last connection closes (see
/// [`OpenOptions::persistent_wal`]). A VFS that does not know the request keeps its own
/// behaviour, which is only slower.
fn persist_wal(conn: &Connection) {
    let mut on: std::ffi::c_int = 1;
    if let Err(e) = conn.file_control(
        Some(rusqlite::MAIN_DB),
        rusqlite::FileControl::PersistWal(&mut on),
    ) {
        debug!("persistent write-ahead log not available: {e}");
    }
}

/// Whether `PRAGMA foreign_keys = ON` took effect on this process's SQLite, once known.
static FOREIGN_KEYS_CHECKED: AtomicBool = AtomicBool::new(false);

/// Fails with [`Error::ForeignKeysUnavailable`] when `PRAGMA foreign_keys = ON` did not take
/// effect on `conn`.
///
/// On a new connection (never inside a transaction, where SQLite ignores the switch) the only
/// thing that can stop it is how SQLite was compiled (`SQLITE_OMIT_FOREIGN_KEY`), which is the
/// same for every connection of a process: so the first connection reads the value back and the
/// others rely on its answer. A failed check is never remembered and fails every open.
fn foreign_keys_enforced(conn: &Connection) -> Result<()> {
    if FOREIGN_KEYS_CHECKED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let value: i64 = conn.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
    if value != 1 {
        return Err(Error::ForeignKeysUnavailable { value });
    }
    FOREIGN_KEYS_CHECKED.store(true, Ordering::Relaxed);
    Ok(())
}

/// How to open a database: a builder whose setters return `&mut Self`.
///
/// ```
/// use std::time::Duration;
/// use pipeline_store::schema::OpenOptions;
///
/// let dir = tempfile::tempdir()?;
/// let url = format!("sqlite://{}", dir.path().join("pipelines.db").display());
/// let conn = OpenOptions::new().busy_timeout(Duration::from_secs(30)).open(&url)?;
/// let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
/// assert_eq!(mode, "wal");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "a builder of independent switches, as std::fs::OpenOptions is"
)]
pub struct OpenOptions {
    create_if_missing: bool,
    read_only: bool,
    busy_timeout: Duration,
    journal_mode: JournalMode,
    synchronous: Synchronous,
    migrate: bool,
    backup_dir: Option<PathBuf>,
    rehearse: bool,
    persistent_wal: bool,
    mmap_size: Option<u64>,
    cache_size_kib: Option<u32>,
    on_connect: Option<OnConnect>,
}

/// A host's callback for every new connection, before any migration runs.
#[derive(Clone)]
struct OnConnect(Arc<ConnectionHook>);

/// What [`OpenOptions::on_connect`] keeps.
type ConnectionHook = dyn Fn(&Connection) -> rusqlite::Result<()> + Send + Sync;

impl std::fmt::Debug for OnConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnConnect(..)")
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Create when missing, read-write, 5 s busy timeout, WAL, `synchronous=NORMAL`, migrate.
    #[must_use]
    pub fn new() -> Self {
        Self {
            create_if_missing: true,
            read_only: false,
            busy_timeout: Duration::from_secs(5),
            journal_mode: JournalMode::Wal,
            synchronous: Synchronous::Normal,
            migrate: true,
            backup_dir: None,
            rehearse: false,
            persistent_wal: true,
            mmap_size: None,
            cache_size_kib: None,
            on_connect: None,
        }
    }

    /// Whether a missing file is created (default `true`).
    pub fn create_if_missing(&mut self, create: bool) -> &mut Self {
        self.create_if_missing = create;
        self
    }

    /// Open read-only (default `false`): the database file is never written, not even the
    /// journal mode, and pending migrations are reported instead of applied. (Reading a WAL
    /// database, SQLite creates its `-wal` and `-shm` files beside it where the directory is
    /// writable; on read-only media the file is read as immutable when that is safe.)
    pub fn read_only(&mut self, read_only: bool) -> &mut Self {
        self.read_only = read_only;
        self
    }

    /// How long a statement waits for another connection's lock (default 5 s).
    pub fn busy_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.busy_timeout = timeout;
        self
    }

    /// The journal mode set on files opened for writing (default [`JournalMode::Wal`]).
    pub fn journal_mode(&mut self, mode: JournalMode) -> &mut Self {
        self.journal_mode = mode;
        self
    }

    /// The `synchronous` level (default [`Synchronous::Normal`]).
    pub fn synchronous(&mut self, level: Synchronous) -> &mut Self {
        self.synchronous = level;
        self
    }

    /// Whether the write-ahead log's files stay beside the database when the last connection
    /// closes (default `true`).
    ///
    /// The last connection to close checkpoints the log into the database either way, so the
    /// `.db` file alone is then complete and can be copied. With `true` the `-wal` file is cut
    /// to zero bytes instead of deleted and the `-shm` file is kept, which spares the next open
    /// creating both (see the README's performance section); with `false` SQLite deletes them.
    /// Applies to files opened for writing in [`JournalMode::Wal`].
    pub fn persistent_wal(&mut self, persistent: bool) -> &mut Self {
        self.persistent_wal = persistent;
        self
    }

    /// Lets SQLite read up to `bytes` of the file through a memory map instead of `read` calls
    /// (`PRAGMA mmap_size`; default: not set, SQLite's own default of 0).
    ///
    /// Reads of pages the operating system already caches then cost no system call and no copy:
    /// a lookup in a 100,000-pipeline database costs about a fifth less (see the README's
    /// performance section). The price, and why it is not the default: an I/O error on a mapped
    /// page (a failing disk, a file truncated by another program) stops the process with
    /// `SIGBUS` instead of returning an error; the mapped pages count in the process's resident
    /// memory (they are the page cache's, and shared); and writes gain nothing, since they go
    /// through the write-ahead log. SQLite caps the value at its compile-time maximum.
    pub fn mmap_size(&mut self, bytes: u64) -> &mut Self {
        self.mmap_size = Some(bytes);
        self
    }

    /// The most memory each connection's page cache may hold, in kibibytes (`PRAGMA cache_size = -N`;
    /// default: not set, SQLite's own 2,000 kibibytes).
    ///
    /// A long-lived connection that reads a large database over and over keeps more of it at
    /// hand; the memory is taken only as pages are read, and is per connection (a pool of 8
    /// holds up to 8 times this).
    pub fn cache_size_kib(&mut self, kib: u32) -> &mut Self {
        self.cache_size_kib = Some(kib);
        self
    }

    /// Runs `f` on every connection this opens (the pool's too), after the pragmas and before
    /// any migration: to register functions and collations the host's migrations or queries
    /// use, or to set pragmas of its own. An error from `f` fails the open.
    ///
    /// ```
    /// use pipeline_store::rusqlite::functions::FunctionFlags;
    /// use pipeline_store::schema::OpenOptions;
    ///
    /// let conn = OpenOptions::new()
    ///     .on_connect(|conn| {
    ///         conn.create_scalar_function("shout", 1, FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
    ///             Ok(ctx.get::<String>(0)?.to_uppercase())
    ///         })
    ///     })
    ///     .open(":memory:")?;
    /// let loud: String = conn.query_row("SELECT shout('hi')", [], |r| r.get(0))?;
    /// assert_eq!(loud, "HI");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_connect(
        &mut self,
        f: impl Fn(&Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    ) -> &mut Self {
        self.on_connect = Some(OnConnect(Arc::new(f)));
        self
    }

    /// Whether the embedded migrations are applied on open (default `true`).
    pub fn migrate(&mut self, migrate: bool) -> &mut Self {
        self.migrate = migrate;
        self
    }

    /// Before applying migrations to a file database that already holds tables, copy it into
    /// `dir` with [`backup`](super::backup), as `{file name}.before-{first pending}-to-{last pending}.db`
    /// (`-2`, `-3`... appended when that name is taken). An upgrade then never costs a user
    /// their data: if it goes wrong, the copy is the database as it was. Nothing is copied when
    /// nothing is pending or the database is empty.
    pub fn backup_before_migrate(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.backup_dir = Some(dir.into());
        self
    }

    /// Before applying migrations to a file database, rehearse them on a copy
    /// ([`Migrator::rehearse`]) and refuse the upgrade with [`Error::RehearsalRefused`] (and the
    /// report) when a table would lose rows, a migration would fail or a check would: the real
    /// file is then never touched. Costs a copy of the database on every open that has
    /// migrations pending (none otherwise). Default `false`.
    pub fn rehearse_before_migrate(&mut self, rehearse: bool) -> &mut Self {
        self.rehearse = rehearse;
        self
    }

    /// Opens the database at `url` and, unless disabled, brings its schema up to date.
    ///
    /// # Errors
    ///
    /// * [`Error::InvalidUrl`] for a URL that cannot be read;
    /// * [`Error::DatabaseNotFound`] when the file is missing and may not be created;
    /// * [`Error::DirectoryNotFound`] when its directory is missing;
    /// * [`Error::NotADatabase`] for a directory or a file that is not SQLite (left untouched);
    /// * [`Error::Open`] when SQLite cannot open or create the file;
    /// * [`Error::DirectoryNotWritable`] or [`Error::FileNotWritable`] when it may only be read
    ///   and was not opened [`read_only`](Self::read_only);
    /// * [`Error::ForeignKeysUnavailable`] when foreign keys cannot be switched on;
    /// * [`Error::Migrate`] when the migrations are refused or fail (see [`Migrator::run`]).
    pub fn open(&self, url: &str) -> Result<Connection> {
        self.open_with_migrator(url, migrator())
            .map(|(conn, _)| conn)
    }

    /// Opens the database at `url` and brings it up to date with `migrator` instead of the
    /// embedded migrations; returns what was applied (or, read-only, what is pending).
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`].
    pub fn open_with_migrator(
        &self,
        url: &str,
        migrator: &Migrator,
    ) -> Result<(Connection, MigrationReport)> {
        let (conn, mut reports) = self.open_with_migrators(url, &[migrator])?;
        Ok((conn, reports.pop().unwrap_or_default()))
    }

    /// Opens a host program's database: this crate's migrations (in `_sqlx_migrations`), then
    /// the host's `migrations` (in the history table the host's [`Migrator`] names, see
    /// [`Migrator::history_table`]), in one open. The same as
    /// `open_with_migrators(url, &[schema::migrator(), host])`; returns the two reports.
    ///
    /// ```
    /// use pipeline_store::migrate::{Migration, Migrator};
    /// use pipeline_store::schema::OpenOptions;
    ///
    /// let host = Migrator::new(vec![Migration::new(
    ///     20261201090000,
    ///     "create jobs",
    ///     "CREATE TABLE jobs (id INTEGER PRIMARY KEY, pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE);",
    /// )])?
    /// .history_table("_myapp_migrations")?;
    /// let dir = tempfile::tempdir()?;
    /// let url = dir.path().join("app.db").display().to_string();
    /// let (_conn, reports) = OpenOptions::new().open_host(&url, &host)?;
    /// assert_eq!(reports[1].applied.len(), 1);
    /// // Every other entry point opens it too: the library's history holds the library's rows only.
    /// pipeline_store::initialize_database(&url)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open_with_migrators`].
    pub fn open_host(
        &self,
        url: &str,
        host: &Migrator,
    ) -> Result<(Connection, Vec<MigrationReport>)> {
        self.open_with_migrators(url, &[migrator(), host])
    }

    /// Opens the database at `url` and brings it up to date with each set of `migrators` in
    /// turn (each keeps its own history table; typically this crate's set, then a host's).
    /// Returns one report per set, in the same order.
    ///
    /// Every guarantee of a single set holds for each: every set is validated before the first
    /// byte changes (a refused open changes nothing, whichever set refused), each migration
    /// commits with its history row, racing processes apply each migration once. With
    /// [`backup_before_migrate`](Self::backup_before_migrate) one copy is taken before the
    /// first migration of any set; with [`rehearse_before_migrate`](Self::rehearse_before_migrate)
    /// the sets are rehearsed in turn on one copy.
    ///
    /// # Errors
    ///
    /// [`MigrateError::SharedHistoryTable`](crate::migrate::MigrateError::SharedHistoryTable)
    /// when two sets keep their history in the same table; otherwise as [`OpenOptions::open`].
    pub fn open_with_migrators(
        &self,
        url: &str,
        migrators: &[&Migrator],
    ) -> Result<(Connection, Vec<MigrationReport>)> {
        self.open_target(url, &DatabaseUrl::parse(url)?, migrators)
    }

    /// [`open`](Self::open) by path instead of URL: the path is taken as it is, whatever
    /// characters it holds (non-UTF-8 ones included), and never read as a URL.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let conn = pipeline_store::schema::OpenOptions::new().open_path(dir.path().join("a?b#c.db"))?;
    /// # drop(conn);
    /// assert!(dir.path().join("a?b#c.db").is_file());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_path(&self, path: impl AsRef<Path>) -> Result<Connection> {
        self.open_path_with_migrators(path, &[migrator()])
            .map(|(conn, _)| conn)
    }

    /// [`open_with_migrators`](Self::open_with_migrators) by path.
    ///
    /// # Errors
    ///
    /// As [`open_with_migrators`](Self::open_with_migrators).
    pub fn open_path_with_migrators(
        &self,
        path: impl AsRef<Path>,
        migrators: &[&Migrator],
    ) -> Result<(Connection, Vec<MigrationReport>)> {
        let path = path.as_ref();
        let target = DatabaseUrl {
            location: Location::File(path.to_path_buf()),
            mode: None,
        };
        self.open_target(&path.display().to_string(), &target, migrators)
    }

    /// The open, in straight steps: connect, plan every set (before the first byte changes),
    /// the journal mode, the safeguards, apply. Errors of a file are told with its path, once.
    fn open_target(
        &self,
        url: &str,
        target: &DatabaseUrl,
        migrators: &[&Migrator],
    ) -> Result<(Connection, Vec<MigrationReport>)> {
        shared_history(migrators)?;
        let read_only = self.read_only || target.mode == Some(Mode::Ro);
        let path = match &target.location {
            Location::File(path) => Some(path.as_path()),
            Location::Memory => None,
        };
        let located = |e: MigrateError| match path {
            Some(path) => not_a_database(e.into(), path),
            None => e.into(),
        };
        let (mut conn, header_wal) = self.connect(url, target, read_only)?;
        // One plan per set, made before the journal mode is switched: a refused open leaves a
        // rollback-journal file exactly as it was. Each is handed to the rehearsal, the backup
        // and the apply (which plans again under the write lock before each step).
        let plans = if self.migrate {
            migrators
                .iter()
                .map(|m| m.plan_for(&conn, self.busy_timeout).map_err(located))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        for plan in &plans {
            plan.log_warnings();
        }
        if let (Some(path), false) = (path, read_only) {
            self.set_up_journal(&conn, path, header_wal)?;
        }
        if !self.migrate {
            let mut reports = Vec::with_capacity(migrators.len());
            reports.resize_with(migrators.len(), MigrationReport::default);
            return Ok((conn, reports));
        }
        if read_only {
            return Ok((conn, plans.iter().map(pending_report).collect()));
        }
        let backup = match path {
            Some(path) => self.safeguards(&conn, migrators, &plans, path)?,
            None => None,
        };
        let mut reports = Vec::with_capacity(plans.len());
        for plan in plans {
            reports.push(plan.apply(&mut conn, None).map_err(located)?);
        }
        if let Some(first) = reports.first_mut() {
            *first = std::mem::take(first).with_backup(backup);
        }
        // This crate's own migrations keep the trigger (its tests hold them to it); any other
        // set's may have rebuilt `pipelines` without it.
        // (Compared by address first: the embedded set itself, or a copy of it with a progress
        // callback, looked at only when it applied something.)
        let library = migrator();
        let is_library = |m: &Migrator| std::ptr::eq(m, library) || *m == *library;
        let applied_by = |library_set: bool| {
            migrators
                .iter()
                .zip(&reports)
                .any(|(m, r)| !r.applied.is_empty() && is_library(m) == library_set)
        };
        super::derived::warn_if_not_kept(&conn, applied_by(false), applied_by(true));
        Ok((conn, reports))
    }

    /// A configured connection, and whether the file's header was in WAL mode already; the
    /// journal mode is left to [`set_up_journal`](Self::set_up_journal), after the plan.
    fn connect(
        &self,
        url: &str,
        target: &DatabaseUrl,
        read_only: bool,
    ) -> Result<(Connection, bool)> {
        let path = match &target.location {
            Location::Memory => {
                if read_only {
                    return Err(Error::InvalidUrl {
                        url: url.to_owned(),
                        reason: "an in-memory database starts empty at every open, so opened \
                                 read-only it has nothing to read; give a database file (a path or \
                                 `sqlite://path`)"
                            .to_owned(),
                    });
                }
                let conn = Connection::open_in_memory()?;
                self.configure(&conn)?;
                return Ok((conn, false));
            }
            Location::File(path) => path,
        };
        let create = !read_only && self.create_if_missing && !matches!(target.mode, Some(Mode::Rw));
        let (conn, header_wal) =
            open_file(path, read_only, create).map_err(|e| media::explain(e, path, !read_only))?;
        if read_only {
            return Ok((self.readable(conn, path)?, header_wal));
        }
        self.configure(&conn)
            .map_err(|e| media::explain(not_a_database(e, path), path, true))?;
        // SQLite opens a file it may not write read-only, without a word.
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(media::refuse_writing(path));
        }
        Ok((conn, header_wal))
    }

    /// The configured journal mode on a file opened for writing, and what WAL needs beside it.
    fn set_up_journal(&self, conn: &Connection, path: &Path, header_wal: bool) -> Result<()> {
        let explain = |e| media::explain(not_a_database(e, path), path, true);
        if self.journal_mode == JournalMode::Wal {
            if self.persistent_wal {
                persist_wal(conn);
            }
            if self.synchronous != Synchronous::Off {
                super::close::guard_last_close(conn, path, self.persistent_wal);
            }
        }
        // WAL is kept in the file's header: a header that says so needs no pragma.
        let in_mode = header_wal && self.journal_mode == JournalMode::Wal;
        if !in_mode && !self.journal_mode_is_set(conn).map_err(explain)? {
            self.set_journal_mode(conn, path)
                .map_err(|e| not_a_database(e, path))?;
        }
        if self.journal_mode == JournalMode::Wal {
            // Once SQLite has mapped the `-shm` file (a read maps it), the holes its extension
            // left are filled while this connection is the one to get the space (see `shm`).
            super::shm::after_mapping(conn, path).map_err(explain)?;
        }
        Ok(())
    }

    /// The rehearsal and the backup asked for, before the first migration of any set; the
    /// backup's path when one was taken.
    fn safeguards(
        &self,
        conn: &Connection,
        migrators: &[&Migrator],
        plans: &[Plan<'_>],
        path: &Path,
    ) -> Result<Option<PathBuf>> {
        if plans.iter().all(Plan::is_empty) {
            return Ok(None);
        }
        if self.rehearse {
            let report = crate::migrate::rehearse_sets(migrators, conn, None)?;
            if !report.is_ok() {
                return Err(Error::RehearsalRefused {
                    report: Box::new(report),
                });
            }
        }
        let first = plans.iter().find_map(Plan::versions);
        let last = plans.iter().rev().find_map(Plan::versions);
        match (&self.backup_dir, first, last) {
            (Some(dir), Some((first, _)), Some((_, last))) => {
                backup_if_pending(conn, (first, last), path, dir)
                    .map_err(|e| not_a_database(e, path))
            }
            _ => Ok(None),
        }
    }

    /// `conn`, opened read-only, configured once SQLite has read from it; in a directory this
    /// process cannot write, the file opened as immutable when that is safe (see the `media`
    /// module).
    fn readable(&self, conn: Connection, path: &Path) -> Result<Connection> {
        let probe = |conn: &Connection| -> Result<()> {
            self.configure(conn)
                .and_then(|()| {
                    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                        .map_err(Error::from)
                })
                .map_err(|e| not_a_database(e, path))
        };
        match probe(&conn) {
            Ok(()) => Ok(conn),
            Err(error) if media::is_refused_file(&error) && media::may_open_immutable(path) => {
                drop(conn);
                debug!(
                    "{}: its directory is not writable and it has no write-ahead log to read; \
                     reading it as immutable",
                    path.display()
                );
                let conn = media::open_immutable(path)?;
                probe(&conn)?;
                Ok(conn)
            }
            Err(error) => Err(media::explain(error, path, false)),
        }
    }

    /// Pragmas for every connection but the journal mode.
    fn configure(&self, conn: &Connection) -> Result<()> {
        // The repositories prepare about 60 distinct statements; rusqlite's default cache holds
        // 16, which an `update` alone would cycle through.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        conn.busy_timeout(self.busy_timeout)?;
        conn.execute_batch(self.synchronous.pragmas())?;
        if let Some(bytes) = self.mmap_size {
            conn.pragma_update(None, "mmap_size", i64::try_from(bytes).unwrap_or(i64::MAX))?;
        }
        if let Some(kib) = self.cache_size_kib {
            conn.pragma_update(None, "cache_size", -i64::from(kib))?;
        }
        foreign_keys_enforced(conn)?;
        if let Some(OnConnect(f)) = &self.on_connect {
            f(conn)?;
        }
        Ok(())
    }

    /// Whether the file is already in the configured journal mode (reading it writes nothing).
    fn journal_mode_is_set(&self, conn: &Connection) -> Result<bool> {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        Ok(mode.eq_ignore_ascii_case(self.journal_mode.as_str()))
    }

    /// Switches a file opened for writing to the configured journal mode.
    fn set_journal_mode(&self, conn: &Connection, path: &Path) -> Result<()> {
        let wanted = self.journal_mode.as_str();
        let deadline = Instant::now() + self.busy_timeout;
        let mode = loop {
            match conn.pragma_update_and_check(None, "journal_mode", wanted, |row| {
                row.get::<_, String>(0)
            }) {
                Ok(mode) => break mode,
                // A new file's journal-mode change does not consult the busy handler.
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e.into()),
            }
        };
        if !mode.eq_ignore_ascii_case(wanted) {
            warn!(
                "journal_mode {wanted} is not available for {}; it stays {mode}",
                path.display()
            );
        }
        Ok(())
    }
}

/// What a read-only open reports: the pending migrations, which it does not apply.
fn pending_report(plan: &Plan<'_>) -> MigrationReport {
    let pending = plan.pending();
    if let Some(first) = pending.first() {
        warn!(
            "{} migration(s) pending on a read-only database, not applied (first: {})",
            pending.len(),
            first.file
        );
    }
    MigrationReport {
        pending,
        ..MigrationReport::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::{HistoryTable, Migration, checksum};
    use crate::test_log::warnings_about;

    #[test]
    fn configure_switches_foreign_keys_on_whatever_the_library_default() {
        let conn = Connection::open_in_memory().unwrap();
        let library_default: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        eprintln!("this SQLite starts with foreign_keys = {library_default}");
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        OpenOptions::new().configure(&conn).unwrap();
        let value: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(value, 1);
    }

    // Logged once per open, however often a run plans again.

    #[test]
    fn a_line_endings_difference_is_one_warning_per_file_per_open_that_says_so() {
        let file = "1_line_endings_warned_once.sql";
        warnings_about(file);
        let sql = "CREATE TABLE t (x);\n";
        let mut migrations = vec![Migration::new(1, "line endings warned once", sql)];
        for v in 2..=6 {
            migrations.push(Migration::new(v, "more", format!("CREATE TABLE t{v} (x);")));
        }
        let migrator = Migrator::new(migrations).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warned.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!("{}{sql}", HistoryTable::DEFAULT.create))
                .unwrap();
            conn.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (1, 'line endings warned once', TRUE, ?1, 0)",
                [checksum(sql.replace('\n', "\r\n").as_bytes()).to_vec()],
            )
            .unwrap();
        }
        let backups = tempfile::tempdir().unwrap();
        let url = path.to_str().unwrap();
        let (_conn, report) = OpenOptions::new()
            .backup_before_migrate(backups.path())
            .open_with_migrator(url, &migrator)
            .unwrap();
        assert_eq!(report.applied.len(), 5);
        let warnings = warnings_about(file);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].contains("only in line endings"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[0].contains("`Migrator::repair` and `Repair::new().line_endings()`"),
            "{}",
            warnings[0]
        );
        assert!(!warnings[0].contains("modified"), "{}", warnings[0]);

        // Opening again warns again, once.
        OpenOptions::new()
            .open_with_migrator(url, &migrator)
            .unwrap();
        assert_eq!(warnings_about(file).len(), 2);
    }
}
