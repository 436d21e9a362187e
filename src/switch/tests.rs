//! The load-file builders as tables: an account in, the rows it must produce.

use super::*;
use crate::domain::{Account, AccountStatus, Contact, ContactRole, Decimal, Segment, Service, Usage};
use crate::plan::{Catalog, SourceFile, UsageCarryover, schedule::Schedule};

/// A catalog with every kind of charge the load files carry, with target ids.
const CATALOG: &str = r#"
currency: USD
products:
  - id: cab
    name: "Cabinet"
    group: Space
    product_rate_plan_id: "PRP-CAB"
    charges:
      - id: cab-space
        product_rate_plan_charge_id: "PRPC-CAB"
        name: "Cabinet Space"
        type: recurring
        model: flat_fee
        legacy_codes: [CAB]
      - id: cab-install
        product_rate_plan_charge_id: "PRPC-INSTALL"
        name: "Installation"
        type: one_time
        model: flat_fee
        legacy_codes: [INSTALL]
  - id: support
    name: "Support"
    group: Services
    product_rate_plan_id: "PRP-SUP"
    charges:
      - id: support-quarter
        product_rate_plan_charge_id: "PRPC-SUPQ"
        name: "Quarterly Support"
        type: recurring
        model: per_unit
        period: quarter
        legacy_codes: [SUPQ]
  - id: power
    name: "Power"
    group: Power
    product_rate_plan_id: "PRP-PWR"
    charges:
      - id: kwh
        product_rate_plan_charge_id: "PRPC-KWH"
        name: "Metered Power"
        type: usage
        uom: kWh
        model: overage
        included_units: "100"
        overage_price: "0.12"
        legacy_codes: [KWH]
      - id: bw
        product_rate_plan_charge_id: "PRPC-BW"
        name: "Bandwidth"
        type: usage
        uom: Mbps
        model: tiered
        tiers:
          - { up_to: "100", price: "10" }
          - { up_to: "500", price: "8" }
          - { up_to: null, price: "6" }
        legacy_codes: [BW]
"#;

fn catalog() -> Catalog {
    let checked = crate::plan::parse(&SourceFile { name: "c.yaml".into(), text: CATALOG.into() }, &[]);
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    checked.plan.expect("catalog").catalog
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn date(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn svc(id: &str, code: &str, qty: &str, price: &str, start: &str, end: Option<&str>) -> Service {
    Service {
        account_number: "A1".into(),
        service_id: id.into(),
        legacy_code: code.into(),
        description: code.into(),
        quantity: dec(qty),
        unit_price: dec(price),
        start_date: date(start),
        end_date: end.map(date),
    }
}

fn usage(service: &str, code: &str, day: &str, qty: &str) -> Usage {
    Usage {
        account_number: "A1".into(),
        service_id: service.into(),
        legacy_code: code.into(),
        usage_date: date(day),
        quantity: dec(qty),
        uom: "kwh".into(),
    }
}

/// Account A1, billed on the 15th, first new bill 2017-08-15.
fn account(contacts: Vec<Contact>, emails: &[&str]) -> LegacyAccount {
    let mut a = LegacyAccount::new(Account {
        account_number: "A1".into(),
        name: "Acme, Inc.".into(),
        segment: Segment::Colocation,
        site: Some("DC1".into()),
        currency: "USD".into(),
        bill_cycle_day: 15,
        bill_to_email: emails.iter().map(|e| e.to_string()).collect(),
        status: AccountStatus::Active,
    });
    a.contacts = contacts;
    a.services = vec![
        svc("S1", "CAB", "1", "1200", "2016-01-01", None),
        svc("S2", "INSTALL", "1", "500", "2017-06-01", Some("2017-06-01")), // billed already
        svc("S3", "INSTALL", "1", "250", "2017-09-01", Some("2017-09-01")), // after the cut-over
        svc("S4", "SUPQ", "2", "300", "2017-01-15", None),
        svc("S5", "KWH", "0", "0", "2016-01-01", None),
        svc("S6", "BW", "0", "0", "2016-01-01", None),
        svc("S7", "CAB", "1", "900", "2016-01-01", Some("2017-07-31")), // ended before
        svc("S8", "UNMAPPED", "1", "10", "2016-01-01", None),
    ];
    a.usage = vec![
        usage("S5", "KWH", "2017-07-14", "999"), // the period before: billed by the legacy system
        usage("S5", "KWH", "2017-07-15", "120"),
        usage("S5", "KWH", "2017-08-14", "30.5"),
        usage("S6", "BW", "2017-08-01", "220"),
    ];
    a
}

fn sched() -> Schedule {
    Schedule {
        cutover_date: date("2017-08-14"),
        first_new_bill_date: date("2017-08-15"),
        notice_date: date("2017-07-15"),
    }
}

fn rows_of(m: &Member) -> AccountRows {
    account_rows(m, &catalog(), &LoadConfig::default())
}

fn col<'a>(header: &[&str], row: &'a [String], name: &str) -> &'a str {
    let i = header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    &row[i]
}

