//! What the command line prints that no library module owns: run and demo summaries, status.

use super::Failure;
use crate::domain::Decimal;
use crate::engine::{Engine, RunReport};
use crate::output::{Format, json};
use crate::reconcile::GateVerdict;
use serde::Serialize;
use std::fmt::Write;

type Result<T> = std::result::Result<T, Failure>;

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
    let _ = writeln!(s, "  gate        {}", r.gate.unwrap_or(GateVerdict::Pause).as_str());
    let _ = writeln!(s, "  cut over    {:>6}  held {:>4}", r.switched.done, r.switched.held);
    // What a person should read, from every stage (a sending limit too low, dates missed).
    for n in [&r.rated, &r.reconciled, &r.notified, &r.switched].into_iter().flat_map(|x| &x.notes) {
        let _ = writeln!(s, "  note: {n}");
    }
    s
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

/// `status`: one account (its dates, legacy suppression, journal and quarantined rows), or the
/// waves (accounts per state, loads, warnings, quarantine), or the accounts in one state.
pub async fn status(
    engine: &Engine,
    wave: Option<&str>,
    account: Option<&str>,
    state: Option<crate::domain::State>,
    format: Format,
) -> Result<String> {
    match account {
        Some(acct) => account_status(engine, acct, format).await,
        None => waves_status(engine, wave, state, format).await,
    }
}

async fn account_status(engine: &Engine, acct: &str, format: Format) -> Result<String> {
    let store = &engine.store;
    let row = store.account(acct).await?;
    let journal = store.journal(acct).await?;
    let quarantine = store.quarantine(Some(acct)).await?;
    if row.is_none() && quarantine.is_empty() {
        return Err(crate::store::StoreError::NoAccount(acct.to_string()).into());
    }
    let legacy_billing = store.legacy_billing(acct).await?;
    let cut = store.cutover(acct).await?;
    // Its legacy records, read once: its billing addresses and its legacy bills come from them.
    let legacy = store.legacy_accounts(&[acct.to_string()]).await?;
    let suppression = match &cut {
        Some(c) => Some(Suppression::of(engine, c, legacy.first()).await?),
        None => None,
    };
    // Where its notice and bills go: the one list of billing addresses (the form's, else the
    // legacy system's), valid ones only.
    let form = store.recipients(acct).await?;
    let billing_emails: Vec<String> = legacy
        .first()
        .map(|a| crate::notify::recipients(&a.billing_emails(form.as_ref().map(|f| &f.emails[..]))).0)
        .unwrap_or_default()
        .iter()
        .map(|e| e.to_string())
        .collect();
    if format == Format::Json {
        #[derive(Serialize)]
        struct One<'a> {
            account: Option<&'a crate::store::AccountRow>,
            /// Where its notice and bills go by email (none: a printed letter).
            billing_emails: &'a [String],
            legacy_billing: Option<String>,
            suppression: Option<&'a Suppression>,
            journal: &'a [crate::store::JournalRow],
            quarantined: &'a [crate::extract::Quarantined],
        }
        return json(&One {
            account: row.as_ref(),
            billing_emails: &billing_emails,
            legacy_billing,
            suppression: suppression.as_ref(),
            journal: &journal,
            quarantined: &quarantine,
        })
        .map_err(Failure::operational);
    }
    let mut o = String::new();
    if let Some(r) = &row {
        let _ =
            writeln!(o, "account {}  wave {}  state {}", r.account_number, r.wave.as_deref().unwrap_or("-"), r.state);
        let _ = writeln!(
            o,
            "  cut-over {}  first new bill {}  notice {}",
            r.cutover_date.map_or("-".into(), |d| d.to_string()),
            r.first_new_bill_date.map_or("-".into(), |d| d.to_string()),
            r.notice_date.map_or("-".into(), |d| d.to_string())
        );
        // Cut over: the target bills the addresses of its load files, taken at the cut-over.
        let loaded = suppression.as_ref().and_then(|s| s.load_emails.as_ref());
        let _ = match (loaded, &form, billing_emails.is_empty()) {
            (Some(sent), _, _) => writeln!(
                o,
                "  bills to (its load files, as of its cut-over): {}{}",
                if sent.is_empty() { "by post (no valid billing email)".to_string() } else { sent.join(", ") },
                if *sent == billing_emails {
                    String::new()
                } else {
                    format!(
                        "; the addresses on file now are {}: change them in the target system",
                        if billing_emails.is_empty() { "none".to_string() } else { billing_emails.join(", ") }
                    )
                }
            ),
            (None, _, true) => writeln!(o, "  notice and bills: no valid billing email, so by post (a printed letter)"),
            (None, Some(f), false) => writeln!(
                o,
                "  notice and bills to: {} (the form's, submitted {})",
                billing_emails.join(", "),
                f.submitted_at
            ),
            (None, None, false) => {
                writeln!(o, "  notice and bills to: {} (the legacy system's)", billing_emails.join(", "))
            }
        };
        // Rolled back, or its load failed: the suppression below was withdrawn, not in force. (Its
        // state may have moved on since: a readmitted account is `extracted` again.)
        let withdrawn = (legacy_billing.as_deref() == Some("restored")).then(|| {
            if suppression.as_ref().is_some_and(|s| s.load_status == "failed") {
                "as its load failed"
            } else {
                "by the rollback"
            }
        });
        if let Some(lb) = legacy_billing {
            let _ = writeln!(o, "  legacy billing {lb}");
        }
        if let Some(s) = &suppression {
            let _ = writeln!(
                o,
                "  legacy suppression{}: last legacy service day {}, suppress billing from {}, stop payment \
                 retries from {}; final usage bill by the legacy system: {} ({})",
                withdrawn
                    .map(|by| format!(
                        ", withdrawn {by} (the legacy system bills from {} again)",
                        s.suppress_billing_from
                    ))
                    .unwrap_or_default(),
                s.last_legacy_service_through,
                s.suppress_billing_from,
                s.stop_payment_retries_from,
                s.final_usage_bill,
                s.usage_period
            );
            let _ = writeln!(
                o,
                "  load set {} ({}); load {}{}",
                s.set,
                match (s.written, withdrawn.is_some()) {
                    (true, true) => "suppression record withdrawn: see its rollback.csv",
                    (true, false) => "suppression record written",
                    (false, _) => "files not written yet",
                },
                if s.load_status == "success" { "confirmed (loaded)" } else { s.load_status.as_str() },
                s.target_id.as_deref().map(|t| format!(", target id {t}")).unwrap_or_default()
            );
            if !s.billed_twice.is_empty() {
                let bills: Vec<String> = s
                    .billed_twice
                    .iter()
                    .map(|b| format!("{} {} {}", b.period, s.currency, crate::bill::money(b.amount)))
                    .collect();
                let _ = writeln!(
                    o,
                    "  BILLED TWICE: the legacy system billed it after it was to stop: {}; have the legacy team \
                     credit these bills and apply its suppression record",
                    bills.join(", ")
                );
            }
        }
    }
    let _ = writeln!(o, "journal:");
    for j in &journal {
        let _ = writeln!(o, "  {}  {:<11} -> {:<11} by {}: {}", j.at, j.from, j.to, j.actor, j.reason);
    }
    for q in &quarantine {
        let _ = writeln!(o, "quarantined: {} row {}: {}", q.source, q.row, q.reason);
    }
    Ok(o)
}

