//! The one place a migration is applied or reverted: a step is one migration (or a grouped
//! run's migrations, in one transaction), and [`Migrator::apply_step`] applies it exactly once,
//! whatever other processes do meanwhile. `run`, `run_to`, grouped runs and `revert_to` are
//! loops over it.

use std::time::{Duration, Instant};

use log::info;
use rusqlite::{Connection, TransactionBehavior, params};

use super::lock;
use super::script::{
    check_foreign_keys, run_outside_transaction, run_script, with_foreign_keys_off,
};
use super::{AppliedStep, HistoryTable, Migration, Migrator, Script};
use super::{MigrateError, Result};

/// Which way a step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Run the up scripts and record them, up to a target version (all pending for `None`).
    Up { target: Option<i64> },
    /// Run the down scripts and forget their rows.
    Down,
}

impl Migrator {
    /// Applies one step: `step`'s migrations, in order, in one `BEGIN IMMEDIATE` transaction
    /// with their history rows (or the one `-- no-transaction` migration of the step in
    /// autocommit mode, holding the migration lock, with its claim and finish).
    ///
    /// Under the write lock the history is read again and the step applies only what is still
    /// to do: going up, the leading migrations of a plan made there that belong to the step
    /// (none when another process applied the first one, or has a `-- no-transaction`
    /// migration running, which a plan made there finds dirty); going down, those still
    /// recorded. It returns what it applied, empty when nothing was left: the caller plans
    /// again before the next step.
    pub(super) fn apply_step(
        &self,
        conn: &mut Connection,
        direction: Direction,
        step: &[&Migration],
        wait: Duration,
    ) -> Result<Vec<AppliedStep>> {
        let scripts: Vec<(&Migration, Script<'_>)> = step
            .iter()
            .filter_map(|m| match direction {
                Direction::Up { .. } => Some((*m, m.up_script())),
                Direction::Down => m.down_script().map(|down| (*m, down)),
            })
            .collect();
        let done = match scripts.as_slice() {
            [] => Vec::new(),
            [(m, script)] if script.no_transaction => {
                self.apply_outside_transaction(conn, direction, m, *script, wait)?
            }
            _ => self.apply_in_transaction(conn, direction, &scripts)?,
        };
        match (direction, done.as_slice()) {
            (_, []) => {}
            (Direction::Up { .. }, [one]) => info!(
                "applied migration {} ({}) in {:.3} ms",
                one.version,
                one.description,
                one.elapsed.as_secs_f64() * 1000.0
            ),
            (Direction::Up { .. }, many) => {
                info!("applied {} migration(s) in one transaction", many.len());
            }
            (Direction::Down, done) => {
                for one in done {
                    info!("reverted migration {} ({})", one.version, one.description);
                }
            }
        }
        Ok(done)
    }

    /// The transactional path of [`apply_step`](Self::apply_step). Foreign keys are off around
    /// the transaction when any script asks, and checked once before `COMMIT`.
    fn apply_in_transaction(
        &self,
        conn: &mut Connection,
        direction: Direction,
        scripts: &[(&Migration, Script<'_>)],
    ) -> Result<Vec<AppliedStep>> {
        let foreign_keys_off = scripts.iter().any(|(_, s)| s.foreign_keys_off);
        let history = &self.history;
        with_foreign_keys_off(conn, foreign_keys_off, |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let applicable = self.still_applicable(&tx, direction, scripts)?;
            let mut done = Vec::with_capacity(applicable);
            for &(m, script) in &scripts[..applicable] {
                // Checked once for the whole step, below.
                let script = Script {
                    foreign_keys_off: false,
                    ..script
                };
                let elapsed = run_script(&tx, history, m, script, &self.progress)?;
                match direction {
                    Direction::Up { .. } => record(&tx, history, m, elapsed)?,
                    Direction::Down => {
                        tx.prepare_cached(&history.forget)?.execute([m.version])?;
                    }
                }
                done.push(AppliedStep {
                    version: m.version,
                    description: m.description.to_string(),
                    elapsed,
                });
            }
            if foreign_keys_off && let Some((m, script)) = scripts[..applicable].last() {
                check_foreign_keys(&tx, m.version, script.file)?;
            }
            tx.commit()?;
            Ok(done)
        })
    }

    /// How many of `scripts` are still to apply, by the history read under the write lock of
    /// `tx` (created there when missing, going up).
    fn still_applicable(
        &self,
        tx: &Connection,
        direction: Direction,
        scripts: &[(&Migration, Script<'_>)],
    ) -> Result<usize> {
        let history = &self.history;
        match direction {
            Direction::Up { target } => {
                let recorded = history.read_or_create(tx)?;
                let pending = match self.plan(&recorded, |v| history.recorded_description(tx, v)) {
                    Ok(pending) => pending,
                    // Another process started a `-- no-transaction` migration meanwhile: the
                    // caller plans again outside the transaction, waiting for it.
                    Err(MigrateError::Dirty { .. }) => return Ok(0),
                    Err(other) => return Err(other),
                };
                Ok(pending
                    .iter()
                    .filter(|m| target.is_none_or(|t| m.version <= t))
                    .zip(scripts)
                    .take_while(|(now, (planned, _))| now.version == planned.version)
                    .count())
            }
            Direction::Down => {
                let mut recorded = tx.prepare_cached(&history.is_recorded)?;
                let mut still = 0;
                for (m, _) in scripts {
                    if recorded.query_row([m.version], |_| Ok(())).is_err() {
                        break;
                    }
                    still += 1;
                }
                Ok(still)
            }
        }
    }

    /// The `-- no-transaction` path of [`apply_step`](Self::apply_step): holds the migration
    /// lock throughout, so other processes wait instead of taking the row for a crash. Going up,
    /// a `success = 0` row claims the migration before it runs and is set to 1 once it
    /// finishes, so a failure leaves a dirty row the next run reports; going down, the row is
    /// marked first and removed once the script finishes. Empty when another process did it
    /// first.
    fn apply_outside_transaction(
        &self,
        conn: &mut Connection,
        direction: Direction,
        m: &Migration,
        script: Script<'_>,
        wait: Duration,
    ) -> Result<Vec<AppliedStep>> {
        let history = &self.history;
        let _running = lock::acquire(conn, wait, m.version, script.file)?;
        let claimed = match direction {
            Direction::Up { .. } => {
                conn.execute_batch(&history.create)?;
                conn.prepare_cached(&history.claim)?.execute(params![
                    m.version,
                    m.description.as_ref(),
                    m.checksum.as_slice()
                ])?
            }
            Direction::Down => conn
                .prepare_cached(&history.mark_reverting)?
                .execute([m.version])?,
        };
        if claimed == 0 {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        run_outside_transaction(conn, m.version, script, &self.progress)?;
        let elapsed = started.elapsed();
        match direction {
            Direction::Up { .. } => conn
                .prepare_cached(&history.finish)?
                .execute(params![m.version, nanos(elapsed)])?,
            Direction::Down => conn.prepare_cached(&history.forget)?.execute([m.version])?,
        };
        Ok(vec![AppliedStep {
            version: m.version,
            description: m.description.to_string(),
            elapsed,
        }])
    }
}

/// Writes the history row of an applied migration.
fn record(tx: &Connection, history: &HistoryTable, m: &Migration, elapsed: Duration) -> Result<()> {
    tx.prepare_cached(&history.insert)?.execute(params![
        m.version,
        m.description.as_ref(),
        m.checksum.as_slice(),
        nanos(elapsed),
    ])?;
    Ok(())
}

fn nanos(elapsed: Duration) -> i64 {
    i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
}
