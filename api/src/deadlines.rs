//! Legal deadlines of data-subject requests, counted in business days (weekends and the tenant's public holidays
//! skipped) or in calendar days, in the tenant's time zone.
//!
//! A tenant has a country (an EU/EEA member state, the UK, Switzerland or the US), optionally the subdivision whose
//! holidays also apply (a German Land, a Swiss canton, a US state…), and an IANA time zone. The holiday calendars are
//! data files shipped with the server (`api/data/holidays/<country>.json`), generated from the maintained `holidays`
//! package by the `generate.py` beside them. A deadline that would fall outside a calendar's years is refused rather
//! than guessed, and the daily sweep warns privacy officers a year before the calendars end ([`running_out`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde::Deserialize;

use crate::error::AppError;

pub use steward_entities::dsr_request::ClockBasis;

/// One jurisdiction's public holidays (a country, or one of its subdivisions) over the years it covers.
#[derive(Debug)]
pub struct Calendar {
    pub country: String,
    pub subdivision: Option<String>,
    /// The country's name.
    pub name: String,
    /// The country's default time zone, for a tenant created without one.
    pub default_time_zone: String,
    /// Where the dates come from (the package and its version).
    pub source: String,
    pub from: NaiveDate,
    pub until: NaiveDate,
    holidays: BTreeSet<NaiveDate>,
}

#[derive(Deserialize)]
struct CalendarFile {
    country: String,
    name: String,
    time_zone: String,
    source: String,
    from: NaiveDate,
    until: NaiveDate,
    holidays: Vec<Holiday>,
    subdivisions: BTreeMap<String, SubdivisionFile>,
}

#[derive(Deserialize)]
struct SubdivisionFile {
    add: Vec<Holiday>,
    remove: Vec<NaiveDate>,
}

#[derive(Deserialize)]
struct Holiday {
    date: NaiveDate,
}

const SHIPPED: [&str; 33] = [
    include_str!("../data/holidays/at.json"),
    include_str!("../data/holidays/be.json"),
    include_str!("../data/holidays/bg.json"),
    include_str!("../data/holidays/ch.json"),
    include_str!("../data/holidays/cy.json"),
    include_str!("../data/holidays/cz.json"),
    include_str!("../data/holidays/de.json"),
    include_str!("../data/holidays/dk.json"),
    include_str!("../data/holidays/ee.json"),
    include_str!("../data/holidays/es.json"),
    include_str!("../data/holidays/fi.json"),
    include_str!("../data/holidays/fr.json"),
    include_str!("../data/holidays/gb.json"),
    include_str!("../data/holidays/gr.json"),
    include_str!("../data/holidays/hr.json"),
    include_str!("../data/holidays/hu.json"),
    include_str!("../data/holidays/ie.json"),
    include_str!("../data/holidays/is.json"),
    include_str!("../data/holidays/it.json"),
    include_str!("../data/holidays/li.json"),
    include_str!("../data/holidays/lt.json"),
    include_str!("../data/holidays/lu.json"),
    include_str!("../data/holidays/lv.json"),
    include_str!("../data/holidays/mt.json"),
    include_str!("../data/holidays/nl.json"),
    include_str!("../data/holidays/no.json"),
    include_str!("../data/holidays/pl.json"),
    include_str!("../data/holidays/pt.json"),
    include_str!("../data/holidays/ro.json"),
    include_str!("../data/holidays/se.json"),
    include_str!("../data/holidays/si.json"),
    include_str!("../data/holidays/sk.json"),
    include_str!("../data/holidays/us.json"),
];

/// A country's calendar and its subdivisions'.
struct Country {
    national: Calendar,
    subdivisions: BTreeMap<String, Calendar>,
}

fn shipped() -> &'static BTreeMap<String, Country> {
    static CALENDARS: OnceLock<BTreeMap<String, Country>> = OnceLock::new();
    CALENDARS.get_or_init(|| {
        SHIPPED
            .iter()
            .map(|text| {
                // The files are compiled in and covered by tests; a malformed one is a build defect.
                let file: CalendarFile =
                    serde_json::from_str(text).expect("shipped holiday calendar is valid JSON");
                let national: BTreeSet<NaiveDate> = file.holidays.iter().map(|h| h.date).collect();
                let calendar = |subdivision: Option<String>, holidays| Calendar {
                    country: file.country.clone(),
                    subdivision,
                    name: file.name.clone(),
                    default_time_zone: file.time_zone.clone(),
                    source: file.source.clone(),
                    from: file.from,
                    until: file.until,
                    holidays,
                };
                let subdivisions = file
                    .subdivisions
                    .iter()
                    .map(|(code, sub)| {
                        let mut days = national.clone();
                        days.extend(sub.add.iter().map(|h| h.date));
                        for day in &sub.remove {
                            days.remove(day);
                        }
                        (code.clone(), calendar(Some(code.clone()), days))
                    })
                    .collect();
                let country = Country {
                    national: calendar(None, national),
                    subdivisions,
                };
                (file.country, country)
            })
            .collect()
    })
}