// Long: one status view (a page of accounts at a time) in every output format.
async fn waves_status(
    engine: &Engine,
    wave: Option<&str>,
    state: Option<crate::domain::State>,
    format: Format,
) -> Result<String> {
    let store = &engine.store;
    // The accounts of the view (a wave or all), a page at a time; with --state, those in it.
    let mut rows = Vec::new();
    let mut members = std::collections::HashSet::new();
    let mut after = String::new();
    let needed = format == Format::Json || state.is_some() || wave.is_some();
    loop {
        if !needed {
            break;
        }
        let page = store.accounts_page(wave, &after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.account_number.clone();
        for r in page {
            if wave.is_some() {
                members.insert(r.account_number.clone());
            }
            // Kept: every row for JSON, the state's rows for --state (text mode lists nothing else).
            let listed = format == Format::Json || state.is_some();
            if listed && state.is_none_or(|s| s == r.state) {
                rows.push(r);
            }
        }
    }
    // Quarantined rows: all of them, or a wave's accounts' only.
    let quarantined: Vec<crate::extract::Quarantined> = store
        .quarantine(None)
        .await?
        .into_iter()
        .filter(|q| wave.is_none() || q.account_number.as_ref().is_some_and(|a| members.contains(a)))
        .collect();
    let extraction_warnings = store.last_extraction().await?.map(|x| x.warnings).unwrap_or_default();
    if format == Format::Json {
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
        #[derive(Serialize)]
        struct All<'a> {
            accounts: Vec<StatusRow<'a>>,
            quarantined: Vec<crate::extract::Quarantined>,
            extraction_warnings: Vec<String>,
        }
        return json(&All { accounts, quarantined, extraction_warnings }).map_err(Failure::operational);
    }
    let mut o = String::new();
    if let Some(st) = state {
        let _ = writeln!(o, "{} account(s) {st}{}:", rows.len(), wave.map_or(String::new(), |w| format!(" in {w}")));
        for r in &rows {
            let _ = writeln!(
                o,
                "  {:<12} {:<20} {}",
                r.account_number,
                r.wave.as_deref().unwrap_or("-"),
                r.state_reason.as_deref().unwrap_or("")
            );
        }
        return Ok(o);
    }
    let waves: Vec<&str> = match wave {
        Some(w) => vec![w],
        None => engine.plan.waves.iter().map(|w| w.id.as_str()).collect(),
    };
    for w in waves {
        let counts = store.state_counts(Some(w)).await?;
        let closed = store.closed_held(w).await?;
        let list: Vec<String> = counts
            .iter()
            .map(|(s, n)| match s {
                crate::domain::State::Held if closed > 0 => format!("held {n} (closed {closed})"),
                _ => format!("{s} {n}"),
            })
            .collect();
        let _ = writeln!(o, "{w:<22} {}", if list.is_empty() { "no accounts yet".into() } else { list.join(", ") });
        let l = store.load_counts(w).await?;
        if l != crate::store::LoadCounts::default() {
            let _ = writeln!(
                o,
                "{:<22} load: {} loaded, {} failed, {} unconfirmed (`switch --confirm RESULTS.csv`)",
                "", l.loaded, l.failed, l.unconfirmed
            );
        }
    }
    if wave.is_none() {
        o.push_str(&outside_the_plan(engine).await?);
    }
    if !extraction_warnings.is_empty() {
        let _ = writeln!(o, "\nextraction warning(s):");
        for w in &extraction_warnings {
            let _ = writeln!(o, "  {w}");
        }
    }
    if !quarantined.is_empty() {
        let _ = writeln!(o, "\n{} quarantined row(s):", quarantined.len());
        for x in quarantined.iter().take(20) {
            let _ = writeln!(o, "  {} row {}: {}", x.source, x.row, x.reason);
        }
        if quarantined.len() > 20 {
            let _ = writeln!(o, "  … (`status --format json` lists them all)");
        }
    }
    let _ = writeln!(o, "\n(`status --state held` lists the held accounts with their reasons)");
    Ok(o)
}

