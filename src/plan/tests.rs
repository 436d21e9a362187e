//! Plan checks as tables: each case is a file's text and the problems it must produce.

use super::*;

const CATALOG: &str = include_str!("../../waves/catalog.yaml");

fn file(name: &str, text: &str) -> SourceFile {
    SourceFile { name: name.to_string(), text: text.to_string() }
}

fn repo_waves() -> Vec<SourceFile> {
    crate::demo::PLAN_FILES.iter().filter(|(n, _)| *n != "catalog.yaml").map(|(n, t)| file(n, t)).collect()
}

/// Checks `waves` against the real catalog; returns the problems as `file:line:col: message`.
fn check_waves(waves: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<_> = waves.iter().map(|(n, t)| file(n, t)).collect();
    parse(&file("catalog.yaml", CATALOG), &files).problems.iter().map(|p| p.to_string()).collect()
}

fn check_catalog(text: &str) -> Vec<String> {
    parse(&file("catalog.yaml", text), &[]).problems.iter().map(|p| p.to_string()).collect()
}

#[test]
fn the_repository_plan_is_valid_and_warns_about_the_undated_wave() {
    let checked = parse(&file("waves/catalog.yaml", CATALOG), &repo_waves());
    let errors: Vec<_> = checked.errors().map(|p| p.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let plan = checked.plan.expect("valid plan");
    let ids: Vec<_> = plan.waves.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["dc1-colocation", "dc2-colocation", "dc3-colocation", "multi-tenant-cloud", "internet-wireless"]);
    let dc1 = plan.wave("dc1-colocation").unwrap();
    assert_eq!(dc1.start.unwrap().to_string(), "2017-06-05");
    assert_eq!(dc1.end().unwrap().to_string(), "2017-08-03", "60 days including the start");
    assert_eq!(plan.wave("multi-tenant-cloud").unwrap().duration_days, 90);
    assert!(plan.wave("internet-wireless").unwrap().start.is_none());
    let warnings: Vec<_> = checked.problems.iter().filter(|p| p.severity == Severity::Warning).collect();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].to_string().starts_with("internet-wireless.yaml:4:8: warning:"), "{}", warnings[0]);
    // Every segment and DC lands in exactly one wave.
    use crate::domain::Segment::*;
    for (seg, site, wave) in [
        (Colocation, Some("DC1"), "dc1-colocation"),
        (Colocation, Some("DC2"), "dc2-colocation"),
        (Colocation, Some("DC3"), "dc3-colocation"),
        (MultiTenant, None, "multi-tenant-cloud"),
        (Cloud, None, "multi-tenant-cloud"),
        (Internet, None, "internet-wireless"),
        (Wireless, None, "internet-wireless"),
    ] {
        assert_eq!(plan.wave_for(seg, site).map(|w| w.id.as_str()), Some(wave), "{seg} {site:?}");
    }
    assert!(plan.wave_for(Colocation, Some("DC9")).is_none());
}

const GOOD: &str =
    "id: w1\nname: W1\nselect: { segment: [colocation], site: [DC1] }\nstart: 2017-06-05\nduration_days: 60\n";

