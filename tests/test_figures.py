"""Figures: every PNG of a run exists, is a readable picture with the traffic-light colours, and is reproducible."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from flexopt.results.figures import (STATUS_COLOURS, compare_bars, draw_profiles, potential_profiles, pq_seasons,
                                     price_quantity_curve, price_quantity_curves, write_figures)
from flexopt.results.pq_seasons import draw_pq_seasons
from flexopt.results.tables import GREEN, ORANGE, RED, substation_metrics, table3
from flexopt.run import run_scenario
from tests.conftest import ScenarioFolder
from tests.test_engine import SMALL

CASES = ("A", "NOQ")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = ScenarioFolder(tmp_path_factory.mktemp("small_figures"))
    path = folder.write(SMALL, "small.flex")
    paths = run_scenario(str(path), list(CASES), str(folder.root / "out"), quiet=True)
    return {case: xr.load_dataset(paths[case]) for case in CASES}


@pytest.fixture(scope="module")
def rendered(small, tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures")
    return folder, write_figures(small, folder)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def test_every_expected_figure_is_written_and_nothing_else(rendered):
    folder, paths = rendered
    expected = ["A_profiles.png", "A_pq.png", "A_curves.png", "NOQ_profiles.png", "NOQ_pq.png", "NOQ_curves.png",
                "compare.png"]
    assert [p.name for p in paths] == expected
    assert all(p.parent == folder and p.is_file() for p in paths)
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)  # no temporary file left behind


def test_every_figure_is_a_readable_non_blank_png(rendered):
    _, paths = rendered
    for path in paths:
        with Image.open(path) as image:
            image.verify()
        picture = pixels(path)
        height, width, _ = picture.shape
        assert width > 300 and height > 200, path.name
        assert picture.std() > 0, path.name
        packed = picture.astype(np.uint32)
        colours = np.unique((packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2])
        assert len(colours) > 20, path.name  # text, axes, data: not a flat picture


def test_the_traffic_light_colours_are_drawn(rendered):
    _, paths = rendered
    for path in paths:
        if path.name.endswith(("_profiles.png", "_curves.png")):
            flat = pixels(path).reshape(-1, 3)
            assert (flat == rgb(STATUS_COLOURS[GREEN])).all(axis=1).sum() > 20, path.name
    # Case A of the small scenario has orange and red points: more orange pixels than the legend alone gives.
    a, noq = (pixels(next(p for p in paths if p.name == f"{case}_pq.png")).reshape(-1, 3) for case in CASES)
    orange = rgb(STATUS_COLOURS[ORANGE])
    assert (a == orange).all(axis=1).sum() > (noq == orange).all(axis=1).sum()
    assert (noq == rgb(STATUS_COLOURS[RED])).all(axis=1).sum() > 0


def test_rendering_twice_gives_byte_identical_files(small, rendered, tmp_path):
    _, first = rendered
    second = write_figures(small, tmp_path)
    assert [p.name for p in second] == [p.name for p in first]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_figures_drawn_in_parallel_threads_equal_the_sequential_ones(small, rendered, tmp_path):
    _, first = rendered
    reference = {p.name: p.read_bytes() for p in first}
    ds = small["A"]
    jobs = [(pq_seasons, (ds, tmp_path / "A_pq.png")),
            (potential_profiles, (ds, tmp_path / "A_profiles.png")),
            (price_quantity_curves, (ds, tmp_path / "A_curves.png")),
            (compare_bars, (small, tmp_path / "compare.png"))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        written = list(pool.map(lambda job: job[0](*job[1]), jobs))
    for path in written:
        assert path.read_bytes() == reference[path.name], path.name


def test_the_price_quantity_curves_end_at_table_4(small):
    for ds in small.values():
        for direction in ("up", "down"):
            curve = price_quantity_curve(ds, direction)
            metrics = substation_metrics(ds, direction)
            assert len(curve.offered_gwh) == int(ds.bid_point.max())
            assert curve.offered_gwh[-1] == pytest.approx(metrics["market_potential_gwh_per_y"])
            assert curve.feasible_gwh[-1] == pytest.approx(metrics["feasible_flexibility_gwh_per_y"])
            if metrics["feasible_flexibility_gwh_per_y"] > 0:
                assert curve.feasible_price[-1] == pytest.approx(metrics["unit_cost_eur_per_mwh"])
            # Cumulative: more bid points never offer less, and the feasible part never exceeds the offer.
            assert np.all(np.diff(curve.offered_gwh) >= -1e-12)
            assert np.all(np.diff(curve.feasible_gwh) >= -1e-12)
            assert np.all(curve.feasible_gwh <= curve.offered_gwh + 1e-12)
    # Without reactive support, case NOQ blocks upward energy that case A keeps.
    assert price_quantity_curve(small["NOQ"], "up").feasible_gwh[-1] < price_quantity_curve(small["A"], "up").feasible_gwh[-1]


def test_a_case_without_offers_gets_profiles_but_no_pq_figure_and_one_case_no_comparison(small, tmp_path):
    quiet = small["A"].copy(deep=True)
    quiet["quantity_mw"] = quiet.quantity_mw * 0.0
    quiet["bid_cost_eur_per_h"] = quiet.bid_cost_eur_per_h * 0.0
    paths = write_figures({"Z": quiet}, tmp_path)
    assert [p.name for p in paths] == ["Z_profiles.png", "Z_curves.png"]
    for path in paths:
        assert pixels(path).std() > 0


def legend_counts(legend) -> dict[str, int]:
    """{"green": n, "orange": n, "red": n} from a legend's texts such as "green — 5,698 points"."""
    counts = {}
    for text in legend.get_texts():
        found = re.match(r"(green|orange|red)\b.* — ([0-9,]+) points$", text.get_text())
        if found:
            counts[found.group(1)] = int(found.group(2).replace(",", ""))
    return counts


def table3_counts(datasets, case: str, feeder: str) -> dict[str, int]:
    """The points Table 3 counts for a feeder, by colour: bid points other than the working point that move the
    PCC. Table 3 gives their number and their shares weighted by the hours each interval stands for; the legends
    give the numbers of points, which must add up to Table 3's."""
    ds = datasets[case].sel(feeder=feeder)
    counted = (ds.bid_point != 0) & (np.abs(ds.quantity_mw) > 1e-9)
    counts = {colour: int(((ds.status == code) & counted).sum()) for colour, code in
              (("green", GREEN), ("orange", ORANGE), ("red", RED))}
    assert sum(counts.values()) == table3(datasets)[case].loc[feeder, "points"]
    return counts


def test_every_legend_counts_the_points_table_3_counts(small):
    """The working point (bid point 0) is counted nowhere; every figure's legend agrees with Table 3."""
    for case, ds in small.items():
        expected = {str(f): table3_counts(small, case, str(f)) for f in ds.feeder.values}
        profiles = draw_profiles(ds)
        found = {}
        for ax in profiles.axes:
            legend = ax.get_legend()
            title = legend.get_texts()[0].get_text() if legend else ""
            if title.startswith("feeder "):
                found[title.split()[1].rstrip(",")] = legend_counts(legend)
        assert found == expected, case
        pq = draw_pq_seasons(ds)
        rows = {ax.get_legend().get_title().get_text().split(",")[0]: legend_counts(ax.get_legend())
                for ax in pq.axes if ax.get_legend()}
        assert rows == expected, case
    # The small case A has orange and red points: the check is not of zeros only.
    assert table3_counts(small, "A", "F1")["orange"] > 0 and table3_counts(small, "A", "F1")["red"] > 0
