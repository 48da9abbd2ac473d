"""Report stage, figures: PNG files drawn from stored datasets (no recomputation).

- ``potential_profiles``: Figures 4–8 — per case, one panel per feeder: the feeder-head active power
  of the working point and of every bid point, interval by interval, grouped by season and day type.
- ``pq_seasons`` (module ``pq_seasons``): Figure 3 in 2-D — ΔP against ΔQ at the PCC per season,
  coloured by hour.
- ``price_quantity_curves``: the substation's upward and downward price/quantity curves, offered
  and feasible (reachable without crossing a red point, as in Table 4).
- ``compare_bars``: Table 4's metrics of several cases side by side.
- ``case_figures`` / ``write_figures``: all of them for one case / a set of cases (with the year's heat maps and
  duration curves of ``year_figures`` over a year of hours, and the P-Q chart's figures of ``pq_chart``).

Every legend that counts points counts them as Table 3 does: the bid points that move the PCC
(bid point ≠ 0, non-zero quantity); the working point (bid point 0) is drawn but never counted.
Canvas, colours and the small palette PNGs: ``flexopt.results.drawing``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from flexopt.results.drawing import (BAND_COLOUR, DIRECTION_COLOURS, DIRECTION_TITLES, OFFERED_COLOUR, STATUS_COLOURS,
                                     case_title, counted_points, feeder_arrays, file_part, interval_groups,
                                     new_figure, save_png, season_spans, status_counts, status_handles)
from flexopt.results.pq_seasons import pq_seasons
from flexopt.results.schema import DIRECTIONS, GREEN, ORANGE, RED
from flexopt.results.tables import TABLE4_ROWS, feasible_points, table4

#: Older names, kept for modules that draw with them.
_figure, _save, _case_title, _file_part = new_figure, save_png, case_title, file_part


# ---------------------------------------------------------------------------
# Figures 4-8: PCC power of every bid point, interval by interval, one panel per feeder
# ---------------------------------------------------------------------------


def _profile_panel(ax, ds: xr.Dataset, feeder: str, top: bool, bottom: bool) -> None:
    p_pcc, status = feeder_arrays(ds, feeder, "p_pcc_mw", "status")
    working = int(np.flatnonzero(ds.bid_point.values == 0)[0])
    n = ds.sizes["interval"]
    x = np.arange(n)
    xx = np.broadcast_to(x[:, None], p_pcc.shape)
    drawn = counted_points(ds, feeder) & np.isfinite(p_pcc)
    finite = np.where(np.isfinite(p_pcc), p_pcc, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # intervals without any power-flow solution: a gap
        low, high = np.nanmin(finite, axis=1), np.nanmax(finite, axis=1)
    ax.fill_between(x, low, high, color=BAND_COLOUR, alpha=0.45, linewidth=0)
    ax.plot(x, p_pcc[:, working], color="black", linewidth=0.9, zorder=3)
    for code, size in ((GREEN, 2.0), (ORANGE, 3.4), (RED, 3.8)):
        mask = drawn & (status == code)
        if mask.any():
            ax.plot(xx[mask], p_pcc[mask], linestyle="none", marker="o", markersize=size, markeredgewidth=0,
                    color=STATUS_COLOURS[code], zorder=4 + code)
    ax.axhline(0.0, color="#757575", linewidth=0.6, zorder=1)
    groups = interval_groups(ds)
    spans = season_spans(groups)
    season_starts = {start for start, _, _ in spans}
    for start, *_ in groups[1:]:
        new_season = start in season_starts
        ax.axvline(start - 0.5, color="#424242" if new_season else "#9e9e9e",
                   linewidth=1.0 if new_season else 0.6, linestyle="-" if new_season else ":", zorder=2)
    ax.set_xticks([(start + stop - 1) / 2 for start, stop, _, _ in groups],
                  [day for _, _, _, day in groups] if bottom else [], fontsize=7)
    ax.tick_params(axis="x", length=0)
    if top:
        for start, stop, season in spans:
            ax.text((start + stop - 1) / 2, 1.2, season, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=9, fontweight="bold")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylabel(f"{feeder}\nP at the PCC (MW)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    handles = [Line2D([], [], linestyle="none", label=f"feeder {feeder}, counted as in Table 3:")]
    ax.legend(handles=handles + status_handles(status_counts(ds, feeder), short=True), loc="lower right",
              bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=7, frameon=False, borderpad=0.1, borderaxespad=0.1,
              handletextpad=0.2, columnspacing=0.8)


def draw_profiles(ds: xr.Dataset) -> Figure:
    """Figures 4–8 of one case: PCC active power of the working point (line) and the bid points (dots),
    one panel per feeder. Dots are the points Table 3 counts, and each panel's legend counts them."""
    feeders = [str(f) for f in ds.feeder.values]
    width_in, height_in = 12.0, 2.0 * len(feeders) + 1.5
    figure = new_figure(width_in, height_in, layout=None)  # a fixed layout: constrained layout is slow
    axes = figure.subplots(len(feeders), 1, squeeze=False, sharex=True, gridspec_kw=dict(
        left=0.9 / width_in, right=1.0 - 0.2 / width_in, top=1.0 - 0.85 / height_in, bottom=0.85 / height_in,
        hspace=0.32))[:, 0]
    for i, (ax, feeder) in enumerate(zip(axes, feeders)):
        _profile_panel(ax, ds, feeder, top=i == 0, bottom=i == len(feeders) - 1)
    axes[-1].set_xlabel("interval: the hours of each typical day, grouped by season and day type", fontsize=8)
    figure.suptitle(f"{case_title(ds)} — active power at the PCC (+ import) of the working point and of every "
                    "bid point", fontsize=11, y=1.0 - 0.12 / height_in, va="top")
    handles = [Line2D([], [], color="black", linewidth=1.0, label="expected working point (bid point 0, not counted)"),
               Patch(color=BAND_COLOUR, alpha=0.45, label="range of the bid points")] + status_handles()
    figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return figure


