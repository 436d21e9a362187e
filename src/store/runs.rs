//! Reconciliation runs, waivers and the wave journal (migration 0002).
//!
//! - A **run** is one reconciliation outcome of a wave, numbered per wave (1, 2, …), with one row
//!   per account. Recording an outcome identical to the wave's last run (same fingerprint) records
//!   nothing: running a report twice does not make two runs.
//! - A **waiver** lets a failing account be switched; it is written in the same transaction as the
//!   account's journal row (the engine's `waive`).
//! - The **wave journal** holds wave-level events, such as a gate promotion, with who, when and why.

use super::{Cell, Store, StoreError};
use crate::domain::Decimal;
use crate::reconcile::report::{RunResult, Tally, Waiver};
use crate::reconcile::{AccountStatus, GateVerdict};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

/// A run to record.
pub struct NewRun<'a> {
    pub wave: &'a str,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    /// The command that produced it: `run` or `reconcile`.
    pub via: &'a str,
    pub fingerprint: &'a str,
    pub accounts: u64,
    pub passed: u64,
    pub failed: u64,
    pub waived: u64,
    pub unexplained: u64,
    pub pass_rate: String,
    pub legacy_total: String,
    pub new_total: String,
    pub absolute_variance: String,
    pub gate: &'a str,
}

/// A recorded run: its money and gate parsed where it is read, so a corrupt value fails loudly
/// (`StoreError::Corrupt`) instead of reaching the gate as zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub wave: String,
    pub number: i64,
    pub at: String,
    pub actor: String,
    pub via: String,
    pub fingerprint: String,
    pub accounts: i64,
    pub passed: i64,
    pub failed: i64,
    pub waived: i64,
    pub unexplained: i64,
    pub pass_rate: Decimal,
    pub legacy_total: Decimal,
    pub new_total: Decimal,
    pub absolute_variance: Decimal,
    pub gate: GateVerdict,
}

/// A run as stored (text), read by column name.
#[derive(sqlx::FromRow)]
struct StoredRun {
    id: i64,
    wave: String,
    number: i64,
    at: String,
    actor: String,
    via: String,
    fingerprint: String,
    accounts: i64,
    passed: i64,
    failed: i64,
    waived: i64,
    unexplained: i64,
    pass_rate: String,
    legacy_total: String,
    new_total: String,
    absolute_variance: String,
    gate: String,
}

impl TryFrom<StoredRun> for RunRow {
    type Error = StoreError;

    fn try_from(r: StoredRun) -> Result<RunRow, StoreError> {
        let corrupt =
            |what: &str, v: &str| StoreError::Corrupt(format!("run {} of {}: {what} {v:?}", r.number, r.wave));
        let money = |what: &str, v: &str| v.parse::<Decimal>().map_err(|_| corrupt(what, v));
        Ok(RunRow {
            pass_rate: money("pass rate", &r.pass_rate)?,
            legacy_total: money("legacy total", &r.legacy_total)?,
            new_total: money("new total", &r.new_total)?,
            absolute_variance: money("absolute variance", &r.absolute_variance)?,
            gate: r.gate.parse().map_err(|_| corrupt("gate", &r.gate))?,
            id: r.id,
            number: r.number,
            at: r.at,
            actor: r.actor,
            via: r.via,
            fingerprint: r.fingerprint,
            accounts: r.accounts,
            passed: r.passed,
            failed: r.failed,
            waived: r.waived,
            unexplained: r.unexplained,
            wave: r.wave,
        })
    }
}

/// A wave-level journal row (read by column name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WaveEvent {
    pub at: String,
    pub actor: String,
    pub event: String,
    pub reason: String,
    pub fingerprint: String,
    pub data: String,
}

/// Which run of which wave a run id is (read by column name).
#[derive(sqlx::FromRow)]
struct StoredRunKey {
    wave: String,
    number: i64,
}

/// One run's results folded into one text ([`Store::joined`]), read by column name.
#[derive(sqlx::FromRow)]
struct StoredRunPart {
    number: i64,
    joined: String,
}

