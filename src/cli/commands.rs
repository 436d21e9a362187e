//! What every command shares: dispatch to the command's file, who is acting and on which day, and
//! opening the workspace (its plan, its store, or a scratch store; a dry run's copy).

use super::{Command, Failure};
use crate::engine::{Ctx, Engine};
use crate::notify::transport::Mailer;
use crate::store::Store;
use crate::workspace::Workspace;
use std::path::Path;

pub type Result<T> = std::result::Result<T, Failure>;

/// What every command gets: the workspace folder and who is acting (if known).
pub struct Cx {
    pub root: std::path::PathBuf,
    pub actor: Option<String>,
}

impl Cx {
    /// The workspace's engine (see [`open`]).
    pub(super) async fn open(&self) -> Result<Engine> {
        open(&self.root).await
    }

    /// The workspace's engine for `command`, which concerns accounts one at a time or only reads
    /// (a report, a rollback, the portal): a plan with errors outside its catalog does not stop
    /// it (see [`PlanUse::ValidPart`]).
    pub(super) async fn open_despite(&self, command: &'static str) -> Result<Engine> {
        open_despite(&self.root, command).await
    }

    /// The workspace's engine, for a report by `command` on `wave` (when given): a wave neither
    /// the plan nor the store knows (a typo) is refused before anything is read. A wave whose
    /// file has errors, or that left the plan, is still reported from the store.
    pub(super) async fn open_on(&self, command: &'static str, wave: Option<&str>) -> Result<Engine> {
        let engine = self.open_despite(command).await?;
        if let Some(w) = wave
            && let Err(e) = engine.wave(w)
            && engine.store.count_wave(w, &crate::domain::State::ALL).await? == 0
        {
            return Err(e.into());
        }
        Ok(engine)
    }

    /// The engine for a command that changes state; with `dry_run`, a copy (see [`open_for`]).
    pub(super) async fn open_for(&self, dry_run: bool, plan: PlanUse) -> Result<(Engine, Option<super::dry::DryRun>)> {
        open_for(&self.root, dry_run, plan).await
    }

    /// The clock of a state change made by `command`: as of `as_of` (default: today), by the
    /// named actor (refused without one, see [`actor`]).
    pub(super) fn ctx(&self, command: &str, as_of: Option<chrono::NaiveDate>) -> Result<Ctx> {
        Ok(Ctx::new(as_of.unwrap_or_else(today), actor(&self.actor, command)?))
    }
}

pub async fn dispatch(cli: super::Cli) -> Result<u8> {
    let cx = Cx { root: cli.workspace, actor: cli.actor };
    match cli.command {
        Command::Demo(a) => a.run(&cx).await,
        Command::Init(a) => a.run(&cx).await,
        Command::Plan(a) => a.run(&cx).await,
        Command::Extract(a) => a.run(&cx).await,
        Command::Run(a) => a.run(&cx).await,
        Command::Bill(a) => a.run(&cx).await,
        Command::Reconcile(a) => a.run(&cx).await,
        Command::Waive(a) => a.run(&cx).await,
        Command::Hold(a) => a.run(&cx).await,
        Command::Waves(a) => a.run(&cx).await,
        Command::Gate(a) => a.run(&cx).await,
        Command::Notify(a) => a.run(&cx).await,
        Command::Notices(a) => a.run(&cx).await,
        Command::Contacts(a) => a.run(&cx).await,
        Command::Schedule(a) => a.run(&cx).await,
        Command::Switch(a) => a.run(&cx).await,
        Command::Rollback(a) => a.run(&cx).await,
        Command::Readmit(a) => a.run(&cx).await,
        Command::Bench(a) => a.run(&cx).await,
        Command::Serve(args) => super::serve::run(&cx.root, args).await,
        Command::Journal(a) => a.run(&cx).await,
        Command::Status(a) => a.run(&cx).await,
    }
}

/// Who is acting, for the journal: `--actor` / `$CUTOVER_ACTOR`, else `$USER`, with the command.
/// A state change without a known actor is refused: the journal must say who. (A report, which
/// changes no account, runs without one.)
pub(super) fn actor(given: &Option<String>, command: &str) -> Result<String> {
    let user = given
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "who is doing this? pass --actor NAME or set CUTOVER_ACTOR: the journal records who changed each account"
            ))
        })?;
    Ok(format!("{user} ({command})"))
}

/// Today, in UTC: the engine's clock (`Ctx`) is UTC too.
pub(super) fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

pub(super) fn load_plan(ws: &Workspace) -> Result<crate::plan::Checked> {
    let checked = crate::plan::load(&ws.root, &ws.path(&ws.config.plan), &ws.path(&ws.config.catalog))
        .map_err(|e| Failure::input(anyhow::anyhow!(e)))?;
    Ok(checked)
}

pub(super) async fn open(root: &Path) -> Result<Engine> {
    open_using(root, PlanUse::Whole).await
}

/// [`Cx::open_despite`].
pub(super) async fn open_despite(root: &Path, command: &'static str) -> Result<Engine> {
    open_using(root, PlanUse::ValidPart(command)).await
}

async fn open_using(root: &Path, plan: PlanUse) -> Result<Engine> {
    let ws = Workspace::open(root)?;
    let store = Store::open(&ws.store_url()).await?;
    open_with_plan(ws, store, plan)
}

