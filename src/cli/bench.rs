//! `cutover bench`: `rate` times the pure rating step; `gen` and `reconcile` are the data
//! generator and the comparison that `scripts/bench-reconcile.sh` times against DuckDB and
//! datacompy.
//!
//! `bench gen` writes `legacy.csv` and `new.csv` (`account_number,period,amount`, sorted by
//! account and period, as an extract ordered by its key is). About 1% of the account-periods
//! differ and about 0.1% are missing on one side (half on each). `bench reconcile` merges the two
//! files with [`crate::reconcile::bulk::merge`] and writes every differing account-period to a CSV.

use super::Failure;
use crate::domain::Decimal;
use crate::reconcile::bulk::{self, Diff};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Benchmarks anyone can run (no workspace needed): `bench rate`, the rating engine;
/// `bench gen` and `bench reconcile`, the comparison scripts/bench-reconcile.sh times.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: BenchWhat,
}

impl Args {
    pub async fn run(self, _cx: &super::commands::Cx) -> Result<u8, Failure> {
        run(self.what).await
    }
}

/// The formats of `cutover bench pipeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PipelineFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Run the demo flow (generate, extract, rate, reconcile, notify, switch) in a scratch folder
    /// and print per stage its wall time, rows or accounts per second and peak memory, then the
    /// totals, the sizes, a rerun, the machine, and how long the sqlite3 shell takes to copy the
    /// same legacy database (when `sqlite3` is installed).
    Pipeline {
        /// How many legacy accounts to generate.
        #[arg(long, default_value_t = 2000)]
        accounts: usize,
        /// The state store to use (default: SQLite in the scratch folder). It must hold no
        /// extraction yet: the benchmark writes to it.
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// The scratch folder (must not exist; default: a new one under the temp dir, removed after).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep the scratch folder.
        #[arg(long)]
        keep: bool,
        #[arg(long, default_value_t = 2017)]
        seed: u64,
        #[arg(long, value_enum, default_value = "text")]
        format: PipelineFormat,
        /// Worker threads for the rate and reconcile stages, as `demo --workers` (compare 1 with
        /// 2; on SQLite the writers take turns).
        #[arg(long, default_value_t = 1, value_name = "N")]
        workers: usize,
        /// Stop the simulated clock before DATE (YYYY-MM-DD), as `demo --until` does. The first
        /// simulated day (2017-04-05) rates and reconciles every dated wave's accounts at once:
        /// `--until 2017-04-06` times that bulk alone.
        #[arg(long, value_name = "DATE", value_parser = super::parse_date)]
        until: Option<chrono::NaiveDate>,
        /// Run the portal in the scratch workspace (`portal.base_url: URL` in its cutover.yaml),
        /// as a real migration does: every notice then carries a personal link, stored with it.
        #[arg(long, value_name = "URL")]
        portal: Option<String>,
        /// Also count the statements the store runs through sqlx in each stage, and the time they
        /// take where they run (for SQLite: its connection's thread), as sqlx measures them: how
        /// much of a stage is the database's own work. Counting costs a little itself, so compare
        /// timings only between runs that both count or both do not.
        #[arg(long)]
        statements: bool,
    },
    /// The portal under load: a demo workspace in a scratch folder, a personal link per scheduled
    /// account, `cutover serve` in this process on a free loopback port, then REQUESTS form posts
    /// from CLIENTS concurrent clients. Checks each post is stored exactly once and no answer is a
    /// 5xx (exit 1 otherwise); prints p50/p99 latency and the machine.
    Portal {
        /// How many billing-email form posts.
        #[arg(long, default_value_t = 500)]
        requests: usize,
        /// How many clients post at once.
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// How many accounts the demo generates.
        #[arg(long, default_value_t = 300)]
        accounts: usize,
    },
    /// Generate N synthetic bill lines in memory (in bounded chunks), rate them with the pure
    /// rating step on one core, and print lines per second, wall time, peak memory and the machine.
    Rate {
        /// How many lines to rate (at least).
        #[arg(long, default_value_t = 5_000_000)]
        lines: u64,
    },
    /// Generate legacy.csv and new.csv (account-period totals) in DIR for the reconciliation
    /// benchmark.
    Gen {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 2017)]
        seed: u64,
    },
    /// Compare two account-period CSV files (sorted by account and period); write the
    /// differences to OUT.
    Reconcile {
        #[arg(long)]
        legacy: PathBuf,
        #[arg(long)]
        new: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "0.01")]
        tolerance: crate::domain::Decimal,
    },
}

