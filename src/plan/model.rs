//! The validated plan: waves and the catalog, as the engine uses them. Built only by
//! [`super::load`], so every value here has passed validation.

use crate::domain::{Decimal, Segment};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

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
    /// Sending limits for this wave's notices.
    pub notices: NoticeLimits,
    /// Who bills the usage of the last legacy period at cut-over (SPEC §4).
    pub usage_carryover: UsageCarryover,
    /// `run` and `notify` extract again when the latest extraction is older than this many days
    /// (its as-of day against the run's), so an account that closed or changed its services since
    /// is seen before its notice. `None`: extract once.
    pub extraction_max_age_days: Option<u32>,
    /// The file the wave came from, for messages.
    pub file: String,
}

impl Wave {
    /// The last day of the wave's window (inclusive).
    pub fn end(&self) -> Option<NaiveDate> {
        self.start.map(|s| s + chrono::Days::new(u64::from(self.duration_days.saturating_sub(1))))
    }
}

/// Who bills the usage of the last legacy bill period, at cut-over (SPEC §4): usage is billed in
/// arrears, so that period's usage is on no bill yet when the account leaves the legacy system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageCarryover {
    /// The new system: the cut-over hands the usage over as usage records, and the first new
    /// bill carries it (the default).
    #[default]
    New,
    /// The legacy system issues a final usage bill; the load files leave that usage out.
    Legacy,
}

impl UsageCarryover {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageCarryover::New => "new",
            UsageCarryover::Legacy => "legacy",
        }
    }
}

/// How many notices a wave may send: per calendar day and per clock hour (None: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoticeLimits {
    pub per_day: Option<u32>,
    pub per_hour: Option<u32>,
}

impl NoticeLimits {
    /// The most notices one day can take, if limited.
    pub fn daily_capacity(&self) -> Option<u32> {
        match (self.per_day, self.per_hour) {
            (None, None) => None,
            (d, h) => Some(d.unwrap_or(u32::MAX).min(h.map_or(u32::MAX, |h| h.saturating_mul(24)))),
        }
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
    /// The catalog's own currency: single prices are in it.
    pub currency: String,
    /// Every currency the catalog can bill in; `currencies[0] == currency`. A usage price is
    /// given for each (see [`Charge::models`]).
    pub currencies: Vec<String>,
    pub rounding: Rounding,
    pub proration: Proration,
    pub products: Vec<Product>,
    /// legacy code → (product index, charge index)
    #[serde(skip)]
    pub by_code: HashMap<Arc<str>, (usize, usize)>,
    /// Per product: the shared names and bill order of its charges' and discounts' lines.
    #[serde(skip)]
    pub lines: Vec<ProductLines>,
}

/// The names a bill line shows, shared by every line of one charge (or discount), and the line's
/// place in the bill: groups in the order the catalog first names them, then products and their
/// charges in catalog order, each product's discounts after its charges.
#[derive(Debug, Clone)]
pub struct LineNames {
    pub group: Arc<str>,
    pub product: Arc<str>,
    pub charge: Arc<str>,
    /// A usage charge's unit of measure (`uom`), shown with its quantity.
    pub uom: Option<Arc<str>>,
    pub rank: u32,
}

#[derive(Debug, Clone, Default)]
pub struct ProductLines {
    pub charges: Vec<LineNames>,
    pub discounts: Vec<LineNames>,
}

impl Catalog {
    /// Every product and charge without its target id, as (line, col, message): no wave can be
    /// switched until the catalog names them (`plan check` reports them once a wave is dated).
    pub fn missing_target_ids(&self) -> Vec<(usize, usize, String)> {
        let mut out = Vec::new();
        for p in &self.products {
            if p.target.id.is_none() {
                out.push((
                    p.target.line,
                    p.target.col,
                    format!(
                        "product `{}` has no `product_rate_plan_id` (the target's Product Rate Plan id): \
                         a wave cannot switch without it",
                        p.id
                    ),
                ));
            }
            for c in &p.charges {
                if c.target.id.is_none() {
                    out.push((
                        c.target.line,
                        c.target.col,
                        format!(
                            "charge `{}` of product `{}` has no `product_rate_plan_charge_id` (the target's \
                             Product Rate Plan Charge id): a wave cannot switch without it",
                            c.id, p.id
                        ),
                    ));
                }
            }
        }
        out
    }

