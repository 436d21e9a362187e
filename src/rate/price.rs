//! Usage pricing models and the one rounding step.

use super::Calculation;
use crate::domain::Decimal;
use crate::plan::{ChargeModel, Rounding, RoundingMode, Tier};
use rust_decimal::RoundingStrategy;
use std::sync::Arc;

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
fn graduated(tiers: &Arc<[Tier]>, overage: Option<Decimal>, qty: Decimal) -> PricedUsage {
    let mut amount = Decimal::ZERO;
    for (units, price) in graduated_units(tiers, overage, qty) {
        amount += units * price;
    }
    let unit_price = if qty.is_zero() {
        if overage.is_some() { Decimal::ZERO } else { tiers.first().map_or(Decimal::ZERO, |t| t.price) }
    } else {
        (amount / qty).round_dp(9).normalize()
    };
    PricedUsage {
        amount,
        unit_price,
        calculation: Calculation::Graduated { quantity: qty, tiers: tiers.clone(), overage },
    }
}

/// The units each tier prices, as (units, price), then (overage units, overage price) when there
/// is an overage price. Tiers the quantity does not reach are left out.
pub fn graduated_units(
    tiers: &[Tier],
    overage: Option<Decimal>,
    qty: Decimal,
) -> impl Iterator<Item = (Decimal, Decimal)> + '_ {
    let mut lower = Decimal::ZERO;
    let tiered = tiers.iter().map_while(move |t| {
        if qty <= lower {
            return None;
        }
        let upper = t.up_to.map_or(qty, |u| u.min(qty));
        let units = upper - lower;
        lower = upper;
        Some((units, t.price))
    });
    let included = tiers.last().and_then(|t| t.up_to).unwrap_or_default();
    let over = overage.map(|price| ((qty - included).max(Decimal::ZERO), price));
    tiered.chain(over)
}

/// The price of the tier a quantity reaches; every unit is billed at it.
fn volume_price(tiers: &[Tier], qty: Decimal) -> Decimal {
    tiers.iter().find(|t| t.up_to.is_none_or(|u| qty <= u)).or(tiers.last()).map_or(Decimal::ZERO, |t| t.price)
}
