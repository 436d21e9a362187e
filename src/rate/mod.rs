//! Rate: re-prices an account's legacy services and usage in the new model (SPEC §4). Pure.
//!
//! Recurring and one-time lines use the service's contracted `quantity × unit_price`; a partial
//! period is prorated by the charge's (or catalog's) convention; usage is priced by the catalog's
//! model over the period's total quantity. Each line amount is rounded exactly once, by
//! [`round_line`]; a bill's total is the sum of its rounded lines.
//!
//! **Timing.** Recurring charges bill in advance (the bill dated Aug 15 carries Aug 15 – Sep 14);
//! usage bills in arrears (that bill carries the usage of Jul 15 – Aug 14, the period that ended
//! the day before it). At cut-over the usage of the last legacy period is billed exactly once, by
//! the first new bill or by a final legacy bill, as the wave says ([`Handover`], [`usage_period`],
//! [`legacy_usage_period`]).

mod line;
mod price;

pub use line::{BillLine, Calculation, Factor, LineType};
pub use price::{price_usage, round_line};

use crate::domain::{BillPeriod, Decimal, LegacyAccount, Period, add_months, clamp_day};
use crate::plan::{
    BillingPeriod, Catalog, ChargeType, Discount, DiscountKind, LineNames, Proration, Rounding, UsageCarryover,
};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
    /// Who bills the usage of the last legacy period, when this is the first new bill.
    pub handover: Option<HandoverNote>,
    /// True when the new system does not bill this period for the account (a period before its
    /// first new bill, or an account without a cut-over): the bill is shown as a preview.
    pub preview: bool,
}

/// Where an account's billing changes hands (SPEC §4): the period of its first new bill, and who
/// bills the usage of the last legacy period (the bill period that ends the day before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handover {
    pub first_new: Period,
    pub carryover: UsageCarryover,
}

impl Handover {
    /// The handover of an account whose first new bill is dated `first_new_bill_date`.
    pub fn at(first_new_bill_date: NaiveDate, carryover: UsageCarryover) -> Handover {
        Handover { first_new: Period::of(first_new_bill_date), carryover }
    }

    /// The last legacy bill period of an account billed on `cycle_day`: its usage is the one
    /// that changes hands.
    pub fn last_legacy_period(&self, cycle_day: u32) -> BillPeriod {
        self.first_new.prev().bill_period(cycle_day)
    }

    /// The usage days of the legacy system's final usage bill, dated on the first new bill's
    /// date (`usage_carryover: legacy`), when `period` is that bill's period; else `None`.
    pub fn final_legacy_usage(&self, period: Period, cycle_day: u32) -> Option<BillPeriod> {
        (period == self.first_new && self.carryover == UsageCarryover::Legacy)
            .then(|| self.last_legacy_period(cycle_day))
    }
}

/// What the first new bill says about the last legacy period's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HandoverNote {
    /// The last legacy bill period (its usage is the one that changes hands).
    pub usage_start: NaiveDate,
    pub usage_end: NaiveDate,
    /// `new`: this bill carries it; `legacy`: a final bill from the legacy system does.
    pub carried_by: UsageCarryover,
}

impl HandoverNote {
    /// The note in plain words, for the bill.
    pub fn words(&self) -> String {
        let span = format!("{} - {}", self.usage_start.format("%b %-d, %Y"), self.usage_end.format("%b %-d, %Y"));
        match self.carried_by {
            UsageCarryover::New => format!(
                "Usage for {span}, the last period of the previous billing system, is billed on this bill (once)."
            ),
            UsageCarryover::Legacy => format!(
                "Usage for {span}, the last period of the previous billing system, is billed on a final bill from \
                 that system, not on this one."
            ),
        }
    }
}

/// The usage days the new-system bill for `period` carries, in arrears: the bill period that
/// ended the day before it. `None` for the first new bill when the legacy system bills that
/// usage in a final bill (`usage_carryover: legacy`).
pub fn usage_period(period: Period, cycle_day: u32, handover: Option<Handover>) -> Option<BillPeriod> {
    match handover {
        Some(h) if h.first_new == period && h.carryover == UsageCarryover::Legacy => None,
        _ => Some(period.prev().bill_period(cycle_day)),
    }
}