#[test]
fn the_last_legacy_period_ends_the_day_before_the_first_new_bill() {
    // (first new bill, cycle day, period start, period end)
    let table = [
        ("2017-08-15", 15, "2017-07-15", "2017-08-14"),
        ("2017-08-01", 1, "2017-07-01", "2017-07-31"),
        ("2017-03-31", 31, "2017-02-28", "2017-03-30"),
        ("2018-01-01", 1, "2017-12-01", "2017-12-31"),
    ];
    for (first, day, start, end) in table {
        let p = last_legacy_period(date(first), day);
        assert_eq!((p.start.to_string(), p.end.to_string()), (start.to_string(), end.to_string()), "{first} {day}");
    }
}

#[test]
fn the_nested_subscription_layout_carries_every_kind_of_charge() {
    let m = member(
        &account(vec![], &["ap@acme.example"]),
        vec!["ap@acme.example".into()],
        sched(),
        UsageCarryover::New,
        Some(1),
    );
    let r = rows_of(&m);
    let h = &SUBSCRIPTION_HEADER;
    // (record type, rate plan or charge id, charge number, model, billing period, timing, quantity, price,
    //  included, overage, tier, start unit, end unit, tier price)
    #[rustfmt::skip]
    let expect: &[[&str; 14]] = &[
        ["Subscription", "", "", "", "", "", "", "", "", "", "", "", "", ""],
        ["Rate Plan", "PRP-CAB", "", "", "", "", "", "", "", "", "", "", "", ""],
        ["Charge", "PRPC-CAB", "C-A1-S1", "Flat Fee Pricing", "Month", "IN_ADVANCE", "", "1200", "", "", "", "", "", ""],
        ["Charge", "PRPC-INSTALL", "C-A1-S3", "Flat Fee Pricing", "", "", "", "250", "", "", "", "", "", ""],
        ["Rate Plan", "PRP-SUP", "", "", "", "", "", "", "", "", "", "", "", ""],
        ["Charge", "PRPC-SUPQ", "C-A1-S4", "Per Unit Pricing", "Quarter", "IN_ADVANCE", "2", "300", "", "", "", "", "", ""],
        ["Rate Plan", "PRP-PWR", "", "", "", "", "", "", "", "", "", "", "", ""],
        ["Charge", "PRPC-KWH", "C-A1-S5", "Overage Pricing", "Month", "IN_ARREARS", "", "", "100", "0.12", "", "", "", ""],
        ["Charge", "PRPC-BW", "C-A1-S6", "Tiered Pricing", "Month", "IN_ARREARS", "", "", "", "", "", "", "", ""],
        ["Tier", "", "C-A1-S6", "", "", "", "", "", "", "", "1", "0", "100", "10"],
        ["Tier", "", "C-A1-S6", "", "", "", "", "", "", "", "2", "100", "500", "8"],
        ["Tier", "", "C-A1-S6", "", "", "", "", "", "", "", "3", "500", "", "6"],
    ];
    assert_eq!(r.subscription.len(), expect.len(), "{:#?}", r.subscription);
    for (row, want) in r.subscription.iter().zip(expect) {
        let kind = col(h, row, "Record Type");
        let id = match kind {
            "Rate Plan" => col(h, row, "Product Rate Plan Id"),
            "Charge" => col(h, row, "Product Rate Plan Charge Id"),
            _ => "",
        };
        let got = [
            kind,
            id,
            col(h, row, "Charge Number"),
            col(h, row, "Charge Model"),
            col(h, row, "Billing Period"),
            col(h, row, "Billing Timing"),
            col(h, row, "Quantity"),
            col(h, row, "Price"),
            col(h, row, "Included Units"),
            col(h, row, "Overage Price"),
            col(h, row, "Tier"),
            col(h, row, "Starting Unit"),
            col(h, row, "Ending Unit"),
            col(h, row, "Tier Price"),
        ];
        assert_eq!(&got, want);
        assert_eq!(col(h, row, "Account Number"), "A1");
        assert_eq!(col(h, row, "Subscription Number"), "S-A1");
    }
    let sub = &r.subscription[0];
    for (c, v) in [
        ("Term Type", "EVERGREEN"),
        ("Contract Effective Date", "2017-08-15"),
        ("Service Activation Date", "2017-08-15"),
        ("Customer Acceptance Date", "2017-08-15"),
        ("Run Billing", "FALSE"),
        ("Collect", "FALSE"),
        ("Currency", "USD"),
    ] {
        assert_eq!(col(h, sub, c), v, "{c}");
    }
    // The one-time charge after the cut-over starts on its own date.
    let install = &r.subscription[3];
    assert_eq!((col(h, install, "Trigger Event"), col(h, install, "Trigger Date")), ("SpecificDate", "2017-09-01"));
    assert_eq!(col(h, &r.subscription[2], "Trigger Event"), "ContractEffective");
    // Totals: 1200 a month + 2 × 300 a quarter (200 a month); 5 charges, 3 tiers, 3 rate plans.
    let t = &r.totals;
    assert_eq!((t.accounts, t.subscriptions, t.rate_plans, t.charges, t.tiers), (1, 1, 3, 5, 3));
    assert_eq!(t.monthly_recurring_revenue["USD"], dec("1400"));
}

