//! The reconciliation report as one self-contained HTML page: summary tiles, the gate's checks,
//! pass-rate and variance charts as inline SVG, a sortable and filterable table of accounts (a
//! little inline JavaScript), and a drill-down per account with the legacy and new bills side by
//! side and a line diff (`similar`). No external asset: the page works offline and as a mail
//! attachment. Pure. The markup is the template `templates/report.html`, rendered auto-escaped by
//! [`crate::output::render_html`]; this file gathers what it shows. Floats appear only as chart
//! coordinates, never as money.

use super::report::{AccountRecon, PeriodBills, Reconciliation, SHOWN, account_reasons, finding_words};
use super::{AccountStatus, PeriodStatus};
use crate::domain::Decimal;
use crate::output::OutputError;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

/// Most accounts listed in the table (the CSV has them all).
pub const TABLE_ROWS: usize = 2000;

/// The page's markup, styles and script.
const TEMPLATE: &str = include_str!("templates/report.html");

/// Chart geometry only (never money arithmetic): a Decimal as a float for SVG coordinates. The
/// amounts printed beside the bars are the Decimals themselves.
fn chart_coordinate(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

fn pct(d: Decimal) -> String {
    format!("{}%", (d * Decimal::ONE_HUNDRED).round_dp(1).normalize())
}

/// A coordinate as the page writes it: one decimal.
fn at(v: f64) -> String {
    format!("{v:.1}")
}

/// A size as the page writes it: as Rust displays it (`460`, not `460.0`).
fn size(v: f64) -> String {
    v.to_string()
}

#[derive(Serialize)]
struct Tile {
    label: &'static str,
    value: String,
    class: String,
}

/// Names shown in a sentence, at most [`SHOWN`], and how many more there are.
#[derive(Serialize)]
struct Names<'a> {
    count: usize,
    names: &'a [String],
    more: usize,
}

impl<'a> Names<'a> {
    fn of(v: &'a [String]) -> Self {
        Names { count: v.len(), names: &v[..v.len().min(SHOWN)], more: v.len().saturating_sub(SHOWN) }
    }
}

#[derive(Serialize)]
struct Changes<'a> {
    number: u64,
    previous: Option<u64>,
    fixed: Names<'a>,
    waived: Names<'a>,
    newly_failing: Names<'a>,
    still_failing: u64,
    added: u64,
    removed: u64,
    recorded: bool,
}

#[derive(Serialize)]
struct Row {
    number: String,
    linked: bool,
    outcome: &'static str,
    stake: Decimal,
    difference: Decimal,
    mismatched: usize,
    periods: usize,
    reasons: String,
}

#[derive(Serialize)]
struct Drill<'a> {
    number: &'a str,
    open: bool,
    outcome: &'static str,
    stake: Decimal,
    waiver: Option<&'a super::report::Waiver>,
    periods: Vec<PeriodView>,
}

#[derive(Serialize)]
struct LineView {
    code: String,
    description: String,
    product: String,
    charge: String,
    start: String,
    end: String,
    quantity: Decimal,
    unit_price: Decimal,
    amount: Decimal,
}

#[derive(Serialize)]
struct DiffLine {
    class: &'static str,
    sign: &'static str,
    text: String,
}

#[derive(Serialize)]
struct PeriodView {
    period: String,
    status: &'static str,
    legacy: Vec<LineView>,
    legacy_total: Decimal,
    new: Vec<LineView>,
    new_total: Decimal,
    diff: Vec<DiffLine>,
    findings: Vec<String>,
    legacy_final_usage: Option<Decimal>,
}

