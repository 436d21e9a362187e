//! The rating benchmark (`cutover bench rate`): generates synthetic accounts in memory, in bounded
//! chunks, rates them with the pure rating step ([`crate::rate::rate`]) and measures it.
//!
//! Only the rating is timed; generating the chunk is not. Memory stays bounded: one chunk of
//! accounts and their bills at a time. The clock and `/proc` are read here, never in the pure core.
//! Floats appear only in the *rate* figures (lines per second), never in money.

use crate::domain::{Account, AccountStatus, Decimal, LegacyAccount, Period, Segment, Service, Usage};
use crate::plan::{Catalog, SourceFile};
use chrono::NaiveDate;
use std::time::{Duration, Instant};

/// Accounts generated and rated per chunk.
pub const CHUNK_ACCOUNTS: usize = 4_096;

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub lines: u64,
    pub accounts: u64,
    /// Sum of the rated amounts: printed so the work cannot be optimised away, and as a check.
    pub total: Decimal,
    pub rating: Duration,
    pub wall: Duration,
    pub peak_rss_kib: Option<u64>,
    pub cpus: usize,
    pub cpu_model: String,
}

impl BenchReport {
    pub fn lines_per_second(&self) -> f64 {
        self.lines as f64 / self.rating.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("the embedded catalog does not parse: {0}")]
    Catalog(String),
    #[error("rating failed: {0}")]
    Rate(#[from] crate::rate::RateError),
}

/// The repository's catalog (embedded), which the synthetic accounts use.
fn catalog() -> Result<Catalog, BenchError> {
    let text = crate::demo::PLAN_FILES.iter().find(|(n, _)| *n == "catalog.yaml").map_or("", |(_, t)| t);
    let checked = crate::plan::parse(&SourceFile { name: "catalog.yaml".into(), text: text.to_string() }, &[]);
    let problems: Vec<String> = checked.errors().map(|p| p.to_string()).collect();
    checked.plan.map(|p| p.catalog).ok_or_else(|| BenchError::Catalog(problems.join("; ")))
}

/// A small deterministic generator (xorshift), so every run rates the same lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// One synthetic account, billed for April 2017: a mix of recurring (some partial), one-time and
/// usage charges across the catalog's models. About ten lines a bill.
fn account(i: u64, rng: &mut Rng) -> LegacyAccount {
    let number = format!("B{i:08}");
    let cycle_day = 1 + (rng.below(28) as u32);
    let mut a = LegacyAccount::new(Account {
        account_number: number.clone(),
        name: String::new(),
        segment: Segment::Colocation,
        site: None,
        currency: "USD".into(),
        bill_cycle_day: cycle_day,
        bill_to_email: vec![],
        status: AccountStatus::Active,
    });
    let svc = |code: &str, qty: i64, cents: i64, start: NaiveDate, end: Option<NaiveDate>| Service {
        account_number: number.clone(),
        service_id: String::new(),
        legacy_code: code.into(),
        description: String::new(),
        quantity: Decimal::from(qty),
        unit_price: Decimal::new(cents, 2),
        start_date: start,
        end_date: end,
    };
    let old = date(2016, 1, 1);
    let mid = date(2017, 4, 1 + rng.below(28) as u32);
    a.services.push(svc("CAB-42U", 1 + rng.below(4) as i64, 120_000 + rng.below(40_000) as i64, old, None));
    a.services.push(svc("CAB-21U", 1, 70_000, old, None));
    a.services.push(svc("PWR-20A", 2, 32_500, old, None));
    a.services.push(svc("PWR-30A", 1, 45_000, mid, None));
    a.services.push(svc("XC-FIBER", 1 + rng.below(3) as i64, 30_000, mid, None));
    a.services.push(svc("XC-COPPER", 1, 15_000, old, Some(mid)));
    a.services.push(svc("INST-COLO", 1, 75_000, mid, None));
    // Usage is billed in arrears: dated in the bill period before April's.
    let used = Period { year: 2017, month: 3 }.bill_period(cycle_day).start + chrono::Days::new(rng.below(28));
    let use_ = |code: &str, qty: i64| Usage {
        account_number: number.clone(),
        service_id: String::new(),
        legacy_code: code.into(),
        usage_date: used,
        quantity: Decimal::new(qty, 1),
        uom: String::new(),
    };
    a.usage.push(use_("PWR-KWH", 20_000 + rng.below(20_000) as i64));
    a.usage.push(use_("BW-95TH", rng.below(10_000) as i64));
    a.usage.push(use_("RH-HOUR", 5 + rng.below(40) as i64));
    a
}

/// Rates at least `lines` synthetic lines, a chunk at a time; `progress` hears the count so far.
pub fn rate_lines(lines: u64, mut progress: impl FnMut(u64)) -> Result<BenchReport, BenchError> {
    let started = Instant::now();
    let catalog = catalog()?;
    let period = Period { year: 2017, month: 4 };
    let mut rng = Rng(0x2017_0401_dead_beef);
    let (mut done, mut accounts, mut total) = (0u64, 0u64, Decimal::ZERO);
    let mut rating = Duration::ZERO;
    let mut chunk = Vec::with_capacity(CHUNK_ACCOUNTS);
    while done < lines {
        chunk.clear();
        chunk.extend((0..CHUNK_ACCOUNTS).map(|k| account(accounts + k as u64, &mut rng)));
        let t = Instant::now();
        for acct in &chunk {
            let rated = crate::rate::rate(acct, &catalog, period)?;
            done += rated.bill.lines.len() as u64;
            total += rated.bill.total;
        }
        rating += t.elapsed();
        accounts += chunk.len() as u64;
        progress(done);
    }
    Ok(BenchReport {
        lines: done,
        accounts,
        total,
        rating,
        wall: started.elapsed(),
        peak_rss_kib: peak_rss_kib(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: cpu_model(),
    })
}

/// Peak resident memory of this process (`VmHWM` in `/proc/self/status`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU model from `/proc/cpuinfo` (or "unknown").
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Wall time, work done and peak memory of one pipeline stage, summed over every time it ran.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StageTime {
    pub stage: String,
    /// How many times the stage ran (the demo runs every wave's stages once per simulated day).
    pub runs: u64,
    pub wall: Duration,
    /// Rows (generate, extract) or accounts (the wave stages) the stage handled.
    pub units: u64,
    /// The highest resident memory seen while the stage ran (`VmHWM`, reset before each run), KiB.
    pub peak_rss_kib: Option<u64>,
    /// CPU time the whole process used while the stage ran (every thread, user and system):
    /// beside `wall`, how much the stage computes and how much it waits or overlaps.
    pub cpu: Duration,
    /// The part of `cpu` spent in the kernel on the process's behalf (files, the disk, waking
    /// threads): where a slow filesystem shows (see `files_probe` in `bench pipeline`).
    pub sys: Duration,
    /// How many times a thread of the process gave up its core to wait (voluntary context
    /// switches): mostly one thread handing work to another and waiting for the answer.
    pub waits: u64,
    /// Statements the store ran through `sqlx` during the stage, and the time they took where
    /// they ran ([`crate::store::statements::count`]; zero when not counting).
    pub statements: u64,
    pub in_store: Duration,
}

/// What the process has used so far ([`process_usage`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
    /// Every thread's (living or ended) user and system time.
    pub cpu: Duration,
    /// The system time alone.
    pub sys: Duration,
    /// The threads' voluntary context switches.
    pub waits: u64,
    /// The store's statements counted so far, and their time ([`crate::store::statements::count`]; zero
    /// when not counting).
    pub statements: u64,
    pub in_store: Duration,
}

/// CPU time this process has used so far and its threads' voluntary context switches
/// (`getrusage(RUSAGE_SELF)`); zero if unreadable.
#[cfg(unix)]
pub fn process_usage() -> ProcessUsage {
    // SAFETY: getrusage only writes the struct it is given, which is zeroed and ours.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let counted = with_statements(ProcessUsage::default());
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return counted;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32).min(999_999) * 1000);
    ProcessUsage {
        cpu: tv(u.ru_utime) + tv(u.ru_stime),
        sys: tv(u.ru_stime),
        waits: u.ru_nvcsw.max(0) as u64,
        ..counted
    }
}

