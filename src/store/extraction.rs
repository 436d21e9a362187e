//! One extraction: a full refresh of the legacy records, committed as a unit.
//!
//! All of it runs in one transaction: a crash leaves the previous extraction in place, and running
//! again redoes it. Accounts seen for the first time get their migration record (state
//! `extracted`, their wave) and a journal row; accounts already known keep their state.

use super::bulk::{Arg, BulkTx};
use super::packed;
use super::{Store, StoreError};
use crate::domain::{Decimal, State};
use crate::extract::{Quarantined, RawRow, Record, Sink, SinkError, Table};
use crate::plan::{ChargeType, Plan};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Which accounts to take in; the rest are skipped (not quarantined).
#[derive(Debug, Clone)]
pub enum Filter {
    All,
    Accounts(Vec<String>),
    Wave(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtractionCounts {
    pub id: i64,
    pub source: String,
    pub accounts: i64,
    pub records: i64,
    pub quarantined: i64,
    pub finished_at: Option<String>,
    /// Columns the source left out that may be (SPEC §2), as `source: message`; and accounts a
    /// changed plan moved between waves (`the plan: …`).
    pub warnings: Vec<String>,
    /// The effective time of the run that extracted (its as-of day, or the wall clock).
    pub started_at: String,
    /// Cut-over accounts the legacy system billed after it was to stop (a warning says which).
    /// Counted by the run that extracted; 0 when read back from the store.
    #[serde(skip)]
    pub billed_twice: i64,
}

pub struct Extraction<'a> {
    store: &'a Store,
    plan: &'a Plan,
    /// On PostgreSQL a typed transaction, so the records go in by `COPY`.
    tx: BulkTx,
    counts: ExtractionCounts,
    at: DateTime<Utc>,
    actor: String,
    filter: Filter,
    /// With a filter: the account numbers taken in.
    kept: HashSet<String>,
    /// Account numbers whose own row was quarantined (their records say so).
    bad_accounts: HashMap<String, String>,
    /// PostgreSQL: refresh the planner's statistics when this many rows are stored (doubling).
    analyze_at: i64,
    /// The migration records of the accounts seen for the first time, (number, wave): written
    /// when the extraction finishes, wave by wave ([`Extraction::put_new_accounts`]).
    new_accounts: Vec<(String, Option<String>)>,
    /// Known accounts a changed plan moved, by (from, to) wave: said as a warning at the end.
    moved: std::collections::BTreeMap<(Option<String>, Option<String>), u64>,
    /// The cut-over accounts whose legacy billing was suppressed (their load files written),
    /// with their currency once their account row is read: each legacy line of theirs is
    /// checked against the suppression ([`crate::switch::Suppressed::billed_twice`]).
    suppressed: HashMap<String, (crate::switch::Suppressed, String)>,
    /// What the legacy system billed them after it was to stop: per account, per period.
    billed_twice: std::collections::BTreeMap<String, std::collections::BTreeMap<crate::domain::Period, Decimal>>,
}

impl<'a> Extraction<'a> {
    pub async fn begin(
        store: &'a Store,
        plan: &'a Plan,
        source: &str,
        actor: &str,
        at: DateTime<Utc>,
        filter: Filter,
    ) -> Result<Extraction<'a>, StoreError> {
        let mut tx = store.begin_bulk().await?;
        let started = at.to_rfc3339();
        let id = tx
            .id(
                "INSERT INTO extraction (source, started_at) VALUES ($1, $2) RETURNING id",
                &[Arg::Text(source), Arg::Text(&started)],
            )
            .await
            .map_err(|e| store.err(e))?;
        let suppressed = suppressed(store, plan, &mut tx).await?;
        // A fresh extraction may make a customer of an account sooner: `not_before` is recomputed.
        tx.script("DELETE FROM legacy_row; DELETE FROM legacy_key; UPDATE account SET not_before = NULL")
            .await
            .map_err(|e| store.err(e))?;
        Ok(Extraction {
            store,
            plan,
            tx,
            counts: ExtractionCounts {
                id,
                source: source.to_string(),
                accounts: 0,
                records: 0,
                quarantined: 0,
                finished_at: None,
                warnings: Vec::new(),
                started_at: at.to_rfc3339(),
                billed_twice: 0,
            },
            at,
            actor: actor.to_string(),
            filter,
            kept: HashSet::new(),
            bad_accounts: HashMap::new(),
            analyze_at: 5_000,
            new_accounts: Vec::new(),
            moved: Default::default(),
            suppressed,
            billed_twice: Default::default(),
        })
    }

