//! `cutover waive`: waive a failing account.

use super::AccountWhy;
use super::commands::{Cx, Result};

/// Waive a failing account: it may be switched despite its reconciliation (journaled).
/// `--revoke` withdraws the waiver: an account not yet cut over is held again. A person's
/// decision, not a stage: it takes no `--as-of`, and is journaled at the real time it is made.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub of: AccountWhy,
    /// Withdraw the account's waiver instead of granting one.
    #[arg(long)]
    pub revoke: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        match self {
            Args { of: AccountWhy { account, reason }, revoke: true } => {
                // A person's decision on one account: a broken wave file elsewhere does not stop it.
                let engine = cx.open_despite("waive --revoke").await?;
                let ctx = cx.ctx("waive --revoke", None)?;
                if engine.revoke_waiver(&account, &reason, &ctx).await? {
                    let state = engine.store.account(&account).await?.map(|r| r.state);
                    let named = state.map(|s| s.to_string()).unwrap_or_default();
                    println!("{account}: waiver revoked ({reason}); the account is {named}");
                    if matches!(state, Some(crate::domain::State::CutOver | crate::domain::State::Loaded)) {
                        println!(
                            "  the new system bills it already: revoking changes nothing for the customer; \
                             `cutover rollback {account} --reason …` returns it to the legacy system"
                        );
                    }
                } else {
                    println!("{account} has no waiver; nothing changed");
                }
                Ok(0)
            }
            Args { of: AccountWhy { account, reason }, revoke: false } => {
                let engine = cx.open_despite("waive").await?;
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
