//! Cut-over rows, load sets and reversals: what the load files of a wave and cut-over date are
//! built from (migration 0005). The files are a projection of these rows; a set is marked dirty
//! in the transaction that changes one of its accounts, and clean once its files are rewritten.

use super::{Store, StoreError};
use crate::plan::schedule::Schedule;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{Any, Transaction};

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

/// A stored date, or [`StoreError::Corrupt`] naming what it belongs to.
fn date(s: &str, what: &str, account: &str) -> Result<NaiveDate, StoreError> {
    s.parse().map_err(|e| StoreError::Corrupt(format!("{what} of {account}: `{s}`: {e}")))
}

const CUTOVER_COLS: &str = "c.account_number, c.wave, c.cutover_date, c.first_new_bill_date, c.legacy_billing, \
                            c.published, c.snapshot, c.snapshot_packed, c.load_status, c.target_id, c.load_error, a.state";

/// A `cutover` row joined with its account's state, as stored (read by column name).
#[derive(sqlx::FromRow)]
struct StoredCutover {
    account_number: String,
    wave: String,
    cutover_date: String,
    first_new_bill_date: String,
    legacy_billing: String,
    published: i64,
    snapshot: String,
    snapshot_packed: Option<Vec<u8>>,
    load_status: Option<String>,
    target_id: Option<String>,
    load_error: Option<String>,
    state: String,
}

impl TryFrom<StoredCutover> for CutoverRow {
    type Error = StoreError;

    fn try_from(r: StoredCutover) -> Result<Self, StoreError> {
        let n = r.account_number.as_str();
        Ok(CutoverRow {
            cutover_date: date(&r.cutover_date, "cut-over date", n)?,
            first_new_bill_date: date(&r.first_new_bill_date, "first new bill date", n)?,
            published: r.published != 0,
            state: r.state.parse().map_err(|e: String| StoreError::Corrupt(format!("state of {n}: {e}")))?,
            wave: r.wave,
            legacy_billing: r.legacy_billing,
            snapshot: super::packed::document(r.snapshot, r.snapshot_packed, || {
                format!("the cut-over snapshot of {n}")
            })?,
            load_status: r.load_status,
            target_id: r.target_id,
            load_error: r.load_error,
            account_number: r.account_number,
        })
    }
}

/// A `reversal` row as stored (read by column name).
#[derive(sqlx::FromRow)]
struct StoredReversal {
    account_number: String,
    wave: String,
    cutover_date: String,
    first_new_bill_date: String,
    target_id: Option<String>,
    action: String,
    resume_legacy_from: String,
    reason: String,
    at: String,
}

impl TryFrom<StoredReversal> for ReversalRow {
    type Error = StoreError;

    fn try_from(r: StoredReversal) -> Result<Self, StoreError> {
        let n = r.account_number.as_str();
        Ok(ReversalRow {
            cutover_date: date(&r.cutover_date, "reversal's cut-over date", n)?,
            first_new_bill_date: date(&r.first_new_bill_date, "reversal's first new bill date", n)?,
            resume_legacy_from: date(&r.resume_legacy_from, "reversal's legacy resumption", n)?,
            wave: r.wave,
            target_id: r.target_id,
            action: r.action,
            reason: r.reason,
            at: r.at,
            account_number: r.account_number,
        })
    }
}

