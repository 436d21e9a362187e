//! The catalog (SPEC §3): products, charges, pricing models, and the legacy code mapping.

use super::yaml::{Fields, Reader, is_null, pos, start_of};
use super::{
    BillingPeriod, Catalog, Charge, ChargeModel, ChargeType, Discount, DiscountKind, Problem, Product, Proration,
    Rounding, RoundingMode, TargetId, Tier,
};
use crate::domain::Decimal;
use marked_yaml::Node;
use std::collections::HashMap;

/// Unit prices keep up to this many decimals and are never rounded.
pub const PRICE_SCALE: u32 = 9;

pub(super) fn parse(file: &super::SourceFile, problems: &mut Vec<Problem>) -> Option<Catalog> {
    let mut r = Reader { file: &file.name, problems };
    let root = r.parse(&file.text)?;
    let map = r.mapping(&root, "the catalog")?;
    let mut f = Fields::new(map, "the catalog");
    let currency = match f.opt("currency") {
        None => Some("USD".to_string()),
        Some(n) => r.string(n, "`currency`").and_then(|c| {
            if c.len() == 3 && c.chars().all(|x| x.is_ascii_uppercase()) {
                Some(c)
            } else {
                r.error(n.span(), format!("`currency`: `{c}` is not an ISO 4217 code like USD"));
                None
            }
        }),
    };
    let currencies = match (&currency, f.opt("currencies")) {
        (Some(c), None) => Some(vec![c.clone()]),
        (None, _) => None,
        (Some(c), Some(n)) => currency_list(&mut r, n, c),
    };
    let rounding = match f.opt("rounding") {
        None => Some(Rounding { mode: RoundingMode::HalfUp, scale: 2 }),
        Some(n) => rounding(&mut r, n),
    };
    let proration = match f.opt("proration") {
        None => Some(Proration::ActualDays),
        Some(n) => proration(&mut r, n).and_then(|p| {
            if p == Proration::FullPeriod {
                r.error(n.span(), "`proration`: `full_period` is a per-charge option, not a catalog-wide one");
                return None;
            }
            Some(p)
        }),
    };
    let products = f.req(&mut r, "products").and_then(|n| r.sequence(n, "`products`"));
    f.finish(&mut r);

    let mut out = Vec::new();
    let mut ok = true;
    let mut product_ids: HashMap<String, usize> = HashMap::new();
    let mut codes: HashMap<String, (String, usize)> = HashMap::new();
    let known_currencies = currencies.clone().unwrap_or_default();
    for node in products.unwrap_or_default() {
        match product(&mut r, node, &mut product_ids, &mut codes, &known_currencies) {
            Some(p) => out.push(p),
            None => ok = false,
        }
    }
    let mut catalog = Catalog {
        currency: currency?,
        currencies: currencies?,
        rounding: rounding?,
        proration: proration?,
        products: out,
        by_code: HashMap::new(),
        lines: Vec::new(),
    };
    catalog.index();
    ok.then_some(catalog)
}

/// A currency code: three capital letters (ISO 4217 style).
fn is_currency_code(c: &str) -> bool {
    c.len() == 3 && c.chars().all(|x| x.is_ascii_uppercase())
}

/// `currencies: [USD, CAD]`: every currency the catalog bills in; it must hold `currency`, which
/// comes first in the result.
fn currency_list(r: &mut Reader, n: &Node, base: &str) -> Option<Vec<String>> {
    let items = r.strings(n, "`currencies`");
    let mut out = vec![base.to_string()];
    let mut ok = true;
    let mut has_base = false;
    let mut seen = std::collections::HashSet::new();
    for (c, span) in items {
        if !is_currency_code(&c) {
            r.error(&span, format!("`currencies`: unknown currency code `{c}` (expected an ISO 4217 code like USD)"));
            ok = false;
        } else if !seen.insert(c.clone()) {
            r.error(&span, format!("`currencies`: `{c}` is listed twice"));
            ok = false;
        } else if c == base {
            has_base = true;
        } else {
            out.push(c);
        }
    }
    if !has_base && ok {
        r.error(n.span(), format!("`currencies` must include the catalog's `currency` ({base})"));
        ok = false;
    }
    ok.then_some(out)
}

