//! Reconcile: compares what the legacy system billed with what the new model bills, per account
//! and period, and explains every difference. Pure.
//!
//! **Matching.** Within a period, legacy lines and new lines are matched per legacy code *and
//! service period*: first the lines whose service periods are identical, then the rest of the
//! code's lines in order of their first day. A code whose lines are split differently on the two
//! sides (two legacy lines for one new line) but add up to the same money and quantity is a match.
//!
//! **Reasons.** Each difference on a matched pair (or an unmatched line) gets one reason, tried in
//! this order: `unmapped_product` (the code has no product in the new catalog), `missing_line` (the
//! legacy bill has it, the new one does not), `extra_line` (the other way round),
//! `usage_difference` (the billed quantity differs; or, for a usage charge, the same quantity priced
//! differently: a tier or included-units difference), `price_difference` (billed vs contracted unit
//! price), `proration_convention` (re-rated under the legacy 30-day convention the amounts agree),
//! `service_period` (the lines cover different days; for usage, tried before quantity: usage of
//! another period is a timing difference), `rounding` (same quantity and price, and the
//! legacy amount within half a unit of the currency scale of the exact, unrounded amount: the same
//! amount rounded another way), and otherwise `unexplained`.
//!
//! **Usage in arrears.** Both systems bill usage in arrears (SPEC §4), so a period's legacy usage
//! lines and new usage lines cover the same days, the period before. At cut-over with
//! `usage_carryover: legacy`, the first new bill carries no usage and the legacy system bills the
//! last legacy period's usage in a final bill: those legacy lines are set aside
//! ([`PeriodInput::legacy_final_usage`]) and reported on the verdict, not counted as missing.
//!
//! **Statuses.** A period with no difference is `match`. Otherwise the *unaccepted* differences
//! (reasons the wave does not `accept`; `unexplained` is never acceptable) are summed as absolute
//! amounts, so that two errors cannot cancel out; the period is `within_tolerance` when that sum is
//! within the wave's tolerance (the larger of the absolute `tolerance` and `tolerance_pct` of the
//! legacy total), else `mismatch`. An account fails when one of its periods mismatches or, with an
//! `account_tolerance`, when its periods' unaccepted differences add up to more than that. A
//! difference is never passed silently: its reason stays on the verdict, and every `unexplained`
//! one is counted by the wave's gate.

pub mod bulk;
pub mod gate;
mod html;
pub mod report;

pub use gate::{GateCheck, GateMetrics, GateResult, GateVerdict};

use crate::domain::{Decimal, LegacyLine, Period};
use crate::plan::{Catalog, ChargeType, Rounding};
use crate::rate::{BillLine, NewBill};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The reasons a difference can have live in `domain` (a wave file names them in `accept`).
pub use crate::domain::Reason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodStatus {
    Match,
    WithinTolerance,
    Mismatch,
}

/// One explained difference: a matched pair of lines (or an unmatched line) of one legacy code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub legacy_code: String,
    pub reason: Reason,
    pub legacy_amount: Decimal,
    pub new_amount: Decimal,
    pub detail: String,
    /// The service period of the line (the new line's, else the legacy line's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_start: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_end: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_unit_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_unit_price: Option<Decimal>,
    /// True when the wave accepts this reason as expected.
    #[serde(default)]
    pub accepted: bool,
}

impl Finding {
    /// new − legacy
    pub fn difference(&self) -> Decimal {
        self.new_amount - self.legacy_amount
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodVerdict {
    pub period: Period,
    pub legacy_total: Decimal,
    pub new_total: Decimal,
    /// new − legacy
    pub difference: Decimal,
    pub status: PeriodStatus,
    /// Distinct reasons, in order of first appearance.
    pub reasons: Vec<Reason>,
    pub findings: Vec<Finding>,
    /// Sum of |difference| over the findings the wave does not accept: what the tolerance is
    /// compared with.
    #[serde(default)]
    pub unaccepted: Decimal,
    /// The tolerance that applied to this period.
    #[serde(default)]
    pub allowed: Decimal,
    /// Usage the legacy system bills in its final usage bill at cut-over (`usage_carryover:
    /// legacy`): set aside on both sides, so like is compared with like. Not in `legacy_total`.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub legacy_final_usage: Decimal,
}

impl PeriodVerdict {
    /// How many `unexplained` differences the period has.
    pub fn unexplained(&self) -> u64 {
        self.findings.iter().filter(|f| f.reason == Reason::Unexplained).count() as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Pass,
    Fail,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pass => "pass",
            AccountStatus::Fail => "fail",
        }
    }
}

impl PeriodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodStatus::Match => "match",
            PeriodStatus::WithinTolerance => "within_tolerance",
            PeriodStatus::Mismatch => "mismatch",
        }
    }
}

