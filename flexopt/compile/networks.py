"""Compile stage, networks: one pandapower net per feeder from the validated scenario.

Synthetic feeders are generated deterministically from their parameters: a main
line of equal sections from the MV busbar to the feeder's end, laterals
branching off evenly spaced main-line nodes, every branch of the feeder's
conductor standard type, the annual demand spread over the nodes by customer
class, and the DERs at their declared positions. Imported feeders come from a
pandapower JSON file or a ``pandapower.networks`` builder. A file is read by
:func:`flexopt.language.feeder_nets.read_net` (data only, from an allow-list of
pandapower's tables), never by ``pandapower.from_json``, which imports whatever
module a file names.

The slack of every feeder net is its MV busbar, held at the substation's
setpoint: the on-load tap changer of the HV/MV transformer is taken as ideal.
The transformer itself is shared by all feeders, so its loading is checked at
substation level from the sum of the feeders' exchanges
(:func:`transformer_loading_percent`), not inside a single feeder's net, and its
losses turn the busbar exchange into the exchange the TSO sees (:func:`hv_exchange`).
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandapower as pp

from flexopt.errors import FlexoptError, Problem
from flexopt.files import atomic_path
from flexopt.language.feeder_nets import (  # noqa: F401 - LATERAL_LENGTH_SHARE: read by tests and users
    LATERAL_LENGTH_SHARE,
    NetFileError,
    busbar_name,
    lateral_bus_name,
    main_bus_name,
    read_net,
    synthetic_layout,
)
from flexopt.model import Case, Der, Feeder, PointOnFeeder, Scenario, Substation


@dataclass(frozen=True)
class DerElement:
    """Where a DER sits in its feeder's net: a table (sgen or load) and its rows, with the share of each row."""

    der: str
    table: str  # "sgen" or "load"
    indices: tuple[int, ...]
    shares: tuple[float, ...]


@dataclass(frozen=True)
class LoadElement:
    """A load that is not a DER: its row in net.load, the customer class and its share of the class's demand."""

    name: str
    index: int
    customer_class: str | None  # None: an imported load kept at its own constant value
    share: float
    p_mw: float  # constant value for classless imported loads
    q_mvar: float


@dataclass(frozen=True)
class FeederNet:
    """A feeder's pandapower net and the map from scenario elements to its tables."""

    feeder: str
    net: pp.pandapowerNet
    slack_bus: int
    main_path: tuple[int, ...]  # buses from the busbar to the end of the main line
    ders: tuple[DerElement, ...]
    loads: tuple[LoadElement, ...]
    load_power_factor: float

    def der(self, name: str) -> DerElement:
        return next(d for d in self.ders if d.der == name)


# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------


def build_networks(scenario: Scenario, case: Case) -> tuple[FeederNet, ...]:
    """One net per feeder as the case sees it (the items it changes applied), with the case's DERs placed."""
    return tuple(build_feeder_net(scenario, case, feeder) for feeder in case.feeders)


def build_feeder_net(scenario: Scenario, case: Case, feeder: Feeder) -> FeederNet:
    if feeder.source == "synthetic":
        net, slack, main_path, node_positions = _synthetic_topology(scenario, feeder)
    elif feeder.source == "substation":
        net, slack, main_path, node_positions = _substation_topology(scenario, feeder)
    else:
        net, slack, main_path, node_positions = _imported_topology(scenario, feeder)
    loads = _place_loads(net, feeder, node_positions)
    ders = _place_ders(net, [der for der in case.ders if der.feeder == feeder.name], feeder, main_path)
    return FeederNet(feeder.name, net, slack, main_path, ders, loads, feeder.load_power_factor)


def _conductor_std_type(net: pp.pandapowerNet, scenario: Scenario, name: str) -> str:
    """Register a user-defined conductor as a pandapower standard type (built-in types exist already)."""
    for conductor in scenario.conductor_types:
        if conductor.name == name:
            pp.create_std_type(net, {"r_ohm_per_km": conductor.r_ohm_per_km, "x_ohm_per_km": conductor.x_ohm_per_km,
                                     "c_nf_per_km": conductor.c_nf_per_km, "max_i_ka": conductor.max_i_ka,
                                     "type": "ol" if conductor.c_nf_per_km < 50 else "cs"}, name, element="line")
    return name


