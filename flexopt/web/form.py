"""The workbench's form: what regulators change most, read from the scenario text and written back into it.

The fields are found in the syntax tree the language builds (every value keeps its span), so a change
replaces exactly the characters of that value and nothing else: comments and layout elsewhere stay as
written. A case that does not state a block shows what it inherits; changing such a field inserts the
override into the case. The new text is then validated by the same code as ``flexopt check``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flexopt.errors import FlexoptError, Problem, Span, source_lines
from flexopt.language import syntax as sx
from flexopt.model import REMEDIES

#: What a price expression field may contain: numbers, price names, operators, min/max calls.
_EXPRESSION = re.compile(r"^[A-Za-z0-9_ .+\-*/(),]+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
REACTIVE_MODES = ("paid", "free", "unavailable")
#: The remedies a case may allow the DSO, as the form offers them.
REMEDY_CHOICES = ("reactive", "redispatch", "reactive, redispatch")
_DEFAULT_REACTIVE_PRICE = "0.05 * buy"


@dataclass(frozen=True)
class FormField:
    """One value the form shows: where it is in the text (``start``..``end``, character offsets) and what is
    written there, ``template`` with the new value in place of ``{value}`` (for a choice, the text of the
    choice from ``choice_texts``). ``inherited``: the case does not state it; a change inserts an override."""

    key: str  # stable across edits: scope|block|rule|name
    scope: str  # "" for the top level, else the case's name
    group: str  # "bids: pv, wind", "reactive", "limits", "study"
    label: str
    kind: str  # "number", "expression", "choice" or "flag"
    value: str
    unit: str = ""
    start: int = 0
    end: int = 0
    line: int = 0
    inherited: bool = False
    template: str = "{value}"
    choice_texts: tuple[tuple[str, str], ...] = ()

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(choice for choice, _ in self.choice_texts)

    def as_json(self) -> dict:
        return {"key": self.key, "scope": self.scope, "group": self.group, "label": self.label, "kind": self.kind,
                "value": self.value, "unit": self.unit, "choices": list(self.choices), "line": self.line,
                "inherited": self.inherited}


class _Offsets:
    """Character offsets of (line, column) spans, lines broken as the parser breaks them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for match in re.finditer(r"\r\n|\r|\n", text):
            self.starts.append(match.end())

    def at(self, line: int, column: int) -> int:
        return self.starts[line - 1] + column - 1

    def span(self, span: Span) -> tuple[int, int]:
        return self.at(span.line, span.column), self.at(span.end_line or span.line, span.end_column or span.column)

    def slice(self, span: Span) -> str:
        start, end = self.span(span)
        return self.text[start:end]


def _quantity_field(o: _Offsets, key: str, scope: str, group: str, label: str, quantity,
                    inherited_at: int | None = None, block: str = "") -> FormField:
    """A number with its unit; ``inherited_at``: not stated in this case, so a change inserts ``block`` (in
    which ``{value}`` stands for the number and its unit) at that offset."""
    number = o.slice(quantity.span)
    unit = quantity.unit or ""
    if unit and number.endswith(unit):
        number = number[: -len(unit)].rstrip()
    with_unit = "{value}" + (f" {unit}" if unit else "")
    if inherited_at is not None:
        return FormField(key, scope, group, label, "number", number, unit, inherited_at, inherited_at,
                         _line(o, inherited_at), True, block.replace("{value}", with_unit))
    start, end = o.span(quantity.span)
    return FormField(key, scope, group, label, "number", number, unit, start, end, quantity.span.line,
                     template=with_unit)


def _line(o: _Offsets, offset: int) -> int:
    return len(source_lines(o.text[:offset]))


def _bid_fields(o: _Offsets, scope: str, block: sx.BidsBlock) -> list[FormField]:
    fields = []
    for index, rule in enumerate(block.rules):
        who = ", ".join(" ".join(w.text for w in s.words) for s in rule.selectors)
        group = f"bids: {who}"
        prefix = f"{scope}|bids|{index}"
        for quantity in rule.participation:
            fields.append(_quantity_field(o, f"{prefix}|participation", scope, group, "participation", quantity))
        for offer in rule.offers:
            if offer.quantity is None:
                continue
            d = offer.direction
            fields.append(_quantity_field(o, f"{prefix}|{d}|quantity", scope, group, f"{d} quantity", offer.quantity))
            start, end = o.span(offer.price.span)
            fields.append(FormField(f"{prefix}|{d}|price", scope, group, f"{d} price", "expression",
                                    o.text[start:end], "EUR/MWh", start, end, offer.price.span.line))
            if d == "up":
                start, end = o.span(offer.span)
                quantity, price = o.slice(offer.quantity.span), o.slice(offer.price.span)
                fields.append(FormField(f"{prefix}|up|derated", scope, group, "up by derating (produce less)", "flag",
                                        "yes" if offer.derated else "no", "", start, end, offer.span.line,
                                        choice_texts=(("no", f"up {quantity} at {price}"),
                                                      ("yes", f"up {quantity} derated at {price}"))))
    return fields


