//! The load files of each wave and cut-over date, kept equal to the store: after every state
//! change that touches a set (switch, rollback, a load confirmation), the whole set is rebuilt
//! from the store, each file written to a temporary name of this writer's own
//! ([`crate::durable`]), fsynced and renamed, the manifest last. A crash anywhere is repaired by
//! the next run, which writes the same bytes (and removes the temporary files the crash left).
//!
//! Order, so that files and states never disagree:
//! 1. the state change and "set dirty" commit together;
//! 2. the data files (incl. `legacy-suppression.csv`) are written;
//! 3. the set's accounts are marked published (their suppression record exists);
//! 4. `manifest.json` and `README.txt` are written; the set is marked clean.
//!
//! A cut-over account that is still unpublished on its first new bill date (a crash between 1
//! and 3, then no run until that day) is held and dropped from its set: the legacy system was
//! never told to stop, so it has billed, and the account must not be loaded.
//!
//! Crash points (`CUTOVER_FAILPOINT`, see `crate::failpoint`): `switch.committed` (after a page of
//! state changes commits), `switch.file_written` (after each data file is renamed into place;
//! `@N` for the N-th), `switch.published` (after the accounts are marked published, before the
//! manifest). `tests/it/switch_crash.rs` uses them.

use super::{BATCH, Ctx, Engine, EngineError};
use crate::domain::State;
use crate::hex::hex;
use crate::store::{CutoverRow, ReversalRow, Transition, WriteTx};
use crate::switch::{self, FileStat, Member, Totals};
use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `switch --confirm` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfirmReport {
    pub loaded: u64,
    pub failed: u64,
    /// Rows that repeat what the store already says.
    pub unchanged: u64,
    /// The accounts the file says failed to load (this time or before): held, billed by the
    /// legacy system again.
    pub failed_accounts: Vec<String>,
    /// `file:line: message` for rows that were not applied.
    pub problems: Vec<String>,
}

/// A CSV file being written under a temporary name of this writer's own, hashed as it goes.
struct TempCsv {
    name: &'static str,
    tmp: PathBuf,
    w: csv::Writer<Hashing>,
    rows: u64,
}

struct Hashing {
    file: std::io::BufWriter<std::fs::File>,
    hash: Sha256,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> EngineError + '_ {
    move |cause| EngineError::Io { path: path.display().to_string(), cause }
}

impl TempCsv {
    fn create(dir: &Path, name: &'static str, header: &[&str]) -> Result<TempCsv, EngineError> {
        let path = dir.join(name);
        let (tmp, file) = crate::durable::create_temp(&path).map_err(io(&path))?;
        let inner = Hashing { file: std::io::BufWriter::new(file), hash: Sha256::new() };
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(inner);
        w.write_record(header).map_err(|e| EngineError::Io { path: tmp.display().to_string(), cause: e.into() })?;
        Ok(TempCsv { name, tmp, w, rows: 0 })
    }

    fn row(&mut self, r: &[String]) -> Result<(), EngineError> {
        self.rows += 1;
        self.w.write_record(r).map_err(|e| EngineError::Io { path: self.tmp.display().to_string(), cause: e.into() })
    }

    /// Flushes and fsyncs the temp file, renames it into place.
    fn finish(self, dir: &Path) -> Result<FileStat, EngineError> {
        let tmp = self.tmp.clone();
        let inner = self
            .w
            .into_inner()
            .map_err(|e| EngineError::Io { path: tmp.display().to_string(), cause: e.into_error() })?;
        let Hashing { file, hash } = inner;
        let file = file
            .into_inner()
            .map_err(|e| EngineError::Io { path: tmp.display().to_string(), cause: e.into_error() })?;
        file.sync_all().map_err(io(&tmp))?;
        let path = dir.join(self.name);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(FileStat { name: self.name.to_string(), rows: self.rows, sha256: hex(&hash.finalize()) })
    }
}

/// Writes bytes durably under their name ([`crate::durable::write_atomically`]).
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    crate::durable::write_atomically(path, bytes).map_err(io(path))
}

/// Load results applied in one transaction ([`Engine::confirm_load`]).
const CONFIRM_PAGE: usize = 500;

impl Engine {
    /// The folder of a set: `import/<wave>/<cut-over date>/`.
    pub fn set_dir(&self, wave: &str, cutover_date: NaiveDate) -> PathBuf {
        self.ws.path(&self.ws.config.target).join(wave).join(cutover_date.to_string())
    }

