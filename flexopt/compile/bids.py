"""Compile stage, bids: every resource's up and down offer per interval, and the bid points.

From each DER's expected working point and its bid rule (the paper's Table 2)
this computes the offered quantity (MW) and price (EUR/MWh) in both directions,
the market potential of the feeder at its busbar, and the activated quantity of
every resource at each bid point: merit order (cheapest first) or pro rata.
Sign conventions follow DESIGN.md: an upward offer raises the power the
distribution grid gives to the transmission grid (more generation, less
consumption); quantities here are magnitudes, directions carry the sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from flexopt.language import expressions as ex
from flexopt.model import DER_GROUPS, Capability, Case, Offer, ResolvedBid

#: Kinds whose output the weather caps (renewables): they can offer upward only what they were derated by.
WEATHER_DRIVEN = DER_GROUPS["res"]
from flexopt.compile.networks import FeederNet, OperatingPoints


@dataclass(frozen=True)
class Resource:
    """A bidding resource of a feeder: a DER (an sgen or a load), or the participating part of a
    customer class's loads (end-users). ``rows`` are its rows in ``table``; ``shares`` split its power."""

    name: str
    kind: str  # pv, wind, chp, storage, enduser
    table: str  # "sgen" or "load"
    rows: tuple[int, ...]  # positions in the net's table (not index labels)
    shares: tuple[float, ...]
    rated_mw: float
    apparent_mva: float
    capability: Capability | None  # reactive capability (sgen DERs); None: no reactive support
    working_p_mw: np.ndarray  # (interval,) in the table's convention: sgen generation, load consumption
    working_q_mvar: np.ndarray  # (interval,) same convention
    available_mw: np.ndarray  # (interval,) the resource before any derating (loads: their working consumption)
    customer_class: str | None = None  # set for an end-user group (the participating part of a class)
    #: storage: energy held above empty and room below full at the start of every interval (MWh)
    stored_mwh: float = np.inf
    room_mwh: float = np.inf


@dataclass(frozen=True)
class BidBook:
    """Offers of a feeder's resources over the intervals; arrays are (interval, resource), magnitudes >= 0."""

    feeder: str
    resources: tuple[Resource, ...]
    up_mw: np.ndarray
    down_mw: np.ndarray
    up_price_eur_per_mwh: np.ndarray
    down_price_eur_per_mwh: np.ndarray

    @property
    def up_potential_mw(self) -> np.ndarray:
        return self.up_mw.sum(axis=1)

    @property
    def down_potential_mw(self) -> np.ndarray:
        return self.down_mw.sum(axis=1)


