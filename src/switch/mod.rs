//! Cut over: what an account is loaded into the target with (Zuora Data Loader files), what the
//! legacy system must stop doing (the suppression record), what undoes it (reversal records), and
//! what the target said (the load results). Pure: the engine decides who is in a set, writes the
//! files and records the states.
//!
//! The files of one wave and cut-over date (`import/<wave>/<date>/`) are a *projection of the
//! store*: each account's rows are built from the snapshot ([`Member`]) taken when it was cut
//! over, so rebuilding a set gives the same bytes, and a crash is repaired by building it again.

mod files;
mod results;

pub use files::{
    ACCOUNT_HEADER, AccountRows, FileStat, LOAD_ORDER, Manifest, ROLLBACK_HEADER, SUBSCRIPTION_HEADER,
    SUPPRESSION_HEADER, SetInfo, Totals, USAGE_HEADER, account_rows, charge_number, manifest, readme, reversal_row,
    subscription_number, to_csv,
};
pub use results::{LoadOutcome, LoadResult, ResultsProblem, parse_results};

use crate::domain::{BillPeriod, LegacyAccount};
use crate::plan::{UsageCarryover, schedule::Schedule};
use serde::{Deserialize, Serialize};

/// Fixed values of the load files, from `cutover.yaml` (`load:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadConfig {
    /// Zuora's bill run batch the accounts are put in.
    pub batch: String,
    /// A communication profile that sends nothing, so the target is silent during the load.
    pub communication_profile: String,
    /// `EVERGREEN` or `TERMED`.
    pub term_type: String,
    pub payment_term: String,
    /// How usage.csv writes STARTDATE and ENDDATE. Zuora reads them in the uploading user's
    /// locale (en_US: MM/DD/YYYY, en_GB: DD/MM/YYYY); ISO by default.
    pub usage_dates: UsageDates,
}

/// The date format of usage.csv's STARTDATE and ENDDATE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UsageDates {
    /// `YYYY-MM-DD`
    #[default]
    #[serde(rename = "iso")]
    Iso,
    /// `MM/DD/YYYY`, as Zuora reads them for a user with the English (United States) locale.
    #[serde(rename = "en_US")]
    EnUs,
    /// `DD/MM/YYYY`, English (United Kingdom).
    #[serde(rename = "en_GB")]
    EnGb,
}

impl UsageDates {
    pub fn format(self, d: chrono::NaiveDate) -> String {
        match self {
            UsageDates::Iso => d.format("%Y-%m-%d"),
            UsageDates::EnUs => d.format("%m/%d/%Y"),
            UsageDates::EnGb => d.format("%d/%m/%Y"),
        }
        .to_string()
    }
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            batch: "Batch20".into(),
            communication_profile: "Migration - Silent".into(),
            term_type: "EVERGREEN".into(),
            payment_term: "Net 30".into(),
            usage_dates: UsageDates::Iso,
        }
    }
}

/// What an account's load rows are built from, taken when it is cut over and kept with its
/// cut-over in the store (so a rebuild never depends on a later extraction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The legacy records: services, contacts, and the usage of the last legacy bill period.
    pub account: LegacyAccount,
    /// The validated billing addresses ([`LegacyAccount::billing_emails`]: the form's, else the
    /// legacy `bill_to_email` and the contacts' work emails), as of the cut-over.
    pub emails: Vec<String>,
    pub schedule: Schedule,
    pub usage_carryover: UsageCarryover,
    /// The extraction the records came from.
    pub extraction: Option<i64>,
}

/// The last legacy bill period: the one that ends the day before the first new bill date. Its
/// usage is on no bill yet at cut-over (usage is billed in arrears, SPEC §4).
pub fn last_legacy_period(first_new_bill_date: chrono::NaiveDate, cycle_day: u32) -> BillPeriod {
    let last_day = first_new_bill_date.pred_opt().unwrap_or(first_new_bill_date);
    crate::rate::period_holding(last_day, cycle_day).bill_period(cycle_day)
}

/// What the legacy system was told about one cut-over account (its legacy-suppression.csv row):
/// bill nothing from the first new bill date, but for a final usage bill of the last legacy
/// period when the wave leaves that usage to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub first_new_bill_date: chrono::NaiveDate,
    pub usage_carryover: UsageCarryover,
    pub cycle_day: u32,
}

impl Suppressed {
    /// Whether a legacy invoice line bills the customer a second time: it is on a legacy bill of
    /// a period starting on or after the first new bill date, issued by `as_of` (a bill is issued
    /// on the first day of its period; what was issued later did not exist yet), and it is not
    /// the final usage bill's usage of the last legacy period that the wave left to the legacy
    /// system. `usage`: the line is a usage charge's (by the catalog).
    pub fn billed_twice(&self, line: &crate::domain::LegacyLine, usage: bool, as_of: chrono::NaiveDate) -> bool {
        let issued = line.period.bill_period(self.cycle_day).start;
        if issued < self.first_new_bill_date || issued > as_of {
            return false;
        }
        let last = last_legacy_period(self.first_new_bill_date, self.cycle_day);
        let in_last = match (line.service_start, line.service_end) {
            (Some(s), Some(e)) => s >= last.start && e <= last.end,
            // Without its service dates, the usage on the first bill after the last legacy period.
            _ => issued == self.first_new_bill_date,
        };
        !(usage && in_last && self.usage_carryover == UsageCarryover::Legacy)
    }

    /// Of the amounts billed twice, per period, those still owed back: a period whose lines net
    /// to nothing or less was credited (the legacy team did what the warning asks).
    pub fn still_billed<I>(per_period: I) -> Vec<(crate::domain::Period, crate::domain::Decimal)>
    where
        I: IntoIterator<Item = (crate::domain::Period, crate::domain::Decimal)>,
    {
        per_period.into_iter().filter(|(_, amount)| *amount > crate::domain::Decimal::ZERO).collect()
    }
}

/// Builds the snapshot of an account for its cut-over: invoice lines dropped, usage kept only for
/// the last legacy bill period.
pub fn member(
    acct: &LegacyAccount,
    emails: Vec<String>,
    schedule: Schedule,
    usage_carryover: UsageCarryover,
    extraction: Option<i64>,
) -> Member {
    let last = last_legacy_period(schedule.first_new_bill_date, acct.account.bill_cycle_day);
    let mut account = acct.clone();
    account.invoice_lines.clear();
    account.usage.retain(|u| last.contains(u.usage_date));
    Member { account, emails, schedule, usage_carryover, extraction }
}

/// The valid addresses its notice and bills go to by email ([`LegacyAccount::billing_emails`]:
/// the form's submission, else the legacy `bill_to_email` and the contacts' work emails).
pub fn reachable_emails(acct: &LegacyAccount, form: Option<&[String]>) -> Vec<String> {
    let (ok, _) = crate::notify::recipients(&acct.billing_emails(form));
    ok.iter().map(|e| e.to_string()).collect()
}

/// Why an account cannot be cut over for lack of any way to reach it, or `None`.
pub fn unreachable(acct: &LegacyAccount, emails: &[String]) -> Option<String> {
    if !emails.is_empty() || acct.contacts.iter().any(|c| c.has_postal_address()) {
        return None;
    }
    Some(
        "no valid billing email and no postal address (contacts.csv): its notice and bills would reach no \
         one; add a contact, then `run --recheck-held`"
            .to_string(),
    )
}

#[cfg(test)]
mod tests;