#[test]
// Long: a table of wave-file problems, a row each.
fn wave_problems_name_file_line_and_column() {
    // (wave file text, the problem it must report)
    let table: &[(&str, &str)] = &[
        (
            "id: w1\nname: W1\nselect: { segment: [colocation] }\nstart: 2017-06-31\nduration_days: 60\n",
            "w.yaml:4:8: `start`: `2017-06-31` is no day of the calendar (YYYY-MM-DD: that month has no such day)",
        ),
        // A two-digit year is not the year 18.
        (
            "id: w1\nname: W1\nselect: { segment: [colocation] }\nstart: 18-01-01\nduration_days: 60\n",
            "w.yaml:4:8: `start`: `18-01-01` is not a date (write it as YYYY-MM-DD)",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [colocation] }\nstart: 2017-06-05\nduration_days: -5\n",
            "w.yaml:5:16: `duration_days` must be positive (got -5): the window would be empty",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [colocation] }\nstart: 2017-06-05\nduration_days: 60\nspeed: fast\n",
            "w.yaml:6:1: unknown field `speed` in the wave",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [colo] }\nstart: 2017-06-05\nduration_days: 60\n",
            "w.yaml:3:21: unknown segment `colo`",
        ),
        (
            "id: w1\nselect: { segment: [colocation] }\nstart: 2017-06-05\nduration_days: 60\n",
            "w.yaml:1:1: the wave is missing `name`",
        ),
        (
            "id: W 1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\n",
            "w.yaml:1:5: wave id `W 1` must use only a-z, 0-9 and -",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\ntolerance: \"-1\"\n",
            "w.yaml:6:12: `tolerance` must not be negative",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\naccept: [price_typo]\n",
            "w.yaml:6:10: `accept`: unknown difference reason `price_typo`",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\ngate: { min_pass_rate: \"95\" }\n",
            "w.yaml:6:24: `gate.min_pass_rate` is a fraction between 0 and 1",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\ntolerance_pct: \"150\"\n",
            "w.yaml:6:16: `tolerance_pct` is a percentage between 0 and 100",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\nextraction_max_age_days: 0\n",
            "w.yaml:6:26: `extraction_max_age_days` must be between 1 and 366",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\nusage_carryover: both\n",
            "w.yaml:6:18: `usage_carryover` is `new`",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\naccount_tolerance: \"-1\"\n",
            "w.yaml:6:20: `account_tolerance` must not be negative",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\naccept: [rounding, unexplained]\n",
            "w.yaml:6:20: `accept`: `unexplained` cannot be accepted",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\ngate: { max_unexplained: many }\n",
            "w.yaml:6:26: `gate.max_unexplained`: `many` is not a whole number (0 or more)",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\ngate: { max_absolute_variance: \"-5\" }\n",
            "w.yaml:6:32: `gate.max_absolute_variance` must not be negative",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\ngate: { abort: { min_pass_rate: \"0.99\" } }\n",
            "w.yaml:6:16: `gate.abort.min_pass_rate` (0.99) is above `gate.min_pass_rate` (0.95)",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\ngate:\n  abort:\n    speed: 1\n",
            "w.yaml:8:5: unknown field `speed` in `gate.abort`",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\nduration_days: 60\ngate:\n  abort:\n    max_unexplained: -3\n",
            "w.yaml:8:22: `gate.abort.max_unexplained`: `-3` is not a whole number (0 or more)",
        ),
        // An unclosed bracket is named where it opens, not where the parser gave up.
        (
            "id: w1\nname: [W1\n",
            "w.yaml:2:7: YAML syntax error: this `[` is not closed: a `]` is missing before line 3 column 1",
        ),
        (
            "id: w1\nname: 'W1 [draft'\nselect: { segment: [cloud, site: [DC1] }\n",
            "w.yaml:3:20: YAML syntax error: this `[` is not closed",
        ),
        (
            "id: w1 # [x\nname: a[1]\nselect: {segment: [cloud]\n",
            "w.yaml:3:9: YAML syntax error: this `{` is not closed",
        ),
        // A tab indenting a line is named where it is, not where the value above it began; not a
        // tab after the value on its own line, nor one on a line that holds nothing.
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\n\tduration_days: 60\n",
            "w.yaml:5:1: YAML syntax error: a tab in the indentation (indent with spaces); the value it continues starts at line 4 column 8",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\t\n\tduration_days: 60\n",
            "w.yaml:5:1: YAML syntax error: a tab in the indentation",
        ),
        (
            "id: w1\nname: W1\nselect: { segment: [cloud] }\nstart: 2017-06-05\n\t\n\tduration_days: 60\n",
            "w.yaml:6:1: YAML syntax error: a tab in the indentation",
        ),
        ("id: w1\nid: w2\n", "w.yaml:2:1: duplicate key `id`"),
        (
            "id: w1\nname: W1\nselect: {}\nstart: 2017-06-05\nduration_days: 60\n",
            "w.yaml:3:9: `select` must name at least one segment or site",
        ),
    ];
    let mut misses = Vec::new();
    for (text, expected) in table {
        let problems = check_waves(&[("w.yaml", text)]);
        if !problems.iter().any(|p| p.starts_with(expected)) {
            misses.push(format!("expected {expected:?}\n got {problems:#?}"));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn cross_file_problems_point_at_the_second_file() {
    let dup = check_waves(&[("a.yaml", GOOD), ("b.yaml", &GOOD.replace("DC1", "DC2"))]);
    assert!(dup.iter().any(|p| p.starts_with("b.yaml:1:5: duplicate wave id `w1` (also in a.yaml:1)")), "{dup:#?}");
    let overlap = check_waves(&[
        ("a.yaml", GOOD),
        ("b.yaml", "id: w2\nname: W2\nselect: { segment: [colocation] }\nstart: 2017-06-05\nduration_days: 60\n"),
    ]);
    assert!(
        overlap.iter().any(|p| p.starts_with("b.yaml:3:9: wave `w2` selects accounts that wave `w1` (a.yaml:3) also selects: segment colocation at site DC1")),
        "{overlap:#?}"
    );
    let disjoint = check_waves(&[("a.yaml", GOOD), ("b.yaml", &GOOD.replace("w1", "w2").replace("DC1", "DC2"))]);
    assert!(disjoint.is_empty(), "{disjoint:#?}");
}

#[test]
fn three_planted_errors_give_three_lines() {
    let text =
        "id: w1\nname: W1\nselect: { segment: [colocation] }\nstart: 2017-13-01\nduration_days: 0\ncolour: blue\n";
    let problems = check_waves(&[("w.yaml", text)]);
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

fn catalog_with(charge: &str) -> String {
    format!("currency: USD\nproducts:\n  - id: p\n    name: P\n    group: G\n    charges:\n{charge}")
}

#[test]
fn catalog_problems_name_file_line_and_column() {
    let table: &[(&str, &str)] = &[
        // a usage model on a recurring charge
        (
            "      - { id: c, name: C, type: recurring, model: overage, included_units: \"1\", overage_price: \"1\", legacy_codes: [X] }\n",
            "catalog.yaml:7:51: model `overage` prices usage; a recurring charge cannot use it",
        ),
        // missing price fields
        (
            "      - { id: c, name: C, type: usage, uom: GB, model: overage, legacy_codes: [X] }\n",
            "catalog.yaml:7:11: charge with model `overage` is missing `included_units`",
        ),
        (
            "      - { id: c, name: C, type: usage, uom: GB, model: per_unit, legacy_codes: [X] }\n",
            "catalog.yaml:7:11: charge with model `per_unit` is missing `price`",
        ),
        // more than 9 decimals
        (
            "      - { id: c, name: C, type: usage, uom: GB, model: per_unit, price: \"0.0000000001\", legacy_codes: [X] }\n",
            "catalog.yaml:7:73: `price`: `0.0000000001` has more than 9 decimals",
        ),
        // tiers out of order
        (
            "      - id: c\n        name: C\n        type: usage\n        uom: GB\n        model: tiered\n        legacy_codes: [X]\n        tiers:\n          - { up_to: \"500\", price: \"1\" }\n          - { up_to: \"100\", price: \"1\" }\n          - { up_to: null, price: \"1\" }\n",
            "catalog.yaml:15:22: tiers out of order: `up_to: 100` must be above the previous tier's bound",
        ),
        // last tier bounded
        (
            "      - id: c\n        name: C\n        type: usage\n        uom: GB\n        model: volume\n        legacy_codes: [X]\n        tiers:\n          - { up_to: \"500\", price: \"1\" }\n",
            "catalog.yaml:14:22: the last tier must be unbounded",
        ),
        // a legacy code mapped twice
        (
            "      - { id: c, name: C, type: recurring, model: flat_fee, legacy_codes: [X] }\n      - { id: d, name: D, type: recurring, model: flat_fee, legacy_codes: [X] }\n",
            "catalog.yaml:8:76: legacy code `X` is mapped twice (also to charge `c` at line 7)",
        ),
        (
            "      - { id: c, name: C, type: monthly, model: flat_fee, legacy_codes: [X] }\n",
            "catalog.yaml:7:33: `type`: unknown charge type `monthly`",
        ),
        (
            "      - { id: c, name: C, type: recurring, model: flat_fee, legacy_codes: [X], price: \"3\" }\n",
            "catalog.yaml:7:80: `price` does not apply to a recurring charge with model `flat_fee`",
        ),
    ];
    let mut misses = Vec::new();
    for (charge, expected) in table {
        let problems = check_catalog(&catalog_with(charge));
        if !problems.iter().any(|p| p.starts_with(expected)) {
            misses.push(format!("expected {expected:?}\n got {problems:#?}"));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// A catalog with a header (line 1), one product whose charges start on line 7, and its discounts.
fn catalog_in(header: &str, charges: &str, discounts: &str) -> String {
    format!("{header}\nproducts:\n  - id: p\n    name: P\n    group: G\n    charges:\n{charges}{discounts}")
}

const ONE_CHARGE: &str = "      - { id: c, name: C, type: recurring, model: flat_fee, legacy_codes: [X] }\n";

#[test]
// Long: a table of catalog problems, a row each.
fn new_catalog_fields_are_checked_with_their_positions() {
    // (header, charges, discounts, the problem it must report)
    let table: &[(&str, &str, &str, &str)] = &[
        (
            "currency: USD",
            "      - { id: c, name: C, type: recurring, model: flat_fee, period: week, legacy_codes: [X] }\n",
            "",
            "catalog.yaml:7:69: `period`: unknown billing period `week` (month, quarter, year)",
        ),
        (
            "currency: USD",
            "      - { id: c, name: C, type: one_time, model: flat_fee, period: quarter, legacy_codes: [X] }\n",
            "",
            "catalog.yaml:7:68: `period` applies to recurring charges only",
        ),
        (
            "currency: USD",
            "      - { id: c, name: C, type: usage, uom: GB, model: per_unit, price: \"1\", proration: none, legacy_codes: [X] }\n",
            "",
            "catalog.yaml:7:89: `proration` applies to recurring charges only (this is a usage charge)",
        ),
        (
            "currency: USD\nproration: full_period",
            ONE_CHARGE,
            "",
            "catalog.yaml:2:12: `proration`: `full_period` is a per-charge option",
        ),
        (
            "currency: USD\nproration: thirty",
            ONE_CHARGE,
            "",
            "catalog.yaml:2:12: `proration`: unknown convention `thirty`",
        ),
        (
            "currency: USD",
            "      - id: c\n        name: C\n        type: usage\n        uom: GB\n        model: tiered_with_overage\n        legacy_codes: [X]\n        overage_price: \"1\"\n        tiers:\n          - { up_to: \"500\", price: \"1\" }\n          - { up_to: null, price: \"1\" }\n",
            "",
            "catalog.yaml:16:22: every tier of `tiered_with_overage` needs an `up_to`",
        ),
        (
            "currency: USD",
            "      - { id: c, name: C, type: usage, uom: GB, model: tiered_with_overage, tiers: [{ up_to: \"5\", price: \"1\" }], legacy_codes: [X] }\n",
            "",
            "catalog.yaml:7:11: charge with model `tiered_with_overage` is missing `overage_price`",
        ),
        (
            "currency: USD",
            "      - { id: c, name: C, type: recurring, model: tiered_with_overage, overage_price: \"1\", tiers: [{ up_to: \"5\", price: \"1\" }], legacy_codes: [X] }\n",
            "",
            "catalog.yaml:7:51: model `tiered_with_overage` prices usage; a recurring charge cannot use it",
        ),
        (
            "currency: USD",
            "      - { id: c, name: C, type: usage, uom: GB, model: per_unit, price: { usd: \"1\" }, legacy_codes: [X] }\n",
            "",
            "catalog.yaml:7:75: `price`: unknown currency code `usd`",
        ),
        (
            "currency: USD",
            "      - { id: c, name: C, type: usage, uom: GB, model: per_unit, price: { EUR: \"1\" }, legacy_codes: [X] }\n",
            "",
            "catalog.yaml:7:75: `price`: `EUR` is not one of the catalog's currencies (USD)",
        ),
        (
            "currency: USD\ncurrencies: [USD, CAD]",
            "      - { id: c, name: C, type: usage, uom: GB, model: per_unit, price: { USD: \"1\" }, legacy_codes: [X] }\n",
            "",
            "catalog.yaml:8:75: `price` has no price in CAD",
        ),
        (
            "currency: USD\ncurrencies: [USD, CAD]",
            "      - { id: c, name: C, type: usage, uom: GB, model: per_unit, price: \"1\", legacy_codes: [X] }\n",
            "",
            "catalog.yaml:8:73: `price` needs a price for each catalog currency (USD, CAD)",
        ),
        (
            "currency: USD\ncurrencies: [USD, CAD]",
            "      - { id: c, name: C, type: usage, uom: GB, model: per_unit, price: { USD: \"1\", CAD: \"0.0000000001\" }, legacy_codes: [X] }\n",
            "",
            "catalog.yaml:8:90: `price` in CAD: `0.0000000001` has more than 9 decimals",
        ),
        (
            "currency: USD\ncurrencies: [CAD, EURO]",
            ONE_CHARGE,
            "",
            "catalog.yaml:2:19: `currencies`: unknown currency code `EURO`",
        ),
        (
            "currency: USD\ncurrencies: [CAD]",
            ONE_CHARGE,
            "",
            "catalog.yaml:2:13: `currencies` must include the catalog's `currency` (USD)",
        ),
        (
            "currency: USD",
            ONE_CHARGE,
            "    discounts:\n      - { id: d, name: D, percent: \"150\" }\n",
            "catalog.yaml:9:36: `percent`: `150` is out of range (more than 0, at most 100)",
        ),
        (
            "currency: USD",
            ONE_CHARGE,
            "    discounts:\n      - { id: d, name: D, percent: \"0\" }\n",
            "catalog.yaml:9:36: `percent`: `0` is out of range",
        ),
        (
            "currency: USD",
            ONE_CHARGE,
            "    discounts:\n      - { id: d, name: D, percent: \"10\", amount: \"5\" }\n",
            "catalog.yaml:9:42: a discount has either `percent` or `amount`, not both",
        ),
        (
            "currency: USD",
            ONE_CHARGE,
            "    discounts:\n      - { id: d, name: D, amount: \"5\", applies_to: [nope] }\n",
            "catalog.yaml:9:53: `applies_to`: no charge `nope` in this product (charges: c)",
        ),
        (
            "currency: USD",
            ONE_CHARGE,
            "    discounts:\n      - { id: d, name: D, amount: \"-5\" }\n",
            "catalog.yaml:9:35: `amount` must not be negative",
        ),
        (
            "currency: USD",
            ONE_CHARGE,
            "    discounts:\n      - { id: d, name: D }\n",
            "catalog.yaml:9:11: a discount needs `percent` or `amount`",
        ), // ids: a charge's and a discount's once in their product, a product's once in the catalog
        (
            "currency: USD",
            "      - { id: c, name: C, type: recurring, model: flat_fee, legacy_codes: [X] }\n      - { id: c, name: D, type: recurring, model: flat_fee, legacy_codes: [Y] }\n",
            "",
            "catalog.yaml:8:15: duplicate charge id `c` in this product (first at line 7)",
        ),
        (
            "currency: USD",
            ONE_CHARGE,
            "    discounts:\n      - { id: d, name: D, percent: \"10\" }\n      - { id: d, name: E, percent: \"20\" }\n",
            "catalog.yaml:10:15: duplicate discount id `d` in this product",
        ),
        (
            "currency: USD",
            ONE_CHARGE,
            "  - id: p\n    name: Q\n    group: G\n    charges:\n      - { id: e, name: E, type: recurring, model: flat_fee, legacy_codes: [Z] }\n",
            "catalog.yaml:8:9: duplicate product id `p` (first at line 3)",
        ),
    ];
    let mut misses = Vec::new();
    for (header, charges, discounts, expected) in table {
        let problems = check_catalog(&catalog_in(header, charges, discounts));
        if !problems.iter().any(|p| p.starts_with(expected)) {
            misses.push(format!("expected {expected:?}\n got {problems:#?}"));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    // A valid multi-currency catalog with a quarterly charge and a discount parses.
    let ok = catalog_in(
        "currency: USD\ncurrencies: [USD, CAD]\nproration: strict_30_360",
        "      - { id: c, name: C, type: recurring, model: flat_fee, period: quarter, legacy_codes: [X] }\n      - { id: u, name: U, type: usage, uom: GB, model: per_unit, price: { CAD: \"2\", USD: \"1.5\" }, legacy_codes: [Y] }\n",
        "    discounts:\n      - { id: d, name: D, amount: { USD: \"5\", CAD: \"7\" }, applies_to: [c] }\n",
    );
    let checked = parse(&file("catalog.yaml", &ok), &[]);
    assert!(checked.problems.is_empty(), "{:#?}", checked.problems);
    let cat = checked.plan.expect("valid").catalog;
    assert_eq!(cat.currencies, ["USD", "CAD"]);
    let (_, u) = cat.lookup("Y").unwrap();
    assert!(matches!(u.model_in(1), ChargeModel::PerUnit { price: Some(p) } if p.to_string() == "2"));
    assert_eq!(cat.lookup("X").unwrap().1.period, BillingPeriod::Quarter);
}

#[test]
fn the_catalog_maps_every_legacy_code_once() {
    let checked = parse(&file("catalog.yaml", CATALOG), &[]);
    let plan_catalog = checked.plan.expect("catalog parses").catalog;
    let (product, charge) = plan_catalog.lookup("PWR-KWH").unwrap();
    assert_eq!((product.group.as_str(), charge.name.as_str()), ("Power", "Metered Power"));
    assert!(matches!(charge.model, ChargeModel::Overage { .. }));
    assert!(plan_catalog.lookup("LEGACY-MISC").is_none());
}

mod schedule_rule {
    use super::super::schedule::schedule;
    use super::*;

    fn wave(start: &str, days: u32) -> Wave {
        let text = format!("id: w\nname: W\nselect: {{ segment: [cloud] }}\nstart: {start}\nduration_days: {days}\n");
        let checked = parse(&file("catalog.yaml", CATALOG), &[file("w.yaml", &text)]);
        checked.plan.expect("valid").waves.remove(0)
    }

    #[test]
    fn cut_over_is_the_day_before_a_bill_date_inside_the_window() {
        // (wave start, days, cycle day, today, expected (cutover, first bill, notice) or error)
        type Expect = Result<(&'static str, &'static str, &'static str), &'static str>;
        let table: &[(&str, u32, u32, &str, Expect)] = &[
            ("2017-06-05", 60, 1, "2017-05-01", Ok(("2017-06-30", "2017-07-01", "2017-06-01"))),
            // cycle day 15: first cycle 06-15 (cut-over 06-14 is inside the window)
            ("2017-06-05", 60, 15, "2017-05-01", Ok(("2017-06-14", "2017-06-15", "2017-05-15"))),
            // its notice date passed: the next cycle
            ("2017-06-05", 60, 15, "2017-05-16", Ok(("2017-07-14", "2017-07-15", "2017-06-15"))),
            // notice exactly today is on time
            ("2017-06-05", 60, 1, "2017-06-01", Ok(("2017-06-30", "2017-07-01", "2017-06-01"))),
            // the day before the window would put the cut-over outside it: 06-05 cycle skipped
            ("2017-06-05", 60, 5, "2017-04-01", Ok(("2017-07-04", "2017-07-05", "2017-06-05"))),
            // cycle day 31 in a 30-day month clamps to the 30th
            ("2017-06-05", 60, 31, "2017-05-01", Ok(("2017-06-29", "2017-06-30", "2017-05-30"))),
            // DC2 from Oct 15, 60 days
            ("2017-10-15", 60, 1, "2017-09-01", Ok(("2017-10-31", "2017-11-01", "2017-10-01"))),
            // every notice date passed
            (
                "2017-06-05",
                60,
                1,
                "2017-07-02",
                Err("not schedulable: every bill cycle in the window 2017-06-05..2017-08-03 needs its notice a month \
                     ahead, and the last one (a first new bill on 2017-08-01) needed it on or before 2017-07-01, \
                     which has passed (today is 2017-07-02)"),
            ),
            // The deadline named is the last cycle's (missed by three days), not the first's.
            (
                "2017-10-15",
                60,
                28,
                "2017-10-31",
                Err("not schedulable: every bill cycle in the window 2017-10-15..2017-12-13 needs its notice a month \
                     ahead, and the last one (a first new bill on 2017-11-28) needed it on or before 2017-10-28, \
                     which has passed (today is 2017-10-31)"),
            ),
            (
                "2017-06-05",
                20,
                1,
                "2017-04-01",
                Err("not schedulable: no bill cycle on day 1 falls inside the window 2017-06-05..2017-06-24"),
            ),
        ];
        for (start, days, cycle, today, expected) in table {
            let got = schedule(&wave(start, *days), *cycle, today.parse().unwrap());
            match (got, expected) {
                (Ok(s), Ok((c, b, n))) => {
                    assert_eq!(
                        (s.cutover_date.to_string(), s.first_new_bill_date.to_string(), s.notice_date.to_string()),
                        (c.to_string(), b.to_string(), n.to_string()),
                        "{start} {days} day {cycle} as of {today}"
                    );
                }
                (Err(e), Err(prefix)) => assert!(e.starts_with(prefix), "{e}\n  expected: {prefix}"),
                (got, _) => panic!("{start} {days} day {cycle} as of {today}: got {got:?}, expected {expected:?}"),
            }
        }
    }
}

#[test]
// Long: one wave file and the assertions on each field it sets.
fn tolerances_and_gate_limits_are_read_from_the_wave() {
    let text = format!(
        "{GOOD}tolerance: \"0.05\"\ntolerance_pct: \"0.5\"\naccount_tolerance: \"1.00\"\naccept: [proration_convention]\n\
         gate:\n  min_pass_rate: \"0.9\"\n  max_absolute_variance: \"2500\"\n  max_unexplained: 0\n\
         \x20 abort: {{ min_pass_rate: \"0.5\", max_unexplained: 20 }}\n"
    );
    let checked = parse(&file("catalog.yaml", CATALOG), &[file("w.yaml", &text)]);
    let problems: Vec<_> = checked.problems.iter().map(|p| p.to_string()).collect();
    let plan = checked.plan.unwrap_or_else(|| panic!("{problems:#?}"));
    let w = plan.wave("w1").unwrap();
    let d = |s: &str| s.parse::<crate::domain::Decimal>().unwrap();
    assert_eq!((w.tolerance, w.tolerance_pct, w.account_tolerance), (d("0.05"), Some(d("0.5")), Some(d("1.00"))));
    assert_eq!(
        w.gate,
        Gate {
            min_pass_rate: d("0.9"),
            max_absolute_variance: Some(d("2500")),
            max_unexplained: Some(0),
            abort: GateLimits { min_pass_rate: Some(d("0.5")), max_absolute_variance: None, max_unexplained: Some(20) },
        }
    );
    // Left out, they take their defaults.
    let plain = parse(&file("catalog.yaml", CATALOG), &[file("w.yaml", GOOD)]).plan.unwrap();
    let w = plain.wave("w1").unwrap();
    assert_eq!((w.tolerance_pct, w.account_tolerance, &w.gate), (None, None, &Gate::default()));
    assert_eq!(w.usage_carryover, UsageCarryover::New);
    let legacy = format!("{GOOD}usage_carryover: legacy\n");
    let plan = parse(&file("catalog.yaml", CATALOG), &[file("w.yaml", &legacy)]).plan.unwrap();
    assert_eq!(plan.wave("w1").unwrap().usage_carryover, UsageCarryover::Legacy);
    assert_eq!(plan.wave("w1").unwrap().extraction_max_age_days, None);
    let fresh = format!("{GOOD}extraction_max_age_days: 7\n");
    let plan = parse(&file("catalog.yaml", CATALOG), &[file("w.yaml", &fresh)]).plan.unwrap();
    assert_eq!(plan.wave("w1").unwrap().extraction_max_age_days, Some(7));
}

#[test]
fn a_byte_that_is_not_utf8_is_reported_at_its_line_and_column() {
    // (bytes, line, col, byte)
    let table: [(&[u8], usize, usize, &str); 3] = [
        (b"id: w1\nname: Caf\xe9\n", 2, 10, "0xE9"),
        (b"\xff\xfe", 1, 1, "0xFF"),
        (b"id: w1\nname: \xc3\xa9\x80\n", 2, 8, "0x80"),
    ];
    for (bytes, line, col, byte) in table {
        let (file, problem) = super::decode("w.yaml", bytes.to_vec());
        let p = problem.unwrap_or_else(|| panic!("{bytes:?} is not UTF-8"));
        assert_eq!((p.line, p.col), (line, col), "{p}");
        assert!(p.to_string().starts_with(&format!("w.yaml:{line}:{col}: not valid UTF-8 (byte {byte})")), "{p}");
        assert_eq!(file.name, "w.yaml");
    }
    assert!(super::decode("w.yaml", b"id: w1\n".to_vec()).1.is_none());
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_key() {
    let (file, problem) = super::decode("w.yaml", [b"\xef\xbb\xbf".as_slice(), GOOD.as_bytes()].concat());
    assert!(problem.is_none());
    assert_eq!(file.text, GOOD);
    let checked = parse(&self::file("catalog.yaml", CATALOG), &[file]);
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
}

#[test]
fn target_ids_are_required_once_a_wave_is_dated() {
    let catalog = "products:\n  - id: cab\n    name: Cab\n    group: Space\n    charges:\n      - id: space\n        \
                   name: Space\n        type: recurring\n        model: flat_fee\n        legacy_codes: [CAB]\n";
    let with_ids = catalog
        .replace("    charges:\n", "    product_rate_plan_id: \"PRP1\"\n    charges:\n")
        .replace("        name: Space\n", "        name: Space\n        product_rate_plan_charge_id: \"PRPC1\"\n");
    let undated = "id: w1\nname: W1\nselect: { segment: [colocation] }\nstart: null\nduration_days: 60\n";
    let check = |cat: &str, wave: &str| -> Vec<String> {
        parse(&file("c.yaml", cat), &[file("w.yaml", wave)]).problems.iter().map(|p| p.to_string()).collect()
    };
    let no_id = "product `cab` has no `product_rate_plan_id` (the target's Product Rate Plan id): a wave cannot switch without it";
    let no_charge_id = "charge `space` of product `cab` has no `product_rate_plan_charge_id` (the target's Product Rate \
                        Plan Charge id): a wave cannot switch without it";
    // (catalog, wave, problems)
    let table: Vec<(&str, &str, Vec<String>)> = vec![
        (catalog, GOOD, vec![format!("c.yaml:2:5: {no_id}"), format!("c.yaml:6:9: {no_charge_id}")]),
        (
            catalog,
            undated,
            vec![
                format!("c.yaml:2:5: warning: {no_id}"),
                format!("c.yaml:6:9: warning: {no_charge_id}"),
                "w.yaml:4:8: warning: `start` is null: the wave is not scheduled yet and cannot run".into(),
            ],
        ),
        (&with_ids, GOOD, vec![]),
    ];
    for (cat, wave, want) in table {
        assert_eq!(check(cat, wave), want, "{cat}");
    }
    let bad = with_ids.replace("\"PRP1\"", "\"a,b\"");
    assert_eq!(
        check(&bad, GOOD),
        ["c.yaml:5:27: `product_rate_plan_id`: `a,b` is not an id the target system could have issued"]
    );
}

/// A plan with errors keeps, for what concerns accounts one at a time, its catalog and the wave
/// files without errors; never when the catalog has one. Each case: the file added to the
/// repository's plan, the catalog, and whether the valid part holds the repository's waves
/// (and only them).
#[test]
fn the_valid_part_of_a_plan_leaves_out_the_broken_files() {
    let broken_wave = "id: internet-2018\nname: [High Speed Internet\n".to_string();
    // The same selection as dc1's: the error is in the second file of the two.
    let overlapping = include_str!("../../waves/dc1-colocation.yaml").replace("id: dc1-colocation", "id: dc1-again");
    let repo = ["dc1-colocation", "dc2-colocation", "dc3-colocation", "multi-tenant-cloud", "internet-wireless"];
    let cases = [
        ("valid: the plan itself, no valid part", None, CATALOG, false),
        ("a broken new file", Some(broken_wave.clone()), CATALOG, true),
        ("an overlap: the second file", Some(overlapping), CATALOG, true),
        ("a broken catalog", Some(broken_wave), "charges: [\n", false),
    ];
    for (what, extra, catalog, keeps_repo_waves) in cases {
        let mut waves = repo_waves();
        waves.extend(extra.as_deref().map(|t| file("zz.yaml", t)));
        let checked = parse(&file("catalog.yaml", catalog), &waves);
        assert_eq!(checked.plan.is_some(), extra.is_none(), "{what}");
        let got: Option<Vec<&str>> =
            checked.valid_part.as_ref().map(|p| p.waves.iter().map(|w| w.id.as_str()).collect());
        assert_eq!(got, keeps_repo_waves.then(|| repo.to_vec()), "{what}: {:#?}", checked.problems);
    }
}
