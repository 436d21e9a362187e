//! The rows of the load files, per account, and the manifest. Pure.
//!
//! Column names follow Zuora's Data Loader templates; every header is written even where a value
//! is empty. Dates are ISO (`YYYY-MM-DD`).

use super::{LoadConfig, Member};
use crate::domain::{ContactRole, Decimal};
use crate::plan::{BillingPeriod, Catalog, Charge, ChargeModel, ChargeType, Tier, UsageCarryover};
use crate::store::ReversalRow;
use serde::Serialize;
use std::collections::BTreeMap;

/// The files a team loads, in load order.
pub const LOAD_ORDER: [&str; 3] = ["accounts-and-contacts.csv", "subscriptions.csv", "usage.csv"];

const CONTACT_COLS: [&str; 9] =
    ["First Name", "Last Name", "Work Email", "Address 1", "Address 2", "City", "State", "Postal Code", "Country"];

pub const ACCOUNT_HEADER: [&str; 29] = [
    "Account Number",
    "Account Name",
    "Currency",
    "Bill Cycle Day",
    "Batch",
    "Communication Profile",
    "Invoice Delivery Prefs Email",
    "Invoice Delivery Prefs Print",
    "Additional Email Addresses",
    "Payment Term",
    "CRM Account Id",
    "Bill To Contact First Name",
    "Bill To Contact Last Name",
    "Bill To Contact Work Email",
    "Bill To Contact Address 1",
    "Bill To Contact Address 2",
    "Bill To Contact City",
    "Bill To Contact State",
    "Bill To Contact Postal Code",
    "Bill To Contact Country",
    "Sold To Contact First Name",
    "Sold To Contact Last Name",
    "Sold To Contact Work Email",
    "Sold To Contact Address 1",
    "Sold To Contact Address 2",
    "Sold To Contact City",
    "Sold To Contact State",
    "Sold To Contact Postal Code",
    "Sold To Contact Country",
];

/// Zuora's nested subscription layout in one CSV: a `Subscription` row, then its `Rate Plan`
/// rows, each followed by its `Charge` rows, each followed by its `Tier` rows. `Record Type` says
/// which; the columns a record type does not use are empty.
pub const SUBSCRIPTION_HEADER: [&str; 34] = [
    "Record Type",
    "Account Number",
    "Subscription Number",
    "Term Type",
    "Contract Effective Date",
    "Service Activation Date",
    "Customer Acceptance Date",
    "Run Billing",
    "Collect",
    "Currency",
    "Product Rate Plan Id",
    "Rate Plan Name",
    "Product Rate Plan Charge Id",
    "Charge Number",
    "Charge Name",
    "Charge Type",
    "Charge Model",
    "Billing Period",
    "Billing Timing",
    "Trigger Event",
    "Trigger Date",
    "Specific End Date",
    "Quantity",
    "Price",
    "UOM",
    "Included Units",
    "Overage Price",
    "Tier",
    "Starting Unit",
    "Ending Unit",
    "Tier Price",
    "Price Format",
    "Legacy Service Id",
    "Legacy Code",
];

pub const USAGE_HEADER: [&str; 8] =
    ["ACCOUNT_ID", "UOM", "QTY", "STARTDATE", "ENDDATE", "SUBSCRIPTION_ID", "CHARGE_ID", "DESCRIPTION"];

pub const SUPPRESSION_HEADER: [&str; 7] = [
    "account_number",
    "last_legacy_service_through",
    "suppress_billing_from",
    "stop_payment_retries_from",
    "final_usage_bill",
    "usage_period",
    "reason",
];

pub const ROLLBACK_HEADER: [&str; 8] = [
    "account_number",
    "subscription_number",
    "target_id",
    "cancel_in_target",
    "resume_legacy_billing_from",
    "first_new_bill_date",
    "reason",
    "rolled_back_at",
];

/// The subscription number an account is loaded with (usage records name it).
pub fn subscription_number(account: &str) -> String {
    format!("S-{account}")
}

/// The charge number of a service's charge (usage records name it).
pub fn charge_number(account: &str, service_id: &str) -> String {
    format!("C-{account}-{service_id}")
}

