//! `cutover rollback`: return one cut-over account to the legacy system, with a reason.

use super::commands::{Cx, Result, dry_report};
use super::non_blank;

/// Return one cut-over account to the legacy system, with a reason (journaled): a reversal
/// record goes to its set's rollback.csv and it leaves the set's load files.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The legacy account number (e.g. A000012).
    pub account: String,
    /// Why: kept in the account's journal.
    #[arg(long, value_parser = non_blank)]
    pub reason: String,
    /// Show what would happen (each account's change, the mail and files), on a copy: nothing is
    /// written and nothing sent. Exits as the real run would.
    #[arg(long)]
    pub dry_run: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { account, reason, dry_run } = self;
        let (engine, dry) = cx.open_for(dry_run).await?;
        let ctx = cx.ctx("rollback", None)?;
        if engine.rollback(&account, &reason, &ctx).await? {
            println!("{account} rolled back: {reason}");
        } else {
            println!("{account} was already rolled back; nothing changed");
        }
        dry_report(dry, &engine).await?;
        Ok(0)
    }
}