/// A price: a decimal in the catalog's currency, or a mapping with one price per catalog
/// currency (`{ USD: "0.12", CAD: "0.16" }`). Returns one price per catalog currency, in order.
fn price_value(r: &mut Reader, n: &Node, what: &str, currencies: &[String]) -> Option<Vec<Decimal>> {
    let one = |r: &mut Reader, n: &Node, what: &str| -> Option<Decimal> {
        let v = r.decimal(n, what, PRICE_SCALE)?;
        if v.is_sign_negative() {
            r.error(n.span(), format!("{what} must not be negative"));
            return None;
        }
        Some(v)
    };
    let Some(map) = n.as_mapping() else {
        if currencies.len() > 1 {
            r.error(
                n.span(),
                format!(
                    "{what} needs a price for each catalog currency ({}), e.g. {{ {}: \"1.00\" }}",
                    currencies.join(", "),
                    currencies.join(": \"1.00\", ")
                ),
            );
            return None;
        }
        return one(r, n, what).map(|v| vec![v]);
    };
    let mut out: Vec<Option<Decimal>> = vec![None; currencies.len()];
    let mut ok = true;
    for (k, v) in map.iter() {
        let code = k.as_str();
        if !is_currency_code(code) {
            r.error(k.span(), format!("{what}: unknown currency code `{code}` (expected an ISO 4217 code like USD)"));
            ok = false;
            continue;
        }
        let Some(i) = currencies.iter().position(|c| c == code) else {
            r.error(
                k.span(),
                format!("{what}: `{code}` is not one of the catalog's currencies ({})", currencies.join(", ")),
            );
            ok = false;
            continue;
        };
        match one(r, v, &format!("{what} in {code}")) {
            Some(d) => out[i] = Some(d),
            None => ok = false,
        }
    }
    let missing: Vec<&str> =
        currencies.iter().zip(&out).filter(|(_, v)| v.is_none()).map(|(c, _)| c.as_str()).collect();
    if ok && !missing.is_empty() {
        r.error(&start_of(map), format!("{what} has no price in {}", missing.join(", ")));
        ok = false;
    }
    if !ok {
        return None;
    }
    out.into_iter().collect()
}

fn rounding(r: &mut Reader, n: &Node) -> Option<Rounding> {
    let map = r.mapping(n, "`rounding`")?;
    let mut f = Fields::new(map, "`rounding`");
    let mode = match f.opt("mode") {
        None => Some(RoundingMode::HalfUp),
        Some(m) => match r.string(m, "`rounding.mode`")?.as_str() {
            "half_up" => Some(RoundingMode::HalfUp),
            "half_even" => Some(RoundingMode::HalfEven),
            "down" => Some(RoundingMode::Down),
            "up" => Some(RoundingMode::Up),
            other => {
                r.error(m.span(), format!("`rounding.mode`: unknown mode `{other}` (half_up, half_even, down, up)"));
                None
            }
        },
    };
    let scale = match f.opt("scale") {
        None => Some(2),
        Some(s) => r.parsed::<u32>(s, "`rounding.scale`", "a whole number").and_then(|v| {
            if v <= 6 {
                Some(v)
            } else {
                r.error(s.span(), "`rounding.scale` must be between 0 and 6");
                None
            }
        }),
    };
    f.finish(r);
    Some(Rounding { mode: mode?, scale: scale? })
}

fn proration(r: &mut Reader, n: &Node) -> Option<Proration> {
    match r.string(n, "`proration`")?.as_str() {
        "actual_days" => Some(Proration::ActualDays),
        "thirty_360" => Some(Proration::Thirty360),
        "strict_30_360" => Some(Proration::Strict30360),
        "none" => Some(Proration::None),
        "full_period" => Some(Proration::FullPeriod),
        other => {
            r.error(
                n.span(),
                format!(
                    "`proration`: unknown convention `{other}` (actual_days, thirty_360, strict_30_360, none; per charge also full_period)"
                ),
            );
            None
        }
    }
}

