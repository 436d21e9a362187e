//! Reconciliation runs, waivers and the wave journal (migration 0002).
//!
//! - A **run** is one reconciliation outcome of a wave, numbered per wave (1, 2, …), with one row
//!   per account. Recording an outcome identical to the wave's last run (same fingerprint) records
//!   nothing: running a report twice does not make two runs.
//! - A **waiver** lets a failing account be switched; it is written in the same transaction as the
//!   account's journal row (the engine's `waive`).
//! - The **wave journal** holds wave-level events, such as a gate promotion, with who, when and why.

use super::{Store, StoreError};
use crate::reconcile::report::{RunResult, Waiver};
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

/// A recorded run.
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
    pub pass_rate: String,
    pub legacy_total: String,
    pub new_total: String,
    pub absolute_variance: String,
    pub gate: String,
}

/// A wave-level journal row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveEvent {
    pub at: String,
    pub actor: String,
    pub event: String,
    pub reason: String,
    pub fingerprint: String,
    pub data: String,
}

const RUN_COLS: &str = "id, wave, number, at, actor, via, fingerprint, accounts, passed, failed, waived, unexplained, \
                        pass_rate, legacy_total, new_total, absolute_variance, gate";

fn run_row(r: &sqlx::any::AnyRow) -> Result<RunRow, sqlx::Error> {
    Ok(RunRow {
        id: r.try_get(0)?,
        wave: r.try_get(1)?,
        number: r.try_get(2)?,
        at: r.try_get(3)?,
        actor: r.try_get(4)?,
        via: r.try_get(5)?,
        fingerprint: r.try_get(6)?,
        accounts: r.try_get(7)?,
        passed: r.try_get(8)?,
        failed: r.try_get(9)?,
        waived: r.try_get(10)?,
        unexplained: r.try_get(11)?,
        pass_rate: r.try_get(12)?,
        legacy_total: r.try_get(13)?,
        new_total: r.try_get(14)?,
        absolute_variance: r.try_get(15)?,
        gate: r.try_get(16)?,
    })
}

/// Rows per multi-row insert of run results (5 parameters each).
const RESULT_CHUNK: usize = 200;