    pub async fn finish(mut self) -> Result<ExtractionCounts, StoreError> {
        self.put_new_accounts().await?;
        // A credited period is not a second bill any more.
        let found: std::collections::BTreeMap<String, Vec<_>> = std::mem::take(&mut self.billed_twice)
            .into_iter()
            .map(|(number, per)| (number, crate::switch::Suppressed::still_billed(per)))
            .filter(|(_, bills)| !bills.is_empty())
            .collect();
        if !found.is_empty() {
            let warning = billed_twice_warning(&found, &self.suppressed);
            self.counts.billed_twice = found.len() as i64;
            self.counts.warnings.push(warning);
        }
        // A selector changed (or mistyped) moves accounts without a word otherwise: to no wave,
        // they would be in no wave's line of `status`.
        for ((from, to), n) in std::mem::take(&mut self.moved) {
            self.counts.warnings.push(format!(
                "the plan: {n} account(s) not yet migrating moved from {} to {} (each is journaled){}",
                wave_name(from.as_deref()),
                wave_name(to.as_deref()),
                if to.is_none() { "; check the waves' `select` if that was not meant" } else { "" }
            ));
        }
        let at = Utc::now().to_rfc3339();
        let warnings = (!self.counts.warnings.is_empty()).then(|| self.counts.warnings.join("\n"));
        let c = &self.counts;
        self.tx
            .execute(
                "UPDATE extraction SET finished_at = $1, accounts = $2, records = $3, quarantined = $4, warnings = $6 \
                 WHERE id = $5",
                &[
                    Arg::Text(&at),
                    Arg::Int(c.accounts),
                    Arg::Int(c.records),
                    Arg::Int(c.quarantined),
                    Arg::Int(c.id),
                    Arg::Opt(warnings.as_deref()),
                ],
            )
            .await
            .map_err(|e| self.store.err(e))?;
        // An extraction may move accounts to other waves, and so change which tallies a wave
        // counts: the stamp says so (migration 0025), last before the commit.
        self.tx
            .execute("UPDATE tally_stamp SET stamp = stamp + 1 WHERE id = 1", &[])
            .await
            .map_err(|e| self.store.err(e))?;
        self.tx.commit().await.map_err(|e| self.store.err(e))?;
        self.counts.finished_at = Some(at);
        Ok(self.counts)
    }

    /// Records a batch's quarantined rows, in the order given, in a few multi-row inserts (one
    /// statement a row was a round trip each: 3,386 of them at 20,000 demo accounts).
    async fn quarantine(&mut self, rows: &[Quarantined]) -> Result<(), StoreError> {
        let id = self.counts.id;
        for chunk in super::pieces(rows, 500) {
            let args: Vec<Arg<'_>> = chunk
                .iter()
                .flat_map(|q| {
                    [
                        Arg::Int(id),
                        Arg::Text(q.table.name()),
                        Arg::Text(&q.source),
                        Arg::Int(i64::try_from(q.row).unwrap_or(i64::MAX)),
                        Arg::Opt(q.account_number.as_deref()),
                        Arg::Text(&q.reason),
                        Arg::Text(&q.raw),
                    ]
                })
                .collect();
            let into = "quarantine (extraction_id, tbl, source, source_row, account_number, reason, raw)";
            self.insert_values(into, 7, &args).await?;
        }
        self.counts.quarantined += rows.len() as i64;
        Ok(())
    }

    fn wanted(&self, raw: &RawRow, record: &Record) -> bool {
        match (&self.filter, record) {
            (Filter::All, _) => true,
            (Filter::Accounts(list), Record::Account(a)) => list.contains(&a.account_number),
            (Filter::Wave(w), Record::Account(a)) => {
                self.plan.wave_for(a.segment, a.site.as_deref()).is_some_and(|x| &x.id == w)
            }
            (_, _) => raw.account_number().is_some_and(|n| self.kept.contains(n)),
        }
    }