fn product(
    r: &mut Reader,
    node: &Node,
    ids: &mut HashMap<String, usize>,
    codes: &mut HashMap<String, (String, usize)>,
    currencies: &[String],
) -> Option<Product> {
    let map = r.mapping(node, "a product")?;
    let mut f = Fields::new(map, "a product");
    let id = f.id(r, |id, line| {
        ids.insert(id.to_string(), line).map(|first| format!("duplicate product id `{id}` (first at line {first})"))
    });
    let name = f.req(r, "name").and_then(|n| r.string(n, "`name`"));
    let group = f.req(r, "group").and_then(|n| r.string(n, "`group`"));
    let charges_node = f.req(r, "charges").and_then(|n| r.sequence(n, "`charges`"));
    let discounts_node = f.opt("discounts");
    let target = target_id(r, f.opt("product_rate_plan_id"), map, "`product_rate_plan_id`");
    f.finish(r);
    let mut charges = Vec::new();
    let mut ok = true;
    let mut charge_ids: HashMap<String, usize> = HashMap::new();
    for c in charges_node.unwrap_or_default() {
        match charge(r, c, &mut charge_ids, codes, currencies) {
            Some(c) => charges.push(c),
            None => ok = false,
        }
    }
    if charges_node.is_some_and(|c| c.is_empty()) {
        r.error(&start_of(map), "a product needs at least one charge");
        ok = false;
    }
    let mut discounts = Vec::new();
    if let Some(n) = discounts_node {
        let mut discount_ids = std::collections::HashSet::new();
        for d in r.sequence(n, "`discounts`").unwrap_or_default() {
            match discount(r, d, &charges, &mut discount_ids, currencies) {
                Some(d) => discounts.push(d),
                None => ok = false,
            }
        }
    }
    (ok && charges_node.is_some()).then_some(())?;
    Some(Product { id: id?, name: name?, group: group?, charges, discounts, target: target? })
}

/// A discount on a product's charges: `percent` (0 < p ≤ 100) or a fixed `amount` per bill.
fn discount(
    r: &mut Reader,
    node: &Node,
    charges: &[Charge],
    ids: &mut std::collections::HashSet<String>,
    currencies: &[String],
) -> Option<Discount> {
    let map = r.mapping(node, "a discount")?;
    let mut f = Fields::new(map, "a discount");
    let id =
        f.id(r, |id, _| (!ids.insert(id.to_string())).then(|| format!("duplicate discount id `{id}` in this product")));
    let name = f.req(r, "name").and_then(|n| r.string(n, "`name`"));
    let percent = f.opt("percent");
    let amount = f.opt("amount");
    let applies = f.opt("applies_to");
    f.finish(r);
    let kind = match (percent, amount) {
        (Some(p), None) => r.decimal(p, "`percent`", PRICE_SCALE).and_then(|v| {
            if v <= Decimal::ZERO || v > Decimal::ONE_HUNDRED {
                r.error(p.span(), format!("`percent`: `{v}` is out of range (more than 0, at most 100)"));
                return None;
            }
            Some(DiscountKind::Percent(v))
        }),
        (None, Some(a)) => price_value(r, a, "`amount`", currencies).and_then(|v| {
            if v.iter().any(|x| x.is_zero()) {
                r.error(a.span(), "`amount` of a discount must be more than 0");
                return None;
            }
            Some(DiscountKind::Amount(v))
        }),
        (Some(_), Some(a)) => {
            let key = map.keys().find(|k| k.as_str() == "amount").map(|k| *k.span()).unwrap_or(*a.span());
            r.error(&key, "a discount has either `percent` or `amount`, not both");
            None
        }
        (None, None) => {
            r.error(&start_of(map), "a discount needs `percent` or `amount`");
            None
        }
    };
    let mut applies_to = Vec::new();
    let mut ok = true;
    if let Some(n) = applies {
        for (cid, span) in r.strings(n, "`applies_to`") {
            match charges.iter().position(|c| c.id == cid) {
                Some(i) => applies_to.push(i),
                None => {
                    let known: Vec<_> = charges.iter().map(|c| c.id.as_str()).collect();
                    r.error(
                        &span,
                        format!("`applies_to`: no charge `{cid}` in this product (charges: {})", known.join(", ")),
                    );
                    ok = false;
                }
            }
        }
    }
    ok.then_some(())?;
    Some(Discount { id: id?, name: name?, kind: kind?, applies_to })
}

