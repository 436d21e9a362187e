//! `cutover rollback`: return one cut-over account to the legacy system, with a reason.

use super::AccountWhy;
use super::commands::{Cx, PlanUse, Result, dry_report};

/// Return one cut-over account to the legacy system, with a reason (journaled): a reversal
/// record goes to its set's rollback.csv and it leaves the set's load files. A person's decision,
/// not a stage: it takes no `--as-of`, and is journaled at the real time it is made.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub of: AccountWhy,
    /// Show what would happen (each account's change, the mail and files), on a copy: nothing is
    /// written and nothing sent. Exits as the real run would.
    #[arg(long)]
    pub dry_run: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { of: AccountWhy { account, reason }, dry_run } = self;
        let (engine, dry) = cx.open_for(dry_run, PlanUse::ValidPart("rollback")).await?;
        let ctx = cx.ctx("rollback", None)?;
        if engine.rollback(&account, &reason, &ctx).await? {
            println!("{account} rolled back: {reason}");
            if let Some(c) = engine.store.cutover(&account).await? {
                let record = engine.set_dir(&c.wave, c.cutover_date).join("rollback.csv").display().to_string();
                // A dry run's scratch folder is gone when it ends: the path the real run writes.
                let (record, would) = match &dry {
                    Some(d) => (d.real(&record), "would be"),
                    None => (record, "is"),
                };
                println!(
                    "  legacy billing resumes from {}; the reversal record {would} in {record}",
                    c.first_new_bill_date
                );
                // Months the target may have billed already (its load files went out): both
                // systems must act on them.
                if c.published && ctx.as_of >= c.first_new_bill_date {
                    eprintln!(
                        "note: {account}'s first new bill date, {}, has passed: the legacy system bills again from \
                         that day, so whatever the target billed it since must be credited there \
                         (rollback.csv says what to cancel)",
                        c.first_new_bill_date
                    );
                }
            }
        } else {
            // The earlier rollback stands; this reason is not recorded (a person may have meant
            // another account).
            let earlier = engine.store.journal(&account).await?.into_iter().rev().find(|j| j.to == "rolled_back");
            match earlier {
                Some(j) => println!(
                    "{account} was already rolled back ({} by {}: {}); nothing changed, and this reason was not \
                     recorded",
                    j.recorded_at.as_deref().unwrap_or(&j.at),
                    j.actor,
                    j.reason
                ),
                None => {
                    println!("{account} was already rolled back; nothing changed, and this reason was not recorded")
                }
            }
        }
        dry_report(dry, &engine).await?;
        Ok(0)
    }
}