/// (carry-over, usage rows (charge, uom, qty), final usage bill by the legacy system)
type CarryCase = (UsageCarryover, &'static [(&'static str, &'static str, &'static str)], &'static str);

#[test]
fn usage_of_the_last_legacy_period_goes_to_the_new_system_or_stays_with_the_legacy_one() {
    let a = account(vec![], &["ap@acme.example"]);
    // (carry-over, usage rows (charge, uom, qty), final usage bill by legacy, kWh total)
    let table: [CarryCase; 2] = [
        (UsageCarryover::New, &[("C-A1-S5", "kWh", "150.5"), ("C-A1-S6", "Mbps", "220")], "no"),
        (UsageCarryover::Legacy, &[], "yes"),
    ];
    for (carry, want, final_bill) in table {
        let m = member(&a, vec!["ap@acme.example".into()], sched(), carry, None);
        assert!(
            m.account.usage.iter().all(|u| u.usage_date >= date("2017-07-15")),
            "the snapshot keeps the last period only"
        );
        let r = rows_of(&m);
        let got: Vec<(&str, &str, &str)> = r
            .usage
            .iter()
            .map(|u| (col(&USAGE_HEADER, u, "CHARGE_ID"), col(&USAGE_HEADER, u, "UOM"), col(&USAGE_HEADER, u, "QTY")))
            .collect();
        assert_eq!(got, want, "{carry:?}");
        for u in &r.usage {
            assert_eq!(u.len(), USAGE_HEADER.len());
            assert_eq!(
                (&*u[0], &*u[3], &*u[4], &*u[5]),
                ("A1", "2017-07-15", "2017-08-14", "S-A1"),
                "account number, ISO dates of the last legacy period, subscription"
            );
        }
        let s = &r.suppression;
        assert_eq!(
            (&*s[0], &*s[1], &*s[2], &*s[3], &*s[4], &*s[5]),
            ("A1", "2017-08-14", "2017-08-15", "2017-08-15", final_bill, "2017-07-15..2017-08-14")
        );
        let kwh = r.totals.usage_quantity.get("kWh").copied().unwrap_or_default();
        // For an uploader whose Zuora locale reads other dates.
        for (fmt, start, end) in
            [(UsageDates::EnUs, "07/15/2017", "08/14/2017"), (UsageDates::EnGb, "15/07/2017", "14/08/2017")]
        {
            let cfg = LoadConfig { usage_dates: fmt, ..LoadConfig::default() };
            for u in account_rows(&m, &catalog(), &cfg).usage {
                assert_eq!((&*u[3], &*u[4]), (start, end), "{fmt:?}");
            }
        }
        assert_eq!(kwh, if carry == UsageCarryover::New { dec("150.5") } else { Decimal::ZERO });
    }
}