    /// Stores a batch of account rows: one query for the account numbers already stored (a
    /// duplicate keeps the first row), multi-row inserts of the records, of the migration records
    /// of accounts seen for the first time and of their journal rows, and one query for the state
    /// of the accounts already known. Returns the rows to quarantine, and why.
    // Long: a page of accounts in a few multi-row statements, in the order the doc above lists.
    async fn put_accounts(&mut self, accounts: Vec<PendingAccount>) -> Result<Vec<(RawRow, String)>, StoreError> {
        let mut problems = Vec::new();
        let keys: Vec<&str> = accounts.iter().map(|a| a.number.as_str()).collect();
        let mut seen = self.existing("account", &keys).await?;
        let mut fresh = Vec::with_capacity(accounts.len());
        for a in accounts {
            if seen.insert(a.number.clone()) {
                fresh.push(a);
            } else {
                problems.push((a.raw, format!("duplicate account_number {} (the first row is kept)", a.number)));
            }
        }
        let records: Vec<RecordRow<'_>> = fresh
            .iter()
            .map(|a| RecordRow {
                kind: "account",
                key: Some(&a.number),
                account: &a.number,
                cells: &a.cells,
                row: a.raw.row as i64,
            })
            .collect();
        self.insert_records(&records).await?;
        // Migration records: new ones are created (journaled), known ones may follow the plan.
        let mut known = HashMap::new();
        for chunk in fresh.chunks(500) {
            let (list, values) = self.store.in_list(1, chunk);
            let sql = format!(
                "SELECT account_number, wave, state, readmitted_to FROM account WHERE account_number IN ({list})"
            );
            let numbers: Vec<Arg<'_>> = values.map(|a| Arg::Text(&a.number)).collect();
            for r in self.tx.texts(&sql, &numbers).await.map_err(|e| self.store.err(e))? {
                let [Some(number), wave, Some(state), readmitted] = <[Option<String>; 4]>::try_from(r)
                    .map_err(|r| StoreError::Corrupt(format!("an account row read as {r:?}")))?
                else {
                    return Err(StoreError::Corrupt("an account without number or state".into()));
                };
                known.insert(number, (wave, state, readmitted));
            }
        }
        let new: Vec<&PendingAccount> = fresh.iter().filter(|a| !known.contains_key(&a.number)).collect();
        self.new_accounts.extend(new.iter().map(|a| (a.number.clone(), a.wave.clone())));
        let mut journal: Vec<(String, Option<String>, State, State, String)> = new
            .iter()
            .map(|a| {
                let reason = format!(
                    "extracted from {} row {}; {}",
                    a.raw.source,
                    a.raw.row,
                    a.wave.as_deref().map_or("no wave selects it".to_string(), |w| format!("wave {w}"))
                );
                (a.number.clone(), a.wave.clone(), State::Pending, State::Extracted, reason)
            })
            .collect();
        for a in &fresh {
            if let Some((old, state, readmitted)) = known.remove(&a.number)
                && let Some(line) =
                    self.follow_plan(&a.number, a.wave.as_deref(), old.as_deref(), &state, readmitted).await?
            {
                *self.moved.entry((old, a.wave.clone())).or_default() += 1;
                journal.push(line);
            }
        }
        self.journal(&journal).await?;
        self.counts.accounts += fresh.len() as i64;
        if !matches!(self.filter, Filter::All) {
            self.kept.extend(fresh.into_iter().map(|a| a.number));
        }
        Ok(problems)
    }

    /// Writes the migration records of the accounts this extraction saw first, in the same
    /// transaction as their records and journal rows, ordered by wave and then account number:
    /// a wave's accounts then lie together in the table (issue 11). The legacy source lists the
    /// accounts in account order, the waves' interleaved, so a stage's page of 500 accounts of one
    /// wave lay across 100 to 200 of the table's pages, and each claim, state change and release
    /// of the page rewrote every one of them. Nothing in the extraction reads them before.
    async fn put_new_accounts(&mut self) -> Result<(), StoreError> {
        let mut new = std::mem::take(&mut self.new_accounts);
        new.sort_unstable_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let at = self.at.to_rfc3339();
        // Four binds a row for the account.
        for chunk in super::pieces(&new, 500) {
            let args: Vec<Arg<'_>> = chunk
                .iter()
                .flat_map(|(number, wave)| {
                    [Arg::Text(number), Arg::Opt(wave.as_deref()), Arg::Text(State::Extracted.as_str()), Arg::Text(&at)]
                })
                .collect();
            self.insert_values("account (account_number, wave, state, updated_at)", 4, &args).await?;
        }
        Ok(())
    }