def _reactive_fields(o: _Offsets, scope: str, decl: sx.ReactiveDecl | None, inherited: sx.ReactiveDecl | None,
                     at: int | None) -> list[FormField]:
    """The mode (paid, free, unavailable) and the price of reactive support, stated or inherited."""
    source = decl or inherited
    mode = source.mode if source else "paid"
    price = o.slice(source.expr.span) if source and source.expr is not None else _DEFAULT_REACTIVE_PRICE
    per = source.per_unit.text if source and source.per_unit is not None else "Mvarh"
    if decl is None:
        start = end = at
        line, template = _line(o, at), "reactive { {value} }"
    else:
        (start, end), line, template = o.span(decl.span), decl.span.line, "{value}"
    texts = (("paid", f"remuneration {price} per {per}"), ("free", "remuneration free"), ("unavailable", "unavailable"))
    mode_field = FormField(f"{scope}|reactive|0|mode", scope, "reactive", "reactive support", "choice", mode, "",
                           start, end, line, decl is None, template, texts)
    if decl is not None and decl.expr is not None:  # only the price's characters change
        (start, end), template = o.span(decl.expr.span), "{value}"
    else:  # writing a price makes the support paid
        template = template.replace("{value}", f"remuneration {{value}} per {per}")
    price_field = FormField(f"{scope}|reactive|0|price", scope, "reactive", "reactive price", "expression", price,
                            f"EUR/{per}", start, end, line, decl is None, template)
    return [mode_field, price_field]


def _setting(block, key: str):
    for setting in block.settings if block is not None else ():
        if setting.key == key:
            return setting
    return None


def _limit_fields(o: _Offsets, scope: str, own, inherited_blocks: list, at: int | None) -> list[FormField]:
    fields = []
    for key in ("voltage", "line loading", "transformer loading", "loading"):
        setting = _setting(own, key)
        stated = setting is not None
        if not stated:
            setting = next((s for b in inherited_blocks if (s := _setting(b, key)) is not None), None)
            if setting is None:
                continue
        where = None if stated else at
        if key == "voltage":
            low, high = setting.value
            fields.append(_quantity_field(o, f"{scope}|limits|0|voltage low", scope, "limits", "voltage low", low,
                                          where, "limits { voltage {value} .. " + o.slice(high.span) + " }"))
            fields.append(_quantity_field(o, f"{scope}|limits|0|voltage high", scope, "limits", "voltage high", high,
                                          where, "limits { voltage " + o.slice(low.span) + " .. {value} }"))
        else:
            fields.append(_quantity_field(o, f"{scope}|limits|0|{key}", scope, "limits", key, setting.value, where,
                                          "limits { " + key + " {value} }"))
    return fields


def _remedy_field(o: _Offsets, scope: str, own, inherited_blocks: list, at: int | None) -> list[FormField]:
    choices = tuple((choice, f"remedies {choice}") for choice in REMEDY_CHOICES)
    setting = _setting(own, "remedies")
    if setting is not None:
        start, end = o.span(setting.span)
        return [FormField(f"{scope}|study|0|remedies", scope, "study", "DSO remedies", "choice",
                          ", ".join(w.text for w in setting.value), "", start, end, setting.span.line,
                          choice_texts=choices)]
    setting = next((s for b in inherited_blocks if (s := _setting(b, "remedies")) is not None), None)
    value = ", ".join(w.text for w in setting.value) if setting is not None else REMEDIES[0]
    return [FormField(f"{scope}|study|0|remedies", scope, "study", "DSO remedies", "choice", value, "", at, at,
                      _line(o, at), True, "study { {value} }", choices)]


def _case_insert_at(o: _Offsets, case: sx.CaseDecl) -> int:
    """Where an override goes: just before the case's closing brace."""
    start, end = o.span(case.span)
    return o.text.rindex("}", start, end)


def _blocks(statements, kind) -> list:
    return [s for s in statements if isinstance(s, kind)]