/// A cut-over to record as pending ([`Store::put_cutovers_pending_in`]).
#[derive(Debug, Clone)]
pub struct PendingCutover {
    pub account: String,
    pub schedule: Schedule,
    /// Where its set's load files go.
    pub target_dir: String,
    /// The member's snapshot (JSON) its load rows are built from.
    pub snapshot: String,
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
        let one = PendingCutover {
            account: account.to_string(),
            schedule: *schedule,
            target_dir: target_dir.to_string(),
            snapshot: snapshot.to_string(),
        };
        self.put_cutovers_pending_in(tx, wave, std::slice::from_ref(&one), at).await
    }

    /// [`Store::put_cutover_pending_in`] for a page's cut-overs of one wave: a multi-row upsert,
    /// and each set they fall in marked dirty once.
    pub async fn put_cutovers_pending_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        wave: &str,
        cutovers: &[PendingCutover],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        use super::Cell::{Bytes, Int, Null, Text};
        let at = at.to_rfc3339();
        // The snapshot is kept packed (`snapshot_packed`, migration 0017).
        let packed: Vec<Vec<u8>> = cutovers.iter().map(|c| super::packed::pack(&c.snapshot)).collect();
        let dates: Vec<(String, String)> = cutovers
            .iter()
            .map(|c| (c.schedule.cutover_date.to_string(), c.schedule.first_new_bill_date.to_string()))
            .collect();
        let rows = cutovers
            .iter()
            .zip(&dates)
            .zip(&packed)
            .map(|((c, (cut, first)), p)| {
                vec![
                    Text(&c.account),
                    Text(wave),
                    Text(cut),
                    Text(first),
                    Text(&c.target_dir),
                    Text("suppressed"),
                    Text(&at),
                    Int(0),
                    Text(""),
                    Bytes(p),
                    Null,
                    Null,
                    Null,
                ]
            })
            .collect();
        let cols = [
            "account_number",
            "wave",
            "cutover_date",
            "first_new_bill_date",
            "target_file",
            "legacy_billing",
            "at",
            "published",
            "snapshot",
            "snapshot_packed",
            "load_status",
            "target_id",
            "load_error",
        ];
        self.upsert_in(tx, "cutover", &cols, 1, rows).await?;
        let sets: std::collections::BTreeSet<NaiveDate> = cutovers.iter().map(|c| c.schedule.cutover_date).collect();
        for day in sets {
            self.mark_set_dirty_in(tx, wave, day).await?;
        }
        Ok(())
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
        #[derive(sqlx::FromRow)]
        struct Set {
            wave: String,
            cutover_date: String,
        }
        let rows: Vec<Set> = sqlx::query_as(
            "SELECT wave, cutover_date FROM load_set WHERE dirty > 0 AND ($1 = '' OR wave = $1) ORDER BY wave, cutover_date",
        )
        .bind(wave.unwrap_or(""))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                let d = date(&r.cutover_date, "load set's cut-over date", &r.wave)?;
                Ok((r.wave, d))
            })
            .collect()
    }

    /// How many changes a set's files are behind (0: up to date). `dirty` counts the changes, so
    /// a rebuild that read the set before another worker's change cannot mark it clean.
    pub async fn set_dirty(&self, wave: &str, cutover_date: NaiveDate) -> Result<i64, StoreError> {
        let dirty: Option<i64> = sqlx::query_scalar("SELECT dirty FROM load_set WHERE wave = $1 AND cutover_date = $2")
            .bind(wave)
            .bind(cutover_date.to_string())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        Ok(dirty.unwrap_or_default())
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
        let _turn = self.turn().await?;
        let res = sqlx::query(
            "UPDATE load_set SET dirty = 0, written_at = $3 WHERE wave = $1 AND cutover_date = $2 AND dirty = $4",
        )
        .bind(wave)
        .bind(cutover_date.to_string())
        .bind(at.to_rfc3339())
        .bind(seen)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        Ok(res.rows_affected() == 1)
    }

    /// When a set's files were last written completely, if ever.
    pub async fn set_written_at(&self, wave: &str, cutover_date: NaiveDate) -> Result<Option<String>, StoreError> {
        let at: Option<Option<String>> =
            sqlx::query_scalar("SELECT written_at FROM load_set WHERE wave = $1 AND cutover_date = $2")
                .bind(wave)
                .bind(cutover_date.to_string())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(|e| self.err(e))?;
        Ok(at.flatten())
    }

    /// Cut-over accounts whose set's files were never written with them (a crash in between) and
    /// whose first new bill date is on or before `by`: those the legacy system has billed since.
    /// The others are left to the set's next rebuild, unread (a switch's own cut-overs are
    /// unpublished until its sets are written, and carry their snapshots).
    pub async fn unpublished(&self, wave: &str, by: NaiveDate) -> Result<Vec<CutoverRow>, StoreError> {
        let sql = format!(
            "SELECT {CUTOVER_COLS} FROM cutover c JOIN account a ON a.account_number = c.account_number \
             WHERE c.wave = $1 AND c.published = 0 AND c.first_new_bill_date <= $2 AND a.state = 'cut_over' \
             ORDER BY c.account_number"
        );
        let rows: Vec<StoredCutover> = sqlx::query_as(&sql)
            .bind(wave)
            .bind(by.to_string())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(CutoverRow::try_from).collect()
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
        let rows: Vec<StoredCutover> = sqlx::query_as(&sql)
            .bind(wave)
            .bind(cutover_date.to_string())
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(CutoverRow::try_from).collect()
    }

    /// Marks every member of a set published (its data files, incl. the suppression file, are
    /// written). Each unpublished cut-over's account is looked up by its key: a list of every
    /// cut-over account of the store, built on each call, took 16 ms a call at 20,000 accounts.
    pub async fn publish_set(&self, wave: &str, cutover_date: NaiveDate) -> Result<(), StoreError> {
        let _turn = self.turn().await?;
        sqlx::query(
            "UPDATE cutover SET published = 1 WHERE wave = $1 AND cutover_date = $2 AND published = 0 \
             AND EXISTS (SELECT 1 FROM account a WHERE a.account_number = cutover.account_number \
             AND a.state IN ('cut_over', 'loaded'))",
        )
        .bind(wave)
        .bind(cutover_date.to_string())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One account's cut-over, if it has one.
    pub async fn cutover(&self, account: &str) -> Result<Option<CutoverRow>, StoreError> {
        Ok(self.cutovers(&[account.to_string()]).await?.remove(account))
    }

    /// The cut-overs of these accounts, by account number (an account without one is absent).
    pub async fn cutovers(
        &self,
        accounts: &[String],
    ) -> Result<std::collections::HashMap<String, CutoverRow>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for chunk in accounts.chunks(500) {
            let (list, values) = self.in_list(1, chunk);
            let sql = format!(
                "SELECT {CUTOVER_COLS} FROM cutover c JOIN account a ON a.account_number = c.account_number \
                 WHERE c.account_number IN ({list})"
            );
            let mut q = sqlx::query_as::<_, StoredCutover>(&sql);
            for v in values {
                q = q.bind(v);
            }
            let rows = q.fetch_all(&mut *self.conn().await?).await.map_err(|e| self.err(e))?;
            for row in rows {
                let row = CutoverRow::try_from(row)?;
                out.insert(row.account_number.clone(), row);
            }
        }
        Ok(out)
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
        self.reversals_where("wave = $1 AND cutover_date = $2", wave, cutover_date).await
    }

    /// The reversal records of every other set (one per rollback: a small table), oldest first:
    /// an account readmitted and cut over again has one in the set it was rolled back from.
    pub async fn reversals_elsewhere(
        &self,
        wave: &str,
        cutover_date: NaiveDate,
    ) -> Result<Vec<ReversalRow>, StoreError> {
        self.reversals_where("NOT (wave = $1 AND cutover_date = $2)", wave, cutover_date).await
    }

    /// The reversal records `condition` (on `$1` the wave, `$2` the cut-over date) selects, oldest first.
    async fn reversals_where(
        &self,
        condition: &str,
        wave: &str,
        cutover_date: NaiveDate,
    ) -> Result<Vec<ReversalRow>, StoreError> {
        let sql = format!(
            "SELECT account_number, wave, cutover_date, first_new_bill_date, target_id, action, resume_legacy_from, \
             reason, at FROM reversal WHERE {condition} ORDER BY id"
        );
        let rows: Vec<StoredReversal> = sqlx::query_as(&sql)
            .bind(wave)
            .bind(cutover_date.to_string())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(ReversalRow::try_from).collect()
    }

    /// Loaded / failed / unconfirmed cut-overs of a wave.
    pub async fn load_counts(&self, wave: &str) -> Result<LoadCounts, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Counts {
            loaded: i64,
            failed: i64,
            unconfirmed: i64,
        }
        let c: Counts = sqlx::query_as(
            "SELECT \
               COALESCE(SUM(CASE WHEN a.state = 'loaded' THEN 1 ELSE 0 END), 0) AS loaded, \
               COALESCE(SUM(CASE WHEN c.load_status = 'failed' AND a.state = 'held' THEN 1 ELSE 0 END), 0) AS failed, \
               COALESCE(SUM(CASE WHEN a.state = 'cut_over' THEN 1 ELSE 0 END), 0) AS unconfirmed \
             FROM cutover c JOIN account a ON a.account_number = c.account_number WHERE c.wave = $1",
        )
        .bind(wave)
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        Ok(LoadCounts { loaded: c.loaded, failed: c.failed, unconfirmed: c.unconfirmed })
    }

    /// Puts an account in another wave for good (a readmission): a later extraction keeps it there.
    /// The wave a person readmitted the account to (`readmit_in`), if any.
    pub async fn readmitted_to(&self, account: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            self.row_by("SELECT readmitted_to FROM account WHERE account_number = $1", account).await?;
        Ok(row.and_then(|(w,)| w))
    }

    pub async fn readmit_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &str,
        wave: &str,
    ) -> Result<(), StoreError> {
        let update = "UPDATE account SET wave = $1, readmitted_to = $1 WHERE account_number = $2";
        self.execute_text(&mut **tx, update, &[wave, account]).await?;
        Ok(())
    }
}
