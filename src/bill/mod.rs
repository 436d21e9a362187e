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
use crate::output::{Format, OutputError, esc, json};
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
        _ => l.unit_price.to_string(),
    }
}

fn long_date(d: NaiveDate) -> String {
    d.format("%b %-d, %Y").to_string()
}

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
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        if col > 0 && col + 1 + word.chars().count() > width {
            out.push('\n');
            out.push_str(indent);
            col = indent.len();
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.chars().count();
    }
    out
}

fn text(name: &str, r: &Rated, h: &Header, remit_to: &[String]) -> Result<String, OutputError> {
    let b = &r.bill;
    let cur = &b.currency;
    let biller = remit_to.first().map_or("", String::as_str);
    let mut s = String::new();
    let rule = |c: char| c.to_string().repeat(WIDTH);
    writeln!(s, "{biller:<60}{:>18}", "INVOICE")?;
    writeln!(s, "{}", rule('='))?;
    writeln!(s, "Account       {}  {name}", b.account_number)?;
    writeln!(s, "Invoice       {}", h.invoice_number)?;
    writeln!(
        s,
        "Bill date     {:<26}Period    {} - {}",
        long_date(h.bill_date),
        long_date(b.period_start),
        long_date(b.period_end)
    )?;
    writeln!(s, "Amount due    {:<26}Due date  {}", format!("{cur} {}", money(b.total)), long_date(h.due_date))?;
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
            writeln!(s, "      {}{}", service_period(l), if l.partial { "  (partial period)" } else { "" })?;
            writeln!(s, "      {}", l.calculation)?;
        }
        writeln!(s, "  {:<56}{:>20}", format!("Subtotal {group}"), money(sub))?;
    }
    writeln!(s, "\n{}", rule('-'))?;
    writeln!(s, "{:<54}{:>24}", "TOTAL AMOUNT DUE", format!("{cur} {}", money(b.total)))?;
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
    writeln!(s, "  Amount due       {cur} {}", money(b.total))?;
    writeln!(s, "  Due date         {}", long_date(h.due_date))?;
    writeln!(s, "  Amount enclosed  ________________")?;
    for (i, line) in remit_to.iter().enumerate() {
        writeln!(s, "  {:<17}{line}", if i == 0 { "Remit to" } else { "" })?;
    }
    Ok(s)
}

