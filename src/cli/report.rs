//! Human and machine-readable outputs: bills, reconciliation, status, run and demo summaries.

use super::{Failure, Format};
use crate::domain::{Decimal, LegacyAccount, Period};
use crate::engine::{Engine, RunReport};
use crate::plan::Wave;
use crate::rate::Rated;
use crate::reconcile::{GateVerdict, PeriodVerdict};
use serde::Serialize;
use std::fmt::Write;

type Result<T> = std::result::Result<T, Failure>;

fn json<T: Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn run_text(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} as of {}:", r.wave, r.as_of);
    let _ = writeln!(
        s,
        "  rated       {:>6}  held {:>4}  quarantined {:>4}",
        r.rated.done, r.rated.held, r.rated.quarantined
    );
    let _ = writeln!(s, "  reconciled  {:>6}  held {:>4}", r.reconciled.done, r.reconciled.held);
    let _ = writeln!(
        s,
        "  notified    {:>6}  rescheduled {:>4}  held {:>4}  failed {:>4}  unknown {:>4}",
        r.notified.done, r.notified.rescheduled, r.notified.held, r.notified.failed, r.notified.unknown
    );
    let _ = writeln!(s, "  gate        {:?}", r.gate.unwrap_or(GateVerdict::Pause));
    let _ = writeln!(s, "  cut over    {:>6}  held {:>4}", r.switched.done, r.switched.held);
    s
}

// ---------------------------------------------------------------------------------------- bills

