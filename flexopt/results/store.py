"""Store stage: one assessed case as an xarray Dataset, written atomically to netCDF.

The schema is the output contract of DESIGN.md (dimensions feeder, interval,
bid_point, der, load; sign conventions; CF flag attributes for the traffic
lights). Additions beyond the contract are documented in docs/method.md:
``red_reason`` (why a point is red), ``price_q_eur_per_mvarh`` and the local market's
``redispatch_mw`` and ``redispatch_cost_eur_per_h``. End-user groups
are DERs named ``FEEDER:CLASS`` whose loads are that feeder's loads of the class.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from flexopt import __version__
from flexopt.errors import FlexoptError, Problem
from flexopt.compile.periods import dataset_coordinates
from flexopt.files import atomic_path
from flexopt.results.schema import GREEN, ORANGE, PQ_REASONS, REASONS, RED, RED_ESTABLISHED, STATUS_MEANINGS

if TYPE_CHECKING:
    from flexopt.engine.assess import CaseAssessment

ENCODING_LEVEL = 4


def _available(ders, n_t: int) -> np.ndarray:
    if not ders:
        return np.zeros((n_t, 0))
    return np.stack([r.available_mw for _, _, r in ders], axis=1).astype(float)


def to_dataset(assessment: CaseAssessment, created: str | None = None) -> xr.Dataset:
    """The contract's dataset for one case; ``created`` fixes the creation time (for reproducible files)."""
    scenario, case, profiles = assessment.scenario, assessment.case, assessment.profiles
    feeders = assessment.feeders
    days = profiles.days
    bid_point = feeders[0].bid_point
    n_t, n_p = len(days.weight_h), len(bid_point)

    def stack(name: str) -> np.ndarray:
        return np.stack([getattr(f, name) for f in feeders])

    fp = ("feeder", "interval", "bid_point")
    ders = [(f, i, r) for f in feeders for i, r in enumerate(f.resources)]
    der_names = [r.name for _, _, r in ders]

    def der_stack(name: str) -> np.ndarray:
        if not ders:
            return np.zeros((n_t, n_p, 0))
        return np.stack([getattr(f, name)[:, :, i] for f, i, _ in ders], axis=2)

    load_names = [name for f in feeders for name in f.load_names]
    load_feeder = [f.feeder for f in feeders for _ in f.load_names]
    load_p = np.concatenate([f.load_p_mw for f in feeders], axis=1) if load_names else np.zeros((n_t, 0))
    load_q = np.concatenate([f.load_q_mvar for f in feeders], axis=1) if load_names else np.zeros((n_t, 0))

    def variable(dims, values, units, long_name, **attrs):
        return xr.Variable(dims, values, cf_attrs(units, long_name, **attrs))

    data = {
        "quantity_mw": variable(fp, stack("quantity_mw"), "MW",
                                "offered variation at the PCC (+ upward, - downward)"),
        "bid_cost_eur_per_h": variable(fp, stack("bid_cost_eur_per_h"), "EUR/h",
                                       "pay-as-bid cost of the activated bids"),
        "status": variable(fp, stack("status").astype(np.int8), "1", "traffic light of the bid point",
                           flag_values=np.array([GREEN, ORANGE, RED], dtype=np.int8), flag_meanings=STATUS_MEANINGS),
        "red_reason": variable(fp, stack("red_reason").astype(np.int8), "1", "why the DSO blocks the point",
                               flag_values=np.arange(len(REASONS), dtype=np.int8), flag_meanings=" ".join(REASONS)),
        "red_established": variable(fp, stack("red_established").astype(np.int8), "1",
                                    "how the red verdict was established",
                                    flag_values=np.arange(len(RED_ESTABLISHED), dtype=np.int8),
                                    flag_meanings=" ".join(RED_ESTABLISHED)),
        "residual_voltage_pu": variable(fp, stack("residual_voltage_pu"), "pu",
                                        "red: least voltage excess beyond the band any allowed dispatch reaches "
                                        "(AC); NaN otherwise"),
        "residual_overload_percent": variable(fp, stack("residual_overload_percent"), "%",
                                              "red: least loading above the limit any allowed dispatch reaches "
                                              "(AC); NaN otherwise"),
        "q_support_mvar": variable(fp, stack("q_support_mvar"), "Mvar",
                                   "reactive support bought by the DSO (sum of |dQ| over DG)"),
        "q_cost_eur_per_h": variable(fp, stack("q_cost_eur_per_h"), "EUR/h", "cost of the reactive support"),
        "redispatch_mw": variable(fp, stack("redispatch_mw"), "MW",
                                  "active power the DSO redispatched between local resources (up = down)"),
        "redispatch_cost_eur_per_h": variable(fp, stack("redispatch_cost_eur_per_h"), "EUR/h",
                                              "cost of the redispatch at the resources' bid prices"),
        "p_pcc_mw": variable(fp, stack("p_pcc_mw"), "MW", "active power imported from the transmission grid"),
        "q_pcc_mvar": variable(fp, stack("q_pcc_mvar"), "Mvar", "reactive power imported from the transmission grid"),
        "p_hv_mw": variable(fp, stack("p_hv_mw"), "MW",
                            "active power the whole substation imports at the HV/MV transformer's HV terminals, "
                            "this feeder at the bid point and the others at their working point (losses included)"),
        "q_hv_mvar": variable(fp, stack("q_hv_mvar"), "Mvar",
                              "reactive power the whole substation imports at the transformer's HV terminals, "
                              "this feeder at the bid point and the others at their working point"),
        "v_min_pu": variable(fp, stack("v_min_pu"), "pu", "lowest bus voltage of the feeder"),
        "v_max_pu": variable(fp, stack("v_max_pu"), "pu", "highest bus voltage of the feeder"),
        "loading_max_percent": variable(fp, stack("loading_max_percent"), "%", "highest line loading of the feeder"),
        "der_p_mw": variable(("interval", "bid_point", "der"), der_stack("der_p_mw"), "MW",
                             "active power setpoint of the DER (sgen: generation +, load: consumption +)"),
        "der_available_mw": variable(("interval", "der"), _available(ders, n_t), "MW",
                                     "active power the resource allows before any derating (sgen: available "
                                     "output, load: expected consumption)"),
        "der_q_mvar": variable(("interval", "bid_point", "der"), der_stack("der_q_mvar"), "Mvar",
                               "reactive power setpoint of the DER, in the convention of its element"),
        "der_q_min_mvar": variable(("interval", "bid_point", "der"), der_stack("der_q_min_mvar"), "Mvar",
                                   "lowest reactive power the capability curve allows at the point"),
        "der_q_max_mvar": variable(("interval", "bid_point", "der"), der_stack("der_q_max_mvar"), "Mvar",
                                   "highest reactive power the capability curve allows at the point"),
        "load_p_mw": variable(("interval", "load"), load_p, "MW", "expected demand of the load"),
        "load_q_mvar": variable(("interval", "load"), load_q, "Mvar", "expected reactive demand of the load"),
        "price_sell_eur_per_mwh": variable(("interval",), _price(profiles, "sell", n_t), "EUR/MWh", "selling price"),
        "price_buy_eur_per_mwh": variable(("interval",), _price(profiles, "buy", n_t), "EUR/MWh", "purchasing price"),
        "price_q_eur_per_mvarh": variable(("interval",), assessment.reactive_price_eur_per_mvarh, "EUR/Mvarh",
                                          "price the DSO pays for reactive support"),
    }
    values = {  # CF-1.8 knows no 64-bit integers: indices are int32
        "feeder": [f.feeder for f in feeders], "interval": np.arange(n_t, dtype=np.int32),
        "feeder_substation": [scenario.substation_of(f.feeder).name for f in feeders],
        "season": days.season.astype(str), "day_type": days.day_type.astype(str),
        "hour": days.hour.astype(np.int32), "weight_h": days.weight_h.astype(float),
        "bid_point": bid_point.astype(np.int32), "der": der_names,
        "der_feeder": [f.feeder for f, _, _ in ders], "der_kind": [r.kind for _, _, r in ders],
        "der_element": [r.table for _, _, r in ders],
        "der_rated_mw": np.array([r.rated_mw for _, _, r in ders], dtype=float),
        "load": load_names, "load_feeder": load_feeder,
    }
    coords = {name: (COORDINATES[name][0], values[name], cf_attrs(*COORDINATE_ATTRS[name])) for name in values}
    coords.update(dataset_coordinates(days, cf_attrs))  # time, and the representative days' periods
    attrs = {
        "title": f"flexopt assessment of {scenario.name}, case {case.name}",
        "scenario": scenario.name,
        "case": case.name,
        "case_title": case.title or "",
        "flexopt_version": __version__,
        "scenario_sha256": scenario.text_sha256,
        "created": created or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "v_min_limit_pu": case.limits.v_min_pu,
        "v_max_limit_pu": case.limits.v_max_pu,
        "loading_limit_percent": case.limits.line_loading_percent,
        "transformer_loading_limit_percent": case.limits.transformer_loading_percent,
        "transformer_rated_mva": scenario.substation.transformer.rated_mva,  # a region: the first substation's
        "busbar_pu": scenario.substation.busbar_pu,
        "substations": " ".join(s.name for s in scenario.all_substations),
        "substation_rated_mva": " ".join(f"{s.transformer.rated_mva:g}" for s in scenario.all_substations),
        "substation_busbar_pu": " ".join(f"{s.busbar_pu:g}" for s in scenario.all_substations),
        "activation": case.study.activation,
        "reactive_remuneration": case.reactive.mode,
        "remedies": " ".join(case.study.remedies),
        "sign_convention": "quantity_mw + upward (more export to the TSO), - downward; p_pcc_mw/q_pcc_mvar + import",
        "periods": scenario.calendar.periods, "weather": scenario.calendar.weather_text,
        "Conventions": "CF-1.8",
    }
    attrs["history"] = f"{attrs['created']}: assessed by flexopt {__version__}"
    if assessment.substation_pq is not None:
        pq_data, pq_coords = pq_variables(assessment, ders)
        data.update({name: variable(*spec[:4], **(spec[4] if len(spec) > 4 else {})) for name, spec in pq_data.items()})
        coords.update(pq_coords)
        attrs["pq_area_directions"] = len(pq_coords["direction"][1])
    return xr.Dataset(data, coords=coords, attrs=attrs)


