"""Syntax tree of a scenario: frozen dataclasses that keep every value as written, with its span.

Built by :mod:`flexopt.language.syntax` and read by :mod:`flexopt.language.validate`; kept apart
so the node types can be read (and imported) without the parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from flexopt.errors import Span
from flexopt.language import expressions as ex

__all__ = [
    "Word",
    "Quantity",
    "Setting",
    "Header",
    "CalendarBlock",
    "SeasonDecl",
    "DaysDecl",
    "ProfileDecl",
    "PriceDecl",
    "TransformerDecl",
    "SubstationBlock",
    "LimitsBlock",
    "ConductorDecl",
    "FeederDecl",
    "FeederChangeDecl",
    "Point",
    "LocationDecl",
    "CapabilityDecl",
    "DerDecl",
    "Selector",
    "OfferDecl",
    "BidRuleDecl",
    "BidsBlock",
    "ReactiveDecl",
    "ReactiveBlock",
    "StudyBlock",
    "CaseDecl",
    "ScenarioSyntax",
]


@dataclass(frozen=True)
class Word:
    """An identifier, keyword or quoted string as written (quotes removed)."""

    text: str
    span: Span
    quoted: bool = False


@dataclass(frozen=True)
class Quantity:
    """A number with its unit as written (``None`` when no unit was given)."""

    value: float
    unit: str | None
    span: Span


@dataclass(frozen=True)
class Setting:
    """A ``keyword value`` line inside a block; ``value`` depends on the keyword."""

    key: str
    value: object
    span: Span


@dataclass(frozen=True)
class Header:
    name: Word
    title: str | None
    span: Span


@dataclass(frozen=True)
class CalendarBlock:
    settings: tuple[Setting, ...]
    span: Span


@dataclass(frozen=True)
class SeasonDecl:
    name: Word
    months: tuple[Word, ...]


@dataclass(frozen=True)
class DaysDecl:
    season: Word
    counts: tuple[tuple[Word, Quantity], ...]


@dataclass(frozen=True)
class ProfileDecl:
    name: Word
    source: str  # "csv" or "generated"
    path: Word | None
    column: Word | None
    generator: Word | None
    params: tuple[tuple[Word, Union[Quantity, Word]], ...]
    span: Span


@dataclass(frozen=True)
class PriceDecl:
    name: Word
    path: Word | None
    column: Word | None
    unit: Word | None
    expr: ex.Expr | None
    span: Span


@dataclass(frozen=True)
class TransformerDecl:
    rating: Quantity
    hv: Quantity
    lv: Quantity
    options: tuple[Setting, ...]
    span: Span


@dataclass(frozen=True)
class SubstationBlock:
    name: Word
    settings: tuple[Setting, ...]  # "transformer" (TransformerDecl), "busbar" (Quantity); imported: "busbar",
    span: Span  # "demand", "mix", "power factor" and "type" ((type, kind, profile or None) Words) as for feeders
    source: str = "declared"  # or "file" / "pandapower": `substation NAME from ...`
    reference: Word | None = None  # the file path or builder name


@dataclass(frozen=True)
class LimitsBlock:
    settings: tuple[Setting, ...]  # "voltage" (low, high), "loading"/"line loading"/"transformer loading"
    span: Span


@dataclass(frozen=True)
class ConductorDecl:
    name: Word
    params: tuple[tuple[Word, Quantity], ...]
    span: Span


@dataclass(frozen=True)
class FeederDecl:
    name: Word
    ambit: Word | None
    source: str  # "synthetic", "file" or "pandapower"
    reference: Word | None  # file path or builder name
    settings: tuple[Setting, ...]
    span: Span


@dataclass(frozen=True)
class FeederChangeDecl:
    """``feeder NAME { items }`` inside a case: the items it states replace those of the feeder."""

    name: Word
    ambit: Word | None  # refused by the validator: a case does not redeclare a feeder
    source: Word | None  # "from file" / "from pandapower", refused likewise
    settings: tuple[Setting, ...]
    span: Span


@dataclass(frozen=True)
class Point:
    """A position along a feeder: start/middle/end or a quantity (% of length or km)."""

    word: str | None
    quantity: Quantity | None
    span: Span


@dataclass(frozen=True)
class LocationDecl:
    feeder: Word
    kind: str  # "point", "along" or "bus"
    start: Point | None
    end: Point | None
    bus: Word | None
    span: Span


@dataclass(frozen=True)
class CapabilityDecl:
    kind: str  # semicircle, limited, rectangular, triangular, synchronous, none
    pf: float | None
    injecting_pf: float | None
    absorbing_pf: float | None
    span: Span


@dataclass(frozen=True)
class DerDecl:
    name: Word
    kind: Word
    customer_class: Word | None
    rated: Quantity
    storage_energy: Quantity | None
    location: LocationDecl
    settings: tuple[Setting, ...]
    span: Span


@dataclass(frozen=True)
class Selector:
    words: tuple[Word, ...]
    span: Span


@dataclass(frozen=True)
class OfferDecl:
    direction: str  # "down" or "up"
    quantity: Quantity | None  # None for "none"
    price: ex.Expr | None
    span: Span
    derated: bool = False  # "up +10 % derated at ...": the margin comes from producing less


@dataclass(frozen=True)
class BidRuleDecl:
    selectors: tuple[Selector, ...]
    participation: tuple[Quantity, ...]
    offers: tuple[OfferDecl, ...]
    span: Span


@dataclass(frozen=True)
class BidsBlock:
    rules: tuple[BidRuleDecl, ...]
    span: Span


@dataclass(frozen=True)
class ReactiveDecl:
    mode: str  # "paid", "free" or "unavailable"
    expr: ex.Expr | None
    per_unit: Word | None
    span: Span


@dataclass(frozen=True)
class ReactiveBlock:
    items: tuple[ReactiveDecl, ...]
    span: Span


@dataclass(frozen=True)
class StudyBlock:
    settings: tuple[Setting, ...]
    span: Span


@dataclass(frozen=True)
class CaseDecl:
    name: Word
    title: str | None
    extends: Word | None
    statements: tuple[object, ...]
    span: Span


@dataclass(frozen=True)
class ScenarioSyntax:
    """A whole parsed file: its header and statements in order."""

    file: str
    text: str
    header: Header
    statements: tuple[object, ...]
