//! Reconciliation as a table: legacy lines vs the new bill, and the reason each difference gets.

use super::*;
use crate::domain::Period;
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
        contacts: vec![],
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
    verdict_in(a, policy, "2017-04")
}

fn verdict_in(a: &LegacyAccount, policy: &Policy, period: &str) -> PeriodVerdict {
    let cat = catalog();
    let p = period.parse().unwrap();
    let new = crate::rate::rate(a, &cat, p).unwrap().bill;
    let alt = crate::rate::rate_with(a, &cat, p, Some(crate::plan::Proration::Thirty360)).unwrap().bill;
    compare(&PeriodInput::new(&a.invoice_lines, &new, &alt), &cat, policy)
}

fn strict() -> Policy {
    Policy { tolerance: d("0.01"), ..Policy::default() }
}

/// A legacy line with its service period.
fn spanned(code: &str, from: &str, to: &str, qty: &str, price: &str, amount: &str) -> LegacyLine {
    let mut l = line(code, qty, price, amount);
    l.service_start = Some(from.parse().unwrap());
    l.service_end = Some(to.parse().unwrap());
    l.period = Period::of(l.service_start.unwrap());
    l
}

fn usage(a: &mut LegacyAccount, code: &str, date: &str, qty: &str) {
    a.usage.push(crate::domain::Usage {
        account_number: "A1".into(),
        service_id: format!("S-{code}"),
        legacy_code: code.into(),
        usage_date: date.parse().unwrap(),
        quantity: d(qty),
        uom: "kWh".into(),
    });
}

#[test]
// Long: one table of cases, a row each; the rows are the test.
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
            "the exact 100.125 rounded half even by the legacy system",
            vec![svc("CAB-42U", "1", "100.125", "2016-01-01")],
            vec![line("CAB-42U", "1", "100.125", "100.12")],
            PeriodStatus::WithinTolerance,
            vec![Reason::Rounding],
            "0.01",
        ),
        (
            "a cent off an exact amount is no rounding (passed by the tolerance, still unexplained)",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1200.01")],
            PeriodStatus::WithinTolerance,
            vec![Reason::Unexplained],
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
        (
            "two errors that cancel out are not a match",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01"), svc("XC-FIBER", "1", "300.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1300.00"), line("XC-FIBER", "1", "300.00", "200.00")],
            PeriodStatus::Mismatch,
            vec![Reason::Unexplained],
            "0.00",
        ),
        (
            "a line split in two on the legacy bill, same money",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "600.00"), line("CAB-42U", "1", "1200.00", "600.00")],
            PeriodStatus::Match,
            vec![],
            "0.00",
        ),
        (
            "the legacy line covers other days",
            vec![svc("CAB-42U", "1", "1200.00", "2017-04-10")],
            vec![spanned("CAB-42U", "2017-04-01", "2017-04-30", "1", "1200.00", "1200.00")],
            PeriodStatus::Mismatch,
            vec![Reason::ServicePeriod],
            "-360.00",
        ),
        (
            "an unbilled zero line is no difference",
            vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
            vec![line("CAB-42U", "1", "1200.00", "1200.00"), line("XC-FIBER", "0", "300.00", "0.00")],
            PeriodStatus::Match,
            vec![],
            "0.00",
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
    let input = PeriodInput::new(&a.invoice_lines, &new, &alt);
    let v = compare(&input, &cat, &strict());
    assert_eq!(
        (v.status, v.reasons.clone(), v.difference.to_string()),
        (PeriodStatus::Mismatch, vec![Reason::ProrationConvention], "-5.38".to_string())
    );
    let accepting = Policy { tolerance: d("0.01"), accept: vec![Reason::ProrationConvention], ..Policy::default() };
    assert_eq!(compare(&input, &cat, &accepting).status, PeriodStatus::WithinTolerance);
    // Accepting one reason never passes another.
    let mut b = a.clone();
    b.invoice_lines[0].amount = d("170.00");
    let new = crate::rate::rate(&b, &cat, p).unwrap().bill;
    let v = compare(&PeriodInput::new(&b.invoice_lines, &new, &alt), &cat, &accepting);
    assert_eq!((v.status, v.reasons), (PeriodStatus::Mismatch, vec![Reason::Unexplained]));
}

