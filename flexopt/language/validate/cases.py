"""Rules of cases: ``extends`` chains, the scopes they override and the limits and study blocks.

The feeders a case changes are resolved by :meth:`NetworkRules.case_feeders` (network.py)."""

from __future__ import annotations

from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.errors import Span, did_you_mean, known_list
from flexopt.model import REMEDIES, BidRule, BidSelector, Case, Limits, ReactiveRemuneration, Study
from flexopt.language.validate.context import BLOCK_WORDS, SCOPE_BLOCKS, Context
from flexopt.language.validate.prices import EXPRESSION_FUNCTIONS


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
        self.case_ders = {name: {s.name.text for s in decl.statements if isinstance(s, sx.DerDecl)}
                          for name, decl in by_name.items()}
        for decl in decls:
            self.check_scope(decl.statements, f"case '{decl.name.text}'")
        self.check_scope(tuple(base), "the scenario")

        chains: dict[str, list[sx.CaseDecl]] = {}
        for decl in by_name.values():
            chain = self.extends_chain(decl, by_name)
            if chain is not None:
                chains[decl.name.text] = chain
        if not decls:
            case = self.build_case("base", self.syntax.header.title, None, [base], None)
            return (case,) if case else ()
        for name, decl in by_name.items():
            if name not in chains:  # its ancestry is broken: still check what it states itself
                self.build_case(name, decl.title, None, [base, list(decl.statements)], decl.span, ancestry_known=False)
        result = []
        for name, chain in chains.items():
            decl = by_name[name]
            scopes = [base] + [list(c.statements) for c in chain]
            case = self.build_case(name, decl.title, decl.extends.text if decl.extends else None, scopes, decl.span)
            if case is not None:
                result.append(case)
        return tuple(result)

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

    def extends_chain(self, decl: sx.CaseDecl, by_name: dict[str, sx.CaseDecl]) -> list[sx.CaseDecl] | None:
        """The case and its ancestors, oldest first; None (with an error) on an unknown parent or a cycle."""
        chain = [decl]
        current = decl
        while current.extends is not None:
            parent = current.extends.text
            if parent not in by_name:
                if current is decl:
                    self.error(f"case '{current.name.text}' extends unknown case '{parent}'", current.extends.span,
                               did_you_mean(parent, by_name) or f"cases: {known_list(by_name)}")
                return None
            names = [c.name.text for c in chain]
            if parent in names:
                cycle = names[names.index(parent):] + [parent]
                if cycle[0] == decl.name.text:  # report once per case of the cycle, at its own 'extends'
                    self.error(f"cases extend each other in a cycle: {' -> '.join(cycle)}", decl.extends.span,
                               "one case in the cycle must stand on the scenario alone")
                return None
            current = by_name[parent]
            chain.append(current)
        return list(reversed(chain))

    def build_case(self, name: str, title: str | None, extends: str | None, scopes: list[list[object]],
                   span: Span | None, ancestry_known: bool = True) -> Case | None:
        """Resolve a case from its scopes (scenario first, then each ancestor, the case last).

        Without ``ancestry_known`` (its ``extends`` is broken, which is reported), bid rules may name
        the DERs of any case: whether the case would inherit them cannot be told.
        """
        limits = Limits(0.9, 1.1, 100.0, 100.0, None)
        price_decls: dict[str, sx.PriceDecl] = {}
        der_decls: dict[str, sx.DerDecl] = {}
        rules: dict[BidSelector, BidRule] = {}
        reactive = ReactiveRemuneration("free", None, None)
        reactive_given = False
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
        ders = self.ders(list(der_decls.values()))
        self.feeders, self.length_changed_by = declared_feeders, {}
        declared = set(der_decls)
        if not ancestry_known:
            declared.update(*self.case_ders.values())
        for scope in scopes:
            for stmt in scope:
                if isinstance(stmt, sx.BidsBlock):
                    self.bid_rules(stmt, rules, prices, ders, declared)
                elif isinstance(stmt, sx.ReactiveBlock):
                    reactive = self.reactive(stmt, prices) or reactive
                    reactive_given = True
        if not reactive_given:
            reactive = ReactiveRemuneration("free", None, None)
        case = Case(name, title, extends, limits, tuple(prices.values()), tuple(ders.values()), tuple(rules.values()),
                    reactive, study, span, tuple(feeders.values()))
        self.check_derating(case)
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
        return Study(points, activation, remedies, block.span, draws, seed)
