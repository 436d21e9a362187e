//! Calendar arithmetic for bill periods (SPEC §4).

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A billing month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    pub fn new(year: i32, month: u32) -> Option<Period> {
        (1..=12).contains(&month).then_some(Period { year, month })
    }

    /// The period a date falls in (calendar month).
    pub fn of(date: NaiveDate) -> Period {
        Period { year: date.year(), month: date.month() }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("month is 1..=12")
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period { year: self.year + 1, month: 1 }
        } else {
            Period { year: self.year, month: self.month + 1 }
        }
    }

    pub fn prev(self) -> Period {
        if self.month == 1 {
            Period { year: self.year - 1, month: 12 }
        } else {
            Period { year: self.year, month: self.month - 1 }
        }
    }

    pub fn days_in_month(self) -> u32 {
        let next = self.next().first_day();
        (next - self.first_day()).num_days() as u32
    }

    /// The bill period (for an account billed on `cycle_day`) whose service days include `date`.
    pub fn billing(date: NaiveDate, cycle_day: u32) -> BillPeriod {
        let p = Period::of(date);
        if date >= clamp_day(p, cycle_day) { p.bill_period(cycle_day) } else { p.prev().bill_period(cycle_day) }
    }

    /// The service days the bill for this period covers, for an account billed on `cycle_day`.
    pub fn bill_period(self, cycle_day: u32) -> BillPeriod {
        let start = clamp_day(self, cycle_day);
        let end = clamp_day(self.next(), cycle_day).pred_opt().expect("date in range");
        BillPeriod { period: self, start, end }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a period (expected YYYY-MM)");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        Period::new(year, month).ok_or_else(bad)
    }
}

impl TryFrom<String> for Period {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

/// A date written exactly as `YYYY-MM-DD` (four-digit year), as wave files, the legacy intake
/// and the command line take it; why not, in words that follow the quoted text: chrono's
/// `%Y-%m-%d` alone takes `17-12-01` as the year 17 and `2017-1-5` too. Read straight from its
/// digits: every legacy row's dates come through here, and every stored record's when a stage
/// loads it (`extract::date_cell`), where chrono's format-string parser showed in the profile
/// (issue 11).
pub fn iso_date(s: &str) -> Result<NaiveDate, &'static str> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let shape = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| Some((i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)))
        .flatten();
    let (y, m, d) = shape.ok_or("is not a date (write it as YYYY-MM-DD)")?;
    NaiveDate::from_ymd_opt(y, m, d).ok_or("is no day of the calendar (YYYY-MM-DD: that month has no such day)")
}

/// Day `day` of `period`'s month, clamped to the month's last day (cycle day 31 in February is
/// the 28th or 29th).
pub fn clamp_day(period: Period, day: u32) -> NaiveDate {
    let day = day.clamp(1, period.days_in_month());
    NaiveDate::from_ymd_opt(period.year, period.month, day).expect("clamped day is valid")
}

/// `date` plus `n` calendar months (negative goes back), clamped to the target month's end;
/// `None` past the calendar's range.
pub fn add_months(date: NaiveDate, n: i32) -> Option<NaiveDate> {
    if n >= 0 {
        date.checked_add_months(Months::new(n.unsigned_abs()))
    } else {
        date.checked_sub_months(Months::new(n.unsigned_abs()))
    }
}

/// The inclusive span of service days one bill covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillPeriod {
    pub period: Period,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl BillPeriod {
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.end
    }

    /// The part of `[from, to]` (inclusive, `to` open-ended when `None`) inside this period.
    pub fn overlap(&self, from: NaiveDate, to: Option<NaiveDate>) -> Option<(NaiveDate, NaiveDate)> {
        let s = from.max(self.start);
        let e = to.map_or(self.end, |t| t.min(self.end));
        (s <= e).then_some((s, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_date_is_read_only_as_yyyy_mm_dd() {
        let shape = Err("is not a date (write it as YYYY-MM-DD)");
        let no_day = Err("is no day of the calendar (YYYY-MM-DD: that month has no such day)");
        let table = [
            ("2017-06-05", Ok(d("2017-06-05"))),
            ("2016-02-29", Ok(d("2016-02-29"))),
            // chrono's `%Y-%m-%d` alone reads these as the years 17 and 18, or a one-digit month.
            ("17-12-01", shape),
            ("18-01-01", shape),
            ("2017-1-5", shape),
            ("2017/06/05", shape),
            ("+2017-06-05", shape),
            (" 2017-06-05", shape),
            ("", shape),
            ("2017-02-30", no_day),
            ("2017-13-01", no_day),
        ];
        for (text, want) in table {
            assert_eq!(iso_date(text), want, "{text:?}");
        }
    }

    #[test]
    fn bill_periods_follow_the_cycle_day() {
        // (period, cycle day, start, end)
        let table = [
            ("2017-02", 1, "2017-02-01", "2017-02-28"),
            ("2016-02", 1, "2016-02-01", "2016-02-29"),
            ("2017-01", 15, "2017-01-15", "2017-02-14"),
            ("2017-01", 31, "2017-01-31", "2017-02-27"),
            ("2017-02", 31, "2017-02-28", "2017-03-30"),
            ("2017-12", 5, "2017-12-05", "2018-01-04"),
        ];
        for (p, day, start, end) in table {
            let bp = p.parse::<Period>().unwrap().bill_period(day);
            assert_eq!((bp.start, bp.end), (d(start), d(end)), "{p} day {day}");
        }
    }

    #[test]
    fn periods_parse_strictly() {
        assert_eq!("2017-06".parse::<Period>().unwrap().to_string(), "2017-06");
        for bad in ["2017-13", "2017-6", "17-06", "2017/06", ""] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }
}