@functools.lru_cache(maxsize=1)
def _empty_network() -> pp.pandapowerNet:
    """pandapower's empty network with its standard types, made once per process: making it takes ~0.4 s,
    a copy ~0.02 s, and every feeder of every case starts from one."""
    return pp.create_empty_network(f_hz=50.0, sn_mva=1.0)


def _synthetic_topology(scenario: Scenario, feeder: Feeder):
    """Main line with laterals; returns the net, slack bus, main path and each load node's position (0..1].
    Buses and lines are created in one vectorised call each, in the order of the walk below."""
    sub = scenario.substation
    vn_kv = sub.transformer.lv_kv
    net = copy.deepcopy(_empty_network())
    net.name = feeder.name
    std_type = _conductor_std_type(net, scenario, feeder.conductor)
    slack = pp.create_bus(net, vn_kv, name=busbar_name(feeder.name), type="b")
    pp.create_ext_grid(net, slack, vm_pu=sub.busbar_pu, va_degree=0.0, name=f"{sub.name} OLTC")
    section_km = feeder.length_km / feeder.sections
    names: list[str] = []  # bus k of the walk is slack + 1 + k; its line comes from `starts[k]`
    starts: list[int] = []
    lengths_km: list[float] = []
    fractions: list[float] = []
    main = [slack]
    for k in range(1, feeder.sections + 1):
        names.append(main_bus_name(feeder.name, k))
        starts.append(main[-1])
        lengths_km.append(section_km)
        main.append(slack + len(names))
        fractions.append(k / feeder.sections)
    lateral_km, lateral_sections, anchors = synthetic_layout(feeder)
    for i, anchor_k in enumerate(anchors, start=1):
        previous = main[anchor_k]
        for j in range(1, lateral_sections + 1):
            names.append(lateral_bus_name(feeder.name, i, j))
            starts.append(previous)
            lengths_km.append(lateral_km / lateral_sections)
            previous = slack + len(names)
            distance = anchor_k * section_km + j * lateral_km / lateral_sections
            fractions.append(min(1.0, distance / feeder.length_km))
    buses = pp.create_buses(net, len(names), vn_kv, name=names, type="n")
    assert list(buses) == list(range(slack + 1, slack + 1 + len(names)))  # the walk's indices above
    pp.create_lines(net, starts, buses, lengths_km, std_type, name=names)
    positions = [(int(bus), fraction) for bus, fraction in zip(buses, fractions)]
    return net, slack, tuple(main), positions


def _imported_topology(scenario: Scenario, feeder: Feeder):
    if feeder.source == "file":
        try:  # never pandapower.from_json: it imports whatever module the file names
            net = read_net(feeder.path)
        except NetFileError as err:
            raise FlexoptError([Problem(err.message(feeder.path), feeder.span, err.hint)]) from None
    else:  # built once per process, a copy per feeder and case
        from flexopt.language.substation_nets import load_net

        net = load_net("pandapower", feeder.builder)
    net.name = feeder.name
    if len(net.ext_grid) == 0:
        raise FlexoptError([Problem(f"the imported network of feeder '{feeder.name}' has no slack (ext_grid)",
                                    feeder.span, "add an external grid at its busbar")])
    if len(net.ext_grid) > 1 or (len(net.gen) and net.gen.in_service.any()):
        several = len(net.ext_grid) > 1
        raise FlexoptError([Problem(f"the imported network of feeder '{feeder.name}' has "
                                    + ("more than one slack (ext_grid)" if several else "voltage-controlled generators (gen)"),
                                    feeder.span,
                                    f"a net of whole substations is imported with: substation {feeder.name} from "
                                    f"{'pandapower' if feeder.builder else 'file'} \"{feeder.builder or feeder.path.name}\""
                                    if several else "a feeder has one supply point, its MV busbar; model generators "
                                    "as static generators (sgen) or declare them as DERs")])
    if len(net.switch) and ((net.switch.et == "b") & net.switch.closed).any():
        raise FlexoptError([Problem(f"the imported network of feeder '{feeder.name}' has closed bus-bus switches",
                                    feeder.span, "fuse those buses first: pandapower.toolbox.fuse_buses(net, b1, b2)")])
    slack = int(net.ext_grid.bus.iloc[0])
    net.ext_grid["vm_pu"] = scenario.substation.busbar_pu
    return (net, slack, *_main_path_and_positions(net, slack))


