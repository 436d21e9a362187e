//! Typed legacy records (SPEC §2), produced by [`crate::extract`] from raw rows.

use super::{Decimal, Period};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Colocation,
    MultiTenant,
    Cloud,
    Internet,
    Wireless,
}

super::spelled! {
    Segment {
        Colocation => "colocation",
        MultiTenant => "multi_tenant",
        Cloud => "cloud",
        Internet => "internet",
        Wireless => "wireless",
    } unknown: |s| format!("unknown segment `{s}`")
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

    /// The addresses its bills go to by email, as given (not yet validated): those the customer
    /// submitted through the email form (`form`: they chose them, nothing is added), else the
    /// legacy system's `bill_to_email` and its contacts' work emails. The notice goes to them and
    /// says so, and the load files give them to the target: one list for both.
    pub fn billing_emails(&self, form: Option<&[String]>) -> Vec<String> {
        match form {
            Some(chosen) => chosen.to_vec(),
            None => {
                let contacts = self.contacts.iter().map(|c| c.work_email.trim()).filter(|e| !e.is_empty());
                self.account.bill_to_email.iter().cloned().chain(contacts.map(str::to_string)).collect()
            }
        }
    }

    /// Whether any service is active on `date` (started on or before it, not ended before it).
    pub fn has_service_on(&self, date: NaiveDate) -> bool {
        self.services.iter().any(|s| s.start_date <= date && s.end_date.is_none_or(|e| e >= date))
    }

    /// The last day of the services that ended before `date`, and the first day of those that
    /// start after it (for messages about an account with nothing active on `date`).
    pub fn services_around(&self, date: NaiveDate) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let ended = self.services.iter().filter_map(|s| s.end_date).filter(|e| *e < date).max();
        let next = self.services.iter().map(|s| s.start_date).filter(|s| *s > date).min();
        (ended, next)
    }

    /// The account as it was known on `day`: the legacy bills issued by then (a bill is issued on
    /// its bill date, the first day of its bill period), the usage recorded by then, and the
    /// services known by then. A stage run as of a day sees only this, so a past day replayed (the
    /// demo, a catch-up) never looks ahead. The legacy source records no order date, so a service
    /// counts as known from the start of the bill period it starts in: the bill issued then (in
    /// advance) already charges it.
    pub fn as_of(mut self, day: NaiveDate) -> LegacyAccount {
        let cycle_day = self.account.bill_cycle_day;
        let horizon = Period::billing(day, cycle_day).end;
        self.invoice_lines.retain(|l| Self::line_known(l.period, cycle_day, day));
        self.usage.retain(|u| u.usage_date <= day);
        self.services.retain(|s| s.start_date <= horizon);
        self
    }

    /// Whether a legacy invoice line of `period` was known on `day` (its bill issued, in advance,
    /// at the start of its bill period), for an account billed on `cycle_day`.
    pub fn line_known(period: Period, cycle_day: u32, day: NaiveDate) -> bool {
        period.bill_period(cycle_day).start <= day
    }

    /// Whether the account existed yet on the day it was viewed as of: a service known, or a
    /// legacy bill issued. An account with neither is one the legacy system would not have had
    /// then (a customer who signs later); stages leave it alone until it has.
    pub fn known(&self) -> bool {
        !self.services.is_empty() || !self.invoice_lines.is_empty()
    }

    /// The first day on which [`LegacyAccount::known`] holds for this account viewed as of that
    /// day (its first service or legacy bill), `None` when it never does. Asked of the whole
    /// account, not of a view as of a day.
    pub fn known_from(&self) -> Option<NaiveDate> {
        let cycle_day = self.account.bill_cycle_day;
        let lines = self.invoice_lines.iter().map(|l| l.period.bill_period(cycle_day).start);
        let services = self.services.iter().map(|s| Period::billing(s.start_date, cycle_day).start);
        lines.chain(services).min()
    }

    /// The periods the legacy system billed, oldest first.
    pub fn legacy_periods(&self) -> Vec<Period> {
        let mut p: Vec<Period> = self.invoice_lines.iter().map(|l| l.period).collect();
        p.sort();
        p.dedup();
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An active USD colocation account with nothing else set.
    fn account(number: &str, bill_cycle_day: u32) -> LegacyAccount {
        LegacyAccount::new(Account {
            account_number: number.into(),
            name: String::new(),
            segment: Segment::Colocation,
            site: None,
            currency: "USD".into(),
            bill_cycle_day,
            bill_to_email: vec![],
            status: AccountStatus::Active,
        })
    }

    #[test]
    fn a_service_is_active_from_its_first_to_its_last_day() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let day = d("2017-07-01");
        // (start, end, active on Jul 1, (last end before, next start after))
        #[rustfmt::skip]
        let table = [
            ("2016-01-01", None, true, (None, None)),
            ("2017-07-01", None, true, (None, None)),                          // starts that day
            ("2016-01-01", Some("2017-07-01"), true, (None, None)),            // ends that day
            ("2016-01-01", Some("2017-06-30"), false, (Some("2017-06-30"), None)),
            ("2017-07-02", None, false, (None, Some("2017-07-02"))),
            ("2017-07-02", Some("2017-07-02"), false, (None, Some("2017-07-02"))), // a later one-time
        ];
        for (start, end, active, (ended, next)) in table {
            let mut a = account("A1", 1);
            a.services.push(Service {
                account_number: "A1".into(),
                service_id: "S1".into(),
                legacy_code: "CAB-42U".into(),
                description: String::new(),
                quantity: Decimal::ONE,
                unit_price: Decimal::ONE,
                start_date: d(start),
                end_date: end.map(d),
            });
            assert_eq!(a.has_service_on(day), active, "{start}..{end:?}");
            assert_eq!(a.services_around(day), (ended.map(d), next.map(d)), "{start}..{end:?}");
        }
    }

    #[test]
    fn a_day_sees_the_bills_usage_and_services_that_existed_by_then() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let mut a = account("A1", 15);
        for (id, start) in [("S1", "2016-01-01"), ("S2", "2017-05-15"), ("S3", "2017-08-27")] {
            a.services.push(Service {
                account_number: "A1".into(),
                service_id: id.into(),
                legacy_code: "CAB-42U".into(),
                description: String::new(),
                quantity: Decimal::ONE,
                unit_price: Decimal::ONE,
                start_date: d(start),
                end_date: None,
            });
        }
        for day in ["2017-04-30", "2017-05-14", "2017-05-15", "2017-06-01"] {
            a.usage.push(Usage {
                account_number: "A1".into(),
                service_id: "S1".into(),
                legacy_code: "PWR-KWH".into(),
                usage_date: d(day),
                quantity: Decimal::ONE,
                uom: "kWh".into(),
            });
        }
        for month in 3..=7 {
            a.invoice_lines.push(LegacyLine {
                account_number: "A1".into(),
                invoice_number: format!("INV-{month}"),
                period: Period::new(2017, month).unwrap(),
                legacy_code: "CAB-42U".into(),
                description: String::new(),
                service_start: None,
                service_end: None,
                quantity: Decimal::ONE,
                unit_price: Decimal::ONE,
                amount: Decimal::ONE,
            });
        }
        // (day, services, usage records, bills: bill cycle day 15, so May's bill is issued May 15;
        // S2 starts May 15, so it is on that bill and known from then, not before)
        let table = [
            ("2017-05-14", vec!["S1"], 2, vec!["2017-03", "2017-04"]),
            ("2017-05-15", vec!["S1", "S2"], 3, vec!["2017-03", "2017-04", "2017-05"]),
            ("2017-08-14", vec!["S1", "S2"], 4, vec!["2017-03", "2017-04", "2017-05", "2017-06", "2017-07"]),
            // S3 starts Aug 27, in the bill period issued Aug 15: known from Aug 15.
            ("2017-08-15", vec!["S1", "S2", "S3"], 4, vec!["2017-03", "2017-04", "2017-05", "2017-06", "2017-07"]),
        ];
        for (day, services, usage, bills) in table {
            let seen = a.clone().as_of(d(day));
            let ids: Vec<&str> = seen.services.iter().map(|s| s.service_id.as_str()).collect();
            assert_eq!(ids, services, "{day}");
            assert_eq!(seen.usage.len(), usage, "{day}");
            let periods: Vec<String> = seen.legacy_periods().iter().map(|p| p.to_string()).collect();
            assert_eq!(periods, bills, "{day}");
        }
    }
}