/// (contacts, emails, bill-to first name/city, sold-to first name/city, email pref, print pref,
/// additional addresses)
type ContactCase =
    (Vec<Contact>, Vec<&'static str>, [&'static str; 2], [&'static str; 2], &'static str, &'static str, &'static str);

#[test]
fn contacts_fill_bill_to_and_sold_to_and_emails_set_the_delivery() {
    let c = |role, first: &str, city: &str| Contact {
        account_number: "A1".into(),
        role: Some(role),
        first_name: first.into(),
        last_name: "Doe".into(),
        address1: "1 Main St".into(),
        city: city.into(),
        country: "US".into(),
        ..Contact::default()
    };
    // (contacts, emails, bill-to first name/city, sold-to first name/city, email pref, print pref, additional)
    let table: Vec<ContactCase> = vec![
        (vec![], vec!["a@x.example", "b@x.example"], ["Billing", ""], ["Billing", ""], "TRUE", "FALSE", "b@x.example"),
        (
            vec![c(ContactRole::BillTo, "Ann", "Portland")],
            vec![],
            ["Ann", "Portland"],
            ["Ann", "Portland"],
            "FALSE",
            "TRUE",
            "",
        ),
        (
            vec![c(ContactRole::SoldTo, "Sol", "Boise"), c(ContactRole::BillTo, "Ann", "Portland")],
            vec!["a@x.example"],
            ["Ann", "Portland"],
            ["Sol", "Boise"],
            "TRUE",
            "FALSE",
            "",
        ),
    ];
    for (contacts, emails, bill, sold, email, print, extra) in table {
        let a = account(contacts, &[]);
        let m = member(&a, emails.iter().map(|e| e.to_string()).collect(), sched(), UsageCarryover::New, None);
        let r = rows_of(&m).account;
        let h = &ACCOUNT_HEADER;
        assert_eq!(r.len(), h.len());
        assert_eq!(
            [
                col(h, &r, "Bill To Contact First Name"),
                col(h, &r, "Bill To Contact City"),
                col(h, &r, "Sold To Contact First Name"),
                col(h, &r, "Sold To Contact City"),
                col(h, &r, "Invoice Delivery Prefs Email"),
                col(h, &r, "Invoice Delivery Prefs Print"),
                col(h, &r, "Additional Email Addresses"),
            ],
            [bill[0], bill[1], sold[0], sold[1], email, print, extra],
            "{emails:?}"
        );
        assert_eq!(
            [col(h, &r, "Batch"), col(h, &r, "Communication Profile"), col(h, &r, "Payment Term")],
            ["Batch20", "Migration - Silent", "Net 30"]
        );
    }
}