// Long: a flat list of one charge's fields, each read with its position (every problem at once).
fn charge(
    r: &mut Reader,
    node: &Node,
    ids: &mut HashMap<String, usize>,
    codes: &mut HashMap<String, (String, usize)>,
    currencies: &[String],
) -> Option<Charge> {
    let map = r.mapping(node, "a charge")?;
    let mut f = Fields::new(map, "a charge");
    let id = f.id(r, |id, line| {
        let first = ids.insert(id.to_string(), line)?;
        Some(format!("duplicate charge id `{id}` in this product (first at line {first})"))
    });
    let name = f.req(r, "name").and_then(|n| r.string(n, "`name`"));
    let type_node = f.req(r, "type");
    let charge_type = type_node.and_then(|n| match r.string(n, "`type`")?.as_str() {
        "recurring" => Some(ChargeType::Recurring),
        "one_time" => Some(ChargeType::OneTime),
        "usage" => Some(ChargeType::Usage),
        other => {
            r.error(n.span(), format!("`type`: unknown charge type `{other}` (recurring, one_time, usage)"));
            None
        }
    });
    let model_node = f.req(r, "model");
    let model_name = model_node.and_then(|n| r.string(n, "`model`"));
    let uom = f.opt("uom").and_then(|n| r.string(n, "`uom`"));
    let period = f.opt("period");
    let proration_node = f.opt("proration");
    let proration_override = proration_node.and_then(|n| proration(r, n));
    let price = f.opt("price");
    let included = f.opt("included_units");
    let overage_price = f.opt("overage_price");
    let tiers_node = f.opt("tiers");
    let legacy = f.req(r, "legacy_codes").map(|n| r.strings(n, "`legacy_codes`")).unwrap_or_default();
    let target = target_id(r, f.opt("product_rate_plan_charge_id"), map, "`product_rate_plan_charge_id`");
    f.finish(r);

    // Which fields each model needs, and which it must not have.
    let price_fields: [(&str, Option<&Node>); 4] =
        [("price", price), ("included_units", included), ("overage_price", overage_price), ("tiers", tiers_node)];
    let wants: &[&str] = match model_name.as_deref() {
        Some("flat_fee") => &[],
        Some("per_unit") => &["price"],
        Some("tiered") | Some("volume") => &["tiers"],
        Some("overage") => &["included_units", "overage_price"],
        Some("tiered_with_overage") => &["tiers", "overage_price"],
        Some(other) => {
            if let Some(n) = model_node {
                r.error(
                    n.span(),
                    format!(
                        "`model`: unknown model `{other}` (flat_fee, per_unit, tiered, volume, overage, tiered_with_overage)"
                    ),
                );
            }
            return None;
        }
        None => return None,
    };
    let model_span = model_node.map(|n| *n.span()).unwrap_or(start_of(map));
    let model_name = model_name?;
    let charge_type = charge_type?;
    let mut ok = true;
    // Usage-only models on a recurring or one-time charge, and the reverse.
    let usage_model = matches!(model_name.as_str(), "tiered" | "volume" | "overage" | "tiered_with_overage");
    if usage_model && charge_type != ChargeType::Usage {
        r.error(
            &model_span,
            format!("model `{model_name}` prices usage; a {} charge cannot use it", charge_type.as_str()),
        );
        ok = false;
    }
    if model_name == "flat_fee" && charge_type == ChargeType::Usage {
        r.error(&model_span, "a usage charge cannot be a flat fee (use per_unit, tiered, volume or overage)");
        ok = false;
    }
    // per_unit recurring/one-time charges are priced by the contract; only usage needs a price.
    let needs_price = |field: &str| -> bool { field != "price" || charge_type == ChargeType::Usage };
    for (field, node) in price_fields {
        let wanted = wants.contains(&field) && needs_price(field);
        match node {
            None if wanted => {
                r.error(&start_of(map), format!("charge with model `{model_name}` is missing `{field}`"));
                ok = false;
            }
            Some(n) if !wants.contains(&field) || !needs_price(field) => {
                let key_span = map.keys().find(|k| k.as_str() == field).map(|k| *k.span()).unwrap_or(*n.span());
                r.error(
                    &key_span,
                    format!("`{field}` does not apply to a {} charge with model `{model_name}`", charge_type.as_str()),
                );
                ok = false;
            }
            _ => {}
        }
    }
    let mut billing_period = BillingPeriod::Month;
    if let Some(p) = period {
        if charge_type != ChargeType::Recurring {
            r.error(p.span(), "`period` applies to recurring charges only");
            ok = false;
        } else {
            match r.string(p, "`period`").as_deref() {
                Some("month") => billing_period = BillingPeriod::Month,
                Some("quarter") => billing_period = BillingPeriod::Quarter,
                Some("year") => billing_period = BillingPeriod::Year,
                Some(other) => {
                    r.error(p.span(), format!("`period`: unknown billing period `{other}` (month, quarter, year)"));
                    ok = false;
                }
                None => ok = false,
            }
        }
    }
    if let Some(n) = proration_node
        && charge_type != ChargeType::Recurring
    {
        r.error(
            n.span(),
            format!("`proration` applies to recurring charges only (this is a {} charge)", charge_type.as_str()),
        );
        ok = false;
    }
    if charge_type == ChargeType::Usage && uom.is_none() {
        r.error(&start_of(map), "a usage charge needs `uom` (the unit its usage is measured in)");
        ok = false;
    }
    let units = |r: &mut Reader, n: Option<&Node>, what: &str| -> Option<Decimal> {
        let v = r.decimal(n?, what, PRICE_SCALE)?;
        if v.is_sign_negative() {
            r.error(n?.span(), format!("{what} must not be negative"));
            return None;
        }
        Some(v)
    };
    let n_cur = currencies.len();
    // One model per catalog currency.
    let models: Option<Vec<ChargeModel>> = if ok {
        match model_name.as_str() {
            "flat_fee" => Some(vec![ChargeModel::FlatFee; n_cur]),
            "per_unit" if charge_type == ChargeType::Usage => price_value(r, price?, "`price`", currencies)
                .map(|ps| ps.into_iter().map(|p| ChargeModel::PerUnit { price: Some(p) }).collect()),
            "per_unit" => Some(vec![ChargeModel::PerUnit { price: None }; n_cur]),
            "overage" => {
                let inc = units(r, included, "`included_units`");
                let op = price_value(r, overage_price?, "`overage_price`", currencies);
                let inc = inc?;
                op.map(|ps| {
                    ps.into_iter().map(|p| ChargeModel::Overage { included_units: inc, overage_price: p }).collect()
                })
            }
            m => {
                let with_overage = m == "tiered_with_overage";
                let t = tiers(r, tiers_node?, currencies, with_overage);
                let op = if with_overage {
                    price_value(r, overage_price?, "`overage_price`", currencies)
                } else {
                    Some(vec![])
                };
                let (t, op) = (t?, op?);
                Some(
                    (0..n_cur)
                        .map(|ci| {
                            let tiers: std::sync::Arc<[Tier]> =
                                t.iter().map(|(up_to, ps)| Tier { up_to: *up_to, price: ps[ci] }).collect();
                            match m {
                                "tiered" => ChargeModel::Tiered { tiers },
                                "volume" => ChargeModel::Volume { tiers },
                                _ => ChargeModel::TieredWithOverage { tiers, overage_price: op[ci] },
                            }
                        })
                        .collect(),
                )
            }
        }
    } else {
        None
    };
    let model = models.as_ref().and_then(|m| m.first().cloned());
    let charge_id = id.clone().unwrap_or_default();
    if legacy.is_empty() && ok {
        r.error(&start_of(map), "a charge needs at least one legacy code in `legacy_codes`");
        ok = false;
    }
    for (code, span) in &legacy {
        let line = pos(span).0;
        if let Some((other, first)) = codes.get(code) {
            r.error(span, format!("legacy code `{code}` is mapped twice (also to charge `{other}` at line {first})"));
            ok = false;
        } else {
            codes.insert(code.clone(), (charge_id.clone(), line));
        }
    }
    ok.then_some(())?;
    Some(Charge {
        id: id?,
        name: name?,
        charge_type,
        model: model?,
        models: models?,
        uom,
        legacy_codes: legacy.into_iter().map(|(c, _)| c).collect(),
        proration: proration_override,
        period: billing_period,
        target: target?,
    })
}

