#!/usr/bin/env python3
"""Writes the public-holiday calendars that request deadlines count business days against.

Run from this folder: `python3 generate.py`. The JSON files are what the server ships (compiled in); this script is
how they were made, so a reviewer can check the rules instead of 60 dates. Rules:

- eu: Germany, nationwide public holidays (Steward's EU region is hosted and staffed there): New Year's Day, Good
  Friday, Easter Monday, Labour Day, Ascension Day, Whit Monday, German Unity Day, Christmas Day, St Stephen's Day.
  German holidays that fall on a weekend are not moved.
- us: the eleven US federal holidays (5 U.S.C. 6103), with the federal "observed" rule: a holiday on a Saturday is
  observed the Friday before, on a Sunday the Monday after.
"""
import datetime as dt
import json

YEARS = range(2024, 2031)


def easter(year):
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def nth_weekday(year, month, weekday, n):
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def last_weekday(year, month, weekday):
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def observed(day):
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


def eu(year):
    e = easter(year)
    return [
        (dt.date(year, 1, 1), "New Year's Day"),
        (e - dt.timedelta(days=2), "Good Friday"),
        (e + dt.timedelta(days=1), "Easter Monday"),
        (dt.date(year, 5, 1), "Labour Day"),
        (e + dt.timedelta(days=39), "Ascension Day"),
        (e + dt.timedelta(days=50), "Whit Monday"),
        (dt.date(year, 10, 3), "German Unity Day"),
        (dt.date(year, 12, 25), "Christmas Day"),
        (dt.date(year, 12, 26), "St Stephen's Day"),
    ]


def us(year):
    mon, thu = 0, 3
    return [
        (observed(dt.date(year, 1, 1)), "New Year's Day"),
        (nth_weekday(year, 1, mon, 3), "Birthday of Martin Luther King, Jr."),
        (nth_weekday(year, 2, mon, 3), "Washington's Birthday"),
        (last_weekday(year, 5, mon), "Memorial Day"),
        (observed(dt.date(year, 6, 19)), "Juneteenth National Independence Day"),
        (observed(dt.date(year, 7, 4)), "Independence Day"),
        (nth_weekday(year, 9, mon, 1), "Labor Day"),
        (nth_weekday(year, 10, mon, 2), "Columbus Day"),
        (observed(dt.date(year, 11, 11)), "Veterans Day"),
        (nth_weekday(year, 11, thu, 4), "Thanksgiving Day"),
        (observed(dt.date(year, 12, 25)), "Christmas Day"),
    ]


CALENDARS = {
    "eu": ("Germany, nationwide public holidays", eu),
    "us": ("United States, federal holidays (observed dates)", us),
}

for region, (jurisdiction, rule) in CALENDARS.items():
    days = sorted(d for year in YEARS for d in rule(year))
    doc = {
        "region": region,
        "jurisdiction": jurisdiction,
        "from": f"{YEARS[0]}-01-01",
        "until": f"{YEARS[-1]}-12-31",
        "holidays": [{"date": d.isoformat(), "name": n} for d, n in days],
    }
    with open(f"{region}.json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
