//! `cutover hold`: keep one account from moving on before its cut-over, with a reason.

use super::AccountWhy;
use super::commands::{Cx, Result};

/// Hold one account before its cut-over, with a reason (journaled): an account extracted, rated,
/// reconciled or notified stops where it is, the legacy system keeps billing it, and no stage
/// moves it on until `run --recheck-held` puts it back (a new schedule; a customer told another
/// date gets a notice that gives the new one). A cut-over account is refused: `rollback` returns
/// it. A person's decision, not a stage: it takes no `--as-of`, and is journaled at the real time
/// it is made.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub of: AccountWhy,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { of: AccountWhy { account, reason } } = self;
        let engine = cx.open().await?;
        let ctx = cx.ctx("hold", None)?;
        match engine.hold(&account, &reason, &ctx).await? {
            Some(held) => {
                println!("{account} held (was {}): {reason}; the legacy system keeps billing it", held.from);
                let wave = held.wave.as_deref().unwrap_or("WAVE");
                if let Some(d) = held.told {
                    eprintln!(
                        "note: {account}'s customer was told the first new bill comes on {d}: it will not. \
                         `cutover run --wave {wave} --recheck-held` after a fix gives it a new schedule and a notice \
                         that names the new date and says {d} no longer holds"
                    );
                } else {
                    println!("  `cutover run --wave {wave} --recheck-held` puts it back after a fix");
                }
            }
            None => {
                let row = engine.store.account(&account).await?;
                let why = row.and_then(|r| r.state_reason).unwrap_or_default();
                println!("{account} was already held ({why}); nothing changed, and this reason was not recorded");
            }
        }
        Ok(0)
    }
}
