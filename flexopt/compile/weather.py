"""Compile stage, weather: seeded hourly variability around the generators' climatology.

With ``weather variable [seed N]`` in the calendar the generators of flexopt/compile/profiles.py
do not give expectations but one weather year drawn from these models:

* **PV: a clearness Markov chain.** The daily clear-sky index (irradiation / clear-sky
  irradiation) is a first-order Markov chain over ten states, its transition matrix chosen by the
  month's mean clearness, as in Aguiar, Collares-Pereira and Conde (1988, Solar Energy 40, 269):
  ``P = rho I + (1 - rho) 1 pi'`` keeps the day-to-day persistence ``rho`` and has the stationary
  distribution ``pi``, a Beta density over the states whose mean is the month's clearness. The
  hours of a day add the autoregressive deviation of the TAG model (Aguiar and
  Collares-Pereira 1992, Solar Energy 49, 167): ``y_h = phi(k) y_(h-1) + sigma(k) sqrt(1 - phi^2) e_h``
  with ``phi(k) = 0.148 + 2.356 k - 5.188 k^2 + 3.482 k^3`` and ``sigma(k) = 0.32 exp(-50 (k - 0.4)^2) + 0.002``.
  Each month's irradiation is then rescaled to the climatology's, so only the variability is new.
* **Wind: an autocorrelated speed with Weibull marginals.** A Gaussian AR(1) process (hourly
  correlation ``exp(-1 / 24 h)``) is mapped through the normal and the inverse Weibull
  distribution functions onto the hour's Weibull law (the site's monthly mean speed, daily
  modulation and shape), then through the turbine's power curve.
* **Demand: day-to-day and hourly noise.** A multiplicative factor, AR(1) over days
  (``sigma 5 %``, correlation 0.7) times an hourly white noise (``sigma 2 %``), with mean 1.

Every draw comes from ``numpy.random.default_rng([seed, key])``, the key a checksum of the site
(latitude and longitude for PV, the site kind for wind, the class for demand), so a
seed gives the same year on every machine and profiles of one site share their weather.
Annual energies are matched afterwards exactly as with the expected profiles.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy.special import ndtr

PV_STATES = 10  # Markov states of the daily clear-sky index
PV_DAY_PERSISTENCE = 0.35  # lag-1 correlation of the daily clearness
PV_BETA_CONCENTRATION = 6.0  # a + b of the Beta law of the daily clearness: lower = more variable
PV_MAX_INDEX = 1.0  # the clearest day
PV_MAX_HOURLY_INDEX = 1.1  # cloud enhancement allowed in one hour
WIND_CORRELATION_HOURS = 24.0
DEMAND_DAILY_SIGMA, DEMAND_DAILY_CORRELATION, DEMAND_HOURLY_SIGMA = 0.05, 0.7, 0.02


def generator(seed: int, *key) -> np.random.Generator:
    """The random stream of one site: the same seed and key give the same draws everywhere."""
    return np.random.default_rng([int(seed), zlib.crc32(repr(key).encode())])


def daily_clearness(hours: pd.DatetimeIndex, monthly_clearness, rng: np.random.Generator) -> np.ndarray:
    """One clear-sky index per day of the year, drawn from the month's Markov transition matrix."""
    from scipy.stats import beta

    days = pd.DatetimeIndex(hours[::24])
    edges = np.linspace(0.0, PV_MAX_INDEX, PV_STATES + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    out = np.empty(len(days))
    state = None
    for i, month in enumerate(days.month.to_numpy()):
        mean = float(np.clip(monthly_clearness[month - 1] / PV_MAX_INDEX, 0.05, 0.95))
        a, b = mean * PV_BETA_CONCENTRATION, (1 - mean) * PV_BETA_CONCENTRATION
        pi = np.diff(beta.cdf(edges / PV_MAX_INDEX, a, b))
        pi = pi / pi.sum()
        if state is None or rng.random() >= PV_DAY_PERSISTENCE:  # P = rho I + (1 - rho) 1 pi'
            state = int(rng.choice(PV_STATES, p=pi))
        out[i] = centres[state]
    return out


def hourly_clearness(hours: pd.DatetimeIndex, monthly_clearness, rng: np.random.Generator) -> np.ndarray:
    """The hourly clear-sky index: the day's Markov state plus the TAG model's AR(1) deviation."""
    k_day = np.repeat(daily_clearness(hours, monthly_clearness, rng), 24)[: len(hours)]
    phi = np.clip(0.148 + 2.356 * k_day - 5.188 * k_day**2 + 3.482 * k_day**3, 0.0, 0.95)
    sigma = 0.32 * np.exp(-50.0 * (k_day - 0.4) ** 2) + 0.002
    noise = rng.standard_normal(len(hours)) * sigma * np.sqrt(1.0 - phi**2)
    y = np.empty(len(hours))
    previous = 0.0
    for h in range(len(hours)):
        previous = phi[h] * previous + noise[h]
        y[h] = previous
    return np.clip(k_day + y, 0.0, PV_MAX_HOURLY_INDEX)


def rescale_monthly(values: np.ndarray, expected: np.ndarray, hours: pd.DatetimeIndex) -> np.ndarray:
    """Scale each month of ``values`` so that its sum is that of ``expected`` (the climatology's)."""
    out = np.asarray(values, dtype=float).copy()
    months = hours.month.to_numpy()
    for m in range(1, 13):
        sel = months == m
        total = out[sel].sum()
        if total > 0:
            out[sel] *= expected[sel].sum() / total
    return out


def wind_speed(mean_speed: np.ndarray, shape: float, rng: np.random.Generator) -> np.ndarray:
    """An hourly wind speed whose marginal in each hour is the Weibull law of mean ``mean_speed`` and
    shape ``shape``, correlated in time by a Gaussian AR(1) process (Gaussian copula)."""
    from scipy.special import gamma as gamma_fn

    phi = float(np.exp(-1.0 / WIND_CORRELATION_HOURS))
    noise = rng.standard_normal(len(mean_speed))
    z = np.empty(len(mean_speed))
    previous = noise[0]
    z[0] = previous
    for h in range(1, len(mean_speed)):
        previous = phi * previous + np.sqrt(1.0 - phi**2) * noise[h]
        z[h] = previous
    u = np.clip(ndtr(z), 1e-12, 1.0 - 1e-12)
    scale = np.asarray(mean_speed, dtype=float) / gamma_fn(1.0 + 1.0 / shape)
    return scale * (-np.log1p(-u)) ** (1.0 / shape)


def demand_factor(n_hours: int, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative factor of mean 1 for a demand shape: AR(1) over days times hourly noise."""
    n_days = -(-n_hours // 24)
    e = rng.standard_normal(n_days)
    daily = np.empty(n_days)
    rho = DEMAND_DAILY_CORRELATION
    daily[0] = e[0]
    for d in range(1, n_days):
        daily[d] = rho * daily[d - 1] + np.sqrt(1.0 - rho**2) * e[d]
    factor = np.repeat(1.0 + DEMAND_DAILY_SIGMA * daily, 24)[:n_hours]
    factor *= 1.0 + DEMAND_HOURLY_SIGMA * rng.standard_normal(n_hours)
    factor = np.clip(factor, 0.5, 1.5)
    return factor / factor.mean()
