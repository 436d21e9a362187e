//! The reconciliation report: a wave's verdicts summed up, with the gate and what changed since
//! the previous run, in every format (text, JSON, CSV per period, CSV per line difference,
//! Markdown, self-contained HTML). Pure: the engine gathers, this module decides and renders.

use super::gate::{self, GateMetrics, GateResult, GateVerdict, Promotion};
use super::{AccountStatus, Finding, PeriodStatus, PeriodVerdict, Policy, Reason};
use crate::domain::{Decimal, LegacyLine, Period};
use crate::output::{Format, OutputError, json};
use crate::plan::Wave;
use crate::rate::NewBill;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Reconciliation {
    pub wave: String,
    pub tolerance: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_pct: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_tolerance: Option<Decimal>,
    pub accept: Vec<Reason>,
    /// The verdict (SPEC §6): `proceed`, `pause` or `abort`.
    pub gate: GateVerdict,
    /// The gate's checks and numbers, and a promotion if a person gave one.
    pub gate_analysis: GateResult,
    pub summary: Summary,
    /// The numbered run this report is, and what changed since the previous one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// Earlier runs of the wave, oldest first (for the charts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RunPoint>,
    /// Sorted by money at stake, largest first.
    pub accounts: Vec<AccountRecon>,
    /// Identifies this reconciliation's outcome (statuses, stakes, reasons), independent of order.
    pub fingerprint: String,
    /// The gate's minimum pass rate (drawn on the pass-rate chart).
    #[serde(skip)]
    pub min_pass_rate: Decimal,
    /// When, as of which day and by whom the report was made, and the wave's accounts it leaves
    /// out (quarantined, closed); filled in by the engine, absent from a pure `summarize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ReportContext>,
}

/// Where a report comes from, for its header (SPEC §6 `context`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportContext {
    /// The run's as-of day: the legacy bills it compares are those issued by then.
    pub as_of: chrono::NaiveDate,
    /// The wall-clock time the report was made.
    pub generated_at: chrono::DateTime<chrono::Utc>,
    pub operator: String,
    /// Accounts of the wave with a quarantined legacy row (not reconciled until fixed).
    pub quarantined: u64,
    /// Accounts of the wave held because they closed in the legacy system.
    pub closed: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub accounts: u64,
    pub passed: u64,
    /// Failing accounts, waived ones included.
    pub failed: u64,
    /// Failing accounts a person waived (they may be switched).
    pub waived: u64,
    pub legacy_total: Decimal,
    pub new_total: Decimal,
    /// Sum of |difference| over every period.
    pub absolute_variance: Decimal,
    /// (passed + waived) / accounts
    pub pass_rate: Decimal,
    pub periods: u64,
    pub mismatched_periods: u64,
    /// Line differences no reason explains.
    pub unexplained: u64,
    /// Line differences per reason: how many and the sum of |difference|.
    pub reasons: BTreeMap<Reason, ReasonTotal>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ReasonTotal {
    pub count: u64,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiver {
    pub reason: String,
    pub actor: String,
    pub at: String,
    /// The failure it was granted for, as the reconciliation described it (`None`: granted
    /// before waivers were tied to a failure; it covers any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covers: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AccountRecon {
    pub account_number: String,
    pub status: AccountStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<Waiver>,
    /// Sum of |difference| over the account's periods: the money at stake.
    pub stake: Decimal,
    pub periods: Vec<PeriodVerdict>,
    /// The bills side by side, for the HTML drill-down (filled for the accounts shown there).
    #[serde(skip)]
    pub bills: Vec<PeriodBills>,
}

impl AccountRecon {
    pub fn new(account_number: String, periods: Vec<PeriodVerdict>) -> AccountRecon {
        AccountRecon {
            account_number,
            status: AccountStatus::Pass,
            waiver: None,
            stake: Decimal::ZERO,
            periods,
            bills: vec![],
        }
    }

    /// Pass, fail, or waived (a failing account a person waived).
    pub fn outcome(&self) -> Outcome {
        match (self.status, &self.waiver) {
            (AccountStatus::Pass, _) => Outcome::Pass,
            (AccountStatus::Fail, Some(_)) => Outcome::Waived,
            (AccountStatus::Fail, None) => Outcome::Fail,
        }
    }
}

/// An account's outcome in a reconciliation: its status, with a person's waiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Waived,
    Fail,
}

