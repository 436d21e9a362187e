//! `cutover switch`: cut over the accounts that are due as of DATE, notified and passing, if the gate allows, and write the wave's load files.

use super::commands::{Cx, PlanUse, Result, dry_report, stop_on_signal, unless_stopped};
use super::{Failure, parse_date};
use std::path::PathBuf;

/// Cut over the accounts that are due as of DATE, notified and passing, if the gate allows,
/// and write the wave's load files (`import/<wave>/<date>/`, README "Loading a wave into
/// Zuora"). With --confirm: apply the load's result file instead.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
    #[arg(long, required_unless_present = "confirm")]
    pub wave: Option<String>,
    /// The day to act as, YYYY-MM-DD (default: today): catch up, or simulate a date.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// The load's result file (account number, status success/failed, target id or error):
    /// successes become `loaded`, failures go back to `held` with the target's error.
    #[arg(long, value_name = "RESULTS.csv", conflicts_with = "wave")]
    pub confirm: Option<PathBuf>,
    /// Show what would happen (each account's change, the mail and files), on a copy: nothing is
    /// written and nothing sent. Exits as the real run would. For a cut-over (`--wave`), not
    /// with `--confirm`.
    #[arg(long, conflicts_with = "confirm")]
    pub dry_run: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        match self {
            Args { confirm: Some(file), as_of, .. } => {
                let engine = cx.open().await?;
                let ctx = cx.ctx("switch --confirm", as_of)?;
                let r = engine.confirm_load(&file, &ctx).await?;
                for p in &r.problems {
                    eprintln!("{p}");
                }
                println!(
                    "{}: {} loaded, {} failed{}, {} unchanged, {} row(s) not applied",
                    file.display(),
                    r.loaded,
                    r.failed,
                    if r.failed > 0 { " (back to held, legacy billing resumes)" } else { "" },
                    r.unchanged,
                    r.problems.len()
                );
                if !r.failed_accounts.is_empty() {
                    println!("failed to load (held; the legacy system bills them): {}", r.failed_accounts.join(", "));
                }
                // Any failed row needs a person, whether recorded by this run or an earlier one.
                Ok(u8::from(!r.failed_accounts.is_empty() || !r.problems.is_empty()))
            }
            Args { wave, as_of, confirm: None, dry_run } => {
                let wave = wave.ok_or_else(|| Failure::input(anyhow::anyhow!("--wave is required")))?;
                let (engine, dry) = cx.open_for(dry_run, PlanUse::Whole).await?;
                stop_on_signal(&engine, "switch");
                let ctx = cx.ctx("switch", as_of)?;
                let (gate, r) = engine.switch_wave(&wave, &ctx).await?;
                for n in &r.notes {
                    eprintln!("note: {n}");
                }
                println!(
                    "{wave} as of {}: gate {}; {} account(s) cut over, {} held",
                    ctx.as_of,
                    gate.as_str(),
                    r.done,
                    r.held
                );
                if dry.is_none() {
                    for set in &r.sets {
                        println!("load files written: {} (its manifest.json lists them)", set.display());
                    }
                }
                dry_report(dry, &engine).await?;
                // Customers told of a new bill that will not come (a switch run too late) need a
                // person, as a gate that did not pass does.
                let code = u8::from(gate != crate::reconcile::GateVerdict::Proceed || r.late > 0);
                unless_stopped(&engine, "switch", code).await
            }
        }
    }
}
