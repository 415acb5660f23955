//! Progress as typed events: what a run is doing while it does it, for a program that shows it
//! (a progress line, a status bar) without reading log text.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a migration run is doing, given to the callback of
/// [`Migrator::on_progress`](super::Migrator::on_progress) as it happens: one `Started` when a
/// script (up or down) begins running and one `Finished` when it stops, whether it succeeded
/// or not. Scripts run one at a time, so the two come in pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// A script began running.
    Started {
        /// The migration's version.
        version: i64,
        /// The script's file name (`20250301000000_add_owner.sql`, or its `.down.sql`).
        file: &'a str,
    },
    /// The script stopped running: applied, reverted or failed (the run's result says which).
    Finished {
        /// The migration's version.
        version: i64,
        /// The script's file name.
        file: &'a str,
        /// How long it ran.
        elapsed: Duration,
    },
}

/// The callback type [`Migrator::on_progress`](super::Migrator::on_progress) keeps.
type Callback = dyn Fn(&Progress<'_>) + Send + Sync;

/// A migrator's progress callback, if it has one. It watches a set without being part of it:
/// any two are equal, so two migrators of the same migrations and settings compare equal
/// whoever is told of their progress.
#[derive(Clone, Default)]
pub(super) struct OnProgress(Option<Arc<Callback>>);

impl OnProgress {
    pub(super) fn new(callback: impl Fn(&Progress<'_>) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(callback)))
    }

    /// Tells the callback, if there is one.
    pub(super) fn tell(&self, event: &Progress<'_>) {
        if let Some(callback) = &self.0 {
            callback(event);
        }
    }
}

impl fmt::Debug for OnProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

impl PartialEq for OnProgress {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for OnProgress {}