/// How many load sets under `import` (`<wave>/<date>/`) have notes in their manifest, and how
/// many notes they have together. A set without a readable manifest counts none.
fn load_set_notes(import: &std::path::Path) -> (usize, usize) {
    let folders = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()
    };
    let (mut sets, mut notes) = (0, 0);
    for set in folders(import).iter().flat_map(|wave| folders(wave)) {
        let n = crate::engine::manifest_notes(&set).len();
        if n > 0 {
            sets += 1;
            notes += n;
        }
    }
    (sets, notes)
}

/// The accounts the plan's waves do not hold, as lines of `status`: those it selects for no wave
/// (a wave's `select` changed, or never matched them) and those of a wave no longer in the plan.
/// Without these lines they would be in no line of the overview.
async fn outside_the_plan(engine: &Engine) -> Result<String> {
    let mut groups: std::collections::BTreeMap<Option<String>, Vec<String>> = Default::default();
    for (w, state, n) in engine.store.wave_state_counts().await? {
        if w.as_deref().is_none_or(|w| engine.plan.wave(w).is_none()) {
            groups.entry(w).or_default().push(format!("{state} {n}"));
        }
    }
    let mut o = String::new();
    for (w, counts) in groups {
        let (label, why) = match &w {
            None => ("(no wave)".to_string(), "the plan selects them for no wave"),
            Some(w) => (w.clone(), "a wave the plan does not name now: it left the plan, or its file has errors"),
        };
        let _ = writeln!(o, "{label:<22} {}  ({why}; `status --state STATE` lists them)", counts.join(", "));
    }
    Ok(o)
}