/// A waiver with its account, as stored (read by column name).
#[derive(sqlx::FromRow)]
struct StoredWaiver {
    account_number: String,
    reason: String,
    actor: String,
    at: String,
    covers: Option<String>,
}

impl StoredWaiver {
    /// (account, waiver).
    fn pair(self) -> (String, Waiver) {
        (self.account_number, Waiver { reason: self.reason, actor: self.actor, at: self.at, covers: self.covers })
    }
}

const RUN_COLS: &str = "id, wave, number, at, actor, via, fingerprint, accounts, passed, failed, waived, unexplained, \
                        pass_rate, legacy_total, new_total, absolute_variance, gate";

/// Rows per multi-row insert of run results (5 parameters each).
const RESULT_CHUNK: usize = 200;

/// The run a store handle last recorded for a wave, whole: what recording the next run compares
/// with, instead of reading the run back (issue 11: a wave's runs are recorded after
/// every reconcile stage that compared accounts, and reading the last one back rebuilt a whole
/// wave's results each time). A run never changes once recorded, so a run found by its id is
/// the one kept; a run another worker recorded since has another id, and is read.
#[derive(Debug, Clone)]
struct LastRun {
    id: i64,
    results: std::sync::Arc<Vec<RunResult>>,
    /// The stored lines reading it back takes (`Store::results_in`).
    read: usize,
}

/// The last runs of a store handle and its clones, by wave.
#[derive(Debug, Clone, Default)]
pub(super) struct LastRuns(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, LastRun>>>);

impl LastRuns {
    /// Wave `wave`'s run `id` with what reading it back takes, if kept.
    fn get(&self, wave: &str, id: i64) -> Option<(std::sync::Arc<Vec<RunResult>>, usize)> {
        let kept = self.0.lock().ok()?;
        kept.get(wave).filter(|r| r.id == id).map(|r| (r.results.clone(), r.read))
    }

    fn keep(&self, wave: &str, run: LastRun) {
        if let Ok(mut kept) = self.0.lock() {
            kept.insert(wave.to_string(), run);
        }
    }
}

