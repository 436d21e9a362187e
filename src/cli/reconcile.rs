//! `cutover reconcile`: compare legacy and new bills per account and period, with the wave's gate verdict.

use super::commands::{Cx, Result, actor, open_or_scratch, today};
use super::{Failure, Format};
use crate::engine::Ctx;

/// Compare legacy and new bills per account and period, with the wave's gate verdict. On a
/// fresh workspace it reads the legacy source directly (nothing is stored).
///
/// Every report is kept as a numbered run of the wave (unless its outcome equals the last
/// run's) and says what changed since the previous run. `--format html` is a self-contained
/// page with charts, a sortable table and a drill-down per account.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
    #[arg(long)]
    pub wave: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// With `--format csv`: one row per line difference instead of one per account and period.
    #[arg(long)]
    pub lines: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { wave, format, lines } = self;
        if lines && format != super::Format::Csv {
            return Err(Failure::input(anyhow::anyhow!("--lines goes with --format csv")));
        }
        let engine = open_or_scratch(
            &cx.root,
            crate::store::extraction::Filter::Wave(wave.clone()),
            super::commands::PlanUse::Whole,
        )
        .await?;
        let w = engine.runnable_wave(&wave)?.clone();
        let ctx =
            Ctx::new(today(), actor(&cx.actor, "reconcile").unwrap_or_else(|_| "unnamed (reconcile report)".into()));
        let pending =
            engine.store.count_wave(&wave, &[crate::domain::State::Extracted, crate::domain::State::Rated]).await?;
        // A report never moves state: only a scratch store (a fresh workspace, nothing kept)
        // is rated and reconciled here. On the workspace's store it reports what is stored.
        if pending > 0 && engine.store.is_scratch() {
            engine.rate_and_reconcile(&wave, &ctx).await?;
        } else if pending > 0 {
            eprintln!(
                "note: {pending} account(s) of {wave} wait to be reconciled (new, or put back by a waiver or a \
                 recheck): this report shows the last verdict of those that had one; `cutover run --wave {wave}` \
                 reconciles them"
            );
        }
        let mut rep = engine.reconciliation(&w).await?;
        // The verdicts are those of each account's reconciliation: a wave file changed since
        // (a tolerance, an accepted reason) does not re-judge them. Said, not hidden, for those
        // whose status it would change.
        let otherwise = engine.judged_otherwise_in(&rep, &crate::reconcile::Policy::of(&w)).await?;
        if otherwise > 0 {
            eprintln!(
                "note: {otherwise} account(s) of {wave} would be judged otherwise under the wave file as it is now \
                 (its tolerance or accepted reasons changed since): their verdicts below are the earlier ones. \
                 `cutover run --wave {wave} --rejudge` judges again those whose customers were not told yet, \
                 `--recheck-held` puts held ones back; accounts reconciled from now on are judged under the file \
                 as it is"
            );
        }
        engine.record_run(&mut rep, "reconcile", &ctx).await?;
        engine.stamp(&mut rep, &ctx, chrono::Utc::now()).await?;
        let out = if lines {
            crate::reconcile::report::render_lines_csv(&rep)
        } else {
            if format == super::Format::Html {
                engine.attach_bills(&mut rep, DRILL_DOWN).await?;
            }
            crate::reconcile::report::render(&rep, format)
        };
        print!("{}", out.map_err(Failure::operational)?);
        let unwaived = rep.summary.failed > rep.summary.waived;
        Ok(u8::from(unwaived || rep.gate != crate::reconcile::GateVerdict::Proceed))
    }
}

/// Accounts with a drill-down in the HTML report (largest money at stake first).
const DRILL_DOWN: usize = 100;