def _substation_topology(scenario: Scenario, feeder: Feeder):
    """A feeder of an imported substation, cut out of its net (flexopt/language/substation_nets.py); its
    generators that are DERs leave the net (placed again as DERs at their buses), the others stay fixed."""
    from flexopt.language.substation_nets import SubstationNetError, feeder_net, load_net, substations_of

    source, reference = ("file", feeder.path) if feeder.path is not None else ("pandapower", feeder.builder)
    whole = load_net(source, reference)
    k, j = feeder.net_part
    part = substations_of(source, reference)[k]
    try:
        net = feeder_net(whole, part, part.feeders[j], scenario.substation_of(feeder).busbar_pu, feeder.name)
    except SubstationNetError as err:
        raise FlexoptError([Problem(err.detail, feeder.span, err.hint)]) from None
    net.sgen.drop(net.sgen.index.intersection(list(feeder.net_der_sgens)), inplace=True)
    slack = part.busbar
    return (net, slack, *_main_path_and_positions(net, slack))


def _main_path_and_positions(net: pp.pandapowerNet, slack: int) -> tuple[tuple[int, ...], list[tuple[int, float]]]:
    """An imported net's main path (to its electrically farthest bus) and each load bus's position (0..1]
    along it by distance from the slack (every bus but the slack when the net has no loads)."""
    main_path, distance = _longest_path(net, slack)
    total = max(distance.values()) or 1.0
    load_buses = net.load.bus.unique().tolist() if len(net.load) else [b for b in net.bus.index if b != slack]
    return main_path, [(int(b), distance.get(int(b), 0.0) / total) for b in load_buses]


def _longest_path(net: pp.pandapowerNet, slack: int) -> tuple[tuple[int, ...], dict[int, float]]:
    """Buses from the slack to the electrically farthest bus (by line length), and every bus's distance."""
    import networkx as nx
    from pandapower.topology import create_nxgraph

    graph = create_nxgraph(net, respect_switches=True, include_out_of_service=False)
    distance, paths = nx.single_source_dijkstra(graph, slack, weight="weight")
    far = max(distance, key=lambda b: (distance[b], -b))
    return tuple(int(b) for b in paths[far]), {int(b): float(d) for b, d in distance.items()}


CLASS_WEIGHT = {
    # where along the feeder (x = 0 at the busbar, 1 at its end) each class of customer sits
    "residential": lambda x: 1.0,
    "commercial": lambda x: 1.6 - x,
    "agricultural": lambda x: 0.4 + x,
    "industrial": lambda x: 1.0,
}


