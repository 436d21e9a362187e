//! What the reconcile stage decides for one account, as a pure function: the stage
//! (`stages::reconcile_page`) gathers the facts, calls [`decide`] and writes what it returns.
//! No I/O and no clock here; the table in the tests is the specification.

use crate::domain::{Decimal, State};
use crate::plan::schedule::Schedule;
use crate::reconcile::report::Waiver;
use crate::reconcile::{self, PeriodStatus, PeriodVerdict, Policy};

/// Why an account with nothing to compare is held (nothing to compare is not a pass: the team
/// cannot know the new bills are right).
pub(crate) const NOTHING_TO_COMPARE: &str = "nothing to compare: the legacy source has no bill for this account in \
                                              the parallel-run periods (or every line was quarantined); waive it to go on";

/// When the account's dates are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheduling {
    /// At rating: the row already has its dates, and they stay.
    AtRating,
    /// Now: the earliest schedule as of the run's date, or why there is none.
    Now(Result<Schedule, String>),
}

/// What the stage knows about one account once its periods are compared.
#[derive(Debug, Clone)]
pub(crate) struct Facts<'a> {
    pub verdicts: &'a [PeriodVerdict],
    pub policy: &'a Policy,
    /// A waiver recorded for the account (it counts only when the account fails).
    pub waiver: Option<&'a Waiver>,
    /// Why no notice (and no bill) could reach the account, if so.
    pub unreachable: Option<&'a str>,
    pub scheduling: Scheduling,
}

/// What happens to the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Passed: moves to reconciled; `schedule` is set when it is scheduled now.
    Pass { reason: String, schedule: Option<Schedule> },
    /// Failed but waived: moves to reconciled like a pass.
    Waived { reason: String, schedule: Option<Schedule> },
    /// Held back, with why.
    Held { reason: String },
}

impl Decision {
    /// The state the account moves to from `rated`.
    pub fn to(&self) -> State {
        match self {
            Decision::Pass { .. } | Decision::Waived { .. } => State::Reconciled,
            Decision::Held { .. } => State::Held,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Pass { reason, .. } | Decision::Waived { reason, .. } | Decision::Held { reason } => reason,
        }
    }

    /// New schedule dates to record with the move (`None`: the row keeps what it has).
    pub fn schedule(&self) -> Option<Schedule> {
        match self {
            Decision::Pass { schedule, .. } | Decision::Waived { schedule, .. } => *schedule,
            Decision::Held { .. } => None,
        }
    }
}

/// Whether the compared periods pass the wave's policy (what is recorded as the account's
/// reconciliation result, waiver or not). No period compared is not a pass.
pub(crate) fn passes(verdicts: &[PeriodVerdict], policy: &Policy) -> bool {
    !verdicts.is_empty() && reconcile::account_status(verdicts, policy) == reconcile::AccountStatus::Pass
}

/// The decision for one account: pass, waived or held with the reason, and the schedule to record.
pub(crate) fn decide(facts: &Facts<'_>) -> Decision {
    let verdicts = facts.verdicts;
    let pass = passes(verdicts, facts.policy);
    let waiver = facts.waiver.filter(|_| !pass);
    // A waiver covers the failure it was granted for, not another one found since.
    if let Some(w) = waiver
        && let Some(covered) = w.covers.as_deref()
        && covered != failure(verdicts)
    {
        let now = if verdicts.is_empty() { NOTHING_TO_COMPARE.to_string() } else { failure(verdicts) };
        return Decision::Held {
            reason: format!(
                "reconciliation failed: {now}; its waiver (by {}: {}) was for another failure ({covered}): waive it \
                 again if this one is right too",
                w.actor, w.reason
            ),
        };
    }
    let passed = match waiver {
        None if pass => {
            let diff: Decimal = verdicts.iter().map(|v| v.difference).sum();
            format!("reconciliation passed over {} period(s), net difference {diff}", verdicts.len())
        }
        None if verdicts.is_empty() => return Decision::Held { reason: NOTHING_TO_COMPARE.to_string() },
        None => return Decision::Held { reason: format!("reconciliation failed: {}", mismatches(verdicts)) },
        Some(w) => format!("reconciliation failed ({}), waived by {}: {}", mismatches(verdicts), w.actor, w.reason),
    };
    // A notice (and later the bills) must reach someone: an email or a postal address.
    if let Some(why) = facts.unreachable {
        return Decision::Held { reason: format!("{passed}, but {why}") };
    }
    let (reason, schedule) = match &facts.scheduling {
        Scheduling::AtRating => (passed, None),
        Scheduling::Now(Ok(s)) => (
            format!("{passed}; scheduled: cut over {}, first new bill {}", s.cutover_date, s.first_new_bill_date),
            Some(*s),
        ),
        Scheduling::Now(Err(why)) => return Decision::Held { reason: format!("{passed}, but {why}") },
    };
    if waiver.is_some() { Decision::Waived { reason, schedule } } else { Decision::Pass { reason, schedule } }
}

