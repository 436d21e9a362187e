//! The catalog (SPEC §3): products, charges, pricing models, and the legacy code mapping.

use super::yaml::{Fields, Reader, is_null, pos, start_of};
use super::{Catalog, Charge, ChargeModel, ChargeType, Problem, Product, Proration, Rounding, RoundingMode, Tier};
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
    let rounding = match f.opt("rounding") {
        None => Some(Rounding { mode: RoundingMode::HalfUp, scale: 2 }),
        Some(n) => rounding(&mut r, n),
    };
    let proration = match f.opt("proration") {
        None => Some(Proration::ActualDays),
        Some(n) => proration(&mut r, n),
    };
    let products = f.req(&mut r, "products").and_then(|n| r.sequence(n, "`products`"));
    f.finish(&mut r);

    let mut out = Vec::new();
    let mut ok = true;
    let mut product_ids: HashMap<String, usize> = HashMap::new();
    let mut codes: HashMap<String, (String, usize)> = HashMap::new();
    for node in products.unwrap_or_default() {
        match product(&mut r, node, &mut product_ids, &mut codes) {
            Some(p) => out.push(p),
            None => ok = false,
        }
    }
    let mut catalog = Catalog {
        currency: currency?,
        rounding: rounding?,
        proration: proration?,
        products: out,
        by_code: HashMap::new(),
    };
    catalog.index();
    ok.then_some(catalog)
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
        "none" => Some(Proration::None),
        other => {
            r.error(n.span(), format!("`proration`: unknown convention `{other}` (actual_days, thirty_360, none)"));
            None
        }
    }
}

fn product(
    r: &mut Reader,
    node: &Node,
    ids: &mut HashMap<String, usize>,
    codes: &mut HashMap<String, (String, usize)>,
) -> Option<Product> {
    let map = r.mapping(node, "a product")?;
    let mut f = Fields::new(map, "a product");
    let id_node = f.req(r, "id");
    let id = id_node.and_then(|n| r.string(n, "`id`"));
    if let (Some(id), Some(n)) = (&id, id_node) {
        let line = pos(n.span()).0;
        if let Some(first) = ids.insert(id.clone(), line) {
            r.error(n.span(), format!("duplicate product id `{id}` (first at line {first})"));
        }
    }
    let name = f.req(r, "name").and_then(|n| r.string(n, "`name`"));
    let group = f.req(r, "group").and_then(|n| r.string(n, "`group`"));
    let charges_node = f.req(r, "charges").and_then(|n| r.sequence(n, "`charges`"));
    f.finish(r);
    let mut charges = Vec::new();
    let mut ok = true;
    let mut charge_ids: HashMap<String, usize> = HashMap::new();
    for c in charges_node.unwrap_or_default() {
        match charge(r, c, &mut charge_ids, codes) {
            Some(c) => charges.push(c),
            None => ok = false,
        }
    }
    if charges_node.is_some_and(|c| c.is_empty()) {
        r.error(&start_of(map), "a product needs at least one charge");
        ok = false;
    }
    (ok && charges_node.is_some()).then_some(())?;
    Some(Product { id: id?, name: name?, group: group?, charges })
}

fn charge(
    r: &mut Reader,
    node: &Node,
    ids: &mut HashMap<String, usize>,
    codes: &mut HashMap<String, (String, usize)>,
) -> Option<Charge> {
    let map = r.mapping(node, "a charge")?;
    let mut f = Fields::new(map, "a charge");
    let id_node = f.req(r, "id");
    let id = id_node.and_then(|n| r.string(n, "`id`"));
    if let (Some(id), Some(n)) = (&id, id_node)
        && let Some(first) = ids.insert(id.clone(), pos(n.span()).0)
    {
        r.error(n.span(), format!("duplicate charge id `{id}` in this product (first at line {first})"));
    }
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
    let proration_override = f.opt("proration").and_then(|n| proration(r, n));
    let price = f.opt("price");
    let included = f.opt("included_units");
    let overage_price = f.opt("overage_price");
    let tiers_node = f.opt("tiers");
    let legacy = f.req(r, "legacy_codes").map(|n| r.strings(n, "`legacy_codes`")).unwrap_or_default();
    f.finish(r);

    // Which fields each model needs, and which it must not have.
    let price_fields: [(&str, Option<&Node>); 4] =
        [("price", price), ("included_units", included), ("overage_price", overage_price), ("tiers", tiers_node)];
    let wants: &[&str] = match model_name.as_deref() {
        Some("flat_fee") => &[],
        Some("per_unit") => &["price"],
        Some("tiered") | Some("volume") => &["tiers"],
        Some("overage") => &["included_units", "overage_price"],
        Some(other) => {
            if let Some(n) = model_node {
                r.error(
                    n.span(),
                    format!("`model`: unknown model `{other}` (flat_fee, per_unit, tiered, volume, overage)"),
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
    let usage_model = matches!(model_name.as_str(), "tiered" | "volume" | "overage");
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
    if let Some(p) = period {
        if charge_type != ChargeType::Recurring {
            r.error(p.span(), "`period` applies to recurring charges only");
            ok = false;
        } else if r.string(p, "`period`").is_some_and(|s| s != "month") {
            r.error(p.span(), "`period`: only `month` is supported");
            ok = false;
        }
    } else if charge_type == ChargeType::Recurring {
        // month is the default billing period
    }
    if charge_type == ChargeType::Usage && uom.is_none() {
        r.error(&start_of(map), "a usage charge needs `uom` (the unit its usage is measured in)");
        ok = false;
    }
    let money = |r: &mut Reader, n: Option<&Node>, what: &str| -> Option<Decimal> {
        let v = r.decimal(n?, what, PRICE_SCALE)?;
        if v.is_sign_negative() {
            r.error(n?.span(), format!("{what} must not be negative"));
            return None;
        }
        Some(v)
    };
    let model = if ok {
        match model_name.as_str() {
            "flat_fee" => Some(ChargeModel::FlatFee),
            "per_unit" => {
                let price = if charge_type == ChargeType::Usage { Some(money(r, price, "`price`")?) } else { None };
                Some(ChargeModel::PerUnit { price })
            }
            "overage" => {
                let inc = money(r, included, "`included_units`");
                let op = money(r, overage_price, "`overage_price`");
                Some(ChargeModel::Overage { included_units: inc?, overage_price: op? })
            }
            m => tiers(r, tiers_node?)
                .map(|tiers| if m == "tiered" { ChargeModel::Tiered { tiers } } else { ChargeModel::Volume { tiers } }),
        }
    } else {
        None
    };
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
        uom,
        legacy_codes: legacy.into_iter().map(|(c, _)| c).collect(),
        proration: proration_override,
    })
}

fn tiers(r: &mut Reader, node: &Node) -> Option<Vec<Tier>> {
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
            (None, false) => {
                r.error(&at, "only the last tier may be unbounded (`up_to: null`)");
                ok = false;
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
        let price = price_node.and_then(|n| {
            let v = r.decimal(n, "`price`", PRICE_SCALE)?;
            if v.is_sign_negative() {
                r.error(n.span(), "`price` must not be negative");
                return None;
            }
            Some(v)
        });
        match price {
            Some(price) => out.push(Tier { up_to, price }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}
