//! The scheduling rule (SPEC §3b), pure.
//!
//! An account's cut-over date is the last day before one of its bill cycle dates, inside the wave
//! window; that bill cycle date is its first new bill date; its notice date is one calendar month
//! before. The notice is never late: a cycle whose notice date has passed (before `today`) is
//! skipped for a later one in the window, and when none is left the account is not schedulable.

use super::Wave;
use crate::domain::{Period, add_months, clamp_day};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub cutover_date: NaiveDate,
    pub first_new_bill_date: NaiveDate,
    pub notice_date: NaiveDate,
}

/// The earliest schedule for an account billed on `cycle_day` whose notice is not late as of
/// `today`, or why there is none.
pub fn schedule(wave: &Wave, cycle_day: u32, today: NaiveDate) -> Result<Schedule, String> {
    let (Some(start), Some(end)) = (wave.start, wave.end()) else {
        return Err(format!("wave `{}` has no start date yet", wave.id));
    };
    let mut period = Period::of(start);
    let mut late = None;
    loop {
        let bill = clamp_day(period, cycle_day);
        let cutover = bill.pred_opt().expect("date in range");
        if cutover > end {
            break;
        }
        if cutover >= start {
            // None only at the very start of the calendar: no notice date, so not schedulable.
            let Some(notice) = add_months(bill, -1) else { break };
            if notice >= today {
                return Ok(Schedule { cutover_date: cutover, first_new_bill_date: bill, notice_date: notice });
            }
            // The last cycle's notice is the one that was missed by the least: the one to name.
            late = Some((bill, notice));
        }
        period = period.next();
    }
    Err(match late {
        Some((bill, n)) => format!(
            "not schedulable: every bill cycle in the window {start}..{end} needs its notice a month ahead, \
             and the last one (a first new bill on {bill}) needed it on or before {n}, which has passed \
             (today is {today})"
        ),
        None => format!("not schedulable: no bill cycle on day {cycle_day} falls inside the window {start}..{end}"),
    })
}
