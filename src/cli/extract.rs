//! `cutover extract`: read the whole legacy source into the state store.

use super::commands::{Cx, Result};

/// Read the whole legacy source into the state store (a full, atomic refresh). Bad rows are
/// quarantined with their reason; `status` lists them.
#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let engine = cx.open().await?;
        let ctx = cx.ctx("extract", None)?;
        let c = match engine.extract_once(&ctx).await? {
            Ok(c) => c,
            Err(busy) => {
                println!("{busy}: not starting another");
                return Ok(0);
            }
        };
        for w in &c.warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "extracted {} accounts and {} records from {}; {} rows quarantined (see `cutover status`)",
            c.accounts, c.records, c.source, c.quarantined
        );
        Ok(0)
    }
}
