//! `cutover demo`: build a demo workspace with a synthetic legacy database and run every dated wave end to end on a simulated clock.

use super::commands::{Cx, Result, mailer, open, open_with};
use super::init::write_plan;
use super::{Failure, parse_date, report};
use crate::engine::Ctx;
use crate::engine::Engine;
use crate::store::Store;
use crate::workspace::Workspace;
use std::path::Path;
use std::path::PathBuf;

/// Build a demo workspace with a synthetic legacy database and run every dated wave end to end
/// on a simulated clock. Running it again on the same folder sends nothing and changes nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to build the demo workspace (default: the -C folder when given, else
    /// ./cutover-demo).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How many legacy accounts to generate.
    #[arg(long, default_value_t = 2000)]
    pub accounts: usize,
    /// Seed of the generator: the same seed gives the same data.
    #[arg(long, default_value_t = 2017)]
    pub seed: u64,
    /// Stop the simulated clock before this day, YYYY-MM-DD (a workspace in the middle of its
    /// waves, where every command of the tour still has work to show).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub until: Option<chrono::NaiveDate>,
    /// Worker threads for rating and reconciling, each claiming its own pages of accounts, as
    /// `run --workers` (on SQLite their writes take turns, the rest runs side by side).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub workers: usize,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let root = cx.root.as_path();
        let Args { dir, accounts, seed, until, workers } = self;
        // Run inside a workspace (the demo's own, or a real one), the default ./cutover-demo
        // would be a second demo nested in it: say so instead (nothing is written).
        if dir.is_none() && root == Path::new(".") && Path::new("cutover.yaml").exists() {
            return Err(Failure::input(anyhow::anyhow!(
                "this folder is a cutover workspace already (cutover.yaml), and `cutover demo` builds \
                 its demo in ./cutover-demo: run it again from the folder above (it then changes nothing \
                 that was done), or pass --dir to build another demo elsewhere"
            )));
        }
        // `-C DIR demo` builds the demo in DIR.
        let dir =
            dir.unwrap_or_else(|| if root == Path::new(".") { "cutover-demo".into() } else { root.to_path_buf() });
        demo(&dir, accounts, seed, until, workers).await
    }
}

async fn demo(dir: &Path, accounts: usize, seed: u64, until: Option<chrono::NaiveDate>, workers: usize) -> Result<u8> {
    let started = std::time::Instant::now();
    let run = demo_flow(dir, accounts, seed, until, None, std::sync::Arc::default(), workers).await?;
    println!("demo workspace: {}  (simulated {} .. {})", dir.display(), run.first_day, run.last_day);
    print!("{}", report::demo_summary(&run.engine).await?);
    if run.changes == 0 {
        println!("nothing to do: every stage had already run (no notice sent, no state changed)");
    }
    println!("wall time: {:.1} s", started.elapsed().as_secs_f64());
    // The other commands work on a workspace: from here, that is the demo's folder.
    if dir != Path::new(".") {
        println!("{}", next_step(dir, via_cargo_run().as_ref(), &program()));
    }
    Ok(0)
}

/// How the demo was started when it was not by name: `cargo run` (from a checkout, as the
/// README's first command does) puts its package's name in the environment of what it runs.
fn via_cargo_run() -> Option<CargoRun> {
    if !(std::env::var_os("CARGO_PKG_NAME").is_some_and(|n| n == env!("CARGO_PKG_NAME"))
        && std::env::var_os("CARGO").is_some())
    {
        return None;
    }
    let release =
        std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.ends_with("release"))).unwrap_or(false);
    // `cargo run` finds the package from the folder it is run in, or from `--manifest-path`
    // (`cargo run --manifest-path ../cutover/Cargo.toml -- demo`, from an empty folder): the next
    // command needs the same flag when this folder is not in the checkout.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let here = std::env::current_dir().ok();
    let manifest =
        manifest_dir.filter(|m| here.as_deref().is_none_or(|h| !h.starts_with(m))).map(|m| m.join("Cargo.toml"));
    Some(CargoRun { release, manifest })
}

