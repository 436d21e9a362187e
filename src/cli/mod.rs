//! The command line: the only code that knows clap, indicatif and anyhow. Thin: parse, open the
//! workspace, call the engine, print.
//!
//! Exit codes: 0 success; 1 the command ran and found problems (a reconciliation mismatch, a gate
//! that did not pass, a notice that failed); 2 bad input or configuration; 3 an operational failure
//! (database, SMTP, files).

mod bench;
mod commands;
mod dry;
mod progress;
mod report;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Moves billing customers from the legacy system onto the new subscription-billing model, in
/// planned waves: extract, re-rate, reconcile, notify, cut over, roll back.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// The workspace folder (holding cutover.yaml).
    #[arg(short = 'C', long = "workspace", global = true, default_value = ".", value_name = "DIR")]
    pub workspace: PathBuf,
    /// Who is acting, for the journal (default: $CUTOVER_ACTOR, else $USER). A command that changes
    /// an account's state refuses to run when nobody is known.
    #[arg(long, global = true, env = "CUTOVER_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 success; 1 ran and found problems (mismatch, gate not passed, \
failed notice); 2 bad input or configuration; 3 operational failure (database, SMTP, files).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Csv,
    Html,
    Markdown,
}

impl From<Format> for crate::output::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::Text => crate::output::Format::Text,
            Format::Json => crate::output::Format::Json,
            Format::Csv => crate::output::Format::Csv,
            Format::Html => crate::output::Format::Html,
            Format::Markdown => crate::output::Format::Markdown,
        }
    }
}

/// The formats a bill is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BillFormat {
    Text,
    Html,
    Json,
    Csv,
}

/// The formats of the notice report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoticesFormat {
    Text,
    Json,
    Csv,
}

/// The formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

impl From<BillFormat> for crate::output::Format {
    fn from(f: BillFormat) -> Self {
        match f {
            BillFormat::Text => Format::Text.into(),
            BillFormat::Html => Format::Html.into(),
            BillFormat::Json => Format::Json.into(),
            BillFormat::Csv => Format::Csv.into(),
        }
    }
}

impl From<NoticesFormat> for crate::output::Format {
    fn from(f: NoticesFormat) -> Self {
        match f {
            NoticesFormat::Text => Format::Text.into(),
            NoticesFormat::Json => Format::Json.into(),
            NoticesFormat::Csv => Format::Csv.into(),
        }
    }
}

