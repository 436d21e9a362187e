//! The stages of a wave: rate → reconcile → notify → switch, and rollback of one account.

use super::{BATCH, Ctx, Engine, EngineError, decide};
use crate::domain::{LegacyAccount, Period, State};
use crate::notify::transport::Mailer;
use crate::plan::{Proration, Wave, schedule::schedule};
use crate::reconcile::{self, GateVerdict, PeriodInput, PeriodVerdict, Policy};
use crate::store::{AccountRow, Due, Records};
use serde::Serialize;

/// What one stage did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageReport {
    /// Accounts moved forward.
    pub done: u64,
    /// Accounts held back (failed, not schedulable, missed a date).
    pub held: u64,
    pub quarantined: u64,
    /// Accounts whose dates moved to a later cycle.
    pub rescheduled: u64,
    /// Operational failures (e.g. a notice the mail server did not take).
    pub failed: u64,
    /// Notices whose delivery is unknown (a crash mid-send over SMTP): a person decides.
    pub unknown: u64,
    /// Notices waiting for a retry after a transient failure.
    pub retried: u64,
    /// Of `held`, those held because the stage ran after a date that had to be kept (a switch
    /// after the first new bill: the customer was told of a bill that will not come).
    pub late: u64,
    /// Things a person should read (a sending limit too low, an unknown delivery).
    pub notes: Vec<String>,
    /// The folders of the load-file sets this run wrote (`switch`; in JSON only when there are).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<std::path::PathBuf>,
}

impl StageReport {
    /// Accounts (or notices) the stage handled, whatever became of them.
    pub fn accounts(&self) -> u64 {
        self.done + self.held + self.quarantined + self.rescheduled + self.failed + self.unknown + self.retried
    }

    pub(super) fn add(&mut self, o: &StageReport) {
        self.done += o.done;
        self.held += o.held;
        self.quarantined += o.quarantined;
        self.rescheduled += o.rescheduled;
        self.failed += o.failed;
        self.unknown += o.unknown;
        self.retried += o.retried;
        self.late += o.late;
        self.notes.extend(o.notes.iter().cloned());
        self.sets.extend(o.sets.iter().cloned());
    }
}

/// What `run` did for a wave on one day.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub wave: String,
    pub as_of: String,
    pub rated: StageReport,
    pub reconciled: StageReport,
    pub gate: Option<GateVerdict>,
    pub notified: StageReport,
    pub switched: StageReport,
}

impl RunReport {
    pub fn changed_anything(&self) -> bool {
        [&self.rated, &self.reconciled, &self.notified, &self.switched].iter().any(|s| **s != StageReport::default())
    }
}

/// How many accounts of a wave its wave file as it is now would judge otherwise
/// ([`Engine::judged_otherwise`]), by state: reconciled ([`Engine::rejudge`] judges again those
/// whose customers were not told yet) and notified.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JudgedOtherwise {
    pub reconciled: u64,
    pub notified: u64,
}

/// Why an account with no service active on its first new bill date is not moved (`None`: it
/// has something to move). Like a closed account: nothing to move, no one to tell; the legacy
/// system keeps billing what is left, and `run --recheck-held` tries again later.
pub(super) fn nothing_left(acct: &LegacyAccount, first_new_bill_date: chrono::NaiveDate) -> Option<String> {
    if acct.has_service_on(first_new_bill_date) {
        return None;
    }
    let around = match acct.services_around(first_new_bill_date) {
        (_, Some(next)) => format!(" (the next starts {next})"),
        (Some(last), None) => format!(" (the last ended {last})"),
        (None, None) => " (none has started yet)".to_string(),
    };
    Some(format!(
        "nothing left to migrate: no service active on its first new bill date {first_new_bill_date}{around}; \
         the legacy system keeps billing what is left"
    ))
}

/// A stage that walks a wave's pages, for [`Engine::fan_out`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageStage {
    /// Rate a page, then reconcile the accounts it rated from the records already loaded: one
    /// read and parse of each account's records for both, not two (issue 11).
    Rate,
    /// Reconcile the rated accounts no rating page reconciled (an earlier run's, a crash's).
    Reconcile,
}

/// What a page-walking stage did: its own report, and for [`PageStage::Rate`] the
/// reconciliation of the accounts it rated.
#[derive(Debug, Default)]
struct Walked {
    stage: StageReport,
    reconciled: StageReport,
}

impl Walked {
    fn add(&mut self, o: &Walked) {
        self.stage.add(&o.stage);
        self.reconciled.add(&o.reconciled);
    }
}

/// How many accounts a worker claims at a time, with `workers` workers in this process: up to
/// [`BATCH`], but small enough that they share a run of `due` accounts evenly (a day's 1,000 in
/// pages of 500 keep two workers busy only if the pages come out even; with 100 to 500 a page, at
/// least four pages each).
fn page_size(due: i64, workers: usize) -> i64 {
    if workers <= 1 {
        return BATCH;
    }
    let workers = i64::try_from(workers).unwrap_or(i64::MAX);
    (due / workers.saturating_mul(4)).clamp(100, BATCH)
}

/// Which accounts a page-walking stage walks ([`Engine::pages`]), and which of their legacy
/// records it reads (none: `None`).
struct Walk<'w> {
    wave: &'w str,
    states: &'w [State],
    due: Option<(Due, chrono::NaiveDate)>,
    /// The stage's name on the progress bar.
    stage: &'w str,
    records: Option<Records>,
}

/// Where a state change of a page is counted in its [`StageReport`], if it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    Done,
    Held,
    Quarantined,
}

/// What reconciling a page reads from the store before its transaction ([`Engine::reconcile_facts`]).
#[derive(Default)]
struct ReconcileFacts {
    waivers: std::collections::HashMap<String, crate::reconcile::report::Waiver>,
    unreachable: std::collections::HashMap<String, (Vec<String>, Option<String>)>,
}

