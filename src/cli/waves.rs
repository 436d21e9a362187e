//! `cutover waves`: the waves of the plan.

use super::commands::{Cx, Result};
use super::{StatusFormat, report};

/// The waves of the plan: id, name, window, and accounts per state.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatusFormat,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { format } = self;
        let engine = cx.open_despite("waves").await?;
        print!("{}", report::waves(&engine, format.into()).await?);
        Ok(0)
    }
}
