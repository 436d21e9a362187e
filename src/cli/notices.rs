//! `cutover notices`: report a wave's notices.

use super::commands::{Cx, Result, today};
use super::{Failure, Format, parse_date, report};

/// Report a wave's notices: sent, failed (with the server's reply), printed, unknown, and the
/// accounts that could not be scheduled.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
    #[arg(long)]
    pub wave: String,
    /// Instead: the accounts whose notice is due in the next DAYS days (the --as-of day, default
    /// today, and the DAYS - 1 after it), with their dates, earliest first.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub upcoming: Option<u32>,
    /// With --upcoming: the day to count from, YYYY-MM-DD (default: today).
    #[arg(long, value_name = "DATE", value_parser = parse_date, requires = "upcoming")]
    pub as_of: Option<chrono::NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: NoticesFormat,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        match self {
            Args { wave, upcoming: Some(days), as_of, format } => {
                let engine = cx.open_on("notices", Some(&wave)).await?;
                let from = as_of.unwrap_or_else(today);
                // DAYS days, counting the first: 14 from the 20th ends on the 3rd, not the 4th.
                let to = from + chrono::Days::new(u64::from(days) - 1);
                let rows = engine.store.upcoming_notices(&wave, from, to).await?;
                print!("{}", report::upcoming(&wave, from, to, &rows, format.into())?);
                Ok(0)
            }
            Args { wave, upcoming: None, format, .. } => {
                let engine = cx.open_on("notices", Some(&wave)).await?;
                let r = engine.notice_report(&wave).await?;
                print!("{}", crate::notify::report::render(&r, format.into()).map_err(Failure::operational)?);
                Ok(0)
            }
        }
    }
}

/// The formats of the notice report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NoticesFormat {
    Text,
    Json,
    Csv,
}

impl From<NoticesFormat> for crate::output::Format {
    fn from(f: NoticesFormat) -> Self {
        match f {
            NoticesFormat::Text => Format::Text,
            NoticesFormat::Json => Format::Json,
            NoticesFormat::Csv => Format::Csv,
        }
    }
}
