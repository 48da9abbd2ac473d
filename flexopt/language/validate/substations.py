"""Rules of whole substations imported from a pandapower net (`substation NAME from file|pandapower`):
the net is split into its HV/MV substations and their feeders (flexopt/language/substation_nets.py),
its static generators become DERs by type, and its loads demand that peaks at their own value."""

from __future__ import annotations

from collections import Counter

from flexopt.errors import did_you_mean, known_list
from flexopt.language import syntax as sx
from flexopt.language import units as u
from flexopt.language.feeder_nets import NetFileError
from flexopt.language.substation_nets import SubstationNetError, base_net, identifier, sgen_kind, substations_of
from flexopt.language.validate.context import Context
from flexopt.language.validate.ders import default_capability
from flexopt.model import DER_KINDS, CustomerShare, Der, Feeder, Position, Substation

#: `type "X" as fixed`: generators of that type stay fixed injections at their own value, not DERs.
FIXED = "fixed"


class SubstationRules(Context):
    """Imported substations, their feeders and their generators as DERs."""

    def imported_substations(self, blocks: list[sx.SubstationBlock]) -> list[Substation]:
        """Every `substation ... from` statement as the substations of its net; their feeders join
        ``self.feeders`` and their generators ``self.imported_ders``."""
        result: list[Substation] = []
        taken: dict[str, object] = {}
        for block in blocks:
            if self.name(block.name, "substation", taken):
                result += self.imported_substation(block)
        return result

    def _net_of(self, block: sx.SubstationBlock):
        """The block's net and its path (None for a builder), or None where it cannot be read (reported)."""
        reference = block.reference
        if block.source == "file":
            if not reference.text.lower().endswith(".json"):
                self.error("an imported substation must be a pandapower JSON file (.json)", reference.span)
                return None
            path = self.data_path(reference, "substation")
            if path is None:
                return None
            try:
                return base_net("file", path), path
            except NetFileError as err:
                self.error(err.message(path), reference.span, err.hint)
                return None
        from flexopt.language.validate.network import pandapower_builders

        if reference.text not in pandapower_builders():
            self.error(f"pandapower.networks has no network builder '{reference.text}'", reference.span,
                       did_you_mean(reference.text, pandapower_builders()) or 'e.g. "mv_oberrhein"')
            return None
        try:
            return base_net("pandapower", reference.text), None
        except Exception as err:  # a builder that needs an argument or data it cannot find
            self.error(f"pandapower.networks.{reference.text}() failed: {type(err).__name__}: {err}", reference.span,
                       "use a builder that makes a net without arguments, or save the net as JSON and import the file")
            return None

    def imported_substation(self, block: sx.SubstationBlock) -> list[Substation]:
        loaded = self._net_of(block)
        if loaded is None:
            return []
        net, path = loaded
        try:
            parts = substations_of(block.source, path if path is not None else block.reference.text)
        except SubstationNetError as err:
            self.error(f"substation {block.name.text}: {err.detail}", block.span, err.hint)
            return []
        singles = self.settings_once(block.settings, f"substation '{block.name.text}'")
        busbar = 1.0
        if "busbar" in singles:
            busbar = self.value(singles["busbar"].value, u.PER_UNIT, "the busbar voltage setpoint", default_unit="pu",
                                minimum=0.85, maximum=1.15) or 1.0
        demand = None
        if "demand" in singles:
            demand = self.value(singles["demand"].value, u.ENERGY_PER_YEAR, "the annual demand", minimum=0, maximum=1e8)
        mix = [CustomerShare("residential", 1.0)]
        if "mix" in singles:
            mix = self.customer_mix(singles["mix"]) or mix
        elif "residential" not in self.profiles and len(net.load):
            self.error(f"the loads of substation {block.name.text} need a demand profile", block.span,
                       "declare one: profile residential generated demand { class residential }, "
                       "or give the block a mix: mix commercial 100 %")
        pf = 0.95
        if "power factor" in singles:
            pf = self.number(singles["power factor"].value, "the load power factor", above=0, maximum=1) or pf
        kinds = self.sgen_kinds(singles)
        peaks = {(k, j): _peak_mw(net, f.loads) for k, s in enumerate(parts) for j, f in enumerate(s.feeders)}
        total_peak = sum(peaks.values())
        substations, missing = [], Counter()
        for k, part in enumerate(parts):
            name = block.name.text if len(parts) == 1 else f"{block.name.text}_{k + 1}"
            if not part.feeders:
                self.error(f"substation {name} ({part.trafo_name}) has no feeder: no in-service line leaves its "
                           "MV busbar", block.span, "close the switches of its feeders' first lines")
                continue
            substations.append(Substation(name, part.transformer, busbar, block.span, block.source, part.trafo_name))
            for j, net_feeder in enumerate(part.feeders):
                feeder_name = f"{name}_{net_feeder.label}"
                if feeder_name in self.feeders:
                    self.error(f"a second feeder '{feeder_name}'", block.span, "give the substation another name")
                    continue
                peak = peaks[(k, j)]
                energy = demand * peak / total_peak if demand is not None and total_peak > 0 else None
                self.net_feeder_buses[feeder_name] = frozenset(str(n) for n in net.bus.name[list(net_feeder.buses)])
                rows = self.net_ders(net, net_feeder.sgens, net_feeder.storages, feeder_name, name, kinds, block, missing)
                self.feeders[feeder_name] = Feeder(
                    feeder_name, None, "substation", path, block.reference.text if path is None else None, None, None,
                    0, None, energy, tuple(mix), pf, block.span, name, (k, j), None if energy is not None else peak, rows)
        self.report_missing(block, missing)
        return substations

    def sgen_kinds(self, singles: dict[str, sx.Setting]) -> dict[str, tuple[str, str | None]]:
        """`type "X" as KIND [with profile P]` of a block, over the default map of pandapower's sgen types."""
        kinds: dict[str, tuple[str, str | None]] = {}
        for key, setting in singles.items():
            if not key.startswith("type "):
                continue
            type_word, kind_word, profile_word = setting.value
            if kind_word.text not in DER_KINDS + (FIXED,) or kind_word.text in ("enduser",):
                choices = [k for k in DER_KINDS if k != "enduser"] + [FIXED]
                self.error(f"unknown kind of DER '{kind_word.text}'", kind_word.span,
                           did_you_mean(kind_word.text, choices) or f"kinds: {known_list(choices)}")
                continue
            if profile_word is not None and profile_word.text not in self.profiles:
                self.error(f"unknown profile '{profile_word.text}'", profile_word.span,
                           did_you_mean(profile_word.text, self.profiles) or f"profiles: {known_list(self.profiles)}")
                continue
            kinds[type_word.text.lower()] = (kind_word.text, profile_word.text if profile_word else None)
        return kinds

    def net_ders(self, net, sgens: tuple[int, ...], storages: tuple[int, ...], feeder: str, substation: str,
                 kinds: dict[str, tuple[str, str | None]], block: sx.SubstationBlock, missing: Counter) -> tuple[int, ...]:
        """The feeder's static generators as DERs (their rows returned): kind by `sgen.type`, rated power, a
        profile of the kind; the types without a kind and the kinds without a profile are counted in ``missing``.
        Its storage units (net.storage) are storage DERs with their rating and energy, idle at the working point."""
        rows = []
        for idx in sgens:
            row = net.sgen.loc[idx]
            sgen_type = "" if row.type is None or str(row.type) == "nan" else str(row.type)
            kind, profile = kinds.get(sgen_type.lower(), (sgen_kind(sgen_type), None))
            if kind is None:
                missing[("type", sgen_type)] += 1
                continue
            rated = _number(row, "p_mw") if _number(row, "p_mw") > 0 else _number(row, "sn_mva")
            if kind == FIXED or not rated > 0:
                continue
            profile = profile or (kind if kind in self.profiles else None)
            if profile is None and kind != "storage":
                missing[("profile", kind)] += 1
            name = f"{substation}_{identifier(row['name'] if row['name'] else f'sgen {idx}')}"
            name = name if name not in self.imported_ders else f"{name}_{idx}"
            sn_mva = _number(row, "sn_mva")
            position = Position(feeder, "bus", None, None, str(net.bus.name[int(row.bus)]), block.span, int(row.bus))
            self.imported_ders[name] = Der(name, kind, None, rated, max(rated, sn_mva), None, position,
                                           default_capability(kind, rated), profile, None, 1.0,
                                           "absorbing" if kind in ("pv", "wind", "storage") else "injecting", block.span)
            rows.append(int(idx))
        for idx in storages:
            row = net.storage.loc[idx]
            rated = _number(row, "sn_mva") or abs(_number(row, "p_mw"))
            energy = _number(row, "max_e_mwh")
            if not rated > 0:
                continue
            if not energy > 0:
                missing[("storage energy", str(row["name"] or f"storage {idx}"))] += 1
                continue
            name = f"{substation}_{identifier(row['name'] if row['name'] else f'storage {idx}')}"
            name = name if name not in self.imported_ders else f"{name}_storage{idx}"
            position = Position(feeder, "bus", None, None, str(net.bus.name[int(row.bus)]), block.span, int(row.bus))
            self.imported_ders[name] = Der(name, "storage", None, rated, rated, energy, position,
                                           default_capability("storage", rated), None, None, 1.0, "absorbing",
                                           block.span)
        return tuple(rows)

    def report_missing(self, block: sx.SubstationBlock, missing: Counter) -> None:
        for (what, key), count in missing.items():
            if what == "type":
                self.error(f"substation {block.name.text}: {count} static generators of type '{key}' have no "
                           "kind of DER", block.span, f'map the type in the block: type "{key}" as chp '
                           "(or as fixed: kept at its value, never bidding)")
            elif what == "storage energy":
                self.error(f"substation {block.name.text}: storage '{key}' has no energy capacity (max_e_mwh)",
                           block.span, "give it one in the net (net.storage.max_e_mwh) and save it as JSON, "
                           "or take it out of service (net.storage.in_service = False)")
            else:
                self.error(f"no profile for the {count} {key} generators of substation {block.name.text}", block.span,
                           f"declare one named like the kind: profile {key} generated {key}, or map the type: "
                           f'type "..." as {key} with profile NAME')


def _peak_mw(net, loads: tuple[int, ...]) -> float:
    """The loads' summed peak: their ``p_mw`` times pandapower's ``scaling`` (the value a power flow uses)."""
    rows = list(loads)
    return float((net.load.p_mw[rows] * net.load.scaling[rows]).clip(lower=0).sum())


def _number(row, column: str) -> float:
    """A number of a net's row; 0 where the column is missing or the cell empty (None, NaN)."""
    try:
        value = float(row.get(column))
    except (TypeError, ValueError):
        return 0.0
    return value if value == value else 0.0
