//! The reconciliation report as one self-contained HTML page: summary tiles, the gate's checks,
//! pass-rate and variance charts as inline SVG, a sortable and filterable table of accounts (a
//! little inline JavaScript), and a drill-down per account with the legacy and new bills side by
//! side and a line diff (`similar`). No external asset: the page works offline and as a mail
//! attachment. Pure. Floats appear only as chart coordinates, never as money.

use super::report::{AccountRecon, PeriodBills, Reconciliation, SHOWN, finding_words};
use super::{AccountStatus, PeriodStatus};
use crate::domain::Decimal;
use crate::output::{OutputError, esc};
use rust_decimal::prelude::ToPrimitive;
use std::fmt::Write;

/// Most accounts listed in the table (the CSV has them all).
pub const TABLE_ROWS: usize = 2000;

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f4f6f9}
header{background:#1d2b44;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}header p{margin:0;opacity:.85}
main{padding:18px 28px}section{margin-bottom:26px}h2{font-size:17px;margin:0 0 10px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.tile{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.tile span{display:block;font-size:12px;color:#5b6474;text-transform:uppercase;letter-spacing:.04em}.tile b{font-size:20px}
.gate-proceed{border-left:6px solid #2e9e5b}.gate-pause{border-left:6px solid #e0a100}.gate-abort{border-left:6px solid #c93a3a}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:14px}
figure{background:#fff;margin:0;border-radius:8px;padding:10px;box-shadow:0 1px 2px rgba(0,0,0,.08)}figcaption{font-weight:600;margin-bottom:6px}
table{border-collapse:collapse;background:#fff;width:100%;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:5px 9px;border-bottom:1px solid #e6e9ef;text-align:left;vertical-align:top}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th[data-sort]{cursor:pointer;user-select:none}th[data-sort]:after{content:" \2195";color:#9aa3b2}
tr.fail td:nth-child(2){color:#c93a3a;font-weight:600}tr.waived td:nth-child(2){color:#a06b00;font-weight:600}tr.pass td:nth-child(2){color:#2e9e5b}
.controls{margin:0 0 8px;display:flex;gap:8px}.controls input,.controls select{padding:5px 8px;border:1px solid #c5cbd6;border-radius:5px}
details.account{background:#fff;border-radius:8px;margin-bottom:10px;padding:8px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
details.account summary{cursor:pointer;font-weight:600}.side{display:grid;grid-template-columns:1fr 1fr;gap:12px;margin:8px 0}
.side h4{margin:4px 0}pre.diff{background:#fbfcfe;border:1px solid #e6e9ef;padding:8px;overflow:auto;font-size:12px}
pre.diff .del{background:#fde7e7;color:#8c1d1d;display:block}pre.diff .ins{background:#e3f6e9;color:#14592e;display:block}pre.diff .eq{display:block;color:#5b6474}
td.svc{white-space:nowrap}.ok{color:#2e9e5b}.bad{color:#c93a3a;font-weight:600}.muted{color:#5b6474}
"#;

const SCRIPT: &str = r#"
(function(){
  var table=document.getElementById('accounts');if(!table)return;
  var body=table.tBodies[0],filter=document.getElementById('filter'),status=document.getElementById('status-filter');
  function apply(){var q=filter.value.toLowerCase(),s=status.value,n=0;
    Array.prototype.forEach.call(body.rows,function(r){var show=(!s||r.dataset.status===s)&&r.textContent.toLowerCase().indexOf(q)>=0;r.style.display=show?'':'none';if(show)n++;});
    document.getElementById('shown').textContent=n;}
  filter.addEventListener('input',apply);status.addEventListener('change',apply);
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){if(!th.dataset.sort)return;
    th.addEventListener('click',function(){var asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';
      var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;
        var c=th.dataset.sort==='num'?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);return asc?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});});});
  apply();
  table.setAttribute('data-ready','yes');
})();
"#;

/// Chart geometry only (never money arithmetic): a Decimal as a float for SVG coordinates. The
/// amounts printed beside the bars are the Decimals themselves.
fn chart_coordinate(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

fn pct(d: Decimal) -> String {
    format!("{}%", (d * Decimal::ONE_HUNDRED).round_dp(1).normalize())
}

pub fn render(r: &Reconciliation) -> Result<String, OutputError> {
    let s = &r.summary;
    let mut o = String::new();
    let run = r.run.as_ref().map(|x| format!(" — run #{}", x.number)).unwrap_or_default();
    writeln!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Reconciliation of {}{}</title><style>{STYLE}</style></head><body>",
        esc(&r.wave),
        esc(&run)
    )?;
    let tol = format!("tolerance {}", super::report::tolerance_words(r));
    writeln!(
        o,
        "<header><h1>Reconciliation of wave {}{}</h1><p>{}</p></header><main>",
        esc(&r.wave),
        esc(&run),
        esc(&tol)
    )?;

    // Tiles.
    let gate_class = format!("gate-{}", r.gate.as_str());
    writeln!(o, "<section class=\"tiles\" id=\"tiles\">")?;
    let tiles: Vec<(&str, String, &str)> = vec![
        ("Gate", r.gate.as_str().to_uppercase(), gate_class.as_str()),
        ("Accounts", s.accounts.to_string(), ""),
        ("Passed", s.passed.to_string(), ""),
        ("Failed", s.failed.to_string(), ""),
        ("Waived", s.waived.to_string(), ""),
        ("Pass rate", pct(s.pass_rate), ""),
        ("Legacy total", s.legacy_total.to_string(), ""),
        ("New total", s.new_total.to_string(), ""),
        ("Abs. variance", s.absolute_variance.to_string(), ""),
        ("Unexplained", s.unexplained.to_string(), ""),
    ];
    for (label, value, class) in tiles {
        writeln!(o, "<div class=\"tile {class}\"><span>{label}</span><b>{}</b></div>", esc(&value))?;
    }
    writeln!(o, "</section>")?;

    // Charts.
    writeln!(o, "<section class=\"charts\">")?;
    pass_rate_chart(&mut o, r)?;
    variance_chart(&mut o, r)?;
    writeln!(o, "</section>")?;

    // Gate.
    writeln!(o, "<section><h2>Gate: {}</h2>", r.gate.as_str())?;
    if let Some(p) = &r.gate_analysis.promoted {
        writeln!(
            o,
            "<p>The analysis said <b>pause</b>; promoted by {} at {}: {}</p>",
            esc(&p.actor),
            esc(&p.at),
            esc(&p.reason)
        )?;
    }
    writeln!(
        o,
        "<table id=\"gate-checks\"><thead><tr><th>metric</th><th class=\"num\">value</th><th>limit</th><th>on breach</th><th>ok</th></tr></thead><tbody>"
    )?;
    for c in &r.gate_analysis.checks {
        writeln!(
            o,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            esc(&c.metric),
            esc(&c.value),
            esc(&c.limit),
            c.on_breach.as_str(),
            if c.ok { "ok" } else { "bad" },
            if c.ok { "yes" } else { "no" }
        )?;
    }
    writeln!(o, "</tbody></table>")?;
    if let Some(run) = &r.run {
        let c = &run.changes;
        match run.previous {
            None => writeln!(o, "<p id=\"changes\">Run #{}: the first run of this wave.</p>", run.number)?,
            Some(prev) => writeln!(
                o,
                "<p id=\"changes\">Since run #{prev}: <b>{}</b> fixed{}, <b>{}</b> waived{}, <b>{}</b> newly failing{}, {} still failing, {} added, {} removed{}.</p>",
                c.fixed.len(),
                list(&c.fixed),
                c.waived.len(),
                list(&c.waived),
                c.newly_failing.len(),
                list(&c.newly_failing),
                c.still_failing,
                c.added,
                c.removed,
                if run.recorded { "" } else { " (same outcome as the last run; not recorded again)" }
            )?,
        }
    }
    writeln!(o, "</section>")?;

    // Accounts table.
    let listed: Vec<&AccountRecon> = r
        .accounts
        .iter()
        .filter(|a| !a.stake.is_zero() || a.status == AccountStatus::Fail || !a.bills.is_empty())
        .take(TABLE_ROWS)
        .collect();
    writeln!(
        o,
        "<section><h2>Accounts with differences, by money at stake</h2><div class=\"controls\">\
         <input id=\"filter\" type=\"search\" placeholder=\"filter: account, reason…\">\
         <select id=\"status-filter\"><option value=\"\">every status</option><option value=\"fail\">fail</option>\
         <option value=\"waived\">waived</option><option value=\"pass\">pass</option></select>\
         <span class=\"muted\"><span id=\"shown\">{}</span> shown of {} with a difference ({} accounts in the wave)</span></div>",
        listed.len(),
        listed.len(),
        s.accounts
    )?;
    writeln!(
        o,
        "<table id=\"accounts\"><thead><tr><th data-sort=\"text\">account</th><th data-sort=\"text\">status</th>\
         <th data-sort=\"num\" class=\"num\">at stake</th><th data-sort=\"num\" class=\"num\">difference</th>\
         <th data-sort=\"num\" class=\"num\">mismatched periods</th><th>reasons</th></tr></thead><tbody>"
    )?;
    for a in &listed {
        let diff: Decimal = a.periods.iter().map(|p| p.difference).sum();
        let mism = a.periods.iter().filter(|p| p.status == PeriodStatus::Mismatch).count();
        let mut reasons: Vec<&str> = a.periods.iter().flat_map(|p| p.reasons.iter().map(|x| x.as_str())).collect();
        reasons.sort_unstable();
        reasons.dedup();
        let name = if a.bills.is_empty() {
            esc(&a.account_number)
        } else {
            format!("<a href=\"#acct-{0}\">{0}</a>", esc(&a.account_number))
        };
        writeln!(
            o,
            "<tr class=\"{0}\" data-status=\"{0}\"><td>{name}</td><td>{0}</td><td class=\"num\" data-v=\"{1}\">{1}</td>\
             <td class=\"num\" data-v=\"{2}\">{2}</td><td class=\"num\" data-v=\"{mism}\">{mism}/{3}</td><td>{4}</td></tr>",
            a.outcome(),
            a.stake,
            diff,
            a.periods.len(),
            esc(&reasons.join(", "))
        )?;
    }
    writeln!(o, "</tbody></table></section>")?;

    // Drill-down.
    let drilled: Vec<&AccountRecon> = r.accounts.iter().filter(|a| !a.bills.is_empty()).collect();
    if !drilled.is_empty() {
        writeln!(o, "<section id=\"drill\"><h2>Drill-down: legacy and new bills side by side</h2>")?;
        for (i, a) in drilled.iter().enumerate() {
            drill(&mut o, a, i < 3)?;
        }
        writeln!(o, "</section>")?;
    }
    writeln!(
        o,
        "<p class=\"muted\">fingerprint {}</p></main><script>{SCRIPT}</script></body></html>",
        esc(&r.fingerprint)
    )?;
    Ok(o)
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = v.iter().take(SHOWN).map(|x| esc(x)).collect();
    let more = if v.len() > SHOWN { format!(" … {} more", v.len() - SHOWN) } else { String::new() };
    format!(" ({}{more})", shown.join(", "))
}

/// Pass rate per run (bars) against the gate's minimum (a dashed line).
fn pass_rate_chart(o: &mut String, r: &Reconciliation) -> Result<(), OutputError> {
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
    writeln!(
        o,
        "<figure id=\"chart-pass-rate\"><figcaption>Pass rate by run (dashed: the gate's minimum, {})</figcaption>\
         <svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"pass rate by run\" xmlns=\"http://www.w3.org/2000/svg\">",
        pct(r.min_pass_rate)
    )?;
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        writeln!(
            o,
            "<line x1=\"{left}\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#e6e9ef\"/><text x=\"{1}\" y=\"{2:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#5b6474\">{3}%</text>",
            y(t),
            left - 4.0,
            y(t) + 3.0,
            (t * 100.0) as u32
        )?;
    }
    let slot = (w - left) / points.len().max(1) as f64;
    let bar = (slot * 0.6).min(48.0);
    for (i, (label, rate)) in points.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let v = chart_coordinate(*rate);
        let color = if *rate >= r.min_pass_rate { "#2e9e5b" } else { "#e0a100" };
        writeln!(
            o,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{0:.1}\" width=\"{bar:.1}\" height=\"{1:.1}\" fill=\"{color}\"><title>{label}: {2}</title></rect>\
             <text x=\"{3:.1}\" y=\"{4:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#1d2430\">{2}</text>\
             <text x=\"{3:.1}\" y=\"{5:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#5b6474\">{label}</text>",
            y(v),
            plot_h * v.clamp(0.0, 1.0),
            pct(*rate),
            x + bar / 2.0,
            y(v) - 3.0,
            h - 10.0
        )?;
    }
    let min = chart_coordinate(r.min_pass_rate);
    writeln!(
        o,
        "<line x1=\"{left}\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#c93a3a\" stroke-dasharray=\"5 4\"><title>gate minimum {1}</title></line></svg></figure>",
        y(min),
        pct(r.min_pass_rate)
    )?;
    Ok(())
}

/// Absolute variance by reason (horizontal bars); accepted reasons are drawn lighter.
fn variance_chart(o: &mut String, r: &Reconciliation) -> Result<(), OutputError> {
    let rows: Vec<_> = r.summary.reasons.iter().collect();
    let (w, row_h, left) = (460.0, 24.0, 150.0);
    let h = (rows.len().max(1) as f64) * row_h + 16.0;
    let max = rows.iter().map(|(_, t)| chart_coordinate(t.amount)).fold(0.0_f64, f64::max).max(0.01);
    writeln!(
        o,
        "<figure id=\"chart-variance\"><figcaption>Absolute variance by reason (total {})</figcaption>\
         <svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"variance by reason\" xmlns=\"http://www.w3.org/2000/svg\">",
        r.summary.absolute_variance
    )?;
    if rows.is_empty() {
        writeln!(o, "<text x=\"10\" y=\"24\" font-size=\"13\" fill=\"#2e9e5b\">no difference</text>")?;
    }
    for (i, (reason, t)) in rows.iter().enumerate() {
        let y = 8.0 + i as f64 * row_h;
        let len = (w - left - 90.0) * chart_coordinate(t.amount) / max;
        let accepted = r.accept.contains(reason);
        let color = match (**reason, accepted) {
            (super::Reason::Unexplained, _) => "#c93a3a",
            (_, true) => "#9cc7e8",
            _ => "#3b7dc4",
        };
        writeln!(
            o,
            "<text x=\"{0}\" y=\"{1:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#1d2430\">{2}</text>\
             <rect class=\"bar\" x=\"{left}\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"{3:.1}\" fill=\"{color}\"><title>{2}: {4} lines, {5}</title></rect>\
             <text x=\"{6:.1}\" y=\"{1:.1}\" font-size=\"10\" fill=\"#5b6474\">{5} ({4})</text>",
            left - 6.0,
            y + row_h * 0.55,
            reason.as_str(),
            row_h - 8.0,
            t.count,
            t.amount,
            left + len + 4.0
        )?;
    }
    writeln!(o, "</svg></figure>")?;
    Ok(())
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

fn drill(o: &mut String, a: &AccountRecon, open: bool) -> Result<(), OutputError> {
    writeln!(
        o,
        "<details class=\"account\" id=\"acct-{0}\"{1}><summary>{0} — {2}, at stake {3}</summary>",
        esc(&a.account_number),
        if open { " open" } else { "" },
        a.outcome(),
        a.stake
    )?;
    if let Some(w) = &a.waiver {
        writeln!(o, "<p>Waived by {} at {}: {}</p>", esc(&w.actor), esc(&w.at), esc(&w.reason))?;
    }
    for b in &a.bills {
        period(o, a, b)?;
    }
    writeln!(o, "</details>")?;
    Ok(())
}

fn period(o: &mut String, a: &AccountRecon, b: &PeriodBills) -> Result<(), OutputError> {
    let verdict = a.periods.iter().find(|p| p.period == b.period);
    let status = verdict.map_or("not compared", |v| v.status.as_str());
    writeln!(o, "<h3>{} <span class=\"muted\">{status}</span></h3><div class=\"side\">", b.period)?;
    let mut legacy: Vec<&crate::domain::LegacyLine> = b.legacy.iter().collect();
    legacy.sort_by(|x, y| (&x.legacy_code, x.service_start).cmp(&(&y.legacy_code, y.service_start)));
    writeln!(
        o,
        "<div><h4>Legacy bill</h4><table class=\"legacy\"><thead><tr><th>code</th><th>description</th><th>service</th><th class=\"num\">qty</th><th class=\"num\">unit price</th><th class=\"num\">amount</th></tr></thead><tbody>"
    )?;
    for l in &legacy {
        let d = |x: Option<chrono::NaiveDate>| x.map_or("?".to_string(), |d| d.to_string());
        writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"svc\">{}..{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&l.legacy_code),
            esc(&l.description),
            d(l.service_start),
            d(l.service_end),
            l.quantity.normalize(),
            l.unit_price.normalize(),
            l.amount
        )?;
    }
    let legacy_total: Decimal = legacy.iter().map(|l| l.amount).sum();
    writeln!(o, "<tr><th colspan=\"5\">total</th><th class=\"num\">{legacy_total}</th></tr></tbody></table></div>")?;
    writeln!(
        o,
        "<div><h4>New bill</h4><table class=\"new\"><thead><tr><th>code</th><th>product / charge</th><th>service</th><th class=\"num\">qty</th><th class=\"num\">unit price</th><th class=\"num\">amount</th></tr></thead><tbody>"
    )?;
    let mut new_lines: Vec<&crate::rate::BillLine> =
        b.new.as_ref().map(|n| n.lines.iter().collect()).unwrap_or_default();
    new_lines.sort_by(|x, y| (&x.legacy_code, x.service_start).cmp(&(&y.legacy_code, y.service_start)));
    for l in &new_lines {
        writeln!(
            o,
            "<tr><td>{}</td><td>{} / {}</td><td class=\"svc\">{}..{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&l.legacy_code),
            esc(&l.product),
            esc(&l.charge),
            l.service_start,
            l.service_end,
            l.quantity.normalize(),
            l.unit_price.normalize(),
            l.amount
        )?;
    }
    let new_total = b.new.as_ref().map_or(Decimal::ZERO, |n| n.total);
    writeln!(o, "<tr><th colspan=\"5\">total</th><th class=\"num\">{new_total}</th></tr></tbody></table></div></div>")?;
    // The line diff: each side as text, one line per bill line, diffed line by line.
    let old_text: String = legacy.iter().map(|l| line_text_legacy(l) + "\n").collect();
    let new_text: String = new_lines.iter().map(|l| line_text_new(l) + "\n").collect();
    writeln!(o, "<pre class=\"diff\">")?;
    for change in similar::TextDiff::from_lines(&old_text, &new_text).iter_all_changes() {
        let (class, sign) = match change.tag() {
            similar::ChangeTag::Delete => ("del", "- legacy "),
            similar::ChangeTag::Insert => ("ins", "+ new    "),
            similar::ChangeTag::Equal => ("eq", "  both   "),
        };
        write!(o, "<span class=\"{class}\">{sign}{}</span>", esc(change.value().trim_end_matches('\n')))?;
    }
    writeln!(o, "</pre>")?;
    if let Some(v) = verdict
        && !v.findings.is_empty()
    {
        writeln!(o, "<ul class=\"findings\">")?;
        for f in &v.findings {
            writeln!(o, "<li>{}</li>", esc(&finding_words(f)))?;
        }
        writeln!(o, "</ul>")?;
    }
    if let Some(v) = verdict
        && !v.legacy_final_usage.is_zero()
    {
        writeln!(
            o,
            "<p class=\"findings\">Usage lines for {} stay with the legacy system's final usage bill (usage_carryover: legacy): set aside, not compared.</p>",
            v.legacy_final_usage
        )?;
    }
    Ok(())
}
