"""Report stage: the paper's Table 3 and Table 4 from stored datasets (no recomputation).

Table 3: share of green / orange / red bid points per feeder and case, counting the
points that differ from the working point (bid point != 0 with a non-zero quantity), and
the number of intervals whose working point itself violates limits. Each point weighs the hours of
the year it stands for (`weight_h`: a typical-day interval the days of its season and day type, an
hour of the full year 1 h, a representative day's hour the days it stands for), so the shares are
shares of the year's hours whatever the periods; ``points`` is the number of points counted.

Table 4: substation totals per case and direction. The feasible flexibility of an
interval is the quantity of the farthest bid point reachable from the working point
without crossing a red one; its cost, reactive support and the support's cost are
those of that point. Energies weigh each interval by the hours it stands for.
Every formula is written out in docs/method.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from flexopt.errors import FlexoptError, Problem
from flexopt.files import write_text_atomic
from flexopt.results.schema import DIRECTIONS, GREEN, ORANGE, REASONS, RED


def refuse_mixed_texts(datasets: Mapping[str, xr.Dataset], sources: Mapping[str, str] | None = None) -> None:
    """Raise a :class:`FlexoptError` when the datasets were assessed from different scenario texts
    (their ``scenario_sha256`` attributes differ): one table must not mix them. ``sources`` names
    each case's file for the message (default: the case names)."""
    by_text: dict[str, list[str]] = {}
    for case, ds in datasets.items():
        sha = str(ds.attrs.get("scenario_sha256", ""))
        by_text.setdefault(sha, []).append((sources or {}).get(case, f"case {case}"))
    if len(by_text) > 1:
        groups = "; ".join(f"{', '.join(names)} from text {sha[:12] or '(unknown)'}" for sha, names in by_text.items())
        raise FlexoptError([Problem(f"the datasets come from different scenario texts, which one table must not mix: "
                                    f"{groups}", None, "rerun `flexopt run` on the scenario so that every case is "
                                    "assessed from the same text, or report each text's datasets separately")])



@dataclass(frozen=True)
class FeasiblePoints:
    """Per direction, the reachable point of every (feeder, interval) and what it carries."""

    direction: str
    quantity_mw: np.ndarray  # (feeder, interval) magnitude at the reachable point
    potential_mw: np.ndarray  # (feeder, interval) magnitude of the whole offer
    bid_cost_eur_per_h: np.ndarray
    q_support_mvar: np.ndarray
    q_cost_eur_per_h: np.ndarray
    redispatch_mw: np.ndarray
    redispatch_cost_eur_per_h: np.ndarray
    hv_delivered_mw: np.ndarray  # change of the substation's exchange at the transformer's HV terminals


#: What Table 4 reads of a dataset.
FEASIBLE_VARIABLES = ("status", "quantity_mw", "bid_cost_eur_per_h", "q_support_mvar", "q_cost_eur_per_h",
                      "redispatch_mw", "redispatch_cost_eur_per_h", "p_hv_mw", "weight_h")


def feasible_points(ds: xr.Dataset, direction: str) -> FeasiblePoints:
    """The farthest point of a direction reachable from the working point without crossing red."""
    points = ds.bid_point.values
    chosen = np.sort(points[points > 0]) if direction == "up" else -np.sort(-points[points < 0])
    ds = ds[[name for name in FEASIBLE_VARIABLES if name in ds]]  # not the DERs' variables: a region has thousands
    sub = ds.sel(bid_point=chosen)
    status = sub.status.transpose("feeder", "interval", "bid_point").values
    reachable = np.cumprod(status != RED, axis=2).sum(axis=2)  # number of points reached, 0..K
    if 0 in points:  # a blocked working point reaches nothing
        reachable = np.where(ds.status.sel(bid_point=0).transpose("feeder", "interval").values == RED, 0, reachable)
    index = np.clip(reachable - 1, 0, None)[:, :, None]

    def at_point(name: str) -> np.ndarray:
        if name not in sub:  # a dataset written before the variable existed
            return np.zeros(reachable.shape)
        values = sub[name].transpose("feeder", "interval", "bid_point").values
        return np.where(reachable > 0, np.take_along_axis(values, index, axis=2)[:, :, 0], 0.0)

    quantity = sub.quantity_mw.transpose("feeder", "interval", "bid_point").values
    if "p_hv_mw" in ds and 0 in points:
        working_hv = ds.p_hv_mw.sel(bid_point=0).transpose("feeder", "interval").values
        hv_delivered = np.where(reachable > 0, np.abs(at_point("p_hv_mw") - working_hv), 0.0)
    else:  # a dataset written before the transformer's losses were modelled
        hv_delivered = np.full(reachable.shape, np.nan)
    return FeasiblePoints(direction, np.abs(at_point("quantity_mw")), np.abs(quantity[:, :, -1]),
                          at_point("bid_cost_eur_per_h"), at_point("q_support_mvar"), at_point("q_cost_eur_per_h"),
                          at_point("redispatch_mw"), at_point("redispatch_cost_eur_per_h"), hv_delivered)


