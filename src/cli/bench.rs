//! `cutover bench`: `rate` times the pure rating step; `gen` and `reconcile` are the data
//! generator and the comparison that `scripts/bench-reconcile.sh` times against DuckDB and
//! datacompy.
//!
//! `bench gen` writes `legacy.csv` and `new.csv` (`account_number,period,amount`, sorted by
//! account and period, as an extract ordered by its key is). About 1% of the account-periods
//! differ and about 0.1% are missing on one side (half on each). `bench reconcile` merges the two
//! files with [`crate::reconcile::bulk::merge`] and writes every differing account-period to a CSV.

use super::BenchWhat;
use super::Failure;
use crate::domain::Decimal;
use crate::reconcile::bulk::{self, Diff};
use std::path::Path;

pub fn run(what: BenchWhat) -> Result<u8, Failure> {
    match what {
        BenchWhat::Rate { lines } => rate(lines),
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
