"""What the workbench's results page shows, read from a run's folder with the functions the reports use:
Table 3, Table 4, the cases compared, the bid points of a feeder for the interactive chart, the figures
and the files to download. Plain JSON-ready values; nothing here assesses anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flexopt.errors import FlexoptError, Problem

#: Relative difference from the first case above which the comparison highlights a cell.
HIGHLIGHT_RELATIVE = 0.005


@dataclass(frozen=True)
class RunFolder:
    """The folder a run wrote (OUT/<scenario>/) and the cases whose datasets it holds."""

    folder: Path
    cases: tuple[str, ...]

    def dataset_path(self, case: str) -> Path:
        path = self.folder / f"{case}.nc"
        if case not in self.cases or not path.is_file():
            raise FlexoptError([Problem(f"this run has no dataset of case '{case}'", None,
                                        f"cases of the run: {', '.join(self.cases)}")])
        return path

    def datasets(self, cases: tuple[str, ...] | None = None) -> dict:
        from flexopt.results.store import REPORTED, read_dataset

        return {case: read_dataset(self.dataset_path(case), REPORTED) for case in (cases or self.cases)}


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def tables(run: RunFolder, cases: tuple[str, ...] | None = None) -> dict:
    """Table 3 (one row per case and feeder) and Table 4 (one row per metric and direction, a column per case)."""
    from flexopt.results.tables import DIRECTIONS, TABLE4_ROWS, metric_unit, table3, table4

    datasets = run.datasets(cases)
    t3, t4 = table3(datasets), table4(datasets)
    rows3 = []
    for case in datasets:
        own = t3[case]
        for feeder, row in own.iterrows():
            rows3.append({"case": case, "feeder": str(feeder), **{k: _number(v) for k, v in row.items()}})
    labels = dict(TABLE4_ROWS)
    rows4 = []
    for direction in DIRECTIONS:
        for key, label in TABLE4_ROWS:
            values = {case: _number(t4.loc[key, (case, direction)]) for case in datasets}
            rows4.append({"metric": key, "label": labels[key], "unit": metric_unit(key)[1], "direction": direction,
                          "values": values, "differs": _differs(values)})
    return {"cases": list(datasets), "table3": rows3, "table4": rows4,
            "titles": {case: ds.attrs.get("case_title", "") for case, ds in datasets.items()}}


def _differs(values: dict[str, float | None]) -> dict[str, bool]:
    """Per case: does it differ from the first case (the baseline) by more than :data:`HIGHLIGHT_RELATIVE`?"""
    numbers = list(values.values())
    base = numbers[0] if numbers else None
    flags = {}
    for case, value in values.items():
        if base is None or value is None:
            flags[case] = (base is None) != (value is None)
        else:
            scale = max(abs(base), abs(value), 1e-9)
            flags[case] = abs(value - base) / scale > HIGHLIGHT_RELATIVE
    return flags


def chart_points(run: RunFolder, case: str, feeder: str) -> dict:
    """Every counted bid point of a feeder (the working point excluded, as in Table 3): its PCC exchange, traffic
    light, red reason and interval, for the interactive P–Q chart."""
    from flexopt.results.schema import REASONS, STATUS_MEANINGS
    from flexopt.results.store import read_dataset

    ds = read_dataset(run.dataset_path(case), ("status", "p_pcc_mw", "q_pcc_mvar", "red_reason", "quantity_mw"))
    feeders = [str(f) for f in ds.feeder.values]
    if feeder not in feeders:
        raise FlexoptError([Problem(f"case '{case}' has no feeder '{feeder}'", None, f"feeders: {', '.join(feeders)}")])
    own = ds.sel(feeder=feeder).sel(bid_point=ds.bid_point != 0)
    status = own.status.values.astype(int)
    keep = status >= 0
    interval, point = np.nonzero(keep)
    seasons = ds.season.values.astype(str)
    day_types = ds.day_type.values.astype(str)
    hours = ds.hour.values.astype(int)
    reasons = own.red_reason.values.astype(int) if "red_reason" in own else np.zeros_like(status)
    lights = STATUS_MEANINGS.split()

    def column(values):
        return [_number(v) for v in values[interval, point]]

    return {"case": case, "feeder": feeder, "feeders": feeders,
            "interval": interval.tolist(), "bid_point": own.bid_point.values[point].astype(int).tolist(),
            "season": seasons[interval].tolist(), "day_type": day_types[interval].tolist(),
            "hour": hours[interval].tolist(), "p_mw": column(own.p_pcc_mw.values),
            "q_mvar": column(own.q_pcc_mvar.values), "quantity_mw": column(own.quantity_mw.values),
            "status": [lights[s] for s in status[interval, point]],
            "red_reason": [REASONS[r] if 0 <= r < len(REASONS) else "unknown" for r in reasons[interval, point]]}


def figures(run: RunFolder, workspace_root: Path) -> list[dict]:
    """The report's figures of the run, with the report's captions."""
    from flexopt.results.html import figure_sections

    paths = sorted(run.folder.glob("*.png"))
    datasets = run.datasets()
    return [{"path": section.path.relative_to(workspace_root).as_posix(), "title": section.title,
             "caption": section.caption} for section in figure_sections(datasets, paths)]


def downloads(run: RunFolder, workspace_root: Path) -> list[dict]:
    """The run's tables (CSV), datasets (netCDF) and report, as the page offers them."""
    names = ["table3.csv", "table4.csv", *(f"{c}.nc" for c in run.cases), "report.html"]
    return [{"name": name, "path": (run.folder / name).relative_to(workspace_root).as_posix()}
            for name in names if (run.folder / name).is_file()]