/// What a wave tolerates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Absolute, per period.
    pub tolerance: Decimal,
    /// Relative, per period: percent of the legacy period total.
    pub tolerance_pct: Option<Decimal>,
    /// Per account: the unaccepted differences of all its periods together.
    pub account_tolerance: Option<Decimal>,
    /// Reasons the wave accepts as expected. `unexplained` is ignored here even if present.
    pub accept: Vec<Reason>,
}

impl Policy {
    pub fn of(wave: &crate::plan::Wave) -> Policy {
        Policy {
            tolerance: wave.tolerance,
            tolerance_pct: wave.tolerance_pct,
            account_tolerance: wave.account_tolerance,
            accept: wave.accept.iter().filter_map(|a| a.parse::<Reason>().ok()).collect(),
        }
    }

    fn accepts(&self, r: Reason) -> bool {
        r != Reason::Unexplained && self.accept.contains(&r)
    }

    /// The tolerance of a period with this legacy total.
    pub fn allowed(&self, legacy_total: Decimal) -> Decimal {
        let rel = self.tolerance_pct.map_or(Decimal::ZERO, |p| legacy_total.abs() * p / Decimal::ONE_HUNDRED);
        self.tolerance.max(rel)
    }

    /// Whether a stored verdict would be judged otherwise under these settings (the wave file's
    /// tolerance or accepted reasons changed since): its status under them differs. A verdict
    /// judged under other settings that come to the same status (an exact match, a difference
    /// well within either tolerance) is not.
    pub fn judged_otherwise(&self, v: &PeriodVerdict) -> bool {
        self.status_of(v) != v.status
    }

    /// A stored verdict's status under these settings, from its findings and totals (the rule of
    /// [`compare`]: no finding and no difference is a match; else the unaccepted differences,
    /// summed as absolute amounts, against the period's tolerance).
    pub fn status_of(&self, v: &PeriodVerdict) -> PeriodStatus {
        if v.findings.is_empty() && v.difference.is_zero() {
            return PeriodStatus::Match;
        }
        if self.unaccepted_of(v) <= self.allowed(v.legacy_total) {
            PeriodStatus::WithinTolerance
        } else {
            PeriodStatus::Mismatch
        }
    }

    /// The sum of |difference| over a verdict's findings these settings do not accept.
    fn unaccepted_of(&self, v: &PeriodVerdict) -> Decimal {
        v.findings.iter().filter(|f| !self.accepts(f.reason)).map(|f| f.difference().abs()).sum()
    }

    /// A stored verdict as these settings would make it: its status, unaccepted differences and
    /// tolerance judged again (its findings and totals as they were).
    pub fn rejudged(&self, v: &PeriodVerdict) -> PeriodVerdict {
        PeriodVerdict {
            status: self.status_of(v),
            unaccepted: self.unaccepted_of(v),
            allowed: self.allowed(v.legacy_total),
            ..v.clone()
        }
    }

    /// Whether an account's stored verdicts would be judged otherwise under these settings: a
    /// period's status ([`Policy::judged_otherwise`]), or the account's outcome, recorded as
    /// `passed` when it was reconciled (`account.recon`), which the per-account tolerance
    /// (`account_tolerance`, over all its periods' unaccepted differences) decides too. No
    /// period compared is not a pass (as when it was decided). Unknown `passed`: the periods alone.
    pub fn account_judged_otherwise(&self, periods: &[PeriodVerdict], passed: Option<bool>) -> bool {
        if periods.iter().any(|v| self.judged_otherwise(v)) {
            return true;
        }
        let Some(passed) = passed else { return false };
        let now: Vec<PeriodVerdict> = periods.iter().map(|v| self.rejudged(v)).collect();
        let passes_now = !now.is_empty() && account_status(&now, self) == AccountStatus::Pass;
        passes_now != passed
    }
}

