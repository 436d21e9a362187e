//! Cut-over rows, load sets and reversals: what the load files of a wave and cut-over date are
//! built from (migration 0005). The files are a projection of these rows; a set is marked dirty
//! in the transaction that changes one of its accounts, and clean once its files are rewritten.

use super::{Store, StoreError};
use crate::plan::schedule::Schedule;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

/// An account's cut-over: its set (wave, cut-over date), the snapshot its load rows are built
/// from, whether the set's files were written with it, and what the target said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CutoverRow {
    pub account_number: String,
    pub wave: String,
    pub cutover_date: NaiveDate,
    pub first_new_bill_date: NaiveDate,
    pub legacy_billing: String,
    pub published: bool,
    #[serde(skip)]
    pub snapshot: String,
    /// `success`, `failed`, or `None` (unconfirmed).
    pub load_status: Option<String>,
    pub target_id: Option<String>,
    pub load_error: Option<String>,
    /// The account's state now.
    pub state: crate::domain::State,
}

/// One reversal record of `rollback.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReversalRow {
    pub account_number: String,
    pub wave: String,
    pub cutover_date: NaiveDate,
    pub first_new_bill_date: NaiveDate,
    pub target_id: Option<String>,
    pub action: String,
    pub resume_legacy_from: NaiveDate,
    pub reason: String,
    pub at: String,
}

/// The load outcome of a wave's cut-over accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadCounts {
    pub loaded: i64,
    pub failed: i64,
    pub unconfirmed: i64,
}

fn date(s: String) -> Result<NaiveDate, sqlx::Error> {
    s.parse().map_err(|e: chrono::ParseError| sqlx::Error::Decode(e.to_string().into()))
}

const CUTOVER_COLS: &str = "c.account_number, c.wave, c.cutover_date, c.first_new_bill_date, c.legacy_billing, \
                            c.published, c.snapshot, c.load_status, c.target_id, c.load_error, a.state";

fn cutover_row(r: &sqlx::any::AnyRow) -> Result<CutoverRow, sqlx::Error> {
    let state: String = r.try_get(10)?;
    Ok(CutoverRow {
        account_number: r.try_get(0)?,
        wave: r.try_get(1)?,
        cutover_date: date(r.try_get(2)?)?,
        first_new_bill_date: date(r.try_get(3)?)?,
        legacy_billing: r.try_get(4)?,
        published: r.try_get::<i64, _>(5)? != 0,
        snapshot: r.try_get(6)?,
        load_status: r.try_get(7)?,
        target_id: r.try_get(8)?,
        load_error: r.try_get(9)?,
        state: state.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
    })
}