/// A page's accounts compared and decided, not yet written ([`Engine::compare_page`]).
#[derive(Default)]
struct ComparedPage<'p> {
    /// Every account of the page (compared, or held with nothing left): its claim goes with it.
    accounts: Vec<&'p str>,
    compared: Vec<String>,
    verdicts: Vec<crate::store::VerdictRow>,
    tallies: Vec<crate::reconcile::report::Tally>,
    recon: Vec<(&'p str, bool)>,
    moves: Vec<(crate::store::Transition<'p>, Count)>,
}

impl ComparedPage<'_> {
    /// Keeps only what concerns `accounts`.
    fn only(&mut self, accounts: &std::collections::HashSet<&str>) {
        self.accounts.retain(|a| accounts.contains(a));
        self.compared.retain(|a| accounts.contains(a.as_str()));
        self.verdicts.retain(|v| accounts.contains(v.account.as_str()));
        self.tallies.retain(|t| accounts.contains(t.account_number.as_str()));
        self.recon.retain(|(a, _)| accounts.contains(a));
        self.moves.retain(|(t, _)| accounts.contains(t.account));
    }
}

impl Engine {
    /// A page's state changes, applied together ([`crate::store::Store::transitions_in`]), each
    /// counted in `r` as its [`Count`] when it happened. Returns, in order, which happened.
    async fn apply_in(
        &self,
        tx: &mut crate::store::Tx,
        moves: Vec<(crate::store::Transition<'_>, Count)>,
        r: &mut StageReport,
    ) -> Result<Vec<bool>, EngineError> {
        let (ts, counts): (Vec<_>, Vec<_>) = moves.into_iter().unzip();
        let changed = self.store.transitions_in(tx, &ts).await?;
        for (&count, &moved) in counts.iter().zip(&changed) {
            let n = u64::from(moved);
            match count {
                Count::Done => r.done += n,
                Count::Held => r.held += n,
                Count::Quarantined => r.quarantined += n,
            }
        }
        Ok(changed)
    }

    /// Runs a page-walking stage with `self.workers` workers: one thread each (so rating and
    /// comparing use every core), on this runtime's I/O, each claiming its own pages. One worker,
    /// or a runtime that cannot lend its thread (a test's current-thread one): this task does it.
    async fn fan_out(&self, stage: PageStage, id: &str, ctx: &Ctx) -> Result<Walked, EngineError> {
        let handle = tokio::runtime::Handle::current();
        if self.workers <= 1 || handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return self.page_stage(stage, id, ctx).await;
        }
        let workers: Vec<Engine> = (1..=self.workers).map(|n| self.worker_copy(n)).collect();
        let results: Vec<Result<Walked, EngineError>> = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let running: Vec<_> = workers
                    .iter()
                    .map(|w| {
                        let h = handle.clone();
                        s.spawn(move || h.block_on(w.page_stage(stage, id, ctx)))
                    })
                    .collect();
                running
                    .into_iter()
                    .map(|t| t.join().unwrap_or_else(|_| Err(EngineError::Refused("a worker thread panicked".into()))))
                    .collect()
            })
        });
        let mut total = Walked::default();
        for r in results {
            total.add(&r?);
        }
        Ok(total)
    }

    async fn page_stage(&self, stage: PageStage, id: &str, ctx: &Ctx) -> Result<Walked, EngineError> {
        match stage {
            PageStage::Rate => self.rate_pages(id, ctx).await,
            PageStage::Reconcile => {
                Ok(Walked { stage: self.reconcile_pages(id, ctx).await?, reconciled: StageReport::default() })
            }
        }
    }

    /// How an account of `wave` is rated: usage in arrears, and at its first new bill the
    /// wave's carry-over rule (SPEC §4), when it is scheduled.
    pub(crate) fn terms(wave: &Wave, sched: Option<&crate::plan::schedule::Schedule>) -> crate::rate::Terms {
        crate::rate::Terms {
            convention: None,
            handover: sched.map(|s| crate::rate::Handover::at(s.first_new_bill_date, wave.usage_carryover)),
        }
    }

    /// An account's new bill for a period, as the team and the customer see it: rated with its
    /// wave's terms ([`Engine::bill_terms`]), and a preview unless the target system bills the
    /// account for it (cut over or loaded, from its first new bill on).
    pub async fn new_bill(
        &self,
        acct: &crate::domain::LegacyAccount,
        period: crate::domain::Period,
    ) -> Result<crate::rate::Rated, EngineError> {
        let account = &acct.account.account_number;
        let terms = self.bill_terms(account).await?;
        let mut rated = crate::rate::rate_on(acct, &self.plan.catalog, period, terms)
            .map_err(|e| EngineError::Refused(e.to_string()))?;
        let billed_by_target =
            self.store.account(account).await?.is_some_and(|r| matches!(r.state, State::CutOver | State::Loaded));
        rated.preview |= !billed_by_target;
        Ok(rated)
    }

    /// How `cutover bill` rates an account: with its handover when it is on its way to the new
    /// system or there (scheduled, and not held, quarantined or rolled back), else in steady state.
    pub async fn bill_terms(&self, account: &str) -> Result<crate::rate::Terms, EngineError> {
        let Some(row) = self.store.account(account).await? else { return Ok(crate::rate::Terms::default()) };
        let moving =
            matches!(row.state, State::Rated | State::Reconciled | State::Notified | State::CutOver | State::Loaded);
        let wave = row.wave.as_deref().and_then(|w| self.plan.wave(w));
        Ok(match (moving, wave) {
            (true, Some(w)) => Self::terms(w, row.schedule().as_ref()),
            _ => crate::rate::Terms::default(),
        })
    }

    pub(crate) fn wave(&self, id: &str) -> Result<&Wave, EngineError> {
        self.plan.wave(id).ok_or_else(|| {
            let known: Vec<_> = self.plan.waves.iter().map(|w| w.id.as_str()).collect();
            EngineError::Refused(format!("no wave `{id}` in the plan (waves: {})", known.join(", ")))
        })
    }

    /// Refuses a wave that has no start date, saying why.
    pub fn runnable_wave(&self, id: &str) -> Result<&Wave, EngineError> {
        let w = self.wave(id)?;
        if w.start.is_none() {
            return Err(EngineError::Refused(format!(
                "wave `{id}` is not scheduled yet (its `start` is null in {}): give it a start date, then run it",
                w.file
            )));
        }
        Ok(w)
    }

    /// Walks the wave's accounts in `states` (due as of the run, with `due`) a page at a time,
    /// each page claimed for this worker (`store::lease`): another live worker on the store never
    /// gets the same page, and a dead one's claims lapse after the lease length. Stops between
    /// pages when asked to (SIGTERM).
    ///
    /// With `records`, `f` gets each page's accounts with their legacy records: the next page is
    /// claimed and its records read ([`Engine::read_ahead`]) while `f` works on this one, so
    /// reading overlaps rating and writing (issue 11). Without, `f` gets no records. A page's rows
    /// are thus read a page before it is worked on; what `f` writes about an account still goes
    /// through a transition that checks its state, and the page is this worker's claim meanwhile.
    async fn pages(
        &self,
        walk: Walk<'_>,
        ctx: &Ctx,
        mut f: impl AsyncFnMut(Vec<(AccountRow, LegacyAccount)>, Vec<AccountRow>) -> Result<StageReport, EngineError>,
    ) -> Result<StageReport, EngineError> {
        let Walk { wave, states, due, stage, records } = walk;
        // Only the accounts due count, so a day with nothing to do draws no bar.
        let total = self.store.count_due(wave, states, due).await?;
        let mut report = StageReport::default();
        if total == 0 {
            return Ok(report);
        }
        let secs = crate::store::lease::lease_secs();
        // A crashed worker of this host holds nothing any more.
        self.store.reap_dead_claims().await?;
        let label = match due {
            Some((_, day)) => format!("{stage} {wave} {day}"),
            None => format!("{stage} {wave}"),
        };
        self.progress.start(&label, total as u64);
        let page = page_size(total, self.workers);
        // The next page, claimed, and its records being read.
        let claim = async |after: &str| -> Result<(Vec<AccountRow>, Option<super::ReadAhead>), EngineError> {
            let rows = self
                .store
                .claim_accounts(&crate::store::WavePage { wave, states, due, after, limit: page }, &self.worker, secs)
                .await?;
            if !rows.is_empty() {
                crate::failpoint::hit("team.claimed");
            }
            let ahead = records.filter(|_| !rows.is_empty()).map(|which| self.read_ahead(&rows, which));
            Ok((rows, ahead))
        };
        let mut next = claim("").await;
        let walked = async {
            let stopping = || self.stop.load(std::sync::atomic::Ordering::SeqCst);
            loop {
                let (rows, ahead) = next?;
                // Asked to stop while the page before was worked on: this one, claimed ahead, is
                // not started (its claims go back below).
                if stopping() {
                    break;
                }
                let Some(last) = rows.last().map(|r| r.account_number.clone()) else { break };
                next = if stopping() { Ok((Vec::new(), None)) } else { claim(&last).await };
                let n = rows.len() as u64;
                let done = async {
                    match ahead {
                        Some(ahead) => f(self.pair(&rows, ahead.records().await?, ctx).await?, Vec::new()).await,
                        None => f(Vec::new(), rows).await,
                    }
                }
                .await;
                // This page's claims go whatever happened (a failed page is another worker's to
                // try); the next page's stay. The page's own error is the one to report. A page
                // that went well has let go of most of them already, in the transaction that
                // recorded it (`Store::release_claims_in`): what is left is the accounts it did
                // not finish, so this rewrites few rows.
                let released = self.store.release_claims_through(&self.worker, &last).await;
                report.add(&done?);
                released?;
                crate::failpoint::hit("team.page_done");
                self.progress.advance(n);
            }
            Ok::<(), EngineError>(())
        }
        .await;
        // A page claimed ahead and not worked on (a stop, a failure) goes back too.
        let released = self.store.release_claims(&self.worker).await;
        walked?;
        released?;
        self.progress.finish();
        Ok(report)
    }

    /// Every stage of a wave that is due as of `ctx.as_of` and allowed by its gate.
    pub async fn run_wave(&self, id: &str, ctx: &Ctx, mailer: &Mailer) -> Result<RunReport, EngineError> {
        let wave = self.runnable_wave(id)?;
        // What a fresh extraction found (a legacy system still billing cut-over accounts) is said
        // with the run's first stage.
        let extracted = self.ensure_fresh(wave, ctx).await?;
        let said = extracted.map(|c| c.warnings.into_iter().map(|w| format!("extraction #{}: {w}", c.id)).collect());
        // Nothing due for any stage (one query): only the gate is read, for the caller.
        if self.store.wave_idle(id, ctx.as_of).await? {
            let gate = Some(self.gate(id).await?.verdict);
            let rated = StageReport { notes: said.unwrap_or_default(), ..StageReport::default() };
            return Ok(RunReport {
                wave: id.to_string(),
                as_of: ctx.as_of.to_string(),
                gate,
                rated,
                ..RunReport::default()
            });
        }
        // Each page rated is reconciled at once, from the records it loaded; then the rated
        // accounts no page of this run reconciled (an earlier run's, a crash's).
        let t = self.clock.start();
        let walked = self.fan_out(PageStage::Rate, id, ctx).await?;
        self.clock.stop("rate+reconcile", t, walked.stage.accounts());
        let mut rated = walked.stage;
        rated.notes.splice(0..0, said.unwrap_or_default());
        let t = self.clock.start();
        let fused = walked.reconciled.accounts();
        let reconciled = self.reconcile_rest(id, ctx, walked.reconciled).await?;
        // Timed here: the accounts left over, not those the rating pages reconciled.
        self.clock.stop("reconcile", t, reconciled.accounts().saturating_sub(fused));
        let t = self.clock.start();
        let notified = self.notify_wave(id, ctx, mailer).await?;
        self.clock.stop("notify", t, notified.accounts());
        let t = self.clock.start();
        let (gate, switched) = self.switch_wave(id, ctx).await?;
        self.clock.stop("switch", t, switched.accounts());
        Ok(RunReport {
            wave: id.to_string(),
            as_of: ctx.as_of.to_string(),
            rated,
            reconciled,
            gate: Some(gate),
            notified,
            switched,
        })
    }

    /// Puts held accounts back to be rated and reconciled again (after a catalog or data fix).
    /// (put back, left held because a person held them).
    pub async fn recheck_held(&self, id: &str, ctx: &Ctx) -> Result<(u64, u64), EngineError> {
        let rep = self
            .pages(
                Walk { wave: id, states: &[State::Held], due: None, stage: "recheck", records: None },
                ctx,
                async |_, rows| {
                    let mut r = StageReport::default();
                    let mut tx = self.store.begin().await?;
                    for a in rows {
                        // Held by a person: only `hold --release` lifts that.
                        if super::reports::held_by_person(&a) {
                            r.held += 1;
                            continue;
                        }
                        let t = ctx
                            .transition(
                                &a.account_number,
                                State::Held,
                                State::Extracted,
                                "held account put back for another check",
                            )
                            .scheduling(None);
                        if t.from.can_go_to(t.to) && self.store.transition_in(&mut tx, &t).await? {
                            r.done += 1;
                        }
                    }
                    tx.commit().await.map_err(|e| self.store.err(e))?;
                    Ok(r)
                },
            )
            .await?;
        Ok((rep.done, rep.held))
    }

    /// Judges again, under the wave file as it is now, the accounts reconciled under another
    /// tolerance or other accepted reasons (the file changed since): each one whose customer was
    /// not told yet goes back to `rated` (journaled), and the reconcile stage that follows judges
    /// it as any other, waivers included; how many. An account whose customer was told (notified,
    /// or its notice sent or sending) keeps its verdict ([`Engine::judged_otherwise`] counts them).
    pub async fn rejudge(&self, id: &str, ctx: &Ctx) -> Result<u64, EngineError> {
        let policy = Policy::of(self.runnable_wave(id)?);
        let rep = self
            .pages(
                Walk { wave: id, states: &[State::Reconciled], due: None, stage: "rejudge", records: None },
                ctx,
                async |_, rows| {
                    let otherwise = self.judged_otherwise_of(&policy, &rows).await?;
                    let mut moves = Vec::new();
                    for a in rows.iter().filter(|a| otherwise.contains(&a.account_number)) {
                        if self.told(a).await?.is_none() {
                            moves.push(a.account_number.as_str());
                        }
                    }
                    let mut r = StageReport::default();
                    let mut tx = self.store.begin().await?;
                    for number in moves {
                        let why = "put back to be judged again: the wave file's tolerance or accepted reasons changed \
                                   since its reconciliation";
                        let t = ctx.transition(number, State::Reconciled, State::Rated, why);
                        if self.store.transition_in(&mut tx, &t).await? {
                            r.done += 1;
                        }
                    }
                    tx.commit().await.map_err(|e| self.store.err(e))?;
                    Ok(r)
                },
            )
            .await?;
        Ok(rep.done)
    }

    /// How many of the wave's reconciled and notified accounts its wave file as it is now would
    /// judge otherwise, read without claiming or changing anything.
    pub async fn judged_otherwise(&self, id: &str) -> Result<JudgedOtherwise, EngineError> {
        let policy = Policy::of(self.runnable_wave(id)?);
        let mut out = JudgedOtherwise::default();
        let mut after = String::new();
        loop {
            let rows = self.store.next_page(id, &[State::Reconciled, State::Notified], &mut after).await?;
            if rows.is_empty() {
                return Ok(out);
            }
            let otherwise = self.judged_otherwise_of(&policy, &rows).await?;
            for a in rows.iter().filter(|a| otherwise.contains(&a.account_number)) {
                match a.state {
                    State::Reconciled => out.reconciled += 1,
                    _ => out.notified += 1,
                }
            }
        }
    }

    /// The accounts of `rows` whose stored verdicts `policy` would judge otherwise: a period's
    /// status, or the account's recorded outcome (its per-account tolerance included;
    /// [`Policy::account_judged_otherwise`]).
    async fn judged_otherwise_of(
        &self,
        policy: &Policy,
        rows: &[AccountRow],
    ) -> Result<std::collections::HashSet<String>, EngineError> {
        let numbers: Vec<String> = rows.iter().map(|a| a.account_number.clone()).collect();
        let recons = self.store.recons(&numbers).await?;
        // Each account's verdicts, in period order (as the store returns them).
        let mut periods: std::collections::BTreeMap<String, Vec<crate::reconcile::PeriodVerdict>> = Default::default();
        for (number, data) in self.store.verdicts(&numbers).await? {
            let v: crate::reconcile::PeriodVerdict =
                serde_json::from_str(&data).map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
            periods.entry(number).or_default().push(v);
        }
        Ok(numbers
            .into_iter()
            .filter(|n| {
                policy.account_judged_otherwise(periods.get(n).map_or(&[][..], Vec::as_slice), recons.get(n).copied())
            })
            .collect())
    }

    /// The records rating and reconciling read: of the legacy bills, the parallel run's only
    /// ([`Engine::parallel_periods`]).
    fn parallel_run(wave: &Wave, ctx: &Ctx) -> Records {
        Records::Recent { periods: wave.parallel_run_periods, as_of: ctx.as_of }
    }

    /// The periods of the parallel run: the most recent legacy bills.
    fn parallel_periods(wave: &Wave, acct: &LegacyAccount) -> Vec<Period> {
        let all = acct.legacy_periods();
        let n = wave.parallel_run_periods as usize;
        all[all.len().saturating_sub(n)..].to_vec()
    }

    /// Rate and reconcile (with `self.workers` workers): schedules each extracted account and
    /// re-rates its parallel-run periods, a page at a time, then reconciles the page's rated
    /// accounts from the records the page loaded; then the rated accounts no page reconciled.
    /// Returns what rating did and what reconciling did.
    pub async fn rate_and_reconcile(&self, id: &str, ctx: &Ctx) -> Result<(StageReport, StageReport), EngineError> {
        let walked = self.fan_out(PageStage::Rate, id, ctx).await?;
        let reconciled = self.reconcile_rest(id, ctx, walked.reconciled).await?;
        Ok((walked.stage, reconciled))
    }

    // Long: the rate stage's one page closure (load, rate, record with the transition).
    // Long: one page's plumbing in one transaction, an account's cases in the order they are
    // decided (not yet a customer, closed, nothing left, rated or quarantined), each journaled.
    // Each page's rated accounts are then reconciled ([`PageStage::Rate`]).
    async fn rate_pages(&self, id: &str, ctx: &Ctx) -> Result<Walked, EngineError> {
        let wave = self.runnable_wave(id)?;
        let policy = Policy::of(wave);
        let known = Some((Due::Known, ctx.as_of));
        let mut reconciled = StageReport::default();
        let stage = self
            .pages(
                Walk {
                    wave: id,
                    states: &[State::Extracted],
                    due: known,
                    stage: "rate",
                    records: Some(Self::parallel_run(wave, ctx)),
                },
                ctx,
                async |pairs, _| {
                    // Not customers yet on this day: from when they are (the whole account, read before the
                    // transaction), so the daily runs until then do not load them again (issue 11).
                    let later: Vec<String> =
                        pairs.iter().filter(|(_, a)| !a.known()).map(|(row, _)| row.account_number.clone()).collect();
                    let wake: Vec<(String, Option<chrono::NaiveDate>)> = self
                        .store
                        .legacy_accounts(&later)
                        .await?
                        .iter()
                        .map(|a| (a.account.account_number.clone(), a.known_from()))
                        .collect();
                    let mut r = StageReport::default();
                    let mut new_bills = Vec::new();
                    let mut moves = Vec::new();
                    // Each account rated: its move, its place in the page and its schedule, to reconcile
                    // it below if it moved.
                    let mut rated = Vec::new();
                    for (i, (_, acct)) in pairs.iter().enumerate() {
                        let number = &acct.account.account_number;
                        // A closed account has nothing to move and no one to tell.
                        if acct.account.status == crate::domain::AccountStatus::Closed {
                            let why = "closed in the legacy system: nothing to migrate";
                            moves.push((ctx.transition(number, State::Extracted, State::Held, why), Count::Held));
                            continue;
                        }
                        // Not a customer yet on this day (no service known, no bill issued): a later run
                        // rates it, once it exists.
                        if !acct.known() {
                            continue;
                        }
                        // Not schedulable is not a reason to skip rating: the parallel run still tells the
                        // team whether the bills are right. The reconcile stage holds such an account.
                        let sched = schedule(wave, acct.account.bill_cycle_day, ctx.as_of);
                        // Nothing active at the first new bill: nothing to move, no one to tell.
                        if let Ok(s) = &sched
                            && let Some(why) = nothing_left(acct, s.first_new_bill_date)
                        {
                            moves.push((ctx.transition(number, State::Extracted, State::Held, why), Count::Held));
                            continue;
                        }
                        let terms = Self::terms(wave, sched.as_ref().ok());
                        let mut bills = Vec::new();
                        let mut failure = None;
                        for p in Self::parallel_periods(wave, acct) {
                            match crate::rate::rate_on(acct, &self.plan.catalog, p, terms) {
                                Ok(rated) => bills.push(rated.bill),
                                Err(e) => {
                                    failure = Some(e.to_string());
                                    break;
                                }
                            }
                        }
                        if let Some(why) = failure {
                            moves.push((
                                ctx.transition(number, State::Extracted, State::Quarantined, why),
                                Count::Quarantined,
                            ));
                            continue;
                        }
                        for b in &bills {
                            new_bills.push(crate::store::NewBillRow {
                                account: number.clone(),
                                period: b.period.to_string(),
                                total: b.total.to_string(),
                                data: serde_json::to_string(b).map_err(|e| EngineError::Refused(e.to_string()))?,
                            });
                        }
                        let reason = match &sched {
                            Ok(s) => format!(
                                "rated {} parallel-run period(s); cut over {}, first new bill {}, notice {}",
                                bills.len(),
                                s.cutover_date,
                                s.first_new_bill_date,
                                s.notice_date
                            ),
                            Err(why) => format!("rated {} parallel-run period(s); {why}", bills.len()),
                        };
                        let sched = sched.ok();
                        rated.push((moves.len(), i, sched));
                        let t = ctx.transition(number, State::Extracted, State::Rated, reason).scheduling(sched);
                        moves.push((t, Count::Done));
                    }
                    // The accounts this page rates, as rating leaves them, for reconciling below from
                    // the records loaded: compared while the rating's transaction runs on the
                    // store's thread (issue 11), written once it has committed, for the accounts
                    // it did move.
                    let rated_rows: Vec<AccountRow> = rated
                        .iter()
                        .map(|&(_, i, sched)| AccountRow { state: State::Rated, ..pairs[i].0.clone() }.scheduled(sched))
                        .collect();
                    let candidates: Vec<(&AccountRow, &LegacyAccount)> =
                        rated.iter().zip(&rated_rows).map(|(&(_, i, _), row)| (row, &pairs[i].1)).collect();
                    let facts = self.reconcile_facts(&candidates).await?;
                    // The page's state changes and bills in a few statements, in one transaction, opened
                    // only now: another worker's page is rated while this one holds SQLite's write lock.
                    let mut tx = self.store.begin().await?;
                    self.store.set_not_before_in(&mut tx, &wake).await?;
                    // The page is done with every account it does not reconcile below (which lets
                    // its own go): their claims go with this transaction.
                    let reconciling: std::collections::HashSet<usize> = rated.iter().map(|&(_, i, _)| i).collect();
                    let done: Vec<&str> = (pairs.iter().enumerate())
                        .filter(|(i, _)| !reconciling.contains(i))
                        .map(|(_, (row, _))| row.account_number.as_str())
                        .collect();
                    let rating = async {
                        let moved = self.apply_in(&mut tx, moves, &mut r).await?;
                        self.store.put_bills_in(&mut tx, &new_bills).await?;
                        self.store.release_claims_in(&mut tx, &self.worker, &done).await?;
                        tx.commit().await.map_err(|e| self.store.err(e))?;
                        crate::failpoint::hit("rate.committed");
                        Ok::<_, EngineError>(moved)
                    };
                    let (moved, compared) =
                        tokio::join!(rating, self.compare_page(wave, &policy, &candidates, ctx, &facts));
                    let (moved, mut compared) = (moved?, compared?);
                    // Another worker may have rated some of them meanwhile: those are its to reconcile.
                    let kept: std::collections::HashSet<&str> = rated
                        .iter()
                        .filter(|(m, ..)| moved[*m])
                        .map(|&(_, i, _)| pairs[i].0.account_number.as_str())
                        .collect();
                    compared.only(&kept);
                    reconciled.add(&self.write_reconciled(id, compared).await?);
                    Ok(r)
                },
            )
            .await?;
        Ok(Walked { stage, reconciled })
    }

    /// Compares an account's parallel-run periods, legacy against new (pure): a period either side
    /// cannot rate is left out.
    fn compare_periods(
        wave: &Wave,
        acct: &LegacyAccount,
        catalog: &crate::plan::Catalog,
        policy: &Policy,
        sched: Option<&crate::plan::schedule::Schedule>,
    ) -> Vec<PeriodVerdict> {
        let cycle_day = acct.account.bill_cycle_day;
        let terms = Self::terms(wave, sched);
        let mut verdicts = Vec::new();
        for p in Self::parallel_periods(wave, acct) {
            let alt_terms = crate::rate::Terms { convention: Some(Proration::Thirty360), ..terms };
            let (Ok(new), Ok(alt)) =
                (crate::rate::rate_on(acct, catalog, p, terms), crate::rate::rate_on(acct, catalog, p, alt_terms))
            else {
                continue;
            };
            let legacy: Vec<_> = acct.invoice_lines.iter().filter(|l| l.period == p).cloned().collect();
            // Like with like at the handover: a final legacy usage bill stays legacy's.
            let final_usage = terms.handover.and_then(|h| h.final_legacy_usage(p, cycle_day));
            let input = PeriodInput {
                legacy_final_usage: final_usage.map(|b| (b.start, b.end)),
                ..PeriodInput::new(&legacy, &new.bill, &alt.bill)
            };
            verdicts.push(reconcile::compare(&input, catalog, policy));
        }
        verdicts
    }

    /// Reconcile: compares the legacy bills with the new ones; passing accounts move on, failing
    /// ones are held with the reasons. `done` is what the rating pages reconciled
    /// ([`Engine::rate_and_reconcile`]).
    async fn reconcile_rest(&self, id: &str, ctx: &Ctx, done: StageReport) -> Result<StageReport, EngineError> {
        let wave = self.runnable_wave(id)?;
        let mut stage = self.fan_out(PageStage::Reconcile, id, ctx).await?.stage;
        stage.add(&done);
        // Every reconciliation that compared accounts is kept as a numbered run of the wave.
        // One worker at a time computes and records it, so the latest run is never a view taken
        // before another worker's last page.
        if stage.done + stage.held > 0 {
            let lease = format!("reconcile:{id}");
            self.store.wait_lease(&lease, &self.worker, crate::store::lease::lease_secs()).await?;
            let recorded = self.record_tallied_run(wave, "run", ctx).await;
            self.store.release_lease(&lease, &self.worker).await?;
            recorded?;
        }
        Ok(stage)
    }

    async fn reconcile_pages(&self, id: &str, ctx: &Ctx) -> Result<StageReport, EngineError> {
        let wave = self.runnable_wave(id)?;
        let policy = Policy::of(wave);
        let walk = Walk {
            wave: id,
            states: &[State::Rated],
            due: None,
            stage: "reconcile",
            records: Some(Self::parallel_run(wave, ctx)),
        };
        self.pages(walk, ctx, async |pairs, _| self.reconcile_page(wave, &policy, &pairs, ctx).await).await
    }

    /// Reconciles a page of rated accounts, their records loaded: each compared and decided,
    /// journaled, with its verdicts and tally, in one transaction.
    async fn reconcile_page(
        &self,
        wave: &Wave,
        policy: &Policy,
        pairs: &[(AccountRow, LegacyAccount)],
        ctx: &Ctx,
    ) -> Result<StageReport, EngineError> {
        let pairs: Vec<(&AccountRow, &LegacyAccount)> = pairs.iter().map(|(row, acct)| (row, acct)).collect();
        let facts = self.reconcile_facts(&pairs).await?;
        let compared = self.compare_page(wave, policy, &pairs, ctx, &facts).await?;
        self.write_reconciled(&wave.id, compared).await
    }

    /// What reconciling a page needs from the store besides the records, read before its
    /// transaction: the accounts' waivers, and whether each can be reached.
    async fn reconcile_facts(&self, pairs: &[(&AccountRow, &LegacyAccount)]) -> Result<ReconcileFacts, EngineError> {
        if pairs.is_empty() {
            return Ok(ReconcileFacts::default());
        }
        let numbers: Vec<String> = pairs.iter().map(|(r, _)| r.account_number.clone()).collect();
        let waivers = self.store.waivers(&numbers).await?.into_iter().collect();
        let unreachable = self.unreachable(pairs).await?;
        Ok(ReconcileFacts { waivers, unreachable })
    }

    /// A page's accounts compared and decided (nothing written; it yields now and then, so that
    /// the caller's other work, the rating's transaction, goes on meanwhile).
    // Long: an account's cases in the order they are decided (nothing left, compared, then the
    // decision), each with its journal reason.
    async fn compare_page<'p>(
        &self,
        wave: &Wave,
        policy: &Policy,
        pairs: &[(&'p AccountRow, &'p LegacyAccount)],
        ctx: &'p Ctx,
        facts: &ReconcileFacts,
    ) -> Result<ComparedPage<'p>, EngineError> {
        let catalog = &self.plan.catalog;
        let mut page = ComparedPage::default();
        for (n, &(row, acct)) in pairs.iter().enumerate() {
            if n % 8 == 7 {
                tokio::task::yield_now().await;
            }
            let number = &acct.account.account_number;
            page.accounts.push(number.as_str());
            let cycle_day = acct.account.bill_cycle_day;
            // Scheduled at rating, or now: the same dates the stage below records.
            let sched = row.schedule().or_else(|| schedule(wave, cycle_day, ctx.as_of).ok());
            if row.schedule().is_none()
                && let Some(s) = sched
                && let Some(why) = nothing_left(acct, s.first_new_bill_date)
            {
                page.moves.push((ctx.transition(number, State::Rated, State::Held, why), Count::Held));
                continue;
            }
            let verdicts = Self::compare_periods(wave, acct, catalog, policy, sched.as_ref());
            // This comparison replaces the account's earlier verdicts (no stale period
            // stays), written for the page below.
            for v in &verdicts {
                page.verdicts.push(crate::store::VerdictRow {
                    account: number.clone(),
                    period: v.period.to_string(),
                    status: v.status.as_str().to_string(),
                    legacy_total: v.legacy_total.to_string(),
                    new_total: v.new_total.to_string(),
                    difference: v.difference.to_string(),
                    data: serde_json::to_string(v).map_err(|e| EngineError::Refused(e.to_string()))?,
                });
            }
            page.compared.push(number.clone());
            // A tally only where there are verdicts: a report counts an account by its
            // verdicts, and a run must count the same accounts.
            if !verdicts.is_empty() {
                page.tallies.push(crate::reconcile::report::Tally::of(number, &verdicts, policy));
            }
            page.recon.push((number.as_str(), decide::passes(&verdicts, policy)));
            let decision = decide::decide(&decide::Facts {
                verdicts: &verdicts,
                policy,
                waiver: facts.waivers.get(number.as_str()),
                unreachable: facts.unreachable.get(number.as_str()).and_then(|(_, why)| why.as_deref()),
                scheduling: match row.schedule() {
                    Some(_) => decide::Scheduling::AtRating,
                    None => decide::Scheduling::Now(schedule(wave, cycle_day, ctx.as_of)),
                },
            });
            let to = decision.to();
            let mut t = ctx.transition(number, State::Rated, to, decision.reason().to_string());
            if let Some(s) = decision.schedule() {
                t = t.scheduling(Some(s));
            }
            page.moves.push((t, if to == State::Reconciled { Count::Done } else { Count::Held }));
        }
        Ok(page)
    }

    /// A compared page written: its outcomes, state changes, verdicts and tallies in a few
    /// statements, in one transaction, with its accounts' claims let go.
    async fn write_reconciled(&self, wave: &str, page: ComparedPage<'_>) -> Result<StageReport, EngineError> {
        let mut r = StageReport::default();
        if page.accounts.is_empty() {
            return Ok(r);
        }
        let mut tx = self.store.begin().await?;
        self.store.set_recon_in(&mut tx, &page.recon).await?;
        self.apply_in(&mut tx, page.moves, &mut r).await?;
        self.store.replace_verdicts_in(&mut tx, &page.compared, &page.verdicts).await?;
        self.store.put_tallies_in(&mut tx, &page.tallies).await?;
        // The page is done with these accounts: their claims go with its changes.
        self.store.release_claims_in(&mut tx, &self.worker, &page.accounts).await?;
        // The wave's tallies changed: the stamp says so, last; this process keeps them as written.
        let stamp = if page.compared.is_empty() && page.tallies.is_empty() {
            None
        } else {
            Some(self.store.bump_tally_stamp_in(&mut tx).await?)
        };
        tx.commit().await.map_err(|e| self.store.err(e))?;
        if let Some(stamp) = stamp {
            self.tally_cache().apply(wave, stamp, &page.compared, &page.tallies);
        }
        Ok(r)
    }

    /// The wave's gate, from its latest recorded reconciliation run (the reconcile stage records
    /// one whenever it compares accounts), honouring a promotion of that very outcome. One query,
    /// whatever the size of the wave. No run yet: nothing to judge, the wave pauses.
    pub async fn gate(&self, id: &str) -> Result<reconcile::GateResult, EngineError> {
        let wave = self.wave(id)?;
        let run = self.store.latest_run(id).await?;
        let metrics = run.as_ref().map_or_else(reconcile::GateMetrics::default, |r| reconcile::GateMetrics {
            accounts: u64::try_from(r.accounts).unwrap_or(0),
            passing: u64::try_from(r.passed + r.waived).unwrap_or(0),
            absolute_variance: r.absolute_variance,
            unexplained: u64::try_from(r.unexplained).unwrap_or(0),
        });
        let fingerprint = run.map(|r| r.fingerprint).unwrap_or_default();
        let promotion = self.promotion(id).await?;
        Ok(reconcile::gate::evaluate(&wave.gate, &metrics, &fingerprint, promotion.as_ref()))
    }

    /// Per account of a page: its valid billing emails (the form's submission, else the legacy
    /// ones, and its contacts'), and why nothing can reach it, if so. Read before a stage opens its
    /// transaction (a scratch store has one connection).
    async fn unreachable(
        &self,
        pairs: &[(&AccountRow, &LegacyAccount)],
    ) -> Result<std::collections::HashMap<String, (Vec<String>, Option<String>)>, EngineError> {
        let mut out = std::collections::HashMap::new();
        let numbers: Vec<String> = pairs.iter().map(|(_, a)| a.account.account_number.clone()).collect();
        let mut forms = self.store.recipients_of(&numbers).await?;
        for &(_, acct) in pairs {
            let number = &acct.account.account_number;
            let form = forms.remove(number).map(|r| r.emails);
            let emails = crate::switch::reachable_emails(acct, form.as_deref());
            let why = crate::switch::unreachable(acct, &emails);
            out.insert(number.clone(), (emails, why));
        }
        Ok(out)
    }

    /// Switch: cuts over the accounts whose cut-over date has come, that were notified and passed,
    /// while the wave's gate says proceed. The state changes commit first (a page at a time); then
    /// the wave's load files are rebuilt from the store (see `engine::load`). A run first repairs
    /// what an interrupted run left.
    pub async fn switch_wave(&self, id: &str, ctx: &Ctx) -> Result<(GateVerdict, StageReport), EngineError> {
        let wave = self.runnable_wave(id)?;
        let (held, sets) = self.sync_load_files(Some(id), ctx).await?;
        let mut rep = StageReport { held, sets, ..StageReport::default() };
        let gate = self.gate(id).await?.verdict;
        if gate != GateVerdict::Proceed {
            return Ok((gate, rep));
        }
        let extraction = self.store.last_extraction().await?.map(|e| e.id);
        // Its snapshot drops the legacy invoice lines (`switch::member`): not read.
        let walk = Walk {
            wave: id,
            states: &[State::Notified],
            due: Some((Due::Cutover, ctx.as_of)),
            stage: "switch",
            records: Some(Records::WithoutInvoiceLines),
        };
        let page = self
            .pages(walk, ctx, async |pairs, _| {
                let refs: Vec<(&AccountRow, &LegacyAccount)> = pairs.iter().map(|(row, acct)| (row, acct)).collect();
                let mut reach = self.unreachable(&refs).await?;
                let mut r = StageReport::default();
                let (mut moves, mut pending, mut late) = (Vec::new(), Vec::new(), Vec::new());
                for (row, acct) in &pairs {
                    let Some(sched) = row.schedule() else { continue };
                    let number = &row.account_number;
                    let (emails, unreachable) = reach.remove(number.as_str()).unwrap_or_default();
                    let hold = if ctx.as_of >= sched.first_new_bill_date {
                        Some(format!(
                            "missed its cut-over date {}: the legacy system has billed {}; needs a new schedule and notice",
                            sched.cutover_date, sched.first_new_bill_date
                        ))
                    } else {
                        unreachable
                    };
                    if let Some(why) = hold {
                        if ctx.as_of >= sched.first_new_bill_date {
                            late.push(moves.len());
                        }
                        moves.push((ctx.transition(number, State::Notified, State::Held, why), Count::Held));
                        continue;
                    }
                    let dir = self.set_dir(id, sched.cutover_date);
                    let why = format!(
                        "cut over: load files in {}; legacy billing suppressed from {} (legacy-suppression.csv); first new bill {}",
                        dir.display(),
                        sched.first_new_bill_date,
                        sched.first_new_bill_date
                    );
                    let member = crate::switch::member(acct, emails, sched, wave.usage_carryover, extraction);
                    let snapshot = serde_json::to_string(&member).map_err(|e| EngineError::Refused(e.to_string()))?;
                    let cutover = crate::store::PendingCutover {
                        account: number.clone(),
                        schedule: sched,
                        target_dir: dir.display().to_string(),
                        snapshot,
                    };
                    pending.push((moves.len(), cutover));
                    moves.push((ctx.transition(number, State::Notified, State::CutOver, why), Count::Done));
                }
                // The page's state changes, and a pending cut-over for each account that did move.
                let mut tx = self.store.begin().await?;
                let moved = self.apply_in(&mut tx, moves, &mut r).await?;
                r.late += late.iter().filter(|&&i| moved[i]).count() as u64;
                let pending: Vec<_> = pending.into_iter().filter(|(i, _)| moved[*i]).map(|(_, c)| c).collect();
                self.store.put_cutovers_pending_in(&mut tx, id, &pending, ctx.at).await?;
                // The page is done with its accounts: their claims go with its changes.
                let done: Vec<&str> = pairs.iter().map(|(row, _)| row.account_number.as_str()).collect();
                self.store.release_claims_in(&mut tx, &self.worker, &done).await?;
                tx.commit().await.map_err(|e| self.store.err(e))?;
                crate::failpoint::hit("switch.committed");
                Ok(r)
            })
            .await?;
        rep.add(&page);
        if page.late > 0 {
            rep.notes.push(format!(
                "{} account(s) held: their cut-over date passed before the switch ran, and the legacy system \
                 billed them on their first new bill date; `switch` (or `run`) must run every day of the window \
                 (`schedule` only sends notices). `cutover status --wave {id} --state held` lists them; `run --recheck-held` gives each a \
                 new schedule and notice if the window still allows one",
                page.late
            ));
        }
        // The files of every set this run changed, from the store.
        let (held, written) = self.sync_load_files(Some(id), ctx).await?;
        rep.held += held;
        for set in written {
            // What a set's manifest notes (usage left out of usage.csv, …) is said where the
            // operator looks, not only in the file.
            if let Some(note) = set_notes(&set) {
                rep.notes.push(note);
            }
            if !rep.sets.contains(&set) {
                rep.sets.push(set);
            }
        }
        Ok((gate, rep))
    }
}

