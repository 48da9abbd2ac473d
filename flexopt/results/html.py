"""Report stage, HTML: one self-contained file with the summary, Tables 3 and 4, the figures and provenance.

Everything comes from the stored datasets (no recomputation); figures are embedded as
base64 PNG (small palette PNGs, see ``drawing.save_png``), so the file can be mailed or archived
alone. The page has a table of contents; every figure is a :class:`FigureSection` (title, caption,
file), and ``write_report(..., extra=...)`` appends further figure sections after the run's own.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
import xarray as xr

from flexopt.files import write_text_atomic

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1b1b1b; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; margin-top: 1.6rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; text-align: right; }
th { white-space: normal; } td { white-space: nowrap; } td.text { white-space: normal; text-align: left; }
nav.toc { background: #fafafa; border: 1px solid #e0e0e0; padding: 0.4rem 1.2rem; font-size: 0.9rem; }
nav.toc ul { margin: 0.2rem 0; padding-left: 1.2rem; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
.green { color: #2e7d32; } .orange { color: #ef6c00; } .red { color: #c62828; }
code { background: #f5f5f5; padding: 0 0.2rem; }
.warning { background: #fff4e5; border-left: 4px solid #ef6c00; padding: 0.4rem 0.7rem; }
"""


def _table(frame: pd.DataFrame, digits: int) -> str:
    text = frame.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="—", border=0, escape=True)
    return f"<div class=scroll>{text}</div>"


def _summary(datasets: Mapping[str, xr.Dataset]) -> str:
    first = next(iter(datasets.values()))
    rows = []
    for case, ds in datasets.items():
        kinds = {}
        for kind, feeder, rated in zip(ds.der_kind.values, ds.der_feeder.values, ds.der_rated_mw.values):
            kinds.setdefault(str(kind), 0.0)
            kinds[str(kind)] += float(rated)
        ders = ", ".join(f"{kind} {mw:.2f} MW" for kind, mw in sorted(kinds.items()))
        rows.append(f"<tr><td>{html.escape(case)}</td><td>{html.escape(str(ds.attrs.get('case_title', '')))}</td>"
                    f"<td>{html.escape(str(ds.attrs.get('reactive_remuneration', '')))}</td>"
                    f"<td>{html.escape(str(ds.attrs.get('remedies', '')))}</td>"
                    f"<td>{html.escape(ders)}</td></tr>")
    weights = first.weight_h.values
    names = str(first.attrs.get("substations", "")).split()
    feeders = html.escape(", ".join(map(str, first.feeder.values)))
    if len(names) > 1:  # a region: each substation's own transformer and busbar
        ratings = str(first.attrs.get("substation_rated_mva", "")).split()
        busbars = str(first.attrs.get("substation_busbar_pu", "")).split()
        each = ", ".join(f"{html.escape(n)} {r} MVA at {b} pu" for n, r, b in zip(names, ratings, busbars))
        grid = (f"A region of {len(names)} substations ({each or html.escape(', '.join(names))}) with "
                f"{first.sizes['feeder']} feeders ({feeders})")
    else:
        grid = (f"Substation with {first.sizes['feeder']} feeder(s) ({feeders}), HV/MV transformer "
                f"{first.attrs.get('transformer_rated_mva', float('nan')):g} MVA, busbar held at "
                f"{first.attrs.get('busbar_pu', float('nan')):g} pu")
    return (
        f"<p>{grid}; {first.sizes['interval']} typical-day intervals "
        f"weighing {weights.sum():g} h/y; {first.sizes['bid_point'] // 2} bid points per direction "
        f"({html.escape(str(first.attrs.get('activation', '')))} activation). Limits: voltage "
        f"{first.attrs.get('v_min_limit_pu'):g}–{first.attrs.get('v_max_limit_pu'):g} pu, line loading "
        f"{first.attrs.get('loading_limit_percent'):g} %, transformer loading "
        f"{first.attrs.get('transformer_loading_limit_percent', float('nan')):g} %.</p>"
        "<table><tr><th>case</th><th>title</th><th>reactive support</th><th>DSO remedies</th><th>DERs</th></tr>"
        + "".join(rows) + "</table>"
    )