def potential_profiles(ds: xr.Dataset, path: Path) -> Path:
    """Write :func:`draw_profiles` as PNG to ``path``."""
    return save_png(draw_profiles(ds), path)


# ---------------------------------------------------------------------------
# Price/quantity curves of the substation
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceQuantityCurve:
    """One direction's curve, one entry per bid point k = 1..K (energies summed over feeders, per year).

    ``offered_*`` use bid point k in every feeder and interval; ``feasible_*`` use the farthest point
    up to k reachable from the working point without crossing a red one (Table 4's rule), so the last
    feasible entry is Table 4's feasible flexibility and unit cost without remedies.
    """

    direction: str
    bid_point: np.ndarray  # signed k
    offered_gwh: np.ndarray  # GWh/y
    offered_price: np.ndarray  # EUR/MWh, NaN without energy
    feasible_gwh: np.ndarray
    feasible_price: np.ndarray


def price_quantity_curve(ds: xr.Dataset, direction: str) -> PriceQuantityCurve:
    """The substation's price/quantity curve of ``direction`` ("up" or "down")."""
    points = ds.bid_point.values
    chosen = np.sort(points[points > 0]) if direction == "up" else -np.sort(-points[points < 0])
    core = ds[["quantity_mw", "bid_cost_eur_per_h", "status"]]
    weight = ds.weight_h.values[None, :]
    offered_mwh, offered_eur, feasible_mwh, feasible_eur = [], [], [], []
    for i, k in enumerate(chosen):
        at_k = core.sel(bid_point=int(k)).transpose("feeder", "interval")
        offered_mwh.append(float((np.abs(at_k.quantity_mw.values) * weight).sum()))
        offered_eur.append(float((at_k.bid_cost_eur_per_h.values * weight).sum()))
        reached = feasible_points(core.sel(bid_point=chosen[:i + 1]), direction)
        feasible_mwh.append(float((reached.quantity_mw * weight).sum()))
        feasible_eur.append(float((reached.bid_cost_eur_per_h * weight).sum()))

    def price(eur: list[float], mwh: list[float]) -> np.ndarray:
        eur_a, mwh_a = np.array(eur, dtype=float), np.array(mwh, dtype=float)
        with np.errstate(all="ignore"):
            return np.where(mwh_a > 0, eur_a / mwh_a, np.nan)

    return PriceQuantityCurve(direction, chosen.astype(int), np.array(offered_mwh) / 1000.0,
                              price(offered_eur, offered_mwh), np.array(feasible_mwh) / 1000.0,
                              price(feasible_eur, feasible_mwh))


