"""What is known of a feeder's net before it is built: its bus names, and a safe reader of pandapower JSON.

``pandapower.from_json`` imports whatever module a file names (``"_module": ..., "_class": ...``)
and calls it, so a network file in a shared study folder could run code. :func:`read_net` never
does: it parses the file with :mod:`json` and rebuilds the net from an allow-list of pandapower's
own element tables, each a ``pandas.core.frame.DataFrame`` in the "split" layout
``pandapower.to_json`` writes, its cells plain JSON values (dicts refused), its dtypes from an
allow-list. Anything else that names a module or class is refused with a :class:`NetFileError`
naming the JSON key; result tables (``res_*``) are skipped. The validator reads the bus names
with it at check time, the compile stage the whole net.

:func:`synthetic_bus_names` gives the names the compile stage gives the buses of a synthetic
feeder, so that ``flexopt check`` can refuse a DER placed at a bus that does not exist.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from pathlib import Path

#: The largest network file read (bytes): far above a real MV feeder, far below what exhausts memory.
MAX_BYTES = 64 * 2**20
BUSBAR_NAME = "busbar"
#: Length of each lateral as a share of the main line, by ambit.
LATERAL_LENGTH_SHARE = {"rural": 0.25, "urban": 0.15, "dedicated": 0.10, None: 0.15}

NET_SIGNATURE = ("pandapower.auxiliary", "pandapowerNet")
FRAME_SIGNATURES = {("pandas.core.frame", "DataFrame"), ("pandas", "DataFrame")}
#: pandapower's element tables that are read; their cells are data (numbers, strings, lists of them).
TABLES = frozenset({
    "bus", "line", "trafo", "trafo3w", "load", "sgen", "gen", "ext_grid", "switch", "shunt", "impedance", "ward",
    "xward", "storage", "motor", "asymmetric_load", "asymmetric_sgen", "measurement", "poly_cost", "pwl_cost",
    "bus_dc", "line_dc", "dcline", "svc", "ssc", "tcsc", "vsc", "vsc_stacked", "vsc_bipolar", "source_dc", "load_dc",
    "controller", "group", "bus_geodata", "line_geodata",
})
#: SimBench's own tables (its MV grids are pandapower nets with these besides): checked to be pandas tables
#: (never anything that names other code), never parsed or used.
#: ``profiles`` is a dict of tables (SimBench's yearly series); flexopt uses the scenario's profiles instead.
SIMBENCH_TABLES = frozenset({"substation", "loadcases"})
#: Keys of a DataFrame entry besides its signature and its table.
FRAME_KEYS = frozenset({"orient", "dtype", "is_multiindex", "is_multicolumn", "index_name", "column_name"})
DTYPES = frozenset({"object", "bool", "boolean", "str", "string", "float64", "float32", "Float64", "int64", "int32",
                    "int16", "int8", "uint64", "uint32", "uint16", "uint8", "Int64", "Int32", "Int16", "Int8",
                    "UInt64", "UInt32", "UInt16", "UInt8"})
SCALARS = {"name": (str, type(None)), "f_hz": (int, float), "sn_mva": (int, float), "version": (str,),
           "format_version": (str,), "converged": (bool,), "OPF_converged": (bool,)}
HINT = "export the network with pandapower.to_json(net, path); flexopt reads only pandapower's own tables"
UNSAFE_HINT = ("flexopt never imports what a network file names; keep pandapower's element tables only and "
               "export the net again with pandapower.to_json(net, path)")


class NetFileError(Exception):
    """A network file flexopt refuses: ``unsafe`` when it names code to import, else malformed."""

    def __init__(self, detail: str, hint: str = HINT, unsafe: bool = False) -> None:
        super().__init__(detail)
        self.detail, self.hint, self.unsafe = detail, hint, unsafe

    def message(self, path: Path) -> str:
        return f"cannot use the pandapower network {path.name}: {self.detail}"


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def read_net(path: Path):
    """The pandapower net a JSON file holds, rebuilt from data only; raises NetFileError."""
    import pandapower as pp

    tables, others = _checked(path)
    try:
        net = pp.create_empty_network()
        for key, (value, split) in tables.items():
            net[key] = _frame(key, value, split)
        net.update(others)
    except NetFileError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever else the file's data makes pandas refuse
        raise NetFileError(f"cannot rebuild it ({type(err).__name__}: {_short(str(err), 60)})") from None
    _convert_format(net)
    _check_buses(net)
    return net


#: Columns of element tables that name a bus.
BUS_COLUMNS = {"line": ("from_bus", "to_bus"), "impedance": ("from_bus", "to_bus"), "trafo": ("hv_bus", "lv_bus"),
               "trafo3w": ("hv_bus", "mv_bus", "lv_bus"), "switch": ("bus",), "load": ("bus",), "sgen": ("bus",),
               "gen": ("bus",), "ext_grid": ("bus",), "shunt": ("bus",), "storage": ("bus",), "ward": ("bus",),
               "xward": ("bus",), "motor": ("bus",), "asymmetric_load": ("bus",), "asymmetric_sgen": ("bus",)}


def _check_buses(net) -> None:
    """Every element is connected to buses the net has (a bus-bus switch's element is a bus too)."""
    buses = set(net.bus.index.tolist())
    for table, columns in BUS_COLUMNS.items():
        frame = net[table]
        pairs = [(c, frame[c]) for c in columns if c in frame]
        if table == "switch" and {"et", "element"} <= set(frame.columns):
            pairs.append(("element", frame.element[frame.et == "b"]))
        for column, values in pairs:
            for row, bus in values.items():
                if bus not in buses:
                    raise NetFileError(f'table "{table}" row {row}: {column} {_short(bus)} is not a bus of the network')


@functools.lru_cache(maxsize=8)
def builder_net(builder: str):
    """The net a ``pandapower.networks`` builder makes, built once per process and shared: never to be
    changed (copy it first). pandapower's advice to install numba is not for flexopt's users: the batch
    power flow needs none."""
    import logging

    import pandapower.networks as pn

    logging.getLogger("pandapower.auxiliary").setLevel(logging.ERROR)
    return getattr(pn, builder)()


def builder_bus_names(builder: str) -> tuple[str, ...] | None:
    """The bus names of the net a ``pandapower.networks`` builder makes (built once per process, for
    ``check`` and ``run`` alike), or None when the builder cannot be called without arguments (``run`` reports it)."""
    try:
        net = builder_net(builder)
    except Exception:  # noqa: BLE001 - a builder that needs arguments or fails: the run says so
        return None
    return tuple(str(name) for name in net.bus.get("name", ()) if isinstance(name, str) or name == name)


def net_bus_names(path: Path) -> tuple[str, ...]:
    """The bus names of the net a JSON file holds, from the checked file without building the net."""
    tables, _ = _checked(path)
    if "bus" not in tables:
        return ()
    _, split = tables["bus"]
    if "name" not in split["columns"]:
        return ()
    j = split["columns"].index("name")
    return tuple(str(row[j]) for row in split["data"] if row[j] is not None)


def _checked(path: Path) -> tuple[dict[str, tuple[dict, dict]], dict]:
    """Every table flexopt reads, as (entry, parsed "split" table), and the plain values; all checked."""
    obj = _net_object(_load_json(path))
    tables: dict[str, tuple[dict, dict]] = {}
    others: dict = {}
    for key, value in obj.items():
        if isinstance(value, dict) and ("_module" in value or "_class" in value):
            _check_frame_signature(key, value)
            if key.startswith("res_") or key in SIMBENCH_TABLES:
                continue  # results of an earlier power flow (recomputed) and SimBench's tables: never read
            split = _split(key, value)
            if key in TABLES:
                tables[key] = (value, split)
            elif split["data"]:
                raise NetFileError(f'table "{key}" is not one of pandapower\'s element tables flexopt reads')
        elif key == "std_types":
            others["std_types"] = _std_types(value)
        elif key == "profiles" and isinstance(value, dict):
            for name, frame in value.items():  # each a DataFrame of numbers, checked like the element tables
                if not (isinstance(frame, dict) and ("_module" in frame or "_class" in frame)):
                    raise NetFileError(f'key "profiles|{_short(name)}" is not a table')
                _check_frame_signature(f"profiles|{name}", frame)  # a pandas table (its text is never parsed)
        elif key == "user_pf_options":
            _scan(value, key)  # solver options: flexopt runs its own power flow
        elif key in SCALARS:
            if not isinstance(value, SCALARS[key]) or (isinstance(value, bool) and bool not in SCALARS[key]):
                raise NetFileError(f'key "{key}" holds {type(value).__name__} {_short(value)}')
            others[key] = value
        else:
            _scan(value, key)  # unknown plain data: nothing in it is used
    return tables, others


def _load_json(path: Path):
    try:  # opened without blocking, so that a FIFO is refused rather than waited on
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise NetFileError("not a regular file", "name a .json file saved by pandapower.to_json")
            if info.st_size > MAX_BYTES:
                raise NetFileError(f"{info.st_size / 2**20:.0f} MB is more than the {MAX_BYTES // 2**20} MB read")
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise NetFileError(f"cannot read it: {err.strerror or err}", "check that the file is readable") from None
    if len(data) > MAX_BYTES:
        raise NetFileError(f"more than the {MAX_BYTES // 2**20} MB read")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise NetFileError("it is not UTF-8 text", HINT) from None
    except json.JSONDecodeError as err:
        raise NetFileError(f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    except RecursionError:
        raise NetFileError("its JSON is nested too deeply") from None


def _net_object(data) -> dict:
    if not isinstance(data, dict):
        raise NetFileError(f"the file holds a JSON {type(data).__name__}, not a pandapower network")
    signature = (data.get("_module"), data.get("_class"))
    if signature != NET_SIGNATURE:
        if "_module" in data or "_class" in data:
            raise NetFileError(f'its top-level "_module"/"_class" is {_short(signature[0])}/{_short(signature[1])}, '
                               "not pandapower.auxiliary/pandapowerNet", UNSAFE_HINT, unsafe=True)
        raise NetFileError('it holds no pandapower network (no "_class": "pandapowerNet" at its top)')
    extra = sorted(set(data) - {"_module", "_class", "_object"})
    if extra:
        raise NetFileError(f'unexpected top-level key "{extra[0]}"')
    obj = data.get("_object")
    if not isinstance(obj, dict):
        raise NetFileError('its "_object" is not the table of the network\'s elements')
    return obj


def _check_frame_signature(key: str, value: dict) -> None:
    signature = (value.get("_module"), value.get("_class"))
    if not all(isinstance(part, str) for part in signature) or signature not in FRAME_SIGNATURES:
        raise NetFileError(f'key "{key}" names the Python module {_short(signature[0])} (class {_short(signature[1])})',
                           UNSAFE_HINT, unsafe=True)
    extra = sorted(set(value) - FRAME_KEYS - {"_module", "_class", "_object"})
    if extra:
        raise NetFileError(f'table "{key}" has the unexpected key "{extra[0]}"')


def _split(key: str, value: dict) -> dict:
    """A table's "split" JSON text parsed, its cells and its dtypes checked against the allow-lists."""
    if value.get("orient", "split") != "split" or value.get("is_multiindex") or value.get("is_multicolumn"):
        raise NetFileError(f'table "{key}" is not in the "split" layout of pandapower.to_json')
    text = value.get("_object")
    if not isinstance(text, str):
        raise NetFileError(f'table "{key}" has no "_object" text')
    try:
        split = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise NetFileError(f'table "{key}": its "_object" is not valid JSON') from None
    if not isinstance(split, dict) or not {"columns", "data"} <= set(split) or set(split) - {"columns", "index", "data"}:
        raise NetFileError(f'table "{key}": its "_object" is not a table of columns, index and data')
    columns, data = split["columns"], split["data"]
    if not isinstance(data, list):
        raise NetFileError(f'table "{key}": its "data" is not a list of rows')
    index = split.get("index", list(range(len(data))))
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
        raise NetFileError(f'table "{key}": its columns must be distinct names')
    if not isinstance(index, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
        raise NetFileError(f'table "{key}": its index must be whole numbers')
    if len(data) != len(index) or len(set(index)) != len(index):
        raise NetFileError(f'table "{key}": {len(index)} distinct index labels are needed for its rows')
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise NetFileError(f'table "{key}": row {i} does not have {len(columns)} cells')
        for column, cell in zip(columns, row):
            _cell(key, column, i, cell)
    dtypes = value.get("dtype", {})
    if not isinstance(dtypes, dict):
        raise NetFileError(f'table "{key}": its "dtype" is not a map of columns to types')
    for column, dtype in dtypes.items():
        if column not in columns:
            raise NetFileError(f'table "{key}": "dtype" names the column "{column}" it does not have')
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise NetFileError(f'table "{key}" column "{column}": dtype {_short(dtype)} is not read',
                               "use numbers, booleans or text (pandapower's own dtypes)")
    return split


def _frame(key: str, value: dict, split: dict):
    """The DataFrame of a checked table, in the dtypes it was saved with."""
    import pandas as pd

    columns, index, data = split["columns"], split.get("index", list(range(len(split["data"])))), split["data"]
    dtypes = value.get("dtype", {})
    frame = pd.DataFrame({c: pd.Series([row[j] for row in data], dtype=object) for j, c in enumerate(columns)},
                         columns=columns)
    try:
        frame.index = pd.Index(index, dtype="int64")
    except (ValueError, TypeError, OverflowError):
        raise NetFileError(f'table "{key}": its index does not fit 64-bit whole numbers') from None
    for column, dtype in dtypes.items():
        if dtype != "object":
            try:
                frame[column] = frame[column].astype(dtype)
            except (ValueError, TypeError, OverflowError) as err:
                raise NetFileError(f'table "{key}" column "{column}" is not {dtype}: {_short(str(err), 60)}') from None
    for column in (c for c in columns if c not in dtypes):
        frame[column] = frame[column].infer_objects()
    name = value.get("index_name")
    if isinstance(name, str):
        frame.index.name = name
    return frame


def _cell(key: str, column: str, row: int, cell, depth: int = 0) -> None:
    if cell is None or isinstance(cell, (bool, int, float, str)):
        return
    if isinstance(cell, list) and depth < 4:
        for item in cell:
            _cell(key, column, row, item, depth + 1)
        return
    where = f'table "{key}" row {row} column "{column}"'
    if isinstance(cell, dict) and ("_module" in cell or "_class" in cell):
        raise NetFileError(f"{where} names the Python module {_short(cell.get('_module'))}", UNSAFE_HINT, unsafe=True)
    raise NetFileError(f"{where} holds an object, not a value")


def _std_types(value) -> dict:
    if not isinstance(value, dict):
        raise NetFileError('key "std_types" is not a map of standard types')
    result = {}
    for element, types in value.items():
        if not isinstance(types, dict):
            raise NetFileError(f'key "std_types"."{element}" is not a map of standard types')
        result[element] = {}
        for name, params in types.items():
            if not isinstance(params, dict):
                raise NetFileError(f'standard type "{name}" ({element}) is not a map of parameters')
            for param, v in params.items():
                _cell(f"std_types.{element}", param, 0, v)
            result[element][name] = dict(params)
    return result


def _scan(value, key: str, depth: int = 0) -> None:
    """Refuse anything that names a module or class inside data flexopt does not use."""
    if depth > 50:
        raise NetFileError(f'key "{key}" is nested too deeply')
    if isinstance(value, dict):
        if "_module" in value or "_class" in value:
            raise NetFileError(f'key "{key}" names the Python module {_short(value.get("_module"))}', UNSAFE_HINT,
                               unsafe=True)
        for k, v in value.items():
            _scan(v, f"{key}.{k}", depth + 1)
    elif isinstance(value, list):
        for v in value:
            _scan(v, key, depth + 1)


def _convert_format(net) -> None:
    """Bring a net saved by an older pandapower to the current format (pandapower's own data conversion)."""
    from pandapower.convert_format import convert_format

    try:
        convert_format(net)
    except Exception as err:  # noqa: BLE001 - pandapower refusing the file's version or layout
        raise NetFileError(f"pandapower cannot convert it ({_short(str(err), 80)})",
                           "open and save it with the pandapower flexopt uses: pandapower.to_json(net, path)") from None


def _short(value, limit: int = 40) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


# ---------------------------------------------------------------------------
# Synthetic feeders
# ---------------------------------------------------------------------------


def synthetic_layout(feeder) -> tuple[float, int, tuple[int, ...]]:
    """A synthetic feeder's laterals: their length (km), sections each, and the main-line node each branches off."""
    lateral_km = LATERAL_LENGTH_SHARE.get(feeder.ambit, 0.15) * feeder.length_km
    lateral_sections = max(2, round(feeder.sections * lateral_km / feeder.length_km))
    anchors = tuple(max(1, round(i * feeder.sections / (feeder.laterals + 1))) for i in range(1, feeder.laterals + 1))
    return lateral_km, lateral_sections, anchors


def busbar_name(feeder: str) -> str:
    return f"{feeder} {BUSBAR_NAME}"


def main_bus_name(feeder: str, k: int) -> str:
    return f"{feeder}-M{k:02d}"


def lateral_bus_name(feeder: str, lateral: int, j: int) -> str:
    return f"{feeder}-L{lateral}-{j:02d}"


def synthetic_bus_names(feeder) -> tuple[str, ...]:
    """The names of a synthetic feeder's buses, in the order the compile stage creates them."""
    _, lateral_sections, anchors = synthetic_layout(feeder)
    names = [busbar_name(feeder.name)] + [main_bus_name(feeder.name, k) for k in range(1, feeder.sections + 1)]
    names += [lateral_bus_name(feeder.name, i, j) for i in range(1, len(anchors) + 1)
              for j in range(1, lateral_sections + 1)]
    return tuple(names)
