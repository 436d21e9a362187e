//! The portal's tables (migration 0010): personal links, stored as the SHA-256 of their token
//! only; the billing-email form's posts, one row per post keyed by the form's nonce (a post
//! replayed or double-clicked counts once); customers' questions.

use super::notices::split_emails;
use super::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

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

/// A `portal_link` row as stored (read by column name).
#[derive(sqlx::FromRow)]
struct StoredLink {
    account_number: String,
    wave: String,
    kind: String,
    expires_on: String,
}

impl TryFrom<StoredLink> for LinkRow {
    type Error = StoreError;

    fn try_from(r: StoredLink) -> Result<LinkRow, StoreError> {
        let expires = &r.expires_on;
        Ok(LinkRow {
            expires_on: expires.parse().map_err(|_| StoreError::Corrupt(format!("portal link expiry {expires}")))?,
            account_number: r.account_number,
            wave: r.wave,
            kind: r.kind,
        })
    }
}

/// A `portal_submission` row as stored (emails `;`-separated).
#[derive(sqlx::FromRow)]
struct StoredSubmission {
    id: i64,
    account_number: String,
    emails: String,
    submitted_at: String,
}

impl From<StoredSubmission> for PortalSubmission {
    fn from(r: StoredSubmission) -> Self {
        let emails = split_emails(&r.emails);
        PortalSubmission { id: r.id, account_number: r.account_number, emails, submitted_at: r.submitted_at }
    }
}

/// One question a customer asked (read by column name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PortalQuestion {
    pub id: i64,
    pub account_number: String,
    pub message: String,
    pub asked_at: String,
}

impl Store {
    /// Records a new personal link (its token's hash), in a transaction of its own.
    pub async fn portal_link_put(&self, token_hash: &str, link: &LinkRow, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        self.portal_links_put_in(&mut tx, &[(token_hash, link)], at).await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Records new personal links (their tokens' hashes) inside a caller's transaction: a
    /// page's links with the claim of its notices (issue 11: one autocommitted write a notice
    /// was a third of a portal workspace's demo).
    pub async fn portal_links_put_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        links: &[(&str, &LinkRow)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = at.to_rfc3339();
        for chunk in super::pieces(links, 500) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", self.params(i * 6 + 1, 6).join(", "))).collect();
            let sql = format!(
                "INSERT INTO portal_link (token_hash, account_number, wave, kind, expires_on, created_at) VALUES {}",
                values.join(", ")
            );
            let expires: Vec<String> = chunk.iter().map(|(_, l)| l.expires_on.to_string()).collect();
            let mut q = sqlx::query(&sql);
            for ((hash, link), expires) in chunk.iter().zip(&expires) {
                q = q.bind(*hash).bind(&link.account_number).bind(&link.wave).bind(&link.kind).bind(expires).bind(&at);
            }
            q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The link whose token hashes to `token_hash`, if any (expired or not: the caller decides).
    pub async fn portal_link(&self, token_hash: &str) -> Result<Option<LinkRow>, StoreError> {
        let sql = "SELECT account_number, wave, kind, expires_on FROM portal_link WHERE token_hash = $1";
        self.row_by::<StoredLink>(sql, token_hash).await?.map(LinkRow::try_from).transpose()
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
        let insert = "INSERT INTO portal_submission (nonce, account_number, emails, submitted_at) \
                      VALUES ($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING";
        self.insert_once(&mut **tx, insert, [nonce, account, &emails.join(";")], at).await
    }

    /// The form posts of one account (or of every account), oldest first.
    pub async fn portal_submissions(&self, account: Option<&str>) -> Result<Vec<PortalSubmission>, StoreError> {
        let sql = "SELECT id, account_number, emails, submitted_at FROM portal_submission \
                   WHERE $1 = '' OR account_number = $1 ORDER BY id";
        let rows: Vec<StoredSubmission> = self.rows_by(sql, account.unwrap_or("")).await?;
        Ok(rows.into_iter().map(PortalSubmission::from).collect())
    }

    /// Records a question; false when its nonce was already recorded.
    pub async fn portal_question_put(
        &self,
        nonce: &str,
        account: &str,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _turn = self.turn().await?;
        let insert = "INSERT INTO portal_question (nonce, account_number, message, asked_at) \
                      VALUES ($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING";
        self.insert_once(&mut *self.conn().await?, insert, [nonce, account, message], at).await
    }

    /// The questions of one account (or of every account), newest first.
    pub async fn portal_questions(&self, account: Option<&str>) -> Result<Vec<PortalQuestion>, StoreError> {
        let sql = "SELECT id, account_number, message, asked_at FROM portal_question \
                   WHERE $1 = '' OR account_number = $1 ORDER BY id DESC";
        self.rows_by(sql, account.unwrap_or("")).await
    }
}
