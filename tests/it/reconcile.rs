//! Reconciliation over the real binary: numbered runs that say what changed, waivers and gate
//! promotions journaled, and the reports in every format.

use super::support;
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn cutover(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("cutover").expect("binary");
    c.arg("-C").arg(dir).env_remove("CUTOVER_STORE_URL").env_remove("CUTOVER_SOURCE_URL").env("CUTOVER_ACTOR", "ann");
    c
}

/// Runs a command; returns (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = cutover(dir).args(args).output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn report(dir: &Path) -> (i32, Value) {
    let (code, out, err) = run(dir, &["reconcile", "--wave", "dc1-colocation", "--format", "json"]);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}")))
}

const MAINTENANCE: &str = "  - id: legacy-maintenance
    name: \"Maintenance\"
    group: Services
    product_rate_plan_id: \"8a28maint\"
    charges:
      - id: maintenance
        product_rate_plan_charge_id: \"8a28maint-fee\"
        name: \"Maintenance\"
        type: recurring
        model: flat_fee
        period: month
        legacy_codes: [LEGACY-MISC]
";

/// The catalog fix the fixture waits for: A003's LEGACY-MISC mapped ([`MAINTENANCE`]).
fn map_legacy_misc(dir: &Path) {
    let catalog = dir.join("waves/catalog.yaml");
    let text = std::fs::read_to_string(&catalog).unwrap();
    std::fs::write(&catalog, format!("{text}{MAINTENANCE}")).unwrap();
}

