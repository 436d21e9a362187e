//! Reports that read the store: the reconciliation of a wave, its numbered runs, waivers and gate
//! promotions.
//!
//! How runs relate to commands: the reconcile stage (`run`) compares only the accounts rated since
//! the last run and stores their period verdicts; `reconcile --wave` compares the accounts not
//! compared yet (a fresh workspace: all of them, in a scratch store) and reports over every stored
//! verdict of the wave. Both record the wave's outcome as a numbered run, unless it is identical to
//! the last run (same fingerprint): running either command twice records one run. The report
//! then says what changed since the previous run. A fresh workspace keeps nothing, so its report is
//! always run #1.

use super::{Ctx, Engine, EngineError};
use crate::domain::State;
use crate::plan::Wave;
use crate::reconcile::gate::Promotion;
use crate::reconcile::report::{self, AccountRecon, PeriodBills, Reconciliation, RunInfo, RunPoint, summarize};
use crate::reconcile::{GateVerdict, PeriodVerdict};
use crate::store::{AccountRow, NewRun, RunRow, StoreError};
use std::collections::HashMap;

/// The wave-journal event of a gate promotion.
pub const PROMOTE: &str = "gate_promote";

/// How the journal's reason of a hold by a person begins (`hold`): `run --recheck-held` and a
/// waiver leave such an account held; `hold --release` puts it back.
pub use crate::domain::{HELD_BY_PERSON, PUT_BACK_BY_PERSON};

/// Whether a person held the account (`hold`; its reason says so): a stage's recheck and a
/// waiver leave it held.
pub(crate) fn held_by_person(row: &AccountRow) -> bool {
    row.state == State::Held && row.state_reason.as_deref().is_some_and(|r| r.starts_with(HELD_BY_PERSON))
}

/// Whether an account in `state` can be waived at all (`Engine::waive`: it also needs a failed
/// reconciliation): not once cut over, rolled back or quarantined, where a waiver changes nothing.
pub(crate) fn waivable(state: State) -> bool {
    !matches!(state, State::CutOver | State::RolledBack | State::Quarantined)
}

/// What [`Engine::hold`] did: the state the account was held from, and the first new bill date
/// its customer had been told (a notice went out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBy {
    pub from: State,
    pub told: Option<chrono::NaiveDate>,
    /// Why a stage had held it, when it was (`from` is then `held`): the person's hold is on top.
    pub stage_hold: Option<String>,
}

/// What `gate promote` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promoted {
    /// Recorded: the wave proceeds.
    Promoted,
    /// This very reconciliation was promoted before; nothing changed.
    Already,
    /// The gate says proceed already; nothing to promote.
    NotPaused,
    /// The gate says abort, which no person can promote.
    Aborted(String),
}

/// A run to record, from its summary.
fn new_run<'a>(
    wave: &'a str,
    s: &report::Summary,
    fingerprint: &'a str,
    gate: GateVerdict,
    via: &'a str,
    ctx: &'a Ctx,
) -> NewRun<'a> {
    NewRun {
        wave,
        at: ctx.at,
        actor: &ctx.actor,
        via,
        fingerprint,
        accounts: s.accounts,
        passed: s.passed,
        failed: s.failed,
        waived: s.waived,
        unexplained: s.unexplained,
        pass_rate: s.pass_rate.to_string(),
        legacy_total: s.legacy_total.to_string(),
        new_total: s.new_total.to_string(),
        absolute_variance: s.absolute_variance.to_string(),
        gate: gate.as_str(),
    }
}

/// A recorded run as a point of the report's charts.
fn point(r: &RunRow) -> RunPoint {
    RunPoint {
        number: u64::try_from(r.number).unwrap_or(0),
        pass_rate: r.pass_rate,
        absolute_variance: r.absolute_variance,
    }
}

