//! Notices (the outbox pattern) and billing recipients.
//!
//! A notice row exists before its message is sent, unique per (wave, account, kind). Its state goes
//! `queued → sending → sent | failed`, or back to `retry` (with `retry_at`) after a transient
//! failure; a notice never sent for dates the account has left is `superseded`. A row left in `sending` by a crash is the only window for a duplicate: over SMTP it is
//! reported as `unknown` for a person to decide, never resent blindly.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, Transaction};

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

/// Where a notice is in its delivery (the `notice.state` column; SQL keeps the text).
///
/// `queued → sending → sent | failed`, or `sending → retry → sending` after a transient failure;
/// `superseded` when the account moved to other dates before it went out. `unknown` is not a
/// state: it is how a notice left `sending` by a crash is shown ([`NoticeRow::delivery_unknown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// Recorded, not yet taken for sending.
    Queued,
    /// Taken by one process, which is sending it (or died doing so).
    Sending,
    /// The server (or the outbox folder, or the printer's folder) took it.
    Sent,
    /// A transient failure; due again at `retry_at`.
    Retry,
    /// Refused for good, or out of attempts.
    Failed,
    /// Never sent: the account moved to a later cycle, whose notice is another one.
    Superseded,
}

crate::domain::spelled! {
    NoticeState {
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Retry => "retry",
        Failed => "failed",
        Superseded => "superseded",
    } unknown: |s| format!("unknown notice state `{s}`")
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
    pub state: NoticeState,
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
        self.state == NoticeState::Sending
            && super::lease::owner_alive(self.owner.as_deref(), self.lease_until.as_deref(), now)
    }

    /// A notice left `sending` that no live worker holds: nobody knows whether it went out.
    pub fn delivery_unknown(&self, now: DateTime<Utc>) -> bool {
        self.state == NoticeState::Sending && !self.in_flight_live(now)
    }

    /// A `retry` whose (real-clock) due time has not come yet.
    pub fn retry_waiting(&self, now: DateTime<Utc>) -> bool {
        self.state == NoticeState::Retry
            && self.retry_at.as_deref().and_then(|t| t.parse::<DateTime<Utc>>().ok()).is_some_and(|t| t > now)
    }
}

/// A `notice` row as stored, read by column name; [`NoticeRow`] once its state is checked.
#[derive(sqlx::FromRow)]
struct StoredNotice {
    wave: String,
    account_number: String,
    kind: String,
    message_id: String,
    channel: String,
    recipients: String,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    sent_at: Option<String>,
    retry_at: Option<String>,
    owner: Option<String>,
    lease_until: Option<String>,
}

impl TryFrom<StoredNotice> for NoticeRow {
    type Error = StoreError;

    fn try_from(n: StoredNotice) -> Result<Self, StoreError> {
        let state = notice_state(&n.state, &n.account_number)?;
        Ok(NoticeRow {
            wave: n.wave,
            account_number: n.account_number,
            kind: n.kind,
            message_id: n.message_id,
            channel: n.channel,
            recipients: n.recipients,
            state,
            attempts: n.attempts,
            last_error: n.last_error,
            sent_at: n.sent_at,
            retry_at: n.retry_at,
            owner: n.owner,
            lease_until: n.lease_until,
        })
    }
}

/// A stored state, or [`StoreError::Corrupt`]: a state this build does not know never becomes
/// another one.
fn notice_state(s: &str, account: &str) -> Result<NoticeState, StoreError> {
    s.parse().map_err(|why| StoreError::Corrupt(format!("notice of {account}: {why}")))
}

/// A `recipient` row as stored (emails `;`-separated).
#[derive(sqlx::FromRow)]
struct StoredRecipients {
    account_number: String,
    emails: String,
    name: Option<String>,
    submitted_at: String,
}

impl From<StoredRecipients> for Recipients {
    fn from(r: StoredRecipients) -> Self {
        Recipients {
            account_number: r.account_number,
            emails: split_emails(&r.emails),
            name: r.name,
            submitted_at: r.submitted_at,
        }
    }
}

/// Email addresses stored `;`-separated (recipients, the portal's form posts).
pub(super) fn split_emails(joined: &str) -> Vec<String> {
    joined.split(';').filter(|e| !e.is_empty()).map(str::to_string).collect()
}