/// The program as the user can run it again: `cutover` when it was run by name (from the PATH),
/// else its full path (`/tmp/x/cutover demo`, `./target/release/cutover demo`: not on the PATH).
fn program() -> String {
    let by_path = std::env::args_os().next().is_some_and(|a| std::path::Path::new(&a).components().count() > 1);
    match std::env::current_exe() {
        Ok(exe) if by_path => exe.display().to_string(),
        _ => "cutover".to_string(),
    }
}

/// The demo run by `cargo run`: from a release build, and the manifest to name when the current
/// folder is not inside the checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CargoRun {
    release: bool,
    manifest: Option<PathBuf>,
}

/// The summary's last line: the next command to run, as the user can run it. Someone who ran
/// `cargo run -- demo` may not have `cutover` on their PATH, so they are shown the `cargo run`
/// form of the same command.
fn next_step(dir: &Path, cargo: Option<&CargoRun>, program: &str) -> String {
    let d = dir.display();
    match cargo {
        None => {
            format!("next: cd {d} && {program} status  (or, from here: {program} -C {d} status; README, \"A tour\")")
        }
        Some(c) => format!(
            "next: cargo run {}{}-- -C {d} status  (with `cutover` installed, `cargo install --path {}`: \
             cd {d} && cutover status; README, \"A tour\")",
            if c.release { "--release " } else { "" },
            c.manifest.as_ref().map(|m| format!("--manifest-path {} ", m.display())).unwrap_or_default(),
            c.manifest.as_ref().and_then(|m| m.parent()).map_or(".".to_string(), |p| p.display().to_string()),
        ),
    }
}

/// What one run of the demo flow did (`demo` prints it; `bench pipeline` times it).
pub(super) struct DemoRun {
    pub engine: Engine,
    pub first_day: chrono::NaiveDate,
    pub last_day: chrono::NaiveDate,
    /// Stage runs that changed something (0: everything had already been done).
    pub changes: u64,
}

/// The demo's workspace in `dir` (created when missing): its plan and its cutover.yaml, reading
/// `legacy.db` beside it, with the portal at `portal` (its `base_url`) if given. A workspace
/// that already has a cutover.yaml is left as it is.
pub(super) fn demo_workspace(dir: &Path, portal: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::operational(anyhow::anyhow!("{}: {e}", dir.display())))?;
    let cfg = dir.join(crate::workspace::CONFIG_FILE);
    if !cfg.exists() {
        write_plan(dir).map_err(Failure::operational)?;
        let source = crate::workspace::SourceConfig::Sql { url: Some("sqlite://legacy.db".into()) };
        let mut text = crate::workspace::template_config(&source);
        if let Some(url) = portal {
            text.push_str(&format!("\nportal:\n  base_url: \"{url}\"\n"));
        }
        std::fs::write(&cfg, text).map_err(|e| Failure::operational(anyhow::anyhow!("{}: {e}", cfg.display())))?;
    }
    Ok(())
}

