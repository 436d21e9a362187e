//! Notices (the outbox pattern) and billing recipients.
//!
//! A notice row exists before its message is sent, unique per (wave, account, kind). Its state goes
//! `queued → sending → sent | failed`, or back to `retry` (with `retry_at`) after a transient
//! failure; a notice never sent for dates the account has left is `superseded`. A row left in `sending` by a crash is the only window for a duplicate: over SMTP it is
//! reported as `unknown` for a person to decide, never resent blindly.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

/// A notice to record before sending it.
pub struct NewNotice<'a> {
    pub wave: &'a str,
    pub account: &'a str,
    pub kind: &'a str,
    pub message_id: &'a str,
    /// `email` or `print`
    pub channel: &'a str,
    pub recipients: &'a str,
    pub at: DateTime<Utc>,
}

/// The stored state of one notice (outbox pattern: the row exists before sending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeRow {
    pub wave: String,
    pub account_number: String,
    pub kind: String,
    pub message_id: String,
    pub channel: String,
    pub recipients: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    pub retry_at: Option<String>,
    /// The worker that took it for sending (`host:pid:nonce`), while and after it was `sending`.
    pub owner: Option<String>,
    /// Until when that worker's claim holds (wall clock, `store::lease::stamp`).
    pub lease_until: Option<String>,
}

impl NoticeRow {
    /// A notice another worker is sending right now (its claim is live), as opposed to one left
    /// `sending` by a crash (delivery unknown).
    pub fn in_flight_live(&self, now: DateTime<Utc>) -> bool {
        self.state == "sending" && super::lease::owner_alive(self.owner.as_deref(), self.lease_until.as_deref(), now)
    }
}

/// An account's billing email addresses from the submission form (latest submission wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipients {
    pub account_number: String,
    pub emails: Vec<String>,
    pub name: Option<String>,
    pub submitted_at: String,
}

/// A change to a notice's delivery state.
pub struct NoticeMark<'a> {
    pub wave: &'a str,
    pub account: &'a str,
    pub kind: &'a str,
    pub state: &'a str,
    pub error: Option<&'a str>,
    pub retry_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

const NOTICE_BY_KEY: &str = "SELECT wave, account_number, kind, message_id, channel, recipients, state, attempts, \
     last_error, sent_at, retry_at, owner, lease_until FROM notice WHERE wave = $1 AND account_number = $2 AND kind = $3";

fn notice_row(r: &sqlx::any::AnyRow) -> Result<NoticeRow, sqlx::Error> {
    Ok(NoticeRow {
        wave: r.try_get(0)?,
        account_number: r.try_get(1)?,
        kind: r.try_get(2)?,
        message_id: r.try_get(3)?,
        channel: r.try_get(4)?,
        recipients: r.try_get(5)?,
        state: r.try_get(6)?,
        attempts: r.try_get(7)?,
        last_error: r.try_get(8)?,
        sent_at: r.try_get(9)?,
        retry_at: r.try_get(10)?,
        owner: r.try_get(11)?,
        lease_until: r.try_get(12)?,
    })
}

impl Store {
    /// Records a notice before it is sent. Returns the stored row: a new one in state `queued`,
    /// or the existing one when this (wave, account, kind) was recorded before. Its recipients are
    /// refreshed while it waits; a notice that failed for good is queued again when its
    /// recipients change (the address was fixed).
    pub async fn notice_claim(&self, n: &NewNotice<'_>) -> Result<NoticeRow, StoreError> {
        let mut tx = self.begin().await?;
        let row = self.notice_claim_in(&mut tx, n).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(row)
    }

