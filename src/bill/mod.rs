//! The bill: the new-format bill a customer reads (text, HTML, JSON, CSV), and the legacy bill
//! for comparison. Pure: takes a rated bill, returns text.

use crate::domain::{Decimal, LegacyAccount, Period};
use crate::output::{Format, OutputError, esc, json};
use crate::rate::Rated;
use serde::Serialize;
use std::fmt::Write;

/// Renders a new-format bill.
pub fn render(r: &Rated, remit_to: &[String], format: Format) -> Result<String, OutputError> {
    let b = &r.bill;
    match format {
        Format::Json => json(b),
        Format::Csv => {
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
            ])?;
            for l in &b.lines {
                w.write_record([
                    &l.group,
                    &l.product,
                    &l.charge,
                    &l.charge_type,
                    &l.legacy_code,
                    &l.service_start.to_string(),
                    &l.service_end.to_string(),
                    &l.quantity.to_string(),
                    &l.unit_price.to_string(),
                    &l.amount.to_string(),
                ])?;
            }
            Ok(String::from_utf8(w.into_inner()?)?)
        }
        Format::Text | Format::Markdown => {
            let mut s = String::new();
            writeln!(
                s,
                "BILL  account {}  period {} ({} to {})  {}",
                b.account_number, b.period, b.period_start, b.period_end, b.currency
            )?;
            let mut group = "";
            for l in &b.lines {
                if l.group != group {
                    group = &l.group;
                    let sub: Decimal = b.lines.iter().filter(|x| x.group == group).map(|x| x.amount).sum();
                    writeln!(s, "\n{group}  (subtotal {sub})")?;
                }
                let mark = if l.partial { " (partial)" } else { "" };
                writeln!(
                    s,
                    "  {:<34} {:<9} {} – {}{mark:<10} {:>12}\n      {} — {}",
                    format!("{}: {}", l.product, l.charge),
                    l.charge_type,
                    l.service_start,
                    l.service_end,
                    l.amount,
                    l.legacy_code,
                    l.calculation
                )?;
            }
            writeln!(s, "\nTOTAL DUE {:>12} {}", b.total, b.currency)?;
            for i in &r.issues {
                writeln!(s, "note: not billed: {}", i.reason)?;
            }
            writeln!(
                s,
                "\n---- payment stub ---- account {}  amount due {} {}",
                b.account_number, b.total, b.currency
            )?;
            writeln!(s, "Remit to: {}", remit_to.join(", "))?;
            Ok(s)
        }
        Format::Html => {
            let mut s = String::from(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bill</title></head><body>",
            );
            writeln!(s, "<h1>Account {} — {}</h1><table>", esc(&b.account_number), b.period)?;
            for l in &b.lines {
                writeln!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td><td>{}</td></tr>",
                    esc(&l.group),
                    esc(&l.product),
                    esc(&l.charge),
                    l.service_start,
                    l.service_end,
                    esc(&l.calculation),
                    l.amount
                )?;
            }
            writeln!(
                s,
                "</table><p>Total due: {} {}</p><p>Remit to: {}</p></body></html>",
                b.total,
                esc(&b.currency),
                esc(&remit_to.join(", "))
            )?;
            Ok(s)
        }
    }
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