/// The mismatched periods, each with its difference and reasons.
pub(crate) fn mismatches(verdicts: &[PeriodVerdict]) -> String {
    let worst: Vec<String> = verdicts
        .iter()
        .filter(|v| v.status == PeriodStatus::Mismatch)
        .map(|v| {
            let reasons: Vec<_> = v.reasons.iter().map(|r| r.as_str()).collect();
            format!("{} {:+} ({})", v.period, v.difference, reasons.join(", "))
        })
        .collect();
    if worst.is_empty() { "differences over the account tolerance".to_string() } else { worst.join("; ") }
}

/// The failure a waiver covers, in words that tell two failures apart ([`mismatches`] says
/// only "over the account tolerance" when no single period mismatched): the mismatched periods;
/// else every period with a difference, and its reasons; else nothing to compare.
pub(crate) fn failure(verdicts: &[PeriodVerdict]) -> String {
    if verdicts.is_empty() {
        return "nothing to compare".to_string();
    }
    if verdicts.iter().any(|v| v.status == PeriodStatus::Mismatch) {
        return mismatches(verdicts);
    }
    let each: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.difference.is_zero() || !v.reasons.is_empty())
        .map(|v| {
            let reasons: Vec<_> = v.reasons.iter().map(|r| r.as_str()).collect();
            let why = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) };
            format!("{} {:+}{why}", v.period, v.difference)
        })
        .collect();
    format!("differences over the account tolerance: {}", each.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Period;
    use crate::reconcile::Reason;
    use chrono::NaiveDate;

    fn verdict(period: &str, difference: Decimal, status: PeriodStatus, unaccepted: Decimal) -> PeriodVerdict {
        PeriodVerdict {
            period: period.parse::<Period>().expect("period"),
            legacy_total: d("100"),
            new_total: d("100") + difference,
            difference,
            status,
            reasons: if status == PeriodStatus::Mismatch { vec![Reason::Unexplained] } else { vec![] },
            findings: vec![],
            unaccepted,
            allowed: d("0"),
            legacy_final_usage: d("0"),
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    // Long: the decision table, a row per case.
    fn decide_table() {
        let ok = verdict("2017-08", d("0.01"), PeriodStatus::WithinTolerance, d("0.01"));
        let ok2 = verdict("2017-09", d("0"), PeriodStatus::Match, d("0"));
        let bad = verdict("2017-09", d("-5.00"), PeriodStatus::Mismatch, d("5.00"));
        let two = [ok.clone(), ok2];
        let failing = [ok.clone(), bad];
        let one = [ok];
        let policy = Policy::default();
        let tight = Policy { account_tolerance: Some(d("0.00")), ..Policy::default() };
        // Granted before waivers named their failure: it covers any.
        let waiver = Waiver { reason: "known".into(), actor: "ana".into(), at: "2017-09-01".into(), covers: None };
        let this = Waiver { covers: Some("2017-09 -5.00 (unexplained)".into()), ..waiver.clone() };
        let another = Waiver { covers: Some("2017-08 +3.00 (price_difference)".into()), ..waiver.clone() };
        // Granted when there was nothing to compare, and for one account-tolerance failure.
        let nothing = Waiver { covers: Some("nothing to compare".into()), ..waiver.clone() };
        let over = Waiver { covers: Some(failure(&one)), ..waiver.clone() };
        let s = Schedule {
            cutover_date: date("2017-10-31"),
            first_new_bill_date: date("2017-11-01"),
            notice_date: date("2017-10-01"),
        };
        let no_start = Err("wave `w1` has no start date yet".to_string());
        let pass = |reason: &str, schedule| Decision::Pass { reason: reason.into(), schedule };
        let held = |reason: &str| Decision::Held { reason: reason.into() };
        let failed = "reconciliation failed (2017-09 -5.00 (unexplained))";
        let table = [
            // Passes, dates set at rating: they stay.
            (
                &two[..],
                &policy,
                None,
                None,
                Scheduling::AtRating,
                pass("reconciliation passed over 2 period(s), net difference 0.01", None),
            ),
            // Passes, scheduled now.
            (
                &one[..],
                &policy,
                None,
                None,
                Scheduling::Now(Ok(s)),
                pass(
                    "reconciliation passed over 1 period(s), net difference 0.01; scheduled: cut over 2017-10-31, first new bill 2017-11-01",
                    Some(s),
                ),
            ),
            // Passes, but no schedule can be had.
            (
                &one[..],
                &policy,
                None,
                None,
                Scheduling::Now(no_start.clone()),
                held(
                    "reconciliation passed over 1 period(s), net difference 0.01, but wave `w1` has no start date yet",
                ),
            ),
            // Passes, but nobody can be reached: held before any schedule is looked at.
            (
                &one[..],
                &policy,
                None,
                Some("no email and no postal address"),
                Scheduling::Now(Ok(s)),
                held("reconciliation passed over 1 period(s), net difference 0.01, but no email and no postal address"),
            ),
            // A waiver on a passing account changes nothing.
            (
                &one[..],
                &policy,
                Some(&waiver),
                None,
                Scheduling::AtRating,
                pass("reconciliation passed over 1 period(s), net difference 0.01", None),
            ),
            // Fails.
            (
                &failing[..],
                &policy,
                None,
                None,
                Scheduling::Now(Ok(s)),
                held("reconciliation failed: 2017-09 -5.00 (unexplained)"),
            ),
            // Over the account tolerance with no mismatched period.
            (
                &one[..],
                &tight,
                None,
                None,
                Scheduling::AtRating,
                held("reconciliation failed: differences over the account tolerance"),
            ),
            // Fails, waived, scheduled now.
            (
                &failing[..],
                &policy,
                Some(&waiver),
                None,
                Scheduling::Now(Ok(s)),
                Decision::Waived {
                    reason: format!(
                        "{failed}, waived by ana: known; scheduled: cut over 2017-10-31, first new bill 2017-11-01"
                    ),
                    schedule: Some(s),
                },
            ),
            // Waived for this very failure: waived.
            (
                &failing[..],
                &policy,
                Some(&this),
                None,
                Scheduling::AtRating,
                Decision::Waived { reason: format!("{failed}, waived by ana: known"), schedule: None },
            ),
            // Waived for another failure: not this one; held, saying what the waiver was for.
            (
                &failing[..],
                &policy,
                Some(&another),
                None,
                Scheduling::Now(Ok(s)),
                held(
                    "reconciliation failed: 2017-09 -5.00 (unexplained); its waiver (by ana: known) was for another \
                     failure (2017-08 +3.00 (price_difference)): waive it again if this one is right too",
                ),
            ),
            // Nothing to compare when waived; now a failure over the account tolerance: held.
            (
                &one[..],
                &tight,
                Some(&nothing),
                None,
                Scheduling::AtRating,
                held(
                    "reconciliation failed: differences over the account tolerance: 2017-08 +0.01; its waiver (by \
                     ana: known) was for another failure (nothing to compare): waive it again if this one is right \
                     too",
                ),
            ),
            // The account-tolerance failure it was waived for: waived.
            (
                &one[..],
                &tight,
                Some(&over),
                None,
                Scheduling::AtRating,
                Decision::Waived {
                    reason: "reconciliation failed (differences over the account tolerance), waived by ana: known"
                        .into(),
                    schedule: None,
                },
            ),
            // Fails, waived, but unreachable.
            (
                &failing[..],
                &policy,
                Some(&waiver),
                Some("no address"),
                Scheduling::AtRating,
                held(&format!("{failed}, waived by ana: known, but no address")),
            ),
            // Nothing compared: held, unless waived.
            (&[], &policy, None, None, Scheduling::AtRating, held(NOTHING_TO_COMPARE)),
            (
                &[][..],
                &policy,
                Some(&waiver),
                None,
                Scheduling::AtRating,
                Decision::Waived {
                    reason: "reconciliation failed (differences over the account tolerance), waived by ana: known"
                        .into(),
                    schedule: None,
                },
            ),
        ];
        // (verdicts, policy, waiver, unreachable, scheduling, decision)
        for (i, (verdicts, policy, waiver, unreachable, scheduling, want)) in table.into_iter().enumerate() {
            let got = decide(&Facts { verdicts, policy, waiver, unreachable, scheduling });
            assert_eq!(got, want, "row {i}");
            assert_eq!(got.to(), if matches!(got, Decision::Held { .. }) { State::Held } else { State::Reconciled });
        }
    }
}
