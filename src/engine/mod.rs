//! Engine: runs the stages of a wave against the store, in bounded batches of accounts.
//!
//! Each stage takes the wave's accounts that are in its input state (and due, as of the run's
//! date), a page of [`BATCH`] at a time, does its pure work (rate, reconcile, render) and records
//! the result and the state change in one transaction per batch. A stage that finds nothing to do
//! does nothing, so every stage can be run again; a crash loses at most the batch in flight, which
//! the next run picks up where it left off.

mod decide;
mod load;
mod notify;
pub mod portal;
mod reports;
mod stages;

pub use load::{ConfirmReport, manifest_notes};
pub use notify::{Applied, ContactsReport, NoticeReport, Preview};
pub(crate) use reports::waivable;
pub use reports::{HELD_BY_PERSON, HeldBy, PROMOTE, Promoted};
pub use stages::{JudgedOtherwise, RunReport, StageReport};

use crate::domain::LegacyAccount;
use crate::domain::State;
use crate::plan::Plan;
use crate::store::{Store, StoreError, Transition};
use crate::workspace::Workspace;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use std::sync::Arc;

/// The lease one extraction at a time holds (`store::lease`).
const EXTRACT_LEASE: &str = "extract";

/// Accounts handled per batch: memory is bounded by this, not by the wave's size.
pub const BATCH: i64 = 500;

/// Reports progress of long stages (the CLI draws a bar on a terminal; tests stay quiet).
pub trait Progress: Send + Sync {
    fn start(&self, _stage: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// Progress that shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// When and who: the run's date (the simulated clock) and the actor written to the journal.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub as_of: NaiveDate,
    pub at: DateTime<Utc>,
    pub actor: String,
}

impl Ctx {
    /// A run as of `as_of`; journal times are that day at noon UTC (a simulated clock), or now
    /// when `as_of` is today.
    pub fn new(as_of: NaiveDate, actor: impl Into<String>) -> Ctx {
        let now = Utc::now();
        let at = if as_of == now.date_naive() {
            now
        } else {
            as_of.and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("valid time")).and_utc()
        };
        Ctx { as_of, at, actor: actor.into() }
    }

