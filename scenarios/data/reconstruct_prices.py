"""Reconstruct the typical-day price profiles of the case study (scenarios/data/prices.csv).

The paper (Natale et al. 2022, section 5) averaged the hourly zonal selling price
(P_s) and the national single price PUN (P_p, purchasing) published by GME into
twelve typical days (4 seasons x working day / Saturday / holiday) and states
only their ranges: selling 17.80-78.67 EUR/MWh, purchasing 24.60-74.83 EUR/MWh.
The hourly series are not public in averaged form, so this script builds a
transparent reconstruction with the shape of Italian day-ahead prices of the
period: a night valley, a morning ramp, a midday dip where photovoltaics is
strong (deepest in spring and summer, and in the Sardinian zone), an evening
peak, lower prices on Saturdays and holidays, higher in winter. Each series is
then mapped linearly onto exactly the range the paper states.

Run: python scenarios/data/reconstruct_prices.py  (writes prices.csv beside it)
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

SEASONS = ("winter", "spring", "summer", "autumn")
DAY_TYPES = ("working", "saturday", "holiday")
SEASON_LEVEL = {"winter": 1.10, "spring": 0.88, "summer": 1.00, "autumn": 1.02}
DAY_LEVEL = {"working": 1.00, "saturday": 0.90, "holiday": 0.80}
SOLAR_DIP = {"winter": 0.08, "spring": 0.22, "summer": 0.18, "autumn": 0.12}


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


def shape(season: str, day_type: str, hour: int, zonal_solar_extra: float) -> float:
    """Relative price level of one hour of one typical day (dimensionless)."""
    h = hour + 0.5
    evening_centre = 19.5 if season in ("summer", "spring") else 18.5
    value = 0.72 + 0.22 * _bump(h, 9.0, 1.8) + 0.38 * _bump(h, evening_centre, 1.8) + 0.10 * _bump(h, 13.0, 5.0)
    value -= 0.18 * _bump(h, 3.5, 2.0)
    dip = (SOLAR_DIP[season] + zonal_solar_extra) * (1.15 if day_type != "working" else 1.0)
    value -= dip * _bump(h, 13.0, 2.2)
    return value * SEASON_LEVEL[season] * DAY_LEVEL[day_type]


def series(zonal_solar_extra: float, low: float, high: float) -> list[float]:
    raw = [shape(s, d, h, zonal_solar_extra) for s in SEASONS for d in DAY_TYPES for h in range(24)]
    lo, hi = min(raw), max(raw)
    return [round(low + (v - lo) * (high - low) / (hi - lo), 2) for v in raw]


def main() -> None:
    sell = series(0.10, 17.80, 78.67)  # Sardinian zonal price: deeper solar dip
    buy = series(0.0, 24.60, 74.83)  # national PUN
    out = Path(__file__).with_name("prices.csv")
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["season", "day_type", "hour", "sell", "buy"])
        i = 0
        for s in SEASONS:
            for d in DAY_TYPES:
                for h in range(24):
                    writer.writerow([s, d, h, f"{sell[i]:.2f}", f"{buy[i]:.2f}"])
                    i += 1
    print(f"wrote {out} ({i} rows)")


if __name__ == "__main__":
    main()