/// The calendar of a country (ISO 3166-1 alpha-2) or of one of its subdivisions, or an error naming what is known.
pub fn calendar(country: &str, subdivision: Option<&str>) -> Result<&'static Calendar, AppError> {
    let Some(c) = shipped().get(country) else {
        let known: Vec<&str> = shipped().keys().map(String::as_str).collect();
        return Err(AppError::BadInput(format!(
            "no holiday calendar for country `{country}`: choose one of {}",
            known.join(", ")
        )));
    };
    match subdivision {
        None => Ok(&c.national),
        Some(code) => c.subdivisions.get(code).ok_or_else(|| {
            let known: Vec<&str> = c.subdivisions.keys().map(String::as_str).collect();
            AppError::BadInput(if known.is_empty() {
                format!("{country} has one calendar for the whole country: leave `subdivision` empty")
            } else {
                format!(
                    "`{code}` is not a subdivision of {country} with its own holidays: choose one of {}",
                    known.join(", ")
                )
            })
        }),
    }
}

/// Every country's calendar (without subdivisions), by code.
pub fn countries() -> impl Iterator<Item = &'static Calendar> {
    shipped().values().map(|c| &c.national)
}

/// The subdivisions of a country that have their own calendar.
pub fn subdivisions(country: &str) -> Vec<&'static str> {
    shipped()
        .get(country)
        .map(|c| c.subdivisions.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// How far ahead of a calendar's end privacy officers are warned: the longest deadline (three months, extended)
/// must still fit, with months left to ship new calendars.
pub const WARN_DAYS_BEFORE_END: i64 = 365;

/// The earliest day the shipped calendars stop covering, when that is less than [`WARN_DAYS_BEFORE_END`] after
/// `today`: deadlines from then on would be refused.
pub fn running_out(today: NaiveDate) -> Option<NaiveDate> {
    let end = countries().map(|c| c.until).min()?;
    (end - today < Duration::days(WARN_DAYS_BEFORE_END)).then_some(end)
}

/// A tenant's clock: its calendar and the time zone its days are counted in.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub calendar: &'static Calendar,
    pub zone: chrono_tz::Tz,
}

impl Clock {
    /// The clock of a tenant in `country` (and `subdivision`), counting days in `time_zone`.
    pub fn new(
        country: &str,
        subdivision: Option<&str>,
        time_zone: &str,
    ) -> Result<Clock, AppError> {
        Ok(Clock {
            calendar: calendar(country, subdivision)?,
            zone: zone(time_zone)?,
        })
    }

    /// The tenant's calendar day at `at`.
    pub fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    /// The first instant of the tenant's `day` (where midnight falls in a daylight-saving gap, the first instant
    /// after it).
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        use chrono::{NaiveTime, TimeZone};
        let midnight = day.and_time(NaiveTime::MIN);
        match self.zone.from_local_datetime(&midnight).earliest() {
            Some(t) => t.with_timezone(&Utc),
            None => self
                .zone
                .from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
                .map_or_else(
                    || Utc.from_utc_datetime(&midnight),
                    |t| t.with_timezone(&Utc),
                ),
        }
    }

    /// The last second of the tenant's `day`: a request due that day is overdue after it.
    pub fn end_of(&self, day: NaiveDate) -> DateTime<Utc> {
        self.start_of(day + Duration::days(1)) - Duration::seconds(1)
    }
}

/// Parses an IANA time zone name (e.g. `Europe/Berlin`, `America/New_York`, `UTC`).
pub fn zone(name: &str) -> Result<chrono_tz::Tz, AppError> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        AppError::BadInput(format!(
            "`{}` is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)",
            name.trim().chars().take(60).collect::<String>()
        ))
    })
}

