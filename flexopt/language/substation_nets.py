"""What a pandapower net of whole substations holds: its HV/MV substations, the feeders that leave
each MV busbar, and the loads and generators each feeder supplies.

Data only, found on the net's graph as its switches leave it (open switches cut rings, which then
run radially; out-of-service elements count as absent): the validator names the study's
substations, feeders and DERs from it, and the compile stage cuts each feeder's net out of the
whole (:func:`feeder_net`). A net that cannot be used this way raises :class:`SubstationNetError`
with what to change.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from flexopt.language.feeder_nets import builder_net, read_net
from flexopt.model import TransformerData

#: Words in `sgen.type` (compared without case, as whole words of the type: "PV", "PV_MV", "WP", "Wind_MV",
#: "CHP diesel") -> kind of DER; `type "X" as KIND` in a scenario maps any other type.
SGEN_KINDS = {"pv": "pv", "wp": "wind", "wind": "wind", "chp": "chp", "storage": "storage", "battery": "storage"}


def sgen_kind(sgen_type: str) -> str | None:
    """The kind of DER a pandapower `sgen.type` names by default, or None."""
    words = re.split(r"[^a-z]+", sgen_type.lower())
    kinds = {SGEN_KINDS[w] for w in words if w in SGEN_KINDS}
    return kinds.pop() if len(kinds) == 1 else None


class SubstationNetError(Exception):
    """Why a net cannot be imported as substations, and the hint."""

    def __init__(self, detail: str, hint: str) -> None:
        super().__init__(detail)
        self.detail, self.hint = detail, hint


@dataclass(frozen=True)
class NetFeeder:
    """A feeder: the buses a line leaving the MV busbar supplies (the busbar excluded)."""

    label: str  # the first line's name, as an identifier
    first_line: int
    buses: tuple[int, ...]
    loads: tuple[int, ...]  # in-service rows of net.load on those buses
    sgens: tuple[int, ...]  # in-service rows of net.sgen
    radial: bool
    storages: tuple[int, ...] = ()  # in-service rows of net.storage


@dataclass(frozen=True)
class NetSubstation:
    """An HV/MV substation of the net: its transformer(s), MV busbar and feeders."""

    trafos: tuple[int, ...]  # parallel transformers feeding one busbar are one substation
    trafo_name: str
    busbar: int
    busbar_buses: tuple[int, ...]  # the busbar and the buses fused to it by closed bus-bus switches
    transformer: TransformerData  # of the net's transformer(s); parallel ones add their ratings
    feeders: tuple[NetFeeder, ...]
    busbar_loads: int  # loads and generators on the busbar itself, counted with the first feeder (no
    busbar_sgens: int  # impedance between them and the busbar: only the transformer sees them)


def identifier(text: str) -> str:
    """A net's element name as a scenario name: letters, digits and '_' only."""
    word = re.sub(r"\W+", "_", str(text)).strip("_")
    return word if word and not word[0].isdigit() else f"n{word}"


@functools.lru_cache(maxsize=8)
def _file_net(path: Path, mtime_ns: int):
    return read_net(path)


def base_net(source: str, reference: str | Path):
    """The net of a statement as read once per process: shared, never to be changed (see :func:`load_net`)."""
    if source == "pandapower":
        return builder_net(str(reference))
    logging.getLogger("pandapower.auxiliary").setLevel(logging.ERROR)
    path = Path(reference)
    return _file_net(path, path.stat().st_mtime_ns)


#: The split of each net read, by its source and reference (a file's also by its modification time).
_SPLITS: dict[tuple, tuple] = {}


def substations_of(source: str, reference: str | Path) -> tuple["NetSubstation", ...]:
    """:func:`split_substations` of a statement's net, once per process (the compile stage cuts every
    feeder of a region out of the same few nets)."""
    key = (source, str(reference), Path(reference).stat().st_mtime_ns if source == "file" else 0)
    if key not in _SPLITS:
        _SPLITS[key] = split_substations(base_net(source, reference))
    return _SPLITS[key]


def load_net(source: str, reference: str | Path):
    """The whole net of a `substation ... from` statement (a fresh copy; the read is cached)."""
    return copy.deepcopy(base_net(source, reference))