crate::domain::spelled! {
    Outcome {
        Pass => "pass",
        Waived => "waived",
        Fail => "fail",
    } unknown: |s| format!("unknown reconciliation outcome `{s}`")
}

/// One period's bills: what the legacy system billed and what the new model bills.
#[derive(Debug, Clone)]
pub struct PeriodBills {
    pub period: Period,
    pub legacy: Vec<LegacyLine>,
    pub new: Option<NewBill>,
}

/// This report as a numbered run of the wave.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub number: u64,
    pub at: String,
    /// False when the outcome was the same as the last recorded run (nothing recorded again).
    pub recorded: bool,
    pub previous: Option<u64>,
    pub changes: Changes,
}

/// What changed since the previous run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Changes {
    /// Failing (or waived) before, passing now.
    pub fixed: Vec<String>,
    /// Failing before, waived by a person now.
    pub waived: Vec<String>,
    /// Passing before (or not there), failing now.
    pub newly_failing: Vec<String>,
    pub still_failing: u64,
    /// Accounts in this run and not the previous one.
    pub added: u64,
    /// Accounts in the previous run and not this one.
    pub removed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunPoint {
    pub number: u64,
    pub pass_rate: Decimal,
    pub absolute_variance: Decimal,
}

/// One account's line in a stored run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub account_number: String,
    pub outcome: Outcome,
    pub stake: String,
    pub reasons: String,
}

/// What a run needs of one compared account: kept per account by the reconcile stage (the
/// store's `recon_tally`), so that recording a run reads one short row per account instead of
/// every period's verdict. [`summarize`] and [`tallied_run`] both sum these, so a report and a
/// stage's run agree to the last cent and have the same fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub account_number: String,
    pub status: AccountStatus,
    /// Sum of |difference| over the account's periods.
    pub stake: Decimal,
    /// The distinct reasons of its periods, sorted, joined with `;`.
    pub reasons: String,
    pub legacy_total: Decimal,
    pub new_total: Decimal,
    pub unexplained: u64,
    pub periods: u64,
    pub mismatched: u64,
}

impl Tally {
    /// An account's tally from its period verdicts, under the wave's policy.
    pub fn of(account_number: &str, periods: &[PeriodVerdict], policy: &Policy) -> Tally {
        Tally {
            account_number: account_number.to_string(),
            status: super::account_status(periods, policy),
            stake: periods.iter().map(|p| p.difference.abs()).sum(),
            reasons: distinct_reasons(periods).join(";"),
            legacy_total: periods.iter().map(|p| p.legacy_total).sum(),
            new_total: periods.iter().map(|p| p.new_total).sum(),
            unexplained: periods.iter().map(PeriodVerdict::unexplained).sum(),
            periods: periods.len() as u64,
            mismatched: periods.iter().filter(|p| p.status == PeriodStatus::Mismatch).count() as u64,
        }
    }

    /// Its outcome with a person's waiver (which only a failing account can use).
    pub fn outcome(&self, waiver: Option<&Waiver>) -> Outcome {
        match (self.status, waiver) {
            (AccountStatus::Pass, _) => Outcome::Pass,
            (AccountStatus::Fail, Some(_)) => Outcome::Waived,
            (AccountStatus::Fail, None) => Outcome::Fail,
        }
    }

    /// Its line in a stored run.
    pub fn result(&self, waiver: Option<&Waiver>) -> RunResult {
        RunResult {
            account_number: self.account_number.clone(),
            outcome: self.outcome(waiver),
            stake: self.stake.normalize().to_string(),
            reasons: self.reasons.clone(),
        }
    }
}

impl Summary {
    /// Adds one account (its tally and outcome); `pass_rate` is set by [`Summary::close`].
    fn add(&mut self, t: &Tally, outcome: Outcome) {
        self.accounts += 1;
        match outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Waived => {
                self.failed += 1;
                self.waived += 1
            }
            Outcome::Fail => self.failed += 1,
        }
        self.periods += t.periods;
        self.mismatched_periods += t.mismatched;
        self.legacy_total += t.legacy_total;
        self.new_total += t.new_total;
        self.absolute_variance += t.stake;
        self.unexplained += t.unexplained;
    }

    /// The gate's numbers, with the pass rate filled in.
    fn close(&mut self) -> GateMetrics {
        let metrics = GateMetrics {
            accounts: self.accounts,
            passing: self.passed + self.waived,
            absolute_variance: self.absolute_variance,
            unexplained: self.unexplained,
        };
        self.pass_rate = metrics.pass_rate();
        metrics
    }
}

