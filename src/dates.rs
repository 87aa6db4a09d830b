//! Calendar helpers: report months and day numbers.
//!
//! Dates are kept as `i32` day numbers (days from the common era, as chrono's
//! `num_days_from_ce`), so windows and coverage are plain integer intervals.

use chrono::{Datelike, NaiveDate};
use std::fmt;

/// A day number (chrono's `num_days_from_ce`).
pub type Day = i32;

/// Parse an ISO `YYYY-MM-DD` date (surrounding spaces ignored).
pub fn parse_date(s: &str) -> Option<Day> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        Some(v)
    };
    let d = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    Some(d.num_days_from_ce())
}

/// Day number of a chrono date.
pub fn day_of(d: NaiveDate) -> Day {
    d.num_days_from_ce()
}

/// The chrono date of a day number.
pub fn date_of(day: Day) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).expect("day number in range")
}

/// ISO text of a day number.
pub fn fmt_day(day: Day) -> String {
    date_of(day).format("%Y-%m-%d").to_string()
}

/// A calendar month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Months since year 0 (year * 12 + month - 1).
    idx: i32,
}

impl Month {
    /// The month of `year` and `month` (1–12).
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then_some(Month { idx: year * 12 + month as i32 - 1 })
    }
    /// Parse `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Month> {
        let s = s.trim();
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|c| c.is_ascii_digit()) {
            return None;
        }
        Month::new(y.parse().ok()?, m.parse().ok()?)
    }
    /// The month containing a day.
    pub fn of_day(day: Day) -> Month {
        let d = date_of(day);
        Month::new(d.year(), d.month()).unwrap()
    }
    pub fn year(self) -> i32 {
        self.idx.div_euclid(12)
    }
    pub fn month(self) -> u32 {
        (self.idx.rem_euclid(12) + 1) as u32
    }
    /// The month `n` months later (earlier when negative).
    pub fn plus(self, n: i32) -> Month {
        Month { idx: self.idx + n }
    }
    /// Number of months from `other` to `self`.
    pub fn minus(self, other: Month) -> i32 {
        self.idx - other.idx
    }
    /// First day of the month.
    pub fn first_day(self) -> Day {
        day_of(NaiveDate::from_ymd_opt(self.year(), self.month(), 1).unwrap())
    }
    /// Last day of the month.
    pub fn last_day(self) -> Day {
        self.plus(1).first_day() - 1
    }
    /// The `n` months ending at (and including) `self`, oldest first.
    pub fn window(self, n: u32) -> Vec<Month> {
        (0..n as i32).rev().map(|k| self.plus(-k)).collect()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The first day of the `n`-day window ending at `end` (both included).
pub fn window_start(end: Day, n: u32) -> Day {
    end - n as i32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_dates_and_rejects_others() {
        assert_eq!(parse_date("2024-02-29").map(fmt_day).as_deref(), Some("2024-02-29"));
        assert_eq!(parse_date(" 2024-01-31 ").map(fmt_day).as_deref(), Some("2024-01-31"));
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024/01/31").is_none());
        assert!(parse_date("24-01-31").is_none());
        assert!(parse_date("").is_none());
    }

    #[test]
    fn month_bounds_and_window() {
        let m = Month::parse("2024-02").unwrap();
        assert_eq!(fmt_day(m.first_day()), "2024-02-01");
        assert_eq!(fmt_day(m.last_day()), "2024-02-29");
        let w = Month::parse("2024-01").unwrap().window(3);
        assert_eq!(w.iter().map(|m| m.to_string()).collect::<Vec<_>>(), ["2023-11", "2023-12", "2024-01"]);
        assert!(Month::parse("2024-13").is_none());
        assert!(Month::parse("2024-1").is_none());
    }

    #[test]
    fn spec_window_example_365_days_ending_january_2024() {
        // SPEC §3: m = 2024-01, N = 365: 2023-02-01 to 2024-01-31.
        let end = Month::parse("2024-01").unwrap().last_day();
        assert_eq!(fmt_day(window_start(end, 365)), "2023-02-01");
    }
}
