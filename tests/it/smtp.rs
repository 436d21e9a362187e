//! Notices delivered over real SMTP (aiosmtpd on loopback, `tests/smtp/server.py`), exactly once.

use super::support;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// The SMTP server process, stopped when dropped.
pub(super) struct Server {
    child: Child,
    pub(super) port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    pub(super) fn start(port: Option<u16>, args: &[&str]) -> Option<Server> {
        let ok = std::process::Command::new("python3").args(["-c", "import aiosmtpd"]).status();
        if !ok.is_ok_and(|s| s.success()) {
            return support::missing_service("Python's aiosmtpd (pip install aiosmtpd)");
        }
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("messages.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
        // A free port is free when asked, not always when the server binds it (tests run side by
        // side, and every outgoing connection takes a port of the same range): a port of our
        // choosing taken meanwhile is chosen again. A port the caller named must be that one.
        for _ in 0..5 {
            let at = port.unwrap_or_else(free_port);
            let mut child = std::process::Command::new("python3")
                .arg(&script)
                .args(["--port", &at.to_string(), "--log"])
                .arg(&log)
                .args(args)
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the SMTP server");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            if line.starts_with("READY") {
                return Some(Server { child, port: at, log, _dir: dir });
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(port.is_none(), "the SMTP server could not start on port {at}: it said {line:?}");
        }
        panic!("the SMTP server could not start on five free ports in a row");
    }

    /// Every message the server accepted: (envelope recipients, raw message).
    pub(super) fn messages(&self) -> Vec<(Vec<String>, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let to = v["rcpt_tos"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
                (to, v["data"].as_str().unwrap().to_string())
            })
            .collect()
    }

