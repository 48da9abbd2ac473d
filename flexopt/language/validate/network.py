"""Rules of the network: conductors, the substation, feeders, customer mixes and positions on feeders."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.errors import Span, did_you_mean, known_list
from flexopt.model import (
    CUSTOMER_CLASSES,
    ConductorType,
    CustomerShare,
    Feeder,
    PointOnFeeder,
    Position,
    Substation,
    TransformerData,
)
from flexopt.language.feeder_nets import (
    NetFileError,
    builder_bus_names,
    lateral_bus_name,
    main_bus_name,
    net_bus_names,
    synthetic_bus_names,
)
from flexopt.language.validate.context import Context


class NetworkRules(Context):
    """Conductors, substation, feeders, customer mixes, positions."""

    def conductors(self, decls: list[sx.ConductorDecl]) -> tuple[ConductorType, ...]:
        taken: dict[str, Span] = {}
        result = []
        fields = {"resistance": u.RESISTANCE_PER_KM, "reactance": u.RESISTANCE_PER_KM,
                  "capacitance": u.CAPACITANCE_PER_KM, "ampacity": u.CURRENT}
        for decl in decls:
            if not self.name(decl.name, "conductor", taken):
                continue
            values: dict[str, float] = {}
            misspelt = False
            for key, q in decl.params:
                if key.text not in fields:
                    misspelt = True
                    self.error(f"unknown conductor parameter '{key.text}'", key.span,
                               did_you_mean(key.text, fields) or f"parameters: {known_list(fields)}")
                    continue
                if key.text in values:
                    self.error(f"'{key.text}' is given twice", key.span)
                    continue
                v = self.value(q, fields[key.text], f"the {key.text}", minimum=0,
                               above=0 if key.text in ("reactance", "ampacity") else None)
                if v is not None:
                    values[key.text] = v
            given = {key.text for key, _ in decl.params}
            missing = [f for f in fields if f not in given and f != "capacitance"]
            if missing:
                if not misspelt:  # a misspelt parameter is reported as such, not once more as missing
                    self.error(f"conductor '{decl.name.text}' lacks {', '.join(missing)}", decl.span,
                               "give resistance and reactance in ohm/km and ampacity in A")
                continue
            if all(f in values for f in fields if f != "capacitance"):
                result.append(ConductorType(decl.name.text, values["resistance"], values["reactance"],
                                            values.get("capacitance", 0.0), values["ampacity"], decl.span))
        self.conductor_names = set(taken)
        return tuple(result)


    def substation(self, block: sx.SubstationBlock | None, required: bool = True) -> Substation | None:
        if block is None:
            if not required:
                return None
            self.error("the scenario has no substation", self.syntax.header.span,
                       "add: substation PS { transformer 40 MVA 150/15 kV  busbar 1.0 pu }")
            return None
        singles = self.settings_once(block.settings, "the substation")
        busbar = 1.0
        if "busbar" in singles:
            busbar = self.value(singles["busbar"].value, u.PER_UNIT, "the busbar voltage setpoint", default_unit="pu",
                                minimum=0.85, maximum=1.15) or 1.0
        if "transformer" not in singles:
            self.error("the substation has no transformer", block.span, "add: transformer 40 MVA 150/15 kV")
            return None
        t: sx.TransformerDecl = singles["transformer"].value
        rated = self.value(t.rating, u.APPARENT_POWER, "the transformer rating", above=0, maximum=1000)
        lv = self.value(t.lv, u.VOLTAGE, "the MV voltage", above=0, maximum=70)
        hv = None
        if lv is not None:
            hv = self.value(replace(t.hv, unit=t.hv.unit or t.lv.unit), u.VOLTAGE, "the HV voltage", above=lv, maximum=1000)
        options = self.settings_once(t.options, "the transformer")
        defaults = {"short circuit voltage": 12.0, "copper losses": 0.4, "iron losses": 20.0, "no load current": 0.05}
        dims = {"short circuit voltage": u.PERCENT, "copper losses": u.PERCENT, "iron losses": u.POWER,
                "no load current": u.PERCENT}
        values = dict(defaults)
        for key, setting in options.items():
            dim = dims[key]
            v = self.value(setting.value, dim, f"the {key}", minimum=0, maximum=50 if dim is u.PERCENT else 10)
            if v is not None:
                values[key] = v * (1000.0 if key == "iron losses" else 1.0)  # MW -> kW
        if values["copper losses"] >= values["short circuit voltage"]:
            self.error("the copper losses must be below the short-circuit voltage", t.span,
                       "typical HV/MV values: short circuit voltage 12 %, copper losses 0.4 %")
        if rated is None or lv is None or hv is None:
            return None
        data = TransformerData(rated, hv, lv, values["short circuit voltage"], values["copper losses"],
                               values["iron losses"], values["no load current"])
        return Substation(block.name.text, data, busbar, block.span)

    # -- feeders --------------------------------------------------------------------
    def feeder_list(self, decls: list[sx.FeederDecl], required: bool = True) -> None:
        taken: dict[str, Span] = {name: f.span for name, f in self.feeders.items()}
        if not decls and required:
            self.error("the scenario has no feeder", self.syntax.header.span,
                       "add one, e.g.: feeder R1 rural { length 20 km  sections 20  conductor \"NA2XS2Y 1x185 RM/25 12/20 kV\"  demand 10 GWh/y  mix residential 100 % }")
        for decl in decls:
            if not self.name(decl.name, "feeder", taken):
                continue
            feeder = self.feeder(decl)
            if feeder is not None:
                self.feeders[feeder.name] = feeder

    def feeder(self, decl: sx.FeederDecl, changed: frozenset[str] = frozenset()) -> Feeder | None:
        """A declared feeder; with ``changed`` (the items a case states), the feeder as that case sees it."""
        where = f"feeder '{decl.name.text}'"
        singles = self.settings_once(decl.settings, where)
        ambit = decl.ambit.text if decl.ambit else None
        synthetic_only = ("length", "sections", "laterals", "conductor")
        path = builder = None
        length = sections = None
        laterals = 0
        conductor = None
        if decl.source == "synthetic":
            for key in ("length", "sections", "conductor"):
                if key not in singles:
                    example = {"length": "length 20 km", "sections": "sections 20",
                               "conductor": 'conductor "NA2XS2Y 1x185 RM/25 12/20 kV"'}[key]
                    self.error(f"synthetic {where} needs '{key}'", decl.span, f"add: {example}")
            if "length" in singles:
                length = self.value(singles["length"].value, u.LENGTH, "the feeder length", above=0, maximum=300)
            if "sections" in singles:
                s = self.number(singles["sections"].value, "the number of sections", minimum=1, maximum=2000, integer=True)
                sections = int(s) if s is not None else None
            if "laterals" in singles:
                lat = self.number(singles["laterals"].value, "the number of laterals", minimum=0, maximum=100, integer=True)
                laterals = int(lat) if lat is not None else 0
                if sections is not None and laterals >= sections + 1 and lat is not None:
                    clash = singles["sections" if "sections" in changed and "laterals" not in changed else "laterals"]
                    self.error(f"{laterals} laterals need more than {sections} sections", clash.span,
                               "a lateral branches off a node of the main line")
            if "conductor" in singles:
                word: sx.Word = singles["conductor"].value
                if not self.conductor_known(word.text):
                    self.error(f"unknown conductor type '{word.text}'", word.span,
                               did_you_mean(word.text, self.conductor_choices())
                               or "use a pandapower line standard type or declare it: conductor \"name\" { resistance ... }")
                else:
                    conductor = word.text
        else:
            for key in synthetic_only:
                if key in singles:
                    self.error(f"'{key}' applies only to synthetic feeders", singles[key].span,
                               "an imported feeder takes its lines from its source")
            if decl.source == "file":
                if not decl.reference.text.lower().endswith(".json"):
                    self.error("an imported feeder must be a pandapower JSON file (.json)", decl.reference.span)
                else:
                    path = self.data_path(decl.reference, "feeder")
                    if path is not None:
                        self.feeder_file(path, decl.span)
            else:
                builder = decl.reference.text
                choices = pandapower_builders()
                if builder not in choices:
                    self.error(f"pandapower.networks has no network builder '{builder}'", decl.reference.span,
                               did_you_mean(builder, choices) or "e.g. \"create_cigre_network_mv\"")
                elif not changed and _slacks(builder) > 1:
                    self.error(f"pandapower.networks.{builder}() holds {_slacks(builder)} substations (external grids),"
                               " not one feeder", decl.reference.span,
                               f'import them whole: substation {decl.name.text} from pandapower "{builder}"')
        demand = None
        if "demand" in singles:
            demand = self.value(singles["demand"].value, u.ENERGY_PER_YEAR, "the annual demand", minimum=0, maximum=1e7)
        elif decl.source == "synthetic":
            self.error(f"synthetic {where} needs 'demand'", decl.span, "add the annual energy of its loads: demand 10 GWh/y")
        mix: list[CustomerShare] = []
        if "mix" in singles:
            mix = self.customer_mix(singles["mix"])
        elif demand:
            self.error(f"{where} needs a customer 'mix' for its demand", decl.span, "add e.g.: mix residential 60 %  commercial 40 %")
        pf = 0.95
        if "power factor" in singles:
            pf = self.number(singles["power factor"].value, "the load power factor", above=0, maximum=1) or pf
        return Feeder(decl.name.text, ambit, decl.source, path, builder, length, sections, laterals, conductor,
                      demand, tuple(mix), pf, decl.span)

    # -- feeders as a case changes them --------------------------------------------------
    def case_feeders(self, case: str, scopes: list[list[object]]) -> dict[str, Feeder]:
        """The feeders as ``case`` sees them, in the scenario's order: the items its scopes state in
        ``feeder NAME { ... }`` (the oldest ancestor first, the case last: the nearest one wins) replace
        those of the declaration, and the merged items go through the very checks of :meth:`feeder`."""
        declared = {s.name.text: s for s in self.syntax.statements if isinstance(s, sx.FeederDecl)}
        changes: dict[str, dict[str, sx.Setting]] = {}
        last: dict[str, sx.FeederChangeDecl] = {}
        for stmt in (stmt for scope in scopes for stmt in scope if isinstance(stmt, sx.FeederChangeDecl)):
            if self.feeder_change_known(stmt, declared):
                changes.setdefault(stmt.name.text, {}).update(self.settings_once(stmt.settings, f"feeder '{stmt.name.text}'"))
                last[stmt.name.text] = stmt
        result = dict(self.feeders)
        self.length_changed_by = {}
        for name, settings in changes.items():
            base = self.feeders.get(name)
            if base is None:  # its declaration is wrong, and reported
                continue
            decl = declared[name]
            merged = {**self.settings_once(decl.settings, f"feeder '{name}'"), **settings}
            feeder = self.feeder(replace(decl, settings=tuple(merged.values()), span=last[name].span), frozenset(settings))
            if feeder is not None:
                result[name] = replace(feeder, span=base.span)
                if feeder.length_km != base.length_km:
                    self.length_changed_by[name] = (case, merged["length"].span.line)
        return result

    def feeder_change_known(self, change: sx.FeederChangeDecl, declared: dict[str, sx.FeederDecl]) -> bool:
        """A case's ``feeder NAME { ... }`` names a declared feeder and states items only (no ambit, no source)."""
        name = change.name.text
        if name not in declared:
            self.error(f"unknown feeder '{name}'", change.name.span,
                       did_you_mean(name, declared) or f"a case changes a feeder declared outside cases; feeders: "
                       f"{known_list(declared)}")
            return False
        line = declared[name].span.line
        if change.ambit is not None:
            self.error(f"a case cannot change the ambit of feeder '{name}'", change.ambit.span,
                       f"the ambit stays as declared on line {line}; in a case write only the items to change: "
                       f"feeder {name} {{ length 16 km }}")
        if change.source is not None:
            self.error(f"a case cannot import feeder '{name}' ('{change.source.text}')", change.source.span,
                       f"a feeder's source is given where it is declared (line {line}); in a case write only the "
                       f"items to change: feeder {name} {{ demand 3 GWh/y }}")
        return True

    def customer_mix(self, setting: sx.Setting) -> list[CustomerShare]:
        shares: list[CustomerShare] = []
        seen: set[str] = set()
        total = 0.0
        for word, q in setting.value:
            if word.text not in CUSTOMER_CLASSES:
                self.error(f"unknown customer class '{word.text}'", word.span,
                           did_you_mean(word.text, CUSTOMER_CLASSES) or f"classes: {known_list(CUSTOMER_CLASSES)}")
                continue
            if word.text not in self.profiles:
                self.error(f"no profile for the {word.text} customers", word.span,
                           f"declare one named like the class: profile {word.text} generated demand {{ class {word.text} }}")
            if word.text in seen:
                self.error(f"customer class '{word.text}' appears twice in the mix", word.span)
                continue
            seen.add(word.text)
            share = self.value(q, u.PERCENT, f"the {word.text} share", minimum=0, maximum=100)
            if share is None:
                continue
            total += share
            shares.append(CustomerShare(word.text, share / 100.0))
        if shares and abs(total - 100.0) > 0.01 and len(shares) == len(setting.value):
            self.error(f"the customer mix adds up to {total:g} %, not 100 %", setting.span,
                       "the shares split the feeder's annual demand among classes")
        return shares

    def conductor_known(self, name: str) -> bool:
        return name in self.conductor_names or name in pandapower_line_types()

    def conductor_choices(self) -> list[str]:
        return sorted(self.conductor_names | set(pandapower_line_types()))


    def position(self, loc: sx.LocationDecl) -> Position | None:
        feeder = self.feeders.get(loc.feeder.text)
        if feeder is None:
            if loc.feeder.text not in {f.name.text for f in self.syntax.statements if isinstance(f, sx.FeederDecl)}:
                self.error(f"unknown feeder '{loc.feeder.text}'", loc.feeder.span,
                           did_you_mean(loc.feeder.text, self.feeders) or f"feeders: {known_list(self.feeders)}")
            return None
        if loc.kind == "bus":
            if not loc.bus.text:
                self.error("the bus name is empty", loc.bus.span)
                return None
            self.check_bus(feeder, loc.bus)
            return Position(feeder.name, "bus", None, None, loc.bus.text, loc.span)
        start = self.point(loc.start, feeder)
        end = self.point(loc.end, feeder) if loc.kind == "along" else None
        if start is None or (loc.kind == "along" and end is None):
            return None
        if end is not None and feeder.length_km:
            a = start.fraction if start.fraction is not None else start.km / feeder.length_km
            b = end.fraction if end.fraction is not None else end.km / feeder.length_km
            if a >= b:
                self.error("the stretch runs backwards or is empty", loc.span,
                           "write it from the busbar outwards: from 40 % to end")
                return None
        return Position(feeder.name, loc.kind, start, end, None, loc.span)

    # -- the buses of a feeder ----------------------------------------------------------
    def feeder_file(self, path: Path, span: Span) -> frozenset[str] | NetFileError:
        """Read an imported feeder's JSON once (never through pandapower.from_json): its bus names, or why
        it is refused. A file that names code to import is refused here; one that is merely not a usable
        network only when its bus names are needed (``flexopt run`` refuses it in any case)."""
        files = self.__dict__.setdefault("_feeder_files", {})
        if path not in files:
            try:
                files[path] = frozenset(net_bus_names(path))
            except NetFileError as err:
                files[path] = err
                if err.unsafe:
                    self.error(err.message(path), span, err.hint)
        return files[path]

    def check_bus(self, feeder: Feeder, bus: sx.Word) -> None:
        """A DER placed ``at FEEDER bus "NAME"`` needs that bus: of the synthetic layout, the JSON file or the
        net a pandapower builder makes."""
        if feeder.source == "synthetic":
            if not feeder.length_km or not feeder.sections:
                return  # the feeder's own problem is reported
            cache = self.__dict__.setdefault("_synthetic_buses", {})
            if feeder not in cache:  # once per feeder (as each case sees it), however many DERs it has
                cache[feeder] = (synthetic_bus_names(feeder), frozenset(synthetic_bus_names(feeder)))
            names, known = cache[feeder]
        elif feeder.source == "file" and feeder.path is not None:
            names = self.feeder_file(feeder.path, feeder.span)
            if isinstance(names, NetFileError):
                if not names.unsafe:
                    self.error(names.message(feeder.path), feeder.span, names.hint)
                return
            known = names
        elif feeder.source == "substation":
            names = known = self.net_feeder_buses.get(feeder.name, frozenset())
        elif feeder.source == "pandapower" and feeder.builder in pandapower_builders():
            built = self.__dict__.setdefault("_builder_buses", {})
            if feeder.builder not in built:  # once per builder, however many DERs stand on it
                built[feeder.builder] = builder_bus_names(feeder.builder)
            if built[feeder.builder] is None:
                return
            names = known = frozenset(built[feeder.builder])
        else:
            return
        if bus.text in known:
            return
        hint = did_you_mean(bus.text, names)
        if hint is None and feeder.source == "synthetic":
            last = main_bus_name(feeder.name, feeder.sections)
            laterals = (f" and '{lateral_bus_name(feeder.name, 1, 1)}' to '{names[-1]}' on its laterals"
                        if feeder.laterals else "")
            hint = (f"the buses of {feeder.name} are '{names[0]}', '{names[1]}' to '{last}' along the main line"
                    f"{laterals}; or place it by position, e.g. at {feeder.name} 60 %")
        self.error(f"feeder '{feeder.name}' has no bus named '{bus.text}'", bus.span,
                   hint or f"its buses: {known_list(names)}")

    def point(self, point: sx.Point, feeder: Feeder) -> PointOnFeeder | None:
        if point.word is not None:
            return PointOnFeeder({"start": 0.0, "middle": 0.5, "end": 1.0}[point.word], None)
        q = point.quantity
        if q.unit is None:
            self.error("the position needs a unit", q.span,
                       f"a share of the feeder's length or a distance from the busbar: at {feeder.name} {q.value:g} % "
                       f"or at {feeder.name} {q.value:g} km")
            return None
        if q.unit == "%":
            value = self.value(q, u.PERCENT, "the position", minimum=0, maximum=100)
            return PointOnFeeder(value / 100.0, None) if value is not None else None
        maximum = feeder.length_km if feeder.length_km else None
        dim = u.LENGTH if q.unit in u.LENGTH.factors else u.LENGTH_OR_PERCENT  # the latter only to report the unit
        changed_by = self.length_changed_by.get(feeder.name)
        if changed_by and maximum is not None and dim is u.LENGTH and q.value * u.LENGTH.factors[q.unit] > maximum:
            case, line = changed_by
            self.error(f"the position {q.value:g} {q.unit} lies beyond the end of {feeder.name}, which is "
                       f"{maximum:g} km long in case '{case}'", q.span,
                       f"line {line} changes its length; place the DER within it, e.g. at {feeder.name} end or as "
                       f"a share of the length: at {feeder.name} 90 %")
            return None
        value = self.value(q, dim, "the position", minimum=0, maximum=maximum)
        return PointOnFeeder(None, value) if value is not None else None


