//! Rate: re-prices an account's legacy services and usage in the new model (SPEC §4). Pure.
//!
//! Recurring and one-time lines use the service's contracted `quantity × unit_price`; a partial
//! period is prorated by the charge's (or catalog's) convention; usage is priced by the catalog's
//! model over the period's total quantity. Each line amount is rounded exactly once, by
//! [`round_line`]; a bill's total is the sum of its rounded lines.

mod price;

pub use price::{price_usage, round_line};

use crate::domain::{BillPeriod, Decimal, LegacyAccount, Period};
use crate::plan::{Catalog, ChargeType, Proration};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of a new-format bill (SPEC §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillLine {
    pub group: String,
    pub product: String,
    pub charge: String,
    pub charge_type: String,
    pub legacy_code: String,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
    /// How the amount was computed, e.g. `14/30 days x 1 x 1200.00`.
    pub calculation: String,
    /// True when the line covers less than the full bill period.
    pub partial: bool,
}

/// A bill in the new format for one account and period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewBill {
    pub account_number: String,
    pub period: Period,
    pub currency: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub lines: Vec<BillLine>,
    pub total: Decimal,
}

/// Something in the legacy data the new model cannot bill; the line is left off the bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateIssue {
    pub legacy_code: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rated {
    pub bill: NewBill,
    pub issues: Vec<RateIssue>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("account {account} bills in {currency}, which the catalog cannot price (it prices {catalog})")]
    Currency { account: String, currency: String, catalog: String },
}

/// Rates one account for one period under the catalog's conventions.
pub fn rate(acct: &LegacyAccount, catalog: &Catalog, period: Period) -> Result<Rated, RateError> {
    rate_with(acct, catalog, period, None)
}

/// Like [`rate`], but every recurring charge prorated by `convention` (used to re-rate under the
/// legacy system's convention when explaining a difference).
pub fn rate_with(
    acct: &LegacyAccount,
    catalog: &Catalog,
    period: Period,
    convention: Option<Proration>,
) -> Result<Rated, RateError> {
    let a = &acct.account;
    if a.currency != catalog.currency {
        return Err(RateError::Currency {
            account: a.account_number.clone(),
            currency: a.currency.clone(),
            catalog: catalog.currency.clone(),
        });
    }
    let bp = period.bill_period(a.bill_cycle_day);
    let mut lines = Vec::new();
    let mut issues = Vec::new();
    let rounding = catalog.rounding;

    for s in &acct.services {
        let Some((product, charge)) = catalog.lookup(&s.legacy_code) else {
            if bp.overlap(s.start_date, s.end_date).is_some() {
                issues.push(RateIssue {
                    legacy_code: s.legacy_code.clone(),
                    reason: format!("service {} ({}) has no product in the catalog", s.service_id, s.description),
                });
            }
            continue;
        };
        let line = |start, end, amount, calculation, partial| BillLine {
            group: product.group.clone(),
            product: product.name.clone(),
            charge: charge.name.clone(),
            charge_type: charge.charge_type.as_str().to_string(),
            legacy_code: s.legacy_code.clone(),
            service_start: start,
            service_end: end,
            quantity: s.quantity,
            unit_price: s.unit_price,
            amount,
            calculation,
            partial,
        };
        match charge.charge_type {
            ChargeType::Recurring => {
                let Some((start, end)) = bp.overlap(s.start_date, s.end_date) else { continue };
                let conv = convention.or(charge.proration).unwrap_or(catalog.proration);
                let (factor_num, factor_den, partial) = proration_factor(&bp, start, end, conv);
                let raw = s.quantity * s.unit_price * Decimal::from(factor_num) / Decimal::from(factor_den);
                let amount = round_line(raw, rounding);
                let calc = if partial {
                    format!("{factor_num}/{factor_den} days x {} x {}", s.quantity.normalize(), s.unit_price)
                } else {
                    format!("{} x {}", s.quantity.normalize(), s.unit_price)
                };
                lines.push(line(start, end, amount, calc, partial));
            }
            ChargeType::OneTime => {
                if bp.contains(s.start_date) {
                    let amount = round_line(s.quantity * s.unit_price, rounding);
                    let calc = format!("one-time: {} x {}", s.quantity.normalize(), s.unit_price);
                    lines.push(line(s.start_date, s.start_date, amount, calc, false));
                }
            }
            // Usage services are priced from their usage records below.
            ChargeType::Usage => {}
        }
    }

    // Usage: one line per usage charge, over the period's total quantity.
    let mut usage: BTreeMap<(usize, usize), (Decimal, String)> = BTreeMap::new();
    for u in acct.usage.iter().filter(|u| bp.contains(u.usage_date)) {
        match catalog.by_code.get(&u.legacy_code) {
            None => issues.push(RateIssue {
                legacy_code: u.legacy_code.clone(),
                reason: format!("usage of {} has no product in the catalog", u.legacy_code),
            }),
            Some(&(p, c)) if catalog.products[p].charges[c].charge_type != ChargeType::Usage => {
                issues.push(RateIssue {
                    legacy_code: u.legacy_code.clone(),
                    reason: format!("usage recorded for {}, which is not a metered charge", u.legacy_code),
                })
            }
            Some(&key) => {
                let e = usage.entry(key).or_insert((Decimal::ZERO, u.legacy_code.clone()));
                e.0 += u.quantity;
            }
        }
    }
    for ((p, c), (qty, code)) in usage {
        let product = &catalog.products[p];
        let charge = &product.charges[c];
        let priced = price_usage(&charge.model, qty);
        lines.push(BillLine {
            group: product.group.clone(),
            product: product.name.clone(),
            charge: charge.name.clone(),
            charge_type: ChargeType::Usage.as_str().to_string(),
            legacy_code: code,
            service_start: bp.start,
            service_end: bp.end,
            quantity: qty,
            unit_price: priced.unit_price,
            amount: round_line(priced.amount, rounding),
            calculation: priced.calculation,
            partial: false,
        });
    }

    // Grouped by logical element, then product, then charge: the order the bill shows.
    lines.sort_by(|x, y| {
        (&x.group, &x.product, &x.charge, x.service_start).cmp(&(&y.group, &y.product, &y.charge, y.service_start))
    });
    let total = lines.iter().map(|l| l.amount).sum();
    Ok(Rated {
        bill: NewBill {
            account_number: a.account_number.clone(),
            period,
            currency: a.currency.clone(),
            period_start: bp.start,
            period_end: bp.end,
            lines,
            total,
        },
        issues,
    })
}

/// The fraction of the period `[start, end]` bills, as (numerator, denominator, partial?).
pub fn proration_factor(bp: &BillPeriod, start: NaiveDate, end: NaiveDate, conv: Proration) -> (i64, i64, bool) {
    let active = (end - start).num_days() + 1;
    let days = bp.days();
    if active >= days {
        return (1, 1, false);
    }
    match conv {
        Proration::ActualDays => (active, days, true),
        // Actual/360: a 30-day month; never more than a full period.
        Proration::Thirty360 if active >= 30 => (1, 1, false),
        Proration::Thirty360 => (active, 30, true),
        Proration::None => (1, 1, false),
    }
}

#[cfg(test)]
mod tests;