def _provenance(datasets: Mapping[str, xr.Dataset]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(case)}</td><td>{html.escape(str(ds.attrs.get('scenario', '')))}</td>"
        f"<td><code>{html.escape(str(ds.attrs.get('scenario_sha256', ''))[:16])}…</code></td>"
        f"<td>{html.escape(str(ds.attrs.get('flexopt_version', '')))}</td>"
        f"<td>{html.escape(str(ds.attrs.get('created', '')))}</td></tr>"
        for case, ds in datasets.items())
    return ("<table><tr><th>case</th><th>scenario</th><th>scenario text SHA-256</th><th>flexopt</th>"
            "<th>assessed (UTC)</th></tr>" + rows + "</table>")


@dataclass(frozen=True)
class FigureSection:
    """One figure of the report: the heading it sits under, its caption (plain text) and its PNG file."""

    title: str
    caption: str
    path: Path
    alt: str = ""  # a short text for the image itself (default: the title)


COUNTING = ("Counted points: every (interval, bid point ≠ 0) whose offered quantity is not zero, i.e. the bid "
            "points that move the PCC. The expected working point (bid point 0) is assessed too, but never "
            "counted: its own violations are Table 3's last column. Every legend that gives a number of points "
            "counts exactly these, so the figures agree with Table 3.")

_CAPTIONS = {
    "profiles": "{case}: active power at the PCC (+ import) of the expected working point (black line) and of "
                "every bid point (dots in their traffic-light colours; the grey band spans the lowest to the "
                "highest bid point), interval by interval over the typical days — the paper's Figures 4–8, one "
                "panel per feeder. Each panel's legend counts its feeder's points as Table 3 does.",
    "pq": "{case}: the bid points in the (ΔP, ΔQ) plane at the PCC — the offered change of active power (+ upward) "
          "against the change of the reactive exchange from the working point (+ more import) — one row per "
          "feeder with offers, one column per season (the paper's Figure 3, drawn in 2-D). Green points are "
          "coloured by the hour of the day; orange (◆) and red (✕) points are drawn on top. The working point is "
          "the origin and is not counted; points without a power-flow solution cannot be drawn, but are counted.",
    "curves": "{case}: price/quantity curves of the whole substation. Dashed: the energy offered per year at bid "
              "points 1..K, ignoring the grid, against the average price of the activated bids; green: what is "
              "reachable from the working point without crossing a red point — its last point is Table 4's "
              "feasible flexibility and unit cost without the DSO's remedies.",
    "lights_up": "{case}: the traffic light of every hour of the year for the upward bids (rows: hour of the day, "
                 "columns: day of the year) — the worst light of the hour's bid points that move the PCC; "
                 "representative days are spread over the calendar days they stand for.",
    "lights_down": "{case}: the same for the downward bids.",
    "durations": "{case}: duration curves — the market potential (dashed) and the feasible flexibility (solid: "
                 "reachable without crossing a red point) of each feeder and direction, sorted from the largest "
                 "down against the hours of the year they last (each interval weighs the hours it stands for).",
    "compare": "Table 4 per case, side by side: upward (blue) and downward (purple) bars; the dashed outline "
               "is the market potential, hatched bars the unit cost with the DSO's remedies.",
}


_ALTS = {"lights_up": "traffic lights of the upward bids over the year",
         "lights_down": "traffic lights of the downward bids over the year",
         "durations": "duration curves of the flexibility offered and feasible",
         "profiles": "PCC power of every bid point, per feeder", "pq": "bid points in the P–Q plane, per season",
         "curves": "price/quantity curves", "compare": "Table 4 per case"}


def figure_sections(datasets: Mapping[str, xr.Dataset], paths: Sequence[Path]) -> list[FigureSection]:
    """The run's figures as report sections with real captions (by the file names ``case_figures`` writes)."""
    from flexopt.results.drawing import file_part
    from flexopt.results.pq_chart import CHART_KINDS, chart_captions

    sections = []
    for path in paths:
        path = Path(path)
        if path.name == "compare.png":
            sections.append(FigureSection("Cases compared", _CAPTIONS["compare"], path, _ALTS["compare"]))
            continue
        for case, ds in datasets.items():
            kind = path.stem[len(file_part(case)) + 1:] if path.stem.startswith(file_part(case) + "_") else None
            title = ds.attrs.get("case_title", "")
            label = f"Case {case}" + (f" ({title})" if title else "")
            if kind in _CAPTIONS:
                sections.append(FigureSection(label, _CAPTIONS[kind].format(case=label), path,
                                              f"{label}: {_ALTS[kind]}"))
                break
            if kind in CHART_KINDS:
                what, caption = chart_captions(ds, label)[kind]
                sections.append(FigureSection(label, caption, path, f"{label}: {what}"))
                break
        else:
            sections.append(FigureSection("Other figures", path.stem.replace("_", " "), path))
    return sections


