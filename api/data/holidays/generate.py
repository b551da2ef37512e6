#!/usr/bin/env python3
"""Writes the public-holiday calendars that request deadlines count business days against.

Run from this folder:

    pip install holidays==0.109
    python3 generate.py

The script refuses to run with any other `holidays` version, so that regenerating the files gives the same bytes;
to move to a newer release, change PINNED below (and the line above), regenerate, and review the diff of the JSON.

The JSON files (`<cc>.json`, lowercase ISO 3166-1 code) are what the server ships: they are compiled in, and this
script is how they were made, so a reviewer can check where the dates come from instead of thousands of dates. The
dates are not hand-coded here: they come from the maintained `holidays` package (python-holidays,
https://pypi.org/project/holidays/), default category only (`public`, i.e. statutory public holidays; no bank,
school, optional, half-day or de-facto holidays). Names are in English (the package's default language where that
is English, e.g. en_GB for GB and en_IE for IE, otherwise its en_US translation).

Countries: every EU/EEA member state (AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES
SE IS LI NO), the United Kingdom (GB), Switzerland (CH) and the United States (US), years YEARS (2024-2035).

A calendar ends on its `until`: the server refuses to count a deadline past it, and warns well before that day
comes, so the fix is to extend YEARS and regenerate, long before it matters.

File format (one holiday per line so diffs stay readable):

    {
     "country": "DE", "name": "Germany",
     "time_zone": "Europe/Berlin",              the country's default IANA zone (its capital's; US: New York)
     "source": "python-holidays 0.109 (...), public holidays",
     "from": "2024-01-01", "until": "2035-12-31",
     "holidays": [{"date": ..., "name": ...}, ...],    nationwide list: sorted, one entry per date
     "subdivisions": {"BY": {"add": [{"date": ..., "name": ...}], "remove": ["2024-..."]}, ...}
    }

- `holidays` is the package's list for the country without a subdivision. Two names on one date are joined with
  "; " (e.g. CZ 1 January, RO Pentecost Monday on Children's Day).
- `subdivisions` holds, for each code in the package's `subdivisions` list (aliases and historical codes are left
  out), the dates that subdivision adds to or removes from the nationwide list; "add" and "remove" are always
  present (possibly empty). Every subdivision is listed, so a tenant may name any the package knows, even one whose
  dates equal the nationwide dates (empty lists). Only dates count: a
  subdivision that keeps a nationwide date under another name (US states calling Washington's Birthday
  "Presidents' Day", an Italian patron saint on a nationwide holiday) is not a difference.
- Order of subdivisions is the package's order. Some of its "subdivisions" are cities with their own holidays:
  IT (provinces and some cities), DE "Augsburg", ES "Barcelona", CH "Stadt Zurich"; they are kept as the package
  lists them.
- Dates the package can only estimate are marked "(estimated)" in the name: in these files that is only Eid al-Fitr
  and Eid al-Adha in ES-CE (Ceuta) and ES-ML (Melilla), lunar dates fixed by decree each year.

Per-country choices (where the package's no-subdivision list is not simply "the" national calendar):

- For every country with subdivisions except the US, the package's no-subdivision list is exactly the set of dates
  common to all its subdivisions (checked at run time, the script stops otherwise), so `holidays` is the set that
  holds in the whole country and subdivisions only add. In particular:
  - GB: the UK has no single calendar; without a subdivision the package gives only the bank holidays of all four
    nations (New Year's Day, Good Friday, Early May, Spring, Christmas, Boxing Day, with substitute days). Easter
    Monday and the Summer bank holiday (not in Scotland, or on another date there), 2 January and St Andrew's Day
    (Scotland, plus the one-off 15 June 2026 for the World Cup), St Patrick's Day and Battle of the Boyne (Northern
    Ireland) are in ENG/NIR/SCT/WLS.
  - ES: `holidays` is the national list (fiestas nacionales common to all communities); Holy Thursday, Easter
    Monday, regional days and the "Monday following ..." that replaces a national holiday falling on a Sunday are
    per community (and Barcelona).
  - CH: public holidays are cantonal law (only 1 August is federal); four days are common to all cantons (New
    Year's Day, Ascension Day, National Day, Christmas Day); everything else (Good Friday, Easter Monday, Whit
    Monday, St Stephen's Day, ...) is per canton.
  - DE: the nine nationwide public holidays; Epiphany, Corpus Christi, Reformation Day, etc. are per Land.
  - FR, IT, PT, FI: national list; Alsace-Moselle and overseas departments (FR), patron saints (IT), municipal and
    autonomous-region days (PT), Åland (FI) are subdivisions. AT, BE, NL, NO, PL list subdivisions in the package
    but none differs in the public category: they are listed with empty `add` and `remove`.
- US: `holidays` is the federal list (5 U.S.C. 6103) with the observed dates the package gives ("... (observed)":
  Saturday -> Friday before, Sunday -> Monday after; a 1 January on a Saturday is observed on 31 December of the
  year before). This is not the set common to all states (several states do not keep Columbus Day or Washington's
  Birthday, or observe differently), so US subdivisions (states, DC and territories) both add and remove dates.
  Inauguration Day is not federal-wide in the package: it is in DC, MD and VA. AZ, ID, OH and SD equal the federal
  list by date: they are listed with empty `add` and `remove`.
"""
import datetime as dt
import json
import sys
import zoneinfo

