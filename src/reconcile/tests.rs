//! Reconciliation as a table: legacy lines vs the new bill, and the reason each difference gets.

use super::*;
use crate::domain::{Account, AccountStatus as Acct, LegacyAccount, LegacyLine, Segment, Service};
use crate::plan::SourceFile;

fn catalog() -> Catalog {
    let text = include_str!("../../waves/catalog.yaml");
    crate::plan::parse(&SourceFile { name: "c".into(), text: text.into() }, &[]).plan.unwrap().catalog
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn acct(services: Vec<Service>, lines: Vec<LegacyLine>) -> LegacyAccount {
    LegacyAccount {
        account: Account {
            account_number: "A1".into(),
            name: "Acme".into(),
            segment: Segment::Colocation,
            site: Some("DC1".into()),
            currency: "USD".into(),
            bill_cycle_day: 1,
            bill_to_email: vec![],
            status: Acct::Active,
        },
        services,
        usage: vec![],
        invoice_lines: lines,
    }
}

fn svc(code: &str, qty: &str, price: &str, start: &str) -> Service {
    Service {
        account_number: "A1".into(),
        service_id: format!("S-{code}"),
        legacy_code: code.into(),
        description: code.into(),
        quantity: d(qty),
        unit_price: d(price),
        start_date: start.parse().unwrap(),
        end_date: None,
    }
}

fn line(code: &str, qty: &str, price: &str, amount: &str) -> LegacyLine {
    LegacyLine {
        account_number: "A1".into(),
        invoice_number: "INV".into(),
        period: "2017-04".parse().unwrap(),
        legacy_code: code.into(),
        description: code.into(),
        service_start: None,
        service_end: None,
        quantity: d(qty),
        unit_price: d(price),
        amount: d(amount),
    }
}

fn verdict(a: &LegacyAccount, policy: &Policy) -> PeriodVerdict {
    let cat = catalog();
    let p = "2017-04".parse().unwrap();
    let new = crate::rate::rate(a, &cat, p).unwrap().bill;
    let alt = crate::rate::rate_with(a, &cat, p, Some(crate::plan::Proration::Thirty360)).unwrap().bill;
    compare(&PeriodInput { legacy: &a.invoice_lines, new: &new, new_legacy_convention: &alt }, &cat, policy)
}

fn strict() -> Policy {
    Policy { tolerance: d("0.01"), accept: vec![] }
}

#[test]
fn each_difference_gets_its_reason() {
    // (what, services, legacy lines, status, reasons, difference)
    type Row = (&'static str, Vec<Service>, Vec<LegacyLine>, PeriodStatus, Vec<Reason>, &'static str);
    let table: Vec<Row> = vec![
        (
            "same bill",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1200.00")],
            PeriodStatus::Match,
            vec![],
            "0.00",
        ),
        (
            "one cent rounding",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1200.01")],
            PeriodStatus::WithinTolerance,
            vec![Reason::Rounding],
            "-0.01",
        ),
        // April 17-30: 14/30 under both conventions in a 30-day month; use March-like 31-day case below
        (
            "billed at another unit price",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1260.00", "1260.00")],
            PeriodStatus::Mismatch,
            vec![Reason::PriceDifference],
            "-60.00",
        ),
        (
            "legacy product with no mapping",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1200.00"), line("LEGACY-MISC", "1", "50.00", "50.00")],
            PeriodStatus::Mismatch,
            vec![Reason::UnmappedProduct],
            "-50.00",
        ),
        (
            "legacy bill lacks a line",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01"), svc("XC-FIBER", "1", "300.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1200.00")],
            PeriodStatus::Mismatch,
            vec![Reason::ExtraLine],
            "300.00",
        ),
        (
            "new bill lacks a line",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1200.00"), line("XC-FIBER", "1", "300.00", "300.00")],
            PeriodStatus::Mismatch,
            vec![Reason::MissingLine],
            "-300.00",
        ),
        (
            "quantity billed differs",
            vec![svc("XC-FIBER", "2", "300.00", "2016-01-01")],
            vec![line("XC-FIBER", "3", "300.00", "900.00")],
            PeriodStatus::Mismatch,
            vec![Reason::UsageDifference],
            "-300.00",
        ),
        (
            "nothing explains it",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1100.00")],
            PeriodStatus::Mismatch,
            vec![Reason::Unexplained],
            "100.00",
        ),
    ];
    let mut misses = Vec::new();
    for (what, services, lines, status, reasons, diff) in table {
        let v = verdict(&acct(services, lines), &strict());
        if (v.status, &v.reasons, v.difference.to_string()) != (status, &reasons, diff.to_string()) {
            misses.push(format!("{what}: got {:?} {:?} {} ({:?})", v.status, v.reasons, v.difference, v.findings));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn the_legacy_30_day_convention_is_recognised_and_can_be_accepted() {
    // March 27-31 under actual days: 5/31 x 1000 = 161.29; the legacy 30-day month: 5/30 x 1000 = 166.67.
    let mut a =
        acct(vec![svc("CAB-42U", "1", "1000.00", "2017-03-27")], vec![line("CAB-42U", "1", "1000.00", "166.67")]);
    a.invoice_lines[0].period = "2017-03".parse().unwrap();
    let cat = catalog();
    let p = "2017-03".parse().unwrap();
    let new = crate::rate::rate(&a, &cat, p).unwrap().bill;
    let alt = crate::rate::rate_with(&a, &cat, p, Some(crate::plan::Proration::Thirty360)).unwrap().bill;
    let input = PeriodInput { legacy: &a.invoice_lines, new: &new, new_legacy_convention: &alt };
    let v = compare(&input, &cat, &strict());
    assert_eq!(
        (v.status, v.reasons.clone(), v.difference.to_string()),
        (PeriodStatus::Mismatch, vec![Reason::ProrationConvention], "-5.38".to_string())
    );
    let accepting = Policy { tolerance: d("0.01"), accept: vec![Reason::ProrationConvention] };
    assert_eq!(compare(&input, &cat, &accepting).status, PeriodStatus::WithinTolerance);
    // Accepting one reason never passes another.
    let mut b = a.clone();
    b.invoice_lines[0].amount = d("170.00");
    let new = crate::rate::rate(&b, &cat, p).unwrap().bill;
    let v =
        compare(&PeriodInput { legacy: &b.invoice_lines, new: &new, new_legacy_convention: &alt }, &cat, &accepting);
    assert_eq!((v.status, v.reasons), (PeriodStatus::Mismatch, vec![Reason::Unexplained]));
}

#[test]
fn accounts_pass_only_when_no_period_mismatches_and_gates_follow_the_pass_rate() {
    let ok = verdict(
        &acct(vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")], vec![line("CAB-42U", "1", "1200.00", "1200.00")]),
        &strict(),
    );
    let bad = verdict(
        &acct(vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")], vec![line("CAB-42U", "1", "1200.00", "1100.00")]),
        &strict(),
    );
    assert_eq!(account_status(std::slice::from_ref(&ok)), AccountStatus::Pass);
    assert_eq!(account_status(&[ok, bad]), AccountStatus::Fail);
    assert_eq!(account_status(&[]), AccountStatus::Pass);
    // (passed, accounts, min rate, verdict)
    for (p, n, min, g) in [
        (95, 100, "0.95", GateVerdict::Proceed),
        (94, 100, "0.95", GateVerdict::Pause),
        (0, 0, "0.5", GateVerdict::Pause),
        (1, 1, "1", GateVerdict::Proceed),
    ] {
        assert_eq!(gate(p, n, d(min)), g, "{p}/{n} vs {min}");
    }
}