    /// The product and charge a legacy code maps to.
    /// The index of `currency` in [`Catalog::currencies`], when the catalog can bill in it.
    pub fn currency_index(&self, currency: &str) -> Option<usize> {
        self.currencies.iter().position(|c| c == currency)
    }

    /// Whether a legacy code maps to a usage (metered) charge.
    pub fn bills_usage(&self, legacy_code: &str) -> bool {
        self.lookup(legacy_code).is_some_and(|(_, c)| c.charge_type == ChargeType::Usage)
    }

    pub fn lookup(&self, legacy_code: &str) -> Option<(&Product, &Charge)> {
        let &(p, c) = self.by_code.get(legacy_code)?;
        let product = &self.products[p];
        Some((product, &product.charges[c]))
    }

    /// The shared code and the bill-order names of a legacy code's charge.
    pub fn code(&self, legacy_code: &str) -> Option<(&Arc<str>, usize, usize)> {
        self.by_code.get_key_value(legacy_code).map(|(k, &(p, c))| (k, p, c))
    }

    pub(crate) fn index(&mut self) {
        self.by_code.clear();
        for (p, product) in self.products.iter().enumerate() {
            for (c, charge) in product.charges.iter().enumerate() {
                for code in &charge.legacy_codes {
                    self.by_code.entry(Arc::from(code.as_str())).or_insert((p, c));
                }
            }
        }
        // Bill order: groups in the order the catalog first names them, then products and their
        // charges in catalog order, a product's discounts after its charges. Ranked once here.
        let mut group_order: Vec<&str> = Vec::new();
        for product in &self.products {
            if !group_order.contains(&product.group.as_str()) {
                group_order.push(product.group.as_str());
            }
        }
        let mut keys: Vec<(usize, usize, bool, usize)> = Vec::new();
        for (p, product) in self.products.iter().enumerate() {
            let g = group_order.iter().position(|g| *g == product.group).unwrap_or(usize::MAX);
            keys.extend((0..product.charges.len()).map(|c| (g, p, false, c)));
            keys.extend((0..product.discounts.len()).map(|d| (g, p, true, d)));
        }
        keys.sort();
        let ranks: HashMap<(bool, usize, usize), u32> =
            keys.iter().zip(0u32..).map(|(&(_, p, is_discount, i), rank)| ((is_discount, p, i), rank)).collect();
        self.lines = self
            .products
            .iter()
            .enumerate()
            .map(|(p, product)| {
                let group: Arc<str> = Arc::from(product.group.as_str());
                let name: Arc<str> = Arc::from(product.name.as_str());
                let names = |is_discount: bool, i: usize, n: &str, uom: Option<&String>| LineNames {
                    group: group.clone(),
                    product: name.clone(),
                    charge: Arc::from(n),
                    uom: uom.filter(|u| !u.trim().is_empty()).map(|u| Arc::from(u.trim())),
                    rank: ranks.get(&(is_discount, p, i)).copied().unwrap_or(u32::MAX),
                };
                ProductLines {
                    charges: product
                        .charges
                        .iter()
                        .enumerate()
                        .map(|(c, ch)| names(false, c, &ch.name, ch.uom.as_ref()))
                        .collect(),
                    discounts: product
                        .discounts
                        .iter()
                        .enumerate()
                        .map(|(d, di)| names(true, d, &di.name, None))
                        .collect(),
                }
            })
            .collect();
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
    /// 30/360 day count ÷ 30: every month counts 30 days; day 31 counts as day 30, and a span
    /// running to the end of a short month counts through day 30. Capped at a full period.
    Strict30360,
    /// No proration: any active day in a billing period bills the full period.
    None,
    /// Per charge only: the charge's billing periods start on the service's start date and are
    /// always billed whole (Zuora's "charge full period").
    FullPeriod,
}

impl Proration {
    pub fn as_str(self) -> &'static str {
        match self {
            Proration::ActualDays => "actual_days",
            Proration::Thirty360 => "thirty_360",
            Proration::Strict30360 => "strict_30_360",
            Proration::None => "none",
            Proration::FullPeriod => "full_period",
        }
    }
}

/// How long a recurring charge's billing period is. Recurring charges bill in advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingPeriod {
    Month,
    Quarter,
    Year,
}

