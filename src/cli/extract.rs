//! `cutover extract`: read the whole legacy source into the state store.

use super::commands::{Cx, Result};
use super::parse_date;

/// Read the whole legacy source into the state store (a full, atomic refresh). Bad rows are
/// quarantined with their reason; `status` lists them. The legacy bills of cut-over accounts are
/// checked against their suppression: a legacy bill for a period the new system bills is a
/// second bill to the customer, named in a warning (exit 1).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The day the extraction is taken as of, YYYY-MM-DD (default: today): its effective time in
    /// the journal, and the day up to which legacy bills are looked at (a bill is issued on the
    /// first day of its period).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        if let Some(day) = self.as_of.filter(|d| *d > super::commands::today()) {
            return Err(super::Failure::input(anyhow::anyhow!(
                "--as-of {day} has not come yet: an extraction sees what the legacy system holds today, or as of a past day"
            )));
        }
        let engine = cx.open().await?;
        let ctx = cx.ctx("extract", self.as_of)?;
        let c = match engine.extract_once(&ctx).await? {
            Ok(c) => c,
            Err(busy) => {
                println!("{busy}: not starting another");
                return Ok(0);
            }
        };
        for w in &c.warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "extracted {} accounts and {} records from {}; {} rows quarantined (see `cutover status`)",
            c.accounts, c.records, c.source, c.quarantined
        );
        // A customer billed twice needs a person.
        Ok(u8::from(c.billed_twice > 0))
    }
}