impl Engine {
    /// The reconciliation report of a wave, from the stored verdicts, a page of accounts at a time,
    /// with its waivers and the gate (honouring a promotion of this very outcome).
    pub async fn reconciliation(&self, wave: &Wave) -> Result<Reconciliation, EngineError> {
        let mut out = Vec::new();
        let mut waivers = HashMap::new();
        let mut after = String::new();
        loop {
            let rows = self.store.next_page(&wave.id, &State::ALL, &mut after).await?;
            if rows.is_empty() {
                break;
            }
            let numbers: Vec<String> = rows.iter().map(|r| r.account_number.clone()).collect();
            waivers.extend(self.store.waivers(&numbers).await?);
            let mut current: Option<AccountRecon> = None;
            for (acct, data) in self.store.verdicts(&numbers).await? {
                let v: PeriodVerdict = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if current.as_ref().is_none_or(|c| c.account_number != acct) {
                    out.extend(current.take());
                    current = Some(AccountRecon::new(acct, vec![]));
                }
                if let Some(c) = current.as_mut() {
                    c.periods.push(v);
                }
            }
            out.extend(current.take());
        }
        let promotion = self.promotion(&wave.id).await?;
        let mut rep = summarize(wave, out, &waivers, promotion.as_ref());
        rep.history = self.store.runs(&wave.id).await?.iter().map(point).collect();
        Ok(rep)
    }

    /// How many of a report's accounts the wave's settings in `policy` would judge otherwise than
    /// they were ([`crate::reconcile::Policy::account_judged_otherwise`]: a period's status, or the
    /// outcome recorded when the account was reconciled).
    pub async fn judged_otherwise_in(
        &self,
        rep: &Reconciliation,
        policy: &crate::reconcile::Policy,
    ) -> Result<usize, EngineError> {
        let mut otherwise = 0;
        for page in rep.accounts.chunks(500) {
            let numbers: Vec<String> = page.iter().map(|a| a.account_number.clone()).collect();
            let recons = self.store.recons(&numbers).await?;
            otherwise += page
                .iter()
                .filter(|a| policy.account_judged_otherwise(&a.periods, recons.get(&a.account_number).copied()))
                .count();
        }
        Ok(otherwise)
    }

    /// Stamps a report with its context: as of, made when and by whom, and the wave's accounts it
    /// leaves out (a quarantined legacy row, closed in the legacy system).
    /// `generated_at` is the wall clock (the caller reads it; stages take time from `ctx`).
    pub async fn stamp(
        &self,
        rep: &mut Reconciliation,
        ctx: &Ctx,
        generated_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), EngineError> {
        let mut members = std::collections::HashSet::new();
        let mut after = String::new();
        loop {
            let rows = self.store.next_page(&rep.wave, &State::ALL, &mut after).await?;
            if rows.is_empty() {
                break;
            }
            members.extend(rows.into_iter().map(|r| r.account_number));
        }
        let quarantined: std::collections::HashSet<String> = self
            .store
            .quarantine(None)
            .await?
            .into_iter()
            .filter_map(|q| q.account_number.filter(|a| members.contains(a)))
            .collect();
        rep.context = Some(report::ReportContext {
            as_of: ctx.as_of,
            generated_at,
            operator: ctx.actor.clone(),
            quarantined: quarantined.len() as u64,
            closed: u64::try_from(self.store.closed_held(&rep.wave).await?).unwrap_or(0),
        });
        Ok(())
    }

    /// The wave's latest gate promotion.
    pub(super) async fn promotion(&self, wave: &str) -> Result<Option<Promotion>, EngineError> {
        let events = self.store.wave_journal(wave, Some(PROMOTE)).await?;
        Ok(events.into_iter().last().map(|e| Promotion {
            at: e.at,
            actor: e.actor,
            reason: e.reason,
            fingerprint: e.fingerprint,
        }))
    }

    /// Records the report as the wave's next run (unless it equals the last one) and fills in the
    /// report's run number and what changed since the previous run.
    pub async fn record_run(&self, rep: &mut Reconciliation, via: &str, ctx: &Ctx) -> Result<(), EngineError> {
        let results = report::results(&rep.accounts);
        let new = new_run(&rep.wave, &rep.summary, &rep.fingerprint, rep.gate, via, ctx);
        let (row, recorded) = self.store.record_run(&new, results.clone()).await?;
        let runs = self.store.runs(&rep.wave).await?;
        let previous = runs.iter().rev().find(|r| r.number < row.number);
        let changes = match previous {
            Some(p) => report::changes(&self.store.run_results(p.id).await?, &results),
            None => report::changes(&[], &results),
        };
        rep.run = Some(RunInfo {
            number: row.number as u64,
            at: row.at.clone(),
            recorded,
            previous: previous.map(|p| p.number as u64),
            changes,
        });
        rep.history = runs.iter().map(point).collect();
        Ok(())
    }

