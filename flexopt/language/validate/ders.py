"""Rules of DERs and their capability curves, with the default capability by technology."""

from __future__ import annotations

import lark

from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.errors import Span, did_you_mean, known_list
from flexopt.model import CUSTOMER_CLASSES, DER_GROUPS, DER_KINDS, STATIC_KINDS, Capability, Der
from flexopt.language.validate.context import Context


class DerRules(Context):
    """DERs and capabilities."""

    def ders(self, decls: list[sx.DerDecl]) -> dict[str, Der]:
        result: dict[str, Der] = {}
        for decl in decls:
            der = self.der(decl)
            if der is not None:
                result[der.name] = der
        return result

    def der(self, decl: sx.DerDecl) -> Der | None:
        name = decl.name.text
        kind = decl.kind.text
        reserved = set(DER_KINDS) | set(DER_GROUPS)
        if name in reserved:
            self.error(f"'{name}' names a kind of DER; a DER needs its own name", decl.name.span,
                       f"e.g. {name.upper()}_1")
            return None
        if kind not in DER_KINDS:
            self.error(f"unknown kind of DER '{kind}'", decl.kind.span,
                       did_you_mean(kind, DER_KINDS) or f"kinds: {known_list(DER_KINDS)}")
            return None
        customer_class = None
        if kind == "enduser":
            if decl.customer_class is None:
                self.error("an end-user DER needs its customer class", decl.kind.span,
                           f"e.g. der {name} enduser industrial 2 MW at ...")
                return None
            customer_class = decl.customer_class.text
            if customer_class not in CUSTOMER_CLASSES:
                self.error(f"unknown customer class '{customer_class}'", decl.customer_class.span,
                           did_you_mean(customer_class, CUSTOMER_CLASSES) or f"classes: {known_list(CUSTOMER_CLASSES)}")
                return None
        elif decl.customer_class is not None:
            self.error(f"only end-users have a customer class; '{decl.customer_class.text}' is not expected here",
                       decl.customer_class.span, f"der {name} {kind} <power> at <feeder> <position>")
            return None
        rated = self.value(decl.rated, u.POWER, f"the rated power of {name}", above=0, maximum=1000)
        storage = None
        if kind == "storage":
            if decl.storage_energy is None:
                self.error(f"storage {name} needs its energy capacity", decl.rated.span, "e.g. 2 MW 4 MWh")
            else:
                storage = self.value(decl.storage_energy, u.ENERGY, f"the energy capacity of {name}", above=0)
        elif decl.storage_energy is not None:
            self.error("only storage has an energy capacity", decl.storage_energy.span)
        position = self.position(decl.location)
        singles = self.settings_once((_setting(s) for s in decl.settings), f"DER {name}")
        apparent = rated
        if "apparent power" in singles and rated is not None:
            apparent = self.value(singles["apparent power"].value, u.APPARENT_POWER, f"the apparent power of {name}",
                                  minimum=rated, maximum=1000)
        capability = None
        if "capability" in singles:
            capability = self.capability(singles["capability"].value, kind)
        elif rated is not None:
            capability = default_capability(kind, rated)
        profile = None
        if "profile" in singles:
            word: sx.Word = singles["profile"].value
            if word.text not in self.profiles:
                self.error(f"unknown profile '{word.text}'", word.span,
                           did_you_mean(word.text, self.profiles) or f"profiles: {known_list(self.profiles)}")
            profile = word.text
        elif kind != "storage":
            default = customer_class if kind == "enduser" else kind
            if default in self.profiles:
                profile = default
            else:
                self.error(f"DER {name} has no profile", decl.span,
                           f"add 'with profile NAME' to it, or declare a profile named '{default}'")
        energy = None
        if "energy" in singles:
            energy = self.value(singles["energy"].value, u.ENERGY_PER_YEAR, f"the annual energy of {name}", minimum=0)
            hours = self.hours_per_year
            if energy is not None and rated is not None and energy > rated * hours:
                self.error(f"{name} cannot produce {energy / 1000:g} GWh/y at {rated:g} MW", singles["energy"].span,
                           f"at most {rated * hours / 1000:g} GWh/y: full power for all {hours} hours of the year")
        pf, direction = 1.0, "absorbing" if kind in ("pv", "wind", "storage") else "injecting"
        if "power factor" in singles:
            value, given = singles["power factor"].value
            checked = self.check_range(value, singles["power factor"].span, "the power factor", above=0, maximum=1)
            pf = checked if checked is not None else pf
            direction = given or direction
        state_of_charge = 0.5
        if "state of charge" in singles:
            setting = singles["state of charge"]
            if kind != "storage":
                self.error(f"only storage has a state of charge; {name} is {kind}", setting.span,
                           "remove 'state of charge ...' from this DER")
            else:
                soc = self.value(setting.value, u.PERCENT, f"the state of charge of {name}", minimum=0, maximum=100)
                state_of_charge = soc / 100.0 if soc is not None else state_of_charge
        self.options_without_effect(name, kind, singles, profile)
        if rated is None or position is None or capability is None or apparent is None:
            return None
        return Der(name, kind, customer_class, rated, apparent, storage, position, capability, profile, energy, pf,
                   direction, decl.span, state_of_charge)

    def options_without_effect(self, name: str, kind: str, singles: dict[str, sx.Setting], profile: str | None) -> None:
        """Refuse options the assessment would accept and then ignore."""
        if kind == "storage" and profile is None:
            idle = f"storage {name} has no profile: it idles at 0 MW"
            if "energy" in singles:
                self.error(f"{idle}, so an annual energy has no effect", singles["energy"].span,
                           "give it a schedule with 'with profile NAME' to scale, or remove 'energy'")
            if "power factor" in singles:
                self.error(f"{idle}, so a power factor has no effect", singles["power factor"].span,
                           "remove 'power factor': its bids keep the working point's reactive power (none); "
                           "its reactive support is its capability curve")
        if kind == "enduser":
            capability = singles.get("capability")
            if capability is not None and capability.value.kind != "none":
                self.error(f"an end-user gives no reactive support, so the capability of {name} has no effect",
                           capability.span, "remove it, or write 'capability none'")
            if "apparent power" in singles:
                self.error(f"an end-user gives no reactive support, so the apparent power of {name} has no effect",
                           singles["apparent power"].span, "remove 'apparent power'")
            if "power factor" in singles and singles["power factor"].value[1] is not None:
                self.error(f"an end-user draws reactive power at its power factor (a lagging load); "
                           f"'{singles['power factor'].value[1]}' applies to generators and storage",
                           singles["power factor"].span, f"write: power factor {singles['power factor'].value[0]:g}")


    def capability(self, decl: sx.CapabilityDecl, kind: str) -> Capability | None:
        for value, what in ((decl.pf, "power factor"), (decl.injecting_pf, "injecting power factor"),
                            (decl.absorbing_pf, "absorbing power factor")):
            if value is not None and self.check_range(value, decl.span, f"the {what}", above=0, maximum=1) is None:
                return None
        if decl.kind == "synchronous":
            return Capability("synchronous", None, decl.injecting_pf or 0.8, decl.absorbing_pf or 0.95)
        return Capability(decl.kind, decl.pf)


def _setting(item) -> sx.Setting:
    """A DER option as a setting; ``state of charge`` comes from the parser as its lark rule."""
    if isinstance(item, lark.Tree) and item.data == "state_of_charge":
        q = item.children[0]
        meta = item.meta
        return sx.Setting("state of charge", q, Span(q.span.file, meta.line, meta.column, meta.end_line, meta.end_column))
    return item


def default_capability(kind: str, rated_mw: float) -> Capability:
    """The paper's (CEI 0-16) capability by technology and size."""
    if kind in STATIC_KINDS:
        return Capability("semicircle") if rated_mw >= 0.4 else Capability("limited", 0.9)
    if kind == "wind":
        return Capability("rectangular", 0.95)
    if kind == "chp":
        return Capability("synchronous", None, 0.8, 0.95)
    return Capability("none")