/// Control totals of a set (or of one account).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub accounts: u64,
    pub subscriptions: u64,
    pub rate_plans: u64,
    pub charges: u64,
    pub tiers: u64,
    pub usage_records: u64,
    /// Accounts loaded with no charge (no mapped service active from the first new bill): they
    /// get no subscription row.
    pub accounts_without_charges: u64,
    /// Monthly recurring revenue per currency (a quarterly or yearly charge counts a third or a
    /// twelfth), rounded once by the catalog's rule.
    pub monthly_recurring_revenue: BTreeMap<String, Decimal>,
    /// Usage quantity per unit of measure in usage.csv.
    pub usage_quantity: BTreeMap<String, Decimal>,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.accounts += o.accounts;
        self.subscriptions += o.subscriptions;
        self.rate_plans += o.rate_plans;
        self.charges += o.charges;
        self.tiers += o.tiers;
        self.usage_records += o.usage_records;
        self.accounts_without_charges += o.accounts_without_charges;
        for (k, v) in &o.monthly_recurring_revenue {
            *self.monthly_recurring_revenue.entry(k.clone()).or_default() += *v;
        }
        for (k, v) in &o.usage_quantity {
            *self.usage_quantity.entry(k.clone()).or_default() += *v;
        }
    }
}

/// One account's rows in each file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountRows {
    pub account: Vec<String>,
    pub subscription: Vec<Vec<String>>,
    pub usage: Vec<Vec<String>>,
    pub suppression: Vec<String>,
    /// Exact, unrounded monthly recurring revenue and the counts.
    pub totals: Totals,
    /// Things the team should read (usage with no charge to carry it).
    pub notes: Vec<String>,
}

fn d(x: chrono::NaiveDate) -> String {
    x.to_string()
}

fn dec(x: Decimal) -> String {
    x.normalize().to_string()
}

fn charge_type(t: ChargeType) -> &'static str {
    match t {
        ChargeType::Recurring => "Recurring",
        ChargeType::OneTime => "OneTime",
        ChargeType::Usage => "Usage",
    }
}

fn model_name(m: &ChargeModel) -> &'static str {
    match m {
        ChargeModel::FlatFee => "Flat Fee Pricing",
        ChargeModel::PerUnit { .. } => "Per Unit Pricing",
        ChargeModel::Tiered { .. } => "Tiered Pricing",
        ChargeModel::Volume { .. } => "Volume Pricing",
        ChargeModel::Overage { .. } => "Overage Pricing",
        ChargeModel::TieredWithOverage { .. } => "Tiered with Overage Pricing",
    }
}

fn billing_period(p: BillingPeriod) -> &'static str {
    match p {
        BillingPeriod::Month => "Month",
        BillingPeriod::Quarter => "Quarter",
        BillingPeriod::Year => "Annual",
    }
}

/// A row of `SUBSCRIPTION_HEADER` width with the given columns set.
fn sub_row(cells: &[(&str, String)]) -> Vec<String> {
    let mut row = vec![String::new(); SUBSCRIPTION_HEADER.len()];
    for (col, v) in cells {
        if let Some(i) = SUBSCRIPTION_HEADER.iter().position(|h| h == col) {
            row[i] = v.clone();
        }
    }
    row
}

/// The services an account is loaded with: mapped to the catalog, active on or after the first
/// new bill date (one-time charges: starting then or later); usage services also when their
/// last legacy period's usage is carried over.
fn loaded_services<'a>(m: &'a Member, catalog: &'a Catalog) -> Vec<Loaded<'a>> {
    let first = m.schedule.first_new_bill_date;
    let last = super::last_legacy_period(first, m.account.account.bill_cycle_day);
    let mut out: Vec<_> = m
        .account
        .services
        .iter()
        .filter_map(|svc| {
            let &(p, _) = catalog.by_code.get(svc.legacy_code.as_str())?;
            let (product, charge) = catalog.lookup(&svc.legacy_code)?;
            let active_then = svc.end_date.is_none_or(|e| e >= first);
            let carries_usage = charge.charge_type == ChargeType::Usage
                && m.usage_carryover == UsageCarryover::New
                && svc.end_date.is_none_or(|e| e >= last.start)
                && m.account.usage.iter().any(|u| u.service_id == svc.service_id);
            let keep = match charge.charge_type {
                ChargeType::OneTime => svc.start_date >= first,
                _ => active_then || carries_usage,
            };
            keep.then_some((p, svc, product, charge))
        })
        .collect();
    out.sort_by(|a, b| (a.0, &a.1.service_id).cmp(&(b.0, &b.1.service_id)));
    out
}

