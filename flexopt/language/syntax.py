"""Parse stage: scenario text -> syntax tree of frozen dataclasses with source spans.

The lark grammar (``grammar/flexopt.lark``) defines the syntax; this module turns
lark's parse tree into typed nodes that keep every value as written (number and
unit) and where it was written. Meaning, units and references are checked later
by :mod:`flexopt.language.validate`. Syntax errors become one :class:`FlexoptError` with
the place, what was expected and a hint (:mod:`flexopt.language.syntax_errors`). The node
classes live in :mod:`flexopt.language.tree` and are re-exported here.
"""

from __future__ import annotations

import re

import lark
from lark import Token, v_args
from lark.visitors import Transformer_NonRecursive
from lark.exceptions import UnexpectedInput, VisitError

from flexopt.language import expressions as ex
from flexopt.errors import FlexoptError, Problem, Span, source_lines
from flexopt.language.grammar import parser
from flexopt.language.syntax_errors import check_nesting, syntax_problem
# the node classes are re-exported: sx.Word, sx.CalendarBlock, ... keep working
from flexopt.language.tree import (  # noqa: F401
    Word, Quantity, Setting, Header, CalendarBlock, SeasonDecl, DaysDecl, ProfileDecl, PriceDecl,
    TransformerDecl, SubstationBlock, LimitsBlock, ConductorDecl, FeederDecl, FeederChangeDecl, Point, LocationDecl,
    CapabilityDecl, DerDecl, Selector, OfferDecl, BidRuleDecl, BidsBlock, ReactiveDecl, ReactiveBlock,
    StudyBlock, CaseDecl, ScenarioSyntax,
)

#: Largest scenario file accepted; scenarios are a few kB, this guards against mistakes.
MAX_SCENARIO_BYTES = 4 * 1024 * 1024


# ---------------------------------------------------------------------------
# Tree -> nodes
# ---------------------------------------------------------------------------


def _unquote(token: Token) -> str:
    return str(token)[1:-1]


