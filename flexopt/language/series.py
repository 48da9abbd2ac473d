"""Series over the typical days: CSV data files, and price rules evaluated on the prices.

Shared by the validator (which evaluates every price and price rule on the price series at
check time) and the compile stage (which evaluates them again before assessing). A CSV file is
read through :mod:`flexopt.files` (a regular file, its size checked before reading); every
problem in it is located at the CSV's own ``file:line:column``, with the CSV line quoted and
overlong cells cut. A price or rule that is not a finite number somewhere (a division by a price
that is 0 in some hours, an overflow) is a problem at the operation, naming the first intervals.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from flexopt.errors import FlexoptError, Problem, Span, did_you_mean, known_list, shorten, source_lines
from flexopt.files import MAX_DATA_FILE_BYTES, read_text_capped
from flexopt.language.expressions import NonFinite, evaluate, find_nonfinite, references
from flexopt.model import Calendar, Case, Offer, Price

__all__ = ["KEY_COLUMNS", "CsvTable", "csv_series", "describe_intervals", "evaluate_prices", "interval_label",
           "nonfinite_problem", "read_csv_series", "read_csv_table", "rule_problems"]

KEY_COLUMNS = ("season", "day_type", "hour")
#: The column of an hourly series over the calendar year (ISO 8601 times, local standard time or with offsets).
TIME_COLUMN = "time"


@dataclass(frozen=True)
class CsvRow:
    line: int  # 1-based line where the row starts
    cells: list[str]


@dataclass(frozen=True)
class CsvTable:
    """A CSV file as read: its lines (for quoting), header and rows."""

    path: Path
    lines: list[str]
    header: list[str]
    rows: list[CsvRow]

    @property
    def shown(self) -> str:
        return str(self.path)

    def problem(self, message: str, row: CsvRow | None = None, cell: int | None = None,
                hint: str | None = None) -> FlexoptError:
        """An error located in this file (at a row, and a cell of it), quoting the line."""
        if row is None:
            span = Span(self.shown, 1, 1)
        elif cell is None or cell >= len(row.cells):
            span = Span(self.shown, row.line, 1)
        else:
            start = _cell_columns(self.lines[row.line - 1] if row.line <= len(self.lines) else "", len(row.cells))[cell]
            span = Span(self.shown, row.line, start, row.line, start + max(1, len(row.cells[cell])))
        return FlexoptError([Problem(message, span, hint)], {self.shown: self.lines})


def read_csv_table(path: Path, span: Span | None = None) -> CsvTable:
    """Read a CSV data file; ``span`` is where the scenario names it (for a file that cannot be read)."""
    text = read_text_capped(path, MAX_DATA_FILE_BYTES, label=f"'{path.name}'", kind="a CSV data file", span=span,
                            hint="a CSV data file holds one value per typical-day interval (a few hundred rows); "
                                 "is this the right file?")
    lines = source_lines(text)
    rows: list[CsvRow] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for cells in reader:
            rows.append(CsvRow(start, cells))
            start = reader.line_num + 1
    except csv.Error as err:
        raise FlexoptError([Problem(f"'{path.name}' is not a readable CSV file: {err}", Span(str(path), start, 1),
                                    "save it as comma-separated UTF-8 text")], {str(path): lines}) from None
    if not rows:
        raise FlexoptError([Problem(f"'{path.name}' is empty", Span(str(path), 1, 1))])
    header = [h.strip() for h in rows[0].cells]
    return CsvTable(path, lines, header, rows[1:])


def _cell_columns(line: str, count: int) -> list[int]:
    """The 1-based column where each of ``count`` cells of a line starts (commas inside quotes skipped)."""
    starts = [1]
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            starts.append(i + 2)
    return (starts + [len(line) + 1] * count)[:max(count, 1)]


def read_csv_series(path: Path, column: str, calendar: Calendar, span: Span | None) -> np.ndarray:
    """A CSV column over the typical days: rows keyed by season, day_type and hour, or one row per
    interval in dataset order. Errors name the CSV file, line and column."""
    return csv_series(read_csv_table(path, span), column, calendar)


def csv_series(table: CsvTable, column: str, calendar: Calendar) -> np.ndarray:
    """The values of one column of a read table over the calendar's intervals: a typical-day table
    (keyed, or in interval order) or an hourly table of the year (a ``time`` column, or one row per
    hour); typical days are spread over the hours of the year and hours averaged over the typical days."""
    name, header = table.path.name, table.header
    if column not in header:
        raise table.problem(f"'{name}' has no column '{shorten(column)}'", None, None,
                            did_you_mean(column, header) or f"columns: {known_list(header)}")
    col = header.index(column)
    hours = calendar.hours_per_year
    rows = [row for row in table.rows if any(cell.strip() for cell in row.cells)]
    typical_n = len(calendar.seasons) * len(calendar.day_types) * calendar.steps_per_day
    if TIME_COLUMN in header or (not all(k in header for k in KEY_COLUMNS) and len(rows) != typical_n
                                 and len(rows) in (8760, 8784)):
        values = _hourly_series(table, rows, col, column, calendar)
        if calendar.hourly:
            return values
        index = calendar.hour_intervals()
        valid = index >= 0
        total = np.bincount(index[valid], weights=values[valid], minlength=typical_n)
        count = np.bincount(index[valid], minlength=typical_n)
        return np.divide(total, count, out=np.full(typical_n, float(values.mean())), where=count > 0)
    if calendar.hourly and not all(k in header for k in KEY_COLUMNS) and len(rows) != typical_n:
        raise table.problem(f"'{name}' has {len(rows)} data rows; the calendar year has {hours} hours", None, None,
                            f"give {hours} hourly rows (best with a column '{TIME_COLUMN}'), or {typical_n} "
                            "typical-day rows (with the columns season, day_type and hour)")
    values = _typical_series(table, col, column, calendar, typical_n)
    return values[calendar.hour_intervals()] if calendar.hourly else values


def _cell_value(table: CsvTable, row: CsvRow, col: int, column: str) -> float:
    name = table.path.name
    if len(row.cells) <= col:
        raise table.problem(f"line {row.line} of '{name}' has no value for '{column}'", row)
    text = row.cells[col].strip()
    try:
        value = float(text)
    except ValueError:
        raise table.problem(f"'{shorten(text)}' in column '{column}' is not a number", row, col,
                            "use a decimal point and no thousands separator") from None
    if not math.isfinite(value):
        raise table.problem(f"'{shorten(text)}' in column '{column}' is not a finite number", row, col,
                            "write the value as a plain number, e.g. 42.5")
    return value


def _hourly_series(table: CsvTable, rows: list[CsvRow], col: int, column: str, calendar: Calendar) -> np.ndarray:
    """An hourly column of the calendar year: every hour once, in local standard time (times with UTC
    offsets are moved to the standard one, the smallest). Gaps, duplicates, daylight-saving shifts and
    the wrong year length are errors at the CSV's line."""
    name, year, hours = table.path.name, calendar.year or 2019, calendar.hours_per_year
    other = 8784 if hours == 8760 else 8760
    if TIME_COLUMN not in table.header:
        if len(rows) != hours:
            raise table.problem(f"'{name}' has {len(rows)} hourly rows; {year} has {hours} hours", None, None,
                                f"{other} rows are a {'leap' if other == 8784 else 'common'} year: check the "
                                "calendar's 'year', or add a column 'time' to say which hour each row is")
        return np.array([_cell_value(table, row, col, column) for row in rows])
    t = table.header.index(TIME_COLUMN)
    stamps: list[dt.datetime] = []
    for row in rows:
        text = row.cells[t].strip() if t < len(row.cells) else ""
        try:
            stamps.append(dt.datetime.fromisoformat(text))
        except ValueError:
            raise table.problem(f"'{shorten(text)}' on line {row.line} of '{name}' is not a time", row, t,
                                "write ISO 8601 times such as 2019-01-01 00:00 or 2019-01-01T00:00+01:00") from None
    offsets = {s.utcoffset() for s in stamps if s.tzinfo is not None}
    if offsets:
        if any(s.tzinfo is None for s in stamps):
            first = next(r for r, s in zip(rows, stamps) if s.tzinfo is None)
            raise table.problem(f"the time on line {first.line} of '{name}' has no UTC offset, others have one", first,
                                t, "give every time with its offset (e.g. +01:00), or none")
        standard = min(offsets)
        stamps = [(s - s.utcoffset() + standard).replace(tzinfo=None) for s in stamps]
    values = np.full(hours, np.nan)
    seen: dict[int, int] = {}
    at: dict[int, CsvRow] = {}
    start = dt.datetime(year, 1, 1)
    for row, stamp in zip(rows, stamps):
        if stamp.minute or stamp.second or stamp.microsecond:
            raise table.problem(f"time {stamp:%Y-%m-%d %H:%M} on line {row.line} is not on the hour", row, t,
                                "give one row per hour, at the start of the hour (hh:00)")
        i = int((stamp - start).total_seconds() // 3600)
        if not 0 <= i < hours:
            raise table.problem(f"time {stamp:%Y-%m-%d %H:%M} on line {row.line} of '{name}' is not in the "
                                f"calendar year {year}", row, t, "give the hours of the calendar's 'year', or change it")
        if i in seen:
            raise table.problem(f"time {stamp:%Y-%m-%d %H:%M} appears twice (lines {seen[i]} and {row.line})", row, t,
                                _dst_hint(stamp, "back") if offsets == set() and stamp.month in (10, 11) else
                                "give each hour once")
        seen[i], at[i] = row.line, row
        values[i] = _cell_value(table, row, col, column)
    if np.isnan(values).any():
        missing = np.flatnonzero(np.isnan(values))
        first = start + dt.timedelta(hours=int(missing[0]))
        more = f" and {len(missing) - 1} more hours" if len(missing) > 1 else ""
        length = (f"; it has {len(rows)} rows and {year} has {hours} hours" if len(rows) in (8760, 8784)
                  and len(rows) != hours else "")
        hint = (_dst_hint(first, "forward") if len(missing) == 1 and first.month in (3, 4) else
                f"give every hour of {year} ({hours} rows)")
        after = [i for i in at if i > missing[0]]  # the gap is shown at the row after it
        row = at[min(after)] if after else (at[max(at)] if at else None)
        raise table.problem(f"'{name}' has no '{column}' value for {first:%Y-%m-%d %H}:00{more}{length}", row,
                            t if row is not None else None, hint)
    return values


def _dst_hint(stamp: dt.datetime, way: str) -> str:
    return (f"this looks like a daylight-saving shift (the clock went {way} near {stamp:%Y-%m-%d %H}:00): write the "
            "times in local standard time all year, or give each time with its UTC offset (e.g. +02:00)")


def _typical_series(table: CsvTable, col: int, column: str, calendar: Calendar, n: int) -> np.ndarray:
    """A typical-day column: rows keyed by season, day_type and hour, or one row per interval in order."""
    name, header = table.path.name, table.header
    values = np.full(n, np.nan)
    keyed = all(k in header for k in KEY_COLUMNS)
    position: dict[int, int] = {}
    seasons = {s: i for i, s in enumerate(calendar.seasons)}
    day_types = {d: i for i, d in enumerate(calendar.day_types)}
    step_hours = 24 // calendar.steps_per_day
    keys = [header.index(k) for k in KEY_COLUMNS] if keyed else []
    if not keyed and len(table.rows) != n:
        raise table.problem(f"'{name}' has {len(table.rows)} data rows; the calendar has {n} intervals", None, None,
                            "add the columns season, day_type and hour, or give one row per interval in the order "
                            "season, day type, hour")
    for index, row in enumerate(table.rows):
        if not any(cell.strip() for cell in row.cells):
            continue
        line = row.line
        value = _cell_value(table, row, col, column)
        if keyed:
            season, day_type, hour = (row.cells[k].strip() if k < len(row.cells) else "" for k in keys)
            if season not in seasons or day_type not in day_types:
                wrong, pool, k = (season, seasons, keys[0]) if season not in seasons else (day_type, day_types, keys[1])
                raise table.problem(f"'{shorten(wrong)}' on line {line} of '{name}' is not a season or day type of "
                                    "the calendar", row, k, did_you_mean(wrong, pool) or f"expected one of {known_list(pool)}")
            h = _whole_number(hour)
            if h is None:
                raise table.problem(f"hour '{shorten(hour)}' on line {line} is not a whole number", row, keys[2],
                                    f"hours run 0..23 in steps of {step_hours}")
            if not 0 <= h < 24 or h % step_hours:
                raise table.problem(f"hour {h} on line {line} is not a step of the calendar", row, keys[2],
                                    f"hours run 0..23 in steps of {step_hours}")
            i = (seasons[season] * len(day_types) + day_types[day_type]) * calendar.steps_per_day + h // step_hours
            if i in position:
                raise table.problem(f"{season} {day_type} hour {h} appears twice (lines {position[i]} and {line})", row)
            position[i] = line
        else:
            i = index
        values[i] = value
    if np.isnan(values).any():
        first = int(np.flatnonzero(np.isnan(values))[0])
        season, day_type, hour, _ = _typical(calendar).intervals()
        raise table.problem(f"'{name}' has no '{column}' value for {season[first]} {day_type[first]} hour {hour[first]}",
                            None, None, f"give all {n} intervals of the calendar")
    return values


def _whole_number(text: str) -> int | None:
    """An hour as written ("7", "7.0"); None for anything else, including inf, nan and 1e999."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def _typical(calendar: Calendar) -> Calendar:
    from dataclasses import replace

    return replace(calendar, periods="typical days") if calendar.hourly else calendar


def interval_label(calendar: Calendar, index: int) -> str:
    """An interval for a message: ``winter working 04:00 (interval 4)``; hourly: ``2019-03-31 02:00 (interval 2138)``."""
    if calendar.hourly:
        stamp = dt.datetime(calendar.year or 2019, 1, 1) + dt.timedelta(hours=int(index))
        return f"{stamp:%Y-%m-%d %H}:00 (interval {index})"
    steps = calendar.steps_per_day
    days = len(calendar.day_types)
    season = calendar.seasons[index // (days * steps)]
    day_type = calendar.day_types[(index // steps) % days]
    hour = int((index % steps) * calendar.step_hours)
    return f"{season} {day_type} {hour:02d}:00 (interval {index})"


def describe_intervals(calendar: Calendar, indices: Sequence[int], shown: int = 3) -> str:
    """The first few intervals of a set, and how many more: ``winter working 04:00 (interval 4) and 11 more``."""
    labels = [interval_label(calendar, int(i)) for i in list(indices)[:shown]]
    more = len(indices) - len(labels)
    return ", ".join(labels) + (f" and {more} more" if more else "")


# ---------------------------------------------------------------------------
# Prices and price rules over the intervals: finite, or a located problem
# ---------------------------------------------------------------------------


def nonfinite_problem(found: NonFinite, what: str, calendar: Calendar) -> Problem:
    """The problem of an expression that is not a finite number: where, why and in which intervals."""
    n = calendar.n_intervals
    if found.intervals is None:
        where = ""
    elif len(found.intervals) == n:
        where = " in every interval"
    else:
        where = f" in {len(found.intervals)} of {n} intervals, first {describe_intervals(calendar, found.intervals)}"
    if found.divisor is not None:
        divisor = shorten(found.divisor)
        return Problem(f"{what} divides by '{divisor}', which is 0{where}", found.span,
                       f"a price rule must be a number in every hour: guard the divisor (e.g. max({divisor}, ...)), "
                       "divide by a constant, or check the price data")
    return Problem(f"{what} is not a finite number{where}: the value overflows (beyond ±1.8e308)", found.span,
                   "a value this large is a typing mistake: check the constants and the price data")


def evaluate_prices(prices: Sequence[Price], read: Callable[[Price], np.ndarray | None], calendar: Calendar,
                    in_case: str = "") -> tuple[dict[str, np.ndarray], list[Problem], list[Price]]:
    """Every named price over the intervals, in dependency order (a price may refer to one declared later).

    ``read(price)`` gives a CSV price's values in the file's unit, or None when they cannot be read
    (a problem said elsewhere). Returns the values, the problems of prices that are not finite
    everywhere (left out with every price built on them) and the prices never resolved (a cycle).
    """
    n = calendar.n_intervals
    declared = {p.name for p in prices}
    values: dict[str, np.ndarray] = {}
    missing: set[str] = set()
    problems: list[Problem] = []
    pending = list(prices)
    while pending:
        progressed = False
        for price in list(pending):
            if price.expr is None:
                raw = read(price)
                if raw is None:
                    missing.add(price.name)
                else:
                    with np.errstate(all="ignore"):
                        scaled = np.asarray(raw, dtype=float) * price.scale
                    bad = np.flatnonzero(~np.isfinite(scaled))
                    if len(bad):
                        problems.append(Problem(
                            f"price '{price.name}'{in_case} is not a finite number once converted to {price.unit} "
                            f"(x {price.scale:g}) in {len(bad)} of {n} intervals, first "
                            f"{describe_intervals(calendar, bad)}", price.span, "check the unit and the values of the column"))
                        missing.add(price.name)
                    else:
                        values[price.name] = scaled
            else:
                names = [ref.name for ref in references(price.expr)]
                if any(name in missing or name not in declared for name in names):
                    missing.add(price.name)
                elif any(name not in values for name in names):
                    continue
                else:
                    found = find_nonfinite(price.expr, values)
                    if found is not None:
                        problems.append(nonfinite_problem(found, f"price '{price.name}'{in_case}", calendar))
                        missing.add(price.name)
                    else:
                        value = np.asarray(evaluate(price.expr, values), dtype=float)
                        values[price.name] = np.broadcast_to(value, (n,)).copy()
            pending.remove(price)
            progressed = True
        if not progressed:
            break
    return values, problems, pending


def rule_problems(case: Case, values: dict[str, np.ndarray], calendar: Calendar, in_case: str = "") -> list[Problem]:
    """The bid rules' prices and the reactive remuneration of a case that are not finite somewhere.

    Only expressions whose prices all have values are judged (a price left out has its own problem).
    """
    checks = []
    for rule in case.bid_rules:
        for offer in (rule.down, rule.up):
            if isinstance(offer, Offer):
                checks.append((offer.price, f"the {offer.direction}ward price for '{rule.selector.label()}'{in_case}"))
    if case.reactive.price is not None:
        checks.append((case.reactive.price, f"the reactive remuneration{in_case}"))
    problems = []
    for expr, what in checks:
        if all(ref.name in values for ref in references(expr)):
            found = find_nonfinite(expr, values)
            if found is not None:
                problems.append(nonfinite_problem(found, what, calendar))
    return problems