/// A service an account is loaded with: its product's index in the catalog (rate plans follow
/// it), the service, its product and its charge.
type Loaded<'a> = (usize, &'a crate::domain::Service, &'a crate::plan::Product, &'a Charge);

/// The rows that load one account, and what it adds to the control totals.
pub fn account_rows(m: &Member, catalog: &Catalog, cfg: &LoadConfig) -> AccountRows {
    let mut out = AccountRows::default();
    out.totals.accounts = 1;
    out.account = account_row(m, cfg);
    let services = loaded_services(m, catalog);
    subscription_rows(m, catalog, cfg, &services, &mut out);
    usage_rows(m, cfg, &services, &mut out);
    out.suppression = suppression_row(m);
    out
}

/// The account's row of accounts-and-contacts.csv, with its bill-to and sold-to contacts.
fn account_row(m: &Member, cfg: &LoadConfig) -> Vec<String> {
    let a = &m.account.account;
    let bill_to = m.account.contact(ContactRole::BillTo);
    let sold_to = m.account.contact(ContactRole::SoldTo).or(bill_to);
    // The target emails its bills to the Bill To contact's work email and the additional
    // addresses: together exactly the addresses the notice went to and promised the bills to
    // (`m.emails`: the form's, else the legacy billing emails, and the contacts'). The contact's
    // own email is kept when it is one of them; otherwise the first stands in for it.
    let promised = |e: &str| m.emails.iter().find(|x| x.eq_ignore_ascii_case(e.trim())).cloned();
    let bill_to_email = bill_to
        .and_then(|c| promised(&c.work_email))
        .or_else(|| m.emails.first().cloned())
        .unwrap_or_else(|| bill_to.map(|c| c.work_email.clone()).unwrap_or_default());
    let additional: Vec<&str> =
        m.emails.iter().map(String::as_str).filter(|e| !e.eq_ignore_ascii_case(&bill_to_email)).collect();
    let contact_cells = |c: Option<&crate::domain::Contact>, email: String| -> Vec<String> {
        match c {
            Some(c) => vec![
                if c.first_name.is_empty() { "Billing".into() } else { c.first_name.clone() },
                if c.last_name.is_empty() { a.name.clone() } else { c.last_name.clone() },
                email,
                c.address1.clone(),
                c.address2.clone(),
                c.city.clone(),
                c.state.clone(),
                c.postal_code.clone(),
                c.country.clone(),
            ],
            // No contact in the legacy system: Zuora needs a name; the email is the bill's.
            None => {
                let mut v = vec!["Billing".to_string(), a.name.clone(), email];
                v.resize(CONTACT_COLS.len(), String::new());
                v
            }
        }
    };
    let email_pref = !m.emails.is_empty();
    let mut row = vec![
        a.account_number.clone(),
        a.name.clone(),
        a.currency.clone(),
        a.bill_cycle_day.to_string(),
        cfg.batch.clone(),
        cfg.communication_profile.clone(),
        if email_pref { "TRUE" } else { "FALSE" }.into(),
        if email_pref { "FALSE" } else { "TRUE" }.into(),
        additional.join("|"),
        cfg.payment_term.clone(),
        String::new(),
    ];
    // A Sold To contact of its own keeps its email (the target bills Bill To); else Bill To's.
    let sold_to_email = m.account.contact(ContactRole::SoldTo).map(|c| c.work_email.trim()).filter(|e| !e.is_empty());
    let sold_to_email = sold_to_email.map_or_else(|| bill_to_email.clone(), str::to_string);
    row.extend(contact_cells(bill_to, bill_to_email));
    row.extend(contact_cells(sold_to, sold_to_email));
    row
}