def _place_loads(net: pp.pandapowerNet, feeder: Feeder, positions: list[tuple[int, float]]) -> tuple[LoadElement, ...]:
    """One load per node and customer class, sharing the class's demand by position weights."""
    elements: list[LoadElement] = []
    with_demand = bool(feeder.demand_mwh_per_year or feeder.demand_peak_mw)
    if feeder.source != "synthetic" and not with_demand:
        for idx, row in net.load.iterrows():
            elements.append(LoadElement(str(row["name"]) if row["name"] is not None else f"load {idx}", int(idx), None,
                                        0.0, float(row.p_mw), float(row.q_mvar)))
        return tuple(elements)
    if feeder.source != "synthetic":  # imported with a declared demand: its loads mark where customers are
        weights_at = {int(r.bus): float(r.p_mw) for r in net.load.itertuples()} if len(net.load) else {}
        net.load.drop(net.load.index, inplace=True)
    else:
        weights_at = {}
    if not with_demand:
        return tuple(elements)
    for share in feeder.mix:
        weigh = CLASS_WEIGHT[share.customer_class]
        nodes = positions
        if share.customer_class == "industrial" and feeder.source == "synthetic" and len(positions) > 4:
            nodes = positions[2::4]  # a few larger sites rather than every node
        weights = np.array([max(weigh(x), 0.05) * weights_at.get(bus, 1.0) for bus, x in nodes])
        weights = weights / weights.sum()
        names = [f"{net.bus.at[bus, 'name']} {share.customer_class}" for bus, _ in nodes]
        indices = pp.create_loads(net, [bus for bus, _ in nodes], p_mw=0.0, q_mvar=0.0, name=names,
                                  type=share.customer_class)
        elements += [LoadElement(name, int(idx), share.customer_class, float(w), 0.0, 0.0)
                     for name, idx, w in zip(names, indices, weights)]
    return tuple(elements)


def _bus_at(point: PointOnFeeder, feeder: Feeder, main_path: tuple[int, ...], net: pp.pandapowerNet) -> int:
    fraction = point.fraction
    if fraction is None:
        length = feeder.length_km if feeder.length_km else _path_length(net, main_path)
        fraction = min(1.0, point.km / length) if length else 1.0
    k = max(1, min(len(main_path) - 1, round(fraction * (len(main_path) - 1))))
    return main_path[k]


def _path_length(net: pp.pandapowerNet, path: tuple[int, ...]) -> float:
    _, distance = _longest_path(net, path[0])
    return distance.get(path[-1], 0.0)


def _der_buses(net: pp.pandapowerNet, der: Der, feeder: Feeder, main_path: tuple[int, ...]) -> list[int]:
    """The buses a DER sits on: one, or every main-line bus of a stretch ``from ... to``."""
    position = der.position
    if position.kind == "bus":
        matches = net.bus.index[net.bus.name == position.bus].tolist()
        if not matches:
            names = [str(n) for n in net.bus.name.tolist()]
            from flexopt.errors import did_you_mean, known_list

            raise FlexoptError([Problem(f"feeder '{feeder.name}' has no bus named '{position.bus}'", position.span,
                                        did_you_mean(position.bus, names) or f"buses: {known_list(names)}")])
        return [int(matches[0])]
    if position.kind == "point":
        return [_bus_at(position.start, feeder, main_path, net)]
    first = main_path.index(_bus_at(position.start, feeder, main_path, net))
    last = main_path.index(_bus_at(position.end, feeder, main_path, net))
    return list(main_path[first:last + 1])


def _place_ders(net: pp.pandapowerNet, ders: list[Der], feeder: Feeder,
                main_path: tuple[int, ...]) -> tuple[DerElement, ...]:
    """Every DER of a feeder as rows of ``sgen`` (end-users: ``load``), created in one vectorised call per
    table: one ``create_sgen`` per DER is quadratic in their number (10,000 DERs took minutes)."""
    rows = {"sgen": [], "load": []}  # (der index, bus, share)
    for d, der in enumerate(ders):
        buses = _der_buses(net, der, feeder, main_path)
        table = "load" if der.kind == "enduser" else "sgen"
        rows[table].extend((d, bus, 1.0 / len(buses)) for bus in buses)
    indices: dict[int, list[int]] = {d: [] for d in range(len(ders))}
    shares: dict[int, list[float]] = {d: [] for d in range(len(ders))}
    for table, entries in rows.items():
        if not entries:
            continue
        owners = [ders[d] for d, _, _ in entries]
        buses = [bus for _, bus, _ in entries]
        names = [der.name for der in owners]
        if table == "load":
            created = pp.create_loads(net, buses, p_mw=0.0, q_mvar=0.0, name=names, type="enduser",
                                      controllable=True)
        else:
            created = pp.create_sgens(net, buses, p_mw=0.0, q_mvar=0.0, name=names,
                                      sn_mva=[der.apparent_mva * share for der, (_, _, share) in zip(owners, entries)],
                                      type=[der.kind for der in owners], controllable=True)
        for (d, _, share), idx in zip(entries, created):
            indices[d].append(int(idx))
            shares[d].append(share)
    return tuple(DerElement(der.name, "load" if der.kind == "enduser" else "sgen", tuple(indices[d]), tuple(shares[d]))
                 for d, der in enumerate(ders))