/// The usage days the legacy system's bill for `period` carries around a handover: in arrears
/// before the first new bill; on the first new bill's date, a final usage-only bill with the last
/// legacy period's usage when the wave says `legacy`; nothing after.
pub fn legacy_usage_period(period: Period, cycle_day: u32, handover: Handover) -> Option<BillPeriod> {
    if period < handover.first_new || (period == handover.first_new && handover.carryover == UsageCarryover::Legacy) {
        Some(period.prev().bill_period(cycle_day))
    } else {
        None
    }
}

/// How to rate a bill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terms {
    /// Prorate every recurring charge by this convention (to explain a difference).
    pub convention: Option<Proration>,
    /// The account's cut-over, when it has one: decides the first new bill's usage.
    pub handover: Option<Handover>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("account {account} bills in {currency}, which the catalog cannot price (it prices {catalog})")]
    Currency { account: String, currency: String, catalog: String },
}

/// Rates one account for one period under the catalog's conventions, as a bill of the new
/// system in steady state: recurring in advance, usage in arrears, no handover.
pub fn rate(acct: &LegacyAccount, catalog: &Catalog, period: Period) -> Result<Rated, RateError> {
    rate_on(acct, catalog, period, Terms::default())
}

/// A line being built, with what ordering and discounts need.
struct Built {
    line: BillLine,
    product: usize,
    charge: usize,
    rank: u32,
}

fn new_line(
    names: &LineNames,
    charge_type: LineType,
    code: &Arc<str>,
    (start, end): (NaiveDate, NaiveDate),
    (quantity, unit_price, amount): (Decimal, Decimal, Decimal),
    calculation: Calculation,
    partial: bool,
) -> BillLine {
    BillLine {
        group: names.group.clone(),
        product: names.product.clone(),
        charge: names.charge.clone(),
        charge_type,
        legacy_code: code.clone(),
        service_start: start,
        service_end: end,
        quantity,
        uom: if charge_type == LineType::Usage { names.uom.clone() } else { None },
        unit_price,
        amount,
        calculation,
        partial,
    }
}

/// Like [`rate`], but every recurring charge prorated by `convention` (used to re-rate under the
/// legacy system's convention when explaining a difference).
pub fn rate_with(
    acct: &LegacyAccount,
    catalog: &Catalog,
    period: Period,
    convention: Option<Proration>,
) -> Result<Rated, RateError> {
    rate_on(acct, catalog, period, Terms { convention, handover: None })
}

