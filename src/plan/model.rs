//! The validated plan: waves and the catalog, as the engine uses them. Built only by
//! [`super::load`], so every value here has passed validation.

use crate::domain::{Decimal, Segment};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub waves: Vec<Wave>,
    pub catalog: Catalog,
}

impl Plan {
    pub fn wave(&self, id: &str) -> Option<&Wave> {
        self.waves.iter().find(|w| w.id == id)
    }

    /// The wave that selects an account (validation guarantees at most one).
    pub fn wave_for(&self, segment: Segment, site: Option<&str>) -> Option<&Wave> {
        self.waves.iter().find(|w| w.select.matches(segment, site))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    pub id: String,
    pub name: String,
    pub select: Selector,
    /// `None`: not yet scheduled; the wave cannot run.
    pub start: Option<NaiveDate>,
    pub duration_days: u32,
    /// Largest absolute difference per account and period that passes.
    pub tolerance: Decimal,
    /// Relative tolerance per period, in percent of the legacy period total (`None`: not used).
    /// A period passes when its unaccepted difference is within the larger of the two.
    pub tolerance_pct: Option<Decimal>,
    /// Largest unaccepted difference per account, summed over its periods (`None`: not used).
    pub account_tolerance: Option<Decimal>,
    /// Difference reasons this wave accepts as expected (e.g. `proration_convention`).
    pub accept: Vec<String>,
    pub gate: Gate,
    /// How many of the most recent legacy bills of each account are compared (parallel run).
    pub parallel_run_periods: u32,
    /// The file the wave came from, for messages.
    pub file: String,
}

impl Wave {
    /// The last day of the wave's window (inclusive).
    pub fn end(&self) -> Option<NaiveDate> {
        self.start.map(|s| s + chrono::Days::new(u64::from(self.duration_days.saturating_sub(1))))
    }
}

/// Which accounts a wave selects. An empty list selects every value.
#[derive(Debug, Clone, Serialize)]
pub struct Selector {
    pub segment: Vec<Segment>,
    pub site: Vec<String>,
}

impl Selector {
    pub fn matches(&self, segment: Segment, site: Option<&str>) -> bool {
        (self.segment.is_empty() || self.segment.contains(&segment))
            && (self.site.is_empty() || site.is_some_and(|s| self.site.iter().any(|x| x == s)))
    }
}

/// The wave's go / no-go analysis over its reconciliation (Argo-style): every metric has a
/// limit below which (or above which) the wave pauses, and optionally a harder limit that aborts it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// Pass rate (0..=1) below which the wave pauses.
    pub min_pass_rate: Decimal,
    /// Largest total absolute variance (sum of |difference| over every period) that proceeds.
    pub max_absolute_variance: Option<Decimal>,
    /// Largest number of `unexplained` line differences that proceeds.
    pub max_unexplained: Option<u64>,
    /// Limits that abort the wave instead of pausing it (a person cannot promote an abort).
    pub abort: GateLimits,
}

/// Limits of a gate's `abort` section; every one optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GateLimits {
    pub min_pass_rate: Option<Decimal>,
    pub max_absolute_variance: Option<Decimal>,
    pub max_unexplained: Option<u64>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            min_pass_rate: Decimal::new(95, 2),
            max_absolute_variance: None,
            max_unexplained: None,
            abort: GateLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub currency: String,
    pub rounding: Rounding,
    pub proration: Proration,
    pub products: Vec<Product>,
    /// legacy code → (product index, charge index)
    #[serde(skip)]
    pub by_code: HashMap<String, (usize, usize)>,
}

impl Catalog {
    /// The product and charge a legacy code maps to.
    pub fn lookup(&self, legacy_code: &str) -> Option<(&Product, &Charge)> {
        let &(p, c) = self.by_code.get(legacy_code)?;
        let product = &self.products[p];
        Some((product, &product.charges[c]))
    }

    pub(crate) fn index(&mut self) {
        self.by_code.clear();
        for (p, product) in self.products.iter().enumerate() {
            for (c, charge) in product.charges.iter().enumerate() {
                for code in &charge.legacy_codes {
                    self.by_code.entry(code.clone()).or_insert((p, c));
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    HalfUp,
    HalfEven,
    Down,
    Up,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rounding {
    pub mode: RoundingMode,
    pub scale: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proration {
    /// Active days ÷ days in the period (Zuora's default).
    ActualDays,
    /// Active days ÷ 30 (Actual/360), capped at a full period.
    Thirty360,
    /// No proration: any active day bills the full period.
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: String,
    /// The revised product name the new bill shows.
    pub name: String,
    /// The logical element lines are grouped under.
    pub group: String,
    pub charges: Vec<Charge>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeType {
    Recurring,
    OneTime,
    Usage,
}

impl ChargeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeType::Recurring => "recurring",
            ChargeType::OneTime => "one_time",
            ChargeType::Usage => "usage",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    /// Upper bound of the tier (inclusive); `None` is unbounded (last tier only).
    pub up_to: Option<Decimal>,
    pub price: Decimal,
}

/// How a charge is priced. Recurring and one-time charges use the service's contracted
/// `quantity × unit_price` (flat fee or per unit); usage charges are priced by the catalog.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ChargeModel {
    FlatFee,
    PerUnit { price: Option<Decimal> },
    Tiered { tiers: Vec<Tier> },
    Volume { tiers: Vec<Tier> },
    Overage { included_units: Decimal, overage_price: Decimal },
}

#[derive(Debug, Clone, Serialize)]
pub struct Charge {
    pub id: String,
    pub name: String,
    pub charge_type: ChargeType,
    pub model: ChargeModel,
    pub uom: Option<String>,
    pub legacy_codes: Vec<String>,
    /// Overrides the catalog's proration for this charge.
    pub proration: Option<Proration>,
}