/// A load set's notes for the team, in one line: how many, and the first (`None` without any,
/// or without a readable manifest).
fn set_notes(set: &std::path::Path) -> Option<String> {
    let notes = super::load::manifest_notes(set);
    let first = notes.first()?;
    Some(format!(
        "{}: {} note(s) for the team in its README.txt and manifest.json, the first: {first}",
        set.display(),
        notes.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::{BATCH, page_size};

    #[test]
    fn pages_are_whole_batches_alone_and_shared_evenly_by_several() {
        for (due, workers, want) in [
            (1_000, 1, BATCH),
            (100_000, 1, BATCH),
            (1_000, 2, 125),
            (1_000, 3, 100),
            (200, 2, 100),
            (100_000, 2, BATCH),
            (6_000, 2, 500),
            (3_000, 2, 375),
        ] {
            assert_eq!(page_size(due, workers), want, "{due} accounts, {workers} workers");
        }
    }

    /// A rating page reconciles only the accounts its own transaction moved (another worker may
    /// have rated some meanwhile: those are its to reconcile). `ComparedPage::only` keeps what
    /// concerns the accounts kept, in every part, in order, and nothing of the others.
    #[test]
    fn a_compared_page_keeps_only_what_concerns_the_accounts_kept() {
        use super::{ComparedPage, Count};
        use crate::domain::{Decimal, State};
        use crate::reconcile::{AccountStatus, report::Tally};
        let ctx = crate::engine::Ctx::new(chrono::NaiveDate::from_ymd_opt(2017, 6, 1).unwrap(), "test");
        let all = ["A1", "A2", "A3", "A4"];
        let verdict = |a: &str, period: &str| crate::store::VerdictRow {
            account: a.into(),
            period: period.into(),
            status: "pass".into(),
            legacy_total: "10.00".into(),
            new_total: "10.00".into(),
            difference: "0.00".into(),
            data: "{}".into(),
        };
        let tally = |a: &str| Tally {
            account_number: a.into(),
            status: AccountStatus::Pass,
            stake: Decimal::ZERO,
            reasons: String::new(),
            legacy_total: Decimal::TEN,
            new_total: Decimal::TEN,
            unexplained: 0,
            periods: 2,
            mismatched: 0,
        };
        let mut page = ComparedPage {
            accounts: all.to_vec(),
            compared: all.iter().map(|a| a.to_string()).collect(),
            verdicts: all.iter().flat_map(|a| [verdict(a, "2017-04"), verdict(a, "2017-05")]).collect(),
            tallies: all.iter().map(|a| tally(a)).collect(),
            recon: all.iter().map(|&a| (a, a != "A3")).collect(),
            moves: all
                .iter()
                .map(|&a| (ctx.transition(a, State::Rated, State::Reconciled, "passed"), Count::Done))
                .collect(),
        };
        page.only(&["A1", "A3", "Z9"].into_iter().collect());
        let kept = ["A1", "A3"];
        assert_eq!(page.accounts, kept);
        assert_eq!(page.compared, kept);
        let verdicts: Vec<(&str, &str)> =
            page.verdicts.iter().map(|v| (v.account.as_str(), v.period.as_str())).collect();
        assert_eq!(verdicts, [("A1", "2017-04"), ("A1", "2017-05"), ("A3", "2017-04"), ("A3", "2017-05")]);
        assert_eq!(page.tallies.iter().map(|t| t.account_number.as_str()).collect::<Vec<_>>(), kept);
        assert_eq!(page.recon, [("A1", true), ("A3", false)]);
        assert_eq!(page.moves.iter().map(|(t, _)| t.account).collect::<Vec<_>>(), kept);
    }
}
