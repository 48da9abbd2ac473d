"""How fast `flexopt check` is on the shipped scenarios, imports excluded (goal: < 1 s for the case study).

Run: python benchmarks/check_speed.py [FILE ...]
Prints one row per file: parse, validate and total time (median of repeated runs,
warm process), plus the one-off cost of imports and of building the parser.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> None:
    started = time.perf_counter()
    from flexopt.language import syntax, validate  # noqa: F401 - imports are measured here
    from flexopt.language.validate.network import pandapower_builders, pandapower_line_types

    imported = time.perf_counter()
    syntax.parser()
    built = time.perf_counter()
    pandapower_line_types()
    pandapower_builders()
    lazy = time.perf_counter()
    files = [Path(a) for a in argv] or sorted((REPO / "scenarios").glob("*.flex"))

    print(f"imports (flexopt, lark, numpy): {1000 * (imported - started):8.1f} ms")
    print(f"building the LALR parser:       {1000 * (built - imported):8.1f} ms")
    print(f"lazy pandapower std-type list:  {1000 * (lazy - built):8.1f} ms")
    print()
    print(f"{'file':40s} {'bytes':>8s} {'parse ms':>9s} {'validate ms':>12s} {'total ms':>9s}")
    for path in files:
        text = path.read_text(encoding="utf-8")
        parse_times, validate_times = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            tree = syntax.parse_text(text, str(path))
            t1 = time.perf_counter()
            validate.validate(tree, path.resolve().parent)
            t2 = time.perf_counter()
            parse_times.append(t1 - t0)
            validate_times.append(t2 - t1)
        p, v = statistics.median(parse_times), statistics.median(validate_times)
        print(f"{str(path.relative_to(REPO) if path.is_relative_to(REPO) else path):40s} {len(text):8d} "
              f"{1000 * p:9.2f} {1000 * v:12.2f} {1000 * (p + v):9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