    /// [`Store::notice_claim`] inside a caller's transaction (a page of notices recorded at once).
    pub async fn notice_claim_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        n: &NewNotice<'_>,
    ) -> Result<NoticeRow, StoreError> {
        sqlx::query(
            "INSERT INTO notice (wave, account_number, kind, message_id, channel, recipients, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7) ON CONFLICT DO NOTHING",
        )
        .bind(n.wave)
        .bind(n.account)
        .bind(n.kind)
        .bind(n.message_id)
        .bind(n.channel)
        .bind(n.recipients)
        .bind(n.at.to_rfc3339())
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        // Two steps, not one upsert: an upsert names one unique key, and two workers inserting the
        // same notice at once would then collide on the other one (`message_id`).
        sqlx::query(
            "UPDATE notice SET channel = $4, recipients = $5, \
             state = CASE WHEN state = 'failed' THEN 'queued' ELSE state END \
             WHERE wave = $1 AND account_number = $2 AND kind = $3 AND (state IN ('queued', 'retry') \
             OR (state = 'failed' AND recipients <> $5))",
        )
        .bind(n.wave)
        .bind(n.account)
        .bind(n.kind)
        .bind(n.channel)
        .bind(n.recipients)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        let row = sqlx::query(NOTICE_BY_KEY)
            .bind(n.wave)
            .bind(n.account)
            .bind(n.kind)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(notice_row)
            .transpose()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::NoAccount(n.account.to_string()))
    }

    pub async fn notice(&self, wave: &str, account: &str, kind: &str) -> Result<Option<NoticeRow>, StoreError> {
        let row = sqlx::query(NOTICE_BY_KEY)
            .bind(wave)
            .bind(account)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref().map(notice_row).transpose().map_err(|e| self.err(e))
    }

    /// Moves a notice to `sending` (counting the attempt), `sent`, `retry` (with `retry_at`) or
    /// `failed` (with the server's reply).
    pub async fn notice_mark(&self, m: &NoticeMark<'_>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        self.notice_mark_in(&mut tx, m).await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// [`Store::notice_mark`] inside a caller's transaction.
    pub async fn notice_mark_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        m: &NoticeMark<'_>,
    ) -> Result<(), StoreError> {
        let sent_at = (m.state == "sent").then(|| m.at.to_rfc3339());
        let bump: i64 = (m.state == "sending").into();
        sqlx::query(
            "UPDATE notice SET state = $1, last_error = COALESCE($2, last_error), sent_at = COALESCE($3, sent_at), \
             attempts = attempts + $4, retry_at = $5 WHERE wave = $6 AND account_number = $7 AND kind = $8",
        )
        .bind(m.state)
        .bind(m.error)
        .bind(sent_at)
        .bind(bump)
        .bind(m.retry_at.map(|t| t.to_rfc3339()))
        .bind(m.wave)
        .bind(m.account)
        .bind(m.kind)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Takes a notice for sending, atomically: only a notice that is `queued`, `retry` and due,
    /// or (when `resend_in_flight`, for outbox files and printed letters) left `sending`. Returns
    /// false when it is not available, e.g. another process took it first: then this one must not
    /// send it.
    pub async fn notice_start(
        &self,
        wave: &str,
        account: &str,
        kind: &str,
        resend_in_flight: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let taken = self.notice_start_in(&mut tx, wave, account, kind, resend_in_flight, now).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(taken)
    }

    /// [`Store::notice_start`] inside a caller's transaction (a page of notices taken at once,
    /// committed before any of them is written).
    pub async fn notice_start_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        wave: &str,
        account: &str,
        kind: &str,
        resend_in_flight: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE notice SET state = 'sending', attempts = attempts + 1, retry_at = NULL \
             WHERE wave = $1 AND account_number = $2 AND kind = $3 AND (state = 'queued' \
             OR (state = 'retry' AND (retry_at IS NULL OR retry_at <= $4)) OR (state = 'sending' AND $5 = 1))",
        )
        .bind(wave)
        .bind(account)
        .bind(kind)
        .bind(now.to_rfc3339())
        .bind(i64::from(resend_in_flight))
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(res.rows_affected() == 1)
    }

    /// Records who took a notice for sending (in the caller's transaction) and until when that
    /// claim holds (`secs` seconds of wall clock): others see it as in flight, not unknown.
    pub async fn notice_owner_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        wave: &str,
        account: &str,
        kind: &str,
        owner: &str,
        secs: i64,
    ) -> Result<(), StoreError> {
        let until = super::lease::stamp(Utc::now() + chrono::Duration::seconds(secs));
        sqlx::query(
            "UPDATE notice SET owner = $1, lease_until = $2 WHERE wave = $3 AND account_number = $4 AND kind = $5",
        )
        .bind(owner)
        .bind(until)
        .bind(wave)
        .bind(account)
        .bind(kind)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// [`Store::notice_start`] by a named worker, whose claim holds `secs` seconds (wall clock):
    /// the row records who sends it and until when. `take_over`: `Some(previous owner)` to take
    /// a notice left `sending` by that (dead) worker; only one taker wins.
    #[allow(clippy::too_many_arguments)]
    pub async fn notice_start_as(
        &self,
        wave: &str,
        account: &str,
        kind: &str,
        take_over: Option<Option<&str>>,
        owner: &str,
        secs: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let wall = Utc::now();
        let until = super::lease::stamp(wall + chrono::Duration::seconds(secs));
        let res = sqlx::query(
            "UPDATE notice SET state = 'sending', attempts = attempts + 1, retry_at = NULL, owner = $6, \
             lease_until = $7 WHERE wave = $1 AND account_number = $2 AND kind = $3 AND (state = 'queued' \
             OR (state = 'retry' AND (retry_at IS NULL OR retry_at <= $4)) \
             OR (state = 'sending' AND $5 = 1 AND ($8 = '*' OR COALESCE(owner, '') = $8)))",
        )
        .bind(wave)
        .bind(account)
        .bind(kind)
        .bind(now.to_rfc3339())
        .bind(i64::from(take_over.is_some()))
        .bind((!owner.is_empty()).then_some(owner))
        .bind((!owner.is_empty()).then_some(until))
        .bind(match take_over {
            Some(Some(prev)) => prev.to_string(),
            Some(None) => "*".to_string(),
            None => String::new(),
        })
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(res.rows_affected() == 1)
    }

    /// Marks an account's unsent notices for other dates `superseded` (its notice date passed and
    /// it moved to a later cycle): they are never sent. Only `queued` and `retry` ones: a notice
    /// that is `sending` may have gone out, and one that was `sent` or `failed` is history.
    pub async fn notice_supersede(&self, wave: &str, account: &str, keep_kind: &str) -> Result<u64, StoreError> {
        let res = sqlx::query(
            "UPDATE notice SET state = 'superseded', retry_at = NULL WHERE wave = $1 AND account_number = $2 \
             AND kind <> $3 AND state IN ('queued', 'retry')",
        )
        .bind(wave)
        .bind(account)
        .bind(keep_kind)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(res.rows_affected())
    }

    /// Turns an email notice the server refused for good into a printed letter, keeping the
    /// refusal as its error. It stays `sending` until the letter is written.
    pub async fn notice_reroute_to_print(
        &self,
        wave: &str,
        account: &str,
        kind: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notice SET channel = 'print', last_error = $1 WHERE wave = $2 AND account_number = $3 AND kind = $4",
        )
        .bind(error)
        .bind(wave)
        .bind(account)
        .bind(kind)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A wave's notices, all or in one state, in account order.
    pub async fn notices(&self, wave: &str, state: Option<&str>) -> Result<Vec<NoticeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT wave, account_number, kind, message_id, channel, recipients, state, attempts, last_error, sent_at, \
             retry_at, owner, lease_until FROM notice WHERE wave = $1 AND ($2 = '' OR state = $2) ORDER BY account_number, kind",
        )
        .bind(wave)
        .bind(state.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(notice_row).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A wave's printed letters that went out: (account, kind, sent_at), in account order. Read
    /// by every notify run to keep the day files of letters whole, so it reads only these rows
    /// (index `notice_printed`, migration 0014), not every sent notice of the wave.
    pub async fn printed_notices(&self, wave: &str) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT account_number, kind, sent_at FROM notice WHERE wave = $1 AND channel = 'print' AND state = 'sent' \
             ORDER BY account_number, kind",
        )
        .bind(wave)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// How many of a wave's notices were sent in `[from, to)`: the sending limits count these.
    pub async fn sent_between(&self, wave: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<i64, StoreError> {
        sqlx::query("SELECT COUNT(*) FROM notice WHERE wave = $1 AND state = 'sent' AND sent_at >= $2 AND sent_at < $3")
            .bind(wave)
            .bind(from.to_rfc3339())
            .bind(to.to_rfc3339())
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.err(e))
    }

    /// Notices still to send for a wave, per notice date: (date, accounts).
    pub async fn notice_demand(&self, wave: &str) -> Result<Vec<(chrono::NaiveDate, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT notice_date, COUNT(*) FROM account WHERE wave = $1 AND state = 'reconciled' \
             AND notice_date IS NOT NULL GROUP BY notice_date ORDER BY notice_date",
        )
        .bind(wave)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            let d: String = r.try_get(0).map_err(|e| self.err(e))?;
            let n: i64 = r.try_get(1).map_err(|e| self.err(e))?;
            out.push((d.parse().map_err(|_| StoreError::Corrupt(format!("notice date {d}")))?, n));
        }
        Ok(out)
    }

    /// The next accounts to notify, earliest notice date first (so limits send the most urgent).
    pub async fn notice_candidates(&self, wave: &str, limit: i64) -> Result<Vec<super::AccountRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM account WHERE wave = $1 AND state = 'reconciled' AND notice_date IS NOT NULL \
             ORDER BY notice_date, account_number LIMIT $2",
            Store::ACCOUNT_COLS
        );
        let rows = sqlx::query(&sql).bind(wave).bind(limit).fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
        rows.iter().map(Store::account_row).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The accounts of a wave whose notice is still to send and due in `[from, to]`, earliest first.
    pub async fn upcoming_notices(
        &self,
        wave: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<super::AccountRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM account WHERE wave = $1 AND state = 'reconciled' AND notice_date >= $2 \
             AND notice_date <= $3 ORDER BY notice_date, account_number",
            Store::ACCOUNT_COLS
        );
        let rows = sqlx::query(&sql)
            .bind(wave)
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(Store::account_row).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    // ------------------------------------------------------------------ recipients

    /// The billing recipients an account submitted through the form, if any.
    pub async fn recipients(&self, account: &str) -> Result<Option<Recipients>, StoreError> {
        let row =
            sqlx::query("SELECT account_number, emails, name, submitted_at FROM recipient WHERE account_number = $1")
                .bind(account)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        row.map(|r| {
            let emails: String = r.try_get(1)?;
            Ok(Recipients {
                account_number: r.try_get(0)?,
                emails: emails.split(';').filter(|e| !e.is_empty()).map(str::to_string).collect(),
                name: r.try_get(2)?,
                submitted_at: r.try_get(3)?,
            })
        })
        .transpose()
        .map_err(|e| self.err(e))
    }

    /// The form's recipients of a page of accounts, by account number (one query).
    pub async fn recipients_of(
        &self,
        numbers: &[String],
    ) -> Result<std::collections::HashMap<String, Recipients>, StoreError> {
        let mut out = std::collections::HashMap::new();
        if numbers.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT account_number, emails, name, submitted_at FROM recipient WHERE account_number IN ({})",
            self.params(1, numbers.len()).join(", ")
        );
        let mut q = sqlx::query(&sql);
        for n in numbers {
            q = q.bind(n);
        }
        for r in q.fetch_all(&self.pool).await.map_err(|e| self.err(e))? {
            let get = |r: &sqlx::any::AnyRow| -> Result<Recipients, sqlx::Error> {
                let emails: String = r.try_get(1)?;
                Ok(Recipients {
                    account_number: r.try_get(0)?,
                    emails: emails.split(';').filter(|e| !e.is_empty()).map(str::to_string).collect(),
                    name: r.try_get(2)?,
                    submitted_at: r.try_get(3)?,
                })
            };
            let rec = get(&r).map_err(|e| self.err(e))?;
            out.insert(rec.account_number.clone(), rec);
        }
        Ok(out)
    }

    /// Replaces an account's recipients inside a caller's transaction (with its journal row).
    pub async fn put_recipients_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        r: &Recipients,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recipient (account_number, emails, name, submitted_at, imported_at, source) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_number) DO UPDATE SET emails = excluded.emails, \
             name = excluded.name, submitted_at = excluded.submitted_at, imported_at = excluded.imported_at, \
             source = excluded.source",
        )
        .bind(&r.account_number)
        .bind(r.emails.join(";"))
        .bind(&r.name)
        .bind(&r.submitted_at)
        .bind(at.to_rfc3339())
        .bind(source)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Notices of a wave by state: (state, channel, count).
    pub async fn notice_counts(&self, wave: &str) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, channel, COUNT(*) FROM notice WHERE wave = $1 GROUP BY state, channel ORDER BY state, channel",
        )
        .bind(wave)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }
}