/// What a command needs of the plan.
#[derive(Clone, Copy)]
pub(super) enum PlanUse {
    /// All of it without errors: every stage, and whatever changes a wave.
    Whole,
    /// The named command goes on when only wave files have errors, with the catalog and the valid
    /// wave files (the problems printed, then a warning): an operator who mistyped a new wave
    /// file can still roll back a customer, read the status and keep the portal up.
    ValidPart(&'static str),
}

/// The engine for a command that changes state; with `dry_run`, diverted to a copy (see `dry`).
/// A dry run on a workspace that has no state file yet leaves none behind.
pub(super) async fn open_for(
    root: &Path,
    dry_run: bool,
    plan: PlanUse,
) -> Result<(Engine, Option<super::dry::DryRun>)> {
    if !dry_run {
        return Ok((open_using(root, plan).await?, None));
    }
    let ws = Workspace::open(root)?;
    let mut engine = if state_file_missing(&ws) {
        open_with_plan(ws, Store::scratch().await?, plan)?
    } else {
        open_using(root, plan).await?
    };
    let dry = super::dry::DryRun::divert(&mut engine).await?;
    Ok((engine, Some(dry)))
}

pub(super) async fn dry_report(dry: Option<super::dry::DryRun>, engine: &Engine) -> Result<()> {
    if let Some(d) = dry {
        print!("{}", d.report(engine).await?);
    }
    Ok(())
}

/// Whether the workspace's SQLite state file does not exist yet.
pub(super) fn state_file_missing(ws: &Workspace) -> bool {
    let url = ws.store_url();
    url.strip_prefix("sqlite://").is_some_and(|p| !Path::new(p.split('?').next().unwrap_or(p)).exists())
}

pub(super) fn open_with(ws: Workspace, store: Store) -> Result<Engine> {
    open_with_plan(ws, store, PlanUse::Whole)
}

fn open_with_plan(ws: Workspace, store: Store, using: PlanUse) -> Result<Engine> {
    let checked = load_plan(&ws)?;
    if checked.plan.is_none() {
        for p in &checked.problems {
            eprintln!("{p}");
        }
    }
    let broken: std::collections::BTreeSet<String> = checked.errors().map(|p| p.file.clone()).collect();
    let plan = match (checked.plan, checked.valid_part, using) {
        (Some(plan), _, _) => plan,
        (None, Some(part), PlanUse::ValidPart(command)) => {
            eprintln!(
                "warning: the plan has errors in {} (above): `{command}` goes on without {}; no stage runs until they are fixed (`cutover plan check`)",
                broken.iter().map(String::as_str).collect::<Vec<_>>().join(", "),
                if broken.len() == 1 { "that file" } else { "those files" }
            );
            part
        }
        (None, _, _) => {
            return Err(Failure::input(anyhow::anyhow!("the plan has errors; run `cutover plan check`")));
        }
    };
    Ok(Engine::new(ws, plan, store, super::progress::reporter()))
}

/// The workspace's store when it holds an extraction; else a scratch store filled from the legacy
/// source for just what the command needs (a fresh workspace changes nothing on disk).
pub(super) async fn open_or_scratch(
    root: &Path,
    filter: crate::store::extraction::Filter,
    plan: PlanUse,
) -> Result<Engine> {
    let ws = Workspace::open(root)?;
    let no_file = state_file_missing(&ws);
    let mut engine =
        if no_file { open_with_plan(ws, Store::scratch().await?, plan)? } else { open_using(root, plan).await? };
    if no_file || engine.store.last_extraction().await?.is_none() {
        engine.store = Store::scratch().await?;
        engine.heartbeat = engine.store.heartbeat().map(std::sync::Arc::new);
        let ctx = Ctx::new(today(), "scratch (nothing is kept)");
        engine.extract_filtered(&ctx, filter).await?;
    }
    Ok(engine)
}

/// SIGTERM or Ctrl-C stops `command` safely: each stage finishes the page (or message) in hand,
/// lets its claims go and starts no other (README "Running as a team"). A second signal ends the
/// process at once, like a `kill -9` (its claims then lapse, or are freed by the next worker on
/// this host).
pub(super) fn stop_on_signal(engine: &Engine, command: &'static str) {
    let stop = engine.stop.clone();
    tokio::spawn(async move {
        super::schedule::wait_for_signal().await;
        eprintln!("{command}: stop requested; finishing the page in hand (a second signal ends it at once)");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        super::schedule::wait_for_signal().await;
        eprintln!("{command}: stopped at once");
        std::process::exit(i32::from(super::EXIT_STOPPED));
    });
}

/// The exit code of a command that ran to `code`, unless a stop was requested meanwhile: then this
/// worker's claims and leases are let go (another worker need not wait for their lease) and it
/// exits [`super::EXIT_STOPPED`].
pub(super) async fn unless_stopped(engine: &Engine, command: &str, code: u8) -> Result<u8> {
    if !engine.stop.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(code);
    }
    engine.store.release_held(crate::store::lease::own_base()).await?;
    eprintln!("{command}: stopped before the end; its claims are let go (run it again to finish)");
    Ok(super::EXIT_STOPPED)
}

pub(super) fn mailer(engine: &Engine) -> Result<Mailer> {
    Mailer::from_config(&engine.ws.config.mail, &engine.ws.root)
        .map_err(|e| Failure::input(anyhow::anyhow!("mail: {e}")))
}
