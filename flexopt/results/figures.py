"""Report stage, figures: PNG files drawn from stored datasets (no recomputation).

- ``pq_scatter``: the paper's Figure 3 — every bid point of every interval of one feeder in the
  (ΔP, ΔQ, interval) space at the PCC, coloured by its traffic light.
- ``potential_profile``: Figures 4–8 — the feeder-head active power of the working point and of
  every bid point, interval by interval, grouped by season and day type.
- ``price_quantity_curves``: the substation's upward and downward price/quantity curves, offered
  and feasible (reachable without crossing a red point, as in Table 4).
- ``compare_bars``: Table 4's metrics of several cases side by side.
- ``write_figures``: all of them for a set of cases, as ``flexopt run``/``report`` leave them.

Drawing uses matplotlib's object interface with the Agg canvas only (``Figure`` +
``FigureCanvasAgg``: no pyplot, no backend switch, no change to ``rcParams``), so figures may be
drawn from several threads or processes at once. The PNG files carry no software tag or
timestamp: the same dataset gives byte-identical files. Each file is written to a temporary file
beside its target and renamed (``flexopt.files.atomic_path``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from flexopt.files import atomic_path
from flexopt.results.schema import DIRECTIONS, GREEN, ORANGE, RED
from flexopt.results.tables import TABLE4_ROWS, feasible_points, table4

DPI = 150
#: No "Software" tag (it carries matplotlib's version) and no time: files depend on the data only.
PNG_METADATA: dict[str, str | None] = {"Software": None}

STATUS_COLOURS = {GREEN: "#2e7d32", ORANGE: "#ef6c00", RED: "#c62828"}
STATUS_LABELS = {
    GREEN: "green: within the limits",
    ORANGE: "orange: within the limits with the DSO's remedies",
    RED: "red: violates a limit (blocked)",
}
DIRECTION_COLOURS = {"up": "#1565c0", "down": "#6a1b9a"}
DIRECTION_TITLES = {"up": "upward offers (more export to the TSO)", "down": "downward offers (less export)"}
OFFERED_COLOUR = "#424242"
MOVED_MW = 1e-9  # a bid point moves the PCC when |quantity| exceeds this (as Table 3 counts them)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _figure(width_in: float, height_in: float, layout: str | None = "constrained") -> Figure:
    """A figure on its own Agg canvas (no pyplot state)."""
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI, metadata=PNG_METADATA, facecolor="white")
    return path


def _case_title(ds: xr.Dataset) -> str:
    scenario = ds.attrs.get("scenario", "")
    case = ds.attrs.get("case", "")
    title = ds.attrs.get("case_title", "")
    return f"{scenario}, case {case}" + (f" ({title})" if title else "")


def _status_handles(counts: Mapping[int, int] | None = None) -> list[Line2D]:
    """Legend entries for the traffic lights, with the number of points drawn when given."""
    handles = []
    for code in (GREEN, ORANGE, RED):
        label = STATUS_LABELS[code] + (f" — {counts.get(code, 0)} points" if counts is not None else "")
        handles.append(Line2D([], [], marker="o", linestyle="none", markersize=6, color=STATUS_COLOURS[code],
                              label=label))
    return handles


def _feeder_arrays(ds: xr.Dataset, feeder: str, *names: str) -> list[np.ndarray]:
    """(interval, bid_point) arrays of the named variables for one feeder."""
    sub = ds.sel(feeder=feeder)
    return [sub[name].transpose("interval", "bid_point").values for name in names]


def _interval_groups(ds: xr.Dataset) -> list[tuple[int, int, str, str]]:
    """Runs of consecutive intervals of the same season and day type: (start, stop, season, day type)."""
    n = ds.sizes["interval"]
    if n == 0:
        return []
    season = ds["season"].values if "season" in ds.coords else np.full(n, "")
    day_type = ds["day_type"].values if "day_type" in ds.coords else np.full(n, "")
    groups = []
    start = 0
    for i in range(1, n + 1):
        if i == n or season[i] != season[start] or day_type[i] != day_type[start]:
            groups.append((start, i, str(season[start]), str(day_type[start])))
            start = i
    return groups


def _file_part(name: str) -> str:
    """A case or feeder name made safe as part of a file name."""
    return re.sub(r"[^\w.+-]", "_", str(name))


# ---------------------------------------------------------------------------
# Figure 3: bid points in the (ΔP, ΔQ, interval) space
# ---------------------------------------------------------------------------


def pq_scatter(ds: xr.Dataset, feeder: str, path: Path) -> Path:
    """The paper's Figure 3 for one feeder: all bid points of all intervals, coloured by status.

    x is the offered variation of active power at the PCC (``quantity_mw``, + upward), y the change of
    the reactive exchange at the PCC from the working point (``q_pcc_mvar`` − its value at bid point 0,
    + more import), z the interval index. Points without a power-flow solution are left out; the
    legend counts every point drawn, the working points (k = 0) included.
    """
    quantity, q_pcc, status = _feeder_arrays(ds, feeder, "quantity_mw", "q_pcc_mvar", "status")
    working = int(np.flatnonzero(ds.bid_point.values == 0)[0])
    delta_q = q_pcc - q_pcc[:, working:working + 1]
    interval = np.broadcast_to(ds.interval.values[:, None], quantity.shape)
    drawable = np.isfinite(quantity) & np.isfinite(delta_q)

    figure = _figure(8.0, 7.0, layout=None)
    figure.subplots_adjust(left=0.02, right=0.95, bottom=0.17, top=0.93)
    ax = figure.add_subplot(projection="3d", computed_zorder=False)
    counts = {}
    for code, size in ((GREEN, 5.0), (ORANGE, 14.0), (RED, 18.0)):  # rare colours larger and on top
        mask = drawable & (status == code)
        counts[code] = int(mask.sum())
        if counts[code]:
            ax.scatter(quantity[mask], delta_q[mask], interval[mask], s=size, c=STATUS_COLOURS[code],
                       depthshade=False, linewidths=0, zorder=2 + code, rasterized=True)
    ax.set_xlabel("ΔP at the PCC (MW)\n+ upward = more export", fontsize=9, labelpad=10)
    ax.set_ylabel("ΔQ at the PCC (Mvar)\n+ = more import", fontsize=9, labelpad=10)
    ax.set_zlabel("interval", fontsize=9, labelpad=6)
    ax.tick_params(labelsize=7)
    ax.set_zlim(0, max(ds.sizes["interval"] - 1, 1))
    ax.set_title(f"{_case_title(ds)}\nfeeder {feeder}: bid points at the PCC, every interval", fontsize=11)
    figure.legend(handles=_status_handles(counts), loc="lower center", ncol=1, fontsize=8, frameon=False)
    return _save(figure, path)


# ---------------------------------------------------------------------------
# Figures 4-8: PCC power of every bid point, interval by interval
# ---------------------------------------------------------------------------


def potential_profile(ds: xr.Dataset, feeder: str, path: Path) -> Path:
    """Figures 4–8 for one feeder: PCC active power of the working point (line) and the bid points (dots).

    The x axis runs over the intervals 0..N−1, separated and labelled by season and day type. Dots are
    the bid points that move the PCC (|quantity| > 0), coloured by status; the shaded band spans
    the lowest to the highest bid point of each interval. The legend counts the dots, i.e. the points
    Table 3 counts.
    """
    quantity, p_pcc, status = _feeder_arrays(ds, feeder, "quantity_mw", "p_pcc_mw", "status")
    points = ds.bid_point.values
    working = int(np.flatnonzero(points == 0)[0])
    n = ds.sizes["interval"]
    x = np.arange(n)
    xx = np.broadcast_to(x[:, None], p_pcc.shape)
    moved = (points[None, :] != 0) & (np.abs(quantity) > MOVED_MW) & np.isfinite(p_pcc)

    figure = _figure(12.0, 5.2)
    ax = figure.add_subplot()
    finite = np.where(np.isfinite(p_pcc), p_pcc, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # intervals without any power-flow solution: a gap
        low, high = np.nanmin(finite, axis=1), np.nanmax(finite, axis=1)
    ax.fill_between(x, low, high, color="#b0bec5", alpha=0.45, linewidth=0, step=None,
                    label="range of the bid points")
    ax.plot(x, p_pcc[:, working], color="black", linewidth=1.0, label="expected working point (bid point 0)",
            zorder=3)
    counts = {}
    for code, size in ((GREEN, 2.2), (ORANGE, 3.6), (RED, 4.0)):
        mask = moved & (status == code)
        counts[code] = int(mask.sum())
        if counts[code]:
            ax.plot(xx[mask], p_pcc[mask], linestyle="none", marker="o", markersize=size, markeredgewidth=0,
                    color=STATUS_COLOURS[code], zorder=4 + code, rasterized=True)
    ax.axhline(0.0, color="#757575", linewidth=0.6, zorder=1)

    groups = _interval_groups(ds)
    season_starts = {start for start, _, _ in _season_spans(groups)}
    for start, *_ in groups[1:]:
        new_season = start in season_starts
        ax.axvline(start - 0.5, color="#424242" if new_season else "#9e9e9e",
                   linewidth=1.0 if new_season else 0.6, linestyle="-" if new_season else ":", zorder=2)
    ax.set_xticks([(start + stop - 1) / 2 for start, stop, _, _ in groups],
                  [day for _, _, _, day in groups], fontsize=7)
    ax.tick_params(axis="x", length=0)
    for start, stop, season in _season_spans(groups):
        ax.text((start + stop - 1) / 2, 1.01, season, transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=9, fontweight="bold")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_xlabel("interval: the hours of each typical day, grouped by season and day type", fontsize=9)
    ax.set_ylabel("active power at the PCC (MW)\n+ import from the transmission grid", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(f"{_case_title(ds)} — feeder {feeder}: PCC power of the working point and of every bid point",
                 fontsize=11, pad=18)
    handles = [Line2D([], [], color="black", linewidth=1.0, label="expected working point (bid point 0)"),
               Patch(color="#b0bec5", alpha=0.45, label="range of the bid points")] + _status_handles(counts)
    figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return _save(figure, path)


def _season_spans(groups: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str]]:
    """Runs of consecutive groups of the same season: (start, stop, season)."""
    spans: list[tuple[int, int, str]] = []
    for start, stop, season, _ in groups:
        if spans and spans[-1][2] == season:
            spans[-1] = (spans[-1][0], stop, season)
        else:
            spans.append((start, stop, season))
    return spans


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
    figure = _figure(11.0, 4.8)
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
    figure.suptitle(f"{_case_title(ds)} — price/quantity curves of the substation (all feeders)", fontsize=11)
    handles = [Line2D([], [], color=OFFERED_COLOUR, linewidth=1.0, linestyle="--", marker="o", markersize=3,
                      label="offered (every bid point, ignoring the grid)"),
               Line2D([], [], color=STATUS_COLOURS[GREEN], linewidth=4.5, marker="o", markersize=7,
                      label="feasible: reachable from the working point without crossing a red point")]
    figure.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return _save(figure, path)


# ---------------------------------------------------------------------------
# Table 4 of several cases
# ---------------------------------------------------------------------------


def _unit(label: str) -> str:
    """The unit written in parentheses at the end of a Table 4 label."""
    found = re.search(r"\(([^()]*)\)\s*$", label)
    return found.group(1) if found else ""


def _bar_labels(ax, bars, values: np.ndarray, rotation: float = 0.0) -> None:
    ax.bar_label(bars, labels=["—" if not np.isfinite(v) else f"{v:.3g}" for v in values], fontsize=6, padding=1,
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
    ncols = 3 if len(panels) <= 6 else 4
    nrows = -(-len(panels) // ncols)
    panel_width = float(np.clip(1.2 + 0.75 * len(cases), 3.6, 6.0))
    figure = _figure(ncols * panel_width, 3.4 * nrows + 1.0)
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
                _bar_labels(ax, bars, data)
            title = labels[metric]
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(_unit(title), fontsize=8)
        ax.set_xticks(x, cases, fontsize=8, rotation=30 if long_names else 0, ha="right" if long_names else "center")
        ax.tick_params(axis="y", labelsize=7)
        ax.margins(y=0.15)
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
    return _save(figure, path)


# ---------------------------------------------------------------------------
# All figures of a run
# ---------------------------------------------------------------------------


def write_figures(datasets: Mapping[str, xr.Dataset], folder: Path) -> list[Path]:
    """Every figure of a set of cases in ``folder``; returns the written paths in a fixed order.

    Per case: ``<case>_<feeder>_pq.png`` for each feeder with a non-zero offer,
    ``<case>_<feeder>_profile.png`` for each feeder, ``<case>_curves.png``; then ``compare.png``
    when there are two cases or more.
    """
    folder = Path(folder)
    written: list[Path] = []
    for case, ds in datasets.items():
        name = _file_part(case)
        for feeder in (str(f) for f in ds.feeder.values):
            if np.any(np.abs(ds.quantity_mw.sel(feeder=feeder).values) > MOVED_MW):
                written.append(pq_scatter(ds, feeder, folder / f"{name}_{_file_part(feeder)}_pq.png"))
            written.append(potential_profile(ds, feeder, folder / f"{name}_{_file_part(feeder)}_profile.png"))
        written.append(price_quantity_curves(ds, folder / f"{name}_curves.png"))
    if len(datasets) >= 2:
        written.append(compare_bars(datasets, folder / "compare.png"))
    return written