/// Rates one account for one period under `terms`: recurring in advance, usage in arrears
/// ([`usage_period`]), the first new bill's usage as the handover says.
// Long: one account's period rated in its order (recurring, one-time, usage, discounts, rounding once), read in one place.
pub fn rate_on(acct: &LegacyAccount, catalog: &Catalog, period: Period, terms: Terms) -> Result<Rated, RateError> {
    let convention = terms.convention;
    let a = &acct.account;
    let Some(ci) = catalog.currency_index(&a.currency) else {
        return Err(RateError::Currency {
            account: a.account_number.clone(),
            currency: a.currency.clone(),
            catalog: catalog.currencies.join(", "),
        });
    };
    let bp = period.bill_period(a.bill_cycle_day);
    let mut built: Vec<Built> = Vec::with_capacity(acct.services.len() + 4);
    let mut issues = Vec::new();
    let rounding = catalog.rounding;

    for s in &acct.services {
        let Some((code, pi, chi)) = catalog.code(&s.legacy_code) else {
            if bp.overlap(s.start_date, s.end_date).is_some() {
                issues.push(RateIssue {
                    legacy_code: s.legacy_code.clone(),
                    reason: format!("service {} ({}) has no product in the catalog", s.service_id, s.description),
                });
            }
            continue;
        };
        let charge = &catalog.products[pi].charges[chi];
        let names = &catalog.lines[pi].charges[chi];
        // A line of this service: its type, service period, amount, calculation and partial mark.
        let mut push = |kind, dates, amount, calc, partial| {
            let line = new_line(names, kind, code, dates, (s.quantity, s.unit_price, amount), calc, partial);
            built.push(Built { line, product: pi, charge: chi, rank: names.rank });
        };
        match charge.charge_type {
            ChargeType::Recurring => {
                let conv = convention.or(charge.proration).unwrap_or(catalog.proration);
                for piece in recurring_pieces(&bp, a.bill_cycle_day, s.start_date, s.end_date, charge.period, conv) {
                    let raw = if piece.factor == (1, 1) {
                        s.quantity * s.unit_price
                    } else {
                        s.quantity * s.unit_price * Decimal::from(piece.factor.0) / Decimal::from(piece.factor.1)
                    };
                    let amount = round_line(raw, rounding);
                    let calc = Calculation::Recurring {
                        factor: piece.facts,
                        fraction: piece.factor,
                        quantity: s.quantity,
                        unit_price: s.unit_price,
                    };
                    push(LineType::Recurring, (piece.start, piece.end), amount, calc, piece.facts.partial);
                }
            }
            ChargeType::OneTime => {
                if bp.contains(s.start_date) {
                    let amount = round_line(s.quantity * s.unit_price, rounding);
                    let calc = Calculation::OneTime { quantity: s.quantity, unit_price: s.unit_price };
                    push(LineType::OneTime, (s.start_date, s.start_date), amount, calc, false);
                }
            }
            // Usage services are priced from their usage records below.
            ChargeType::Usage => {}
        }
    }

    // Usage, in arrears: one line per usage charge, over the total quantity of the period that
    // ended the day before this bill (a few charges an account: a small list beats a map).
    let used = usage_period(period, a.bill_cycle_day, terms.handover);
    let mut usage: Vec<(usize, usize, &Arc<str>, Decimal)> = Vec::new();
    for u in acct.usage.iter().filter(|u| used.is_some_and(|up| up.contains(u.usage_date))) {
        match catalog.code(&u.legacy_code) {
            None => issues.push(RateIssue {
                legacy_code: u.legacy_code.clone(),
                reason: format!("usage of {} has no product in the catalog", u.legacy_code),
            }),
            Some((_, p, c)) if catalog.products[p].charges[c].charge_type != ChargeType::Usage => {
                issues.push(RateIssue {
                    legacy_code: u.legacy_code.clone(),
                    reason: format!("usage recorded for {}, which is not a metered charge", u.legacy_code),
                })
            }
            Some((code, p, c)) => match usage.iter_mut().find(|x| x.0 == p && x.1 == c) {
                Some(x) => x.3 += u.quantity,
                None => usage.push((p, c, code, u.quantity)),
            },
        }
    }
    for (p, c, code, qty) in usage {
        let Some(up) = used else { break };
        let charge = &catalog.products[p].charges[c];
        let names = &catalog.lines[p].charges[c];
        let priced = price_usage(charge.model_in(ci), qty);
        let amount = round_line(priced.amount, rounding);
        let line = new_line(
            names,
            LineType::Usage,
            code,
            (up.start, up.end),
            (qty, priced.unit_price, amount),
            priced.calculation,
            false,
        );
        built.push(Built { line, product: p, charge: c, rank: names.rank });
    }

    // Discounts, per product, over the rounded lines they apply to.
    for (pi, product) in catalog.products.iter().enumerate().filter(|(_, p)| !p.discounts.is_empty()) {
        for (di, d) in product.discounts.iter().enumerate() {
            let base: Decimal = built
                .iter()
                .filter(|b| b.product == pi && (d.applies_to.is_empty() || d.applies_to.contains(&b.charge)))
                .map(|b| b.line.amount)
                .sum();
            let names = &catalog.lines[pi].discounts[di];
            if let Some(line) = discount_line(names, d, base, ci, &bp, rounding) {
                built.push(Built { line, product: pi, charge: usize::MAX, rank: names.rank });
            }
        }
    }

    // Grouped by logical element, then product (its charges, then its discounts), then charge:
    // the order the bill shows, ranked once per catalog.
    built.sort_by_key(|b| (b.rank, b.line.service_start));
    let lines: Vec<BillLine> = built.into_iter().map(|b| b.line).collect();
    let total = lines.iter().map(|l| l.amount).sum();
    let handover = terms.handover.filter(|h| h.first_new == period).map(|h| {
        let last = h.last_legacy_period(a.bill_cycle_day);
        HandoverNote { usage_start: last.start, usage_end: last.end, carried_by: h.carryover }
    });
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
        handover,
        preview: terms.handover.is_none_or(|h| period < h.first_new),
    })
}

