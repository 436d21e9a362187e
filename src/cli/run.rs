//! `cutover run`: run every stage of a wave that is due as of DATE and allowed by its gate.

use super::commands::{Cx, PlanUse, Result, dry_report, mailer, stop_on_signal, unless_stopped};
use super::{parse_date, report};

/// Run every stage of a wave that is due as of DATE and allowed by its gate: extract (once),
/// rate, reconcile, notify, switch.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The wave id (the `id` in its wave file).
    #[arg(long)]
    pub wave: String,
    /// The day to run as (default: today). Use it to catch up or simulate.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Put held accounts back to be rated and reconciled again first (after a fix).
    #[arg(long)]
    pub recheck_held: bool,
    /// Judge again, under the wave file as it is now, the accounts reconciled under another
    /// tolerance or other accepted reasons (the file changed since): those not yet notified go
    /// back to `rated` and this run reconciles them; an account held by it can be waived. Those
    /// already notified keep their verdict (counted).
    #[arg(long)]
    pub rejudge: bool,
    /// Show what would happen (each account's change, the mail and files), on a copy: nothing is
    /// written and nothing sent. Exits as the real run would.
    #[arg(long)]
    pub dry_run: bool,
    /// Worker threads for rating and reconciling, each claiming its own pages of accounts
    /// (README "Running as a team"). Other processes on the same store are workers too.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { wave, as_of, recheck_held, rejudge, dry_run, workers } = self;
        let (mut engine, dry) = cx.open_for(dry_run, PlanUse::Whole).await?;
        engine.workers = workers.max(1);
        // SIGTERM/SIGINT: each stage finishes the page in hand, lets its claims go and starts
        // no other (README "Running as a team").
        stop_on_signal(&engine, "run");
        let ctx = cx.ctx("run", as_of)?;
        if recheck_held {
            engine.runnable_wave(&wave)?;
            let (n, by_person) = engine.recheck_held(&wave, &ctx).await?;
            println!("{n} held account(s) put back for another check");
            if by_person > 0 {
                println!(
                    "{by_person} held by a person stay held: `cutover hold ACCOUNT --release --reason …` puts one back"
                );
            }
        }
        if !rejudge {
            // A wave file changed since its accounts were reconciled: said before they move on.
            let n = engine.judged_otherwise(&wave).await?;
            if n.reconciled + n.notified > 0 {
                eprintln!(
                    "note: {} reconciled and {} notified account(s) of {wave} would be judged otherwise under the \
                     wave file as it is now (its tolerance or accepted reasons changed since): this run keeps those \
                     verdicts; `cutover run --wave {wave} --rejudge` judges again those whose customers were not \
                     told yet",
                    n.reconciled, n.notified
                );
            }
        }
        if rejudge {
            let n = engine.rejudge(&wave, &ctx).await?;
            println!("{n} reconciled account(s) put back to be judged under the wave file as it is now");
            // What is left judged otherwise: accounts whose customers were told.
            let left = engine.judged_otherwise(&wave).await?;
            let told = left.reconciled + left.notified;
            if told > 0 {
                eprintln!(
                    "note: {told} account(s) of {wave} would be judged otherwise and keep their verdict (their \
                     customers were told): they are cut over as planned unless held (`cutover hold ACCOUNT --reason \
                     …`); `cutover rollback ACCOUNT` takes one back after its cut-over"
                );
            }
        }
        let mailer = mailer(&engine)?;
        let r = engine.run_wave(&wave, &ctx, &mailer).await?;
        print!("{}", report::run_text(&r));
        // As `switch` says them: the sets its switch stage wrote (a dry run's are gone).
        if dry.is_none() {
            for set in &r.switched.sets {
                println!("load files written: {} (its manifest.json lists them)", set.display());
            }
        }
        dry_report(dry, &engine).await?;
        let code = u8::from(
            r.notified.failed > 0 || r.switched.late > 0 || r.gate != Some(crate::reconcile::GateVerdict::Proceed),
        );
        unless_stopped(&engine, "run", code).await
    }
}
