"""Report stage, drawing helpers every figure shares: canvas, colours, legends, small PNG files.

Drawing uses matplotlib's object interface with the Agg canvas only (``Figure`` +
``FigureCanvasAgg``: no pyplot, no backend switch, no change to ``rcParams``), so figures may be
drawn from several threads or processes at once. ``save_png`` maps the picture onto a fixed
palette (the figures' own colours exact, plus greys and blends for anti-aliasing) and writes an
indexed PNG: a third to a fifth of the RGBA file, no software tag or timestamp, so the same
dataset gives byte-identical files; written atomically (``flexopt.files.atomic_path``).
"""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from flexopt.files import atomic_path
from flexopt.results.schema import GREEN, ORANGE, RED

DPI = 100
STATUS_COLOURS = {GREEN: "#2e7d32", ORANGE: "#ef6c00", RED: "#c62828"}
STATUS_NAMES = {GREEN: "green", ORANGE: "orange", RED: "red"}
STATUS_LABELS = {
    GREEN: "green: within the limits",
    ORANGE: "orange: within the limits with the DSO's remedies",
    RED: "red: violates a limit (blocked)",
}
DIRECTION_COLOURS = {"up": "#1565c0", "down": "#6a1b9a"}
DIRECTION_TITLES = {"up": "upward offers (more export to the TSO)", "down": "downward offers (less export)"}
OFFERED_COLOUR = "#424242"
BAND_COLOUR = "#b0bec5"
#: 24 colours for the hours of the day (viridis: legible on white, far from the orange and red of the lights).
HOUR_COLOURS = ListedColormap(colormaps["viridis"](np.linspace(0.0, 1.0, 24)), name="hours")
MOVED_MW = 1e-9  # a bid point moves the PCC when |quantity| exceeds this (as Table 3 counts them)
#: Greys and exact colours the palette keeps (text, axes, grid lines).
_KEPT = ("#000000", "#ffffff", "#424242", "#757575", "#9e9e9e", "#bdbdbd", "#e0e0e0", "#eeeeee", "#f3f3f3",
         BAND_COLOUR, OFFERED_COLOUR, *STATUS_COLOURS.values(), *DIRECTION_COLOURS.values())


def new_figure(width_in: float, height_in: float, layout: str | None = "constrained") -> Figure:
    """A figure on its own Agg canvas (no pyplot state)."""
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


@functools.lru_cache(maxsize=1)
def _palette():
    """The fixed 256-colour palette: kept colours, their blends with white, greys, the hour colours."""
    from PIL import Image

    base = [np.array(to_rgb(c)) for c in _KEPT] + [np.array(c[:3]) for c in HOUR_COLOURS.colors]
    colours = list(base)
    for colour in base[9:]:  # anti-aliased edges of data on white
        colours += [colour + (1.0 - colour) * share for share in (0.35, 0.7)]
    colours += [np.full(3, g) for g in np.linspace(0.0, 1.0, 256 - len(colours))]
    flat = np.clip(np.round(np.array(colours[:256]) * 255), 0, 255).astype(np.uint8).ravel()
    image = Image.new("P", (1, 1))
    image.putpalette(flat.tolist())
    return image


def png_bytes(figure: Figure) -> bytes:
    """``figure`` as an indexed PNG on the fixed palette (no metadata, deterministic)."""
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    buffer.seek(0)
    with Image.open(buffer) as picture:
        rgb = picture.convert("RGB")
    indexed = rgb.quantize(palette=_palette(), dither=Image.Dither.NONE)
    out = io.BytesIO()
    indexed.save(out, format="PNG", optimize=True)
    return out.getvalue()


def save_png(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a small PNG to ``path`` atomically; returns ``path``."""
    path = Path(path)
    data = png_bytes(figure)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


def case_title(ds: xr.Dataset) -> str:
    scenario = ds.attrs.get("scenario", "")
    case = ds.attrs.get("case", "")
    title = ds.attrs.get("case_title", "")
    return f"{scenario}, case {case}" + (f" ({title})" if title else "")


def status_handles(counts: Mapping[int, int] | None = None, short: bool = False, marker: str = "o") -> list[Line2D]:
    """Legend entries for the traffic lights, with the number of points counted when given."""
    handles = []
    for code in (GREEN, ORANGE, RED):
        label = STATUS_NAMES[code] if short else STATUS_LABELS[code]
        if counts is not None:
            label += f" — {counts.get(code, 0):,} points"
        handles.append(Line2D([], [], marker=marker, linestyle="none", markersize=6, color=STATUS_COLOURS[code],
                              label=label))
    return handles


def counted_points(ds: xr.Dataset, feeder: str) -> np.ndarray:
    """(interval, bid_point) mask of the points Table 3 counts: bid point ≠ 0 with a non-zero quantity.
    The working point (bid point 0) is never counted."""
    quantity = ds.quantity_mw.sel(feeder=feeder).transpose("interval", "bid_point").values
    return (ds.bid_point.values[None, :] != 0) & (np.abs(quantity) > MOVED_MW)


def status_counts(ds: xr.Dataset, feeder: str) -> dict[int, int]:
    """Green, orange and red points of a feeder, counted as Table 3 counts them."""
    status = ds.status.sel(feeder=feeder).transpose("interval", "bid_point").values[counted_points(ds, feeder)]
    return {code: int((status == code).sum()) for code in (GREEN, ORANGE, RED)}


def feeder_arrays(ds: xr.Dataset, feeder: str, *names: str) -> list[np.ndarray]:
    """(interval, bid_point) arrays of the named variables for one feeder."""
    sub = ds.sel(feeder=feeder)
    return [sub[name].transpose("interval", "bid_point").values for name in names]


def interval_groups(ds: xr.Dataset) -> list[tuple[int, int, str, str]]:
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


def season_spans(groups: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str]]:
    """Runs of consecutive groups of the same season: (start, stop, season)."""
    spans: list[tuple[int, int, str]] = []
    for start, stop, season, _ in groups:
        if spans and spans[-1][2] == season:
            spans[-1] = (spans[-1][0], stop, season)
        else:
            spans.append((start, stop, season))
    return spans


#: The kinds of P-Q chart figure (``flexopt.results.pq_chart``), in the order they are drawn.
CHART_KINDS = ("pq_chart", "pq_days", "pq_area")
#: Every kind of figure a case may have, as the file name after ``<case>_``: what ``figures.case_figures``
#: writes (typical days or a year of hours, with or without a chart), and what a rerun may keep.
CASE_FIGURE_KINDS = ("profiles", "lights_up", "lights_down", "durations", "pq", "curves") + CHART_KINDS


def file_part(name: str) -> str:
    """A case or feeder name made safe as part of a file name."""
    return re.sub(r"[^\w.+-]", "_", str(name))


def offering_feeders(ds: xr.Dataset) -> list[str]:
    """The feeders with at least one non-zero offer."""
    return [str(f) for f in ds.feeder.values if np.any(np.abs(ds.quantity_mw.sel(feeder=f).values) > MOVED_MW)]