#[test]
fn runs_are_numbered_and_a_catalog_fix_shows_as_fixed() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    // The fixture: A003 bills LEGACY-MISC, which the catalog does not map.
    let (code, out, err) = run(dir, &["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]);
    assert_eq!(code, 1, "the gate pauses at 2/3 passing: {out}{err}");
    let (code, r) = report(dir);
    assert_eq!(code, 1);
    assert_eq!(
        (r["run"]["number"].as_u64(), r["run"]["recorded"].as_bool(), r["run"]["previous"].as_u64()),
        (Some(1), Some(false), None),
        "the report of an unchanged wave is the run `run` recorded, not a new one"
    );
    assert_eq!(r["gate"], "pause");
    assert_eq!(r["accounts"][0]["account_number"], "A003", "sorted by money at stake");
    assert_eq!(r["accounts"][0]["status"], "fail");

    // A store whose accounts were compared before migration 0016 has no tallies: the next run
    // of the stage makes them from the stored verdicts (else run #2 would hold A003 alone).
    let state = format!("sqlite://{}", dir.join(".cutover/state.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&state).await.unwrap();
        let gone = sqlx::query("DELETE FROM recon_tally").execute(&pool).await.unwrap().rows_affected();
        assert_eq!(gone, 3, "the stage kept a tally per compared account");
        pool.close().await;
    });

    // Fix the catalog, put the held account back: run #2 says A003 is fixed.
    map_legacy_misc(dir);
    let (code, out, err) = run(dir, &["run", "--wave", "dc1-colocation", "--as-of", "2017-05-02", "--recheck-held"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, r) = report(dir);
    assert_eq!(code, 0);
    assert_eq!(
        (r["run"]["number"].as_u64(), r["run"]["recorded"].as_bool(), r["run"]["previous"].as_u64()),
        (Some(2), Some(false), Some(1)),
        "the stage recorded run #2 over all three accounts"
    );
    assert_eq!(r["run"]["changes"]["fixed"], serde_json::json!(["A003"]));
    assert_eq!(r["run"]["changes"]["newly_failing"], serde_json::json!([]));
    assert_eq!((r["gate"].as_str(), r["summary"]["failed"].as_u64()), (Some("proceed"), Some(0)));
    let (_, text, _) = run(dir, &["reconcile", "--wave", "dc1-colocation"]);
    // The report is run #2 again (the stage recorded it): the changes are said to be run #2's.
    assert!(
        text.contains(
            "unchanged since run #2, so no new run is kept; run #2 against run #1: fixed 1 [A003]; waived 0 [none]; \
             newly failing 0"
        ),
        "{text}"
    );
    assert!(text.contains("gate PROCEED"), "{text}");
}

#[test]
fn a_tally_is_written_with_its_fields_joined_and_one_without_them_stops_the_run() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let (code, out, err) = run(dir, &["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]);
    assert_eq!(code, 1, "the gate pauses at 2/3 passing: {out}{err}");
    // What the stage joined when it wrote each tally is what migration 0024 joins from the
    // columns of a tally written before it (the run reads only the joined fields).
    let state = format!("sqlite://{}", dir.join(".cutover/state.db").display());
    let sql = |q: &str| {
        let (state, q) = (state.clone(), q.to_string());
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&state).await.unwrap();
            let n: i64 = sqlx::query_scalar(&q).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        })
    };
    let joined = "account_number || char(31) || status || char(31) || stake || char(31) || reasons || char(31) \
                  || legacy_total || char(31) || new_total || char(31) || unexplained || char(31) || periods \
                  || char(31) || mismatched";
    assert_eq!(sql("SELECT COUNT(*) FROM recon_tally"), 3, "a tally per compared account");
    let same = sql(&format!("SELECT COUNT(*) FROM recon_tally WHERE line = {joined}"));
    assert_eq!(same, 3, "each tally's line is its fields joined");
    // A tally that lost its joined fields would be left out of the next run unseen (and the gate
    // decided without it): it stops the run instead, saying what is wrong.
    assert_eq!(sql("UPDATE recon_tally SET line = NULL WHERE account_number = 'A001' RETURNING 1"), 1);
    map_legacy_misc(dir);
    let (code, out, err) = run(dir, &["run", "--wave", "dc1-colocation", "--as-of", "2017-05-02", "--recheck-held"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("unreadable data") && err.contains("fewer than 9 fields"), "{err}");
}

#[test]
fn an_account_with_no_bill_to_compare_counts_alike_in_the_run_and_the_report() {
    // A customer with a service and no legacy bill yet compares no period: it has no verdicts,
    // so neither the report nor the stage's run (made from tallies) counts it.
    let ws = support::csv_workspace();
    let dir = ws.path();
    let append = |file: &str, row: &str| {
        let path = dir.join("legacy").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{}\n{row}\n", text.trim_end())).unwrap();
    };
    append("accounts.csv", "A090,Fresh Start Inc,colocation,DC1,USD,1,ap@fresh.example.com,active,");
    append("services.csv", "A090,S90,CAB-42U,Full cabinet,1,1500.00,2017-04-20,");
    let (code, out, err) = run(dir, &["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]);
    assert!(code <= 1, "{out}{err}");
    let (_, status, _) = run(dir, &["status", "--account", "A090"]);
    let (_, r) = report(dir);
    assert_eq!(
        (r["run"]["number"].as_u64(), r["run"]["recorded"].as_bool()),
        (Some(1), Some(false)),
        "the report is the run the stage recorded: {status}"
    );
    let numbers: Vec<&str> =
        r["accounts"].as_array().unwrap().iter().map(|a| a["account_number"].as_str().unwrap()).collect();
    assert!(!numbers.contains(&"A090"), "{numbers:?}; {status}");
}

#[test]
fn a_waived_account_and_a_promoted_gate_are_journaled_and_let_the_wave_go_on() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let (code, _, err) = run(dir, &["gate", "promote", "--wave", "dc1-colocation", "--reason", "too early"]);
    assert_eq!(code, 2, "nothing reconciled yet: nothing to promote");
    assert!(err.contains("has no reconciliation yet"), "{err}");
    assert_eq!(run(dir, &["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).0, 1);

    // Promote the paused wave: journaled on the wave, shown in the report.
    let (code, out, err) =
        run(dir, &["gate", "promote", "--wave", "dc1-colocation", "--reason", "A003 is a known fee"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("promoted"), "{out}");
    let (code, out, _) = run(dir, &["gate", "promote", "--wave", "dc1-colocation", "--reason", "again"]);
    assert_eq!((code, out.contains("promoted already")), (0, true), "{out}");
    let (code, r) = report(dir);
    assert_eq!(code, 1, "A003 still fails unwaived");
    assert_eq!(r["gate"], "proceed");
    assert_eq!(r["gate_analysis"]["analysis"], "pause");
    assert_eq!(r["gate_analysis"]["promoted"]["reason"], "A003 is a known fee (run #1)");
    assert_eq!(r["gate_analysis"]["promoted"]["actor"], "ann (gate promote)");

    // Waive A003: journaled on the account; it is reconciled again and moves on.
    let (code, out, err) = run(dir, &["waive", "A003", "--reason", "customer agreed to drop the fee"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, again, _) = run(dir, &["waive", "A003", "--reason", "twice"]);
    assert!(again.contains("already waived"), "{again}");
    let (_, out, _) = run(dir, &["status", "--account", "A003", "--format", "json"]);
    let status: Value = serde_json::from_str(&out).unwrap();
    let journal = status["journal"].as_array().unwrap();
    let last = journal.last().unwrap();
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("held"), Some("rated")));
    assert!(last["reason"].as_str().unwrap().contains("waived: customer agreed to drop the fee"), "{last}");
    assert_eq!(journal.iter().filter(|j| j["reason"].as_str().unwrap().contains("waived")).count(), 1);

    let (_, out, err) = run(dir, &["run", "--wave", "dc1-colocation", "--as-of", "2017-05-02"]);
    let (_, out2, _) = run(dir, &["status", "--account", "A003", "--format", "json"]);
    let status: Value = serde_json::from_str(&out2).unwrap();
    let last = status["journal"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["to"], "reconciled", "{out}{err}{last}");
    assert!(last["reason"].as_str().unwrap().contains("waived by ann (waive)"), "{last}");
    let (code, r) = report(dir);
    assert_eq!(code, 0, "every failure is waived and the gate proceeds");
    assert_eq!((r["summary"]["failed"].as_u64(), r["summary"]["waived"].as_u64()), (Some(1), Some(1)));
    assert_eq!(r["accounts"][0]["waiver"]["reason"], "customer agreed to drop the fee");
    assert_eq!(r["run"]["changes"]["newly_failing"], serde_json::json!([]));
    assert_eq!(r["run"]["changes"]["waived"], serde_json::json!(["A003"]));
    assert_eq!(r["run"]["number"], 2);
}

#[test]
fn an_aborted_wave_cannot_be_promoted() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let wave = dir.join("waves/dc1-colocation.yaml");
    let text = std::fs::read_to_string(&wave).unwrap();
    std::fs::write(
        &wave,
        text.replace("abort: { min_pass_rate: \"0.50\" }", "abort: { max_absolute_variance: \"10\" }"),
    )
    .unwrap();
    assert!(std::fs::read_to_string(&wave).unwrap().contains("abort: { max_absolute_variance: \"10\" }"));
    assert_eq!(run(dir, &["plan", "check"]).0, 0);
    assert_eq!(run(dir, &["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).0, 1);
    let (code, _, err) = run(dir, &["gate", "promote", "--wave", "dc1-colocation", "--reason", "please"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("abort") && err.contains("absolute_variance 50.00 (limit <= 10)"), "{err}");
    let (_, r) = report(dir);
    assert_eq!(r["gate"], "abort");
    let (code, out, _) = run(dir, &["switch", "--wave", "dc1-colocation", "--as-of", "2017-06-30"]);
    assert_eq!(code, 1);
    assert!(out.contains("gate abort; 0 account(s) cut over"), "one spelling of the verdict: {out}");
}

#[test]
fn reports_in_every_format_on_a_fresh_workspace() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let (code, csv, _) = run(dir, &["reconcile", "--wave", "dc1-colocation", "--format", "csv", "--lines"]);
    assert_eq!(code, 1);
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("wave,account_number,period,legacy_code,service_start"), "{csv}");
    assert_eq!(rows.len(), 2, "one line difference: {csv}");
    assert!(
        rows[1].starts_with("dc1-colocation,A003,2017-04,LEGACY-MISC,2017-04-01,2017-04-30,unmapped_product,false"),
        "{csv}"
    );
    let (_, md, _) = run(dir, &["reconcile", "--wave", "dc1-colocation", "--format", "markdown"]);
    assert!(md.contains("| A003 | fail | 50.00 | unmapped_product |"), "{md}");
    assert!(md.contains("Gate: **pause**"), "{md}");
    let (_, html, _) = run(dir, &["reconcile", "--wave", "dc1-colocation", "--format", "html"]);
    for needle in
        ["<svg", "id=\"accounts\"", "data-status=\"fail\"", "id=\"acct-A003\"", "class=\"del\"", "LEGACY-MISC"]
    {
        assert!(html.contains(needle), "{needle} missing from the HTML report");
    }
    for external in [" src=", "<link", "href=\"http", "url("] {
        assert!(!html.contains(external), "the HTML report loads nothing from outside ({external})");
    }
    let (code, _, err) = run(dir, &["reconcile", "--wave", "dc1-colocation", "--lines"]);
    assert_eq!(code, 2, "{err}");
    assert!(!dir.join(".cutover").exists(), "a fresh-workspace report stores nothing");
}

/// Rate, reconcile and notify read an account's records cut to the recent bills
/// (`Records::Recent`: the lines of the last periods billed, the usage those bills and later ones
/// carry). Over a demo's every account, on days across the migration, bills of those periods and
/// of the two after them rated from the records so read equal those rated from every record, as
/// of the same day, with no handover and with either carry-over rule.
#[tokio::test]
async fn bills_rated_from_the_recent_records_equal_those_rated_from_every_record() {
    use cutover::plan::UsageCarryover;
    use cutover::rate::{Handover, Terms, rate_on};
    use cutover::store::{Records, Store};
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (code, _, err) =
        run(dir.path(), &["demo", "--dir", demo.to_str().unwrap(), "--accounts", "300", "--until", "2017-04-06"]);
    assert_eq!(code, 0, "{err}");
    let store = Store::open(&format!("sqlite://{}", demo.join(".cutover/state.db").display())).await.unwrap();
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", demo.join(".cutover/state.db").display())).await.unwrap();
    let numbers: Vec<String> =
        sqlx::query_scalar("SELECT account_number FROM account ORDER BY 1").fetch_all(&pool).await.unwrap();
    assert!(numbers.len() >= 250, "{}", numbers.len());
    let catalog = support::plan().catalog;
    let (mut compared, mut with_usage) = (0, 0);
    for day in ["2017-06-05", "2017-09-01", "2017-11-15", "2018-01-10"] {
        let day: chrono::NaiveDate = day.parse().unwrap();
        for periods in [1, 3] {
            for page in numbers.chunks(500) {
                let recent = store.stored_records(page, Records::Recent { periods, as_of: day }).await.unwrap();
                let recent = recent.parse(page).unwrap();
                let all = store.legacy_accounts(page).await.unwrap();
                assert_eq!(recent.len(), all.len());
                for (r, a) in recent.into_iter().zip(all) {
                    let (r, a) = (r.as_of(day), a.as_of(day));
                    let billed = a.legacy_periods();
                    let Some(&last) = billed.last() else { continue };
                    let first = billed[billed.len().saturating_sub(periods as usize)];
                    let mut p = first;
                    while p <= last.next().next() {
                        let next_bill = p.next().bill_period(1).start;
                        for handover in [
                            None,
                            Some(Handover::at(next_bill, UsageCarryover::New)),
                            Some(Handover::at(next_bill, UsageCarryover::Legacy)),
                            Some(Handover { first_new: p, carryover: UsageCarryover::Legacy }),
                        ] {
                            let terms = Terms { convention: None, handover };
                            let (from_recent, from_all) =
                                (rate_on(&r, &catalog, p, terms), rate_on(&a, &catalog, p, terms));
                            assert_eq!(
                                format!("{from_recent:?}"),
                                format!("{from_all:?}"),
                                "{} for {p} as of {day}, {periods} period(s), {handover:?}",
                                a.account.account_number
                            );
                            if from_all.as_ref().is_ok_and(|b| {
                                b.bill.lines.iter().any(|l| l.charge_type == cutover::rate::LineType::Usage)
                            }) {
                                with_usage += 1;
                            }
                            compared += 1;
                        }
                        p = p.next();
                    }
                }
            }
        }
    }
    // The comparison covered bills, and bills with usage lines among them.
    assert!(compared > 30_000, "{compared}");
    assert!(with_usage > 10_000, "{with_usage} of {compared}");
}
