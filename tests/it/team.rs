//! Team mode (issue 12): several `cutover` processes on one PostgreSQL store end where one process
//! ends: the same state for every account, the same set of journal transitions (none twice), one
//! notice per account, one import-file row per cut-over account, and no exit 3. A worker killed
//! mid-wave leaves claims that another worker (it is on this host and sees the process gone) or a
//! restart after the lease takes over; every account is then finished once. Two runs at once on
//! one SQLite store wait for each other. A stop asked during a page starts no other page, not even
//! the one claimed ahead.

use super::smtp::Server;
use super::support;
use serde_json::Value;
use sqlx::Connection;
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
    workspace_of(store, mail, 160).await
}

/// [`workspace`] over a legacy database of `accounts` accounts.
async fn workspace_of(store: &str, mail: &str, accounts: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo_waves(), &dir.path().join("waves"));
    let data = cutover::demo::generate::DemoData { accounts, seed: 12, months: 12 };
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

/// Sends SIGTERM to a worker this test started, waits for it to end: its output and stderr.
fn sigterm(child: Child) -> (std::process::Output, String) {
    // SAFETY: signals a child this test started and has not waited for yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    (out, err)
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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// Waits for every child; panics on an exit 3 (or any code above 1), with its stderr. Returns
/// what each printed, in order. Each child's pipes are drained on a thread of their own, so one
/// that prints more than a pipe holds never waits for the others to be read first.
fn finish_all(children: Vec<(String, Child)>) -> Vec<String> {
    let waiting: Vec<_> =
        children.into_iter().map(|(what, c)| (what, std::thread::spawn(move || c.wait_with_output()))).collect();
    let mut printed = Vec::new();
    for (what, w) in waiting {
        let out = w.join().unwrap().unwrap();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{what} exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        printed.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    printed
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
    support::files_under(root).into_iter().filter(|p| p.file_name().is_some_and(|n| n == name)).collect()
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
    let is_notified = |e: &EndState| e.accounts.values().filter(|(s, ..)| s == "notified").count();
    let before = is_notified(&end_state(ws.path()));
    let args = ["notify", "--wave", WAVE, "--as-of", "2017-06-01"];
    let children = (0..3).map(|i| (format!("notify {i}"), spawn(ws.path(), &args, &[]))).collect();
    let printed = finish_all(children);
    let notified = each_notified_once(ws.path(), &server);
    assert!(notified > before);
    // Each notice counted once, by the worker whose send moved its account: a worker that found
    // it sent by another (their pages overlap) does not count it again.
    let said: usize = printed.iter().map(|p| sent_said(p)).sum();
    assert_eq!(said, notified - before, "the workers' reports: {printed:?}");
}

/// The notices a `notify` run says it sent (`… as of DATE: N notice(s) sent, …`).
fn sent_said(printed: &str) -> usize {
    let line = printed.lines().find(|l| l.contains(" notice(s) sent")).unwrap_or_else(|| panic!("{printed:?}"));
    let n = line.split(" notice(s) sent").next().and_then(|l| l.rsplit(' ').next()).unwrap_or_default();
    n.parse().unwrap_or_else(|e| panic!("{n:?} in {line:?}: {e}"))
}

/// The end state is consistent and every notified account got one message at the SMTP server
/// (or a printed letter), none twice. Returns how many accounts were notified.
fn each_notified_once(ws: &Path, server: &Server) -> usize {
    let e = end_state(ws);
    consistent(&e);
    let got = server.per_account();
    let notified: Vec<_> = e.accounts.iter().filter(|(_, (s, ..))| s == "notified").map(|(a, _)| a.clone()).collect();
    eprintln!("{} account(s) notified, {} message(s) at the server", notified.len(), got.len());
    for a in &notified {
        let printed = e.notices[a].iter().any(|(_, s)| s == "sent") && !got.contains_key(a);
        assert!(printed || got.get(a) == Some(&1), "{a}: {:?} messages", got.get(a));
    }
    assert!(got.values().all(|n| *n == 1), "no account twice: {got:?}");
    notified.len()
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
    ends_like_one_worker(one.path(), team.path());
}

/// The team's workspace ends as the one-worker workspace does, which reached notices: every
/// account's state and dates, each journal transition once, the same notices.
fn ends_like_one_worker(one: &Path, team: &Path) {
    let (a, b) = (end_state(one), end_state(team));
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

/// One number from the PostgreSQL store `db` (a `SELECT count(*) …`).
async fn count(db: &str, sql: &str) -> i64 {
    try_count(db, sql).await.unwrap()
}

async fn try_count(db: &str, sql: &str) -> Result<i64, sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(db).await?;
    let n = sqlx::query_scalar(sql).fetch_one(&mut conn).await;
    let _ = conn.close().await;
    n
}

/// Polls the store until `sql` counts something (true), or `child` has ended first (false). A
/// store the child has not set up yet counts nothing.
async fn wait_for(db: &str, sql: &str, child: &mut Child) -> bool {
    loop {
        if try_count(db, sql).await.is_ok_and(|n| n > 0) {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

const CLAIMED: &str = "SELECT count(*) FROM account WHERE claim_owner IS NOT NULL";
const LEASED: &str = "SELECT count(*) FROM lease";

/// The heartbeat (issue 12): a worker whose SMTP server takes longer than the lease per message
/// keeps its notices' leases alive, so a second worker neither reports them `unknown` nor takes
/// them over. Without the heartbeat the lease lapses mid-send and the second worker says
/// "delivery unknown" (exit 1).
#[tokio::test(flavor = "multi_thread")]
async fn two_notify_workers_over_an_smtp_server_slower_than_the_lease_send_once_and_report_no_unknown() {
    let Some(db) = support::postgres_db().await else { return };
    // Each message is answered 5 s after it arrived; a lease is 2 s unless renewed.
    let Some(server) = Server::start(None, &["--delay-ms", "5000"]) else { return };
    let mail = format!("mail: {{ transport: smtp, host: 127.0.0.1, port: {}, tls: none }}\n", server.port);
    let ws = workspace_of(&db, &mail, 60).await;
    let lease = ("CUTOVER_LEASE_SECS", "2");
    let out = support::cutover(ws.path()).args(run_args("2017-05-01")).env(lease.0, lease.1).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let args = ["notify", "--wave", WAVE, "--as-of", "2017-06-01"];
    let mut first = spawn(ws.path(), &args, &[lease]);
    // The second worker starts once one notice has been `sending` (its message at the slow
    // server) for longer than the lease: it meets that notice in flight past its first lease.
    let mut seen: BTreeMap<String, std::time::Instant> = BTreeMap::new();
    loop {
        let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
        let now: Vec<String> = sqlx::query_scalar("SELECT message_id FROM notice WHERE state = 'sending'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        seen.retain(|m, _| now.contains(m));
        for m in now {
            seen.entry(m).or_insert_with(std::time::Instant::now);
        }
        if seen.values().any(|t| t.elapsed() > std::time::Duration::from_millis(2500)) {
            break;
        }
        assert!(first.try_wait().unwrap().is_none(), "the first worker ended before a long send");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let second = spawn(ws.path(), &args, &[lease]);
    for (what, c) in [("first", first), ("second", second)] {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("delivery unknown"), "{what} notify reported a live send unknown: {err}");
        assert_eq!(out.status.code(), Some(0), "{what} notify: {err}");
    }
    assert!(each_notified_once(ws.path(), &server) >= 2);
}

/// Stopping a worker safely (issue 12): SIGTERM while it holds a page's claims; it finishes the
/// page, lets every claim and lease go and exits 4; a second worker started at once (no lease to
/// wait for) finishes every account once, as one uninterrupted worker does.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_stopped_by_sigterm_lets_its_claims_go_and_a_second_finishes_the_wave() {
    let (Some(one_db), Some(team_db)) = (support::postgres_db().await, support::postgres_db().await) else { return };
    let one = workspace_of(&one_db, "", 1200).await;
    let team = workspace_of(&team_db, "", 1200).await;
    let days = &DAYS[..4];
    for day in days {
        let out = support::cutover(one.path()).args(run_args(day)).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut stopped = spawn(team.path(), &run_args(days[0]), &[]);
    assert!(wait_for(&team_db, CLAIMED, &mut stopped).await, "the worker claims a page");
    let (out, err) = sigterm(stopped);
    assert_eq!(out.status.code(), Some(4), "stopped: {err}");
    assert_eq!(count(&team_db, CLAIMED).await, 0, "no claim left behind");
    assert_eq!(count(&team_db, LEASED).await, 0, "no lease left behind");
    let half = end_state(team.path());
    let left = half.accounts.values().filter(|(s, ..)| s == "extracted" || s == "rated").count();
    eprintln!("after the stop: {left} account(s) left to rate or reconcile");
    assert!(left > 0, "the stop came with work left: {:?}", half.accounts);
    // A second worker, at once: nothing of the first holds it up.
    for day in days {
        let out = support::cutover(team.path()).args(run_args(day)).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    ends_like_one_worker(one.path(), team.path());
}

/// A real SIGKILL (issue 12): a worker killed while it holds a page's claims leaves them in the
/// store; a restart after the lease finishes every account, each exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_sigkilled_holding_claims_leaves_its_accounts_to_a_restart_after_the_lease() {
    let (Some(one_db), Some(team_db)) = (support::postgres_db().await, support::postgres_db().await) else { return };
    let one = workspace_of(&one_db, "", 1200).await;
    let team = workspace_of(&team_db, "", 1200).await;
    let lease = ("CUTOVER_LEASE_SECS", "3");
    let days = &DAYS[..4];
    for day in days {
        let out = support::cutover(one.path()).args(run_args(day)).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut killed = spawn(team.path(), &run_args(days[0]), &[lease]);
    assert!(wait_for(&team_db, CLAIMED, &mut killed).await, "the worker claims a page");
    killed.kill().unwrap();
    let status = killed.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal: {status:?}");
    assert!(count(&team_db, CLAIMED).await > 0, "the dead worker's claims are still in the store");
    std::thread::sleep(std::time::Duration::from_secs(4));
    for day in days {
        let out = support::cutover(team.path()).args(run_args(day)).env(lease.0, lease.1).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(count(&team_db, CLAIMED).await, 0, "every claim let go");
    ends_like_one_worker(one.path(), team.path());
}

/// Stopping `schedule` mid-send (issue 12): SIGTERM while a message is at the (slow) server; the
/// message in hand is finished and marked, no notice is left `sending`, no claim or lease is left,
/// and it exits 4. A `notify` afterwards sends the rest, each account's notice once.
#[tokio::test(flavor = "multi_thread")]
async fn schedule_stopped_mid_send_finishes_the_message_in_hand_and_exits_4() {
    let Some(db) = support::postgres_db().await else { return };
    let Some(server) = Server::start(None, &["--delay-ms", "2000"]) else { return };
    let mail = format!("mail: {{ transport: smtp, host: 127.0.0.1, port: {}, tls: none }}\n", server.port);
    let ws = workspace_of(&db, &mail, 60).await;
    let out = support::cutover(ws.path()).args(run_args("2017-05-01")).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let args = ["schedule", "--wave", WAVE, "--as-of", "2017-06-01", "--tick-seconds", "3600"];
    let mut service = spawn(ws.path(), &args, &[]);
    let sending = "SELECT count(*) FROM notice WHERE state = 'sending'";
    assert!(wait_for(&db, sending, &mut service).await, "the service sends");
    let (out, err) = sigterm(service);
    assert_eq!(out.status.code(), Some(4), "stopped: {err}");
    assert_eq!(count(&db, sending).await, 0, "the message in hand was finished: {err}");
    assert_eq!(count(&db, CLAIMED).await, 0, "no claim left behind");
    assert_eq!(count(&db, LEASED).await, 0, "no lease left behind");
    let sent = count(&db, "SELECT count(*) FROM notice WHERE state = 'sent' AND channel = 'email'").await;
    let at_server = server.per_account();
    // The workspace sends two at a time (`delivery.concurrency: 2`): the stop came while the
    // first ones were at the server, so those are all it finished.
    assert!((1..=2).contains(&sent), "{sent} sent: only the messages in hand are finished; {err}");
    assert_eq!(at_server.len() as i64, sent, "every message the server took is marked sent: {at_server:?}");
    let notify = ["notify", "--wave", WAVE, "--as-of", "2017-06-01"];
    let out = support::cutover(ws.path()).args(notify).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let e = end_state(ws.path());
    consistent(&e);
    let got = server.per_account();
    assert!(got.len() as i64 > sent, "the stop left notices to send: {sent} then {}", got.len());
    assert!(got.values().all(|n| *n == 1), "no account twice: {got:?}");
}

/// Stops the stage (the flag SIGTERM sets) when a page is reported done.
struct StopAfterAPage(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl cutover::engine::Progress for StopAfterAPage {
    fn advance(&self, _n: u64) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A workspace on a generated legacy database of `accounts` demo accounts (seed 5, 12 months),
/// with the repository's waves, and an engine on its SQLite store whose stop flag is `stop`.
async fn demo_engine(
    accounts: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (tempfile::TempDir, cutover::engine::Engine, String) {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo_waves(), &dir.path().join("waves"));
    let data = cutover::demo::generate::DemoData { accounts, seed: 5, months: 12 };
    cutover::demo::generate::write_legacy_sqlite(&dir.path().join("legacy.db"), &data).await.unwrap();
    std::fs::write(dir.path().join("cutover.yaml"), "source: { kind: sql, url: \"sqlite://legacy.db\" }\n").unwrap();
    let ws = cutover::workspace::Workspace::open(dir.path()).unwrap();
    let url = ws.store_url();
    let store = cutover::store::Store::open(&url).await.unwrap();
    let mut engine =
        cutover::engine::Engine::new(ws, support::plan(), store, std::sync::Arc::new(cutover::engine::Quiet));
    engine.stop = std::sync::Arc::clone(stop);
    (dir, engine, url)
}

/// Asked to stop while it works on a page (SIGTERM sets the same flag), a stage finishes that
/// page and starts no other: the page it had already claimed ahead, its records being read, is
/// let go untouched (issue 11). The stop is asked from the progress report of the first page.
#[tokio::test]
async fn a_stop_asked_during_a_page_leaves_the_page_claimed_ahead_untouched() {
    use cutover::engine::Ctx;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let (_dir, mut engine, url) = demo_engine(3000, &stop).await;
    engine.progress = Arc::new(StopAfterAPage(Arc::clone(&stop)));
    let day = chrono::NaiveDate::from_ymd_opt(2017, 4, 5).unwrap();
    let ctx = Ctx::new(day, "test");
    engine.extract(&ctx).await.unwrap();
    let wave = "multi-tenant-cloud";
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let due = "SELECT account_number FROM account WHERE wave = 'multi-tenant-cloud' AND state = 'extracted' \
               AND COALESCE(not_before, '0000-01-01') <= '2017-04-05' ORDER BY account_number";
    let before: Vec<String> = sqlx::query_scalar(due).fetch_all(&mut db).await.unwrap();
    assert!(before.len() > 500, "more than a page is due: {}", before.len());
    // The first page is the first 500 due accounts; the next starts after the 500th.
    let last_of_first = &before[499];

    engine.rate_and_reconcile(wave, &ctx).await.unwrap();
    let moved_after: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM account WHERE wave = 'multi-tenant-cloud' AND account_number > $1 \
         AND (state <> 'extracted' OR not_before IS NOT NULL)",
    )
    .bind(last_of_first)
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(moved_after, 0, "nothing after the first page was touched");
    let moved: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM account WHERE wave = 'multi-tenant-cloud' AND account_number <= $1 AND state <> 'extracted'",
    )
    .bind(last_of_first)
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(moved > 0, "the first page was worked on");
    let claimed: i64 = sqlx::query_scalar("SELECT count(*) FROM account WHERE claim_owner IS NOT NULL")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(claimed, 0, "no claim left behind");

    // Started again, the stage does the rest.
    stop.store(false, Ordering::SeqCst);
    engine.progress = Arc::new(cutover::engine::Quiet);
    engine.rate_and_reconcile(wave, &ctx).await.unwrap();
    let left: Vec<String> = sqlx::query_scalar(due).fetch_all(&mut db).await.unwrap();
    assert!(left.is_empty(), "{} still due", left.len());
}

/// Notify into the outbox prepares and claims a page while the page before is finished (issue
/// 11): two pages are in hand at most. Asked to stop when its first page is done, it finishes
/// what it claimed (the first page, and the second if it was claimed before the stop came) and
/// claims nothing more: whole pages are notified, the accounts after them are untouched, every
/// notice sent has its file and no other file is there, none is left `sending` or half-written,
/// and its report counts what it sent. Started again, it notifies the rest, each account moved
/// (and journaled) once.
#[tokio::test]
async fn a_stop_during_notify_finishes_the_page_started_and_no_other() {
    use cutover::engine::Ctx;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let (dir, mut engine, url) = demo_engine(6000, &stop).await;
    let mailer = cutover::notify::transport::Mailer::from_config(&engine.ws.config.mail, dir.path()).unwrap();
    let outbox = match &mailer {
        cutover::notify::transport::Mailer::Outbox(d) => d.clone(),
        _ => panic!("the default mail transport is the outbox"),
    };
    let wave = "multi-tenant-cloud";
    let first = Ctx::new(chrono::NaiveDate::from_ymd_opt(2017, 4, 5).unwrap(), "test");
    engine.extract(&first).await.unwrap();
    engine.rate_and_reconcile(wave, &first).await.unwrap();
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // The notice day most of the wave shares: more than two pages of 500 are due on it.
    let (day, due): (String, i64) = sqlx::query_as(
        "SELECT notice_date, count(*) FROM account WHERE wave = 'multi-tenant-cloud' AND state = 'reconciled' \
         GROUP BY notice_date ORDER BY count(*) DESC LIMIT 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(due > 1000, "more than two pages are due on {day}: {due}");
    // The accounts whose notice is due that day, in the order pages take them. (Those whose notice
    // date passed are moved to a later cycle first, and are not on these pages.)
    let due_accounts = "SELECT account_number FROM account WHERE wave = 'multi-tenant-cloud' AND state = 'reconciled' \
                        AND notice_date = $1 ORDER BY account_number";
    let before: Vec<String> = sqlx::query_scalar(due_accounts).bind(&day).fetch_all(&mut db).await.unwrap();
    let ctx = Ctx::new(day.parse().unwrap(), "test");

    engine.progress = Arc::new(StopAfterAPage(Arc::clone(&stop)));
    let report = engine.notify_wave(wave, &ctx, &mailer).await.unwrap();
    let count = |sql: &'static str| {
        let url = url.clone();
        async move {
            let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut db).await.unwrap()
        }
    };
    let sent = count("SELECT count(*) FROM notice WHERE state = 'sent'").await;
    assert_eq!(count("SELECT count(*) FROM notice WHERE state <> 'sent'").await, 0, "none left in flight");
    let notified = count("SELECT count(*) FROM account WHERE state = 'notified'").await;
    assert_eq!(notified, sent, "each notice sent moved its account");
    assert_eq!(report.done, sent as u64, "the report counts each notice sent once: {report:?}");
    // Whole pages of the accounts due, one or two, and nothing after them.
    let still: Vec<String> = sqlx::query_scalar(due_accounts).bind(&day).fetch_all(&mut db).await.unwrap();
    let done = before.len() - still.len();
    assert!(done == 500 || done == 1000, "one or two whole pages: {done} of {due} ({sent} sent)");
    assert_eq!(still, before[done..], "nothing after the pages in hand was touched");
    let with_notice: BTreeSet<String> =
        sqlx::query_scalar("SELECT account_number FROM notice").fetch_all(&mut db).await.unwrap().into_iter().collect();
    assert!(before[done..].iter().all(|a| !with_notice.contains(a)), "no notice past the pages in hand");
    let files = |ext: &str| {
        std::fs::read_dir(&outbox)
            .map(|d| d.flatten().filter(|e| e.path().to_string_lossy().ends_with(ext)).count())
            .unwrap_or(0) as i64
    };
    let emailed = count("SELECT count(*) FROM notice WHERE state = 'sent' AND channel = 'email'").await;
    assert!(emailed > 0);
    assert_eq!(files(".eml"), emailed, "a file for each email sent, and no other");
    assert_eq!(files(".tmp"), 0, "no half-written file left");

    // Started again, it notifies the rest of the day, each account once.
    stop.store(false, Ordering::SeqCst);
    engine.progress = Arc::new(cutover::engine::Quiet);
    engine.notify_wave(wave, &ctx, &mailer).await.unwrap();
    let left: Vec<String> = sqlx::query_scalar(due_accounts).bind(&day).fetch_all(&mut db).await.unwrap();
    assert!(left.is_empty(), "{} still due", left.len());
    assert_eq!(count("SELECT count(*) FROM notice WHERE state <> 'sent'").await, 0);
    let notified = count("SELECT count(*) FROM account WHERE state = 'notified'").await;
    assert_eq!(notified, count("SELECT count(*) FROM notice WHERE state = 'sent'").await);
    let twice = count(
        "SELECT count(*) FROM (SELECT account_number FROM journal WHERE to_state = 'notified' \
         GROUP BY account_number HAVING count(*) > 1)",
    );
    assert_eq!(twice.await, 0, "no account moved to notified twice");
    let emailed = count("SELECT count(*) FROM notice WHERE state = 'sent' AND channel = 'email'").await;
    assert_eq!(files(".eml"), emailed);
    assert_eq!(files(".tmp"), 0);
}

/// A wave's run is recorded from the tallies this process keeps (issue 11) only while nobody
/// else changed any: another handle on the store that writes a tally and adds one to the tally
/// stamp, as every writer of tallies does in the same transaction, is seen by the next run, which
/// then equals the run a fresh process (reading every tally) records. A write that leaves the
/// stamp alone is not seen, even after this process wrote tallies of its own: that shows the runs
/// in between came from what was kept, and updated by its own writes, not from a fresh read.
#[tokio::test]
async fn a_run_is_recorded_from_kept_tallies_only_while_nobody_else_changed_them() {
    use cutover::engine::Ctx;
    use cutover::reconcile::AccountStatus;
    let stop = std::sync::Arc::default();
    let (_dir, engine, url) = demo_engine(400, &stop).await;
    let wave = WAVE;
    let ctx = Ctx::new(chrono::NaiveDate::from_ymd_opt(2017, 4, 5).unwrap(), "test");
    let stamp = || async { engine.store.tally_stamp().await.unwrap() };
    let at_open = stamp().await;
    engine.extract(&ctx).await.unwrap();
    let extracted = stamp().await;
    assert!(extracted > at_open, "an extraction may move accounts between waves: it moves the stamp");
    engine.rate_and_reconcile(wave, &ctx).await.unwrap();
    assert!(stamp().await > extracted, "writing tallies moves the stamp");
    let first = engine.store.latest_run(wave).await.unwrap().expect("a run recorded");
    let w = engine.plan.wave(wave).unwrap().clone();

    // Someone else flips a passing account's tally to failing, without the stamp.
    let other = cutover::store::Store::open(&url).await.unwrap();
    let tallies = other.wave_tallies(wave).await.unwrap();
    let mut flipped = tallies.iter().find(|t| t.status == AccountStatus::Pass).expect("a passing account").clone();
    flipped.status = AccountStatus::Fail;
    let mut tx = other.begin().await.unwrap();
    other.put_tallies_in(&mut tx, std::slice::from_ref(&flipped)).await.unwrap();
    tx.commit().await.unwrap();
    engine.record_tallied_run(&w, "test", &ctx).await.unwrap();
    let kept = engine.store.latest_run(wave).await.unwrap().unwrap();
    assert_eq!(
        (kept.number, &kept.fingerprint),
        (first.number, &first.fingerprint),
        "the kept tallies, not the store's"
    );

    // This process's own writes (its held accounts compared again) keep what it had: still stale.
    let (held, _) = engine.recheck_held(wave, &ctx).await.unwrap();
    assert!(held > 0, "held accounts to compare again");
    engine.rate_and_reconcile(wave, &ctx).await.unwrap();
    let own = engine.store.latest_run(wave).await.unwrap().unwrap();
    assert_eq!(own.failed, first.failed, "the flipped account is not counted: {own:?}");

    // The stamp moves (as with every real write): the next run reads the wave again and counts it.
    let mut tx = other.begin().await.unwrap();
    other.bump_tally_stamp_in(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    engine.record_tallied_run(&w, "test", &ctx).await.unwrap();
    let seen = engine.store.latest_run(wave).await.unwrap().unwrap();
    assert_eq!(seen.failed, first.failed + 1, "{seen:?}");
    assert_eq!(seen.number, own.number + 1);

    // A fresh process, reading every tally, finds the same run (recorded once: same fingerprint).
    let fresh_store = cutover::store::Store::open(&url).await.unwrap();
    let fresh = cutover::engine::Engine::new(
        cutover::workspace::Workspace::open(&engine.ws.root).unwrap(),
        support::plan(),
        fresh_store,
        std::sync::Arc::new(cutover::engine::Quiet),
    );
    fresh.record_tallied_run(&w, "test", &ctx).await.unwrap();
    let again = fresh.store.latest_run(wave).await.unwrap().unwrap();
    assert_eq!((again.number, &again.fingerprint), (seen.number, &seen.fingerprint));
}