def price_quantity_curves(ds: xr.Dataset, path: Path) -> Path:
    """Upward and downward price/quantity curves of the whole substation, offered and feasible (two panels).

    For each bid point k = 1..K: the energy offered per year (GWh/y, over all feeders, each interval
    weighted by its hours) against the average price of the activated bids (bid cost / quantity,
    EUR/MWh). The feasible curve stops at the farthest point reachable without crossing red.
    """
    figure = new_figure(11.0, 4.8)
    axes = figure.subplots(1, 2)
    for ax, direction in zip(axes, DIRECTIONS):
        curve = price_quantity_curve(ds, direction)
        offered_ok = np.isfinite(curve.offered_price) & (curve.offered_gwh > 0)
        feasible_ok = np.isfinite(curve.feasible_price) & (curve.feasible_gwh > 0)
        if feasible_ok.any():
            ax.plot(curve.feasible_gwh[feasible_ok], curve.feasible_price[feasible_ok], color=STATUS_COLOURS[GREEN],
                    linewidth=4.5, marker="o", markersize=7, solid_capstyle="round", zorder=2)
        if offered_ok.any():
            ax.plot(curve.offered_gwh[offered_ok], curve.offered_price[offered_ok], color=OFFERED_COLOUR,
                    linewidth=1.0, linestyle="--", marker="o", markersize=3, zorder=3)
            last = int(np.flatnonzero(offered_ok)[-1])
            ax.annotate(f"k = {curve.bid_point[last]:+d}", (curve.offered_gwh[last], curve.offered_price[last]),
                        textcoords="offset points", xytext=(-4, 6), ha="right", fontsize=7, color=OFFERED_COLOUR)
            feasible_total = curve.feasible_gwh[-1]
            potential_total = curve.offered_gwh[-1]
            share = 100.0 * feasible_total / potential_total if potential_total > 0 else float("nan")
            ax.text(0.02, 0.97, f"market potential {potential_total:.3g} GWh/y\n"
                                f"feasible {feasible_total:.3g} GWh/y ({share:.1f} %)",
                    transform=ax.transAxes, ha="left", va="top", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "#bdbdbd", "boxstyle": "round,pad=0.3"})
        else:
            ax.text(0.5, 0.5, "no offers in this direction", transform=ax.transAxes, ha="center", va="center",
                    fontsize=10, color=OFFERED_COLOUR)
        ax.set_xlim(left=0)
        ax.set_title(DIRECTION_TITLES[direction], fontsize=10)
        ax.set_xlabel("energy offered per year (GWh/y), cumulative over bid points k = 1..K", fontsize=8)
        ax.set_ylabel("average price of the activated bids (EUR/MWh)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, color="#e0e0e0", linewidth=0.6)
    figure.suptitle(f"{case_title(ds)} — price/quantity curves of the substation (all feeders)", fontsize=11)
    handles = [Line2D([], [], color=OFFERED_COLOUR, linewidth=1.0, linestyle="--", marker="o", markersize=3,
                      label="offered (every bid point, ignoring the grid)"),
               Line2D([], [], color=STATUS_COLOURS[GREEN], linewidth=4.5, marker="o", markersize=7,
                      label="feasible: reachable from the working point without crossing a red point")]
    figure.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return save_png(figure, path)


# ---------------------------------------------------------------------------
# Table 4 of several cases
# ---------------------------------------------------------------------------


def _unit(label: str) -> str:
    """The unit written in parentheses at the end of a Table 4 label."""
    found = re.search(r"\(([^()]*)\)\s*$", label)
    return found.group(1) if found else ""


def _bar_labels(ax, bars, values: np.ndarray, rotation: float = 0.0) -> None:
    ax.bar_label(bars, labels=["—" if not np.isfinite(v) else f"{v:.3g}" for v in values], fontsize=7, padding=1.5,
                 rotation=rotation)


def compare_bars(datasets: Mapping[str, xr.Dataset], path: Path) -> Path:
    """Table 4's metrics per case as grouped bars (up and down side by side), a few small panels.

    Panels: feasible flexibility (with the market potential as an outline), its reduction, the cost
    of the feasible bids, reactive support and its cost, the unit cost without and with the DSO's
    remedies (hatched); redispatch and its cost when a case has any.
    """
    frame = table4(datasets)
    labels = dict(TABLE4_ROWS)
    cases = list(datasets)
    x = np.arange(len(cases))

    def values(metric: str, direction: str) -> np.ndarray:
        return np.array([float(frame.loc[metric, (case, direction)]) for case in cases])

    panels = ["feasible_flexibility_gwh_per_y", "feasible_reduction_percent", "cost_meur_per_y",
              "reactive_support_gvarh_per_y", "reactive_cost_keur_per_y", "unit_cost_eur_per_mwh"]
    redispatch = frame.loc[["redispatch_gwh_per_y", "redispatch_cost_keur_per_y"]].to_numpy(dtype=float)
    if np.nan_to_num(np.abs(redispatch)).sum() > 0:
        panels += ["redispatch_gwh_per_y", "redispatch_cost_keur_per_y"]
    ncols = 2 if len(cases) > 2 else 3  # the figure is shown 11 in wide: few, wide panels keep labels legible
    nrows = -(-len(panels) // ncols)
    figure = new_figure(11.0, 3.1 * nrows + 0.9)
    axes = np.atleast_1d(figure.subplots(nrows, ncols)).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    long_names = max(len(c) for c in cases) > 4
    for ax, metric in zip(axes, panels):
        if metric == "unit_cost_eur_per_mwh":
            width = 0.2
            for j, direction in enumerate(DIRECTIONS):
                plain, remedied = values(metric, direction), values("unit_cost_with_remedies_eur_per_mwh", direction)
                colour = DIRECTION_COLOURS[direction]
                bars = ax.bar(x + (2 * j - 1.5) * width, plain, width, color=colour)
                _bar_labels(ax, bars, plain, rotation=90)
                bars = ax.bar(x + (2 * j - 0.5) * width, remedied, width, color="white", edgecolor=colour,
                              hatch="////", linewidth=0.8)
                _bar_labels(ax, bars, remedied, rotation=90)
            title = "unit cost, hatched with remedies (EUR/MWh)"
        else:
            width = 0.38
            for j, direction in enumerate(DIRECTIONS):
                offset = (j - 0.5) * width
                colour = DIRECTION_COLOURS[direction]
                if metric == "feasible_flexibility_gwh_per_y":
                    ax.bar(x + offset, values("market_potential_gwh_per_y", direction), width, color="none",
                           edgecolor=colour, linewidth=0.9, linestyle="--")
                data = values(metric, direction)
                bars = ax.bar(x + offset, data, width, color=colour)
                _bar_labels(ax, bars, data, rotation=90 if len(cases) > 3 else 0)
            title = labels[metric]
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(_unit(title), fontsize=8)
        ax.set_xticks(x, cases, fontsize=8, rotation=30 if long_names else 0, ha="right" if long_names else "center")
        ax.tick_params(axis="y", labelsize=7)
        ax.margins(y=0.28 if len(cases) > 3 else 0.15)
        ax.axhline(0.0, color="#757575", linewidth=0.6)
        ax.grid(True, axis="y", color="#e0e0e0", linewidth=0.6)
        ax.set_axisbelow(True)
    scenario = next(iter(datasets.values())).attrs.get("scenario", "")
    figure.suptitle(f"{scenario}: Table 4 per case (substation totals per year)", fontsize=11)
    handles = [Patch(color=DIRECTION_COLOURS["up"], label="upward"),
               Patch(color=DIRECTION_COLOURS["down"], label="downward"),
               Patch(facecolor="none", edgecolor="#424242", linestyle="--", label="market potential (outline)"),
               Patch(facecolor="white", edgecolor="#424242", hatch="////", label="with the DSO's remedies")]
    figure.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    return save_png(figure, path)


# ---------------------------------------------------------------------------
# All figures of a run
# ---------------------------------------------------------------------------


#: The parts of a case's figures, each drawn on its own (a worker task of a parallel run), in report order:
#: the profiles over time (or a year's heat maps and duration curves), P-Q per season, the price/quantity
#: curves, the P-Q chart's figures.
FIGURE_PARTS = ("time", "pq", "curves", "chart")


def case_figures(ds: xr.Dataset, case: str, folder: Path, parts: Sequence[str] = FIGURE_PARTS) -> list[Path]:
    """The figures of one case in ``folder`` (those of ``parts`` only). Typical days: ``<case>_profiles.png``; a
    year of hours (full year or representative days), where 8760 intervals cannot be read on a time axis:
    ``<case>_lights_up.png``, ``<case>_lights_down.png`` (heat maps) and ``<case>_durations.png``. Then
    ``<case>_pq.png`` (when a feeder offers anything), ``<case>_curves.png`` and, with a P-Q chart, its figures
    (``flexopt.results.pq_chart``)."""
    from flexopt.results.pq_chart import chart_figures
    from flexopt.results.year_figures import duration_curves, is_over_year, traffic_light_heat_maps

    unknown = set(parts) - set(FIGURE_PARTS)
    if unknown:
        raise ValueError(f"no figure part {sorted(unknown)}; the parts are {FIGURE_PARTS}")
    name = file_part(case)
    folder = Path(folder)
    written: list[Path | None] = []
    for part in FIGURE_PARTS:
        if part not in parts:
            continue
        if part == "time" and is_over_year(ds):
            written += [traffic_light_heat_maps(ds, folder / f"{name}_lights_up.png", "up"),
                        traffic_light_heat_maps(ds, folder / f"{name}_lights_down.png", "down"),
                        duration_curves(ds, folder / f"{name}_durations.png")]
        elif part == "time":
            written.append(potential_profiles(ds, folder / f"{name}_profiles.png"))
        elif part == "pq":
            written.append(pq_seasons(ds, folder / f"{name}_pq.png"))
        elif part == "curves":
            written.append(price_quantity_curves(ds, folder / f"{name}_curves.png"))
        else:
            written += [chart.path for chart in chart_figures(ds, case, folder)]
    return [p for p in written if p is not None]


#: The key of ``write_figures``'s ``done`` for the figure of all cases together (no case is named so).
ALL_CASES = "*"


def write_figures(datasets: Mapping[str, xr.Dataset], folder: Path, done: Mapping[str, list[Path]] | None = None
                  ) -> list[Path]:
    """Every figure of a set of cases in ``folder``, in a fixed order: each case's (see :func:`case_figures`;
    those in ``done`` are already drawn), then ``compare.png`` when there are two cases or more (drawn already
    when ``done`` lists it under :data:`ALL_CASES`)."""
    folder = Path(folder)
    written: list[Path] = []
    for case, ds in datasets.items():
        written += list((done or {}).get(case) or case_figures(ds, case, folder))
    if len(datasets) >= 2:
        written += list((done or {}).get(ALL_CASES) or [compare_bars(datasets, folder / "compare.png")])
    return written