impl From<StatusFormat> for crate::output::Format {
    fn from(f: StatusFormat) -> Self {
        match f {
            StatusFormat::Text => Format::Text.into(),
            StatusFormat::Json => Format::Json.into(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a demo workspace with a synthetic legacy database and run every dated wave end to end
    /// on a simulated clock. Running it again on the same folder sends nothing and changes nothing.
    Demo {
        /// Where to build the demo workspace (default: the -C folder when given, else
        /// ./cutover-demo).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// How many legacy accounts to generate.
        #[arg(long, default_value_t = 2000)]
        accounts: usize,
        /// Seed of the generator: the same seed gives the same data.
        #[arg(long, default_value_t = 2017)]
        seed: u64,
        /// Stop the simulated clock before this day, YYYY-MM-DD (a workspace in the middle of its
        /// waves, where every command of the tour still has work to show).
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        until: Option<chrono::NaiveDate>,
    },
    /// Scaffold a workspace: cutover.yaml, the wave plan and catalog, a legacy/ folder.
    Init {
        /// The folder to create (default: the workspace, -C).
        dir: Option<PathBuf>,
    },
    /// Check the plan (wave files and catalog).
    Plan {
        #[command(subcommand)]
        action: PlanAction,
    },
    /// Read the whole legacy source into the state store (a full, atomic refresh). Bad rows are
    /// quarantined with their reason; `status` lists them.
    Extract,
    /// Run every stage of a wave that is due as of DATE and allowed by its gate: extract (once),
    /// rate, reconcile, notify, switch.
    Run {
        /// The wave id (the `id` in its wave file).
        #[arg(long)]
        wave: String,
        /// The day to run as (default: today). Use it to catch up or simulate.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        /// Put held accounts back to be rated and reconciled again first (after a fix).
        #[arg(long)]
        recheck_held: bool,
        /// Show what would happen (each account's change, the mail and files), on a copy: nothing is
        /// written and nothing sent. Exits as the real run would.
        #[arg(long)]
        dry_run: bool,
        /// Worker threads for rating and reconciling, each claiming its own pages of accounts
        /// (README "Running as a team"). Other processes on the same store are workers too.
        #[arg(long, default_value_t = 1, value_name = "N")]
        workers: usize,
    },
    /// Print an account's bill for a period in the new format (or, with --legacy, the old one).
    /// Works on a fresh workspace too.
    Bill {
        /// The legacy account number.
        account: String,
        /// The bill period, YYYY-MM.
        #[arg(long)]
        period: crate::domain::Period,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: BillFormat,
        /// Show what the legacy system billed instead.
        #[arg(long)]
        legacy: bool,
    },
    /// Compare legacy and new bills per account and period, with the wave's gate verdict. On a
    /// fresh workspace it reads the legacy source directly (nothing is stored).
    ///
    /// Every report is kept as a numbered run of the wave (unless its outcome equals the last
    /// run's) and says what changed since the previous run. `--format html` is a self-contained
    /// page with charts, a sortable table and a drill-down per account.
    Reconcile {
        /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
        #[arg(long)]
        wave: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// With `--format csv`: one row per line difference instead of one per account and period.
        #[arg(long)]
        lines: bool,
    },
    /// Waive a failing account: it may be switched despite its reconciliation (journaled).
    /// `--revoke` withdraws the waiver: an account not yet cut over is held again.
    Waive {
        /// The legacy account number (e.g. A000012).
        account: String,
        /// Why: kept in the account's journal and shown in every report.
        #[arg(long, value_parser = non_blank)]
        reason: String,
        /// Withdraw the account's waiver instead of granting one.
        #[arg(long)]
        revoke: bool,
    },
    /// The waves of the plan: id, name, window, and accounts per state.
    Waves {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: StatusFormat,
    },
    /// The wave's gate: promote a paused wave.
    Gate {
        #[command(subcommand)]
        action: GateAction,
    },
    /// Send the customer notices due as of DATE (cron-friendly; each notice goes once, never late).
    /// Works on a fresh workspace: it extracts first.
    Notify {
        /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
        #[arg(long, required_unless_present = "preview")]
        wave: Option<String>,
        /// The day to act as, YYYY-MM-DD (default: today): catch up, or simulate a date.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        /// Print the notice one account would get (subject, text and HTML), and send nothing.
        #[arg(long, value_name = "ACCOUNT", conflicts_with = "resolve")]
        preview: Option<String>,
        /// Decide on a notice whose delivery is unknown (interrupted mid-send): `--as sent` if the
        /// mail server's log shows it went out, `--as resend` to send it again. Needs --reason.
        #[arg(long, value_name = "ACCOUNT", requires_all = ["resolution", "reason"])]
        resolve: Option<String>,
        /// With --resolve: `sent` (the mail log shows it went out) or `resend` (it did not).
        #[arg(long = "as", value_enum, value_name = "DECISION")]
        resolution: Option<Resolution>,
        /// Why (with --resolve): kept in the account's journal.
        #[arg(long, value_parser = non_blank)]
        reason: Option<String>,
        /// Show which notices would go out and what would change, on a copy: nothing is written
        /// and nothing sent. Exits as the real run would.
        #[arg(long, conflicts_with_all = ["preview", "resolve"])]
        dry_run: bool,
    },
    /// Report a wave's notices: sent, failed (with the server's reply), printed, unknown, and the
    /// accounts that could not be scheduled.
    Notices {
        /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
        #[arg(long)]
        wave: String,
        /// Instead: the accounts whose notice is due in the next DAYS days (from --as-of, default
        /// today), with their dates, earliest first.
        #[arg(long, value_name = "DAYS")]
        upcoming: Option<u32>,
        /// With --upcoming: the day to count from, YYYY-MM-DD (default: today).
        #[arg(long, value_name = "DATE", value_parser = parse_date, requires = "upcoming")]
        as_of: Option<chrono::NaiveDate>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: NoticesFormat,
    },
    /// Billing email addresses customers submitted through the form.
    Contacts {
        #[command(subcommand)]
        action: ContactsAction,
    },
    /// Run as a service: send each wave's notices when they are due, retry what failed for a
    /// transient reason, and stop cleanly on SIGINT/SIGTERM (never in the middle of a message).
    Schedule {
        /// The waves to serve (default: every dated wave).
        #[arg(long)]
        wave: Vec<String>,
        /// Treat DATE (YYYY-MM-DD) as today, for a catch-up. Real mail is sent: to see what would
        /// happen, add --dry-run.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        /// Seconds between checks (default: at the top of each hour).
        #[arg(long, hide = true)]
        tick_seconds: Option<u64>,
        /// One check only, on a copy: print which notices would go out, write and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Cut over the accounts that are due as of DATE, notified and passing, if the gate allows,
    /// and write the wave's load files (`import/<wave>/<date>/`, README "Loading a wave into
    /// Zuora"). With --confirm: apply the load's result file instead.
    Switch {
        /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
        #[arg(long, required_unless_present = "confirm")]
        wave: Option<String>,
        /// The day to act as, YYYY-MM-DD (default: today): catch up, or simulate a date.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        /// The load's result file (account number, status success/failed, target id or error):
        /// successes become `loaded`, failures go back to `held` with the target's error.
        #[arg(long, value_name = "RESULTS.csv", conflicts_with = "wave")]
        confirm: Option<PathBuf>,
        /// Show what would happen (each account's change, the mail and files), on a copy: nothing is
        /// written and nothing sent. Exits as the real run would.
        #[arg(long, conflicts_with = "confirm")]
        dry_run: bool,
    },
    /// Return one cut-over account to the legacy system, with a reason (journaled): a reversal
    /// record goes to its set's rollback.csv and it leaves the set's load files.
    Rollback {
        /// The legacy account number (e.g. A000012).
        account: String,
        /// Why: kept in the account's journal.
        #[arg(long, value_parser = non_blank)]
        reason: String,
        /// Show what would happen (each account's change, the mail and files), on a copy: nothing is
        /// written and nothing sent. Exits as the real run would.
        #[arg(long)]
        dry_run: bool,
    },
    /// Put a rolled-back account into a later wave (journaled): it is rated, reconciled,
    /// notified and cut over again there.
    Readmit {
        /// The legacy account number (e.g. A000012).
        account: String,
        /// The later wave it joins (its window must still be open).
        #[arg(long)]
        wave: String,
        /// Why: kept in the account's journal.
        #[arg(long, value_parser = non_blank)]
        reason: String,
        /// The day to act as, YYYY-MM-DD (default: today).
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
    },
    /// Benchmarks anyone can run (no workspace needed): `bench rate`, the rating engine;
    /// `bench gen` and `bench reconcile`, the comparison scripts/bench-reconcile.sh times.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// The audit trail: every state change of every account (who, why, the effective day and the
    /// wall-clock time it was recorded), oldest first, to read or to take out of the tool.
    Journal {
        /// Only this account.
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
        /// Only the accounts of this wave.
        #[arg(long, value_name = "WAVE")]
        wave: Option<String>,
        /// Only changes effective on or after this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        since: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value = "text")]
        format: JournalFormat,
    },
    /// Where accounts stand: per wave, or one account with its journal and quarantined rows.
    Status {
        /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
        #[arg(long, conflicts_with = "account")]
        wave: Option<String>,
        /// Only this account (its legacy account number), with its journal and quarantined rows.
        #[arg(long)]
        account: Option<String>,
        /// List the accounts in this state with their reasons (e.g. `held`), instead of counts.
        #[arg(long, conflicts_with = "account", value_parser = parse_state)]
        state: Option<crate::domain::State>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: StatusFormat,
    },
}

/// The formats of `cutover bench pipeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PipelineFormat {
    Text,
    Json,
}

/// The formats of `cutover journal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JournalFormat {
    Text,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Resolution {
    Sent,
    Resend,
}

#[derive(Debug, Subcommand)]
pub enum ContactsAction {
    /// Import the form's CSV export (account_number, email, name, submitted_at): addresses are
    /// validated and de-duplicated, the latest submission wins, every change is journaled. They
    /// become the account's bill recipients.
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
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
        /// Worker threads for the rate and reconcile stages (compare 1 with 2 on a PostgreSQL
        /// --store; on SQLite the writers take turns).
        #[arg(long, default_value_t = 1, value_name = "N")]
        workers: usize,
        /// Stop the simulated clock before DATE (YYYY-MM-DD), as `demo --until` does. The first
        /// simulated day (2017-04-05) rates and reconciles every dated wave's accounts at once:
        /// `--until 2017-04-06` times that bulk alone.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        until: Option<chrono::NaiveDate>,
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

#[derive(Debug, Subcommand)]
pub enum GateAction {
    /// Let a paused wave proceed: you have looked at its reconciliation (journaled on the wave).
    /// An aborted wave cannot be promoted; a later, different reconciliation is judged afresh.
    Promote {
        /// The wave id (the `id` in its wave file, e.g. dc1-colocation).
        #[arg(long)]
        wave: String,
        /// Why: kept in the wave's journal and shown in every report.
        #[arg(long, value_parser = non_blank)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlanAction {
    /// Validate the wave files and the catalog: exit 0, or exit 2 with one `file:line:col: message`
    /// per problem on stderr. Warnings (an undated wave) do not fail the check.
    Check,
}

/// A date argument: `YYYY-MM-DD`, or an error that says so.
fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date: write it as YYYY-MM-DD (e.g. 2017-06-01)"))
}

/// An account state, as `status` and the journal spell it.
fn parse_state(s: &str) -> Result<crate::domain::State, String> {
    s.parse()
}

/// A reason: it goes into the journal, so it must say something.
fn non_blank(s: &str) -> Result<String, String> {
    if s.trim().is_empty() { Err("must say why (it is kept in the journal)".into()) } else { Ok(s.trim().to_string()) }
}

/// A failure with its exit code; printed once, at the top.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn input(e: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 2, error: e.into() }
    }
    pub fn operational(e: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 3, error: e.into() }
    }
    pub fn problems(msg: impl Into<String>) -> Failure {
        Failure { code: 1, error: anyhow::anyhow!(msg.into()) }
    }
}

impl From<crate::engine::EngineError> for Failure {
    fn from(e: crate::engine::EngineError) -> Failure {
        use crate::engine::EngineError as E;
        use crate::extract::ExtractError as X;
        let code = match &e {
            E::Refused(_) | E::Render(_) => 2,
            E::Extract(X::Csv { .. } | X::Header { .. }) => 2,
            E::Store(crate::store::StoreError::NoAccount(_)) => 2,
            _ => 3,
        };
        Failure { code, error: e.into() }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Failure {
        match e {
            crate::store::StoreError::NoAccount(_)
            | crate::store::StoreError::Url(_)
            | crate::store::StoreError::BadUrl { .. } => Failure::input(e),
            _ => Failure::operational(e),
        }
    }
}

impl From<crate::workspace::ConfigError> for Failure {
    fn from(e: crate::workspace::ConfigError) -> Failure {
        Failure::input(e)
    }
}

pub fn main() -> ExitCode {
    // A closed pipe (`cutover status --format json | head`) ends the program quietly, as it does any
    // Unix filter, instead of a panic in `println!`.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; restores the default
    // disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match rt.block_on(commands::dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}
