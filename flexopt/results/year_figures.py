"""Report stage: figures for datasets over the hours of a year (``periods full year`` or
``periods representative N days``), readable with 8760 intervals.

* :func:`traffic_light_heat_maps` — per feeder, an image of hour of the day (rows) x day of the year
  (columns) coloured by the traffic light of that hour's bids in one direction: the worst light of
  the bid points that move the PCC (red if any is red, orange if any needs reactive support, green
  otherwise; grey where nothing is offered). Representative days are spread over the calendar days
  they stand for (the dataset's ``day_period``), so the year reads the same way in both modes.
* :func:`duration_curves` — per feeder, the market potential and the feasible flexibility (Table 4's
  reachable point) of each direction sorted from the largest down, against the hours of the year
  they last (each interval weighs ``weight_h`` hours), so a representative run is comparable with
  the full year.

Both take a case dataset (as :func:`flexopt.results.store.to_dataset` writes it, or as read back from
``<case>.nc``) and a PNG path, write the figure atomically and return the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from flexopt.results.drawing import (DIRECTION_COLOURS, DIRECTION_TITLES, MOVED_MW, STATUS_COLOURS, case_title,
                                     new_figure, save_png)
from flexopt.results.schema import DIRECTIONS, GREEN, ORANGE, RED
from flexopt.results.tables import feasible_points

NO_OFFER = -1
NO_OFFER_COLOUR = "#e0e0e0"
MONTH_STARTS = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_over_year(ds: xr.Dataset) -> bool:
    """The dataset runs over the hours of a year (full year or representative days), not typical days."""
    return "day_period" in ds or "time" in ds.coords


def hourly_lights(ds: xr.Dataset, direction: str = "up") -> np.ndarray:
    """(feeder, interval): the worst traffic light of the direction's bid points that move the PCC
    (``NO_OFFER`` where none does)."""
    points = ds.bid_point.values
    chosen = points[points > 0] if direction == "up" else points[points < 0]
    sub = ds.sel(bid_point=chosen)
    status = sub.status.transpose("feeder", "interval", "bid_point").values
    moved = np.abs(sub.quantity_mw.transpose("feeder", "interval", "bid_point").values) > MOVED_MW
    worst = np.where(moved, status, NO_OFFER).max(axis=2)
    return worst


def day_hour_grid(ds: xr.Dataset, values: np.ndarray) -> np.ndarray:
    """(..., 24, days of the year) from values over the intervals: the full year's hours in order, or
    each representative period spread over the calendar days it stands for."""
    if "day_period" in ds:
        by_period = values.reshape(*values.shape[:-1], -1, 24)  # (..., period, hour)
        grid = by_period[..., ds.day_period.values, :]  # (..., day, hour)
    elif "time" in ds.coords:
        n = values.shape[-1]
        grid = values[..., : n - n % 24].reshape(*values.shape[:-1], -1, 24)
    else:
        raise ValueError("a heat map of the year needs a dataset over hourly periods (a 'time' coordinate): "
                         "assess with 'periods full year' or 'periods representative N days'")
    return np.swapaxes(grid, -1, -2)


def traffic_light_heat_maps(ds: xr.Dataset, path: Path, direction: str = "up") -> Path:
    """Write one heat map per feeder (hour x day of the year, traffic lights of ``direction``) to ``path``."""
    lights = day_hour_grid(ds, hourly_lights(ds, direction))  # (feeder, 24, day)
    feeders = [str(f) for f in ds.feeder.values]
    figure = new_figure(11.0, 0.4 + 1.7 * len(feeders))
    axes = np.atleast_1d(figure.subplots(len(feeders), 1, sharex=True, squeeze=False)[:, 0])
    colours = ListedColormap([NO_OFFER_COLOUR, STATUS_COLOURS[GREEN], STATUS_COLOURS[ORANGE], STATUS_COLOURS[RED]])
    for ax, feeder, grid in zip(axes, feeders, lights):
        ax.imshow(grid + 1, aspect="auto", origin="lower", interpolation="nearest", cmap=colours, vmin=0, vmax=3,
                  extent=(0, grid.shape[1], 0, 24))
        ax.set_ylabel(f"{feeder}\nhour")
        ax.set_yticks([0, 6, 12, 18, 24])
        shares = [(grid == light).sum() for light in (GREEN, ORANGE, RED)]
        total = max(sum(shares), 1)
        ax.set_title(f"{feeder}: " + ", ".join(f"{100.0 * n / total:.1f} % {name}" for n, name in
                                               zip(shares, ("green", "orange", "red"))) + " of the offered hours",
                     fontsize=8, loc="left")
    axes[-1].set_xticks(MONTH_STARTS, MONTH_NAMES)
    axes[-1].set_xlabel("day of the year")
    mode = "representative days spread over the days they stand for" if "day_period" in ds else "every hour"
    figure.suptitle(f"{case_title(ds)} — traffic lights of the {DIRECTION_TITLES[direction]}, worst bid point of "
                    f"each hour ({mode})", fontsize=9)
    figure.legend(handles=[Patch(color=STATUS_COLOURS[GREEN], label="green: feasible"),
                           Patch(color=STATUS_COLOURS[ORANGE], label="orange: with reactive support"),
                           Patch(color=STATUS_COLOURS[RED], label="red: blocked"),
                           Patch(color=NO_OFFER_COLOUR, label="no offer")], loc="outside lower center", ncols=4,
                  fontsize=8)
    return save_png(figure, path)


def duration_curve(values_mw: np.ndarray, weight_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hours, MW): the values sorted from the largest down, each lasting its weight (a step curve)."""
    order = np.argsort(-np.asarray(values_mw, dtype=float), kind="stable")
    hours = np.concatenate([[0.0], np.cumsum(np.asarray(weight_h, dtype=float)[order])])
    sorted_mw = np.asarray(values_mw, dtype=float)[order]
    return hours, np.concatenate([sorted_mw, sorted_mw[-1:]]) if len(sorted_mw) else np.zeros(1)


def duration_curves(ds: xr.Dataset, path: Path) -> Path:
    """Write the duration curves of market potential and feasible flexibility, per feeder and direction."""
    feeders = [str(f) for f in ds.feeder.values]
    weight = ds.weight_h.values
    points = {direction: feasible_points(ds, direction) for direction in DIRECTIONS}
    figure = new_figure(10.0, 0.6 + 2.0 * len(feeders))
    axes = figure.subplots(len(feeders), len(DIRECTIONS), sharex=True, squeeze=False)
    for row, feeder in enumerate(feeders):
        for col, direction in enumerate(DIRECTIONS):
            ax = axes[row, col]
            p = points[direction]
            for values, style, label in ((p.potential_mw[row], "--", "market potential"),
                                         (p.quantity_mw[row], "-", "feasible flexibility")):
                hours, mw = duration_curve(values, weight)
                ax.step(hours, mw, where="post", linestyle=style, color=DIRECTION_COLOURS[direction], label=label)
            lost = float(((p.potential_mw[row] - p.quantity_mw[row]) * weight).sum()) / 1000.0
            ax.set_title(f"{feeder}, {direction}: {lost:.2f} GWh/y blocked or beyond red", fontsize=8, loc="left")
            ax.set_ylabel("MW")
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("hours of the year the value is reached or exceeded")
        ax.set_xlim(0, float(weight.sum()))
    figure.suptitle(f"{case_title(ds)} — duration curves of the flexibility offered and feasible", fontsize=9)
    return save_png(figure, path)