const CSS: &str = r#"
:root { --ink: #1d2733; --muted: #5b6775; --line: #d5dbe2; --accent: #0b5cad; --soft: #eef4fb; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.4 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0; background: #f3f5f8; }
.page { max-width: 186mm; margin: 0 auto; background: #fff; padding: 10mm 10mm 8mm; }
header.top { display: flex; justify-content: space-between; align-items: flex-start; border-bottom: 3px solid var(--accent); padding-bottom: 4mm; }
.biller { font-size: 15pt; font-weight: 700; }
.biller small { display: block; font-size: 9pt; font-weight: 400; color: var(--muted); }
.doc { text-align: right; }
.doc h1 { margin: 0; font-size: 18pt; letter-spacing: .08em; color: var(--accent); }
.facts { display: grid; grid-template-columns: 1fr 1fr; gap: 1mm 8mm; margin: 4mm 0; }
.facts dt { color: var(--muted); font-size: 9pt; }
.facts dd { margin: 0 0 1mm; font-weight: 600; }
.due { background: var(--soft); border: 1px solid var(--accent); border-radius: 2mm; padding: 3mm 4mm; display: flex; justify-content: space-between; align-items: center; margin-bottom: 4mm; }
.due .amount { font-size: 18pt; font-weight: 700; }
.help { border-left: 3px solid var(--accent); background: #fafbfc; padding: 2mm 4mm; margin: 0 0 4mm; font-size: 9pt; }
.help h2 { font-size: 10pt; margin: 0 0 1mm; }
.help ol { margin: 0; padding-left: 5mm; }
table { width: 100%; border-collapse: collapse; margin-bottom: 3mm; break-inside: auto; }
caption { text-align: left; font-weight: 700; font-size: 11pt; padding: 2mm 0 1mm; color: var(--accent); }
th { text-align: left; font-size: 8.5pt; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); padding: 1mm 1.5mm; }
td { padding: 1mm 1.5mm; vertical-align: top; }
tr.line td { border-top: 1px solid var(--line); }
tr.calc td { color: var(--muted); font-size: 8.5pt; padding-top: 0; }
tr.product td { font-weight: 600; padding-top: 2mm; }
tr.subtotal td { border-top: 2px solid var(--ink); font-weight: 700; }
td.num, th.num { text-align: right; white-space: nowrap; }
.type { font-size: 8pt; border-radius: 1mm; padding: 0 1.5mm; background: #e8ebef; white-space: nowrap; }
.type.usage { background: #e6f3ea; } .type.one_time { background: #fdf1dc; } .type.discount { background: #f6e3e8; }
.partial { font-size: 8pt; color: #8a4b00; background: #fff3d6; border: 1px solid #e9c46a; border-radius: 1mm; padding: 0 1mm; margin-left: 1mm; white-space: nowrap; }
.total { display: flex; justify-content: space-between; font-size: 13pt; font-weight: 700; border-top: 3px double var(--ink); padding-top: 2mm; margin-top: 2mm; }
.notes { font-size: 9pt; color: var(--muted); }
.pay { font-size: 9.5pt; margin-top: 3mm; }
.stub { margin-top: 6mm; border-top: 2px dashed var(--muted); padding-top: 3mm; break-inside: avoid; page-break-inside: avoid; }
.stub .cut { font-size: 8.5pt; color: var(--muted); text-align: center; margin: -6mm 0 2mm; }
.stub .cut span { background: #fff; padding: 0 2mm; }
.stub .grid { display: grid; grid-template-columns: 1.2fr 1fr; gap: 4mm; }
.stub dl { display: grid; grid-template-columns: auto 1fr; gap: .5mm 4mm; margin: 0; }
.stub dt { color: var(--muted); font-size: 9pt; }
.stub dd { margin: 0; font-weight: 600; }
.stub address { font-style: normal; border: 1px solid var(--line); padding: 2mm 3mm; font-weight: 600; }
.stub .enclosed { margin-top: 2mm; }
@page { margin: 8mm; }
@media print {
  body { background: #fff; font-size: 8.5pt; line-height: 1.3; }
  .page { max-width: none; padding: 0; margin: 0; }
  header.top { padding-bottom: 2mm; }
  .biller { font-size: 13pt; } .doc h1 { font-size: 15pt; }
  .facts { margin: 2mm 0; }
  .due { padding: 1.5mm 3mm; margin-bottom: 2mm; } .due .amount { font-size: 13pt; }
  .help { font-size: 7.5pt; padding: 1mm 3mm; margin-bottom: 2mm; break-inside: avoid; }
  caption { font-size: 10pt; padding: 1mm 0 .5mm; }
  td, th { padding: .5mm 1.5mm; } tr.product td { padding-top: 1mm; }
  tr { break-inside: avoid; }
  .total { font-size: 11pt; }
  .stub { margin-top: 5mm; }
}
"#;

fn html(name: &str, r: &Rated, h: &Header, remit_to: &[String]) -> Result<String, OutputError> {
    let b = &r.bill;
    let cur = esc(&b.currency);
    let biller = esc(remit_to.first().map_or("", String::as_str));
    let mut s = String::new();
    writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Invoice {} - {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main class=\"page\">",
        esc(&h.invoice_number),
        esc(name)
    )?;
    writeln!(
        s,
        "<header class=\"top\"><div class=\"biller\">{biller}<small>Billing statement</small></div><div class=\"doc\"><h1>INVOICE</h1><div>{}</div></div></header>",
        esc(&h.invoice_number)
    )?;
    writeln!(
        s,
        "<dl class=\"facts\"><div><dt>Account</dt><dd id=\"account\">{} &middot; {}</dd></div><div><dt>Invoice number</dt><dd>{}</dd></div><div><dt>Bill date</dt><dd>{}</dd></div><div><dt>Billing period</dt><dd>{} &ndash; {}</dd></div></dl>",
        esc(&b.account_number),
        esc(name),
        esc(&h.invoice_number),
        long_date(h.bill_date),
        long_date(b.period_start),
        long_date(b.period_end)
    )?;
    writeln!(
        s,
        "<section class=\"due\"><div>Amount due<div class=\"amount\" id=\"amount-due\">{cur} {}</div></div><div>Due date<div class=\"amount\">{}</div></div></section>",
        money(b.total),
        long_date(h.due_date)
    )?;
    writeln!(
        s,
        "<aside class=\"help\"><h2>How to read your bill</h2><ol>\
<li><b>Grouped by service.</b> Charges are grouped by what they are for (for example Colocation Space or Power), each with a subtotal.</li>\
<li><b>Charge type.</b> <span class=\"type\">Recurring</span> charges are billed in advance for the service period shown; <span class=\"type usage\">Usage</span> is billed after the period it was used in: its line shows those days (the period before this bill's) and, for overage charges, the used, included and billed units; <span class=\"type one_time\">One-time</span> charges appear once.</li>\
<li><b>Service period.</b> Every line shows the days of service it covers.</li>\
<li><b>Partial periods.</b> A line marked <span class=\"partial\">Partial period</span> covers only part of the period; it is prorated by day, and the grey line under it shows the arithmetic.</li>\
<li><b>Paying.</b> Pay by credit card as today, or mail a cheque with the stub at the bottom of this bill to our new address.</li>\
</ol></aside>"
    )?;
    if b.lines.is_empty() {
        writeln!(s, "<p>No charges for this period.</p>")?;
    }
    for (group, lines, sub) in groups(b) {
        writeln!(
            s,
            "<table class=\"group\"><caption>{}</caption><thead><tr><th>Charge</th><th>Type</th><th>Service period</th><th class=\"num\">Quantity</th><th class=\"num\">Unit price</th><th class=\"num\">Amount ({cur})</th></tr></thead><tbody>",
            esc(group)
        )?;
        let mut product = "";
        for l in lines {
            if &*l.product != product {
                product = &l.product;
                writeln!(s, "<tr class=\"product\"><td colspan=\"6\">{}</td></tr>", esc(product))?;
            }
            let partial = if l.partial { "<span class=\"partial\">Partial period</span>" } else { "" };
            writeln!(
                s,
                "<tr class=\"line\"><td>{}</td><td><span class=\"type {}\">{}</span></td><td>{}{partial}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&l.charge),
                l.charge_type.as_str(),
                kind(l),
                service_period(l),
                l.quantity.normalize(),
                unit_price(l),
                money(l.amount)
            )?;
            writeln!(s, "<tr class=\"calc\"><td colspan=\"6\">{}</td></tr>", esc(&l.calculation.to_string()))?;
        }
        writeln!(
            s,
            "<tr class=\"subtotal\"><td colspan=\"5\">Subtotal {}</td><td class=\"num\">{}</td></tr></tbody></table>",
            esc(group),
            money(sub)
        )?;
    }
    writeln!(
        s,
        "<div class=\"total\"><span>Total amount due</span><span id=\"total\">{cur} {}</span></div>",
        money(b.total)
    )?;
    if !r.issues.is_empty() || r.handover.is_some() {
        writeln!(s, "<ul class=\"notes\">")?;
        if let Some(h) = &r.handover {
            writeln!(s, "<li id=\"usage-handover\">{}</li>", esc(&h.words()))?;
        }
        for i in &r.issues {
            writeln!(s, "<li>Not billed: {}</li>", esc(&i.reason))?;
        }
        writeln!(s, "</ul>")?;
    }
    writeln!(
        s,
        "<p class=\"pay\"><b>How to pay.</b> By credit card, as today; or mail a cheque with the stub below to the address on it. Please write your account number on the cheque.</p>"
    )?;
    let address: Vec<String> = remit_to.iter().map(|l| esc(l)).collect();
    writeln!(
        s,
        "<section class=\"stub\" id=\"payment-stub\"><div class=\"cut\"><span>&#9986; Detach and return this stub with your payment</span></div><div class=\"grid\"><dl>\
<dt>Account number</dt><dd>{}</dd><dt>Account name</dt><dd>{}</dd><dt>Invoice number</dt><dd>{}</dd><dt>Amount due</dt><dd>{cur} {}</dd><dt>Due date</dt><dd>{}</dd>\
<dt class=\"enclosed\">Amount enclosed</dt><dd class=\"enclosed\">____________________</dd></dl>\
<div><div class=\"notes\">Remit to</div><address>{}</address></div></div></section>",
        esc(&b.account_number),
        esc(name),
        esc(&h.invoice_number),
        money(b.total),
        long_date(h.due_date),
        address.join("<br>")
    )?;
    writeln!(s, "</main>\n</body>\n</html>")?;
    Ok(s)
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