/// The legacy side of an account's cut-over (what `legacy-suppression.csv` says about it).
#[derive(Serialize)]
struct Suppression {
    set: String,
    written: bool,
    /// Written and still standing: false once a rollback or a failed load withdrew it (the
    /// legacy system bills the account again). Extended in round 29.
    in_force: bool,
    last_legacy_service_through: chrono::NaiveDate,
    suppress_billing_from: chrono::NaiveDate,
    stop_payment_retries_from: chrono::NaiveDate,
    final_usage_bill: &'static str,
    usage_period: String,
    load_status: String,
    target_id: Option<String>,
    /// Legacy bills issued after the suppression, by the last extraction's day: the customer's
    /// second bills, per period (in JSON only when there are).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    billed_twice: Vec<BilledTwice>,
    #[serde(skip)]
    currency: String,
    /// Cut over or loaded: the addresses its load files give the target (its snapshot's).
    #[serde(skip)]
    load_emails: Option<Vec<String>>,
}

/// A legacy bill of a period the new system bills.
#[derive(Serialize)]
struct BilledTwice {
    period: String,
    amount: crate::domain::Decimal,
}

impl Suppression {
    /// `legacy`: the account's legacy records, for the bills issued since the cut-over.
    async fn of(
        engine: &Engine,
        c: &crate::store::CutoverRow,
        legacy: Option<&crate::domain::LegacyAccount>,
    ) -> Result<Suppression> {
        let member: Option<crate::switch::Member> = serde_json::from_str(&c.snapshot).ok();
        let carry = member.as_ref().map(|m| m.usage_carryover).unwrap_or_default();
        let cycle = member.as_ref().map_or(1, |m| m.account.account.bill_cycle_day);
        let last = crate::switch::last_legacy_period(c.first_new_bill_date, cycle);
        let billed_twice = match legacy {
            Some(acct) => billed_twice(engine, c, acct).await?,
            None => Vec::new(),
        };
        let cut_over = matches!(c.state, crate::domain::State::CutOver | crate::domain::State::Loaded);
        Ok(Suppression {
            set: engine.set_dir(&c.wave, c.cutover_date).display().to_string(),
            written: c.published,
            in_force: c.published && cut_over,
            last_legacy_service_through: c.cutover_date,
            suppress_billing_from: c.first_new_bill_date,
            stop_payment_retries_from: c.first_new_bill_date,
            final_usage_bill: if carry == crate::plan::UsageCarryover::Legacy { "yes" } else { "no" },
            usage_period: format!("{}..{}", last.start, last.end),
            load_status: match (c.state, c.load_status.as_deref()) {
                (crate::domain::State::CutOver | crate::domain::State::Loaded, Some(s)) => s.to_string(),
                (crate::domain::State::CutOver, None) => "unconfirmed".into(),
                (_, Some("failed")) => "failed".into(),
                _ => "rolled back".into(),
            },
            target_id: c.target_id.clone(),
            billed_twice,
            currency: member.as_ref().map(|m| m.account.account.currency.clone()).unwrap_or_default(),
            load_emails: member.filter(|_| cut_over).map(|m| m.emails),
        })
    }
}

/// What the legacy system billed a cut-over account after it was to stop, as the last
/// extraction saw it: the same rule on the same inputs as the extraction's check
/// ([`crate::switch::Suppressed::billed_twice`]: the wave's carry-over in the plan, `new` when
/// the wave left it, and the legacy record's cycle day).
async fn billed_twice(
    engine: &Engine,
    c: &crate::store::CutoverRow,
    acct: &crate::domain::LegacyAccount,
) -> Result<Vec<BilledTwice>> {
    use crate::domain::State;
    let suppressed =
        c.legacy_billing == "suppressed" && c.published && matches!(c.state, State::CutOver | State::Loaded);
    let Some(last) = engine.store.last_extraction().await?.filter(|_| suppressed) else { return Ok(Vec::new()) };
    let Some(as_of) = chrono::DateTime::parse_from_rfc3339(&last.started_at).ok().map(|t| t.date_naive()) else {
        return Ok(Vec::new());
    };
    let still = billed_twice_as_of(engine, c, acct, as_of);
    Ok(still.into_iter().map(|(p, amount)| BilledTwice { period: p.to_string(), amount }).collect())
}