    /// Journal rows of this extraction (its time and actor), as the store's journal writes them.
    async fn journal(&mut self, lines: &[(String, Option<String>, State, State, String)]) -> Result<(), StoreError> {
        let at = self.at.to_rfc3339();
        let lines: Vec<super::JournalLine<'_>> = lines
            .iter()
            .map(|(account, wave, from, to, reason)| super::JournalLine {
                account,
                wave: wave.as_deref(),
                at: at.clone(),
                actor: &self.actor,
                from: *from,
                to: *to,
                reason,
            })
            .collect();
        // `recorded_at` is the wall clock by definition (as in `Store::journal_many_in`).
        let recorded = Utc::now().to_rfc3339();
        for (sql, args) in self.store.journal_inserts(&lines, &recorded) {
            self.tx.execute(&sql, &args).await.map_err(|e| self.store.err(e))?;
        }
        Ok(())
    }

    /// One `INSERT INTO {into} VALUES …` of `args`, `width` values a row.
    async fn insert_values(&mut self, into: &str, width: usize, args: &[Arg<'_>]) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO {into} VALUES {}", self.store.values(width, args.len()));
        self.tx.execute(&sql, args).await.map_err(|e| self.store.err(e))?;
        Ok(())
    }

    /// Inserts records, an account's records of one kind as one stored row (`packed::group_text`,
    /// packed; migration 0019), and the keys of those that have one: on PostgreSQL by `COPY`,
    /// on SQLite in multi-row inserts (500 rows a statement, seven binds a row: far below its
    /// bind limit).
    async fn insert_records(&mut self, rows: &[RecordRow<'_>]) -> Result<(), StoreError> {
        let groups = Group::of(rows);
        let keys = rows.iter().filter_map(|r| Some([r.kind, r.key?]));
        if self.tx.can_copy() {
            let firsts: Vec<(String, Option<String>)> =
                groups.iter().map(|g| (g.first.to_string(), g.packed.as_deref().map(super::bulk::hex))).collect();
            let stored = groups.iter().zip(&firsts).map(|(g, (first, packed))| {
                [
                    Some(g.account),
                    Some(g.kind),
                    Some(first.as_str()),
                    Some(g.rows.as_str()),
                    Some(""),
                    g.records.as_deref(),
                    packed.as_deref(),
                ]
            });
            let cols = ["account_number", "kind", "source_row", "source_rows", "cells", "records", "packed"];
            self.tx.copy("legacy_row", cols, stored).await.map_err(|e| self.store.err(e))?;
            self.tx
                .copy("legacy_key", ["kind", "record_key"], keys.map(|[k, v]| [Some(k), Some(v)]))
                .await
                .map_err(|e| self.store.err(e))?;
            return Ok(());
        }
        for chunk in super::pieces(&groups, 500) {
            let args: Vec<Arg<'_>> = chunk
                .iter()
                .flat_map(|g| {
                    [
                        Arg::Text(g.account),
                        Arg::Text(g.kind),
                        Arg::Int(g.first),
                        Arg::Text(&g.rows),
                        Arg::Text(""),
                        Arg::Opt(g.records.as_deref()),
                        Arg::OptBytes(g.packed.as_deref()),
                    ]
                })
                .collect();
            let into = "legacy_row (account_number, kind, source_row, source_rows, cells, records, packed)";
            self.insert_values(into, 7, &args).await?;
        }
        let keyed: Vec<[&str; 2]> = keys.collect();
        for chunk in super::pieces(&keyed, 500) {
            let args: Vec<Arg<'_>> = chunk.iter().flat_map(|[kind, key]| [Arg::Text(kind), Arg::Text(key)]).collect();
            self.insert_values("legacy_key (kind, record_key)", 2, &args).await?;
        }
        Ok(())
    }

    /// A known account that a changed plan now puts in another wave moves with it, journaled,
    /// while nothing has been done for it yet (`extracted` or `held`). Further along it stays in
    /// the wave that is already migrating it. Returns the journal row of a move.
    async fn follow_plan(
        &mut self,
        account: &str,
        wave: Option<&str>,
        old: Option<&str>,
        state: &str,
        readmitted: Option<String>,
    ) -> Result<Option<(String, Option<String>, State, State, String)>, StoreError> {
        // A person readmitted it to a wave (`cutover readmit`): the plan's selector no longer decides.
        if old == wave || readmitted.is_some() {
            return Ok(None);
        }
        let state: State = state.parse().map_err(StoreError::Corrupt)?;
        if !matches!(state, State::Extracted | State::Held) {
            return Ok(None);
        }
        self.tx
            .execute("UPDATE account SET wave = $1 WHERE account_number = $2", &[Arg::Opt(wave), Arg::Text(account)])
            .await
            .map_err(|e| self.store.err(e))?;
        let why = format!("the plan now puts it in {} (was {})", wave_name(wave), wave_name(old));
        // Journaled in the wave it joins (in the one it leaves when it joins none).
        Ok(Some((account.to_string(), wave.or(old).map(str::to_string), state, state, why)))
    }

    /// Which of `keys` of `kind` are already stored (chunked `IN` lists).
    async fn existing(&mut self, kind: &str, keys: &[&str]) -> Result<HashSet<String>, StoreError> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(500) {
            let (list, values) = self.store.in_list(2, chunk);
            let among = format!("FROM legacy_key WHERE kind = {} AND record_key IN ({list})", self.store.param(1));
            let args: Vec<Arg<'_>> = std::iter::once(kind).chain(values.copied()).map(Arg::Text).collect();
            // Mostly every key is stored (the accounts of a batch of records) or none is (the
            // accounts and services seen first): a count says so in one row instead of a row a
            // key (issue 11: 364,000 rows at 100,000 accounts). Equal to the keys' number only
            // when they are distinct and all stored.
            let counted = self.tx.texts(&format!("SELECT CAST(COUNT(*) AS TEXT) {among}"), &args).await;
            let count = counted.map_err(|e| self.store.err(e))?.into_iter().next().and_then(|r| r.into_iter().next());
            match count.flatten().and_then(|n| n.parse::<usize>().ok()) {
                Some(0) => continue,
                Some(n) if n == chunk.len() => {
                    found.extend(chunk.iter().map(|k| k.to_string()));
                    continue;
                }
                Some(_) => {}
                None => return Err(StoreError::Corrupt(format!("counting the stored {kind} keys gave no number"))),
            }
            let sql = format!("SELECT record_key {among}");
            for row in self.tx.texts(&sql, &args).await.map_err(|e| self.store.err(e))? {
                if let Some(Some(key)) = row.into_iter().next() {
                    found.insert(key);
                }
            }
        }
        Ok(found)
    }

    /// Stores a batch of services, usage and invoice lines: one query to learn which accounts
    /// (and service ids) exist, then multi-row inserts. Returns the rows to quarantine, and why.
    async fn put_children(&mut self, pending: Vec<Pending>) -> Result<Vec<(RawRow, String)>, StoreError> {
        let mut accounts: Vec<&str> = pending.iter().map(|p| p.account.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let known = self.existing("account", &accounts).await?;
        let service_keys: Vec<&str> = pending.iter().filter(|p| p.kind == "service").map(|p| p.key.as_str()).collect();
        let mut taken = self.existing("service", &service_keys).await?;
        let contact_keys: Vec<&str> = pending.iter().filter(|p| p.kind == "contact").map(|p| p.key.as_str()).collect();
        let mut contacts_taken = self.existing("contact", &contact_keys).await?;
        let mut rejected = Vec::new();
        let mut insert = Vec::new();
        for p in pending {
            if !known.contains(&p.account) {
                let why = match self.bad_accounts.get(&p.account) {
                    Some(why) => format!("account {} was quarantined ({why})", p.account),
                    None => format!("unknown account {}", p.account),
                };
                rejected.push((p.raw, why));
            } else if p.kind == "service" && !taken.insert(p.key.clone()) {
                rejected.push((p.raw, format!("duplicate service_id {} (the first row is kept)", p.key)));
            } else if p.kind == "contact" && !contacts_taken.insert(p.key.clone()) {
                let role = p.key.rsplit('#').next().unwrap_or_default();
                rejected.push((
                    p.raw,
                    format!("a second {role} contact for account {} (the first row is kept)", p.account),
                ));
            } else {
                insert.push(p);
            }
        }
        let rows: Vec<RecordRow<'_>> = insert
            .iter()
            .map(|p| RecordRow {
                kind: p.kind,
                // Usage and invoice lines are told apart by their row; no key to check.
                key: matches!(p.kind, "service" | "contact").then_some(p.key.as_str()),
                account: &p.account,
                cells: &p.cells,
                row: p.raw.row as i64,
            })
            .collect();
        self.insert_records(&rows).await?;
        self.counts.records += insert.len() as i64;
        drop(rows);
        // Freeing a batch's thousands of strings is a second of the engine's thread at 100,000
        // accounts: done on a thread of the runtime's blocking pool instead (issue 11).
        tokio::task::spawn_blocking(move || drop(insert));
        Ok(rejected)
    }
}

/// A parsed account row waiting for its batch insert.
struct PendingAccount {
    raw: RawRow,
    number: String,
    wave: Option<String>,
    cells: String,
}

/// One `legacy_row` to insert (with its `legacy_key`, when it has one).
struct RecordRow<'r> {
    kind: &'static str,
    key: Option<&'r str>,
    account: &'r str,
    cells: &'r str,
    row: i64,
}

/// One stored `legacy_row`: a batch's records of one account and kind, in source order.
struct Group<'r> {
    account: &'r str,
    kind: &'static str,
    first: i64,
    rows: String,
    /// The records' cells joined ([`packed::group_text`]), shorter than [`Group::PACK_FROM`];
    /// else packed in `packed` ([`packed::pack`]). The row's `cells` stays empty, so that a cutover from before
    /// groups fails on the row (a missing name) rather than reading the first record alone.
    records: Option<String>,
    packed: Option<Vec<u8>>,
}