impl Store {
    /// Records a run of a wave with its per-account results, numbered after the wave's last run.
    /// When the last run has the same fingerprint, nothing is recorded and that run is returned
    /// with `false`.
    pub async fn record_run(&self, run: &NewRun<'_>, results: Vec<RunResult>) -> Result<(RunRow, bool), StoreError> {
        let mut tx = self.begin().await?;
        // Two workers recording at once: one numbers its run after the other's, or finds it equal.
        self.lock_in(&mut tx, &format!("reconcile_run:{}", run.wave)).await?;
        let sql = format!("SELECT {RUN_COLS} FROM reconcile_run WHERE wave = $1 ORDER BY number DESC LIMIT 1");
        let last = sqlx::query_as::<_, StoredRun>(&sql)
            .bind(run.wave)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| self.err(e))?
            .map(RunRow::try_from)
            .transpose()?;
        if let Some(last) = last.as_ref().filter(|l| l.fingerprint == run.fingerprint) {
            tx.commit().await.map_err(|e| self.err(e))?;
            return Ok((last.clone(), false));
        }
        let number = last.as_ref().map_or(1, |l| l.number + 1);
        // Taken, not copied: kept whole below (a wave's results, every run recorded).
        let mut sorted = results;
        sorted.sort_by(|a, b| a.account_number.cmp(&b.account_number));
        // What changed since the last run, unless a whole copy is due: the first run, or when
        // reading the last run back would cost more than twice the wave (its whole run and the
        // changes since). Results are given in account order.
        let before = match &last {
            Some(l) => Some(match self.last_runs.get(run.wave, l.id) {
                Some(kept) => kept,
                None => {
                    let (results, read) = self.results_in(&mut tx, run.wave, l.number).await?;
                    (std::sync::Arc::new(results), read)
                }
            }),
            None => None,
        };
        let stored = before.as_ref().and_then(|(before, read)| {
            let delta = delta(before, &sorted);
            (read + delta.len() <= 2 * sorted.len()).then_some(delta)
        });
        let whole = stored.is_none();
        let lines = stored.unwrap_or_else(|| sorted.iter().map(Line::of).collect());
        // What reading this run back will take: itself when whole, else the run before and this.
        let read = lines.len() + if whole { 0 } else { before.as_ref().map_or(0, |(_, read)| *read) };
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let id: i64 = sqlx::query(
            "INSERT INTO reconcile_run (wave, number, at, actor, via, fingerprint, accounts, passed, failed, waived, \
             unexplained, pass_rate, legacy_total, new_total, absolute_variance, gate, whole) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
        )
        .bind(run.wave)
        .bind(number)
        .bind(run.at.to_rfc3339())
        .bind(run.actor)
        .bind(run.via)
        .bind(run.fingerprint)
        .bind(n(run.accounts))
        .bind(n(run.passed))
        .bind(n(run.failed))
        .bind(n(run.waived))
        .bind(n(run.unexplained))
        .bind(&run.pass_rate)
        .bind(&run.legacy_total)
        .bind(&run.new_total)
        .bind(&run.absolute_variance)
        .bind(run.gate)
        .bind(i64::from(whole))
        .fetch_one(&mut **tx)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| self.err(e))?;
        for chunk in super::pieces(&lines, RESULT_CHUNK) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", self.params(i * 5 + 1, 5).join(", "))).collect();
            let sql = format!(
                "INSERT INTO reconcile_result (run_id, account_number, outcome, stake, reasons) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q.bind(id).bind(r.account_number).bind(r.outcome).bind(r.stake).bind(r.reasons);
            }
            q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
        }
        let sql = format!("SELECT {RUN_COLS} FROM reconcile_run WHERE id = $1");
        let row = sqlx::query_as::<_, StoredRun>(&sql).bind(id).fetch_one(&mut **tx).await.map_err(|e| self.err(e))?;
        let row = RunRow::try_from(row)?;
        tx.commit().await.map_err(|e| self.err(e))?;
        self.last_runs.keep(run.wave, LastRun { id, results: std::sync::Arc::new(sorted), read });
        Ok((row, true))
    }

    /// The runs of a wave, oldest first.
    pub async fn runs(&self, wave: &str) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!("SELECT {RUN_COLS} FROM reconcile_run WHERE wave = $1 ORDER BY number");
        let rows = sqlx::query_as::<_, StoredRun>(&sql)
            .bind(wave)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(RunRow::try_from).collect()
    }

    /// The wave's latest run.
    pub async fn latest_run(&self, wave: &str) -> Result<Option<RunRow>, StoreError> {
        let sql = format!("SELECT {RUN_COLS} FROM reconcile_run WHERE wave = $1 ORDER BY number DESC LIMIT 1");
        let row = sqlx::query_as::<_, StoredRun>(&sql)
            .bind(wave)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        row.map(RunRow::try_from).transpose()
    }

    /// The per-account results of a run, in account order.
    pub async fn run_results(&self, run_id: i64) -> Result<Vec<RunResult>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        let run: StoredRunKey = sqlx::query_as("SELECT wave, number FROM reconcile_run WHERE id = $1")
            .bind(run_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(self.results_in(&mut conn, &run.wave, run.number).await?.0)
    }

    /// The results of run `number` of `wave`, in account order, and how many stored lines were
    /// read for them: the latest whole run up to it, overlaid by each later run's changes. One
    /// aggregated row per run (see `Store::joined`).
    async fn results_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        wave: &str,
        number: i64,
    ) -> Result<(Vec<RunResult>, usize), StoreError> {
        let sql = format!(
            "SELECT u.number, {} AS joined FROM reconcile_run u JOIN reconcile_result r ON r.run_id = u.id \
             WHERE u.wave = $1 AND u.number <= $2 AND u.number >= \
               (SELECT COALESCE(MAX(number), 0) FROM reconcile_run WHERE wave = $1 AND number <= $2 AND whole = 1) \
             GROUP BY u.number ORDER BY u.number",
            self.joined(&["r.account_number", "r.outcome", "r.stake", "r.reasons"])
        );
        let rows: Vec<StoredRunPart> =
            sqlx::query_as(&sql).bind(wave).bind(number).fetch_all(&mut *conn).await.map_err(|e| self.err(e))?;
        let mut lines: std::collections::BTreeMap<String, RunResult> = std::collections::BTreeMap::new();
        let mut read = 0;
        for r in &rows {
            let at = r.number;
            let corrupt = |e: String| StoreError::Corrupt(format!("run {at} of {wave}: {e}"));
            for [account, outcome, stake, reasons] in super::split_joined::<4>(&r.joined).map_err(corrupt)? {
                read += 1;
                if outcome == GONE {
                    lines.remove(account);
                    continue;
                }
                let line = RunResult {
                    account_number: account.to_string(),
                    // A corrupt outcome fails loudly here rather than reaching a report as something else.
                    outcome: outcome.parse().map_err(corrupt)?,
                    stake: stake.to_string(),
                    reasons: reasons.to_string(),
                };
                lines.insert(line.account_number.clone(), line);
            }
        }
        Ok((lines.into_values().collect(), read))
    }

    /// Writes accounts' tallies (what a run needs of each) inside the caller's transaction, the
    /// one that writes their verdicts.
    pub async fn put_tallies_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        tallies: &[Tally],
    ) -> Result<(), StoreError> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let text: Vec<[String; 4]> = tallies
            .iter()
            .map(|t| {
                let (stake, legacy, new) = (t.stake.to_string(), t.legacy_total.to_string(), t.new_total.to_string());
                // The fields joined once, here, for `wave_tallies` (migration 0024), in its order.
                let line = super::join_fields(&[
                    t.account_number.as_str(),
                    t.status.as_str(),
                    &stake,
                    &t.reasons,
                    &legacy,
                    &new,
                    &n(t.unexplained).to_string(),
                    &n(t.periods).to_string(),
                    &n(t.mismatched).to_string(),
                ]);
                [stake, legacy, new, line]
            })
            .collect();
        let rows: Vec<Vec<Cell<'_>>> = tallies
            .iter()
            .zip(&text)
            .map(|(t, [stake, legacy, new, line])| {
                vec![
                    Cell::Text(&t.account_number),
                    Cell::Text(t.status.as_str()),
                    Cell::Text(stake),
                    Cell::Text(&t.reasons),
                    Cell::Text(legacy),
                    Cell::Text(new),
                    Cell::Int(n(t.unexplained)),
                    Cell::Int(n(t.periods)),
                    Cell::Int(n(t.mismatched)),
                    Cell::Text(line),
                ]
            })
            .collect();
        let cols = [
            "account_number",
            "status",
            "stake",
            "reasons",
            "legacy_total",
            "new_total",
            "unexplained",
            "periods",
            "mismatched",
            "line",
        ];
        self.upsert_in(tx, "recon_tally", &cols, 1, rows).await
    }

    /// Adds one to the tally stamp (migration 0025) in the caller's transaction, and returns it:
    /// the last statement of every transaction that writes or deletes a tally or may move an
    /// account to another wave. Last, so that a transaction holding the stamp's row (PostgreSQL
    /// locks it until commit) waits for nothing else, and no two can wait for each other.
    pub async fn bump_tally_stamp_in(&self, tx: &mut Transaction<'static, Any>) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>("UPDATE tally_stamp SET stamp = stamp + 1 WHERE id = 1 RETURNING stamp")
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| self.err(e))
    }

    /// The tally stamp as last committed.
    pub async fn tally_stamp(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT stamp FROM tally_stamp WHERE id = 1")
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))
    }

    /// The tallies of a wave's accounts, in account order: one aggregated row for the wave, of
    /// each tally's fields as joined when it was written (migration 0024: joining them here, for
    /// every account on every run, was two thirds of this read). A tally without them would be
    /// left out of the run unseen (an aggregate skips NULL): it reads as a row of one field,
    /// `!`, which fails as corrupt (not as an empty text, which a wave of one tally would take
    /// for a wave of none).
    pub async fn wave_tallies(&self, wave: &str) -> Result<Vec<Tally>, StoreError> {
        let sql = format!(
            "SELECT {} FROM recon_tally t JOIN account a ON a.account_number = t.account_number WHERE a.wave = $1",
            self.joined(&["COALESCE(t.line, '!')"])
        );
        let joined: Option<String> = sqlx::query(&sql)
            .bind(wave)
            .fetch_one(&mut *self.conn().await?)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for [account, status, stake, reasons, legacy, new, unexplained, periods, mismatched] in
            super::split_joined::<9>(joined.as_deref().unwrap_or_default()).map_err(StoreError::Corrupt)?
        {
            // A corrupt value fails loudly: it would reach the gate as something else.
            let bad = |what: &str, v: &str| StoreError::Corrupt(format!("the tally of {account} has {what} {v:?}"));
            let money = |what: &str, v: &str| v.parse::<crate::domain::Decimal>().map_err(|_| bad(what, v));
            let count = |what: &str, v: &str| v.parse::<u64>().map_err(|_| bad(what, v));
            out.push(Tally {
                account_number: account.to_string(),
                status: match status {
                    "pass" => AccountStatus::Pass,
                    "fail" => AccountStatus::Fail,
                    other => return Err(bad("status", other)),
                },
                stake: money("stake", stake)?,
                reasons: reasons.to_string(),
                legacy_total: money("legacy total", legacy)?,
                new_total: money("new total", new)?,
                unexplained: count("unexplained", unexplained)?,
                periods: count("periods", periods)?,
                mismatched: count("mismatched periods", mismatched)?,
            });
        }
        out.sort_by(|a, b| a.account_number.cmp(&b.account_number));
        Ok(out)
    }

    /// The accounts of a wave with stored verdicts and no tally (compared before migration 0016).
    pub async fn untallied(&self, wave: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.account_number FROM account a WHERE a.wave = $1 \
             AND EXISTS (SELECT 1 FROM verdict v WHERE v.account_number = a.account_number) \
             AND NOT EXISTS (SELECT 1 FROM recon_tally t WHERE t.account_number = a.account_number) \
             ORDER BY a.account_number",
        )
        .bind(wave)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The waivers of a wave's accounts, as (account, waiver).
    pub async fn wave_waivers(&self, wave: &str) -> Result<Vec<(String, Waiver)>, StoreError> {
        let rows: Vec<StoredWaiver> = self
            .rows_by(
                "SELECT w.account_number, w.reason, w.actor, w.at, w.covers FROM waiver w \
                 JOIN account a ON a.account_number = w.account_number WHERE a.wave = $1",
                wave,
            )
            .await?;
        Ok(rows.into_iter().map(StoredWaiver::pair).collect())
    }

    /// Records a waiver inside the caller's transaction. False when the account already has one.
    pub async fn put_waiver_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &str,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
        covers: &str,
    ) -> Result<bool, StoreError> {
        // A waiver for another failure is replaced; the same one again changes nothing.
        let stale = "DELETE FROM waiver WHERE account_number = $1 AND (covers IS NULL OR covers <> $2)";
        self.execute_text(&mut **tx, stale, &[account, covers]).await?;
        let insert = "INSERT INTO waiver (account_number, reason, actor, covers, at) VALUES ($1, $2, $3, $4, $5) \
                      ON CONFLICT (account_number) DO NOTHING";
        Ok(self.execute_text(&mut **tx, insert, &[account, reason, actor, covers, &at.to_rfc3339()]).await? == 1)
    }

    /// Withdraws an account's waiver inside a caller's transaction (with its journal row). False
    /// when it had none.
    pub async fn drop_waiver_in(&self, tx: &mut Transaction<'static, Any>, account: &str) -> Result<bool, StoreError> {
        Ok(self.execute_text(&mut **tx, "DELETE FROM waiver WHERE account_number = $1", &[account]).await? > 0)
    }

    /// The waivers of these accounts, as (account, waiver).
    pub async fn waivers(&self, numbers: &[String]) -> Result<Vec<(String, Waiver)>, StoreError> {
        let rows: Vec<StoredWaiver> = self
            .rows_for(numbers, |list| {
                format!(
                    "SELECT account_number, reason, actor, at, covers FROM waiver WHERE account_number IN ({list}) \
                     ORDER BY account_number"
                )
            })
            .await?;
        Ok(rows.into_iter().map(StoredWaiver::pair).collect())
    }

    /// An account's reconciliation outcome as last recorded by the reconcile stage (`pass`/`fail`).
    pub async fn recon(&self, account: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            self.row_by("SELECT recon FROM account WHERE account_number = $1", account).await?;
        Ok(row.and_then(|(recon,)| recon))
    }

    /// These accounts' reconciliation outcomes as last recorded ([`Store::recon`]), for those
    /// that have one: account number → whether it passed.
    pub async fn recons(&self, numbers: &[String]) -> Result<std::collections::HashMap<String, bool>, StoreError> {
        let rows: Vec<(String, String)> = self
            .rows_for(numbers, |list| {
                format!(
                    "SELECT account_number, recon FROM account WHERE account_number IN ({list}) AND recon IS NOT NULL"
                )
            })
            .await?;
        Ok(rows.into_iter().map(|(account, recon)| (account, recon == "pass")).collect())
    }

    /// Writes a wave-level journal row.
    #[allow(clippy::too_many_arguments)]
    pub async fn wave_event(
        &self,
        wave: &str,
        at: DateTime<Utc>,
        actor: &str,
        event: &str,
        reason: &str,
        fingerprint: &str,
        data: &str,
    ) -> Result<(), StoreError> {
        let _turn = self.turn().await?;
        sqlx::query(
            "INSERT INTO wave_journal (wave, at, actor, event, reason, fingerprint, data, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(wave)
        .bind(at.to_rfc3339())
        .bind(actor)
        .bind(event)
        .bind(reason)
        .bind(fingerprint)
        .bind(data)
        .bind(Utc::now().to_rfc3339())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A wave's journal, oldest first (all events, or one kind).
    pub async fn wave_journal(&self, wave: &str, event: Option<&str>) -> Result<Vec<WaveEvent>, StoreError> {
        sqlx::query_as(
            "SELECT at, actor, event, reason, fingerprint, data FROM wave_journal \
             WHERE wave = $1 AND ($2 = '' OR event = $2) ORDER BY id",
        )
        .bind(wave)
        .bind(event.unwrap_or(""))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))
    }
}

/// The stored outcome of an account that left a run (stored as a change only).
const GONE: &str = "gone";

/// A run's line as stored.
struct Line<'a> {
    account_number: &'a str,
    outcome: &'a str,
    stake: &'a str,
    reasons: &'a str,
}

impl<'a> Line<'a> {
    fn of(r: &'a RunResult) -> Line<'a> {
        Line { account_number: &r.account_number, outcome: r.outcome.as_str(), stake: &r.stake, reasons: &r.reasons }
    }
}

/// The lines that turn `before` into `after` (both in account order): those new or changed,
/// and `gone` for those no longer there.
fn delta<'a>(before: &'a [RunResult], after: &'a [RunResult]) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(b), Some(a)) if b.account_number == a.account_number => {
                if b != a {
                    out.push(Line::of(a));
                }
                i += 1;
                j += 1;
            }
            (Some(b), Some(a)) if b.account_number < a.account_number => {
                out.push(Line { account_number: &b.account_number, outcome: GONE, stake: "0", reasons: "" });
                i += 1;
            }
            (Some(b), None) => {
                out.push(Line { account_number: &b.account_number, outcome: GONE, stake: "0", reasons: "" });
                i += 1;
            }
            (_, Some(a)) => {
                out.push(Line::of(a));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}