def _figure(section: FigureSection) -> str:
    data = base64.b64encode(section.path.read_bytes()).decode("ascii")
    alt = html.escape(section.alt or section.title)
    return (f'<figure><img alt="{alt}" src="data:image/png;base64,{data}" loading="lazy">'
            f"<figcaption>{html.escape(section.caption)}</figcaption></figure>")


def _table3(table3: pd.DataFrame) -> str:
    """Table 3 with one row per case and feeder, so that it fits the page whatever the number of cases."""
    cases = list(dict.fromkeys(table3.columns.get_level_values(0)))
    long = pd.concat({case: table3[case] for case in cases}, names=["case", "feeder"])
    long = long.rename(columns={"points": "counted points", "green_percent": "green %", "orange_percent": "orange %",
                                "red_percent": "red %", "no_power_flow_percent": "no power flow %",
                                "working_point_violations": "intervals whose working point violates limits"})
    long.columns.name = None
    for column in ("counted points", "intervals whose working point violates limits"):
        if column in long:
            long[column] = long[column].astype("Int64")
    return _table(long, 1)


def _table4(table4: pd.DataFrame, heading: str = "{direction} offers") -> str:
    """Table 4 (or a region's per substation), one table per direction under ``heading``."""
    from flexopt.results.tables import DIRECTIONS, TABLE4_ROWS

    labelled = table4.rename(index=dict(TABLE4_ROWS))
    parts = []
    for direction in DIRECTIONS:
        own = labelled.xs(direction, axis=1, level="direction")
        words = "upward" if direction == "up" else "downward"
        parts.append(f"<h3>{heading.format(direction=words)}</h3>" + _table(own, 3))
    return "".join(parts)


def _region(datasets: Mapping[str, xr.Dataset]) -> list[tuple[str, str, str]]:
    """A region's own chapter, first after the scenario: Tables 3 and 4 for the region and each substation."""
    from flexopt.results.tables import is_region, table3_substations, table4_substations

    if not is_region(datasets):
        return []
    t3 = table3_substations(datasets)
    parts = ["<p>The region adds up its substations; each substation adds up its own feeders, whose exchange "
             "its own transformer carries (each transformer is checked on its feeders only).</p>",
             "<h3>Table 3 — operating points per substation (% of the counted bid points, pooled)</h3>",
             _table3(t3).replace("<th>feeder</th>", "<th>substation</th>")]
    parts.append(_table4(table4_substations(datasets), "Table 4 per substation — {direction} offers"))
    return [("region", "The region: its substations", "".join(parts))]


def _rules(datasets: Mapping[str, xr.Dataset]) -> str:
    from flexopt.results.tables import rule_differences

    if len(datasets) < 2:
        return "<p>One case: nothing to compare.</p>"
    frame = rule_differences(datasets)
    if frame.empty:
        return "<p>The cases share every rule.</p>"
    rows = "".join("<tr><td>" + html.escape(str(key)) + "</td>" + "".join(
        f"<td class=text>{html.escape(str(v))}</td>" for v in values) + "</tr>" for key, values in frame.iterrows())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    return ("<p>Only the settings in which the cases differ (bid rules, reactive support, remedies, limits, prices, "
            "DERs, feeders); every other setting is the same in all of them.</p>"
            f"<div class=scroll><table><tr><th>setting</th>{head}</tr>{rows}</table></div>")


def _reds(datasets: Mapping[str, xr.Dataset]) -> str:
    from flexopt.results.tables import red_breakdown

    frame = red_breakdown(datasets)
    if frame.empty:
        return "<p>No counted point is red in any case.</p>"
    return ("<p>Red points per case and feeder (counted as in Table 3), by direction, by the limit that makes them "
            "red, and by how the verdict was established (<code>red_reason</code> and <code>red_established</code> "
            "in the dataset; an exact AC check proves that no allowed remedy restores the limits).</p>"
            + _table(frame, 0))