/// A target-system id (Zuora's Product Rate Plan or Product Rate Plan Charge id), kept with the
/// position the cut-over's check points at when it is missing: the key itself, or the start of
/// the product or charge that lacks it.
fn target_id(
    r: &mut Reader,
    node: Option<&Node>,
    map: &marked_yaml::types::MarkedMappingNode,
    what: &str,
) -> Option<TargetId> {
    let Some(n) = node else {
        let (line, col) = pos(&start_of(map));
        return Some(TargetId { id: None, line, col });
    };
    let (line, col) = pos(n.span());
    let id = r.string(n, what)?;
    if id.is_empty() || id.chars().any(|c| c.is_control() || c == ',' || c == '"') {
        r.error(n.span(), format!("{what}: `{id}` is not an id the target system could have issued"));
        return None;
    }
    Some(TargetId { id: Some(id), line, col })
}

/// Tiers as (upper bound, one price per catalog currency). Bounds strictly increase; the last
/// tier is unbounded, except under `tiered_with_overage`, where every tier is bounded (units above
/// the last bound are overage).
fn tiers(
    r: &mut Reader,
    node: &Node,
    currencies: &[String],
    all_bounded: bool,
) -> Option<Vec<(Option<Decimal>, Vec<Decimal>)>> {
    let items = r.sequence(node, "`tiers`")?;
    if items.is_empty() {
        r.error(node.span(), "`tiers` must list at least one tier");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    let mut prev: Option<Decimal> = None;
    for (i, item) in items.iter().enumerate() {
        let Some(map) = r.mapping(item, "a tier") else {
            ok = false;
            continue;
        };
        let mut f = Fields::new(map, "a tier");
        let up_to_node = f.opt("up_to");
        let price_node = f.req(r, "price");
        f.finish(r);
        let last = i + 1 == items.len();
        let up_to = match up_to_node {
            None => None,
            Some(n) if is_null(n) => None,
            Some(n) => match r.decimal(n, "`up_to`", PRICE_SCALE) {
                Some(v) => Some(v),
                None => {
                    ok = false;
                    continue;
                }
            },
        };
        let at = up_to_node.map(|n| *n.span()).unwrap_or(start_of(map));
        match (up_to, last) {
            (None, _) if all_bounded => {
                r.error(&at, "every tier of `tiered_with_overage` needs an `up_to` (units above the last are overage)");
                ok = false;
            }
            (None, false) => {
                r.error(&at, "only the last tier may be unbounded (`up_to: null`)");
                ok = false;
            }
            (Some(u), true) if all_bounded => {
                if u <= Decimal::ZERO || prev.is_some_and(|p| u <= p) {
                    r.error(&at, format!("tiers out of order: `up_to: {u}` must be above the previous tier's bound"));
                    ok = false;
                }
                prev = Some(u);
            }
            (Some(_), true) => {
                r.error(&at, "the last tier must be unbounded (`up_to: null`) so every quantity has a price");
                ok = false;
            }
            (Some(u), _) => {
                if u <= Decimal::ZERO || prev.is_some_and(|p| u <= p) {
                    r.error(&at, format!("tiers out of order: `up_to: {u}` must be above the previous tier's bound"));
                    ok = false;
                }
                prev = Some(u);
            }
            (None, true) => {}
        }
        match price_node.and_then(|n| price_value(r, n, "`price`", currencies)) {
            Some(prices) => out.push((up_to, prices)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}
