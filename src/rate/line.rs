//! A bill line and how it explains itself.
//!
//! Names are shared (`Arc<str>`, built once per catalog) and the explanation is kept as the
//! numbers it is made of and written out only when shown ([`Calculation`]), so rating a line
//! allocates nothing but the line itself. The JSON is the same as plain strings (SPEC §6).

use crate::domain::Decimal;
use crate::plan::{BillingPeriod, Proration, Tier};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// One line of a new-format bill (SPEC §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillLine {
    pub group: Arc<str>,
    pub product: Arc<str>,
    pub charge: Arc<str>,
    pub charge_type: LineType,
    pub legacy_code: Arc<str>,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub quantity: Decimal,
    /// The unit the quantity is measured in, for usage (`Mbps`, `kWh`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<Arc<str>>,
    pub unit_price: Decimal,
    pub amount: Decimal,
    /// How the amount was computed, e.g. `14/30 days x 1 x 1200.00`.
    pub calculation: Calculation,
    /// True when the line covers less than the full bill period.
    pub partial: bool,
}

impl BillLine {
    /// A recurring line's amount before the one rounding step, when the line knows its factor
    /// (a line read back from JSON does not).
    pub fn exact_recurring_amount(&self) -> Option<Decimal> {
        match &self.calculation {
            Calculation::Recurring { fraction: (n, d), quantity, unit_price, .. } if *d != 0 => {
                Some(quantity * unit_price * Decimal::from(*n) / Decimal::from(*d))
            }
            _ => None,
        }
    }
}

/// The `charge_type` of a line: a catalog charge type, or a discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineType {
    Recurring,
    OneTime,
    Usage,
    Discount,
}

impl LineType {
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Recurring => "recurring",
            LineType::OneTime => "one_time",
            LineType::Usage => "usage",
            LineType::Discount => "discount",
        }
    }
}

impl From<crate::plan::ChargeType> for LineType {
    fn from(t: crate::plan::ChargeType) -> Self {
        match t {
            crate::plan::ChargeType::Recurring => LineType::Recurring,
            crate::plan::ChargeType::OneTime => LineType::OneTime,
            crate::plan::ChargeType::Usage => LineType::Usage,
        }
    }
}

impl fmt::Display for LineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a recurring line's factor was reached: whole bill periods, then the partial ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factor {
    /// Whole bill periods (months) active.
    pub months: i64,
    /// The partial bill periods as (numerator, denominator); at most two (the start and the end).
    pub days: [(i64, i64); 2],
    pub n_days: usize,
    pub period: BillingPeriod,
    pub convention: Proration,
    pub partial: bool,
    /// Active for less than the charge period but billed in full (`none`).
    pub unprorated: bool,
}

/// The arithmetic of a line, written out when shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Calculation {
    Recurring {
        factor: Factor,
        /// The factor as the exact fraction the amount was computed with (numerator, denominator).
        fraction: (i64, i64),
        quantity: Decimal,
        unit_price: Decimal,
    },
    OneTime {
        quantity: Decimal,
        unit_price: Decimal,
    },
    PerUnit {
        quantity: Decimal,
        price: Decimal,
    },
    Overage {
        quantity: Decimal,
        included: Decimal,
        billed: Decimal,
        price: Decimal,
    },
    Volume {
        quantity: Decimal,
        price: Decimal,
    },
    /// Graduated tiers (`tiered`), and an overage price (`tiered_with_overage`).
    Graduated {
        quantity: Decimal,
        tiers: Arc<[Tier]>,
        overage: Option<Decimal>,
    },
    /// Anything else, already written (tiers, discounts, a line read back from JSON).
    Text(String),
}

impl fmt::Display for Calculation {
    // Long: one arm per kind of calculation shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Calculation::Recurring { factor: x, quantity, unit_price, .. } => {
                let q = quantity.normalize();
                let prefix = match x.period {
                    BillingPeriod::Month => "",
                    BillingPeriod::Quarter => "quarter: ",
                    BillingPeriod::Year => "year: ",
                };
                let tag = if x.convention == Proration::Strict30360 { " (30/360)" } else { "" };
                if x.convention == Proration::FullPeriod {
                    return write!(f, "{prefix}{q} x {unit_price} (full period)");
                }
                if !x.partial {
                    let note = if x.unprorated { " (not prorated)" } else { "" };
                    return write!(f, "{prefix}{q} x {unit_price}{note}");
                }
                let days = &x.days[..x.n_days];
                if x.period == BillingPeriod::Month
                    && let [(n, d)] = days
                {
                    return write!(f, "{n}/{d} days{tag} x {q} x {unit_price}");
                }
                f.write_str(prefix)?;
                f.write_str("(")?;
                let mut first = true;
                if x.months > 0 {
                    write!(f, "{} months", x.months)?;
                    first = false;
                }
                for (n, d) in days {
                    if !first {
                        f.write_str(" + ")?;
                    }
                    write!(f, "{n}/{d} days")?;
                    first = false;
                }
                write!(f, "){tag}/{} x {q} x {unit_price}", x.period.months())
            }
            Calculation::OneTime { quantity, unit_price } => {
                write!(f, "one-time: {} x {unit_price}", quantity.normalize())
            }
            Calculation::PerUnit { quantity, price } => write!(f, "{} x {price}", quantity.normalize()),
            Calculation::Overage { quantity, included, billed, price } => write!(
                f,
                "{} used, {} included, {} billed x {price}",
                quantity.normalize(),
                included.normalize(),
                billed.normalize()
            ),
            Calculation::Volume { quantity, price } => write!(f, "{} x {price} (volume tier)", quantity.normalize()),
            Calculation::Graduated { quantity, tiers, overage } => {
                let q = quantity.normalize();
                let mut parts = super::price::graduated_units(tiers, None, *quantity).peekable();
                let write_tiers = |f: &mut fmt::Formatter<'_>, parts: &mut dyn Iterator<Item = (Decimal, Decimal)>| {
                    let mut first = true;
                    for (units, price) in parts {
                        if !first {
                            f.write_str(" + ")?;
                        }
                        write!(f, "{} x {price}", units.normalize())?;
                        first = false;
                    }
                    Ok::<bool, fmt::Error>(first)
                };
                match overage {
                    None => {
                        if parts.peek().is_none() {
                            return write!(f, "{q} units");
                        }
                        write_tiers(f, &mut parts).map(|_| ())
                    }
                    Some(price) => {
                        let included = tiers.last().and_then(|t| t.up_to).unwrap_or_default();
                        let over = (*quantity - included).max(Decimal::ZERO);
                        write!(f, "{q} used, {} in tiers (", (*quantity).min(included).normalize())?;
                        if write_tiers(f, &mut parts)? {
                            f.write_str("0")?;
                        }
                        write!(f, "), {} billed as overage x {price}", over.normalize())
                    }
                }
            }
            Calculation::Text(s) => f.write_str(s),
        }
    }
}

impl Serialize for Calculation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Calculation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Calculation::Text)
    }
}
