//! The result file of a load (`switch --confirm RESULTS.csv`), README "Loading a wave into Zuora":
//! one row per account, with the account number, success or failure, and the target's id or
//! error text. Our own columns, or Zuora Data Loader's result export where they can be mapped.
//! Pure: text in, results and problems out.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadOutcome {
    Success,
    Failed,
}

/// One account's outcome, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadResult {
    pub line: u64,
    pub account_number: String,
    pub outcome: LoadOutcome,
    pub target_id: Option<String>,
    pub error: Option<String>,
}

/// A line that could not be read, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultsProblem {
    pub line: u64,
    pub message: String,
}

/// Header names each field is found under (compared without case, spaces, `_` and `.`).
const ACCOUNT: &[&str] = &["account_number", "Account Number", "AccountNumber", "ACCOUNT_ID", "Account.AccountNumber"];
const STATUS: &[&str] = &["status", "Success", "Result", "Import Status"];
const TARGET: &[&str] = &["target_id", "Id", "Account Id", "Zuora Id", "AccountId", "Account.Id"];
const ERROR: &[&str] = &["error", "Errors", "Error", "Error Message", "Message", "Failure Reason"];

fn norm(s: &str) -> String {
    s.trim_start_matches('\u{feff}').chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn find(header: &[String], names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| header.iter().position(|h| norm(h) == norm(n)))
}

fn outcome(v: &str) -> Option<LoadOutcome> {
    match v.trim().to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "true" | "ok" | "loaded" | "created" => Some(LoadOutcome::Success),
        "failed" | "failure" | "false" | "error" | "rejected" => Some(LoadOutcome::Failed),
        _ => None,
    }
}

/// Reads a result file. The whole file is refused (`Err`) when its header has no account number
/// or status column; a bad row is a problem with its line, and the rest are still read.
pub fn parse_results(text: &str) -> Result<(Vec<LoadResult>, Vec<ResultsProblem>), String> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header: Vec<String> =
        rdr.headers().map_err(|e| format!("cannot read the header: {e}"))?.iter().map(str::to_string).collect();
    let (Some(acc), Some(st)) = (find(&header, ACCOUNT), find(&header, STATUS)) else {
        return Err(format!(
            "the header needs an account number column ({}) and a status column ({}); it has: {}",
            ACCOUNT.join(", "),
            STATUS.join(", "),
            header.join(", ")
        ));
    };
    let (tid, err) = (find(&header, TARGET), find(&header, ERROR));
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(ResultsProblem { line, message: format!("unreadable CSV record: {e}") });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).map(str::trim).filter(|s| !s.is_empty());
        let Some(account) = get(Some(acc)) else {
            problems.push(ResultsProblem { line, message: "no account number".into() });
            continue;
        };
        let Some(o) = get(Some(st)).and_then(outcome) else {
            problems.push(ResultsProblem {
                line,
                message: format!(
                    "account {account}: status `{}` is neither success nor failed",
                    get(Some(st)).unwrap_or("")
                ),
            });
            continue;
        };
        let error = get(err).map(str::to_string);
        out.push(LoadResult {
            line,
            account_number: account.to_string(),
            outcome: o,
            target_id: get(tid).map(str::to_string),
            error: match o {
                LoadOutcome::Failed => Some(error.unwrap_or_else(|| "the target gave no error text".into())),
                LoadOutcome::Success => None,
            },
        });
    }
    Ok((out, problems))
}