impl Store {
    /// Records a cut-over not yet published: its set's files are still to be written (with the
    /// snapshot its rows are built from), and marks the set dirty. A repeated cut-over of the same
    /// account (after a readmission) replaces the row.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_cutover_pending_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &str,
        wave: &str,
        schedule: &Schedule,
        target_dir: &str,
        snapshot: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cutover (account_number, wave, cutover_date, first_new_bill_date, target_file, legacy_billing, at, \
             published, snapshot, load_status, target_id, load_error) \
             VALUES ($1, $2, $3, $4, $5, 'suppressed', $6, 0, $7, NULL, NULL, NULL) ON CONFLICT (account_number) DO UPDATE SET \
             wave = excluded.wave, cutover_date = excluded.cutover_date, first_new_bill_date = excluded.first_new_bill_date, \
             target_file = excluded.target_file, legacy_billing = 'suppressed', at = excluded.at, published = 0, \
             snapshot = excluded.snapshot, load_status = NULL, target_id = NULL, load_error = NULL",
        )
        .bind(account)
        .bind(wave)
        .bind(schedule.cutover_date.to_string())
        .bind(schedule.first_new_bill_date.to_string())
        .bind(target_dir)
        .bind(at.to_rfc3339())
        .bind(snapshot)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        self.mark_set_dirty_in(tx, wave, schedule.cutover_date).await
    }

    /// Marks a set's files as out of date (in the transaction of the change that made them so).
    pub async fn mark_set_dirty_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        wave: &str,
        cutover_date: NaiveDate,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO load_set (wave, cutover_date, dirty) VALUES ($1, $2, 1) \
             ON CONFLICT (wave, cutover_date) DO UPDATE SET dirty = load_set.dirty + 1",
        )
        .bind(wave)
        .bind(cutover_date.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Sets whose files are out of date (every wave, or one), in order.
    pub async fn dirty_sets(&self, wave: Option<&str>) -> Result<Vec<(String, NaiveDate)>, StoreError> {
        let rows = sqlx::query(
            "SELECT wave, cutover_date FROM load_set WHERE dirty > 0 AND ($1 = '' OR wave = $1) ORDER BY wave, cutover_date",
        )
        .bind(wave.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, date(r.try_get(1)?)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// How many changes a set's files are behind (0: up to date). `dirty` counts the changes, so
    /// a rebuild that read the set before another worker's change cannot mark it clean.
    pub async fn set_dirty(&self, wave: &str, cutover_date: NaiveDate) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT dirty FROM load_set WHERE wave = $1 AND cutover_date = $2")
            .bind(wave)
            .bind(cutover_date.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| r.try_get(0)).transpose().map(Option::unwrap_or_default).map_err(|e| self.err(e))
    }

    /// Marks a set's files as written (after its manifest is in place), when no change came after
    /// the `seen` one the files were built from ([`Store::set_dirty`] before reading). Returns
    /// false when one did: the set stays dirty and is rebuilt again.
    pub async fn set_clean(
        &self,
        wave: &str,
        cutover_date: NaiveDate,
        seen: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE load_set SET dirty = 0, written_at = $3 WHERE wave = $1 AND cutover_date = $2 AND dirty = $4",
        )
        .bind(wave)
        .bind(cutover_date.to_string())
        .bind(at.to_rfc3339())
        .bind(seen)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(res.rows_affected() == 1)
    }

    /// When a set's files were last written completely, if ever.
    pub async fn set_written_at(&self, wave: &str, cutover_date: NaiveDate) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT written_at FROM load_set WHERE wave = $1 AND cutover_date = $2")
            .bind(wave)
            .bind(cutover_date.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten()))
    }

    /// Cut-over accounts whose set's files were never written with them (a crash in between).
    pub async fn unpublished(&self, wave: &str) -> Result<Vec<CutoverRow>, StoreError> {
        let sql = format!(
            "SELECT {CUTOVER_COLS} FROM cutover c JOIN account a ON a.account_number = c.account_number \
             WHERE c.wave = $1 AND c.published = 0 AND a.state = 'cut_over' ORDER BY c.account_number"
        );
        let rows = sqlx::query(&sql).bind(wave).fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
        rows.iter().map(cutover_row).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A page of a set's members: accounts cut over (or loaded) in this wave on this date, after
    /// `after` in account order.
    pub async fn set_members(
        &self,
        wave: &str,
        cutover_date: NaiveDate,
        after: &str,
        limit: i64,
    ) -> Result<Vec<CutoverRow>, StoreError> {
        let sql = format!(
            "SELECT {CUTOVER_COLS} FROM cutover c JOIN account a ON a.account_number = c.account_number \
             WHERE c.wave = $1 AND c.cutover_date = $2 AND a.state IN ('cut_over', 'loaded') \
             AND c.account_number > $3 ORDER BY c.account_number LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(wave)
            .bind(cutover_date.to_string())
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(cutover_row).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Marks every member of a set published (its data files, incl. the suppression file, are
    /// written).
    pub async fn publish_set(&self, wave: &str, cutover_date: NaiveDate) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cutover SET published = 1 WHERE wave = $1 AND cutover_date = $2 AND published = 0 \
             AND account_number IN (SELECT account_number FROM account WHERE state IN ('cut_over', 'loaded'))",
        )
        .bind(wave)
        .bind(cutover_date.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One account's cut-over, if it has one.
    pub async fn cutover(&self, account: &str) -> Result<Option<CutoverRow>, StoreError> {
        let sql = format!(
            "SELECT {CUTOVER_COLS} FROM cutover c JOIN account a ON a.account_number = c.account_number \
             WHERE c.account_number = $1"
        );
        let row = sqlx::query(&sql).bind(account).fetch_optional(&self.pool).await.map_err(|e| self.err(e))?;
        row.as_ref().map(cutover_row).transpose().map_err(|e| self.err(e))
    }

    /// Drops a cut-over whose files were never written (the account is held instead), and marks
    /// its set dirty.
    pub async fn withdraw_cutover_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        row: &CutoverRow,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cutover WHERE account_number = $1 AND published = 0")
            .bind(&row.account_number)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        self.mark_set_dirty_in(tx, &row.wave, row.cutover_date).await
    }

    /// Records what the target said about an account's load.
    pub async fn set_load_result_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &str,
        status: &str,
        target_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE cutover SET load_status = $1, target_id = $2, load_error = $3 WHERE account_number = $4")
            .bind(status)
            .bind(target_id)
            .bind(error)
            .bind(account)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Adds a reversal record and marks the account's set dirty.
    pub async fn add_reversal_in(&self, tx: &mut Transaction<'static, Any>, r: &ReversalRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reversal (account_number, wave, cutover_date, first_new_bill_date, target_id, action, \
             resume_legacy_from, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&r.account_number)
        .bind(&r.wave)
        .bind(r.cutover_date.to_string())
        .bind(r.first_new_bill_date.to_string())
        .bind(&r.target_id)
        .bind(&r.action)
        .bind(r.resume_legacy_from.to_string())
        .bind(&r.reason)
        .bind(&r.at)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        self.mark_set_dirty_in(tx, &r.wave, r.cutover_date).await
    }

    /// The reversal records of a set, oldest first.
    pub async fn reversals(&self, wave: &str, cutover_date: NaiveDate) -> Result<Vec<ReversalRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT account_number, wave, cutover_date, first_new_bill_date, target_id, action, resume_legacy_from, \
             reason, at FROM reversal WHERE wave = $1 AND cutover_date = $2 ORDER BY id",
        )
        .bind(wave)
        .bind(cutover_date.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(ReversalRow {
                    account_number: r.try_get(0)?,
                    wave: r.try_get(1)?,
                    cutover_date: date(r.try_get(2)?)?,
                    first_new_bill_date: date(r.try_get(3)?)?,
                    target_id: r.try_get(4)?,
                    action: r.try_get(5)?,
                    resume_legacy_from: date(r.try_get(6)?)?,
                    reason: r.try_get(7)?,
                    at: r.try_get(8)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// Loaded / failed / unconfirmed cut-overs of a wave.
    pub async fn load_counts(&self, wave: &str) -> Result<LoadCounts, StoreError> {
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN a.state = 'loaded' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN c.load_status = 'failed' AND a.state = 'held' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN a.state = 'cut_over' THEN 1 ELSE 0 END), 0) \
             FROM cutover c JOIN account a ON a.account_number = c.account_number WHERE c.wave = $1",
        )
        .bind(wave)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let n = |i: usize| -> Result<i64, StoreError> { row.try_get::<i64, _>(i).map_err(|e| self.err(e)) };
        Ok(LoadCounts { loaded: n(0)?, failed: n(1)?, unconfirmed: n(2)? })
    }

    /// Puts an account in another wave for good (a readmission): a later extraction keeps it there.
    pub async fn readmit_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &str,
        wave: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE account SET wave = $1, readmitted_to = $1 WHERE account_number = $2")
            .bind(wave)
            .bind(account)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
