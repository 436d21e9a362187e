//! The billing email submission form's results (`account_number, email, name, submitted_at`):
//! validated, de-duplicated, latest submission wins. Pure: rows in, one decision per account out.
//!
//! A submission is every row of one account with the same `submitted_at`; the latest submission
//! replaces the account's recipients (addresses of older submissions are dropped, as the customer
//! asked). An invalid address or name is rejected with its reason and never reaches a header.

use super::EmailAddress;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

/// One row of the form's export, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRow {
    pub line: u64,
    pub account_number: String,
    pub email: String,
    pub name: String,
    pub submitted_at: String,
}

/// An account's latest submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The line of the submission's first row in the form's file.
    pub line: u64,
    pub account_number: String,
    pub emails: Vec<EmailAddress>,
    pub name: Option<String>,
    /// Normalised to RFC 3339, UTC.
    pub submitted_at: String,
}

/// A row that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    pub line: u64,
    pub account_number: String,
    pub reason: String,
}

/// Parses `2017-05-03T10:00:00Z`, `2017-05-03 10:00:00` (UTC) or `2017-05-03`.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

/// The latest valid submission per account, and every rejected row.
pub fn latest(rows: &[FormRow]) -> (Vec<Submission>, Vec<Rejected>) {
    let mut rejected = Vec::new();
    // account → submission time → (emails, name)
    type Submissions = BTreeMap<DateTime<Utc>, (Vec<EmailAddress>, Option<String>, u64)>;
    let mut by_account: BTreeMap<String, Submissions> = BTreeMap::new();
    for r in rows {
        let reject = |reason: String| Rejected { line: r.line, account_number: r.account_number.clone(), reason };
        let account = r.account_number.trim();
        if account.is_empty() {
            rejected.push(reject("account_number is empty".into()));
            continue;
        }
        let Some(at) = parse_time(&r.submitted_at) else {
            rejected.push(reject(format!("submitted_at `{}` is not a date or time", r.submitted_at)));
            continue;
        };
        let email = match EmailAddress::parse(&r.email) {
            Ok(e) => e,
            Err(why) => {
                rejected.push(reject(why));
                continue;
            }
        };
        let name = r.name.trim();
        if name.contains(['\r', '\n']) {
            rejected.push(reject("name contains a line break".into()));
            continue;
        }
        let entry = by_account.entry(account.to_string()).or_default().entry(at).or_insert((vec![], None, r.line));
        if !entry.0.iter().any(|e| e.same_mailbox(&email)) {
            entry.0.push(email);
        }
        if entry.1.is_none() && !name.is_empty() {
            entry.1 = Some(name.to_string());
        }
    }
    let subs = by_account
        .into_iter()
        .filter_map(|(account, times)| {
            let (at, (emails, name, line)) = times.into_iter().next_back()?;
            Some(Submission { line, account_number: account, emails, name, submitted_at: at.to_rfc3339() })
        })
        .collect();
    (subs, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u64, account: &str, email: &str, name: &str, at: &str) -> FormRow {
        FormRow {
            line,
            account_number: account.into(),
            email: email.into(),
            name: name.into(),
            submitted_at: at.into(),
        }
    }

    #[test]
    fn latest_submission_wins_and_duplicates_collapse() {
        let rows = [
            row(2, "A1", "old@a.example", "Ann", "2017-05-01"),
            row(3, "A1", "ap@a.example", "Ann", "2017-05-03T10:00:00Z"),
            row(4, "A1", "AP@a.example", "", "2017-05-03 10:00:00"),
            row(5, "A1", "it@a.example", "", "2017-05-03T10:00:00+00:00"),
            row(6, "A2", "bad address", "Bob", "2017-05-02"),
            row(7, "A2", "b@b.example", "Bob\r\nBcc: x@y.example", "2017-05-02"),
            row(8, "A3", "c@c.example", "", "yesterday"),
            row(9, "A4", "d@d.example\r\nBcc: evil@x.example", "", "2017-05-02"),
        ];
        let (subs, rejected) = latest(&rows);
        assert_eq!(subs.len(), 1, "{subs:?}");
        let a1 = &subs[0];
        let emails: Vec<_> = a1.emails.iter().map(|e| e.to_string()).collect();
        // AP@ and ap@ reach the same mailbox in practice: one message, not two.
        assert_eq!(emails, ["ap@a.example", "it@a.example"]);
        assert_eq!((a1.name.as_deref(), a1.submitted_at.as_str()), (Some("Ann"), "2017-05-03T10:00:00+00:00"));
        let why: Vec<_> = rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
        assert_eq!(why.len(), 4, "{why:?}");
        assert_eq!(why[0], (6, "`bad address` is not a single plain address"));
        assert_eq!(why[1], (7, "name contains a line break"));
        assert_eq!(why[2], (8, "submitted_at `yesterday` is not a date or time"));
        assert!(why[3].1.contains("line break"));
    }
}