pub fn render(r: &Reconciliation) -> Result<String, OutputError> {
    let s = &r.summary;
    let gate_class = format!("gate-{}", r.gate.as_str());
    let tile = |label, value: String, class: &str| Tile { label, value, class: class.to_string() };
    let mut tiles = vec![
        tile("Gate", r.gate.as_str().to_uppercase(), &gate_class),
        tile("Accounts", s.accounts.to_string(), ""),
        tile("Passed", s.passed.to_string(), ""),
        tile("Failed", s.failed.to_string(), ""),
        tile("Waived", s.waived.to_string(), ""),
        tile("Pass rate", pct(s.pass_rate), ""),
        tile("Legacy total", crate::bill::money(s.legacy_total), ""),
        tile("New total", crate::bill::money(s.new_total), ""),
        tile("Abs. variance", crate::bill::money(s.absolute_variance), ""),
        tile("Unexplained", s.unexplained.to_string(), ""),
    ];
    if let Some(c) = &r.context {
        tiles.push(tile("Quarantined", c.quarantined.to_string(), "aside"));
        tiles.push(tile("Closed", c.closed.to_string(), "aside"));
    }
    let made = r.context.as_ref().map(|c| {
        format!(
            "as of {} · made {} by {}",
            c.as_of,
            c.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
            if c.operator.is_empty() { "an unnamed operator" } else { &c.operator }
        )
    });
    let checks: Vec<_> = r
        .gate_analysis
        .checks
        .iter()
        .map(|c| {
            minijinja::context! { metric => c.metric, value => c.value, limit => c.limit,
            on_breach => c.on_breach.as_str(), ok => c.ok }
        })
        .collect();
    let changes = r.run.as_ref().map(|run| Changes {
        number: run.number,
        previous: run.previous,
        fixed: Names::of(&run.changes.fixed),
        waived: Names::of(&run.changes.waived),
        newly_failing: Names::of(&run.changes.newly_failing),
        still_failing: run.changes.still_failing,
        added: run.changes.added,
        removed: run.changes.removed,
        recorded: run.recorded,
    });
    let listed: Vec<Row> = r
        .accounts
        .iter()
        .filter(|a| !a.stake.is_zero() || a.status == AccountStatus::Fail || !a.bills.is_empty())
        .take(TABLE_ROWS)
        .map(row)
        .collect();
    // Collapsed: the reader opens the account they want (from the table's link or its summary).
    let drilled: Vec<Drill> = r.accounts.iter().filter(|a| !a.bills.is_empty()).map(|a| drill(a, false)).collect();
    let ctx = minijinja::context! {
        wave => r.wave,
        run_title => r.run.as_ref().map(|x| format!(" — run #{}", x.number)).unwrap_or_default(),
        tolerance => format!("tolerance {}", super::report::tolerance_words(r)), made,
        tiles, pass_chart => pass_rate_chart(r), variance_chart => variance_chart(r),
        gate => r.gate.as_str(), promoted => r.gate_analysis.promoted, checks, changes,
        listed, accounts => s.accounts, drilled, fingerprint => r.fingerprint,
    };
    crate::output::render_html(TEMPLATE, ctx)
}

fn row(a: &AccountRecon) -> Row {
    Row {
        number: a.account_number.clone(),
        linked: !a.bills.is_empty(),
        outcome: a.outcome().as_str(),
        stake: a.stake,
        difference: a.periods.iter().map(|p| p.difference).sum(),
        mismatched: a.periods.iter().filter(|p| p.status == PeriodStatus::Mismatch).count(),
        periods: a.periods.len(),
        reasons: account_reasons(a).join(", "),
    }
}

/// Pass rate per run (bars) against the gate's minimum (a dashed line).
fn pass_rate_chart(r: &Reconciliation) -> minijinja::Value {
    let (w, h, left, bottom, top) = (460.0, 220.0, 44.0, 28.0, 12.0);
    let mut points: Vec<(String, Decimal)> =
        r.history.iter().map(|p| (format!("#{}", p.number), p.pass_rate)).collect();
    let current = r.run.as_ref().map_or("now".to_string(), |x| format!("#{}", x.number));
    if points.last().map(|p| &p.0) != Some(&current) {
        points.push((current, r.summary.pass_rate));
    }
    let points = &points[points.len().saturating_sub(12)..];
    let plot_h = h - bottom - top;
    let y = |v: f64| top + plot_h * (1.0 - v.clamp(0.0, 1.0));
    let grid: Vec<_> = [0.0, 0.25, 0.5, 0.75, 1.0]
        .into_iter()
        .map(|t| minijinja::context! { y => at(y(t)), label_y => at(y(t) + 3.0), pct => (t * 100.0) as u32 })
        .collect();
    let slot = (w - left) / points.len().max(1) as f64;
    let bar = (slot * 0.6).min(48.0);
    let bars: Vec<_> = points
        .iter()
        .enumerate()
        .map(|(i, (label, rate))| {
            let x = left + slot * i as f64 + (slot - bar) / 2.0;
            let v = chart_coordinate(*rate);
            minijinja::context! {
                x => at(x), y => at(y(v)), height => at(plot_h * v.clamp(0.0, 1.0)),
                color => if *rate >= r.min_pass_rate { "#2e9e5b" } else { "#e0a100" },
                label, pct => pct(*rate), center => at(x + bar / 2.0), value_y => at(y(v) - 3.0),
            }
        })
        .collect();
    minijinja::context! {
        w => size(w), h => size(h), left => size(left), label_x => size(left - 4.0), label_y => at(h - 10.0), bar => at(bar), grid, bars,
        min_y => at(y(chart_coordinate(r.min_pass_rate))), min_pct => pct(r.min_pass_rate),
    }
}

