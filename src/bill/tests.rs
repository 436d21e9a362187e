//! The bill as customers read it: snapshots of the text and HTML bills of a handful of accounts
//! built from fixed inputs (no clock), plus the header rules as a table.

use super::*;
use crate::domain::{Account, AccountStatus, Segment, Service, Usage};
use crate::plan::{Catalog, SourceFile};
use crate::rate::{Rated, rate};

const REMIT_TO: [&str; 3] = ["Atmosera, Inc.", "P.O. Box 2712", "Portland, OR 97208-2712"];

fn remit_to() -> Vec<String> {
    REMIT_TO.iter().map(|s| s.to_string()).collect()
}

fn repo_catalog() -> Catalog {
    let text = include_str!("../../waves/catalog.yaml").to_string();
    crate::plan::parse(&SourceFile { name: "catalog.yaml".into(), text }, &[]).plan.expect("valid").catalog
}

/// A catalog with what the repository's does not use yet: a quarterly charge, a discount, CAD.
fn extended_catalog() -> Catalog {
    let text = r#"currency: USD
currencies: [USD, CAD]
products:
  - id: fw
    name: "Managed Firewall"
    group: Security
    charges:
      - { id: fw, name: "Firewall (quarterly)", type: recurring, model: flat_fee, period: quarter, legacy_codes: [FW-Q] }
    discounts:
      - { id: loyal, name: "Loyalty discount (10%)", percent: "10" }
  - id: transit
    name: "IP Transit"
    group: Connectivity
    charges:
      - id: bw
        name: "Bandwidth (tiers, then overage)"
        type: usage
        uom: Mbps
        model: tiered_with_overage
        overage_price: { USD: "5.00", CAD: "6.50" }
        tiers:
          - { up_to: "100", price: { USD: "10.00", CAD: "13.00" } }
          - { up_to: "500", price: { USD: "8.00", CAD: "10.40" } }
        legacy_codes: [BW-T]
"#;
    let checked = crate::plan::parse(&SourceFile { name: "c.yaml".into(), text: text.into() }, &[]);
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    checked.plan.expect("valid").catalog
}

fn account(number: &str, name: &str, segment: Segment, currency: &str, cycle_day: u32) -> LegacyAccount {
    LegacyAccount::new(Account {
        account_number: number.into(),
        name: name.into(),
        segment,
        site: Some("DC1".into()),
        currency: currency.into(),
        bill_cycle_day: cycle_day,
        bill_to_email: vec![],
        status: AccountStatus::Active,
    })
}

fn svc(a: &mut LegacyAccount, code: &str, qty: &str, price: &str, start: &str, end: Option<&str>) {
    let n = a.services.len();
    a.services.push(Service {
        account_number: a.account.account_number.clone(),
        service_id: format!("S{n}"),
        legacy_code: code.into(),
        description: code.into(),
        quantity: qty.parse().unwrap(),
        unit_price: price.parse().unwrap(),
        start_date: start.parse().unwrap(),
        end_date: end.map(|e| e.parse().unwrap()),
    });
}

fn used(a: &mut LegacyAccount, code: &str, date: &str, qty: &str) {
    a.usage.push(Usage {
        account_number: a.account.account_number.clone(),
        service_id: String::new(),
        legacy_code: code.into(),
        usage_date: date.parse().unwrap(),
        quantity: qty.parse().unwrap(),
        uom: String::new(),
    });
}