    /// `account` moves `from` → `to` for `reason`, by this run's actor at its time.
    pub fn transition<'a>(
        &'a self,
        account: &'a str,
        from: State,
        to: State,
        reason: impl Into<std::borrow::Cow<'a, str>>,
    ) -> Transition<'a> {
        Transition::new(account, from, to, &self.actor, reason, self.at)
    }

    /// The time to record now: the simulated noon, or the real time when running as of today.
    pub fn now(&self) -> DateTime<Utc> {
        if self.as_of == Utc::now().date_naive() { Utc::now() } else { self.at }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Extract(#[from] crate::extract::ExtractError),
    #[error(transparent)]
    Render(#[from] crate::notify::render::RenderError),
    #[error("mail: {0}")]
    Mail(String),
    #[error("{0}")]
    Refused(String),
    /// Not `source`: the message says the cause already, and a report of the error's chain would
    /// say it twice.
    #[error("cannot write {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
}

/// Work started on a task of its own, for the caller to take once it is done with what it has
/// in hand: a stage reads its next page while it works on this one (issue 11). The work stops
/// when this is dropped untaken (the stage failed or stopped).
pub(crate) struct Ahead<T: Send + 'static>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> Ahead<T> {
    pub(crate) fn spawn(work: impl std::future::Future<Output = T> + Send + 'static) -> Ahead<T> {
        Ahead(tokio::spawn(work))
    }

    /// The work's result, once done.
    pub(crate) async fn take(mut self) -> Result<T, EngineError> {
        (&mut self.0).await.map_err(|e| EngineError::Refused(format!("reading ahead failed: {e}")))
    }
}

impl<T: Send + 'static> Drop for Ahead<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A page's legacy records being read ([`Engine::read_ahead`]).
pub(crate) type ReadAhead = Ahead<(Vec<String>, Result<crate::store::StoredRecords, StoreError>)>;

impl ReadAhead {
    /// The records, once read, parsed on the caller's thread (which frees them: memory freed by
    /// another thread than the one that took it stays with the allocator longer).
    pub(crate) async fn records(self) -> Result<Vec<LegacyAccount>, EngineError> {
        let (numbers, read) = self.take().await?;
        Ok(read?.parse(&numbers)?)
    }
}

pub struct Engine {
    pub ws: Workspace,
    pub plan: Arc<Plan>,
    pub store: Store,
    pub progress: Arc<dyn Progress>,
    /// Set to stop cleanly: stages finish the message or batch in hand and start no new one.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// Times each stage when enabled (`cutover bench pipeline`); off, it costs nothing.
    pub clock: Arc<crate::bench::StageClock>,
    /// This worker's name in the store's claims and leases (`host:pid:nonce`, `#N` for the N-th
    /// worker task of a process): see `store::lease`.
    pub worker: String,
    /// Worker tasks per page-walking stage (`--workers N`, default 1): each claims its own pages.
    pub workers: usize,
    /// Renews this process's claims and leases while the engine lives (`store::lease::Heartbeat`):
    /// a slow step never lets them lapse under a live worker.
    pub heartbeat: Option<Arc<crate::store::lease::Heartbeat>>,
    /// Waves whose accounts compared before migration 0016 have been given their tallies in this
    /// process (`Engine::record_tallied_run`): the check runs once per wave, not on every run
    /// recorded. The set of such accounts only shrinks: whoever writes verdicts writes tallies.
    pub(crate) tallied: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Each wave's tallies as this process last read or wrote them (`Engine::record_tallied_run`),
    /// shared by its workers.
    pub(crate) tallies: Arc<std::sync::Mutex<reports::TallyCache>>,
}

impl Engine {
    pub fn new(ws: Workspace, plan: Plan, store: Store, progress: Arc<dyn Progress>) -> Engine {
        Engine {
            ws,
            plan: Arc::new(plan),
            progress,
            stop: Arc::default(),
            clock: Arc::default(),
            worker: crate::store::lease::worker_name(),
            workers: 1,
            heartbeat: store.heartbeat().map(Arc::new),
            tallied: Arc::default(),
            tallies: Arc::default(),
            store,
        }
    }

    /// Another worker of this process on the same store, plan and stop flag (`--workers N`): its
    /// own name, so its claims are its own.
    pub fn worker_copy(&self, n: usize) -> Engine {
        Engine {
            ws: self.ws.clone(),
            plan: Arc::clone(&self.plan),
            store: self.store.clone(),
            progress: Arc::new(Quiet),
            stop: Arc::clone(&self.stop),
            clock: Arc::clone(&self.clock),
            worker: format!("{}#{n}", self.worker),
            // How many share the stage (for the page size); a copy itself never fans out.
            workers: self.workers,
            heartbeat: self.heartbeat.clone(),
            tallied: Arc::clone(&self.tallied),
            tallies: Arc::clone(&self.tallies),
        }
    }
}

impl Engine {
    /// Loads the legacy records of a page of accounts, paired with their rows by account number.
    /// An account with no records in the latest extraction (its row was quarantined, or it left
    /// the source) is held here, with the reason, whatever the stage: no stage ever works on
    /// another account's data, and none skips one silently.
    pub(crate) async fn load(
        &self,
        rows: &[crate::store::AccountRow],
        ctx: &Ctx,
    ) -> Result<Vec<(crate::store::AccountRow, LegacyAccount)>, EngineError> {
        let numbers: Vec<String> = rows.iter().map(|r| r.account_number.clone()).collect();
        let records = self.store.legacy_accounts(&numbers).await?;
        self.pair(rows, records, ctx).await
    }

    /// Starts reading a page's legacy records on a task of its own, for [`Engine::pair`] once
    /// the caller is done with the page before: a stage's pages are read while the previous one
    /// is worked on and written (issue 11).
    pub(crate) fn read_ahead(&self, rows: &[crate::store::AccountRow], which: crate::store::Records) -> ReadAhead {
        let numbers: Vec<String> = rows.iter().map(|r| r.account_number.clone()).collect();
        let store = self.store.clone();
        Ahead::spawn(async move {
            let stored = store.stored_records(&numbers, which).await;
            (numbers, stored)
        })
    }

    /// Pairs a page's rows with their legacy records (read by [`Engine::load`] or
    /// [`Engine::read_ahead`]), as of the run's day, holding an account without records (see
    /// [`Engine::load`]).
    pub(crate) async fn pair(
        &self,
        rows: &[crate::store::AccountRow],
        records: Vec<LegacyAccount>,
        ctx: &Ctx,
    ) -> Result<Vec<(crate::store::AccountRow, LegacyAccount)>, EngineError> {
        let mut found: std::collections::HashMap<String, LegacyAccount> = records
            .into_iter()
            // A stage run as of a day sees only what existed by then (`LegacyAccount::as_of`).
            .map(|a| (a.account.account_number.clone(), a.as_of(ctx.as_of)))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            match found.remove(&row.account_number) {
                Some(acct) => out.push((row.clone(), acct)),
                None if row.state.can_go_to(State::Held) => {
                    let why = "no legacy records in the latest extraction (its row was quarantined or left the \
                               source): held until it is extracted again";
                    let t = ctx.transition(&row.account_number, row.state, State::Held, why);
                    self.store.transition(&t).await?;
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// Extracts the whole legacy source into the store (a full refresh, atomic).
    pub async fn extract(&self, ctx: &Ctx) -> Result<crate::store::ExtractionCounts, EngineError> {
        self.extract_filtered(ctx, crate::store::extraction::Filter::All).await
    }

    pub async fn extract_filtered(
        &self,
        ctx: &Ctx,
        filter: crate::store::extraction::Filter,
    ) -> Result<crate::store::ExtractionCounts, EngineError> {
        let source = self.ws.source().map_err(|e| EngineError::Refused(e.to_string()))?;
        self.progress.start("extract", 0);
        let started = self.clock.start();
        let mut ex =
            crate::store::Extraction::begin(&self.store, &self.plan, &source.describe(), &ctx.actor, ctx.at, filter)
                .await?;
        crate::extract::scan_ahead(&source, &mut ex).await?;
        let counts = ex.finish().await?;
        self.clock.stop("extract", started, (counts.accounts + counts.records + counts.quarantined) as u64);
        self.progress.finish();
        Ok(counts)
    }

    /// Extracts unless the store holds an extraction fresh enough for this wave: one exists, and it
    /// is not older than the wave's `extraction_max_age_days` on the run's day. One extraction at a
    /// time on a store: a worker that finds another extracting waits for it (saying so on stderr)
    /// and then uses its extraction.
    pub async fn ensure_fresh(
        &self,
        wave: &crate::plan::Wave,
        ctx: &Ctx,
    ) -> Result<Option<crate::store::ExtractionCounts>, EngineError> {
        if self.fresh(wave, ctx).await? {
            return Ok(None);
        }
        let secs = crate::store::lease::lease_secs();
        let mut said = false;
        while let Some(h) = self.store.try_lease(EXTRACT_LEASE, &self.worker, secs).await? {
            if !said {
                eprintln!("an extraction is running since {}, by {}: waiting for it", h.since, h.owner);
                said = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // Another worker may have extracted while this one waited.
        let out = if self.fresh(wave, ctx).await? { Ok(None) } else { self.extract(ctx).await.map(Some) };
        self.store.release_lease(EXTRACT_LEASE, &self.worker).await?;
        out
    }

    async fn fresh(&self, wave: &crate::plan::Wave, ctx: &Ctx) -> Result<bool, EngineError> {
        let Some(last) = self.store.last_extraction().await? else { return Ok(false) };
        let Some(days) = wave.extraction_max_age_days else { return Ok(true) };
        let taken = chrono::DateTime::parse_from_rfc3339(&last.started_at)
            .map_err(|e| StoreError::Corrupt(format!("extraction {} started_at: {e}", last.id)))?
            .date_naive();
        Ok((ctx.as_of - taken).num_days() <= i64::from(days))
    }

    /// Extracts now, unless another worker is extracting: then says who, since when (`Err`
    /// with that sentence, for the caller to print; not a failure).
    pub async fn extract_once(&self, ctx: &Ctx) -> Result<Result<crate::store::ExtractionCounts, String>, EngineError> {
        let secs = crate::store::lease::lease_secs();
        if let Some(h) = self.store.try_lease(EXTRACT_LEASE, &self.worker, secs).await? {
            return Ok(Err(format!("an extraction is running since {}, by {}", h.since, h.owner)));
        }
        let out = self.extract(ctx).await;
        self.store.release_lease(EXTRACT_LEASE, &self.worker).await?;
        out.map(Ok)
    }

    /// Extracts unless a complete extraction is already in the store.
    pub async fn ensure_extracted(&self, ctx: &Ctx) -> Result<Option<crate::store::ExtractionCounts>, EngineError> {
        if self.store.last_extraction().await?.is_some() {
            return Ok(None);
        }
        self.extract(ctx).await.map(Some)
    }
}