pub fn bill(r: &Rated, remit_to: &[String], format: Format) -> anyhow::Result<String> {
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
        Format::Text => {
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

pub fn legacy_bill(acct: &LegacyAccount, period: Period, format: Format) -> anyhow::Result<String> {
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

// ------------------------------------------------------------------------------- reconciliation

#[derive(Debug, Serialize)]
pub struct Reconciliation {
    pub wave: String,
    pub tolerance: Decimal,
    pub gate: GateVerdict,
    pub summary: Summary,
    pub accounts: Vec<AccountRecon>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub accounts: u64,
    pub passed: u64,
    pub failed: u64,
    pub legacy_total: Decimal,
    pub new_total: Decimal,
    /// Sum of |difference| over every period.
    pub absolute_variance: Decimal,
    pub pass_rate: Decimal,
}

#[derive(Debug, Serialize)]
pub struct AccountRecon {
    pub account_number: String,
    pub status: crate::reconcile::AccountStatus,
    pub periods: Vec<PeriodVerdict>,
}

pub async fn reconciliation(engine: &Engine, wave: &Wave) -> Result<Reconciliation> {
    let mut out = Vec::new();
    let mut summary = Summary::default();
    let mut after = String::new();
    let all = crate::domain::State::ALL;
    loop {
        let rows = engine.store.wave_accounts(&wave.id, &all, None, &after, crate::engine::BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.account_number.clone();
        let numbers: Vec<String> = rows.iter().map(|r| r.account_number.clone()).collect();
        let mut current: Option<AccountRecon> = None;
        for (acct, data) in engine.store.verdicts(&numbers).await? {
            let v: PeriodVerdict = serde_json::from_str(&data).map_err(Failure::operational)?;
            if current.as_ref().is_none_or(|c| c.account_number != acct) {
                out.extend(current.take());
                current = Some(AccountRecon {
                    account_number: acct,
                    status: crate::reconcile::AccountStatus::Pass,
                    periods: vec![],
                });
            }
            if let Some(c) = current.as_mut() {
                c.periods.push(v);
            }
        }
        out.extend(current.take());
    }
    for a in &mut out {
        a.status = crate::reconcile::account_status(&a.periods);
        summary.accounts += 1;
        match a.status {
            crate::reconcile::AccountStatus::Pass => summary.passed += 1,
            crate::reconcile::AccountStatus::Fail => summary.failed += 1,
        }
        for p in &a.periods {
            summary.legacy_total += p.legacy_total;
            summary.new_total += p.new_total;
            summary.absolute_variance += p.difference.abs();
        }
    }
    if summary.accounts > 0 {
        summary.pass_rate = (Decimal::from(summary.passed) / Decimal::from(summary.accounts)).round_dp(4);
    }
    let gate = crate::reconcile::gate(summary.passed, summary.accounts, wave.gate.min_pass_rate);
    // Money at stake first.
    out.sort_by(|a, b| {
        let stake = |x: &AccountRecon| x.periods.iter().map(|p| p.difference.abs()).sum::<Decimal>();
        stake(b).cmp(&stake(a)).then_with(|| a.account_number.cmp(&b.account_number))
    });
    Ok(Reconciliation { wave: wave.id.clone(), tolerance: wave.tolerance, gate, summary, accounts: out })
}

pub fn reconciliation_out(r: &Reconciliation, format: Format) -> anyhow::Result<String> {
    match format {
        Format::Json => json(r),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(vec![]);
            w.write_record([
                "wave",
                "account_number",
                "account_status",
                "period",
                "legacy_total",
                "new_total",
                "difference",
                "status",
                "reasons",
            ])?;
            for a in &r.accounts {
                for p in &a.periods {
                    let reasons: Vec<_> = p.reasons.iter().map(|x| x.as_str()).collect();
                    w.write_record([
                        r.wave.as_str(),
                        &a.account_number,
                        if a.status == crate::reconcile::AccountStatus::Pass { "pass" } else { "fail" },
                        &p.period.to_string(),
                        &p.legacy_total.to_string(),
                        &p.new_total.to_string(),
                        &p.difference.to_string(),
                        serde_json::to_value(p.status)?.as_str().unwrap_or(""),
                        &reasons.join(";"),
                    ])?;
                }
            }
            Ok(String::from_utf8(w.into_inner()?)?)
        }
        Format::Text | Format::Html => {
            let s = &r.summary;
            let mut o = String::new();
            writeln!(o, "reconciliation of wave {} (tolerance {} per account and period)", r.wave, r.tolerance)?;
            writeln!(
                o,
                "accounts {}  passed {}  failed {}  pass rate {}%  legacy {}  new {}  |variance| {}  gate {:?}",
                s.accounts,
                s.passed,
                s.failed,
                (s.pass_rate * Decimal::from(100)).round_dp(1).normalize(),
                s.legacy_total,
                s.new_total,
                s.absolute_variance,
                r.gate
            )?;
            writeln!(
                o,
                "\n{:<10} {:<5} {:<8} {:>12} {:>12} {:>10}  reasons",
                "account", "", "period", "legacy", "new", "diff"
            )?;
            for a in r.accounts.iter().filter(|a| a.status == crate::reconcile::AccountStatus::Fail).take(50) {
                for p in a.periods.iter().filter(|p| p.status == crate::reconcile::PeriodStatus::Mismatch) {
                    let reasons: Vec<_> = p.reasons.iter().map(|x| x.as_str()).collect();
                    writeln!(
                        o,
                        "{:<10} {:<5} {:<8} {:>12} {:>12} {:>10}  {}",
                        a.account_number,
                        "FAIL",
                        p.period,
                        p.legacy_total,
                        p.new_total,
                        p.difference,
                        reasons.join(", ")
                    )?;
                }
            }
            Ok(o)
        }
    }
}

// ---------------------------------------------------------------------------------------- status

#[derive(Serialize)]
struct StatusRow<'a> {
    account_number: &'a str,
    wave: Option<&'a str>,
    state: crate::domain::State,
    reason: Option<&'a str>,
    cutover_date: Option<chrono::NaiveDate>,
    first_new_bill_date: Option<chrono::NaiveDate>,
    notice_date: Option<chrono::NaiveDate>,
}

pub async fn status(engine: &Engine, wave: Option<&str>, account: Option<&str>, format: Format) -> Result<String> {
    let store = &engine.store;
    if let Some(acct) = account {
        let row = store.account(acct).await?;
        let journal = store.journal(acct).await?;
        let quarantine = store.quarantine(Some(acct)).await?;
        if row.is_none() && quarantine.is_empty() {
            return Err(Failure::input(anyhow::anyhow!(
                "no account {acct} in the state store (run `cutover extract` first?)"
            )));
        }
        let legacy_billing = store.legacy_billing(acct).await?;
        if format == Format::Json {
            #[derive(Serialize)]
            struct One<'a> {
                account: Option<&'a crate::store::AccountRow>,
                legacy_billing: Option<String>,
                journal: &'a [crate::store::JournalRow],
                quarantined: &'a [crate::extract::Quarantined],
            }
            return json(&One { account: row.as_ref(), legacy_billing, journal: &journal, quarantined: &quarantine })
                .map_err(Failure::operational);
        }
        let mut o = String::new();
        if let Some(r) = &row {
            let _ = writeln!(
                o,
                "account {}  wave {}  state {}",
                r.account_number,
                r.wave.as_deref().unwrap_or("-"),
                r.state
            );
            let _ = writeln!(
                o,
                "  cut-over {}  first new bill {}  notice {}",
                r.cutover_date.map_or("-".into(), |d| d.to_string()),
                r.first_new_bill_date.map_or("-".into(), |d| d.to_string()),
                r.notice_date.map_or("-".into(), |d| d.to_string())
            );
            if let Some(lb) = legacy_billing {
                let _ = writeln!(o, "  legacy billing {lb}");
            }
        }
        let _ = writeln!(o, "journal:");
        for j in &journal {
            let _ = writeln!(o, "  {}  {:<11} -> {:<11} by {}: {}", j.at, j.from, j.to, j.actor, j.reason);
        }
        for q in &quarantine {
            let _ = writeln!(o, "quarantined: {} row {}: {}", q.source, q.row, q.reason);
        }
        return Ok(o);
    }
    if format == Format::Json {
        let mut rows = Vec::new();
        let mut after = String::new();
        loop {
            let page = store.accounts_page(wave, &after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.account_number.clone();
            rows.extend(page);
        }
        let accounts: Vec<StatusRow> = rows
            .iter()
            .map(|r| StatusRow {
                account_number: &r.account_number,
                wave: r.wave.as_deref(),
                state: r.state,
                reason: r.state_reason.as_deref(),
                cutover_date: r.cutover_date,
                first_new_bill_date: r.first_new_bill_date,
                notice_date: r.notice_date,
            })
            .collect();
        let quarantined = store.quarantine(None).await?;
        #[derive(Serialize)]
        struct All<'a> {
            accounts: Vec<StatusRow<'a>>,
            quarantined: Vec<crate::extract::Quarantined>,
        }
        return json(&All { accounts, quarantined }).map_err(Failure::operational);
    }
    let mut o = String::new();
    let waves: Vec<&str> = match wave {
        Some(w) => vec![w],
        None => engine.plan.waves.iter().map(|w| w.id.as_str()).collect(),
    };
    for w in waves {
        let counts = store.state_counts(Some(w)).await?;
        let list: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let _ = writeln!(o, "{w:<22} {}", if list.is_empty() { "no accounts yet".into() } else { list.join(", ") });
    }
    let q = store.quarantine(None).await?;
    if !q.is_empty() {
        let _ = writeln!(o, "\n{} quarantined row(s):", q.len());
        for x in q.iter().take(20) {
            let _ = writeln!(o, "  {} row {}: {}", x.source, x.row, x.reason);
        }
        if q.len() > 20 {
            let _ = writeln!(o, "  … (`status --format json` lists them all)");
        }
    }
    Ok(o)
}

pub async fn demo_summary(engine: &Engine) -> Result<String> {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n{:<20} {:>8} {:>8} {:>7} {:>10} {:>12} {:>8} {:>5} {:>6}",
        "wave", "accounts", "notices", "print", "pass rate", "|variance|", "cut over", "held", "quar."
    );
    for w in &engine.plan.waves {
        let counts = engine.store.state_counts(Some(&w.id)).await?;
        let n = |s: crate::domain::State| counts.iter().find(|(x, _)| *x == s).map_or(0, |c| c.1);
        let total: i64 = counts.iter().map(|c| c.1).sum();
        let notices = engine.store.notice_counts(&w.id).await?;
        let sent = |ch: &str| notices.iter().filter(|(s, c, _)| s == "sent" && c == ch).map(|x| x.2).sum::<i64>();
        let (pass_rate, variance) = if w.start.is_some() {
            let r = reconciliation(engine, w).await?;
            (
                format!("{}%", (r.summary.pass_rate * Decimal::from(100)).round_dp(1)),
                r.summary.absolute_variance.to_string(),
            )
        } else {
            ("not dated".into(), "-".into())
        };
        let _ = writeln!(
            o,
            "{:<20} {:>8} {:>8} {:>7} {:>10} {:>12} {:>8} {:>5} {:>6}",
            w.id,
            total,
            sent("email"),
            sent("print"),
            pass_rate,
            variance,
            n(crate::domain::State::CutOver),
            n(crate::domain::State::Held),
            n(crate::domain::State::Quarantined)
        );
    }
    let q = engine.store.quarantine(None).await?;
    let _ = writeln!(o, "quarantined legacy rows: {}", q.len());
    Ok(o)
}
