//! Notices (the outbox pattern) and billing recipients.
//!
//! A notice row exists before its message is sent, unique per (wave, account, kind). Its state goes
//! `queued → sending → sent | failed`, or back to `retry` (with `retry_at`) after a transient
//! failure. A row left in `sending` by a crash is the only window for a duplicate: over SMTP it is
//! reported as `unknown` for a person to decide, never resent blindly.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

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
}

/// An account's billing email addresses from the submission form (latest submission wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipients {
    pub account_number: String,
    pub emails: Vec<String>,
    pub name: Option<String>,
    pub submitted_at: String,
}

impl Store {

    /// Records a notice before it is sent. Returns the stored row: a new one in state `queued`,
    /// or the existing one (whatever its state) when this (wave, account, kind) was recorded before.
    pub async fn notice_claim(&self, n: &NewNotice<'_>) -> Result<NoticeRow, StoreError> {
        sqlx::query(
            "INSERT INTO notice (wave, account_number, kind, message_id, channel, recipients, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7) ON CONFLICT (wave, account_number, kind) DO NOTHING",
        )
        .bind(n.wave)
        .bind(n.account)
        .bind(n.kind)
        .bind(n.message_id)
        .bind(n.channel)
        .bind(n.recipients)
        .bind(n.at.to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        self.notice(n.wave, n.account, n.kind).await?.ok_or_else(|| StoreError::NoAccount(n.account.to_string()))
    }

    pub async fn notice(&self, wave: &str, account: &str, kind: &str) -> Result<Option<NoticeRow>, StoreError> {
        let row = sqlx::query(
            "SELECT wave, account_number, kind, message_id, channel, recipients, state, attempts, last_error, sent_at \
             FROM notice WHERE wave = $1 AND account_number = $2 AND kind = $3",
        )
        .bind(wave)
        .bind(account)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        row.map(|r| {
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
            })
        })
        .transpose()
        .map_err(|e| self.err(e))
    }

    /// Moves a notice to `sending` (counting the attempt), `sent` or `failed`.
    pub async fn notice_mark(
        &self,
        wave: &str,
        account: &str,
        kind: &str,
        state: &str,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sent_at = (state == "sent").then(|| at.to_rfc3339());
        let bump: i64 = (state == "sending").into();
        sqlx::query(
            "UPDATE notice SET state = $1, last_error = $2, sent_at = COALESCE($3, sent_at), attempts = attempts + $4 \
             WHERE wave = $5 AND account_number = $6 AND kind = $7",
        )
        .bind(state)
        .bind(error)
        .bind(sent_at)
        .bind(bump)
        .bind(wave)
        .bind(account)
        .bind(kind)
        .execute(&self.pool)
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
