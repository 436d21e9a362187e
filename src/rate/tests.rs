//! Rating as a table of hand-computed cases. Each case states its arithmetic.

use super::*;
use crate::domain::{Account, AccountStatus, LegacyAccount, Segment, Service, Usage};
use crate::plan::{Catalog, SourceFile};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn catalog(rounding: &str, proration: &str) -> Catalog {
    let text = format!(
        r#"currency: USD
currencies: [USD, CAD]
rounding: {{ mode: {rounding}, scale: 2 }}
proration: {proration}
products:
  - id: cab
    name: "Colocation - Full Cabinet"
    group: Colocation Space
    charges:
      - {{ id: space, name: Cabinet Space, type: recurring, model: flat_fee, legacy_codes: [CAB] }}
      - {{ id: xc, name: Cross Connect, type: recurring, model: per_unit, legacy_codes: [XC] }}
      - {{ id: inst, name: Installation, type: one_time, model: flat_fee, legacy_codes: [INST] }}
      - {{ id: cq, name: Cabinet (quarterly), type: recurring, model: flat_fee, period: quarter, legacy_codes: [CABQ] }}
      - {{ id: cy, name: Cabinet (yearly), type: recurring, model: flat_fee, period: year, legacy_codes: [CABY] }}
      - {{ id: fp, name: Cage, type: recurring, model: per_unit, proration: full_period, legacy_codes: [FP] }}
      - {{ id: np, name: Circuit, type: recurring, model: flat_fee, proration: none, legacy_codes: [NP] }}
  - id: disc
    name: "Managed Firewall"
    group: Security
    charges:
      - {{ id: fw, name: Firewall, type: recurring, model: flat_fee, legacy_codes: [DSC] }}
      - {{ id: fw-setup, name: Firewall Setup, type: one_time, model: flat_fee, legacy_codes: [DSC-SETUP] }}
    discounts:
      - {{ id: loyal, name: "Loyalty discount (10%)", percent: "10", applies_to: [fw] }}
  - id: fixed
    name: "Managed VPN"
    group: Security
    charges:
      - {{ id: vpn, name: VPN, type: recurring, model: flat_fee, legacy_codes: [DFX] }}
    discounts:
      - {{ id: promo, name: "Promotional credit", amount: {{ USD: "50.00", CAD: "65.00" }} }}
  - id: usage
    name: "Usage"
    group: Usage
    charges:
      - {{ id: kwh, name: Power, type: usage, uom: kWh, model: overage, included_units: "2880", overage_price: {{ USD: "0.12", CAD: "0.16" }}, legacy_codes: [KWH] }}
      - {{ id: rh, name: Remote Hands, type: usage, uom: hour, model: per_unit, price: {{ USD: "150.00", CAD: "200.00" }}, legacy_codes: [RH] }}
      - id: two
        name: Transit
        type: usage
        uom: Mbps
        model: tiered_with_overage
        legacy_codes: [TWO]
        overage_price: {{ USD: "5.00", CAD: "7.00" }}
        tiers: [{{ up_to: "100", price: {{ USD: "10.00", CAD: "13.00" }} }}, {{ up_to: "500", price: {{ USD: "8.00", CAD: "11.00" }} }}]
      - id: bw
        name: Bandwidth
        type: usage
        uom: Mbps
        model: tiered
        legacy_codes: [BW]
        tiers: [{{ up_to: "100", price: {{ USD: "10.00", CAD: "13.00" }} }}, {{ up_to: "500", price: {{ USD: "8.00", CAD: "11.00" }} }}, {{ up_to: null, price: {{ USD: "6.00", CAD: "8.00" }} }}]
      - id: stor
        name: Storage
        type: usage
        uom: GB
        model: volume
        legacy_codes: [STOR]
        tiers: [{{ up_to: "1000", price: {{ USD: "0.10", CAD: "0.13" }} }}, {{ up_to: "10000", price: {{ USD: "0.08", CAD: "0.11" }} }}, {{ up_to: null, price: {{ USD: "0.05", CAD: "0.07" }} }}]
"#
    );
    let checked = crate::plan::parse(&SourceFile { name: "c.yaml".into(), text }, &[]);
    let errors: Vec<_> = checked.errors().map(|p| p.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    checked.plan.expect("valid catalog").catalog
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn account(cycle_day: u32) -> LegacyAccount {
    LegacyAccount::new(Account {
        account_number: "A1".into(),
        name: "Acme".into(),
        segment: Segment::Colocation,
        site: Some("DC1".into()),
        currency: "USD".into(),
        bill_cycle_day: cycle_day,
        bill_to_email: vec![],
        status: AccountStatus::Active,
    })
}

fn service(code: &str, qty: &str, price: &str, start: &str, end: Option<&str>) -> Service {
    Service {
        account_number: "A1".into(),
        service_id: format!("S-{code}-{start}"),
        legacy_code: code.into(),
        description: code.into(),
        quantity: dec(qty),
        unit_price: dec(price),
        start_date: start.parse().unwrap(),
        end_date: end.map(|e| e.parse().unwrap()),
    }
}

fn usage(code: &str, date: &str, qty: &str) -> Usage {
    Usage {
        account_number: "A1".into(),
        service_id: "U".into(),
        legacy_code: code.into(),
        usage_date: date.parse().unwrap(),
        quantity: dec(qty),
        uom: String::new(),
    }
}

enum In {
    Svc(&'static str, &'static str, &'static str, &'static str, Option<&'static str>),
    Use(&'static str, &'static str, &'static str),
}

struct Case {
    what: &'static str,
    rounding: &'static str,
    proration: &'static str,
    cycle_day: u32,
    period: &'static str,
    input: In,
    /// The first line's amount, or None when no line is billed.
    amount: Option<&'static str>,
    /// The bill's total, when it differs from the first line (discounts).
    total: Option<&'static str>,
    currency: &'static str,
}

const fn case(what: &'static str, period: &'static str, input: In, amount: Option<&'static str>) -> Case {
    Case {
        what,
        rounding: "half_up",
        proration: "actual_days",
        cycle_day: 1,
        period,
        input,
        amount,
        total: None,
        currency: "USD",
    }
}

// Long: one table of rating cases, a row each; the rows are the test.
fn cases() -> Vec<Case> {
    use In::*;
    vec![
        case(
            "full month flat fee: 1 x 1200.00",
            "2017-04",
            Svc("CAB", "1", "1200.00", "2016-01-01", None),
            Some("1200.00"),
        ),
        case("per unit: 3 x 300.00", "2017-04", Svc("XC", "3", "300.00", "2016-01-01", None), Some("900.00")),
        case(
            "April start on the 17th: 14/30 x 2 x 300.00 = 280",
            "2017-04",
            Svc("XC", "2", "300.00", "2017-04-17", None),
            Some("280.00"),
        ),
        case(
            "31-day month, last 5 days: 5/31 x 1000 = 161.2903",
            "2017-03",
            Svc("CAB", "1", "1000.00", "2017-03-27", None),
            Some("161.29"),
        ),
        case(
            "February 2017 from the 15th: 14/28 x 1000 = 500",
            "2017-02",
            Svc("CAB", "1", "1000.00", "2017-02-15", None),
            Some("500.00"),
        ),
        case(
            "leap February 2016 from the 15th: 15/29 x 1000 = 517.2414",
            "2016-02",
            Svc("CAB", "1", "1000.00", "2016-02-15", None),
            Some("517.24"),
        ),
        case(
            "cancelled on Jan 10: 10/31 x 1000 = 322.5806",
            "2017-01",
            Svc("CAB", "1", "1000.00", "2016-01-01", Some("2017-01-10")),
            Some("322.58"),
        ),
        case(
            "start and end inside the month: Jan 5-14 = 10/31 x 310 = 100",
            "2017-01",
            Svc("CAB", "1", "310.00", "2017-01-05", Some("2017-01-14")),
            Some("100.00"),
        ),
        case(
            "one-day service: 1/31 x 3100 = 100",
            "2017-01",
            Svc("CAB", "1", "3100.00", "2017-01-31", Some("2017-01-31")),
            Some("100.00"),
        ),
        case(
            "ended before the period: no line",
            "2017-04",
            Svc("CAB", "1", "1000.00", "2016-01-01", Some("2017-03-31")),
            None,
        ),
        case("starts after the period: no line", "2017-04", Svc("CAB", "1", "1000.00", "2017-05-01", None), None),
        case(
            "one-time in the period: 1 x 500",
            "2017-04",
            Svc("INST", "1", "500.00", "2017-04-20", None),
            Some("500.00"),
        ),
        case("one-time outside the period: no line", "2017-04", Svc("INST", "1", "500.00", "2017-03-20", None), None),
        case(
            "fractional quantity: 2.5 x 100.10 = 250.25",
            "2017-04",
            Svc("XC", "2.5", "100.10", "2016-01-01", None),
            Some("250.25"),
        ),
        case("zero quantity: 0 x 1200 = 0.00", "2017-04", Svc("XC", "0", "1200.00", "2016-01-01", None), Some("0.00")),
        case(
            "unit price with 9 decimals: 3 x 0.333333333 = 0.999999999",
            "2017-04",
            Svc("XC", "3", "0.333333333", "2016-01-01", None),
            Some("1.00"),
        ),
        case("overage: (3500 - 2880) x 0.12 = 74.40", "2017-04", Use("KWH", "2017-03-31", "3500"), Some("74.40")),
        case("overage under the included units: 0", "2017-04", Use("KWH", "2017-03-31", "2500"), Some("0.00")),
        case("overage exactly at the included units: 0", "2017-04", Use("KWH", "2017-03-31", "2880"), Some("0.00")),
        case(
            "overage with a fractional quantity: 0.5 x 0.12 = 0.06",
            "2017-04",
            Use("KWH", "2017-03-31", "2880.5"),
            Some("0.06"),
        ),
        case(
            "graduated tiers: 100x10 + 400x8 + 150x6 = 5100",
            "2017-04",
            Use("BW", "2017-03-31", "650"),
            Some("5100.00"),
        ),
        case(
            "graduated exactly at a tier boundary: 100 x 10 = 1000",
            "2017-04",
            Use("BW", "2017-03-31", "100"),
            Some("1000.00"),
        ),
        case(
            "graduated just past a boundary: 1000 + 0.5 x 8 = 1004",
            "2017-04",
            Use("BW", "2017-03-31", "100.5"),
            Some("1004.00"),
        ),
        case("volume: all 1500 at 0.08 = 120", "2017-04", Use("STOR", "2017-03-31", "1500"), Some("120.00")),
        case(
            "volume exactly at a boundary: 1000 x 0.10 = 100",
            "2017-04",
            Use("STOR", "2017-03-31", "1000"),
            Some("100.00"),
        ),
        case("volume top tier: 20000 x 0.05 = 1000", "2017-04", Use("STOR", "2017-03-31", "20000"), Some("1000.00")),
        case("per unit usage: 2.5 h x 150 = 375", "2017-04", Use("RH", "2017-03-15", "2.5"), Some("375.00")),
        case(
            "usage dated in the bill's own period is not billed yet (arrears): no line",
            "2017-04",
            Use("RH", "2017-04-01", "2"),
            None,
        ),
        case("usage of two periods back: no line", "2017-05", Use("RH", "2017-03-31", "2"), None),
        Case {
            cycle_day: 15,
            ..case(
                "cycle day 15, period Jan 15-Feb 14 (31 days), start Feb 1: 14/31 x 1000 = 451.6129",
                "2017-01",
                Svc("CAB", "1", "1000.00", "2017-02-01", None),
                Some("451.61"),
            )
        },
        Case {
            cycle_day: 31,
            ..case(
                "cycle day 31 in February: Feb 28-Mar 30, full period",
                "2017-02",
                Svc("CAB", "1", "1000.00", "2016-01-01", None),
                Some("1000.00"),
            )
        },
        Case {
            cycle_day: 31,
            ..case(
                "cycle day 31 in February, start Mar 1: 30/31 x 310 = 300",
                "2017-02",
                Svc("CAB", "1", "310.00", "2017-03-01", None),
                Some("300.00"),
            )
        },
        Case {
            cycle_day: 31,
            ..case(
                "cycle day 31, bill 2017-05 carries the usage of Apr 30-May 30: usage May 30 counts",
                "2017-05",
                Use("RH", "2017-05-30", "1"),
                Some("150.00"),
            )
        },
        Case {
            proration: "thirty_360",
            ..case(
                "30/360, 31-day month, last 5 days: 5/30 x 1000 = 166.667",
                "2017-03",
                Svc("CAB", "1", "1000.00", "2017-03-27", None),
                Some("166.67"),
            )
        },
        Case {
            proration: "thirty_360",
            ..case(
                "30/360, 30 of 31 days is a full month",
                "2017-03",
                Svc("CAB", "1", "1000.00", "2017-03-02", None),
                Some("1000.00"),
            )
        },
        Case {
            proration: "thirty_360",
            ..case(
                "30/360, February from the 15th: 14/30 x 1000 = 466.667",
                "2017-02",
                Svc("CAB", "1", "1000.00", "2017-02-15", None),
                Some("466.67"),
            )
        },
        Case {
            proration: "none",
            ..case(
                "no proration: a partial month bills in full",
                "2017-04",
                Svc("CAB", "1", "1000.00", "2017-04-29", None),
                Some("1000.00"),
            )
        },
        Case {
            rounding: "half_up",
            ..case(
                ".005 half up: 1 x 10.005 = 10.01",
                "2017-04",
                Svc("XC", "1", "10.005", "2016-01-01", None),
                Some("10.01"),
            )
        },
        Case {
            rounding: "half_even",
            ..case(
                ".005 half even: 10.005 -> 10.00",
                "2017-04",
                Svc("XC", "1", "10.005", "2016-01-01", None),
                Some("10.00"),
            )
        },
        Case {
            rounding: "half_even",
            ..case(
                ".015 half even: 10.015 -> 10.02",
                "2017-04",
                Svc("XC", "1", "10.015", "2016-01-01", None),
                Some("10.02"),
            )
        },
        Case {
            rounding: "down",
            ..case(".005 down: 10.005 -> 10.00", "2017-04", Svc("XC", "1", "10.005", "2016-01-01", None), Some("10.00"))
        },
        Case {
            rounding: "up",
            ..case(".005 up: 10.005 -> 10.01", "2017-04", Svc("XC", "1", "10.005", "2016-01-01", None), Some("10.01"))
        },
        Case {
            rounding: "up",
            ..case(
                "up rounds any remainder: 10.001 -> 10.01",
                "2017-04",
                Svc("XC", "1", "10.001", "2016-01-01", None),
                Some("10.01"),
            )
        },
        // ---- quarterly and yearly recurring charges (in advance; whole months first, then days)
        case(
            "quarterly, its first bill carries the whole quarter Apr-Jun: 1 x 900",
            "2017-04",
            Svc("CABQ", "1", "900.00", "2017-04-01", None),
            Some("900.00"),
        ),
        case(
            "quarterly, the quarter's second month bills nothing",
            "2017-05",
            Svc("CABQ", "1", "900.00", "2017-04-01", None),
            None,
        ),
        case(
            "quarterly, the fourth month starts the next quarter: 1 x 900",
            "2017-07",
            Svc("CABQ", "1", "900.00", "2017-04-01", None),
            Some("900.00"),
        ),
        case(
            "quarterly from Feb 15 2017 (quarter Feb-Apr): (2 months + 14/28 days)/3 x 900 = 750",
            "2017-02",
            Svc("CABQ", "1", "900.00", "2017-02-15", None),
            Some("750.00"),
        ),
        case(
            "quarterly ending Mar 10 in quarter Feb-Apr: (1 month + 10/31 days)/3 x 900 = 396.774",
            "2017-02",
            Svc("CABQ", "1", "900.00", "2017-02-01", Some("2017-03-10")),
            Some("396.77"),
        ),
        case(
            "yearly from Jan 16 2017: (11 months + 16/31 days)/12 x 1200 = 1151.613",
            "2017-01",
            Svc("CABY", "1", "1200.00", "2017-01-16", None),
            Some("1151.61"),
        ),
        case(
            "yearly, month 13 starts the second year in full: 1 x 1200",
            "2018-01",
            Svc("CABY", "1", "1200.00", "2017-01-16", None),
            Some("1200.00"),
        ),
        case(
            "yearly, month 7 of the year bills nothing",
            "2017-07",
            Svc("CABY", "1", "1200.00", "2017-01-16", None),
            None,
        ),
        Case {
            proration: "thirty_360",
            ..case(
                "quarterly under 30/360 from Feb 15: (2 months + 14/30 days)/3 x 900 = 740",
                "2017-02",
                Svc("CABQ", "1", "900.00", "2017-02-15", None),
                Some("740.00"),
            )
        },
        Case {
            proration: "none",
            ..case(
                "quarterly without proration from Feb 15: the whole quarter, 1 x 900",
                "2017-02",
                Svc("CABQ", "1", "900.00", "2017-02-15", None),
                Some("900.00"),
            )
        },
        // ---- strict 30/360: every month 30 days, day 31 counts as day 30
        Case {
            proration: "strict_30_360",
            ..case(
                "strict 30/360, Jan 27-31: days 27..30 = 4/30 x 1000 = 133.333",
                "2017-01",
                Svc("CAB", "1", "1000.00", "2017-01-27", None),
                Some("133.33"),
            )
        },
        Case {
            proration: "strict_30_360",
            ..case(
                "strict 30/360, February from the 15th runs to day 30: 16/30 x 1000 = 533.333",
                "2017-02",
                Svc("CAB", "1", "1000.00", "2017-02-15", None),
                Some("533.33"),
            )
        },
        Case {
            proration: "strict_30_360",
            ..case(
                "strict 30/360, leap February from the 15th: 16/30 x 1000 = 533.333",
                "2016-02",
                Svc("CAB", "1", "1000.00", "2016-02-15", None),
                Some("533.33"),
            )
        },
        Case {
            proration: "strict_30_360",
            ..case(
                "strict 30/360, Jan 5-14: 10/30 x 300 = 100",
                "2017-01",
                Svc("CAB", "1", "300.00", "2017-01-05", Some("2017-01-14")),
                Some("100.00"),
            )
        },
        Case {
            proration: "strict_30_360",
            ..case(
                "strict 30/360, one day on the 31st counts as day 30: 1/30 x 3000 = 100",
                "2017-01",
                Svc("CAB", "1", "3000.00", "2017-01-31", Some("2017-01-31")),
                Some("100.00"),
            )
        },
        Case {
            proration: "strict_30_360",
            cycle_day: 15,
            ..case(
                "strict 30/360, cycle day 15, Jan 20-Feb 14: 11 + 14 = 25/30 x 600 = 500",
                "2017-01",
                Svc("CAB", "1", "600.00", "2017-01-20", None),
                Some("500.00"),
            )
        },
        // ---- per-charge overrides
        case(
            "full_period from Apr 17: Apr 17-May 16 billed whole on the April bill, 2 x 300 = 600",
            "2017-04",
            Svc("FP", "2", "300.00", "2017-04-17", None),
            Some("600.00"),
        ),
        case(
            "full_period ending May 20, inside its period from May 17: still whole, 2 x 300 = 600",
            "2017-05",
            Svc("FP", "2", "300.00", "2017-04-17", Some("2017-05-20")),
            Some("600.00"),
        ),
        case(
            "full_period ended May 10, before its next period (May 17): no line",
            "2017-05",
            Svc("FP", "2", "300.00", "2017-04-17", Some("2017-05-10")),
            None,
        ),
        case(
            "per-charge none over a catalog of actual days: Apr 29-30 bills 1 x 1000",
            "2017-04",
            Svc("NP", "1", "1000.00", "2017-04-29", None),
            Some("1000.00"),
        ),
        // ---- tiered with overage: tiers up to 100 at 10, up to 500 at 8, then overage at 5
        case(
            "tiered with overage inside the tiers: 100 x 10 + 50 x 8 = 1400",
            "2017-04",
            Use("TWO", "2017-03-31", "150"),
            Some("1400.00"),
        ),
        case(
            "tiered with overage exactly at the last bound: 100 x 10 + 400 x 8 = 4200",
            "2017-04",
            Use("TWO", "2017-03-31", "500"),
            Some("4200.00"),
        ),
        case(
            "tiered with overage past the tiers: 1000 + 3200 + 100 x 5 = 4700",
            "2017-04",
            Use("TWO", "2017-03-31", "600"),
            Some("4700.00"),
        ),
        case("tiered with overage, zero usage: 0", "2017-04", Use("TWO", "2017-03-31", "0"), Some("0.00")),
        // ---- currencies: usage priced in the account's currency, recurring at the contract
        Case {
            currency: "CAD",
            ..case("CAD per unit usage: 2 h x 200.00 = 400", "2017-04", Use("RH", "2017-03-15", "2"), Some("400.00"))
        },
        Case {
            currency: "CAD",
            ..case(
                "CAD overage: (3000 - 2880) x 0.16 = 19.20",
                "2017-04",
                Use("KWH", "2017-03-31", "3000"),
                Some("19.20"),
            )
        },
        Case {
            currency: "CAD",
            ..case(
                "CAD graduated tiers: 100 x 13 + 50 x 11 = 1850",
                "2017-04",
                Use("BW", "2017-03-31", "150"),
                Some("1850.00"),
            )
        },
        // ---- discounts: one negative line, rounded once, never more than what it discounts
        Case {
            total: Some("1080.00"),
            ..case(
                "10% discount: 1200.00 - 120.00 = 1080.00",
                "2017-04",
                Svc("DSC", "1", "1200.00", "2016-01-01", None),
                Some("1200.00"),
            )
        },
        Case {
            total: Some("420.00"),
            ..case(
                "10% of a prorated 14/30 x 1000 = 466.67: -46.667 rounds to -46.67, total 420.00",
                "2017-04",
                Svc("DSC", "1", "1000.00", "2017-04-17", None),
                Some("466.67"),
            )
        },
        Case {
            rounding: "half_even",
            total: Some("9.05"),
            ..case(
                "10% of 10.05 = 1.005, half even -> 1.00: total 9.05",
                "2017-04",
                Svc("DSC", "1", "10.05", "2016-01-01", None),
                Some("10.05"),
            )
        },
        Case {
            total: Some("250.00"),
            ..case(
                "fixed 50.00 discount: 300.00 - 50.00 = 250.00",
                "2017-04",
                Svc("DFX", "1", "300.00", "2016-01-01", None),
                Some("300.00"),
            )
        },
        Case {
            total: Some("0.00"),
            ..case(
                "fixed 50.00 capped at a 10/31 x 100 = 32.26 line: total 0.00, never below zero",
                "2017-01",
                Svc("DFX", "1", "100.00", "2017-01-22", None),
                Some("32.26"),
            )
        },
        Case {
            currency: "CAD",
            total: Some("235.00"),
            ..case(
                "fixed discount in CAD: 300.00 - 65.00 = 235.00",
                "2017-04",
                Svc("DFX", "1", "300.00", "2016-01-01", None),
                Some("300.00"),
            )
        },
        case(
            "a discount does not touch charges it does not apply to: setup 500.00, no discount",
            "2017-04",
            Svc("DSC-SETUP", "1", "500.00", "2017-04-03", None),
            Some("500.00"),
        ),
    ]
}

#[test]
fn rating_table() {
    let mut misses = Vec::new();
    let all = cases();
    assert!(all.len() >= 40, "at least 40 hand-computed cases");
    for c in &all {
        let cat = catalog(c.rounding, c.proration);
        let mut acct = account(c.cycle_day);
        acct.account.currency = c.currency.into();
        match c.input {
            In::Svc(code, q, p, s, e) => acct.services.push(service(code, q, p, s, e)),
            In::Use(code, d, q) => acct.usage.push(usage(code, d, q)),
        }
        let rated = rate(&acct, &cat, c.period.parse().unwrap()).expect("rates");
        let got = rated.bill.lines.first().map(|l| l.amount.to_string());
        let total = rated.bill.total.to_string();
        if c.total.is_some_and(|t| t != total) {
            misses.push(format!("{}: expected total {:?}, got {total}", c.what, c.total));
        }
        if got.as_deref() != c.amount {
            misses.push(format!(
                "{}: expected {:?}, got {got:?} ({:?})",
                c.what,
                c.amount,
                rated.bill.lines.first().map(|l| &l.calculation)
            ));
        }
        assert_eq!(rated.bill.total, rated.bill.lines.iter().map(|l| l.amount).sum::<Decimal>());
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn lines_explain_themselves_and_group_by_logical_element() {
    let cat = catalog("half_up", "actual_days");
    let mut acct = account(1);
    acct.services.push(service("XC", "2", "300.00", "2017-04-17", None));
    acct.services.push(service("CAB", "1", "1200.00", "2016-01-01", None));
    // March's usage, billed in arrears on the April bill.
    acct.usage.push(usage("KWH", "2017-03-31", "3000"));
    let b = rate(&acct, &cat, "2017-04".parse().unwrap()).unwrap().bill;
    let got: Vec<_> = b.lines.iter().map(|l| (&*l.group, &*l.charge, l.calculation.to_string(), l.partial)).collect();
    assert_eq!(
        got,
        [
            ("Colocation Space", "Cabinet Space", "1 x 1200.00".to_string(), false),
            ("Colocation Space", "Cross Connect", "14/30 days x 2 x 300.00".to_string(), true),
            ("Usage", "Power", "3000 used, 2880 included, 120 billed x 0.12".to_string(), false),
        ]
    );
    // 1200.00 + 280.00 + 120 x 0.12 = 1494.40
    assert_eq!(b.total.to_string(), "1494.40");
    assert_eq!((b.period_start.to_string(), b.period_end.to_string()), ("2017-04-01".into(), "2017-04-30".into()));
}

#[test]
fn periods_and_discounts_show_their_service_days_and_arithmetic() {
    let cat = catalog("half_up", "actual_days");
    let mut acct = account(1);
    acct.services.push(service("CABQ", "1", "900.00", "2017-02-15", None));
    acct.services.push(service("FP", "2", "300.00", "2017-01-17", None));
    acct.services.push(service("DSC", "1", "1000.00", "2017-02-15", None));
    acct.usage.push(usage("TWO", "2017-01-10", "600"));
    let b = rate(&acct, &cat, "2017-02".parse().unwrap()).unwrap().bill;
    let got: Vec<_> = b
        .lines
        .iter()
        .map(|l| {
            format!(
                "{} | {} | {} | {}..{} | {} | {}{}",
                l.group,
                l.charge,
                l.charge_type,
                l.service_start,
                l.service_end,
                l.calculation,
                l.amount,
                if l.partial { " (partial)" } else { "" }
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            // the quarter Feb-Apr: Feb 15-28 is 14/28, Mar and Apr whole
            "Colocation Space | Cabinet (quarterly) | recurring | 2017-02-15..2017-04-30 | quarter: (2 months + 14/28 days)/3 x 1 x 900.00 | 750.00 (partial)",
            // Feb 17 starts its second full period (Jan 17 - Feb 16 was the first)
            "Colocation Space | Cage | recurring | 2017-02-17..2017-03-16 | 2 x 300.00 (full period) | 600.00",
            "Security | Firewall | recurring | 2017-02-15..2017-02-28 | 14/28 days x 1 x 1000.00 | 500.00 (partial)",
            "Security | Loyalty discount (10%) | discount | 2017-02-01..2017-02-28 | 10% of 500.00 | -50.00",
            // January's usage, in arrears
            "Usage | Transit | usage | 2017-01-01..2017-01-31 | 600 used, 500 in tiers (100 x 10.00 + 400 x 8.00), 100 billed as overage x 5.00 | 4700.00",
        ]
    );
    // 600 + 750 + 500 - 50 + 4700
    assert_eq!(b.total.to_string(), "6500.00");
}

#[test]
fn strict_30_360_counts_thirty_day_months() {
    let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    // (first day, last day, 30/360 days)
    let table = [
        ("2017-01-27", "2017-01-31", 4),  // day 31 counts as day 30
        ("2017-01-01", "2017-01-31", 30), // a whole 31-day month
        ("2017-02-01", "2017-02-28", 30), // a whole February runs to day 30
        ("2017-02-01", "2017-02-14", 14),
        ("2017-01-31", "2017-01-31", 1),
        ("2017-01-30", "2017-01-31", 1),  // the 30th and 31st are one day
        ("2017-01-20", "2017-02-14", 25), // 11 + 14 across a month end
        ("2016-02-29", "2016-02-29", 2),  // leap day, last of its month: days 29..30
    ];
    for (a, b, want) in table {
        assert_eq!(days_30_360(d(a), d(b)), want, "{a}..{b}");
    }
}

#[test]
fn an_unpriceable_currency_is_refused_and_unmapped_codes_are_reported() {
    let cat = catalog("half_up", "actual_days");
    let mut acct = account(1);
    acct.account.currency = "EUR".into();
    let err = rate(&acct, &cat, "2017-04".parse().unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "account A1 bills in EUR, which the catalog cannot price (it prices USD, CAD)");
    let mut acct = account(1);
    acct.services.push(service("NOPE", "1", "50.00", "2016-01-01", None));
    acct.usage.push(usage("CAB", "2017-03-03", "5"));
    let r = rate(&acct, &cat, "2017-04".parse().unwrap()).unwrap();
    assert!(r.bill.lines.is_empty());
    let reasons: Vec<_> = r.issues.iter().map(|i| i.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "service S-NOPE-2016-01-01 (NOPE) has no product in the catalog",
            "usage recorded for CAB, which is not a metered charge"
        ]
    );
}

/// Usage timing as a table: which usage days a bill carries (SPEC §4: in arrears, the bill period
/// that ended the day before the bill), and the first new bill under both carry-over rules.
#[test]
fn usage_is_billed_in_arrears_and_once_across_the_handover() {
    use crate::plan::UsageCarryover::{Legacy, New};
    // (what, cycle day, bill period, usage date, handover (first new period, carry-over),
    //  the usage line's service period, or None when the bill carries no usage)
    type Row = (
        &'static str,
        u32,
        &'static str,
        &'static str,
        Option<(&'static str, crate::plan::UsageCarryover)>,
        Option<(&'static str, &'static str)>,
    );
    #[rustfmt::skip]
    let table: [Row; 16] = [
        ("the bill dated Aug 15 carries Jul 15 - Aug 14", 15, "2017-08", "2017-07-15", None, Some(("2017-07-15", "2017-08-14"))),
        ("the period's last day is on it", 15, "2017-08", "2017-08-14", None, Some(("2017-07-15", "2017-08-14"))),
        ("the bill's own first day is not: it has not ended", 15, "2017-08", "2017-08-15", None, None),
        ("two periods back is on the earlier bill", 15, "2017-08", "2017-07-14", None, None),
        ("cycle day 1: the April bill carries March", 1, "2017-04", "2017-03-01", None, Some(("2017-03-01", "2017-03-31"))),
        ("cycle day 31: the bill of Mar 31 carries Feb 28 - Mar 30", 31, "2017-03", "2017-03-30", None, Some(("2017-02-28", "2017-03-30"))),
        ("cycle day 31: Feb 27 belongs to Jan 31 - Feb 27", 31, "2017-03", "2017-02-27", None, None),
        ("across the year: the bill of Jan 5 carries Dec 5 - Jan 4", 5, "2018-01", "2017-12-05", None, Some(("2017-12-05", "2018-01-04"))),
        ("carry-over new: the first new bill carries the last legacy period", 15, "2017-08", "2017-08-01", Some(("2017-08", New)), Some(("2017-07-15", "2017-08-14"))),
        ("carry-over legacy: the first new bill carries no usage", 15, "2017-08", "2017-08-01", Some(("2017-08", Legacy)), None),
        ("carry-over legacy: the second new bill carries its own previous period", 15, "2017-09", "2017-08-20", Some(("2017-08", Legacy)), Some(("2017-08-15", "2017-09-14"))),
        ("carry-over legacy: nothing of the last legacy period on the second bill", 15, "2017-09", "2017-08-01", Some(("2017-08", Legacy)), None),
        ("carry-over new: the second new bill as usual", 15, "2017-09", "2017-08-20", Some(("2017-08", New)), Some(("2017-08-15", "2017-09-14"))),
        ("a bill before the first new one (parallel run): in arrears", 15, "2017-07", "2017-06-20", Some(("2017-08", Legacy)), Some(("2017-06-15", "2017-07-14"))),
        ("carry-over new, cycle day 1: the July bill carries June", 1, "2017-07", "2017-06-30", Some(("2017-07", New)), Some(("2017-06-01", "2017-06-30"))),
        ("carry-over legacy, cycle day 1: the July bill carries none of June", 1, "2017-07", "2017-06-30", Some(("2017-07", Legacy)), None),
    ];
    let cat = catalog("half_up", "actual_days");
    let mut misses = Vec::new();
    for (what, cycle, period, date, handover, want) in table {
        let mut acct = account(cycle);
        acct.usage.push(usage("RH", date, "2"));
        let handover = handover.map(|(p, c)| Handover { first_new: p.parse().unwrap(), carryover: c });
        let r = rate_on(&acct, &cat, period.parse().unwrap(), Terms { convention: None, handover }).unwrap();
        let got = r.bill.lines.first().map(|l| (l.service_start.to_string(), l.service_end.to_string()));
        if got != want.map(|(a, b)| (a.to_string(), b.to_string())) {
            misses.push(format!("{what}: expected {want:?}, got {got:?}"));
        }
        // 2 h x 150.00 whenever the usage is carried
        if let Some(l) = r.bill.lines.first() {
            assert_eq!(l.amount.to_string(), "300.00", "{what}");
        }
        // Only the first new bill says who bills the last legacy period's usage.
        let noted = r.handover.map(|n| (n.carried_by, n.usage_start.to_string(), n.usage_end.to_string()));
        let want_note = handover.filter(|h| h.first_new.to_string() == period).map(|h| {
            let last = h.last_legacy_period(cycle);
            (h.carryover, last.start.to_string(), last.end.to_string())
        });
        if noted != want_note {
            misses.push(format!("{what}: note {noted:?}, expected {want_note:?}"));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn the_legacy_system_bills_usage_up_to_the_handover() {
    use crate::plan::UsageCarryover::{Legacy, New};
    let h = |c| Handover { first_new: "2017-08".parse().unwrap(), carryover: c };
    // (bill period, carry-over, the usage days the legacy bill of that period carries)
    let table = [
        ("2017-07", New, Some(("2017-06-15", "2017-07-14"))),
        ("2017-07", Legacy, Some(("2017-06-15", "2017-07-14"))),
        ("2017-08", New, None),
        ("2017-08", Legacy, Some(("2017-07-15", "2017-08-14"))), // the final usage bill
        ("2017-09", New, None),
        ("2017-09", Legacy, None),
    ];
    for (period, c, want) in table {
        let p: crate::domain::Period = period.parse().unwrap();
        let got = legacy_usage_period(p, 15, h(c)).map(|b| (b.start.to_string(), b.end.to_string()));
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())), "{period} {c:?}");
        // The final usage bill is the one on the first new bill's date, and only with `legacy`.
        let last = h(c).final_legacy_usage(p, 15).map(|b| (b.start.to_string(), b.end.to_string()));
        let want_final =
            (period == "2017-08" && c == Legacy).then(|| ("2017-07-15".to_string(), "2017-08-14".to_string()));
        assert_eq!(last, want_final, "{period} {c:?}");
    }
    let words = HandoverNote {
        usage_start: "2017-07-15".parse().unwrap(),
        usage_end: "2017-08-14".parse().unwrap(),
        carried_by: Legacy,
    }
    .words();
    assert!(words.contains("Jul 15, 2017 - Aug 14, 2017") && words.contains("final bill"), "{words}");
}

proptest! {
    /// Under actual days, a month split at any day into two services bills the full month, within
    /// one rounding unit per piece. (Under 30/360 it does not, by design: February's pieces add up
    /// to 28/30 of a month. That is the convention difference reconciliation explains.)
    #[test]
    fn prorated_pieces_add_up_to_the_month(split in 2u32..=28, cents in 1i64..10_000_000, month in 1u32..=12) {
        let cat = catalog("half_up", "actual_days");
        let p = crate::domain::Period::new(2017, month).unwrap();
        let first = p.first_day();
        let last = p.next().first_day().pred_opt().unwrap();
        let cut = first.with_day(split).unwrap();
        let price = Decimal::new(cents, 2);
        let mut whole = account(1);
        whole.services.push(Service { start_date: first, end_date: None, ..service("CAB", "1", "0", "2017-01-01", None) });
        whole.services[0].unit_price = price;
        let mut pieces = account(1);
        let mut a = whole.services[0].clone();
        a.end_date = Some(cut.pred_opt().unwrap());
        let mut b = whole.services[0].clone();
        b.service_id = "B".into();
        b.start_date = cut;
        b.end_date = Some(last);
        pieces.services = vec![a, b];
        let full = rate(&whole, &cat, p).unwrap().bill.total;
        let split_total = rate(&pieces, &cat, p).unwrap().bill.total;
        prop_assert!((full - split_total).abs() <= Decimal::new(2, 2), "{full} vs {split_total}");
    }

    /// Under strict 30/360 too, a month split at any day bills the full month (every month counts
    /// 30 days, so the pieces are (cut - 1)/30 and (31 - cut)/30).
    #[test]
    fn strict_30_360_pieces_add_up_to_the_month(split in 2u32..=28, cents in 1i64..10_000_000, month in 1u32..=12) {
        let cat = catalog("half_up", "strict_30_360");
        let p = crate::domain::Period::new(2017, month).unwrap();
        let first = p.first_day();
        let last = p.next().first_day().pred_opt().unwrap();
        let cut = first.with_day(split).unwrap();
        let price = Decimal::new(cents, 2);
        let mut a = service("CAB", "1", "0", "2017-01-01", None);
        a.unit_price = price;
        a.start_date = first;
        a.end_date = Some(cut.pred_opt().unwrap());
        let mut b = a.clone();
        b.service_id = "B".into();
        b.start_date = cut;
        b.end_date = Some(last);
        let mut pieces = account(1);
        pieces.services = vec![a, b];
        let split_total = rate(&pieces, &cat, p).unwrap().bill.total;
        prop_assert!((price - split_total).abs() <= Decimal::new(2, 2), "{price} vs {split_total}");
    }

    /// `none` and `full_period` never prorate: whatever the service days, a recurring line is
    /// the whole quantity x unit price.
    #[test]
    fn none_and_full_period_never_prorate(
        start_day in 0i64..400, len in 0i64..400, open in any::<bool>(), cents in 0i64..10_000_000,
        qty in 0i64..50, cycle in 1u32..=31, month in 1u32..=12, quarterly in any::<bool>(),
    ) {
        let base = chrono::NaiveDate::from_ymd_opt(2016, 6, 1).unwrap();
        let start = base + chrono::Days::new(start_day as u64);
        let end = (!open).then(|| start + chrono::Days::new(len as u64));
        let price = Decimal::new(cents, 2);
        let quantity = Decimal::from(qty);
        let p = crate::domain::Period::new(2017, month).unwrap();
        for (proration, code) in [("none", "CAB"), ("none", "CABQ"), ("actual_days", "NP"), ("actual_days", "FP")] {
            if quarterly != (code == "CABQ") && code != "FP" && code != "NP" {
                continue;
            }
            let cat = catalog("half_up", proration);
            let mut acct = account(cycle);
            let mut s = service(code, "1", "1", "2016-01-01", None);
            s.quantity = quantity;
            s.unit_price = price;
            s.start_date = start;
            s.end_date = end;
            acct.services.push(s);
            for l in rate(&acct, &cat, p).unwrap().bill.lines {
                prop_assert!(!l.partial, "{code}: {}", l.calculation);
                prop_assert_eq!(l.amount, round_line(quantity * price, cat.rounding), "{}: {}", code, l.calculation);
            }
        }
    }

    /// A discount line is never more than the lines it discounts, so a product never bills below zero.
    #[test]
    fn discounts_never_go_below_zero(cents in 0i64..20_000, day in 1u32..=28, code in prop::sample::select(vec!["DSC", "DFX"])) {
        let cat = catalog("half_up", "actual_days");
        let mut acct = account(1);
        let mut s = service(code, "1", "1", "2016-01-01", None);
        s.unit_price = Decimal::new(cents, 2);
        s.start_date = chrono::NaiveDate::from_ymd_opt(2017, 3, day).unwrap();
        acct.services.push(s);
        let b = rate(&acct, &cat, "2017-03".parse().unwrap()).unwrap().bill;
        prop_assert!(b.total >= Decimal::ZERO, "{:?}", b.lines);
        prop_assert_eq!(b.total, b.lines.iter().map(|l| l.amount).sum::<Decimal>());
    }

    /// Over consecutive bills, the service periods of an open-ended recurring service's lines tile
    /// time from its start date: no day billed twice, no day skipped, whatever the billing period,
    /// convention and cycle day.
    #[test]
    fn recurring_lines_tile_time_without_gap_or_overlap(
        start_day in 0i64..365, cycle in 1u32..=31, code in prop::sample::select(vec!["CAB", "CABQ", "CABY", "FP"]),
    ) {
        let cat = catalog("half_up", "actual_days");
        let start = chrono::NaiveDate::from_ymd_opt(2016, 1, 1).unwrap() + chrono::Days::new(start_day as u64);
        let mut acct = account(cycle);
        let mut s = service(code, "1", "100.00", "2016-01-01", None);
        s.start_date = start;
        acct.services.push(s);
        let mut p = crate::domain::Period::new(2015, 12).unwrap();
        let mut next_day = start;
        let mut lines = 0;
        for _ in 0..40 {
            for l in rate(&acct, &cat, p).unwrap().bill.lines {
                prop_assert_eq!(l.service_start, next_day, "{} in {}: {}", code, p, l.calculation);
                prop_assert!(l.service_end >= l.service_start);
                next_day = l.service_end.succ_opt().unwrap();
                lines += 1;
            }
            p = p.next();
        }
        prop_assert!(lines >= 3, "{code}: only {lines} line(s) in 40 bills");
    }

    /// Graduated and volume prices never decrease as the quantity grows.
    #[test]
    fn tiered_prices_are_monotone(a in 0i64..2_000_000, b in 0i64..2_000_000) {
        let cat = catalog("half_up", "actual_days");
        let (lo, hi) = (Decimal::new(a.min(b), 2), Decimal::new(a.max(b), 2));
        for code in ["BW", "STOR", "KWH", "TWO"] {
            let (_, charge) = cat.lookup(code).unwrap();
            let pl = price_usage(&charge.model, lo).amount;
            let ph = price_usage(&charge.model, hi).amount;
            if code != "STOR" {
                prop_assert!(pl <= ph, "{code}: {lo} -> {pl}, {hi} -> {ph}");
            }
            // Volume pricing may drop at a tier boundary (all units at the lower price): the
            // unit price never rises.
            let ul = price_usage(&charge.model, lo).unit_price;
            let uh = price_usage(&charge.model, hi).unit_price;
            if code == "STOR" {
                prop_assert!(uh <= ul, "{code}: unit price rose from {ul} to {uh}");
            }
        }
    }

    /// A bill's total is the sum of its rounded lines, and no line has more decimals than the scale.
    #[test]
    fn totals_are_sums_of_rounded_lines(qs in proptest::collection::vec((1i64..1000, 1i64..100_000_000, 1u32..=28), 1..8)) {
        let cat = catalog("half_up", "actual_days");
        let mut acct = account(1);
        for (i, (q, p, d)) in qs.iter().enumerate() {
            let mut s = service("XC", "1", "1", "2017-01-01", None);
            s.service_id = format!("S{i}");
            s.quantity = Decimal::new(*q, 1);
            s.unit_price = Decimal::new(*p, 6);
            s.start_date = chrono::NaiveDate::from_ymd_opt(2017, 3, *d).unwrap();
            acct.services.push(s);
        }
        let b = rate(&acct, &cat, "2017-03".parse().unwrap()).unwrap().bill;
        prop_assert_eq!(b.total, b.lines.iter().map(|l| l.amount).sum::<Decimal>());
        for l in &b.lines {
            prop_assert_eq!(l.amount.scale(), 2);
        }
    }

    /// Across a cut-over, every usage day is billed exactly once (by a legacy bill, the legacy
    /// system's final usage bill, or a new bill) and never on a bill dated before the day ended,
    /// whatever the cycle day, the first new bill and the carry-over rule. The new bills are
    /// rated for real: their usage lines hold exactly the usage of the days they say.
    #[test]
    fn usage_days_are_billed_once_and_after_they_end(
        cycle in 1u32..=31, months in 0u32..24, legacy_carries in any::<bool>(), gap_day in 0i64..900,
    ) {
        let cat = catalog("half_up", "actual_days");
        let carryover = if legacy_carries { crate::plan::UsageCarryover::Legacy } else { crate::plan::UsageCarryover::New };
        let first_new = add_periods(crate::domain::Period::new(2016, 7).unwrap(), months);
        let h = Handover { first_new, carryover };
        let mut acct = account(cycle);
        // One hour of remote hands every day of 2016-2019 but one.
        let day0 = chrono::NaiveDate::from_ymd_opt(2016, 1, 1).unwrap();
        let gap = day0 + chrono::Days::new(gap_day as u64);
        let mut d = day0;
        while d.year() < 2020 {
            if d != gap {
                acct.usage.push(usage("RH", &d.to_string(), "1"));
            }
            d = d.succ_opt().unwrap();
        }
        let mut billed: std::collections::BTreeMap<chrono::NaiveDate, u32> = Default::default();
        let mut bill = |date: chrono::NaiveDate, span: BillPeriod, who: &str| -> Result<(), TestCaseError> {
            let mut x = span.start;
            while x <= span.end {
                prop_assert!(x < date, "{who} bill of {date} charges {x}, which has not ended");
                *billed.entry(x).or_default() += 1;
                x = x.succ_opt().unwrap();
            }
            Ok(())
        };
        let first_legacy = add_periods(crate::domain::Period::new(2016, 3).unwrap(), 0);
        let mut p = first_legacy;
        let last_new = add_periods(first_new, 6);
        while p <= last_new {
            let date = p.bill_period(cycle).start;
            if let Some(span) = legacy_usage_period(p, cycle, h) {
                bill(date, span, "legacy")?;
            }
            if p >= first_new {
                let r = rate_on(&acct, &cat, p, Terms { convention: None, handover: Some(h) }).unwrap();
                let lines: Vec<_> = r.bill.lines.iter().filter(|l| l.charge_type == LineType::Usage).collect();
                prop_assert!(lines.len() <= 1);
                if let Some(l) = lines.first() {
                    let span = BillPeriod { period: p.prev(), start: l.service_start, end: l.service_end };
                    let days = span.days() - i64::from(span.contains(gap));
                    prop_assert_eq!(l.quantity, Decimal::from(days), "the line holds the usage of the days it says");
                    bill(date, span, "new")?;
                }
            }
            p = p.next();
        }
        // Every day from the first legacy bill's usage to the last new bill's is billed exactly once.
        let from = first_legacy.prev().bill_period(cycle).start;
        let to = last_new.prev().bill_period(cycle).end;
        let mut x = from;
        while x <= to {
            prop_assert_eq!(billed.get(&x).copied().unwrap_or(0), 1, "day {} (first new bill {}, {:?})", x, first_new, carryover);
            x = x.succ_opt().unwrap();
        }
        prop_assert!(billed.keys().all(|k| *k >= from && *k <= to));
    }
}

use chrono::Datelike;