impl Calendar {
    /// `DE`, or `DE-BY` for a subdivision.
    pub fn label(&self) -> String {
        match &self.subdivision {
            Some(s) => format!("{}-{s}", self.country),
            None => self.country.clone(),
        }
    }

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
                self.label(),
                self.from,
                self.until
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
                // Overdue when paused (decided by the dates: after a due Friday, a pause on Saturday counts no
                // business day between them): it stays so.
                if paused_on > due {
                    return Ok(due);
                }
                let left = self.business_days_between(paused_on, due);
                if left == 0 {
                    // Paused on its due day, in time: due on the first business day it runs again, as the calendar
                    // basis gives the day it resumes (not overdue the moment it resumes).
                    return match self.is_business_day(resumed_on) {
                        true => Ok(resumed_on),
                        false => self.add_business_days(resumed_on, 1),
                    };
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
        ("DE", "2026-06-01", 30, "2026-07-13"),
        // Juneteenth (Friday 19 June 2026), a month end, and Independence Day observed on Friday 3 July 2026
        // (4 July is a Saturday).
        ("US", "2026-06-15", 30, "2026-07-29"),
        // Across Easter in Germany: Good Friday 3 April and Easter Monday 6 April 2026 are skipped.
        ("DE", "2026-03-20", 30, "2026-05-06"),
        // Across a year end: Christmas, St Stephen's and New Year's Day (eu), 2026 into 2027.
        ("DE", "2026-12-01", 30, "2027-01-14"),
        // US year end 2027: Christmas observed Fri 24 Dec, New Year 2028 observed Fri 31 Dec 2027, MLK 17 Jan 2028.
        ("US", "2027-12-01", 30, "2028-01-14"),
        // Received on a Saturday: counting starts with the Monday.
        ("DE", "2026-11-28", 1, "2026-11-30"),
        // Received on a Friday before a Monday holiday (Whit Monday 25 May 2026): next business day is Tuesday.
        ("DE", "2026-05-22", 1, "2026-05-26"),
        // Thanksgiving (Thursday 26 Nov 2026) is skipped.
        ("US", "2026-11-25", 1, "2026-11-27"),
        // Ascension Day (Thursday 14 May 2026) is skipped.
        ("DE", "2026-05-13", 2, "2026-05-18"),
        // Leap year: 28 Feb 2028 is a Monday, 29 Feb exists.
        ("DE", "2028-02-25", 2, "2028-02-29"),
        ("US", "2025-01-01", 0, "2025-01-01"),
    ];