def pq_variables(assessment: CaseAssessment, ders) -> tuple[dict, dict]:
    """The P-Q chart's variables ``name: (dims, values, units, long_name, attrs...)`` and coordinates:
    per feeder and interval the vertices at the PCC (direction by direction), the dispatch behind each
    vertex and the substation's chart at the MV busbar (see docs/method.md)."""
    feeders, sub = assessment.feeders, assessment.substation_pq
    charts = [f.pq for f in feeders]
    n_t, n_d = sub.p_mw.shape

    def der_stack(name: str) -> np.ndarray:
        if not ders:
            return np.zeros((n_t, n_d, 0))
        return np.stack([getattr(f.pq, name)[:, :, i] for f, i, _ in ders], axis=2)

    fid, itd = ("feeder", "interval", "direction"), ("interval", "direction", "der")
    data = {
        "pq_p_mw": (fid, np.stack([c.p_mw for c in charts]), "MW",
                    "P-Q chart: active power imported at the PCC at the vertex of the direction"),
        "pq_q_mvar": (fid, np.stack([c.q_mvar for c in charts]), "Mvar",
                      "P-Q chart: reactive power imported at the PCC at the vertex of the direction"),
        "pq_share": (fid, np.stack([c.share for c in charts]), "1",
                     "P-Q chart: share of the segment from the working point to the linear vertex that the AC "
                     "power flow confirmed (1: the vertex itself; < 1: pulled inwards)"),
        "pq_reason": (("feeder", "interval"), np.stack([c.reason for c in charts]).astype(np.int8), "1",
                      "P-Q chart: charted, or why not", {"flag_values": np.arange(len(PQ_REASONS), dtype=np.int8),
                                                          "flag_meanings": " ".join(PQ_REASONS)}),
        "pq_area_mw_mvar": (("feeder", "interval"), np.stack([c.area_mw_mvar for c in charts]), "MW Mvar",
                            "P-Q chart: area of the polygon of the vertices"),
        "pq_der_p_mw": (itd, der_stack("der_p_mw"), "MW",
                        "P-Q chart: active power setpoint of the DER at the vertex (convention of its element)"),
        "pq_der_q_mvar": (itd, der_stack("der_q_mvar"), "Mvar",
                          "P-Q chart: reactive power setpoint of the DER at the vertex (convention of its element)"),
        "pq_substation_p_mw": (("interval", "direction"), sub.p_mw, "MW",
                               "P-Q chart of the substation at the MV busbar: active power imported (the feeders' "
                               "charts added, clipped by the transformer's limit)"),
        "pq_substation_q_mvar": (("interval", "direction"), sub.q_mvar, "Mvar",
                                 "P-Q chart of the substation at the MV busbar: reactive power imported"),
        "pq_substation_area_mw_mvar": (("interval",), sub.area_mw_mvar, "MW Mvar",
                                       "P-Q chart of the substation: area of the polygon of the vertices"),
        "pq_substation_clipped": (("interval",), sub.clipped.astype(np.int8), "1",
                                  "P-Q chart of the substation: 1 where the transformer's limit cut the feeders' sum",
                                  {"flag_values": np.array([0, 1], dtype=np.int8),
                                   "flag_meanings": "within_transformer_limit clipped_by_transformer"}),
    }
    coords = {"direction": (("direction",), np.arange(n_d, dtype=np.int32),
                            cf_attrs("1", "index of the direction of the P-Q chart")),
              "direction_deg": (("direction",), charts[0].directions_deg.astype(float),
                                cf_attrs("degree", "direction of the P-Q chart in the (P, Q) plane: the vertex "
                                                   "maximises cos(direction) P + sin(direction) Q"))}
    return data, coords