pub async fn run(what: BenchWhat) -> Result<u8, Failure> {
    match what {
        BenchWhat::Pipeline { accounts, store, dir, keep, seed, format, workers, until, portal, statements } => {
            pipeline(accounts, seed, store, dir, keep, format, (workers, until, portal, statements)).await
        }
        BenchWhat::Rate { lines } => rate(lines),
        BenchWhat::Portal { requests, clients, accounts } => super::serve::bench(requests, clients, accounts).await,
        BenchWhat::Gen { rows, dir, seed } => generate(rows, &dir, seed).map_err(Failure::operational).map(|_| 0),
        BenchWhat::Reconcile { legacy, new, out, tolerance } => compare(&legacy, &new, &out, tolerance),
    }
}

/// `bench rate`: the pure rating step over generated lines (see [`crate::bench`]).
fn rate(lines: u64) -> Result<u8, Failure> {
    eprintln!("rating {lines} generated lines on one core (chunks of {} accounts)...", crate::bench::CHUNK_ACCOUNTS);
    let r = crate::bench::rate_lines(lines, |_| {}).map_err(Failure::operational)?;
    let secs = r.rating.as_secs_f64();
    println!("lines rated       {} ({} accounts, one bill each)", r.lines, r.accounts);
    println!("rating time       {secs:.3} s (the pure rating step only)");
    println!("lines per second  {:.0} on one core", r.lines_per_second());
    println!("wall time         {:.3} s (with generating the lines)", r.wall.as_secs_f64());
    match r.peak_rss_kib {
        Some(k) => println!("peak memory       {:.1} MiB (VmHWM)", k as f64 / 1024.0),
        None => println!("peak memory       unknown (no /proc/self/status)"),
    }
    println!("machine           {} CPU(s), {}", r.cpus, r.cpu_model);
    println!("checksum          {} USD rated in total", r.total);
    Ok(0)
}

/// One stage's line in `bench pipeline`.
#[derive(Debug, serde::Serialize)]
struct StageLine {
    stage: String,
    /// Times the stage ran (the wave stages run once per wave and simulated day).
    runs: u64,
    wall_s: f64,
    /// What `units` counts: legacy rows (generate, extract) or accounts (the wave stages).
    unit: &'static str,
    units: u64,
    per_second: f64,
    peak_rss_mib: Option<f64>,
    /// CPU time the process used during the stage, all threads: near `wall_s` the stage computes
    /// on one core, above it on more, below it waits (on the disk, or between threads).
    cpu_s: f64,
    /// The part of `cpu_s` spent in the kernel (files, the disk, waking threads).
    sys_s: f64,
    /// Voluntary context switches of the process's threads during the stage (see `StageTime`).
    waits: u64,
    /// With `--statements`: the statements the store ran through sqlx during the stage, and the
    /// seconds they took where they ran (`crate::store::statements::count`); null without.
    statements: Option<u64>,
    in_store_s: Option<f64>,
}