def write_report(datasets: Mapping[str, xr.Dataset], folder: Path, table3: pd.DataFrame, table4: pd.DataFrame,
                 figures: Sequence[Path], extra: Sequence[FigureSection] = (), figures_note: str | None = None) -> Path:
    """report.html in ``folder``: contents, summary, rule differences, Tables 3 and 4, red reasons, every
    figure embedded (the run's, then ``extra``), provenance."""
    from flexopt.results.tables import is_region, working_point_notes

    first = next(iter(datasets.values()))
    scenario = str(first.attrs.get("scenario", ""))
    pictures = figure_sections(datasets, figures) + list(extra)
    by_title: dict[str, list[FigureSection]] = {}
    for section in pictures:
        by_title.setdefault(section.title, []).append(section)
    figure_html = "".join(f"<h3 id=fig-{i}>{html.escape(title)}</h3>" + "".join(_figure(s) for s in group)
                          for i, (title, group) in enumerate(by_title.items()))
    chapters = [  # (anchor, heading, body)
        ("scenario", "Scenario", _summary(datasets) + f"<p>{html.escape(COUNTING)}</p>"),
        *_region(datasets),
        ("rules", "Rules that differ between the cases", _rules(datasets)),
        ("table3", "Table 3 — operating points per feeder (% of the counted bid points)", _table3(table3)
         + "".join(f"<p class=warning>{html.escape(note)}</p>" for note in working_point_notes(datasets))),
        ("reds", "Red points by reason", _reds(datasets)),
        ("table4", f"Table 4 — flexibility of the whole {'region' if is_region(datasets) else 'substation'}",
         _table4(table4)),
        ("figures", "Figures", figure_html or f"<p>{html.escape(figures_note or 'No figures.')}</p>"),
        ("provenance", "Provenance", _provenance(datasets)),
    ]
    toc = "".join(f'<li><a href="#{a}">{html.escape(h)}</a>' + (
        "<ul>" + "".join(f'<li><a href="#fig-{i}">{html.escape(t)}</a></li>' for i, t in enumerate(by_title)) + "</ul>"
        if a == "figures" and by_title else "") + "</li>" for a, h, _ in chapters)
    body = [
        f"<h1>Flexibility at the TSO/DSO interface — {html.escape(scenario)}</h1>",
        "<p>For every feeder, typical-day interval and bid point, the DERs' offers were checked with an AC "
        "power flow: <b class=green>green</b> points violate no limit, <b class=orange>orange</b> points are "
        "feasible once the DSO buys reactive support (or redispatch, in a local market), "
        "<b class=red>red</b> points would be blocked by the DSO. Method: docs/method.md.</p>",
        f"<nav class=toc><b>Contents</b><ul>{toc}</ul></nav>",
    ] + [f"<h2 id={a}>{html.escape(h)}</h2>{b}" for a, h, b in chapters]
    text = ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>flexopt — {html.escape(scenario)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    path = folder / "report.html"
    write_text_atomic(path, text)
    return path


@dataclass(frozen=True)
class WrittenReport:
    """What `write_outputs` wrote, and the tables it wrote (so that nobody computes them twice)."""

    table3: pd.DataFrame
    table4: pd.DataFrame
    paths: tuple[Path, ...]


def write_outputs(datasets: Mapping[str, xr.Dataset], folder: Path, figures: bool = True,
                  drawn: Mapping[str, list[Path]] | None = None, extra: Sequence[FigureSection] = (),
                  tables: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> WrittenReport:
    """Tables (CSV, Markdown), figures (PNG; those of ``drawn`` cases already written) and report.html for
    stored case datasets, in ``folder``. Without ``figures``: tables and a report without figures. ``tables``:
    Tables 3 and 4 of these datasets, written to ``folder`` already (``tables.write_tables``'s return)."""
    from flexopt.results.tables import write_tables

    table3, table4 = tables if tables is not None else write_tables(datasets, folder)
    pictures: list[Path] = []
    if figures:
        from flexopt.results.figures import write_figures

        pictures = write_figures(datasets, folder, drawn)
    report = write_report(datasets, folder, table3, table4, pictures, extra if figures else (),
                          None if figures else "Figures were not drawn (flexopt run --no-figures).")
    tables = [folder / n for n in ("table3.csv", "table3.md", "table4.csv", "table4.md", "table3_substations.csv",
                                   "table3_substations.md", "table4_substations.csv", "table4_substations.md")
              if (folder / n).exists()]
    return WrittenReport(table3, table4, tuple(tables + pictures + [report]))