/// Elsewhere than Unix: only the statements are measured.
#[cfg(not(unix))]
pub fn process_usage() -> ProcessUsage {
    with_statements(ProcessUsage::default())
}

/// `usage` with the store's statements counted so far ([`crate::store::statements::so_far`]).
fn with_statements(usage: ProcessUsage) -> ProcessUsage {
    let (statements, in_store) = crate::store::statements::so_far();
    ProcessUsage { statements, in_store, ..usage }
}

/// When a timed stage run started: the wall clock, and what the process had used then.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    at: Instant,
    usage: ProcessUsage,
}

/// Times the stages of a pipeline run (`cutover bench pipeline`). Disabled (the default) it reads
/// no clock and no `/proc`: the engine carries one always, and only the benchmark turns it on.
#[derive(Debug, Default)]
pub struct StageClock {
    enabled: bool,
    stages: std::sync::Mutex<Vec<StageTime>>,
}

impl StageClock {
    pub fn enabled() -> StageClock {
        StageClock { enabled: true, stages: Default::default() }
    }

    /// Starts timing a stage: resets the process's peak-memory mark (Linux `clear_refs`), so the
    /// peak read at [`StageClock::stop`] is this stage's.
    pub fn start(&self) -> Option<Started> {
        if !self.enabled {
            return None;
        }
        // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0); without it the
        // peak is the process's so far.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        Some(Started { at: Instant::now(), usage: process_usage() })
    }

