//! The reconciliation report: a wave's verdicts summed up, with the gate, in every format. Pure.

use super::{AccountStatus, GateVerdict, PeriodStatus, PeriodVerdict};
use crate::domain::Decimal;
use crate::output::{Format, OutputError, json};
use serde::Serialize;
use std::fmt::Write;

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
    pub status: AccountStatus,
    pub periods: Vec<PeriodVerdict>,
}

/// Sums up a wave's account verdicts, decides the gate, and sorts by money at stake.
pub fn summarize(
    wave: &str,
    tolerance: Decimal,
    min_pass_rate: Decimal,
    mut accounts: Vec<AccountRecon>,
) -> Reconciliation {
    let mut summary = Summary::default();
    for a in &mut accounts {
        a.status = super::account_status(&a.periods);
        summary.accounts += 1;
        match a.status {
            AccountStatus::Pass => summary.passed += 1,
            AccountStatus::Fail => summary.failed += 1,
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
    let gate = super::gate(summary.passed, summary.accounts, min_pass_rate);
    let stake = |x: &AccountRecon| x.periods.iter().map(|p| p.difference.abs()).sum::<Decimal>();
    accounts.sort_by(|a, b| stake(b).cmp(&stake(a)).then_with(|| a.account_number.cmp(&b.account_number)));
    Reconciliation { wave: wave.to_string(), tolerance, gate, summary, accounts }
}

/// Renders the report.
pub fn render(r: &Reconciliation, format: Format) -> Result<String, OutputError> {
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
                        if a.status == AccountStatus::Pass { "pass" } else { "fail" },
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
        Format::Text | Format::Html | Format::Markdown => {
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
            for a in r.accounts.iter().filter(|a| a.status == AccountStatus::Fail).take(50) {
                for p in a.periods.iter().filter(|p| p.status == PeriodStatus::Mismatch) {
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
