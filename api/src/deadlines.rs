//! Legal deadlines of data-subject requests, counted in business days (weekends and the region's public holidays
//! skipped) or in calendar days.
//!
//! The holiday calendars are data files shipped with the server (`api/data/holidays/<region>.json`, made by the
//! `generate.py` beside them from stated rules). A deadline that would fall outside a calendar's years is refused
//! rather than guessed.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::Deserialize;

use crate::error::AppError;

pub use steward_entities::dsr_request::ClockBasis;

/// One region's public holidays over the years it covers.
#[derive(Debug)]
pub struct Calendar {
    pub region: String,
    pub jurisdiction: String,
    pub from: NaiveDate,
    pub until: NaiveDate,
    holidays: BTreeSet<NaiveDate>,
}

#[derive(Deserialize)]
struct CalendarFile {
    region: String,
    jurisdiction: String,
    from: NaiveDate,
    until: NaiveDate,
    holidays: Vec<Holiday>,
}

#[derive(Deserialize)]
struct Holiday {
    date: NaiveDate,
}

const SHIPPED: [&str; 2] = [
    include_str!("../data/holidays/eu.json"),
    include_str!("../data/holidays/us.json"),
];

fn shipped() -> &'static HashMap<String, Calendar> {
    static CALENDARS: OnceLock<HashMap<String, Calendar>> = OnceLock::new();
    CALENDARS.get_or_init(|| {
        SHIPPED
            .iter()
            .map(|text| {
                // The files are compiled in and covered by tests; a malformed one is a build defect.
                let file: CalendarFile =
                    serde_json::from_str(text).expect("shipped holiday calendar is valid JSON");
                let calendar = Calendar {
                    region: file.region.clone(),
                    jurisdiction: file.jurisdiction,
                    from: file.from,
                    until: file.until,
                    holidays: file.holidays.into_iter().map(|h| h.date).collect(),
                };
                (file.region, calendar)
            })
            .collect()
    })
}

/// The calendar of a region, or an error naming the regions that have one.
pub fn calendar(region: &str) -> Result<&'static Calendar, AppError> {
    shipped().get(region).ok_or_else(|| {
        let mut known: Vec<&str> = shipped().keys().map(String::as_str).collect();
        known.sort();
        AppError::internal(anyhow::anyhow!(
            "region `{region}` has no holiday calendar (shipped: {})",
            known.join(", ")
        ))
    })
}

/// Regions without a calendar, so the server can refuse to start rather than miscount deadlines.
pub fn regions_without_calendar<'a>(regions: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    regions
        .into_iter()
        .filter(|r| !shipped().contains_key(*r))
        .collect()
}