@functools.lru_cache(maxsize=1)
def pandapower_line_types() -> tuple[str, ...]:
    """Names of pandapower's line standard types. Importing pandapower takes about 2 s, most of a rerun
    whose outputs are all written, so the names are kept in the user's cache folder per pandapower
    version (tests compare them with pandapower's own on every run); no cache folder, no harm."""
    import json
    from importlib.metadata import version

    from flexopt.files import user_cache_folder

    folder = user_cache_folder()
    cache = folder / f"pandapower-{version('pandapower')}-line-types.json"
    try:
        names = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            return tuple(names)
    except (OSError, ValueError):
        pass
    from pandapower.std_types import basic_line_std_types

    names = list(basic_line_std_types().keys())
    try:
        from flexopt.files import write_text_atomic

        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cache, json.dumps(names))
    except OSError:
        pass
    return tuple(names)


@functools.lru_cache(maxsize=1)
def pandapower_builders() -> tuple[str, ...]:
    """Functions of pandapower.networks that build a network (not re-exported helpers)."""
    import inspect

    import pandapower.networks as pn

    names = []
    for name, obj in vars(pn).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if getattr(obj, "__module__", "").startswith("pandapower.networks"):
            names.append(name)
    return tuple(sorted(names))


@functools.lru_cache(maxsize=16)
def _slacks(builder: str) -> int:
    """External grids of a builder's net (0 where it cannot be built: the run says why)."""
    from flexopt.language.substation_nets import base_net

    try:
        return len(base_net("pandapower", builder).ext_grid)
    except Exception:  # noqa: BLE001 - a builder that needs arguments is reported when it is built
        return 0
