//! The bill: the new-format bill a customer reads (text, HTML, JSON, CSV), and the legacy bill
//! for comparison. Pure: takes a rated bill and the account's name, returns text.
//!
//! What a bill shows (issue 4):
//! - a header: account number and name, invoice number (`INV-<account>-<YYYYMM>`), bill date (the
//!   first day of the bill period), the period, the amount due and the due date (bill date + 30
//!   days, [`DUE_DAYS`]);
//! - the lines grouped by logical element (the catalog's `group`), then product, with a subtotal
//!   per group; each line has its revised product and charge name, its charge type, its service
//!   period, its arithmetic, and a visible mark when it covers a partial period (recurring lines
//!   cover the bill's own period, in advance; usage lines the period before it, in arrears);
//! - on the first new bill, a note saying who bills the last legacy period's usage (SPEC §4);
//! - "how to read your bill" callouts (HTML);
//! - the payment options and a detachable payment stub with the remit-to lockbox address.

use crate::domain::{Decimal, LegacyAccount, Period};
use crate::output::{Format, OutputError, json};
use crate::rate::{BillLine, LineType, NewBill, Rated};
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt::Write;

/// A bill is due this many days after its bill date.
pub const DUE_DAYS: u64 = 30;

/// The header facts of a bill, derived from the rated bill alone (no clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    pub invoice_number: String,
    /// The first day of the bill period.
    pub bill_date: NaiveDate,
    /// Bill date + [`DUE_DAYS`].
    pub due_date: NaiveDate,
}

impl Header {
    pub fn of(b: &NewBill) -> Header {
        Header {
            invoice_number: invoice_number(&b.account_number, b.period),
            bill_date: b.period_start,
            due_date: b.period_start + chrono::Days::new(DUE_DAYS),
        }
    }
}

/// The deterministic invoice number of an account's bill for a period: `INV-<account>-<YYYYMM>`.
pub fn invoice_number(account: &str, period: Period) -> String {
    format!("INV-{account}-{:04}{:02}", period.year, period.month)
}

/// The bill's JSON (SPEC §6): every field of the rated bill, plus the header.
#[derive(Serialize)]
struct JsonBill<'a> {
    #[serde(flatten)]
    bill: &'a NewBill,
    account_name: &'a str,
    #[serde(flatten)]
    header: Header,
    remit_to: &'a [String],
    /// `invoice`, or `preview` for a period the new system does not bill (yet) for the account.
    document: &'static str,
    not_billed: Vec<&'a str>,
    /// On the first new bill: who bills the last legacy period's usage (SPEC §4).
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_handover: Option<UsageHandover>,
}

#[derive(Serialize)]
struct UsageHandover {
    usage_start: NaiveDate,
    usage_end: NaiveDate,
    /// `new`: this bill; `legacy`: a final bill from the legacy system.
    carried_by: &'static str,
    note: String,
}

/// Renders a new-format bill for the account named `account_name`.
pub fn render(account_name: &str, r: &Rated, remit_to: &[String], format: Format) -> Result<String, OutputError> {
    let b = &r.bill;
    let header = Header::of(b);
    match format {
        Format::Json => json(&JsonBill {
            bill: b,
            account_name,
            header,
            remit_to,
            document: if r.preview { "preview" } else { "invoice" },
            not_billed: r.issues.iter().map(|i| i.reason.as_str()).collect(),
            usage_handover: r.handover.map(|h| UsageHandover {
                usage_start: h.usage_start,
                usage_end: h.usage_end,
                carried_by: h.carried_by.as_str(),
                note: h.words(),
            }),
        }),
        Format::Csv => csv(b),
        Format::Text | Format::Markdown => text(account_name, r, &header, remit_to),
        Format::Html => html(account_name, r, &header, remit_to),
    }
}