    /// Messages per account, by the account number in the deterministic Message-ID.
    pub(super) fn per_account(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (_, data) in self.messages() {
            let id = header(&data, "Message-ID").expect("a Message-ID");
            let account = id.split('.').nth(2).unwrap().to_string();
            *out.entry(account).or_default() += 1;
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(super) fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split("\r\n\r\n").next().unwrap_or(data).replace("\r\n ", " ");
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

pub(super) use support::cutover;

/// A workspace over a generated legacy database, mailing through the test server; its DC1
/// accounts are extracted, rated and reconciled as of 2017-05-01.
async fn workspace(port: u16) -> tempfile::TempDir {
    workspace_mailing(&format!("mail: {{ transport: smtp, host: 127.0.0.1, port: {port}, tls: none }}\n")).await
}

/// The same workspace with the given `mail:` line (empty: the default outbox folder).
pub(super) async fn workspace_mailing(mail: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo_waves(), &dir.path().join("waves"));
    let data = cutover::demo::generate::DemoData { accounts: 120, seed: 11, months: 12 };
    cutover::demo::generate::write_legacy_sqlite(&dir.path().join("legacy.db"), &data).await.unwrap();
    std::fs::write(
        dir.path().join("cutover.yaml"),
        format!(
            "source: {{ kind: sql, url: \"sqlite://legacy.db\" }}\n{mail}\
             delivery: {{ concurrency: 2, retry_base_ms: 50, max_attempts: 4 }}\n\
             sender: \"Atmosera Billing <billing@atmosera.example>\"\n"
        ),
    )
    .unwrap();
    let out = cutover(dir.path()).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

/// The accounts whose notice is due on 2017-06-01, and the addresses each should reach.
pub(super) fn due(dir: &Path) -> BTreeMap<String, ()> {
    let out = cutover(dir).args(["status", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "reconciled" && a["notice_date"] == "2017-06-01")
        .map(|a| (a["account_number"].as_str().unwrap().to_string(), ()))
        .collect()
}

fn notify(dir: &Path) -> std::process::Output {
    cutover(dir).args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"]).output().unwrap()
}

/// The accounts whose notices in a `notices --format json` report have `key` equal to `value`.
pub(super) fn accounts_where(report: &Value, key: &str, value: &str) -> Vec<String> {
    report["notices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n[key] == value)
        .map(|n| n["account_number"].as_str().unwrap().to_string())
        .collect()
}

pub(super) fn notices(dir: &Path) -> Value {
    let out = cutover(dir).args(["notices", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_message_per_account_with_both_parts_and_a_second_run_sends_nothing() {
    let Some(server) = Server::start(None, &[]) else { return };
    let ws = workspace(server.port).await;
    let expected = due(ws.path());
    assert!(expected.len() >= 5, "enough accounts due: {expected:?}");
    let out = notify(ws.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let got = server.per_account();
    let emailed: Vec<_> = got.keys().cloned().collect();
    // Accounts without a billing email get a printed letter instead, and no message.
    let report = notices(ws.path());
    let printed = accounts_where(&report, "channel", "print");
    let mut all: Vec<_> = emailed.iter().chain(&printed).cloned().collect();
    all.sort();
    assert_eq!(all, expected.keys().cloned().collect::<Vec<_>>());
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    for p in &printed {
        assert!(ws.path().join("print").join(format!("dc1-colocation-{p}-2017-07-01.html")).exists());
    }
    for (to, data) in server.messages() {
        let account = header(&data, "Message-ID").unwrap().split('.').nth(2).unwrap().to_string();
        assert_eq!(
            header(&data, "Message-ID").unwrap(),
            format!("<cutover.dc1-colocation.{account}.first_new_bill-2017-07-01@atmosera.example>")
        );
        assert_eq!(header(&data, "From").unwrap(), "\"Atmosera Billing\" <billing@atmosera.example>");
        assert_eq!(header(&data, "Subject").unwrap(), "Your Atmosera bill is changing on July 1, 2017");
        let header_to: Vec<String> = header(&data, "To").unwrap().split(',').map(|s| s.trim().to_string()).collect();
        assert_eq!(header_to, to, "the envelope and the To header agree");
        assert!(header(&data, "Content-Type").unwrap().starts_with("multipart/alternative"));
        assert!(data.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(data.contains("Content-Type: text/html; charset=utf-8"));
        assert!(data.contains("P.O. Box 2712"));
    }
    // Each account's journal says where its notice went.
    let first = emailed.first().unwrap();
    let one: Value = serde_json::from_slice(
        &cutover(ws.path()).args(["status", "--account", first, "--format", "json"]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(one["account"]["state"], "notified");
    assert!(
        one["journal"].as_array().unwrap().last().unwrap()["reason"]
            .as_str()
            .unwrap()
            .starts_with("notice emailed to ")
    );

    let again = notify(ws.path());
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(server.per_account(), got, "a second run sends nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_replies_are_retried_and_delivered_once() {
    for code in ["421", "451"] {
        let Some(server) = Server::start(None, &["--fail-first", "3", "--fail-code", code]) else { return };
        let ws = workspace(server.port).await;
        let out = notify(ws.path());
        assert_eq!(out.status.code(), Some(0), "{code}: {}", String::from_utf8_lossy(&out.stderr));
        let got = server.per_account();
        assert!(!got.is_empty() && got.values().all(|n| *n == 1), "{code}: {got:?}");
        let report = notices(ws.path());
        let retried =
            report["notices"].as_array().unwrap().iter().filter(|n| n["attempts"].as_i64().unwrap() > 1).count();
        assert!(retried >= 1, "{code}: some notices needed more than one attempt");
        assert!(report["notices"].as_array().unwrap().iter().all(|n| n["state"] == "sent"), "{code}: {report}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_refusal_is_recorded_with_the_reply_and_a_letter_goes_instead() {
    // Find an address to refuse: run once against a plain server to learn the recipients.
    let Some(probe) = Server::start(None, &[]) else { return };
    let ws = workspace(probe.port).await;
    assert_eq!(notify(ws.path()).status.code(), Some(0));
    let (victim_rcpt, victim_data) = probe.messages().into_iter().next().unwrap();
    let victim = header(&victim_data, "Message-ID").unwrap().split('.').nth(2).unwrap().to_string();
    drop(probe);

    let refused = victim_rcpt[0].clone();
    let Some(server) = Server::start(None, &["--reject", &refused]) else { return };
    let ws = workspace(server.port).await;
    let out = notify(ws.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "the customer was told, by letter: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = server.per_account();
    assert!(!got.contains_key(&victim));
    assert!(!got.is_empty() && got.values().all(|n| *n == 1));
    let report = notices(ws.path());
    let mine: Vec<_> =
        report["notices"].as_array().unwrap().iter().filter(|n| n["account_number"] == victim.as_str()).collect();
    assert_eq!(mine.len(), 1, "{report}");
    assert_eq!((mine[0]["state"].as_str(), mine[0]["channel"].as_str()), (Some("sent"), Some("print")), "{}", mine[0]);
    assert!(mine[0]["last_error"].as_str().unwrap().contains("550"), "the server's reply is kept: {}", mine[0]);
    assert!(ws.path().join("print").join(format!("dc1-colocation-{victim}-2017-07-01.html")).exists());
    let one: Value = serde_json::from_slice(
        &cutover(ws.path()).args(["status", "--account", &victim, "--format", "json"]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(one["account"]["state"], "notified");
    let why = one["journal"].as_array().unwrap().last().unwrap()["reason"].as_str().unwrap().to_string();
    assert!(why.starts_with("notice printed for mailing") && why.contains("550"), "{why}");
    // Nothing is sent again on the next run.
    assert_eq!(notify(ws.path()).status.code(), Some(0));
    assert!(!server.per_account().contains_key(&victim));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_login_is_said_as_refused_and_marks_nothing() {
    let Some(server) = Server::start(None, &["--auth", "billing:right-password"]) else { return };
    let ws = workspace(server.port).await;
    let out = cutover(ws.path())
        .env("CUTOVER_SMTP_USERNAME", "billing")
        .env("CUTOVER_SMTP_PASSWORD", "wrong-password")
        .args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("the SMTP server refused us") && err.contains("535"), "{err}");
    assert!(!err.contains("wrong-password") && !err.contains("cannot reach"), "{err}");
    assert_eq!(notices(ws.path())["notices"].as_array().unwrap().len(), 0, "nothing recorded");
    // With the right password everything goes out.
    let out = cutover(ws.path())
        .env("CUTOVER_SMTP_USERNAME", "billing")
        .env("CUTOVER_SMTP_PASSWORD", "right-password")
        .args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!server.per_account().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_down_at_start_exits_3_and_marks_nothing() {
    let port = free_port();
    // The workspace is prepared with no server running at all.
    let Some(_check) = Server::start(None, &[]) else { return };
    let ws = workspace(port).await;
    let out = notify(ws.path());
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the SMTP server"));
    let report = notices(ws.path());
    assert_eq!(report["notices"].as_array().unwrap().len(), 0, "nothing recorded, nothing marked sent");
    // When the server comes back, everything goes out once.
    let Some(server) = Server::start(Some(port), &[]) else { return };
    assert_eq!(notify(ws.path()).status.code(), Some(0));
    assert!(server.per_account().values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_send_and_restarted_every_account_gets_one_message_or_is_reported_unknown() {
    let Some(server) = Server::start(None, &["--delay-ms", "400"]) else { return };
    let ws = workspace(server.port).await;
    let expected = due(ws.path());
    let bin = assert_cmd::cargo::cargo_bin("cutover");
    let mut child = std::process::Command::new(&bin)
        .arg("-C")
        .arg(ws.path())
        .env("CUTOVER_ACTOR", "test")
        .args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let a few messages through, then kill it while others are in flight.
    let start = std::time::Instant::now();
    while server.messages().len() < 2 && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(150));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600)); // in-flight DATA completes server-side

    let out = notify(ws.path());
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let report = notices(ws.path());
    let unknown = accounts_where(&report, "state", "unknown");
    eprintln!(
        "after the kill: {} message(s) accepted, unknown {unknown:?}, due {}",
        server.messages().len(),
        expected.len()
    );
    assert!(unknown.len() <= 2, "at most the messages in flight (concurrency 2): {unknown:?}");
    let got = server.per_account();
    for account in expected.keys() {
        let printed = report["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["account_number"] == account.as_str() && n["channel"] == "print");
        let n = got.get(account).copied().unwrap_or(0);
        if unknown.contains(account) {
            assert!(n <= 1, "{account}: {n} messages");
        } else if !printed {
            assert_eq!(n, 1, "{account}: exactly one message");
        }
    }
    // A person resolves an unknown one; it is then notified, with the reason in its journal.
    if let Some(u) = unknown.first() {
        let out = cutover(ws.path())
            .args([
                "notify",
                "--wave",
                "dc1-colocation",
                "--resolve",
                u,
                "--as",
                "sent",
                "--reason",
                "mail log shows 250 queued",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let one: Value = serde_json::from_slice(
            &cutover(ws.path()).args(["status", "--account", u, "--format", "json"]).output().unwrap().stdout,
        )
        .unwrap();
        assert_eq!(one["account"]["state"], "notified");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn header_injection_in_names_and_addresses_never_adds_a_header_or_recipient() {
    let Some(server) = Server::start(None, &[]) else { return };
    let ws = workspace(server.port).await;
    let target = due(ws.path()).keys().next().unwrap().clone();
    let form = ws.path().join("form.csv");
    std::fs::write(
        &form,
        format!(
            "account_number,email,name,submitted_at\n\
             {target},\"ap@target.example\r\nBcc: evil@x.example\",Ann,2017-05-20\n\
             {target},\"ok@target.example, evil@x.example\",Ann,2017-05-20\n\
             {target},good@target.example,\"Ann\r\nBcc: evil@x.example\",2017-05-20\n\
             {target},\"Eve <evil@x.example>\",,2017-05-20\n\
             {target},billing@target.example,Ann,2017-05-21\n"
        ),
    )
    .unwrap();
    let out = cutover(ws.path()).args(["contacts", "import"]).arg(&form).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "rejected rows make the import exit 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 4, "{err}");
    assert_eq!(notify(ws.path()).status.code(), Some(0));
    let msgs = server.messages();
    assert!(!msgs.is_empty());
    for (to, data) in &msgs {
        assert!(!to.iter().any(|t| t.contains("evil")), "{to:?}");
        let head = data.split("\r\n\r\n").next().unwrap();
        assert!(!head.to_ascii_lowercase().contains("bcc:"), "{head}");
        assert!(!data.contains("evil@x.example"), "no trace of the injected address");
    }
    let target_msg = msgs.iter().find(|(_, d)| d.contains(&format!(".{target}."))).unwrap();
    assert_eq!(target_msg.0, vec!["billing@target.example".to_string()], "the latest submission wins");
}

#[tokio::test(flavor = "multi_thread")]
async fn sending_limits_send_early_never_late() {
    // Outbox transport: this test is about when notices go, not how.
    let Some(server) = Server::start(None, &[]) else { return };
    let ws = workspace(server.port).await;
    let due_accounts = due(ws.path());
    assert!(due_accounts.len() > 5);
    let wave = ws.path().join("waves/dc1-colocation.yaml");
    let text = std::fs::read_to_string(&wave).unwrap();
    std::fs::write(&wave, format!("{text}notices: {{ per_day: 5 }}\n")).unwrap();
    let mut per_day = Vec::new();
    for day in 25..=35 {
        let date = chrono::NaiveDate::from_ymd_opt(2017, 5, 1).unwrap() + chrono::Days::new(day - 1);
        let before = server.messages().len();
        let out = cutover(ws.path())
            .args(["notify", "--wave", "dc1-colocation", "--as-of", &date.to_string()])
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{date}: {}", String::from_utf8_lossy(&out.stderr));
        per_day.push((date, server.messages().len() - before));
    }
    assert!(per_day.iter().all(|(_, n)| *n <= 5), "at most 5 a day: {per_day:?}");
    let report = notices(ws.path());
    for account in due_accounts.keys() {
        let n = report["notices"].as_array().unwrap().iter().find(|n| n["account_number"] == account.as_str());
        let sent_at = n
            .and_then(|n| n["sent_at"].as_str())
            .unwrap_or_else(|| panic!("{account} was never notified: {per_day:?}"));
        assert!(&sent_at[..10] <= "2017-06-01", "{account} notified late, on {sent_at}");
    }
    assert!(per_day.iter().any(|(d, n)| d.to_string().as_str() < "2017-06-01" && *n > 0), "some went early");
    let status = cutover(ws.path()).args(["status", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    let late: Vec<_> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| due_accounts.contains_key(a["account_number"].as_str().unwrap()))
        .filter(|a| a["reason"].as_str().unwrap_or("").contains("passed unsent"))
        .collect();
    assert!(late.is_empty(), "none of the accounts due June 1 was late: {late:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_too_low_are_said_before_sending() {
    let Some(server) = Server::start(None, &[]) else { return };
    let ws = workspace(server.port).await;
    let wave = ws.path().join("waves/dc1-colocation.yaml");
    let text = std::fs::read_to_string(&wave).unwrap();
    std::fs::write(&wave, format!("{text}notices: {{ per_day: 2 }}\n")).unwrap();
    let out =
        cutover(ws.path()).args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sending limits too low"), "{err}");
    assert_eq!(server.messages().len(), 2, "it still sends what the limit allows");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_service_sends_when_due_and_stops_cleanly_on_sigterm() {
    let Some(server) = Server::start(None, &[]) else { return };
    let ws = workspace(server.port).await;
    let expected = due(ws.path());
    let bin = assert_cmd::cargo::cargo_bin("cutover");
    let child = std::process::Command::new(&bin)
        .arg("-C")
        .arg(ws.path())
        .env("CUTOVER_ACTOR", "test")
        .args(["schedule", "--wave", "dc1-colocation", "--as-of", "2017-06-01", "--tick-seconds", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let report = loop {
        let r = notices(ws.path());
        let done = r["notices"].as_array().unwrap().iter().filter(|n| n["state"] == "sent").count();
        if done == expected.len() || start.elapsed() > std::time::Duration::from_secs(60) {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(
        report["summary"]["sent"].as_u64().unwrap() + report["summary"]["printed"].as_u64().unwrap(),
        expected.len() as u64
    );
    // SIGTERM: it finishes what it holds and exits 0.
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped cleanly"));
    assert!(server.per_account().values().all(|n| *n == 1), "each account once, across every tick");
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_processes_running_at_once_send_each_notice_once() {
    let Some(server) = Server::start(None, &["--delay-ms", "50"]) else { return };
    let ws = workspace(server.port).await;
    let bin = assert_cmd::cargo::cargo_bin("cutover");
    let spawn = || {
        std::process::Command::new(&bin)
            .arg("-C")
            .arg(ws.path())
            .env("CUTOVER_ACTOR", "test")
            .args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Three at once (the service and two people, say): each notice is taken by exactly one.
    let mut children = [spawn(), spawn(), spawn()];
    for c in &mut children {
        c.wait().unwrap();
    }
    let got = server.per_account();
    assert!(!got.is_empty());
    assert!(got.values().all(|n| *n == 1), "no account twice: {got:?}");
}