/// A run as the reconcile stage records it: from the tallies alone (no per-reason table).
#[derive(Debug)]
pub struct TalliedRun {
    pub summary: Summary,
    /// In account order.
    pub results: Vec<RunResult>,
    pub fingerprint: String,
    pub gate: GateVerdict,
}

/// Sums up a wave's tallies as [`summarize`] sums its verdicts: the same summary, results,
/// fingerprint and gate.
pub fn tallied_run<'t>(
    wave: &Wave,
    tallies: impl IntoIterator<Item = &'t Tally>,
    waivers: &HashMap<String, Waiver>,
    promotion: Option<&Promotion>,
) -> TalliedRun {
    let mut summary = Summary::default();
    let mut results = Vec::new();
    for t in tallies {
        let waiver = waivers.get(&t.account_number);
        summary.add(t, t.outcome(waiver));
        results.push(t.result(waiver));
    }
    let metrics = summary.close();
    results.sort_by(|a, b| a.account_number.cmp(&b.account_number));
    let fingerprint = fingerprint(&results);
    let gate = gate::evaluate(&wave.gate, &metrics, &fingerprint, promotion).verdict;
    TalliedRun { summary, results, fingerprint, gate }
}

/// Sums up a wave's account verdicts, decides each account and the gate, and sorts by money at
/// stake. `waivers` are by account number; `promotion` is the wave's latest promotion, if any.
pub fn summarize(
    wave: &Wave,
    mut accounts: Vec<AccountRecon>,
    waivers: &HashMap<String, Waiver>,
    promotion: Option<&Promotion>,
) -> Reconciliation {
    let policy = Policy::of(wave);
    let mut summary = Summary::default();
    let mut results = Vec::with_capacity(accounts.len());
    for a in &mut accounts {
        let tally = Tally::of(&a.account_number, &a.periods, &policy);
        let waiver = waivers.get(&a.account_number);
        a.status = tally.status;
        a.waiver = if a.status == AccountStatus::Fail { waiver.cloned() } else { None };
        a.stake = tally.stake;
        summary.add(&tally, tally.outcome(waiver));
        results.push(tally.result(waiver));
        for f in a.periods.iter().flat_map(|p| &p.findings) {
            let t = summary.reasons.entry(f.reason).or_default();
            t.count += 1;
            t.amount += f.difference().abs();
        }
    }
    let metrics = summary.close();
    results.sort_by(|a, b| a.account_number.cmp(&b.account_number));
    let print = fingerprint(&results);
    let gate_analysis = gate::evaluate(&wave.gate, &metrics, &print, promotion);
    accounts.sort_by(|a, b| b.stake.cmp(&a.stake).then_with(|| a.account_number.cmp(&b.account_number)));
    Reconciliation {
        wave: wave.id.clone(),
        tolerance: wave.tolerance,
        tolerance_pct: wave.tolerance_pct,
        account_tolerance: wave.account_tolerance,
        accept: policy.accept,
        gate: gate_analysis.verdict,
        gate_analysis,
        summary,
        run: None,
        history: vec![],
        accounts,
        fingerprint: print,
        min_pass_rate: wave.gate.min_pass_rate,
        context: None,
    }
}

/// The per-account lines a run keeps, in account order.
pub fn results(accounts: &[AccountRecon]) -> Vec<RunResult> {
    let mut out: Vec<RunResult> = accounts
        .iter()
        .map(|a| RunResult {
            account_number: a.account_number.clone(),
            outcome: a.outcome(),
            stake: a.periods.iter().map(|p| p.difference.abs()).sum::<Decimal>().normalize().to_string(),
            reasons: account_reasons(a).join(";"),
        })
        .collect();
    out.sort_by(|a, b| a.account_number.cmp(&b.account_number));
    out
}

