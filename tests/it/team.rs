//! Team mode (issue 12): several `cutover` processes on one PostgreSQL store end where one process
//! ends: the same state for every account, the same set of journal transitions (none twice), one
//! notice per account, one import-file row per cut-over account, and no exit 3. A worker killed
//! mid-wave leaves claims that another worker (it is on this host and sees the process gone) or a
//! restart after the lease takes over; every account is then finished once. Two runs at once on
//! one SQLite store wait for each other.

use super::smtp::Server;
use super::support;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// The days the wave is run on: before, around the notices (2017-06-01) and around the
/// cut-overs (2017-06-30, 2017-07-31) of dc1-colocation.
const DAYS: &[&str] = &[
    "2017-04-01",
    "2017-05-01",
    "2017-05-10",
    "2017-06-01",
    "2017-06-15",
    "2017-06-30",
    "2017-07-15",
    "2017-07-31",
    "2017-08-05",
];
const WAVE: &str = "dc1-colocation";

/// A workspace over a generated legacy database, on the PostgreSQL store `store`, mailing with
/// `mail` (empty: the outbox folder).
async fn workspace(store: &str, mail: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo_waves(), &dir.path().join("waves"));
    let data = cutover::demo::generate::DemoData { accounts: 160, seed: 12, months: 12 };
    cutover::demo::generate::write_legacy_sqlite(&dir.path().join("legacy.db"), &data).await.unwrap();
    std::fs::write(
        dir.path().join("cutover.yaml"),
        format!(
            "source: {{ kind: sql, url: \"sqlite://legacy.db\" }}\nstore: \"{store}\"\n{mail}\
             delivery: {{ concurrency: 2, retry_base_ms: 50, max_attempts: 4 }}\n\
             sender: \"Atmosera Billing <billing@atmosera.example>\"\n"
        ),
    )
    .unwrap();
    dir
}

fn spawn(ws: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("cutover"));
    c.arg("-C")
        .arg(ws)
        .env_remove("CUTOVER_STORE_URL")
        .env_remove("CUTOVER_SOURCE_URL")
        .env_remove("CUTOVER_FAILPOINT")
        .env("CUTOVER_ACTOR", "test")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// Waits for every child; panics on an exit 3 (or any code above 1), with its stderr.
fn finish_all(children: Vec<(String, Child)>) {
    for (what, c) in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{what} exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn json(ws: &Path, args: &[&str]) -> Value {
    let out = support::cutover(ws).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What must be equal between one process and a team.
#[derive(Debug, PartialEq, Eq)]
struct EndState {
    /// account → (state, cut-over date, first new bill date, notice date)
    accounts: BTreeMap<String, (String, String, String, String)>,
    /// Every journal transition (account, from, to, effective time), sorted, duplicates kept.
    transitions: Vec<(String, String, String, String)>,
    /// account → notices (kind, state)
    notices: BTreeMap<String, Vec<(String, String)>>,
    /// Rows per account over every set's `accounts-and-contacts.csv`.
    import_rows: BTreeMap<String, usize>,
}

fn end_state(ws: &Path) -> EndState {
    let status = json(ws, &["status", "--wave", WAVE, "--format", "json"]);
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let accounts = status["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                s(&a["account_number"]),
                (s(&a["state"]), s(&a["cutover_date"]), s(&a["first_new_bill_date"]), s(&a["notice_date"])),
            )
        })
        .collect();
    let journal = json(ws, &["journal", "--wave", WAVE, "--format", "json"]);
    let rows = journal.as_array().or_else(|| journal["rows"].as_array()).or_else(|| journal["journal"].as_array());
    let mut transitions: Vec<_> = rows
        .expect("journal rows")
        .iter()
        .map(|r| (s(&r["account_number"]), s(&r["from"]), s(&r["to"]), s(&r["effective"])))
        .collect();
    transitions.sort();
    let notices_json = json(ws, &["notices", "--wave", WAVE, "--format", "json"]);
    let mut notices: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for n in notices_json["notices"].as_array().unwrap() {
        notices.entry(s(&n["account_number"])).or_default().push((s(&n["kind"]), s(&n["state"])));
    }
    let mut import_rows = BTreeMap::new();
    for file in files_named(&ws.join("import"), "accounts-and-contacts.csv") {
        let mut rdr = csv::Reader::from_path(&file).unwrap();
        for r in rdr.records() {
            *import_rows.entry(r.unwrap()[0].to_string()).or_default() += 1;
        }
    }
    EndState { accounts, transitions, notices, import_rows }
}

fn files_named(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name) {
                out.push(p);
            }
        }
    }
    out
}