    /// Repairs and rewrites the load files: holds the cut-over accounts (of `wave`, or every
    /// wave) whose files were never written before their first new bill date, then rebuilds
    /// every set whose files are out of date. Returns how many accounts it held, and the folders
    /// of the sets it wrote.
    pub async fn sync_load_files(&self, wave: Option<&str>, ctx: &Ctx) -> Result<(u64, Vec<PathBuf>), EngineError> {
        let waves: Vec<String> = match wave {
            Some(w) => vec![w.to_string()],
            None => self.plan.waves.iter().map(|w| w.id.clone()).collect(),
        };
        let mut held = 0;
        for w in &waves {
            for row in self.store.unpublished(w, ctx.as_of).await? {
                let why = format!(
                    "its load files and legacy-suppression record were never written before its first new bill \
                     date {} (an interrupted switch): the legacy system has billed; held, not loaded, legacy \
                     billing stays on",
                    row.first_new_bill_date
                );
                let mut tx = self.store.begin().await?;
                let t = Transition {
                    account: &row.account_number,
                    from: State::CutOver,
                    to: State::Held,
                    actor: &ctx.actor,
                    reason: (&why).into(),
                    at: ctx.at,
                    schedule: None,
                };
                if self.store.transition_in(&mut tx, &t).await? {
                    self.store.withdraw_cutover_in(&mut tx, &row).await?;
                    held += 1;
                }
                tx.commit().await.map_err(|e| self.store.err(e))?;
            }
        }
        let mut written = Vec::new();
        for (w, date) in self.store.dirty_sets(wave).await? {
            self.rebuild_set(&w, date, ctx).await?;
            written.push(self.set_dir(&w, date));
        }
        Ok((held, written))
    }

    /// Rebuilds one set while holding its lease: one writer of a set's files at a time, and
    /// only while the set is behind the store (a worker that waited for another's rebuild finds
    /// it done). A rebuild that another worker's change overtook leaves the set dirty and goes
    /// again.
    async fn rebuild_set(&self, wave: &str, date: NaiveDate, ctx: &Ctx) -> Result<(), EngineError> {
        let lease = format!("set:{wave}:{date}");
        let secs = crate::store::lease::lease_secs();
        self.store.wait_lease(&lease, &self.worker, secs).await?;
        let mut out = Ok(());
        for _ in 0..10 {
            let seen = match self.store.set_dirty(wave, date).await {
                Ok(n) => n,
                Err(e) => {
                    out = Err(e.into());
                    break;
                }
            };
            if seen == 0 {
                break;
            }
            match self.write_set(wave, date, seen, ctx).await {
                Ok(true) => break,
                Ok(false) => continue,
                Err(e) => {
                    out = Err(e);
                    break;
                }
            }
        }
        self.store.release_lease(&lease, &self.worker).await?;
        out
    }