PINNED = "0.109"

try:
    import holidays
except ImportError:
    sys.exit(f"generate.py: the `holidays` package is not installed; run `pip install holidays=={PINNED}`")

if holidays.__version__ != PINNED:
    sys.exit(
        f"generate.py: installed holidays {holidays.__version__}, but the calendars are pinned to {PINNED}.\n"
        f"Run `pip install holidays=={PINNED}` to regenerate the same files, or raise PINNED (here and in the\n"
        f"docstring) deliberately and review the resulting diff."
    )

YEARS = range(2024, 2036)
FROM = dt.date(YEARS[0], 1, 1)
UNTIL = dt.date(YEARS[-1], 12, 31)
SOURCE = f"python-holidays {holidays.__version__} (https://pypi.org/project/holidays/), public holidays"

# ISO code: (English name, default IANA time zone: the capital's zone as listed in tzdata's zone.tab).
COUNTRIES = {
    "AT": ("Austria", "Europe/Vienna"),
    "BE": ("Belgium", "Europe/Brussels"),
    "BG": ("Bulgaria", "Europe/Sofia"),
    "HR": ("Croatia", "Europe/Zagreb"),
    "CY": ("Cyprus", "Asia/Nicosia"),
    "CZ": ("Czechia", "Europe/Prague"),
    "DK": ("Denmark", "Europe/Copenhagen"),
    "EE": ("Estonia", "Europe/Tallinn"),
    "FI": ("Finland", "Europe/Helsinki"),
    "FR": ("France", "Europe/Paris"),
    "DE": ("Germany", "Europe/Berlin"),
    "GR": ("Greece", "Europe/Athens"),
    "HU": ("Hungary", "Europe/Budapest"),
    "IE": ("Ireland", "Europe/Dublin"),
    "IT": ("Italy", "Europe/Rome"),
    "LV": ("Latvia", "Europe/Riga"),
    "LT": ("Lithuania", "Europe/Vilnius"),
    "LU": ("Luxembourg", "Europe/Luxembourg"),
    "MT": ("Malta", "Europe/Malta"),
    "NL": ("Netherlands", "Europe/Amsterdam"),
    "PL": ("Poland", "Europe/Warsaw"),
    "PT": ("Portugal", "Europe/Lisbon"),
    "RO": ("Romania", "Europe/Bucharest"),
    "SK": ("Slovakia", "Europe/Bratislava"),
    "SI": ("Slovenia", "Europe/Ljubljana"),
    "ES": ("Spain", "Europe/Madrid"),
    "SE": ("Sweden", "Europe/Stockholm"),
    "IS": ("Iceland", "Atlantic/Reykjavik"),
    "LI": ("Liechtenstein", "Europe/Vaduz"),
    "NO": ("Norway", "Europe/Oslo"),
    "GB": ("United Kingdom", "Europe/London"),
    "CH": ("Switzerland", "Europe/Zurich"),
    "US": ("United States", "America/New_York"),
}

