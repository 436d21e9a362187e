//! One function per command.

use super::report;
use super::{Command, ContactsAction, Failure, GateAction, PlanAction, Resolution};
use crate::engine::{Ctx, Engine};
use crate::notify::transport::Mailer;
use crate::store::Store;
use crate::workspace::Workspace;
use anyhow::Context;
use std::path::Path;

type Result<T> = std::result::Result<T, Failure>;

/// Accounts with a drill-down in the HTML report (largest money at stake first).
const DRILL_DOWN: usize = 100;

pub async fn dispatch(cli: super::Cli) -> Result<u8> {
    let cli_actor = cli.actor.clone();
    let root = cli.workspace.as_path();
    match cli.command {
        Command::Demo { dir, accounts, seed, until } => {
            // `-C DIR demo` builds the demo in DIR.
            let dir =
                dir.unwrap_or_else(|| if root == Path::new(".") { "cutover-demo".into() } else { root.to_path_buf() });
            demo(&dir, accounts, seed, until).await
        }
        Command::Init { dir } => init(dir.as_deref().unwrap_or(root)),
        Command::Plan { action: PlanAction::Check } => plan_check(root),
        Command::Extract => {
            let engine = open(root).await?;
            let ctx = Ctx::new(today(), actor(&cli_actor, "extract")?);
            let c = match engine.extract_once(&ctx).await? {
                Ok(c) => c,
                Err(busy) => {
                    println!("{busy}: not starting another");
                    return Ok(0);
                }
            };
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "extracted {} accounts and {} records from {}; {} rows quarantined (see `cutover status`)",
                c.accounts, c.records, c.source, c.quarantined
            );
            Ok(0)
        }
        Command::Run { wave, as_of, recheck_held, dry_run, workers } => {
            let (mut engine, dry) = open_for(root, dry_run).await?;
            engine.workers = workers.max(1);
            // SIGTERM/SIGINT: each stage finishes the page in hand, lets its claims go and starts
            // no other (README "Running as a team").
            let stop = engine.stop.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                eprintln!("run: stop requested; finishing the page in hand");
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            let ctx = Ctx::new(as_of.unwrap_or_else(today), actor(&cli_actor, "run")?);
            if recheck_held {
                engine.runnable_wave(&wave)?;
                let n = engine.recheck_held(&wave, &ctx).await?;
                println!("{n} held account(s) put back for another check");
            }
            let mailer = mailer(&engine)?;
            let r = engine.run_wave(&wave, &ctx, &mailer).await?;
            print!("{}", report::run_text(&r));
            dry_report(dry, &engine).await?;
            Ok(u8::from(r.notified.failed > 0 || r.gate != Some(crate::reconcile::GateVerdict::Proceed)))
        }
        Command::Bill { account, period, format, legacy } => {
            let engine =
                open_or_scratch(root, crate::store::extraction::Filter::Accounts(vec![account.clone()])).await?;
            let accts = engine.store.legacy_accounts(std::slice::from_ref(&account)).await?;
            let Some(acct) = accts.into_iter().next() else {
                let q = engine.store.quarantine(Some(&account)).await?;
                let why = q.first().map(|q| format!(" (its row was quarantined: {})", q.reason)).unwrap_or_default();
                return Err(Failure::input(anyhow::anyhow!("no account {account} in the legacy source{why}")));
            };
            if legacy {
                print!("{}", crate::bill::render_legacy(&acct, period, format.into()).map_err(Failure::input)?);
            } else {
                // Usage in arrears; the first new bill by the wave's carry-over rule (SPEC §4).
                let terms = engine.bill_terms(&account).await?;
                let rated = crate::rate::rate_on(&acct, &engine.plan.catalog, period, terms).map_err(Failure::input)?;
                print!(
                    "{}",
                    crate::bill::render(&acct.account.name, &rated, &engine.ws.config.remit_to, format.into())
                        .map_err(Failure::input)?
                );
            }
            Ok(0)
        }
        Command::Reconcile { wave, format, lines } => {
            if lines && format != super::Format::Csv {
                return Err(Failure::input(anyhow::anyhow!("--lines goes with --format csv")));
            }
            let engine = open_or_scratch(root, crate::store::extraction::Filter::Wave(wave.clone())).await?;
            let w = engine.runnable_wave(&wave)?.clone();
            let ctx = Ctx::new(
                today(),
                actor(&cli_actor, "reconcile").unwrap_or_else(|_| "unnamed (reconcile report)".into()),
            );
            let pending =
                engine.store.count_wave(&wave, &[crate::domain::State::Extracted, crate::domain::State::Rated]).await?;
            // A report never moves state: only a scratch store (a fresh workspace, nothing kept)
            // is rated and reconciled here. On the workspace's store it reports what is stored.
            if pending > 0 && engine.store.is_scratch() {
                engine.rate_wave(&wave, &ctx).await?;
                engine.reconcile_wave(&wave, &ctx).await?;
            } else if pending > 0 {
                eprintln!(
                    "note: {pending} account(s) of {wave} are not reconciled yet and are not in this report; \
                     `cutover run --wave {wave}` reconciles them"
                );
            }
            let mut rep = engine.reconciliation(&w).await?;
            engine.record_run(&mut rep, "reconcile", &ctx).await?;
            let out = if lines {
                crate::reconcile::report::render_lines_csv(&rep)
            } else {
                if format == super::Format::Html {
                    engine.attach_bills(&mut rep, DRILL_DOWN).await?;
                }
                crate::reconcile::report::render(&rep, format.into())
            };
            print!("{}", out.map_err(Failure::operational)?);
            let unwaived = rep.summary.failed > rep.summary.waived;
            Ok(u8::from(unwaived || rep.gate != crate::reconcile::GateVerdict::Proceed))
        }
        Command::Waive { account, reason, revoke: true } => {
            let engine = open(root).await?;
            let ctx = Ctx::new(today(), actor(&cli_actor, "waive --revoke")?);
            if engine.revoke_waiver(&account, &reason, &ctx).await? {
                let state = engine.store.account(&account).await?.map(|r| r.state.to_string()).unwrap_or_default();
                println!("{account}: waiver revoked ({reason}); the account is {state}");
            } else {
                println!("{account} has no waiver; nothing changed");
            }
            Ok(0)
        }
        Command::Waves { format } => {
            let engine = open(root).await?;
            print!("{}", report::waves(&engine, format.into()).await?);
            Ok(0)
        }
        Command::Waive { account, reason, revoke: false } => {
            let engine = open(root).await?;
            let ctx = Ctx::new(today(), actor(&cli_actor, "waive")?);
            if engine.waive(&account, &reason, &ctx).await? {
                println!("{account} waived: {reason}");
            } else {
                println!("{account} was already waived; nothing changed");
            }
            Ok(0)
        }
        Command::Gate { action: GateAction::Promote { wave, reason } } => {
            let engine = open(root).await?;
            let ctx = Ctx::new(today(), actor(&cli_actor, "gate promote")?);
            use crate::engine::Promoted;
            match engine.promote(&wave, &reason, &ctx).await? {
                Promoted::Promoted => println!("{wave}: promoted; the wave proceeds ({reason})"),
                Promoted::Already => println!("{wave}: this reconciliation was promoted already; nothing changed"),
                Promoted::NotPaused => println!("{wave}: the gate says proceed; nothing to promote"),
                Promoted::Aborted(why) => {
                    return Err(Failure::problems(format!(
                        "{wave}: the gate says abort ({why}); an abort cannot be promoted: fix the causes and reconcile again"
                    )));
                }
            }
            Ok(0)
        }
        Command::Notify { wave, as_of, preview, resolve, resolution, reason, dry_run } => {
            // A preview changes nothing, so it needs no named actor.
            let who = if preview.is_some() { "preview (nothing is sent)".into() } else { actor(&cli_actor, "notify")? };
            let ctx = Ctx::new(as_of.unwrap_or_else(today), who);
            if let Some(account) = preview {
                let engine =
                    open_or_scratch(root, crate::store::extraction::Filter::Accounts(vec![account.clone()])).await?;
                // Say first when this notice would not be sent: held, quarantined, already notified…
                if let Some(row) = engine.store.account(&account).await? {
                    use crate::domain::State;
                    if !matches!(row.state, State::Extracted | State::Rated | State::Reconciled) {
                        let why = row.state_reason.as_deref().unwrap_or("");
                        println!(
                            "note: {account} is {} ({why}): the notice below is not going to be sent\n",
                            row.state
                        );
                    }
                }
                let r = engine.preview_notice(&account, &ctx).await?;
                println!("Subject: {}\n\n{}\n---- HTML part ----\n{}", r.subject, r.text, r.html);
                return Ok(0);
            }
            let wave = wave.unwrap_or_default();
            let (engine, dry) = open_for(root, dry_run).await?;
            if let (Some(account), Some(decision)) = (resolve, resolution) {
                let why = reason.unwrap_or_default();
                engine.resolve_notice(&wave, &account, decision == Resolution::Sent, &why, &ctx).await?;
                println!(
                    "{account}: notice marked {}",
                    if decision == Resolution::Sent { "sent" } else { "for resending" }
                );
                return Ok(0);
            }
            engine.ensure_fresh(engine.runnable_wave(&wave)?, &ctx).await?;
            engine.rate_wave(&wave, &ctx).await?;
            engine.reconcile_wave(&wave, &ctx).await?;
            let mailer = mailer(&engine)?;
            let r = engine.notify_wave(&wave, &ctx, &mailer).await?;
            for n in &r.notes {
                eprintln!("note: {n}");
            }
            println!(
                "{wave} as of {}: {} notice(s) sent, {} rescheduled, {} held, {} waiting to retry, {} failed, {} unknown \
                 (`cutover notices --wave {wave}` lists them)",
                ctx.as_of, r.done, r.rescheduled, r.held, r.retried, r.failed, r.unknown
            );
            dry_report(dry, &engine).await?;
            Ok(u8::from(r.failed > 0 || r.unknown > 0 || r.retried > 0))
        }
        Command::Notices { wave, upcoming: Some(days), as_of, format } => {
            let engine = open(root).await?;
            engine.wave(&wave)?;
            let from = as_of.unwrap_or_else(today);
            let to = from + chrono::Days::new(u64::from(days));
            let rows = engine.store.upcoming_notices(&wave, from, to).await?;
            print!("{}", report::upcoming(&wave, from, to, &rows, format.into())?);
            Ok(0)
        }
        Command::Notices { wave, upcoming: None, format, .. } => {
            let engine = open(root).await?;
            let r = engine.notice_report(&wave).await?;
            print!("{}", crate::notify::report::render(&r, format.into()).map_err(Failure::operational)?);
            Ok(0)
        }
        Command::Contacts { action: ContactsAction::Import { file } } => {
            let engine = open(root).await?;
            let ctx = Ctx::new(today(), actor(&cli_actor, "contacts import")?);
            let r = engine.import_contacts(&file, &ctx).await?;
            for x in &r.rejected {
                eprintln!("{}:{}: {} {}", file.display(), x.line, x.account_number, x.reason);
            }
            println!(
                "{} account(s) updated, {} unchanged, {} row(s) rejected",
                r.updated,
                r.unchanged,
                r.rejected.len()
            );
            Ok(u8::from(!r.rejected.is_empty()))
        }
        Command::Schedule { wave, as_of, tick_seconds, dry_run } => {
            schedule(root, &cli_actor, wave, as_of, tick_seconds, dry_run).await
        }
        Command::Switch { confirm: Some(file), as_of, .. } => {
            let engine = open(root).await?;
            let ctx = Ctx::new(as_of.unwrap_or_else(today), actor(&cli_actor, "switch --confirm")?);
            let r = engine.confirm_load(&file, &ctx).await?;
            for p in &r.problems {
                eprintln!("{p}");
            }
            println!(
                "{}: {} loaded, {} failed (back to held, legacy billing resumes), {} unchanged, {} row(s) not applied",
                file.display(),
                r.loaded,
                r.failed,
                r.unchanged,
                r.problems.len()
            );
            Ok(u8::from(r.failed > 0 || !r.problems.is_empty()))
        }
        Command::Switch { wave, as_of, confirm: None, dry_run } => {
            let wave = wave.ok_or_else(|| Failure::input(anyhow::anyhow!("--wave is required")))?;
            let (engine, dry) = open_for(root, dry_run).await?;
            let ctx = Ctx::new(as_of.unwrap_or_else(today), actor(&cli_actor, "switch")?);
            let (gate, r) = engine.switch_wave(&wave, &ctx).await?;
            println!(
                "{wave} as of {}: gate {}; {} account(s) cut over, {} held",
                ctx.as_of,
                gate.as_str(),
                r.done,
                r.held
            );
            dry_report(dry, &engine).await?;
            Ok(u8::from(gate != crate::reconcile::GateVerdict::Proceed))
        }
        Command::Readmit { account, wave, reason, as_of } => {
            let engine = open(root).await?;
            let ctx = Ctx::new(as_of.unwrap_or_else(today), actor(&cli_actor, "readmit")?);
            engine.readmit(&account, &wave, &reason, &ctx).await?;
            println!("{account} readmitted to wave {wave}: {reason}");
            Ok(0)
        }
        Command::Rollback { account, reason, dry_run } => {
            let (engine, dry) = open_for(root, dry_run).await?;
            let ctx = Ctx::new(today(), actor(&cli_actor, "rollback")?);
            if engine.rollback(&account, &reason, &ctx).await? {
                println!("{account} rolled back: {reason}");
            } else {
                println!("{account} was already rolled back; nothing changed");
            }
            dry_report(dry, &engine).await?;
            Ok(0)
        }
        Command::Bench { what } => super::bench::run(what).await,
        Command::Journal { account, wave, since, format } => {
            let engine = open(root).await?;
            if let Some(w) = &wave {
                engine.wave(w)?;
            }
            let since = since.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc());
            let filter = crate::store::JournalFilter { account, wave, since };
            report::journal(&engine.store, &filter, format).await?;
            Ok(0)
        }
        Command::Status { wave, account, state, format } => {
            let engine = open(root).await?;
            if let Some(w) = &wave {
                engine.wave(w)?;
            }
            print!("{}", report::status(&engine, wave.as_deref(), account.as_deref(), state, format.into()).await?);
            Ok(0)
        }
    }
}

