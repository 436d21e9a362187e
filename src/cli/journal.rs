//! `cutover journal`: the audit trail.

use super::commands::{Cx, Result};
use super::{parse_date, report};

/// The audit trail: every state change of every account (who, why, the effective day and the
/// wall-clock time it was recorded), in the order recorded, to read or to take out of the tool.
/// (A change made as of a past day, `--as-of`, shows that day as its effective time, so effective
/// times need not rise down the list.) An account the store does not know is an error (exit 2).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this account: `cutover journal A001` is `cutover journal --account A001`.
    #[arg(value_name = "ACCOUNT", conflicts_with = "account")]
    pub account_number: Option<String>,
    /// Only this account.
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// Only the rows written while their account was in this wave (an account rolled back and
    /// readmitted elsewhere keeps its earlier rows in its first wave's trail).
    #[arg(long, value_name = "WAVE")]
    pub wave: Option<String>,
    /// Only changes effective on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<chrono::NaiveDate>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: JournalFormat,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { account_number, account, wave, since, format } = self;
        let account = account.or(account_number);
        let engine = cx.open_on("journal", wave.as_deref()).await?;
        if let Some(a) = &account
            && engine.store.account(a).await?.is_none()
        {
            return Err(crate::store::StoreError::NoAccount(a.clone()).into());
        }
        let since = since.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc());
        let filter = crate::store::JournalFilter { account, wave, since };
        report::journal(&engine.store, &filter, format).await?;
        Ok(0)
    }
}

/// The formats of `cutover journal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JournalFormat {
    Text,
    Csv,
    Json,
}