/// The inputs for one period: the legacy lines, the new bill, and the new bill re-rated under the
/// legacy system's proration convention.
pub struct PeriodInput<'a> {
    pub legacy: &'a [LegacyLine],
    pub new: &'a NewBill,
    pub new_legacy_convention: &'a NewBill,
    /// The usage days the legacy system keeps billing in its final usage bill (the first new
    /// bill's period when the wave says `usage_carryover: legacy`): its usage lines for those days
    /// are set aside, not expected on the new bill ([`crate::rate::legacy_usage_period`]).
    pub legacy_final_usage: Option<(NaiveDate, NaiveDate)>,
}

impl<'a> PeriodInput<'a> {
    /// One period in steady state (no usage kept by the legacy system).
    pub fn new(legacy: &'a [LegacyLine], new: &'a NewBill, new_legacy_convention: &'a NewBill) -> PeriodInput<'a> {
        PeriodInput { legacy, new, new_legacy_convention, legacy_final_usage: None }
    }
}

/// One side of a matched pair, reduced to what the comparison needs.
#[derive(Debug, Clone, Copy)]
struct Side {
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    quantity: Decimal,
    unit_price: Decimal,
    amount: Decimal,
    /// New lines: the amount before rounding.
    exact: Option<Decimal>,
}

impl Side {
    fn legacy(l: &LegacyLine) -> Side {
        Side {
            start: l.service_start,
            end: l.service_end,
            quantity: l.quantity,
            unit_price: l.unit_price,
            amount: l.amount,
            exact: None,
        }
    }
    fn new(l: &BillLine, catalog: &Catalog) -> Side {
        Side {
            start: Some(l.service_start),
            end: Some(l.service_end),
            quantity: l.quantity,
            unit_price: l.unit_price,
            amount: l.amount,
            exact: exact_amount(l, catalog),
        }
    }
}

/// A new line's amount before the one rounding step, recomputed the way `rate` computes it.
fn exact_amount(l: &BillLine, catalog: &Catalog) -> Option<Decimal> {
    let (_, charge) = catalog.lookup(&l.legacy_code)?;
    match charge.charge_type {
        ChargeType::Recurring => l.exact_recurring_amount(),
        ChargeType::OneTime => Some(l.quantity * l.unit_price),
        ChargeType::Usage => Some(crate::rate::price_usage(&charge.model, l.quantity).amount),
    }
}

/// Pairs a code's legacy and new lines: identical service periods first, then the rest in order
/// of their first day. Each element is (legacy index, new index).
fn pair(legacy: &[Side], new: &[Side]) -> Vec<(Option<usize>, Option<usize>)> {
    let mut used_new = vec![false; new.len()];
    let mut legacy_match: Vec<Option<usize>> = vec![None; legacy.len()];
    for (i, l) in legacy.iter().enumerate() {
        if let Some(j) = (0..new.len()).find(|&j| !used_new[j] && new[j].start == l.start && new[j].end == l.end) {
            used_new[j] = true;
            legacy_match[i] = Some(j);
        }
    }
    let mut rest_l: Vec<usize> = (0..legacy.len()).filter(|&i| legacy_match[i].is_none()).collect();
    let mut rest_n: Vec<usize> = (0..new.len()).filter(|&j| !used_new[j]).collect();
    rest_l.sort_by_key(|&i| legacy[i].start);
    rest_n.sort_by_key(|&j| new[j].start);
    let mut out: Vec<(Option<usize>, Option<usize>)> =
        legacy_match.iter().enumerate().filter_map(|(i, m)| m.map(|j| (Some(i), Some(j)))).collect();
    for k in 0..rest_l.len().max(rest_n.len()) {
        out.push((rest_l.get(k).copied(), rest_n.get(k).copied()));
    }
    out
}

/// Compares one period and gives its verdict.
// Long: the period's lines matched per legacy code, each difference explained, then the
// tolerances applied, in the order a reader checks them.
pub fn compare(input: &PeriodInput, catalog: &Catalog, policy: &Policy) -> PeriodVerdict {
    // The legacy system's final usage bill stays with the legacy system: set aside.
    let kept = |l: &LegacyLine| {
        input.legacy_final_usage.is_some_and(|(s, e)| {
            l.service_start == Some(s)
                && l.service_end == Some(e)
                && catalog.lookup(&l.legacy_code).is_some_and(|(_, c)| c.charge_type == ChargeType::Usage)
        })
    };
    let legacy: Vec<&LegacyLine> = input.legacy.iter().filter(|l| !kept(l)).collect();
    let legacy_final_usage: Decimal = input.legacy.iter().filter(|l| kept(l)).map(|l| l.amount).sum();
    let mut old: BTreeMap<&str, Vec<Side>> = BTreeMap::new();
    for l in &legacy {
        old.entry(&l.legacy_code).or_default().push(Side::legacy(l));
    }
    let mut new: BTreeMap<&str, Vec<Side>> = BTreeMap::new();
    for l in &input.new.lines {
        new.entry(&l.legacy_code).or_default().push(Side::new(l, catalog));
    }
    // The re-rated bill has the same lines with the same service periods, other amounts.
    let mut alt: BTreeMap<(&str, NaiveDate, NaiveDate), Decimal> = BTreeMap::new();
    for l in &input.new_legacy_convention.lines {
        *alt.entry((&l.legacy_code, l.service_start, l.service_end)).or_default() += l.amount;
    }

    let mut codes: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    codes.sort_unstable();
    codes.dedup();
    let mut findings = Vec::new();
    for code in codes {
        let o = old.get(code).map_or(&[][..], |v| v.as_slice());
        let n = new.get(code).map_or(&[][..], |v| v.as_slice());
        let sum = |v: &[Side]| -> Decimal { v.iter().map(|s| s.amount).sum() };
        if o.len() != n.len() && !o.is_empty() && !n.is_empty() && sum(o) == sum(n) {
            // The same money and quantity, split into lines differently.
            continue;
        }
        let charge_type = catalog.lookup(code).map(|(_, c)| c.charge_type);
        for (li, ni) in pair(o, n) {
            let (l, nw) = (li.map(|i| o[i]), ni.map(|j| n[j]));
            let (la, na) = (l.map_or(Decimal::ZERO, |s| s.amount), nw.map_or(Decimal::ZERO, |s| s.amount));
            if la == na && (l.is_some() && nw.is_some() || la.is_zero()) {
                continue;
            }
            let alt_amount = nw.and_then(|s| alt.get(&(code, s.start?, s.end?)).copied());
            let (reason, detail) = explain(code, l, nw, alt_amount, charge_type, catalog.rounding);
            let shown = nw.or(l);
            findings.push(Finding {
                legacy_code: code.to_string(),
                reason,
                legacy_amount: la,
                new_amount: na,
                detail,
                service_start: shown.and_then(|s| s.start),
                service_end: shown.and_then(|s| s.end),
                legacy_quantity: l.map(|s| s.quantity),
                new_quantity: nw.map(|s| s.quantity),
                legacy_unit_price: l.map(|s| s.unit_price),
                new_unit_price: nw.map(|s| s.unit_price),
                accepted: policy.accepts(reason),
            });
        }
    }

    let legacy_total: Decimal = legacy.iter().map(|l| l.amount).sum();
    let new_total = input.new.total;
    let difference = new_total - legacy_total;
    let mut reasons: Vec<Reason> = Vec::new();
    for f in &findings {
        if !reasons.contains(&f.reason) {
            reasons.push(f.reason);
        }
    }
    let unaccepted: Decimal = findings.iter().filter(|f| !f.accepted).map(|f| f.difference().abs()).sum();
    let allowed = policy.allowed(legacy_total);
    let mut v = PeriodVerdict {
        period: input.new.period,
        legacy_total,
        new_total,
        difference,
        status: PeriodStatus::Match,
        reasons,
        findings,
        unaccepted,
        allowed,
        legacy_final_usage,
    };
    // Passed within tolerance, never silently: the reasons (even `unexplained`) stay on it.
    v.status = policy.status_of(&v);
    v
}

// Long: one branch per reason a line can differ, in priority order; the order is the rule.
fn explain(
    code: &str,
    o: Option<Side>,
    n: Option<Side>,
    alt: Option<Decimal>,
    charge_type: Option<ChargeType>,
    rounding: Rounding,
) -> (Reason, String) {
    let Some(charge_type) = charge_type else {
        return (Reason::UnmappedProduct, format!("legacy code {code} has no product in the new catalog"));
    };
    let (o, n) = match (o, n) {
        (Some(o), Some(n)) => (o, n),
        (Some(o), None) => {
            return (
                Reason::MissingLine,
                format!("the legacy bill has {code} ({}) and the new bill does not", o.amount),
            );
        }
        (None, Some(n)) => {
            return (Reason::ExtraLine, format!("the new bill has {code} ({}) and the legacy bill does not", n.amount));
        }
        (None, None) => return (Reason::Unexplained, format!("{code}: no line on either side")),
    };
    let diff = n.amount - o.amount;
    let unit = Decimal::new(1, rounding.scale);
    // Rounding: the legacy amount is within half a unit of the exact (unrounded) amount, so it is
    // the same amount rounded another way (half even, down, from a rounded unit price…).
    let rounding_only = match n.exact {
        Some(exact) => (o.amount - exact).abs() <= unit / Decimal::TWO,
        None => diff.abs() <= unit,
    };
    let rounding_words = |n: Side| match n.exact {
        Some(exact) => format!(
            "{code}: {diff:+}: the legacy {} and the new {} both round the exact {}",
            o.amount,
            n.amount,
            exact.round_dp(rounding.scale + 4).normalize()
        ),
        None => format!("{code}: {diff:+} is within rounding"),
    };
    // Usage is billed in arrears on both sides: a usage line of another period is a timing
    // difference (e.g. a legacy bill that charged its own period's usage), whatever the quantity.
    if charge_type == ChargeType::Usage
        && let (Some(os), Some(oe), Some(ns), Some(ne)) = (o.start, o.end, n.start, n.end)
        && (os, oe) != (ns, ne)
    {
        return (
            Reason::ServicePeriod,
            format!(
                "{code}: usage timing: the legacy line charges the usage of {os}..{oe}, the new one (in arrears) \
                 {ns}..{ne}"
            ),
        );
    }
    if o.quantity != n.quantity {
        let what = if charge_type == ChargeType::Usage { "usage by quantity" } else { "quantity" };
        return (
            Reason::UsageDifference,
            format!("{code}: {what}: legacy billed {}, new {}", o.quantity.normalize(), n.quantity.normalize()),
        );
    }
    if charge_type == ChargeType::Usage {
        if rounding_only {
            return (Reason::Rounding, rounding_words(n));
        }
        // Same quantity, other money: the legacy system priced the usage by other tiers,
        // included units or overage price than the catalog's model.
        return (
            Reason::UsageDifference,
            format!(
                "{code}: usage by tier: {} units billed {} (unit price {}) by the legacy system, {} (unit price {}) by the catalog",
                n.quantity.normalize(),
                o.amount,
                o.unit_price.normalize(),
                n.amount,
                n.unit_price.normalize()
            ),
        );
    }
    if o.unit_price != n.unit_price {
        return (
            Reason::PriceDifference,
            format!("{code}: legacy unit price {}, contracted {}", o.unit_price.normalize(), n.unit_price.normalize()),
        );
    }
    if alt == Some(o.amount) {
        return (
            Reason::ProrationConvention,
            format!("{code}: {} under actual days; the legacy 30-day convention gives {}", n.amount, o.amount),
        );
    }
    if let (Some(os), Some(oe), Some(ns), Some(ne)) = (o.start, o.end, n.start, n.end)
        && (os, oe) != (ns, ne)
    {
        return (Reason::ServicePeriod, format!("{code}: the legacy line covers {os}..{oe}, the new one {ns}..{ne}"));
    }
    if rounding_only {
        return (Reason::Rounding, rounding_words(n));
    }
    (Reason::Unexplained, format!("{code}: legacy {} vs new {} ({diff:+}), no known cause", o.amount, n.amount))
}

/// The account's verdict over its periods under a wave's policy.
pub fn account_status(periods: &[PeriodVerdict], policy: &Policy) -> AccountStatus {
    let any_mismatch = periods.iter().any(|p| p.status == PeriodStatus::Mismatch);
    let over = policy.account_tolerance.is_some_and(|t| periods.iter().map(|p| p.unaccepted).sum::<Decimal>() > t);
    if any_mismatch || over { AccountStatus::Fail } else { AccountStatus::Pass }
}

#[cfg(test)]
mod tests;