/// Who is acting, for the journal: `--actor` / `$CUTOVER_ACTOR`, else `$USER`, with the command.
/// A state change without a known actor is refused: the journal must say who. (A report, which
/// changes no account, runs without one.)
fn actor(given: &Option<String>, command: &str) -> Result<String> {
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
fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn load_plan(ws: &Workspace) -> Result<crate::plan::Checked> {
    let checked = crate::plan::load(&ws.root, &ws.path(&ws.config.plan), &ws.path(&ws.config.catalog))
        .map_err(|e| Failure::input(anyhow::anyhow!(e)))?;
    Ok(checked)
}

async fn open(root: &Path) -> Result<Engine> {
    let ws = Workspace::open(root)?;
    let store = Store::open(&ws.store_url()).await?;
    open_with(ws, store)
}

/// The engine for a command that changes state; with `dry_run`, diverted to a copy (see `dry`).
/// A dry run on a workspace that has no state file yet leaves none behind.
async fn open_for(root: &Path, dry_run: bool) -> Result<(Engine, Option<super::dry::DryRun>)> {
    if !dry_run {
        return Ok((open(root).await?, None));
    }
    let ws = Workspace::open(root)?;
    let mut engine = if state_file_missing(&ws) { open_with(ws, Store::scratch().await?)? } else { open(root).await? };
    let dry = super::dry::DryRun::divert(&mut engine).await?;
    Ok((engine, Some(dry)))
}

async fn dry_report(dry: Option<super::dry::DryRun>, engine: &Engine) -> Result<()> {
    if let Some(d) = dry {
        print!("{}", d.report(engine).await?);
    }
    Ok(())
}

/// Whether the workspace's SQLite state file does not exist yet.
fn state_file_missing(ws: &Workspace) -> bool {
    let url = ws.store_url();
    url.strip_prefix("sqlite://").is_some_and(|p| !Path::new(p.split('?').next().unwrap_or(p)).exists())
}

fn open_with(ws: Workspace, store: Store) -> Result<Engine> {
    let checked = load_plan(&ws)?;
    let Some(plan) = checked.plan else {
        for p in &checked.problems {
            eprintln!("{p}");
        }
        return Err(Failure::input(anyhow::anyhow!("the plan has errors; run `cutover plan check`")));
    };
    Ok(Engine::new(ws, plan, store, super::progress::reporter()))
}

/// The workspace's store when it holds an extraction; else a scratch store filled from the legacy
/// source for just what the command needs (a fresh workspace changes nothing on disk).
async fn open_or_scratch(root: &Path, filter: crate::store::extraction::Filter) -> Result<Engine> {
    let ws = Workspace::open(root)?;
    let no_file = state_file_missing(&ws);
    let mut engine = if no_file { open_with(ws, Store::scratch().await?)? } else { open(root).await? };
    if no_file || engine.store.last_extraction().await?.is_none() {
        engine.store = Store::scratch().await?;
        let ctx = Ctx::new(today(), "scratch (nothing is kept)");
        engine.extract_filtered(&ctx, filter).await?;
    }
    Ok(engine)
}

fn mailer(engine: &Engine) -> Result<Mailer> {
    Mailer::from_config(&engine.ws.config.mail, &engine.ws.root)
        .map_err(|e| Failure::input(anyhow::anyhow!("mail: {e}")))
}

fn plan_check(root: &Path) -> Result<u8> {
    let ws = Workspace::open(root)?;
    let checked = load_plan(&ws)?;
    for p in &checked.problems {
        eprintln!("{p}");
    }
    let errors = checked.errors().count();
    if errors > 0 {
        return Err(Failure::input(anyhow::anyhow!("{errors} problem(s) in the plan")));
    }
    if let Some(plan) = &checked.plan {
        println!(
            "plan ok: {} wave(s), {} product(s), {} legacy code(s) mapped",
            plan.waves.len(),
            plan.catalog.products.len(),
            plan.catalog.by_code.len()
        );
    }
    Ok(0)
}

fn init(dir: &Path) -> Result<u8> {
    let cfg = dir.join(crate::workspace::CONFIG_FILE);
    if cfg.exists() {
        return Err(Failure::input(anyhow::anyhow!("{} exists already; nothing changed", cfg.display())));
    }
    write_plan(dir).map_err(Failure::operational)?;
    std::fs::create_dir_all(dir.join("legacy")).map_err(|e| Failure::operational(anyhow::anyhow!(e)))?;
    // The notice templates, for the team to edit without a rebuild.
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).map_err(|e| Failure::operational(anyhow::anyhow!(e)))?;
    for (name, text) in crate::notify::render::BUILTIN {
        let p = templates.join(name);
        if !p.exists() {
            std::fs::write(&p, text).map_err(|e| Failure::operational(anyhow::anyhow!("{}: {e}", p.display())))?;
        }
    }
    let source = crate::workspace::SourceConfig::Csv { path: "legacy/".into() };
    std::fs::write(&cfg, crate::workspace::template_config(&source))
        .map_err(|e| Failure::operational(anyhow::anyhow!(e)))?;
    println!(
        "workspace ready in {}: put accounts.csv, services.csv, usage.csv and legacy_invoice_lines.csv in legacy/, \
         edit the notice in templates/, then `cutover plan check` and `cutover run --wave ID`",
        dir.display()
    );
    Ok(0)
}

