"""Report stage, HTML: one self-contained file with the summary, Tables 3 and 4, the figures and provenance.

Everything comes from the stored datasets (no recomputation); figures are embedded as
base64 PNG, so the file can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd
import xarray as xr

from flexopt.files import write_text_atomic

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1b1b1b; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
.green { color: #2e7d32; } .orange { color: #ef6c00; } .red { color: #c62828; }
code { background: #f5f5f5; padding: 0 0.2rem; }
.warning { background: #fff4e5; border-left: 4px solid #ef6c00; padding: 0.4rem 0.7rem; }
"""


def _table(frame: pd.DataFrame, digits: int) -> str:
    return frame.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="—", border=0, escape=True)


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
    return (
        f"<p>Substation with {first.sizes['feeder']} feeder(s) ({html.escape(', '.join(map(str, first.feeder.values)))}), "
        f"HV/MV transformer {first.attrs.get('transformer_rated_mva', float('nan')):g} MVA, busbar held at "
        f"{first.attrs.get('busbar_pu', float('nan')):g} pu; {first.sizes['interval']} typical-day intervals "
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


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = html.escape(path.stem.replace("_", " "))
    return f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'


def write_report(datasets: Mapping[str, xr.Dataset], folder: Path, table3: pd.DataFrame, table4: pd.DataFrame,
                 figures: list[Path]) -> Path:
    """report.html in ``folder``: summary, Tables 3 and 4, every figure embedded, provenance."""
    from flexopt.results.tables import TABLE4_ROWS, working_point_notes

    first = next(iter(datasets.values()))
    scenario = str(first.attrs.get("scenario", ""))
    labelled = table4.rename(index=dict(TABLE4_ROWS))
    sections = [
        f"<h1>Flexibility at the TSO/DSO interface — {html.escape(scenario)}</h1>",
        "<p>For every feeder, typical-day interval and bid point, the DERs' offers were checked with an AC "
        "power flow: <b class=green>green</b> points violate no limit, <b class=orange>orange</b> points are "
        "feasible once the DSO buys reactive support (or redispatch, in a local market), "
        "<b class=red>red</b> points would be blocked by the DSO. Method: docs/method.md.</p>",
        "<h2>Scenario</h2>", _summary(datasets),
        "<h2>Table 3 — operating points per feeder (% of the bid points that move the PCC)</h2>",
        _table(table3, 1),
        "".join(f"<p class=warning>{html.escape(note)}</p>" for note in working_point_notes(datasets)),
        "<h2>Table 4 — flexibility of the whole substation</h2>", _table(labelled, 3),
        "<h2>Figures</h2>", "".join(_figure(p) for p in figures) or "<p>No figures.</p>",
        "<h2>Provenance</h2>", _provenance(datasets),
    ]
    text = ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>flexopt — {html.escape(scenario)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(sections) + "\n</body></html>\n")
    path = folder / "report.html"
    write_text_atomic(path, text)
    return path


@dataclass(frozen=True)
class WrittenReport:
    """What `write_outputs` wrote, and the tables it wrote (so that nobody computes them twice)."""

    table3: pd.DataFrame
    table4: pd.DataFrame
    paths: tuple[Path, ...]


def write_outputs(datasets: Mapping[str, xr.Dataset], folder: Path, figures: bool = True) -> WrittenReport:
    """Tables (CSV, Markdown), figures (PNG) and report.html for stored case datasets, in ``folder``."""
    from flexopt.results.tables import write_tables

    table3, table4 = write_tables(datasets, folder)
    pictures: list[Path] = []
    if figures:
        from flexopt.results.figures import write_figures

        pictures = write_figures(datasets, folder)
    report = write_report(datasets, folder, table3, table4, pictures)
    tables = [folder / n for n in ("table3.csv", "table3.md", "table4.csv", "table4.md")]
    return WrittenReport(table3, table4, tuple(tables + pictures + [report]))
