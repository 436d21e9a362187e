//! `cutover waive`: waive a failing account.

use super::commands::{Cx, Result};
use super::non_blank;

/// Waive a failing account: it may be switched despite its reconciliation (journaled).
/// `--revoke` withdraws the waiver: an account not yet cut over is held again.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The legacy account number (e.g. A000012).
    pub account: String,
    /// Why: kept in the account's journal and shown in every report.
    #[arg(long, value_parser = non_blank)]
    pub reason: String,
    /// Withdraw the account's waiver instead of granting one.
    #[arg(long)]
    pub revoke: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        match self {
            Args { account, reason, revoke: true } => {
                let engine = cx.open().await?;
                let ctx = cx.ctx("waive --revoke", None)?;
                if engine.revoke_waiver(&account, &reason, &ctx).await? {
                    let state = engine.store.account(&account).await?.map(|r| r.state.to_string()).unwrap_or_default();
                    println!("{account}: waiver revoked ({reason}); the account is {state}");
                } else {
                    println!("{account} has no waiver; nothing changed");
                }
                Ok(0)
            }
            Args { account, reason, revoke: false } => {
                let engine = cx.open().await?;
                let ctx = cx.ctx("waive", None)?;
                if engine.waive(&account, &reason, &ctx).await? {
                    println!("{account} waived: {reason}");
                } else {
                    println!("{account} was already waived; nothing changed");
                }
                Ok(0)
            }
        }
    }
}