#: Units UDUNITS cannot express, written as ``units "1"`` and kept in ``flexopt_units``: per unit.
DIMENSIONLESS_UNITS = {"pu": "per unit of the nominal voltage"}


def cf_attrs(units: str | None, long_name: str, **attrs) -> dict:
    """CF attributes of a variable: ``units`` (none for texts), ``long_name``; ``pu`` becomes ``"1"``."""
    if units in DIMENSIONLESS_UNITS:
        return {"units": "1", "long_name": f"{long_name} ({DIMENSIONLESS_UNITS[units]})", "flexopt_units": units,
                **attrs}
    return {**({} if units is None else {"units": units}), "long_name": long_name, **attrs}


def _price(profiles, name: str, n: int) -> np.ndarray:
    if name in profiles.prices:
        return np.asarray(profiles.prices[name], dtype=float)
    return np.full(n, np.nan)


def write_dataset(ds: xr.Dataset, path: Path) -> Path:
    """Write with zlib compression and HDF5 Fletcher-32 checksums (so a damaged file is found on reading)
    to a temporary file beside ``path``, then rename: never half a file. A full disk or a read-only
    folder is a :class:`FlexoptError`, and the temporary file is gone."""
    encoding = {name: {"zlib": True, "complevel": ENCODING_LEVEL, "fletcher32": True} for name in ds.data_vars}
    with writing(path), atomic_path(path) as tmp:
        try:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        except (OSError, RuntimeError) as err:  # netCDF4 reports a full disk as RuntimeError("NetCDF: HDF error")
            if not isinstance(err, OSError) or err.errno is None or err.errno < 0:
                if _nearly_full(path.parent):  # decided before the temporary file is removed again
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
            raise
    return path


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