    /// Records the wave's outcome as its next run (unless it equals the last one) from its
    /// accounts' tallies, as the reconcile stage does: it needs the run's numbers and the gate,
    /// not the report, so it reads one short row per account instead of every period verdict.
    /// Same numbers and fingerprint as [`Engine::reconciliation`] (`report::tallied_run`).
    pub async fn record_tallied_run(&self, wave: &Wave, via: &str, ctx: &Ctx) -> Result<(), EngineError> {
        self.tally_untallied(wave).await?;
        let waivers: HashMap<String, report::Waiver> = self.store.wave_waivers(&wave.id).await?.into_iter().collect();
        let promotion = self.promotion(&wave.id).await?;
        // The wave's tallies as kept, when nobody changed any since (issue 11); else read whole.
        // The stamp is read first: tallies read after it are at least as new as it says. The run
        // is summed under the same lock that found them kept, or from what was read.
        let stamp = self.store.tally_stamp().await?;
        let kept = {
            let cache = self.tally_cache();
            cache
                .holds(&wave.id, stamp)
                .then(|| report::tallied_run(wave, cache.of(&wave.id), &waivers, promotion.as_ref()))
        };
        let run = match kept {
            Some(run) => run,
            None => {
                let read = self.store.wave_tallies(&wave.id).await?;
                let run = report::tallied_run(wave, &read, &waivers, promotion.as_ref());
                self.tally_cache().fill(&wave.id, stamp, read);
                run
            }
        };
        let new = new_run(&wave.id, &run.summary, &run.fingerprint, run.gate, via, ctx);
        self.store.record_run(&new, run.results).await?;
        Ok(())
    }