class _ToSyntax(Transformer_NonRecursive):
    """Builds the syntax nodes bottom-up, without recursion (a long operator chain is a deep lark
    tree); rules not listed keep lark's Tree."""

    def __init__(self, file: str) -> None:
        super().__init__(visit_tokens=False)
        self.file = file

    # -- helpers --
    def span_of(self, meta_or_token) -> Span:
        line = getattr(meta_or_token, "line", None) or 1
        column = getattr(meta_or_token, "column", None) or 1
        return Span(self.file, line, column, getattr(meta_or_token, "end_line", None), getattr(meta_or_token, "end_column", None))

    def word(self, token: Token) -> Word:
        if token.type == "STRING":
            return Word(_unquote(token), self.span_of(token), quoted=True)
        return Word(str(token), self.span_of(token))

    # -- header and calendar --
    @v_args(meta=True)
    def header(self, meta, children):
        title = _unquote(children[1]) if len(children) > 1 else None
        return Header(self.word(children[0]), title, self.span_of(meta))

    @v_args(meta=True)
    def calendar(self, meta, children):
        return CalendarBlock(tuple(children), self.span_of(meta))

    @v_args(meta=True)
    def year(self, meta, children):
        return Setting("year", self.quantity_of(children[0]), self.span_of(meta))

    @v_args(meta=True)
    def holidays(self, meta, children):
        return Setting("holidays", self.word(children[0]), self.span_of(meta))

    @v_args(meta=True)
    def season(self, meta, children):
        return Setting("season", SeasonDecl(self.word(children[0]), tuple(self.word(t) for t in children[1:])), self.span_of(meta))

    @v_args(meta=True)
    def days(self, meta, children):
        counts = tuple((self.word(c.children[0]), self.quantity_of(c.children[1])) for c in children[1:])
        return Setting("days", DaysDecl(self.word(children[0]), counts), self.span_of(meta))

    @v_args(meta=True)
    def hours(self, meta, children):
        return Setting("hours", self.quantity_of(children[0]), self.span_of(meta))

    @v_args(meta=True)  # `periods ...`, `weather ...`: the words after the keyword, numbers as quantities
    def calendar_words(self, meta, children):
        words = (self.quantity_of(t) if t.type == "NUMBER" else self.word(t) for t in children[1:])
        return Setting(str(children[0]), tuple(words), self.span_of(meta))

    def quantity_of(self, number_token: Token, unit: Token | None = None) -> Quantity:
        span = self.span_of(number_token)
        if unit is not None:
            span = Span(self.file, span.line, span.column, unit.end_line, unit.end_column)
        return Quantity(float(number_token), str(unit) if unit is not None else None, span)

    # -- profiles and prices --
    @v_args(meta=True)
    def profile_csv(self, meta, children):
        name, path, column = children
        return ProfileDecl(self.word(name), "csv", self.word(path), self.word(column), None, (), self.span_of(meta))

    @v_args(meta=True)
    def profile_generated(self, meta, children):
        name, generator, *params = children
        return ProfileDecl(self.word(name), "generated", None, None, self.word(generator), tuple(params), self.span_of(meta))

    def param(self, children):
        key, value = children
        if isinstance(value, Token):
            value = self.word(value)
        return (self.word(key), value)

    @v_args(meta=True)
    def price_csv(self, meta, children):
        name, path, column, unit = children
        return PriceDecl(self.word(name), self.word(path), self.word(column), self.word(unit), None, self.span_of(meta))

    @v_args(meta=True)
    def price_expr(self, meta, children):
        name, expr = children
        return PriceDecl(self.word(name), None, None, None, ex.closed(expr), self.span_of(meta))

    # -- substation, limits, conductors --
    @v_args(meta=True)
    def substation(self, meta, children):
        return SubstationBlock(self.word(children[0]), tuple(children[1:]), self.span_of(meta))

    def _imported_substation(source):  # noqa: N805
        @v_args(meta=True)
        def rule(self, meta, children):
            return SubstationBlock(self.word(children[0]), tuple(children[2:]), self.span_of(meta), source,
                                   self.word(children[1]))
        return rule

    substation_file = _imported_substation("file")
    substation_builder = _imported_substation("pandapower")

    @v_args(meta=True)
    def sgen_type(self, meta, children):
        words = [self.word(c) for c in children]
        return Setting(f"type {words[0].text}", (*words[:2], words[2] if len(words) > 2 else None), self.span_of(meta))

    @v_args(meta=True)
    def transformer(self, meta, children):
        rating, hv_token, lv, *options = children
        decl = TransformerDecl(rating, self.quantity_of(hv_token), lv, tuple(options), self.span_of(meta))
        return Setting("transformer", decl, self.span_of(meta))

    def _single(key):  # noqa: N805 - helper building simple "keyword quantity" rules
        @v_args(meta=True)
        def rule(self, meta, children):
            value = children[-1]
            if isinstance(value, Token):
                value = self.word(value) if value.type in ("STRING", "NAME") else self.quantity_of(value)
            return Setting(key, value, self.span_of(meta))

        return rule

    short_circuit_voltage = _single("short circuit voltage")
    copper_losses = _single("copper losses")
    iron_losses = _single("iron losses")
    no_load_current = _single("no load current")
    busbar = _single("busbar")
    length = _single("length")
    sections = _single("sections")
    laterals = _single("laterals")
    conductor = _single("conductor")
    demand = _single("demand")
    load_power_factor = _single("power factor")
    energy = _single("energy")
    apparent_power = _single("apparent power")
    der_profile = _single("profile")
    participation = _single("participation")
    bid_points = _single("bid points")

    @v_args(meta=True)
    def limits(self, meta, children):
        return LimitsBlock(tuple(children), self.span_of(meta))

    @v_args(meta=True)
    def voltage_band(self, meta, children):
        return Setting("voltage", (children[0], children[1]), self.span_of(meta))

    @v_args(meta=True)
    def loading_limit(self, meta, children):
        scope = str(children[0].children[0]) if len(children) > 1 else None
        key = f"{scope} loading" if scope else "loading"
        return Setting(key, children[-1], self.span_of(meta))

    @v_args(meta=True)
    def conductor_type(self, meta, children):
        return ConductorDecl(self.word(children[0]), tuple(children[1:]), self.span_of(meta))

    def conductor_param(self, children):
        return (self.word(children[0]), children[1])

    # -- quantities --
    @v_args(meta=True)
    def quantity(self, meta, children):
        sign = 1.0
        if children and isinstance(children[0], lark.Tree):
            sign = -1.0 if str(children[0].children[0]) == "-" else 1.0
            children = children[1:]
        number = children[0]
        unit = children[1] if len(children) > 1 else None
        return Quantity(sign * float(number), str(unit) if unit is not None else None, self.span_of(meta))

    # -- feeders --
    @v_args(meta=True)
    def feeder_synthetic(self, meta, children):
        name, ambit, *settings = children
        return FeederDecl(self.word(name), ambit, "synthetic", None, tuple(settings), self.span_of(meta))

    def _imported(source):  # noqa: N805
        @v_args(meta=True)
        def rule(self, meta, children):
            name, *rest = children
            ambit = rest.pop(0) if rest and isinstance(rest[0], Word) and not rest[0].quoted else None
            reference = self.word(rest.pop(0))
            return FeederDecl(self.word(name), ambit, source, reference, tuple(rest), self.span_of(meta))

        return rule

    feeder_file = _imported("file")
    feeder_builder = _imported("pandapower")

    def ambit(self, children):
        return self.word(children[0])

    @v_args(meta=True)
    def feeder_change(self, meta, children):  # an ambit or a source (a lark Tree) here is refused by the validator
        name, *rest = children
        source = next((Word(f"from {c.children[1]}", self.span_of(c.meta)) for c in rest if isinstance(c, lark.Tree)), None)
        ambit = next((c for c in rest if isinstance(c, Word)), None)
        return FeederChangeDecl(self.word(name), ambit, source, tuple(c for c in rest if isinstance(c, Setting)), self.span_of(meta))

    @v_args(meta=True)
    def mix(self, meta, children):
        return Setting("mix", tuple(children), self.span_of(meta))

    def share(self, children):
        return (self.word(children[0]), children[1])

    # -- DERs --
    @v_args(meta=True)
    def der(self, meta, children):
        name, kind = children[0], children[1]
        rest = list(children[2:])
        customer_class = self.word(rest.pop(0)) if isinstance(rest[0], Token) else None
        rated = rest.pop(0)
        storage_energy = rest.pop(0) if isinstance(rest[0], Quantity) else None
        location = rest.pop(0)
        return DerDecl(self.word(name), self.word(kind), customer_class, rated, storage_energy, location,
                       tuple(rest), self.span_of(meta))

    @v_args(meta=True)
    def at_point(self, meta, children):
        return LocationDecl(self.word(children[0]), "point", children[1], None, None, self.span_of(meta))

    @v_args(meta=True)
    def along(self, meta, children):
        return LocationDecl(self.word(children[0]), "along", children[1], children[2], None, self.span_of(meta))

    @v_args(meta=True)
    def at_bus(self, meta, children):
        return LocationDecl(self.word(children[0]), "bus", None, None, self.word(children[1]), self.span_of(meta))

    @v_args(meta=True)
    def point(self, meta, children):
        child = children[0]
        if isinstance(child, Quantity):
            return Point(None, child, self.span_of(meta))
        return Point(str(child.children[0]), None, self.span_of(meta))

    def _capability(kind):  # noqa: N805
        @v_args(meta=True)
        def rule(self, meta, children):
            pf = injecting = absorbing = None
            for child in children:
                if isinstance(child, Token):
                    pf = float(child)
                elif child.data == "injecting_pf":
                    injecting = float(child.children[0])
                elif child.data == "absorbing_pf":
                    absorbing = float(child.children[0])
            return Setting("capability", CapabilityDecl(kind, pf, injecting, absorbing, self.span_of(meta)), self.span_of(meta))

        return rule

    cap_semicircle = _capability("semicircle")
    cap_limited = _capability("limited")
    cap_rectangular = _capability("rectangular")
    cap_triangular = _capability("triangular")
    cap_synchronous = _capability("synchronous")
    cap_none = _capability("none")

    @v_args(meta=True)
    def operating_power_factor(self, meta, children):
        direction = str(children[1].children[0]) if len(children) > 1 else None
        return Setting("power factor", (float(children[0]), direction), self.span_of(meta))

    # -- bids --
    @v_args(meta=True)
    def bids(self, meta, children):
        return BidsBlock(tuple(children), self.span_of(meta))

    @v_args(meta=True)
    def bid_rule(self, meta, children):
        selectors = tuple(c for c in children if isinstance(c, Selector))
        participation = tuple(c.value for c in children if isinstance(c, Setting))
        offers = tuple(c for c in children if isinstance(c, OfferDecl))
        return BidRuleDecl(selectors, participation, offers, self.span_of(meta))

    @v_args(meta=True)
    def selector(self, meta, children):
        return Selector(tuple(self.word(t) for t in children), self.span_of(meta))

    def _offer(direction, none=False):  # noqa: N805
        @v_args(meta=True)
        def rule(self, meta, children):
            if none:
                return OfferDecl(direction, None, None, self.span_of(meta))
            derated = any(isinstance(c, lark.Tree) and c.data == "derated" for c in children)
            rest = [c for c in children if not (isinstance(c, lark.Tree) and c.data == "derated")]
            return OfferDecl(direction, rest[0], ex.closed(rest[1]), self.span_of(meta), derated)

        return rule

    down = _offer("down")
    up = _offer("up")
    down_none = _offer("down", none=True)
    up_none = _offer("up", none=True)

    # -- reactive, study --
    @v_args(meta=True)
    def reactive(self, meta, children):
        return ReactiveBlock(tuple(children), self.span_of(meta))

    @v_args(meta=True)
    def q_paid(self, meta, children):
        per = self.word(children[1]) if len(children) > 1 else None
        return ReactiveDecl("paid", ex.closed(children[0]), per, self.span_of(meta))

    @v_args(meta=True)
    def q_free(self, meta, children):
        return ReactiveDecl("free", None, None, self.span_of(meta))

    @v_args(meta=True)
    def q_unavailable(self, meta, children):
        return ReactiveDecl("unavailable", None, None, self.span_of(meta))

    @v_args(meta=True)
    def study(self, meta, children):
        return StudyBlock(tuple(children), self.span_of(meta))

    @v_args(meta=True)
    def activation(self, meta, children):
        words = [str(t) for t in children[1:]]
        return Setting("activation", Word(" ".join(words), self.span_of(children[1])), self.span_of(meta))

    @v_args(meta=True)
    def placement_draws(self, meta, children):
        seed = self.quantity_of(children[1]) if len(children) > 1 else None
        return Setting("placement draws", (self.quantity_of(children[0]), seed), self.span_of(meta))

    @v_args(meta=True)
    def pq_area(self, meta, children):
        return Setting("pq area", self.quantity_of(children[0]), self.span_of(meta))

    @v_args(meta=True)
    def remedies(self, meta, children):
        return Setting("remedies", tuple(self.word(t) for t in children), self.span_of(meta))

    # -- cases --
    @v_args(meta=True)
    def case(self, meta, children):
        name = self.word(children[0])
        rest = list(children[1:])
        title = _unquote(rest.pop(0)) if rest and isinstance(rest[0], Token) and rest[0].type == "STRING" else None
        extends = self.word(rest.pop(0)) if rest and isinstance(rest[0], Token) and rest[0].type == "NAME" else None
        return CaseDecl(name, title, extends, tuple(rest), self.span_of(meta))

    # -- expressions --
    @v_args(meta=True)
    def number(self, meta, children):  # noqa: F811 - grammar alias "number" for expression constants
        unit = str(children[1]) if len(children) > 1 else None
        return ex.Number(float(children[0]), unit if unit is not None else ex.DIMENSIONLESS, self.span_of(meta))

    @v_args(meta=True)
    def ref(self, meta, children):
        return ex.PriceRef(str(children[0]), self.span_of(meta))

    def _binary(op):  # noqa: N805
        @v_args(meta=True)
        def rule(self, meta, children):  # a chain of one level is one node (expressions.Chain)
            return ex.chain_step(children[0], op, children[1], self.span_of(meta))

        return rule

    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    div = _binary("/")

    @v_args(meta=True)
    def neg(self, meta, children):
        operand = ex.closed(children[0])
        if isinstance(operand, ex.Negate):  # - - x is x: a run of signs stays one level deep
            return operand.operand
        return ex.Negate(operand, self.span_of(meta))

    def unary(self, children):  # "+" unary
        return children[0]

    @v_args(meta=True)
    def min(self, meta, children):
        return ex.Call("min", tuple(ex.closed(c) for c in children), self.span_of(meta))

    @v_args(meta=True)
    def max(self, meta, children):
        return ex.Call("max", tuple(ex.closed(c) for c in children), self.span_of(meta))

    def start(self, children):
        return children


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def decode(data: bytes, file: str) -> str:
    """Scenario bytes -> text, refusing binary, oversized and non-UTF-8 input with a clear message."""
    if len(data) > MAX_SCENARIO_BYTES:
        raise FlexoptError([Problem(f"the file is {len(data) / 1e6:.1f} MB; a scenario may be at most "
                                    f"{MAX_SCENARIO_BYTES // (1024 * 1024)} MB", Span(file, 1, 1),
                                    "is this really a scenario file? Put large data in CSV files it refers to")])
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise FlexoptError([Problem("the file holds binary data (a NUL byte), not scenario text", Span(file, line, 1),
                                    "scenario files are plain UTF-8 text")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n") + 1
        column = err.start - (before.rfind(b"\n") + 1) + 1
        raise FlexoptError([Problem(f"the file is not valid UTF-8 (byte 0x{data[err.start]:02x})", Span(file, line, column),
                                    "save the scenario as UTF-8 text")]) from None
    return text.removeprefix("\ufeff")


def parse_text(text: str, file: str = "<scenario>") -> ScenarioSyntax:
    """Parse scenario text into a syntax tree; raises FlexoptError on a syntax error.

    Lines are counted as the parser counts them, at LF, CRLF and a lone CR (an old Mac file),
    and quoted the same way (:func:`flexopt.errors.source_lines`): a lone CR is read as LF,
    which keeps every offset. A form feed or U+2028 breaks no line.
    """
    lines = source_lines(text)
    readable = _lone_cr_as_lf(text)
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in lines):
        raise FlexoptError([Problem("the scenario is empty", Span(file, 1, 1),
                                    'a scenario starts with: scenario "name"')], {file: lines})
    check_nesting(readable, file, lines)
    try:
        tree = parser().parse(readable)
    except UnexpectedInput as err:
        raise FlexoptError([syntax_problem(err, readable, file, parser())], {file: lines}) from None
    try:
        children = _ToSyntax(file).transform(tree)
    except VisitError as err:  # a transformer bug, never the user's fault: surface it plainly
        raise err.orig_exc from None
    header, *statements = children
    return ScenarioSyntax(file, text, header, tuple(statements))


def _lone_cr_as_lf(text: str) -> str:
    """A lone CR (not before LF) as LF; the text keeps its length, so offsets and columns hold."""
    if "\r" not in text:
        return text
    return re.sub(r"\r(?!\n)", "\n", text)