    #[test]
    fn business_day_table() {
        for (region, received, n, due) in TABLE {
            let cal = calendar(region, None).unwrap();
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
        for region in ["DE", "US"] {
            let cal = calendar(region, None).unwrap();
            assert!(cal.from <= d("2025-01-01") && cal.until >= d("2028-12-31"));
        }
        let eu = calendar("DE", None).unwrap();
        for day in [
            "2025-04-18",
            "2025-04-21",
            "2027-03-26",
            "2028-04-14",
            "2028-10-03",
        ] {
            assert!(eu.is_holiday(d(day)), "eu {day}");
        }
        let us = calendar("US", None).unwrap();
        for day in [
            "2025-11-27",
            "2026-07-03",
            "2027-06-18",
            "2027-12-31",
            "2028-09-04",
        ] {
            assert!(us.is_holiday(d(day)), "us {day}");
        }
        // 4 July 2026 is a Saturday: observed on Friday 3 July, and neither is a business day.
        assert!(!us.is_business_day(d("2026-07-04")) && !us.is_business_day(d("2026-07-03")));
        assert!(calendar("XX", None).is_err());
    }

    /// Every EU/EEA member state, the UK, Switzerland and the US, through 2035; subdivisions add their own days.
    #[test]
    fn every_jurisdiction_through_2035() {
        let expected = "AT BE BG CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE \
                        SI SK US";
        let shipped: Vec<&str> = countries().map(|c| c.country.as_str()).collect();
        assert_eq!(shipped, expected.split_whitespace().collect::<Vec<_>>());
        for c in countries() {
            assert!(
                c.from <= d("2024-01-01") && c.until >= d("2035-12-31"),
                "{}",
                c.country
            );
            assert!(zone(&c.default_time_zone).is_ok(), "{}", c.country);
            assert!(c.source.contains("holidays"), "{}", c.country);
            // New Year's Day is a public holiday everywhere shipped.
            assert!(c.is_holiday(d("2035-01-01")), "{}", c.country);
        }
        // Epiphany (6 January) in Bavaria, not in Germany as a whole; Good Friday in Zurich, not in all of
        // Switzerland.
        let by = calendar("DE", Some("BY")).unwrap();
        assert!(by.is_holiday(d("2026-01-06")));
        assert!(!calendar("DE", None).unwrap().is_holiday(d("2026-01-06")));
        assert!(
            calendar("CH", Some("ZH"))
                .unwrap()
                .is_holiday(d("2026-04-03"))
        );
        assert!(!calendar("CH", None).unwrap().is_holiday(d("2026-04-03")));
        // Easter Monday: England, not Scotland; St Andrew's Day: Scotland.
        assert!(
            calendar("GB", Some("ENG"))
                .unwrap()
                .is_holiday(d("2026-04-06"))
        );
        assert!(
            !calendar("GB", Some("SCT"))
                .unwrap()
                .is_holiday(d("2026-04-06"))
        );
        assert!(
            calendar("GB", Some("SCT"))
                .unwrap()
                .is_holiday(d("2026-11-30"))
        );
        // A subdivision of another country, or of none, is refused with the choices.
        let err = calendar("DE", Some("ZH")).unwrap_err().to_string();
        assert!(err.contains("BY"), "{err}");
        assert!(calendar("IE", Some("X")).is_err());
        assert!(subdivisions("US").contains(&"CA"));
    }

    /// A day is the tenant's: 23:30 UTC on 31 December is already 1 January in Berlin, still 31 December in New York.
    #[test]
    fn days_are_counted_in_the_tenants_time_zone() {
        let at: DateTime<Utc> = "2026-12-31T23:30:00Z".parse().unwrap();
        assert_eq!(
            Clock::new("DE", None, "Europe/Berlin").unwrap().day(at),
            d("2027-01-01")
        );
        assert_eq!(
            Clock::new("US", Some("NY"), "America/New_York")
                .unwrap()
                .day(at),
            d("2026-12-31")
        );
        assert_eq!(
            Clock::new("DE", None, "UTC").unwrap().day(at),
            d("2026-12-31")
        );
        assert!(Clock::new("DE", None, "Mars/Olympus").is_err());
        // A request due on 31 December in Berlin is overdue from midnight Berlin time (23:00 UTC in winter).
        let berlin = Clock::new("DE", None, "Europe/Berlin").unwrap();
        assert_eq!(
            berlin.end_of(d("2026-12-31")).to_rfc3339(),
            "2026-12-31T22:59:59+00:00"
        );
        assert_eq!(
            berlin.start_of(d("2026-07-01")).to_rfc3339(),
            "2026-06-30T22:00:00+00:00"
        );
    }

    /// Privacy officers are warned a year before the calendars end, not before.
    #[test]
    fn a_warning_well_before_the_calendars_end() {
        let end = countries().map(|c| c.until).min().unwrap();
        assert_eq!(running_out(end - Duration::days(366)), None);
        assert_eq!(running_out(end - Duration::days(364)), Some(end));
        assert_eq!(running_out(end + Duration::days(3)), Some(end));
        assert_eq!(running_out(d("2026-12-04")), None);
    }

    #[test]
    fn calendar_days_and_days_left() {
        let eu = calendar("DE", None).unwrap();
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
        let eu = calendar("DE", None).unwrap();
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
        // Paused on its due day (Wed 13 Jan 2027), in time: due the day it resumes (Mon 18 Jan), or the next business
        // day after a weekend; paused after its due day, it stays overdue.
        for (resumed, due) in [("2027-01-18", "2027-01-18"), ("2027-01-16", "2027-01-18")] {
            assert_eq!(
                eu.resume(
                    ClockBasis::Business,
                    d("2027-01-13"),
                    d("2027-01-13"),
                    d(resumed)
                )
                .unwrap(),
                d(due),
                "resumed {resumed}"
            );
        }
        assert_eq!(
            eu.resume(
                ClockBasis::Business,
                d("2027-01-13"),
                d("2027-01-14"),
                d("2027-01-18")
            )
            .unwrap(),
            d("2027-01-13")
        );
        // Paused the Saturday after a due Friday (no business day between them), it is still overdue.
        assert_eq!(
            eu.resume(
                ClockBasis::Business,
                d("2027-01-15"),
                d("2027-01-16"),
                d("2027-01-18")
            )
            .unwrap(),
            d("2027-01-15")
        );
    }

    #[test]
    fn outside_the_calendar_is_refused() {
        let eu = calendar("DE", None).unwrap();
        assert!(eu.add_business_days(d("2035-12-20"), 30).is_err());
        assert!(eu.add_business_days(d("2030-12-20"), 30).is_ok());
        assert!(eu.add_business_days(d("2020-01-01"), 1).is_err());
    }
}
