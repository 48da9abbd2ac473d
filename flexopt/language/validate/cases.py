"""Rules of cases: ``extends`` chains, the scopes they override and the limits and study blocks.

The feeders a case changes are resolved by :meth:`NetworkRules.case_feeders` (network.py)."""

from __future__ import annotations

from dataclasses import dataclass

from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.errors import Span, did_you_mean, known_list, shorten
from flexopt.model import REMEDIES, Case, Limits, ReactiveRemuneration, Study
from flexopt.language.validate.context import BLOCK_WORDS, SCOPE_BLOCKS, Context, file_name_problem, price_signature
from flexopt.language.validate.prices import EXPRESSION_FUNCTIONS


@dataclass(frozen=True)
class _Resolved:
    """What a case resolves to, kept for the cases that extend it."""

    limits: Limits
    study: Study
    prices: dict
    feeders: dict
    ders: dict
    declared: frozenset
    rules: dict
    reactive: ReactiveRemuneration
    reactive_given: bool


class CaseRules(Context):
    """Cases, scopes, extends chains, limits, study."""

    def cases(self, statements: tuple[object, ...]) -> tuple[Case, ...]:
        base = [s for s in statements if isinstance(s, (sx.PriceDecl, sx.DerDecl) + SCOPE_BLOCKS)]
        decls = [s for s in statements if isinstance(s, sx.CaseDecl)]
        taken: dict[str, Span] = {}
        by_name: dict[str, sx.CaseDecl] = {}
        for decl in decls:
            if self.name(decl.name, "case", taken):
                by_name[decl.name.text] = decl
                why = file_name_problem(decl.name.text)
                if why:
                    self.error(f"case name '{shorten(decl.name.text)}' {why}", decl.name.span,
                               "it names the case's dataset (OUT/<scenario>/<case>.nc); choose another name")
        self.case_ders = {name: {s.name.text for s in decl.statements if isinstance(s, sx.DerDecl)}
                          for name, decl in by_name.items()}
        for decl in decls:
            self.check_scope(decl.statements, f"case '{decl.name.text}'")
        self.check_scope(tuple(base), "the scenario")

        depth = self.ancestry(by_name)
        if not decls:
            case = self.build_case("base", self.syntax.header.title, None, [base], None)
            return (case,) if case else ()
        for name, decl in by_name.items():
            if name not in depth:  # its ancestry is broken: still check what it states itself
                self.build_case(name, decl.title, None, [base, list(decl.statements)], decl.span, ancestry_known=False)

        def scopes_of(decl: sx.CaseDecl) -> list[list[object]]:
            chain = [decl]
            while chain[-1].extends is not None:
                chain.append(by_name[chain[-1].extends.text])
            return [base] + [list(c.statements) for c in reversed(chain)]

        built: dict[str, Case | None] = {}
        for name in sorted(depth, key=depth.get):  # parents before children
            decl = by_name[name]
            extends = decl.extends.text if decl.extends else None
            parent = self.resolved.get(extends) if extends else None
            own = list(decl.statements)
            if parent is not None and not any(isinstance(s, (sx.PriceDecl, sx.DerDecl, sx.FeederChangeDecl))
                                              for s in own):
                built[name] = self._finish_case(name, decl.title, extends, decl.span, parent, [own])
            else:
                built[name] = self.build_case(name, decl.title, extends, scopes_of(decl), decl.span)
        return tuple(built[name] for name in by_name if name in depth and built[name] is not None)

    def ancestry(self, by_name: dict[str, sx.CaseDecl]) -> dict[str, int]:
        """How many ancestors each case has; cases with an unknown ancestor or in a cycle are left out
        (with an error where the chain breaks). Linear in the number of cases: each is walked once."""
        depth: dict[str, int] = {}
        broken: set[str] = set()
        for start in by_name.values():
            path: list[sx.CaseDecl] = []
            on_path: dict[str, int] = {}
            current = start
            while True:
                name = current.name.text
                if name in depth or name in broken:
                    break
                if name in on_path:  # a cycle: report it at each member's own 'extends'
                    members = path[on_path[name]:]
                    for i, member in enumerate(members):
                        cycle = [m.name.text for m in members[i:] + members[:i]] + [member.name.text]
                        self.error(f"cases extend each other in a cycle: {' -> '.join(cycle)}", member.extends.span,
                                   "one case in the cycle must stand on the scenario alone")
                    broken.update(m.name.text for m in path)
                    break
                on_path[name] = len(path)
                path.append(current)
                if current.extends is None:
                    break
                parent = current.extends.text
                if parent not in by_name:
                    self.error(f"case '{name}' extends unknown case '{parent}'", current.extends.span,
                               did_you_mean(parent, by_name) or f"cases: {known_list(by_name)}")
                    broken.add(name)
                    break
                current = by_name[parent]
            for decl in reversed(path):
                name = decl.name.text
                if name in broken:
                    continue
                if decl.extends is None:
                    depth[name] = 0
                elif decl.extends.text in depth:
                    depth[name] = depth[decl.extends.text] + 1
                else:
                    broken.add(name)
        return depth

    def check_scope(self, statements: tuple[object, ...], where: str) -> None:
        """One block of each kind per scope, and unique DER and price names within it."""
        seen: dict[type, Span] = {}
        ders: dict[str, Span] = {}
        prices: dict[str, Span] = {}
        feeders: dict[str, Span] = {}
        for stmt in statements:
            if isinstance(stmt, sx.FeederChangeDecl):
                if stmt.name.text in feeders:
                    self.error(f"feeder '{stmt.name.text}' is changed twice in {where}", stmt.span,
                               f"merge it into the first one on line {feeders[stmt.name.text].line}")
                feeders.setdefault(stmt.name.text, stmt.span)
            if isinstance(stmt, SCOPE_BLOCKS) and where != "the scenario":
                if type(stmt) in seen:
                    self.error(f"a second '{BLOCK_WORDS[type(stmt)]}' block in {where}", stmt.span,
                               f"merge it into the first one on line {seen[type(stmt)].line}")
                seen[type(stmt)] = stmt.span
            elif isinstance(stmt, sx.DerDecl):
                self.name(stmt.name, "DER", ders)
            elif isinstance(stmt, sx.PriceDecl):
                self.name(stmt.name, "price", prices)
                if stmt.name.text in EXPRESSION_FUNCTIONS:
                    self.error(f"'{stmt.name.text}' cannot name a price: {stmt.name.text}(...) is a function in "
                               "price expressions", stmt.name.span, f"choose another name, e.g. {stmt.name.text}_price")

    def build_case(self, name: str, title: str | None, extends: str | None, scopes: list[list[object]],
                   span: Span | None, ancestry_known: bool = True) -> Case | None:
        """Resolve a case from its scopes (scenario first, then each ancestor, the case last).

        Without ``ancestry_known`` (its ``extends`` is broken, which is reported), bid rules may name
        the DERs of any case: whether the case would inherit them cannot be told. (A case that declares
        no price, DER or feeder change of its own is resolved from its parent by :meth:`_finish_case`
        instead, so a chain of cases is checked in linear time.)
        """
        limits = Limits(0.9, 1.1, 100.0, 100.0, None)
        price_decls: dict[str, sx.PriceDecl] = {}
        der_decls: dict[str, sx.DerDecl] = {}
        study = Study(10, "merit order", ("reactive",), None)
        for scope in scopes:
            for stmt in scope:
                if isinstance(stmt, sx.LimitsBlock):
                    limits = self.limits(stmt, limits)
                elif isinstance(stmt, sx.PriceDecl):
                    price_decls[stmt.name.text] = stmt
                elif isinstance(stmt, sx.DerDecl):
                    der_decls[stmt.name.text] = stmt
                elif isinstance(stmt, sx.StudyBlock):
                    study = self.study(stmt, study)
        prices = self.prices(list(price_decls.values()))
        feeders = self.case_feeders(name, scopes)
        declared_feeders, self.feeders = self.feeders, feeders  # DER positions are checked on the case's feeders
        ders = {**self.imported_ders, **self.ders(list(der_decls.values()))}  # a declared DER replaces a net's
        self.feeders, self.length_changed_by = declared_feeders, {}
        declared = set(der_decls) | set(self.imported_ders)
        if not ancestry_known:
            declared.update(*self.case_ders.values())
        start = _Resolved(limits, study, prices, feeders, ders, frozenset(declared), {},
                          ReactiveRemuneration("free", None, None), False)
        return self._finish_case(name, title, extends, span, start, scopes, limits_done=True)

    def _finish_case(self, name: str, title: str | None, extends: str | None, span: Span | None, state: _Resolved,
                     scopes: list[list[object]], limits_done: bool = False) -> Case | None:
        """Apply the bid, reactive (and, for an inheriting case, limits and study) blocks of ``scopes``
        to a resolved state; remember the result for the cases that extend this one."""
        limits, study = state.limits, state.study
        rules = dict(state.rules)
        reactive, reactive_given = state.reactive, state.reactive_given
        signature = price_signature(state.prices)
        for scope in scopes:
            for stmt in scope:
                if isinstance(stmt, sx.LimitsBlock) and not limits_done:
                    limits = self.limits(stmt, limits)
                elif isinstance(stmt, sx.StudyBlock) and not limits_done:
                    study = self.study(stmt, study)
                elif isinstance(stmt, sx.BidsBlock):
                    self.bid_rules(stmt, rules, state.prices, state.ders, set(state.declared))
                elif isinstance(stmt, sx.ReactiveBlock):
                    key = ("reactive", id(stmt), signature)
                    if key not in self.checked:
                        self.checked[key] = self.reactive(stmt, state.prices)
                    reactive = self.checked[key] or reactive
                    reactive_given = True
        self.resolved[name] = _Resolved(limits, study, state.prices, state.feeders, state.ders, state.declared, rules,
                                        reactive, reactive_given)
        if not reactive_given:
            reactive = ReactiveRemuneration("free", None, None)
        prices, ders, feeders = state.prices, state.ders, state.feeders
        case = Case(name, title, extends, limits, tuple(prices.values()), tuple(ders.values()), tuple(rules.values()),
                    reactive, study, span, tuple(feeders.values()))
        self.check_derating(case)
        self.check_series(case, f" in case '{name}'" if span is not None else "")
        return case

    # -- limits, study ----------------------------------------------------------------
    def limits(self, block: sx.LimitsBlock, current: Limits) -> Limits:
        singles = self.settings_once(block.settings, "the limits")
        v_min, v_max = current.v_min_pu, current.v_max_pu
        line, trafo = current.line_loading_percent, current.transformer_loading_percent
        if "voltage" in singles:
            low_q, high_q = singles["voltage"].value
            unit = high_q.unit or low_q.unit or "pu"
            low = self.value(low_q, u.PER_UNIT, "the lower voltage limit", default_unit=unit, minimum=0.5, maximum=1.5)
            high = self.value(high_q, u.PER_UNIT, "the upper voltage limit", default_unit=unit, minimum=0.5, maximum=1.5)
            if low is not None and high is not None:
                if low >= high:
                    self.error(f"the voltage band is inverted: {low:g} pu is not below {high:g} pu", singles["voltage"].span,
                               "write the lower limit first: voltage 0.90 .. 1.10 pu")
                else:
                    v_min, v_max = low, high
        if "loading" in singles:
            both = self.value(singles["loading"].value, u.PERCENT, "the loading limit", above=0, maximum=1000)
            if both is not None:
                line = trafo = both
        if "line loading" in singles:
            line = self.value(singles["line loading"].value, u.PERCENT, "the line loading limit", above=0, maximum=1000) or line
        if "transformer loading" in singles:
            trafo = self.value(singles["transformer loading"].value, u.PERCENT, "the transformer loading limit",
                               above=0, maximum=1000) or trafo
        return Limits(v_min, v_max, line, trafo, block.span)

    def study(self, block: sx.StudyBlock, current: Study) -> Study:
        singles = self.settings_once(block.settings, "the study")
        points, activation, remedies = current.bid_points_per_direction, current.activation, current.remedies
        if "bid points" in singles:
            value = self.number(singles["bid points"].value, "the number of bid points per direction", minimum=1,
                                maximum=1000, integer=True)
            points = int(value) if value is not None else points
        if "activation" in singles:
            activation = singles["activation"].value.text
        if "remedies" in singles:
            words: tuple[sx.Word, ...] = singles["remedies"].value
            chosen = []
            for word in words:
                if word.text not in REMEDIES:
                    self.error(f"unknown remedy '{word.text}'", word.span,
                               did_you_mean(word.text, REMEDIES) or f"remedies: {known_list(REMEDIES)}")
                elif word.text in chosen:
                    self.error(f"remedy '{word.text}' is listed twice", word.span)
                else:
                    chosen.append(word.text)
            remedies = tuple(chosen)
        draws, seed = current.placement_draws, current.placement_seed
        if "placement draws" in singles:
            count, seed_q = singles["placement draws"].value
            value = self.number(count, "the number of placement draws", minimum=0, maximum=10000, integer=True)
            draws = int(value) if value is not None else draws
            if seed_q is not None:
                value = self.number(seed_q, "the seed", minimum=0, maximum=2**32 - 1, integer=True)
                seed = int(value) if value is not None else seed
        directions = current.pq_area_directions
        if "pq area" in singles:
            count = singles["pq area"].value
            value = self.number(count, "the number of directions of the P-Q chart", maximum=3600, integer=True)
            if value is not None and value < 4:
                self.error(f"the P-Q chart needs at least 4 directions, got {value:g}", count.span,
                           "write e.g. `pq area 16 directions` (more directions: a finer chart, a longer run)")
            elif value is not None:
                directions = int(value)
        return Study(points, activation, remedies, block.span, draws, seed, directions)