    /// Builds one set's files from the store (a page of accounts at a time) and writes them, as of
    /// change `seen` of the set. False when a later change came meanwhile (the set stays dirty).
    // Long: one set's files written in load order, a page of accounts at a time, then the manifest.
    async fn write_set(&self, wave: &str, date: NaiveDate, seen: i64, ctx: &Ctx) -> Result<bool, EngineError> {
        let dir = self.set_dir(wave, date);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // The set's lease is held: a temporary file here is a stopped writer's, or one whose lease
        // lapsed while it was frozen (its rename now fails rather than publishing).
        crate::durable::remove_stale_temporaries(&dir, std::time::Duration::ZERO).map_err(io(&dir))?;
        let cfg = &self.ws.config.load;
        let catalog = &self.plan.catalog;
        let mut accounts = TempCsv::create(&dir, "accounts-and-contacts.csv", &switch::ACCOUNT_HEADER)?;
        let mut subs = TempCsv::create(&dir, "subscriptions.csv", &switch::SUBSCRIPTION_HEADER)?;
        let mut usage = TempCsv::create(&dir, "usage.csv", &switch::USAGE_HEADER)?;
        let mut supp = TempCsv::create(&dir, "legacy-suppression.csv", &switch::SUPPRESSION_HEADER)?;
        let mut totals = Totals::default();
        let mut notes = Vec::new();
        let mut members = Vec::new();
        let mut firsts = std::collections::BTreeSet::new();
        let mut extractions = std::collections::BTreeSet::new();
        let mut carry = std::collections::BTreeSet::new();
        // The next page is read while this one is written (`Ahead`).
        let read = |after: String| {
            let (store, wave) = (self.store.clone(), wave.to_string());
            super::Ahead::spawn(async move { store.set_members(&wave, date, &after, BATCH).await })
        };
        let mut next = read(String::new());
        loop {
            let page = next.take().await??;
            let Some(last) = page.last() else { break };
            next = read(last.account_number.clone());
            for row in &page {
                if row.snapshot.is_empty() {
                    // Cut over by a version that wrote one JSON file per account (README, migration note).
                    notes.push(format!(
                        "{}: cut over by an older version (no snapshot): not in these files; roll it back and \
                         readmit it to load it from here",
                        row.account_number
                    ));
                    continue;
                }
                let m: Member = serde_json::from_str(&row.snapshot).map_err(|e| {
                    EngineError::Refused(format!(
                        "account {}: its cut-over snapshot is unreadable ({e}); was it cut over by an older \
                         version? roll it back and readmit it",
                        row.account_number
                    ))
                })?;
                let r = switch::account_rows(&m, catalog, cfg);
                accounts.row(&r.account)?;
                for s in &r.subscription {
                    subs.row(s)?;
                }
                for u in &r.usage {
                    usage.row(u)?;
                }
                supp.row(&r.suppression)?;
                totals.add(&r.totals);
                notes.extend(r.notes);
                members.push(row.account_number.clone());
                firsts.insert(m.schedule.first_new_bill_date);
                extractions.extend(m.extraction);
                carry.insert(m.usage_carryover.as_str());
            }
        }
        // A member cut over before and rolled back: this set creates its account and
        // subscription again under the same ids, so the earlier reversal comes first.
        let here: std::collections::HashSet<&str> = members.iter().map(String::as_str).collect();
        for r in self.store.reversals_elsewhere(wave, date).await? {
            if here.contains(r.account_number.as_str()) && !r.action.starts_with("nothing to cancel") {
                notes.push(format!(
                    "{}: cut over before and rolled back; {} says: {}. Do that in the target before loading this \
                     set, which creates the account and its subscription again under the same ids",
                    r.account_number,
                    // Relative to the workspace: a set's bytes do not depend on where it lies.
                    self.ws.config.target.join(&r.wave).join(r.cutover_date.to_string()).join("rollback.csv").display(),
                    r.action
                ));
            }
        }
        let mut rollback = TempCsv::create(&dir, "rollback.csv", &switch::ROLLBACK_HEADER)?;
        let reversals = self.store.reversals(wave, date).await?;
        for r in &reversals {
            rollback.row(&switch::reversal_row(r))?;
        }
        let mut files = Vec::new();
        for f in [accounts, subs, usage, supp, rollback] {
            files.push(f.finish(&dir)?);
            crate::failpoint::hit("switch.file_written");
        }
        // Makes the renames durable where the platform allows opening a folder.
        let _ = crate::durable::sync_dir(&dir);
        // Every member's suppression record is on disk now.
        self.store.publish_set(wave, date).await?;
        crate::failpoint::hit("switch.published");
        let catalog_path = self.ws.path(&self.ws.config.catalog);
        let catalog_text = std::fs::read(&catalog_path).map_err(io(&catalog_path))?;
        let info = switch::SetInfo {
            wave: wave.to_string(),
            cutover_date: date,
            usage_carryover: carry.into_iter().collect::<Vec<_>>().join(","),
            catalog_file: self.ws.config.catalog.display().to_string(),
            catalog_sha256: hex(&Sha256::digest(&catalog_text)),
            extractions: extractions.into_iter().collect(),
            first_new_bill_dates: firsts.into_iter().collect(),
            accounts: members,
            rolled_back: reversals.iter().map(|r| r.account_number.clone()).collect(),
        };
        let manifest = switch::manifest(info, files, totals, notes, catalog);
        let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| EngineError::Refused(e.to_string()))?;
        json.push(b'\n');
        // Each flushes the folder after its rename (`durable::write_atomically`).
        write_durably(&dir.join("README.txt"), switch::readme(&manifest).as_bytes())?;
        write_durably(&dir.join("manifest.json"), &json)?;
        Ok(self.store.set_clean(wave, date, seen, ctx.now()).await?)
    }

    /// Returns one cut-over account to the legacy system, with a reason: legacy billing resumes,
    /// a reversal record goes to its set's `rollback.csv`, and the account leaves the set's load
    /// files. An account that never cut over is refused. Rolling back twice does nothing the
    /// second time.
    pub async fn rollback(&self, account: &str, reason: &str, ctx: &Ctx) -> Result<bool, EngineError> {
        let row =
            self.store.account(account).await?.ok_or_else(|| crate::store::StoreError::NoAccount(account.into()))?;
        if row.state == State::RolledBack {
            return Ok(false);
        }
        if !matches!(row.state, State::CutOver | State::Loaded) {
            return Err(EngineError::Refused(format!(
                "account {account} is {}, not cut over: there is nothing to roll back (the legacy system bills \
                 it){}",
                row.state,
                row.state_reason.as_deref().map(|r| format!("; its state says: {r}")).unwrap_or_default()
            )));
        }
        let cut = self.store.cutover(account).await?.ok_or_else(|| {
            EngineError::Refused(format!("account {account} is {} but has no cut-over record", row.state))
        })?;
        let action = match (row.state, cut.published) {
            (State::Loaded, _) => format!(
                "cancel subscription {} and cancel or delete account {account} (target id {}); the catch-up bill \
                 run cannot be undone",
                switch::subscription_number(account),
                cut.target_id.as_deref().unwrap_or("unknown")
            ),
            (_, true) => format!(
                "the load was not confirmed: if the target has account {account}, cancel subscription {} and \
                 cancel or delete the account",
                switch::subscription_number(account)
            ),
            (_, false) => "nothing to cancel: its load files were never written".to_string(),
        };
        let mut tx = self.store.begin().await?;
        self.store.set_legacy_billing_in(&mut tx, account, "restored").await?;
        let why = format!(
            "rolled back from {}: {reason}; legacy billing resumes from {}; reversal in rollback.csv of {}",
            row.state,
            cut.first_new_bill_date,
            self.set_dir(&cut.wave, cut.cutover_date).display()
        );
        let t = Transition {
            account,
            from: row.state,
            to: State::RolledBack,
            actor: &ctx.actor,
            reason: (&why).into(),
            at: ctx.at,
            schedule: None,
        };
        let changed = self.store.transition_in(&mut tx, &t).await?;
        if changed {
            let rev = ReversalRow {
                account_number: account.to_string(),
                wave: cut.wave.clone(),
                cutover_date: cut.cutover_date,
                first_new_bill_date: cut.first_new_bill_date,
                target_id: cut.target_id.clone(),
                action,
                resume_legacy_from: cut.first_new_bill_date,
                reason: reason.to_string(),
                at: ctx.at.to_rfc3339(),
            };
            self.store.add_reversal_in(&mut tx, &rev).await?;
        }
        tx.commit().await.map_err(|e| self.store.err(e))?;
        self.sync_load_files(Some(&cut.wave), ctx).await?;
        Ok(changed)
    }

    /// Puts a rolled-back account into a later wave (journaled): it is rated, reconciled,
    /// notified and cut over again there, with new dates. `Ok(false)`: it was readmitted to this
    /// wave already (nothing changed).
    pub async fn readmit(&self, account: &str, wave: &str, reason: &str, ctx: &Ctx) -> Result<bool, EngineError> {
        let row =
            self.store.account(account).await?.ok_or_else(|| crate::store::StoreError::NoAccount(account.into()))?;
        // A mistyped wave is named first, whatever the account's state.
        let w = self.runnable_wave(wave)?;
        let previous = self.store.cutover(account).await?;
        // Readmitted to this wave already (a second run of the same command) and on its way
        // there: nothing to do.
        let readmitted = self.store.readmitted_to(account).await?.as_deref() == Some(wave)
            && row.wave.as_deref() == Some(wave)
            && matches!(row.state, State::Extracted | State::Rated | State::Reconciled | State::Notified | State::Held);
        if readmitted {
            return Ok(false);
        }
        if row.state != State::RolledBack {
            return Err(EngineError::Refused(format!(
                "account {account} is {}: only a rolled-back account can be readmitted",
                row.state
            )));
        }
        // Dated before the cut-over it comes back from: the journal would read backwards.
        if let Some(p) = &previous
            && ctx.as_of < p.cutover_date
        {
            return Err(EngineError::Refused(format!(
                "{} is before {account}'s cut-over on {} (the one it was rolled back from): a readmission is made \
                 as of a later day (`--as-of`, default today)",
                ctx.as_of, p.cutover_date
            )));
        }
        let end = w.end().unwrap_or(ctx.as_of);
        if end < ctx.as_of {
            return Err(EngineError::Refused(format!(
                "wave `{wave}` ended on {end}, before {} (the day this readmission is made as of; `--as-of` \
                 sets it, default today): readmit {account} to a wave whose window is still ahead on that day",
                ctx.as_of
            )));
        }
        if let Some(p) = &previous
            && end <= p.first_new_bill_date
        {
            return Err(EngineError::Refused(format!(
                "wave `{wave}` ends on {end}, before {account}'s previous first new bill date {}: choose a later wave",
                p.first_new_bill_date
            )));
        }
        // A wave that cannot give it a first new bill after its previous one, with its notice
        // still ahead as of that day, would only hold it again as not schedulable.
        let cycle_day = self
            .store
            .legacy_records(&[account.to_string()], crate::store::Records::WithoutInvoiceLines)
            .await?
            .first()
            .map(|a| a.account.bill_cycle_day);
        if let Some(day) = cycle_day {
            match crate::plan::schedule::schedule(w, day, ctx.as_of) {
                Err(why) => {
                    return Err(EngineError::Refused(format!(
                        "wave `{wave}` cannot take {account} as of {}: {why}; choose a later wave",
                        ctx.as_of
                    )));
                }
                Ok(s) => {
                    if let Some(p) = &previous
                        && s.first_new_bill_date <= p.first_new_bill_date
                    {
                        return Err(EngineError::Refused(format!(
                            "wave `{wave}` would give {account} a first new bill on {}, not after its previous \
                             one on {}: choose a later wave",
                            s.first_new_bill_date, p.first_new_bill_date
                        )));
                    }
                }
            }
        }
        let mut tx = self.store.begin().await?;
        self.store.readmit_in(&mut tx, account, wave).await?;
        let why = format!("readmitted to wave {wave} (was {}): {reason}", row.wave.as_deref().unwrap_or("no wave"));
        let t = Transition {
            account,
            from: State::RolledBack,
            to: State::Extracted,
            actor: &ctx.actor,
            reason: (&why).into(),
            at: ctx.at,
            schedule: Some(None),
        };
        self.store.transition_in(&mut tx, &t).await?;
        // Its tally (if it has one) now counts in another wave: last before the commit.
        self.store.bump_tally_stamp_in(&mut tx).await?;
        tx.commit().await.map_err(|e| self.store.err(e))?;
        Ok(true)
    }

    /// Applies a load's result file: successes move `cut_over` → `loaded` with the target's id;
    /// failures go back to `held` with the target's error, their legacy billing resumes and a
    /// reversal record says there is nothing to cancel. Rows repeating the store's state change
    /// nothing.
    pub async fn confirm_load(&self, file: &Path, ctx: &Ctx) -> Result<ConfirmReport, EngineError> {
        let shown = file.display().to_string();
        // A results file that cannot be read is the operator's input, as a bad one is (exit 2).
        let text = std::fs::read_to_string(file).map_err(|e| EngineError::Refused(format!("{shown}: {e}")))?;
        let (results, problems) =
            switch::parse_results(&text).map_err(|m| EngineError::Refused(format!("{shown}: {m}")))?;
        let mut rep = ConfirmReport {
            problems: problems.iter().map(|p| format!("{shown}:{}: {}", p.line, p.message)).collect(),
            ..ConfirmReport::default()
        };
        let mut touched = std::collections::BTreeSet::new();
        // The results are applied a page at a time, in one transaction (one durable commit a page,
        // not one an account: 5,258 accounts took 8.2 s one by one). Their cut-overs are read
        // ahead, the next CONFIRM_PAGE results' in one query, before the page's transaction
        // opens. An account the page already holds (a file may list one twice) ends the page,
        // and what follows is read again once the page has committed.
        let mut page: Option<WriteTx> = None;
        let mut in_page = std::collections::BTreeSet::new();
        let mut ahead = std::collections::HashMap::new();
        let mut read_until = 0;
        for (i, r) in results.iter().enumerate() {
            if in_page.contains(&r.account_number) || in_page.len() >= CONFIRM_PAGE {
                if let Some(tx) = page.take() {
                    tx.commit().await.map_err(|e| self.store.err(e))?;
                }
                in_page.clear();
                read_until = i;
            }
            if i >= read_until {
                read_until = (i + CONFIRM_PAGE).min(results.len());
                let numbers: Vec<String> = results[i..read_until].iter().map(|r| r.account_number.clone()).collect();
                ahead = self.store.cutovers(&numbers).await?;
            }
            let at = format!("{shown}:{}", r.line);
            let Some(cut) = ahead.get(&r.account_number) else {
                let why = match self.store.account(&r.account_number).await? {
                    Some(row) => format!("account {} was never cut over (it is {})", r.account_number, row.state),
                    None => format!(
                        "no account {} in the state store (a typo?){}",
                        r.account_number,
                        crate::store::case_hint(&r.account_number)
                    ),
                };
                rep.problems.push(format!("{at}: {why}"));
                continue;
            };
            use crate::switch::LoadOutcome::*;
            match (cut.state, r.outcome) {
                (State::CutOver, _) if !cut.published => {
                    rep.problems.push(format!(
                        "{at}: account {}'s load files were never written (an interrupted switch): run \
                         `cutover switch --wave {}` first",
                        r.account_number, cut.wave
                    ));
                }
                (State::CutOver, outcome) => {
                    let tx = match &mut page {
                        Some(tx) => tx,
                        None => page.insert(self.store.begin().await?),
                    };
                    self.confirm_in(tx, cut, r, ctx).await?;
                    in_page.insert(r.account_number.clone());
                    if outcome == Success {
                        rep.loaded += 1;
                    } else {
                        touched.insert(cut.wave.clone());
                        rep.failed += 1;
                        rep.failed_accounts.push(r.account_number.clone());
                    }
                }
                (State::Loaded, Success) if cut.target_id == r.target_id || r.target_id.is_none() => rep.unchanged += 1,
                (State::Held, Failed) if cut.load_status.as_deref() == Some("failed") => {
                    rep.unchanged += 1;
                    rep.failed_accounts.push(r.account_number.clone());
                }
                (s, o) => rep.problems.push(format!(
                    "{at}: account {} is {s} ({}); a `{}` result does not apply",
                    r.account_number,
                    cut.load_status.as_deref().unwrap_or("unconfirmed"),
                    match o {
                        Success => "success",
                        Failed => "failed",
                    }
                )),
            }
        }
        if let Some(tx) = page {
            tx.commit().await.map_err(|e| self.store.err(e))?;
        }
        for w in touched {
            self.sync_load_files(Some(&w), ctx).await?;
        }
        Ok(rep)
    }

    /// One cut-over account's load result, in the page's transaction.
    async fn confirm_in(
        &self,
        tx: &mut WriteTx,
        cut: &CutoverRow,
        r: &switch::LoadResult,
        ctx: &Ctx,
    ) -> Result<(), EngineError> {
        let account = cut.account_number.as_str();
        let (to, why) = match r.outcome {
            switch::LoadOutcome::Success => (
                State::Loaded,
                format!("loaded into the target (id {})", r.target_id.as_deref().unwrap_or("not given")),
            ),
            switch::LoadOutcome::Failed => (
                State::Held,
                format!(
                    "the target rejected the load: {}; legacy billing resumes from {}",
                    r.error.as_deref().unwrap_or(""),
                    cut.first_new_bill_date
                ),
            ),
        };
        let t = Transition {
            account,
            from: State::CutOver,
            to,
            actor: &ctx.actor,
            reason: (&why).into(),
            at: ctx.at,
            schedule: None,
        };
        if self.store.transition_in(tx, &t).await? {
            match r.outcome {
                switch::LoadOutcome::Success => {
                    self.store.set_load_result_in(tx, account, "success", r.target_id.as_deref(), None).await?;
                }
                switch::LoadOutcome::Failed => {
                    self.store.set_load_result_in(tx, account, "failed", None, r.error.as_deref()).await?;
                    self.store.set_legacy_billing_in(tx, account, "restored").await?;
                    let rev = ReversalRow {
                        account_number: account.to_string(),
                        wave: cut.wave.clone(),
                        cutover_date: cut.cutover_date,
                        first_new_bill_date: cut.first_new_bill_date,
                        target_id: None,
                        action: format!(
                            "nothing to cancel: the target rejected the load ({})",
                            r.error.as_deref().unwrap_or("")
                        ),
                        resume_legacy_from: cut.first_new_bill_date,
                        reason: "load failed".into(),
                        at: ctx.at.to_rfc3339(),
                    };
                    self.store.add_reversal_in(tx, &rev).await?;
                }
            }
        }
        Ok(())
    }
}

/// The notes for the team a written set's `manifest.json` holds (none when it has none or
/// cannot be read): what `switch`, `run` and `demo` say of a set besides its README.txt.
pub fn manifest_notes(set: &std::path::Path) -> Vec<String> {
    std::fs::read(set.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|m| {
            m.get("notes")?.as_array().map(|n| n.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        })
        .unwrap_or_default()
}