impl Calendar {
    pub fn is_holiday(&self, day: NaiveDate) -> bool {
        self.holidays.contains(&day)
    }

    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.is_holiday(day)
    }

    fn covers(&self, day: NaiveDate) -> Result<(), AppError> {
        if day < self.from || day > self.until {
            return Err(AppError::BadInput(format!(
                "the {} holiday calendar covers {} to {}; {day} is outside it",
                self.region, self.from, self.until
            )));
        }
        Ok(())
    }

    /// The `n`th business day after `start` (`start` itself does not count; `n = 0` gives `start`).
    pub fn add_business_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate, AppError> {
        self.covers(start)?;
        let mut day = start;
        let mut left = n;
        while left > 0 {
            day += Duration::days(1);
            self.covers(day)?;
            if self.is_business_day(day) {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// Business days in `(from, to]`; negative when `to` is before `from`.
    pub fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        let (lo, hi, sign) = if to >= from {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut count = 0;
        let mut day = lo;
        while day < hi {
            day += Duration::days(1);
            if self.is_business_day(day) {
                count += 1;
            }
        }
        sign * count
    }

    /// `n` days of `basis` after `start`.
    pub fn add(&self, basis: ClockBasis, start: NaiveDate, n: u32) -> Result<NaiveDate, AppError> {
        match basis {
            ClockBasis::Business => self.add_business_days(start, n),
            ClockBasis::Calendar => Ok(start + Duration::days(i64::from(n))),
        }
    }

    /// Days of `basis` from `today` until `due` (0 on the due day, negative once past it).
    pub fn days_left(&self, basis: ClockBasis, today: NaiveDate, due: NaiveDate) -> i64 {
        match basis {
            ClockBasis::Business => self.business_days_between(today, due),
            ClockBasis::Calendar => (due - today).num_days(),
        }
    }

    /// Moves a deadline after a pause from `paused_on` to `resumed_on`: the days that were left when the clock
    /// stopped are counted again from the day it restarted.
    pub fn resume(
        &self,
        basis: ClockBasis,
        due: NaiveDate,
        paused_on: NaiveDate,
        resumed_on: NaiveDate,
    ) -> Result<NaiveDate, AppError> {
        match basis {
            ClockBasis::Calendar => Ok(due + (resumed_on - paused_on)),
            ClockBasis::Business => {
                let left = self.business_days_between(paused_on, due);
                if left <= 0 {
                    // Already due or overdue when paused: it stays so.
                    return Ok(due);
                }
                self.add_business_days(resumed_on, left as u32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Hand-checked against a printed calendar: (region, received, business days, due).
    const TABLE: &[(&str, &str, u32, &str)] = &[
        // A plain month: 30 business days from a Monday, no holiday in between (eu), six weeks later.
        ("eu", "2026-06-01", 30, "2026-07-13"),
        // Juneteenth (Friday 19 June 2026), a month end, and Independence Day observed on Friday 3 July 2026
        // (4 July is a Saturday).
        ("us", "2026-06-15", 30, "2026-07-29"),
        // Across Easter in Germany: Good Friday 3 April and Easter Monday 6 April 2026 are skipped.
        ("eu", "2026-03-20", 30, "2026-05-06"),
        // Across a year end: Christmas, St Stephen's and New Year's Day (eu), 2026 into 2027.
        ("eu", "2026-12-01", 30, "2027-01-14"),
        // US year end 2027: Christmas observed Fri 24 Dec, New Year 2028 observed Fri 31 Dec 2027, MLK 17 Jan 2028.
        ("us", "2027-12-01", 30, "2028-01-14"),
        // Received on a Saturday: counting starts with the Monday.
        ("eu", "2026-11-28", 1, "2026-11-30"),
        // Received on a Friday before a Monday holiday (Whit Monday 25 May 2026): next business day is Tuesday.
        ("eu", "2026-05-22", 1, "2026-05-26"),
        // Thanksgiving (Thursday 26 Nov 2026) is skipped.
        ("us", "2026-11-25", 1, "2026-11-27"),
        // Ascension Day (Thursday 14 May 2026) is skipped.
        ("eu", "2026-05-13", 2, "2026-05-18"),
        // Leap year: 28 Feb 2028 is a Monday, 29 Feb exists.
        ("eu", "2028-02-25", 2, "2028-02-29"),
        ("us", "2025-01-01", 0, "2025-01-01"),
    ];

    #[test]
    fn business_day_table() {
        for (region, received, n, due) in TABLE {
            let cal = calendar(region).unwrap();
            assert_eq!(
                cal.add_business_days(d(received), *n).unwrap(),
                d(due),
                "{region}: {n} business days after {received}"
            );
            assert_eq!(
                cal.business_days_between(d(received), d(due)),
                i64::from(*n),
                "{region}: business days in ({received}, {due}]"
            );
        }
    }

    #[test]
    fn calendars_cover_2025_to_2028_with_known_holidays() {
        for region in ["eu", "us"] {
            let cal = calendar(region).unwrap();
            assert!(cal.from <= d("2025-01-01") && cal.until >= d("2028-12-31"));
        }
        let eu = calendar("eu").unwrap();
        for day in [
            "2025-04-18",
            "2025-04-21",
            "2027-03-26",
            "2028-04-14",
            "2028-10-03",
        ] {
            assert!(eu.is_holiday(d(day)), "eu {day}");
        }
        let us = calendar("us").unwrap();
        for day in [
            "2025-11-27",
            "2026-07-03",
            "2027-06-18",
            "2027-12-31",
            "2028-09-04",
        ] {
            assert!(us.is_holiday(d(day)), "us {day}");
        }
        assert!(
            !us.is_holiday(d("2026-07-04")),
            "observed on the Friday instead"
        );
        assert!(calendar("mars").is_err());
        assert_eq!(regions_without_calendar(["eu", "apac"]), vec!["apac"]);
    }

    #[test]
    fn calendar_days_and_days_left() {
        let eu = calendar("eu").unwrap();
        assert_eq!(
            eu.add(ClockBasis::Calendar, d("2026-01-31"), 30).unwrap(),
            d("2026-03-02")
        );
        assert_eq!(
            eu.add(ClockBasis::Calendar, d("2028-02-01"), 30).unwrap(),
            d("2028-03-02")
        );
        assert_eq!(
            eu.days_left(ClockBasis::Calendar, d("2026-03-05"), d("2026-03-02")),
            -3
        );
        // Friday to the next Tuesday: Monday and Tuesday.
        assert_eq!(
            eu.days_left(ClockBasis::Business, d("2026-11-27"), d("2026-12-01")),
            2
        );
        assert_eq!(
            eu.days_left(ClockBasis::Business, d("2026-12-01"), d("2026-11-27")),
            -2
        );
    }

    #[test]
    fn pauses_stop_the_clock() {
        let eu = calendar("eu").unwrap();
        // Due Wed 13 Jan 2027; paused Mon 4 Jan with 7 business days left; resumed Mon 11 Jan: 7 more from there.
        let due = eu
            .resume(
                ClockBasis::Business,
                d("2027-01-13"),
                d("2027-01-04"),
                d("2027-01-11"),
            )
            .unwrap();
        assert_eq!(due, d("2027-01-20"));
        // Calendar basis: the pause's length is added.
        assert_eq!(
            eu.resume(
                ClockBasis::Calendar,
                d("2026-03-02"),
                d("2026-02-10"),
                d("2026-02-20")
            )
            .unwrap(),
            d("2026-03-12")
        );
        // A pause across Easter does not lose days to the holidays.
        let due = eu
            .resume(
                ClockBasis::Business,
                d("2026-04-10"),
                d("2026-03-31"),
                d("2026-04-07"),
            )
            .unwrap();
        assert_eq!(
            eu.business_days_between(d("2026-03-31"), d("2026-04-10")),
            6
        );
        assert_eq!(due, d("2026-04-15"));
    }

    #[test]
    fn outside_the_calendar_is_refused() {
        let eu = calendar("eu").unwrap();
        assert!(eu.add_business_days(d("2030-12-20"), 30).is_err());
        assert!(eu.add_business_days(d("2020-01-01"), 1).is_err());
    }
}
