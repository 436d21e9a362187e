//! `cutover hold`: keep one account from moving on before its cut-over, with a reason.

use super::AccountWhy;
use super::commands::{Cx, Result};

/// Hold one account before its cut-over, with a reason (journaled): an account extracted, rated,
/// reconciled or notified stops where it is, the legacy system keeps billing it, and no stage
/// (nor `run --recheck-held`, nor a waiver) moves it on until `hold --release` puts it back (a new
/// schedule; a customer told another date gets a notice that gives the new one). A cut-over account is refused: `rollback` returns
/// it. A person's decision, not a stage: it takes no `--as-of`, and is journaled at the real time
/// it is made.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub of: AccountWhy,
    /// Put a held account back instead (held by a person or by a stage): the next run rates,
    /// reconciles and schedules it again. `run --recheck-held` leaves an account a person held.
    #[arg(long)]
    pub release: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { of: AccountWhy { account, reason }, release } = self;
        // A person's decision on one account: a broken wave file elsewhere does not stop it.
        let engine = cx.open_despite("hold").await?;
        let ctx = cx.ctx(if release { "hold --release" } else { "hold" }, None)?;
        if release {
            if engine.release(&account, &reason, &ctx).await? {
                let wave = engine.store.account(&account).await?.and_then(|r| r.wave).unwrap_or_default();
                println!(
                    "{account} put back: {reason}; `cutover run --wave {wave}` rates, reconciles and schedules it"
                );
                // A wave on a simulated clock (the demo's): a run as of today would find every date
                // of the wave passed. Its journal's rows dated another day than written say so.
                let today = chrono::Utc::now().date_naive();
                let clock = engine.store.wave_clock(&wave).await?;
                if let Some(day) = clock.filter(|d| *d < today - chrono::Days::new(1)) {
                    println!(
                        "  the wave runs on a clock of its own (its journal's latest such row is dated {day}): \
                         `cutover run --wave {wave} --as-of DAY`, DAY on or after {day}"
                    );
                }
            } else {
                let state = engine.store.account(&account).await?.map(|r| r.state.to_string()).unwrap_or_default();
                println!("{account} is {state}, not held; nothing changed, and this reason was not recorded");
            }
            return Ok(0);
        }
        match engine.hold(&account, &reason, &ctx).await? {
            Some(held) => {
                match &held.stage_hold {
                    Some(was) => println!(
                        "{account} held by a person now: {reason}; a stage had held it ({was}), and now no \
                         `run --recheck-held` nor waiver moves it on until `hold --release`"
                    ),
                    None => {
                        println!("{account} held (was {}): {reason}; the legacy system keeps billing it", held.from)
                    }
                }
                if let Some(d) = held.told {
                    eprintln!(
                        "note: {account}'s customer was told the first new bill comes on {d}: it will not. \
                         `cutover hold {account} --release --reason …` after a fix gives it a new schedule and a \
                         notice that names the new date and says {d} no longer holds (its portal page says the \
                         change is postponed meanwhile)"
                    );
                } else {
                    println!("  `cutover hold {account} --release --reason …` puts it back after a fix");
                }
            }
            None => {
                let row = engine.store.account(&account).await?;
                let why = row.and_then(|r| r.state_reason).unwrap_or_default();
                println!(
                    "{account} was already held by a person ({why}); nothing changed, and this reason was not recorded"
                );
            }
        }
        Ok(0)
    }
}