def status_shares(ds: xr.Dataset, groups: Mapping[str, list[str]] | None = None,
                  index_name: str = "feeder") -> pd.DataFrame:
    """Share (%) of green, orange and red points per feeder (or per group of feeders, their points pooled),
    over the points that move the PCC."""
    moved = ((ds.bid_point != 0) & (np.abs(ds.quantity_mw) > 1e-9)).transpose("feeder", "interval", "bid_point")
    status_all = ds.status.transpose("feeder", "interval", "bid_point")
    violating = working_point_violations(ds)
    unsolved = no_power_flow(ds).transpose("feeder", "interval", "bid_point")
    # each point counts the hours of the year it stands for (typical days: the days of its season and day type)
    hours = np.broadcast_to(ds.weight_h.values[:, None], moved.shape[1:])
    groups = {str(f): [f] for f in ds.feeder.values} if groups is None else groups
    rows = {}
    for name, feeders in groups.items():
        counted = moved.sel(feeder=feeders).values
        status, weight = status_all.sel(feeder=feeders).values[counted], np.broadcast_to(hours, counted.shape)[counted]
        n = len(status)

        def share(flags):
            return 100.0 * float(np.average(flags, weights=weight)) if n else np.nan

        rows[name] = {
            "points": n,
            "green_percent": share(status == GREEN),
            "orange_percent": share(status == ORANGE),
            "red_percent": share(status == RED),
            "no_power_flow_percent": share(unsolved.sel(feeder=feeders).values[counted]),
            "working_point_violations": int(violating.sel(feeder=feeders).sum()),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(index_name)


def substation_groups(ds: xr.Dataset) -> dict[str, list[str]]:
    """A region's groups of feeders: ``region`` (all of them) first, then each substation's; empty for a
    study of one substation (whose Table 4 is the substation's)."""
    if "feeder_substation" not in ds.coords or len(set(ds.feeder_substation.values)) < 2:
        return {}
    groups: dict[str, list[str]] = {REGION: [str(f) for f in ds.feeder.values]}
    for feeder, substation in zip(ds.feeder.values, ds.feeder_substation.values):
        groups.setdefault(str(substation), []).append(str(feeder))
    return groups


#: The row and column of a region's tables that add up all of its substations.
REGION = "region"


def table3_substations(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Table 3 of a region: a row for the region, then one per substation (the points of its feeders pooled)."""
    refuse_mixed_texts(datasets)
    parts = {case: status_shares(ds, substation_groups(ds), "substation") for case, ds in datasets.items()}
    return pd.concat(parts, axis=1, names=["case", "share"])


def table4_substations(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Table 4 of a region: columns (case, substation, direction), the region first."""
    refuse_mixed_texts(datasets)
    columns = {}
    for case, ds in datasets.items():
        light = ds[[name for name in FEASIBLE_VARIABLES if name in ds]]
        for name, feeders in substation_groups(ds).items():
            for direction in DIRECTIONS:
                columns[(case, name, direction)] = substation_metrics(light.sel(feeder=feeders), direction)
    frame = pd.DataFrame(columns)
    frame.columns.names = ["case", "substation", "direction"]
    frame.index.name = "metric"
    return frame.loc[[key for key, _ in TABLE4_ROWS]]


def is_region(datasets: Mapping[str, xr.Dataset]) -> bool:
    return any(substation_groups(ds) for ds in datasets.values())


def working_point_violations(ds: xr.Dataset) -> xr.DataArray:
    """(feeder, interval): the expected working point (bid point 0) itself violates a limit, before
    any remedy (it is then orange, fixed by the DSO's remedies, or red)."""
    if 0 not in ds.bid_point.values:
        return xr.zeros_like(ds.status.isel(bid_point=0), dtype=bool)
    return ds.status.sel(bid_point=0) != GREEN


def no_power_flow(ds: xr.Dataset) -> xr.DataArray:
    """(feeder, interval, bid point): the AC power flow of the point has no solution (it is red for that)."""
    return ds.red_reason == REASONS.index("no_power_flow_solution")


def working_point_notes(datasets: Mapping[str, xr.Dataset]) -> list[str]:
    """One sentence per case and feeder whose working point violates limits, or whose power flows have no
    solution at some points, for the console and the report."""
    notes = []
    for case, ds in datasets.items():
        unsolved = no_power_flow(ds)
        for feeder in ds.feeder.values:
            n = int(unsolved.sel(feeder=feeder).sum())
            if n:
                total = ds.sizes["interval"] * ds.sizes["bid_point"]
                notes.append(f"case {case}, feeder {feeder}: {n} of {total} points ({100.0 * n / total:.1f} %) have no "
                             "AC power-flow solution (Newton-Raphson from a flat start did not converge: the "
                             "injections are beyond what the feeder can carry, a voltage collapse) - they are red, "
                             "reason no_power_flow_solution")
    for case, ds in datasets.items():
        violating = working_point_violations(ds)
        red = ds.status.sel(bid_point=0) == RED if 0 in ds.bid_point.values else violating
        for feeder in ds.feeder.values:
            n = int(violating.sel(feeder=feeder).sum())
            if n:
                blocked = int(red.sel(feeder=feeder).sum())
                notes.append(f"case {case}, feeder {feeder}: the expected working point itself violates limits in "
                             f"{n} of {ds.sizes['interval']} intervals ({blocked} of them red: no allowed remedy "
                             "fixes them) - its bids start from a state the grid cannot hold")
    return notes


def table3(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """The paper's Table 3: one row per feeder, columns (case, green/orange/red %)."""
    refuse_mixed_texts(datasets)
    parts = {case: status_shares(ds) for case, ds in datasets.items()}
    return pd.concat(parts, axis=1, names=["case", "share"])


TABLE4_ROWS = (
    ("market_potential_gwh_per_y", "market potential (GWh/y)"),
    ("feasible_flexibility_gwh_per_y", "feasible flexibility (GWh/y)"),
    ("feasible_reduction_percent", "reduction of the feasible flexibility (%)"),
    ("feasible_at_hv_gwh_per_y", "feasible flexibility the TSO sees at the HV terminals (GWh/y)"),
    ("cost_meur_per_y", "cost of the feasible bids (MEUR/y)"),
    ("reactive_support_gvarh_per_y", "reactive support (GVarh/y)"),
    ("reactive_cost_keur_per_y", "extra cost of reactive support (kEUR/y)"),
    ("redispatch_gwh_per_y", "active power redispatched by the DSO (GWh/y)"),
    ("redispatch_cost_keur_per_y", "extra cost of redispatch (kEUR/y)"),
    ("unit_cost_eur_per_mwh", "unit cost without the DSO's remedies (EUR/MWh)"),
    ("unit_cost_with_remedies_eur_per_mwh", "unit cost with the DSO's remedies (EUR/MWh)"),
)


def substation_metrics(ds: xr.Dataset, direction: str) -> dict[str, float]:
    """Table 4's numbers for one case and direction, summed over the feeders of the substation."""
    points = feasible_points(ds, direction)
    weight = ds.weight_h.values[None, :]
    potential_mwh = float((points.potential_mw * weight).sum())
    feasible_mwh = float((points.quantity_mw * weight).sum())
    cost_eur = float((points.bid_cost_eur_per_h * weight).sum())
    q_mvarh = float((points.q_support_mvar * weight).sum())
    q_cost_eur = float((points.q_cost_eur_per_h * weight).sum())
    redispatch_mwh = float((points.redispatch_mw * weight).sum())
    redispatch_eur = float((points.redispatch_cost_eur_per_h * weight).sum())
    extra_eur = q_cost_eur + redispatch_eur
    return {
        "market_potential_gwh_per_y": potential_mwh / 1000.0,
        "feasible_flexibility_gwh_per_y": feasible_mwh / 1000.0,
        "feasible_reduction_percent": 100.0 * (1.0 - feasible_mwh / potential_mwh) if potential_mwh else np.nan,
        "feasible_at_hv_gwh_per_y": float((np.nan_to_num(points.hv_delivered_mw) * weight).sum()) / 1000.0
        if not np.isnan(points.hv_delivered_mw).all() else np.nan,
        "cost_meur_per_y": cost_eur / 1e6,
        "reactive_support_gvarh_per_y": q_mvarh / 1000.0,
        "reactive_cost_keur_per_y": q_cost_eur / 1000.0,
        "redispatch_gwh_per_y": redispatch_mwh / 1000.0,
        "redispatch_cost_keur_per_y": redispatch_eur / 1000.0,
        "unit_cost_eur_per_mwh": cost_eur / feasible_mwh if feasible_mwh else np.nan,
        "unit_cost_with_remedies_eur_per_mwh": (cost_eur + extra_eur) / feasible_mwh if feasible_mwh else np.nan,
    }


def table4(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """The paper's Table 4: one row per metric, columns (case, direction)."""
    refuse_mixed_texts(datasets)
    columns = {}
    for case, ds in datasets.items():
        for direction in DIRECTIONS:
            columns[(case, direction)] = substation_metrics(ds, direction)
    frame = pd.DataFrame(columns)
    frame.columns.names = ["case", "direction"]
    frame.index.name = "metric"
    return frame.loc[[key for key, _ in TABLE4_ROWS]]


#: Units of the tidy CSVs by the ending of a metric's key (``market_potential_gwh_per_y`` -> GWh/y).
UNIT_SUFFIXES = (("_gwh_per_y", "GWh/y"), ("_gvarh_per_y", "Gvarh/y"), ("_meur_per_y", "MEUR/y"),
                 ("_keur_per_y", "kEUR/y"), ("_eur_per_mwh", "EUR/MWh"), ("_percent", "%"))
#: Table 3's counts: their unit, and they print as whole numbers.
COUNTS = {"points": "points", "working_point_violations": "intervals"}


def metric_unit(key: str) -> tuple[str, str]:
    """A column key as the tidy CSV's (metric, unit): the unit taken from the key's ending."""
    if key in COUNTS:
        return key, COUNTS[key]
    for suffix, unit in UNIT_SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)], unit
    raise ValueError(f"no unit known for the table's metric {key!r}: add its ending to UNIT_SUFFIXES")


def tidy_table3(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Table 3 in long form: one row per (case, feeder, metric) with its value and unit."""
    refuse_mixed_texts(datasets)
    rows = [(case, str(feeder), *metric_unit(key), value)
            for case, ds in datasets.items()
            for feeder, shares in status_shares(ds).iterrows() for key, value in shares.items()]
    return _tidy(rows, ["case", "feeder", "metric", "unit", "value"])


def tidy_table4(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Table 4 in long form: one row per (case, direction, metric) with its value and unit."""
    frame = table4(datasets)
    rows = [(case, direction, *metric_unit(key), frame.loc[key, (case, direction)])
            for case, direction in frame.columns for key in frame.index]
    return _tidy(rows, ["case", "direction", "metric", "unit", "value"])


def tidy_table3_substations(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """A region's Table 3 in long form: (case, substation, metric, value, unit), the region first."""
    frame = table3_substations(datasets)
    rows = [(case, str(name), *metric_unit(key), frame.loc[name, (case, key)])
            for case in frame.columns.get_level_values(0).unique() for name in frame.index
            for key in frame[case].columns]
    return _tidy(rows, ["case", "substation", "metric", "unit", "value"])


def tidy_table4_substations(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """A region's Table 4 in long form: (case, substation, direction, metric, value, unit)."""
    frame = table4_substations(datasets)
    rows = [(case, name, direction, *metric_unit(key), frame.loc[key, (case, name, direction)])
            for case, name, direction in frame.columns for key in frame.index]
    return _tidy(rows, ["case", "substation", "direction", "metric", "unit", "value"])


def tidy_compare(frame: pd.DataFrame) -> pd.DataFrame:
    """compare.csv in long form from ``run.compare_table``: (case, statistic, direction, metric, value, unit);
    statistic is ``assessed`` for the case, ``placements min|median|max`` over its placement draws."""
    rows = []
    for column in frame.columns:
        case, _, statistic = str(column).partition(" placements ")
        for (direction, key), value in frame[column].items():
            rows.append((case, f"placements {statistic}" if statistic else "assessed", direction,
                         *metric_unit(key), value))
    return _tidy(rows, ["case", "statistic", "direction", "metric", "unit", "value"])


def _tidy(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """The long frame, ``value`` before ``unit``; counts stay integers."""
    frame = pd.DataFrame(rows, columns=columns)
    frame["value"] = [int(v) if m in COUNTS and not pd.isna(v) else float(v) for m, v in zip(frame.metric, frame.value)]
    return frame[[*columns[:-2], "value", "unit"]]


def tidy_csv(frame: pd.DataFrame) -> str:
    """A tidy frame as CSV: one header row, counts as integers, other values to 6 significant digits."""
    text = frame.assign(value=[_number(v) for v in frame.value])
    return text.to_csv(index=False)


def _number(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return "" if pd.isna(value) else f"{float(value):.6g}"


def to_markdown(frame: pd.DataFrame, labels: Mapping[str, str] | None = None, digits: int = 2) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency); counts print as whole numbers."""
    headers = [" / ".join(str(p) for p in c) if isinstance(c, tuple) else str(c) for c in frame.columns]
    counts = [(c[-1] if isinstance(c, tuple) else c) in COUNTS or pd.api.types.is_integer_dtype(frame[c])
              for c in frame.columns]
    index_name = frame.index.name or ""
    lines = ["| " + " | ".join([index_name] + headers) + " |", "|" + "---|" * (len(headers) + 1)]
    for key, row in zip(frame.index, frame.itertuples(index=False, name=None)):
        label = labels.get(key, key) if labels else key
        cells = [_cell(int(v) if count and not pd.isna(v) else v, digits) for v, count in zip(row, counts)]
        lines.append("| " + " | ".join([str(label)] + cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value, digits: int) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "—" if np.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def write_tables(datasets: Mapping[str, xr.Dataset], folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """table3.csv/.md and table4.csv/.md in ``folder`` (the CSVs tidy, the .md pivoted); returns the pivoted tables."""
    t3, t4 = table3(datasets), table4(datasets)
    write_text_atomic(folder / "table3.csv", tidy_csv(tidy_table3(datasets)))
    write_text_atomic(folder / "table4.csv", tidy_csv(tidy_table4(datasets)))
    write_text_atomic(folder / "table3.md", "# Table 3: operating points per feeder (%)\n\n" + to_markdown(t3, digits=1))
    region = is_region(datasets)
    write_text_atomic(folder / "table4.md", f"# Table 4: flexibility of the whole {'region' if region else 'substation'}\n\n"
               + to_markdown(t4, dict(TABLE4_ROWS), digits=3))
    if region:  # the region's substations each on their own, the region first
        write_text_atomic(folder / "table3_substations.csv", tidy_csv(tidy_table3_substations(datasets)))
        write_text_atomic(folder / "table4_substations.csv", tidy_csv(tidy_table4_substations(datasets)))
        write_text_atomic(folder / "table3_substations.md", "# Table 3 per substation: operating points (%)\n\n"
                          + to_markdown(table3_substations(datasets), digits=1))
        write_text_atomic(folder / "table4_substations.md", "# Table 4 per substation, the region first\n\n"
                          + to_markdown(table4_substations(datasets), dict(TABLE4_ROWS), digits=3))
    return t3, t4


# ---------------------------------------------------------------------------
# Red reasons and the rules that differ between cases (for the report)
# ---------------------------------------------------------------------------


def red_breakdown(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Red points per case and feeder (counted as Table 3 counts), by direction, by the limit that makes them
    red (``red_reason``) and by how the verdict was established (``red_established``); only feeders with red
    points, only reasons that occur."""
    from flexopt.results.schema import RED_ESTABLISHED

    rows = []
    for case, ds in datasets.items():
        order = ("feeder", "interval", "bid_point")
        counted = ((ds.bid_point != 0) & (np.abs(ds.quantity_mw) > 1e-9)).transpose(*order).values
        red = counted & (ds.status.transpose(*order).values == RED)
        reason = ds.red_reason.transpose(*order).values
        how = ds.red_established.transpose(*order).values if "red_established" in ds else np.zeros_like(reason)
        point = np.broadcast_to(ds.bid_point.values[None, None, :], red.shape)
        for i, feeder in enumerate(ds.feeder.values):
            mask = red[i]
            if not mask.any():
                continue
            row = {"case": case, "feeder": str(feeder), "red points": int(mask.sum()),
                   "upward": int((point[i][mask] > 0).sum()), "downward": int((point[i][mask] < 0).sum())}
            row.update({name.replace("_", " "): int((reason[i][mask] == code).sum())
                        for code, name in enumerate(REASONS) if code})
            row.update({f"by {name.replace('_', ' ')}": int((how[i][mask] == code).sum())
                        for code, name in enumerate(RED_ESTABLISHED) if code})
            rows.append(row)
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows).set_index(["case", "feeder"])
    keep = [c for c in frame.columns if c in ("red points", "upward", "downward") or frame[c].any()]
    return frame[keep]


def case_settings(scenario, case) -> dict[str, str]:
    """The rules of a case as short texts, one per setting (bid rules, reactive support, remedies, limits,
    prices, DERs, changed feeders), for the report's table of the rules that differ between cases."""
    from flexopt.language.expressions import render
    from flexopt.language.summary import bid_rules_table, feeder_changes_text, reactive_text

    limits, study = case.limits, case.study
    settings = {"extends": case.extends or "—"}
    for rule in bid_rules_table(case).to_dict("records"):
        parts = [f"participation {rule['participation']}"] if rule["participation"] != "-" else []
        parts += [f"{d} {rule[f'{d} quantity']} at {rule[f'{d} price (EUR/MWh)']}" for d in ("down", "up")
                  if rule[f"{d} quantity"] != "-"]
        settings[f"bids: {rule['applies to']}"] = "; ".join(parts) or "no offer"
    settings.update({
        "reactive support": reactive_text(case),
        "DSO remedies": ", ".join(study.remedies) or "none",
        "activation": study.activation,
        "bid points per direction": str(study.bid_points_per_direction),
        "voltage limits": f"{limits.v_min_pu:g}–{limits.v_max_pu:g} pu",
        "line loading limit": f"{limits.line_loading_percent:g} %",
        "transformer loading limit": f"{limits.transformer_loading_percent:g} %",
    })
    for price in case.prices:
        scale = f" × {price.scale:g}" if price.scale != 1 else ""
        settings[f"price {price.name}"] = (render(price.expr) + scale if price.expr is not None else
                                           f"{price.path.name if price.path else ''} column {price.column}{scale} "
                                           f"{price.unit}")
    for der in case.ders:
        settings[f"DER {der.name}"] = f"{der.kind} {der.rated_mw:g} MW on {der.position.feeder}"
    settings["feeders changed"] = feeder_changes_text(scenario, case) or "—"
    if study.placement_draws:
        settings["placement draws"] = str(study.placement_draws)
    return settings


def _stored_settings(ds: xr.Dataset) -> dict[str, str]:
    """A dataset's settings: those stored at assessment (``case_settings``), else what its attributes say."""
    import json

    if "case_settings" in ds.attrs:
        return dict(json.loads(str(ds.attrs["case_settings"])))
    a = ds.attrs
    return {"reactive support": str(a.get("reactive_remuneration", "?")), "DSO remedies": str(a.get("remedies", "?")),
            "activation": str(a.get("activation", "?")), "bid points per direction": str(ds.sizes["bid_point"] // 2),
            "voltage limits": f"{a.get('v_min_limit_pu', float('nan')):g}–{a.get('v_max_limit_pu', float('nan')):g} pu",
            "line loading limit": f"{a.get('loading_limit_percent', float('nan')):g} %",
            "transformer loading limit": f"{a.get('transformer_loading_limit_percent', float('nan')):g} %"}


def rule_differences(datasets: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """The settings that differ between the cases: one row per setting, one column per case ("—": the case
    has no such rule). Empty with fewer than two cases or when every setting agrees."""
    settings = {case: _stored_settings(ds) for case, ds in datasets.items()}
    keys = list(dict.fromkeys(k for s in settings.values() for k in s))
    rows = {k: [settings[c].get(k, "—") for c in settings] for k in keys}
    differing = {k: v for k, v in rows.items() if len(set(v)) > 1}
    frame = pd.DataFrame.from_dict(differing, orient="index", columns=list(settings)) if differing else pd.DataFrame()
    return frame.rename_axis("setting") if len(datasets) > 1 else pd.DataFrame()