/// subscriptions.csv: one `Subscription` row, then per product a `Rate Plan` row, each service's
/// `Charge` row and its `Tier` rows. An account with no loaded service gets none.
fn subscription_rows(m: &Member, catalog: &Catalog, cfg: &LoadConfig, services: &[Loaded<'_>], out: &mut AccountRows) {
    let a = &m.account.account;
    let number = a.account_number.as_str();
    let first = m.schedule.first_new_bill_date;
    let sub = subscription_number(number);
    if services.is_empty() {
        out.totals.accounts_without_charges = 1;
        return;
    }
    out.totals.subscriptions = 1;
    out.subscription.push(sub_row(&[
        ("Record Type", "Subscription".into()),
        ("Account Number", number.into()),
        ("Subscription Number", sub.clone()),
        ("Term Type", cfg.term_type.clone()),
        ("Contract Effective Date", d(first)),
        ("Service Activation Date", d(first)),
        ("Customer Acceptance Date", d(first)),
        // Zuora defaults both to TRUE, which would bill and charge customers at load time.
        ("Run Billing", "FALSE".into()),
        ("Collect", "FALSE".into()),
        ("Currency", a.currency.clone()),
    ]));
    let currency_index = catalog.currency_index(&a.currency).unwrap_or(0);
    let mut last_product = usize::MAX;
    for &(p, svc, product, charge) in services {
        if p != last_product {
            last_product = p;
            out.totals.rate_plans += 1;
            out.subscription.push(sub_row(&[
                ("Record Type", "Rate Plan".into()),
                ("Account Number", number.into()),
                ("Subscription Number", sub.clone()),
                ("Product Rate Plan Id", product.target.id.clone().unwrap_or_default()),
                ("Rate Plan Name", product.name.clone()),
            ]));
        }
        out.totals.charges += 1;
        let model = charge.model_in(currency_index);
        let cells = charge_cells(m, (p, svc, product, charge), model, &mut out.totals);
        out.subscription.push(sub_row(&cells));
        tier_rows(number, &charge_number(number, &svc.service_id), model, out);
    }
}

/// A service's `Charge` row: what it is, when it starts and ends, and its price under its
/// charge model. A recurring charge adds its monthly share to the recurring revenue.
fn charge_cells(
    m: &Member,
    (_, svc, product, charge): Loaded<'_>,
    model: &ChargeModel,
    totals: &mut Totals,
) -> Vec<(&'static str, String)> {
    let a = &m.account.account;
    let number = a.account_number.as_str();
    let first = m.schedule.first_new_bill_date;
    let mut cells: Vec<(&str, String)> = vec![
        ("Record Type", "Charge".into()),
        ("Account Number", number.into()),
        ("Subscription Number", subscription_number(number)),
        ("Product Rate Plan Id", product.target.id.clone().unwrap_or_default()),
        ("Product Rate Plan Charge Id", charge.target.id.clone().unwrap_or_default()),
        ("Charge Number", charge_number(number, &svc.service_id)),
        ("Charge Name", charge.name.clone()),
        ("Charge Type", charge_type(charge.charge_type).into()),
        ("Charge Model", model_name(model).into()),
        ("Legacy Service Id", svc.service_id.clone()),
        ("Legacy Code", svc.legacy_code.clone()),
        ("UOM", charge.uom.clone().unwrap_or_default()),
    ];
    if svc.start_date > first {
        cells.push(("Trigger Event", "SpecificDate".into()));
        cells.push(("Trigger Date", d(svc.start_date)));
    } else {
        cells.push(("Trigger Event", "ContractEffective".into()));
    }
    if let Some(e) = svc.end_date {
        cells.push(("Specific End Date", d(e)));
    }
    match charge.charge_type {
        ChargeType::Recurring | ChargeType::OneTime => {
            if charge.charge_type == ChargeType::Recurring {
                cells.push(("Billing Period", billing_period(charge.period).into()));
                cells.push(("Billing Timing", "IN_ADVANCE".into()));
                let monthly = svc.quantity * svc.unit_price / Decimal::from(charge.period.months());
                *totals.monthly_recurring_revenue.entry(a.currency.clone()).or_default() += monthly;
            }
            // The contract's price: a flat fee is the whole amount, per unit the unit price.
            match model {
                ChargeModel::FlatFee => cells.push(("Price", dec(svc.quantity * svc.unit_price))),
                _ => {
                    cells.push(("Quantity", dec(svc.quantity)));
                    cells.push(("Price", dec(svc.unit_price)));
                }
            }
        }
        ChargeType::Usage => {
            cells.push(("Billing Period", "Month".into()));
            cells.push(("Billing Timing", "IN_ARREARS".into()));
            match model {
                ChargeModel::PerUnit { price } => {
                    cells.push(("Price", price.map(dec).unwrap_or_default()));
                }
                ChargeModel::Overage { included_units, overage_price } => {
                    cells.push(("Included Units", dec(*included_units)));
                    cells.push(("Overage Price", dec(*overage_price)));
                }
                ChargeModel::TieredWithOverage { overage_price, .. } => {
                    cells.push(("Overage Price", dec(*overage_price)));
                }
                _ => {}
            }
        }
    }
    cells
}

/// A tiered charge's `Tier` rows, each from where the one before ends.
fn tier_rows(number: &str, cn: &str, model: &ChargeModel, out: &mut AccountRows) {
    let tiers: &[Tier] = match model {
        ChargeModel::Tiered { tiers }
        | ChargeModel::Volume { tiers }
        | ChargeModel::TieredWithOverage { tiers, .. } => tiers,
        _ => &[],
    };
    let mut from = Decimal::ZERO;
    for (i, t) in tiers.iter().enumerate() {
        out.totals.tiers += 1;
        out.subscription.push(sub_row(&[
            ("Record Type", "Tier".into()),
            ("Account Number", number.into()),
            ("Subscription Number", subscription_number(number)),
            ("Charge Number", cn.to_string()),
            ("Tier", (i + 1).to_string()),
            ("Starting Unit", dec(from)),
            ("Ending Unit", t.up_to.map(dec).unwrap_or_default()),
            ("Tier Price", dec(t.price)),
            ("Price Format", "Per Unit".into()),
        ]));
        from = t.up_to.unwrap_or(from);
    }
}

/// usage.csv: the last legacy period's usage, when the new system bills it, aggregated per
/// charge over the period (one record per charge, as Zuora rates it). Usage no loaded usage
/// charge carries is left out, with a note.
fn usage_rows(m: &Member, cfg: &LoadConfig, services: &[Loaded<'_>], out: &mut AccountRows) {
    if m.usage_carryover != UsageCarryover::New {
        return;
    }
    let number = m.account.account.account_number.as_str();
    let last = super::last_legacy_period(m.schedule.first_new_bill_date, m.account.account.bill_cycle_day);
    let usage_period = format!("{}..{}", last.start, last.end);
    let mut per_charge: BTreeMap<String, (String, Decimal, u64)> = BTreeMap::new();
    let mut orphans = 0u64;
    for u in m.account.usage.iter().filter(|u| last.contains(u.usage_date)) {
        let target = services
            .iter()
            .find(|(_, s, _, c)| c.charge_type == ChargeType::Usage && s.service_id == u.service_id)
            .or_else(|| {
                services
                    .iter()
                    .find(|(_, s, _, c)| c.charge_type == ChargeType::Usage && s.legacy_code == u.legacy_code)
            });
        match target {
            Some((_, s, _, c)) => {
                let uom = c.uom.clone().unwrap_or_else(|| u.uom.clone());
                let e = per_charge.entry(charge_number(number, &s.service_id)).or_insert((uom, Decimal::ZERO, 0));
                e.1 += u.quantity;
                e.2 += 1;
            }
            None => orphans += 1,
        }
    }
    if orphans > 0 {
        out.notes.push(format!(
            "{number}: {orphans} usage record(s) of {usage_period} match no loaded usage charge and are not in usage.csv"
        ));
    }
    // Metered, and nothing of the period in the extraction its cut-over used: its first new bill
    // says it carries that usage, and nobody would bill it if the legacy system recorded some
    // after that extraction.
    // Only a metered service in use during that period could have usage of it (one that starts
    // with the new system has none to carry).
    let metered = services
        .iter()
        .filter(|(_, s, _, c)| {
            c.charge_type == ChargeType::Usage && s.start_date <= last.end && s.end_date.is_none_or(|e| e >= last.start)
        })
        .count();
    if metered > 0 && per_charge.is_empty() && orphans == 0 {
        out.notes.push(format!(
            "{number}: usage.csv has no usage of {usage_period} for it ({metered} usage charge(s); the extraction \
             it was cut over from had none): if the legacy system records usage of that period, load it into the \
             target before the first new bill, which is to carry it"
        ));
    }
    for (cn, (uom, qty, n)) in per_charge {
        out.totals.usage_records += 1;
        *out.totals.usage_quantity.entry(uom.clone()).or_default() += qty;
        out.usage.push(vec![
            number.to_string(),
            uom,
            dec(qty),
            cfg.usage_dates.format(last.start),
            cfg.usage_dates.format(last.end),
            subscription_number(number),
            cn,
            format!("legacy usage {usage_period} ({n} record(s)), billed in arrears on the first new bill"),
        ]);
    }
}

/// The account's row of legacy-suppression.csv: when the legacy system stops billing and
/// collecting, and who bills the last legacy period's usage.
fn suppression_row(m: &Member) -> Vec<String> {
    let first = m.schedule.first_new_bill_date;
    let last = super::last_legacy_period(first, m.account.account.bill_cycle_day);
    let (final_bill, why) = match m.usage_carryover {
        UsageCarryover::New => ("no", "the new system bills the usage of the last legacy period (usage.csv)"),
        UsageCarryover::Legacy => ("yes", "the legacy system issues a final usage bill for the last legacy period"),
    };
    vec![
        m.account.account.account_number.clone(),
        d(m.schedule.cutover_date),
        d(first),
        d(first),
        final_bill.into(),
        format!("{}..{}", last.start, last.end),
        format!("cut over to the new system; first new bill {first}; {why}"),
    ]
}

/// One reversal record of `rollback.csv`.
pub fn reversal_row(r: &ReversalRow) -> Vec<String> {
    vec![
        r.account_number.clone(),
        subscription_number(&r.account_number),
        r.target_id.clone().unwrap_or_default(),
        r.action.clone(),
        d(r.resume_legacy_from),
        d(r.first_new_bill_date),
        r.reason.clone(),
        r.at.clone(),
    ]
}

/// A CSV file's bytes: UTF-8 without BOM, one header row, fields quoted only where CSV needs it.
pub fn to_csv(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(r);
    }
    w.into_inner().unwrap_or_default()
}

/// One file of a set, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStat {
    pub name: String,
    /// Data rows (the header not counted).
    pub rows: u64,
    pub sha256: String,
}

