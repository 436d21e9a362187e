//! The portal's tables (migration 0010): personal links, stored as the SHA-256 of their token
//! only; the billing-email form's posts, one row per post keyed by the form's nonce (a post
//! replayed or double-clicked counts once); customers' questions.

use super::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

/// A personal link, as stored (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkRow {
    pub account_number: String,
    pub wave: String,
    pub kind: String,
    pub expires_on: NaiveDate,
}

/// One post of the billing-email form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalSubmission {
    pub id: i64,
    pub account_number: String,
    pub emails: Vec<String>,
    pub submitted_at: String,
}

/// One question a customer asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalQuestion {
    pub id: i64,
    pub account_number: String,
    pub message: String,
    pub asked_at: String,
}

impl Store {
    /// Records a new personal link (its token's hash).
    pub async fn portal_link_put(&self, token_hash: &str, link: &LinkRow, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO portal_link (token_hash, account_number, wave, kind, expires_on, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(&link.account_number)
        .bind(&link.wave)
        .bind(&link.kind)
        .bind(link.expires_on.to_string())
        .bind(at.to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The link whose token hashes to `token_hash`, if any (expired or not: the caller decides).
    pub async fn portal_link(&self, token_hash: &str) -> Result<Option<LinkRow>, StoreError> {
        let row = sqlx::query("SELECT account_number, wave, kind, expires_on FROM portal_link WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let Some(r) = row else { return Ok(None) };
        let expires: String = r.try_get(3).map_err(|e| self.err(e))?;
        Ok(Some(LinkRow {
            account_number: r.try_get(0).map_err(|e| self.err(e))?,
            wave: r.try_get(1).map_err(|e| self.err(e))?,
            kind: r.try_get(2).map_err(|e| self.err(e))?,
            expires_on: expires.parse().map_err(|_| StoreError::Corrupt(format!("portal link expiry {expires}")))?,
        }))
    }

    /// Records one form post inside a caller's transaction; false when its nonce was already
    /// recorded (the post was taken before: nothing more to do).
    pub async fn portal_submission_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        nonce: &str,
        account: &str,
        emails: &[String],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO portal_submission (nonce, account_number, emails, submitted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(account)
        .bind(emails.join(";"))
        .bind(at.to_rfc3339())
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// The form posts of one account (or of every account), oldest first.
    pub async fn portal_submissions(&self, account: Option<&str>) -> Result<Vec<PortalSubmission>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, account_number, emails, submitted_at FROM portal_submission \
             WHERE $1 = '' OR account_number = $1 ORDER BY id",
        )
        .bind(account.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let emails: String = r.try_get(2)?;
                Ok(PortalSubmission {
                    id: r.try_get(0)?,
                    account_number: r.try_get(1)?,
                    emails: emails.split(';').filter(|e| !e.is_empty()).map(str::to_string).collect(),
                    submitted_at: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// Records a question; false when its nonce was already recorded.
    pub async fn portal_question_put(
        &self,
        nonce: &str,
        account: &str,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO portal_question (nonce, account_number, message, asked_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(account)
        .bind(message)
        .bind(at.to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// The questions of one account (or of every account), newest first.
    pub async fn portal_questions(&self, account: Option<&str>) -> Result<Vec<PortalQuestion>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, account_number, message, asked_at FROM portal_question \
             WHERE $1 = '' OR account_number = $1 ORDER BY id DESC",
        )
        .bind(account.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(PortalQuestion {
                    id: r.try_get(0)?,
                    account_number: r.try_get(1)?,
                    message: r.try_get(2)?,
                    asked_at: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }
}
