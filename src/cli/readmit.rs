//! `cutover readmit`: put a rolled-back account into a later wave.

use super::commands::{Cx, Result};
use super::{non_blank, parse_date};

/// Put a rolled-back account into a later wave (journaled): it is rated, reconciled,
/// notified and cut over again there.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The legacy account number (e.g. A000012).
    pub account: String,
    /// The later wave it joins (its window must still be open).
    #[arg(long)]
    pub wave: String,
    /// Why: kept in the account's journal.
    #[arg(long, value_parser = non_blank)]
    pub reason: String,
    /// The day to act as, YYYY-MM-DD (default: today).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { account, wave, reason, as_of } = self;
        let engine = cx.open().await?;
        let ctx = cx.ctx("readmit", as_of)?;
        if engine.readmit(&account, &wave, &reason, &ctx).await? {
            println!("{account} readmitted to wave {wave}: {reason}");
        } else {
            let state = engine.store.account(&account).await?.map(|r| r.state.to_string()).unwrap_or_default();
            println!("{account} was readmitted to wave {wave} already (it is {state}); nothing changed");
        }
        Ok(0)
    }
}
