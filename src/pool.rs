//! A connection pool for multi-threaded programs (feature `r2d2`).
//!
//! Each pooled connection is opened by [`OpenOptions`], so it gets the same pragmas as any
//! other (foreign keys verified on, busy timeout, WAL, `synchronous`); pending migrations are
//! applied once, when the pool is built, not per connection. A connection is checked when it is
//! taken from the pool: foreign keys still on.
//!
//! ```
//! use pipeline_store::model::NewPipeline;
//! use pipeline_store::repo::pipelines;
//!
//! let dir = tempfile::tempdir()?;
//! let url = format!("sqlite://{}", dir.path().join("app.db").display());
//! let pool = pipeline_store::pool(&url, 4)?;
//! std::thread::scope(|scope| {
//!     for i in 0..4 {
//!         let pool = &pool;
//!         scope.spawn(move || {
//!             let conn = pool.get().expect("a connection");
//!             pipelines::create(&*conn, &NewPipeline::new(format!("from-thread-{i}"))).expect("created");
//!         });
//!     }
//! });
//! assert_eq!(pipelines::count(&*pool.get()?, pipelines::Status::Active)?, 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::migrate::Migrator;
use crate::schema::OpenOptions;

/// Opens the pool's connections: an [`r2d2::ManageConnection`] over [`OpenOptions`].
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: String,
    options: OpenOptions,
}

impl ConnectionManager {
    /// A manager for the database at `url`, opening every connection with `options` (which
    /// must not migrate: [`pool_with`] applies migrations once).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for an in-memory URL: each pooled connection would see its own,
    /// empty database.
    pub fn new(url: &str, options: &OpenOptions) -> Result<Self> {
        if crate::schema::is_in_memory(url)? {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
                reason: "an in-memory database cannot be pooled: each connection would see its \
                         own database; use a file, or one Connection"
                    .to_owned(),
            });
        }
        let mut options = options.clone();
        options.migrate(false).create_if_missing(false);
        Ok(Self {
            url: url.to_owned(),
            options,
        })
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = Connection;
    type Error = Error;

    fn connect(&self) -> Result<Connection> {
        self.options.open(&self.url)
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<()> {
        let on: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
        if on == 1 {
            Ok(())
        } else {
            Err(Error::ForeignKeysUnavailable { value: on })
        }
    }

    fn has_broken(&self, _conn: &mut Connection) -> bool {
        false
    }
}

/// A pool of at most `size` connections to the database at `url`, created if missing, with its
/// pending migrations applied once before the pool is built.
///
/// # Errors
///
/// What [`OpenOptions::open`] reports for the first open (which migrates);
/// [`Error::InvalidUrl`] for an in-memory URL; [`Error::Pool`] when the pool cannot open its
/// connections.
pub fn pool(url: &str, size: u32) -> Result<r2d2::Pool<ConnectionManager>> {
    pool_with(url, size, &OpenOptions::new())
}

/// [`pool`] with the connections opened by `options`.
///
/// # Errors
///
/// As [`pool`].
pub fn pool_with(
    url: &str,
    size: u32,
    options: &OpenOptions,
) -> Result<r2d2::Pool<ConnectionManager>> {
    pool_with_migrators(url, size, options, &[crate::schema::migrator()])
}

/// [`pool_with`] for a host program's database: the pending migrations of each set (this
/// crate's, then the host's, each with its own history table) applied once, before the pool is
/// built, as [`OpenOptions::open_with_migrators`] applies them.
///
/// ```
/// use pipeline_store::migrate::{Migration, Migrator};
///
/// let host = Migrator::new(vec![Migration::new(1, "create jobs", "CREATE TABLE jobs (id INTEGER PRIMARY KEY);")])?
///     .history_table("_myapp_migrations")?;
/// let dir = tempfile::tempdir()?;
/// let url = dir.path().join("app.db").display().to_string();
/// let pool = pipeline_store::pool_with_migrators(
///     &url, 4, &pipeline_store::schema::OpenOptions::new(), &[pipeline_store::schema::migrator(), &host])?;
/// let conn = pool.get()?;
/// conn.execute("INSERT INTO jobs DEFAULT VALUES", [])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`pool`].
pub fn pool_with_migrators(
    url: &str,
    size: u32,
    options: &OpenOptions,
    migrators: &[&Migrator],
) -> Result<r2d2::Pool<ConnectionManager>> {
    let manager = ConnectionManager::new(url, options)?;
    drop(options.open_with_migrators(url, migrators)?);
    r2d2::Pool::builder()
        .max_size(size)
        .test_on_check_out(true)
        .build(manager)
        .map_err(|source| Error::Pool {
            url: url.to_owned(),
            source,
        })
}