/// (contacts, legacy bill_to_email, form submission, reachable)
type ReachCase = (Vec<Contact>, Vec<&'static str>, Option<Vec<String>>, bool);

#[test]
fn an_account_no_letter_or_email_can_reach_is_not_cut_over() {
    let addr = Contact {
        account_number: "A1".into(),
        role: Some(ContactRole::BillTo),
        address1: "1 Main".into(),
        city: "Portland".into(),
        country: "US".into(),
        ..Contact::default()
    };
    let no_city = Contact { city: String::new(), ..addr.clone() };
    let mail = Contact { work_email: "jo@x.example".into(), ..no_city.clone() };
    // (contacts, legacy bill_to_email, form submission, reachable)
    let table: Vec<ReachCase> = vec![
        (vec![], vec![], None, false),
        (vec![], vec!["not-an-address"], None, false),
        (vec![no_city.clone()], vec![], None, false),
        (vec![addr], vec![], None, true),
        (vec![mail], vec![], None, true),
        (vec![], vec!["ap@x.example"], None, true),
        (vec![], vec![], Some(vec!["form@x.example".into()]), true),
        (vec![no_city], vec!["ap@x.example"], Some(vec!["bad".into()]), false),
    ];
    for (contacts, bill_to, form, reachable) in table {
        let a = account(contacts, &bill_to);
        let emails = reachable_emails(&a, form.as_deref());
        assert_eq!(unreachable(&a, &emails).is_none(), reachable, "{bill_to:?} {form:?} {emails:?}");
    }
}

#[test]
fn csv_files_quote_only_where_needed_and_have_no_bom() {
    let bytes = to_csv(&["a", "b"], &[vec!["Acme, Inc.".into(), "say \"hi\"".into()], vec!["x".into(), String::new()]]);
    assert_eq!(String::from_utf8(bytes).unwrap(), "a,b\n\"Acme, Inc.\",\"say \"\"hi\"\"\"\nx,\n");
    for h in [&ACCOUNT_HEADER[..], &SUBSCRIPTION_HEADER, &USAGE_HEADER, &SUPPRESSION_HEADER, &ROLLBACK_HEADER] {
        let mut seen = std::collections::HashSet::new();
        assert!(h.iter().all(|c| seen.insert(*c)), "unique headers: {h:?}");
    }
}

#[test]
fn an_account_with_nothing_to_load_gets_no_subscription() {
    let mut a = account(vec![], &["a@x.example"]);
    a.services.retain(|s| s.service_id == "S7" || s.service_id == "S8");
    a.usage.clear();
    let r = rows_of(&member(&a, vec!["a@x.example".into()], sched(), UsageCarryover::New, None));
    assert!(r.subscription.is_empty());
    assert_eq!((r.totals.accounts, r.totals.subscriptions, r.totals.accounts_without_charges), (1, 0, 1));
}

#[test]
fn the_manifest_rounds_revenue_once_and_names_its_sources() {
    let cat = catalog();
    let mut t = Totals::default();
    t.monthly_recurring_revenue.insert("USD".into(), dec("100") / dec("3"));
    t.usage_quantity.insert("kWh".into(), dec("1.50"));
    let info = SetInfo {
        wave: "w".into(),
        cutover_date: date("2017-08-14"),
        usage_carryover: "new".into(),
        catalog_file: "waves/catalog.yaml".into(),
        catalog_sha256: "abc".into(),
        extractions: vec![3],
        first_new_bill_dates: vec![date("2017-08-15")],
        accounts: vec!["A1".into()],
        rolled_back: vec![],
    };
    let files = vec![FileStat { name: "accounts-and-contacts.csv".into(), rows: 1, sha256: "f".into() }];
    let m = manifest(info, files, t, vec![], &cat);
    assert_eq!(m.totals.monthly_recurring_revenue["USD"].to_string(), "33.33");
    assert_eq!(m.totals.usage_quantity["kWh"].to_string(), "1.5");
    assert_eq!((m.run_billing, m.collect), (false, false));
    assert_eq!(m.load_order, LOAD_ORDER);
    let text = readme(&m);
    assert!(text.contains("1. accounts-and-contacts.csv   1 account(s)"), "{text}");
    assert!(text.contains("33.33 USD"), "{text}");
}

#[test]
fn load_results_map_our_columns_and_zuoras() {
    // (file text, accounts with outcome/id/error, problems)
    type Want = Vec<(&'static str, LoadOutcome, Option<&'static str>, Option<&'static str>)>;
    let table: Vec<(&str, Want, Vec<&str>)> = vec![
        (
            "account_number,status,target_id,error\nA1,success,2c9a,\nA2,failed,,Invalid BillCycleDay\n",
            vec![
                ("A1", LoadOutcome::Success, Some("2c9a"), None),
                ("A2", LoadOutcome::Failed, None, Some("Invalid BillCycleDay")),
            ],
            vec![],
        ),
        (
            "Account Number,Success,Id,Errors\nA1,true,2c9b,\nA2,false,,\"Field Currency, is required\"\nA3,maybe,,\n,true,x,\n",
            vec![
                ("A1", LoadOutcome::Success, Some("2c9b"), None),
                ("A2", LoadOutcome::Failed, None, Some("Field Currency, is required")),
            ],
            vec!["4: account A3: status `maybe` is neither success nor failed", "5: no account number"],
        ),
        (
            "\u{feff}AccountNumber,Result\nA9,FAILED\n",
            vec![("A9", LoadOutcome::Failed, None, Some("the target gave no error text"))],
            vec![],
        ),
    ];
    for (text, want, problems) in table {
        let (got, probs) = parse_results(text).unwrap();
        let got: Vec<_> = got
            .iter()
            .map(|r| (r.account_number.as_str(), r.outcome, r.target_id.as_deref(), r.error.as_deref()))
            .collect();
        assert_eq!(got, want, "{text}");
        let probs: Vec<String> = probs.iter().map(|p| format!("{}: {}", p.line, p.message)).collect();
        assert_eq!(probs, problems, "{text}");
    }
    let err = parse_results("name,outcome\nA1,ok\n").unwrap_err();
    assert!(err.contains("account number column"), "{err}");
}

#[test]
fn the_state_machine_loads_rolls_back_only_what_was_cut_over_and_readmits() {
    use crate::domain::State::*;
    // (from, to, allowed)
    let table = [
        (CutOver, Loaded, true),
        (CutOver, Held, true),
        (CutOver, RolledBack, true),
        (Loaded, RolledBack, true),
        (RolledBack, Extracted, true),
        (Held, RolledBack, false),
        (Notified, RolledBack, false),
        (Extracted, RolledBack, false),
        (Quarantined, RolledBack, false),
        (Loaded, Held, false),
        (Loaded, CutOver, false),
        (RolledBack, Rated, false),
        (Notified, Loaded, false),
    ];
    for (from, to, ok) in table {
        assert_eq!(from.can_go_to(to), ok, "{from} -> {to}");
    }
}

#[test]
fn which_services_are_loaded_and_which_usage_is_carried() {
    // First new bill 2017-08-15; the last legacy period is 2017-07-15 .. 2017-08-14.
    let mut a = account(vec![], &["ap@acme.example"]);
    a.services = vec![
        svc("R1", "CAB", "1", "100", "2016-01-01", None), // recurring, open: loaded
        svc("R2", "CAB", "1", "100", "2016-01-01", Some("2017-08-10")), // recurring, ended before: not
        svc("R3", "CAB", "1", "100", "2016-01-01", Some("2017-08-15")), // recurring, ends on the day: loaded
        svc("O1", "INSTALL", "1", "50", "2017-05-01", None), // one-time, billed already: not
        svc("O2", "INSTALL", "1", "50", "2017-08-15", Some("2017-08-15")), // one-time on the day: loaded
        svc("U1", "KWH", "0", "0", "2016-01-01", Some("2017-08-01")), // usage, ended in the period, used: carried
        svc("U2", "KWH", "0", "0", "2016-01-01", Some("2017-08-01")), // usage, ended in the period, unused: not
        svc("U3", "KWH", "0", "0", "2016-01-01", Some("2017-07-01")), // usage, ended before the period: not
        svc("U4", "BW", "0", "0", "2016-01-01", None),    // usage, open: loaded
    ];
    a.usage = vec![
        usage("U1", "KWH", "2017-07-20", "10"),
        usage("U3", "KWH", "2017-07-21", "5"), // after its service ended: goes to the code's loaded charge
        usage("U4", "BW", "2017-08-14", "7"),
    ];
    // (carry-over, loaded service ids, usage records (charge, qty))
    type Case = (UsageCarryover, &'static [&'static str], &'static [(&'static str, &'static str)]);
    let table: [Case; 2] = [
        (UsageCarryover::New, &["R1", "R3", "O2", "U1", "U4"], &[("C-A1-U1", "15"), ("C-A1-U4", "7")]),
        (UsageCarryover::Legacy, &["R1", "R3", "O2", "U4"], &[]),
    ];
    for (carry, loaded, usage_rows) in table {
        let r = rows_of(&member(&a, vec!["ap@acme.example".into()], sched(), carry, None));
        let h = &SUBSCRIPTION_HEADER;
        let mut got: Vec<&str> = r
            .subscription
            .iter()
            .filter(|row| col(h, row, "Record Type") == "Charge")
            .map(|row| col(h, row, "Legacy Service Id"))
            .collect();
        got.sort_unstable();
        let mut want = loaded.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{carry:?}");
        let u: Vec<(&str, &str)> = r.usage.iter().map(|u| (&*u[6], &*u[2])).collect();
        assert_eq!(u, usage_rows, "{carry:?}");
        assert!(!r.notes.iter().any(|n| n.contains("has no usage")), "{carry:?}: {:?}", r.notes);
    }
    // Metered, and no usage of the last legacy period in its records (only earlier): the new
    // system is to bill that period's usage and usage.csv has none, which the set's notes say.
    // The legacy system bills it itself under `legacy`: nothing to say then.
    a.usage = vec![usage("U4", "BW", "2017-07-14", "7")];
    for (carry, noted) in [(UsageCarryover::New, true), (UsageCarryover::Legacy, false)] {
        let r = rows_of(&member(&a, vec!["ap@acme.example".into()], sched(), carry, None));
        assert!(r.usage.is_empty(), "{carry:?}");
        let said = r
            .notes
            .iter()
            .any(|n| n.starts_with("A1: usage.csv has no usage of 2017-07-15..2017-08-14 for it (1 usage charge(s);"));
        assert_eq!(said, noted, "{carry:?}: {:?}", r.notes);
    }
    // A metered service that starts with the new system has no usage of the old period to carry.
    for s in a.services.iter_mut().filter(|s| s.service_id == "U4") {
        s.start_date = date("2017-08-15");
    }
    let r = rows_of(&member(&a, vec!["ap@acme.example".into()], sched(), UsageCarryover::New, None));
    assert!(!r.notes.iter().any(|n| n.contains("has no usage")), "{:?}", r.notes);
}

/// (Bill To email, Sold To email, promised addresses, [Bill To work email, additional, Sold To work email])
type PromisedCase = (Option<&'static str>, Option<&'static str>, &'static [&'static str], [&'static str; 3]);

/// The target emails its bills to the Bill To work email and the additional addresses: together
/// exactly the addresses the notice promised them to (`emails`), each once. The Bill To contact
/// keeps its own email when it is one of them. Each case: the Bill To contact's email (`None`: no
/// contact), the Sold To contact's, the promised addresses, then Bill To work email, additional,
/// Sold To work email.
#[test]
fn the_target_bills_exactly_the_addresses_the_notice_promised() {
    let person = |role, email: &str| Contact {
        account_number: "A1".into(),
        role: Some(role),
        first_name: "Jo".into(),
        work_email: email.into(),
        ..Contact::default()
    };
    let table: [PromisedCase; 6] = [
        // The form's address first, the contact's own second: both get the bills.
        (
            Some("jo@x.example"),
            None,
            &["ap@x.example", "jo@x.example"],
            ["jo@x.example", "ap@x.example", "jo@x.example"],
        ),
        (Some("JO@x.example "), None, &["jo@x.example"], ["jo@x.example", "", "jo@x.example"]),
        (Some(""), None, &["a@x.example", "b@x.example"], ["a@x.example", "b@x.example", "a@x.example"]),
        // A contact's email that is not valid was never promised anything.
        (Some("not an email"), None, &["a@x.example"], ["a@x.example", "", "a@x.example"]),
        (
            None,
            Some("sol@x.example"),
            &["a@x.example", "sol@x.example"],
            ["a@x.example", "sol@x.example", "sol@x.example"],
        ),
        // Printed bills: the contact's email is kept as it is.
        (Some("jo@x.example"), None, &[], ["jo@x.example", "", "jo@x.example"]),
    ];
    for (bill_to, sold_to, emails, [work, additional, sold]) in table {
        let mut contacts = Vec::new();
        contacts.extend(bill_to.map(|e| person(ContactRole::BillTo, e)));
        contacts.extend(sold_to.map(|e| person(ContactRole::SoldTo, e)));
        let a = account(contacts, &[]);
        let m = member(&a, emails.iter().map(|e| e.to_string()).collect(), sched(), UsageCarryover::New, None);
        let r = rows_of(&m).account;
        let h = &ACCOUNT_HEADER;
        let got = [
            col(h, &r, "Bill To Contact Work Email"),
            col(h, &r, "Additional Email Addresses"),
            col(h, &r, "Sold To Contact Work Email"),
        ];
        assert_eq!(got, [work, additional, sold], "{bill_to:?} {sold_to:?} {emails:?}");
        if !emails.is_empty() {
            let mut billed: Vec<&str> =
                std::iter::once(got[0]).chain(got[1].split('|').filter(|e| !e.is_empty())).collect();
            billed.sort_unstable();
            let mut promised = emails.to_vec();
            promised.sort_unstable();
            assert_eq!(billed, promised, "every promised address, once");
        }
    }
}

/// One list of billing addresses for the notice and the load files: the form's submission alone
/// when the customer made one (they chose it), else the legacy `bill_to_email` and the contacts'
/// work emails, valid ones only, each mailbox once.
#[test]
fn the_billing_addresses_are_the_forms_else_the_legacy_ones_and_the_contacts() {
    let jo = Contact {
        account_number: "A1".into(),
        role: Some(ContactRole::BillTo),
        work_email: " jo@x.example ".into(),
        ..Contact::default()
    };
    type Case = (&'static [&'static str], Option<&'static [&'static str]>, &'static [&'static str]);
    let table: [Case; 4] = [
        (&["ap@x.example"], None, &["ap@x.example", "jo@x.example"]),
        (&["ap@x.example", "JO@x.example"], None, &["ap@x.example", "JO@x.example"]),
        (&["ap@x.example"], Some(&["new@y.example"]), &["new@y.example"]),
        (&["not-an-address"], None, &["jo@x.example"]),
    ];
    for (legacy, form, want) in table {
        let a = account(vec![jo.clone()], legacy);
        let form: Option<Vec<String>> = form.map(|f| f.iter().map(|e| e.to_string()).collect());
        assert_eq!(reachable_emails(&a, form.as_deref()), want, "{legacy:?} {form:?}");
    }
}