/// What `bench pipeline` measured.
#[derive(Debug, serde::Serialize)]
struct PipelineReport {
    accounts: usize,
    /// Worker threads of the rate and reconcile stages (`--workers`).
    workers: usize,
    store: String,
    legacy_rows: Option<u64>,
    stages: Vec<StageLine>,
    /// The whole demo flow, wall clock (the stages plus what lies between them).
    total_wall_s: f64,
    legacy_rows_per_second: Option<f64>,
    peak_rss_mib: Option<f64>,
    /// With `--statements`: the statements of the whole demo flow (stages and what lies between
    /// them) through sqlx, and the seconds they took where they ran; null without.
    statements: Option<u64>,
    in_store_s: Option<f64>,
    /// A second demo on the same folder (it must do nothing).
    rerun_wall_s: f64,
    rerun_changes: u64,
    legacy_db_bytes: Option<u64>,
    /// The state store's size (SQLite: its pages, WAL included; PostgreSQL: the database).
    state_bytes: Option<u64>,
    state_to_legacy: Option<f64>,
    /// `sqlite3 legacy.db .dump | sqlite3 copy.db`, timed in the same run.
    sqlite3_copy_s: Option<f64>,
    /// The demo's wall time over the sqlite3 copy's (noise on a shared machine mostly cancels).
    demo_to_copy: Option<f64>,
    load_average_before: String,
    load_average_after: String,
    /// Before the run: how long this filesystem took to make each of `files_probe_count` new
    /// 4 KiB files, in microseconds (`files_probe`): several times the usual means file-heavy
    /// stages (notify writes a file per notice) were slowed by the filesystem, not by cutover.
    files_probe_count: usize,
    files_probe_us: Option<f64>,
    cpus: usize,
    cpu_model: String,
}

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// How many files [`files_probe`] makes.
const PROBE_FILES: usize = 2_000;

/// How fast this filesystem makes files just now: [`PROBE_FILES`] new 4 KiB files in `dir`
/// (each created, written and closed, none flushed), timed; None if one could not be made.
///
/// The demo writes a file per notice, and a filesystem can be several times slower at making
/// files for a while: ext4 without a journal (this project's benchmark machine) does not reuse
/// the inode of a file deleted in the last few minutes, and looks at every such inode again each
/// time it makes a file, so a run started just after a large folder was removed (the scratch
/// folder of the benchmark before) makes its files several times slower (docs/performance.md,
/// round 25). The files stay: removing them would slow what runs next, in the same way.
fn files_probe(dir: &Path) -> Option<Duration> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).ok()?;
    let page = [b'x'; 4096];
    let t = Instant::now();
    for i in 0..PROBE_FILES {
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).open(dir.join(format!("{i}.probe"))).ok()?;
        f.write_all(&page).ok()?;
    }
    Some(t.elapsed())
}

/// Times `sqlite3 legacy.db .dump | sqlite3 copy.db` in `dir` (None when sqlite3 is missing).
fn sqlite3_copy(dir: &Path) -> Option<Duration> {
    let found = std::process::Command::new("sqlite3").arg("-version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("sqlite3 is not installed: no copy to compare with (apt-get install sqlite3)");
        return None;
    }
    let _ = std::fs::remove_file(dir.join("copy.db"));
    let t = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("sqlite3 legacy.db .dump | sqlite3 copy.db")
        .current_dir(dir)
        .status()
        .ok()?;
    let took = t.elapsed();
    let _ = std::fs::remove_file(dir.join("copy.db"));
    status.success().then_some(took)
}