# ---------------------------------------------------------------------------
# Operating points
# ---------------------------------------------------------------------------


def reactive_of(p_mw: np.ndarray | float, power_factor: float, absorbing: bool) -> np.ndarray | float:
    """Reactive power at a fixed power factor (sign: generator convention, absorbing negative)."""
    tan_phi = math.tan(math.acos(min(1.0, power_factor)))
    return (-1.0 if absorbing else 1.0) * np.asarray(p_mw) * tan_phi


@dataclass(frozen=True)
class OperatingPoints:
    """Expected P and Q of every load and DER row of a feeder net over the intervals (rows: interval)."""

    load_p_mw: np.ndarray  # (interval, net.load row) in the order of net.load.index
    load_q_mvar: np.ndarray
    sgen_p_mw: np.ndarray  # (interval, net.sgen row)
    sgen_q_mvar: np.ndarray
    sgen_available_mw: np.ndarray  # (interval, net.sgen row): the resource before any derating
    interval_hours: float = 1.0  # length of one interval (the calendar's step), for energy limits of storage


def derating_mw(der, case: Case, available_mw: np.ndarray) -> np.ndarray:
    """What a DER gives up of its available output to offer it upward ("up ... derated"), per interval."""
    bid = case.bid_for(der.name, der.kind, der.customer_class)
    if bid.up is None or not bid.up.derated:
        return np.zeros_like(available_mw)
    return np.clip(np.minimum(bid.up.quantity_mw(available_mw, bid.participation), available_mw), 0.0, None)


def operating_points(feeder_net: FeederNet, case: Case, profiles) -> OperatingPoints:
    """The expected working point (no bid) of the feeder in every interval; a DER whose upward offer
    is derated works below its available output by that offer."""
    net = feeder_net.net
    n = len(profiles.days.weight_h)
    load_pos = {idx: i for i, idx in enumerate(net.load.index)}
    sgen_pos = {idx: i for i, idx in enumerate(net.sgen.index)}
    load_p = np.zeros((n, len(net.load)))
    load_q = np.zeros((n, len(net.load)))
    sgen_p = np.zeros((n, len(net.sgen)))
    sgen_q = np.zeros((n, len(net.sgen)))
    sgen_available = np.zeros((n, len(net.sgen)))
    if len(net.sgen):  # generators that are not DERs stay fixed injections at their own value
        sgen_p[:] = sgen_available[:] = (net.sgen.p_mw * net.sgen.scaling).fillna(0.0).to_numpy()
        sgen_q[:] = (net.sgen.q_mvar * net.sgen.scaling).fillna(0.0).to_numpy()
    tan_load = math.tan(math.acos(feeder_net.load_power_factor))
    class_series: dict[str, np.ndarray] = {}
    for load in feeder_net.loads:
        col = load_pos[load.index]
        if load.customer_class is None:
            load_p[:, col] = load.p_mw
            load_q[:, col] = load.q_mvar
            continue
        if load.customer_class not in class_series:
            class_series[load.customer_class] = profiles.feeder_class_demand_mw(feeder_net.feeder, load.customer_class)
        load_p[:, col] = class_series[load.customer_class] * load.share
        load_q[:, col] = load_p[:, col] * tan_load
    for element in feeder_net.ders:
        der = case.der(element.der)
        p = np.asarray(profiles.der_p_mw[der.name], dtype=float)
        derating = derating_mw(der, case, p) if element.table == "sgen" else 0.0
        for idx, share in zip(element.indices, element.shares):
            if element.table == "load":
                col = load_pos[idx]
                load_p[:, col] = p * share
                load_q[:, col] = p * share * math.tan(math.acos(der.power_factor))
            else:
                col = sgen_pos[idx]
                sgen_available[:, col] = p * share
                sgen_p[:, col] = (p - derating) * share
                sgen_q[:, col] = reactive_of(sgen_p[:, col], der.power_factor, der.q_direction == "absorbing")
    steps_per_day = len(np.unique(profiles.days.hour)) or 24
    return OperatingPoints(load_p, load_q, sgen_p, sgen_q, sgen_available, 24.0 / steps_per_day)