impl Store {
    /// Records a run of a wave with its per-account results, numbered after the wave's last run.
    /// When the last run has the same fingerprint, nothing is recorded and that run is returned
    /// with `false`.
    pub async fn record_run(&self, run: &NewRun<'_>, results: &[RunResult]) -> Result<(RunRow, bool), StoreError> {
        let mut tx = self.begin().await?;
        // Two workers recording at once: one numbers its run after the other's, or finds it equal.
        self.lock_in(&mut tx, &format!("reconcile_run:{}", run.wave)).await?;
        let sql = format!("SELECT {RUN_COLS} FROM reconcile_run WHERE wave = $1 ORDER BY number DESC LIMIT 1");
        let last = sqlx::query(&sql)
            .bind(run.wave)
            .fetch_optional(&mut *tx)
            .await
            .and_then(|r| r.as_ref().map(run_row).transpose())
            .map_err(|e| self.err(e))?;
        if let Some(last) = last.filter(|l| l.fingerprint == run.fingerprint) {
            tx.commit().await.map_err(|e| self.err(e))?;
            return Ok((last, false));
        }
        let number: i64 = sqlx::query("SELECT COALESCE(MAX(number), 0) + 1 FROM reconcile_run WHERE wave = $1")
            .bind(run.wave)
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.err(e))?;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let id: i64 = sqlx::query(
            "INSERT INTO reconcile_run (wave, number, at, actor, via, fingerprint, accounts, passed, failed, waived, \
             unexplained, pass_rate, legacy_total, new_total, absolute_variance, gate) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| self.err(e))?;
        for chunk in results.chunks(RESULT_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 5;
                    format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5)
                })
                .collect();
            let sql = format!(
                "INSERT INTO reconcile_result (run_id, account_number, outcome, stake, reasons) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q.bind(id).bind(&r.account_number).bind(r.outcome.as_str()).bind(&r.stake).bind(&r.reasons);
            }
            q.execute(&mut *tx).await.map_err(|e| self.err(e))?;
        }
        let sql = format!("SELECT {RUN_COLS} FROM reconcile_run WHERE id = $1");
        let row =
            sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await.and_then(|r| run_row(&r)).map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok((row, true))
    }

    /// The runs of a wave, oldest first.
    pub async fn runs(&self, wave: &str) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!("SELECT {RUN_COLS} FROM reconcile_run WHERE wave = $1 ORDER BY number");
        let rows = sqlx::query(&sql).bind(wave).fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
        rows.iter().map(run_row).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The wave's latest run.
    pub async fn latest_run(&self, wave: &str) -> Result<Option<RunRow>, StoreError> {
        let sql = format!("SELECT {RUN_COLS} FROM reconcile_run WHERE wave = $1 ORDER BY number DESC LIMIT 1");
        let row = sqlx::query(&sql).bind(wave).fetch_optional(&self.pool).await.map_err(|e| self.err(e))?;
        row.as_ref().map(run_row).transpose().map_err(|e| self.err(e))
    }

    /// The per-account results of a run, in account order.
    pub async fn run_results(&self, run_id: i64) -> Result<Vec<RunResult>, StoreError> {
        // One row for the whole run (see `Store::joined`): a run holds a result per account.
        let sql = format!(
            "SELECT {} FROM reconcile_result WHERE run_id = $1",
            self.joined(&["account_number", "outcome", "stake", "reasons"])
        );
        let joined: Option<String> = sqlx::query(&sql)
            .bind(run_id)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.err(e))?;
        let corrupt = |e: String| StoreError::Corrupt(format!("run {run_id}: {e}"));
        let mut out = Vec::new();
        for [account, outcome, stake, reasons] in
            super::split_joined::<4>(joined.as_deref().unwrap_or_default()).map_err(corrupt)?
        {
            out.push(RunResult {
                account_number: account.to_string(),
                // A corrupt outcome fails loudly here rather than reaching a report as something else.
                outcome: outcome.parse().map_err(corrupt)?,
                stake: stake.to_string(),
                reasons: reasons.to_string(),
            });
        }
        out.sort_by(|a, b| a.account_number.cmp(&b.account_number));
        Ok(out)
    }

    /// Records a waiver inside the caller's transaction. False when the account already has one.
    pub async fn put_waiver_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &str,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "INSERT INTO waiver (account_number, reason, actor, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_number) DO NOTHING",
        )
        .bind(account)
        .bind(reason)
        .bind(actor)
        .bind(at.to_rfc3339())
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(res.rows_affected() > 0)
    }

    /// Withdraws an account's waiver inside a caller's transaction (with its journal row). False
    /// when it had none.
    pub async fn drop_waiver_in(&self, tx: &mut Transaction<'static, Any>, account: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM waiver WHERE account_number = $1")
            .bind(account)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        Ok(res.rows_affected() > 0)
    }

    /// The waivers of these accounts, as (account, waiver).
    pub async fn waivers(&self, numbers: &[String]) -> Result<Vec<(String, Waiver)>, StoreError> {
        if numbers.is_empty() {
            return Ok(vec![]);
        }
        let placeholders = self.params(1, numbers.len());
        let sql = format!(
            "SELECT account_number, reason, actor, at FROM waiver WHERE account_number IN ({}) ORDER BY account_number",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for n in numbers {
            q = q.bind(n);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, Waiver { reason: r.try_get(1)?, actor: r.try_get(2)?, at: r.try_get(3)? })))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// An account's reconciliation outcome as last recorded by the reconcile stage (`pass`/`fail`).
    pub async fn recon(&self, account: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT recon FROM account WHERE account_number = $1")
            .bind(account)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>(0)).transpose().map_err(|e| self.err(e))?.flatten())
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
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A wave's journal, oldest first (all events, or one kind).
    pub async fn wave_journal(&self, wave: &str, event: Option<&str>) -> Result<Vec<WaveEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, event, reason, fingerprint, data FROM wave_journal \
             WHERE wave = $1 AND ($2 = '' OR event = $2) ORDER BY id",
        )
        .bind(wave)
        .bind(event.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(WaveEvent {
                    at: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    event: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    fingerprint: r.try_get(4)?,
                    data: r.try_get(5)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }
}