#[test]
fn lines_are_matched_per_service_period_and_usage_differences_say_quantity_or_tier() {
    // Two fiber cross connects: one all March, one from March 27. The legacy bill lists the partial
    // one first and prorates it over 30 days; only that line differs.
    let mut a = acct(
        vec![svc("XC-FIBER", "1", "300.00", "2016-01-01"), svc("XC-FIBER", "1", "300.00", "2017-03-27")],
        vec![
            spanned("XC-FIBER", "2017-03-27", "2017-03-31", "1", "300.00", "50.00"),
            spanned("XC-FIBER", "2017-03-01", "2017-03-31", "1", "300.00", "300.00"),
        ],
    );
    a.services[1].service_id = "S-XC-2".into();
    let v = verdict_in(&a, &strict(), "2017-03");
    let got: Vec<_> = v
        .findings
        .iter()
        .map(|f| {
            (f.reason, f.service_start.map(|d| d.to_string()), f.legacy_amount.to_string(), f.new_amount.to_string())
        })
        .collect();
    assert_eq!(
        got,
        [(Reason::ProrationConvention, Some("2017-03-27".to_string()), "50.00".to_string(), "48.39".to_string())]
    );

    // Metered power: 2880 kWh included, 0.12 over. (what, legacy qty, legacy amount, reason, detail fragment)
    let table = [
        ("same usage, same money", "3500", "74.40", None, ""),
        ("more kWh billed", "3600", "86.40", Some(Reason::UsageDifference), "usage by quantity"),
        ("no included units applied", "3500", "420.00", Some(Reason::UsageDifference), "usage by tier"),
        ("a cent off an exact amount", "3500", "74.41", Some(Reason::UsageDifference), "usage by tier"),
        (
            "620.125 over x 0.12 = 74.415, truncated",
            "3500.125",
            "74.41",
            Some(Reason::Rounding),
            "round the exact 74.415",
        ),
        // The April bill carries March's usage on both sides; a legacy line that charged April's
        // own usage (in advance) is a timing difference, not a quantity one.
        ("in arrears on both sides", "3500 march", "74.40", None, ""),
        ("legacy billed April's own usage", "3600 april", "86.40", Some(Reason::ServicePeriod), "usage timing"),
    ];
    let mut misses = Vec::new();
    for (what, qty, amount, reason, fragment) in table {
        let (qty, span) = qty.split_once(' ').unwrap_or((qty, ""));
        let mut l = line("PWR-KWH", qty, "0.12", amount);
        match span {
            "march" => {
                (l.service_start, l.service_end) =
                    (Some("2017-03-01".parse().unwrap()), Some("2017-03-31".parse().unwrap()))
            }
            "april" => {
                (l.service_start, l.service_end) =
                    (Some("2017-04-01".parse().unwrap()), Some("2017-04-30".parse().unwrap()))
            }
            _ => {}
        }
        let mut a = acct(vec![svc("PWR-KWH", "1", "0.12", "2016-01-01")], vec![l]);
        // March's metered usage, billed on the April bill: 3500 kWh (3500.125 for the rounding
        // case), and April's, which is on no April bill.
        usage(&mut a, "PWR-KWH", "2017-03-31", if qty == "3500.125" { qty } else { "3500" });
        usage(&mut a, "PWR-KWH", "2017-04-30", "3600");
        let v = verdict(&a, &strict());
        let got = v.findings.first().map(|f| f.reason);
        let detail = v.findings.first().map_or("", |f| f.detail.as_str());
        if got != reason || !detail.contains(fragment) {
            misses.push(format!("{what}: got {got:?} {detail:?}"));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// At cut-over the last legacy period's usage is billed once: by the first new bill
/// (`usage_carryover: new`) or by a final legacy bill (`legacy`). The first new period compares
/// like with like either way, and a bill that drops the usage without the legacy keeping it is a
/// missing line.
#[test]
fn the_first_new_bill_and_the_final_legacy_usage_bill_compare_like_with_like() {
    use crate::plan::UsageCarryover::{Legacy, New};
    let march = (Some("2017-03-01".parse().unwrap()), Some("2017-03-31".parse().unwrap()));
    let mut kwh = line("PWR-KWH", "3500", "0.12", "74.40");
    (kwh.service_start, kwh.service_end) = march;
    let mut cab = line("CAB-42U", "1", "1200.00", "1200.00");
    (cab.service_start, cab.service_end) = (Some("2017-04-01".parse().unwrap()), Some("2017-04-30".parse().unwrap()));
    let mut a = acct(
        vec![svc("CAB-42U", "1", "1200.00", "2016-01-01"), svc("PWR-KWH", "1", "0.12", "2016-01-01")],
        vec![cab, kwh],
    );
    a.services[1].service_id = "S-KWH".into();
    usage(&mut a, "PWR-KWH", "2017-03-31", "3500");
    let cat = catalog();
    let p: Period = "2017-04".parse().unwrap();
    // (what, carry-over, the legacy keeps March's usage, status, reasons, legacy total, new total, set aside)
    let table = [
        ("new: the first new bill carries March", New, false, PeriodStatus::Match, vec![], "1274.40", "1274.40", "0"),
        (
            "legacy: the final legacy bill carries March",
            Legacy,
            true,
            PeriodStatus::Match,
            vec![],
            "1200.00",
            "1200.00",
            "74.40",
        ),
        (
            "legacy, but nobody bills March",
            Legacy,
            false,
            PeriodStatus::Mismatch,
            vec![Reason::MissingLine],
            "1274.40",
            "1200.00",
            "0",
        ),
    ];
    for (what, carryover, kept, status, reasons, legacy_total, new_total, aside) in table {
        let terms =
            crate::rate::Terms { convention: None, handover: Some(crate::rate::Handover { first_new: p, carryover }) };
        let new = crate::rate::rate_on(&a, &cat, p, terms).unwrap().bill;
        let alt = crate::rate::rate_on(
            &a,
            &cat,
            p,
            crate::rate::Terms { convention: Some(crate::plan::Proration::Thirty360), ..terms },
        )
        .unwrap()
        .bill;
        let final_usage = kept
            .then(|| {
                crate::rate::legacy_usage_period(p, 1, crate::rate::Handover { first_new: p, carryover })
                    .map(|b| (b.start, b.end))
            })
            .flatten();
        let input = PeriodInput { legacy_final_usage: final_usage, ..PeriodInput::new(&a.invoice_lines, &new, &alt) };
        let v = compare(&input, &cat, &strict());
        assert_eq!(v.status, status, "{what}: {:?}", v.findings);
        assert_eq!(v.reasons, reasons, "{what}");
        assert_eq!(
            (v.legacy_total.to_string(), v.new_total.to_string(), v.legacy_final_usage.to_string()),
            (legacy_total.to_string(), new_total.to_string(), aside.to_string()),
            "{what}"
        );
    }
}

#[test]
fn tolerances_absolute_relative_and_per_account() {
    let p = |tol: &str, pct: Option<&str>, account: Option<&str>| Policy {
        tolerance: d(tol),
        tolerance_pct: pct.map(d),
        account_tolerance: account.map(d),
        accept: vec![Reason::Unexplained],
    };
    // 1200 billed 1205: an unexplained 5.00 (accepting `unexplained` accepts nothing).
    let off =
        acct(vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")], vec![line("CAB-42U", "1", "1200.00", "1205.00")]);
    // (what, policy, status, allowed)
    let table = [
        ("absolute too small", p("0.01", None, None), PeriodStatus::Mismatch, "0.01"),
        ("absolute large enough", p("5.00", None, None), PeriodStatus::WithinTolerance, "5"),
        ("0.5% of 1205.00 is 6.025", p("0.01", Some("0.5"), None), PeriodStatus::WithinTolerance, "6.025"),
        ("0.1% of 1205.00 is 1.205", p("0.01", Some("0.1"), None), PeriodStatus::Mismatch, "1.205"),
    ];
    let mut misses = Vec::new();
    for (what, policy, status, allowed) in table {
        let v = verdict(&off, &policy);
        if (v.status, v.allowed.normalize().to_string(), &v.reasons)
            != (status, allowed.to_string(), &vec![Reason::Unexplained])
        {
            misses.push(format!("{what}: got {:?} allowed {} {:?}", v.status, v.allowed, v.reasons));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    assert!(!verdict(&off, &p("5.00", None, None)).findings[0].accepted, "unexplained is never accepted");

    // Per account: two periods each one cent off pass alone, not together under a 0.01 account limit.
    let cent =
        acct(vec![svc("CAB-42U", "1", "100.125", "2016-01-01")], vec![line("CAB-42U", "1", "100.125", "100.12")]);
    let loose = p("0.01", None, None);
    let v = verdict(&cent, &loose);
    assert_eq!((v.status, v.unaccepted.to_string()), (PeriodStatus::WithinTolerance, "0.01".to_string()));
    let two = [v.clone(), v.clone()];
    // (account tolerance, status)
    for (account, status) in
        [(None, AccountStatus::Pass), (Some("0.02"), AccountStatus::Pass), (Some("0.01"), AccountStatus::Fail)]
    {
        assert_eq!(account_status(&two, &p("0.01", None, account)), status, "{account:?}");
    }
    // Accepted reasons do not count against the account tolerance.
    let accepting = Policy { accept: vec![Reason::Rounding], ..p("0.01", None, Some("0.00")) };
    let v = verdict(&cent, &accepting);
    assert_eq!((v.unaccepted, account_status(&[v.clone(), v], &accepting)), (Decimal::ZERO, AccountStatus::Pass));
}

#[test]
fn accounts_pass_only_when_no_period_mismatches() {
    let ok = verdict(
        &acct(vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")], vec![line("CAB-42U", "1", "1200.00", "1200.00")]),
        &strict(),
    );
    let bad = verdict(
        &acct(vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")], vec![line("CAB-42U", "1", "1200.00", "1100.00")]),
        &strict(),
    );
    assert_eq!(account_status(std::slice::from_ref(&ok), &strict()), AccountStatus::Pass);
    assert_eq!(account_status(&[ok, bad], &strict()), AccountStatus::Fail);
    assert_eq!(account_status(&[], &strict()), AccountStatus::Pass);
}

#[test]
fn gates_pause_abort_and_honour_a_promotion_of_the_same_outcome() {
    use crate::plan::{Gate, GateLimits};
    let rule = Gate {
        min_pass_rate: d("0.95"),
        max_absolute_variance: Some(d("500")),
        max_unexplained: Some(0),
        abort: GateLimits { min_pass_rate: Some(d("0.5")), max_absolute_variance: None, max_unexplained: Some(10) },
    };
    let m = |accounts, passing, var: &str, unexplained| GateMetrics {
        accounts,
        passing,
        absolute_variance: d(var),
        unexplained,
    };
    let promo =
        gate::Promotion { at: "t".into(), actor: "ann".into(), reason: "checked".into(), fingerprint: "F".into() };
    // (what, metrics, promotion, verdict, breached checks)
    let table = [
        ("all good", m(100, 96, "12.00", 0), None, GateVerdict::Proceed, vec![]),
        ("pass rate low", m(100, 94, "12.00", 0), None, GateVerdict::Pause, vec!["pass_rate"]),
        ("variance high", m(100, 100, "500.01", 0), None, GateVerdict::Pause, vec!["absolute_variance"]),
        ("one unexplained", m(100, 100, "0", 1), None, GateVerdict::Pause, vec!["unexplained"]),
        (
            "too many unexplained aborts",
            m(100, 100, "0", 11),
            None,
            GateVerdict::Abort,
            vec!["unexplained", "unexplained"],
        ),
        (
            "pass rate below the abort limit",
            m(100, 40, "0", 0),
            None,
            GateVerdict::Abort,
            vec!["pass_rate", "pass_rate"],
        ),
        ("no accounts", m(0, 0, "0", 0), None, GateVerdict::Pause, vec!["accounts"]),
        ("promoted: this outcome", m(100, 94, "0", 0), Some(("F", &promo)), GateVerdict::Proceed, vec!["pass_rate"]),
        ("promoted: another outcome", m(100, 94, "0", 0), Some(("G", &promo)), GateVerdict::Pause, vec!["pass_rate"]),
        (
            "an abort is never promoted",
            m(100, 40, "0", 0),
            Some(("F", &promo)),
            GateVerdict::Abort,
            vec!["pass_rate", "pass_rate"],
        ),
    ];
    let mut misses = Vec::new();
    for (what, metrics, promotion, verdict, breached) in table {
        let (print, p) = promotion.map_or(("F", None), |(f, p)| (f, Some(p)));
        let g = gate::evaluate(&rule, &metrics, print, p);
        let got: Vec<&str> = g.checks.iter().filter(|c| !c.ok).map(|c| c.metric.as_str()).collect();
        if g.verdict != verdict || got != breached {
            misses.push(format!("{what}: got {:?} {got:?}", g.verdict));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn bulk_merge_finds_every_differing_and_one_sided_key() {
    let rows = |v: &[(&str, &str)]| -> Vec<Result<(String, Decimal), ()>> {
        v.iter().map(|(k, a)| Ok((k.to_string(), d(a)))).collect()
    };
    let legacy = rows(&[("a", "1.00"), ("b", "2.00"), ("c", "3.00"), ("d", "4.00"), ("f", "6.00")]);
    let new = rows(&[("a", "1.00"), ("b", "2.01"), ("c", "9.00"), ("e", "5.00"), ("f", "6.00"), ("g", "7.00")]);
    let mut seen = Vec::new();
    let s = bulk::merge(legacy, new, d("0.01"), |diff| {
        seen.push(format!("{diff:?}"));
        Ok(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        (s.legacy_rows, s.new_rows, s.matched, s.within_tolerance, s.mismatched, s.missing_new, s.missing_legacy),
        (5, 6, 2, 1, 1, 1, 2)
    );
    assert_eq!(s.absolute_variance, d("22.01"), "0.01 + 6 + 4 + 5 + 7");
    assert_eq!(seen.len(), 5, "{seen:#?}");
    let unsorted = rows(&[("b", "1"), ("a", "1")]);
    let err = bulk::merge(unsorted, rows(&[]), d("0"), |_| Ok(())).unwrap().unwrap_err();
    assert_eq!(err, bulk::BulkError::Unsorted { side: "legacy", row: 2 });
}

mod reports {
    use super::*;
    use crate::output::Format;
    use report::{AccountRecon, RunResult, Waiver};
    use std::collections::HashMap;

    fn wave() -> crate::plan::Wave {
        let text = "id: w1\nname: W1\nselect: { segment: [colocation] }\nstart: 2017-06-05\nduration_days: 60\n\
                    tolerance: \"0.01\"\naccept: [proration_convention, rounding]\n\
                    gate: { min_pass_rate: \"0.9\", max_unexplained: 0, abort: { max_absolute_variance: \"1000\" } }\n";
        let cat = SourceFile { name: "c".into(), text: include_str!("../../waves/catalog.yaml").into() };
        let w = SourceFile { name: "w.yaml".into(), text: text.into() };
        crate::plan::parse(&cat, &[w]).plan.unwrap().waves.remove(0)
    }

    /// Four accounts: a match, an unmapped product, an accepted proration difference, and a price
    /// difference a person waived.
    fn sample() -> report::Reconciliation {
        let w = wave();
        let policy = Policy::of(&w);
        let named = |n: &str, mut a: LegacyAccount, period: &str| {
            a.account.account_number = n.into();
            AccountRecon::new(n.into(), vec![verdict_in(&a, &policy, period)])
        };
        let mut march =
            acct(vec![svc("CAB-42U", "1", "1000.00", "2017-03-27")], vec![line("CAB-42U", "1", "1000.00", "166.67")]);
        march.invoice_lines[0].period = "2017-03".parse().unwrap();
        let accounts = vec![
            named(
                "A1",
                acct(
                    vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
                    vec![line("CAB-42U", "1", "1200.00", "1200.00")],
                ),
                "2017-04",
            ),
            named(
                "A2",
                acct(
                    vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")],
                    vec![line("CAB-42U", "1", "1200.00", "1200.00"), line("LEGACY-MISC", "1", "50.00", "50.00")],
                ),
                "2017-04",
            ),
            named("A3", march, "2017-03"),
            named(
                "A4",
                acct(
                    vec![svc("XC-FIBER", "2", "300.00", "2016-01-01")],
                    vec![line("XC-FIBER", "2", "315.00", "630.00")],
                ),
                "2017-04",
            ),
        ];
        let waivers: HashMap<String, Waiver> = [(
            "A4".to_string(),
            Waiver {
                reason: "price agreed by phone".into(),
                actor: "ann".into(),
                at: "2017-05-02T12:00:00+00:00".into(),
                covers: None,
            },
        )]
        .into();
        report::summarize(&w, accounts, &waivers, None)
    }

    #[test]
    fn the_summary_counts_waivers_sorts_by_money_at_stake_and_decides_the_gate() {
        let r = sample();
        let order: Vec<_> = r.accounts.iter().map(|a| (a.account_number.as_str(), a.outcome().as_str())).collect();
        assert_eq!(order, [("A2", "fail"), ("A4", "waived"), ("A3", "pass"), ("A1", "pass")]);
        let s = &r.summary;
        assert_eq!((s.accounts, s.passed, s.failed, s.waived, s.unexplained), (4, 2, 2, 1, 0));
        assert_eq!((s.pass_rate.to_string(), s.absolute_variance.to_string()), ("0.75".into(), "85.38".into()));
        assert_eq!(r.gate, GateVerdict::Pause, "3 of 4 passing (waived included) is below 0.9");
        let reasons: Vec<_> = s.reasons.iter().map(|(r, t)| (r.as_str(), t.count, t.amount.to_string())).collect();
        assert_eq!(
            reasons,
            [
                ("proration_convention", 1, "5.38".into()),
                ("unmapped_product", 1, "50.00".into()),
                ("price_difference", 1, "30.00".into())
            ]
        );
    }

    #[test]
    fn a_run_from_the_tallies_is_the_reports_run() {
        // The reconcile stage records a wave's run from each account's tally; a report sums the
        // verdicts. Same numbers, results, fingerprint and gate, or `reconcile` after `run` would
        // record a second run of an unchanged wave.
        let r = sample();
        let w = wave();
        let policy = Policy::of(&w);
        let tallies: Vec<report::Tally> =
            r.accounts.iter().map(|a| report::Tally::of(&a.account_number, &a.periods, &policy)).collect();
        let waivers: HashMap<String, Waiver> =
            r.accounts.iter().filter_map(|a| Some((a.account_number.clone(), a.waiver.clone()?))).collect();
        let run = report::tallied_run(&w, &tallies, &waivers, None);
        let (s, t) = (&r.summary, &run.summary);
        assert_eq!(
            (t.accounts, t.passed, t.failed, t.waived, t.unexplained, t.periods, t.mismatched_periods),
            (s.accounts, s.passed, s.failed, s.waived, s.unexplained, s.periods, s.mismatched_periods)
        );
        assert_eq!(
            (t.legacy_total, t.new_total, t.absolute_variance, t.pass_rate),
            (s.legacy_total, s.new_total, s.absolute_variance, s.pass_rate)
        );
        assert_eq!(run.results, report::results(&r.accounts));
        assert_eq!((run.fingerprint.as_str(), run.gate), (r.fingerprint.as_str(), r.gate));
        assert_eq!(run.results.iter().filter(|l| l.outcome == report::Outcome::Waived).count(), 1);
    }

    #[test]
    fn runs_say_what_changed_and_fingerprints_ignore_order() {
        let r = |a: &str, o: &str| RunResult {
            account_number: a.into(),
            outcome: o.parse().unwrap(),
            stake: "0".into(),
            reasons: String::new(),
        };
        let before =
            [r("A1", "fail"), r("A2", "pass"), r("A3", "fail"), r("A4", "fail"), r("A6", "waived"), r("A9", "pass")];
        let after =
            [r("A1", "pass"), r("A2", "fail"), r("A3", "fail"), r("A4", "waived"), r("A5", "fail"), r("A6", "pass")];
        let c = report::changes(&before, &after);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            (c.fixed, c.waived, c.newly_failing, c.still_failing, c.added, c.removed),
            (s(&["A1", "A6"]), s(&["A4"]), s(&["A2", "A5"]), 1, 1, 1)
        );
        let mut shuffled = before.to_vec();
        shuffled.reverse();
        shuffled.sort_by(|a, b| a.account_number.cmp(&b.account_number));
        assert_eq!(report::fingerprint(&shuffled), report::fingerprint(&before));
        assert_ne!(report::fingerprint(&before), report::fingerprint(&after));
        let one = sample();
        let mut again = sample();
        again.accounts.reverse();
        assert_eq!(report::fingerprint(&report::results(&again.accounts)), one.fingerprint);
    }

    #[test]
    fn renderers_snapshot() {
        let r = sample();
        // (name, output)
        let table = [
            ("text", report::render(&r, Format::Text).unwrap()),
            ("markdown", report::render(&r, Format::Markdown).unwrap()),
            ("csv", report::render(&r, Format::Csv).unwrap()),
            ("lines_csv", report::render_lines_csv(&r).unwrap()),
            ("json", report::render(&r, Format::Json).unwrap()),
        ];
        for (name, out) in table {
            insta::assert_snapshot!(name, out);
        }
    }

    #[test]
    fn the_html_report_says_what_changed_since_the_last_run_and_who_promoted_it() {
        let mut r = sample();
        let names = |prefix: &str, n: usize| (1..=n).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>();
        let mut fixed = names("F", 42);
        fixed[0] = "F<b>".into();
        r.run = Some(report::RunInfo {
            number: 3,
            at: "2017-05-03T12:00:00+00:00".into(),
            recorded: false,
            previous: Some(2),
            changes: report::Changes {
                fixed,
                waived: names("W", 1),
                newly_failing: vec![],
                still_failing: 2,
                added: 1,
                removed: 0,
            },
        });
        r.history = vec![report::RunPoint { number: 2, pass_rate: d("0.5"), absolute_variance: d("90") }];
        r.gate_analysis.promoted = Some(crate::reconcile::gate::Promotion {
            at: "2017-05-03T13:00:00+00:00".into(),
            actor: "ann & bo".into(),
            reason: "seen by \"finance\" <ok>".into(),
            fingerprint: r.fingerprint.clone(),
        });
        insta::assert_snapshot!("html_run", report::render(&r, Format::Html).unwrap());
    }

    #[test]
    fn the_html_report_is_whole_and_escapes_what_it_shows() {
        let mut r = sample();
        let a = &mut r.accounts[0];
        a.account_number = "A2<script>".into();
        a.bills = vec![report::PeriodBills {
            period: "2017-04".parse().unwrap(),
            legacy: vec![line("XC-FIBER", "2", "315.00", "630.00")],
            new: None,
        }];
        let html = report::render(&r, Format::Html).unwrap();
        insta::assert_snapshot!("html", html);
        // (what, needle, how many times)
        let table = [
            ("one document", "<html", 1),
            ("two charts", "<svg", 2),
            ("a bar per run in the pass-rate chart", "<rect class=\"bar\"", 1 + 3),
            ("the accounts table", "id=\"accounts\"", 1),
            ("a row per account with a difference", "<tr class=", 3),
            ("one drill-down", "<details class=\"account\"", 1),
            ("the legacy line as removed in the diff", "<span class=\"del\">- legacy XC-FIBER", 1),
            ("escaped: link, name, anchor and heading", "A2&lt;script&gt;", 4),
            ("never raw", "A2<script>", 0),
            ("the gate", "<h2>Gate: pause</h2>", 1),
        ];
        let mut misses = Vec::new();
        for (what, needle, n) in table {
            let got = html.matches(needle).count();
            if got != n {
                misses.push(format!("{what}: {needle:?} {got} times, expected {n}"));
            }
        }
        assert!(misses.is_empty(), "{}", misses.join("\n"));
    }
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    const CODES: [&str; 4] = ["CAB-42U", "XC-FIBER", "PWR-20A", "LEGACY-MISC"];

    proptest! {
        /// Whatever the legacy system billed: the findings account for the whole difference, a
        /// period is a match only with no finding, two errors never cancel out, and `unexplained`
        /// is never accepted.
        #[test]
        fn findings_account_for_every_cent(
            services in proptest::collection::vec((0usize..4, 1i64..4, 1i64..500_000, 1u32..=28), 1..5),
            lines in proptest::collection::vec((0usize..4, 1i64..4, 1i64..500_000, -2_000i64..2_000), 0..6),
        ) {
            let svcs: Vec<Service> = services
                .iter()
                .enumerate()
                .map(|(i, (c, q, cents, day))| {
                    let mut s = svc(CODES[*c], &q.to_string(), &Decimal::new(*cents, 2).to_string(), &format!("2017-03-{day:02}"));
                    s.service_id = format!("S{i}");
                    s
                })
                .collect();
            // Legacy lines: each near a full month of a service, off by a random amount.
            let legacy: Vec<LegacyLine> = lines
                .iter()
                .map(|(c, q, cents, off)| {
                    let price = Decimal::new(*cents, 2);
                    let amount = price * Decimal::from(*q) + Decimal::new(*off, 2);
                    let mut l = line(CODES[*c], &q.to_string(), &price.to_string(), &amount.to_string());
                    l.period = "2017-03".parse().unwrap();
                    l
                })
                .collect();
            let policy = Policy { tolerance: d("0.01"), accept: Reason::ALL.to_vec(), ..Policy::default() };
            let v = verdict_in(&acct(svcs, legacy), &policy, "2017-03");
            let explained: Decimal = v.findings.iter().map(|f| f.difference()).sum();
            prop_assert_eq!(explained, v.difference);
            prop_assert_eq!(v.status == PeriodStatus::Match, v.findings.is_empty() && v.difference.is_zero());
            let gross: Decimal = v.findings.iter().filter(|f| !f.accepted).map(|f| f.difference().abs()).sum();
            prop_assert_eq!(gross, v.unaccepted);
            for f in &v.findings {
                prop_assert!(f.reason != Reason::Unexplained || !f.accepted);
                prop_assert!(f.legacy_amount != f.new_amount);
            }
            if v.unaccepted > v.allowed {
                prop_assert_eq!(v.status, PeriodStatus::Mismatch);
            }
        }
    }
}

/// A stored verdict tells whether the wave's settings now would judge it otherwise: its period's
/// tolerance, or whether a finding's reason is accepted, changed so that its status does. Each
/// case: the settings a verdict was made under, the settings now, and whether its status differs.
#[test]
fn a_verdict_knows_when_the_wave_judged_it_under_other_settings() {
    // The legacy 30-day convention: one proration_convention finding, -5.38.
    let mut a =
        acct(vec![svc("CAB-42U", "1", "1000.00", "2017-03-27")], vec![line("CAB-42U", "1", "1000.00", "166.67")]);
    a.invoice_lines[0].period = "2017-03".parse().unwrap();
    let accepting = Policy { accept: vec![Reason::ProrationConvention], ..strict() };
    let table = [
        (strict(), strict(), false),
        (strict(), Policy { tolerance: d("50.00"), ..Policy::default() }, true),
        // Another tolerance, still below the -5.38: a mismatch either way.
        (strict(), Policy { tolerance: d("5.00"), ..Policy::default() }, false),
        (
            Policy { tolerance: d("50.00"), ..Policy::default() },
            Policy { tolerance: d("10.00"), ..Policy::default() },
            false,
        ),
        (strict(), Policy { tolerance_pct: Some(d("0.001")), ..strict() }, false),
        (strict(), Policy { tolerance_pct: Some(d("10")), ..strict() }, true),
        (strict(), accepting.clone(), true),
        (accepting.clone(), accepting.clone(), false),
        (accepting, strict(), true),
        // Only per-period settings are on a period's verdict.
        (strict(), Policy { account_tolerance: Some(d("100")), ..strict() }, false),
    ];
    for (i, (then, now, differs)) in table.into_iter().enumerate() {
        let v = verdict_in(&a, &then, "2017-03");
        assert_eq!(now.judged_otherwise(&v), differs, "row {i}: {then:?} then, {now:?} now");
    }
}

/// An account's recorded outcome tells too: the per-account tolerance (`account_tolerance`) is
/// not on a period's verdict, so an account recorded as passing that the wave's per-account
/// tolerance would now fail is judged otherwise, and the other way round; with no recorded
/// outcome only the periods tell. Each case: the settings now, the outcome recorded (pass?), and
/// whether the account is judged otherwise.
#[test]
fn an_account_knows_when_its_recorded_outcome_would_change_under_the_wave_as_it_is() {
    // 1200 billed 1205: an unexplained 5.00, within a period tolerance of 10.
    let off =
        acct(vec![svc("CAB-42U", "1", "1200.00", "2016-01-01")], vec![line("CAB-42U", "1", "1200.00", "1205.00")]);
    let loose = Policy { tolerance: d("10.00"), ..Policy::default() };
    let per_account = |t: &str| Policy { account_tolerance: Some(d(t)), ..loose.clone() };
    let v = verdict_in(&off, &loose, "2017-04");
    assert_eq!((v.status, v.unaccepted), (PeriodStatus::WithinTolerance, d("5.00")));
    let table = [
        (loose.clone(), Some(true), false),
        (per_account("4.00"), Some(true), true),
        // Not more than the per-account tolerance: still a pass.
        (per_account("5.00"), Some(true), false),
        (per_account("4.00"), None, false),
        // Recorded failing (held, or waived) under a per-account tolerance of 4: without it, a pass.
        (loose.clone(), Some(false), true),
        (per_account("4.00"), Some(false), false),
        // A period's status changes: judged otherwise whatever was recorded.
        (strict(), None, true),
        (strict(), Some(false), true),
    ];
    for (i, (now, passed, want)) in table.into_iter().enumerate() {
        assert_eq!(now.account_judged_otherwise(std::slice::from_ref(&v), passed), want, "row {i}: {now:?}");
    }
    // No period compared is not a pass (as when it was decided).
    assert!(loose.account_judged_otherwise(&[], Some(true)));
    assert!(!loose.account_judged_otherwise(&[], Some(false)));
    // Judged again, a verdict keeps its findings and totals.
    let again = per_account("4.00").rejudged(&strict().rejudged(&v));
    assert_eq!(
        (again.status, again.unaccepted, again.allowed, again.findings),
        (v.status, v.unaccepted, v.allowed, v.findings)
    );
}
