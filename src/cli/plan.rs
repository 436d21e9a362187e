//! `cutover plan`: check the plan.

use super::Failure;
use super::commands::{Cx, Result, load_plan};
use crate::workspace::Workspace;
use std::path::Path;

/// Check the plan (wave files and catalog).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: PlanAction,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { action: PlanAction::Check } = self;
        plan_check(&cx.root)
    }
}

fn plan_check(root: &Path) -> Result<u8> {
    let ws = Workspace::open(root)?;
    let checked = load_plan(&ws)?;
    for p in &checked.problems {
        eprintln!("{p}");
    }
    let errors = checked.errors().count();
    if errors > 0 {
        return Err(Failure::input(anyhow::anyhow!("{errors} problem(s) in the plan")));
    }
    if let Some(plan) = &checked.plan {
        println!(
            "plan ok: {} wave(s), {} product(s), {} legacy code(s) mapped",
            plan.waves.len(),
            plan.catalog.products.len(),
            plan.catalog.by_code.len()
        );
    }
    Ok(0)
}

#[derive(Debug, clap::Subcommand)]
pub enum PlanAction {
    /// Validate the wave files and the catalog: exit 0, or exit 2 with one `file:line:col: message`
    /// per problem on stderr. Warnings (an undated wave) do not fail the check.
    Check,
}