/// Absolute variance by reason (horizontal bars); accepted reasons are drawn lighter.
fn variance_chart(r: &Reconciliation) -> minijinja::Value {
    let rows: Vec<_> = r.summary.reasons.iter().collect();
    let (w, row_h, left) = (460.0, 24.0, 150.0);
    let h = (rows.len().max(1) as f64) * row_h + 16.0;
    let max = rows.iter().map(|(_, t)| chart_coordinate(t.amount)).fold(0.0_f64, f64::max).max(0.01);
    let bars: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, (reason, t))| {
            let y = 8.0 + i as f64 * row_h;
            let len = (w - left - 90.0) * chart_coordinate(t.amount) / max;
            let color = match (**reason, r.accept.contains(reason)) {
                (super::Reason::Unexplained, _) => "#c93a3a",
                (_, true) => "#9cc7e8",
                _ => "#3b7dc4",
            };
            minijinja::context! {
                reason => reason.as_str(), text_y => at(y + row_h * 0.55), y => at(y), len => at(len), color,
                count => t.count, amount => t.amount, amount_x => at(left + len + 4.0),
            }
        })
        .collect();
    minijinja::context! {
        w => size(w), h => size(h), left => size(left), label_x => size(left - 6.0), bar_h => at(row_h - 8.0), bars, total => r.summary.absolute_variance,
    }
}

fn line_text_legacy(l: &crate::domain::LegacyLine) -> String {
    let d = |x: Option<chrono::NaiveDate>| x.map_or("?".to_string(), |d| d.to_string());
    format!(
        "{:<12} {}..{} {:>10} x {:>10} = {:>10}",
        l.legacy_code,
        d(l.service_start),
        d(l.service_end),
        l.quantity.normalize(),
        l.unit_price.normalize(),
        l.amount
    )
}

fn line_text_new(l: &crate::rate::BillLine) -> String {
    format!(
        "{:<12} {}..{} {:>10} x {:>10} = {:>10}",
        l.legacy_code,
        l.service_start,
        l.service_end,
        l.quantity.normalize(),
        l.unit_price.normalize(),
        l.amount
    )
}

fn drill(a: &AccountRecon, open: bool) -> Drill<'_> {
    Drill {
        number: &a.account_number,
        open,
        outcome: a.outcome().as_str(),
        stake: a.stake,
        waiver: a.waiver.as_ref(),
        periods: {
            // Mismatching periods first, then the others, each in period order.
            let mut views: Vec<PeriodView> = a.bills.iter().map(|b| period(a, b)).collect();
            views.sort_by_key(|v| v.status != PeriodStatus::Mismatch.as_str());
            views
        },
    }
}

fn period(a: &AccountRecon, b: &PeriodBills) -> PeriodView {
    let verdict = a.periods.iter().find(|p| p.period == b.period);
    let d = |x: Option<chrono::NaiveDate>| x.map_or("?".to_string(), |d| d.to_string());
    let mut legacy: Vec<&crate::domain::LegacyLine> = b.legacy.iter().collect();
    legacy.sort_by(|x, y| (&x.legacy_code, x.service_start).cmp(&(&y.legacy_code, y.service_start)));
    let mut new_lines: Vec<&crate::rate::BillLine> =
        b.new.as_ref().map(|n| n.lines.iter().collect()).unwrap_or_default();
    new_lines.sort_by(|x, y| (&x.legacy_code, x.service_start).cmp(&(&y.legacy_code, y.service_start)));
    // The line diff: each side as text, one line per bill line, diffed line by line.
    let old_text: String = legacy.iter().map(|l| line_text_legacy(l) + "\n").collect();
    let new_text: String = new_lines.iter().map(|l| line_text_new(l) + "\n").collect();
    let diff = similar::TextDiff::from_lines(&old_text, &new_text)
        .iter_all_changes()
        .map(|change| {
            let (class, sign) = match change.tag() {
                similar::ChangeTag::Delete => ("del", "- legacy "),
                similar::ChangeTag::Insert => ("ins", "+ new    "),
                similar::ChangeTag::Equal => ("eq", "  both   "),
            };
            DiffLine { class, sign, text: change.value().trim_end_matches('\n').to_string() }
        })
        .collect();
    PeriodView {
        period: b.period.to_string(),
        status: verdict.map_or("not compared", |v| v.status.as_str()),
        legacy_total: legacy.iter().map(|l| l.amount).sum(),
        legacy: legacy
            .iter()
            .map(|l| LineView {
                code: l.legacy_code.clone(),
                description: l.description.clone(),
                product: String::new(),
                charge: String::new(),
                start: d(l.service_start),
                end: d(l.service_end),
                quantity: l.quantity.normalize(),
                unit_price: l.unit_price.normalize(),
                amount: l.amount,
            })
            .collect(),
        new_total: b.new.as_ref().map_or(Decimal::ZERO, |n| n.total),
        new: new_lines
            .iter()
            .map(|l| LineView {
                code: l.legacy_code.to_string(),
                description: String::new(),
                product: l.product.to_string(),
                charge: l.charge.to_string(),
                start: l.service_start.to_string(),
                end: l.service_end.to_string(),
                quantity: l.quantity.normalize(),
                unit_price: l.unit_price.normalize(),
                amount: l.amount,
            })
            .collect(),
        diff,
        findings: verdict.map(|v| v.findings.iter().map(finding_words).collect()).unwrap_or_default(),
        legacy_final_usage: verdict.map(|v| v.legacy_final_usage).filter(|u| !u.is_zero()),
    }
}