impl BillingPeriod {
    /// The period's length in bill periods (months).
    pub fn months(self) -> u32 {
        match self {
            BillingPeriod::Month => 1,
            BillingPeriod::Quarter => 3,
            BillingPeriod::Year => 12,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BillingPeriod::Month => "month",
            BillingPeriod::Quarter => "quarter",
            BillingPeriod::Year => "year",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: String,
    /// The revised product name the new bill shows.
    pub name: String,
    /// The logical element lines are grouped under.
    pub group: String,
    pub charges: Vec<Charge>,
    /// Discounts on this product's charges, applied in order after the charges are rated.
    pub discounts: Vec<Discount>,
    /// The target's Product Rate Plan id (`product_rate_plan_id`), required before a switch.
    pub target: TargetId,
}

/// An id in the target system (Zuora), with where the catalog gives it (or where it should).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetId {
    pub id: Option<String>,
    #[serde(skip)]
    pub line: usize,
    #[serde(skip)]
    pub col: usize,
}

/// A discount on some (or all) of a product's charges: one negative line per bill, rounded once,
/// never more than the lines it applies to.
#[derive(Debug, Clone, Serialize)]
pub struct Discount {
    pub id: String,
    /// The name the bill shows.
    pub name: String,
    pub kind: DiscountKind,
    /// The charge indexes (in [`Product::charges`]) it applies to; empty means all of them.
    pub applies_to: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    /// A percentage (0 < p ≤ 100) of the lines it applies to.
    Percent(Decimal),
    /// A fixed amount per bill, one per catalog currency (index of [`Catalog::currencies`]).
    Amount(Vec<Decimal>),
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

/// The `charge_type` of a discount line on the bill (SPEC §6 extended).
pub const DISCOUNT: &str = "discount";

#[derive(Debug, Clone, PartialEq, Serialize)]
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
    PerUnit {
        price: Option<Decimal>,
    },
    Tiered {
        tiers: Arc<[Tier]>,
    },
    Volume {
        tiers: Arc<[Tier]>,
    },
    Overage {
        included_units: Decimal,
        overage_price: Decimal,
    },
    /// Graduated tiers, every one bounded, and an overage price for each unit above the last.
    TieredWithOverage {
        tiers: Arc<[Tier]>,
        overage_price: Decimal,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Charge {
    pub id: String,
    pub name: String,
    pub charge_type: ChargeType,
    /// The model priced in the catalog's currency.
    pub model: ChargeModel,
    /// The model priced in each of [`Catalog::currencies`] (index 0 is [`Charge::model`]).
    pub models: Vec<ChargeModel>,
    pub uom: Option<String>,
    pub legacy_codes: Vec<String>,
    /// Overrides the catalog's proration for this charge.
    pub proration: Option<Proration>,
    /// Recurring charges: how long a billing period is (default a month).
    pub period: BillingPeriod,
    /// The target's Product Rate Plan Charge id (`product_rate_plan_charge_id`).
    pub target: TargetId,
}

impl Charge {
    /// The model priced in the currency at `index` of [`Catalog::currencies`].
    pub fn model_in(&self, index: usize) -> &ChargeModel {
        self.models.get(index).unwrap_or(&self.model)
    }
}