/// `bench pipeline`: the demo flow in a scratch folder, timed per stage.
// Long: one benchmark script in order: the demo flow timed per stage, then the table.
async fn pipeline(
    accounts: usize,
    seed: u64,
    store: Option<String>,
    dir: Option<PathBuf>,
    keep: bool,
    format: PipelineFormat,
    (workers, until, portal, statements): (usize, Option<chrono::NaiveDate>, Option<String>, bool),
) -> Result<u8, Failure> {
    if statements && !crate::store::statements::count() {
        return Err(Failure::operational(anyhow::anyhow!(
            "cannot count statements: another listener was installed first"
        )));
    }
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("cutover-bench-{}", std::process::id())));
    if dir.exists() {
        return Err(Failure::input(anyhow::anyhow!("{} exists: give a new folder", dir.display())));
    }
    if portal.is_some() {
        // The demo's workspace, written before the demo would write its own (without a portal).
        super::demo::demo_workspace(&dir, portal.as_deref())?;
    }
    if let Some(url) = &store {
        let s = crate::store::Store::open(url).await?;
        if s.last_extraction().await?.is_some() {
            return Err(Failure::input(anyhow::anyhow!(
                "the store already holds an extraction: point --store at an empty database"
            )));
        }
    }
    let probe = files_probe(&dir.join("files-probe"));
    let load_before = load_average();
    let clock = std::sync::Arc::new(crate::bench::StageClock::enabled());
    let started = Instant::now();
    let counted_before = crate::store::statements::so_far();
    let run = super::demo::demo_flow(&dir, accounts, seed, until, store.as_deref(), clock.clone(), workers).await?;
    let total = started.elapsed();
    let counted = crate::store::statements::so_far();
    let counted = statements.then(|| (counted.0 - counted_before.0, counted.1.saturating_sub(counted_before.1)));
    run.engine.store.close().await;
    drop(run);
    let stages = clock.stages();
    let t = Instant::now();
    let again =
        super::demo::demo_flow(&dir, accounts, seed, until, store.as_deref(), Default::default(), workers).await?;
    let rerun = t.elapsed();
    let rerun_changes = again.changes;
    let state_bytes = again.engine.store.size_bytes().await.ok().map(|b| b as u64);
    again.engine.store.close().await;
    drop(again);
    let copy = sqlite3_copy(&dir);
    let legacy_db_bytes = std::fs::metadata(dir.join("legacy.db")).ok().map(|m| m.len());
    let legacy_rows = stages.iter().find(|s| s.stage == "generate").map(|s| s.units);
    let report = PipelineReport {
        accounts,
        workers,
        store: match &store {
            None => "sqlite (scratch folder)".into(),
            Some(u) => crate::domain::redact(u),
        },
        legacy_rows,
        stages: stages
            .iter()
            .map(|s| StageLine {
                stage: s.stage.clone(),
                runs: s.runs,
                wall_s: secs(s.wall),
                unit: if matches!(s.stage.as_str(), "generate" | "extract") { "rows" } else { "accounts" },
                units: s.units,
                per_second: (s.units as f64 / s.wall.as_secs_f64().max(1e-9)).round(),
                peak_rss_mib: mib(s.peak_rss_kib),
                cpu_s: secs(s.cpu),
                sys_s: secs(s.sys),
                waits: s.waits,
                statements: statements.then_some(s.statements),
                in_store_s: statements.then(|| secs(s.in_store)),
            })
            .collect(),
        total_wall_s: secs(total),
        statements: counted.map(|(n, _)| n),
        in_store_s: counted.map(|(_, t)| secs(t)),
        legacy_rows_per_second: legacy_rows.map(|r| (r as f64 / total.as_secs_f64().max(1e-9)).round()),
        peak_rss_mib: mib(stages.iter().filter_map(|s| s.peak_rss_kib).max()),
        rerun_wall_s: secs(rerun),
        rerun_changes,
        legacy_db_bytes,
        state_bytes,
        state_to_legacy: match (state_bytes, legacy_db_bytes) {
            (Some(s), Some(l)) if l > 0 => Some((s as f64 / l as f64 * 100.0).round() / 100.0),
            _ => None,
        },
        sqlite3_copy_s: copy.map(secs),
        demo_to_copy: copy.map(|c| (total.as_secs_f64() / c.as_secs_f64().max(1e-9) * 100.0).round() / 100.0),
        load_average_before: load_before,
        load_average_after: load_average(),
        files_probe_count: PROBE_FILES,
        files_probe_us: probe.map(|d| (d.as_secs_f64() * 1e6 / PROBE_FILES as f64).round()),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: crate::bench::cpu_model(),
    };
    if keep {
        eprintln!("kept the scratch folder {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match format {
        PipelineFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report).map_err(Failure::operational)?)
        }
        PipelineFormat::Text => print!("{}", pipeline_text(&report)),
    }
    Ok(0)
}