/// The periods the legacy system billed `acct` a second time by `as_of`, with what it still owes
/// back ([`crate::switch::Suppressed`]: the wave's carry-over in the plan, `new` when the wave
/// left it, and the legacy record's cycle day). The one rule of `status` and `bill --legacy`.
pub(super) fn billed_twice_as_of(
    engine: &Engine,
    c: &crate::store::CutoverRow,
    acct: &crate::domain::LegacyAccount,
    as_of: chrono::NaiveDate,
) -> Vec<(crate::domain::Period, crate::domain::Decimal)> {
    let usage_carryover = engine.plan.wave(&c.wave).map(|w| w.usage_carryover).unwrap_or_default();
    let cycle_day = acct.account.bill_cycle_day;
    let s = crate::switch::Suppressed { first_new_bill_date: c.first_new_bill_date, usage_carryover, cycle_day };
    let mut per: std::collections::BTreeMap<crate::domain::Period, crate::domain::Decimal> = Default::default();
    for l in &acct.invoice_lines {
        if s.billed_twice(l, engine.plan.catalog.bills_usage(&l.legacy_code), as_of) {
            *per.entry(l.period).or_default() += l.amount;
        }
    }
    crate::switch::Suppressed::still_billed(per)
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
        let sent = |ch: &str| {
            notices
                .iter()
                .filter(|(s, c, _)| *s == crate::store::NoticeState::Sent && c == ch)
                .map(|x| x.2)
                .sum::<i64>()
        };
        // The wave's latest reconciliation run holds its pass rate and variance: one row.
        let (pass_rate, variance) = match engine.store.latest_run(&w.id).await? {
            _ if w.start.is_none() => ("not dated".into(), "-".into()),
            Some(run) => {
                let rate = run.pass_rate * Decimal::from(100);
                (format!("{}%", rate.round_dp(1).normalize()), run.absolute_variance.to_string())
            }
            None => ("no run yet".into(), "-".into()),
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
    let (sets, notes) = load_set_notes(&engine.ws.path(&engine.ws.config.target));
    if notes > 0 {
        let _ = writeln!(
            o,
            "notes for the team: {notes} in {sets} load set(s) (usage left out of usage.csv, …): each set's \
             README.txt lists them"
        );
    }
    Ok(o)
}

/// Prints the journal a page at a time (memory stays bounded however long the trail).
pub async fn journal(
    store: &crate::store::Store,
    filter: &crate::store::JournalFilter,
    format: super::JournalFormat,
) -> Result<()> {
    use super::JournalFormat as F;
    use std::io::Write as _;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let io = |e: std::io::Error| Failure::operational(e);
    // CSV through the csv writer (quoting), a row at a time, into the same buffered stdout.
    let row = |fields: [&str; 7]| -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(vec![]);
        w.write_record(fields).map_err(Failure::operational)?;
        w.into_inner().map_err(|e| Failure::operational(anyhow::anyhow!("{e}")))
    };
    if format == F::Csv {
        out.write_all(&row(["account_number", "effective", "recorded_at", "actor", "from", "to", "reason"])?)
            .map_err(io)?;
    }
    if format == F::Json {
        write!(out, "[").map_err(io)?;
    }
    let mut after = 0;
    let mut first = true;
    loop {
        let page = store.journal_page(filter, after, 2000).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (_, j) in &page {
            let recorded = j.recorded_at.as_deref().unwrap_or("");
            match format {
                F::Text => writeln!(
                    out,
                    "{}  {:<10} {} -> {}  by {}  (recorded {})\n    {}",
                    j.at,
                    j.account_number,
                    j.from,
                    j.to,
                    j.actor,
                    if recorded.is_empty() { "-" } else { recorded },
                    j.reason
                )
                .map_err(io)?,
                F::Csv => out
                    .write_all(&row([&j.account_number, &j.at, recorded, &j.actor, &j.from, &j.to, &j.reason])?)
                    .map_err(io)?,
                F::Json => {
                    let row = serde_json::json!({
                        "account_number": j.account_number, "effective": j.at, "recorded_at": j.recorded_at,
                        "actor": j.actor, "from": j.from, "to": j.to, "reason": j.reason,
                    });
                    write!(out, "{}\n  {row}", if first { "" } else { "," }).map_err(io)?;
                }
            }
            first = false;
        }
    }
    if format == F::Json {
        writeln!(out, "\n]").map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(())
}

/// The notices due in a window: when each goes, and the dates it announces.
pub fn upcoming(
    wave: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    rows: &[crate::store::AccountRow],
    format: Format,
) -> Result<String> {
    let d = |x: Option<chrono::NaiveDate>| x.map_or(String::new(), |d| d.to_string());
    match format {
        Format::Json => {
            #[derive(Serialize)]
            struct Row<'a> {
                account_number: &'a str,
                notice_date: Option<chrono::NaiveDate>,
                first_new_bill_date: Option<chrono::NaiveDate>,
                cutover_date: Option<chrono::NaiveDate>,
            }
            #[derive(Serialize)]
            struct Out<'a> {
                wave: &'a str,
                from: chrono::NaiveDate,
                to: chrono::NaiveDate,
                upcoming: Vec<Row<'a>>,
            }
            let upcoming = rows
                .iter()
                .map(|r| Row {
                    account_number: &r.account_number,
                    notice_date: r.notice_date,
                    first_new_bill_date: r.first_new_bill_date,
                    cutover_date: r.cutover_date,
                })
                .collect();
            json(&Out { wave, from, to, upcoming }).map_err(Failure::operational)
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(vec![]);
            let mut put = |rec: [&str; 5]| w.write_record(rec).map_err(Failure::operational);
            put(["wave", "account_number", "notice_date", "first_new_bill_date", "cutover_date"])?;
            for r in rows {
                put([wave, &r.account_number, &d(r.notice_date), &d(r.first_new_bill_date), &d(r.cutover_date)])?;
            }
            let bytes = w.into_inner().map_err(|e| Failure::operational(anyhow::anyhow!("{e}")))?;
            String::from_utf8(bytes).map_err(Failure::operational)
        }
        _ => {
            let mut o = format!("{wave}: {} notice(s) due from {from} to {to}\n", rows.len());
            if !rows.is_empty() {
                let _ = writeln!(o, "  {:<10}  {:<12}  {:<14}  cut-over", "notice", "account", "first new bill");
            }
            for r in rows {
                let _ = writeln!(
                    o,
                    "  {:<10}  {:<12}  {:<14}  {}",
                    d(r.notice_date),
                    r.account_number,
                    d(r.first_new_bill_date),
                    d(r.cutover_date)
                );
            }
            Ok(o)
        }
    }
}