/// A printed letter that went out ([`Store::printed_notices`]).
#[derive(sqlx::FromRow)]
struct StoredPrinted {
    account_number: String,
    kind: String,
    sent_at: Option<String>,
}

/// One group of [`Store::notice_counts`].
#[derive(sqlx::FromRow)]
struct StoredCount {
    state: String,
    channel: String,
    n: i64,
}

/// One notice date of [`Store::notice_demand`].
#[derive(sqlx::FromRow)]
struct StoredDemand {
    notice_date: String,
    n: i64,
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
    pub state: NoticeState,
    pub error: Option<&'a str>,
    pub retry_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

const NOTICE_COLS: &str = "wave, account_number, kind, message_id, channel, recipients, state, attempts, \
     last_error, sent_at, retry_at, owner, lease_until";

/// The query of one notice by its key (wave, account, kind).
fn notice_by_key<'q>(
    wave: &'q str,
    account: &'q str,
    kind: &'q str,
) -> sqlx::query::QueryAs<'q, Any, StoredNotice, sqlx::any::AnyArguments<'q>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {NOTICE_COLS} FROM notice WHERE wave = $1 AND account_number = $2 AND kind = $3")
    });
    sqlx::query_as(SQL.as_str()).bind(wave).bind(account).bind(kind)
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

    /// [`Store::notice_claim`] inside a caller's transaction.
    pub async fn notice_claim_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        n: &NewNotice<'_>,
    ) -> Result<NoticeRow, StoreError> {
        let mut rows = self.notice_claims_in(tx, std::slice::from_ref(n)).await?;
        rows.pop().ok_or_else(|| StoreError::NoAccount(n.account.to_string()))
    }

    /// [`Store::notice_claim`] for a page of notices of one wave, distinct accounts, inside a
    /// caller's transaction: one multi-row insert, one refresh and one read per 300 notices
    /// instead of three statements a notice (issue 11). Returns the stored rows in `ns`'s order.
    pub async fn notice_claims_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        ns: &[NewNotice<'_>],
    ) -> Result<Vec<NoticeRow>, StoreError> {
        let mut out = Vec::with_capacity(ns.len());
        for chunk in super::pieces(ns, 300) {
            let ats: Vec<String> = chunk.iter().map(|n| n.at.to_rfc3339()).collect();
            let rows = |cols: usize| -> String {
                (0..chunk.len())
                    .map(|i| format!("({})", self.params(i * cols + 1, cols).join(", ")))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let queued: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = self.params(i * 7 + 1, 7);
                    format!("({}, 'queued', {})", p[..6].join(", "), p[6])
                })
                .collect();
            let insert = format!(
                "INSERT INTO notice (wave, account_number, kind, message_id, channel, recipients, state, created_at) \
                 VALUES {} ON CONFLICT DO NOTHING",
                queued.join(", ")
            );
            let mut q = sqlx::query(&insert);
            for (n, at) in chunk.iter().zip(&ats) {
                q = q
                    .bind(n.wave)
                    .bind(n.account)
                    .bind(n.kind)
                    .bind(n.message_id)
                    .bind(n.channel)
                    .bind(n.recipients)
                    .bind(at);
            }
            q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
            // Two steps, not one upsert: an upsert names one unique key, and two workers inserting
            // the same notice at once would then collide on the other one (`message_id`). The
            // recipients are refreshed while the notice waits; one that failed for good is queued
            // again when they change (the address was fixed).
            let refresh = format!(
                "UPDATE notice SET channel = v.column4, recipients = v.column5, \
                 state = CASE WHEN notice.state = 'failed' THEN 'queued' ELSE notice.state END \
                 FROM (VALUES {}) AS v \
                 WHERE notice.wave = v.column1 AND notice.account_number = v.column2 AND notice.kind = v.column3 \
                 AND (notice.state IN ('queued', 'retry') OR (notice.state = 'failed' AND notice.recipients <> v.column5))",
                rows(5)
            );
            let mut q = sqlx::query(&refresh);
            for n in chunk {
                q = q.bind(n.wave).bind(n.account).bind(n.kind).bind(n.channel).bind(n.recipients);
            }
            q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
            let read =
                format!("SELECT {NOTICE_COLS} FROM notice WHERE (wave, account_number, kind) IN (VALUES {})", rows(3));
            let mut q = sqlx::query_as::<_, StoredNotice>(&read);
            for n in chunk {
                q = q.bind(n.wave).bind(n.account).bind(n.kind);
            }
            let mut stored: std::collections::HashMap<(String, String, String), StoredNotice> = q
                .fetch_all(&mut **tx)
                .await
                .map_err(|e| self.err(e))?
                .into_iter()
                .map(|r| ((r.wave.clone(), r.account_number.clone(), r.kind.clone()), r))
                .collect();
            for n in chunk {
                let key = (n.wave.to_string(), n.account.to_string(), n.kind.to_string());
                let row = stored.remove(&key).ok_or_else(|| StoreError::NoAccount(n.account.to_string()))?;
                out.push(NoticeRow::try_from(row)?);
            }
        }
        Ok(out)
    }

    pub async fn notice(&self, wave: &str, account: &str, kind: &str) -> Result<Option<NoticeRow>, StoreError> {
        let row = notice_by_key(wave, account, kind)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        row.map(NoticeRow::try_from).transpose()
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
        self.notice_marks_in(tx, std::slice::from_ref(m)).await
    }

    /// [`Store::notice_mark`] for a page of notices, inside a caller's transaction: one
    /// `UPDATE … FROM (VALUES …)` per 300 (issue 11).
    pub async fn notice_marks_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        marks: &[NoticeMark<'_>],
    ) -> Result<(), StoreError> {
        const COLS: usize = 8;
        for chunk in super::pieces(marks, 300) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", self.params(i * COLS + 1, COLS).join(", "))).collect();
            // v: state, error, sent_at, attempts to add, retry_at, wave, account, kind.
            let sql = format!(
                "UPDATE notice SET state = v.column1, last_error = COALESCE(v.column2, notice.last_error), \
                 sent_at = COALESCE(v.column3, notice.sent_at), attempts = notice.attempts + v.column4, \
                 retry_at = v.column5 FROM (VALUES {}) AS v \
                 WHERE notice.wave = v.column6 AND notice.account_number = v.column7 AND notice.kind = v.column8",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for m in chunk {
                q = q
                    .bind(m.state.as_str())
                    .bind(m.error)
                    .bind((m.state == NoticeState::Sent).then(|| m.at.to_rfc3339()))
                    .bind(i64::from(m.state == NoticeState::Sending))
                    .bind(m.retry_at.map(|t| t.to_rfc3339()))
                    .bind(m.wave)
                    .bind(m.account)
                    .bind(m.kind);
            }
            q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
        }
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
        self.notice_start_as(wave, account, kind, resend_in_flight.then_some(None), "", 0, now).await
    }

    /// [`Store::notice_start`] for a page of one wave's notices (`(account, kind)`, distinct) in a
    /// caller's transaction, committed with the page before any of them is written: one `UPDATE …
    /// RETURNING` per 300. `take_over`: also take a notice left `sending` (`Some(None)`: by anyone,
    /// for outbox files and letters, safe to write again; `Some(Some(prev))`: only `prev`'s, a dead
    /// worker's). `owner`: the worker taking them and for how many seconds of wall clock its claim
    /// holds (others then see them as in flight, not unknown). Returns, in order, which were taken.
    pub async fn notice_starts_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        wave: &str,
        keys: &[(&str, &str)],
        take_over: Option<Option<&str>>,
        now: DateTime<Utc>,
        owner: Option<(&str, i64)>,
    ) -> Result<Vec<bool>, StoreError> {
        let until = owner.map(|(_, secs)| super::lease::stamp(Utc::now() + chrono::Duration::seconds(secs)));
        let mut taken = std::collections::HashSet::new();
        for chunk in super::pieces(keys, 300) {
            // Numbered on both stores: SQLite's sqlx counts bare `?` from the first argument, and
            // the statement's fixed arguments come first.
            let pairs: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${})", 7 + 2 * i, 8 + 2 * i)).collect();
            let sql = format!(
                "UPDATE notice SET state = 'sending', attempts = attempts + 1, retry_at = NULL, \
                 owner = COALESCE($4, owner), lease_until = COALESCE($5, lease_until) \
                 WHERE wave = $1 AND (account_number, kind) IN (VALUES {}) AND (state = 'queued' \
                 OR (state = 'retry' AND (retry_at IS NULL OR retry_at <= $2)) \
                 OR (state = 'sending' AND $3 = 1 AND ($6 = '*' OR COALESCE(owner, '') = $6))) \
                 RETURNING account_number, kind",
                pairs.join(", ")
            );
            let mut q = sqlx::query_as::<_, (String, String)>(&sql)
                .bind(wave)
                .bind(now.to_rfc3339())
                .bind(i64::from(take_over.is_some()))
                .bind(owner.map(|(o, _)| o))
                .bind(until.clone())
                .bind(take_over.map_or("", |prev| prev.unwrap_or("*")));
            for (account, kind) in chunk {
                q = q.bind(*account).bind(*kind);
            }
            taken.extend(q.fetch_all(&mut **tx).await.map_err(|e| self.err(e))?);
        }
        Ok(keys.iter().map(|(a, k)| taken.contains(&(a.to_string(), k.to_string()))).collect())
    }

    /// [`Store::notice_starts_in`] for one notice, in a transaction of its own, by the worker
    /// `owner` whose claim holds `secs` seconds of wall clock (`""`: no owner recorded); only one
    /// taker wins.
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
        let mut tx = self.begin().await?;
        let owner = (!owner.is_empty()).then_some((owner, secs));
        let taken = self.notice_starts_in(&mut tx, wave, &[(account, kind)], take_over, now, owner).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(taken.first().copied().unwrap_or(false))
    }

    /// Marks an account's unsent notices for other dates `superseded` (its notice date passed and
    /// it moved to a later cycle): they are never sent. Only `queued` and `retry` ones: a notice
    /// that is `sending` may have gone out, and one that was `sent` or `failed` is history.
    pub async fn notice_supersede(&self, wave: &str, account: &str, keep_kind: &str) -> Result<u64, StoreError> {
        let update = "UPDATE notice SET state = 'superseded', retry_at = NULL WHERE wave = $1 \
                      AND account_number = $2 AND kind <> $3 AND state IN ('queued', 'retry')";
        self.write_text(update, &[wave, account, keep_kind]).await
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
        let update = "UPDATE notice SET channel = 'print', last_error = $1 WHERE wave = $2 AND account_number = $3 AND kind = $4";
        self.write_text(update, &[error, wave, account, kind]).await?;
        Ok(())
    }

    /// A wave's notices, all or in one state, in account order.
    pub async fn notices(&self, wave: &str, state: Option<NoticeState>) -> Result<Vec<NoticeRow>, StoreError> {
        // Two shapes, not `($2 = '' OR state = $2)`, and sorted here, not by SQL: either would
        // read every notice of the wave instead of those in the state (`notice_wave_state`), on
        // every notify run (issue 11).
        let filter = if state.is_some() { " AND state = $2" } else { "" };
        let sql = format!("SELECT {NOTICE_COLS} FROM notice WHERE wave = $1{filter}");
        let mut q = sqlx::query_as(&sql).bind(wave);
        if let Some(s) = state {
            q = q.bind(s.as_str());
        }
        let rows: Vec<StoredNotice> = q.fetch_all(&mut *self.conn().await?).await.map_err(|e| self.err(e))?;
        let mut out = rows.into_iter().map(NoticeRow::try_from).collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (&a.account_number, &a.kind).cmp(&(&b.account_number, &b.kind)));
        Ok(out)
    }

    /// A wave's printed letters that went out: (account, kind, sent_at), in account order, byte
    /// by byte (sorted here: PostgreSQL's `ORDER BY` follows the database's collation, which may
    /// put `a-1` and `A_1` apart differently than SQLite). Read by every notify run to keep the
    /// day files of letters whole, so it reads only these rows (index `notice_printed`, migration
    /// 0014), not every sent notice of the wave.
    pub async fn printed_notices(&self, wave: &str) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let rows: Vec<StoredPrinted> = sqlx::query_as(
            "SELECT account_number, kind, sent_at FROM notice WHERE wave = $1 AND channel = 'print' AND state = 'sent'",
        )
        .bind(wave)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        let mut printed: Vec<_> = rows.into_iter().map(|r| (r.account_number, r.kind, r.sent_at)).collect();
        printed.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(printed)
    }

    /// How many of a wave's notices were sent in `[from, to)`: the sending limits count these.
    pub async fn sent_between(&self, wave: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM notice WHERE wave = $1 AND state = 'sent' AND sent_at >= $2 AND sent_at < $3",
        )
        .bind(wave)
        .bind(from.to_rfc3339())
        .bind(to.to_rfc3339())
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))
    }

    /// Notices still to send for a wave, per notice date: (date, accounts).
    pub async fn notice_demand(&self, wave: &str) -> Result<Vec<(chrono::NaiveDate, i64)>, StoreError> {
        let rows: Vec<StoredDemand> = sqlx::query_as(
            "SELECT notice_date, COUNT(*) AS n FROM account WHERE wave = $1 AND state = 'reconciled' \
             AND notice_date IS NOT NULL GROUP BY notice_date ORDER BY notice_date",
        )
        .bind(wave)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                let d = &r.notice_date;
                Ok((d.parse().map_err(|_| StoreError::Corrupt(format!("notice date {d}")))?, r.n))
            })
            .collect()
    }

    /// The next accounts to notify, earliest notice date first (so limits send the most urgent).
    pub async fn notice_candidates(&self, wave: &str, limit: i64) -> Result<Vec<super::AccountRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM account WHERE wave = $1 AND state = 'reconciled' AND notice_date IS NOT NULL \
             ORDER BY notice_date, account_number LIMIT $2",
            Store::ACCOUNT_COLS
        );
        let rows = sqlx::query_as(&sql)
            .bind(wave)
            .bind(limit)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        Store::account_rows(rows)
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
        let rows = sqlx::query_as(&sql)
            .bind(wave)
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        Store::account_rows(rows)
    }

    // ------------------------------------------------------------------ recipients

    /// The billing recipients an account submitted through the form, if any.
    pub async fn recipients(&self, account: &str) -> Result<Option<Recipients>, StoreError> {
        let row: Option<StoredRecipients> = sqlx::query_as(
            "SELECT account_number, emails, name, submitted_at FROM recipient WHERE account_number = $1",
        )
        .bind(account)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        Ok(row.map(Recipients::from))
    }

    /// The form's recipients of a page of accounts, by account number (one query).
    pub async fn recipients_of(
        &self,
        numbers: &[String],
    ) -> Result<std::collections::HashMap<String, Recipients>, StoreError> {
        let rows: Vec<StoredRecipients> = self
            .rows_for(numbers, |list| {
                format!(
                    "SELECT account_number, emails, name, submitted_at FROM recipient WHERE account_number IN ({list})"
                )
            })
            .await?;
        Ok(rows.into_iter().map(|r| (r.account_number.clone(), Recipients::from(r))).collect())
    }

    /// The kinds of the notices sent to a page of accounts, in any wave, by account number (one
    /// query): a notice for other dates tells its customer the earlier one no longer holds.
    pub async fn sent_notice_kinds(
        &self,
        numbers: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<String>>, StoreError> {
        let rows: Vec<(String, String)> = self
            .rows_for(numbers, |list| {
                format!(
                    "SELECT account_number, kind FROM notice WHERE state = 'sent' AND account_number IN ({list}) \
                     ORDER BY account_number, kind"
                )
            })
            .await?;
        let mut kinds: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (account, kind) in rows {
            kinds.entry(account).or_default().push(kind);
        }
        Ok(kinds)
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
    pub async fn notice_counts(&self, wave: &str) -> Result<Vec<(NoticeState, String, i64)>, StoreError> {
        let rows: Vec<StoredCount> = sqlx::query_as(
            "SELECT state, channel, COUNT(*) AS n FROM notice WHERE wave = $1 GROUP BY state, channel \
             ORDER BY state, channel",
        )
        .bind(wave)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        rows.into_iter().map(|r| Ok((notice_state(&r.state, &format!("wave {wave}"))?, r.channel, r.n))).collect()
    }
}
