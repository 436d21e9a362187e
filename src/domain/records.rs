//! Typed legacy records (SPEC §2), produced by [`crate::extract`] from raw rows.

use super::{Decimal, Period};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Colocation,
    MultiTenant,
    Cloud,
    Internet,
    Wireless,
}

impl Segment {
    pub const ALL: [Segment; 5] =
        [Segment::Colocation, Segment::MultiTenant, Segment::Cloud, Segment::Internet, Segment::Wireless];

    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Colocation => "colocation",
            Segment::MultiTenant => "multi_tenant",
            Segment::Cloud => "cloud",
            Segment::Internet => "internet",
            Segment::Wireless => "wireless",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Segment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Segment::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
            format!("unknown segment `{s}` (expected colocation, multi_tenant, cloud, internet or wireless)")
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Closed,
}

/// `accounts.csv`: one customer account of the legacy system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_number: String,
    pub name: String,
    pub segment: Segment,
    pub site: Option<String>,
    pub currency: String,
    pub bill_cycle_day: u32,
    /// Raw addresses as the legacy system holds them; validated by [`crate::notify`].
    pub bill_to_email: Vec<String>,
    pub status: AccountStatus,
}

/// `services.csv`: what the customer has, at its contracted price per unit per period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub account_number: String,
    pub service_id: String,
    pub legacy_code: String,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub start_date: NaiveDate,
    /// Last day of service, inclusive; `None` is open-ended.
    pub end_date: Option<NaiveDate>,
}

/// `usage.csv`: metered consumption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub account_number: String,
    pub service_id: String,
    pub legacy_code: String,
    pub usage_date: NaiveDate,
    pub quantity: Decimal,
    pub uom: String,
}

/// `legacy_invoice_lines.csv`: what the legacy system actually billed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyLine {
    pub account_number: String,
    pub invoice_number: String,
    pub period: Period,
    pub legacy_code: String,
    pub description: String,
    pub service_start: Option<NaiveDate>,
    pub service_end: Option<NaiveDate>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
}

/// Which contact of an account a `contacts.csv` row is (Zuora's Bill To and Sold To).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    BillTo,
    SoldTo,
}

impl ContactRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactRole::BillTo => "bill_to",
            ContactRole::SoldTo => "sold_to",
        }
    }
}

/// `contacts.csv` (optional, SPEC §2 extended): a person and a postal address of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub account_number: String,
    pub role: Option<ContactRole>,
    pub first_name: String,
    pub last_name: String,
    pub work_email: String,
    pub phone: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
}

impl Contact {
    /// A letter can reach it: a street line, a city and a country (a postal code where the
    /// country has them is the post's business, not ours).
    pub fn has_postal_address(&self) -> bool {
        !self.address1.trim().is_empty() && !self.city.trim().is_empty() && !self.country.trim().is_empty()
    }
}

/// Everything the legacy system knows about one account: the unit every later stage works on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyAccount {
    pub account: Account,
    pub services: Vec<Service>,
    pub usage: Vec<Usage>,
    pub invoice_lines: Vec<LegacyLine>,
    /// Bill To / Sold To contacts (`contacts.csv`, optional).
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

impl LegacyAccount {
    pub fn new(account: Account) -> Self {
        LegacyAccount { account, services: vec![], usage: vec![], invoice_lines: vec![], contacts: vec![] }
    }

    /// The contact in `role`, if the legacy system has one.
    pub fn contact(&self, role: ContactRole) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.role == Some(role))
    }

    /// The periods the legacy system billed, oldest first.
    pub fn legacy_periods(&self) -> Vec<Period> {
        let mut p: Vec<Period> = self.invoice_lines.iter().map(|l| l.period).collect();
        p.sort();
        p.dedup();
        p
    }
}
