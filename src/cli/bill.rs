//! `cutover bill`: print an account's bill for a period in the new format.

use super::commands::{Cx, Result, open_or_scratch};
use super::{Failure, Format};

/// Print an account's bill for a period in the new format (or, with --legacy, the old one).
/// Works on a fresh workspace too.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The legacy account number.
    pub account: String,
    /// The bill period, YYYY-MM.
    #[arg(long)]
    pub period: crate::domain::Period,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: BillFormat,
    /// Show what the legacy system billed instead.
    #[arg(long)]
    pub legacy: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { account, period, format, legacy } = self;
        let engine = open_or_scratch(
            &cx.root,
            crate::store::extraction::Filter::Accounts(vec![account.clone()]),
            super::commands::PlanUse::ValidPart("bill"),
        )
        .await?;
        let accts = engine.store.legacy_accounts(std::slice::from_ref(&account)).await?;
        let Some(acct) = accts.into_iter().next() else {
            let q = engine.store.quarantine(Some(&account)).await?;
            let why = q.first().map(|q| format!(" (its row was quarantined: {})", q.reason)).unwrap_or_default();
            let hint = crate::store::case_hint(&account);
            return Err(Failure::input(anyhow::anyhow!("no account {account} in the legacy source{why}{hint}")));
        };
        if legacy {
            print!("{}", crate::bill::render_legacy(&acct, period, format.into()).map_err(Failure::operational)?);
            // No line at all: not a bill of 0, but none (before the account's history, after the
            // last extraction, or a period it was not billed).
            if !acct.invoice_lines.iter().any(|l| l.period == period) {
                let billed: Vec<_> = acct.invoice_lines.iter().map(|l| l.period).collect();
                let range = match (billed.iter().min(), billed.iter().max()) {
                    (Some(a), Some(b)) => format!("its legacy bills extracted run from {a} to {b}"),
                    _ => "no legacy bill of it was extracted".to_string(),
                };
                eprintln!("note: the legacy system has no bill of {account} for {period} ({range})");
            }
            // A period the legacy system was told to stop billing: a legacy bill for it is a
            // second bill to the customer, by the extraction's rule (`status ACCOUNT` lists them).
            let starts = period.bill_period(acct.account.bill_cycle_day).start;
            if let Some(c) = engine.store.cutover(&account).await?
                && c.legacy_billing != "restored"
                && starts >= c.first_new_bill_date
            {
                // What is shown is every line of the period the store holds, whenever issued: the
                // rule is applied to those (as of today), not to the last extraction's day.
                let twice = super::report::billed_twice_as_of(&engine, &c, &acct, super::commands::today());
                match twice.iter().find(|(p, _)| *p == period) {
                    Some((_, amount)) => eprintln!(
                        "note: {account} is cut over and the legacy system was to stop billing it from {} \
                         (legacy-suppression.csv); it billed this period anyway ({} {}): a second bill to the \
                         customer, to credit",
                        c.first_new_bill_date,
                        crate::bill::money(*amount),
                        acct.account.currency
                    ),
                    None => eprintln!(
                        "note: {account} is cut over: the legacy system was to stop billing it from {} \
                         (legacy-suppression.csv), and the new system bills this period; the legacy records \
                         extracted (`cutover extract` reads them again) hold no second bill for it, or one credited",
                        c.first_new_bill_date
                    ),
                }
            }
        } else {
            // Usage in arrears; the first new bill by the wave's carry-over rule (SPEC §4).
            // Only an account the target system bills gets invoices; any other bill is a preview.
            let rated = engine.new_bill(&acct, period).await?;
            print!(
                "{}",
                crate::bill::render(&acct.account.name, &rated, &engine.ws.config.remit_to, format.into())
                    .map_err(Failure::operational)?
            );
        }
        Ok(0)
    }
}

/// The formats a bill is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BillFormat {
    Text,
    Html,
    Json,
    Csv,
}

impl From<BillFormat> for crate::output::Format {
    fn from(f: BillFormat) -> Self {
        match f {
            BillFormat::Text => Format::Text,
            BillFormat::Html => Format::Html,
            BillFormat::Json => Format::Json,
            BillFormat::Csv => Format::Csv,
        }
    }
}
