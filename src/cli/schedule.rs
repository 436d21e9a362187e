//! `cutover schedule`: run as a service.

use super::commands::{Cx, PlanUse, Result, dry_report, mailer, unless_stopped};
use super::parse_date;

/// Run as a service: send each wave's notices when they are due, retry what failed for a
/// transient reason, and stop cleanly on SIGINT/SIGTERM (never in the middle of a message).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The waves to serve (default: every dated wave).
    #[arg(long)]
    pub wave: Vec<String>,
    /// Treat DATE (YYYY-MM-DD) as today, for a catch-up. Real mail is sent: to see what would
    /// happen, add --dry-run.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Seconds between checks (default: at the top of each hour).
    #[arg(long, hide = true)]
    pub tick_seconds: Option<u64>,
    /// One check only, on a copy: print which notices would go out, write and send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { wave, as_of, tick_seconds, dry_run } = self;
        schedule(cx, wave, as_of, tick_seconds, dry_run).await
    }
}

/// The long-running notice sender. A stop request (SIGINT/SIGTERM) lets the message in hand finish
/// and starts no new one; every notice is in the store before it is sent, so nothing is lost.
/// Stopped while waiting for the next check, it exits 0; in the middle of a pass, 4 (`EXIT_STOPPED`:
/// what was left is the next worker's).
async fn schedule(
    cx: &Cx,
    waves: Vec<String>,
    as_of: Option<chrono::NaiveDate>,
    tick: Option<u64>,
    dry_run: bool,
) -> Result<u8> {
    use std::sync::atomic::Ordering;
    let (engine, dry) = cx.open_for(dry_run, PlanUse::Whole).await?;
    let mailer = mailer(&engine)?;
    let waves: Vec<String> = if waves.is_empty() {
        engine.plan.waves.iter().filter(|w| w.start.is_some()).map(|w| w.id.clone()).collect()
    } else {
        waves
    };
    for w in &waves {
        engine.runnable_wave(w)?;
    }
    let stop = engine.stop.clone();
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    stop_on_signal(stop.clone(), wake.clone());
    eprintln!("schedule: serving {} ({})", waves.join(", "), mailer.describe());
    while !stop.load(Ordering::SeqCst) {
        let ctx = cx.ctx("schedule", as_of)?;
        for w in &waves {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            match engine.notify_wave(w, &ctx, &mailer).await {
                Ok(r) => print_pass(w, r),
                // The server being away is not a reason to stop serving: try again next tick.
                Err(crate::engine::EngineError::Mail(e)) => eprintln!("schedule: {w}: {e}; will try again"),
                Err(e) => return Err(e.into()),
            }
        }
        // Stopped in the middle of a pass: what was left is the next worker's (exit 4).
        if stop.load(Ordering::SeqCst) {
            return unless_stopped(&engine, "schedule", 0).await;
        }
        if dry.is_some() {
            // One check is what a dry run shows.
            dry_report(dry, &engine).await?;
            return Ok(0);
        }
        tokio::select! {
            _ = tokio::time::sleep(until_next_check(tick)) => {}
            _ = wake.notified() => {}
        }
    }
    eprintln!("schedule: stopped cleanly");
    Ok(0)
}

/// On the first SIGINT/SIGTERM: ask the engine to stop (the message in hand finishes) and wake
/// the wait between checks; on a second, exit at once (4).
fn stop_on_signal(stop: std::sync::Arc<std::sync::atomic::AtomicBool>, wake: std::sync::Arc<tokio::sync::Notify>) {
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("schedule: stop requested; finishing the message in hand (a second signal ends it at once)");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        wake.notify_one();
        wait_for_signal().await;
        eprintln!("schedule: stopped at once");
        std::process::exit(i32::from(super::EXIT_STOPPED));
    });
}

/// One line for a pass over a wave that did something, and its notes.
fn print_pass(wave: &str, r: crate::engine::StageReport) {
    if r != crate::engine::StageReport::default() {
        println!(
            "{} {wave}: {} sent, {} rescheduled, {} held, {} retrying, {} failed, {} unknown",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
            r.done,
            r.rescheduled,
            r.held,
            r.retried,
            r.failed,
            r.unknown
        );
    }
    // Accounts held on this pass (a notice day passed unsent with no later cycle in the window:
    // a service started late, or a wave on a simulated clock run without `--as-of`) need a person.
    if r.held > 0 {
        eprintln!(
            "warning: {wave}: {} account(s) held on this pass, most often because their notice day passed \
             unsent (`cutover status --wave {wave} --state held` lists them with the reason; `run --recheck-held` \
             gives each a new schedule if the window still allows one)",
            r.held
        );
    }
    for n in r.notes {
        eprintln!("note: {n}");
    }
}

/// How long to wait for the next check: `tick` seconds, else until the next full hour.
fn until_next_check(tick: Option<u64>) -> std::time::Duration {
    match tick {
        Some(s) => std::time::Duration::from_secs(s),
        None => std::time::Duration::from_secs((3600 - chrono::Utc::now().timestamp().rem_euclid(3600)).unsigned_abs()),
    }
}

#[cfg(unix)]
pub(super) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
pub(super) async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
