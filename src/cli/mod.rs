//! The command line: the only code that knows clap, indicatif and anyhow. Thin: parse, open the
//! workspace, call the engine, print.
//!
//! Exit codes: 0 success; 1 the command ran and found problems (a reconciliation mismatch, a gate
//! that did not pass, a notice that failed); 2 bad input or configuration; 3 an operational failure
//! (database, SMTP, files); 4 stopped on request (SIGTERM, Ctrl-C) before the work was done: the
//! page or message in hand was finished and this worker's claims let go (`EXIT_STOPPED`).

// The commands, one file each (its `Args` and `run`); `Command` lists them in the order of the story.
mod bench;
mod bill;
mod contacts;
mod demo;
mod extract;
mod gate;
mod hold;
mod init;
mod journal;
mod notices;
mod notify;
mod plan;
mod readmit;
mod reconcile;
mod rollback;
mod run;
mod schedule;
mod serve;
mod status;
mod switch;
mod waive;
mod waves;
// What they share: dispatch and opening a workspace, dry runs, progress bars, report renderers.
mod commands;
mod dry;
mod progress;
mod report;

use clap::{Parser, Subcommand, ValueEnum};
pub use journal::JournalFormat;
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
failed notice); 2 bad input or configuration; 3 operational failure (database, SMTP, files); 4 stopped \
on request (SIGTERM, Ctrl-C) with work left: the page in hand was finished, the claims let go; run again to finish.";

/// The exit code of a `run`, `notify`, `switch` or `schedule` stopped by SIGTERM or Ctrl-C before
/// its work was done (the page or message in hand finished, its claims and leases let go).
pub const EXIT_STOPPED: u8 = 4;

pub use crate::output::Format;

/// `--format`: the report formats (`output::Format`), spelled in lower case. Written here, not
/// derived there: only the CLI knows clap.
impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Text, Format::Json, Format::Csv, Format::Html, Format::Markdown]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let name = match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Html => "html",
            Format::Markdown => "markdown",
        };
        Some(clap::builder::PossibleValue::new(name))
    }
}

/// The formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

impl From<StatusFormat> for crate::output::Format {
    fn from(f: StatusFormat) -> Self {
        match f {
            StatusFormat::Text => Format::Text,
            StatusFormat::Json => Format::Json,
        }
    }
}

/// The commands, each in its own file with its arguments (`Args`) and what it does (`run`).
#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(demo::Args),
    Init(init::Args),
    Plan(plan::Args),
    Extract(extract::Args),
    Run(run::Args),
    Bill(bill::Args),
    Reconcile(reconcile::Args),
    Waive(waive::Args),
    Hold(hold::Args),
    Waves(waves::Args),
    Gate(gate::Args),
    Notify(notify::Args),
    Notices(notices::Args),
    Contacts(contacts::Args),
    Schedule(schedule::Args),
    Switch(switch::Args),
    Rollback(rollback::Args),
    Readmit(readmit::Args),
    Bench(bench::Args),
    /// Run the portal (README "The portal"): the customer pages every notice links to
    /// (`portal.base_url/c/<token>`) and the team's pages behind a login, on `portal.listen`.
    /// Stops cleanly on SIGINT/SIGTERM. `serve hash-password` makes a team member's hash.
    Serve(serve::ServeArgs),
    Journal(journal::Args),
    Status(status::Args),
}

/// A date argument: `YYYY-MM-DD`, or an error that says so.
/// Only the written-out form the help names: `2017-1-5` is refused too.
fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    crate::domain::iso_date(s.trim()).map_err(|why| format!("`{s}` {why}, e.g. 2017-06-01"))
}

/// A state an account can be found in: every state but `pending`, which is never stored (an
/// account not extracted yet is not in the store at all).
fn parse_state(s: &str) -> Result<crate::domain::State, String> {
    use crate::domain::State;
    let stored =
        || State::ALL.iter().filter(|x| **x != State::Pending).map(|x| x.as_str()).collect::<Vec<_>>().join(", ");
    match s.parse() {
        Ok(State::Pending) => Err(format!(
            "no account is ever stored as `pending` (an account not extracted yet is not in the store; \
             `cutover extract` brings it in as `extracted`): one of {}",
            stored()
        )),
        Ok(state) => Ok(state),
        Err(_) => Err(format!("unknown state `{s}` (one of: {})", stored())),
    }
}

/// One account and why: what an action on one account takes (`waive`, `hold`, `rollback`).
#[derive(Debug, clap::Args)]
pub struct AccountWhy {
    /// The legacy account number (e.g. A000012).
    pub account: String,
    /// Why: kept in the account's journal and shown in its reports.
    #[arg(long, value_parser = non_blank)]
    pub reason: String,
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_date_argument_is_written_out_in_full() {
        for (given, read) in [("2017-06-01", Some("2017-06-01")), (" 2017-12-31 ", Some("2017-12-31"))] {
            assert_eq!(super::parse_date(given).ok().map(|d| d.to_string()).as_deref(), read, "{given}");
        }
        for given in ["2017-1-5", "17-06-01", "06/01/2017", "2017-06", ""] {
            let err = super::parse_date(given).unwrap_err();
            assert!(err.contains("is not a date (write it as YYYY-MM-DD), e.g. 2017-06-01"), "{given}: {err}");
        }
        let err = super::parse_date("2017-02-30").unwrap_err();
        assert!(err.contains("is no day of the calendar"), "{err}");
    }

    /// `--state`: every stored state is read; `pending` (never stored) and an unknown spelling are
    /// refused with the states an account can be found in, `pending` not among them.
    #[test]
    fn a_state_to_list_is_one_an_account_can_be_found_in() {
        use crate::domain::State;
        for state in State::ALL.into_iter().filter(|s| *s != State::Pending) {
            assert_eq!(super::parse_state(state.as_str()), Ok(state));
        }
        for (given, says) in [("pending", "no account is ever stored as `pending`"), ("hold", "unknown state `hold`")] {
            let err = super::parse_state(given).unwrap_err();
            assert!(err.contains(says), "{given}: {err}");
            assert!(
                err.contains(
                    "extracted, rated, reconciled, notified, cut_over, loaded, rolled_back, quarantined, held"
                ),
                "{err}"
            );
            assert!(!err.contains("pending,") && !err.contains(" pending"), "{err}");
        }
    }
}