#: What a failed write means for the user, by errno: the message, and a hint.
WRITE_ERRORS = {
    errno.ENOSPC: ("no space left on the device", "free some space or give another --out; finished datasets are "
                   "kept and a rerun resumes from them"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or give another --out"),
    errno.EROFS: ("the folder is on a read-only file system", "give a writable folder with --out"),
    errno.EACCES: ("permission denied", "give a folder you may write to with --out"),
    errno.EPERM: ("operation not permitted", "give a folder you may write to with --out"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "give a folder with --out, not a file"),
    errno.EEXIST: ("a file of that name is in the way", "give a folder with --out, not a file"),
    errno.EISDIR: ("a folder of that name is in the way", "remove or rename that folder"),
    errno.ENAMETOOLONG: ("the file name is too long", "use shorter scenario and case names, or a shorter --out"),
}


def write_error(err: OSError, path: Path | str) -> FlexoptError | None:
    """The user's problem behind a failed write, or None when it is not one."""
    known = WRITE_ERRORS.get(err.errno or 0)
    if known is None:
        return None
    return FlexoptError([Problem(f"cannot write {err.filename or path}: {known[0]}", None, known[1])])


@contextlib.contextmanager
def writing(path: Path | str):
    """Turn a failed write under ``path`` into a clear :class:`FlexoptError` (full disk, read-only ...)."""
    try:
        yield
    except OSError as err:
        problem = write_error(err, path)
        if problem is None:
            raise
        raise problem from None


def probe_output(folder: Path, targets=()) -> None:
    """Create ``folder`` and write and remove a small probe file there, and check that the name of every
    file of ``targets`` (and its temporary name) fits the file system: a read-only or full disk, a file in
    the way or a name too long is found before hours of assessing, not after."""
    for parent in [folder, *folder.parents]:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise FlexoptError([Problem(f"cannot write to {folder}: {parent} is a file, not a folder", None,
                                            "give a folder with --out (it is created when missing)")])
            break
    probe = folder / f".flexopt-probe-{os.getpid()}.tmp"
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with open(probe, "wb") as handle:
                handle.write(b"flexopt" * 4096)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        longest = 255
    for target in targets:
        parts = Path(target).relative_to(folder).parts if Path(target).is_relative_to(folder) else (Path(target).name,)
        for index, part in enumerate(parts):
            size = len(os.fsencode(part)) + (len(".XXXXXXXX.tmp") + 1 if index == len(parts) - 1 else 0)
            if size > longest:
                raise FlexoptError([Problem(f"cannot write {target}: the name '{part[:40]}...' is too long for the "
                                            f"file system ({size} bytes with its temporary suffix, at most "
                                            f"{longest})", None, "use shorter scenario and case names")])


#: The dataset's variables and their dimensions (the contract written by :func:`to_dataset`).
_FP = ("feeder", "interval", "bid_point")
VARIABLES: dict[str, tuple[str, ...]] = {
    **{name: _FP for name in ("quantity_mw", "bid_cost_eur_per_h", "status", "red_reason", "red_established",
                              "residual_voltage_pu", "residual_overload_percent", "q_support_mvar",
                              "q_cost_eur_per_h", "redispatch_mw", "redispatch_cost_eur_per_h", "p_pcc_mw",
                              "q_pcc_mvar", "p_hv_mw", "q_hv_mvar", "v_min_pu", "v_max_pu", "loading_max_percent")},
    **{name: ("interval", "bid_point", "der") for name in ("der_p_mw", "der_q_mvar", "der_q_min_mvar",
                                                            "der_q_max_mvar")},
    "der_available_mw": ("interval", "der"),
    "load_p_mw": ("interval", "load"),
    "load_q_mvar": ("interval", "load"),
    **{name: ("interval",) for name in ("price_sell_eur_per_mwh", "price_buy_eur_per_mwh", "price_q_eur_per_mvarh")},
}
#: The P-Q chart's variables, present with ``study { pq area N directions }`` (dimension ``direction``).
PQ_VARIABLES: dict[str, tuple[str, ...]] = {
    **{name: ("feeder", "interval", "direction") for name in ("pq_p_mw", "pq_q_mvar", "pq_share")},
    **{name: ("feeder", "interval") for name in ("pq_reason", "pq_area_mw_mvar")},
    **{name: ("interval", "direction", "der") for name in ("pq_der_p_mw", "pq_der_q_mvar")},
    **{name: ("interval", "direction") for name in ("pq_substation_p_mw", "pq_substation_q_mvar")},
    **{name: ("interval",) for name in ("pq_substation_area_mw_mvar", "pq_substation_clipped")},
    "direction": ("direction",), "direction_deg": ("direction",),
}
COORDINATES: dict[str, tuple[str, ...]] = {
    **{name: ("interval",) for name in ("interval", "season", "day_type", "hour", "weight_h")},
    "feeder": ("feeder",), "feeder_substation": ("feeder",), "bid_point": ("bid_point",),
    **{name: ("der",) for name in ("der", "der_feeder", "der_kind", "der_element", "der_rated_mw")},
    "load": ("load",), "load_feeder": ("load",),
}
#: Units (None for texts) and long_name of each coordinate.
COORDINATE_ATTRS: dict[str, tuple[str | None, str]] = {
    "feeder": (None, "feeder name as in the scenario"),
    "feeder_substation": (None, "substation whose MV busbar supplies the feeder"),
    "interval": ("1", "index of the interval (typical-day interval, hour of the year or representative hour)"),
    "season": (None, "season of the interval"),
    "day_type": (None, "day type of the interval (by default working, saturday or holiday)"),
    "hour": ("h", "hour of the day at which the interval starts"),
    "weight_h": ("h", "hours per year the interval stands for"),
    "bid_point": ("1", "bid point: 0 the expected working point, -k downward and +k upward offers (k/K of the range)"),
    "der": (None, "name of the distributed energy resource"),
    "der_feeder": (None, "feeder of the DER"),
    "der_kind": (None, "kind of the DER (pv, wind, chp, enduser ...)"),
    "der_element": (None, "pandapower table that holds the DER (sgen or load)"),
    "der_rated_mw": ("MW", "rated active power of the DER"),
    "load": (None, "name of a load that is not a DER"),
    "load_feeder": (None, "feeder of the load"),
}
#: What the tables, figures and report.html read (older datasets may lack the rest).
REPORTED = ("status", "quantity_mw", "bid_cost_eur_per_h", "q_support_mvar", "q_cost_eur_per_h", "p_pcc_mw",
            "q_pcc_mvar", "weight_h", "season", "day_type", "hour", "feeder", "bid_point", "der_rated_mw",
            "der_feeder", "der_kind")
ATTRIBUTES = ("scenario", "case", "flexopt_version", "scenario_sha256")


def dataset_problems(ds: xr.Dataset, names: tuple[str, ...] | None = None) -> list[str]:
    """What keeps ``ds`` from being one complete case dataset: missing or misshapen variables (all of the
    contract's, or just ``names``), empty dimensions, missing attributes. Empty when it is complete."""
    expected = {**VARIABLES, **COORDINATES, **PQ_VARIABLES}
    wanted = list({**VARIABLES, **COORDINATES, **(PQ_VARIABLES if "direction" in ds.dims else {})}) if names is None \
        else list(names)
    missing = [name for name in wanted if name not in ds.variables]
    problems = [f"lacks {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}"] if missing else []
    shaped = [name for name in wanted if name in ds.variables and tuple(ds[name].dims) != expected[name]]
    problems += [f"{name} has dimensions {tuple(ds[name].dims)}, not {expected[name]}" for name in shaped[:3]]
    problems += [f"its {dim} dimension is empty" for dim in ("feeder", "interval", "bid_point") if ds.sizes.get(dim) == 0]
    problems += [f"lacks the attribute {key}" for key in ATTRIBUTES if key not in ds.attrs]
    return problems


#: How a netCDF file starts: classic (CDF 1, 2, 5) or netCDF-4 (HDF5).
NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


class NotADataset(Exception):
    """A file that is not (or no longer) one complete case dataset: ``why`` in a few words, and a ``hint``."""

    def __init__(self, why: str, hint: str = "give the <case>.nc files `flexopt run` wrote") -> None:
        super().__init__(why)
        self.why, self.hint = why, hint


def load_checked(path: Path, names: tuple[str, ...] | None = None) -> xr.Dataset:
    """Load a case dataset into memory, every value read (so that checksums and compression are verified)
    and checked by :func:`dataset_problems`; raises :class:`NotADataset` saying what is wrong."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as err:
        raise NotADataset(f"unreadable ({err.strerror or err})") from None
    if not head.startswith(NETCDF_MAGIC):
        if path.suffix.lower() == ".flex":
            raise NotADataset("not a netCDF dataset (it is a scenario file)",
                              "run `flexopt run` on the scenario first, then give the .nc files it writes")
        raise NotADataset("not a netCDF dataset" + (" (an empty file)" if not head else ""))
    try:
        ds = xr.load_dataset(path, engine="netcdf4")
    except Exception:  # noqa: BLE001 - any failure to read it means the file is damaged
        raise NotADataset("a damaged netCDF file that cannot be read completely",
                          "it was cut short or overwritten; run `flexopt run` again to redo it") from None
    if "case" in ds.dims:
        raise NotADataset("a dataset of several cases (a compare.nc?), not of one assessed case",
                          "give the <case>.nc files of `flexopt run` (not compare.nc)")
    problems = dataset_problems(ds, names)
    if problems:
        raise NotADataset(f"not a complete flexopt dataset: {'; '.join(problems)}",
                          "give the <case>.nc files `flexopt run` wrote; rerun `flexopt run` to redo a damaged one")
    return ds


def read_dataset(path: Path, names: tuple[str, ...] | None = None) -> xr.Dataset:
    """:func:`load_checked`, its refusal a one-line :class:`FlexoptError` naming the file."""
    try:
        return load_checked(path, names)
    except NotADataset as err:
        raise FlexoptError([Problem(f"{path}: {err.why}", None, err.hint)]) from None


def apply_point(net, ds: xr.Dataset, feeder: str, interval: int, bid_point: int) -> None:
    """Write one (interval, bid point) of a stored case into the feeder's exported pandapower net.

    Loads take their expected demand; DERs their final setpoints (split over their rows by
    rating); an end-user group ``FEEDER:CLASS`` moves its class's loads in proportion to their
    demand, at constant power factor. Then ``pandapower.runpp(net)`` reproduces the point.
    """
    loads = ds["load"].values[ds["load_feeder"].values == feeder]
    by_name = {name: i for i, name in enumerate(net.load.name)}
    rows = [by_name[name] for name in loads]
    net.load.loc[net.load.index[rows], "p_mw"] = ds.load_p_mw.sel(interval=interval, load=loads).values
    net.load.loc[net.load.index[rows], "q_mvar"] = ds.load_q_mvar.sel(interval=interval, load=loads).values
    point = ds.sel(interval=interval, bid_point=bid_point)
    _set_ders(net, ds, feeder, interval, point.der_p_mw, point.der_q_mvar, loads)


def apply_vertex(net, ds: xr.Dataset, feeder: str, interval: int, direction: int) -> None:
    """Write the dispatch behind one vertex of the stored P-Q chart (``pq_der_p_mw``/``pq_der_q_mvar``)
    into the feeder's exported pandapower net, as :func:`apply_point` does for a bid point; then
    ``pandapower.runpp(net)`` rebuilds the vertex (its PCC exchange is ``pq_p_mw``/``pq_q_mvar``)."""
    apply_point(net, ds, feeder, interval, 0)
    vertex = ds.sel(interval=interval, direction=direction)
    loads = ds["load"].values[ds["load_feeder"].values == feeder]
    _set_ders(net, ds, feeder, interval, vertex.pq_der_p_mw, vertex.pq_der_q_mvar, loads)


def _set_ders(net, ds: xr.Dataset, feeder: str, interval: int, der_p: xr.DataArray, der_q: xr.DataArray,
              loads) -> None:
    """Set the feeder's DERs to ``der_p``/``der_q`` (over ``der``), split over their rows."""
    working = ds.sel(interval=interval, bid_point=0)
    for der in ds.der.values[ds.der_feeder.values == feeder]:
        p, q = float(der_p.sel(der=der)), float(der_q.sel(der=der))
        if ":" in str(der):  # an end-user group: the participating part of a class's loads
            customer_class = str(der).split(":", 1)[1]
            members = net.load.index[net.load.name.str.endswith(f" {customer_class}") & net.load.name.isin(loads)]
            delta = p - float(working.der_p_mw.sel(der=der))
            base_p = net.load.loc[members, "p_mw"].to_numpy()
            total = base_p.sum()
            if total > 0:
                new_p = base_p + delta * base_p / total
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(base_p > 0, net.load.loc[members, "q_mvar"].to_numpy() / base_p, 0.0)
                net.load.loc[members, "p_mw"] = new_p
                net.load.loc[members, "q_mvar"] = new_p * ratio
            continue
        table = net.sgen if str(ds.der_element.sel(der=der).item()) == "sgen" else net.load
        members = table.index[table.name == der]
        weights = (table.loc[members, "sn_mva"].to_numpy() if "sn_mva" in table and table is net.sgen
                   else np.ones(len(members)))
        weights = weights / weights.sum()
        table.loc[members, "p_mw"] = p * weights
        table.loc[members, "q_mvar"] = q * weights
