"""Report stage, the 2-D view of the paper's Figure 3: bid points in the (ΔP, ΔQ) plane at the PCC.

One row of panels per feeder with offers, one column per season; green points are dots coloured
by the hour of the day, orange and red points are drawn on top in their traffic-light colours.
The legend of each row counts the feeder's points exactly as Table 3 does (bid point ≠ 0 with a
non-zero quantity; the working point is not counted), over all seasons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from flexopt.results.drawing import (HOUR_COLOURS, STATUS_COLOURS, case_title, counted_points, feeder_arrays,
                                     new_figure, offering_feeders, save_png, status_counts, status_handles)
from flexopt.results.schema import GREEN, ORANGE, RED


def seasons_of(ds: xr.Dataset) -> list[str]:
    """The seasons in the order of the intervals ("" when the dataset has none)."""
    return list(dict.fromkeys(str(s) for s in ds.season.values)) if "season" in ds.coords else [""]


def draw_pq_seasons(ds: xr.Dataset, feeders: list[str] | None = None) -> Figure | None:
    """The figure (None when no feeder offers anything): ΔP offered against ΔQ at the PCC, per season."""
    feeders = offering_feeders(ds) if feeders is None else feeders
    if not feeders:
        return None
    seasons = seasons_of(ds)
    n = ds.sizes["interval"]
    season = ds.season.values.astype(str) if "season" in ds.coords else np.full(n, "")
    hours = ds.hour.values if "hour" in ds.coords else np.arange(n) % 24
    working = int(np.flatnonzero(ds.bid_point.values == 0)[0])
    width_in, height_in = 2.5 * len(seasons) + 2.6, 2.1 * len(feeders) + 1.6
    figure = new_figure(width_in, height_in, layout=None)  # a fixed layout: constrained layout costs seconds here
    axes = figure.subplots(len(feeders), len(seasons), squeeze=False, sharex="row", sharey="row", gridspec_kw=dict(
        left=0.9 / width_in, right=1.0 - 1.7 / width_in, top=1.0 - 0.6 / height_in, bottom=1.2 / height_in,
        wspace=0.08, hspace=0.45))
    for row, feeder in enumerate(feeders):
        quantity, q_pcc, status = feeder_arrays(ds, feeder, "quantity_mw", "q_pcc_mvar", "status")
        delta_q = q_pcc - q_pcc[:, working:working + 1]
        counted = counted_points(ds, feeder)
        drawable = counted & np.isfinite(quantity) & np.isfinite(delta_q)
        hour = np.broadcast_to(hours[:, None], quantity.shape)
        in_season = np.broadcast_to(season[:, None], quantity.shape)
        for column, name in enumerate(seasons):
            ax = axes[row, column]
            here = drawable & (in_season == name)
            green = here & (status == GREEN)
            ax.scatter(quantity[green], delta_q[green], c=hour[green], cmap=HOUR_COLOURS, vmin=-0.5, vmax=23.5,
                       s=5, linewidths=0, zorder=2)
            for code, marker, size in ((ORANGE, "D", 14), (RED, "X", 26)):
                mask = here & (status == code)
                if mask.any():
                    ax.scatter(quantity[mask], delta_q[mask], s=size, marker=marker, c=STATUS_COLOURS[code],
                               linewidths=0, zorder=3 + code)
            ax.axhline(0.0, color="#9e9e9e", linewidth=0.6, zorder=1)
            ax.axvline(0.0, color="#9e9e9e", linewidth=0.6, zorder=1)
            ax.set_title(f"feeder {feeder}, {name}" if name else f"feeder {feeder}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(True, color="#eeeeee", linewidth=0.5)
            if column:
                ax.tick_params(labelleft=False)
            else:
                ax.set_ylabel("ΔQ at the PCC (Mvar)\n+ more import", fontsize=8)
            if row == len(feeders) - 1:
                ax.set_xlabel("ΔP offered (MW), + upward", fontsize=8)
        if drawable.any() and np.abs(delta_q[drawable]).max() < 1e-3:  # no reactive change worth a scale of
            axes[row, 0].set_ylim(-0.01, 0.01)  # 1e-5 (whose exponent would sit on the panel's title)
        unsolved = int((counted & ~np.isfinite(delta_q)).sum())
        handles = status_handles(status_counts(ds, feeder), short=True)
        if unsolved:
            handles.append(Line2D([], [], linestyle="none", label=f"not drawn: {unsolved:,} without a power flow"))
        axes[row, -1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7,
                             frameon=False, title=f"{feeder}, Table 3 count", title_fontsize=7)
    bar_axes = figure.add_axes((0.3, 0.42 / height_in, 0.4, 0.12 / height_in))  # its label below, in the figure
    colourbar = figure.colorbar(ScalarMappable(Normalize(-0.5, 23.5), HOUR_COLOURS), cax=bar_axes,
                                orientation="horizontal", ticks=range(0, 24, 3))
    colourbar.set_label("hour of the day of the green points (orange ◆ and red ✕ drawn on top)", fontsize=8)
    colourbar.ax.tick_params(labelsize=7)
    figure.suptitle(f"{case_title(ds)} — bid points at the PCC, per season (working point at 0, 0)", fontsize=11,
                    y=1.0 - 0.15 / height_in, va="top")
    return figure


def pq_seasons(ds: xr.Dataset, path: Path, feeders: list[str] | None = None) -> Path | None:
    """Write :func:`draw_pq_seasons` as PNG to ``path``; None (nothing written) when no feeder offers."""
    figure = draw_pq_seasons(ds, feeders)
    return None if figure is None else save_png(figure, path)