/// The plan's waves: id, name, window, the usage carry-over, and accounts per state.
pub async fn waves(engine: &Engine, format: Format) -> Result<String> {
    #[derive(Serialize)]
    struct WaveRow<'a> {
        id: &'a str,
        name: &'a str,
        start: Option<chrono::NaiveDate>,
        end: Option<chrono::NaiveDate>,
        /// `null` for a wave not in the plan, as its window.
        duration_days: Option<u32>,
        usage_carryover: Option<&'static str>,
        accounts: std::collections::BTreeMap<String, i64>,
        /// False for a wave the store holds accounts of but the plan does not name now (its
        /// file has errors, or it left the plan): its accounts are still there (extended in round 29).
        in_plan: bool,
    }
    // Every wave's counts at once, the plan's and those the plan does not name now.
    let mut counts: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>> = Default::default();
    for (w, state, n) in engine.store.wave_state_counts().await? {
        if let Some(w) = w {
            counts.entry(w).or_default().insert(state.to_string(), n);
        }
    }
    let mut rows = Vec::new();
    for w in &engine.plan.waves {
        rows.push(WaveRow {
            id: &w.id,
            name: &w.name,
            start: w.start,
            end: w.end(),
            duration_days: Some(w.duration_days),
            usage_carryover: Some(w.usage_carryover.as_str()),
            accounts: counts.remove(&w.id).unwrap_or_default(),
            in_plan: true,
        });
    }
    for (id, accounts) in &counts {
        rows.push(WaveRow {
            id,
            name: "",
            start: None,
            end: None,
            duration_days: None,
            usage_carryover: None,
            accounts: accounts.clone(),
            in_plan: false,
        });
    }
    if format == Format::Json {
        return json(&rows).map_err(Failure::operational);
    }
    let mut o = String::new();
    for w in &rows {
        let states: Vec<String> = w.accounts.iter().map(|(s, n)| format!("{s} {n}")).collect();
        if !w.in_plan {
            let _ = writeln!(
                o,
                "{:<20} (not in the plan now: its file has errors, or it left the plan)\n  accounts: {}; \
                 `status`, `journal` and `notices` still report them; no stage runs on them",
                w.id,
                states.join(", ")
            );
            continue;
        }
        let window = match (w.start, w.end) {
            (Some(s), Some(e)) => format!("{s} .. {e} ({} days)", w.duration_days.unwrap_or_default()),
            _ => "not dated yet (cannot run)".to_string(),
        };
        let _ = writeln!(
            o,
            "{:<20} {}\n  window {window}; last legacy usage billed by the {} system",
            w.id,
            w.name,
            w.usage_carryover.unwrap_or_default()
        );
        let _ =
            writeln!(o, "  accounts: {}", if states.is_empty() { "none yet".to_string() } else { states.join(", ") });
    }
    Ok(o)
}