    /// Records a stage run started with [`StageClock::start`] that handled `units`.
    pub fn stop(&self, stage: &str, started: Option<Started>, units: u64) {
        let Some(t) = started else { return };
        let wall = t.at.elapsed();
        let now = process_usage();
        let (cpu, sys) = (now.cpu.saturating_sub(t.usage.cpu), now.sys.saturating_sub(t.usage.sys));
        let waits = now.waits.saturating_sub(t.usage.waits);
        let statements = now.statements.saturating_sub(t.usage.statements);
        let in_store = now.in_store.saturating_sub(t.usage.in_store);
        let peak = peak_rss_kib();
        let mut stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        let i = match stages.iter().position(|s| s.stage == stage) {
            Some(i) => i,
            None => {
                stages.push(StageTime { stage: stage.to_string(), ..StageTime::default() });
                stages.len() - 1
            }
        };
        let s = &mut stages[i];
        s.runs += 1;
        s.wall += wall;
        s.cpu += cpu;
        s.sys += sys;
        s.waits += waits;
        s.statements += statements;
        s.in_store += in_store;
        s.units += units;
        s.peak_rss_kib = s.peak_rss_kib.max(peak);
    }

    /// The stages timed so far, in the order they first ran.
    pub fn stages(&self) -> Vec<StageTime> {
        self.stages.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_run_rates_what_it_says() {
        let r = super::rate_lines(1, |_| {}).unwrap();
        // One chunk: every synthetic account bills at least its cabinet, power and usage lines.
        assert_eq!(r.accounts, super::CHUNK_ACCOUNTS as u64);
        assert!(r.lines >= 6 * r.accounts, "{} lines for {} accounts", r.lines, r.accounts);
        assert!(r.total > crate::domain::Decimal::ZERO);
    }

    #[test]
    fn a_stage_clock_sums_runs_per_stage_and_a_disabled_one_records_nothing() {
        let clock = super::StageClock::enabled();
        for (stage, units) in [("rate", 3), ("notify", 1), ("rate", 4)] {
            let t = clock.start();
            clock.stop(stage, t, units);
        }
        let got: Vec<(String, u64, u64)> = clock.stages().into_iter().map(|s| (s.stage, s.runs, s.units)).collect();
        assert_eq!(got, vec![("rate".to_string(), 2, 7), ("notify".to_string(), 1, 1)]);
        let off = super::StageClock::default();
        let t = off.start();
        assert!(t.is_none());
        off.stop("rate", t, 5);
        assert!(off.stages().is_empty());
    }
}