def _closed_bus_switch_groups(net) -> dict[int, int]:
    """Each bus -> the smallest bus it is fused with through closed bus-bus switches."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(int(b) for b in net.bus.index)
    if len(net.switch):
        closed = net.switch[(net.switch.et == "b") & net.switch.closed]
        graph.add_edges_from(zip(closed.bus.astype(int), closed.element.astype(int)))
    return {int(b): min(group) for group in nx.connected_components(graph) for b in group}


def _branch_graph(net):
    """Buses joined by the in-service lines and transformers whose switches are closed, and by closed
    bus-bus switches (MultiGraph: parallel lines stay parallel edges, keyed by (table, index))."""
    import networkx as nx

    graph = nx.MultiGraph()
    graph.add_nodes_from(int(b) for b in net.bus.index[net.bus.in_service])
    open_line = open_trafo = set()
    if len(net.switch):
        opened = net.switch[~net.switch.closed]
        open_line = set(opened.element[opened.et == "l"].astype(int))
        open_trafo = set(opened.element[opened.et == "t"].astype(int))
    for idx, row in net.line[net.line.in_service].iterrows():
        if int(idx) not in open_line:
            graph.add_edge(int(row.from_bus), int(row.to_bus), key=("line", int(idx)))
    for idx, row in net.trafo[net.trafo.in_service].iterrows():
        if int(idx) not in open_trafo:
            graph.add_edge(int(row.hv_bus), int(row.lv_bus), key=("trafo", int(idx)))
    if len(net.switch):
        closed = net.switch[(net.switch.et == "b") & net.switch.closed]
        for idx, row in closed.iterrows():
            graph.add_edge(int(row.bus), int(row.element), key=("switch", int(idx)))
    return graph


def split_substations(net) -> tuple[NetSubstation, ...]:
    """The HV/MV substations of ``net`` (one per MV busbar an in-service transformer supplies from an
    external grid), each with its feeders; raises :class:`SubstationNetError` where the net cannot be used."""
    import networkx as nx

    if len(net.ext_grid[net.ext_grid.in_service]) == 0:
        raise SubstationNetError("the network has no external grid (ext_grid)", "add one at the HV side of "
                                 "each HV/MV transformer: pandapower.create_ext_grid(net, hv_bus)")
    if len(net.gen) and net.gen.in_service.any():
        raise SubstationNetError(f"the network has {int(net.gen.in_service.sum())} voltage-controlled generators "
                                 "(gen)", "flexopt assesses generators as static generators (sgen) with a "
                                 "capability curve; convert them: pandapower.toolbox.replace_gen_by_sgen(net)")
    if len(net.trafo3w) and net.trafo3w.in_service.any():
        raise SubstationNetError("the network has three-winding transformers", "replace them by two-winding "
                                 "ones, or import each MV busbar's feeders with 'feeder ... from file'")
    graph = _branch_graph(net)
    trafo_edges = [(a, b, k) for a, b, k in graph.edges(keys=True) if k[0] == "trafo"]  # in service, switched in
    no_trafos = graph.copy()
    no_trafos.remove_edges_from(trafo_edges)
    supply_side = set()
    for bus in net.ext_grid.bus[net.ext_grid.in_service].astype(int):
        supply_side |= nx.node_connected_component(no_trafos, bus) if bus in no_trafos else {bus}
    switched_in = {k[1] for _, _, k in trafo_edges}
    supplying = [int(t) for t in net.trafo.index if int(t) in switched_in and int(net.trafo.hv_bus[t]) in supply_side
                 and int(net.trafo.lv_bus[t]) not in supply_side]  # in the net's order of transformers
    if not supplying:
        raise SubstationNetError("the network has no in-service HV/MV transformer next to its external grid",
                                 "a net of feeders only is imported with: feeder NAME from file \"...\"")
    fused = _closed_bus_switch_groups(net)
    by_busbar: dict[int, list[int]] = {}
    for t in supplying:
        by_busbar.setdefault(fused[int(net.trafo.lv_bus[t])], []).append(t)
    mv = graph.copy()
    mv.remove_edges_from([(a, b, k) for a, b, k in trafo_edges if k[1] in supplying])
    mv.remove_nodes_from(supply_side)
    busbar_groups = {root: {b for b, r in fused.items() if r == root} for root in by_busbar}
    owner = {b: root for root, group in busbar_groups.items() for b in group}
    cut = mv.copy()
    cut.remove_nodes_from(owner)
    substations = []
    for root, trafos in by_busbar.items():
        group = busbar_groups[root]
        feeders, seen = [], set()
        for line in sorted(int(k[1]) for a, b, k in mv.edges(group, keys=True) if k[0] == "line"):
            row = net.line.loc[line]
            far = int(row.to_bus) if int(row.from_bus) in group else int(row.from_bus)
            if far in group or far in seen:
                continue
            buses = nx.node_connected_component(cut, far)
            seen |= buses
            others = {owner[n] for b in buses for n in mv.neighbors(b) if n in owner} - {root}
            if others:
                raise SubstationNetError(
                    f"the feeder of line '{row['name']}' connects the busbars of two substations (buses "
                    f"{root} and {min(others)}) through closed switches", "open the switch where the two are "
                    "meant to be separated (net.switch.closed), as they run in operation")
            edges = {frozenset((a, b)) for a, b in mv.subgraph(buses | group).edges() if not {a, b} <= group}
            loads = net.load.index[net.load.in_service & net.load.bus.isin(buses)]
            sgens = net.sgen.index[net.sgen.in_service & net.sgen.bus.isin(buses)]
            storages = net.storage.index[net.storage.in_service & net.storage.bus.isin(buses)]
            feeders.append(NetFeeder(identifier(row["name"] if row["name"] else f"line {line}"), line,
                                     tuple(sorted(int(b) for b in buses)), tuple(int(i) for i in loads),
                                     tuple(int(i) for i in sgens), len(edges) == len(buses),
                                     tuple(int(i) for i in storages)))
        on_busbar = net.load.index[net.load.in_service & net.load.bus.isin(list(group))]
        gens_on_busbar = net.sgen.index[net.sgen.in_service & net.sgen.bus.isin(list(group))]
        if feeders and (len(on_busbar) or len(gens_on_busbar)):  # no impedance to them: the first feeder's
            first = feeders[0]
            feeders[0] = replace(first, loads=first.loads + tuple(int(i) for i in on_busbar),
                                 sgens=first.sgens + tuple(int(i) for i in gens_on_busbar))
        t0 = net.trafo.loc[trafos[0]]
        names = [str(net.trafo.name[t]) for t in trafos if net.trafo.name[t]]
        substations.append(NetSubstation(
            tuple(trafos), " + ".join(names) or f"transformer {trafos[0]}", int(net.trafo.lv_bus[trafos[0]]),
            tuple(sorted(group)), TransformerData(
                float((net.trafo.sn_mva[trafos] * net.trafo.parallel[trafos]).sum()), float(t0.vn_hv_kv),
                float(t0.vn_lv_kv), float(t0.vk_percent), float(t0.vkr_percent), float(t0.pfe_kw),
                float(t0.i0_percent)), tuple(feeders), len(on_busbar), len(gens_on_busbar)))
    return tuple(substations)


#: Element tables by the columns that name their buses (pandapower's), for cutting a net down to some buses.
_BUS_COLUMNS = {"line": ("from_bus", "to_bus"), "trafo": ("hv_bus", "lv_bus"), "impedance": ("from_bus", "to_bus"),
                "trafo3w": ("hv_bus", "mv_bus", "lv_bus"), **{t: ("bus",) for t in (
                    "load", "sgen", "storage", "shunt", "ext_grid", "gen", "ward", "xward", "motor", "asymmetric_load",
                    "asymmetric_sgen")}}


def _keep_buses(net, keep: list[int]):
    """``net`` itself cut down to the buses ``keep``: every element with all its buses among them (what
    pandapower's select_subnet does, without building an empty net each time: ten times faster)."""
    kept = set(keep)
    net.bus.drop(net.bus.index.difference(keep), inplace=True)
    for table, columns in _BUS_COLUMNS.items():
        if table in net and len(net[table]):
            frame = net[table]
            inside = np.logical_and.reduce([frame[c].isin(kept).to_numpy() for c in columns])
            frame.drop(frame.index[~inside], inplace=True)
    if len(net.switch):
        sw = net.switch
        element_kept = np.where(sw.et == "b", sw.element.isin(kept),
                                np.where(sw.et == "l", sw.element.isin(net.line.index),
                                         np.where(sw.et == "t", sw.element.isin(net.trafo.index), False)))
        sw.drop(sw.index[~(sw.bus.isin(kept).to_numpy() & element_kept)], inplace=True)
    for table in [t for t in net.keys() if isinstance(t, str) and t.startswith("res_")] + ["measurement"]:
        if table in net and hasattr(net[table], "drop") and len(net[table]):
            net[table] = net[table].iloc[0:0]
    return net


def feeder_net(net, substation: NetSubstation, feeder: NetFeeder, busbar_pu: float, name: str):
    """One feeder's own net cut out of the whole: its buses, the MV busbar (closed bus-bus switches
    fused) as the slack at ``busbar_pu``, the lines, switches, loads and generators among them.

    Transformers inside a radial feeder (MV/LV) lose their phase shift: with no loop through them it
    turns the angles behind them only, never a magnitude or a flow, and the batch power flow starts flat.
    """
    import pandapower as pp
    import pandapower.toolbox as tb

    keep = list(feeder.buses) + [substation.busbar]
    for bus in substation.busbar_buses:
        if bus != substation.busbar:
            tb.fuse_buses(net, substation.busbar, bus)
    groups = _closed_bus_switch_groups(net)
    for bus in feeder.buses:  # closed bus-bus switches inside the feeder: one bus each
        root = groups[bus]
        if root != bus and root in feeder.buses and bus in net.bus.index:
            tb.fuse_buses(net, root, bus)
    keep = [b for b in keep if b in net.bus.index]
    part = _keep_buses(net, keep)
    part.load.drop(part.load.index.difference(list(feeder.loads)), inplace=True)  # the busbar's own go
    part.sgen.drop(part.sgen.index.difference(list(feeder.sgens)), inplace=True)  # with the first feeder
    part.ext_grid.drop(part.ext_grid.index, inplace=True)
    part.storage.drop(part.storage.index, inplace=True)  # storage units are DERs, placed as such
    if len(part.trafo):
        shifted = part.trafo.shift_degree.fillna(0.0).to_numpy() % 360.0 != 0.0
        if shifted.any() and not feeder.radial:
            raise SubstationNetError(f"feeder {name} is meshed through a phase-shifting transformer",
                                     "open a switch of the loop, as the feeder runs in operation")
        part.trafo["shift_degree"] = 0.0
    pp.create_ext_grid(part, substation.busbar, vm_pu=busbar_pu, va_degree=0.0, name="MV busbar")
    part.name = name
    part.bus["in_service"] = True
    return part
