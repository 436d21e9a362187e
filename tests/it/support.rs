//! Real services for the tests: a fresh PostgreSQL database or MariaDB database per test.

use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}_{}_{}", std::process::id(), n)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A service a test needs is missing: fail in CI, skip loudly elsewhere.
fn missing(what: &str, err: &dyn std::fmt::Display) -> Option<String> {
    if in_ci() {
        panic!("{what} is required in CI but unreachable: {err}");
    }
    eprintln!("\n*** SKIPPED: {what} is not reachable ({err}); set CI=true to make this a failure ***\n");
    None
}

/// A tool a test needs is missing: fail in CI, skip loudly elsewhere.
pub fn missing_service<T>(what: &str) -> Option<T> {
    missing(what, &"not installed");
    None
}

/// A URL of a new, empty PostgreSQL database (`CUTOVER_TEST_PG`, default the local server).
pub async fn postgres_db() -> Option<String> {
    postgres_db_with("").await
}

/// [`postgres_db`] whose text sorts as ICU's `en-US` does (`A_1` before `a-1` before `A-2`), not
/// byte by byte as the C collation of this project's server does: for what must come out in the
/// same order whatever the database's collation.
pub async fn postgres_db_en_us() -> Option<String> {
    postgres_db_with(" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'").await
}

async fn postgres_db_with(options: &str) -> Option<String> {
    let admin =
        std::env::var("CUTOVER_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => return missing("PostgreSQL", &e),
    };
    // The databases of test runs that have ended, on the local server (where a name's process
    // id is this machine's), once per test process: a run leaves its databases behind.
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if std::env::var("CUTOVER_TEST_PG").is_err() && !SWEPT.swap(true, Ordering::SeqCst) {
        drop_ended_runs_databases(&mut conn).await;
    }
    let name = unique("cutover_test");
    sqlx::query(&format!("CREATE DATABASE {name}{options}")).execute(&mut conn).await.expect("create database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_string();
    Some(format!("{base}/{name}"))
}

/// Drops the `cutover_test_<pid>_<n>` databases whose process has ended (no `/proc/<pid>`). One
/// that cannot be dropped (someone is connected to it) is left for a later run.
async fn drop_ended_runs_databases(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'cutover\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.strip_prefix("cutover_test_").and_then(|rest| rest.split('_').next()?.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut *conn).await;
        }
    }
}

/// A URL of a new, empty MariaDB/MySQL database (`CUTOVER_TEST_MYSQL`, default the local server).
pub async fn mariadb_db() -> Option<String> {
    let admin = std::env::var("CUTOVER_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let mut conn = match sqlx::MySqlConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => return missing("MariaDB", &e),
    };
    let name = unique("cutover_legacy");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_string();
    Some(format!("{base}/{name}"))
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn repo_waves() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("waves")
}

/// A workspace in a temporary folder, reading the fixture CSV folder, with the repository's plan.
pub fn csv_workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo_waves(), &dir.path().join("waves"));
    copy_dir(&fixtures().join("legacy"), &dir.path().join("legacy"));
    std::fs::write(dir.path().join("cutover.yaml"), "source: { kind: csv, path: legacy/ }\n").expect("config");
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

/// The repository's plan, validated.
pub fn plan() -> cutover::plan::Plan {
    let w = repo_waves();
    let checked = cutover::plan::load(&w, &w, &w.join("catalog.yaml")).expect("read plan");
    checked.plan.expect("the repository plan is valid")
}

/// Copies a folder and everything under it.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// The real binary on a workspace, as a person runs it: no store, source or failpoint from the
/// environment, and a known actor for the journal (`CUTOVER_ACTOR`).
pub fn cutover(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("cutover").expect("binary");
    c.arg("-C")
        .arg(dir)
        .env_remove("CUTOVER_STORE_URL")
        .env_remove("CUTOVER_SOURCE_URL")
        .env_remove("CUTOVER_FAILPOINT")
        .env("CUTOVER_ACTOR", "test");
    c
}

/// A demo workspace (`demo --dir`) of `accounts` accounts whose simulated clock stopped before
/// `until`: the temporary folder that holds it, and its path.
pub fn demo_until(accounts: u32, seed: u32, until: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("demo");
    let out = cutover(dir.path())
        .args(["demo", "--dir"])
        .arg(&ws)
        .args(["--accounts", &accounts.to_string(), "--seed", &seed.to_string(), "--until", until])
        .output()
        .expect("demo runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, ws)
}

/// Every file under `root`, at any depth (none when it does not exist).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.expect("entry").path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out
}
