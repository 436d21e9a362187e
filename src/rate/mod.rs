//! Rate: re-prices an account's legacy services and usage in the new model (SPEC §4). Pure.
//!
//! Recurring and one-time lines use the service's contracted `quantity × unit_price`; a partial
//! period is prorated by the charge's (or catalog's) convention; usage is priced by the catalog's
//! model over the period's total quantity. Each line amount is rounded exactly once, by
//! [`round_line`]; a bill's total is the sum of its rounded lines.

mod price;

pub use price::{price_usage, round_line};

use crate::domain::{BillPeriod, Decimal, LegacyAccount, Period, clamp_day};
use crate::plan::{BillingPeriod, Catalog, ChargeType, DISCOUNT, Discount, DiscountKind, Product, Proration, Rounding};
use chrono::{Datelike, NaiveDate};
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
    let Some(ci) = catalog.currency_index(&a.currency) else {
        return Err(RateError::Currency {
            account: a.account_number.clone(),
            currency: a.currency.clone(),
            catalog: catalog.currencies.join(", "),
        });
    };
    let bp = period.bill_period(a.bill_cycle_day);
    let mut lines = Vec::new();
    // (product, charge) of each line, for discounts.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut issues = Vec::new();
    let rounding = catalog.rounding;

    for s in &acct.services {
        let Some(&(pi, chi)) = catalog.by_code.get(&s.legacy_code) else {
            if bp.overlap(s.start_date, s.end_date).is_some() {
                issues.push(RateIssue {
                    legacy_code: s.legacy_code.clone(),
                    reason: format!("service {} ({}) has no product in the catalog", s.service_id, s.description),
                });
            }
            continue;
        };
        let product = &catalog.products[pi];
        let charge = &product.charges[chi];
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
                let conv = convention.or(charge.proration).unwrap_or(catalog.proration);
                for piece in recurring_pieces(&bp, a.bill_cycle_day, s.start_date, s.end_date, charge.period, conv) {
                    let raw = s.quantity * s.unit_price * Decimal::from(piece.factor.0) / Decimal::from(piece.factor.1);
                    let amount = round_line(raw, rounding);
                    let calc = piece.calculation(s.quantity, s.unit_price);
                    lines.push(line(piece.start, piece.end, amount, calc, piece.partial));
                    keys.push((pi, chi));
                }
            }
            ChargeType::OneTime => {
                if bp.contains(s.start_date) {
                    let amount = round_line(s.quantity * s.unit_price, rounding);
                    let calc = format!("one-time: {} x {}", s.quantity.normalize(), s.unit_price);
                    lines.push(line(s.start_date, s.start_date, amount, calc, false));
                    keys.push((pi, chi));
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
        let priced = price_usage(charge.model_in(ci), qty);
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
        keys.push((p, c));
    }

    // Discounts, per product, over the rounded lines they apply to.
    let mut discount_lines = Vec::new();
    for (pi, product) in catalog.products.iter().enumerate().filter(|(_, p)| !p.discounts.is_empty()) {
        for d in &product.discounts {
            let base: Decimal = lines
                .iter()
                .zip(&keys)
                .filter(|(_, k)| k.0 == pi && (d.applies_to.is_empty() || d.applies_to.contains(&k.1)))
                .map(|(l, _)| l.amount)
                .sum();
            if let Some(line) = discount_line(product, d, base, ci, &bp, rounding) {
                discount_lines.push(line);
            }
        }
    }
    lines.extend(discount_lines);

    // Grouped by logical element, then product (its charges, then its discounts), then charge:
    // the order the bill shows.
    lines.sort_by(|x, y| {
        let dx = x.charge_type == DISCOUNT;
        let dy = y.charge_type == DISCOUNT;
        (&x.group, &x.product, dx, &x.charge, x.service_start).cmp(&(
            &y.group,
            &y.product,
            dy,
            &y.charge,
            y.service_start,
        ))
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

/// A product's discount over `base` (the sum of the rounded lines it applies to): a negative line,
/// rounded once, never larger than `base`. No line when there is nothing to discount.
pub fn discount_line(
    product: &Product,
    d: &Discount,
    base: Decimal,
    currency_index: usize,
    bp: &BillPeriod,
    rounding: Rounding,
) -> Option<BillLine> {
    if base <= Decimal::ZERO {
        return None;
    }
    let (raw, calculation) = match &d.kind {
        DiscountKind::Percent(p) => (base * p / Decimal::ONE_HUNDRED, format!("{}% of {base}", p.normalize())),
        DiscountKind::Amount(amounts) => {
            let fixed = amounts.get(currency_index).copied().unwrap_or_default();
            if fixed > base {
                (base, format!("{fixed} off, capped at the {base} it applies to"))
            } else {
                (fixed, format!("{fixed} off"))
            }
        }
    };
    let amount = -round_line(raw.min(base), rounding);
    Some(BillLine {
        group: product.group.clone(),
        product: product.name.clone(),
        charge: d.name.clone(),
        charge_type: DISCOUNT.to_string(),
        legacy_code: String::new(),
        service_start: bp.start,
        service_end: bp.end,
        quantity: Decimal::ONE,
        unit_price: amount,
        amount,
        calculation,
        partial: false,
    })
}

/// What a recurring service bills on one bill: the service days it covers, and the fraction of
/// the charge's price (`factor.0 / factor.1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub factor: (i64, i64),
    pub partial: bool,
    /// Whole bill periods (months) active, and the partial ones as (numerator, denominator).
    pub months: i64,
    pub days: Vec<(i64, i64)>,
    pub period: BillingPeriod,
    pub convention: Proration,
    /// True when the service is active for less than the charge period but billed in full.
    pub unprorated: bool,
}

impl Piece {
    /// The arithmetic in words, e.g. `14/30 days x 2 x 300.00`.
    pub fn calculation(&self, quantity: Decimal, unit_price: Decimal) -> String {
        let q = quantity.normalize();
        let prefix = match self.period {
            BillingPeriod::Month => String::new(),
            p => format!("{}: ", p.as_str()),
        };
        let tag = if self.convention == Proration::Strict30360 { " (30/360)" } else { "" };
        if self.convention == Proration::FullPeriod {
            return format!("{prefix}{q} x {unit_price} (full period)");
        }
        if !self.partial {
            let note = if self.unprorated { " (not prorated)" } else { "" };
            return format!("{prefix}{q} x {unit_price}{note}");
        }
        if self.period == BillingPeriod::Month
            && let [(n, d)] = self.days.as_slice()
        {
            return format!("{n}/{d} days{tag} x {q} x {unit_price}");
        }
        let mut parts = Vec::new();
        if self.months > 0 {
            parts.push(format!("{} months", self.months));
        }
        parts.extend(self.days.iter().map(|(n, d)| format!("{n}/{d} days")));
        format!("{prefix}({}){tag}/{} x {q} x {unit_price}", parts.join(" + "), self.period.months())
    }
}

/// The bill period (of an account billed on `cycle_day`) that holds `date`.
pub fn period_holding(date: NaiveDate, cycle_day: u32) -> Period {
    let p = Period::of(date);
    if date >= clamp_day(p, cycle_day) { p } else { p.prev() }
}

fn months_between(from: Period, to: Period) -> i64 {
    (i64::from(to.year) - i64::from(from.year)) * 12 + i64::from(to.month) - i64::from(from.month)
}

fn add_periods(p: Period, n: u32) -> Period {
    (0..n).fold(p, |p, _| p.next())
}

/// What a recurring service (active `start` ..= `end`, open-ended when `None`) bills on the bill
/// for `bp`. Recurring charges bill in advance:
///
/// - Aligned to the bill cycle (every convention but `full_period`): the charge's periods are runs
///   of `period.months()` bill periods, the first one holding the service's start date. The bill
///   whose period starts a charge period carries it whole; a service active for part of it is
///   prorated by whole months first, then days: `(whole months + Σ partial-month fractions) ÷
///   months`, each partial month's fraction by the convention.
/// - `full_period`: the charge's periods start on the service's start date and run whole
///   (`period.months()` calendar months); the bill whose period holds a charge period's start
///   carries it in full, even when the service ends inside it.
pub fn recurring_pieces(
    bp: &BillPeriod,
    cycle_day: u32,
    start: NaiveDate,
    end: Option<NaiveDate>,
    period: BillingPeriod,
    conv: Proration,
) -> Vec<Piece> {
    let k = period.months();
    let piece = |s, e, factor, partial, months, days, unprorated| Piece {
        start: s,
        end: e,
        factor,
        partial,
        months,
        days,
        period,
        convention: conv,
        unprorated,
    };
    if conv == Proration::FullPeriod {
        let mut out = Vec::new();
        let m = months_between(Period::of(start), bp.period).max(0);
        let steps = m / i64::from(k);
        for j in steps.saturating_sub(1)..=steps + 1 {
            let Ok(j) = i32::try_from(j * i64::from(k)) else { continue };
            let Ok(span) = i32::try_from(k) else { continue };
            let (Some(s), Some(next)) = (add_months_checked(start, j), add_months_checked(start, j + span)) else {
                continue;
            };
            let Some(e) = next.pred_opt() else { continue };
            if bp.contains(s) && end.is_none_or(|x| s <= x) {
                out.push(piece(s, e, (1, 1), false, i64::from(k), vec![], false));
            }
        }
        return out;
    }
    let first = period_holding(start, cycle_day);
    let n = months_between(first, bp.period);
    if n < 0 || n % i64::from(k) != 0 {
        return vec![];
    }
    let last = add_periods(bp.period, k - 1).bill_period(cycle_day);
    let cp = BillPeriod { period: bp.period, start: bp.start, end: last.end };
    let Some((s, e)) = cp.overlap(start, end) else { return vec![] };
    if conv == Proration::None {
        let unprorated = (s, e) != (cp.start, cp.end);
        return vec![piece(s, e, (1, 1), false, i64::from(k), vec![], unprorated)];
    }
    let mut months = 0i64;
    let mut days = Vec::new();
    let mut p = bp.period;
    for _ in 0..k {
        let b = p.bill_period(cycle_day);
        if let Some((x, y)) = b.overlap(s, Some(e)) {
            match month_fraction(&b, x, y, conv) {
                (n, d) if n >= d => months += 1,
                f => days.push(f),
            }
        }
        p = p.next();
    }
    // (months + Σ n/d) / k as one fraction.
    let (mut num, mut den) = (months, 1i64);
    for &(n, d) in &days {
        (num, den) = reduce(num * d + n * den, den * d);
    }
    let factor = reduce(num, den * i64::from(k));
    let partial = factor.0 != factor.1;
    vec![piece(s, e, if partial { factor } else { (1, 1) }, partial, months, days, false)]
}

fn add_months_checked(date: NaiveDate, n: i32) -> Option<NaiveDate> {
    if n >= 0 {
        date.checked_add_months(chrono::Months::new(n.unsigned_abs()))
    } else {
        date.checked_sub_months(chrono::Months::new(n.unsigned_abs()))
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs().max(1) } else { gcd(b, a % b) }
}

fn reduce(n: i64, d: i64) -> (i64, i64) {
    let g = gcd(n, d);
    (n / g, d / g)
}

/// The fraction of the bill period `bp` that the active days `[start, end]` (inside it) bill,
/// as (numerator, denominator); `n >= d` is a full period.
pub fn month_fraction(bp: &BillPeriod, start: NaiveDate, end: NaiveDate, conv: Proration) -> (i64, i64) {
    let active = (end - start).num_days() + 1;
    let days = bp.days();
    if active >= days {
        return (1, 1);
    }
    match conv {
        Proration::ActualDays => (active, days),
        // Actual/360: a 30-day month; never more than a full period.
        Proration::Thirty360 => (active.min(30), 30),
        Proration::Strict30360 => (days_30_360(start, end).min(30), 30),
        Proration::None | Proration::FullPeriod => (1, 1),
    }
}

/// The 30/360 day count of `[start, end]` (inclusive): each calendar month counts 30 days; day 31
/// counts as day 30, and a span that runs to the last day of its month runs to day 30.
pub fn days_30_360(start: NaiveDate, end: NaiveDate) -> i64 {
    let mut total = 0i64;
    let mut from = start;
    while from <= end {
        let month_end = Period::of(from).next().first_day().pred_opt().unwrap_or(from);
        let to = end.min(month_end);
        let x = i64::from(from.day().min(30));
        let y = if to == month_end { 30 } else { i64::from(to.day().min(30)) };
        total += (y - x + 1).max(0);
        match month_end.succ_opt() {
            Some(next) => from = next,
            None => break,
        }
    }
    total
}

#[cfg(test)]
mod tests;