/// What a set is, for its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetInfo {
    pub wave: String,
    pub cutover_date: chrono::NaiveDate,
    pub usage_carryover: String,
    pub catalog_file: String,
    pub catalog_sha256: String,
    pub extractions: Vec<i64>,
    pub first_new_bill_dates: Vec<chrono::NaiveDate>,
    pub accounts: Vec<String>,
    pub rolled_back: Vec<String>,
}

/// `manifest.json`: load order, row counts and control totals, where the rows came from, and a
/// SHA-256 per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub format: &'static str,
    pub wave: String,
    pub cutover_date: chrono::NaiveDate,
    pub first_new_bill_dates: Vec<chrono::NaiveDate>,
    pub load_order: Vec<&'static str>,
    pub run_billing: bool,
    pub collect: bool,
    pub usage_carryover: String,
    pub catalog: BTreeMap<&'static str, String>,
    pub extractions: Vec<i64>,
    pub files: Vec<FileStat>,
    pub totals: Totals,
    pub accounts: Vec<String>,
    pub rolled_back: Vec<String>,
    pub notes: Vec<String>,
}

/// The manifest of a set, totals rounded once by the catalog's rule.
pub fn manifest(
    info: SetInfo,
    files: Vec<FileStat>,
    mut totals: Totals,
    notes: Vec<String>,
    catalog: &Catalog,
) -> Manifest {
    for v in totals.monthly_recurring_revenue.values_mut() {
        *v = crate::rate::round_line(*v, catalog.rounding);
    }
    for v in totals.usage_quantity.values_mut() {
        *v = v.normalize();
    }
    Manifest {
        format: "cutover-load-set/1",
        wave: info.wave,
        cutover_date: info.cutover_date,
        first_new_bill_dates: info.first_new_bill_dates,
        load_order: LOAD_ORDER.to_vec(),
        run_billing: false,
        collect: false,
        usage_carryover: info.usage_carryover,
        catalog: BTreeMap::from([("file", info.catalog_file), ("sha256", info.catalog_sha256)]),
        extractions: info.extractions,
        files,
        totals,
        accounts: info.accounts,
        rolled_back: info.rolled_back,
        notes,
    }
}