fn write_plan(dir: &Path) -> anyhow::Result<()> {
    let waves = dir.join("waves");
    std::fs::create_dir_all(&waves).with_context(|| format!("creating {}", waves.display()))?;
    for (name, text) in crate::demo::PLAN_FILES {
        let p = waves.join(name);
        if !p.exists() {
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(())
}

async fn demo(dir: &Path, accounts: usize, seed: u64, until: Option<chrono::NaiveDate>) -> Result<u8> {
    let started = std::time::Instant::now();
    let run = demo_flow(dir, accounts, seed, until, None, std::sync::Arc::default(), 1).await?;
    println!("demo workspace: {}  (simulated {} .. {})", dir.display(), run.first_day, run.last_day);
    print!("{}", report::demo_summary(&run.engine).await?);
    if run.changes == 0 {
        println!("nothing to do: every stage had already run (no notice sent, no state changed)");
    }
    println!("wall time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(0)
}

/// What one run of the demo flow did (`demo` prints it; `bench pipeline` times it).
pub(super) struct DemoRun {
    pub engine: Engine,
    pub first_day: chrono::NaiveDate,
    pub last_day: chrono::NaiveDate,
    /// Stage runs that changed something (0: everything had already been done).
    pub changes: u64,
}

/// The demo flow: generate the legacy database (unless there is one), extract it, then run every
/// dated wave on every simulated day (up to the day before `until`). `store` overrides the
/// workspace's state store; `clock` times the stages when enabled.
pub(super) async fn demo_flow(
    dir: &Path,
    accounts: usize,
    seed: u64,
    until: Option<chrono::NaiveDate>,
    store: Option<&str>,
    clock: std::sync::Arc<crate::bench::StageClock>,
    workers: usize,
) -> Result<DemoRun> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::operational(anyhow::anyhow!("{}: {e}", dir.display())))?;
    let cfg = dir.join(crate::workspace::CONFIG_FILE);
    if !cfg.exists() {
        write_plan(dir).map_err(Failure::operational)?;
        let source = crate::workspace::SourceConfig::Sql { url: Some("sqlite://legacy.db".into()) };
        std::fs::write(&cfg, crate::workspace::template_config(&source))
            .map_err(|e| Failure::operational(anyhow::anyhow!(e)))?;
    }
    let db = dir.join("legacy.db");
    if !db.exists() {
        eprintln!("generating {accounts} legacy accounts (seed {seed}) into {}", db.display());
        let data = crate::demo::generate::DemoData { accounts, seed, months: 12 };
        let tmp = dir.join("legacy.db.partial");
        let _ = std::fs::remove_file(&tmp);
        let t = clock.start();
        let g = crate::demo::generate::write_legacy_sqlite(&tmp, &data).await.map_err(Failure::operational)?;
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

/// The long-running notice sender. A stop request (SIGINT/SIGTERM) lets the message in hand finish
/// and starts no new one; every notice is in the store before it is sent, so nothing is lost.
async fn schedule(
    root: &Path,
    actor_name: &Option<String>,
    waves: Vec<String>,
    as_of: Option<chrono::NaiveDate>,
    tick: Option<u64>,
    dry_run: bool,
) -> Result<u8> {
    use std::sync::atomic::Ordering;
    let (engine, dry) = open_for(root, dry_run).await?;
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
    {
        let (stop, wake) = (stop.clone(), wake.clone());
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("schedule: stop requested; finishing the message in hand");
            stop.store(true, Ordering::SeqCst);
            wake.notify_one();
        });
    }
    eprintln!("schedule: serving {} ({})", waves.join(", "), mailer.describe());
    while !stop.load(Ordering::SeqCst) {
        let ctx = Ctx::new(as_of.unwrap_or_else(today), actor(actor_name, "schedule")?);
        for w in &waves {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            match engine.notify_wave(w, &ctx, &mailer).await {
                Ok(r) => {
                    if r != crate::engine::StageReport::default() {
                        println!(
                            "{} {w}: {} sent, {} rescheduled, {} retrying, {} failed, {} unknown",
                            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
                            r.done,
                            r.rescheduled,
                            r.retried,
                            r.failed,
                            r.unknown
                        );
                    }
                    for n in r.notes {
                        eprintln!("note: {n}");
                    }
                }
                // The server being away is not a reason to stop serving: try again next tick.
                Err(crate::engine::EngineError::Mail(e)) => eprintln!("schedule: {w}: {e}; will try again"),
                Err(e) => return Err(e.into()),
            }
        }
        if dry.is_some() {
            // One check is what a dry run shows.
            dry_report(dry, &engine).await?;
            return Ok(0);
        }
        let wait = match tick {
            Some(s) => std::time::Duration::from_secs(s),
            None => {
                let secs = 3600 - chrono::Utc::now().timestamp().rem_euclid(3600);
                std::time::Duration::from_secs(secs.unsigned_abs())
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
        }
    }
    eprintln!("schedule: stopped cleanly");
    Ok(0)
}

#[cfg(unix)]
async fn wait_for_signal() {
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
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