/// Outbox messages per account (the `.eml` files; one name per notice).
fn outbox(ws: &Path) -> BTreeSet<String> {
    std::fs::read_dir(ws.join("outbox"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn run_args(day: &str) -> Vec<&str> {
    vec!["run", "--wave", WAVE, "--as-of", day]
}

/// The checks every team end state passes on its own, whatever the reference says.
fn consistent(e: &EndState) {
    let mut seen = BTreeSet::new();
    for t in &e.transitions {
        assert!(seen.insert(t), "journal transition twice: {t:?}");
    }
    for (account, (state, ..)) in &e.accounts {
        let rows = e.import_rows.get(account).copied().unwrap_or(0);
        match state.as_str() {
            "cut_over" | "loaded" => assert_eq!(rows, 1, "{account} is {state}: one import row"),
            _ => assert_eq!(rows, 0, "{account} is {state}: no import row"),
        }
        let sent = e.notices.get(account).map_or(0, |n| n.iter().filter(|(_, s)| s == "sent").count());
        assert!(sent <= 1, "{account}: {sent} notices sent");
    }
    assert!(e.notices.values().flatten().all(|(_, s)| s != "unknown" && s != "sending"), "{:?}", e.notices);
}

#[tokio::test(flavor = "multi_thread")]
async fn three_runs_two_switches_and_a_notify_at_once_end_like_one_run() {
    let (Some(one_db), Some(team_db)) = (support::postgres_db().await, support::postgres_db().await) else { return };
    let one = workspace(&one_db, "").await;
    let team = workspace(&team_db, "").await;
    for day in DAYS {
        let out = support::cutover(one.path()).args(run_args(day)).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
        let mut children = Vec::new();
        for i in 0..3 {
            children.push((format!("run {i} on {day}"), spawn(team.path(), &run_args(day), &[])));
        }
        for i in 0..2 {
            let args = ["switch", "--wave", WAVE, "--as-of", day];
            children.push((format!("switch {i} on {day}"), spawn(team.path(), &args, &[])));
        }
        let args = ["notify", "--wave", WAVE, "--as-of", day];
        children.push((format!("notify on {day}"), spawn(team.path(), &args, &[])));
        finish_all(children);
    }
    let (a, b) = (end_state(one.path()), end_state(team.path()));
    assert!(a.accounts.values().any(|(s, ..)| s == "cut_over"), "the days reach cut-overs: {:?}", a.accounts);
    consistent(&a);
    consistent(&b);
    assert_eq!(a.accounts, b.accounts, "every account's state and dates");
    assert_eq!(a.transitions, b.transitions, "the same journal transitions, none twice");
    assert_eq!(a.notices, b.notices, "one notice per account");
    assert_eq!(a.import_rows, b.import_rows, "one import row per cut-over account");
    assert_eq!(outbox(one.path()), outbox(team.path()), "the same outbox messages");
}

#[tokio::test(flavor = "multi_thread")]
async fn three_notify_processes_over_smtp_send_once_and_report_no_unknown() {
    let Some(db) = support::postgres_db().await else { return };
    let Some(server) = Server::start(None, &["--delay-ms", "30"]) else { return };
    let ws =
        workspace(&db, &format!("mail: {{ transport: smtp, host: 127.0.0.1, port: {}, tls: none }}\n", server.port))
            .await;
    let out = support::cutover(ws.path()).args(run_args("2017-05-01")).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let args = ["notify", "--wave", WAVE, "--as-of", "2017-06-01"];
    let children = (0..3).map(|i| (format!("notify {i}"), spawn(ws.path(), &args, &[]))).collect();
    finish_all(children);
    let e = end_state(ws.path());
    consistent(&e);
    let got = server.per_account();
    let notified: Vec<_> = e.accounts.iter().filter(|(_, (s, ..))| s == "notified").map(|(a, _)| a.clone()).collect();
    assert!(!notified.is_empty());
    for a in &notified {
        let printed = e.notices[a].iter().any(|(_, s)| s == "sent") && !got.contains_key(a);
        assert!(printed || got.get(a) == Some(&1), "{a}: {:?} messages", got.get(a));
    }
    assert!(got.values().all(|n| *n == 1), "no account twice: {got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_wave_leaves_its_accounts_to_a_restart_after_the_lease() {
    let (Some(one_db), Some(team_db)) = (support::postgres_db().await, support::postgres_db().await) else { return };
    let one = workspace(&one_db, "").await;
    let team = workspace(&team_db, "").await;
    let lease = ("CUTOVER_LEASE_SECS", "5");
    let mut died = 0;
    for day in &DAYS[..4] {
        let out = support::cutover(one.path()).args(run_args(day)).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
        // A worker dies holding the claims of its first page (`team.claimed` aborts the process
        // like a SIGKILL); a second worker, started while those claims are live, leaves them.
        let dying = spawn(team.path(), &run_args(day), &[lease, ("CUTOVER_FAILPOINT", "team.claimed")]);
        let status = dying.wait_with_output().unwrap().status;
        if status.code().is_none_or(|c| c > 1) {
            died += 1;
        }
        let other = spawn(team.path(), &run_args(day), &[lease]);
        finish_all(vec![(format!("worker on {day}"), other)]);
        let counts = |ws: &Path| json(ws, &["status", "--wave", WAVE, "--format", "json"])["waves"].clone();
        eprintln!("{day}: worker died: {status:?}; after the other worker: {}", counts(team.path()));
        // A restart after the lease finishes what the dead one held.
        std::thread::sleep(std::time::Duration::from_secs(6));
        let out = support::cutover(team.path()).args(run_args(day)).env(lease.0, lease.1).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(died > 0, "a worker died holding claims");
    let (a, b) = (end_state(one.path()), end_state(team.path()));
    consistent(&b);
    assert!(a.accounts.values().any(|(s, ..)| s == "notified"), "{:?}", a.accounts);
    assert_eq!(a.accounts, b.accounts, "every account's state and dates");
    assert_eq!(a.transitions, b.transitions, "each change exactly once");
    assert_eq!(a.notices, b.notices);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_on_one_sqlite_store_wait_for_each_other_and_never_say_database_is_locked() {
    let ws = workspace("sqlite://.cutover/state.db", "").await;
    for day in &DAYS[..4] {
        let children: Vec<_> = (0..2).map(|_| spawn(ws.path(), &run_args(day), &[])).collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("database is locked"), "{err}");
            assert!(out.status.code().is_some_and(|c| c <= 1), "{day}: {err}");
        }
    }
    consistent(&end_state(ws.path()));
}
