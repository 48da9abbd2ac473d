"""A case's figures drawn from its stored dataset, in any process: all of them (a serial run, a dask task) or one
part at a time (a worker task of a local parallel run, see ``flexopt.sweep``), and compare.png of a run's cases."""

from __future__ import annotations

import os
from pathlib import Path


def draw_member(case_name: str, path: str, figures: str, parts: tuple[str, ...] | None = None) -> list[str]:
    """The case's figures (those of ``parts``, default all: see ``figures.FIGURE_PARTS``) drawn from its stored
    dataset into the folder ``figures``; returns their paths."""
    from flexopt.results.figures import FIGURE_PARTS, case_figures
    from flexopt.results.store import writing

    with writing(figures):
        drawn = case_figures(_stored(path), case_name, Path(figures), FIGURE_PARTS if parts is None else parts)
    return [str(p) for p in drawn]


def draw_compare(paths: dict[str, str], figure: str) -> list[str]:
    """compare.png of the cases whose stored datasets are ``paths`` (case: file, in the run's order)."""
    from flexopt.results.figures import compare_bars
    from flexopt.results.store import read_dataset, writing

    with writing(figure):
        return [str(compare_bars({case: read_dataset(Path(path)) for case, path in paths.items()}, Path(figure)))]


def _stored(path: str):
    """The dataset stored at ``path``, read again only when another file is asked for or the file changed (a
    worker draws the parts of one case's figures one after the other, each a task of its own); one dataset is
    kept at a time, so that a year's large datasets do not pile up in memory."""
    from flexopt.results.store import read_dataset

    info = os.stat(path)
    key = (os.path.abspath(path), info.st_ino, info.st_size, info.st_mtime_ns)
    if key not in _DATASET:
        _DATASET.clear()
        _DATASET[key] = read_dataset(Path(path))
    return _DATASET[key]


#: The dataset this process read last, by (path, inode, size, modification time): see :func:`_stored`.
_DATASET: dict[tuple, object] = {}