    /// This process's tallies, locked (a poisoned lock is taken as is: every change to the
    /// cache is whole or drops it).
    pub(crate) fn tally_cache(&self) -> std::sync::MutexGuard<'_, TallyCache> {
        self.tallies.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Gives the accounts compared before migration 0016 their tally, from their verdicts (once
    /// per wave and process).
    async fn tally_untallied(&self, wave: &Wave) -> Result<(), EngineError> {
        if self.tallied.lock().is_ok_and(|done| done.contains(&wave.id)) {
            return Ok(());
        }
        let policy = crate::reconcile::Policy::of(wave);
        for chunk in self.store.untallied(&wave.id).await?.chunks(super::BATCH as usize) {
            let mut periods: std::collections::BTreeMap<String, Vec<PeriodVerdict>> = std::collections::BTreeMap::new();
            for (acct, data) in self.store.verdicts(chunk).await? {
                let v: PeriodVerdict = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                periods.entry(acct).or_default().push(v);
            }
            let tallies: Vec<report::Tally> = periods.iter().map(|(a, v)| report::Tally::of(a, v, &policy)).collect();
            let mut tx = self.store.begin().await?;
            self.store.put_tallies_in(&mut tx, &tallies).await?;
            self.store.bump_tally_stamp_in(&mut tx).await?;
            tx.commit().await.map_err(|e| self.store.err(e))?;
            self.tally_cache().clear();
        }
        if let Ok(mut done) = self.tallied.lock() {
            done.insert(wave.id.clone());
        }
        Ok(())
    }

    /// Loads the legacy and new bills of the `n` accounts with the most money at stake (and every
    /// failing one among them) for the HTML drill-down.
    pub async fn attach_bills(&self, rep: &mut Reconciliation, n: usize) -> Result<(), EngineError> {
        let picked: Vec<usize> = (0..rep.accounts.len())
            .filter(|&i| {
                let a = &rep.accounts[i];
                !a.stake.is_zero() || a.status == crate::reconcile::AccountStatus::Fail
            })
            .take(n)
            .collect();
        for chunk in picked.chunks(super::BATCH as usize) {
            let numbers: Vec<String> = chunk.iter().map(|&i| rep.accounts[i].account_number.clone()).collect();
            let legacy = self.store.legacy_accounts(&numbers).await?;
            for &i in chunk {
                let a = &mut rep.accounts[i];
                let Some(acct) = legacy.iter().find(|l| l.account.account_number == a.account_number) else { continue };
                // The bills the stage stored (what the verdicts compared); rated now when absent.
                let mut stored = HashMap::new();
                for (period, data) in self.store.bills(&a.account_number).await? {
                    let bill: crate::rate::NewBill =
                        serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    stored.insert(period, bill);
                }
                let mut bills = Vec::new();
                for p in &a.periods {
                    let new = match stored.remove(&p.period.to_string()) {
                        Some(b) => Some(b),
                        None => crate::rate::rate(acct, &self.plan.catalog, p.period).ok().map(|r| r.bill),
                    };
                    let lines = acct.invoice_lines.iter().filter(|l| l.period == p.period).cloned().collect();
                    bills.push(PeriodBills { period: p.period, legacy: lines, new });
                }
                a.bills = bills;
            }
        }
        Ok(())
    }

    /// A person's waiver of a failing account: it may be switched. Journaled on the account in the
    /// same transaction; a held account goes back to be reconciled again (and then passes on with
    /// the waiver). Waiving twice does nothing the second time.
    pub async fn waive(&self, account: &str, reason: &str, ctx: &Ctx) -> Result<bool, EngineError> {
        let row = self.store.account(account).await?.ok_or_else(|| StoreError::NoAccount(account.to_string()))?;
        if !waivable(row.state) {
            return Err(EngineError::Refused(format!(
                "account {account} is {}: a waiver would change nothing",
                row.state
            )));
        }
        // A waiver covers a failure the account has: recorded with it, it waives that one only.
        if self.store.recon(account).await?.as_deref() != Some("fail") {
            return Err(EngineError::Refused(format!(
                "account {account} has no failed reconciliation to waive (it is {}{}); a waiver covers the failure \
                 it is granted for",
                row.state,
                row.state_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
            )));
        }
        let mut verdicts = Vec::new();
        for (_, data) in self.store.verdicts(std::slice::from_ref(&row.account_number)).await? {
            verdicts
                .push(serde_json::from_str::<PeriodVerdict>(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        }
        let covers = super::decide::failure(&verdicts);
        // Held by a person: the waiver is recorded, the hold stands (`hold --release` lifts it).
        let by_person = held_by_person(&row);
        self.change_waiver(&row, Some((reason, &covers)), ctx, |failed| {
            if row.state == State::Held && failed && !by_person {
                (
                    State::Rated,
                    format!("reconciliation failure waived: {reason}; back to be reconciled with the waiver"),
                )
            } else {
                (row.state, format!("reconciliation failure waived: {reason}"))
            }
        })
        .await
    }

    /// Withdraws a waiver. An account that is moving only because of it (its reconciliation
    /// failed) and is not cut over yet is held again; a cut-over account keeps its state (roll it
    /// back to undo the cut-over). Journaled with the reason. False when there was no waiver.
    pub async fn revoke_waiver(&self, account: &str, reason: &str, ctx: &Ctx) -> Result<bool, EngineError> {
        let row = self.store.account(account).await?.ok_or_else(|| StoreError::NoAccount(account.to_string()))?;
        self.change_waiver(&row, None, ctx, |failed| {
            let moving = matches!(row.state, State::Rated | State::Reconciled | State::Notified);
            if failed && moving {
                (State::Held, format!("waiver revoked: {reason}; held, its reconciliation failed"))
            } else {
                (row.state, format!("waiver revoked: {reason}"))
            }
        })
        .await
    }

    /// Holds one account before its cut-over: a person's decision, journaled with the reason.
    /// From `extracted`, `rated`, `reconciled` or `notified`; no stage moves it on, nor
    /// `run --recheck-held`, nor a waiver, until [`Engine::release`] puts it back (a new schedule,
    /// and a notice that gives the new date if its customer was told another). `Ok(None)`: a person
    /// held it already, nothing changed; one a stage held is held by the person on top.
    /// A cut-over account is refused (`rollback` returns it), as is one rolled back or
    /// quarantined (no stage moves those).
    pub async fn hold(&self, account: &str, reason: &str, ctx: &Ctx) -> Result<Option<HeldBy>, EngineError> {
        let row = self.store.account(account).await?.ok_or_else(|| StoreError::NoAccount(account.to_string()))?;
        let refuse = |why: String| Err(EngineError::Refused(format!("account {account} {why}")));
        match row.state {
            // Held by a person already: nothing to add (the first reason stands).
            State::Held if held_by_person(&row) => return Ok(None),
            // Held by a stage (a failed reconciliation, no address, no schedule): the person's
            // hold is recorded on top (held to held, journaled), so that a recheck or a waiver,
            // which would move a stage's hold on, leaves it until `hold --release`.
            State::Held => {}
            State::CutOver | State::Loaded => {
                return refuse(format!(
                    "is {}: the new system bills it now; `cutover rollback {account} --reason …` returns it to the \
                     legacy system",
                    row.state
                ));
            }
            State::RolledBack => {
                return refuse(format!(
                    "was rolled back: the legacy system bills it; `cutover readmit {account} --wave …` puts it into a \
                     later wave"
                ));
            }
            State::Quarantined | State::Pending => {
                return refuse(format!("is {}: no stage moves it, there is nothing to hold", row.state));
            }
            State::Extracted | State::Rated | State::Reconciled | State::Notified => {}
        }
        // The first new bill date its customer was told: a notice for its dates went out (or may
        // have: a crash can leave it sent, or sending, before the account moved to `notified`).
        let told = self.told(&row).await?;
        // Held by a stage before: its reason is kept in the person's, for whoever releases it.
        let from = match (row.state, row.state_reason.as_deref()) {
            (State::Held, Some(was)) => format!("held ({was})"),
            (state, _) => state.to_string(),
        };
        let why = match told {
            Some(d) => format!("{HELD_BY_PERSON} from {from}: {reason} (its customer was told {d})"),
            None => format!("{HELD_BY_PERSON} from {from}: {reason}"),
        };
        let t = ctx.transition(account, row.state, State::Held, &why);
        if !self.store.transition(&t).await? {
            return Err(EngineError::Refused(format!("account {account} changed state meanwhile; try again")));
        }
        // Its notice waiting to be sent or retried is not to go out now (as when the notify stage
        // moves an account to a later cycle). A crash just before this leaves it waiting: the
        // notify stage sends to reconciled accounts only, and rescheduling supersedes it too.
        if let Some(w) = &row.wave {
            self.store.notice_supersede(w, account, "").await?;
        }
        let stage_hold = (row.state == State::Held).then(|| row.state_reason.clone().unwrap_or_default());
        Ok(Some(HeldBy { from: row.state, told, stage_hold }))
    }

    /// The first new bill date an account's customer was told: its notice for its current dates
    /// was sent, or is being (or was, before a crash) sent.
    pub(crate) async fn told(&self, row: &AccountRow) -> Result<Option<chrono::NaiveDate>, EngineError> {
        let (Some(wave), Some(sched)) = (&row.wave, row.schedule()) else { return Ok(None) };
        if row.state == State::Notified {
            return Ok(Some(sched.first_new_bill_date));
        }
        let kind = crate::notify::notice_kind(sched.first_new_bill_date);
        let notice = self.store.notice(wave, &row.account_number, &kind).await?;
        let sent = notice
            .is_some_and(|n| matches!(n.state, crate::store::NoticeState::Sent | crate::store::NoticeState::Sending));
        Ok(sent.then_some(sched.first_new_bill_date))
    }

    /// Puts one held account back to be rated, reconciled and scheduled again (a person's
    /// decision, journaled): the way out of a `hold`, and a recheck of one account. `Ok(false)`:
    /// it is not held (nothing changed).
    pub async fn release(&self, account: &str, reason: &str, ctx: &Ctx) -> Result<bool, EngineError> {
        let row = self.store.account(account).await?.ok_or_else(|| StoreError::NoAccount(account.to_string()))?;
        if row.state != State::Held {
            return Ok(false);
        }
        let why = format!("{PUT_BACK_BY_PERSON}: {reason}");
        let t = ctx.transition(account, State::Held, State::Extracted, &why).scheduling(None);
        if !self.store.transition(&t).await? {
            return Err(EngineError::Refused(format!("account {account} changed state meanwhile; try again")));
        }
        Ok(true)
    }

    /// Grants a waiver (`grant`: its reason and the failure it covers) or withdraws the account's one, and moves the account
    /// where `next` says (given whether its reconciliation failed: the state and the journal's
    /// reason), in one transaction. False when there was nothing to change.
    async fn change_waiver(
        &self,
        row: &AccountRow,
        grant: Option<(&str, &str)>,
        ctx: &Ctx,
        next: impl FnOnce(bool) -> (State, String),
    ) -> Result<bool, EngineError> {
        let account = row.account_number.as_str();
        let failed = self.store.recon(account).await?.as_deref() == Some("fail");
        let mut tx = self.store.begin().await?;
        let changed = match grant {
            Some((reason, covers)) => {
                self.store.put_waiver_in(&mut tx, account, reason, &ctx.actor, ctx.at, covers).await?
            }
            None => self.store.drop_waiver_in(&mut tx, account).await?,
        };
        if !changed {
            return Ok(false);
        }
        let (to, why) = next(failed);
        // On an account a person held, the note is journaled and the hold stays its reason (the
        // store's transition keeps it).
        let t = ctx.transition(account, row.state, to, &why);
        if !self.store.transition_in(&mut tx, &t).await? {
            return Err(EngineError::Refused(format!("account {account} changed state meanwhile; try again")));
        }
        tx.commit().await.map_err(|e| self.store.err(e))?;
        Ok(true)
    }

    /// Promotes a paused wave: a person has looked at its latest reconciliation run and lets the
    /// wave proceed. Journaled on the wave with the run's fingerprint, so the promotion covers
    /// exactly what was looked at: a later, different outcome is judged afresh.
    pub async fn promote(&self, wave_id: &str, reason: &str, ctx: &Ctx) -> Result<Promoted, EngineError> {
        self.runnable_wave(wave_id)?;
        // The outcome `run` and `switch` judge: the wave's latest recorded run.
        let Some(run) = self.store.latest_run(wave_id).await? else {
            return Err(EngineError::Refused(format!(
                "wave `{wave_id}` has no reconciliation yet: run it (or `cutover reconcile --wave {wave_id}`) first"
            )));
        };
        let gate = self.gate(wave_id).await?;
        match (gate.analysis, &gate.promoted) {
            (GateVerdict::Abort, _) => {
                let breached: Vec<String> = gate
                    .checks
                    .iter()
                    .filter(|c| !c.ok && c.on_breach == GateVerdict::Abort)
                    .map(|c| format!("{} {} (limit {})", c.metric, c.value, c.limit))
                    .collect();
                return Ok(Promoted::Aborted(breached.join("; ")));
            }
            (GateVerdict::Proceed, _) => return Ok(Promoted::NotPaused),
            (GateVerdict::Pause, Some(_)) => return Ok(Promoted::Already),
            (GateVerdict::Pause, None) => {}
        }
        let data = serde_json::to_string(&gate.checks).map_err(|e| EngineError::Refused(e.to_string()))?;
        let reason = format!("{reason} (run #{})", run.number);
        self.store.wave_event(wave_id, ctx.at, &ctx.actor, PROMOTE, &reason, &run.fingerprint, &data).await?;
        Ok(Promoted::Promoted)
    }
}

/// Each wave's tallies, by account, as this process last read or wrote them, and the store's
/// tally stamp (migration 0025) they are as of. Recording a run reads a wave's tallies from the
/// store only when the stamp has moved since by someone else's write (issue 11: the read was
/// 5–6 s of a 100,000-account demo, 223 runs of up to 30,000 tallies). The process's own writes
/// are applied here once committed, when their stamp is the next one: nobody wrote between.
/// Anything else (someone else's write, an extraction, a readmission, a write that took a later
/// stamp) drops every wave, and the next run reads its wave whole.
#[derive(Debug, Default)]
pub(crate) struct TallyCache {
    stamp: Option<i64>,
    waves: HashMap<String, std::collections::BTreeMap<String, report::Tally>>,
}

impl TallyCache {
    /// Whether `wave`'s tallies are kept as of `stamp`, the store's.
    pub(crate) fn holds(&self, wave: &str, stamp: i64) -> bool {
        self.stamp == Some(stamp) && self.waves.contains_key(wave)
    }

    /// `wave`'s tallies, read whole after the store's stamp read `stamp` (so they are as of it or
    /// newer): kept as of `stamp`, every wave kept as of another stamp dropped.
    pub(crate) fn fill(&mut self, wave: &str, stamp: i64, tallies: Vec<report::Tally>) {
        if self.stamp != Some(stamp) {
            self.waves.clear();
            self.stamp = Some(stamp);
        }
        let by_account = tallies.into_iter().map(|t| (t.account_number.clone(), t)).collect();
        self.waves.insert(wave.to_string(), by_account);
    }

    /// `wave`'s tallies, in account order (none when not kept).
    pub(crate) fn of(&self, wave: &str) -> impl Iterator<Item = &report::Tally> {
        self.waves.get(wave).into_iter().flat_map(|w| w.values())
    }

    /// This process's own committed write to `wave`'s accounts, which took `stamp`: the tallies
    /// of `replaced` removed, `written` put. Kept only if `stamp` follows the one kept.
    pub(crate) fn apply(&mut self, wave: &str, stamp: i64, replaced: &[String], written: &[report::Tally]) {
        match self.stamp {
            Some(kept) if stamp == kept + 1 => {
                self.stamp = Some(stamp);
                if let Some(w) = self.waves.get_mut(wave) {
                    for a in replaced {
                        w.remove(a);
                    }
                    for t in written {
                        w.insert(t.account_number.clone(), t.clone());
                    }
                }
            }
            _ => self.clear(),
        }
    }

    /// Drops everything: the next run reads its wave whole.
    pub(crate) fn clear(&mut self) {
        self.stamp = None;
        self.waves.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::TallyCache;
    use crate::reconcile::AccountStatus;
    use crate::reconcile::report::Tally;

    fn tally(account: &str, status: AccountStatus) -> Tally {
        Tally {
            account_number: account.into(),
            status,
            stake: Default::default(),
            reasons: String::new(),
            legacy_total: Default::default(),
            new_total: Default::default(),
            unexplained: 0,
            periods: 1,
            mismatched: 0,
        }
    }

    fn accounts(c: &TallyCache, wave: &str) -> Vec<(String, AccountStatus)> {
        c.of(wave).map(|t| (t.account_number.clone(), t.status)).collect()
    }

    /// Kept as of a stamp; an own write with the next stamp applied (in account order); any
    /// other stamp drops every wave; a read at a new stamp drops the waves kept at the old one.
    #[test]
    fn tallies_are_kept_while_the_stamps_follow_on() {
        use AccountStatus::{Fail, Pass};
        let mut c = TallyCache::default();
        assert!(!c.holds("a", 0), "nothing kept at first");
        c.fill("a", 3, vec![tally("A2", Pass), tally("A1", Fail)]);
        assert!(c.holds("a", 3) && !c.holds("a", 4) && !c.holds("b", 3));
        assert_eq!(accounts(&c, "a"), [("A1".into(), Fail), ("A2".into(), Pass)]);
        c.fill("b", 3, vec![tally("B1", Pass)]);
        // A1 compared again (passes now), A2 compared with no verdict left, A3 new.
        c.apply("a", 4, &["A1".into(), "A2".into(), "A3".into()], &[tally("A1", Pass), tally("A3", Fail)]);
        assert!(c.holds("a", 4) && c.holds("b", 4));
        assert_eq!(accounts(&c, "a"), [("A1".into(), Pass), ("A3".into(), Fail)]);
        // Someone else took 5: this write's 6 does not follow on.
        c.apply("a", 6, &[], &[tally("A4", Pass)]);
        assert!(!c.holds("a", 6) && !c.holds("b", 6) && accounts(&c, "a").is_empty());
        c.fill("a", 6, vec![tally("A1", Pass)]);
        c.fill("b", 7, vec![tally("B1", Fail)]);
        assert!(!c.holds("a", 7) && c.holds("b", 7), "a read at a newer stamp drops the older waves");
        c.clear();
        assert!(!c.holds("b", 7));
    }
}