/// `README.txt` beside the files: what they are and how to load them.
pub fn readme(m: &Manifest) -> String {
    let count = |name: &str| m.files.iter().find(|f| f.name == name).map_or(0, |f| f.rows);
    let mrr: Vec<String> = m.totals.monthly_recurring_revenue.iter().map(|(c, v)| format!("{v} {c}")).collect();
    let usage: Vec<String> = m.totals.usage_quantity.iter().map(|(u, v)| format!("{v} {u}")).collect();
    format!(
        "Load files of wave {wave}, cut over on {date} (written by cutover; do not edit)\n\
         \n\
         Load in this order with Zuora Data Loader (UTF-8, no BOM):\n\
         \x20 1. accounts-and-contacts.csv   {acc} account(s), Communication Profile silent\n\
         \x20    (then payment methods from your gateway's tokens; not written here)\n\
         \x20 2. subscriptions.csv           {subs} subscription(s), {charges} charge(s); Run Billing and Collect FALSE\n\
         \x20 3. usage.csv                   {usage} record(s); Zuora reads STARTDATE and ENDDATE in the\n\
         \x20                                uploading user's locale: check it matches (project README)\n\
         Then run the catch-up bill run (it moves charged-through dates; it cannot be undone).\n\
         \n\
         Control totals (compare with the target after the load; manifest.json has them all):\n\
         \x20 accounts {acc}, subscriptions {subs}, rate plans {plans}, charges {charges}, tiers {tiers}\n\
         \x20 monthly recurring revenue: {mrr}\n\
         \x20 usage: {usage_q}\n\
         \n\
         For the legacy system's operators: legacy-suppression.csv ({sup} account(s)): stop billing and\n\
         payment retries from the given dates. rollback.csv ({rb} record(s)): accounts taken back;\n\
         cancel them in the target as it says, and resume their legacy billing.\n\
         \n\
         Confirm the load: export Data Loader's result file and run\n\
         \x20 cutover switch --confirm RESULTS.csv\n\
         manifest.json is written last: a folder without it is incomplete (an interrupted run);\n\
         the next cutover switch, rollback or --confirm writes it again.\n{notes}",
        wave = m.wave,
        date = m.cutover_date,
        acc = count("accounts-and-contacts.csv"),
        subs = m.totals.subscriptions,
        charges = m.totals.charges,
        plans = m.totals.rate_plans,
        tiers = m.totals.tiers,
        usage = count("usage.csv"),
        mrr = if mrr.is_empty() { "none".into() } else { mrr.join(", ") },
        usage_q = if usage.is_empty() { "none".into() } else { usage.join(", ") },
        sup = count("legacy-suppression.csv"),
        rb = count("rollback.csv"),
        notes = if m.notes.is_empty() {
            String::new()
        } else {
            let list: String = m.notes.iter().map(|n| format!("  - {n}\n")).collect();
            format!("\nNotes ({}; manifest.json has them too):\n{list}", m.notes.len())
        },
    )
}
