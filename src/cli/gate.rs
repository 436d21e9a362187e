//! `cutover gate`: the wave's gate.

use super::commands::{Cx, Result};
use super::{Failure, non_blank};

/// The wave's gate: promote a paused wave.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: GateAction,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { action: GateAction::Promote { wave, reason } } = self;
        let engine = cx.open().await?;
        let ctx = cx.ctx("gate promote", None)?;
        use crate::engine::Promoted;
        match engine.promote(&wave, &reason, &ctx).await? {
            Promoted::Promoted => println!("{wave}: promoted; the wave proceeds ({reason})"),
            Promoted::Already => println!("{wave}: this reconciliation was promoted already; nothing changed"),
            Promoted::NotPaused => println!("{wave}: the gate says proceed; nothing to promote"),
            Promoted::Aborted(why) => {
                return Err(Failure::problems(format!(
                    "{wave}: the gate says abort ({why}); an abort cannot be promoted: fix the causes and reconcile again"
                )));
            }
        }
        Ok(0)
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum GateAction {
    /// Let a paused wave proceed: you have looked at its reconciliation (journaled on the wave).
    /// An aborted wave cannot be promoted; a later, different reconciliation is judged afresh.
    Promote {
        /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
        #[arg(long)]
        wave: String,
        /// Why: kept in the wave's journal and shown in every report.
        #[arg(long, value_parser = non_blank)]
        reason: String,
    },
}
