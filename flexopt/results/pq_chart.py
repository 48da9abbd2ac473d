"""Report stage, the TSO's view: figures of the P-Q chart at the PCC (``study { pq area N directions }``).

Three figures per case: the chart of one interval per feeder and for the substation, with the
bid points of that interval drawn on it in their traffic-light colours; small multiples of the
substation's chart for the typical days of each season (one outline per hour); the chart's area
over the year. Each comes with a caption the report prints under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

from flexopt.results.drawing import (CHART_KINDS, HOUR_COLOURS, STATUS_COLOURS, case_title, file_part,
                                     interval_groups, new_figure, save_png, season_spans, status_handles)
from flexopt.results.schema import GREEN, ORANGE, RED

CHART_FILL = "#e0e0e0"
CHART_EDGE = "#424242"


@dataclass(frozen=True)
class ChartFigure:
    """A written figure of the P-Q chart: its file, a title and a caption for the report."""

    path: Path
    title: str
    caption: str


def has_chart(ds: xr.Dataset) -> bool:
    return "pq_p_mw" in ds.variables


def charted_feeders(ds: xr.Dataset) -> list[str]:
    """The feeders with a chart in at least one interval (not those without DERs)."""
    return [str(f) for f in ds.feeder.values if bool(np.isfinite(ds.pq_p_mw.sel(feeder=f)).any())]


def interval_label(ds: xr.Dataset, interval: int) -> str:
    point = ds.isel(interval=interval)
    if "time" in ds.coords:
        return str(np.datetime_as_string(point.time.values, unit="h")).replace("T", " ") + " h"
    return f"{point.season.item()} {point.day_type.item()} day, {int(point.hour)}:00"


def busiest_interval(ds: xr.Dataset) -> int:
    """The interval to show: the one with the most orange and red bid points over all feeders, and of
    those the one whose substation chart is largest (the DSO's limits at work, the TSO's widest choice)."""
    blocked = ((ds.status == ORANGE) | (ds.status == RED)).sum(dim=("feeder", "bid_point")).values
    area = np.nan_to_num(ds.pq_substation_area_mw_mvar.values, nan=-1.0)
    return int(np.lexsort((-area, -blocked))[0])


def _polygon(ax, p: np.ndarray, q: np.ndarray, **style) -> None:
    if np.isfinite(p).all() and np.isfinite(q).all():
        ax.add_patch(Polygon(np.stack([p, q], axis=1), closed=True, **style))


def draw_interval_chart(ds: xr.Dataset, interval: int):
    """One panel per charted feeder and one for the substation: the chart, its vertices, the bid points."""
    feeders = charted_feeders(ds)
    panels = feeders + ["substation"]
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure = new_figure(4.0 * columns, 3.6 * rows + 0.6)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    point = ds.isel(interval=interval)
    for ax, name in zip(axes, panels):
        if name == "substation":
            p, q = point.pq_substation_p_mw.values, point.pq_substation_q_mvar.values
            area = float(point.pq_substation_area_mw_mvar)
            ax.set_title(f"substation (MV busbar), {area:.1f} MW·Mvar", fontsize=9)
        else:
            chart = point.sel(feeder=name)
            p, q = chart.pq_p_mw.values, chart.pq_q_mvar.values
            ax.set_title(f"{name}, {float(chart.pq_area_mw_mvar):.1f} MW·Mvar", fontsize=9)
            status = chart.status.values
            for code in (GREEN, ORANGE, RED):
                mine = status == code
                ax.scatter(chart.p_pcc_mw.values[mine], chart.q_pcc_mvar.values[mine], s=14,
                           color=STATUS_COLOURS[code], zorder=3)
            working = chart.sel(bid_point=0)
            ax.plot([float(working.p_pcc_mw)], [float(working.q_pcc_mvar)], marker="x", color="black", zorder=4)
        _polygon(ax, p, q, facecolor=CHART_FILL, edgecolor=CHART_EDGE, linewidth=1.0, zorder=1)
        ax.plot(p, q, linestyle="none", marker=".", markersize=4, color=CHART_EDGE, zorder=2)
        ax.autoscale_view()
        ax.set_xlabel("P at the PCC (MW, + import)", fontsize=8)
        ax.set_ylabel("Q at the PCC (Mvar, + import)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, color="#eeeeee")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles = [Polygon([[0, 0]], facecolor=CHART_FILL, edgecolor=CHART_EDGE, label="P-Q chart (reachable, no limit "
                       "violated)"), *status_handles(short=True),
               Line2D([], [], marker="x", linestyle="none", color="black", label="working point")]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    figure.get_layout_engine().set(rect=(0, 0.06, 1, 0.94))
    figure.suptitle(f"{case_title(ds)} — P-Q chart at the PCC, {interval_label(ds, interval)}", fontsize=10)
    return figure


def draw_typical_days(ds: xr.Dataset):
    """Small multiples of the substation's chart: a row per season, a column per day type, an outline
    per hour coloured by the hour. None when the periods are not typical days."""
    from flexopt.results.year_figures import is_over_year

    if is_over_year(ds) or "season" not in ds.coords:
        return None
    seasons = list(dict.fromkeys(str(s) for s in ds.season.values))
    day_types = list(dict.fromkeys(str(d) for d in ds.day_type.values))
    figure = new_figure(2.6 * len(day_types) + 0.8, 2.3 * len(seasons) + 0.6)
    axes = figure.subplots(len(seasons), len(day_types), squeeze=False, sharex=True, sharey=True)
    p_all, q_all = ds.pq_substation_p_mw.values, ds.pq_substation_q_mvar.values
    for i, season in enumerate(seasons):
        for j, day_type in enumerate(day_types):
            ax = axes[i, j]
            for t in np.flatnonzero((ds.season.values == season) & (ds.day_type.values == day_type)):
                hour = int(ds.hour.values[t])
                _polygon(ax, p_all[t], q_all[t], fill=False, edgecolor=HOUR_COLOURS(hour % 24), linewidth=0.8)
            ax.set_title(f"{season}, {day_type}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, color="#eeeeee")
        axes[i, 0].set_ylabel("Q (Mvar)", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("P (MW, + import)", fontsize=8)
    finite = np.isfinite(p_all) & np.isfinite(q_all)
    if finite.any():
        pad_p, pad_q = 0.05 * np.ptp(p_all[finite]) + 0.1, 0.05 * np.ptp(q_all[finite]) + 0.1
        axes[0, 0].set_xlim(p_all[finite].min() - pad_p, p_all[finite].max() + pad_p)
        axes[0, 0].set_ylim(q_all[finite].min() - pad_q, q_all[finite].max() + pad_q)
    mappable = figure.colorbar(_hour_scale(), ax=axes, shrink=0.6, ticks=[0, 6, 12, 18, 23])
    mappable.set_label("hour of the day", fontsize=8)
    figure.suptitle(f"{case_title(ds)} — substation P-Q chart through the typical days", fontsize=10)
    return figure


def _hour_scale():
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    return ScalarMappable(norm=Normalize(0, 23), cmap=HOUR_COLOURS)


def draw_area_over_year(ds: xr.Dataset):
    """The chart's area per interval: each feeder with DERs, and the substation."""
    figure = new_figure(11.0, 3.6)
    ax = figure.subplots()
    x = np.arange(ds.sizes["interval"])
    for feeder in charted_feeders(ds):
        ax.plot(x, ds.pq_area_mw_mvar.sel(feeder=feeder).values, linewidth=0.9, label=feeder)
    ax.plot(x, ds.pq_substation_area_mw_mvar.values, color="black", linewidth=1.3, label="substation")
    groups = interval_groups(ds)
    for start, stop, season in season_spans(groups) if len(groups) < 100 else []:
        ax.axvline(start - 0.5, color="#bdbdbd", linewidth=0.8)
        ax.text(0.5 * (start + stop), 1.0, season, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8)
    ax.set_xlim(-0.5, len(x) - 0.5)
    ax.set_xlabel("interval (seasons × day types × hours)" if "time" not in ds.coords else "hour of the year",
                  fontsize=8)
    ax.set_ylabel("area of the P-Q chart (MW·Mvar)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, color="#eeeeee")
    ax.legend(fontsize=8, ncol=len(charted_feeders(ds)) + 1, loc="upper left", frameon=False)
    figure.suptitle(f"{case_title(ds)} — the TSO's room at the PCC over the year", fontsize=10, y=1.06)
    return figure


def chart_captions(ds: xr.Dataset, label: str) -> dict[str, tuple[str, str]]:
    """(title, caption) of each kind of chart figure of a case; ``label`` names the case ("Case A (...)")."""
    when = interval_label(ds, busiest_interval(ds))
    return {
        "pq_chart": (f"P-Q chart at the PCC, {when}",
                     f"{label}, {when} (the interval with the most orange and red bid points): the region of "
                     f"exchange at each feeder's PCC that its DERs can reach inside their offers and capability "
                     f"curves without violating a limit ({ds.sizes['direction']} directions, every vertex confirmed "
                     f"by an AC power flow), with the interval's bid points in their traffic-light colours; the "
                     f"substation's chart adds the feeders' charts and is cut by the transformer's limit."),
        "pq_days": ("Substation P-Q chart through the typical days",
                    f"{label}: the substation's chart at every hour of each typical day, one outline per hour."),
        "pq_area": ("Area of the P-Q chart",
                    f"{label}: the area of each feeder's chart and of the substation's over the intervals of the "
                    f"year."),
    }


def chart_figures(ds: xr.Dataset, case: str, folder: Path) -> list[ChartFigure]:
    """Draw and write the P-Q chart's figures of a case (none when the case has no chart)."""
    if not has_chart(ds):
        return []
    folder = Path(folder)
    captions = chart_captions(ds, f"Case {case}")
    drawn = {"pq_chart": draw_interval_chart(ds, busiest_interval(ds)), "pq_days": draw_typical_days(ds),
             "pq_area": draw_area_over_year(ds)}
    return [ChartFigure(save_png(drawn[kind], folder / f"{file_part(case)}_{kind}.png"), *captions[kind])
            for kind in CHART_KINDS if drawn[kind] is not None]
