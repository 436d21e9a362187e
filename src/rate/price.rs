//! Usage pricing models and the one rounding step.

use super::Calculation;
use crate::domain::Decimal;
use crate::plan::{ChargeModel, Rounding, RoundingMode, Tier};
use rust_decimal::RoundingStrategy;

/// THE rounding step: a line amount is rounded here, once, by the catalog's rule. Unit prices and
/// quantities are never rounded; totals are sums of rounded lines.
pub fn round_line(amount: Decimal, rounding: Rounding) -> Decimal {
    let strategy = match rounding.mode {
        RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
        RoundingMode::Down => RoundingStrategy::ToZero,
        RoundingMode::Up => RoundingStrategy::AwayFromZero,
    };
    let mut r = amount.round_dp_with_strategy(rounding.scale, strategy);
    r.rescale(rounding.scale);
    r
}

/// A usage quantity priced by a model: the unrounded amount, the unit price to show, and the
/// arithmetic in words.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedUsage {
    pub amount: Decimal,
    pub unit_price: Decimal,
    pub calculation: Calculation,
}

pub fn price_usage(model: &ChargeModel, qty: Decimal) -> PricedUsage {
    match model {
        ChargeModel::FlatFee => PricedUsage {
            amount: Decimal::ZERO,
            unit_price: Decimal::ZERO,
            calculation: Calculation::Text("flat fee".into()),
        },
        ChargeModel::PerUnit { price } => {
            let p = price.unwrap_or_default();
            PricedUsage {
                amount: qty * p,
                unit_price: p,
                calculation: Calculation::PerUnit { quantity: qty, price: p },
            }
        }
        ChargeModel::Overage { included_units, overage_price } => {
            let over = (qty - included_units).max(Decimal::ZERO);
            PricedUsage {
                amount: over * overage_price,
                unit_price: *overage_price,
                calculation: Calculation::Overage {
                    quantity: qty,
                    included: *included_units,
                    billed: over,
                    price: *overage_price,
                },
            }
        }
        ChargeModel::Tiered { tiers } => graduated(tiers, None, qty),
        ChargeModel::TieredWithOverage { tiers, overage_price } => graduated(tiers, Some(*overage_price), qty),
        ChargeModel::Volume { tiers } => {
            let price = volume_price(tiers, qty);
            PricedUsage {
                amount: qty * price,
                unit_price: price,
                calculation: Calculation::Volume { quantity: qty, price },
            }
        }
    }
}

/// Graduated pricing: each tier's units at its price; with `overage`, units above the last tier's
/// bound at the overage price. The unit price shown is the average (display only, 9 decimals).
fn graduated(tiers: &[Tier], overage: Option<Decimal>, qty: Decimal) -> PricedUsage {
    let q = qty.normalize();
    let mut amount = Decimal::ZERO;
    let mut lower = Decimal::ZERO;
    let mut parts = Vec::new();
    for t in tiers {
        if qty <= lower {
            break;
        }
        let upper = t.up_to.map_or(qty, |u| u.min(qty));
        let units = upper - lower;
        amount += units * t.price;
        parts.push(format!("{} x {}", units.normalize(), t.price));
        lower = upper;
    }
    if let Some(price) = overage {
        let included = tiers.last().and_then(|t| t.up_to).unwrap_or_default();
        let over = (qty - included).max(Decimal::ZERO);
        amount += over * price;
        parts.push(format!("overage {} x {price}", over.normalize()));
        let tiered = parts[..parts.len() - 1].join(" + ");
        let tiered = if tiered.is_empty() { "0".to_string() } else { tiered };
        let unit_price = if qty.is_zero() { Decimal::ZERO } else { (amount / qty).round_dp(9).normalize() };
        return PricedUsage {
            amount,
            unit_price,
            calculation: Calculation::Text(format!(
                "{q} used, {} in tiers ({tiered}), {} billed as overage x {price}",
                qty.min(included).normalize(),
                over.normalize()
            )),
        };
    }
    let unit_price = if qty.is_zero() { tiers.first().map_or(Decimal::ZERO, |t| t.price) } else { amount / qty };
    let calculation = if parts.is_empty() { format!("{q} units") } else { parts.join(" + ") };
    PricedUsage { amount, unit_price: unit_price.round_dp(9).normalize(), calculation: Calculation::Text(calculation) }
}

/// The price of the tier a quantity reaches; every unit is billed at it.
fn volume_price(tiers: &[Tier], qty: Decimal) -> Decimal {
    tiers.iter().find(|t| t.up_to.is_none_or(|u| qty <= u)).or(tiers.last()).map_or(Decimal::ZERO, |t| t.price)
}