/// The demo flow: generate the legacy database (unless there is one), extract it, then run every
/// dated wave on every simulated day (up to the day before `until`). `store` overrides the
/// workspace's state store; `clock` times the stages when enabled.
// Long: the demo's story in order: generate, extract, every simulated day of every wave.
pub(super) async fn demo_flow(
    dir: &Path,
    accounts: usize,
    seed: u64,
    until: Option<chrono::NaiveDate>,
    store: Option<&str>,
    clock: std::sync::Arc<crate::bench::StageClock>,
    workers: usize,
) -> Result<DemoRun> {
    demo_workspace(dir, None)?;
    let db = dir.join("legacy.db");
    if !db.exists() {
        eprintln!("generating {accounts} legacy accounts (seed {seed}) into {}", db.display());
        let data = crate::demo::generate::DemoData { accounts, seed, months: 12 };
        let tmp = dir.join("legacy.db.partial");
        let _ = std::fs::remove_file(&tmp);
        let t = clock.start();
        let spinner = super::progress::spinner(&format!("generating {accounts} legacy accounts"));
        let g = crate::demo::generate::write_legacy_sqlite(&tmp, &data).await.map_err(Failure::operational);
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        let g = g?;
        clock.stop("generate", t, (g.accounts + g.services + g.usage + g.invoice_lines + g.contacts) as u64);
        std::fs::rename(&tmp, &db).map_err(|e| Failure::operational(anyhow::anyhow!(e)))?;
    } else {
        eprintln!("reusing the legacy database {}", db.display());
    }
    // A sample export of the billing email form, for the tour's `contacts import form.csv`.
    let form = dir.join("form.csv");
    if !form.exists() {
        std::fs::write(
            &form,
            "account_number,email,name,submitted_at\n\
             A000002,ap@new-address.example.com,Accounts Payable,2017-05-20T09:30:00Z\n\
             A000002,billing@new-address.example.com,Accounts Payable,2017-05-20T09:30:00Z\n\
             A000003,not-an-address,Someone,2017-05-21\n",
        )
        .map_err(|e| Failure::operational(anyhow::anyhow!("{}: {e}", form.display())))?;
    }
    let mut engine = match store {
        None => open(dir).await?,
        Some(url) => {
            let ws = Workspace::open(dir)?;
            open_with(ws, Store::open(url).await?)?
        }
    };
    engine.clock = clock;
    engine.workers = workers.max(1);
    let mailer = mailer(&engine)?;
    let waves: Vec<_> = engine.plan.waves.iter().filter(|w| w.start.is_some()).cloned().collect();
    let (Some(first), Some(last)) =
        (waves.iter().filter_map(|w| w.start).min(), waves.iter().filter_map(|w| w.end()).max())
    else {
        return Err(Failure::input(anyhow::anyhow!("no dated wave in the plan")));
    };
    // The simulated clock: from two months before the first wave to the day after the last one.
    let start = crate::domain::add_months(first, -2).unwrap_or(first);
    let mut day = start;
    let mut changes = 0u64;
    let mut extracted = false;
    let end = until.map_or(last + chrono::Days::new(1), |u| u.pred_opt().unwrap_or(u));
    while day <= end {
        let ctx = Ctx::new(day, "demo (simulated clock)");
        if !extracted {
            if let Some(c) = engine.ensure_extracted(&ctx).await? {
                eprintln!(
                    "extracted {} accounts, {} records; {} rows quarantined",
                    c.accounts, c.records, c.quarantined
                );
                changes += 1;
            }
            extracted = true;
        }
        for w in &waves {
            let r = engine.run_wave(&w.id, &ctx, &mailer).await?;
            changes += u64::from(r.changed_anything());
        }
        day = day + chrono::Days::new(1);
    }
    Ok(DemoRun { engine, first_day: start, last_day: end, changes })
}

#[cfg(test)]
mod tests {
    use super::{CargoRun, next_step};
    use std::path::{Path, PathBuf};

    #[test]
    fn the_next_step_is_the_command_as_the_user_can_run_it() {
        let d = Path::new("cutover-demo");
        let manifest = Some(PathBuf::from("/src/cutover/Cargo.toml"));
        let table: [(Option<CargoRun>, &str); 4] = [
            (None, "next: cd cutover-demo && cutover status  (or, from here: cutover -C cutover-demo status;"),
            (
                Some(CargoRun { release: true, manifest: None }),
                "next: cargo run --release -- -C cutover-demo status  (with `cutover` installed, `cargo install \
                 --path .`: ",
            ),
            (Some(CargoRun { release: false, manifest: None }), "next: cargo run -- -C cutover-demo status "),
            (
                Some(CargoRun { release: true, manifest }),
                "next: cargo run --release --manifest-path /src/cutover/Cargo.toml -- -C cutover-demo status  \
                 (with `cutover` installed, `cargo install --path /src/cutover`: ",
            ),
        ];
        for (run, want) in table {
            let got = next_step(d, run.as_ref(), "cutover");
            assert!(got.starts_with(want), "{run:?}: {got}");
        }
        // Run by its path (not on the PATH): the same path in both forms.
        let got = next_step(d, None, "/tmp/x/cutover");
        assert!(
            got.starts_with(
                "next: cd cutover-demo && /tmp/x/cutover status  (or, from here: /tmp/x/cutover -C cutover-demo status;"
            ),
            "{got}"
        );
    }
}