/// A product's discount over `base` (the sum of the rounded lines it applies to): a negative line,
/// rounded once, never larger than `base`. No line when there is nothing to discount.
pub fn discount_line(
    names: &LineNames,
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
    Some(new_line(
        names,
        LineType::Discount,
        &Arc::from(""),
        (bp.start, bp.end),
        (Decimal::ONE, amount, amount),
        Calculation::Text(calculation),
        false,
    ))
}

/// What a recurring service bills on one bill: the service days it covers, and the fraction of
/// the charge's price (`factor.0 / factor.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub factor: (i64, i64),
    pub facts: Factor,
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
// Long: the pieces of a charge under each proration convention, one iterator; the conventions share their arithmetic.
pub fn recurring_pieces(
    bp: &BillPeriod,
    cycle_day: u32,
    start: NaiveDate,
    end: Option<NaiveDate>,
    period: BillingPeriod,
    conv: Proration,
) -> impl Iterator<Item = Piece> {
    let k = period.months();
    let facts = |months, days, n_days, partial, unprorated| Factor {
        months,
        days,
        n_days,
        period,
        convention: conv,
        partial,
        unprorated,
    };
    let whole = |s, e, unprorated| Piece {
        start: s,
        end: e,
        factor: (1, 1),
        facts: facts(i64::from(k), [(0, 1); 2], 0, false, unprorated),
    };
    let mut out: [Option<Piece>; 2] = [None, None];
    if conv == Proration::FullPeriod {
        // Periods start on the service's start date; at most two can start inside one bill period.
        let m = months_between(Period::of(start), bp.period).max(0);
        let steps = m / i64::from(k);
        let mut n = 0;
        for j in (steps - 1).max(0)..=steps + 1 {
            let (Ok(j), Ok(span)) = (i32::try_from(j * i64::from(k)), i32::try_from(k)) else { continue };
            let (Some(s), Some(next)) = (add_months(start, j), add_months(start, j + span)) else {
                continue;
            };
            let Some(e) = next.pred_opt() else { continue };
            if n < 2 && bp.contains(s) && end.is_none_or(|x| s <= x) {
                out[n] = Some(whole(s, e, false));
                n += 1;
            }
        }
        return out.into_iter().flatten();
    }
    // The charge period this bill starts, if it starts one for this service.
    let cp = if k == 1 {
        *bp
    } else {
        let n = months_between(period_holding(start, cycle_day), bp.period);
        if n < 0 || n % i64::from(k) != 0 {
            return out.into_iter().flatten();
        }
        let last = add_periods(bp.period, k - 1).bill_period(cycle_day);
        BillPeriod { period: bp.period, start: bp.start, end: last.end }
    };
    let Some((s, e)) = cp.overlap(start, end) else { return out.into_iter().flatten() };
    if (s, e) == (cp.start, cp.end) {
        out[0] = Some(whole(s, e, false));
        return out.into_iter().flatten();
    }
    if conv == Proration::None {
        out[0] = Some(whole(s, e, true));
        return out.into_iter().flatten();
    }
    let mut months = 0i64;
    let mut days = [(0i64, 1i64); 2];
    let mut n_days = 0;
    let mut p = bp.period;
    for _ in 0..k {
        let b = if k == 1 { *bp } else { p.bill_period(cycle_day) };
        if let Some((x, y)) = b.overlap(s, Some(e)) {
            match month_fraction(&b, x, y, conv) {
                (n, d) if n >= d => months += 1,
                f if n_days < 2 => {
                    days[n_days] = f;
                    n_days += 1;
                }
                // A contiguous span has at most two partial bill periods: its first and its last.
                _ => months += 1,
            }
        }
        p = p.next();
    }
    // (months + Σ n/d) / k as one fraction.
    let (mut num, mut den) = (months, 1i64);
    for &(n, d) in &days[..n_days] {
        (num, den) = reduce(num * d + n * den, den * d);
    }
    let factor = reduce(num, den * i64::from(k));
    let partial = factor.0 != factor.1;
    out[0] = Some(Piece {
        start: s,
        end: e,
        factor: if partial { factor } else { (1, 1) },
        facts: facts(months, days, n_days, partial, false),
    });
    out.into_iter().flatten()
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
