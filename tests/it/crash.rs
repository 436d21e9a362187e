//! Crashes at the worst moments, then reruns on later days (as under cron): no customer gets two
//! notices, a notice whose delivery is unknown stays unknown (not resent, not rescheduled) until a
//! person decides, and a crashed outbox send is simply finished.
//!
//! The crash is a failpoint (`CUTOVER_FAILPOINT`, `src/failpoint.rs`): the real binary aborts, like
//! a `kill -9`, at a named point, e.g. right after the transport took a message and before the
//! store knows it.

use super::smtp::{Server, accounts_where, cutover, due, header, notices, workspace_mailing};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const WAVE: &str = "dc1-colocation";

fn notify_as_of(dir: &Path, date: &str, failpoint: Option<&str>) -> std::process::Output {
    let mut c = cutover(dir);
    c.args(["notify", "--wave", WAVE, "--as-of", date]);
    match failpoint {
        Some(f) => c.env("CUTOVER_FAILPOINT", f),
        None => c.env_remove("CUTOVER_FAILPOINT"),
    };
    c.output().unwrap()
}

fn account(dir: &Path, number: &str) -> Value {
    let out = cutover(dir).args(["status", "--account", number, "--format", "json"]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The accounts whose journal says a notice date "passed unsent".
fn said_passed_unsent(dir: &Path, number: &str) -> bool {
    account(dir, number)["journal"]
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["reason"].as_str().unwrap_or("").contains("passed unsent"))
}

fn assert_crashed(out: &std::process::Output) {
    assert_eq!(out.status.code(), None, "the failpoint aborts the process: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failpoint"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_crash_after_the_server_took_it_then_the_next_day_and_a_month_later_send_nothing_twice() {
    let Some(server) = Server::start(None, &[]) else { return };
    let ws =
        workspace_mailing(&format!("mail: {{ transport: smtp, host: 127.0.0.1, port: {}, tls: none }}\n", server.port))
            .await;
    let expected = due(ws.path());
    assert!(expected.len() >= 5, "enough accounts due on June 1: {expected:?}");

    // The third message is accepted by the server; the process dies before it records that.
    assert_crashed(&notify_as_of(ws.path(), "2017-06-01", Some("notify.sent_unmarked@3")));
    let after_crash = server.per_account();
    assert!(after_crash.len() >= 3, "{after_crash:?}");
    let report = notices(ws.path());
    let unknown = accounts_where(&report, "state", "unknown");
    assert!(!unknown.is_empty() && unknown.len() <= 2, "the messages in flight (concurrency 2): {unknown:?}");
    let dates: BTreeMap<String, Value> =
        unknown.iter().map(|u| (u.clone(), account(ws.path(), u)["account"]["first_new_bill_date"].clone())).collect();

    // The next day, and a month later: the unknown notices block their accounts.
    for day in ["2017-06-02", "2017-07-01"] {
        let out = notify_as_of(ws.path(), day, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "unknown deliveries make notify exit 1 ({day}): {err}");
        let got = server.per_account();
        assert!(got.values().all(|n| *n == 1), "{day}: nobody gets two messages: {got:?}");
        let report = notices(ws.path());
        assert_eq!(accounts_where(&report, "state", "unknown"), unknown, "{day}: unknown stays unknown until resolved");
        for u in &unknown {
            assert!(err.contains(&format!("{u}: delivery unknown")), "{day}: {err}");
            let one = account(ws.path(), u);
            assert_eq!(one["account"]["state"], "reconciled", "{day}: {u} waits for a person");
            assert_eq!(one["account"]["first_new_bill_date"], dates[u], "{day}: {u} was not rescheduled");
            assert!(!said_passed_unsent(ws.path(), u), "{day}: no false 'passed unsent' for {u}");
        }
        assert!(accounts_where(&report, "state", "queued").is_empty(), "{day}: {report}");
    }
    // Every other account due on June 1 got exactly one message (on June 1, or for its new dates
    // after a reschedule) or a letter; none got two.
    let got = server.per_account();
    for a in expected.keys().filter(|a| !unknown.contains(a)) {
        let state = account(ws.path(), a)["account"]["state"].clone();
        let printed = notices(ws.path())["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["account_number"] == a.as_str() && n["channel"] == "print" && n["state"] == "sent");
        assert_eq!(state, "notified", "{a}");
        assert_eq!(got.get(a).copied().unwrap_or(0) + usize::from(printed), 1, "{a}: one notice");
    }
    // Each message names the dates its account holds now.
    for (_, data) in server.messages() {
        let id = header(&data, "Message-ID").unwrap();
        let number = id.split('.').nth(2).unwrap();
        let first = account(ws.path(), number)["account"]["first_new_bill_date"].as_str().unwrap().to_string();
        assert!(id.contains(&format!("first_new_bill-{first}")), "{id} vs {first}");
    }

    // A person decides: the unknown notice was delivered (the mail log says so).
    let u = &unknown[0];
    let out = cutover(ws.path())
        .args(["notify", "--wave", WAVE, "--resolve", u, "--as", "sent", "--reason", "mail log: 250 queued"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(account(ws.path(), u)["account"]["state"], "notified");
    let before = server.messages().len();
    notify_as_of(ws.path(), "2017-07-02", None);
    assert_eq!(server.messages().len(), before, "resolving sends nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_resend_decision_after_the_notice_date_moves_the_account_and_sends_one_notice_for_new_dates() {
    let Some(server) = Server::start(None, &[]) else { return };
    let ws =
        workspace_mailing(&format!("mail: {{ transport: smtp, host: 127.0.0.1, port: {}, tls: none }}\n", server.port))
            .await;
    // Dies after taking the first notice and before any byte reaches the server.
    assert_crashed(&notify_as_of(ws.path(), "2017-06-01", Some("notify.claimed@1")));
    assert!(server.messages().is_empty());
    let unknown = accounts_where(&notices(ws.path()), "state", "unknown");
    // Deliveries run two at a time: the other one may have been taken too.
    assert!(!unknown.is_empty() && unknown.len() <= 2, "{unknown:?}");
    let u = &unknown[0];
    let old = account(ws.path(), u)["account"]["first_new_bill_date"].as_str().unwrap().to_string();
    // A person checks the log: nothing went out. Resend.
    let out = cutover(ws.path())
        .args(["notify", "--wave", WAVE, "--resolve", u, "--as", "resend", "--reason", "not in the mail log"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Its notice date has passed: it moves to a later cycle; the old notice never goes out.
    let out = notify_as_of(ws.path(), "2017-06-03", None);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let now = account(ws.path(), u)["account"].clone();
    let new = now["first_new_bill_date"].as_str().unwrap().to_string();
    assert!(new > old, "{u}: moved from {old} to {new}");
    let report = notices(ws.path());
    let mine: Vec<&Value> =
        report["notices"].as_array().unwrap().iter().filter(|n| n["account_number"] == u.as_str()).collect();
    assert!(
        mine.iter().any(|n| n["kind"] == format!("first_new_bill-{old}") && n["state"] == "superseded"),
        "{mine:?}"
    );
    // A month later its notice for the new dates goes out, once.
    notify_as_of(ws.path(), now["notice_date"].as_str().unwrap(), None);
    let got = server.per_account();
    assert_eq!(got.get(u.as_str()), Some(&1), "{got:?}");
    assert!(unknown[1..].iter().all(|other| !got.contains_key(other)), "the other stays unknown: {got:?}");
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    assert_eq!(account(ws.path(), u)["account"]["state"], "notified");
}

/// The `.eml` files per account in the outbox.
fn outbox_files(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("outbox")) else { return out };
    for e in entries {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".eml") {
            // dc1-colocation-ACCOUNT-YYYY-MM-DD
            let rest = stem.strip_prefix(&format!("{WAVE}-")).unwrap();
            let account = rest[..rest.len() - 11].to_string();
            out.entry(account).or_default().push(name);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn outbox_crash_after_writing_is_finished_by_the_next_days_run_never_written_twice() {
    let ws = workspace_mailing("").await;
    let expected = due(ws.path());
    assert_crashed(&notify_as_of(ws.path(), "2017-06-01", Some("notify.sent_unmarked@3")));
    assert!(!accounts_where(&notices(ws.path()), "state", "unknown").is_empty(), "a notice was left in flight");

    let out = notify_as_of(ws.path(), "2017-06-02", None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = notices(ws.path());
    assert!(accounts_where(&report, "state", "unknown").is_empty(), "an outbox send is simply finished: {report}");
    let files = outbox_files(ws.path());
    assert!(files.values().all(|f| f.len() == 1), "one file per account: {files:?}");
    // The accounts the crash interrupted were finished, not rescheduled.
    let finished: Vec<_> = files.iter().filter(|(_, f)| f[0].ends_with("2017-07-01.eml")).map(|(a, _)| a).collect();
    assert!(finished.len() >= 3, "{files:?}");
    for a in &finished {
        assert!(!said_passed_unsent(ws.path(), a), "{a}");
        assert_eq!(account(ws.path(), a)["account"]["state"], "notified");
    }

    // A month later every account due June 1 has exactly one notice: its file, or a letter.
    notify_as_of(ws.path(), "2017-07-01", None);
    let files = outbox_files(ws.path());
    assert!(files.values().all(|f| f.len() == 1), "one file per account: {files:?}");
    for a in expected.keys() {
        assert_eq!(account(ws.path(), a)["account"]["state"], "notified", "{a}");
    }
    let report = notices(ws.path());
    for state in ["unknown", "queued", "retry"] {
        assert!(accounts_where(&report, "state", state).is_empty(), "no notice left {state}: {report}");
    }
}

/// Every `*.tmp` file in the outbox, by name.
fn outbox_temporaries(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("outbox")) else { return Vec::new() };
    entries.map(|e| e.unwrap().file_name().to_string_lossy().to_string()).filter(|n| n.ends_with(".tmp")).collect()
}

/// A crash once a page's notices are taken: their emails were written under temporary names
/// (the claim committed meanwhile), and none is published. The next run finishes them (one file
/// each) and, once no live writer can own them, removes the temporary files the crash left,
/// saying so. The crash comes when the page's files are all written and not yet published
/// (`files.unpublished`): right after the claim, whether the writer had written one yet was up
/// to the scheduler, and on a loaded machine it had not.
#[tokio::test(flavor = "multi_thread")]
async fn outbox_crash_after_the_claim_publishes_nothing_and_the_next_run_clears_its_temporary_files() {
    let ws = workspace_mailing("").await;
    assert_crashed(&notify_as_of(ws.path(), "2017-06-01", Some("files.unpublished@1")));
    assert!(outbox_files(ws.path()).is_empty(), "nothing published: {:?}", outbox_files(ws.path()));
    let left = outbox_temporaries(ws.path());
    assert!(!left.is_empty(), "the page's emails were written to temporary names before the crash");

    // Older than a lease (1 s here), they are no live writer's.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = cutover(ws.path())
        .args(["notify", "--wave", WAVE, "--as-of", "2017-06-02"])
        .env("CUTOVER_LEASE_SECS", "1")
        .env_remove("CUTOVER_FAILPOINT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("temporary file(s) a stopped run left"), "{said}");
    assert_eq!(outbox_temporaries(ws.path()), Vec::<String>::new());
    let files = outbox_files(ws.path());
    assert!(!files.is_empty() && files.values().all(|f| f.len() == 1), "one file per account: {files:?}");
    let report = notices(ws.path());
    for state in ["unknown", "queued", "sending"] {
        assert!(accounts_where(&report, "state", state).is_empty(), "no notice left {state}: {report}");
    }
}

/// Each dc2-colocation account's state, reason and dates (`status --format json`), the folder's
/// name taken out.
fn states(dir: &Path) -> Vec<Value> {
    let out = cutover(dir).args(["status", "--wave", "dc2-colocation", "--format", "json"]).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).replace(&dir.display().to_string(), "<dir>");
    let v: Value = serde_json::from_str(&shown).unwrap();
    v["accounts"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_rating_a_page_and_reconciling_it_is_finished_by_the_rerun() {
    // A run reconciles each page it rates from the records it loaded. Killed right after the
    // rating committed, it leaves rated accounts; the rerun reconciles them, each once. (The
    // workspace has run dc1-colocation; this is the first run of dc2-colocation.)
    let straight = workspace_mailing("").await;
    let crashed = workspace_mailing("").await;
    let run = |dir: &Path, failpoint: Option<&str>| {
        let mut c = cutover(dir);
        c.args(["run", "--wave", "dc2-colocation", "--as-of", "2017-05-01"]);
        match failpoint {
            Some(f) => c.env("CUTOVER_FAILPOINT", f),
            None => c.env_remove("CUTOVER_FAILPOINT"),
        };
        c.output().unwrap()
    };
    let out = run(straight.path(), None);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_crashed(&run(crashed.path(), Some("rate.committed")));
    let after_crash = states(crashed.path());
    let rated = after_crash.iter().filter(|a| a["state"] == "rated").count();
    assert!(rated > 0, "the crash leaves rated accounts: {after_crash:?}");
    assert!(!after_crash.iter().any(|a| a["state"] == "reconciled"), "{after_crash:?}");
    let out = run(crashed.path(), None);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (states(straight.path()), states(crashed.path()));
    let reconciled: Vec<&Value> = b.iter().filter(|x| x["state"] == "reconciled").collect();
    assert!(reconciled.len() * 2 >= rated, "most rated accounts pass: {b:?}");
    assert_eq!(a, b, "the crashed and rerun wave ends as the straight run");
    // The same reconciliation recorded: its summary, gate and fingerprint.
    let recon = |dir: &Path| {
        let out = cutover(dir).args(["reconcile", "--wave", "dc2-colocation", "--format", "json"]).output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["summary"].clone(), v["gate"].clone(), v["fingerprint"].clone())
    };
    let (straight_run, crashed_run) = (recon(straight.path()), recon(crashed.path()));
    assert!(straight_run.0["accounts"].as_u64().unwrap() > 0, "{straight_run:?}");
    assert_eq!(straight_run, crashed_run);
    for acct in reconciled {
        let number = acct["account_number"].as_str().unwrap();
        let journal = account(crashed.path(), number)["journal"].as_array().unwrap().clone();
        let from_rated: Vec<&Value> = journal.iter().filter(|j| j["from"] == "rated").collect();
        assert_eq!(from_rated.len(), 1, "{number} reconciled once: {journal:?}");
    }
}

/// The account rows of `status --format json`, and the journal's rows.
fn extracted_and_journaled(dir: &Path) -> (Vec<Value>, usize) {
    let status = cutover(dir).args(["status", "--format", "json"]).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let journal = cutover(dir).args(["journal", "--format", "json"]).output().unwrap();
    assert!(journal.status.success(), "{}", String::from_utf8_lossy(&journal.stderr));
    let journal: Value = serde_json::from_slice(&journal.stdout).unwrap();
    (status["accounts"].as_array().unwrap().clone(), journal.as_array().unwrap().len())
}

/// An extraction killed between two batches, its transaction open (on a SQLite store the
/// extraction's own connection): the first time, nothing of it is left and the rerun takes every
/// account in, journaled once; a refresh killed the same way leaves the extraction before it
/// whole, and its rerun changes no state and journals nothing.
#[test]
fn an_extraction_killed_between_batches_leaves_the_store_as_it_was_and_the_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    // The demo's workspace and legacy SQLite database, before its first day: nothing extracted.
    let out = cutover(dir.path())
        .args(["demo", "--accounts", "200", "--until", "2017-04-05", "--dir"])
        .arg(&ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let extract = |failpoint: Option<&str>| {
        let mut c = cutover(&ws);
        c.arg("extract");
        if let Some(f) = failpoint {
            c.env("CUTOVER_FAILPOINT", f);
        }
        c.output().unwrap()
    };

    assert_crashed(&extract(Some("extract.batch_stored@2")));
    assert_eq!(extracted_and_journaled(&ws), (Vec::new(), 0), "the killed first extraction left nothing");
    let first = extract(None);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let said = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(said.starts_with("extracted 200 accounts and "), "{said}");
    let (accounts, journaled) = extracted_and_journaled(&ws);
    assert_eq!((accounts.len(), journaled), (200, 200), "every account in, journaled once");
    assert!(accounts.iter().all(|a| a["state"] == "extracted"), "{accounts:?}");

    // An account's legacy bill, read from the stored records.
    let legacy_bill = || {
        let out = cutover(&ws).args(["bill", "A000001", "--period", "2017-03", "--legacy"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let bill = legacy_bill();
    assert!(bill.contains("A000001"), "{bill}");

    assert_crashed(&extract(Some("extract.batch_stored@3")));
    assert_eq!(extracted_and_journaled(&ws), (accounts.clone(), 200), "the killed refresh left the last one whole");
    assert_eq!(legacy_bill(), bill, "and its records");
    let again = extract(None);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(String::from_utf8_lossy(&again.stdout), said, "the rerun takes in what the first one did");
    assert_eq!(extracted_and_journaled(&ws), (accounts, 200), "a refresh changes no state and journals nothing");
}
