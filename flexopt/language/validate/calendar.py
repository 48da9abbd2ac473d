"""Rules of the ``calendar`` block and of profile sources (kept together: both describe time and data)."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
import functools

from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.errors import FlexoptError, Span, did_you_mean, known_list
from flexopt.language import series
from flexopt.model import CUSTOMER_CLASSES, DAY_TYPES, Calendar, ProfileSource, day_type_index, public_holidays
from flexopt.language.validate.context import Context


MONTHS = {name.lower(): i for i, name in enumerate(pycalendar.month_abbr) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(pycalendar.month_name) if name})

DEFAULT_SEASONS = (("winter", (12, 1, 2)), ("spring", (3, 4, 5)), ("summer", (6, 7, 8)), ("autumn", (9, 10, 11)))
DEFAULT_YEAR = 2019

#: Parameters each profile generator takes: name -> (dimension or None for a word, allowed words, required).
GENERATOR_PARAMS: dict[str, dict[str, tuple[u.Dimension | None, tuple[str, ...] | None, bool]]] = {
    "pv": {
        "latitude": (u.ANGLE, None, True),
        "longitude": (u.ANGLE, None, True),
        "tilt": (u.ANGLE, None, False),
        "azimuth": (u.ANGLE, None, False),
        "altitude": (u.LENGTH, None, False),
        "losses": (u.PERCENT, None, False),
    },
    "wind": {
        "site": (None, ("coastal", "mountain"), True),
        "hub_height": (u.LENGTH, None, False),
        "turbine": (None, None, False),
    },
    "chp": {
        "zone": (None, ("A", "B", "C", "D", "E", "F"), True),
        "minimum": (u.PERCENT, None, False),
    },
    "demand": {
        "class": (None, CUSTOMER_CLASSES, True),
    },
}


class CalendarRules(Context):
    """The calendar and the profile sources."""

    def calendar(self, block: sx.CalendarBlock | None) -> Calendar | None:
        settings = block.settings if block else ()
        singles = self.settings_once(settings, "the calendar")
        year = None
        if "year" in singles:
            year = self.number(singles["year"].value, "the year", minimum=1900, maximum=2200, integer=True)
            year = int(year) if year is not None else None
        country = None
        if "holidays" in singles:
            word: sx.Word = singles["holidays"].value
            country = word.text.upper()
            if not _known_holiday_country(country):
                self.error(f"no public-holiday calendar for '{word.text}'", word.span,
                           "use an ISO 3166 country code such as \"IT\", \"ES\" or \"DE\"")
                country = None
        steps = 24
        if "hours" in singles:
            q = singles["hours"].value
            value = self.number(q, "hours per day", minimum=1, maximum=24, integer=True)
            if value is not None and 24 % int(value):
                self.error(f"hours per day must divide 24 evenly, got {int(value)}", q.span, "use 24, 12, 8, 6, 4, 3, 2 or 1")
            elif value is not None:
                steps = int(value)

        seasons: list[tuple[str, tuple[int, ...]]] = []
        season_spans: dict[str, Span] = {}
        month_owner: dict[int, str] = {}
        for setting in (s for s in settings if s.key == "season"):
            decl: sx.SeasonDecl = setting.value
            if not self.name(decl.name, "season", season_spans):
                continue
            months = []
            for month in decl.months:
                number = MONTHS.get(month.text.lower())
                if number is None:
                    self.error(f"'{month.text}' is not a month", month.span,
                               did_you_mean(month.text.lower(), MONTHS) or "write months as jan, feb, ... dec")
                    continue
                if number in month_owner:
                    self.error(f"{pycalendar.month_name[number]} is already in season '{month_owner[number]}'", month.span,
                               "each month belongs to one season")
                    continue
                month_owner[number] = decl.name.text
                months.append(number)
            seasons.append((decl.name.text, tuple(months)))
        if not seasons:
            seasons = list(DEFAULT_SEASONS)
        elif len(month_owner) < 12 and not any(s.key == "days" for s in settings):
            missing = [pycalendar.month_abbr[m].lower() for m in range(1, 13) if m not in month_owner]
            self.error(f"months {', '.join(missing)} belong to no season", block.span if block else None,
                       "list every month in one season, or give the day counts with 'days'")

        season_names = [s for s, _ in seasons]
        explicit: dict[str, dict[str, int]] = {}
        days_readable = True  # False once a 'days' line has an error: its totals would only repeat it
        for setting in (s for s in settings if s.key == "days"):
            decl: sx.DaysDecl = setting.value
            season = decl.season.text
            if season not in season_names:
                self.error(f"unknown season '{season}'", decl.season.span,
                           did_you_mean(season, season_names) or f"seasons: {known_list(season_names)}")
                days_readable = False
                continue
            if season in explicit:
                self.error(f"days of season '{season}' are given twice", setting.span)
                days_readable = False
                continue
            counts: dict[str, int] = {}
            for day_type, q in decl.counts:
                if day_type.text not in DAY_TYPES:
                    self.error(f"unknown day type '{day_type.text}'", day_type.span,
                               did_you_mean(day_type.text, DAY_TYPES) or f"day types: {known_list(DAY_TYPES)}")
                    days_readable = False
                    continue
                n = self.number(q, f"days of {season} {day_type.text}", minimum=0, maximum=366, integer=True)
                if n is None:
                    days_readable = False
                else:
                    counts[day_type.text] = int(n)
            explicit[season] = counts

        if not days_readable:
            return None
        if explicit:
            missing_seasons = [s for s in season_names if s not in explicit]
            if missing_seasons:
                self.error(f"day counts are missing for season(s) {', '.join(missing_seasons)}", block.span if block else None,
                           "give 'days' for every season, or none to count them from the year's calendar")
                return None
            day_counts = tuple(tuple(explicit[s].get(d, 0) for d in DAY_TYPES) for s in season_names)
            total = sum(map(sum, day_counts))
            expected = (366 if pycalendar.isleap(year) else 365) if year else None
            if (expected and total != expected) or (not expected and total not in (365, 366)):
                self.error(f"the day counts add up to {total} days, not {expected or 365}",
                           block.span if block else None, "each day of the year is one typical day of one season")
                return None
        else:
            counting_year = year or DEFAULT_YEAR
            day_counts = _count_days(counting_year, seasons, country)
            year = counting_year
        periods, n_days = self.periods(singles.get("periods"), block, explicit, steps)
        weather, seed = self.weather(singles.get("weather"))
        return Calendar(
            seasons=tuple(season_names),
            season_months=tuple(m for _, m in seasons),
            day_types=DAY_TYPES,
            steps_per_day=steps,
            day_counts=day_counts,
            year=year,
            holiday_country=country,
            span=block.span if block else None,
            periods=periods,
            representative_days=n_days,
            weather=weather,
            weather_seed=seed,
        )

    def periods(self, setting: sx.Setting | None, block, explicit: dict, steps: int) -> tuple[str, int]:
        """`periods typical days | full year | representative N days`: the mode and N."""
        if setting is None:
            return "typical days", 0
        words = setting.value
        mode = "typical days" if words[0].text == "typical" else "full year" if words[0].text == "full" \
            else "representative days"
        n_days = 0
        if mode == "representative days":
            value = self.number(words[1], "the number of representative days", minimum=1, maximum=100, integer=True)
            n_days = int(value) if value is not None else 1
        if mode != "typical days":
            if explicit:
                self.error(f"'periods {mode}' counts the days of the year itself; 'days' cannot be given with it",
                           setting.span, "remove the 'days' lines, or use 'periods typical days'")
            if steps != 24:
                self.error(f"'periods {mode}' works on the hours of the year; 'hours {steps}' cannot be given with it",
                           setting.span, "remove the 'hours' line, or use 'periods typical days'")
        return mode, n_days

    def weather(self, setting: sx.Setting | None) -> tuple[str, int]:
        """`weather expected` (the climatology, default) or `weather variable [seed N]`."""
        if setting is None:
            return "expected", 0
        words = setting.value
        seed = 0
        if len(words) > 2:
            value = self.number(words[2], "the weather seed", minimum=0, maximum=2**31 - 1, integer=True)
            seed = int(value) if value is not None else 0
        return words[0].text, seed


    def profile_sources(self, decls: list[sx.ProfileDecl]) -> None:
        taken: dict[str, Span] = {}
        for decl in decls:
            if not self.name(decl.name, "profile", taken):
                continue
            if decl.source == "csv":
                path = self.data_path(decl.path, "profile")
                if path is not None:
                    self.check_column(path, decl.column, decl.path)
                    self.check_profile_series(path, decl)
                self.profiles[decl.name.text] = ProfileSource(decl.name.text, "csv", path, decl.column.text, None, (),
                                                              decl.span)
                continue
            generator = decl.generator.text
            if generator not in GENERATOR_PARAMS:
                self.error(f"no profile generator '{generator}'", decl.generator.span,
                           did_you_mean(generator, GENERATOR_PARAMS) or f"generators: {known_list(GENERATOR_PARAMS)}")
                continue
            schema = GENERATOR_PARAMS[generator]
            params: dict[str, float | str] = {}
            misspelt = False
            for key, value in decl.params:
                if key.text not in schema:
                    misspelt = True
                    self.error(f"the {generator} generator has no parameter '{key.text}'", key.span,
                               did_you_mean(key.text, schema) or f"parameters: {known_list(schema)}")
                    continue
                if key.text in params:
                    self.error(f"'{key.text}' is given twice", key.span)
                    continue
                dim, choices, _ = schema[key.text]
                if dim is not None:
                    if not isinstance(value, sx.Quantity):
                        self.error(f"'{key.text}' takes a number with a unit ({dim.examples()})", value.span)
                        continue
                    limits = {"latitude": (-90, 90), "longitude": (-180, 180), "tilt": (0, 90), "azimuth": (0, 360),
                              "losses": (0, 100), "minimum": (0, 100), "altitude": (0, 9), "hub_height": (0.005, 0.3)}
                    low, high = limits.get(key.text, (None, None))
                    v = self.value(value, dim, f"the {key.text}", minimum=low, maximum=high)
                    if v is not None:
                        params[key.text] = v
                    continue
                if isinstance(value, sx.Quantity):
                    self.error(f"'{key.text}' takes a word, not a number", value.span,
                               f"choices: {known_list(choices)}" if choices else None)
                    continue
                if choices is not None and value.text not in choices:
                    self.error(f"'{value.text}' is not a valid {key.text}", value.span,
                               did_you_mean(value.text, choices) or f"choices: {known_list(choices)}")
                    continue
                params[key.text] = value.text
            for key, (_, _, required) in schema.items():
                if required and not misspelt and not any(k.text == key for k, _ in decl.params):
                    self.error(f"the {generator} generator needs '{key}'", decl.span,
                               f"add it inside the braces: {{ {key} ... }}")
            self.profiles[decl.name.text] = ProfileSource(decl.name.text, "generated", None, None, generator,
                                                          tuple(sorted(params.items())), decl.span)


    def check_profile_series(self, path, decl: sx.ProfileDecl) -> None:
        """Read an hourly CSV profile (or any CSV profile with hourly periods) now, so that `flexopt check`
        reports its gaps, duplicates, daylight-saving shifts or wrong year length at the CSV's line."""
        table = self.csv_table(path, decl.path.span)
        calendar = getattr(self, "calendar_model", None)
        if table is None or calendar is None or decl.column.text not in table.header:
            return
        if not calendar.hourly and series.TIME_COLUMN not in table.header:
            return  # a typical-day profile over typical days: read when compiling, as it always was
        try:
            series.csv_series(table, decl.column.text, calendar)
        except FlexoptError as err:
            self.absorb(err)


def _count_days(year: int, seasons: list[tuple[str, tuple[int, ...]]], country: str | None) -> tuple[tuple[int, ...], ...]:
    """Days of each season and day type in a calendar year (Sundays and public holidays are holidays)."""
    public = public_holidays(country, year)
    season_of = {m: i for i, (_, months) in enumerate(seasons) for m in months}
    counts = [[0, 0, 0] for _ in seasons]
    day = dt.date(year, 1, 1)
    while day.year == year:
        s = season_of.get(day.month)
        if s is not None:
            counts[s][day_type_index(day, public)] += 1
        day += dt.timedelta(days=1)
    return tuple(tuple(row) for row in counts)


@functools.lru_cache(maxsize=64)
def _known_holiday_country(code: str) -> bool:
    import holidays

    return code in holidays.list_supported_countries()