/// The demo accounts: (catalog, account, period).
fn accounts() -> Vec<(Catalog, LegacyAccount, Period)> {
    let repo = repo_catalog();
    // Colocation: a cabinet, a cross connect from the 17th, an installation, and March's power
    // over its allowance and bandwidth across tiers (usage is billed in arrears).
    let mut colo = account("A000012", "Cascade Logistics LLC", Segment::Colocation, "USD", 1);
    svc(&mut colo, "CAB-42U", "2", "1500.00", "2016-01-01", None);
    svc(&mut colo, "PWR-20A", "2", "325.00", "2016-01-01", None);
    svc(&mut colo, "XC-FIBER", "2", "300.00", "2017-04-17", None);
    svc(&mut colo, "INST-COLO", "1", "750.00", "2017-04-17", None);
    used(&mut colo, "PWR-KWH", "2017-03-31", "3500");
    used(&mut colo, "BW-95TH", "2017-03-31", "650");
    // Cloud: vCPUs ended mid-month, storage priced by volume, and a code the catalog does not map.
    let mut cloud = account("A000345", "Juniper Cloudworks & Co.", Segment::Cloud, "USD", 1);
    svc(&mut cloud, "CLD-VCPU", "8", "25.00", "2016-01-01", Some("2017-02-10"));
    svc(&mut cloud, "CLD-VCPU", "12", "25.00", "2017-02-11", None);
    svc(&mut cloud, "LEGACY-MISC", "1", "50.00", "2016-01-01", None);
    used(&mut cloud, "CLD-STOR", "2017-01-31", "1500.5");
    // Wireless, billed on the 31st: February's period runs Feb 28 - Mar 30, and its usage is the
    // previous period's, Jan 31 - Feb 27.
    let mut wireless = account("A001999", "Rainier Labs", Segment::Wireless, "USD", 31);
    svc(&mut wireless, "WL-LINE", "5", "45.00", "2017-03-10", None);
    used(&mut wireless, "WL-DATA", "2017-02-20", "27.5");
    // CAD, with a quarterly charge starting mid-quarter, a discount and tiered-with-overage usage.
    let mut cad = account("A004004", "Mapleton Clinic", Segment::Colocation, "CAD", 1);
    svc(&mut cad, "FW-Q", "1", "1200.00", "2017-05-16", None);
    used(&mut cad, "BW-T", "2017-04-20", "620");
    // Nothing to bill this period.
    let empty = account("A000001", "Orca Media", Segment::Colocation, "USD", 1);
    vec![
        (repo.clone(), colo, "2017-04".parse().unwrap()),
        (repo.clone(), cloud, "2017-02".parse().unwrap()),
        (repo.clone(), wireless, "2017-02".parse().unwrap()),
        (extended_catalog(), cad, "2017-05".parse().unwrap()),
        (repo, empty, "2017-04".parse().unwrap()),
    ]
}

#[test]
fn bills_as_customers_read_them() {
    for (catalog, acct, period) in accounts() {
        let rated = rate(&acct, &catalog, period).expect("rates");
        let name = format!("{}-{}", acct.account.account_number, period);
        let text = render(&acct.account.name, &rated, &remit_to(), Format::Text).unwrap();
        insta::assert_snapshot!(format!("{name}.txt"), text);
        let html = render(&acct.account.name, &rated, &remit_to(), Format::Html).unwrap();
        insta::assert_snapshot!(format!("{name}.html"), html);
    }
}

#[test]
fn every_bill_has_its_header_and_stub_and_adds_up() {
    for (catalog, acct, period) in accounts() {
        let rated = rate(&acct, &catalog, period).expect("rates");
        let b = &rated.bill;
        let h = Header::of(b);
        let inv = format!("INV-{}-{}", acct.account.account_number, period.to_string().replace('-', ""));
        assert_eq!(h.invoice_number, inv);
        assert_eq!(h.bill_date, b.period_start, "the bill date is the period's first day");
        assert_eq!((h.due_date - h.bill_date).num_days(), 30);
        let text = render(&acct.account.name, &rated, &remit_to(), Format::Text).unwrap();
        let stub = text.split("PAYMENT STUB").nth(1).expect("a stub");
        for needle in [inv.as_str(), &acct.account.account_number, &money(b.total), &long_date(h.due_date)] {
            assert!(stub.contains(needle), "stub of {inv} lacks {needle}");
        }
        for line in REMIT_TO {
            assert!(stub.contains(line), "stub of {inv} lacks {line}");
        }
        let html = render(&acct.account.name, &rated, &remit_to(), Format::Html).unwrap();
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains(" src="), "self-contained");
        assert!(html.contains("@page") && html.contains("@media print"));
        let json: serde_json::Value =
            serde_json::from_str(&render(&acct.account.name, &rated, &remit_to(), Format::Json).unwrap()).unwrap();
        for key in ["account_number", "period", "currency", "lines", "total", "invoice_number", "due_date"] {
            assert!(json.get(key).is_some(), "json lacks {key}");
        }
        // Group subtotals add up to the total.
        let subtotals: Decimal = groups(b).iter().map(|g| g.2).sum();
        assert_eq!(subtotals, b.total);
        // A preview asks for nothing ("nothing is due"); the invoice of the same bill asks for
        // its total, in the header, the total line and the stub.
        let invoice = Rated { preview: false, ..rated.clone() };
        for (r, due) in [(&rated, false), (&invoice, true)] {
            assert_eq!(r.preview, !due, "the accounts here have no cut-over: previews");
            for format in [Format::Text, Format::Html] {
                let out = render(&acct.account.name, r, &remit_to(), format).unwrap();
                let asks = out.matches("Amount due").count()
                    + out.matches("TOTAL AMOUNT DUE").count()
                    + out.matches("Total amount due").count();
                assert_eq!(asks, if due { 3 } else { 0 }, "{inv} {format:?} preview {}", r.preview);
            }
        }
    }
}