def form_fields(text: str, file: str = "<scenario>") -> list[FormField]:
    """Every form field of the text, top level first, then each case in the order written. Raises
    :class:`FlexoptError` when the text does not parse (the editor shows that problem)."""
    syntax = sx.parse_text(text, file)
    o = _Offsets(text)
    top = syntax.statements
    cases = {s.name.text: s for s in top if isinstance(s, sx.CaseDecl)}
    fields: list[FormField] = []

    def chain(case: sx.CaseDecl | None) -> list[tuple]:
        """The statements a scope sees, nearest first: the case, its parents, then the top level."""
        seen, scopes = set(), []
        while case is not None and case.name.text not in seen:
            seen.add(case.name.text)
            scopes.append(case.statements)
            case = cases.get(case.extends.text) if case.extends is not None else None
        return scopes + [top]

    for scope_name, case in [("", None)] + list(cases.items()):
        statements = case.statements if case is not None else top
        parents = chain(case)[1:]
        at = _case_insert_at(o, case) if case is not None else None
        for block in _blocks(statements, sx.BidsBlock):
            fields.extend(_bid_fields(o, scope_name, block))
        own = [d for b in _blocks(statements, sx.ReactiveBlock) for d in b.items]
        inherited = next((d for scope in parents for b in _blocks(scope, sx.ReactiveBlock) for d in b.items), None)
        if own or case is not None:
            fields.extend(_reactive_fields(o, scope_name, own[-1] if own else None, inherited, at))
        limits = _blocks(statements, sx.LimitsBlock)
        own_limits = limits[-1] if limits else None
        parent_limits = [b for scope in parents for b in reversed(_blocks(scope, sx.LimitsBlock))]
        if own_limits is not None or case is not None:
            fields.extend(_limit_fields(o, scope_name, own_limits, parent_limits, at))
        studies = _blocks(statements, sx.StudyBlock)
        own_study = studies[-1] if studies else None
        if own_study is not None and _setting(own_study, "remedies") is not None or case is not None:
            parent_studies = [b for scope in parents for b in reversed(_blocks(scope, sx.StudyBlock))]
            fields.extend(_remedy_field(o, scope_name, own_study, parent_studies, at))
    return fields


def _refuse(field: FormField, why: str, hint: str) -> FlexoptError:
    return FlexoptError([Problem(f"{field.label}: {why}", None, hint)])


def _rendered(field: FormField, value: str) -> str:
    value = value.strip()
    if field.kind == "number":
        if not _NUMBER.match(value):
            raise _refuse(field, f"'{value}' is not a number", "write a number such as 0.95 or -20")
    elif field.kind == "expression":
        if not value or not _EXPRESSION.match(value):
            raise _refuse(field, f"'{value}' is not a price expression",
                          "numbers, price names, + - * / ( ) and min/max, e.g. 0.05 * buy")
    else:
        texts = dict(field.choice_texts)
        if value not in texts:
            raise _refuse(field, f"'{value}' is not one of {', '.join(texts)}", "pick one of the choices")
        value = texts[value]
    return field.template.replace("{value}", value)


def apply_change(text: str, key: str, value: str, file: str = "<scenario>") -> str:
    """The text with one field set to ``value``: only that value's characters change (or, for an inherited
    field, the override is inserted before the case's closing brace)."""
    fields = {f.key: f for f in form_fields(text, file)}
    if key not in fields:
        raise FlexoptError([Problem(f"the form has no field '{key}' in this text", None,
                                    "the text changed: reload the form")])
    field = fields[key]
    new = _rendered(field, value)
    if not field.inherited:
        return text[: field.start] + new + text[field.end:]
    return _insert_override(text, field.start, new)


def _insert_override(text: str, close: int, block: str) -> str:
    """``block`` on its own line before the closing brace at ``close``, indented like the case's items."""
    open_brace = text.rindex("{", 0, close)
    inside = text[open_brace + 1: close]
    line_start = text.rfind("\n", 0, close) + 1
    if not inside.strip():
        return text[: open_brace + 1] + f"\n  {block}\n" + text[close:]
    if not text[line_start:close].strip():  # the brace stands alone on its line
        items = [ln for ln in inside.splitlines() if ln.strip()]
        indent = re.match(r"\s*", items[-1]).group(0) if items else "  "
        return text[:line_start] + f"{indent}{block}\n" + text[line_start:]
    return text[:close].rstrip() + f" {block} " + text[close:]