impl<'r> Group<'r> {
    /// Groups this long or longer are packed: they pack to about a third, and in SQLite's
    /// default 4 KiB page (a store created before [`super::SQLITE_PAGE_SIZE`]) the longest would
    /// spill onto overflow pages, most of which stays empty. Shorter ones
    /// stay text, which a few hundred bytes do not repay (chosen with deflate, whose cost was
    /// about the same whatever the length; LZ4 since migration 0020).
    const PACK_FROM: usize = 1024;

    /// A batch's records grouped by account and kind (a kind is one table's, so a group's rows
    /// are distinct and its first row is a key).
    fn of(rows: &[RecordRow<'r>]) -> Vec<Group<'r>> {
        let mut sorted: Vec<&RecordRow<'r>> = rows.iter().collect();
        sorted.sort_by(|a, b| (a.account, a.kind, a.row).cmp(&(b.account, b.kind, b.row)));
        sorted
            .chunk_by(|a, b| (a.account, a.kind) == (b.account, b.kind))
            .map(|g| {
                let numbers: Vec<i64> = g.iter().map(|r| r.row).collect();
                let cells = packed::group_text(g.iter().map(|r| r.cells));
                let (records, packed) = if cells.len() >= Self::PACK_FROM {
                    (None, Some(packed::pack(&cells)))
                } else {
                    (Some(cells), None)
                };
                let rows = packed::rows_text(&numbers);
                Group { account: g[0].account, kind: g[0].kind, first: g[0].row, rows, records, packed }
            })
            .collect()
    }
}

/// A parsed service, usage or invoice line waiting for its batch insert.
struct Pending {
    raw: RawRow,
    kind: &'static str,
    key: String,
    account: String,
    cells: String,
}

/// The cut-over accounts whose legacy billing is suppressed: cut over or loaded, their
/// suppression record written (`published`), not restored by a rollback or a failed load. Their
/// cycle day and currency come with their account rows.
async fn suppressed(
    store: &Store,
    plan: &Plan,
    tx: &mut BulkTx,
) -> Result<HashMap<String, (crate::switch::Suppressed, String)>, StoreError> {
    let sql = "SELECT c.account_number, c.wave, c.first_new_bill_date FROM cutover c \
               JOIN account a ON a.account_number = c.account_number \
               WHERE c.legacy_billing = 'suppressed' AND c.published = 1 AND a.state IN ('cut_over', 'loaded')";
    let mut out = HashMap::new();
    for r in tx.texts(sql, &[]).await.map_err(|e| store.err(e))? {
        let [Some(number), Some(wave), Some(first)] = <[Option<String>; 3]>::try_from(r)
            .map_err(|r| StoreError::Corrupt(format!("a cut-over row read as {r:?}")))?
        else {
            return Err(StoreError::Corrupt("a cut-over row without account, wave or date".into()));
        };
        let first_new_bill_date = chrono::NaiveDate::parse_from_str(&first, "%Y-%m-%d")
            .map_err(|e| StoreError::Corrupt(format!("cut-over of {number}: first_new_bill_date `{first}`: {e}")))?;
        let usage_carryover = plan.wave(&wave).map(|w| w.usage_carryover).unwrap_or_default();
        let s = crate::switch::Suppressed { first_new_bill_date, usage_carryover, cycle_day: 1 };
        out.insert(number, (s, String::new()));
    }
    Ok(out)
}

/// The warning for cut-over accounts the legacy system billed after it was to stop: how many,
/// the first few with their periods and amounts, and what to do.
fn billed_twice_warning(
    found: &std::collections::BTreeMap<String, Vec<(crate::domain::Period, Decimal)>>,
    suppressed: &HashMap<String, (crate::switch::Suppressed, String)>,
) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = found
        .iter()
        .take(SHOWN)
        .map(|(number, periods)| {
            let currency = suppressed.get(number).map_or("", |(_, c)| c.as_str());
            let bills: Vec<String> =
                periods.iter().map(|(p, amount)| format!("{p} {currency} {}", crate::bill::money(*amount))).collect();
            format!("{number} ({})", bills.join(", "))
        })
        .collect();
    let more = found.len().saturating_sub(SHOWN);
    format!(
        "the legacy system billed {} cut-over account(s) after it was to stop (legacy-suppression.csv): {}{}; \
         each is a second bill for a period the new system bills: have the legacy team credit it and apply the \
         suppression records (`cutover status ACCOUNT` lists an account's)",
        found.len(),
        shown.join("; "),
        if more > 0 { format!("; and {more} more") } else { String::new() }
    )
}

/// A wave as the journal and the warnings name it: `wave ID`, or `no wave`.
fn wave_name(wave: Option<&str>) -> String {
    wave.map_or("no wave".to_string(), |w| format!("wave {w}"))
}

impl Sink for Extraction<'_> {
    async fn warn(&mut self, source: &str, message: String) -> Result<(), SinkError> {
        self.counts.warnings.push(format!("{source}: {message}"));
        Ok(())
    }

