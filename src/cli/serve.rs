//! `cutover serve` (the portal, issue 13), `serve hash-password`, and `cutover bench portal`,
//! the portal's load benchmark over loopback.

use super::{Failure, commands};
use crate::engine::Ctx;
use crate::portal::{Portal, client};
use clap::{Args, Subcommand};
use std::path::Path;
use std::sync::Arc;

type Result<T> = std::result::Result<T, Failure>;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub action: Option<ServeAction>,
    /// Listen here instead of `portal.listen` (e.g. 127.0.0.1:0 for any free port; the address
    /// taken is printed).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Act as of this day, YYYY-MM-DD (default: today): which links have expired, and the date
    /// journal rows carry. For demos and tests on a simulated workspace.
    #[arg(long, value_name = "DATE", value_parser = super::parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
}

#[derive(Debug, Subcommand)]
pub enum ServeAction {
    /// Read a password from standard input (one line) and print its argon2id hash, for a team
    /// member's `password_hash` in cutover.yaml. The password is never printed.
    HashPassword,
}

pub async fn run(root: &Path, args: ServeArgs) -> Result<u8> {
    if let Some(ServeAction::HashPassword) = args.action {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(Failure::operational)?;
        let password = line.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(Failure::input(anyhow::anyhow!("no password on standard input")));
        }
        println!("{}", crate::portal::security::hash_password(password).map_err(Failure::operational)?);
        return Ok(0);
    }
    let engine = commands::open_despite(root, "serve").await?;
    let (portal, random) = Portal::new(engine, args.as_of).map_err(Failure::input)?;
    if random {
        eprintln!(
            "note: {} is not set: forms are signed with a key made for this process (a restart refuses forms \
             shown before it)",
            crate::portal::security::SECRET_ENV
        );
    }
    if portal.config.team.is_empty() {
        eprintln!("note: portal.team lists nobody: the team pages refuse every sign-in");
    }
    let addr = args.listen.unwrap_or_else(|| portal.config.listen.clone());
    let listener = crate::portal::bind(&addr).await.map_err(Failure::operational)?;
    let local = listener.local_addr().map_err(Failure::operational)?;
    println!("portal: listening on http://{local} (customers reach {}/c/<token>)", portal.config.base_url);
    crate::portal::serve(Arc::new(portal), listener, super::schedule::wait_for_signal())
        .await
        .map_err(Failure::operational)?;
    eprintln!("portal: stopped cleanly");
    Ok(0)
}

/// `cutover bench portal`: a demo workspace in a scratch folder, a personal link per scheduled
/// account, the portal in this process on a free loopback port, then `requests` form posts from
/// `clients` concurrent clients. Checks every post is stored exactly once and none got a 5xx;
/// prints p50/p99/max latency and the machine.
// Long: one benchmark script in order: set up, drive the concurrent posts, check, print.
pub async fn bench(requests: usize, clients: usize, accounts: usize) -> Result<u8> {
    let dir = std::env::temp_dir().join(format!("cutover-bench-portal-{}", std::process::id()));
    let until = chrono::NaiveDate::from_ymd_opt(2017, 5, 20);
    let run = super::demo::demo_flow(&dir, accounts, 2017, until, None, Arc::default(), 1).await?;
    let mut engine = run.engine;
    engine.ws.config.portal = Some(crate::workspace::PortalConfig {
        listen: "127.0.0.1:0".into(),
        base_url: "http://127.0.0.1".into(),
        link_grace_days: 30,
        // The benchmark's clients all come from 127.0.0.1: the limit is not what is measured.
        rate_per_minute: u32::MAX / 2,
        team: vec![],
    });
    let as_of = run.last_day;
    let ctx = Ctx::new(as_of, "bench portal");
    let mut tokens = Vec::new();
    for wave in engine.plan.waves.clone() {
        for row in engine
            .store
            .wave_accounts(&crate::store::WavePage::of(&wave.id, &crate::domain::State::ALL, 100_000))
            .await?
        {
            let Some(first) = row.first_new_bill_date else { continue };
            if let Some(url) = engine.issue_link(&row.account_number, &wave.id, "bench", first, ctx.at).await?
                && let Some(t) = url.rsplit('/').next()
            {
                tokens.push((row.account_number.clone(), t.to_string()));
            }
        }
    }
    if tokens.is_empty() {
        return Err(Failure::operational(anyhow::anyhow!("the demo has no scheduled account to post for")));
    }
    let before = engine.store.portal_submissions(None).await?.len();
    let (portal, _) = Portal::new(engine, Some(as_of)).map_err(Failure::input)?;
    let portal = Arc::new(portal);
    let listener = crate::portal::bind("127.0.0.1:0").await.map_err(Failure::operational)?;
    let addr = listener.local_addr().map_err(Failure::operational)?.to_string();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::portal::serve(portal.clone(), listener, async move {
        let _ = stop_rx.await;
    }));
    println!("bench portal: {requests} form posts from {clients} clients over {} accounts, on {addr}", tokens.len());
    let tokens = Arc::new(tokens);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (tokens, next, addr) = (tokens.clone(), next.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut out: Vec<(std::time::Duration, u16, String)> = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= requests {
                    return out;
                }
                let (account, token) = &tokens[i % tokens.len()];
                // The page first (its form's CSRF token and nonce), then the post, timed.
                let page = match client::request(&addr, "GET", &format!("/c/{token}"), &[], None).await {
                    Ok(p) => p,
                    Err(e) => {
                        out.push((std::time::Duration::ZERO, 0, format!("{account}: {e}")));
                        continue;
                    }
                };
                let (csrf, nonce) = (page.input("csrf").unwrap_or_default(), page.input("nonce").unwrap_or_default());
                let emails = format!("ap{i}@bench.example, it{i}@bench.example");
                let body = client::form(&[("csrf", &csrf), ("nonce", &nonce), ("emails", &emails)]);
                let t = std::time::Instant::now();
                let r = client::request(&addr, "POST", &format!("/c/{token}/emails"), &[], Some(&body)).await;
                let took = t.elapsed();
                match r {
                    Ok(r) => out.push((took, r.status, nonce)),
                    Err(e) => out.push((took, 0, format!("{account}: {e}"))),
                }
            }
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.extend(t.await.map_err(Failure::operational)?);
    }
    let wall = started.elapsed();
    let _ = stop_tx.send(());
    let _ = server.await;
    let stored = portal.engine.store.portal_submissions(None).await?.len() - before;
    let ok = results.iter().filter(|r| r.1 == 200).count();
    let server_errors = results.iter().filter(|r| r.1 >= 500 || r.1 == 0).count();
    let mut lat: Vec<std::time::Duration> = results.iter().map(|r| r.0).collect();
    lat.sort();
    let pct = |p: usize| lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1))).copied().unwrap_or_default();
    println!("  posts answered 200: {ok} of {requests}; 5xx or no answer: {server_errors}");
    println!("  submissions stored: {stored} (expected {ok}: each post exactly once)");
    println!(
        "  latency of a post: p50 {:.1?}, p99 {:.1?}, max {:.1?}; wall {:.2?} ({} posts/s)",
        pct(50),
        pct(99),
        lat.last().copied().unwrap_or_default(),
        wall,
        (requests as u128 * 1000) / wall.as_millis().max(1)
    );
    println!(
        "  machine: {} CPU(s), {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        crate::bench::cpu_model()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(u8::from(stored != ok || server_errors > 0 || ok != requests))
}