def offer_arrays(offer: Offer | None, basis_mw: np.ndarray, headroom_mw: np.ndarray, participation: float,
                 prices: Mapping[str, np.ndarray], working_is_participating: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Quantity (MW, >= 0) and price (EUR/MWh) of one direction of one resource over the intervals.

    A percentage applies to the participating part of ``basis_mw``: the expected working point,
    or the available output for a derated upward offer; an absolute quantity (MW) is scaled by
    the participation. Neither can exceed what the resource can physically move in that
    direction (``headroom_mw``). An end-user group's working point is already its
    participating part (``working_is_participating``).
    """
    n = len(basis_mw)
    if offer is None:
        return np.zeros(n), np.zeros(n)
    share = 1.0 if working_is_participating and offer.quantity_unit == "fraction" else participation
    quantity = offer.quantity_mw(basis_mw, share)
    quantity = np.clip(np.minimum(quantity, headroom_mw), 0.0, None)
    price = np.broadcast_to(np.asarray(ex.evaluate(offer.price, prices), dtype=float), (n,)).copy()
    return quantity, price


def feeder_resources(feeder_net: FeederNet, case: Case, points: OperatingPoints) -> list[tuple[Resource, ResolvedBid]]:
    """The resources of a feeder, each with the bid terms that apply to it."""
    net = feeder_net.net
    load_pos = {idx: i for i, idx in enumerate(net.load.index)}
    sgen_pos = {idx: i for i, idx in enumerate(net.sgen.index)}
    found: list[tuple[Resource, ResolvedBid]] = []
    for element in feeder_net.ders:
        der = case.der(element.der)
        pos = sgen_pos if element.table == "sgen" else load_pos
        rows = tuple(pos[i] for i in element.indices)
        p_all = points.sgen_p_mw if element.table == "sgen" else points.load_p_mw
        q_all = points.sgen_q_mvar if element.table == "sgen" else points.load_q_mvar
        available = points.sgen_available_mw if element.table == "sgen" else points.load_p_mw
        capability = der.capability if element.table == "sgen" and der.capability.kind != "none" else None
        stored, room = der.storage_limits_mwh()
        resource = Resource(der.name, der.kind, element.table, rows, element.shares, der.rated_mw, der.apparent_mva,
                            capability, p_all[:, rows].sum(axis=1), q_all[:, rows].sum(axis=1),
                            available[:, rows].sum(axis=1), None, stored, room)
        found.append((resource, case.bid_for(der.name, der.kind, der.customer_class)))
    classes: dict[str, list[tuple[int, float]]] = {}
    for load in feeder_net.loads:
        if load.customer_class is not None:
            classes.setdefault(load.customer_class, []).append((load_pos[load.index], load.share))
    for customer_class, members in classes.items():
        bid = case.bid_for("", "enduser", customer_class)
        if bid.up is None and bid.down is None:
            continue
        rows = tuple(r for r, _ in members)
        shares = tuple(s for _, s in members)
        total = sum(shares)
        shares = tuple(s / total for s in shares)
        p = points.load_p_mw[:, rows].sum(axis=1) * bid.participation
        q = points.load_q_mvar[:, rows].sum(axis=1) * bid.participation
        resource = Resource(f"{feeder_net.feeder}:{customer_class}", "enduser", "load", rows, shares,
                            float(p.max()) if len(p) else 0.0, float(p.max()) if len(p) else 0.0, None, p, q,
                            p, customer_class)
        found.append((resource, bid))  # its working point is the participating part
    return found


def compile_bids(feeder_net: FeederNet, case: Case, points: OperatingPoints,
                 prices: Mapping[str, np.ndarray]) -> BidBook:
    """Up and down offers of every resource of a feeder over the intervals (Table 2 applied)."""
    resources, ups, downs, up_prices, down_prices = [], [], [], [], []
    for resource, bid in feeder_resources(feeder_net, case, points):
        p = resource.working_p_mw
        if resource.kind == "storage":
            up_room, down_room = storage_room(resource, points.interval_hours)
        elif resource.table == "sgen":
            # sun and wind cap what PV and wind can produce; other generators can go up to rating
            ceiling = resource.available_mw if resource.kind in WEATHER_DRIVEN else resource.rated_mw
            up_room, down_room = np.clip(ceiling - p, 0, None), np.clip(p, 0, None)
        else:  # a load: upward lowers its consumption, downward raises it
            up_room, down_room = np.clip(p, 0, None), np.full_like(p, np.inf)
        group = resource.customer_class is not None
        up_basis = resource.available_mw if bid.up is not None and bid.up.derated else p
        up_q, up_price = offer_arrays(bid.up, up_basis, up_room, bid.participation, prices, group)
        down_q, down_price = offer_arrays(bid.down, p, down_room, bid.participation, prices, group)
        resources.append(resource)
        ups.append(up_q)
        downs.append(down_q)
        up_prices.append(up_price)
        down_prices.append(down_price)
    n = points.load_p_mw.shape[0]
    stack = (lambda arrays: np.stack(arrays, axis=1) if arrays else np.zeros((n, 0)))
    return BidBook(feeder_net.feeder, tuple(resources), stack(ups), stack(downs), stack(up_prices), stack(down_prices))


def storage_room(resource: Resource, interval_hours: float) -> tuple[np.ndarray, np.ndarray]:
    """Up and down room of a storage unit: its power band from -rated (charging) to +rated (discharging),
    and over one interval of ``interval_hours`` no more energy out than it holds above empty (upward) nor
    in than the room below full (downward), at its expected state of charge; the working point's own
    exchange over the interval counts (P0 > 0 discharges)."""
    p = resource.working_p_mw
    up = np.minimum(resource.rated_mw, resource.stored_mwh / interval_hours) - p
    down = np.minimum(resource.rated_mw, resource.room_mwh / interval_hours) + p
    return np.clip(up, 0, None), np.clip(down, 0, None)


def activation(quantity_mw: np.ndarray, price: np.ndarray, points: int, rule: str) -> np.ndarray:
    """Activated quantity of each resource at bid points 1..K: shape (interval, K, resource).

    Bid point k asks for k/K of the direction's potential. Merit order activates the
    cheapest offers first (ties in resource order); pro rata takes the same share of each.
    """
    fractions = np.arange(1, points + 1) / points  # (K,)
    if rule == "pro rata":
        return fractions[None, :, None] * quantity_mw[:, None, :]
    order = np.argsort(price, axis=1, kind="stable")  # (T, R)
    sorted_q = np.take_along_axis(quantity_mw, order, axis=1)
    before = np.cumsum(sorted_q, axis=1) - sorted_q  # quantity of cheaper offers
    target = fractions[None, :, None] * quantity_mw.sum(axis=1)[:, None, None]  # (T, K, 1)
    sorted_active = np.clip(target - before[:, None, :], 0.0, sorted_q[:, None, :])
    active = np.empty_like(sorted_active)
    np.put_along_axis(active, np.broadcast_to(order[:, None, :], sorted_active.shape), sorted_active, axis=2)
    return active


@dataclass(frozen=True)
class BidPoints:
    """The 2K+1 bid points of a feeder: activated MW per resource, offered PCC variation and its cost."""

    bid_point: np.ndarray  # (-K..K)
    activated_mw: np.ndarray  # (interval, bid point, resource): signed, + upward, - downward
    quantity_mw: np.ndarray  # (interval, bid point): + upward, - downward
    bid_cost_eur_per_h: np.ndarray  # (interval, bid point): pay-as-bid, >= 0 for non-negative prices


def bid_points(book: BidBook, points_per_direction: int, rule: str) -> BidPoints:
    """Split both directions into K points each, plus the working point 0 (point -K is the whole downward offer)."""
    k = points_per_direction
    up = activation(book.up_mw, book.up_price_eur_per_mwh, k, rule)
    down = activation(book.down_mw, book.down_price_eur_per_mwh, k, rule)
    n, r = book.up_mw.shape
    activated = np.concatenate([-down[:, ::-1, :], np.zeros((n, 1, r)), up], axis=1)
    up_cost = (up * book.up_price_eur_per_mwh[:, None, :]).sum(axis=2)
    down_cost = (down * book.down_price_eur_per_mwh[:, None, :]).sum(axis=2)
    cost = np.concatenate([down_cost[:, ::-1], np.zeros((n, 1)), up_cost], axis=1)
    return BidPoints(np.arange(-k, k + 1), activated, activated.sum(axis=2), cost)


def setpoints(book: BidBook, bids: BidPoints, points: OperatingPoints) -> tuple[np.ndarray, np.ndarray]:
    """Active power of every load and sgen row at every bid point: (interval, bid point, row) each.

    A resource's activated MW is split over its rows by their shares. For sgen rows an upward
    bid adds generation; for load rows it removes consumption. The caller keeps every row's
    working power factor for its reactive power; the LOPF changes DG Q afterwards.
    """
    load_p = np.repeat(points.load_p_mw[:, None, :], len(bids.bid_point), axis=1)
    sgen_p = np.repeat(points.sgen_p_mw[:, None, :], len(bids.bid_point), axis=1)
    for r, resource in enumerate(book.resources):
        delta = bids.activated_mw[:, :, r]
        for row, share in zip(resource.rows, resource.shares):
            if resource.table == "sgen":
                sgen_p[:, :, row] += delta * share
            else:
                load_p[:, :, row] -= delta * share
    return load_p, sgen_p
