//! `cutover contacts`: billing email addresses customers submitted through the form.

use super::commands::{Cx, Result};
use std::path::PathBuf;

/// Billing email addresses customers submitted through the form.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: ContactsAction,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { action: ContactsAction::Import { file } } = self;
        let engine = cx.open().await?;
        let ctx = cx.ctx("contacts import", None)?;
        let r = engine.import_contacts(&file, &ctx).await?;
        for x in &r.rejected {
            eprintln!("{}:{}: {} {}", file.display(), x.line, x.account_number, x.reason);
        }
        for n in &r.notes {
            eprintln!("note: {n}");
        }
        println!("{} account(s) updated, {} unchanged, {} row(s) rejected", r.updated, r.unchanged, r.rejected.len());
        Ok(u8::from(!r.rejected.is_empty()))
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum ContactsAction {
    /// Import the form's CSV export (account_number, email, name, submitted_at): addresses are
    /// validated and de-duplicated, the latest submission wins, every change is journaled. They
    /// become the account's bill recipients.
    Import { file: PathBuf },
}
