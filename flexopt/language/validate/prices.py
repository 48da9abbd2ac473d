"""Rules of prices, price expressions, bid rules, offers and the remuneration of reactive power."""

from __future__ import annotations

import math

from flexopt.language import expressions as ex
from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.errors import FlexoptError, Span, did_you_mean, known_list, shorten
from flexopt.model import (
    CUSTOMER_CLASSES,
    DER_GROUPS,
    DER_KINDS,
    BidRule,
    BidSelector,
    Case,
    Der,
    Offer,
    Price,
    ReactiveRemuneration,
)
from flexopt.language.series import csv_series, evaluate_prices, rule_problems
from flexopt.language.validate.context import Context, price_signature


#: Functions of price expressions; their names cannot name a price (it could never be referred to).
EXPRESSION_FUNCTIONS = ("min", "max")


class PriceRules(Context):
    """Prices, expressions, bids, selectors, offers, reactive."""

    def prices(self, decls: list[sx.PriceDecl]) -> dict[str, Price]:
        by_name = {d.name.text: d for d in decls}
        units: dict[str, str | None] = {}
        converted: dict[str, ex.Expr] = {}
        for decl in decls:
            if decl.expr is not None:
                expr = self.convert_expr(decl.expr)
                if expr is not None:
                    converted[decl.name.text] = expr

        def unit_of_price(name: str, stack: tuple[str, ...] = ()) -> str | None:
            if name in units:
                return units[name]
            decl = by_name[name]
            if decl.expr is None:
                pair = u.PRICE_UNIT_NAMES.get(decl.unit.text)
                units[name] = pair[0] if pair else None
                return units[name]
            if name in stack:
                return None
            expr = converted.get(name)
            if expr is None:
                units[name] = None
                return None
            for ref in ex.references(expr):
                if ref.name not in by_name:
                    return None
                if ref.name in stack + (name,):
                    return None
            try:
                unit = ex.unit_of(expr, lambda n: unit_of_price(n, stack + (name,)) or "?")
            except ex.ExpressionUnitError:
                unit = None
            units[name] = unit if unit != "?" else None
            return units[name]

        result: dict[str, Price] = {}
        for decl in decls:
            name = decl.name.text
            if decl.expr is None:
                path = self.data_path(decl.path, "price")
                if path is not None:
                    self.check_column(path, decl.column, decl.path)
                pair = u.PRICE_UNIT_NAMES.get(decl.unit.text)
                if pair is None:
                    self.error(f"a price is in EUR/MWh or EUR/Mvarh, not '{decl.unit.text}'", decl.unit.span,
                               "write the unit of the CSV column: EUR/MWh, EUR/kWh, EUR/Mvarh or EUR/kvarh")
                    continue
                result[name] = Price(name, pair[0], path, decl.column.text, pair[1], None, decl.span)
                continue
            expr = converted.get(name)
            if expr is None:
                continue
            ok = self.check_refs(expr, by_name, f"price '{name}'")
            cycle = _price_cycle(name, converted)
            if cycle:
                self.error(f"prices refer to each other in a cycle: {' -> '.join(cycle)}", decl.name.span,
                           "define at least one of them from a CSV file or a constant")
                continue
            if not ok:
                continue
            try:
                unit = ex.unit_of(expr, lambda n: unit_of_price(n) or "?")
            except ex.ExpressionUnitError as err:
                self.error(err.message, err.span, err.hint)
                continue
            if unit == "?":
                continue
            if unit == ex.DIMENSIONLESS:
                self.error(f"price '{name}' has no unit", decl.expr.span,
                           "give it one, e.g. price fuel 85 EUR/MWh, or build it from other prices")
                continue
            result[name] = Price(name, unit, None, None, 1.0, expr, decl.span)
        return result

    def convert_expr(self, expr: ex.Expr) -> ex.Expr | None:
        """Units of constants converted into EUR/MWh, EUR/Mvarh or plain numbers; None if one is wrong.

        Constant parts are folded on the way: one that is not a finite number (``1e300 EUR/MWh *
        1e300``) is refused here, where it is written; parts on named prices are judged on the
        price series (:meth:`check_series`).
        """
        if isinstance(expr, ex.Number):
            if not math.isfinite(expr.value):
                self.error("the number is too large", expr.span)
                return None
            if expr.unit == ex.DIMENSIONLESS:
                return expr
            if expr.unit == "%":
                return ex.Number(expr.value / 100.0, ex.DIMENSIONLESS, expr.span)
            pair = u.PRICE_UNIT_NAMES.get(expr.unit)
            if pair is None:
                self.error(f"'{expr.unit}' is {u.describe_unit(expr.unit)}, not a price", expr.span,
                           "prices are in EUR/MWh (or EUR/kWh); reactive prices in EUR/Mvarh")
                return None
            if not math.isfinite(expr.value * pair[1]):
                self.error(f"the number is too large once converted to {pair[0]}", expr.span)
                return None
            return ex.Number(expr.value * pair[1], pair[0], expr.span)
        if isinstance(expr, ex.PriceRef):
            return expr
        if isinstance(expr, ex.Negate):
            operand = self.convert_expr(expr.operand)
            return ex.Negate(operand, expr.span) if operand is not None else None
        if isinstance(expr, ex.Call):
            args = [self.convert_expr(a) for a in expr.args]
            if not all(a is not None for a in args):
                return None
            return self._folded(ex.Call(expr.function, tuple(args), expr.span))
        if isinstance(expr, ex.Rebased):
            operand = self.convert_expr(expr.operand)
            return ex.Rebased(operand, expr.unit, expr.span) if operand is not None else None
        first, chain = ex.steps(expr)
        converted = self.convert_expr(first)
        ok = converted is not None
        rest = []
        for op, operand, _ in chain:
            right = self.convert_expr(operand)
            if right is None:
                ok = False
            elif op == "/" and ex.constant_value(right) == 0:
                self.error("division by zero", operand.span, "the divisor is always 0")
                ok = False
            rest.append((op, right))
        if not ok:
            return None
        if isinstance(expr, ex.BinaryOp):
            return self._folded(ex.BinaryOp(expr.op, converted, rest[0][1], expr.span))
        return self._folded(ex.Chain(converted, tuple(rest), expr.span))

    def _folded(self, expr: ex.Expr) -> ex.Expr | None:
        """``expr``, or None with an error when it refers to no price and is not a finite number."""
        if ex.references(expr):
            return expr
        found = ex.find_nonfinite(expr, {})
        if found is None:
            return expr
        if found.divisor is not None:
            self.error(f"division by zero: {shorten(found.divisor)} is 0", found.span, "the divisor is always 0")
        else:
            self.error("this part of the price overflows: its value is beyond ±1.8e308", found.span,
                       "a price this large is a typing mistake: check the constants")
        return None

    def check_series(self, case: Case, in_case: str) -> None:
        """The case's prices and price rules evaluated on the price series, read now: a division by
        a price that is 0 in some hours, or an overflow, is refused by ``check``, not found in the
        results. Each rule is judged once per set of prices (cases sharing them share the work)."""
        calendar = self.calendar_model
        if calendar is None:
            return
        key = self.price_sets.setdefault(case.prices, len(self.price_sets))
        found = []
        if key not in self.price_values:
            values, found, _ = evaluate_prices(case.prices, self.csv_price, calendar, in_case)
            self.price_values[key] = values
        values = self.price_values[key]
        for problem in found + rule_problems(case, values, calendar, in_case):
            if problem.span not in self.series_reported:  # once per place, for the first case it fails in
                self.series_reported.add(problem.span)
                self.problems.add(problem)

    def csv_price(self, price: Price):
        """A CSV price's values in the file's unit, or None when the file or column has a problem (said once)."""
        table = self.csv_table(price.path, price.span) if price.path is not None else None
        if table is None or price.column not in table.header:
            return None
        cache = (price.path, price.column)
        if cache not in self.csv_values:
            try:
                self.csv_values[cache] = csv_series(table, price.column, self.calendar_model)
            except FlexoptError as err:
                self.absorb(err)
                self.csv_values[cache] = None
        return self.csv_values[cache]

    def check_refs(self, expr: ex.Expr, known: dict, where: str) -> bool:
        ok = True
        for ref in ex.references(expr):
            if ref.name not in known:
                ok = False
                self.error(f"unknown price '{ref.name}' in {where}", ref.span,
                           did_you_mean(ref.name, known) or f"declared prices: {known_list(known)}")
        return ok

    def price_expression(self, raw: ex.Expr, prices: dict[str, Price], slot_unit: str, where: str) -> ex.Expr | None:
        """A price expression in a slot of a given unit (bids: EUR/MWh), checked against the case's prices."""
        expr = self.convert_expr(raw)
        if expr is None or not self.check_refs(expr, prices, where):
            return None
        try:
            unit = ex.unit_of(expr, lambda n: prices[n].unit)
        except ex.ExpressionUnitError as err:
            self.error(err.message, err.span, err.hint)
            return None
        if unit == ex.DIMENSIONLESS:
            if ex.constant_value(expr) == 0:  # a bare 0 (or -0) needs no unit
                return ex.Number(0.0, slot_unit, expr.span)
            self.error(f"the {where} has no unit", raw.span,
                       f"write it from named prices (e.g. 0.9 * buy) or with a unit (e.g. 40 {slot_unit})")
            return None
        if unit != slot_unit:
            self.error(f"the {where} is in {unit}, but it must be in {slot_unit}", raw.span,
                       "bids are paid per MWh of active energy" if slot_unit == ex.PER_MWH else None)
            return None
        return expr


    def bid_rules(self, block: sx.BidsBlock, rules: dict[BidSelector, BidRule], prices: dict[str, Price],
                  ders: dict[str, Der], declared: set[str]) -> None:
        """Add a block's rules to ``rules``; ``ders`` are the case's valid DERs, ``declared`` all it declares."""
        seen_here: dict[BidSelector, Span] = {}
        signature = price_signature(prices)
        for decl in block.rules:
            selectors = [s for s in (self.selector(sel, ders, declared) for sel in decl.selectors) if s is not None]
            participation = None
            if len(decl.participation) > 1:
                self.error("participation is given twice", decl.participation[1].span)
            elif decl.participation:
                share = self.value(decl.participation[0], u.PERCENT, "the participation", minimum=0, maximum=100)
                participation = share / 100.0 if share is not None else None
            offers: dict[str, Offer | str] = {}
            for offer_decl in decl.offers:
                if offer_decl.direction in offers:
                    self.error(f"'{offer_decl.direction}' is given twice in this rule", offer_decl.span)
                    continue
                key = ("offer", id(offer_decl), signature)
                if key not in self.checked:  # a rule inherited by many cases is checked once
                    self.checked[key] = self.offer(offer_decl, prices)
                offer = self.checked[key]
                if offer is not None:
                    offers[offer_decl.direction] = offer
            if not decl.offers and not decl.participation:
                self.error("this rule says nothing", decl.span, "add: down <quantity> at <price>  up <quantity> at <price>")
            for selector, sel_decl in zip(selectors, [s for s in decl.selectors]):
                if selector in seen_here:
                    self.error(f"'{selector.label()}' has two rules in this block", sel_decl.span,
                               f"the first is on line {seen_here[selector].line}; merge them")
                    continue
                seen_here[selector] = sel_decl.span
                previous = rules.get(selector)
                rule = BidRule(selector, participation, offers.get("down"), offers.get("up"), decl.span)
                if previous is not None:  # a case overrides only the clauses it states
                    rule = BidRule(selector,
                                   participation if participation is not None else previous.participation,
                                   rule.down if rule.down is not None else previous.down,
                                   rule.up if rule.up is not None else previous.up, decl.span)
                rules[selector] = rule

    def check_derating(self, case: Case) -> None:
        """Upward offers and derating: PV and wind produce what the weather gives, so they can offer
        upward only by working below it (``derated``); loads and storage have nothing to derate."""
        for der in case.ders:
            up = case.bid_for(der.name, der.kind, der.customer_class).up
            if up is None or (up.span, der.kind) in self.checked_up_offers:
                continue
            self.checked_up_offers.add((up.span, der.kind))
            if up.derated and der.kind not in DER_GROUPS["dg"]:
                self.error(f"'derated' applies to generators (pv, wind, chp), not to {der.kind} '{der.name}'",
                           up.span, "remove 'derated', or give this DER a rule of its own")
            elif not up.derated and der.kind in DER_GROUPS["res"]:
                self.problems.warning(
                    f"{der.kind} '{der.name}' produces all its resource allows, so this upward offer has nothing "
                    "to offer", up.span, "write 'up +10 % derated at ...': the working point then gives up that "
                    "share to offer it (the paper's voluntary derating)")
        for rule in case.bid_rules:
            if isinstance(rule.up, Offer) and rule.up.derated and rule.selector.kind == "enduser":
                self.error("'derated' applies to generators (pv, wind, chp), not to end-users", rule.up.span,
                           "remove 'derated'")

    def selector(self, sel: sx.Selector, ders: dict[str, Der], declared: set[str]) -> BidSelector | None:
        """What a rule applies to; None (with an error, unless the DER's own declaration has one) if nothing."""
        first = sel.words[0].text
        if first == "enduser":
            if len(sel.words) == 1:
                return BidSelector("enduser", "")
            klass = sel.words[1].text
            if klass not in CUSTOMER_CLASSES:
                self.error(f"unknown customer class '{klass}'", sel.words[1].span,
                           did_you_mean(klass, CUSTOMER_CLASSES) or f"classes: {known_list(CUSTOMER_CLASSES)}")
                return None
            return BidSelector("enduser", klass)
        if len(sel.words) > 1:
            self.error(f"'{first} {sel.words[1].text}' is not a selector", sel.words[1].span,
                       "separate selectors with commas: pv, wind")
            return None
        if first in DER_KINDS:
            return BidSelector("kind", first)
        if first in DER_GROUPS:
            return BidSelector("group", first)
        if first in ders:
            return BidSelector("der", first)
        if first in declared:  # the DER's declaration has an error, reported there
            return None
        owners = sorted(c for c, names in self.case_ders.items() if first in names)
        if owners:
            where = f"case{'s' if len(owners) > 1 else ''} {' and '.join(repr(c) for c in owners)}"
            self.error(f"DER '{first}' is declared only in {where}", sel.words[0].span,
                       f"refer to it only in {where} (or a case extending it), "
                       "or declare it at the top level to use it in every case")
            return None
        known = list(DER_KINDS) + list(DER_GROUPS) + list(ders)
        self.error(f"'{first}' is neither a DER nor a kind of DER", sel.words[0].span,
                   did_you_mean(first, known) or f"kinds: {known_list(DER_KINDS)}; groups: res, dg; or a DER's name")
        return None

    def offer(self, decl: sx.OfferDecl, prices: dict[str, Price]) -> Offer | str | None:
        if decl.quantity is None:
            return "none"
        q = decl.quantity
        sign = math.copysign(1.0, q.value) if q.value != 0 else 0.0
        if decl.direction == "down" and sign > 0 and q.span and self.lines[q.span.line - 1][q.span.column - 1:].startswith("+"):
            self.error("a downward quantity cannot be positive", q.span, "write it as -20 % (or 20 %)")
            return None
        if decl.direction == "up" and sign < 0:
            self.error("an upward quantity cannot be negative", q.span, "write it as +20 % (or 20 %)")
            return None
        magnitude = sx.Quantity(abs(q.value), q.unit, q.span)
        if q.unit is None:
            self.error(f"the {decl.direction}ward quantity needs a unit", q.span,
                       "a share of the expected working point (%) or a power (kW, MW)")
            return None
        if q.unit == "%":
            value = self.value(magnitude, u.PERCENT, f"the {decl.direction}ward quantity", minimum=0, maximum=100)
            unit, scale = "fraction", 0.01
        else:
            dim = u.POWER if q.unit in u.POWER.factors else u.BID_QUANTITY  # the latter only to report the unit
            value = self.value(magnitude, dim, f"the {decl.direction}ward quantity", minimum=0, maximum=1000)
            unit, scale = "MW", 1.0
        price = self.price_expression(decl.price, prices, ex.PER_MWH, f"{decl.direction}ward price")
        if value is None or price is None:
            return None
        return Offer(decl.direction, value * scale, unit, price, decl.span, decl.derated)

    def reactive(self, block: sx.ReactiveBlock, prices: dict[str, Price]) -> ReactiveRemuneration | None:
        if len(block.items) != 1:
            span = block.items[1].span if len(block.items) > 1 else block.span
            self.error("the reactive block takes exactly one statement", span,
                       "remuneration <price> per Mvarh, remuneration free, or unavailable")
            return None
        item = block.items[0]
        if item.mode != "paid":
            return ReactiveRemuneration(item.mode, None, item.span)
        per_factor = None
        if item.per_unit is not None:
            per_factor = u.REACTIVE_ENERGY_UNITS.get(item.per_unit.text)
            if per_factor is None:
                self.error(f"reactive support is paid per Mvarh or kvarh, not per '{item.per_unit.text}'",
                           item.per_unit.span, "write: remuneration 0.05 * buy per Mvarh")
                return None
        expr = self.convert_expr(item.expr)
        if expr is None or not self.check_refs(expr, prices, "the reactive remuneration"):
            return None
        try:
            unit = ex.unit_of(expr, lambda n: prices[n].unit)
        except ex.ExpressionUnitError as err:
            self.error(err.message, err.span, err.hint)
            return None
        if per_factor is not None:
            per = item.per_unit.text
            if unit == ex.PER_MVARH:
                if per == "Mvarh":  # "2 EUR/Mvarh per Mvarh" states the unit twice, but means it
                    return ReactiveRemuneration("paid", expr, item.span)
                self.error(f"'per {per}' follows a price that is already per reactive energy ({unit})",
                           item.per_unit.span,
                           f"drop 'per {per}': remuneration {ex.render(item.expr)}; 'per' follows an energy price "
                           f"or a plain number, e.g. remuneration 0.05 * buy per {per}")
                return None
            if unit == ex.PER_MWH or (unit == ex.DIMENSIONLESS and ex.constant_value(expr) is not None):
                # "x per Mvarh": the value of x, in EUR, paid for each Mvarh (or kvarh)
                if per_factor != 1.0:
                    expr = ex.BinaryOp("/", expr, ex.Number(per_factor, ex.DIMENSIONLESS, item.span), item.span)
                return ReactiveRemuneration("paid", ex.Rebased(expr, ex.PER_MVARH, item.span), item.span)
            self.error(f"'per {per}' needs an energy price (EUR/MWh) or a constant before it, not a ratio of prices",
                       item.expr.span, f"write e.g.: remuneration 0.05 * buy per {per}")
            return None
        if unit == ex.PER_MVARH:
            return ReactiveRemuneration("paid", expr, item.span)
        if unit == ex.DIMENSIONLESS and ex.constant_value(expr) == 0:  # a bare 0 (or -0)
            return ReactiveRemuneration("free", None, item.span)
        shown = ex.describe(unit) if unit == ex.DIMENSIONLESS else f"in {unit}"
        self.error(f"the reactive remuneration must be in EUR/Mvarh, but it is {shown}", item.expr.span,
                   "add 'per Mvarh' to pay an energy price per Mvarh: remuneration 0.05 * buy per Mvarh")
        return None


def _price_cycle(start: str, converted: dict[str, ex.Expr]) -> list[str] | None:
    """A reference cycle through ``start`` among expression prices, if there is one."""
    path = [start]

    def walk(name: str) -> list[str] | None:
        expr = converted.get(name)
        if expr is None:
            return None
        for ref in ex.references(expr):
            if ref.name == start:
                return path + [start]
            if ref.name in path or ref.name not in converted:
                continue
            path.append(ref.name)
            found = walk(ref.name)
            if found:
                return found
            path.pop()
        return None

    return walk(start)