/// The first new bill under both carry-over rules (SPEC §4): with `new` it carries the last
/// legacy period's usage and says so; with `legacy` it carries none and says the legacy system's
/// final bill does. Recurring charges are the same either way.
#[test]
fn the_first_new_bill_carries_the_last_legacy_usage_or_says_who_does() {
    use crate::plan::UsageCarryover;
    use crate::rate::{Handover, LineType, Terms, rate_on};
    let (catalog, acct, period) = accounts().remove(0);
    let first = |carryover| {
        let terms = Terms { convention: None, handover: Some(Handover { first_new: period, carryover }) };
        rate_on(&acct, &catalog, period, terms).expect("rates")
    };
    let (new, legacy) = (first(UsageCarryover::New), first(UsageCarryover::Legacy));
    let usage = |r: &Rated| -> Vec<(String, String)> {
        r.bill
            .lines
            .iter()
            .filter(|l| l.charge_type == LineType::Usage)
            .map(|l| (l.service_start.to_string(), l.service_end.to_string()))
            .collect()
    };
    let march = ("2017-03-01".to_string(), "2017-03-31".to_string());
    assert_eq!(usage(&new), [march.clone(), march]);
    assert!(usage(&legacy).is_empty());
    let usage_total: Decimal =
        new.bill.lines.iter().filter(|l| l.charge_type == LineType::Usage).map(|l| l.amount).sum();
    assert_eq!(new.bill.total - legacy.bill.total, usage_total, "only the usage differs");
    // Steady state and carry-over `new` bill the same; only the note tells them apart.
    assert_eq!(rate(&acct, &catalog, period).unwrap().bill, new.bill);
    for (name, r) in [("new", &new), ("legacy", &legacy)] {
        let text = render(&acct.account.name, r, &remit_to(), Format::Text).unwrap();
        insta::assert_snapshot!(format!("A000012-2017-04-first-new-bill-carryover-{name}.txt"), text);
        let json: serde_json::Value =
            serde_json::from_str(&render(&acct.account.name, r, &remit_to(), Format::Json).unwrap()).unwrap();
        assert_eq!(json["usage_handover"]["carried_by"], name);
        assert_eq!(json["usage_handover"]["usage_start"], "2017-03-01");
        let html = render(&acct.account.name, r, &remit_to(), Format::Html).unwrap();
        assert!(html.contains("id=\"usage-handover\""), "{name}");
    }
    let plain = render(&acct.account.name, &rate(&acct, &catalog, period).unwrap(), &remit_to(), Format::Json).unwrap();
    assert!(!plain.contains("usage_handover"), "no note on a bill that is not the first new one");
}

#[test]
fn money_groups_thousands_and_keeps_the_scale() {
    let table = [
        ("0.00", "0.00"),
        ("12.5", "12.5"),
        ("999.99", "999.99"),
        ("1000.00", "1,000.00"),
        ("1234567.89", "1,234,567.89"),
        ("-120.00", "-120.00"),
        ("-1500.10", "-1,500.10"),
        ("100000", "100,000"),
    ];
    for (input, expect) in table {
        assert_eq!(money(input.parse().unwrap()), expect, "{input}");
    }
}
