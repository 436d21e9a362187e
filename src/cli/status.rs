//! `cutover status`: where accounts stand.

use super::commands::{Cx, Result};
use super::{StatusFormat, parse_state, report};

/// Where accounts stand: per wave, or one account with its journal and quarantined rows.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this account: `cutover status A001` is `cutover status --account A001`.
    #[arg(value_name = "ACCOUNT", conflicts_with_all = ["account", "wave", "state"])]
    pub account_number: Option<String>,
    /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
    #[arg(long, conflicts_with = "account")]
    pub wave: Option<String>,
    /// Only this account (its legacy account number), with its journal and quarantined rows.
    #[arg(long)]
    pub account: Option<String>,
    /// List the accounts in this state with their reasons (e.g. `held`), instead of counts.
    #[arg(long, conflicts_with = "account", value_parser = parse_state)]
    pub state: Option<crate::domain::State>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatusFormat,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { account_number, wave, account, state, format } = self;
        let account = account.or(account_number);
        let engine = cx.open_on("status", wave.as_deref()).await?;
        print!("{}", report::status(&engine, wave.as_deref(), account.as_deref(), state, format.into()).await?);
        Ok(0)
    }
}