fn pipeline_text(r: &PipelineReport) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v}{unit}"));
    let _ = writeln!(o, "cutover bench pipeline: {} accounts, store {}, {} worker(s)", r.accounts, r.store, r.workers);
    // The stage column as wide as its longest name ("rate+reconcile"), so the columns line up.
    let w = r.stages.iter().map(|s| s.stage.chars().count()).max().unwrap_or(0).max(10);
    let _ = writeln!(
        o,
        "{:<w$} {:>5} {:>10} {:>9} {:>9} {:>9} {:>12} {:>9} {:>12}",
        "stage", "runs", "wall", "cpu", "sys", "waits", "units", "", "per second"
    );
    for s in &r.stages {
        let in_store = match (s.statements, s.in_store_s) {
            (Some(n), Some(t)) => format!("; {n} statements, {t:.2}s of them in the store"),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "{:<w$} {:>5} {:>9.2}s {:>8.2}s {:>8.2}s {:>9} {:>12} {:<9} {:>12} peak {}{in_store}",
            s.stage,
            s.runs,
            s.wall_s,
            s.cpu_s,
            s.sys_s,
            s.waits,
            s.units,
            s.unit,
            s.per_second,
            opt(s.peak_rss_mib, " MiB")
        );
    }
    let _ = writeln!(
        o,
        "total      {:.2} s wall ({} legacy rows, {} rows/s), peak {}",
        r.total_wall_s,
        r.legacy_rows.map_or("-".into(), |n| n.to_string()),
        opt(r.legacy_rows_per_second, ""),
        opt(r.peak_rss_mib, " MiB")
    );
    if let (Some(n), Some(t)) = (r.statements, r.in_store_s) {
        let share = (t / r.total_wall_s.max(1e-9) * 100.0).round();
        let _ = writeln!(
            o,
            "store      {n} statements through sqlx took {t:.2} s where they ran ({share}% of the total wall; \
             the extraction's own writes and the generator not counted)"
        );
    }
    let _ = writeln!(o, "rerun      {:.2} s wall, {} stage run(s) changed something", r.rerun_wall_s, r.rerun_changes);
    let mb = |b: Option<u64>| b.map_or("-".to_string(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
    let _ = writeln!(
        o,
        "sizes      legacy.db {}, state store {} ({}x the legacy database)",
        mb(r.legacy_db_bytes),
        mb(r.state_bytes),
        opt(r.state_to_legacy, "")
    );
    let _ = writeln!(
        o,
        "sqlite3    .dump | sqlite3 copy.db: {}; the demo took {}x as long",
        opt(r.sqlite3_copy_s, " s"),
        opt(r.demo_to_copy, "")
    );
    let _ = writeln!(
        o,
        "files      {} new 4 KiB files before the run: {} each",
        r.files_probe_count,
        opt(r.files_probe_us, " µs")
    );
    let _ = writeln!(
        o,
        "machine    {} CPU(s), {}; load average {} before, {} after",
        r.cpus, r.cpu_model, r.load_average_before, r.load_average_after
    );
    o
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn generate(rows: u64, dir: &Path, seed: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let csv_file = |name: &str| -> anyhow::Result<csv::Writer<std::fs::File>> {
        Ok(csv::WriterBuilder::new().buffer_capacity(1 << 20).from_writer(std::fs::File::create(dir.join(name))?))
    };
    let mut legacy = csv_file("legacy.csv")?;
    let mut new = csv_file("new.csv")?;
    legacy.write_record(["account_number", "period", "amount"])?;
    new.write_record(["account_number", "period", "amount"])?;
    let mut rng = seed;
    let (mut differ, mut missing_new, mut missing_legacy) = (0u64, 0u64, 0u64);
    for i in 0..rows {
        let account = i / 12 + 1;
        let month = i % 12 + 1;
        let cents = 1_000 + (splitmix(&mut rng) % 500_000) as i64;
        let amount = Decimal::new(cents, 2);
        let (account, period) = (format!("A{account:08}"), format!("2017-{month:02}"));
        let row = |amount: Decimal| [account.clone(), period.clone(), amount.to_string()];
        let roll = splitmix(&mut rng) % 10_000;
        // 0.05% only in legacy, 0.05% only in new, 1% differ.
        if roll >= 5 {
            legacy.write_record(row(amount))?;
        } else {
            missing_legacy += 1;
        }
        if roll < 5 {
            new.write_record(row(amount))?;
        } else if roll < 10 {
            missing_new += 1;
        } else if roll < 110 {
            differ += 1;
            let delta = Decimal::new((splitmix(&mut rng) % 5_000) as i64 + 1, 2);
            let changed = if roll.is_multiple_of(2) { amount + delta } else { amount - delta };
            new.write_record(row(changed))?;
        } else {
            new.write_record(row(amount))?;
        }
    }
    legacy.flush()?;
    new.flush()?;
    eprintln!(
        "{rows} account-periods in {}: {differ} differ, {missing_new} missing on the new side, {missing_legacy} on the legacy side",
        dir.display()
    );
    Ok(())
}

/// Rows of an `account_number,period,amount` CSV as (key, amount).
fn rows(path: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<(Vec<u8>, Decimal)>>> {
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new().buffer_capacity(1 << 20).from_reader(file);
    let shown = path.display().to_string();
    let mut record = csv::ByteRecord::new();
    let mut line = 1u64;
    Ok(std::iter::from_fn(move || {
        line += 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => None,
            Err(e) => Some(Err(anyhow::anyhow!("{shown}: {e}"))),
            Ok(true) => {
                let (Some(a), Some(p), Some(m)) = (record.get(0), record.get(1), record.get(2)) else {
                    return Some(Err(anyhow::anyhow!("{shown}:{line}: expected account_number,period,amount")));
                };
                let mut key = Vec::with_capacity(a.len() + p.len() + 1);
                key.extend_from_slice(a);
                key.push(b',');
                key.extend_from_slice(p);
                let amount = std::str::from_utf8(m).ok().and_then(|s| s.parse::<Decimal>().ok()).ok_or_else(|| {
                    anyhow::anyhow!("{shown}:{line}: `{}` is not an amount", String::from_utf8_lossy(m))
                });
                Some(amount.map(|amount| (key, amount)))
            }
        }
    }))
}

fn compare(legacy: &Path, new: &Path, out: &Path, tolerance: Decimal) -> Result<u8, Failure> {
    let started = std::time::Instant::now();
    let l = rows(legacy).map_err(Failure::input)?;
    let n = rows(new).map_err(Failure::input)?;
    let file =
        std::fs::File::create(out).map_err(|e| Failure::operational(anyhow::anyhow!("{}: {e}", out.display())))?;
    let mut w = csv::WriterBuilder::new().buffer_capacity(1 << 16).from_writer(file);
    w.write_record(["account_number", "period", "legacy_amount", "new_amount", "status"])
        .map_err(Failure::operational)?;
    let summary = bulk::merge(l, n, tolerance, |d| {
        let (key, legacy, new, status) = match d {
            Diff::Mismatch { key, legacy, new } => (key, Some(legacy), Some(new), "mismatch"),
            Diff::WithinTolerance { key, legacy, new } => (key, Some(legacy), Some(new), "within_tolerance"),
            Diff::MissingNew { key, legacy } => (key, Some(legacy), None, "missing_new"),
            Diff::MissingLegacy { key, new } => (key, None, Some(new), "missing_legacy"),
        };
        // The key is `account_number,period` (see `rows`); a period has no comma, an account
        // number may: the csv writer quotes it.
        let key = String::from_utf8_lossy(&key);
        let (account, period) = key.rsplit_once(',').unwrap_or((&key, ""));
        let amount = |a: Option<Decimal>| a.map(|a| a.to_string()).unwrap_or_default();
        w.write_record([account, period, &amount(legacy), &amount(new), status]).map_err(anyhow::Error::from)
    })
    .map_err(Failure::operational)?
    .map_err(Failure::input)?;
    w.flush().map_err(Failure::operational)?;
    let json = serde_json::to_string(&summary).map_err(Failure::operational)?;
    println!("{json}");
    eprintln!("cutover bulk compare: {:.3}s", started.elapsed().as_secs_f64());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, runs: u64) -> StageLine {
        StageLine {
            stage: name.into(),
            runs,
            wall_s: 1.5,
            unit: "accounts",
            units: 10,
            per_second: 6.7,
            peak_rss_mib: Some(40.0),
            cpu_s: 1.2,
            sys_s: 0.3,
            waits: 7,
            statements: None,
            in_store_s: None,
        }
    }

    /// The table's columns line up whatever the stages are called: each line's `runs` ends where
    /// the header's does, the longest name ("rate+reconcile") included.
    #[test]
    fn the_stage_table_lines_up_under_its_header() {
        let r = PipelineReport {
            accounts: 10,
            workers: 1,
            store: "sqlite (scratch folder)".into(),
            legacy_rows: Some(100),
            stages: vec![stage("generate", 1), stage("rate+reconcile", 190), stage("notify", 190)],
            total_wall_s: 3.0,
            statements: None,
            in_store_s: None,
            legacy_rows_per_second: Some(33.0),
            peak_rss_mib: Some(40.0),
            rerun_wall_s: 0.1,
            rerun_changes: 0,
            legacy_db_bytes: Some(1),
            state_bytes: Some(1),
            state_to_legacy: Some(1.0),
            sqlite3_copy_s: None,
            demo_to_copy: None,
            load_average_before: "0 0 0".into(),
            load_average_after: "0 0 0".into(),
            files_probe_count: PROBE_FILES,
            files_probe_us: Some(31.0),
            cpus: 2,
            cpu_model: "test".into(),
        };
        let text = pipeline_text(&r);
        let lines: Vec<&str> = text.lines().collect();
        let header = lines.iter().position(|l| l.starts_with("stage ")).unwrap();
        let end_of_runs = |l: &str| l.find("runs").map(|i| i + 4);
        let want = end_of_runs(lines[header]).unwrap();
        for (line, s) in lines[header + 1..].iter().zip(&r.stages) {
            assert!(line.starts_with(&s.stage), "{text}");
            let runs = s.runs.to_string();
            let at = line[s.stage.len()..].find(&runs).map(|i| s.stage.len() + i + runs.len());
            assert_eq!(at, Some(want), "{text}");
        }
        assert!(text.contains("files      2000 new 4 KiB files before the run: 31 µs each"), "{text}");
        assert!(!text.contains("statements"), "counted only when asked: {text}");
        // With `--statements`: each stage's after its line, the flow's on a line of its own.
        let mut counted = r;
        for s in &mut counted.stages {
            (s.statements, s.in_store_s) = (Some(12), Some(0.5));
        }
        (counted.statements, counted.in_store_s) = (Some(40), Some(1.5));
        let text = pipeline_text(&counted);
        let notify = text.lines().find(|l| l.starts_with("notify")).unwrap();
        assert!(notify.ends_with("peak 40 MiB; 12 statements, 0.50s of them in the store"), "{text}");
        assert!(
            text.contains("\nstore      40 statements through sqlx took 1.50 s where they ran (50% of the total wall"),
            "{text}"
        );
    }
}