    async fn batch(&mut self, rows: Vec<(RawRow, Result<Record, String>)>) -> Result<(), SinkError> {
        self.take(rows).await?;
        // A batch written, the extraction's transaction still open (the crash tests).
        crate::failpoint::hit("extract.batch_stored");
        Ok(())
    }
}

impl Extraction<'_> {
    /// A batch of parsed rows: kept, or quarantined with the reason (one parser, every source).
    // Long: one batch of parsed rows sorted into kept and quarantined, per table, before one write.
    async fn take(&mut self, rows: Vec<(RawRow, Result<Record, String>)>) -> Result<(), StoreError> {
        let mut pending = Vec::new();
        let mut accounts = Vec::new();
        let mut problems = Vec::new();
        let accounts_table = rows.first().is_some_and(|(raw, _)| raw.table == Table::Accounts);
        for (raw, parsed) in rows {
            let problem = match &parsed {
                Err(reason) => {
                    if raw.table == Table::Accounts
                        && let Some(n) = raw.account_number()
                    {
                        self.bad_accounts.insert(n.to_string(), reason.clone());
                    }
                    // Rows of accounts the filter leaves out are not this run's business.
                    let skip = match &self.filter {
                        Filter::All => false,
                        Filter::Accounts(list) => raw.account_number().is_none_or(|n| !list.iter().any(|x| x == n)),
                        Filter::Wave(_) => raw.account_number().is_none_or(|n| !self.kept.contains(n)),
                    };
                    if skip {
                        continue;
                    }
                    Some(reason.clone())
                }
                Ok(record) => {
                    if !self.wanted(&raw, record) {
                        continue;
                    }
                    // Stored as the source's cells without the account number (the row's key);
                    // `Store::legacy_accounts` parses them again with the same parser.
                    let cells = raw.fields.as_slice_from(1, packed::cells_text)?;
                    // Usage and invoice lines have no id of their own: their place in the source is (one
                    // extraction reads one source, so table and row are unique).
                    let (kind, key) = match record {
                        Record::Account(a) => {
                            if let Some((s, currency)) = self.suppressed.get_mut(&a.account_number) {
                                s.cycle_day = a.bill_cycle_day;
                                currency.clone_from(&a.currency);
                            }
                            let wave = self.plan.wave_for(a.segment, a.site.as_deref()).map(|w| w.id.clone());
                            accounts.push(PendingAccount { number: a.account_number.clone(), raw, wave, cells });
                            continue;
                        }
                        Record::Service(s) => ("service", s.service_id.clone()),
                        Record::Usage(u) => {
                            // Usage is only billable for a metered (usage) charge.
                            if let Some((_, charge)) = self.plan.catalog.lookup(&u.legacy_code)
                                && charge.charge_type != ChargeType::Usage
                            {
                                let why = format!(
                                    "usage recorded for {}, which is not metered (a {} charge in the catalog)",
                                    u.legacy_code,
                                    charge.charge_type.as_str()
                                );
                                problems.push((raw, why));
                                continue;
                            }
                            ("usage", format!("{}#{}", raw.table.name(), raw.row))
                        }
                        Record::Line(l) => {
                            // An account row read (its currency set): the legacy system told to stop.
                            if !self.suppressed.is_empty()
                                && let Some((s, currency)) = self.suppressed.get(&l.account_number)
                                && !currency.is_empty()
                            {
                                let usage = self.plan.catalog.bills_usage(&l.legacy_code);
                                if s.billed_twice(l, usage, self.at.date_naive()) {
                                    *self
                                        .billed_twice
                                        .entry(l.account_number.clone())
                                        .or_default()
                                        .entry(l.period)
                                        .or_default() += l.amount;
                                }
                            }
                            ("line", format!("{}#{}", raw.table.name(), raw.row))
                        }
                        Record::Contact(c) => {
                            ("contact", format!("{}#{}", c.account_number, c.role.map_or("", |r| r.as_str())))
                        }
                    };
                    let account = record.account_number().to_string();
                    pending.push(Pending { raw, kind, key, account, cells });
                    continue;
                }
            };
            if let Some(reason) = problem {
                problems.push((raw, reason));
            }
        }
        problems.extend(self.put_accounts(accounts).await?);
        if accounts_table {
            // Quarantined in source order, as when each account row was stored on its own.
            problems.sort_by_key(|(raw, _)| raw.row);
        }
        problems.extend(self.put_children(pending).await?);
        let quarantined: Vec<Quarantined> = problems
            .into_iter()
            .map(|(raw, reason)| Quarantined {
                table: raw.table,
                source: raw.source.to_string(),
                row: raw.row,
                account_number: raw.account_number().map(str::to_string),
                reason,
                raw: raw.display(),
            })
            .collect();
        self.quarantine(&quarantined).await?;
        self.analyze_as_it_grows().await
    }
}

impl Extraction<'_> {
    /// PostgreSQL plans the per-batch "which keys exist" lookups from its statistics, which
    /// describe the table as it was before this transaction emptied and refilled it (or as
    /// empty). With 500 keys it then scans every stored row of the kind and compares it with the
    /// whole list, once per batch: quadratic (0.5 s a lookup at 20,000 accounts). `ANALYZE` in
    /// the transaction counts its own rows, and the lookup becomes an index-only scan (3 ms).
    /// Done each time the rows stored double, so a logarithmic number of times.
    async fn analyze_as_it_grows(&mut self) -> Result<(), StoreError> {
        if self.store.dialect() != super::Dialect::Postgres
            || self.counts.accounts + self.counts.records < self.analyze_at
        {
            return Ok(());
        }
        self.analyze_at *= 2;
        self.tx.execute("ANALYZE legacy_row, legacy_key, account", &[]).await.map_err(|e| self.store.err(e))?;
        Ok(())
    }
}