/// A stable 64-bit FNV-1a hash of a run's results, as hex: two runs with the same outcome for
/// every account have the same fingerprint.
pub fn fingerprint(results: &[RunResult]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for r in results {
        for part in [r.account_number.as_str(), r.outcome.as_str(), &r.stake, &r.reasons] {
            for b in part.bytes().chain([0x1f]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h ^= 0x1e;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What changed between two runs' results (each in any order).
pub fn changes(previous: &[RunResult], current: &[RunResult]) -> Changes {
    let before: HashMap<&str, Outcome> = previous.iter().map(|r| (r.account_number.as_str(), r.outcome)).collect();
    let now: HashMap<&str, Outcome> = current.iter().map(|r| (r.account_number.as_str(), r.outcome)).collect();
    let mut c = Changes::default();
    for r in current {
        use Outcome::{Fail, Pass, Waived};
        match (before.get(r.account_number.as_str()).copied(), r.outcome) {
            (None, o) => {
                c.added += 1;
                if o == Fail {
                    c.newly_failing.push(r.account_number.clone());
                }
            }
            (Some(Fail), Fail) => c.still_failing += 1,
            (Some(Fail), Waived) => c.waived.push(r.account_number.clone()),
            (Some(Fail | Waived), Pass) => c.fixed.push(r.account_number.clone()),
            (Some(_), Fail) => c.newly_failing.push(r.account_number.clone()),
            _ => {}
        }
    }
    c.removed = previous.iter().filter(|r| !now.contains_key(r.account_number.as_str())).count() as u64;
    c.fixed.sort();
    c.waived.sort();
    c.newly_failing.sort();
    c
}

// ------------------------------------------------------------------------------------ rendering

fn pct(rate: Decimal) -> String {
    format!("{}%", (rate * Decimal::ONE_HUNDRED).round_dp(1).normalize())
}

/// The summary's figures as the text and Markdown reports show them, in their order: accounts,
/// passed, failed, waived, pass rate, legacy total, new total, absolute variance, unexplained.
fn summary_cells(s: &Summary) -> [String; 9] {
    [
        s.accounts.to_string(),
        s.passed.to_string(),
        s.failed.to_string(),
        s.waived.to_string(),
        pct(s.pass_rate),
        s.legacy_total.to_string(),
        s.new_total.to_string(),
        s.absolute_variance.to_string(),
        s.unexplained.to_string(),
    ]
}

fn reasons_of(p: &PeriodVerdict) -> String {
    p.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(";")
}

/// The distinct reasons of an account's periods, sorted: the one place they are gathered.
pub(super) fn account_reasons(a: &AccountRecon) -> Vec<&'static str> {
    distinct_reasons(&a.periods)
}

fn distinct_reasons(periods: &[PeriodVerdict]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = periods.iter().flat_map(|p| p.reasons.iter().map(|r| r.as_str())).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Renders the report. `Format::Csv` is one row per account and period; see [`render_lines_csv`]
/// for one row per line difference.
pub fn render(r: &Reconciliation, format: Format) -> Result<String, OutputError> {
    match format {
        Format::Json => json(r),
        Format::Csv => render_csv(r),
        Format::Text => render_text(r),
        Format::Markdown => render_markdown(r),
        Format::Html => super::html::render(r),
    }
}

fn render_csv(r: &Reconciliation) -> Result<String, OutputError> {
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
        "unaccepted",
        "allowed",
        "gate",
        "run",
    ])?;
    let run = r.run.as_ref().map(|x| x.number.to_string()).unwrap_or_default();
    for a in &r.accounts {
        for p in &a.periods {
            w.write_record([
                r.wave.as_str(),
                &a.account_number,
                a.outcome().as_str(),
                &p.period.to_string(),
                &p.legacy_total.to_string(),
                &p.new_total.to_string(),
                &p.difference.to_string(),
                p.status.as_str(),
                &reasons_of(p),
                &p.unaccepted.to_string(),
                &p.allowed.to_string(),
                r.gate.as_str(),
                &run,
            ])?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// One row per line difference (every finding of every period).
pub fn render_lines_csv(r: &Reconciliation) -> Result<String, OutputError> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record([
        "wave",
        "account_number",
        "period",
        "legacy_code",
        "service_start",
        "service_end",
        "reason",
        "accepted",
        "legacy_quantity",
        "new_quantity",
        "legacy_unit_price",
        "new_unit_price",
        "legacy_amount",
        "new_amount",
        "difference",
        "period_status",
        "detail",
    ])?;
    let opt = |d: Option<Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
    for a in &r.accounts {
        for p in &a.periods {
            for f in &p.findings {
                w.write_record([
                    r.wave.as_str(),
                    &a.account_number,
                    &p.period.to_string(),
                    &f.legacy_code,
                    &f.service_start.map(|d| d.to_string()).unwrap_or_default(),
                    &f.service_end.map(|d| d.to_string()).unwrap_or_default(),
                    f.reason.as_str(),
                    if f.accepted { "true" } else { "false" },
                    &opt(f.legacy_quantity),
                    &opt(f.new_quantity),
                    &opt(f.legacy_unit_price),
                    &opt(f.new_unit_price),
                    &f.legacy_amount.to_string(),
                    &f.new_amount.to_string(),
                    &f.difference().to_string(),
                    p.status.as_str(),
                    &f.detail,
                ])?;
            }
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// How many accounts the people-facing tables show.
pub const SHOWN: usize = 40;

fn render_text(r: &Reconciliation) -> Result<String, OutputError> {
    let s = &r.summary;
    let mut o = String::new();
    let run = r.run.as_ref().map(|x| format!(" — run #{}", x.number)).unwrap_or_default();
    writeln!(o, "reconciliation of wave {}{run}", r.wave)?;
    writeln!(o, "tolerance {}", tolerance_words(r))?;
    let [accounts, passed, failed, waived, rate, legacy, new, variance, unexplained] = summary_cells(s);
    writeln!(
        o,
        "accounts {accounts}  passed {passed}  failed {failed} (waived {waived})  pass rate {rate}  legacy {legacy}  \
         new {new}  |variance| {variance}  unexplained {unexplained}"
    )?;
    writeln!(o, "\ngate {}{}", r.gate.as_str().to_uppercase(), promoted_words(&r.gate_analysis))?;
    for c in &r.gate_analysis.checks {
        writeln!(
            o,
            "  {} {:<18} {:>14}  limit {:<14} ({} on breach)",
            if c.ok { "ok  " } else { "FAIL" },
            c.metric,
            c.value,
            c.limit,
            c.on_breach.as_str()
        )?;
    }
    if let Some(run) = &r.run {
        writeln!(o, "\n{}", changes_words(run))?;
    }
    if !s.reasons.is_empty() {
        writeln!(o, "\n{:<22} {:>8} {:>14}", "reason", "lines", "|difference|")?;
        for (reason, t) in &s.reasons {
            let mark = if r.accept.contains(reason) { " (accepted)" } else { "" };
            writeln!(o, "{:<22} {:>8} {:>14}{mark}", reason.as_str(), t.count, t.amount)?;
        }
    }
    let shown: Vec<_> = r.accounts.iter().filter(|a| !a.stake.is_zero() || a.status == AccountStatus::Fail).collect();
    if !shown.is_empty() {
        writeln!(o, "\naccounts by money at stake (largest first)")?;
        writeln!(o, "{:<12} {:<7} {:>12} {:>8}  reasons", "account", "status", "at stake", "periods")?;
        for a in shown.iter().take(SHOWN) {
            let mism = a.periods.iter().filter(|p| p.status == PeriodStatus::Mismatch).count();
            writeln!(
                o,
                "{:<12} {:<7} {:>12} {:>8}  {}",
                a.account_number,
                a.outcome().as_str(),
                a.stake,
                format!("{mism}/{}", a.periods.len()),
                account_reasons(a).join(", ")
            )?;
        }
        if shown.len() > SHOWN {
            writeln!(o, "… {} more (--format csv lists every account and period)", shown.len() - SHOWN)?;
        }
    }
    Ok(o)
}

/// The wave's tolerances and accepted reasons, in words.
pub(super) fn tolerance_words(r: &Reconciliation) -> String {
    let mut t = format!("{} per period", r.tolerance);
    if let Some(p) = r.tolerance_pct {
        t.push_str(&format!(" or {}% of the legacy total", p.normalize()));
    }
    if let Some(a) = r.account_tolerance {
        t.push_str(&format!(", {a} per account"));
    }
    if !r.accept.is_empty() {
        let acc: Vec<_> = r.accept.iter().map(|x| x.as_str()).collect();
        t.push_str(&format!("; accepted as expected: {}", acc.join(", ")));
    }
    t
}

fn promoted_words(g: &GateResult) -> String {
    match &g.promoted {
        Some(p) => format!(" (analysis said pause; promoted by {} at {}: {})", p.actor, p.at, p.reason),
        None => String::new(),
    }
}

fn changes_words(run: &RunInfo) -> String {
    let c = &run.changes;
    let Some(prev) = run.previous else {
        return format!("run #{}: the first run of this wave", run.number);
    };
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else if v.len() > 10 {
            format!("{} … and {} more", v[..10].join(", "), v.len() - 10)
        } else {
            v.join(", ")
        }
    };
    // Not recorded: this outcome is the last run's, and the changes are that run's.
    let head = if run.recorded {
        format!("since run #{prev}")
    } else {
        let n = run.number;
        format!("unchanged since run #{n}, so no new run is kept; run #{n} against run #{prev}")
    };
    format!(
        "{head}: fixed {} [{}]; waived {} [{}]; newly failing {} [{}]; still failing {}; added {}, removed {}",
        c.fixed.len(),
        list(&c.fixed),
        c.waived.len(),
        list(&c.waived),
        c.newly_failing.len(),
        list(&c.newly_failing),
        c.still_failing,
        c.added,
        c.removed
    )
}

fn render_markdown(r: &Reconciliation) -> Result<String, OutputError> {
    let s = &r.summary;
    let mut o = String::new();
    let run = r.run.as_ref().map(|x| format!(" — run #{}", x.number)).unwrap_or_default();
    writeln!(o, "# Reconciliation of wave `{}`{run}\n", r.wave)?;
    writeln!(o, "Gate: **{}**{}\n", r.gate.as_str(), promoted_words(&r.gate_analysis))?;
    writeln!(o, "| metric | value | limit | on breach | ok |\n|---|---:|---|---|---|")?;
    for c in &r.gate_analysis.checks {
        writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            c.metric,
            c.value,
            c.limit,
            c.on_breach.as_str(),
            if c.ok { "yes" } else { "**no**" }
        )?;
    }
    writeln!(o, "\nTolerance: {}\n", tolerance_words(r))?;
    writeln!(
        o,
        "| accounts | passed | failed | waived | pass rate | legacy total | new total | abs. variance | unexplained |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    writeln!(o, "| {} |", summary_cells(s).join(" | "))?;
    if let Some(run) = &r.run {
        writeln!(o, "\n{}", changes_words(run))?;
    }
    if !s.reasons.is_empty() {
        writeln!(
            o,
            "\n## Differences by reason\n\n| reason | lines | abs. difference | accepted |\n|---|---:|---:|---|"
        )?;
        for (reason, t) in &s.reasons {
            writeln!(
                o,
                "| {} | {} | {} | {} |",
                reason.as_str(),
                t.count,
                t.amount,
                if r.accept.contains(reason) { "yes" } else { "no" }
            )?;
        }
    }
    let shown: Vec<_> = r.accounts.iter().filter(|a| !a.stake.is_zero() || a.status == AccountStatus::Fail).collect();
    if !shown.is_empty() {
        writeln!(
            o,
            "\n## Accounts by money at stake\n\n| account | status | at stake | reasons |\n|---|---|---:|---|"
        )?;
        for a in shown.iter().take(SHOWN) {
            writeln!(
                o,
                "| {} | {} | {} | {} |",
                a.account_number.replace('|', "\\|"),
                a.outcome().as_str(),
                a.stake,
                account_reasons(a).join(", ")
            )?;
        }
        if shown.len() > SHOWN {
            writeln!(o, "\n… {} more accounts (see the CSV).", shown.len() - SHOWN)?;
        }
    }
    Ok(o)
}

/// A finding, one line, for the drill-down and the text diff.
pub fn finding_words(f: &Finding) -> String {
    format!(
        "{} {:+} {}{}: {}",
        f.legacy_code,
        f.difference(),
        f.reason.as_str(),
        if f.accepted { " (accepted)" } else { "" },
        f.detail
    )
}