def set_interval(net: pp.pandapowerNet, points: OperatingPoints, interval: int) -> None:
    """Write one interval's expected setpoints into the net (for pandapower.runpp)."""
    net.load["p_mw"] = points.load_p_mw[interval]
    net.load["q_mvar"] = points.load_q_mvar[interval]
    net.sgen["p_mw"] = points.sgen_p_mw[interval]
    net.sgen["q_mvar"] = points.sgen_q_mvar[interval]


def transformer_loading_percent(substation: Substation, p_mw: np.ndarray, q_mvar: np.ndarray) -> np.ndarray:
    """Loading of the HV/MV transformer from the summed exchange of all feeders at the busbar.

    The busbar is held at its setpoint, so the current is |S| / (sqrt(3) * v_busbar * V_n);
    relative to the rated current that is |S| / (v_busbar * S_n).
    """
    apparent = np.hypot(p_mw, q_mvar)
    return 100.0 * apparent / (substation.busbar_pu * substation.transformer.rated_mva)


def hv_exchange(substation: Substation, p_mw: np.ndarray, q_mvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exchange at the transformer's HV terminals (the TSO's side) for a busbar exchange ``p_mw``/``q_mvar``.

    pandapower's T model of the HV/MV transformer (series impedance from the short-circuit voltage
    and copper losses, split in halves around the magnetising branch from the iron losses and the
    no-load current), with the busbar held at its setpoint by the ideal on-load tap changer, so the
    tap adds no loss. Load convention on both sides; the difference is the transformer's losses.
    """
    t = substation.transformer
    s_pu = (np.asarray(p_mw, dtype=float) + 1j * np.asarray(q_mvar, dtype=float)) / t.rated_mva
    z_half = 0.5 * complex(t.vkr_percent, math.sqrt(t.vk_percent ** 2 - t.vkr_percent ** 2)) / 100.0
    g = t.pfe_kw / 1000.0 / t.rated_mva
    y_abs = t.i0_percent / 100.0
    shunt = complex(g, math.sqrt(max(y_abs ** 2 - g ** 2, 0.0)))  # consumed at 1 pu: iron losses + magnetising
    v_lv = complex(substation.busbar_pu, 0.0)
    with np.errstate(invalid="ignore"):  # a point without a power-flow solution stays NaN
        current = np.conj(s_pu / v_lv)
        v_mid = v_lv + current * z_half
        current_hv = current + np.conj(np.abs(v_mid) ** 2 * shunt / v_mid)
        s_hv = (v_mid + current_hv * z_half) * np.conj(current_hv) * t.rated_mva
    return s_hv.real, s_hv.imag


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


def export_nets(scenario: Scenario, case: Case, out: Path) -> list[Path]:
    """Write DIR/<feeder>.json for every feeder, each written atomically; loads at their annual peak."""
    from flexopt.compile.profiles import compile_profiles

    profiles = compile_profiles(scenario, case)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for feeder_net in build_networks(scenario, case):
        points = operating_points(feeder_net, case, profiles)
        peak = int(np.argmax(points.load_p_mw.sum(axis=1))) if points.load_p_mw.size else 0
        set_interval(feeder_net.net, points, peak)
        path = out / f"{feeder_net.feeder}.json"
        with atomic_path(path) as tmp:
            pp.to_json(feeder_net.net, str(tmp))
        written.append(path)
    return written
