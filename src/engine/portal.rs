//! The portal's engine side (issue 13): personal links in notices, and what the customer and team
//! pages do to the store. The web layer (`crate::portal`) parses requests and calls these; it
//! never writes to the store itself.
//!
//! A link's token is 256 bits from the operating system's CSPRNG, written base64url into the
//! notice, and stored only as its SHA-256 (hex). A notice written again (a rerun after a crash, a
//! resend) gets a new token; every link issued stays valid until its expiry (the first new bill
//! date plus `portal.link_grace_days`), so a message already delivered keeps working.

use super::{Applied, Ctx, Engine, EngineError};
use crate::notify::{EmailAddress, contacts::Submission};
use crate::store::LinkRow;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

/// A fresh link token: 32 random bytes (256 bits), base64url without padding (43 characters).
pub fn new_token() -> Result<String, EngineError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| EngineError::Refused(format!("no random numbers from the system: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    crate::hex::hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `token` has the shape [`new_token`] gives (so junk is turned away before the store).
pub fn well_formed(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The addresses typed into the billing-email form (one per line, or separated by commas,
/// semicolons or spaces), each parsed with the notices' own `EmailAddress` rules; duplicates
/// (same mailbox) collapse. Err: the first address refused, with why.
pub fn parse_addresses(text: &str) -> Result<Vec<EmailAddress>, String> {
    let mut out: Vec<EmailAddress> = Vec::new();
    for part in text.split([',', ';', '\n', '\r', ' ', '\t']).map(str::trim).filter(|p| !p.is_empty()) {
        let e = EmailAddress::parse(part)?;
        if !out.iter().any(|o| o.same_mailbox(&e)) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err("give at least one email address".into());
    }
    if out.len() > 10 {
        return Err("at most 10 addresses, please".into());
    }
    Ok(out)
}

/// A personal link made for a notice: the URL the notice prints, and what the store keeps of it.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub url: String,
    pub token_hash: String,
    pub row: LinkRow,
}

/// What a valid link opens.
#[derive(Debug, Clone)]
pub struct OpenLink {
    pub link: LinkRow,
}

impl Engine {
    /// A new personal link for an account's notice, when the workspace runs the portal: the URL
    /// to print in the notice (the store keeps the token's hash only).
    pub async fn issue_link(
        &self,
        account: &str,
        wave: &str,
        kind: &str,
        first_new_bill_date: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<Option<String>, EngineError> {
        let Some(link) = self.new_link(account, wave, kind, first_new_bill_date)? else { return Ok(None) };
        self.store.portal_link_put(&link.token_hash, &link.row, at).await?;
        Ok(Some(link.url))
    }

    /// A new personal link, not stored yet (the notify stage stores a page's links in the
    /// transaction that claims its notices: [`crate::store::Store::portal_links_put_in`]). None
    /// when the workspace does not run the portal.
    pub fn new_link(
        &self,
        account: &str,
        wave: &str,
        kind: &str,
        first_new_bill_date: NaiveDate,
    ) -> Result<Option<NewLink>, EngineError> {
        let Some(portal) = &self.ws.config.portal else { return Ok(None) };
        let token = new_token()?;
        let expires_on = first_new_bill_date + chrono::Days::new(u64::from(portal.link_grace_days));
        let row = LinkRow { account_number: account.into(), wave: wave.into(), kind: kind.into(), expires_on };
        let url = format!("{}/c/{token}", portal.base_url.trim_end_matches('/'));
        Ok(Some(NewLink { url, token_hash: token_hash(&token), row }))
    }

    /// The link a token opens as of `today`: None when the token is malformed, unknown or
    /// expired (the caller shows one page for all three).
    pub async fn open_link(&self, token: &str, today: NaiveDate) -> Result<Option<OpenLink>, EngineError> {
        if !well_formed(token) {
            return Ok(None);
        }
        Ok(self
            .store
            .portal_link(&token_hash(token))
            .await?
            .filter(|l| today <= l.expires_on)
            .map(|link| OpenLink { link }))
    }

    /// A post of the portal's billing-email form: recorded once per `nonce`, applied like an
    /// imported submission (source `portal`), journaled on the account under `ctx.actor`.
    pub async fn portal_submit(
        &self,
        account: &str,
        emails: Vec<EmailAddress>,
        nonce: &str,
        ctx: &Ctx,
    ) -> Result<Applied, EngineError> {
        let sub = Submission {
            line: 0,
            account_number: account.to_string(),
            emails,
            name: None,
            submitted_at: ctx.at.to_rfc3339(),
        };
        self.apply_submission(&sub, "portal", Some(nonce), ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_only_their_hash_is_kept() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(well_formed(&a) && well_formed(&b), "{a} {b}");
        let h = token_hash(&a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&a));
        for junk in ["", "short", &format!("{a}x"), &a.replace(&a[..1], "/")] {
            assert!(!well_formed(junk), "{junk}");
        }
    }

    #[test]
    fn addresses_are_parsed_with_the_notice_rules() {
        let ok = parse_addresses("ap@a.example, AP@a.example\nit@a.example").unwrap();
        let shown: Vec<String> = ok.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown, ["ap@a.example", "it@a.example"]);
        for bad in ["", "  ", "not an address", "a@b.example, Bcc: x@y.example", "<a@b.example>"] {
            assert!(parse_addresses(bad).is_err(), "{bad:?}");
        }
    }
}