fn csv(b: &NewBill) -> Result<String, OutputError> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record([
        "group",
        "product",
        "charge",
        "charge_type",
        "legacy_code",
        "service_start",
        "service_end",
        "quantity",
        "unit_price",
        "amount",
        "partial",
        "calculation",
    ])?;
    for l in &b.lines {
        w.write_record([
            &l.group,
            &l.product,
            &l.charge,
            l.charge_type.as_str(),
            &l.legacy_code,
            &l.service_start.to_string(),
            &l.service_end.to_string(),
            &l.quantity.to_string(),
            &l.unit_price.to_string(),
            &l.amount.to_string(),
            &l.partial.to_string(),
            &l.calculation.to_string(),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// An amount for people: thousands separated by commas, the scale kept (`12,345.60`).
pub fn money(d: Decimal) -> String {
    let s = d.abs().to_string();
    let (int, frac) = s.split_once('.').map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3 + 4);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if d.is_sign_negative() && !d.is_zero() { "-" } else { "" };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// The charge type as a customer reads it.
fn kind(l: &BillLine) -> &'static str {
    match l.charge_type {
        LineType::Recurring => "Recurring",
        LineType::OneTime => "One-time",
        LineType::Usage => "Usage",
        LineType::Discount => "Discount",
    }
}

/// The unit price column: graduated tiers have no single price (the JSON keeps the average).
fn unit_price(l: &BillLine) -> String {
    match l.calculation {
        crate::rate::Calculation::Graduated { .. } => "tiered".to_string(),
        _ => money(l.unit_price),
    }
}

fn long_date(d: NaiveDate) -> String {
    d.format("%b %-d, %Y").to_string()
}

/// A line's quantity for people: thousands separated, with its unit when it has one (`197 Mbps`).
fn quantity(l: &BillLine) -> String {
    let q = money(l.quantity.normalize());
    match &l.uom {
        Some(u) => format!("{q} {u}"),
        None => q,
    }
}

/// What a preview says instead of asking for payment.
const PREVIEW_NOTE: &str = "Preview: this is not an invoice and nothing is due. It shows how this \
     period would be billed in the new format; your bills in this format start with your first new bill.";

fn service_period(l: &BillLine) -> String {
    if l.service_start == l.service_end {
        long_date(l.service_start)
    } else {
        format!("{} - {}", long_date(l.service_start), long_date(l.service_end))
    }
}

/// The lines grouped by logical element, in bill order (rating sorts them), with subtotals.
fn groups(b: &NewBill) -> Vec<(&str, Vec<&BillLine>, Decimal)> {
    let mut out: Vec<(&str, Vec<&BillLine>, Decimal)> = Vec::new();
    for l in &b.lines {
        match out.last_mut() {
            Some((g, lines, sub)) if *g == &*l.group => {
                lines.push(l);
                *sub += l.amount;
            }
            _ => out.push((&l.group, vec![l], l.amount)),
        }
    }
    out
}

const WIDTH: usize = 78;

/// `text` wrapped at word boundaries to `width` columns, later lines indented by `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    crate::output::wrap_words(text.split_whitespace(), width, indent)
}

fn text(name: &str, r: &Rated, h: &Header, remit_to: &[String]) -> Result<String, OutputError> {
    let b = &r.bill;
    let cur = &b.currency;
    let biller = remit_to.first().map_or("", String::as_str);
    let mut s = String::new();
    let rule = |c: char| c.to_string().repeat(WIDTH);
    writeln!(s, "{biller:<60}{:>18}", if r.preview { "PREVIEW" } else { "INVOICE" })?;
    writeln!(s, "{}", rule('='))?;
    if r.preview {
        writeln!(s, "{}", wrap(PREVIEW_NOTE, WIDTH, ""))?;
        writeln!(s, "{}", rule('-'))?;
    }
    writeln!(s, "Account       {}  {name}", b.account_number)?;
    writeln!(s, "Invoice       {}", h.invoice_number)?;
    writeln!(
        s,
        "Bill date     {:<26}Period    {} - {}",
        long_date(h.bill_date),
        long_date(b.period_start),
        long_date(b.period_end)
    )?;
    // A preview asks for nothing: its amounts are totals, not amounts due.
    let due = if r.preview { "Total" } else { "Amount due" };
    writeln!(s, "{due:<14}{:<26}Due date  {}", format!("{cur} {}", money(b.total)), long_date(h.due_date))?;
    writeln!(s, "{}", rule('='))?;
    if b.lines.is_empty() {
        writeln!(s, "\nNo charges for this period.")?;
    }
    let mut any_partial = false;
    for (group, lines, sub) in groups(b) {
        writeln!(s, "\n{}", group.to_uppercase())?;
        let mut product = "";
        for l in lines {
            if &*l.product != product {
                product = &l.product;
                writeln!(s, "  {product}")?;
            }
            any_partial |= l.partial;
            let mark = if l.partial { " *" } else { "" };
            writeln!(s, "    {:<44}{:>10}{:>20}", format!("{}{mark}", l.charge), kind(l), money(l.amount))?;
            let used = if l.charge_type == LineType::Usage { format!("  ({})", quantity(l)) } else { String::new() };
            writeln!(s, "      {}{}{used}", service_period(l), if l.partial { "  (partial period)" } else { "" })?;
            writeln!(s, "      {}", l.calculation)?;
        }
        writeln!(s, "  {:<56}{:>20}", format!("Subtotal {group}"), money(sub))?;
    }
    writeln!(s, "\n{}", rule('-'))?;
    writeln!(
        s,
        "{:<54}{:>24}",
        if r.preview { "TOTAL" } else { "TOTAL AMOUNT DUE" },
        format!("{cur} {}", money(b.total))
    )?;
    writeln!(s, "{}", rule('-'))?;
    if any_partial {
        writeln!(s, "* Partial period: prorated for the days of service shown; the line shows how.")?;
    }
    if let Some(h) = &r.handover {
        writeln!(s, "{}", wrap(&format!("Note: {}", h.words()), WIDTH, "      "))?;
    }
    for i in &r.issues {
        writeln!(s, "Note: not billed: {}", i.reason)?;
    }
    writeln!(s, "\nHOW TO PAY")?;
    writeln!(s, "  By credit card, as today; or")?;
    writeln!(s, "  mail a cheque with the stub below to the address on it. Please write your")?;
    writeln!(s, "  account number on the cheque.")?;
    writeln!(s, "\n{:-^WIDTH$}", " detach and return this stub with your payment ")?;
    writeln!(s, "PAYMENT STUB")?;
    writeln!(s, "  Account number   {}", b.account_number)?;
    writeln!(s, "  Account name     {name}")?;
    writeln!(s, "  Invoice number   {}", h.invoice_number)?;
    writeln!(s, "  {:<17}{cur} {}", due, money(b.total))?;
    writeln!(s, "  Due date         {}", long_date(h.due_date))?;
    writeln!(s, "  Amount enclosed  ________________")?;
    for (i, line) in remit_to.iter().enumerate() {
        writeln!(s, "  {:<17}{line}", if i == 0 { "Remit to" } else { "" })?;
    }
    Ok(s)
}

/// The bill's markup and print styles.
const TEMPLATE: &str = include_str!("templates/bill.html");

fn html(name: &str, r: &Rated, h: &Header, remit_to: &[String]) -> Result<String, OutputError> {
    let b = &r.bill;
    let groups: Vec<_> = groups(b)
        .into_iter()
        .map(|(group, lines, sub)| {
            let mut product = "";
            let lines: Vec<_> = lines
                .into_iter()
                .map(|l| {
                    // The product heads the first of its lines.
                    let first = &*l.product != product;
                    product = &l.product;
                    minijinja::context! {
                        product => first.then(|| l.product.to_string()), charge => &*l.charge,
                        type => l.charge_type.as_str(), kind => kind(l), service => service_period(l),
                        partial => l.partial, quantity => quantity(l),
                        unit_price => unit_price(l), amount => money(l.amount), calculation => l.calculation.to_string(),
                    }
                })
                .collect();
            minijinja::context! { name => group, lines, subtotal => money(sub) }
        })
        .collect();
    let ctx = minijinja::context! {
        name, invoice => h.invoice_number, account => b.account_number, currency => b.currency,
        biller => remit_to.first().map_or("", String::as_str), remit_to,
        bill_date => long_date(h.bill_date), due_date => long_date(h.due_date),
        period_start => long_date(b.period_start), period_end => long_date(b.period_end), total => money(b.total),
        groups, handover => r.handover.as_ref().map(|h| h.words()),
        issues => r.issues.iter().map(|i| i.reason.clone()).collect::<Vec<_>>(),
        preview => r.preview.then_some(PREVIEW_NOTE),
    };
    crate::output::render_html(TEMPLATE, ctx)
}

/// Renders what the legacy system billed for a period.
pub fn render_legacy(acct: &LegacyAccount, period: Period, format: Format) -> Result<String, OutputError> {
    let lines: Vec<_> = acct.invoice_lines.iter().filter(|l| l.period == period).collect();
    let total: Decimal = lines.iter().map(|l| l.amount).sum();
    match format {
        Format::Json => {
            #[derive(Serialize)]
            struct Legacy<'a> {
                account_number: &'a str,
                period: Period,
                lines: Vec<&'a crate::domain::LegacyLine>,
                total: Decimal,
            }
            json(&Legacy { account_number: &acct.account.account_number, period, lines, total })
        }
        _ => {
            let mut s = String::new();
            writeln!(s, "LEGACY BILL  account {}  period {}", acct.account.account_number, period)?;
            for l in &lines {
                writeln!(
                    s,
                    "  {:<12} {:<36} {:>8} x {:>10} {:>12}",
                    l.legacy_code, l.description, l.quantity, l.unit_price, l.amount
                )?;
            }
            writeln!(s, "TOTAL {total:>12}")?;
            Ok(s)
        }
    }
}

#[cfg(test)]
mod tests;