/// A legacy bill after the suppression bills the customer twice, unless it is the final usage
/// bill the wave left to the legacy system; a bill not yet issued on the day looked from is not
/// counted. First new bill 2017-07-15 (cycle day 15): the last legacy period is Jun 15 – Jul 14.
#[test]
fn a_legacy_bill_after_the_suppression_bills_the_customer_twice() {
    use crate::domain::{LegacyLine, Period};
    let line = |period: (i32, u32), service: Option<(&str, &str)>| LegacyLine {
        account_number: "A1".into(),
        invoice_number: "INV".into(),
        period: Period::new(period.0, period.1).unwrap(),
        legacy_code: "X".into(),
        description: String::new(),
        service_start: service.map(|s| date(s.0)),
        service_end: service.map(|s| date(s.1)),
        quantity: dec("1"),
        unit_price: dec("1"),
        amount: dec("1"),
    };
    let july = Some(("2017-07-15", "2017-08-14"));
    let last = Some(("2017-06-15", "2017-07-14"));
    // (line, usage, carry-over, as of, billed twice)
    let table = [
        (line((2017, 6), Some(("2017-06-15", "2017-07-14"))), false, UsageCarryover::New, "2017-09-30", false),
        (line((2017, 7), july), false, UsageCarryover::New, "2017-09-30", true),
        (line((2017, 7), july), false, UsageCarryover::New, "2017-07-14", false),
        (line((2017, 7), july), false, UsageCarryover::New, "2017-07-15", true),
        (line((2017, 7), last), true, UsageCarryover::New, "2017-09-30", true),
        (line((2017, 7), last), true, UsageCarryover::Legacy, "2017-09-30", false),
        (line((2017, 7), last), false, UsageCarryover::Legacy, "2017-09-30", true),
        (line((2017, 8), Some(("2017-07-15", "2017-08-14"))), true, UsageCarryover::Legacy, "2017-09-30", true),
        (line((2017, 7), None), true, UsageCarryover::Legacy, "2017-09-30", false),
        (line((2017, 8), None), true, UsageCarryover::Legacy, "2017-09-30", true),
    ];
    for (i, (l, usage, carry, as_of, twice)) in table.into_iter().enumerate() {
        let s = Suppressed { first_new_bill_date: date("2017-07-15"), usage_carryover: carry, cycle_day: 15 };
        assert_eq!(
            s.billed_twice(&l, usage, date(as_of)),
            twice,
            "row {i}: {l:?} usage {usage} {carry:?} as of {as_of}"
        );
    }
}