# Countries whose no-subdivision list is deliberately not the set common to all subdivisions (see docstring).
NATIONWIDE_NOT_COMMON = {"US"}


def language(cls):
    if cls.default_language.startswith("en"):
        return cls.default_language
    if "en_US" not in cls.supported_languages:
        sys.exit(f"generate.py: {cls.__name__} has no English translation")
    return "en_US"


def dated(cc, subdiv=None):
    """{date: name} of the package's public holidays for the country (or one subdivision), within FROM..UNTIL."""
    cls = holidays.country_holidays(cc).__class__
    if cls.default_category != holidays.PUBLIC:
        sys.exit(f"generate.py: {cc}'s default category is {cls.default_category!r}, not public")
    h = holidays.country_holidays(
        cc, subdiv=subdiv, years=YEARS, categories=(holidays.PUBLIC,), language=language(cls)
    )
    return {d: "; ".join(h.get_list(d)) for d in sorted(h) if FROM <= d <= UNTIL}


def entry(d, name):
    return json.dumps({"date": d.isoformat(), "name": name}, ensure_ascii=False)


def lines(items, indent):
    pad = " " * indent
    return "[]" if not items else "[\n" + ",\n".join(pad + " " + i for i in items) + "\n" + pad + "]"


def calendar(cc):
    name, zone = COUNTRIES[cc]
    zoneinfo.ZoneInfo(zone)  # fails loudly on a misspelt zone
    nationwide = dated(cc)
    for year in YEARS:
        if not any(d.year == year for d in nationwide):
            sys.exit(f"generate.py: {cc} has no public holiday in {year}")
    cls = holidays.country_holidays(cc).__class__
    subdivisions = {}
    common = None
    for code in cls.subdivisions:
        days = dated(cc, code)
        common = set(days) if common is None else common & set(days)
        add = [(d, n) for d, n in days.items() if d not in nationwide]
        remove = [d for d in nationwide if d not in days]
        subdivisions[code] = (add, remove)
    if common is not None and cc not in NATIONWIDE_NOT_COMMON and common != set(nationwide):
        sys.exit(f"generate.py: {cc}'s nationwide list is not the set common to its subdivisions; revisit the choice")

    subs = []
    for code, (add, remove) in subdivisions.items():
        subs.append(
            f"{json.dumps(code, ensure_ascii=False)}: {{\n"
            f"   \"add\": {lines([entry(d, n) for d, n in add], 3)},\n"
            f"   \"remove\": {lines([json.dumps(d.isoformat()) for d in remove], 3)}\n"
            f"  }}"
        )
    head = {
        "country": cc,
        "name": name,
        "time_zone": zone,
        "source": SOURCE,
        "from": FROM.isoformat(),
        "until": UNTIL.isoformat(),
    }
    text = (
        "{\n"
        + "".join(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n" for k, v in head.items())
        + f" \"holidays\": {lines([entry(d, n) for d, n in nationwide.items()], 1)},\n"
        + f" \"subdivisions\": {{{lines(subs, 1)[1:-1] if subs else ''}}}\n"
        + "}\n"
    )
    json.loads(text)  # the hand-written layout must still be JSON
    return text


for cc in COUNTRIES:
    with open(f"{cc.lower()}.json", "w", encoding="utf-8") as f:
        f.write(calendar(cc))
