//! Reconcile: compares what the legacy system billed with what the new model bills, per account
//! and period, and explains every difference. Pure.
//!
//! Lines are matched by legacy code. A difference on a code is explained, in this order, as
//! `unmapped_product` (the code has no product in the new catalog), `missing_line` (the legacy bill
//! has it, the new one does not), `extra_line` (the new bill has it, the legacy one does not),
//! `price_difference` (billed unit price differs from the contracted one), `usage_difference`
//! (billed quantity differs), `proration_convention` (re-rated under the legacy 30-day convention
//! the amounts agree), `rounding` (same quantity and price, within one unit of the scale per line), and otherwise `unexplained`.
//! A difference nothing explains is never passed silently.

pub mod report;

use crate::domain::{Decimal, LegacyLine, Period};
use crate::plan::{Catalog, Rounding};
use crate::rate::NewBill;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    ProrationConvention,
    UnmappedProduct,
    Rounding,
    PriceDifference,
    UsageDifference,
    MissingLine,
    ExtraLine,
    Unexplained,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::ProrationConvention,
        Reason::UnmappedProduct,
        Reason::Rounding,
        Reason::PriceDifference,
        Reason::UsageDifference,
        Reason::MissingLine,
        Reason::ExtraLine,
        Reason::Unexplained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ProrationConvention => "proration_convention",
            Reason::UnmappedProduct => "unmapped_product",
            Reason::Rounding => "rounding",
            Reason::PriceDifference => "price_difference",
            Reason::UsageDifference => "usage_difference",
            Reason::MissingLine => "missing_line",
            Reason::ExtraLine => "extra_line",
            Reason::Unexplained => "unexplained",
        }
    }

    pub fn names() -> String {
        Reason::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown reason `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodStatus {
    Match,
    WithinTolerance,
    Mismatch,
}

/// One explained difference on one legacy code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub legacy_code: String,
    pub reason: Reason,
    pub legacy_amount: Decimal,
    pub new_amount: Decimal,
    pub detail: String,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Pass,
    Fail,
}

/// What a wave tolerates.
#[derive(Debug, Clone)]
pub struct Policy {
    pub tolerance: Decimal,
    pub accept: Vec<Reason>,
}

/// The inputs for one period: the legacy lines, the new bill, and the new bill re-rated under the
/// legacy system's proration convention.
pub struct PeriodInput<'a> {
    pub legacy: &'a [LegacyLine],
    pub new: &'a NewBill,
    pub new_legacy_convention: &'a NewBill,
}

#[derive(Default)]
struct Side {
    amount: Decimal,
    quantity: Decimal,
    unit_prices: Vec<Decimal>,
    lines: usize,
}

/// Compares one period and gives its verdict.
pub fn compare(input: &PeriodInput, catalog: &Catalog, policy: &Policy) -> PeriodVerdict {
    let mut old: BTreeMap<&str, Side> = BTreeMap::new();
    for l in input.legacy {
        let s = old.entry(&l.legacy_code).or_default();
        s.amount += l.amount;
        s.quantity += l.quantity;
        s.unit_prices.push(l.unit_price);
        s.lines += 1;
    }
    let mut new: BTreeMap<&str, Side> = BTreeMap::new();
    for l in &input.new.lines {
        let s = new.entry(&l.legacy_code).or_default();
        s.amount += l.amount;
        s.quantity += l.quantity;
        s.unit_prices.push(l.unit_price);
        s.lines += 1;
    }
    let mut alt: BTreeMap<&str, Decimal> = BTreeMap::new();
    for l in &input.new_legacy_convention.lines {
        *alt.entry(&l.legacy_code).or_default() += l.amount;
    }

    let mut codes: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    codes.sort_unstable();
    codes.dedup();
    let empty = Side::default();
    let mut findings = Vec::new();
    for code in codes {
        let o = old.get(code).unwrap_or(&empty);
        let n = new.get(code).unwrap_or(&empty);
        if o.amount == n.amount && o.lines > 0 && n.lines > 0 {
            continue;
        }
        let (reason, detail) = explain(code, o, n, alt.get(code).copied(), catalog, catalog.rounding);
        findings.push(Finding {
            legacy_code: code.to_string(),
            reason,
            legacy_amount: o.amount,
            new_amount: n.amount,
            detail,
        });
    }

    let legacy_total: Decimal = input.legacy.iter().map(|l| l.amount).sum();
    let new_total = input.new.total;
    let difference = new_total - legacy_total;
    let mut reasons: Vec<Reason> = Vec::new();
    for f in &findings {
        if !reasons.contains(&f.reason) {
            reasons.push(f.reason);
        }
    }
    let status = if difference.is_zero() && findings.iter().all(|f| f.legacy_amount == f.new_amount) {
        PeriodStatus::Match
    } else if difference.abs() <= policy.tolerance {
        // Passed, never silently: the reasons (even `unexplained`) stay on the verdict.
        PeriodStatus::WithinTolerance
    } else if !reasons.is_empty() && reasons.iter().all(|r| policy.accept.contains(r)) {
        // Every difference is explained by a reason the wave accepts as expected.
        PeriodStatus::WithinTolerance
    } else {
        PeriodStatus::Mismatch
    };
    PeriodVerdict { period: input.new.period, legacy_total, new_total, difference, status, reasons, findings }
}

fn explain(
    code: &str,
    o: &Side,
    n: &Side,
    alt: Option<Decimal>,
    catalog: &Catalog,
    rounding: Rounding,
) -> (Reason, String) {
    let diff = n.amount - o.amount;
    if catalog.lookup(code).is_none() {
        return (Reason::UnmappedProduct, format!("legacy code {code} has no product in the new catalog"));
    }
    if n.lines == 0 {
        return (Reason::MissingLine, format!("the legacy bill has {code} ({}) and the new bill does not", o.amount));
    }
    if o.lines == 0 {
        return (Reason::ExtraLine, format!("the new bill has {code} ({}) and the legacy bill does not", n.amount));
    }
    let mut op = o.unit_prices.clone();
    let mut np = n.unit_prices.clone();
    op.sort();
    np.sort();
    op.dedup();
    np.dedup();
    if o.quantity != n.quantity {
        return (
            Reason::UsageDifference,
            format!("{code}: legacy billed quantity {}, new {}", o.quantity.normalize(), n.quantity.normalize()),
        );
    }
    if op != np {
        let show = |v: &[Decimal]| v.iter().map(|d| d.normalize().to_string()).collect::<Vec<_>>().join(", ");
        return (Reason::PriceDifference, format!("{code}: legacy unit price {}, contracted {}", show(&op), show(&np)));
    }
    if alt == Some(o.amount) {
        return (
            Reason::ProrationConvention,
            format!("{code}: {} under actual days; the legacy 30-day convention gives {}", n.amount, o.amount),
        );
    }
    // Same quantity and price: two systems rounding the same exact amount differently (half up
    // vs half even, per line vs per invoice) differ by at most one unit of the scale per line.
    let unit = Decimal::new(1, rounding.scale) * Decimal::from(o.lines.max(n.lines));
    if diff.abs() <= unit {
        return (Reason::Rounding, format!("{code}: {diff} is within rounding"));
    }
    (Reason::Unexplained, format!("{code}: legacy {} vs new {} ({diff:+}), no known cause", o.amount, n.amount))
}

/// The account's verdict over its periods.
pub fn account_status(periods: &[PeriodVerdict]) -> AccountStatus {
    if periods.iter().all(|p| p.status != PeriodStatus::Mismatch) { AccountStatus::Pass } else { AccountStatus::Fail }
}

/// Go / no-go for a wave from its pass rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    Proceed,
    Pause,
    Abort,
}

pub fn gate(passed: u64, accounts: u64, min_pass_rate: Decimal) -> GateVerdict {
    if accounts == 0 {
        return GateVerdict::Pause;
    }
    let rate = Decimal::from(passed) / Decimal::from(accounts);
    if rate >= min_pass_rate { GateVerdict::Proceed } else { GateVerdict::Pause }
}

#[cfg(test)]
mod tests;
